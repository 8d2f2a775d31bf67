//! DMA adapters and common buffers: `IoGetDmaAdapter` and the adapter's operations.
//!
//! `IoGetDmaAdapter` hands a bus-master device's driver a [`DMA_ADAPTER`] whose operations
//! table the model fills: `PutDmaAdapter`, `AllocateCommonBuffer`, `FreeCommonBuffer` and
//! `GetDmaAlignment` are modeled; every other entry records a
//! [`DmaBreach::NotModeled`] and fails safely (an error status, no callback). Common buffers
//! come from the machine's [physical memory](crate::physical) and are open to the device while
//! they live: below 4 GiB unless the description says `Dma64BitAddresses`, filled with
//! [`COMMON_BUFFER_FILL`] (the kernel does not promise zeroed memory).
//!
//! The rules, each breach a [`Violation`] as Driver Verifier's DMA verification would report:
//! - `IoGetDmaAdapter`, `AllocateCommonBuffer`, `FreeCommonBuffer`, `PutDmaAdapter` and
//!   `GetDmaAlignment` at `PASSIVE_LEVEL` ([`Violation::IrqlTooHigh`]; the call does nothing);
//! - `IoGetDmaAdapter` takes the device's PDO (not its FDO, not null), a description with a
//!   version the header defines and non-null out pointer ([`DmaBreach::NotThePdo`],
//!   [`DmaBreach::BadArgument`]); a version 3 description or a system-DMA (not bus-master)
//!   device is [`DmaBreach::NotModeled`];
//! - the operations take an adapter `IoGetDmaAdapter` returned and not yet put
//!   ([`DmaBreach::UnknownAdapter`], [`DmaBreach::AlreadyPut`]);
//! - `FreeCommonBuffer` names a common buffer of this adapter with the length, logical address,
//!   virtual address and cache setting it was allocated with ([`DmaBreach::NoSuchCommonBuffer`],
//!   [`DmaBreach::FreeMismatch`]; nothing is freed);
//! - `PutDmaAdapter` comes after every common buffer is freed
//!   ([`DmaBreach::PutWithCommonBuffers`]), once; an adapter outliving its device's removal is
//!   [`DmaBreach::NotPutBeforeRemoval`];
//! - what is left ([`Sim::leftovers`](crate::Sim::leftovers)): adapters not put, common
//!   buffers not freed.
//!
//! `IoGetDmaAdapter` and `AllocateCommonBuffer` are fallible calls ([`Ddi::IoGetDmaAdapter`],
//! [`Ddi::AllocateCommonBuffer`]): an injected failure returns null and allocates nothing.

use std::collections::BTreeMap;
use std::fmt;
use std::mem::MaybeUninit;
use std::ptr::{NonNull, null_mut};

use portcls_sys::dma::{
    DMA_ADAPTER, DMA_OPERATIONS, PDMA_ADAPTER, PDRIVER_CONTROL, PDRIVER_LIST_CONTROL,
    PSCATTER_GATHER_LIST,
};
use portcls_sys::km::{
    BOOLEAN, DEVICE_DESCRIPTION, DEVICE_DESCRIPTION_VERSION2, DEVICE_DESCRIPTION_VERSION3,
    PDEVICE_DESCRIPTION, PHYSICAL_ADDRESS, PMDL, PPHYSICAL_ADDRESS,
};
use portcls_sys::{
    NTSTATUS, PDEVICE_OBJECT, PVOID, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER,
    STATUS_NOT_SUPPORTED, STATUS_SUCCESS, ULONG,
};

use crate::physical::{DmaOwner, PAGE_SIZE};
use crate::world::State;
use crate::{Ddi, Sim, Violation, current_irql, with_world};

/// The byte fresh common buffers are filled with.
pub const COMMON_BUFFER_FILL: u8 = 0xC5;

/// The `Version` of the adapters the model hands out.
pub const ADAPTER_VERSION: u16 = 1;

/// The alignment `GetDmaAlignment` reports (none beyond a byte, as on x64 and arm64 PCs).
pub const DMA_ALIGNMENT: ULONG = 1;

