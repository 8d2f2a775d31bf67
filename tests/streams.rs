//! Streams end to end in the PortCls model: open a render and a capture pin, allocate
//! notification buffers, run, and check positions, notifications, the captured tone and the
//! engine thread's stream-resource registration under each OS profile; then stop, close and
//! remove with nothing left behind.

mod common;

use common::{bring_up, format_bytes, loadable_profiles, open_host_pin as open};
use portcls_sim::{Device, DeviceFault, DmaOwner, OsProfile, Resource, Sim, Stream, Via};
use portcls_sys::{
    NT_SUCCESS, STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED,
    STATUS_SUCCESS,
};
use wavert_sample::descriptors::CAPTURE_WAVE_HOST_PIN;
use wavert_sample::format::{Format, SampleFormat};
use wavert_sample::identity::{CAPTURE_WAVE, RENDER_WAVE};

const STOP: u32 = 0;
const ACQUIRE: u32 = 1;
const RUN: u32 = 3;
/// One second in the model's 100 ns units.
const SECOND: u64 = 10_000_000;

/// A client's `KSDATARANGE_AUDIO` for exactly `format`.
fn client_range(format: Format) -> Vec<u8> {
    let sub_format = if format.sample() == SampleFormat::Float32 {
        portcls_sys::ks::KSDATAFORMAT_SUBTYPE_IEEE_FLOAT
    } else {
        portcls_sys::ks::KSDATAFORMAT_SUBTYPE_PCM
    };
    portcls_sim::stream::audio_range(
        sub_format,
        2,
        u32::from(format.valid_bits())..=u32::from(format.sample().container_bits()),
        format.rate()..=format.rate(),
    )
}

/// `bytes` of the driver's own 1 kHz tone in the preferred format (48 kHz 16-bit stereo).
fn tone(bytes: usize) -> Vec<u8> {
    let mut out = vec![0u8; bytes];
    wavert_sample::backend::virtual_device::tone::Tone::<1000, -600>::new(Format::PREFERRED)
        .fill(&mut out);
    out
}

/// Zero crossings (sign changes) of the left channel of 16-bit stereo samples.
fn zero_crossings(bytes: &[u8]) -> usize {
    let left: Vec<i16> = bytes
        .chunks_exact(4)
        .map(|frame| i16::from_le_bytes([frame[0], frame[1]]))
        .collect();
    left.windows(2)
        .filter(|pair| (pair[0] < 0) != (pair[1] < 0))
        .count()
}

