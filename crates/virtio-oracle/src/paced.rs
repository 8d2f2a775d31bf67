//! The device at the stream's rate, in virtual time: the VMM around the oracle paces it.
//!
//! The oracle completes a playback period the moment it is notified, and its null backend
//! never completes a capture period. A real device does neither: it consumes a playback
//! period as it plays it, and fills a capture period as it records it. [`Paced`] makes the
//! device keep time, with the test's clock ([`Paced::advance_to`], nanoseconds):
//!
//! - **Playback** (tx): the oracle reads a *shadow* available ring that the VMM owns. A
//!   period the driver makes available waits there until the device has played the periods
//!   before it and its own frames at the stream's rate; then the VMM moves it into the shadow
//!   ring and notifies the oracle, which completes it (checking it as it does every chain).
//!   A period that arrives late starts playing when it arrives (the device underran).
//! - **Capture** (rx): the model completes each period itself at the same pace, writing into
//!   it the device's frame counter as the samples (each channel of frame `n` holds `n` in its
//!   container, truncated), then the status, as the spec lays a capture period out.
//! - The control queue is the oracle's; the VMM reads each request first, to learn each
//!   stream's rate and frame size (`SET_PARAMS`) and when it plays (`START`, `STOP`), and on
//!   `RELEASE` completes every period of the stream still waiting (the spec: the device
//!   completes all pending I/O of a released stream).
//! - **More streams** ([`Paced::with_streams`]): the oracle has two, and a device may have up
//!   to eight. The VMM adds streams after the oracle's: the configuration counts them, a
//!   `PCM_INFO` query that reaches past the oracle's streams is asked of the oracle for its
//!   own and answered for the added ones with a copy of the oracle's record of the same
//!   direction (under the added stream's function group), their control requests follow the
//!   spec's state machine (the VMM answers them; the oracle refuses a stream it does not
//!   have), and their periods are completed by the VMM at their rate (a playback period's
//!   status written, as the oracle writes it). The oracle's tx completions then go through a
//!   shadow used ring, which the VMM copies into the driver's with its own.

use std::collections::VecDeque;

use portcls_sim::virtio_pci::{QueueConfig, VirtioDevice};

use crate::{Oracle, QUEUES, S_BAD_MSG, S_OK};

const TX: usize = 2;
const RX: usize = 3;
const NANOS: u128 = 1_000_000_000;
/// The streams the oracle has (0 playback, 1 capture).
const ORACLE_STREAMS: usize = 2;
/// The most streams the device has, the oracle's and the added ones.
const MAX_STREAMS: usize = 8;
/// `VIRTIO_SND_R_PCM_INFO`.
const R_PCM_INFO: u32 = 0x0100;
/// Bytes of `virtio_snd_pcm_info`.
const PCM_INFO_BYTES: usize = 32;

/// A stream the VMM adds to the oracle's (see [`Paced::with_streams`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MoreStream {
    /// `VIRTIO_SND_D_OUTPUT` (0) or `VIRTIO_SND_D_INPUT` (1).
    pub direction: u8,
    /// `hda_fn_nid`: the function group it belongs to.
    pub hda_fn_nid: u32,
}

/// Where an added stream is in the spec's PCM state machine (5.14.6.6.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    /// No request yet.
    #[default]
    Idle,
    /// `SET_PARAMS` taken.
    Params,
    /// `PREPARE` taken.
    Prepared,
    /// `START` taken.
    Running,
    /// `STOP` taken.
    Stopped,
    /// `RELEASE` taken.
    Released,
}

impl Phase {
    /// The phase after request `code`, or `None` for a request the state does not allow.
    const fn after(self, code: u32) -> Option<Self> {
        match (code, self) {
            (0x0101, Self::Idle | Self::Params | Self::Prepared | Self::Released) => {
                Some(Self::Params)
            }
            (0x0102, Self::Params | Self::Prepared | Self::Released) => Some(Self::Prepared),
            (0x0103, Self::Prepared | Self::Stopped) => Some(Self::Released),
            (0x0104, Self::Prepared | Self::Stopped) => Some(Self::Running),
            (0x0105, Self::Running) => Some(Self::Stopped),
            _ => None,
        }
    }
}

/// Bytes per sample of each virtio PCM format code (0 for the ones the model does not play).
const fn sample_bytes(format: u8) -> u32 {
    match format {
        3 | 4 => 1,
        5 | 6 => 2,
        11 | 12 => 3,
        13..=19 => 4,
        20 => 8,
        _ => 0,
    }
}

