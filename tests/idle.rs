//! PortCls's idle power management in the model, with the settings the driver's INF gives it:
//! an unused device goes to the INF's idle state after the INF's idle time (on battery,
//! `ConservationIdleTime`; on AC, `PerformanceIdleTime`) and not a tick before, with nothing of
//! its streams left registered; a pin held open keeps it in D0; opening a pin afterwards powers
//! it up first, and the stream then runs with the right notifications and positions.

mod common;

#[allow(dead_code)] // the INF reader's full surface; this test reads three values with it
#[path = "../driver/tests/inf/parse.rs"]
mod parse;

use common::{bring_up, loadable_profiles, open_in_state};
use portcls_sim::{Ddi, IdleSettings, PowerSource, Sim};
use portcls_sys::km::{POWER_DEVICE_D0, POWER_DEVICE_D3};
use portcls_sys::{NT_SUCCESS, STATUS_SUCCESS};

const RUN: u32 = 3;
/// One second in the model's 100 ns units.
const SECOND: u64 = 10_000_000;

/// PortCls's settings as the INF template writes them: the three `REG_BINARY` values under
/// `HKR,PowerSettings` of the install section's `AddReg`, read as PortCls reads the registry.
fn inf_settings() -> IdleSettings {
    let template = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/inf/wavertsample.inx"));
    let inf = parse::Inf::parse(template).unwrap();
    let device = inf.section("WaveRtSample_Device.AddReg").unwrap();
    let value = |name: &str| -> Vec<u8> {
        let line = device
            .lines
            .iter()
            .find(|l| {
                l.value(0) == "HKR"
                    && l.value(1).eq_ignore_ascii_case("PowerSettings")
                    && l.value(2) == name
            })
            .unwrap_or_else(|| panic!("the INF sets no PowerSettings {name}"));
        assert_eq!(line.value(3), "0x00000001", "{name} is REG_BINARY");
        line.values[4..]
            .iter()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    };
    IdleSettings::from_registry(
        &value("ConservationIdleTime"),
        &value("PerformanceIdleTime"),
        &value("IdlePowerState"),
    )
    .expect("four bytes each, a state of D1..D3")
}

/// The device power states the model sent, in order (`POWER_DEVICE_*` from the trace).
fn power_changes(sim: &Sim) -> Vec<String> {
    sim.trace()
        .iter()
        .filter(|e| e.ddi == Ddi::PowerChangeState)
        .map(|e| e.detail.split_whitespace().next().unwrap_or("").to_owned())
        .collect()
}

fn an_unused_device_idles_into_d3_after_the_inf_time_and_not_before() {
    let settings = inf_settings();
    assert_eq!(settings.conservation_idle_seconds, 30);
    assert_eq!(settings.device_state(), POWER_DEVICE_D3);
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        sim.set_idle_settings(settings);
        let device = bring_up(&sim);
        // A pin opened and closed: the last access, from which the timer counts.
        sim.advance(SECOND);
        open_in_state(&sim, &device, false, RUN).close();
        let closed = sim.now();
        sim.advance(30 * SECOND - 1);
        assert_eq!(
            sim.power_state(device.fdo),
            Some(POWER_DEVICE_D0),
            "{profile}"
        );
        assert!(power_changes(&sim).is_empty(), "{profile}");
        sim.advance(1);
        assert_eq!(sim.now(), closed + 30 * SECOND);
        assert_eq!(
            sim.power_state(device.fdo),
            Some(POWER_DEVICE_D3),
            "{profile}"
        );
        assert_eq!(power_changes(&sim), ["D3"], "{profile}");
        assert!(sim.registrations().is_empty(), "{profile}");
        // In D3 nothing more happens, however long.
        sim.advance(3_600 * SECOND);
        assert_eq!(power_changes(&sim), ["D3"], "{profile}");
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        sim.remove_device(device.fdo);
        assert_eq!(sim.unload_driver(), Ok(()));
        sim.assert_clean();
    }
}

