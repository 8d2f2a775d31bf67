//! PortCls's idle power management: the inactivity timer that takes an unused device to a low
//! power state, and back to D0 when it is used again.
//!
//! # What is documented
//! ("Audio Device Class Inactivity Timer Implementation" and "PortCls Registry Power Settings"
//! in the Windows audio driver docs)
//! - PortCls registers the device for idle detection with two time-outs and an idle power state,
//!   read from the `PowerSettings` subkey of the driver's key: `ConservationIdleTime` (seconds,
//!   when the system runs on battery), `PerformanceIdleTime` (seconds, on AC power) and
//!   `IdlePowerState` (1 = D1, 2 = D2, 3 = D3), each a `REG_BINARY` of four little-endian bytes
//!   ([`IdleSettings::from_registry`]). The defaults are 0, 0 and D3; a time-out of 0 disables
//!   the timer in that power mode.
//! - PortCls watches accesses to the device (I/O and property requests) and restarts the timer
//!   on each; when it runs out, the device is sent to the idle state (a device power IRP, which
//!   PortCls passes to the adapter's `IAdapterPowerManagement`); after that, new access powers
//!   the device back up before it is served.
//!
//! # What the model assumes
//! - An open pin keeps the device busy: no time-out while any stream of the device is open. A
//!   WaveRT stream sends no I/O while it runs (the client reads positions from memory), so a
//!   timer that only counted requests would power down a playing device; PortCls does not do
//!   that. (The docs do not say in so many words what PortCls counts as busy.)
//! - The accesses the model counts: the start of the device, every pin open (the device is
//!   powered up first if the timer took it down) and close, a return to D0, and what a test
//!   reports with [`Sim::note_access`]. The model's property requests do not count yet: a
//!   test that idles a device between property requests reports them itself.
//! - The machine runs on battery ([`PowerSource::Battery`]) unless a test says otherwise, so
//!   `ConservationIdleTime` applies.
//!
//! The timer fires inside [`Sim::advance`]: virtual time moves to the instant it runs out, the
//! model sends the device to the idle state through the same path as [`Sim::set_power`]
//! (leaving D0 with a stream resource registered is a violation there), and time moves on.

use std::collections::BTreeMap;

use portcls_sys::PDEVICE_OBJECT;
use portcls_sys::km::{POWER_DEVICE_D0, POWER_DEVICE_D3};

use crate::Sim;
use crate::world::State;

/// Kernel time units per second.
const TICKS_PER_SECOND: u64 = 10_000_000;

/// PortCls's idle settings for the device (the `PowerSettings` values of the driver's key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IdleSettings {
    /// `ConservationIdleTime`: seconds without access before powering down on battery.
    pub conservation_idle_seconds: u32,
    /// `PerformanceIdleTime`: the same on AC power.
    pub performance_idle_seconds: u32,
    /// `IdlePowerState`: 1 (D1) to 3 (D3).
    pub idle_power_state: u32,
}

impl IdleSettings {
    /// PortCls's defaults when the registry has no values: both time-outs 0 (idle detection
    /// off), D3.
    pub const DEFAULT: Self = Self {
        conservation_idle_seconds: 0,
        performance_idle_seconds: 0,
        idle_power_state: 3,
    };

    /// The settings from the three `REG_BINARY` values as the registry holds them
    /// (`ConservationIdleTime`, `PerformanceIdleTime`, `IdlePowerState`): four little-endian
    /// bytes each. `None` for a value of another length or a state outside 1..=3.
    #[must_use]
    pub fn from_registry(
        conservation_idle_time: &[u8],
        performance_idle_time: &[u8],
        idle_power_state: &[u8],
    ) -> Option<Self> {
        let dword = |bytes: &[u8]| <[u8; 4]>::try_from(bytes).ok().map(u32::from_le_bytes);
        let settings = Self {
            conservation_idle_seconds: dword(conservation_idle_time)?,
            performance_idle_seconds: dword(performance_idle_time)?,
            idle_power_state: dword(idle_power_state)?,
        };
        (1..=3)
            .contains(&settings.idle_power_state)
            .then_some(settings)
    }

    /// The time-out for `source`, in 100 ns units; `None` when it is 0 (idle detection off).
    #[must_use]
    pub fn timeout(&self, source: PowerSource) -> Option<u64> {
        let seconds = match source {
            PowerSource::Battery => self.conservation_idle_seconds,
            PowerSource::Ac => self.performance_idle_seconds,
        };
        (seconds > 0).then(|| u64::from(seconds) * TICKS_PER_SECOND)
    }

    /// The `POWER_DEVICE_*` value of the idle state (`IdlePowerState` + 1).
    #[must_use]
    pub const fn device_state(&self) -> u32 {
        self.idle_power_state + 1
    }
}

impl Default for IdleSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What the system runs on, which picks the time-out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PowerSource {
    /// Battery: power conservation, `ConservationIdleTime`.
    #[default]
    Battery,
    /// AC power: high performance, `PerformanceIdleTime`.
    Ac,
}

/// One device's timer.
#[derive(Clone, Copy, Debug)]
struct DeviceIdle {
    /// The virtual time of the last access.
    last_access: u64,
    /// The device power state the model last set (`POWER_DEVICE_*`).
    power: u32,
    /// Whether the timer took the device to `power` (and so access brings it back).
    idled: bool,
}

/// The machine's idle bookkeeping.
#[derive(Debug, Default)]
pub(crate) struct Idle {
    settings: IdleSettings,
    source: PowerSource,
    devices: BTreeMap<usize, DeviceIdle>,
}

impl State {
    /// Restarts the timer of device `fdo` (an access).
    pub(crate) fn note_idle_access(&mut self, fdo: usize) {
        let now = self.now;
        if let Some(device) = self.idle.devices.get_mut(&fdo) {
            device.last_access = now;
        }
    }

