//! Spin locks: `KeAcquireSpinLockRaiseToDpc` and `KeReleaseSpinLock` over the driver's
//! `KSPIN_LOCK` word, with the IRQL they imply.
//!
//! The lock really excludes (system threads are real threads), the holder runs at
//! `DISPATCH_LEVEL` (so a wait or a `PASSIVE_LEVEL` routine under the lock is reported by that
//! routine's IRQL rule), and re-acquiring a lock the thread holds, or releasing one it does not,
//! is a violation rather than a hang.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

use portcls_sys::km::{DISPATCH_LEVEL, KIRQL};

use crate::{Ddi, IRQL, Violation, current_irql, with_world};

thread_local! {
    /// The locks this thread holds.
    static HELD: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// The lock word as an atomic.
///
/// # Safety
/// `lock` is a live, aligned `KSPIN_LOCK` used only through these routines.
unsafe fn word<'a>(lock: *mut usize) -> &'a AtomicUsize {
    // SAFETY: caller's contract; AtomicUsize has usize's size and alignment.
    unsafe { AtomicUsize::from_ptr(lock) }
}

portcls_sys::kernel_abi! {
    /// `KeAcquireSpinLockRaiseToDpc`: spins until the lock is free, raises to `DISPATCH_LEVEL`,
    /// returns the previous IRQL.
    ///
    /// # Safety
    /// `lock` is the driver's initialised `KSPIN_LOCK`.
    #[unsafe(no_mangle)]
    pub unsafe fn KeAcquireSpinLockRaiseToDpc(lock: *mut usize) -> KIRQL {
        crate::stack::model_leaf(|| {
            let previous = current_irql();
            let address = lock.addr();
            if previous > DISPATCH_LEVEL || HELD.with(|h| h.borrow().contains(&address)) {
                with_world("KeAcquireSpinLockRaiseToDpc", |world| {
                    let mut state = world.lock();
                    if previous > DISPATCH_LEVEL {
                        state.violate(Violation::IrqlTooHigh {
                            ddi: Ddi::KeAcquireSpinLock,
                            irql: previous,
                        });
                    } else {
                        state.violate(Violation::SpinLockRecursion { lock: address });
                    }
                });
                // Windows would hang or crash here; the model reports and carries on without it.
                return previous;
            }
            if crate::sched::is_participant() {
                with_world("KeAcquireSpinLockRaiseToDpc", |world| {
                    crate::sched::spin_acquire(world, address);
                });
            }
            // SAFETY: caller's contract.
            let atomic = unsafe { word(lock) };
            while atomic
                .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                std::hint::spin_loop();
                std::thread::yield_now();
            }
            HELD.with(|h| h.borrow_mut().push(address));
            IRQL.with(|irql| irql.set(DISPATCH_LEVEL));
            previous
        })
    }
}

portcls_sys::kernel_abi! {
    /// `KeReleaseSpinLock`: frees the lock and lowers the IRQL to `new_irql`.
    ///
    /// # Safety
    /// `lock` is the driver's initialised `KSPIN_LOCK`.
    #[unsafe(no_mangle)]
    pub unsafe fn KeReleaseSpinLock(lock: *mut usize, new_irql: KIRQL) {
        crate::stack::model_leaf(|| {
            let address = lock.addr();
            let held = HELD.with(|h| {
                let mut held = h.borrow_mut();
                let position = held.iter().position(|&a| a == address);
                position.map(|i| held.remove(i)).is_some()
            });
            if !held {
                with_world("KeReleaseSpinLock", |world| {
                    world
                        .lock()
                        .violate(Violation::SpinLockNotHeld { lock: address });
                });
                return;
            }
            // SAFETY: caller's contract.
            unsafe { word(lock) }.store(0, Ordering::Release);
            IRQL.with(|irql| irql.set(new_irql));
            if crate::sched::is_participant() {
                with_world("KeReleaseSpinLock", |world| {
                    crate::sched::spin_released(world, address);
                });
            }
        });
    }
}
