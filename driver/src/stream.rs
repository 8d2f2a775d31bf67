//! A WaveRT stream: the COM object PortCls drives through `IMiniportWaveRTStreamNotification`,
//! the same for every device; what times it and moves its audio is its backend
//! ([`crate::backend`]: the virtual device's engine thread, or the virtio-sound device).
//! - the buffer comes from the port's `IPortWaveRTStream` (`AllocatePagesForMdl`, then
//!   `MapAllocatedPages`) and goes back the same way (`UnmapAllocatedPages`,
//!   `FreePagesFromMdl`), on every path, failures included; on a device, the physical address
//!   of each of its pages is read once (`GetPhysicalPageAddress`) for the device to use in place;
//! - the state machine, format and buffer geometry ([`Dma`]), the mapping, the events and the
//!   backend's own state sit behind one spin lock shared by PortCls's calls and the backend's
//!   periods (the engine's ticks, the device's DPC); nothing under the lock waits;
//! - the backend starts and stops only inside the adapter's gate (see
//!   [`device`](crate::device)), which also halts it for stop, removal and low power and
//!   resumes it afterwards.
//!
//! # What PortCls sees
//! | request | answer |
//! | --- | --- |
//! | `SetFormat` | as [`Format::parse`]; `STATUS_INVALID_DEVICE_STATE` outside STOP or with a buffer |
//! | `SetState` | one step at a time; starting the engine can fail (the state then stays STOP) |
//! | `GetPosition` | play and write offset both at the DMA position |
//! | `AllocateAudioBuffer` / `...WithNotification` | whole frames, at most 4 MiB, `MmCached`, offset 0 |
//! | `GetHWLatency` | all zero (no FIFO, chipset or codec) |
//! | `GetPositionRegister` / `GetClockRegister` | `STATUS_NOT_SUPPORTED` (no hardware registers) |
//! | `RegisterNotificationEvent` | up to [`MAX_EVENTS`] events; a second registration of one event is refused |
//! | `UnregisterNotificationEvent` | `STATUS_NOT_FOUND` for an event not registered |
//! | `IMiniportWaveRTOutputStream` (render only) | packet mode, as [`packet`](crate::packet) |
//! | `IMiniportWaveRTInputStream` (capture only) | packet mode, as [`packet`](crate::packet) |
//!
//! The packet interfaces derive from `IUnknown` only, so they are facets of the stream object
//! (see [`com`](crate::com)): a render stream answers `IMiniportWaveRTOutputStream`, a capture
//! stream `IMiniportWaveRTInputStream`, and neither the other. Their answers come from the same
//! linear position as `GetPosition`; STOP resets the packet bookkeeping with the position.

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::num::NonZeroU64;
use core::ptr::null_mut;

use portcls::{ComPtr, StreamResourceManager};
use portcls_sys::km::{MEMORY_CACHING_TYPE, MmCached, PHYSICAL_ADDRESS, PKEVENT, PMDL};
use portcls_sys::ks::{
    KSAUDIO_POSITION, KSAUDIO_PRESENTATION_POSITION, KSRTAUDIO_HWLATENCY, KSSTATE,
    PKSAUDIO_POSITION, PKSAUDIO_PRESENTATION_POSITION, PKSDATAFORMAT, PKSRTAUDIO_HWLATENCY,
    PKSRTAUDIO_HWREGISTER,
};
use portcls_sys::wavert::{
    IAdapterPowerManagement, IID_IMiniportWaveRTInputStream, IID_IMiniportWaveRTOutputStream,
    IID_IMiniportWaveRTStream, IID_IMiniportWaveRTStreamNotification, IMiniportWaveRTInputStream,
    IMiniportWaveRTInputStreamVtbl, IMiniportWaveRTOutputStream, IMiniportWaveRTOutputStreamVtbl,
    IMiniportWaveRTStream, IMiniportWaveRTStreamNotification,
    IMiniportWaveRTStreamNotificationVtbl, IMiniportWaveRTStreamVtbl, IPortWaveRTStream,
};
use portcls_sys::{
    GUID, NTSTATUS, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED,
    STATUS_SUCCESS, ULONG,
};

use crate::backend::Backend;
use crate::backend::virtio::wave_stream::Link;
use crate::backend::virtual_device::dma::Dma;
use crate::backend::virtual_device::engine::Engine;
use crate::backend::virtual_device::stream::Tick;
use crate::backend::virtual_device::tone::{
    DEFAULT_FREQUENCY_HZ, DEFAULT_LEVEL_MILLIBELS, Tone, ToneTable,
};
use crate::com::{ComClass, ComFacet, ComObject, facet_unknown_vtable, unknown_vtable};
use crate::device::{Adapter, Inside};
use crate::format::Format;
use crate::kernel;
use crate::levels::{CHANNELS, peaks};
use crate::packet::{Packets, ReadPackets, WritePackets, packet_count};
use crate::pool::{Pool, PoolBox};
use crate::stream_state::KsState;
use crate::sync::SpinLock;

