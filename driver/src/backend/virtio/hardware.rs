//! The virtio-sound backend's kernel shell: a PCI function from `StartDevice` to removal.
//!
//! [`Hardware::start`] (at `PASSIVE_LEVEL`, inside `StartDevice`):
//! 1. the resources PortCls handed over: the memory BARs (raw and translated) and the interrupt
//!    messages the system granted (or the line);
//! 2. configuration space through the PCI bus interface (`IRP_MN_QUERY_INTERFACE` for
//!    `GUID_BUS_INTERFACE_STANDARD`, sent to the PDO), which is dereferenced at once;
//! 3. each memory BAR matched to its resource by address and mapped (`MmMapIoSpace`,
//!    non-cached);
//! 4. a DMA adapter (`IoGetDmaAdapter`: bus master, scatter/gather, 64-bit) whose common
//!    buffers hold the queues and the messages;
//! 5. the device itself ([`SoundDevice::start`]: handshake, queues, `DRIVER_OK`, the streams'
//!    info), waiting for replies with `KeStallExecutionProcessor`;
//! 6. the interrupt: `IoConnectInterruptEx`, message-based with the line as the fall-back, an
//!    ISR that only queues the DPC (the line ISR first reads, and so clears, the device's ISR
//!    status, and claims only what is the device's), and the DPC that takes what the device
//!    finished.
//!
//! Every failure undoes what was done, in reverse order. [`Hardware::register`] then registers
//! the interrupt with PortCls through the `portcls` crate as a stream resource of the render
//! port, for the life of the connection: the registration goes before the disconnection, on
//! every path ([`Hardware::stop`]).
//!
//! # Streams on the device
//! A WaveRT stream binds itself to one device stream while it is acquired
//! ([`Hardware::bind`]): it is then a [`PeriodSink`]. Everything that touches the device's
//! queues goes through [`Hardware::access`], under the device's spin lock: the stream's first
//! periods, and the DPC, which takes what the device finished ([`DeviceAccess::collect`]) and
//! hands each period to its stream, which reposts the next one through the same
//! [`DeviceAccess`]. The stream's PCM commands ([`Hardware::pcm`]) post under the lock and
//! wait for the reply outside it. Lock order: the device's lock, then a stream's.

use core::ffi::c_void;
use core::ptr::{NonNull, null_mut};

use portcls::{InterruptConnection, OwnedInterruptRegistration, Pdo, StreamResourceManager};
use portcls_sys::dma::{DMA_ADAPTER, IoGetDmaAdapter, PDMA_ADAPTER};
use portcls_sys::hw::{
    BUS_INTERFACE_STANDARD, CM_PARTIAL_RESOURCE_DESCRIPTOR, CM_RESOURCE_INTERRUPT_MESSAGE,
    CmResourceTypeInterrupt, CmResourceTypeMemory, GUID_BUS_INTERFACE_STANDARD,
    IO_CONNECT_INTERRUPT_MESSAGE_BASED_PARAMETERS, IO_CONNECT_INTERRUPT_PARAMETERS,
    IO_CONNECT_INTERRUPT_PARAMETERS_UNION, IO_STATUS_BLOCK, IRP_MN_QUERY_INTERFACE,
    IoBuildSynchronousFsdRequest, IoConnectInterruptEx, IoGetNextIrpStackLocation, IofCallDriver,
    KDPC, KeFlushQueuedDpcs, KeInitializeDpc, KeInsertQueueDpc, MmMapIoSpace, MmUnmapIoSpace,
    PCI_WHICHSPACE_CONFIG, PKDPC, QUERY_INTERFACE_PARAMETERS, irp_io_status,
};
use portcls_sys::km::{
    CONNECT_MESSAGE_BASED, DEVICE_DESCRIPTION, DEVICE_DESCRIPTION_VERSION2, IRP_MJ_PNP,
    LARGE_INTEGER, MmNonCached, PCIBus, PKINTERRUPT,
};
use portcls_sys::ks::{KSEVENT_PINCAPS_JACKINFOCHANGE, KSEVENTSETID_PinCapsChange};
use portcls_sys::wavert::{IPortEvents, IResourceListVtbl, PRESOURCELIST};
use portcls_sys::{
    GUID, NTSTATUS, PDEVICE_OBJECT, PVOID, STATUS_DEVICE_PROTOCOL_ERROR,
    STATUS_INSUFFICIENT_RESOURCES, STATUS_NOT_SUPPORTED, STATUS_SUCCESS, ULONG,
};

use super::bars::MappedBars;
use super::device::{Completion, DeviceError, DmaBlock, DmaMemory, Piece, Report, SoundDevice};
use super::pci::{CONFIG_SPACE_BYTES, Structures, match_bars};
use super::sound::{self, Event, JackInfo, PcmInfo};
use crate::descriptors::{CAPTURE_TOPOLOGY_MICROPHONE_PIN, RENDER_TOPOLOGY_SPEAKER_PIN};
use crate::identity::MAX_ENDPOINTS_PER_FLOW;
use crate::kernel::{self, EventStorage, NOTIFICATION_EVENT};
use crate::pool::{Pool, PoolBox};
use crate::properties::{Jack, PinConfig};
use crate::sync::SpinLock;

portcls_sys::kernel_abi! {
    #[cfg_attr(
        feature = "kernel",
        link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")
    )]
    unsafe extern {
        /// `KeStallExecutionProcessor` (every build). Any IRQL.
        fn KeStallExecutionProcessor(MicroSeconds: ULONG);
    }
}

/// The GUID passed by address in the query.
static BUS_INTERFACE: GUID = GUID_BUS_INTERFACE_STANDARD;

/// `STATUS_PENDING`: the IRP completes later.
const STATUS_PENDING: NTSTATUS = 0x0000_0103;

/// Stalls of one microsecond the driver waits for a control reply or a reset (100 ms).
const REPLY_STALLS: u32 = 100_000;

/// The memory BARs the system assigned: raw start, translated start, length.
#[derive(Clone, Copy, Debug, Default)]
struct MemoryResource {
    raw: u64,
    translated: u64,
    length: u32,
}

/// What `StartDevice`'s resources hold for the virtio backend.
#[derive(Clone, Copy, Debug, Default)]
pub struct Resources {
    memory: [MemoryResource; 6],
    memory_count: usize,
    /// Interrupt messages granted (0: a line interrupt, or none).
    messages: u16,
}

