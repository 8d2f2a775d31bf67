//! `cargo xtask`: the workspace's portable build and test logic.
//!
//! - `cargo xtask test`: everything CI runs, in order (format, lints on the host and on both
//!   Windows kernel targets, host tests with and without the `export` feature, the kernel
//!   cross-builds, and the library tests under Miri).
//! - `cargo xtask test --quick`: the same without Miri.

use std::process::{Command, ExitCode};
use std::time::Instant;

/// The nightly toolchain Miri runs on (pinned: `.ci/run` installs it).
const MIRI_TOOLCHAIN: &str = "nightly-2026-05-20";

/// The Windows kernel targets the library and driver build for.
const KERNEL_TARGETS: [&str; 2] = ["x86_64-pc-windows-msvc", "aarch64-pc-windows-msvc"];

/// The crates that make up the `no_std` library (cross-built for the kernel and run under Miri).
const LIBRARY: [&str; 2] = ["portcls-sys", "portcls"];

struct Step {
    name: String,
    toolchain: Option<&'static str>,
    args: Vec<String>,
    env: Vec<(&'static str, &'static str)>,
}

fn step(name: impl Into<String>, args: &[&str]) -> Step {
    Step {
        name: name.into(),
        toolchain: None,
        args: args.iter().map(|&a| a.to_owned()).collect(),
        env: Vec::new(),
    }
}

fn packages(args: &mut Vec<String>, crates: &[&str]) {
    for name in crates {
        args.push("-p".to_owned());
        args.push((*name).to_owned());
    }
}

fn test_plan(with_miri: bool) -> Vec<Step> {
    let mut plan = vec![
        step("format", &["fmt", "--all", "--check"]),
        step(
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
        step(
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
        step("tests (host)", &["test", "--workspace"]),
        step(
            "tests (host, export compiled out)",
            &["test", "-p", "portcls", "--no-default-features"],
        ),
    ];
    for target in KERNEL_TARGETS {
        for export in [true, false] {
            let mut args = vec![
                "clippy".to_owned(),
                "--target".to_owned(),
                target.to_owned(),
            ];
            packages(&mut args, &LIBRARY);
            args.extend(["--features".to_owned(), "portcls/link".to_owned()]);
            if !export {
                args.push("--no-default-features".to_owned());
            }
            args.extend(["--".to_owned(), "-D".to_owned(), "warnings".to_owned()]);
            let label = if export { "" } else { ", export compiled out" };
            plan.push(Step {
                name: format!("cross-build {target} (raw-dylib kernel imports{label})"),
                toolchain: None,
                args,
                env: Vec::new(),
            });
        }
    }
    plan.push(Step {
        name: "docs (broken links are errors)".to_owned(),
        toolchain: None,
        args: ["doc", "--workspace", "--no-deps"]
            .map(str::to_owned)
            .to_vec(),
        env: vec![("RUSTDOCFLAGS", "-D warnings")],
    });
    if with_miri {
        for (label, extra) in [
            ("", None),
            (", export compiled out", Some("--no-default-features")),
        ] {
            let mut args = vec!["miri".to_owned(), "test".to_owned()];
            packages(&mut args, &LIBRARY);
            if extra.is_none() {
                args.extend(["-p".to_owned(), "portcls-sim".to_owned()]);
            }
            args.extend(extra.map(str::to_owned));
            plan.push(Step {
                name: format!("Miri{label}"),
                toolchain: Some(MIRI_TOOLCHAIN),
                args,
                env: vec![("MIRIFLAGS", "-Zmiri-strict-provenance")],
            });
        }
    }
    plan
}

/// Makes sure the pinned nightly with Miri is installed (a fresh machine has only the stable
/// toolchain `rust-toolchain.toml` names).
fn ensure_miri() -> bool {
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

fn run(plan: &[Step]) -> ExitCode {
    if plan
        .iter()
        .any(|step| step.toolchain == Some(MIRI_TOOLCHAIN))
        && !ensure_miri()
    {
        eprintln!(
            "xtask: could not install {MIRI_TOOLCHAIN} with Miri (rustup toolchain install failed)"
        );
        return ExitCode::FAILURE;
    }
    let started = Instant::now();
    let mut failed = Vec::new();
    for step in plan {
        let mut command = Command::new("cargo");
        if let Some(toolchain) = step.toolchain {
            command.arg(format!("+{toolchain}"));
        }
        command.args(&step.args);
        command.envs(step.env.iter().copied());
        println!("\n==> xtask: {} (cargo {})", step.name, step.args.join(" "));
        let at = Instant::now();
        let ok = command.status().is_ok_and(|status| status.success());
        println!(
            "==> xtask: {} {} in {:.1?}",
            step.name,
            if ok { "passed" } else { "FAILED" },
            at.elapsed()
        );
        if !ok {
            failed.push(step.name.as_str());
        }
    }
    let passed = plan.len() - failed.len();
    println!(
        "\nxtask: {passed} passed, {} failed ({:.1?})",
        failed.len(),
        started.elapsed()
    );
    for name in &failed {
        println!("  failed: {name}");
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: cargo xtask test [--quick]");
    ExitCode::from(2)
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
        _ => usage(),
    }
}
