// A scoped registration borrows the manager it was made through, so removal always goes
// through that same object.
use portcls::{StreamResourceManager, Thread};

fn scoped(manager: StreamResourceManager, thread: &Thread) {
    let registration = manager.register_thread(thread).unwrap();
    drop(manager);
    drop(registration);
}

fn main() {}
