//! Virtual time, events and system threads.
//!
//! Time in the model is virtual (100 ns units) and only moves when a test calls
//! [`Sim::advance`](crate::Sim::advance). System threads the driver creates are real threads, but
//! the model runs them in lock step with the test: `advance` moves the clock to the next timeout
//! of a waiting system thread, lets that thread run until it waits again (or exits), and repeats
//! until the target time. So a simulated day of streaming takes as long as its work, not a day,
//! and every run sees the same sequence of counter values.

use std::cell::Cell;
use std::ffi::c_void;
use std::sync::{Arc, Condvar, MutexGuard, PoisonError};

use crate::deterministic::Choice;

use portcls_sys::{NTSTATUS, PVOID, STATUS_INVALID_PARAMETER, STATUS_SUCCESS};

use crate::world::{State, World};
use crate::{Ddi, Resource, Violation, current_irql, with_world};

/// `STATUS_TIMEOUT` (0x00000102): a wait's time-out expired.
pub const STATUS_TIMEOUT: NTSTATUS = 0x0000_0102;
/// `NotificationEvent`: stays signalled until cleared, releases every waiter.
pub const NOTIFICATION_EVENT: i32 = 0;
/// `SynchronizationEvent`: releases one waiter and resets itself.
pub const SYNCHRONIZATION_EVENT: i32 = 1;
/// Virtual time units per second (the kernel's 100 ns interval unit).
pub const TICKS_PER_SECOND: u64 = 10_000_000;

thread_local! {
    /// The thread object of the system thread running on this OS thread (0 for other threads).
    static CURRENT_THREAD: Cell<usize> = const { Cell::new(0) };
    /// The deterministic machine (its address) this OS thread is a participant of, and its
    /// number there.
    static PARTICIPANT: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
}

/// The calling thread's participant number on `world`, if it is one.
fn participant(world: &World) -> Option<usize> {
    if !world.deterministic {
        return None;
    }
    let key = std::ptr::from_ref(world).addr();
    PARTICIPANT
        .with(Cell::get)
        .and_then(|(w, id)| (w == key).then_some(id))
}

/// Makes the calling thread participant `id` of `world` until dropped.
#[derive(Debug)]
pub(crate) struct Participation {
    previous: Option<(usize, usize)>,
}

impl Participation {
    pub(crate) fn new(world: &World, id: usize) -> Self {
        let key = std::ptr::from_ref(world).addr();
        let previous = PARTICIPANT.with(|p| p.replace(Some((key, id))));
        Self { previous }
    }
}

impl Drop for Participation {
    fn drop(&mut self) {
        PARTICIPANT.with(|p| p.set(self.previous));
    }
}

/// Runs the scheduler's choice at a point of participant `me` and returns once `me` holds the
/// processor again. A deadlock is printed and aborts the process: every participant is inside
/// the driver's frames, which cannot unwind.
fn choose<'a>(
    world: &'a World,
    mut state: MutexGuard<'a, State>,
    me: usize,
    label: &str,
) -> MutexGuard<'a, State> {
    let Some(mut scheduler) = state.scheduler.take() else {
        return state;
    };
    let choice = scheduler.choose(&state, me, label);
    state.scheduler = Some(scheduler);
    match choice {
        Choice::Stay => state,
        Choice::Switch(thread) => {
            // Woken after the lock is dropped, the chosen thread does not block on it at once.
            drop(state);
            if let Some(thread) = thread {
                thread.unpark();
            }
            wait_turn(world, world.lock(), me)
        }
        Choice::Deadlock(report) => deadlocked(state, &report),
    }
}

fn deadlocked(state: MutexGuard<'_, State>, report: &str) -> ! {
    drop(state);
    eprintln!("portcls-sim: {report}");
    std::process::abort();
}

/// Parks until the scheduler hands participant `me` the processor.
fn wait_turn<'a>(
    world: &'a World,
    mut state: MutexGuard<'a, State>,
    me: usize,
) -> MutexGuard<'a, State> {
    while state.scheduler.as_ref().is_some_and(|s| s.current() != me) {
        drop(state);
        std::thread::park();
        state = world.lock();
    }
    state
}

/// A scheduling point: on a deterministic machine, the scheduler may run another participant
/// here (`label` names the point in the trace). Elsewhere, and for threads that are not
/// participants, nothing happens.
pub(crate) fn point(world: &World, label: &str) {
    if let Some(me) = participant(world) {
        drop(choose(world, world.lock(), me, label));
    }
}

