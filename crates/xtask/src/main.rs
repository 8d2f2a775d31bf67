//! `cargo xtask`: the workspace's portable build and test logic.
//!
//! - `cargo xtask test`: everything CI runs, in order: format; lints on the host; the kernel
//!   images the image tests load (`images`, below); the host tests, with and without the
//!   `export` feature, each workspace test against the host build and the x64 image; the model's,
//!   the library's, the sample driver's and the workspace tests again for arm64 Linux under
//!   qemu-aarch64 (the `image::` half against the arm64 image); the cost table and the
//!   newcomer's command as smoke tests; docs; the publishing dry run; lints and kernel images
//!   linked with rust-lld for x64 and arm64 and checked (imports, no reachable panic); Miri (in
//!   two lanes side by side); fuzzing.
//! - `cargo xtask test --quick`: the same without Miri and fuzzing.
//! - `cargo xtask miri`: the test command's Miri step alone.
//! - `cargo xtask images`: the library probe for x64 and arm64, with and without the export,
//!   checked and kept in `target/probe/<arch>/`, then `package` below.
//! - `cargo xtask package`: the signed driver packages for x64 and arm64 under
//!   `target/package/<arch>/` (.sys, stamped .inf, catalog, test certificate), audited and
//!   verified.
//! - `cargo xtask audit`: the audit of both driver images, every finding printed.
//! - `cargo xtask explore [schedules]`: the deterministic-schedule scenarios (`tests/schedules.rs`)
//!   with that many schedules per scenario and profile (1000 by default; the test command runs
//!   4), from a new seed base each run, on the host build and the image.
//! - `cargo xtask soak [hours]`: the soak (`tests/soak.rs`) for that many simulated hours (24 by
//!   default; the test command runs one), on the host build and the image.
//! - `cargo xtask fuzz [seconds]`: every fuzz target in `fuzz/` for that long (cargo-fuzz,
//!   installed if missing); the test command runs each for 30 s.
//! - `cargo xtask bench`: the cost table (instructions against raw calls, heap use, per-period
//!   work, position accuracy, image sizes, simulator speed, the images' kernel stack per entry
//!   point).
//! - `cargo xtask build`: the sample driver cross-built for x64 and arm64 (release, rust-lld,
//!   raw-dylib imports), audited, and copied to `target/driver/<arch>/wavertsample.sys`.

mod audit;
mod bench;
mod catalog;
mod fuzz;
mod kernel;
mod package;
mod publish;
// The wdk names check runs as an (ignored) test: see the host step that runs it.
#[cfg(test)]
mod wdk;

use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

/// Seconds each fuzz target runs in the test command.
const FUZZ_SECONDS: u32 = 30;

/// The nightly toolchain Miri runs on (pinned; installed on demand).
pub(crate) const MIRI_TOOLCHAIN: &str = "nightly-2026-05-20";

/// The Windows kernel targets the library and driver build for.
const KERNEL_TARGETS: [&str; 2] = ["x86_64-pc-windows-msvc", "aarch64-pc-windows-msvc"];

