//! WaveRT streams as the port driver runs them: the port's `IPortWaveRTStream` helper (pages,
//! MDLs, mappings) and the client side that opens a pin, negotiates a buffer, changes state,
//! reads positions and closes, calling the miniport's stream exactly as PortCls does.
//!
//! Every call into the miniport and every page operation is in the trace. What a clean
//! miniport must do is checked, and a breach is a [`Violation`]:
//! - pages are mapped once, unmapped at the address they were mapped at, and unmapped before
//!   they are freed ([`Violation::MdlMisuse`]);
//! - on builds that have packet mode ([`OsProfile::has_packet_interfaces`](crate::OsProfile)),
//!   the port asks a render stream for `IMiniportWaveRTOutputStream` and a capture stream for
//!   `IMiniportWaveRTInputStream` after `NewStream`, as it asks for the notification interface;
//!   an answer from the packet calls that cannot be right (a reserved flag set, a presentation
//!   counter from the future) is a contract breach;
//! - a buffer's reported size fits the pages behind it, its offset is inside the first page,
//!   positions fall inside the buffer, `GetHWLatency` fills every field, a failed `NewStream`
//!   returns no stream, and when the pin closes the miniport stream's last reference goes, the
//!   port stream gets back every reference it lent and every MDL it allocated
//!   ([`Violation::StreamContract`]).

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::ptr::{NonNull, null_mut};
use std::sync::Arc;

use portcls_sys::km::{MEMORY_CACHING_TYPE, PHYSICAL_ADDRESS, PMDL};
use portcls_sys::ks::{
    KSATTRIBUTEID_AUDIOSIGNALPROCESSING_MODE, KSAUDIO_POSITION, KSAUDIO_PRESENTATION_POSITION,
    KSDATAFORMAT_ATTRIBUTES, KSPIN_DATAFLOW_OUT, KSRTAUDIO_HWLATENCY, KSRTAUDIO_HWREGISTER,
    KSSTATE,
};
use portcls_sys::wavert::{
    IID_IMiniportWaveRTInputStream, IID_IMiniportWaveRTOutputStream,
    IID_IMiniportWaveRTStreamNotification, IID_IPortWaveRTStream, IMiniportWaveRTInputStream,
    IMiniportWaveRTInputStreamVtbl, IMiniportWaveRTOutputStream, IMiniportWaveRTOutputStreamVtbl,
    IMiniportWaveRTStream, IMiniportWaveRTStreamNotification,
    IMiniportWaveRTStreamNotificationVtbl, IMiniportWaveRTStreamVtbl, IMiniportWaveRTVtbl,
    IPortWaveRTStream, IPortWaveRTStreamVtbl, PCFILTER_DESCRIPTOR, PCPIN_DESCRIPTOR,
};
use portcls_sys::{
    GUID, IID_IUnknown, IUnknownVtbl, NT_SUCCESS, NTSTATUS, PUNKNOWN, PVOID,
    STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER, STATUS_NOINTERFACE, STATUS_SUCCESS,
    ULONG,
};

use crate::adapter::{PortKind, release_driver_interface, release_driver_reference, vtable_of};
use crate::physical::DmaOwner;
/// The page size the model's MDLs describe (that of its physical memory).
pub use crate::physical::PAGE_SIZE;
use crate::stack::call_driver;
use crate::world::{RefChange, RefHistory, World};
use crate::{Ddi, Sim, Violation, status_name, with_world};

/// `STATUS_DEVICE_BUSY`: every instance the pin allows is open.
pub const STATUS_DEVICE_BUSY: NTSTATUS = 0x8000_0011_u32.cast_signed();

/// Pages behind an MDL the port allocated: a run of the machine's physical memory, open to the
/// device while allocated.
#[derive(Debug)]
pub(crate) struct MdlState {
    /// The host address of the first page (what `MapAllocatedPages` maps them at).
    pages: NonNull<u8>,
    /// The bytes of the whole pages.
    bytes: usize,
    /// The physical address of the first page.
    physical: u64,
    stream: u64,
    mapped: bool,
}

// SAFETY: the pages are the machine's physical memory, which outlives this record; the model
// serialises access to the record.
unsafe impl Send for MdlState {}

/// The port's stream object, as the miniport sees it.
#[repr(C)]
#[derive(Debug)]
struct PortStreamObject {
    vtable: &'static IPortWaveRTStreamVtbl,
    id: u64,
}

/// What the model keeps per stream.
#[derive(Debug, Default)]
pub(crate) struct PortStreamState {
    /// References on the port stream (the port's own included while the pin is open).
    refs: u32,
    /// Its latest reference-count changes.
    history: RefHistory,
    /// Whether the pin is open.
    open: bool,
    fdo: usize,
    subdevice: String,
    pin: u32,
}

/// The streams and pages of the machine.
#[derive(Debug, Default)]
pub(crate) struct Streams {
    states: BTreeMap<u64, PortStreamState>,
    /// The port stream objects (kept until the machine goes, so stale pointers stay readable;
    /// raw, so that handing them out never conflicts with an owner's borrow).
    objects: Vec<NonNull<PortStreamObject>>,
    pub(crate) mdls: BTreeMap<usize, MdlState>,
}

// SAFETY: the objects hold only a 'static vtable reference and an id, and are freed only by
// the machine that owns them.
unsafe impl Send for Streams {}

impl Drop for Streams {
    fn drop(&mut self) {
        for object in self.objects.drain(..) {
            // SAFETY: made by Box::into_raw in `open_stream`, freed only here.
            drop(unsafe { Box::from_raw(object.as_ptr()) });
        }
    }
}

impl Streams {
    /// Whether a pin of device `fdo` is open.
    pub(crate) fn any_open(&self, fdo: usize) -> bool {
        self.states.values().any(|s| s.open && s.fdo == fdo)
    }

    /// How many streams are open on pin `pin` of subdevice `subdevice` of device `fdo`.
    pub(crate) fn open_on(&self, fdo: usize, subdevice: &str, pin: u32) -> u32 {
        let open = self
            .states
            .values()
            .filter(|s| s.open && s.fdo == fdo && s.subdevice == subdevice && s.pin == pin)
            .count();
        u32::try_from(open).unwrap_or(u32::MAX)
    }

    /// Streams still open and MDLs still allocated, for [`Sim::leftovers`].
    pub(crate) fn leftovers(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .states
            .iter()
            .filter(|(_, s)| s.open || s.refs > 0)
            .map(|(id, s)| {
                format!(
                    "stream#{id} on {} pin {} still open ({} reference(s)); history of its port \
                     stream (change -> count @trace index): {}",
                    s.subdevice,
                    s.pin,
                    s.refs,
                    s.history.text()
                )
            })
            .collect();
        out.extend(self.mdls.iter().map(|(address, mdl)| {
            format!(
                "MDL {address:#x} of stream#{} ({} bytes) still allocated{}",
                mdl.stream,
                mdl.bytes,
                if mdl.mapped { " and mapped" } else { "" }
            )
        }));
        out
    }
}

fn stream_id(this: *mut IPortWaveRTStream) -> u64 {
    // SAFETY: the port stream objects the model hands out are never freed while it lives.
    unsafe { (*this.cast::<PortStreamObject>()).id }
}

portcls_sys::kernel_abi! {
    unsafe fn port_stream_query_interface(
        this: PUNKNOWN,
        iid: *const GUID,
        out: *mut PVOID,
    ) -> NTSTATUS {
        crate::stack::model(|| {
            if iid.is_null() || out.is_null() {
                return STATUS_INVALID_PARAMETER;
            }
            // SAFETY: a readable GUID (checked non-null).
            let iid = unsafe { iid.read() };
            if iid == IID_IUnknown || iid == IID_IPortWaveRTStream {
                // SAFETY: `this` is a port stream object.
                unsafe { port_stream_add_ref(this) };
                // SAFETY: writable (checked non-null).
                unsafe { out.write(this.cast()) };
                STATUS_SUCCESS
            } else {
                // SAFETY: as above.
                unsafe { out.write(null_mut()) };
                STATUS_NOINTERFACE
            }
        })
    }
}

portcls_sys::kernel_abi! {
    unsafe fn port_stream_add_ref(this: PUNKNOWN) -> ULONG {
        with_world("IPortWaveRTStream::AddRef", |world| {
            let id = stream_id(this.cast());
            let mut state = world.lock();
            let at = state.trace.len();
            let Some(stream) = state.streams.states.get_mut(&id) else {
                return 0;
            };
            if stream.refs == 0 {
                state.violate(Violation::UseAfterRelease {
                    ddi: Ddi::AddRef,
                    object: id,
                });
                return 0;
            }
            stream.refs += 1;
            stream.history.note("AddRef", Some(stream.refs), at);
            stream.refs
        })
    }
}

