// A scoped registration cannot be stored beyond the thread it borrows (use the owned form).
use portcls::{Registration, StreamResourceManager, Thread};

struct Extension<'a> {
    registration: Option<Registration<'a>>,
}

fn store<'a>(manager: &'a StreamResourceManager, thread: Thread, extension: &mut Extension<'a>) {
    extension.registration = Some(manager.register_thread(&thread).unwrap());
}

fn main() {}
