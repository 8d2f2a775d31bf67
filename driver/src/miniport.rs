//! The two miniport classes: WaveRT (render or capture) and Topology, each bound to one
//! subdevice of [`identity`](crate::identity).
//!
//! The miniports keep no reference on their ports: PortCls holds the miniport for as long as the
//! port exists, so a reference back would only make a cycle.
//!
//! The WaveRT miniport also answers `QueryInterface(IID_IMiniportAudioSignalProcessing)` (a
//! facet, see [`com`](crate::com)): `GetModes` offers RAW and DEFAULT on the host pin
//! ([`mode::PinModes`]), and `NewStream` accepts a format whose attribute list asks for either
//! ([`mode::parse_format_and_mode`]; no list: DEFAULT). Any other mode is refused with
//! `STATUS_NOT_SUPPORTED` and a malformed list with `STATUS_INVALID_PARAMETER`, before anything
//! is allocated.

use core::ffi::c_void;

use core::sync::atomic::{AtomicPtr, Ordering};

use portcls::{ComPtr, Pdo, StreamResourceManager};
use portcls_sys::ks::{KSDATAFORMAT, PKSDATAFORMAT, PKSDATARANGE};
use portcls_sys::wavert::{
    IAdapterPowerManagement, IID_IMiniport, IID_IMiniportAudioSignalProcessing,
    IID_IMiniportTopology, IID_IMiniportWaveRT, IMiniport, IMiniportAudioSignalProcessing,
    IMiniportAudioSignalProcessingVtbl, IMiniportTopology, IMiniportTopologyVtbl, IMiniportVtbl,
    IMiniportWaveRT, IMiniportWaveRTStream, IMiniportWaveRTVtbl, IPortEvents, IPortTopology,
    IPortWaveRT, PMINIPORTWAVERTSTREAM, PPCFILTER_DESCRIPTOR, PPORTTOPOLOGY, PPORTWAVERT,
    PPORTWAVERTSTREAM, PRESOURCELIST,
};
use portcls_sys::{
    GUID, NTSTATUS, PDEVICE_OBJECT, PUNKNOWN, PVOID, STATUS_INVALID_PARAMETER,
    STATUS_NOT_IMPLEMENTED, STATUS_SUCCESS, ULONG,
};

use crate::com::{ComClass, ComFacet, ComObject, facet_unknown_vtable, unknown_vtable};
use crate::descriptors::DeviceDescriptor;
use crate::device::Adapter;
use crate::format::mode::{self, Mode, PinModes};
use crate::format::{self, DataRange, Format};
use crate::identity::Subdevice;
use crate::pool::{Pool, PoolBox};
use crate::properties::Controls;
use crate::stream::{StreamParts, WaveStream};

/// The largest data range or format the miniport reads from a client (far above any real one;
/// anything larger is refused rather than trusted).
const MAX_CLIENT_FORMAT: u32 = 4096;

/// A WaveRT miniport for one wave subdevice.
#[derive(Debug)]
pub struct WaveMiniport {
    subdevice: &'static Subdevice,
    pool: Pool,
    /// The adapter's FDO (for the PDO the stream resources are registered against).
    fdo: AtomicPtr<portcls_sys::DEVICE_OBJECT>,
    /// The port from `Init`, not referenced: PortCls holds the miniport for the port's
    /// lifetime, so a reference back would be a cycle.
    port: AtomicPtr<IPortWaveRT>,
    /// The adapter its streams list themselves with.
    adapter: ComPtr<IAdapterPowerManagement>,
    /// The `IMiniportAudioSignalProcessing` interface pointer points here.
    signal_processing: &'static IMiniportAudioSignalProcessingVtbl,
    /// On a virtio-sound function: the filter's descriptor with the host pin carrying what
    /// the device's stream lists (see [`WaveMiniport::for_device`]).
    device: Option<PoolBox<DeviceDescriptor>>,
}

/// A Topology miniport for one topology subdevice. Its nodes' values live in the adapter (the
/// engines apply them to the audio; see [`levels`](crate::levels)).
#[derive(Debug)]
pub struct TopologyMiniport {
    subdevice: &'static Subdevice,
    adapter: ComPtr<IAdapterPowerManagement>,
    /// The port from `Init`, not referenced (as the wave miniport's).
    port: AtomicPtr<IPortTopology>,
}

