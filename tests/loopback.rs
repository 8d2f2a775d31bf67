//! The virtual device is a loopback cable: what the model's client writes into the render
//! buffer is what it reads back from the capture buffer, bit for bit, 20 ms later on the
//! device's timeline, under every OS profile, on the host build and the image.
//!
//! The device's timeline is the performance counter's: device frame `floor(counter x rate /
//! frequency)`. A stream that enters RUN at counter `t` (from STOP, position 0) plays or records
//! its linear frame `k` at device frame `k + floor(t x rate / frequency)`, so the test knows from
//! the instants it chose exactly which render frame each capture frame must hold.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)] // frame counts and sample values of a few seconds of audio

mod common;

use common::{bring_up, format_bytes, loadable_profiles};
use portcls_sim::{Device, Sim, Stream};
use portcls_sys::STATUS_SUCCESS;
use wavert_sample::cable::{LATENCY_MS, convert, latency_frames};
use wavert_sample::descriptors::{CAPTURE_WAVE_HOST_PIN, RENDER_WAVE_HOST_PIN};
use wavert_sample::format::{Format, SampleFormat};
use wavert_sample::identity::{CAPTURE_WAVE, RENDER_WAVE};

const STOP: u32 = 0;
const RUN: u32 = 3;
/// One millisecond in the model's 100 ns units (the counter's frequency is 10 MHz).
const MS: u64 = 10_000;
const COUNTER_FREQUENCY: u128 = 10_000_000;

fn open(sim: &Sim, device: &Device, capture: bool, format: Format) -> Stream {
    let (name, pin) = if capture {
        (CAPTURE_WAVE.name, CAPTURE_WAVE_HOST_PIN)
    } else {
        (RENDER_WAVE.name, RENDER_WAVE_HOST_PIN)
    };
    sim.open_stream(device.fdo, name, pin, &format_bytes(format))
        .unwrap()
}

/// The device frame at model time `now`.
fn device_frame(now: u64, rate: u32) -> i64 {
    i64::try_from(u128::from(now) * u128::from(rate) / COUNTER_FREQUENCY).unwrap()
}

/// `frames` frames of `format` whose bytes are all different from frame to frame (a simple
/// generator; every byte pattern is fine, nothing interprets them but the cable's copy).
fn pattern(format: Format, frames: u32, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..frames * format.bytes_per_frame())
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[1]
        })
        .collect()
}

/// Samples of `format` that are valid numbers (for conversions): a ramp over the full scale.
fn ramp(format: Format, frames: u32) -> Vec<u8> {
    let samples = frames * u32::from(format.channels());
    let mut out = Vec::new();
    for i in 0..samples {
        let x = f64::from(i % 997) / 498.5 - 1.0; // -1.0 ..= 1.0
        match format.sample() {
            SampleFormat::Pcm16 => {
                out.extend_from_slice(&((x * 32_767.0) as i16).to_le_bytes());
            }
            SampleFormat::Pcm24In32 => {
                out.extend_from_slice(&(((x * 8_388_607.0) as i32) << 8).to_le_bytes());
            }
            SampleFormat::Float32 => out.extend_from_slice(&(x as f32).to_le_bytes()),
        }
    }
    out
}

/// A render stream and a capture stream running from chosen instants: render enters RUN at
/// 7 ms, capture at 20 ms, and both run to 170 ms. The render buffer (100 ms, two
/// notifications) holds `played`; the capture buffer is 300 ms, so nothing it recorded is
/// overwritten. Returns the capture buffer and the two RUN instants.
fn loop_through(
    sim: &Sim,
    device: &Device,
    render_format: Format,
    capture_format: Format,
    played: &[u8],
) -> (Vec<u8>, u64, u64) {
    let mut render = open(sim, device, false, render_format);
    let mut capture = open(sim, device, true, capture_format);
    let render_bytes = render_format.rate() / 10 * render_format.bytes_per_frame();
    assert_eq!(
        render.allocate_buffer(2, render_bytes).unwrap().size,
        render_bytes
    );
    let capture_bytes = capture_format.rate() / 10 * 3 * capture_format.bytes_per_frame();
    assert_eq!(
        capture.allocate_buffer(2, capture_bytes).unwrap().size,
        capture_bytes
    );
    render.write_buffer(0, played);
    sim.advance(7 * MS);
    let render_start = sim.now();
    assert_eq!(render.walk_to(RUN), STATUS_SUCCESS);
    sim.advance(13 * MS);
    let capture_start = sim.now();
    assert_eq!(capture.walk_to(RUN), STATUS_SUCCESS);
    sim.advance(150 * MS);
    let recorded = capture.read_buffer();
    for stream in [&mut render, &mut capture] {
        assert_eq!(stream.walk_to(STOP), STATUS_SUCCESS);
    }
    render.close();
    capture.close();
    (recorded, render_start, capture_start)
}

/// For each capture frame, the render frame it must hold (`None`: before the speakers
/// started, so silence), given the two RUN instants; `captured` is how many frames the capture
/// stream recorded in 150 ms.
fn expected_sources(
    rate: u32,
    render_start: u64,
    capture_start: u64,
    captured: i64,
) -> Vec<Option<i64>> {
    let latency = i64::from(latency_frames(rate));
    (0..captured)
        .map(|j| {
            let k =
                j + device_frame(capture_start, rate) - latency - device_frame(render_start, rate);
            (k >= 0).then_some(k)
        })
        .collect()
}

