//! PortCls's adapter side: loading a driver, `AddDevice`, `StartDevice`, ports and their
//! miniports, subdevices and physical connections, as PortCls drives them.

use std::ptr::NonNull;
use std::sync::Arc;

use portcls_sys::km::{DRIVER_OBJECT, PDRIVER_ADD_DEVICE, PDRIVER_OBJECT, PIRP, UNICODE_STRING};
use portcls_sys::ks::KSPIN_COMMUNICATION_NONE;
use portcls_sys::wavert::{
    CLSID_PortTopology, CLSID_PortWaveRT, IID_IMiniportTopology, IID_IMiniportWaveRT,
    IMiniportTopology, IMiniportTopologyVtbl, IMiniportWaveRT, IMiniportWaveRTVtbl, IPort,
    PCFILTER_DESCRIPTOR, PCPFNSTARTDEVICE, PCPIN_DESCRIPTOR, PORT_CLASS_DEVICE_EXTENSION_SIZE,
    PPORT, PRESOURCELIST,
};
use portcls_sys::{
    GUID, IUnknown, IUnknownVtbl, NTSTATUS, PDEVICE_OBJECT, PUNKNOWN, PVOID,
    STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_PARAMETER, STATUS_NOT_IMPLEMENTED, STATUS_SUCCESS,
    ULONG,
};

use crate::image::{Image, ImageError};
use crate::stack::call_driver;
use crate::world::{Bound, RefChange, World};
use crate::{Ddi, Sim, current_irql, with_world};

/// Which port driver a port object is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PortKind {
    /// A bare port for the stream-resource tests (only the manager interfaces matter).
    Generic,
    /// `CLSID_PortWaveRT`.
    WaveRt,
    /// `CLSID_PortTopology`.
    Topology,
}

/// A COM object pointer the model holds one reference on: one of the driver's (booked in the
/// world's driver objects) or one of the model's own ports.
#[derive(Debug)]
pub(crate) struct RawUnknown {
    object: NonNull<IUnknown>,
    /// Whether it is the driver's (so its references are booked and it may have been freed).
    driver: bool,
}

// SAFETY: COM objects of a driver are free-threaded; the model only calls IUnknown on them.
unsafe impl Send for RawUnknown {}

impl RawUnknown {
    fn vtable(&self) -> IUnknownVtbl {
        // SAFETY: a live COM object (the model holds a reference).
        unsafe { vtable_of(self.object.as_ptr().cast()) }
    }

    /// Takes over a reference the driver handed out (`how` names the routine), booking it
    /// against the driver object in `world`.
    pub(crate) fn taken(
        object: NonNull<IUnknown>,
        world: &World,
        role: &str,
        how: &'static str,
    ) -> Self {
        world
            .lock()
            .driver_reference(object.as_ptr().addr(), role, RefChange::Taken(how));
        Self {
            object,
            driver: true,
        }
    }

    /// Takes another reference on one of the model's own ports.
    fn port(object: NonNull<IUnknown>) -> Self {
        let held = Self {
            object,
            driver: false,
        };
        let add_ref = held.vtable().AddRef;
        // SAFETY: a live port.
        unsafe { add_ref(object.as_ptr()) };
        held
    }

    /// Gives the reference back (never with the model's lock held: the driver runs). A driver
    /// object the driver freed under this reference is not called again.
    pub(crate) fn release(self, world: &World) {
        if self.driver {
            // SAFETY: the reference this value owns, on a driver object.
            unsafe { release_driver_reference(world, self.object.as_ptr()) };
        } else {
            let release = self.vtable().Release;
            // SAFETY: the reference this value owns.
            unsafe { release(self.object.as_ptr()) };
        }
    }

    pub(crate) fn as_ptr(&self) -> PUNKNOWN {
        self.object.as_ptr()
    }
}

/// Gives back one of the model's references on a driver COM object and books it; the count the
/// driver reported, or `None` if the driver had already freed the object under the model's
/// reference (it is not called again: on Windows the call would crash).
///
/// # Safety
/// The model owns a reference on `object`, taken with [`RawUnknown::taken`] or booked with
/// `RefChange::Taken`.
pub(crate) unsafe fn release_driver_reference(world: &World, object: PUNKNOWN) -> Option<u32> {
    // SAFETY: the caller's contract, with the interface its own identity.
    unsafe { release_driver_interface(world, object, object.addr()) }
}

