//! A PCI device's hardware as an adapter meets it in the model: the resources `StartDevice`
//! receives, configuration space through the bus interface, a message-based interrupt (or the
//! line-based fall-back) connected with `IoConnectInterruptEx` and registered as a stream
//! resource through the `portcls` library, interrupts delivered to its ISR at DIRQL, the DPC
//! it queues run at `DISPATCH_LEVEL`, and the teardown at removal; then every rule the model
//! enforces on those routines, fault injection, and device memory.
//!
//! The adapter is written here. Its state lives in a thread local: each test runs its machine
//! on its own thread, and the model calls the driver (`StartDevice`, the ISR, the DPC, the PnP
//! hook) on the thread that drives it.

use std::cell::{RefCell, UnsafeCell};
use std::ptr::{NonNull, null_mut};
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};

use portcls::{
    ComPtr, EXPORT_LINKED, InterruptConnection, Mechanism, OwnedInterruptRegistration, Pdo,
};
use portcls_sim::virtio_pci::Interrupt;
use portcls_sim::{
    Bar, BarMapper, Ddi, HardwareRule, OsProfile, PciDevice, PciInterrupts, Sim, Violation,
};
use portcls_sys::hw::{
    BUS_INTERFACE_STANDARD, CM_RESOURCE_INTERRUPT_MESSAGE, CmResourceTypeInterrupt,
    CmResourceTypeMemory, GUID_BUS_INTERFACE_STANDARD, INTERRUPT_MESSAGE_TABLE,
    IO_CONNECT_INTERRUPT_MESSAGE_BASED_PARAMETERS, IO_CONNECT_INTERRUPT_PARAMETERS,
    IO_CONNECT_INTERRUPT_PARAMETERS_UNION, IO_STATUS_BLOCK, IRP_MN_QUERY_INTERFACE,
    IoBuildSynchronousFsdRequest, IoConnectInterruptEx, IoGetNextIrpStackLocation, IofCallDriver,
    KDPC, KeAcquireInterruptSpinLock, KeFlushQueuedDpcs, KeInitializeDpc, KeInsertQueueDpc,
    KeReleaseInterruptSpinLock, KeRemoveQueueDpc, KeSynchronizeExecution, MmMapIoSpace,
    MmUnmapIoSpace, PCI_WHICHSPACE_CONFIG, PKDPC, QUERY_INTERFACE_PARAMETERS, irp_io_status,
};
use portcls_sys::km::{
    CONNECT_LINE_BASED, CONNECT_MESSAGE_BASED, DISPATCH_LEVEL, IRP_CURRENT_STACK_LOCATION_OFFSET,
    IRP_MJ_PNP, IRP_MN_REMOVE_DEVICE, IRP_MN_STOP_DEVICE, KEVENT, KIRQL, KeGetCurrentIrql,
    LARGE_INTEGER, MmNonCached, PDRIVER_OBJECT, PIRP, PKINTERRUPT, PUNICODE_STRING,
};
use portcls_sys::wavert::{
    CLSID_PortWaveRT, IResourceListVtbl, PORT_CLASS_DEVICE_EXTENSION_SIZE, PPORT, PRESOURCELIST,
    PcAddAdapterDevice, PcDispatchIrp, PcInitializeAdapterDriver, PcNewPort,
};
use portcls_sys::{
    GUID, IUnknown, NTSTATUS, PDEVICE_OBJECT, PVOID, PcGetPhysicalDeviceObject,
    STATUS_INSUFFICIENT_RESOURCES, STATUS_NOT_SUPPORTED, STATUS_SUCCESS, ULONG,
};

portcls_sys::kernel_abi! {
    unsafe extern {
        fn KeInitializeEvent(event: *mut KEVENT, kind: i32, signaled: u8);
    }
}

/// `NotificationEvent`.
const NOTIFICATION_EVENT: i32 = 0;
const VENDOR: u16 = 0x1AF4;
const DEVICE: u16 = 0x1059;
const MEMORY_BAR: u64 = 0xFE00_0000;
/// The GUIDs passed by address.
static BUS_GUID: GUID = GUID_BUS_INTERFACE_STANDARD;
static WAVERT: GUID = CLSID_PortWaveRT;

/// What the ISR and the DPC share (the ISR's `ServiceContext`, the DPC's context).
struct Shared {
    dpc: UnsafeCell<KDPC>,
    isr_calls: AtomicU32,
    isr_irql: AtomicU8,
    message: AtomicU32,
    dpc_calls: AtomicU32,
    dpc_irql: AtomicU8,
    /// When set, the ISR leaves its IRQL changed (a rule breach).
    isr_breaks_irql: AtomicU8,
}

// SAFETY: the KDPC is only touched by the model's DPC routines, which serialise on it.
unsafe impl Sync for Shared {}

impl Default for Shared {
    fn default() -> Self {
        Self {
            dpc: UnsafeCell::new(KDPC::zeroed()),
            isr_calls: AtomicU32::new(0),
            isr_irql: AtomicU8::new(0),
            message: AtomicU32::new(0),
            dpc_calls: AtomicU32::new(0),
            dpc_irql: AtomicU8::new(0),
            isr_breaks_irql: AtomicU8::new(0),
        }
    }
}

