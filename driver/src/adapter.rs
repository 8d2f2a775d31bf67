//! The adapter: `DriverEntry`, `AddDevice` and `StartDevice`, through PortCls.
//!
//! `StartDevice` makes, for each subdevice of each endpoint (the virtual device has one of each
//! flow, a virtio-sound function one per stream), a port (`PcNewPort`), its miniport, binds
//! them (`IPort::Init`) and registers the subdevice under the name the INF's interfaces use
//! (`PcRegisterSubdevice`); then it wires the endpoint's wave filter's bridge pin to its
//! topology filter (`PcRegisterPhysicalConnection`). PortCls keeps the ports (and through them
//! the miniports) from then on; the driver's own references go when `StartDevice` returns.
//! `StartDevice` also makes the adapter object ([`device`]) on first start, registers it for
//! power callbacks, and `DriverEntry` hooks PnP so that engines stop before the device does.

use core::ptr::null_mut;

use portcls::ComPtr;
use portcls_sys::km::{PDRIVER_OBJECT, PIRP, PUNICODE_STRING};
use portcls_sys::wavert::{
    CLSID_PortTopology, CLSID_PortWaveRT, IAdapterPowerManagement, IPort, PPORT, PRESOURCELIST,
    PcAddAdapterDevice, PcInitializeAdapterDriver, PcNewPort, PcRegisterAdapterPowerManagement,
    PcRegisterPhysicalConnection, PcRegisterSubdevice,
};
use portcls_sys::{IUnknown, NT_SUCCESS, NTSTATUS, PDEVICE_OBJECT, STATUS_UNSUCCESSFUL};

use crate::backend::virtio::hardware::{Hardware, Resources};
use crate::com::ComObject;
use crate::descriptors;
use crate::device::{self, Adapter};
use crate::identity::{EndpointFilters, FilterKind, Subdevice};
use crate::miniport::{TopologyMiniport, WaveMiniport};
use crate::pool::Pool;

/// The subdevices PortCls may hold for one adapter: every endpoint's two.
#[allow(clippy::cast_possible_truncation)] // 16
const MAX_MINIPORTS: u32 = crate::identity::DEVICE_SUBDEVICES.len() as u32;

portcls_sys::kernel_abi! {
    /// The driver's entry point: hands the driver object to PortCls with our `AddDevice`.
    ///
    /// # Safety
    /// Called by the I/O manager with its driver object and registry path.
    #[cfg_attr(feature = "kernel", unsafe(no_mangle))]
    #[allow(non_snake_case)] // the kernel's name for it
    pub unsafe fn DriverEntry(
        driver: PDRIVER_OBJECT,
        registry_path: PUNICODE_STRING,
    ) -> NTSTATUS {
        // SAFETY: forwarded as the I/O manager passed them.
        let status = unsafe { PcInitializeAdapterDriver(driver, registry_path, Some(add_device)) };
        if NT_SUCCESS(status) {
            // SAFETY: the driver object we were given, before any device exists.
            unsafe { device::hook_pnp(driver) };
        }
        status
    }
}

portcls_sys::kernel_abi! {
    /// `AddDevice`: PortCls makes the FDO, with room for our subdevices.
    unsafe fn add_device(driver: PDRIVER_OBJECT, pdo: PDEVICE_OBJECT) -> NTSTATUS {
        // The WDK build checks the IRQL as C drivers do (debug builds only). The macro names
        // its own paths (`$crate::ntddk::KeGetCurrentIrql`, `$crate::APC_LEVEL` in wdk-sys), so
        // nothing needs importing here.
        #[cfg(feature = "wdk")]
        wdk::paged_code!();
        // SAFETY: forwarded as PnP passed them; the extension is PortCls's own part only.
        unsafe {
            PcAddAdapterDevice(
                driver,
                pdo,
                Some(start_device),
                MAX_MINIPORTS,
                device::EXTENSION_SIZE,
            )
        }
    }
}

