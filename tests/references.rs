//! Reference counting of the driver's own COM objects, as the simulated PortCls sees it, and
//! the driver's unload. The tests play a buggy driver by taking or dropping a reference on the
//! sample's miniport stream behind the port's back, and check that the verifier names the
//! object, what it is, and the history of the references the system held on it.

mod common;

use common::{bring_up, open_in_state};
use portcls_sim::{Ddi, OsProfile, Sim, Violation};
use portcls_sys::{IUnknownVtbl, STATUS_INVALID_DEVICE_STATE};

/// The `IUnknown` methods of the miniport stream at `object`.
fn unknown(object: *mut core::ffi::c_void) -> IUnknownVtbl {
    // SAFETY: a live COM object starts with a pointer to its IUnknown-led vtable.
    let vtable = unsafe { object.cast::<*const IUnknownVtbl>().read() };
    // SAFETY: the driver's static vtable.
    unsafe { vtable.read() }
}

fn the_lifecycle_ends_with_portcls_unload_and_nothing_alive() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let device = bring_up(&sim);
    open_in_state(&sim, &device, false, 3).close();
    // Windows unloads a driver only after its last device is gone.
    assert_eq!(sim.unload_driver(), Err(STATUS_INVALID_DEVICE_STATE));
    sim.remove_device(device.fdo);
    assert_eq!(sim.unload_driver(), Ok(()));
    assert_eq!(sim.unload_driver(), Err(STATUS_INVALID_DEVICE_STATE));
    let unloads: Vec<_> = sim
        .trace()
        .into_iter()
        .filter(|event| event.ddi == Ddi::DriverUnload)
        .collect();
    assert_eq!(unloads.len(), 1, "{unloads:?}");
    sim.assert_clean();
}

fn a_reference_the_driver_keeps_is_reported_at_unload_with_its_history() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let device = bring_up(&sim);
    let stream = open_in_state(&sim, &device, false, 3);
    let object = stream.raw().cast::<core::ffi::c_void>();
    let methods = unknown(object);
    // The buggy driver keeps a reference of its own.
    // SAFETY: a live object.
    let count = unsafe { (methods.AddRef)(object.cast()) };
    assert!(count >= 3, "port's two references and ours: {count}");
    stream.close();
    sim.remove_device(device.fdo);
    assert_eq!(sim.unload_driver(), Ok(()));

    // The stream is alive, and with it what it holds: its miniport (still bound to its port,
    // which the miniport references) and the adapter.
    let leftovers = sim.leftovers();
    let line = leftovers
        .iter()
        .find(|l| l.starts_with(&format!("driver object {:#x} ", object.addr())))
        .unwrap_or_else(|| panic!("{leftovers:#?}"));
    assert!(line.contains("(miniport stream of stream#"), "{line}");
    assert!(line.contains("the system holding 0 reference(s)"), "{line}");
    // Handed over by NewStream, one more by QueryInterface, both given back; the last
    // Release reported the reference the driver kept.
    assert!(line.contains("NewStream @"), "{line}");
    assert!(line.contains("QueryInterface @"), "{line}");
    assert!(line.contains("Release -> 1 @"), "{line}");
    // The pool block is reported too, and the port saw the stream outlive its pin.
    assert!(
        leftovers.iter().any(|l| l.starts_with("pool block")),
        "{leftovers:#?}"
    );
    assert!(
        sim.violations().iter().any(|v| matches!(
            v,
            Violation::StreamContract {
                ddi: Ddi::CloseStream,
                ..
            }
        )),
        "{:?}",
        sim.violations()
    );

    for held in ["(miniport of port#1)", "(power interface of FDO"] {
        assert!(
            leftovers
                .iter()
                .any(|l| l.starts_with("driver object") && l.contains(held)),
            "{held}: {leftovers:#?}"
        );
    }

    // Giving it back frees the object and what it held: nothing but the recorded violation
    // remains.
    // SAFETY: the reference taken above.
    assert_eq!(unsafe { (methods.Release)(object.cast()) }, 0);
    let leftovers = sim.leftovers();
    assert!(
        leftovers
            .iter()
            .all(|l| l.starts_with("violation: StreamContract")),
        "{leftovers:#?}"
    );
}

fn a_driver_that_over_releases_is_caught_when_the_port_holds_more_than_it_reports() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let device = bring_up(&sim);
    let stream = open_in_state(&sim, &device, false, 3);
    let object = stream.raw().cast::<core::ffi::c_void>();
    let methods = unknown(object);
    // The buggy driver drops a reference it never took.
    // SAFETY: a live object with at least the port's two references.
    let count = unsafe { (methods.Release)(object.cast()) };
    assert!(count >= 1, "{count}");
    // Closing the pin gives back the port's references; the object goes before the port is
    // done with it, and the model stops calling it.
    stream.close();
    let violations = sim.violations();
    assert!(
        violations.iter().any(|v| matches!(
            v,
            Violation::DriverObjectFreedWhileHeld { object: o, held: 1.. } if *o == object.addr()
        )),
        "{violations:?}"
    );
    assert!(
        violations.iter().any(|v| matches!(
            v,
            Violation::DriverReferenceCount { object: o, reported: 0, held: 1.. }
                if *o == object.addr()
        )),
        "{violations:?}"
    );
    let leftovers = sim.leftovers();
    let line = leftovers
        .iter()
        .find(|l| l.starts_with("violation: DriverObjectFreedWhileHeld"))
        .unwrap();
    assert!(line.contains("miniport stream of stream#"), "{line}");
    assert!(line.contains("freed @"), "{line}");
    // Nothing else is wrong: no pool, no registration, no thread left behind.
    sim.remove_device(device.fdo);
    assert_eq!(sim.unload_driver(), Ok(()));
    let leftovers = sim.leftovers();
    assert!(
        leftovers.iter().all(|l| l.starts_with("violation: Driver")),
        "{leftovers:#?}"
    );
}

both_drivers!(
    the_lifecycle_ends_with_portcls_unload_and_nothing_alive,
    a_reference_the_driver_keeps_is_reported_at_unload_with_its_history,
    a_driver_that_over_releases_is_caught_when_the_port_holds_more_than_it_reports,
);