/// What `StartDevice` saw and set up.
struct Observed {
    entries: u32,
    memory: u32,
    first_memory: u64,
    interrupts: u32,
    message_flagged: u32,
    ids: (u16, u16),
    version: u32,
    messages: u32,
    mechanism: Option<Mechanism>,
    /// The first message's interrupt object.
    first_object: PKINTERRUPT,
}

/// How the adapter behaves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// The whole bring-up in `StartDevice` and the teardown at stop and removal.
    Full,
    /// `StartDevice` does nothing (the test drives the routines itself).
    Idle,
    /// As `Full`, but the removal forgets to disconnect and dereference.
    Leaky,
}

struct Adapter {
    /// From `Box::into_raw`: its address is the ISR's and the DPC's context, so it is never
    /// moved; freed by [`tear_down`].
    shared: *mut Shared,
    bus: BUS_INTERFACE_STANDARD,
    port: Option<ComPtr<IUnknown>>,
    registration: Option<OwnedInterruptRegistration>,
    connection: Option<InterruptConnection>,
}

impl Default for Observed {
    fn default() -> Self {
        Self {
            entries: 0,
            memory: 0,
            first_memory: 0,
            interrupts: 0,
            message_flagged: 0,
            ids: (0, 0),
            version: 0,
            messages: 0,
            mechanism: None,
            first_object: null_mut(),
        }
    }
}

thread_local! {
    static MODE: RefCell<Mode> = const { RefCell::new(Mode::Full) };
    static OBSERVED: RefCell<Observed> = RefCell::new(Observed::default());
    static ADAPTER: RefCell<Option<Adapter>> = const { RefCell::new(None) };
}

portcls_sys::kernel_abi! {
    unsafe fn isr(_interrupt: PKINTERRUPT, context: PVOID, message: ULONG) -> u8 {
        // SAFETY: the context is the adapter's `Shared`, alive while connected.
        let shared = unsafe { &*context.cast::<Shared>() };
        shared.isr_calls.fetch_add(1, Ordering::SeqCst);
        // SAFETY: the model's routine.
        shared.isr_irql.store(unsafe { KeGetCurrentIrql() }, Ordering::SeqCst);
        shared.message.store(message, Ordering::SeqCst);
        if shared.isr_breaks_irql.load(Ordering::SeqCst) != 0 {
            // Leaves the ISR at DISPATCH_LEVEL: the guard that would restore it is forgotten.
            std::mem::forget(portcls_sim::raise_irql(DISPATCH_LEVEL));
        }
        // SAFETY: the adapter's initialised DPC; any IRQL.
        unsafe { KeInsertQueueDpc(shared.dpc.get(), null_mut(), null_mut()) };
        1
    }

    unsafe fn line_isr(interrupt: PKINTERRUPT, context: PVOID) -> u8 {
        // SAFETY: forwarded; a line has no message number (`u32::MAX` tells the test so).
        unsafe { isr(interrupt, context, u32::MAX) }
    }

    unsafe fn dpc(_dpc: PKDPC, context: PVOID, _first: PVOID, _second: PVOID) {
        // SAFETY: as in the ISR.
        let shared = unsafe { &*context.cast::<Shared>() };
        shared.dpc_calls.fetch_add(1, Ordering::SeqCst);
        // SAFETY: the model's routine.
        shared.dpc_irql.store(unsafe { KeGetCurrentIrql() }, Ordering::SeqCst);
    }
}

/// Reads the resources `StartDevice` received.
///
/// # Safety
/// `resources` is the live list PortCls passed.
unsafe fn read_resources(resources: PRESOURCELIST) {
    if resources.is_null() {
        return;
    }
    // SAFETY: a live COM object.
    let vtable = unsafe { (*resources).lpVtbl };
    // SAFETY: its vtable.
    let vtable: IResourceListVtbl = unsafe { *vtable };
    // SAFETY: the list's own methods.
    let entries = unsafe { (vtable.NumberOfEntries)(resources) };
    // SAFETY: as above.
    let memory = unsafe { (vtable.NumberOfEntriesOfType)(resources, CmResourceTypeMemory) };
    // SAFETY: as above.
    let interrupts = unsafe { (vtable.NumberOfEntriesOfType)(resources, CmResourceTypeInterrupt) };
    // SAFETY: as above.
    let first = unsafe { (vtable.FindTranslatedEntry)(resources, CmResourceTypeMemory, 0) };
    // SAFETY: a descriptor of the list, or null.
    let first_memory = unsafe { first.as_ref() }.map_or(0, |d| {
        // SAFETY: a memory descriptor.
        let start = unsafe { d.u.Memory }.Start;
        // SAFETY: every bit pattern is an i64.
        unsafe { start.QuadPart }.cast_unsigned()
    });
    let flagged = (0..interrupts)
        .filter(|&i| {
            let entry =
                // SAFETY: as above.
                unsafe { (vtable.FindTranslatedEntry)(resources, CmResourceTypeInterrupt, i) };
            // SAFETY: a descriptor of the list.
            let flags = unsafe { (*entry).Flags };
            flags & CM_RESOURCE_INTERRUPT_MESSAGE != 0
        })
        .count();
    OBSERVED.with(|o| {
        let mut o = o.borrow_mut();
        o.entries = entries;
        o.memory = memory;
        o.first_memory = first_memory;
        o.interrupts = interrupts;
        o.message_flagged = u32::try_from(flagged).unwrap();
    });
}

