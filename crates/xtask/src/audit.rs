//! The audit of a driver image, as a certification lab would run it: PE headers, memory
//! integrity (HVCI) rules, and imports against the allow-list and the Windows floor.
//!
//! Every check reads the file's bytes itself (with the `object` crate's PE reader); nothing is
//! taken from the linker's word. The DLL bit is allowed: rustc links a `cdylib` with `/DLL`,
//! as every windows-drivers-rs driver is, and the kernel loader accepts it.

use std::collections::{BTreeMap, BTreeSet};

use object::LittleEndian as LE;
use object::pe;
use object::read::pe::{ImageNtHeaders as _, PeFile64};

use crate::kernel::IMPORT_ALLOW_LIST;

/// The first Windows 10 build for x64 the package supports (1511).
pub const FLOOR_X64: u32 = 10_586;
/// The first Windows 10 build with arm64 support (1709): nothing older runs an arm64 driver.
pub const FLOOR_ARM64: u32 = 16_299;

/// Modules a kernel driver may import from.
const KERNEL_MODULES: [&str; 4] = ["ntoskrnl.exe", "portcls.sys", "hal.dll", "ks.sys"];

/// One check's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// What was checked.
    pub check: &'static str,
    /// Whether it holds.
    pub ok: bool,
    /// What was found.
    pub detail: String,
}

fn finding(check: &'static str, ok: bool, detail: impl Into<String>) -> Finding {
    Finding {
        check,
        ok,
        detail: detail.into(),
    }
}

/// Byte offset of the optional header's `CheckSum` field.
fn checksum_offset(data: &[u8]) -> Option<usize> {
    let e_lfanew = u32::from_le_bytes(data.get(0x3c..0x40)?.try_into().ok()?) as usize;
    // Signature (4) + file header (20) + 64 bytes into the optional header.
    Some(e_lfanew + 4 + 20 + 64)
}

/// The PE checksum: the file as 16-bit little-endian words with the `CheckSum` field taken as
/// zero, summed with carries folded back into 16 bits, plus the file's length.
#[must_use]
pub fn pe_checksum(data: &[u8]) -> u32 {
    let skip = checksum_offset(data).unwrap_or(usize::MAX);
    let mut sum: u64 = 0;
    for (i, pair) in data.chunks(2).enumerate() {
        let at = i * 2;
        if at >= skip && at < skip + 4 {
            continue;
        }
        let word = u16::from_le_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]);
        sum += u64::from(word);
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum = (sum & 0xFFFF) + (sum >> 16);
    u32::try_from(sum)
        .unwrap_or(0)
        .wrapping_add(u32::try_from(data.len()).unwrap_or(0))
}

/// Writes a correct checksum into the image.
pub fn fix_checksum(data: &mut [u8]) {
    let sum = pe_checksum(data);
    if let Some(at) = checksum_offset(data)
        && let Some(field) = data.get_mut(at..at + 4)
    {
        field.copy_from_slice(&sum.to_le_bytes());
    }
}

/// The imports of an image by module (lower-case names).
pub fn imports(file: &PeFile64<'_>) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let Some(table) = file.import_table().map_err(|e| e.to_string())? else {
        return Ok(out);
    };
    let mut descriptors = table.descriptors().map_err(|e| e.to_string())?;
    while let Some(descriptor) = descriptors.next().map_err(|e| e.to_string())? {
        let module = table
            .name(descriptor.name.get(LE))
            .map_err(|e| e.to_string())?;
        let names = out
            .entry(String::from_utf8_lossy(module).to_ascii_lowercase())
            .or_default();
        let mut thunks = table
            .thunks(descriptor.original_first_thunk.get(LE))
            .map_err(|e| e.to_string())?;
        while let Some(thunk) = thunks
            .next::<pe::ImageNtHeaders64>()
            .map_err(|e| e.to_string())?
        {
            match table
                .import::<pe::ImageNtHeaders64>(thunk)
                .map_err(|e| e.to_string())?
            {
                object::read::pe::Import::Name(_, name) => {
                    names.insert(String::from_utf8_lossy(name).into_owned());
                }
                object::read::pe::Import::Ordinal(ordinal) => {
                    names.insert(format!("#{ordinal}"));
                }
            }
        }
    }
    Ok(out)
}