/// Returns `state` once `ready` holds: on a deterministic machine by letting the other
/// participants run (the scheduler chooses this one only when `ready` holds, `what` names the
/// wait in a deadlock report); elsewhere by waiting on the machine's condition variable.
pub(crate) fn block_until<'a>(
    world: &'a World,
    mut state: MutexGuard<'a, State>,
    what: impl FnOnce() -> String,
    ready: impl Fn(&State) -> bool + Send + 'static,
) -> MutexGuard<'a, State> {
    if ready(&state) {
        return state;
    }
    let Some(me) = participant(world) else {
        return sleep_until(&world.changed, state, |s| &mut s.client_waiters, ready);
    };
    if let Some(scheduler) = state.scheduler.as_mut() {
        scheduler.wait(me, Box::new(ready), what());
    }
    let mut state = choose(world, state, me, "wait");
    if let Some(scheduler) = state.scheduler.as_mut() {
        scheduler.resume(me);
    }
    state
}

/// Adds a participant named `name` to a deterministic machine (`None` elsewhere). It runs once
/// its thread calls [`start_participant`] and the scheduler chooses it.
pub(crate) fn add_participant(state: &mut State, name: &str) -> Option<usize> {
    state.scheduler.as_mut().map(|s| s.add(name))
}

/// The first step of participant `id`'s own thread: waits until it is chosen.
pub(crate) fn start_participant(world: &World, id: usize) -> Participation {
    let participation = Participation::new(world, id);
    let mut state = world.lock();
    let chosen = state.scheduler.as_mut().is_some_and(|s| s.started(id));
    if !chosen {
        drop(wait_turn(world, state, id));
    }
    participation
}

/// The last step of participant `id`: it is finished, and another participant runs.
pub(crate) fn finish_participant(world: &World, id: usize) {
    let mut state = world.lock();
    let Some(mut scheduler) = state.scheduler.take() else {
        return;
    };
    scheduler.finish(id);
    let choice = scheduler.choose(&state, id, "finish");
    state.scheduler = Some(scheduler);
    match choice {
        Choice::Stay => {}
        Choice::Switch(thread) => {
            drop(state);
            if let Some(thread) = thread {
                thread.unpark();
            }
        }
        Choice::Deadlock(report) => deadlocked(state, &report),
    }
}

/// Whether the calling thread is a participant of some deterministic machine (a cheap check
/// before the spin-lock fast path).
pub(crate) fn is_participant() -> bool {
    PARTICIPANT.with(Cell::get).is_some()
}

/// On a deterministic machine, waits (letting others run) until no other participant holds the
/// spin lock at `address`, then books it for the caller.
pub(crate) fn spin_acquire(world: &World, address: usize) {
    if participant(world).is_none() {
        return;
    }
    let what = || format!("spin lock {address:#x}");
    let mut state = block_until(world, world.lock(), what, move |s| {
        !s.spins_held.contains(&address)
    });
    state.spins_held.push(address);
}

/// On a deterministic machine, books the spin lock at `address` free and makes a scheduling
/// point.
pub(crate) fn spin_released(world: &World, address: usize) {
    let Some(me) = participant(world) else {
        return;
    };
    let mut state = world.lock();
    state.spins_held.retain(|&a| a != address);
    drop(choose(world, state, me, "KeReleaseSpinLock"));
}

/// Waits (letting the others run) until participants `ids` have all finished.
pub(crate) fn wait_for_participants(world: &World, ids: Vec<usize>) {
    if ids.is_empty() {
        return;
    }
    let what = || "the scope's threads to finish".to_owned();
    let state = world.lock();
    // Judged by the scheduler itself (a predicate would see it taken out of the state).
    if state
        .scheduler
        .as_ref()
        .is_none_or(|s| s.all_finished(&ids))
    {
        return;
    }
    let Some(me) = participant(world) else {
        return;
    };
    let mut state = state;
    if let Some(scheduler) = state.scheduler.as_mut() {
        scheduler.wait_for_finish(me, ids, what());
    }
    let mut state = choose(world, state, me, "wait");
    if let Some(scheduler) = state.scheduler.as_mut() {
        scheduler.resume(me);
    }
}

