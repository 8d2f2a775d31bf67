//! The sample driver's virtio code (`wavert_sample::backend::virtio`) against `vhost-device-sound`: the
//! feature negotiation, split rings and sound protocol the driver implements, checked by a
//! device implementation nobody here wrote. Every request is built, every queue driven and every
//! reply parsed by the driver's own code; the device's refusals are failures unless a test asks
//! for one.
#![cfg(target_os = "linux")]

mod common;

use common::{Driver, params, vector};
use portcls_sim::virtio_pci::Interrupt;
use portcls_sys::STATUS_DEVICE_PROTOCOL_ERROR;
use wavert_sample::backend::virtio::ring::Buffer;
use wavert_sample::backend::virtio::sound::{self, ReplyError};
use wavert_sample::format::{Format, SampleFormat};

#[test]
fn the_device_reports_streams_the_driver_can_drive() {
    let mut driver = Driver::start();
    let config = driver.config();
    assert_eq!(config.chmaps, 1);
    assert_eq!((config.jacks, config.streams), (0, 2));
    let infos = driver
        .pcm_infos(config.streams_used())
        .expect("the streams' info");
    assert_eq!(infos.len(), 2);
    assert_eq!((infos[0].0, infos[0].1.direction), (0, sound::D_OUTPUT));
    assert_eq!((infos[1].0, infos[1].1.direction), (1, sound::D_INPUT));
    // What the driver's ranges would hold for this device: 16-bit and 24-in-32 (as S32) at
    // both rates; it has no float.
    for (_, info) in &infos {
        for sample in SampleFormat::ALL {
            for rate in [44_100, 48_000] {
                let format = Format::new(sample, 2, rate).unwrap();
                assert_eq!(
                    info.supports(&format),
                    sample != SampleFormat::Float32,
                    "{format:?}"
                );
            }
        }
    }
}

#[test]
fn a_playback_stream_lives_through_its_states_and_every_period_completes() {
    let mut driver = Driver::start();
    let format = Format::new(SampleFormat::Pcm16, 2, 48_000).unwrap();
    // 10 ms periods, four of them in the buffer (the WaveRT buffer's pages, in the driver).
    let period = format.bytes_per_frame() * 480;
    let buffer = driver
        .pci
        .device()
        .alloc(usize::try_from(period * 4).unwrap(), 4096);
    let headers = driver.pci.device().alloc(64, 64);
    let statuses = driver.pci.device().alloc(64, 64);
    driver
        .command(&params(0, format, period, 4))
        .expect("SET_PARAMS");
    driver
        .command(&sound::pcm_command(sound::R_PCM_PREPARE, 0))
        .expect("PREPARE");
    driver
        .command(&sound::pcm_command(sound::R_PCM_START, 0))
        .expect("START");
    driver.pci.device().write(headers.address, &sound::xfer(0));
    // 250 periods, two in flight at a time: the 64-entry rings wrap several times.
    let mut completed = 0_u32;
    for pair in 0..125_u32 {
        for slot in 0..2_u32 {
            let n = pair * 2 + slot;
            let chain = [
                Buffer::readable(headers.address, 4),
                Buffer::readable(buffer.address + u64::from(n % 4 * period), period),
                Buffer::writable(statuses.address + u64::from(slot * 8), 8),
            ];
            driver.queues[2].post(&chain, n).expect("a period");
        }
        driver.kick(sound::TX_QUEUE);
        let message = Interrupt::Message(vector(sound::TX_QUEUE));
        assert_eq!(driver.pci.take_interrupts(), [message, message]);
        for slot in 0..2_u32 {
            let used = driver.queues[2]
                .take_used()
                .expect("a conforming used ring")
                .expect("a completion");
            assert_eq!(used.token, pair * 2 + slot, "in order");
            let mut status = [0; sound::PCM_STATUS_BYTES];
            driver
                .pci
                .device()
                .read(statuses.address + u64::from(slot * 8), &mut status);
            sound::parse_period(&status, used.written, 0).expect("a played period");
            completed += 1;
        }
        assert_eq!(driver.queues[2].take_used(), Ok(None));
    }
    assert_eq!(completed, 250);
    driver
        .command(&sound::pcm_command(sound::R_PCM_STOP, 0))
        .expect("STOP");
    driver
        .command(&sound::pcm_command(sound::R_PCM_RELEASE, 0))
        .expect("RELEASE");
}

#[test]
fn requests_the_device_refuses_come_back_as_statuses() {
    let mut driver = Driver::start();
    // More streams than the device has.
    assert_eq!(driver.pcm_infos(3), Err(ReplyError::BadMessage));
    let format = Format::new(SampleFormat::Pcm16, 2, 48_000).unwrap();
    assert_eq!(
        driver.command(&params(7, format, 1920, 4)),
        Err(ReplyError::BadMessage)
    );
    for code in [
        sound::R_PCM_PREPARE,
        sound::R_PCM_START,
        sound::R_PCM_STOP,
        sound::R_PCM_RELEASE,
    ] {
        assert_eq!(
            driver.command(&sound::pcm_command(code, 7)),
            Err(ReplyError::BadMessage)
        );
    }
    assert_eq!(
        ReplyError::BadMessage.status(),
        STATUS_DEVICE_PROTOCOL_ERROR
    );
    // The queue still works: the refusals were replies, not faults.
    driver.pcm_infos(2).expect("the streams' info");
}

#[test]
fn a_capture_period_the_device_keeps_is_handed_back_when_the_queue_is_drained() {
    let mut driver = Driver::start();
    let format = Format::new(SampleFormat::Pcm16, 2, 48_000).unwrap();
    let period = format.bytes_per_frame() * 480;
    driver
        .command(&params(1, format, period, 4))
        .expect("SET_PARAMS");
    driver
        .command(&sound::pcm_command(sound::R_PCM_PREPARE, 1))
        .expect("PREPARE");
    driver
        .command(&sound::pcm_command(sound::R_PCM_START, 1))
        .expect("START");
    let header = driver.pci.device().alloc(4, 64);
    let audio = driver
        .pci
        .device()
        .alloc(usize::try_from(period).unwrap(), 4096);
    let status = driver.pci.device().alloc(8, 64);
    driver.pci.device().write(header.address, &sound::xfer(1));
    let chain = [
        Buffer::readable(header.address, 4),
        Buffer::writable(audio.address, period),
        Buffer::writable(status.address, 8),
    ];
    driver.queues[3].post(&chain, 41).expect("a period");
    driver.queues[3].post(&chain, 42).expect("a period");
    driver.kick(sound::RX_QUEUE);
    assert_eq!(driver.pci.take_interrupts(), []);
    // The null backend records nothing: it holds the periods, which is not a fault.
    assert_eq!(driver.queues[3].take_used(), Ok(None));
    assert_eq!(driver.queues[3].in_flight(), 2);
    // Stopping the device: reset it first (it lets go of the driver's memory), then forget
    // the chains, whatever the device did with them while it reset.
    wavert_sample::backend::virtio::transport::reset(&mut driver.common()).expect("a reset");
    // The start's reset, and this one.
    assert_eq!(driver.pci.resets(), 2);
    let mut dropped = Vec::new();
    driver.queues[3].drain(|token| dropped.push(token));
    dropped.sort_unstable();
    assert_eq!(dropped, [41, 42]);
}

#[test]
fn the_driver_kept_every_transport_rule() {
    let mut driver = Driver::start();
    driver.pcm_infos(2).expect("the streams' info");
    driver.assert_conforming();
}
