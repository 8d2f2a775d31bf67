//! The topology properties as PortCls routes them, and the endpoint builder's view of the
//! device: both endpoints appear with their jacks and controls, volume and mute round-trip per
//! channel, and malformed requests are refused with clear statuses, changing nothing.

mod common;

use common::{bring_up, loadable_profiles};
use portcls_sim::property::{
    ControlKind, Flow, STATUS_INVALID_DEVICE_REQUEST, STATUS_NOT_FOUND, STATUS_PROPSET_NOT_FOUND,
    SteppedRange,
};
use portcls_sim::{Ddi, Device, OsProfile, PropertyOutcome, Sim, Target};
use portcls_sys::ks::{
    KSAUDIO_SPEAKER_STEREO, KSNODETYPE_MICROPHONE, KSNODETYPE_SPEAKER, KSPROPERTY_AUDIO_MUTE,
    KSPROPERTY_AUDIO_VOLUMELEVEL, KSPROPERTY_JACK_DESCRIPTION, KSPROPERTY_JACK_DESCRIPTION2,
    KSPROPERTY_TYPE_BASICSUPPORT, KSPROPERTY_TYPE_GET, KSPROPERTY_TYPE_SET, KSPROPSETID_Audio,
    KSPROPSETID_Jack, KSPROPSETID_Pin,
};
use portcls_sys::{GUID, STATUS_INVALID_PARAMETER, STATUS_SUCCESS};
use wavert_sample::descriptors::{
    CAPTURE_MUTE_NODE, CAPTURE_PEAK_NODE, CAPTURE_TOPOLOGY_MICROPHONE_PIN, CAPTURE_VOLUME_NODE,
    RENDER_MUTE_NODE, RENDER_PEAK_NODE, RENDER_TOPOLOGY_SPEAKER_PIN, RENDER_TOPOLOGY_WAVE_PIN,
    RENDER_VOLUME_NODE,
};
use wavert_sample::format::{STATUS_BUFFER_OVERFLOW, STATUS_BUFFER_TOO_SMALL};
use wavert_sample::identity::{CAPTURE_TOPOLOGY, RENDER_TOPOLOGY, RENDER_WAVE};
use wavert_sample::properties::{VOLUME_MAXIMUM, VOLUME_MINIMUM, VOLUME_STEP};

fn channel(c: i32) -> Vec<u8> {
    let mut out = c.to_le_bytes().to_vec();
    out.extend_from_slice(&0u32.to_le_bytes());
    out
}

fn i32_of(bytes: &[u8]) -> i32 {
    i32::from_le_bytes(bytes[..4].try_into().unwrap())
}

/// A request to a node of the render topology filter.
fn node(
    sim: &Sim,
    device: &Device,
    node: u32,
    id: u32,
    verb: u32,
    instance: &[u8],
    value: &[u8],
) -> PropertyOutcome {
    sim.property(
        device.fdo,
        RENDER_TOPOLOGY.name,
        Target::Node(node),
        KSPROPSETID_Audio,
        id,
        verb,
        instance,
        value,
    )
}

fn volume(sim: &Sim, device: &Device, verb: u32, c: i32, value: &[u8]) -> PropertyOutcome {
    node(
        sim,
        device,
        RENDER_VOLUME_NODE,
        KSPROPERTY_AUDIO_VOLUMELEVEL,
        verb,
        &channel(c),
        value,
    )
}

fn mute(sim: &Sim, device: &Device, verb: u32, c: i32, value: &[u8]) -> PropertyOutcome {
    node(
        sim,
        device,
        RENDER_MUTE_NODE,
        KSPROPERTY_AUDIO_MUTE,
        verb,
        &channel(c),
        value,
    )
}

/// A jack request to pin `pin` of topology `name`.
fn jack(
    sim: &Sim,
    device: &Device,
    name: &str,
    pin: u32,
    id: u32,
    verb: u32,
    value: &[u8],
) -> PropertyOutcome {
    sim.property(
        device.fdo,
        name,
        Target::Pin(pin),
        KSPROPSETID_Jack,
        id,
        verb,
        &[],
        value,
    )
}