portcls_sys::kernel_abi! {
    unsafe fn port_stream_release(this: PUNKNOWN) -> ULONG {
        with_world("IPortWaveRTStream::Release", |world| {
            let id = stream_id(this.cast());
            let mut state = world.lock();
            let at = state.trace.len();
            let Some(stream) = state.streams.states.get_mut(&id) else {
                return 0;
            };
            if stream.refs == 0 {
                state.violate(Violation::OverRelease {
                    ddi: Ddi::Release,
                    object: usize::try_from(id).unwrap_or(usize::MAX),
                });
                return 0;
            }
            stream.refs -= 1;
            stream.history.note("Release", Some(stream.refs), at);
            stream.refs
        })
    }
}

/// An inclusive physical address limit as a driver passes it (negative: none).
fn limit(address: PHYSICAL_ADDRESS) -> u64 {
    // SAFETY: every bit pattern is a valid i64.
    let quad = unsafe { address.QuadPart };
    u64::try_from(quad).unwrap_or(u64::MAX)
}

fn allocate_pages(world: &World, id: u64, bytes: usize, lowest: u64, highest: u64) -> PMDL {
    let mut state = world.lock();
    let ddi = Ddi::AllocatePagesForMdl;
    if !state.irql_ok(ddi, crate::current_irql()) {
        return null_mut();
    }
    if let Some(status) = state.fallible(ddi) {
        state.record(ddi, format!("stream#{id}: {bytes} bytes: injected"), status);
        return null_mut();
    }
    if bytes == 0 {
        state.record(
            ddi,
            format!("stream#{id}: {bytes} bytes"),
            STATUS_INVALID_PARAMETER,
        );
        return null_mut();
    }
    let mdl = state.token();
    let owner = DmaOwner::Mdl {
        stream: id,
        mdl: mdl.addr(),
    };
    // The device is given the pages: each is open to it whole.
    let whole = bytes.div_ceil(PAGE_SIZE) * PAGE_SIZE;
    let Some((physical, pages)) = state.physical.allocate(whole, lowest, highest, owner, 0) else {
        state.record(
            ddi,
            format!("stream#{id}: {bytes} bytes, below {highest:#x}: no pages"),
            STATUS_INSUFFICIENT_RESOURCES,
        );
        return null_mut();
    };
    let bytes = whole;
    state.streams.mdls.insert(
        mdl.addr(),
        MdlState {
            pages,
            bytes,
            physical,
            stream: id,
            mapped: false,
        },
    );
    state.record(
        ddi,
        format!(
            "stream#{id}: {bytes} bytes -> MDL of {} page(s) at physical {physical:#x}",
            bytes / PAGE_SIZE
        ),
        STATUS_SUCCESS,
    );
    mdl.cast()
}

portcls_sys::kernel_abi! {
    unsafe fn allocate_pages_for_mdl(
        this: *mut IPortWaveRTStream,
        high: PHYSICAL_ADDRESS,
        bytes: usize,
    ) -> PMDL {
        with_world("IPortWaveRTStream::AllocatePagesForMdl", |world| {
            let id = stream_id(this);
            allocate_pages(world, id, bytes, 0, limit(high))
        })
    }
}

portcls_sys::kernel_abi! {
    unsafe fn allocate_contiguous_pages_for_mdl(
        this: *mut IPortWaveRTStream,
        low: PHYSICAL_ADDRESS,
        high: PHYSICAL_ADDRESS,
        bytes: usize,
    ) -> PMDL {
        with_world("IPortWaveRTStream::AllocateContiguousPagesForMdl", |world| {
            // SAFETY: every bit pattern is a valid i64.
            let lowest = u64::try_from(unsafe { low.QuadPart }).unwrap_or(0);
            allocate_pages(world, stream_id(this), bytes, lowest, limit(high))
        })
    }
}

portcls_sys::kernel_abi! {
    unsafe fn map_allocated_pages(
        this: *mut IPortWaveRTStream,
        mdl: PMDL,
        cache: MEMORY_CACHING_TYPE,
    ) -> PVOID {
        with_world("IPortWaveRTStream::MapAllocatedPages", |world| {
            let id = stream_id(this);
            let mut state = world.lock();
            let ddi = Ddi::MapAllocatedPages;
            if !state.irql_ok(ddi, crate::current_irql()) {
                return null_mut();
            }
            if let Some(status) = state.fallible(ddi) {
                state.record(ddi, format!("stream#{id}: injected"), status);
                return null_mut();
            }
            let Some(record) = state.streams.mdls.get_mut(&mdl.addr()) else {
                state.violate(Violation::BadObject {
                    ddi,
                    object: mdl.addr(),
                });
                return null_mut();
            };
            if record.mapped {
                state.violate(Violation::MdlMisuse {
                    ddi,
                    mdl: mdl.addr(),
                });
                return null_mut();
            }
            record.mapped = true;
            let address = record.pages.as_ptr();
            state.record(
                ddi,
                format!("stream#{id}: cache type {}", cache.0),
                STATUS_SUCCESS,
            );
            address.cast()
        })
    }
}

portcls_sys::kernel_abi! {
    unsafe fn unmap_allocated_pages(
        this: *mut IPortWaveRTStream,
        base: PVOID,
        mdl: PMDL,
    ) {
        with_world("IPortWaveRTStream::UnmapAllocatedPages", |world| {
            let id = stream_id(this);
            let mut state = world.lock();
            let ddi = Ddi::UnmapAllocatedPages;
            let _ = state.irql_ok(ddi, crate::current_irql());
            let valid = state
                .streams
                .mdls
                .get(&mdl.addr())
                .is_some_and(|r| r.mapped && r.pages.as_ptr().addr() == base.addr());
            if !valid {
                state.violate(Violation::MdlMisuse {
                    ddi,
                    mdl: mdl.addr(),
                });
                return;
            }
            if let Some(record) = state.streams.mdls.get_mut(&mdl.addr()) {
                record.mapped = false;
            }
            state.record(ddi, format!("stream#{id}"), STATUS_SUCCESS);
        });
    }
}

portcls_sys::kernel_abi! {
    unsafe fn free_pages_from_mdl(this: *mut IPortWaveRTStream, mdl: PMDL) {
        with_world("IPortWaveRTStream::FreePagesFromMdl", |world| {
            let id = stream_id(this);
            let mut state = world.lock();
            let ddi = Ddi::FreePagesFromMdl;
            let _ = state.irql_ok(ddi, crate::current_irql());
            match state.streams.mdls.get(&mdl.addr()).map(|r| r.mapped) {
                None => state.violate(Violation::BadObject {
                    ddi,
                    object: mdl.addr(),
                }),
                Some(true) => state.violate(Violation::MdlMisuse {
                    ddi,
                    mdl: mdl.addr(),
                }),
                Some(false) => {
                    if let Some(record) = state.streams.mdls.remove(&mdl.addr()) {
                        state.physical.free(record.physical);
                    }
                    state.record(ddi, format!("stream#{id}"), STATUS_SUCCESS);
                }
            }
        });
    }
}

portcls_sys::kernel_abi! {
    unsafe fn get_physical_pages_count(
        _this: *mut IPortWaveRTStream,
        mdl: PMDL,
    ) -> ULONG {
        with_world("IPortWaveRTStream::GetPhysicalPagesCount", |world| {
            let state = world.lock();
            state.streams.mdls.get(&mdl.addr()).map_or(0, |r| {
                ULONG::try_from(r.bytes / PAGE_SIZE).unwrap_or(ULONG::MAX)
            })
        })
    }
}

portcls_sys::kernel_abi! {
    unsafe fn get_physical_page_address(
        _this: *mut IPortWaveRTStream,
        result: *mut PHYSICAL_ADDRESS,
        mdl: PMDL,
        index: ULONG,
    ) -> *mut PHYSICAL_ADDRESS {
        with_world("IPortWaveRTStream::GetPhysicalPageAddress", |world| {
            let ddi = Ddi::GetPhysicalPageAddress;
            let mut state = world.lock();
            let page = state.streams.mdls.get(&mdl.addr()).map(|r| {
                let index = usize::try_from(index).unwrap_or(usize::MAX);
                (index < r.bytes / PAGE_SIZE).then(|| r.physical + (index * PAGE_SIZE) as u64)
            });
            let address = match page {
                Some(Some(address)) => address,
                Some(None) => {
                    // An index past the MDL's pages.
                    state.violate(Violation::MdlMisuse { ddi, mdl: mdl.addr() });
                    0
                }
                None => {
                    state.violate(Violation::BadObject { ddi, object: mdl.addr() });
                    0
                }
            };
            if !result.is_null() {
                // SAFETY: the caller's return slot (C++ hidden return pointer).
                unsafe {
                    result.write(PHYSICAL_ADDRESS {
                        QuadPart: i64::try_from(address).unwrap_or(0),
                    });
                }
            }
            result
        })
    }
}