/// An event the driver initialised.
#[derive(Debug)]
pub(crate) struct EventState {
    synchronization: bool,
    signaled: bool,
    /// How many times `KeSetEvent` signalled it.
    pub(crate) sets: u64,
}

/// A system thread's pending wait.
#[derive(Debug)]
pub(crate) struct Wait {
    object: Option<usize>,
    deadline: Option<u64>,
    outcome: Option<NTSTATUS>,
}

/// What the scheduler keeps about a system thread.
#[derive(Debug, Default)]
pub(crate) struct SystemThread {
    pub(crate) wait: Option<Wait>,
    /// Where the thread sleeps while its wait is pending (machines the host schedules): only
    /// it sleeps here, so a release wakes exactly the thread released.
    wake: Arc<Condvar>,
    /// Whether it sleeps on `wake` now (else a release needs no wake-up).
    sleeping: bool,
}

impl crate::world::ThreadState {
    /// Whether the thread is a system thread waiting on `object` now.
    pub(crate) fn waits_on(&self, object: usize) -> bool {
        self.system
            .as_ref()
            .and_then(|s| s.wait.as_ref())
            .is_some_and(|w| w.outcome.is_none() && w.object == Some(object))
    }
}

/// An advance in progress on a machine the host schedules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Advance {
    target: u64,
    /// The thread object of the caller (0 for a test's thread).
    caller: usize,
    ticket: u64,
}

/// Threads released under the lock, woken once it is dropped (a thread woken while the waker
/// still holds the lock would only block on it again).
#[derive(Default)]
struct Wakes {
    first: [Option<Arc<Condvar>>; 4],
    more: Vec<Arc<Condvar>>,
}

impl Wakes {
    fn push(&mut self, wake: &Arc<Condvar>) {
        match self.first.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some(Arc::clone(wake)),
            None => self.more.push(Arc::clone(wake)),
        }
    }

    fn is_empty(&self) -> bool {
        self.first[0].is_none()
    }

    fn notify(&self) {
        for wake in self.first.iter().flatten().chain(&self.more) {
            wake.notify_one();
        }
    }
}

/// Sleeps on `condvar` (counted in the counter `waiters` picks) until `ready` holds.
fn sleep_until<'a>(
    condvar: &Condvar,
    mut state: MutexGuard<'a, State>,
    waiters: fn(&mut State) -> &mut usize,
    ready: impl Fn(&State) -> bool,
) -> MutexGuard<'a, State> {
    while !ready(&state) {
        *waiters(&mut state) += 1;
        state = condvar.wait(state).unwrap_or_else(PoisonError::into_inner);
        *waiters(&mut state) -= 1;
    }
    state
}

impl State {
    /// Whether every running system thread (other than `except`) is waiting.
    fn quiescent(&self, except: usize) -> bool {
        self.live_system.iter().all(|&address| {
            address == except
                || self.threads.get(&address).is_none_or(|thread| {
                    thread.exited
                        || thread
                            .system
                            .as_ref()
                            .is_none_or(|s| s.wait.as_ref().is_some_and(|w| w.outcome.is_none()))
                })
        })
    }

    /// Consumes a signalled object for a waiter: true if the wait is satisfied now.
    fn try_satisfy(&mut self, object: usize) -> bool {
        if let Some(event) = self.events.get_mut(&object) {
            if event.signaled && event.synchronization {
                event.signaled = false;
                return true;
            }
            return event.signaled;
        }
        self.threads.get(&object).is_some_and(|t| t.exited)
    }

    /// One step of virtual time towards `target`: moves the clock to the next time-out of a
    /// waiting system thread and releases the threads due then (the sleeping ones into
    /// `wakes`), and returns true; with none due by `target`, moves the clock there and
    /// returns false.
    fn step(&mut self, target: u64, wakes: &mut Wakes) -> bool {
        let next = self
            .live_system
            .iter()
            .filter_map(|a| self.threads.get(a)?.system.as_ref()?.wait.as_ref())
            .filter(|w| w.outcome.is_none())
            .filter_map(|w| w.deadline)
            .min();
        match next {
            Some(deadline) if deadline <= target => {
                self.now = self.now.max(deadline);
                let now = self.now;
                for address in &self.live_system {
                    if let Some(system) = self
                        .threads
                        .get_mut(address)
                        .and_then(|t| t.system.as_mut())
                        && let Some(wait) = system.wait.as_mut()
                        && wait.outcome.is_none()
                        && wait.deadline.is_some_and(|d| d <= now)
                    {
                        wait.outcome = Some(STATUS_TIMEOUT);
                        if system.sleeping {
                            wakes.push(&system.wake);
                        }
                    }
                }
                true
            }
            _ => {
                self.now = target;
                false
            }
        }
    }