impl Resources {
    /// Reads the list PortCls passed to `StartDevice`. A null list (a root-enumerated device)
    /// reads as no resources.
    ///
    /// # Safety
    /// `list` is null or the live `IResourceList` of this `StartDevice`.
    #[must_use]
    pub unsafe fn read(list: PRESOURCELIST) -> Self {
        let mut resources = Self::default();
        if list.is_null() {
            return resources;
        }
        // SAFETY: a live COM object (caller contract).
        let vtable = unsafe { (*list).lpVtbl };
        // SAFETY: its vtable.
        let vtable: IResourceListVtbl = unsafe { *vtable };
        // SAFETY: the list's own method.
        let memory = unsafe { (vtable.NumberOfEntriesOfType)(list, CmResourceTypeMemory) };
        for index in 0..memory.min(6) {
            let translated =
                // SAFETY: as above; an index below the count.
                unsafe { (vtable.FindTranslatedEntry)(list, CmResourceTypeMemory, index) };
            // SAFETY: as above.
            let raw = unsafe { (vtable.FindUntranslatedEntry)(list, CmResourceTypeMemory, index) };
            let (Some(translated), Some(raw)) =
                // SAFETY: descriptors of the live list, or null.
                (unsafe { translated.as_ref() }, unsafe { raw.as_ref() })
            else {
                continue;
            };
            if let Some(slot) = resources.memory.get_mut(resources.memory_count) {
                *slot = MemoryResource {
                    raw: memory_start(raw),
                    translated: memory_start(translated),
                    length: memory_length(translated),
                };
                resources.memory_count += 1;
            }
        }
        // SAFETY: as above.
        let interrupts = unsafe { (vtable.NumberOfEntriesOfType)(list, CmResourceTypeInterrupt) };
        for index in 0..interrupts {
            let entry =
                // SAFETY: as above.
                unsafe { (vtable.FindTranslatedEntry)(list, CmResourceTypeInterrupt, index) };
            // SAFETY: a descriptor of the live list, or null.
            let Some(entry) = (unsafe { entry.as_ref() }) else {
                continue;
            };
            if entry.Flags & CM_RESOURCE_INTERRUPT_MESSAGE != 0 {
                resources.messages = resources.messages.saturating_add(1);
            }
        }
        resources
    }

    /// Whether the device has memory BARs: a PCI function, not the root-enumerated device.
    #[must_use]
    pub const fn has_memory(&self) -> bool {
        self.memory_count > 0
    }

    fn raw_starts(&self) -> [u64; 6] {
        let mut starts = [u64::MAX; 6];
        for (slot, resource) in starts
            .iter_mut()
            .zip(self.memory.iter().take(self.memory_count))
        {
            *slot = resource.raw;
        }
        starts
    }
}

fn memory_start(descriptor: &CM_PARTIAL_RESOURCE_DESCRIPTOR) -> u64 {
    // SAFETY: a memory descriptor's union member; every bit pattern is an i64.
    let start: LARGE_INTEGER = unsafe { descriptor.u.Memory }.Start;
    // SAFETY: as above.
    unsafe { start.QuadPart }.cast_unsigned()
}

fn memory_length(descriptor: &CM_PARTIAL_RESOURCE_DESCRIPTOR) -> u32 {
    // SAFETY: a memory descriptor's union member.
    unsafe { descriptor.u.Memory }.Length
}

/// Reads the function's configuration space through the PCI bus interface.
///
/// # Safety
/// `pdo` is the device's PDO; `PASSIVE_LEVEL`.
unsafe fn read_config_space(pdo: PDEVICE_OBJECT) -> Result<[u8; CONFIG_SPACE_BYTES], NTSTATUS> {
    let mut event = EventStorage::zeroed();
    let event = (&raw mut event).cast();
    // SAFETY: storage for an event, which lives until this function returns.
    unsafe { kernel::KeInitializeEvent(event, NOTIFICATION_EVENT, 0) };
    let mut status_block = IO_STATUS_BLOCK::default();
    // SAFETY: a PnP IRP for the PDO, completing into our event and status block.
    let irp = unsafe {
        IoBuildSynchronousFsdRequest(
            IRP_MJ_PNP.into(),
            pdo,
            null_mut(),
            0,
            null_mut(),
            event,
            &raw mut status_block,
        )
    };
    if irp.is_null() {
        return Err(STATUS_INSUFFICIENT_RESOURCES);
    }
    // A PnP IRP starts as "not supported" (what Driver Verifier checks).
    // SAFETY: the live IRP's status block.
    unsafe { (*irp_io_status(irp)).Status = STATUS_NOT_SUPPORTED };
    let mut bus = BUS_INTERFACE_STANDARD::empty();
    // SAFETY: the IRP has a stack location below its current one, ours to fill in.
    let location = unsafe { IoGetNextIrpStackLocation(irp) };
    // SAFETY: that location, valid while the IRP is ours.
    let location = unsafe { &mut *location };
    location.MinorFunction = IRP_MN_QUERY_INTERFACE;
    let query = QUERY_INTERFACE_PARAMETERS {
        InterfaceType: &raw const BUS_INTERFACE,
        Size: u16::try_from(size_of::<BUS_INTERFACE_STANDARD>()).unwrap_or(0),
        Version: 1,
        Interface: (&raw mut bus).cast(),
        InterfaceSpecificData: null_mut(),
    };
    let parameters = location
        .Parameters
        .as_mut_ptr()
        .cast::<QUERY_INTERFACE_PARAMETERS>();
    // SAFETY: the parameters union holds a QUERY_INTERFACE_PARAMETERS (32 bytes of u64s:
    // aligned for its pointers).
    unsafe { parameters.write(query) };
    // SAFETY: our IRP to the PDO.
    let mut status = unsafe { IofCallDriver(pdo, irp) };
    if status == STATUS_PENDING {
        // SAFETY: the event the IRP completes; a wait at PASSIVE_LEVEL with no time-out.
        unsafe {
            kernel::KeWaitForSingleObject(
                event.cast(),
                kernel::EXECUTIVE,
                kernel::KERNEL_MODE,
                0,
                null_mut(),
            )
        };
        status = status_block.Status;
    }
    if status != STATUS_SUCCESS {
        return Err(status);
    }
    let mut space = [0_u8; CONFIG_SPACE_BYTES];
    let read = bus.GetBusData.map_or(0, |get| {
        let length = u32::try_from(CONFIG_SPACE_BYTES).unwrap_or(0);
        // SAFETY: the interface's own routine with its context, into our buffer.
        unsafe {
            get(
                bus.Context,
                PCI_WHICHSPACE_CONFIG,
                space.as_mut_ptr().cast(),
                0,
                length,
            )
        }
    });
    if let Some(dereference) = bus.InterfaceDereference {
        // SAFETY: the one reference the query handed us.
        unsafe { dereference(bus.Context) };
    }
    if usize::try_from(read).unwrap_or(0) < CONFIG_SPACE_BYTES {
        return Err(STATUS_DEVICE_PROTOCOL_ERROR);
    }
    Ok(space)
}

