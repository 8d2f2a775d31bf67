//! The kernel side: object types and the few `ntoskrnl.exe` routines the safe layer needs.
//!
//! Kernel objects are opaque here (zero-sized, `!Send`, `!Sync`, `!Unpin` markers behind raw
//! pointers). With the `wdk` feature they are wdk-sys's own types, so pointers a WDK driver
//! already holds pass straight in.
//!
//! The list of routines is deliberately short; each is documented with its IRQL rule:
//! [`ObfReferenceObject`], [`ObfDereferenceObject`], [`IoDisconnectInterruptEx`] and
//! [`KeGetCurrentIrql`].

use crate::{PVOID, ULONG};

#[cfg(not(feature = "wdk"))]
mod opaque {
    use core::marker::{PhantomData, PhantomPinned};

    macro_rules! opaque {
        ($($(#[$doc:meta])* $name:ident;)*) => {$(
            $(#[$doc])*
            #[repr(C)]
            #[derive(Debug)]
            pub struct $name {
                _data: [u8; 0],
                _marker: PhantomData<(*mut u8, PhantomPinned)>,
            }
        )*};
    }

    opaque! {
        /// `DEVICE_OBJECT`: owned by the I/O manager, only ever handled by pointer.
        DEVICE_OBJECT;
        /// `ETHREAD`: an executive thread object, only ever handled by pointer.
        ETHREAD;
        /// `KINTERRUPT`: an interrupt object, only ever handled by pointer.
        KINTERRUPT;
        /// `IO_INTERRUPT_MESSAGE_INFO`: the message table of a message-based connection.
        IO_INTERRUPT_MESSAGE_INFO;
    }

    /// `PDEVICE_OBJECT`.
    pub type PDEVICE_OBJECT = *mut DEVICE_OBJECT;
    /// `PETHREAD`.
    pub type PETHREAD = *mut ETHREAD;
    /// `PKINTERRUPT`.
    pub type PKINTERRUPT = *mut KINTERRUPT;
    /// `PIO_INTERRUPT_MESSAGE_INFO`.
    pub type PIO_INTERRUPT_MESSAGE_INFO = *mut IO_INTERRUPT_MESSAGE_INFO;
}
#[cfg(not(feature = "wdk"))]
pub use opaque::*;

#[cfg(feature = "wdk")]
pub use wdk_sys::{
    _ETHREAD as ETHREAD, _KINTERRUPT as KINTERRUPT, DEVICE_OBJECT, IO_INTERRUPT_MESSAGE_INFO,
    PDEVICE_OBJECT, PETHREAD, PIO_INTERRUPT_MESSAGE_INFO, PKINTERRUPT,
};

/// `KIRQL`.
pub type KIRQL = u8;
/// `PASSIVE_LEVEL`.
pub const PASSIVE_LEVEL: KIRQL = 0;
/// `APC_LEVEL`.
pub const APC_LEVEL: KIRQL = 1;
/// `DISPATCH_LEVEL`.
pub const DISPATCH_LEVEL: KIRQL = 2;

/// `CONNECT_FULLY_SPECIFIED`: the context is a `PKINTERRUPT`.
pub const CONNECT_FULLY_SPECIFIED: ULONG = 1;
/// `CONNECT_LINE_BASED`: the context is a `PKINTERRUPT`.
pub const CONNECT_LINE_BASED: ULONG = 2;
/// `CONNECT_MESSAGE_BASED`: the context is a `PIO_INTERRUPT_MESSAGE_INFO`.
pub const CONNECT_MESSAGE_BASED: ULONG = 3;
/// `CONNECT_FULLY_SPECIFIED_GROUP`: the context is a `PKINTERRUPT`.
pub const CONNECT_FULLY_SPECIFIED_GROUP: ULONG = 4;
/// `CONNECT_MESSAGE_BASED_PASSIVE`: the context is a `PIO_INTERRUPT_MESSAGE_INFO`.
pub const CONNECT_MESSAGE_BASED_PASSIVE: ULONG = 5;

/// `IO_DISCONNECT_INTERRUPT_PARAMETERS`: what `IoDisconnectInterruptEx` takes, i.e. the
/// `Version` and connection context `IoConnectInterruptEx` handed back.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IO_DISCONNECT_INTERRUPT_PARAMETERS {
    /// The version `IoConnectInterruptEx` wrote back (`CONNECT_*`).
    pub Version: ULONG,
    /// `ConnectionContext.Generic` (the union's members are all pointers).
    pub ConnectionContext: PVOID,
}

#[cfg(target_pointer_width = "64")]
const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<IO_DISCONNECT_INTERRUPT_PARAMETERS>() == 16);
    assert!(offset_of!(IO_DISCONNECT_INTERRUPT_PARAMETERS, ConnectionContext) == 8);
};

#[cfg_attr(
    feature = "link",
    link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")
)]
unsafe extern "system" {
    /// `ObfReferenceObject` (the function behind `ObReferenceObject`). IRQL <= `DISPATCH_LEVEL`.
    pub fn ObfReferenceObject(Object: PVOID) -> isize;
    /// `ObfDereferenceObject` (the function behind `ObDereferenceObject`). IRQL <= `DISPATCH_LEVEL`.
    pub fn ObfDereferenceObject(Object: PVOID) -> isize;
    /// `IoDisconnectInterruptEx`. IRQL: `PASSIVE_LEVEL`.
    pub fn IoDisconnectInterruptEx(Parameters: *mut IO_DISCONNECT_INTERRUPT_PARAMETERS);
}

// On the host, the simulator defines `KeGetCurrentIrql` (a per-thread IRQL it models).
#[cfg(not(feature = "link"))]
unsafe extern "system" {
    /// `KeGetCurrentIrql`. Any IRQL.
    pub fn KeGetCurrentIrql() -> KIRQL;
}

/// `KeGetCurrentIrql`, as the WDK headers define it inline on x64: the IRQL is CR8.
///
/// # Safety
/// Kernel mode only (reading CR8 faults in user mode).
#[cfg(all(feature = "link", target_arch = "x86_64"))]
#[inline]
#[must_use]
pub unsafe fn KeGetCurrentIrql() -> KIRQL {
    let irql: u64;
    // SAFETY: the caller runs in kernel mode, where reading CR8 has no side effect.
    unsafe {
        core::arch::asm!("mov {}, cr8", out(reg) irql, options(nomem, nostack, preserves_flags));
    }
    // CR8 holds the task priority class in bits 0-3: the IRQL, which fits a byte.
    (irql & 0xF) as KIRQL
}

/// `KeGetCurrentIrql` on arm64: the `CurrentIrql` byte of the KPCR, which x18 points to in
/// kernel mode (offset 0x38, the layout the WDK's inline definition reads).
///
/// # Safety
/// Kernel mode only (x18 holds the KPCR there).
#[cfg(all(feature = "link", target_arch = "aarch64"))]
#[inline]
#[must_use]
pub unsafe fn KeGetCurrentIrql() -> KIRQL {
    let irql: u32;
    // SAFETY: in kernel mode x18 points to this processor's KPCR, whose CurrentIrql byte is
    // at offset 0x38; reading it has no side effect.
    unsafe {
        core::arch::asm!("ldrb {0:w}, [x18, #0x38]", out(reg) irql, options(readonly, nostack, preserves_flags));
    }
    // A zero-extended byte load: the value fits a byte.
    (irql & 0xFF) as KIRQL
}
