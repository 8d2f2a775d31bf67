//! The volume, mute and peak-meter nodes of both endpoints: their stored values and the answers
//! to `KSPROPSETID_Audio` `VOLUMELEVEL`, `MUTE` and `PEAKMETER2`. What the values do to the
//! audio is [`levels`](crate::levels).

use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};

use portcls_sys::GUID;
use portcls_sys::ks::{
    KSPROPERTY_AUDIO_MUTE, KSPROPERTY_AUDIO_PEAKMETER2, KSPROPERTY_AUDIO_VOLUMELEVEL,
    KSPROPERTY_TYPE_BASICSUPPORT, KSPROPERTY_TYPE_GET, KSPROPERTY_TYPE_SET, KSPROPSETID_Audio,
    VT_BOOL, VT_I4,
};

use super::request::{Answer, Description, PropertyError, Stepping, Verb, read_u32};
use crate::descriptors::{
    CAPTURE_MUTE_NODE, CAPTURE_PEAK_NODE, CAPTURE_VOLUME_NODE, RENDER_MUTE_NODE, RENDER_PEAK_NODE,
    RENDER_VOLUME_NODE,
};
use crate::identity::{self, Subdevice};
use crate::levels::{Gain, linear};

/// Channels of the volume and mute controls (the device is stereo).
pub const CHANNELS: usize = 2;
/// The channel number that addresses every channel at once (`-1`, 0xFFFFFFFF).
pub const ALL_CHANNELS: i32 = -1;
/// The lowest volume: -96 dB in 1/65536 dB.
pub const VOLUME_MINIMUM: i32 = -96 * 65_536;
/// The highest volume: 0 dB.
pub const VOLUME_MAXIMUM: i32 = 0;
/// The volume step: 0.5 dB.
pub const VOLUME_STEP: i32 = 32_768;

/// The accesses both controls allow.
const ACCESS: u32 = KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_SET | KSPROPERTY_TYPE_BASICSUPPORT;
/// The accesses a peak meter allows (it is read only).
const PEAK_ACCESS: u32 = KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_BASICSUPPORT;

/// The basic support of the peak meter: `LONG_MIN..LONG_MAX` in steps of 1 on each channel, as
/// the documentation of `KSPROPERTY_AUDIO_PEAKMETER2` asks (values are magnitudes, so 0 and up).
const PEAK_RANGES: [Stepping; CHANNELS] = [Stepping {
    delta: 1,
    minimum: i32::MIN,
    maximum: i32::MAX,
}; CHANNELS];

/// The basic support of the volume: -96..0 dB in 0.5 dB steps on each channel.
const VOLUME_RANGES: [Stepping; CHANNELS] = [Stepping {
    delta: VOLUME_STEP.unsigned_abs(),
    minimum: VOLUME_MINIMUM,
    maximum: VOLUME_MAXIMUM,
}; CHANNELS];

/// The basic support of the mute: FALSE..TRUE on each channel.
const MUTE_RANGES: [Stepping; CHANNELS] = [Stepping {
    delta: 1,
    minimum: 0,
    maximum: 1,
}; CHANNELS];

/// Bytes of a full basic-support answer for either control.
pub const BASIC_SUPPORT_SIZE: usize = Description {
    access: ACCESS,
    value_type: Some(VT_I4),
    ranges: &VOLUME_RANGES,
}
.size();

/// The values of one endpoint's controls (volume and mute, per channel). Handlers and the
/// engine threads may run concurrently, so each value is atomic; a SET of every channel stores
/// them one by one. Each channel's linear factor is computed when its volume is set (the bits
/// of an `f32`), so the engine's period reads it without arithmetic.
#[derive(Debug)]
pub struct Controls {
    volume: [AtomicI32; CHANNELS],
    mute: [AtomicBool; CHANNELS],
    factor: [AtomicU32; CHANNELS],
}

impl Default for Controls {
    fn default() -> Self {
        Self::new()
    }
}