static PORT_STREAM_VTBL: IPortWaveRTStreamVtbl = IPortWaveRTStreamVtbl {
    base__: IUnknownVtbl {
        QueryInterface: port_stream_query_interface,
        AddRef: port_stream_add_ref,
        Release: port_stream_release,
    },
    AllocatePagesForMdl: allocate_pages_for_mdl,
    AllocateContiguousPagesForMdl: allocate_contiguous_pages_for_mdl,
    MapAllocatedPages: map_allocated_pages,
    UnmapAllocatedPages: unmap_allocated_pages,
    FreePagesFromMdl: free_pages_from_mdl,
    GetPhysicalPagesCount: get_physical_pages_count,
    GetPhysicalPageAddress: get_physical_page_address,
};

/// The buffer a stream allocated, as the port received it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamBuffer {
    /// The MDL.
    pub mdl: usize,
    /// `ActualSize`.
    pub size: u32,
    /// `OffsetFromFirstPage`.
    pub offset: u32,
    /// `CacheType`.
    pub cache: i32,
    /// `NotificationCount` (0 for `AllocateAudioBuffer`).
    pub notifications: u32,
}

/// An open WaveRT pin: the client's handle on one miniport stream. Closing it (or dropping it)
/// runs PortCls's close sequence.
#[derive(Debug)]
pub struct Stream {
    world: Arc<World>,
    id: u64,
    miniport: NonNull<IMiniportWaveRTStream>,
    notification: Option<NonNull<IMiniportWaveRTStreamNotification>>,
    /// `IMiniportWaveRTOutputStream`, for a render stream on a build with packet mode.
    output: Option<NonNull<IMiniportWaveRTOutputStream>>,
    /// `IMiniportWaveRTInputStream`, for a capture stream on a build with packet mode.
    input: Option<NonNull<IMiniportWaveRTInputStream>>,
    port_object: *mut IPortWaveRTStream,
    capture: bool,
    state: u32,
    buffer: Option<StreamBuffer>,
    event: Option<Box<[u64; 3]>>,
    closed: bool,
}

/// A client's `KSDATARANGE_AUDIO` (88 bytes, as a pin-create or intersection request carries
/// it): audio of `sub_format` (PCM or IEEE float, WAVEFORMATEX specifier), up to `channels`
/// channels, `bits` bits per sample and `rates` frames per second (inclusive ranges).
#[must_use]
pub fn audio_range(
    sub_format: GUID,
    channels: u32,
    bits: std::ops::RangeInclusive<u32>,
    rates: std::ops::RangeInclusive<u32>,
) -> Vec<u8> {
    let guid = |g: GUID| {
        let mut out = Vec::with_capacity(16);
        out.extend_from_slice(&g.Data1.to_le_bytes());
        out.extend_from_slice(&g.Data2.to_le_bytes());
        out.extend_from_slice(&g.Data3.to_le_bytes());
        out.extend_from_slice(&g.Data4);
        out
    };
    let mut out = Vec::with_capacity(88);
    for word in [88u32, 0, 0, 0] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.extend(guid(portcls_sys::ks::KSDATAFORMAT_TYPE_AUDIO));
    out.extend(guid(sub_format));
    out.extend(guid(portcls_sys::ks::KSDATAFORMAT_SPECIFIER_WAVEFORMATEX));
    for word in [
        channels,
        *bits.start(),
        *bits.end(),
        *rates.start(),
        *rates.end(),
    ] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    // The structure's tail padding (KSDATAFORMAT is 8-byte aligned): 84 -> 88 bytes.
    out.resize(88, 0);
    out
}

/// What KS checks of a client's data format before any driver sees it: at least a
/// `KSDATAFORMAT` header, and a `FormatSize` equal to the bytes the client passed; or, for a
/// format flagged `KSDATAFORMAT_ATTRIBUTES`, an attribute list at the 8-byte boundary after
/// `FormatSize` whose `KSMULTIPLE_ITEM.Size` (at least its header) ends the buffer. What the
/// list's attributes say is left to the driver.
fn ks_accepts_format(format: &[u8]) -> bool {
    let word = |at: usize| {
        format
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
    };
    let (Some(stated), Some(flags)) = (word(0), word(4)) else {
        return false;
    };
    if format.len() < 64 {
        return false;
    }
    if flags & KSDATAFORMAT_ATTRIBUTES == 0 {
        return stated as usize == format.len();
    }
    let start = (stated as usize).div_ceil(8) * 8;
    word(start).is_some_and(|size| {
        size as usize >= 8
            && start.checked_add(size as usize) == Some(format.len())
            && stated as usize <= format.len()
    })
}

/// An attribute list naming signal-processing `mode` (a `KSMULTIPLE_ITEM` and one
/// `KSATTRIBUTE_AUDIOSIGNALPROCESSING_MODE`: 48 bytes), as a client puts it after a pin-create
/// format or after the `KSP_PIN` of a `KSPROPERTY_PIN_PROPOSEDATAFORMAT2` request.
#[must_use]
pub fn mode_attribute_list(mode: GUID) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    for word in [48u32, 1, 40, 0] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.extend(guid_bytes(KSATTRIBUTEID_AUDIOSIGNALPROCESSING_MODE));
    out.extend(guid_bytes(mode));
    out
}

/// `format` (the bytes of a `KSDATAFORMAT`, `FormatSize` long) flagged `KSDATAFORMAT_ATTRIBUTES`
/// and followed, at the next 8-byte boundary, by `list` (any bytes: a well-formed list from
/// [`mode_attribute_list`] or a deliberately broken one).
#[must_use]
pub fn with_attribute_list(format: &[u8], list: &[u8]) -> Vec<u8> {
    let mut out = format.to_vec();
    if let Some(flags) = out.get_mut(4..8) {
        let value =
            u32::from_le_bytes(flags.try_into().unwrap_or([0; 4])) | KSDATAFORMAT_ATTRIBUTES;
        flags.copy_from_slice(&value.to_le_bytes());
    }
    out.resize(out.len().div_ceil(8) * 8, 0);
    out.extend_from_slice(list);
    out
}

/// `format` asking for signal-processing `mode`: [`with_attribute_list`] of
/// [`mode_attribute_list`].
#[must_use]
pub fn with_mode(format: &[u8], mode: GUID) -> Vec<u8> {
    with_attribute_list(format, &mode_attribute_list(mode))
}

/// A GUID's 16 bytes as they lie in memory.
fn guid_bytes(guid: GUID) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&guid.Data1.to_le_bytes());
    out.extend_from_slice(&guid.Data2.to_le_bytes());
    out.extend_from_slice(&guid.Data3.to_le_bytes());
    out.extend_from_slice(&guid.Data4);
    out
}

/// The pin descriptor `pin` of `descriptor`, if it has one.
///
/// # Safety
/// `descriptor` is a live filter descriptor.
unsafe fn pin_descriptor(
    descriptor: *const PCFILTER_DESCRIPTOR,
    pin: u32,
) -> Option<&'static PCPIN_DESCRIPTOR> {
    if descriptor.is_null() {
        return None;
    }
    // SAFETY: caller's contract.
    let filter = unsafe { &*descriptor };
    if pin >= filter.PinCount || filter.Pins.is_null() {
        return None;
    }
    let stride = usize::try_from(filter.PinSize).ok()?;
    let offset = stride.checked_mul(usize::try_from(pin).ok()?)?;
    // SAFETY: `pin < PinCount` pins of `PinSize` bytes each (the KS rules check the size).
    let at = unsafe { filter.Pins.cast::<u8>().add(offset) };
    // PinSize is a multiple of 8 (a KS rule the model checks), so every pin stays aligned.
    #[allow(clippy::cast_ptr_alignment)]
    let at = at.cast::<PCPIN_DESCRIPTOR>();
    // SAFETY: as above: a pin descriptor of the live filter.
    Some(unsafe { &*at })
}

