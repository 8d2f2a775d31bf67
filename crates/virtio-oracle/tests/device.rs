//! The driver's whole virtio-sound device layer (`wavert_sample::backend::virtio::device`) against
//! `vhost-device-sound` behind the model's virtio PCI function: start, both stream directions,
//! stop, and a start that fails at each allocation leaving nothing behind.
#![cfg(target_os = "linux")]

mod common;

use common::{Function, MSIX_VECTORS, bar_lengths, function, never_wait, pieces_of, start};
use portcls_sim::virtio_pci::{self, Interrupt};
use virtio_oracle::Oracle;
use wavert_sample::backend::virtio::device::{
    Completion, DeviceError, Piece, Report, SoundDevice, StartStep,
};
use wavert_sample::backend::virtio::sound;
use wavert_sample::format::{Format, SampleFormat};

fn conforming(function: &Function<Oracle>) {
    assert_eq!(function.0.breaches(), [] as [String; 0]);
    assert_eq!(function.0.device_errors(), [] as [String; 0]);
}

#[test]
fn the_device_starts_reports_its_streams_and_stops_leaving_nothing() {
    let (mut function, mut memory, device) = start(Oracle::new(), MSIX_VECTORS);
    assert_eq!(
        device.features(),
        wavert_sample::backend::virtio::transport::F_VERSION_1
    );
    let streams: Vec<(u32, u8)> = device
        .streams()
        .map(|(id, info)| (id, info.direction))
        .collect();
    assert_eq!(streams, [(0, sound::D_OUTPUT), (1, sound::D_INPUT)]);
    // Its channel maps (CHMAP_INFO): its configuration counts one, the output's front left
    // and front right (vhost-device-sound 0.3.0 keeps an input map too, which its configuration
    // does not count, so the driver never asks for it).
    let output: Vec<_> = device.channel_maps(sound::D_OUTPUT).collect();
    assert_eq!(output.len(), 1);
    assert!(output[0].is_front_stereo(), "{output:?}");
    assert_eq!(device.channel_maps(sound::D_INPUT).count(), 0);
    assert_eq!(memory.live.len(), 5, "four rings and the message block");
    // The two control replies (PCM_INFO, CHMAP_INFO) came with the control queue's message.
    assert_eq!(
        function.0.take_interrupts(),
        [Interrupt::Message(1), Interrupt::Message(1)]
    );
    assert!(device.stop(&mut function, &mut memory, |_, _| panic!(
        "nothing was in flight"
    )));
    assert_eq!(memory.live, []);
    assert_eq!(function.0.status(), 0);
    conforming(&function);
}

#[test]
fn a_playback_stream_runs_period_after_period_without_copying() {
    let (mut function, mut memory, mut device) = start(Oracle::new(), MSIX_VECTORS);
    let format = Format::new(SampleFormat::Pcm16, 2, 48_000).unwrap();
    let period = format.bytes_per_frame() * 480;
    let buffer = function
        .0
        .device()
        .alloc(usize::try_from(period * 4).unwrap(), 4096);
    let params = sound::Params {
        stream: 0,
        buffer_bytes: period * 4,
        period_bytes: period,
        channels: 2,
        format: sound::wire_format(format.sample()),
        rate: sound::wire_rate(format.rate()).unwrap(),
    };
    device
        .set_params(&mut function, &params, &mut never_wait)
        .expect("SET_PARAMS");
    device
        .pcm(&mut function, sound::R_PCM_PREPARE, 0, &mut never_wait)
        .expect("PREPARE");
    device
        .pcm(&mut function, sound::R_PCM_START, 0, &mut never_wait)
        .expect("START");
    let _ = function.0.take_interrupts();
    let mut done = Vec::new();
    for n in 0..200_u32 {
        let pieces = pieces_of(&buffer, n % 4 * period, period);
        device
            .post_period(&mut function, 0, &pieces, n)
            .expect("a period");
        assert_eq!(function.0.take_interrupts(), [Interrupt::Message(3)]);
        device
            .completions(&mut function, |report| done.push(report))
            .expect("a conforming device");
    }
    assert_eq!(done.len(), 200);
    for (n, report) in (0..).zip(done) {
        let Report::Period(Completion {
            stream: 0,
            token,
            result: Ok(_),
        }) = report
        else {
            panic!("period {n}: {report:?}");
        };
        assert_eq!(token, n);
    }
    device
        .pcm(&mut function, sound::R_PCM_STOP, 0, &mut never_wait)
        .expect("STOP");
    device
        .pcm(&mut function, sound::R_PCM_RELEASE, 0, &mut never_wait)
        .expect("RELEASE");
    assert!(device.stop(&mut function, &mut memory, |_, _| panic!(
        "nothing was in flight"
    )));
    assert_eq!(memory.live, []);
    conforming(&function);
}

