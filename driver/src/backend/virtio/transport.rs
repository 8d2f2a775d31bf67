//! The virtio PCI modern transport's common configuration (virtio 1.2, 4.1.4.3) and the
//! device initialization sequence (3.1.1): reset, status handshake, feature negotiation, queue
//! set-up, `DRIVER_OK`; and reset on every failure.
//!
//! The registers are reached through [`CommonConfig`], which the driver's shell implements with
//! MMIO on the mapped BAR and the tests implement with a register file; the sequence itself is
//! here, pure. Whatever the device answers is checked: a reset that never completes, features
//! without `VIRTIO_F_VERSION_1`, a refused `FEATURES_OK`, too few queues, a queue of size 0 or
//! an MSI-X vector the device will not take are each a [`TransportError`], and the caller resets
//! the device ([`reset`]) before it fails the start.

use portcls_sys::{
    NTSTATUS, STATUS_DEVICE_PROTOCOL_ERROR, STATUS_INSUFFICIENT_RESOURCES, STATUS_IO_DEVICE_ERROR,
    STATUS_NOT_SUPPORTED,
};

/// `device_feature_select` (u32).
pub const DEVICE_FEATURE_SELECT: usize = 0x00;
/// `device_feature` (u32).
pub const DEVICE_FEATURE: usize = 0x04;
/// `driver_feature_select` (u32).
pub const DRIVER_FEATURE_SELECT: usize = 0x08;
/// `driver_feature` (u32).
pub const DRIVER_FEATURE: usize = 0x0C;
/// `config_msix_vector` (u16).
pub const CONFIG_MSIX_VECTOR: usize = 0x10;
/// `num_queues` (u16).
pub const NUM_QUEUES: usize = 0x12;
/// `device_status` (u8).
pub const DEVICE_STATUS: usize = 0x14;
/// `config_generation` (u8).
pub const CONFIG_GENERATION: usize = 0x15;
/// `queue_select` (u16).
pub const QUEUE_SELECT: usize = 0x16;
/// `queue_size` (u16).
pub const QUEUE_SIZE: usize = 0x18;
/// `queue_msix_vector` (u16).
pub const QUEUE_MSIX_VECTOR: usize = 0x1A;
/// `queue_enable` (u16).
pub const QUEUE_ENABLE: usize = 0x1C;
/// `queue_notify_off` (u16).
pub const QUEUE_NOTIFY_OFF: usize = 0x1E;
/// `queue_desc` (u64).
pub const QUEUE_DESC: usize = 0x20;
/// `queue_driver` (u64).
pub const QUEUE_DRIVER: usize = 0x28;
/// `queue_device` (u64).
pub const QUEUE_DEVICE: usize = 0x30;
/// Bytes of the common configuration the driver uses (virtio 1.0's structure).
pub const COMMON_CONFIG_BYTES: u32 = 0x38;

/// Device status: the guest has noticed the device.
pub const STATUS_ACKNOWLEDGE: u8 = 1;
/// Device status: the guest knows how to drive it.
pub const STATUS_DRIVER: u8 = 2;
/// Device status: the driver is ready.
pub const STATUS_DRIVER_OK: u8 = 4;
/// Device status: feature negotiation is complete.
pub const STATUS_FEATURES_OK: u8 = 8;
/// Device status: the device has failed and needs a reset.
pub const STATUS_DEVICE_NEEDS_RESET: u8 = 64;
/// Device status: the driver has given up on the device.
pub const STATUS_FAILED: u8 = 128;

/// `VIRTIO_F_VERSION_1`: the device complies with virtio 1.x (required).
pub const F_VERSION_1: u64 = 1 << 32;
/// `VIRTIO_F_ACCESS_PLATFORM`: the device's DMA goes through the platform's translation. The
/// driver gives the device only addresses from its DMA adapter, so it accepts this.
pub const F_ACCESS_PLATFORM: u64 = 1 << 33;
/// The features the driver accepts when offered; everything else is declined.
pub const DRIVER_FEATURES: u64 = F_VERSION_1 | F_ACCESS_PLATFORM;

/// `VIRTIO_MSI_NO_VECTOR`: no MSI-X vector (the device refused the one written).
pub const NO_VECTOR: u16 = 0xFFFF;

/// Reads of the status the driver makes while waiting for a reset to complete.
pub const RESET_POLLS: u32 = 1000;

