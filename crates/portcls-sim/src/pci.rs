//! A PCI device on the simulated bus, as the PnP manager and the PCI bus driver present it to
//! an adapter: the resources assigned to it (the `IResourceList` `StartDevice` receives), its
//! configuration space through the bus interface (`IRP_MN_QUERY_INTERFACE` for
//! `GUID_BUS_INTERFACE_STANDARD`, sent to its PDO with `IoBuildSynchronousFsdRequest` and
//! `IoCallDriver`), and its memory BARs through `MmMapIoSpace`.
//!
//! A test describes the device ([`PciDevice`]: a [`ConfigSpace`], its [`Bar`]s, its
//! [`PciInterrupts`]) and plugs it in with [`Sim::plug_in_pci`]. Interrupts are connected and
//! delivered by the [`interrupt`](crate::interrupt) module.
//!
//! # Resources
//! Each BAR becomes a `CmResourceTypeMemory` (or, for an I/O BAR, `CmResourceTypePort`)
//! descriptor, translated equal to raw (as on x64 and arm64 for memory). Interrupts follow the
//! BARs: for MSI-X with `N` messages, `N` descriptors flagged `CM_RESOURCE_INTERRUPT_MESSAGE`
//! (raw: one message each, vector `CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN`; translated: the
//! message's DIRQL and vector); for a line interrupt, one level-sensitive, shared descriptor.
//! A root-enumerated device ([`Sim::plug_in`]) still gets no list at all (a null
//! `IResourceList`), as before.
//!
//! # Device memory
//! `MmMapIoSpace` maps a range inside one of a device's memory BARs. What backs it is the
//! [`BarMapper`] a test installs with [`Sim::set_bar_mapper`] (the MMIO trap plugs in there);
//! without one, the model backs each BAR with zeroed host memory of its length.
//!
//! # Rules
//! Reported as [`Violation::Hardware`] with a [`HardwareRule`]: a query-interface IRP whose
//! status was not preset to `STATUS_NOT_SUPPORTED` (Driver Verifier's check), an IRP sent that
//! the model did not build or that already completed, a bus interface used after its last
//! dereference or dereferenced once too often, a mapping outside every BAR, an unmap of
//! something not mapped (or with another length), and, at stop or removal, the bus interface
//! still referenced or a BAR still mapped.

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::fmt;
use std::ptr::{NonNull, null_mut};

use portcls_sys::hw::{
    BUS_INTERFACE_STANDARD, CM_FULL_RESOURCE_DESCRIPTOR, CM_INTERRUPT, CM_MESSAGE_INTERRUPT,
    CM_MESSAGE_INTERRUPT_RAW, CM_PARTIAL_RESOURCE_DESCRIPTOR, CM_PARTIAL_RESOURCE_DESCRIPTOR_U,
    CM_PARTIAL_RESOURCE_LIST, CM_RANGE, CM_RESOURCE_INTERRUPT_LATCHED,
    CM_RESOURCE_INTERRUPT_LEVEL_SENSITIVE, CM_RESOURCE_INTERRUPT_MESSAGE,
    CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN, CM_RESOURCE_LIST, CM_RESOURCE_MEMORY_READ_WRITE,
    CM_RESOURCE_PORT_IO, CM_RESOURCE_TYPE, CmResourceShareDeviceExclusive, CmResourceShareShared,
    CmResourceTypeInterrupt, CmResourceTypeMemory, CmResourceTypePort, GUID_BUS_INTERFACE_STANDARD,
    IO_STACK_LOCATION, IO_STATUS_BLOCK, IRP_CURRENT_LOCATION_OFFSET, IRP_IO_STATUS_OFFSET,
    IRP_MN_QUERY_INTERFACE, IRP_STACK_COUNT_OFFSET, IRP_USER_EVENT_OFFSET, IRP_USER_IOSB_OFFSET,
    PCI_WHICHSPACE_CONFIG, PCM_PARTIAL_RESOURCE_DESCRIPTOR, PCM_RESOURCE_LIST,
    QUERY_INTERFACE_PARAMETERS,
};
use portcls_sys::km::{
    IO_STACK_LOCATION_SIZE, IRP_CURRENT_STACK_LOCATION_OFFSET, IRP_MJ_PNP, IRP_SIZE, LARGE_INTEGER,
    MEMORY_CACHING_TYPE, PCIBus, PHYSICAL_ADDRESS, PIRP, PKEVENT,
};
use portcls_sys::wavert::{IResourceList, IResourceListVtbl, PRESOURCELIST};
use portcls_sys::{
    GUID, IUnknownVtbl, NTSTATUS, PDEVICE_OBJECT, PVOID, STATUS_INSUFFICIENT_RESOURCES,
    STATUS_INVALID_PARAMETER, STATUS_NOINTERFACE, STATUS_NOT_SUPPORTED, STATUS_SUCCESS, ULONG,
};

use crate::adapter::RawBlock;
use crate::world::{State, World};
use crate::{Ddi, Device, Sim, Violation, current_irql, with_world};

/// `STATUS_INVALID_DEVICE_REQUEST`.
const STATUS_INVALID_DEVICE_REQUEST: NTSTATUS = 0xC000_0010_u32.cast_signed();

/// A PCI function's configuration space, as the device (or its model) answers it.
pub trait ConfigSpace: Send {
    /// Reads `buffer.len()` bytes from `offset`; returns how many it read (fewer past the end).
    fn read(&mut self, offset: u32, buffer: &mut [u8]) -> usize;
    /// Writes `data` at `offset`; returns how many bytes it took.
    fn write(&mut self, offset: u32, data: &[u8]) -> usize;
}

/// A plain configuration space: the bytes, read and written as they are.
impl ConfigSpace for Vec<u8> {
    fn read(&mut self, offset: u32, buffer: &mut [u8]) -> usize {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.len());
        let count = buffer.len().min(self.len() - start);
        buffer[..count].copy_from_slice(&self[start..start + count]);
        count
    }

    fn write(&mut self, offset: u32, data: &[u8]) -> usize {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.len());
        let count = data.len().min(self.len() - start);
        self[start..start + count].copy_from_slice(&data[..count]);
        count
    }
}

