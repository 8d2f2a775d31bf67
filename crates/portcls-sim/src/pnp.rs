//! Plug and Play and power, as the I/O manager and PortCls deliver them to an adapter.
//!
//! PnP requests travel as IRPs through the driver object's `IRP_MJ_PNP` entry, which
//! `PcInitializeAdapterDriver` points at PortCls's dispatcher and an adapter may hook (it then
//! passes each IRP on with `PcDispatchIrp`). The model builds a real IRP layout (the stack
//! location where `IoGetCurrentIrpStackLocation` finds it) so a hooking driver reads it as it
//! would on Windows. Power changes reach the adapter through the `IAdapterPowerManagement`
//! interface it registered with `PcRegisterAdapterPowerManagement`.
//!
//! At each moment the documentation names (stop, surprise removal, removal, leaving D0), the
//! model checks that nothing of the device is still registered as a stream resource; a
//! registration left is a [`Violation::RegisteredAcrossTransition`].

use std::ffi::c_void;
use std::ptr::NonNull;

use portcls_sys::km::{
    DRIVER_OBJECT, IO_STACK_LOCATION_SIZE, IRP_CURRENT_STACK_LOCATION_OFFSET,
    IRP_MJ_MAXIMUM_FUNCTION, IRP_MJ_PNP, IRP_MN_REMOVE_DEVICE, IRP_MN_START_DEVICE,
    IRP_MN_STOP_DEVICE, IRP_MN_SURPRISE_REMOVAL, IRP_SIZE, PIRP, POWER_DEVICE_D0, POWER_STATE,
};
use portcls_sys::wavert::{IAdapterPowerManagementVtbl, IID_IAdapterPowerManagement};
use portcls_sys::{
    DEVICE_OBJECT, IUnknown, IUnknownVtbl, NTSTATUS, PDEVICE_OBJECT, PUNKNOWN, PVOID,
    STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED, STATUS_SUCCESS,
};

use crate::adapter::{RawBlock, RawUnknown, vtable_of};
use crate::stack::call_driver;
use crate::world::World;

/// An IRP dispatch routine.
type Dispatch = portcls_sys::kernel_abi!(unsafe fn(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS);
use crate::{Ddi, Sim, Violation, with_world};

/// A PnP request the model can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PnpRequest {
    /// `IRP_MN_START_DEVICE`.
    Start,
    /// `IRP_MN_STOP_DEVICE` (resource rebalance).
    Stop,
    /// `IRP_MN_SURPRISE_REMOVAL`.
    SurpriseRemoval,
    /// `IRP_MN_REMOVE_DEVICE`.
    Remove,
}

impl PnpRequest {
    /// The minor function code.
    #[must_use]
    pub const fn minor(self) -> u8 {
        match self {
            Self::Start => IRP_MN_START_DEVICE,
            Self::Stop => IRP_MN_STOP_DEVICE,
            Self::SurpriseRemoval => IRP_MN_SURPRISE_REMOVAL,
            Self::Remove => IRP_MN_REMOVE_DEVICE,
        }
    }

    const fn from_minor(minor: u8) -> Option<Self> {
        match minor {
            IRP_MN_START_DEVICE => Some(Self::Start),
            IRP_MN_STOP_DEVICE => Some(Self::Stop),
            IRP_MN_SURPRISE_REMOVAL => Some(Self::SurpriseRemoval),
            IRP_MN_REMOVE_DEVICE => Some(Self::Remove),
            _ => None,
        }
    }
}

/// Points every major function of a new driver object at PortCls's dispatcher, as
/// `PcInitializeAdapterDriver` does.
///
/// # Safety
/// `driver` is a live, writable driver object.
pub(crate) unsafe fn install_dispatch(driver: *mut DRIVER_OBJECT) {
    for index in 0..=IRP_MJ_MAXIMUM_FUNCTION {
        // SAFETY: the caller's writable driver object; `index` is within the array.
        unsafe { (*driver).MajorFunction[index] = Some(PcDispatchIrp) };
    }
}