/// The common configuration registers of one device.
pub trait CommonConfig {
    /// Reads a byte register.
    fn read8(&mut self, offset: usize) -> u8;
    /// Reads a 16-bit register.
    fn read16(&mut self, offset: usize) -> u16;
    /// Reads a 32-bit register.
    fn read32(&mut self, offset: usize) -> u32;
    /// Writes a byte register.
    fn write8(&mut self, offset: usize, value: u8);
    /// Writes a 16-bit register.
    fn write16(&mut self, offset: usize, value: u16);
    /// Writes a 32-bit register.
    fn write32(&mut self, offset: usize, value: u32);
    /// Waits a little between two reads of a register the device is changing (the shell
    /// stalls a microsecond; tests do nothing).
    fn pause(&mut self) {}

    /// Writes a 64-bit register as two 32-bit halves, low first (the spec lets the driver).
    fn write64(&mut self, offset: usize, value: u64) {
        let [low, high] = split(value);
        self.write32(offset, low);
        self.write32(offset + 4, high);
    }
}

/// The low and high 32-bit halves of a 64-bit value.
const fn split(value: u64) -> [u32; 2] {
    let bytes = value.to_le_bytes();
    [
        u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
        u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
    ]
}

/// A device that cannot be driven, found during initialization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// The status did not read 0 after a reset within [`RESET_POLLS`] reads.
    ResetTimeout,
    /// The device does not offer `VIRTIO_F_VERSION_1` (a legacy-only device).
    NoVersion1 {
        /// What it offered.
        offered: u64,
    },
    /// The device cleared `FEATURES_OK`: it refuses the features the driver accepted.
    FeaturesRefused,
    /// Fewer queues than the device type needs.
    TooFewQueues {
        /// Queues the device has.
        found: u16,
    },
    /// A queue the device type needs has size 0.
    MissingQueue(u16),
    /// The device answered `NO_VECTOR` for an MSI-X vector (it cannot map it).
    VectorRefused(u16),
    /// The device asks for a reset (`DEVICE_NEEDS_RESET`).
    NeedsReset,
    /// The status reads all ones: the function is gone (a PCI read of a removed device).
    Removed,
}

impl TransportError {
    /// The NTSTATUS the start fails with.
    #[must_use]
    pub const fn status(&self) -> NTSTATUS {
        match self {
            Self::ResetTimeout | Self::NeedsReset => STATUS_IO_DEVICE_ERROR,
            Self::NoVersion1 { .. } | Self::FeaturesRefused => STATUS_NOT_SUPPORTED,
            Self::TooFewQueues { .. } | Self::MissingQueue(_) => STATUS_DEVICE_PROTOCOL_ERROR,
            Self::VectorRefused(_) => STATUS_INSUFFICIENT_RESOURCES,
            Self::Removed => portcls_sys::STATUS_DEVICE_REMOVED,
        }
    }
}

/// Resets the device and waits until it says it has (status 0).
///
/// # Errors
/// [`TransportError::ResetTimeout`].
pub fn reset(config: &mut impl CommonConfig) -> Result<(), TransportError> {
    config.write8(DEVICE_STATUS, 0);
    for _ in 0..RESET_POLLS {
        if config.read8(DEVICE_STATUS) == 0 {
            return Ok(());
        }
        config.pause();
    }
    Err(TransportError::ResetTimeout)
}

/// Gives up on the device: sets `FAILED`, then resets it (so it stops using the driver's
/// memory before that memory is freed). Returns whether the reset completed.
pub fn fail(config: &mut impl CommonConfig) -> bool {
    let status = config.read8(DEVICE_STATUS);
    config.write8(DEVICE_STATUS, status | STATUS_FAILED);
    reset(config).is_ok()
}

fn add_status(config: &mut impl CommonConfig, bits: u8) {
    let status = config.read8(DEVICE_STATUS);
    config.write8(DEVICE_STATUS, status | bits);
}

/// The features the driver accepts from an offer: what both support.
///
/// # Errors
/// [`TransportError::NoVersion1`] without `VIRTIO_F_VERSION_1`.
pub const fn negotiate(offered: u64) -> Result<u64, TransportError> {
    if offered & F_VERSION_1 == 0 {
        return Err(TransportError::NoVersion1 { offered });
    }
    Ok(offered & DRIVER_FEATURES)
}

