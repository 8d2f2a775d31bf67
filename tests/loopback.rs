//! The virtual device is a loopback cable: what the model's client writes into the render
//! buffer is what it reads back from the capture buffer, bit for bit, 20 ms later on the
//! device's timeline, under every OS profile, on the host build and the image.
//!
//! The device's timeline is the performance counter's: device frame `floor(counter x rate /
//! frequency)`. A stream that enters RUN at counter `t` (from STOP, position 0) plays or records
//! its linear frame `k` at device frame `k + floor(t x rate / frequency)`, so the test knows from
//! the instants it chose exactly which render frame each capture frame must hold.
//!
//! The endpoints' controls act on that audio (the speakers' volume and mute on what enters the
//! cable, the microphone's on what it records), and each endpoint's peak meter reports, per
//! channel, the largest sample that passed since that channel was last read.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)] // frame counts and sample values of a few seconds of audio

mod common;

use common::{bring_up, loadable_profiles, open_host_pin as open};
use portcls_sim::property::{PropertyOutcome, Target};
use portcls_sim::{Device, Sim};
use portcls_sys::STATUS_SUCCESS;
use portcls_sys::ks::{
    KSPROPERTY_AUDIO_MUTE, KSPROPERTY_AUDIO_PEAKMETER2, KSPROPERTY_AUDIO_VOLUMELEVEL,
    KSPROPERTY_TYPE_GET, KSPROPERTY_TYPE_SET, KSPROPSETID_Audio,
};
use wavert_sample::backend::virtual_device::cable::{LATENCY_MS, convert, latency_frames};
use wavert_sample::descriptors::{
    CAPTURE_MUTE_NODE, CAPTURE_PEAK_NODE, CAPTURE_VOLUME_NODE, RENDER_MUTE_NODE, RENDER_PEAK_NODE,
    RENDER_VOLUME_NODE,
};
use wavert_sample::format::{Format, SampleFormat};
use wavert_sample::identity::{CAPTURE_TOPOLOGY, RENDER_TOPOLOGY};

const STOP: u32 = 0;
const RUN: u32 = 3;
/// One millisecond in the model's 100 ns units (the counter's frequency is 10 MHz).
const MS: u64 = 10_000;
const COUNTER_FREQUENCY: u128 = 10_000_000;

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

/// A node property of a topology filter (channel instance data).
#[allow(clippy::too_many_arguments)] // the parts of a node property request
fn node_property(
    sim: &Sim,
    device: &Device,
    capture: bool,
    node: u32,
    id: u32,
    verb: u32,
    channel: i32,
    value: &[u8],
) -> PropertyOutcome {
    let name = if capture {
        CAPTURE_TOPOLOGY.name
    } else {
        RENDER_TOPOLOGY.name
    };
    let mut instance = channel.to_le_bytes().to_vec();
    instance.extend_from_slice(&0u32.to_le_bytes());
    sim.property(
        device.fdo,
        name,
        Target::Node(node),
        KSPROPSETID_Audio,
        id,
        verb,
        &instance,
        value,
    )
}

/// Sets a volume (1/65536 dB) or a mute (0/1) of one channel of the speakers or microphone.
fn set_control(sim: &Sim, device: &Device, capture: bool, mute: bool, channel: i32, value: i32) {
    let (node, id) = match (capture, mute) {
        (false, false) => (RENDER_VOLUME_NODE, KSPROPERTY_AUDIO_VOLUMELEVEL),
        (false, true) => (RENDER_MUTE_NODE, KSPROPERTY_AUDIO_MUTE),
        (true, false) => (CAPTURE_VOLUME_NODE, KSPROPERTY_AUDIO_VOLUMELEVEL),
        (true, true) => (CAPTURE_MUTE_NODE, KSPROPERTY_AUDIO_MUTE),
    };
    let outcome = node_property(
        sim,
        device,
        capture,
        node,
        id,
        KSPROPERTY_TYPE_SET,
        channel,
        &value.to_le_bytes(),
    );
    assert_eq!(outcome.status, STATUS_SUCCESS);
}

/// A GET of one channel's peak meter.
fn peak(sim: &Sim, device: &Device, capture: bool, channel: i32) -> i32 {
    let node = if capture {
        CAPTURE_PEAK_NODE
    } else {
        RENDER_PEAK_NODE
    };
    let outcome = node_property(
        sim,
        device,
        capture,
        node,
        KSPROPERTY_AUDIO_PEAKMETER2,
        KSPROPERTY_TYPE_GET,
        channel,
        &[0; 4],
    );
    assert_eq!((outcome.status, outcome.size), (STATUS_SUCCESS, 4));
    i32::from_le_bytes(outcome.value[..4].try_into().unwrap())
}

/// 16-bit stereo frames: left `left`, right `right`, alternating in sign frame to frame.
fn square(frames: u32, left: i16, right: i16) -> Vec<u8> {
    (0..frames)
        .flat_map(|k| {
            let sign = if k % 2 == 0 { 1 } else { -1 };
            [(left * sign).to_le_bytes(), (right * sign).to_le_bytes()]
        })
        .flatten()
        .collect()
}

