//! The virtio-sound protocol (virtio 1.2, section 5.14): the messages the driver sends on the
//! control and data queues, and checked parsing of everything the device writes back.
//!
//! Requests are built into fixed-size byte arrays (little endian, the spec's layouts); replies
//! are parsed from the bytes the device wrote, bounded by the length it reported in the used
//! ring *and* by the buffer the driver gave it (the ring already guarantees the first is not
//! larger than the second). A short reply, a status that is not one of the four the spec
//! defines, or an info record that contradicts itself (a direction that does not exist, no
//! channels, a maximum below the minimum) is a [`ReplyError`]: the device is not conforming.
//!
//! The driver's formats meet the device's here ([`wire_format`], [`PcmInfo::supports`]): 16-bit
//! PCM is `S16`, float is `FLOAT`, and the 24-bit samples Windows carries in the high three bytes
//! of a 32-bit container are `S32` (a 24-in-32 stream is a valid 32-bit stream whose low byte is
//! zero; virtio's `S24` holds the sample in the *low* three bytes, so it would need a copy that
//! shifts every sample, which the zero-copy data path never makes).

use portcls_sys::{
    NTSTATUS, STATUS_DEVICE_PROTOCOL_ERROR, STATUS_IO_DEVICE_ERROR, STATUS_NOT_SUPPORTED,
};

use crate::format::{DataRange, Format, SampleFormat};

/// Virtio device ID of a sound device.
pub const DEVICE_ID: u16 = 25;
/// PCI device ID of a modern virtio sound function (`0x1040 + 25`), vendor `0x1AF4`.
pub const PCI_DEVICE_ID: u16 = 0x1059;

/// The control queue.
pub const CONTROL_QUEUE: u16 = 0;
/// The event queue.
pub const EVENT_QUEUE: u16 = 1;
/// The transmit queue (playback periods).
pub const TX_QUEUE: u16 = 2;
/// The receive queue (capture periods).
pub const RX_QUEUE: u16 = 3;
/// Queues a sound device has.
pub const QUEUES: u16 = 4;

/// `VIRTIO_SND_R_JACK_INFO`.
pub const R_JACK_INFO: u32 = 0x0001;
/// `VIRTIO_SND_R_PCM_INFO`.
pub const R_PCM_INFO: u32 = 0x0100;
/// `VIRTIO_SND_R_PCM_SET_PARAMS`.
pub const R_PCM_SET_PARAMS: u32 = 0x0101;
/// `VIRTIO_SND_R_PCM_PREPARE`.
pub const R_PCM_PREPARE: u32 = 0x0102;
/// `VIRTIO_SND_R_PCM_RELEASE`.
pub const R_PCM_RELEASE: u32 = 0x0103;
/// `VIRTIO_SND_R_PCM_START`.
pub const R_PCM_START: u32 = 0x0104;
/// `VIRTIO_SND_R_PCM_STOP`.
pub const R_PCM_STOP: u32 = 0x0105;
/// `VIRTIO_SND_R_CHMAP_INFO`.
pub const R_CHMAP_INFO: u32 = 0x0200;

/// `VIRTIO_SND_EVT_JACK_CONNECTED`.
pub const EVT_JACK_CONNECTED: u32 = 0x1000;
/// `VIRTIO_SND_EVT_JACK_DISCONNECTED`.
pub const EVT_JACK_DISCONNECTED: u32 = 0x1001;
/// `VIRTIO_SND_EVT_PCM_PERIOD_ELAPSED`.
pub const EVT_PCM_PERIOD_ELAPSED: u32 = 0x1100;
/// `VIRTIO_SND_EVT_PCM_XRUN`.
pub const EVT_PCM_XRUN: u32 = 0x1101;

/// `VIRTIO_SND_S_OK`.
pub const S_OK: u32 = 0x8000;
/// `VIRTIO_SND_S_BAD_MSG`.
pub const S_BAD_MSG: u32 = 0x8001;
/// `VIRTIO_SND_S_NOT_SUPP`.
pub const S_NOT_SUPP: u32 = 0x8002;
/// `VIRTIO_SND_S_IO_ERR`.
pub const S_IO_ERR: u32 = 0x8003;

/// `VIRTIO_SND_D_OUTPUT`: a playback stream.
pub const D_OUTPUT: u8 = 0;
/// `VIRTIO_SND_D_INPUT`: a capture stream.
pub const D_INPUT: u8 = 1;

/// `VIRTIO_SND_PCM_FMT_S16`.
pub const FMT_S16: u8 = 5;
/// `VIRTIO_SND_PCM_FMT_S32`.
pub const FMT_S32: u8 = 17;
/// `VIRTIO_SND_PCM_FMT_FLOAT`.
pub const FMT_FLOAT: u8 = 19;
/// `VIRTIO_SND_PCM_RATE_44100`.
pub const RATE_44100: u8 = 6;
/// `VIRTIO_SND_PCM_RATE_48000`.
pub const RATE_48000: u8 = 7;

