//! The low-resources simulation, done exhaustively: the whole life of the device (load, start,
//! open both streams, allocate their buffers, run, PnP stop, close, remove, unload) is run once
//! to count the fallible calls the driver makes, then once more for every k failing the k-th of
//! them. Each run must return the injected status from the step that made the failing call (or
//! succeed where the driver copes by design: falling back from a stream-resource interface,
//! retrying a refused removal), end with the verifier rules holding and nothing left behind
//! (pool, references, registrations, threads, pages, the driver's COM objects).
//!
//! Real failures cluster (low memory fails several calls), so pairs of fallible calls fail
//! together too: every pair of the lifecycle's fallible calls, 2 970 lifecycles over the four
//! profiles, about a second natively. `PORTCLS_FAULT_PAIRS=N` runs a sample of N pairs per
//! profile instead, drawn from `PORTCLS_FAULT_SEED`; a failure prints the command that replays
//! it.

mod common;

use common::{format_bytes, loadable_profiles};
use portcls_sim::{Ddi, Device, Sim, Stream};
use portcls_sys::{NT_SUCCESS, NTSTATUS, STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS};

use wavert_sample::descriptors::{CAPTURE_WAVE_HOST_PIN, RENDER_WAVE_HOST_PIN};
use wavert_sample::identity::{CAPTURE_WAVE, RENDER_WAVE};

const RUN: u32 = 3;
const SECOND: u64 = 10_000_000;

/// Opens, allocates, registers an event and runs one stream; the first failure's status.
fn open_and_run(sim: &Sim, device: &Device, capture: bool) -> Result<Stream, NTSTATUS> {
    let (name, pin) = if capture {
        (CAPTURE_WAVE.name, CAPTURE_WAVE_HOST_PIN)
    } else {
        (RENDER_WAVE.name, RENDER_WAVE_HOST_PIN)
    };
    let format = format_bytes(wavert_sample::format::Format::PREFERRED);
    let mut stream = sim.open_stream(device.fdo, name, pin, &format)?;
    stream.allocate_buffer(2, 1920)?;
    let status = stream.register_event();
    if !NT_SUCCESS(status) {
        return Err(status);
    }
    let status = stream.walk_to(RUN);
    if NT_SUCCESS(status) {
        Ok(stream)
    } else {
        Err(status)
    }
}

/// The whole life; returns the first failure's status (`STATUS_SUCCESS` if none) after
/// undoing everything as the system would (streams closed, device removed, driver unloaded).
fn lifecycle(sim: &Sim) -> NTSTATUS {
    let status = common::load(sim);
    if !NT_SUCCESS(status) {
        // A driver whose DriverEntry failed is unloaded without its unload routine.
        return status;
    }
    let first = match sim.plug_in() {
        Ok(device) => device_life(sim, &device),
        Err(status) => status,
    };
    assert_eq!(sim.unload_driver(), Ok(()), "no device is left");
    first
}

/// Start, both streams, close, removal; the first failure's status.
fn device_life(sim: &Sim, device: &Device) -> NTSTATUS {
    let mut first = sim.start_device(device);
    if NT_SUCCESS(first) {
        let mut streams = Vec::new();
        for capture in [false, true] {
            match open_and_run(sim, device, capture) {
                Ok(stream) => streams.push(stream),
                Err(status) => {
                    first = status;
                    break;
                }
            }
        }
        sim.advance(SECOND / 10);
        // PnP stops the device under the running streams (the engines halt and unregister);
        // the client then closes its pins.
        let status = sim.stop_device(device.fdo);
        if NT_SUCCESS(first) {
            first = status;
        }
        for stream in streams {
            // Dropping a handle runs PortCls's close sequence (down to STOP, free, release).
            stream.close();
        }
    }
    sim.remove_device(device.fdo);
    first
}

fn every_fallible_call_of_the_lifecycle_can_fail_cleanly() {
    let mut covered = 0;
    let mut per_profile = Vec::new();
    for profile in loadable_profiles() {
        let calls = {
            let sim = Sim::new(profile);
            assert_eq!(lifecycle(&sim), STATUS_SUCCESS, "{profile}");
            sim.assert_clean();
            sim.fallible_calls()
        };
        assert!(calls > 20, "{profile}: only {calls} fallible calls");
        per_profile.push(format!("{profile}: {calls}"));
        for k in 1..=calls {
            let sim = Sim::new(profile);
            sim.fail_nth_call(k, STATUS_INSUFFICIENT_RESOURCES);
            let status = lifecycle(&sim);
            // Exactly the k-th call failed; its status reaches the step that made it, unchanged,
            // except where the driver copes by design: a stream-resource interface that cannot
            // be had is a mechanism to fall back from, and a refused removal is retried.
            let injected = sim.injected();
            assert_eq!(injected.len(), 1, "{profile}: call {k}: {injected:?}");
            let expected = if copes(injected[0]) {
                STATUS_SUCCESS
            } else {
                STATUS_INSUFFICIENT_RESOURCES
            };
            assert_eq!(
                status, expected,
                "{profile}: failing call {k} ({:?}) gave {status:#x}",
                injected[0]
            );
            let leftovers = sim.leftovers();
            assert!(
                leftovers.is_empty(),
                "{profile}: failing call {k} ({status:#x}) left:\n  {}",
                leftovers.join("\n  ")
            );
            covered += 1;
        }
    }
    println!(
        "fault injection: {covered} runs, each failing one fallible call ({})",
        per_profile.join(", ")
    );
}

