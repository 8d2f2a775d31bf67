//! Kernel pool: allocations tracked by tag, as Driver Verifier's pool tracking does.
//!
//! `ExAllocatePoolWithTag` hands out memory filled with a non-zero pattern (the kernel does not
//! zero it), `ExAllocatePool2` zeroed memory (unless asked not to) and only on builds that have
//! it; executable pool, frees with the wrong tag, double frees and frees of unknown addresses are
//! violations, and whatever is still allocated is a leftover.

use std::alloc::Layout;
use std::ffi::c_void;
use std::fmt;

use portcls_sys::PVOID;

use crate::world::State;
use crate::{Ddi, Violation, current_irql, with_world};

/// `POOL_TYPE` values the model accepts.
pub const NON_PAGED_POOL_EXECUTE: i32 = 0;
/// `PagedPool`.
pub const PAGED_POOL: i32 = 1;
/// `NonPagedPoolNx` (512): non-paged, non-executable.
pub const NON_PAGED_POOL_NX: i32 = 512;

/// `POOL_FLAG_UNINITIALIZED`.
pub const POOL_FLAG_UNINITIALIZED: u64 = 0x2;
/// `POOL_FLAG_NON_PAGED`.
pub const POOL_FLAG_NON_PAGED: u64 = 0x40;
/// `POOL_FLAG_NON_PAGED_EXECUTE`.
pub const POOL_FLAG_NON_PAGED_EXECUTE: u64 = 0x80;
/// `POOL_FLAG_PAGED`.
pub const POOL_FLAG_PAGED: u64 = 0x100;

/// The byte the model fills fresh `ExAllocatePoolWithTag` memory with.
pub const FRESH_POOL_FILL: u8 = 0xA5;

/// A pool tag, printed as its four characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Tag(pub u32);

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0.to_le_bytes() {
            let c = if byte.is_ascii_graphic() || byte == b' ' {
                char::from(byte)
            } else {
                '?'
            };
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// One live allocation.
#[derive(Debug)]
pub(crate) struct Block {
    pub(crate) tag: Tag,
    pub(crate) size: usize,
    layout: Layout,
    /// The pointer as allocated (keeps its provenance for the final free).
    memory: *mut u8,
    /// Where the driver allocated it (resolved only if the block is left over).
    pub(crate) site: Site,
}

/// The call stack of an allocation, captured cheaply and resolved on demand.
pub(crate) struct Site(Option<std::backtrace::Backtrace>);

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Site")
    }
}

impl Site {
    fn capture() -> Self {
        // Miri has no backtraces to offer at a useful speed.
        if cfg!(miri) {
            Self(None)
        } else {
            Self(Some(std::backtrace::Backtrace::force_capture()))
        }
    }

    /// The innermost frame of the driver or library code above the model's own (the function
    /// that called the pool routine), or a note that none was found.
    pub(crate) fn caller(&self) -> String {
        let Some(trace) = &self.0 else {
            return "(call site not recorded under Miri)".to_owned();
        };
        let text = trace.to_string();
        text.lines()
            .map(str::trim)
            .filter_map(|line| line.split_once(": ").map(|(_, name)| name))
            .find(|name| {
                !name.starts_with("portcls_sim::")
                    && !name.starts_with("std::")
                    && !name.starts_with("core::")
                    && !name.starts_with("alloc::")
                    && !name.starts_with('<')
                    && name.contains("::")
            })
            .map_or_else(
                || "(no caller outside the model in the backtrace)".to_owned(),
                |name| {
                    // Drop the symbol hash.
                    name.rsplit_once("::h")
                        .filter(|(_, hash)| hash.chars().all(|c| c.is_ascii_hexdigit()))
                        .map_or(name, |(path, _)| path)
                        .to_owned()
                },
            )
    }
}

// SAFETY: the block is plain memory owned by the model; only the model frees it, under its lock.
unsafe impl Send for Block {}

