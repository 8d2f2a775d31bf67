//! The pin and topology properties PortCls answers itself, from the miniport's filter
//! descriptor, when the miniport's own automation table has no item for them.
//!
//! On Windows these requests reach KS's pin and topology handlers (`KsPinPropertyHandler`,
//! `KsTopologyPropertyHandler`) with the descriptor PortCls built from the miniport's
//! `PCFILTER_DESCRIPTOR`; [`Sim::property`](crate::Sim::property) routes them here after the
//! miniport's table (so a miniport that handles, say, `KSPROPERTY_PIN_PROPOSEDATAFORMAT` in its
//! filter table keeps answering it, and the port still answers the rest of the set).
//!
//! The answers, from `ks.h` and the `KSPROPERTY_PIN_*` / `KSPROPERTY_TOPOLOGY_*` pages:
//!
//! | property | request | value |
//! | --- | --- | --- |
//! | Pin `CINSTANCES` (0) | `KSP_PIN` | `KSPIN_CINSTANCES`: `MaxFilterInstanceCount`, the pin's open streams on this filter |
//! | Pin `CTYPES` (1) | `KSPROPERTY` | `ULONG` pin count |
//! | Pin `DATAFLOW` (2) | `KSP_PIN` | `KSPIN_DATAFLOW` |
//! | Pin `DATARANGES` (3) | `KSP_PIN` | `KSMULTIPLE_ITEM`, then each range (`FormatSize` bytes; padding answered as zeros) on an 8-byte boundary |
//! | Pin `INTERFACES` (5) | `KSP_PIN` | `KSMULTIPLE_ITEM` + `KSPIN_INTERFACE`s (none declared: the standard streaming interface) |
//! | Pin `MEDIUMS` (6) | `KSP_PIN` | `KSMULTIPLE_ITEM` + `KSPIN_MEDIUM`s (none declared: the standard any-instance medium) |
//! | Pin `COMMUNICATION` (7) | `KSP_PIN` | `KSPIN_COMMUNICATION` |
//! | Pin `GLOBALCINSTANCES` (8) | `KSP_PIN` | `KSPIN_CINSTANCES`: `MaxGlobalInstanceCount`, the open streams of every instance of this filter (the model makes one filter instance per subdevice, so the same count) |
//! | Pin `NECESSARYINSTANCES` (9) | `KSP_PIN` | `ULONG` `MinFilterInstanceCount` |
//! | Pin `CATEGORY` (11) | `KSP_PIN` | `GUID` |
//! | Pin `NAME` (12) | `KSP_PIN` | NUL-terminated UTF-16 name |
//! | Pin `CONSTRAINEDDATARANGES` (13) | `KSP_PIN` | as `DATARANGES`, from the constrained ranges when the pin declares some |
//! | Topology `CATEGORIES` (0) | `KSPROPERTY` | `KSMULTIPLE_ITEM` + the filter's category GUIDs |
//! | Topology `NODES` (1) | `KSPROPERTY` | `KSMULTIPLE_ITEM` + each node's type GUID |
//! | Topology `CONNECTIONS` (2) | `KSPROPERTY` | `KSMULTIPLE_ITEM` + `KSTOPOLOGY_CONNECTION`s |
//! | Topology `NAME` (3) | `KSP_NODE` | NUL-terminated UTF-16 name |
//!
//! Buffer sizes, as KS handles them:
//! - a fixed-size value: a zero-length buffer gets the size and `STATUS_BUFFER_OVERFLOW`, a
//!   smaller one `STATUS_BUFFER_TOO_SMALL`, a larger one the value (the size says how much);
//! - a `KSMULTIPLE_ITEM` list (`KsHandleSizedListQuery`): zero length gets the size and
//!   `STATUS_BUFFER_OVERFLOW`; exactly a `ULONG` gets the total size; exactly a
//!   `KSMULTIPLE_ITEM` gets the header (size and count); anything else short of the whole
//!   list is `STATUS_BUFFER_TOO_SMALL`;
//! - a name: like a fixed-size value of its length.
//!
//! Names: KS looks the pin's `Name` GUID (or, without one, its `Category`; for a node, its
//! `Name`, else its `Type`) up under the registry's `MediaCategories` key. The model's registry
//! holds the names Windows ships for the GUIDs audio drivers use ([`media_category_name`]); a
//! GUID it does not hold is answered as the failed registry lookup would be,
//! `STATUS_OBJECT_NAME_NOT_FOUND`, and a pin or node with neither GUID
//! `STATUS_INVALID_DEVICE_REQUEST`.
//!
//! Other refusals: a pin or node id the filter does not have is `STATUS_INVALID_PARAMETER`; a
//! request shorter than its `KSP_PIN` / `KSP_NODE` is `STATUS_INVALID_BUFFER_SIZE`; `SET` is
//! `STATUS_INVALID_DEVICE_REQUEST` (every item here is read-only). `BASICSUPPORT` gets what KS
//! answers for an item without a support handler: a `KSPROPERTY_DESCRIPTION` with the access
//! flags (GET and BASICSUPPORT), no members and type set `KSPROPTYPESETID_General` / `VT_EMPTY`
//! into a buffer that holds one, the access flags alone into a `ULONG`.
//!
//! The handlers are plain functions over a [`FilterView`], a copy of the descriptor as data.

use std::mem::size_of;