/// Bytes of `virtio_snd_config` the driver reads (`jacks`, `streams`, `chmaps`).
pub const CONFIG_BYTES: usize = 12;
/// Bytes of `virtio_snd_query_info`.
pub const QUERY_INFO_BYTES: usize = 16;
/// Bytes of `virtio_snd_pcm_info`.
pub const PCM_INFO_BYTES: usize = 32;
/// Bytes of `virtio_snd_jack_info`.
pub const JACK_INFO_BYTES: usize = 24;
/// Bytes of a `virtio_snd_chmap_info`.
pub const CHMAP_INFO_BYTES: usize = 24;
/// The most channel positions a map lists (`VIRTIO_SND_CHMAP_MAX_SIZE`).
pub const CHMAP_MAX_SIZE: usize = 18;
/// `VIRTIO_SND_CHMAP_FL`: front left.
pub const CHMAP_FL: u8 = 3;
/// `VIRTIO_SND_CHMAP_FR`: front right.
pub const CHMAP_FR: u8 = 4;
/// Bytes of `virtio_snd_pcm_hdr` (a PCM command with no parameters).
pub const PCM_HDR_BYTES: usize = 8;
/// Bytes of `virtio_snd_pcm_set_params`.
pub const SET_PARAMS_BYTES: usize = 24;
/// Bytes of `virtio_snd_hdr` (a status reply).
pub const STATUS_BYTES: usize = 4;
/// Bytes of `virtio_snd_pcm_xfer` (the header of a period).
pub const XFER_BYTES: usize = 4;
/// Bytes of `virtio_snd_pcm_status` (the status after a period).
pub const PCM_STATUS_BYTES: usize = 8;
/// Bytes of `virtio_snd_event`.
pub const EVENT_BYTES: usize = 8;
/// The most streams the driver takes from one device (more are ignored).
pub const MAX_STREAMS: u32 = 8;

/// A device reply no conforming device writes, or a status that is not `OK`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyError {
    /// The reply is shorter than its layout.
    Short {
        /// Bytes needed.
        needed: usize,
        /// Bytes the device wrote.
        written: usize,
    },
    /// A status code the spec does not define.
    UnknownStatus(u32),
    /// `VIRTIO_SND_S_BAD_MSG`: the device says the request was malformed.
    BadMessage,
    /// `VIRTIO_SND_S_NOT_SUPP`: the device does not support the request.
    NotSupported,
    /// `VIRTIO_SND_S_IO_ERR`: the device failed.
    IoError,
    /// An info record that contradicts itself.
    BadInfo,
}

impl ReplyError {
    /// The NTSTATUS the driver reports: a refused request is `STATUS_NOT_SUPPORTED`, a device
    /// error `STATUS_IO_DEVICE_ERROR`, anything non-conforming (including `BAD_MSG`: the driver
    /// only sends well-formed requests) `STATUS_DEVICE_PROTOCOL_ERROR`.
    #[must_use]
    pub const fn status(&self) -> NTSTATUS {
        match self {
            Self::NotSupported => STATUS_NOT_SUPPORTED,
            Self::IoError => STATUS_IO_DEVICE_ERROR,
            Self::Short { .. } | Self::UnknownStatus(_) | Self::BadMessage | Self::BadInfo => {
                STATUS_DEVICE_PROTOCOL_ERROR
            }
        }
    }
}

/// Writes `value` little endian at `at` (nothing if it does not fit).
fn put32(out: &mut [u8], at: usize, value: u32) {
    if let Some(target) = out.get_mut(at..at + 4) {
        target.copy_from_slice(&value.to_le_bytes());
    }
}

fn le32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    if let Some(source) = bytes.get(at..at + 4) {
        word.copy_from_slice(source);
    }
    u32::from_le_bytes(word)
}

fn le64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    if let Some(source) = bytes.get(at..at + 8) {
        word.copy_from_slice(source);
    }
    u64::from_le_bytes(word)
}

/// The part of `buffer` the device wrote (`written` bytes, never beyond the buffer), if it is
/// at least `needed` bytes.
fn reply(buffer: &[u8], written: u32, needed: usize) -> Result<&[u8], ReplyError> {
    let written = usize::try_from(written)
        .unwrap_or(usize::MAX)
        .min(buffer.len());
    if written < needed {
        return Err(ReplyError::Short { needed, written });
    }
    Ok(buffer.get(..written).unwrap_or(&[]))
}

/// Reads a status code (`virtio_snd_hdr` or the first field of `virtio_snd_pcm_status`).
///
/// # Errors
/// Any status but `VIRTIO_SND_S_OK`, as its [`ReplyError`].
pub const fn check_status(code: u32) -> Result<(), ReplyError> {
    match code {
        S_OK => Ok(()),
        S_BAD_MSG => Err(ReplyError::BadMessage),
        S_NOT_SUPP => Err(ReplyError::NotSupported),
        S_IO_ERR => Err(ReplyError::IoError),
        other => Err(ReplyError::UnknownStatus(other)),
    }
}

/// Parses the status reply to a control request (the device wrote `written` bytes into
/// `buffer`).
///
/// # Errors
/// A short reply or a status other than `OK`.
pub fn parse_status(buffer: &[u8], written: u32) -> Result<(), ReplyError> {
    let bytes = reply(buffer, written, STATUS_BYTES)?;
    check_status(le32(bytes, 0))
}

/// The device configuration (`virtio_snd_config`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Jacks the device has.
    pub jacks: u32,
    /// PCM streams.
    pub streams: u32,
    /// Channel maps.
    pub chmaps: u32,
}

impl Config {
    /// Parses the configuration structure's first [`CONFIG_BYTES`] bytes.
    #[must_use]
    pub fn parse(bytes: &[u8; CONFIG_BYTES]) -> Self {
        Self {
            jacks: le32(bytes, 0),
            streams: le32(bytes, 4),
            chmaps: le32(bytes, 8),
        }
    }

