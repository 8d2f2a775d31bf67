//! `cargo xtask package`: the signed driver package for x64 and arm64, from any OS.
//!
//! Per architecture, in `target/package/<arch>/`: the audited `.sys` (cross-built, checksum
//! written by the linker and re-checked), the `.inf` stamped from `inf/wavertsample.inx`, the
//! catalog over both ([`catalog`]), the `.sys` and the `.cat` test-signed with
//! `osslsigncode` and a test certificate made once with `openssl` under `target/test-cert/`
//! (or the one in `PORTCLS_SIGN_CERT` / `PORTCLS_SIGN_KEY`), and the certificate as `.cer`.
//! Then everything is verified by an independent tool: `osslsigncode verify` on the `.sys` and
//! the `.cat`, `osslsigncode verify -catalog` for the `.sys` against the catalog, and the
//! `.inf`'s flat hashes (and the `.sys`'s Authenticode SHA-1, which osslsigncode does not
//! look at) against their catalog members by our own reader. The signed catalog's structure
//! is checked against inf2cat's ([`catalog::check`]: two entries per file, the attributes,
//! `OS` and `HWIDn`, `SpcSpOpusInfo` signed) and its members are listed in the output. A
//! missing tool stops the command before anything is written, with what to install.

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
/// The `/os` the Windows flow passes to inf2cat for x64 (wdk-build's `rust-driver-makefile.toml`,
/// which `Makefile.toml` extends on Windows, maps `x86_64-pc-windows-msvc` to it): the
/// catalog made here says what inf2cat writes for it ([`catalog::os_attribute`]).
const CAT_OS_X64: &str = "10_x64";
/// The `/os` the Windows flow passes to inf2cat for arm64 (wdk-build's mapping of
/// `aarch64-pc-windows-msvc`); inf2cat writes `OS` = `Server_v100_ARM64` for it, as scream's
/// arm64 catalog shows.
const CAT_OS_ARM64: &str = "Server10_arm64";
/// The `OSAttr` of every member, as inf2cat writes it for Windows 10 targets.
const OS_ATTR: &str = "2:10.0";
/// The program name in the signatures' `SpcSpOpusInfo` (signtool's `/d`). osslsigncode writes
/// that signed attribute only when given `-n` or `-i`; signtool always writes it.
const SIGNED_DESCRIPTION: &str = "WaveRT Sample Audio Driver";

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
        "-n",
        SIGNED_DESCRIPTION,
        "-in",
        &file.to_string_lossy(),
        "-out",
        &signed.to_string_lossy(),
    ]))?;
    std::fs::rename(&signed, file).map_err(|e| format!("{}: {e}", file.display()))
}

/// The package's catalog members: the image and the INF, by their hashes.
fn members(sys: &[u8], inf: &[u8]) -> Result<[Member; 2], String> {
    Ok([
        Member::hash(&format!("{DRIVER}.sys"), Kind::Pe, sys)?,
        Member::hash(&format!("{DRIVER}.inf"), Kind::Flat, inf)?,
    ])
}

