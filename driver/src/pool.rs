//! Pool memory for the driver's objects, on every build from Windows 10 1511.
//!
//! `ExAllocatePool2` only exists from build 19041, so it is never a static import: [`Pool`] looks
//! it up at run time with `MmGetSystemRoutineAddress` and otherwise allocates non-executable
//! pool with `ExAllocatePoolWithTag(NonPagedPoolNx, ..)`. Either way the memory is freed with
//! `ExFreePoolWithTag`. The choice is made once per driver, at `PASSIVE_LEVEL`, and carried
//! explicitly (no global state), so one process can host several simulated drivers.

use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::kernel::{self, ExAllocatePool2Fn, NON_PAGED_POOL_NX, POOL_FLAG_NON_PAGED};

/// The driver's pool tag, `WRts` in a pool dump.
pub const TAG: u32 = u32::from_le_bytes(*b"WRts");

/// The largest alignment pool guarantees on 64-bit Windows.
pub const POOL_ALIGNMENT: usize = 16;

/// How this system allocates non-paged, non-executable pool.
#[derive(Clone, Copy, Debug)]
pub struct Pool {
    allocate2: Option<ExAllocatePool2Fn>,
}

impl Pool {
    /// Looks up `ExAllocatePool2`. Call at `PASSIVE_LEVEL` (`DriverEntry`, `AddDevice`).
    #[must_use]
    pub fn resolve() -> Self {
        let name: [u16; 15] = ascii_utf16(b"ExAllocatePool2");
        let mut text = kernel::UNICODE_STRING {
            Length: 30,
            MaximumLength: 30,
            Buffer: name.as_ptr().cast_mut(),
        };
        // SAFETY: `text` is a valid counted string over `name`, alive for the call.
        let routine = unsafe { kernel::MmGetSystemRoutineAddress(&raw mut text) };
        let allocate2 = (!routine.is_null()).then(|| {
            // SAFETY: the kernel returned the address of ExAllocatePool2, whose signature this
            // is (documented since build 19041).
            unsafe { core::mem::transmute::<*mut c_void, ExAllocatePool2Fn>(routine) }
        });
        Self { allocate2 }
    }

    /// Whether allocations go through `ExAllocatePool2`.
    #[must_use]
    pub const fn uses_allocate_pool2(self) -> bool {
        self.allocate2.is_some()
    }

    /// Allocates `size` bytes of non-paged, non-executable pool tagged [`TAG`]; null on failure.
    fn allocate(self, size: usize) -> *mut c_void {
        match self.allocate2 {
            // SAFETY: the routine resolved in `resolve`; non-paged pool at <= DISPATCH_LEVEL.
            Some(allocate2) => unsafe { allocate2(POOL_FLAG_NON_PAGED, size, TAG) },
            // SAFETY: plain pool allocation; NonPagedPoolNx is never executable.
            None => unsafe { kernel::ExAllocatePoolWithTag(NON_PAGED_POOL_NX, size, TAG) },
        }
    }
}

const fn ascii_utf16<const N: usize>(text: &[u8; N]) -> [u16; N] {
    let mut out = [0u16; N];
    let mut i = 0;
    while i < N {
        out[i] = text[i] as u16;
        i += 1;
    }
    out
}

/// A value in pool memory that the driver owns (freed with `ExFreePoolWithTag` on drop).
///
/// # Invariants
/// `ptr` points to an initialised `T` in a pool block tagged [`TAG`] that this value owns.
pub struct PoolBox<T> {
    ptr: NonNull<T>,
    _owns: PhantomData<T>,
}

// SAFETY: a PoolBox owns its T like a Box does.
unsafe impl<T: Send> Send for PoolBox<T> {}
// SAFETY: shared access only hands out `&T`.
unsafe impl<T: Sync> Sync for PoolBox<T> {}