    /// The streams the driver queries: at most [`MAX_STREAMS`] (a device that claims more
    /// does not make the driver allocate more).
    #[must_use]
    pub const fn streams_used(&self) -> u32 {
        if self.streams < MAX_STREAMS {
            self.streams
        } else {
            MAX_STREAMS
        }
    }
}

/// `virtio_snd_query_info` for `count` items of `code` from `start`, each `size` bytes.
#[must_use]
pub fn query_info(code: u32, start: u32, count: u32, size: u32) -> [u8; QUERY_INFO_BYTES] {
    let mut out = [0; QUERY_INFO_BYTES];
    for (i, word) in [code, start, count, size].into_iter().enumerate() {
        put32(&mut out, i * 4, word);
    }
    out
}

/// `virtio_snd_pcm_hdr`: PREPARE, RELEASE, START or STOP of a stream.
#[must_use]
pub fn pcm_command(code: u32, stream: u32) -> [u8; PCM_HDR_BYTES] {
    let mut out = [0; PCM_HDR_BYTES];
    put32(&mut out, 0, code);
    put32(&mut out, 4, stream);
    out
}

/// `virtio_snd_pcm_xfer`: the header of a period of `stream`.
#[must_use]
pub const fn xfer(stream: u32) -> [u8; XFER_BYTES] {
    stream.to_le_bytes()
}

/// The parameters of a stream (`virtio_snd_pcm_set_params`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// The stream.
    pub stream: u32,
    /// Bytes of the whole buffer.
    pub buffer_bytes: u32,
    /// Bytes of one period.
    pub period_bytes: u32,
    /// Channels.
    pub channels: u8,
    /// `VIRTIO_SND_PCM_FMT_*`.
    pub format: u8,
    /// `VIRTIO_SND_PCM_RATE_*`.
    pub rate: u8,
}

impl Params {
    /// The request bytes (no PCM features requested).
    #[must_use]
    pub fn encode(&self) -> [u8; SET_PARAMS_BYTES] {
        let mut out = [0; SET_PARAMS_BYTES];
        let words = [
            R_PCM_SET_PARAMS,
            self.stream,
            self.buffer_bytes,
            self.period_bytes,
            0,
        ];
        for (i, word) in words.into_iter().enumerate() {
            put32(&mut out, i * 4, word);
        }
        out[20] = self.channels;
        out[21] = self.format;
        out[22] = self.rate;
        out
    }
}

/// `VIRTIO_SND_PCM_FMT_*` of a driver sample format (see the [module](self) docs for 24-bit).
#[must_use]
pub const fn wire_format(sample: SampleFormat) -> u8 {
    match sample {
        SampleFormat::Pcm16 => FMT_S16,
        SampleFormat::Pcm24In32 => FMT_S32,
        SampleFormat::Float32 => FMT_FLOAT,
    }
}

/// `VIRTIO_SND_PCM_RATE_*` of a rate the driver supports, `None` for any other.
#[must_use]
pub const fn wire_rate(rate: u32) -> Option<u8> {
    match rate {
        44_100 => Some(RATE_44100),
        48_000 => Some(RATE_48000),
        _ => None,
    }
}

/// What the device says about one PCM stream (`virtio_snd_pcm_info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcmInfo {
    /// The function group node (HDA) the stream belongs to.
    pub hda_fn_nid: u32,
    /// `VIRTIO_SND_PCM_F_*` the stream supports.
    pub features: u32,
    /// Bit `1 << VIRTIO_SND_PCM_FMT_*` for each supported format.
    pub formats: u64,
    /// Bit `1 << VIRTIO_SND_PCM_RATE_*` for each supported rate.
    pub rates: u64,
    /// [`D_OUTPUT`] or [`D_INPUT`].
    pub direction: u8,
    /// Fewest channels.
    pub channels_min: u8,
    /// Most channels.
    pub channels_max: u8,
}

impl PcmInfo {
    /// Parses one record.
    ///
    /// # Errors
    /// A record shorter than [`PCM_INFO_BYTES`], or one that contradicts itself (an unknown
    /// direction, no channels, a maximum below the minimum, no formats or no rates).
    pub fn parse(bytes: &[u8]) -> Result<Self, ReplyError> {
        if bytes.len() < PCM_INFO_BYTES {
            return Err(ReplyError::Short {
                needed: PCM_INFO_BYTES,
                written: bytes.len(),
            });
        }
        let info = Self {
            hda_fn_nid: le32(bytes, 0),
            features: le32(bytes, 4),
            formats: le64(bytes, 8),
            rates: le64(bytes, 16),
            direction: bytes.get(24).copied().unwrap_or(0xFF),
            channels_min: bytes.get(25).copied().unwrap_or(0),
            channels_max: bytes.get(26).copied().unwrap_or(0),
        };
        let sane = matches!(info.direction, D_OUTPUT | D_INPUT)
            && info.channels_min > 0
            && info.channels_max >= info.channels_min
            && info.formats != 0
            && info.rates != 0;
        if sane {
            Ok(info)
        } else {
            Err(ReplyError::BadInfo)
        }
    }

    /// Whether the stream can carry `format` as the driver streams it.
    #[must_use]
    pub const fn supports(&self, format: &Format) -> bool {
        let Some(rate) = wire_rate(format.rate()) else {
            return false;
        };
        let channels = format.channels();
        self.formats & (1 << wire_format(format.sample())) != 0
            && self.rates & (1 << rate) != 0
            && channels >= self.channels_min as u16
            && channels <= self.channels_max as u16
    }
}

