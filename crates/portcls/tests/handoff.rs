//! Handing raw objects back and forth: `into_raw` gives up ownership without releasing,
//! `from_raw` takes it back, and the model's reference counts and connection states show
//! exactly one release or disconnect at the end. Also what a refused `QueryInterface` reports.

use portcls::{ComPtr, Error, InterruptConnection, InterruptKind, Step, Thread};
use portcls_sim::{Connect, OsProfile, Sim};
use portcls_sys::{IPortClsStreamResourceManager2, IUnknown, STATUS_NOINTERFACE};

#[test]
fn com_pointer_into_raw_keeps_the_reference_for_from_raw() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let raw = sim.new_port();
    // SAFETY: the model's port with the reference new_port handed us.
    let port = unsafe { ComPtr::<IUnknown>::from_raw(raw) }.unwrap();
    assert_eq!(port.as_raw(), raw);
    assert_eq!(format!("{port:?}"), format!("ComPtr({raw:?})"));

    let given_up = port.into_raw();
    assert_eq!(given_up, raw, "into_raw hands back the same object");
    assert_eq!(sim.port_refs(raw), 1, "into_raw does not release");

    // SAFETY: the reference into_raw gave up, handed back once.
    let port = unsafe { ComPtr::<IUnknown>::from_raw(given_up) }.unwrap();
    drop(port);
    assert_eq!(sim.port_refs(raw), 0, "the one reference is released once");
    sim.assert_clean();
}

#[test]
fn a_missing_interface_is_reported_as_no_interface() {
    // Windows 8.1's port has no stream-resource manager.
    let sim = Sim::new(OsProfile::Windows81);
    let raw = sim.new_port();
    // SAFETY: the model's port with the reference new_port handed us.
    let port = unsafe { ComPtr::<IUnknown>::from_raw(raw) }.unwrap();
    let error = port.query::<IPortClsStreamResourceManager2>().unwrap_err();
    assert_eq!(error, Error::NoInterface { step: Step::Query });
    assert_eq!(error.status(), STATUS_NOINTERFACE);
    assert_eq!(sim.port_refs(raw), 1, "a refused query takes no reference");
    drop(port);
    sim.assert_clean();
}

#[test]
fn thread_into_raw_keeps_the_reference_for_from_raw() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let raw = sim.create_thread();
    // SAFETY: a live thread with the reference create_thread handed us.
    let thread = unsafe { Thread::from_raw(raw) }.unwrap();
    let copy = thread.clone();
    assert_eq!(sim.thread_refs(raw), 2);

    let given_up = thread.into_raw();
    assert_eq!(given_up, raw, "into_raw hands back the same thread");
    assert_eq!(sim.thread_refs(raw), 2, "into_raw does not dereference");

    // SAFETY: the reference into_raw gave up, handed back once.
    let thread = unsafe { Thread::from_raw(given_up) }.unwrap();
    drop(thread);
    assert_eq!(sim.thread_refs(raw), 1, "the reference is given back once");
    drop(copy);
    assert_eq!(sim.thread_refs(raw), 0);
    sim.assert_clean();
}

#[test]
fn connection_into_raw_stays_connected_until_retaken() {
    let sim = Sim::new(OsProfile::Win10_1511);
    for connect in [
        Connect::LineBased,
        Connect::FullySpecified,
        Connect::MessageBased,
    ] {
        let (version, context) = sim.connect_interrupt(connect);
        // SAFETY: a live connection the model made, handed over to the wrapper.
        let connection = unsafe { InterruptConnection::from_raw(version, context) }.unwrap();
        assert_eq!(
            connection.kind(),
            InterruptKind::from_version(version).unwrap()
        );
        assert_eq!(connection.context(), context);

        let raw = connection.into_raw();
        assert_eq!(
            raw,
            (version, context),
            "{connect:?}: into_raw hands both back"
        );
        assert!(
            sim.is_connected(context),
            "{connect:?}: into_raw does not disconnect"
        );

        // SAFETY: the connection into_raw gave up, handed back once.
        let connection = unsafe { InterruptConnection::from_raw(raw.0, raw.1) }.unwrap();
        connection.disconnect();
        assert!(
            !sim.is_connected(context),
            "{connect:?}: disconnect disconnects"
        );
    }
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.assert_clean();
}
