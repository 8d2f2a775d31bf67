//! The driver's races under the model's deterministic scheduler: one thread runs at a time and a
//! seeded schedule decides every switch (at each call into the model, each call into the
//! driver, each spin-lock acquire and release, each wait), so each interleaving explored here
//! replays exactly from its schedule.
//!
//! Scenarios: position queries and state changes racing the engine; stop, surprise removal and
//! removal arriving with the streams in each KS state while the clock runs; D-state changes in
//! the middle of a period; the render and capture streams opening and closing concurrently.
//! Each runs under every OS profile the driver loads on, for every schedule: half random, half
//! PCT (probabilistic concurrency testing). Invariants: no torn or partial-frame position,
//! notifications exact afterwards (none missed, none doubled), nothing registered across a
//! transition, no verifier finding, nothing leaked; a deadlock (no thread can run) aborts the
//! run with each thread's wait and the schedule.
//!
//! `PORTCLS_SCHEDULES=N` runs N schedules per scenario and profile (default 4),
//! `PORTCLS_SCHEDULE_BASE=S` starts their seeds at S (default 0; `cargo xtask explore` picks a
//! new base each run), and `PORTCLS_REPLAY=BUILD/SCHEDULE[/CASE]` replays the one run a failure
//! printed (`10586/pct:17:3:900/5`).

mod common;

use common::{Shared, bring_up, loadable_profiles, open_in_state};
use portcls_sim::{OsProfile, PnpRequest, Schedule, Sim, Strategy};
use portcls_sys::ks::{KSAUDIO_POSITION, KSSTATE};
use portcls_sys::{NT_SUCCESS, STATUS_SUCCESS};

/// The host pins' buffer (1920 bytes) and frame (4 bytes) as `open_in_state` opens them.
const BUFFER: u64 = 1920;
const FRAME: u64 = 4;
/// Virtual time steps of the racing clock: 0.7 ms, so moves land inside the 2.5 ms periods.
const STEP: u64 = 7_000;
/// 10 ms of virtual time: two notification points, four engine periods.
const TEN_MS: u64 = 100_000;

/// One run: a scenario body on a fresh deterministic machine, with its case number.
type Body = fn(&Sim, usize);

/// What one run of [`explore`] is: the profile, the schedule and the case.
#[derive(Clone, Copy, Debug)]
struct Run {
    profile: OsProfile,
    schedule: Schedule,
    case: usize,
}

impl Run {
    fn key(self) -> String {
        format!("{}/{}/{}", self.profile.build(), self.schedule, self.case)
    }

    fn parse(text: &str) -> Result<Self, String> {
        let mut parts = text.splitn(3, '/');
        let build = parts.next().unwrap_or_default();
        let schedule = parts.next().ok_or(format!("{text:?}: no schedule"))?;
        let case = parts.next().unwrap_or("0");
        let profile = OsProfile::ALL
            .into_iter()
            .find(|p| p.build().to_string() == build)
            .ok_or(format!("{text:?}: no profile has build {build}"))?;
        Ok(Self {
            profile,
            schedule: Schedule::parse(schedule)?,
            case: case
                .parse()
                .map_err(|e| format!("{text:?}: case {case:?}: {e}"))?,
        })
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|e| panic!("{name}={v:?} is not a number: {e}"))
    })
}

