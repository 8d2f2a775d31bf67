//! The topology properties as PortCls routes them, and the endpoint builder's view of the
//! device: both endpoints appear with their jacks and controls, volume and mute round-trip per
//! channel, and malformed requests are refused with clear statuses, changing nothing.

mod common;

use common::{bring_up, loadable_profiles};
use portcls_sim::ks_client::parse_guids;
use portcls_sim::port_properties::{
    KSPROPERTY_TOPOLOGY_CATEGORIES, KSPROPERTY_TOPOLOGY_NAME, KSPROPSETID_Topology,
    STATUS_INVALID_BUFFER_SIZE,
};
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
use portcls_sys::ks::{
    KSCATEGORY_AUDIO, KSCATEGORY_TOPOLOGY, KSDATAFORMAT_SUBTYPE_ANALOG, KSDATAFORMAT_SUBTYPE_PCM,
    KSNODETYPE_MUTE, KSNODETYPE_PEAKMETER, KSNODETYPE_VOLUME, KSPROPERTY_PIN_CATEGORY,
    KSPROPERTY_PIN_CONSTRAINEDDATARANGES, KSPROPERTY_PIN_DATAFLOW, KSPROPERTY_PIN_DATARANGES,
    KSPROPERTY_PIN_GLOBALCINSTANCES, KSPROPERTY_PIN_INTERFACES, KSPROPERTY_PIN_MEDIUMS,
    KSPROPERTY_PIN_NECESSARYINSTANCES,
};
use portcls_sys::{GUID, STATUS_INVALID_PARAMETER, STATUS_SUCCESS};
use wavert_sample::descriptors::{
    CAPTURE_MUTE_NODE, CAPTURE_PEAK_NODE, CAPTURE_TOPOLOGY_MICROPHONE_PIN, CAPTURE_VOLUME_NODE,
    CAPTURE_WAVE_HOST_PIN, HOST_DATA_RANGE_COUNT, RENDER_MUTE_NODE, RENDER_PEAK_NODE,
    RENDER_TOPOLOGY_SPEAKER_PIN, RENDER_TOPOLOGY_WAVE_PIN, RENDER_VOLUME_NODE,
    RENDER_WAVE_HOST_PIN,
};
use wavert_sample::format::{STATUS_BUFFER_OVERFLOW, STATUS_BUFFER_TOO_SMALL};
use wavert_sample::identity::{CAPTURE_TOPOLOGY, CAPTURE_WAVE, RENDER_TOPOLOGY, RENDER_WAVE};
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
    // The pin set is PortCls's own: it answers the name from the pin's category.
    let speakers: Vec<u8> = "Speakers\0"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    assert_eq!((pin_set.status, pin_set.size), (STATUS_SUCCESS, 18));
    assert_eq!(pin_set.value[..18], speakers);
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

/// A GET of a PortCls pin property of pin `pin` of `filter` into `capacity` bytes.
fn pin_get(
    sim: &Sim,
    device: &Device,
    filter: &str,
    pin: u32,
    id: u32,
    capacity: usize,
) -> PropertyOutcome {
    sim.property(
        device.fdo,
        filter,
        Target::Pin(pin),
        KSPROPSETID_Pin,
        id,
        KSPROPERTY_TYPE_GET,
        &[],
        &vec![0; capacity],
    )
}