/// A base address register as the system assigned it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bar {
    /// The BAR's index (0-5).
    pub index: u8,
    /// The physical (bus) address assigned.
    pub address: u64,
    /// Its length in bytes.
    pub length: u64,
    /// Memory (true) or I/O port space.
    pub memory: bool,
}

impl Bar {
    /// A memory BAR.
    #[must_use]
    pub const fn memory(index: u8, address: u64, length: u64) -> Self {
        Self {
            index,
            address,
            length,
            memory: true,
        }
    }

    fn contains(&self, address: u64, length: u64) -> bool {
        self.memory
            && address >= self.address
            && address
                .checked_add(length)
                .is_some_and(|end| end <= self.address.saturating_add(self.length))
    }
}

/// The interrupts the system grants the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PciInterrupts {
    /// None.
    None,
    /// Its line interrupt (`INTx`).
    Line,
    /// MSI-X with this many messages (the INF asked for message interrupts and the system
    /// granted them; the line interrupt is then not assigned).
    MsiX {
        /// Messages granted (at least 1).
        messages: u16,
    },
}

/// A PCI device to plug in.
pub struct PciDevice {
    /// Its configuration space.
    pub config: Box<dyn ConfigSpace>,
    /// Its BARs, in index order.
    pub bars: Vec<Bar>,
    /// Its interrupts.
    pub interrupts: PciInterrupts,
}

impl fmt::Debug for PciDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PciDevice")
            .field("bars", &self.bars)
            .field("interrupts", &self.interrupts)
            .finish_non_exhaustive()
    }
}

/// What backs device memory `MmMapIoSpace` maps (see [`Sim::set_bar_mapper`]).
pub trait BarMapper: Send {
    /// Host memory standing for `length` bytes at `offset` into `bar` (valid until
    /// [`BarMapper::unmap`]); `None` to refuse (the driver sees a null mapping).
    fn map(&mut self, bar: Bar, offset: u64, length: usize) -> Option<NonNull<u8>>;
    /// The driver unmapped what [`BarMapper::map`] returned at `address`.
    fn unmap(&mut self, bar: Bar, address: NonNull<u8>, length: usize);
}

/// The DIRQL of a device's line interrupt in the model.
pub const LINE_IRQL: u8 = 7;
/// The DIRQL of every message interrupt in the model.
pub const MESSAGE_IRQL: u8 = 8;
/// The raw line (IRQ) the model assigns.
const RAW_LINE: u32 = 11;
/// The first translated vector of message interrupts.
const MESSAGE_VECTOR: u32 = 0x80;
/// The translated vector of the line interrupt.
const LINE_VECTOR: u32 = 0x70;

/// A rule of the hardware DDIs, as [`Violation::Hardware`] reports it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HardwareRule {
    /// The device object passed is not the PDO of a plugged-in PCI device.
    NotThePdo,
    /// A required routine was null.
    NullRoutine,
    /// The device's interrupts were connected a second time.
    AlreadyConnected,
    /// Malformed parameters (an unknown version, a null out-pointer).
    BadParameters,
    /// An ISR, DPC or synchronize routine returned at another IRQL than it was called at.
    RoutineChangedIrql,
    /// An interrupt of the device was still connected at stop or removal.
    ConnectedAtRemoval,
    /// A DPC was still queued when the driver unloaded.
    DpcQueuedAtUnload,
    /// A DPC that `KeInitializeDpc` never initialised.
    DpcNotInitialised,
    /// An interrupt spin lock acquired by the thread that holds it.
    InterruptLockRecursion,
    /// An interrupt spin lock released by a thread that does not hold it.
    InterruptLockNotHeld,
    /// A PnP IRP sent without `IoStatus.Status` preset to `STATUS_NOT_SUPPORTED`.
    PnpIrpStatusNotPreset,
    /// An IRP the model did not build, or one already completed, was sent.
    UnknownIrp,
    /// The bus interface was called after its last reference was given back.
    InterfaceUsedAfterDereference,
    /// The bus interface was dereferenced more often than referenced.
    InterfaceOverDereferenced,
    /// The bus interface was still referenced at stop or removal.
    InterfaceReferencedAtRemoval,
    /// `MmMapIoSpace` of a range outside every memory BAR.
    MappingOutsideBar,
    /// `MmUnmapIoSpace` of an address (or length) not mapped.
    UnmapUnknown,
    /// A BAR was still mapped at stop or removal.
    MappedAtRemoval,
}

/// A pointer the model keeps for the driver (its provenance intact), sent between threads as
/// the kernel would hand it to any processor.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DriverPtr(pub(crate) *mut c_void);

// SAFETY: only handed back to the driver's own routines, which the kernel may call on any
// processor; the model never dereferences it without the driver's contract.
unsafe impl Send for DriverPtr {}

/// One device's state.
pub(crate) struct PciState {
    pub(crate) config: Box<dyn ConfigSpace>,
    pub(crate) bars: Vec<Bar>,
    pub(crate) interrupts: PciInterrupts,
    /// The bus interface's context (its address identifies the device).
    context: RawBlock,
    /// References on the bus interface.
    interface_refs: u32,
    /// Whether the interface was ever handed out.
    interface_given: bool,
    /// The model's backing of each memory BAR without a mapper (by index).
    backing: BTreeMap<u8, RawBlock>,
}

/// A resource list object handed to `StartDevice`: a block whose first word is its vtable
/// pointer (kept as raw memory, so the driver's pointer to it stays valid while the model
/// moves its bookkeeping around).
pub(crate) struct ResourceListState {
    _object: RawBlock,
    refs: u32,
    translated: RawBlock,
    untranslated: RawBlock,
    count: u32,
}

// SAFETY: plain memory the model owns; the vtable pointer is a static's.
unsafe impl Send for ResourceListState {}

pub(crate) struct IrpState {
    block: RawBlock,
    iosb: DriverPtr,
    event: usize,
    completed: bool,
}

pub(crate) struct Mapping {
    pdo: usize,
    bar: Bar,
    length: usize,
    mapper: bool,
    address: NonNull<u8>,
}

// SAFETY: an address into memory the mapper or the model keeps; only compared and handed back.
unsafe impl Send for Mapping {}