use portcls_sys::ks::{
    GUID_NULL, KSAUDFNAME_MASTER_MUTE, KSAUDFNAME_MASTER_VOLUME, KSAUDFNAME_PEAKMETER,
    KSDATAFORMAT_SPECIFIER_WAVEFORMATEX, KSDATARANGE, KSINTERFACE_STANDARD_STREAMING,
    KSINTERFACESETID_Standard, KSMEDIUM_TYPE_ANYINSTANCE, KSMEDIUMSETID_Standard, KSMULTIPLE_ITEM,
    KSNODETYPE_MICROPHONE, KSNODETYPE_MUTE, KSNODETYPE_PEAKMETER, KSNODETYPE_SPEAKER,
    KSNODETYPE_VOLUME, KSPROPERTY_DESCRIPTION, KSPROPERTY_PIN_CATEGORY, KSPROPERTY_PIN_CINSTANCES,
    KSPROPERTY_PIN_COMMUNICATION, KSPROPERTY_PIN_CONSTRAINEDDATARANGES, KSPROPERTY_PIN_CTYPES,
    KSPROPERTY_PIN_DATAFLOW, KSPROPERTY_PIN_DATARANGES, KSPROPERTY_PIN_GLOBALCINSTANCES,
    KSPROPERTY_PIN_INTERFACES, KSPROPERTY_PIN_MEDIUMS, KSPROPERTY_PIN_NAME,
    KSPROPERTY_PIN_NECESSARYINSTANCES, KSPROPERTY_TYPE_BASICSUPPORT, KSPROPERTY_TYPE_GET,
    KSPROPERTY_TYPE_SET, KSPROPERTY_TYPE_TOPOLOGY, KSPROPSETID_Pin, KSPROPTYPESETID_General,
};
use portcls_sys::wavert::PCFILTER_DESCRIPTOR;
use portcls_sys::{GUID, NTSTATUS, STATUS_INVALID_PARAMETER, STATUS_SUCCESS};

use crate::ks_rules::{item, read_guid};
use crate::property::{STATUS_BUFFER_OVERFLOW, STATUS_INVALID_DEVICE_REQUEST};

/// `KSPROPSETID_Topology` {720D4AC0-7533-11D0-A5D6-28DB04C10000}.
#[allow(non_upper_case_globals)] // the ks.h name
pub const KSPROPSETID_Topology: GUID = GUID::from_u128(0x720D_4AC0_7533_11D0_A5D6_28DB_04C1_0000);
/// `KSPROPERTY_TOPOLOGY_CATEGORIES`.
pub const KSPROPERTY_TOPOLOGY_CATEGORIES: u32 = 0;
/// `KSPROPERTY_TOPOLOGY_NODES`.
pub const KSPROPERTY_TOPOLOGY_NODES: u32 = 1;
/// `KSPROPERTY_TOPOLOGY_CONNECTIONS`.
pub const KSPROPERTY_TOPOLOGY_CONNECTIONS: u32 = 2;
/// `KSPROPERTY_TOPOLOGY_NAME`.
pub const KSPROPERTY_TOPOLOGY_NAME: u32 = 3;

/// `STATUS_BUFFER_TOO_SMALL`: the value buffer is shorter than the value.
pub const STATUS_BUFFER_TOO_SMALL: NTSTATUS = 0xC000_0023_u32.cast_signed();
/// `STATUS_INVALID_BUFFER_SIZE`: the request is shorter than its `KSP_PIN` / `KSP_NODE`.
pub const STATUS_INVALID_BUFFER_SIZE: NTSTATUS = 0xC000_0206_u32.cast_signed();
/// `STATUS_OBJECT_NAME_NOT_FOUND`: no `MediaCategories` entry for the GUID.
pub const STATUS_OBJECT_NAME_NOT_FOUND: NTSTATUS = 0xC000_0034_u32.cast_signed();

/// `VT_EMPTY`: the value type KS names for an item without a support handler.
const VT_EMPTY: u32 = 0;
/// Where a `KSDATARANGE_AUDIO`'s fields end (its `sizeof` is 88 with the tail padding).
const AUDIO_LIMITS_END: u32 = 84;
/// The largest data range the port copies (a range claiming more is not one).
const MAX_RANGE_SIZE: u32 = 0x1000;

/// One pin of a [`FilterView`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PinView {
    /// `MaxGlobalInstanceCount`.
    pub max_global: u32,
    /// `MaxFilterInstanceCount`.
    pub max_filter: u32,
    /// `MinFilterInstanceCount`.
    pub min_filter: u32,
    /// The interfaces (set, id, flags); empty when the pin declares none.
    pub interfaces: Vec<(GUID, u32, u32)>,
    /// The mediums (set, id, flags); empty when the pin declares none.
    pub mediums: Vec<(GUID, u32, u32)>,
    /// Each data range's `FormatSize` bytes.
    pub ranges: Vec<Vec<u8>>,
    /// Each constrained data range's bytes (empty when the pin declares none).
    pub constrained: Vec<Vec<u8>>,
    /// `KSPIN_DATAFLOW`.
    pub data_flow: u32,
    /// `KSPIN_COMMUNICATION`.
    pub communication: u32,
    /// The category, if any.
    pub category: Option<GUID>,
    /// The name GUID, if any.
    pub name: Option<GUID>,
}

/// One node of a [`FilterView`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeView {
    /// The node type, if any.
    pub node_type: Option<GUID>,
    /// The name GUID, if any.
    pub name: Option<GUID>,
}