/// Whether the driver copes with a failure of `ddi` by design (see above).
fn copes(ddi: Ddi) -> bool {
    matches!(
        ddi,
        Ddi::QueryInterface | Ddi::RemoveStreamResource | Ddi::PcRemoveStreamResource
    )
}

/// splitmix64: a small, well-mixed generator, so a seed names a sample on every machine.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The pairs (first, second) of `calls` fallible calls to fail: all of them, or `budget` drawn
/// without repetition from `seed` (a partial Fisher-Yates shuffle), in a stable order.
fn pairs(calls: u64, budget: Option<usize>, seed: u64) -> Vec<(u64, u64)> {
    let mut all: Vec<(u64, u64)> = (1..=calls)
        .flat_map(|a| (a + 1..=calls).map(move |b| (a, b)))
        .collect();
    let Some(budget) = budget.filter(|&b| b < all.len()) else {
        return all;
    };
    let mut state = seed;
    for i in 0..budget {
        let left = (all.len() - i) as u64;
        let pick = i + usize::try_from(next(&mut state) % left).unwrap();
        all.swap(i, pick);
    }
    all.truncate(budget);
    all.sort_unstable();
    all
}

fn pairs_of_fallible_calls_fail_cleanly() {
    let budget: Option<usize> = match std::env::var("PORTCLS_FAULT_PAIRS").as_deref() {
        Ok("all") | Err(_) => None,
        Ok(n) => Some(n.parse().expect("PORTCLS_FAULT_PAIRS: `all` or a number")),
    };
    let seed: u64 = std::env::var("PORTCLS_FAULT_SEED").map_or(0x5EED_FA17, |s| {
        s.parse().expect("PORTCLS_FAULT_SEED: a number")
    });
    let driver = format!("{:?}", common::driver()).to_lowercase();
    let replay = format!(
        "PORTCLS_FAULT_SEED={seed} PORTCLS_FAULT_PAIRS={} cargo test -p portcls-workspace-tests \
         --test faults {driver}::pairs_of_fallible_calls_fail_cleanly",
        budget.map_or("all".to_owned(), |b| b.to_string())
    );
    let mut runs = 0;
    let mut per_profile = Vec::new();
    for profile in loadable_profiles() {
        let calls = {
            let sim = Sim::new(profile);
            assert_eq!(lifecycle(&sim), STATUS_SUCCESS, "{profile}");
            sim.fallible_calls()
        };
        let chosen = pairs(calls, budget, seed);
        per_profile.push(format!(
            "{profile}: {} of {} pairs",
            chosen.len(),
            calls * (calls - 1) / 2
        ));
        for (first, second) in chosen {
            let sim = Sim::new(profile);
            sim.fail_nth_call(first, STATUS_INSUFFICIENT_RESOURCES);
            sim.fail_nth_call(second, STATUS_INSUFFICIENT_RESOURCES);
            let status = lifecycle(&sim);
            let label = format!("{profile}: calls {first} and {second} failing (replay: {replay})");
            // The first failure fires first; the second may never come (the path got shorter).
            let injected = sim.injected();
            assert!(
                !injected.is_empty() && injected.len() <= 2,
                "{label}: {injected:?}"
            );
            // A failure the driver does not cope with surfaces (both fail with one status: a
            // routine that returns a pointer, not a status, fails with NULL, which the driver
            // reports as STATUS_INSUFFICIENT_RESOURCES).
            let expected = if injected.iter().all(|ddi| copes(*ddi)) {
                STATUS_SUCCESS
            } else {
                STATUS_INSUFFICIENT_RESOURCES
            };
            assert_eq!(status, expected, "{label}: {injected:?} gave {status:#x}");
            let leftovers = sim.leftovers();
            assert!(
                leftovers.is_empty(),
                "{label}: left:\n  {}",
                leftovers.join("\n  ")
            );
            runs += 1;
        }
    }
    println!(
        "fault pairs: {runs} runs, each failing two fallible calls (seed {seed}; {})",
        per_profile.join(", ")
    );
}

both_drivers!(
    #[cfg_attr(miri, ignore = "156 lifecycles: natively only")]
    every_fallible_call_of_the_lifecycle_can_fail_cleanly,
    #[cfg_attr(miri, ignore = "hundreds of lifecycles: natively only")]
    pairs_of_fallible_calls_fail_cleanly,
);