/// The hardware the machine knows: PCI devices (by PDO address), resource lists, IRPs the
/// driver built, mappings, and (for [`interrupt`](crate::interrupt)) connections and DPCs.
#[derive(Default)]
pub(crate) struct Hardware {
    pub(crate) devices: BTreeMap<usize, PciState>,
    lists: BTreeMap<usize, ResourceListState>,
    irps: BTreeMap<usize, IrpState>,
    mappings: BTreeMap<usize, Mapping>,
    mapper: Option<Box<dyn BarMapper>>,
    pub(crate) irq: crate::interrupt::Interrupts,
    /// What each device does when the machine gives it time (see [`crate::device_work`]).
    pub(crate) work: Vec<(usize, crate::device_work::Work)>,
    /// Interrupts raised while the driver waited, not delivered yet (PDO, interrupt).
    pub(crate) raised: Vec<(usize, crate::virtio_pci::Interrupt)>,
}

impl fmt::Debug for Hardware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hardware")
            .field("devices", &self.devices.len())
            .field("lists", &self.lists.len())
            .finish_non_exhaustive()
    }
}

impl Hardware {
    /// What a clean driver would have given back, in words.
    pub(crate) fn leftovers(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (address, list) in &self.lists {
            if list.refs > 0 {
                out.push(format!(
                    "resource list {address:#x} still has {} reference(s)",
                    list.refs
                ));
            }
        }
        for (pdo, device) in &self.devices {
            if device.interface_refs > 0 {
                out.push(format!(
                    "bus interface of PDO {pdo:#x} still has {} reference(s)",
                    device.interface_refs
                ));
            }
        }
        for (address, irp) in &self.irps {
            if !irp.completed {
                out.push(format!("IRP {address:#x} built and never sent"));
            }
        }
        for (address, mapping) in &self.mappings {
            out.push(format!(
                "BAR {} of PDO {:#x} still mapped at {address:#x} ({} bytes)",
                mapping.bar.index, mapping.pdo, mapping.length
            ));
        }
        out.extend(self.irq.leftovers());
        out
    }
}

impl State {
    pub(crate) fn hardware_rule(&mut self, ddi: Ddi, rule: HardwareRule) {
        self.violate(Violation::Hardware { ddi, rule });
    }
}

// ---- Plugging in, starting, stopping ----

impl Sim {
    /// Plugs in a PCI device: makes its PDO, records what the bus driver and the PnP manager
    /// know of it (configuration space, BARs, interrupts), and calls the driver's `AddDevice`
    /// as [`Sim::plug_in`] does. Its `StartDevice` then receives the device's resources.
    ///
    /// # Errors
    /// As [`Sim::plug_in`].
    pub fn plug_in_pci(&self, device: PciDevice) -> Result<Device, NTSTATUS> {
        let pdo: PDEVICE_OBJECT = crate::token_address(&self.world).cast();
        let state = PciState {
            config: device.config,
            bars: device.bars,
            interrupts: device.interrupts,
            context: RawBlock::new(16),
            interface_refs: 0,
            interface_given: false,
            backing: BTreeMap::new(),
        };
        self.world.lock().hw.devices.insert(pdo.addr(), state);
        self.plug_in_at(pdo)
    }

    /// Installs what backs the memory `MmMapIoSpace` maps from now on (the MMIO trap's hook).
    pub fn set_bar_mapper(&self, mapper: impl BarMapper + 'static) {
        self.world.lock().hw.mapper = Some(Box::new(mapper));
    }

    /// References the driver holds on the bus interface of the device with PDO `pdo`.
    #[must_use]
    pub fn bus_interface_refs(&self, pdo: PDEVICE_OBJECT) -> u32 {
        self.world
            .lock()
            .hw
            .devices
            .get(&pdo.addr())
            .map_or(0, |d| d.interface_refs)
    }
}

/// The resource list for the device with PDO `pdo` (one reference for the caller), or null for
/// a device that is not a PCI device.
pub(crate) fn resource_list_for(world: &World, pdo: usize) -> PRESOURCELIST {
    let mut state = world.lock();
    let Some(device) = state.hw.devices.get(&pdo) else {
        return null_mut();
    };
    let (translated, untranslated) = descriptors(device);
    let count = u32::try_from(translated.len()).unwrap_or(u32::MAX);
    let object = RawBlock::new(8);
    object.write_pointer(0, (&raw const RESOURCE_LIST_VTBL).cast_mut().cast());
    let pointer = object.ptr();
    let list = ResourceListState {
        _object: object,
        refs: 1,
        translated: resource_block(&translated),
        untranslated: resource_block(&untranslated),
        count,
    };
    state.hw.lists.insert(pointer.addr(), list);
    pointer.cast()
}

/// The model's own reference on a resource list is given back once `StartDevice` returned.
pub(crate) fn release_start_reference(world: &World, list: PRESOURCELIST) {
    if let Some(list) = world.lock().hw.lists.get_mut(&list.addr()) {
        list.refs = list.refs.saturating_sub(1);
    }
}

/// At stop and removal: the device's interrupts disconnected, its interface dereferenced, its
/// BARs unmapped.
pub(crate) fn check_released(state: &mut State, pdo: usize, ddi: Ddi) {
    let referenced = state
        .hw
        .devices
        .get(&pdo)
        .is_some_and(|d| d.interface_refs > 0);
    if referenced {
        state.hardware_rule(ddi, HardwareRule::InterfaceReferencedAtRemoval);
    }
    if state.hw.mappings.values().any(|m| m.pdo == pdo) {
        state.hardware_rule(ddi, HardwareRule::MappedAtRemoval);
    }
    if crate::interrupt::connected_for(state, pdo) {
        state.hardware_rule(ddi, HardwareRule::ConnectedAtRemoval);
    }
}

fn descriptor(
    kind: CM_RESOURCE_TYPE,
    share: u8,
    flags: u16,
    u: CM_PARTIAL_RESOURCE_DESCRIPTOR_U,
) -> CM_PARTIAL_RESOURCE_DESCRIPTOR {
    CM_PARTIAL_RESOURCE_DESCRIPTOR {
        Type: kind,
        ShareDisposition: share,
        Flags: flags,
        u,
    }
}

fn physical(address: u64) -> PHYSICAL_ADDRESS {
    LARGE_INTEGER {
        QuadPart: address.cast_signed(),
    }
}