impl Sim {
    /// Negotiates a format for pin `pin` of `subdevice` as PortCls does before a pin is made:
    /// `DataRangeIntersection` with the client's range (the bytes of a `KSDATARANGE_AUDIO`) and
    /// the pin's first data range, first with no output buffer (the miniport reports the size
    /// with `STATUS_BUFFER_OVERFLOW`), then with a buffer of that size. Returns the format.
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER` for an unknown subdevice or pin, or what the miniport
    /// answered (a probe that does not report a size is an error too).
    pub fn negotiate(
        &self,
        fdo: portcls_sys::PDEVICE_OBJECT,
        subdevice: &str,
        pin: u32,
        client_range: &[u8],
    ) -> Result<Vec<u8>, NTSTATUS> {
        let info = self
            .subdevices(fdo)
            .into_iter()
            .find(|s| s.name == subdevice)
            .ok_or(STATUS_INVALID_PARAMETER)?;
        let miniport = self
            .miniport(fdo, subdevice)
            .ok_or(STATUS_INVALID_PARAMETER)?;
        // SAFETY: the miniport's descriptor, live while the device is.
        let pin_descriptor =
            unsafe { pin_descriptor(info.descriptor, pin) }.ok_or(STATUS_INVALID_PARAMETER)?;
        let ranges = &pin_descriptor.KsPinDescriptor;
        let matching = if ranges.DataRangesCount == 0 || ranges.DataRanges.is_null() {
            return Err(STATUS_INVALID_PARAMETER);
        } else {
            // SAFETY: at least one pointer to the miniport's static data range.
            unsafe { ranges.DataRanges.read() }
        };
        let mut range = vec![0u64; client_range.len().div_ceil(8).max(1)];
        let range_bytes = range.as_mut_ptr().cast::<u8>();
        // SAFETY: the storage holds the client's bytes; no overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(client_range.as_ptr(), range_bytes, client_range.len());
        }
        // SAFETY: a live miniport's vtable begins with IMiniport's.
        let vtable: portcls_sys::wavert::IMiniportVtbl = unsafe { vtable_of(miniport.cast()) };
        let call = |out: &mut [u8]| {
            let mut written = 0u32;
            let args = (
                miniport.cast(),
                pin,
                range_bytes.cast(),
                matching,
                u32::try_from(out.len()).unwrap_or(u32::MAX),
                if out.is_empty() {
                    null_mut()
                } else {
                    out.as_mut_ptr().cast()
                },
                &raw mut written,
            );
            let (entry, intersect) = (
                "IMiniport::DataRangeIntersection",
                vtable.DataRangeIntersection,
            );
            // SAFETY: the arguments PortCls passes: readable ranges, a writable buffer of the
            // given length (null when empty) and a writable size.
            let status = unsafe { call_driver(&self.world, entry, intersect, args) };
            (status, written)
        };
        let (status, needed) = call(&mut []);
        self.world.lock().record(
            Ddi::DataRangeIntersection,
            format!("{subdevice} pin {pin}: size probe -> {needed} bytes"),
            status,
        );
        if status != crate::property::STATUS_BUFFER_OVERFLOW || needed == 0 || needed > 4096 {
            return Err(if NT_SUCCESS(status) {
                STATUS_INVALID_PARAMETER
            } else {
                status
            });
        }
        let mut out = vec![0u8; needed as usize];
        let (status, written) = call(&mut out);
        self.world.lock().record(
            Ddi::DataRangeIntersection,
            format!("{subdevice} pin {pin}: {needed}-byte buffer -> {written} bytes"),
            status,
        );
        if !NT_SUCCESS(status) {
            return Err(status);
        }
        out.truncate(written as usize);
        Ok(out)
    }

    /// Opens pin `pin` of wave subdevice `subdevice` with `format` (the bytes of a
    /// `KSDATAFORMAT`, as a client's pin-create request carries them, with its attribute list
    /// when flagged: see [`with_mode`]), as PortCls does: a port stream, then
    /// `IMiniportWaveRT::NewStream`, then a query for the notification interface.
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER` for an unknown subdevice or pin, or a format KS itself refuses
    /// (shorter than a `KSDATAFORMAT`, or a `FormatSize` other than its length, or an attribute
    /// list whose `Size` does not end the buffer);
    /// `STATUS_DEVICE_BUSY` when the pin's instances are all open; or what `NewStream`
    /// returned.
    pub fn open_stream(
        &self,
        fdo: portcls_sys::PDEVICE_OBJECT,
        subdevice: &str,
        pin: u32,
        format: &[u8],
    ) -> Result<Stream, NTSTATUS> {
        // A pin open is an access: a device the idle timer powered down returns to D0 first.
        self.note_access(fdo);
        let Some(info) = self
            .subdevices(fdo)
            .into_iter()
            .find(|s| s.name == subdevice && s.kind == PortKind::WaveRt)
        else {
            return Err(STATUS_INVALID_PARAMETER);
        };
        let Some(miniport) = self.miniport(fdo, subdevice) else {
            return Err(STATUS_INVALID_PARAMETER);
        };
        if !ks_accepts_format(format) {
            return Err(self.world.lock().record(
                Ddi::NewStream,
                format!("{subdevice} pin {pin}: KS refused a data format whose size lies"),
                STATUS_INVALID_PARAMETER,
            ));
        }
        // SAFETY: the miniport's descriptor, live while the device is.
        let Some(pin_descriptor) = (unsafe { pin_descriptor(info.descriptor, pin) }) else {
            return Err(STATUS_INVALID_PARAMETER);
        };
        let capture = pin_descriptor.KsPinDescriptor.DataFlow == KSPIN_DATAFLOW_OUT;
        let id =
            self.reserve_instance(fdo, subdevice, pin, pin_descriptor.MaxFilterInstanceCount)?;
        let object = NonNull::from(Box::leak(Box::new(PortStreamObject {
            vtable: &PORT_STREAM_VTBL,
            id,
        })));
        self.world.lock().streams.objects.push(object);
        let port_stream = object.as_ptr().cast::<IPortWaveRTStream>();
        // The format in 8-byte aligned storage, as KS hands it over.
        let mut storage = vec![0u64; format.len().div_ceil(8).max(8)];
        let bytes = storage.as_mut_ptr().cast::<u8>();
        // SAFETY: `storage` holds at least `format.len()` bytes; the regions do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(format.as_ptr(), bytes, format.len()) };
        let start = self.world.lock().trace.len();
        // SAFETY: the bound miniport of a WaveRT port implements IMiniportWaveRT.
        let vtable: IMiniportWaveRTVtbl = unsafe { vtable_of(miniport.cast()) };
        let mut raw: *mut IMiniportWaveRTStream = null_mut();
        let args = (
            miniport.cast(),
            &raw mut raw,
            port_stream,
            pin,
            u8::from(capture),
            bytes.cast(),
        );
        let entry = "IMiniportWaveRT::NewStream";
        // SAFETY: a live miniport; every pointer is valid for the call.
        let status = unsafe { call_driver(&self.world, entry, vtable.NewStream, args) };
        drop(storage);
        let detail = format!(
            "stream#{id}: {subdevice} pin {pin} ({}), {} format bytes",
            if capture { "capture" } else { "render" },
            format.len()
        );
        self.world
            .lock()
            .record_at(start, Ddi::NewStream, detail, status);
        let stream = NonNull::new(raw).filter(|_| NT_SUCCESS(status));
        let Some(stream) = stream else {
            let mut state = self.world.lock();
            if !raw.is_null() {
                state.violate(Violation::StreamContract {
                    ddi: Ddi::NewStream,
                    stream: id,
                });
            }
            drop(state);
            close_port_stream(&self.world, id, port_stream);
            return Err(if NT_SUCCESS(status) {
                STATUS_INVALID_PARAMETER
            } else {
                status
            });
        };
        let notification = take_stream(&self.world, id, stream);
        let (output, input) = query_packets(&self.world, id, stream, capture);
        Ok(Stream {
            world: Arc::clone(&self.world),
            id,
            miniport: stream,
            notification,
            output,
            input,
            port_object: port_stream,
            capture,
            state: 0,
            buffer: None,
            event: None,
            closed: false,
        })
    }

    /// Counts the pin's open instances against its limit and reserves a port stream id.
    fn reserve_instance(
        &self,
        fdo: portcls_sys::PDEVICE_OBJECT,
        subdevice: &str,
        pin: u32,
        limit: u32,
    ) -> Result<u64, NTSTATUS> {
        let mut state = self.world.lock();
        let open = state.streams.open_on(fdo.addr(), subdevice, pin);
        if open >= limit {
            return Err(state.record(
                Ddi::NewStream,
                format!("{subdevice} pin {pin}: {open} of {limit} instance(s) open"),
                STATUS_DEVICE_BUSY,
            ));
        }
        let id = state.next_id();
        let mut history = RefHistory::default();
        history.note("created", Some(1), state.trace.len());
        state.streams.states.insert(
            id,
            PortStreamState {
                refs: 1,
                history,
                open: true,
                fdo: fdo.addr(),
                subdevice: subdevice.to_owned(),
                pin,
            },
        );
        Ok(id)
    }
}