/// The most map registers `IoGetDmaAdapter` reports.
pub const MAX_MAP_REGISTERS: ULONG = 256;

/// Which DMA rule a [`Violation::Dma`] is about.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DmaBreach {
    /// `IoGetDmaAdapter` was given something other than the PDO of a device the system knows
    /// (its FDO, another object, null).
    NotThePdo {
        /// The address passed.
        object: usize,
    },
    /// A required argument was null or out of range.
    BadArgument {
        /// Which.
        what: &'static str,
    },
    /// A DMA routine, or a kind of DMA, the model does not implement (the call failed).
    NotModeled {
        /// Which.
        operation: &'static str,
    },
    /// The adapter is not one `IoGetDmaAdapter` returned.
    UnknownAdapter,
    /// The adapter was used, or put, after `PutDmaAdapter`.
    AlreadyPut,
    /// `PutDmaAdapter` while common buffers of the adapter were still allocated.
    PutWithCommonBuffers {
        /// How many.
        buffers: usize,
    },
    /// `FreeCommonBuffer` of a virtual address where no common buffer of this adapter starts.
    NoSuchCommonBuffer {
        /// The virtual address passed.
        virtual_address: usize,
    },
    /// `FreeCommonBuffer` with arguments that do not match the allocation (nothing freed).
    FreeMismatch {
        /// The common buffer's virtual address.
        virtual_address: usize,
        /// The length it was allocated with.
        allocated_length: u32,
        /// The length passed.
        length: u32,
        /// Its logical address.
        allocated_logical: u64,
        /// The logical address passed.
        logical: u64,
        /// The cache setting it was allocated with.
        allocated_cached: bool,
        /// The cache setting passed.
        cached: bool,
    },
    /// The device was removed while the adapter had not been put.
    NotPutBeforeRemoval,
}

impl fmt::Display for DmaBreach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NotThePdo { object } => {
                write!(f, "{object:#x} is not the PDO of a device the system knows")
            }
            Self::BadArgument { what } => write!(f, "bad argument: {what}"),
            Self::NotModeled { operation } => write!(f, "{operation} is not modeled"),
            Self::UnknownAdapter => f.write_str("not an adapter IoGetDmaAdapter returned"),
            Self::AlreadyPut => f.write_str("the adapter was put already"),
            Self::PutWithCommonBuffers { buffers } => {
                write!(f, "put with {buffers} common buffer(s) still allocated")
            }
            Self::NoSuchCommonBuffer { virtual_address } => {
                write!(
                    f,
                    "no common buffer of this adapter at {virtual_address:#x}"
                )
            }
            Self::FreeMismatch {
                virtual_address,
                allocated_length,
                length,
                allocated_logical,
                logical,
                allocated_cached,
                cached,
            } => write!(
                f,
                "common buffer {virtual_address:#x} freed with length {length}, logical \
                 {logical:#x}, cached {cached}; allocated with {allocated_length}, \
                 {allocated_logical:#x}, {allocated_cached}"
            ),
            Self::NotPutBeforeRemoval => f.write_str("the device was removed before the put"),
        }
    }
}

/// A live common buffer.
#[derive(Clone, Copy, Debug)]
struct CommonBuffer {
    length: u32,
    logical: u64,
    cached: bool,
}

/// What the model keeps per adapter.
#[derive(Debug)]
struct AdapterState {
    pdo: usize,
    /// Whether the adapter's description allows addresses above 4 GiB.
    dma64: bool,
    put: bool,
    /// Common buffers by virtual address.
    buffers: BTreeMap<usize, CommonBuffer>,
}

/// The machine's DMA adapters (part of its state).
#[derive(Debug, Default)]
pub(crate) struct Adapters {
    /// By `DMA_ADAPTER` address; put adapters stay, to tell a double put.
    states: BTreeMap<usize, AdapterState>,
    /// The adapter objects, freed with the machine (so a stale pointer stays readable).
    objects: Vec<NonNull<DMA_ADAPTER>>,
}

// SAFETY: the objects are plain data (a version, a size and a pointer to a static table)
// owned by this record and freed only by the machine that owns it.
unsafe impl Send for Adapters {}

