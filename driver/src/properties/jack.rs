//! The jack behind each topology filter's external pin: `KSPROPSETID_Jack` `DESCRIPTION` and
//! `DESCRIPTION2`, each a `KSMULTIPLE_ITEM` header followed by one entry.

use core::mem::{offset_of, size_of};

use portcls_sys::GUID;
use portcls_sys::ks::{
    EPcxConnectionType, EPcxGenLocation, EPcxGeoLocation, EPxcPortConnection,
    KSAUDIO_SPEAKER_STEREO, KSJACK_DESCRIPTION, KSJACK_DESCRIPTION2, KSMULTIPLE_ITEM,
    KSPROPERTY_JACK_DESCRIPTION, KSPROPERTY_JACK_DESCRIPTION2, KSPROPERTY_TYPE_BASICSUPPORT,
    KSPROPERTY_TYPE_GET, KSPROPSETID_Jack, eConnTypeUnknown, eGenLocPrimaryBox, eGeoLocFront,
    ePortConnIntegratedDevice,
};

use super::request::{Answer, Description, PropertyError, Verb, put_u32, read_u32, ulong};
use crate::descriptors::{CAPTURE_TOPOLOGY_MICROPHONE_PIN, RENDER_TOPOLOGY_SPEAKER_PIN};
use crate::identity::{self, Subdevice};

/// Bytes of a `KSMULTIPLE_ITEM` header.
const MULTIPLE_ITEM_SIZE: usize = size_of::<KSMULTIPLE_ITEM>();
/// Bytes of the `DESCRIPTION` answer (header + one `KSJACK_DESCRIPTION`).
pub const JACK_DESCRIPTION_SIZE: usize = MULTIPLE_ITEM_SIZE + size_of::<KSJACK_DESCRIPTION>();
/// Bytes of the `DESCRIPTION2` answer (header + one `KSJACK_DESCRIPTION2`).
pub const JACK_DESCRIPTION2_SIZE: usize = MULTIPLE_ITEM_SIZE + size_of::<KSJACK_DESCRIPTION2>();

/// The jack behind an external pin, as `KSJACK_DESCRIPTION` describes it.
///
/// The device is virtual: nobody plugs anything into it, so it has no jack to describe and no
/// presence to detect. Both endpoints are described as integrated devices, as built-in
/// speakers and microphones are (`ePortConnIntegratedDevice`, connection type unknown, no
/// colour), always connected; `DESCRIPTION2` reports no capabilities (no presence detection)
/// and an active device. Presence detection (`KSEVENT_PINCAPS_JACKINFOCHANGE`) would only make
/// sense for a device whose endpoints come and go; a driver for real jacks changes these
/// constants and adds the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Jack {
    /// `ChannelMapping`: the `SPEAKER_*` bits on the jack. The documentation asks for 0 on
    /// capture and digital pins.
    pub channel_mapping: u32,
    /// `Color`: 0x00RRGGBB (red in bits 16-23, blue in bits 0-7); 0 for an integrated device.
    pub color: u32,
    /// `ConnectionType`.
    pub connection_type: EPcxConnectionType,
    /// `GeoLocation`.
    pub geo_location: EPcxGeoLocation,
    /// `GenLocation`.
    pub gen_location: EPcxGenLocation,
    /// `PortConnection`.
    pub port_connection: EPxcPortConnection,
}

impl Jack {
    /// The speakers: stereo, integrated into the (virtual) box.
    pub const SPEAKER: Self = Self {
        channel_mapping: KSAUDIO_SPEAKER_STEREO,
        color: 0,
        connection_type: eConnTypeUnknown,
        geo_location: eGeoLocFront,
        gen_location: eGenLocPrimaryBox,
        port_connection: ePortConnIntegratedDevice,
    };

    /// The microphone: integrated into the (virtual) box; a capture pin maps no speaker
    /// positions.
    pub const MICROPHONE: Self = Self {
        channel_mapping: 0,
        color: 0,
        connection_type: eConnTypeUnknown,
        geo_location: eGeoLocFront,
        gen_location: eGenLocPrimaryBox,
        port_connection: ePortConnIntegratedDevice,
    };
}