/// As [`release_driver_reference`], through `interface`, an interface pointer of the object
/// whose identity (the address its references are booked under) is `identity`: for an
/// interface the object answers on a vtable pointer of its own, at another address.
///
/// # Safety
/// The model owns a reference on the object, taken through `interface` and booked under
/// `identity`.
pub(crate) unsafe fn release_driver_interface(
    world: &World,
    interface: PUNKNOWN,
    identity: usize,
) -> Option<u32> {
    let object = interface;
    let address = identity;
    {
        let mut state = world.lock();
        if state.driver_object_gone(address) {
            return None;
        }
        state.driver_release_begins(address);
    }
    // SAFETY: a live COM object (not freed, checked above; the caller's reference).
    let unknown: IUnknownVtbl = unsafe { vtable_of(object.cast()) };
    // SAFETY: as above.
    let count = unsafe { call_driver(world, "IUnknown::Release", unknown.Release, (object,)) };
    world
        .lock()
        .driver_reference(address, "", RefChange::Release(count));
    Some(count)
}

/// Copies a COM object's vtable.
///
/// # Safety
/// `object` is a live COM object whose vtable is (or begins with) a `V`.
pub(crate) unsafe fn vtable_of<V: Copy>(object: *mut std::ffi::c_void) -> V {
    // SAFETY: a COM object starts with a pointer to its vtable (caller's contract).
    let vtable = unsafe { object.cast::<*const V>().read() };
    // SAFETY: that vtable is (or begins with) a V.
    unsafe { vtable.read() }
}

/// A block of zeroed memory the model hands out as a kernel structure (freed with the machine).
#[derive(Debug)]
pub(crate) struct RawBlock(*mut [u64]);

// SAFETY: plain memory; freed once by the machine that owns it.
unsafe impl Send for RawBlock {}

impl RawBlock {
    pub(crate) fn new(bytes: usize) -> Self {
        let words = vec![0u64; bytes.div_ceil(8).max(1)].into_boxed_slice();
        Self(Box::into_raw(words))
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.0.cast::<u8>()
    }

    pub(crate) fn words(&self) -> *mut u64 {
        self.0.cast::<u64>()
    }

    /// Stores a pointer in the block at byte `offset` (a multiple of 8, inside the block).
    pub(crate) fn write_pointer(&self, offset: usize, value: *mut u8) {
        debug_assert!(offset.is_multiple_of(8) && offset / 8 < self.0.len());
        let slot = self
            .0
            .cast::<u64>()
            .wrapping_add(offset / 8)
            .cast::<*mut u8>();
        // SAFETY: in bounds and 8-byte aligned (u64 storage); the block is ours.
        unsafe { slot.write(value) };
    }
}

impl Drop for RawBlock {
    fn drop(&mut self) {
        // SAFETY: made by Box::into_raw in `new`, freed only here.
        drop(unsafe { Box::from_raw(self.0) });
    }
}

/// Offset of `DEVICE_OBJECT.DeviceExtension` on 64-bit Windows.
pub const DEVICE_EXTENSION_OFFSET: usize = 0x40;
/// Bytes of a 64-bit `DEVICE_OBJECT`.
const DEVICE_OBJECT_SIZE: usize = 0x150;

/// A subdevice registered with `PcRegisterSubdevice`.
#[derive(Debug)]
pub(crate) struct SubdeviceState {
    name: String,
    port_id: u64,
    pub(crate) port: RawUnknown,
}

/// What the model keeps for an FDO made by `PcAddAdapterDevice`.
#[derive(Debug)]
pub(crate) struct AdapterState {
    pub(crate) pdo: usize,
    pub(crate) start: PCPFNSTARTDEVICE,
    pub(crate) started: bool,
    subdevices: Vec<SubdeviceState>,
    connections: Vec<PhysicalConnection>,
    /// The adapter's `IAdapterPowerManagement`, once registered.
    pub(crate) power: Option<RawUnknown>,
}

impl AdapterState {
    /// What removal releases: the subdevices and the power interface.
    pub(crate) fn into_parts(self) -> (Vec<SubdeviceState>, Option<RawUnknown>) {
        (self.subdevices, self.power)
    }
}

/// A physical connection, by subdevice name.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PhysicalConnection {
    /// The subdevice the connection leaves.
    pub from: String,
    /// Its pin.
    pub from_pin: u32,
    /// The subdevice it reaches.
    pub to: String,
    /// Its pin.
    pub to_pin: u32,
}

/// A registered subdevice as tests see it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Subdevice {
    /// The name passed to `PcRegisterSubdevice`.
    pub name: String,
    /// The port driver behind it.
    pub kind: PortKind,
    /// The miniport's filter descriptor (valid while the device exists).
    pub descriptor: *const PCFILTER_DESCRIPTOR,
    /// Its pin count.
    pub pins: u32,
    /// Its bridge pins.
    pub bridge_pins: Vec<u32>,
}

