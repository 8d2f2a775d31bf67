//! `cargo xtask bench`: one table of what the library and the sample cost.
//!
//! Row 1 counts instructions with callgrind (repeatable on a noisy machine): the safe API
//! against hand-written vtable calls, both against a trivial port, collected only inside the
//! two measured functions of `portcls-bench`. Rows 2-4 and 6 come from `portcls-bench report`,
//! each timing next to its reference from the same run. Row 5 links the images and reads their
//! sizes. Nothing here passes or fails on a number: the goals are printed beside the figures.

use std::process::Command;

use crate::kernel;

/// Rounds of register + remove (a thread and an interrupt) per callgrind run.
const ROUNDS: u32 = 1000;
/// The size budget of the sample driver per architecture.
const IMAGE_BUDGET: u64 = 64 * 1024;

fn run(command: &mut Command) -> Result<String, String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

/// Instructions callgrind counted inside `function` for `portcls-bench <mode> ROUNDS`.
fn instructions(binary: &str, mode: &str) -> Result<u64, String> {
    let out = std::env::temp_dir().join(format!("portcls-bench.{mode}.callgrind"));
    let text = run(Command::new("valgrind").args([
        "--tool=callgrind",
        &format!("--callgrind-out-file={}", out.display()),
        &format!("--toggle-collect=*{mode}_path*"),
        binary,
        mode,
        &ROUNDS.to_string(),
    ]))?;
    let _ = std::fs::remove_file(&out);
    text.lines()
        .find_map(|line| line.split("Collected :").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| "callgrind printed no instruction count".to_owned())
}

/// The table, or why it could not be made.
pub fn bench() -> Result<Vec<[String; 4]>, String> {
    run(Command::new("cargo").args(["build", "--quiet", "--release", "-p", "portcls-bench"]))?;
    // Where cargo put it: `CARGO_TARGET_DIR` when the caller set one, else the workspace's.
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_owned());
    let binary = &format!("{target}/release/portcls-bench");
    let mut rows = Vec::new();

    if Command::new("valgrind").arg("--version").output().is_err() {
        return Err("valgrind is not installed (Debian: apt-get install valgrind)".to_owned());
    }
    let safe = instructions(binary, "safe")?;
    let raw = instructions(binary, "raw")?;
    #[allow(clippy::cast_precision_loss)] // instruction counts far below 2^52
    let ratio = safe as f64 / raw as f64;
    rows.push([
        "1".to_owned(),
        format!("registration: instructions for {ROUNDS} x (thread + interrupt, register + remove), safe API / raw vtable calls"),
        format!("{safe} / {raw} = {ratio:.3}"),
        "<= 1.05".to_owned(),
    ]);

    let report = run(Command::new(binary).arg("report"))?;
    for line in report.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        if let [row, what, measured, goal] = fields.as_slice() {
            rows.push([
                (*row).to_owned(),
                (*what).to_owned(),
                (*measured).to_owned(),
                (*goal).to_owned(),
            ]);
        }
    }

    for target in crate::KERNEL_TARGETS {
        let arch = if target.starts_with("x86_64") {
            "x64"
        } else {
            "arm64"
        };
        let driver = kernel::inspect(&kernel::check_driver(target)?)?;
        let library = kernel::inspect(&kernel::check_library_probe(target, false)?)?;
        rows.push([
            "5".to_owned(),
            format!("image: sample driver .sys, {arch} (release, before the test signature)"),
            format!("{} bytes ({} bytes of code)", driver.size, driver.code),
            format!("< {IMAGE_BUDGET} bytes"),
        ]);
        rows.push([
            "5".to_owned(),
            format!("image: the library's code, {arch} (the kernel probe: every public path, as the sample links it)"),
            format!("{} bytes of code ({} bytes image)", library.code, library.size),
            "reported".to_owned(),
        ]);
    }
    rows.sort_by(|a, b| a[0].cmp(&b[0]));
    Ok(rows)
}
