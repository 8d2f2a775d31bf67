//! A counted COM pointer for PortCls objects, in the style of windows-rs: `Clone` is `AddRef`,
//! `Drop` is `Release`, [`ComPtr::query`] is `QueryInterface`, and each interface carries its IID.

use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::NonNull;

use portcls_sys::{
    GUID, IID_IPortClsStreamResourceManager, IID_IPortClsStreamResourceManager2, IID_IUnknown,
    IPortClsStreamResourceManager, IPortClsStreamResourceManager2,
    IPortClsStreamResourceManager2Vtbl, IPortClsStreamResourceManagerVtbl, IUnknown, IUnknownVtbl,
    PUNKNOWN,
};

use crate::error::{Error, Step, check};

/// A COM interface as PortCls lays it out.
///
/// # Safety
/// Implementors promise that a pointer to `Self` points to a pointer to a `Self::Vtable`, that
/// `Self::Vtable` is `#[repr(C)]` and begins with [`IUnknownVtbl`], and that an object which
/// answers `QueryInterface(&Self::IID)` hands back a pointer of exactly that shape.
pub unsafe trait Interface {
    /// The interface identifier `QueryInterface` asks for.
    const IID: GUID;
    /// The vtable (its first member is the `IUnknown` vtable).
    type Vtable;
}

// SAFETY: IUnknown's first member is a pointer to IUnknownVtbl.
unsafe impl Interface for IUnknown {
    const IID: GUID = IID_IUnknown;
    type Vtable = IUnknownVtbl;
}

// SAFETY: the vtable begins with IUnknownVtbl (its `base__`), and the IID is the one PortCls
// answers with this interface.
unsafe impl Interface for IPortClsStreamResourceManager {
    const IID: GUID = IID_IPortClsStreamResourceManager;
    type Vtable = IPortClsStreamResourceManagerVtbl;
}

// SAFETY: the vtable begins with IPortClsStreamResourceManagerVtbl, which begins with
// IUnknownVtbl; the IID is the one PortCls answers with this interface.
unsafe impl Interface for IPortClsStreamResourceManager2 {
    const IID: GUID = IID_IPortClsStreamResourceManager2;
    type Vtable = IPortClsStreamResourceManager2Vtbl;
}

/// Implements [`Interface`] for PortCls interfaces declared in `portcls_sys::wavert`.
macro_rules! portcls_interfaces {
    ($($name:ident($vtable:ident) => $iid:ident,)*) => {$(
        // SAFETY: the sys declaration is a pointer to its vtable, which begins (through its
        // `base__` chain) with IUnknownVtbl; the IID is the one PortCls answers it with.
        unsafe impl Interface for portcls_sys::wavert::$name {
            const IID: GUID = portcls_sys::wavert::$iid;
            type Vtable = portcls_sys::wavert::$vtable;
        }
    )*};
}

portcls_interfaces! {
    IPort(IPortVtbl) => IID_IPort,
    IPortWaveRT(IPortWaveRTVtbl) => IID_IPortWaveRT,
    IPortTopology(IPortTopologyVtbl) => IID_IPortTopology,
    IPortEvents(IPortEventsVtbl) => IID_IPortEvents,
    IPortWaveRTStream(IPortWaveRTStreamVtbl) => IID_IPortWaveRTStream,
    IAdapterPowerManagement(IAdapterPowerManagementVtbl) => IID_IAdapterPowerManagement,
    IMiniport(IMiniportVtbl) => IID_IMiniport,
    IMiniportWaveRT(IMiniportWaveRTVtbl) => IID_IMiniportWaveRT,
    IMiniportTopology(IMiniportTopologyVtbl) => IID_IMiniportTopology,
    IMiniportWaveRTStream(IMiniportWaveRTStreamVtbl) => IID_IMiniportWaveRTStream,
    IMiniportWaveRTStreamNotification(IMiniportWaveRTStreamNotificationVtbl) =>
        IID_IMiniportWaveRTStreamNotification,
}

/// An owned reference to a COM object through interface `I`.
///
/// # Invariants
/// `ptr` is non-null, points to a live object implementing `I`, and this value owns exactly one
/// of the object's references, which `Drop` gives back.
#[repr(transparent)]
pub struct ComPtr<I: Interface> {
    ptr: NonNull<I>,
    _owns: PhantomData<I>,
}