impl WaveMiniport {
    /// The miniport for `subdevice` of `adapter`, whose FDO is `fdo`.
    #[must_use]
    pub fn new(
        subdevice: &'static Subdevice,
        pool: Pool,
        fdo: PDEVICE_OBJECT,
        adapter: ComPtr<IAdapterPowerManagement>,
    ) -> Self {
        Self {
            subdevice,
            pool,
            fdo: AtomicPtr::new(fdo),
            port: AtomicPtr::new(core::ptr::null_mut()),
            adapter,
            signal_processing: &SIGNAL_PROCESSING_VTABLE,
            device: None,
        }
    }

    /// The miniport of a virtio-sound function's stream that carries `range` (what of the
    /// driver's range the device's stream lists; none: nothing): the host pin's data ranges,
    /// the intersection and `NewStream` keep to it.
    ///
    /// # Errors
    /// `STATUS_INSUFFICIENT_RESOURCES` without pool; `STATUS_INVALID_PARAMETER` for a
    /// subdevice without a host pin.
    pub fn for_device(mut self, range: Option<DataRange>) -> Result<Self, NTSTATUS> {
        let host = host_pin(self.subdevice).ok_or(STATUS_INVALID_PARAMETER)?;
        let descriptor = DeviceDescriptor::build(self.pool, self.subdevice, host, range)
            .ok_or(portcls_sys::STATUS_INSUFFICIENT_RESOURCES)?;
        self.device = Some(descriptor);
        Ok(self)
    }

    /// The formats the host pin streams: the device's, or all of the driver's.
    #[must_use]
    pub fn range(&self) -> Option<DataRange> {
        self.device
            .as_ref()
            .map_or(Some(DataRange::DEVICE), |device| device.range())
    }

    /// The subdevice this miniport serves.
    #[must_use]
    pub const fn subdevice(&self) -> &'static Subdevice {
        self.subdevice
    }

    /// What `GetModes` answers for `pin` of this miniport's filter.
    #[must_use]
    pub fn pin_modes(&self, pin: u32) -> PinModes {
        let pins = crate::descriptors::filter(self.subdevice).map_or(0, |f| f.PinCount);
        match host_pin(self.subdevice) {
            Some(host) => PinModes::of(pin, pins, host),
            None => PinModes::NoSuchPin,
        }
    }

    /// `NewStream` for `pin`: checks the pin, direction, format and signal-processing mode
    /// (all before anything is allocated), then makes the stream with a stream-resource manager
    /// for the port and the adapter's PDO.
    fn new_stream(
        &self,
        port_stream: PPORTWAVERTSTREAM,
        pin: ULONG,
        capture: bool,
        format: PKSDATAFORMAT,
    ) -> Result<ComPtr<IMiniportWaveRTStream>, NTSTATUS> {
        let host = host_pin(self.subdevice).ok_or(STATUS_INVALID_PARAMETER)?;
        if pin != host || capture != self.subdevice.flow.is_capture() {
            return Err(STATUS_INVALID_PARAMETER);
        }
        // SAFETY: PortCls passes the client's format, readable for its FormatSize and, when
        // flagged, its attribute list (KS checked the request's length).
        let (format, _mode) = unsafe { read_stream_request(format) }?;
        if !self.range().is_some_and(|range| range.contains(&format)) {
            // A format of the driver's that this device's stream does not list.
            return Err(portcls_sys::STATUS_NOT_SUPPORTED);
        }
        // SAFETY: PortCls's port stream for this pin, live for the call; we take our own
        // reference.
        let port_stream =
            unsafe { ComPtr::from_raw_borrowed(port_stream) }.ok_or(STATUS_INVALID_PARAMETER)?;
        let port = self.port.load(Ordering::Acquire);
        // SAFETY: the port from Init, which outlives its miniport and so this call.
        let port = unsafe { ComPtr::from_raw_borrowed(port) }
            .ok_or(portcls_sys::STATUS_INVALID_DEVICE_STATE)?;
        let fdo = self.fdo.load(Ordering::Relaxed);
        // SAFETY: the adapter's FDO, which PortCls made and keeps while its miniports exist.
        let pdo = unsafe { Pdo::from_fdo(fdo) }.map_err(|error| error.status())?;
        let manager = StreamResourceManager::new(&port, pdo);
        WaveStream::create(StreamParts {
            pool: self.pool,
            adapter: self.adapter.clone(),
            port_stream,
            manager,
            format,
            capture,
            endpoint: self.subdevice.index,
        })
    }
}

