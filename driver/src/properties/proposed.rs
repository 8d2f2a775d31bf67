//! The proposed-format properties of the wave filters' host pins: `KSPROPERTY_PIN_PROPOSEDATAFORMAT`
//! (SET: would the pin open with this format? GET: the pin's default format) and
//! `KSPROPERTY_PIN_PROPOSEDATAFORMAT2` (GET: the preferred format for the signal-processing mode
//! the request's attribute list names).
//!
//! PortCls routes these filter-level `KSP_PIN` requests to the wave filter's automation table;
//! the instance data is the `KSP_PIN` after its `KSPROPERTY`: the pin id (u32), a reserved u32,
//! and for `PROPOSEDATAFORMAT2` the attribute list ([`crate::format::mode`]).
//!
//! | request | status | `ValueSize` after |
//! | --- | --- | --- |
//! | not GET, SET or BASICSUPPORT; another set or id; SET on `PROPOSEDATAFORMAT2` | `STATUS_INVALID_DEVICE_REQUEST` | 0 |
//! | instance shorter than the pin id and its reserved word, or a pin the filter lacks | `STATUS_INVALID_PARAMETER` | 0 |
//! | a pin of the filter without formats to propose (the bridge pin) | `STATUS_NOT_SUPPORTED` | 0 |
//! | BASICSUPPORT | as every handler's (a `KSPROPERTY_DESCRIPTION`, no members) | 4 or 40 |
//! | SET with a value shorter than a `KSDATAFORMAT` and a `WAVEFORMATEX` (82 bytes) | `STATUS_BUFFER_TOO_SMALL` | 0 |
//! | SET of a malformed format (see [`FormatError::status`](crate::format::FormatError::status)) | `STATUS_INVALID_PARAMETER` | 0 |
//! | SET of a sound format the pin does not stream | `STATUS_NO_MATCH` | 0 |
//! | SET of a format the pin streams (in any mode; attributes after it are not read) | success | 0 |
//! | GET with a 0-byte value (size probe) | `STATUS_BUFFER_OVERFLOW` | 104 (`PROPOSEDATAFORMAT`), 152 (`PROPOSEDATAFORMAT2`) |
//! | GET with a shorter value | `STATUS_BUFFER_TOO_SMALL` | 0 |
//! | `PROPOSEDATAFORMAT2` GET with a malformed or missing attribute list | `STATUS_INVALID_PARAMETER` | 0 |
//! | `PROPOSEDATAFORMAT2` GET naming a mode the pin lacks (or an unknown required attribute) | `STATUS_NOT_SUPPORTED` | 0 |
//! | `PROPOSEDATAFORMAT` GET | success: the preferred format as a `KSDATAFORMAT_WAVEFORMATEXTENSIBLE` | 104 |
//! | `PROPOSEDATAFORMAT2` GET | success: that format flagged `KSDATAFORMAT_ATTRIBUTES`, then a list naming the mode | 152 |
//!
//! The attribute list is checked before the value buffer's size, so a probe with a bad list is
//! refused rather than answered with a size.

use portcls_sys::GUID;
use portcls_sys::ks::{
    KSDATAFORMAT_ATTRIBUTES, KSPROPERTY_PIN_PROPOSEDATAFORMAT, KSPROPERTY_PIN_PROPOSEDATAFORMAT2,
    KSPROPERTY_TYPE_BASICSUPPORT, KSPROPERTY_TYPE_GET, KSPROPERTY_TYPE_SET, KSPROPSETID_Pin,
};

use super::request::{Answer, Description, PropertyError, Verb, put_u32, read_u32};
use crate::format::mode::{self, MODE_LIST_SIZE, Mode};
use crate::format::{
    DataRange, Format, KSDATAFORMAT_SIZE, KSDATAFORMAT_WAVEFORMATEXTENSIBLE_SIZE, WAVEFORMATEX_SIZE,
};

/// Bytes of a `PROPOSEDATAFORMAT2` answer: the format, then a one-attribute list (the format's
/// 104 bytes end on an 8-byte boundary).
pub const PROPOSED_WITH_MODE_SIZE: u32 = KSDATAFORMAT_WAVEFORMATEXTENSIBLE_SIZE + MODE_LIST_SIZE;

