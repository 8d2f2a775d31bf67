//! A virtio PCI function (virtio 1.2, section 4.1: the modern transport) around a virtio device
//! model: configuration space with its capability list, the register BAR (common
//! configuration, ISR status, device configuration, notifications), the MSI-X table BAR, and
//! the interrupts the device raises.
//!
//! The transport is the model's; the device behind it is anything that implements
//! [`VirtioDevice`] (for virtio-sound, rust-vmm's `vhost-device-sound`, run in-process by the
//! `virtio-oracle` crate). Register accesses arrive as [`VirtioPci::read`] and
//! [`VirtioPci::write`] (from the model's MMIO trap, or directly from a test), configuration
//! space as [`VirtioPci::config_space`].
//!
//! Like the rest of the model, the function checks the driver: every access the spec forbids
//! (a register written with the wrong width, a status bit cleared without a reset, `DRIVER_OK`
//! before `FEATURES_OK`, a queue changed after it was enabled, a notification before
//! `DRIVER_OK` or for a queue that is not enabled, features the device never offered) is a
//! breach, listed by [`VirtioPci::breaches`] (the model reports them as violations).
//!
//! # Layout (what the driver must discover from the capabilities, never assume)
//! | BAR | offset | structure |
//! | --- | --- | --- |
//! | 4 | `0x0000` | common configuration (`0x38` bytes) |
//! | 4 | `0x1000` | ISR status (1 byte, read to clear) |
//! | 4 | `0x2000` | device configuration |
//! | 4 | `0x3000` | notifications (`queue_notify_off` = the queue's index, multiplier 4) |
//! | 1 | `0x0000` | MSI-X table (16 bytes a vector), pending bits at `0x800` |

use crate::physical::WeakDeviceMemory;

/// Vendor ID of virtio functions.
pub const VENDOR_ID: u16 = 0x1AF4;
/// The BAR holding the virtio structures.
pub const REGISTER_BAR: u8 = 4;
/// Bytes of the register BAR.
pub const REGISTER_BAR_BYTES: u64 = 0x4000;
/// The BAR holding the MSI-X table.
pub const MSIX_BAR: u8 = 1;
/// Bytes of the MSI-X BAR.
pub const MSIX_BAR_BYTES: u64 = 0x1000;
/// Offset of the common configuration in the register BAR.
pub const COMMON_OFFSET: u64 = 0x0000;
/// Bytes of the common configuration.
pub const COMMON_BYTES: u64 = 0x38;
/// Offset of the ISR status byte.
pub const ISR_OFFSET: u64 = 0x1000;
/// Offset of the device configuration.
pub const DEVICE_OFFSET: u64 = 0x2000;
/// Offset of the notification structure.
pub const NOTIFY_OFFSET: u64 = 0x3000;
/// `notify_off_multiplier`.
pub const NOTIFY_MULTIPLIER: u32 = 4;
/// Where the system puts the MSI-X BAR unless told otherwise ([`VirtioPci::set_bar_addresses`]).
pub const DEFAULT_MSIX_BAR_ADDRESS: u32 = 0xFEB0_1000;
/// Where the system puts the register BAR (64-bit, prefetchable, as QEMU lays it out).
pub const DEFAULT_REGISTER_BAR_ADDRESS: u64 = 0x8_0000_4000;
/// `VIRTIO_MSI_NO_VECTOR`.
pub const NO_VECTOR: u16 = 0xFFFF;

const VERSION_1: u64 = 1 << 32;
const STATUS_FEATURES_OK: u8 = 8;
const STATUS_DRIVER_OK: u8 = 4;
const STATUS_DEVICE_NEEDS_RESET: u8 = 64;

/// Where a queue lives, as the driver programmed it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueConfig {
    /// Descriptors.
    pub size: u16,
    /// The descriptor table's address.
    pub descriptors: u64,
    /// The available ring's address.
    pub driver_area: u64,
    /// The used ring's address.
    pub device_area: u64,
}