fn the_endpoint_builder_finds_a_speaker_and_a_microphone_on_every_profile() {
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        let endpoints = sim.endpoints(device.fdo).unwrap();
        assert_eq!(endpoints.len(), 2, "{profile}: {endpoints:?}");

        let speaker = endpoints.iter().find(|e| e.flow == Flow::Render).unwrap();
        assert_eq!(speaker.topology, RENDER_TOPOLOGY.name);
        assert_eq!(speaker.pin, RENDER_TOPOLOGY_SPEAKER_PIN);
        assert_eq!(speaker.category, KSNODETYPE_SPEAKER);
        assert_eq!(speaker.name, "Speakers");
        assert_eq!(speaker.wave, (RENDER_WAVE.name.to_owned(), 0));
        assert!(speaker.connected());
        assert_eq!(speaker.jack.channel_mapping, KSAUDIO_SPEAKER_STEREO);
        // A virtual device: integrated speakers (no jack, no colour), always connected.
        assert_eq!(speaker.jack.color, 0);
        assert_eq!(
            speaker.jack.port_connection,
            portcls_sys::ks::ePortConnIntegratedDevice
        );
        assert_eq!(speaker.jack2.capabilities, 0);
        // From the speaker inwards: peak meter, mute, then volume; all stereo, at their
        // defaults.
        let kinds: Vec<_> = speaker.controls.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [
                ControlKind::PeakMeter,
                ControlKind::Mute,
                ControlKind::Volume
            ]
        );
        let meter = speaker.control(ControlKind::PeakMeter).unwrap();
        assert_eq!(meter.node, RENDER_PEAK_NODE);
        let long = SteppedRange {
            delta: 1,
            minimum: i32::MIN,
            maximum: i32::MAX,
        };
        assert_eq!(meter.ranges, [long, long]);
        assert_eq!(meter.values, [0, 0], "{profile}: nothing played yet");
        let level = speaker.control(ControlKind::Volume).unwrap();
        assert_eq!(level.node, RENDER_VOLUME_NODE);
        let step = SteppedRange {
            delta: VOLUME_STEP.unsigned_abs(),
            minimum: VOLUME_MINIMUM,
            maximum: VOLUME_MAXIMUM,
        };
        assert_eq!(level.ranges, [step, step]);
        assert_eq!(level.values, [0, 0]);
        let muted = speaker.control(ControlKind::Mute).unwrap();
        assert_eq!(muted.node, RENDER_MUTE_NODE);
        assert_eq!(muted.ranges.len(), 2);
        assert_eq!(muted.values, [0, 0]);

        let microphone = endpoints.iter().find(|e| e.flow == Flow::Capture).unwrap();
        assert_eq!(microphone.topology, CAPTURE_TOPOLOGY.name);
        assert_eq!(microphone.pin, CAPTURE_TOPOLOGY_MICROPHONE_PIN);
        assert_eq!(microphone.category, KSNODETYPE_MICROPHONE);
        assert_eq!(microphone.name, "Microphone");
        assert_eq!(microphone.wave.1, 1);
        assert!(microphone.connected());
        assert_eq!(microphone.jack.channel_mapping, 0);
        assert_eq!(microphone.jack.color, 0);
        // From the microphone inwards: volume, mute, then the peak meter of what is recorded.
        let kinds: Vec<_> = microphone.controls.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [
                ControlKind::Volume,
                ControlKind::Mute,
                ControlKind::PeakMeter
            ]
        );
        let nodes: Vec<_> = microphone.controls.iter().map(|c| c.node).collect();
        assert_eq!(
            nodes,
            [CAPTURE_VOLUME_NODE, CAPTURE_MUTE_NODE, CAPTURE_PEAK_NODE]
        );
        assert_eq!(
            microphone.control(ControlKind::Volume).unwrap().values,
            [0, 0]
        );

        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

fn the_endpoint_builder_sees_the_values_that_were_set() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let device = bring_up(&sim);
    let set = volume(
        &sim,
        &device,
        KSPROPERTY_TYPE_SET,
        1,
        &(-12 * 65_536i32).to_le_bytes(),
    );
    assert_eq!(set.status, STATUS_SUCCESS);
    mute(&sim, &device, KSPROPERTY_TYPE_SET, 0, &1i32.to_le_bytes());
    let endpoints = sim.endpoints(device.fdo).unwrap();
    let speaker = endpoints.iter().find(|e| e.flow == Flow::Render).unwrap();
    assert_eq!(
        speaker.control(ControlKind::Volume).unwrap().values,
        [0, -12 * 65_536]
    );
    assert_eq!(speaker.control(ControlKind::Mute).unwrap().values, [1, 0]);
    // The builder wrote each value back unchanged.
    assert_eq!(
        i32_of(&volume(&sim, &device, KSPROPERTY_TYPE_GET, 1, &[0; 4]).value),
        -12 * 65_536
    );
    sim.remove_device(device.fdo);
    sim.assert_clean();
}