/// Hz of each virtio PCM rate code.
const fn rate_hz(rate: u8) -> u32 {
    match rate {
        0 => 5512,
        1 => 8000,
        2 => 11_025,
        3 => 16_000,
        4 => 22_050,
        5 => 32_000,
        6 => 44_100,
        7 => 48_000,
        8 => 64_000,
        9 => 88_200,
        10 => 96_000,
        11 => 176_400,
        12 => 192_000,
        13 => 384_000,
        _ => 0,
    }
}

/// What the device knows of one stream.
#[derive(Clone, Copy, Debug, Default)]
struct Stream {
    rate: u32,
    frame_bytes: u32,
    sample_bytes: u32,
    /// Playing since (nanoseconds), while started.
    playing: bool,
    /// When the device is free to play the next period (nanoseconds).
    free_at: u128,
    /// Frames the device has played or recorded.
    frames: u64,
}

/// A period waiting for its time.
#[derive(Clone, Copy, Debug)]
struct Pending {
    queue: usize,
    head: u16,
    stream: usize,
    frames: u64,
    /// When it completes, once the device has started it.
    due: Option<u128>,
}

/// The oracle, keeping time. See the [module](self) docs.
pub struct Paced {
    oracle: Oracle,
    now: u128,
    queues: [QueueConfig; QUEUES],
    /// The shadow available ring the oracle reads for tx.
    shadow: Option<u64>,
    shadow_index: u16,
    /// The driver's available index up to which periods have been taken, tx and rx.
    taken: [u16; QUEUES],
    /// The used index the model writes for rx.
    rx_used: u16,
    rx_interrupts: u64,
    streams: [Stream; MAX_STREAMS],
    pending: VecDeque<Pending>,
    underruns: u64,
    /// The streams added after the oracle's, and where each is in its state machine.
    more: Vec<(MoreStream, Phase)>,
    /// Control requests to answer once the oracle has: (head, the reply's status for an added
    /// stream's request, or the count a `PCM_INFO` query asked for).
    answers: Vec<(u16, Answer)>,
    /// The control queue's used index up to which completions have been looked at.
    control_seen: u16,
    /// With added streams: the shadow used ring the oracle writes for tx, the index up to
    /// which it has been copied into the driver's, and the driver's used index.
    shadow_used: Option<u64>,
    shadow_used_seen: u16,
    tx_used: u16,
    tx_interrupts: u64,
}

/// How the VMM answers a control request after the oracle.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// A request for an added stream: this status.
    Status(u32),
    /// A `PCM_INFO` query that asked for this many records from `start` (the oracle was
    /// asked for its own only).
    Info { start: usize, count: usize },
}

impl Paced {
    /// The oracle, at time 0, no stream playing.
    #[must_use]
    pub fn new(oracle: Oracle) -> Self {
        Self {
            oracle,
            now: 0,
            queues: [QueueConfig::default(); QUEUES],
            shadow: None,
            shadow_index: 0,
            taken: [0; QUEUES],
            rx_used: 0,
            rx_interrupts: 0,
            streams: [Stream::default(); MAX_STREAMS],
            pending: VecDeque::new(),
            underruns: 0,
            more: Vec::new(),
            answers: Vec::new(),
            control_seen: 0,
            shadow_used: None,
            shadow_used_seen: 0,
            tx_used: 0,
            tx_interrupts: 0,
        }
    }

    /// The oracle with `more` streams after its own two (ids 2, 3, ...), each with the
    /// formats, rates and channels of the oracle's stream of its direction, paced and
    /// completed by the VMM (see the [module](self) docs).
    ///
    /// # Panics
    /// If that makes more than eight streams.
    #[must_use]
    pub fn with_streams(oracle: Oracle, more: &[MoreStream]) -> Self {
        assert!(
            ORACLE_STREAMS + more.len() <= MAX_STREAMS,
            "at most {MAX_STREAMS} streams"
        );
        let mut paced = Self::new(oracle);
        paced.more = more.iter().map(|&stream| (stream, Phase::Idle)).collect();
        paced
    }

    /// The oracle behind the pacing.
    pub fn oracle(&mut self) -> &mut Oracle {
        &mut self.oracle
    }

    /// Frames stream `id` has played or recorded.
    #[must_use]
    pub fn frames(&self, id: usize) -> u64 {
        self.streams.get(id).map_or(0, |s| s.frames)
    }

