//! The model's own rules, exercised through the raw ABI (no safe wrapper in between), so that
//! what the library's tests rely on is itself tested.

use std::ffi::c_void;
use std::mem::MaybeUninit;
use std::ptr::{null_mut, without_provenance_mut};

use portcls_sim::{Connect, Ddi, OsProfile, Resource, Sim, Via, Violation};
use portcls_sys::km::{DISPATCH_LEVEL, IO_DISCONNECT_INTERRUPT_PARAMETERS};
use portcls_sys::{
    GUID, IID_IPortClsStreamResourceManager, IID_IPortClsStreamResourceManager2, IID_IUnknown,
    IPortClsStreamResourceManager, IPortClsStreamResourceManager2, IUnknownVtbl, NTSTATUS,
    PCSTREAMRESOURCE, PCSTREAMRESOURCE_DESCRIPTOR, PDEVICE_OBJECT, PETHREAD, PUNKNOWN,
    STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_PARAMETER,
    STATUS_NOINTERFACE, STATUS_NOT_IMPLEMENTED, STATUS_SUCCESS, ePcStreamResourceSet,
    ePcStreamResourceThread,
};

fn unknown_vtable(object: *mut c_void) -> IUnknownVtbl {
    // SAFETY: every object the model hands out starts with a pointer to an IUnknown-led vtable.
    let vtable = unsafe { object.cast::<*const IUnknownVtbl>().read() };
    // SAFETY: that vtable is a static of the model.
    unsafe { *vtable }
}

fn query(object: *mut c_void, iid: GUID) -> (NTSTATUS, *mut c_void) {
    let mut out = without_provenance_mut(1); // must be overwritten, even on failure
    // SAFETY: `object` is a live model object; `out` a writable slot.
    let status = unsafe {
        (unknown_vtable(object).QueryInterface)(object.cast(), &raw const iid, &raw mut out)
    };
    (status, out)
}

fn release(object: *mut c_void) -> u32 {
    // SAFETY: `object` is a live model object on which the caller owns a reference.
    unsafe { (unknown_vtable(object).Release)(object.cast()) }
}

/// A descriptor slot zeroed in place (as the INIT macro does), so its padding is initialised.
type Slot = MaybeUninit<PCSTREAMRESOURCE_DESCRIPTOR>;

fn thread_descriptor(
    slot: &mut Slot,
    pdo: PDEVICE_OBJECT,
    thread: PETHREAD,
) -> &mut PCSTREAMRESOURCE_DESCRIPTOR {
    let descriptor = PCSTREAMRESOURCE_DESCRIPTOR::init_in_place(slot);
    descriptor.Pdo = pdo;
    descriptor.Type = ePcStreamResourceThread;
    descriptor.Resource.Thread = thread;
    descriptor
}

fn add2(
    manager: *mut c_void,
    pdo: PDEVICE_OBJECT,
    descriptor: &mut PCSTREAMRESOURCE_DESCRIPTOR,
) -> (NTSTATUS, PCSTREAMRESOURCE) {
    let manager = manager.cast::<IPortClsStreamResourceManager2>();
    let mut handle: PCSTREAMRESOURCE = null_mut();
    // SAFETY: a live v2 manager of the model; the descriptor and slot are ours.
    let vtable = unsafe { (*manager).lpVtbl };
    // SAFETY: the model's static vtable.
    let add = unsafe { (*vtable).AddStreamResource2 };
    // SAFETY: as above.
    let status = unsafe { add(manager, pdo, null_mut(), descriptor, &raw mut handle) };
    (status, handle)
}

fn remove(manager: *mut c_void, handle: PCSTREAMRESOURCE) -> NTSTATUS {
    let manager = manager.cast::<IPortClsStreamResourceManager>();
    // SAFETY: a live manager of the model.
    let vtable = unsafe { (*manager).lpVtbl };
    // SAFETY: the model's static vtable.
    let remove = unsafe { (*vtable).RemoveStreamResource };
    // SAFETY: as above; the handle may be anything (the model checks it).
    unsafe { remove(manager, handle) }
}