/// The common buffers of one DMA adapter.
struct AdapterMemory {
    adapter: PDMA_ADAPTER,
    live: [Option<DmaBlock>; 6],
}

impl AdapterMemory {
    /// # Safety
    /// `pdo` is the device's PDO; `PASSIVE_LEVEL`.
    unsafe fn get(pdo: PDEVICE_OBJECT) -> Result<Self, NTSTATUS> {
        // SAFETY: plain data, all zero: every field's "none".
        let mut description: DEVICE_DESCRIPTION = unsafe { core::mem::zeroed() };
        description.Version = DEVICE_DESCRIPTION_VERSION2;
        description.Master = 1;
        description.ScatterGather = 1;
        description.Dma64BitAddresses = 1;
        description.InterfaceType = PCIBus;
        description.MaximumLength = 1 << 20;
        let mut map_registers: ULONG = 0;
        // SAFETY: the device's PDO and a filled description.
        let adapter = unsafe { IoGetDmaAdapter(pdo, &raw mut description, &raw mut map_registers) };
        if adapter.is_null() {
            return Err(STATUS_INSUFFICIENT_RESOURCES);
        }
        Ok(Self {
            adapter,
            live: [None; 6],
        })
    }

    fn operations(&self) -> Option<portcls_sys::dma::DMA_OPERATIONS> {
        // SAFETY: the adapter the system returned, alive until `put`; its operations table.
        let adapter: &DMA_ADAPTER = unsafe { &*self.adapter };
        // SAFETY: as above.
        unsafe { adapter.DmaOperations.as_ref() }.copied()
    }

    /// Frees what is still allocated and gives the adapter back.
    fn put(mut self) {
        let blocks = self.live;
        for block in blocks.into_iter().flatten() {
            self.free(block);
        }
        if let Some(operations) = self.operations() {
            // SAFETY: the adapter, once, with nothing allocated on it.
            unsafe { (operations.PutDmaAdapter)(self.adapter) };
        }
    }
}

impl DmaMemory for AdapterMemory {
    fn allocate(&mut self, bytes: usize) -> Option<DmaBlock> {
        let slot = self.live.iter().position(Option::is_none)?;
        let operations = self.operations()?;
        let length = u32::try_from(bytes).ok()?;
        let mut logical = LARGE_INTEGER { QuadPart: 0 };
        let host =
            // SAFETY: the adapter's routine at PASSIVE_LEVEL; cached (the device is coherent).
            unsafe { (operations.AllocateCommonBuffer)(self.adapter, length, &raw mut logical, 1) };
        let host = NonNull::new(host.cast::<u8>())?;
        // SAFETY: every bit pattern is an i64.
        let device = unsafe { logical.QuadPart }.cast_unsigned();
        let block = DmaBlock {
            host,
            device,
            bytes,
        };
        if let Some(entry) = self.live.get_mut(slot) {
            *entry = Some(block);
        }
        Some(block)
    }

    fn free(&mut self, block: DmaBlock) {
        let Some(slot) = self.live.iter().position(|live| *live == Some(block)) else {
            return;
        };
        if let Some(entry) = self.live.get_mut(slot) {
            *entry = None;
        }
        let Some(operations) = self.operations() else {
            return;
        };
        let logical = LARGE_INTEGER {
            QuadPart: block.device.cast_signed(),
        };
        let length = u32::try_from(block.bytes).unwrap_or(0);
        let host = block.host.as_ptr().cast();
        let free = operations.FreeCommonBuffer;
        // SAFETY: a buffer this adapter allocated, with the arguments it was allocated with.
        unsafe { free(self.adapter, length, logical, host, 1) };
    }
}

/// The mapped BARs, waiting with a stall.
type Bars = MappedBars<fn()>;

/// A stall of one microsecond (how the driver waits for the device).
fn stall() {
    // SAFETY: any IRQL.
    unsafe { KeStallExecutionProcessor(1) };
}

/// The streams bound to device streams, by device stream id.
type Sinks = [Option<NonNull<dyn PeriodSink>>; sound::MAX_STREAMS as usize];

/// The most periods one pass of [`DeviceAccess::collect`] hands on: every period the driver
/// keeps on the device (at most [`MAX_IN_FLIGHT`](super::device::MAX_IN_FLIGHT) for each
/// stream it takes). A device cannot complete more: the rings refuse a period never posted.
const BATCH: usize = (super::device::MAX_IN_FLIGHT * sound::MAX_STREAMS) as usize;

/// A WaveRT stream bound to a device stream: what the device's completions reach.
pub trait PeriodSink {
    /// A period of the stream came back. At `DISPATCH_LEVEL` or below, with the device's lock
    /// held: `device` posts the next periods; the sink must not call [`Hardware::access`].
    fn completed(&self, completion: Completion, device: &mut DeviceAccess<'_>);
    /// The device broke its protocol or went away: nothing more comes back for the stream.
    fn failed(&self, status: NTSTATUS);
}

/// What the DPC and the stop share.
struct Device {
    bars: MappedBars<fn()>,
    /// In pool of its own: the device is a few KiB.
    sound: Option<PoolBox<SoundDevice>>,
    /// Periods and events the DPC took.
    reports: u64,
    /// A device the DPC found broken.
    failed: bool,
    /// The streams bound to the device's streams.
    sinks: Sinks,
    /// The topology ports whose external pin's jack the device's jacks describe, by flow and
    /// endpoint: told when a jack changes.
    jack_ports: JackPorts,
}

/// The device, locked: what a bound stream and the DPC do with it.
pub struct DeviceAccess<'a> {
    sound: &'a mut SoundDevice,
    bars: &'a mut Bars,
    sinks: &'a mut Sinks,
}

