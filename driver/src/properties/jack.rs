//! The jack behind each topology filter's external pin: `KSPROPSETID_Jack` `DESCRIPTION` and
//! `DESCRIPTION2`, each a `KSMULTIPLE_ITEM` header followed by one entry.

use core::mem::{offset_of, size_of};

use portcls_sys::GUID;
use portcls_sys::ks::{
    EPcxConnectionType, EPcxGenLocation, EPcxGeoLocation, EPxcPortConnection,
    JACKDESC2_PRESENCE_DETECT_CAPABILITY, KSAUDIO_SPEAKER_STEREO, KSJACK_DESCRIPTION,
    KSJACK_DESCRIPTION2, KSMULTIPLE_ITEM, KSPROPERTY_JACK_DESCRIPTION,
    KSPROPERTY_JACK_DESCRIPTION2, KSPROPERTY_TYPE_BASICSUPPORT, KSPROPERTY_TYPE_GET,
    KSPROPSETID_Jack, eConnTypeCombination, eConnTypeUnknown, eGenLocPrimaryBox, eGeoLocATAPI,
    eGeoLocDrivebay, eGeoLocFront, eGeoLocHDMI, eGeoLocInsideMobileLid, eGeoLocNotApplicable,
    eGeoLocOutsideMobileLid, eGeoLocRearPanel, eGeoLocRiser, ePortConnBothIntegratedAndJack,
    ePortConnIntegratedDevice, ePortConnJack, ePortConnUnknown,
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
/// The virtual device has no jack: nobody plugs anything into it. Its endpoints are described
/// as integrated devices, as built-in speakers and microphones are ([`Jack::SPEAKER`],
/// [`Jack::MICROPHONE`]: `ePortConnIntegratedDevice`, connection type unknown, no colour),
/// always connected. A virtio-sound function describes each endpoint by the jack the device
/// reports for its direction ([`Jack::from_pin_config`]: the jack's HD Audio pin
/// configuration), connected as the device last said.
///
/// `DESCRIPTION2` reports an active device, and presence detection for a device jack that
/// has it: the driver then raises `KSEVENT_PINCAPS_JACKINFOCHANGE` on the topology filter's
/// external pin whenever the device says something was plugged in or pulled out, and the
/// audio stack reads the description again.
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
    /// `IsConnected`: something is plugged in (always, for a jack that cannot tell).
    pub connected: bool,
    /// `DESCRIPTION2`'s `JACKDESC2_PRESENCE_DETECT_CAPABILITY`: the jack tells when
    /// something is plugged in or pulled out, and the driver raises
    /// `KSEVENT_PINCAPS_JACKINFOCHANGE` then.
    pub detects_presence: bool,
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
        connected: true,
        detects_presence: false,
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
        connected: true,
        detects_presence: false,
    };
}

impl Jack {
    /// The jack an HD Audio pin configuration describes (`capture`: a jack audio comes in
    /// through). `presence`: whether something is plugged in, for a jack that detects it;
    /// `None` for one that cannot tell (always connected). A digital output (S/PDIF, other
    /// digital) and any input map no speaker positions; an analog output maps the driver's
    /// stereo pair.
    #[must_use]
    pub const fn from_pin_config(config: PinConfig, capture: bool, presence: Option<bool>) -> Self {
        let digital = matches!(config.default_device(), 0x4 | 0x5 | 0xC | 0xD);
        let channel_mapping = if capture || digital {
            0
        } else {
            KSAUDIO_SPEAKER_STEREO
        };
        // The connection types are the same numbers in both (HD Audio 0-0xB); 0xF (other)
        // and the reserved ones are unknown.
        let connection = config.connection_type();
        let connection_type = if connection <= eConnTypeCombination.cast_unsigned() {
            connection.cast_signed()
        } else {
            eConnTypeUnknown
        };
        // The general locations are the same numbers in both (0-3).
        let gen_location = config.gross_location().cast_signed();
        Self {
            channel_mapping,
            color: config.rgb(),
            connection_type,
            geo_location: config.geo_location(),
            gen_location,
            port_connection: match config.connectivity() {
                0 => ePortConnJack,
                2 => ePortConnIntegratedDevice,
                3 => ePortConnBothIntegratedAndJack,
                _ => ePortConnUnknown,
            },
            connected: match presence {
                Some(connected) => connected,
                None => true,
            },
            detects_presence: presence.is_some(),
        }
    }
}