fn property_requests_are_in_the_trace() {
    let sim = Sim::new(OsProfile::Win10_2004);
    let device = bring_up(&sim);
    let before = sim.trace().len();
    volume(&sim, &device, KSPROPERTY_TYPE_GET, 0, &[0; 4]);
    volume(&sim, &device, KSPROPERTY_TYPE_GET, 9, &[0; 4]);
    let trace = sim.trace();
    let requests: Vec<_> = trace[before..]
        .iter()
        .filter(|e| e.ddi == Ddi::Property)
        .collect();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(
        requests[0].detail.contains("Audio/VOLUMELEVEL GET"),
        "{}",
        requests[0].detail
    );
    assert_eq!(requests[0].status, STATUS_SUCCESS);
    assert_eq!(requests[1].status, STATUS_INVALID_PARAMETER);
    sim.remove_device(device.fdo);
    sim.assert_clean();
}

fn volume_and_mute_round_trip_per_channel() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let device = bring_up(&sim);
    let get = |c| {
        let answer = volume(&sim, &device, KSPROPERTY_TYPE_GET, c, &[0; 4]);
        assert_eq!((answer.status, answer.size), (STATUS_SUCCESS, 4));
        i32_of(&answer.value)
    };
    let set = |c, level: i32| {
        let answer = volume(&sim, &device, KSPROPERTY_TYPE_SET, c, &level.to_le_bytes());
        assert_eq!(answer.status, STATUS_SUCCESS);
    };
    set(1, -20 * 65_536);
    assert_eq!((get(0), get(1)), (0, -20 * 65_536));
    set(0, -65_536 / 2);
    assert_eq!((get(0), get(1)), (-65_536 / 2, -20 * 65_536));
    // Out of range: clamped; between steps: rounded to the nearest.
    set(-1, -200 * 65_536);
    assert_eq!((get(0), get(1)), (VOLUME_MINIMUM, VOLUME_MINIMUM));
    set(0, 12 * 65_536);
    assert_eq!(get(0), VOLUME_MAXIMUM);
    set(0, -VOLUME_STEP / 3);
    assert_eq!(get(0), 0);
    set(1, -VOLUME_STEP * 2 / 3);
    assert_eq!(get(1), -VOLUME_STEP);
    // Channel -1 reads channel 0.
    assert_eq!(get(-1), 0);

    let muted = |c| i32_of(&mute(&sim, &device, KSPROPERTY_TYPE_GET, c, &[0; 4]).value);
    assert_eq!(
        mute(&sim, &device, KSPROPERTY_TYPE_SET, 0, &1i32.to_le_bytes()).status,
        STATUS_SUCCESS
    );
    assert_eq!((muted(0), muted(1)), (1, 0));
    mute(&sim, &device, KSPROPERTY_TYPE_SET, -1, &1i32.to_le_bytes());
    assert_eq!((muted(0), muted(1)), (1, 1));
    mute(&sim, &device, KSPROPERTY_TYPE_SET, 0, &0i32.to_le_bytes());
    assert_eq!((muted(0), muted(1)), (0, 1));
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.remove_device(device.fdo);
    sim.assert_clean();
}

