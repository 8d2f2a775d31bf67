//! One virtio-sound device, driver side, from start to stop: the sequence over the pure parts
//! ([`pci`](super::pci), [`transport`], [`ring`](super::ring), [`sound`]), still without FFI.
//!
//! The kernel shell supplies three things: register access to the function's BARs ([`Bars`]:
//! volatile accesses on the mapped BARs), DMA memory ([`DmaMemory`]: common buffers from the
//! DMA adapter) and, for each period, where its bytes are ([`Piece`]s: the WaveRT buffer's
//! pages from `IPortWaveRTStream::GetPhysicalPageAddress`). Everything else is here:
//!
//! - [`SoundDevice::start`]: capabilities, handshake, the four queues (one DMA block each, plus
//!   one block for control messages, events and period headers and statuses), `DRIVER_OK`,
//!   event buffers, the device configuration and every stream's `PCM_INFO`. Any failure resets
//!   the device (so it stops using the driver's memory) and frees every block allocated so far:
//!   nothing is left half started.
//! - Control requests ([`SoundDevice::request`]), one at a time, completed by polling the
//!   control queue (the shell waits between polls: an event its DPC sets, or a stall).
//! - Periods: [`SoundDevice::post_period`] puts one period on the tx or rx queue (header,
//!   the period's bytes in place, status), [`SoundDevice::completions`] takes what the device
//!   finished and checks each status and length.
//! - [`SoundDevice::stop`]: reset, every chain in flight handed back, every block freed.
//!
//! Audio is never copied: a period's descriptors point at the buffer's own pages.

use core::ptr::NonNull;

use portcls_sys::{NTSTATUS, STATUS_DEVICE_PROTOCOL_ERROR, STATUS_INSUFFICIENT_RESOURCES};

use super::pci::{PciError, Region, Structures};
use super::ring::{Buffer, Layout, PostError, RingFault, SplitQueue, Used};
use super::sound::{self, ChmapInfo, Config, Event, JackInfo, PcmInfo, ReplyError};
use super::transport::{self, CommonConfig, QueueAddresses, TransportError};

/// Register access to the function's memory BARs.
pub trait Bars {
    /// Reads `size` bytes (1, 2, 4) at `offset` in BAR `bar`.
    fn read(&mut self, bar: u8, offset: u32, size: u8) -> u64;
    /// Writes `size` bytes of `value` at `offset` in BAR `bar`.
    fn write(&mut self, bar: u8, offset: u32, size: u8, value: u64);
    /// Waits a little while the device completes a reset.
    fn pause(&mut self) {}
}

/// A block of DMA memory: where the driver and the device each see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaBlock {
    /// The driver's (virtual) address.
    pub host: NonNull<u8>,
    /// The device's (logical) address.
    pub device: u64,
    /// Bytes.
    pub bytes: usize,
}

/// Where the driver gets DMA memory (common buffers).
pub trait DmaMemory {
    /// A block of at least `bytes` bytes, page-aligned, or `None`.
    fn allocate(&mut self, bytes: usize) -> Option<DmaBlock>;
    /// Gives a block back.
    fn free(&mut self, block: DmaBlock);
}

/// One piece of a period: a device address and a length (a period that crosses a page
/// boundary of a buffer whose pages are not contiguous has two).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    /// The device address.
    pub address: u64,
    /// Bytes.
    pub len: u32,
}

/// The most pieces a period may have.
pub const MAX_PIECES: usize = super::ring::MAX_CHAIN - 2;
/// The most periods of one stream on the device at once.
pub const MAX_IN_FLIGHT: u32 = 4;
/// Event buffers kept on the event queue.
pub const EVENT_BUFFERS: usize = 16;

/// Offsets in the message block.
const REQUEST_AT: usize = 0;
const REQUEST_BYTES: usize = 64;
const REPLY_AT: usize = REQUEST_AT + REQUEST_BYTES;
/// The largest reply: a status and [`sound::MAX_STREAMS`] info records.
pub const REPLY_BYTES: usize = 4 + sound::PCM_INFO_BYTES * sound::MAX_STREAMS as usize;
const EVENTS_AT: usize = REPLY_AT + REPLY_BYTES;
const STREAMS_AT: usize = EVENTS_AT + EVENT_BUFFERS * sound::EVENT_BYTES;
/// Per stream: its xfer header (8 bytes, 4 used), then one status per period in flight.
const STREAM_SLOT: usize = 8 + sound::PCM_STATUS_BYTES * MAX_IN_FLIGHT as usize;
const MESSAGE_BYTES: usize = STREAMS_AT + STREAM_SLOT * sound::MAX_STREAMS as usize;

// The message block is one page.
const _: () = assert!(MESSAGE_BYTES <= 4096);

/// The token of the control request in flight.
const CONTROL_TOKEN: u32 = 0xC0DE;

/// The step of [`SoundDevice::start`] that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartStep {
    /// Finding the structures in configuration space and the BARs.
    Structures(PciError),
    /// The handshake or a queue's set-up.
    Transport(TransportError),
    /// DMA memory for a queue or the messages.
    Memory,
    /// Posting the event buffers.
    Events(PostError),
    /// A query (`PCM_INFO`).
    Query(DeviceError),
}

impl StartStep {
    /// The NTSTATUS the start fails with.
    #[must_use]
    pub const fn status(&self) -> NTSTATUS {
        match self {
            Self::Structures(error) => error.status(),
            Self::Transport(error) => error.status(),
            Self::Memory => STATUS_INSUFFICIENT_RESOURCES,
            Self::Events(error) => error.status(),
            Self::Query(error) => error.status(),
        }
    }
}

