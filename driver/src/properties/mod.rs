//! The property handlers the filter descriptors' automation tables name: volume, mute and peak
//! meter on both topology filters' nodes ([`controls`]), the jack description of each topology
//! filter's external pin ([`jack`](mod@jack)), and the proposed formats of each wave filter's
//! host pin ([`proposed`], with its own table of answers).
//!
//! The answers are computed by plain functions over byte slices, without FFI, unit-tested in
//! each module: [`node_request`] and [`pin_request`] take what PortCls put in the request.
//! [`node_property`] and [`pin_property`] only turn PortCls's `PCPROPERTY_REQUEST` into those
//! slices and write the size back.
//!
//! # Answers
//! | request | status | `ValueSize` after |
//! | --- | --- | --- |
//! | verb not exactly one of GET, SET, BASICSUPPORT (modifiers such as `TOPOLOGY` aside) | `STATUS_INVALID_DEVICE_REQUEST` | 0 |
//! | a set or id the handler does not serve, or SET on a jack | `STATUS_INVALID_DEVICE_REQUEST` | 0 |
//! | volume or mute request on a node that is not that control | `STATUS_INVALID_PARAMETER` | 0 |
//! | channel instance data shorter than a `LONG` | `STATUS_INVALID_PARAMETER` | 0 |
//! | channel other than 0, 1 or -1 (0xFFFFFFFF: every channel) | `STATUS_INVALID_PARAMETER` | 0 |
//! | jack request for a pin without a jack, or pin id missing | `STATUS_INVALID_PARAMETER` | 0 |
//! | GET or BASICSUPPORT with a 0-byte value buffer (size probe) | `STATUS_BUFFER_OVERFLOW` | the size of the full answer |
//! | GET or SET value shorter than the answer (SET: a `LONG`) | `STATUS_BUFFER_TOO_SMALL` | 0; nothing written or changed |
//! | BASICSUPPORT with 1-3 bytes | `STATUS_BUFFER_TOO_SMALL` | 0 |
//! | BASICSUPPORT with 4-39 bytes | success: the access flags | 4 |
//! | BASICSUPPORT with room for a `KSPROPERTY_DESCRIPTION` but not the ranges | success: the description (its `DescriptionSize` is the full size) | 40 |
//! | BASICSUPPORT with room for everything | success: description, members header, one stepped range per channel | 88 (jack: 40, no members) |
//! | GET | success: the value | 4 (volume, mute), 36 / 16 (jack) |
//! | SET | success | 0 |
//!
//! Volume is a `LONG` in 1/65536 dB, from -96 dB to 0 dB in 0.5 dB steps on each channel. A
//! SET outside the range is clamped to it and every SET is rounded to the nearest step (halves
//! toward 0 dB), as drivers with stepped ranges do: the audio engine may compute levels that
//! fall between steps, and refusing them would leave the control where it was. GET returns the
//! stored (rounded) value. Mute is a `BOOL`: any non-zero value mutes, GET returns 0 or 1.
//! Channel -1 addresses every channel: SET writes each, GET reads channel 0.
//!
//! Jack answers are a `KSMULTIPLE_ITEM` (`Size` = the whole answer, `Count` = 1) and one
//! `KSJACK_DESCRIPTION` or `KSJACK_DESCRIPTION2`; without presence detection `IsConnected` is
//! TRUE and `JackCapabilities` 0.
//!
//! Each topology filter also has one event, `KSEVENT_PINCAPS_JACKINFOCHANGE`
//! ([`jack_event`]): enabling it adds the client's entry to the port's event list, which the
//! driver signals when the device says a jack changed.

pub mod controls;
pub mod jack;
pub mod proposed;
pub mod request;

pub use controls::{
    ALL_CHANNELS, BASIC_SUPPORT_SIZE, CHANNELS, Control, Controls, VOLUME_MAXIMUM, VOLUME_MINIMUM,
    VOLUME_STEP, control_at, mute, node_request, peak_meter, quantize_volume, volume,
};
pub use jack::{
    JACK_DESCRIPTION_SIZE, JACK_DESCRIPTION2_SIZE, Jack, PinConfig, jack, jack_of, pin_request,
};
pub use proposed::{PROPOSED_WITH_MODE_SIZE, ProposingPin, proposed_request};
pub use request::{Answer, PropertyError, STATUS_INVALID_DEVICE_REQUEST, Stepping, Verb};

