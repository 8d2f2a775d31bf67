//! The DMA-engine thread is registered with PortCls for exactly its lifetime, under every OS
//! profile, and every failure on the way up is undone.

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};

use portcls::{ComPtr, EXPORT_LINKED, Mechanism, Pdo, StreamResourceManager};
use portcls_sim::{Ddi, OsProfile, Resource, Sim, Via, Violation};
use portcls_sys::{IUnknown, STATUS_INSUFFICIENT_RESOURCES, STATUS_NOT_IMPLEMENTED};
use wavert_sample::backend::virtual_device::engine::{Engine, Period};
use wavert_sample::pool::Pool;

struct Counter {
    ticks: AtomicU32,
    last: AtomicI64,
}

impl Counter {
    const fn new() -> Self {
        Self {
            ticks: AtomicU32::new(0),
            last: AtomicI64::new(0),
        }
    }
}

// One counter per test (statics, so the engine's work outlives nothing it borrows).
static REGISTERED: Counter = Counter::new();
static FAILING: Counter = Counter::new();
static DROPPED: Counter = Counter::new();

impl Period for &'static Counter {
    fn tick(&self, counter: i64, frequency: i64) {
        assert_eq!(frequency, 10_000_000);
        self.ticks.fetch_add(1, Ordering::SeqCst);
        self.last.store(counter, Ordering::SeqCst);
    }
}

const PERIOD_10MS: u32 = 100_000;

fn manager(sim: &Sim) -> (ComPtr<IUnknown>, StreamResourceManager) {
    let device = sim.add_device();
    // SAFETY: a fresh simulated port and PDO.
    let port: ComPtr<IUnknown> = unsafe { ComPtr::from_raw(sim.new_port()) }.unwrap();
    // SAFETY: as above.
    let pdo = unsafe { Pdo::from_fdo(device.fdo) }.unwrap();
    let manager = StreamResourceManager::new(&port, pdo);
    (port, manager)
}

fn expected(profile: OsProfile) -> Mechanism {
    match profile {
        OsProfile::Win10_1511 | OsProfile::Win10_2004 => Mechanism::InterfaceV2,
        _ if EXPORT_LINKED => Mechanism::Export,
        OsProfile::Win10_1507 => Mechanism::InterfaceV1,
        OsProfile::Windows81 => Mechanism::Unsupported,
    }
}

#[test]
fn the_engine_thread_is_registered_exactly_while_it_runs() {
    for profile in OsProfile::ALL {
        let counter: &'static Counter = &REGISTERED;
        counter.ticks.store(0, Ordering::SeqCst);
        let sim = Sim::new(profile);
        let (port, manager) = manager(&sim);
        let mechanism = expected(profile);
        let started = Engine::start(Pool::resolve(), &manager, PERIOD_10MS, counter);
        if mechanism == Mechanism::Export && !profile.has_exports() {
            // A driver importing the export would not even load here; the model says so.
            assert_eq!(started.err(), Some(STATUS_NOT_IMPLEMENTED));
            assert_eq!(
                sim.violations(),
                vec![Violation::ImportMissing {
                    ddi: Ddi::PcAddStreamResource
                }]
            );
            continue;
        }
        let engine = started.unwrap();
        assert_eq!(engine.mechanism(), mechanism, "{profile}");
        let registered = sim.registrations();
        if mechanism == Mechanism::Unsupported {
            assert!(registered.is_empty(), "{profile}");
        } else {
            let [record] = registered[..] else {
                panic!("{profile}: {registered:?}")
            };
            assert!(matches!(record.resource, Resource::Thread(_)), "{profile}");
            assert_eq!(
                matches!(record.via, Via::Export),
                mechanism == Mechanism::Export,
                "{profile}"
            );
        }
        sim.advance(10_000_000);
        assert_eq!(counter.ticks.load(Ordering::SeqCst), 100, "{profile}");
        assert_eq!(counter.last.load(Ordering::SeqCst), 10_000_000, "{profile}");
        engine.stop().unwrap();
        assert!(sim.registrations().is_empty(), "{profile}");
        sim.advance(10_000_000);
        assert_eq!(
            counter.ticks.load(Ordering::SeqCst),
            100,
            "{profile}: stopped"
        );
        drop((manager, port));
        sim.assert_clean();
    }
}

#[test]
fn every_failure_while_starting_is_undone() {
    // Count the fallible calls of a clean start, then fail each one in turn.
    let calls = {
        let sim = Sim::new(OsProfile::Win10_1511);
        let (port, manager) = manager(&sim);
        let before = sim.fallible_calls();
        let counter: &'static Counter = &FAILING;
        let engine = Engine::start(Pool::resolve(), &manager, PERIOD_10MS, counter).unwrap();
        let calls = sim.fallible_calls() - before;
        drop((engine, manager, port));
        calls
    };
    assert!(calls >= 4, "pool, thread, reference, registration: {calls}");
    for k in 1..=calls {
        let sim = Sim::new(OsProfile::Win10_1511);
        let (port, manager) = manager(&sim);
        let counter: &'static Counter = &FAILING;
        sim.fail_nth_call(sim.fallible_calls() + k, STATUS_INSUFFICIENT_RESOURCES);
        let started = Engine::start(Pool::resolve(), &manager, PERIOD_10MS, counter);
        assert_eq!(
            started.err(),
            Some(STATUS_INSUFFICIENT_RESOURCES),
            "failing call {k}"
        );
        assert!(sim.registrations().is_empty());
        drop((manager, port));
        sim.assert_clean();
    }
}

#[test]
fn dropping_the_engine_stops_and_unregisters_it() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let (port, manager) = manager(&sim);
    let counter: &'static Counter = &DROPPED;
    let engine = Engine::start(Pool::resolve(), &manager, PERIOD_10MS, counter).unwrap();
    sim.advance(25 * 100_000);
    drop(engine);
    assert_eq!(counter.ticks.load(Ordering::SeqCst), 25);
    drop((manager, port));
    sim.assert_clean();
}