/// Sends `IRP_MN_QUERY_INTERFACE` for the bus interface to the PDO (its status preset to
/// `STATUS_NOT_SUPPORTED` when `preset`, as Driver Verifier wants) and returns the status it
/// completed with and the IRP (gone once completed: only its address may be used).
///
/// # Safety
/// `pdo` is the device's PDO.
unsafe fn query_bus_interface(
    pdo: PDEVICE_OBJECT,
    bus: &mut BUS_INTERFACE_STANDARD,
    preset: bool,
) -> (NTSTATUS, PIRP) {
    let mut event = std::mem::MaybeUninit::<[u64; 3]>::zeroed();
    let event = event.as_mut_ptr().cast::<KEVENT>();
    // SAFETY: storage for an event.
    unsafe { KeInitializeEvent(event, NOTIFICATION_EVENT, 0) };
    let mut iosb = IO_STATUS_BLOCK::default();
    // SAFETY: a PnP IRP for the PDO with our event and status block.
    let irp = unsafe {
        IoBuildSynchronousFsdRequest(
            IRP_MJ_PNP.into(),
            pdo,
            null_mut(),
            0,
            null_mut(),
            event,
            &raw mut iosb,
        )
    };
    if irp.is_null() {
        return (STATUS_INSUFFICIENT_RESOURCES, irp);
    }
    if preset {
        let status = irp_io_status(irp);
        // SAFETY: the live IRP's status block.
        unsafe { (*status).Status = STATUS_NOT_SUPPORTED };
    }
    // SAFETY: the IRP has one stack location below its current one.
    let location = unsafe { IoGetNextIrpStackLocation(irp) };
    // SAFETY: that location, ours to fill in.
    let location = unsafe { &mut *location };
    location.MinorFunction = IRP_MN_QUERY_INTERFACE;
    let query = QUERY_INTERFACE_PARAMETERS {
        InterfaceType: &raw const BUS_GUID,
        Size: u16::try_from(size_of::<BUS_INTERFACE_STANDARD>()).unwrap(),
        Version: 1,
        Interface: std::ptr::from_mut(bus).cast(),
        InterfaceSpecificData: null_mut(),
    };
    let parameters = location
        .Parameters
        .as_mut_ptr()
        .cast::<QUERY_INTERFACE_PARAMETERS>();
    // SAFETY: the parameters union holds a QUERY_INTERFACE_PARAMETERS.
    unsafe { parameters.write(query) };
    // SAFETY: sending our IRP to the PDO; it completes synchronously in the model.
    unsafe { IofCallDriver(pdo, irp) };
    (iosb.Status, irp)
}

/// Connects message-based (falling back to line-based) with the adapter's ISRs.
///
/// # Safety
/// `pdo` is the device's PDO; `shared` outlives the connection.
unsafe fn connect(pdo: PDEVICE_OBJECT, shared: &Shared) -> (NTSTATUS, u32, PVOID) {
    let mut context: PVOID = null_mut();
    let mut parameters = IO_CONNECT_INTERRUPT_PARAMETERS {
        Version: CONNECT_MESSAGE_BASED,
        u: IO_CONNECT_INTERRUPT_PARAMETERS_UNION {
            MessageBased: IO_CONNECT_INTERRUPT_MESSAGE_BASED_PARAMETERS {
                PhysicalDeviceObject: pdo,
                ConnectionContext: &raw mut context,
                MessageServiceRoutine: Some(isr),
                ServiceContext: std::ptr::from_ref(shared).cast_mut().cast(),
                SpinLock: null_mut(),
                SynchronizeIrql: 0,
                FloatingSave: 0,
                FallBackServiceRoutine: Some(line_isr),
            },
        },
    };
    // SAFETY: well-formed parameters.
    let status = unsafe { IoConnectInterruptEx(&raw mut parameters) };
    (status, parameters.Version, context)
}