/// A driver's `DriverEntry`.
pub type DriverEntry = portcls_sys::kernel_abi!(
    unsafe fn(driver: PDRIVER_OBJECT, registry_path: *mut UNICODE_STRING) -> NTSTATUS
);

fn port_id_of(port: PUNKNOWN) -> u64 {
    // SAFETY: a port object of the model (offset 0 is its identity); callers pass only those.
    let object = unsafe { &*port.cast::<crate::port::PortObject>() };
    object.id
}

portcls_sys::kernel_abi! {
    /// `PcInitializeAdapterDriver`: remembers `AddDevice`.
    ///
    /// # Safety
    /// As the real routine.
    #[unsafe(no_mangle)]
    pub unsafe fn PcInitializeAdapterDriver(
        driver: PDRIVER_OBJECT,
        _registry_path: *mut UNICODE_STRING,
        add_device: PDRIVER_ADD_DEVICE,
    ) -> NTSTATUS {
        with_world("PcInitializeAdapterDriver", |world| {
            let ddi = Ddi::PcInitializeAdapterDriver;
            let mut state = world.lock();
            if let Some(status) = state.fallible(ddi) {
                return state.record(ddi, String::new(), status);
            }
            if driver.is_null() || add_device.is_none() {
                return state.record(ddi, "null argument".to_owned(), STATUS_INVALID_PARAMETER);
            }
            state.add_device = add_device;
            // SAFETY: the I/O manager's (the model's) writable driver object, checked non-null.
            unsafe { crate::pnp::install_dispatch(driver) };
            // SAFETY: as above.
            unsafe { (*driver).DriverUnload = Some(port_class_unload) };
            state.record(ddi, String::new(), STATUS_SUCCESS)
        })
    }
}

/// The type of a `DriverUnload` routine.
type PortClsUnload = portcls_sys::kernel_abi!(unsafe fn(driver: PDRIVER_OBJECT));

portcls_sys::kernel_abi! {
    /// PortCls's `DriverUnload`, installed by `PcInitializeAdapterDriver`; a driver that puts its
    /// own in front must call this one.
    unsafe fn port_class_unload(driver: PDRIVER_OBJECT) {
        with_world("DriverUnload", |world| {
            let mut state = world.lock();
            let ours = driver.addr() == state.driver_object;
            if !ours {
                state.violate(crate::Violation::BadObject {
                    ddi: Ddi::DriverUnload,
                    object: driver.addr(),
                });
                return;
            }
            state.portcls_unload_ran = true;
            state.record(Ddi::DriverUnload, "PortCls".to_owned(), STATUS_SUCCESS);
        });
    }
}

portcls_sys::kernel_abi! {
    /// `PcAddAdapterDevice`: makes the FDO (with its extension) over `pdo`.
    ///
    /// # Safety
    /// As the real routine.
    #[unsafe(no_mangle)]
    pub unsafe fn PcAddAdapterDevice(
        _driver: PDRIVER_OBJECT,
        pdo: PDEVICE_OBJECT,
        start: PCPFNSTARTDEVICE,
        max_objects: ULONG,
        extension_size: ULONG,
    ) -> NTSTATUS {
        with_world("PcAddAdapterDevice", |world| {
            let ddi = Ddi::PcAddAdapterDevice;
            let mut state = world.lock();
            let detail =
                format!("pdo {pdo:p}, {max_objects} objects, extension {extension_size} bytes");
            if let Some(status) = state.fallible(ddi) {
                return state.record(ddi, detail, status);
            }
            let extension_ok =
                extension_size == 0 || extension_size >= PORT_CLASS_DEVICE_EXTENSION_SIZE;
            if pdo.is_null() || start.is_none() || max_objects == 0 || !extension_ok {
                return state.record(ddi, detail, STATUS_INVALID_PARAMETER);
            }
            let fdo = RawBlock::new(DEVICE_OBJECT_SIZE);
            let extension = RawBlock::new(usize::try_from(extension_size).unwrap_or(0).max(8));
            fdo.write_pointer(DEVICE_EXTENSION_OFFSET, extension.ptr());
            let address = fdo.ptr().addr();
            state.devices.insert(address, pdo.addr());
            let adapter = AdapterState {
                pdo: pdo.addr(),
                start,
                started: false,
                subdevices: Vec::new(),
                connections: Vec::new(),
                power: None,
            };
            state.adapters.insert(address, adapter);
            state.device_blocks.push(fdo);
            state.device_blocks.push(extension);
            state.record(ddi, format!("{detail} -> fdo {address:#x}"), STATUS_SUCCESS)
        })
    }
}

