//! A PortCls port object: `IUnknown` plus, per OS profile, the stream-resource manager
//! interfaces, laid out as a C++ object with two vtable pointers would be.

use std::ffi::c_void;
use std::sync::{Arc, Weak};

use portcls_sys::km::KIRQL;
use portcls_sys::{
    GUID, IID_IPortClsStreamResourceManager, IID_IPortClsStreamResourceManager2, IID_IUnknown,
    IPortClsStreamResourceManager, IPortClsStreamResourceManager2,
    IPortClsStreamResourceManager2Vtbl, IPortClsStreamResourceManagerVtbl, IUnknownVtbl, NTSTATUS,
    PCSTREAMRESOURCE, PCSTREAMRESOURCE_DESCRIPTOR, PDEVICE_OBJECT, PUNKNOWN, PVOID,
    STATUS_INVALID_DEVICE_STATE, STATUS_NOINTERFACE, STATUS_SUCCESS, ULONG,
};

use portcls_sys::ks::PKSEVENT_ENTRY;
use portcls_sys::wavert::{
    BOOL, IID_IPort, IID_IPortEvents, IID_IPortTopology, IID_IPortWaveRT, IPortEvents,
    IPortEventsVtbl, IPortVtbl,
};

use crate::adapter::PortKind;
use crate::world::World;
use crate::{Ddi, Via, Violation, current_irql, guid_name};

/// The object. `unknown` (the `IPort` vtable, which begins with `IUnknown`) is at offset 0 (the
/// port's identity), `manager` right after it, then `events` (`IPortEvents`).
#[repr(C)]
pub(crate) struct PortObject {
    unknown: *const IPortVtbl,
    manager: *const c_void,
    events: *const IPortEventsVtbl,
    pub(crate) id: u64,
    world: Weak<World>,
}

const MANAGER_OFFSET: usize = std::mem::offset_of!(PortObject, manager);
const EVENTS_OFFSET: usize = std::mem::offset_of!(PortObject, events);

/// An allocated port, freed with the machine.
#[derive(Debug)]
pub(crate) struct PortAllocation {
    object: *mut PortObject,
    pub(crate) id: u64,
}

impl PortAllocation {
    /// Whether `unknown` is this port's `IUnknown` pointer (compares addresses only).
    pub(crate) fn is(&self, unknown: PUNKNOWN) -> bool {
        self.object.addr() == unknown.addr()
    }
}

// SAFETY: the allocation is only freed (once) by the world that owns it.
unsafe impl Send for PortAllocation {}

impl Drop for PortAllocation {
    fn drop(&mut self) {
        // SAFETY: made by Box::into_raw in `new_port`, freed only here.
        drop(unsafe { Box::from_raw(self.object) });
    }
}

static PORT_VTBL: IPortVtbl = IPortVtbl {
    base__: IUnknownVtbl {
        QueryInterface: query_interface::<0>,
        AddRef: add_ref::<0>,
        Release: release::<0>,
    },
    Init: crate::adapter::port_init,
    GetDeviceProperty: crate::adapter::port_get_device_property,
    NewRegistryKey: crate::adapter::port_new_registry_key,
};

const MANAGER_UNKNOWN: IUnknownVtbl = IUnknownVtbl {
    QueryInterface: query_interface::<MANAGER_OFFSET>,
    AddRef: add_ref::<MANAGER_OFFSET>,
    Release: release::<MANAGER_OFFSET>,
};

static EVENTS_VTBL: IPortEventsVtbl = IPortEventsVtbl {
    base__: IUnknownVtbl {
        QueryInterface: query_interface::<EVENTS_OFFSET>,
        AddRef: add_ref::<EVENTS_OFFSET>,
        Release: release::<EVENTS_OFFSET>,
    },
    AddEventToEventList: add_event_to_event_list,
    GenerateEventList: generate_event_list,
};

static V1_VTBL: IPortClsStreamResourceManagerVtbl = IPortClsStreamResourceManagerVtbl {
    base__: MANAGER_UNKNOWN,
    AddStreamResource: add_stream_resource,
    RemoveStreamResource: remove_stream_resource,
};

