//! The simulated machine's state and the rules it enforces.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use portcls_sys::km::KIRQL;
use portcls_sys::{NTSTATUS, STATUS_SUCCESS};

use crate::{Ddi, OsProfile, StreamResource, Via, Violation};

/// A failure to inject.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Injection {
    /// The n-th fallible call of any kind (1-based).
    Nth { n: u64, status: NTSTATUS },
    /// The n-th call (1-based) of one DDI.
    Call { ddi: Ddi, n: u64, status: NTSTATUS },
}

/// One line of the conversation between the driver and the simulated system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    /// The routine called.
    pub ddi: Ddi,
    /// What it was called with, in words.
    pub detail: String,
    /// What it returned (`STATUS_SUCCESS` for routines without a status).
    pub status: NTSTATUS,
}

impl fmt::Display for TraceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}({}) -> {}",
            self.ddi,
            self.detail,
            crate::status_name(self.status)
        )
    }
}

/// What a port knows about the miniport bound to it by `IPort::Init`.
#[derive(Debug)]
pub(crate) struct Bound {
    /// The miniport's `IUnknown` (the port holds one reference).
    pub(crate) miniport: crate::adapter::RawUnknown,
    /// The filter descriptor `GetDescription` returned.
    pub(crate) descriptor: *const portcls_sys::wavert::PCFILTER_DESCRIPTOR,
    /// Its pin count, for checking physical connections.
    pub(crate) pins: u32,
    /// Which pins are bridge pins (`KSPIN_COMMUNICATION_NONE`).
    pub(crate) bridge_pins: Vec<u32>,
}

// SAFETY: the descriptor is the miniport's read-only data, valid from any thread while the
// miniport lives; the miniport reference is Send on its own.
unsafe impl Send for Bound {}

