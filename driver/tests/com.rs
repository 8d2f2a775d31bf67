//! The driver's COM objects: reference counting, `QueryInterface` (a facet interface
//! included), and pool bookkeeping, against the simulator's kernel pool.

use core::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};

use portcls::{ComPtr, Interface};
use portcls_sim::{Ddi, OsProfile, Sim};
use portcls_sys::{
    GUID, IUnknown, IUnknownVtbl, STATUS_INSUFFICIENT_RESOURCES, STATUS_NOINTERFACE,
};
use wavert_sample::com::{ComClass, ComFacet, ComObject, facet_unknown_vtable, unknown_vtable};
use wavert_sample::pool::{Pool, TAG};

/// An interface with one method, `Value`.
#[repr(C)]
struct IProbe {
    vtable: *const ProbeVtbl,
}

#[repr(C)]
struct ProbeVtbl {
    base: IUnknownVtbl,
    value: portcls_sys::kernel_abi!(unsafe fn(this: *mut IProbe) -> u32),
}

const IID_PROBE: GUID = GUID::from_u128(0x1234_5678_9ABC_4DEF_8123_4567_89AB_CDEF);

// SAFETY: IProbe begins with a pointer to ProbeVtbl, which begins with IUnknownVtbl.
unsafe impl Interface for IProbe {
    const IID: GUID = IID_PROBE;
    type Vtable = ProbeVtbl;
}

/// Counts drops, to prove the state is dropped exactly once.
struct Probe<'a> {
    value: u32,
    drops: &'a AtomicUsize,
}

impl Drop for Probe<'_> {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

static DROPS: AtomicUsize = AtomicUsize::new(0);
static SHORT_DROPS: AtomicUsize = AtomicUsize::new(0);

portcls_sys::kernel_abi! {
    unsafe fn probe_value(this: *mut IProbe) -> u32 {
        // SAFETY: PortCls-style caller holding a reference on a Probe object.
        unsafe { ComObject::<Probe<'static>>::from_this(this.cast::<c_void>()) }.value
    }
}

static PROBE_VTABLE: ProbeVtbl = ProbeVtbl {
    base: unknown_vtable::<Probe<'static>>(),
    value: probe_value,
};

// SAFETY: PROBE_VTABLE begins with unknown_vtable::<Probe>() and its slot expects a Probe.
unsafe impl ComClass for Probe<'static> {
    type Vtable = ProbeVtbl;
    const VTABLE: &'static ProbeVtbl = &PROBE_VTABLE;
    const INTERFACES: &'static [GUID] = &[IID_PROBE];
}

#[test]
fn objects_count_references_answer_their_interfaces_and_free_their_pool() {
    for profile in OsProfile::ALL {
        let sim = Sim::new(profile);
        let pool = Pool::resolve();
        assert_eq!(pool.uses_allocate_pool2(), profile.has_allocate_pool2());
        let before = DROPS.load(Ordering::SeqCst);
        let probe: ComPtr<IProbe> = ComObject::create(
            pool,
            Probe {
                value: 42,
                drops: &DROPS,
            },
        )
        .unwrap();
        // SAFETY: a live IProbe.
        assert_eq!(unsafe { (probe.vtable().value)(probe.as_raw()) }, 42);
        assert_eq!(
            sim.pool_in_use(),
            vec![(portcls_sim::Tag(TAG), 32)],
            "{profile}"
        );
        let unknown = probe.query::<IUnknown>().unwrap();
        assert_eq!(
            unknown.as_raw().addr(),
            probe.as_raw().addr(),
            "one identity"
        );
        let missing = probe.query::<portcls_sys::IPortClsStreamResourceManager>();
        assert_eq!(missing.unwrap_err().status(), STATUS_NOINTERFACE);
        let again = probe.clone();
        // SAFETY: a live object of this class.
        let refs = unsafe { ComObject::<Probe<'static>>::refs(probe.as_raw().cast()) };
        assert_eq!(refs, 3);
        drop((probe, unknown));
        assert_eq!(DROPS.load(Ordering::SeqCst), before, "still referenced");
        drop(again);
        assert_eq!(
            DROPS.load(Ordering::SeqCst),
            before + 1,
            "dropped once, at the last release"
        );
        sim.assert_clean();
    }
}

#[test]
fn creation_fails_cleanly_when_pool_is_short() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let pool = Pool::resolve();
    sim.fail_call(Ddi::ExAllocatePoolWithTag, 1, STATUS_INSUFFICIENT_RESOURCES);
    let result = ComObject::create::<IProbe>(
        pool,
        Probe {
            value: 1,
            drops: &SHORT_DROPS,
        },
    );
    assert_eq!(result.unwrap_err(), STATUS_INSUFFICIENT_RESOURCES);
    assert_eq!(
        SHORT_DROPS.load(Ordering::SeqCst),
        1,
        "the state is dropped, not leaked"
    );
    sim.assert_clean();
}

