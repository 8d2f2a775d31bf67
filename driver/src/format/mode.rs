//! Audio signal-processing modes: which modes the host pins offer, and the attribute lists in
//! which a client names the mode it wants (after a pin-create format, or after the `KSP_PIN` of
//! a `KSPROPERTY_PIN_PROPOSEDATAFORMAT2` request).
//!
//! Like the rest of [`format`](super) this reads plain little-endian bytes and trusts no size
//! the bytes state about themselves.
//!
//! # The attribute list
//!
//! | offset | field |
//! | --- | --- |
//! | 0 | `KSMULTIPLE_ITEM.Size` u32: bytes of the list, this header included |
//! | 4 | `KSMULTIPLE_ITEM.Count` u32: attributes that follow |
//! | 8 | the first attribute; each starts on an 8-byte boundary of the list |
//!
//! Each attribute is a `KSATTRIBUTE` (`Size` u32, `Flags` u32, `Attribute` GUID: 24 bytes)
//! followed by its data; the mode attribute is a `KSATTRIBUTE_AUDIOSIGNALPROCESSING_MODE`
//! (`Size` 40, `Attribute` = `KSATTRIBUTEID_AUDIOSIGNALPROCESSING_MODE`, then the mode GUID).
//! After a data format flagged `KSDATAFORMAT_ATTRIBUTES` the list starts at the first 8-byte
//! boundary at or after `FormatSize`.
//!
//! # Status codes
//!
//! [`ModeError::status`] answers `STATUS_INVALID_PARAMETER` for a list that cannot be read as
//! one (sizes that lie, an attribute cut short, a mode attribute of the wrong size, two mode
//! attributes), as Microsoft's samples do; and `STATUS_NOT_SUPPORTED` for a well-formed list that
//! asks for what the device does not do: a mode other than RAW or DEFAULT (the documented answer
//! of `KSPROPERTY_PIN_PROPOSEDATAFORMAT2` for a mode without a preferred format, and of
//! `GetModes` for a pin without modes), or an unknown attribute flagged `KSATTRIBUTE_REQUIRED`.
//! An unknown optional attribute is skipped. A list without a mode attribute asks for DEFAULT.
//!
//! The device does no processing of its own, so both modes stream the same samples and have the
//! same preferred format ([`Format::PREFERRED`](super::Format::PREFERRED)).

use portcls_sys::ks::{
    AUDIO_SIGNALPROCESSINGMODE_DEFAULT, AUDIO_SIGNALPROCESSINGMODE_RAW, KSATTRIBUTE_REQUIRED,
    KSATTRIBUTEID_AUDIOSIGNALPROCESSING_MODE, KSDATAFORMAT_ATTRIBUTES,
};
use portcls_sys::{GUID, NTSTATUS, STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED};

use super::{Format, FormatError, read_guid, read_u32};

/// Bytes of a `KSMULTIPLE_ITEM` (the list header).
pub const LIST_HEADER_SIZE: u32 = 8;
/// Bytes of a `KSATTRIBUTE` (an attribute header).
pub const ATTRIBUTE_HEADER_SIZE: u32 = 24;
/// Bytes of a `KSATTRIBUTE_AUDIOSIGNALPROCESSING_MODE`.
pub const MODE_ATTRIBUTE_SIZE: u32 = 40;
/// Bytes of a list holding exactly one mode attribute (what the driver writes).
pub const MODE_LIST_SIZE: u32 = LIST_HEADER_SIZE + MODE_ATTRIBUTE_SIZE;

/// A signal-processing mode the device offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `AUDIO_SIGNALPROCESSINGMODE_RAW`: no processing.
    Raw,
    /// `AUDIO_SIGNALPROCESSINGMODE_DEFAULT`: the device's default processing.
    Default,
}

impl Mode {
    /// The modes every host pin offers, in the order `GetModes` lists them.
    pub const ALL: [Self; 2] = [Self::Raw, Self::Default];

    /// The mode's GUID.
    #[must_use]
    pub const fn guid(self) -> GUID {
        match self {
            Self::Raw => AUDIO_SIGNALPROCESSINGMODE_RAW,
            Self::Default => AUDIO_SIGNALPROCESSINGMODE_DEFAULT,
        }
    }