use portcls_sys::wavert::{
    PCEVENT_REQUEST, PCEVENT_VERB_ADD, PCEVENT_VERB_NONE, PCEVENT_VERB_REMOVE,
    PCEVENT_VERB_SUPPORT, PCPROPERTY_REQUEST,
};
use portcls_sys::{GUID, NTSTATUS, STATUS_INVALID_PARAMETER, ULONG};

use crate::com::ComObject;
use crate::miniport::{TopologyMiniport, WaveMiniport};

/// The request's instance and value as slices.
///
/// # Safety
/// `request` is PortCls's: `Instance` readable for `InstanceSize` bytes and `Value` writable for
/// `ValueSize` bytes (each may be null when its size is 0), distinct buffers, valid for `'a`.
unsafe fn buffers<'a>(request: &PCPROPERTY_REQUEST) -> (&'a [u8], &'a mut [u8]) {
    let instance = if request.Instance.is_null() || request.InstanceSize == 0 {
        &[][..]
    } else {
        // SAFETY: caller's contract: readable for `InstanceSize` bytes for `'a`.
        unsafe {
            core::slice::from_raw_parts(
                request.Instance.cast::<u8>(),
                request.InstanceSize as usize,
            )
        }
    };
    let value = if request.Value.is_null() || request.ValueSize == 0 {
        &mut [][..]
    } else {
        // SAFETY: caller's contract: writable for `ValueSize` bytes for `'a`, and not the
        // instance data, so the two slices do not alias.
        unsafe {
            core::slice::from_raw_parts_mut(request.Value.cast::<u8>(), request.ValueSize as usize)
        }
    };
    (instance, value)
}

/// Writes the outcome back as PortCls expects: the bytes written (or, for a probe, needed) in
/// `ValueSize`, and the status.
fn finish(request: &mut PCPROPERTY_REQUEST, answer: Answer) -> NTSTATUS {
    match answer {
        Ok(written) => {
            request.ValueSize = ULONG::try_from(written).unwrap_or(0);
            portcls_sys::STATUS_SUCCESS
        }
        Err(error) => {
            request.ValueSize = match error {
                PropertyError::Overflow { required } => required,
                _ => 0,
            };
            error.status()
        }
    }
}

/// The topology miniport a request is for, and the property it names.
///
/// # Safety
/// `request` is PortCls's, for a property of a live `TopologyMiniport`, which outlives `'a`.
unsafe fn target<'a>(request: &PCPROPERTY_REQUEST) -> Option<(&'a TopologyMiniport, GUID, u32)> {
    if request.MajorTarget.is_null() || request.PropertyItem.is_null() {
        return None;
    }
    // SAFETY: PortCls passes the miniport's IUnknown as MajorTarget, and the miniport is one
    // of ours and live (caller's contract).
    let miniport = unsafe { ComObject::<TopologyMiniport>::from_this(request.MajorTarget.cast()) };
    // SAFETY: the automation-table item that matched, from our static descriptors.
    let item = unsafe { &*request.PropertyItem };
    if item.Set.is_null() {
        return None;
    }
    // SAFETY: a static GUID of our descriptors, non-null (checked).
    let set = unsafe { item.Set.read() };
    Some((miniport, set, item.Id))
}