impl Drop for Adapters {
    fn drop(&mut self) {
        for object in self.objects.drain(..) {
            // SAFETY: made by Box::into_raw in `IoGetDmaAdapter`, freed only here.
            drop(unsafe { Box::from_raw(object.as_ptr()) });
        }
    }
}

impl Adapters {
    /// Adapters not put and common buffers not freed, for [`crate::Sim::leftovers`].
    pub(crate) fn leftovers(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (&adapter, state) in &self.states {
            if !state.put {
                out.push(format!(
                    "DMA adapter {adapter:#x} of PDO {:#x} not put",
                    state.pdo
                ));
            }
            out.extend(state.buffers.iter().map(|(&va, buffer)| {
                format!(
                    "common buffer {va:#x} ({} bytes at logical {:#x}) of DMA adapter \
                     {adapter:#x} not freed",
                    buffer.length, buffer.logical
                )
            }));
        }
        out
    }

    /// The adapters of `pdo` not yet put (at its device's removal).
    pub(crate) fn live_for(&self, pdo: usize) -> Vec<usize> {
        self.states
            .iter()
            .filter(|(_, s)| s.pdo == pdo && !s.put)
            .map(|(&a, _)| a)
            .collect()
    }

    /// How many adapters are live (not put).
    pub(crate) fn live(&self) -> usize {
        self.states.values().filter(|s| !s.put).count()
    }

    /// How many common buffers are allocated, over every adapter.
    pub(crate) fn common_buffers(&self) -> usize {
        self.states.values().map(|s| s.buffers.len()).sum()
    }
}

/// Checks the IRQL and the adapter of an operation; false (with the violation recorded) when
/// the call must do nothing.
fn admit(state: &mut State, ddi: Ddi, adapter: PDMA_ADAPTER) -> bool {
    if !state.irql_ok(ddi, current_irql()) {
        return false;
    }
    let address = adapter.addr();
    let breach = match state.dma.states.get(&address) {
        None => DmaBreach::UnknownAdapter,
        Some(s) if s.put => DmaBreach::AlreadyPut,
        Some(_) => return true,
    };
    state.violate(Violation::Dma {
        ddi,
        adapter: address,
        breach,
    });
    state.record(
        ddi,
        format!("adapter {address:#x}: {breach}"),
        STATUS_INVALID_PARAMETER,
    );
    false
}

fn breach(state: &mut State, ddi: Ddi, adapter: usize, breach: DmaBreach) {
    state.violate(Violation::Dma {
        ddi,
        adapter,
        breach,
    });
}

/// Reads the part of a description its version has (the fields through `DmaPort` for the
/// versions the model accepts), the rest zero.
///
/// # Safety
/// `description` points to a readable description of at least that part.
unsafe fn read_description(description: PDEVICE_DESCRIPTION) -> DEVICE_DESCRIPTION {
    const BEFORE_VERSION3: usize = std::mem::offset_of!(DEVICE_DESCRIPTION, DmaAddressWidth);
    let mut copy = MaybeUninit::<DEVICE_DESCRIPTION>::zeroed();
    // SAFETY: the caller's contract: `BEFORE_VERSION3` readable bytes; `copy` is as large.
    unsafe {
        std::ptr::copy_nonoverlapping(
            description.cast::<u8>(),
            copy.as_mut_ptr().cast::<u8>(),
            BEFORE_VERSION3,
        );
    }
    // SAFETY: every field is an integer, an integer newtype or a union of integers, for which
    // any bytes (zero included) are valid.
    unsafe { copy.assume_init() }
}

