//! The adapter object: the device's own state, its power callbacks, and the PnP hook that
//! takes every stream's engine down before the device stops, is surprise-removed or removed.
//!
//! The stream-resource documentation lists the moments a driver must have unregistered its
//! resources: stop, surprise removal, removal, and leaving D0. The engine threads are the
//! resources, so at each of those moments [`Adapter::halt`] stops every running engine (which
//! unregisters it first) and marks the device halted; [`Adapter::resume`] (start, return to
//! D0) restarts the engines of streams that are still acquired.
//!
//! # Where things live
//! - The adapter is a COM object in pool implementing `IAdapterPowerManagement`. The FDO's
//!   extension holds one reference in the slot after PortCls's own 512 bytes (the driver asks
//!   `PcAddAdapterDevice` for [`EXTENSION_SIZE`]); PortCls holds another through
//!   `PcRegisterAdapterPowerManagement`; each wave miniport and stream holds one. The slot's
//!   reference goes when removal has passed through PortCls.
//! - One [`Gate`] serialises everything that starts or stops engines: the halted flag, the
//!   stream list, and every stream's engine slot. Streams add themselves when created and
//!   remove themselves when freed, both inside the gate, so a halt never meets a stream that
//!   is half gone.
//! - What is the device's rather than a stream's: the loopback cable (its 32 KiB ring in
//!   pool, allocated with the adapter; see [`cable`](crate::backend::virtual_device::cable)), both endpoints' volume and
//!   mute (the topology miniports answer for them, the engines apply them) and the two peak
//!   meters' pending peaks.

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, Ordering};

use portcls::ComPtr;
use portcls_sys::km::{
    DEVICE_OBJECT_EXTENSION_OFFSET, IRP_CURRENT_STACK_LOCATION_OFFSET, IRP_MN_REMOVE_DEVICE,
    IRP_MN_STOP_DEVICE, IRP_MN_SURPRISE_REMOVAL, PDEVICE_CAPABILITIES, PIRP, POWER_DEVICE_D0,
    POWER_STATE,
};
use portcls_sys::wavert::{
    IAdapterPowerManagement, IAdapterPowerManagementVtbl, IID_IAdapterPowerManagement,
    PORT_CLASS_DEVICE_EXTENSION_SIZE, PcDispatchIrp,
};
use portcls_sys::{
    GUID, NTSTATUS, PDEVICE_OBJECT, STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS, ULONG,
};

use crate::backend::virtio::hardware::Hardware;
use crate::backend::virtual_device::cable::{Cable, Ring};
use crate::com::{ComClass, ComObject, unknown_vtable};
use crate::identity::MAX_ENDPOINTS_PER_FLOW;
use crate::levels::PeakMeter;
use crate::pool::{Pool, PoolBox};
use crate::properties::{Controls, Jack};
use crate::stream::WaveStream;
use crate::sync::{Gate, GateGuard, SpinLock};

/// The most streams one adapter tracks: one per host pin instance (each wave filter allows
/// one), of every endpoint it may have.
pub const MAX_STREAMS: usize = 2 * MAX_ENDPOINTS_PER_FLOW;
/// The device-extension size the driver asks `PcAddAdapterDevice` for: PortCls's part plus a
/// pointer to the adapter object.
#[allow(clippy::cast_possible_truncation)] // 8 bytes
pub const EXTENSION_SIZE: ULONG =
    PORT_CLASS_DEVICE_EXTENSION_SIZE + core::mem::size_of::<usize>() as ULONG;

/// What the gate protects.
#[derive(Debug)]
struct Guarded {
    halted: bool,
    /// Listed streams; null slots are free.
    streams: [*const WaveStream; MAX_STREAMS],
}

/// The device's loopback cable (see [`cable`](crate::backend::virtual_device::cable)), its ring in pool.
pub type LoopbackCable = SpinLock<Cable<PoolBox<Ring>>>;

/// The adapter's state.
#[derive(Debug)]
pub struct Adapter {
    gate: Gate,
    guarded: UnsafeCell<Guarded>,
    /// What the render stream plays and the capture stream records. Taken inside a stream's
    /// lock, never the other way round.
    cable: LoopbackCable,
    /// The speakers' volume and mute (the render engine applies them as audio enters the
    /// cable).
    render_controls: Controls,
    /// The microphone's volume and mute (the capture engine applies them to what it records).
    capture_controls: Controls,
    /// The two peak meters' pending peaks (render, capture). Taken on its own, after the scan
    /// has let the cable's or the streams' locks go.
    meters: SpinLock<[PeakMeter; 2]>,
    /// The virtio-sound function, when the device is one (started in `StartDevice`, stopped
    /// at stop, surprise removal and removal). Only touched inside PnP's serialisation of the
    /// device, at `PASSIVE_LEVEL`.
    hardware: UnsafeCell<Option<PoolBox<Hardware>>>,
    /// Whether the device is a virtio-sound function (set at its first start, for good: its
    /// streams run on the device, or on nothing while it is stopped).
    function: AtomicBool,
    /// The jacks the function last reported (by flow and endpoint), for when it is halted.
    jacks: SpinLock<[[Option<Jack>; MAX_ENDPOINTS_PER_FLOW]; 2]>,
}

