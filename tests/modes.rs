//! Audio signal-processing modes and proposed formats in the PortCls model, on every OS profile
//! the driver loads on: each host pin offers RAW and DEFAULT through
//! `IMiniportAudioSignalProcessing::GetModes` (with the documented buffer contract), streams
//! open and run in either mode (and without a mode), an unknown mode or a malformed attribute
//! list is refused with nothing left allocated, and the host pins answer
//! `KSPROPERTY_PIN_PROPOSEDATAFORMAT` (SET and GET) and `KSPROPERTY_PIN_PROPOSEDATAFORMAT2`.

mod common;

use common::{bring_up, format_bytes, loadable_profiles};
use portcls_sim::stream::{mode_attribute_list, with_attribute_list, with_mode};
use portcls_sim::{Device, PropertyOutcome, Sim, Target};
use portcls_sys::ks::{
    AUDIO_SIGNALPROCESSINGMODE_COMMUNICATIONS, AUDIO_SIGNALPROCESSINGMODE_DEFAULT,
    AUDIO_SIGNALPROCESSINGMODE_RAW, KSATTRIBUTE_REQUIRED, KSDATAFORMAT_ATTRIBUTES,
    KSPROPERTY_PIN_PROPOSEDATAFORMAT, KSPROPERTY_PIN_PROPOSEDATAFORMAT2,
    KSPROPERTY_TYPE_BASICSUPPORT, KSPROPERTY_TYPE_GET, KSPROPERTY_TYPE_SET, KSPROPSETID_Pin,
};
use portcls_sys::{
    GUID, NTSTATUS, STATUS_INVALID_PARAMETER, STATUS_NOINTERFACE, STATUS_NOT_SUPPORTED,
    STATUS_SUCCESS,
};
use wavert_sample::descriptors::{
    CAPTURE_WAVE_BRIDGE_PIN, CAPTURE_WAVE_HOST_PIN, RENDER_WAVE_BRIDGE_PIN, RENDER_WAVE_HOST_PIN,
};
use wavert_sample::format::mode::{Mode, parse_format_and_mode};
use wavert_sample::format::{
    Format, STATUS_BUFFER_OVERFLOW, STATUS_BUFFER_TOO_SMALL, STATUS_NO_MATCH, SampleFormat,
};
use wavert_sample::identity::{CAPTURE_TOPOLOGY, CAPTURE_WAVE, RENDER_TOPOLOGY, RENDER_WAVE};

const STOP: u32 = 0;
const RUN: u32 = 3;
/// 2.5 ms in the model's 100 ns units: 120 frames at 48 kHz.
const RUN_TIME: u64 = 25_000;

/// The two wave filters: name, host pin, bridge pin.
const WAVES: [(&str, u32, u32); 2] = [
    (
        RENDER_WAVE.name,
        RENDER_WAVE_HOST_PIN,
        RENDER_WAVE_BRIDGE_PIN,
    ),
    (
        CAPTURE_WAVE.name,
        CAPTURE_WAVE_HOST_PIN,
        CAPTURE_WAVE_BRIDGE_PIN,
    ),
];

/// The modes each host pin must offer, in the driver's order.
const MODES: [GUID; 2] = [
    AUDIO_SIGNALPROCESSINGMODE_RAW,
    AUDIO_SIGNALPROCESSINGMODE_DEFAULT,
];

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

/// `KSP_PIN` instance data after the pin id (the model puts the id and reserved word in
/// front): the attribute list of a `PROPOSEDATAFORMAT2` request.
fn propose2(
    sim: &Sim,
    device: &Device,
    wave: &str,
    pin: u32,
    list: &[u8],
    value: &[u8],
) -> PropertyOutcome {
    sim.property(
        device.fdo,
        wave,
        Target::Pin(pin),
        KSPROPSETID_Pin,
        KSPROPERTY_PIN_PROPOSEDATAFORMAT2,
        KSPROPERTY_TYPE_GET,
        list,
        value,
    )
}

