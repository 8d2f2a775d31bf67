//! Virtual time, events and system threads: a driver-style worker runs in lock step with the
//! test, so periods are counted exactly and runs are repeatable.

use std::ffi::c_void;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};

use portcls_sim::sched::{
    KeInitializeEvent, KeQueryPerformanceCounter, KeSetEvent, KeWaitForSingleObject,
    NOTIFICATION_EVENT, ObReferenceObjectByHandle, PsCreateSystemThread, PsTerminateSystemThread,
    STATUS_TIMEOUT, TICKS_PER_SECOND, ZwClose,
};
use portcls_sim::{OsProfile, Sim};
use portcls_sys::STATUS_SUCCESS;

/// What a worker shares with its creator (KEVENT storage is 24 bytes on 64-bit).
struct Worker {
    stop: [u64; 3],
    periods: AtomicU32,
    last_counter: AtomicI64,
    terminate_explicitly: bool,
}

const PERIOD: i64 = -100_000; // 10 ms, relative

portcls_sys::kernel_abi! {
    unsafe fn worker_main(context: *mut c_void) {
        // SAFETY: the creator passes a Worker that outlives the thread.
        let worker = unsafe { &*context.cast::<Worker>() };
        let stop = (&raw const worker.stop).cast_mut().cast::<c_void>();
        loop {
            let mut timeout = PERIOD;
            // SAFETY: an initialised event and a readable time-out.
            let status = unsafe { KeWaitForSingleObject(stop, 0, 0, 0, &raw mut timeout) };
            if status != STATUS_TIMEOUT {
                break;
            }
            worker.periods.fetch_add(1, Ordering::SeqCst);
            // SAFETY: a null frequency pointer is allowed.
            let counter = unsafe { KeQueryPerformanceCounter(null_mut()) };
            worker.last_counter.store(counter, Ordering::SeqCst);
        }
        if worker.terminate_explicitly {
            PsTerminateSystemThread(STATUS_SUCCESS);
        }
    }
}

fn start(sim: &Sim, worker: &Worker) -> *mut c_void {
    let stop = (&raw const worker.stop).cast_mut().cast::<c_void>();
    // SAFETY: the worker's event storage.
    unsafe { KeInitializeEvent(stop, NOTIFICATION_EVENT, 0) };
    let mut handle = null_mut();
    let context = std::ptr::from_ref(worker).cast_mut().cast::<c_void>();
    // SAFETY: valid out pointer, start routine and context.
    let status = unsafe {
        PsCreateSystemThread(
            &raw mut handle,
            0,
            null_mut(),
            null_mut(),
            null_mut(),
            Some(worker_main),
            context,
        )
    };
    assert_eq!(status, STATUS_SUCCESS);
    let mut thread = null_mut();
    // SAFETY: the handle just returned and a writable slot.
    let status =
        unsafe { ObReferenceObjectByHandle(handle, 0, null_mut(), 0, &raw mut thread, null_mut()) };
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(ZwClose(handle), STATUS_SUCCESS);
    assert_eq!(
        sim.thread_refs(thread.cast()),
        2,
        "the running thread's and ours"
    );
    thread
}

fn stop_and_join(worker: &Worker, thread: *mut c_void) {
    let stop = (&raw const worker.stop).cast_mut().cast::<c_void>();
    // SAFETY: the initialised event.
    unsafe { KeSetEvent(stop, 0, 0) };
    // SAFETY: a referenced thread object; no time-out.
    let status = unsafe { KeWaitForSingleObject(thread, 0, 0, 0, null_mut()) };
    assert_eq!(status, STATUS_SUCCESS);
    // SAFETY: our reference from ObReferenceObjectByHandle.
    unsafe { portcls_sim::ObfDereferenceObject(thread) };
}

fn new_worker(terminate_explicitly: bool) -> Worker {
    Worker {
        stop: [0; 3],
        periods: AtomicU32::new(0),
        last_counter: AtomicI64::new(0),
        terminate_explicitly,
    }
}

