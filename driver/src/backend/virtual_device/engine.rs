//! The emulated DMA engine: a driver-owned system thread that wakes once per period, registered
//! with PortCls as a stream resource for exactly its lifetime.
//!
//! [`Engine::start`] creates the thread, takes a reference on its object and registers it
//! through the `portcls` library before returning; [`Engine::stop`] (or dropping the engine)
//! removes the registration first, then tells the thread to leave and waits until it has. So the
//! thread is never running unregistered on a system that supports registration, and never
//! registered after it is gone.

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::ptr::null_mut;

use portcls::{Error, Mechanism, OwnedThreadRegistration, StreamResourceManager, Thread};
use portcls_sys::{NT_SUCCESS, NTSTATUS, STATUS_INSUFFICIENT_RESOURCES};

use crate::kernel::{
    self, EXECUTIVE, EventStorage, KERNEL_MODE, NOTIFICATION_EVENT, PKEVENT, STATUS_TIMEOUT,
    THREAD_ALL_ACCESS,
};
use crate::pool::{Pool, PoolBox};

/// How many times the engine asks PortCls to remove its registration before giving up.
const REMOVAL_ATTEMPTS: u32 = 3;

/// The work the engine does once per period, on its thread, at `PASSIVE_LEVEL`.
pub trait Period: Sync + 'static {
    /// One period's work. `counter` and `frequency` are the performance counter's reading.
    fn tick(&self, counter: i64, frequency: i64);
}

/// What the creator and the thread share; lives in pool until the thread has exited.
struct Shared<P> {
    stop: UnsafeCell<EventStorage>,
    /// The period as a relative kernel time-out (negative, 100 ns units).
    timeout: i64,
    work: P,
}

// SAFETY: the event is only touched through kernel routines, which synchronise it; `work` is
// Sync.
unsafe impl<P: Sync> Sync for Shared<P> {}
// SAFETY: as above; the storage moves to the thread only as a pointer.
unsafe impl<P: Send> Send for Shared<P> {}

impl<P> Shared<P> {
    fn stop_event(&self) -> PKEVENT {
        self.stop.get().cast()
    }
}

portcls_sys::kernel_abi! {
    unsafe fn worker_main<P: Period>(context: *mut c_void) {
        // SAFETY: `Engine::start` passes its pool-owned Shared, which outlives this thread (the
        // engine frees it only after the thread has exited).
        let shared = unsafe { &*context.cast::<Shared<P>>() };
        let mut frequency = 0i64;
        loop {
            let mut timeout = shared.timeout;
            let event = shared.stop_event().cast::<c_void>();
            // SAFETY: an initialised event and a readable time-out, at PASSIVE_LEVEL.
            let status = unsafe {
                kernel::KeWaitForSingleObject(event, EXECUTIVE, KERNEL_MODE, 0, &raw mut timeout)
            };
            if status != STATUS_TIMEOUT {
                break;
            }
            // SAFETY: `frequency` is writable.
            let counter = unsafe { kernel::KeQueryPerformanceCounter(&raw mut frequency) };
            shared.work.tick(counter, frequency);
        }
    }
}

/// A running engine thread and its stream-resource registration.
///
/// # Invariants
/// While `registration` is `Some`, the thread runs, holds a pointer to `*shared`, and is
/// registered through `registration` (a no-op registration where PortCls offers none).
pub struct Engine<P: Period> {
    shared: PoolBox<Shared<P>>,
    registration: Option<OwnedThreadRegistration>,
}

