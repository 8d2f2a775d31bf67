//! Loading a driver image (the shipped `.sys`) into the model, as the kernel loader does.
//!
//! [`Image::load`] takes the bytes of a PE32+ driver file and does what the Windows kernel's
//! image loader does before it calls `DriverEntry`:
//!
//! 1. **parse** the headers (with the `object` crate) and validate them: the machine must be
//!    the host's ([`HOST_MACHINE`]), the layout must be one that can be mapped with page
//!    granularity, and no section may be both writable and executable;
//! 2. **map** one anonymous read-write region of `SizeOfImage` bytes and copy the headers and
//!    each section's raw data to its RVA (the rest of each section is zero). Whatever lies in
//!    the file after the sections, such as the Authenticode certificate table of a signed
//!    file, is not mapped;
//! 3. **relocate**: add (actual base - `ImageBase`) to every `IMAGE_REL_BASED_DIR64` slot of
//!    the base relocation directory;
//! 4. **bind** the imports: each import address table slot receives the address the caller's
//!    resolver gives for (module, routine);
//! 5. **protect** the headers read-only and each section as its characteristics say (on
//!    arm64, after making the instruction cache coherent with the code just written with data
//!    stores: `__clear_cache`).
//!
//! The image is then immutable as far as the loader is concerned: [`Image`] only hands out
//! addresses (the entry point, the base), and unmaps the region when dropped. Calling into the
//! image is the caller's business (and is `unsafe`: it is foreign machine code).
//!
//! Directories (relocations, imports) are read from the mapped image, by RVA, as the kernel
//! reads them, not from the file.
//!
//! The file is untrusted input: every malformed file is refused with an [`ImageError`], never
//! a panic, and nothing stays mapped when an error is returned ([`mappings_on_this_thread`]
//! lets tests check that).
//!
//! Mapping needs a Unix host (`mmap`, `mprotect`, `munmap`): the calls live in the private
//! `os` module. On any other host the crate builds, but [`Image::load`] refuses every image
//! that passes validation with [`ImageError::Map`] (`io::ErrorKind::Unsupported`).

use std::fmt;
use std::io;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use object::LittleEndian as LE;
use object::pe;
use object::read::pe::{
    DataDirectories, ImageNtHeaders, ImageOptionalHeader, ImageThunkData, Import, ImportTable,
    PeFile64, RelocationBlockIterator,
};

/// Machine of the host (`IMAGE_FILE_MACHINE_AMD64` 0x8664 on `x86_64`,
/// `IMAGE_FILE_MACHINE_ARM64` 0xAA64 on `aarch64`).
///
/// On any other host architecture it is `IMAGE_FILE_MACHINE_UNKNOWN` (0), so every image is
/// refused with [`ImageError::Machine`].
pub const HOST_MACHINE: u16 = if cfg!(target_arch = "x86_64") {
    pe::IMAGE_FILE_MACHINE_AMD64
} else if cfg!(target_arch = "aarch64") {
    pe::IMAGE_FILE_MACHINE_ARM64
} else {
    pe::IMAGE_FILE_MACHINE_UNKNOWN
};

/// Why a driver image could not be loaded.
#[derive(Debug)]
pub enum ImageError {
    /// The file is truncated or corrupt; the message says what is wrong.
    Malformed(String),
    /// The image is built for another machine than the host.
    Machine {
        /// The `Machine` field of the image's COFF header.
        found: u16,
        /// [`HOST_MACHINE`].
        host: u16,
    },
    /// A base relocation of a type the loader does not apply (anything but
    /// `IMAGE_REL_BASED_DIR64` and `IMAGE_REL_BASED_ABSOLUTE` padding).
    Relocation {
        /// The relocation type (the top 4 bits of the entry).
        kind: u16,
        /// The RVA of the slot it applies to.
        rva: u32,
    },
    /// A section is both writable and executable (`IMAGE_SCN_MEM_WRITE |
    /// IMAGE_SCN_MEM_EXECUTE`), which the loader refuses.
    WritableExecutable {
        /// The section's name.
        section: String,
    },
    /// The resolver has no routine for an import.
    MissingImport {
        /// The module as the image names it (`ntoskrnl.exe`, `portcls.sys`, ...).
        module: String,
        /// The routine's name.
        name: String,
    },
    /// The image imports a routine by ordinal; the model binds imports by name only.
    ImportByOrdinal {
        /// The module as the image names it.
        module: String,
        /// The ordinal.
        ordinal: u16,
    },
    /// Mapping or protecting memory (`mmap`, `mprotect`) failed.
    Map(io::Error),
    /// The machine already has a driver ([`crate::Sim::load_image`] and
    /// [`crate::Sim::load_driver`] load one driver per machine, as a device stack has one).
    DriverLoaded,
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(what) => write!(f, "malformed driver image: {what}"),
            Self::Machine { found, host } => write!(
                f,
                "the image is for machine {found:#06x} ({}), the host is {host:#06x} ({})",
                machine_name(*found),
                machine_name(*host)
            ),
            Self::Relocation { kind, rva } => write!(
                f,
                "the image has a base relocation of type {kind} ({}) at RVA {rva:#x}; only \
                 IMAGE_REL_BASED_DIR64 (10) and IMAGE_REL_BASED_ABSOLUTE (0) padding are supported",
                relocation_name(*kind)
            ),
            Self::WritableExecutable { section } => write!(
                f,
                "section {section} is both writable and executable \
                 (IMAGE_SCN_MEM_WRITE | IMAGE_SCN_MEM_EXECUTE), which the loader refuses"
            ),
            Self::MissingImport { module, name } => write!(
                f,
                "the driver imports {module}!{name}, which the model does not provide"
            ),
            Self::ImportByOrdinal { module, ordinal } => write!(
                f,
                "the driver imports ordinal {ordinal} of {module}; the model binds imports by \
                 name only"
            ),
            Self::Map(error) => write!(f, "mapping the driver image failed: {error}"),
            Self::DriverLoaded => f.write_str(
                "a driver is already loaded on this machine (the model runs one driver per Sim)",
            ),
        }
    }
}

impl std::error::Error for ImageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Map(error) => Some(error),
            _ => None,
        }
    }
}

/// A short name for a COFF machine number, for messages.
fn machine_name(machine: u16) -> &'static str {
    match machine {
        pe::IMAGE_FILE_MACHINE_AMD64 => "x64",
        pe::IMAGE_FILE_MACHINE_ARM64 => "arm64",
        pe::IMAGE_FILE_MACHINE_ARM64EC => "arm64ec",
        pe::IMAGE_FILE_MACHINE_ARM64X => "arm64x",
        pe::IMAGE_FILE_MACHINE_I386 => "x86",
        pe::IMAGE_FILE_MACHINE_ARMNT => "arm",
        pe::IMAGE_FILE_MACHINE_UNKNOWN => "unknown",
        _ => "unsupported",
    }
}

/// The `IMAGE_REL_BASED_*` name of a base relocation type, for messages.
fn relocation_name(kind: u16) -> &'static str {
    match kind {
        pe::IMAGE_REL_BASED_ABSOLUTE => "IMAGE_REL_BASED_ABSOLUTE",
        pe::IMAGE_REL_BASED_HIGH => "IMAGE_REL_BASED_HIGH",
        pe::IMAGE_REL_BASED_LOW => "IMAGE_REL_BASED_LOW",
        pe::IMAGE_REL_BASED_HIGHLOW => "IMAGE_REL_BASED_HIGHLOW",
        pe::IMAGE_REL_BASED_HIGHADJ => "IMAGE_REL_BASED_HIGHADJ",
        pe::IMAGE_REL_BASED_DIR64 => "IMAGE_REL_BASED_DIR64",
        5..=9 => "machine-specific",
        _ => "reserved",
    }
}

fn malformed(what: impl Into<String>) -> ImageError {
    ImageError::Malformed(what.into())
}

/// A driver image mapped, relocated, bound and protected in this process.
///
/// Dropping it unmaps the image: no address it handed out may be used afterwards.
pub struct Image {
    mapping: Mapping,
    entry: usize,
    size: usize,
    machine: u16,
    file_size: usize,
    preferred_base: u64,
    imports: Vec<(String, String)>,
    relocations: usize,
}

// SAFETY: `Image` owns its mapping exclusively (no other value refers to the region, and it is
// unmapped once, by `Mapping::drop`). After `load` returns, the loader never writes to the
// mapping again and `Image` exposes only addresses and plain values, never references into the
// memory, so moving it to another thread cannot create a data race through `Image`.
unsafe impl Send for Image {}
// SAFETY: every method of `Image` taking `&self` reads only fields of the struct itself (no
// memory of the mapping), and none of them mutates anything, so sharing `&Image` between
// threads is sound.
unsafe impl Sync for Image {}

impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Image")
            .field("base", &format_args!("{:#x}", self.base()))
            .field("size", &format_args!("{:#x}", self.size))
            .field("entry", &format_args!("{:#x}", self.entry))
            .field("machine", &format_args!("{:#06x}", self.machine))
            .field(
                "preferred_base",
                &format_args!("{:#x}", self.preferred_base),
            )
            .field("imports", &self.imports.len())
            .field("relocations", &self.relocations)
            .finish_non_exhaustive()
    }
}