impl Controls {
    /// Controls at their defaults: full volume (0 dB), not muted.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            volume: [
                AtomicI32::new(VOLUME_MAXIMUM),
                AtomicI32::new(VOLUME_MAXIMUM),
            ],
            mute: [AtomicBool::new(false), AtomicBool::new(false)],
            factor: [AtomicU32::new(UNITY_BITS), AtomicU32::new(UNITY_BITS)],
        }
    }

    /// What the controls do to the audio now.
    #[must_use]
    pub fn gain(&self) -> Gain {
        let factor = |c: usize| {
            self.factor
                .get(c)
                .map_or(1.0, |f| f32::from_bits(f.load(Ordering::Relaxed)))
        };
        let muted = |c: usize| self.mute.get(c).is_some_and(|m| m.load(Ordering::Relaxed));
        Gain::from_factors([factor(0), factor(1)], [muted(0), muted(1)])
    }

    /// The volume of `channel` in 1/65536 dB.
    #[must_use]
    pub fn volume(&self, channel: usize) -> Option<i32> {
        self.volume.get(channel).map(|v| v.load(Ordering::Relaxed))
    }

    /// Whether `channel` is muted.
    #[must_use]
    pub fn muted(&self, channel: usize) -> Option<bool> {
        self.mute.get(channel).map(|m| m.load(Ordering::Relaxed))
    }
}

/// The bits of 1.0f32.
const UNITY_BITS: u32 = 0x3F80_0000;

/// The kind of a control node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// A `KSNODETYPE_VOLUME` node (`KSPROPERTY_AUDIO_VOLUMELEVEL`).
    Volume,
    /// A `KSNODETYPE_MUTE` node (`KSPROPERTY_AUDIO_MUTE`).
    Mute,
    /// A `KSNODETYPE_PEAKMETER` node (`KSPROPERTY_AUDIO_PEAKMETER2`).
    PeakMeter,
}

/// The control at node `node` of `subdevice`, if that node is one. Both topology filters have
/// the same three nodes (volume, mute, peak meter) under their own numbers.
#[must_use]
pub fn control_at(subdevice: &Subdevice, node: u32) -> Option<Control> {
    let (volume, mute, peak) = if subdevice.name == identity::RENDER_TOPOLOGY.name {
        (RENDER_VOLUME_NODE, RENDER_MUTE_NODE, RENDER_PEAK_NODE)
    } else if subdevice.name == identity::CAPTURE_TOPOLOGY.name {
        (CAPTURE_VOLUME_NODE, CAPTURE_MUTE_NODE, CAPTURE_PEAK_NODE)
    } else {
        return None;
    };
    match node {
        n if n == volume => Some(Control::Volume),
        n if n == mute => Some(Control::Mute),
        n if n == peak => Some(Control::PeakMeter),
        _ => None,
    }
}

/// The channels a `KSNODEPROPERTY_AUDIO_CHANNEL` instance (the `Channel` after the
/// `KSNODEPROPERTY`) names: one, or all for [`ALL_CHANNELS`].
fn channels(instance: &[u8]) -> Result<core::ops::Range<usize>, PropertyError> {
    let raw = read_u32(instance, 0)
        .map(u32::cast_signed)
        .ok_or(PropertyError::BadInstance)?;
    if raw == ALL_CHANNELS {
        return Ok(0..CHANNELS);
    }
    match usize::try_from(raw) {
        Ok(channel) if channel < CHANNELS => Ok(channel..channel + 1),
        _ => Err(PropertyError::BadInstance),
    }
}