/// The (translated, untranslated) descriptors the PnP manager assigns the device.
fn descriptors(
    device: &PciState,
) -> (
    Vec<CM_PARTIAL_RESOURCE_DESCRIPTOR>,
    Vec<CM_PARTIAL_RESOURCE_DESCRIPTOR>,
) {
    let mut translated = Vec::new();
    let mut raw = Vec::new();
    for bar in &device.bars {
        let range = CM_RANGE {
            Start: physical(bar.address),
            Length: u32::try_from(bar.length).unwrap_or(u32::MAX),
        };
        let entry = if bar.memory {
            descriptor(
                CmResourceTypeMemory,
                CmResourceShareDeviceExclusive,
                CM_RESOURCE_MEMORY_READ_WRITE,
                CM_PARTIAL_RESOURCE_DESCRIPTOR_U { Memory: range },
            )
        } else {
            descriptor(
                CmResourceTypePort,
                CmResourceShareDeviceExclusive,
                CM_RESOURCE_PORT_IO,
                CM_PARTIAL_RESOURCE_DESCRIPTOR_U { Port: range },
            )
        };
        translated.push(entry);
        raw.push(entry);
    }
    match device.interrupts {
        PciInterrupts::None => {}
        PciInterrupts::Line => {
            let interrupt = |level: u32, vector: u32| {
                descriptor(
                    CmResourceTypeInterrupt,
                    CmResourceShareShared,
                    CM_RESOURCE_INTERRUPT_LEVEL_SENSITIVE,
                    CM_PARTIAL_RESOURCE_DESCRIPTOR_U {
                        Interrupt: CM_INTERRUPT {
                            Level: u16::try_from(level).unwrap_or(0),
                            Group: 0,
                            Vector: vector,
                            Affinity: 1,
                        },
                    },
                )
            };
            translated.push(interrupt(u32::from(LINE_IRQL), LINE_VECTOR));
            raw.push(interrupt(RAW_LINE, RAW_LINE));
        }
        PciInterrupts::MsiX { messages } => {
            let flags = CM_RESOURCE_INTERRUPT_LATCHED | CM_RESOURCE_INTERRUPT_MESSAGE;
            for message in 0..u32::from(messages) {
                translated.push(descriptor(
                    CmResourceTypeInterrupt,
                    CmResourceShareDeviceExclusive,
                    flags,
                    CM_PARTIAL_RESOURCE_DESCRIPTOR_U {
                        MessageInterrupt: CM_MESSAGE_INTERRUPT {
                            Translated: CM_INTERRUPT {
                                Level: u16::from(MESSAGE_IRQL),
                                Group: 0,
                                Vector: MESSAGE_VECTOR + message,
                                Affinity: 1,
                            },
                        },
                    },
                ));
                raw.push(descriptor(
                    CmResourceTypeInterrupt,
                    CmResourceShareDeviceExclusive,
                    flags,
                    CM_PARTIAL_RESOURCE_DESCRIPTOR_U {
                        MessageInterrupt: CM_MESSAGE_INTERRUPT {
                            Raw: CM_MESSAGE_INTERRUPT_RAW {
                                Group: 0,
                                MessageCount: 1,
                                Vector: CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN,
                                Affinity: 1,
                            },
                        },
                    },
                ));
            }
        }
    }
    (translated, raw)
}

/// A `CM_RESOURCE_LIST` with one full descriptor holding `entries`.
fn resource_block(entries: &[CM_PARTIAL_RESOURCE_DESCRIPTOR]) -> RawBlock {
    let descriptor_size = std::mem::size_of::<CM_PARTIAL_RESOURCE_DESCRIPTOR>();
    let head = std::mem::offset_of!(CM_RESOURCE_LIST, List)
        + std::mem::offset_of!(CM_FULL_RESOURCE_DESCRIPTOR, PartialResourceList)
        + std::mem::offset_of!(CM_PARTIAL_RESOURCE_LIST, PartialDescriptors);
    let block = RawBlock::new(head + descriptor_size * entries.len().max(1));
    let list = block.words().cast::<CM_RESOURCE_LIST>();
    let header = CM_RESOURCE_LIST {
        Count: 1,
        List: [CM_FULL_RESOURCE_DESCRIPTOR {
            InterfaceType: PCIBus,
            BusNumber: 0,
            PartialResourceList: CM_PARTIAL_RESOURCE_LIST {
                Version: 1,
                Revision: 1,
                Count: u32::try_from(entries.len()).unwrap_or(u32::MAX),
                PartialDescriptors: [entries.first().copied().unwrap_or(descriptor(
                    0,
                    0,
                    0,
                    CM_PARTIAL_RESOURCE_DESCRIPTOR_U {
                        DevicePrivate: [0; 3],
                    },
                ))],
            },
        }],
    };
    // SAFETY: the block holds at least a CM_RESOURCE_LIST and is 8-aligned.
    unsafe { list.write(header) };
    let first = block
        .words()
        .wrapping_byte_add(head)
        .cast::<CM_PARTIAL_RESOURCE_DESCRIPTOR>();
    for (i, entry) in entries.iter().enumerate() {
        let slot = first.wrapping_add(i);
        // SAFETY: inside the block (sized for every entry); the descriptor is 4-aligned.
        unsafe { slot.write(*entry) };
    }
    block
}

/// The `index`-th descriptor of `kind` in a list the model built, or null.
fn find(
    block: &RawBlock,
    count: u32,
    kind: CM_RESOURCE_TYPE,
    index: u32,
) -> PCM_PARTIAL_RESOURCE_DESCRIPTOR {
    let head = std::mem::offset_of!(CM_RESOURCE_LIST, List)
        + std::mem::offset_of!(CM_FULL_RESOURCE_DESCRIPTOR, PartialResourceList)
        + std::mem::offset_of!(CM_PARTIAL_RESOURCE_LIST, PartialDescriptors);
    let first = block
        .words()
        .wrapping_byte_add(head)
        .cast::<CM_PARTIAL_RESOURCE_DESCRIPTOR>();
    (0..usize::try_from(count).unwrap_or(0))
        .map(|i| first.wrapping_add(i))
        // SAFETY: each of the `count` descriptors lies in the block.
        .filter(|&d| unsafe { (*d).Type } == kind)
        .nth(usize::try_from(index).unwrap_or(usize::MAX))
        .unwrap_or(null_mut())
}