impl Image {
    /// Loads `bytes` (the `.sys` file as packaged: possibly Authenticode-signed, i.e. with a
    /// certificate table appended after the sections, which is not mapped) as the kernel
    /// loader would:
    ///
    /// 1. parse (`object::read::pe::PeFile64`) and validate; the machine must be
    ///    [`HOST_MACHINE`] and no section may be both writable and executable;
    /// 2. map: one anonymous read-write `mmap` of `SizeOfImage`; copy the headers
    ///    (`SizeOfHeaders`) and each section's raw data to its `VirtualAddress` (the rest of
    ///    its `VirtualSize` is zero);
    /// 3. relocate: each `IMAGE_REL_BASED_DIR64` slot += (actual base - `ImageBase`);
    ///    `IMAGE_REL_BASED_ABSOLUTE` is padding; any other type is an error;
    /// 4. bind imports: every import address table slot (`FirstThunk`) receives
    ///    `resolve(module, routine)`, the module as the image names it (`"ntoskrnl.exe"`,
    ///    `"portcls.sys"`, `"hal.dll"`, ...); `None` is [`ImageError::MissingImport`], an import
    ///    by ordinal is [`ImageError::ImportByOrdinal`];
    /// 5. protect: the headers read-only, each section read-only, read-write or
    ///    read-execute from its characteristics (discardable sections stay mapped).
    ///
    /// # Errors
    /// [`ImageError`] says what was wrong. Nothing stays mapped when an error is returned.
    pub fn load(
        bytes: &[u8],
        resolve: &mut dyn FnMut(&str, &str) -> Option<usize>,
    ) -> Result<Image, ImageError> {
        let page = os::page_size();
        let plan = Plan::validate(bytes, page)?;

        let mut draft = Draft::new(plan.mapping_len(page)).map_err(ImageError::Map)?;
        let base = draft.base();
        let image = &mut draft.bytes_mut()[..plan.size_of_image];

        plan.copy(bytes, image);
        let relocations = plan.relocate(image, base)?;
        let imports = plan.bind(image, resolve)?;

        let mapping = draft
            .seal(&plan.protections(page))
            .map_err(ImageError::Map)?;
        Ok(Image {
            mapping,
            entry: base + plan.entry as usize,
            size: plan.size_of_image,
            machine: plan.machine,
            file_size: bytes.len(),
            preferred_base: plan.image_base,
            imports,
            relocations,
        })
    }

    /// Address of the entry point (`AddressOfEntryPoint` + base): for a driver, `DriverEntry`.
    #[must_use]
    pub fn entry(&self) -> usize {
        self.entry
    }

    /// Where the image is mapped (the address of its headers).
    #[must_use]
    pub fn base(&self) -> usize {
        self.mapping.ptr.as_ptr() as usize
    }

    /// `SizeOfImage`: how many bytes from [`Image::base`] belong to the image.
    #[must_use]
    pub fn size(&self) -> usize {
        self.size
    }

    /// The `Machine` field of the COFF header (always [`HOST_MACHINE`]).
    #[must_use]
    pub fn machine(&self) -> u16 {
        self.machine
    }

    /// The size of the file the image was loaded from (including any certificate table).
    #[must_use]
    pub fn file_size(&self) -> usize {
        self.file_size
    }

    /// `ImageBase` from the optional header: where the image was linked to run.
    #[must_use]
    pub fn preferred_base(&self) -> u64 {
        self.preferred_base
    }

    /// Whether `address` lies inside the image (`base <= address < base + size`).
    #[must_use]
    pub fn contains(&self, address: usize) -> bool {
        address
            .checked_sub(self.base())
            .is_some_and(|offset| offset < self.size)
    }

    /// The imports as bound, `(module, routine)`, in import address table order.
    #[must_use]
    pub fn imports(&self) -> &[(String, String)] {
        &self.imports
    }

    /// How many `IMAGE_REL_BASED_DIR64` slots were relocated.
    #[must_use]
    pub fn relocations(&self) -> usize {
        self.relocations
    }
}

fn align_up(value: u64, alignment: u64) -> u64 {
    value.div_ceil(alignment) * alignment
}

/// A section as it will be mapped.
struct SectionPlan {
    name: String,
    rva: usize,
    virtual_size: usize,
    /// The range of the file copied to `rva` (at most `virtual_size` bytes).
    file_offset: usize,
    copy_len: usize,
    access: PageAccess,
}

/// What a section is checked against.
struct Layout {
    file_len: u64,
    size_of_image: u64,
    alignment: u64,
}

impl SectionPlan {
    /// Checks one section header; `next_free` is the first RVA it may occupy, and is moved
    /// past it.
    fn validate(
        section: &pe::ImageSectionHeader,
        layout: &Layout,
        next_free: &mut u64,
    ) -> Result<SectionPlan, ImageError> {
        let &Layout {
            file_len,
            size_of_image,
            alignment,
        } = layout;
        let name = String::from_utf8_lossy(section.raw_name()).into_owned();
        let flags = section.characteristics.get(LE);
        let write = flags & pe::IMAGE_SCN_MEM_WRITE != 0;
        let execute = flags & pe::IMAGE_SCN_MEM_EXECUTE != 0;
        if write && execute {
            return Err(ImageError::WritableExecutable { section: name });
        }

        let rva = u64::from(section.virtual_address.get(LE));
        let raw_size = u64::from(section.size_of_raw_data.get(LE));
        let raw_offset = u64::from(section.pointer_to_raw_data.get(LE));
        // As the kernel loader does: a VirtualSize of 0 means SizeOfRawData.
        let virtual_size = match section.virtual_size.get(LE) {
            0 => raw_size,
            size => u64::from(size),
        };

        // Both fields come from a `u32`: their sum cannot overflow a `u64`.
        if raw_size != 0 && raw_offset + raw_size > file_len {
            return Err(malformed(format!(
                "section {name} (file bytes {raw_offset:#x}..{:#x}) lies beyond the end of the \
                 file ({file_len:#x} bytes)",
                raw_offset + raw_size,
            )));
        }
        if rva % alignment != 0 {
            return Err(malformed(format!(
                "section {name} at RVA {rva:#x} is not aligned to SectionAlignment \
                 {alignment:#x}"
            )));
        }
        if rva + virtual_size > size_of_image {
            return Err(malformed(format!(
                "section {name} (RVA {rva:#x}..{:#x}) lies beyond SizeOfImage \
                 {size_of_image:#x}",
                rva + virtual_size
            )));
        }
        if rva < *next_free {
            return Err(malformed(format!(
                "section {name} at RVA {rva:#x} overlaps the headers or the section before it \
                 (the first free RVA is {next_free:#x})"
            )));
        }
        *next_free = align_up(rva + virtual_size, alignment);

        // Windows has no write-only pages, and an execute-only section is readable on x64
        // (PAGE_EXECUTE); a section with none of the three is PAGE_NOACCESS.
        let access = match (flags & pe::IMAGE_SCN_MEM_READ != 0, write, execute) {
            (_, true, _) => PageAccess::ReadWrite,
            (_, false, true) => PageAccess::ReadExecute,
            (true, false, false) => PageAccess::Read,
            (false, false, false) => PageAccess::NoAccess,
        };
        let copy_len = raw_size.min(virtual_size);
        Ok(SectionPlan {
            name,
            rva: index(rva),
            virtual_size: index(virtual_size),
            // With nothing to copy (no raw data, as for a `.bss`-like section, or a
            // VirtualSize of 0), PointerToRawData is meaningless, and was not checked against
            // the file: it must not be used, not even to form an empty slice.
            file_offset: if copy_len == 0 { 0 } else { index(raw_offset) },
            copy_len: index(copy_len),
            access,
        })
    }
}

/// The base relocation directory (RVA, size) and the RVA of the import descriptors, checked
/// to lie inside the image (0 where the image has none).
fn directories(
    directories: &DataDirectories<'_>,
    size_of_image: u64,
) -> Result<((u32, u32), u32), ImageError> {
    let relocation_directory = directories
        .get(pe::IMAGE_DIRECTORY_ENTRY_BASERELOC)
        .map_or((0, 0), pe::ImageDataDirectory::address_range);
    let (reloc_rva, reloc_size) = relocation_directory;
    if reloc_rva != 0 && u64::from(reloc_rva) + u64::from(reloc_size) > size_of_image {
        return Err(malformed(format!(
            "the base relocation directory (RVA {reloc_rva:#x}, {reloc_size:#x} bytes) lies \
             beyond the end of the image (SizeOfImage {size_of_image:#x})"
        )));
    }
    let import_directory = directories
        .get(pe::IMAGE_DIRECTORY_ENTRY_IMPORT)
        .map_or(0, |directory| directory.virtual_address.get(LE));
    if u64::from(import_directory) >= size_of_image {
        return Err(malformed(format!(
            "the import directory (RVA {import_directory:#x}) lies beyond the end of the image \
             (SizeOfImage {size_of_image:#x})"
        )));
    }
    Ok((relocation_directory, import_directory))
}

/// An offset or size already checked against the file's length or `SizeOfImage` (a `u32`),
/// as an index.
fn index(value: u64) -> usize {
    usize::try_from(value).expect("offsets are bounded by the file or by SizeOfImage")
}

/// What to protect, and how: (what it is, for messages; offset; length; access).
type Protection<'a> = (&'a str, usize, usize, PageAccess);

/// How a range of the image may be accessed once it is loaded (the page protections the
/// loader applies; the `os` module turns them into the host's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PageAccess {
    /// Neither read, write nor execute (`PAGE_NOACCESS`).
    NoAccess,
    /// Read-only (`PAGE_READONLY`).
    Read,
    /// Read and write (`PAGE_READWRITE`).
    ReadWrite,
    /// Read and execute (`PAGE_EXECUTE_READ`).
    ReadExecute,
}

/// Everything `load` needs from the headers, validated before anything is mapped.
struct Plan {
    machine: u16,
    image_base: u64,
    size_of_image: usize,
    size_of_headers: usize,
    entry: u32,
    relocs_stripped: bool,
    sections: Vec<SectionPlan>,
    /// RVA and size of the base relocation directory (0, 0 if none).
    relocation_directory: (u32, u32),
    /// RVA of the import descriptors (0 if none).
    import_directory: u32,
}