/// A filter descriptor as the port reads it: plain data, so that the answers are plain
/// functions of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilterView {
    /// The pins, by id.
    pub pins: Vec<PinView>,
    /// The nodes, by id.
    pub nodes: Vec<NodeView>,
    /// The connections: `FromNode`, `FromNodePin`, `ToNode`, `ToNodePin`.
    pub connections: Vec<[u32; 4]>,
    /// The filter categories.
    pub categories: Vec<GUID>,
}

/// The bytes of a GUID as it lies in memory.
pub(crate) fn guid_bytes(guid: &GUID) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..4].copy_from_slice(&guid.Data1.to_le_bytes());
    out[4..6].copy_from_slice(&guid.Data2.to_le_bytes());
    out[6..8].copy_from_slice(&guid.Data3.to_le_bytes());
    out[8..].copy_from_slice(&guid.Data4);
    out
}

/// The data ranges behind `count` pointers at `ranges` (null pointers and ranges whose
/// `FormatSize` is not a range's are left out: the KS rules report those).
///
/// KS copies a range's `FormatSize` bytes as they are; the model copies the fields it knows
/// (the `KSDATARANGE`, and a `WAVEFORMATEX` range's audio limits) and answers the other bytes
/// as zeros: they are a structure's tail padding, which a Rust static leaves uninitialised, or
/// a layout the model does not know.
///
/// # Safety
/// `ranges` is null or `count` readable pointers, each null or a readable range of its
/// `FormatSize` bytes.
unsafe fn read_ranges(ranges: *const *mut KSDATARANGE, count: u32) -> Vec<Vec<u8>> {
    if ranges.is_null() {
        return Vec::new();
    }
    (0..count)
        .filter_map(|index| {
            // SAFETY: `count` pointers (the caller's contract).
            let range = unsafe { item(ranges, 8, index) };
            // SAFETY: each null or a readable range (the caller's contract).
            unsafe { read_range(range.cast_const()) }
        })
        .collect()
}

/// The data ranges of a pin's `DataRanges` array, as KS reads it: an attribute list that
/// follows a range flagged `KSDATARANGE_ATTRIBUTES` is that range's, not a range of its own.
///
/// # Safety
/// As for [`crate::ks_rules::data_range_entries`].
unsafe fn read_pin_ranges(ks: &portcls_sys::ks::KSPIN_DESCRIPTOR) -> Vec<Vec<u8>> {
    // SAFETY: the caller's contract.
    unsafe { crate::ks_rules::data_range_entries(ks) }
        .into_iter()
        // SAFETY: each entry's range is null or readable (the caller's contract).
        .filter_map(|(range, _)| unsafe { read_range(range) })
        .collect()
}

/// One data range's bytes (`None` for a null pointer or an implausible `FormatSize`).
///
/// # Safety
/// `range` is null or a readable data range.
unsafe fn read_range(range: *const KSDATARANGE) -> Option<Vec<u8>> {
    if range.is_null() {
        return None;
    }
    // SAFETY: a readable range (the caller's contract) starts with its FormatSize.
    let size = unsafe { range.cast::<u32>().read_unaligned() };
    if !(64..=MAX_RANGE_SIZE).contains(&size) {
        return None;
    }
    // SAFETY: at least the 64 bytes of a KSDATARANGE (checked), all of them fields.
    let header = unsafe { range.cast::<[u8; 64]>().read_unaligned() };
    let mut bytes = header.to_vec();
    bytes.resize(size as usize, 0);
    if size >= AUDIO_LIMITS_END && header[48..] == guid_bytes(&KSDATAFORMAT_SPECIFIER_WAVEFORMATEX)
    {
        // The limits' address stays inside the range (its size was checked).
        let at = range.cast::<u8>().wrapping_add(64).cast::<[u8; 20]>();
        // SAFETY: a KSDATARANGE_AUDIO's five ULONG limits follow the header (the size was
        // checked).
        let limits = unsafe { at.read_unaligned() };
        bytes[64..AUDIO_LIMITS_END as usize].copy_from_slice(&limits);
    }
    Some(bytes)
}

/// `count` identifiers at `list`, as (set, id, flags).
///
/// # Safety
/// `list` is null or `count` readable `KSIDENTIFIER`s.
unsafe fn read_identifiers(
    list: *const portcls_sys::ks::KSIDENTIFIER,
    count: u32,
) -> Vec<(GUID, u32, u32)> {
    if list.is_null() {
        return Vec::new();
    }
    (0..count)
        .map(|index| {
            // SAFETY: `count` identifiers (the caller's contract).
            let identifier = unsafe { item(list, 24, index) };
            (identifier.Set, identifier.Id, identifier.Flags)
        })
        .collect()
}