#[test]
fn a_periodic_worker_runs_exactly_once_per_period_of_virtual_time() {
    let sim = Sim::new(OsProfile::Win10_1511);
    sim.set_qpc_frequency(3_579_545);
    let worker = new_worker(false);
    let thread = start(&sim, &worker);
    assert_eq!(
        worker.periods.load(Ordering::SeqCst),
        0,
        "nothing runs until time moves"
    );
    sim.advance(TICKS_PER_SECOND);
    assert_eq!(worker.periods.load(Ordering::SeqCst), 100);
    assert_eq!(
        worker.last_counter.load(Ordering::SeqCst),
        3_579_545,
        "exact counter at 1 s"
    );
    sim.advance(TICKS_PER_SECOND / 2 + 50_000); // 0.505 s: 50 more periods, half a period left
    assert_eq!(worker.periods.load(Ordering::SeqCst), 150);
    assert_eq!(sim.now(), 15_050_000);
    assert!(sim.leftovers().iter().any(|l| l.contains("still running")));
    stop_and_join(&worker, thread);
    assert_eq!(
        worker.periods.load(Ordering::SeqCst),
        150,
        "no period after the stop"
    );
    sim.assert_clean();
}

/// Virtual seconds of the long run (Miri interprets every handoff, so it runs a shorter span).
const LONG_RUN_SECONDS: u64 = if cfg!(miri) { 2 } else { 60 };

#[test]
fn a_long_run_of_virtual_time_runs_every_period() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let worker = new_worker(false);
    let thread = start(&sim, &worker);
    // Irregular steps, so period boundaries fall inside steps and on their edges.
    let mut elapsed = 0;
    for step in [1, 99_999, 100_000, 250_000, 7 * TICKS_PER_SECOND]
        .into_iter()
        .cycle()
    {
        if elapsed + step > LONG_RUN_SECONDS * TICKS_PER_SECOND {
            break;
        }
        sim.advance(step);
        elapsed += step;
    }
    sim.advance(LONG_RUN_SECONDS * TICKS_PER_SECOND - elapsed);
    assert_eq!(sim.now(), LONG_RUN_SECONDS * TICKS_PER_SECOND);
    let periods = u32::try_from(LONG_RUN_SECONDS * 100).unwrap();
    assert_eq!(worker.periods.load(Ordering::SeqCst), periods);
    stop_and_join(&worker, thread);
    sim.assert_clean();
}

// A thread that ends with PsTerminateSystemThread never returns into the driver's frames, so the
// model parks its OS thread for good; Miri reports such a thread as left running at exit.
#[test]
#[cfg_attr(
    miri,
    ignore = "the model parks threads that call PsTerminateSystemThread"
)]
fn a_thread_may_end_with_ps_terminate_system_thread() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let worker = new_worker(true);
    let thread = start(&sim, &worker);
    sim.advance(3 * 100_000);
    stop_and_join(&worker, thread);
    assert_eq!(worker.periods.load(Ordering::SeqCst), 3);
    sim.assert_clean();
}

/// An event lives in the driver's pool: freeing the block ends the event, so a later object
/// at the same address (the heap reuses it) is never taken for the old, signalled event. This
/// made a deterministic schedule replay differently from run to run until the model forgot
/// events with their memory.
#[test]
fn an_event_goes_with_the_pool_it_lives_in() {
    use portcls_sim::pool::{ExAllocatePoolWithTag, ExFreePoolWithTag, NON_PAGED_POOL_NX};
    use portcls_sim::{Ddi, Violation};
    let tag = u32::from_le_bytes(*b"Evnt");
    let sim = Sim::new(OsProfile::Win10_1511);
    let block = ExAllocatePoolWithTag(NON_PAGED_POOL_NX, 24, tag);
    // SAFETY: 24 bytes of pool, KEVENT storage.
    unsafe { KeInitializeEvent(block, NOTIFICATION_EVENT, 1) };
    let mut zero = 0i64;
    // SAFETY: the signalled event; a zero time-out polls.
    let status = unsafe { KeWaitForSingleObject(block, 0, 0, 0, &raw mut zero) };
    assert_eq!(status, STATUS_SUCCESS);
    // SAFETY: the block above, freed once.
    unsafe { ExFreePoolWithTag(block, tag) };
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    // SAFETY: a poll of the freed address: the model reports it instead of reading it.
    let status = unsafe { KeWaitForSingleObject(block, 0, 0, 0, &raw mut zero) };
    assert_ne!(status, STATUS_SUCCESS);
    assert_eq!(
        sim.violations(),
        vec![Violation::BadObject {
            ddi: Ddi::KeWaitForSingleObject,
            object: block.addr()
        }]
    );
}