// SAFETY: `guarded` is only reached inside the gate (see `Inside`).
unsafe impl Sync for Adapter {}
// SAFETY: as above.
unsafe impl Send for Adapter {}

/// Being inside the adapter's gate: access to what it protects.
pub struct Inside<'a> {
    adapter: &'a Adapter,
    _guard: GateGuard<'a>,
}

impl core::fmt::Debug for Inside<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Inside").finish_non_exhaustive()
    }
}

impl Inside<'_> {
    fn guarded(&mut self) -> &mut Guarded {
        // SAFETY: inside the gate (this value exists only while it is held), and borrowed
        // mutably through `self`, so this is the only reference.
        unsafe { &mut *self.adapter.guarded.get() }
    }

    /// Whether the device is halted (stopped, removed, or out of D0): no engine may run.
    pub fn halted(&mut self) -> bool {
        self.guarded().halted
    }

    /// Adds a stream to the list.
    ///
    /// # Errors
    /// `STATUS_INSUFFICIENT_RESOURCES` when the list is full.
    pub fn add_stream(&mut self, stream: &WaveStream) -> Result<(), NTSTATUS> {
        let slot = self.guarded().streams.iter_mut().find(|s| s.is_null());
        let slot = slot.ok_or(STATUS_INSUFFICIENT_RESOURCES)?;
        *slot = core::ptr::from_ref(stream);
        Ok(())
    }

    /// Removes a stream from the list (nothing if it is not there).
    pub fn remove_stream(&mut self, stream: &WaveStream) {
        let address = core::ptr::from_ref(stream);
        for slot in &mut self.guarded().streams {
            if core::ptr::eq(*slot, address) {
                *slot = core::ptr::null();
            }
        }
    }

    /// The virtio-sound function the device is, while it is not halted.
    ///
    /// PnP and power change the function (start, stop, D3, D0) only while the device is
    /// halted, and halting runs inside the gate: so inside the gate, not halted, it is the
    /// started function and nothing else touches it but through its own lock. A stream
    /// halting still sees it (it halts before the function changes).
    pub fn hardware(&mut self) -> Option<&Hardware> {
        if self.guarded().halted {
            return None;
        }
        // SAFETY: see above: the slot does not change while we are inside the gate and the
        // device is not halted.
        unsafe { (*self.adapter.hardware.get()).as_deref() }
    }

    fn set_halted(&mut self, halted: bool) {
        // Streams halt while they can still reach the function, and resume once it is back.
        if !halted {
            self.guarded().halted = false;
        }
        let streams = self.guarded().streams;
        for stream in streams.into_iter().filter(|s| !s.is_null()) {
            // SAFETY: a listed stream is alive: it removes itself inside the gate before its
            // memory goes, and we are inside the gate.
            let stream = unsafe { &*stream };
            if halted {
                stream.halt(self);
            } else {
                stream.resume(self);
            }
        }
        self.guarded().halted = halted;
    }
}

impl Adapter {
    /// Creates the adapter object (not halted, no streams).
    ///
    /// # Errors
    /// `STATUS_INSUFFICIENT_RESOURCES` without pool.
    pub fn create(pool: Pool) -> Result<ComPtr<IAdapterPowerManagement>, NTSTATUS> {
        let ring = PoolBox::zeroed(pool).ok_or(STATUS_INSUFFICIENT_RESOURCES)?;
        let adapter = Self {
            gate: Gate::new(),
            guarded: UnsafeCell::new(Guarded {
                halted: false,
                streams: [core::ptr::null(); MAX_STREAMS],
            }),
            cable: SpinLock::new(Cable::new(ring)),
            render_controls: Controls::new(),
            capture_controls: Controls::new(),
            meters: SpinLock::new([PeakMeter::new(); 2]),
            hardware: UnsafeCell::new(None),
            function: AtomicBool::new(false),
            jacks: SpinLock::new([[None; MAX_ENDPOINTS_PER_FLOW]; 2]),
        };
        let object: ComPtr<IAdapterPowerManagement> = ComObject::create(pool, adapter)?;
        // SAFETY: the object just made, in its final place; nobody else has it yet.
        unsafe { Self::of(&object).gate.init() };
        Ok(object)
    }