/// The most notification events one stream keeps.
pub const MAX_EVENTS: usize = 4;
/// `STATUS_NOT_FOUND`.
pub const STATUS_NOT_FOUND: NTSTATUS = 0xC000_0225_u32.cast_signed();
/// The page size the buffer is counted in.
const PAGE_SIZE: u64 = 4096;
/// The largest format the stream reads from a client.
const MAX_CLIENT_FORMAT: u32 = 4096;

/// The physical address of each page of a buffer on a virtio-sound device, little-endian.
type PageTable = [u8; PAGE_TABLE_BYTES];
/// Bytes of a [`PageTable`]: one address for each page of the largest buffer.
const PAGE_TABLE_BYTES: usize =
    (crate::backend::virtual_device::dma::MAX_BUFFER_BYTES as usize).div_ceil(4096) * 8;

/// The capture tone, its table in pool.
type StreamTone = Tone<DEFAULT_FREQUENCY_HZ, DEFAULT_LEVEL_MILLIBELS, PoolBox<ToneTable>>;

/// The mapped buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mapping {
    pub(crate) mdl: PMDL,
    pub(crate) address: *mut u8,
    pub(crate) bytes: u32,
}

/// What the lock protects.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) dma: Dma,
    pub(crate) tone: StreamTone,
    pub(crate) mapping: Option<Mapping>,
    /// Registered events; null slots are free.
    pub(crate) events: [PKEVENT; MAX_EVENTS],
    /// The linear frame up to which the microphone's peak meter has scanned the buffer.
    pub(crate) metered: u64,
    /// Packet mode, render: what the client wrote.
    pub(crate) written: WritePackets,
    /// Packet mode, capture: what the client read.
    pub(crate) read: ReadPackets,
    /// What runs the stream (fixed at creation).
    pub(crate) backend: Backend,
    /// On a device: the physical address of each page of the buffer (with the buffer).
    pub(crate) pages: Option<PoolBox<PageTable>>,
    /// On a device, from STOP -> ACQUIRE to ACQUIRE -> STOP: the device stream.
    pub(crate) link: Option<Link>,
    /// The performance counter's frequency.
    pub(crate) frequency: u64,
}

impl Inner {
    /// The linear position in frames at counter `now` (see [`Backend::frames`]).
    fn frames(&self, now: u64) -> u64 {
        self.backend.frames(self, now)
    }

    /// The frames the stream has moved (see [`Backend::done_frames`]).
    fn done_frames(&self) -> u64 {
        self.backend.done_frames(self)
    }

    /// `GetPosition`'s byte offset at counter `now`.
    fn position(&self, now: u64) -> u32 {
        let frame = u64::from(self.dma.format().bytes_per_frame());
        crate::backend::virtual_device::position::cyclic_offset(
            self.frames(now) * frame,
            self.dma.buffer_bytes(),
        )
    }

    /// Signals every registered event (at a notification point).
    pub(crate) fn signal(&self) {
        for &event in self.events.iter().filter(|e| !e.is_null()) {
            // SAFETY: a registered event (PortCls unregisters before freeing it); no wait,
            // DISPATCH_LEVEL is allowed.
            unsafe { kernel::KeSetEvent(event, 0, 0) };
        }
    }

    /// The packets of the attached buffer (none without notifications).
    fn packets(&self) -> Option<Packets> {
        let frame = self.dma.format().bytes_per_frame();
        self.dma
            .notifications()
            .and_then(|notifications| Packets::new(notifications, frame))
    }
}

// SAFETY: the addresses are kernel objects and pool pages usable from any thread; all access
// goes through the lock.
unsafe impl Send for Inner {}

/// One WaveRT stream.
pub struct WaveStream {
    /// The `IMiniportWaveRTOutputStream` facet's vtable pointer (answered for render only).
    output: &'static IMiniportWaveRTOutputStreamVtbl,
    /// The `IMiniportWaveRTInputStream` facet's vtable pointer (answered for capture only).
    input: &'static IMiniportWaveRTInputStreamVtbl,
    pub(crate) capture: bool,
    /// As [`StreamParts::endpoint`].
    pub(crate) endpoint: usize,
    pub(crate) pool: Pool,
    pub(crate) adapter: ComPtr<IAdapterPowerManagement>,
    pub(crate) port_stream: ComPtr<IPortWaveRTStream>,
    pub(crate) manager: StreamResourceManager,
    pub(crate) inner: SpinLock<Inner>,
    /// Touched only inside the adapter's gate (the methods that do take an [`Inside`]).
    pub(crate) engine: UnsafeCell<Option<Engine<Tick>>>,
}