/// A 1511 machine with a device, a port, its v2 manager and a live thread.
struct Bench {
    sim: Sim,
    pdo: PDEVICE_OBJECT,
    port: PUNKNOWN,
    manager: *mut c_void,
    thread: PETHREAD,
}

impl Bench {
    fn new() -> Self {
        let sim = Sim::new(OsProfile::Win10_1511);
        let pdo = sim.add_device().pdo;
        let port = sim.new_port();
        let (status, manager) = query(port.cast(), IID_IPortClsStreamResourceManager2);
        assert_eq!(status, STATUS_SUCCESS);
        let thread = sim.create_thread();
        Self {
            sim,
            pdo,
            port,
            manager,
            thread,
        }
    }

    /// Gives back every reference the bench holds and returns the machine for checking.
    fn finish(self) -> Sim {
        release(self.manager);
        release(self.port.cast());
        // SAFETY: the reference create_thread gave us.
        unsafe { portcls_sim::ObfDereferenceObject(self.thread.cast()) };
        self.sim
    }
}

#[test]
fn query_interface_answers_per_profile() {
    for profile in OsProfile::ALL {
        let sim = Sim::new(profile);
        let port = sim.new_port();
        let (status, unknown) = query(port.cast(), IID_IUnknown);
        assert_eq!(
            (status, unknown),
            (STATUS_SUCCESS, port.cast()),
            "{profile}"
        );
        release(unknown);
        for (iid, present) in [
            (
                IID_IPortClsStreamResourceManager2,
                profile.has_interface_v2(),
            ),
            (
                IID_IPortClsStreamResourceManager,
                profile.has_interface_v1(),
            ),
        ] {
            let (status, object) = query(port.cast(), iid);
            if present {
                assert_eq!(status, STATUS_SUCCESS, "{profile}");
                assert_eq!(
                    sim.port_refs(port),
                    2,
                    "{profile}: QueryInterface adds a reference"
                );
                // QueryInterface(IUnknown) from the manager gives the port's identity back.
                let (_, identity) = query(object, IID_IUnknown);
                assert_eq!(identity, port.cast(), "{profile}");
                release(identity);
                release(object);
            } else {
                assert_eq!(
                    (status, object),
                    (STATUS_NOINTERFACE, null_mut()),
                    "{profile}"
                );
            }
        }
        assert_eq!(release(port.cast()), 0);
        sim.assert_clean();
    }
}

#[test]
fn malformed_descriptors_are_refused_with_invalid_parameter() {
    let bench = Bench::new();
    let mut slot = Slot::uninit();
    let good = *thread_descriptor(&mut slot, bench.pdo, bench.thread);
    let unknown_type = portcls_sys::PcStreamResourceType(7);
    let mut cases = vec![
        (
            "wrong Size",
            PCSTREAMRESOURCE_DESCRIPTOR { Size: 24, ..good },
        ),
        (
            "non-zero Flags",
            PCSTREAMRESOURCE_DESCRIPTOR { Flags: 1, ..good },
        ),
        (
            "reserved type Set",
            PCSTREAMRESOURCE_DESCRIPTOR {
                Type: ePcStreamResourceSet,
                ..good
            },
        ),
        (
            "unknown type",
            PCSTREAMRESOURCE_DESCRIPTOR {
                Type: unknown_type,
                ..good
            },
        ),
    ];
    let mut null_thread = good;
    null_thread.Resource.Thread = null_mut();
    cases.push(("null thread", null_thread));
    // Refused before PortCls looks at the padding, so by-value descriptors do here.
    let mut bad_interrupt = PCSTREAMRESOURCE_DESCRIPTOR::init();
    bad_interrupt.Pdo = bench.pdo;
    bad_interrupt.Resource.Interrupt.Version = 9;
    bad_interrupt.Resource.Interrupt.Generic = bench.thread.cast();
    cases.push(("unknown interrupt version", bad_interrupt));
    for (what, mut descriptor) in cases {
        let (status, handle) = add2(bench.manager, bench.pdo, &mut descriptor);
        assert_eq!(status, STATUS_INVALID_PARAMETER, "{what}");
        assert!(handle.is_null(), "{what}");
    }
    let descriptor = thread_descriptor(&mut slot, bench.pdo, bench.thread);
    let (status, _) = add2(bench.manager, null_mut(), descriptor);
    assert_eq!(status, STATUS_INVALID_PARAMETER, "null PDO");
    assert!(bench.sim.registrations().is_empty());
    bench.finish().assert_clean();
}