    /// The adapter behind one of its interface pointers.
    #[must_use]
    pub fn of(object: &ComPtr<IAdapterPowerManagement>) -> &Self {
        // SAFETY: every IAdapterPowerManagement pointer the driver holds is one of its own
        // adapters (only `create` makes them), alive while the ComPtr is.
        unsafe { ComObject::<Self>::from_this(object.as_raw().cast()) }
    }

    /// The loopback cable.
    #[must_use]
    pub const fn cable(&self) -> &LoopbackCable {
        &self.cable
    }

    /// The controls of the microphone (`capture`) or the speakers.
    #[must_use]
    pub const fn controls(&self, capture: bool) -> &Controls {
        if capture {
            &self.capture_controls
        } else {
            &self.render_controls
        }
    }

    /// The peak of `channel` at the microphone's (`capture`) or the speakers' peak meter since
    /// that channel was last read, and clears it: first the audio that passed since the last
    /// read is scanned (the speakers': in the cable; the microphone's: in each capture stream's
    /// buffer). `None` for a channel the device does not have. Call at `PASSIVE_LEVEL` (it
    /// enters the gate to reach the streams).
    #[must_use]
    pub fn take_peak(&self, capture: bool, channel: usize) -> Option<i32> {
        let mut peaks = [0; crate::levels::CHANNELS];
        if capture {
            let mut inside = self.enter();
            let streams = inside.guarded().streams;
            for stream in streams.into_iter().filter(|s| !s.is_null()) {
                // SAFETY: a listed stream is alive while we are inside the gate (it removes
                // itself inside the gate before its memory goes).
                let stream = unsafe { &*stream };
                if let Some(found) = stream.scan_peaks() {
                    for (peak, found) in peaks.iter_mut().zip(found) {
                        *peak = (*peak).max(found);
                    }
                }
            }
        } else {
            peaks = self.cable.lock().scan_peaks();
        }
        let mut meters = self.meters.lock();
        let meter = meters.get_mut(usize::from(capture))?;
        meter.add(peaks);
        meter.take(channel)
    }

    /// Enters the gate. Call at `PASSIVE_LEVEL`, never while inside it.
    pub fn enter(&self) -> Inside<'_> {
        Inside {
            adapter: self,
            _guard: self.gate.enter(),
        }
    }

    /// The device is a virtio-sound function, started: the adapter keeps it until
    /// [`Adapter::stop_hardware`] (a function started before is stopped first).
    ///
    /// # Safety
    /// Inside PnP's serialisation of the device (`StartDevice`), at `PASSIVE_LEVEL`.
    pub unsafe fn attach_hardware(&self, hardware: PoolBox<Hardware>) {
        // SAFETY: caller's contract: nothing else touches the slot now.
        let slot = unsafe { &mut *self.hardware.get() };
        drop(slot.replace(hardware));
        self.function.store(true, Ordering::Release);
    }

    /// Whether the device is a virtio-sound function (see [`Adapter::attach_hardware`]).
    #[must_use]
    pub fn is_function(&self) -> bool {
        self.function.load(Ordering::Acquire)
    }

    /// The jack of the external pin of endpoint `index` of a direction (a microphone's for
    /// `capture`) on a virtio-sound function that reports one ([`Hardware::jack`]): as the
    /// function says now, or, while it is halted (stopped or out of D0), as it last said.
    /// `None` for the virtual device, or a function without such a jack. Call at
    /// `PASSIVE_LEVEL` (it enters the gate), never inside it.
    #[must_use]
    pub fn jack(&self, capture: bool, index: usize) -> Option<Jack> {
        if !self.is_function() {
            return None;
        }
        let now = self
            .enter()
            .hardware()
            .map(|hardware| hardware.jack(capture, index));
        let mut jacks = self.jacks.lock();
        let slot = jacks.get_mut(usize::from(capture))?.get_mut(index)?;
        if let Some(now) = now {
            *slot = now;
        }
        *slot
    }

    /// The started virtio-sound function, if the device is one.
    ///
    /// # Safety
    /// As for [`Adapter::attach_hardware`]; the reference is not kept past it.
    #[must_use]
    #[allow(clippy::mut_from_ref)] // exclusive by PnP's serialisation (the caller's contract)
    pub unsafe fn hardware(&self) -> Option<&mut Hardware> {
        // SAFETY: caller's contract.
        unsafe { (*self.hardware.get()).as_deref_mut() }
    }

    /// Stops the virtio-sound function, if there is one: its interrupt unregistered and
    /// disconnected, the device reset, its memory freed, its BARs unmapped.
    ///
    /// # Safety
    /// As for [`Adapter::attach_hardware`] (stop, surprise removal, removal).
    pub unsafe fn stop_hardware(&self) {
        // SAFETY: caller's contract.
        let slot = unsafe { &mut *self.hardware.get() };
        drop(slot.take());
    }

    /// Stops every engine (unregistering it first) and keeps them stopped until
    /// [`Adapter::resume`]. Call at `PASSIVE_LEVEL`.
    pub fn halt(&self) {
        self.enter().set_halted(true);
    }

    /// Lets engines run again and restarts those of acquired streams. Call at
    /// `PASSIVE_LEVEL`.
    pub fn resume(&self) {
        self.enter().set_halted(false);
    }
}

