//! The kernel routines the driver calls, in one thin module.
//!
//! In kernel builds (feature `kernel`) they are imported from `ntoskrnl.exe` with `raw-dylib`;
//! on the host the simulator (`portcls-sim`) defines the same symbols. Keep this list short:
//! every routine here is also in the package audit's allow-list with the first Windows build
//! that exports it, and nothing newer than Windows 10 1511 (10586) may be a static import.
//! `ExAllocatePool2` (19041) is therefore resolved at run time (see [`pool`](crate::pool)).

#![allow(non_snake_case, non_camel_case_types)] // the kernel headers' own names

use core::ffi::c_void;

/// `POOL_TYPE` `NonPagedPoolNx` (512): non-paged, not executable (memory integrity).
pub const NON_PAGED_POOL_NX: i32 = 512;
/// `POOL_FLAG_NON_PAGED` for `ExAllocatePool2` (non-executable by default).
pub const POOL_FLAG_NON_PAGED: u64 = 0x40;

/// `UNICODE_STRING`: a counted UTF-16 string (`Length` and `MaximumLength` in bytes).
#[repr(C)]
#[derive(Debug)]
pub struct UNICODE_STRING {
    /// Bytes in use, without a terminating NUL.
    pub Length: u16,
    /// Bytes the buffer holds.
    pub MaximumLength: u16,
    /// The characters.
    pub Buffer: *const u16,
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(core::mem::size_of::<UNICODE_STRING>() == 16);

/// The signature of `ExAllocatePool2` (build 19041 on), for the pointer resolved at run time.
pub type ExAllocatePool2Fn =
    unsafe extern "system" fn(Flags: u64, NumberOfBytes: usize, Tag: u32) -> *mut c_void;

#[cfg_attr(
    feature = "kernel",
    link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")
)]
unsafe extern "system" {
    /// `ExAllocatePoolWithTag` (every build). IRQL <= `DISPATCH_LEVEL` for non-paged pool.
    pub fn ExAllocatePoolWithTag(PoolType: i32, NumberOfBytes: usize, Tag: u32) -> *mut c_void;
    /// `ExFreePoolWithTag` (every build). IRQL <= `DISPATCH_LEVEL`.
    pub fn ExFreePoolWithTag(P: *mut c_void, Tag: u32);
    /// `MmGetSystemRoutineAddress` (every build). IRQL: `PASSIVE_LEVEL`.
    pub fn MmGetSystemRoutineAddress(SystemRoutineName: *mut UNICODE_STRING) -> *mut c_void;
}