    /// Takes the next step of the advance in progress if every system thread but its caller
    /// waits, and wakes whom it concerns once the lock is dropped.
    fn step_if_quiescent<'a>(
        world: &'a World,
        mut state: MutexGuard<'a, State>,
    ) -> MutexGuard<'a, State> {
        let Some(advance) = state.advance else {
            return state;
        };
        if !state.quiescent(advance.caller) {
            return state;
        }
        let mut wakes = Wakes::default();
        let released = state.step(advance.target, &mut wakes);
        if !released {
            state.advance = None;
        }
        let clients = state.client_waiters > 0;
        if wakes.is_empty() && released && !clients {
            // Only the caller was due: it carries on without a wake-up.
            return state;
        }
        drop(state);
        wakes.notify();
        if !released {
            world.quiet.notify_all();
        }
        if clients {
            world.changed.notify_all();
        }
        world.lock()
    }

    /// Whether a wait on `object` would be satisfied now (without consuming it).
    fn satisfiable(&self, object: usize) -> bool {
        match self.events.get(&object) {
            Some(event) => event.signaled,
            None => self.threads.get(&object).is_some_and(|t| t.exited),
        }
    }

    /// Releases system threads waiting on `object` as far as its state allows.
    fn release_waiters(&mut self, object: usize) {
        let waiting: Vec<usize> = self
            .live_system
            .iter()
            .copied()
            .filter(|a| self.threads.get(a).is_some_and(|t| t.waits_on(object)))
            .collect();
        for address in waiting {
            if !self.try_satisfy(object) {
                break;
            }
            if let Some(wait) = self
                .threads
                .get_mut(&address)
                .and_then(|t| t.system.as_mut())
                .and_then(|s| s.wait.as_mut())
            {
                wait.outcome = Some(STATUS_SUCCESS);
            }
            if let Some(system) = self.threads.get(&address).and_then(|t| t.system.as_ref())
                && system.sleeping
            {
                system.wake.notify_one();
            }
        }
    }

    /// Marks a system thread exited: its running reference goes, waiters on it are released,
    /// and exiting while registered as a stream resource is a violation.
    pub(crate) fn thread_exited(&mut self, address: usize) {
        if self.registered(&Resource::Thread(address)) {
            self.violate(Violation::ThreadGoneWhileRegistered { thread: address });
        }
        self.live_system.remove(&address);
        if let Some(thread) = self.threads.get_mut(&address) {
            thread.exited = true;
            if thread.system.is_some() {
                thread.refs = thread.refs.saturating_sub(1);
            }
        }
        self.release_waiters(address);
    }

    /// The counter value at the current virtual time: floor(now * frequency / 10^7), exact.
    pub(crate) fn counter(&self) -> i64 {
        let value =
            u128::from(self.now) * u128::from(self.qpc_frequency) / u128::from(TICKS_PER_SECOND);
        i64::try_from(value).unwrap_or(i64::MAX)
    }
}

