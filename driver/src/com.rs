//! COM objects the driver implements (miniports, streams), in pool memory.
//!
//! Most interfaces PortCls asks the sample for form a single inheritance chain
//! (`IMiniportWaveRT : IMiniport : IUnknown`, `IMiniportWaveRTStreamNotification :
//! IMiniportWaveRTStream : IUnknown`, ...): the object's own vtable pointer serves them all, and
//! their interface pointers are the object's address. An interface outside that chain
//! (`IMiniportAudioSignalProcessing : IUnknown`) is a [`Secondary`] one: a second vtable pointer,
//! a [`Facet`], lives at a fixed place in the object's state, its interface pointer is that
//! field's address, and its `IUnknown` slots ([`secondary_unknown_vtable`]) forward to the
//! object's, so every interface pointer shares one reference count and one identity.

use core::ffi::c_void;
use core::sync::atomic::{AtomicU32, Ordering, fence};

use portcls::{ComPtr, Interface};
use portcls_sys::{
    GUID, IID_IUnknown, IUnknownVtbl, NTSTATUS, PUNKNOWN, PVOID, STATUS_INSUFFICIENT_RESOURCES,
    STATUS_INVALID_PARAMETER, STATUS_NOINTERFACE, STATUS_SUCCESS,
};

use crate::pool::{Pool, PoolBox};

/// A Rust type that is the state of a COM object.
///
/// # Safety
/// `VTABLE` is a `#[repr(C)]` vtable that begins with [`unknown_vtable::<Self>()`] and whose
/// other slots expect a `this` pointing to a [`ComObject<Self>`]; every IID in `INTERFACES`
/// names an interface whose vtable is a prefix of `VTABLE`. If `SECONDARY` is `Some`, its
/// `offset` is the offset within `Self` of a [`Facet<V>`] field, where `V` is a `#[repr(C)]`
/// vtable of interface `iid` that begins with [`secondary_unknown_vtable::<Self>()`] and whose
/// other slots expect a `this` pointing to that field of a live `ComObject<Self>`.
pub unsafe trait ComClass: Sized + Send + Sync + 'static {
    /// The most derived vtable the object implements.
    type Vtable: 'static;
    /// That vtable.
    const VTABLE: &'static Self::Vtable;
    /// The interfaces `QueryInterface` answers with this object (`IUnknown` is implied).
    const INTERFACES: &'static [GUID];
    /// An interface outside the main chain, answered with a pointer to a [`Facet`] field.
    const SECONDARY: Option<Secondary> = None;
}

/// An interface a class implements beside its main chain (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Secondary {
    /// The interface.
    pub iid: GUID,
    /// The offset within the class's state of the [`Facet`] holding its vtable pointer
    /// (`core::mem::offset_of!(State, field)`).
    pub offset: usize,
}

/// The vtable pointer of a [`Secondary`] interface, as a field of a class's state: the
/// interface pointer `QueryInterface` hands out is this field's address.
#[repr(transparent)]
pub struct Facet<V: 'static> {
    vtable: &'static V,
}

impl<V: 'static> Facet<V> {
    /// A facet with `vtable`.
    #[must_use]
    pub const fn new(vtable: &'static V) -> Self {
        Self { vtable }
    }
}

impl<V: 'static> core::fmt::Debug for Facet<V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Facet")
            .field("vtable", &core::ptr::from_ref(self.vtable))
            .finish()
    }
}

/// Bytes from the start of a `ComObject<T>` to its secondary interface pointer.
fn secondary_offset<T: ComClass>(secondary: &Secondary) -> usize {
    core::mem::offset_of!(ComObject<T>, value) + secondary.offset
}

/// The object behind a secondary interface pointer of class `T` (an address computation only;
/// the result keeps the pointer's provenance, which covers the whole object).
fn object_of_secondary<T: ComClass>(this: PUNKNOWN) -> PUNKNOWN {
    match T::SECONDARY {
        Some(secondary) => this
            .cast::<u8>()
            .wrapping_sub(secondary_offset::<T>(&secondary))
            .cast(),
        None => this,
    }
}

/// The object: a vtable pointer, a reference count and the state.
///
/// # Invariants
/// Lives in a pool block owned by the object itself and freed when `refs` reaches zero.
#[repr(C)]
pub struct ComObject<T: ComClass> {
    vtable: &'static T::Vtable,
    refs: AtomicU32,
    value: T,
}

impl<T: ComClass> ComObject<T> {
    /// Creates an object with one reference, returned as interface `I`.
    ///
    /// # Errors
    /// `STATUS_INSUFFICIENT_RESOURCES` when pool is short (the value is dropped);
    /// `STATUS_NOINTERFACE` if the class does not implement `I` (nothing is allocated).
    pub fn create<I: Interface>(pool: Pool, value: T) -> Result<ComPtr<I>, NTSTATUS> {
        if I::IID != IID_IUnknown && !T::INTERFACES.contains(&I::IID) {
            return Err(STATUS_NOINTERFACE);
        }
        let object = Self {
            vtable: T::VTABLE,
            refs: AtomicU32::new(1),
            value,
        };
        let object = PoolBox::new(pool, object).map_err(|_| STATUS_INSUFFICIENT_RESOURCES)?;
        let raw = object.into_raw().as_ptr().cast::<I>();
        // SAFETY: a live object implementing `I` (checked above, and by the ComClass contract
        // its vtable starts with I's); the one reference is handed to the ComPtr.
        unsafe { ComPtr::from_raw(raw) }.ok_or(STATUS_INSUFFICIENT_RESOURCES)
    }