/// Bytes of the `KSP_PIN` instance data before the attribute list: the pin id and a reserved
/// word.
const PIN_INSTANCE_SIZE: usize = 8;

/// What a pin of a wave filter has to propose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposingPin {
    /// The filter has no such pin.
    Missing,
    /// A pin without formats (a bridge pin).
    Nothing,
    /// A host pin: its formats (what it streams: all of [`DataRange::DEVICE`], or what a
    /// device's stream lists) and modes.
    Host(DataRange),
}

/// A proposed-format request as the handler receives it: the property `set`/`id`, the
/// request's `flags`, the `KSP_PIN` instance data (after the `KSPROPERTY`), what each pin can
/// propose, and the value buffer (for SET, holding the proposed format).
///
/// # Errors
/// As the table in the [module docs](self) says.
pub fn proposed_request(
    set: &GUID,
    id: u32,
    flags: u32,
    instance: &[u8],
    pin_kind: impl Fn(u32) -> ProposingPin,
    value: &mut [u8],
) -> Answer {
    let verb = Verb::from_flags(flags).ok_or(PropertyError::Unsupported)?;
    let access = match id {
        KSPROPERTY_PIN_PROPOSEDATAFORMAT => {
            KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_SET | KSPROPERTY_TYPE_BASICSUPPORT
        }
        KSPROPERTY_PIN_PROPOSEDATAFORMAT2 => KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_BASICSUPPORT,
        _ => return Err(PropertyError::Unsupported),
    };
    if *set != KSPROPSETID_Pin {
        return Err(PropertyError::Unsupported);
    }
    if instance.len() < PIN_INSTANCE_SIZE {
        return Err(PropertyError::BadInstance);
    }
    let pin = read_u32(instance, 0).ok_or(PropertyError::BadInstance)?;
    let range = match pin_kind(pin) {
        ProposingPin::Missing => return Err(PropertyError::BadInstance),
        ProposingPin::Nothing => return Err(PropertyError::NotSupported),
        ProposingPin::Host(range) => range,
    };
    match (verb, id) {
        (Verb::BasicSupport, _) => Description {
            access,
            value_type: None,
            ranges: &[],
        }
        .answer(value),
        (Verb::Set, KSPROPERTY_PIN_PROPOSEDATAFORMAT) => propose(value, &range),
        (Verb::Get, KSPROPERTY_PIN_PROPOSEDATAFORMAT) => {
            let preferred = range.preferred().ok_or(PropertyError::NotSupported)?;
            write_preferred(preferred, None, value)
        }
        (Verb::Get, _) => {
            let list = instance.get(PIN_INSTANCE_SIZE..).unwrap_or(&[]);
            let mode = mode::requested_mode(list).map_err(|error| {
                if error.is_malformed() {
                    PropertyError::BadInstance
                } else {
                    PropertyError::NotSupported
                }
            })?;
            // The mode's own preference, if the pin streams it; else the pin's.
            let preferred = Some(mode.preferred_format())
                .filter(|format| range.contains(format))
                .or_else(|| range.preferred())
                .ok_or(PropertyError::NotSupported)?;
            write_preferred(preferred, Some(mode), value)
        }
        (Verb::Set, _) => Err(PropertyError::Unsupported),
    }
}

/// SET `PROPOSEDATAFORMAT`: whether the pin (streaming `range`) would open with the format in
/// `value`.
fn propose(value: &[u8], range: &DataRange) -> Answer {
    if value.len() < (KSDATAFORMAT_SIZE + WAVEFORMATEX_SIZE) as usize {
        return Err(PropertyError::TooSmall);
    }
    match Format::parse(value) {
        Ok(format) if range.contains(&format) => Ok(0),
        Err(error) if error.is_malformed() => Err(PropertyError::BadInstance),
        // A format the driver does not stream, or one this pin does not.
        Ok(_) | Err(_) => Err(PropertyError::NoMatch),
    }
}