portcls_sys::kernel_abi! {
    /// `PcNewPort`: a WaveRT or Topology port.
    ///
    /// # Safety
    /// As the real routine.
    #[unsafe(no_mangle)]
    pub unsafe fn PcNewPort(out: *mut PPORT, class: *const GUID) -> NTSTATUS {
        with_world("PcNewPort", |world| {
            let ddi = Ddi::PcNewPort;
            let irql = current_irql();
            let mut state = world.lock();
            if !state.irql_ok(ddi, irql) {
                return STATUS_INVALID_DEVICE_STATE;
            }
            if out.is_null() || class.is_null() {
                return state.record(ddi, "null argument".to_owned(), STATUS_INVALID_PARAMETER);
            }
            // SAFETY: a readable GUID (checked non-null).
            let class = unsafe { class.read() };
            let kind = if class == CLSID_PortWaveRT {
                PortKind::WaveRt
            } else if class == CLSID_PortTopology {
                PortKind::Topology
            } else {
                return state.record(ddi, crate::guid_name(&class), STATUS_INVALID_PARAMETER);
            };
            if let Some(status) = state.fallible(ddi) {
                return state.record(ddi, format!("{kind:?}"), status);
            }
            drop(state);
            let port = crate::port::new_port(world, kind);
            // SAFETY: writable (checked non-null).
            unsafe { out.write(port.cast()) };
            world.lock().record(
                ddi,
                format!("{kind:?} -> port#{}", port_id_of(port)),
                STATUS_SUCCESS,
            )
        })
    }
}

/// Reads the pin facts the model needs from a filter descriptor.
///
/// # Safety
/// `descriptor` is null or a readable descriptor whose pin table is readable.
unsafe fn pins_of(descriptor: *const PCFILTER_DESCRIPTOR) -> Option<(u32, Vec<u32>)> {
    // SAFETY: caller's contract.
    let filter = unsafe { descriptor.as_ref() }?;
    let size = usize::try_from(filter.PinSize).ok()?;
    if filter.PinCount > 0
        && (filter.Pins.is_null() || size < std::mem::size_of::<PCPIN_DESCRIPTOR>())
    {
        return None;
    }
    let mut bridges = Vec::new();
    for pin in 0..filter.PinCount {
        let offset = size * usize::try_from(pin).ok()?;
        let entry = filter.Pins.wrapping_byte_add(offset);
        // SAFETY: inside the pin table (PinCount entries of PinSize bytes).
        let entry = unsafe { &*entry };
        if entry.KsPinDescriptor.Communication == KSPIN_COMMUNICATION_NONE {
            bridges.push(pin);
        }
    }
    Some((filter.PinCount, bridges))
}