    /// Periods that started late (the device had nothing to play or nowhere to record).
    #[must_use]
    pub const fn underruns(&self) -> u64 {
        self.underruns
    }

    fn read<const N: usize>(&self, address: u64) -> [u8; N] {
        let mut out = [0; N];
        self.oracle.read(address, &mut out);
        out
    }

    /// A chain's descriptors: (address, length, device writes).
    fn chain(&self, queue: QueueConfig, head: u16) -> Vec<(u64, u32, bool)> {
        self.oracle.chain(queue, u32::from(head))
    }

    /// Reads the control requests the driver made available, before the oracle answers them.
    fn peek_control(&mut self) {
        let queue = self.queues[0];
        let available = u16::from_le_bytes(self.read(queue.driver_area + 2));
        while self.taken[0] != available {
            let slot = u64::from(self.taken[0] % queue.size);
            let head = u16::from_le_bytes(self.read(queue.driver_area + 4 + 2 * slot));
            let chain = self.chain(queue, head);
            if let Some(&(address, len, false)) = chain.first()
                && len >= 8
            {
                let request: [u8; 24] = self.read(address);
                let code = u32::from_le_bytes(request[..4].try_into().unwrap_or_default());
                let id = usize::try_from(u32::from_le_bytes(
                    request[4..8].try_into().unwrap_or_default(),
                ))
                .unwrap_or(usize::MAX);
                if let Some(answer) = self.more_streams_request(address, code, id, &request) {
                    self.answers.push((head, answer));
                    if matches!(answer, Answer::Status(status) if status != S_OK) {
                        // Refused: the stream's pacing does not change.
                        self.taken[0] = self.taken[0].wrapping_add(1);
                        continue;
                    }
                }
                self.control(code, id, &request);
            }
            self.taken[0] = self.taken[0].wrapping_add(1);
        }
    }

    /// A control request that concerns the added streams, before the oracle sees it: how the
    /// VMM answers it afterwards. A `PCM_INFO` query reaching past the oracle's streams is
    /// cut to them in guest memory (and restored with the answer).
    fn more_streams_request(
        &mut self,
        address: u64,
        code: u32,
        id: usize,
        request: &[u8; 24],
    ) -> Option<Answer> {
        if self.more.is_empty() {
            return None;
        }
        let word = |at: usize| {
            usize::try_from(u32::from_le_bytes(
                request[at..at + 4].try_into().unwrap_or_default(),
            ))
            .unwrap_or(usize::MAX)
        };
        if code == R_PCM_INFO {
            let (start, count) = (word(4), word(8));
            if start < ORACLE_STREAMS && start.saturating_add(count) > ORACLE_STREAMS {
                let own = u32::try_from(ORACLE_STREAMS - start).unwrap_or(0);
                self.oracle.write(address + 8, &own.to_le_bytes());
                return Some(Answer::Info { start, count });
            }
            return None;
        }
        let phase = &mut self.more.get_mut(id.checked_sub(ORACLE_STREAMS)?)?.1;
        if !(0x0101..=0x0105).contains(&code) {
            return None;
        }
        Some(Answer::Status(match phase.after(code) {
            Some(next) => {
                *phase = next;
                S_OK
            }
            None => S_BAD_MSG,
        }))
    }

    /// Answers, after the oracle, the control requests [`Paced::more_streams_request`] took.
    fn answer_more_streams(&mut self) {
        let queue = self.queues[0];
        if queue.size == 0 {
            return;
        }
        let used_index = self.oracle.read16(queue.device_area + 2);
        while self.control_seen != used_index {
            let entry = queue.device_area + 4 + 8 * u64::from(self.control_seen % queue.size);
            self.control_seen = self.control_seen.wrapping_add(1);
            let head = u16::try_from(self.oracle.read32(entry)).unwrap_or(u16::MAX);
            let Some(at) = self.answers.iter().position(|&(h, _)| h == head) else {
                continue;
            };
            let (_, answer) = self.answers.swap_remove(at);
            let reply = match answer {
                Answer::Status(status) => status.to_le_bytes().to_vec(),
                Answer::Info { start, count } => self.info_reply(queue, head, start, count),
            };
            let written = self.oracle.write_chain(queue, u32::from(head), &reply);
            self.oracle.write(entry + 4, &written.to_le_bytes());
        }
    }