// ---- IAdapterPowerManagement ----

portcls_sys::kernel_abi! {
    unsafe fn power_change_state(
        this: *mut IAdapterPowerManagement,
        state: POWER_STATE,
    ) {
        // SAFETY: PortCls calls through a live adapter.
        let adapter = unsafe { ComObject::<Adapter>::from_this(this.cast::<c_void>()) };
        if state.DeviceState == POWER_DEVICE_D0 {
            // SAFETY: PortCls calls power changes at PASSIVE_LEVEL, never during the device's
            // start, stop or removal.
            if let Some(hardware) = unsafe { adapter.hardware() } {
                // A function that cannot come back stays suspended: its endpoints' streams
                // fail, the driver goes on (a power callback returns nothing).
                let _ = hardware.resume();
            }
            adapter.resume();
        } else {
            adapter.halt();
            // SAFETY: as above.
            if let Some(hardware) = unsafe { adapter.hardware() } {
                hardware.suspend();
            }
        }
    }
}

portcls_sys::kernel_abi! {
    unsafe fn query_power_change_state(
        _this: *mut IAdapterPowerManagement,
        _state: POWER_STATE,
    ) -> NTSTATUS {
        // Any state is fine: leaving D0 only stops the engines.
        STATUS_SUCCESS
    }
}

portcls_sys::kernel_abi! {
    unsafe fn query_device_capabilities(
        _this: *mut IAdapterPowerManagement,
        _capabilities: PDEVICE_CAPABILITIES,
    ) -> NTSTATUS {
        // A virtual device keeps the capabilities the bus reported.
        STATUS_SUCCESS
    }
}

static ADAPTER_VTABLE: IAdapterPowerManagementVtbl = IAdapterPowerManagementVtbl {
    base__: unknown_vtable::<Adapter>(),
    PowerChangeState: power_change_state,
    QueryPowerChangeState: query_power_change_state,
    QueryDeviceCapabilities: query_device_capabilities,
};

// SAFETY: ADAPTER_VTABLE begins with unknown_vtable::<Adapter>() and its slots expect a
// ComObject<Adapter>.
unsafe impl ComClass for Adapter {
    type Vtable = IAdapterPowerManagementVtbl;
    const VTABLE: &'static IAdapterPowerManagementVtbl = &ADAPTER_VTABLE;
    const INTERFACES: &'static [GUID] = &[IID_IAdapterPowerManagement];
}

// ---- The FDO's slot ----

/// The slot after PortCls's part of the FDO's extension.
///
/// # Safety
/// `fdo` is the adapter's FDO, made by `PcAddAdapterDevice` with [`EXTENSION_SIZE`].
unsafe fn slot(fdo: PDEVICE_OBJECT) -> *mut *mut IAdapterPowerManagement {
    // SAFETY: a DEVICE_OBJECT holds its extension pointer at this (8-aligned) offset.
    let field = unsafe {
        fdo.cast::<*mut *mut IAdapterPowerManagement>()
            .byte_add(DEVICE_OBJECT_EXTENSION_OFFSET)
    };
    // SAFETY: the caller's live FDO.
    let extension = unsafe { field.read() };
    // SAFETY: the extension has EXTENSION_SIZE bytes (caller's contract); the slot is its last
    // pointer, aligned because 512 is.
    unsafe { extension.byte_add(PORT_CLASS_DEVICE_EXTENSION_SIZE as usize) }
}