portcls_sys::kernel_abi! {
    /// `IPort::Init`: binds the miniport (its `Init`, then `GetDescription`), as PortCls does.
    pub(crate) unsafe fn port_init(
        this: *mut IPort,
        _device: PDEVICE_OBJECT,
        _irp: PIRP,
        miniport: PUNKNOWN,
        adapter: PUNKNOWN,
        resources: PRESOURCELIST,
    ) -> NTSTATUS {
        with_world("IPort::Init", |world| {
            let id = port_id_of(this.cast());
            let ddi = Ddi::PortInit;
            let mut state = world.lock();
            let Some(kind) = state.ports.get(&id).map(|p| p.kind) else {
                return STATUS_INVALID_PARAMETER;
            };
            if miniport.is_null() || kind == PortKind::Generic {
                return state.record(ddi, format!("port#{id}"), STATUS_INVALID_PARAMETER);
            }
            if state.ports.get(&id).is_some_and(|p| p.bound.is_some()) {
                return state.record(
                    ddi,
                    format!("port#{id}, initialised twice"),
                    STATUS_INVALID_DEVICE_STATE,
                );
            }
            drop(state);
            let iid = if kind == PortKind::WaveRt {
                IID_IMiniportWaveRT
            } else {
                IID_IMiniportTopology
            };
            // SAFETY: the driver passed its miniport's IUnknown.
            let unknown: IUnknownVtbl = unsafe { vtable_of(miniport.cast()) };
            let mut raw: PVOID = std::ptr::null_mut();
            let query = unknown.QueryInterface;
            let args = (miniport, &raw const iid, &raw mut raw);
            // SAFETY: a live miniport; `raw` is writable.
            let status = unsafe { call_driver(world, "IUnknown::QueryInterface", query, args) };
            let Some(bound) =
                NonNull::new(raw.cast::<IUnknown>()).filter(|_| portcls_sys::NT_SUCCESS(status))
            else {
                return world.lock().record(
                    ddi,
                    format!("port#{id}: miniport lacks {}", crate::guid_name(&iid)),
                    STATUS_INVALID_PARAMETER,
                );
            };
            let bound = RawUnknown::taken(
                bound,
                world,
                &format!("miniport of port#{id}"),
                "QueryInterface",
            );
            let status = init_miniport(world, kind, raw, adapter, resources, this);
            let mut descriptor: *mut PCFILTER_DESCRIPTOR = std::ptr::null_mut();
            let status = if portcls_sys::NT_SUCCESS(status) {
                // SAFETY: the miniport's vtable begins with IMiniport's.
                let vtable: portcls_sys::wavert::IMiniportVtbl = unsafe { vtable_of(raw) };
                let args = (raw.cast(), &raw mut descriptor);
                let entry = "IMiniport::GetDescription";
                // SAFETY: a live miniport and a writable slot.
                unsafe { call_driver(world, entry, vtable.GetDescription, args) }
            } else {
                status
            };
            // SAFETY: what GetDescription returned (null is handled).
            let pins = unsafe { pins_of(descriptor) };
            // The KS rules endpoint creation depends on; a breach is reported like a verifier
            // finding (PortCls itself would accept the descriptor and Windows would show nothing).
            let breaches = if pins.is_some() {
                // SAFETY: a descriptor the miniport handed out, readable while it lives.
                unsafe { crate::ks_rules::check_filter(descriptor) }
            } else {
                Vec::new()
            };
            let mut state = world.lock();
            if !breaches.is_empty() {
                state.violate(crate::Violation::FilterRules {
                    port: id,
                    breaches: breaches.len(),
                });
                state
                    .breaches
                    .extend(breaches.iter().map(|b| format!("port#{id}: {b}")));
            }
            let Some((pins, bridge_pins)) = pins.filter(|_| portcls_sys::NT_SUCCESS(status)) else {
                let status = if portcls_sys::NT_SUCCESS(status) {
                    STATUS_INVALID_PARAMETER
                } else {
                    status
                };
                state.record(ddi, format!("port#{id} ({kind:?})"), status);
                drop(state);
                bound.release(world);
                return status;
            };
            if let Some(port) = state.ports.get_mut(&id) {
                port.bound = Some(Bound {
                    miniport: bound,
                    descriptor: descriptor.cast_const(),
                    pins,
                    bridge_pins,
                });
            }
            state.record(
                ddi,
                format!("port#{id} ({kind:?}): {pins} pins"),
                STATUS_SUCCESS,
            )
        })
    }
}

fn init_miniport(
    world: &World,
    kind: PortKind,
    miniport: PVOID,
    adapter: PUNKNOWN,
    resources: PRESOURCELIST,
    port: *mut IPort,
) -> NTSTATUS {
    if kind == PortKind::WaveRt {
        let miniport = miniport.cast::<IMiniportWaveRT>();
        // SAFETY: QueryInterface returned this interface.
        let vtable: IMiniportWaveRTVtbl = unsafe { vtable_of(miniport.cast()) };
        let args = (miniport, adapter, resources, port.cast());
        // SAFETY: a live miniport; the port is the WaveRT port being initialised.
        unsafe { call_driver(world, "IMiniportWaveRT::Init", vtable.Init, args) }
    } else {
        let miniport = miniport.cast::<IMiniportTopology>();
        // SAFETY: QueryInterface returned this interface.
        let vtable: IMiniportTopologyVtbl = unsafe { vtable_of(miniport.cast()) };
        let args = (miniport, adapter, resources, port.cast());
        // SAFETY: as above, for the Topology port.
        unsafe { call_driver(world, "IMiniportTopology::Init", vtable.Init, args) }
    }
}

portcls_sys::kernel_abi! {
    /// `IPort::GetDeviceProperty`: not modelled.
    pub(crate) unsafe fn port_get_device_property(
        _this: *mut IPort,
        _property: portcls_sys::km::DEVICE_REGISTRY_PROPERTY,
        _length: ULONG,
        _buffer: PVOID,
        _result: *mut ULONG,
    ) -> NTSTATUS {
        crate::stack::model_leaf(|| STATUS_NOT_IMPLEMENTED)
    }
}

portcls_sys::kernel_abi! {
    /// `IPort::NewRegistryKey`: not modelled.
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn port_new_registry_key(
        _this: *mut IPort,
        _out: *mut portcls_sys::wavert::PREGISTRYKEY,
        _outer: PUNKNOWN,
        _kind: ULONG,
        _access: u32,
        _attributes: portcls_sys::km::POBJECT_ATTRIBUTES,
        _options: ULONG,
        _disposition: *mut ULONG,
    ) -> NTSTATUS {
        crate::stack::model_leaf(|| STATUS_NOT_IMPLEMENTED)
    }
}