// SAFETY: `engine` is only used inside the adapter's gate (see the field); everything else is
// Sync on its own.
unsafe impl Sync for WaveStream {}
// SAFETY: as above; the engine's thread handle and registration may move between threads.
unsafe impl Send for WaveStream {}

impl core::fmt::Debug for WaveStream {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WaveStream")
            .field("mechanism", &self.manager.mechanism())
            .finish_non_exhaustive()
    }
}

/// What a new stream needs.
#[derive(Debug)]
pub struct StreamParts {
    /// Pool for the stream and its engine.
    pub pool: Pool,
    /// The adapter (the stream lists itself there, and keeps a reference).
    pub adapter: ComPtr<IAdapterPowerManagement>,
    /// The port's stream object (the stream keeps a reference).
    pub port_stream: ComPtr<IPortWaveRTStream>,
    /// The stream-resource manager for the device.
    pub manager: StreamResourceManager,
    /// The negotiated format.
    pub format: Format,
    /// Whether this is the capture pin.
    pub capture: bool,
    /// Which endpoint of its flow the stream's filter is ([`Subdevice::index`]): on a
    /// virtio-sound function, which of the device's streams of its direction it runs on.
    ///
    /// [`Subdevice::index`]: crate::identity::Subdevice::index
    pub endpoint: usize,
}

impl WaveStream {
    /// Creates the stream object (STOP, position 0, no buffer).
    ///
    /// # Errors
    /// `STATUS_INSUFFICIENT_RESOURCES` without pool.
    pub fn create(parts: StreamParts) -> Result<ComPtr<IMiniportWaveRTStream>, NTSTATUS> {
        let table = PoolBox::zeroed(parts.pool).ok_or(STATUS_INSUFFICIENT_RESOURCES)?;
        let mut frequency = 0i64;
        // SAFETY: a writable frequency slot; any IRQL.
        unsafe { kernel::KeQueryPerformanceCounter(&raw mut frequency) };
        let frequency = u64::try_from(frequency)
            .ok()
            .and_then(NonZeroU64::new)
            .unwrap_or(NonZeroU64::MIN);
        let backend = if Adapter::of(&parts.adapter).is_function() {
            Backend::Virtio
        } else {
            Backend::VirtualDevice
        };
        let stream = Self {
            output: &OUTPUT_VTABLE,
            input: &INPUT_VTABLE,
            capture: parts.capture,
            endpoint: parts.endpoint,
            pool: parts.pool,
            adapter: parts.adapter,
            port_stream: parts.port_stream,
            manager: parts.manager,
            inner: SpinLock::new(Inner {
                dma: Dma::new(parts.format, parts.capture, frequency),
                tone: Tone::with_table(parts.format, table),
                mapping: None,
                events: [null_mut(); MAX_EVENTS],
                metered: 0,
                written: WritePackets::new(),
                read: ReadPackets::new(),
                backend,
                pages: None,
                link: None,
                frequency: frequency.get(),
            }),
            engine: UnsafeCell::new(None),
        };
        let object: ComPtr<IMiniportWaveRTStream> = ComObject::create(parts.pool, stream)?;
        // SAFETY: the object just made, alive while `object` is.
        let stream = unsafe { ComObject::<Self>::from_this(object.as_raw().cast()) };
        let listed = Adapter::of(&stream.adapter).enter().add_stream(stream);
        // On failure `object` goes here, outside the gate (its release enters it).
        listed.map(|()| object)
    }

    fn set_state(&self, to: KsState) -> NTSTATUS {
        let mut inside = Adapter::of(&self.adapter).enter();
        let backend = self.inner.lock().backend;
        backend.set_state(self, &mut inside, to)
    }

    /// A device transition (stop, removal, leaving D0): the backend lets go of the stream's
    /// hardware (its engine, or its device stream) and the position holds. The stream keeps
    /// its state; [`WaveStream::resume`] continues it.
    pub fn halt(&self, inside: &mut Inside<'_>) {
        let backend = self.inner.lock().backend;
        backend.halt(self, inside);
    }

    /// Continues after a halt: an acquired stream takes its hardware again and, in RUN, runs
    /// on from where it was. A failure cannot be reported from here: the stream stays silent
    /// (or, on a device, reports it at its next step towards RUN).
    pub fn resume(&self, inside: &mut Inside<'_>) {
        let backend = self.inner.lock().backend;
        backend.resume(self, inside);
    }