/// The jack of pin `pin` of `subdevice`, if that pin is an external one.
#[must_use]
pub fn jack_of(subdevice: &Subdevice, pin: u32) -> Option<Jack> {
    if subdevice.name == identity::RENDER_TOPOLOGY.name && pin == RENDER_TOPOLOGY_SPEAKER_PIN {
        Some(Jack::SPEAKER)
    } else if subdevice.name == identity::CAPTURE_TOPOLOGY.name
        && pin == CAPTURE_TOPOLOGY_MICROPHONE_PIN
    {
        Some(Jack::MICROPHONE)
    } else {
        None
    }
}

/// Writes the `DESCRIPTION` (`second` false) or `DESCRIPTION2` entry of `jack` into `value`,
/// which holds at least `size` bytes.
fn write_answer(jack: &Jack, second: bool, size: usize, value: &mut [u8]) {
    put_u32(value, offset_of!(KSMULTIPLE_ITEM, Size), ulong(size));
    put_u32(value, offset_of!(KSMULTIPLE_ITEM, Count), 1);
    let at = MULTIPLE_ITEM_SIZE;
    if second {
        // No device state to report, no presence detection, no dynamic format change.
        put_u32(
            value,
            at + offset_of!(KSJACK_DESCRIPTION2, DeviceStateInfo),
            0,
        );
        put_u32(
            value,
            at + offset_of!(KSJACK_DESCRIPTION2, JackCapabilities),
            0,
        );
        return;
    }
    let fields = [
        (
            offset_of!(KSJACK_DESCRIPTION, ChannelMapping),
            jack.channel_mapping,
        ),
        (offset_of!(KSJACK_DESCRIPTION, Color), jack.color),
        (
            offset_of!(KSJACK_DESCRIPTION, ConnectionType),
            jack.connection_type.cast_unsigned(),
        ),
        (
            offset_of!(KSJACK_DESCRIPTION, GeoLocation),
            jack.geo_location.cast_unsigned(),
        ),
        (
            offset_of!(KSJACK_DESCRIPTION, GenLocation),
            jack.gen_location.cast_unsigned(),
        ),
        (
            offset_of!(KSJACK_DESCRIPTION, PortConnection),
            jack.port_connection.cast_unsigned(),
        ),
        // Without presence detection the jack is always connected.
        (offset_of!(KSJACK_DESCRIPTION, IsConnected), 1),
    ];
    for (offset, field) in fields {
        put_u32(value, at + offset, field);
    }
}

/// `KSPROPSETID_Jack` `DESCRIPTION` (`id` 1) or `DESCRIPTION2` (`id` 2). `instance` is the
/// `KSP_PIN` instance data (the pin id first); `pin_jack` finds the jack of the pin it names.
///
/// # Errors
/// As the table in the [module docs](super) says.
pub fn jack(
    id: u32,
    verb: Verb,
    instance: &[u8],
    pin_jack: impl Fn(u32) -> Option<Jack>,
    value: &mut [u8],
) -> Answer {
    let (second, size) = match id {
        KSPROPERTY_JACK_DESCRIPTION => (false, JACK_DESCRIPTION_SIZE),
        KSPROPERTY_JACK_DESCRIPTION2 => (true, JACK_DESCRIPTION2_SIZE),
        _ => return Err(PropertyError::Unsupported),
    };
    if verb == Verb::Set {
        return Err(PropertyError::Unsupported);
    }
    let jack = read_u32(instance, 0)
        .and_then(pin_jack)
        .ok_or(PropertyError::BadInstance)?;
    if verb == Verb::BasicSupport {
        let description = Description {
            access: KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_BASICSUPPORT,
            value_type: None,
            ranges: &[],
        };
        return description.answer(value);
    }
    if value.is_empty() {
        return Err(PropertyError::overflow(size));
    }
    if value.len() < size {
        return Err(PropertyError::TooSmall);
    }
    write_answer(&jack, second, size, value);
    Ok(size)
}