portcls_sys::kernel_abi! {
    /// `IoGetDmaAdapter`: an adapter for a bus-master device, described by a version 0, 1 or
    /// 2 description (see [the module](self)).
    ///
    /// # Safety
    /// As documented for the real routine: `description` readable, `map_registers` writable.
    #[unsafe(no_mangle)]
    pub unsafe fn IoGetDmaAdapter(
        pdo: PDEVICE_OBJECT,
        description: PDEVICE_DESCRIPTION,
        map_registers: *mut ULONG,
    ) -> PDMA_ADAPTER {
        with_world("IoGetDmaAdapter", |world| {
            let ddi = Ddi::IoGetDmaAdapter;
            let mut state = world.lock();
            if !state.irql_ok(ddi, current_irql()) {
                return null_mut();
            }
            let detail = format!("pdo {pdo:p}");
            if state.fallible(ddi).is_some() {
                state.record(ddi, format!("{detail} -> NULL (injected)"), STATUS_INSUFFICIENT_RESOURCES);
                return null_mut();
            }
            let object = pdo.addr();
            if pdo.is_null() || !state.devices.values().any(|&known| known == object) {
                breach(&mut state, ddi, 0, DmaBreach::NotThePdo { object });
                state.record(ddi, format!("{detail}: not a PDO"), STATUS_INVALID_PARAMETER);
                return null_mut();
            }
            let what = if description.is_null() {
                Some("DeviceDescription is null")
            } else if map_registers.is_null() {
                Some("NumberOfMapRegisters is null")
            } else {
                None
            };
            if let Some(what) = what {
                breach(&mut state, ddi, 0, DmaBreach::BadArgument { what });
                state.record(ddi, format!("{detail}: {what}"), STATUS_INVALID_PARAMETER);
                return null_mut();
            }
            // SAFETY: a readable description (caller's contract, checked non-null).
            let version = unsafe { (*description).Version };
            let refusal = match version {
                v if v > DEVICE_DESCRIPTION_VERSION3 => Some(DmaBreach::BadArgument {
                    what: "DeviceDescription->Version is not a DEVICE_DESCRIPTION_VERSION",
                }),
                DEVICE_DESCRIPTION_VERSION3 => Some(DmaBreach::NotModeled {
                    operation: "DEVICE_DESCRIPTION_VERSION3 (a version 3 adapter)",
                }),
                _ => None,
            };
            if let Some(refusal) = refusal {
                breach(&mut state, ddi, 0, refusal);
                state.record(ddi, format!("{detail}: {refusal}"), STATUS_NOT_SUPPORTED);
                return null_mut();
            }
            debug_assert!(version <= DEVICE_DESCRIPTION_VERSION2);
            // SAFETY: a readable description of a version before 3 (checked above).
            let description = unsafe { read_description(description) };
            if description.Master == 0 {
                let refusal = DmaBreach::NotModeled {
                    operation: "system DMA (a description without Master)",
                };
                breach(&mut state, ddi, 0, refusal);
                state.record(ddi, format!("{detail}: {refusal}"), STATUS_NOT_SUPPORTED);
                return null_mut();
            }
            let dma64 = description.Dma64BitAddresses != 0;
            let pages = description.MaximumLength.div_ceil(PAGE_BYTES);
            let registers = pages.saturating_add(1).min(MAX_MAP_REGISTERS);
            let object = Box::into_raw(Box::new(DMA_ADAPTER {
                Version: ADAPTER_VERSION,
                Size: u16::try_from(size_of::<DMA_ADAPTER>()).unwrap_or(u16::MAX),
                DmaOperations: (&raw const OPERATIONS).cast_mut(),
            }));
            if let Some(object) = NonNull::new(object) {
                state.dma.objects.push(object);
            }
            state.dma.states.insert(
                object.addr(),
                AdapterState {
                    pdo: pdo.addr(),
                    dma64,
                    put: false,
                    buffers: BTreeMap::new(),
                },
            );
            // SAFETY: writable (caller's contract, checked non-null).
            unsafe { map_registers.write(registers) };
            state.record(
                ddi,
                format!(
                    "{detail}, version {version}, bus {}, {}-bit, maximum {} bytes -> adapter \
                     {object:p}, {registers} map registers",
                    description.InterfaceType.0,
                    if dma64 { 64 } else { 32 },
                    description.MaximumLength
                ),
                STATUS_SUCCESS,
            );
            object
        })
    }
}

