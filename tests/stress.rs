//! Concurrency stress: real threads race on one stream while the engine thread runs. One thread
//! polls `GetPosition` as fast as it can, one flips the stream between RUN and PAUSE, and the
//! test thread moves virtual time (which runs the engine). Every position must be a whole frame
//! inside the buffer (never torn), the run must finish (no deadlock; a watchdog aborts after
//! 60 s of wall time), and the device must come down clean with no verifier finding. A second
//! race serialises the state changes against the clock to count notifications exactly (none
//! missed, none doubled); a third sends stop, surprise removal and removal while the engines run,
//! with the streams in every state.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Shared, bring_up, open_in_state};
use portcls_sim::{OsProfile, Sim};
use portcls_sys::ks::{KSAUDIO_POSITION, KSSTATE};
use portcls_sys::{NT_SUCCESS, STATUS_SUCCESS};

const BUFFER: u32 = 1920;
const FRAME: u64 = 4;

fn positions_state_changes_and_the_engine_race_safely() {
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let watchdog = {
        let done = std::sync::Arc::clone(&done);
        std::thread::spawn(move || {
            let start = Instant::now();
            while !done.load(Ordering::Relaxed) {
                if start.elapsed() > Duration::from_mins(1) {
                    eprintln!("stress: no progress for 60 s: deadlock");
                    std::process::abort();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };

    let sim = Sim::new(OsProfile::Win10_1511);
    let device = bring_up(&sim);
    let mut stream = open_in_state(&sim, &device, false, 3);
    let shared = Shared(stream.raw());
    let stop = AtomicBool::new(false);
    let queries = AtomicU64::new(0);
    let flips = AtomicU64::new(0);

    std::thread::scope(|scope| {
        scope.spawn(|| {
            let _binding = sim.bind_current_thread();
            let get_position = shared.vtable().GetPosition;
            while !stop.load(Ordering::Relaxed) {
                let mut position = KSAUDIO_POSITION {
                    PlayOffset: u64::MAX,
                    WriteOffset: u64::MAX,
                };
                // SAFETY: a live stream and a writable position.
                let status = unsafe { get_position(shared.0, &raw mut position) };
                assert!(NT_SUCCESS(status));
                for offset in [position.PlayOffset, position.WriteOffset] {
                    assert!(offset < u64::from(BUFFER), "torn position {offset}");
                    assert_eq!(offset % FRAME, 0, "position inside a frame: {offset}");
                }
                queries.fetch_add(1, Ordering::Relaxed);
            }
        });
        scope.spawn(|| {
            let _binding = sim.bind_current_thread();
            let set_state = shared.vtable().SetState;
            let mut state = 3;
            while !stop.load(Ordering::Relaxed) {
                state = if state == 3 { 2 } else { 3 };
                // SAFETY: a live stream; one thread changes state, as PortCls serialises.
                let status = unsafe { set_state(shared.0, KSSTATE(state)) };
                assert_eq!(status, STATUS_SUCCESS);
                flips.fetch_add(1, Ordering::Relaxed);
                std::thread::yield_now();
            }
            if state == 2 {
                // SAFETY: as above.
                assert_eq!(unsafe { set_state(shared.0, KSSTATE(3)) }, STATUS_SUCCESS);
            }
        });
        // Virtual time in 1 ms steps (the engine runs in between) until both racers have done
        // plenty, and at least 2 s of virtual time.
        let mut steps = 0u64;
        while steps < 2_000
            || queries.load(Ordering::Relaxed) < 20_000
            || flips.load(Ordering::Relaxed) < 2_000
        {
            sim.advance(10_000);
            steps += 1;
        }
        stop.store(true, Ordering::Relaxed);
        println!("stress: {} s of virtual time", steps / 1_000);
    });
    done.store(true, Ordering::Relaxed);
    let _ = watchdog.join();

    println!(
        "stress: {} position queries, {} state flips",
        queries.load(Ordering::Relaxed),
        flips.load(Ordering::Relaxed)
    );
    assert!(queries.load(Ordering::Relaxed) > 0 && flips.load(Ordering::Relaxed) > 0);
    // The client's view of the state: the racing thread left it in RUN.
    stream.assume_state(3);
    stream.close();
    sim.remove_device(device.fdo);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.assert_clean();
}

/// The same race with the state changes serialised against the clock (the test holds a lock
/// while it moves virtual time, and the flipping thread takes it around each change), so the
/// RUN time is known exactly: the engine must then signal exactly one notification per point
/// the position crossed, none missed and none doubled, while positions are still polled from a
/// third thread.
fn notifications_are_exact_while_state_changes_race_the_queries() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let device = bring_up(&sim);
    // 10 ms, two notifications: a point every 240 frames (5 ms), the engine every 2.5 ms.
    let mut stream = open_in_state(&sim, &device, false, 3);
    let shared = Shared(stream.raw());
    let clock = std::sync::Mutex::new(());
    let stop = AtomicBool::new(false);
    // Frames played in finished RUN stretches, and where the current one began (100 ns).
    let played = AtomicU64::new(0);
    let run_started = AtomicU64::new(sim.now());

    std::thread::scope(|scope| {
        scope.spawn(|| {
            let _binding = sim.bind_current_thread();
            let get_position = shared.vtable().GetPosition;
            while !stop.load(Ordering::Relaxed) {
                let mut position = KSAUDIO_POSITION {
                    PlayOffset: u64::MAX,
                    WriteOffset: u64::MAX,
                };
                // SAFETY: a live stream and a writable position.
                assert!(NT_SUCCESS(unsafe {
                    get_position(shared.0, &raw mut position)
                }));
                assert!(position.PlayOffset < u64::from(BUFFER));
            }
        });
        scope.spawn(|| {
            let _binding = sim.bind_current_thread();
            let set_state = shared.vtable().SetState;
            let mut state = 3;
            while !stop.load(Ordering::Relaxed) {
                let time = clock.lock().unwrap();
                let now = sim.now();
                if state == 3 {
                    // Frames of this stretch: what the clock counts, floor(ticks x rate / 10^7).
                    let ticks = now - run_started.load(Ordering::Relaxed);
                    played.fetch_add(ticks * 48_000 / 10_000_000, Ordering::Relaxed);
                    state = 2;
                } else {
                    run_started.store(now, Ordering::Relaxed);
                    state = 3;
                }
                // SAFETY: a live stream; one thread changes state.
                let status = unsafe { set_state(shared.0, KSSTATE(state)) };
                assert_eq!(status, STATUS_SUCCESS);
                drop(time);
                std::thread::yield_now();
            }
            if state == 3 {
                let _time = clock.lock().unwrap();
                let ticks = sim.now() - run_started.load(Ordering::Relaxed);
                played.fetch_add(ticks * 48_000 / 10_000_000, Ordering::Relaxed);
                // SAFETY: as above.
                assert_eq!(unsafe { set_state(shared.0, KSSTATE(2)) }, STATUS_SUCCESS);
            }
        });
        // At least 4 000 steps, and on until the RUN stretches add up to 30 000 frames (125
        // notification intervals): how much of the time falls in RUN depends on how the two
        // threads are scheduled, which a loaded machine changes.
        let mut steps = 0u64;
        while steps < 4_000 || (played.load(Ordering::Relaxed) < 30_000 && steps < 400_000) {
            let _time = clock.lock().unwrap();
            // Irregular steps (0.3-1.6 ms), so pauses land anywhere between engine periods.
            sim.advance(3_000 + (steps * 7_919) % 13_000);
            steps += 1;
        }
        stop.store(true, Ordering::Relaxed);
    });
    let frames = played.load(Ordering::Relaxed);
    let expected = frames / 240;
    println!(
        "stress: {frames} frames played in RUN stretches, {} notifications",
        stream.event_signals()
    );
    assert!(expected > 100, "too little RUN time: {frames} frames");
    assert_eq!(
        stream.event_signals(),
        expected,
        "missed or doubled notifications"
    );
    stream.assume_state(2);
    stream.close();
    sim.remove_device(device.fdo);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.assert_clean();
}

/// Stop, surprise removal and removal arrive while virtual time runs on another thread (so the
/// engines are in the middle of their periods), with both streams in each state: every
/// transition completes, nothing stays registered, nothing is violated, and the device comes
/// down and the driver unloads clean.
fn transitions_complete_in_every_stream_state_while_the_engines_run() {
    use portcls_sim::PnpRequest;
    let mut runs = 0;
    for state in 0..=3u32 {
        for request in [
            PnpRequest::Stop,
            PnpRequest::SurpriseRemoval,
            PnpRequest::Remove,
        ] {
            for round in 0..10u64 {
                let sim = Sim::new(OsProfile::Win10_1511);
                let device = bring_up(&sim);
                let streams: Vec<_> = [false, true]
                    .into_iter()
                    .map(|capture| open_in_state(&sim, &device, capture, state))
                    .collect();
                let stop = AtomicBool::new(false);
                let status = std::thread::scope(|scope| {
                    scope.spawn(|| {
                        let _binding = sim.bind_current_thread();
                        while !stop.load(Ordering::Relaxed) {
                            sim.advance(7_000);
                        }
                    });
                    // Let the clock thread get going; vary the moment.
                    std::thread::sleep(Duration::from_micros(200 * (round + 1)));
                    let status = sim.pnp(device.fdo, request);
                    stop.store(true, Ordering::Relaxed);
                    status
                });
                let what = format!("{request:?} in KSSTATE {state}, round {round}");
                common::after_transition(&sim, &device, request, status, streams, &what);
                runs += 1;
            }
        }
    }
    println!("stress: {runs} transitions with the engines running, all clean");
}

both_drivers!(
    #[cfg_attr(miri, ignore = "hundreds of thousands of racing calls: natively only")]
    positions_state_changes_and_the_engine_race_safely,
    #[cfg_attr(miri, ignore = "thousands of racing calls: natively only")]
    notifications_are_exact_while_state_changes_race_the_queries,
    #[cfg_attr(miri, ignore = "racing threads, many devices: natively only")]
    transitions_complete_in_every_stream_state_while_the_engines_run,
);