/// Checks an import set: only kernel modules, every routine on the allow-list, none newer than
/// `floor`.
#[must_use]
pub fn check_imports(imports: &BTreeMap<String, BTreeSet<String>>, floor: u32) -> Vec<Finding> {
    let mut findings = Vec::new();
    let user: Vec<&String> = imports
        .keys()
        .filter(|m| !KERNEL_MODULES.contains(&m.as_str()))
        .collect();
    findings.push(finding(
        "imports only from kernel modules",
        user.is_empty(),
        if user.is_empty() {
            format!("{:?}", imports.keys().collect::<Vec<_>>())
        } else {
            format!("user-mode or unknown modules: {user:?}")
        },
    ));
    let mut problems = Vec::new();
    let mut count = 0;
    for (module, names) in imports {
        for name in names {
            count += 1;
            let entry = IMPORT_ALLOW_LIST
                .iter()
                .find(|(m, n, _)| m.eq_ignore_ascii_case(module) && n == name);
            match entry {
                None => problems.push(format!("{module}!{name} is not on the allow-list")),
                Some((_, _, build)) if *build > floor => problems.push(format!(
                    "{module}!{name} first appears in build {build}, after the floor {floor}"
                )),
                Some(_) => {}
            }
        }
    }
    findings.push(finding(
        "imports on the allow-list, none newer than the floor",
        problems.is_empty(),
        if problems.is_empty() {
            format!("{count} routines, all in build {floor} or earlier")
        } else {
            problems.join("; ")
        },
    ));
    findings
}