static V2_VTBL: IPortClsStreamResourceManager2Vtbl = IPortClsStreamResourceManager2Vtbl {
    base__: IPortClsStreamResourceManagerVtbl {
        base__: MANAGER_UNKNOWN,
        AddStreamResource: add_stream_resource,
        RemoveStreamResource: remove_stream_resource,
    },
    AddStreamResource2: add_stream_resource2,
};

/// Makes a port with one reference (the one `PcNewPort` hands its caller); the machine keeps
/// its memory.
pub(crate) fn new_port(world: &Arc<World>, kind: PortKind) -> PUNKNOWN {
    let mut state = world.lock();
    let id = state.next_id();
    state.ports.insert(
        id,
        crate::world::PortState {
            refs: 1,
            kind,
            bound: None,
            history: crate::world::RefHistory::default(),
        },
    );
    let at = state.trace.len();
    if let Some(port) = state.ports.get_mut(&id) {
        port.note("created", at);
    }
    let manager: *const c_void = if state.profile.has_interface_v2() {
        (&raw const V2_VTBL).cast()
    } else if state.profile.has_interface_v1() {
        (&raw const V1_VTBL).cast()
    } else {
        std::ptr::null()
    };
    drop(state);
    let object = Box::into_raw(Box::new(PortObject {
        unknown: &raw const PORT_VTBL,
        manager,
        events: &raw const EVENTS_VTBL,
        id,
        world: Arc::downgrade(world),
    }));
    world
        .lock()
        .port_allocations
        .push(PortAllocation { object, id });
    object.cast()
}

/// Finds the object and its world from an interface pointer at `OFFSET` within it.
///
/// # Safety
/// `this` points `OFFSET` bytes into a live `PortObject`.
unsafe fn object<const OFFSET: usize>(this: *mut c_void) -> (*mut PortObject, u64, Arc<World>) {
    // SAFETY: caller's contract; the pointer keeps the allocation's provenance.
    let object = unsafe { this.byte_sub(OFFSET) }.cast::<PortObject>();
    // SAFETY: `object` is live (caller's contract).
    let id = unsafe { (*object).id };
    // SAFETY: as above.
    let world = unsafe { (*object).world.upgrade() };
    match world {
        Some(world) => (object, id, world),
        None => crate::abort_no_world("a method of a port whose simulated machine is gone"),
    }
}

/// Checks the object is still alive (refs > 0); records a violation when it is not.
fn alive(world: &World, id: u64, ddi: Ddi) -> bool {
    let mut state = world.lock();
    let refs = state.ports.get(&id).map_or(0, |p| p.refs);
    if refs == 0 {
        state.violate(Violation::UseAfterRelease { ddi, object: id });
    }
    refs > 0
}

portcls_sys::kernel_abi! {
    unsafe fn query_interface<const OFFSET: usize>(
        this: PUNKNOWN,
        riid: *const GUID,
        out: *mut PVOID,
    ) -> NTSTATUS {
        crate::stack::model(|| {
            // SAFETY: PortCls's callers pass an interface pointer of this object.
            let (object, id, world) = unsafe { object::<OFFSET>(this.cast()) };
            if !alive(&world, id, Ddi::QueryInterface) {
                return STATUS_INVALID_DEVICE_STATE;
            }
            let mut state = world.lock();
            if riid.is_null() || out.is_null() {
                return state.record(
                    Ddi::QueryInterface,
                    format!("port#{id}, null argument"),
                    portcls_sys::STATUS_INVALID_PARAMETER,
                );
            }
            // SAFETY: non-null IID pointer from the caller.
            let iid = unsafe { *riid };
            let detail = format!("port#{id}, {}", guid_name(&iid));
            if let Some(status) = state.fallible(Ddi::QueryInterface) {
                // SAFETY: `out` is a writable slot (checked non-null).
                unsafe { out.write(std::ptr::null_mut()) };
                return state.record(Ddi::QueryInterface, detail, status);
            }
            let profile = state.profile;
            let kind = state.ports.get(&id).map(|p| p.kind);
            let port_interface = iid == IID_IUnknown
                || (iid == IID_IPort && kind != Some(PortKind::Generic))
                || (iid == IID_IPortWaveRT && kind == Some(PortKind::WaveRt))
                || (iid == IID_IPortTopology && kind == Some(PortKind::Topology));
            let interface: PVOID = if port_interface {
                object.cast()
            } else if iid == IID_IPortEvents && kind != Some(PortKind::Generic) {
                // SAFETY: projection to a field of the live object.
                unsafe { (&raw mut (*object).events).cast() }
            } else if (iid == IID_IPortClsStreamResourceManager2 && profile.has_interface_v2())
                || (iid == IID_IPortClsStreamResourceManager && profile.has_interface_v1())
            {
                // SAFETY: projection to a field of the live object.
                unsafe { (&raw mut (*object).manager).cast() }
            } else {
                std::ptr::null_mut()
            };
            // SAFETY: `out` is a writable slot (checked non-null).
            unsafe { out.write(interface) };
            if interface.is_null() {
                return state.record(Ddi::QueryInterface, detail, STATUS_NOINTERFACE);
            }
            let at = state.trace.len();
            if let Some(port) = state.ports.get_mut(&id) {
                port.refs += 1;
                port.note("QueryInterface", at);
            }
            state.record(Ddi::QueryInterface, detail, STATUS_SUCCESS)
        })
    }
}