/// What a step does.
enum Action {
    /// Run cargo (optionally with another toolchain and extra environment).
    Cargo {
        toolchain: Option<&'static str>,
        args: Vec<String>,
        env: Vec<(&'static str, &'static str)>,
    },
    /// Link the library probe for a kernel target and check the image.
    LibraryProbe { target: &'static str, export: bool },
    /// Link the sample driver for a kernel target and check the image.
    Driver { target: &'static str },
    /// Run every fuzz target for this many seconds.
    Fuzz { seconds: u32 },
    /// Check the arm64 cross tools, then run cargo once per argument list (host tests for
    /// [`ARM64_HOST`], with the linker and runner of [`arm64_env`]).
    Arm64 { runs: Vec<Vec<String>> },
    /// Run an xtask function.
    Run(fn() -> Result<(), String>),
    /// Run lanes of cargo steps side by side (one lane per core): each lane's steps in order,
    /// lane `i > 0` in its own target directory (`target/lane<i>`, so the lanes never wait for
    /// each other's build lock), each step's output held and printed when it ends.
    Lanes(Vec<Vec<Step>>),
}

struct Step {
    name: String,
    action: Action,
}

fn cargo(name: impl Into<String>, args: &[&str]) -> Step {
    let args = args.iter().map(|&a| a.to_owned()).collect();
    Step {
        name: name.into(),
        action: Action::Cargo {
            toolchain: None,
            args,
            env: Vec::new(),
        },
    }
}

/// Host lints and tests, each with and without the `export` feature of `portcls`.
#[allow(clippy::too_many_lines)] // one list of steps, in the order they run
fn host_steps() -> Vec<Step> {
    vec![
        cargo("format", &["fmt", "--all", "--check"]),
        cargo(
            "clippy (host)",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        ),
        // The host code that exists only on arm64 (the stack measurement's assembly, the
        // loader's instruction-cache flush) is linted there too.
        cargo(
            "clippy (host, arm64 Linux)",
            &[
                "clippy",
                "--target",
                ARM64_HOST,
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        ),
        cargo(
            "clippy (host, export compiled out)",
            &[
                "clippy",
                "-p",
                "portcls",
                "--all-targets",
                "--no-default-features",
                "--",
                "-D",
                "warnings",
            ],
        ),
        // Before the tests: the workspace's image tests load these into the model.
        cargo(
            "the kernel images (cargo xtask images: the library probe for both architectures, with and without the export, checked; the driver packages audited, signed, verified by osslsigncode, tampered copies refused)",
            &["xtask", "images"],
        ),
        // `--show-output`: the fault-injection, stress, matrix, probe and ABI-oracle tests print
        // what they covered.
        cargo(
            "tests (host build and x64 images in the model)",
            &["test", "--workspace", "--", "--show-output"],
        ),
        cargo(
            "tests (sample driver as shipped: portcls without the export)",
            &[
                "test",
                "-p",
                "wavert-sample",
                "-p",
                "portcls-workspace-tests",
                "--",
                "--show-output",
            ],
        ),
        cargo(
            "tests (host, export compiled out)",
            &["test", "-p", "portcls", "--no-default-features"],
        ),
        cargo(
            "the wdk names (every wdk_sys/wdk/wdk_build/wdk_panic/wdk_alloc item and wdk-build task the project names, against the locked crates' source and the mingw-w64 DDK headers; wrong names refused; the wdk code clippy-clean for both kernel targets against stand-in wdk crates)",
            &[
                "test",
                "-p",
                "xtask",
                "--",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
                "wdk::",
            ],
        ),
        arm64_step(),
        cargo(
            "the cost table (cargo xtask bench, run as a smoke test: no goal is enforced)",
            &["xtask", "bench"],
        ),
        cargo(
            "the newcomer's command (sample in the simulator, Windows 10 1511, WAV out)",
            &[
                "run",
                "--quiet",
                "-p",
                "wavert-sample",
                "--example",
                "simulate",
                "--",
                "--quiet",
                "--seconds",
                "1",
                "--wav",
                "target/simulate-capture.wav",
            ],
        ),
        cargo(
            "the same on the virtio-sound function (simulate --device virtio: the streams on the device, vhost-device-sound behind it)",
            &[
                "run",
                "--quiet",
                "-p",
                "wavert-sample",
                "--example",
                "simulate",
                "--",
                "--device",
                "virtio",
                "--quiet",
                "--seconds",
                "1",
                "--wav",
                "target/simulate-virtio.wav",
            ],
        ),
        Step {
            name: "docs (warnings are errors)".to_owned(),
            action: Action::Cargo {
                toolchain: None,
                args: ["doc", "--workspace", "--no-deps"]
                    .map(str::to_owned)
                    .to_vec(),
                env: vec![("RUSTDOCFLAGS", "-D warnings")],
            },
        },
        Step {
            name: "publish dry run (cargo publish --dry-run of portcls-sys, portcls-sim and portcls: packaged, contents checked, built from the .crate files; nothing uploaded)".to_owned(),
            action: Action::Run(publish::dry_run),
        },
    ]
}

/// The Linux target whose host tests run under qemu user mode (the model and the code it runs,
/// compiled for arm64, so that the arm64 driver image can later run in the model).
const ARM64_HOST: &str = "aarch64-unknown-linux-gnu";

/// What the arm64 step needs on the machine, with the Debian package that installs it (`.ci/run`
/// installs both). The sysroot is the `-L` of the runner [`arm64_env`] sets.
const ARM64_TOOLS: [(&str, &str); 2] = [
    ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"),
    ("qemu-aarch64", "qemu-user"),
];
const ARM64_SYSROOT_LOADER: &str = "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1";

/// The model's and the library's test targets run under qemu (with `--lib`): all but
/// `compile_fail` (trybuild checks rustc's diagnostics, which do not depend on the target; from
/// inside qemu it only spawns the host cargo to rebuild the library). Doc tests are left out too
/// (with `--lib`/`--test` cargo does not run them; they show the API, not the architecture), and
/// so is `portcls-sys` (its tests are the ABI oracle, clang against the mingw-w64 headers for both
/// architectures, and constant values, which no architecture changes).
const ARM64_LIBRARY_TESTS: [&str; 12] = [
    "deterministic",
    "dma",
    "rules",
    "threads",
    "interrupts",
    "irql",
    "matrix",
    "pnp",
    "retry",
    "handoff",
    "registered",
    "mmio",
];

/// The sample driver's own test targets run under qemu (with `--lib`): all but `inf`, the text
/// checks of the INF template, which never run the driver or the model.
const ARM64_DRIVER_TESTS: [&str; 3] = ["com", "descriptors", "engine"];

/// The driver's whole-life tests in the model (the workspace's `tests/`, package
/// `portcls-workspace-tests`) run under qemu, both halves of each: `host::` (the host build for
/// arm64) and `image::` (the arm64 package, `target/package/arm64/wavertsample.sys`), with the
/// loader's tests on the arm64 images and the library probe's arm64 images (`cargo xtask
/// images`, an earlier step, makes them all).
const ARM64_WHOLE_LIFE_TESTS: [&str; 18] = [
    "adapter",
    "conformance",
    "endpoints",
    "faults",
    "idle",
    "image",
    "loopback",
    "modes",
    "packets",
    "probe",
    "properties",
    "references",
    "schedules",
    "soak",
    "stack",
    "streams",
    "stress",
    "virtio",
];

/// The host tests for arm64 under qemu-aarch64, after the native ones: the model and the library
/// (with the export, as `tests (host)`); then the sample driver as shipped (portcls without the
/// export) and its whole life in the model. Not Miri, fuzzing or the ABI oracle, which do not
/// depend on the host architecture.
fn arm64_step() -> Step {
    let run = |packages: &[&str], lib: bool, tests: &[&str]| {
        let mut args: Vec<String> = ["test", "--target", ARM64_HOST].map(str::to_owned).to_vec();
        for package in packages {
            args.extend(["-p".to_owned(), (*package).to_owned()]);
        }
        if lib {
            args.push("--lib".to_owned());
        }
        for test in tests {
            args.extend(["--test".to_owned(), (*test).to_owned()]);
        }
        args.extend(["--", "--show-output"].map(str::to_owned));
        args
    };
    Step {
        name: format!(
            "arm64 (qemu-aarch64): host tests of the model, the library and the sample driver for {ARM64_HOST}, and the arm64 images in the model"
        ),
        action: Action::Arm64 {
            runs: vec![
                run(&["portcls-sim", "portcls"], true, &ARM64_LIBRARY_TESTS),
                run(&["wavert-sample"], true, &ARM64_DRIVER_TESTS),
                run(&["portcls-workspace-tests"], false, &ARM64_WHOLE_LIFE_TESTS),
            ],
        },
    }
}

/// The environment that cross-links [`ARM64_HOST`] binaries and runs them under qemu-aarch64
/// (user mode, against the aarch64 sysroot); empty on an arm64 host, which runs them natively.
/// Set per command rather than in `.cargo/config.toml`, whose `[target.<triple>]` would also
/// send an arm64 host's own builds through qemu.
pub(crate) fn arm64_env() -> Vec<(&'static str, &'static str)> {
    if cfg!(target_arch = "aarch64") {
        return Vec::new();
    }
    vec![
        (
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER",
            "aarch64-linux-gnu-gcc",
        ),
        (
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER",
            "qemu-aarch64 -L /usr/aarch64-linux-gnu",
        ),
    ]
}

/// Fails with the Debian package to install when a tool of the arm64 step is missing.
pub(crate) fn check_arm64_tools() -> Result<(), String> {
    for (tool, package) in ARM64_TOOLS {
        let found = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|output| output.status.success());
        if !found {
            return Err(format!(
                "{tool} not found: install it with `apt-get install {package}` (Debian)"
            ));
        }
    }
    let libdir = Command::new("rustc")
        .args(["--print", "target-libdir", "--target", ARM64_HOST])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned());
    if !libdir.is_some_and(|dir| std::path::Path::new(&dir).is_dir()) {
        return Err(format!(
            "the Rust standard library for {ARM64_HOST} is not installed: run \
             `rustup target add {ARM64_HOST}` (or `rustup toolchain install`, which reads \
             rust-toolchain.toml)"
        ));
    }
    if !std::path::Path::new(ARM64_SYSROOT_LOADER).exists() {
        return Err(format!(
            "{ARM64_SYSROOT_LOADER} (the aarch64 sysroot qemu-aarch64 runs against) not found: \
             install it with `apt-get install libc6-arm64-cross` (Debian)"
        ));
    }
    Ok(())
}

/// Lints of the library for each kernel target with the raw-dylib imports, then a kernel image
/// linked from it and audited, with and without the export.
fn kernel_steps() -> Vec<Step> {
    let mut steps = Vec::new();
    for target in KERNEL_TARGETS {
        for export in [true, false] {
            let label = if export { "" } else { ", export compiled out" };
            let mut args: Vec<String> = [
                "clippy",
                "--target",
                target,
                "-p",
                "portcls-sys",
                "-p",
                "portcls",
            ]
            .map(str::to_owned)
            .to_vec();
            args.extend(["--features".to_owned(), "portcls/link".to_owned()]);
            if !export {
                args.push("--no-default-features".to_owned());
            }
            args.extend(["--", "-D", "warnings"].map(str::to_owned));
            steps.push(Step {
                name: format!("clippy {target} (raw-dylib kernel imports{label})"),
                action: Action::Cargo {
                    toolchain: None,
                    args,
                    env: Vec::new(),
                },
            });
            if export {
                steps.push(Step {
                    name: format!(
                        "kernel image {target} (sample driver .sys: the package audit, and its failure cases caught)"
                    ),
                    action: Action::Driver { target },
                });
                steps.push(cargo(
                    format!("clippy {target} (sample driver, raw-dylib kernel imports)"),
                    &[
                        "clippy",
                        "--target",
                        target,
                        "-p",
                        "wavert-sample",
                        "--features",
                        "kernel",
                        "--",
                        "-D",
                        "warnings",
                    ],
                ));
            }
            steps.push(Step {
                name: format!("kernel image {target} (library probe{label})"),
                action: Action::LibraryProbe { target, export },
            });
        }
    }
    steps
}

/// The sample driver's FFI shell, run in the model, under Miri, with its pure-logic unit tests
/// (`--lib`; the long arithmetic runs among them are ignored under Miri and run natively).
const DRIVER_MIRI_TESTS: [&str; 3] = ["com", "descriptors", "engine"];

/// The whole-life tests in the workspace's `tests/` that run under Miri: their `host::` half
/// (the image half, machine code, is compiled out there).
const WHOLE_LIFE_MIRI_TESTS: [&str; 6] = [
    "adapter",
    "modes",
    "packets",
    "properties",
    "references",
    "streams",
];

/// The library and the model under Miri, with and without the export, and the driver's pure
/// logic and shell: single-threaded interpreters, so in two lanes side by side (balanced by
/// their measured times: the driver's unit tests with the library and the model, then the
/// driver's shell with the export compiled out).
fn miri_steps() -> Vec<Step> {
    let miri = |name: String, args: Vec<String>| Step {
        name,
        action: Action::Cargo {
            toolchain: Some(MIRI_TOOLCHAIN),
            args,
            env: vec![("MIRIFLAGS", "-Zmiri-strict-provenance")],
        },
    };
    let words = |list: &[&str]| list.iter().map(|&word| word.to_owned()).collect::<Vec<_>>();
    let mut shell = words(&["miri", "test", "-p", "wavert-sample"]);
    for test in DRIVER_MIRI_TESTS {
        shell.extend(["--test".to_owned(), test.to_owned()]);
    }
    shell.extend(["-p".to_owned(), "portcls-workspace-tests".to_owned()]);
    for test in WHOLE_LIFE_MIRI_TESTS {
        shell.extend(["--test".to_owned(), test.to_owned()]);
    }
    let first = vec![
        miri(
            "Miri (sample driver: pure logic)".to_owned(),
            words(&["miri", "test", "-p", "wavert-sample", "--lib"]),
        ),
        miri(
            "Miri (library and model)".to_owned(),
            words(&[
                "miri",
                "test",
                "-p",
                "portcls-sys",
                "-p",
                "portcls",
                "-p",
                "portcls-sim",
            ]),
        ),
    ];
    let second = vec![
        miri(
            "Miri (sample driver: its shell in the model)".to_owned(),
            shell,
        ),
        miri(
            "Miri (library, export compiled out)".to_owned(),
            words(&[
                "miri",
                "test",
                "-p",
                "portcls-sys",
                "-p",
                "portcls",
                "--no-default-features",
            ]),
        ),
    ];
    vec![Step {
        name: "Miri (the library, the model and the sample driver, in two lanes)".to_owned(),
        action: Action::Lanes(vec![first, second]),
    }]
}

fn test_plan(with_miri: bool) -> Vec<Step> {
    let mut plan = host_steps();
    plan.extend(kernel_steps());
    if with_miri {
        plan.extend(miri_steps());
        plan.push(Step {
            name: format!(
                "fuzz (cargo-fuzz, {FUZZ_SECONDS} s per target from the committed seeds)"
            ),
            action: Action::Fuzz {
                seconds: FUZZ_SECONDS,
            },
        });
    }
    plan
}

/// Makes sure the pinned nightly with Miri is installed (a fresh machine has only the stable
/// toolchain `rust-toolchain.toml` names).
pub(crate) fn ensure_miri() -> bool {
    let present = Command::new("cargo")
        .args([&format!("+{MIRI_TOOLCHAIN}"), "miri", "--version"])
        .output()
        .is_ok_and(|output| output.status.success());
    if present {
        return true;
    }
    println!("==> xtask: installing {MIRI_TOOLCHAIN} with miri and rust-src");
    Command::new("rustup")
        .args([
            "toolchain",
            "install",
            MIRI_TOOLCHAIN,
            "--profile",
            "minimal",
        ])
        .args(["--component", "miri,rust-src"])
        .status()
        .is_ok_and(|status| status.success())
}

/// `cargo` with `args` (under `toolchain`, if any) and `env`, as [`Action::Cargo`] runs it.
fn cargo_command(
    toolchain: Option<&str>,
    args: &[String],
    env: &[(&'static str, &'static str)],
) -> Command {
    let mut command = Command::new("cargo");
    if let Some(toolchain) = toolchain {
        command.arg(format!("+{toolchain}"));
    }
    command.args(args).envs(env.iter().copied());
    command
}

fn execute(action: &Action) -> Result<(), String> {
    match action {
        Action::Cargo {
            toolchain,
            args,
            env,
        } => {
            let mut child = cargo_command(*toolchain, args, env)
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot run cargo: {e}"))?;
            let mut notes = Notes::default();
            if let Some(stdout) = child.stdout.take() {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    println!("{line}");
                    notes.read(&line);
                }
            }
            let status = child.wait().map_err(|e| format!("cannot run cargo: {e}"))?;
            if status.success() {
                Ok(())
            } else {
                Err(notes.after(format!("cargo {} failed", args.join(" "))))
            }
        }
        Action::LibraryProbe { target, export } => {
            kernel::check_library_probe(target, *export).map(|_| ())
        }
        Action::Driver { target } => audit::self_test(target),
        Action::Fuzz { seconds } => fuzz::run(*seconds).map(|_| ()),
        Action::Run(run) => run(),
        Action::Lanes(lanes) => run_lanes(lanes),
        Action::Arm64 { runs } => {
            if !cfg!(target_arch = "aarch64") {
                check_arm64_tools()?;
            }
            // Every run, even after a failure (like the steps themselves).
            let failures: Vec<String> = runs
                .iter()
                .filter_map(|args| {
                    execute(&Action::Cargo {
                        toolchain: None,
                        args: args.clone(),
                        env: arm64_env(),
                    })
                    .err()
                })
                .collect();
            if failures.is_empty() {
                Ok(())
            } else {
                Err(failures.join("; "))
            }
        }
    }
}