impl Block {
    /// Frees the memory. Called once, when the block leaves the model.
    pub(crate) fn release(self) {
        // SAFETY: allocated with this layout by `allocate`, freed only here (the block is
        // consumed).
        unsafe { std::alloc::dealloc(self.memory, self.layout) };
    }
}

/// The checks every allocation goes through: IRQL for the pool kind, executable pool (a
/// violation, though the allocation proceeds, as on a system without memory integrity), and
/// an injected failure. False means "return NULL".
fn admit(
    state: &mut State,
    ddi: Ddi,
    irql: u8,
    paged: bool,
    executable: bool,
    size: usize,
    tag: u32,
) -> bool {
    let max = if paged {
        portcls_sys::km::APC_LEVEL
    } else {
        portcls_sys::km::DISPATCH_LEVEL
    };
    if irql > max {
        state.violate(Violation::IrqlTooHigh { ddi, irql });
        return false;
    }
    if executable {
        state.violate(Violation::ExecutablePool { ddi, tag: Tag(tag) });
    }
    if state.fallible(ddi).is_some() {
        state.record(
            ddi,
            format!("{size} bytes, tag '{}' -> NULL (injected)", Tag(tag)),
            0,
        );
        return false;
    }
    true
}

fn allocate(state: &mut State, ddi: Ddi, size: usize, tag: u32, fill: Option<u8>) -> PVOID {
    let Ok(layout) = Layout::from_size_align(size.max(1), 16) else {
        return std::ptr::null_mut();
    };
    // SAFETY: the layout has a non-zero size.
    let memory = unsafe { std::alloc::alloc(layout) };
    if memory.is_null() {
        return std::ptr::null_mut();
    }
    let fill = fill.unwrap_or(0);
    // SAFETY: `memory` is a fresh allocation of `layout.size()` bytes.
    unsafe { memory.write_bytes(fill, layout.size()) };
    let tag = Tag(tag);
    state.pool.insert(
        memory.addr(),
        Block {
            tag,
            size,
            layout,
            memory,
            site: Site::capture(),
        },
    );
    state.record(
        ddi,
        format!("{size} bytes, tag '{tag}' -> {memory:p}"),
        portcls_sys::STATUS_SUCCESS,
    );
    memory.cast()
}

portcls_sys::kernel_abi! {
    /// `ExAllocatePoolWithTag`.
    #[unsafe(no_mangle)]
    pub fn ExAllocatePoolWithTag(pool_type: i32, size: usize, tag: u32) -> PVOID {
        with_world("ExAllocatePoolWithTag", |world| {
            let ddi = Ddi::ExAllocatePoolWithTag;
            let irql = current_irql();
            let mut state = world.lock();
            let executable = pool_type == NON_PAGED_POOL_EXECUTE;
            if !admit(
                &mut state,
                ddi,
                irql,
                pool_type == PAGED_POOL,
                executable,
                size,
                tag,
            ) {
                return std::ptr::null_mut();
            }
            allocate(&mut state, ddi, size, tag, Some(FRESH_POOL_FILL))
        })
    }
}

portcls_sys::kernel_abi! {
    /// `ExAllocatePool2` (build 19041 on; earlier profiles never hand out its address).
    #[unsafe(no_mangle)]
    pub fn ExAllocatePool2(flags: u64, size: usize, tag: u32) -> PVOID {
        with_world("ExAllocatePool2", |world| {
            let ddi = Ddi::ExAllocatePool2;
            let irql = current_irql();
            let mut state = world.lock();
            if !state.profile.has_allocate_pool2() {
                state.violate(Violation::ImportMissing { ddi });
                return std::ptr::null_mut();
            }
            if tag == 0
                || flags & (POOL_FLAG_NON_PAGED | POOL_FLAG_PAGED | POOL_FLAG_NON_PAGED_EXECUTE) == 0
            {
                // The routine refuses a zero tag and a missing pool kind.
                return std::ptr::null_mut();
            }
            let (paged, executable) = (
                flags & POOL_FLAG_PAGED != 0,
                flags & POOL_FLAG_NON_PAGED_EXECUTE != 0,
            );
            if !admit(&mut state, ddi, irql, paged, executable, size, tag) {
                return std::ptr::null_mut();
            }
            let fill = (flags & POOL_FLAG_UNINITIALIZED != 0).then_some(FRESH_POOL_FILL);
            allocate(&mut state, ddi, size, tag, fill)
        })
    }
}