impl Plan {
    fn validate(bytes: &[u8], page: usize) -> Result<Plan, ImageError> {
        let file = PeFile64::parse(bytes).map_err(|error| {
            malformed(format!(
                "not a PE32+ image, or truncated ({error}); the file has {} bytes",
                bytes.len()
            ))
        })?;
        let nt = file.nt_headers();
        let header = nt.file_header();
        let optional = nt.optional_header();

        let machine = header.machine.get(LE);
        if machine != HOST_MACHINE {
            return Err(ImageError::Machine {
                found: machine,
                host: HOST_MACHINE,
            });
        }
        let characteristics = header.characteristics.get(LE);
        if characteristics & pe::IMAGE_FILE_EXECUTABLE_IMAGE == 0 {
            return Err(malformed(
                "the file is not an executable image (IMAGE_FILE_EXECUTABLE_IMAGE is clear)",
            ));
        }

        let size_of_image = u64::from(optional.size_of_image());
        if size_of_image == 0 {
            return Err(malformed("SizeOfImage is 0"));
        }
        let alignment = u64::from(optional.section_alignment());
        if alignment == 0 || alignment % page as u64 != 0 {
            return Err(malformed(format!(
                "SectionAlignment {alignment:#x} is not a multiple of the host page size \
                 {page:#x}, so the sections cannot be protected one by one"
            )));
        }
        let size_of_headers = u64::from(optional.size_of_headers());
        if size_of_headers == 0 {
            return Err(malformed("SizeOfHeaders is 0"));
        }
        if size_of_headers > bytes.len() as u64 {
            return Err(malformed(format!(
                "the headers (SizeOfHeaders {size_of_headers:#x}) extend beyond the end of the \
                 file ({:#x} bytes)",
                bytes.len()
            )));
        }
        if size_of_headers > size_of_image {
            return Err(malformed(format!(
                "SizeOfHeaders {size_of_headers:#x} exceeds SizeOfImage {size_of_image:#x}"
            )));
        }

        let mut sections = Vec::new();
        // The first free RVA: sections are in ascending order and must not overlap each other
        // or the headers (so that each can get its own protection).
        let mut next_free = align_up(size_of_headers, alignment);
        for section in file.section_table().iter() {
            let layout = Layout {
                file_len: bytes.len() as u64,
                size_of_image,
                alignment,
            };
            sections.push(SectionPlan::validate(section, &layout, &mut next_free)?);
        }

        let entry = optional.address_of_entry_point();
        if entry == 0 || u64::from(entry) >= size_of_image {
            return Err(malformed(format!(
                "the entry point (RVA {entry:#x}) lies outside the image (SizeOfImage \
                 {size_of_image:#x})"
            )));
        }
        let in_code = sections.iter().any(|section| {
            section.access == PageAccess::ReadExecute
                && (section.rva..section.rva + section.virtual_size).contains(&index(entry.into()))
        });
        if !in_code {
            return Err(malformed(format!(
                "the entry point (RVA {entry:#x}) is not inside an executable section"
            )));
        }

        let (relocation_directory, import_directory) =
            directories(&file.data_directories(), size_of_image)?;

        Ok(Plan {
            machine,
            image_base: optional.image_base(),
            size_of_image: index(size_of_image),
            size_of_headers: index(size_of_headers),
            entry,
            relocs_stripped: characteristics & pe::IMAGE_FILE_RELOCS_STRIPPED != 0,
            sections,
            relocation_directory,
            import_directory,
        })
    }

    /// `SizeOfImage` rounded up to whole pages.
    fn mapping_len(&self, page: usize) -> usize {
        self.size_of_image.div_ceil(page) * page
    }

    /// Copies the headers and each section's raw data into `image` (fresh, so all zero).
    fn copy(&self, bytes: &[u8], image: &mut [u8]) {
        image[..self.size_of_headers].copy_from_slice(&bytes[..self.size_of_headers]);
        for section in &self.sections {
            let source = &bytes[section.file_offset..section.file_offset + section.copy_len];
            image[section.rva..section.rva + section.copy_len].copy_from_slice(source);
        }
    }

    /// Applies the base relocations for an image mapped at `base`; returns how many slots were
    /// relocated.
    fn relocate(&self, image: &mut [u8], base: usize) -> Result<usize, ImageError> {
        let delta = (base as u64).wrapping_sub(self.image_base);
        let (rva, size) = self.relocation_directory;
        if rva == 0 || size == 0 {
            if self.relocs_stripped && delta != 0 {
                return Err(malformed(format!(
                    "the image has no base relocations (IMAGE_FILE_RELOCS_STRIPPED) and cannot \
                     be moved from its ImageBase {:#x}",
                    self.image_base
                )));
            }
            return Ok(0);
        }
        let directory = &image[rva as usize..rva as usize + size as usize];

        // Read every slot first, then write (the directory is part of the image).
        let mut slots = Vec::new();
        let mut blocks = RelocationBlockIterator::new(directory);
        let mut block_rva = u64::from(rva);
        loop {
            let block = match blocks.next() {
                Ok(Some(block)) => block,
                Ok(None) => break,
                Err(error) => {
                    return Err(malformed(format!(
                        "the base relocation block at RVA {block_rva:#x} is corrupt ({error})"
                    )));
                }
            };
            let page = block.virtual_address();
            block_rva += u64::from(block.size());
            for relocation in block {
                match relocation.typ {
                    pe::IMAGE_REL_BASED_ABSOLUTE => {}
                    pe::IMAGE_REL_BASED_DIR64 => {
                        // `object` adds the 12-bit offset to the block's page RVA modulo 2^32:
                        // redo it without wrapping, so that a page near 4 GiB cannot alias a
                        // slot at the start of the image.
                        let slot = u64::from(page)
                            + u64::from(relocation.virtual_address.wrapping_sub(page));
                        if slot + 8 > self.size_of_image as u64 {
                            return Err(malformed(format!(
                                "a DIR64 base relocation at RVA {slot:#x} lies beyond the end \
                                 of the image (SizeOfImage {:#x})",
                                self.size_of_image
                            )));
                        }
                        slots.push(index(slot));
                    }
                    kind => {
                        return Err(ImageError::Relocation {
                            kind,
                            rva: relocation.virtual_address,
                        });
                    }
                }
            }
        }

        for &slot in &slots {
            let field: &mut [u8; 8] = (&mut image[slot..slot + 8])
                .try_into()
                .expect("the slice has 8 bytes");
            *field = u64::from_le_bytes(*field).wrapping_add(delta).to_le_bytes();
        }
        Ok(slots.len())
    }

    /// Binds every import through `resolve`; returns the (module, routine) pairs in IAT order.
    fn bind(
        &self,
        image: &mut [u8],
        resolve: &mut dyn FnMut(&str, &str) -> Option<usize>,
    ) -> Result<Vec<(String, String)>, ImageError> {
        let mut imports = Vec::new();
        if self.import_directory == 0 {
            return Ok(imports);
        }
        let mut bindings = Vec::new();
        {
            let table = ImportTable::new(image, 0, self.import_directory);
            let context = |error: object::read::Error| {
                malformed(format!(
                    "the import directory at RVA {:#x} is corrupt ({error})",
                    self.import_directory
                ))
            };
            let mut descriptors = table.descriptors().map_err(context)?;
            while let Some(descriptor) = descriptors.next().map_err(context)? {
                let name_rva = descriptor.name.get(LE);
                let module = table.name(name_rva).map_err(context)?;
                let module = std::str::from_utf8(module).map_err(|_| {
                    malformed(format!(
                        "the import module name at RVA {name_rva:#x} is not valid UTF-8"
                    ))
                })?;
                let first_thunk = descriptor.first_thunk.get(LE);
                if first_thunk == 0 {
                    return Err(malformed(format!(
                        "the import descriptor for {module} has no import address table"
                    )));
                }
                // Without a separate lookup table (OriginalFirstThunk), the IAT holds the
                // hint/name references itself.
                let lookup = match descriptor.original_first_thunk.get(LE) {
                    0 => first_thunk,
                    rva => rva,
                };
                let mut thunks = table.thunks(lookup).map_err(context)?;
                let mut slot = u64::from(first_thunk);
                while let Some(thunk) = thunks.next::<pe::ImageNtHeaders64>().map_err(context)? {
                    if slot + 8 > self.size_of_image as u64 {
                        return Err(malformed(format!(
                            "the import address table slot at RVA {slot:#x} for {module} lies \
                             beyond the end of the image (SizeOfImage {:#x})",
                            self.size_of_image
                        )));
                    }
                    let routine = match table
                        .import::<pe::ImageNtHeaders64>(thunk)
                        .map_err(context)?
                    {
                        Import::Ordinal(ordinal) => {
                            return Err(ImageError::ImportByOrdinal {
                                module: module.to_owned(),
                                ordinal,
                            });
                        }
                        Import::Name(_hint, name) => std::str::from_utf8(name).map_err(|_| {
                            malformed(format!(
                                "an import name of {module} (thunk {:#x}) is not valid UTF-8",
                                thunk.raw()
                            ))
                        })?,
                    };
                    let Some(address) = resolve(module, routine) else {
                        return Err(ImageError::MissingImport {
                            module: module.to_owned(),
                            name: routine.to_owned(),
                        });
                    };
                    bindings.push((index(slot), address));
                    imports.push((module.to_owned(), routine.to_owned()));
                    slot += 8;
                }
            }
        }

        for (slot, address) in bindings {
            image[slot..slot + 8].copy_from_slice(&(address as u64).to_le_bytes());
        }
        Ok(imports)
    }

    /// The protections to apply once the image is complete: the headers (and any gap between
    /// sections) read-only, then each section from its characteristics.
    fn protections(&self, page: usize) -> Vec<Protection<'_>> {
        let mut protections = vec![(
            "the headers and the gaps between sections",
            0,
            self.mapping_len(page),
            PageAccess::Read,
        )];
        for section in &self.sections {
            if section.virtual_size == 0 {
                continue;
            }
            let len = section.virtual_size.div_ceil(page) * page;
            protections.push((&section.name, section.rva, len, section.access));
        }
        protections
    }
}

thread_local! {
    /// How many mappings made on this thread are still mapped ([`mappings_on_this_thread`]).
    /// Each mapping holds a clone and decrements it when it is unmapped, on whatever thread
    /// that happens.
    static LIVE_MAPPINGS: Arc<AtomicUsize> = Arc::new(AtomicUsize::new(0));
}