/// The adapter in the FDO's slot (a new reference), making it first if the slot is empty.
///
/// # Errors
/// `STATUS_INSUFFICIENT_RESOURCES` without pool.
///
/// # Safety
/// `fdo` is the adapter's FDO, made by `PcAddAdapterDevice` with [`EXTENSION_SIZE`]; call at
/// `PASSIVE_LEVEL`, with PnP requests for the device serialised (as `StartDevice` is).
pub unsafe fn adapter_of(
    fdo: PDEVICE_OBJECT,
    pool: Pool,
) -> Result<ComPtr<IAdapterPowerManagement>, NTSTATUS> {
    // SAFETY: caller's contract.
    let slot = unsafe { slot(fdo) };
    // SAFETY: the slot is ours and PnP is serialised.
    let current = unsafe { slot.read() };
    // SAFETY: a non-null slot holds a reference to a live adapter.
    if let Some(adapter) = unsafe { ComPtr::from_raw_borrowed(current) } {
        return Ok(adapter);
    }
    let adapter = Adapter::create(pool)?;
    let stored = adapter.clone().into_raw();
    // SAFETY: as above; the slot now owns the reference `stored` names.
    unsafe { slot.write(stored) };
    Ok(adapter)
}

/// Takes the adapter out of the FDO's slot (its reference passes to the caller).
///
/// # Safety
/// As for [`adapter_of`].
unsafe fn take_adapter(fdo: PDEVICE_OBJECT) -> Option<ComPtr<IAdapterPowerManagement>> {
    // SAFETY: caller's contract.
    let slot = unsafe { slot(fdo) };
    // SAFETY: as above.
    let current = unsafe { slot.replace(core::ptr::null_mut()) };
    // SAFETY: the slot's own reference, now handed over.
    unsafe { ComPtr::from_raw(current) }
}

/// The current stack location's minor function code.
///
/// # Safety
/// `irp` is a live IRP.
unsafe fn minor_function(irp: PIRP) -> u8 {
    // SAFETY: `IoGetCurrentIrpStackLocation`: the pointer at this (8-aligned) offset of a
    // 64-bit IRP.
    let field = unsafe {
        irp.cast::<*const u8>()
            .byte_add(IRP_CURRENT_STACK_LOCATION_OFFSET)
    };
    // SAFETY: the caller's live IRP.
    let location = unsafe { field.read() };
    // SAFETY: `MinorFunction` is byte 1 of the stack location.
    let minor = unsafe { location.add(1) };
    // SAFETY: as above.
    unsafe { minor.read() }
}

portcls_sys::kernel_abi! {
    /// The driver's `IRP_MJ_PNP` hook: before PortCls sees a stop, surprise removal or removal,
    /// every engine is halted (and so unregistered); after a removal has passed through PortCls
    /// the FDO's reference on the adapter goes. Everything is then passed on with
    /// `PcDispatchIrp`.
    ///
    /// # Safety
    /// Called by the I/O manager with the adapter's FDO and a PnP IRP, at `PASSIVE_LEVEL`.
    pub unsafe fn pnp_dispatch(fdo: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
        // SAFETY: the I/O manager's IRP.
        let minor = unsafe { minor_function(irp) };
        let leaving = matches!(
            minor,
            IRP_MN_STOP_DEVICE | IRP_MN_SURPRISE_REMOVAL | IRP_MN_REMOVE_DEVICE
        );
        if leaving {
            // SAFETY: our FDO; PnP IRPs are serialised for a device.
            let slot = unsafe { slot(fdo) };
            // SAFETY: as above.
            let current = unsafe { slot.read() };
            // SAFETY: a non-null slot holds a reference to a live adapter.
            if let Some(adapter) = unsafe { ComPtr::from_raw_borrowed(current) } {
                let adapter = Adapter::of(&adapter);
                adapter.halt();
                // SAFETY: a PnP IRP of the device, at PASSIVE_LEVEL: PnP's serialisation.
                unsafe { adapter.stop_hardware() };
            }
        }
        // SAFETY: forwarded as received.
        let status = unsafe { PcDispatchIrp(fdo, irp) };
        if minor == IRP_MN_REMOVE_DEVICE {
            // SAFETY: our FDO; removal is the last PnP IRP it sees.
            drop(unsafe { take_adapter(fdo) });
        }
        status
    }
}

/// Hooks `IRP_MJ_PNP` of the driver object (after `PcInitializeAdapterDriver` filled it).
///
/// # Safety
/// `driver` is the driver object `DriverEntry` received, not yet shared.
pub unsafe fn hook_pnp(driver: portcls_sys::km::PDRIVER_OBJECT) {
    let index = usize::from(portcls_sys::km::IRP_MJ_PNP);
    // SAFETY: caller's contract; the index is within MajorFunction.
    unsafe { (*driver).MajorFunction[index] = Some(pnp_dispatch) };
}
