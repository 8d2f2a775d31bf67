//! Deterministic scheduling: the schedule is an input.
//!
//! A machine made with [`Sim::new_deterministic`](crate::Sim::new_deterministic) runs one of its
//! threads at a time. Its threads (the test's thread that made it, the threads spawned through
//! [`Sim::scope`](crate::Sim::scope), and every system thread the driver creates) are its
//! *participants*. Every call into the model is a point where the scheduler may hand the
//! processor to another participant: each exported routine (DDI and COM method the driver calls),
//! each call the model makes into the driver, spin-lock acquire and release, and every wait. A
//! [`Schedule`] (a seed and a [`Strategy`]) decides each choice, so the same schedule and the
//! same driver replay the same interleaving, step for step: [`Sim::schedule_trace`] returns
//! it as text, and two runs of one schedule return the same bytes.
//!
//! A participant that waits (an event, a spin lock another participant holds, the engine
//! threads quiescing in [`Sim::advance`](crate::Sim::advance), the end of a scope) is not
//! chosen until what it waits for holds. When no participant can run, the driver is
//! deadlocked: the model prints each participant's wait and the schedule that replays it, and
//! aborts the process (the participants' frames are the driver's, which cannot unwind).
//!
//! # Example
//! Two threads calling into the model; one schedule, one interleaving:
//! ```
//! use portcls_sim::sched::KeQueryPerformanceCounter;
//! use portcls_sim::{OsProfile, Schedule, Sim};
//!
//! let trace = |schedule| {
//!     let sim = Sim::new_deterministic(OsProfile::Win10_1511, schedule);
//!     sim.scope(|threads| {
//!         for name in ["a", "b"] {
//!             threads.spawn(name, || {
//!                 for _ in 0..5 {
//!                     // SAFETY: a null frequency pointer is allowed. Each call is a point.
//!                     unsafe { KeQueryPerformanceCounter(std::ptr::null_mut()) };
//!                 }
//!             });
//!         }
//!     });
//!     sim.schedule_trace().unwrap()
//! };
//! assert_eq!(trace(Schedule::random(7)), trace(Schedule::random(7)));
//! assert_ne!(trace(Schedule::random(7)), trace(Schedule::pct(7, 2, 10)));
//! ```
//!
//! This module is the bottom layer of the model: it knows nothing of PortCls or the kernel
//! objects, only participants, their readiness (a predicate over the machine's state `S`) and
//! the choice.
//!
//! [`Sim::schedule_trace`]: crate::Sim::schedule_trace

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::thread::Thread;

/// How the scheduler chooses among the participants that can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// At every point, any runnable participant, uniformly.
    Random,
    /// Probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010): random distinct
    /// priorities, the highest-priority runnable participant always runs, and at `depth - 1`
    /// random points among the first `steps` the running participant drops below every other.
    /// A bug that needs `depth` ordering constraints is found with probability at least
    /// 1 / (participants x steps^(depth - 1)) per schedule.
    Pct {
        /// The bug depth aimed at (1 or more).
        depth: u32,
        /// The expected number of scheduling points (where change points are drawn from).
        steps: u64,
    },
}

/// A schedule: everything that decides an interleaving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The seed of every choice.
    pub seed: u64,
    /// How the choices are made.
    pub strategy: Strategy,
}

impl Schedule {
    /// A [`Strategy::Random`] schedule.
    #[must_use]
    pub const fn random(seed: u64) -> Self {
        Self {
            seed,
            strategy: Strategy::Random,
        }
    }

    /// A [`Strategy::Pct`] schedule.
    #[must_use]
    pub const fn pct(seed: u64, depth: u32, steps: u64) -> Self {
        Self {
            seed,
            strategy: Strategy::Pct { depth, steps },
        }
    }

    /// Parses what [`Display`](fmt::Display) writes: `random:SEED` or `pct:SEED:DEPTH:STEPS`.
    ///
    /// # Errors
    /// A message naming what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let number = |s: &str| {
            s.parse::<u64>()
                .map_err(|e| format!("schedule {text:?}: {s:?} is not a number ({e})"))
        };
        match parts.as_slice() {
            ["random", seed] => Ok(Self::random(number(seed)?)),
            ["pct", seed, depth, steps] => {
                let depth = u32::try_from(number(depth)?)
                    .map_err(|_| format!("schedule {text:?}: depth too large"))?;
                Ok(Self::pct(number(seed)?, depth, number(steps)?))
            }
            _ => Err(format!(
                "schedule {text:?}: expected random:SEED or pct:SEED:DEPTH:STEPS"
            )),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.strategy {
            Strategy::Random => write!(f, "random:{}", self.seed),
            Strategy::Pct { depth, steps } => write!(f, "pct:{}:{depth}:{steps}", self.seed),
        }
    }
}