    /// The device started: in D0, its timer running from now.
    pub(crate) fn idle_device_started(&mut self, fdo: usize) {
        let now = self.now;
        self.idle.devices.insert(
            fdo,
            DeviceIdle {
                last_access: now,
                power: POWER_DEVICE_D0,
                idled: false,
            },
        );
    }

    /// The device is gone.
    pub(crate) fn idle_device_removed(&mut self, fdo: usize) {
        self.idle.devices.remove(&fdo);
    }

    /// The model set the device's power state (`idled`: by the timer).
    pub(crate) fn idle_power_set(&mut self, fdo: usize, power: u32, idled: bool) {
        let now = self.now;
        if let Some(device) = self.idle.devices.get_mut(&fdo) {
            device.power = power;
            device.idled = idled;
            if power == POWER_DEVICE_D0 {
                device.last_access = now;
            }
        }
    }

    /// Whether a time-out applies under the current power source.
    pub(crate) fn idle_enabled(&self) -> bool {
        self.idle.settings.timeout(self.idle.source).is_some()
    }

    /// Whether any pin of device `fdo` is open.
    fn idle_busy(&self, fdo: usize) -> bool {
        self.streams.any_open(fdo)
    }

    /// The device whose timer runs out first, and when, if that is at or before `until`.
    fn idle_due(&self, until: u64) -> Option<(usize, u64)> {
        let timeout = self.idle.settings.timeout(self.idle.source)?;
        self.idle
            .devices
            .iter()
            .filter(|(fdo, device)| {
                device.power == POWER_DEVICE_D0
                    && self
                        .adapters
                        .get(fdo)
                        .is_some_and(|a| a.started && a.power.is_some())
                    && !self.idle_busy(**fdo)
            })
            .map(|(fdo, device)| (*fdo, device.last_access.saturating_add(timeout)))
            .filter(|&(_, at)| at <= until)
            .min_by_key(|&(fdo, at)| (at, fdo))
    }
}

impl Sim {
    /// Sets PortCls's idle settings (what it read from the driver's `PowerSettings`; PortCls's
    /// defaults, idle detection off, until a test sets them). Devices already started keep
    /// their timers, which now run with these settings.
    pub fn set_idle_settings(&self, settings: IdleSettings) {
        self.world.lock().idle.settings = settings;
    }

    /// Sets what the system runs on (battery unless set), which picks the time-out.
    pub fn set_power_source(&self, source: PowerSource) {
        self.world.lock().idle.source = source;
    }

    /// The device power state (`POWER_DEVICE_D0` ... `POWER_DEVICE_D3`) the model last set for
    /// device `fdo`; `None` before it started or after removal.
    #[must_use]
    pub fn power_state(&self, fdo: PDEVICE_OBJECT) -> Option<u32> {
        self.world
            .lock()
            .idle
            .devices
            .get(&fdo.addr())
            .map(|d| d.power)
    }

    /// An access to device `fdo` as PortCls sees one (an I/O or property request): a device the
    /// idle timer powered down returns to D0 first, and the timer restarts.
    pub fn note_access(&self, fdo: PDEVICE_OBJECT) {
        let idled = {
            let state = self.world.lock();
            state.idle.devices.get(&fdo.addr()).is_some_and(|d| d.idled)
        };
        if idled {
            // The timer only idles devices with a power interface: this cannot fail.
            let _ = self.set_power(fdo, POWER_DEVICE_D0);
        }
        self.world.lock().note_idle_access(fdo.addr());
    }

    /// Moves virtual time to `until` (absolute), firing idle timers on the way.
    pub(crate) fn advance_with_idle(&self, until: u64) {
        loop {
            let due = self.world.lock().idle_due(until);
            let Some((fdo, at)) = due else {
                break;
            };
            let now = self.now();
            crate::sched::advance(&self.world, at.saturating_sub(now));
            let state = self.world.lock().idle.settings.device_state();
            let fdo_ptr: PDEVICE_OBJECT = std::ptr::without_provenance_mut(fdo);
            if self.set_power(fdo_ptr, state.min(POWER_DEVICE_D3)).is_err() {
                // No power interface after all: stop trying this device.
                self.world.lock().idle_device_removed(fdo);
                continue;
            }
            self.world.lock().idle_power_set(fdo, state, true);
        }
        let now = self.now();
        crate::sched::advance(&self.world, until.saturating_sub(now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_values_are_four_little_endian_bytes_and_a_state_of_d1_to_d3() {
        let settings =
            IdleSettings::from_registry(&[0x1E, 0, 0, 0], &[0x2C, 1, 0, 0], &[3, 0, 0, 0]).unwrap();
        assert_eq!(
            settings,
            IdleSettings {
                conservation_idle_seconds: 30,
                performance_idle_seconds: 300,
                idle_power_state: 3,
            }
        );
        assert_eq!(settings.device_state(), POWER_DEVICE_D3);
        assert_eq!(settings.timeout(PowerSource::Battery), Some(300_000_000));
        assert_eq!(settings.timeout(PowerSource::Ac), Some(3_000_000_000));
        assert_eq!(
            IdleSettings::from_registry(&[0x1E, 0, 0], &[0; 4], &[3, 0, 0, 0]),
            None
        );
        assert_eq!(
            IdleSettings::from_registry(&[0; 4], &[0; 4], &[4, 0, 0, 0]),
            None
        );
    }

    #[test]
    fn the_defaults_disable_idle_detection() {
        assert_eq!(IdleSettings::default().timeout(PowerSource::Battery), None);
        assert_eq!(IdleSettings::default().timeout(PowerSource::Ac), None);
        assert_eq!(IdleSettings::default().device_state(), POWER_DEVICE_D3);
    }
}