/// Steps 1 to 6 of the initialization: reset, `ACKNOWLEDGE`, `DRIVER`, features (read both
/// words, accept [`negotiate`]'s answer), `FEATURES_OK` and its check, and the number of
/// queues (at least `queues`). Returns the accepted features. On an error the device is left
/// for the caller to [`fail`].
///
/// # Errors
/// [`TransportError`], as above.
pub fn begin(config: &mut impl CommonConfig, queues: u16) -> Result<u64, TransportError> {
    reset(config)?;
    add_status(config, STATUS_ACKNOWLEDGE);
    add_status(config, STATUS_DRIVER);
    config.write32(DEVICE_FEATURE_SELECT, 0);
    let low = config.read32(DEVICE_FEATURE);
    config.write32(DEVICE_FEATURE_SELECT, 1);
    let high = config.read32(DEVICE_FEATURE);
    let accepted = negotiate(u64::from(high) << 32 | u64::from(low))?;
    config.write32(DRIVER_FEATURE_SELECT, 0);
    let [low, high] = split(accepted);
    config.write32(DRIVER_FEATURE, low);
    config.write32(DRIVER_FEATURE_SELECT, 1);
    config.write32(DRIVER_FEATURE, high);
    add_status(config, STATUS_FEATURES_OK);
    if config.read8(DEVICE_STATUS) & STATUS_FEATURES_OK == 0 {
        return Err(TransportError::FeaturesRefused);
    }
    let found = config.read16(NUM_QUEUES);
    if found < queues {
        return Err(TransportError::TooFewQueues { found });
    }
    Ok(accepted)
}

/// The largest size the device allows for queue `index`.
///
/// # Errors
/// [`TransportError::MissingQueue`] if it is 0 (the queue does not exist).
pub fn queue_max(config: &mut impl CommonConfig, index: u16) -> Result<u16, TransportError> {
    config.write16(QUEUE_SELECT, index);
    match config.read16(QUEUE_SIZE) {
        0 => Err(TransportError::MissingQueue(index)),
        size => Ok(size),
    }
}

/// Where one queue lives, as the device sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueAddresses {
    /// Descriptors in the queue.
    pub size: u16,
    /// The descriptor table.
    pub descriptors: u64,
    /// The available ring.
    pub driver_area: u64,
    /// The used ring.
    pub device_area: u64,
}

/// Sets up and enables queue `index` with its MSI-X `vector` (or [`NO_VECTOR`] for line
/// interrupts). Returns the queue's `queue_notify_off`.
///
/// # Errors
/// [`TransportError::VectorRefused`] if the device does not take the vector.
pub fn enable_queue(
    config: &mut impl CommonConfig,
    index: u16,
    queue: QueueAddresses,
    vector: u16,
) -> Result<u16, TransportError> {
    config.write16(QUEUE_SELECT, index);
    config.write16(QUEUE_SIZE, queue.size);
    if vector != NO_VECTOR {
        config.write16(QUEUE_MSIX_VECTOR, vector);
        if config.read16(QUEUE_MSIX_VECTOR) != vector {
            return Err(TransportError::VectorRefused(vector));
        }
    }
    config.write64(QUEUE_DESC, queue.descriptors);
    config.write64(QUEUE_DRIVER, queue.driver_area);
    config.write64(QUEUE_DEVICE, queue.device_area);
    let notify_off = config.read16(QUEUE_NOTIFY_OFF);
    config.write16(QUEUE_ENABLE, 1);
    Ok(notify_off)
}

/// Sets the configuration-change MSI-X vector.
///
/// # Errors
/// [`TransportError::VectorRefused`] if the device does not take it.
pub fn set_config_vector(
    config: &mut impl CommonConfig,
    vector: u16,
) -> Result<(), TransportError> {
    config.write16(CONFIG_MSIX_VECTOR, vector);
    if vector != NO_VECTOR && config.read16(CONFIG_MSIX_VECTOR) != vector {
        return Err(TransportError::VectorRefused(vector));
    }
    Ok(())
}

/// The last step: `DRIVER_OK`; then checks the device did not ask for a reset.
///
/// # Errors
/// [`TransportError::NeedsReset`].
pub fn finish(config: &mut impl CommonConfig) -> Result<(), TransportError> {
    add_status(config, STATUS_DRIVER_OK);
    check(config)
}