#[test]
fn capture_periods_the_device_holds_come_back_at_stop() {
    let (mut function, mut memory, mut device) = start(Oracle::new(), MSIX_VECTORS);
    let buffer = function.0.device().alloc(4 * 3840, 4096);
    for n in 0..4_u32 {
        let pieces = pieces_of(&buffer, n * 3840, 3840);
        device
            .post_period(&mut function, 1, &pieces, 100 + n)
            .expect("a period");
    }
    // No more than MAX_IN_FLIGHT periods on the device.
    let pieces = pieces_of(&buffer, 0, 3840);
    assert_eq!(
        device.post_period(&mut function, 1, &pieces, 104),
        Err(DeviceError::BadRequest)
    );
    assert_eq!(device.in_flight(1), 4);
    device
        .completions(&mut function, |report| panic!("{report:?}"))
        .expect("a conforming device");
    let mut dropped = Vec::new();
    assert!(device.stop(&mut function, &mut memory, |stream, token| {
        dropped.push((stream, token));
    }));
    dropped.sort_unstable();
    assert_eq!(dropped, [(1, 100), (1, 101), (1, 102), (1, 103)]);
    assert_eq!(memory.live, []);
    conforming(&function);
}

#[test]
fn requests_for_what_the_device_does_not_have_are_refused_before_they_reach_it() {
    let (mut function, mut memory, mut device) = start(Oracle::new(), MSIX_VECTORS);
    let pieces = [Piece {
        address: 0x1000,
        len: 16,
    }];
    assert_eq!(
        device.post_period(&mut function, 7, &pieces, 0),
        Err(DeviceError::BadRequest)
    );
    assert_eq!(
        device.post_period(&mut function, 0, &[], 0),
        Err(DeviceError::BadRequest)
    );
    assert_eq!(
        device.pcm(&mut function, sound::R_PCM_START, 5, &mut never_wait),
        Err(DeviceError::BadRequest)
    );
    assert_eq!(
        device.request(&mut function, &[0; 65], 4, &mut never_wait),
        Err(DeviceError::BadRequest)
    );
    assert!(
        function.0.take_interrupts().len() <= 2,
        "only the start's two queries reached the device"
    );
    assert!(device.stop(&mut function, &mut memory, |_, _| {}));
    conforming(&function);
}

#[test]
fn with_a_line_interrupt_the_queues_have_no_vectors() {
    let (mut function, mut memory, device) = start(Oracle::new(), 0);
    assert_eq!(
        function.0.take_interrupts(),
        [Interrupt::Line, Interrupt::Line],
        "the start's two replies"
    );
    assert_eq!(function.0.read(virtio_pci::ISR_OFFSET, 1), 1);
    assert!(device.stop(&mut function, &mut memory, |_, _| {}));
    conforming(&function);
}

#[test]
fn a_start_that_fails_at_any_allocation_resets_the_device_and_frees_everything() {
    for fail_at in 0..5 {
        let (mut function, mut memory) = function(Oracle::new(), MSIX_VECTORS);
        memory.fail_at = Some(fail_at);
        let space = function.0.config_space();
        let bars = bar_lengths();
        let result = SoundDevice::start(
            &mut function,
            &mut memory,
            &space,
            &bars,
            MSIX_VECTORS,
            &mut never_wait,
        );
        assert_eq!(
            result.map(|_| ()),
            Err(StartStep::Memory),
            "allocation {fail_at}"
        );
        assert_eq!(
            StartStep::Memory.status(),
            portcls_sys::STATUS_INSUFFICIENT_RESOURCES
        );
        assert_eq!(memory.live, [], "allocation {fail_at}");
        assert_eq!(function.0.status(), 0, "reset after allocation {fail_at}");
        conforming(&function);
    }
}