/// Books the miniport stream `NewStream` handed over, and queries its notification interface
/// (booked too, when there is one).
fn take_stream(
    world: &World,
    id: u64,
    stream: NonNull<IMiniportWaveRTStream>,
) -> Option<NonNull<IMiniportWaveRTStreamNotification>> {
    let role = format!("miniport stream of stream#{id}");
    world
        .lock()
        .driver_reference(stream.as_ptr().addr(), &role, RefChange::Taken("NewStream"));
    // SAFETY: a live miniport stream.
    let unknown: IUnknownVtbl = unsafe { vtable_of(stream.as_ptr().cast()) };
    let mut notification: PVOID = null_mut();
    let iid = IID_IMiniportWaveRTStreamNotification;
    let args = (
        stream.as_ptr().cast(),
        &raw const iid,
        &raw mut notification,
    );
    let query = unknown.QueryInterface;
    // SAFETY: as above; `notification` is writable.
    let status = unsafe { call_driver(world, "IUnknown::QueryInterface", query, args) };
    let notification = NonNull::new(notification.cast::<IMiniportWaveRTStreamNotification>())
        .filter(|_| NT_SUCCESS(status))?;
    world.lock().driver_reference(
        notification.as_ptr().addr(),
        &role,
        RefChange::Taken("QueryInterface"),
    );
    Some(notification)
}

/// The packet-mode interface of a new stream, on builds that have packet mode: render streams
/// are asked for `IMiniportWaveRTOutputStream`, capture streams for
/// `IMiniportWaveRTInputStream`.
fn query_packets(
    world: &World,
    id: u64,
    stream: NonNull<IMiniportWaveRTStream>,
    capture: bool,
) -> (
    Option<NonNull<IMiniportWaveRTOutputStream>>,
    Option<NonNull<IMiniportWaveRTInputStream>>,
) {
    if !world.lock().profile.has_packet_interfaces() {
        return (None, None);
    }
    if capture {
        let input = query_stream(world, id, stream, IID_IMiniportWaveRTInputStream);
        (None, input.map(NonNull::cast))
    } else {
        let output = query_stream(world, id, stream, IID_IMiniportWaveRTOutputStream);
        (output.map(NonNull::cast), None)
    }
}

/// Queries a miniport stream for interface `iid` as the port does, booking the reference the
/// answer carries under the stream object's identity (the packet interfaces derive from
/// `IUnknown` alone, so a stream answers them at another address of the same object).
fn query_stream(
    world: &World,
    id: u64,
    stream: NonNull<IMiniportWaveRTStream>,
    iid: GUID,
) -> Option<NonNull<c_void>> {
    // SAFETY: a live miniport stream.
    let unknown: IUnknownVtbl = unsafe { vtable_of(stream.as_ptr().cast()) };
    let mut interface: PVOID = null_mut();
    let args = (stream.as_ptr().cast(), &raw const iid, &raw mut interface);
    let query = unknown.QueryInterface;
    // SAFETY: as above; `interface` is writable.
    let status = unsafe { call_driver(world, "IUnknown::QueryInterface", query, args) };
    let interface = NonNull::new(interface).filter(|_| NT_SUCCESS(status))?;
    world.lock().driver_reference(
        stream.as_ptr().addr(),
        &format!("miniport stream of stream#{id}"),
        RefChange::Taken("QueryInterface"),
    );
    Some(interface)
}

/// The port drops its own reference on a port stream when the pin closes, and checks that the
/// miniport gave back everything.
fn close_port_stream(world: &World, id: u64, port_stream: *mut IPortWaveRTStream) {
    // SAFETY: the port's own reference, taken when the stream was made.
    unsafe { port_stream_release(port_stream.cast()) };
    let mut state = world.lock();
    let leaked_refs = state.streams.states.get(&id).is_some_and(|s| s.refs > 0);
    let leaked_mdl = state.streams.mdls.values().any(|m| m.stream == id);
    if let Some(stream) = state.streams.states.get_mut(&id) {
        stream.open = false;
        let fdo = stream.fdo;
        state.note_idle_access(fdo);
    }
    if leaked_refs || leaked_mdl {
        state.violate(Violation::StreamContract {
            ddi: Ddi::CloseStream,
            stream: id,
        });
    }
}

impl Stream {
    fn vtable(&self) -> IMiniportWaveRTStreamVtbl {
        // SAFETY: a live miniport stream (the handle holds its reference).
        unsafe { vtable_of(self.miniport.as_ptr().cast()) }
    }

    fn notification_vtable(&self) -> Option<IMiniportWaveRTStreamNotificationVtbl> {
        let raw = self.notification?;
        // SAFETY: the interface pointer the stream handed out, referenced by this handle.
        Some(unsafe { vtable_of(raw.as_ptr().cast()) })
    }

    /// Where the trace stands (to record a call before what it caused).
    fn mark(&self) -> usize {
        self.world.lock().trace.len()
    }

    fn record(&self, start: usize, ddi: Ddi, detail: &str, status: NTSTATUS) -> NTSTATUS {
        self.world
            .lock()
            .record_at(start, ddi, format!("stream#{}: {detail}", self.id), status)
    }

    /// The stream's id in the trace.
    #[must_use]
    pub const fn id(&self) -> u64 {
        self.id
    }

    /// The miniport stream's interface pointer, for tests that call it from several threads
    /// (valid until the handle closes).
    #[must_use]
    pub const fn raw(&self) -> *mut IMiniportWaveRTStream {
        self.miniport.as_ptr()
    }

    /// Tells the handle the state a test set through [`Stream::raw`], so that closing steps
    /// down from there.
    pub const fn assume_state(&mut self, state: u32) {
        self.state = state;
    }

    /// Whether the pin is a capture pin.
    #[must_use]
    pub const fn is_capture(&self) -> bool {
        self.capture
    }

    /// Whether the stream implements `IMiniportWaveRTStreamNotification`.
    #[must_use]
    pub const fn supports_notification(&self) -> bool {
        self.notification.is_some()
    }

    /// The buffer, once allocated.
    #[must_use]
    pub const fn buffer(&self) -> Option<StreamBuffer> {
        self.buffer
    }

    /// `SetFormat` with the bytes of a `KSDATAFORMAT`.
    pub fn set_format(&mut self, format: &[u8]) -> NTSTATUS {
        let start = self.mark();
        if !ks_accepts_format(format) {
            return self.record(
                start,
                Ddi::SetFormat,
                "KS refused a data format whose size lies",
                STATUS_INVALID_PARAMETER,
            );
        }
        let mut storage = vec![0u64; format.len().div_ceil(8).max(8)];
        let bytes = storage.as_mut_ptr().cast::<u8>();
        // SAFETY: `storage` holds at least `format.len()` bytes; no overlap.
        unsafe { std::ptr::copy_nonoverlapping(format.as_ptr(), bytes, format.len()) };
        let args = (self.miniport.as_ptr(), bytes.cast());
        let (entry, set_format) = ("IMiniportWaveRTStream::SetFormat", self.vtable().SetFormat);
        // SAFETY: a live stream and a readable format.
        let status = unsafe { call_driver(&self.world, entry, set_format, args) };
        self.record(
            start,
            Ddi::SetFormat,
            &format!("{} bytes", format.len()),
            status,
        )
    }