/// Audits a driver image for `target` (an `x86_64`/`aarch64` Windows triple).
///
/// # Errors
/// The file is not a readable PE32+ image.
#[allow(clippy::too_many_lines)] // one list of checks, in the order a lab reads them
pub fn audit_image(data: &[u8], target: &str) -> Result<Vec<Finding>, String> {
    let file = PeFile64::parse(data).map_err(|e| format!("not a PE32+ image: {e}"))?;
    let headers = file.nt_headers();
    let file_header = headers.file_header();
    let optional = headers.optional_header();
    let mut out = Vec::new();

    let machine = file_header.machine.get(LE);
    let (expected, floor) = if target.starts_with("aarch64") {
        (pe::IMAGE_FILE_MACHINE_ARM64, FLOOR_ARM64)
    } else {
        (pe::IMAGE_FILE_MACHINE_AMD64, FLOOR_X64)
    };
    out.push(finding(
        "machine",
        machine == expected,
        format!("{machine:#06x}"),
    ));
    let subsystem = optional.subsystem.get(LE);
    out.push(finding(
        "native subsystem",
        subsystem == pe::IMAGE_SUBSYSTEM_NATIVE,
        format!("{subsystem}"),
    ));
    let dll = optional.dll_characteristics.get(LE);
    let wanted = pe::IMAGE_DLLCHARACTERISTICS_FORCE_INTEGRITY
        | pe::IMAGE_DLLCHARACTERISTICS_NX_COMPAT
        | pe::IMAGE_DLLCHARACTERISTICS_DYNAMIC_BASE;
    out.push(finding(
        "FORCE_INTEGRITY, NX_COMPAT, DYNAMIC_BASE",
        dll & wanted == wanted,
        format!("DllCharacteristics {dll:#06x}"),
    ));
    let characteristics = file_header.characteristics.get(LE);
    out.push(finding(
        "DLL bit (allowed: a Rust cdylib; the kernel loader accepts it)",
        true,
        format!(
            "Characteristics {characteristics:#06x}, DLL {}",
            characteristics & pe::IMAGE_FILE_DLL != 0
        ),
    ));
    let stored = optional.check_sum.get(LE);
    let computed = pe_checksum(data);
    out.push(finding(
        "PE checksum",
        stored == computed && stored != 0,
        format!("stored {stored:#010x}, computed {computed:#010x}"),
    ));
    let directories = file.data_directories();
    let tls = directories
        .get(pe::IMAGE_DIRECTORY_ENTRY_TLS)
        .map_or(0, |d| d.size.get(LE));
    out.push(finding(
        "no TLS callbacks",
        tls == 0,
        format!("TLS directory {tls} bytes"),
    ));

    // Memory integrity.
    let alignment = optional.section_alignment.get(LE);
    out.push(finding(
        "section alignment 0x1000",
        alignment == 0x1000,
        format!("{alignment:#x}"),
    ));
    let sections = file.section_table();
    let mut wx = Vec::new();
    let mut init_writable = false;
    for section in sections.iter() {
        let flags = section.characteristics.get(LE);
        let name = String::from_utf8_lossy(section.raw_name())
            .trim_end_matches('\0')
            .to_owned();
        if flags & pe::IMAGE_SCN_MEM_WRITE != 0 && flags & pe::IMAGE_SCN_MEM_EXECUTE != 0 {
            wx.push(name.clone());
        }
        if name == "INIT" && flags & pe::IMAGE_SCN_MEM_WRITE != 0 {
            init_writable = true;
        }
    }
    out.push(finding(
        "no section both writable and executable",
        wx.is_empty(),
        if wx.is_empty() {
            format!("{} sections", sections.len())
        } else {
            format!("W+X: {wx:?}")
        },
    ));
    out.push(finding(
        "INIT (if any) not writable",
        !init_writable,
        if init_writable {
            "INIT is writable"
        } else {
            "ok"
        },
    ));
    let iat = directories.get(pe::IMAGE_DIRECTORY_ENTRY_IAT);
    let iat_in_code = iat.is_some_and(|d| {
        let rva = d.virtual_address.get(LE);
        d.size.get(LE) > 0
            && sections.iter().any(|s| {
                let start = s.virtual_address.get(LE);
                let end = start + s.virtual_size.get(LE);
                (start..end).contains(&rva)
                    && s.characteristics.get(LE) & pe::IMAGE_SCN_MEM_EXECUTE != 0
            })
    });
    out.push(finding(
        "import address table outside executable sections",
        !iat_in_code,
        format!("IAT at {:#x}", iat.map_or(0, |d| d.virtual_address.get(LE))),
    ));
    let mut straddling = Vec::new();
    let mut relocations = 0;
    if let Some(mut blocks) = directories
        .relocation_blocks(data, &sections)
        .map_err(|e| e.to_string())?
    {
        while let Some(block) = blocks.next().map_err(|e| e.to_string())? {
            for relocation in block {
                relocations += 1;
                let width = match relocation.typ {
                    pe::IMAGE_REL_BASED_DIR64 => 8,
                    pe::IMAGE_REL_BASED_HIGHLOW => 4,
                    _ => 0,
                };
                let offset = relocation.virtual_address & 0xFFF;
                if width > 0 && offset + width > 0x1000 {
                    straddling.push(format!("{:#x}", relocation.virtual_address));
                }
            }
        }
    }
    out.push(finding(
        "no base relocation straddling a 4 KiB page (unsupported before 1703)",
        straddling.is_empty(),
        if straddling.is_empty() {
            format!("{relocations} relocations")
        } else {
            format!("straddling at {straddling:?}")
        },
    ));

    out.extend(check_imports(&imports(&file)?, floor));
    Ok(out)
}

/// Links the sample driver for `target` and audits the image.
///
/// # Errors
/// The link failed or the image is unreadable.
pub fn audit_driver(target: &str) -> Result<(std::path::PathBuf, Vec<Finding>), String> {
    let path = crate::kernel::check_driver(target)?;
    let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((path, audit_image(&data, target)?))
}