/// `SplitMix64`: small, fast, and the same sequence on every host.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), by rejection so no value is favoured.
    fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let value = self.next();
            if value < zone {
                return value % n;
            }
        }
    }
}

/// Whether a participant can be chosen, judged on the machine's state (with its scheduler
/// taken out).
type Ready<S> = Box<dyn Fn(&S) -> bool + Send>;

/// What a waiting participant waits for.
enum Until<S> {
    /// A condition on the machine's state.
    Ready(Ready<S>),
    /// These participants to finish.
    Finished(Vec<usize>),
}

/// One thread of the machine under the scheduler.
struct Participant<S> {
    name: String,
    /// The OS thread, once it has started.
    thread: Option<Thread>,
    /// `Some` while it waits: what must hold for it to run, and the wait in words.
    waiting: Option<(Until<S>, String)>,
    finished: bool,
    /// PCT priority (higher runs first).
    priority: u64,
}

/// The choice of who runs: one per deterministic machine, kept in its state.
pub(crate) struct Scheduler<S> {
    schedule: Schedule,
    rng: Rng,
    participants: Vec<Participant<S>>,
    /// The participant that holds the processor.
    current: usize,
    /// Scheduling points so far.
    steps: u64,
    /// PCT change points still to come, ascending.
    change_points: Vec<u64>,
    /// The next priority a change point gives (counts up from 1, below every initial one).
    next_low: u64,
    /// The trace: (participant, label id) per point, while shorter than [`Self::KEPT`].
    trace: Vec<(u32, u32)>,
    labels: Vec<String>,
    label_ids: HashMap<String, u32>,
    /// FNV-1a of every point, kept however long the run.
    digest: u64,
    /// What a deadlock report ends with (how to replay the run, say).
    pub(crate) note: String,
}

impl<S> fmt::Debug for Scheduler<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("schedule", &self.schedule)
            .field("participants", &self.participants.len())
            .field("current", &self.current)
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

/// What [`Scheduler::choose`] decided.
#[derive(Debug)]
pub(crate) enum Choice {
    /// The caller keeps the processor.
    Stay,
    /// Another participant runs: unpark it (if it has started) and wait for the processor.
    Switch(Option<Thread>),
    /// Nobody can run: the report.
    Deadlock(String),
}

/// Whether every one of `ids` among `participants` has finished.
fn finished<S>(participants: &[Participant<S>], ids: &[usize]) -> bool {
    ids.iter()
        .all(|&id| participants.get(id).is_none_or(|p| p.finished))
}

impl<S> Scheduler<S> {
    /// Trace entries kept verbatim (the digest covers the rest).
    const KEPT: usize = 1 << 20;

    /// A scheduler whose participant 0 (named `main`) is the calling thread.
    pub(crate) fn new(schedule: Schedule) -> Self {
        let mut rng = Rng(schedule.seed);
        let mut change_points = Vec::new();
        if let Strategy::Pct { depth, steps } = schedule.strategy {
            for _ in 1..depth.max(1) {
                change_points.push(1 + rng.below(steps.max(1)));
            }
            change_points.sort_unstable();
        }
        let mut scheduler = Self {
            schedule,
            rng,
            participants: Vec::new(),
            current: 0,
            steps: 0,
            change_points,
            next_low: 1,
            trace: Vec::new(),
            labels: Vec::new(),
            label_ids: HashMap::new(),
            digest: 0xCBF2_9CE4_8422_2325,
            note: String::new(),
        };
        let main = scheduler.add("main");
        scheduler.participants[main].thread = Some(std::thread::current());
        scheduler
    }

    /// The schedule this scheduler follows.
    pub(crate) fn schedule(&self) -> Schedule {
        self.schedule
    }

    /// Adds a participant (it runs only once chosen) and returns its number.
    pub(crate) fn add(&mut self, name: &str) -> usize {
        let depth = match self.schedule.strategy {
            Strategy::Pct { depth, .. } => u64::from(depth),
            Strategy::Random => 0,
        };
        // Initial priorities lie above every change point's (which count up from 1).
        let priority = depth + 1 + self.rng.below(1 << 32);
        self.participants.push(Participant {
            name: name.to_owned(),
            thread: None,
            waiting: None,
            finished: false,
            priority,
        });
        self.participants.len() - 1
    }