    /// Allocates the cyclic buffer: `AllocateBufferWithNotification` when `notifications` is
    /// non-zero (the stream must support it), else `AllocateAudioBuffer`.
    ///
    /// # Errors
    /// The miniport's status; `STATUS_NOINTERFACE` for notifications on a stream without them.
    pub fn allocate_buffer(
        &mut self,
        notifications: u32,
        requested: u32,
    ) -> Result<StreamBuffer, NTSTATUS> {
        let start = self.mark();
        let mut mdl: PMDL = null_mut();
        let mut size: ULONG = 0;
        let mut offset: ULONG = 0;
        let mut cache = MEMORY_CACHING_TYPE(-1);
        let (ddi, status) = if notifications == 0 {
            let vtable = self.vtable();
            let args = (
                self.miniport.as_ptr(),
                requested,
                &raw mut mdl,
                &raw mut size,
                &raw mut offset,
                &raw mut cache,
            );
            let entry = "IMiniportWaveRTStream::AllocateAudioBuffer";
            // SAFETY: a live stream; every out pointer is writable.
            let status =
                unsafe { call_driver(&self.world, entry, vtable.AllocateAudioBuffer, args) };
            (Ddi::AllocateAudioBuffer, status)
        } else {
            let (Some(vtable), Some(raw)) = (self.notification_vtable(), self.notification) else {
                return Err(STATUS_NOINTERFACE);
            };
            let args = (
                raw.as_ptr(),
                notifications,
                requested,
                &raw mut mdl,
                &raw mut size,
                &raw mut offset,
                &raw mut cache,
            );
            let (entry, allocate) = (
                "IMiniportWaveRTStreamNotification::AllocateBufferWithNotification",
                vtable.AllocateBufferWithNotification,
            );
            // SAFETY: as above, through the notification interface.
            let status = unsafe { call_driver(&self.world, entry, allocate, args) };
            (Ddi::AllocateBufferWithNotification, status)
        };
        let detail = format!(
            "{requested} bytes, {notifications} notification(s) -> {size} bytes at offset {offset}"
        );
        self.record(start, ddi, &detail, status);
        if !NT_SUCCESS(status) {
            return Err(status);
        }
        let mut state = self.world.lock();
        let sound = state.streams.mdls.get(&mdl.addr()).is_some_and(|m| {
            m.stream == self.id
                && m.mapped
                && (offset as usize) < PAGE_SIZE
                && size > 0
                && offset as usize + size as usize <= m.bytes
        });
        if !sound {
            state.violate(Violation::StreamContract {
                ddi,
                stream: self.id,
            });
            return Err(STATUS_INVALID_PARAMETER);
        }
        let buffer = StreamBuffer {
            mdl: mdl.addr(),
            size,
            offset,
            cache: cache.0,
            notifications,
        };
        self.buffer = Some(buffer);
        Ok(buffer)
    }

    /// Frees the buffer through the call matching its allocation.
    pub fn free_buffer(&mut self) {
        let start = self.mark();
        let Some(buffer) = self.buffer.take() else {
            return;
        };
        let mdl: PMDL = std::ptr::without_provenance_mut(buffer.mdl);
        if buffer.notifications == 0 {
            let args = (self.miniport.as_ptr(), mdl, buffer.size);
            let (entry, free) = (
                "IMiniportWaveRTStream::FreeAudioBuffer",
                self.vtable().FreeAudioBuffer,
            );
            // SAFETY: the MDL and size the stream returned.
            unsafe { call_driver(&self.world, entry, free, args) };
        } else if let (Some(vtable), Some(raw)) = (self.notification_vtable(), self.notification) {
            let args = (raw.as_ptr(), mdl, buffer.size);
            let (entry, free) = (
                "IMiniportWaveRTStreamNotification::FreeBufferWithNotification",
                vtable.FreeBufferWithNotification,
            );
            // SAFETY: as above.
            unsafe { call_driver(&self.world, entry, free, args) };
        }
        self.record(
            start,
            Ddi::FreeBuffer,
            &format!("{} bytes", buffer.size),
            STATUS_SUCCESS,
        );
        let mut state = self.world.lock();
        if state.streams.mdls.contains_key(&buffer.mdl) {
            state.violate(Violation::StreamContract {
                ddi: Ddi::FreeBuffer,
                stream: self.id,
            });
        }
    }

    /// The buffer's current contents (what a capture client reads).
    #[must_use]
    pub fn read_buffer(&self) -> Vec<u8> {
        let Some(buffer) = self.buffer else {
            return Vec::new();
        };
        let state = self.world.lock();
        let Some(mdl) = state.streams.mdls.get(&buffer.mdl) else {
            return Vec::new();
        };
        // SAFETY: the pages hold offset + size bytes (checked at allocation); the world lock
        // keeps them alive; the engine writes them only from system threads, which the test
        // runs in lock step (they are quiescent between `advance` calls).
        let start = unsafe { mdl.pages.as_ptr().add(buffer.offset as usize) };
        // SAFETY: as above.
        unsafe { std::slice::from_raw_parts(start, buffer.size as usize) }.to_vec()
    }

    /// Writes `data` into the buffer at `offset` (what a render client does), wrapping.
    pub fn write_buffer(&self, offset: u32, data: &[u8]) {
        let Some(buffer) = self.buffer.filter(|b| b.size > 0) else {
            return;
        };
        let state = self.world.lock();
        let Some(mdl) = state.streams.mdls.get(&buffer.mdl) else {
            return;
        };
        let base = mdl.pages.as_ptr();
        for (i, byte) in data.iter().enumerate() {
            let at = (offset as usize + i) % buffer.size as usize + buffer.offset as usize;
            // SAFETY: `at` < offset + size, inside the pages (as in `read_buffer`).
            let slot = unsafe { base.add(at) };
            // SAFETY: as above.
            unsafe { slot.write(*byte) };
        }
    }

    /// Registers a notification event the model made (a synchronization event, as the audio
    /// engine's are).
    pub fn register_event(&mut self) -> NTSTATUS {
        let start = self.mark();
        let (Some(vtable), Some(raw)) = (self.notification_vtable(), self.notification) else {
            return STATUS_NOINTERFACE;
        };
        let event = self.event.get_or_insert_with(|| Box::new([0; 3]));
        let address = std::ptr::from_mut(&mut **event).cast::<c_void>();
        // SAFETY: 24 bytes of 8-aligned storage that stay put while registered.
        unsafe { crate::sched::KeInitializeEvent(address, crate::sched::SYNCHRONIZATION_EVENT, 0) };
        let args = (raw.as_ptr(), address.cast());
        let (entry, register) = (
            "IMiniportWaveRTStreamNotification::RegisterNotificationEvent",
            vtable.RegisterNotificationEvent,
        );
        // SAFETY: a live stream and an initialised event.
        let status = unsafe { call_driver(&self.world, entry, register, args) };
        self.record(start, Ddi::RegisterNotificationEvent, "", status)
    }

    /// Unregisters the event.
    pub fn unregister_event(&mut self) -> NTSTATUS {
        let start = self.mark();
        let (Some(vtable), Some(raw), Some(event)) = (
            self.notification_vtable(),
            self.notification,
            self.event.as_mut(),
        ) else {
            return STATUS_INVALID_PARAMETER;
        };
        let address = std::ptr::from_mut(&mut **event).cast::<c_void>();
        let args = (raw.as_ptr(), address.cast());
        let (entry, unregister) = (
            "IMiniportWaveRTStreamNotification::UnregisterNotificationEvent",
            vtable.UnregisterNotificationEvent,
        );
        // SAFETY: a live stream and the event registered before.
        let status = unsafe { call_driver(&self.world, entry, unregister, args) };
        self.record(start, Ddi::UnregisterNotificationEvent, "", status)
    }

    /// How many times the miniport signalled the registered event.
    #[must_use]
    pub fn event_signals(&self) -> u64 {
        let Some(event) = self.event.as_ref() else {
            return 0;
        };
        let address = std::ptr::from_ref(&**event).addr();
        self.world.lock().events.get(&address).map_or(0, |e| e.sets)
    }

    /// `SetState` with a raw `KSSTATE`.
    pub fn set_state(&mut self, state: u32) -> NTSTATUS {
        let start = self.mark();
        let args = (self.miniport.as_ptr(), KSSTATE(state.cast_signed()));
        let (entry, set_state) = ("IMiniportWaveRTStream::SetState", self.vtable().SetState);
        // SAFETY: a live stream.
        let status = unsafe { call_driver(&self.world, entry, set_state, args) };
        if NT_SUCCESS(status) {
            self.state = state;
        }
        self.record(
            start,
            Ddi::SetState,
            &format!("-> {}", state_name(state)),
            status,
        )
    }

    /// Steps the state one `KSSTATE` at a time to `target`, as PortCls does; stops at the
    /// first failure.
    pub fn walk_to(&mut self, target: u32) -> NTSTATUS {
        while self.state != target {
            let next = if self.state < target {
                self.state + 1
            } else {
                self.state - 1
            };
            let status = self.set_state(next);
            if !NT_SUCCESS(status) {
                return status;
            }
        }
        STATUS_SUCCESS
    }