portcls_sys::kernel_abi! {
    unsafe fn start_device(fdo: PDEVICE_OBJECT, _irp: PIRP, resources: PRESOURCELIST) -> NTSTATUS {
        if MODE.with(|m| *m.borrow()) == Mode::Idle {
            return STATUS_SUCCESS;
        }
        // SAFETY: the list PortCls passed.
        unsafe { read_resources(resources) };
        let mut pdo: PDEVICE_OBJECT = null_mut();
        // SAFETY: the FDO PortCls made.
        let status = unsafe { PcGetPhysicalDeviceObject(fdo, &raw mut pdo) };
        if status != STATUS_SUCCESS {
            return status;
        }
        let mut bus = BUS_INTERFACE_STANDARD::empty();
        // SAFETY: the device's PDO.
        let (status, _) = unsafe { query_bus_interface(pdo, &mut bus, true) };
        if status != STATUS_SUCCESS {
            return status;
        }
        let mut ids = [0u8; 4];
        let get = bus.GetBusData.unwrap();
        // SAFETY: the interface's routine with its context and a 4-byte buffer.
        let read = unsafe { get(bus.Context, PCI_WHICHSPACE_CONFIG, ids.as_mut_ptr().cast(), 0, 4) };
        assert_eq!(read, 4);
        let pointer = Box::into_raw(Box::<Shared>::default());
        // SAFETY: freshly allocated, freed only by the teardown (or just below).
        let shared = unsafe { &*pointer };
        // SAFETY: the DPC storage lives in `shared`, as long as the adapter.
        unsafe { KeInitializeDpc(shared.dpc.get(), Some(dpc), pointer.cast()) };
        // SAFETY: the PDO, and `shared` kept in the adapter until after the disconnect.
        let (status, version, context) = unsafe { connect(pdo, shared) };
        if status != STATUS_SUCCESS {
            // SAFETY: nothing connected refers to it.
            drop(unsafe { Box::from_raw(pointer) });
            // SAFETY: the reference the query gave us.
            unsafe { bus.InterfaceDereference.unwrap()(bus.Context) };
            return status;
        }
        let (messages, first_object) = if version == CONNECT_MESSAGE_BASED {
            // SAFETY: a live message-based context.
            let table = unsafe { INTERRUPT_MESSAGE_TABLE::from_context(context.cast()) };
            // SAFETY: its table.
            let count = unsafe { (*table).MessageCount };
            // SAFETY: as above.
            let first = unsafe { INTERRUPT_MESSAGE_TABLE::entry(table, 0) }.unwrap();
            // SAFETY: an entry of the table.
            (count, unsafe { (*first).InterruptObject })
        } else {
            (0, context.cast())
        };
        let mut port: PPORT = null_mut();
        // SAFETY: a WaveRT port for the stream-resource manager.
        let status = unsafe { PcNewPort(&raw mut port, &raw const WAVERT) };
        assert_eq!(status, STATUS_SUCCESS);
        // SAFETY: the reference PcNewPort handed us.
        let port = unsafe { ComPtr::<IUnknown>::from_raw(port.cast()) }.unwrap();
        // SAFETY: the PDO of this stack.
        let manager = portcls::StreamResourceManager::new(&port, unsafe { Pdo::from_raw(pdo) }.unwrap());
        // SAFETY: the connection just made, handed over.
        let connection = unsafe { InterruptConnection::from_raw(version, context) }.unwrap();
        let registration = manager.register_owned_interrupt(connection).map_err(|(e, _)| e).unwrap();
        OBSERVED.with(|o| {
            let mut o = o.borrow_mut();
            o.ids = (u16::from_le_bytes([ids[0], ids[1]]), u16::from_le_bytes([ids[2], ids[3]]));
            o.version = version;
            o.messages = messages;
            o.first_object = first_object;
            o.mechanism = Some(manager.mechanism());
        });
        ADAPTER.with(|a| {
            *a.borrow_mut() = Some(Adapter {
                shared: pointer,
                bus,
                port: Some(port),
                registration: Some(registration),
                connection: None,
            });
        });
        STATUS_SUCCESS
    }

    unsafe fn pnp(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
        let slot = irp.cast::<*const u8>().wrapping_byte_add(IRP_CURRENT_STACK_LOCATION_OFFSET);
        // SAFETY: the IRP keeps its current location at this offset.
        let location = unsafe { slot.read() };
        // SAFETY: byte 1 of the location is the minor function.
        let minor = unsafe { location.wrapping_add(1).read() };
        if minor == IRP_MN_STOP_DEVICE || minor == IRP_MN_REMOVE_DEVICE {
            tear_down();
        }
        // SAFETY: forwarded to PortCls.
        unsafe { PcDispatchIrp(device, irp) }
    }

    unsafe fn add_device(driver: PDRIVER_OBJECT, pdo: PDEVICE_OBJECT) -> NTSTATUS {
        // SAFETY: forwarded.
        unsafe { PcAddAdapterDevice(driver, pdo, Some(start_device), 1, PORT_CLASS_DEVICE_EXTENSION_SIZE) }
    }

    unsafe fn driver_entry(driver: PDRIVER_OBJECT, path: PUNICODE_STRING) -> NTSTATUS {
        // SAFETY: forwarded.
        let status = unsafe { PcInitializeAdapterDriver(driver, path, Some(add_device)) };
        // SAFETY: the driver object, after PortCls filled it in: hook PnP to tear down.
        unsafe { (*driver).MajorFunction[usize::from(IRP_MJ_PNP)] = Some(pnp) };
        status
    }
}

