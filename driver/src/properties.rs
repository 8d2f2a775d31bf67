//! The property handlers the filter descriptors' automation tables name: volume and mute on the
//! speaker's topology nodes, and the jack description of each topology filter's external pin.
//!
//! The answers are computed by plain functions over byte slices ([`volume`], [`mute`],
//! [`jack`]), unit-tested below; [`node_property`] and [`pin_property`] only turn PortCls's
//! `PCPROPERTY_REQUEST` into those slices and write the size back.
//!
//! # Answers
//! | request | answer |
//! | --- | --- |
//! | verb not exactly one of GET, SET, BASICSUPPORT | `STATUS_INVALID_DEVICE_REQUEST` |
//! | a property the handler does not serve (or SET on a jack) | `STATUS_INVALID_DEVICE_REQUEST` |
//! | channel instance data shorter than a `LONG` | `STATUS_INVALID_PARAMETER` |
//! | channel other than 0, 1 or -1 (all channels) | `STATUS_INVALID_PARAMETER` |
//! | jack request for a pin without a jack, or pin instance data too short | `STATUS_INVALID_PARAMETER` |
//! | GET or BASICSUPPORT with a 0-byte value buffer (size probe) | `STATUS_BUFFER_OVERFLOW`, size reported |
//! | value buffer too short otherwise | `STATUS_BUFFER_TOO_SMALL`, nothing written, nothing changed |
//! | BASICSUPPORT with 4 bytes | the access flags only |
//! | BASICSUPPORT with a `KSPROPERTY_DESCRIPTION` but not the rest | the description only |
//!
//! Volume is a `LONG` in 1/65536 dB, from -96 dB to 0 dB in 0.5 dB steps; a SET outside the
//! range is clamped to it and rounded to the nearest step (what the audio engine expects from
//! stepped ranges), and GET returns the stored value. Mute is a `BOOL`. Channel -1 means every
//! channel: SET writes both, GET reads the first.

use core::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use portcls_sys::ks::{
    KSAUDIO_SPEAKER_STEREO, KSPROPERTY_AUDIO_MUTE, KSPROPERTY_AUDIO_VOLUMELEVEL,
    KSPROPERTY_JACK_DESCRIPTION, KSPROPERTY_JACK_DESCRIPTION2,
    KSPROPERTY_MEMBER_FLAG_BASICSUPPORT_MULTICHANNEL, KSPROPERTY_MEMBER_STEPPEDRANGES,
    KSPROPERTY_TYPE_BASICSUPPORT, KSPROPERTY_TYPE_GET, KSPROPERTY_TYPE_SET, KSPROPSETID_Audio,
    KSPROPSETID_Jack, KSPROPTYPESETID_General, VT_BOOL, VT_I4, eConnType3Point5mm,
    eGenLocPrimaryBox, eGeoLocFront, ePortConnJack,
};
use portcls_sys::wavert::PCPROPERTY_REQUEST;
use portcls_sys::{GUID, NTSTATUS, STATUS_INVALID_PARAMETER, ULONG};

use crate::com::ComObject;
use crate::descriptors::{CAPTURE_TOPOLOGY_MICROPHONE_PIN, RENDER_TOPOLOGY_SPEAKER_PIN};
use crate::format::{STATUS_BUFFER_OVERFLOW, STATUS_BUFFER_TOO_SMALL};
use crate::identity::{self, Subdevice};
use crate::miniport::TopologyMiniport;

/// `STATUS_INVALID_DEVICE_REQUEST`: a request this handler does not serve.
pub const STATUS_INVALID_DEVICE_REQUEST: NTSTATUS = 0xC000_0010_u32.cast_signed();

/// Channels of the volume and mute controls (the device is stereo).
pub const CHANNELS: usize = 2;
/// The lowest volume: -96 dB in 1/65536 dB.
pub const VOLUME_MINIMUM: i32 = -96 * 65_536;
/// The highest volume: 0 dB.
pub const VOLUME_MAXIMUM: i32 = 0;
/// The volume step: 0.5 dB.
pub const VOLUME_STEP: i32 = 32_768;