fn both_streams_run_at_the_format_rate_under_every_profile() {
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        let mut render = open(&sim, &device, false, Format::PREFERRED);
        let mut capture = open(&sim, &device, true, Format::PREFERRED);
        assert!(render.supports_notification() && capture.supports_notification());
        assert!(!render.is_capture() && capture.is_capture());
        // 10 ms with two notifications; 100 ms with one.
        let buffer = render.allocate_buffer(2, 1920).unwrap();
        assert_eq!((buffer.size, buffer.offset), (1920, 0));
        assert_eq!(capture.allocate_buffer(1, 19_200).unwrap().size, 19_200);
        // The client plays 10 ms of a 1 kHz tone over and over (10 whole cycles).
        render.write_buffer(0, &tone(1920));
        assert_eq!(render.register_event(), STATUS_SUCCESS);
        assert_eq!(capture.register_event(), STATUS_SUCCESS);
        assert!(
            sim.registrations().is_empty(),
            "{profile}: nothing runs in STOP"
        );
        assert_eq!(render.walk_to(RUN), STATUS_SUCCESS);
        assert_eq!(capture.walk_to(RUN), STATUS_SUCCESS);

        // Two engine threads, registered as the profile allows.
        let registrations = sim.registrations();
        if profile == OsProfile::Windows81 {
            assert!(registrations.is_empty(), "{profile}");
        } else {
            assert_eq!(registrations.len(), 2, "{profile}");
            for registration in &registrations {
                assert!(matches!(registration.resource, Resource::Thread(_)));
                assert_eq!(registration.pdo, device.pdo.addr(), "{profile}");
                let expected_v2 = profile != OsProfile::Win10_1507;
                assert_eq!(
                    matches!(registration.via, Via::InterfaceV2 { .. }),
                    expected_v2,
                    "{profile}: {:?}",
                    registration.via
                );
            }
        }

        // 1.0025 s: 48 120 frames.
        sim.advance(SECOND + 25_000);
        assert_eq!(render.position().unwrap(), (480, 480), "{profile}");
        assert_eq!(
            capture.position().unwrap(),
            (192_480 % 19_200, 192_480 % 19_200)
        );
        // A notification every 5 ms (render) and every 100 ms (capture), none missed or
        // doubled.
        assert_eq!(render.event_signals(), 200, "{profile}");
        assert_eq!(capture.event_signals(), 10, "{profile}");
        // The microphone records what the speakers play (the loopback cable): the capture
        // buffer holds the 1 kHz tone, 100 cycles in 100 ms, two crossings each.
        let crossings = zero_crossings(&capture.read_buffer());
        assert!((199..=201).contains(&crossings), "{profile}: {crossings}");

        // Latency and registers.
        let latency = render.hw_latency();
        assert_eq!(
            (latency.FifoSize, latency.ChipsetDelay, latency.CodecDelay),
            (0, 0, 0)
        );
        assert_eq!(
            render.registers(),
            (STATUS_NOT_SUPPORTED, STATUS_NOT_SUPPORTED)
        );

        // Back to STOP: the engines leave, and with them the registrations.
        assert_eq!(render.walk_to(STOP), STATUS_SUCCESS);
        assert_eq!(capture.walk_to(STOP), STATUS_SUCCESS);
        assert!(sim.registrations().is_empty(), "{profile}");
        assert_eq!(render.position().unwrap(), (0, 0));
        render.close();
        capture.close();
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

fn pause_keeps_the_position_and_stop_resets_it() {
    let sim = Sim::new(OsProfile::Win10_2004);
    let device = bring_up(&sim);
    let mut render = open(&sim, &device, false, Format::PREFERRED);
    render.allocate_buffer(1, 48_000 * 4).unwrap();
    assert_eq!(render.walk_to(RUN), STATUS_SUCCESS);
    sim.advance(SECOND / 4);
    assert_eq!(render.position().unwrap().0, 12_000 * 4);
    assert_eq!(render.set_state(2), STATUS_SUCCESS);
    sim.advance(SECOND);
    assert_eq!(render.position().unwrap().0, 12_000 * 4);
    assert_eq!(render.set_state(RUN), STATUS_SUCCESS);
    sim.advance(SECOND / 4);
    assert_eq!(render.position().unwrap().0, 24_000 * 4);
    assert_eq!(render.walk_to(ACQUIRE), STATUS_SUCCESS);
    assert_eq!(render.position().unwrap().0, 24_000 * 4);
    assert_eq!(render.walk_to(STOP), STATUS_SUCCESS);
    assert_eq!(render.position().unwrap().0, 0);
    render.close();
    sim.remove_device(device.fdo);
    sim.assert_clean();
}

fn every_format_streams_at_its_rate() {
    for profile in loadable_profiles() {
        every_format_streams_at_its_rate_under(profile);
    }
}

fn every_format_streams_at_its_rate_under(profile: OsProfile) {
    let sim = Sim::new(profile);
    let device = bring_up(&sim);
    for sample in SampleFormat::ALL {
        for rate in [44_100, 48_000] {
            let format = Format::new(sample, 2, rate).unwrap();
            // Negotiated as PortCls does: the client's range for exactly this format,
            // intersected by the miniport, and the pin opened with the answer.
            let negotiated = sim
                .negotiate(
                    device.fdo,
                    CAPTURE_WAVE.name,
                    CAPTURE_WAVE_HOST_PIN,
                    &client_range(format),
                )
                .unwrap();
            assert_eq!(
                Format::parse(&negotiated),
                Ok(format),
                "{profile} {sample:?} {rate}"
            );
            let mut capture = sim
                .open_stream(
                    device.fdo,
                    CAPTURE_WAVE.name,
                    CAPTURE_WAVE_HOST_PIN,
                    &negotiated,
                )
                .unwrap();
            let frame = format.bytes_per_frame();
            let size = capture.allocate_buffer(2, frame * rate).unwrap().size;
            assert_eq!(size, frame * rate);
            assert_eq!(capture.walk_to(RUN), STATUS_SUCCESS);
            sim.advance(SECOND / 2);
            let expected = u64::from(rate / 2 * frame);
            assert_eq!(
                capture.position().unwrap().0,
                expected,
                "{profile} {sample:?} {rate}"
            );
            // The first half second holds the tone, the rest is still silent.
            let data = capture.read_buffer();
            let half = usize::try_from(expected).unwrap();
            assert!(data[..half].iter().any(|&b| b != 0), "{sample:?} {rate}");
            assert!(data[half..].iter().all(|&b| b == 0), "{sample:?} {rate}");
            capture.close();
        }
    }
    sim.remove_device(device.fdo);
    sim.assert_clean();
}

fn wrong_requests_are_refused_and_change_nothing() {
    let sim = Sim::new(OsProfile::Win10_2004);
    let device = bring_up(&sim);
    // The capture flag must match the pin; the bridge pin has no instances.
    let format = format_bytes(Format::PREFERRED);
    assert_eq!(
        sim.open_stream(device.fdo, RENDER_WAVE.name, 1, &format)
            .unwrap_err(),
        portcls_sim::stream::STATUS_DEVICE_BUSY
    );
    // A format whose FormatSize lies about its length never reaches the driver (KS refuses
    // it); one that is well-sized but malformed inside reaches it and is refused there.
    let mut lying = format.clone();
    lying[0] = 200;
    assert_eq!(
        sim.open_stream(device.fdo, RENDER_WAVE.name, 0, &lying[..64])
            .unwrap_err(),
        STATUS_INVALID_PARAMETER
    );
    let mut malformed = format.clone();
    malformed[64 + 12] ^= 1; // nBlockAlign off by one
    assert!(!NT_SUCCESS(
        sim.open_stream(device.fdo, RENDER_WAVE.name, 0, &malformed)
            .unwrap_err()
    ));
    let mut render = open(&sim, &device, false, Format::PREFERRED);
    // Skipping states, and unknown states.
    assert_eq!(render.set_state(RUN), STATUS_INVALID_DEVICE_STATE);
    assert_eq!(render.set_state(7), STATUS_INVALID_PARAMETER);
    // Three notifications per buffer are not WaveRT.
    assert_eq!(render.allocate_buffer(3, 1920).unwrap_err(), {
        wavert_sample::notification::NotificationError::Count(3).status()
    });
    render.allocate_buffer(1, 1920).unwrap();
    // One buffer per stream.
    assert_eq!(
        render.allocate_buffer(1, 1920).unwrap_err(),
        STATUS_INVALID_DEVICE_STATE
    );
    // Format changes need STOP without a buffer.
    assert_eq!(render.set_format(&format), STATUS_INVALID_DEVICE_STATE);
    // Unregistering an event never registered.
    assert_eq!(render.register_event(), STATUS_SUCCESS);
    assert_eq!(render.register_event(), STATUS_INVALID_PARAMETER);
    assert_eq!(render.unregister_event(), STATUS_SUCCESS);
    assert_eq!(
        render.unregister_event(),
        wavert_sample::stream::STATUS_NOT_FOUND
    );
    render.close();
    sim.remove_device(device.fdo);
    sim.assert_clean();
}

fn closing_a_running_stream_stops_and_unregisters_its_engine() {
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        let mut render = open(&sim, &device, false, Format::PREFERRED);
        render.allocate_buffer(2, 1920).unwrap();
        render.register_event();
        assert_eq!(render.walk_to(RUN), STATUS_SUCCESS);
        sim.advance(SECOND / 10);
        // Dropping the handle runs PortCls's close sequence from RUN.
        drop(render);
        assert!(sim.registrations().is_empty(), "{profile}");
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

/// Runs a render and a capture stream on a fresh device.
fn running_pair(sim: &Sim) -> (Device, Stream, Stream) {
    let device = bring_up(sim);
    let mut render = open(sim, &device, false, Format::PREFERRED);
    let mut capture = open(sim, &device, true, Format::PREFERRED);
    for stream in [&mut render, &mut capture] {
        stream.allocate_buffer(2, 1920).unwrap();
        assert_eq!(stream.register_event(), STATUS_SUCCESS);
        assert_eq!(stream.walk_to(RUN), STATUS_SUCCESS);
    }
    sim.advance(SECOND / 10);
    (device, render, capture)
}

fn stop_and_surprise_removal_take_the_engines_down_first() {
    for profile in loadable_profiles() {
        for surprise in [false, true] {
            let sim = Sim::new(profile);
            let (device, render, capture) = running_pair(&sim);
            let status = if surprise {
                sim.surprise_remove(device.fdo)
            } else {
                sim.stop_device(device.fdo)
            };
            assert_eq!(status, STATUS_SUCCESS);
            assert!(sim.registrations().is_empty(), "{profile}");
            assert!(
                sim.violations().is_empty(),
                "{profile}: {:?}",
                sim.violations()
            );
            // Halted engines move nothing and signal nothing.
            let signals = render.event_signals();
            sim.advance(SECOND / 10);
            assert_eq!(render.event_signals(), signals, "{profile}");
            // The client closes its pins, then the device goes.
            render.close();
            capture.close();
            sim.remove_device(device.fdo);
            sim.assert_clean();
        }
    }
}

fn removal_with_streams_running_unregisters_before_portcls_sees_it() {
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        let (device, render, capture) = running_pair(&sim);
        // Removal without a surprise removal first (an orderly uninstall): the pins are still
        // open and running.
        let _ = sim.pnp(device.fdo, portcls_sim::PnpRequest::Remove);
        assert!(sim.registrations().is_empty(), "{profile}");
        render.close();
        capture.close();
        sim.assert_clean();
    }
}

fn leaving_d0_halts_the_engines_and_d0_brings_them_back() {
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        let (device, render, capture) = running_pair(&sim);
        let registered = sim.registrations().len();
        for low in [2, 3, 4] {
            sim.set_power(device.fdo, low).unwrap();
            assert!(sim.registrations().is_empty(), "{profile} D{}", low - 1);
            let signals = render.event_signals();
            sim.advance(SECOND / 10);
            assert_eq!(render.event_signals(), signals);
            sim.set_power(device.fdo, 1).unwrap();
            assert_eq!(sim.registrations().len(), registered, "{profile}");
            let signals = render.event_signals();
            sim.advance(SECOND / 10);
            // 100 ms at one notification per 5 ms.
            assert_eq!(render.event_signals() - signals, 20, "{profile}");
        }
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        render.close();
        capture.close();
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

/// What Miri runs (the longer runs above are too slow there): 20 ms of both streams under each
/// profile, a trip to D3 and back, and a close from RUN, with every check of the long runs.
fn a_short_run_under_every_profile() {
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        let mut render = open(&sim, &device, false, Format::PREFERRED);
        let mut capture = open(&sim, &device, true, Format::PREFERRED);
        render.allocate_buffer(2, 1920).unwrap();
        capture.allocate_buffer(1, 1920).unwrap();
        render.write_buffer(0, &tone(1920));
        for stream in [&mut render, &mut capture] {
            assert_eq!(stream.register_event(), STATUS_SUCCESS);
            assert_eq!(stream.walk_to(RUN), STATUS_SUCCESS);
        }
        let expected = usize::from(profile != OsProfile::Windows81) * 2;
        assert_eq!(sim.registrations().len(), expected, "{profile}");
        // 20 ms: 960 frames; a 5 ms interval (render) and a 10 ms one (capture).
        sim.advance(SECOND / 50);
        assert_eq!(render.position().unwrap().0, 0);
        assert_eq!(render.event_signals(), 4, "{profile}");
        assert_eq!(capture.event_signals(), 2, "{profile}");
        // The cable's 20 ms latency: so far the microphone recorded the silence before the
        // speakers started.
        assert!(capture.read_buffer().iter().all(|&b| b == 0), "{profile}");
        sim.set_power(device.fdo, 4).unwrap();
        assert!(sim.registrations().is_empty(), "{profile}");
        sim.set_power(device.fdo, 1).unwrap();
        assert_eq!(sim.registrations().len(), expected, "{profile}");
        sim.advance(SECOND / 100);
        assert_eq!(render.event_signals(), 6, "{profile}");
        // Now it records the speakers' first 10 ms, exactly.
        assert_eq!(capture.read_buffer(), tone(1920), "{profile}");
        drop(render);
        capture.close();
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

/// The pages of a stream's buffer are physical memory open to the device while the buffer
/// lives: what the client writes through the mapping, a device reads by physical address; once
/// the buffer is freed, the device may no longer touch them.
fn the_buffer_pages_are_physical_memory_the_device_may_reach_while_allocated() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let device = bring_up(&sim);
    let memory = sim.device_memory();
    let mut render = open(&sim, &device, false, Format::PREFERRED);
    let buffer = render.allocate_buffer(2, 9600).unwrap();
    let ranges = memory.ranges();
    let [range] = ranges.as_slice() else {
        panic!("one DMA range expected: {ranges:?}");
    };
    assert_eq!(
        range.owner,
        DmaOwner::Mdl {
            stream: render.id(),
            mdl: buffer.mdl
        }
    );
    assert!(range.physical.is_multiple_of(4096));
    assert_eq!(range.length, 12_288, "three whole pages for 9600 bytes");
    render.write_buffer(0, &tone(9600));
    let mut seen = vec![0u8; 9600];
    memory
        .read(range.physical + u64::from(buffer.offset), &mut seen)
        .unwrap();
    assert_eq!(seen, tone(9600));
    render.free_buffer();
    assert!(memory.ranges().is_empty());
    let refused = memory.read(range.physical, &mut seen[..4]).unwrap_err();
    assert_eq!(refused.fault, DeviceFault::Freed);
    assert_eq!(sim.violations().len(), 1, "the refused access");
    drop(render);
    sim.remove_device(device.fdo);
}

both_drivers!(
    the_buffer_pages_are_physical_memory_the_device_may_reach_while_allocated,
    #[cfg_attr(
        miri,
        ignore = "seconds of virtual streaming: natively only; see a_short_run"
    )]
    both_streams_run_at_the_format_rate_under_every_profile,
    #[cfg_attr(
        miri,
        ignore = "seconds of virtual streaming: natively only; see a_short_run"
    )]
    pause_keeps_the_position_and_stop_resets_it,
    #[cfg_attr(
        miri,
        ignore = "seconds of virtual streaming: natively only; see a_short_run"
    )]
    every_format_streams_at_its_rate,
    wrong_requests_are_refused_and_change_nothing,
    #[cfg_attr(
        miri,
        ignore = "seconds of virtual streaming: natively only; see a_short_run"
    )]
    closing_a_running_stream_stops_and_unregisters_its_engine,
    #[cfg_attr(
        miri,
        ignore = "seconds of virtual streaming: natively only; see a_short_run"
    )]
    stop_and_surprise_removal_take_the_engines_down_first,
    #[cfg_attr(
        miri,
        ignore = "seconds of virtual streaming: natively only; see a_short_run"
    )]
    removal_with_streams_running_unregisters_before_portcls_sees_it,
    #[cfg_attr(
        miri,
        ignore = "seconds of virtual streaming: natively only; see a_short_run"
    )]
    leaving_d0_halts_the_engines_and_d0_brings_them_back,
    a_short_run_under_every_profile,
);