/// Waits for `object` (or only for time) the way the kernel does, in virtual time.
fn wait(world: &World, ddi: Ddi, object: Option<usize>, timeout: Option<i64>) -> NTSTATUS {
    let me = CURRENT_THREAD.with(Cell::get);
    let irql = current_irql();
    let mut state = world.lock();
    // A zero time-out is a poll, allowed up to DISPATCH_LEVEL; any real wait needs < DISPATCH.
    let polling = timeout == Some(0);
    if irql >= portcls_sys::km::DISPATCH_LEVEL && !polling {
        state.violate(Violation::IrqlTooHigh { ddi, irql });
        return STATUS_INVALID_PARAMETER;
    }
    if let Some(object) = object {
        if !state.events.contains_key(&object) && !state.threads.contains_key(&object) {
            state.violate(Violation::BadObject { ddi, object });
            return STATUS_INVALID_PARAMETER;
        }
        if state.try_satisfy(object) {
            return STATUS_SUCCESS;
        }
    }
    // Relative time-outs are negative, in 100 ns units; absolute ones count from the start.
    let deadline = timeout.map(|t| {
        if t < 0 {
            state.now.saturating_add(t.unsigned_abs())
        } else {
            t.unsigned_abs()
        }
    });
    if deadline.is_some_and(|d| d <= state.now) {
        return crate::sched::STATUS_TIMEOUT;
    }
    let system = state.threads.get(&me).is_some_and(|t| t.system.is_some());
    if system {
        if let Some(thread) = state.threads.get_mut(&me).and_then(|t| t.system.as_mut()) {
            thread.wait = Some(Wait {
                object,
                deadline,
                outcome: None,
            });
        }
        let outcome = move |state: &State| {
            state
                .threads
                .get(&me)
                .and_then(|t| t.system.as_ref())
                .and_then(|s| s.wait.as_ref())
                .and_then(|w| w.outcome)
        };
        let mut state = if participant(world).is_some() {
            let what = || wait_text(object, deadline);
            block_until(world, state, what, move |s| outcome(s).is_some())
        } else {
            sleep_released(world, state, me)
        };
        let result = outcome(&state).unwrap_or(STATUS_SUCCESS);
        if let Some(thread) = state.threads.get_mut(&me).and_then(|t| t.system.as_mut()) {
            thread.wait = None;
        }
        return result;
    }
    // A thread of the test (the "client" side): it waits for real; time moves only by advance.
    loop {
        if object.is_some_and(|o| state.try_satisfy(o)) {
            return STATUS_SUCCESS;
        }
        if deadline.is_some_and(|d| d <= state.now) {
            return STATUS_TIMEOUT;
        }
        let what = || wait_text(object, deadline);
        state = block_until(world, state, what, move |s| {
            object.is_some_and(|o| s.satisfiable(o)) || deadline.is_some_and(|d| d <= s.now)
        });
    }
}

/// A wait in words, for a deadlock report.
fn wait_text(object: Option<usize>, deadline: Option<u64>) -> String {
    match (object, deadline) {
        (Some(object), Some(deadline)) => format!("object {object:#x} or time {deadline}"),
        (Some(object), None) => format!("object {object:#x}"),
        (None, Some(deadline)) => format!("time {deadline}"),
        (None, None) => "nothing".to_owned(),
    }
}

/// On a machine the host schedules: system thread `me` has just begun to wait. The last thread
/// to wait takes the advance's next step (maybe releasing itself), then sleeps on its own
/// condition variable until released.
fn sleep_released<'a>(
    world: &'a World,
    state: MutexGuard<'a, State>,
    me: usize,
) -> MutexGuard<'a, State> {
    let mut state = State::step_if_quiescent(world, state);
    if state.quiet_waiters > 0 || state.advancers > 0 {
        world.quiet.notify_all();
    }
    if state.client_waiters > 0 {
        world.changed.notify_all();
    }
    let wake = match state.threads.get(&me).and_then(|t| t.system.as_ref()) {
        Some(system) => Arc::clone(&system.wake),
        None => return state,
    };
    loop {
        let Some(system) = state.threads.get_mut(&me).and_then(|t| t.system.as_mut()) else {
            return state;
        };
        if system.wait.as_ref().is_none_or(|w| w.outcome.is_some()) {
            return state;
        }
        system.sleeping = true;
        state = wake.wait(state).unwrap_or_else(PoisonError::into_inner);
        if let Some(system) = state.threads.get_mut(&me).and_then(|t| t.system.as_mut()) {
            system.sleeping = false;
        }
    }
}

/// Moves virtual time forward by `ticks`, running system threads in lock step.
pub(crate) fn advance(world: &World, ticks: u64) {
    let me = CURRENT_THREAD.with(Cell::get);
    let mut state = world.lock();
    let target = state.now.saturating_add(ticks);
    if participant(world).is_some() {
        // Deterministic: the scheduler runs the released threads; this one takes every step.
        loop {
            let what = || "the system threads to wait".to_owned();
            state = block_until(world, state, what, move |s| s.quiescent(me));
            if !state.step(target, &mut Wakes::default()) {
                return;
            }
        }
    }
    // One advance at a time; then the steps are taken here while the system is quiescent, and
    // otherwise by the system thread whose wait makes it so: one wake-up per step instead of
    // one to every thread and back. A thread that exits instead of waiting wakes this one
    // (`quiet`), which takes the step.
    state = sleep_until(
        &world.quiet,
        state,
        |s| &mut s.advancers,
        |s| s.advance.is_none(),
    );
    state.advances += 1;
    let mine = Advance {
        target,
        caller: me,
        ticket: state.advances,
    };
    state.advance = Some(mine);
    while state.advance == Some(mine) {
        state = sleep_until(
            &world.quiet,
            state,
            |s| &mut s.advancers,
            |s| s.advance != Some(mine) || s.quiescent(me),
        );
        state = State::step_if_quiescent(world, state);
    }
}