/// Runs [`Action::Lanes`]. Every step of every lane runs, even after a failure.
fn run_lanes(lanes: &[Vec<Step>]) -> Result<(), String> {
    // The lanes share one Miri sysroot: it is built once, before they start.
    if lanes.iter().flatten().any(uses_miri) {
        let status = Command::new("cargo")
            .args([&format!("+{MIRI_TOOLCHAIN}"), "miri", "setup"])
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err("cargo miri setup failed".to_owned());
        }
    }
    let failures = std::thread::scope(|scope| {
        let handles: Vec<_> = lanes
            .iter()
            .enumerate()
            .map(|(index, lane)| scope.spawn(move || run_lane(index, lane)))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| vec!["a lane panicked".to_owned()])
            })
            .collect::<Vec<_>>()
    });
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

/// One lane of [`run_lanes`]: its steps in order, their output printed as each ends. Returns
/// the failures.
fn run_lane(index: usize, lane: &[Step]) -> Vec<String> {
    let mut failures = Vec::new();
    for step in lane {
        let at = Instant::now();
        let result = match &step.action {
            Action::Cargo {
                toolchain,
                args,
                env,
            } => {
                let mut command = cargo_command(*toolchain, args, env);
                if index > 0 {
                    command.env("CARGO_TARGET_DIR", format!("target/lane{index}"));
                }
                match command.output() {
                    Ok(output) => {
                        // One write per stream, so the lanes' outputs do not interleave.
                        let _ = std::io::Write::write_all(&mut std::io::stdout(), &output.stdout);
                        let _ = std::io::Write::write_all(&mut std::io::stderr(), &output.stderr);
                        if output.status.success() {
                            Ok(())
                        } else {
                            let mut notes = Notes::default();
                            String::from_utf8_lossy(&output.stdout)
                                .lines()
                                .for_each(|line| notes.read(line));
                            Err(notes.after(format!("cargo {} failed", args.join(" "))))
                        }
                    }
                    Err(e) => Err(format!("cannot run cargo: {e}")),
                }
            }
            other => execute(other),
        };
        match result {
            Ok(()) => println!(
                "==> xtask: (lane {}) {} passed in {:.1?}",
                index + 1,
                step.name,
                at.elapsed()
            ),
            Err(error) => {
                println!(
                    "==> xtask: (lane {}) {} FAILED in {:.1?}: {error}",
                    index + 1,
                    step.name,
                    at.elapsed()
                );
                failures.push(format!("{}: {error}", step.name));
            }
        }
    }
    failures
}