/// The IRP's current stack location's (major, minor) function codes.
///
/// # Safety
/// `irp` is an IRP the model built.
unsafe fn codes(irp: PIRP) -> (u8, u8) {
    // SAFETY: the model's IRP stores a pointer to its stack location at this (aligned) offset.
    let field = unsafe {
        irp.cast::<*const u8>()
            .byte_add(IRP_CURRENT_STACK_LOCATION_OFFSET)
    };
    // SAFETY: as above.
    let location = unsafe { field.read() };
    // SAFETY: the stack location's first two bytes are the function codes.
    let major = unsafe { location.read() };
    // SAFETY: as above.
    let second = unsafe { location.add(1) };
    // SAFETY: as above.
    let minor = unsafe { second.read() };
    (major, minor)
}

portcls_sys::kernel_abi! {
    /// `PcDispatchIrp`: PortCls's handling of an IRP. PnP start calls the adapter's
    /// `StartDevice`; stop, surprise removal and removal check that the device left nothing
    /// registered, and removal drops the subdevices (ports and miniports) and the power interface.
    ///
    /// # Safety
    /// `device` is an FDO the model made and `irp` an IRP it built.
    #[unsafe(no_mangle)]
    pub unsafe fn PcDispatchIrp(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
        with_world("PcDispatchIrp", |world| {
            if device.is_null() || irp.is_null() {
                return STATUS_INVALID_PARAMETER;
            }
            // SAFETY: the caller's IRP.
            let (major, minor) = unsafe { codes(irp) };
            let request = PnpRequest::from_minor(minor).filter(|_| major == IRP_MJ_PNP);
            let Some(request) = request else {
                return world.lock().record(
                    Ddi::PcDispatchIrp,
                    format!("major {major:#x} minor {minor:#x}"),
                    STATUS_NOT_SUPPORTED,
                );
            };
            let start = world.lock().trace.len();
            let status = match request {
                PnpRequest::Start => call_start_device(world, device, irp),
                PnpRequest::Stop | PnpRequest::SurpriseRemoval => {
                    check_nothing_registered(world, device, request);
                    if let Some(adapter) = world.lock().adapters.get_mut(&device.addr()) {
                        adapter.started = false;
                    }
                    STATUS_SUCCESS
                }
                PnpRequest::Remove => {
                    check_nothing_registered(world, device, request);
                    tear_down(world, device);
                    STATUS_SUCCESS
                }
            };
            world.lock().record_at(
                start,
                Ddi::PcDispatchIrp,
                format!("PnP {request:?}"),
                status,
            )
        })
    }
}

portcls_sys::kernel_abi! {
    /// `PcRegisterAdapterPowerManagement`: keeps the adapter's `IAdapterPowerManagement`.
    ///
    /// # Safety
    /// As the real routine.
    #[unsafe(no_mangle)]
    pub unsafe fn PcRegisterAdapterPowerManagement(
        unknown: PUNKNOWN,
        device: PDEVICE_OBJECT,
    ) -> NTSTATUS {
        with_world("PcRegisterAdapterPowerManagement", |world| {
            let ddi = Ddi::PcRegisterAdapterPowerManagement;
            {
                let mut state = world.lock();
                if let Some(status) = state.fallible(ddi) {
                    return state.record(ddi, String::new(), status);
                }
                if unknown.is_null() || !state.adapters.contains_key(&device.addr()) {
                    return state.record(ddi, "bad argument".to_owned(), STATUS_INVALID_PARAMETER);
                }
            }
            // SAFETY: the adapter's live COM object.
            let vtable: IUnknownVtbl = unsafe { vtable_of(unknown.cast()) };
            let mut raw: PVOID = std::ptr::null_mut();
            let iid = IID_IAdapterPowerManagement;
            let args = (unknown, &raw const iid, &raw mut raw);
            let query = vtable.QueryInterface;
            // SAFETY: as above; `raw` is writable.
            let status = unsafe { call_driver(world, "IUnknown::QueryInterface", query, args) };
            let Some(power) = NonNull::new(raw.cast::<IUnknown>()).filter(|_| status >= 0) else {
                return world.lock().record(ddi, "no interface".to_owned(), status);
            };
            let power = RawUnknown::taken(
                power,
                world,
                &format!("power interface of FDO {device:p}"),
                "QueryInterface",
            );
            let previous = world
                .lock()
                .adapters
                .get_mut(&device.addr())
                .and_then(|a| a.power.replace(power));
            if let Some(previous) = previous {
                previous.release(world);
            }
            world.lock().record(ddi, String::new(), STATUS_SUCCESS)
        })
    }
}