/// A device that failed a request or broke the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceError {
    /// The device wrote what no conforming device writes into a queue.
    Ring(RingFault),
    /// A queue refused a chain.
    Post(PostError),
    /// The device's reply: a status other than OK, or a malformed reply.
    Reply(ReplyError),
    /// The reply did not come while the shell waited.
    Timeout,
    /// The device completed a chain the driver was not waiting for there.
    Unexpected,
    /// A request for a stream the device does not have, a period with no or too many pieces,
    /// or too many periods in flight.
    BadRequest,
}

impl DeviceError {
    /// The NTSTATUS the request fails with.
    #[must_use]
    pub const fn status(&self) -> NTSTATUS {
        match self {
            Self::Ring(fault) => fault.status(),
            Self::Post(error) => error.status(),
            Self::Reply(error) => error.status(),
            Self::Timeout => portcls_sys::STATUS_IO_DEVICE_ERROR,
            Self::Unexpected => STATUS_DEVICE_PROTOCOL_ERROR,
            Self::BadRequest => portcls_sys::STATUS_INVALID_PARAMETER,
        }
    }
}

impl From<RingFault> for DeviceError {
    fn from(fault: RingFault) -> Self {
        Self::Ring(fault)
    }
}

impl From<PostError> for DeviceError {
    fn from(error: PostError) -> Self {
        Self::Post(error)
    }
}

impl From<ReplyError> for DeviceError {
    fn from(error: ReplyError) -> Self {
        Self::Reply(error)
    }
}

/// A period the device finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The stream.
    pub stream: u32,
    /// The token the period was posted with.
    pub token: u32,
    /// The device's status for it: the latency it reported, or why it failed.
    pub result: Result<u32, ReplyError>,
}

/// What the device reported besides periods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// A period.
    Period(Completion),
    /// An event from the event queue.
    Event(Event),
}

/// The common configuration through the BARs.
struct Common<'a, B: Bars> {
    bars: &'a mut B,
    region: Region,
}

impl<B: Bars> Common<'_, B> {
    fn at(&self, offset: usize) -> u32 {
        self.region
            .offset
            .saturating_add(u32::try_from(offset).unwrap_or(u32::MAX))
    }

    fn narrow<T: TryFrom<u64> + Default>(value: u64) -> T {
        T::try_from(value).unwrap_or_default()
    }
}

impl<B: Bars> CommonConfig for Common<'_, B> {
    fn read8(&mut self, offset: usize) -> u8 {
        Self::narrow(self.bars.read(self.region.bar, self.at(offset), 1))
    }
    fn read16(&mut self, offset: usize) -> u16 {
        Self::narrow(self.bars.read(self.region.bar, self.at(offset), 2))
    }
    fn read32(&mut self, offset: usize) -> u32 {
        Self::narrow(self.bars.read(self.region.bar, self.at(offset), 4))
    }
    fn write8(&mut self, offset: usize, value: u8) {
        self.bars
            .write(self.region.bar, self.at(offset), 1, value.into());
    }
    fn write16(&mut self, offset: usize, value: u16) {
        self.bars
            .write(self.region.bar, self.at(offset), 2, value.into());
    }
    fn write32(&mut self, offset: usize, value: u32) {
        self.bars
            .write(self.region.bar, self.at(offset), 4, value.into());
    }
    fn pause(&mut self) {
        self.bars.pause();
    }
}

/// The state of one device stream.
#[derive(Clone, Copy, Debug, Default)]
struct StreamState {
    info: Option<PcmInfo>,
    in_flight: u32,
    /// The next status slot.
    next_slot: u32,
    /// Bytes of audio of the period in each status slot (what a capture period must bring).
    period_bytes: [u32; MAX_IN_FLIGHT as usize],
}

impl StreamState {
    const EMPTY: Self = Self {
        info: None,
        in_flight: 0,
        next_slot: 0,
        period_bytes: [0; MAX_IN_FLIGHT as usize],
    };
}

/// A started virtio-sound device. See the [module](self) docs.
pub struct SoundDevice {
    structures: Structures,
    features: u64,
    queues: [SplitQueue; 4],
    rings: [Option<DmaBlock>; 4],
    messages: DmaBlock,
    notify: [u32; 4],
    config: Config,
    streams: [StreamState; sound::MAX_STREAMS as usize],
    /// The channel maps the device lists (the first [`MAX_CHMAPS`]).
    chmaps: [Option<ChmapInfo>; MAX_CHMAPS],
    /// The jacks the device has (the first [`MAX_JACKS`]), connected as it last said.
    jacks: [Option<JackInfo>; MAX_JACKS],
}

/// The most channel maps the driver asks for (a device that lists more has those first ones
/// read, the rest ignored).
pub const MAX_CHMAPS: usize = MAX_CHMAP_QUERY as usize;
/// [`MAX_CHMAPS`] as the query counts it.
const MAX_CHMAP_QUERY: u32 = 8;
/// The most jacks the driver asks about (as for channel maps, the rest are ignored).
pub const MAX_JACKS: usize = MAX_JACK_QUERY as usize;
/// [`MAX_JACKS`] as the query counts it.
const MAX_JACK_QUERY: u32 = 8;
/// Bytes of the largest info record (`virtio_snd_pcm_info`).
const RECORD_BYTES: usize = sound::PCM_INFO_BYTES;
// Every reply fits the reply area.
const _: () = assert!(4 + MAX_JACKS * sound::JACK_INFO_BYTES <= REPLY_BYTES);
const _: () = assert!(4 + MAX_CHMAPS * sound::CHMAP_INFO_BYTES <= REPLY_BYTES);

/// The outcome of an optional query: refused as not supported is none, which is no failure
/// (nothing was stored: the status comes before the records).
fn optional(result: Result<(), StartStep>) -> Result<(), StartStep> {
    match result {
        Err(StartStep::Query(DeviceError::Reply(ReplyError::NotSupported))) => Ok(()),
        other => other,
    }
}