/// The `OS` catalog attribute for an architecture's `/os` value.
fn os_for(cat_os: &str) -> Result<&'static str, String> {
    catalog::os_attribute(cat_os)
        .ok_or_else(|| format!("no known inf2cat OS attribute for /os:{cat_os}"))
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
        ("arm64", "arm64", os_for(CAT_OS_ARM64)?)
    } else {
        ("x64", "amd64", os_for(CAT_OS_X64)?)
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
    let members = members(&sys_bytes, &inf_bytes)?;
    let hardware_ids = catalog::hardware_ids(&String::from_utf8_lossy(&inf_bytes));
    let header = catalog::Header {
        os,
        os_attr: OS_ATTR,
        hardware_ids: &hardware_ids,
    };
    let unsigned = catalog::build(&members, &header, now)?;
    std::fs::write(&cat, unsigned).map_err(|e| format!("{}: {e}", cat.display()))?;

    let (cert, key) = test_certificate()?;
    sign(&sys, &cert, &key)?;
    sign(&cat, &cert, &key)?;
    // The signed catalog has inf2cat's structure and signtool's signed attributes.
    let signed_cat = std::fs::read(&cat).map_err(|e| e.to_string())?;
    let structure = catalog::check(
        &signed_cat,
        &catalog::Expected {
            members: &members,
            header,
            signed: true,
        },
    )
    .map_err(|e| format!("catalog structure: {e}"))?;
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
    let mut verification = verify(&sys, &inf, &cat, &cert)?;
    verification.extend(describe(&structure));
    tamper_test(&dir, &sys, &inf, &cert, &key, &header, now)?;
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

/// The catalog's structure, for the output: a summary, then one line per member (hash
/// algorithm, tag, attributes in the order stored) and per catalog attribute.
fn describe(found: &catalog::Inspection) -> Vec<String> {
    let mut out = vec![format!(
        "catalog structure as inf2cat writes it: {} entries (SHA-256 with indirect data and SHA-1 without, per file), catalog attributes {}, signed attributes include SpcSpOpusInfo",
        found.entries.len(),
        found
            .attributes
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )];
    for entry in &found.entries {
        out.push(format!("catalog member: {}", entry.describe()));
    }
    for pair in &found.attributes {
        out.push(format!(
            "catalog attribute: {} = \"{}\" ({:#010x})",
            pair.name, pair.value, pair.flags
        ));
    }
    out
}

/// The verification must fail on a catalog that lists a wrong hash for the `.sys` and on an
/// `.inf` changed after cataloguing (checked in a scratch copy; the package is untouched).
fn tamper_test(
    dir: &Path,
    sys: &Path,
    inf: &Path,
    cert: &Path,
    key: &Path,
    header: &catalog::Header,
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
    let mut wrong = members(
        &std::fs::read(sys).map_err(|e| e.to_string())?,
        &std::fs::read(inf).map_err(|e| e.to_string())?,
    )?;
    wrong[0].sha256[0] ^= 1;
    wrong[0].sha1[0] ^= 1;
    std::fs::write(&bad_cat, catalog::build(&wrong, header, now)?).map_err(|e| e.to_string())?;
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
    // osslsigncode cannot hash an INF: compare its flat hashes with the catalog members
    // ourselves; and osslsigncode only looks at the SHA-256 member of the .sys (the one with
    // indirect data), so compare the SHA-1 member too.
    let listed = catalog::members(&std::fs::read(cat).map_err(|e| e.to_string())?)?;
    let name = |path: &Path| {
        path.file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned())
    };
    let (inf_name, sys_name) = (name(inf), name(sys));
    let is_listed = |file: &str, tag: &[u8]| {
        listed
            .iter()
            .any(|(f, t)| f.eq_ignore_ascii_case(file) && t.as_slice() == tag)
    };
    let inf_member = Member::hash(
        &inf_name,
        Kind::Flat,
        &std::fs::read(inf).map_err(|e| e.to_string())?,
    )?;
    if !listed
        .iter()
        .any(|(f, _)| f.eq_ignore_ascii_case(&inf_name))
    {
        return Err(format!("{inf_name} is not in the catalog"));
    }
    if !is_listed(&inf_name, &inf_member.sha256) || !is_listed(&inf_name, &inf_member.sha1) {
        return Err(format!("{inf_name}: its hash differs from the catalog's"));
    }
    out.push(format!(
        "{inf_name}: flat SHA-256 and SHA-1 match its catalog members"
    ));
    let sys_sha1 = catalog::authenticode_sha1(&std::fs::read(sys).map_err(|e| e.to_string())?)?;
    if !is_listed(&sys_name, &sys_sha1) {
        return Err(format!(
            "{sys_name}: its Authenticode SHA-1 is not in the catalog"
        ));
    }
    out.push(format!(
        "{sys_name}: Authenticode SHA-1 matches its SHA-1 catalog member"
    ));
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
    fn the_catalog_os_is_the_one_the_windows_flow_passes_to_inf2cat() {
        // The Windows flow is wdk-build's (Makefile.toml extends its rust-driver-makefile.toml):
        // its inf2cat task maps each target to the `/os` our catalogs must match.
        let makefile = crate::wdk::locked_source("wdk_build")
            .map(|dir| dir.join("rust-driver-makefile.toml"))
            .and_then(|path| {
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
            })
            .unwrap();
        let line = makefile
            .lines()
            .find(|l| l.contains("WDK_BUILD_INF2CAT_OS") && l.contains("mapping"))
            .expect("wdk-build's inf2cat /os mapping");
        assert!(
            line.contains(&format!("\"x86_64-pc-windows-msvc\" = \"{CAT_OS_X64}\"")),
            "{line}"
        );
        assert!(
            line.contains(&format!("\"aarch64-pc-windows-msvc\" = \"{CAT_OS_ARM64}\"")),
            "{line}"
        );
        assert_eq!(os_for(CAT_OS_X64).unwrap(), "_v100_X64");
        assert_eq!(os_for(CAT_OS_ARM64).unwrap(), "Server_v100_ARM64");
    }

    #[test]
    fn copied_files_come_from_the_copyfiles_sections() {
        let inf = "[Install]\nCopyFiles = Driver.Files ; the image\n[Driver.Files]\nwavertsample.sys\n[Other]\nnot.this\n";
        assert_eq!(copied_files(inf), vec!["wavertsample.sys".to_owned()]);
    }
}
