//! COM objects the driver implements (miniports, streams), in pool memory.
//!
//! Most interfaces PortCls asks the sample for are one inheritance chain
//! (`IMiniportWaveRT : IMiniport : IUnknown`, `IMiniportWaveRTStreamNotification :
//! IMiniportWaveRTStream : IUnknown`, ...), answered by the object's own vtable pointer: those
//! interface pointers are the object's address. An interface outside the chain (the packet
//! interfaces of a stream, which derive from `IUnknown` alone) is a *facet*: a second vtable
//! pointer stored in the object's state, whose address is the interface pointer, and whose
//! `IUnknown` slots ([`facet_unknown_vtable`]) step back to the object. `QueryInterface` on any
//! interface pointer answers the same set, and `IUnknown` is always the object's address (COM
//! identity).

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
/// names an interface whose vtable is a prefix of `VTABLE`. Every `(iid, offset)` in `FACETS`
/// names a field of `Self` at `offset` that holds a `&'static` vtable of interface `iid`
/// beginning with [`facet_unknown_vtable`] of a [`ComFacet`] with that IID and offset, whose
/// other slots expect a `this` pointing to that field.
pub unsafe trait ComClass: Sized + Send + Sync + 'static {
    /// The most derived vtable the object implements.
    type Vtable: 'static;
    /// That vtable.
    const VTABLE: &'static Self::Vtable;
    /// The interfaces `QueryInterface` answers with this object (`IUnknown` is implied).
    const INTERFACES: &'static [GUID];
    /// Further interfaces on their own vtable pointer inside the state: `(IID, byte offset of
    /// that field in Self)`. None by default.
    const FACETS: &'static [(GUID, usize)] = &[];

    /// Whether this object answers facet `iid` (all by default): an object may leave out a
    /// facet its kind does not have.
    fn answers(&self, iid: &GUID) -> bool {
        let _ = iid;
        true
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

    /// The state behind a facet's interface pointer (`offset` is the facet's entry in
    /// [`ComClass::FACETS`]).
    ///
    /// # Safety
    /// `this` is the facet-`offset` interface pointer of a live `ComObject<T>`, and the
    /// reference the caller holds outlives `'a`.
    #[must_use]
    pub unsafe fn from_facet<'a>(this: *mut c_void, offset: usize) -> &'a T {
        // SAFETY: caller's contract: the object starts this many bytes before the facet.
        let object = unsafe { facet_object::<T>(this, offset) };
        // SAFETY: as above.
        unsafe { Self::from_this(object) }
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
        let facet = T::FACETS
            .iter()
            .find(|(facet, _)| *facet == iid)
            .map(|&(_, offset)| offset)
            // SAFETY: `this` is a live object of this class (PortCls holds a reference).
            .filter(|_| unsafe { ComObject::<T>::from_this(this.cast()) }.answers(&iid));
        if iid == IID_IUnknown || T::INTERFACES.contains(&iid) {
            // SAFETY: `this` is a live object of this class (PortCls holds a reference).
            unsafe { add_ref::<T>(this) };
            // SAFETY: `out` is writable (checked non-null).
            unsafe { out.write(this.cast()) };
            STATUS_SUCCESS
        } else if let Some(offset) = facet {
            // SAFETY: as above.
            unsafe { add_ref::<T>(this) };
            // The facet's vtable pointer, inside the same object (the ComClass contract).
            let interface = this.cast::<u8>().wrapping_add(facet_start::<T>(offset));
            // SAFETY: as above.
            unsafe { out.write(interface.cast()) };
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

/// The byte offset of a facet field (its vtable pointer) from the object's start.
const fn facet_start<T: ComClass>(offset: usize) -> usize {
    core::mem::offset_of!(ComObject<T>, value) + offset
}

/// The object a facet's interface pointer belongs to.
///
/// # Safety
/// `this` is the facet-`offset` interface pointer of a live `ComObject<T>`.
unsafe fn facet_object<T: ComClass>(this: *mut c_void, offset: usize) -> *mut c_void {
    // The facet lies `facet_start` bytes into the object (caller's contract), so stepping
    // back stays inside it.
    this.cast::<u8>()
        .wrapping_sub(facet_start::<T>(offset))
        .cast()
}

/// A facet of a class: an interface on its own vtable pointer, a field at `OFFSET` bytes into
/// the class's state.
///
/// # Safety
/// `(IID, OFFSET)` is an entry of `Class::FACETS`, with the guarantees that trait states.
pub unsafe trait ComFacet: 'static {
    /// The class whose objects carry the facet.
    type Class: ComClass;
    /// The facet's interface.
    const IID: GUID;
    /// The byte offset of the facet's field in the class's state.
    const OFFSET: usize;

    /// The state behind the facet's interface pointer.
    ///
    /// # Safety
    /// `this` is this facet's interface pointer of a live object, and the reference the
    /// caller holds outlives `'a`.
    #[must_use]
    unsafe fn state<'a>(this: *mut c_void) -> &'a Self::Class {
        // SAFETY: caller's contract.
        unsafe { ComObject::<Self::Class>::from_facet(this, Self::OFFSET) }
    }
}

/// The `IUnknown` part of a facet's vtable: the object's own `QueryInterface`, `AddRef` and
/// `Release`, reached from the facet's field.
#[must_use]
pub const fn facet_unknown_vtable<F: ComFacet>() -> IUnknownVtbl {
    IUnknownVtbl {
        QueryInterface: facet_query_interface::<F>,
        AddRef: facet_add_ref::<F>,
        Release: facet_release::<F>,
    }
}

portcls_sys::kernel_abi! {
    unsafe fn facet_query_interface<F: ComFacet>(
        this: PUNKNOWN,
        riid: *const GUID,
        out: *mut PVOID,
    ) -> NTSTATUS {
        // SAFETY: `this` is the facet of a live object (the caller holds a reference).
        let object = unsafe { facet_object::<F::Class>(this.cast(), F::OFFSET) };
        // SAFETY: the object's own QueryInterface, with the caller's arguments.
        unsafe { query_interface::<F::Class>(object.cast(), riid, out) }
    }
}

portcls_sys::kernel_abi! {
    unsafe fn facet_add_ref<F: ComFacet>(this: PUNKNOWN) -> u32 {
        // SAFETY: as in `facet_query_interface`.
        let object = unsafe { facet_object::<F::Class>(this.cast(), F::OFFSET) };
        // SAFETY: a live object of this class.
        unsafe { add_ref::<F::Class>(object.cast()) }
    }
}

portcls_sys::kernel_abi! {
    unsafe fn facet_release<F: ComFacet>(this: PUNKNOWN) -> u32 {
        // SAFETY: as in `facet_query_interface`.
        let object = unsafe { facet_object::<F::Class>(this.cast(), F::OFFSET) };
        // SAFETY: a live object of this class on which the caller gives back a reference.
        unsafe { release::<F::Class>(object.cast()) }
    }
}
