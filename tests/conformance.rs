//! The HLK's wave checks in the model: every check of `portcls_sim::conformance` (derived from
//! WaveTest and KSPosTst) against both host pins of the sample, under every OS profile the
//! driver loads on, with the engine periods the sample supports; the model's rules must hold
//! after each pin and the machine must end clean.

mod common;

use common::{bring_up, loadable_profiles};
use portcls_sim::conformance::{CHECKS, Context, HostPin, Periods, check};
use portcls_sim::{Device, Sim};
use wavert_sample::backend::virtual_device::dma::{MAX_PERIOD_100NS, MIN_PERIOD_100NS};

/// The sample's engine periods: its shortest and longest, and the Windows default (10 ms).
const PERIODS: Periods = Periods {
    min: MIN_PERIOD_100NS as u64,
    default: 100_000,
    max: MAX_PERIOD_100NS as u64,
};

/// The checks the tests below run, by name.
const TESTED: [&str; 11] = [
    "stream_state_control",
    "min_buffer_size",
    "max_buffer_size",
    "different_formats",
    "event_driven",
    "notifications_per_buffer",
    "drift_and_jitter",
    "latency",
    "rtaudio_answers",
    "multiple_modes",
    "proposed_formats",
];

/// The host pins the checks run on: every host pin the device has, which must include a render
/// and a capture pin. (A loopback pin, which streams only while its render stream runs, would
/// be picked out here by its category and get loopback checks.)
fn pins_under_test(sim: &Sim, device: &Device) -> Vec<HostPin> {
    let pins = sim.host_pins(device.fdo).unwrap();
    assert!(
        pins.iter().any(|p| !p.capture),
        "no render host pin: {pins:?}"
    );
    assert!(
        pins.iter().any(|p| p.capture),
        "no capture host pin: {pins:?}"
    );
    pins
}