/// Unregisters, then disconnects; drops the bus interface and the port (a leaky adapter keeps
/// the connection and the interface).
fn tear_down() {
    let Some(mut adapter) = ADAPTER.with(|a| a.borrow_mut().take()) else {
        return;
    };
    if let Some(registration) = adapter.registration.take() {
        let (connection, outcome) = registration.unregister();
        outcome.unwrap();
        adapter.connection = Some(connection);
    }
    if MODE.with(|m| *m.borrow()) == Mode::Leaky {
        std::mem::forget(adapter.connection.take());
        // SAFETY: no interrupt is raised any more in the leaky tests.
        drop(unsafe { Box::from_raw(adapter.shared) });
        return;
    }
    drop(adapter.connection.take()); // IoDisconnectInterruptEx
    // SAFETY: nothing queues the DPC any more; runs what is left.
    unsafe { KeFlushQueuedDpcs() };
    // SAFETY: the reference the query gave us.
    unsafe { adapter.bus.InterfaceDereference.unwrap()(adapter.bus.Context) };
    drop(adapter.port.take());
    // SAFETY: disconnected and no DPC queued: nothing refers to it any more.
    drop(unsafe { Box::from_raw(adapter.shared) });
}

fn msix_device(messages: u16) -> PciDevice {
    let mut config = vec![0u8; 256];
    config[..2].copy_from_slice(&VENDOR.to_le_bytes());
    config[2..4].copy_from_slice(&DEVICE.to_le_bytes());
    let interrupts = if messages == 0 {
        PciInterrupts::Line
    } else {
        PciInterrupts::MsiX { messages }
    };
    PciDevice {
        config: Box::new(config),
        bars: vec![
            Bar::memory(1, MEMORY_BAR, 0x1000),
            Bar::memory(4, MEMORY_BAR + 0x10_0000, 0x4000),
        ],
        interrupts,
    }
}

fn started(profile: OsProfile, mode: Mode, messages: u16) -> (Sim, portcls_sim::Device) {
    MODE.with(|m| *m.borrow_mut() = mode);
    OBSERVED.with(|o| *o.borrow_mut() = Observed::default());
    let sim = Sim::new(profile);
    assert_eq!(sim.load_driver(driver_entry), STATUS_SUCCESS);
    let device = sim.plug_in_pci(msix_device(messages)).unwrap();
    (sim, device)
}

fn shared_counts() -> (u32, u8, u32, u32, u8) {
    ADAPTER.with(|a| {
        let a = a.borrow();
        // SAFETY: alive while the adapter is.
        let s = unsafe { &*a.as_ref().unwrap().shared };
        (
            s.isr_calls.load(Ordering::SeqCst),
            s.isr_irql.load(Ordering::SeqCst),
            s.message.load(Ordering::SeqCst),
            s.dpc_calls.load(Ordering::SeqCst),
            s.dpc_irql.load(Ordering::SeqCst),
        )
    })
}

fn finish(sim: &Sim, device: &portcls_sim::Device) {
    sim.remove_device(device.fdo);
    sim.unload_driver().unwrap();
}

#[test]
fn a_message_based_interrupt_is_connected_registered_delivered_and_torn_down_on_each_profile() {
    // A driver linking the portcls.sys export does not load on Windows 8.1: with the library's
    // `export` feature on (feature unification with its own tests) that profile is skipped.
    let profiles = [
        OsProfile::Win10_1511,
        OsProfile::Win10_1507,
        OsProfile::Windows81,
    ];
    for profile in profiles
        .into_iter()
        .filter(|&p| !(EXPORT_LINKED && p == OsProfile::Windows81))
    {
        let (sim, device) = started(profile, Mode::Full, 2);
        assert_eq!(sim.start_device(&device), STATUS_SUCCESS, "{profile}");
        OBSERVED.with(|o| {
            let o = o.borrow();
            assert_eq!((o.entries, o.memory, o.interrupts), (4, 2, 2), "{profile}");
            assert_eq!(o.first_memory, MEMORY_BAR);
            assert_eq!(o.message_flagged, 2);
            assert_eq!(o.ids, (VENDOR, DEVICE));
            assert_eq!((o.version, o.messages), (CONNECT_MESSAGE_BASED, 2));
            let expected = match profile {
                OsProfile::Windows81 => Mechanism::Unsupported,
                OsProfile::Win10_1507 if EXPORT_LINKED => Mechanism::Export,
                OsProfile::Win10_1507 => Mechanism::InterfaceV1,
                _ => Mechanism::InterfaceV2,
            };
            assert_eq!(o.mechanism, Some(expected), "{profile}");
        });
        let registered = usize::from(profile != OsProfile::Windows81);
        assert_eq!(sim.registrations().len(), registered, "{profile}");
        assert_eq!(sim.bus_interface_refs(device.pdo), 1);

        assert_eq!(
            sim.raise_interrupt(&device, Interrupt::Message(1)),
            Some(true)
        );
        let (isr_calls, isr_irql, message, dpc_calls, dpc_irql) = shared_counts();
        assert_eq!(
            (isr_calls, isr_irql, message),
            (1, portcls_sim::pci::MESSAGE_IRQL, 1)
        );
        assert_eq!((dpc_calls, dpc_irql), (1, DISPATCH_LEVEL));
        assert_eq!(
            sim.raise_interrupt(&device, Interrupt::Message(2)),
            None,
            "not granted"
        );
        assert_eq!(
            sim.raise_interrupt(&device, Interrupt::Line),
            None,
            "not connected"
        );
        assert_eq!(portcls_sim::current_irql(), 0);

        finish(&sim, &device);
        assert_eq!(sim.bus_interface_refs(device.pdo), 0);
        sim.assert_clean();
    }
}