/// Checks the device is still working (after a configuration-change interrupt, or before
/// trusting a stream's completion).
///
/// # Errors
/// [`TransportError::Removed`] if the status reads all ones (the function is gone),
/// [`TransportError::NeedsReset`] if the device set `DEVICE_NEEDS_RESET`.
pub fn check(config: &mut impl CommonConfig) -> Result<(), TransportError> {
    match config.read8(DEVICE_STATUS) {
        0xFF => Err(TransportError::Removed),
        status if status & STATUS_DEVICE_NEEDS_RESET != 0 => Err(TransportError::NeedsReset),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A device's common configuration as a register file, with the behaviours the
    /// initialization depends on and knobs to misbehave.
    struct Registers {
        offered: u64,
        accepted: u64,
        feature_select: u32,
        driver_select: u32,
        status: u8,
        queues: u16,
        selected: u16,
        sizes: [u16; 4],
        vectors: [u16; 4],
        addresses: [[u64; 3]; 4],
        enabled: [bool; 4],
        /// Reads of the status that still show the old value after a reset.
        reset_delay: u32,
        refuse_features: bool,
        max_vector: u16,
        writes: Vec<(usize, u64)>,
    }

    impl Registers {
        fn new() -> Self {
            Self {
                offered: F_VERSION_1 | F_ACCESS_PLATFORM | 1 << 28 | 1,
                accepted: 0,
                feature_select: 0,
                driver_select: 0,
                status: 0x0F,
                queues: 4,
                selected: 0,
                sizes: [64, 64, 256, 256],
                vectors: [NO_VECTOR; 4],
                addresses: [[0; 3]; 4],
                enabled: [false; 4],
                reset_delay: 0,
                refuse_features: false,
                max_vector: 2,
                writes: Vec::new(),
            }
        }

        fn queue(&self) -> usize {
            usize::from(self.selected)
        }
    }

    impl CommonConfig for Registers {
        fn read8(&mut self, offset: usize) -> u8 {
            assert_eq!(offset, DEVICE_STATUS);
            if self.reset_delay > 0 {
                self.reset_delay -= 1;
                return 1;
            }
            self.status
        }
        fn read16(&mut self, offset: usize) -> u16 {
            match offset {
                NUM_QUEUES => self.queues,
                QUEUE_SIZE => self.sizes[self.queue()],
                QUEUE_MSIX_VECTOR => self.vectors[self.queue()],
                QUEUE_NOTIFY_OFF => self.selected * 2,
                other => panic!("read16 {other:#x}"),
            }
        }
        fn read32(&mut self, offset: usize) -> u32 {
            assert_eq!(offset, DEVICE_FEATURE);
            split(self.offered)[usize::try_from(self.feature_select).unwrap()]
        }
        fn write8(&mut self, offset: usize, value: u8) {
            assert_eq!(offset, DEVICE_STATUS);
            self.writes.push((offset, value.into()));
            self.status = if value & STATUS_FEATURES_OK != 0 && self.refuse_features {
                value & !STATUS_FEATURES_OK
            } else {
                value
            };
        }
        fn write16(&mut self, offset: usize, value: u16) {
            self.writes.push((offset, value.into()));
            let queue = self.queue();
            match offset {
                QUEUE_SELECT => self.selected = value,
                QUEUE_SIZE => self.sizes[queue] = value,
                QUEUE_MSIX_VECTOR => {
                    self.vectors[queue] = if value <= self.max_vector {
                        value
                    } else {
                        NO_VECTOR
                    };
                }
                QUEUE_ENABLE => self.enabled[queue] = value == 1,
                other => panic!("write16 {other:#x}"),
            }
        }
        fn write32(&mut self, offset: usize, value: u32) {
            self.writes.push((offset, value.into()));
            let queue = self.queue();
            match offset {
                DEVICE_FEATURE_SELECT => self.feature_select = value,
                DRIVER_FEATURE_SELECT => self.driver_select = value,
                DRIVER_FEATURE => {
                    let shift = 32 * self.driver_select;
                    self.accepted =
                        self.accepted & !(0xFFFF_FFFF << shift) | u64::from(value) << shift;
                }
                QUEUE_DESC..=0x37 => {
                    let field = (offset - QUEUE_DESC) / 8;
                    let shift = if (offset - QUEUE_DESC).is_multiple_of(8) {
                        0
                    } else {
                        32
                    };
                    let old = self.addresses[queue][field];
                    self.addresses[queue][field] =
                        old & !(0xFFFF_FFFF << shift) | u64::from(value) << shift;
                }
                other => panic!("write32 {other:#x}"),
            }
        }
    }

    #[test]
    fn a_conforming_device_is_initialized_in_the_spec_order() {
        let mut device = Registers::new();
        device.reset_delay = 5;
        assert_eq!(begin(&mut device, 4), Ok(F_VERSION_1 | F_ACCESS_PLATFORM));
        assert_eq!(device.accepted, F_VERSION_1 | F_ACCESS_PLATFORM);
        let statuses: Vec<u64> = device
            .writes
            .iter()
            .filter(|(offset, _)| *offset == DEVICE_STATUS)
            .map(|&(_, value)| value)
            .collect();
        assert_eq!(statuses, [0, 1, 3, 11]);
        assert_eq!(queue_max(&mut device, 2), Ok(256));
        let queue = QueueAddresses {
            size: 64,
            descriptors: 0x1_0000_2000,
            driver_area: 0x1_0000_2400,
            device_area: 0x1_0000_2488,
        };
        assert_eq!(enable_queue(&mut device, 2, queue, 1), Ok(4));
        assert_eq!(device.sizes[2], 64);
        assert_eq!(device.vectors[2], 1);
        assert_eq!(
            device.addresses[2],
            [0x1_0000_2000, 0x1_0000_2400, 0x1_0000_2488]
        );
        assert!(device.enabled[2]);
        assert_eq!(finish(&mut device), Ok(()));
        assert_eq!(device.status, 15);
    }

    #[test]
    fn devices_that_cannot_be_driven_are_refused_with_a_status() {
        let mut legacy = Registers::new();
        legacy.offered = 1 << 28;
        assert_eq!(
            begin(&mut legacy, 4),
            Err(TransportError::NoVersion1 { offered: 1 << 28 })
        );
        assert_eq!(
            TransportError::NoVersion1 { offered: 0 }.status(),
            STATUS_NOT_SUPPORTED
        );

        let mut stuck = Registers::new();
        stuck.reset_delay = RESET_POLLS + 1;
        assert_eq!(begin(&mut stuck, 4), Err(TransportError::ResetTimeout));

        let mut picky = Registers::new();
        picky.refuse_features = true;
        assert_eq!(begin(&mut picky, 4), Err(TransportError::FeaturesRefused));
        assert!(fail(&mut picky));
        assert_eq!(
            picky.writes.iter().rev().nth(1),
            Some(&(DEVICE_STATUS, 0x83))
        );
        assert_eq!(picky.status, 0);

        let mut small = Registers::new();
        small.queues = 2;
        assert_eq!(
            begin(&mut small, 4),
            Err(TransportError::TooFewQueues { found: 2 })
        );

        let mut device = Registers::new();
        device.sizes[3] = 0;
        assert_eq!(
            queue_max(&mut device, 3),
            Err(TransportError::MissingQueue(3))
        );
        let queue = QueueAddresses {
            size: 8,
            descriptors: 0,
            driver_area: 0,
            device_area: 0,
        };
        assert_eq!(
            enable_queue(&mut device, 0, queue, 3),
            Err(TransportError::VectorRefused(3))
        );
        assert!(!device.enabled[0]);
        assert_eq!(enable_queue(&mut device, 0, queue, NO_VECTOR), Ok(0));

        device.status |= STATUS_DEVICE_NEEDS_RESET;
        assert_eq!(check(&mut device), Err(TransportError::NeedsReset));
        device.status = 0xFF;
        assert_eq!(check(&mut device), Err(TransportError::Removed));
        assert_eq!(
            TransportError::Removed.status(),
            portcls_sys::STATUS_DEVICE_REMOVED
        );
    }

    #[test]
    fn negotiation_keeps_only_what_both_sides_support() {
        assert_eq!(negotiate(u64::MAX), Ok(DRIVER_FEATURES));
        assert_eq!(negotiate(F_VERSION_1), Ok(F_VERSION_1));
        assert!(negotiate(F_ACCESS_PLATFORM).is_err());
    }
}