/// A GET or SET of one `LONG`-sized value per channel. `read` gives a channel's value, `write`
/// stores one. A GET of every channel reads channel 0.
fn per_channel(
    verb: Verb,
    instance: &[u8],
    value: &mut [u8],
    read: impl Fn(usize) -> i32,
    write: impl Fn(usize, i32),
) -> Answer {
    let channels = channels(instance)?;
    match verb {
        Verb::Get => {
            if value.is_empty() {
                return Err(PropertyError::overflow(4));
            }
            let slot = value.get_mut(..4).ok_or(PropertyError::TooSmall)?;
            slot.copy_from_slice(&read(channels.start).to_le_bytes());
            Ok(4)
        }
        Verb::Set => {
            let raw = read_u32(value, 0)
                .map(u32::cast_signed)
                .ok_or(PropertyError::TooSmall)?;
            for channel in channels {
                write(channel, raw);
            }
            Ok(0)
        }
        Verb::BasicSupport => Err(PropertyError::Unsupported),
    }
}

/// Clamps a volume to the range and rounds it to the nearest step (halves toward 0 dB).
#[must_use]
pub const fn quantize_volume(requested: i32) -> i32 {
    let clamped = if requested < VOLUME_MINIMUM {
        VOLUME_MINIMUM
    } else if requested > VOLUME_MAXIMUM {
        VOLUME_MAXIMUM
    } else {
        requested
    };
    // Steps counted up from the minimum; the range is a whole number of steps.
    let offset = clamped - VOLUME_MINIMUM;
    let steps = (offset + VOLUME_STEP / 2) / VOLUME_STEP;
    VOLUME_MINIMUM + steps * VOLUME_STEP
}

/// `KSPROPERTY_AUDIO_VOLUMELEVEL` on a volume node.
///
/// # Errors
/// As the table in the [module docs](super) says.
pub fn volume(controls: &Controls, verb: Verb, instance: &[u8], value: &mut [u8]) -> Answer {
    if verb == Verb::BasicSupport {
        let description = Description {
            access: ACCESS,
            value_type: Some(VT_I4),
            ranges: &VOLUME_RANGES,
        };
        return description.answer(value);
    }
    per_channel(
        verb,
        instance,
        value,
        |c| {
            controls
                .volume
                .get(c)
                .map_or(VOLUME_MAXIMUM, |v| v.load(Ordering::Relaxed))
        },
        |c, raw| {
            if let (Some(slot), Some(factor)) = (controls.volume.get(c), controls.factor.get(c)) {
                let level = quantize_volume(raw);
                slot.store(level, Ordering::Relaxed);
                factor.store(linear(level).to_bits(), Ordering::Relaxed);
            }
        },
    )
}

/// `KSPROPERTY_AUDIO_PEAKMETER2` on a peak-meter node: GET returns the channel's peak since it
/// was last read (`take` gives it and clears it, `None` for an unknown channel), BASICSUPPORT
/// the `LONG` range; SET is not allowed. A GET of every channel (-1) returns the larger peak and
/// clears both.
///
/// # Errors
/// As the table in the [module docs](super) says.
pub fn peak_meter(
    verb: Verb,
    instance: &[u8],
    value: &mut [u8],
    mut take: impl FnMut(usize) -> Option<i32>,
) -> Answer {
    match verb {
        Verb::BasicSupport => Description {
            access: PEAK_ACCESS,
            value_type: Some(VT_I4),
            ranges: &PEAK_RANGES,
        }
        .answer(value),
        Verb::Set => Err(PropertyError::Unsupported),
        Verb::Get => {
            let channels = channels(instance)?;
            if value.is_empty() {
                return Err(PropertyError::overflow(4));
            }
            let slot = value.get_mut(..4).ok_or(PropertyError::TooSmall)?;
            let mut peak = 0;
            for channel in channels {
                peak = take(channel).ok_or(PropertyError::BadInstance)?.max(peak);
            }
            slot.copy_from_slice(&peak.to_le_bytes());
            Ok(4)
        }
    }
}

