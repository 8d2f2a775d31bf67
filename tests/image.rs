//! The model's image loader on the packages `cargo xtask package` made: the signed `.sys` of
//! this host's architecture loads and runs, and damaged or foreign images are refused with the
//! loader's reason before `DriverEntry` is called, leaving nothing mapped.
//!
//! The damaged images are made from the real one in memory: cut short, the other
//! architecture's package, a base relocation of another type, a writable `.text`, an import
//! renamed. (The kernel would also refuse a damaged file for its broken signature; the model
//! does not check signatures: the package step verifies them with osslsigncode.)
#![cfg(not(miri))] // machine code

mod common;

use object::LittleEndian as LE;
use object::pe;
use object::read::pe::{ImageNtHeaders, PeFile64};
use portcls_sim::image::{HOST_MACHINE, ImageError, mappings_on_this_thread};
use portcls_sim::{Ddi, OsProfile, Sim};
use portcls_sys::STATUS_SUCCESS;

/// Loads `bytes` into a fresh 1511 machine and returns the loader's error; checks that the
/// driver was never entered and nothing stayed mapped.
fn refused(bytes: &[u8]) -> ImageError {
    let sim = Sim::new(OsProfile::Win10_1511);
    let mapped = mappings_on_this_thread();
    let error = sim
        .load_image(bytes)
        .expect_err("the image must be refused");
    assert_eq!(
        mappings_on_this_thread(),
        mapped,
        "nothing stays mapped after: {error}"
    );
    assert!(
        sim.image().is_none(),
        "the machine holds no image after: {error}"
    );
    assert!(
        sim.trace().is_empty(),
        "DriverEntry never ran: {:?}",
        sim.trace()
    );
    error
}

/// The file offset of section `name`'s header.
fn section_header_offset(bytes: &[u8], name: &[u8]) -> usize {
    let file = PeFile64::parse(bytes).unwrap();
    let dos = pe::ImageDosHeader::parse(bytes).unwrap();
    let nt = dos.nt_headers_offset() as usize;
    let headers = file.nt_headers();
    let optional = usize::from(headers.file_header().size_of_optional_header.get(LE));
    let table = nt + 4 + size_of::<pe::ImageFileHeader>() + optional;
    let index = file
        .section_table()
        .iter()
        .position(|s| s.name.starts_with(name))
        .unwrap();
    table + index * size_of::<pe::ImageSectionHeader>()
}

#[test]
fn the_signed_package_loads_and_runs_its_driver_entry() {
    let bytes = common::image_bytes();
    let file = PeFile64::parse(bytes).unwrap();
    let security = file
        .data_directories()
        .get(pe::IMAGE_DIRECTORY_ENTRY_SECURITY)
        .map_or(0, |d| d.size.get(LE));
    assert!(security > 0, "the packaged image carries its signature");

    let sim = Sim::new(OsProfile::Win10_1511);
    assert_eq!(sim.load_image(bytes).unwrap(), STATUS_SUCCESS);
    let image = sim.image().unwrap();
    assert_eq!(image.machine(), HOST_MACHINE);
    assert_eq!(image.file_size(), bytes.len());
    assert!(image.relocations() > 0, "moved from its preferred base");
    assert_ne!(image.base() as u64, image.preferred_base());
    assert!(image.contains(image.entry()));
    let imports = image.imports();
    assert!(
        imports
            .iter()
            .any(|(m, n)| m == "portcls.sys" && n == "PcInitializeAdapterDriver")
    );
    let first = sim.trace().into_iter().next().unwrap();
    assert_eq!(first.ddi, Ddi::PcInitializeAdapterDriver, "{first}");
}

#[test]
fn unload_unmaps_the_image() {
    common::with_driver(common::Driver::Image, || {
        let sim = Sim::new(OsProfile::Win10_1511);
        let device = common::bring_up(&sim);
        let base = sim.image().unwrap().base();
        sim.remove_device(device.fdo);
        let mapped = mappings_on_this_thread();
        assert_eq!(sim.unload_driver(), Ok(()));
        assert!(sim.image().is_none(), "unmapped after DriverUnload");
        assert_eq!(mappings_on_this_thread(), mapped - 1, "its mapping is gone");
        // Natively the kernel of this machine says so too (qemu-user lists its own mappings).
        if cfg!(target_arch = "x86_64") {
            let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
            let start = format!("{base:x}-");
            assert!(
                !maps.lines().any(|l| l.starts_with(&start)),
                "{base:#x} still mapped"
            );
        }
        sim.assert_clean();
    });
}