/// Runs `body` for each of `cases` on a fresh deterministic machine per profile, schedule and
/// case, after the `regressions` (runs that once failed, as `PORTCLS_REPLAY` names them), and
/// returns the runs and scheduling points explored. A failing run prints the command that
/// replays it.
fn explore(name: &str, cases: usize, body: Body, regressions: &[&str]) -> (u64, u64) {
    // (A host build that links the export does not load on 8.1: its regressions are skipped.)
    let loadable: Vec<OsProfile> = loadable_profiles().collect();
    let regressions = regressions
        .iter()
        .map(|r| Run::parse(r).unwrap())
        .filter(|run| loadable.contains(&run.profile));
    let runs: Vec<Run> = if let Ok(text) = std::env::var("PORTCLS_REPLAY") {
        vec![Run::parse(&text).unwrap_or_else(|e| panic!("PORTCLS_REPLAY={e}"))]
    } else {
        let count = env_number("PORTCLS_SCHEDULES", 4);
        let base = env_number("PORTCLS_SCHEDULE_BASE", 0);
        let mut runs = Vec::new();
        for profile in loadable_profiles() {
            for i in 0..count {
                let seed = base.wrapping_add(i);
                // Even: random; odd: PCT aiming at depth 2 and 3 in turn, its change points
                // drawn over the length of the run before it (steps 0: filled in below).
                let schedule = if i % 2 == 0 {
                    Schedule::random(seed)
                } else {
                    Schedule::pct(seed, 2 + u32::from(i % 4 == 3), 0)
                };
                runs.extend((0..cases).map(|case| Run {
                    profile,
                    schedule,
                    case,
                }));
            }
        }
        regressions.chain(runs).collect()
    };
    let driver = match common::driver() {
        common::Driver::Host => "host",
        common::Driver::Image => "image",
    };
    let mut points = 0;
    // Scheduling points of the last run per profile and case: the length PCT draws over.
    let mut lengths = std::collections::BTreeMap::<(u32, usize), u64>::new();
    for run in &runs {
        let mut run = *run;
        let length = lengths.get(&(run.profile.build(), run.case)).copied();
        if let Strategy::Pct { depth, steps: 0 } = run.schedule.strategy {
            run.schedule = Schedule::pct(run.schedule.seed, depth, length.unwrap_or(1_000));
        }
        let replay = format!(
            "replay: PORTCLS_REPLAY={} cargo test --test schedules -- {driver}::{name} --exact",
            run.key()
        );
        let sim = Sim::new_deterministic(run.profile, run.schedule);
        sim.set_schedule_note(&replay);
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&sim, run.case)));
        if let Err(panic) = outcome {
            eprintln!("schedules: {name} failed; {replay}");
            std::panic::resume_unwind(panic);
        }
        points += sim.schedule_points();
        lengths.insert((run.profile.build(), run.case), sim.schedule_points());
    }
    let runs = u64::try_from(runs.len()).unwrap_or(u64::MAX);
    println!("schedules: {name}: {runs} runs, {points} scheduling points");
    (runs, points)
}

/// Positions polled and the state flipped between RUN and PAUSE from two threads while a
/// third moves the clock (so the engine runs): every position is a whole frame inside the
/// buffer, and afterwards 50 ms of RUN signal exactly ten notifications.
fn race(sim: &Sim, _case: usize) {
    let device = bring_up(sim);
    let mut stream = open_in_state(sim, &device, false, 3);
    let shared = Shared(stream.raw());
    sim.scope(|s| {
        s.spawn("positions", || {
            let get_position = shared.vtable().GetPosition;
            for _ in 0..40 {
                let mut position = KSAUDIO_POSITION {
                    PlayOffset: u64::MAX,
                    WriteOffset: u64::MAX,
                };
                // SAFETY: a live stream and a writable position.
                assert!(NT_SUCCESS(unsafe {
                    get_position(shared.0, &raw mut position)
                }));
                for offset in [position.PlayOffset, position.WriteOffset] {
                    assert!(offset < BUFFER, "torn position {offset}");
                    assert_eq!(offset % FRAME, 0, "position inside a frame: {offset}");
                }
            }
        });
        s.spawn("states", || {
            let set_state = shared.vtable().SetState;
            for state in [2, 3].into_iter().cycle().take(10) {
                // SAFETY: a live stream; one thread changes state, as PortCls serialises.
                let status = unsafe { set_state(shared.0, KSSTATE(state)) };
                assert_eq!(status, STATUS_SUCCESS);
            }
        });
        for _ in 0..15 {
            sim.advance(STEP);
        }
    });
    // The flips ended in RUN. A pause catches up at once, so a point crossed at the last
    // flip may have been signalled early: count from two engine periods later.
    stream.assume_state(3);
    sim.advance(TEN_MS / 2);
    let signals = stream.event_signals();
    sim.advance(5 * TEN_MS);
    assert_eq!(stream.event_signals() - signals, 10, "missed or doubled");
    stream.close();
    sim.remove_device(device.fdo);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.assert_clean();
}