portcls_sys::kernel_abi! {
    unsafe fn add_ref<const OFFSET: usize>(this: PUNKNOWN) -> ULONG {
        crate::stack::model(|| {
            // SAFETY: called through one of this object's interface pointers.
            let (_, id, world) = unsafe { object::<OFFSET>(this.cast()) };
            if !alive(&world, id, Ddi::AddRef) {
                return 0;
            }
            let mut state = world.lock();
            let at = state.trace.len();
            state.ports.get_mut(&id).map_or(0, |port| {
                port.refs += 1;
                port.note("AddRef", at);
                port.refs
            })
        })
    }
}

portcls_sys::kernel_abi! {
    unsafe fn release<const OFFSET: usize>(this: PUNKNOWN) -> ULONG {
        crate::stack::model(|| {
            // SAFETY: called through one of this object's interface pointers.
            let (_, id, world) = unsafe { object::<OFFSET>(this.cast()) };
            if !alive(&world, id, Ddi::Release) {
                return 0;
            }
            let mut state = world.lock();
            let at = state.trace.len();
            let Some(port) = state.ports.get_mut(&id) else {
                return 0;
            };
            port.refs -= 1;
            port.note("Release", at);
            let refs = port.refs;
            let bound = if refs == 0 { port.bound.take() } else { None };
            if refs == 0 {
                // Its event lists go with it.
                state.ks_events.drop_port(id);
            }
            drop(state);
            // The port's reference on its miniport goes with it (outside the lock: the driver
            // runs).
            if let Some(bound) = bound {
                bound.miniport.release(&world);
            }
            refs
        })
    }
}

portcls_sys::kernel_abi! {
    unsafe fn add_event_to_event_list(this: *mut IPortEvents, entry: PKSEVENT_ENTRY) {
        crate::stack::model(|| {
            // SAFETY: called through the object's `IPortEvents` pointer.
            let (_, id, world) = unsafe { object::<EVENTS_OFFSET>(this.cast()) };
            if alive(&world, id, Ddi::AddEventToEventList) {
                crate::ks_events::add(&world, id, entry.addr());
            }
        });
    }
}

portcls_sys::kernel_abi! {
    unsafe fn generate_event_list(
        this: *mut IPortEvents,
        set: *mut GUID,
        event: ULONG,
        pin_event: BOOL,
        pin: ULONG,
        node_event: BOOL,
        node: ULONG,
    ) {
        crate::stack::model(|| {
            // SAFETY: called through the object's `IPortEvents` pointer.
            let (_, id, world) = unsafe { object::<EVENTS_OFFSET>(this.cast()) };
            if !alive(&world, id, Ddi::GenerateEventList) {
                return;
            }
            // SAFETY: a null set means any set; otherwise the caller's readable GUID.
            let set = (!set.is_null()).then(|| unsafe { set.read_unaligned() });
            let filter = crate::ks_events::Match {
                set,
                event,
                pin: (pin_event != 0).then_some(pin),
                node: (node_event != 0).then_some(node),
            };
            crate::ks_events::generate(&world, id, &filter);
        });
    }
}