#[test]
fn removal_rules_catch_unknown_double_and_foreign_removals() {
    let bench = Bench::new();
    let mut slot = Slot::uninit();
    let descriptor = thread_descriptor(&mut slot, bench.pdo, bench.thread);
    let (status, handle) = add2(bench.manager, bench.pdo, descriptor);
    assert_eq!(status, STATUS_SUCCESS);

    // Through another port: refused, still registered.
    let other = bench.sim.new_port();
    let (_, other_manager) = query(other.cast(), IID_IPortClsStreamResourceManager2);
    assert_eq!(remove(other_manager, handle), STATUS_INVALID_PARAMETER);
    // Through the export: refused too.
    // SAFETY: any handle value may be passed; the model checks it.
    let status = unsafe { portcls_sim::PcRemoveStreamResource(handle) };
    assert_eq!(status, STATUS_INVALID_PARAMETER);
    assert_eq!(bench.sim.registrations().len(), 1);

    // Through the v1 interface of the same port: that is the same object, so it works.
    let (_, v1) = query(bench.port.cast(), IID_IPortClsStreamResourceManager);
    assert_eq!(remove(v1, handle), STATUS_SUCCESS);
    // Twice: unknown now.
    assert_eq!(remove(bench.manager, handle), STATUS_INVALID_PARAMETER);
    let handle_address = handle.addr();
    let port_id = |via: Via| match via {
        Via::InterfaceV2 { port } | Via::InterfaceV1 { port } => port,
        Via::Export => 0,
    };
    let violations = bench.sim.violations();
    assert_eq!(violations.len(), 3, "{violations:?}");
    let Violation::RemovedThroughOtherObject {
        registered_via,
        via,
        ..
    } = violations[0]
    else {
        panic!("{violations:?}")
    };
    assert_ne!(port_id(registered_via), port_id(via));
    assert!(matches!(
        violations[1],
        Violation::RemovedThroughOtherObject {
            via: Via::Export,
            ..
        }
    ));
    assert_eq!(
        violations[2],
        Violation::UnknownHandle {
            ddi: Ddi::RemoveStreamResource,
            handle: handle_address
        }
    );
    release(v1);
    release(other_manager);
    release(other.cast());
    let _ = bench.finish();
}

#[test]
fn calls_above_passive_level_are_violations_and_change_nothing() {
    let bench = Bench::new();
    let mut slot = Slot::uninit();
    let descriptor = thread_descriptor(&mut slot, bench.pdo, bench.thread);
    {
        let _irql = portcls_sim::raise_irql(DISPATCH_LEVEL);
        let (status, handle) = add2(bench.manager, bench.pdo, descriptor);
        assert_eq!(status, STATUS_INVALID_DEVICE_STATE);
        assert!(handle.is_null());
    }
    assert_eq!(
        portcls_sim::current_irql(),
        0,
        "the guard restores the IRQL"
    );
    assert!(bench.sim.registrations().is_empty());
    assert_eq!(
        bench.sim.violations(),
        vec![Violation::IrqlTooHigh {
            ddi: Ddi::AddStreamResource2,
            irql: DISPATCH_LEVEL
        }]
    );
    let _ = bench.finish();
}

#[test]
fn the_exports_are_missing_on_windows_8_1() {
    let sim = Sim::new(OsProfile::Windows81);
    let pdo = sim.add_device().pdo;
    let thread = sim.create_thread();
    let mut slot = Slot::uninit();
    let descriptor = thread_descriptor(&mut slot, pdo, thread);
    let mut handle: PCSTREAMRESOURCE = null_mut();
    // SAFETY: valid descriptor and slot.
    let status =
        unsafe { portcls_sim::PcAddStreamResource(pdo, null_mut(), descriptor, &raw mut handle) };
    assert_eq!(status, STATUS_NOT_IMPLEMENTED);
    assert_eq!(
        sim.violations(),
        vec![Violation::ImportMissing {
            ddi: Ddi::PcAddStreamResource
        }]
    );
    // SAFETY: the reference create_thread gave us.
    unsafe { portcls_sim::ObfDereferenceObject(thread.cast()) };
}