fn size_probes_and_basic_support_answer_by_buffer_size() {
    let sim = Sim::new(OsProfile::Win10_2004);
    let device = bring_up(&sim);
    let support = |len| {
        volume(
            &sim,
            &device,
            KSPROPERTY_TYPE_BASICSUPPORT,
            0,
            &vec![0; len],
        )
    };
    let probe = support(0);
    assert_eq!((probe.status, probe.size), (STATUS_BUFFER_OVERFLOW, 88));
    assert_eq!(support(2).status, STATUS_BUFFER_TOO_SMALL);
    let flags = support(4);
    assert_eq!(
        (flags.status, flags.size, i32_of(&flags.value)),
        (STATUS_SUCCESS, 4, 0x203)
    );
    let head = support(40);
    assert_eq!((head.status, head.size), (STATUS_SUCCESS, 40));
    assert_eq!(i32_of(&head.value[4..]), 88);
    let huge = support(1 << 16);
    assert_eq!((huge.status, huge.size), (STATUS_SUCCESS, 88));
    let get_probe = volume(&sim, &device, KSPROPERTY_TYPE_GET, 0, &[]);
    assert_eq!(
        (get_probe.status, get_probe.size),
        (STATUS_BUFFER_OVERFLOW, 4)
    );

    for (id, size) in [
        (KSPROPERTY_JACK_DESCRIPTION, 36),
        (KSPROPERTY_JACK_DESCRIPTION2, 16),
    ] {
        let name = RENDER_TOPOLOGY.name;
        let pin = RENDER_TOPOLOGY_SPEAKER_PIN;
        let probe = jack(&sim, &device, name, pin, id, KSPROPERTY_TYPE_GET, &[]);
        assert_eq!((probe.status, probe.size), (STATUS_BUFFER_OVERFLOW, size));
        let short = jack(&sim, &device, name, pin, id, KSPROPERTY_TYPE_GET, &[0; 8]);
        assert_eq!((short.status, short.size), (STATUS_BUFFER_TOO_SMALL, 0));
        let full = jack(&sim, &device, name, pin, id, KSPROPERTY_TYPE_GET, &[0; 64]);
        assert_eq!((full.status, full.size), (STATUS_SUCCESS, size));
        assert_eq!(i32_of(&full.value), size.cast_signed());
        let support = jack(
            &sim,
            &device,
            name,
            pin,
            id,
            KSPROPERTY_TYPE_BASICSUPPORT,
            &[0; 4],
        );
        assert_eq!(
            (support.status, i32_of(&support.value)),
            (STATUS_SUCCESS, 0x201)
        );
        let support = jack(
            &sim,
            &device,
            name,
            pin,
            id,
            KSPROPERTY_TYPE_BASICSUPPORT,
            &[],
        );
        assert_eq!((support.status, support.size), (STATUS_BUFFER_OVERFLOW, 40));
    }
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.remove_device(device.fdo);
    sim.assert_clean();
}

fn malformed_requests_are_refused_by_the_driver_and_change_nothing() {
    let sim = Sim::new(OsProfile::Win10_2004);
    let device = bring_up(&sim);
    let get = |c| i32_of(&volume(&sim, &device, KSPROPERTY_TYPE_GET, c, &[0; 4]).value);
    let level = (-30 * 65_536i32).to_le_bytes();
    // Channels the device does not have, missing or short instance data.
    for bad in [2, 7, -2, i32::MIN] {
        let answer = volume(&sim, &device, KSPROPERTY_TYPE_SET, bad, &level);
        assert_eq!((answer.status, answer.size), (STATUS_INVALID_PARAMETER, 0));
    }
    for instance in [&[][..], &[0, 0]] {
        let answer = node(
            &sim,
            &device,
            RENDER_VOLUME_NODE,
            KSPROPERTY_AUDIO_VOLUMELEVEL,
            KSPROPERTY_TYPE_SET,
            instance,
            &level,
        );
        assert_eq!(answer.status, STATUS_INVALID_PARAMETER);
    }
    // Short values.
    let short = volume(&sim, &device, KSPROPERTY_TYPE_SET, 0, &[0x80; 2]);
    assert_eq!(short.status, STATUS_BUFFER_TOO_SMALL);
    let empty = volume(&sim, &device, KSPROPERTY_TYPE_SET, 0, &[]);
    assert_eq!(empty.status, STATUS_BUFFER_TOO_SMALL);
    assert_eq!(
        volume(&sim, &device, KSPROPERTY_TYPE_GET, 0, &[0; 3]).status,
        STATUS_BUFFER_TOO_SMALL
    );
    // Verbs that are not exactly one operation reach the handler (the item allows each part)
    // and are refused there.
    let both = volume(
        &sim,
        &device,
        KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_SET,
        0,
        &level,
    );
    assert_eq!(both.status, STATUS_INVALID_DEVICE_REQUEST);
    assert_eq!((get(0), get(1)), (0, 0));

    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.remove_device(device.fdo);
    sim.assert_clean();
}