impl FilterView {
    /// Copies what the port answers from out of a live descriptor.
    ///
    /// # Safety
    /// `filter` is a live descriptor whose counts, sizes and pointers the KS rules accepted.
    #[must_use]
    pub unsafe fn read(filter: &PCFILTER_DESCRIPTOR) -> Self {
        let pins = if filter.Pins.is_null() {
            Vec::new()
        } else {
            (0..filter.PinCount)
                .map(|index| {
                    // SAFETY: `PinCount` pins of `PinSize` bytes (the caller's contract).
                    let pin = unsafe { item(filter.Pins, filter.PinSize, index) };
                    let ks = pin.KsPinDescriptor;
                    // The union's count is its first ULONG, initialised whichever member the
                    // miniport wrote (`Reserved` = 0 reads as no constrained ranges); only then
                    // is its pointer read.
                    // SAFETY: the union is at least 8 bytes and 8-aligned; its first 4 bytes
                    // are initialised by either member.
                    let count = unsafe { (&raw const ks.Constraints).cast::<u32>().read() };
                    let constrained = if count == 0 {
                        Vec::new()
                    } else {
                        // SAFETY: a non-zero count means the miniport wrote the constrained
                        // member, pointer included.
                        let list = unsafe { ks.Constraints.Constrained.ConstrainedDataRanges };
                        // SAFETY: the pin's constrained ranges (the caller's contract).
                        unsafe { read_ranges(list.cast_const(), count) }
                    };
                    PinView {
                        max_global: pin.MaxGlobalInstanceCount,
                        max_filter: pin.MaxFilterInstanceCount,
                        min_filter: pin.MinFilterInstanceCount,
                        // SAFETY: the pin's interface list (the caller's contract).
                        interfaces: unsafe { read_identifiers(ks.Interfaces, ks.InterfacesCount) },
                        // SAFETY: the pin's medium list (the caller's contract).
                        mediums: unsafe { read_identifiers(ks.Mediums, ks.MediumsCount) },
                        // SAFETY: the pin's data ranges (the caller's contract).
                        ranges: unsafe { read_pin_ranges(&ks) },
                        constrained,
                        data_flow: ks.DataFlow.0.cast_unsigned(),
                        communication: ks.Communication.0.cast_unsigned(),
                        // SAFETY: a static GUID of the miniport, or null.
                        category: unsafe { read_guid(ks.Category) },
                        // SAFETY: as above.
                        name: unsafe { read_guid(ks.Name) },
                    }
                })
                .collect()
        };
        let nodes = if filter.Nodes.is_null() {
            Vec::new()
        } else {
            (0..filter.NodeCount)
                .map(|index| {
                    // SAFETY: `NodeCount` nodes of `NodeSize` bytes (the caller's contract).
                    let node = unsafe { item(filter.Nodes, filter.NodeSize, index) };
                    NodeView {
                        // SAFETY: a static GUID of the miniport, or null.
                        node_type: unsafe { read_guid(node.Type) },
                        // SAFETY: as above.
                        name: unsafe { read_guid(node.Name) },
                    }
                })
                .collect()
        };
        let connections = if filter.Connections.is_null() {
            Vec::new()
        } else {
            (0..filter.ConnectionCount)
                .map(|index| {
                    // SAFETY: `ConnectionCount` connections of 16 bytes (the caller's contract).
                    let c = unsafe { item(filter.Connections, 16, index) };
                    [c.FromNode, c.FromNodePin, c.ToNode, c.ToNodePin]
                })
                .collect()
        };
        let categories = if filter.Categories.is_null() {
            Vec::new()
        } else {
            (0..filter.CategoryCount)
                // SAFETY: `CategoryCount` GUIDs (the caller's contract).
                .map(|index| unsafe { item(filter.Categories, 16, index) })
                .collect()
        };
        Self {
            pins,
            nodes,
            connections,
            categories,
        }
    }
}

/// The name Windows registers under `MediaCategories` for `guid`, if the model's registry
/// holds one: the pin categories and node types and names the sample's descriptors use.
#[must_use]
pub fn media_category_name(guid: &GUID) -> Option<&'static str> {
    [
        (KSNODETYPE_SPEAKER, "Speakers"),
        (KSNODETYPE_MICROPHONE, "Microphone"),
        (KSNODETYPE_VOLUME, "Volume"),
        (KSNODETYPE_MUTE, "Mute"),
        (KSAUDFNAME_MASTER_VOLUME, "Master Volume"),
        (KSAUDFNAME_MASTER_MUTE, "Master Mute"),
        (KSNODETYPE_PEAKMETER, "Peakmeter"),
        (KSAUDFNAME_PEAKMETER, "Peak Meter"),
    ]
    .into_iter()
    .find_map(|(g, name)| (g == *guid).then_some(name))
}

/// What the port answered: status, `ValueSize` and the value buffer after the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortAnswer {
    /// The status.
    pub status: NTSTATUS,
    /// Bytes written, or needed after a size probe.
    pub size: u32,
    /// The value buffer (as long as the caller's).
    pub value: Vec<u8>,
}

impl PortAnswer {
    fn refuse(status: NTSTATUS, capacity: usize) -> Self {
        Self {
            status,
            size: 0,
            value: vec![0; capacity],
        }
    }
}

