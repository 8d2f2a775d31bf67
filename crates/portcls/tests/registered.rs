//! `is_registered` says what PortCls holds: for every OS profile and every registration form,
//! it matches the model's list of live registrations (empty only when unsupported).

use portcls::{ComPtr, InterruptConnection, Mechanism, Pdo, StreamResourceManager, Thread};
use portcls_sim::{Connect, OsProfile, Sim};
use portcls_sys::IUnknown;

#[derive(Clone, Copy, Debug)]
enum Form {
    BorrowedThread,
    BorrowedInterrupt,
    OwnedThread,
    OwnedInterrupt,
}

const FORMS: [Form; 4] = [
    Form::BorrowedThread,
    Form::BorrowedInterrupt,
    Form::OwnedThread,
    Form::OwnedInterrupt,
];

/// Checks `is_registered` against the model; `None` when registering failed.
fn registered_matches_model(
    sim: &Sim,
    manager: &StreamResourceManager,
    form: Form,
) -> Option<bool> {
    let held = || !sim.registrations().is_empty();
    let (version, context) = sim.connect_interrupt(Connect::LineBased);
    // SAFETY: a live connection the model made, handed over to the wrapper.
    let connection = unsafe { InterruptConnection::from_raw(version, context) }.unwrap();
    // SAFETY: a live thread with the reference create_thread handed us.
    let thread = unsafe { Thread::from_raw(sim.create_thread()) }.unwrap();
    let registered = match form {
        Form::BorrowedThread => {
            let registration = manager.register_thread(&thread).ok()?;
            let registered = registration.is_registered();
            assert_eq!(registered, held(), "{form:?}");
            registration.unregister().unwrap();
            registered
        }
        Form::BorrowedInterrupt => {
            let registration = manager.register_interrupt(&connection).ok()?;
            let registered = registration.is_registered();
            assert_eq!(registered, held(), "{form:?}");
            registration.unregister().unwrap();
            registered
        }
        Form::OwnedThread => {
            let registration = manager.register_owned_thread(thread.clone()).ok()?;
            let registered = registration.is_registered();
            assert_eq!(registered, held(), "{form:?}");
            registration.unregister().1.unwrap();
            registered
        }
        Form::OwnedInterrupt => {
            // A second connection, owned by the registration.
            let (version, context) = sim.connect_interrupt(Connect::MessageBased);
            // SAFETY: as above.
            let owned = unsafe { InterruptConnection::from_raw(version, context) }.unwrap();
            let registration = manager.register_owned_interrupt(owned).ok()?;
            let registered = registration.is_registered();
            assert_eq!(registered, held(), "{form:?}");
            registration.unregister().1.unwrap();
            registered
        }
    };
    assert!(!held(), "{form:?}: unregister removed it");
    Some(registered)
}

#[test]
fn is_registered_matches_what_portcls_holds() {
    for profile in OsProfile::ALL {
        for form in FORMS {
            let sim = Sim::new(profile);
            let device = sim.add_device();
            // SAFETY: the model's port with the reference new_port handed us.
            let port = unsafe { ComPtr::<IUnknown>::from_raw(sim.new_port()) }.unwrap();
            // SAFETY: the model's PDO.
            let pdo = unsafe { Pdo::from_raw(device.pdo) }.unwrap();
            let manager = StreamResourceManager::new(&port, pdo);
            let Some(registered) = registered_matches_model(&sim, &manager, form) else {
                // Only the export on a system without it refuses (the driver would not load).
                assert_eq!(manager.mechanism(), Mechanism::Export, "{profile} {form:?}");
                assert!(!profile.has_exports(), "{profile} {form:?}");
                continue;
            };
            assert_eq!(
                registered,
                manager.mechanism() != Mechanism::Unsupported,
                "{profile} {form:?}"
            );
            drop(manager);
            drop(port);
            sim.assert_clean();
        }
    }
}