// ---- IResourceList ----

static RESOURCE_LIST_VTBL: IResourceListVtbl = IResourceListVtbl {
    base__: IUnknownVtbl {
        QueryInterface: list_query_interface,
        AddRef: list_add_ref,
        Release: list_release,
    },
    NumberOfEntries: list_number_of_entries,
    NumberOfEntriesOfType: list_number_of_entries_of_type,
    FindTranslatedEntry: list_find_translated,
    FindUntranslatedEntry: list_find_untranslated,
    AddEntry: list_add_entry,
    AddEntryFromParent: list_add_entry_from_parent,
    TranslatedList: list_translated,
    UntranslatedList: list_untranslated,
};

/// Runs `f` on the live list `this`, or records a use of a released (or unknown) list.
fn with_list<R>(
    what: &str,
    this: *mut IResourceList,
    default: R,
    f: impl FnOnce(&mut ResourceListState) -> R,
) -> R {
    with_world(what, |world| {
        let irql = current_irql();
        let mut state = world.lock();
        state.irql_ok(Ddi::ResourceList, irql);
        match state.hw.lists.get_mut(&this.addr()) {
            Some(list) if list.refs > 0 => f(list),
            _ => {
                state.violate(Violation::BadObject {
                    ddi: Ddi::ResourceList,
                    object: this.addr(),
                });
                default
            }
        }
    })
}

portcls_sys::kernel_abi! {
    unsafe fn list_query_interface(this: *mut portcls_sys::IUnknown, iid: *const GUID, out: *mut PVOID) -> NTSTATUS {
        let this = this.cast::<IResourceList>();
        with_list("IResourceList::QueryInterface", this, STATUS_INVALID_PARAMETER, |list| {
            if out.is_null() || iid.is_null() {
                return STATUS_INVALID_PARAMETER;
            }
            // SAFETY: readable (the caller's contract, checked non-null).
            let iid = unsafe { iid.read() };
            if iid == portcls_sys::IID_IUnknown || iid == portcls_sys::wavert::IID_IResourceList {
                list.refs += 1;
                // SAFETY: writable (as above).
                unsafe { out.write(this.cast()) };
                STATUS_SUCCESS
            } else {
                // SAFETY: as above.
                unsafe { out.write(null_mut()) };
                STATUS_NOINTERFACE
            }
        })
    }

    unsafe fn list_add_ref(this: *mut portcls_sys::IUnknown) -> ULONG {
        with_list("IResourceList::AddRef", this.cast(), 0, |list| {
            list.refs += 1;
            list.refs
        })
    }

    unsafe fn list_release(this: *mut portcls_sys::IUnknown) -> ULONG {
        with_list("IResourceList::Release", this.cast(), 0, |list| {
            list.refs -= 1;
            list.refs
        })
    }

    unsafe fn list_number_of_entries(this: *mut IResourceList) -> ULONG {
        with_list("IResourceList::NumberOfEntries", this, 0, |list| list.count)
    }

    unsafe fn list_number_of_entries_of_type(this: *mut IResourceList, kind: CM_RESOURCE_TYPE) -> ULONG {
        with_list("IResourceList::NumberOfEntriesOfType", this, 0, |list| {
            let count = (0..)
                .map_while(|i| {
                    let found = find(&list.translated, list.count, kind, i);
                    (!found.is_null()).then_some(())
                })
                .count();
            u32::try_from(count).unwrap_or(u32::MAX)
        })
    }

    unsafe fn list_find_translated(this: *mut IResourceList, kind: CM_RESOURCE_TYPE, index: ULONG) -> PCM_PARTIAL_RESOURCE_DESCRIPTOR {
        with_list("IResourceList::FindTranslatedEntry", this, null_mut(), |list| {
            find(&list.translated, list.count, kind, index)
        })
    }

    unsafe fn list_find_untranslated(this: *mut IResourceList, kind: CM_RESOURCE_TYPE, index: ULONG) -> PCM_PARTIAL_RESOURCE_DESCRIPTOR {
        with_list("IResourceList::FindUntranslatedEntry", this, null_mut(), |list| {
            find(&list.untranslated, list.count, kind, index)
        })
    }

    /// The list PortCls hands `StartDevice` has no room to spare (the model does not make
    /// sub-lists: `PcNewResourceSublist` is not modelled).
    unsafe fn list_add_entry(this: *mut IResourceList, _translated: PCM_PARTIAL_RESOURCE_DESCRIPTOR, _untranslated: PCM_PARTIAL_RESOURCE_DESCRIPTOR) -> NTSTATUS {
        with_list("IResourceList::AddEntry", this, STATUS_INVALID_PARAMETER, |_| STATUS_INSUFFICIENT_RESOURCES)
    }

    /// As `AddEntry`.
    unsafe fn list_add_entry_from_parent(this: *mut IResourceList, _parent: *mut IResourceList, _kind: CM_RESOURCE_TYPE, _index: ULONG) -> NTSTATUS {
        with_list("IResourceList::AddEntryFromParent", this, STATUS_INVALID_PARAMETER, |_| STATUS_INSUFFICIENT_RESOURCES)
    }

    unsafe fn list_translated(this: *mut IResourceList) -> PCM_RESOURCE_LIST {
        with_list("IResourceList::TranslatedList", this, null_mut(), |list| list.translated.words().cast())
    }

    unsafe fn list_untranslated(this: *mut IResourceList) -> PCM_RESOURCE_LIST {
        with_list("IResourceList::UntranslatedList", this, null_mut(), |list| list.untranslated.words().cast())
    }
}

// ---- IRPs to the PDO: IRP_MN_QUERY_INTERFACE ----

fn read_at<T: Copy>(block: &RawBlock, offset: usize) -> T {
    // SAFETY: `offset` lies inside the model's IRP block and is aligned for `T` (IRP fields).
    unsafe { block.ptr().wrapping_add(offset).cast::<T>().read() }
}

fn write_at<T>(block: &RawBlock, offset: usize, value: T) {
    // SAFETY: as for `read_at`.
    unsafe { block.ptr().wrapping_add(offset).cast::<T>().write(value) };
}