/// The lines of a cargo run's output that say what failed (the failed tests, each panic's
/// place and first line of message), repeated in the summary so that the end of a long log
/// names them.
#[derive(Default)]
struct Notes {
    lines: Vec<String>,
    /// The previous line was a panic's place: its message follows.
    message_next: bool,
}

impl Notes {
    /// At most this many lines are kept.
    const MOST: usize = 40;

    fn read(&mut self, line: &str) {
        let notable = std::mem::take(&mut self.message_next)
            || line.starts_with("test ") && line.ends_with(" FAILED");
        if line.contains("' panicked at ") {
            self.message_next = true;
        }
        if (notable || self.message_next) && self.lines.len() < Self::MOST {
            self.lines.push(line.to_owned());
        }
    }

    /// `error`, then the kept lines, indented.
    fn after(self, error: String) -> String {
        self.lines
            .iter()
            .fold(error, |all, line| format!("{all}\n      {line}"))
    }
}

/// Whether a step runs cargo under the Miri toolchain (itself or in its lanes).
fn uses_miri(step: &Step) -> bool {
    match &step.action {
        Action::Cargo { toolchain, .. } => *toolchain == Some(MIRI_TOOLCHAIN),
        Action::Lanes(lanes) => lanes.iter().flatten().any(uses_miri),
        _ => false,
    }
}