/// `KSPROPERTY_AUDIO_MUTE` on a mute node. Any non-zero `BOOL` mutes.
///
/// # Errors
/// As the table in the [module docs](super) says.
pub fn mute(controls: &Controls, verb: Verb, instance: &[u8], value: &mut [u8]) -> Answer {
    if verb == Verb::BasicSupport {
        let description = Description {
            access: ACCESS,
            value_type: Some(VT_BOOL),
            ranges: &MUTE_RANGES,
        };
        return description.answer(value);
    }
    per_channel(
        verb,
        instance,
        value,
        |c| {
            i32::from(
                controls
                    .mute
                    .get(c)
                    .is_some_and(|m| m.load(Ordering::Relaxed)),
            )
        },
        |c, raw| {
            if let Some(slot) = controls.mute.get(c) {
                slot.store(raw != 0, Ordering::Relaxed);
            }
        },
    )
}

/// A node request as the handler receives it: the property `set`/`id`, the request's `flags`,
/// the control at the addressed node (from [`control_at`]), the instance data after the
/// `KSNODEPROPERTY` and the value buffer.
///
/// # Errors
/// As the table in the [module docs](super) says.
#[allow(clippy::too_many_arguments)] // the parts of a node request, and the meter's source
pub fn node_request(
    controls: &Controls,
    set: &GUID,
    id: u32,
    flags: u32,
    control: Option<Control>,
    instance: &[u8],
    value: &mut [u8],
    peak: impl FnMut(usize) -> Option<i32>,
) -> Answer {
    let verb = Verb::from_flags(flags).ok_or(PropertyError::Unsupported)?;
    if *set != KSPROPSETID_Audio {
        return Err(PropertyError::Unsupported);
    }
    let wanted = match id {
        KSPROPERTY_AUDIO_VOLUMELEVEL => Control::Volume,
        KSPROPERTY_AUDIO_MUTE => Control::Mute,
        KSPROPERTY_AUDIO_PEAKMETER2 => Control::PeakMeter,
        _ => return Err(PropertyError::Unsupported),
    };
    if control != Some(wanted) {
        return Err(PropertyError::BadInstance);
    }
    match wanted {
        Control::Volume => volume(controls, verb, instance, value),
        Control::Mute => mute(controls, verb, instance, value),
        Control::PeakMeter => peak_meter(verb, instance, value, peak),
    }
}

#[cfg(test)]
mod tests {
    use portcls_sys::ks::{KSPROPERTY_TYPE_TOPOLOGY, KSPROPSETID_Jack};

    use super::*;

    fn instance(channel: i32) -> [u8; 8] {
        let mut out = [0u8; 8];
        out[..4].copy_from_slice(&channel.to_le_bytes());
        out
    }

    fn i32_of(value: &[u8]) -> i32 {
        i32::from_le_bytes(value[..4].try_into().unwrap())
    }

    fn set_volume(controls: &Controls, channel: i32, level: i32) -> Answer {
        volume(
            controls,
            Verb::Set,
            &instance(channel),
            &mut level.to_le_bytes(),
        )
    }

    #[test]
    fn volume_starts_at_0_db_and_round_trips_per_channel() {
        let controls = Controls::new();
        let mut value = [0xAAu8; 4];
        assert_eq!(
            volume(&controls, Verb::Get, &instance(1), &mut value),
            Ok(4)
        );
        assert_eq!(i32_of(&value), 0);
        assert_eq!(set_volume(&controls, 1, -20 * 65_536), Ok(0));
        assert_eq!(controls.volume(1), Some(-20 * 65_536));
        assert_eq!(controls.volume(0), Some(0));
        volume(&controls, Verb::Get, &instance(1), &mut value).unwrap();
        assert_eq!(i32_of(&value), -20 * 65_536);
        // Every step of the range is stored as given.
        for level in (VOLUME_MINIMUM..=VOLUME_MAXIMUM).step_by(VOLUME_STEP.unsigned_abs() as usize)
        {
            set_volume(&controls, 0, level).unwrap();
            assert_eq!(controls.volume(0), Some(level));
        }
    }

