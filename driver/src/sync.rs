//! Locks: a spin lock over the kernel's `KSPIN_LOCK` holding the data it protects, and a
//! waitable [`Gate`] for work that must run at `PASSIVE_LEVEL` (starting and stopping engine
//! threads).
//!
//! The stream's state is shared by PortCls's calls (`SetState`, `GetPosition`, buffer
//! requests) and the engine thread. The critical sections are short and never wait, so a
//! spin lock is right: `KeAcquireSpinLockRaiseToDpc` raises to `DISPATCH_LEVEL` (no preemption
//! while held) and `KeReleaseSpinLock` restores the caller's IRQL. Nothing called under the lock
//! may wait or need `PASSIVE_LEVEL`.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};

use crate::kernel::{self, EXECUTIVE, EventStorage, KERNEL_MODE};

/// `SynchronizationEvent`: releases one waiter and resets itself.
const SYNCHRONIZATION_EVENT: i32 = 1;

/// Data protected by a kernel spin lock.
///
/// # Invariants
/// `value` is only reached through a [`SpinGuard`], which exists only while `lock` is held.
#[derive(Debug)]
pub struct SpinLock<T> {
    lock: UnsafeCell<usize>,
    value: UnsafeCell<T>,
}

// SAFETY: the lock serialises every access to `value`, so sharing the lock shares `T` only
// one holder at a time, which `T: Send` allows.
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// An unlocked lock (`KeInitializeSpinLock` stores 0, which this does).
    pub const fn new(value: T) -> Self {
        Self {
            lock: UnsafeCell::new(0),
            value: UnsafeCell::new(value),
        }
    }

    /// Acquires the lock, raising to `DISPATCH_LEVEL`. Call at IRQL <= `DISPATCH_LEVEL`, and
    /// never while this thread already holds it.
    pub fn lock(&self) -> SpinGuard<'_, T> {
        // SAFETY: the lock word lives as long as `self` and is only used by these routines.
        let irql = unsafe { kernel::KeAcquireSpinLockRaiseToDpc(self.lock.get()) };
        SpinGuard { lock: self, irql }
    }

    /// The value, through exclusive access (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

/// Access to a [`SpinLock`]'s value while it is held; dropping it releases the lock.
#[derive(Debug)]
pub struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
    irql: u8,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the lock is held (type invariant), so no other reference to the value exists.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and the guard is borrowed mutably.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this thread holds the lock (the guard exists) and `irql` is what the acquire
        // returned.
        unsafe { kernel::KeReleaseSpinLock(self.lock.lock.get(), self.irql) };
    }
}

/// A mutual-exclusion gate for `PASSIVE_LEVEL` code: a synchronization event that starts
/// signalled; entering waits for it (and resets it), leaving signals it. Not recursive.
///
/// # Invariants
/// After [`Gate::init`], `event` is an initialised event that does not move.
#[derive(Debug)]
pub struct Gate {
    event: UnsafeCell<EventStorage>,
}

// SAFETY: the event is only touched through kernel routines, which synchronise it.
unsafe impl Sync for Gate {}
// SAFETY: as above.
unsafe impl Send for Gate {}

impl Gate {
    /// An uninitialised gate (call [`Gate::init`] once it is in its final place).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            event: UnsafeCell::new(EventStorage::zeroed()),
        }
    }

    /// Initialises the event, open.
    ///
    /// # Safety
    /// The gate is at its final address and nobody uses it yet.
    pub unsafe fn init(&self) {
        // SAFETY: caller's contract; the storage is a KEVENT's size and alignment.
        unsafe { kernel::KeInitializeEvent(self.event.get().cast(), SYNCHRONIZATION_EVENT, 1) };
    }

    /// Enters the gate, waiting while another thread is inside. Call at `PASSIVE_LEVEL`.
    pub fn enter(&self) -> GateGuard<'_> {
        // SAFETY: an initialised event (type invariant); no time-out; PASSIVE_LEVEL.
        unsafe {
            kernel::KeWaitForSingleObject(
                self.event.get().cast(),
                EXECUTIVE,
                KERNEL_MODE,
                0,
                core::ptr::null_mut(),
            );
        }
        GateGuard { gate: self }
    }
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

/// Proof of being inside a [`Gate`]; dropping it leaves.
#[derive(Debug)]
pub struct GateGuard<'a> {
    gate: &'a Gate,
}

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: the initialised event; signalling at PASSIVE_LEVEL without a wait.
        unsafe { kernel::KeSetEvent(self.gate.event.get().cast(), 0, 0) };
    }
}