portcls_sys::kernel_abi! {
    /// `IoBuildSynchronousFsdRequest`: an IRP with one stack location for `device` (its next
    /// location, which the caller fills in, carries `major`), completed into `iosb` and
    /// `event`. The I/O manager frees it when it completes.
    ///
    /// # Safety
    /// As the real routine.
    #[unsafe(no_mangle)]
    pub unsafe fn IoBuildSynchronousFsdRequest(
        major: ULONG,
        device: PDEVICE_OBJECT,
        _buffer: PVOID,
        _length: ULONG,
        _offset: *mut i64,
        event: PKEVENT,
        iosb: *mut IO_STATUS_BLOCK,
    ) -> PIRP {
        with_world("IoBuildSynchronousFsdRequest", |world| {
            let ddi = Ddi::IoBuildSynchronousFsdRequest;
            let irql = current_irql();
            let mut state = world.lock();
            if !state.irql_ok(ddi, irql) {
                return null_mut();
            }
            let detail = format!("major {major:#x}, device {device:p}");
            if let Some(status) = state.fallible(ddi) {
                state.record(ddi, detail, status);
                return null_mut();
            }
            if device.is_null() || event.is_null() || iosb.is_null() {
                state.hardware_rule(ddi, HardwareRule::BadParameters);
                state.record(ddi, detail, STATUS_INVALID_PARAMETER);
                return null_mut();
            }
            let block = RawBlock::new(IRP_SIZE + IO_STACK_LOCATION_SIZE);
            let base = block.ptr();
            write_at(&block, IRP_STACK_COUNT_OFFSET, 1u8);
            write_at(&block, IRP_CURRENT_LOCATION_OFFSET, 2u8);
            // One past the only location: `IoGetNextIrpStackLocation` finds that location.
            let past = base.wrapping_add(IRP_SIZE + IO_STACK_LOCATION_SIZE);
            block.write_pointer(IRP_CURRENT_STACK_LOCATION_OFFSET, past);
            block.write_pointer(IRP_USER_IOSB_OFFSET, iosb.cast());
            block.write_pointer(IRP_USER_EVENT_OFFSET, event.cast());
            write_at(&block, IRP_SIZE, u8::try_from(major).unwrap_or(u8::MAX));
            let irp: PIRP = base.cast();
            state.hw.irps.insert(
                irp.addr(),
                IrpState {
                    block,
                    iosb: DriverPtr(iosb.cast()),
                    event: event.addr(),
                    completed: false,
                },
            );
            state.record(ddi, format!("{detail} -> irp {irp:p}"), STATUS_SUCCESS);
            irp
        })
    }
}

portcls_sys::kernel_abi! {
    /// `IofCallDriver` (`IoCallDriver`) to a PCI device's PDO: the bus driver answers
    /// `IRP_MN_QUERY_INTERFACE` for `GUID_BUS_INTERFACE_STANDARD` and completes every IRP at
    /// once (never `STATUS_PENDING`), setting its event.
    ///
    /// # Safety
    /// As the real routine.
    #[unsafe(no_mangle)]
    pub unsafe fn IofCallDriver(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
        with_world("IofCallDriver", |world| {
            let (status, event) = call_pdo(world, device, irp);
            if let Some(event) = event {
                // SAFETY: the event the driver passed to IoBuildSynchronousFsdRequest.
                unsafe { crate::sched::KeSetEvent(event.0, 0, 0) };
            }
            status
        })
    }
}

fn call_pdo(world: &World, device: PDEVICE_OBJECT, irp: PIRP) -> (NTSTATUS, Option<DriverPtr>) {
    let ddi = Ddi::IofCallDriver;
    let irql = current_irql();
    let mut state = world.lock();
    if !state.irql_ok(ddi, irql) {
        return (STATUS_INVALID_PARAMETER, None);
    }
    let detail = format!("device {device:p}, irp {irp:p}");
    let known = state.hw.irps.get(&irp.addr()).is_some_and(|i| !i.completed);
    if !known {
        state.hardware_rule(ddi, HardwareRule::UnknownIrp);
        return (state.record(ddi, detail, STATUS_INVALID_PARAMETER), None);
    }
    if !state.hw.devices.contains_key(&device.addr()) {
        state.hardware_rule(ddi, HardwareRule::NotThePdo);
        return (state.record(ddi, detail, STATUS_INVALID_PARAMETER), None);
    }
    // An injected failure is the bus driver failing the IRP: it completes with that status and
    // hands nothing out.
    let fault = state.fallible(ddi);
    let Hardware { irps, devices, .. } = &mut state.hw;
    let Some(entry) = irps.get_mut(&irp.addr()) else {
        return (STATUS_INVALID_PARAMETER, None);
    };
    let block = &entry.block;
    // The I/O manager moves the IRP to the next location.
    let location = block.ptr().wrapping_add(IRP_SIZE);
    block.write_pointer(IRP_CURRENT_STACK_LOCATION_OFFSET, location);
    write_at(block, IRP_CURRENT_LOCATION_OFFSET, 1u8);
    // The function codes only: the parameters union holds whatever the driver wrote (padding
    // included).
    let major: u8 = read_at(
        block,
        IRP_SIZE + std::mem::offset_of!(IO_STACK_LOCATION, MajorFunction),
    );
    let minor: u8 = read_at(
        block,
        IRP_SIZE + std::mem::offset_of!(IO_STACK_LOCATION, MinorFunction),
    );
    let preset: IO_STATUS_BLOCK = read_at(block, IRP_IO_STATUS_OFFSET);
    let pnp = major == IRP_MJ_PNP;
    let pci = devices.get_mut(&device.addr());
    let mut breach = None;
    let status = match pci {
        Some(pci) if pnp => {
            if preset.Status != STATUS_NOT_SUPPORTED {
                breach = Some(HardwareRule::PnpIrpStatusNotPreset);
            }
            if let Some(fault) = fault {
                fault
            } else if minor == IRP_MN_QUERY_INTERFACE {
                // The location's parameters, as the driver filled them.
                let query: QUERY_INTERFACE_PARAMETERS = read_at(block, IRP_SIZE + 8);
                // SAFETY: the caller's GUID and buffer, as the IRP's contract says.
                unsafe { query_interface(pci, &query) }.unwrap_or(preset.Status)
            } else {
                preset.Status
            }
        }
        _ => STATUS_INVALID_DEVICE_REQUEST,
    };
    let mut io_status = IO_STATUS_BLOCK::default();
    io_status.Status = status;
    write_at(block, IRP_IO_STATUS_OFFSET, io_status);
    // SAFETY: the driver's IO_STATUS_BLOCK, writable until the IRP completes (its contract).
    unsafe { entry.iosb.0.cast::<IO_STATUS_BLOCK>().write(io_status) };
    entry.completed = true;
    let event = DriverPtr(std::ptr::without_provenance_mut(entry.event));
    let status = fault.unwrap_or(status);
    if let Some(rule) = breach {
        state.hardware_rule(ddi, rule);
    }
    let detail = format!("{detail}: major {major:#x} minor {minor:#x}");
    (state.record(ddi, detail, status), Some(event))
}