#[test]
fn the_export_registers_for_the_explicit_pdo_on_windows_10() {
    let sim = Sim::new(OsProfile::Win10_1507);
    let pdo = sim.add_device().pdo;
    let thread = sim.create_thread();
    let mut slot = Slot::uninit();
    let descriptor = thread_descriptor(&mut slot, pdo, thread);
    let mut handle: PCSTREAMRESOURCE = null_mut();
    // SAFETY: valid descriptor and slot.
    let status =
        unsafe { portcls_sim::PcAddStreamResource(pdo, null_mut(), descriptor, &raw mut handle) };
    assert_eq!(status, STATUS_SUCCESS);
    let [record] = sim.registrations()[..] else {
        panic!()
    };
    assert_eq!(
        (record.via, record.pdo, record.resource),
        (Via::Export, pdo.addr(), Resource::Thread(thread.addr()))
    );
    // SAFETY: the handle just returned.
    let status = unsafe { portcls_sim::PcRemoveStreamResource(handle) };
    assert_eq!(status, STATUS_SUCCESS);
    // SAFETY: the reference create_thread gave us.
    unsafe { portcls_sim::ObfDereferenceObject(thread.cast()) };
    sim.assert_clean();
}

#[test]
fn tearing_down_a_registered_resource_is_a_violation() {
    let bench = Bench::new();
    let mut slot = Slot::uninit();
    let descriptor = thread_descriptor(&mut slot, bench.pdo, bench.thread);
    let (status, _) = add2(bench.manager, bench.pdo, descriptor);
    assert_eq!(status, STATUS_SUCCESS);
    bench.sim.exit_thread(bench.thread);

    let (version, context) = bench.sim.connect_interrupt(Connect::MessageBased);
    let mut interrupt_slot = Slot::uninit();
    let interrupt = PCSTREAMRESOURCE_DESCRIPTOR::init_in_place(&mut interrupt_slot);
    interrupt.Pdo = bench.pdo;
    interrupt.Resource.Interrupt.Version = version;
    interrupt.Resource.Interrupt.Generic = context;
    let (status, _) = add2(bench.manager, bench.pdo, interrupt);
    assert_eq!(status, STATUS_SUCCESS);
    let mut parameters = IO_DISCONNECT_INTERRUPT_PARAMETERS {
        Version: version,
        ConnectionContext: context,
    };
    // SAFETY: the connection the model made.
    unsafe { portcls_sim::IoDisconnectInterruptEx(&raw mut parameters) };
    // Disconnecting twice is a bad object.
    // SAFETY: as above (the model checks it).
    unsafe { portcls_sim::IoDisconnectInterruptEx(&raw mut parameters) };

    // Registering what is no longer live, and for a PDO nobody made.
    let (status, _) = add2(bench.manager, bench.pdo, interrupt);
    assert_eq!(
        status, STATUS_SUCCESS,
        "PortCls itself cannot tell; the verifier can"
    );
    let stranger: PDEVICE_OBJECT = without_provenance_mut(0x4000);
    let (status, _) = add2(bench.manager, stranger, descriptor);
    assert_eq!(status, STATUS_SUCCESS);
    let interrupt_resource = Resource::Interrupt {
        context: context.addr(),
        version,
    };
    assert_eq!(
        bench.sim.violations(),
        vec![
            Violation::ThreadGoneWhileRegistered {
                thread: bench.thread.addr()
            },
            Violation::DisconnectedWhileRegistered {
                context: context.addr()
            },
            Violation::DisconnectedWhileRegistered {
                context: context.addr()
            },
            Violation::BadObject {
                ddi: Ddi::IoDisconnectInterruptEx,
                object: context.addr()
            },
            Violation::ResourceNotLive {
                ddi: Ddi::AddStreamResource2,
                resource: interrupt_resource
            },
            Violation::UnknownPdo {
                ddi: Ddi::AddStreamResource2,
                pdo: 0x4000
            },
            Violation::ResourceNotLive {
                ddi: Ddi::AddStreamResource2,
                resource: Resource::Thread(bench.thread.addr())
            },
        ]
    );
    assert!(!bench.sim.leftovers().is_empty());
    let _ = bench.finish();
}