impl core::fmt::Debug for DeviceAccess<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeviceAccess").finish_non_exhaustive()
    }
}

impl DeviceAccess<'_> {
    /// What the device said about stream `id` at start.
    #[must_use]
    pub fn info(&self, id: u32) -> Option<PcmInfo> {
        self.sound.stream_info(id)
    }

    /// Puts one period of stream `id` on the device.
    ///
    /// # Errors
    /// As [`SoundDevice::post_period`], as its status.
    pub fn post(&mut self, id: u32, pieces: &[Piece], token: u32) -> Result<(), NTSTATUS> {
        self.sound
            .post_period(self.bars, id, pieces, token)
            .map_err(|error| error.status())
    }

    /// Takes everything the device finished and hands each period to its stream's sink (a
    /// period of a stream no longer bound is dropped). Returns how many periods and events
    /// it took, and which jacks the events changed.
    ///
    /// # Errors
    /// The device broke a queue (or completed more periods than its queues can hold): the
    /// status every sink is then told through [`PeriodSink::failed`] by the caller.
    pub fn collect(&mut self) -> Result<Collected, NTSTATUS> {
        let mut batch = [None::<Completion>; BATCH];
        let mut count = 0_usize;
        let mut events = 0_u64;
        let mut jacks = 0_u32;
        let mut overflow = false;
        self.sound
            .completions(self.bars, |report| match report {
                Report::Period(completion) => match batch.get_mut(count) {
                    Some(slot) => {
                        *slot = Some(completion);
                        count += 1;
                    }
                    None => overflow = true,
                },
                Report::Event(event) => {
                    events += 1;
                    if let Event::JackConnected(id) | Event::JackDisconnected(id) = event {
                        jacks |= 1_u32.checked_shl(id).unwrap_or(0);
                    }
                }
            })
            .map_err(|error: DeviceError| error.status())?;
        if overflow {
            return Err(STATUS_DEVICE_PROTOCOL_ERROR);
        }
        for completion in batch.into_iter().flatten() {
            let sink = usize::try_from(completion.stream)
                .ok()
                .and_then(|index| self.sinks.get(index).copied().flatten());
            if let Some(sink) = sink {
                // SAFETY: a bound sink is alive: it unbinds (under this lock) before it goes.
                unsafe { sink.as_ref() }.completed(completion, self);
            }
        }
        Ok(Collected {
            taken: events + u64::try_from(count).unwrap_or(u64::MAX),
            jacks,
        })
    }
}

/// Tells every bound stream the device failed with `status`. Under the device's lock.
fn fail_all(sinks: &Sinks, status: NTSTATUS) {
    for sink in sinks.iter().flatten() {
        // SAFETY: a bound sink is alive: it unbinds (under the lock) before it goes.
        unsafe { sink.as_ref() }.failed(status);
    }
}

/// What one pass of [`DeviceAccess::collect`] took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Collected {
    /// Periods and events.
    pub taken: u64,
    /// Bit `id` for each jack (below 32) an event said was plugged in or pulled out.
    pub jacks: u32,
}

/// The `index`-th stream of a direction (input for `capture`), with what the device said
/// about it.
fn nth_stream(sound: &SoundDevice, capture: bool, index: usize) -> Option<(u32, PcmInfo)> {
    sound
        .streams()
        .filter(|(_, info)| info.direction == sound::direction(capture))
        .nth(index)
}

/// The jack of endpoint `index` of a direction (input for `capture`): see
/// [`sound::endpoint_jack`].
fn chosen_jack(sound: &SoundDevice, capture: bool, index: usize) -> Option<(u32, JackInfo)> {
    sound::endpoint_jack(sound.streams(), sound.jacks(), capture, index)
}

/// Bit `id` for each jack (below 32) the device last said was connected.
fn connected_jacks(sound: &SoundDevice) -> u32 {
    sound
        .jacks()
        .filter(|(_, jack)| jack.connected)
        .fold(0, |bits, (id, _)| bits | 1_u32.checked_shl(id).unwrap_or(0))
}

/// The topology ports of the endpoints, by flow (render, capture) and index.
type JackPorts = [[Option<portcls::ComPtr<IPortEvents>>; MAX_ENDPOINTS_PER_FLOW]; 2];

/// Tells the topology port of each endpoint whose jack changed (`changed`: bit per jack id):
/// `KSEVENT_PINCAPS_JACKINFOCHANGE` on its external pin. At `DISPATCH_LEVEL` or below.
fn announce_jacks(sound: &SoundDevice, ports: &JackPorts, changed: u32) {
    for (capture, ports) in [false, true].into_iter().zip(ports) {
        for (index, port) in ports.iter().enumerate() {
            let Some(port) = port else {
                continue;
            };
            let Some((id, _)) = chosen_jack(sound, capture, index) else {
                continue;
            };
            if changed & 1_u32.checked_shl(id).unwrap_or(0) == 0 {
                continue;
            }
            let pin = if capture {
                CAPTURE_TOPOLOGY_MICROPHONE_PIN
            } else {
                RENDER_TOPOLOGY_SPEAKER_PIN
            };
            let mut set = KSEVENTSETID_PinCapsChange;
            // SAFETY: a live port (the reference is ours); the set is read during the call; any
            // IRQL up to DISPATCH_LEVEL.
            unsafe {
                (port.vtable().GenerateEventList)(
                    port.as_raw(),
                    &raw mut set,
                    KSEVENT_PINCAPS_JACKINFOCHANGE,
                    1,
                    pin,
                    0,
                    u32::MAX,
                );
            }
        }
    }
}

/// A wait of at most [`REPLY_STALLS`] microseconds, a stall at a time.
fn stalls() -> impl FnMut() -> bool {
    let mut stalls = 0_u32;
    move || {
        stall();
        stalls += 1;
        stalls < REPLY_STALLS
    }
}

/// One virtio-sound function, started. Lives in pool: its address is the ISR's and the
/// DPC's context.
pub struct Hardware {
    device: SpinLock<Device>,
    dma: Option<AdapterMemory>,
    dpc: KDPC,
    /// Where the ISR status byte is mapped (for the line ISR).
    isr_status: Option<NonNull<u8>>,
    pdo: PDEVICE_OBJECT,
    /// The connection, until it is registered.
    connection: Option<InterruptConnection>,
    registration: Option<OwnedInterruptRegistration>,
    /// The messages granted.
    messages: u16,
    /// The render port the interrupt is registered with (held while the function is started).
    port: Option<portcls::ComPtr<portcls_sys::wavert::IPort>>,
    /// Configuration space and BAR lengths as read at start, for a return to D0.
    space: [u8; CONFIG_SPACE_BYTES],
    lengths: [u64; 6],
    /// Left D0: the device reset, its interrupt disconnected.
    suspended: bool,
    /// The jacks connected when the function left D0 ([`connected_jacks`]), for telling
    /// Windows of what changed meanwhile.
    jacks_before: u32,
}