impl TopologyMiniport {
    /// The miniport for `subdevice` of `adapter`.
    #[must_use]
    pub const fn new(
        subdevice: &'static Subdevice,
        adapter: ComPtr<IAdapterPowerManagement>,
    ) -> Self {
        Self {
            subdevice,
            adapter,
            port: AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    /// Whether this is a microphone's filter.
    const fn is_capture(&self) -> bool {
        self.subdevice.flow.is_capture()
    }

    /// The peak of `channel` at the filter's peak meter since that channel was last read, and
    /// clears it (see [`Adapter::take_peak`]). Call at `PASSIVE_LEVEL`.
    #[must_use]
    pub fn take_peak(&self, channel: usize) -> Option<i32> {
        Adapter::of(&self.adapter).take_peak(self.is_capture(), channel)
    }

    /// The subdevice this miniport serves.
    #[must_use]
    pub const fn subdevice(&self) -> &'static Subdevice {
        self.subdevice
    }

    /// The values of the filter's volume and mute controls.
    #[must_use]
    pub fn controls(&self) -> &Controls {
        Adapter::of(&self.adapter).controls(self.is_capture())
    }

    /// Adds a KS event entry PortCls handed the event handler to the port's event list.
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` before `Init`; the port's refusal of `IPortEvents`.
    ///
    /// # Safety
    /// `entry` is the entry PortCls handed this miniport's event handler, in that call.
    pub unsafe fn add_event(&self, entry: portcls_sys::ks::PKSEVENT_ENTRY) -> NTSTATUS {
        let port = self.port.load(Ordering::Acquire);
        // SAFETY: null or the port from Init, which outlives its miniport; borrowed for the
        // query only.
        let Some(port) = (unsafe { ComPtr::from_raw_borrowed(port) }) else {
            return portcls_sys::STATUS_INVALID_DEVICE_STATE;
        };
        match port.query::<IPortEvents>() {
            Ok(events) => {
                // SAFETY: a live IPortEvents (the reference is ours until the end of the call);
                // the entry is the one PortCls handed the handler.
                unsafe { (events.vtable().AddEventToEventList)(events.as_raw(), entry) };
                STATUS_SUCCESS
            }
            Err(error) => error.status(),
        }
    }

    /// The jack a virtio-sound function reports for this filter's external pin (see
    /// [`Adapter::jack`]). Call at `PASSIVE_LEVEL`.
    #[must_use]
    pub fn device_jack(&self) -> Option<crate::properties::Jack> {
        Adapter::of(&self.adapter).jack(self.is_capture(), self.subdevice.index)
    }
}

/// Reads a pin-create format and the signal-processing mode it asks for. The device does no
/// processing, so the stream is the same in either mode and the mode is only checked.
///
/// # Safety
/// `format` is null or as KS hands it to `NewStream`: readable for its `FormatSize` and, when
/// its `Flags` has `KSDATAFORMAT_ATTRIBUTES`, for the padding to the next 8-byte boundary and
/// the attribute list's `Size` bytes after it.
unsafe fn read_stream_request(format: PKSDATAFORMAT) -> Result<(Format, Mode), NTSTATUS> {
    if format.is_null() {
        return Err(STATUS_INVALID_PARAMETER);
    }
    // SAFETY: a readable, 8-byte aligned header (caller's contract).
    let header: KSDATAFORMAT = unsafe { format.read() };
    if header.FormatSize > MAX_CLIENT_FORMAT {
        return Err(STATUS_INVALID_PARAMETER);
    }
    let list_size = if header.Flags & portcls_sys::ks::KSDATAFORMAT_ATTRIBUTES == 0 {
        0
    } else {
        let at = usize::try_from(mode::align8(header.FormatSize)).unwrap_or(usize::MAX);
        // The list's first field, after the aligned format (caller's contract).
        let size = format.cast::<u8>().wrapping_add(at).cast::<[u8; 4]>();
        // SAFETY: readable (caller's contract: the list follows the format).
        u32::from_le_bytes(unsafe { size.read() })
    };
    let length = mode::format_extent(
        header.FormatSize,
        header.Flags,
        list_size,
        MAX_CLIENT_FORMAT,
    )
    .ok_or(STATUS_INVALID_PARAMETER)?;
    // SAFETY: `length` readable bytes: the format and its list (caller's contract).
    let bytes = unsafe { core::slice::from_raw_parts(format.cast::<u8>(), length as usize) };
    mode::parse_format_and_mode(bytes).map_err(|error| error.status())
}

/// `IMiniport::GetDescription` for either class.
fn describe(subdevice: &'static Subdevice, out: *mut PPCFILTER_DESCRIPTOR) -> NTSTATUS {
    match crate::descriptors::filter(subdevice) {
        Some(descriptor) => describe_filter(descriptor, out),
        None => STATUS_INVALID_PARAMETER,
    }
}

/// Hands PortCls `descriptor`, which outlives the miniport (static, or the miniport's own)
/// and is never written (PortCls reads it only).
fn describe_filter(
    descriptor: &portcls_sys::wavert::PCFILTER_DESCRIPTOR,
    out: *mut PPCFILTER_DESCRIPTOR,
) -> NTSTATUS {
    if out.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: `out` is writable (checked non-null).
    unsafe { out.write(core::ptr::from_ref(descriptor).cast_mut()) };
    STATUS_SUCCESS
}

/// `IMiniport::DataRangeIntersection` on a wave filter's host pin: the best format inside both
/// the client's range and the device's, written as a `KSDATAFORMAT_WAVEFORMATEXTENSIBLE`.
///
/// # Safety
/// The pointers are what PortCls passes: `range` readable for its `FormatSize`, `result`
/// writable for `length` bytes, `result_length` writable.
unsafe fn intersect(
    device: &DataRange,
    range: PKSDATARANGE,
    length: ULONG,
    result: PVOID,
    result_length: *mut ULONG,
) -> NTSTATUS {
    if range.is_null() || result_length.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: a readable KSDATARANGE header (caller's contract).
    let size = unsafe { (*range).FormatSize };
    if size > MAX_CLIENT_FORMAT {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: PortCls guarantees `FormatSize` readable bytes at `range`.
    let requested = unsafe { core::slice::from_raw_parts(range.cast::<u8>(), size as usize) };
    let format = match format::intersect(device, Some(requested)) {
        Ok(format) => format,
        Err(error) => return error.status(),
    };
    if let Err(error) = format::check_output_length(length) {
        // SAFETY: writable (checked non-null).
        unsafe { result_length.write(error.required()) };
        return error.status();
    }
    if result.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: `result` is writable for `length` bytes (caller's contract).
    let out = unsafe { core::slice::from_raw_parts_mut(result.cast::<u8>(), length as usize) };
    match format.write_extensible(out) {
        Ok(written) => {
            // The written size is 104 bytes, which fits a ULONG.
            let written = ULONG::try_from(written).unwrap_or(ULONG::MAX);
            // SAFETY: writable (checked non-null).
            unsafe { result_length.write(written) };
            STATUS_SUCCESS
        }
        Err(error) => error.status(),
    }
}

/// The host (streaming) pin of a wave subdevice.
fn host_pin(subdevice: &Subdevice) -> Option<u32> {
    if subdevice.kind != crate::identity::FilterKind::Wave
        || !crate::identity::DEVICE_SUBDEVICES.contains(subdevice)
    {
        None
    } else if subdevice.flow.is_capture() {
        Some(crate::descriptors::CAPTURE_WAVE_HOST_PIN)
    } else {
        Some(crate::descriptors::RENDER_WAVE_HOST_PIN)
    }
}

// ---- WaveRT ----

portcls_sys::kernel_abi! {
    unsafe fn wave_get_description(
        this: *mut IMiniport,
        out: *mut PPCFILTER_DESCRIPTOR,
    ) -> NTSTATUS {
        // SAFETY: PortCls calls through a live WaveMiniport.
        let miniport = unsafe { ComObject::<WaveMiniport>::from_this(this.cast::<c_void>()) };
        match &miniport.device {
            Some(device) => describe_filter(device.filter(), out),
            None => describe(miniport.subdevice, out),
        }
    }
}

portcls_sys::kernel_abi! {
    unsafe fn wave_data_range_intersection(
        this: *mut IMiniport,
        pin: ULONG,
        range: PKSDATARANGE,
        _matching: PKSDATARANGE,
        length: ULONG,
        result: PVOID,
        result_length: *mut ULONG,
    ) -> NTSTATUS {
        // SAFETY: PortCls calls through a live WaveMiniport.
        let miniport = unsafe { ComObject::<WaveMiniport>::from_this(this.cast::<c_void>()) };
        if host_pin(miniport.subdevice) != Some(pin) {
            // PortCls's default handler answers for the bridge pin.
            return STATUS_NOT_IMPLEMENTED;
        }
        let Some(device) = miniport.range() else {
            return format::STATUS_NO_MATCH;
        };
        // SAFETY: forwarded from PortCls (see `intersect`).
        unsafe { intersect(&device, range, length, result, result_length) }
    }
}

portcls_sys::kernel_abi! {
    unsafe fn wave_init(
        this: *mut IMiniportWaveRT,
        _adapter: PUNKNOWN,
        _resources: PRESOURCELIST,
        port: PPORTWAVERT,
    ) -> NTSTATUS {
        if port.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: PortCls calls through a live WaveMiniport.
        let miniport = unsafe { ComObject::<WaveMiniport>::from_this(this.cast::<c_void>()) };
        miniport.port.store(port, Ordering::Release);
        STATUS_SUCCESS
    }
}

portcls_sys::kernel_abi! {
    unsafe fn wave_new_stream(
        this: *mut IMiniportWaveRT,
        stream: *mut PMINIPORTWAVERTSTREAM,
        port_stream: PPORTWAVERTSTREAM,
        pin: ULONG,
        capture: u8,
        format: PKSDATAFORMAT,
    ) -> NTSTATUS {
        if stream.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: writable (checked non-null); nothing is handed out unless all goes well.
        unsafe { stream.write(core::ptr::null_mut()) };
        // SAFETY: PortCls calls through a live WaveMiniport.
        let miniport = unsafe { ComObject::<WaveMiniport>::from_this(this.cast::<c_void>()) };
        match miniport.new_stream(port_stream, pin, capture != 0, format) {
            Ok(created) => {
                // SAFETY: as above; PortCls receives our one reference.
                unsafe { stream.write(created.into_raw()) };
                STATUS_SUCCESS
            }
            Err(status) => status,
        }
    }
}

portcls_sys::kernel_abi! {
    unsafe fn wave_get_device_description(
        _this: *mut IMiniportWaveRT,
        _description: portcls_sys::km::PDEVICE_DESCRIPTION,
    ) -> NTSTATUS {
        // A virtual device has no DMA hardware to describe.
        STATUS_NOT_IMPLEMENTED
    }
}

static WAVE_VTABLE: IMiniportWaveRTVtbl = IMiniportWaveRTVtbl {
    base__: IMiniportVtbl {
        base__: unknown_vtable::<WaveMiniport>(),
        GetDescription: wave_get_description,
        DataRangeIntersection: wave_data_range_intersection,
    },
    Init: wave_init,
    NewStream: wave_new_stream,
    GetDeviceDescription: wave_get_device_description,
};

// SAFETY: WAVE_VTABLE begins with unknown_vtable::<WaveMiniport>() and its slots expect a
// ComObject<WaveMiniport>; IMiniport and IMiniportWaveRT are prefixes of it.
// The `signal_processing` field holds SIGNAL_PROCESSING_VTABLE (see SignalProcessingFacet).
unsafe impl ComClass for WaveMiniport {
    type Vtable = IMiniportWaveRTVtbl;
    const VTABLE: &'static IMiniportWaveRTVtbl = &WAVE_VTABLE;
    const INTERFACES: &'static [GUID] = &[IID_IMiniport, IID_IMiniportWaveRT];
    const FACETS: &'static [(GUID, usize)] =
        &[(SignalProcessingFacet::IID, SignalProcessingFacet::OFFSET)];
}

/// The wave miniport's `IMiniportAudioSignalProcessing`.
struct SignalProcessingFacet;

// SAFETY: `signal_processing` holds SIGNAL_PROCESSING_VTABLE, which begins with this facet's
// IUnknown part and whose slot expects the facet's pointer; listed in WaveMiniport's FACETS
// with this IID and offset.
unsafe impl ComFacet for SignalProcessingFacet {
    type Class = WaveMiniport;
    const IID: GUID = IID_IMiniportAudioSignalProcessing;
    const OFFSET: usize = core::mem::offset_of!(WaveMiniport, signal_processing);
}

portcls_sys::kernel_abi! {
    unsafe fn wave_get_modes(
        this: *mut IMiniportAudioSignalProcessing,
        pin: ULONG,
        modes: *mut GUID,
        count: *mut ULONG,
    ) -> NTSTATUS {
        if count.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: PortCls calls through the signal-processing interface of a live WaveMiniport.
        let miniport = unsafe { SignalProcessingFacet::state(this.cast()) };
        let capacity = if modes.is_null() {
            None
        } else {
            // SAFETY: readable (checked non-null): the buffer's capacity in GUIDs.
            Some(unsafe { count.read() })
        };
        let (status, reported, answer) = miniport.pin_modes(pin).answer(capacity);
        for (index, mode) in answer.iter().enumerate() {
            let slot = modes.wrapping_add(index);
            // SAFETY: `answer` is non-empty only when `modes` is non-null with room for at
            // least `answer.len()` GUIDs (`PinModes::answer` checked the capacity).
            unsafe { slot.write_unaligned(mode.guid()) };
        }
        if let Some(reported) = reported {
            // SAFETY: writable (checked non-null).
            unsafe { count.write(reported) };
        }
        status
    }
}

static SIGNAL_PROCESSING_VTABLE: IMiniportAudioSignalProcessingVtbl =
    IMiniportAudioSignalProcessingVtbl {
        base__: facet_unknown_vtable::<SignalProcessingFacet>(),
        GetModes: wave_get_modes,
    };

// ---- Topology ----

portcls_sys::kernel_abi! {
    unsafe fn topology_get_description(
        this: *mut IMiniport,
        out: *mut PPCFILTER_DESCRIPTOR,
    ) -> NTSTATUS {
        // SAFETY: PortCls calls through a live TopologyMiniport.
        let miniport = unsafe { ComObject::<TopologyMiniport>::from_this(this.cast::<c_void>()) };
        // A virtio-sound function's endpoints have no nodes (see
        // `descriptors::RENDER_DEVICE_TOPOLOGY_FILTER`).
        if Adapter::of(&miniport.adapter).is_function() {
            return match crate::descriptors::device_topology_filter(miniport.subdevice) {
                Some(descriptor) => describe_filter(descriptor, out),
                None => STATUS_INVALID_PARAMETER,
            };
        }
        describe(miniport.subdevice, out)
    }
}

portcls_sys::kernel_abi! {
    unsafe fn topology_data_range_intersection(
        _this: *mut IMiniport,
        _pin: ULONG,
        _range: PKSDATARANGE,
        _matching: PKSDATARANGE,
        _length: ULONG,
        _result: PVOID,
        _result_length: *mut ULONG,
    ) -> NTSTATUS {
        // Only bridge pins: PortCls's default handler answers.
        STATUS_NOT_IMPLEMENTED
    }
}

portcls_sys::kernel_abi! {
    unsafe fn topology_init(
        this: *mut IMiniportTopology,
        _adapter: PUNKNOWN,
        _resources: PRESOURCELIST,
        port: PPORTTOPOLOGY,
    ) -> NTSTATUS {
        if port.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: PortCls calls Init through our vtable on a live TopologyMiniport.
        let miniport = unsafe { ComObject::<TopologyMiniport>::from_this(this.cast()) };
        miniport.port.store(port, Ordering::Release);
        STATUS_SUCCESS
    }
}

static TOPOLOGY_VTABLE: IMiniportTopologyVtbl = IMiniportTopologyVtbl {
    base__: IMiniportVtbl {
        base__: unknown_vtable::<TopologyMiniport>(),
        GetDescription: topology_get_description,
        DataRangeIntersection: topology_data_range_intersection,
    },
    Init: topology_init,
};

// SAFETY: TOPOLOGY_VTABLE begins with unknown_vtable::<TopologyMiniport>() and its slots expect
// a ComObject<TopologyMiniport>; IMiniport and IMiniportTopology are prefixes of it.
unsafe impl ComClass for TopologyMiniport {
    type Vtable = IMiniportTopologyVtbl;
    const VTABLE: &'static IMiniportTopologyVtbl = &TOPOLOGY_VTABLE;
    const INTERFACES: &'static [GUID] = &[IID_IMiniport, IID_IMiniportTopology];
}