    /// `GetPosition`: `(PlayOffset, WriteOffset)`.
    ///
    /// # Errors
    /// The miniport's status.
    pub fn position(&self) -> Result<(u64, u64), NTSTATUS> {
        let mut position = KSAUDIO_POSITION {
            PlayOffset: u64::MAX,
            WriteOffset: u64::MAX,
        };
        let args = (self.miniport.as_ptr(), &raw mut position);
        let (entry, get) = (
            "IMiniportWaveRTStream::GetPosition",
            self.vtable().GetPosition,
        );
        // SAFETY: a live stream and a writable position.
        let status = unsafe { call_driver(&self.world, entry, get, args) };
        if !NT_SUCCESS(status) {
            return Err(status);
        }
        let size = u64::from(self.buffer.map_or(0, |b| b.size));
        if size > 0 && (position.PlayOffset >= size || position.WriteOffset >= size) {
            self.world.lock().violate(Violation::StreamContract {
                ddi: Ddi::GetPosition,
                stream: self.id,
            });
        }
        Ok((position.PlayOffset, position.WriteOffset))
    }

    /// `GetHWLatency`; a field the miniport left unwritten is a contract breach.
    #[must_use]
    pub fn hw_latency(&self) -> KSRTAUDIO_HWLATENCY {
        let start = self.mark();
        let mut latency = KSRTAUDIO_HWLATENCY {
            FifoSize: u32::MAX,
            ChipsetDelay: u32::MAX,
            CodecDelay: u32::MAX,
        };
        let args = (self.miniport.as_ptr(), &raw mut latency);
        let (entry, get) = (
            "IMiniportWaveRTStream::GetHWLatency",
            self.vtable().GetHWLatency,
        );
        // SAFETY: a live stream and a writable struct.
        unsafe { call_driver(&self.world, entry, get, args) };
        if [latency.FifoSize, latency.ChipsetDelay, latency.CodecDelay].contains(&u32::MAX) {
            self.world.lock().violate(Violation::StreamContract {
                ddi: Ddi::GetHwLatency,
                stream: self.id,
            });
        }
        self.record(
            start,
            Ddi::GetHwLatency,
            &format!(
                "fifo {} bytes, chipset {} / codec {} x 100 ns",
                latency.FifoSize, latency.ChipsetDelay, latency.CodecDelay
            ),
            STATUS_SUCCESS,
        );
        latency
    }

    /// `GetPositionRegister` and `GetClockRegister`'s statuses.
    #[must_use]
    pub fn registers(&self) -> (NTSTATUS, NTSTATUS) {
        let start = self.mark();
        let vtable = self.vtable();
        let mut register = KSRTAUDIO_HWREGISTER {
            Register: null_mut(),
            Width: 0,
            Numerator: 0,
            Denominator: 0,
            Accuracy: 0,
        };
        let args = (self.miniport.as_ptr(), &raw mut register);
        let entry = "IMiniportWaveRTStream::GetPositionRegister";
        // SAFETY: a live stream and a writable struct.
        let position = unsafe { call_driver(&self.world, entry, vtable.GetPositionRegister, args) };
        let entry = "IMiniportWaveRTStream::GetClockRegister";
        // SAFETY: as above.
        let clock = unsafe { call_driver(&self.world, entry, vtable.GetClockRegister, args) };
        self.record(
            start,
            Ddi::GetRegister,
            &format!(
                "position {}, clock {}",
                status_name(position),
                status_name(clock)
            ),
            position,
        );
        (position, clock)
    }

    /// Whether the port holds a packet-mode interface of the stream (`IMiniportWaveRTOutputStream`
    /// for render, `IMiniportWaveRTInputStream` for capture): only on builds that have packet
    /// mode, and only if the stream answered.
    #[must_use]
    pub const fn supports_packets(&self) -> bool {
        self.output.is_some() || self.input.is_some()
    }

    fn output_vtable(
        &self,
    ) -> Result<
        (
            NonNull<IMiniportWaveRTOutputStream>,
            IMiniportWaveRTOutputStreamVtbl,
        ),
        NTSTATUS,
    > {
        let raw = self.output.ok_or(STATUS_NOINTERFACE)?;
        // SAFETY: the interface pointer the stream handed out, referenced by this handle.
        Ok((raw, unsafe { vtable_of(raw.as_ptr().cast()) }))
    }

    /// `IMiniportWaveRTOutputStream::SetWritePacket(packet, flags, eos_length)`.
    ///
    /// # Errors
    /// `STATUS_NOINTERFACE` without the interface (capture, or a build without packet mode).
    pub fn set_write_packet(
        &self,
        packet: u32,
        flags: u32,
        eos_length: u32,
    ) -> Result<(), NTSTATUS> {
        let (raw, vtable) = self.output_vtable()?;
        let start = self.mark();
        let args = (raw.as_ptr(), packet, flags, eos_length);
        let (entry, call) = (
            "IMiniportWaveRTOutputStream::SetWritePacket",
            vtable.SetWritePacket,
        );
        // SAFETY: a live interface.
        let status = unsafe { call_driver(&self.world, entry, call, args) };
        let detail =
            format!("packet {packet}, flags {flags:#x}, end-of-stream length {eos_length}");
        let status = self.record(start, Ddi::SetWritePacket, &detail, status);
        if NT_SUCCESS(status) {
            Ok(())
        } else {
            Err(status)
        }
    }

    /// `IMiniportWaveRTOutputStream::GetPacketCount`.
    ///
    /// # Errors
    /// `STATUS_NOINTERFACE` without the interface, or the miniport's status.
    pub fn packet_count(&self) -> Result<u32, NTSTATUS> {
        let (raw, vtable) = self.output_vtable()?;
        let start = self.mark();
        let mut count = u32::MAX;
        let args = (raw.as_ptr(), &raw mut count);
        let (entry, call) = (
            "IMiniportWaveRTOutputStream::GetPacketCount",
            vtable.GetPacketCount,
        );
        // SAFETY: a live interface and a writable count.
        let status = unsafe { call_driver(&self.world, entry, call, args) };
        let status = self.record(start, Ddi::GetPacketCount, &format!("-> {count}"), status);
        if NT_SUCCESS(status) {
            Ok(count)
        } else {
            Err(status)
        }
    }

    /// `IMiniportWaveRTOutputStream::GetOutputStreamPresentationPosition`: `(blocks, counter)`.
    /// A counter value later than the counter now is a contract breach.
    ///
    /// # Errors
    /// `STATUS_NOINTERFACE` without the interface, or the miniport's status.
    pub fn presentation_position(&self) -> Result<(u64, u64), NTSTATUS> {
        let (raw, vtable) = self.output_vtable()?;
        let start = self.mark();
        let mut position = KSAUDIO_PRESENTATION_POSITION {
            u64PositionInBlocks: u64::MAX,
            u64QPCPosition: u64::MAX,
        };
        let args = (raw.as_ptr(), &raw mut position);
        let (entry, call) = (
            "IMiniportWaveRTOutputStream::GetOutputStreamPresentationPosition",
            vtable.GetOutputStreamPresentationPosition,
        );
        // SAFETY: a live interface and a writable position.
        let status = unsafe { call_driver(&self.world, entry, call, args) };
        let detail = format!(
            "-> block {} at counter {}",
            position.u64PositionInBlocks, position.u64QPCPosition
        );
        let status = self.record(start, Ddi::GetPresentationPosition, &detail, status);
        if !NT_SUCCESS(status) {
            return Err(status);
        }
        let mut state = self.world.lock();
        if i64::try_from(position.u64QPCPosition).map_or(true, |qpc| qpc > state.counter()) {
            state.violate(Violation::StreamContract {
                ddi: Ddi::GetPresentationPosition,
                stream: self.id,
            });
        }
        Ok((position.u64PositionInBlocks, position.u64QPCPosition))
    }

    /// `IMiniportWaveRTInputStream::GetReadPacket`: `(packet, counter at its first sample,
    /// more data)`. Reserved flags other than 0, or a counter from the future, are a contract
    /// breach.
    ///
    /// # Errors
    /// `STATUS_NOINTERFACE` without the interface (render, or a build without packet mode), or
    /// the miniport's status (`STATUS_DEVICE_NOT_READY` with no new packet).
    pub fn read_packet(&self) -> Result<(u32, u64, bool), NTSTATUS> {
        let raw = self.input.ok_or(STATUS_NOINTERFACE)?;
        // SAFETY: the interface pointer the stream handed out, referenced by this handle.
        let vtable: IMiniportWaveRTInputStreamVtbl = unsafe { vtable_of(raw.as_ptr().cast()) };
        let start = self.mark();
        let (mut packet, mut flags, mut counter, mut more) = (u32::MAX, u32::MAX, u64::MAX, -1i32);
        let args = (
            raw.as_ptr(),
            &raw mut packet,
            &raw mut flags,
            &raw mut counter,
            &raw mut more,
        );
        let (entry, call) = (
            "IMiniportWaveRTInputStream::GetReadPacket",
            vtable.GetReadPacket,
        );
        // SAFETY: a live interface and four writable outputs.
        let status = unsafe { call_driver(&self.world, entry, call, args) };
        let detail = format!("-> packet {packet} at counter {counter}, more data {more}");
        let status = self.record(start, Ddi::GetReadPacket, &detail, status);
        if !NT_SUCCESS(status) {
            return Err(status);
        }
        let mut state = self.world.lock();
        let future = i64::try_from(counter).map_or(true, |qpc| qpc > state.counter());
        if flags != 0 || future || !(0..=1).contains(&more) {
            state.violate(Violation::StreamContract {
                ddi: Ddi::GetReadPacket,
                stream: self.id,
            });
        }
        Ok((packet, counter, more != 0))
    }