#[test]
fn without_messages_the_fall_back_routine_is_connected_line_based() {
    let (sim, device) = started(OsProfile::Win10_1511, Mode::Full, 0);
    assert_eq!(sim.start_device(&device), STATUS_SUCCESS);
    OBSERVED.with(|o| {
        let o = o.borrow();
        assert_eq!((o.interrupts, o.message_flagged), (1, 0));
        assert_eq!(o.version, CONNECT_LINE_BASED);
    });
    assert_eq!(sim.raise_interrupt(&device, Interrupt::Message(0)), None);
    assert_eq!(sim.raise_interrupt(&device, Interrupt::Line), Some(true));
    let (isr_calls, isr_irql, message, dpc_calls, _) = shared_counts();
    assert_eq!(
        (isr_calls, isr_irql, message, dpc_calls),
        (1, portcls_sim::pci::LINE_IRQL, u32::MAX, 1)
    );
    finish(&sim, &device);
    sim.assert_clean();
}

#[test]
fn a_failed_connection_connects_nothing_and_the_start_fails() {
    let (sim, device) = started(OsProfile::Win10_1511, Mode::Full, 2);
    sim.fail_call(Ddi::IoConnectInterruptEx, 1, STATUS_INSUFFICIENT_RESOURCES);
    assert_eq!(sim.start_device(&device), STATUS_INSUFFICIENT_RESOURCES);
    assert_eq!(sim.injected(), vec![Ddi::IoConnectInterruptEx]);
    assert_eq!(sim.raise_interrupt(&device, Interrupt::Message(0)), None);
    assert_eq!(sim.bus_interface_refs(device.pdo), 0);
    finish(&sim, &device);
    sim.assert_clean();
}

fn hardware(sim: &Sim) -> Vec<HardwareRule> {
    sim.violations()
        .into_iter()
        .filter_map(|v| match v {
            Violation::Hardware { rule, .. } => Some(rule),
            _ => None,
        })
        .collect()
}

#[test]
fn a_removal_that_leaves_the_interrupt_connected_and_the_interface_referenced_is_reported() {
    let (sim, device) = started(OsProfile::Win10_1511, Mode::Leaky, 1);
    assert_eq!(sim.start_device(&device), STATUS_SUCCESS);
    finish(&sim, &device);
    assert_eq!(
        hardware(&sim),
        vec![
            HardwareRule::InterfaceReferencedAtRemoval,
            HardwareRule::ConnectedAtRemoval
        ]
    );
    let leftovers = sim.leftovers().join("\n");
    assert!(leftovers.contains("still connected"), "{leftovers}");
    assert!(leftovers.contains("bus interface"), "{leftovers}");
}

#[test]
fn an_isr_that_returns_at_another_irql_is_reported() {
    let (sim, device) = started(OsProfile::Win10_1511, Mode::Full, 1);
    assert_eq!(sim.start_device(&device), STATUS_SUCCESS);
    ADAPTER.with(|a| {
        // SAFETY: alive while the adapter is.
        let shared = unsafe { &*a.borrow().as_ref().unwrap().shared };
        shared.isr_breaks_irql.store(1, Ordering::SeqCst);
    });
    assert_eq!(
        sim.raise_interrupt(&device, Interrupt::Message(0)),
        Some(true)
    );
    assert_eq!(hardware(&sim), vec![HardwareRule::RoutineChangedIrql]);
    assert_eq!(
        portcls_sim::current_irql(),
        0,
        "the model restores the IRQL"
    );
    finish(&sim, &device);
}

/// Raw connect parameters for the rule tests.
fn raw_connect(pdo: PDEVICE_OBJECT, shared: &Shared, routine: bool) -> NTSTATUS {
    let mut context: PVOID = null_mut();
    let mut parameters = IO_CONNECT_INTERRUPT_PARAMETERS {
        Version: CONNECT_MESSAGE_BASED,
        u: IO_CONNECT_INTERRUPT_PARAMETERS_UNION {
            MessageBased: IO_CONNECT_INTERRUPT_MESSAGE_BASED_PARAMETERS {
                PhysicalDeviceObject: pdo,
                ConnectionContext: &raw mut context,
                MessageServiceRoutine: if routine { Some(isr) } else { None },
                ServiceContext: std::ptr::from_ref(shared).cast_mut().cast(),
                SpinLock: null_mut(),
                SynchronizeIrql: 0,
                FloatingSave: 0,
                FallBackServiceRoutine: None,
            },
        },
    };
    // SAFETY: well-formed parameters (the rule tests vary what the model checks).
    unsafe { IoConnectInterruptEx(&raw mut parameters) }
}