fn propose(
    sim: &Sim,
    device: &Device,
    wave: &str,
    pin: u32,
    verb: u32,
    value: &[u8],
) -> PropertyOutcome {
    sim.property(
        device.fdo,
        wave,
        Target::Pin(pin),
        KSPROPSETID_Pin,
        KSPROPERTY_PIN_PROPOSEDATAFORMAT,
        verb,
        &[],
        value,
    )
}

/// Opens, runs for 2.5 ms and closes a stream on `pin` of `wave` with `format`; returns the
/// play position after the run.
fn run_once(sim: &Sim, device: &Device, wave: &str, pin: u32, format: &[u8]) -> (u64, u64) {
    let mut stream = sim.open_stream(device.fdo, wave, pin, format).unwrap();
    stream.allocate_buffer(2, 1920).unwrap();
    assert_eq!(stream.register_event(), STATUS_SUCCESS);
    assert_eq!(stream.walk_to(RUN), STATUS_SUCCESS);
    sim.advance(RUN_TIME);
    let position = stream.position().unwrap();
    assert_eq!(stream.walk_to(STOP), STATUS_SUCCESS);
    stream.close();
    position
}

fn each_host_pin_offers_raw_and_default_and_no_other_pin_has_modes() {
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        for (wave, host, bridge) in WAVES {
            let modes = sim.signal_processing_modes(device.fdo, wave, host);
            assert_eq!(modes, Ok(MODES.to_vec()), "{profile} {wave}");
            // A bridge pin has no modes; a pin the filter lacks is an invalid parameter.
            assert_eq!(
                sim.signal_processing_modes(device.fdo, wave, bridge),
                Err(STATUS_NOT_SUPPORTED),
                "{profile} {wave}"
            );
            assert_eq!(
                sim.signal_processing_modes(device.fdo, wave, 2),
                Err(STATUS_INVALID_PARAMETER),
                "{profile} {wave}"
            );
        }
        // The topology miniports do not implement the interface.
        for topology in [RENDER_TOPOLOGY.name, CAPTURE_TOPOLOGY.name] {
            assert_eq!(
                sim.get_modes(device.fdo, topology, 0, None),
                Err(STATUS_NOINTERFACE),
                "{profile} {topology}"
            );
        }
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

fn get_modes_counts_with_a_null_buffer_and_refuses_a_short_one() {
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        for (wave, host, _) in WAVES {
            let probe = sim.get_modes(device.fdo, wave, host, None).unwrap();
            assert_eq!((probe.status, probe.count), (STATUS_SUCCESS, 2), "{wave}");
            for room in [0, 1] {
                let short = sim.get_modes(device.fdo, wave, host, Some(room)).unwrap();
                assert_eq!(
                    (short.status, short.count),
                    (STATUS_BUFFER_TOO_SMALL, 2),
                    "{profile} {wave}: room for {room}"
                );
                assert!(short.modes.iter().all(|m| *m == GUID::default()), "{wave}");
            }
            let roomy = sim.get_modes(device.fdo, wave, host, Some(3)).unwrap();
            assert_eq!((roomy.status, roomy.count), (STATUS_SUCCESS, 2), "{wave}");
            assert_eq!(roomy.modes[..2], MODES, "{wave}");
            assert_eq!(
                roomy.modes[2],
                GUID::default(),
                "{wave}: wrote past the count"
            );
        }
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

fn streams_open_and_run_in_raw_in_default_and_without_a_mode() {
    let plain = format_bytes(Format::PREFERRED);
    let formats = [
        ("no mode", plain.clone()),
        ("RAW", with_mode(&plain, AUDIO_SIGNALPROCESSINGMODE_RAW)),
        (
            "DEFAULT",
            with_mode(&plain, AUDIO_SIGNALPROCESSINGMODE_DEFAULT),
        ),
    ];
    // 120 frames of 4 bytes, in a 1920-byte buffer.
    let expected = 120 * 4;
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        for (wave, host, _) in WAVES {
            for (what, format) in &formats {
                let (play, _) = run_once(&sim, &device, wave, host, format);
                assert_eq!(play, expected, "{profile} {wave} {what}");
            }
        }
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

/// Opens `format` on every host pin expecting `status`, with the pool exactly as before and
/// the pin still free afterwards.
fn refused_with_nothing_left(
    sim: &Sim,
    device: &Device,
    format: &[u8],
    status: NTSTATUS,
    what: &str,
) {
    for (wave, host, _) in WAVES {
        let pool = sim.pool_in_use();
        let refused = sim.open_stream(device.fdo, wave, host, format).err();
        assert_eq!(refused, Some(status), "{wave}: {what}");
        assert_eq!(sim.pool_in_use(), pool, "{wave}: {what} left pool behind");
        // The one instance the pin allows is free again.
        let stream = sim
            .open_stream(device.fdo, wave, host, &format_bytes(Format::PREFERRED))
            .unwrap();
        stream.close();
    }
}

fn an_unknown_mode_is_refused_with_nothing_left_allocated() {
    let plain = format_bytes(Format::PREFERRED);
    let communications = with_mode(&plain, AUDIO_SIGNALPROCESSINGMODE_COMMUNICATIONS);
    let made_up = with_mode(
        &plain,
        GUID::from_u128(0x0123_4567_89AB_CDEF_0123_4567_89AB_CDEF),
    );
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        refused_with_nothing_left(
            &sim,
            &device,
            &communications,
            STATUS_NOT_SUPPORTED,
            "COMMUNICATIONS",
        );
        refused_with_nothing_left(
            &sim,
            &device,
            &made_up,
            STATUS_NOT_SUPPORTED,
            "a made-up mode",
        );
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

/// Attribute lists the driver must refuse: what is wrong, the bytes, the status.
fn broken_lists() -> Vec<(&'static str, Vec<u8>, NTSTATUS)> {
    let good = mode_attribute_list(AUDIO_SIGNALPROCESSINGMODE_RAW);
    let with = |at: usize, word: u32| {
        let mut list = good.clone();
        list[at..at + 4].copy_from_slice(&word.to_le_bytes());
        list
    };
    let mut twice = good.clone();
    twice[0..4].copy_from_slice(&88u32.to_le_bytes());
    twice[4..8].copy_from_slice(&2u32.to_le_bytes());
    twice.extend_from_slice(&good[8..]);
    vec![
        (
            "a count beyond the attributes",
            with(4, 2),
            STATUS_INVALID_PARAMETER,
        ),
        (
            "an attribute larger than the list",
            with(8, 48),
            STATUS_INVALID_PARAMETER,
        ),
        (
            "an attribute smaller than its header",
            with(8, 16),
            STATUS_INVALID_PARAMETER,
        ),
        (
            "a mode attribute of 32 bytes",
            with(8, 32),
            STATUS_INVALID_PARAMETER,
        ),
        ("two mode attributes", twice, STATUS_INVALID_PARAMETER),
        (
            "an unknown required attribute",
            {
                let mut list = with(12, KSATTRIBUTE_REQUIRED);
                list[16] ^= 0xFF; // no longer the mode attribute's id
                list
            },
            STATUS_NOT_SUPPORTED,
        ),
    ]
}

fn malformed_attribute_lists_are_refused_with_nothing_left_allocated() {
    let plain = format_bytes(Format::PREFERRED);
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        for (what, list, status) in broken_lists() {
            let format = with_attribute_list(&plain, &list);
            refused_with_nothing_left(&sim, &device, &format, status, what);
        }
        // KS itself refuses a list whose size does not end the request, before the driver.
        let mut lying = with_mode(&plain, AUDIO_SIGNALPROCESSINGMODE_RAW);
        lying[104..108].copy_from_slice(&40u32.to_le_bytes());
        refused_with_nothing_left(
            &sim,
            &device,
            &lying,
            STATUS_INVALID_PARAMETER,
            "KS: list size",
        );
        // An unsupported format with a good mode keeps the format's status.
        let mono = {
            let mut bytes = with_mode(&plain, AUDIO_SIGNALPROCESSINGMODE_RAW);
            bytes[68..72].copy_from_slice(&8_000u32.to_le_bytes());
            bytes[72..76].copy_from_slice(&32_000u32.to_le_bytes());
            bytes
        };
        refused_with_nothing_left(&sim, &device, &mono, STATUS_NO_MATCH, "an 8 kHz format");
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

fn proposed_format_set_accepts_streamable_formats_and_refuses_others() {
    let float = Format::new(SampleFormat::Float32, 2, 44_100).unwrap();
    let mut eight_khz = format_bytes(Format::PREFERRED);
    eight_khz[68..72].copy_from_slice(&8_000u32.to_le_bytes());
    eight_khz[72..76].copy_from_slice(&32_000u32.to_le_bytes());
    let mut lying = format_bytes(Format::PREFERRED);
    lying[0..4].copy_from_slice(&200u32.to_le_bytes());
    let cases: [(&str, Vec<u8>, NTSTATUS); 6] = [
        (
            "the preferred format",
            format_bytes(Format::PREFERRED),
            STATUS_SUCCESS,
        ),
        ("44.1 kHz float", format_bytes(float), STATUS_SUCCESS),
        (
            "the preferred format in RAW",
            with_mode(
                &format_bytes(Format::PREFERRED),
                AUDIO_SIGNALPROCESSINGMODE_RAW,
            ),
            STATUS_SUCCESS,
        ),
        ("8 kHz", eight_khz, STATUS_NO_MATCH),
        (
            "a FormatSize beyond the value",
            lying,
            STATUS_INVALID_PARAMETER,
        ),
        ("81 bytes", vec![0; 81], STATUS_BUFFER_TOO_SMALL),
    ];
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        for (wave, host, bridge) in WAVES {
            for (what, value, status) in &cases {
                let answer = propose(&sim, &device, wave, host, KSPROPERTY_TYPE_SET, value);
                assert_eq!(
                    (answer.status, answer.size),
                    (*status, 0),
                    "{profile} {wave}: {what}"
                );
            }
            let format = format_bytes(Format::PREFERRED);
            let bridge_answer = propose(&sim, &device, wave, bridge, KSPROPERTY_TYPE_SET, &format);
            assert_eq!(bridge_answer.status, STATUS_NOT_SUPPORTED, "{wave}");
            let missing = propose(&sim, &device, wave, 7, KSPROPERTY_TYPE_SET, &format);
            assert_eq!(missing.status, STATUS_INVALID_PARAMETER, "{wave}");
        }
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

fn proposed_format_get_probes_then_answers_the_preferred_format() {
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        for (wave, host, _) in WAVES {
            let probe = propose(&sim, &device, wave, host, KSPROPERTY_TYPE_GET, &[]);
            assert_eq!(
                (probe.status, probe.size),
                (STATUS_BUFFER_OVERFLOW, 104),
                "{wave}"
            );
            let short = propose(&sim, &device, wave, host, KSPROPERTY_TYPE_GET, &[0; 103]);
            assert_eq!(
                (short.status, short.size),
                (STATUS_BUFFER_TOO_SMALL, 0),
                "{wave}"
            );
            let answer = propose(&sim, &device, wave, host, KSPROPERTY_TYPE_GET, &[0; 104]);
            assert_eq!(
                (answer.status, answer.size),
                (STATUS_SUCCESS, 104),
                "{wave}"
            );
            assert_eq!(answer.value, format_bytes(Format::PREFERRED), "{wave}");
            let support = propose(
                &sim,
                &device,
                wave,
                host,
                KSPROPERTY_TYPE_BASICSUPPORT,
                &[0; 40],
            );
            assert_eq!(
                (support.status, support.size),
                (STATUS_SUCCESS, 40),
                "{wave}"
            );
            assert_eq!(
                u32_at(&support.value, 0),
                KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_SET | KSPROPERTY_TYPE_BASICSUPPORT
            );
        }
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

fn proposed_format2_answers_each_mode_and_refuses_others() {
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        for (wave, host, bridge) in WAVES {
            for (mode, guid) in [(Mode::Raw, MODES[0]), (Mode::Default, MODES[1])] {
                let list = mode_attribute_list(guid);
                let probe = propose2(&sim, &device, wave, host, &list, &[]);
                assert_eq!(
                    (probe.status, probe.size),
                    (STATUS_BUFFER_OVERFLOW, 152),
                    "{wave}"
                );
                let short = propose2(&sim, &device, wave, host, &list, &[0; 151]);
                assert_eq!(short.status, STATUS_BUFFER_TOO_SMALL, "{wave}");
                let answer = propose2(&sim, &device, wave, host, &list, &[0; 152]);
                assert_eq!(
                    (answer.status, answer.size),
                    (STATUS_SUCCESS, 152),
                    "{wave}"
                );
                assert_eq!(u32_at(&answer.value, 4), KSDATAFORMAT_ATTRIBUTES, "{wave}");
                assert_eq!(
                    parse_format_and_mode(&answer.value),
                    Ok((Format::PREFERRED, mode)),
                    "{profile} {wave}: the answer is the preferred format in that mode"
                );
            }
            let other = mode_attribute_list(AUDIO_SIGNALPROCESSINGMODE_COMMUNICATIONS);
            let refused = propose2(&sim, &device, wave, host, &other, &[0; 152]);
            assert_eq!(
                (refused.status, refused.size),
                (STATUS_NOT_SUPPORTED, 0),
                "{wave}"
            );
            for (what, list, status) in broken_lists() {
                let answer = propose2(&sim, &device, wave, host, &list, &[]);
                assert_eq!((answer.status, answer.size), (status, 0), "{wave}: {what}");
            }
            let no_list = propose2(&sim, &device, wave, host, &[], &[0; 152]);
            assert_eq!(no_list.status, STATUS_INVALID_PARAMETER, "{wave}: no list");
            let raw = mode_attribute_list(AUDIO_SIGNALPROCESSINGMODE_RAW);
            let at_bridge = propose2(&sim, &device, wave, bridge, &raw, &[0; 152]);
            assert_eq!(at_bridge.status, STATUS_NOT_SUPPORTED, "{wave}: bridge pin");
            let missing = propose2(&sim, &device, wave, 7, &raw, &[0; 152]);
            assert_eq!(missing.status, STATUS_INVALID_PARAMETER, "{wave}: no pin 7");
            // GET only: a SET is refused by the item's flags before the handler.
            let set = sim.property(
                device.fdo,
                wave,
                Target::Pin(host),
                KSPROPSETID_Pin,
                KSPROPERTY_PIN_PROPOSEDATAFORMAT2,
                KSPROPERTY_TYPE_SET,
                &raw,
                &format_bytes(Format::PREFERRED),
            );
            assert_eq!(
                set.status,
                portcls_sim::property::STATUS_INVALID_DEVICE_REQUEST,
                "{wave}"
            );
        }
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

both_drivers!(
    each_host_pin_offers_raw_and_default_and_no_other_pin_has_modes,
    get_modes_counts_with_a_null_buffer_and_refuses_a_short_one,
    streams_open_and_run_in_raw_in_default_and_without_a_mode,
    an_unknown_mode_is_refused_with_nothing_left_allocated,
    malformed_attribute_lists_are_refused_with_nothing_left_allocated,
    proposed_format_set_accepts_streamable_formats_and_refuses_others,
    proposed_format_get_probes_then_answers_the_preferred_format,
    proposed_format2_answers_each_mode_and_refuses_others,
);