portcls_sys::kernel_abi! {
    /// `ExFreePoolWithTag`.
    ///
    /// # Safety
    /// `memory` was allocated from pool with `tag` and is not used after this call.
    #[unsafe(no_mangle)]
    pub unsafe fn ExFreePoolWithTag(memory: PVOID, tag: u32) {
        with_world("ExFreePoolWithTag", |world| {
            let ddi = Ddi::ExFreePoolWithTag;
            let irql = current_irql();
            let mut state = world.lock();
            if irql > portcls_sys::km::DISPATCH_LEVEL {
                state.violate(Violation::IrqlTooHigh { ddi, irql });
                return;
            }
            let address = memory.addr();
            let Some(block) = state.pool.remove(&address) else {
                state.violate(Violation::BadFree { address });
                return;
            };
            if block.tag != Tag(tag) {
                state.violate(Violation::TagMismatch {
                    address,
                    allocated: block.tag,
                    freed: Tag(tag),
                });
            }
            state.record(
                ddi,
                format!("{memory:p}, tag '{}'", block.tag),
                portcls_sys::STATUS_SUCCESS,
            );
            state.driver_memory_freed(address, block.size);
            block.release();
        });
    }
}

/// `UNICODE_STRING` as `MmGetSystemRoutineAddress` reads it.
#[repr(C)]
#[derive(Debug)]
pub struct UnicodeString {
    length: u16,
    maximum_length: u16,
    buffer: *const u16,
}

impl UnicodeString {
    /// A counted string over `units` (no terminating NUL needed); it borrows their address.
    #[must_use]
    pub fn new(units: &[u16]) -> Self {
        let bytes = u16::try_from(units.len() * 2).unwrap_or(u16::MAX);
        Self {
            length: bytes,
            maximum_length: bytes,
            buffer: units.as_ptr(),
        }
    }
}

portcls_sys::kernel_abi! {
    /// `MmGetSystemRoutineAddress`: the model knows `ExAllocatePool2` (from build 19041).
    ///
    /// # Safety
    /// `name` points to a valid counted string.
    #[unsafe(no_mangle)]
    pub unsafe fn MmGetSystemRoutineAddress(name: *mut UnicodeString) -> PVOID {
        with_world("MmGetSystemRoutineAddress", |world| {
            let ddi = Ddi::MmGetSystemRoutineAddress;
            let irql = current_irql();
            let mut state = world.lock();
            if !state.irql_ok(ddi, irql) || name.is_null() {
                return std::ptr::null_mut();
            }
            // SAFETY: a valid counted string (caller's contract).
            let name = unsafe { &*name };
            let units = usize::from(name.length / 2);
            let text = if name.buffer.is_null() {
                String::new()
            } else {
                // SAFETY: `Length` bytes of UTF-16 at `Buffer` (caller's contract).
                let slice = unsafe { std::slice::from_raw_parts(name.buffer, units) };
                String::from_utf16_lossy(slice)
            };
            let found: PVOID = if text == "ExAllocatePool2" && state.profile.has_allocate_pool2() {
                let routine: portcls_sys::kernel_abi!(fn(u64, usize, u32) -> PVOID) = ExAllocatePool2;
                routine as *mut c_void
            } else {
                std::ptr::null_mut()
            };
            state.record(
                ddi,
                format!("{text} -> {found:p}"),
                portcls_sys::STATUS_SUCCESS,
            );
            found
        })
    }
}