// SAFETY: the device's blocks are the driver's own DMA memory, owned by this value; moving it
// to another thread moves that ownership (the shell serialises access under its lock).
unsafe impl Send for SoundDevice {}

impl core::fmt::Debug for SoundDevice {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SoundDevice")
            .field("features", &self.features)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Blocks allocated during a start, freed if it fails.
struct Allocated<'a, D: DmaMemory> {
    dma: &'a mut D,
    blocks: [Option<DmaBlock>; 5],
}

impl<D: DmaMemory> Allocated<'_, D> {
    fn take(&mut self, slot: usize, bytes: usize) -> Result<DmaBlock, StartStep> {
        let block = self
            .dma
            .allocate(bytes)
            .filter(|block| block.bytes >= bytes && block.host.as_ptr().align_offset(16) == 0)
            .ok_or(StartStep::Memory)?;
        if let Some(entry) = self.blocks.get_mut(slot) {
            *entry = Some(block);
        }
        Ok(block)
    }

    fn free_all(&mut self) {
        for block in self.blocks.iter_mut().filter_map(Option::take) {
            self.dma.free(block);
        }
    }
}

impl SoundDevice {
    /// Starts the device: see the [module](self) docs. `space` is the function's
    /// configuration space, `bar_lengths` the lengths of the memory BARs the system assigned
    /// (0 for none), `vectors` the MSI-X messages the system granted (0: a line interrupt);
    /// `wait` is called between polls of a control reply and returns `false` to give up.
    ///
    /// # Errors
    /// The step that failed; the device is reset and nothing stays allocated.
    pub fn start(
        bars: &mut impl Bars,
        dma: &mut impl DmaMemory,
        space: &[u8; 256],
        bar_lengths: &[u64; 6],
        vectors: u16,
        wait: &mut dyn FnMut() -> bool,
    ) -> Result<Self, StartStep> {
        let mut device = Self::placeholder();
        device.start_in(bars, dma, space, bar_lengths, vectors, wait)?;
        Ok(device)
    }

    /// A device not started: no memory, every request and period refused. What
    /// [`SoundDevice::start_in`] starts in place (the device is a few KiB: a driver keeps it in
    /// pool and never copies it across its kernel stack).
    #[must_use]
    pub const fn placeholder() -> Self {
        let nowhere = Region {
            bar: 0,
            offset: 0,
            length: 0,
        };
        Self {
            structures: Structures {
                common: nowhere,
                notify: nowhere,
                notify_multiplier: 0,
                isr: nowhere,
                device: nowhere,
                msix: None,
            },
            features: 0,
            queues: [
                SplitQueue::placeholder(),
                SplitQueue::placeholder(),
                SplitQueue::placeholder(),
                SplitQueue::placeholder(),
            ],
            rings: [None; 4],
            messages: DmaBlock {
                host: NonNull::dangling(),
                device: 0,
                bytes: 0,
            },
            notify: [0; 4],
            config: Config {
                jacks: 0,
                streams: 0,
                chmaps: 0,
            },
            streams: [StreamState::EMPTY; sound::MAX_STREAMS as usize],
            chmaps: [None; MAX_CHMAPS],
            jacks: [None; MAX_JACKS],
        }
    }

    /// [`SoundDevice::start`] in place, on a [placeholder](SoundDevice::placeholder) (or a
    /// device stopped with [`SoundDevice::shut_down`]).
    ///
    /// # Errors
    /// As [`SoundDevice::start`]; the device is left a placeholder.
    // Not inlined: a frame of its own keeps each caller's small (a driver image cannot link the
    // kernel's stack probe, `__chkstk`, which frames over a page need).
    #[inline(never)]
    pub fn start_in(
        &mut self,
        bars: &mut impl Bars,
        dma: &mut impl DmaMemory,
        space: &[u8; 256],
        bar_lengths: &[u64; 6],
        vectors: u16,
        wait: &mut dyn FnMut() -> bool,
    ) -> Result<(), StartStep> {
        let structures =
            Structures::parse(space, sound::PCI_DEVICE_ID).map_err(StartStep::Structures)?;
        let device_bytes = u32::try_from(sound::CONFIG_BYTES).unwrap_or(u32::MAX);
        structures
            .locate(bar_lengths, transport::COMMON_CONFIG_BYTES, device_bytes)
            .map_err(StartStep::Structures)?;
        let mut allocated = Allocated {
            dma,
            blocks: [None; 5],
        };
        match self.bring_up(bars, &mut allocated, structures, vectors, wait) {
            Ok(()) => Ok(()),
            Err(step) => {
                transport::fail(&mut Common {
                    bars,
                    region: structures.common,
                });
                allocated.free_all();
                // Back to a placeholder, field by field (no copy of the whole device).
                for queue in &mut self.queues {
                    queue.clear();
                }
                self.rings = [None; 4];
                self.messages.bytes = 0;
                self.streams = [StreamState::EMPTY; sound::MAX_STREAMS as usize];
                self.chmaps = [None; MAX_CHMAPS];
                self.jacks = [None; MAX_JACKS];
                Err(step)
            }
        }
    }

    /// The vector of queue `index` for `vectors` granted messages: its own when there are
    /// enough (vector 0 is configuration changes), else all share vector 0, none for a line.
    const fn vector(vectors: u16, index: u16) -> u16 {
        if vectors == 0 {
            transport::NO_VECTOR
        } else if vectors > sound::QUEUES {
            index + 1
        } else {
            0
        }
    }