fn the_port_answers_pin_properties_from_the_descriptors() {
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        // Pin counts, flows, communication and categories of every filter.
        let expected = [
            (
                RENDER_WAVE.name,
                [(1, 1, KSCATEGORY_AUDIO), (2, 0, KSCATEGORY_AUDIO)],
            ),
            (
                CAPTURE_WAVE.name,
                [(1, 0, KSCATEGORY_AUDIO), (2, 1, KSCATEGORY_AUDIO)],
            ),
            (
                RENDER_TOPOLOGY.name,
                [(1, 0, KSCATEGORY_AUDIO), (2, 0, KSNODETYPE_SPEAKER)],
            ),
            (
                CAPTURE_TOPOLOGY.name,
                [(1, 0, KSNODETYPE_MICROPHONE), (2, 0, KSCATEGORY_AUDIO)],
            ),
        ];
        for (filter, pins) in expected {
            assert_eq!(
                sim.pin_count(device.fdo, filter),
                Ok(2),
                "{profile} {filter}"
            );
            for (pin, (data_flow, communication, category)) in (0..).zip(pins) {
                let facts = sim.pin_facts(device.fdo, filter, pin).unwrap();
                assert_eq!(
                    (facts.data_flow, facts.communication, facts.category),
                    (data_flow, communication, category),
                    "{profile} {filter} pin {pin}"
                );
                assert_eq!(
                    pin_get(
                        &sim,
                        &device,
                        filter,
                        pin,
                        KSPROPERTY_PIN_NECESSARYINSTANCES,
                        4
                    )
                    .value,
                    0u32.to_le_bytes()
                );
                // No interfaces or mediums declared: the standard ones, one each.
                for id in [KSPROPERTY_PIN_INTERFACES, KSPROPERTY_PIN_MEDIUMS] {
                    let list = pin_get(&sim, &device, filter, pin, id, 64);
                    assert_eq!((list.status, list.size), (STATUS_SUCCESS, 32));
                    assert_eq!(list.value[..8], [32, 0, 0, 0, 1, 0, 0, 0]);
                }
            }
        }
        // Both host pins offer one range per sample format, PCM among them; the bridge pins
        // one analog range.
        for (filter, host, bridge) in [
            (RENDER_WAVE.name, RENDER_WAVE_HOST_PIN, 1),
            (CAPTURE_WAVE.name, CAPTURE_WAVE_HOST_PIN, 0),
        ] {
            let ranges = sim.pin_data_ranges(device.fdo, filter, host).unwrap();
            assert_eq!(ranges.len(), HOST_DATA_RANGE_COUNT, "{profile} {filter}");
            assert!(
                ranges
                    .iter()
                    .any(|r| r.sub_format == KSDATAFORMAT_SUBTYPE_PCM)
            );
            assert!(ranges.iter().all(|r| r.audio.is_some()));
            let analog = sim.pin_data_ranges(device.fdo, filter, bridge).unwrap();
            assert_eq!(analog.len(), 1);
            assert_eq!(analog[0].sub_format, KSDATAFORMAT_SUBTYPE_ANALOG);
            let constrained = pin_get(
                &sim,
                &device,
                filter,
                host,
                KSPROPERTY_PIN_CONSTRAINEDDATARANGES,
                4096,
            );
            let plain = pin_get(&sim, &device, filter, host, KSPROPERTY_PIN_DATARANGES, 4096);
            assert_eq!(constrained, plain, "no constrained ranges: the ranges");
        }
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

fn the_port_answers_topology_properties_and_names_from_the_descriptors() {
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        // Both topologies: volume, mute, then the peak meter, four connections; the render
        // topology's categories; node names from the node's name GUID.
        for filter in [RENDER_TOPOLOGY.name, CAPTURE_TOPOLOGY.name] {
            let nodes = sim.topology_nodes(device.fdo, filter).unwrap();
            assert_eq!(
                nodes,
                [KSNODETYPE_VOLUME, KSNODETYPE_MUTE, KSNODETYPE_PEAKMETER],
                "{profile} {filter}"
            );
            let edges = sim.topology_connections(device.fdo, filter).unwrap();
            assert_eq!(edges.len(), 4, "{profile} {filter}");
        }
        let categories = sim.ks_sized(
            device.fdo,
            RENDER_TOPOLOGY.name,
            Target::Filter,
            (KSPROPSETID_Topology, KSPROPERTY_TOPOLOGY_CATEGORIES),
        );
        assert_eq!(
            parse_guids(&categories.unwrap()).unwrap(),
            [KSCATEGORY_AUDIO, KSCATEGORY_TOPOLOGY]
        );
        let name = sim.property(
            device.fdo,
            RENDER_TOPOLOGY.name,
            Target::Filter,
            KSPROPSETID_Topology,
            KSPROPERTY_TOPOLOGY_NAME,
            KSPROPERTY_TYPE_GET,
            &[RENDER_VOLUME_NODE.to_le_bytes(), [0; 4]].concat(),
            &[0; 64],
        );
        let master: Vec<u8> = "Master Volume\0"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!((name.status, name.size), (STATUS_SUCCESS, 28));
        assert_eq!(name.value[..28], master);
        // Names: the endpoint pins have their category's; the wave filter's host pin (category
        // KSCATEGORY_AUDIO) none to be found.
        assert_eq!(
            sim.pin_name(
                device.fdo,
                CAPTURE_TOPOLOGY.name,
                CAPTURE_TOPOLOGY_MICROPHONE_PIN
            ),
            Ok(Some("Microphone".to_owned()))
        );
        assert_eq!(
            sim.pin_name(device.fdo, RENDER_WAVE.name, RENDER_WAVE_HOST_PIN),
            Ok(None)
        );
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

fn cinstances_counts_the_streams_open_on_the_pin() {
    let sim = Sim::new(OsProfile::Win10_2004);
    let device = bring_up(&sim);
    let instances = |pin| {
        sim.pin_instances(device.fdo, RENDER_WAVE.name, pin)
            .unwrap()
    };
    let (possible, none) = instances(RENDER_WAVE_HOST_PIN);
    assert!(possible >= 1);
    assert_eq!(none, 0);
    let format = common::format_bytes(wavert_sample::format::Format::PREFERRED);
    let stream = sim
        .open_stream(device.fdo, RENDER_WAVE.name, RENDER_WAVE_HOST_PIN, &format)
        .unwrap();
    assert_eq!(instances(RENDER_WAVE_HOST_PIN), (possible, 1));
    let global = pin_get(
        &sim,
        &device,
        RENDER_WAVE.name,
        RENDER_WAVE_HOST_PIN,
        KSPROPERTY_PIN_GLOBALCINSTANCES,
        8,
    );
    assert_eq!(global.value[4..], 1u32.to_le_bytes());
    // The bridge pin has no instances, and the capture filter's host pin none open.
    assert_eq!(instances(1), (0, 0));
    assert_eq!(
        sim.pin_instances(device.fdo, CAPTURE_WAVE.name, CAPTURE_WAVE_HOST_PIN)
            .unwrap()
            .1,
        0
    );
    stream.close();
    assert_eq!(instances(RENDER_WAVE_HOST_PIN), (possible, 0));
    sim.remove_device(device.fdo);
    sim.assert_clean();
}

fn port_answers_probe_refuse_are_traced_and_failed_queries_name_the_request() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let device = bring_up(&sim);
    let filter = RENDER_WAVE.name;
    let before = sim.trace().len();
    // Fixed size: a probe gets the size, a short buffer is too small.
    let probe = pin_get(&sim, &device, filter, 0, KSPROPERTY_PIN_CATEGORY, 0);
    assert_eq!((probe.status, probe.size), (STATUS_BUFFER_OVERFLOW, 16));
    let short = pin_get(&sim, &device, filter, 0, KSPROPERTY_PIN_CATEGORY, 15);
    assert_eq!(short.status, STATUS_BUFFER_TOO_SMALL);
    // A list: probe, the total size alone, the header alone, too small.
    let probe = pin_get(&sim, &device, filter, 0, KSPROPERTY_PIN_DATARANGES, 0);
    assert_eq!(probe.status, STATUS_BUFFER_OVERFLOW);
    let total = probe.size;
    let size = pin_get(&sim, &device, filter, 0, KSPROPERTY_PIN_DATARANGES, 4);
    assert_eq!(
        (size.status, size.value),
        (STATUS_SUCCESS, total.to_le_bytes().to_vec())
    );
    let header = pin_get(&sim, &device, filter, 0, KSPROPERTY_PIN_DATARANGES, 8);
    assert_eq!((header.status, header.size), (STATUS_SUCCESS, 8));
    assert_eq!(
        header.value[4..],
        u32::try_from(HOST_DATA_RANGE_COUNT).unwrap().to_le_bytes()
    );
    let short = pin_get(
        &sim,
        &device,
        filter,
        0,
        KSPROPERTY_PIN_DATARANGES,
        total as usize - 1,
    );
    assert_eq!(short.status, STATUS_BUFFER_TOO_SMALL);
    // A pin the filter does not have; a request without the KSP_PIN; a SET.
    for pin in [2, u32::MAX] {
        let none = pin_get(&sim, &device, filter, pin, KSPROPERTY_PIN_DATAFLOW, 4);
        assert_eq!(none.status, STATUS_INVALID_PARAMETER);
    }
    let bare = sim.property(
        device.fdo,
        filter,
        Target::Filter,
        KSPROPSETID_Pin,
        KSPROPERTY_PIN_DATAFLOW,
        KSPROPERTY_TYPE_GET,
        &[],
        &[0; 4],
    );
    assert_eq!(bare.status, STATUS_INVALID_BUFFER_SIZE);
    let set = sim.property(
        device.fdo,
        filter,
        Target::Pin(0),
        KSPROPSETID_Pin,
        KSPROPERTY_PIN_DATAFLOW,
        KSPROPERTY_TYPE_SET,
        &[],
        &1u32.to_le_bytes(),
    );
    assert_eq!(set.status, STATUS_INVALID_DEVICE_REQUEST);
    // A client's queries turn failed answers into errors naming the request and the status.
    let invalid = portcls_sim::status_name(STATUS_INVALID_PARAMETER);
    let facts = sim.pin_facts(device.fdo, filter, 2).unwrap_err();
    assert!(
        facts.contains("Pin/DATAFLOW") && facts.contains(&invalid),
        "{facts}"
    );
    let ranges = sim.pin_data_ranges(device.fdo, filter, 2).unwrap_err();
    assert!(
        ranges.contains("Pin/DATARANGES: the size probe") && ranges.contains(&invalid),
        "{ranges}"
    );
    let trace = sim.trace();
    let answers: Vec<_> = trace[before..]
        .iter()
        .filter(|e| e.ddi == Ddi::Property && e.detail.contains("answered by the port"))
        .collect();
    // Ten requests above, and the two the failed queries made.
    assert_eq!(answers.len(), 12, "{answers:?}");
    assert!(
        answers[0].detail.contains("Pin/CATEGORY GET (0 bytes)"),
        "{}",
        answers[0].detail
    );
    assert_eq!(answers[0].status, STATUS_BUFFER_OVERFLOW);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.remove_device(device.fdo);
    sim.assert_clean();
}

both_drivers!(
    the_port_answers_pin_properties_from_the_descriptors,
    the_port_answers_topology_properties_and_names_from_the_descriptors,
    cinstances_counts_the_streams_open_on_the_pin,
    port_answers_probe_refuse_are_traced_and_failed_queries_name_the_request,
    the_endpoint_builder_finds_a_speaker_and_a_microphone_on_every_profile,
    the_endpoint_builder_sees_the_values_that_were_set,
    property_requests_are_in_the_trace,
    volume_and_mute_round_trip_per_channel,
    size_probes_and_basic_support_answer_by_buffer_size,
    malformed_requests_are_refused_by_the_driver_and_change_nothing,
    requests_outside_the_tables_are_answered_by_the_port_and_wrong_pins_by_the_driver,
    concurrent_requests_from_two_threads_leave_valid_values,
);
