// A scoped registration borrows the interrupt connection: it cannot be disconnected first.
use portcls::{InterruptConnection, StreamResourceManager};

fn scoped(manager: &StreamResourceManager, connection: InterruptConnection) {
    let registration = manager.register_interrupt(&connection).unwrap();
    connection.disconnect();
    drop(registration);
}

fn main() {}