    /// Records the OS thread of participant `id`; true if it holds the processor already.
    pub(crate) fn started(&mut self, id: usize) -> bool {
        if let Some(p) = self.participants.get_mut(id) {
            p.thread = Some(std::thread::current());
        }
        self.current == id
    }

    /// The participant holding the processor.
    pub(crate) fn current(&self) -> usize {
        self.current
    }

    /// Marks participant `id` finished: it is never chosen again.
    pub(crate) fn finish(&mut self, id: usize) {
        if let Some(p) = self.participants.get_mut(id) {
            p.finished = true;
            p.waiting = None;
        }
    }

    /// Whether every participant in `ids` has finished.
    pub(crate) fn all_finished(&self, ids: &[usize]) -> bool {
        finished(&self.participants, ids)
    }

    /// Participant `id` waits until `ready` holds (described by `what`).
    pub(crate) fn wait(&mut self, id: usize, ready: Ready<S>, what: String) {
        if let Some(p) = self.participants.get_mut(id) {
            p.waiting = Some((Until::Ready(ready), what));
        }
    }

    /// Participant `id` waits until participants `ids` have finished (described by `what`).
    pub(crate) fn wait_for_finish(&mut self, id: usize, ids: Vec<usize>, what: String) {
        if let Some(p) = self.participants.get_mut(id) {
            p.waiting = Some((Until::Finished(ids), what));
        }
    }

    /// Participant `id` runs again (its wait is over).
    pub(crate) fn resume(&mut self, id: usize) {
        if let Some(p) = self.participants.get_mut(id) {
            p.waiting = None;
        }
    }

    fn label(&mut self, label: &str) -> u32 {
        if let Some(&id) = self.label_ids.get(label) {
            return id;
        }
        let id = u32::try_from(self.labels.len()).unwrap_or(u32::MAX);
        self.labels.push(label.to_owned());
        self.label_ids.insert(label.to_owned(), id);
        id
    }

    /// A scheduling point of participant `me` (the current one) at `label`: chooses who runs
    /// next among the participants `state` lets run.
    pub(crate) fn choose(&mut self, state: &S, me: usize, label: &str) -> Choice {
        self.steps += 1;
        let label = self.label(label);
        let who = u32::try_from(me).unwrap_or(u32::MAX);
        if self.trace.len() < Self::KEPT {
            self.trace.push((who, label));
        }
        for byte in who.to_le_bytes().into_iter().chain(label.to_le_bytes()) {
            self.digest = (self.digest ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3);
        }
        while self
            .change_points
            .first()
            .is_some_and(|&at| at <= self.steps)
        {
            self.change_points.remove(0);
            if let Some(p) = self.participants.get_mut(me) {
                p.priority = self.next_low;
            }
            self.next_low += 1;
        }
        // Two passes over the participants instead of a list: no allocation per point.
        let participants = &self.participants;
        let runnable = |id: usize| {
            let p = &participants[id];
            !p.finished
                && p.waiting.as_ref().is_none_or(|(until, _)| match until {
                    Until::Ready(ready) => ready(state),
                    Until::Finished(ids) => finished(participants, ids),
                })
        };
        let ids = 0..self.participants.len();
        let next = match self.schedule.strategy {
            Strategy::Random => {
                let count = ids.clone().filter(|&id| runnable(id)).count();
                let len = u64::try_from(count).unwrap_or(u64::MAX);
                let pick = (len > 0).then(|| self.rng.below(len));
                pick.and_then(|k| {
                    let k = usize::try_from(k).unwrap_or(0);
                    ids.filter(|&id| runnable(id)).nth(k)
                })
            }
            Strategy::Pct { .. } => ids
                .filter(|&id| runnable(id))
                .max_by_key(|&id| (participants[id].priority, std::cmp::Reverse(id))),
        };
        let Some(next) = next else {
            return Choice::Deadlock(self.deadlock_report());
        };
        if next == me {
            return Choice::Stay;
        }
        self.current = next;
        Choice::Switch(self.participants[next].thread.clone())
    }

    fn deadlock_report(&self) -> String {
        let mut report = format!(
            "deadlock: no participant can run (schedule {}, step {})\n",
            self.schedule, self.steps
        );
        for (id, p) in self.participants.iter().enumerate() {
            let what = if p.finished {
                "finished".to_owned()
            } else {
                p.waiting.as_ref().map_or_else(
                    || "runnable".to_owned(),
                    |(_, what)| format!("waits for {what}"),
                )
            };
            let _ = writeln!(report, "  #{id} {}: {what}", p.name);
        }
        report.push_str("last points:\n");
        report.push_str(&self.trace_text(self.trace.len().saturating_sub(16)));
        report.push_str(&self.note);
        report
    }