    /// Closes the pin as PortCls does: down to STOP, free the buffer, unregister the event,
    /// release the notification interface and the stream, and take the port stream back.
    pub fn close(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        let _ = self.walk_to(0);
        self.free_buffer();
        if self.event.is_some() {
            let _ = self.unregister_event();
        }
        // The client's event storage goes with the handle: the model forgets the event, so a
        // later object at the reused address is not taken for it.
        if let Some(event) = self.event.take() {
            let address = std::ptr::from_ref(&*event).addr();
            self.world.lock().events.remove(&address);
        }
        let start = self.mark();
        if let Some(raw) = self.notification.take() {
            // SAFETY: the reference the query took (booked by `take_stream`).
            unsafe { release_driver_reference(&self.world, raw.as_ptr().cast()) };
        }
        let packet = self
            .output
            .take()
            .map(NonNull::cast::<c_void>)
            .or_else(|| self.input.take().map(NonNull::cast));
        if let Some(raw) = packet {
            let identity = self.miniport.as_ptr().addr();
            // SAFETY: the reference the query took (booked by `query_stream` under the
            // stream's identity).
            unsafe { release_driver_interface(&self.world, raw.as_ptr().cast(), identity) };
        }
        // SAFETY: the handle's reference (booked by `take_stream`). An object the driver freed
        // under it counts as none left (its violation is recorded).
        let left = unsafe { release_driver_reference(&self.world, self.miniport.as_ptr().cast()) }
            .unwrap_or(0);
        self.record(
            start,
            Ddi::CloseStream,
            &format!("{left} reference(s) left"),
            STATUS_SUCCESS,
        );
        if left != 0 {
            self.world.lock().violate(Violation::StreamContract {
                ddi: Ddi::CloseStream,
                stream: self.id,
            });
        }
        close_port_stream(&self.world, self.id, self.port_object);
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.shut();
    }
}

/// A `KSSTATE`'s name.
#[must_use]
pub fn state_name(state: u32) -> &'static str {
    match state {
        0 => "STOP",
        1 => "ACQUIRE",
        2 => "PAUSE",
        3 => "RUN",
        _ => "(not a KSSTATE)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::physical::{DeviceFault, PHYSICAL_MEMORY_BASE, PHYSICAL_MEMORY_SIZE};
    use crate::{OsProfile, Sim};
    use portcls_sys::km::MmCached;

    /// Calls the port stream's vtable as a miniport does.
    struct PortStream {
        object: PortStreamObject,
    }

    impl PortStream {
        fn new(id: u64) -> Self {
            Self {
                object: PortStreamObject {
                    vtable: &PORT_STREAM_VTBL,
                    id,
                },
            }
        }

        fn this(&mut self) -> *mut IPortWaveRTStream {
            (&raw mut self.object).cast()
        }

        fn allocate(&mut self, bytes: usize, highest: i64) -> PMDL {
            let high = PHYSICAL_ADDRESS { QuadPart: highest };
            // SAFETY: a port stream object of the model, at PASSIVE_LEVEL.
            unsafe { (PORT_STREAM_VTBL.AllocatePagesForMdl)(self.this(), high, bytes) }
        }

        fn page(&mut self, mdl: PMDL, index: ULONG) -> u64 {
            let mut slot = PHYSICAL_ADDRESS { QuadPart: -1 };
            // SAFETY: as above; `slot` is the return slot.
            let result = unsafe {
                (PORT_STREAM_VTBL.GetPhysicalPageAddress)(self.this(), &raw mut slot, mdl, index)
            };
            assert_eq!(result, &raw mut slot);
            // SAFETY: every bit pattern is a valid i64.
            unsafe { slot.QuadPart }.cast_unsigned()
        }
    }

    #[test]
    fn mdl_pages_are_physical_memory_the_device_may_access_while_allocated() {
        let sim = Sim::new(OsProfile::Win10_1511);
        let device = sim.device_memory();
        let mut stream = PortStream::new(7);
        let mdl = stream.allocate(3 * PAGE_SIZE - 100, -1);
        assert!(!mdl.is_null());
        // SAFETY: the MDL just allocated.
        let pages = unsafe { (PORT_STREAM_VTBL.GetPhysicalPagesCount)(stream.this(), mdl) };
        assert_eq!(pages, 3);
        let physical: Vec<u64> = (0..pages).map(|i| stream.page(mdl, i)).collect();
        let end = PHYSICAL_MEMORY_BASE + PHYSICAL_MEMORY_SIZE as u64;
        for (i, &page) in physical.iter().enumerate() {
            assert!(page.is_multiple_of(PAGE_SIZE as u64), "{page:#x}");
            assert!((PHYSICAL_MEMORY_BASE..end).contains(&page), "{page:#x}");
            assert_eq!(page, physical[0] + (i * PAGE_SIZE) as u64);
        }
        assert_eq!(
            device.ranges(),
            [crate::physical::DmaRange {
                physical: physical[0],
                length: 3 * PAGE_SIZE,
                owner: DmaOwner::Mdl {
                    stream: 7,
                    mdl: mdl.addr()
                },
            }]
        );
        // What the device writes to page 1 is what the mapping shows there, and back.
        // SAFETY: the unmapped MDL just allocated.
        let mapped = unsafe { (PORT_STREAM_VTBL.MapAllocatedPages)(stream.this(), mdl, MmCached) };
        let mapped = mapped.cast::<u8>();
        device.write(physical[1] + 8, b"sound").unwrap();
        let mut seen = [0u8; 5];
        // SAFETY: 5 bytes inside the 3 mapped pages.
        unsafe {
            std::ptr::copy_nonoverlapping(mapped.wrapping_add(PAGE_SIZE + 8), seen.as_mut_ptr(), 5);
        };
        assert_eq!(&seen, b"sound");
        // SAFETY: as above.
        unsafe { mapped.wrapping_add(2 * PAGE_SIZE).write(0x42) };
        let mut byte = [0u8];
        device.read(physical[2], &mut byte).unwrap();
        assert_eq!(byte, [0x42]);
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        // An index past the pages is a misuse, and reads as 0.
        assert_eq!(stream.page(mdl, 3), 0);
        assert_eq!(
            sim.violations(),
            [Violation::MdlMisuse {
                ddi: Ddi::GetPhysicalPageAddress,
                mdl: mdl.addr()
            }]
        );
        // SAFETY: the mapping and MDL above.
        unsafe { (PORT_STREAM_VTBL.UnmapAllocatedPages)(stream.this(), mapped.cast(), mdl) };
        // SAFETY: as above, unmapped.
        unsafe { (PORT_STREAM_VTBL.FreePagesFromMdl)(stream.this(), mdl) };
        // Freed: the device may no longer touch the pages.
        let refused = device.read(physical[0], &mut byte).unwrap_err();
        assert_eq!(refused.fault, DeviceFault::Freed);
        assert!(device.ranges().is_empty());
    }

    #[test]
    fn mdl_pages_honour_the_highest_address() {
        let sim = Sim::new(OsProfile::Win10_1511);
        let mut stream = PortStream::new(1);
        let below_4_gib = stream.allocate(PAGE_SIZE, 0xFFFF_FFFF);
        let anywhere = stream.allocate(PAGE_SIZE, -1);
        assert!(stream.page(below_4_gib, 0) < 1 << 32);
        assert!(stream.page(anywhere, 0) >= 1 << 32);
        // Nothing below the machine's memory: no pages.
        assert!(stream.allocate(PAGE_SIZE, 0xFFFF).is_null());
        for mdl in [below_4_gib, anywhere] {
            // SAFETY: unmapped MDLs allocated above.
            unsafe { (PORT_STREAM_VTBL.FreePagesFromMdl)(stream.this(), mdl) };
        }
        sim.assert_clean();
    }
}