/// Bytes of a `KSPROPERTY_DESCRIPTION`.
const DESCRIPTION_SIZE: usize = 40;
/// Bytes of a `KSPROPERTY_MEMBERSHEADER`.
const MEMBERS_HEADER_SIZE: usize = 16;
/// Bytes of a `KSPROPERTY_STEPPING_LONG`.
const STEPPING_SIZE: usize = 16;
/// Bytes of a full basic-support answer for a per-channel control.
pub const BASIC_SUPPORT_SIZE: usize =
    DESCRIPTION_SIZE + MEMBERS_HEADER_SIZE + CHANNELS * STEPPING_SIZE;
/// Bytes of a `KSMULTIPLE_ITEM` header.
const MULTIPLE_ITEM_SIZE: usize = 8;
/// Bytes of the jack description answer (header + one `KSJACK_DESCRIPTION`).
pub const JACK_DESCRIPTION_SIZE: usize = MULTIPLE_ITEM_SIZE + 28;
/// Bytes of the jack description 2 answer (header + one `KSJACK_DESCRIPTION2`).
pub const JACK_DESCRIPTION2_SIZE: usize = MULTIPLE_ITEM_SIZE + 8;

/// The values of one topology filter's controls (volume and mute, per channel). Handlers may
/// run concurrently, so each value is atomic.
#[derive(Debug)]
pub struct Controls {
    volume: [AtomicI32; CHANNELS],
    mute: [AtomicBool; CHANNELS],
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
        }
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

/// The operation a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// `KSPROPERTY_TYPE_GET`.
    Get,
    /// `KSPROPERTY_TYPE_SET`.
    Set,
    /// `KSPROPERTY_TYPE_BASICSUPPORT`.
    BasicSupport,
}

impl Verb {
    /// The verb of a request's flags (`KSPROPERTY_TYPE_TOPOLOGY` and other modifiers aside):
    /// exactly one of GET, SET and BASICSUPPORT.
    #[must_use]
    pub const fn from_flags(flags: u32) -> Option<Self> {
        let operation =
            flags & (KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_SET | KSPROPERTY_TYPE_BASICSUPPORT);
        match operation {
            KSPROPERTY_TYPE_GET => Some(Self::Get),
            KSPROPERTY_TYPE_SET => Some(Self::Set),
            KSPROPERTY_TYPE_BASICSUPPORT => Some(Self::BasicSupport),
            _ => None,
        }
    }
}

/// A refused request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropertyError {
    /// Not a request this handler serves (verb, property, or SET on a read-only one).
    Unsupported,
    /// Instance data missing or naming a channel or pin without this control.
    BadInstance,
    /// A size probe: the value needs `required` bytes.
    Overflow {
        /// Bytes the full answer needs.
        required: u32,
    },
    /// The value buffer is too short for the operation.
    TooSmall,
}

impl PropertyError {
    /// The NTSTATUS PortCls receives (see the module table).
    #[must_use]
    pub const fn status(&self) -> NTSTATUS {
        match self {
            Self::Unsupported => STATUS_INVALID_DEVICE_REQUEST,
            Self::BadInstance => STATUS_INVALID_PARAMETER,
            Self::Overflow { .. } => STATUS_BUFFER_OVERFLOW,
            Self::TooSmall => STATUS_BUFFER_TOO_SMALL,
        }
    }
}

/// Bytes written into the value buffer, or why nothing was.
pub type Answer = Result<usize, PropertyError>;

/// The channels a channel instance names.
fn channels(instance: &[u8]) -> Result<core::ops::Range<usize>, PropertyError> {
    let raw = instance
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_le_bytes)
        .ok_or(PropertyError::BadInstance)?;
    match raw {
        -1 => Ok(0..CHANNELS),
        0 | 1 => Ok(raw.unsigned_abs() as usize..raw.unsigned_abs() as usize + 1),
        _ => Err(PropertyError::BadInstance),
    }
}