    #[inline(never)]
    fn bring_up<D: DmaMemory>(
        &mut self,
        bars: &mut impl Bars,
        allocated: &mut Allocated<'_, D>,
        structures: Structures,
        vectors: u16,
        wait: &mut dyn FnMut() -> bool,
    ) -> Result<(), StartStep> {
        let mut common = Common {
            bars: &mut *bars,
            region: structures.common,
        };
        let features =
            transport::begin(&mut common, sound::QUEUES).map_err(StartStep::Transport)?;
        let config_vector = if vectors == 0 {
            transport::NO_VECTOR
        } else {
            0
        };
        transport::set_config_vector(&mut common, config_vector).map_err(StartStep::Transport)?;
        let messages = allocated.take(4, MESSAGE_BYTES)?;
        // The queues are set up in place (each is about a kilobyte: no copies of them on
        // the kernel stack).
        let device = self;
        device.structures = structures;
        device.features = features;
        device.messages = messages;
        for index in 0..sound::QUEUES {
            let max = transport::queue_max(&mut common, index).map_err(StartStep::Transport)?;
            let missing = StartStep::Transport(TransportError::MissingQueue(index));
            let size = Layout::size_for(max).ok_or(missing)?;
            let layout = Layout::new(size).ok_or(missing)?;
            let slot = usize::from(index);
            let block = allocated.take(slot, layout.bytes)?;
            let Some(queue) = device.queues.get_mut(slot) else {
                return Err(StartStep::Memory);
            };
            // SAFETY: the block is DMA memory the driver owns until `stop` (or the failed start)
            // frees it, at least `layout.bytes` long and 16-aligned (checked by `take`); only
            // this queue, set up on it in place, and the device touch it.
            unsafe { queue.set_up(block.host, block.device, layout) };
            let addresses = QueueAddresses {
                size,
                descriptors: queue.descriptor_address(),
                driver_area: queue.driver_area_address(),
                device_area: queue.device_area_address(),
            };
            let vector = Self::vector(vectors, index);
            let notify_off = transport::enable_queue(&mut common, index, addresses, vector)
                .map_err(StartStep::Transport)?;
            let offset = structures
                .notify_offset(notify_off)
                .map_err(StartStep::Structures)?;
            if let (Some(ring), Some(target)) =
                (device.rings.get_mut(slot), device.notify.get_mut(slot))
            {
                *ring = Some(block);
                *target = offset;
            }
        }
        transport::finish(&mut common).map_err(StartStep::Transport)?;
        for slot in 0..EVENT_BUFFERS {
            device.post_event(slot).map_err(StartStep::Events)?;
        }
        device.kick(bars, sound::EVENT_QUEUE);
        device.config = device.read_config(bars);
        let count = device.config.streams_used();
        device.query(
            bars,
            wait,
            (sound::R_PCM_INFO, count, sound::PCM_INFO_BYTES),
            PcmInfo::parse,
            |device, index, info| {
                if let Some(state) = device.streams.get_mut(index) {
                    state.info = Some(info);
                }
            },
        )?;
        // Channel maps and jacks are optional: a device that does not implement their query
        // (`VIRTIO_SND_S_NOT_SUPP`) is taken to have none. Any other failure fails the start.
        let maps = device.config.chmaps.min(MAX_CHMAP_QUERY);
        let chmaps = device.query(
            bars,
            wait,
            (sound::R_CHMAP_INFO, maps, sound::CHMAP_INFO_BYTES),
            ChmapInfo::parse,
            |device, index, map| {
                if let Some(slot) = device.chmaps.get_mut(index) {
                    *slot = Some(map);
                }
            },
        );
        optional(chmaps)?;
        let jacks = device.config.jacks.min(MAX_JACK_QUERY);
        let jacks = device.query(
            bars,
            wait,
            (sound::R_JACK_INFO, jacks, sound::JACK_INFO_BYTES),
            JackInfo::parse,
            |device, index, jack| {
                if let Some(slot) = device.jacks.get_mut(index) {
                    *slot = Some(jack);
                }
            },
        );
        optional(jacks)
    }

    /// Asks for items `0..count` of `code` (`PCM_INFO`, `CHMAP_INFO`, `JACK_INFO`), each a
    /// record of `size` bytes, and reads the reply from the reply area record by record (no
    /// copy of the whole reply), handing each to `store` with its index: all of them, or an
    /// error if one is malformed (the failed start then forgets what was stored). Nothing is
    /// asked for none. The callers keep `count` to what fits the reply area.
    // Not inlined: its frame comes and goes with each query (see `start_in`).
    #[inline(never)]
    fn query<T>(
        &mut self,
        bars: &mut impl Bars,
        wait: &mut dyn FnMut() -> bool,
        (code, count, size): (u32, u32, usize),
        parse: fn(&[u8]) -> Result<T, ReplyError>,
        store: fn(&mut Self, usize, T),
    ) -> Result<(), StartStep> {
        let records = usize::try_from(count).unwrap_or(usize::MAX);
        if records == 0 {
            return Ok(());
        }
        let needed = records.saturating_mul(size).saturating_add(4);
        let (Ok(wire_size), Ok(reply_len)) = (u32::try_from(size), u32::try_from(needed)) else {
            return Err(StartStep::Query(DeviceError::BadRequest));
        };
        let query = sound::query_info(code, 0, count, wire_size);
        let written = self
            .request(bars, &query, reply_len, wait)
            .map_err(StartStep::Query)?;
        let malformed = |error| StartStep::Query(DeviceError::Reply(error));
        let written = usize::try_from(written)
            .unwrap_or(usize::MAX)
            .min(REPLY_BYTES);
        if written < 4 {
            return Err(malformed(ReplyError::Short { needed: 4, written }));
        }
        let status: [u8; 4] = self.read_message(REPLY_AT);
        sound::check_status(u32::from_le_bytes(status)).map_err(malformed)?;
        if written < needed {
            return Err(malformed(ReplyError::Short { needed, written }));
        }
        for index in 0..records {
            let record: [u8; RECORD_BYTES] = self.read_message(REPLY_AT + 4 + index * size);
            let bytes = record.get(..size).ok_or(malformed(ReplyError::BadInfo))?;
            let item = parse(bytes).map_err(malformed)?;
            store(self, index, item);
        }
        Ok(())
    }

