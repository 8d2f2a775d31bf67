//! What every property request of this driver shares: the verb, the refusals and the statuses
//! they become, reading instance data, writing little-endian fields into the value buffer, and
//! the basic-support answer (a `KSPROPERTY_DESCRIPTION`, optionally followed by one members list
//! of stepped ranges).

use core::mem::{offset_of, size_of};

use portcls_sys::ks::{
    KSIDENTIFIER, KSPROPERTY_BOUNDS_LONG_SIGNED, KSPROPERTY_DESCRIPTION,
    KSPROPERTY_MEMBER_FLAG_BASICSUPPORT_MULTICHANNEL, KSPROPERTY_MEMBER_STEPPEDRANGES,
    KSPROPERTY_MEMBERSHEADER, KSPROPERTY_STEPPING_LONG, KSPROPERTY_TYPE_BASICSUPPORT,
    KSPROPERTY_TYPE_GET, KSPROPERTY_TYPE_SET, KSPROPTYPESETID_General,
};
use portcls_sys::{GUID, NTSTATUS, STATUS_INVALID_PARAMETER};

use crate::format::{STATUS_BUFFER_OVERFLOW, STATUS_BUFFER_TOO_SMALL};

/// `STATUS_INVALID_DEVICE_REQUEST` (0xC0000010): a request this handler does not serve.
pub const STATUS_INVALID_DEVICE_REQUEST: NTSTATUS = 0xC000_0010_u32.cast_signed();

/// The bits of a request's flags that name an operation (`KSPROPERTY_TYPE_GET` up to
/// `KSPROPERTY_TYPE_DEFAULTVALUES`). The bits above are modifiers (`TOPOLOGY`, `HIGHPRIORITY`,
/// ...) that do not change what is asked.
const OPERATION_BITS: u32 = 0x0001_FFFF;

/// Bytes of a `KSPROPERTY_DESCRIPTION`.
pub const DESCRIPTION_SIZE: usize = size_of::<KSPROPERTY_DESCRIPTION>();
/// Bytes of a `KSPROPERTY_MEMBERSHEADER`.
pub const MEMBERS_HEADER_SIZE: usize = size_of::<KSPROPERTY_MEMBERSHEADER>();
/// Bytes of a `KSPROPERTY_STEPPING_LONG`.
pub const STEPPING_SIZE: usize = size_of::<KSPROPERTY_STEPPING_LONG>();

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
    /// The verb of a request's flags: exactly one of GET, SET and BASICSUPPORT, and no other
    /// operation (`SETSUPPORT`, `RELATIONS`, the serialization verbs, `DEFAULTVALUES`).
    /// Modifiers such as `KSPROPERTY_TYPE_TOPOLOGY` are ignored.
    #[must_use]
    pub const fn from_flags(flags: u32) -> Option<Self> {
        match flags & OPERATION_BITS {
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
    /// Not a request this handler serves: the verb, the property, or SET on a read-only one.
    Unsupported,
    /// The instance data or the target names no channel, pin or node with this property, or
    /// is too short to name one.
    BadInstance,
    /// A size probe (a 0-byte value buffer): the full answer needs `required` bytes.
    Overflow {
        /// Bytes the full answer needs.
        required: u32,
    },
    /// The value buffer is too short for the operation.
    TooSmall,
    /// The target exists but has nothing to answer with (a pin without proposed formats, a
    /// mode it lacks).
    NotSupported,
    /// A proposed format the pin does not stream.
    NoMatch,
}

impl PropertyError {
    /// The NTSTATUS PortCls receives (see the table in the [module docs](super)).
    #[must_use]
    pub const fn status(&self) -> NTSTATUS {
        match self {
            Self::Unsupported => STATUS_INVALID_DEVICE_REQUEST,
            Self::BadInstance => STATUS_INVALID_PARAMETER,
            Self::Overflow { .. } => STATUS_BUFFER_OVERFLOW,
            Self::TooSmall => STATUS_BUFFER_TOO_SMALL,
            Self::NotSupported => portcls_sys::STATUS_NOT_SUPPORTED,
            Self::NoMatch => crate::format::STATUS_NO_MATCH,
        }
    }

    /// The refusal of a size probe for an answer of `size` bytes.
    pub(super) const fn overflow(size: usize) -> Self {
        Self::Overflow {
            required: ulong(size),
        }
    }
}

/// Bytes written into the value buffer, or why nothing was.
pub type Answer = Result<usize, PropertyError>;

/// `value` as a `ULONG` (sizes here are a few dozen bytes; saturates otherwise).
pub(super) const fn ulong(value: usize) -> u32 {
    if value > u32::MAX as usize {
        u32::MAX
    } else {
        // Checked above to fit.
        #[expect(clippy::cast_possible_truncation)]
        let narrow = value as u32;
        narrow
    }
}

/// The little-endian `u32` at byte `at` of `bytes`, if all four bytes are there.
pub(super) fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    bytes
        .get(at..at.checked_add(4)?)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
}

