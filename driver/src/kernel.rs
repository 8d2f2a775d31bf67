//! The kernel routines the driver calls, in one thin module.
//!
//! In kernel builds (feature `kernel`) they are imported from `ntoskrnl.exe` with `raw-dylib`;
//! on the host the simulator (`portcls-sim`) defines the same symbols. Keep this list short:
//! every routine here is also in the package audit's allow-list with the first Windows build
//! that exports it, and nothing newer than Windows 10 1511 (10586) may be a static import.
//! `ExAllocatePool2` (19041) is therefore resolved at run time (see [`pool`](crate::pool)).

#![allow(non_snake_case, non_camel_case_types)] // the kernel headers' own names

use core::ffi::c_void;

pub use portcls_sys::km::{PKEVENT, UNICODE_STRING};

/// `POOL_TYPE` `NonPagedPoolNx` (512): non-paged, not executable (memory integrity).
pub const NON_PAGED_POOL_NX: i32 = 512;
/// `POOL_FLAG_NON_PAGED` for `ExAllocatePool2` (non-executable by default).
pub const POOL_FLAG_NON_PAGED: u64 = 0x40;

/// The signature of `ExAllocatePool2` (build 19041 on), for the pointer resolved at run time.
pub type ExAllocatePool2Fn =
    portcls_sys::kernel_abi!(unsafe fn(Flags: u64, NumberOfBytes: usize, Tag: u32) -> *mut c_void);

portcls_sys::kernel_abi! {
    #[cfg_attr(
        feature = "kernel",
        link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")
    )]
    unsafe extern {
        /// `ExAllocatePoolWithTag` (every build). IRQL <= `DISPATCH_LEVEL` for non-paged pool.
        pub fn ExAllocatePoolWithTag(PoolType: i32, NumberOfBytes: usize, Tag: u32) -> *mut c_void;
        /// `ExFreePoolWithTag` (every build). IRQL <= `DISPATCH_LEVEL`.
        pub fn ExFreePoolWithTag(P: *mut c_void, Tag: u32);
        /// `MmGetSystemRoutineAddress` (every build). IRQL: `PASSIVE_LEVEL`.
        pub fn MmGetSystemRoutineAddress(SystemRoutineName: *mut UNICODE_STRING) -> *mut c_void;
    }
}

/// Storage for a `KEVENT` (a `DISPATCHER_HEADER`: 24 bytes, 8-byte aligned on 64-bit Windows),
/// which the kernel initialises and owns while the event is in use. It must not move once
/// initialised.
#[repr(C, align(8))]
#[derive(Debug)]
pub struct EventStorage {
    _header: [u8; 24],
}

impl EventStorage {
    /// Storage for `KeInitializeEvent` to set up.
    #[must_use]
    pub const fn zeroed() -> Self {
        Self { _header: [0; 24] }
    }
}

/// `EVENT_TYPE` `NotificationEvent`.
pub const NOTIFICATION_EVENT: i32 = 0;
/// `KWAIT_REASON` `Executive`.
pub const EXECUTIVE: i32 = 0;
/// `KPROCESSOR_MODE` `KernelMode`.
pub const KERNEL_MODE: i8 = 0;
/// `THREAD_ALL_ACCESS` as `ObReferenceObjectByHandle` wants it for our own thread.
pub const THREAD_ALL_ACCESS: u32 = 0x001F_FFFF;
/// `STATUS_TIMEOUT`: a wait's time-out expired.
pub const STATUS_TIMEOUT: i32 = 0x0000_0102;

/// A system thread's start routine.
pub type KSTART_ROUTINE = portcls_sys::kernel_abi!(unsafe fn(StartContext: *mut c_void));

portcls_sys::kernel_abi! {
    #[cfg_attr(
        feature = "kernel",
        link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")
    )]
    unsafe extern {
        /// `KeQueryPerformanceCounter` (every build). Any IRQL. Returns a `LARGE_INTEGER` (in RAX /
        /// x0, like an `i64`).
        pub fn KeQueryPerformanceCounter(PerformanceFrequency: *mut i64) -> i64;
        /// `KeInitializeEvent` (every build). Any IRQL.
        pub fn KeInitializeEvent(Event: PKEVENT, Type: i32, State: u8);
        /// `KeSetEvent` (every build). IRQL <= `DISPATCH_LEVEL`.
        pub fn KeSetEvent(Event: PKEVENT, Increment: i32, Wait: u8) -> i32;
        /// `KeWaitForSingleObject` (every build). IRQL < `DISPATCH_LEVEL` unless the time-out is 0.
        pub fn KeWaitForSingleObject(
            Object: *mut c_void,
            WaitReason: i32,
            WaitMode: i8,
            Alertable: u8,
            Timeout: *mut i64,
        ) -> i32;
        /// `PsCreateSystemThread` (every build). IRQL: `PASSIVE_LEVEL`.
        pub fn PsCreateSystemThread(
            ThreadHandle: *mut *mut c_void,
            DesiredAccess: u32,
            ObjectAttributes: *mut c_void,
            ProcessHandle: *mut c_void,
            ClientId: *mut c_void,
            StartRoutine: Option<KSTART_ROUTINE>,
            StartContext: *mut c_void,
        ) -> i32;
        /// `ObReferenceObjectByHandle` (every build). IRQL: `PASSIVE_LEVEL`. A null object type
        /// skips the type check, which kernel-mode callers may do for their own handles.
        pub fn ObReferenceObjectByHandle(
            Handle: *mut c_void,
            DesiredAccess: u32,
            ObjectType: *mut c_void,
            AccessMode: i8,
            Object: *mut *mut c_void,
            HandleInformation: *mut c_void,
        ) -> i32;
        /// `ZwWaitForSingleObject` (every build). IRQL: `PASSIVE_LEVEL`.
        pub fn ZwWaitForSingleObject(Handle: *mut c_void, Alertable: u8, Timeout: *mut i64) -> i32;
        /// `ZwClose` (every build). IRQL: `PASSIVE_LEVEL`.
        pub fn ZwClose(Handle: *mut c_void) -> i32;
        /// `KeAcquireSpinLockRaiseToDpc` (every build; what `KeAcquireSpinLock` expands to on
        /// 64-bit). IRQL <= `DISPATCH_LEVEL`; returns the previous IRQL.
        pub fn KeAcquireSpinLockRaiseToDpc(SpinLock: *mut usize) -> u8;
        /// `KeReleaseSpinLock` (every build). Restores `NewIrql`.
        pub fn KeReleaseSpinLock(SpinLock: *mut usize, NewIrql: u8);
    }
}