    /// Where the ISR status byte is (for a line interrupt's ISR).
    #[must_use]
    pub const fn isr_region(&self) -> Option<Region> {
        Some(self.structures.isr)
    }

    /// The features negotiated.
    #[must_use]
    pub const fn features(&self) -> u64 {
        self.features
    }

    /// The device configuration read at start.
    #[must_use]
    pub const fn config(&self) -> Config {
        self.config
    }

    /// What the device said about stream `id` at start (`None` for a stream it does not have
    /// or one beyond [`sound::MAX_STREAMS`]).
    #[must_use]
    pub fn stream_info(&self, id: u32) -> Option<PcmInfo> {
        self.streams.get(usize::try_from(id).ok()?)?.info
    }

    /// The channel maps the device lists for `direction` ([`sound::D_OUTPUT`] or
    /// [`sound::D_INPUT`]).
    pub fn channel_maps(&self, direction: u8) -> impl Iterator<Item = ChmapInfo> + '_ {
        self.chmaps
            .iter()
            .flatten()
            .copied()
            .filter(move |map| map.direction == direction)
    }

    /// The jacks the device has, by id, connected as it last said (at start, then by its
    /// jack events).
    pub fn jacks(&self) -> impl Iterator<Item = (u32, JackInfo)> + Clone + '_ {
        (0_u32..)
            .zip(self.jacks.iter())
            .filter_map(|(id, jack)| Some((id, (*jack)?)))
    }

    /// The streams the device has, with their info.
    pub fn streams(&self) -> impl Iterator<Item = (u32, PcmInfo)> + Clone + '_ {
        (0_u32..)
            .zip(self.streams.iter())
            .filter_map(|(id, state)| Some((id, state.info?)))
    }

    fn read_config(&self, bars: &mut impl Bars) -> Config {
        let mut bytes = [0_u8; sound::CONFIG_BYTES];
        let region = self.structures.device;
        for (offset, byte) in (0_u32..).zip(bytes.iter_mut()) {
            let value = bars.read(region.bar, region.offset.saturating_add(offset), 1);
            *byte = u8::try_from(value).unwrap_or(0);
        }
        Config::parse(&bytes)
    }

    fn kick(&self, bars: &mut impl Bars, queue: u16) {
        if let Some(&offset) = self.notify.get(usize::from(queue)) {
            bars.write(self.structures.notify.bar, offset, 2, queue.into());
        }
    }

    /// A pointer `at` bytes into the message block, if `bytes` more fit.
    fn message(&self, at: usize, bytes: usize) -> Option<*mut u8> {
        (at.checked_add(bytes)? <= self.messages.bytes.min(MESSAGE_BYTES))
            // SAFETY: inside the message block (checked), which the device owns for its life.
            .then(|| unsafe { self.messages.host.as_ptr().add(at) })
    }

    fn message_address(&self, at: usize) -> u64 {
        self.messages.device + u64::try_from(at).unwrap_or(0)
    }

    fn write_message(&self, at: usize, bytes: &[u8]) {
        for (i, byte) in bytes.iter().enumerate() {
            if let Some(pointer) = self.message(at + i, 1) {
                // SAFETY: a byte of the message block (checked by `message`); volatile because
                // the device reads it.
                unsafe { pointer.write_volatile(*byte) };
            }
        }
    }

    fn read_message<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0; N];
        for (i, byte) in out.iter_mut().enumerate() {
            if let Some(pointer) = self.message(at + i, 1) {
                // SAFETY: a byte of the message block (checked by `message`); volatile because
                // the device writes it.
                *byte = unsafe { pointer.read_volatile() };
            }
        }
        out
    }

    /// The reply's first `written` bytes (bounded by the reply area).
    fn reply_bytes(&self, written: u32) -> ReplyBuffer {
        let mut reply = ReplyBuffer {
            bytes: [0; REPLY_BYTES],
            len: usize::try_from(written)
                .unwrap_or(REPLY_BYTES)
                .min(REPLY_BYTES),
        };
        let all: [u8; REPLY_BYTES] = self.read_message(REPLY_AT);
        reply.bytes = all;
        reply
    }

    fn post_event(&mut self, slot: usize) -> Result<(), PostError> {
        let at = EVENTS_AT + slot * sound::EVENT_BYTES;
        let len = u32::try_from(sound::EVENT_BYTES).unwrap_or(0);
        let token = u32::try_from(slot).unwrap_or(0);
        let chain = [Buffer::writable(self.message_address(at), len)];
        self.queues[usize::from(sound::EVENT_QUEUE)]
            .post(&chain, token)
            .map(|_| ())
    }

    /// Sends a control request (at most 64 bytes) with room for `reply_len` bytes of reply and
    /// waits for it; returns the bytes the device wrote. The reply is read with
    /// [`SoundDevice::last_reply`].
    ///
    /// # Errors
    /// [`DeviceError`]: the queue refused, the device broke the protocol, or no reply came.
    pub fn request(
        &mut self,
        bars: &mut impl Bars,
        request: &[u8],
        reply_len: u32,
        wait: &mut dyn FnMut() -> bool,
    ) -> Result<u32, DeviceError> {
        self.send(bars, request, reply_len)?;
        loop {
            if let Some(written) = self.reply()? {
                return Ok(written);
            }
            if !wait() {
                return Err(DeviceError::Timeout);
            }
        }
    }

    /// The first half of [`SoundDevice::request`]: the request goes to the device, which is
    /// notified. The caller then polls [`SoundDevice::reply`] (and sends nothing else on the
    /// control queue until it came: one request at a time).
    ///
    /// # Errors
    /// [`DeviceError::BadRequest`] for an empty or oversized request or a reply area that does
    /// not fit; the queue's refusal.
    pub fn send(
        &mut self,
        bars: &mut impl Bars,
        request: &[u8],
        reply_len: u32,
    ) -> Result<(), DeviceError> {
        let reply_fits =
            usize::try_from(reply_len).is_ok_and(|len| (4..=REPLY_BYTES).contains(&len));
        if request.len() > REQUEST_BYTES || request.is_empty() || !reply_fits {
            return Err(DeviceError::BadRequest);
        }
        self.write_message(REQUEST_AT, request);
        let chain = [
            Buffer::readable(
                self.message_address(REQUEST_AT),
                u32::try_from(request.len()).unwrap_or(0),
            ),
            Buffer::writable(self.message_address(REPLY_AT), reply_len),
        ];
        let control = usize::from(sound::CONTROL_QUEUE);
        self.queues[control].post(&chain, CONTROL_TOKEN)?;
        self.kick(bars, sound::CONTROL_QUEUE);
        Ok(())
    }

    /// The second half of [`SoundDevice::request`]: the bytes the device wrote in reply to
    /// the request sent, once it has replied.
    ///
    /// # Errors
    /// The device broke the control queue, or completed something that was not the request.
    pub fn reply(&mut self) -> Result<Option<u32>, DeviceError> {
        let control = usize::from(sound::CONTROL_QUEUE);
        match self.queues[control].take_used()? {
            Some(Used { token, written }) if token == CONTROL_TOKEN => Ok(Some(written)),
            Some(_) => Err(DeviceError::Unexpected),
            None => Ok(None),
        }
    }

    /// The status in the reply of a command (`written` bytes of it).
    ///
    /// # Errors
    /// A short reply or a status other than OK.
    pub fn command_status(&self, written: u32) -> Result<(), DeviceError> {
        let reply = self.reply_bytes(written);
        sound::parse_status(reply.as_slice(), written).map_err(DeviceError::Reply)
    }

    /// The bytes of `PCM_SET_PARAMS` for `params`, checked.
    ///
    /// # Errors
    /// [`DeviceError::BadRequest`] for a stream the device does not have.
    pub fn set_params_request(
        &self,
        params: &sound::Params,
    ) -> Result<[u8; sound::SET_PARAMS_BYTES], DeviceError> {
        self.stream_info(params.stream)
            .ok_or(DeviceError::BadRequest)?;
        Ok(params.encode())
    }

    /// The bytes of a PCM command (`PREPARE`, `START`, `STOP`, `RELEASE`) of `stream`, checked.
    ///
    /// # Errors
    /// [`DeviceError::BadRequest`] for a stream the device does not have.
    pub fn pcm_request(
        &self,
        code: u32,
        stream: u32,
    ) -> Result<[u8; sound::PCM_HDR_BYTES], DeviceError> {
        self.stream_info(stream).ok_or(DeviceError::BadRequest)?;
        Ok(sound::pcm_command(code, stream))
    }

    /// The reply of the last request, `written` bytes of it.
    #[must_use]
    pub fn last_reply(&self, written: u32) -> ReplyBuffer {
        self.reply_bytes(written)
    }

    /// A request whose reply is a status.
    ///
    /// # Errors
    /// As [`SoundDevice::request`], and the status if it is not OK.
    pub fn command(
        &mut self,
        bars: &mut impl Bars,
        request: &[u8],
        wait: &mut dyn FnMut() -> bool,
    ) -> Result<(), DeviceError> {
        let written = self.request(bars, request, 4, wait)?;
        self.command_status(written)
    }

    /// Sets a stream's parameters (`PCM_SET_PARAMS`).
    ///
    /// # Errors
    /// As [`SoundDevice::command`]; [`DeviceError::BadRequest`] for a stream the device does not
    /// have.
    pub fn set_params(
        &mut self,
        bars: &mut impl Bars,
        params: &sound::Params,
        wait: &mut dyn FnMut() -> bool,
    ) -> Result<(), DeviceError> {
        let request = self.set_params_request(params)?;
        self.command(bars, &request, wait)
    }

    /// `PCM_PREPARE`, `PCM_START`, `PCM_STOP` or `PCM_RELEASE` of a stream.
    ///
    /// # Errors
    /// As [`SoundDevice::set_params`].
    pub fn pcm(
        &mut self,
        bars: &mut impl Bars,
        code: u32,
        stream: u32,
        wait: &mut dyn FnMut() -> bool,
    ) -> Result<(), DeviceError> {
        let request = self.pcm_request(code, stream)?;
        self.command(bars, &request, wait)
    }

    /// Puts one period of `stream` on its queue (tx for an output stream, rx for an input
    /// one): its header, its `pieces` in place, its status; then notifies the device.
    ///
    /// # Errors
    /// [`DeviceError::BadRequest`] for an unknown stream, no or too many pieces, or
    /// [`MAX_IN_FLIGHT`] periods already on the device; the queue's refusal.
    pub fn post_period(
        &mut self,
        bars: &mut impl Bars,
        stream: u32,
        pieces: &[Piece],
        token: u32,
    ) -> Result<(), DeviceError> {
        let info = self.stream_info(stream).ok_or(DeviceError::BadRequest)?;
        let index = usize::try_from(stream).map_err(|_| DeviceError::BadRequest)?;
        let state = *self.streams.get(index).ok_or(DeviceError::BadRequest)?;
        if pieces.is_empty() || pieces.len() > MAX_PIECES || state.in_flight >= MAX_IN_FLIGHT {
            return Err(DeviceError::BadRequest);
        }
        let input = info.direction == sound::D_INPUT;
        let base = STREAMS_AT + index * STREAM_SLOT;
        self.write_message(base, &sound::xfer(stream));
        let slot = state.next_slot % MAX_IN_FLIGHT;
        let status_at = base + 8 + sound::PCM_STATUS_BYTES * usize::try_from(slot).unwrap_or(0);
        let mut chain = [Buffer::readable(0, 1); super::ring::MAX_CHAIN];
        chain[0] = Buffer::readable(self.message_address(base), 4);
        for (target, piece) in chain.iter_mut().skip(1).zip(pieces) {
            *target = Buffer {
                addr: piece.address,
                len: piece.len,
                device_writes: input,
            };
        }
        let status_len = u32::try_from(sound::PCM_STATUS_BYTES).unwrap_or(0);
        let last = pieces.len() + 1;
        if let Some(target) = chain.get_mut(last) {
            *target = Buffer::writable(self.message_address(status_at), status_len);
        }
        let queue = if input {
            sound::RX_QUEUE
        } else {
            sound::TX_QUEUE
        };
        // The token carries the stream, the status slot and the caller's token.
        let chained = chain.get(..=last).ok_or(DeviceError::BadRequest)?;
        let ring_token = stream << 28 | slot << 24 | (token & 0x00FF_FFFF);
        self.queues[usize::from(queue)].post(chained, ring_token)?;
        if let Some(state) = self.streams.get_mut(index) {
            state.in_flight += 1;
            state.next_slot = state.next_slot.wrapping_add(1);
            let bytes = pieces
                .iter()
                .map(|piece| piece.len)
                .fold(0, u32::saturating_add);
            if let Some(entry) = state
                .period_bytes
                .get_mut(usize::try_from(slot).unwrap_or(usize::MAX))
            {
                *entry = bytes;
            }
        }
        self.kick(bars, queue);
        Ok(())
    }

    /// Takes everything the device finished on the tx, rx and event queues (what the DPC
    /// does after an interrupt), and reposts each event buffer. Periods come with their
    /// status, checked: a length that is not exactly the period's audio (input) plus the
    /// status, or a status other than OK, is the period's `result`.
    ///
    /// # Errors
    /// A queue the device broke (its [`RingFault`]): the device must be reset.
    pub fn completions(
        &mut self,
        bars: &mut impl Bars,
        mut each: impl FnMut(Report),
    ) -> Result<(), DeviceError> {
        for queue in [sound::TX_QUEUE, sound::RX_QUEUE] {
            while let Some(used) = self.queues[usize::from(queue)].take_used()? {
                let stream = used.token >> 28;
                let slot = used.token >> 24 & 0xF;
                let index = usize::try_from(stream).unwrap_or(usize::MAX);
                let Some(state) = self.streams.get_mut(index) else {
                    return Err(DeviceError::Unexpected);
                };
                state.in_flight = state.in_flight.saturating_sub(1);
                let slot = usize::try_from(slot).unwrap_or(usize::MAX);
                // A capture period comes back full (its bytes, then the status); a playback
                // period with the status only.
                let audio = if queue == sound::RX_QUEUE {
                    state.period_bytes.get(slot).copied().unwrap_or(0)
                } else {
                    0
                };
                let status_at =
                    STREAMS_AT + index * STREAM_SLOT + 8 + sound::PCM_STATUS_BYTES * slot;
                let status: [u8; sound::PCM_STATUS_BYTES] = self.read_message(status_at);
                let result = sound::parse_period(&status, used.written, audio)
                    .map(|status| status.latency_bytes);
                each(Report::Period(Completion {
                    stream,
                    token: used.token & 0x00FF_FFFF,
                    result,
                }));
            }
        }
        let mut reposted = false;
        while let Some(used) = self.queues[usize::from(sound::EVENT_QUEUE)].take_used()? {
            let slot = usize::try_from(used.token).unwrap_or(usize::MAX);
            if slot >= EVENT_BUFFERS {
                return Err(DeviceError::Unexpected);
            }
            let event: [u8; sound::EVENT_BYTES] =
                self.read_message(EVENTS_AT + slot * sound::EVENT_BYTES);
            if let Ok(event) = sound::parse_event(&event, used.written) {
                let plugged = match event {
                    Event::JackConnected(id) => Some((id, true)),
                    Event::JackDisconnected(id) => Some((id, false)),
                    _ => None,
                };
                // A jack the device does not have (or one beyond those read) changes nothing.
                if let Some((id, connected)) = plugged
                    && let Some(jack) = usize::try_from(id)
                        .ok()
                        .and_then(|index| self.jacks.get_mut(index))
                        .and_then(Option::as_mut)
                {
                    jack.connected = connected;
                }
                each(Report::Event(event));
            }
            self.post_event(slot)?;
            reposted = true;
        }
        if reposted {
            self.kick(bars, sound::EVENT_QUEUE);
        }
        Ok(())
    }

    /// Checks the device still works (after a configuration interrupt, or when a reply does
    /// not come).
    ///
    /// # Errors
    /// [`TransportError::NeedsReset`] or [`TransportError::Removed`].
    pub fn check(&self, bars: &mut impl Bars) -> Result<(), TransportError> {
        transport::check(&mut Common {
            bars,
            region: self.structures.common,
        })
    }

    /// Periods of `stream` on the device.
    #[must_use]
    pub fn in_flight(&self, stream: u32) -> u32 {
        usize::try_from(stream)
            .ok()
            .and_then(|index| self.streams.get(index))
            .map_or(0, |state| state.in_flight)
    }

    /// Stops the device: resets it (it lets go of the driver's memory), hands back the token
    /// of every period still on it (`dropped(stream, token)`), and frees every block.
    /// Returns whether the reset completed (if not, the blocks are still freed: the device
    /// has had its chance).
    pub fn stop(
        mut self,
        bars: &mut impl Bars,
        dma: &mut impl DmaMemory,
        dropped: impl FnMut(u32, u32),
    ) -> bool {
        self.shut_down(bars, dma, dropped)
    }

    /// [`SoundDevice::stop`] in place, for a device that lives in pool: afterwards it is
    /// inert (every request and period is refused, nothing completes) and a second call does
    /// nothing.
    pub fn shut_down(
        &mut self,
        bars: &mut impl Bars,
        dma: &mut impl DmaMemory,
        mut dropped: impl FnMut(u32, u32),
    ) -> bool {
        if self.messages.bytes == 0 {
            return true;
        }
        let reset = transport::reset(&mut Common {
            bars,
            region: self.structures.common,
        })
        .is_ok();
        for queue in [sound::TX_QUEUE, sound::RX_QUEUE] {
            if let Some(queue) = self.queues.get_mut(usize::from(queue)) {
                queue.drain(|token| dropped(token >> 28, token & 0x00FF_FFFF));
            }
        }
        for queue in &mut self.queues {
            queue.clear();
        }
        for block in self.rings.iter_mut().filter_map(Option::take) {
            dma.free(block);
        }
        dma.free(self.messages);
        self.messages.bytes = 0;
        self.streams = [StreamState::EMPTY; sound::MAX_STREAMS as usize];
        self.chmaps = [None; MAX_CHMAPS];
        self.jacks = [None; MAX_JACKS];
        reset
    }
}