/// Writes `bytes` at the start of `value` (checked by the caller to fit).
fn put(value: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(slot) = value.get_mut(at..at + bytes.len()) {
        slot.copy_from_slice(bytes);
    }
}

fn u32_bytes(value: usize) -> [u8; 4] {
    u32::try_from(value).unwrap_or(u32::MAX).to_le_bytes()
}

/// A basic-support answer for a per-channel stepped control of type `vt` over
/// `minimum..=maximum` in steps of `step`.
fn basic_support(value: &mut [u8], vt: u32, minimum: i32, maximum: i32, step: u32) -> Answer {
    let access = KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_SET | KSPROPERTY_TYPE_BASICSUPPORT;
    match value.len() {
        0 => {
            return Err(PropertyError::Overflow {
                required: u32::try_from(BASIC_SUPPORT_SIZE).unwrap_or(u32::MAX),
            });
        }
        4 => {
            put(value, 0, &access.to_le_bytes());
            return Ok(4);
        }
        n if n < DESCRIPTION_SIZE => return Err(PropertyError::TooSmall),
        _ => {}
    }
    // KSPROPERTY_DESCRIPTION: flags, total size, type (set GUID, id, flags), list count, 0.
    put(value, 0, &access.to_le_bytes());
    put(value, 4, &u32_bytes(BASIC_SUPPORT_SIZE));
    put(value, 8, &guid_bytes(&KSPROPTYPESETID_General));
    put(value, 24, &vt.to_le_bytes());
    put(value, 28, &0u32.to_le_bytes());
    put(value, 32, &1u32.to_le_bytes());
    put(value, 36, &0u32.to_le_bytes());
    if value.len() < BASIC_SUPPORT_SIZE {
        return Ok(DESCRIPTION_SIZE);
    }
    // KSPROPERTY_MEMBERSHEADER: stepped ranges, one per channel.
    put(value, 40, &KSPROPERTY_MEMBER_STEPPEDRANGES.to_le_bytes());
    put(value, 44, &u32_bytes(STEPPING_SIZE));
    put(value, 48, &u32_bytes(CHANNELS));
    put(
        value,
        52,
        &KSPROPERTY_MEMBER_FLAG_BASICSUPPORT_MULTICHANNEL.to_le_bytes(),
    );
    for channel in 0..CHANNELS {
        let at = DESCRIPTION_SIZE + MEMBERS_HEADER_SIZE + channel * STEPPING_SIZE;
        put(value, at, &step.to_le_bytes());
        put(value, at + 4, &0u32.to_le_bytes());
        put(value, at + 8, &minimum.to_le_bytes());
        put(value, at + 12, &maximum.to_le_bytes());
    }
    Ok(BASIC_SUPPORT_SIZE)
}

/// A GUID as it lies in memory.
fn guid_bytes(guid: &GUID) -> [u8; 16] {
    let mut out = [0u8; 16];
    put(&mut out, 0, &guid.Data1.to_le_bytes());
    put(&mut out, 4, &guid.Data2.to_le_bytes());
    put(&mut out, 6, &guid.Data3.to_le_bytes());
    put(&mut out, 8, &guid.Data4);
    out
}