portcls_sys::kernel_abi! {
    /// `KeQueryPerformanceCounter`: the virtual counter, and its frequency if asked.
    ///
    /// # Safety
    /// `frequency` is null or writable.
    #[unsafe(no_mangle)]
    pub unsafe fn KeQueryPerformanceCounter(frequency: *mut i64) -> i64 {
        with_world("KeQueryPerformanceCounter", |world| {
            let state = world.lock();
            if !frequency.is_null() {
                // SAFETY: writable (caller's contract).
                unsafe { frequency.write(i64::try_from(state.qpc_frequency).unwrap_or(i64::MAX)) };
            }
            state.counter()
        })
    }
}

portcls_sys::kernel_abi! {
    /// `KeInitializeEvent`.
    ///
    /// # Safety
    /// `event` is the driver's KEVENT storage.
    #[unsafe(no_mangle)]
    pub unsafe fn KeInitializeEvent(event: *mut c_void, kind: i32, signaled: u8) {
        with_world("KeInitializeEvent", |world| {
            let mut state = world.lock();
            let synchronization = kind == SYNCHRONIZATION_EVENT;
            state.events.insert(
                event.addr(),
                EventState {
                    synchronization,
                    signaled: signaled != 0,
                    sets: 0,
                },
            );
        });
    }
}

portcls_sys::kernel_abi! {
    /// `KeSetEvent`: signals and releases waiters; returns the previous state.
    ///
    /// # Safety
    /// `event` was initialised with `KeInitializeEvent`.
    #[unsafe(no_mangle)]
    pub unsafe fn KeSetEvent(event: *mut c_void, _increment: i32, _wait: u8) -> i32 {
        with_world("KeSetEvent", |world| {
            let irql = current_irql();
            let mut state = world.lock();
            if irql > portcls_sys::km::DISPATCH_LEVEL {
                state.violate(Violation::IrqlTooHigh {
                    ddi: Ddi::KeSetEvent,
                    irql,
                });
            }
            let Some(entry) = state.events.get_mut(&event.addr()) else {
                state.violate(Violation::BadObject {
                    ddi: Ddi::KeSetEvent,
                    object: event.addr(),
                });
                return 0;
            };
            let previous = i32::from(entry.signaled);
            entry.signaled = true;
            entry.sets += 1;
            state.release_waiters(event.addr());
            if state.client_waiters > 0 {
                world.changed.notify_all();
            }
            previous
        })
    }
}

portcls_sys::kernel_abi! {
    /// `KeClearEvent`.
    ///
    /// # Safety
    /// `event` was initialised with `KeInitializeEvent`.
    #[unsafe(no_mangle)]
    pub unsafe fn KeClearEvent(event: *mut c_void) {
        with_world("KeClearEvent", |world| {
            if let Some(entry) = world.lock().events.get_mut(&event.addr()) {
                entry.signaled = false;
            }
        });
    }
}

fn read_timeout(timeout: *mut i64) -> Option<i64> {
    // SAFETY: null or readable (callers' contract).
    (!timeout.is_null()).then(|| unsafe { timeout.read() })
}

portcls_sys::kernel_abi! {
    /// `KeWaitForSingleObject` on an event or a thread object, in virtual time.
    ///
    /// # Safety
    /// `object` is an initialised event or a referenced thread object; `timeout` null or readable.
    #[unsafe(no_mangle)]
    pub unsafe fn KeWaitForSingleObject(
        object: PVOID,
        _reason: i32,
        _mode: i8,
        _alertable: u8,
        timeout: *mut i64,
    ) -> NTSTATUS {
        with_world("KeWaitForSingleObject", |world| {
            wait(
                world,
                Ddi::KeWaitForSingleObject,
                Some(object.addr()),
                read_timeout(timeout),
            )
        })
    }
}