#[cfg(test)]
thread_local! {
    /// For tests: how many mappings this thread ever made.
    static MAPPINGS_MADE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many memory mappings the loader made on the calling thread that are still mapped.
///
/// Each [`Image`] holds one mapping, made by [`Image::load`] on the thread that called it and
/// unmapped when the image is dropped. The mapping counts against *that* thread until it is
/// unmapped, wherever the image is dropped: an image loaded here and dropped on another thread
/// stops counting here as soon as that drop has unmapped it (read the count after
/// synchronizing with the other thread, e.g. after joining it). Mappings made by other threads
/// never count here, so tests running in parallel do not disturb each other's counts.
///
/// Meant for tests: [`Image::load`] promises that nothing stays mapped when it returns an
/// error, that is, `mappings_on_this_thread()` is the same before and after a failed load.
/// While a load is under way (in the resolver it calls), the image being built counts too.
///
/// It reads one thread-local counter: it is cheap, and takes no lock.
#[must_use]
pub fn mappings_on_this_thread() -> usize {
    LIVE_MAPPINGS
        .try_with(|live| live.load(Ordering::Relaxed))
        .unwrap_or(0)
}

/// An anonymous mapping, unmapped on drop.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    /// The [`LIVE_MAPPINGS`] counter of the thread that made the mapping.
    owner: Arc<AtomicUsize>,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly those of a region `os::map` mapped, which this value
        // owns alone; no reference into it outlives `self` (the `&mut [u8]` of a `Draft`
        // borrows it), and it is unmapped only here, once.
        let result = unsafe { os::unmap(self.ptr, self.len) };
        debug_assert!(result.is_ok(), "munmap failed: {result:?}");
        if result.is_ok() {
            self.owner.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A mapping still being filled in: read-write, and writable only through `bytes_mut`.
struct Draft(Mapping);

impl Draft {
    /// Maps `len` bytes (a nonzero multiple of the page size) of zeroed, private, read-write
    /// memory.
    fn new(len: usize) -> io::Result<Draft> {
        // A mapping made while this thread's locals are being destroyed gets a counter of its
        // own, which nobody reads.
        let owner = LIVE_MAPPINGS
            .try_with(Arc::clone)
            .unwrap_or_else(|_| Arc::new(AtomicUsize::new(0)));
        let ptr = os::map(len)?;
        owner.fetch_add(1, Ordering::Relaxed);
        let draft = Draft(Mapping { ptr, len, owner });
        #[cfg(test)]
        MAPPINGS_MADE.with(|made| made.set(made.get() + 1));
        Ok(draft)
    }

    fn base(&self) -> usize {
        self.0.ptr.as_ptr() as usize
    }

    /// The whole mapping, to write the image into.
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: the region is `len` bytes of initialized (zero-filled) memory, mapped
        // read-write for as long as this `Draft` lives (it is protected only by `seal`, which
        // consumes it), and the `&mut self` borrow makes this the only reference to it.
        unsafe { std::slice::from_raw_parts_mut(self.0.ptr.as_ptr(), self.0.len) }
    }

    /// Applies `protections`, in order, and hands back the mapping, never to be written by
    /// the loader again. On error the mapping is unmapped.
    ///
    /// First, while the whole mapping is still read-write, the instruction cache is made
    /// coherent with every range that is to become executable
    /// ([`os::flush_instruction_cache`]: the code was written with data stores).
    fn seal(self, protections: &[Protection<'_>]) -> io::Result<Mapping> {
        let mapping = self.0;
        for &(_, offset, len, access) in protections {
            if access == PageAccess::ReadExecute {
                debug_assert!(offset + len <= mapping.len);
                let start = mapping.ptr.as_ptr().wrapping_add(offset);
                // SAFETY: `start..start + len` lies inside the mapping this value owns, which
                // is still mapped (read-write: no protection has been applied yet).
                unsafe { os::flush_instruction_cache(start, len) };
            }
        }
        for &(what, offset, len, access) in protections {
            debug_assert!(offset + len <= mapping.len);
            let start = mapping.ptr.as_ptr().wrapping_add(offset);
            // SAFETY: `start..start + len` lies inside the mapping this value owns and `start`
            // is page-aligned (section RVAs are multiples of SectionAlignment, itself a
            // multiple of the page size). No reference into the mapping exists (the borrow of
            // `bytes_mut` ended when `self` was moved in), so no Rust reference loses access.
            let result = unsafe { os::protect(start, len, access) };
            if let Err(error) = result {
                return Err(io::Error::new(
                    error.kind(),
                    format!("mprotect of {what} (offset {offset:#x}, {len:#x} bytes): {error}"),
                ));
            }
        }
        Ok(mapping)
    }
}

/// The operating system's memory calls: `mmap`, `mprotect`, `munmap` on a Unix host.
#[cfg(unix)]
mod os {
    use std::ffi::c_void;
    use std::io;
    use std::ptr::NonNull;

    use super::PageAccess;

    #[cfg(target_arch = "aarch64")]
    unsafe extern "C" {
        /// Cleans the data cache and invalidates the instruction cache for `start..end`, to
        /// the point of unification (libgcc, compiler-rt).
        fn __clear_cache(start: *mut core::ffi::c_char, end: *mut core::ffi::c_char);
    }

    /// The host's page size (`sysconf(_SC_PAGESIZE)`; 4096 if that fails).
    pub(super) fn page_size() -> usize {
        // SAFETY: `sysconf` reads a configuration value; it has no preconditions.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(size)
            .ok()
            .filter(|size| size.is_power_of_two())
            .unwrap_or(4096)
    }

    /// The `PROT_*` bits for `access`.
    fn prot(access: PageAccess) -> libc::c_int {
        match access {
            PageAccess::NoAccess => libc::PROT_NONE,
            PageAccess::Read => libc::PROT_READ,
            PageAccess::ReadWrite => libc::PROT_READ | libc::PROT_WRITE,
            PageAccess::ReadExecute => libc::PROT_READ | libc::PROT_EXEC,
        }
    }

    /// Maps `len` bytes (a nonzero multiple of the page size) of zeroed, private, read-write
    /// memory at an address the kernel chooses.
    pub(super) fn map(len: usize) -> io::Result<NonNull<u8>> {
        // SAFETY: an anonymous private mapping at an address the kernel chooses replaces no
        // existing memory; the arguments are valid (no file, offset 0).
        let address = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if address == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // Without MAP_FIXED, Linux never places a mapping at 0 (vm.mmap_min_addr), so this
        // error (which would leave that page mapped) cannot happen.
        NonNull::new(address.cast::<u8>()).ok_or_else(|| io::Error::other("mmap at 0"))
    }

    /// Gives the `len` bytes at `start` the protection `access`.
    ///
    /// # Safety
    /// `start` is page-aligned and `start..start + len` lies inside a mapping made by [`map`]
    /// that the caller owns; no reference into that range is used afterwards in a way
    /// `access` forbids.
    pub(super) unsafe fn protect(start: *mut u8, len: usize, access: PageAccess) -> io::Result<()> {
        // SAFETY: the range is part of the caller's own mapping (no other memory changes
        // protection), and the caller guarantees that no reference into it is used against
        // `access`.
        let result = unsafe { libc::mprotect(start.cast::<c_void>(), len, prot(access)) };
        if result == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Unmaps a mapping made by [`map`].
    ///
    /// # Safety
    /// `start` and `len` are exactly those of a mapping made by [`map`], owned by the caller
    /// and not unmapped yet; nothing uses its memory afterwards.
    pub(super) unsafe fn unmap(start: NonNull<u8>, len: usize) -> io::Result<()> {
        // SAFETY: the caller owns the whole mapping and nothing uses it after this call, so
        // no other memory and no live reference is affected.
        let result = unsafe { libc::munmap(start.as_ptr().cast::<c_void>(), len) };
        if result == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Makes the instruction cache coherent with what was written to the `len` bytes at
    /// `start`, before they are made executable.
    ///
    /// On arm64, instruction fetch is not coherent with data stores: the loader copies,
    /// relocates and binds the code with ordinary stores, which may still sit in the data
    /// cache, while the instruction cache may hold whatever was at those addresses before (an
    /// image mapped there earlier, say). The code has to be cleaned from the data cache to the
    /// point of unification and invalidated in the instruction cache before it runs, or the
    /// core may execute stale instructions. `__clear_cache` (libgcc, compiler-rt) does exactly
    /// that: `dc cvau` on each data cache line, `dsb ish`, `ic ivau` on each instruction cache
    /// line, `dsb ish`, `isb`, with the line sizes from `CTR_EL0` (and skipping the steps
    /// `CTR_EL0.IDC`/`DIC` say the hardware does by itself). No contract of `mmap` or
    /// `mprotect` promises this maintenance, and qemu-user (which retranslates code it sees
    /// written) hides its absence; real hardware does not. The `dsb ish` makes the
    /// invalidation reach every core; another core running the code also needs a context
    /// synchronization event of its own (an `isb`, or the exception return of a system call or
    /// of being scheduled), which any hand-over of the image between threads involves in
    /// practice.
    ///
    /// On `x86_64` the instruction cache is coherent with stores: nothing to do. (Other
    /// architectures never get here: every image is refused for its machine.)
    ///
    /// # Safety
    /// `start..start + len` is mapped, readable memory.
    pub(super) unsafe fn flush_instruction_cache(start: *mut u8, len: usize) {
        #[cfg(target_arch = "aarch64")]
        {
            let end = start.wrapping_add(len);
            // SAFETY: `start..end` is mapped and readable (the caller guarantees it), which is
            // all the cache maintenance instructions need; they change no memory contents.
            unsafe { __clear_cache(start.cast(), end.cast()) };
        }
        #[cfg(not(target_arch = "aarch64"))]
        let _ = (start, len);
    }
}

/// The operating system's memory calls on a host that is not Unix: there are none, so every
/// image that passes validation is refused with [`ImageError::Map`](super::ImageError::Map)
/// (`io::ErrorKind::Unsupported`).
#[cfg(not(unix))]
mod os {
    use std::io;
    use std::ptr::NonNull;

    use super::PageAccess;

    fn unsupported() -> io::Error {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "loading a driver image needs a Unix host (mmap/mprotect)",
        )
    }

    /// The page size the layout is checked against: 4 KiB, as on every Windows host.
    pub(super) fn page_size() -> usize {
        4096
    }

    /// Always fails: `io::ErrorKind::Unsupported`.
    pub(super) fn map(_len: usize) -> io::Result<NonNull<u8>> {
        Err(unsupported())
    }

    /// Never called (nothing is ever mapped); fails.
    ///
    /// # Safety
    /// As the Unix `protect`.
    pub(super) unsafe fn protect(
        _start: *mut u8,
        _len: usize,
        _access: PageAccess,
    ) -> io::Result<()> {
        Err(unsupported())
    }

    /// Never called (nothing is ever mapped); fails.
    ///
    /// # Safety
    /// As the Unix `unmap`.
    pub(super) unsafe fn unmap(_start: NonNull<u8>, _len: usize) -> io::Result<()> {
        Err(unsupported())
    }

    /// Never called (nothing is ever mapped); does nothing.
    ///
    /// # Safety
    /// As the Unix `flush_instruction_cache`.
    pub(super) unsafe fn flush_instruction_cache(_start: *mut u8, _len: usize) {}
}

// Not under Miri, which has no mmap or mprotect: the loader runs natively (and under
// qemu-aarch64), and the workspace's image tests exercise it on the real packages.
#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;

    const IMAGE_BASE: u64 = 0x1_8000_0000;
    const SIZE_OF_IMAGE: u32 = 0x6000;
    const ENTRY: u32 = 0x1000;

    /// File offset of the COFF `Machine` field.
    const MACHINE_OFFSET: usize = 0x44;
    /// File offset of the optional header.
    const OPTIONAL: usize = 0x58;
    /// File offset of the data directories.
    const DIRECTORIES: usize = OPTIONAL + 112;
    /// File offsets of the base relocation and import directory entries.
    const RELOC_DIRECTORY: usize = DIRECTORIES + pe::IMAGE_DIRECTORY_ENTRY_BASERELOC * 8;
    const IMPORT_DIRECTORY: usize = DIRECTORIES + pe::IMAGE_DIRECTORY_ENTRY_IMPORT * 8;
    /// File offset of the section table.
    const SECTIONS: usize = OPTIONAL + 240;

    // Where things are in the test image (RVAs).
    const IAT_NTOSKRNL: usize = 0x2000;
    const IAT_PORTCLS: usize = 0x2010;
    const DATA_SLOT: usize = 0x3008;

    /// Knobs for [`build`].
    struct Spec {
        machine: u16,
        text_characteristics: u32,
        relocation_type: u16,
        /// Import `portcls.sys` by this ordinal instead of `PcNewPort` by name.
        portcls_ordinal: Option<u16>,
    }

    impl Default for Spec {
        fn default() -> Self {
            Spec {
                machine: HOST_MACHINE,
                text_characteristics: pe::IMAGE_SCN_CNT_CODE
                    | pe::IMAGE_SCN_MEM_EXECUTE
                    | pe::IMAGE_SCN_MEM_READ,
                relocation_type: pe::IMAGE_REL_BASED_DIR64,
                portcls_ordinal: None,
            }
        }
    }

    fn put(file: &mut [u8], offset: usize, bytes: &[u8]) {
        file[offset..offset + bytes.len()].copy_from_slice(bytes);
    }
    fn put16(file: &mut [u8], offset: usize, value: u16) {
        put(file, offset, &value.to_le_bytes());
    }
    fn put32(file: &mut [u8], offset: usize, value: u32) {
        put(file, offset, &value.to_le_bytes());
    }
    fn put64(file: &mut [u8], offset: usize, value: u64) {
        put(file, offset, &value.to_le_bytes());
    }

    /// Builds a small PE32+ driver image:
    ///
    /// | section | RVA    | file  | contents                                              |
    /// |---------|--------|-------|-------------------------------------------------------|
    /// | .text   | 0x1000 | 0x400 | a few bytes of code; the entry point                  |
    /// | .rdata  | 0x2000 | 0x600 | IATs, import descriptors, lookup tables, names        |
    /// | .data   | 0x3000 | 0x800 | at 0x3008, the absolute address of .text (0x1000)     |
    /// | .reloc  | 0x5000 | 0xA00 | one block: page 0x3000, a DIR64 at +8 and a padding   |
    ///
    /// `.data` has a `VirtualSize` of 0x1100, beyond its 0x200 bytes of raw data.
    fn build(spec: &Spec) -> Vec<u8> {
        let mut f = vec![0u8; 0xC00];
        // DOS header: "MZ", e_lfanew.
        put(&mut f, 0, b"MZ");
        put32(&mut f, 0x3C, 0x40);
        put(&mut f, 0x40, b"PE\0\0");
        // COFF header.
        put16(&mut f, MACHINE_OFFSET, spec.machine);
        put16(&mut f, 0x46, 4); // NumberOfSections
        put16(&mut f, 0x54, 240); // SizeOfOptionalHeader
        put16(
            &mut f,
            0x56,
            pe::IMAGE_FILE_EXECUTABLE_IMAGE | pe::IMAGE_FILE_LARGE_ADDRESS_AWARE,
        );
        // Optional header, PE32+.
        let o = OPTIONAL;
        put16(&mut f, o, pe::IMAGE_NT_OPTIONAL_HDR64_MAGIC);
        put32(&mut f, o + 4, 0x200); // SizeOfCode
        put32(&mut f, o + 8, 0x600); // SizeOfInitializedData
        put32(&mut f, o + 16, ENTRY); // AddressOfEntryPoint
        put32(&mut f, o + 20, 0x1000); // BaseOfCode
        put64(&mut f, o + 24, IMAGE_BASE);
        put32(&mut f, o + 32, 0x1000); // SectionAlignment
        put32(&mut f, o + 36, 0x200); // FileAlignment
        put16(&mut f, o + 40, 10); // MajorOperatingSystemVersion
        put16(&mut f, o + 48, 10); // MajorSubsystemVersion
        put32(&mut f, o + 56, SIZE_OF_IMAGE);
        put32(&mut f, o + 60, 0x400); // SizeOfHeaders
        put16(&mut f, o + 68, pe::IMAGE_SUBSYSTEM_NATIVE);
        put16(
            &mut f,
            o + 70,
            pe::IMAGE_DLLCHARACTERISTICS_HIGH_ENTROPY_VA
                | pe::IMAGE_DLLCHARACTERISTICS_DYNAMIC_BASE
                | pe::IMAGE_DLLCHARACTERISTICS_NX_COMPAT,
        );
        put64(&mut f, o + 72, 0x4_0000); // SizeOfStackReserve
        put64(&mut f, o + 80, 0x1000); // SizeOfStackCommit
        put64(&mut f, o + 88, 0x10_0000); // SizeOfHeapReserve
        put64(&mut f, o + 96, 0x1000); // SizeOfHeapCommit
        put32(&mut f, o + 108, 16); // NumberOfRvaAndSizes
        let directory = |f: &mut Vec<u8>, index: usize, rva: u32, size: u32| {
            put32(f, DIRECTORIES + index * 8, rva);
            put32(f, DIRECTORIES + index * 8 + 4, size);
        };
        directory(&mut f, pe::IMAGE_DIRECTORY_ENTRY_IMPORT, 0x2040, 60);
        directory(&mut f, pe::IMAGE_DIRECTORY_ENTRY_BASERELOC, 0x5000, 12);
        directory(&mut f, pe::IMAGE_DIRECTORY_ENTRY_IAT, 0x2000, 0x20);

        // Section table.
        let data = pe::IMAGE_SCN_CNT_INITIALIZED_DATA | pe::IMAGE_SCN_MEM_READ;
        let sections: [(&[u8], u32, u32, u32, u32); 4] = [
            (b".text", 0x10, 0x1000, 0x400, spec.text_characteristics),
            (b".rdata", 0x120, 0x2000, 0x600, data),
            (
                b".data",
                0x1100,
                0x3000,
                0x800,
                data | pe::IMAGE_SCN_MEM_WRITE,
            ),
            (
                b".reloc",
                12,
                0x5000,
                0xA00,
                data | pe::IMAGE_SCN_MEM_DISCARDABLE,
            ),
        ];
        for (index, (name, virtual_size, rva, raw, characteristics)) in
            sections.into_iter().enumerate()
        {
            let s = SECTIONS + index * 40;
            put(&mut f, s, name);
            put32(&mut f, s + 8, virtual_size);
            put32(&mut f, s + 12, rva);
            put32(&mut f, s + 16, 0x200); // SizeOfRawData
            put32(&mut f, s + 20, raw); // PointerToRawData
            put32(&mut f, s + 36, characteristics);
        }

        write_contents(&mut f, spec);
        f
    }

    /// Writes the sections' contents for [`build`].
    fn write_contents(f: &mut [u8], spec: &Spec) {
        // .text: xor eax, eax; ret (never run).
        put(f, 0x400, &[0x31, 0xC0, 0xC3]);

        // .rdata (file 0x600 = RVA 0x2000).
        let rdata = |rva: usize| rva - 0x2000 + 0x600;
        let portcls_thunk = match spec.portcls_ordinal {
            Some(ordinal) => pe::IMAGE_ORDINAL_FLAG64 | u64::from(ordinal),
            None => 0x20D0,
        };
        // IATs, holding what the lookup tables hold until bound.
        put64(f, rdata(IAT_NTOSKRNL), 0x20C0);
        put64(f, rdata(IAT_PORTCLS), portcls_thunk);
        // Import descriptors: OriginalFirstThunk, TimeDateStamp, ForwarderChain, Name,
        // FirstThunk; then a null one.
        for (index, (lookup, name, iat)) in [
            (0x2080, 0x2100, IAT_NTOSKRNL),
            (0x2090, 0x2110, IAT_PORTCLS),
        ]
        .into_iter()
        .enumerate()
        {
            let d = rdata(0x2040) + index * 20;
            put32(f, d, lookup);
            put32(f, d + 12, name);
            put32(f, d + 16, u32::try_from(iat).unwrap());
        }
        // Lookup tables.
        put64(f, rdata(0x2080), 0x20C0);
        put64(f, rdata(0x2090), portcls_thunk);
        // Hint/name entries.
        put16(f, rdata(0x20C0), 0x123);
        put(f, rdata(0x20C2), b"KeSetEvent\0");
        put16(f, rdata(0x20D0), 0x45);
        put(f, rdata(0x20D2), b"PcNewPort\0");
        // Module names.
        put(f, rdata(0x2100), b"ntoskrnl.exe\0");
        put(f, rdata(0x2110), b"portcls.sys\0");

        // .data (file 0x800 = RVA 0x3000): an absolute pointer to .text, and a marker.
        put64(f, 0x800 + (DATA_SLOT - 0x3000), IMAGE_BASE + 0x1000);
        put(f, 0x800, b"data");

        // .reloc (file 0xA00): page 0x3000, 12 bytes: DIR64 at +8, then ABSOLUTE padding.
        put32(f, 0xA00, 0x3000);
        put32(f, 0xA04, 12);
        put16(f, 0xA08, (spec.relocation_type << 12) | 0x008);
        put16(f, 0xA0A, 0);
    }

    /// The address `resolve` gives a routine, for checking the IAT.
    fn fake_address(module: &str, name: &str) -> Option<usize> {
        match (module, name) {
            ("ntoskrnl.exe", "KeSetEvent") => Some(0x1111_2222_3333),
            ("portcls.sys", "PcNewPort") => Some(0x4444_5555_6666),
            _ => None,
        }
    }

    fn load(bytes: &[u8]) -> Result<Image, ImageError> {
        Image::load(bytes, &mut fake_address)
    }

    /// Mappings made by this thread that are still mapped.
    fn live_mappings() -> usize {
        mappings_on_this_thread()
    }

    fn mappings_made() -> usize {
        MAPPINGS_MADE.with(std::cell::Cell::get)
    }

    /// Loads `bytes`, expecting an error; checks nothing stays mapped.
    fn load_err(bytes: &[u8]) -> ImageError {
        let live = live_mappings();
        let error = load(bytes).expect_err("the image should be refused");
        assert_eq!(
            live_mappings(),
            live,
            "a mapping was left behind by: {error}"
        );
        error
    }

    /// Reads 8 bytes at `rva` of a loaded image.
    #[cfg(unix)]
    fn read_u64(image: &Image, rva: usize) -> u64 {
        assert!(rva + 8 <= image.size());
        let address = (image.base() + rva) as *const u64;
        // SAFETY: the 8 bytes lie inside the image (asserted), which stays mapped while
        // `image` is borrowed; the tests read only readable sections, and nothing writes the
        // mapping after load.
        unsafe { address.read_unaligned() }
    }

    /// The permissions (`r-xp`, ...) of the mapping holding `address`, from /proc/self/maps.
    #[cfg(target_os = "linux")]
    fn permissions(address: usize) -> String {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        for line in maps.lines() {
            let mut fields = line.split_whitespace();
            let range = fields.next().unwrap();
            let permissions = fields.next().unwrap();
            let (start, end) = range.split_once('-').unwrap();
            let start = usize::from_str_radix(start, 16).unwrap();
            let end = usize::from_str_radix(end, 16).unwrap();
            if (start..end).contains(&address) {
                return permissions.to_owned();
            }
        }
        panic!("{address:#x} is not mapped");
    }

    // It maps the image.
    #[cfg(unix)]
    #[test]
    fn loads_a_good_image() {
        let live = live_mappings();
        let bytes = build(&Spec::default());
        let mut asked = Vec::new();
        let image = Image::load(&bytes, &mut |module, name| {
            asked.push(format!("{module}!{name}"));
            assert_eq!(live_mappings(), live + 1, "the image being built counts");
            fake_address(module, name)
        })
        .unwrap();
        assert_eq!(live_mappings(), live + 1);
        assert_eq!(asked, ["ntoskrnl.exe!KeSetEvent", "portcls.sys!PcNewPort"]);

        let base = image.base();
        assert_eq!(base % os::page_size(), 0);
        assert_eq!(image.size(), SIZE_OF_IMAGE as usize);
        assert_eq!(image.entry(), base + ENTRY as usize);
        assert_eq!(image.machine(), HOST_MACHINE);
        assert_eq!(image.file_size(), bytes.len());
        assert_eq!(image.preferred_base(), IMAGE_BASE);
        assert!(image.contains(base));
        assert!(image.contains(image.entry()));
        assert!(image.contains(base + SIZE_OF_IMAGE as usize - 1));
        assert!(!image.contains(base + SIZE_OF_IMAGE as usize));
        assert!(!image.contains(base - 1));
        assert_eq!(
            image.imports(),
            [
                ("ntoskrnl.exe".to_owned(), "KeSetEvent".to_owned()),
                ("portcls.sys".to_owned(), "PcNewPort".to_owned())
            ]
        );
        assert_eq!(image.relocations(), 1);

        // The headers and the sections are where they belong.
        assert_eq!(
            read_u64(&image, 0) & 0xFFFF,
            u64::from(u16::from_le_bytes(*b"MZ"))
        );
        assert_eq!(read_u64(&image, 0x1000) & 0xFF_FFFF, 0xC3_C031);
        assert_eq!(
            read_u64(&image, 0x3000) & 0xFFFF_FFFF,
            u64::from(u32::from_le_bytes(*b"data"))
        );
        // The tail of .data (VirtualSize 0x1100, 0x200 bytes of raw data) is zero.
        assert_eq!(read_u64(&image, 0x3200), 0);
        assert_eq!(read_u64(&image, 0x40F8), 0);
        // The IAT slots hold what the resolver said.
        assert_eq!(read_u64(&image, IAT_NTOSKRNL), 0x1111_2222_3333);
        assert_eq!(read_u64(&image, IAT_NTOSKRNL + 8), 0);
        assert_eq!(read_u64(&image, IAT_PORTCLS), 0x4444_5555_6666);
        // The DIR64 slot was moved by (base - ImageBase): it points at .text where it is now.
        assert_eq!(read_u64(&image, DATA_SLOT), base as u64 + 0x1000);

        #[cfg(target_os = "linux")]
        check_protections(base);

        drop(image);
        assert_eq!(live_mappings(), live);
    }

    /// Checks the protections of the test image loaded at `base`, from /proc/self/maps.
    #[cfg(target_os = "linux")]
    fn check_protections(base: usize) {
        // Under qemu-user, /proc/self/maps is the host's view, where the guest's PROT_EXEC
        // does not split a mapping (each host mapping is shown with the guest protection of
        // its first page): calibrate on a mapping of our own, protected as the image is
        // (read-only, then its second page read-execute).
        let page = os::page_size();
        let probe = Draft::new(2 * page)
            .unwrap()
            .seal(&[
                ("probe", 0, 2 * page, PageAccess::Read),
                ("probe", page, page, PageAccess::ReadExecute),
            ])
            .unwrap();
        let text = if permissions(probe.ptr.as_ptr() as usize + page) == "r-xp" {
            "r-xp"
        } else {
            "r--p"
        };
        drop(probe);
        assert_eq!(permissions(base), "r--p", "headers");
        assert_eq!(permissions(base + 0x1000), text, ".text");
        assert_eq!(permissions(base + 0x2000), "r--p", ".rdata");
        assert_eq!(permissions(base + 0x3000), "rw-p", ".data");
        assert_eq!(permissions(base + 0x4000), "rw-p", ".data, second page");
        assert_eq!(permissions(base + 0x5000), "r--p", ".reloc");
    }

    // It maps the image.
    #[cfg(unix)]
    #[test]
    fn loads_a_signed_image() {
        // Authenticode appends the certificate table after the last section and points the
        // security directory at it by *file offset*.
        let mut bytes = build(&Spec::default());
        let end = u32::try_from(bytes.len()).unwrap();
        put32(
            &mut bytes,
            DIRECTORIES + pe::IMAGE_DIRECTORY_ENTRY_SECURITY * 8,
            end,
        );
        put32(
            &mut bytes,
            DIRECTORIES + pe::IMAGE_DIRECTORY_ENTRY_SECURITY * 8 + 4,
            0x308,
        );
        bytes.resize(bytes.len() + 0x308, 0xA5);
        let image = load(&bytes).unwrap();
        assert_eq!(image.file_size(), 0xC00 + 0x308);
        assert_eq!(image.size(), SIZE_OF_IMAGE as usize);
        assert_eq!(read_u64(&image, DATA_SLOT), image.base() as u64 + 0x1000);
    }

    // It maps the image.
    #[cfg(unix)]
    #[test]
    fn loads_an_image_without_imports_or_relocations() {
        let mut bytes = build(&Spec::default());
        put(&mut bytes, IMPORT_DIRECTORY, &[0; 8]);
        put(&mut bytes, RELOC_DIRECTORY, &[0; 8]);
        let image = load(&bytes).unwrap();
        assert!(image.imports().is_empty());
        assert_eq!(image.relocations(), 0);
        // Nothing bound, nothing moved.
        assert_eq!(read_u64(&image, IAT_NTOSKRNL), 0x20C0);
        assert_eq!(read_u64(&image, DATA_SLOT), IMAGE_BASE + 0x1000);

        // Unless it says it cannot be moved.
        put16(
            &mut bytes,
            0x56,
            pe::IMAGE_FILE_EXECUTABLE_IMAGE | pe::IMAGE_FILE_RELOCS_STRIPPED,
        );
        let error = load_err(&bytes);
        assert!(
            error.to_string().contains("IMAGE_FILE_RELOCS_STRIPPED"),
            "{error}"
        );
    }

    // It maps the image.
    #[cfg(unix)]
    #[test]
    fn image_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Image>();
        let live = live_mappings();
        let image = load(&build(&Spec::default())).unwrap();
        let base = image.base();
        assert_eq!(live_mappings(), live + 1);
        let entry = std::thread::spawn(move || {
            assert_eq!(live_mappings(), 0, "a new thread has mapped nothing");
            assert_eq!(image.base(), base);
            let entry = image.entry();
            drop(image);
            assert_eq!(
                live_mappings(),
                0,
                "counted on the loading thread, not here"
            );
            entry
        })
        .join()
        .unwrap();
        assert_eq!(entry, base + ENTRY as usize);
        assert_eq!(live_mappings(), live, "dropped on the other thread");
    }

    #[test]
    fn refuses_truncated_files() {
        let bytes = build(&Spec::default());
        // In the middle of the optional header.
        let error = load_err(&bytes[..0x100]);
        assert!(matches!(error, ImageError::Malformed(_)), "{error}");
        // After the section table, before SizeOfHeaders.
        let error = load_err(&bytes[..0x300]);
        assert!(error.to_string().contains("SizeOfHeaders"), "{error}");
        // In the middle of .rdata.
        let error = load_err(&bytes[..0x700]);
        assert!(
            error.to_string().contains("section .rdata")
                && error.to_string().contains("end of the file"),
            "{error}"
        );
        // Nothing at all.
        assert!(matches!(load_err(&[]), ImageError::Malformed(_)));
    }

    #[test]
    fn refuses_another_machine() {
        let other = if HOST_MACHINE == pe::IMAGE_FILE_MACHINE_ARM64 {
            pe::IMAGE_FILE_MACHINE_AMD64
        } else {
            pe::IMAGE_FILE_MACHINE_ARM64
        };
        let made = mappings_made();
        let error = load_err(&build(&Spec {
            machine: other,
            ..Spec::default()
        }));
        assert_eq!(
            mappings_made(),
            made,
            "nothing is mapped for a foreign image"
        );
        let ImageError::Machine { found, host } = error else {
            panic!("{error}");
        };
        assert_eq!((found, host), (other, HOST_MACHINE));
        assert_eq!(
            ImageError::Machine {
                found: pe::IMAGE_FILE_MACHINE_ARM64,
                host: pe::IMAGE_FILE_MACHINE_AMD64
            }
            .to_string(),
            "the image is for machine 0xaa64 (arm64), the host is 0x8664 (x64)"
        );
    }

    // It maps the image.
    #[cfg(unix)]
    #[test]
    fn refuses_unknown_relocation_types() {
        let error = load_err(&build(&Spec {
            relocation_type: pe::IMAGE_REL_BASED_HIGHLOW,
            ..Spec::default()
        }));
        let ImageError::Relocation { kind, rva } = error else {
            panic!("{error}");
        };
        assert_eq!((kind, rva), (3, 0x3008));
        let text = ImageError::Relocation { kind, rva }.to_string();
        assert!(text.contains("type 3") && text.contains("0x3008"), "{text}");
    }

    #[test]
    fn refuses_writable_executable_sections() {
        let made = mappings_made();
        let error = load_err(&build(&Spec {
            text_characteristics: pe::IMAGE_SCN_CNT_CODE
                | pe::IMAGE_SCN_MEM_EXECUTE
                | pe::IMAGE_SCN_MEM_READ
                | pe::IMAGE_SCN_MEM_WRITE,
            ..Spec::default()
        }));
        assert_eq!(mappings_made(), made, "refused before mapping anything");
        let ImageError::WritableExecutable { section } = &error else {
            panic!("{error}");
        };
        assert_eq!(section, ".text");
        assert!(error.to_string().contains(".text"));
    }

    // It maps the image.
    #[cfg(unix)]
    #[test]
    fn refuses_missing_imports() {
        let bytes = build(&Spec::default());
        let live = live_mappings();
        let error = Image::load(&bytes, &mut |module, name| {
            (name != "PcNewPort")
                .then(|| fake_address(module, name))
                .flatten()
        })
        .unwrap_err();
        assert_eq!(live_mappings(), live);
        assert!(
            matches!(&error, ImageError::MissingImport { module, name }
                if module == "portcls.sys" && name == "PcNewPort"),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "the driver imports portcls.sys!PcNewPort, which the model does not provide"
        );
    }

    // It maps the image.
    #[cfg(unix)]
    #[test]
    fn refuses_imports_by_ordinal() {
        let error = load_err(&build(&Spec {
            portcls_ordinal: Some(5),
            ..Spec::default()
        }));
        let ImageError::ImportByOrdinal { module, ordinal } = &error else {
            panic!("{error}");
        };
        assert_eq!((module.as_str(), *ordinal), ("portcls.sys", 5));
        assert!(error.to_string().contains("portcls.sys") && error.to_string().contains('5'));
    }

    /// Loads `bytes` patched by `patch`, expects `Malformed` with a message containing `what`.
    fn expect_malformed(patch: impl FnOnce(&mut Vec<u8>), what: &str) {
        let mut bytes = build(&Spec::default());
        patch(&mut bytes);
        let error = load_err(&bytes);
        assert!(matches!(error, ImageError::Malformed(_)), "{error:?}");
        assert!(
            error.to_string().contains(what),
            "{error} should mention {what:?}"
        );
    }

    #[test]
    fn refuses_bad_layouts() {
        let section = |index: usize, field: usize| SECTIONS + index * 40 + field;
        expect_malformed(|f| put32(f, OPTIONAL + 56, 0), "SizeOfImage is 0");
        expect_malformed(|f| put32(f, OPTIONAL + 32, 0x200), "host page size");
        expect_malformed(|f| put32(f, OPTIONAL + 16, 0x6000), "entry point");
        expect_malformed(|f| put32(f, OPTIONAL + 16, 0x2000), "entry point");
        // .reloc's virtual range beyond SizeOfImage.
        expect_malformed(|f| put32(f, section(3, 8), 0x1001), "beyond SizeOfImage");
        // .data's raw data beyond the file.
        expect_malformed(|f| put32(f, section(2, 20), 0xB00), "section .data");
        // Overlapping sections.
        expect_malformed(|f| put32(f, section(1, 12), 0x1000), "overlaps");
        // Not executable.
        expect_malformed(|f| put16(f, 0x56, 0), "IMAGE_FILE_EXECUTABLE_IMAGE");
    }

    // It maps the image.
    #[cfg(unix)]
    #[test]
    fn refuses_relocations_beyond_the_image() {
        // The block's page moved to 0x5000 and the slot to +0xFFC: 0x5FFC + 8 > 0x6000.
        expect_malformed(
            |f| {
                put32(f, 0xA00, 0x5000);
                put16(f, 0xA08, (pe::IMAGE_REL_BASED_DIR64 << 12) | 0xFFC);
            },
            "0x5ffc",
        );
        // The directory itself beyond the image.
        expect_malformed(
            |f| put32(f, RELOC_DIRECTORY, 0x5FF8),
            "base relocation directory",
        );
        // A corrupt block size.
        expect_malformed(|f| put32(f, 0xA04, 6), "base relocation block");
    }

    // It maps the image.
    #[cfg(unix)]
    #[test]
    fn refuses_import_tables_beyond_the_image() {
        // portcls.sys's FirstThunk at the last 4 bytes of the image.
        expect_malformed(|f| put32(f, 0x600 + 0x40 + 20 + 16, 0x5FFC), "0x5ffc");
        // The import directory beyond the image.
        expect_malformed(|f| put32(f, IMPORT_DIRECTORY, 0x7000), "import directory");
        // A module name beyond the end of the image.
        expect_malformed(|f| put32(f, 0x600 + 0x40 + 12, 0x6000), "import directory");
    }

    /// File offset of field `field` of section header `index`.
    fn section_field(index: usize, field: usize) -> usize {
        SECTIONS + index * 40 + field
    }

    /// Machine code for the host returning `value` (the entry point's own convention does
    /// not matter: no arguments, the result in `eax` / `w0`).
    #[cfg(unix)]
    fn returns(value: u16) -> Vec<u8> {
        if cfg!(target_arch = "aarch64") {
            // movz w0, #value; ret
            let movz = 0x5280_0000 | (u32::from(value) << 5);
            [movz.to_le_bytes(), 0xD65F_03C0_u32.to_le_bytes()].concat()
        } else {
            // mov eax, value; ret
            let mut code = vec![0xB8];
            code.extend_from_slice(&u32::from(value).to_le_bytes());
            code.push(0xC3);
            code
        }
    }

    // It maps the image and runs its code.
    #[cfg(all(unix, any(target_arch = "x86_64", target_arch = "aarch64")))]
    #[test]
    fn runs_the_loaded_code() {
        // Images loaded one after the other, often at the same address, each with other code
        // there: on arm64 this needs the instruction cache flushed at each load (which qemu
        // does not check, but hardware does).
        let live = live_mappings();
        for value in 1..=8 {
            let mut bytes = build(&Spec::default());
            put(&mut bytes, 0x400, &returns(value));
            let image = load(&bytes).unwrap();
            // SAFETY: the entry point is the start of `.text`, which holds the code just
            // written: it takes no arguments, returns a 32-bit value, and touches nothing else.
            let entry = unsafe {
                std::mem::transmute::<usize, unsafe extern "C" fn() -> u32>(image.entry())
            };
            // SAFETY: the image stays mapped (and `.text` executable) while `image` lives.
            let result = unsafe { entry() };
            assert_eq!(result, u32::from(value));
            drop(image);
        }
        assert_eq!(live_mappings(), live);
    }

    /// Gives .reloc raw data up to the end of the image (RVA 0x5000..0x6000 = file
    /// 0xA00..0x1A00), so that the last bytes of the image can be set from the file.
    #[cfg(unix)]
    fn fill_reloc(f: &mut Vec<u8>) {
        f.resize(0x1A00, 0);
        put32(f, section_field(3, 8), 0x1000);
        put32(f, section_field(3, 16), 0x1000);
    }

    // It maps the image.
    #[cfg(unix)]
    #[test]
    fn ignores_the_file_offset_of_a_section_without_raw_data() {
        // .data (VirtualSize 0x1100) with no raw data, and a PointerToRawData far beyond the
        // end of the file: nothing is copied, the offset is never used.
        let mut bytes = build(&Spec::default());
        put32(&mut bytes, section_field(2, 16), 0);
        put32(&mut bytes, section_field(2, 20), 0x7FFF_0000);
        let live = live_mappings();
        let image = load(&bytes).unwrap();
        assert_eq!(read_u64(&image, 0x3000), 0, "nothing copied to .data");
        assert_eq!(read_u64(&image, 0x40F8), 0);
        // The DIR64 slot held 0, and was moved all the same.
        assert_eq!(
            read_u64(&image, DATA_SLOT),
            (image.base() as u64).wrapping_sub(IMAGE_BASE)
        );
        drop(image);

        // The same with a VirtualSize of 0 as well: an empty section.
        put32(&mut bytes, section_field(2, 8), 0);
        let image = load(&bytes).unwrap();
        assert_eq!(read_u64(&image, 0x3000), 0);
        drop(image);

        // And PointerToRawData at the very top, with no raw data.
        put32(&mut bytes, section_field(2, 20), u32::MAX);
        drop(load(&bytes).unwrap());
        assert_eq!(live_mappings(), live);
    }

    #[test]
    fn refuses_raw_data_whose_end_overflows() {
        // 0xFFFF_FF00 + 0x200 overflows a u32: beyond the end of the file all the same.
        expect_malformed(
            |f| put32(f, section_field(2, 20), 0xFFFF_FF00),
            "section .data",
        );
        expect_malformed(
            |f| put32(f, section_field(2, 16), u32::MAX),
            "section .data",
        );
        // A virtual range whose end overflows a u32.
        expect_malformed(
            |f| put32(f, section_field(3, 8), u32::MAX),
            "beyond SizeOfImage",
        );
    }

    #[test]
    fn refuses_bad_header_sizes() {
        // SizeOfHeaders: 0, beyond the file, beyond SizeOfImage.
        expect_malformed(|f| put32(f, OPTIONAL + 60, 0), "SizeOfHeaders is 0");
        expect_malformed(
            |f| put32(f, OPTIONAL + 60, u32::MAX),
            "beyond the end of the file",
        );
        expect_malformed(
            |f| put32(f, OPTIONAL + 60, 0xC01),
            "beyond the end of the file",
        );
        expect_malformed(
            |f| {
                put32(f, OPTIONAL + 60, 0xC00);
                put32(f, OPTIONAL + 56, 0xA00);
            },
            "exceeds SizeOfImage",
        );
    }

    #[test]
    fn refuses_directories_whose_end_overflows() {
        expect_malformed(
            |f| {
                put32(f, RELOC_DIRECTORY, 0xFFFF_FFF0);
                put32(f, RELOC_DIRECTORY + 4, 0x20);
            },
            "base relocation directory",
        );
        expect_malformed(
            |f| put32(f, RELOC_DIRECTORY + 4, u32::MAX),
            "base relocation directory",
        );
        expect_malformed(|f| put32(f, IMPORT_DIRECTORY, u32::MAX), "import directory");
        // Import descriptors that run off the end of the image (no null descriptor), found
        // once the image is mapped.
        if cfg!(unix) {
            expect_malformed(|f| put32(f, IMPORT_DIRECTORY, 0x5FF0), "import directory");
        }
    }

    // It maps the image.
    #[cfg(unix)]
    #[test]
    fn refuses_relocation_pages_that_wrap_around() {
        // Page 0xFFFF_FFF8 + offset 0x10 is 0x1_0000_0008, not 8 (which would patch the
        // headers).
        expect_malformed(
            |f| {
                put32(f, 0xA00, 0xFFFF_FFF8);
                put16(f, 0xA08, (pe::IMAGE_REL_BASED_DIR64 << 12) | 0x010);
            },
            "0x100000008",
        );
        // A block size beyond the directory.
        expect_malformed(|f| put32(f, 0xA04, 0x1000), "base relocation block");
        expect_malformed(|f| put32(f, 0xA04, 0xFFFF_FFFC), "base relocation block");
    }

    // It maps the image.
    #[cfg(unix)]
    #[test]
    fn refuses_import_references_beyond_the_image() {
        let descriptor = |index: usize, field: usize| 0x600 + 0x40 + index * 20 + field;
        // Module name, lookup table, IAT at the top of the RVA space.
        expect_malformed(
            |f| put32(f, descriptor(0, 12), u32::MAX),
            "import directory",
        );
        expect_malformed(|f| put32(f, descriptor(0, 0), u32::MAX), "import directory");
        expect_malformed(|f| put32(f, descriptor(0, 0), 0x5FFC), "import directory");
        expect_malformed(|f| put32(f, descriptor(1, 16), 0xFFFF_FFF8), "0xfffffff8");
        // A hint/name reference beyond the image, or right at its last byte (no room for the
        // hint and the name).
        expect_malformed(|f| put64(f, 0x600 + 0x80, 0x7FFF_FFFF), "import directory");
        expect_malformed(|f| put64(f, 0x600 + 0x80, 0x5FFF), "import directory");
        // A module name without its terminating NUL before the end of the image.
        expect_malformed(
            |f| {
                fill_reloc(f);
                put32(f, descriptor(0, 12), 0x5FFE);
                put(f, 0x19FE, b"xx");
            },
            "import directory",
        );
        // A lookup table without its terminating null entry before the end of the image.
        expect_malformed(
            |f| {
                fill_reloc(f);
                put32(f, descriptor(0, 0), 0x5FF8);
                put64(f, 0x19F8, 0x20C0);
            },
            "import directory",
        );
        // No import address table.
        expect_malformed(
            |f| put32(f, descriptor(0, 16), 0),
            "no import address table",
        );
        // Names that are not UTF-8.
        expect_malformed(|f| put(f, 0x600 + 0x100, b"\xFF\0"), "not valid UTF-8");
        expect_malformed(|f| put(f, 0x600 + 0xC2, b"\xFF\0"), "not valid UTF-8");
    }

    /// Loads every image one mutation away from the good one that [`mutations`] lists: each
    /// must load or be refused with an [`ImageError`], never panic, and leave nothing mapped.
    #[test]
    fn never_panics_on_corrupt_files() {
        let good = build(&Spec::default());
        let live = live_mappings();
        let (mut loaded, mut refused) = (0, 0);
        for (what, bytes) in mutations(&good) {
            let Ok(result) =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| load(&bytes)))
            else {
                panic!("loading the image with {what} panicked");
            };
            match result {
                Ok(image) => {
                    loaded += 1;
                    drop(image);
                }
                Err(_) => refused += 1,
            }
            assert_eq!(live_mappings(), live, "{what} left a mapping behind");
        }
        assert!(refused > 0, "{loaded} loaded, {refused} refused");
        // Elsewhere, every image that passes validation is refused for want of mmap.
        assert!(
            loaded > 0 || !cfg!(unix),
            "{loaded} loaded, {refused} refused"
        );
    }

    /// The good image with, in turn: each byte of the file set to 0x00, 0x7F, 0x80 and 0xFF;
    /// each aligned 32-bit field of the headers and the directories set to values near the
    /// limits; each section's pairs of sizes and offsets (`VirtualSize` and
    /// `VirtualAddress`, `SizeOfRawData` and `PointerToRawData`) set together; and the file
    /// cut at every 0x40 bytes.
    fn mutations(good: &[u8]) -> impl Iterator<Item = (String, Vec<u8>)> + '_ {
        let bytes = (0..good.len()).flat_map(move |offset| {
            [0x00, 0x7F, 0x80, 0xFF].into_iter().map(move |value| {
                let mut bytes = good.to_vec();
                bytes[offset] = value;
                (format!("byte {offset:#x} = {value:#04x}"), bytes)
            })
        });
        // The headers, the import descriptors and lookup tables, the relocation block.
        let fields = (0..0x400)
            .chain(0x600..0x6A0)
            .chain(0xA00..0xA0C)
            .step_by(4);
        let words = fields.flat_map(move |offset| {
            [
                0,
                1,
                0x5FF8,
                0x5FFC,
                0x6000,
                0x7FFF_0000,
                0x8000_0000,
                0xFFFF_FFF8,
                u32::MAX,
            ]
            .into_iter()
            .map(move |value| {
                let mut bytes = good.to_vec();
                put32(&mut bytes, offset, value);
                (format!("u32 at {offset:#x} = {value:#x}"), bytes)
            })
        });
        let limits = [0, 1, 0x200, 0x1000, 0xC00, 0x7FFF_0000, u32::MAX];
        let pairs = (0..4).flat_map(move |section| {
            [(8, 12), (16, 20)]
                .into_iter()
                .flat_map(move |(size, offset)| {
                    limits.into_iter().flat_map(move |size_value| {
                        limits.into_iter().map(move |offset_value| {
                        let mut bytes = good.to_vec();
                        put32(&mut bytes, section_field(section, size), size_value);
                        put32(&mut bytes, section_field(section, offset), offset_value);
                        let what = format!(
                            "section {section}: u32 at +{size} = {size_value:#x}, at +{offset} = \
                             {offset_value:#x}"
                        );
                        (what, bytes)
                    })
                    })
                })
        });
        let cuts = (0..good.len())
            .step_by(0x40)
            .map(move |len| (format!("the file cut at {len:#x}"), good[..len].to_vec()));
        bytes.chain(words).chain(pairs).chain(cuts)
    }

    #[cfg(not(unix))]
    #[test]
    fn refuses_to_map_without_unix() {
        let error = load_err(&build(&Spec::default()));
        let ImageError::Map(error) = &error else {
            panic!("{error}");
        };
        assert_eq!(error.kind(), io::ErrorKind::Unsupported);
        assert!(error.to_string().contains("needs a Unix host"), "{error}");
    }
}