/// Writes `format` (and, with a mode, the `KSDATAFORMAT_ATTRIBUTES` flag and a list naming it)
/// into `value`, after the size rules.
fn write_preferred(format: Format, mode: Option<Mode>, value: &mut [u8]) -> Answer {
    let size = match mode {
        None => KSDATAFORMAT_WAVEFORMATEXTENSIBLE_SIZE,
        Some(_) => PROPOSED_WITH_MODE_SIZE,
    };
    if value.is_empty() {
        return Err(PropertyError::Overflow { required: size });
    }
    if value.len() < size as usize {
        return Err(PropertyError::TooSmall);
    }
    let written = format
        .write_extensible(value)
        .map_err(|_| PropertyError::TooSmall)?;
    let Some(mode) = mode else {
        return Ok(written);
    };
    put_u32(value, 4, KSDATAFORMAT_ATTRIBUTES);
    let list = value.get_mut(written..).ok_or(PropertyError::TooSmall)?;
    let listed = mode::write_mode_list(mode, list).ok_or(PropertyError::TooSmall)?;
    Ok(written + listed)
}

#[cfg(test)]
mod tests {
    use portcls_sys::ks::{
        AUDIO_SIGNALPROCESSINGMODE_COMMUNICATIONS, AUDIO_SIGNALPROCESSINGMODE_RAW,
        KSATTRIBUTEID_AUDIOSIGNALPROCESSING_MODE, KSPROPSETID_Jack,
    };

    use portcls_sys::STATUS_NOT_SUPPORTED;

    use super::*;
    use crate::format::mode::{guid_bytes, requested_mode};

    fn host_at_0(pin: u32) -> ProposingPin {
        match pin {
            0 => ProposingPin::Host(DataRange::DEVICE),
            1 => ProposingPin::Nothing,
            _ => ProposingPin::Missing,
        }
    }

    /// `KSP_PIN` instance data for `pin`, then `list`.
    fn instance(pin: u32, list: &[u8]) -> Vec<u8> {
        let mut out = pin.to_le_bytes().to_vec();
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(list);
        out
    }

