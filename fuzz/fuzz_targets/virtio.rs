//! What a virtio-sound device writes and the driver reads: its used rings, control replies,
//! period statuses, events and PCI configuration space. Whatever the bytes, nothing panics or
//! reads outside its buffer; a used entry the queue accepts names a chain in flight (once) and
//! a length the chain can hold; a faulted queue stays faulted and its drain hands back exactly
//! the chains still in flight; a reply that parses is self-consistent.
#![no_main]

use core::ptr::NonNull;

use libfuzzer_sys::fuzz_target;
use wavert_sample::backend::virtio::pci::{CONFIG_SPACE_BYTES, Structures};
use wavert_sample::backend::virtio::ring::{Buffer, Layout, SplitQueue};
use wavert_sample::backend::virtio::sound;
use wavert_sample::format::{DataRange, Format, SampleFormat};
use wavert_sample::properties::{Jack, PinConfig};

/// The chains posted before the "device" writes: (chain, bytes it may write).
const CHAINS: [(&[Buffer], u32); 3] = [
    (&[Buffer::writable(0x1000, 4)], 4),
    (
        &[Buffer::readable(0x2000, 8), Buffer::writable(0x3000, 8)],
        8,
    ),
    (
        &[
            Buffer::readable(0x4000, 4),
            Buffer::readable(0x5000, 64),
            Buffer::writable(0x6000, 8),
        ],
        8,
    ),
];

fn used_ring(device_writes: &[u8]) {
    let layout = Layout::new(8).unwrap();
    // 16-aligned backing memory standing in for the common buffer.
    let mut block = vec![0_u128; layout.bytes.div_ceil(16)];
    let base = NonNull::new(block.as_mut_ptr().cast::<u8>()).unwrap();
    // SAFETY: `block` is 16-aligned, at least `layout.bytes` long, outlives the queue and is
    // only touched through the queue and the raw writes below.
    let mut queue = unsafe { SplitQueue::new(base, 0x10_0000, layout) };
    let mut in_flight: Vec<(u32, u32)> = Vec::new();
    for (token, (chain, capacity)) in (0_u32..).zip(CHAINS) {
        queue.post(chain, token).unwrap();
        in_flight.push((token, capacity));
    }
    // The device writes whatever it likes over the used ring (flags, idx, entries).
    for (i, byte) in device_writes
        .iter()
        .take(layout.bytes - layout.used)
        .enumerate()
    {
        // SAFETY: `layout.used + i` is inside the block.
        unsafe { base.as_ptr().add(layout.used + i).write_volatile(*byte) };
    }
    let mut fault = None;
    for _ in 0..16 {
        match queue.take_used() {
            Ok(None) => break,
            Ok(Some(used)) => {
                assert!(fault.is_none());
                let at = in_flight
                    .iter()
                    .position(|&(token, _)| token == used.token)
                    .unwrap();
                let (_, capacity) = in_flight.swap_remove(at);
                assert!(used.written <= capacity);
            }
            Err(error) => {
                if let Some(previous) = fault {
                    assert_eq!(previous, error);
                }
                fault = Some(error);
                assert!(queue.post(CHAINS[0].0, 99).is_err());
            }
        }
    }
    assert_eq!(usize::from(queue.in_flight()), in_flight.len());
    let mut dropped = Vec::new();
    queue.drain(|token| dropped.push(token));
    dropped.sort_unstable();
    let mut expected: Vec<u32> = in_flight.iter().map(|&(token, _)| token).collect();
    expected.sort_unstable();
    assert_eq!(dropped, expected);
    drop(queue);
    drop(block);
}

fuzz_target!(|data: &[u8]| {
    let [selector, a, b, rest @ ..] = data else {
        return;
    };
    let written = u32::from_le_bytes([*a, *b, 0, 0]);
    match selector % 5 {
        0 => used_ring(rest),
        1 => {
            let count = u32::from(*a % 12);
            let mut calls = 0;
            let parsed = sound::parse_pcm_infos(rest, u32::from(*b) * 4, 3, count, |id, info| {
                assert!((3..3 + count).contains(&id));
                assert!(info.channels_min > 0 && info.channels_max >= info.channels_min);
                assert!(matches!(info.direction, sound::D_OUTPUT | sound::D_INPUT));
                calls += 1;
            });
            assert_eq!(calls, if parsed.is_ok() { count } else { 0 });
        }
        2 => {
            if let Ok(info) = sound::PcmInfo::parse(rest) {
                for sample in SampleFormat::ALL {
                    for rate in [44_100, 48_000] {
                        let format = Format::new(sample, 2, rate).unwrap();
                        let _ = info.supports(&format);
                    }
                }
                // What the endpoint streams is inside what the driver streams and the stream
                // supports.
                if let Some(range) = info.data_range() {
                    for format in range.candidates() {
                        assert!(DataRange::DEVICE.contains(&format) && info.supports(&format));
                    }
                }
            }
            if let Ok(map) = sound::ChmapInfo::parse(rest) {
                assert!((1..=18).contains(&map.channels));
                let _ = map.is_front_stereo();
            }
            // Any jack record the device writes becomes a description KS accepts.
            if let Ok(jack) = sound::JackInfo::parse(rest) {
                let config = PinConfig(jack.config);
                for capture in [false, true] {
                    let presence = jack.detects_presence().then_some(jack.connected);
                    let described = Jack::from_pin_config(config, capture, presence);
                    assert!((0..=11).contains(&described.connection_type));
                    assert!((1..=14).contains(&described.geo_location));
                    assert!((0..=3).contains(&described.gen_location));
                    assert!((0..=3).contains(&described.port_connection));
                    assert_eq!(described.color >> 24, 0);
                    assert!(!capture || described.channel_mapping == 0);
                    assert!(described.connected || described.detects_presence);
                }
            }
        }
        3 => {
            let mut fixed = [0_u8; 8];
            for (target, byte) in fixed.iter_mut().zip(rest) {
                *target = *byte;
            }
            let audio = u32::from_le_bytes([rest.get(8).copied().unwrap_or(0), *b, 0, 0]);
            if sound::parse_period(&fixed, written, audio).is_ok() {
                assert_eq!(u64::from(written), u64::from(audio) + 8);
            }
            let _ = sound::parse_event(&fixed, written);
            let _ = sound::parse_status(rest, written);
        }
        _ => {
            let mut space = [0_u8; CONFIG_SPACE_BYTES];
            for (target, byte) in space.iter_mut().zip(rest) {
                *target = *byte;
            }
            // Mostly a virtio-sound function, so the walk gets past the IDs.
            if *a % 4 != 0 {
                space[..4].copy_from_slice(&[0xF4, 0x1A, 0x59, 0x10]);
            }
            if let Ok(structures) = Structures::parse(&space, sound::PCI_DEVICE_ID) {
                let bars = [u64::from(written) << (*a % 24); 6];
                let _ = structures.locate(&bars, 0x38, 12);
                if let Ok(offset) = structures.notify_offset(u16::from(*b)) {
                    assert!(
                        u64::from(offset) + 2
                            <= u64::from(structures.notify.offset)
                                + u64::from(structures.notify.length)
                    );
                }
            }
        }
    }
});