/// Reads and validates a descriptor as PortCls documents it; `Err` carries the status./// Reads and validates a descriptor as PortCls documents it; `Err` carries the status.
///
/// # Safety
/// `descriptor` is null or readable for `size_of::<PCSTREAMRESOURCE_DESCRIPTOR>()` bytes.
pub(crate) unsafe fn read_descriptor(
    descriptor: *const PCSTREAMRESOURCE_DESCRIPTOR,
) -> Result<(crate::Resource, usize, [u8; 40]), NTSTATUS> {
    use portcls_sys::{
        STATUS_INVALID_PARAMETER, ePcStreamResourceInterrupt, ePcStreamResourceThread,
    };
    if descriptor.is_null() || !descriptor.is_aligned() {
        return Err(STATUS_INVALID_PARAMETER);
    }
    // SAFETY: readable (caller's contract) and aligned (checked).
    let d = unsafe { descriptor.read() };
    if d.Size != PCSTREAMRESOURCE_DESCRIPTOR::SIZE || d.Flags != 0 {
        return Err(STATUS_INVALID_PARAMETER);
    }
    let resource = if d.Type == ePcStreamResourceThread {
        // SAFETY: the Thread member is the one the Type names.
        let thread = unsafe { d.Resource.Thread };
        if thread.is_null() {
            return Err(STATUS_INVALID_PARAMETER);
        }
        crate::Resource::Thread(thread.addr())
    } else if d.Type == ePcStreamResourceInterrupt {
        // SAFETY: the Interrupt member is the one the Type names.
        let interrupt = unsafe { d.Resource.Interrupt };
        if interrupt.Generic.is_null() || !(1..=5).contains(&interrupt.Version) {
            return Err(STATUS_INVALID_PARAMETER);
        }
        crate::Resource::Interrupt {
            context: interrupt.Generic.addr(),
            version: interrupt.Version,
        }
    } else {
        // ePcStreamResourceSet is reserved; anything else is unknown.
        return Err(STATUS_INVALID_PARAMETER);
    };
    // SAFETY: readable, as above. Reading it as bytes also proves, under Miri, that the driver
    // initialised every byte (padding included), as the INIT macro does.
    let bytes = unsafe { descriptor.cast::<[u8; 40]>().read() };
    Ok((resource, d.Pdo.addr(), bytes))
}

/// The shared body of every add routine.
pub(crate) fn add(
    world: &World,
    ddi: Ddi,
    via: Via,
    pdo: PDEVICE_OBJECT,
    resource_set: PVOID,
    descriptor: *mut PCSTREAMRESOURCE_DESCRIPTOR,
    handle: *mut PCSTREAMRESOURCE,
) -> NTSTATUS {
    let irql: KIRQL = current_irql();
    let mut state = world.lock();
    if !state.irql_ok(ddi, irql) {
        return state.record(
            ddi,
            format!("{via}, at IRQL {irql}"),
            STATUS_INVALID_DEVICE_STATE,
        );
    }
    let detail = format!("{via}, pdo {pdo:p}");
    if let Some(status) = state.fallible(ddi) {
        return state.record(ddi, detail, status);
    }
    // SAFETY: the caller passes a descriptor it owns (or garbage we refuse as null/misaligned).
    let parsed = unsafe { read_descriptor(descriptor) };
    let (resource, descriptor_pdo, bytes) = match parsed {
        Ok(parsed) => parsed,
        Err(status) => return state.record(ddi, format!("{detail}, bad descriptor"), status),
    };
    // v1 takes the PDO from the descriptor; the others take it as a parameter.
    let pdo = if matches!(via, Via::InterfaceV1 { .. }) {
        descriptor_pdo
    } else {
        pdo.addr()
    };
    if pdo == 0 || !resource_set.is_null() || handle.is_null() {
        return state.record(
            ddi,
            format!("{detail}, bad parameter"),
            portcls_sys::STATUS_INVALID_PARAMETER,
        );
    }
    if !state.devices.values().any(|&known| known == pdo) {
        state.violate(Violation::UnknownPdo { ddi, pdo });
    }
    state.check_live_resource(ddi, &resource);
    let token = 0x1000 + 0x10 * usize::try_from(state.next_id()).unwrap_or(0);
    let registration = crate::StreamResource {
        handle: token,
        via,
        pdo,
        resource,
        descriptor: bytes,
    };
    state.registered_ever.push(registration);
    state.registrations.insert(token, registration);
    // SAFETY: `handle` is a writable slot (checked non-null). The handle is an opaque token.
    unsafe { handle.write(std::ptr::without_provenance_mut(token)) };
    state.record(
        ddi,
        format!("{detail}, {resource} -> handle {token:#x}"),
        STATUS_SUCCESS,
    )
}

