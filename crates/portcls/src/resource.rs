//! The kernel objects a registration names: the physical device object, a thread, and an
//! interrupt connection. Each wrapper owns what it must so that the object outlives every
//! registration that borrows or holds it.

use core::ffi::c_void;
use core::ptr::NonNull;

use portcls_sys::km::{
    CONNECT_FULLY_SPECIFIED, CONNECT_FULLY_SPECIFIED_GROUP, CONNECT_LINE_BASED,
    CONNECT_MESSAGE_BASED, CONNECT_MESSAGE_BASED_PASSIVE, ETHREAD,
    IO_DISCONNECT_INTERRUPT_PARAMETERS, IoDisconnectInterruptEx, ObfDereferenceObject,
    ObfReferenceObject,
};
use portcls_sys::{
    DEVICE_OBJECT, PDEVICE_OBJECT, PETHREAD, PKINTERRUPT, PcGetPhysicalDeviceObject,
};

use crate::error::{Error, Step, check};

/// The physical device object (PDO) at the bottom of the audio device's stack: the device a
/// stream resource is registered for.
///
/// # Invariants
/// The pointer is non-null and names a device object that stays valid while the driver's
/// device stack exists (a PDO outlives the FDO attached to it).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Pdo(NonNull<DEVICE_OBJECT>);

// SAFETY: a device object is a shared kernel object; the pointer is only passed to PortCls,
// which accepts it from any thread.
unsafe impl Send for Pdo {}
// SAFETY: as above; `Pdo` is an immutable handle.
unsafe impl Sync for Pdo {}

impl Pdo {
    /// Wraps a PDO pointer; `None` if it is null.
    ///
    /// # Safety
    /// `pdo` is null or the physical device object of the caller's device stack, and every
    /// use of the returned value happens while that stack exists.
    #[must_use]
    pub unsafe fn from_raw(pdo: PDEVICE_OBJECT) -> Option<Self> {
        NonNull::new(pdo).map(Self)
    }

    /// Finds the PDO under a PortCls functional device object with `PcGetPhysicalDeviceObject`.
    ///
    /// # Errors
    /// The status `PcGetPhysicalDeviceObject` returned ([`Step::PdoLookup`]), or
    /// [`Error::NullResult`] if it succeeded without a PDO.
    ///
    /// # Safety
    /// `fdo` is the functional device object PortCls created for the caller's adapter
    /// (`PcAddAdapterDevice`), and the returned value is used only while that stack exists.
    pub unsafe fn from_fdo(fdo: PDEVICE_OBJECT) -> Result<Self, Error> {
        let mut pdo: PDEVICE_OBJECT = core::ptr::null_mut();
        // SAFETY: `fdo` is a PortCls FDO (caller's contract) and `pdo` a writable slot.
        let status = unsafe { PcGetPhysicalDeviceObject(fdo, &raw mut pdo) };
        check(Step::PdoLookup, status)?;
        NonNull::new(pdo).map(Self).ok_or(Error::NullResult {
            step: Step::PdoLookup,
        })
    }

    /// The raw pointer.
    #[must_use]
    pub const fn as_raw(self) -> PDEVICE_OBJECT {
        self.0.as_ptr()
    }
}

/// A counted reference to a kernel thread object (`ETHREAD`).
///
/// Holding one keeps the thread *object* alive (not the thread running): a driver keeps it for
/// a worker thread it created, registers it, and after the registration is gone tells the
/// thread to exit and waits on it.
///
/// # Invariants
/// The pointer is non-null, names a thread object, and this value owns one reference on it
/// (given back with `ObDereferenceObject` on drop).
#[derive(Debug)]
pub struct Thread(NonNull<ETHREAD>);

// SAFETY: object references may be taken and dropped on any thread (IRQL <= `DISPATCH_LEVEL`).
unsafe impl Send for Thread {}
// SAFETY: as above; shared access only reads the pointer.
unsafe impl Sync for Thread {}

impl Thread {
    /// Adopts a reference the caller owns, e.g. the one `ObReferenceObjectByHandle` returned
    /// for the handle `PsCreateSystemThread` gave. `None` if `thread` is null.
    ///
    /// # Safety
    /// `thread` is null or a thread object on which the caller holds a reference that it
    /// hereby hands over.
    #[must_use]
    pub unsafe fn from_raw(thread: PETHREAD) -> Option<Self> {
        NonNull::new(thread).map(Self)
    }

