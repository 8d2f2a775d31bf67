//! The publishing dry run: `cargo publish --dry-run` of the crates that go to crates.io.
//!
//! `portcls` depends on `portcls-sys` and has `portcls-sim` as a dev-dependency, which depends
//! on `portcls-sys`; none is on crates.io yet, so `cargo publish --dry-run -p portcls` alone
//! fails to resolve its dependencies. One multi-package invocation (cargo 1.90 and later; the
//! toolchain is pinned to 1.95) packages all three, resolves each one's workspace dependencies
//! through a temporary local registry of the other packaged crates, and builds every packaged
//! crate from its `.crate` contents, in dependency order. Nothing is uploaded and no token is
//! needed; the crates.io index is read to resolve the other dependencies.

use std::process::Command;

/// The crates published to crates.io (cargo orders them by their dependencies itself).
const CRATES: [&str; 3] = ["portcls-sys", "portcls-sim", "portcls"];

/// What every published crate must ship besides its sources: the README its manifest names
/// and both license texts (symbolic links to the workspace root's copies; `cargo package`
/// stores their contents).
const REQUIRED_FILES: [&str; 3] = ["README.md", "LICENSE-MIT", "LICENSE-APACHE"];

/// `cargo <subcommand> <flags> -p <crate>...` for every published crate. `--allow-dirty`: the
/// dry run checks that the crates package and build as they stand, committed or not.
fn cargo_args(subcommand: &[&str], crates: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = subcommand.iter().map(|&a| a.to_owned()).collect();
    args.push("--allow-dirty".to_owned());
    for name in crates {
        args.extend(["-p".to_owned(), (*name).to_owned()]);
    }
    args
}

/// Runs cargo, failing with the command line if it cannot start or fails.
fn run_cargo(args: &[String]) -> Result<(), String> {
    let status = Command::new("cargo")
        .args(args)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`cargo {}` failed: see cargo's message above",
            args.join(" ")
        ))
    }
}

/// Checks that a crate's package lists the [`REQUIRED_FILES`].
fn check_contents(name: &str) -> Result<(), String> {
    let args = cargo_args(&["package", "--list", "--quiet"], &[name]);
    let output = Command::new("cargo")
        .args(&args)
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`cargo {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let listed = String::from_utf8_lossy(&output.stdout);
    let missing: Vec<&str> = REQUIRED_FILES
        .into_iter()
        .filter(|file| !listed.lines().any(|line| line.trim() == *file))
        .collect();
    if missing.is_empty() {
        println!("xtask: {name} ships {}", REQUIRED_FILES.join(", "));
        Ok(())
    } else {
        Err(format!(
            "the {name} package lacks {} (each published crate's directory holds its \
             README.md and links to the workspace root's LICENSE-MIT and LICENSE-APACHE)",
            missing.join(", ")
        ))
    }
}

/// Packages and verifies `portcls-sys`, `portcls-sim` and `portcls` as `cargo publish` would,
/// without uploading anything, then checks that each package ships its README and both
/// license texts.
///
/// # Errors
/// The failing cargo command (its diagnostics are printed above), or the files a package
/// lacks.
pub fn dry_run() -> Result<(), String> {
    forget_extracted_packages()?;
    let args = cargo_args(&["publish", "--dry-run"], &CRATES);
    println!(
        "xtask: cargo {} (packages each crate, resolves the workspace's unpublished crates \
         through a temporary local registry, and builds the packaged sources; nothing is \
         uploaded)",
        args.join(" ")
    );
    run_cargo(&args)?;
    let failures: Vec<String> = CRATES
        .into_iter()
        .filter_map(|name| check_contents(name).err())
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

/// Removes the sources cargo extracted from earlier dry runs' temporary registries
/// (`$CARGO_HOME/registry/src/<registry>/<crate>-<version>`). Cargo extracts a registry's crate
/// once per registry path and version and reuses the directory after, so on a machine that ran
/// the dry run before from the same checkout path, the packages of *this* run would be built
/// from the old sources (same name and version, different contents). None of these crates is on
/// crates.io yet, so only the crates.io index's own directories are left alone.
fn forget_extracted_packages() -> Result<(), String> {
    let home = std::env::var_os("CARGO_HOME").map_or_else(
        || std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cargo")),
        |home| Some(std::path::PathBuf::from(home)),
    );
    let Some(sources) = home.map(|h| h.join("registry").join("src")) else {
        return Ok(());
    };
    let Ok(registries) = std::fs::read_dir(&sources) else {
        return Ok(());
    };
    for registry in registries.flatten() {
        if registry
            .file_name()
            .to_string_lossy()
            .starts_with("index.crates.io-")
        {
            continue;
        }
        let Ok(packages) = std::fs::read_dir(registry.path()) else {
            continue;
        };
        for package in packages.flatten() {
            let name = package.file_name().to_string_lossy().into_owned();
            let ours = CRATES.iter().any(|krate| {
                name.strip_prefix(krate)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|version| version.starts_with(|c: char| c.is_ascii_digit()))
            });
            if ours {
                std::fs::remove_dir_all(package.path())
                    .map_err(|e| format!("cannot remove {}: {e}", package.path().display()))?;
                println!("xtask: removed a stale extraction of {name} from an earlier dry run");
            }
        }
    }
    Ok(())
}