portcls_sys::kernel_abi! {
    /// `StartDevice`: every endpoint's subdevices and their physical connections.
    unsafe fn start_device(
        fdo: PDEVICE_OBJECT,
        irp: PIRP,
        resources: PRESOURCELIST,
    ) -> NTSTATUS {
        let pool = Pool::resolve();
        // SAFETY: our FDO (made with device::EXTENSION_SIZE); StartDevice runs at PASSIVE_LEVEL
        // inside PnP's serialisation.
        let adapter = match unsafe { device::adapter_of(fdo, pool) } {
            Ok(adapter) => adapter,
            Err(status) => return status,
        };
        // SAFETY: the list PortCls passed to this StartDevice.
        let hardware = unsafe { Resources::read(resources) };
        if hardware.has_memory() {
            // SAFETY: PASSIVE_LEVEL inside StartDevice, our FDO.
            if let Err(status) = unsafe { start_hardware(fdo, pool, &adapter, &hardware) } {
                return status;
            }
        }
        let device = Device {
            fdo,
            irp,
            resources,
            pool,
            adapter,
        };
        match device.start() {
            Ok(()) => {
                // Engines of streams still acquired from before a stop may run again.
                Adapter::of(&device.adapter).resume();
                portcls_sys::STATUS_SUCCESS
            }
            Err(status) => {
                // SAFETY: still inside this StartDevice.
                unsafe { Adapter::of(&device.adapter).stop_hardware() };
                status
            }
        }
    }
}

/// Starts the virtio-sound function a PCI device is and hands it to the adapter.
///
/// # Safety
/// `PASSIVE_LEVEL` inside `StartDevice`; `fdo` is our FDO.
unsafe fn start_hardware(
    fdo: PDEVICE_OBJECT,
    pool: Pool,
    adapter: &ComPtr<IAdapterPowerManagement>,
    resources: &Resources,
) -> Result<(), NTSTATUS> {
    let mut pdo: PDEVICE_OBJECT = null_mut();
    // SAFETY: the FDO PortCls made for us.
    check(unsafe { portcls_sys::PcGetPhysicalDeviceObject(fdo, &raw mut pdo) })?;
    // SAFETY: forwarded (PASSIVE_LEVEL, the device's PDO).
    let hardware = unsafe { Hardware::start(pool, pdo, resources) }?;
    // SAFETY: inside StartDevice.
    unsafe { Adapter::of(adapter).attach_hardware(hardware) };
    Ok(())
}

/// What `StartDevice` works with.
struct Device {
    fdo: PDEVICE_OBJECT,
    irp: PIRP,
    resources: PRESOURCELIST,
    pool: Pool,
    adapter: ComPtr<IAdapterPowerManagement>,
}

impl Device {
    fn start(&self) -> Result<(), NTSTATUS> {
        // SAFETY: the adapter's own IUnknown and our FDO; PortCls keeps its own reference.
        check(unsafe { PcRegisterAdapterPowerManagement(self.adapter.as_raw().cast(), self.fdo) })?;
        // The virtual device has one endpoint of each flow; a virtio-sound function one per
        // stream of each direction.
        // SAFETY: inside StartDevice (PnP's serialisation of the device); the reference ends
        // with this statement, only the two counts are kept.
        let endpoints = unsafe { Adapter::of(&self.adapter).hardware() }
            .map_or([1, 1], |hardware| {
                [hardware.endpoints(false), hardware.endpoints(true)]
            });
        for (capture, count) in [false, true].into_iter().zip(endpoints) {
            for index in 0..count {
                if let Some(endpoint) = EndpointFilters::of(capture, index) {
                    self.install_endpoint(endpoint)?;
                }
            }
        }
        Ok(())
    }

