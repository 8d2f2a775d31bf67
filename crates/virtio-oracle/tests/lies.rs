//! A device that lies (the oracle, with the VMM rewriting what it reported) or fails: every
//! lie becomes a clean error of the driver's device layer, nothing it wrote makes the driver
//! touch memory outside its buffers, and a stop afterwards leaves nothing behind.
#![cfg(target_os = "linux")]

mod common;

use common::{Function, MSIX_VECTORS, Memory, bar_lengths, function, never_wait, pieces_of, start};
use portcls_sys::{
    STATUS_DEVICE_PROTOCOL_ERROR, STATUS_DEVICE_REMOVED, STATUS_IO_DEVICE_ERROR,
    STATUS_NOT_SUPPORTED,
};
use virtio_oracle::liar::{Liar, Lie};
use virtio_oracle::{Block, Oracle};
use wavert_sample::backend::virtio::device::{
    Completion, DeviceError, Report, SoundDevice, StartStep,
};
use wavert_sample::backend::virtio::ring::{PostError, RingFault};
use wavert_sample::backend::virtio::sound::{self, ReplyError};
use wavert_sample::backend::virtio::transport::TransportError;

fn liar() -> (Function<Liar>, Memory, SoundDevice) {
    start(Liar::new(Oracle::new()), MSIX_VECTORS)
}

fn stop_cleanly(function: &mut Function<Liar>, mut memory: Memory, device: SoundDevice) {
    function.0.device().lie(Lie::None);
    assert!(device.stop(function, &mut memory, |_, _| {}));
    assert_eq!(memory.live, []);
    assert_eq!(function.0.breaches(), [] as [String; 0]);
}

#[test]
fn control_statuses_the_device_lies_about_fail_the_request_not_the_queue() {
    let (mut function, memory, mut device) = liar();
    let cases = [
        (sound::S_IO_ERR, ReplyError::IoError, STATUS_IO_DEVICE_ERROR),
        (
            sound::S_NOT_SUPP,
            ReplyError::NotSupported,
            STATUS_NOT_SUPPORTED,
        ),
        (
            sound::S_BAD_MSG,
            ReplyError::BadMessage,
            STATUS_DEVICE_PROTOCOL_ERROR,
        ),
        (
            0x1234,
            ReplyError::UnknownStatus(0x1234),
            STATUS_DEVICE_PROTOCOL_ERROR,
        ),
    ];
    for (code, error, status) in cases {
        function.0.device().lie(Lie::Status {
            queue: sound::CONTROL_QUEUE,
            code,
        });
        let result = device.pcm(&mut function, sound::R_PCM_PREPARE, 0, &mut never_wait);
        assert_eq!(result, Err(DeviceError::Reply(error)), "{code:#x}");
        assert_eq!(DeviceError::Reply(error).status(), status);
        function.0.device().lie(Lie::None);
        device
            .pcm(&mut function, sound::R_PCM_PREPARE, 0, &mut never_wait)
            .expect("the truth again");
    }
    stop_cleanly(&mut function, memory, device);
}

#[test]
fn a_query_that_fails_fails_the_start_and_leaves_nothing() {
    for lie in [
        Lie::Status {
            queue: sound::CONTROL_QUEUE,
            code: sound::S_IO_ERR,
        },
        Lie::UsedLength {
            queue: sound::CONTROL_QUEUE,
            len: 3,
        },
        Lie::UsedLength {
            queue: sound::CONTROL_QUEUE,
            len: 4 + 32,
        },
        Lie::UsedId {
            queue: sound::CONTROL_QUEUE,
            id: 9,
        },
    ] {
        let mut device = Liar::new(Oracle::new());
        device.lie(lie);
        let (mut function, mut memory) = function(device, MSIX_VECTORS);
        let space = function.0.config_space();
        let result = SoundDevice::start(
            &mut function,
            &mut memory,
            &space,
            &bar_lengths(),
            MSIX_VECTORS,
            &mut never_wait,
        );
        assert!(
            matches!(result, Err(StartStep::Query(_))),
            "{lie:?}: {:?}",
            result.map(|_| ())
        );
        assert_eq!(memory.live, [], "{lie:?}");
        assert_eq!(function.0.status(), 0, "{lie:?}: reset");
        assert_eq!(function.0.breaches(), [] as [String; 0]);
    }
}

/// Starts stream 0 and returns a buffer of four 3840-byte periods in device memory.
fn playing(function: &mut Function<Liar>, device: &mut SoundDevice) -> Block {
    let params = sound::Params {
        stream: 0,
        buffer_bytes: 4 * 3840,
        period_bytes: 3840,
        channels: 2,
        format: sound::FMT_S16,
        rate: sound::RATE_48000,
    };
    device
        .set_params(function, &params, &mut never_wait)
        .expect("SET_PARAMS");
    device
        .pcm(function, sound::R_PCM_PREPARE, 0, &mut never_wait)
        .expect("PREPARE");
    device
        .pcm(function, sound::R_PCM_START, 0, &mut never_wait)
        .expect("START");
    function.0.device().oracle().alloc(4 * 3840, 4096)
}