/// Runs check `name` on each host pin of a fresh device under each loadable profile.
fn run(name: &str) {
    let check = check(name).unwrap_or_else(|| panic!("no check {name}"));
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        let pins = pins_under_test(&sim, &device);
        for pin in &pins {
            let context = Context {
                sim: &sim,
                device: &device,
                pin,
                periods: PERIODS,
            };
            if let Err(error) = (check.run)(&context) {
                panic!(
                    "{profile}: {} ({}) on {} pin {}: {error}",
                    check.name, check.hlk, pin.filter, pin.pin
                );
            }
            assert!(
                sim.violations().is_empty(),
                "{profile}: {} on {} pin {}: {:?}",
                check.name,
                pin.filter,
                pin.pin,
                sim.violations()
            );
        }
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

/// Stands in for WaveTest `TAEF_StreamStateControl`.
fn every_ks_state_step_succeeds_skips_are_refused_pause_holds_and_stop_resets() {
    run("stream_state_control");
}

/// Stands in for WaveTest `TAEF_StreamMinBufferSize`.
fn a_buffer_of_the_shortest_period_streams_at_its_rate() {
    run("min_buffer_size");
}

/// Stands in for WaveTest `TAEF_StreamMaxBufferSize`.
fn a_buffer_of_the_longest_period_streams_at_its_rate() {
    run("max_buffer_size");
}

/// Stands in for WaveTest `TAEF_StreamDifferentFormat`.
fn every_format_of_the_host_ranges_streams_at_its_rate() {
    run("different_formats");
}

/// Stands in for WaveTest `TAEF_VerifyPinWaveRTConformance`.
fn host_pins_are_wavert_with_event_driven_streaming() {
    run("event_driven");
}

/// Stands in for the event-driven contract WaveTest `TAEF_VerifyPinWaveRTConformance`
/// requires: notification counts per buffer.
fn each_buffer_signals_its_notification_count() {
    run("notifications_per_buffer");
}

/// Stands in for KSPosTst `TAEF_DriftAndJitter`.
fn positions_drift_and_jitter_within_the_kspostst_limits() {
    run("drift_and_jitter");
}

/// Stands in for KSPosTst `TAEF_Latency`.
fn a_started_stream_shows_its_position_within_the_latency_limit() {
    run("latency");
}

/// Stands in for the `KSPROPERTY_RTAUDIO_*` queries (position, hardware latency, position and
/// clock registers) the HLK's endpoint set-up makes.
fn position_latency_and_register_queries_are_answered_in_full() {
    run("rtaudio_answers");
}

/// Stands in for WaveTest `TAEF_StreamMultipleModes` (each signal-processing mode the pin
/// offers streams; the sample's pins take one instance, so one mode at a time).
fn every_signal_processing_mode_streams_at_its_rate() {
    run("multiple_modes");
}

/// Stands in for the audio engine's device-format set-up the HLK's streams rely on
/// (`KSPROPERTY_PIN_PROPOSEDATAFORMAT` GET/SET, and `PROPOSEDATAFORMAT2` per mode).
fn the_proposed_formats_are_accepted_and_stream() {
    run("proposed_formats");
}

#[test]
fn every_check_of_the_suite_has_a_test() {
    let listed: Vec<&str> = CHECKS.iter().map(|c| c.name).collect();
    assert_eq!(listed, TESTED);
}

both_drivers!(
    every_ks_state_step_succeeds_skips_are_refused_pause_holds_and_stop_resets,
    a_buffer_of_the_shortest_period_streams_at_its_rate,
    a_buffer_of_the_longest_period_streams_at_its_rate,
    every_format_of_the_host_ranges_streams_at_its_rate,
    host_pins_are_wavert_with_event_driven_streaming,
    each_buffer_signals_its_notification_count,
    positions_drift_and_jitter_within_the_kspostst_limits,
    a_started_stream_shows_its_position_within_the_latency_limit,
    position_latency_and_register_queries_are_answered_in_full,
    every_signal_processing_mode_streams_at_its_rate,
    the_proposed_formats_are_accepted_and_stream,
);

/// The suite on a virtio-sound function (the device side runs on Linux only).
#[cfg(all(
    target_os = "linux",
    not(miri),
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod virtio {
    use super::*;

    /// Every check of the suite on both host pins of a virtio-sound function, with
    /// `vhost-device-sound` behind it kept at its streams' rate in virtual time: the streams run on
    /// the device (no engine thread), timed by its interrupt. Under Windows 10 1511 and 2004; the
    /// model's rules and the virtio spec must hold, and the device refuse nothing.
    fn the_suite_passes_on_the_virtio_function() {
        use portcls_sim::OsProfile;
        use virtio_oracle::machine::PacedFunction;
        let mut failures = Vec::new();
        for profile in [OsProfile::Win10_1511, OsProfile::Win10_2004] {
            for check in CHECKS {
                let sim = Sim::new(profile);
                assert_eq!(common::load(&sim), portcls_sys::STATUS_SUCCESS);
                let function = PacedFunction::plug_in(&sim, 5).expect("the function");
                let device = function.device;
                assert_eq!(sim.start_device(&device), portcls_sys::STATUS_SUCCESS);
                for pin in &pins_under_test(&sim, &device) {
                    let context = Context {
                        sim: &sim,
                        device: &device,
                        pin,
                        periods: PERIODS,
                    };
                    if let Err(error) = (check.run)(&context) {
                        failures.push(format!(
                            "{profile}: {} ({}) on {} pin {}: {error}",
                            check.name, check.hlk, pin.filter, pin.pin
                        ));
                    }
                    let violations = sim.violations();
                    if !violations.is_empty() {
                        failures.push(format!("{profile}: {}: {violations:?}", check.name));
                    }
                }
                sim.remove_device(device.fdo);
                {
                    let function = function.function.lock().unwrap();
                    let wrong: Vec<&String> = function
                        .breaches()
                        .iter()
                        .chain(function.device_errors())
                        .collect();
                    if !wrong.is_empty() {
                        failures.push(format!("{profile}: {}: virtio {wrong:?}", check.name));
                    }
                }
                sim.unload_driver().expect("unload");
                sim.assert_clean();
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    both_drivers!(the_suite_passes_on_the_virtio_function);
}