#[test]
fn connect_rules_irql_pdo_routine_and_a_second_connection() {
    let (sim, device) = started(OsProfile::Win10_1511, Mode::Idle, 1);
    assert_eq!(sim.start_device(&device), STATUS_SUCCESS);
    let shared = Shared::default();
    {
        let _irql = portcls_sim::raise_irql(DISPATCH_LEVEL);
        assert_ne!(raw_connect(device.pdo, &shared, true), STATUS_SUCCESS);
    }
    assert!(sim.violations().contains(&Violation::IrqlTooHigh {
        ddi: Ddi::IoConnectInterruptEx,
        irql: DISPATCH_LEVEL
    }));
    assert_ne!(raw_connect(device.fdo, &shared, true), STATUS_SUCCESS);
    assert_ne!(raw_connect(device.pdo, &shared, false), STATUS_SUCCESS);
    assert_eq!(raw_connect(device.pdo, &shared, true), STATUS_SUCCESS);
    assert_ne!(raw_connect(device.pdo, &shared, true), STATUS_SUCCESS);
    // The ISR queues a DPC this test never initialised.
    assert_eq!(
        sim.raise_interrupt(&device, Interrupt::Message(0)),
        Some(true)
    );
    assert_eq!(sim.queued_dpcs(), 0);
    assert_eq!(
        hardware(&sim),
        vec![
            HardwareRule::NotThePdo,
            HardwareRule::NullRoutine,
            HardwareRule::AlreadyConnected,
            HardwareRule::DpcNotInitialised,
        ]
    );
}

#[test]
fn a_dpc_still_queued_at_unload_and_a_pnp_irp_without_a_preset_status_are_reported() {
    let (sim, device) = started(OsProfile::Win10_1511, Mode::Idle, 1);
    assert_eq!(sim.start_device(&device), STATUS_SUCCESS);
    // A query whose status was left at 0: answered, and reported.
    let mut bus = BUS_INTERFACE_STANDARD::empty();
    // SAFETY: the device's PDO.
    let (status, irp) = unsafe { query_bus_interface(device.pdo, &mut bus, false) };
    assert_eq!(status, STATUS_SUCCESS);
    // SAFETY: the second send of a completed IRP (a breach the model catches).
    assert_ne!(unsafe { IofCallDriver(device.pdo, irp) }, STATUS_SUCCESS);
    // The interface: dereferenced once (fine), then once too often.
    let dereference = bus.InterfaceDereference.unwrap();
    // SAFETY: the interface's routine and context.
    unsafe { dereference(bus.Context) };
    let mut byte = [0u8; 1];
    // SAFETY: as above, after the last reference went (a breach).
    let read = unsafe {
        bus.GetBusData.unwrap()(
            bus.Context,
            PCI_WHICHSPACE_CONFIG,
            byte.as_mut_ptr().cast(),
            0,
            1,
        )
    };
    assert_eq!(read, 0);
    // SAFETY: as above.
    unsafe { dereference(bus.Context) };
    // A DPC queued at DISPATCH_LEVEL and never run.
    let shared = Box::<Shared>::default();
    // SAFETY: DPC storage in the box.
    unsafe { KeInitializeDpc(shared.dpc.get(), Some(dpc), null_mut()) };
    {
        let _irql = portcls_sim::raise_irql(DISPATCH_LEVEL);
        // SAFETY: an initialised DPC.
        let first = unsafe { KeInsertQueueDpc(shared.dpc.get(), null_mut(), null_mut()) };
        // SAFETY: as above: already queued.
        let second = unsafe { KeInsertQueueDpc(shared.dpc.get(), null_mut(), null_mut()) };
        assert_eq!((first, second), (1, 0));
    }
    assert_eq!(sim.queued_dpcs(), 1);
    finish(&sim, &device);
    assert_eq!(
        hardware(&sim),
        vec![
            HardwareRule::PnpIrpStatusNotPreset,
            HardwareRule::UnknownIrp,
            HardwareRule::InterfaceUsedAfterDereference,
            HardwareRule::InterfaceOverDereferenced,
            HardwareRule::DpcQueuedAtUnload,
        ]
    );
    assert!(sim.leftovers().iter().any(|l| l.contains("still queued")));
}

/// A mapper handing out a test-owned buffer.
struct Buffer(Box<[u8; 64]>, u32);

impl BarMapper for Buffer {
    fn map(&mut self, bar: Bar, offset: u64, length: usize) -> Option<NonNull<u8>> {
        assert_eq!((bar.index, offset, length), (4, 0x10, 16));
        self.1 += 1;
        NonNull::new(self.0.as_mut_ptr().wrapping_add(16))
    }