/// Writes `bytes` at byte `at` of `value`. Callers check the size first; a write that would
/// not fit is dropped rather than panicking.
pub(super) fn put(value: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(slot) = at
        .checked_add(bytes.len())
        .and_then(|end| value.get_mut(at..end))
    {
        slot.copy_from_slice(bytes);
    }
}

/// Writes a little-endian `u32` at byte `at` of `value`.
pub(super) fn put_u32(value: &mut [u8], at: usize, field: u32) {
    put(value, at, &field.to_le_bytes());
}

/// A GUID as it lies in memory.
pub(super) fn guid_bytes(guid: &GUID) -> [u8; 16] {
    let mut out = [0u8; 16];
    put(&mut out, 0, &guid.Data1.to_le_bytes());
    put(&mut out, 4, &guid.Data2.to_le_bytes());
    put(&mut out, 6, &guid.Data3.to_le_bytes());
    put(&mut out, 8, &guid.Data4);
    out
}

/// One stepped range of a basic-support answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stepping {
    /// The distance between valid values.
    pub delta: u32,
    /// The lowest valid value.
    pub minimum: i32,
    /// The highest valid value.
    pub maximum: i32,
}

/// What a basic-support answer describes.
#[derive(Clone, Copy, Debug)]
pub(super) struct Description<'a> {
    /// The `KSPROPERTY_TYPE_*` accesses the property allows.
    pub access: u32,
    /// The value's `VARENUM` in `KSPROPTYPESETID_General`, or `None` for a structure that has
    /// no such type (the type set is then `GUID_NULL`, id 0).
    pub value_type: Option<u32>,
    /// One stepped range per channel (a multichannel members list), or none at all.
    pub ranges: &'a [Stepping],
}