    /// For a capture stream: the per-channel peaks (on the `KSPROPERTY_AUDIO_PEAKMETER2` scale)
    /// of the frames it recorded since the last scan that its buffer still holds (at most one
    /// buffer's worth, and at most [`RING_FRAMES`](crate::backend::virtual_device::cable::RING_FRAMES)); `None` for a
    /// render stream.
    pub fn scan_peaks(&self) -> Option<[i32; CHANNELS]> {
        let mut inner = self.inner.lock();
        if !inner.dma.is_capture() {
            return None;
        }
        let mut out = [0; CHANNELS];
        let done = inner.done_frames();
        // STOP starts the count again; and the scan runs under the spin lock, so it covers at
        // most the last ring's worth of frames (85 ms at 48 kHz), as the speakers' meter does.
        let from = if inner.metered > done {
            0
        } else {
            inner.metered
        };
        let from = from.max(done.saturating_sub(u64::from(
            crate::backend::virtual_device::cable::RING_FRAMES,
        )));
        inner.metered = done;
        let Some(mapping) = inner.mapping else {
            return Some(out);
        };
        let format = inner.dma.format();
        let frame = u64::from(format.bytes_per_frame());
        let copy = crate::buffer::period_copy(mapping.bytes, from * frame, done * frame);
        let mut scratch = [0u8; 256];
        for span in [copy.first, copy.second] {
            let end = span.len.min(mapping.bytes.saturating_sub(span.offset));
            let mut at = 0u32;
            while at < end {
                // 256 bytes are whole frames of every format: each chunk starts on channel 0.
                let n = (end - at).min(256);
                let Some(chunk) = scratch.get_mut(..n as usize) else {
                    break;
                };
                // SAFETY: `span.offset + at + n <= mapping.bytes` (clamped above); the mapping
                // is attached while we hold the lock.
                let source = unsafe { mapping.address.add((span.offset + at) as usize) };
                // SAFETY: as above; the scratch is ours.
                unsafe { core::ptr::copy_nonoverlapping(source, chunk.as_mut_ptr(), chunk.len()) };
                for (peak, found) in out.iter_mut().zip(peaks(format.sample(), chunk, 0)) {
                    *peak = (*peak).max(found);
                }
                at += n;
            }
        }
        Some(out)
    }

    /// How the engine thread is registered while it runs (`None` while it does not).
    pub fn mechanism(&self, _inside: &mut Inside<'_>) -> Option<portcls::Mechanism> {
        // SAFETY: inside the gate (see the field's rule).
        unsafe { &*self.engine.get() }
            .as_ref()
            .map(Engine::mechanism)
    }

    fn allocate(
        &self,
        notifications: u32,
        requested: ULONG,
        mdl_out: *mut PMDL,
        size_out: *mut ULONG,
        offset_out: *mut ULONG,
        cache_out: *mut MEMORY_CACHING_TYPE,
    ) -> NTSTATUS {
        if mdl_out.is_null() || size_out.is_null() || offset_out.is_null() || cache_out.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        let size = {
            let inner = self.inner.lock();
            if inner.dma.state() != KsState::Stop || inner.mapping.is_some() {
                return portcls_sys::STATUS_INVALID_DEVICE_STATE;
            }
            match inner.dma.buffer_size(requested, notifications) {
                Ok(size) => size,
                Err(error) => return error.status(),
            }
        };
        let Some(mapping) = self.map_pages(size) else {
            return STATUS_INSUFFICIENT_RESOURCES;
        };
        let on_device = self.inner.lock().backend == Backend::Virtio;
        let pages = if on_device {
            match self.page_table(mapping) {
                Ok(pages) => Some(pages),
                Err(status) => {
                    self.unmap_pages(mapping);
                    return status;
                }
            }
        } else {
            None
        };
        let attached = {
            let mut inner = self.inner.lock();
            let attached = inner.dma.attach_buffer(size, notifications);
            if attached.is_ok() {
                inner.mapping = Some(mapping);
                inner.pages = pages;
            }
            attached
        };
        if let Err(error) = attached {
            self.unmap_pages(mapping);
            return error.status();
        }
        // SAFETY: the out pointers are writable (checked non-null).
        unsafe { mdl_out.write(mapping.mdl) };
        // SAFETY: as above.
        unsafe { size_out.write(size) };
        // SAFETY: as above.
        unsafe { offset_out.write(0) };
        // SAFETY: as above.
        unsafe { cache_out.write(MmCached) };
        STATUS_SUCCESS
    }

    /// Pages for `bytes`, mapped and zeroed; everything undone on failure.
    fn map_pages(&self, bytes: u32) -> Option<Mapping> {
        let vtable = *self.port_stream.vtable();
        let this = self.port_stream.as_raw();
        let highest = PHYSICAL_ADDRESS { QuadPart: -1 };
        // SAFETY: a live port stream; PASSIVE_LEVEL (PortCls's allocation call).
        let mdl = unsafe { (vtable.AllocatePagesForMdl)(this, highest, bytes as usize) };
        if mdl.is_null() {
            return None;
        }
        // The pages may cover less than asked (the allocator returns what it found).
        // SAFETY: the MDL just allocated.
        let pages = unsafe { (vtable.GetPhysicalPagesCount)(this, mdl) };
        let address = if u64::from(pages) * PAGE_SIZE >= u64::from(bytes) {
            // SAFETY: as above.
            unsafe { (vtable.MapAllocatedPages)(this, mdl, MmCached) }
        } else {
            null_mut()
        };
        if address.is_null() {
            // SAFETY: the unmapped MDL just allocated.
            unsafe { (vtable.FreePagesFromMdl)(this, mdl) };
            return None;
        }
        // SAFETY: the mapping covers `bytes` (checked against the page count).
        unsafe { core::ptr::write_bytes(address.cast::<u8>(), 0, bytes as usize) };
        Some(Mapping {
            mdl,
            address: address.cast(),
            bytes,
        })
    }