#[test]
fn a_start_without_the_register_bar_is_refused_before_touching_the_device() {
    let (mut function, mut memory) = function(Oracle::new(), 0);
    let space = function.0.config_space();
    let result = SoundDevice::start(
        &mut function,
        &mut memory,
        &space,
        &[0; 6],
        0,
        &mut never_wait,
    );
    assert!(matches!(result, Err(StartStep::Structures(_))));
    assert_eq!((memory.allocations, function.0.resets()), (0, 0));
}

/// Streams a VMM adds after the oracle's two ([`Paced::with_streams`]): the configuration counts
/// them, `PCM_INFO` describes them as the oracle's stream of their direction under their own
/// function group, and their requests follow the spec's state machine (`START` before
/// `PREPARE`, or `STOP` of a stream not started, is refused as the oracle refuses it).
#[test]
fn a_device_with_more_streams_reports_them_and_keeps_their_state_machine() {
    use virtio_oracle::paced::{MoreStream, Paced};
    use wavert_sample::backend::virtio::sound::ReplyError;
    /// A PCM request for the first added stream (2).
    fn pcm(
        device: &mut SoundDevice,
        function: &mut Function<Paced>,
        code: u32,
    ) -> Result<(), DeviceError> {
        device.pcm(function, code, 2, &mut never_wait)
    }
    let more = [
        MoreStream {
            direction: sound::D_INPUT,
            hda_fn_nid: 3,
        },
        MoreStream {
            direction: sound::D_OUTPUT,
            hda_fn_nid: 4,
        },
    ];
    let (mut function, mut memory, mut device) =
        start(Paced::with_streams(Oracle::new(), &more), MSIX_VECTORS);
    let streams: Vec<_> = device.streams().collect();
    let ids: Vec<(u32, u8, u32)> = streams
        .iter()
        .map(|(id, info)| (*id, info.direction, info.hda_fn_nid))
        .collect();
    assert_eq!(
        ids,
        [
            (0, sound::D_OUTPUT, 0),
            (1, sound::D_INPUT, 0),
            (2, sound::D_INPUT, 3),
            (3, sound::D_OUTPUT, 4)
        ]
    );
    // The same formats, rates and channels as the oracle's stream of each direction.
    let like = |(_, a): &(u32, sound::PcmInfo), (_, b): &(u32, sound::PcmInfo)| {
        (a.formats, a.rates, a.channels_min, a.channels_max)
            == (b.formats, b.rates, b.channels_min, b.channels_max)
    };
    assert!(like(&streams[2], &streams[1]) && like(&streams[3], &streams[0]));
    let refused = Err(DeviceError::Reply(ReplyError::BadMessage));
    assert_eq!(
        pcm(&mut device, &mut function, sound::R_PCM_START),
        refused,
        "not prepared"
    );
    assert_eq!(
        pcm(&mut device, &mut function, sound::R_PCM_PREPARE),
        refused,
        "no parameters"
    );
    let format = Format::new(SampleFormat::Pcm16, 2, 48_000).unwrap();
    let params = sound::Params {
        stream: 2,
        buffer_bytes: 3840,
        period_bytes: 1920,
        channels: 2,
        format: sound::wire_format(format.sample()),
        rate: sound::wire_rate(format.rate()).unwrap(),
    };
    assert_eq!(
        device.set_params(&mut function, &params, &mut never_wait),
        Ok(())
    );
    assert_eq!(
        pcm(&mut device, &mut function, sound::R_PCM_STOP),
        refused,
        "not started"
    );
    for code in [
        sound::R_PCM_PREPARE,
        sound::R_PCM_START,
        sound::R_PCM_STOP,
        sound::R_PCM_RELEASE,
    ] {
        assert_eq!(pcm(&mut device, &mut function, code), Ok(()), "{code:#x}");
    }
    assert_eq!(
        pcm(&mut device, &mut function, sound::R_PCM_START),
        refused,
        "released"
    );
    assert!(device.stop(&mut function, &mut memory, |_, _| {}));
    assert_eq!(memory.live, []);
}