    /// The mode a GUID names, if the device offers it.
    #[must_use]
    pub fn from_guid(guid: &GUID) -> Option<Self> {
        Self::ALL.into_iter().find(|mode| mode.guid() == *guid)
    }

    /// The format the device prefers in this mode (the same in both: no processing happens).
    #[must_use]
    pub const fn preferred_format(self) -> Format {
        Format::PREFERRED
    }
}

/// Why an attribute list (or the format in front of it) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeError {
    /// The list's `Size` is below its header, or beyond the bytes the caller gave. Malformed.
    ListSize {
        /// `KSMULTIPLE_ITEM.Size`, or the bytes available when even the header is missing.
        size: u32,
        /// Bytes the caller gave.
        available: usize,
    },
    /// Attribute `index` does not fit in what is left of the list. Malformed.
    AttributeTruncated {
        /// Its position in the list.
        index: u32,
    },
    /// Attribute `index` states a size below its header or beyond the list. Malformed.
    AttributeSize {
        /// Its position in the list.
        index: u32,
        /// The `KSATTRIBUTE.Size` it states.
        size: u32,
    },
    /// A mode attribute whose size is not 40 bytes. Malformed.
    ModeAttributeSize {
        /// The `KSATTRIBUTE.Size` it states.
        size: u32,
    },
    /// A second mode attribute: the list contradicts itself. Malformed.
    DuplicateMode,
    /// An unknown attribute flagged `KSATTRIBUTE_REQUIRED`. Unsupported.
    RequiredAttribute {
        /// The attribute's GUID.
        attribute: GUID,
    },
    /// A mode the device does not offer. Unsupported.
    UnsupportedMode {
        /// The mode's GUID.
        mode: GUID,
    },
    /// The data format in front of the list was refused.
    Format(FormatError),
    /// The format's `FormatSize`, or its attribute list, lies outside the bytes given.
    /// Malformed.
    Extent {
        /// Bytes the format and its list need.
        needed: u64,
        /// Bytes the caller gave.
        available: usize,
    },
}

impl ModeError {
    /// Whether the bytes were malformed (as opposed to asking for something unsupported).
    #[must_use]
    pub const fn is_malformed(&self) -> bool {
        match self {
            Self::RequiredAttribute { .. } | Self::UnsupportedMode { .. } => false,
            Self::Format(error) => error.is_malformed(),
            _ => true,
        }
    }

    /// The NTSTATUS to return (see the [module docs](self)); a refused format keeps its own
    /// status ([`FormatError::status`]).
    #[must_use]
    pub const fn status(&self) -> NTSTATUS {
        match self {
            Self::Format(error) => error.status(),
            _ if self.is_malformed() => STATUS_INVALID_PARAMETER,
            _ => STATUS_NOT_SUPPORTED,
        }
    }
}

impl core::fmt::Display for ModeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::ListSize { size, available } => write!(
                f,
                "attribute list of {size} bytes in a buffer of {available}"
            ),
            Self::AttributeTruncated { index } => {
                write!(f, "attribute {index} does not fit in the list")
            }
            Self::AttributeSize { index, size } => {
                write!(f, "attribute {index} states {size} bytes")
            }
            Self::ModeAttributeSize { size } => {
                write!(
                    f,
                    "mode attribute of {size} bytes, not {MODE_ATTRIBUTE_SIZE}"
                )
            }
            Self::DuplicateMode => f.write_str("two mode attributes"),
            Self::RequiredAttribute { attribute } => {
                write!(
                    f,
                    "unknown required attribute {:#034x}",
                    attribute.to_u128()
                )
            }
            Self::UnsupportedMode { mode } => {
                write!(f, "unsupported mode {:#034x}", mode.to_u128())
            }
            Self::Format(error) => write!(f, "format: {error}"),
            Self::Extent { needed, available } => write!(
                f,
                "format and attributes need {needed} bytes, {available} given"
            ),
        }
    }
}

impl core::error::Error for ModeError {}

/// The first 8-byte boundary at or after `offset`, where an attribute list or the next
/// attribute starts.
#[must_use]
pub const fn align8(offset: u32) -> u64 {
    (offset as u64).div_ceil(8) * 8
}