    fn mode_list(mode: &GUID) -> Vec<u8> {
        let mut out = Vec::new();
        for word in [48u32, 1, 40, 0] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&guid_bytes(&KSATTRIBUTEID_AUDIOSIGNALPROCESSING_MODE));
        out.extend_from_slice(&guid_bytes(mode));
        out
    }

    fn preferred() -> Vec<u8> {
        let mut out = vec![0u8; 104];
        Format::PREFERRED.write_extensible(&mut out).unwrap();
        out
    }

    fn ask(id: u32, flags: u32, instance: &[u8], value: &mut [u8]) -> Answer {
        proposed_request(&KSPROPSETID_Pin, id, flags, instance, host_at_0, value)
    }

    #[test]
    fn a_pin_that_streams_less_proposes_and_accepts_only_its_own_formats() {
        use crate::format::SampleFormat;
        let float_48k = DataRange {
            samples: &[SampleFormat::Float32],
            channels: 2,
            min_rate: 48_000,
            max_rate: 48_000,
        };
        let float = Format::new(SampleFormat::Float32, 2, 48_000).unwrap();
        let narrow = |pin: u32| match pin {
            0 => ProposingPin::Host(float_48k),
            _ => ProposingPin::Missing,
        };
        let bytes = |format: Format| {
            let mut out = vec![0u8; 104];
            format.write_extensible(&mut out).unwrap();
            out
        };
        let ask = |id, flags, instance: &[u8], value: &mut [u8]| {
            proposed_request(&KSPROPSETID_Pin, id, flags, instance, narrow, value)
        };
        let mut value = vec![0u8; 104];
        let get = KSPROPERTY_PIN_PROPOSEDATAFORMAT;
        assert_eq!(
            ask(get, KSPROPERTY_TYPE_GET, &instance(0, &[]), &mut value),
            Ok(104)
        );
        assert_eq!(value, bytes(float), "its best format, not 48 kHz 16-bit");
        let mut pcm16 = preferred();
        assert_eq!(
            ask(get, KSPROPERTY_TYPE_SET, &instance(0, &[]), &mut pcm16),
            Err(PropertyError::NoMatch),
            "a format of the driver's the pin does not stream"
        );
        let mut own = bytes(float);
        assert_eq!(
            ask(get, KSPROPERTY_TYPE_SET, &instance(0, &[]), &mut own),
            Ok(0)
        );
        let list = mode_list(&AUDIO_SIGNALPROCESSINGMODE_RAW);
        let mut value = vec![0u8; PROPOSED_WITH_MODE_SIZE as usize];
        let get2 = KSPROPERTY_PIN_PROPOSEDATAFORMAT2;
        assert!(ask(get2, KSPROPERTY_TYPE_GET, &instance(0, &list), &mut value).is_ok());
        // The format (flagged: a list follows), in the pin's range.
        assert_eq!(
            value.get(8..104),
            bytes(float).get(8..),
            "in the pin's range"
        );
    }

    #[test]
    fn set_accepts_a_streamable_format_and_refuses_others_by_kind() {
        let mut good = preferred();
        assert_eq!(
            ask(
                KSPROPERTY_PIN_PROPOSEDATAFORMAT,
                KSPROPERTY_TYPE_SET,
                &instance(0, &[]),
                &mut good
            ),
            Ok(0)
        );
        let mut other_rate = preferred();
        other_rate[68..72].copy_from_slice(&8_000u32.to_le_bytes());
        other_rate[72..76].copy_from_slice(&32_000u32.to_le_bytes());
        let refused = ask(
            KSPROPERTY_PIN_PROPOSEDATAFORMAT,
            KSPROPERTY_TYPE_SET,
            &instance(0, &[]),
            &mut other_rate,
        );
        assert_eq!(refused, Err(PropertyError::NoMatch));
        assert_eq!(
            refused.unwrap_err().status(),
            crate::format::STATUS_NO_MATCH
        );
        let mut lying = preferred();
        lying[0..4].copy_from_slice(&200u32.to_le_bytes());
        assert_eq!(
            ask(
                KSPROPERTY_PIN_PROPOSEDATAFORMAT,
                KSPROPERTY_TYPE_SET,
                &instance(0, &[]),
                &mut lying
            ),
            Err(PropertyError::BadInstance)
        );
        for short in [0, 81] {
            let mut value = vec![0u8; short];
            assert_eq!(
                ask(
                    KSPROPERTY_PIN_PROPOSEDATAFORMAT,
                    KSPROPERTY_TYPE_SET,
                    &instance(0, &[]),
                    &mut value
                ),
                Err(PropertyError::TooSmall),
                "{short} bytes"
            );
        }
    }

    #[test]
    fn get_probes_then_writes_the_preferred_format() {
        let inst = instance(0, &[]);
        assert_eq!(
            ask(
                KSPROPERTY_PIN_PROPOSEDATAFORMAT,
                KSPROPERTY_TYPE_GET,
                &inst,
                &mut []
            ),
            Err(PropertyError::Overflow { required: 104 })
        );
        assert_eq!(
            ask(
                KSPROPERTY_PIN_PROPOSEDATAFORMAT,
                KSPROPERTY_TYPE_GET,
                &inst,
                &mut [0; 103]
            ),
            Err(PropertyError::TooSmall)
        );
        let mut value = [0xEEu8; 112];
        assert_eq!(
            ask(
                KSPROPERTY_PIN_PROPOSEDATAFORMAT,
                KSPROPERTY_TYPE_GET,
                &inst,
                &mut value
            ),
            Ok(104)
        );
        assert_eq!(value[..104], preferred()[..]);
        assert!(
            value[104..].iter().all(|&b| b == 0xEE),
            "wrote past the format"
        );
    }

    #[test]
    fn get2_answers_the_mode_with_its_preferred_format_and_list() {
        for mode in Mode::ALL {
            let inst = instance(0, &mode_list(&mode.guid()));
            assert_eq!(
                ask(
                    KSPROPERTY_PIN_PROPOSEDATAFORMAT2,
                    KSPROPERTY_TYPE_GET,
                    &inst,
                    &mut []
                ),
                Err(PropertyError::Overflow { required: 152 })
            );
            assert_eq!(
                ask(
                    KSPROPERTY_PIN_PROPOSEDATAFORMAT2,
                    KSPROPERTY_TYPE_GET,
                    &inst,
                    &mut [0; 151]
                ),
                Err(PropertyError::TooSmall)
            );
            let mut value = [0u8; 160];
            assert_eq!(
                ask(
                    KSPROPERTY_PIN_PROPOSEDATAFORMAT2,
                    KSPROPERTY_TYPE_GET,
                    &inst,
                    &mut value
                ),
                Ok(152)
            );
            assert_eq!(read_u32(&value, 4), Some(KSDATAFORMAT_ATTRIBUTES));
            let (format, listed) =
                mode::parse_format_and_mode(&value[..152]).expect("a readable answer");
            assert_eq!((format, listed), (Format::PREFERRED, mode));
            assert_eq!(requested_mode(&value[104..]), Ok(mode));
        }
    }

    #[test]
    fn get2_refuses_other_modes_and_malformed_lists() {
        let other = instance(0, &mode_list(&AUDIO_SIGNALPROCESSINGMODE_COMMUNICATIONS));
        let refused = ask(
            KSPROPERTY_PIN_PROPOSEDATAFORMAT2,
            KSPROPERTY_TYPE_GET,
            &other,
            &mut [0; 152],
        );
        assert_eq!(refused, Err(PropertyError::NotSupported));
        assert_eq!(refused.unwrap_err().status(), STATUS_NOT_SUPPORTED);
        let mut lying = mode_list(&AUDIO_SIGNALPROCESSINGMODE_RAW);
        lying[0..4].copy_from_slice(&200u32.to_le_bytes());
        for inst in [instance(0, &lying), instance(0, &[]), instance(0, &[48, 0])] {
            // Refused before the size probe is answered.
            assert_eq!(
                ask(
                    KSPROPERTY_PIN_PROPOSEDATAFORMAT2,
                    KSPROPERTY_TYPE_GET,
                    &inst,
                    &mut []
                ),
                Err(PropertyError::BadInstance)
            );
        }
    }

    #[test]
    fn pins_without_formats_and_missing_pins_are_refused() {
        let list = mode_list(&AUDIO_SIGNALPROCESSINGMODE_RAW);
        for id in [
            KSPROPERTY_PIN_PROPOSEDATAFORMAT,
            KSPROPERTY_PIN_PROPOSEDATAFORMAT2,
        ] {
            assert_eq!(
                ask(id, KSPROPERTY_TYPE_GET, &instance(1, &list), &mut [0; 160]),
                Err(PropertyError::NotSupported)
            );
            assert_eq!(
                ask(id, KSPROPERTY_TYPE_GET, &instance(2, &list), &mut [0; 160]),
                Err(PropertyError::BadInstance)
            );
            assert_eq!(
                ask(id, KSPROPERTY_TYPE_GET, &[0; 7], &mut [0; 160]),
                Err(PropertyError::BadInstance)
            );
        }
    }

    #[test]
    fn verbs_and_sets_the_property_does_not_serve_are_refused() {
        let inst = instance(0, &mode_list(&AUDIO_SIGNALPROCESSINGMODE_RAW));
        let mut value = preferred();
        assert_eq!(
            ask(
                KSPROPERTY_PIN_PROPOSEDATAFORMAT2,
                KSPROPERTY_TYPE_SET,
                &inst,
                &mut value
            ),
            Err(PropertyError::Unsupported)
        );
        assert_eq!(
            ask(
                KSPROPERTY_PIN_PROPOSEDATAFORMAT,
                KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_SET,
                &inst,
                &mut value
            ),
            Err(PropertyError::Unsupported)
        );
        assert_eq!(
            proposed_request(
                &KSPROPSETID_Jack,
                KSPROPERTY_PIN_PROPOSEDATAFORMAT,
                KSPROPERTY_TYPE_GET,
                &inst,
                host_at_0,
                &mut value
            ),
            Err(PropertyError::Unsupported)
        );
        assert_eq!(
            ask(13, KSPROPERTY_TYPE_GET, &inst, &mut value),
            Err(PropertyError::Unsupported)
        );
    }

    #[test]
    fn basic_support_names_the_allowed_verbs() {
        let inst = instance(0, &[]);
        for (id, access) in [
            (KSPROPERTY_PIN_PROPOSEDATAFORMAT, 0x203),
            (KSPROPERTY_PIN_PROPOSEDATAFORMAT2, 0x201),
        ] {
            let mut value = [0u8; 40];
            assert_eq!(
                ask(id, KSPROPERTY_TYPE_BASICSUPPORT, &inst, &mut value),
                Ok(40)
            );
            assert_eq!(read_u32(&value, 0), Some(access));
            assert_eq!(read_u32(&value, 4), Some(40));
            assert_eq!(
                ask(id, KSPROPERTY_TYPE_BASICSUPPORT, &inst, &mut []),
                Err(PropertyError::Overflow { required: 40 })
            );
        }
    }
}