/// Fills in the bus interface if that is what the query asks for; `None` leaves the IRP's
/// status alone (an interface the bus driver does not export).
///
/// # Safety
/// `query` holds the caller's readable GUID and writable interface buffer of `Size` bytes.
unsafe fn query_interface(
    pci: &mut PciState,
    query: &QUERY_INTERFACE_PARAMETERS,
) -> Option<NTSTATUS> {
    if query.InterfaceType.is_null() || query.Interface.is_null() {
        return Some(STATUS_INVALID_PARAMETER);
    }
    // SAFETY: readable (the caller's contract).
    let guid = unsafe { query.InterfaceType.read() };
    if guid != GUID_BUS_INTERFACE_STANDARD {
        return None;
    }
    let size = std::mem::size_of::<BUS_INTERFACE_STANDARD>();
    if usize::from(query.Size) < size || query.Version < 1 {
        return Some(STATUS_INVALID_PARAMETER);
    }
    let interface = BUS_INTERFACE_STANDARD {
        Size: u16::try_from(size).unwrap_or(u16::MAX),
        Version: 1,
        Context: pci.context.ptr().cast(),
        InterfaceReference: Some(bus_reference),
        InterfaceDereference: Some(bus_dereference),
        TranslateBusAddress: null_mut(),
        GetDmaAdapter: null_mut(),
        SetBusData: Some(set_bus_data),
        GetBusData: Some(get_bus_data),
    };
    // SAFETY: writable for `Size` bytes (checked to hold the interface).
    unsafe {
        query
            .Interface
            .cast::<BUS_INTERFACE_STANDARD>()
            .write(interface);
    };
    pci.interface_refs += 1;
    pci.interface_given = true;
    Some(STATUS_SUCCESS)
}

/// Runs `f` on the device whose bus-interface context is `context`.
fn with_bus<R>(
    what: &str,
    context: PVOID,
    default: R,
    f: impl FnOnce(&mut State, usize) -> R,
) -> R {
    with_world(what, |world| {
        let irql = current_irql();
        let mut state = world.lock();
        let ddi = Ddi::BusInterface;
        state.irql_ok(ddi, irql);
        let pdo = state
            .hw
            .devices
            .iter()
            .find(|(_, d)| d.context.ptr().addr() == context.addr() && d.interface_given)
            .map(|(&pdo, _)| pdo);
        if let Some(pdo) = pdo {
            f(&mut state, pdo)
        } else {
            state.violate(Violation::BadObject {
                ddi,
                object: context.addr(),
            });
            default
        }
    })
}

fn bus_data(
    context: PVOID,
    kind: ULONG,
    buffer: PVOID,
    offset: ULONG,
    length: ULONG,
    write: bool,
) -> ULONG {
    let what = if write { "SetBusData" } else { "GetBusData" };
    with_bus(what, context, 0, |state, pdo| {
        let ddi = Ddi::BusInterface;
        let Some(device) = state.hw.devices.get_mut(&pdo) else {
            return 0;
        };
        if device.interface_refs == 0 {
            state.hardware_rule(ddi, HardwareRule::InterfaceUsedAfterDereference);
            return 0;
        }
        if kind != PCI_WHICHSPACE_CONFIG || buffer.is_null() {
            return 0;
        }
        let length = usize::try_from(length).unwrap_or(0);
        let done = if write {
            // SAFETY: `length` readable bytes (the routine's contract).
            let data = unsafe { std::slice::from_raw_parts(buffer.cast::<u8>(), length) };
            device.config.write(offset, data)
        } else {
            // SAFETY: `length` writable bytes (the routine's contract).
            let data = unsafe { std::slice::from_raw_parts_mut(buffer.cast::<u8>(), length) };
            device.config.read(offset, data)
        };
        let done = u32::try_from(done).unwrap_or(0);
        state.record(
            ddi,
            format!("{what}(config, offset {offset:#x}, {length} bytes) -> {done}"),
            STATUS_SUCCESS,
        );
        done
    })
}

portcls_sys::kernel_abi! {
    unsafe fn get_bus_data(context: PVOID, kind: ULONG, buffer: PVOID, offset: ULONG, length: ULONG) -> ULONG {
        bus_data(context, kind, buffer, offset, length, false)
    }

    unsafe fn set_bus_data(context: PVOID, kind: ULONG, buffer: PVOID, offset: ULONG, length: ULONG) -> ULONG {
        bus_data(context, kind, buffer, offset, length, true)
    }

    unsafe fn bus_reference(context: PVOID) {
        with_bus("InterfaceReference", context, (), |state, pdo| {
            if let Some(device) = state.hw.devices.get_mut(&pdo) {
                device.interface_refs += 1;
            }
        });
    }

    unsafe fn bus_dereference(context: PVOID) {
        with_bus("InterfaceDereference", context, (), |state, pdo| {
            let over = state.hw.devices.get_mut(&pdo).is_some_and(|device| {
                let over = device.interface_refs == 0;
                device.interface_refs = device.interface_refs.saturating_sub(1);
                over
            });
            if over {
                state.hardware_rule(Ddi::BusInterface, HardwareRule::InterfaceOverDereferenced);
            }
        });
    }
}

// ---- Device memory ----