    /// The state behind an interface pointer of this class.
    ///
    /// # Safety
    /// `this` is an interface pointer of a live `ComObject<T>` and the reference the caller
    /// holds outlives `'a`.
    #[must_use]
    pub unsafe fn from_this<'a>(this: *mut c_void) -> &'a T {
        // SAFETY: caller's contract.
        unsafe { &(*this.cast::<Self>()).value }
    }

    /// The state behind a secondary interface pointer of this class.
    ///
    /// # Safety
    /// `this` is the [`Secondary`] interface pointer of a live `ComObject<T>` and the reference
    /// the caller holds outlives `'a`.
    #[must_use]
    pub unsafe fn from_secondary<'a>(this: *mut c_void) -> &'a T {
        let object = object_of_secondary::<T>(this.cast());
        // SAFETY: the object the interface pointer lies in (caller's contract).
        unsafe { Self::from_this(object.cast()) }
    }

    /// The current reference count (for tests and logs).
    ///
    /// # Safety
    /// As for [`ComObject::from_this`].
    #[must_use]
    pub unsafe fn refs(this: *mut c_void) -> u32 {
        // SAFETY: caller's contract.
        unsafe { (*this.cast::<Self>()).refs.load(Ordering::Relaxed) }
    }
}

/// The `IUnknown` part of a class's vtable.
#[must_use]
pub const fn unknown_vtable<T: ComClass>() -> IUnknownVtbl {
    IUnknownVtbl {
        QueryInterface: query_interface::<T>,
        AddRef: add_ref::<T>,
        Release: release::<T>,
    }
}

/// The `IUnknown` part of a class's [`Secondary`] vtable: the object's own, reached from the
/// secondary interface pointer.
#[must_use]
pub const fn secondary_unknown_vtable<T: ComClass>() -> IUnknownVtbl {
    IUnknownVtbl {
        QueryInterface: secondary_query_interface::<T>,
        AddRef: secondary_add_ref::<T>,
        Release: secondary_release::<T>,
    }
}

portcls_sys::kernel_abi! {
    unsafe fn secondary_query_interface<T: ComClass>(
        this: PUNKNOWN,
        riid: *const GUID,
        out: *mut PVOID,
    ) -> NTSTATUS {
        // SAFETY: `this` is the secondary interface of a live object of this class, so the
        // object pointer is one too; the arguments are forwarded.
        unsafe { query_interface::<T>(object_of_secondary::<T>(this), riid, out) }
    }
}

portcls_sys::kernel_abi! {
    unsafe fn secondary_add_ref<T: ComClass>(this: PUNKNOWN) -> u32 {
        // SAFETY: as in `secondary_query_interface`.
        unsafe { add_ref::<T>(object_of_secondary::<T>(this)) }
    }
}

portcls_sys::kernel_abi! {
    unsafe fn secondary_release<T: ComClass>(this: PUNKNOWN) -> u32 {
        // SAFETY: as in `secondary_query_interface`; the caller's reference is given back.
        unsafe { release::<T>(object_of_secondary::<T>(this)) }
    }
}

portcls_sys::kernel_abi! {
    unsafe fn query_interface<T: ComClass>(
        this: PUNKNOWN,
        riid: *const GUID,
        out: *mut PVOID,
    ) -> NTSTATUS {
        if out.is_null() || riid.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: PortCls passes a valid IID.
        let iid = unsafe { riid.read() };
        if iid == IID_IUnknown || T::INTERFACES.contains(&iid) {
            // SAFETY: `this` is a live object of this class (PortCls holds a reference).
            unsafe { add_ref::<T>(this) };
            // SAFETY: `out` is writable (checked non-null).
            unsafe { out.write(this.cast()) };
            STATUS_SUCCESS
        } else if let Some(secondary) = T::SECONDARY.filter(|s| s.iid == iid) {
            // SAFETY: as above.
            unsafe { add_ref::<T>(this) };
            // The Facet field inside the object (ComClass contract): same provenance.
            let facet = this.cast::<u8>().wrapping_add(secondary_offset::<T>(&secondary));
            // SAFETY: `out` is writable (checked non-null).
            unsafe { out.write(facet.cast()) };
            STATUS_SUCCESS
        } else {
            // SAFETY: as above.
            unsafe { out.write(core::ptr::null_mut()) };
            STATUS_NOINTERFACE
        }
    }
}

portcls_sys::kernel_abi! {
    unsafe fn add_ref<T: ComClass>(this: PUNKNOWN) -> u32 {
        // SAFETY: `this` is a live object of this class.
        let refs = unsafe { &(*this.cast::<ComObject<T>>()).refs };
        refs.fetch_add(1, Ordering::Relaxed) + 1
    }
}

portcls_sys::kernel_abi! {
    unsafe fn release<T: ComClass>(this: PUNKNOWN) -> u32 {
        let object = this.cast::<ComObject<T>>();
        // SAFETY: `this` is a live object of this class on which the caller gives back a reference.
        let refs = unsafe { &(*object).refs };
        let left = refs.fetch_sub(1, Ordering::Release) - 1;
        if left == 0 {
            fence(Ordering::Acquire);
            if let Some(object) = core::ptr::NonNull::new(object) {
                // SAFETY: the last reference is gone; the block was made by `create` (into_raw).
                drop(unsafe { PoolBox::from_raw(object) });
            }
        }
        left
    }
}
