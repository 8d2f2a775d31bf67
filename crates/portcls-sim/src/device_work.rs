//! Devices that work while the driver gives the machine time.
//!
//! Hardware does not answer inside the register access that asks it something: a device
//! processes a notification, completes a reset, plays a period, while the processor goes on.
//! A device model that works that way ([`virtio_pci::VirtioPci::set_deferred`](crate::virtio_pci::VirtioPci::set_deferred))
//! attaches its work to the device with [`Sim::attach_device_work`]; the machine runs it, with
//! the time it is (100 ns units), when the driver waits (`KeStallExecutionProcessor`), when a
//! test asks ([`Sim::run_devices`]) and as time passes: with devices attached, [`Sim::advance`]
//! moves in steps of at most [`DEVICE_STEP`] and runs them after each. The interrupts the work
//! raised reach the driver's ISR at the next [`Sim::run_devices`] (which each of those steps
//! is), as [`Sim::raise_interrupt`] delivers them.

use portcls_sys::NTSTATUS;

use crate::virtio_pci::Interrupt;
use crate::world::World;
use crate::{Device, Sim, with_world};

/// One device's work: runs it at the given time, returns the interrupts it raised, oldest
/// first.
pub(crate) type Work = Box<dyn FnMut(u64) -> Vec<Interrupt> + Send>;

/// The longest step [`Sim::advance`] takes while devices are attached (1 ms): a device's
/// interrupts reach the driver at most this late.
pub const DEVICE_STEP: u64 = 10_000;

impl Sim {
    /// From now on `work` runs whenever the machine gives `device` time (see the
    /// [module](self) docs), with the time it is; the interrupts it returns go to the driver's
    /// ISR.
    pub fn attach_device_work(
        &self,
        device: &Device,
        work: impl FnMut(u64) -> Vec<Interrupt> + Send + 'static,
    ) {
        self.world
            .lock()
            .hw
            .work
            .push((device.pdo.addr(), Box::new(work)));
    }

    /// Lets the devices work (time passes between the driver's calls), then delivers every
    /// interrupt raised since the last delivery to the driver's ISR; returns how many an ISR
    /// received.
    #[must_use = "how many interrupts reached an ISR"]
    pub fn run_devices(&self) -> usize {
        let mut raised = std::mem::take(&mut self.world.lock().hw.raised);
        raised.extend(run(&self.world));
        raised
            .into_iter()
            .filter(|&(pdo, interrupt)| {
                crate::interrupt::raise(&self.world, pdo, interrupt).is_some()
            })
            .count()
    }
}

/// Runs every device's work outside the machine's lock; returns the interrupts it raised.
fn run(world: &World) -> Vec<(usize, Interrupt)> {
    let (mut work, now) = {
        let mut state = world.lock();
        (std::mem::take(&mut state.hw.work), state.now)
    };
    let mut raised = Vec::new();
    for (pdo, device) in &mut work {
        for interrupt in device(now) {
            raised.push((*pdo, interrupt));
        }
    }
    {
        // Work attached while this ran goes after the work that was there.
        let mut state = world.lock();
        let added = std::mem::take(&mut state.hw.work);
        work.extend(added);
        state.hw.work = work;
    }
    raised
}

portcls_sys::kernel_abi! {
    /// `KeStallExecutionProcessor`: the processor waits `microseconds`; the machine's devices
    /// work meanwhile (any IRQL). The interrupts they raise are delivered at the next
    /// [`Sim::run_devices`] (the ISR runs after the stall: one interleaving of many).
    ///
    /// # Safety
    /// None beyond the real routine's.
    #[unsafe(no_mangle)]
    pub unsafe fn KeStallExecutionProcessor(microseconds: u32) {
        with_world("KeStallExecutionProcessor", |world| {
            world.lock().record(
                crate::Ddi::KeStallExecutionProcessor,
                format!("{microseconds} us"),
                0 as NTSTATUS,
            );
            let raised = run(world);
            world.lock().hw.raised.extend(raised);
        });
    }
}