fn one_period(
    function: &mut Function<Liar>,
    device: &mut SoundDevice,
    buffer: &Block,
) -> Result<Vec<Report>, DeviceError> {
    device.post_period(function, 0, &pieces_of(buffer, 0, 3840), 7)?;
    let mut reports = Vec::new();
    device.completions(function, |report| reports.push(report))?;
    Ok(reports)
}

#[test]
fn period_statuses_and_short_lengths_fail_the_period() {
    let (mut function, memory, mut device) = liar();
    let buffer = playing(&mut function, &mut device);
    let tx = sound::TX_QUEUE;
    for (lie, error) in [
        (
            Lie::Status {
                queue: tx,
                code: sound::S_IO_ERR,
            },
            ReplyError::IoError,
        ),
        (
            Lie::Status {
                queue: tx,
                code: sound::S_OK + 7,
            },
            ReplyError::UnknownStatus(sound::S_OK + 7),
        ),
        (
            Lie::UsedLength { queue: tx, len: 4 },
            ReplyError::Short {
                needed: 8,
                written: 4,
            },
        ),
        (
            Lie::UsedLength { queue: tx, len: 0 },
            ReplyError::Short {
                needed: 8,
                written: 0,
            },
        ),
    ] {
        function.0.device().lie(lie);
        let reports =
            one_period(&mut function, &mut device, &buffer).expect("the queue still works");
        assert_eq!(
            reports,
            [Report::Period(Completion {
                stream: 0,
                token: 7,
                result: Err(error)
            })],
            "{lie:?}"
        );
    }
    function.0.device().lie(Lie::None);
    let reports = one_period(&mut function, &mut device, &buffer).expect("the truth");
    assert!(matches!(
        reports[..],
        [Report::Period(Completion { result: Ok(_), .. })]
    ));
    stop_cleanly(&mut function, memory, device);
}

#[test]
fn used_entries_no_device_writes_fault_the_queue_until_the_device_is_stopped() {
    let tx = sound::TX_QUEUE;
    for (lie, fault) in [
        (
            Lie::UsedLength { queue: tx, len: 9 },
            RingFault::LengthBeyondChain {
                id: 0,
                written: 9,
                capacity: 8,
            },
        ),
        (
            Lie::UsedLength {
                queue: tx,
                len: u32::MAX,
            },
            RingFault::LengthBeyondChain {
                id: 0,
                written: u32::MAX,
                capacity: 8,
            },
        ),
        (
            Lie::UsedId { queue: tx, id: 63 },
            RingFault::UnknownHead { id: 63 },
        ),
        (
            Lie::UsedId {
                queue: tx,
                id: 1 << 20,
            },
            RingFault::UnknownHead { id: 1 << 20 },
        ),
        (
            Lie::UsedIndexAhead { queue: tx },
            RingFault::UsedIndexAhead {
                index: 2,
                in_flight: 1,
            },
        ),
    ] {
        let (mut function, memory, mut device) = liar();
        let buffer = playing(&mut function, &mut device);
        function.0.device().lie(lie);
        assert_eq!(
            one_period(&mut function, &mut device, &buffer),
            Err(DeviceError::Ring(fault)),
            "{lie:?}"
        );
        assert_eq!(
            DeviceError::Ring(fault).status(),
            STATUS_DEVICE_PROTOCOL_ERROR
        );
        // The queue stays faulted: nothing more goes to the device until it is reset.
        function.0.device().lie(Lie::None);
        assert_eq!(
            device.post_period(&mut function, 0, &pieces_of(&buffer, 0, 3840), 8),
            Err(DeviceError::Post(PostError::Faulted(fault))),
        );
        stop_cleanly(&mut function, memory, device);
    }
}

#[test]
fn a_device_that_needs_a_reset_says_so_and_stops_cleanly() {
    let (mut function, memory, device) = liar();
    function.0.fail_device();
    assert_eq!(device.check(&mut function), Err(TransportError::NeedsReset));
    stop_cleanly(&mut function, memory, device);
}

#[test]
fn a_surprise_removed_device_times_out_is_reported_gone_and_its_memory_is_still_freed() {
    let (mut function, mut memory, mut device) = liar();
    function.0.surprise_remove();
    let mut waits = 0;
    let result = device.pcm(&mut function, sound::R_PCM_PREPARE, 0, &mut || {
        waits += 1;
        waits < 3
    });
    assert_eq!(result, Err(DeviceError::Timeout));
    assert_eq!(waits, 3);
    assert_eq!(device.check(&mut function), Err(TransportError::Removed));
    assert_eq!(TransportError::Removed.status(), STATUS_DEVICE_REMOVED);
    // The reset never completes on a device that is gone; the blocks are freed anyway.
    assert!(!device.stop(&mut function, &mut memory, |_, _| {}));
    assert_eq!(memory.live, []);
}
