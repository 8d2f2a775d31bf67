//! `cargo xtask package`: the signed driver package for x64 and arm64, from any OS.
//!
//! Per architecture, in `target/package/<arch>/`: the audited `.sys` (cross-built, checksum
//! written by the linker and re-checked), the `.inf` stamped from `inf/wavertsample.inx`, the
//! catalog over both ([`catalog`]), the `.sys` and the `.cat` test-signed with
//! `osslsigncode` and a test certificate made once with `openssl` under `target/test-cert/`
//! (or the one in `PORTCLS_SIGN_CERT` / `PORTCLS_SIGN_KEY`), and the certificate as `.cer`.
//! Then everything is verified by an independent tool: `osslsigncode verify` on the `.sys` and
//! the `.cat`, `osslsigncode verify -catalog` for the `.sys` against the catalog, and the
//! `.inf`'s flat hash against its catalog member by our own reader. A missing tool stops the
//! command before anything is written, with what to install.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::audit;
use crate::catalog::{self, Kind, Member};

/// The driver's file names in a package.
const DRIVER: &str = "wavertsample";
/// The INF template.
const TEMPLATE: &str = "inf/wavertsample.inx";
/// Where the test certificate is kept.
const CERT_DIR: &str = "target/test-cert";

/// One architecture's package.
#[derive(Debug)]
pub struct Package {
    /// The directory.
    pub dir: PathBuf,
    /// Its files and their sizes.
    pub files: Vec<(String, u64)>,
    /// The audit's findings on the image.
    pub audit: Vec<audit::Finding>,
    /// What the independent verification printed, line by line.
    pub verification: Vec<String>,
}

fn tool_present(tool: &str, hint: &str) -> Result<(), String> {
    match Command::new(tool).arg("--version").output() {
        Ok(_) => Ok(()),
        Err(_) => Err(format!("{tool} is not installed ({hint})")),
    }
}

fn run(command: &mut Command) -> Result<String, String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(text)
    } else {
        Err(format!("{command:?} failed:\n{text}"))
    }
}

/// Today's date as `MM/DD/YYYY` (UTC), and the seconds since the epoch.
fn today() -> (String, u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Days to a civil date (proleptic Gregorian), as in Howard Hinnant's algorithm.
    let days = i64::try_from(now / 86_400).unwrap_or(0) + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (format!("{month:02}/{day:02}/{year:04}"), now)
}

/// The template with its tokens replaced.
fn stamp(template: &str, arch: &str, date: &str, version: &str) -> String {
    template
        .replace("$ARCH$", arch)
        .replace("$DRIVER_DATE$", date)
        .replace("$DRIVER_VERSION$", version)
}

/// The driver version: the crate version with a fourth part.
fn driver_version() -> String {
    format!("{}.0", env!("CARGO_PKG_VERSION"))
}

/// The test certificate and key (PEM), made once.
fn test_certificate() -> Result<(PathBuf, PathBuf), String> {
    if let (Ok(cert), Ok(key)) = (
        std::env::var("PORTCLS_SIGN_CERT"),
        std::env::var("PORTCLS_SIGN_KEY"),
    ) {
        return Ok((cert.into(), key.into()));
    }
    let dir = Path::new(CERT_DIR);
    let (cert, key) = (dir.join("test-cert.pem"), dir.join("test-key.pem"));
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    run(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-sha256",
        "-nodes",
        "-days",
        "3650",
        "-subj",
        "/CN=WaveRtSample Test Signing",
        "-addext",
        "extendedKeyUsage=codeSigning",
        "-addext",
        "keyUsage=critical,digitalSignature",
        "-keyout",
        &key.to_string_lossy(),
        "-out",
        &cert.to_string_lossy(),
    ]))?;
    Ok((cert, key))
}