impl Description<'_> {
    /// Bytes of the full answer.
    pub const fn size(&self) -> usize {
        if self.ranges.is_empty() {
            DESCRIPTION_SIZE
        } else {
            DESCRIPTION_SIZE + MEMBERS_HEADER_SIZE + self.ranges.len() * STEPPING_SIZE
        }
    }

    /// Answers a BASICSUPPORT request into `value`, as much as fits:
    ///
    /// | value buffer | answer |
    /// | --- | --- |
    /// | 0 bytes (size probe) | `Overflow` with the full size |
    /// | 1-3 bytes | `TooSmall` |
    /// | 4-39 bytes | the access flags (4 bytes) |
    /// | 40 bytes up to the full size | the `KSPROPERTY_DESCRIPTION` (40 bytes; its `DescriptionSize` says the full size) |
    /// | the full size or more | everything |
    ///
    /// # Errors
    /// As the table says.
    pub fn answer(&self, value: &mut [u8]) -> Answer {
        let full = self.size();
        match value.len() {
            0 => return Err(PropertyError::overflow(full)),
            1..4 => return Err(PropertyError::TooSmall),
            4..DESCRIPTION_SIZE => {
                put_u32(value, 0, self.access);
                return Ok(4);
            }
            _ => {}
        }
        let set = offset_of!(KSPROPERTY_DESCRIPTION, PropTypeSet);
        put_u32(
            value,
            offset_of!(KSPROPERTY_DESCRIPTION, AccessFlags),
            self.access,
        );
        put_u32(
            value,
            offset_of!(KSPROPERTY_DESCRIPTION, DescriptionSize),
            ulong(full),
        );
        let (type_set, type_id) = match self.value_type {
            Some(vt) => (KSPROPTYPESETID_General, vt),
            None => (GUID::from_u128(0), 0),
        };
        put(
            value,
            set + offset_of!(KSIDENTIFIER, Set),
            &guid_bytes(&type_set),
        );
        put_u32(value, set + offset_of!(KSIDENTIFIER, Id), type_id);
        put_u32(value, set + offset_of!(KSIDENTIFIER, Flags), 0);
        put_u32(
            value,
            offset_of!(KSPROPERTY_DESCRIPTION, MembersListCount),
            u32::from(!self.ranges.is_empty()),
        );
        put_u32(value, offset_of!(KSPROPERTY_DESCRIPTION, Reserved), 0);
        if self.ranges.is_empty() || value.len() < full {
            return Ok(DESCRIPTION_SIZE);
        }
        let header = DESCRIPTION_SIZE;
        put_u32(
            value,
            header + offset_of!(KSPROPERTY_MEMBERSHEADER, MembersFlags),
            KSPROPERTY_MEMBER_STEPPEDRANGES,
        );
        put_u32(
            value,
            header + offset_of!(KSPROPERTY_MEMBERSHEADER, MembersSize),
            ulong(STEPPING_SIZE),
        );
        put_u32(
            value,
            header + offset_of!(KSPROPERTY_MEMBERSHEADER, MembersCount),
            ulong(self.ranges.len()),
        );
        put_u32(
            value,
            header + offset_of!(KSPROPERTY_MEMBERSHEADER, Flags),
            KSPROPERTY_MEMBER_FLAG_BASICSUPPORT_MULTICHANNEL,
        );
        let bounds = offset_of!(KSPROPERTY_STEPPING_LONG, Bounds);
        for (index, range) in self.ranges.iter().enumerate() {
            let at = header + MEMBERS_HEADER_SIZE + index * STEPPING_SIZE;
            put_u32(
                value,
                at + offset_of!(KSPROPERTY_STEPPING_LONG, SteppingDelta),
                range.delta,
            );
            put_u32(
                value,
                at + offset_of!(KSPROPERTY_STEPPING_LONG, Reserved),
                0,
            );
            put(
                value,
                at + bounds + offset_of!(KSPROPERTY_BOUNDS_LONG_SIGNED, SignedMinimum),
                &range.minimum.to_le_bytes(),
            );
            put(
                value,
                at + bounds + offset_of!(KSPROPERTY_BOUNDS_LONG_SIGNED, SignedMaximum),
                &range.maximum.to_le_bytes(),
            );
        }
        Ok(full)
    }
}

#[cfg(test)]
mod tests {
    use portcls_sys::ks::{
        KSPROPERTY_TYPE_DEFAULTVALUES, KSPROPERTY_TYPE_RELATIONS, KSPROPERTY_TYPE_SETSUPPORT,
        KSPROPERTY_TYPE_TOPOLOGY, VT_I4,
    };

    use super::*;

    const RANGES: [Stepping; 2] = [
        Stepping {
            delta: 5,
            minimum: -10,
            maximum: 0,
        },
        Stepping {
            delta: 1,
            minimum: 0,
            maximum: 1,
        },
    ];

