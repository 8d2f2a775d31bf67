//! A refused removal can be retried: `try_unregister` hands the registration back intact.

use portcls::{ComPtr, Error, Mechanism, Pdo, Step, StreamResourceManager, Thread};
use portcls_sim::{Ddi, OsProfile, Sim};
use portcls_sys::{IUnknown, STATUS_INSUFFICIENT_RESOURCES};

#[test]
fn a_refused_removal_keeps_the_registration_for_another_try() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let device = sim.add_device();
    let port = sim.new_port();
    // SAFETY: the model's port with the reference new_port handed us.
    let port = unsafe { ComPtr::<IUnknown>::from_raw(port.cast()) }.unwrap();
    // SAFETY: the model's PDO.
    let pdo = unsafe { Pdo::from_raw(device.pdo) }.unwrap();
    let manager = StreamResourceManager::new(&port, pdo);
    // SAFETY: a live thread with the reference create_thread handed us.
    let thread = unsafe { Thread::from_raw(sim.create_thread()) }.unwrap();
    let registration = manager.register_owned_thread(thread).unwrap();
    assert_eq!(registration.mechanism(), Mechanism::InterfaceV2);

    sim.fail_call(Ddi::RemoveStreamResource, 1, STATUS_INSUFFICIENT_RESOURCES);
    let (registration, error) = registration.try_unregister().unwrap_err();
    assert_eq!(
        error,
        Error::InsufficientResources {
            step: Step::Remove(Mechanism::InterfaceV2)
        }
    );
    assert!(registration.is_registered());
    assert_eq!(sim.registrations().len(), 1);

    let thread = registration.try_unregister().unwrap();
    assert!(sim.registrations().is_empty());
    drop(thread);
    drop(manager);
    drop(port);
    sim.assert_clean();
}
