//! The calling convention of everything the kernel and the driver call across the boundary.
//!
//! Windows has one convention per architecture for kernel code: the Microsoft x64 convention on
//! x86-64 and AAPCS64 on arm64 (non-variadic calls). Every kernel-facing function in this
//! project uses it, on the host too: the routines a driver imports, every COM vtable slot, and
//! every callback the system calls (`DriverEntry`, `AddDevice`, dispatch routines,
//! `DriverUnload`, thread start routines, property handlers). So the host build, Miri and the
//! shipped image are interchangeable: the model can call into a `.sys` it mapped, and the
//! image's imports can be bound to the model's own routines.
//!
//! [`kernel_abi!`](crate::kernel_abi) is the one place that picks the convention:
//!
//! | target | ABI string |
//! | --- | --- |
//! | any Windows target | `"system"` (x64: the Microsoft convention; arm64: AAPCS64) |
//! | x86-64, other OS (the host build) | `"win64"` |
//! | arm64, other OS (the host build, e.g. under qemu-aarch64) | `"C"` (AAPCS64) |
//! | anything else | `"C"` (no image runs there) |
//!
//! On Windows `"system"` is the convention the project's declarations have always had there (on
//! x64 and arm64 the same as `"C"`). wdk-sys's bindgen callback types are `extern "C"`: the
//! same convention, but a different Rust type, so a function pointer of ours and one of
//! wdk-sys's do not mix without a cast (see [`km`](crate::km)).

/// Declares kernel-facing functions, function pointer types and `extern` blocks with the
/// Windows calling convention of the target architecture (see [the module](crate::abi)).
///
/// Write the item without an ABI string; the macro adds it:
///
/// ```
/// use portcls_sys::{kernel_abi, NTSTATUS, PVOID, STATUS_SUCCESS};
///
/// // A function pointer type (a vtable slot, a callback parameter):
/// type Callback = kernel_abi!(unsafe fn(context: PVOID) -> NTSTATUS);
///
/// // Definitions: one or more functions, generic ones included.
/// kernel_abi! {
///     /// Called by the system.
///     unsafe fn callback(_context: PVOID) -> NTSTATUS {
///         STATUS_SUCCESS
///     }
/// }
///
/// let slot: Callback = callback;
/// // SAFETY: `callback` accepts any context.
/// assert_eq!(unsafe { slot(core::ptr::null_mut()) }, STATUS_SUCCESS);
/// ```
///
/// An `extern` block (`kernel_abi! { unsafe extern { fn Routine(...); } }`) declares imports.
#[macro_export]
macro_rules! kernel_abi {
    ($($item:tt)*) => { $crate::__kernel_abi_pick! { $($item)* } };
}

/// Chooses the ABI string for [`kernel_abi!`]. Not for direct use.
#[cfg(windows)]
#[doc(hidden)]
#[macro_export]
macro_rules! __kernel_abi_pick {
    ($($item:tt)*) => { $crate::__kernel_abi! { "system"; $($item)* } };
}

/// Chooses the ABI string for [`kernel_abi!`]. Not for direct use.
#[cfg(all(not(windows), target_arch = "x86_64"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __kernel_abi_pick {
    ($($item:tt)*) => { $crate::__kernel_abi! { "win64"; $($item)* } };
}

/// Chooses the ABI string for [`kernel_abi!`]. Not for direct use.
#[cfg(all(not(windows), not(target_arch = "x86_64")))]
#[doc(hidden)]
#[macro_export]
macro_rules! __kernel_abi_pick {
    ($($item:tt)*) => { $crate::__kernel_abi! { "C"; $($item)* } };
}

/// The body of [`kernel_abi!`] once the ABI string is chosen. Not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __kernel_abi {
    // Function pointer types.
    ($abi:literal; unsafe fn($($arg:tt)*) $(-> $ret:ty)?) => {
        unsafe extern $abi fn($($arg)*) $(-> $ret)?
    };
    ($abi:literal; fn($($arg:tt)*) $(-> $ret:ty)?) => {
        extern $abi fn($($arg)*) $(-> $ret)?
    };
    // An `extern` block of imported routines.
    ($abi:literal; $(#[$meta:meta])* unsafe extern { $($body:tt)* } $($rest:tt)*) => {
        $(#[$meta])* unsafe extern $abi { $($body)* }
        $crate::__kernel_abi! { $abi; $($rest)* }
    };
    // Definitions, one at a time.
    ($abi:literal;) => {};
    ($abi:literal; $(#[$meta:meta])* $vis:vis unsafe fn $name:ident
        $(<$($generic:ident : $bound:path),+ $(,)?>)?
        ($($arg:tt)*) $(-> $ret:ty)? $body:block $($rest:tt)*) => {
        $(#[$meta])* $vis unsafe extern $abi fn $name $(<$($generic: $bound),+>)?
            ($($arg)*) $(-> $ret)? $body
        $crate::__kernel_abi! { $abi; $($rest)* }
    };
    ($abi:literal; $(#[$meta:meta])* $vis:vis unsafe fn $name:ident
        <const $constant:ident : $ty:ty> ($($arg:tt)*) $(-> $ret:ty)? $body:block $($rest:tt)*) => {
        $(#[$meta])* $vis unsafe extern $abi fn $name<const $constant: $ty>
            ($($arg)*) $(-> $ret)? $body
        $crate::__kernel_abi! { $abi; $($rest)* }
    };
    ($abi:literal; $(#[$meta:meta])* $vis:vis fn $name:ident ($($arg:tt)*) $(-> $ret:ty)?
        $body:block $($rest:tt)*) => {
        $(#[$meta])* $vis extern $abi fn $name($($arg)*) $(-> $ret)? $body
        $crate::__kernel_abi! { $abi; $($rest)* }
    };
}