/// A second interface, outside `IProbe`'s chain: `Side` answers the value plus one.
#[repr(C)]
struct ISide {
    vtable: *const SideVtbl,
}

#[repr(C)]
struct SideVtbl {
    base: IUnknownVtbl,
    side: portcls_sys::kernel_abi!(unsafe fn(this: *mut ISide) -> u32),
}

const IID_SIDE: GUID = GUID::from_u128(0x8765_4321_9ABC_4DEF_8123_4567_89AB_CDEF);

// SAFETY: ISide begins with a pointer to SideVtbl, which begins with IUnknownVtbl.
unsafe impl Interface for ISide {
    const IID: GUID = IID_SIDE;
    type Vtable = SideVtbl;
}

/// A class with both: `IProbe` on its main chain and `ISide` through a facet.
struct Twofold {
    value: u32,
    side: &'static SideVtbl,
}

/// `ISide` of a `Twofold`.
struct SideFacet;

// SAFETY: `side` holds SIDE_VTABLE, which begins with this facet's IUnknown part and whose
// slot expects the facet's pointer; listed in Twofold's FACETS with this IID and offset.
unsafe impl ComFacet for SideFacet {
    type Class = Twofold;
    const IID: GUID = IID_SIDE;
    const OFFSET: usize = core::mem::offset_of!(Twofold, side);
}

static TWOFOLD_DROPS: AtomicUsize = AtomicUsize::new(0);

impl Drop for Twofold {
    fn drop(&mut self) {
        TWOFOLD_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

portcls_sys::kernel_abi! {
    unsafe fn twofold_value(this: *mut IProbe) -> u32 {
        // SAFETY: a caller holding a reference on a Twofold object, through IProbe.
        unsafe { ComObject::<Twofold>::from_this(this.cast::<c_void>()) }.value
    }
}

portcls_sys::kernel_abi! {
    unsafe fn twofold_side(this: *mut ISide) -> u32 {
        // SAFETY: a caller holding a reference on a Twofold object, through ISide.
        unsafe { SideFacet::state(this.cast::<c_void>()) }.value + 1
    }
}

static TWOFOLD_VTABLE: ProbeVtbl = ProbeVtbl {
    base: unknown_vtable::<Twofold>(),
    value: twofold_value,
};

static SIDE_VTABLE: SideVtbl = SideVtbl {
    base: facet_unknown_vtable::<SideFacet>(),
    side: twofold_side,
};

// SAFETY: TWOFOLD_VTABLE begins with unknown_vtable::<Twofold>() and its slot expects a
// Twofold; the `side` field holds SIDE_VTABLE (see SideFacet).
unsafe impl ComClass for Twofold {
    type Vtable = ProbeVtbl;
    const VTABLE: &'static ProbeVtbl = &TWOFOLD_VTABLE;
    const INTERFACES: &'static [GUID] = &[IID_PROBE];
    const FACETS: &'static [(GUID, usize)] = &[(SideFacet::IID, SideFacet::OFFSET)];
}

#[test]
fn a_facet_shares_the_objects_count_and_identity() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let pool = Pool::resolve();
    let probe: ComPtr<IProbe> = ComObject::create(
        pool,
        Twofold {
            value: 7,
            side: &SIDE_VTABLE,
        },
    )
    .unwrap();
    let side = probe.query::<ISide>().unwrap();
    assert_ne!(
        side.as_raw().addr(),
        probe.as_raw().addr(),
        "the facet's own pointer"
    );
    // SAFETY: a live ISide.
    assert_eq!(unsafe { (side.vtable().side)(side.as_raw()) }, 8);
    // Back from the facet: the object's identity and its main chain.
    let unknown = side.query::<IUnknown>().unwrap();
    assert_eq!(
        unknown.as_raw().addr(),
        probe.as_raw().addr(),
        "one identity"
    );
    let probe_again = side.query::<IProbe>().unwrap();
    assert_eq!(probe_again.as_raw().addr(), probe.as_raw().addr());
    let side_again = probe_again.query::<ISide>().unwrap();
    assert_eq!(side_again.as_raw().addr(), side.as_raw().addr());
    // SAFETY: a live object of this class.
    let refs = unsafe { ComObject::<Twofold>::refs(probe.as_raw().cast()) };
    assert_eq!(refs, 5, "every interface pointer counts on the one object");
    let before = TWOFOLD_DROPS.load(Ordering::SeqCst);
    drop((probe, unknown, probe_again, side_again));
    assert_eq!(
        TWOFOLD_DROPS.load(Ordering::SeqCst),
        before,
        "still referenced"
    );
    drop(side);
    assert_eq!(
        TWOFOLD_DROPS.load(Ordering::SeqCst),
        before + 1,
        "dropped once, at the last release through the facet"
    );
    sim.assert_clean();
}