// SAFETY: the raw pointers name the device's own mappings, adapter and PDO, used under the
// lock or at PASSIVE_LEVEL by the one owner.
unsafe impl Send for Hardware {}
// SAFETY: shared access goes through the spin lock (the DPC) or reads fields fixed at start.
unsafe impl Sync for Hardware {}

impl core::fmt::Debug for Hardware {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Hardware")
            .field("messages", &self.messages)
            .field("registered", &self.registration.is_some())
            .finish_non_exhaustive()
    }
}

/// Queues the hardware's DPC.
///
/// # Safety
/// `context` is a started [`Hardware`] whose DPC is initialised.
unsafe fn queue_dpc(context: PVOID) {
    let hardware = context.cast::<Hardware>();
    // SAFETY: the caller's hardware: its DPC field, which never moves.
    let dpc = unsafe { &raw mut (*hardware).dpc };
    // SAFETY: an initialised DPC; any IRQL.
    unsafe { KeInsertQueueDpc(dpc, null_mut(), null_mut()) };
}

portcls_sys::kernel_abi! {
    /// The message ISR: queues the DPC (the device says nothing more per message).
    unsafe fn message_isr(_interrupt: PKINTERRUPT, context: PVOID, _message: ULONG) -> u8 {
        // SAFETY: the context is the started hardware, alive while the interrupt is connected;
        // its DPC was initialised before the connection.
        unsafe { queue_dpc(context) };
        1
    }

    /// The line ISR: reads (and so clears) the device's ISR status; claims the interrupt only
    /// if the device raised it (the line may be shared).
    unsafe fn line_isr(_interrupt: PKINTERRUPT, context: PVOID) -> u8 {
        let hardware = context.cast::<Hardware>();
        // SAFETY: as in `message_isr`; the field is fixed at start.
        let Some(status) = (unsafe { (*hardware).isr_status }) else {
            return 0;
        };
        // SAFETY: the mapped ISR status byte (inside the register BAR, checked at start).
        let raised = unsafe { status.as_ptr().read_volatile() };
        if raised == 0 {
            return 0;
        }
        // SAFETY: as in `message_isr`.
        unsafe { queue_dpc(context) };
        1
    }

    /// The DPC: takes what the device finished.
    unsafe fn dpc(_dpc: PKDPC, context: PVOID, _first: PVOID, _second: PVOID) {
        // SAFETY: the hardware, alive until its DPCs are flushed at stop.
        let hardware = unsafe { &*context.cast::<Hardware>() };
        let mut device = hardware.device.lock();
        let Device { bars, sound, reports, failed, sinks, jack_ports } = &mut *device;
        if *failed {
            return;
        }
        if let Some(sound) = sound.as_deref_mut() {
            let mut access = DeviceAccess { sound, bars, sinks };
            match access.collect() {
                Ok(collected) => {
                    *reports += collected.taken;
                    if collected.jacks != 0 {
                        announce_jacks(sound, jack_ports, collected.jacks);
                    }
                }
                Err(status) => {
                    *failed = true;
                    fail_all(sinks, status);
                }
            }
        }
    }
}

impl Hardware {
    /// Starts the function: see the [module](self) docs.
    ///
    /// # Errors
    /// The failing step's status; nothing stays mapped, allocated or connected.
    ///
    /// # Safety
    /// `PASSIVE_LEVEL`, inside `StartDevice`; `pdo` is the device's PDO.
    // A frame of its own (see `SoundDevice::start`).
    #[inline(never)]
    pub unsafe fn start(
        pool: Pool,
        pdo: PDEVICE_OBJECT,
        resources: &Resources,
    ) -> Result<PoolBox<Self>, NTSTATUS> {
        // SAFETY: forwarded.
        let space = unsafe { read_config_space(pdo) }?;
        // SAFETY: forwarded.
        let (mut bars, lengths) = unsafe { map_bars(&space, resources) }?;
        let mut hardware = PoolBox::new(
            pool,
            Self {
                device: SpinLock::new(Device {
                    bars: MappedBars::new(stall),
                    sound: None,
                    reports: 0,
                    failed: false,
                    sinks: [None; sound::MAX_STREAMS as usize],
                    jack_ports: JackPorts::default(),
                }),
                dma: None,
                dpc: KDPC::zeroed(),
                isr_status: None,
                pdo,
                connection: None,
                registration: None,
                messages: resources.messages,
                port: None,
                space,
                lengths,
                suspended: false,
                jacks_before: 0,
            },
        )
        .map_err(|_| {
            Self::unmap(&bars);
            STATUS_INSUFFICIENT_RESOURCES
        })?;
        // SAFETY: forwarded.
        let mut dma = match unsafe { AdapterMemory::get(pdo) } {
            Ok(dma) => dma,
            Err(status) => {
                Self::unmap(&bars);
                return Err(status);
            }
        };
        let mut wait = stalls();
        let sound = match start_sound(
            pool,
            &mut bars,
            &mut dma,
            &space,
            &lengths,
            resources.messages,
            &mut wait,
        ) {
            Ok(sound) => sound,
            Err(status) => {
                dma.put();
                Self::unmap(&bars);
                return Err(status);
            }
        };
        hardware.isr_status = sound
            .isr_region()
            .and_then(|region| {
                bars.mapping(region.bar)
                    .filter(|&(_, len)| region.offset < len)
            })
            .and_then(|(base, _)| {
                let offset = usize::try_from(sound.isr_region()?.offset).ok()?;
                // SAFETY: inside the mapping (checked above).
                NonNull::new(unsafe { base.as_ptr().add(offset) })
            });
        hardware.device.get_mut().bars = bars;
        hardware.device.get_mut().sound = Some(sound);
        hardware.dma = Some(dma);
        let context: *mut Self = &raw mut *hardware;
        let storage = &raw mut hardware.dpc;
        // SAFETY: the DPC storage of the hardware, which does not move (pool).
        unsafe { KeInitializeDpc(storage, Some(dpc), context.cast()) };
        // SAFETY: forwarded; the context outlives the connection (stop disconnects first).
        match unsafe { connect(pdo, context.cast()) } {
            Ok(connection) => hardware.connection = Some(connection),
            Err(status) => {
                hardware.stop();
                return Err(status);
            }
        }
        Ok(hardware)
    }