impl<T> PoolBox<T> {
    /// Moves `value` into pool memory; gives it back if the allocation fails.
    ///
    /// # Errors
    /// The pool allocation failed (the caller maps that to `STATUS_INSUFFICIENT_RESOURCES`).
    pub fn new(pool: Pool, value: T) -> Result<Self, T> {
        const { assert!(core::mem::align_of::<T>() <= POOL_ALIGNMENT) };
        let memory = pool.allocate(core::mem::size_of::<T>().max(1)).cast::<T>();
        let Some(ptr) = NonNull::new(memory) else {
            return Err(value);
        };
        // SAFETY: a fresh block large enough and aligned for T (pool is 16-byte aligned).
        unsafe { ptr.as_ptr().write(value) };
        Ok(Self {
            ptr,
            _owns: PhantomData,
        })
    }

    /// A bitwise copy of `template` in pool memory, copied straight into the block (a value of
    /// kilobytes never crosses the kernel stack, as one moved into [`PoolBox::new`] may).
    ///
    /// # Safety
    /// A bitwise copy of `template` must be a valid `T` of its own: `template` owns nothing
    /// (no memory, no handle) that the copy would then own twice.
    #[must_use]
    pub unsafe fn copy_of(pool: Pool, template: &T) -> Option<Self> {
        const { assert!(core::mem::align_of::<T>() <= POOL_ALIGNMENT) };
        let memory = pool.allocate(core::mem::size_of::<T>().max(1)).cast::<T>();
        let ptr = NonNull::new(memory)?;
        // SAFETY: a fresh block large enough and aligned for T, not overlapping `template`;
        // the copy is a valid T by the caller's contract.
        unsafe { ptr.as_ptr().copy_from_nonoverlapping(template, 1) };
        Some(Self {
            ptr,
            _owns: PhantomData,
        })
    }

    /// Gives up ownership; the block must come back through [`PoolBox::from_raw`].
    #[must_use]
    pub fn into_raw(self) -> NonNull<T> {
        core::mem::ManuallyDrop::new(self).ptr
    }

    /// Takes back ownership of a block from [`PoolBox::into_raw`].
    ///
    /// # Safety
    /// `ptr` came from `into_raw` and is not owned by anything else.
    #[must_use]
    pub unsafe fn from_raw(ptr: NonNull<T>) -> Self {
        Self {
            ptr,
            _owns: PhantomData,
        }
    }
}

impl<const N: usize> PoolBox<[u8; N]> {
    /// `N` zero bytes in pool, written in place (a large array never passes through the
    /// kernel stack, as [`PoolBox::new`]'s value would); `None` if the allocation fails.
    #[must_use]
    pub fn zeroed(pool: Pool) -> Option<Self> {
        let memory = pool.allocate(N.max(1)).cast::<[u8; N]>();
        let ptr = NonNull::new(memory)?;
        // SAFETY: a fresh block of at least N bytes; zero bytes are a valid [u8; N].
        unsafe { ptr.as_ptr().cast::<u8>().write_bytes(0, N) };
        Some(Self {
            ptr,
            _owns: PhantomData,
        })
    }
}

impl<const N: usize> AsRef<[u8]> for PoolBox<[u8; N]> {
    fn as_ref(&self) -> &[u8] {
        &**self
    }
}

impl<const N: usize> AsMut<[u8]> for PoolBox<[u8; N]> {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut **self
    }
}

impl<T> core::ops::Deref for PoolBox<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: an initialised T we own (type invariant).
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> core::ops::DerefMut for PoolBox<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: an initialised T we own exclusively (type invariant, `&mut self`).
        unsafe { self.ptr.as_mut() }
    }
}

impl<T> Drop for PoolBox<T> {
    fn drop(&mut self) {
        // SAFETY: the T is initialised and ours; it is dropped exactly once, here.
        unsafe { core::ptr::drop_in_place(self.ptr.as_ptr()) };
        // SAFETY: the block came from pool with TAG and is no longer used.
        unsafe { kernel::ExFreePoolWithTag(self.ptr.as_ptr().cast(), TAG) };
    }
}

impl<T: core::fmt::Debug> core::fmt::Debug for PoolBox<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(&**self, f)
    }
}