/// An HD Audio pin's default configuration (the `hda_reg_defconf` a virtio-sound device
/// reports for each jack; the High Definition Audio specification's "Configuration Default"
/// register): what the jack is for, where it is, what it looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PinConfig(pub u32);

impl PinConfig {
    const fn field(self, shift: u32, bits: u32) -> u32 {
        (self.0 >> shift) & ((1 << bits) - 1)
    }

    /// Port connectivity (bits 31-30): 0 a jack, 1 nothing connected, 2 a fixed (integrated)
    /// device, 3 both.
    #[must_use]
    pub const fn connectivity(self) -> u32 {
        self.field(30, 2)
    }

    /// Gross location (bits 29-28): 0 the primary chassis, 1 internal, 2 a separate chassis,
    /// 3 other.
    #[must_use]
    pub const fn gross_location(self) -> u32 {
        self.field(28, 2)
    }

    /// Geometric location (bits 27-24): 0 none, 1-6 rear, front, left, right, top, bottom,
    /// 7-9 special places that depend on the gross location.
    #[must_use]
    pub const fn geometric_location(self) -> u32 {
        self.field(24, 4)
    }

    /// Default device (bits 23-20): 0 line out, 1 speaker, 2 headphones, 3 CD, 4 S/PDIF out,
    /// 5 other digital out, 6-7 modem, 8 line in, 9 aux, 0xA microphone, 0xB telephony,
    /// 0xC S/PDIF in, 0xD other digital in, 0xF other.
    #[must_use]
    pub const fn default_device(self) -> u32 {
        self.field(20, 4)
    }

    /// Connection type (bits 19-16).
    #[must_use]
    pub const fn connection_type(self) -> u32 {
        self.field(16, 4)
    }

    /// Colour (bits 15-12): 0 unknown, 1 black, 2 grey, 3 blue, 4 green, 5 red, 6 orange,
    /// 7 yellow, 8 purple, 9 pink, 0xE white, 0xF other.
    #[must_use]
    pub const fn color(self) -> u32 {
        self.field(12, 4)
    }

    /// Whether the pin is wired to something a user can reach (connectivity is not "nothing
    /// connected").
    #[must_use]
    pub const fn is_wired(self) -> bool {
        self.connectivity() != 1
    }

    /// Whether audio flows out through the jack: line out, speaker, headphones, S/PDIF or
    /// other digital out.
    #[must_use]
    pub const fn is_output(self) -> bool {
        matches!(self.default_device(), 0x0 | 0x1 | 0x2 | 0x4 | 0x5)
    }

    /// Whether audio comes in through the jack: CD, line in, aux, microphone, S/PDIF or
    /// other digital in.
    #[must_use]
    pub const fn is_input(self) -> bool {
        matches!(self.default_device(), 0x3 | 0x8 | 0x9 | 0xA | 0xC | 0xD)
    }

    /// Whether the jack's presence detection is overridden (misc bit 8, "jack detect
    /// override"): it cannot tell whether anything is plugged in.
    #[must_use]
    pub const fn ignores_presence(self) -> bool {
        self.field(8, 1) == 1
    }

    /// The colour as `KSJACK_DESCRIPTION` wants it (0x00RRGGBB); 0 for unknown and other.
    #[must_use]
    pub const fn rgb(self) -> u32 {
        match self.color() {
            0x2 => 0x0080_8080,
            0x3 => 0x0000_00FF,
            0x4 => 0x0000_FF00,
            0x5 => 0x00FF_0000,
            0x6 => 0x00FF_A500,
            0x7 => 0x00FF_FF00,
            0x8 => 0x0080_0080,
            0x9 => 0x00FF_C0CB,
            0xE => 0x00FF_FFFF,
            // Black is 0 too.
            _ => 0,
        }
    }