impl Sim {
    /// Sends a PnP request to the device through its driver's `IRP_MJ_PNP` entry (the
    /// driver's hook if it set one, PortCls's dispatcher otherwise).
    pub fn pnp(&self, fdo: PDEVICE_OBJECT, request: PnpRequest) -> NTSTATUS {
        let (dispatch, known) = {
            let state = self.world.lock();
            // The driver object the model made (and keeps) for the loaded driver.
            let driver = state
                .device_blocks
                .iter()
                .find(|b| state.driver_object != 0 && b.ptr().addr() == state.driver_object)
                .map(|b| b.words().cast::<DRIVER_OBJECT>());
            // SAFETY: a live driver object of the model, read while the model's lock is held.
            let dispatch =
                driver.and_then(|d| unsafe { (*d).MajorFunction[usize::from(IRP_MJ_PNP)] });
            // The model's own pointer to the FDO (the caller's is only compared).
            let known = state
                .adapters
                .contains_key(&fdo.addr())
                .then(|| {
                    state
                        .device_blocks
                        .iter()
                        .find(|b| b.ptr().addr() == fdo.addr())
                        .map(|b| b.words().cast::<DEVICE_OBJECT>())
                })
                .flatten();
            (dispatch, known)
        };
        let Some(fdo) = known else {
            return STATUS_INVALID_DEVICE_STATE;
        };
        let irp = RawBlock::new(IRP_SIZE + IO_STACK_LOCATION_SIZE);
        let location = irp.ptr().wrapping_add(IRP_SIZE);
        irp.write_pointer(IRP_CURRENT_STACK_LOCATION_OFFSET, location);
        // SAFETY: the stack location lies inside the block.
        unsafe { location.write(IRP_MJ_PNP) };
        // SAFETY: as above.
        let second = unsafe { location.add(1) };
        // SAFETY: as above.
        unsafe { second.write(request.minor()) };
        let portcls: Dispatch = PcDispatchIrp;
        let dispatch = dispatch.unwrap_or(portcls);
        let args = (fdo, irp.ptr().cast());
        if std::ptr::fn_addr_eq(dispatch, portcls) {
            // PortCls's own dispatcher (the driver hooked nothing): the model's code.
            // SAFETY: the device's FDO and a well-formed IRP, as the I/O manager would send them.
            unsafe { dispatch(args.0, args.1) }
        } else {
            // SAFETY: as above, to the driver's dispatch routine.
            unsafe { call_driver(&self.world, "IRP_MJ_PNP", dispatch, args) }
        }
    }

    /// `IRP_MN_START_DEVICE`.
    #[must_use]
    pub fn start_device(&self, device: &crate::Device) -> NTSTATUS {
        self.pnp(device.fdo, PnpRequest::Start)
    }

    /// `IRP_MN_STOP_DEVICE`.
    pub fn stop_device(&self, fdo: PDEVICE_OBJECT) -> NTSTATUS {
        self.pnp(fdo, PnpRequest::Stop)
    }

    /// `IRP_MN_SURPRISE_REMOVAL`.
    pub fn surprise_remove(&self, fdo: PDEVICE_OBJECT) -> NTSTATUS {
        self.pnp(fdo, PnpRequest::SurpriseRemoval)
    }

    /// `IRP_MN_REMOVE_DEVICE`: PortCls drops the subdevices (and with them the ports and
    /// miniports) and the power interface, then the FDO goes.
    pub fn remove_device(&self, fdo: PDEVICE_OBJECT) {
        let _ = self.pnp(fdo, PnpRequest::Remove);
    }