#[test]
fn a_truncated_image_is_refused() {
    let bytes = common::image_bytes();
    for cut in [0, 64, 0x200, bytes.len() / 2] {
        let error = refused(&bytes[..cut]);
        assert!(
            matches!(error, ImageError::Malformed(_)),
            "cut at {cut}: {error}"
        );
    }
}

#[test]
fn the_other_architectures_image_is_refused() {
    let other = if common::ARCH == "x64" {
        "arm64"
    } else {
        "x64"
    };
    let path = common::image_path()
        .parent()
        .and_then(|p| p.parent())
        .unwrap()
        .join(other)
        .join("wavertsample.sys");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let error = refused(&bytes);
    assert!(
        matches!(error, ImageError::Machine { host, .. } if host == HOST_MACHINE),
        "{error}"
    );
    assert!(error.to_string().contains("the host is"), "{error}");
}

#[test]
fn an_unknown_relocation_type_is_refused_with_its_type() {
    let mut bytes = common::image_bytes().to_vec();
    let file = PeFile64::parse(&*bytes).unwrap();
    let directory = file
        .data_directories()
        .get(pe::IMAGE_DIRECTORY_ENTRY_BASERELOC)
        .unwrap();
    let rva = directory.virtual_address.get(LE);
    // The first entry of the first block, as a file offset (8 bytes of block header first).
    let section = file
        .section_table()
        .iter()
        .find(|s| {
            let start = s.virtual_address.get(LE);
            (start..start + s.size_of_raw_data.get(LE)).contains(&rva)
        })
        .unwrap();
    let offset =
        (rva - section.virtual_address.get(LE) + section.pointer_to_raw_data.get(LE)) as usize + 8;
    let entry = u16::from_le_bytes([bytes[offset], bytes[offset + 1]]);
    assert_eq!(
        entry >> 12,
        pe::IMAGE_REL_BASED_DIR64,
        "the image's relocations are DIR64"
    );
    let highlow = (pe::IMAGE_REL_BASED_HIGHLOW << 12) | (entry & 0x0fff);
    bytes[offset..offset + 2].copy_from_slice(&highlow.to_le_bytes());
    let error = refused(&bytes);
    assert!(
        matches!(error, ImageError::Relocation { kind, .. } if kind == pe::IMAGE_REL_BASED_HIGHLOW),
        "{error}"
    );
}

#[test]
fn a_writable_executable_section_is_refused_by_name() {
    let mut bytes = common::image_bytes().to_vec();
    let header = section_header_offset(&bytes, b".text");
    // Characteristics: the last field of the 40-byte section header.
    let at = header + 36;
    let characteristics = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_ne!(characteristics & pe::IMAGE_SCN_MEM_EXECUTE, 0);
    bytes[at..at + 4].copy_from_slice(&(characteristics | pe::IMAGE_SCN_MEM_WRITE).to_le_bytes());
    let error = refused(&bytes);
    assert!(
        matches!(&error, ImageError::WritableExecutable { section } if section == ".text"),
        "{error}"
    );
}

#[test]
fn an_import_the_model_does_not_provide_is_refused_with_its_name() {
    let mut bytes = common::image_bytes().to_vec();
    // The hint/name entry of KeSetEvent: rename it as a driver built against another kernel
    // might import a routine this one lacks.
    let needle = b"KeSetEvent\0";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the driver imports KeSetEvent");
    bytes[at + 9] = b'X';
    let error = refused(&bytes);
    assert_eq!(
        error.to_string(),
        "the driver imports ntoskrnl.exe!KeSetEvenX, which the model does not provide"
    );
}

#[test]
fn a_second_driver_is_refused_and_the_first_keeps_running() {
    common::with_driver(common::Driver::Image, || {
        let sim = Sim::new(OsProfile::Win10_1511);
        let device = common::bring_up(&sim);
        let base = sim.image().unwrap().base();
        let error = sim.load_image(common::image_bytes()).unwrap_err();
        assert!(matches!(error, ImageError::DriverLoaded), "{error}");
        assert_eq!(
            sim.image().unwrap().base(),
            base,
            "the first image stays mapped"
        );
        assert_eq!(sim.stop_device(device.fdo), STATUS_SUCCESS);
        sim.remove_device(device.fdo);
        assert_eq!(sim.unload_driver(), Ok(()));
        // An unloaded driver is never called again: no new device reaches its AddDevice.
        assert!(sim.plug_in().is_err());
        sim.assert_clean();
    });
}