/// The PnP request of case / 4 (stop, surprise removal, removal) arrives with both streams
/// in KS state case % 4 while another thread moves the clock: it succeeds, nothing stays
/// registered, and the device comes down and the driver unloads clean.
fn pnp_mid_period(sim: &Sim, case: usize) {
    let request = [
        PnpRequest::Stop,
        PnpRequest::SurpriseRemoval,
        PnpRequest::Remove,
    ][case / 4];
    let state = u32::try_from(case % 4).unwrap_or(0);
    let device = bring_up(sim);
    let streams: Vec<_> = [false, true]
        .into_iter()
        .map(|capture| open_in_state(sim, &device, capture, state))
        .collect();
    let status = sim.scope(|s| {
        s.spawn("clock", || {
            for _ in 0..8 {
                sim.advance(STEP);
            }
        });
        sim.pnp(device.fdo, request)
    });
    let what = format!("{request:?} in KSSTATE {state}");
    common::after_transition(sim, &device, request, status, streams, &what);
}

/// D1, D2 or D3 (case 0, 1, 2) and back to D0 while the clock runs on another thread, with
/// both streams in RUN: the registrations come back, and 100 ms later the render stream has
/// signalled exactly twenty notifications.
fn power_mid_period(sim: &Sim, case: usize) {
    let low = 2 + u32::try_from(case).unwrap_or(0);
    let device = bring_up(sim);
    let render = open_in_state(sim, &device, false, 3);
    let capture = open_in_state(sim, &device, true, 3);
    let registered = sim.registrations().len();
    sim.scope(|s| {
        s.spawn("clock", || {
            for _ in 0..8 {
                sim.advance(STEP);
            }
        });
        sim.set_power(device.fdo, low).unwrap();
        sim.set_power(device.fdo, 1).unwrap();
    });
    assert_eq!(sim.registrations().len(), registered);
    // Time may pass between the new engine's start and the stream's resume (the clock thread
    // runs in between): count from two engine periods after both.
    sim.advance(TEN_MS / 2);
    let signals = render.event_signals();
    sim.advance(10 * TEN_MS);
    assert_eq!(render.event_signals() - signals, 20, "D{}", low - 1);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    render.close();
    capture.close();
    sim.remove_device(device.fdo);
    sim.assert_clean();
}

/// The render and the capture stream each opened, run and closed three times, from two
/// threads at once, while a third moves the clock.
fn streams_open_and_close_together(sim: &Sim, _case: usize) {
    let device = bring_up(sim);
    sim.scope(|s| {
        for capture in [false, true] {
            let device = &device;
            s.spawn(if capture { "capture" } else { "render" }, move || {
                for _ in 0..3 {
                    open_in_state(sim, device, capture, 3).close();
                }
            });
        }
        for _ in 0..10 {
            sim.advance(STEP);
        }
    });
    assert!(sim.registrations().is_empty());
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.remove_device(device.fdo);
    assert_eq!(sim.unload_driver(), Ok(()));
    sim.assert_clean();
}

/// Found by `cargo xtask explore`: a pause at the last flip signalled a point early, which the
/// notification count after the race did not allow for (the test's invariant was wrong).
const RACE_REGRESSIONS: &[&str] = &["9600/random:1796126375/0"];

/// Found by `cargo xtask explore`: a pool block holding the old engine's stop event was freed
/// and its address reused for the new engine's thread object; the model still knew the old,
/// signalled event there, so waiting for the thread returned at once and the thread was left
/// running (the model now forgets events with their memory). Which run failed changed from
/// run to run, with the heap's addresses.
///
/// And a test bug: with the clock thread moving time between the new engine's start and the
/// stream's resume at D0, the engine's ticks and the stream's crossings had different phases,
/// so a 100 ms count from the moment of the resume could see 19 (`9600/pct:1796130130:3:2000/0`).
const POWER_REGRESSIONS: &[&str] = &[
    "10240/pct:1796126376:2:2000/0",
    "10240/pct:1796126378:3:2000/1",
    "10240/pct:1796126386:3:2000/2",
    "9600/pct:1796130130:3:2000/0",
];

fn positions_and_state_changes_race_the_engine() {
    let name = "positions_and_state_changes_race_the_engine";
    explore(name, 1, race, RACE_REGRESSIONS);
}

fn pnp_arrives_in_every_stream_state_mid_period() {
    let name = "pnp_arrives_in_every_stream_state_mid_period";
    explore(name, 12, pnp_mid_period, &[]);
}