    /// The physical address of each page of `mapping` (`IPortWaveRTStream::GetPhysicalPageAddress`),
    /// for a device to read or write the buffer in place.
    ///
    /// # Errors
    /// `STATUS_INSUFFICIENT_RESOURCES` without pool, or for a page without an address.
    fn page_table(&self, mapping: Mapping) -> Result<PoolBox<PageTable>, NTSTATUS> {
        let mut table =
            PoolBox::<PageTable>::zeroed(self.pool).ok_or(STATUS_INSUFFICIENT_RESOURCES)?;
        let vtable = *self.port_stream.vtable();
        let this = self.port_stream.as_raw();
        let pages = mapping.bytes.div_ceil(4096);
        for (index, slot) in (0..pages).zip(table.chunks_exact_mut(8)) {
            let mut address = PHYSICAL_ADDRESS { QuadPart: 0 };
            // SAFETY: a live port stream and the MDL it allocated, an index below its page
            // count (checked when it was mapped); the result goes to our slot.
            unsafe { (vtable.GetPhysicalPageAddress)(this, &raw mut address, mapping.mdl, index) };
            // SAFETY: a plain integer union.
            let address = unsafe { address.QuadPart };
            let address = u64::try_from(address).unwrap_or(0);
            if address == 0 {
                return Err(STATUS_INSUFFICIENT_RESOURCES);
            }
            slot.copy_from_slice(&address.to_le_bytes());
        }
        Ok(table)
    }

    fn unmap_pages(&self, mapping: Mapping) {
        let vtable = *self.port_stream.vtable();
        let this = self.port_stream.as_raw();
        let (mdl, address) = (mapping.mdl, mapping.address.cast::<c_void>());
        // SAFETY: the mapping made by `map_pages`, no longer attached to the DMA.
        unsafe { (vtable.UnmapAllocatedPages)(this, address, mdl) };
        // SAFETY: as above, now unmapped.
        unsafe { (vtable.FreePagesFromMdl)(this, mdl) };
    }

    fn free(&self, mdl: PMDL) {
        let backend = {
            let inner = self.inner.lock();
            inner.link.is_some().then_some(inner.backend)
        };
        if let Some(backend) = backend {
            // PortCls frees in STOP; a device must let go of the pages before they go.
            backend.detach(self, &mut Adapter::of(&self.adapter).enter());
        }
        let mapping = {
            let mut inner = self.inner.lock();
            match inner.mapping {
                Some(mapping) if mapping.mdl.addr() == mdl.addr() => {
                    inner.mapping = None;
                    inner.pages = None;
                    inner.dma.discard_buffer();
                    Some(mapping)
                }
                _ => None,
            }
        };
        if let Some(mapping) = mapping {
            self.unmap_pages(mapping);
        }
    }

    fn set_format(&self, format: PKSDATAFORMAT) -> NTSTATUS {
        // SAFETY: PortCls passes a readable format (see `read_format`).
        let format = match unsafe { read_format(format) } {
            Ok(format) => format,
            Err(status) => return status,
        };
        let mut inner = self.inner.lock();
        match inner.dma.set_format(format) {
            Ok(()) => {
                inner.tone.reset(format);
                STATUS_SUCCESS
            }
            Err(error) => error.status(),
        }
    }

    fn register_event(&self, event: PKEVENT) -> NTSTATUS {
        if event.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        let mut inner = self.inner.lock();
        if inner.events.iter().any(|e| e.addr() == event.addr()) {
            return STATUS_INVALID_PARAMETER;
        }
        match inner.events.iter_mut().find(|slot| slot.is_null()) {
            Some(slot) => {
                *slot = event;
                STATUS_SUCCESS
            }
            None => STATUS_INSUFFICIENT_RESOURCES,
        }
    }

    fn unregister_event(&self, event: PKEVENT) -> NTSTATUS {
        let mut inner = self.inner.lock();
        match inner
            .events
            .iter_mut()
            .find(|slot| !slot.is_null() && slot.addr() == event.addr())
        {
            Some(slot) => {
                *slot = null_mut();
                STATUS_SUCCESS
            }
            None => STATUS_NOT_FOUND,
        }
    }