portcls_sys::kernel_abi! {
    /// `KeDelayExecutionThread`: sleeps in virtual time.
    ///
    /// # Safety
    /// `interval` readable.
    #[unsafe(no_mangle)]
    pub unsafe fn KeDelayExecutionThread(
        _mode: i8,
        _alertable: u8,
        interval: *mut i64,
    ) -> NTSTATUS {
        with_world("KeDelayExecutionThread", |world| {
            let status = wait(
                world,
                Ddi::KeWaitForSingleObject,
                None,
                read_timeout(interval),
            );
            if status == STATUS_TIMEOUT {
                STATUS_SUCCESS
            } else {
                status
            }
        })
    }
}

/// A thread start routine, as `PsCreateSystemThread` takes it.
pub type StartRoutine = portcls_sys::kernel_abi!(unsafe fn(context: PVOID));

#[derive(Clone, Copy)]
struct StartPacket {
    routine: StartRoutine,
    context: PVOID,
    address: usize,
    /// Its participant number on a deterministic machine.
    participant: Option<usize>,
}

// SAFETY: the context is the driver's to hand to its own thread, as the kernel does.
unsafe impl Send for StartPacket {}

portcls_sys::kernel_abi! {
    /// `PsCreateSystemThread`: starts a real thread bound to the machine, and returns once it has
    /// started waiting (or finished), so runs are deterministic.
    ///
    /// # Safety
    /// `handle` writable; `start` and `context` as the kernel requires.
    #[unsafe(no_mangle)]
    pub unsafe fn PsCreateSystemThread(
        handle: *mut PVOID,
        _access: u32,
        _attributes: PVOID,
        _process: PVOID,
        _client_id: PVOID,
        start: Option<StartRoutine>,
        context: PVOID,
    ) -> NTSTATUS {
        with_world("PsCreateSystemThread", |world| {
            let ddi = Ddi::PsCreateSystemThread;
            let irql = current_irql();
            let mut state = world.lock();
            if !state.irql_ok(ddi, irql) {
                return state.record(ddi, String::new(), portcls_sys::STATUS_INVALID_DEVICE_STATE);
            }
            let Some(routine) = start.filter(|_| !handle.is_null()) else {
                return state.record(ddi, "null argument".to_owned(), STATUS_INVALID_PARAMETER);
            };
            if let Some(status) = state.fallible(ddi) {
                return state.record(ddi, String::new(), status);
            }
            drop(state);
            let address = crate::token_address(world).addr();
            let mut state = world.lock();
            let id = state.next_id();
            // Two references: the handle's and the running thread's.
            state.threads.insert(
                address,
                crate::world::ThreadState {
                    id,
                    refs: 2,
                    exited: false,
                    system: Some(SystemThread::default()),
                },
            );
            state.live_system.insert(address);
            let value = state.new_handle(address);
            // SAFETY: writable (checked non-null).
            unsafe { handle.write(std::ptr::without_provenance_mut(value)) };
            state.record(
                ddi,
                format!("thread #{id} {address:#x}, handle {value:#x}"),
                STATUS_SUCCESS,
            );
            let participant = add_participant(&mut state, &format!("system thread #{id}"));
            drop(state);
            let packet = StartPacket {
                routine,
                context,
                address,
                participant,
            };
            let shared = std::sync::Arc::clone(world);
            std::thread::Builder::new()
                .name(format!("system thread #{id}"))
                .spawn(move || run_system_thread(&shared, packet))
                .map_or(portcls_sys::STATUS_INSUFFICIENT_RESOURCES, |_| {
                    // On a deterministic machine the new thread runs when the scheduler says,
                    // as on Windows; elsewhere this returns once it waits, so runs repeat.
                    if participant.is_none() {
                        let me = CURRENT_THREAD.with(Cell::get);
                        let quiet = |s: &State| s.quiescent(me);
                        let state = world.lock();
                        drop(sleep_until(&world.quiet, state, |s| &mut s.quiet_waiters, quiet));
                    }
                    STATUS_SUCCESS
                })
        })
    }
}

fn run_system_thread(world: &std::sync::Arc<World>, packet: StartPacket) {
    let _binding = crate::bind(world);
    CURRENT_THREAD.with(|current| current.set(packet.address));
    let StartPacket {
        routine,
        context,
        address,
        participant,
    } = packet;
    let _participation = participant.map(|id| start_participant(world, id));
    // SAFETY: the driver's start routine with the context it passed.
    unsafe { crate::stack::call_driver(world, "ThreadStart", routine, (context,)) };
    let mut state = world.lock();
    state.thread_exited(address);
    world.thread_ended();
    drop(state);
    if let Some(id) = participant {
        finish_participant(world, id);
    }
}