// SAFETY: PortCls objects are kernel objects with interlocked reference counts, callable from
// any thread; the pointer itself carries no thread affinity.
unsafe impl<I: Interface> Send for ComPtr<I> {}
// SAFETY: as above; every method takes `&self` and calls thread-safe COM methods.
unsafe impl<I: Interface> Sync for ComPtr<I> {}

impl<I: Interface> ComPtr<I> {
    /// Adopts one reference the caller owns (for example what `PcNewPort` or `QueryInterface`
    /// returned). Returns `None` for a null pointer.
    ///
    /// # Safety
    /// `raw` is null or points to a live object implementing `I` on which the caller holds a
    /// reference that it hereby hands over.
    #[must_use]
    pub unsafe fn from_raw(raw: *mut I) -> Option<Self> {
        NonNull::new(raw).map(|ptr| Self {
            ptr,
            _owns: PhantomData,
        })
    }

    /// Takes a new reference (`AddRef`) on an object the caller only borrows.
    ///
    /// # Safety
    /// `raw` is null or points to a live object implementing `I`.
    #[must_use]
    pub unsafe fn from_raw_borrowed(raw: *mut I) -> Option<Self> {
        // SAFETY: the caller promises `raw` is null or a live `I`; the borrowed reference is
        // only turned into an owned one by the AddRef in `clone`.
        let borrowed = core::mem::ManuallyDrop::new(unsafe { Self::from_raw(raw) }?);
        Some((*borrowed).clone())
    }

    /// The raw interface pointer, still owned by `self`.
    #[must_use]
    pub fn as_raw(&self) -> *mut I {
        self.ptr.as_ptr()
    }

    /// Gives up ownership of the reference and returns the raw pointer.
    #[must_use]
    pub fn into_raw(self) -> *mut I {
        core::mem::ManuallyDrop::new(self).ptr.as_ptr()
    }

    /// The object's vtable.
    #[must_use]
    pub fn vtable(&self) -> &I::Vtable {
        // SAFETY: by the type invariant `ptr` is a live `I`, which by the `Interface` contract
        // begins with a pointer to its vtable.
        let vtable = unsafe { self.ptr.as_ptr().cast::<*const I::Vtable>().read() };
        // SAFETY: the vtable lives at least as long as the object, which outlives `&self`.
        unsafe { &*vtable }
    }

    fn unknown(&self) -> (&IUnknownVtbl, PUNKNOWN) {
        // SAFETY: the `Interface` contract says every vtable begins with `IUnknownVtbl`.
        let vtable = unsafe { &*core::ptr::from_ref(self.vtable()).cast::<IUnknownVtbl>() };
        (vtable, self.ptr.as_ptr().cast())
    }

    /// Asks the object for interface `J` (`QueryInterface`).
    ///
    /// # Errors
    /// [`Error::NoInterface`] (or another variant with the returned status) when the object
    /// does not implement `J`; [`Error::NullResult`] if it claimed success with a null pointer.
    pub fn query<J: Interface>(&self) -> Result<ComPtr<J>, Error> {
        let (vtable, this) = self.unknown();
        let iid = J::IID;
        let mut out: *mut c_void = core::ptr::null_mut();
        // SAFETY: `this` is a live object (type invariant) and `out` a writable pointer slot;
        // the IID lives for the duration of the call.
        let status = unsafe { (vtable.QueryInterface)(this, &raw const iid, &raw mut out) };
        check(Step::Query, status)?;
        // SAFETY: on success QueryInterface handed us one reference on an object implementing
        // `J` (or null, handled by `from_raw`).
        unsafe { ComPtr::from_raw(out.cast::<J>()) }.ok_or(Error::NullResult { step: Step::Query })
    }
}

impl<I: Interface> Clone for ComPtr<I> {
    fn clone(&self) -> Self {
        let (vtable, this) = self.unknown();
        // SAFETY: `this` is live (type invariant); AddRef gives the clone its own reference.
        unsafe { (vtable.AddRef)(this) };
        Self {
            ptr: self.ptr,
            _owns: PhantomData,
        }
    }
}

impl<I: Interface> Drop for ComPtr<I> {
    fn drop(&mut self) {
        let (vtable, this) = self.unknown();
        // SAFETY: `this` is live and we own one reference (type invariant), given back here.
        unsafe { (vtable.Release)(this) };
    }
}

impl<I: Interface> core::fmt::Debug for ComPtr<I> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("ComPtr").field(&self.ptr).finish()
    }
}