portcls_sys::kernel_abi! {
    unsafe fn put_dma_adapter(adapter: PDMA_ADAPTER) {
        with_world("DMA_OPERATIONS::PutDmaAdapter", |world| {
            let ddi = Ddi::PutDmaAdapter;
            let mut state = world.lock();
            if !admit(&mut state, ddi, adapter) {
                return;
            }
            let address = adapter.addr();
            let buffers = state.dma.states.get(&address).map_or(0, |s| s.buffers.len());
            if buffers > 0 {
                breach(&mut state, ddi, address, DmaBreach::PutWithCommonBuffers { buffers });
            }
            if let Some(s) = state.dma.states.get_mut(&address) {
                s.put = true;
            }
            state.record(ddi, format!("adapter {address:#x}"), STATUS_SUCCESS);
        });
    }

    unsafe fn allocate_common_buffer(
        adapter: PDMA_ADAPTER,
        length: ULONG,
        logical: PPHYSICAL_ADDRESS,
        cache_enabled: BOOLEAN,
    ) -> PVOID {
        with_world("DMA_OPERATIONS::AllocateCommonBuffer", |world| {
            let ddi = Ddi::AllocateCommonBuffer;
            let mut state = world.lock();
            if !admit(&mut state, ddi, adapter) {
                return null_mut();
            }
            let address = adapter.addr();
            let detail = format!("adapter {address:#x}: {length} bytes, cached {cache_enabled}");
            if logical.is_null() {
                let what = "LogicalAddress is null";
                breach(&mut state, ddi, address, DmaBreach::BadArgument { what });
                state.record(ddi, format!("{detail}: {what}"), STATUS_INVALID_PARAMETER);
                return null_mut();
            }
            if state.fallible(ddi).is_some() {
                state.record(ddi, format!("{detail} -> NULL (injected)"), STATUS_INSUFFICIENT_RESOURCES);
                return null_mut();
            }
            let dma64 = state.dma.states.get(&address).is_some_and(|s| s.dma64);
            let highest = if dma64 { u64::MAX } else { u64::from(u32::MAX) };
            let owner = DmaOwner::CommonBuffer { adapter: address };
            let bytes = usize::try_from(length).unwrap_or(usize::MAX);
            let Some((physical, host)) =
                state.physical.allocate(bytes, 0, highest, owner, COMMON_BUFFER_FILL)
            else {
                let status = if length == 0 { STATUS_INVALID_PARAMETER } else { STATUS_INSUFFICIENT_RESOURCES };
                state.record(ddi, format!("{detail} -> NULL"), status);
                return null_mut();
            };
            let buffer = CommonBuffer {
                length,
                logical: physical,
                cached: cache_enabled != 0,
            };
            if let Some(s) = state.dma.states.get_mut(&address) {
                s.buffers.insert(host.as_ptr().addr(), buffer);
            }
            // SAFETY: writable (caller's contract, checked non-null).
            unsafe {
                logical.write(PHYSICAL_ADDRESS {
                    QuadPart: i64::try_from(physical).unwrap_or(0),
                });
            }
            state.record(
                ddi,
                format!("{detail} -> {host:p}, logical {physical:#x}"),
                STATUS_SUCCESS,
            );
            host.as_ptr().cast()
        })
    }

    unsafe fn free_common_buffer(
        adapter: PDMA_ADAPTER,
        length: ULONG,
        logical: PHYSICAL_ADDRESS,
        virtual_address: PVOID,
        cache_enabled: BOOLEAN,
    ) {
        with_world("DMA_OPERATIONS::FreeCommonBuffer", |world| {
            let ddi = Ddi::FreeCommonBuffer;
            let mut state = world.lock();
            if !admit(&mut state, ddi, adapter) {
                return;
            }
            let address = adapter.addr();
            let va = virtual_address.addr();
            // SAFETY: every bit pattern is a valid i64.
            let logical = unsafe { logical.QuadPart }.cast_unsigned();
            let detail = format!("adapter {address:#x}: {va:#x}, {length} bytes, logical {logical:#x}");
            let found = state.dma.states.get(&address).and_then(|s| s.buffers.get(&va)).copied();
            let Some(buffer) = found else {
                breach(&mut state, ddi, address, DmaBreach::NoSuchCommonBuffer { virtual_address: va });
                state.record(ddi, format!("{detail}: no such common buffer"), STATUS_INVALID_PARAMETER);
                return;
            };
            let cached = cache_enabled != 0;
            if buffer.length != length || buffer.logical != logical || buffer.cached != cached {
                let mismatch = DmaBreach::FreeMismatch {
                    virtual_address: va,
                    allocated_length: buffer.length,
                    length,
                    allocated_logical: buffer.logical,
                    logical,
                    allocated_cached: buffer.cached,
                    cached,
                };
                breach(&mut state, ddi, address, mismatch);
                state.record(ddi, format!("{detail}: {mismatch}"), STATUS_INVALID_PARAMETER);
                return;
            }
            if let Some(s) = state.dma.states.get_mut(&address) {
                s.buffers.remove(&va);
            }
            state.physical.free(buffer.logical);
            state.record(ddi, detail, STATUS_SUCCESS);
        });
    }

    unsafe fn get_dma_alignment(adapter: PDMA_ADAPTER) -> ULONG {
        with_world("DMA_OPERATIONS::GetDmaAlignment", |world| {
            let ddi = Ddi::GetDmaAlignment;
            let mut state = world.lock();
            if !admit(&mut state, ddi, adapter) {
                return DMA_ALIGNMENT;
            }
            state.record(ddi, format!("adapter {:#x} -> {DMA_ALIGNMENT}", adapter.addr()), STATUS_SUCCESS);
            DMA_ALIGNMENT
        })
    }
}

