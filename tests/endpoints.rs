//! Everything Windows's endpoint builder reads for the sample's two endpoints, together, under
//! every OS profile the driver loads on, on the host build and the image: the endpoints the
//! model's endpoint builder finds (`Sim::endpoints`), their controls (volume, mute and a peak
//! meter on each) and jacks, the signal-processing modes of the wave pin behind each (asked as
//! PortCls asks, through `IMiniportAudioSignalProcessing`), and the endpoint keys the INF writes
//! on each topology interface (`EP\0`), event-driven mode included, which only holds if the
//! host pin's streams support the notification interface.

mod common;

#[allow(dead_code)] // the INF reader's full surface; this test reads a few keys with it
#[path = "../driver/tests/inf/parse.rs"]
mod parse;

use common::{bring_up, format_bytes, loadable_profiles};
use portcls_sim::property::{ControlKind, Flow, Target};
use portcls_sim::{Device, Sim};
use portcls_sys::ks::{
    AUDIO_SIGNALPROCESSINGMODE_DEFAULT, AUDIO_SIGNALPROCESSINGMODE_RAW,
    KSEVENT_PINCAPS_JACKINFOCHANGE, KSEVENTSETID_PinCapsChange, ePortConnIntegratedDevice,
};
use wavert_sample::descriptors::{CAPTURE_TOPOLOGY_MICROPHONE_PIN, RENDER_TOPOLOGY_SPEAKER_PIN};
use wavert_sample::format::Format;
use wavert_sample::identity::{CAPTURE_TOPOLOGY, RENDER_TOPOLOGY};

/// `PKEY_AudioEndpoint_Supports_EventDriven_Mode`.
const EVENT_DRIVEN: &str = "{1DA5D803-D492-4EDD-8C23-E0C0FFEE7F0E},7";
/// `PKEY_AudioEndpoint_Association`.
const ASSOCIATION: &str = "{1DA5D803-D492-4EDD-8C23-E0C0FFEE7F0E},2";
/// `REG_DWORD` in an INF `AddReg` line.
const REG_DWORD: &str = "0x00010001";

/// The driver's INF template, parsed.
fn inf() -> parse::Inf {
    let template = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/inf/wavertsample.inx"));
    parse::Inf::parse(template).unwrap()
}

/// The `(flags, value)` of the `EP\0` property `key` that the INF writes on the device interface
/// whose reference string is `reference` (the subdevice's name), if it writes one.
fn endpoint_key(inf: &parse::Inf, reference: &str, key: &str) -> Option<(String, String)> {
    let interfaces = inf.section("WaveRtSample_Device.NT.Interfaces")?;
    interfaces
        .entries("AddInterface")
        .filter(|line| line.value(1) == reference)
        .filter_map(|line| inf.section(line.value(2)))
        .filter_map(|install| install.entry("AddReg"))
        .filter_map(|add_reg| inf.section(add_reg.value(0)))
        .flat_map(|registry| registry.lines.iter())
        .find(|line| {
            line.value(0) == "HKR"
                && line.value(1).eq_ignore_ascii_case("EP\\0")
                && line.value(2).eq_ignore_ascii_case(key)
        })
        .map(|line| (line.value(3).to_owned(), line.value(4).to_owned()))
}

/// Whether a stream opened on the host pin behind an endpoint offers the notification interface
/// (what event-driven mode needs).
fn host_pin_notifies(sim: &Sim, device: &Device, wave: &(String, u32)) -> bool {
    let stream = sim
        .open_stream(
            device.fdo,
            &wave.0,
            wave.1,
            &format_bytes(Format::PREFERRED),
        )
        .unwrap();
    let notifies = stream.supports_notification();
    stream.close();
    notifies
}

fn the_endpoint_builder_sees_both_endpoints_with_modes_controls_keys_and_jacks() {
    let inf = inf();
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        let endpoints = sim.endpoints(device.fdo).unwrap();
        assert_eq!(endpoints.len(), 2, "{profile}: {endpoints:?}");
        for (flow, topology, controls) in [
            (
                Flow::Render,
                RENDER_TOPOLOGY.name,
                [
                    ControlKind::PeakMeter,
                    ControlKind::Mute,
                    ControlKind::Volume,
                ],
            ),
            (
                Flow::Capture,
                CAPTURE_TOPOLOGY.name,
                [
                    ControlKind::Volume,
                    ControlKind::Mute,
                    ControlKind::PeakMeter,
                ],
            ),
        ] {
            let endpoint = endpoints.iter().find(|e| e.flow == flow).unwrap();
            assert_eq!(endpoint.topology, topology, "{profile}");
            // Controls, from the external pin inwards.
            let kinds: Vec<_> = endpoint.controls.iter().map(|c| c.kind).collect();
            assert_eq!(kinds, controls, "{profile} {flow:?}");
            for control in &endpoint.controls {
                assert_eq!(control.ranges.len(), 2, "{profile} {flow:?}: stereo");
            }
            // The jack: an integrated device, connected, without presence detection; its
            // change event can be enabled (the topology filters have it for device jacks)
            // and is never raised here.
            assert!(endpoint.connected(), "{profile} {flow:?}");
            assert_eq!(endpoint.jack.port_connection, ePortConnIntegratedDevice);
            assert_eq!(endpoint.jack2.capabilities, 0, "{profile} {flow:?}");
            let external = if flow == Flow::Render {
                RENDER_TOPOLOGY_SPEAKER_PIN
            } else {
                CAPTURE_TOPOLOGY_MICROPHONE_PIN
            };
            let event = sim
                .enable_event(
                    device.fdo,
                    topology,
                    Target::Pin(external),
                    KSEVENTSETID_PinCapsChange,
                    KSEVENT_PINCAPS_JACKINFOCHANGE,
                )
                .expect("the jack event is enabled");
            assert_eq!(sim.event_signals(&event), 0);
            assert_eq!(sim.disable_event(event), portcls_sys::STATUS_SUCCESS);
            // The modes of the host pin behind it.
            let mut modes = sim
                .signal_processing_modes(device.fdo, &endpoint.wave.0, endpoint.wave.1)
                .unwrap();
            modes.sort_by_key(|g| g.Data1);
            let mut expected = vec![
                AUDIO_SIGNALPROCESSINGMODE_RAW,
                AUDIO_SIGNALPROCESSINGMODE_DEFAULT,
            ];
            expected.sort_by_key(|g| g.Data1);
            assert_eq!(modes, expected, "{profile} {flow:?}");
            // The INF's endpoint keys on the topology interface: associated with any node type
            // and event-driven, which the host pin's notification streams make true.
            assert_eq!(
                endpoint_key(&inf, topology, ASSOCIATION),
                Some((
                    String::new(),
                    "{00000000-0000-0000-0000-000000000000}".to_owned()
                )),
                "{profile} {flow:?}"
            );
            assert_eq!(
                endpoint_key(&inf, topology, EVENT_DRIVEN),
                Some((REG_DWORD.to_owned(), "0x00000001".to_owned())),
                "{profile} {flow:?}"
            );
            assert!(
                host_pin_notifies(&sim, &device, &endpoint.wave),
                "{profile} {flow:?}: event-driven needs IMiniportWaveRTStreamNotification"
            );
        }
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

both_drivers!(the_endpoint_builder_sees_both_endpoints_with_modes_controls_keys_and_jacks);
