//! A virtio-sound function on the model's PCI bus, with a device behind it: what the driver's
//! whole-life tests and the `simulate` example plug in.
//!
//! [`plug_in`] puts a [`VirtioPci`] around any [`VirtioDevice`] on a machine's bus: its
//! configuration space and BARs as the PCI function's, its register BAR behind the model's MMIO
//! trap (the driver's plain loads and stores on the mapping reach the transport), the function
//! deferred (it works when the driver waits, and when time passes), its interrupts raised to
//! the driver's ISR, and every address the driver hands the device checked against the
//! driver's live DMA allocations ([`VirtioPci::check_memory`]: a breach is the machine's
//! `Violation::DeviceAccess`). [`PacedFunction`] is the usual device: the oracle kept at its streams'
//! rate in the machine's virtual time ([`paced`](crate::paced)).

use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

use portcls_sim::mmio::MmioWindow;
use portcls_sim::virtio_pci::{self, RegisterBar, VirtioDevice, VirtioPci};
use portcls_sim::{Bar, BarMapper, Device, PciDevice, PciInterrupts, Sim};
use portcls_sys::NTSTATUS;

use crate::Oracle;
use crate::paced::{MoreStream, Paced};

/// A function shared by the test and the machine (the MMIO trap and the device's work).
pub type Function<D> = Arc<Mutex<VirtioPci<D>>>;

/// The register BAR as the model's MMIO trap: a window per mapping.
struct Registers<D: VirtioDevice> {
    function: Function<D>,
    windows: Vec<MmioWindow>,
}

impl<D: VirtioDevice + 'static> BarMapper for Registers<D> {
    fn map(&mut self, bar: Bar, offset: u64, length: usize) -> Option<NonNull<u8>> {
        if bar.index != virtio_pci::REGISTER_BAR || offset != 0 {
            return None;
        }
        let window =
            MmioWindow::map(length, Arc::new(RegisterBar(Arc::clone(&self.function)))).ok()?;
        let base = NonNull::new(window.base());
        self.windows.push(window);
        base
    }

    fn unmap(&mut self, _bar: Bar, address: NonNull<u8>, _length: usize) {
        self.windows
            .retain(|window| window.base() != address.as_ptr());
    }
}

/// Plugs a virtio-sound function around `device` into `sim`'s bus, with `messages` MSI-X
/// messages (0: its line interrupt). Whenever the machine gives the device time, its pending
/// work runs, then `pace` (with the machine's time, 100 ns units), then its interrupts go to
/// the driver's ISR.
///
/// # Errors
/// The status `AddDevice` failed with.
pub fn plug_in<D: VirtioDevice + 'static>(
    sim: &Sim,
    messages: u16,
    device: D,
    mut pace: impl FnMut(&mut VirtioPci<D>, u64) + Send + 'static,
) -> Result<(Device, Function<D>), NTSTATUS> {
    let mut function = VirtioPci::new(device);
    // Every address the driver hands the device must lie in its live DMA allocations.
    function.check_memory(&sim.device_memory());
    function.set_msix_enabled(messages > 0);
    function.set_deferred(true);
    let space = function.config_space().to_vec();
    let bars = vec![
        Bar::memory(
            virtio_pci::MSIX_BAR,
            function.bar_address(virtio_pci::MSIX_BAR),
            virtio_pci::MSIX_BAR_BYTES,
        ),
        Bar::memory(
            virtio_pci::REGISTER_BAR,
            function.bar_address(virtio_pci::REGISTER_BAR),
            virtio_pci::REGISTER_BAR_BYTES,
        ),
    ];
    let function = Arc::new(Mutex::new(function));
    sim.set_bar_mapper(Registers {
        function: Arc::clone(&function),
        windows: Vec::new(),
    });
    let interrupts = if messages > 0 {
        PciInterrupts::MsiX { messages }
    } else {
        PciInterrupts::Line
    };
    let device = sim.plug_in_pci(PciDevice {
        config: Box::new(space),
        bars,
        interrupts,
    })?;
    let worker = Arc::clone(&function);
    sim.attach_device_work(&device, move |now| {
        // A poisoned lock means a test already failed; the function is still the function.
        let mut function = worker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        function.run_device();
        pace(&mut function, now);
        function.take_interrupts()
    });
    Ok((device, function))
}

/// A function with the oracle behind it, kept at its streams' rate in the machine's virtual
/// time, over the machine's own memory (the driver's DMA addresses are the device's). The
/// device keeps the machine's time: it plays and records as [`Sim::advance`] moves it.
pub struct PacedFunction {
    /// The function.
    pub function: Function<Paced>,
    /// The device on the bus.
    pub device: Device,
}

impl PacedFunction {
    /// Plugs it in (see [`plug_in`]).
    ///
    /// # Errors
    /// As [`plug_in`].
    pub fn plug_in(sim: &Sim, messages: u16) -> Result<Self, NTSTATUS> {
        Self::with_streams(sim, messages, &[])
    }

    /// Plugs in one whose device has `more` streams after the oracle's two
    /// ([`Paced::with_streams`]).
    ///
    /// # Errors
    /// As [`plug_in`].
    pub fn with_streams(sim: &Sim, messages: u16, more: &[MoreStream]) -> Result<Self, NTSTATUS> {
        let oracle = Paced::with_streams(Oracle::over(&sim.device_memory().arena()), more);
        let (device, function) = plug_in(sim, messages, oracle, |function, now| {
            // A function surprise-removed is gone: it touches no memory any more.
            if !function.removed() {
                // The machine's 100 ns units, the device's nanoseconds.
                function.device().advance_to(now * 100);
                function.collect_interrupts();
            }
        })?;
        Ok(Self { function, device })
    }

    /// Time passes by `ticks` (100 ns): the driver's threads run, the device plays and records
    /// up to now, its interrupts reach the ISR, the DPC takes what it finished (what
    /// [`Sim::advance`] does with a device attached).
    pub fn tick(&self, sim: &Sim, ticks: u64) {
        sim.advance(ticks);
    }

    /// Frames device stream `id` played or recorded.
    #[must_use]
    pub fn frames(&self, id: usize) -> u64 {
        self.function
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .device()
            .frames(id)
    }
}