/// The shared body of every remove routine.
pub(crate) fn remove(world: &World, ddi: Ddi, via: Via, handle: PCSTREAMRESOURCE) -> NTSTATUS {
    let irql = current_irql();
    let mut state = world.lock();
    if !state.irql_ok(ddi, irql) {
        return state.record(
            ddi,
            format!("{via}, at IRQL {irql}"),
            STATUS_INVALID_DEVICE_STATE,
        );
    }
    let detail = format!("{via}, handle {:#x}", handle.addr());
    if let Some(status) = state.fallible(ddi) {
        return state.record(ddi, detail, status);
    }
    let status = state.remove_registration(ddi, handle.addr(), via);
    state.record(ddi, detail, status)
}

portcls_sys::kernel_abi! {
    unsafe fn add_stream_resource(
        this: *mut IPortClsStreamResourceManager,
        resource_set: PVOID,
        descriptor: *mut PCSTREAMRESOURCE_DESCRIPTOR,
        handle: *mut PCSTREAMRESOURCE,
    ) -> NTSTATUS {
        crate::stack::model(|| {
            // SAFETY: called through this object's manager interface.
            let (_, id, world) = unsafe { object::<MANAGER_OFFSET>(this.cast()) };
            if !alive(&world, id, Ddi::AddStreamResource) {
                return STATUS_INVALID_DEVICE_STATE;
            }
            let via = Via::InterfaceV1 { port: id };
            add(
                &world,
                Ddi::AddStreamResource,
                via,
                std::ptr::null_mut(),
                resource_set,
                descriptor,
                handle,
            )
        })
    }
}

portcls_sys::kernel_abi! {
    unsafe fn add_stream_resource2(
        this: *mut IPortClsStreamResourceManager2,
        pdo: PDEVICE_OBJECT,
        resource_set: PVOID,
        descriptor: *mut PCSTREAMRESOURCE_DESCRIPTOR,
        handle: *mut PCSTREAMRESOURCE,
    ) -> NTSTATUS {
        crate::stack::model(|| {
            // SAFETY: called through this object's manager interface.
            let (_, id, world) = unsafe { object::<MANAGER_OFFSET>(this.cast()) };
            if !alive(&world, id, Ddi::AddStreamResource2) {
                return STATUS_INVALID_DEVICE_STATE;
            }
            let via = Via::InterfaceV2 { port: id };
            add(
                &world,
                Ddi::AddStreamResource2,
                via,
                pdo,
                resource_set,
                descriptor,
                handle,
            )
        })
    }
}

portcls_sys::kernel_abi! {
    unsafe fn remove_stream_resource(
        this: *mut IPortClsStreamResourceManager,
        handle: PCSTREAMRESOURCE,
    ) -> NTSTATUS {
        crate::stack::model(|| {
            // SAFETY: called through this object's manager interface.
            let (_, id, world) = unsafe { object::<MANAGER_OFFSET>(this.cast()) };
            if !alive(&world, id, Ddi::RemoveStreamResource) {
                return STATUS_INVALID_DEVICE_STATE;
            }
            let has_v2 = world.lock().profile.has_interface_v2();
            let via = if has_v2 {
                Via::InterfaceV2 { port: id }
            } else {
                Via::InterfaceV1 { port: id }
            };
            remove(&world, Ddi::RemoveStreamResource, via, handle)
        })
    }
}