/// A virtio device behind the transport: the device-type-specific part.
pub trait VirtioDevice: Send {
    /// The virtio device ID (25 for sound); the PCI device ID is `0x1040` plus it.
    fn device_id(&self) -> u16;
    /// The features the device offers.
    fn features(&self) -> u64;
    /// The features the driver accepted (a subset of the offer, checked by the transport).
    fn accept_features(&mut self, features: u64);
    /// Queues the device has.
    fn num_queues(&self) -> u16;
    /// The largest size of queue `index`.
    fn queue_max(&self, index: u16) -> u16;
    /// The device configuration's bytes.
    fn config(&self) -> Vec<u8>;
    /// The driver enabled queue `index`.
    fn enable_queue(&mut self, index: u16, queue: QueueConfig);
    /// The driver notified queue `index`.
    ///
    /// # Errors
    /// The device's own refusal of what it found in the queue (the transport records it).
    fn notify(&mut self, index: u16) -> Result<(), String>;
    /// Used-buffer notifications the device raised for queue `index` since the last call.
    fn take_interrupts(&mut self, index: u16) -> u64;
    /// The driver reset the device (wrote 0 to the status): it forgets its queues and
    /// features and lets go of the driver's memory.
    fn reset(&mut self);
}

/// An interrupt the function raised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupt {
    /// An MSI-X message with this vector.
    Message(u16),
    /// The line interrupt (`INTx`), with the ISR status set.
    Line,
}

#[derive(Clone, Copy, Debug, Default)]
struct Queue {
    config: QueueConfig,
    vector: u16,
    enabled: bool,
    /// The available index up to which the chains were checked against the driver's DMA
    /// allocations (see [`VirtioPci::check_memory`]).
    checked: u16,
}

/// A virtio PCI function. See the [module](self) docs.
pub struct VirtioPci<D: VirtioDevice> {
    device: D,
    status: u8,
    device_feature_select: u32,
    driver_feature_select: u32,
    driver_features: u64,
    config_vector: u16,
    queue_select: u16,
    queues: Vec<Queue>,
    isr: u8,
    msix_enabled: bool,
    interrupts: Vec<Interrupt>,
    breaches: Vec<String>,
    device_errors: Vec<String>,
    resets: u32,
    removed: bool,
    /// Bus addresses of the MSI-X BAR (32-bit) and the register BAR (64-bit).
    bar_addresses: (u32, u64),
    /// Whether the device's work waits for [`VirtioPci::run_device`].
    deferred: bool,
    /// The device's work not done yet, in order.
    pending: std::collections::VecDeque<Work>,
    /// The machine's memory, for checking what the driver hands the device.
    memory: Option<crate::physical::WeakDeviceMemory>,
}

/// Work the device does after the register access that asked for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Work {
    /// The driver wrote 0 to the status.
    Reset,
    /// The driver notified a queue.
    Notify(u16),
}

impl<D: VirtioDevice> VirtioPci<D> {
    /// A function around `device`, freshly reset, MSI-X off (the system turns it on when it
    /// grants the driver message interrupts: [`VirtioPci::set_msix_enabled`]).
    pub fn new(device: D) -> Self {
        let queues = vec![
            Queue {
                vector: NO_VECTOR,
                ..Queue::default()
            };
            usize::from(device.num_queues())
        ];
        Self {
            device,
            status: 0,
            device_feature_select: 0,
            driver_feature_select: 0,
            driver_features: 0,
            config_vector: NO_VECTOR,
            queue_select: 0,
            queues,
            isr: 0,
            msix_enabled: false,
            interrupts: Vec::new(),
            breaches: Vec::new(),
            device_errors: Vec::new(),
            resets: 0,
            removed: false,
            bar_addresses: (DEFAULT_MSIX_BAR_ADDRESS, DEFAULT_REGISTER_BAR_ADDRESS),
            deferred: false,
            pending: std::collections::VecDeque::new(),
            memory: None,
        }
    }

    /// From now on every address the driver hands the device is checked against the live
    /// DMA allocations of `memory`'s machine before the device sees it: at each notification,
    /// the queue's three areas, and every descriptor of each chain made available since the
    /// last one. An address outside them is the machine's
    /// [`Violation::DeviceAccess`](crate::Violation::DeviceAccess), as if the device had made
    /// the access (the device still gets the
    /// chain: a device implementation with its own view of memory, such as a `vm-memory`
    /// mapping of the whole range, is bounded by that view).
    pub fn check_memory(&mut self, memory: &crate::physical::DeviceMemory) {
        self.memory = Some(memory.downgrade());
    }