    /// The trace from entry `from` on, a line per point: `step participant-name label`.
    fn trace_text(&self, from: usize) -> String {
        let mut text = String::new();
        for (step, &(who, label)) in self.trace.iter().enumerate().skip(from) {
            let name = self
                .participants
                .get(who as usize)
                .map_or("?", |p| p.name.as_str());
            let label = self.labels.get(label as usize).map_or("?", String::as_str);
            let _ = writeln!(text, "{step} #{who} {name} {label}");
        }
        text
    }

    /// The whole trace as text, then the step count and digest.
    pub(crate) fn text(&self) -> String {
        let mut text = self.trace_text(0);
        if self.trace.len() < usize::try_from(self.steps).unwrap_or(usize::MAX) {
            text.push_str("(trace cut; the digest covers every point)\n");
        }
        let _ = writeln!(
            text,
            "schedule {}: {} points, digest {:016x}",
            self.schedule, self.steps, self.digest
        );
        text
    }

    /// Scheduling points so far.
    pub(crate) fn steps(&self) -> u64 {
        self.steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_print_and_parse_back() {
        for schedule in [Schedule::random(7), Schedule::pct(u64::MAX, 3, 5000)] {
            assert_eq!(Schedule::parse(&schedule.to_string()), Ok(schedule));
        }
        assert!(Schedule::parse("random").unwrap_err().contains("expected"));
        assert!(Schedule::parse("pct:1:x:3").unwrap_err().contains("\"x\""));
    }

    #[test]
    fn the_rng_is_uniform_enough_and_fixed() {
        let mut rng = Rng(1);
        let first: Vec<u64> = (0..3).map(|_| rng.next()).collect();
        let mut again = Rng(1);
        assert_eq!(first, (0..3).map(|_| again.next()).collect::<Vec<_>>());
        let mut counts = [0u32; 3];
        for _ in 0..30_000 {
            counts[usize::try_from(rng.below(3)).unwrap()] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_000..11_000).contains(&c)),
            "{counts:?}"
        );
    }

    /// Three participants that never wait: the same seed chooses the same sequence, another seed
    /// another one, and PCT runs the highest priority until a change point.
    #[test]
    fn choices_follow_the_seed() {
        fn run(schedule: Schedule) -> String {
            let mut s: Scheduler<()> = Scheduler::new(schedule);
            s.add("a");
            s.add("b");
            let mut me = 0;
            for _ in 0..40 {
                if let Choice::Switch(_) = s.choose(&(), me, "point") {
                    me = s.current();
                }
            }
            s.text()
        }
        assert_eq!(run(Schedule::random(5)), run(Schedule::random(5)));
        assert_ne!(run(Schedule::random(5)), run(Schedule::random(6)));
        // PCT without change points: after the first switch one participant runs throughout.
        let text = run(Schedule::pct(9, 1, 40));
        let runners: Vec<&str> = text
            .lines()
            .skip(1)
            .take(39)
            .map(|l| l.split(' ').nth(1).unwrap())
            .collect();
        assert!(runners.windows(2).all(|w| w[0] == w[1]), "{text}");
    }

    /// A waiting participant is not chosen until its predicate holds; with nobody able to run
    /// the report names each wait.
    #[test]
    fn waits_gate_the_choice_and_a_deadlock_is_reported() {
        let mut s: Scheduler<bool> = Scheduler::new(Schedule::random(3));
        let b = s.add("b");
        s.wait(b, Box::new(|open: &bool| *open), "the gate".to_owned());
        for _ in 0..50 {
            assert!(matches!(s.choose(&false, 0, "spin"), Choice::Stay));
        }
        s.wait(0, Box::new(|_: &bool| false), "nothing".to_owned());
        let Choice::Deadlock(report) = s.choose(&false, 0, "stuck") else {
            panic!("no deadlock reported");
        };
        assert!(report.contains("#0 main: waits for nothing"), "{report}");
        assert!(report.contains("#1 b: waits for the gate"), "{report}");
        assert!(report.contains("schedule random:3"), "{report}");
        assert!(matches!(s.choose(&true, 0, "open"), Choice::Switch(None)));
        assert_eq!(s.current(), b);
    }
}