    /// Registers the interrupt with PortCls through `port` (the render wave port) for the
    /// device's PDO, for the life of the connection. On a system without the stream-resource
    /// API the registration does nothing and the device works on.
    ///
    /// # Errors
    /// The library's refusal; the interrupt stays connected, unregistered.
    pub fn register(
        &mut self,
        port: &portcls::ComPtr<portcls_sys::wavert::IPort>,
    ) -> Result<(), NTSTATUS> {
        // Kept for a return to D0 (the registration is made again there).
        self.port = Some(port.clone());
        let Some(connection) = self.connection.take() else {
            return Ok(());
        };
        // SAFETY: the device's PDO, fixed at start.
        let Some(pdo) = (unsafe { Pdo::from_raw(self.pdo) }) else {
            self.connection = Some(connection);
            return Err(portcls_sys::STATUS_INVALID_PARAMETER);
        };
        let manager = StreamResourceManager::new(port, pdo);
        match manager.register_owned_interrupt(connection) {
            Ok(registration) => {
                self.registration = Some(registration);
                Ok(())
            }
            Err((error, connection)) => {
                self.connection = Some(connection);
                Err(error.status())
            }
        }
    }

    /// The mechanism the interrupt is registered with, if registered.
    #[must_use]
    pub fn mechanism(&self) -> Option<portcls::Mechanism> {
        self.registration
            .as_ref()
            .map(OwnedInterruptRegistration::mechanism)
    }

    /// Stops the function: unregisters the interrupt, disconnects it, waits for its DPCs,
    /// resets the device (it lets go of the driver's memory), frees the common buffers, gives
    /// the adapter back and unmaps the BARs. At `PASSIVE_LEVEL`.
    pub fn stop(&mut self) {
        // Registration first, then the connection (the owned registration's drop order).
        drop(self.registration.take());
        drop(self.connection.take());
        // SAFETY: PASSIVE_LEVEL; no interrupt can queue the DPC any more.
        unsafe { KeFlushQueuedDpcs() };
        let device = self.device.get_mut();
        // Streams unbind when they halt, before this; none may outlive the device.
        device.sinks = [None; sound::MAX_STREAMS as usize];
        let sound = device.sound.take();
        let mut bars = core::mem::replace(&mut device.bars, MappedBars::new(stall));
        if let (Some(sound), Some(dma)) = (sound, self.dma.as_mut()) {
            let mut sound = sound;
            let _ = sound.shut_down(&mut bars, dma, |_, _| {});
        }
        if let Some(dma) = self.dma.take() {
            dma.put();
        }
        drop(self.port.take());
        // The topology ports are released at PASSIVE_LEVEL, here, not in the DPC.
        let ports = core::mem::take(&mut self.device.get_mut().jack_ports);
        drop(ports);
        Self::unmap(&bars);
    }

    /// Leaving D0: the interrupt unregistered and disconnected, its DPCs flushed, the device
    /// reset and its memory freed (the BARs and the DMA adapter stay). At `PASSIVE_LEVEL`.
    pub fn suspend(&mut self) {
        if self.suspended {
            return;
        }
        drop(self.registration.take());
        drop(self.connection.take());
        // SAFETY: PASSIVE_LEVEL; no interrupt can queue the DPC any more.
        unsafe { KeFlushQueuedDpcs() };
        let device = self.device.get_mut();
        device.sinks = [None; sound::MAX_STREAMS as usize];
        if let (Some(sound), Some(dma)) = (device.sound.as_mut(), self.dma.as_mut()) {
            self.jacks_before = connected_jacks(sound);
            let _ = sound.shut_down(&mut device.bars, dma, |_, _| {});
        }
        self.suspended = true;
    }

    /// Back in D0: the device started again, its interrupt connected and registered with the
    /// port it was registered with. At `PASSIVE_LEVEL`.
    ///
    /// # Errors
    /// The failing step's status; the function stays suspended.
    pub fn resume(&mut self) -> Result<(), NTSTATUS> {
        if !self.suspended {
            return Ok(());
        }
        let device = self.device.get_mut();
        let (Some(sound), Some(dma)) = (device.sound.as_mut(), self.dma.as_mut()) else {
            return Err(STATUS_DEVICE_PROTOCOL_ERROR);
        };
        let mut wait = stalls();
        sound
            .start_in(
                &mut device.bars,
                dma,
                &self.space,
                &self.lengths,
                self.messages,
                &mut wait,
            )
            .map_err(|step| step.status())?;
        device.failed = false;
        // A jack that changed while the function was out of D0 is announced as the DPC
        // announces one that changes in D0.
        let changed = connected_jacks(sound) ^ self.jacks_before;
        if changed != 0 {
            announce_jacks(sound, &device.jack_ports, changed);
        }
        let context: *mut Self = self;
        // SAFETY: forwarded; the context outlives the connection (suspend and stop disconnect
        // first).
        let connection = unsafe { connect(self.pdo, context.cast()) }?;
        self.connection = Some(connection);
        self.suspended = false;
        if let Some(port) = self.port.take() {
            let registered = self.register(&port);
            self.port = Some(port);
            registered?;
        }
        Ok(())
    }

    fn unmap(bars: &MappedBars<fn()>) {
        for index in 0..6 {
            if let Some((base, len)) = bars.mapping(index) {
                // SAFETY: a mapping `start` made, with its length, unmapped once (the bars are
                // dropped or replaced after this).
                unsafe { MmUnmapIoSpace(base.as_ptr().cast(), usize::try_from(len).unwrap_or(0)) };
            }
        }
    }

    /// What the DPC took so far, and whether it found the device broken.
    #[must_use]
    pub fn reports(&self) -> (u64, bool) {
        let device = self.device.lock();
        (device.reports, device.failed)
    }

