//! Linking kernel-mode images with rust-lld and reading back what the PE file says.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use object::pe;
use object::read::pe::{ImageNtHeaders, PeFile64};

/// The linker settings a WDK build of a WDM driver uses, for lld-link (`/RELEASE` is explicit:
/// lld does not imply the checksum from the native subsystem).
pub const KERNEL_LINK_ARGS: [&str; 6] = [
    "/DRIVER",
    "/SUBSYSTEM:NATIVE",
    "/ENTRY:DriverEntry",
    "/NODEFAULTLIB",
    "/INTEGRITYCHECK",
    "/RELEASE",
];

/// Where kernel images are built (apart from host builds, whose flags differ).
pub const TARGET_DIR: &str = "target/kernel";

/// Links `package` as a kernel-mode image for `target` (release, panic = abort, rust-lld) and
/// returns the image's path.
pub fn link(
    package: &str,
    target: &str,
    features: &[&str],
    default_features: bool,
) -> Result<PathBuf, String> {
    let mut command = Command::new("cargo");
    command.args(["rustc", "--quiet", "--release", "--crate-type", "cdylib"]);
    command.args([
        "-p",
        package,
        "--target",
        target,
        "--target-dir",
        TARGET_DIR,
    ]);
    if !default_features {
        command.arg("--no-default-features");
    }
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    command.args(["--", "-C", "linker=rust-lld"]);
    for arg in KERNEL_LINK_ARGS {
        command.args(["-C", &format!("link-arg={arg}")]);
    }
    command.env("CARGO_PROFILE_RELEASE_PANIC", "abort");
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("linking {package} for {target} failed"));
    }
    let file = format!("{}.dll", package.replace('-', "_"));
    Ok(Path::new(TARGET_DIR)
        .join(target)
        .join("release")
        .join(file))
}

/// What the audit reads from a PE image.
#[derive(Debug)]
pub struct Image {
    /// `IMAGE_FILE_MACHINE_*`.
    pub machine: u16,
    /// `IMAGE_SUBSYSTEM_*`.
    pub subsystem: u16,
    /// Imported routines by module.
    pub imports: BTreeMap<String, BTreeSet<String>>,
    /// File size in bytes.
    pub size: u64,
    /// Bytes of code (the virtual size of the executable sections).
    pub code: u64,
}

/// Reads the headers and the import table of a 64-bit PE file.
pub fn inspect(path: &Path) -> Result<Image, String> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file = PeFile64::parse(&*data)
        .map_err(|e| format!("{}: not a PE32+ image: {e}", path.display()))?;
    let headers = file.nt_headers();
    let machine = headers.file_header().machine.get(object::LittleEndian);
    let subsystem = headers
        .optional_header()
        .subsystem
        .get(object::LittleEndian);
    let imports = crate::audit::imports(&file)?;
    let code = file
        .section_table()
        .iter()
        .filter(|section| {
            section.characteristics.get(object::LittleEndian) & pe::IMAGE_SCN_MEM_EXECUTE != 0
        })
        .map(|section| u64::from(section.virtual_size.get(object::LittleEndian)))
        .sum();
    Ok(Image {
        machine,
        subsystem,
        imports,
        size: data.len() as u64,
        code,
    })
}

/// The machine value a target's images must carry.
pub fn expected_machine(target: &str) -> u16 {
    if target.starts_with("aarch64") {
        pe::IMAGE_FILE_MACHINE_ARM64
    } else {
        pe::IMAGE_FILE_MACHINE_AMD64
    }
}

/// Where the checked probe images are kept for the workspace's probe tests, which run them in
/// the model: `target/probe/<arch>/probe.sys` and `probe-export.sys`.
pub fn probe_image_path(target: &str, export: bool) -> PathBuf {
    let arch = if target.starts_with("aarch64") {
        "arm64"
    } else {
        "x64"
    };
    let name = if export {
        "probe-export.sys"
    } else {
        "probe.sys"
    };
    Path::new("target").join("probe").join(arch).join(name)
}

/// Links the library probe and checks its image: machine, native subsystem, and exactly the
/// imports the library documents (no `Pc*StreamResource` exports without the `export` feature).
/// The checked image is copied to [`probe_image_path`].
pub fn check_library_probe(target: &str, export: bool) -> Result<PathBuf, String> {
    let path = link("portcls-kernel-probe", target, &[], export)?;
    let image = inspect(&path)?;
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let ntoskrnl = [
        "IoDisconnectInterruptEx",
        "ObfDereferenceObject",
        "ObfReferenceObject",
    ];
    expected.insert(
        "ntoskrnl.exe".to_owned(),
        ntoskrnl.map(str::to_owned).into(),
    );
    let mut portcls = vec!["PcGetPhysicalDeviceObject"];
    if export {
        portcls.extend(["PcAddStreamResource", "PcRemoveStreamResource"]);
    }
    expected.insert(
        "portcls.sys".to_owned(),
        portcls.into_iter().map(str::to_owned).collect(),
    );
    println!(
        "    {}: {} bytes, machine {:#06x}, subsystem {}, imports {:?}",
        path.display(),
        image.size,
        image.machine,
        image.subsystem,
        image.imports
    );
    if image.machine != expected_machine(target) {
        return Err(format!(
            "machine {:#06x}, expected {:#06x}",
            image.machine,
            expected_machine(target)
        ));
    }
    if image.subsystem != pe::IMAGE_SUBSYSTEM_NATIVE {
        return Err(format!(
            "subsystem {}, expected native (1)",
            image.subsystem
        ));
    }
    if image.imports != expected {
        return Err(format!(
            "imports {:?}, expected exactly {expected:?}",
            image.imports
        ));
    }
    let kept = probe_image_path(target, export);
    let copied = kept
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::copy(&path, &kept));
    copied.map_err(|e| format!("copying {} to {}: {e}", path.display(), kept.display()))?;
    Ok(kept)
}

