//! COM objects the driver implements (miniports, streams), in pool memory.
//!
//! Every interface PortCls asks the sample for is a single inheritance chain
//! (`IMiniportWaveRT : IMiniport : IUnknown`, `IMiniportWaveRTStreamNotification :
//! IMiniportWaveRTStream : IUnknown`, ...), so one vtable pointer per object suffices and every
//! interface pointer of an object is the object's address.

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
/// names an interface whose vtable is a prefix of `VTABLE`.
pub unsafe trait ComClass: Sized + Send + Sync + 'static {
    /// The most derived vtable the object implements.
    type Vtable: 'static;
    /// That vtable.
    const VTABLE: &'static Self::Vtable;
    /// The interfaces `QueryInterface` answers with this object (`IUnknown` is implied).
    const INTERFACES: &'static [GUID];
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
        if iid == IID_IUnknown || T::INTERFACES.contains(&iid) {
            // SAFETY: `this` is a live object of this class (PortCls holds a reference).
            unsafe { add_ref::<T>(this) };
            // SAFETY: `out` is writable (checked non-null).
            unsafe { out.write(this.cast()) };
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