#[test]
fn reference_counting_catches_over_release_and_use_after_release() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let thread = sim.create_thread();
    // SAFETY: the reference create_thread gave us, and one too many (the model checks).
    unsafe { portcls_sim::ObfDereferenceObject(thread.cast()) };
    // SAFETY: as above.
    unsafe { portcls_sim::ObfDereferenceObject(thread.cast()) };
    let port = sim.new_port();
    assert_eq!(release(port.cast()), 0);
    let (status, _) = query(port.cast(), IID_IUnknown);
    assert_eq!(status, STATUS_INVALID_DEVICE_STATE);
    assert_eq!(
        sim.violations(),
        vec![
            Violation::OverRelease {
                ddi: Ddi::ObfDereferenceObject,
                object: thread.addr()
            },
            // The thread took id 1, so the port is object 2.
            Violation::UseAfterRelease {
                ddi: Ddi::QueryInterface,
                object: 2
            },
        ]
    );
}

#[test]
fn injected_failures_hit_exactly_the_chosen_call() {
    let bench = Bench::new();
    bench
        .sim
        .fail_call(Ddi::AddStreamResource2, 2, STATUS_INSUFFICIENT_RESOURCES);
    let mut slot = Slot::uninit();
    let descriptor = thread_descriptor(&mut slot, bench.pdo, bench.thread);
    let (first, handle) = add2(bench.manager, bench.pdo, descriptor);
    let (second, none) = add2(bench.manager, bench.pdo, descriptor);
    let (third, handle3) = add2(bench.manager, bench.pdo, descriptor);
    assert_eq!(
        (first, second, third),
        (
            STATUS_SUCCESS,
            STATUS_INSUFFICIENT_RESOURCES,
            STATUS_SUCCESS
        )
    );
    assert!(none.is_null());
    assert_eq!(bench.sim.registrations().len(), 2);
    // The n-th fallible call of any kind: the query was 1, the adds 2-4, so 5 is this removal.
    bench.sim.fail_nth_call(5, STATUS_INSUFFICIENT_RESOURCES);
    assert_eq!(remove(bench.manager, handle), STATUS_INSUFFICIENT_RESOURCES);
    assert_eq!(remove(bench.manager, handle), STATUS_SUCCESS);
    assert_eq!(remove(bench.manager, handle3), STATUS_SUCCESS);
    assert_eq!(bench.sim.fallible_calls(), 7);
    bench.finish().assert_clean();
}

#[test]
fn threads_bound_to_one_machine_share_it_and_keep_their_own_irql() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let thread = sim.create_thread();
    let address = thread.addr();
    let _raised = portcls_sim::raise_irql(DISPATCH_LEVEL);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let _binding = sim.bind_current_thread();
            assert_eq!(portcls_sim::current_irql(), 0);
            // SAFETY: a live thread object of the shared machine (the model only compares
            // addresses).
            unsafe { portcls_sim::ObfReferenceObject(without_provenance_mut(address)) };
        });
    });
    assert_eq!(sim.thread_refs(thread), 2);
    assert_eq!(portcls_sim::KeGetCurrentIrql(), DISPATCH_LEVEL);
}

fn routine_address(name: &str) -> *mut c_void {
    let units: Vec<u16> = name.encode_utf16().collect();
    let mut text = portcls_sim::pool::UnicodeString::new(&units);
    // SAFETY: a valid counted string over `units`, alive for the call.
    unsafe { portcls_sim::pool::MmGetSystemRoutineAddress(&raw mut text) }
}

