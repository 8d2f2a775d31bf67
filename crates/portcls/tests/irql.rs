//! Stream-resource calls belong at `PASSIVE_LEVEL`: the library refuses them above it in debug
//! builds, and the model catches whatever reaches PortCls at the wrong level.

use portcls::{ComPtr, Error, Mechanism, Pdo, Step, StreamResourceManager, Thread};
use portcls_sim::{Ddi, OsProfile, Resource, Sim, Violation};
use portcls_sys::IUnknown;
use portcls_sys::km::DISPATCH_LEVEL;

fn setup(sim: &Sim) -> (ComPtr<IUnknown>, StreamResourceManager, Thread) {
    let device = sim.add_device();
    // SAFETY: a fresh simulated port, PDO and referenced thread.
    let port: ComPtr<IUnknown> = unsafe { ComPtr::from_raw(sim.new_port()) }.unwrap();
    // SAFETY: as above.
    let pdo = unsafe { Pdo::from_raw(device.pdo) }.unwrap();
    // SAFETY: as above.
    let thread = unsafe { Thread::from_raw(sim.create_thread()) }.unwrap();
    let manager = StreamResourceManager::new(&port, pdo);
    assert_eq!(manager.mechanism(), Mechanism::InterfaceV2);
    (port, manager, thread)
}

#[test]
fn registering_at_dispatch_level_is_caught_and_registers_nothing() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let (port, manager, thread) = setup(&sim);
    let result = {
        let _irql = portcls_sim::raise_irql(DISPATCH_LEVEL);
        manager.register_thread(&thread).map(|r| r.mechanism())
    };
    let step = Step::Add(Mechanism::InterfaceV2);
    if cfg!(debug_assertions) {
        // The library's own check: PortCls is never called.
        assert_eq!(
            result,
            Err(Error::IrqlNotPassive {
                step,
                irql: DISPATCH_LEVEL
            })
        );
        assert_eq!(
            result.unwrap_err().status(),
            portcls_sys::STATUS_INVALID_DEVICE_STATE
        );
        assert!(
            sim.trace()
                .iter()
                .all(|event| event.ddi != Ddi::AddStreamResource2)
        );
        assert!(sim.violations().is_empty());
    } else {
        // Release builds leave it to the verifier, which the model plays.
        let status = portcls_sys::STATUS_INVALID_DEVICE_STATE;
        assert_eq!(result, Err(Error::Failed { step, status }));
        assert_eq!(
            sim.violations(),
            vec![Violation::IrqlTooHigh {
                ddi: Ddi::AddStreamResource2,
                irql: DISPATCH_LEVEL
            }]
        );
    }
    assert!(sim.registrations().is_empty());
    drop((thread, manager, port));
    if cfg!(debug_assertions) {
        sim.assert_clean();
    }
}

#[test]
fn dropping_a_registration_at_dispatch_level_is_caught() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let (port, manager, thread) = setup(&sim);
    let registration = manager.register_thread(&thread).unwrap();
    {
        let _irql = portcls_sim::raise_irql(DISPATCH_LEVEL);
        drop(registration);
    }
    // Either way the registration could not be removed: in debug builds the library skipped
    // the illegal call, in release builds the model refused it as a violation.
    assert_eq!(sim.registrations().len(), 1);
    let address = thread.as_raw().addr();
    drop((thread, manager, port));
    let gone = Violation::ThreadGoneWhileRegistered { thread: address };
    if cfg!(debug_assertions) {
        assert_eq!(sim.violations(), vec![gone]);
    } else {
        let irql = Violation::IrqlTooHigh {
            ddi: Ddi::RemoveStreamResource,
            irql: DISPATCH_LEVEL,
        };
        assert_eq!(sim.violations(), vec![irql, gone]);
    }
    assert_eq!(sim.registrations()[0].resource, Resource::Thread(address));
}

#[test]
fn unregister_at_dispatch_level_reports_the_error() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let (_port, manager, thread) = setup(&sim);
    let registration = manager
        .register_owned_thread(thread.clone())
        .map_err(|(e, _)| e)
        .unwrap();
    let (returned, outcome) = {
        let _irql = portcls_sim::raise_irql(DISPATCH_LEVEL);
        registration.unregister()
    };
    assert_eq!(
        outcome.unwrap_err().step(),
        Step::Remove(Mechanism::InterfaceV2)
    );
    assert_eq!(
        returned.as_raw(),
        thread.as_raw(),
        "the thread comes back either way"
    );
    assert_eq!(sim.registrations().len(), 1);
}
