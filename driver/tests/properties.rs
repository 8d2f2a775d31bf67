//! The topology properties as PortCls routes them, and the endpoint builder's view of the
//! device: both endpoints appear, volume and mute round-trip per channel, and malformed
//! requests are refused with clear statuses, changing nothing.

mod common;

use common::bring_up;
use portcls_sim::{OsProfile, Sim, Target};
use portcls_sys::ks::{
    KSNODETYPE_MICROPHONE, KSNODETYPE_SPEAKER, KSPROPERTY_AUDIO_MUTE, KSPROPERTY_AUDIO_VOLUMELEVEL,
    KSPROPERTY_JACK_DESCRIPTION, KSPROPERTY_JACK_DESCRIPTION2, KSPROPERTY_TYPE_BASICSUPPORT,
    KSPROPERTY_TYPE_GET, KSPROPERTY_TYPE_SET, KSPROPSETID_Audio, KSPROPSETID_Jack,
};
use portcls_sys::{STATUS_INVALID_PARAMETER, STATUS_SUCCESS};
use wavert_sample::descriptors::{
    CAPTURE_TOPOLOGY_MICROPHONE_PIN, RENDER_MUTE_NODE, RENDER_TOPOLOGY_SPEAKER_PIN,
    RENDER_VOLUME_NODE,
};
use wavert_sample::format::{STATUS_BUFFER_OVERFLOW, STATUS_BUFFER_TOO_SMALL};
use wavert_sample::identity::{CAPTURE_TOPOLOGY, RENDER_TOPOLOGY};
use wavert_sample::properties::{VOLUME_MINIMUM, VOLUME_STEP};

fn channel(c: i32) -> Vec<u8> {
    let mut out = c.to_le_bytes().to_vec();
    out.extend_from_slice(&0u32.to_le_bytes());
    out
}

fn i32_of(bytes: &[u8]) -> i32 {
    i32::from_le_bytes(bytes[..4].try_into().unwrap())
}