    /// How many endpoints a direction (input for `capture`) has on this device: one per
    /// stream of that direction, at most [`MAX_ENDPOINTS_PER_FLOW`], and at least one (an
    /// endpoint without a stream streams nothing).
    #[must_use]
    pub fn endpoints(&self, capture: bool) -> usize {
        let device = self.device.lock();
        let streams = device.sound.as_deref().map_or(0, |sound| {
            sound
                .streams()
                .filter(|(_, info)| info.direction == sound::direction(capture))
                .count()
        });
        streams.clamp(1, MAX_ENDPOINTS_PER_FLOW)
    }

    /// The device stream of endpoint `index` of a direction (input for `capture`): the
    /// `index`-th stream of that direction, with what the device said about it.
    #[must_use]
    pub fn stream_of(&self, capture: bool, index: usize) -> Option<(u32, PcmInfo)> {
        let device = self.device.lock();
        nth_stream(device.sound.as_deref()?, capture, index)
    }

    /// What the host pin of endpoint `index` of a direction (input for `capture`) streams on
    /// this device: what of the driver's range the endpoint's stream lists
    /// ([`PcmInfo::data_range`]), if the device's channel maps for that direction (when it
    /// lists any) include the driver's layout, front left then front right. `None`: the
    /// endpoint streams nothing.
    #[must_use]
    pub fn stream_range(&self, capture: bool, index: usize) -> Option<crate::format::DataRange> {
        let (_, info) = self.stream_of(capture, index)?;
        let range = info.data_range()?;
        let device = self.device.lock();
        let sound = device.sound.as_deref()?;
        let mut maps = sound.channel_maps(info.direction).peekable();
        // No maps: the device says nothing of positions; stereo is front left, front right.
        let stereo = maps.peek().is_none() || maps.any(|map| map.is_front_stereo());
        stereo.then_some(range)
    }

    /// The jack of endpoint `index` of a direction (input for `capture`) as KS describes it
    /// (which of the device's jacks: see [`sound::endpoint_jack`]); connected as the device
    /// last said, if its pin detects presence (else always connected). `None`: the device
    /// reports no jack for the endpoint.
    #[must_use]
    pub fn jack(&self, capture: bool, index: usize) -> Option<Jack> {
        let device = self.device.lock();
        let (_, jack) = chosen_jack(device.sound.as_deref()?, capture, index)?;
        let config = PinConfig(jack.config);
        let detects = jack.detects_presence() && !config.ignores_presence();
        Some(Jack::from_pin_config(
            config,
            capture,
            detects.then_some(jack.connected),
        ))
    }

    /// From now on, a change of the jack of endpoint `index` of a direction (input for
    /// `capture`) is announced to `port`, that endpoint's topology port:
    /// `KSEVENT_PINCAPS_JACKINFOCHANGE` on its external pin (the DPC raises it). At
    /// `PASSIVE_LEVEL`, in `StartDevice`.
    ///
    /// # Errors
    /// The port's refusal of `IPortEvents`.
    pub fn watch_jacks(
        &self,
        capture: bool,
        index: usize,
        port: &portcls::ComPtr<portcls_sys::wavert::IPort>,
    ) -> Result<(), NTSTATUS> {
        let events = port
            .query::<IPortEvents>()
            .map_err(|error| error.status())?;
        let mut device = self.device.lock();
        if let Some(slot) = device
            .jack_ports
            .get_mut(usize::from(capture))
            .and_then(|ports| ports.get_mut(index))
        {
            *slot = Some(events);
        }
        Ok(())
    }