    #[test]
    fn volume_sets_are_clamped_and_rounded_to_the_step() {
        let controls = Controls::new();
        // -10.25 dB lies half-way between -10.0 dB and -10.5 dB: it rounds toward 0 dB.
        set_volume(&controls, 0, -10 * 65_536 - 16_384).unwrap();
        assert_eq!(controls.volume(0), Some(-10 * 65_536));
        set_volume(&controls, 0, -10 * 65_536 - 16_385).unwrap();
        assert_eq!(controls.volume(0), Some(-10 * 65_536 - VOLUME_STEP));
        set_volume(&controls, 0, i32::MIN).unwrap();
        assert_eq!(controls.volume(0), Some(VOLUME_MINIMUM));
        set_volume(&controls, 0, VOLUME_MINIMUM - 1).unwrap();
        assert_eq!(controls.volume(0), Some(VOLUME_MINIMUM));
        set_volume(&controls, 0, i32::MAX).unwrap();
        assert_eq!(controls.volume(0), Some(VOLUME_MAXIMUM));
        set_volume(&controls, 0, 1).unwrap();
        assert_eq!(controls.volume(0), Some(VOLUME_MAXIMUM));
    }

    #[test]
    fn quantized_volumes_are_on_the_grid_and_nearest() {
        for requested in (-7_000_000..100_000)
            .step_by(9_973)
            .chain([i32::MIN, i32::MAX])
        {
            let v = quantize_volume(requested);
            assert!((VOLUME_MINIMUM..=VOLUME_MAXIMUM).contains(&v));
            assert_eq!((v - VOLUME_MINIMUM) % VOLUME_STEP, 0);
            let clamped = requested.clamp(VOLUME_MINIMUM, VOLUME_MAXIMUM);
            assert!((v - clamped).abs() <= VOLUME_STEP / 2, "{requested} -> {v}");
        }
    }