/// An operation the model does not implement: a violation naming it, and a trace line.
fn not_modeled(adapter: PDMA_ADAPTER, operation: &'static str) {
    with_world(operation, |world| {
        let ddi = Ddi::DmaOperation;
        let mut state = world.lock();
        let address = adapter.addr();
        breach(
            &mut state,
            ddi,
            address,
            DmaBreach::NotModeled { operation },
        );
        state.record(
            ddi,
            format!("{operation} on adapter {address:#x}: not modeled"),
            STATUS_NOT_SUPPORTED,
        );
    });
}

portcls_sys::kernel_abi! {
    unsafe fn allocate_adapter_channel(
        adapter: PDMA_ADAPTER,
        _device: PDEVICE_OBJECT,
        _map_registers: ULONG,
        _routine: PDRIVER_CONTROL,
        _context: PVOID,
    ) -> NTSTATUS {
        not_modeled(adapter, "AllocateAdapterChannel");
        STATUS_NOT_SUPPORTED
    }

    unsafe fn flush_adapter_buffers(
        adapter: PDMA_ADAPTER,
        _mdl: PMDL,
        _map_register_base: PVOID,
        _current: PVOID,
        _length: ULONG,
        _write_to_device: BOOLEAN,
    ) -> BOOLEAN {
        not_modeled(adapter, "FlushAdapterBuffers");
        0
    }

    unsafe fn free_adapter_channel(adapter: PDMA_ADAPTER) {
        not_modeled(adapter, "FreeAdapterChannel");
    }

    unsafe fn free_map_registers(adapter: PDMA_ADAPTER, _base: PVOID, _count: ULONG) {
        not_modeled(adapter, "FreeMapRegisters");
    }

    unsafe fn map_transfer(
        adapter: PDMA_ADAPTER,
        _mdl: PMDL,
        _map_register_base: PVOID,
        _current: PVOID,
        _length: *mut ULONG,
        _write_to_device: BOOLEAN,
    ) -> PHYSICAL_ADDRESS {
        not_modeled(adapter, "MapTransfer");
        PHYSICAL_ADDRESS { QuadPart: 0 }
    }

    unsafe fn read_dma_counter(adapter: PDMA_ADAPTER) -> ULONG {
        not_modeled(adapter, "ReadDmaCounter");
        0
    }

    unsafe fn get_scatter_gather_list(
        adapter: PDMA_ADAPTER,
        _device: PDEVICE_OBJECT,
        _mdl: PMDL,
        _current: PVOID,
        _length: ULONG,
        _routine: PDRIVER_LIST_CONTROL,
        _context: PVOID,
        _write_to_device: BOOLEAN,
    ) -> NTSTATUS {
        not_modeled(adapter, "GetScatterGatherList");
        STATUS_NOT_SUPPORTED
    }

    unsafe fn put_scatter_gather_list(
        adapter: PDMA_ADAPTER,
        _list: PSCATTER_GATHER_LIST,
        _write_to_device: BOOLEAN,
    ) {
        not_modeled(adapter, "PutScatterGatherList");
    }

    unsafe fn calculate_scatter_gather_list(
        adapter: PDMA_ADAPTER,
        _mdl: PMDL,
        _current: PVOID,
        _length: ULONG,
        _list_size: *mut ULONG,
        _map_registers: *mut ULONG,
    ) -> NTSTATUS {
        not_modeled(adapter, "CalculateScatterGatherList");
        STATUS_NOT_SUPPORTED
    }

    unsafe fn build_scatter_gather_list(
        adapter: PDMA_ADAPTER,
        _device: PDEVICE_OBJECT,
        _mdl: PMDL,
        _current: PVOID,
        _length: ULONG,
        _routine: PDRIVER_LIST_CONTROL,
        _context: PVOID,
        _write_to_device: BOOLEAN,
        _buffer: PVOID,
        _buffer_length: ULONG,
    ) -> NTSTATUS {
        not_modeled(adapter, "BuildScatterGatherList");
        STATUS_NOT_SUPPORTED
    }

    unsafe fn build_mdl_from_scatter_gather_list(
        adapter: PDMA_ADAPTER,
        _list: PSCATTER_GATHER_LIST,
        _original: PMDL,
        target: *mut PMDL,
    ) -> NTSTATUS {
        if !target.is_null() {
            // SAFETY: a writable out pointer (the routine's contract, checked non-null).
            unsafe { target.write(null_mut()) };
        }
        not_modeled(adapter, "BuildMdlFromScatterGatherList");
        STATUS_NOT_SUPPORTED
    }
}

