//! `cargo xtask bench`: one table of what the library and the sample cost.
//!
//! Row 1 counts instructions with callgrind (repeatable on a noisy machine): the safe API
//! against hand-written vtable calls, both against a trivial port, collected only inside the
//! two measured functions of `portcls-bench`. Rows 2-4 and 6 come from `portcls-bench report`,
//! each timing next to its reference from the same run. Row 5 links the images and reads their
//! sizes. Row 7 runs each image in the model (`simulate --image ... --stack`: the x64 image
//! natively, the arm64 image under qemu-aarch64) and reads the deepest kernel stack its own code
//! used per entry point. Nothing here passes or fails on a number: the goals are printed beside
//! the figures (the stack budget is enforced by the workspace's `stack` test, not here).

use std::process::Command;

use crate::kernel;

/// Rounds of register + remove (a thread and an interrupt) per callgrind run.
const ROUNDS: u32 = 1000;
/// The size budget of the sample driver per architecture.
const IMAGE_BUDGET: u64 = 64 * 1024;
/// The stack budget per entry point that the workspace's `stack` test enforces (bytes).
const STACK_BUDGET: u64 = 8 * 1024;

/// The deepest kernel stack the driver's own code used per entry point, for the image at
/// `image`, run by the `simulate` example for the Linux target `host` (None: natively).
fn stack_figures(
    image: &std::path::Path,
    host: Option<&str>,
) -> Result<Vec<(String, u64)>, String> {
    let mut command = Command::new("cargo");
    command.args(["run", "--quiet", "--release"]);
    if let Some(host) = host {
        if !cfg!(target_arch = "aarch64") {
            crate::check_arm64_tools()?;
        }
        command.args(["--target", host]).envs(crate::arm64_env());
    }
    let wav = std::env::temp_dir().join("portcls-bench-stack.wav");
    command.args(["-p", "wavert-sample", "--example", "simulate", "--"]);
    command.arg("--image").arg(image);
    command.args(["--quiet", "--stack", "--seconds", "1", "--wav"]);
    command.arg(&wav);
    let text = run(&mut command)?;
    let _ = std::fs::remove_file(&wav);
    let figures: Vec<(String, u64)> = text
        .lines()
        .skip_while(|line| !line.starts_with("== kernel stack"))
        .skip(1)
        .map_while(|line| {
            let (entry, rest) = line.trim().split_once(": ")?;
            let bytes = rest.split(' ').next()?.parse().ok()?;
            Some((entry.to_owned(), bytes))
        })
        .collect();
    if figures.is_empty() {
        return Err(format!("simulate printed no stack figures:\n{text}"));
    }
    Ok(figures)
}

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
        let driver_image = kernel::check_driver(target)?;
        let driver = kernel::inspect(&driver_image)?;
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
        // The image as linked (the package signs these bytes), run in the model.
        let host = (arch == "arm64").then_some("aarch64-unknown-linux-gnu");
        let mut figures = stack_figures(&driver_image, host)?;
        figures.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let kernel_stack = if arch == "x64" { 0x6000 } else { 0x8000 };
        let listed: Vec<String> = figures
            .iter()
            .map(|(entry, bytes)| format!("{entry} {bytes}"))
            .collect();
        rows.push([
            "7".to_owned(),
            format!(
                "kernel stack, {arch} image in the model{}: the driver's deepest use per entry point, bytes (KERNEL_STACK_SIZE {kernel_stack})",
                if host.is_some() { " (qemu-aarch64)" } else { "" }
            ),
            listed.join(", "),
            format!("<= {STACK_BUDGET} per entry point"),
        ]);
    }
    rows.sort_by(|a, b| a[0].cmp(&b[0]));
    Ok(rows)
}