    fn set_write_packet(&self, number: ULONG, flags: u32, eos_length: ULONG) -> NTSTATUS {
        let mut inner = self.inner.lock();
        let packets = inner.packets();
        let frames = inner.frames(counter());
        match inner
            .written
            .set_write_packet(packets.as_ref(), frames, number, flags, eos_length)
        {
            Ok(_) => STATUS_SUCCESS,
            Err(error) => error.status(),
        }
    }

    fn presentation_position(&self) -> KSAUDIO_PRESENTATION_POSITION {
        let inner = self.inner.lock();
        let now = counter();
        KSAUDIO_PRESENTATION_POSITION {
            u64PositionInBlocks: inner.frames(now),
            u64QPCPosition: now,
        }
    }

    fn packet_count(&self) -> Result<ULONG, NTSTATUS> {
        let inner = self.inner.lock();
        let packets = inner
            .packets()
            .ok_or(portcls_sys::STATUS_INVALID_DEVICE_STATE)?;
        Ok(packet_count(&packets, inner.frames(counter())))
    }

    /// `GetReadPacket`: `(number, counter at its first sample, more data)`. The engine first
    /// catches up to now, so a packet handed out is in the buffer.
    fn read_packet(&self) -> Result<(ULONG, u64, bool), NTSTATUS> {
        let mut inner = self.inner.lock();
        let now = counter();
        let backend = inner.backend;
        backend.catch_up(self, &mut inner, now);
        let packets = inner.packets();
        let frames = inner.frames(now);
        let packet = inner
            .read
            .read_packet(packets.as_ref(), frames)
            .map_err(|error| error.status())?;
        let at = backend.counter_at(&inner, packet.first_frame, now);
        Ok((packet.number(), at, packet.more))
    }
}

impl Drop for WaveStream {
    fn drop(&mut self) {
        // PortCls stops and frees before the last release; if it did not, do it here so that
        // nothing stays registered, running or mapped. Leaving the adapter's list inside its
        // gate means a halt in progress has finished with this stream.
        {
            let mut inside = Adapter::of(&self.adapter).enter();
            inside.remove_stream(self);
            let backend = self.inner.lock().backend;
            backend.detach(self, &mut inside);
        }
        drop(self.inner.get_mut().pages.take());
        let mapping = self.inner.get_mut().mapping.take();
        if let Some(mapping) = mapping {
            self.inner.get_mut().dma.discard_buffer();
            self.unmap_pages(mapping);
        }
    }
}

/// The performance counter now.
pub(crate) fn counter() -> u64 {
    // SAFETY: a null frequency pointer is allowed; any IRQL.
    let now = unsafe { kernel::KeQueryPerformanceCounter(null_mut()) };
    u64::try_from(now).unwrap_or(0)
}

/// Reads and validates a client's `KSDATAFORMAT`.
///
/// # Errors
/// `STATUS_INVALID_PARAMETER` for a null or oversized format, else [`Format::parse`]'s status.
///
/// # Safety
/// `format` is null or readable for its `FormatSize` bytes (PortCls's guarantee).
pub unsafe fn read_format(format: PKSDATAFORMAT) -> Result<Format, NTSTATUS> {
    if format.is_null() {
        return Err(STATUS_INVALID_PARAMETER);
    }
    // SAFETY: a readable header (caller's contract).
    let size = unsafe { (*format).FormatSize };
    if size > MAX_CLIENT_FORMAT {
        return Err(STATUS_INVALID_PARAMETER);
    }
    // SAFETY: `FormatSize` readable bytes (caller's contract).
    let bytes = unsafe { core::slice::from_raw_parts(format.cast::<u8>(), size as usize) };
    Format::parse(bytes).map_err(|error| error.status())
}

// ---- The vtable ----

/// The stream behind `this`.
///
/// # Safety
/// `this` is an interface pointer of a live `WaveStream` object.
unsafe fn stream<'a, T>(this: *mut T) -> &'a WaveStream {
    // SAFETY: caller's contract.
    unsafe { ComObject::<WaveStream>::from_this(this.cast()) }
}

portcls_sys::kernel_abi! {
    unsafe fn set_format(
        this: *mut IMiniportWaveRTStream,
        format: PKSDATAFORMAT,
    ) -> NTSTATUS {
        // SAFETY: PortCls calls through a live stream.
        unsafe { stream(this) }.set_format(format)
    }
}

portcls_sys::kernel_abi! {
    unsafe fn set_state(this: *mut IMiniportWaveRTStream, state: KSSTATE) -> NTSTATUS {
        let Some(to) = u32::try_from(state.0).ok().and_then(KsState::from_raw) else {
            return STATUS_INVALID_PARAMETER;
        };
        // SAFETY: PortCls calls through a live stream.
        unsafe { stream(this) }.set_state(to)
    }
}