    /// The whole `PCM_INFO` reply for records `start..start + count`: the oracle's own, as it
    /// wrote them, then a copy of its record of each added stream's direction. The query is
    /// restored as the driver wrote it. The oracle's refusal stands.
    fn info_reply(&self, queue: QueueConfig, head: u16, start: usize, count: usize) -> Vec<u8> {
        let chain = self.chain(queue, head);
        if let Some(&(request, _, false)) = chain.first() {
            let count = u32::try_from(count).unwrap_or(u32::MAX);
            self.oracle.write(request + 8, &count.to_le_bytes());
        }
        let mut written = Vec::new();
        for &(address, len, writable) in &chain {
            if writable {
                let mut bytes = vec![0; usize::try_from(len).unwrap_or(0)];
                self.oracle.read(address, &mut bytes);
                written.extend_from_slice(&bytes);
            }
        }
        let own = ORACLE_STREAMS - start;
        let Some(records) = written.get(4..4 + own * PCM_INFO_BYTES) else {
            return S_BAD_MSG.to_le_bytes().to_vec();
        };
        if written[..4] != S_OK.to_le_bytes() {
            return written[..4].to_vec();
        }
        let mut reply = written[..4 + own * PCM_INFO_BYTES].to_vec();
        for (stream, _) in self.more.iter().take(count.saturating_sub(own)) {
            // virtio_snd_pcm_info: hdr.hda_fn_nid at 0, direction at 24.
            let Some(template) = records
                .chunks_exact(PCM_INFO_BYTES)
                .find(|record| record[24] == stream.direction)
            else {
                return S_BAD_MSG.to_le_bytes().to_vec();
            };
            let mut record = template.to_vec();
            record[..4].copy_from_slice(&stream.hda_fn_nid.to_le_bytes());
            reply.extend_from_slice(&record);
        }
        reply
    }

    fn control(&mut self, code: u32, id: usize, request: &[u8; 24]) {
        let now = self.now;
        let Some(stream) = self.streams.get_mut(id) else {
            return;
        };
        match code {
            0x0101 => {
                let sample = sample_bytes(request[21]);
                *stream = Stream {
                    rate: rate_hz(request[22]),
                    frame_bytes: sample * u32::from(request[20]),
                    sample_bytes: sample,
                    ..Stream::default()
                };
            }
            0x0104 => {
                stream.playing = true;
                stream.free_at = now;
            }
            0x0105 => {
                // Stopped: what it had not finished waits for the next START, whole.
                stream.playing = false;
                for pending in self.pending.iter_mut().filter(|p| p.stream == id) {
                    pending.due = None;
                }
            }
            0x0103 => {
                stream.playing = false;
                self.release(id);
            }
            _ => {}
        }
    }

    /// Takes the periods the driver made available on tx or rx into the waiting list.
    fn take_periods(&mut self, queue_index: usize) {
        let queue = self.queues[queue_index];
        if queue.size == 0 {
            return;
        }
        let available = u16::from_le_bytes(self.read(queue.driver_area + 2));
        while self.taken[queue_index] != available {
            let slot = u64::from(self.taken[queue_index] % queue.size);
            let head = u16::from_le_bytes(self.read(queue.driver_area + 4 + 2 * slot));
            let chain = self.chain(queue, head);
            let stream = chain.first().map_or(usize::MAX, |&(address, _, _)| {
                usize::try_from(u32::from_le_bytes(self.read(address))).unwrap_or(usize::MAX)
            });
            let audio: u64 = chain
                .iter()
                .skip(1)
                .take(chain.len().saturating_sub(2))
                .map(|&(_, len, _)| u64::from(len))
                .sum();
            let frame = self
                .streams
                .get(stream)
                .map_or(0, |s| u64::from(s.frame_bytes));
            self.pending.push_back(Pending {
                queue: queue_index,
                head,
                stream,
                frames: audio.checked_div(frame).unwrap_or(0),
                due: None,
            });
            self.taken[queue_index] = self.taken[queue_index].wrapping_add(1);
        }
        self.schedule();
    }

    /// Gives each waiting period of a playing stream its completion time, in order.
    fn schedule(&mut self) {
        for pending in &mut self.pending {
            if pending.due.is_some() {
                continue;
            }
            let Some(stream) = self.streams.get_mut(pending.stream) else {
                continue;
            };
            if !stream.playing || stream.rate == 0 {
                continue;
            }
            if stream.free_at < self.now {
                // Nothing was there to play (or record into) when the device needed it.
                if stream.frames > 0 {
                    self.underruns += 1;
                }
                stream.free_at = self.now;
            }
            let duration = (u128::from(pending.frames) * NANOS).div_ceil(u128::from(stream.rate));
            stream.free_at += duration;
            pending.due = Some(stream.free_at);
        }
    }

