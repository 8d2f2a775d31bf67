//! Bounded fuzzing with cargo-fuzz (libFuzzer) for the targets in `fuzz/`: what the test
//! command runs, and `cargo xtask fuzz [seconds]` for longer runs.
//!
//! Each target starts from its committed seed corpus (`fuzz/corpus/<target>`, read only) and
//! writes what it finds to a scratch corpus under `target/`, so the repository never changes.
//! A crash stops the run with libFuzzer's report; the input is kept under `fuzz/artifacts/`
//! to become a regression test.

use std::path::Path;
use std::process::Command;

/// The fuzz targets.
pub const TARGETS: [&str; 5] = [
    "intersect",
    "set_format",
    "properties",
    "attributes",
    "virtio",
];

/// The nightly toolchain cargo-fuzz builds with (the one Miri uses).
const TOOLCHAIN: &str = crate::MIRI_TOOLCHAIN;

fn ensure_cargo_fuzz() -> Result<(), String> {
    let present = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    println!("==> xtask: installing cargo-fuzz");
    let status = Command::new("cargo")
        .args(["install", "--locked", "cargo-fuzz"])
        .status()
        .map_err(|e| format!("cannot run cargo install: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("cargo install cargo-fuzz failed".into())
    }
}

/// Runs every target for `seconds` and returns the executions per target. The targets are
/// built first, then run side by side, as many at a time as the machine has cores (each
/// libFuzzer run is one process on one core).
///
/// # Errors
/// A missing tool that could not be installed, a failed build, or a crash.
pub fn run(seconds: u32) -> Result<Vec<(&'static str, u64)>, String> {
    ensure_cargo_fuzz()?;
    if !crate::ensure_miri() {
        return Err(format!("could not install {TOOLCHAIN}"));
    }
    let built = Command::new("cargo")
        .current_dir("fuzz")
        .args([&format!("+{TOOLCHAIN}"), "fuzz", "build"])
        .status()
        .map_err(|e| format!("cannot run cargo fuzz: {e}"))?;
    if !built.success() {
        return Err("cargo fuzz build failed".into());
    }
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(TARGETS.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let outcomes = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(&target) = TARGETS.get(index) else {
                        break;
                    };
                    let outcome = run_one(target, seconds);
                    outcomes
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push((index, target, outcome));
                }
            });
        }
    });
    let mut outcomes = outcomes
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    outcomes.sort_by_key(|&(index, _, _)| index);
    let mut results = Vec::new();
    for (_, target, outcome) in outcomes {
        let runs = outcome?;
        println!("    fuzz {target}: {runs} executions in {seconds} s, no crash");
        results.push((target, runs));
    }
    Ok(results)
}

/// Runs `target` for `seconds` from its seeds; returns its executions.
fn run_one(target: &str, seconds: u32) -> Result<u64, String> {
    let scratch = Path::new("target").join("fuzz-corpus").join(target);
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let scratch = std::fs::canonicalize(&scratch).map_err(|e| e.to_string())?;
    let seeds = std::fs::canonicalize(Path::new("fuzz").join("corpus").join(target))
        .map_err(|e| format!("seed corpus of {target}: {e}"))?;
    let output = Command::new("cargo")
        .current_dir("fuzz")
        .args([&format!("+{TOOLCHAIN}"), "fuzz", "run", target])
        .arg(&scratch)
        .arg(&seeds)
        .args(["--", &format!("-max_total_time={seconds}"), "-seed=1"])
        .output()
        .map_err(|e| format!("cannot run cargo fuzz: {e}"))?;
    let log = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("fuzz target {target} failed:\n{log}"));
    }
    Ok(log
        .lines()
        .find_map(|l| {
            l.strip_prefix("Done ")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0))
}