portcls_sys::kernel_abi! {
    unsafe fn get_position(
        this: *mut IMiniportWaveRTStream,
        position: PKSAUDIO_POSITION,
    ) -> NTSTATUS {
        if position.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: PortCls calls through a live stream.
        let stream = unsafe { stream(this) };
        let offset = {
            let inner = stream.inner.lock();
            if let Some(status) = inner.link.and_then(|link| link.failed()) {
                return status;
            }
            u64::from(inner.position(counter()))
        };
        // SAFETY: writable (checked non-null).
        unsafe {
            position.write(KSAUDIO_POSITION {
                PlayOffset: offset,
                WriteOffset: offset,
            });
        }
        STATUS_SUCCESS
    }
}

portcls_sys::kernel_abi! {
    unsafe fn allocate_audio_buffer(
        this: *mut IMiniportWaveRTStream,
        requested: ULONG,
        mdl: *mut PMDL,
        size: *mut ULONG,
        offset: *mut ULONG,
        cache: *mut MEMORY_CACHING_TYPE,
    ) -> NTSTATUS {
        // SAFETY: PortCls calls through a live stream.
        unsafe { stream(this) }.allocate(0, requested, mdl, size, offset, cache)
    }
}

portcls_sys::kernel_abi! {
    unsafe fn free_audio_buffer(
        this: *mut IMiniportWaveRTStream,
        mdl: PMDL,
        _size: ULONG,
    ) {
        // SAFETY: PortCls calls through a live stream.
        unsafe { stream(this) }.free(mdl);
    }
}

portcls_sys::kernel_abi! {
    unsafe fn get_hw_latency(
        _this: *mut IMiniportWaveRTStream,
        latency: PKSRTAUDIO_HWLATENCY,
    ) {
        if latency.is_null() {
            return;
        }
        // SAFETY: writable (checked non-null). A virtual device has no FIFO and no delays.
        unsafe {
            latency.write(KSRTAUDIO_HWLATENCY {
                FifoSize: 0,
                ChipsetDelay: 0,
                CodecDelay: 0,
            });
        }
    }
}

portcls_sys::kernel_abi! {
    unsafe fn get_register(
        _this: *mut IMiniportWaveRTStream,
        _register: PKSRTAUDIO_HWREGISTER,
    ) -> NTSTATUS {
        // No hardware position or clock register to map.
        STATUS_NOT_SUPPORTED
    }
}