fn sign(file: &Path, cert: &Path, key: &Path) -> Result<(), String> {
    let signed = file.with_extension("signed");
    run(Command::new("osslsigncode").args([
        "sign",
        "-certs",
        &cert.to_string_lossy(),
        "-key",
        &key.to_string_lossy(),
        "-h",
        "sha256",
        "-in",
        &file.to_string_lossy(),
        "-out",
        &signed.to_string_lossy(),
    ]))?;
    std::fs::rename(&signed, file).map_err(|e| format!("{}: {e}", file.display()))
}

/// The package's catalog members: the image and the INF, by their hashes.
fn members(sys_hash: [u8; 32], inf_hash: [u8; 32]) -> [Member; 2] {
    [
        Member {
            file: format!("{DRIVER}.sys"),
            kind: Kind::Pe,
            digest: sys_hash,
        },
        Member {
            file: format!("{DRIVER}.inf"),
            kind: Kind::Flat,
            digest: inf_hash,
        },
    ]
}

/// Builds, signs and verifies the package for `target`.
///
/// # Errors
/// A missing tool, a failed build, a failing audit check, or a failed verification.
pub fn package(target: &str) -> Result<Package, String> {
    tool_present(
        "osslsigncode",
        "Debian: apt-get install osslsigncode (2.8 or later)",
    )?;
    tool_present("openssl", "Debian: apt-get install openssl")?;
    let (arch, inf_arch, os) = if target.starts_with("aarch64") {
        ("arm64", "arm64", "_v100_ARM64")
    } else {
        ("x64", "amd64", "_v100_X64")
    };
    let (image, findings) = audit::audit_driver(target)?;
    if let Some(bad) = findings.iter().find(|f| !f.ok) {
        return Err(format!("audit: {}: {}", bad.check, bad.detail));
    }
    let dir = Path::new("target").join("package").join(arch);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let sys = dir.join(format!("{DRIVER}.sys"));
    let inf = dir.join(format!("{DRIVER}.inf"));
    let cat = dir.join(format!("{DRIVER}.cat"));
    let cer = dir.join(format!("{DRIVER}.cer"));
    std::fs::copy(&image, &sys).map_err(|e| format!("{}: {e}", sys.display()))?;
    let template = std::fs::read_to_string(TEMPLATE).map_err(|e| format!("{TEMPLATE}: {e}"))?;
    let (date, now) = today();
    std::fs::write(&inf, stamp(&template, inf_arch, &date, &driver_version()))
        .map_err(|e| format!("{}: {e}", inf.display()))?;

    let sys_bytes = std::fs::read(&sys).map_err(|e| e.to_string())?;
    let inf_bytes = std::fs::read(&inf).map_err(|e| e.to_string())?;
    let sys_hash = catalog::authenticode_hash(&sys_bytes)?;
    let inf_hash = catalog::flat_hash(&inf_bytes);
    let unsigned = catalog::build(&members(sys_hash, inf_hash), os, "2:10.0", now)?;
    std::fs::write(&cat, unsigned).map_err(|e| format!("{}: {e}", cat.display()))?;

    let (cert, key) = test_certificate()?;
    sign(&sys, &cert, &key)?;
    sign(&cat, &cert, &key)?;
    run(Command::new("openssl").args([
        "x509",
        "-in",
        &cert.to_string_lossy(),
        "-outform",
        "DER",
        "-out",
        &cer.to_string_lossy(),
    ]))?;

    // The image as shipped (signed, checksum rewritten by the signer) passes the audit too.
    let signed = std::fs::read(&sys).map_err(|e| e.to_string())?;
    let findings = audit::audit_image(&signed, target)?;
    if let Some(bad) = findings.iter().find(|f| !f.ok) {
        return Err(format!(
            "audit of the signed image: {}: {}",
            bad.check, bad.detail
        ));
    }
    let verification = verify(&sys, &inf, &cat, &cert)?;
    tamper_test(&dir, &sys, &inf, &cert, &key, os, now)?;
    let mut files = Vec::new();
    for path in [&sys, &inf, &cat, &cer] {
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        files.push((
            path.file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
            size,
        ));
    }
    Ok(Package {
        dir,
        files,
        audit: findings,
        verification,
    })
}