    /// From now on the device works after the accesses that ask it to, as hardware does: a
    /// notification is processed, and a reset completes, at the next [`VirtioPci::run_device`]
    /// (the model calls it when the driver gives the machine time: a stall, a wait, a
    /// return). Until a reset completes the status reads non-zero (what it was, or
    /// `ACKNOWLEDGE` if it was 0), so a driver that waits for 0 waits for the device. This is what register
    /// accesses trapped from the driver need: the trap runs on a small stack and must not do
    /// the device's work itself.
    pub fn set_deferred(&mut self, deferred: bool) {
        self.deferred = deferred;
    }

    /// Whether the device has work the driver asked for and it has not done.
    #[must_use]
    pub fn has_work(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Does the device's pending work, in order (see [`VirtioPci::set_deferred`]).
    pub fn run_device(&mut self) {
        while let Some(work) = self.pending.pop_front() {
            match work {
                Work::Reset => self.reset_now(),
                Work::Notify(index) => self.notify_now(index),
            }
        }
    }

    /// The bus addresses the system assigned to the MSI-X BAR (32-bit) and the register BAR
    /// (64-bit), as the BAR registers in configuration space read.
    pub fn set_bar_addresses(&mut self, msix: u32, registers: u64) {
        self.bar_addresses = (msix, registers);
    }

    /// The bus address of BAR `index` (0 for a BAR the function does not have).
    #[must_use]
    pub const fn bar_address(&self, index: u8) -> u64 {
        match index {
            MSIX_BAR => self.bar_addresses.0 as u64,
            REGISTER_BAR => self.bar_addresses.1,
            _ => 0,
        }
    }

    /// Surprise removal: the function is gone. Every register read returns all ones (what a
    /// PCI read of an absent function returns), writes go nowhere, nothing is notified and no
    /// interrupt comes.
    pub fn surprise_remove(&mut self) {
        self.removed = true;
        self.interrupts.clear();
    }

    /// Whether the function was surprise-removed.
    #[must_use]
    pub const fn removed(&self) -> bool {
        self.removed
    }

    /// The device behind the transport.
    pub fn device(&mut self) -> &mut D {
        &mut self.device
    }

    /// MSI-X vectors in the table: one per queue and one for configuration changes.
    #[must_use]
    pub fn msix_vectors(&self) -> u16 {
        self.device.num_queues() + 1
    }

    /// The system enabled (or disabled) MSI-X in the capability's message control.
    pub fn set_msix_enabled(&mut self, enabled: bool) {
        self.msix_enabled = enabled;
    }

    /// The device status register.
    #[must_use]
    pub const fn status(&self) -> u8 {
        self.status
    }

    /// Resets the driver performed (status written 0).
    #[must_use]
    pub const fn resets(&self) -> u32 {
        self.resets
    }

    /// What the driver did that the spec forbids, oldest first.
    #[must_use]
    pub fn breaches(&self) -> &[String] {
        &self.breaches
    }

    /// What the device refused (its errors on a notification), oldest first.
    #[must_use]
    pub fn device_errors(&self) -> &[String] {
        &self.device_errors
    }

    /// Interrupts raised since the last call, oldest first.
    pub fn take_interrupts(&mut self) -> Vec<Interrupt> {
        core::mem::take(&mut self.interrupts)
    }

    /// Whether queue `index` is enabled.
    #[must_use]
    pub fn queue_enabled(&self, index: u16) -> bool {
        self.queues
            .get(usize::from(index))
            .is_some_and(|q| q.enabled)
    }

    /// Makes the device ask for a reset (`DEVICE_NEEDS_RESET`) and raise a configuration
    /// interrupt, as a device that failed does.
    pub fn fail_device(&mut self) {
        self.status |= STATUS_DEVICE_NEEDS_RESET;
        self.isr |= 2;
        self.raise(self.config_vector);
    }

    fn breach(&mut self, what: String) {
        self.breaches.push(what);
    }

    fn raise(&mut self, vector: u16) {
        if self.msix_enabled {
            if vector != NO_VECTOR {
                self.interrupts.push(Interrupt::Message(vector));
            }
        } else {
            self.interrupts.push(Interrupt::Line);
        }
    }

    /// The 256 bytes of configuration space: header and capability list.
    #[must_use]
    pub fn config_space(&self) -> [u8; 256] {
        let mut space = [0; 256];
        let put = |space: &mut [u8; 256], at: usize, bytes: &[u8]| {
            space[at..at + bytes.len()].copy_from_slice(bytes);
        };
        put(&mut space, 0x00, &VENDOR_ID.to_le_bytes());
        put(
            &mut space,
            0x02,
            &(0x1040 + self.device.device_id()).to_le_bytes(),
        );
        // Command: memory space and bus master enabled (the system's PCI driver does that).
        put(&mut space, 0x04, &0x0006_u16.to_le_bytes());
        // Status: capability list.
        put(&mut space, 0x06, &0x0010_u16.to_le_bytes());
        // Revision 1 (a modern-only device), class: multimedia audio.
        put(&mut space, 0x08, &[0x01, 0x00, 0x01, 0x04]);
        put(&mut space, 0x2C, &VENDOR_ID.to_le_bytes());
        put(&mut space, 0x2E, &0x0040_u16.to_le_bytes());
        // BAR 1: 32-bit memory; BAR 4-5: 64-bit prefetchable memory.
        put(
            &mut space,
            0x10 + 4 * usize::from(MSIX_BAR),
            &self.bar_addresses.0.to_le_bytes(),
        );
        let wide = self.bar_addresses.1.to_le_bytes();
        let low = u32::from_le_bytes([wide[0] | 0b1100, wide[1], wide[2], wide[3]]);
        let high = u32::from_le_bytes([wide[4], wide[5], wide[6], wide[7]]);
        put(
            &mut space,
            0x10 + 4 * usize::from(REGISTER_BAR),
            &low.to_le_bytes(),
        );
        put(
            &mut space,
            0x14 + 4 * usize::from(REGISTER_BAR),
            &high.to_le_bytes(),
        );
        space[0x34] = 0x40;
        space[0x3D] = 1; // INTA#
        let virtio_cap =
            |space: &mut [u8; 256], at: usize, next: u8, kind: u8, offset: u64, length: u64| {
                let len = if kind == 2 { 20 } else { 16 };
                put(space, at, &[0x09, next, len, kind, REGISTER_BAR, 0, 0, 0]);
                put(
                    space,
                    at + 8,
                    &u32::try_from(offset).unwrap_or(0).to_le_bytes(),
                );
                put(
                    space,
                    at + 12,
                    &u32::try_from(length).unwrap_or(0).to_le_bytes(),
                );
            };
        let device_bytes = u64::try_from(self.device.config().len()).unwrap_or(0);
        virtio_cap(&mut space, 0x40, 0x50, 1, COMMON_OFFSET, COMMON_BYTES);
        virtio_cap(&mut space, 0x50, 0x60, 3, ISR_OFFSET, 1);
        virtio_cap(&mut space, 0x60, 0x70, 4, DEVICE_OFFSET, device_bytes);
        let queues = u64::from(self.device.num_queues());
        virtio_cap(
            &mut space,
            0x70,
            0x84,
            2,
            NOTIFY_OFFSET,
            queues * u64::from(NOTIFY_MULTIPLIER),
        );
        put(&mut space, 0x70 + 16, &NOTIFY_MULTIPLIER.to_le_bytes());
        // MSI-X: table size N-1, enable bit 15; table at BAR 1 offset 0, pending bits at 0x800.
        let control = (self.msix_vectors() - 1) | if self.msix_enabled { 0x8000 } else { 0 };
        put(&mut space, 0x84, &[0x11, 0x00]);
        put(&mut space, 0x86, &control.to_le_bytes());
        put(&mut space, 0x88, &u32::from(MSIX_BAR).to_le_bytes());
        put(
            &mut space,
            0x8C,
            &(0x800 | u32::from(MSIX_BAR)).to_le_bytes(),
        );
        space
    }

    /// A read of `size` bytes at `offset` in the register BAR.
    pub fn read(&mut self, offset: u64, size: u8) -> u64 {
        if self.removed {
            return u64::MAX >> (64 - 8 * u32::from(size.clamp(1, 8)));
        }
        match offset {
            COMMON_OFFSET..0x38 => self.read_common(offset, size),
            ISR_OFFSET => {
                let isr = self.isr;
                self.isr = 0;
                u64::from(isr)
            }
            DEVICE_OFFSET..NOTIFY_OFFSET => {
                let config = self.device.config();
                let at = usize::try_from(offset - DEVICE_OFFSET).unwrap_or(usize::MAX);
                let mut value = 0;
                for i in (0..usize::from(size)).rev() {
                    value = value << 8 | u64::from(config.get(at + i).copied().unwrap_or(0));
                }
                value
            }
            _ => {
                self.breach(format!(
                    "read of {size} bytes at {offset:#x}: no register there"
                ));
                0
            }
        }
    }

    /// A write of `size` bytes of `value` at `offset` in the register BAR.
    pub fn write(&mut self, offset: u64, size: u8, value: u64) {
        if self.removed {
            return;
        }
        match offset {
            COMMON_OFFSET..0x38 => self.write_common(offset, size, value),
            NOTIFY_OFFSET..0x4000 => self.notify(offset, size, value),
            _ => self.breach(format!(
                "write of {size} bytes at {offset:#x}: no writable register there"
            )),
        }
    }

    /// The width each common-configuration field has.
    const fn field_width(offset: u64) -> u8 {
        match offset {
            0x00..0x10 => 4,
            0x10..0x14 | 0x16..0x20 => 2,
            0x14 | 0x15 => 1,
            _ => 8,
        }
    }

    fn selected(&self) -> Option<&Queue> {
        self.queues.get(usize::from(self.queue_select))
    }

    fn read_common(&mut self, offset: u64, size: u8) -> u64 {
        let width = Self::field_width(offset);
        // 64-bit fields may be read as two 32-bit halves.
        let half = width == 8 && size == 4;
        if size != width && !half {
            self.breach(format!(
                "common configuration {offset:#x} read with {size} bytes, not {width}"
            ));
            return 0;
        }
        let queue = self.selected().copied();
        let select = |features: u64, select: u32| match select {
            0 => features & 0xFFFF_FFFF,
            1 => features >> 32,
            _ => 0,
        };
        match offset {
            0x00 => u64::from(self.device_feature_select),
            0x04 => select(self.device.features(), self.device_feature_select),
            0x08 => u64::from(self.driver_feature_select),
            0x0C => select(self.driver_features, self.driver_feature_select),
            0x10 => u64::from(self.config_vector),
            0x12 => u64::from(self.device.num_queues()),
            // A reset not yet done reads non-zero: what the status was, or ACKNOWLEDGE.
            0x14 if self.pending.contains(&Work::Reset) => u64::from(self.status.max(1)),
            0x14 => u64::from(self.status),
            0x15 => 0,
            0x16 | 0x1E => u64::from(self.queue_select),
            0x18 => queue.map_or(0, |q| {
                if q.config.size == 0 {
                    u64::from(self.device.queue_max(self.queue_select))
                } else {
                    u64::from(q.config.size)
                }
            }),
            0x1A => queue.map_or(u64::from(NO_VECTOR), |q| u64::from(q.vector)),
            0x1C => queue.map_or(0, |q| u64::from(q.enabled)),
            _ => {
                let field = queue.map_or(0, |q| match offset & !7 {
                    0x20 => q.config.descriptors,
                    0x28 => q.config.driver_area,
                    _ => q.config.device_area,
                });
                if offset % 8 == 4 {
                    field >> 32
                } else if half {
                    field & 0xFFFF_FFFF
                } else {
                    field
                }
            }
        }
    }

    fn write_common(&mut self, offset: u64, size: u8, value: u64) {
        let width = Self::field_width(offset);
        let half = width == 8 && size == 4;
        if size != width && !half {
            self.breach(format!(
                "common configuration {offset:#x} written with {size} bytes, not {width}"
            ));
            return;
        }
        match offset {
            0x00 => self.device_feature_select = u32::try_from(value).unwrap_or(u32::MAX),
            0x08 => self.driver_feature_select = u32::try_from(value).unwrap_or(u32::MAX),
            0x0C => {
                if self.status & STATUS_FEATURES_OK != 0 {
                    self.breach("driver features written after FEATURES_OK".to_owned());
                    return;
                }
                let shift = match self.driver_feature_select {
                    0 => 0,
                    1 => 32,
                    other => {
                        self.breach(format!("driver features written with select {other}"));
                        return;
                    }
                };
                self.driver_features =
                    self.driver_features & !(0xFFFF_FFFF << shift) | (value & 0xFFFF_FFFF) << shift;
            }
            0x10 => {
                self.config_vector = if self.vector_fits(value) {
                    u16::try_from(value).unwrap_or(NO_VECTOR)
                } else {
                    NO_VECTOR
                };
            }
            0x14 => self.write_status(u8::try_from(value).unwrap_or(u8::MAX)),
            0x16 => self.queue_select = u16::try_from(value).unwrap_or(u16::MAX),
            0x18..0x38 => self.write_queue(offset, size, value),
            _ => self.breach(format!(
                "write to read-only common configuration {offset:#x}"
            )),
        }
    }

    fn vector_fits(&self, value: u64) -> bool {
        value < u64::from(self.msix_vectors())
    }

    fn write_status(&mut self, value: u8) {
        if value == 0 {
            if self.deferred {
                self.pending.push_back(Work::Reset);
            } else {
                self.reset_now();
            }
            return;
        }
        if self.pending.contains(&Work::Reset) {
            self.breach(format!(
                "device status {value:#04x} written before the reset completed"
            ));
            return;
        }

        if value & self.status != self.status {
            self.breach(format!(
                "device status {:#04x} written over {:#04x}: a bit cleared without a reset",
                value, self.status
            ));
            return;
        }
        let mut value = value;
        let newly = value & !self.status;
        if newly & STATUS_FEATURES_OK != 0 {
            let offered = self.device.features();
            if self.driver_features & !offered != 0 {
                self.breach(format!(
                    "FEATURES_OK with features {:#x} the device never offered",
                    self.driver_features & !offered
                ));
                value &= !STATUS_FEATURES_OK;
            } else if self.driver_features & VERSION_1 == 0 {
                // A modern-only device refuses a driver that did not accept VERSION_1.
                value &= !STATUS_FEATURES_OK;
            } else {
                self.device.accept_features(self.driver_features);
            }
        }
        if newly & STATUS_DRIVER_OK != 0 && value & STATUS_FEATURES_OK == 0 {
            self.breach("DRIVER_OK without FEATURES_OK".to_owned());
        }
        self.status = value;
    }

    /// The device resets: it forgets its queues and features and lets go of the driver's
    /// memory; the status reads 0.
    fn reset_now(&mut self) {
        self.device.reset();
        let vectors = self.queues.len();
        self.queues = vec![
            Queue {
                vector: NO_VECTOR,
                ..Queue::default()
            };
            vectors
        ];
        self.status = 0;
        self.driver_features = 0;
        self.config_vector = NO_VECTOR;
        self.isr = 0;
        self.resets += 1;
    }

    fn write_queue(&mut self, offset: u64, size: u8, value: u64) {
        let index = self.queue_select;
        let vector_fits = self.vector_fits(value);
        let max = self.device.queue_max(index);
        let Some(queue) = self.queues.get_mut(usize::from(index)) else {
            self.breach(format!(
                "queue register {offset:#x} written for queue {index}, which does not exist"
            ));
            return;
        };
        if queue.enabled {
            self.breach(format!(
                "queue {index} register {offset:#x} written after the queue was enabled"
            ));
            return;
        }
        match offset {
            0x18 => {
                let size = u16::try_from(value).unwrap_or(0);
                if size == 0 || size > max || !size.is_power_of_two() {
                    self.breach(format!(
                        "queue {index} size {size}: not a power of two up to {max}"
                    ));
                    return;
                }
                queue.config.size = size;
            }
            0x1A => {
                queue.vector = if vector_fits {
                    u16::try_from(value).unwrap_or(NO_VECTOR)
                } else {
                    NO_VECTOR
                }
            }
            0x1C => {
                if value != 1 {
                    self.breach(format!(
                        "queue {index} enable written {value}, only 1 is allowed"
                    ));
                    return;
                }
                if queue.config.size == 0 {
                    queue.config.size = max;
                }
                queue.enabled = true;
                let config = queue.config;
                self.device.enable_queue(index, config);
            }
            _ => {
                let field = match offset & !7 {
                    0x20 => &mut queue.config.descriptors,
                    0x28 => &mut queue.config.driver_area,
                    _ => &mut queue.config.device_area,
                };
                *field = match (offset % 8, size) {
                    (0, 8) => value,
                    (0, _) => *field & !0xFFFF_FFFF | value & 0xFFFF_FFFF,
                    _ => *field & 0xFFFF_FFFF | value << 32,
                };
            }
        }
    }

    fn notify(&mut self, offset: u64, size: u8, value: u64) {
        let within = offset - NOTIFY_OFFSET;
        let index = within / u64::from(NOTIFY_MULTIPLIER);
        if size != 2 || !within.is_multiple_of(u64::from(NOTIFY_MULTIPLIER)) || value != index {
            self.breach(format!(
                "notification of {size} bytes of {value} at {offset:#x}: queue {index}'s notification is its index in 2 bytes"
            ));
            return;
        }
        let Ok(index) = u16::try_from(index) else {
            return;
        };
        if self.status & STATUS_DRIVER_OK == 0 {
            self.breach(format!("queue {index} notified before DRIVER_OK"));
            return;
        }
        if !self.queue_enabled(index) {
            self.breach(format!("queue {index} notified but not enabled"));
            return;
        }
        if self.deferred {
            self.pending.push_back(Work::Notify(index));
        } else {
            self.notify_now(index);
        }
    }

    /// Checks queue `index`'s areas and the chains made available since the last check (see
    /// [`VirtioPci::check_memory`]).
    fn check_chains(&mut self, index: u16) {
        let Some(memory) = self.memory.as_ref().and_then(WeakDeviceMemory::upgrade) else {
            return;
        };
        let Some(queue) = self.queues.get_mut(usize::from(index)) else {
            return;
        };
        let config = queue.config;
        let size = u64::from(config.size);
        if size == 0 {
            return;
        }
        let areas = [
            (config.descriptors, 16 * size),
            (config.driver_area, 6 + 2 * size),
            (config.device_area, 6 + 8 * size),
        ];
        for (address, bytes) in areas {
            if memory
                .host_ptr(address, usize::try_from(bytes).unwrap_or(usize::MAX))
                .is_err()
            {
                return;
            }
        }
        let read16 = |address: u64| {
            let mut bytes = [0; 2];
            let _ = memory.read(address, &mut bytes);
            u16::from_le_bytes(bytes)
        };
        let available = read16(config.driver_area + 2);
        while queue.checked != available {
            let slot = u64::from(queue.checked) % size;
            let mut at = read16(config.driver_area + 4 + 2 * slot);
            for _ in 0..size {
                let mut descriptor = [0_u8; 16];
                let _ = memory.read(
                    config.descriptors + 16 * (u64::from(at) % size),
                    &mut descriptor,
                );
                let address = u64::from_le_bytes(descriptor[..8].try_into().unwrap_or_default());
                let len = u32::from_le_bytes(descriptor[8..12].try_into().unwrap_or_default());
                if len > 0 {
                    let _ = memory.host_ptr(address, usize::try_from(len).unwrap_or(usize::MAX));
                }
                let flags = u16::from_le_bytes([descriptor[12], descriptor[13]]);
                if flags & 1 == 0 {
                    break;
                }
                at = u16::from_le_bytes([descriptor[14], descriptor[15]]);
            }
            queue.checked = queue.checked.wrapping_add(1);
        }
    }

    fn notify_now(&mut self, index: u16) {
        self.check_chains(index);
        if let Err(error) = self.device.notify(index) {
            self.device_errors.push(format!("queue {index}: {error}"));
        }
        self.collect_interrupts();
    }

    /// Turns the device's used-buffer notifications into interrupts (after a notification,
    /// or when the device completes work on its own, e.g. as time passes).
    pub fn collect_interrupts(&mut self) {
        for index in 0..self.device.num_queues() {
            let raised = self.device.take_interrupts(index);
            for _ in 0..raised {
                self.isr |= 1;
                let vector = self
                    .queues
                    .get(usize::from(index))
                    .map_or(NO_VECTOR, |q| q.vector);
                self.raise(vector);
            }
        }
    }
}

/// A function's register BAR as the device of an [`MmioWindow`](crate::mmio::MmioWindow): the
/// driver's loads and stores on the window are [`VirtioPci::read`] and [`VirtioPci::write`].
/// Make the function [deferred](VirtioPci::set_deferred) first: the accesses are trapped, and
/// the device's work must wait for [`VirtioPci::run_device`].
pub struct RegisterBar<D: VirtioDevice>(pub std::sync::Arc<std::sync::Mutex<VirtioPci<D>>>);

impl<D: VirtioDevice> RegisterBar<D> {
    fn with<T>(&self, f: impl FnOnce(&mut VirtioPci<D>) -> T) -> T {
        // A poisoned lock means a test already failed; the function's state is still the
        // function's.
        let mut pci = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut pci)
    }
}