portcls_sys::kernel_abi! {
    /// The handler of the volume and mute nodes' properties (`KSPROPSETID_Audio` `VOLUMELEVEL` and
    /// `MUTE`).
    ///
    /// # Safety
    /// PortCls's contract for a property handler: `request` points to a valid `PCPROPERTY_REQUEST`
    /// for a node of a live topology miniport of this driver, for the duration of the call.
    pub unsafe fn node_property(request: *mut PCPROPERTY_REQUEST) -> NTSTATUS {
        // SAFETY: caller's contract: valid and exclusively ours for the call.
        let Some(request) = (unsafe { request.as_mut() }) else {
            return STATUS_INVALID_PARAMETER;
        };
        // SAFETY: caller's contract: a request for a live topology miniport of ours.
        let Some((miniport, set, id)) = (unsafe { target(request) }) else {
            return STATUS_INVALID_PARAMETER;
        };
        // SAFETY: caller's contract: PortCls's buffers, valid for the call.
        let (instance, value) = unsafe { buffers(request) };
        let control = control_at(miniport.subdevice(), request.Node);
        let answer = node_request(
            miniport.controls(),
            &set,
            id,
            request.Verb,
            control,
            instance,
            value,
            |channel| miniport.take_peak(channel),
        );
        finish(request, answer)
    }
}

portcls_sys::kernel_abi! {
    /// The handler of the topology filters' pin properties (`KSPROPSETID_Jack` `DESCRIPTION` and
    /// `DESCRIPTION2`), answered for the external pin only.
    ///
    /// # Safety
    /// PortCls's contract for a property handler: `request` points to a valid `PCPROPERTY_REQUEST`
    /// for a live topology miniport of this driver, for the duration of the call.
    pub unsafe fn pin_property(request: *mut PCPROPERTY_REQUEST) -> NTSTATUS {
        // SAFETY: caller's contract: valid and exclusively ours for the call.
        let Some(request) = (unsafe { request.as_mut() }) else {
            return STATUS_INVALID_PARAMETER;
        };
        // SAFETY: caller's contract: a request for a live topology miniport of ours.
        let Some((miniport, set, id)) = (unsafe { target(request) }) else {
            return STATUS_INVALID_PARAMETER;
        };
        // SAFETY: caller's contract: PortCls's buffers, valid for the call.
        let (instance, value) = unsafe { buffers(request) };
        let subdevice = miniport.subdevice();
        // A virtio-sound function's jack, if it reports one, describes the external pin.
        let device_jack = miniport.device_jack();
        let answer = pin_request(
            &set,
            id,
            request.Verb,
            instance,
            |pin| jack_of(subdevice, pin).map(|jack| device_jack.unwrap_or(jack)),
            value,
        );
        finish(request, answer)
    }
}

portcls_sys::kernel_abi! {
    /// The handler of the topology filters' event (`KSEVENTSETID_PinCapsChange`
    /// `JACKINFOCHANGE`): `PCEVENT_VERB_ADD` adds the client's entry to the port's event list
    /// (`IPortEvents::AddEventToEventList`); PortCls takes it off again itself
    /// (`PCEVENT_VERB_REMOVE` asks nothing more of the miniport), and a support query
    /// succeeds.
    ///
    /// # Safety
    /// PortCls's contract for an event handler: `request` points to a valid `PCEVENT_REQUEST`
    /// for a live topology miniport of this driver, for the duration of the call.
    pub unsafe fn jack_event(request: *mut PCEVENT_REQUEST) -> NTSTATUS {
        // SAFETY: caller's contract: valid for the call.
        let Some(request) = (unsafe { request.as_ref() }) else {
            return STATUS_INVALID_PARAMETER;
        };
        match request.Verb {
            PCEVENT_VERB_ADD => {
                if request.MajorTarget.is_null() || request.EventEntry.is_null() {
                    return STATUS_INVALID_PARAMETER;
                }
                let this = request.MajorTarget.cast();
                // SAFETY: PortCls passes the miniport's IUnknown as MajorTarget (checked
                // non-null above): a live topology miniport of ours (caller's contract).
                let miniport = unsafe { ComObject::<TopologyMiniport>::from_this(this) };
                // SAFETY: the entry of this call (caller's contract).
                unsafe { miniport.add_event(request.EventEntry) }
            }
            PCEVENT_VERB_REMOVE | PCEVENT_VERB_SUPPORT | PCEVENT_VERB_NONE => {
                portcls_sys::STATUS_SUCCESS
            }
            _ => STATUS_INVALID_PARAMETER,
        }
    }
}