const TAG: u32 = u32::from_le_bytes(*b"Test");

#[test]
fn pool_is_tracked_by_tag_and_misuse_is_reported() {
    use portcls_sim::pool::{
        ExAllocatePoolWithTag, ExFreePoolWithTag, NON_PAGED_POOL_EXECUTE, NON_PAGED_POOL_NX,
    };
    let sim = Sim::new(OsProfile::Win10_1511);
    let block = ExAllocatePoolWithTag(NON_PAGED_POOL_NX, 100, TAG);
    assert!(!block.is_null());
    // SAFETY: 100 fresh bytes.
    let first = unsafe { block.cast::<u8>().read() };
    assert_eq!(
        first,
        portcls_sim::pool::FRESH_POOL_FILL,
        "pool is not zeroed"
    );
    assert_eq!(sim.pool_in_use(), vec![(portcls_sim::Tag(TAG), 100)]);
    let leftovers = sim.leftovers();
    assert_eq!(leftovers.len(), 1);
    assert!(
        leftovers[0].contains("100 bytes with tag 'Test'"),
        "{leftovers:?}"
    );
    // The report names the function that allocated (Miri records no call stacks).
    if !cfg!(miri) {
        assert!(
            leftovers[0]
                .contains("allocated by rules::pool_is_tracked_by_tag_and_misuse_is_reported"),
            "{leftovers:?}"
        );
    }
    // SAFETY: the block above, freed with another tag, then again (the model checks).
    unsafe { ExFreePoolWithTag(block, u32::from_le_bytes(*b"Oops")) };
    // SAFETY: as above.
    unsafe { ExFreePoolWithTag(block, TAG) };
    let executable = ExAllocatePoolWithTag(NON_PAGED_POOL_EXECUTE, 8, TAG);
    // SAFETY: the block just allocated.
    unsafe { ExFreePoolWithTag(executable, TAG) };
    assert_eq!(
        sim.violations(),
        vec![
            Violation::TagMismatch {
                address: block.addr(),
                allocated: portcls_sim::Tag(TAG),
                freed: portcls_sim::Tag(u32::from_le_bytes(*b"Oops"))
            },
            Violation::BadFree {
                address: block.addr()
            },
            Violation::ExecutablePool {
                ddi: Ddi::ExAllocatePoolWithTag,
                tag: portcls_sim::Tag(TAG)
            },
        ]
    );
    assert!(sim.pool_in_use().is_empty());
}

#[test]
fn allocate_pool2_exists_from_build_19041_only() {
    use portcls_sim::pool::{ExFreePoolWithTag, POOL_FLAG_NON_PAGED};
    for profile in OsProfile::ALL {
        let sim = Sim::new(profile);
        let routine = routine_address("ExAllocatePool2");
        assert_eq!(
            routine.is_null(),
            !profile.has_allocate_pool2(),
            "{profile}"
        );
        assert!(routine_address("ExAllocatePool3").is_null());
        if !routine.is_null() {
            // SAFETY: the model returns its own ExAllocatePool2.
            let allocate: portcls_sys::kernel_abi!(fn(u64, usize, u32) -> *mut c_void) =
                unsafe { std::mem::transmute(routine) };
            let block = allocate(POOL_FLAG_NON_PAGED, 16, TAG);
            // SAFETY: 16 fresh bytes.
            let bytes = unsafe { block.cast::<[u8; 16]>().read() };
            assert_eq!(bytes, [0; 16], "ExAllocatePool2 zeroes");
            // SAFETY: the block just allocated.
            unsafe { ExFreePoolWithTag(block, TAG) };
        }
        sim.assert_clean();
    }
}

#[test]
fn injected_pool_failures_return_null() {
    use portcls_sim::pool::{ExAllocatePoolWithTag, NON_PAGED_POOL_NX};
    let sim = Sim::new(OsProfile::Win10_1511);
    sim.fail_call(Ddi::ExAllocatePoolWithTag, 1, STATUS_INSUFFICIENT_RESOURCES);
    assert!(ExAllocatePoolWithTag(NON_PAGED_POOL_NX, 64, TAG).is_null());
    sim.assert_clean();
}