impl<D: VirtioDevice> crate::mmio::MmioDevice for RegisterBar<D> {
    fn read(&self, offset: u64, size: u8) -> u64 {
        self.with(|pci| pci.read(offset, size))
    }

    fn write(&self, offset: u64, size: u8, value: u64) {
        self.with(|pci| pci.write(offset, size, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::physical::{DeviceFault, DmaOwner};
    use crate::{OsProfile, Sim, Violation};

    /// A device that does nothing with what it is given.
    struct Idle;

    impl VirtioDevice for Idle {
        fn device_id(&self) -> u16 {
            25
        }
        fn features(&self) -> u64 {
            VERSION_1
        }
        fn accept_features(&mut self, _features: u64) {}
        fn num_queues(&self) -> u16 {
            1
        }
        fn queue_max(&self, _index: u16) -> u16 {
            16
        }
        fn config(&self) -> Vec<u8> {
            Vec::new()
        }
        fn enable_queue(&mut self, _index: u16, _queue: QueueConfig) {}
        fn notify(&mut self, _index: u16) -> Result<(), String> {
            Ok(())
        }
        fn take_interrupts(&mut self, _index: u16) -> u64 {
            0
        }
        fn reset(&mut self) {}
    }

    fn descriptor(address: u64, len: u32) -> [u8; 16] {
        let mut out = [0; 16];
        out[..8].copy_from_slice(&address.to_le_bytes());
        out[8..12].copy_from_slice(&len.to_le_bytes());
        out
    }

    fn device_accesses(sim: &Sim) -> Vec<(u64, usize, DeviceFault)> {
        sim.violations()
            .into_iter()
            .filter_map(|v| match v {
                Violation::DeviceAccess {
                    physical,
                    length,
                    fault,
                    ..
                } => Some((physical, length, fault)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_address_the_driver_hands_the_device_is_checked_once_at_its_notification() {
        let sim = Sim::new(OsProfile::Win10_1511);
        let memory = sim.device_memory();
        let owner = DmaOwner::CommonBuffer { adapter: 0x10 };
        let allocate = || {
            sim.world
                .lock()
                .physical
                .allocate(4096, 0, u64::MAX, owner, 0)
                .expect("a page")
                .0
        };
        let (rings, buffer) = (allocate(), allocate());
        let mut pci = VirtioPci::new(Idle);
        pci.check_memory(&memory);
        pci.queues[0].config = QueueConfig {
            size: 4,
            descriptors: rings,
            driver_area: rings + 64,
            device_area: rings + 128,
        };
        // Two chains: one inside the buffer, one running 104 bytes past its end.
        memory.write(rings, &descriptor(buffer, 100)).unwrap();
        memory
            .write(rings + 16, &descriptor(buffer + 4000, 200))
            .unwrap();
        memory.write(rings + 64, &[0, 0, 2, 0, 0, 0, 1, 0]).unwrap();
        pci.notify_now(0);
        assert_eq!(
            device_accesses(&sim),
            [(
                buffer + 4000,
                200,
                DeviceFault::Straddles {
                    allocation: buffer,
                    length: 4096
                }
            )],
            "the chain past the buffer's end, and only it"
        );
        pci.notify_now(0);
        assert_eq!(device_accesses(&sim).len(), 1, "each chain is checked once");
        // A queue whose descriptor table is nobody's memory.
        let nowhere = buffer - 4096;
        pci.queues[0].config.descriptors = nowhere;
        pci.notify_now(0);
        assert_eq!(
            device_accesses(&sim).last().map(|&(at, len, _)| (at, len)),
            Some((nowhere, 64)),
            "the descriptor table"
        );
    }
}