/// The verification must fail on a catalog that lists a wrong hash for the `.sys` and on an
/// `.inf` changed after cataloguing (checked in a scratch copy; the package is untouched).
fn tamper_test(
    dir: &Path,
    sys: &Path,
    inf: &Path,
    cert: &Path,
    key: &Path,
    os: &str,
    now: u64,
) -> Result<(), String> {
    let scratch = dir.join("tamper-check");
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let (bad_sys, bad_inf, bad_cat) = (
        scratch.join(format!("{DRIVER}.sys")),
        scratch.join(format!("{DRIVER}.inf")),
        scratch.join(format!("{DRIVER}.cat")),
    );
    std::fs::copy(sys, &bad_sys).map_err(|e| e.to_string())?;
    std::fs::copy(inf, &bad_inf).map_err(|e| e.to_string())?;
    let mut wrong = catalog::authenticode_hash(&std::fs::read(sys).map_err(|e| e.to_string())?)?;
    wrong[0] ^= 1;
    let inf_hash = catalog::flat_hash(&std::fs::read(inf).map_err(|e| e.to_string())?);
    std::fs::write(
        &bad_cat,
        catalog::build(&members(wrong, inf_hash), os, "2:10.0", now)?,
    )
    .map_err(|e| e.to_string())?;
    sign(&bad_cat, cert, key)?;
    let wrong_sys = verify(&bad_sys, &bad_inf, &bad_cat, cert);
    // An INF edited after cataloguing, with the right catalog.
    std::fs::copy(dir.join(format!("{DRIVER}.cat")), &bad_cat).map_err(|e| e.to_string())?;
    let mut text = std::fs::read(inf).map_err(|e| e.to_string())?;
    text.extend_from_slice(b"; edited\r\n");
    std::fs::write(&bad_inf, text).map_err(|e| e.to_string())?;
    let wrong_inf = verify(&bad_sys, &bad_inf, &bad_cat, cert);
    std::fs::remove_dir_all(&scratch).map_err(|e| e.to_string())?;
    match (wrong_sys, wrong_inf) {
        (Err(_), Err(_)) => Ok(()),
        (Ok(_), _) => Err("a catalog with a wrong .sys hash passed verification".into()),
        (_, Ok(_)) => Err("an .inf changed after cataloguing passed verification".into()),
    }
}