    /// Moves the clock to `now` (nanoseconds) and completes every period due by then.
    pub fn advance_to(&mut self, now: u64) {
        self.now = self.now.max(u128::from(now));
        self.schedule();
        while let Some(position) = self
            .pending
            .iter()
            .position(|p| p.due.is_some_and(|due| due <= self.now))
        {
            if let Some(pending) = self.pending.remove(position) {
                self.complete(pending);
            }
        }
    }

    /// Completes every waiting period of stream `id` (RELEASE).
    fn release(&mut self, id: usize) {
        let (released, kept): (VecDeque<Pending>, VecDeque<Pending>) =
            self.pending.drain(..).partition(|p| p.stream == id);
        self.pending = kept;
        for pending in released {
            self.complete(pending);
        }
    }

    fn complete(&mut self, pending: Pending) {
        if let Some(stream) = self.streams.get_mut(pending.stream) {
            stream.frames += pending.frames;
        }
        if pending.queue == TX {
            self.complete_playback(pending);
        } else {
            self.complete_capture(pending);
        }
    }

    /// Hands the period to the oracle through the shadow ring; it completes it at once. A
    /// period of an added stream the VMM completes itself.
    fn complete_playback(&mut self, pending: Pending) {
        if pending.stream >= ORACLE_STREAMS && !self.more.is_empty() {
            let queue = self.queues[TX];
            let chain = self.chain(queue, pending.head);
            let mut written = 0;
            if let Some(&(status, len, true)) = chain.last()
                && len >= 8
            {
                self.oracle.write(status, &S_OK.to_le_bytes());
                self.oracle.write(status + 4, &0_u32.to_le_bytes());
                written = 8;
            }
            self.push_tx_used(u32::from(pending.head), written);
            return;
        }
        let Some(shadow) = self.shadow else {
            return;
        };
        let size = self.queues[TX].size;
        let slot = u64::from(self.shadow_index % size);
        self.oracle
            .write(shadow + 4 + 2 * slot, &pending.head.to_le_bytes());
        self.shadow_index = self.shadow_index.wrapping_add(1);
        self.oracle
            .write(shadow + 2, &self.shadow_index.to_le_bytes());
        // The oracle's refusals show as a chain that never completes; the driver's tests see it.
        let _ = self.oracle.notify(u16::try_from(TX).unwrap_or(0));
        self.copy_tx_used();
    }

    /// With added streams: copies what the oracle completed on its shadow used ring into the
    /// driver's.
    fn copy_tx_used(&mut self) {
        let Some(shadow) = self.shadow_used else {
            return;
        };
        let size = self.queues[TX].size;
        let used_index = self.oracle.read16(shadow + 2);
        while self.shadow_used_seen != used_index {
            let entry = shadow + 4 + 8 * u64::from(self.shadow_used_seen % size);
            self.shadow_used_seen = self.shadow_used_seen.wrapping_add(1);
            let (head, len) = (self.oracle.read32(entry), self.oracle.read32(entry + 4));
            self.push_tx_used(head, len);
        }
    }

    /// Adds a completion to the driver's tx used ring (with added streams, the VMM writes it).
    fn push_tx_used(&mut self, head: u32, len: u32) {
        let queue = self.queues[TX];
        let entry = queue.device_area + 4 + 8 * u64::from(self.tx_used % queue.size);
        self.oracle.write(entry, &head.to_le_bytes());
        self.oracle.write(entry + 4, &len.to_le_bytes());
        self.tx_used = self.tx_used.wrapping_add(1);
        self.oracle
            .write(queue.device_area + 2, &self.tx_used.to_le_bytes());
        self.tx_interrupts += 1;
    }