/// Reads a NUL-terminated UTF-16 string (at most 256 units).
///
/// # Safety
/// `name` is null or readable up to its NUL.
unsafe fn read_name(name: *const u16) -> Option<String> {
    if name.is_null() {
        return None;
    }
    let mut units = Vec::new();
    for i in 0..256 {
        let unit = name.wrapping_add(i);
        // SAFETY: readable up to the NUL (caller's contract).
        let unit = unsafe { unit.read() };
        if unit == 0 {
            return String::from_utf16(&units).ok();
        }
        units.push(unit);
    }
    None
}

portcls_sys::kernel_abi! {
    /// `PcRegisterSubdevice`: keeps the port (one reference) under `name`.
    ///
    /// # Safety
    /// As the real routine.
    #[unsafe(no_mangle)]
    pub unsafe fn PcRegisterSubdevice(
        device: PDEVICE_OBJECT,
        name: *const u16,
        port: PUNKNOWN,
    ) -> NTSTATUS {
        with_world("PcRegisterSubdevice", |world| {
            let ddi = Ddi::PcRegisterSubdevice;
            // SAFETY: caller's contract.
            let name = unsafe { read_name(name) };
            let mut state = world.lock();
            let Some(name) = name.filter(|n| !n.is_empty()) else {
                return state.record(ddi, "bad name".to_owned(), STATUS_INVALID_PARAMETER);
            };
            let detail = format!("\"{name}\"");
            if let Some(status) = state.fallible(ddi) {
                return state.record(ddi, detail, status);
            }
            let Some(port) = NonNull::new(port) else {
                return state.record(ddi, detail, STATUS_INVALID_PARAMETER);
            };
            let id = port_id_of(port.as_ptr());
            let bound = state.ports.get(&id).is_some_and(|p| p.bound.is_some());
            let Some(adapter) = state.adapters.get(&device.addr()) else {
                return state.record(
                    ddi,
                    format!("{detail}: unknown device"),
                    STATUS_INVALID_PARAMETER,
                );
            };
            if !bound || adapter.subdevices.iter().any(|s| s.name == name) {
                return state.record(
                    ddi,
                    format!("{detail}: port not initialised or name taken"),
                    STATUS_INVALID_PARAMETER,
                );
            }
            drop(state);
            let held = RawUnknown::port(port);
            let mut state = world.lock();
            if let Some(adapter) = state.adapters.get_mut(&device.addr()) {
                adapter.subdevices.push(SubdeviceState {
                    name,
                    port_id: id,
                    port: held,
                });
            }
            state.record(ddi, format!("{detail} -> port#{id}"), STATUS_SUCCESS)
        })
    }
}

portcls_sys::kernel_abi! {
    /// `PcRegisterPhysicalConnection`: both ends must be registered subdevices, the pins bridge
    /// pins of their filters.
    ///
    /// # Safety
    /// As the real routine.
    #[unsafe(no_mangle)]
    pub unsafe fn PcRegisterPhysicalConnection(
        device: PDEVICE_OBJECT,
        from: PUNKNOWN,
        from_pin: ULONG,
        to: PUNKNOWN,
        to_pin: ULONG,
    ) -> NTSTATUS {
        with_world("PcRegisterPhysicalConnection", |world| {
            let ddi = Ddi::PcRegisterPhysicalConnection;
            let mut state = world.lock();
            if let Some(status) = state.fallible(ddi) {
                return state.record(ddi, String::new(), status);
            }
            let end = |state: &crate::world::State, port: PUNKNOWN, pin: u32| -> Option<String> {
                let id = (!port.is_null()).then(|| port_id_of(port))?;
                let adapter = state.adapters.get(&device.addr())?;
                let name = adapter
                    .subdevices
                    .iter()
                    .find(|s| s.port_id == id)?
                    .name
                    .clone();
                let bound = state.ports.get(&id)?.bound.as_ref()?;
                bound.bridge_pins.contains(&pin).then_some(name)
            };
            let (Some(from), Some(to)) = (end(&state, from, from_pin), end(&state, to, to_pin)) else {
                return state.record(
                    ddi,
                    format!("pin {from_pin} -> pin {to_pin}: not registered bridge pins"),
                    STATUS_INVALID_PARAMETER,
                );
            };
            let detail = format!("{from} pin {from_pin} -> {to} pin {to_pin}");
            if let Some(adapter) = state.adapters.get_mut(&device.addr()) {
                adapter.connections.push(PhysicalConnection {
                    from,
                    from_pin,
                    to,
                    to_pin,
                });
            }
            state.record(ddi, detail, STATUS_SUCCESS)
        })
    }
}

static REGISTRY_PATH: [u16; 16] = {
    let text = *b"\\Registry\\Driver";
    let mut out = [0u16; 16];
    let mut i = 0;
    while i < 16 {
        out[i] = text[i] as u16;
        i += 1;
    }
    out
};