/// `DMA_OPERATIONS::Size` of the table (128 bytes on 64-bit).
#[allow(clippy::cast_possible_truncation)] // a few hundred bytes at most
const OPERATIONS_SIZE: ULONG = size_of::<DMA_OPERATIONS>() as ULONG;

/// `PAGE_SIZE` as a `ULONG`.
const PAGE_BYTES: ULONG = 4096;
const _: () = assert!(PAGE_BYTES as usize == PAGE_SIZE);

/// The operations table every adapter points to.
static OPERATIONS: DMA_OPERATIONS = DMA_OPERATIONS {
    Size: OPERATIONS_SIZE,
    PutDmaAdapter: put_dma_adapter,
    AllocateCommonBuffer: allocate_common_buffer,
    FreeCommonBuffer: free_common_buffer,
    AllocateAdapterChannel: allocate_adapter_channel,
    FlushAdapterBuffers: flush_adapter_buffers,
    FreeAdapterChannel: free_adapter_channel,
    FreeMapRegisters: free_map_registers,
    MapTransfer: map_transfer,
    GetDmaAlignment: get_dma_alignment,
    ReadDmaCounter: read_dma_counter,
    GetScatterGatherList: get_scatter_gather_list,
    PutScatterGatherList: put_scatter_gather_list,
    CalculateScatterGatherList: calculate_scatter_gather_list,
    BuildScatterGatherList: build_scatter_gather_list,
    BuildMdlFromScatterGatherList: build_mdl_from_scatter_gather_list,
};

impl Sim {
    /// How many DMA adapters the driver holds (returned by `IoGetDmaAdapter`, not yet put).
    #[must_use]
    pub fn dma_adapters(&self) -> usize {
        self.world.lock().dma.live()
    }

    /// How many common buffers are allocated, over every adapter.
    #[must_use]
    pub fn common_buffers(&self) -> usize {
        self.world.lock().dma.common_buffers()
    }
}

/// The device whose PDO is `pdo` is being removed: adapters of it not put are a breach.
pub(crate) fn device_removed(state: &mut State, pdo: usize) {
    for adapter in state.dma.live_for(pdo) {
        breach(
            state,
            Ddi::PcDispatchIrp,
            adapter,
            DmaBreach::NotPutBeforeRemoval,
        );
    }
}