#[test]
fn a_port_left_referenced_reports_its_reference_history() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let port = sim.new_port();
    // SAFETY: the model's live port.
    let vtable = unknown_vtable(port.cast());
    // SAFETY: as above; one more reference, then one given back.
    unsafe { (vtable.AddRef)(port) };
    release(port.cast());
    let leftovers = sim.leftovers();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    assert!(
        leftovers[0].contains("still has 1 reference(s)")
            && leftovers[0].contains("created -> 1")
            && leftovers[0].contains("AddRef -> 2")
            && leftovers[0].contains("Release -> 1"),
        "{leftovers:?}"
    );
    assert_eq!(release(port.cast()), 0);
    sim.assert_clean();
}

mod unload {
    use std::sync::Mutex;

    use portcls_sim::{Ddi, OsProfile, Sim, Violation};
    use portcls_sys::km::{PDRIVER_OBJECT, PDRIVER_UNLOAD, PUNICODE_STRING};
    use portcls_sys::wavert::PcInitializeAdapterDriver;
    use portcls_sys::{NTSTATUS, PDEVICE_OBJECT, STATUS_INVALID_DEVICE_STATE, STATUS_SUCCESS};

    portcls_sys::kernel_abi! {
        unsafe fn add_device(_: PDRIVER_OBJECT, _: PDEVICE_OBJECT) -> NTSTATUS {
            STATUS_SUCCESS
        }
    }

    /// PortCls's unload, as `entry_that_chains` found it.
    static PORTCLS_UNLOAD: Mutex<PDRIVER_UNLOAD> = Mutex::new(None);

    portcls_sys::kernel_abi! {
        unsafe fn entry_that_chains(
            driver: PDRIVER_OBJECT,
            path: PUNICODE_STRING,
        ) -> NTSTATUS {
            // SAFETY: the I/O manager's arguments, forwarded.
            let status = unsafe { PcInitializeAdapterDriver(driver, path, Some(add_device)) };
            // SAFETY: our writable driver object.
            let unload = unsafe { &mut (*driver).DriverUnload };
            *PORTCLS_UNLOAD.lock().unwrap() = unload.replace(unload_then_chain);
            status
        }
    }

    portcls_sys::kernel_abi! {
        unsafe fn unload_then_chain(driver: PDRIVER_OBJECT) {
            let portcls = PORTCLS_UNLOAD.lock().unwrap().expect("saved at load");
            // SAFETY: PortCls's unload with the driver object it was installed in.
            unsafe { portcls(driver) };
        }
    }

    portcls_sys::kernel_abi! {
        unsafe fn entry_that_replaces(
            driver: PDRIVER_OBJECT,
            path: PUNICODE_STRING,
        ) -> NTSTATUS {
            // SAFETY: the I/O manager's arguments, forwarded.
            let status = unsafe { PcInitializeAdapterDriver(driver, path, Some(add_device)) };
            // SAFETY: our writable driver object.
            unsafe { (*driver).DriverUnload = Some(unload_alone) };
            status
        }
    }

    portcls_sys::kernel_abi! {
        unsafe fn unload_alone(_: PDRIVER_OBJECT) {}
    }

    #[test]
    fn an_unload_routine_in_front_of_portcls_must_call_it() {
        let sim = Sim::new(OsProfile::Win10_1511);
        assert_eq!(
            sim.unload_driver(),
            Err(STATUS_INVALID_DEVICE_STATE),
            "nothing loaded"
        );
        assert_eq!(sim.load_driver(entry_that_chains), STATUS_SUCCESS);
        assert_eq!(sim.unload_driver(), Ok(()));
        assert!(sim.trace().iter().any(|e| e.ddi == Ddi::DriverUnload));
        sim.assert_clean();

        let sim = Sim::new(OsProfile::Win10_1511);
        assert_eq!(sim.load_driver(entry_that_replaces), STATUS_SUCCESS);
        assert_eq!(sim.unload_driver(), Ok(()));
        assert_eq!(sim.violations(), [Violation::PortClsUnloadSkipped]);
    }
}