fn run(plan: &[Step]) -> ExitCode {
    let needs_miri = plan.iter().any(uses_miri);
    if needs_miri && !ensure_miri() {
        eprintln!(
            "xtask: could not install {MIRI_TOOLCHAIN} with Miri (rustup toolchain install failed)"
        );
        return ExitCode::FAILURE;
    }
    let started = Instant::now();
    let mut failed = Vec::new();
    for step in plan {
        println!("\n==> xtask: {}", step.name);
        let at = Instant::now();
        match execute(&step.action) {
            Ok(()) => println!("==> xtask: {} passed in {:.1?}", step.name, at.elapsed()),
            Err(error) => {
                println!(
                    "==> xtask: {} FAILED in {:.1?}: {error}",
                    step.name,
                    at.elapsed()
                );
                failed.push((step.name.as_str(), error));
            }
        }
    }
    let passed = plan.len() - failed.len();
    println!(
        "\nxtask: {passed} passed, {} failed ({:.1?})",
        failed.len(),
        started.elapsed()
    );
    for (name, error) in &failed {
        println!("  failed: {name}\n    {error}");
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: cargo xtask test [--quick] | miri | package | images | audit | build | bench | \
         explore [schedules] | soak [hours] | fuzz [seconds]"
    );
    ExitCode::from(2)
}