portcls_sys::kernel_abi! {
    /// `PsTerminateSystemThread`: the calling system thread ends here (the model parks the OS
    /// thread for good, since nothing may unwind through the driver's frames).
    #[unsafe(no_mangle)]
    pub fn PsTerminateSystemThread(_status: NTSTATUS) -> NTSTATUS {
        with_world("PsTerminateSystemThread", |world| {
            let me = CURRENT_THREAD.with(Cell::get);
            let mut state = world.lock();
            if state.threads.get(&me).is_none_or(|t| t.system.is_none()) {
                state.violate(Violation::BadObject {
                    ddi: Ddi::PsTerminateSystemThread,
                    object: me,
                });
                return STATUS_INVALID_PARAMETER;
            }
            state.thread_exited(me);
            world.thread_ended();
            drop(state);
            if let Some(id) = participant(world) {
                finish_participant(world, id);
            }
            // The driver's frames stay on this thread for good: its entries end here.
            crate::stack::thread_parks(world);
            loop {
                std::thread::park();
            }
        })
    }
}

portcls_sys::kernel_abi! {
    /// `ObReferenceObjectByHandle` for thread handles.
    ///
    /// # Safety
    /// `object` writable.
    #[unsafe(no_mangle)]
    pub unsafe fn ObReferenceObjectByHandle(
        handle: PVOID,
        _access: u32,
        _object_type: PVOID,
        _mode: i8,
        object: *mut PVOID,
        _information: PVOID,
    ) -> NTSTATUS {
        with_world("ObReferenceObjectByHandle", |world| {
            let ddi = Ddi::ObReferenceObjectByHandle;
            let mut state = world.lock();
            if let Some(status) = state.fallible(ddi) {
                return state.record(ddi, String::new(), status);
            }
            let Some(&address) = state.handles.get(&handle.addr()) else {
                return state.record(
                    ddi,
                    format!("handle {:#x}", handle.addr()),
                    STATUS_INVALID_PARAMETER,
                );
            };
            if object.is_null() {
                return STATUS_INVALID_PARAMETER;
            }
            if let Some(thread) = state.threads.get_mut(&address) {
                thread.refs += 1;
            }
            // SAFETY: writable (checked non-null). Thread objects are address keys.
            unsafe { object.write(std::ptr::without_provenance_mut(address)) };
            state.record(
                ddi,
                format!("handle {:#x} -> {address:#x}", handle.addr()),
                STATUS_SUCCESS,
            )
        })
    }
}

portcls_sys::kernel_abi! {
    /// `ZwWaitForSingleObject` on a thread handle.
    ///
    /// # Safety
    /// `timeout` null or readable.
    #[unsafe(no_mangle)]
    pub unsafe fn ZwWaitForSingleObject(
        handle: PVOID,
        _alertable: u8,
        timeout: *mut i64,
    ) -> NTSTATUS {
        with_world("ZwWaitForSingleObject", |world| {
            let object = world.lock().handles.get(&handle.addr()).copied();
            let Some(object) = object else {
                let object = handle.addr();
                world.lock().violate(Violation::BadObject {
                    ddi: Ddi::ZwClose,
                    object,
                });
                return STATUS_INVALID_PARAMETER;
            };
            wait(
                world,
                Ddi::KeWaitForSingleObject,
                Some(object),
                read_timeout(timeout),
            )
        })
    }
}

portcls_sys::kernel_abi! {
    /// `ZwClose` for thread handles.
    #[unsafe(no_mangle)]
    pub fn ZwClose(handle: PVOID) -> NTSTATUS {
        with_world("ZwClose", |world| {
            let mut state = world.lock();
            let Some(address) = state.handles.remove(&handle.addr()) else {
                state.violate(Violation::BadObject {
                    ddi: Ddi::ZwClose,
                    object: handle.addr(),
                });
                return STATUS_INVALID_PARAMETER;
            };
            if let Some(thread) = state.threads.get_mut(&address) {
                thread.refs = thread.refs.saturating_sub(1);
            }
            STATUS_SUCCESS
        })
    }
}