#[test]
fn the_endpoint_builder_finds_both_endpoints() {
    for profile in OsProfile::ALL {
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        let endpoints = sim.endpoints(device.fdo).unwrap();
        assert_eq!(endpoints.len(), 2, "{profile}: {endpoints:?}");
        let speaker = endpoints.iter().find(|e| e.render).unwrap();
        assert_eq!(speaker.topology, RENDER_TOPOLOGY.name);
        assert_eq!(speaker.pin, RENDER_TOPOLOGY_SPEAKER_PIN);
        assert_eq!(speaker.category, KSNODETYPE_SPEAKER);
        assert_eq!(speaker.wave, ("WaveSpeaker".to_owned(), 0));
        // From the speaker inwards: mute, then volume.
        assert_eq!(speaker.controls, ["mute", "volume"]);
        assert!(speaker.connected);
        let microphone = endpoints.iter().find(|e| !e.render).unwrap();
        assert_eq!(microphone.topology, CAPTURE_TOPOLOGY.name);
        assert_eq!(microphone.pin, CAPTURE_TOPOLOGY_MICROPHONE_PIN);
        assert_eq!(microphone.category, KSNODETYPE_MICROPHONE);
        assert_eq!(microphone.wave, ("WaveMicrophone".to_owned(), 1));
        assert!(microphone.controls.is_empty());
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

#[test]
fn volume_and_mute_round_trip_per_channel() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let device = bring_up(&sim);
    let name = RENDER_TOPOLOGY.name;
    let volume = |verb, c, value: Vec<u8>| {
        sim.property(
            device.fdo,
            name,
            Target::Node(RENDER_VOLUME_NODE),
            KSPROPSETID_Audio,
            KSPROPERTY_AUDIO_VOLUMELEVEL,
            verb,
            &channel(c),
            &value,
        )
    };
    let set = volume(
        KSPROPERTY_TYPE_SET,
        1,
        (-20 * 65_536i32).to_le_bytes().to_vec(),
    );
    assert_eq!(set.status, STATUS_SUCCESS);
    let left = volume(KSPROPERTY_TYPE_GET, 0, vec![0; 4]);
    let right = volume(KSPROPERTY_TYPE_GET, 1, vec![0; 4]);
    assert_eq!((left.status, left.size), (STATUS_SUCCESS, 4));
    assert_eq!(i32_of(&left.value), 0);
    assert_eq!(i32_of(&right.value), -20 * 65_536);
    // Out of range: clamped and on the step grid.
    volume(
        KSPROPERTY_TYPE_SET,
        -1,
        (-200 * 65_536i32).to_le_bytes().to_vec(),
    );
    let both = volume(KSPROPERTY_TYPE_GET, 1, vec![0; 4]);
    assert_eq!(i32_of(&both.value), VOLUME_MINIMUM);
    volume(
        KSPROPERTY_TYPE_SET,
        0,
        (VOLUME_STEP / 3).to_le_bytes().to_vec(),
    );
    assert_eq!(i32_of(&volume(KSPROPERTY_TYPE_GET, 0, vec![0; 4]).value), 0);

    let mute = |verb, c, value: Vec<u8>| {
        sim.property(
            device.fdo,
            name,
            Target::Node(RENDER_MUTE_NODE),
            KSPROPSETID_Audio,
            KSPROPERTY_AUDIO_MUTE,
            verb,
            &channel(c),
            &value,
        )
    };
    assert_eq!(
        mute(KSPROPERTY_TYPE_SET, 0, 1i32.to_le_bytes().to_vec()).status,
        STATUS_SUCCESS
    );
    assert_eq!(i32_of(&mute(KSPROPERTY_TYPE_GET, 0, vec![0; 4]).value), 1);
    assert_eq!(i32_of(&mute(KSPROPERTY_TYPE_GET, 1, vec![0; 4]).value), 0);
    sim.remove_device(device.fdo);
    sim.assert_clean();
}

#[test]
fn malformed_requests_are_refused_and_change_nothing() {
    let sim = Sim::new(OsProfile::Win10_2004);
    let device = bring_up(&sim);
    let name = RENDER_TOPOLOGY.name;
    let volume = |verb, instance: &[u8], value: Vec<u8>| {
        sim.property(
            device.fdo,
            name,
            Target::Node(RENDER_VOLUME_NODE),
            KSPROPSETID_Audio,
            KSPROPERTY_AUDIO_VOLUMELEVEL,
            verb,
            instance,
            &value,
        )
    };
    let get = |c| i32_of(&volume(KSPROPERTY_TYPE_GET, &channel(c), vec![0; 4]).value);
    // A channel the device does not have, missing instance data, short values.
    let bad = volume(KSPROPERTY_TYPE_SET, &channel(7), vec![0; 4]);
    assert_eq!(bad.status, STATUS_INVALID_PARAMETER);
    assert_eq!(
        volume(KSPROPERTY_TYPE_SET, &[], vec![0; 4]).status,
        STATUS_INVALID_PARAMETER
    );
    let short = volume(KSPROPERTY_TYPE_SET, &channel(0), vec![0x80; 2]);
    assert_eq!(short.status, STATUS_BUFFER_TOO_SMALL);
    assert_eq!((get(0), get(1)), (0, 0));
    // Size probes report the size with STATUS_BUFFER_OVERFLOW.
    let probe = volume(KSPROPERTY_TYPE_GET, &channel(0), Vec::new());
    assert_eq!((probe.status, probe.size), (STATUS_BUFFER_OVERFLOW, 4));
    let support = volume(KSPROPERTY_TYPE_BASICSUPPORT, &[], Vec::new());
    assert_eq!((support.status, support.size), (STATUS_BUFFER_OVERFLOW, 88));
    // A huge buffer gets the same answer, sized to what was written.
    let huge = volume(KSPROPERTY_TYPE_BASICSUPPORT, &[], vec![0; 1 << 16]);
    assert_eq!((huge.status, huge.size), (STATUS_SUCCESS, 88));
    // Properties the node does not have, and verbs its item does not allow: PortCls answers.
    let mute_on_volume = sim.property(
        device.fdo,
        name,
        Target::Node(RENDER_VOLUME_NODE),
        KSPROPSETID_Audio,
        KSPROPERTY_AUDIO_MUTE,
        KSPROPERTY_TYPE_GET,
        &channel(0),
        &[0; 4],
    );
    assert_eq!(
        mute_on_volume.status,
        portcls_sim::property::STATUS_NOT_FOUND
    );
    let jack_set = sim.property(
        device.fdo,
        name,
        Target::Pin(RENDER_TOPOLOGY_SPEAKER_PIN),
        KSPROPSETID_Jack,
        KSPROPERTY_JACK_DESCRIPTION,
        KSPROPERTY_TYPE_SET,
        &[],
        &[0; 36],
    );
    assert_eq!(
        jack_set.status,
        portcls_sim::property::STATUS_INVALID_DEVICE_REQUEST
    );
    // The jack of the internal pin (wired to the wave filter): none.
    let internal = sim.property(
        device.fdo,
        name,
        Target::Pin(0),
        KSPROPSETID_Jack,
        KSPROPERTY_JACK_DESCRIPTION2,
        KSPROPERTY_TYPE_GET,
        &[],
        &[0; 16],
    );
    assert_eq!(internal.status, STATUS_INVALID_PARAMETER);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.remove_device(device.fdo);
    sim.assert_clean();
}