    /// Takes a new reference (`ObReferenceObject`) on a thread object the caller only borrows
    /// (for instance `PsGetCurrentThread()`). `None` if `thread` is null.
    ///
    /// # Safety
    /// `thread` is null or a live thread object; IRQL <= `DISPATCH_LEVEL`.
    #[must_use]
    pub unsafe fn from_raw_borrowed(thread: PETHREAD) -> Option<Self> {
        let thread = NonNull::new(thread)?;
        // SAFETY: `thread` is a live object (caller's contract); the new reference is ours.
        unsafe { ObfReferenceObject(thread.as_ptr().cast::<c_void>()) };
        Some(Self(thread))
    }

    /// The raw pointer, still referenced by `self`.
    #[must_use]
    pub const fn as_raw(&self) -> PETHREAD {
        self.0.as_ptr()
    }

    /// Gives up ownership of the reference and returns the raw pointer (the caller must
    /// dereference it).
    #[must_use]
    pub fn into_raw(self) -> PETHREAD {
        core::mem::ManuallyDrop::new(self).0.as_ptr()
    }
}

impl Clone for Thread {
    fn clone(&self) -> Self {
        // SAFETY: the object is alive while we hold our reference (type invariant).
        unsafe { ObfReferenceObject(self.0.as_ptr().cast::<c_void>()) };
        Self(self.0)
    }
}

impl Drop for Thread {
    fn drop(&mut self) {
        // SAFETY: we own one reference (type invariant) and give it back.
        unsafe { ObfDereferenceObject(self.0.as_ptr().cast::<c_void>()) };
    }
}

/// How an interrupt is connected, as `IoConnectInterruptEx` reported it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum InterruptKind {
    /// `CONNECT_LINE_BASED`: the context is a `KINTERRUPT`.
    LineBased,
    /// `CONNECT_FULLY_SPECIFIED`: the context is a `KINTERRUPT`.
    FullySpecified,
    /// `CONNECT_FULLY_SPECIFIED_GROUP`: the context is a `KINTERRUPT`.
    FullySpecifiedGroup,
    /// `CONNECT_MESSAGE_BASED`: the context is an `IO_INTERRUPT_MESSAGE_INFO`.
    MessageBased,
    /// `CONNECT_MESSAGE_BASED_PASSIVE`: the context is an `IO_INTERRUPT_MESSAGE_INFO`.
    MessageBasedPassive,
}

impl InterruptKind {
    /// The kind for a `CONNECT_*` version number; `None` for an unknown version.
    #[must_use]
    pub const fn from_version(version: u32) -> Option<Self> {
        match version {
            CONNECT_LINE_BASED => Some(Self::LineBased),
            CONNECT_FULLY_SPECIFIED => Some(Self::FullySpecified),
            CONNECT_FULLY_SPECIFIED_GROUP => Some(Self::FullySpecifiedGroup),
            CONNECT_MESSAGE_BASED => Some(Self::MessageBased),
            CONNECT_MESSAGE_BASED_PASSIVE => Some(Self::MessageBasedPassive),
            _ => None,
        }
    }

    /// The `CONNECT_*` version number.
    #[must_use]
    pub const fn version(self) -> u32 {
        match self {
            Self::LineBased => CONNECT_LINE_BASED,
            Self::FullySpecified => CONNECT_FULLY_SPECIFIED,
            Self::FullySpecifiedGroup => CONNECT_FULLY_SPECIFIED_GROUP,
            Self::MessageBased => CONNECT_MESSAGE_BASED,
            Self::MessageBasedPassive => CONNECT_MESSAGE_BASED_PASSIVE,
        }
    }

    /// Whether the context is a message table rather than a `KINTERRUPT`.
    #[must_use]
    pub const fn is_message_based(self) -> bool {
        matches!(self, Self::MessageBased | Self::MessageBasedPassive)
    }
}

/// A connected interrupt: the `Version` and connection context `IoConnectInterruptEx` handed
/// back. Dropping it disconnects (`IoDisconnectInterruptEx`, at `PASSIVE_LEVEL`).
///
/// # Invariants
/// `context` is the live connection context of a connection of kind `kind`, owned by this
/// value: nothing else disconnects it.
#[derive(Debug)]
pub struct InterruptConnection {
    kind: InterruptKind,
    context: NonNull<c_void>,
}