/// A GET or SET of one `i32`-sized value per channel. `read` gives a channel's value, `write`
/// stores one (already validated).
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
                return Err(PropertyError::Overflow { required: 4 });
            }
            if value.len() < 4 {
                return Err(PropertyError::TooSmall);
            }
            put(value, 0, &read(channels.start).to_le_bytes());
            Ok(4)
        }
        Verb::Set => {
            let raw = value
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .map(i32::from_le_bytes)
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
/// As the module table says.
pub fn volume(controls: &Controls, verb: Verb, instance: &[u8], value: &mut [u8]) -> Answer {
    if verb == Verb::BasicSupport {
        return basic_support(
            value,
            VT_I4,
            VOLUME_MINIMUM,
            VOLUME_MAXIMUM,
            VOLUME_STEP.unsigned_abs(),
        );
    }
    per_channel(
        verb,
        instance,
        value,
        |c| {
            controls
                .volume
                .get(c)
                .map_or(0, |v| v.load(Ordering::Relaxed))
        },
        |c, raw| {
            if let Some(slot) = controls.volume.get(c) {
                slot.store(quantize_volume(raw), Ordering::Relaxed);
            }
        },
    )
}

/// `KSPROPERTY_AUDIO_MUTE` on a mute node.
///
/// # Errors
/// As the module table says.
pub fn mute(controls: &Controls, verb: Verb, instance: &[u8], value: &mut [u8]) -> Answer {
    if verb == Verb::BasicSupport {
        return basic_support(value, VT_BOOL, 0, 1, 1);
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

/// The jack behind a topology filter's external pin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Jack {
    /// `KSJACK_DESCRIPTION::Color` (a `COLORREF`, 0x00BBGGRR).
    pub color: u32,
}

/// The jack of pin `pin` of `subdevice`, if that pin is an external one.
#[must_use]
pub fn jack_of(subdevice: &Subdevice, pin: u32) -> Option<Jack> {
    if subdevice.name == identity::RENDER_TOPOLOGY.name && pin == RENDER_TOPOLOGY_SPEAKER_PIN {
        // Lime green: the colour of a line-out / headphone jack.
        Some(Jack { color: 0x0000_FF00 })
    } else if subdevice.name == identity::CAPTURE_TOPOLOGY.name
        && pin == CAPTURE_TOPOLOGY_MICROPHONE_PIN
    {
        // Pink: the colour of a microphone jack.
        Some(Jack { color: 0x00CB_C0FF })
    } else {
        None
    }
}

/// `KSPROPSETID_Jack` `DESCRIPTION` (`id` 1) or `DESCRIPTION2` (`id` 2) for a pin with `jack`.
/// `instance` is the `KSP_PIN` instance data (the pin id first); `pin_jack` finds the jack of
/// the pin it names.
///
/// # Errors
/// As the module table says.
pub fn jack(
    id: u32,
    verb: Verb,
    instance: &[u8],
    pin_jack: impl Fn(u32) -> Option<Jack>,
    value: &mut [u8],
) -> Answer {
    let pin = instance
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or(PropertyError::BadInstance)?;
    let jack = pin_jack(pin).ok_or(PropertyError::BadInstance)?;
    let size = match id {
        KSPROPERTY_JACK_DESCRIPTION => JACK_DESCRIPTION_SIZE,
        KSPROPERTY_JACK_DESCRIPTION2 => JACK_DESCRIPTION2_SIZE,
        _ => return Err(PropertyError::Unsupported),
    };
    match verb {
        Verb::Set => Err(PropertyError::Unsupported),
        Verb::BasicSupport => {
            if value.len() < 4 {
                return Err(PropertyError::TooSmall);
            }
            put(
                value,
                0,
                &(KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_BASICSUPPORT).to_le_bytes(),
            );
            Ok(4)
        }
        Verb::Get => {
            if value.is_empty() {
                return Err(PropertyError::Overflow {
                    required: u32::try_from(size).unwrap_or(u32::MAX),
                });
            }
            if value.len() < size {
                return Err(PropertyError::TooSmall);
            }
            // KSMULTIPLE_ITEM: the whole size and one item.
            put(value, 0, &u32_bytes(size));
            put(value, 4, &1u32.to_le_bytes());
            if id == KSPROPERTY_JACK_DESCRIPTION {
                let fields: [u32; 7] = [
                    KSAUDIO_SPEAKER_STEREO,
                    jack.color,
                    eConnType3Point5mm.unsigned_abs(),
                    eGeoLocFront.unsigned_abs(),
                    eGenLocPrimaryBox.unsigned_abs(),
                    ePortConnJack.unsigned_abs(),
                    // Without presence detection the jack is always connected.
                    1,
                ];
                for (i, field) in fields.iter().enumerate() {
                    put(value, MULTIPLE_ITEM_SIZE + 4 * i, &field.to_le_bytes());
                }
            } else {
                // No device state to report, no presence detection, no format changes.
                put(value, MULTIPLE_ITEM_SIZE, &0u32.to_le_bytes());
                put(value, MULTIPLE_ITEM_SIZE + 4, &0u32.to_le_bytes());
            }
            Ok(size)
        }
    }
}

// ---- The FFI shell ----

/// The request's instance and value as slices.
///
/// # Safety
/// `request` is PortCls's: `Instance` readable for `InstanceSize` bytes and `Value` writable for
/// `ValueSize` bytes (each may be null when its size is 0).
unsafe fn buffers<'a>(request: &PCPROPERTY_REQUEST) -> (&'a [u8], &'a mut [u8]) {
    let instance = if request.Instance.is_null() || request.InstanceSize == 0 {
        &[][..]
    } else {
        // SAFETY: caller's contract.
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
        // SAFETY: caller's contract; the value buffer is distinct from the instance data.
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
/// `request` is PortCls's, for a property of a live `TopologyMiniport`.
unsafe fn target<'a>(request: &PCPROPERTY_REQUEST) -> Option<(&'a TopologyMiniport, GUID, u32)> {
    if request.MajorTarget.is_null() || request.PropertyItem.is_null() {
        return None;
    }
    // SAFETY: PortCls passes the miniport's IUnknown as MajorTarget (caller's contract).
    let miniport = unsafe { ComObject::<TopologyMiniport>::from_this(request.MajorTarget.cast()) };
    // SAFETY: the automation-table item that matched, from our static descriptors.
    let item = unsafe { &*request.PropertyItem };
    if item.Set.is_null() {
        return None;
    }
    // SAFETY: a static GUID of our descriptors.
    let set = unsafe { item.Set.read() };
    Some((miniport, set, item.Id))
}

/// The handler of the volume and mute nodes' properties (`KSPROPSETID_Audio` `VOLUMELEVEL` and
/// `MUTE`).
///
/// # Safety
/// PortCls's contract for a property handler: `request` points to a valid `PCPROPERTY_REQUEST`
/// for a node of a live topology miniport of this driver, for the duration of the call.
pub unsafe extern "system" fn node_property(request: *mut PCPROPERTY_REQUEST) -> NTSTATUS {
    // SAFETY: caller's contract.
    let Some(request) = (unsafe { request.as_mut() }) else {
        return STATUS_INVALID_PARAMETER;
    };
    // SAFETY: caller's contract.
    let Some((miniport, set, id)) = (unsafe { target(request) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    // SAFETY: caller's contract.
    let (instance, value) = unsafe { buffers(request) };
    let answer = match Verb::from_flags(request.Verb) {
        None => Err(PropertyError::Unsupported),
        Some(_) if set != KSPROPSETID_Audio => Err(PropertyError::Unsupported),
        Some(verb) => match id {
            KSPROPERTY_AUDIO_VOLUMELEVEL => volume(miniport.controls(), verb, instance, value),
            KSPROPERTY_AUDIO_MUTE => mute(miniport.controls(), verb, instance, value),
            _ => Err(PropertyError::Unsupported),
        },
    };
    finish(request, answer)
}

/// The handler of the topology filters' pin properties (`KSPROPSETID_Jack` `DESCRIPTION` and
/// `DESCRIPTION2`), answered for the external pin only.
///
/// # Safety
/// PortCls's contract for a property handler: `request` points to a valid `PCPROPERTY_REQUEST`
/// for a live topology miniport of this driver, for the duration of the call.
pub unsafe extern "system" fn pin_property(request: *mut PCPROPERTY_REQUEST) -> NTSTATUS {
    // SAFETY: caller's contract.
    let Some(request) = (unsafe { request.as_mut() }) else {
        return STATUS_INVALID_PARAMETER;
    };
    // SAFETY: caller's contract.
    let Some((miniport, set, id)) = (unsafe { target(request) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    // SAFETY: caller's contract.
    let (instance, value) = unsafe { buffers(request) };
    let subdevice = miniport.subdevice();
    let answer = match Verb::from_flags(request.Verb) {
        None => Err(PropertyError::Unsupported),
        Some(_) if set != KSPROPSETID_Jack => Err(PropertyError::Unsupported),
        Some(verb) => jack(id, verb, instance, |pin| jack_of(subdevice, pin), value),
    };
    finish(request, answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(channel: i32) -> [u8; 8] {
        let mut out = [0u8; 8];
        out[..4].copy_from_slice(&channel.to_le_bytes());
        out
    }

    fn get_i32(value: &[u8]) -> i32 {
        i32::from_le_bytes(value[..4].try_into().unwrap())
    }

    #[test]
    fn verbs_are_exactly_one_operation() {
        assert_eq!(Verb::from_flags(KSPROPERTY_TYPE_GET), Some(Verb::Get));
        assert_eq!(
            Verb::from_flags(KSPROPERTY_TYPE_SET | portcls_sys::ks::KSPROPERTY_TYPE_TOPOLOGY),
            Some(Verb::Set)
        );
        assert_eq!(
            Verb::from_flags(KSPROPERTY_TYPE_BASICSUPPORT),
            Some(Verb::BasicSupport)
        );
        assert_eq!(Verb::from_flags(0), None);
        assert_eq!(
            Verb::from_flags(KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_SET),
            None
        );
    }

    #[test]
    fn volume_round_trips_per_channel_and_is_clamped_and_stepped() {
        let controls = Controls::new();
        let mut value = [0u8; 4];
        assert_eq!(
            volume(&controls, Verb::Get, &instance(0), &mut value),
            Ok(4)
        );
        assert_eq!(get_i32(&value), 0);
        // -10.25 dB lies half-way between the steps -10.0 dB and -10.5 dB: it rounds toward
        // 0 dB.
        value = (-10 * 65_536 - 16_384i32).to_le_bytes();
        assert_eq!(
            volume(&controls, Verb::Set, &instance(1), &mut value),
            Ok(0)
        );
        assert_eq!(controls.volume(1), Some(-10 * 65_536));
        assert_eq!(controls.volume(0), Some(0));
        value = i32::MIN.to_le_bytes();
        volume(&controls, Verb::Set, &instance(0), &mut value).unwrap();
        assert_eq!(controls.volume(0), Some(VOLUME_MINIMUM));
        value = 5_000_000i32.to_le_bytes();
        volume(&controls, Verb::Set, &instance(-1), &mut value).unwrap();
        assert_eq!(controls.volume(0), Some(0));
        assert_eq!(controls.volume(1), Some(0));
    }

    #[test]
    fn quantized_volumes_are_on_the_grid() {
        for requested in (-7_000_000..100_000).step_by(9_973) {
            let v = quantize_volume(requested);
            assert!((VOLUME_MINIMUM..=VOLUME_MAXIMUM).contains(&v));
            assert_eq!((v - VOLUME_MINIMUM) % VOLUME_STEP, 0);
            let clamped = requested.clamp(VOLUME_MINIMUM, VOLUME_MAXIMUM);
            assert!((v - clamped).abs() <= VOLUME_STEP / 2, "{requested} -> {v}");
        }
    }

    #[test]
    fn mute_round_trips() {
        let controls = Controls::new();
        let mut value = 1i32.to_le_bytes();
        mute(&controls, Verb::Set, &instance(0), &mut value).unwrap();
        assert_eq!(controls.muted(0), Some(true));
        assert_eq!(controls.muted(1), Some(false));
        let mut out = [0xAAu8; 4];
        assert_eq!(mute(&controls, Verb::Get, &instance(0), &mut out), Ok(4));
        assert_eq!(get_i32(&out), 1);
        value = 0i32.to_le_bytes();
        mute(&controls, Verb::Set, &instance(-1), &mut value).unwrap();
        assert_eq!(controls.muted(0), Some(false));
    }

    #[test]
    fn bad_channels_and_short_buffers_are_refused_and_change_nothing() {
        let controls = Controls::new();
        let mut value = (-65_536i32).to_le_bytes();
        for bad in [2, -2, i32::MAX, i32::MIN] {
            assert_eq!(
                volume(&controls, Verb::Set, &instance(bad), &mut value),
                Err(PropertyError::BadInstance)
            );
        }
        assert_eq!(
            volume(&controls, Verb::Set, &[1, 0], &mut value),
            Err(PropertyError::BadInstance)
        );
        assert_eq!(
            volume(&controls, Verb::Set, &instance(0), &mut value[..3]),
            Err(PropertyError::TooSmall)
        );
        assert_eq!(
            volume(&controls, Verb::Get, &instance(0), &mut value[..2]),
            Err(PropertyError::TooSmall)
        );
        assert_eq!(
            volume(&controls, Verb::Get, &instance(0), &mut []),
            Err(PropertyError::Overflow { required: 4 })
        );
        assert_eq!(controls.volume(0), Some(0));
        assert_eq!(
            PropertyError::BadInstance.status(),
            STATUS_INVALID_PARAMETER
        );
        assert_eq!(PropertyError::TooSmall.status(), STATUS_BUFFER_TOO_SMALL);
        assert_eq!(
            PropertyError::Overflow { required: 4 }.status(),
            STATUS_BUFFER_OVERFLOW
        );
        assert_eq!(
            PropertyError::Unsupported.status(),
            STATUS_INVALID_DEVICE_REQUEST
        );
    }

    #[test]
    fn basic_support_describes_stepped_ranges_per_channel() {
        let controls = Controls::new();
        let mut probe = [];
        assert_eq!(
            volume(&controls, Verb::BasicSupport, &[], &mut probe),
            Err(PropertyError::Overflow {
                required: u32::try_from(BASIC_SUPPORT_SIZE).unwrap()
            })
        );
        let mut flags = [0u8; 4];
        assert_eq!(
            volume(&controls, Verb::BasicSupport, &[], &mut flags),
            Ok(4)
        );
        assert_eq!(u32::from_le_bytes(flags), 0x0000_0203);
        let mut short = [0u8; 20];
        assert_eq!(
            volume(&controls, Verb::BasicSupport, &[], &mut short),
            Err(PropertyError::TooSmall)
        );
        let mut head = [0u8; 40];
        assert_eq!(
            volume(&controls, Verb::BasicSupport, &[], &mut head),
            Ok(40)
        );
        assert_eq!(get_i32(&head[4..]), 88);
        let mut full = [0u8; 96];
        assert_eq!(
            volume(&controls, Verb::BasicSupport, &[], &mut full),
            Ok(88)
        );
        assert_eq!(&full[8..24], &guid_bytes(&KSPROPTYPESETID_General));
        assert_eq!(get_i32(&full[24..]), VT_I4.cast_signed());
        assert_eq!(get_i32(&full[32..]), 1); // one members list
        assert_eq!(
            get_i32(&full[40..]),
            KSPROPERTY_MEMBER_STEPPEDRANGES.cast_signed()
        );
        assert_eq!(get_i32(&full[44..]), 16);
        assert_eq!(get_i32(&full[48..]), 2);
        for channel in 0..2 {
            let at = 56 + 16 * channel;
            assert_eq!(get_i32(&full[at..]), VOLUME_STEP);
            assert_eq!(get_i32(&full[at + 8..]), VOLUME_MINIMUM);
            assert_eq!(get_i32(&full[at + 12..]), VOLUME_MAXIMUM);
        }
        // Mute: VT_BOOL, 0..1 in steps of 1.
        assert_eq!(mute(&controls, Verb::BasicSupport, &[], &mut full), Ok(88));
        assert_eq!(get_i32(&full[24..]), VT_BOOL.cast_signed());
        assert_eq!(get_i32(&full[56..]), 1);
        assert_eq!(get_i32(&full[68..]), 1);
    }

    #[test]
    fn jack_descriptions_carry_the_multiple_item_header() {
        let speaker = |pin| (pin == 1).then_some(Jack { color: 0xFF00 });
        let pin = 1u32.to_le_bytes();
        assert_eq!(
            jack(
                KSPROPERTY_JACK_DESCRIPTION,
                Verb::Get,
                &pin,
                speaker,
                &mut []
            ),
            Err(PropertyError::Overflow { required: 36 })
        );
        let mut value = [0u8; 36];
        assert_eq!(
            jack(
                KSPROPERTY_JACK_DESCRIPTION,
                Verb::Get,
                &pin,
                speaker,
                &mut value
            ),
            Ok(36)
        );
        assert_eq!(get_i32(&value), 36);
        assert_eq!(get_i32(&value[4..]), 1);
        assert_eq!(get_i32(&value[8..]), 3); // stereo
        assert_eq!(get_i32(&value[12..]), 0xFF00);
        assert_eq!(get_i32(&value[32..]), 1); // connected
        let mut value2 = [0u8; 16];
        assert_eq!(
            jack(
                KSPROPERTY_JACK_DESCRIPTION2,
                Verb::Get,
                &pin,
                speaker,
                &mut value2
            ),
            Ok(16)
        );
        assert_eq!(get_i32(&value2), 16);
        assert_eq!(
            jack(
                KSPROPERTY_JACK_DESCRIPTION,
                Verb::Get,
                &pin,
                speaker,
                &mut value[..20]
            ),
            Err(PropertyError::TooSmall)
        );
        // Not the jack pin, no pin id, writes, unknown ids.
        let other = 0u32.to_le_bytes();
        assert_eq!(
            jack(
                KSPROPERTY_JACK_DESCRIPTION,
                Verb::Get,
                &other,
                speaker,
                &mut value
            ),
            Err(PropertyError::BadInstance)
        );
        assert_eq!(
            jack(
                KSPROPERTY_JACK_DESCRIPTION,
                Verb::Get,
                &[1],
                speaker,
                &mut value
            ),
            Err(PropertyError::BadInstance)
        );
        assert_eq!(
            jack(
                KSPROPERTY_JACK_DESCRIPTION,
                Verb::Set,
                &pin,
                speaker,
                &mut value
            ),
            Err(PropertyError::Unsupported)
        );
        assert_eq!(
            jack(9, Verb::Get, &pin, speaker, &mut value),
            Err(PropertyError::Unsupported)
        );
        let mut flags = [0u8; 4];
        assert_eq!(
            jack(
                KSPROPERTY_JACK_DESCRIPTION,
                Verb::BasicSupport,
                &pin,
                speaker,
                &mut flags
            ),
            Ok(4)
        );
        assert_eq!(u32::from_le_bytes(flags), 0x0000_0201);
    }

    #[test]
    fn the_jacks_are_on_the_external_pins_only() {
        assert!(jack_of(&identity::RENDER_TOPOLOGY, RENDER_TOPOLOGY_SPEAKER_PIN).is_some());
        assert!(jack_of(&identity::RENDER_TOPOLOGY, 0).is_none());
        assert!(jack_of(&identity::CAPTURE_TOPOLOGY, CAPTURE_TOPOLOGY_MICROPHONE_PIN).is_some());
        assert!(jack_of(&identity::CAPTURE_TOPOLOGY, 1).is_none());
        assert!(jack_of(&identity::RENDER_WAVE, 1).is_none());
    }
}