    #[test]
    fn the_all_channels_instance_sets_both_and_reads_channel_0() {
        let controls = Controls::new();
        set_volume(&controls, 1, -65_536).unwrap();
        set_volume(&controls, ALL_CHANNELS, -3 * 65_536).unwrap();
        assert_eq!(controls.volume(0), Some(-3 * 65_536));
        assert_eq!(controls.volume(1), Some(-3 * 65_536));
        set_volume(&controls, 1, -65_536).unwrap();
        let mut value = [0u8; 4];
        volume(&controls, Verb::Get, &instance(ALL_CHANNELS), &mut value).unwrap();
        assert_eq!(i32_of(&value), -3 * 65_536);
        // 0xFFFFFFFF as unsigned is the same instance.
        let mut unsigned = [0u8; 8];
        unsigned[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        mute(&controls, Verb::Set, &unsigned, &mut 1i32.to_le_bytes()).unwrap();
        assert_eq!(
            (controls.muted(0), controls.muted(1)),
            (Some(true), Some(true))
        );
    }

    #[test]
    fn mute_round_trips_per_channel_and_any_non_zero_mutes() {
        let controls = Controls::new();
        mute(&controls, Verb::Set, &instance(0), &mut 1i32.to_le_bytes()).unwrap();
        assert_eq!(controls.muted(0), Some(true));
        assert_eq!(controls.muted(1), Some(false));
        let mut out = [0xAAu8; 4];
        assert_eq!(mute(&controls, Verb::Get, &instance(0), &mut out), Ok(4));
        assert_eq!(i32_of(&out), 1);
        assert_eq!(mute(&controls, Verb::Get, &instance(1), &mut out), Ok(4));
        assert_eq!(i32_of(&out), 0);
        mute(
            &controls,
            Verb::Set,
            &instance(1),
            &mut (-7i32).to_le_bytes(),
        )
        .unwrap();
        assert_eq!(controls.muted(1), Some(true));
        mute(&controls, Verb::Set, &instance(-1), &mut 0i32.to_le_bytes()).unwrap();
        assert_eq!(
            (controls.muted(0), controls.muted(1)),
            (Some(false), Some(false))
        );
    }

    #[test]
    fn bogus_instance_data_is_refused_and_changes_nothing() {
        let controls = Controls::new();
        for bad in [2, -2, 7, i32::MAX, i32::MIN] {
            assert_eq!(
                set_volume(&controls, bad, -65_536),
                Err(PropertyError::BadInstance)
            );
            assert_eq!(
                mute(&controls, Verb::Get, &instance(bad), &mut [0; 4]),
                Err(PropertyError::BadInstance)
            );
        }
        for short in [&[][..], &[0], &[0, 0, 0]] {
            assert_eq!(
                volume(&controls, Verb::Set, short, &mut [0; 4]),
                Err(PropertyError::BadInstance)
            );
        }
        // Only the channel is read: a 4-byte instance (no Reserved) is enough.
        assert_eq!(
            volume(&controls, Verb::Get, &1i32.to_le_bytes(), &mut [0; 4]),
            Ok(4)
        );
        assert_eq!((controls.volume(0), controls.volume(1)), (Some(0), Some(0)));
    }

    #[test]
    fn short_values_are_too_small_and_empty_gets_are_probes() {
        let controls = Controls::new();
        for len in 1..4 {
            assert_eq!(
                volume(&controls, Verb::Get, &instance(0), &mut vec![0; len]),
                Err(PropertyError::TooSmall)
            );
            assert_eq!(
                mute(&controls, Verb::Set, &instance(0), &mut vec![1; len]),
                Err(PropertyError::TooSmall)
            );
        }
        assert_eq!(
            volume(&controls, Verb::Get, &instance(0), &mut []),
            Err(PropertyError::Overflow { required: 4 })
        );
        // A SET has no probe: an empty value is too small.
        assert_eq!(
            volume(&controls, Verb::Set, &instance(0), &mut []),
            Err(PropertyError::TooSmall)
        );
        assert_eq!(controls.muted(0), Some(false));
        // A huge buffer gets the 4-byte answer and nothing after it.
        let mut huge = vec![0xEE; 1 << 16];
        assert_eq!(volume(&controls, Verb::Get, &instance(0), &mut huge), Ok(4));
        assert!(huge[4..].iter().all(|&b| b == 0xEE));
        // A SET reads the first LONG of a longer buffer.
        let mut long = [0u8; 12];
        long[..4].copy_from_slice(&(-65_536i32).to_le_bytes());
        long[4..8].copy_from_slice(&(-99 * 65_536i32).to_le_bytes());
        volume(&controls, Verb::Set, &instance(0), &mut long).unwrap();
        assert_eq!(controls.volume(0), Some(-65_536));
    }

    #[test]
    fn basic_support_describes_stepped_ranges_per_channel() {
        let controls = Controls::new();
        assert_eq!(BASIC_SUPPORT_SIZE, 88);
        assert_eq!(
            volume(&controls, Verb::BasicSupport, &[], &mut []),
            Err(PropertyError::Overflow { required: 88 })
        );
        let mut flags = [0u8; 4];
        assert_eq!(
            volume(&controls, Verb::BasicSupport, &[], &mut flags),
            Ok(4)
        );
        assert_eq!(u32::from_le_bytes(flags), 0x0000_0203);
        let mut full = [0u8; 96];
        // The instance (a channel, or nothing) does not matter for basic support.
        assert_eq!(
            volume(&controls, Verb::BasicSupport, &instance(9), &mut full),
            Ok(88)
        );
        assert_eq!(i32_of(&full[24..]), VT_I4.cast_signed());
        for channel in 0..2 {
            let at = 56 + 16 * channel;
            assert_eq!(i32_of(&full[at..]), VOLUME_STEP);
            assert_eq!(i32_of(&full[at + 8..]), VOLUME_MINIMUM);
            assert_eq!(i32_of(&full[at + 12..]), VOLUME_MAXIMUM);
        }
        assert_eq!(mute(&controls, Verb::BasicSupport, &[], &mut full), Ok(88));
        assert_eq!(i32_of(&full[24..]), VT_BOOL.cast_signed());
        for channel in 0..2 {
            let at = 56 + 16 * channel;
            assert_eq!(
                [
                    i32_of(&full[at..]),
                    i32_of(&full[at + 8..]),
                    i32_of(&full[at + 12..])
                ],
                [1, 0, 1]
            );
        }
    }

    #[test]
    fn node_requests_reach_the_control_of_their_node_only() {
        let controls = Controls::new();
        let get = KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_TOPOLOGY;
        let ask = |set: &GUID, id, flags, control| {
            node_request(
                &controls,
                set,
                id,
                flags,
                control,
                &instance(0),
                &mut [0; 4],
                |_| Some(7),
            )
        };
        let audio = KSPROPSETID_Audio;
        assert_eq!(
            ask(
                &audio,
                KSPROPERTY_AUDIO_VOLUMELEVEL,
                get,
                Some(Control::Volume)
            ),
            Ok(4)
        );
        assert_eq!(
            ask(&audio, KSPROPERTY_AUDIO_MUTE, get, Some(Control::Mute)),
            Ok(4)
        );
        assert_eq!(
            ask(
                &audio,
                KSPROPERTY_AUDIO_PEAKMETER2,
                get,
                Some(Control::PeakMeter)
            ),
            Ok(4)
        );
        assert_eq!(
            ask(
                &audio,
                KSPROPERTY_AUDIO_PEAKMETER2,
                KSPROPERTY_TYPE_SET,
                Some(Control::PeakMeter)
            ),
            Err(PropertyError::Unsupported),
            "a peak meter is read only"
        );
        // The wrong node, or no control node at all.
        assert_eq!(
            ask(
                &audio,
                KSPROPERTY_AUDIO_VOLUMELEVEL,
                get,
                Some(Control::Mute)
            ),
            Err(PropertyError::BadInstance)
        );
        assert_eq!(
            ask(&audio, KSPROPERTY_AUDIO_MUTE, get, None),
            Err(PropertyError::BadInstance)
        );
        // Other properties, other sets, bad verbs.
        assert_eq!(
            ask(&audio, 5, get, Some(Control::Volume)),
            Err(PropertyError::Unsupported)
        );
        assert_eq!(
            ask(
                &KSPROPSETID_Jack,
                KSPROPERTY_AUDIO_VOLUMELEVEL,
                get,
                Some(Control::Volume)
            ),
            Err(PropertyError::Unsupported)
        );
        assert_eq!(
            ask(
                &audio,
                KSPROPERTY_AUDIO_VOLUMELEVEL,
                KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_SET,
                Some(Control::Volume)
            ),
            Err(PropertyError::Unsupported)
        );
        assert_eq!(
            ask(
                &audio,
                KSPROPERTY_AUDIO_VOLUMELEVEL,
                0,
                Some(Control::Volume)
            ),
            Err(PropertyError::Unsupported)
        );
    }

    #[test]
    fn both_topology_filters_have_volume_mute_and_a_peak_meter() {
        for (filter, [volume, mute, peak]) in [
            (
                &identity::RENDER_TOPOLOGY,
                [RENDER_VOLUME_NODE, RENDER_MUTE_NODE, RENDER_PEAK_NODE],
            ),
            (
                &identity::CAPTURE_TOPOLOGY,
                [CAPTURE_VOLUME_NODE, CAPTURE_MUTE_NODE, CAPTURE_PEAK_NODE],
            ),
        ] {
            assert_eq!(control_at(filter, volume), Some(Control::Volume));
            assert_eq!(control_at(filter, mute), Some(Control::Mute));
            assert_eq!(control_at(filter, peak), Some(Control::PeakMeter));
            assert_eq!(control_at(filter, 3), None);
            assert_eq!(control_at(filter, u32::MAX), None);
        }
        assert_eq!(control_at(&identity::RENDER_WAVE, 0), None);
        assert_eq!(control_at(&identity::CAPTURE_WAVE, 0), None);
    }

    #[test]
    fn a_volume_set_stores_its_linear_factor_for_the_engine() {
        let controls = Controls::new();
        assert!(controls.gain().is_unity());
        set_volume(&controls, 0, -20 * 65_536).unwrap();
        let gain = controls.gain();
        assert!((gain.factor(0) - 0.1).abs() < 1e-6, "{}", gain.factor(0));
        assert!((gain.factor(1) - 1.0).abs() < f32::EPSILON);
        mute(&controls, Verb::Set, &instance(1), &mut 1i32.to_le_bytes()).unwrap();
        assert!(controls.gain().factor(1).abs() < f32::EPSILON);
    }

    #[test]
    fn a_peak_get_takes_the_channel_basic_support_names_the_long_range() {
        let mut taken = Vec::new();
        let mut value = [0u8; 4];
        assert_eq!(
            peak_meter(Verb::Get, &instance(1), &mut value, |c| {
                taken.push(c);
                Some(1234)
            }),
            Ok(4)
        );
        assert_eq!((i32_of(&value), taken.as_slice()), (1234, &[1][..]));
        // Every channel: the larger, both cleared.
        let mut taken = Vec::new();
        peak_meter(Verb::Get, &instance(ALL_CHANNELS), &mut value, |c| {
            taken.push(c);
            Some(10 * i32::try_from(c).unwrap() + 1)
        })
        .unwrap();
        assert_eq!((i32_of(&value), taken.as_slice()), (11, &[0, 1][..]));
        // A probe, a short buffer and a bad channel take nothing.
        let never = |_| -> Option<i32> { panic!("nothing may be taken") };
        assert_eq!(
            peak_meter(Verb::Get, &instance(0), &mut [], never),
            Err(PropertyError::Overflow { required: 4 })
        );
        assert_eq!(
            peak_meter(Verb::Get, &instance(0), &mut [0; 3], never),
            Err(PropertyError::TooSmall)
        );
        assert_eq!(
            peak_meter(Verb::Get, &instance(2), &mut value, never),
            Err(PropertyError::BadInstance)
        );
        let mut full = [0u8; 88];
        assert_eq!(
            peak_meter(Verb::BasicSupport, &[], &mut full, never),
            Ok(88)
        );
        assert_eq!(
            u32::from_le_bytes(full[..4].try_into().unwrap()),
            0x0000_0201
        );
        for channel in 0..2 {
            let at = 56 + 16 * channel;
            assert_eq!(
                [
                    i32_of(&full[at..]),
                    i32_of(&full[at + 8..]),
                    i32_of(&full[at + 12..])
                ],
                [1, i32::MIN, i32::MAX]
            );
        }
    }

    #[test]
    fn concurrent_sets_leave_a_valid_value_on_each_channel() {
        let controls = Controls::new();
        let rounds = if cfg!(miri) { 50 } else { 2_000 };
        std::thread::scope(|scope| {
            for thread in 0..2i32 {
                let controls = &controls;
                scope.spawn(move || {
                    for round in 0..rounds {
                        let level = -(round % 200) * 65_536 / 3 - thread;
                        let channel = if round % 3 == 0 { ALL_CHANNELS } else { thread };
                        set_volume(controls, channel, level).unwrap();
                        let mut value = [0u8; 4];
                        volume(controls, Verb::Get, &instance(thread), &mut value).unwrap();
                        let read = i32_of(&value);
                        assert_eq!((read - VOLUME_MINIMUM) % VOLUME_STEP, 0);
                    }
                });
            }
        });
        for channel in 0..CHANNELS {
            let level = controls.volume(channel).unwrap();
            assert!((VOLUME_MINIMUM..=VOLUME_MAXIMUM).contains(&level));
        }
    }
}