    /// The geometric location as `KSJACK_DESCRIPTION` names it: 1-6 are the same numbers in
    /// both; the special places (7-9) depend on the gross location.
    #[must_use]
    pub const fn geo_location(self) -> EPcxGeoLocation {
        let place = self.geometric_location();
        match (self.gross_location(), place) {
            (_, 1..=6) => place.cast_signed(),
            (0, 7) => eGeoLocRearPanel,
            (0, 8) => eGeoLocDrivebay,
            (1, 7) => eGeoLocRiser,
            (1, 8) => eGeoLocHDMI,
            (1, 9) => eGeoLocATAPI,
            (3, 7) => eGeoLocInsideMobileLid,
            (3, 8) => eGeoLocOutsideMobileLid,
            _ => eGeoLocNotApplicable,
        }
    }
}

/// The jack of pin `pin` of `subdevice`, if that pin is an external one.
#[must_use]
pub fn jack_of(subdevice: &Subdevice, pin: u32) -> Option<Jack> {
    if subdevice.kind != identity::FilterKind::Topology
        || !identity::DEVICE_SUBDEVICES.contains(subdevice)
    {
        None
    } else if subdevice.flow.is_capture() {
        (pin == CAPTURE_TOPOLOGY_MICROPHONE_PIN).then_some(Jack::MICROPHONE)
    } else {
        (pin == RENDER_TOPOLOGY_SPEAKER_PIN).then_some(Jack::SPEAKER)
    }
}