/// Every subset of [`SampleFormat::ALL`] in its order, indexed by the bit mask of the formats
/// it holds (bit `i` for `SampleFormat::ALL[i]`).
const SAMPLE_SUBSETS: [&[SampleFormat]; 8] = {
    use SampleFormat::{Float32, Pcm16, Pcm24In32};
    [
        &[],
        &[Pcm16],
        &[Pcm24In32],
        &[Pcm16, Pcm24In32],
        &[Float32],
        &[Pcm16, Float32],
        &[Pcm24In32, Float32],
        &[Pcm16, Pcm24In32, Float32],
    ]
};

impl PcmInfo {
    /// What of the driver's own range ([`DataRange::DEVICE`]) the stream can carry: the
    /// driver's sample formats the stream lists (in the driver's order of preference), the
    /// span of the driver's rates it lists, the driver's channel count if the stream allows
    /// it. `None` when nothing is left (the endpoint could stream no format at all).
    #[must_use]
    pub fn data_range(&self) -> Option<DataRange> {
        let driver = DataRange::DEVICE;
        let mut mask = 0_usize;
        for (bit, sample) in SampleFormat::ALL.into_iter().enumerate() {
            if driver.samples.contains(&sample) && self.formats & (1 << wire_format(sample)) != 0 {
                mask |= 1 << bit;
            }
        }
        let samples = *SAMPLE_SUBSETS.get(mask)?;
        let mut rates = crate::format::SUPPORTED_RATES
            .into_iter()
            .filter(|&rate| (driver.min_rate..=driver.max_rate).contains(&rate))
            .filter(|&rate| wire_rate(rate).is_some_and(|code| self.rates & (1 << code) != 0));
        let min_rate = rates.next()?;
        let max_rate = rates.next_back().unwrap_or(min_rate);
        let channels = driver.channels;
        let channels_fit =
            (u16::from(self.channels_min)..=u16::from(self.channels_max)).contains(&channels);
        (!samples.is_empty() && channels_fit).then_some(DataRange {
            samples,
            channels,
            min_rate,
            max_rate,
        })
    }
}

/// `hda_reg_caps` bit 2: the HD Audio pin can detect presence.
pub const PIN_CAP_PRESENCE_DETECT: u32 = 1 << 2;

/// A jack the device has (`virtio_snd_jack_info`): described by the HD Audio registers of its
/// pin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JackInfo {
    /// The function group node (HDA) the jack belongs to.
    pub hda_fn_nid: u32,
    /// `VIRTIO_SND_JACK_F_*` the jack supports.
    pub features: u32,
    /// The pin's default configuration (`hda_reg_defconf`).
    pub config: u32,
    /// The pin's capabilities (`hda_reg_caps`).
    pub caps: u32,
    /// Whether something is plugged in (at the time of the reply).
    pub connected: bool,
}

impl JackInfo {
    /// Parses one record.
    ///
    /// # Errors
    /// A record shorter than [`JACK_INFO_BYTES`], or a `connected` byte that is neither 0
    /// nor 1.
    pub fn parse(bytes: &[u8]) -> Result<Self, ReplyError> {
        if bytes.len() < JACK_INFO_BYTES {
            return Err(ReplyError::Short {
                needed: JACK_INFO_BYTES,
                written: bytes.len(),
            });
        }
        let connected = match bytes.get(16) {
            Some(0) => false,
            Some(1) => true,
            _ => return Err(ReplyError::BadInfo),
        };
        Ok(Self {
            hda_fn_nid: le32(bytes, 0),
            features: le32(bytes, 4),
            config: le32(bytes, 8),
            caps: le32(bytes, 12),
            connected,
        })
    }

    /// Whether the pin can detect presence (its capabilities say so).
    #[must_use]
    pub const fn detects_presence(&self) -> bool {
        self.caps & PIN_CAP_PRESENCE_DETECT != 0
    }
}

/// A channel map the device lists (`virtio_snd_chmap_info`): the position of each channel of
/// streams of one direction with that many channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChmapInfo {
    /// [`D_OUTPUT`] or [`D_INPUT`].
    pub direction: u8,
    /// Channels the map covers.
    pub channels: u8,
    /// `VIRTIO_SND_CHMAP_*` of each channel (the first `channels` count).
    pub positions: [u8; CHMAP_MAX_SIZE],
}

impl ChmapInfo {
    /// Parses one record.
    ///
    /// # Errors
    /// A record shorter than [`CHMAP_INFO_BYTES`], or one that contradicts itself (an unknown
    /// direction, no channels or more than [`CHMAP_MAX_SIZE`]).
    pub fn parse(bytes: &[u8]) -> Result<Self, ReplyError> {
        if bytes.len() < CHMAP_INFO_BYTES {
            return Err(ReplyError::Short {
                needed: CHMAP_INFO_BYTES,
                written: bytes.len(),
            });
        }
        let mut positions = [0; CHMAP_MAX_SIZE];
        for (slot, &byte) in positions.iter_mut().zip(bytes.iter().skip(6)) {
            *slot = byte;
        }
        let info = Self {
            direction: bytes.get(4).copied().unwrap_or(0xFF),
            channels: bytes.get(5).copied().unwrap_or(0),
            positions,
        };
        let sane = matches!(info.direction, D_OUTPUT | D_INPUT)
            && (1..=CHMAP_MAX_SIZE).contains(&usize::from(info.channels));
        if sane {
            Ok(info)
        } else {
            Err(ReplyError::BadInfo)
        }
    }