portcls_sys::kernel_abi! {
    /// `MmMapIoSpace` of a range inside a memory BAR of a plugged-in PCI device.
    ///
    /// # Safety
    /// As the real routine.
    #[unsafe(no_mangle)]
    pub unsafe fn MmMapIoSpace(address: PHYSICAL_ADDRESS, bytes: usize, _cache: MEMORY_CACHING_TYPE) -> PVOID {
        with_world("MmMapIoSpace", |world| {
            let ddi = Ddi::MmMapIoSpace;
            let irql = current_irql();
            let mut state = world.lock();
            if !state.irql_ok(ddi, irql) {
                return null_mut();
            }
            // SAFETY: every bit pattern is a valid i64.
            let physical = unsafe { address.QuadPart }.cast_unsigned();
            let detail = format!("{physical:#x}, {bytes} bytes");
            if let Some(status) = state.fallible(ddi) {
                state.record(ddi, detail, status);
                return null_mut();
            }
            let length = u64::try_from(bytes).unwrap_or(u64::MAX);
            let found = state.hw.devices.iter().find_map(|(&pdo, d)| {
                d.bars.iter().find(|b| bytes > 0 && b.contains(physical, length)).map(|&b| (pdo, b))
            });
            let Some((pdo, bar)) = found else {
                state.hardware_rule(ddi, HardwareRule::MappingOutsideBar);
                state.record(ddi, detail, STATUS_INVALID_PARAMETER);
                return null_mut();
            };
            let offset = physical - bar.address;
            let hw = &mut state.hw;
            let (address, mapper) = if let Some(mapper) = hw.mapper.as_mut() {
                (mapper.map(bar, offset, bytes), true)
            } else {
                let backing = hw.devices.get_mut(&pdo).map(|d| {
                    d.backing
                        .entry(bar.index)
                        .or_insert_with(|| RawBlock::new(usize::try_from(bar.length).unwrap_or(0)))
                        .ptr()
                });
                let offset = usize::try_from(offset).unwrap_or(0);
                (backing.and_then(|b| NonNull::new(b.wrapping_add(offset))), false)
            };
            let Some(address) = address else {
                state.record(ddi, detail, STATUS_INSUFFICIENT_RESOURCES);
                return null_mut();
            };
            state.hw.mappings.insert(address.as_ptr().addr(), Mapping { pdo, bar, length: bytes, mapper, address });
            state.record(ddi, format!("{detail} (BAR {}) -> {address:p}", bar.index), STATUS_SUCCESS);
            address.as_ptr().cast()
        })
    }
}

portcls_sys::kernel_abi! {
    /// `MmUnmapIoSpace` of what `MmMapIoSpace` returned, with the same length.
    ///
    /// # Safety
    /// As the real routine.
    #[unsafe(no_mangle)]
    pub unsafe fn MmUnmapIoSpace(address: PVOID, bytes: usize) {
        with_world("MmUnmapIoSpace", |world| {
            let ddi = Ddi::MmUnmapIoSpace;
            let irql = current_irql();
            let mut state = world.lock();
            if !state.irql_ok(ddi, irql) {
                return;
            }
            let matches = state.hw.mappings.get(&address.addr()).is_some_and(|m| m.length == bytes);
            if !matches {
                state.hardware_rule(ddi, HardwareRule::UnmapUnknown);
                return;
            }
            if let Some(mapping) = state.hw.mappings.remove(&address.addr()) {
                if mapping.mapper
                    && let Some(mapper) = state.hw.mapper.as_mut()
                {
                    mapper.unmap(mapping.bar, mapping.address, bytes);
                }
                state.record(ddi, format!("{address:p}, {bytes} bytes"), STATUS_SUCCESS);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_configuration_space_reads_and_writes_within_its_bytes() {
        let mut space = vec![0u8; 8];
        assert_eq!(space.write(6, &[1, 2, 3]), 2);
        let mut buffer = [0u8; 4];
        assert_eq!(space.read(5, &mut buffer), 3);
        assert_eq!(buffer, [0, 1, 2, 0]);
        assert_eq!(space.read(9, &mut buffer), 0);
    }

    #[test]
    fn msi_x_messages_become_one_flagged_descriptor_each_after_the_bars() {
        let device = PciState {
            config: Box::new(vec![0u8; 4]),
            bars: vec![
                Bar::memory(1, 0xFE00_0000, 0x1000),
                Bar::memory(4, 0xFE10_0000, 0x4000),
            ],
            interrupts: PciInterrupts::MsiX { messages: 3 },
            context: RawBlock::new(16),
            interface_refs: 0,
            interface_given: false,
            backing: BTreeMap::new(),
        };
        let (translated, raw) = descriptors(&device);
        assert_eq!(translated.len(), 5);
        assert_eq!(raw.len(), 5);
        let block = resource_block(&translated);
        let memory = find(&block, 5, CmResourceTypeMemory, 1);
        assert!(!memory.is_null());
        // SAFETY: a descriptor of the block.
        let memory = unsafe { memory.read() };
        // SAFETY: a memory descriptor.
        let range = unsafe { memory.u.Memory };
        // SAFETY: every bit pattern is a valid i64.
        assert_eq!(unsafe { range.Start.QuadPart }, 0xFE10_0000);
        assert_eq!({ range.Length }, 0x4000);
        let third = find(&block, 5, CmResourceTypeInterrupt, 2);
        // SAFETY: as above.
        let third = unsafe { third.read() };
        let flags = third.Flags;
        // SAFETY: a message interrupt descriptor.
        let message = unsafe { third.u.MessageInterrupt };
        // SAFETY: of the translated list.
        let translated = unsafe { message.Translated };
        assert_eq!(
            flags,
            CM_RESOURCE_INTERRUPT_LATCHED | CM_RESOURCE_INTERRUPT_MESSAGE
        );
        assert_eq!({ translated.Vector }, MESSAGE_VECTOR + 2);
        assert!(find(&block, 5, CmResourceTypeInterrupt, 3).is_null());
        let raw_block = resource_block(&raw);
        let first = find(&raw_block, 5, CmResourceTypeInterrupt, 0);
        // SAFETY: as above.
        let first = unsafe { first.read() };
        // SAFETY: a message interrupt descriptor.
        let message = unsafe { first.u.MessageInterrupt };
        // SAFETY: of the raw list.
        let raw = unsafe { message.Raw };
        assert_eq!(
            ({ raw.MessageCount }, { raw.Vector }),
            (1, CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN)
        );
    }
}