portcls_sys::kernel_abi! {
    unsafe fn allocate_buffer_with_notification(
        this: *mut IMiniportWaveRTStreamNotification,
        count: ULONG,
        requested: ULONG,
        mdl: *mut PMDL,
        size: *mut ULONG,
        offset: *mut ULONG,
        cache: *mut MEMORY_CACHING_TYPE,
    ) -> NTSTATUS {
        if count == 0 {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: PortCls calls through a live stream.
        unsafe { stream(this) }.allocate(count, requested, mdl, size, offset, cache)
    }
}

portcls_sys::kernel_abi! {
    unsafe fn free_buffer_with_notification(
        this: *mut IMiniportWaveRTStreamNotification,
        mdl: PMDL,
        _size: ULONG,
    ) {
        // SAFETY: PortCls calls through a live stream.
        unsafe { stream(this) }.free(mdl);
    }
}

portcls_sys::kernel_abi! {
    unsafe fn register_notification_event(
        this: *mut IMiniportWaveRTStreamNotification,
        event: PKEVENT,
    ) -> NTSTATUS {
        // SAFETY: PortCls calls through a live stream.
        unsafe { stream(this) }.register_event(event)
    }
}

portcls_sys::kernel_abi! {
    unsafe fn unregister_notification_event(
        this: *mut IMiniportWaveRTStreamNotification,
        event: PKEVENT,
    ) -> NTSTATUS {
        // SAFETY: PortCls calls through a live stream.
        unsafe { stream(this) }.unregister_event(event)
    }
}

// ---- The packet facets ----

/// The stream's `IMiniportWaveRTOutputStream`.
struct OutputFacet;

// SAFETY: `output` holds OUTPUT_VTABLE, which begins with this facet's IUnknown part and whose
// slots expect the facet's pointer; listed in WaveStream's FACETS with this IID and offset.
unsafe impl ComFacet for OutputFacet {
    type Class = WaveStream;
    const IID: GUID = IID_IMiniportWaveRTOutputStream;
    const OFFSET: usize = core::mem::offset_of!(WaveStream, output);
}

/// The stream's `IMiniportWaveRTInputStream`.
struct InputFacet;

// SAFETY: as for OutputFacet, with `input` and INPUT_VTABLE.
unsafe impl ComFacet for InputFacet {
    type Class = WaveStream;
    const IID: GUID = IID_IMiniportWaveRTInputStream;
    const OFFSET: usize = core::mem::offset_of!(WaveStream, input);
}

portcls_sys::kernel_abi! {
    unsafe fn set_write_packet(
        this: *mut IMiniportWaveRTOutputStream,
        number: ULONG,
        flags: u32,
        eos_length: ULONG,
    ) -> NTSTATUS {
        // SAFETY: PortCls calls through the live stream's output facet.
        unsafe { OutputFacet::state(this.cast()) }.set_write_packet(number, flags, eos_length)
    }
}

portcls_sys::kernel_abi! {
    unsafe fn get_presentation_position(
        this: *mut IMiniportWaveRTOutputStream,
        position: PKSAUDIO_PRESENTATION_POSITION,
    ) -> NTSTATUS {
        if position.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: as above.
        let value = unsafe { OutputFacet::state(this.cast()) }.presentation_position();
        // SAFETY: writable (checked non-null).
        unsafe { position.write(value) };
        STATUS_SUCCESS
    }
}

portcls_sys::kernel_abi! {
    unsafe fn get_packet_count(this: *mut IMiniportWaveRTOutputStream, count: *mut ULONG) -> NTSTATUS {
        if count.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: as above.
        match unsafe { OutputFacet::state(this.cast()) }.packet_count() {
            Ok(value) => {
                // SAFETY: writable (checked non-null).
                unsafe { count.write(value) };
                STATUS_SUCCESS
            }
            Err(status) => status,
        }
    }
}

portcls_sys::kernel_abi! {
    unsafe fn get_read_packet(
        this: *mut IMiniportWaveRTInputStream,
        number: *mut ULONG,
        flags: *mut u32,
        counter_value: *mut u64,
        more: *mut i32,
    ) -> NTSTATUS {
        if number.is_null() || flags.is_null() || counter_value.is_null() || more.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: PortCls calls through the live stream's input facet.
        match unsafe { InputFacet::state(this.cast()) }.read_packet() {
            Ok((packet, at, more_data)) => {
                // SAFETY: the four out pointers are writable (checked non-null).
                unsafe { number.write(packet) };
                // SAFETY: as above. Flags are reserved: 0.
                unsafe { flags.write(0) };
                // SAFETY: as above.
                unsafe { counter_value.write(at) };
                // SAFETY: as above.
                unsafe { more.write(i32::from(more_data)) };
                STATUS_SUCCESS
            }
            Err(status) => status,
        }
    }
}

static OUTPUT_VTABLE: IMiniportWaveRTOutputStreamVtbl = IMiniportWaveRTOutputStreamVtbl {
    base__: facet_unknown_vtable::<OutputFacet>(),
    SetWritePacket: set_write_packet,
    GetOutputStreamPresentationPosition: get_presentation_position,
    GetPacketCount: get_packet_count,
};

static INPUT_VTABLE: IMiniportWaveRTInputStreamVtbl = IMiniportWaveRTInputStreamVtbl {
    base__: facet_unknown_vtable::<InputFacet>(),
    GetReadPacket: get_read_packet,
};

static STREAM_VTABLE: IMiniportWaveRTStreamNotificationVtbl =
    IMiniportWaveRTStreamNotificationVtbl {
        base__: IMiniportWaveRTStreamVtbl {
            base__: unknown_vtable::<WaveStream>(),
            SetFormat: set_format,
            SetState: set_state,
            GetPosition: get_position,
            AllocateAudioBuffer: allocate_audio_buffer,
            FreeAudioBuffer: free_audio_buffer,
            GetHWLatency: get_hw_latency,
            GetPositionRegister: get_register,
            GetClockRegister: get_register,
        },
        AllocateBufferWithNotification: allocate_buffer_with_notification,
        FreeBufferWithNotification: free_buffer_with_notification,
        RegisterNotificationEvent: register_notification_event,
        UnregisterNotificationEvent: unregister_notification_event,
    };

// SAFETY: STREAM_VTABLE begins with unknown_vtable::<WaveStream>() and its slots expect a
// ComObject<WaveStream>; IMiniportWaveRTStream is a prefix of it. The two facets are the
// `output` and `input` fields, holding their vtables (see OutputFacet and InputFacet).
unsafe impl ComClass for WaveStream {
    type Vtable = IMiniportWaveRTStreamNotificationVtbl;
    const VTABLE: &'static IMiniportWaveRTStreamNotificationVtbl = &STREAM_VTABLE;
    const INTERFACES: &'static [GUID] = &[
        IID_IMiniportWaveRTStream,
        IID_IMiniportWaveRTStreamNotification,
    ];
    const FACETS: &'static [(GUID, usize)] = &[
        (OutputFacet::IID, OutputFacet::OFFSET),
        (InputFacet::IID, InputFacet::OFFSET),
    ];

    /// Render streams are output streams, capture streams input streams.
    fn answers(&self, iid: &GUID) -> bool {
        if self.capture {
            *iid == IID_IMiniportWaveRTInputStream
        } else {
            *iid == IID_IMiniportWaveRTOutputStream
        }
    }
}