    /// Records into the period: frame `n`'s samples hold `n`; then the status and used entry.
    fn complete_capture(&mut self, pending: Pending) {
        let queue = self.queues[RX];
        let chain = self.chain(queue, pending.head);
        let stream = self
            .streams
            .get(pending.stream)
            .copied()
            .unwrap_or_default();
        let first_frame = self.frames(pending.stream) - pending.frames;
        let mut written = 0_u32;
        let mut byte = 0_u64;
        for &(address, len, writes) in chain.iter().skip(1).take(chain.len().saturating_sub(2)) {
            if !writes {
                continue;
            }
            let mut bytes = vec![0_u8; usize::try_from(len).unwrap_or(0)];
            for target in &mut bytes {
                let frame = first_frame + byte / u64::from(stream.frame_bytes.max(1));
                let within = byte % u64::from(stream.sample_bytes.max(1));
                *target = frame.to_le_bytes()[usize::try_from(within).unwrap_or(0) % 8];
                byte += 1;
            }
            self.oracle.write(address, &bytes);
            written += len;
        }
        if let Some(&(status, len, true)) = chain.last()
            && len >= 8
        {
            self.oracle.write(status, &S_OK.to_le_bytes());
            self.oracle.write(status + 4, &0_u32.to_le_bytes());
            written += 8;
        }
        let entry = queue.device_area + 4 + 8 * u64::from(self.rx_used % queue.size);
        self.oracle
            .write(entry, &u32::from(pending.head).to_le_bytes());
        self.oracle.write(entry + 4, &written.to_le_bytes());
        self.rx_used = self.rx_used.wrapping_add(1);
        self.oracle
            .write(queue.device_area + 2, &self.rx_used.to_le_bytes());
        self.rx_interrupts += 1;
    }
}

impl VirtioDevice for Paced {
    crate::forward_identity!(no_config);

    fn config(&self) -> Vec<u8> {
        let mut config = VirtioDevice::config(&self.oracle);
        // virtio_snd_config.streams, at 4.
        let streams = u32::try_from(ORACLE_STREAMS + self.more.len()).unwrap_or(u32::MAX);
        if !self.more.is_empty()
            && let Some(field) = config.get_mut(4..8)
        {
            field.copy_from_slice(&streams.to_le_bytes());
        }
        config
    }

    fn enable_queue(&mut self, index: u16, queue: QueueConfig) {
        let slot = usize::from(index);
        if let Some(entry) = self.queues.get_mut(slot) {
            *entry = queue;
        }
        match slot {
            TX => {
                let shadow = self.oracle.alloc(4 + 2 * usize::from(queue.size) + 2, 64);
                self.shadow = Some(shadow.address);
                self.shadow_index = 0;
                // With added streams the VMM writes the driver's used ring too: the oracle
                // writes a shadow one.
                let device_area = if self.more.is_empty() {
                    queue.device_area
                } else {
                    let used = self.oracle.alloc(4 + 8 * usize::from(queue.size) + 2, 64);
                    self.shadow_used = Some(used.address);
                    used.address
                };
                self.shadow_used_seen = 0;
                self.tx_used = 0;
                self.oracle.enable_queue(
                    index,
                    QueueConfig {
                        driver_area: shadow.address,
                        device_area,
                        ..queue
                    },
                );
            }
            // The model records; the oracle's queue stays unused.
            RX => {}
            _ => self.oracle.enable_queue(index, queue),
        }
    }

    fn notify(&mut self, index: u16) -> Result<(), String> {
        match usize::from(index) {
            0 => {
                self.peek_control();
                let result = VirtioDevice::notify(&mut self.oracle, index);
                self.answer_more_streams();
                self.schedule();
                result
            }
            TX | RX => {
                self.take_periods(usize::from(index));
                Ok(())
            }
            _ => VirtioDevice::notify(&mut self.oracle, index),
        }
    }

    fn take_interrupts(&mut self, index: u16) -> u64 {
        match usize::from(index) {
            RX => std::mem::take(&mut self.rx_interrupts),
            TX if self.shadow_used.is_some() => {
                // The oracle's were for the shadow ring: the VMM raised the driver's.
                let _ = self.oracle.take_interrupts(index);
                std::mem::take(&mut self.tx_interrupts)
            }
            _ => self.oracle.take_interrupts(index),
        }
    }

    fn reset(&mut self) {
        // The device forgets every period and stream; the clock stays.
        self.queues = [QueueConfig::default(); QUEUES];
        self.shadow = None;
        self.shadow_index = 0;
        self.taken = [0; QUEUES];
        self.rx_used = 0;
        self.rx_interrupts = 0;
        self.streams = [Stream::default(); MAX_STREAMS];
        self.pending.clear();
        for (_, phase) in &mut self.more {
            *phase = Phase::Idle;
        }
        self.answers.clear();
        self.control_seen = 0;
        self.shadow_used = None;
        self.shadow_used_seen = 0;
        self.tx_used = 0;
        self.tx_interrupts = 0;
        VirtioDevice::reset(&mut self.oracle);
    }
}