// SAFETY: a connection may be disconnected from any thread at `PASSIVE_LEVEL`.
unsafe impl Send for InterruptConnection {}
// SAFETY: shared access only reads the two fields.
unsafe impl Sync for InterruptConnection {}

impl InterruptConnection {
    /// Takes ownership of a connection from what `IoConnectInterruptEx` wrote back:
    /// `Parameters.Version` (read it *after* the call: a message-based request may fall back to
    /// `CONNECT_LINE_BASED`) and the connection context (`*ConnectionContext` of that version's
    /// member: a `PKINTERRUPT` or a `PIO_INTERRUPT_MESSAGE_INFO`).
    ///
    /// Returns `None` for an unknown version or a null context.
    ///
    /// # Safety
    /// The pair is a live connection the caller made and hereby hands over: from now on only
    /// the returned value disconnects it.
    #[must_use]
    pub unsafe fn from_raw(version: u32, context: *mut c_void) -> Option<Self> {
        Some(Self {
            kind: InterruptKind::from_version(version)?,
            context: NonNull::new(context)?,
        })
    }

    /// Takes ownership of a line-based connection's interrupt object.
    ///
    /// # Safety
    /// As for [`InterruptConnection::from_raw`] with `CONNECT_LINE_BASED`.
    #[must_use]
    pub unsafe fn from_line_based(interrupt: PKINTERRUPT) -> Option<Self> {
        // SAFETY: forwarded caller contract.
        unsafe { Self::from_raw(CONNECT_LINE_BASED, interrupt.cast()) }
    }

    /// How the interrupt is connected.
    #[must_use]
    pub const fn kind(&self) -> InterruptKind {
        self.kind
    }

    /// The connection context (`Generic` member of the union).
    #[must_use]
    pub const fn context(&self) -> *mut c_void {
        self.context.as_ptr()
    }

    /// Gives up ownership without disconnecting; returns `(version, context)`.
    #[must_use]
    pub fn into_raw(self) -> (u32, *mut c_void) {
        let this = core::mem::ManuallyDrop::new(self);
        (this.kind.version(), this.context.as_ptr())
    }

    /// Disconnects now (the same as dropping). Call at `PASSIVE_LEVEL`.
    pub fn disconnect(self) {
        drop(self);
    }
}

impl Drop for InterruptConnection {
    fn drop(&mut self) {
        let mut parameters = IO_DISCONNECT_INTERRUPT_PARAMETERS {
            Version: self.kind.version(),
            ConnectionContext: self.context.as_ptr(),
        };
        // SAFETY: we own the live connection (type invariant); this is its one disconnect.
        unsafe { IoDisconnectInterruptEx(&raw mut parameters) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [InterruptKind; 5] = [
        InterruptKind::LineBased,
        InterruptKind::FullySpecified,
        InterruptKind::FullySpecifiedGroup,
        InterruptKind::MessageBased,
        InterruptKind::MessageBasedPassive,
    ];

    #[test]
    fn every_connect_version_round_trips_through_its_kind() {
        let versions = [
            CONNECT_LINE_BASED,
            CONNECT_FULLY_SPECIFIED,
            CONNECT_FULLY_SPECIFIED_GROUP,
            CONNECT_MESSAGE_BASED,
            CONNECT_MESSAGE_BASED_PASSIVE,
        ];
        for (kind, version) in KINDS.into_iter().zip(versions) {
            assert_eq!(kind.version(), version, "{kind:?}");
            assert_eq!(InterruptKind::from_version(version), Some(kind), "{kind:?}");
        }
        let unknown = versions.iter().max().unwrap() + 1;
        assert_eq!(InterruptKind::from_version(unknown), None);
    }

    #[test]
    fn only_message_based_kinds_carry_a_message_table() {
        for kind in KINDS {
            let message = matches!(
                kind.version(),
                CONNECT_MESSAGE_BASED | CONNECT_MESSAGE_BASED_PASSIVE
            );
            assert_eq!(kind.is_message_based(), message, "{kind:?}");
        }
    }
}