    /// Whether this is the driver's layout: two channels, front left then front right.
    #[must_use]
    pub const fn is_front_stereo(&self) -> bool {
        self.channels == 2 && self.positions[0] == CHMAP_FL && self.positions[1] == CHMAP_FR
    }
}

/// Parses the reply to `PCM_INFO` for `count` streams: a status, then `count` records of
/// `PCM_INFO_BYTES`. Calls `each` with each stream's id and record.
///
/// # Errors
/// A short reply, a status other than `OK`, or a record that does not parse; `each` is called
/// only once the whole reply has been checked.
pub fn parse_pcm_infos(
    buffer: &[u8],
    written: u32,
    start: u32,
    count: u32,
    mut each: impl FnMut(u32, PcmInfo),
) -> Result<(), ReplyError> {
    let records = usize::try_from(count).unwrap_or(usize::MAX);
    let needed = records
        .checked_mul(PCM_INFO_BYTES)
        .and_then(|bytes| bytes.checked_add(STATUS_BYTES))
        .unwrap_or(usize::MAX);
    let bytes = reply(buffer, written, STATUS_BYTES)?;
    check_status(le32(bytes, 0))?;
    let bytes = reply(buffer, written, needed)?;
    let body = bytes.get(STATUS_BYTES..needed).unwrap_or(&[]);
    for record in body.chunks_exact(PCM_INFO_BYTES) {
        PcmInfo::parse(record)?;
    }
    for (id, record) in (start..).zip(body.chunks_exact(PCM_INFO_BYTES)) {
        if let Ok(info) = PcmInfo::parse(record) {
            each(id, info);
        }
    }
    Ok(())
}

/// The status the device wrote after a period (`virtio_snd_pcm_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeriodStatus {
    /// Bytes of audio the device still holds (its latency).
    pub latency_bytes: u32,
}

/// Parses the status of a completed period: the device wrote `written` bytes into the chain's
/// writable part, which is `audio` bytes of captured audio (0 for playback) followed by the
/// [`PCM_STATUS_BYTES`] status in `status`. Returns the status and the bytes of audio the
/// device filled (for capture: all of the period, as the spec requires for a successful one).
///
/// # Errors
/// A length that cannot be a period's (for capture, a status that does not follow a whole
/// period), or a status other than `OK`.
pub fn parse_period(
    status: &[u8; PCM_STATUS_BYTES],
    written: u32,
    audio: u32,
) -> Result<PeriodStatus, ReplyError> {
    let expected = u64::from(audio) + PCM_STATUS_BYTES as u64;
    if u64::from(written) != expected {
        return Err(ReplyError::Short {
            needed: usize::try_from(expected).unwrap_or(usize::MAX),
            written: usize::try_from(written).unwrap_or(usize::MAX),
        });
    }
    check_status(le32(status, 0))?;
    Ok(PeriodStatus {
        latency_bytes: le32(status, 4),
    })
}

/// An event the device posted on the event queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A jack was connected.
    JackConnected(u32),
    /// A jack was disconnected.
    JackDisconnected(u32),
    /// A period of a stream elapsed (only with shared-memory streams, which the driver does
    /// not use).
    PeriodElapsed(u32),
    /// A stream under- or overran.
    Xrun(u32),
    /// A code the driver does not know (ignored; the spec may grow).
    Other(u32),
}

/// Parses an event (`written` bytes into an [`EVENT_BYTES`] buffer).
///
/// # Errors
/// A short event.
pub fn parse_event(buffer: &[u8; EVENT_BYTES], written: u32) -> Result<Event, ReplyError> {
    let bytes = reply(buffer, written, EVENT_BYTES)?;
    let data = le32(bytes, 4);
    Ok(match le32(bytes, 0) {
        EVT_JACK_CONNECTED => Event::JackConnected(data),
        EVT_JACK_DISCONNECTED => Event::JackDisconnected(data),
        EVT_PCM_PERIOD_ELAPSED => Event::PeriodElapsed(data),
        EVT_PCM_XRUN => Event::Xrun(data),
        other => Event::Other(other),
    })
}

/// The direction of a flow: [`D_INPUT`] for `capture`, else [`D_OUTPUT`].
#[must_use]
pub const fn direction(capture: bool) -> u8 {
    if capture { D_INPUT } else { D_OUTPUT }
}