/// Sets bits in the characteristics of the image's first section (a deliberately broken copy
/// for the self-test).
fn break_first_section(data: &mut [u8], bits: u32) -> Option<()> {
    let e_lfanew = u32::from_le_bytes(data.get(0x3c..0x40)?.try_into().ok()?) as usize;
    let optional_size =
        u16::from_le_bytes(data.get(e_lfanew + 20..e_lfanew + 22)?.try_into().ok()?) as usize;
    let at = e_lfanew + 24 + optional_size + 36;
    let field = data.get_mut(at..at + 4)?;
    let value = u32::from_le_bytes(field.try_into().ok()?) | bits;
    field.copy_from_slice(&value.to_le_bytes());
    Some(())
}

/// The audit catches what it must: a writable+executable section, a wrong checksum and an
/// import newer than the floor, each in an otherwise good image.
///
/// # Errors
/// Which broken case the audit missed, or why the good image could not be read.
pub fn self_test(target: &str) -> Result<(), String> {
    let (path, good) = audit_driver(target)?;
    if let Some(bad) = good.iter().find(|f| !f.ok) {
        return Err(format!(
            "the good image fails '{}': {}",
            bad.check, bad.detail
        ));
    }
    let data = std::fs::read(&path).map_err(|e| e.to_string())?;
    let fails = |data: &[u8], check: &str| {
        audit_image(data, target).is_ok_and(|f| f.iter().any(|x| x.check == check && !x.ok))
    };
    let mut wx = data.clone();
    break_first_section(&mut wx, pe::IMAGE_SCN_MEM_WRITE | pe::IMAGE_SCN_MEM_EXECUTE)
        .ok_or("no section table")?;
    fix_checksum(&mut wx);
    if !fails(&wx, "no section both writable and executable") {
        return Err("a writable+executable section passed the audit".into());
    }
    let mut checksum = data.clone();
    let at = checksum_offset(&checksum).ok_or("no header")?;
    checksum[at] ^= 0x5a;
    if !fails(&checksum, "PE checksum") {
        return Err("a wrong checksum passed the audit".into());
    }
    let mut imports = BTreeMap::new();
    imports.insert(
        "ntoskrnl.exe".to_owned(),
        BTreeSet::from(["ExAllocatePool2".to_owned()]),
    );
    if check_imports(&imports, FLOOR_X64).iter().all(|f| f.ok) {
        return Err("a static ExAllocatePool2 passed the audit".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_skips_its_own_field_and_adds_the_length() {
        // A fake 'MZ' header whose e_lfanew points at 0x40: the field is at 0x40+88 = 0x98.
        let mut data = vec![0u8; 0x100];
        data[0x3c] = 0x40;
        data[0] = 0x01;
        data[1] = 0x02;
        let plain = pe_checksum(&data);
        assert_eq!(plain, 0x0201 + 0x40 + 0x100);
        // Whatever the field holds does not change the sum.
        data[0x98..0x9c].copy_from_slice(&0xDEAD_BEEF_u32.to_le_bytes());
        assert_eq!(pe_checksum(&data), plain);
        fix_checksum(&mut data);
        assert_eq!(&data[0x98..0x9c], &plain.to_le_bytes());
        // Carries fold back into 16 bits.
        let ones = vec![0xFFu8; 8];
        assert_eq!(pe_checksum(&ones), 0xFFFF + 8);
    }

    #[test]
    fn imports_newer_than_the_floor_or_unknown_or_from_user_mode_fail() {
        let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        imports
            .entry("ntoskrnl.exe".into())
            .or_default()
            .insert("ExAllocatePoolWithTag".into());
        assert!(check_imports(&imports, FLOOR_X64).iter().all(|f| f.ok));
        imports
            .entry("ntoskrnl.exe".into())
            .or_default()
            .insert("ExAllocatePool2".into());
        let findings = check_imports(&imports, FLOOR_X64);
        assert!(
            findings
                .iter()
                .any(|f| !f.ok && f.detail.contains("ExAllocatePool2"))
        );
        let mut user = BTreeMap::new();
        user.insert(
            "kernel32.dll".to_owned(),
            BTreeSet::from(["ExitProcess".to_owned()]),
        );
        let findings = check_imports(&user, FLOOR_X64);
        assert!(findings.iter().all(|f| !f.ok));
    }
}
