//! A device with jacks: the oracle, which has none, with a VMM around it that adds some.
//!
//! `vhost-device-sound` 0.3.0 implements `VIRTIO_SND_R_JACK_INFO` but always has an empty
//! jack list (and answers every jack query `VIRTIO_SND_S_BAD_MSG`), and it never uses the
//! event queue. [`WithJacks`] gives it jacks the way a VMM can, by what it writes into guest
//! memory: the configuration's `jacks` says how many; after the oracle has answered a control
//! request, a `JACK_INFO` reply is rewritten with the jacks' records (every other request is
//! the oracle's alone, but for the lies of [`JackLie`]); and the event queue is the VMM's: [`WithJacks::plug`] writes a
//! `VIRTIO_SND_EVT_JACK_CONNECTED` or `DISCONNECTED` event into the next buffer the driver
//! made available there and raises its interrupt, as a device does when something is plugged
//! in or pulled out.

use portcls_sim::virtio_pci::{QueueConfig, VirtioDevice};

use crate::{Oracle, QUEUES, S_BAD_MSG, S_NOT_SUPP, S_OK};

/// `VIRTIO_SND_R_JACK_INFO`.
const R_JACK_INFO: u32 = 1;
/// `VIRTIO_SND_R_CHMAP_INFO`.
const R_CHMAP_INFO: u32 = 0x0200;
/// `VIRTIO_SND_EVT_JACK_CONNECTED`; `DISCONNECTED` is the next code.
const EVT_JACK_CONNECTED: u32 = 0x1000;
/// Bytes of `virtio_snd_jack_info`.
const JACK_INFO_BYTES: usize = 24;
/// The event queue's index.
const EVENT_QUEUE: u16 = 1;

/// One jack, as `virtio_snd_jack_info` describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Jack {
    /// `hda_fn_nid`: the function group it belongs to.
    pub hda_fn_nid: u32,
    /// `hda_reg_defconf`: the HD Audio pin's default configuration.
    pub config: u32,
    /// `hda_reg_caps`: the HD Audio pin's capabilities.
    pub caps: u32,
    /// Whether something is plugged in.
    pub connected: bool,
}

impl Jack {
    fn record(self) -> [u8; JACK_INFO_BYTES] {
        let mut out = [0; JACK_INFO_BYTES];
        out[..4].copy_from_slice(&self.hda_fn_nid.to_le_bytes());
        out[8..12].copy_from_slice(&self.config.to_le_bytes());
        out[12..16].copy_from_slice(&self.caps.to_le_bytes());
        out[16] = u8::from(self.connected);
        out
    }
}

/// How the jack replies lie (the driver must refuse them cleanly).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JackLie {
    /// The truth.
    None,
    /// The used length covers the status and one byte less than the records asked for.
    ShortReply,
    /// Every record's `connected` byte is 2 (neither false nor true).
    BadRecord,
    /// `JACK_INFO` is answered `VIRTIO_SND_S_NOT_SUPP` (a device that has jacks but does not
    /// implement their query).
    NotSupported,
    /// `CHMAP_INFO` is answered `VIRTIO_SND_S_NOT_SUPP` (the oracle's channel map withheld).
    ChmapsNotSupported,
}

/// The oracle with jacks. See the [module](self) docs.
pub struct WithJacks {
    oracle: Oracle,
    jacks: Vec<Jack>,
    lie: JackLie,
    queues: [QueueConfig; QUEUES],
    /// The control queue's used index up to which replies have been looked at.
    seen: u16,
    /// The event queue's available index up to which buffers have been taken.
    taken: u16,
    /// The event queue's used index.
    used: u16,
    /// Event-queue interrupts not yet collected.
    raised: u64,
    /// `JACK_INFO` requests answered.
    queries: u32,
}

impl WithJacks {
    /// The oracle with `jacks`.
    #[must_use]
    pub fn new(oracle: Oracle, jacks: Vec<Jack>) -> Self {
        Self {
            oracle,
            jacks,
            lie: JackLie::None,
            queues: [QueueConfig::default(); QUEUES],
            seen: 0,
            taken: 0,
            used: 0,
            raised: 0,
            queries: 0,
        }
    }

    /// From now on, the jack replies lie so.
    pub fn lie(&mut self, lie: JackLie) {
        self.lie = lie;
    }

    /// `JACK_INFO` requests answered so far.
    #[must_use]
    pub const fn queries(&self) -> u32 {
        self.queries
    }

    /// The jacks, as they are now.
    #[must_use]
    pub fn jacks(&self) -> &[Jack] {
        &self.jacks
    }

    /// Jack `id` is connected or not from now on, without an event (as while the device is
    /// reset: the driver learns it from the next `JACK_INFO`).
    pub fn set_connected(&mut self, id: usize, connected: bool) {
        if let Some(jack) = self.jacks.get_mut(id) {
            jack.connected = connected;
        }
    }