impl Sim {
    /// Loads a driver: calls its `DriverEntry` with a fresh driver object.
    #[must_use]
    pub fn load_driver(&self, entry: DriverEntry) -> NTSTATUS {
        let block = RawBlock::new(std::mem::size_of::<DRIVER_OBJECT>());
        let driver = block.words().cast::<DRIVER_OBJECT>();
        self.world.lock().device_blocks.push(block);
        let mut path = UNICODE_STRING {
            Length: 32,
            MaximumLength: 32,
            Buffer: REGISTRY_PATH.as_ptr().cast_mut(),
        };
        self.world.lock().driver_object = driver.addr();
        let args = (driver, &raw mut path);
        // SAFETY: a zeroed driver object and a valid registry path, as the I/O manager passes.
        unsafe { call_driver(&self.world, "DriverEntry", entry, args) }
    }

    /// Loads a driver image (the `.sys` as shipped, signed or not) as the kernel loader does and
    /// calls its `DriverEntry` ([`Sim::load_driver`]): maps it, applies its base relocations,
    /// binds each import to the routine this machine's [`OsProfile`](crate::OsProfile)
    /// exports under that module and name ([`crate::exports`]), protects its sections, and enters
    /// it with the Windows calling convention of the host architecture. The image stays mapped
    /// until [`Sim::unload_driver`] (or the machine goes). Returns what `DriverEntry` returned.
    ///
    /// From here on the machine measures the stack each of the driver's entry points uses
    /// ([`Sim::stack_usage`]), `DriverEntry` first.
    ///
    /// # Errors
    /// The [`ImageError`] that kept the image from loading (nothing stays mapped then, and
    /// `DriverEntry` is not called): a malformed file, another machine, an unsupported
    /// relocation, a writable and executable section, an import the model does not export, or
    /// a driver already loaded on this machine.
    pub fn load_image(&self, bytes: &[u8]) -> Result<NTSTATUS, ImageError> {
        // Replacing a loaded driver's image would unmap code the machine still calls.
        if self.world.lock().driver_object != 0 {
            return Err(ImageError::DriverLoaded);
        }
        let profile = self.profile();
        let image = Image::load(bytes, &mut |module, name| {
            crate::exports::resolve(profile, module, name)
        })?;
        let entry = image.entry();
        let code = (image.base(), image.base() + image.size());
        let image = Arc::new(image);
        self.world.lock().image = Some(Arc::clone(&image));
        // SAFETY: `entry` is the entry point of an image for this machine, mapped, relocated,
        // bound and executable, and kept mapped while the machine holds it; a driver's entry
        // point is `DriverEntry` with the kernel convention of this architecture.
        let entry: DriverEntry = unsafe { std::mem::transmute::<usize, DriverEntry>(entry) };
        self.world.stack.start(code);
        Ok(self.load_driver(entry))
    }

    /// The driver image loaded with [`Sim::load_image`], while it is mapped.
    #[must_use]
    pub fn image(&self) -> Option<Arc<Image>> {
        self.world.lock().image.clone()
    }