fn the_volume_and_mute_of_both_endpoints_act_on_the_audio() {
    for profile in loadable_profiles() {
        let format = Format::PREFERRED;
        let played = square(4800, 10_000, 10_000);
        // Speakers: left at -6 dB, right muted; the microphone at 0 dB.
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        set_control(&sim, &device, false, false, 0, -6 * 65_536);
        set_control(&sim, &device, false, true, 1, 1);
        let (recorded, render_start, capture_start) =
            loop_through(&sim, &device, format, format, &played);
        let sources = expected_sources(48_000, render_start, capture_start, 7200);
        let frames: Vec<(i16, i16)> = recorded
            .chunks_exact(4)
            .map(|f| {
                (
                    i16::from_le_bytes([f[0], f[1]]),
                    i16::from_le_bytes([f[2], f[3]]),
                )
            })
            .collect();
        for (j, source) in sources.iter().enumerate() {
            // 10 000 x 10^(-6/20) = 5011.9: 5012; the muted channel is silent.
            let want = source.map_or((0, 0), |k| if k % 2 == 0 { (5012, 0) } else { (-5012, 0) });
            assert_eq!(frames[j], want, "{profile}: frame {j}");
        }
        sim.remove_device(device.fdo);
        sim.assert_clean();

        // The microphone: right at -20 dB, left muted; the speakers at 0 dB.
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        set_control(&sim, &device, true, false, 1, -20 * 65_536);
        set_control(&sim, &device, true, true, 0, 1);
        let (recorded, render_start, capture_start) =
            loop_through(&sim, &device, format, format, &played);
        let sources = expected_sources(48_000, render_start, capture_start, 7200);
        for (j, source) in sources.iter().enumerate() {
            let f = &recorded[j * 4..][..4];
            let got = (
                i16::from_le_bytes([f[0], f[1]]),
                i16::from_le_bytes([f[2], f[3]]),
            );
            let want = source.map_or((0, 0), |k| if k % 2 == 0 { (0, 1000) } else { (0, -1000) });
            assert_eq!(got, want, "{profile}: frame {j}");
        }
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

fn the_peak_meters_report_what_passed_per_channel_and_reset_when_read() {
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        // Nothing has passed: both meters read silence.
        for capture in [false, true] {
            assert_eq!(
                [
                    peak(&sim, &device, capture, 0),
                    peak(&sim, &device, capture, 1)
                ],
                [0, 0]
            );
        }
        // Left at half scale, right at a quarter, through the cable.
        let format = Format::PREFERRED;
        let played = square(4800, 16_384, -8_192);
        let mut render = open(&sim, &device, false, format);
        let mut capture = open(&sim, &device, true, format);
        render.allocate_buffer(2, 19_200).unwrap();
        capture.allocate_buffer(2, 19_200).unwrap();
        render.write_buffer(0, &played);
        assert_eq!(render.walk_to(RUN), STATUS_SUCCESS);
        assert_eq!(capture.walk_to(RUN), STATUS_SUCCESS);
        sim.advance(50 * MS);
        let half = i32::MAX / 2 + 1; // 16 384 / 32 768 of LONG_MAX, rounded as the driver scales
        let quarter = half / 2;
        for capture in [false, true] {
            assert_eq!(
                peak(&sim, &device, capture, 0),
                half,
                "{profile} capture {capture}"
            );
            assert_eq!(
                peak(&sim, &device, capture, 1),
                quarter,
                "{profile} capture {capture}"
            );
            // Read: cleared until more audio passes.
            assert_eq!(
                peak(&sim, &device, capture, 0),
                0,
                "{profile} capture {capture}"
            );
        }
        // Channel -1 reads the larger of the two and clears both.
        sim.advance(20 * MS);
        for capture in [false, true] {
            let node = if capture {
                CAPTURE_PEAK_NODE
            } else {
                RENDER_PEAK_NODE
            };
            let both = node_property(
                &sim,
                &device,
                capture,
                node,
                KSPROPERTY_AUDIO_PEAKMETER2,
                KSPROPERTY_TYPE_GET,
                -1,
                &[0; 4],
            );
            assert_eq!(
                i32::from_le_bytes(both.value[..4].try_into().unwrap()),
                half
            );
            assert_eq!(peak(&sim, &device, capture, 1), 0, "{profile}");
        }
        // The speakers stop: the microphone hears the tone (-6 dBFS) once the cable is empty.
        assert_eq!(render.walk_to(STOP), STATUS_SUCCESS);
        sim.advance(100 * MS);
        let _ = peak(&sim, &device, true, 0);
        sim.advance(50 * MS);
        let tone = peak(&sim, &device, true, 0);
        // -6 dBFS: 0.501 of full scale (16-bit: 16 422 / 32 768).
        let expected = f64::from(i32::MAX) * 16_422.0 / 32_768.0;
        assert!(
            (f64::from(tone) - expected).abs() < 70_000.0,
            "{profile}: {tone}"
        );
        assert_eq!(
            peak(&sim, &device, false, 0),
            0,
            "{profile}: the speakers are silent"
        );
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
    the_volume_and_mute_of_both_endpoints_act_on_the_audio,
    the_peak_meters_report_what_passed_per_channel_and_reset_when_read,
);