fn len32(bytes: usize) -> u32 {
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

/// A fixed-size (or name) value into a buffer of `capacity` bytes.
fn fixed(value: &[u8], capacity: usize) -> PortAnswer {
    let needed = len32(value.len());
    if capacity == 0 {
        return PortAnswer {
            status: STATUS_BUFFER_OVERFLOW,
            size: needed,
            value: Vec::new(),
        };
    }
    if capacity < value.len() {
        return PortAnswer::refuse(STATUS_BUFFER_TOO_SMALL, capacity);
    }
    let mut out = vec![0; capacity];
    out[..value.len()].copy_from_slice(value);
    PortAnswer {
        status: STATUS_SUCCESS,
        size: needed,
        value: out,
    }
}

/// A `KSMULTIPLE_ITEM` list of `entries` (each padded to 8 bytes when `align` is set) into a
/// buffer of `capacity` bytes, as `KsHandleSizedListQuery` answers.
fn sized_list(entries: &[Vec<u8>], align: bool, capacity: usize) -> PortAnswer {
    let mut list = vec![0u8; size_of::<KSMULTIPLE_ITEM>()];
    for entry in entries {
        if align {
            list.resize(list.len().next_multiple_of(8), 0);
        }
        list.extend_from_slice(entry);
    }
    let total = len32(list.len());
    list[..4].copy_from_slice(&total.to_le_bytes());
    list[4..8].copy_from_slice(&len32(entries.len()).to_le_bytes());
    let header = size_of::<KSMULTIPLE_ITEM>();
    let partial = |bytes: &[u8]| {
        let mut out = vec![0; capacity];
        out[..bytes.len()].copy_from_slice(bytes);
        PortAnswer {
            status: STATUS_SUCCESS,
            size: len32(bytes.len()),
            value: out,
        }
    };
    match capacity {
        0 => PortAnswer {
            status: STATUS_BUFFER_OVERFLOW,
            size: total,
            value: Vec::new(),
        },
        c if c >= list.len() => partial(&list),
        4 => partial(&list[..4]),
        c if c == header => partial(&list[..header]),
        _ => PortAnswer::refuse(STATUS_BUFFER_TOO_SMALL, capacity),
    }
}

/// A name as KS returns it: UTF-16LE with a terminating NUL.
fn name_value(name: &str) -> Vec<u8> {
    name.encode_utf16()
        .chain(std::iter::once(0))
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// The name answer for a name GUID, else a fallback GUID (category or node type).
fn name_answer(name: Option<GUID>, fallback: Option<GUID>, capacity: usize) -> PortAnswer {
    let Some(guid) = name.or(fallback) else {
        return PortAnswer::refuse(STATUS_INVALID_DEVICE_REQUEST, capacity);
    };
    match media_category_name(&guid) {
        Some(text) => fixed(&name_value(text), capacity),
        None => PortAnswer::refuse(STATUS_OBJECT_NAME_NOT_FOUND, capacity),
    }
}

/// The basic support KS gives an item without a support handler.
fn basic_support(capacity: usize) -> PortAnswer {
    let access = KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_BASICSUPPORT;
    let size = size_of::<KSPROPERTY_DESCRIPTION>();
    if capacity >= size {
        let mut description = vec![0u8; size];
        description[..4].copy_from_slice(&access.to_le_bytes());
        description[4..8].copy_from_slice(&len32(size).to_le_bytes());
        description[8..24].copy_from_slice(&guid_bytes(&KSPROPTYPESETID_General));
        description[24..28].copy_from_slice(&VT_EMPTY.to_le_bytes());
        return fixed(&description, capacity);
    }
    if capacity == 0 {
        return fixed(&vec![0; size], 0);
    }
    fixed(&access.to_le_bytes(), capacity)
}

fn identifier_entries(list: &[(GUID, u32, u32)], default: (GUID, u32)) -> Vec<Vec<u8>> {
    let entry = |(set, id, flags): (GUID, u32, u32)| {
        let mut out = guid_bytes(&set).to_vec();
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        out
    };
    if list.is_empty() {
        vec![entry((default.0, default.1, 0))]
    } else {
        list.iter().copied().map(entry).collect()
    }
}

fn instances(possible: u32, current: u32) -> Vec<u8> {
    let mut out = possible.to_le_bytes().to_vec();
    out.extend_from_slice(&current.to_le_bytes());
    out
}

/// Whether the port answers `set`/`id` itself.
#[must_use]
pub fn handles(set: &GUID, id: u32) -> bool {
    if *set == KSPROPSETID_Pin {
        matches!(
            id,
            KSPROPERTY_PIN_CINSTANCES
                | KSPROPERTY_PIN_CTYPES
                | KSPROPERTY_PIN_DATAFLOW
                | KSPROPERTY_PIN_DATARANGES
                | KSPROPERTY_PIN_INTERFACES
                | KSPROPERTY_PIN_MEDIUMS
                | KSPROPERTY_PIN_COMMUNICATION
                | KSPROPERTY_PIN_GLOBALCINSTANCES
                | KSPROPERTY_PIN_NECESSARYINSTANCES
                | KSPROPERTY_PIN_CATEGORY
                | KSPROPERTY_PIN_NAME
                | KSPROPERTY_PIN_CONSTRAINEDDATARANGES
        )
    } else {
        *set == KSPROPSETID_Topology && id <= KSPROPERTY_TOPOLOGY_NAME
    }
}

/// The `ULONG` at the start of `instance` (the pin id of a `KSP_PIN`, the node id of a
/// `KSP_NODE`), if the request carries the whole structure (id and `Reserved`).
fn leading_id(instance: &[u8]) -> Option<u32> {
    let id: [u8; 4] = instance.get(..4)?.try_into().ok()?;
    instance.get(4..8)?;
    Some(u32::from_le_bytes(id))
}

/// PortCls's answer to a filter-level request for `set`/`id` (one it [`handles`]) with `verb`,
/// the bytes after the `KSPROPERTY` in `instance` and a value buffer of `capacity` bytes.
/// `open(pin)` is the number of streams open on `pin` of this filter.
#[must_use]
pub fn answer(
    filter: &FilterView,
    open: &dyn Fn(u32) -> u32,
    set: &GUID,
    id: u32,
    verb: u32,
    instance: &[u8],
    capacity: usize,
) -> PortAnswer {
    let operation = verb & !KSPROPERTY_TYPE_TOPOLOGY;
    let by_pin = *set == KSPROPSETID_Pin && id != KSPROPERTY_PIN_CTYPES;
    let by_node = *set == KSPROPSETID_Topology && id == KSPROPERTY_TOPOLOGY_NAME;
    let target = if by_pin || by_node {
        let Some(target) = leading_id(instance) else {
            return PortAnswer::refuse(STATUS_INVALID_BUFFER_SIZE, capacity);
        };
        let count = if by_pin {
            filter.pins.len()
        } else {
            filter.nodes.len()
        };
        if target as usize >= count {
            return PortAnswer::refuse(STATUS_INVALID_PARAMETER, capacity);
        }
        Some(target)
    } else {
        None
    };
    match operation {
        KSPROPERTY_TYPE_GET => {}
        KSPROPERTY_TYPE_BASICSUPPORT => return basic_support(capacity),
        KSPROPERTY_TYPE_SET => {
            return PortAnswer::refuse(STATUS_INVALID_DEVICE_REQUEST, capacity);
        }
        _ => return PortAnswer::refuse(STATUS_INVALID_PARAMETER, capacity),
    }
    if *set == KSPROPSETID_Topology {
        return topology(filter, id, target, capacity);
    }
    if id == KSPROPERTY_PIN_CTYPES {
        return fixed(&len32(filter.pins.len()).to_le_bytes(), capacity);
    }
    let Some(pin_id) = target else {
        return PortAnswer::refuse(STATUS_INVALID_PARAMETER, capacity);
    };
    let pin = &filter.pins[pin_id as usize];
    match id {
        KSPROPERTY_PIN_CINSTANCES => fixed(&instances(pin.max_filter, open(pin_id)), capacity),
        KSPROPERTY_PIN_GLOBALCINSTANCES => {
            fixed(&instances(pin.max_global, open(pin_id)), capacity)
        }
        KSPROPERTY_PIN_NECESSARYINSTANCES => fixed(&pin.min_filter.to_le_bytes(), capacity),
        KSPROPERTY_PIN_DATAFLOW => fixed(&pin.data_flow.to_le_bytes(), capacity),
        KSPROPERTY_PIN_COMMUNICATION => fixed(&pin.communication.to_le_bytes(), capacity),
        KSPROPERTY_PIN_CATEGORY => match pin.category {
            Some(category) => fixed(&guid_bytes(&category), capacity),
            None => PortAnswer::refuse(STATUS_INVALID_DEVICE_REQUEST, capacity),
        },
        KSPROPERTY_PIN_NAME => name_answer(pin.name, pin.category, capacity),
        KSPROPERTY_PIN_DATARANGES => sized_list(&pin.ranges, true, capacity),
        KSPROPERTY_PIN_CONSTRAINEDDATARANGES => {
            let ranges = if pin.constrained.is_empty() {
                &pin.ranges
            } else {
                &pin.constrained
            };
            sized_list(ranges, true, capacity)
        }
        KSPROPERTY_PIN_INTERFACES => sized_list(
            &identifier_entries(
                &pin.interfaces,
                (KSINTERFACESETID_Standard, KSINTERFACE_STANDARD_STREAMING),
            ),
            false,
            capacity,
        ),
        KSPROPERTY_PIN_MEDIUMS => sized_list(
            &identifier_entries(
                &pin.mediums,
                (KSMEDIUMSETID_Standard, KSMEDIUM_TYPE_ANYINSTANCE),
            ),
            false,
            capacity,
        ),
        _ => PortAnswer::refuse(STATUS_INVALID_DEVICE_REQUEST, capacity),
    }
}

fn topology(filter: &FilterView, id: u32, node: Option<u32>, capacity: usize) -> PortAnswer {
    match id {
        KSPROPERTY_TOPOLOGY_CATEGORIES => {
            let entries: Vec<Vec<u8>> = filter
                .categories
                .iter()
                .map(|g| guid_bytes(g).to_vec())
                .collect();
            sized_list(&entries, false, capacity)
        }
        KSPROPERTY_TOPOLOGY_NODES => {
            let entries: Vec<Vec<u8>> = filter
                .nodes
                .iter()
                .map(|n| guid_bytes(&n.node_type.unwrap_or(GUID_NULL)).to_vec())
                .collect();
            sized_list(&entries, false, capacity)
        }
        KSPROPERTY_TOPOLOGY_CONNECTIONS => {
            let entries: Vec<Vec<u8>> = filter
                .connections
                .iter()
                .map(|c| c.iter().flat_map(|w| w.to_le_bytes()).collect())
                .collect();
            sized_list(&entries, false, capacity)
        }
        _ => {
            let Some(node) = node.and_then(|n| filter.nodes.get(n as usize)) else {
                return PortAnswer::refuse(STATUS_INVALID_PARAMETER, capacity);
            };
            name_answer(node.name, node.node_type, capacity)
        }
    }
}

/// A property's name for the trace, for the sets the port answers.
#[must_use]
pub fn property_name(set: &GUID, id: u32) -> Option<&'static str> {
    const PIN: [&str; 16] = [
        "Pin/CINSTANCES",
        "Pin/CTYPES",
        "Pin/DATAFLOW",
        "Pin/DATARANGES",
        "Pin/DATAINTERSECTION",
        "Pin/INTERFACES",
        "Pin/MEDIUMS",
        "Pin/COMMUNICATION",
        "Pin/GLOBALCINSTANCES",
        "Pin/NECESSARYINSTANCES",
        "Pin/PHYSICALCONNECTION",
        "Pin/CATEGORY",
        "Pin/NAME",
        "Pin/CONSTRAINEDDATARANGES",
        "Pin/PROPOSEDATAFORMAT",
        "Pin/PROPOSEDATAFORMAT2",
    ];
    const TOPOLOGY: [&str; 4] = [
        "Topology/CATEGORIES",
        "Topology/NODES",
        "Topology/CONNECTIONS",
        "Topology/NAME",
    ];
    let table: &[&str] = if *set == KSPROPSETID_Pin {
        &PIN
    } else if *set == KSPROPSETID_Topology {
        &TOPOLOGY
    } else {
        return None;
    };
    table.get(id as usize).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcls_sys::ks::KSCATEGORY_AUDIO;

    fn filter() -> FilterView {
        let range = |sub: u8| {
            let mut r = vec![0u8; 88];
            r[..4].copy_from_slice(&88u32.to_le_bytes());
            r[32] = sub;
            r
        };
        FilterView {
            pins: vec![
                PinView {
                    max_global: 4,
                    max_filter: 2,
                    min_filter: 0,
                    ranges: vec![range(1), {
                        let mut r = vec![0u8; 68];
                        r[..4].copy_from_slice(&68u32.to_le_bytes());
                        r
                    }],
                    data_flow: 1,
                    communication: 1,
                    category: Some(KSCATEGORY_AUDIO),
                    ..PinView::default()
                },
                PinView {
                    ranges: vec![range(2)],
                    data_flow: 2,
                    category: Some(KSNODETYPE_SPEAKER),
                    ..PinView::default()
                },
            ],
            nodes: vec![NodeView {
                node_type: Some(KSNODETYPE_VOLUME),
                name: Some(KSAUDFNAME_MASTER_VOLUME),
            }],
            connections: vec![[u32::MAX, 0, 0, 1], [0, 0, u32::MAX, 1]],
            categories: vec![KSCATEGORY_AUDIO],
        }
    }

    fn pin(id: u32) -> Vec<u8> {
        let mut out = id.to_le_bytes().to_vec();
        out.extend_from_slice(&[0; 4]);
        out
    }

    fn get(set: &GUID, id: u32, instance: &[u8], capacity: usize) -> PortAnswer {
        answer(
            &filter(),
            &|p| p + 1,
            set,
            id,
            KSPROPERTY_TYPE_GET,
            instance,
            capacity,
        )
    }

    #[test]
    fn fixed_values_probe_refuse_and_answer_by_buffer_size() {
        let probe = get(&KSPROPSETID_Pin, KSPROPERTY_PIN_CINSTANCES, &pin(0), 0);
        assert_eq!((probe.status, probe.size), (STATUS_BUFFER_OVERFLOW, 8));
        let short = get(&KSPROPSETID_Pin, KSPROPERTY_PIN_CINSTANCES, &pin(0), 7);
        assert_eq!((short.status, short.size), (STATUS_BUFFER_TOO_SMALL, 0));
        let full = get(&KSPROPSETID_Pin, KSPROPERTY_PIN_CINSTANCES, &pin(0), 12);
        assert_eq!((full.status, full.size), (STATUS_SUCCESS, 8));
        assert_eq!(full.value, [2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        let global = get(
            &KSPROPSETID_Pin,
            KSPROPERTY_PIN_GLOBALCINSTANCES,
            &pin(1),
            8,
        );
        assert_eq!(global.value, [0, 0, 0, 0, 2, 0, 0, 0]);
        let count = get(&KSPROPSETID_Pin, KSPROPERTY_PIN_CTYPES, &[], 4);
        assert_eq!(count.value, 2u32.to_le_bytes());
    }

    #[test]
    fn data_ranges_are_a_multiple_item_of_aligned_ranges() {
        let all = get(&KSPROPSETID_Pin, KSPROPERTY_PIN_DATARANGES, &pin(0), 256);
        // 8 + 88 + 68 (the second range starts at 96, already aligned).
        assert_eq!((all.status, all.size), (STATUS_SUCCESS, 164));
        assert_eq!(all.value[..8], [164, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(all.value[8 + 32], 1);
        assert_eq!(all.value[96..100], 68u32.to_le_bytes());
        let probe = get(&KSPROPSETID_Pin, KSPROPERTY_PIN_DATARANGES, &pin(0), 0);
        assert_eq!((probe.status, probe.size), (STATUS_BUFFER_OVERFLOW, 164));
        let size = get(&KSPROPSETID_Pin, KSPROPERTY_PIN_DATARANGES, &pin(0), 4);
        assert_eq!((size.status, size.size), (STATUS_SUCCESS, 4));
        assert_eq!(size.value, 164u32.to_le_bytes());
        let header = get(&KSPROPSETID_Pin, KSPROPERTY_PIN_DATARANGES, &pin(0), 8);
        assert_eq!(
            (header.status, header.value),
            (STATUS_SUCCESS, vec![164, 0, 0, 0, 2, 0, 0, 0])
        );
        let short = get(&KSPROPSETID_Pin, KSPROPERTY_PIN_DATARANGES, &pin(0), 163);
        assert_eq!(short.status, STATUS_BUFFER_TOO_SMALL);
        // Without constrained ranges, the constrained query answers the ranges.
        let constrained = get(
            &KSPROPSETID_Pin,
            KSPROPERTY_PIN_CONSTRAINEDDATARANGES,
            &pin(0),
            256,
        );
        assert_eq!(constrained, all);
    }

    #[test]
    fn pins_without_interfaces_or_mediums_get_the_standard_ones() {
        let interfaces = get(&KSPROPSETID_Pin, KSPROPERTY_PIN_INTERFACES, &pin(0), 32);
        assert_eq!((interfaces.status, interfaces.size), (STATUS_SUCCESS, 32));
        assert_eq!(
            interfaces.value[8..24],
            guid_bytes(&KSINTERFACESETID_Standard)
        );
        let mediums = get(&KSPROPSETID_Pin, KSPROPERTY_PIN_MEDIUMS, &pin(1), 32);
        assert_eq!(mediums.value[8..24], guid_bytes(&KSMEDIUMSETID_Standard));
    }

    #[test]
    fn names_come_from_the_name_or_the_category() {
        let speaker = get(&KSPROPSETID_Pin, KSPROPERTY_PIN_NAME, &pin(1), 64);
        assert_eq!((speaker.status, speaker.size), (STATUS_SUCCESS, 18));
        assert_eq!(speaker.value[..18], name_value("Speakers"));
        let audio = get(&KSPROPSETID_Pin, KSPROPERTY_PIN_NAME, &pin(0), 64);
        assert_eq!(audio.status, STATUS_OBJECT_NAME_NOT_FOUND);
        let node = get(&KSPROPSETID_Topology, KSPROPERTY_TOPOLOGY_NAME, &pin(0), 0);
        assert_eq!((node.status, node.size), (STATUS_BUFFER_OVERFLOW, 28));
    }

    #[test]
    fn topology_lists_the_categories_nodes_and_connections() {
        let nodes = get(&KSPROPSETID_Topology, KSPROPERTY_TOPOLOGY_NODES, &[], 24);
        assert_eq!(nodes.value[..8], [24, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(nodes.value[8..], guid_bytes(&KSNODETYPE_VOLUME));
        let connections = get(
            &KSPROPSETID_Topology,
            KSPROPERTY_TOPOLOGY_CONNECTIONS,
            &[],
            40,
        );
        assert_eq!((connections.status, connections.size), (STATUS_SUCCESS, 40));
        assert_eq!(connections.value[8..12], u32::MAX.to_le_bytes());
        let categories = get(
            &KSPROPSETID_Topology,
            KSPROPERTY_TOPOLOGY_CATEGORIES,
            &[],
            0,
        );
        assert_eq!(
            (categories.status, categories.size),
            (STATUS_BUFFER_OVERFLOW, 24)
        );
    }

    #[test]
    fn bad_requests_are_refused() {
        let no_pin = get(&KSPROPSETID_Pin, KSPROPERTY_PIN_DATAFLOW, &pin(2), 4);
        assert_eq!(no_pin.status, STATUS_INVALID_PARAMETER);
        let short = get(&KSPROPSETID_Pin, KSPROPERTY_PIN_DATAFLOW, &[0; 4], 4);
        assert_eq!(short.status, STATUS_INVALID_BUFFER_SIZE);
        let no_node = get(&KSPROPSETID_Topology, KSPROPERTY_TOPOLOGY_NAME, &pin(1), 64);
        assert_eq!(no_node.status, STATUS_INVALID_PARAMETER);
        let set = answer(
            &filter(),
            &|_| 0,
            &KSPROPSETID_Pin,
            KSPROPERTY_PIN_DATAFLOW,
            KSPROPERTY_TYPE_SET,
            &pin(0),
            4,
        );
        assert_eq!(set.status, STATUS_INVALID_DEVICE_REQUEST);
    }

    #[test]
    fn basic_support_gives_the_access_flags() {
        let support = |capacity| {
            answer(
                &filter(),
                &|_| 0,
                &KSPROPSETID_Pin,
                KSPROPERTY_PIN_DATAFLOW,
                KSPROPERTY_TYPE_BASICSUPPORT,
                &pin(0),
                capacity,
            )
        };
        let flags = support(4);
        assert_eq!((flags.status, flags.size), (STATUS_SUCCESS, 4));
        assert_eq!(flags.value, 0x201u32.to_le_bytes());
        let description = support(40);
        assert_eq!((description.status, description.size), (STATUS_SUCCESS, 40));
        assert_eq!(description.value[4..8], 40u32.to_le_bytes());
        assert_eq!(support(0).status, STATUS_BUFFER_OVERFLOW);
        assert_eq!(support(2).status, STATUS_BUFFER_TOO_SMALL);
    }

    #[test]
    fn the_port_names_what_it_handles() {
        assert!(handles(&KSPROPSETID_Pin, KSPROPERTY_PIN_NAME));
        assert!(!handles(&KSPROPSETID_Pin, 14));
        assert!(!handles(&KSPROPSETID_Pin, 4));
        assert!(handles(&KSPROPSETID_Topology, KSPROPERTY_TOPOLOGY_NAME));
        assert_eq!(property_name(&KSPROPSETID_Pin, 1), Some("Pin/CTYPES"));
        assert_eq!(property_name(&KSPROPSETID_Topology, 4), None);
    }
}