/// Reads an attribute list and returns the mode it asks for (DEFAULT when it names none).
///
/// `list` is everything the caller may read from the list's first byte on; the list's own
/// `Size` must lie within it, and bytes after it are ignored.
///
/// # Errors
/// The first check that fails, attribute by attribute (see [`ModeError`]).
pub fn requested_mode(list: &[u8]) -> Result<Mode, ModeError> {
    let size = read_u32(list, 0).ok_or(ModeError::ListSize {
        size: u32::try_from(list.len()).unwrap_or(u32::MAX),
        available: list.len(),
    })?;
    let count = read_u32(list, 4).unwrap_or(0);
    let list = usize::try_from(size)
        .ok()
        .filter(|&size| size >= LIST_HEADER_SIZE as usize)
        .and_then(|size| list.get(..size))
        .ok_or(ModeError::ListSize {
            size,
            available: list.len(),
        })?;
    let mut at = LIST_HEADER_SIZE as usize;
    let mut mode: Option<GUID> = None;
    for index in 0..count {
        let header = list
            .get(at..)
            .filter(|rest| rest.len() >= ATTRIBUTE_HEADER_SIZE as usize)
            .ok_or(ModeError::AttributeTruncated { index })?;
        // The filter above guarantees the 24 header bytes.
        let stated = read_u32(header, 0).unwrap_or(0);
        let flags = read_u32(header, 4).unwrap_or(0);
        let attribute = guid_at(header, 8);
        let fits = usize::try_from(stated).is_ok_and(|s| s <= header.len());
        if stated < ATTRIBUTE_HEADER_SIZE || !fits {
            return Err(ModeError::AttributeSize {
                index,
                size: stated,
            });
        }
        if attribute == KSATTRIBUTEID_AUDIOSIGNALPROCESSING_MODE {
            if stated != MODE_ATTRIBUTE_SIZE {
                return Err(ModeError::ModeAttributeSize { size: stated });
            }
            if mode.is_some() {
                return Err(ModeError::DuplicateMode);
            }
            mode = Some(guid_at(header, ATTRIBUTE_HEADER_SIZE as usize));
        } else if flags & KSATTRIBUTE_REQUIRED != 0 {
            return Err(ModeError::RequiredAttribute { attribute });
        }
        // The next attribute starts on an 8-byte boundary (a stated size fits in the list, so
        // the sum stays far below usize::MAX).
        at = at.saturating_add(usize::try_from(align8(stated)).unwrap_or(usize::MAX));
    }
    match mode {
        None => Ok(Mode::Default),
        Some(guid) => Mode::from_guid(&guid).ok_or(ModeError::UnsupportedMode { mode: guid }),
    }
}

/// The bytes a pin-create format takes with its attribute list: `FormatSize` alone without
/// `KSDATAFORMAT_ATTRIBUTES` in `flags`, else up to the end of a list of `list_size` bytes
/// starting at the 8-byte boundary after the format. `None` when that exceeds `limit`.
#[must_use]
pub fn format_extent(format_size: u32, flags: u32, list_size: u32, limit: u32) -> Option<u32> {
    let end = if flags & KSDATAFORMAT_ATTRIBUTES == 0 {
        u64::from(format_size)
    } else {
        align8(format_size) + u64::from(list_size)
    };
    u32::try_from(end).ok().filter(|&end| end <= limit)
}

/// Reads a pin-create format and the mode its attribute list asks for (DEFAULT when the format
/// carries no `KSDATAFORMAT_ATTRIBUTES`).
///
/// `bytes` is everything the caller may read: the format, then, when it is flagged, padding to
/// the next 8-byte boundary and the attribute list.
///
/// # Errors
/// The list is read first, as Microsoft's samples do (so a malformed list is refused even with
/// an unsupported format); then the format ([`Format::parse`], as [`ModeError::Format`]).
pub fn parse_format_and_mode(bytes: &[u8]) -> Result<(Format, Mode), ModeError> {
    let format_size = read_u32(bytes, 0).ok_or(ModeError::Format(FormatError::Truncated {
        needed: super::KSDATAFORMAT_SIZE,
        available: bytes.len(),
    }))?;
    let flags = read_u32(bytes, 4).unwrap_or(0);
    let mode = if flags & KSDATAFORMAT_ATTRIBUTES == 0 {
        Mode::Default
    } else {
        let start = align8(format_size);
        let list = usize::try_from(start)
            .ok()
            .and_then(|start| bytes.get(start..))
            .ok_or(ModeError::Extent {
                needed: start + u64::from(LIST_HEADER_SIZE),
                available: bytes.len(),
            })?;
        requested_mode(list)?
    };
    let format = Format::parse(bytes).map_err(ModeError::Format)?;
    Ok((format, mode))
}