    /// One endpoint: its wave and topology subdevices and the wire between them.
    fn install_endpoint(&self, endpoint: &'static EndpointFilters) -> Result<(), NTSTATUS> {
        let wave = self.install(&endpoint.wave)?;
        let first_render = !endpoint.wave.flow.is_capture() && endpoint.wave.index == 0;
        // A virtio-sound function's interrupt is a stream resource of the first render port.
        // SAFETY: inside StartDevice.
        if let Some(hardware) = unsafe { Adapter::of(&self.adapter).hardware() }
            && first_render
        {
            hardware.register(&wave)?;
        }
        let topology = self.install(&endpoint.topology)?;
        // A virtio-sound function's jack changes are announced on the topology filters.
        // SAFETY: inside StartDevice.
        if let Some(hardware) = unsafe { Adapter::of(&self.adapter).hardware() } {
            hardware.watch_jacks(
                endpoint.wave.flow.is_capture(),
                endpoint.wave.index,
                &topology,
            )?;
        }
        let wire = descriptors::PhysicalConnection::of(endpoint);
        let (from, to) = if endpoint.wave.flow.is_capture() {
            (&topology, &wave)
        } else {
            (&wave, &topology)
        };
        self.connect(from, wire.from_pin, to, wire.to_pin)
    }

    /// Port, miniport, `Init`, `PcRegisterSubdevice` for one subdevice.
    fn install(&self, subdevice: &'static Subdevice) -> Result<ComPtr<IPort>, NTSTATUS> {
        let class = match subdevice.kind {
            FilterKind::Wave => CLSID_PortWaveRT,
            FilterKind::Topology => CLSID_PortTopology,
        };
        let mut raw: PPORT = null_mut();
        // SAFETY: a writable slot and a known port class.
        check(unsafe { PcNewPort(&raw mut raw, &raw const class) })?;
        // SAFETY: PcNewPort handed us one reference on a live port.
        let port = unsafe { ComPtr::from_raw(raw) }.ok_or(STATUS_UNSUCCESSFUL)?;
        let miniport: ComPtr<IUnknown> = match subdevice.kind {
            FilterKind::Wave => {
                let mut miniport =
                    WaveMiniport::new(subdevice, self.pool, self.fdo, self.adapter.clone());
                // On a virtio-sound function the host pin streams what the device's stream of
                // its direction lists (formats, rates, channels, channel map).
                // SAFETY: inside StartDevice.
                if let Some(hardware) = unsafe { Adapter::of(&self.adapter).hardware() } {
                    miniport = miniport.for_device(
                        hardware.stream_range(subdevice.flow.is_capture(), subdevice.index),
                    )?;
                }
                ComObject::create(self.pool, miniport)?
            }
            FilterKind::Topology => ComObject::create(
                self.pool,
                TopologyMiniport::new(subdevice, self.adapter.clone()),
            )?,
        };
        let init = port.vtable().Init;
        // SAFETY: a live port; the FDO, IRP and resources StartDevice received; our miniport.
        check(unsafe {
            init(
                port.as_raw(),
                self.fdo,
                self.irp,
                miniport.as_raw(),
                null_mut(),
                self.resources,
            )
        })?;
        // SAFETY: the name is 'static (it must outlive the device object) and NUL-terminated.
        check(unsafe {
            PcRegisterSubdevice(
                self.fdo,
                subdevice.name_utf16.as_ptr(),
                port.as_raw().cast(),
            )
        })?;
        Ok(port)
    }

    fn connect(
        &self,
        from: &ComPtr<IPort>,
        from_pin: u32,
        to: &ComPtr<IPort>,
        to_pin: u32,
    ) -> Result<(), NTSTATUS> {
        // SAFETY: two registered subdevices' ports, as PortCls wants them (their IUnknown).
        check(unsafe {
            PcRegisterPhysicalConnection(
                self.fdo,
                from.as_raw().cast(),
                from_pin,
                to.as_raw().cast(),
                to_pin,
            )
        })
    }
}

fn check(status: NTSTATUS) -> Result<(), NTSTATUS> {
    if NT_SUCCESS(status) {
        Ok(())
    } else {
        Err(status)
    }
}