fn on_ac_power_the_performance_idle_time_applies() {
    let settings = inf_settings();
    assert_eq!(settings.performance_idle_seconds, 300);
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        sim.set_idle_settings(settings);
        sim.set_power_source(PowerSource::Ac);
        let device = bring_up(&sim);
        let started = sim.now();
        sim.advance(300 * SECOND - 1);
        assert_eq!(
            sim.power_state(device.fdo),
            Some(POWER_DEVICE_D0),
            "{profile}"
        );
        sim.advance(1);
        assert_eq!(
            sim.power_state(device.fdo),
            Some(POWER_DEVICE_D3),
            "{profile}"
        );
        assert_eq!(sim.now(), started + 300 * SECOND);
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

fn without_idle_settings_the_device_stays_in_d0() {
    for profile in loadable_profiles() {
        // PortCls's defaults (both times 0): no idle detection.
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        sim.advance(3_600 * SECOND);
        assert_eq!(
            sim.power_state(device.fdo),
            Some(POWER_DEVICE_D0),
            "{profile}"
        );
        assert!(power_changes(&sim).is_empty(), "{profile}");
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

fn an_open_pin_keeps_the_device_in_d0_and_its_close_restarts_the_timer() {
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        sim.set_idle_settings(inf_settings());
        let device = bring_up(&sim);
        let render = open_in_state(&sim, &device, false, RUN);
        let registered = sim.registrations().len();
        // Ten minutes of playback: twenty idle times, and every notification arrives.
        sim.advance(600 * SECOND);
        assert_eq!(
            sim.power_state(device.fdo),
            Some(POWER_DEVICE_D0),
            "{profile}"
        );
        assert!(power_changes(&sim).is_empty(), "{profile}");
        assert_eq!(render.event_signals(), 600 * 200, "{profile}");
        assert_eq!(sim.registrations().len(), registered, "{profile}");
        // A pin left open in STOP keeps it up too.
        let mut stopped = render;
        assert_eq!(stopped.walk_to(0), STATUS_SUCCESS);
        sim.advance(600 * SECOND);
        assert_eq!(
            sim.power_state(device.fdo),
            Some(POWER_DEVICE_D0),
            "{profile}"
        );
        stopped.close();
        sim.advance(30 * SECOND - 1);
        assert_eq!(
            sim.power_state(device.fdo),
            Some(POWER_DEVICE_D0),
            "{profile}"
        );
        sim.advance(1);
        assert_eq!(
            sim.power_state(device.fdo),
            Some(POWER_DEVICE_D3),
            "{profile}"
        );
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

fn an_access_restarts_the_timer() {
    let sim = Sim::new(portcls_sim::OsProfile::Win10_1511);
    sim.set_idle_settings(inf_settings());
    let device = bring_up(&sim);
    sim.advance(20 * SECOND);
    sim.note_access(device.fdo);
    sim.advance(30 * SECOND - 1);
    assert_eq!(sim.power_state(device.fdo), Some(POWER_DEVICE_D0));
    sim.advance(1);
    assert_eq!(sim.power_state(device.fdo), Some(POWER_DEVICE_D3));
    // An access to the idle device powers it up and restarts the timer.
    sim.note_access(device.fdo);
    assert_eq!(sim.power_state(device.fdo), Some(POWER_DEVICE_D0));
    assert_eq!(power_changes(&sim), ["D3", "D0"]);
    sim.advance(30 * SECOND);
    assert_eq!(power_changes(&sim), ["D3", "D0", "D3"]);
    sim.remove_device(device.fdo);
    sim.assert_clean();
}

/// A property request (the audio UI reading a peak meter, say) is an access like any other.
fn a_property_request_restarts_the_timer_and_wakes_an_idled_device() {
    use portcls_sim::{PropertyOutcome, Target};
    use portcls_sys::ks::{KSPROPERTY_AUDIO_PEAKMETER2, KSPROPERTY_TYPE_GET, KSPROPSETID_Audio};
    use wavert_sample::descriptors::RENDER_PEAK_NODE;
    use wavert_sample::identity::RENDER_TOPOLOGY;
    let read_meter = |sim: &Sim, device: &portcls_sim::Device| -> PropertyOutcome {
        sim.property(
            device.fdo,
            RENDER_TOPOLOGY.name,
            Target::Node(RENDER_PEAK_NODE),
            KSPROPSETID_Audio,
            KSPROPERTY_AUDIO_PEAKMETER2,
            KSPROPERTY_TYPE_GET,
            &[0u8; 8],
            &[0; 4],
        )
    };
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        sim.set_idle_settings(inf_settings());
        let device = bring_up(&sim);
        sim.advance(20 * SECOND);
        assert_eq!(
            read_meter(&sim, &device).status,
            portcls_sys::STATUS_SUCCESS
        );
        sim.advance(30 * SECOND - 1);
        assert_eq!(
            sim.power_state(device.fdo),
            Some(POWER_DEVICE_D0),
            "{profile}"
        );
        sim.advance(1);
        assert_eq!(
            sim.power_state(device.fdo),
            Some(POWER_DEVICE_D3),
            "{profile}"
        );
        // Read while idled: D0 first, then the answer (silence: nothing played).
        let answer = read_meter(&sim, &device);
        assert_eq!(answer.status, portcls_sys::STATUS_SUCCESS, "{profile}");
        assert_eq!(answer.value, [0; 4], "{profile}");
        assert_eq!(power_changes(&sim), ["D3", "D0"], "{profile}");
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

fn a_pin_opened_after_idling_powers_the_device_up_first_and_streams_right() {
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        sim.set_idle_settings(inf_settings());
        let device = bring_up(&sim);
        sim.advance(30 * SECOND);
        assert_eq!(
            sim.power_state(device.fdo),
            Some(POWER_DEVICE_D3),
            "{profile}"
        );
        let before = sim.trace().len();
        let mut render = open_in_state(&sim, &device, false, RUN);
        let mut capture = open_in_state(&sim, &device, true, RUN);
        // The speakers play a constant pattern, which the microphone records (the loopback).
        render.write_buffer(0, &[0x11; 1920]);
        // D0 came before the miniport saw the new stream.
        let trace = sim.trace();
        let opened: Vec<Ddi> = trace[before..]
            .iter()
            .map(|e| e.ddi)
            .filter(|d| matches!(d, Ddi::PowerChangeState | Ddi::NewStream))
            .collect();
        assert_eq!(
            opened[..2],
            [Ddi::PowerChangeState, Ddi::NewStream],
            "{profile}"
        );
        assert_eq!(power_changes(&sim), ["D3", "D0"], "{profile}");
        assert_eq!(
            sim.power_state(device.fdo),
            Some(POWER_DEVICE_D0),
            "{profile}"
        );
        let expected = usize::from(profile != portcls_sim::OsProfile::Windows81) * 2;
        assert_eq!(sim.registrations().len(), expected, "{profile}");
        // 100 ms: 20 notifications at one per 5 ms, 4800 frames = 10 whole buffers.
        sim.advance(SECOND / 10);
        assert_eq!(render.event_signals(), 20, "{profile}");
        assert_eq!(capture.event_signals(), 20, "{profile}");
        assert_eq!(render.position(), Ok((0, 0)), "{profile}");
        sim.advance(SECOND / 400);
        assert_eq!(
            render.position(),
            Ok((480, 480)),
            "{profile}: 2.5 ms = 120 frames"
        );
        assert!(
            capture.read_buffer().contains(&0x11),
            "{profile}: what the speakers play"
        );
        for stream in [&mut render, &mut capture] {
            assert!(NT_SUCCESS(stream.walk_to(0)));
        }
        render.close();
        capture.close();
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

both_drivers!(
    a_property_request_restarts_the_timer_and_wakes_an_idled_device,
    an_unused_device_idles_into_d3_after_the_inf_time_and_not_before,
    on_ac_power_the_performance_idle_time_applies,
    without_idle_settings_the_device_stays_in_d0,
    an_open_pin_keeps_the_device_in_d0_and_its_close_restarts_the_timer,
    an_access_restarts_the_timer,
    a_pin_opened_after_idling_powers_the_device_up_first_and_streams_right,
);