    fn unmap(&mut self, _bar: Bar, _address: NonNull<u8>, length: usize) {
        assert_eq!(length, 16);
    }
}

#[test]
fn device_memory_maps_inside_a_bar_through_the_mapper_or_the_model_s_own_backing() {
    let (sim, device) = started(OsProfile::Win10_1511, Mode::Idle, 1);
    assert_eq!(sim.start_device(&device), STATUS_SUCCESS);
    let at = |address: u64| LARGE_INTEGER {
        QuadPart: address.cast_signed(),
    };
    // SAFETY: inside BAR 1.
    let mapped = unsafe { MmMapIoSpace(at(MEMORY_BAR + 8), 8, MmNonCached) };
    assert!(!mapped.is_null());
    // SAFETY: 8 bytes of the model's backing.
    unsafe { mapped.cast::<u64>().write_unaligned(0x1234) };
    // SAFETY: as mapped.
    unsafe { MmUnmapIoSpace(mapped, 8) };
    // SAFETY: outside every BAR (a breach).
    assert!(unsafe { MmMapIoSpace(at(0x1000), 8, MmNonCached) }.is_null());
    sim.set_bar_mapper(Buffer(Box::new([0; 64]), 0));
    // SAFETY: inside BAR 4.
    let mapped = unsafe { MmMapIoSpace(at(MEMORY_BAR + 0x10_0010), 16, MmNonCached) };
    assert!(!mapped.is_null());
    // SAFETY: the wrong length (a breach), then the right one.
    unsafe { MmUnmapIoSpace(mapped, 8) };
    // SAFETY: as mapped.
    unsafe { MmUnmapIoSpace(mapped, 16) };
    assert_eq!(
        hardware(&sim),
        vec![HardwareRule::MappingOutsideBar, HardwareRule::UnmapUnknown]
    );
    finish(&sim, &device);
}

portcls_sys::kernel_abi! {
    unsafe fn synchronized(context: PVOID) -> u8 {
        // SAFETY: the model's routine.
        let irql = unsafe { KeGetCurrentIrql() };
        // SAFETY: the test's IRQL slot.
        unsafe { context.cast::<KIRQL>().write(irql) };
        1
    }
}

#[test]
fn the_interrupt_spin_lock_raises_to_dirql_masks_the_isr_and_catches_misuse() {
    let (sim, device) = started(OsProfile::Win10_1511, Mode::Full, 1);
    assert_eq!(sim.start_device(&device), STATUS_SUCCESS);
    let interrupt = OBSERVED.with(|o| o.borrow().first_object);
    let dirql = portcls_sim::pci::MESSAGE_IRQL;
    // SAFETY: the connection's first interrupt object.
    let old = unsafe { KeAcquireInterruptSpinLock(interrupt) };
    assert_eq!((old, portcls_sim::current_irql()), (0, dirql));
    assert_eq!(
        sim.raise_interrupt(&device, Interrupt::Message(0)),
        None,
        "masked"
    );
    // SAFETY: held by this thread (a breach: recursion).
    assert_eq!(unsafe { KeAcquireInterruptSpinLock(interrupt) }, dirql);
    // SAFETY: held.
    unsafe { KeReleaseInterruptSpinLock(interrupt, old) };
    assert_eq!(portcls_sim::current_irql(), 0);
    // SAFETY: no longer held (a breach).
    unsafe { KeReleaseInterruptSpinLock(interrupt, old) };
    let mut seen: KIRQL = 0;
    let ran =
        // SAFETY: a routine and its context.
        unsafe { KeSynchronizeExecution(interrupt, Some(synchronized), (&raw mut seen).cast()) };
    assert_eq!((ran, seen, portcls_sim::current_irql()), (1, dirql, 0));
    // A DPC queued at DISPATCH_LEVEL, then taken off the queue before it ran.
    let shared = Box::<Shared>::default();
    let context: PVOID = (&raw const *shared).cast_mut().cast();
    // SAFETY: DPC storage in the box (and its context).
    unsafe { KeInitializeDpc(shared.dpc.get(), Some(dpc), context) };
    {
        let _irql = portcls_sim::raise_irql(DISPATCH_LEVEL);
        // SAFETY: an initialised DPC.
        let queued = unsafe { KeInsertQueueDpc(shared.dpc.get(), null_mut(), null_mut()) };
        assert_eq!(queued, 1);
    }
    // SAFETY: as above.
    let removed = unsafe { KeRemoveQueueDpc(shared.dpc.get()) };
    // SAFETY: as above: no longer queued.
    let again = unsafe { KeRemoveQueueDpc(shared.dpc.get()) };
    assert_eq!((removed, again, sim.queued_dpcs()), (1, 0, 0));
    assert_eq!(shared.dpc_calls.load(Ordering::SeqCst), 0);
    assert_eq!(
        hardware(&sim),
        vec![
            HardwareRule::InterruptLockRecursion,
            HardwareRule::InterruptLockNotHeld
        ]
    );
    finish(&sim, &device);
}
