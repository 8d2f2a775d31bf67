//! The audio signal-processing modes of a wave subdevice's pins, asked as PortCls asks them:
//! `QueryInterface(IID_IMiniportAudioSignalProcessing)` on the miniport, then
//! `IMiniportAudioSignalProcessing::GetModes` (PortCls builds its own
//! `KSPROPERTY_AUDIOSIGNALPROCESSING_MODES` answer, which the endpoint builder reads, from it).
//!
//! [`Sim::get_modes`] makes one raw call with a chosen buffer (to check the documented
//! contract: a null buffer is a count query, a short buffer gets `STATUS_BUFFER_TOO_SMALL`);
//! [`Sim::signal_processing_modes`] does what PortCls does with it: the count, then the modes.
//! Both take and give back their reference on the interface, and every call is in the trace.
//! What a clean answer must hold is checked: a success never reports more modes than the buffer
//! had room for ([`Violation::ModesContract`]).

use std::ptr::null_mut;

use portcls_sys::wavert::{IID_IMiniportAudioSignalProcessing, IMiniportAudioSignalProcessingVtbl};
use portcls_sys::{GUID, IUnknownVtbl, NT_SUCCESS, NTSTATUS, PDEVICE_OBJECT, PVOID};

use crate::adapter::{release_driver_reference, vtable_of};
use crate::stack::call_driver;
use crate::world::RefChange;
use crate::{Ddi, Sim, Violation, guid_name};

/// The answer to one `GetModes` call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModesAnswer {
    /// What `GetModes` returned.
    pub status: NTSTATUS,
    /// `*NumSignalProcessingModes` after the call.
    pub count: u32,
    /// The buffer after the call (empty for a null buffer).
    pub modes: Vec<GUID>,
}

impl Sim {
    /// Calls `GetModes(pin, buffer, &count)` on the miniport of wave subdevice `subdevice`, with
    /// a null buffer when `capacity` is `None` and otherwise a buffer of `capacity` GUIDs (filled
    /// with `GUID_NULL`), `count` starting at the capacity (0 for a null buffer).
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER` for an unknown subdevice, or what `QueryInterface` returned
    /// when the miniport does not implement `IMiniportAudioSignalProcessing`.
    pub fn get_modes(
        &self,
        fdo: PDEVICE_OBJECT,
        subdevice: &str,
        pin: u32,
        capacity: Option<u32>,
    ) -> Result<ModesAnswer, NTSTATUS> {
        let miniport = self
            .miniport(fdo, subdevice)
            .ok_or(portcls_sys::STATUS_INVALID_PARAMETER)?;
        // SAFETY: a live miniport of a registered subdevice.
        let unknown: IUnknownVtbl = unsafe { vtable_of(miniport.cast()) };
        let iid = IID_IMiniportAudioSignalProcessing;
        let mut interface: PVOID = null_mut();
        let args = (miniport, &raw const iid, &raw mut interface);
        let query = unknown.QueryInterface;
        // SAFETY: as above; `interface` is writable.
        let status = unsafe { call_driver(&self.world, "IUnknown::QueryInterface", query, args) };
        if !NT_SUCCESS(status) || interface.is_null() {
            let detail = format!("{subdevice}: QueryInterface(IMiniportAudioSignalProcessing)");
            return Err(self.world.lock().record(Ddi::GetModes, detail, status));
        }
        let role = format!("IMiniportAudioSignalProcessing of {subdevice}");
        self.world.lock().driver_reference(
            interface.addr(),
            &role,
            RefChange::Taken("QueryInterface"),
        );
        let mut modes = vec![GUID::default(); capacity.unwrap_or(0) as usize];
        let mut count = capacity.unwrap_or(0);
        let buffer = match capacity {
            None => null_mut(),
            Some(_) => modes.as_mut_ptr(),
        };
        // SAFETY: the interface pointer the miniport just handed out (referenced).
        let vtable: IMiniportAudioSignalProcessingVtbl = unsafe { vtable_of(interface) };
        let start = self.world.lock().trace.len();
        let args = (interface.cast(), pin, buffer, &raw mut count);
        let entry = "IMiniportAudioSignalProcessing::GetModes";
        // SAFETY: a live interface; the buffer holds `capacity` GUIDs (or is null) and `count`
        // is writable.
        let status = unsafe { call_driver(&self.world, entry, vtable.GetModes, args) };
        // SAFETY: the reference QueryInterface gave.
        unsafe { release_driver_reference(&self.world, interface.cast()) };
        let listed = modes
            .iter()
            .take(count as usize)
            .map(guid_name)
            .collect::<Vec<_>>()
            .join(", ");
        let mut state = self.world.lock();
        if NT_SUCCESS(status) && capacity.is_some_and(|room| count > room) {
            state.violate(Violation::ModesContract {
                pin,
                reported: count,
                capacity: capacity.unwrap_or(0),
            });
        }
        let detail = format!(
            "{subdevice} pin {pin}, room for {} -> count {count} [{listed}]",
            capacity.map_or_else(|| "none (null buffer)".to_owned(), |c| c.to_string())
        );
        state.record_at(start, Ddi::GetModes, detail, status);
        Ok(ModesAnswer {
            status,
            count,
            modes,
        })
    }

    /// The signal-processing modes pin `pin` of wave subdevice `subdevice` offers, asked as
    /// PortCls asks: `GetModes` with a null buffer for the count, then with a buffer of that
    /// size.
    ///
    /// # Errors
    /// What [`Sim::get_modes`] refuses, or the first failing status `GetModes` returned (e.g.
    /// `STATUS_NOT_SUPPORTED` for a pin without modes).
    pub fn signal_processing_modes(
        &self,
        fdo: PDEVICE_OBJECT,
        subdevice: &str,
        pin: u32,
    ) -> Result<Vec<GUID>, NTSTATUS> {
        let probe = self.get_modes(fdo, subdevice, pin, None)?;
        if !NT_SUCCESS(probe.status) {
            return Err(probe.status);
        }
        let answer = self.get_modes(fdo, subdevice, pin, Some(probe.count))?;
        if !NT_SUCCESS(answer.status) {
            return Err(answer.status);
        }
        let mut modes = answer.modes;
        modes.truncate(answer.count as usize);
        Ok(modes)
    }
}
