//! PnP and power as the model delivers them: IRPs through the driver object's PnP entry,
//! power through `IAdapterPowerManagement`, and the rule that no stream resource of the device
//! outlives stop, surprise removal, removal or D0.
//!
//! The adapter here is the smallest one PortCls accepts (no subdevices); it registers a thread
//! through the library on the device's PDO, as a careless driver would, and leaves it there.

use std::sync::Mutex;

use portcls::{ComPtr, Pdo, StreamResourceManager, Thread};
use portcls_sim::{OsProfile, PnpRequest, Sim, Violation};
use portcls_sys::km::{PDRIVER_OBJECT, PIRP, PUNICODE_STRING};
use portcls_sys::wavert::{
    PORT_CLASS_DEVICE_EXTENSION_SIZE, PRESOURCELIST, PcAddAdapterDevice, PcInitializeAdapterDriver,
};
use portcls_sys::{IUnknown, NTSTATUS, PDEVICE_OBJECT, STATUS_SUCCESS};

/// The FDO of every `StartDevice` so far, of every test (they run side by side in one process,
/// so each looks only for its own device's).
static STARTED: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// How many times `StartDevice` has run for `fdo`.
fn starts_of(fdo: PDEVICE_OBJECT) -> usize {
    let started = STARTED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    started.iter().filter(|&&f| f == fdo.addr()).count()
}

portcls_sys::kernel_abi! {
    unsafe fn start(fdo: PDEVICE_OBJECT, _irp: PIRP, _res: PRESOURCELIST) -> NTSTATUS {
        STARTED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(fdo.addr());
        STATUS_SUCCESS
    }
}

portcls_sys::kernel_abi! {
    unsafe fn add_device(driver: PDRIVER_OBJECT, pdo: PDEVICE_OBJECT) -> NTSTATUS {
        // SAFETY: forwarded as the model passed them.
        unsafe {
            PcAddAdapterDevice(
                driver,
                pdo,
                Some(start),
                1,
                PORT_CLASS_DEVICE_EXTENSION_SIZE,
            )
        }
    }
}

portcls_sys::kernel_abi! {
    unsafe fn entry(driver: PDRIVER_OBJECT, path: PUNICODE_STRING) -> NTSTATUS {
        // SAFETY: forwarded as the model passed them.
        unsafe { PcInitializeAdapterDriver(driver, path, Some(add_device)) }
    }
}

/// A started device with one thread registered on its PDO through interface v2.
fn registered(sim: &Sim) -> (portcls_sim::Device, portcls::OwnedThreadRegistration) {
    assert_eq!(sim.load_driver(entry), STATUS_SUCCESS);
    let device = sim.plug_in().unwrap();
    assert_eq!(sim.start_device(&device), STATUS_SUCCESS);
    let port = sim.new_port();
    // SAFETY: the model's port with the reference new_port handed us.
    let port = unsafe { ComPtr::<IUnknown>::from_raw(port.cast()) }.unwrap();
    // SAFETY: the PDO the model made for the device.
    let pdo = unsafe { Pdo::from_raw(device.pdo) }.unwrap();
    let manager = StreamResourceManager::new(&port, pdo);
    // SAFETY: a live thread object with the reference create_thread handed us.
    let thread = unsafe { Thread::from_raw(sim.create_thread()) }.unwrap();
    let registration = manager.register_owned_thread(thread).unwrap();
    (device, registration)
}

fn left_across(sim: &Sim) -> Vec<&'static str> {
    sim.violations()
        .into_iter()
        .filter_map(|v| match v {
            Violation::RegisteredAcrossTransition { transition, .. } => Some(transition),
            _ => None,
        })
        .collect()
}

#[test]
fn start_goes_through_the_pnp_entry_to_start_device() {
    let sim = Sim::new(OsProfile::Win10_1511);
    assert_eq!(sim.load_driver(entry), STATUS_SUCCESS);
    let device = sim.plug_in().unwrap();
    // While the device lives no other device has its FDO's address: the count is its own.
    let before = starts_of(device.fdo);
    assert_eq!(sim.pnp(device.fdo, PnpRequest::Start), STATUS_SUCCESS);
    assert_eq!(starts_of(device.fdo), before + 1);
    sim.remove_device(device.fdo);
    sim.assert_clean();
}

#[test]
fn a_registration_left_at_stop_surprise_removal_or_removal_is_a_violation() {
    for request in [
        PnpRequest::Stop,
        PnpRequest::SurpriseRemoval,
        PnpRequest::Remove,
    ] {
        let sim = Sim::new(OsProfile::Win10_1511);
        let (device, registration) = registered(&sim);
        assert_eq!(sim.pnp(device.fdo, request), STATUS_SUCCESS);
        let expected = match request {
            PnpRequest::Stop => "stop",
            PnpRequest::SurpriseRemoval => "surprise removal",
            _ => "removal",
        };
        assert_eq!(left_across(&sim), vec![expected], "{request:?}");
        let (thread, outcome) = registration.unregister();
        outcome.unwrap();
        drop(thread);
    }
}

#[test]
fn power_changes_need_a_registered_power_interface() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let (device, registration) = registered(&sim);
    // No IAdapterPowerManagement registered: the model cannot deliver power changes.
    assert!(sim.set_power(device.fdo, 4).is_err());
    let (thread, outcome) = registration.unregister();
    outcome.unwrap();
    drop(thread);
    assert!(left_across(&sim).is_empty());
    sim.remove_device(device.fdo);
    sim.assert_clean();
}