/// The latest reference-count changes of one object: what, the count after (when known), and
/// where the trace stood.
#[derive(Debug, Default)]
pub(crate) struct RefHistory(Vec<(&'static str, Option<u32>, usize)>);

impl RefHistory {
    /// The most changes an object keeps.
    const MAX: usize = 32;

    /// Notes a change.
    pub(crate) fn note(&mut self, what: &'static str, count: Option<u32>, trace_index: usize) {
        if self.0.len() == Self::MAX {
            self.0.remove(0);
        }
        self.0.push((what, count, trace_index));
    }

    /// The history as text: `what -> count @trace index`, oldest first.
    pub(crate) fn text(&self) -> String {
        self.0
            .iter()
            .map(|(what, count, at)| match count {
                Some(count) => format!("{what} -> {count} @{at}"),
                None => format!("{what} @{at}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Debug)]
pub(crate) struct PortState {
    pub(crate) refs: u32,
    pub(crate) kind: crate::adapter::PortKind,
    pub(crate) bound: Option<Bound>,
    pub(crate) history: RefHistory,
}

impl PortState {
    /// Notes a reference-count change (with the count after it).
    pub(crate) fn note(&mut self, what: &'static str, trace_index: usize) {
        self.history.note(what, Some(self.refs), trace_index);
    }
}

/// A COM object of the driver's that the model holds references on: a miniport, a miniport
/// stream or its notification interface, the adapter's power interface.
#[derive(Debug)]
pub(crate) struct DriverObject {
    /// What the object is to the model, in words.
    pub(crate) role: String,
    /// References the model holds now.
    pub(crate) held: u32,
    /// False once the driver freed the pool block the object lives in.
    pub(crate) alive: bool,
    /// The latest changes, with the count the driver reported (`Release` returns it; a
    /// reference handed over reports none).
    pub(crate) history: RefHistory,
}

/// What happened to a driver object's references, as the model sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RefChange {
    /// The model took over a reference the driver handed out (an out parameter, or the
    /// result of `QueryInterface`), named by the routine.
    Taken(&'static str),
    /// The model called `Release`, which returned the count (announced first with
    /// [`State::driver_release_begins`]).
    Release(u32),
}

impl DriverObject {
    fn new(role: &str) -> Self {
        Self {
            role: role.to_owned(),
            held: 0,
            alive: true,
            history: RefHistory::default(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct ThreadState {
    pub(crate) id: u64,
    pub(crate) refs: u32,
    pub(crate) exited: bool,
    /// Present for threads the driver started (`PsCreateSystemThread`).
    pub(crate) system: Option<crate::sched::SystemThread>,
}

#[derive(Debug)]
pub(crate) struct InterruptState {
    pub(crate) version: u32,
    pub(crate) connected: bool,
}

/// Everything the simulated system knows, behind one lock.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) profile: OsProfile,
    next_id: u64,
    pub(crate) ports: BTreeMap<u64, PortState>,
    /// FDO address -> PDO address.
    pub(crate) devices: BTreeMap<usize, usize>,
    pub(crate) threads: BTreeMap<usize, ThreadState>,
    pub(crate) interrupts: BTreeMap<usize, InterruptState>,
    pub(crate) registrations: BTreeMap<usize, StreamResource>,
    /// Every registration ever made, in order (removed ones too).
    pub(crate) registered_ever: Vec<StreamResource>,
    /// Live pool blocks by address.
    pub(crate) pool: BTreeMap<usize, crate::pool::Block>,
    /// Virtual time, in 100 ns units.
    pub(crate) now: u64,
    /// The performance counter's frequency.
    pub(crate) qpc_frequency: u64,
    /// Events the driver initialised, by address.
    pub(crate) events: BTreeMap<usize, crate::sched::EventState>,
    /// Kernel handles (thread handles) -> object addresses.
    pub(crate) handles: BTreeMap<usize, usize>,
    /// Port objects, freed with the machine.
    pub(crate) port_allocations: Vec<crate::port::PortAllocation>,
    /// Simulated device objects (FDOs) with their extensions, freed with the machine.
    pub(crate) device_blocks: Vec<crate::adapter::RawBlock>,
    /// The driver object handed to `DriverEntry` (address).
    pub(crate) driver_object: usize,
    /// The driver PortCls was initialised for: its `AddDevice` routine.
    pub(crate) add_device: portcls_sys::km::PDRIVER_ADD_DEVICE,
    /// FDOs made by `PcAddAdapterDevice`, by address.
    pub(crate) adapters: BTreeMap<usize, crate::adapter::AdapterState>,
    /// The driver's COM objects the model held references on, by address.
    pub(crate) driver_objects: BTreeMap<usize, DriverObject>,
    /// Whether the I/O manager unloaded the driver ([`crate::Sim::unload_driver`]).
    pub(crate) driver_unloaded: bool,
    /// Whether PortCls's own `DriverUnload` ran.
    pub(crate) portcls_unload_ran: bool,
    /// The driver image [`crate::Sim::load_image`] mapped, until it is unloaded.
    pub(crate) image: Option<std::sync::Arc<crate::image::Image>>,
    /// Small allocations that give simulated objects unique addresses.
    #[allow(clippy::vec_box)] // boxed so each token keeps its address while the Vec grows
    tokens: Vec<Box<[u64; 2]>>,
    pub(crate) streams: crate::stream::Streams,
    /// KS events clients enabled ([`crate::ks_events`]).
    pub(crate) ks_events: crate::ks_events::Events,
    /// Physical memory and its DMA allocations.
    pub(crate) physical: crate::physical::Physical,
    /// DMA adapters and their common buffers.
    pub(crate) dma: crate::dma::Adapters,
    /// PortCls's idle power management (see [`idle`](crate::idle)).
    pub(crate) idle: crate::idle::Idle,
    pub(crate) trace: Vec<TraceEvent>,
    pub(crate) violations: Vec<Violation>,
    /// The KS rule breaches behind `Violation::FilterRules`, in words.
    pub(crate) breaches: Vec<String>,
    injections: Vec<Injection>,
    /// The routines whose calls an injection failed, in order.
    pub(crate) injected: Vec<Ddi>,
    fallible_calls: u64,
    per_ddi_calls: BTreeMap<Ddi, u64>,
    /// The scheduler of a deterministic machine (`None`: the host's scheduler decides).
    pub(crate) scheduler: Option<crate::deterministic::Scheduler<State>>,
    /// On a deterministic machine: the spin locks (lock word addresses) participants hold.
    /// Kept out of the scheduler, which is taken out of the state while readiness is judged.
    pub(crate) spins_held: Vec<usize>,
    /// Threads waiting on [`World::changed`] (it is notified only when there are some).
    pub(crate) client_waiters: usize,
    /// Threads in `PsCreateSystemThread` waiting on [`World::quiet`] for the new thread to
    /// wait.
    pub(crate) quiet_waiters: usize,
    /// Callers of `advance` sleeping on [`World::quiet`].
    pub(crate) advancers: usize,
    /// The advance in progress on a machine the host schedules: its target time, the thread
    /// object of its caller, and its ticket. The system thread whose wait leaves every other
    /// one waiting takes the next step itself.
    pub(crate) advance: Option<crate::sched::Advance>,
    /// Advances begun so far (tickets).
    pub(crate) advances: u64,
    /// The system threads that have not exited (what the scheduler looks at on every wait; a
    /// day of streaming leaves thousands of exited ones in `threads`).
    pub(crate) live_system: std::collections::BTreeSet<usize>,
    /// PCI devices, interrupts and DPCs (see [`pci`](crate::pci)).
    pub(crate) hw: crate::pci::Hardware,
}

impl State {
    pub(crate) fn new(profile: OsProfile) -> Self {
        Self {
            profile,
            next_id: 1,
            ports: BTreeMap::new(),
            devices: BTreeMap::new(),
            threads: BTreeMap::new(),
            interrupts: BTreeMap::new(),
            registrations: BTreeMap::new(),
            registered_ever: Vec::new(),
            pool: BTreeMap::new(),
            now: 0,
            qpc_frequency: 10_000_000,
            events: BTreeMap::new(),
            handles: BTreeMap::new(),
            tokens: Vec::new(),
            port_allocations: Vec::new(),
            device_blocks: Vec::new(),
            driver_object: 0,
            add_device: None,
            adapters: BTreeMap::new(),
            driver_objects: BTreeMap::new(),
            driver_unloaded: false,
            portcls_unload_ran: false,
            image: None,
            streams: crate::stream::Streams::default(),
            ks_events: crate::ks_events::Events::default(),
            physical: crate::physical::Physical::default(),
            dma: crate::dma::Adapters::default(),
            idle: crate::idle::Idle::default(),
            trace: Vec::new(),
            violations: Vec::new(),
            breaches: Vec::new(),
            injections: Vec::new(),
            injected: Vec::new(),
            fallible_calls: 0,
            per_ddi_calls: BTreeMap::new(),
            scheduler: None,
            spins_held: Vec::new(),
            client_waiters: 0,
            quiet_waiters: 0,
            advancers: 0,
            advance: None,
            advances: 0,
            live_system: std::collections::BTreeSet::new(),
            hw: crate::pci::Hardware::default(),
        }
    }

    pub(crate) fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// A fresh unique address for a simulated kernel object.
    pub(crate) fn token(&mut self) -> *mut std::ffi::c_void {
        let mut token = Box::new([0u64; 2]);
        let address: *mut std::ffi::c_void = std::ptr::from_mut(&mut *token).cast();
        self.tokens.push(token);
        // Fresh heap memory: an event recorded here lived in memory freed since (whoever freed
        // it without telling the model), and must not stand in for the new object.
        self.events.remove(&address.addr());
        address
    }

    /// A new kernel handle naming `object`.
    pub(crate) fn new_handle(&mut self, object: usize) -> usize {
        let value = 0x100 + 4 * usize::try_from(self.next_id()).unwrap_or(0);
        self.handles.insert(value, object);
        value
    }

    pub(crate) fn inject(&mut self, injection: Injection) {
        self.injections.push(injection);
    }

    pub(crate) fn fallible_calls(&self) -> u64 {
        self.fallible_calls
    }

    /// Counts a fallible call and returns the failure injected for it, if any.
    pub(crate) fn fallible(&mut self, ddi: Ddi) -> Option<NTSTATUS> {
        self.fallible_calls += 1;
        let n = self.fallible_calls;
        let per = self.per_ddi_calls.entry(ddi).or_insert(0);
        *per += 1;
        let per = *per;
        let status = self
            .injections
            .iter()
            .find_map(|injection| match *injection {
                Injection::Nth { n: k, status } if k == n => Some(status),
                Injection::Call {
                    ddi: d,
                    n: k,
                    status,
                } if d == ddi && k == per => Some(status),
                _ => None,
            });
        if status.is_some() {
            self.injected.push(ddi);
        }
        status
    }

    pub(crate) fn violate(&mut self, violation: Violation) {
        self.violations.push(violation);
    }

    /// Books a change to the references the model holds on the driver's COM object at
    /// `object`. A count the driver reports below what the model alone holds means the
    /// driver released references it did not own.
    pub(crate) fn driver_reference(&mut self, object: usize, role: &str, change: RefChange) {
        let at = self.trace.len();
        let entry = if matches!(change, RefChange::Taken(_)) {
            let entry = self
                .driver_objects
                .entry(object)
                .or_insert_with(|| DriverObject::new(role));
            if !entry.alive {
                // The address was freed and now holds a new object.
                *entry = DriverObject::new(role);
            }
            entry
        } else {
            // Only objects the model took a reference on are booked (not its own ports); one
            // freed inside this very call is still booked, to show the count it reported.
            match self.driver_objects.get_mut(&object) {
                Some(entry) => entry,
                None => return,
            }
        };
        let reported = match change {
            RefChange::Taken(how) => {
                entry.held += 1;
                entry.history.note(how, None, at);
                None
            }
            RefChange::Release(count) => {
                // `held` went down before the call (`driver_release_begins`).
                entry.history.note("Release", Some(count), at);
                Some(count)
            }
        };
        let held = entry.held;
        if let Some(reported) = reported.filter(|&count| count < held) {
            self.violate(Violation::DriverReferenceCount {
                object,
                held,
                reported,
            });
        }
    }

    /// The model is about to give back one of its references on `object`: booked before the
    /// call, since the driver frees the object inside it when that was the last one.
    pub(crate) fn driver_release_begins(&mut self, object: usize) {
        if let Some(entry) = self.driver_objects.get_mut(&object) {
            entry.held = entry.held.saturating_sub(1);
        }
    }

    /// Whether the driver object at `object` was freed under a reference the model held (the
    /// model then stops calling it: on Windows the call would crash).
    pub(crate) fn driver_object_gone(&self, object: usize) -> bool {
        self.driver_objects.get(&object).is_some_and(|o| !o.alive)
    }

    /// The driver freed `size` bytes of pool at `start`: the driver objects inside are gone,
    /// and one the model still holds a reference on was freed under it.
    pub(crate) fn driver_memory_freed(&mut self, start: usize, size: usize) {
        let at = self.trace.len();
        let mut freed_while_held = Vec::new();
        for (&object, entry) in self
            .driver_objects
            .range_mut(start..start.saturating_add(size))
            .filter(|(_, entry)| entry.alive)
        {
            entry.alive = false;
            entry.history.note("freed", None, at);
            if entry.held > 0 {
                freed_while_held.push((object, entry.held));
            }
        }
        for (object, held) in freed_while_held {
            self.violate(Violation::DriverObjectFreedWhileHeld { object, held });
        }
        // The events that lived in the block go with it: the address may next hold another
        // object (a thread object, say), which a stale event would stand in for.
        let end = start.saturating_add(size);
        let freed: Vec<usize> = self.events.range(start..end).map(|(&a, _)| a).collect();
        for event in freed {
            self.events.remove(&event);
            if self.threads.values().any(|t| t.waits_on(event)) {
                self.violate(Violation::WaitedEventFreed { event });
            }
        }
    }

    /// The driver objects still alive in pool the driver allocated, each in words with its
    /// history.
    pub(crate) fn driver_objects_alive(&self) -> Vec<String> {
        self.driver_objects
            .iter()
            .filter(|&(&object, entry)| {
                entry.alive
                    && self
                        .pool
                        .range(..=object)
                        .next_back()
                        .is_some_and(|(&start, block)| object < start + block.size)
            })
            .map(|(object, entry)| {
                format!(
                    "driver object {object:#x} ({}) still alive, the system holding {} \
                     reference(s); history (change -> count reported @trace index): {}",
                    entry.role,
                    entry.held,
                    entry.history.text()
                )
            })
            .collect()
    }

    /// Records a call whose own calls (made while it ran) are already in the trace from index
    /// `at` on: it goes before them, where it began.
    pub(crate) fn record_at(
        &mut self,
        at: usize,
        ddi: Ddi,
        detail: String,
        status: NTSTATUS,
    ) -> NTSTATUS {
        let at = at.min(self.trace.len());
        self.trace.insert(
            at,
            TraceEvent {
                ddi,
                detail,
                status,
            },
        );
        status
    }

    pub(crate) fn record(&mut self, ddi: Ddi, detail: String, status: NTSTATUS) -> NTSTATUS {
        self.trace.push(TraceEvent {
            ddi,
            detail,
            status,
        });
        status
    }

    /// Checks a DDI's IRQL rule; on a breach records a violation and returns false.
    pub(crate) fn irql_ok(&mut self, ddi: Ddi, irql: KIRQL) -> bool {
        if irql > ddi.max_irql() {
            self.violate(Violation::IrqlTooHigh { ddi, irql });
            false
        } else {
            true
        }
    }

    /// Whether the resource a descriptor names is a live simulated object, recording a
    /// violation when it is not.
    pub(crate) fn check_live_resource(&mut self, ddi: Ddi, resource: &crate::Resource) {
        let live = match *resource {
            crate::Resource::Thread(address) => self
                .threads
                .get(&address)
                .is_some_and(|t| t.refs > 0 && !t.exited),
            crate::Resource::Interrupt { context, version } => self
                .interrupts
                .get(&context)
                .is_some_and(|i| i.connected && i.version == version),
        };
        if !live {
            self.violate(Violation::ResourceNotLive {
                ddi,
                resource: *resource,
            });
        }
    }

    pub(crate) fn registered(&self, resource: &crate::Resource) -> bool {
        self.registrations.values().any(|r| r.resource == *resource)
    }

    pub(crate) fn remove_registration(&mut self, ddi: Ddi, handle: usize, via: Via) -> NTSTATUS {
        let Some(record) = self.registrations.get(&handle) else {
            self.violate(Violation::UnknownHandle { ddi, handle });
            return portcls_sys::STATUS_INVALID_PARAMETER;
        };
        if !record.via.same_object(via) {
            let registered_via = record.via;
            self.violate(Violation::RemovedThroughOtherObject {
                handle,
                registered_via,
                via,
            });
            return portcls_sys::STATUS_INVALID_PARAMETER;
        }
        self.registrations.remove(&handle);
        STATUS_SUCCESS
    }
}

impl Drop for State {
    fn drop(&mut self) {
        // Whatever the driver leaked goes with the machine (it was reported as a leftover).
        for (_, block) in std::mem::take(&mut self.pool) {
            block.release();
        }
    }
}

/// The machine: state behind a lock.
#[derive(Debug)]
pub(crate) struct World {
    state: Mutex<State>,
    /// Signalled whenever a wait of a test's thread may have been satisfied or a thread
    /// changed state.
    pub(crate) changed: Condvar,
    /// Signalled when the system threads may all be waiting (for `advance` and
    /// `PsCreateSystemThread`). Each system thread sleeps on its own condition variable.
    pub(crate) quiet: Condvar,
    /// The driver's stack use, when measured (its own lock: threads record as they go).
    pub(crate) stack: crate::stack::Recorder,
    /// Whether one participant runs at a time, as the state's scheduler chooses.
    pub(crate) deterministic: bool,
}

impl World {
    pub(crate) fn new(profile: OsProfile) -> Self {
        Self {
            state: Mutex::new(State::new(profile)),
            changed: Condvar::new(),
            quiet: Condvar::new(),
            stack: crate::stack::Recorder::default(),
            deterministic: false,
        }
    }

    /// A machine whose threads run one at a time, as `schedule` decides; the calling thread is
    /// its participant 0.
    pub(crate) fn new_deterministic(
        profile: OsProfile,
        schedule: crate::deterministic::Schedule,
    ) -> Self {
        let mut state = State::new(profile);
        state.scheduler = Some(crate::deterministic::Scheduler::new(schedule));
        Self {
            state: Mutex::new(state),
            changed: Condvar::new(),
            quiet: Condvar::new(),
            stack: crate::stack::Recorder::default(),
            deterministic: true,
        }
    }

    /// Wakes whoever waits for a thread to end: the test's threads and `advance`.
    pub(crate) fn thread_ended(&self) {
        self.changed.notify_all();
        self.quiet.notify_all();
    }

    /// Locks the state. A test that panicked while holding the lock leaves consistent data
    /// (every update is a single step), so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