portcls_sys::kernel_abi! {
    /// The handler of the wave filters' pin properties (`KSPROPSETID_Pin` `PROPOSEDATAFORMAT`
    /// and `PROPOSEDATAFORMAT2`), answered for the host pin.
    ///
    /// # Safety
    /// PortCls's contract for a property handler: `request` points to a valid `PCPROPERTY_REQUEST`
    /// for a live WaveRT miniport of this driver, for the duration of the call.
    pub unsafe fn wave_pin_property(request: *mut PCPROPERTY_REQUEST) -> NTSTATUS {
        // SAFETY: caller's contract: valid and exclusively ours for the call.
        let Some(request) = (unsafe { request.as_mut() }) else {
            return STATUS_INVALID_PARAMETER;
        };
        if request.MajorTarget.is_null() || request.PropertyItem.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: PortCls passes the miniport's IUnknown as MajorTarget: a live WaveMiniport
        // of ours (caller's contract).
        let miniport = unsafe { ComObject::<WaveMiniport>::from_this(request.MajorTarget.cast()) };
        // SAFETY: the automation-table item that matched, from our static descriptors.
        let item = unsafe { &*request.PropertyItem };
        if item.Set.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: a static GUID of our descriptors, non-null (checked).
        let set = unsafe { item.Set.read() };
        // SAFETY: caller's contract: PortCls's buffers, valid for the call.
        let (instance, value) = unsafe { buffers(request) };
        let answer = proposed_request(
            &set,
            item.Id,
            request.Verb,
            instance,
            |pin| match miniport.pin_modes(pin) {
                crate::format::mode::PinModes::NoSuchPin => ProposingPin::Missing,
                crate::format::mode::PinModes::NoModes => ProposingPin::Nothing,
                crate::format::mode::PinModes::Host => {
                    miniport.range().map_or(ProposingPin::Nothing, ProposingPin::Host)
                }
            },
            value,
        );
        finish(request, answer)
    }
}

#[cfg(test)]
mod tests {
    use core::ptr;

    use super::*;
    use crate::format::{STATUS_BUFFER_OVERFLOW, STATUS_BUFFER_TOO_SMALL};

    /// A request as PortCls hands it over, with a 64-byte value buffer announced.
    fn request() -> PCPROPERTY_REQUEST {
        PCPROPERTY_REQUEST {
            MajorTarget: ptr::null_mut(),
            MinorTarget: ptr::null_mut(),
            Node: u32::MAX,
            PropertyItem: ptr::null(),
            Verb: 0,
            InstanceSize: 0,
            Instance: ptr::null_mut(),
            ValueSize: 64,
            Value: ptr::null_mut(),
            Irp: ptr::null_mut(),
        }
    }

    #[test]
    fn an_answer_reports_success_and_the_bytes_written() {
        // Success: STATUS_SUCCESS, and `ValueSize` becomes the bytes written (not the 64 the
        // buffer had), down to 0 for a SET.
        for written in [4, 40, 88, 0] {
            let mut request = request();
            assert_eq!(
                finish(&mut request, Ok(written)),
                portcls_sys::STATUS_SUCCESS
            );
            assert_eq!(request.ValueSize as usize, written);
        }
    }

    #[test]
    fn a_size_probe_reports_overflow_and_the_size_needed() {
        // A size probe: STATUS_BUFFER_OVERFLOW, and `ValueSize` says how big the answer is.
        let mut request = request();
        request.ValueSize = 0;
        let status = finish(&mut request, Err(PropertyError::Overflow { required: 88 }));
        assert_eq!(status, STATUS_BUFFER_OVERFLOW);
        assert_eq!(request.ValueSize, 88);
    }

    #[test]
    fn other_refusals_report_their_status_and_nothing_written() {
        // Every other refusal: its own status, and `ValueSize` 0 (nothing was written).
        for (error, status) in [
            (PropertyError::TooSmall, STATUS_BUFFER_TOO_SMALL),
            (PropertyError::BadInstance, STATUS_INVALID_PARAMETER),
            (PropertyError::Unsupported, STATUS_INVALID_DEVICE_REQUEST),
        ] {
            let mut request = request();
            assert_eq!(finish(&mut request, Err(error)), status, "{error:?}");
            assert_eq!(request.ValueSize, 0, "{error:?}");
        }
    }
}