    fn i32_at(bytes: &[u8], at: usize) -> i32 {
        i32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn verbs_are_exactly_one_operation_and_modifiers_are_ignored() {
        assert_eq!(Verb::from_flags(KSPROPERTY_TYPE_GET), Some(Verb::Get));
        assert_eq!(
            Verb::from_flags(KSPROPERTY_TYPE_SET | KSPROPERTY_TYPE_TOPOLOGY),
            Some(Verb::Set)
        );
        // HIGHPRIORITY (0x08000000) is a modifier too.
        assert_eq!(
            Verb::from_flags(KSPROPERTY_TYPE_BASICSUPPORT | 0x0800_0000),
            Some(Verb::BasicSupport)
        );
        for refused in [
            0,
            KSPROPERTY_TYPE_TOPOLOGY,
            KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_SET,
            KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_BASICSUPPORT,
            KSPROPERTY_TYPE_SETSUPPORT,
            KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_RELATIONS,
            KSPROPERTY_TYPE_BASICSUPPORT | KSPROPERTY_TYPE_DEFAULTVALUES,
            u32::MAX,
        ] {
            assert_eq!(Verb::from_flags(refused), None, "{refused:#x}");
        }
    }

    #[test]
    fn refusals_map_to_the_documented_statuses() {
        assert_eq!(
            PropertyError::Unsupported.status(),
            STATUS_INVALID_DEVICE_REQUEST
        );
        assert_eq!(
            PropertyError::BadInstance.status(),
            STATUS_INVALID_PARAMETER
        );
        assert_eq!(PropertyError::TooSmall.status(), STATUS_BUFFER_TOO_SMALL);
        assert_eq!(PropertyError::overflow(88).status(), STATUS_BUFFER_OVERFLOW);
        assert_eq!(
            PropertyError::overflow(usize::MAX),
            PropertyError::Overflow { required: u32::MAX }
        );
    }

    #[test]
    fn the_sizes_are_the_headers_sizes() {
        assert_eq!(DESCRIPTION_SIZE, 40);
        assert_eq!(MEMBERS_HEADER_SIZE, 16);
        assert_eq!(STEPPING_SIZE, 16);
    }

    #[test]
    fn reads_and_writes_stay_inside_the_buffer() {
        assert_eq!(read_u32(&[1, 0, 0, 0], 0), Some(1));
        assert_eq!(read_u32(&[1, 0, 0], 0), None);
        assert_eq!(read_u32(&[0; 8], 5), None);
        assert_eq!(read_u32(&[0; 8], usize::MAX), None);
        let mut small = [0u8; 4];
        put_u32(&mut small, 2, u32::MAX);
        put_u32(&mut small, usize::MAX, u32::MAX);
        assert_eq!(small, [0; 4]);
    }

    #[test]
    fn guids_are_laid_out_as_in_memory() {
        // `guid_bytes` gives a GUID's 16 bytes as a C `GUID` lies in memory: `Data1`, `Data2`
        // and `Data3` little-endian, then `Data4` in order (what a KS client reads).
        let guid = GUID::from_u128(0x0123_4567_89AB_CDEF_FEDC_BA98_7654_3210);
        assert_eq!(
            guid_bytes(&guid),
            [
                0x67, 0x45, 0x23, 0x01, 0xAB, 0x89, 0xEF, 0xCD, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54,
                0x32, 0x10
            ]
        );
        // KSPROPTYPESETID_General {97E99BA0-BDEA-11CF-A5D6-28DB04C10000}.
        assert_eq!(
            guid_bytes(&KSPROPTYPESETID_General),
            [
                0xA0, 0x9B, 0xE9, 0x97, 0xEA, 0xBD, 0xCF, 0x11, 0xA5, 0xD6, 0x28, 0xDB, 0x04, 0xC1,
                0x00, 0x00
            ]
        );
        assert_eq!(guid_bytes(&GUID::from_u128(0)), [0; 16]);
    }

    #[test]
    fn basic_support_answers_as_much_as_fits() {
        let description = Description {
            access: 0x203,
            value_type: Some(VT_I4),
            ranges: &RANGES,
        };
        assert_eq!(description.size(), 88);
        assert_eq!(
            description.answer(&mut []),
            Err(PropertyError::Overflow { required: 88 })
        );
        for short in 1..4 {
            assert_eq!(
                description.answer(&mut vec![0; short]),
                Err(PropertyError::TooSmall)
            );
        }
        for flags_only in [4, 5, 39] {
            let mut value = vec![0xEE; flags_only];
            assert_eq!(description.answer(&mut value), Ok(4));
            assert_eq!(i32_at(&value, 0), 0x203);
            assert!(
                value[4..].iter().all(|&b| b == 0xEE),
                "wrote past the flags"
            );
        }
        for head_only in [40, 87] {
            let mut value = vec![0xEE; head_only];
            assert_eq!(description.answer(&mut value), Ok(40));
            assert_eq!(i32_at(&value, 4), 88);
            assert!(value[40..].iter().all(|&b| b == 0xEE));
        }
        let mut value = vec![0xEE; 4096];
        assert_eq!(description.answer(&mut value), Ok(88));
        assert_eq!(&value[8..24], &guid_bytes(&KSPROPTYPESETID_General));
        assert_eq!(i32_at(&value, 24), 3);
        assert_eq!(i32_at(&value, 28), 0);
        assert_eq!(i32_at(&value, 32), 1);
        assert_eq!(i32_at(&value, 36), 0);
        assert_eq!(i32_at(&value, 40), 2); // stepped ranges
        assert_eq!(i32_at(&value, 44), 16);
        assert_eq!(i32_at(&value, 48), 2);
        assert_eq!(i32_at(&value, 52), 2); // multichannel
        assert_eq!(
            [
                i32_at(&value, 56),
                i32_at(&value, 60),
                i32_at(&value, 64),
                i32_at(&value, 68)
            ],
            [5, 0, -10, 0]
        );
        assert_eq!(
            [i32_at(&value, 72), i32_at(&value, 80), i32_at(&value, 84)],
            [1, 0, 1]
        );
        assert!(
            value[88..].iter().all(|&b| b == 0xEE),
            "wrote past the answer"
        );
    }

    #[test]
    fn a_buffer_of_exactly_the_full_size_gets_everything() {
        // What a client does after the size probe: allocate exactly the size it was told (88
        // bytes) and ask again. That buffer gets the whole answer, members and ranges too, not
        // just the 40-byte description.
        let description = Description {
            access: 0x203,
            value_type: Some(VT_I4),
            ranges: &RANGES,
        };
        let mut value = [0xEE; 88];
        assert_eq!(description.answer(&mut value), Ok(88));
        assert_eq!(i32_at(&value, 32), 1, "one members list");
        assert_eq!(i32_at(&value, 40), 2, "stepped ranges");
        assert_eq!(i32_at(&value, 48), 2, "two ranges");
        assert_eq!([i32_at(&value, 80), i32_at(&value, 84)], [0, 1]);
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn sizes_past_u32_saturate_instead_of_wrapping() {
        // `ulong` saturates: 2^32 bytes is reported as u32::MAX, not truncated to 0, and so is
        // every larger size; sizes that fit are kept.
        assert_eq!(ulong(1 << 32), u32::MAX);
        assert_eq!(ulong((1 << 32) + 88), u32::MAX);
        assert_eq!(ulong(u32::MAX as usize), u32::MAX);
        assert_eq!(ulong(88), 88);
        assert_eq!(
            PropertyError::overflow(1 << 32),
            PropertyError::Overflow { required: u32::MAX }
        );
    }

    #[test]
    fn a_description_without_ranges_has_no_members_and_no_type() {
        let description = Description {
            access: 0x201,
            value_type: None,
            ranges: &[],
        };
        assert_eq!(
            description.answer(&mut []),
            Err(PropertyError::Overflow { required: 40 })
        );
        let mut value = [0xEE; 64];
        assert_eq!(description.answer(&mut value), Ok(40));
        assert_eq!(i32_at(&value, 0), 0x201);
        assert_eq!(i32_at(&value, 4), 40);
        assert!(value[8..24].iter().all(|&b| b == 0), "type set GUID_NULL");
        assert_eq!(i32_at(&value, 24), 0);
        assert_eq!(i32_at(&value, 32), 0);
    }
}