fn what_the_speakers_play_the_microphone_records_bit_exact_one_latency_later() {
    for profile in loadable_profiles() {
        for sample in SampleFormat::ALL {
            for rate in [44_100, 48_000] {
                let format = Format::new(sample, 2, rate).unwrap();
                let sim = Sim::new(profile);
                let device = bring_up(&sim);
                let frames = rate / 10;
                let played = pattern(format, frames, rate + u32::from(format.block_align()));
                let (recorded, render_start, capture_start) =
                    loop_through(&sim, &device, format, format, &played);
                let frame = format.bytes_per_frame() as usize;
                let captured = i64::from(rate) * 150 / 1000;
                let sources = expected_sources(rate, render_start, capture_start, captured);
                let mut heard = 0;
                for (j, source) in sources.iter().enumerate() {
                    let got = &recorded[j * frame..][..frame];
                    match source {
                        Some(k) => {
                            let at = (*k as usize % frames as usize) * frame;
                            assert_eq!(
                                got,
                                &played[at..][..frame],
                                "{profile} {format:?} frame {j}"
                            );
                            heard += 1;
                        }
                        None => assert!(
                            got.iter().all(|&b| b == 0),
                            "{profile} {format:?} frame {j}"
                        ),
                    }
                }
                // 13 ms of the capture's 150 ms came before the speakers' first frame reached
                // it (20 ms of latency less the 7 ms head start... rounded to frames).
                let silent = captured - heard;
                let expected_silent = i64::from(latency_frames(rate))
                    - (device_frame(capture_start, rate) - device_frame(render_start, rate));
                assert_eq!(silent, expected_silent, "{profile} {format:?}");
                assert!(heard > captured / 2, "{profile} {format:?}: {heard}");
                assert!(sim.violations().is_empty(), "{:?}", sim.violations());
                sim.remove_device(device.fdo);
                sim.assert_clean();
            }
        }
    }
}

fn other_sample_formats_are_converted_sample_by_sample() {
    for profile in loadable_profiles() {
        for from in SampleFormat::ALL {
            for to in SampleFormat::ALL.into_iter().filter(|&to| to != from) {
                let rate = 48_000;
                let render_format = Format::new(from, 2, rate).unwrap();
                let capture_format = Format::new(to, 2, rate).unwrap();
                let sim = Sim::new(profile);
                let device = bring_up(&sim);
                let frames = rate / 10;
                let played = ramp(render_format, frames);
                let (recorded, render_start, capture_start) =
                    loop_through(&sim, &device, render_format, capture_format, &played);
                let (in_frame, out_frame) = (
                    render_format.bytes_per_frame() as usize,
                    capture_format.bytes_per_frame() as usize,
                );
                let sources = expected_sources(rate, render_start, capture_start, 7200);
                for (j, source) in sources.iter().enumerate() {
                    let got = &recorded[j * out_frame..][..out_frame];
                    let mut want = vec![0u8; out_frame];
                    if let Some(k) = source {
                        let at = (*k as usize % frames as usize) * in_frame;
                        convert(from, to, &played[at..][..in_frame], &mut want);
                    }
                    assert_eq!(got, &want[..], "{profile} {from:?} -> {to:?} frame {j}");
                }
                sim.remove_device(device.fdo);
                sim.assert_clean();
            }
        }
    }
}

/// Zero crossings of the left channel of 16-bit stereo.
fn crossings(bytes: &[u8]) -> usize {
    let left: Vec<i16> = bytes
        .chunks_exact(4)
        .map(|f| i16::from_le_bytes([f[0], f[1]]))
        .collect();
    left.windows(2).filter(|p| (p[0] < 0) != (p[1] < 0)).count()
}

fn the_tone_only_when_nothing_plays_and_silence_across_rates() {
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        let capture_format = Format::PREFERRED;
        let mut capture = open(&sim, &device, true, capture_format);
        // 100 ms of capture buffer.
        capture.allocate_buffer(1, 19_200).unwrap();
        assert_eq!(capture.walk_to(RUN), STATUS_SUCCESS);
        sim.advance(100 * MS);
        // Nothing plays: the microphone hears the 1 kHz tone (100 cycles, two crossings each).
        let heard = crossings(&capture.read_buffer());
        assert!((199..=201).contains(&heard), "{profile}: {heard}");

        // A render stream at another rate plays: the cable does not resample, the microphone
        // records silence (after the frames already in flight).
        let render_format = Format::new(SampleFormat::Pcm16, 2, 44_100).unwrap();
        let mut render = open(&sim, &device, false, render_format);
        render.allocate_buffer(2, 17_640).unwrap();
        render.write_buffer(0, &ramp(render_format, 4410));
        assert_eq!(render.walk_to(RUN), STATUS_SUCCESS);
        sim.advance(100 * MS);
        assert!(
            capture.read_buffer().iter().all(|&b| b == 0),
            "{profile}: silence while another rate plays"
        );
        // The speakers stop: once the cable has nothing left for a period, the tone is back.
        assert_eq!(render.walk_to(STOP), STATUS_SUCCESS);
        sim.advance(u64::from(LATENCY_MS) * MS + 100 * MS);
        let heard = crossings(&capture.read_buffer());
        assert!((195..=201).contains(&heard), "{profile}: {heard}");
        render.close();
        capture.close();
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

both_drivers!(
    what_the_speakers_play_the_microphone_records_bit_exact_one_latency_later,
    other_sample_formats_are_converted_sample_by_sample,
    the_tone_only_when_nothing_plays_and_silence_across_rates,
);