/// A copy of a reply, as the device wrote it.
#[derive(Clone, Copy)]
pub struct ReplyBuffer {
    bytes: [u8; REPLY_BYTES],
    len: usize,
}

impl ReplyBuffer {
    /// The bytes the device wrote.
    #[must_use]
    pub fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

impl core::ops::Deref for ReplyBuffer {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl core::fmt::Debug for ReplyBuffer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// Splits the period at `offset` (`len` bytes) of a buffer into pieces at page boundaries,
/// each page's device address from `page_address(page_index)`; contiguous pages make one
/// piece. Returns the pieces used.
///
/// # Errors
/// [`DeviceError::BadRequest`] if a page has no address, or the period needs more than
/// [`MAX_PIECES`] pieces.
pub fn period_pieces(
    offset: u32,
    len: u32,
    page_address: impl Fn(u32) -> Option<u64>,
    out: &mut [Piece; MAX_PIECES],
) -> Result<usize, DeviceError> {
    const PAGE: u32 = 4096;
    let mut count: usize = 0;
    let mut at = offset;
    let end = offset.checked_add(len).ok_or(DeviceError::BadRequest)?;
    while at < end {
        let page = at / PAGE;
        let within = at % PAGE;
        let take = (PAGE - within).min(end - at);
        let address = page_address(page).ok_or(DeviceError::BadRequest)? + u64::from(within);
        let previous = count.checked_sub(1).and_then(|i| out.get_mut(i));
        match previous {
            Some(piece) if piece.address + u64::from(piece.len) == address => piece.len += take,
            _ => {
                let slot = out.get_mut(count).ok_or(DeviceError::BadRequest)?;
                *slot = Piece { address, len: take };
                count += 1;
            }
        }
        at += take;
    }
    if count == 0 {
        return Err(DeviceError::BadRequest);
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_cut_at_page_boundaries_unless_the_pages_are_contiguous() {
        let scattered = |page: u32| (page < 4).then(|| 0x10_0000 + u64::from(page) * 0x3000);
        let mut out = [Piece { address: 0, len: 0 }; MAX_PIECES];
        assert_eq!(period_pieces(0, 3840, scattered, &mut out), Ok(1));
        assert_eq!(
            out[0],
            Piece {
                address: 0x10_0000,
                len: 3840
            }
        );
        assert_eq!(period_pieces(3840, 3840, scattered, &mut out), Ok(2));
        assert_eq!(
            out[..2],
            [
                Piece {
                    address: 0x10_0F00,
                    len: 256
                },
                Piece {
                    address: 0x10_3000,
                    len: 3584
                }
            ]
        );
        let contiguous = |page: u32| Some(0x20_0000 + u64::from(page) * 4096);
        assert_eq!(period_pieces(3840, 3840, contiguous, &mut out), Ok(1));
        assert_eq!(
            out[0],
            Piece {
                address: 0x20_0F00,
                len: 3840
            }
        );
        // Three pages: more pieces than a chain holds.
        assert_eq!(
            period_pieces(4000, 5000, scattered, &mut out),
            Err(DeviceError::BadRequest)
        );
        assert_eq!(
            period_pieces(0, 0, scattered, &mut out),
            Err(DeviceError::BadRequest)
        );
        assert_eq!(
            period_pieces(16_000, 3840, scattered, &mut out),
            Err(DeviceError::BadRequest)
        );
        assert_eq!(
            period_pieces(u32::MAX, 2, scattered, &mut out),
            Err(DeviceError::BadRequest)
        );
    }

    #[test]
    fn vectors_are_one_per_queue_when_granted_else_shared_or_none() {
        assert_eq!(SoundDevice::vector(5, 0), 1);
        assert_eq!(SoundDevice::vector(5, 3), 4);
        assert_eq!(SoundDevice::vector(2, 3), 0);
        assert_eq!(SoundDevice::vector(0, 3), transport::NO_VECTOR);
    }
}