/// Which of a device's jacks (`jacks`: id and record) is the external pin of endpoint
/// `index` of a direction (input for `capture`), the endpoint of the `index`-th stream of that
/// direction among `streams`. Of the wired jacks of the direction: in the stream's function
/// group, the one whose place among the group's jacks is the stream's among the group's
/// streams of that direction (the second output stream of a group gets its second output
/// jack). Endpoint 0 without such a jack gets the direction's first; another endpoint, none.
pub fn endpoint_jack(
    streams: impl Iterator<Item = (u32, PcmInfo)> + Clone,
    jacks: impl Iterator<Item = (u32, JackInfo)> + Clone,
    capture: bool,
    index: usize,
) -> Option<(u32, JackInfo)> {
    let mine = streams.filter(|(_, info)| info.direction == direction(capture));
    let function = mine.clone().nth(index).map(|(_, info)| info.hda_fn_nid);
    let rank = mine
        .take(index)
        .filter(|(_, info)| Some(info.hda_fn_nid) == function)
        .count();
    let wired = jacks.filter(|(_, jack)| {
        let config = crate::properties::PinConfig(jack.config);
        config.is_wired()
            && if capture {
                config.is_input()
            } else {
                config.is_output()
            }
    });
    wired
        .clone()
        .filter(|(_, jack)| Some(jack.hda_fn_nid) == function)
        .nth(rank)
        .or_else(|| wired.clone().next().filter(|_| index == 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_endpoint_gets_the_jack_of_its_place_in_its_function_group() {
        let stream = |direction, hda_fn_nid| PcmInfo {
            hda_fn_nid,
            features: 0,
            formats: 1 << 5,
            rates: 1 << 7,
            direction,
            channels_min: 2,
            channels_max: 2,
        };
        // Default configurations: jack (0), rear (1), line out (0) / mic in (0xA), green /
        // pink, wired; and one with no physical connection (1 in bits 31:30).
        let jack = |hda_fn_nid, config| JackInfo {
            hda_fn_nid,
            features: 0,
            config,
            caps: 0,
            connected: true,
        };
        let line_out = 0x0101_4010;
        let mic_in = 0x01A1_9020;
        let unwired_out = 0x4101_4010;
        let streams = [
            (0, stream(D_OUTPUT, 1)),
            (1, stream(D_INPUT, 1)),
            (2, stream(D_OUTPUT, 1)),
            (3, stream(D_OUTPUT, 2)),
            (4, stream(D_INPUT, 2)),
        ];
        let jacks = [
            (0, jack(1, line_out)),
            (1, jack(1, unwired_out)),
            (2, jack(2, line_out)),
            (3, jack(1, line_out)),
            (4, jack(1, mic_in)),
        ];
        let pick = |capture, index| {
            endpoint_jack(streams.into_iter(), jacks.into_iter(), capture, index).map(|(id, _)| id)
        };
        // Outputs: streams 0 and 2 in group 1 (its wired output jacks 0 and 3), 3 in group 2.
        assert_eq!(pick(false, 0), Some(0));
        assert_eq!(pick(false, 1), Some(3));
        assert_eq!(pick(false, 2), Some(2));
        assert_eq!(pick(false, 3), None);
        // Inputs: stream 1 in group 1 has jack 4; stream 4's group 2 has no input jack.
        assert_eq!(pick(true, 0), Some(4));
        assert_eq!(pick(true, 1), None);
        // Without a jack in its group the first endpoint takes the direction's first.
        let other_group = [(0, jack(7, line_out)), (1, jack(7, mic_in))];
        let pick_other = |capture, index| {
            endpoint_jack(streams.into_iter(), other_group.into_iter(), capture, index)
                .map(|(id, _)| id)
        };
        assert_eq!(pick_other(false, 0), Some(0));
        assert_eq!(pick_other(true, 0), Some(1));
        assert_eq!(pick_other(false, 1), None);
        // No stream of the direction at all: the first endpoint still gets a jack.
        assert_eq!(
            endpoint_jack(core::iter::empty(), jacks.into_iter(), true, 0).map(|(id, _)| id),
            Some(4)
        );
    }

    #[test]
    fn channel_maps_parse_and_tell_the_drivers_stereo_apart() {
        let record = |direction: u8, channels: u8, positions: &[u8]| {
            let mut out = [0_u8; CHMAP_INFO_BYTES];
            out[4] = direction;
            out[5] = channels;
            out[6..6 + positions.len()].copy_from_slice(positions);
            out
        };
        let stereo = ChmapInfo::parse(&record(D_OUTPUT, 2, &[CHMAP_FL, CHMAP_FR])).unwrap();
        assert!(stereo.is_front_stereo());
        assert_eq!((stereo.direction, stereo.channels), (D_OUTPUT, 2));
        let swapped = ChmapInfo::parse(&record(D_INPUT, 2, &[CHMAP_FR, CHMAP_FL])).unwrap();
        assert!(!swapped.is_front_stereo());
        let surround = ChmapInfo::parse(&record(D_OUTPUT, 6, &[3, 4, 7, 8, 5, 6])).unwrap();
        assert!(!surround.is_front_stereo());
        for bad in [
            record(2, 2, &[3, 4]),
            record(D_OUTPUT, 0, &[]),
            record(D_OUTPUT, 19, &[]),
        ] {
            assert_eq!(ChmapInfo::parse(&bad), Err(ReplyError::BadInfo));
        }
        assert!(matches!(
            ChmapInfo::parse(&[0; 23]),
            Err(ReplyError::Short {
                needed: 24,
                written: 23
            })
        ));
    }

    #[test]
    fn a_streams_data_range_is_what_of_the_drivers_range_it_lists() {
        use SampleFormat::{Float32, Pcm16, Pcm24In32};
        let info = |formats: u64, rates: u64, channels_min: u8, channels_max: u8| PcmInfo {
            hda_fn_nid: 0,
            features: 0,
            formats,
            rates,
            direction: D_OUTPUT,
            channels_min,
            channels_max,
        };
        let bit = |code: u8| 1_u64 << code;
        let both = bit(RATE_44100) | bit(RATE_48000);
        // vhost-device-sound's streams: U8, S16, S24 (LSB-aligned: not the driver's 24-in-32),
        // S32, 8 to 48 kHz, 1 to 6 channels.
        let formats = bit(3) | bit(FMT_S16) | bit(11) | bit(FMT_S32);
        let rates = (1..=7).map(bit).fold(0, |a, b| a | b);
        assert_eq!(
            info(formats, rates, 1, 6).data_range(),
            Some(DataRange {
                samples: &[Pcm16, Pcm24In32],
                channels: 2,
                min_rate: 44_100,
                max_rate: 48_000
            })
        );
        // Float only, 48 kHz only.
        assert_eq!(
            info(bit(FMT_FLOAT), bit(RATE_48000), 2, 2).data_range(),
            Some(DataRange {
                samples: &[Float32],
                channels: 2,
                min_rate: 48_000,
                max_rate: 48_000
            })
        );
        // Everything the driver has, 44.1 kHz only.
        let all = bit(FMT_S16) | bit(FMT_S32) | bit(FMT_FLOAT);
        assert_eq!(
            info(all, bit(RATE_44100), 2, 8).data_range(),
            Some(DataRange {
                samples: &SampleFormat::ALL,
                channels: 2,
                min_rate: 44_100,
                max_rate: 44_100
            })
        );
        // Nothing the driver streams: formats, rates or channels.
        assert_eq!(info(bit(3) | bit(11), both, 2, 2).data_range(), None);
        assert_eq!(info(all, bit(1) | bit(10), 2, 2).data_range(), None);
        assert_eq!(info(all, both, 1, 1).data_range(), None);
        assert_eq!(info(all, both, 4, 6).data_range(), None);
    }

    fn info_record(
        direction: u8,
        min: u8,
        max: u8,
        formats: u64,
        rates: u64,
    ) -> [u8; PCM_INFO_BYTES] {
        let mut record = [0; PCM_INFO_BYTES];
        record[4..8].copy_from_slice(&0_u32.to_le_bytes());
        record[8..16].copy_from_slice(&formats.to_le_bytes());
        record[16..24].copy_from_slice(&rates.to_le_bytes());
        record[24] = direction;
        record[25] = min;
        record[26] = max;
        record
    }

    #[test]
    fn requests_have_the_spec_layouts() {
        assert_eq!(
            query_info(R_PCM_INFO, 1, 2, 32),
            [0, 1, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 32, 0, 0, 0]
        );
        assert_eq!(pcm_command(R_PCM_START, 3), [4, 1, 0, 0, 3, 0, 0, 0]);
        assert_eq!(xfer(1), [1, 0, 0, 0]);
        let params = Params {
            stream: 1,
            buffer_bytes: 19_200,
            period_bytes: 1920,
            channels: 2,
            format: FMT_S16,
            rate: RATE_48000,
        };
        let bytes = params.encode();
        assert_eq!(&bytes[..8], &[1, 1, 0, 0, 1, 0, 0, 0]);
        assert_eq!(le32(&bytes, 8), 19_200);
        assert_eq!(le32(&bytes, 12), 1920);
        assert_eq!(le32(&bytes, 16), 0);
        assert_eq!(&bytes[20..], &[2, FMT_S16, RATE_48000, 0]);
    }

    #[test]
    fn statuses_map_to_errors_and_ntstatus() {
        assert_eq!(check_status(S_OK), Ok(()));
        assert_eq!(check_status(S_BAD_MSG), Err(ReplyError::BadMessage));
        assert_eq!(check_status(S_NOT_SUPP), Err(ReplyError::NotSupported));
        assert_eq!(check_status(S_IO_ERR), Err(ReplyError::IoError));
        assert_eq!(check_status(0), Err(ReplyError::UnknownStatus(0)));
        assert_eq!(ReplyError::NotSupported.status(), STATUS_NOT_SUPPORTED);
        assert_eq!(ReplyError::IoError.status(), STATUS_IO_DEVICE_ERROR);
        assert_eq!(
            ReplyError::BadMessage.status(),
            STATUS_DEVICE_PROTOCOL_ERROR
        );
        let ok = S_OK.to_le_bytes();
        assert_eq!(parse_status(&ok, 4), Ok(()));
        // A length beyond the buffer is bounded by the buffer; a short one is refused.
        assert_eq!(parse_status(&ok, u32::MAX), Ok(()));
        assert_eq!(
            parse_status(&ok, 3),
            Err(ReplyError::Short {
                needed: 4,
                written: 3
            })
        );
    }

    #[test]
    fn pcm_info_replies_are_checked_before_any_record_is_used() {
        let all = (1 << FMT_S16) | (1 << FMT_S32) | (1 << FMT_FLOAT);
        let rates = (1 << RATE_44100) | (1 << RATE_48000);
        let mut reply = Vec::from(S_OK.to_le_bytes());
        reply.extend(info_record(D_OUTPUT, 1, 2, all, rates));
        reply.extend(info_record(D_INPUT, 2, 2, 1 << FMT_S16, 1 << RATE_48000));
        let written = u32::try_from(reply.len()).unwrap();
        let mut seen = Vec::new();
        parse_pcm_infos(&reply, written, 0, 2, |id, info| seen.push((id, info))).unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!((seen[0].0, seen[0].1.direction), (0, D_OUTPUT));
        let capture = seen[1].1;
        assert!(
            capture.supports(&Format::PREFERRED)
                == (Format::PREFERRED.sample() == SampleFormat::Pcm16)
        );
        for sample in SampleFormat::ALL {
            for rate in [44_100, 48_000] {
                let format = Format::new(sample, 2, rate).unwrap();
                assert!(seen[0].1.supports(&format));
                assert_eq!(
                    capture.supports(&format),
                    sample == SampleFormat::Pcm16 && rate == 48_000
                );
            }
        }
        // One byte short: nothing reaches the caller.
        let mut calls = 0;
        assert_eq!(
            parse_pcm_infos(&reply, written - 1, 0, 2, |_, _| calls += 1),
            Err(ReplyError::Short {
                needed: 68,
                written: 67
            })
        );
        // A bad second record: nothing reaches the caller either.
        let mut bad = reply.clone();
        bad[4 + PCM_INFO_BYTES + 24] = 9;
        assert_eq!(
            parse_pcm_infos(&bad, written, 0, 2, |_, _| calls += 1),
            Err(ReplyError::BadInfo)
        );
        assert_eq!(calls, 0);
        // The status comes first.
        let refused = S_NOT_SUPP.to_le_bytes();
        assert_eq!(
            parse_pcm_infos(&refused, 4, 0, 2, |_, _| calls += 1),
            Err(ReplyError::NotSupported)
        );
        // A count whose size overflows is short, not a panic.
        assert!(matches!(
            parse_pcm_infos(&reply, written, 0, u32::MAX, |_, _| calls += 1),
            Err(ReplyError::Short { .. })
        ));
    }

    #[test]
    fn self_contradicting_records_are_refused() {
        let good = info_record(D_OUTPUT, 1, 2, 1 << FMT_S16, 1 << RATE_48000);
        assert!(PcmInfo::parse(&good).is_ok());
        for bad in [
            info_record(2, 1, 2, 1, 1),
            info_record(D_OUTPUT, 0, 2, 1, 1),
            info_record(D_OUTPUT, 3, 2, 1, 1),
            info_record(D_OUTPUT, 1, 2, 0, 1),
            info_record(D_OUTPUT, 1, 2, 1, 0),
        ] {
            assert_eq!(PcmInfo::parse(&bad), Err(ReplyError::BadInfo));
        }
        assert_eq!(
            PcmInfo::parse(&good[..31]),
            Err(ReplyError::Short {
                needed: 32,
                written: 31
            })
        );
        // A device stream of one channel only cannot carry the driver's stereo.
        let mono =
            PcmInfo::parse(&info_record(D_OUTPUT, 1, 1, 1 << FMT_S16, 1 << RATE_48000)).unwrap();
        assert!(!mono.supports(&Format::new(SampleFormat::Pcm16, 2, 48_000).unwrap()));
    }

    #[test]
    fn period_statuses_need_the_exact_length() {
        let mut status = [0; PCM_STATUS_BYTES];
        status[..4].copy_from_slice(&S_OK.to_le_bytes());
        status[4..].copy_from_slice(&384_u32.to_le_bytes());
        assert_eq!(
            parse_period(&status, 8, 0),
            Ok(PeriodStatus { latency_bytes: 384 })
        );
        assert_eq!(
            parse_period(&status, 1928, 1920),
            Ok(PeriodStatus { latency_bytes: 384 })
        );
        for written in [0, 7, 9, 1927, 1929, u32::MAX] {
            assert!(
                matches!(
                    parse_period(&status, written, 1920),
                    Err(ReplyError::Short { .. })
                ),
                "{written}"
            );
        }
        status[..4].copy_from_slice(&S_IO_ERR.to_le_bytes());
        assert_eq!(parse_period(&status, 8, 0), Err(ReplyError::IoError));
    }

    #[test]
    fn jack_info_is_read_and_checked() {
        let mut record = [0_u8; JACK_INFO_BYTES];
        record[..4].copy_from_slice(&1_u32.to_le_bytes());
        record[8..12].copy_from_slice(&0x0101_4010_u32.to_le_bytes());
        record[12..16].copy_from_slice(&PIN_CAP_PRESENCE_DETECT.to_le_bytes());
        record[16] = 1;
        let jack = JackInfo::parse(&record).unwrap();
        assert_eq!(
            jack,
            JackInfo {
                hda_fn_nid: 1,
                features: 0,
                config: 0x0101_4010,
                caps: PIN_CAP_PRESENCE_DETECT,
                connected: true
            }
        );
        assert!(jack.detects_presence());
        assert_eq!(
            JackInfo::parse(&record[..23]),
            Err(ReplyError::Short {
                needed: JACK_INFO_BYTES,
                written: 23
            })
        );
        record[16] = 2;
        assert_eq!(JackInfo::parse(&record), Err(ReplyError::BadInfo));
    }

    #[test]
    fn events_and_config() {
        let mut event = [0; EVENT_BYTES];
        event[..4].copy_from_slice(&EVT_PCM_XRUN.to_le_bytes());
        event[4..].copy_from_slice(&1_u32.to_le_bytes());
        assert_eq!(parse_event(&event, 8), Ok(Event::Xrun(1)));
        assert_eq!(
            parse_event(&event, 4),
            Err(ReplyError::Short {
                needed: 8,
                written: 4
            })
        );
        event[..4].copy_from_slice(&0x7777_u32.to_le_bytes());
        assert_eq!(parse_event(&event, 8), Ok(Event::Other(0x7777)));
        let config = Config::parse(&[1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            config,
            Config {
                jacks: 1,
                streams: 2,
                chmaps: 0
            }
        );
        assert_eq!(config.streams_used(), 2);
        let greedy = Config::parse(&[0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]);
        assert_eq!(greedy.streams_used(), MAX_STREAMS);
    }
}
