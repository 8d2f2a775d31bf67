//! A device that lies on demand: the oracle does the work, then the VMM (which can write
//! anything into guest memory, as a real device can) rewrites what it reported.
//!
//! [`Liar`] wraps an [`Oracle`]; after each notification it applies its [`Lie`] to every used
//! entry the oracle added to the notified queue: a status the device never meant, a used
//! length or descriptor id no conforming device writes, or a used index that runs ahead; or it
//! stops taking anything from a queue. The driver must turn each into a clean error, never a
//! read or write outside its buffers, nor a hang.

use portcls_sim::virtio_pci::{QueueConfig, VirtioDevice};

use crate::{Oracle, QUEUES};

/// What the device lies about, on one queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lie {
    /// The truth.
    None,
    /// Every reply or period status on the queue says `code` (for the control queue the
    /// reply's status word, for tx and rx the period status).
    Status {
        /// The queue.
        queue: u16,
        /// The status code written.
        code: u32,
    },
    /// Every used entry on the queue reports `len` bytes written.
    UsedLength {
        /// The queue.
        queue: u16,
        /// The length written.
        len: u32,
    },
    /// Every used entry on the queue names descriptor `id`.
    UsedId {
        /// The queue.
        queue: u16,
        /// The id written.
        id: u32,
    },
    /// The used index moves one further than the entries the device wrote.
    UsedIndexAhead {
        /// The queue.
        queue: u16,
    },
    /// The device takes nothing from the queue any more (it hangs): notifications of it are
    /// ignored, its chains stay available.
    Silent {
        /// The queue.
        queue: u16,
    },
}

impl Lie {
    const fn queue(self) -> Option<u16> {
        match self {
            Self::None => None,
            Self::Status { queue, .. }
            | Self::UsedLength { queue, .. }
            | Self::UsedId { queue, .. }
            | Self::UsedIndexAhead { queue }
            | Self::Silent { queue } => Some(queue),
        }
    }
}

/// The oracle, lying as told. See the [module](self) docs.
pub struct Liar {
    oracle: Oracle,
    lie: Lie,
    queues: [QueueConfig; QUEUES],
    /// The used index up to which entries have been seen, per queue.
    seen: [u16; QUEUES],
}

impl Liar {
    /// The oracle, telling the truth until [`Liar::lie`].
    #[must_use]
    pub fn new(oracle: Oracle) -> Self {
        Self {
            oracle,
            lie: Lie::None,
            queues: [QueueConfig::default(); QUEUES],
            seen: [0; QUEUES],
        }
    }

    /// From now on, lies so.
    pub fn lie(&mut self, lie: Lie) {
        self.lie = lie;
    }

    /// The oracle behind the lies.
    pub fn oracle(&mut self) -> &mut Oracle {
        &mut self.oracle
    }

    /// The writable descriptors of the chain at `head`: (address, length), in order.
    fn writable(&self, queue: QueueConfig, head: u32) -> Vec<(u64, u32)> {
        self.oracle
            .chain(queue, head)
            .into_iter()
            .filter_map(|(address, len, writable)| writable.then_some((address, len)))
            .collect()
    }

    /// Applies the lie to the used entries the oracle added to `index` since the last look.
    fn rewrite(&mut self, index: u16) {
        let slot = usize::from(index);
        let Some(&queue) = self.queues.get(slot) else {
            return;
        };
        if queue.size == 0 {
            return;
        }
        let used_index = self.oracle.read16(queue.device_area + 2);
        let mut at = self.seen[slot];
        let lying = self.lie.queue() == Some(index);
        while at != used_index {
            let entry = queue.device_area + 4 + 8 * u64::from(at % queue.size);
            if lying {
                match self.lie {
                    Lie::Status { code, .. } => {
                        let head = self.oracle.read32(entry);
                        let writable = self.writable(queue, head);
                        let status = if index == 0 {
                            writable.first().map(|&(address, _)| address)
                        } else {
                            writable.last().and_then(|&(address, len)| {
                                len.checked_sub(8).map(|skip| address + u64::from(skip))
                            })
                        };
                        if let Some(address) = status {
                            self.oracle.write(address, &code.to_le_bytes());
                        }
                    }
                    Lie::UsedLength { len, .. } => self.oracle.write(entry + 4, &len.to_le_bytes()),
                    Lie::UsedId { id, .. } => self.oracle.write(entry, &id.to_le_bytes()),
                    Lie::UsedIndexAhead { .. } | Lie::Silent { .. } | Lie::None => {}
                }
            }
            at = at.wrapping_add(1);
        }
        if lying && matches!(self.lie, Lie::UsedIndexAhead { .. }) && at != self.seen[slot] {
            at = at.wrapping_add(1);
            self.oracle.write(queue.device_area + 2, &at.to_le_bytes());
        }
        self.seen[slot] = at;
    }
}

impl VirtioDevice for Liar {
    crate::forward_identity!();

    fn enable_queue(&mut self, index: u16, queue: QueueConfig) {
        if let Some(slot) = self.queues.get_mut(usize::from(index)) {
            *slot = queue;
        }
        if let Some(seen) = self.seen.get_mut(usize::from(index)) {
            *seen = 0;
        }
        self.oracle.enable_queue(index, queue);
    }

    fn notify(&mut self, index: u16) -> Result<(), String> {
        if self.lie == (Lie::Silent { queue: index }) {
            return Ok(());
        }
        let result = VirtioDevice::notify(&mut self.oracle, index);
        self.rewrite(index);
        result
    }

    fn take_interrupts(&mut self, index: u16) -> u64 {
        self.oracle.take_interrupts(index)
    }

    fn reset(&mut self) {
        self.queues = [QueueConfig::default(); QUEUES];
        self.seen = [0; QUEUES];
        VirtioDevice::reset(&mut self.oracle);
    }
}
