//! The property handlers the filter descriptors' automation tables name.
//!
//! This is the minimal form: both handlers decline every request with
//! `STATUS_NOT_IMPLEMENTED`. The property module proper replaces this file and keeps these two
//! names and signatures, which [`descriptors`](crate::descriptors) refers to.

use portcls_sys::wavert::PCPROPERTY_REQUEST;
use portcls_sys::{NTSTATUS, STATUS_NOT_IMPLEMENTED};

/// The values of one topology filter's controls (volume and mute, per channel).
///
/// This minimal form holds nothing yet.
#[derive(Debug, Default)]
pub struct Controls {}

impl Controls {
    /// Controls at their defaults.
    #[must_use]
    pub const fn new() -> Self {
        Self {}
    }
}

/// The handler of the volume and mute nodes' properties (`KSPROPSETID_Audio` `VOLUMELEVEL` and
/// `MUTE`): for now it answers `STATUS_NOT_IMPLEMENTED` to everything.
///
/// # Safety
/// PortCls's contract for a property handler: `request` points to a valid `PCPROPERTY_REQUEST`
/// for the duration of the call. (This form does not read it.)
pub unsafe extern "system" fn node_property(request: *mut PCPROPERTY_REQUEST) -> NTSTATUS {
    let _ = request;
    STATUS_NOT_IMPLEMENTED
}

/// The handler of the topology filters' pin properties (`KSPROPSETID_Jack` `DESCRIPTION` and
/// `DESCRIPTION2`): for now it answers `STATUS_NOT_IMPLEMENTED` to everything.
///
/// # Safety
/// PortCls's contract for a property handler: `request` points to a valid `PCPROPERTY_REQUEST`
/// for the duration of the call. (This form does not read it.)
pub unsafe extern "system" fn pin_property(request: *mut PCPROPERTY_REQUEST) -> NTSTATUS {
    let _ = request;
    STATUS_NOT_IMPLEMENTED
}