impl<P: Period + Send> Engine<P> {
    /// Starts the thread (period `period_100ns`, in 100 ns units) and registers it with
    /// `manager`. Call at `PASSIVE_LEVEL`.
    ///
    /// # Errors
    /// The status of the step that failed (pool, thread creation, object reference, or the
    /// registration); everything done before it is undone, the thread included.
    pub fn start(
        pool: Pool,
        manager: &StreamResourceManager,
        period_100ns: u32,
        work: P,
    ) -> Result<Self, NTSTATUS> {
        let shared = Shared {
            stop: UnsafeCell::new(EventStorage::zeroed()),
            timeout: -i64::from(period_100ns),
            work,
        };
        let shared = PoolBox::new(pool, shared).map_err(|_| STATUS_INSUFFICIENT_RESOURCES)?;
        // SAFETY: the event storage is in pool and does not move until freed.
        unsafe { kernel::KeInitializeEvent(shared.stop_event(), NOTIFICATION_EVENT, 0) };
        let context = core::ptr::from_ref::<Shared<P>>(&shared)
            .cast_mut()
            .cast::<c_void>();
        let mut handle = null_mut();
        // SAFETY: a writable handle slot; the start routine and its context stay valid for the
        // thread's life (see worker_main).
        let status = unsafe {
            kernel::PsCreateSystemThread(
                &raw mut handle,
                THREAD_ALL_ACCESS,
                null_mut(),
                null_mut(),
                null_mut(),
                Some(worker_main::<P>),
                context,
            )
        };
        if !NT_SUCCESS(status) {
            return Err(status);
        }
        let mut object = null_mut();
        // SAFETY: our own thread handle, kernel mode (no type or access check needed).
        let status = unsafe {
            kernel::ObReferenceObjectByHandle(
                handle,
                THREAD_ALL_ACCESS,
                null_mut(),
                KERNEL_MODE,
                &raw mut object,
                null_mut(),
            )
        };
        // SAFETY: on success `object` holds the reference we just took.
        let thread = unsafe { Thread::from_raw(object.cast()) }.filter(|_| NT_SUCCESS(status));
        let Some(thread) = thread else {
            // No object to wait on: stop the thread and wait through its handle instead.
            // SAFETY: the initialised event; the handle is ours until ZwClose.
            unsafe { kernel::KeSetEvent(shared.stop_event(), 0, 0) };
            // SAFETY: as above.
            unsafe { kernel::ZwWaitForSingleObject(handle, 0, null_mut()) };
            // SAFETY: as above.
            unsafe { kernel::ZwClose(handle) };
            return Err(if NT_SUCCESS(status) {
                STATUS_INSUFFICIENT_RESOURCES
            } else {
                status
            });
        };
        // SAFETY: the handle is ours; the object reference keeps the thread object alive.
        unsafe { kernel::ZwClose(handle) };
        match manager.register_owned_thread(thread) {
            Ok(registration) => Ok(Self {
                shared,
                registration: Some(registration),
            }),
            Err((error, thread)) => {
                join(&shared, &thread);
                Err(error.status())
            }
        }
    }
}

/// Tells the thread to leave and waits until it has.
fn join<P>(shared: &Shared<P>, thread: &Thread) {
    // SAFETY: the initialised event.
    unsafe { kernel::KeSetEvent(shared.stop_event(), 0, 0) };
    // SAFETY: a referenced thread object; no time-out; PASSIVE_LEVEL.
    unsafe {
        kernel::KeWaitForSingleObject(
            thread.as_raw().cast(),
            EXECUTIVE,
            KERNEL_MODE,
            0,
            null_mut(),
        )
    };
}

impl<P: Period> Engine<P> {
    /// How the thread is registered.
    #[must_use]
    pub fn mechanism(&self) -> Mechanism {
        self.registration
            .as_ref()
            .map_or(Mechanism::Unsupported, OwnedThreadRegistration::mechanism)
    }

    /// The work object the thread runs.
    #[must_use]
    pub fn work(&self) -> &P {
        &self.shared.work
    }

    /// Removes the registration, then stops the thread and waits for it. Call at
    /// `PASSIVE_LEVEL` (stop, surprise removal, removal, leaving D0).
    ///
    /// # Errors
    /// The removal's failure; the thread is stopped regardless.
    pub fn stop(mut self) -> Result<(), Error> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> Result<(), Error> {
        let Some(mut registration) = self.registration.take() else {
            return Ok(());
        };
        // PortCls refuses a removal only when it did not remove; try a few times before
        // letting the thread go registered (which Driver Verifier would flag).
        for _ in 1..REMOVAL_ATTEMPTS {
            match registration.try_unregister() {
                Ok(thread) => {
                    join(&self.shared, &thread);
                    return Ok(());
                }
                Err((again, _)) => registration = again,
            }
        }
        let (thread, outcome) = registration.unregister();
        join(&self.shared, &thread);
        outcome
    }
}

impl<P: Period> Drop for Engine<P> {
    fn drop(&mut self) {
        // Removal failures cannot be reported from drop; `stop` returns them.
        let _ = self.shut_down();
    }
}
