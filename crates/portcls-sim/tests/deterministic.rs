//! The deterministic scheduler on its own: a lost-update race (a read, a call into the model,
//! a write) that some schedules expose and each schedule reproduces exactly; the same race
//! under a spin lock, which no schedule breaks; PCT finding it too; and a lock-order deadlock
//! the model reports with every participant's wait and the replay note (in a child process,
//! since a deadlocked run aborts).

use std::ptr::null_mut;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use portcls_sim::sched::KeQueryPerformanceCounter;
use portcls_sim::sync::{KeAcquireSpinLockRaiseToDpc, KeReleaseSpinLock};
use portcls_sim::{OsProfile, Schedule, Sim};

/// Two participants each add 1 to `counter` ten times as `read; call the model; write`; with
/// `lock`, under a spin lock. Returns the final count and the trace.
fn increments(schedule: Schedule, lock: bool) -> (u64, String) {
    let sim = Sim::new_deterministic(OsProfile::Win10_1511, schedule);
    let counter = AtomicU64::new(0);
    let spin = AtomicUsize::new(0);
    let add = || {
        for _ in 0..10 {
            let word = spin.as_ptr();
            // SAFETY: a lock word used only through these routines.
            let irql = lock.then(|| unsafe { KeAcquireSpinLockRaiseToDpc(word) });
            let value = counter.load(Ordering::SeqCst);
            // SAFETY: a null frequency pointer is allowed. A point where another may run.
            unsafe { KeQueryPerformanceCounter(null_mut()) };
            counter.store(value + 1, Ordering::SeqCst);
            if let Some(irql) = irql {
                // SAFETY: the lock taken above.
                unsafe { KeReleaseSpinLock(word, irql) };
            }
        }
    };
    sim.scope(|s| {
        s.spawn("a", add);
        s.spawn("b", add);
    });
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    (
        counter.load(Ordering::SeqCst),
        sim.schedule_trace().unwrap(),
    )
}

#[test]
fn a_race_some_schedules_expose_replays_exactly() {
    let lost: Vec<u64> = (0..20)
        .filter(|&seed| increments(Schedule::random(seed), false).0 < 20)
        .collect();
    println!(
        "deterministic: {} of 20 random schedules lose an update",
        lost.len()
    );
    assert!(
        !lost.is_empty(),
        "no schedule interleaved the read and the write"
    );
    for &seed in &lost {
        let (count, trace) = increments(Schedule::random(seed), false);
        assert_eq!((count, trace), increments(Schedule::random(seed), false));
    }
    let pct = (0..20).filter(|&seed| increments(Schedule::pct(seed, 2, 60), false).0 < 20);
    assert!(pct.count() > 0, "PCT at depth 2 found nothing");
}

#[test]
fn no_schedule_breaks_the_locked_version() {
    for seed in 0..20 {
        for schedule in [Schedule::random(seed), Schedule::pct(seed, 3, 120)] {
            assert_eq!(increments(schedule, true).0, 20, "{schedule}");
        }
    }
}

/// Participants `a` and `b` take two spin locks in opposite orders, with a point between: the
/// schedule where each holds one deadlocks.
fn lock_order_inversion(seed: u64) {
    let sim = Sim::new_deterministic(OsProfile::Win10_1511, Schedule::random(seed));
    sim.set_schedule_note("replay: the note a test leaves");
    let first = AtomicUsize::new(0);
    let second = AtomicUsize::new(0);
    let take = |one: &AtomicUsize, other: &AtomicUsize| {
        // SAFETY: lock words used only through these routines.
        let a = unsafe { KeAcquireSpinLockRaiseToDpc(one.as_ptr()) };
        // SAFETY: a null frequency pointer is allowed. A point where the other may run.
        unsafe { KeQueryPerformanceCounter(null_mut()) };
        // SAFETY: as for the first lock.
        let b = unsafe { KeAcquireSpinLockRaiseToDpc(other.as_ptr()) };
        // SAFETY: the locks taken above, innermost first.
        unsafe { KeReleaseSpinLock(other.as_ptr(), b) };
        // SAFETY: as above.
        unsafe { KeReleaseSpinLock(one.as_ptr(), a) };
    };
    sim.scope(|s| {
        s.spawn("a", || take(&first, &second));
        s.spawn("b", || take(&second, &first));
    });
}

#[test]
#[cfg_attr(miri, ignore = "runs itself as a child process")]
fn a_deadlock_is_reported_with_each_wait() {
    if let Ok(seed) = std::env::var("PORTCLS_DEADLOCK_CHILD") {
        // The child: run the seeds until one deadlocks (which aborts the process).
        for seed in seed.parse::<u64>().unwrap()..1_000 {
            lock_order_inversion(seed);
        }
        return;
    }
    let exe = std::env::current_exe().unwrap();
    // Under qemu-user, run the child through the same runner.
    let runner = std::env::var("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER")
        .ok()
        .filter(|_| cfg!(target_arch = "aarch64"));
    let mut command = match runner.as_deref().map(str::split_whitespace) {
        Some(mut words) => {
            let mut command = std::process::Command::new(words.next().unwrap());
            command.args(words).arg(&exe);
            command
        }
        None => std::process::Command::new(&exe),
    };
    let output = command
        .args([
            "a_deadlock_is_reported_with_each_wait",
            "--exact",
            "--nocapture",
        ])
        .env("PORTCLS_DEADLOCK_CHILD", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "no deadlock in 1000 schedules");
    for expected in [
        "deadlock: no participant can run (schedule random:",
        "#0 main: waits for the scope's threads to finish",
        "#1 a: waits for spin lock 0x",
        "#2 b: waits for spin lock 0x",
        "replay: the note a test leaves",
    ] {
        assert!(stderr.contains(expected), "{expected:?} missing:\n{stderr}");
    }
}
