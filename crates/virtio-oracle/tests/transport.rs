//! The model's virtio PCI transport keeps the driver to the spec: each thing a driver must not
//! do is a breach the model lists, and the interrupts come as MSI-X messages on the vectors the
//! driver programmed, or as the line interrupt with the ISR status when MSI-X is off.
#![cfg(target_os = "linux")]

mod common;

use common::{CONFIG_VECTOR, Common, Driver};
use portcls_sim::virtio_pci::{self, Interrupt, VirtioPci};
use virtio_oracle::Oracle;
use wavert_sample::backend::virtio::sound;
use wavert_sample::backend::virtio::transport::{
    self, CommonConfig, DEVICE_STATUS, DRIVER_FEATURE, DRIVER_FEATURE_SELECT, QUEUE_SIZE,
    STATUS_ACKNOWLEDGE, STATUS_DRIVER, STATUS_DRIVER_OK, STATUS_FEATURES_OK, TransportError,
};

/// A function the driver has not touched, and a way to reach its common configuration.
fn function() -> VirtioPci<Oracle> {
    let mut pci = VirtioPci::new(Oracle::new());
    pci.set_msix_enabled(true);
    pci
}

fn common(pci: &mut VirtioPci<Oracle>) -> Common<'_> {
    Common {
        pci,
        base: virtio_pci::COMMON_OFFSET,
    }
}

fn breach_containing(pci: &VirtioPci<Oracle>, text: &str) {
    assert!(
        pci.breaches().iter().any(|breach| breach.contains(text)),
        "no breach mentions {text:?}: {:?}",
        pci.breaches()
    );
}

#[test]
fn registers_accessed_with_the_wrong_width_are_breaches() {
    let mut pci = function();
    let _ = pci.read(virtio_pci::COMMON_OFFSET + 0x14, 4);
    breach_containing(&pci, "0x14 read with 4 bytes, not 1");
    pci.write(virtio_pci::COMMON_OFFSET + 0x12, 2, 9);
    breach_containing(&pci, "read-only");
    pci.write(0x0800, 4, 0);
    breach_containing(&pci, "no writable register");
}

#[test]
fn the_status_handshake_is_enforced() {
    let mut pci = function();
    let mut config = common(&mut pci);
    config.write8(DEVICE_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    config.write8(DEVICE_STATUS, STATUS_ACKNOWLEDGE);
    breach_containing(&pci, "a bit cleared without a reset");

    let mut pci = function();
    let mut config = common(&mut pci);
    config.write8(
        DEVICE_STATUS,
        STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK,
    );
    breach_containing(&pci, "DRIVER_OK without FEATURES_OK");

    // Features the device never offered: FEATURES_OK does not stick.
    let mut pci = function();
    let mut config = common(&mut pci);
    config.write8(DEVICE_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    config.write32(DRIVER_FEATURE_SELECT, 1);
    config.write32(DRIVER_FEATURE, 1 | 1 << 8);
    config.write8(
        DEVICE_STATUS,
        STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK,
    );
    assert_eq!(config.read8(DEVICE_STATUS) & STATUS_FEATURES_OK, 0);
    breach_containing(&pci, "never offered");

    // A driver that does not accept VERSION_1 is refused without a breach (the device may).
    let mut pci = function();
    let mut config = common(&mut pci);
    config.write8(DEVICE_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    config.write8(
        DEVICE_STATUS,
        STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK,
    );
    assert_eq!(config.read8(DEVICE_STATUS) & STATUS_FEATURES_OK, 0);
    assert_eq!(pci.breaches(), [] as [String; 0]);
}

#[test]
fn queues_and_notifications_follow_the_rules() {
    let mut driver = Driver::start();
    driver.assert_conforming();
    // A queue changed after it was enabled.
    let mut config = driver.common();
    config.write16(transport::QUEUE_SELECT, sound::TX_QUEUE);
    config.write16(QUEUE_SIZE, 8);
    breach_containing(&driver.pci, "written after the queue was enabled");
    // A notification of the wrong width, or of another queue's index.
    let tx = driver.notify[usize::from(sound::TX_QUEUE)];
    driver.pci.write(tx, 4, u64::from(sound::TX_QUEUE));
    driver.pci.write(tx, 2, 0);
    assert_eq!(driver.pci.breaches().len(), 3);
    breach_containing(&driver.pci, "notification of 4 bytes");

    // Before DRIVER_OK, and of a queue that is not enabled.
    let mut pci = function();
    pci.write(virtio_pci::NOTIFY_OFFSET, 2, 0);
    breach_containing(&pci, "before DRIVER_OK");
    let mut pci = function();
    let mut config = common(&mut pci);
    transport::begin(&mut config, sound::QUEUES).expect("initialization");
    transport::finish(&mut config).expect("DRIVER_OK");
    pci.write(virtio_pci::NOTIFY_OFFSET + 8, 2, 2);
    breach_containing(&pci, "queue 2 notified but not enabled");
}

#[test]
fn without_msix_the_device_raises_the_line_and_the_isr_says_why() {
    let mut pci = VirtioPci::new(Oracle::new());
    let mut config = common(&mut pci);
    transport::begin(&mut config, sound::QUEUES).expect("initialization");
    transport::finish(&mut config).expect("DRIVER_OK");
    pci.fail_device();
    assert_eq!(pci.take_interrupts(), [Interrupt::Line]);
    // Configuration change, read to clear.
    assert_eq!(pci.read(virtio_pci::ISR_OFFSET, 1), 2);
    assert_eq!(pci.read(virtio_pci::ISR_OFFSET, 1), 0);
}

#[test]
fn a_failed_device_asks_for_a_reset_and_the_reset_forgets_its_queues() {
    let mut driver = Driver::start();
    driver.pci.fail_device();
    assert_eq!(
        driver.pci.take_interrupts(),
        [Interrupt::Message(CONFIG_VECTOR)]
    );
    assert_eq!(
        transport::check(&mut driver.common()),
        Err(TransportError::NeedsReset)
    );
    assert!(transport::fail(&mut driver.common()));
    assert_eq!(driver.pci.status(), 0);
    for index in 0..sound::QUEUES {
        assert!(!driver.pci.queue_enabled(index));
    }
    driver.assert_conforming();
}