/// Writes the `DESCRIPTION` (`second` false) or `DESCRIPTION2` entry of `jack` into `value`,
/// which holds at least `size` bytes.
fn write_answer(jack: &Jack, second: bool, size: usize, value: &mut [u8]) {
    put_u32(value, offset_of!(KSMULTIPLE_ITEM, Size), ulong(size));
    put_u32(value, offset_of!(KSMULTIPLE_ITEM, Count), 1);
    let at = MULTIPLE_ITEM_SIZE;
    if second {
        // No device state to report, no dynamic format change; presence detection where the
        // jack has it.
        let capabilities = if jack.detects_presence {
            JACKDESC2_PRESENCE_DETECT_CAPABILITY
        } else {
            0
        };
        put_u32(
            value,
            at + offset_of!(KSJACK_DESCRIPTION2, DeviceStateInfo),
            0,
        );
        put_u32(
            value,
            at + offset_of!(KSJACK_DESCRIPTION2, JackCapabilities),
            capabilities,
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
        (
            offset_of!(KSJACK_DESCRIPTION, IsConnected),
            u32::from(jack.connected),
        ),
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
    fn pin_configurations_become_jack_descriptions() {
        use portcls_sys::ks::{
            eConnType3Point5mm, eConnTypeOtherAnalog, eConnTypeOtherDigital, eGenLocInternal,
            eGeoLocRear,
        };
        // Rear green line out on a 3.5 mm jack (the most common desktop layout).
        let line_out = PinConfig(0x0101_4010);
        assert!(line_out.is_output() && !line_out.is_input() && line_out.is_wired());
        assert!(!line_out.ignores_presence());
        let jack = Jack::from_pin_config(line_out, false, Some(false));
        assert_eq!(
            jack,
            Jack {
                channel_mapping: KSAUDIO_SPEAKER_STEREO,
                color: 0x0000_FF00,
                connection_type: eConnType3Point5mm,
                geo_location: eGeoLocRear,
                gen_location: eGenLocPrimaryBox,
                port_connection: ePortConnJack,
                connected: false,
                detects_presence: true,
            }
        );
        // Rear pink microphone: an input maps no speakers.
        let mic = PinConfig(0x01A1_9020);
        assert!(mic.is_input() && !mic.is_output());
        let jack = Jack::from_pin_config(mic, true, Some(true));
        assert_eq!((jack.channel_mapping, jack.color), (0, 0x00FF_C0CB));
        assert!(jack.connected);
        // Internal speakers, fixed, presence detection overridden.
        let speaker = PinConfig(0x9017_0110 | 1 << 8);
        assert!(speaker.ignores_presence());
        let jack = Jack::from_pin_config(speaker, false, None);
        assert!(jack.connected && !jack.detects_presence);
        assert_eq!(jack.port_connection, ePortConnIntegratedDevice);
        assert_eq!(jack.gen_location, eGenLocInternal);
        assert_eq!(jack.geo_location, eGeoLocNotApplicable);
        assert_eq!(jack.connection_type, eConnTypeOtherAnalog);
        // HDMI: internal, special place 8; a digital output maps no speakers.
        let hdmi = PinConfig(0x1856_0010);
        let jack = Jack::from_pin_config(hdmi, false, None);
        assert_eq!(jack.geo_location, eGeoLocHDMI);
        assert_eq!(jack.connection_type, eConnTypeOtherDigital);
        assert_eq!(jack.channel_mapping, 0);
        // Not connected to anything; other connection type; both jack and integrated.
        assert!(!PinConfig(0x4000_0000).is_wired());
        let odd = PinConfig(0xC00F_F000);
        let jack = Jack::from_pin_config(odd, false, None);
        assert_eq!(jack.connection_type, eConnTypeUnknown);
        assert_eq!(jack.port_connection, ePortConnBothIntegratedAndJack);
        assert_eq!(jack.color, 0, "other colour");
        assert_eq!(
            Jack::from_pin_config(PinConfig(0x7000_0000), false, None).port_connection,
            ePortConnUnknown
        );
        // Special places by gross location.
        for (config, place) in [
            (0x0700_0000, eGeoLocRearPanel),
            (0x0800_0000, eGeoLocDrivebay),
            (0x1700_0000, eGeoLocRiser),
            (0x1900_0000, eGeoLocATAPI),
            (0x3700_0000, eGeoLocInsideMobileLid),
            (0x3800_0000, eGeoLocOutsideMobileLid),
            (0x2700_0000, eGeoLocNotApplicable),
        ] {
            assert_eq!(PinConfig(config).geo_location(), place, "{config:#x}");
        }
    }

    #[test]
    fn a_disconnected_jack_says_so() {
        let mut value = [0u8; 36];
        let unplugged = Jack {
            connected: false,
            ..Jack::SPEAKER
        };
        jack(
            KSPROPERTY_JACK_DESCRIPTION,
            Verb::Get,
            &pin(1),
            |_| Some(unplugged),
            &mut value,
        )
        .unwrap();
        assert_eq!(u32_at(&value, 32), 0);
        let mut value2 = [0u8; 16];
        let detecting = Jack {
            detects_presence: true,
            ..unplugged
        };
        jack(
            KSPROPERTY_JACK_DESCRIPTION2,
            Verb::Get,
            &pin(1),
            |_| Some(detecting),
            &mut value2,
        )
        .unwrap();
        assert_eq!(u32_at(&value2, 12), JACKDESC2_PRESENCE_DETECT_CAPABILITY);
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
        // Every endpoint's topology filter has its flow's external pin.
        for endpoints in identity::ENDPOINTS {
            for endpoint in endpoints {
                let (pin, jack) = if endpoint.topology.flow.is_capture() {
                    (CAPTURE_TOPOLOGY_MICROPHONE_PIN, Jack::MICROPHONE)
                } else {
                    (RENDER_TOPOLOGY_SPEAKER_PIN, Jack::SPEAKER)
                };
                assert_eq!(jack_of(&endpoint.topology, pin), Some(jack));
                assert_eq!(jack_of(&endpoint.wave, pin), None);
            }
        }
    }
}