/// The independent checks of a finished package.
fn verify(sys: &Path, inf: &Path, cat: &Path, cert: &Path) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let ca = cert.to_string_lossy().into_owned();
    for (what, args) in [
        (
            "signature of the .sys",
            vec!["verify", "-in", &sys.to_string_lossy(), "-CAfile", &ca],
        ),
        (
            "signature of the .cat",
            vec!["verify", "-in", &cat.to_string_lossy(), "-CAfile", &ca],
        ),
        (
            "the .sys against the catalog",
            vec![
                "verify",
                "-catalog",
                &cat.to_string_lossy(),
                "-in",
                &sys.to_string_lossy(),
                "-CAfile",
                &ca,
            ],
        ),
    ] {
        let owned: Vec<String> = args.iter().map(ToString::to_string).collect();
        let text = run(Command::new("osslsigncode").args(&owned))
            .map_err(|e| format!("osslsigncode, {what}: {e}"))?;
        let verdict = text
            .lines()
            .rev()
            .find(|l| l.contains("Succeeded") || l.contains("Failed"))
            .unwrap_or("(no verdict line)")
            .trim()
            .to_owned();
        if !verdict.contains("Succeeded") {
            return Err(format!("osslsigncode, {what}: {verdict}\n{text}"));
        }
        out.push(format!("osslsigncode verify, {what}: {verdict}"));
    }
    // osslsigncode cannot hash an INF: compare its flat hash with the catalog member ourselves.
    let listed = catalog::members(&std::fs::read(cat).map_err(|e| e.to_string())?)?;
    let inf_name = inf
        .file_name()
        .map_or(String::new(), |n| n.to_string_lossy().into_owned());
    let inf_hash = catalog::flat_hash(&std::fs::read(inf).map_err(|e| e.to_string())?);
    match listed.iter().find(|(file, _)| *file == inf_name) {
        Some((_, digest)) if digest.as_slice() == inf_hash => {
            out.push(format!(
                "{inf_name}: flat SHA-256 matches its catalog member"
            ));
        }
        Some(_) => return Err(format!("{inf_name}: its hash differs from the catalog's")),
        None => return Err(format!("{inf_name} is not in the catalog")),
    }
    // Every file the INF copies is in the package and in the catalog.
    let inf_text = std::fs::read_to_string(inf).map_err(|e| e.to_string())?;
    for copied in copied_files(&inf_text) {
        let present = inf.with_file_name(&copied).exists();
        let catalogued = listed
            .iter()
            .any(|(file, _)| file.eq_ignore_ascii_case(&copied));
        if !present || !catalogued {
            return Err(format!(
                "{copied}: copied by the INF but {}",
                if present {
                    "not in the catalog"
                } else {
                    "not in the package"
                }
            ));
        }
        out.push(format!(
            "{copied}: copied by the INF, in the package and the catalog"
        ));
    }
    Ok(out)
}

/// The file names in the INF's `CopyFiles` sections.
fn copied_files(inf: &str) -> Vec<String> {
    let mut sections: Vec<String> = Vec::new();
    for line in inf.lines() {
        let line = line.split(';').next().unwrap_or("").trim();
        if let Some(rest) = line.strip_prefix("CopyFiles") {
            let value = rest.trim_start().trim_start_matches('=');
            sections.extend(value.split(',').map(|s| s.trim().to_owned()));
        }
    }
    let mut files = Vec::new();
    let mut current: Option<String> = None;
    for line in inf.lines() {
        let line = line.split(';').next().unwrap_or("").trim();
        if line.starts_with('[') && line.ends_with(']') {
            current = Some(line[1..line.len() - 1].to_owned());
            continue;
        }
        if line.is_empty() {
            continue;
        }
        if current
            .as_ref()
            .is_some_and(|c| sections.iter().any(|s| s.eq_ignore_ascii_case(c)))
        {
            let name = line.split(',').next().unwrap_or("").trim();
            if !name.is_empty() {
                files.push(name.to_owned());
            }
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamping_replaces_exactly_the_three_tokens() {
        let text = "Signature=\"$Windows NT$\"\nDriverVer=$DRIVER_DATE$,$DRIVER_VERSION$\n[M.NT$ARCH$.10.0]";
        let stamped = stamp(text, "amd64", "11/24/2026", "0.1.0.0");
        assert_eq!(
            stamped,
            "Signature=\"$Windows NT$\"\nDriverVer=11/24/2026,0.1.0.0\n[M.NTamd64.10.0]"
        );
    }

    #[test]
    fn the_date_is_a_calendar_date() {
        let (date, now) = today();
        assert_eq!(date.len(), 10);
        assert!(now > 1_700_000_000);
        let parts: Vec<u32> = date.split('/').map(|p| p.parse().unwrap()).collect();
        assert!((1..=12).contains(&parts[0]) && (1..=31).contains(&parts[1]));
        assert!(parts[2] >= 2023);
    }

    #[test]
    fn copied_files_come_from_the_copyfiles_sections() {
        let inf = "[Install]\nCopyFiles = Driver.Files ; the image\n[Driver.Files]\nwavertsample.sys\n[Other]\nnot.this\n";
        assert_eq!(copied_files(inf), vec!["wavertsample.sys".to_owned()]);
    }
}