/// What `IMiniportAudioSignalProcessing::GetModes` answers for a pin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinModes {
    /// The filter has no such pin: `STATUS_INVALID_PARAMETER`.
    NoSuchPin,
    /// A pin without modes (a bridge pin): `STATUS_NOT_SUPPORTED`.
    NoModes,
    /// A host pin, which offers every mode of [`Mode::ALL`].
    Host,
}

impl PinModes {
    /// The answer for `pin` of a filter with `pin_count` pins whose host pin is `host`.
    #[must_use]
    pub const fn of(pin: u32, pin_count: u32, host: u32) -> Self {
        if pin >= pin_count {
            Self::NoSuchPin
        } else if pin == host {
            Self::Host
        } else {
            Self::NoModes
        }
    }

    /// `GetModes` for this pin: with `capacity` `None` (a null buffer) the count; with
    /// `Some(n)`, the modes when `n` is at least the count. Returns the status and the count to
    /// store (the count also on `STATUS_BUFFER_TOO_SMALL`, so the caller learns what to
    /// allocate; nothing on the other failures) and the modes to write (on success with a
    /// buffer only).
    #[must_use]
    pub fn answer(self, capacity: Option<u32>) -> (NTSTATUS, Option<u32>, &'static [Mode]) {
        #[allow(clippy::cast_possible_truncation)] // two modes
        const COUNT: u32 = Mode::ALL.len() as u32;
        match (self, capacity) {
            (Self::NoSuchPin, _) => (STATUS_INVALID_PARAMETER, None, &[]),
            (Self::NoModes, _) => (STATUS_NOT_SUPPORTED, None, &[]),
            (Self::Host, None) => (portcls_sys::STATUS_SUCCESS, Some(COUNT), &[]),
            (Self::Host, Some(n)) if n < COUNT => {
                (super::STATUS_BUFFER_TOO_SMALL, Some(COUNT), &[])
            }
            (Self::Host, Some(_)) => (portcls_sys::STATUS_SUCCESS, Some(COUNT), &Mode::ALL),
        }
    }
}

/// Writes a list holding one mode attribute for `mode` ([`MODE_LIST_SIZE`] bytes) at the start
/// of `out`; returns the bytes written, or `None` (nothing written) when `out` is too short.
pub fn write_mode_list(mode: Mode, out: &mut [u8]) -> Option<usize> {
    let out = out.get_mut(..MODE_LIST_SIZE as usize)?;
    let mut w = super::Writer { out, at: 0 };
    w.u32(MODE_LIST_SIZE);
    w.u32(1);
    w.u32(MODE_ATTRIBUTE_SIZE);
    w.u32(0);
    w.bytes(&guid_bytes(&KSATTRIBUTEID_AUDIOSIGNALPROCESSING_MODE));
    w.bytes(&guid_bytes(&mode.guid()));
    Some(w.at)
}

/// A GUID in its 16-byte in-memory layout.
#[must_use]
pub fn guid_bytes(guid: &GUID) -> [u8; 16] {
    super::guid_wire(guid.to_u128())
}