    /// Moves the device to power state `state` (`POWER_DEVICE_D0` ... `POWER_DEVICE_D3`)
    /// through its `IAdapterPowerManagement`; leaving D0 with a stream resource still
    /// registered is a violation.
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` if the adapter registered no power interface.
    pub fn set_power(&self, fdo: PDEVICE_OBJECT, device_state: u32) -> Result<(), NTSTATUS> {
        let power = {
            let state = self.world.lock();
            state
                .adapters
                .get(&fdo.addr())
                .and_then(|a| a.power.as_ref().map(RawUnknown::as_ptr))
        };
        let power = power.ok_or(STATUS_INVALID_DEVICE_STATE)?;
        // SAFETY: the interface PortCls keeps (a reference held until removal).
        let vtable: IAdapterPowerManagementVtbl = unsafe { vtable_of(power.cast::<c_void>()) };
        let new_state = POWER_STATE {
            DeviceState: device_state,
        };
        let args = (power.cast(), new_state);
        let entry = "IAdapterPowerManagement::QueryPowerChangeState";
        // SAFETY: a live interface.
        let query = unsafe { call_driver(&self.world, entry, vtable.QueryPowerChangeState, args) };
        let entry = "IAdapterPowerManagement::PowerChangeState";
        // SAFETY: as above.
        unsafe { call_driver(&self.world, entry, vtable.PowerChangeState, args) };
        self.world.lock().record(
            Ddi::PowerChangeState,
            format!(
                "D{} (query answered {query:#x})",
                device_state.saturating_sub(1)
            ),
            STATUS_SUCCESS,
        );
        self.world
            .lock()
            .idle_power_set(fdo.addr(), device_state, false);
        if device_state != POWER_DEVICE_D0 {
            check_registrations(&self.world, fdo, "leaving D0");
        }
        Ok(())
    }
}

fn call_start_device(world: &World, fdo: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    let start = {
        let state = world.lock();
        state.adapters.get(&fdo.addr()).and_then(|a| a.start)
    };
    let Some(start) = start else {
        return STATUS_INVALID_DEVICE_STATE;
    };
    let device: *mut DEVICE_OBJECT = fdo.cast();
    let pdo = world.lock().adapters.get(&fdo.addr()).map_or(0, |a| a.pdo);
    // A PCI device's resources; none (a null list) for a root-enumerated device.
    let resources = crate::pci::resource_list_for(world, pdo);
    // SAFETY: the driver's StartDevice with the FDO the model made, the IRP and the resources.
    let status = unsafe { call_driver(world, "StartDevice", start, (device, irp, resources)) };
    crate::pci::release_start_reference(world, resources);
    let mut state = world.lock();
    if let Some(adapter) = state.adapters.get_mut(&fdo.addr()) {
        adapter.started = portcls_sys::NT_SUCCESS(status);
        if adapter.started {
            state.idle_device_started(fdo.addr());
        }
    }
    status
}

fn check_nothing_registered(world: &World, fdo: PDEVICE_OBJECT, request: PnpRequest) {
    let what = match request {
        PnpRequest::Start => return,
        PnpRequest::Stop => "stop",
        PnpRequest::SurpriseRemoval => "surprise removal",
        PnpRequest::Remove => "removal",
    };
    check_registrations(world, fdo, what);
    if matches!(request, PnpRequest::Stop | PnpRequest::Remove) {
        let mut state = world.lock();
        if let Some(pdo) = state.adapters.get(&fdo.addr()).map(|a| a.pdo) {
            crate::pci::check_released(&mut state, pdo, Ddi::PcDispatchIrp);
        }
    }
}

fn check_registrations(world: &World, fdo: PDEVICE_OBJECT, transition: &'static str) {
    let mut state = world.lock();
    let Some(pdo) = state.adapters.get(&fdo.addr()).map(|a| a.pdo) else {
        return;
    };
    let left = state
        .registrations
        .values()
        .filter(|r| r.pdo == pdo)
        .count();
    if left > 0 {
        state.violate(Violation::RegisteredAcrossTransition {
            transition,
            registrations: left,
        });
    }
}

/// Removal: the device's subdevices (ports, and through them the miniports) and its power
/// interface are released, and the FDO is gone.
fn tear_down(world: &World, fdo: PDEVICE_OBJECT) {
    let adapter = {
        let mut state = world.lock();
        if let Some(&pdo) = state.devices.get(&fdo.addr()) {
            crate::dma::device_removed(&mut state, pdo);
        }
        state.devices.remove(&fdo.addr());
        state.idle_device_removed(fdo.addr());
        state.adapters.remove(&fdo.addr())
    };
    let Some(adapter) = adapter else {
        return;
    };
    let (subdevices, power) = adapter.into_parts();
    for subdevice in subdevices {
        subdevice.port.release(world);
    }
    if let Some(power) = power {
        power.release(world);
    }
}