    /// Unloads the driver as the I/O manager does once its last device is gone: calls the
    /// driver object's `DriverUnload` at `PASSIVE_LEVEL` (PortCls's, or the driver's own, which
    /// must call PortCls's). [`Sim::leftovers`] then lists what the driver left behind: pool,
    /// references, registrations, its COM objects still alive, threads still running.
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` if no driver is loaded, it was unloaded already, or a
    /// device is still present (Windows unloads a driver only after its last device is
    /// removed).
    pub fn unload_driver(&self) -> Result<(), NTSTATUS> {
        let driver = {
            let state = self.world.lock();
            if state.driver_object == 0 || state.driver_unloaded || !state.adapters.is_empty() {
                return Err(STATUS_INVALID_DEVICE_STATE);
            }
            state.driver_object
        };
        let driver = self
            .world
            .lock()
            .device_blocks
            .iter()
            .find(|b| b.ptr().addr() == driver)
            .map(|b| b.words().cast::<DRIVER_OBJECT>())
            .ok_or(STATUS_INVALID_DEVICE_STATE)?;
        // SAFETY: the driver object this machine made and keeps until it goes.
        let unload = unsafe { (*driver).DriverUnload };
        let portcls: PortClsUnload = port_class_unload;
        match unload {
            // PortCls's own routine (the driver installed none): the model's code.
            // SAFETY: PortCls's unload routine with the driver object, after its last device
            // went, as the I/O manager calls it.
            Some(unload) if std::ptr::fn_addr_eq(unload, portcls) => unsafe { unload(driver) },
            // SAFETY: the driver's unload routine, as above.
            Some(unload) => unsafe { call_driver(&self.world, "DriverUnload", unload, (driver,)) },
            None => {}
        }
        let mut state = self.world.lock();
        state.driver_unloaded = true;
        // An unloaded driver gets no new device: nothing calls into it again.
        state.add_device = None;
        if !state.portcls_unload_ran {
            state.violate(crate::Violation::PortClsUnloadSkipped);
        }
        crate::interrupt::check_unload(&mut state);
        // The I/O manager unmaps the image after DriverUnload. A leftover the machine reports
        // (a system thread still running in it, a COM object of the driver still alive) keeps
        // it mapped here, so that the leak is reported instead of faulting the host.
        let running = state
            .threads
            .values()
            .any(|t| t.system.is_some() && !t.exited);
        let alive = state.driver_objects.values().any(|o| o.alive);
        if !running && !alive {
            state.image = None;
        }
        Ok(())
    }

    /// Plugs in a device: makes its PDO and calls the driver's `AddDevice` (which calls
    /// `PcAddAdapterDevice`). Returns the device stack.
    ///
    /// # Errors
    /// `AddDevice`'s failure, or `STATUS_INVALID_DEVICE_STATE` if no driver registered one (or
    /// the driver was unloaded).
    pub fn plug_in(&self) -> Result<crate::Device, NTSTATUS> {
        let pdo: PDEVICE_OBJECT = crate::token_address(&self.world).cast();
        self.plug_in_at(pdo)
    }

    /// [`Sim::plug_in`] with a PDO the caller made.
    pub(crate) fn plug_in_at(&self, pdo: PDEVICE_OBJECT) -> Result<crate::Device, NTSTATUS> {
        let (add_device, driver) = {
            let state = self.world.lock();
            (state.add_device, state.driver_object)
        };
        let add_device = add_device.ok_or(STATUS_INVALID_DEVICE_STATE)?;
        let driver: PDRIVER_OBJECT = std::ptr::without_provenance_mut(driver);
        // SAFETY: the driver's AddDevice with its driver object and a fresh PDO.
        let status = unsafe { call_driver(&self.world, "AddDevice", add_device, (driver, pdo)) };
        if !portcls_sys::NT_SUCCESS(status) {
            return Err(status);
        }
        let state = self.world.lock();
        let fdo = state
            .adapters
            .iter()
            .find(|(_, a)| a.pdo == pdo.addr())
            .map(|(&f, _)| f);
        let fdo = fdo.ok_or(STATUS_INVALID_DEVICE_STATE)?;
        let block = state
            .device_blocks
            .iter()
            .find(|b| b.ptr().addr() == fdo)
            .map(|b| b.ptr().cast());
        Ok(crate::Device {
            fdo: block.ok_or(STATUS_INVALID_DEVICE_STATE)?,
            pdo,
        })
    }

    /// The subdevices the device registered, in order.
    #[must_use]
    pub fn subdevices(&self, fdo: PDEVICE_OBJECT) -> Vec<Subdevice> {
        let state = self.world.lock();
        let Some(adapter) = state.adapters.get(&fdo.addr()) else {
            return Vec::new();
        };
        adapter
            .subdevices
            .iter()
            .filter_map(|s| {
                let port = state.ports.get(&s.port_id)?;
                let bound = port.bound.as_ref()?;
                Some(Subdevice {
                    name: s.name.clone(),
                    kind: port.kind,
                    descriptor: bound.descriptor,
                    pins: bound.pins,
                    bridge_pins: bound.bridge_pins.clone(),
                })
            })
            .collect()
    }

    /// The physical connections the device registered, in order.
    #[must_use]
    pub fn physical_connections(&self, fdo: PDEVICE_OBJECT) -> Vec<PhysicalConnection> {
        self.world
            .lock()
            .adapters
            .get(&fdo.addr())
            .map(|a| a.connections.clone())
            .unwrap_or_default()
    }

    /// The miniport bound to a registered subdevice's port, for driving it as PortCls would
    /// (the pointer is valid while the device exists).
    #[must_use]
    pub fn miniport(&self, fdo: PDEVICE_OBJECT, name: &str) -> Option<PUNKNOWN> {
        let id = self.port_id(fdo, name)?;
        let state = self.world.lock();
        Some(state.ports.get(&id)?.bound.as_ref()?.miniport.as_ptr())
    }

    /// The id of the port behind subdevice `name` of the device.
    pub(crate) fn port_id(&self, fdo: PDEVICE_OBJECT, name: &str) -> Option<u64> {
        let state = self.world.lock();
        let adapter = state.adapters.get(&fdo.addr())?;
        Some(adapter.subdevices.iter().find(|s| s.name == name)?.port_id)
    }
}