fn power_changes_mid_period() {
    explore(
        "power_changes_mid_period",
        3,
        power_mid_period,
        POWER_REGRESSIONS,
    );
}

/// Found by `cargo xtask explore`: the model's client freed its notification event with the
/// stream handle but the model kept the event; a new engine's thread object at the reused
/// address was taken for it, and closing the stream waited for ever on the thread (a deadlock
/// report: the thread had finished). The model now forgets the event with the handle, and any
/// event at a new object's address. (It depended on the heap's addresses, so this seed alone
/// may not show it.)
const OPEN_CLOSE_REGRESSIONS: &[&str] = &["9600/pct:1796130340:2:2000/0"];

fn two_streams_open_and_close_concurrently() {
    let name = "two_streams_open_and_close_concurrently";
    explore(
        name,
        1,
        streams_open_and_close_together,
        OPEN_CLOSE_REGRESSIONS,
    );
}

/// The same schedule replays the same interleaving, point for point; another seed (or the
/// other strategy) gives another.
fn a_schedule_replays_byte_for_byte() {
    let trace = |schedule| {
        let sim = Sim::new_deterministic(OsProfile::Win10_1511, schedule);
        race(&sim, 0);
        sim.schedule_trace().unwrap()
    };
    let first = trace(Schedule::random(42));
    if std::env::var_os("PORTCLS_PRINT_TRACE").is_some() {
        println!("{first}");
    }
    assert!(first.lines().count() > 500, "{first}");
    assert_eq!(first, trace(Schedule::random(42)));
    assert_ne!(first, trace(Schedule::random(43)));
    let pct = trace(Schedule::pct(42, 3, 2_000));
    assert_eq!(pct, trace(Schedule::pct(42, 3, 2_000)));
    assert_ne!(first, pct);
    println!(
        "schedules: random:42 replayed: {}",
        first.lines().last().unwrap_or_default()
    );
    // The runs that once replayed differently (the heap's addresses leaked into the model's
    // answers), ten times each.
    for text in POWER_REGRESSIONS {
        let run = Run::parse(text).unwrap();
        if !loadable_profiles().any(|p| p == run.profile) {
            continue;
        }
        let trace = || {
            let sim = Sim::new_deterministic(run.profile, run.schedule);
            power_mid_period(&sim, run.case);
            sim.schedule_trace().unwrap()
        };
        let once = trace();
        for _ in 0..10 {
            assert_eq!(once, trace(), "{text}");
        }
    }
}

thread_local! {
    static TRACES: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The race under eight schedules on Windows 10 1511, each trace kept.
fn race_traces() {
    for seed in 0..8 {
        let schedule = if seed % 2 == 0 {
            Schedule::random(seed)
        } else {
            Schedule::pct(seed, 3, 2_000)
        };
        let sim = Sim::new_deterministic(OsProfile::Win10_1511, schedule);
        race(&sim, 0);
        TRACES.with(|t| t.borrow_mut().push(sim.schedule_trace().unwrap()));
    }
}

/// The host build and the shipped image make the same calls in the same order, so under one
/// schedule they run the same interleaving, point for point.
#[test]
#[cfg(not(miri))]
fn host_build_and_image_run_the_same_interleavings() {
    common::with_driver(common::Driver::Host, race_traces);
    let host = TRACES.with(std::cell::RefCell::take);
    common::with_driver(common::Driver::Image, race_traces);
    let image = TRACES.with(std::cell::RefCell::take);
    assert_eq!(host.len(), 8);
    for (host, image) in host.iter().zip(&image) {
        assert_eq!(host, image);
    }
}

both_drivers!(
    #[cfg_attr(miri, ignore = "thousands of thread switches: natively only")]
    positions_and_state_changes_race_the_engine,
    #[cfg_attr(miri, ignore = "thousands of thread switches: natively only")]
    pnp_arrives_in_every_stream_state_mid_period,
    #[cfg_attr(miri, ignore = "thousands of thread switches: natively only")]
    power_changes_mid_period,
    #[cfg_attr(miri, ignore = "thousands of thread switches: natively only")]
    two_streams_open_and_close_concurrently,
    #[cfg_attr(miri, ignore = "thousands of thread switches: natively only")]
    a_schedule_replays_byte_for_byte,
);