/// The GUID at `offset` of `bytes` (`GUID_NULL` where the bytes are missing; callers check the
/// length first).
fn guid_at(bytes: &[u8], offset: usize) -> GUID {
    let wire = read_guid(bytes, offset).unwrap_or([0; 16]);
    let data1 = u32::from_le_bytes([wire[0], wire[1], wire[2], wire[3]]);
    let data2 = u16::from_le_bytes([wire[4], wire[5]]);
    let data3 = u16::from_le_bytes([wire[6], wire[7]]);
    let mut data4 = [0u8; 8];
    data4.copy_from_slice(&wire[8..]);
    GUID {
        Data1: data1,
        Data2: data2,
        Data3: data3,
        Data4: data4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcls_sys::ks::AUDIO_SIGNALPROCESSINGMODE_COMMUNICATIONS;

    /// An attribute: its header (stated size, flags, id) and data, padded to 8 bytes.
    fn attribute(size: u32, flags: u32, id: &GUID, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&guid_bytes(id));
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(8) * 8, 0);
        out
    }

    fn mode_attribute(mode: &GUID) -> Vec<u8> {
        attribute(
            MODE_ATTRIBUTE_SIZE,
            0,
            &KSATTRIBUTEID_AUDIOSIGNALPROCESSING_MODE,
            &guid_bytes(mode),
        )
    }

    /// A list of `attributes` whose header states its true size and count.
    fn list(attributes: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = attributes.concat();
        let mut out = Vec::new();
        out.extend_from_slice(&(8 + u32::try_from(body.len()).unwrap()).to_le_bytes());
        out.extend_from_slice(&u32::try_from(attributes.len()).unwrap().to_le_bytes());
        out.extend(body);
        out
    }

    /// A 104-byte preferred format, optionally flagged and followed by `list` at offset 104.
    fn format_with(list: Option<&[u8]>) -> Vec<u8> {
        let mut out = vec![0u8; 104];
        Format::PREFERRED.write_extensible(&mut out).unwrap();
        if let Some(list) = list {
            out[4..8].copy_from_slice(&KSDATAFORMAT_ATTRIBUTES.to_le_bytes());
            out.extend_from_slice(list);
        }
        out
    }

    #[test]
    fn the_mode_guids_are_the_documented_ones_and_round_trip() {
        assert_eq!(Mode::Raw.guid(), AUDIO_SIGNALPROCESSINGMODE_RAW);
        assert_eq!(Mode::Default.guid(), AUDIO_SIGNALPROCESSINGMODE_DEFAULT);
        for mode in Mode::ALL {
            assert_eq!(Mode::from_guid(&mode.guid()), Some(mode));
            assert_eq!(mode.preferred_format(), Format::PREFERRED);
        }
        assert_eq!(
            Mode::from_guid(&AUDIO_SIGNALPROCESSINGMODE_COMMUNICATIONS),
            None
        );
    }

    #[test]
    fn a_list_names_raw_or_default_and_an_empty_list_means_default() {
        for mode in Mode::ALL {
            assert_eq!(
                requested_mode(&list(&[mode_attribute(&mode.guid())])),
                Ok(mode)
            );
        }
        assert_eq!(requested_mode(&list(&[])), Ok(Mode::Default));
    }

    #[test]
    fn another_mode_is_unsupported() {
        let asked = list(&[mode_attribute(&AUDIO_SIGNALPROCESSINGMODE_COMMUNICATIONS)]);
        let error = requested_mode(&asked).unwrap_err();
        assert_eq!(
            error,
            ModeError::UnsupportedMode {
                mode: AUDIO_SIGNALPROCESSINGMODE_COMMUNICATIONS
            }
        );
        assert_eq!(error.status(), STATUS_NOT_SUPPORTED);
        assert!(!error.is_malformed());
    }

    #[test]
    fn unknown_attributes_are_skipped_unless_required() {
        let other = GUID::from_u128(0x1234_5678_9ABC_DEF0_1234_5678_9ABC_DEF0);
        let optional = attribute(28, 0, &other, &[1, 2, 3, 4]);
        let asked = list(&[optional, mode_attribute(&AUDIO_SIGNALPROCESSINGMODE_RAW)]);
        assert_eq!(requested_mode(&asked), Ok(Mode::Raw));
        let required = attribute(24, KSATTRIBUTE_REQUIRED, &other, &[]);
        let error = requested_mode(&list(&[required])).unwrap_err();
        assert_eq!(error, ModeError::RequiredAttribute { attribute: other });
        assert_eq!(error.status(), STATUS_NOT_SUPPORTED);
    }

    #[test]
    fn lists_whose_sizes_lie_are_malformed() {
        let good = list(&[mode_attribute(&AUDIO_SIGNALPROCESSINGMODE_RAW)]);
        let mut cases: Vec<(Vec<u8>, ModeError)> = Vec::new();
        // Not even a header.
        cases.push((
            good[..6].to_vec(),
            ModeError::ListSize {
                size: 48,
                available: 6,
            },
        ));
        // Size below the header.
        let mut small = good.clone();
        small[0..4].copy_from_slice(&4u32.to_le_bytes());
        cases.push((
            small,
            ModeError::ListSize {
                size: 4,
                available: 48,
            },
        ));
        // Size beyond the buffer.
        let mut big = good.clone();
        big[0..4].copy_from_slice(&49u32.to_le_bytes());
        cases.push((
            big,
            ModeError::ListSize {
                size: 49,
                available: 48,
            },
        ));
        // A count beyond the attributes present.
        let mut counted = good.clone();
        counted[4..8].copy_from_slice(&2u32.to_le_bytes());
        cases.push((counted, ModeError::AttributeTruncated { index: 1 }));
        // An attribute stating less than its header, or more than the list.
        for stated in [23u32, 41] {
            let mut lying = good.clone();
            lying[8..12].copy_from_slice(&stated.to_le_bytes());
            let expected = if stated == 41 {
                ModeError::AttributeSize { index: 0, size: 41 }
            } else {
                ModeError::AttributeSize { index: 0, size: 23 }
            };
            cases.push((lying, expected));
        }
        // A mode attribute of the wrong size (the bytes are there).
        let short_mode = attribute(32, 0, &KSATTRIBUTEID_AUDIOSIGNALPROCESSING_MODE, &[0; 8]);
        cases.push((
            list(&[short_mode]),
            ModeError::ModeAttributeSize { size: 32 },
        ));
        // Two modes.
        let twice = list(&[
            mode_attribute(&AUDIO_SIGNALPROCESSINGMODE_RAW),
            mode_attribute(&AUDIO_SIGNALPROCESSINGMODE_DEFAULT),
        ]);
        cases.push((twice, ModeError::DuplicateMode));
        for (bytes, expected) in cases {
            let error = requested_mode(&bytes).unwrap_err();
            assert_eq!(error, expected);
            assert!(error.is_malformed(), "{error}");
            assert_eq!(error.status(), STATUS_INVALID_PARAMETER, "{error}");
        }
    }

    #[test]
    fn a_huge_count_stops_at_the_end_of_the_list() {
        let mut asked = list(&[mode_attribute(&AUDIO_SIGNALPROCESSINGMODE_RAW)]);
        asked[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            requested_mode(&asked),
            Err(ModeError::AttributeTruncated { index: 1 })
        );
    }

    #[test]
    fn bytes_after_the_stated_list_are_ignored() {
        let mut asked = list(&[mode_attribute(&AUDIO_SIGNALPROCESSINGMODE_RAW)]);
        asked.extend_from_slice(&[0xEE; 40]);
        assert_eq!(requested_mode(&asked), Ok(Mode::Raw));
    }

    #[test]
    fn a_format_without_attributes_asks_for_default() {
        assert_eq!(
            parse_format_and_mode(&format_with(None)),
            Ok((Format::PREFERRED, Mode::Default))
        );
    }

    #[test]
    fn a_flagged_format_carries_its_mode_after_the_aligned_format() {
        let raw = list(&[mode_attribute(&AUDIO_SIGNALPROCESSINGMODE_RAW)]);
        assert_eq!(
            parse_format_and_mode(&format_with(Some(&raw))),
            Ok((Format::PREFERRED, Mode::Raw))
        );
        // A WAVEFORMATEX format (82 bytes): the list starts at 88.
        let mut short = format_with(None);
        short.truncate(82);
        short[0..4].copy_from_slice(&82u32.to_le_bytes());
        short[64..66].copy_from_slice(&1u16.to_le_bytes()); // WAVE_FORMAT_PCM
        short[4..8].copy_from_slice(&KSDATAFORMAT_ATTRIBUTES.to_le_bytes());
        short.resize(88, 0);
        short.extend_from_slice(&raw);
        assert_eq!(
            parse_format_and_mode(&short),
            Ok((Format::PREFERRED, Mode::Raw))
        );
    }

    #[test]
    fn a_flagged_format_without_its_list_is_malformed() {
        let mut flagged = format_with(None);
        flagged[4..8].copy_from_slice(&KSDATAFORMAT_ATTRIBUTES.to_le_bytes());
        let error = parse_format_and_mode(&flagged).unwrap_err();
        assert_eq!(error.status(), STATUS_INVALID_PARAMETER, "{error}");
    }

    #[test]
    fn the_list_is_checked_before_the_format_and_the_format_keeps_its_status() {
        let unknown = list(&[mode_attribute(&AUDIO_SIGNALPROCESSINGMODE_COMMUNICATIONS)]);
        let mut bad_rate = format_with(Some(&unknown));
        bad_rate[68..72].copy_from_slice(&8_000u32.to_le_bytes());
        assert!(matches!(
            parse_format_and_mode(&bad_rate),
            Err(ModeError::UnsupportedMode { .. })
        ));
        let raw = list(&[mode_attribute(&AUDIO_SIGNALPROCESSINGMODE_RAW)]);
        let mut bad_rate = format_with(Some(&raw));
        bad_rate[68..72].copy_from_slice(&8_000u32.to_le_bytes());
        bad_rate[72..76].copy_from_slice(&32_000u32.to_le_bytes());
        let error = parse_format_and_mode(&bad_rate).unwrap_err();
        assert_eq!(error, ModeError::Format(FormatError::SampleRate(8_000)));
        assert_eq!(error.status(), super::super::STATUS_NO_MATCH);
    }

    #[test]
    fn the_extent_covers_the_list_after_the_aligned_format() {
        assert_eq!(format_extent(104, 0, 999, 4096), Some(104));
        assert_eq!(
            format_extent(104, KSDATAFORMAT_ATTRIBUTES, 48, 4096),
            Some(152)
        );
        assert_eq!(
            format_extent(82, KSDATAFORMAT_ATTRIBUTES, 48, 4096),
            Some(136)
        );
        assert_eq!(
            format_extent(104, KSDATAFORMAT_ATTRIBUTES, 4000, 4096),
            None
        );
        assert_eq!(
            format_extent(u32::MAX, KSDATAFORMAT_ATTRIBUTES, u32::MAX, u32::MAX),
            None
        );
    }

    #[test]
    fn get_modes_follows_the_documented_contract() {
        use crate::format::STATUS_BUFFER_TOO_SMALL;
        use portcls_sys::STATUS_SUCCESS;
        assert_eq!(PinModes::of(0, 2, 0), PinModes::Host);
        assert_eq!(PinModes::of(1, 2, 0), PinModes::NoModes);
        assert_eq!(PinModes::of(2, 2, 0), PinModes::NoSuchPin);
        // A null buffer: the count.
        assert_eq!(
            PinModes::Host.answer(None),
            (STATUS_SUCCESS, Some(2), &[][..])
        );
        // Too small: the count, nothing written.
        for n in [0, 1] {
            assert_eq!(
                PinModes::Host.answer(Some(n)),
                (STATUS_BUFFER_TOO_SMALL, Some(2), &[][..])
            );
        }
        // Enough room: the modes.
        for n in [2, 5] {
            assert_eq!(
                PinModes::Host.answer(Some(n)),
                (STATUS_SUCCESS, Some(2), &Mode::ALL[..])
            );
        }
        assert_eq!(
            PinModes::NoModes.answer(Some(2)),
            (STATUS_NOT_SUPPORTED, None, &[][..])
        );
        assert_eq!(
            PinModes::NoSuchPin.answer(None),
            (STATUS_INVALID_PARAMETER, None, &[][..])
        );
    }

    #[test]
    fn the_written_list_reads_back_as_its_mode() {
        for mode in Mode::ALL {
            let mut out = [0xEEu8; 56];
            assert_eq!(write_mode_list(mode, &mut out), Some(48));
            assert_eq!(requested_mode(&out), Ok(mode));
            assert!(out[48..].iter().all(|&b| b == 0xEE), "wrote past the list");
        }
        assert_eq!(write_mode_list(Mode::Raw, &mut [0u8; 47]), None);
    }
}
