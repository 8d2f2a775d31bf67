// A scoped registration borrows the thread: the thread reference cannot be released first.
use portcls::{StreamResourceManager, Thread};

fn scoped(manager: &StreamResourceManager, thread: Thread) {
    let registration = manager.register_thread(&thread).unwrap();
    drop(thread);
    drop(registration);
}

fn main() {}