    /// Binds `sink` to device stream `id`: from now on its completions reach it. The sink
    /// stays alive until it unbinds ([`Hardware::unbind`]), which it does before it goes.
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` for a stream the device does not have or one already
    /// bound, `STATUS_DEVICE_PROTOCOL_ERROR` for a device found broken.
    pub fn bind(&self, id: u32, sink: NonNull<dyn PeriodSink>) -> Result<(), NTSTATUS> {
        let mut device = self.device.lock();
        if device.failed {
            return Err(STATUS_DEVICE_PROTOCOL_ERROR);
        }
        let known = device
            .sound
            .as_deref()
            .is_some_and(|sound| sound.stream_info(id).is_some());
        let slot = usize::try_from(id)
            .ok()
            .and_then(|index| device.sinks.get_mut(index))
            .filter(|slot| known && slot.is_none())
            .ok_or(portcls_sys::STATUS_INVALID_DEVICE_STATE)?;
        *slot = Some(sink);
        Ok(())
    }

    /// Unbinds whatever is bound to device stream `id`: once this returns, no completion
    /// reaches it.
    pub fn unbind(&self, id: u32) {
        let mut device = self.device.lock();
        if let Some(slot) = usize::try_from(id)
            .ok()
            .and_then(|index| device.sinks.get_mut(index))
        {
            *slot = None;
        }
    }

    /// `PCM_SET_PARAMS`, posted under the device's lock and its reply awaited outside it, at
    /// most 100 ms, a stall at a time: the DPC goes on taking periods meanwhile, and no
    /// processor spins at `DISPATCH_LEVEL` waiting for the device.
    ///
    /// # Errors
    /// The device's refusal (the reply's status); a broken control queue; silence
    /// (`STATUS_IO_DEVICE_ERROR`: the device is then taken for broken, as the DPC takes a
    /// device that breaks a queue, and every bound stream fails); `STATUS_INVALID_PARAMETER`
    /// for a stream the device does not have; or [`Hardware::access`]'s.
    pub fn set_params(&self, params: &sound::Params) -> Result<(), NTSTATUS> {
        let request = self
            .access(|device| device.sound.set_params_request(params))?
            .map_err(|error| error.status())?;
        self.command(&request)
    }

    /// A PCM command (`PREPARE`, `START`, `STOP`, `RELEASE`) of stream `id`, sent and awaited
    /// as [`Hardware::set_params`] does.
    ///
    /// # Errors
    /// As [`Hardware::set_params`].
    pub fn pcm(&self, code: u32, id: u32) -> Result<(), NTSTATUS> {
        let request = self
            .access(|device| device.sound.pcm_request(code, id))?
            .map_err(|error| error.status())?;
        self.command(&request)
    }

    /// Sends a control request and waits for its status (see [`Hardware::set_params`]), with
    /// the device's lock released between looks. One request at a time: the callers are the
    /// streams' state changes, which the adapter's gate serializes.
    ///
    /// # Errors
    /// As [`Hardware::set_params`].
    fn command(&self, request: &[u8]) -> Result<(), NTSTATUS> {
        self.access(|device| device.sound.send(device.bars, request, 4))?
            .map_err(|error| error.status())?;
        for _ in 0..REPLY_STALLS {
            let reply = self
                .access(|device| device.sound.reply())?
                .map_err(|error| error.status())?;
            if let Some(written) = reply {
                return self
                    .access(|device| device.sound.command_status(written))?
                    .map_err(|error| error.status());
            }
            stall();
        }
        // A device that does not answer is broken: a late reply would be taken for the next
        // request's. Every bound stream fails; a return to D0 starts the device anew.
        let status = DeviceError::Timeout.status();
        let mut device = self.device.lock();
        device.failed = true;
        fail_all(&device.sinks, status);
        Err(status)
    }

    /// Runs `work` with the device, under its lock.
    ///
    /// # Errors
    /// `STATUS_DEVICE_PROTOCOL_ERROR` for a device found broken, `STATUS_DEVICE_REMOVED` for
    /// one no longer there.
    pub fn access<R>(&self, work: impl FnOnce(&mut DeviceAccess<'_>) -> R) -> Result<R, NTSTATUS> {
        let mut device = self.device.lock();
        let Device {
            bars,
            sound,
            failed,
            sinks,
            ..
        } = &mut *device;
        if *failed {
            return Err(STATUS_DEVICE_PROTOCOL_ERROR);
        }
        let sound = sound
            .as_deref_mut()
            .ok_or(portcls_sys::STATUS_DEVICE_REMOVED)?;
        Ok(work(&mut DeviceAccess { sound, bars, sinks }))
    }
}

impl Drop for Hardware {
    fn drop(&mut self) {
        // Idempotent: a function already stopped has nothing left.
        self.stop();
    }
}

/// A device not started ([`SoundDevice::placeholder`]), what [`start_sound`] copies into pool.
struct Template(SoundDevice);

// SAFETY: the placeholder is only ever read (copied); its pointers point nowhere.
unsafe impl Sync for Template {}

static PLACEHOLDER: Template = Template(SoundDevice::placeholder());

/// Starts the device layer in pool, in place.
#[inline(never)]
fn start_sound(
    pool: Pool,
    bars: &mut Bars,
    dma: &mut AdapterMemory,
    space: &[u8; CONFIG_SPACE_BYTES],
    lengths: &[u64; 6],
    messages: u16,
    wait: &mut dyn FnMut() -> bool,
) -> Result<PoolBox<SoundDevice>, NTSTATUS> {
    // SAFETY: a placeholder owns nothing (no memory: its blocks and queues are empty).
    let sound = unsafe { PoolBox::copy_of(pool, &PLACEHOLDER.0) };
    let mut sound = sound.ok_or(STATUS_INSUFFICIENT_RESOURCES)?;
    sound
        .start_in(bars, dma, space, lengths, messages, wait)
        .map_err(|step| step.status())?;
    Ok(sound)
}

/// Maps the memory BARs that hold the virtio structures (not the MSI-X table's, which is the
/// system's), each matched to its resource by address; returns them with their lengths.
///
/// # Safety
/// `PASSIVE_LEVEL`; `resources` are this device's.
unsafe fn map_bars(
    space: &[u8; CONFIG_SPACE_BYTES],
    resources: &Resources,
) -> Result<(Bars, [u64; 6]), NTSTATUS> {
    let structures = Structures::parse(space, sound::PCI_DEVICE_ID).map_err(|e| e.status())?;
    let used = [
        structures.common,
        structures.notify,
        structures.isr,
        structures.device,
    ];
    let mut matched = match_bars(space, &resources.raw_starts());
    for (index, slot) in (0_u8..).zip(matched.iter_mut()) {
        if !used.iter().any(|region| region.bar == index) {
            *slot = None;
        }
    }
    let mut bars: MappedBars<fn()> = MappedBars::new(stall);
    let mut lengths = [0_u64; 6];
    for (index, resource) in (0_u8..).zip(matched) {
        let Some(resource) = resource.and_then(|i| resources.memory.get(i)) else {
            continue;
        };
        let address = LARGE_INTEGER {
            QuadPart: resource.translated.cast_signed(),
        };
        let length = usize::try_from(resource.length).unwrap_or(0);
        // SAFETY: a memory range the system assigned the device, at PASSIVE_LEVEL.
        let base = unsafe { MmMapIoSpace(address, length, MmNonCached) };
        let Some(base) = NonNull::new(base.cast::<u8>()) else {
            Hardware::unmap(&bars);
            return Err(STATUS_INSUFFICIENT_RESOURCES);
        };
        // SAFETY: the mapping just made, of `length` bytes, unmapped only by `unmap`.
        unsafe { bars.map(index, base, resource.length) };
        if let Some(slot) = lengths.get_mut(usize::from(index)) {
            *slot = u64::from(resource.length);
        }
    }
    Ok((bars, lengths))
}

/// Connects the device's interrupt: message-based, or the line if the system granted no
/// messages.
///
/// # Safety
/// `PASSIVE_LEVEL`; `pdo` is the device's PDO; `context` is the started hardware, alive until
/// the connection is disconnected.
unsafe fn connect(
    pdo: PDEVICE_OBJECT,
    context: *mut c_void,
) -> Result<InterruptConnection, NTSTATUS> {
    let mut connection: PVOID = null_mut();
    let mut parameters = IO_CONNECT_INTERRUPT_PARAMETERS {
        Version: CONNECT_MESSAGE_BASED,
        u: IO_CONNECT_INTERRUPT_PARAMETERS_UNION {
            MessageBased: IO_CONNECT_INTERRUPT_MESSAGE_BASED_PARAMETERS {
                PhysicalDeviceObject: pdo,
                ConnectionContext: &raw mut connection,
                MessageServiceRoutine: Some(message_isr),
                ServiceContext: context,
                SpinLock: null_mut(),
                SynchronizeIrql: 0,
                FloatingSave: 0,
                FallBackServiceRoutine: Some(line_isr),
            },
        },
    };
    // SAFETY: well-formed parameters at PASSIVE_LEVEL.
    let status = unsafe { IoConnectInterruptEx(&raw mut parameters) };
    if status != STATUS_SUCCESS {
        return Err(status);
    }
    // SAFETY: the connection just made, handed over to the value (its one disconnect); the
    // version is what the system wrote back (line-based after a fall-back).
    unsafe { InterruptConnection::from_raw(parameters.Version, connection) }
        .ok_or(STATUS_NOT_SUPPORTED)
}