/// Runs one workspace test binary (`cargo test --test NAME -- --nocapture`) with `env`, after
/// `cargo xtask images` (its image half loads them): the long modes.
fn long_test(name: &str, env: &[(&str, String)]) -> ExitCode {
    if build_images() != ExitCode::SUCCESS {
        return ExitCode::FAILURE;
    }
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command.args([
        "test",
        "-p",
        "portcls-workspace-tests",
        "--test",
        name,
        "--",
        "--nocapture",
    ]);
    for (key, value) in env {
        println!("xtask: {key}={value}");
        command.env(key, value);
    }
    match command.status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("xtask: {name} failed ({status})");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("xtask: cannot run cargo: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo xtask explore [schedules]`: every schedule scenario with `schedules` schedules per
/// profile (1000 by default), seeds from a new base each run (the time, or
/// `PORTCLS_SCHEDULE_BASE`), on the host build and the image.
fn explore(schedules: u64) -> ExitCode {
    let base = std::env::var("PORTCLS_SCHEDULE_BASE").unwrap_or_else(|_| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        now.map_or(0, |d| d.as_secs()).to_string()
    });
    long_test(
        "schedules",
        &[
            ("PORTCLS_SCHEDULES", schedules.to_string()),
            ("PORTCLS_SCHEDULE_BASE", base),
        ],
    )
}

/// `cargo xtask soak [hours]`: the soak for that many simulated hours (24 by default), on the
/// host build and the image.
fn soak(hours: u64) -> ExitCode {
    long_test(
        "soak",
        &[("PORTCLS_SOAK_SECONDS", (hours * 3_600).to_string())],
    )
}

/// `cargo xtask fuzz [seconds]`: every target for that long (60 s by default).
fn print_fuzz(seconds: u32) -> ExitCode {
    match fuzz::run(seconds) {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask fuzz: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo xtask images`: every kernel image the workspace's image tests load into the model:
/// the library probe for both architectures, with and without the export (checked, then kept
/// in `target/probe/<arch>/`), and the driver packages (`target/package/<arch>/`).
fn build_images() -> ExitCode {
    for target in KERNEL_TARGETS {
        for export in [false, true] {
            match kernel::check_library_probe(target, export) {
                Ok(path) => println!("xtask: probe {}", path.display()),
                Err(error) => {
                    eprintln!("xtask images: probe for {target}: {error}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    print_package()
}

/// `cargo xtask package`: both packages, with their audit and verification.
fn print_package() -> ExitCode {
    for target in KERNEL_TARGETS {
        match package::package(target) {
            Ok(package) => {
                let total: u64 = package.files.iter().map(|(_, size)| size).sum();
                println!("package: {} ({total} bytes)", package.dir.display());
                for (file, size) in &package.files {
                    println!("  {file}: {size} bytes");
                }
                println!("  audit:");
                for f in &package.audit {
                    println!(
                        "    [{}] {}: {}",
                        if f.ok { "pass" } else { "FAIL" },
                        f.check,
                        f.detail
                    );
                }
                println!("  verification:");
                for line in &package.verification {
                    println!("    {line}");
                }
            }
            Err(error) => {
                eprintln!("xtask package: {target}: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

/// `cargo xtask audit`: audits both driver images and prints every finding.
fn print_audit() -> ExitCode {
    let mut ok = true;
    for target in KERNEL_TARGETS {
        match audit::audit_driver(target) {
            Ok((path, findings)) => {
                println!("audit of {}:", path.display());
                for f in findings {
                    ok &= f.ok;
                    println!(
                        "  [{}] {}: {}",
                        if f.ok { "pass" } else { "FAIL" },
                        f.check,
                        f.detail
                    );
                }
            }
            Err(error) => {
                eprintln!("xtask audit: {target}: {error}");
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `cargo xtask bench`: prints the table.
fn print_bench() -> ExitCode {
    match bench::bench() {
        Ok(rows) => {
            println!("| # | measurement | measured | goal |");
            println!("| --- | --- | --- | --- |");
            for [row, what, measured, goal] in rows {
                println!("| {row} | {what} | {measured} | {goal} |");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("xtask bench: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The driver image's file name in a package (the INF's service binary).
const DRIVER_FILE: &str = "wavertsample.sys";

/// `cargo xtask build`: links, audits and copies the driver for both targets.
fn build_driver() -> ExitCode {
    for target in KERNEL_TARGETS {
        let arch = if target.starts_with("x86_64") {
            "x64"
        } else {
            "arm64"
        };
        let outcome = kernel::check_driver(target).and_then(|image| {
            let dir = std::path::Path::new("target").join("driver").join(arch);
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let out = dir.join(DRIVER_FILE);
            std::fs::copy(&image, &out).map_err(|e| format!("{}: {e}", out.display()))?;
            Ok(out)
        });
        match outcome {
            Ok(out) => {
                let size = std::fs::metadata(&out).map_or(0, |m| m.len());
                println!("xtask: {arch}: {} ({size} bytes)", out.display());
            }
            Err(error) => {
                eprintln!("xtask: {arch}: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["test"] => run(&test_plan(true)),
        ["test", "--quick"] => run(&test_plan(false)),
        ["miri"] => run(&miri_steps()),
        ["build"] => build_driver(),
        ["bench"] => print_bench(),
        ["audit"] => print_audit(),
        ["package"] => print_package(),
        ["images"] => build_images(),
        ["explore"] => explore(1_000),
        ["explore", schedules] => match schedules.parse() {
            Ok(schedules) => explore(schedules),
            Err(_) => usage(),
        },
        ["soak"] => soak(24),
        ["soak", hours] => match hours.parse() {
            Ok(hours) => soak(hours),
            Err(_) => usage(),
        },
        ["fuzz"] => print_fuzz(60),
        ["fuzz", seconds] => print_fuzz(seconds.parse().unwrap_or(60)),
        _ => usage(),
    }
}

#[cfg(test)]
mod tests {
    use super::Notes;

    #[test]
    fn notes_keep_the_failed_tests_and_each_panics_place_and_message() {
        let output = "\
running 3 tests
test passes ... ok
test fails ... FAILED
test also_fails ... FAILED

failures:

---- fails stdout ----

thread 'fails' panicked at tests/virtio.rs:10:5:
assertion `left == right` failed
  left: 1
 right: 2
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace

test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out
";
        let mut notes = Notes::default();
        output.lines().for_each(|line| notes.read(line));
        assert_eq!(
            notes.after("cargo test failed".to_owned()),
            "cargo test failed\n      test fails ... FAILED\n      test also_fails ... FAILED\n      \
             thread 'fails' panicked at tests/virtio.rs:10:5:\n      assertion `left == right` \
             failed"
        );
    }

    #[test]
    fn notes_stop_at_their_limit() {
        let mut notes = Notes::default();
        (0..100).for_each(|i| notes.read(&format!("test t{i} ... FAILED")));
        assert_eq!(notes.lines.len(), Notes::MOST);
    }
}