    /// Something is plugged into jack `id` (`connected`) or pulled out of it: the jack
    /// changes (if the device has it) and the event goes to the driver, for any `id` (a
    /// device may lie about which jack). Returns whether the driver had an event buffer
    /// available (if not, the event is lost, as it is on a device).
    pub fn plug(&mut self, id: u32, connected: bool) -> bool {
        if let Some(jack) = usize::try_from(id).ok().and_then(|i| self.jacks.get_mut(i)) {
            jack.connected = connected;
        }
        let queue = self.queues[usize::from(EVENT_QUEUE)];
        if queue.size == 0 {
            return false;
        }
        let available = self.oracle.read16(queue.driver_area + 2);
        if available == self.taken {
            return false;
        }
        let slot = u64::from(self.taken % queue.size);
        let head = u32::from(self.oracle.read16(queue.driver_area + 4 + 2 * slot));
        self.taken = self.taken.wrapping_add(1);
        let code = EVT_JACK_CONNECTED + u32::from(!connected);
        let mut event = [0; 8];
        event[..4].copy_from_slice(&code.to_le_bytes());
        event[4..].copy_from_slice(&id.to_le_bytes());
        let written = self.oracle.write_chain(queue, head, &event);
        let entry = queue.device_area + 4 + 8 * u64::from(self.used % queue.size);
        self.oracle.write(entry, &head.to_le_bytes());
        self.oracle.write(entry + 4, &written.to_le_bytes());
        self.used = self.used.wrapping_add(1);
        self.oracle
            .write(queue.device_area + 2, &self.used.to_le_bytes());
        self.raised += 1;
        true
    }

    /// Rewrites the `JACK_INFO` replies among the control-queue completions the oracle added
    /// since the last look.
    fn answer_jack_queries(&mut self) {
        let queue = self.queues[0];
        if queue.size == 0 {
            return;
        }
        let used_index = self.oracle.read16(queue.device_area + 2);
        while self.seen != used_index {
            let entry = queue.device_area + 4 + 8 * u64::from(self.seen % queue.size);
            self.seen = self.seen.wrapping_add(1);
            let head = self.oracle.read32(entry);
            let chain = self.oracle.chain(queue, head);
            let Some(&(request, len, _)) = chain.iter().find(|&&(_, _, writable)| !writable) else {
                continue;
            };
            if len < 16 {
                continue;
            }
            let code = self.oracle.read32(request);
            let refused = match code {
                R_JACK_INFO => self.lie == JackLie::NotSupported,
                R_CHMAP_INFO => self.lie == JackLie::ChmapsNotSupported,
                _ => continue,
            };
            if refused {
                let written = self
                    .oracle
                    .write_chain(queue, head, &S_NOT_SUPP.to_le_bytes());
                self.oracle.write(entry + 4, &written.to_le_bytes());
                continue;
            }
            if code != R_JACK_INFO {
                continue;
            }
            let start = self.oracle.read32(request + 4) as usize;
            let count = self.oracle.read32(request + 8) as usize;
            let size = self.oracle.read32(request + 12) as usize;
            self.queries += 1;
            let fits = size == JACK_INFO_BYTES
                && start
                    .checked_add(count)
                    .is_some_and(|end| end <= self.jacks.len());
            let mut reply = Vec::new();
            if fits {
                reply.extend_from_slice(&S_OK.to_le_bytes());
                for jack in &self.jacks[start..start + count] {
                    let mut record = jack.record();
                    if self.lie == JackLie::BadRecord {
                        record[16] = 2;
                    }
                    reply.extend_from_slice(&record);
                }
            } else {
                reply.extend_from_slice(&S_BAD_MSG.to_le_bytes());
            }
            let mut written = self.oracle.write_chain(queue, head, &reply);
            if fits && self.lie == JackLie::ShortReply {
                written = written.saturating_sub(1);
            }
            self.oracle.write(entry + 4, &written.to_le_bytes());
        }
    }
}

impl VirtioDevice for WithJacks {
    crate::forward_identity!(no_config);

    fn config(&self) -> Vec<u8> {
        let mut config = VirtioDevice::config(&self.oracle);
        let jacks = u32::try_from(self.jacks.len()).unwrap_or(u32::MAX);
        if let Some(field) = config.get_mut(..4) {
            field.copy_from_slice(&jacks.to_le_bytes());
        }
        config
    }

    fn enable_queue(&mut self, index: u16, queue: QueueConfig) {
        if let Some(slot) = self.queues.get_mut(usize::from(index)) {
            *slot = queue;
        }
        // The event queue is the VMM's: the oracle never sees it.
        if index != EVENT_QUEUE {
            self.oracle.enable_queue(index, queue);
        }
    }

    fn notify(&mut self, index: u16) -> Result<(), String> {
        if index == EVENT_QUEUE {
            // Buffers for events to come: taken when something is plugged.
            return Ok(());
        }
        let result = VirtioDevice::notify(&mut self.oracle, index);
        if index == 0 {
            self.answer_jack_queries();
        }
        result
    }

    fn take_interrupts(&mut self, index: u16) -> u64 {
        if index == EVENT_QUEUE {
            return std::mem::take(&mut self.raised);
        }
        self.oracle.take_interrupts(index)
    }

    fn reset(&mut self) {
        self.queues = [QueueConfig::default(); QUEUES];
        self.seen = 0;
        self.taken = 0;
        self.used = 0;
        self.raised = 0;
        VirtioDevice::reset(&mut self.oracle);
    }
}