fn requests_outside_the_tables_are_answered_by_the_port_and_wrong_pins_by_the_driver() {
    let sim = Sim::new(OsProfile::Win10_1507);
    let device = bring_up(&sim);
    // What the tables do not hold, PortCls answers without calling the driver.
    let mute_on_volume = node(
        &sim,
        &device,
        RENDER_VOLUME_NODE,
        KSPROPERTY_AUDIO_MUTE,
        KSPROPERTY_TYPE_GET,
        &channel(0),
        &[0; 4],
    );
    assert_eq!(mute_on_volume.status, STATUS_NOT_FOUND);
    let unknown_set = sim.property(
        device.fdo,
        RENDER_TOPOLOGY.name,
        Target::Node(RENDER_VOLUME_NODE),
        GUID::from_u128(0x1234),
        KSPROPERTY_AUDIO_VOLUMELEVEL,
        KSPROPERTY_TYPE_GET,
        &channel(0),
        &[0; 4],
    );
    assert_eq!(unknown_set.status, STATUS_PROPSET_NOT_FOUND);
    let no_such_node = node(
        &sim,
        &device,
        7,
        KSPROPERTY_AUDIO_VOLUMELEVEL,
        KSPROPERTY_TYPE_GET,
        &channel(0),
        &[0; 4],
    );
    assert_eq!(no_such_node.status, STATUS_INVALID_PARAMETER);
    let speaker = RENDER_TOPOLOGY.name;
    let jack_set = jack(
        &sim,
        &device,
        speaker,
        RENDER_TOPOLOGY_SPEAKER_PIN,
        KSPROPERTY_JACK_DESCRIPTION,
        KSPROPERTY_TYPE_SET,
        &[0; 36],
    );
    assert_eq!(jack_set.status, STATUS_INVALID_DEVICE_REQUEST);
    let pin_set = sim.property(
        device.fdo,
        speaker,
        Target::Pin(RENDER_TOPOLOGY_SPEAKER_PIN),
        KSPROPSETID_Pin,
        12,
        KSPROPERTY_TYPE_GET,
        &[],
        &[0; 64],
    );
    assert_eq!(pin_set.status, STATUS_PROPSET_NOT_FOUND);
    // The wave filters have no jack properties (only the host pins' proposed formats).
    let wave = jack(
        &sim,
        &device,
        RENDER_WAVE.name,
        1,
        KSPROPERTY_JACK_DESCRIPTION,
        KSPROPERTY_TYPE_GET,
        &[0; 36],
    );
    assert_eq!(wave.status, STATUS_PROPSET_NOT_FOUND);

    // The jack of the internal pin (wired to the wave filter), and pins that do not exist.
    for pin in [RENDER_TOPOLOGY_WAVE_PIN, 2, u32::MAX] {
        let internal = jack(
            &sim,
            &device,
            speaker,
            pin,
            KSPROPERTY_JACK_DESCRIPTION2,
            KSPROPERTY_TYPE_GET,
            &[0; 16],
        );
        assert_eq!(
            (internal.status, internal.size),
            (STATUS_INVALID_PARAMETER, 0)
        );
    }
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.remove_device(device.fdo);
    sim.assert_clean();
}

/// The device, shared by racing threads.
struct SharedDevice<'a>(&'a Device);
// SAFETY: the simulator uses the device's pointers only as keys into its own state, under its
// lock; the driver's property handlers are free-threaded (atomic controls). The device
// outlives the scoped threads.
unsafe impl Sync for SharedDevice<'_> {}

fn concurrent_requests_from_two_threads_leave_valid_values() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let device = bring_up(&sim);
    let shared = SharedDevice(&device);
    let rounds = if cfg!(miri) { 5 } else { 200 };
    std::thread::scope(|scope| {
        for thread in 0..2i32 {
            let (sim, shared) = (&sim, &shared);
            scope.spawn(move || {
                let _binding = sim.bind_current_thread();
                let device = shared.0;
                for round in 0..rounds {
                    let level = -(round * 65_536 / 7) - thread;
                    let set = volume(
                        sim,
                        device,
                        KSPROPERTY_TYPE_SET,
                        thread,
                        &level.to_le_bytes(),
                    );
                    assert_eq!(set.status, STATUS_SUCCESS);
                    let got =
                        i32_of(&volume(sim, device, KSPROPERTY_TYPE_GET, thread, &[0; 4]).value);
                    assert_eq!((got - VOLUME_MINIMUM) % VOLUME_STEP, 0);
                    mute(
                        sim,
                        device,
                        KSPROPERTY_TYPE_SET,
                        -1,
                        &(round % 2).to_le_bytes(),
                    );
                }
            });
        }
    });
    let endpoints = sim.endpoints(device.fdo).unwrap();
    assert_eq!(endpoints.len(), 2);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.remove_device(device.fdo);
    sim.assert_clean();
}

both_drivers!(
    the_endpoint_builder_finds_a_speaker_and_a_microphone_on_every_profile,
    the_endpoint_builder_sees_the_values_that_were_set,
    property_requests_are_in_the_trace,
    volume_and_mute_round_trip_per_channel,
    size_probes_and_basic_support_answer_by_buffer_size,
    malformed_requests_are_refused_by_the_driver_and_change_nothing,
    requests_outside_the_tables_are_answered_by_the_port_and_wrong_pins_by_the_driver,
    concurrent_requests_from_two_threads_leave_valid_values,
);