/// Every routine a kernel image of this project may import, with the first Windows build that
/// exports it. Nothing the sample imports may be newer than its floor, Windows 10 1511 (10586).
pub const IMPORT_ALLOW_LIST: &[(&str, &str, u32)] = &[
    ("ntoskrnl.exe", "ExAllocatePoolWithTag", 2600),
    ("ntoskrnl.exe", "ExFreePoolWithTag", 2600),
    ("ntoskrnl.exe", "MmGetSystemRoutineAddress", 2600),
    ("ntoskrnl.exe", "KeQueryPerformanceCounter", 2600),
    ("ntoskrnl.exe", "KeInitializeEvent", 2600),
    ("ntoskrnl.exe", "KeSetEvent", 2600),
    ("ntoskrnl.exe", "KeWaitForSingleObject", 2600),
    ("ntoskrnl.exe", "PsCreateSystemThread", 2600),
    ("ntoskrnl.exe", "ObReferenceObjectByHandle", 2600),
    ("ntoskrnl.exe", "ObfReferenceObject", 2600),
    ("ntoskrnl.exe", "ObfDereferenceObject", 2600),
    ("ntoskrnl.exe", "ZwWaitForSingleObject", 2600),
    ("ntoskrnl.exe", "ZwClose", 2600),
    ("ntoskrnl.exe", "KeAcquireSpinLockRaiseToDpc", 2600),
    ("ntoskrnl.exe", "KeReleaseSpinLock", 2600),
    ("ntoskrnl.exe", "memcpy", 2600),
    ("ntoskrnl.exe", "memmove", 2600),
    ("ntoskrnl.exe", "memset", 2600),
    ("ntoskrnl.exe", "memcmp", 2600),
    ("ntoskrnl.exe", "IoDisconnectInterruptEx", 6000),
    // Hardware: interrupts, DPCs, the bus interface IRP, device memory.
    ("ntoskrnl.exe", "IoConnectInterruptEx", 6000),
    ("ntoskrnl.exe", "KeAcquireInterruptSpinLock", 2600),
    ("ntoskrnl.exe", "KeReleaseInterruptSpinLock", 2600),
    ("ntoskrnl.exe", "KeSynchronizeExecution", 2600),
    ("ntoskrnl.exe", "KeInitializeDpc", 2600),
    ("ntoskrnl.exe", "KeInsertQueueDpc", 2600),
    ("ntoskrnl.exe", "KeRemoveQueueDpc", 2600),
    ("ntoskrnl.exe", "KeFlushQueuedDpcs", 2600),
    ("ntoskrnl.exe", "IoBuildSynchronousFsdRequest", 2600),
    ("ntoskrnl.exe", "IofCallDriver", 2600),
    ("ntoskrnl.exe", "MmMapIoSpace", 2600),
    ("ntoskrnl.exe", "MmUnmapIoSpace", 2600),
    ("ntoskrnl.exe", "KeStallExecutionProcessor", 2600),
    ("ntoskrnl.exe", "IoGetDmaAdapter", 2600),
    ("ntoskrnl.exe", "ExAllocatePool2", 19041),
    // arm64 only (x64 reads CR8 inline), and only from debug builds of the library; 16299 is
    // the first arm64 Windows 10.
    ("hal.dll", "KeGetCurrentIrql", 16299),
    ("portcls.sys", "PcInitializeAdapterDriver", 2600),
    ("portcls.sys", "PcAddAdapterDevice", 2600),
    ("portcls.sys", "PcNewPort", 2600),
    ("portcls.sys", "PcRegisterSubdevice", 2600),
    ("portcls.sys", "PcRegisterPhysicalConnection", 2600),
    ("portcls.sys", "PcGetPhysicalDeviceObject", 2600),
    ("portcls.sys", "PcDispatchIrp", 2600),
    ("portcls.sys", "PcRegisterAdapterPowerManagement", 2600),
    ("portcls.sys", "PcAddStreamResource", 10240),
    ("portcls.sys", "PcRemoveStreamResource", 10240),
];

/// The sample's floor: Windows 10 1511.
pub const MINIMUM_BUILD: u32 = 10586;

/// Links the sample driver for `target` and checks its image: machine, native subsystem, and
/// every import on the allow-list and no newer than [`MINIMUM_BUILD`]. Returns the image's
/// path.
pub fn check_driver(target: &str) -> Result<PathBuf, String> {
    let path = link("wavert-sample", target, &["kernel"], true)?;
    let image = inspect(&path)?;
    println!(
        "    {}: {} bytes, imports {:?}",
        path.display(),
        image.size,
        image.imports
    );
    if image.machine != expected_machine(target) || image.subsystem != pe::IMAGE_SUBSYSTEM_NATIVE {
        return Err(format!(
            "machine {:#06x} / subsystem {}",
            image.machine, image.subsystem
        ));
    }
    for (module, names) in &image.imports {
        for name in names {
            let entry = IMPORT_ALLOW_LIST
                .iter()
                .find(|(m, n, _)| m.eq_ignore_ascii_case(module) && n == name);
            match entry {
                None => return Err(format!("{module}!{name} is not on the import allow-list")),
                Some((_, _, build)) if *build > MINIMUM_BUILD => {
                    return Err(format!(
                        "{module}!{name} first appears in build {build}, after the floor {MINIMUM_BUILD}"
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Ok(path)
}