/// A pin request as the handler receives it: the property `set`/`id`, the request's `flags`,
/// the `KSP_PIN` instance data and the value buffer.
///
/// # Errors
/// As the table in the [module docs](super) says.
pub fn pin_request(
    set: &GUID,
    id: u32,
    flags: u32,
    instance: &[u8],
    pin_jack: impl Fn(u32) -> Option<Jack>,
    value: &mut [u8],
) -> Answer {
    let verb = Verb::from_flags(flags).ok_or(PropertyError::Unsupported)?;
    if *set != KSPROPSETID_Jack {
        return Err(PropertyError::Unsupported);
    }
    jack(id, verb, instance, pin_jack, value)
}

#[cfg(test)]
mod tests {
    use portcls_sys::ks::{KSPROPERTY_TYPE_SET, KSPROPSETID_Audio};

    use super::*;

    fn speaker(pin: u32) -> Option<Jack> {
        (pin == 1).then_some(Jack::SPEAKER)
    }

    fn pin(id: u32) -> [u8; 8] {
        let mut out = [0u8; 8];
        out[..4].copy_from_slice(&id.to_le_bytes());
        out
    }

    fn u32_at(bytes: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn the_answers_are_a_multiple_item_header_and_one_entry() {
        assert_eq!(JACK_DESCRIPTION_SIZE, 36);
        assert_eq!(JACK_DESCRIPTION2_SIZE, 16);
        let mut value = [0xEEu8; 64];
        assert_eq!(
            jack(
                KSPROPERTY_JACK_DESCRIPTION,
                Verb::Get,
                &pin(1),
                speaker,
                &mut value
            ),
            Ok(36)
        );
        let fields: Vec<u32> = (0..9).map(|i| u32_at(&value, 4 * i)).collect();
        // Stereo, no colour, connection type unknown, front, primary box, integrated device,
        // connected.
        assert_eq!(fields, [36, 1, 3, 0, 0, 2, 0, 1, 1]);
        assert!(
            value[36..].iter().all(|&b| b == 0xEE),
            "wrote past the answer"
        );
        let mut value2 = [0xEEu8; 16];
        assert_eq!(
            jack(
                KSPROPERTY_JACK_DESCRIPTION2,
                Verb::Get,
                &pin(1),
                speaker,
                &mut value2
            ),
            Ok(16)
        );
        assert_eq!([0, 4, 8, 12].map(|at| u32_at(&value2, at)), [16, 1, 0, 0]);
    }

    #[test]
    fn the_microphone_is_an_integrated_device_that_maps_no_speakers() {
        let mut value = [0u8; 36];
        jack(
            KSPROPERTY_JACK_DESCRIPTION,
            Verb::Get,
            &pin(0),
            |p| (p == 0).then_some(Jack::MICROPHONE),
            &mut value,
        )
        .unwrap();
        assert_eq!(u32_at(&value, 8), 0);
        assert_eq!(u32_at(&value, 12), 0, "no colour");
        assert_eq!(
            u32_at(&value, 28),
            ePortConnIntegratedDevice.cast_unsigned()
        );
    }

    #[test]
    fn empty_gets_are_probes_and_short_ones_too_small() {
        for (id, size) in [
            (KSPROPERTY_JACK_DESCRIPTION, 36),
            (KSPROPERTY_JACK_DESCRIPTION2, 16),
        ] {
            assert_eq!(
                jack(id, Verb::Get, &pin(1), speaker, &mut []),
                Err(PropertyError::Overflow { required: size })
            );
            for short in [1, 4, 8, size - 1] {
                let mut value = vec![0xEE; short as usize];
                assert_eq!(
                    jack(id, Verb::Get, &pin(1), speaker, &mut value),
                    Err(PropertyError::TooSmall)
                );
                assert!(
                    value.iter().all(|&b| b == 0xEE),
                    "wrote into a short buffer"
                );
            }
            let mut huge = vec![0u8; 1 << 16];
            assert_eq!(
                jack(id, Verb::Get, &pin(1), speaker, &mut huge),
                Ok(size as usize)
            );
        }
    }

    #[test]
    fn basic_support_succeeds_with_get_access() {
        assert_eq!(
            jack(
                KSPROPERTY_JACK_DESCRIPTION,
                Verb::BasicSupport,
                &pin(1),
                speaker,
                &mut []
            ),
            Err(PropertyError::Overflow { required: 40 })
        );
        let mut flags = [0u8; 4];
        assert_eq!(
            jack(
                KSPROPERTY_JACK_DESCRIPTION2,
                Verb::BasicSupport,
                &pin(1),
                speaker,
                &mut flags
            ),
            Ok(4)
        );
        assert_eq!(u32::from_le_bytes(flags), 0x0000_0201);
        let mut description = [0u8; 40];
        assert_eq!(
            jack(
                KSPROPERTY_JACK_DESCRIPTION,
                Verb::BasicSupport,
                &pin(1),
                speaker,
                &mut description
            ),
            Ok(40)
        );
        assert_eq!(u32_at(&description, 4), 40);
        assert_eq!(u32_at(&description, 32), 0);
    }

    #[test]
    fn other_pins_writes_and_unknown_ids_are_refused() {
        let mut value = [0u8; 36];
        let mut get = |id, verb, instance: &[u8]| jack(id, verb, instance, speaker, &mut value);
        let d = KSPROPERTY_JACK_DESCRIPTION;
        assert_eq!(get(d, Verb::Get, &pin(0)), Err(PropertyError::BadInstance));
        assert_eq!(
            get(d, Verb::Get, &pin(u32::MAX)),
            Err(PropertyError::BadInstance)
        );
        assert_eq!(get(d, Verb::Get, &[1, 0]), Err(PropertyError::BadInstance));
        assert_eq!(get(d, Verb::Get, &[]), Err(PropertyError::BadInstance));
        assert_eq!(
            get(d, Verb::BasicSupport, &pin(0)),
            Err(PropertyError::BadInstance)
        );
        assert_eq!(get(d, Verb::Set, &pin(1)), Err(PropertyError::Unsupported));
        for unknown in [0, 3, 9, u32::MAX] {
            assert_eq!(
                get(unknown, Verb::Get, &pin(1)),
                Err(PropertyError::Unsupported)
            );
        }
    }

    #[test]
    fn pin_requests_check_the_set_and_the_verb() {
        let ask = |set: &GUID, flags| {
            pin_request(
                set,
                KSPROPERTY_JACK_DESCRIPTION,
                flags,
                &pin(1),
                speaker,
                &mut [0; 36],
            )
        };
        assert_eq!(ask(&KSPROPSETID_Jack, KSPROPERTY_TYPE_GET), Ok(36));
        assert_eq!(
            ask(&KSPROPSETID_Audio, KSPROPERTY_TYPE_GET),
            Err(PropertyError::Unsupported)
        );
        assert_eq!(
            ask(&KSPROPSETID_Jack, KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_SET),
            Err(PropertyError::Unsupported)
        );
        assert_eq!(ask(&KSPROPSETID_Jack, 0), Err(PropertyError::Unsupported));
    }

    #[test]
    fn the_jacks_are_on_the_external_pins_only() {
        assert_eq!(
            jack_of(&identity::RENDER_TOPOLOGY, RENDER_TOPOLOGY_SPEAKER_PIN),
            Some(Jack::SPEAKER)
        );
        assert_eq!(jack_of(&identity::RENDER_TOPOLOGY, 0), None);
        assert_eq!(
            jack_of(&identity::CAPTURE_TOPOLOGY, CAPTURE_TOPOLOGY_MICROPHONE_PIN),
            Some(Jack::MICROPHONE)
        );
        assert_eq!(jack_of(&identity::CAPTURE_TOPOLOGY, 1), None);
        assert_eq!(jack_of(&identity::RENDER_WAVE, 1), None);
        assert_eq!(jack_of(&identity::CAPTURE_WAVE, 0), None);
    }
}
