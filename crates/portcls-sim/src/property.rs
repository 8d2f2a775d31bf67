//! Property requests as PortCls routes them to a miniport's automation tables, and a model of
//! what the Windows Audio Endpoint Builder asks before it creates an endpoint.
//!
//! [`Sim::property`] finds the table (the filter's for filter and pin requests, a node's for
//! node requests), the item for the set and id, checks the verb against the item's flags, builds
//! the `PCPROPERTY_REQUEST` and calls the handler. When the table has no such item, the pin and
//! topology properties PortCls handles itself are answered from the descriptor
//! ([`port_properties`]); anything else gets the status PortCls answers without one. Every
//! request is in the trace.
//!
//! [`Sim::endpoints`] asks what the endpoint builder asks, through those requests (the client's
//! side is [`ks_client`](crate::ks_client)): for each topology filter the pin count (`CTYPES`)
//! and each pin's `DATAFLOW`, `COMMUNICATION` and `CATEGORY`; for each external pin (a bridge
//! pin without a physical connection) both jack descriptions (size probe first), the filter's
//! `NODES` and `CONNECTIONS` to follow the path inwards, for each volume and mute node on it
//! the basic support (a `KSPROPERTY_DESCRIPTION`-sized query first, then the `DescriptionSize`
//! it names, as the audio stack asks) and the value of every channel, the pin's `NAME`; then,
//! across the physical connection, the wave filter's `CTYPES` and `CONNECTIONS` to its host
//! pin, that pin's `COMMUNICATION` and its `DATARANGES`, which must hold a PCM range. Any
//! malformed answer is an error naming the request and what is wrong with it, because Windows
//! would then show no endpoint. The answers are checked by [`parse_basic_support`],
//! [`parse_jack_description`], [`parse_jack_description2`] and the `ks_client` parsers, which
//! are plain functions over the bytes.

use std::mem::{offset_of, size_of};

use portcls_sys::ks::{
    KSDATAFORMAT_SUBTYPE_PCM, KSIDENTIFIER, KSJACK_DESCRIPTION, KSJACK_DESCRIPTION2,
    KSMULTIPLE_ITEM, KSNODETYPE_MICROPHONE, KSNODETYPE_MUTE, KSNODETYPE_PEAKMETER,
    KSNODETYPE_SPEAKER, KSNODETYPE_VOLUME, KSPIN_DATAFLOW_OUT, KSPROPERTY_AUDIO_MUTE,
    KSPROPERTY_AUDIO_PEAKMETER2, KSPROPERTY_AUDIO_VOLUMELEVEL, KSPROPERTY_BOUNDS_LONG_SIGNED,
    KSPROPERTY_DESCRIPTION, KSPROPERTY_JACK_DESCRIPTION, KSPROPERTY_JACK_DESCRIPTION2,
    KSPROPERTY_MEMBER_FLAG_BASICSUPPORT_MULTICHANNEL, KSPROPERTY_MEMBER_FLAG_BASICSUPPORT_UNIFORM,
    KSPROPERTY_MEMBER_STEPPEDRANGES, KSPROPERTY_MEMBERSHEADER, KSPROPERTY_STEPPING_LONG,
    KSPROPERTY_TYPE_BASICSUPPORT, KSPROPERTY_TYPE_GET, KSPROPERTY_TYPE_SET,
    KSPROPERTY_TYPE_TOPOLOGY, KSPROPSETID_Audio, KSPROPSETID_Jack, KSPROPTYPESETID_General,
    VT_BOOL, VT_I4,
};
use portcls_sys::wavert::{
    PCAUTOMATION_TABLE, PCFILTER_DESCRIPTOR, PCFILTER_NODE, PCNODE_DESCRIPTOR, PCPROPERTY_ITEM,
    PCPROPERTY_REQUEST,
};
use portcls_sys::{GUID, NTSTATUS, PDEVICE_OBJECT, STATUS_INVALID_PARAMETER, STATUS_SUCCESS};

use crate::adapter::PortKind;
use crate::ks_client::{Connection, PinFacts};
use crate::ks_rules::{item, read_guid};
use crate::{Ddi, Sim, Subdevice, guid_name, port_properties, status_name};

/// `STATUS_NOT_FOUND`: the table has no such property.
pub const STATUS_NOT_FOUND: NTSTATUS = 0xC000_0225_u32.cast_signed();
/// `STATUS_PROPSET_NOT_FOUND`: the table has no property of that set.
pub const STATUS_PROPSET_NOT_FOUND: NTSTATUS = 0xC000_0230_u32.cast_signed();
/// `STATUS_INVALID_DEVICE_REQUEST`: the item does not allow the verb.
pub const STATUS_INVALID_DEVICE_REQUEST: NTSTATUS = 0xC000_0010_u32.cast_signed();
/// `STATUS_BUFFER_OVERFLOW`: a size probe's answer.
pub const STATUS_BUFFER_OVERFLOW: NTSTATUS = 0x8000_0005_u32.cast_signed();

/// What a property request addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The filter itself.
    Filter,
    /// A pin, through the filter's table (`KSP_PIN`: the pin id is put in front of the
    /// instance data).
    Pin(u32),
    /// A node, through the node's table (`KSPROPERTY_TYPE_TOPOLOGY`).
    Node(u32),
}

/// The outcome of a property request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropertyOutcome {
    /// What the handler (or PortCls) returned.
    pub status: NTSTATUS,
    /// The `ValueSize` it reported (bytes written, or needed after a probe).
    pub size: u32,
    /// The value buffer after the call.
    pub value: Vec<u8>,
}

/// The direction of an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Audio leaves the device through the pin (speakers, headphones).
    Render,
    /// Audio enters the device through the pin (microphones, line in).
    Capture,
}

/// One stepped range of a basic-support answer (`KSPROPERTY_STEPPING_LONG`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SteppedRange {
    /// `SteppingDelta`.
    pub delta: u32,
    /// `Bounds.SignedMinimum`.
    pub minimum: i32,
    /// `Bounds.SignedMaximum`.
    pub maximum: i32,
}

/// One `KSJACK_DESCRIPTION`, as the endpoint builder reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JackDescription {
    /// `ChannelMapping` (`SPEAKER_*` bits).
    pub channel_mapping: u32,
    /// `Color` (0x00RRGGBB).
    pub color: u32,
    /// `ConnectionType` (`EPcxConnectionType`).
    pub connection_type: i32,
    /// `GeoLocation` (`EPcxGeoLocation`).
    pub geo_location: i32,
    /// `GenLocation` (`EPcxGenLocation`).
    pub gen_location: i32,
    /// `PortConnection` (`EPxcPortConnection`).
    pub port_connection: i32,
    /// `IsConnected`.
    pub connected: bool,
}

/// One `KSJACK_DESCRIPTION2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JackDescription2 {
    /// `DeviceStateInfo`.
    pub device_state: u32,
    /// `JackCapabilities` (`JACKDESC2_*`).
    pub capabilities: u32,
}

/// The kind of a control node on an endpoint's path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlKind {
    /// A `KSNODETYPE_VOLUME` node: `KSPROPERTY_AUDIO_VOLUMELEVEL`, `VT_I4` in 1/65536 dB.
    Volume,
    /// A `KSNODETYPE_MUTE` node: `KSPROPERTY_AUDIO_MUTE`, `VT_BOOL`.
    Mute,
    /// A `KSNODETYPE_PEAKMETER` node: `KSPROPERTY_AUDIO_PEAKMETER2`, `VT_I4`, read only (a
    /// GET returns the peak since the last one and clears it).
    PeakMeter,
}

impl ControlKind {
    /// The `KSPROPSETID_Audio` property of the control.
    #[must_use]
    pub const fn property(self) -> u32 {
        match self {
            Self::Volume => KSPROPERTY_AUDIO_VOLUMELEVEL,
            Self::Mute => KSPROPERTY_AUDIO_MUTE,
            Self::PeakMeter => KSPROPERTY_AUDIO_PEAKMETER2,
        }
    }

    /// The accesses its basic support must allow.
    #[must_use]
    pub const fn access(self) -> u32 {
        match self {
            Self::Volume | Self::Mute => {
                KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_SET | KSPROPERTY_TYPE_BASICSUPPORT
            }
            Self::PeakMeter => KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_BASICSUPPORT,
        }
    }

    /// The `VARENUM` its basic support must name.
    #[must_use]
    pub const fn value_type(self) -> u32 {
        match self {
            Self::Volume | Self::PeakMeter => VT_I4,
            Self::Mute => VT_BOOL,
        }
    }
}

/// A control node on an endpoint's path, as the endpoint builder found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlNode {
    /// What it controls.
    pub kind: ControlKind,
    /// Its node id in the topology filter.
    pub node: u32,
    /// Its range per channel (one entry for a uniform range).
    pub ranges: Vec<SteppedRange>,
    /// The current value of each channel.
    pub values: Vec<i32>,
}

/// What the endpoint builder found for one external pin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The topology subdevice.
    pub topology: String,
    /// Its external pin.
    pub pin: u32,
    /// Render or capture (whether the pin's data leaves the filter).
    pub flow: Flow,
    /// The pin's category (it names the endpoint's form factor).
    pub category: GUID,
    /// The endpoint's name: the pin's `KSPROPERTY_PIN_NAME` ("Speakers", "Microphone"), or,
    /// when KS finds none, one derived from the category (the GUID for unknown categories).
    pub name: String,
    /// The wave subdevice the path reaches, and its host pin.
    pub wave: (String, u32),
    /// The jack's `KSJACK_DESCRIPTION`.
    pub jack: JackDescription,
    /// The jack's `KSJACK_DESCRIPTION2`.
    pub jack2: JackDescription2,
    /// The control nodes on the path, from the external pin inwards.
    pub controls: Vec<ControlNode>,
    /// The host pin's data ranges, as `KSPROPERTY_PIN_DATARANGES` answered them.
    pub host_ranges: Vec<crate::ks_client::DataRange>,
}

impl Endpoint {
    /// Whether `KSJACK_DESCRIPTION::IsConnected` was TRUE.
    #[must_use]
    pub const fn connected(&self) -> bool {
        self.jack.connected
    }

    /// The control of `kind` on the path, if there is one.
    #[must_use]
    pub fn control(&self, kind: ControlKind) -> Option<&ControlNode> {
        self.controls.iter().find(|c| c.kind == kind)
    }
}

/// The endpoint name Windows shows for a pin category.
fn endpoint_name(category: &GUID) -> String {
    if *category == KSNODETYPE_SPEAKER {
        "Speakers".to_owned()
    } else if *category == KSNODETYPE_MICROPHONE {
        "Microphone".to_owned()
    } else {
        guid_name(category)
    }
}

/// The GUID whose bytes start at `at`.
pub(crate) fn guid_at(bytes: &[u8], at: usize) -> Option<GUID> {
    let raw: [u8; 16] = bytes.get(at..at + 16)?.try_into().ok()?;
    let (data1, rest) = raw.split_first_chunk::<4>()?;
    let (data2, rest) = rest.split_first_chunk::<2>()?;
    let (data3, data4) = rest.split_first_chunk::<2>()?;
    Some(GUID {
        Data1: u32::from_le_bytes(*data1),
        Data2: u16::from_le_bytes(*data2),
        Data3: u16::from_le_bytes(*data3),
        Data4: data4.try_into().ok()?,
    })
}

/// The little-endian `u32` at `at`, or an error naming `what` is missing.
pub(crate) fn word(bytes: &[u8], at: usize, what: &str) -> Result<u32, String> {
    bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| format!("{what} (byte {at}) lies beyond the {} bytes", bytes.len()))
}

/// Checks a full basic-support answer for a per-channel control whose value has type
/// `value_type`: a `KSPROPERTY_DESCRIPTION` allowing GET, SET and BASICSUPPORT, whose
/// `DescriptionSize` is the answer's size, with type set `KSPROPTYPESETID_General` and one
/// members list of stepped ranges (`KSPROPERTY_STEPPING_LONG`, minimum <= maximum, a non-zero
/// step that divides the range), one per channel (multichannel) or one for all (uniform).
/// Returns the ranges.
///
/// # Errors
/// What is wrong with the answer.
pub fn parse_basic_support(answer: &[u8], value_type: u32) -> Result<Vec<SteppedRange>, String> {
    let wanted = KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_SET | KSPROPERTY_TYPE_BASICSUPPORT;
    parse_basic_support_for(answer, value_type, wanted)
}

/// [`parse_basic_support`] for a property whose `AccessFlags` must include `wanted` (a read-only
/// control such as a peak meter allows GET and BASICSUPPORT only).
///
/// # Errors
/// What is wrong with the answer.
pub fn parse_basic_support_for(
    answer: &[u8],
    value_type: u32,
    wanted: u32,
) -> Result<Vec<SteppedRange>, String> {
    let description = size_of::<KSPROPERTY_DESCRIPTION>();
    if answer.len() < description {
        return Err(format!(
            "{} bytes cannot hold a KSPROPERTY_DESCRIPTION ({description})",
            answer.len()
        ));
    }
    let access = word(
        answer,
        offset_of!(KSPROPERTY_DESCRIPTION, AccessFlags),
        "AccessFlags",
    )?;
    if access & wanted != wanted {
        return Err(format!(
            "AccessFlags {access:#x} lack some of {wanted:#x} (GET 1, SET 2, BASICSUPPORT 0x200)"
        ));
    }
    let size = word(
        answer,
        offset_of!(KSPROPERTY_DESCRIPTION, DescriptionSize),
        "DescriptionSize",
    )?;
    if size as usize != answer.len() {
        return Err(format!(
            "DescriptionSize {size} is not the {} bytes answered",
            answer.len()
        ));
    }
    let type_set = offset_of!(KSPROPERTY_DESCRIPTION, PropTypeSet);
    let set = guid_at(answer, type_set + offset_of!(KSIDENTIFIER, Set))
        .ok_or("PropTypeSet.Set lies beyond the answer")?;
    let id = word(
        answer,
        type_set + offset_of!(KSIDENTIFIER, Id),
        "PropTypeSet.Id",
    )?;
    if set != KSPROPTYPESETID_General || id != value_type {
        return Err(format!(
            "PropTypeSet is {}/{id}, not KSPROPTYPESETID_General/{value_type}",
            guid_name(&set)
        ));
    }
    let lists = word(
        answer,
        offset_of!(KSPROPERTY_DESCRIPTION, MembersListCount),
        "MembersListCount",
    )?;
    if lists != 1 {
        return Err(format!("MembersListCount is {lists}, not 1"));
    }
    let header = description;
    let field = |offset: usize, what: &str| word(answer, header + offset, what);
    let kind = field(
        offset_of!(KSPROPERTY_MEMBERSHEADER, MembersFlags),
        "MembersFlags",
    )?;
    let member_size = field(
        offset_of!(KSPROPERTY_MEMBERSHEADER, MembersSize),
        "MembersSize",
    )?;
    let count = field(
        offset_of!(KSPROPERTY_MEMBERSHEADER, MembersCount),
        "MembersCount",
    )?;
    let flags = field(offset_of!(KSPROPERTY_MEMBERSHEADER, Flags), "members Flags")?;
    if kind != KSPROPERTY_MEMBER_STEPPEDRANGES {
        return Err(format!("MembersFlags {kind:#x} are not stepped ranges"));
    }
    let stepping = size_of::<KSPROPERTY_STEPPING_LONG>();
    if member_size as usize != stepping {
        return Err(format!(
            "MembersSize {member_size} is not a KSPROPERTY_STEPPING_LONG ({stepping})"
        ));
    }
    let uniform = flags & KSPROPERTY_MEMBER_FLAG_BASICSUPPORT_UNIFORM != 0;
    let multichannel = flags & KSPROPERTY_MEMBER_FLAG_BASICSUPPORT_MULTICHANNEL != 0;
    let single = uniform || !multichannel;
    if count == 0 || (single && count != 1) {
        return Err(format!(
            "{count} ranges with members Flags {flags:#x} (multichannel: one per channel; \
             uniform or neither: exactly one)"
        ));
    }
    let first = header + size_of::<KSPROPERTY_MEMBERSHEADER>();
    let end = first + count as usize * stepping;
    if end != answer.len() {
        return Err(format!(
            "{count} ranges end at byte {end}, the answer at {}",
            answer.len()
        ));
    }
    (0..count as usize)
        .map(|index| stepped_range(answer, first + index * stepping, index))
        .collect()
}

/// The `KSPROPERTY_STEPPING_LONG` at byte `at`, range number `index` of the list: a non-zero
/// step that divides a non-empty range.
fn stepped_range(answer: &[u8], at: usize, index: usize) -> Result<SteppedRange, String> {
    let bounds = offset_of!(KSPROPERTY_STEPPING_LONG, Bounds);
    let what = |name: &str| format!("range {index} {name}");
    let delta = word(
        answer,
        at + offset_of!(KSPROPERTY_STEPPING_LONG, SteppingDelta),
        &what("SteppingDelta"),
    )?;
    let minimum = word(
        answer,
        at + bounds + offset_of!(KSPROPERTY_BOUNDS_LONG_SIGNED, SignedMinimum),
        &what("SignedMinimum"),
    )?
    .cast_signed();
    let maximum = word(
        answer,
        at + bounds + offset_of!(KSPROPERTY_BOUNDS_LONG_SIGNED, SignedMaximum),
        &what("SignedMaximum"),
    )?
    .cast_signed();
    let span = i64::from(maximum) - i64::from(minimum);
    if delta == 0 || span < 0 || span % i64::from(delta) != 0 {
        return Err(format!(
            "range {index} is {minimum}..={maximum} in steps of {delta}: the step must be \
             non-zero and divide a non-empty range"
        ));
    }
    Ok(SteppedRange {
        delta,
        minimum,
        maximum,
    })
}

/// Checks the `KSMULTIPLE_ITEM` in front of a jack answer with entries of `entry` bytes:
/// `Size` is the whole answer, `Count` at least 1 and the entries fill the rest exactly.
/// Returns the count.
fn multiple_items(answer: &[u8], entry: usize) -> Result<usize, String> {
    let header = size_of::<KSMULTIPLE_ITEM>();
    let size = word(
        answer,
        offset_of!(KSMULTIPLE_ITEM, Size),
        "KSMULTIPLE_ITEM.Size",
    )?;
    let count = word(
        answer,
        offset_of!(KSMULTIPLE_ITEM, Count),
        "KSMULTIPLE_ITEM.Count",
    )?;
    if size as usize != answer.len() {
        return Err(format!(
            "KSMULTIPLE_ITEM.Size {size} is not the {} bytes answered",
            answer.len()
        ));
    }
    if count == 0 || header + count as usize * entry != answer.len() {
        return Err(format!(
            "KSMULTIPLE_ITEM.Count {count} entries of {entry} bytes do not fill the {} bytes",
            answer.len()
        ));
    }
    Ok(count as usize)
}

/// Checks a `KSPROPERTY_JACK_DESCRIPTION` answer (a `KSMULTIPLE_ITEM` and its
/// `KSJACK_DESCRIPTION`s: known connection type, location and port connection values, a `BOOL`
/// `IsConnected`, the colour's top byte 0) and returns the entries.
///
/// # Errors
/// What is wrong with the answer.
pub fn parse_jack_description(answer: &[u8]) -> Result<Vec<JackDescription>, String> {
    let entry = size_of::<KSJACK_DESCRIPTION>();
    let count = multiple_items(answer, entry)?;
    (0..count)
        .map(|index| {
            let at = size_of::<KSMULTIPLE_ITEM>() + index * entry;
            let field = |offset: usize, name: &str| {
                word(answer, at + offset, &format!("jack {index} {name}"))
            };
            let signed = |offset: usize, name: &str| field(offset, name).map(u32::cast_signed);
            let jack = JackDescription {
                channel_mapping: field(
                    offset_of!(KSJACK_DESCRIPTION, ChannelMapping),
                    "ChannelMapping",
                )?,
                color: field(offset_of!(KSJACK_DESCRIPTION, Color), "Color")?,
                connection_type: signed(
                    offset_of!(KSJACK_DESCRIPTION, ConnectionType),
                    "ConnectionType",
                )?,
                geo_location: signed(offset_of!(KSJACK_DESCRIPTION, GeoLocation), "GeoLocation")?,
                gen_location: signed(offset_of!(KSJACK_DESCRIPTION, GenLocation), "GenLocation")?,
                port_connection: signed(
                    offset_of!(KSJACK_DESCRIPTION, PortConnection),
                    "PortConnection",
                )?,
                connected: match field(offset_of!(KSJACK_DESCRIPTION, IsConnected), "IsConnected")?
                {
                    0 => false,
                    1 => true,
                    other => {
                        return Err(format!("jack {index} IsConnected is {other}, not a BOOL"));
                    }
                },
            };
            // The enumerations' ranges in ksmedia.h: eConnTypeUnknown..eConnTypeCombination,
            // eGeoLocRear..eGeoLocReserved6, eGenLocPrimaryBox..eGenLocOther,
            // ePortConnJack..ePortConnUnknown.
            let checks = [
                ("ConnectionType", jack.connection_type, 0..=11),
                ("GeoLocation", jack.geo_location, 1..=15),
                ("GenLocation", jack.gen_location, 0..=3),
                ("PortConnection", jack.port_connection, 0..=3),
            ];
            for (name, value, range) in checks {
                if !range.contains(&value) {
                    return Err(format!("jack {index} {name} {value} is outside {range:?}"));
                }
            }
            if jack.color >> 24 != 0 {
                return Err(format!(
                    "jack {index} Color {:#010x} is not 0x00RRGGBB",
                    jack.color
                ));
            }
            Ok(jack)
        })
        .collect()
}

/// Checks a `KSPROPERTY_JACK_DESCRIPTION2` answer (a `KSMULTIPLE_ITEM` and its
/// `KSJACK_DESCRIPTION2`s, capabilities among the two `JACKDESC2_*` bits) and returns the
/// entries.
///
/// # Errors
/// What is wrong with the answer.
pub fn parse_jack_description2(answer: &[u8]) -> Result<Vec<JackDescription2>, String> {
    let entry = size_of::<KSJACK_DESCRIPTION2>();
    let count = multiple_items(answer, entry)?;
    (0..count)
        .map(|index| {
            let at = size_of::<KSMULTIPLE_ITEM>() + index * entry;
            let jack = JackDescription2 {
                device_state: word(
                    answer,
                    at + offset_of!(KSJACK_DESCRIPTION2, DeviceStateInfo),
                    "DeviceStateInfo",
                )?,
                capabilities: word(
                    answer,
                    at + offset_of!(KSJACK_DESCRIPTION2, JackCapabilities),
                    "JackCapabilities",
                )?,
            };
            if jack.capabilities & !0x3 != 0 {
                return Err(format!(
                    "jack {index} JackCapabilities {:#x} has unknown bits",
                    jack.capabilities
                ));
            }
            Ok(jack)
        })
        .collect()
}

/// The node descriptors of a filter.
///
/// # Safety
/// `filter` is a live descriptor.
unsafe fn nodes(filter: &PCFILTER_DESCRIPTOR) -> Vec<PCNODE_DESCRIPTOR> {
    if filter.Nodes.is_null() {
        return Vec::new();
    }
    (0..filter.NodeCount)
        // SAFETY: as above.
        .map(|i| unsafe { item(filter.Nodes, filter.NodeSize, i) })
        .collect()
}

/// The item for `set`/`id` in `table`, or the status PortCls answers without one.
///
/// # Safety
/// `table` is null or a live automation table.
unsafe fn find_item(
    table: *const PCAUTOMATION_TABLE,
    set: &GUID,
    id: u32,
) -> Result<PCPROPERTY_ITEM, NTSTATUS> {
    if table.is_null() {
        return Err(STATUS_PROPSET_NOT_FOUND);
    }
    // SAFETY: caller's contract.
    let table = unsafe { table.read_unaligned() };
    if table.Properties.is_null() {
        return Err(STATUS_PROPSET_NOT_FOUND);
    }
    let items: Vec<PCPROPERTY_ITEM> = (0..table.PropertyCount)
        // SAFETY: `PropertyCount` items of `PropertyItemSize` bytes.
        .map(|i| unsafe { item(table.Properties, table.PropertyItemSize, i) })
        .collect();
    // SAFETY: the items' set GUIDs are the miniport's statics.
    let in_set = |it: &PCPROPERTY_ITEM| unsafe { read_guid(it.Set) }.as_ref() == Some(set);
    if !items.iter().any(in_set) {
        return Err(STATUS_PROPSET_NOT_FOUND);
    }
    items
        .into_iter()
        .find(|it| in_set(it) && it.Id == id)
        .ok_or(STATUS_NOT_FOUND)
}

/// Where a request for `target` goes: the automation table, the node id for the request, the
/// verb (with `KSPROPERTY_TYPE_TOPOLOGY` for a node) and the instance data (for a pin, the
/// `KSP_PIN`'s id and `Reserved` in front); `None` for a node the filter does not have.
fn route(
    filter: &PCFILTER_DESCRIPTOR,
    target: Target,
    verb: u32,
    instance: &[u8],
) -> Option<(*const PCAUTOMATION_TABLE, u32, u32, Vec<u8>)> {
    match target {
        Target::Filter => Some((
            filter.AutomationTable,
            PCFILTER_NODE,
            verb,
            instance.to_vec(),
        )),
        Target::Pin(pin) => {
            let mut data = pin.to_le_bytes().to_vec();
            data.extend_from_slice(&0u32.to_le_bytes());
            data.extend_from_slice(instance);
            Some((filter.AutomationTable, PCFILTER_NODE, verb, data))
        }
        Target::Node(index) => {
            // SAFETY: a live descriptor (the caller's).
            let nodes = unsafe { nodes(filter) };
            let node = nodes.get(index as usize)?;
            Some((
                node.AutomationTable,
                index,
                verb | KSPROPERTY_TYPE_TOPOLOGY,
                instance.to_vec(),
            ))
        }
    }
}

/// A property's name for the trace.
pub(crate) fn property_name(set: &GUID, id: u32) -> String {
    if let Some(name) = port_properties::property_name(set, id) {
        return name.to_owned();
    }
    match (*set, id) {
        (s, KSPROPERTY_AUDIO_VOLUMELEVEL) if s == KSPROPSETID_Audio => "Audio/VOLUMELEVEL".into(),
        (s, KSPROPERTY_AUDIO_MUTE) if s == KSPROPSETID_Audio => "Audio/MUTE".into(),
        (s, KSPROPERTY_AUDIO_PEAKMETER2) if s == KSPROPSETID_Audio => "Audio/PEAKMETER2".into(),
        (s, 1) if s == KSPROPSETID_Jack => "Jack/DESCRIPTION".into(),
        (s, 2) if s == KSPROPSETID_Jack => "Jack/DESCRIPTION2".into(),
        _ => format!("{}/{id}", guid_name(set)),
    }
}

fn verb_name(verb: u32) -> &'static str {
    match verb & !KSPROPERTY_TYPE_TOPOLOGY {
        KSPROPERTY_TYPE_GET => "GET",
        KSPROPERTY_TYPE_SET => "SET",
        KSPROPERTY_TYPE_BASICSUPPORT => "BASICSUPPORT",
        _ => "(other verb)",
    }
}

impl Sim {
    /// The registered subdevice named `name`.
    fn subdevice(&self, fdo: PDEVICE_OBJECT, name: &str) -> Option<Subdevice> {
        self.subdevices(fdo).into_iter().find(|s| s.name == name)
    }

    /// Sends a property request to subdevice `name` of the device, as PortCls does. `verb` is
    /// the `KSPROPERTY_TYPE_*` flags, `instance` the data after the property (for a pin, after
    /// the pin id), `value` the value buffer (its length is `ValueSize`; for SET its contents
    /// are the value).
    #[must_use]
    #[allow(clippy::too_many_arguments)] // the parts of a KS property request
    pub fn property(
        &self,
        fdo: PDEVICE_OBJECT,
        name: &str,
        target: Target,
        set: GUID,
        id: u32,
        verb: u32,
        instance: &[u8],
        value: &[u8],
    ) -> PropertyOutcome {
        // A property request is an access to the device: PortCls's idle timer restarts, and an
        // idled device returns to D0 first.
        self.note_access(fdo);
        let capacity = value.len();
        let refuse = |status| PropertyOutcome {
            status,
            size: 0,
            value: value.to_vec(),
        };
        let (Some(subdevice), Some(miniport)) =
            (self.subdevice(fdo, name), self.miniport(fdo, name))
        else {
            return refuse(STATUS_INVALID_PARAMETER);
        };
        // SAFETY: the miniport's descriptor, live while the device is.
        let filter = unsafe { &*subdevice.descriptor };
        let Some((table, node, verb, instance)) = route(filter, target, verb, instance) else {
            return refuse(STATUS_INVALID_PARAMETER);
        };
        let detail = format!(
            "{name} {target:?} {} {} ({capacity} bytes)",
            property_name(&set, id),
            verb_name(verb)
        );
        // SAFETY: the filter's or node's table, from the live descriptor.
        let found = unsafe { find_item(table, &set, id) };
        let allowed = found.and_then(|it| {
            let operation = verb & !KSPROPERTY_TYPE_TOPOLOGY;
            if it.Flags & operation == operation && operation != 0 {
                Ok(it)
            } else {
                Err(STATUS_INVALID_DEVICE_REQUEST)
            }
        });
        let property_item = match allowed {
            Ok(it) => it,
            Err(STATUS_PROPSET_NOT_FOUND | STATUS_NOT_FOUND)
                if !matches!(target, Target::Node(_)) && port_properties::handles(&set, id) =>
            {
                return self.port_answer(
                    fdo,
                    &subdevice,
                    filter,
                    &detail,
                    (set, id),
                    verb,
                    &instance,
                    capacity,
                );
            }
            Err(status) => {
                let status = self.world.lock().record(Ddi::Property, detail, status);
                return refuse(status);
            }
        };
        let Some(handler) = property_item.Handler else {
            // PortCls's default handling: nothing the miniport answers.
            let status = portcls_sys::STATUS_NOT_IMPLEMENTED;
            return refuse(self.world.lock().record(Ddi::Property, detail, status));
        };
        let call = Call {
            miniport,
            node,
            item: property_item,
            verb,
            instance: &instance,
            value,
        };
        let start = self.world.lock().trace.len();
        let entry = format!("PropertyHandler {}", property_name(&set, id));
        // SAFETY: the miniport's own handler for its own item.
        let (status, size, out) = unsafe { call.invoke(&self.world, &entry, handler) };
        let mut state = self.world.lock();
        // A successful answer never claims more than the buffer held.
        if status >= 0 && size as usize > capacity {
            state.violate(crate::Violation::PropertyContract {
                id,
                claimed: size,
                capacity: u32::try_from(capacity).unwrap_or(u32::MAX),
            });
        }
        state.record_at(
            start,
            Ddi::Property,
            format!("{detail} -> {size} bytes"),
            status,
        );
        PropertyOutcome {
            status,
            size,
            value: out,
        }
    }

    /// What PortCls answers itself (see [`port_properties`]), recorded in the trace as the
    /// miniport's answers are.
    #[allow(clippy::too_many_arguments)] // the parts of a KS property request
    fn port_answer(
        &self,
        fdo: PDEVICE_OBJECT,
        subdevice: &Subdevice,
        filter: &PCFILTER_DESCRIPTOR,
        detail: &str,
        (set, id): (GUID, u32),
        verb: u32,
        instance: &[u8],
        capacity: usize,
    ) -> PropertyOutcome {
        // SAFETY: the miniport's descriptor, live while the device is (the KS rules checked it
        // when the subdevice was registered).
        let view = unsafe { port_properties::FilterView::read(filter) };
        let open = |pin: u32| {
            self.world
                .lock()
                .streams
                .open_on(fdo.addr(), &subdevice.name, pin)
        };
        let answer = port_properties::answer(&view, &open, &set, id, verb, instance, capacity);
        let status = self.world.lock().record(
            Ddi::Property,
            format!("{detail} answered by the port -> {} bytes", answer.size),
            answer.status,
        );
        PropertyOutcome {
            status,
            size: answer.size,
            value: answer.value,
        }
    }

    /// Runs the endpoint builder's queries over the device and returns the endpoints Windows
    /// would create.
    ///
    /// # Errors
    /// A description of the first answer or descriptor that would stop endpoint creation.
    pub fn endpoints(&self, fdo: PDEVICE_OBJECT) -> Result<Vec<Endpoint>, String> {
        let subdevices = self.subdevices(fdo);
        let connections = self.physical_connections(fdo);
        let mut endpoints = Vec::new();
        for topology in subdevices.iter().filter(|s| s.kind == PortKind::Topology) {
            let name = &topology.name;
            for pin in 0..self.pin_count(fdo, name)? {
                let facts = self.pin_facts(fdo, name, pin)?;
                let wired = connections.iter().any(|c| {
                    (c.from == *name && c.from_pin == pin) || (c.to == *name && c.to_pin == pin)
                });
                if facts.is_bridge() && !wired {
                    endpoints.push(self.endpoint(fdo, name, pin, facts, &subdevices)?);
                }
            }
        }
        Ok(endpoints)
    }

    /// The endpoint of external pin `pin` of topology filter `name`: its jacks, the control
    /// nodes on the path inwards (from the filter's `NODES` and `CONNECTIONS`), and the wave
    /// filter's host pin behind it.
    fn endpoint(
        &self,
        fdo: PDEVICE_OBJECT,
        name: &str,
        pin: u32,
        facts: PinFacts,
        subdevices: &[Subdevice],
    ) -> Result<Endpoint, String> {
        let category = facts.category;
        let jack = self.jack(fdo, name, pin)?;
        let jack2 = self.jack2(fdo, name, pin)?;
        let node_types = self.topology_nodes(fdo, name)?;
        let edges = self.topology_connections(fdo, name)?;
        let (nodes_on_path, inner_pin) =
            path(&edges, pin).ok_or_else(|| format!("{name} pin {pin}: no path to another pin"))?;
        let mut controls = Vec::new();
        for node in nodes_on_path {
            let kind = match node_types.get(node as usize) {
                None => {
                    return Err(format!(
                        "{name}: Topology/CONNECTIONS name node {node} of {}",
                        node_types.len()
                    ));
                }
                Some(k) if *k == KSNODETYPE_VOLUME => ControlKind::Volume,
                Some(k) if *k == KSNODETYPE_MUTE => ControlKind::Mute,
                Some(k) if *k == KSNODETYPE_PEAKMETER => ControlKind::PeakMeter,
                Some(_) => continue,
            };
            controls.push(self.control(fdo, name, node, kind)?);
        }
        let (wave, host_ranges) = self.wave_behind(fdo, name, inner_pin, subdevices)?;
        let flow = if facts.data_flow == KSPIN_DATAFLOW_OUT.0.cast_unsigned() {
            Flow::Render
        } else {
            Flow::Capture
        };
        let pin_name = self.pin_name(fdo, name, pin)?;
        Ok(Endpoint {
            topology: name.to_owned(),
            pin,
            flow,
            category,
            name: pin_name.unwrap_or_else(|| endpoint_name(&category)),
            wave,
            jack,
            jack2,
            controls,
            host_ranges,
        })
    }

    /// A jack property of an external pin: a size probe, then a GET of that size. Returns
    /// the answer's bytes.
    fn jack_answer(
        &self,
        fdo: PDEVICE_OBJECT,
        name: &str,
        pin: u32,
        id: u32,
    ) -> Result<Vec<u8>, String> {
        let what = format!("{name} pin {pin}: {}", property_name(&KSPROPSETID_Jack, id));
        let get = |value: Vec<u8>| {
            self.property(
                fdo,
                name,
                Target::Pin(pin),
                KSPROPSETID_Jack,
                id,
                KSPROPERTY_TYPE_GET,
                &[],
                &value,
            )
        };
        let probe = get(Vec::new());
        if probe.status != STATUS_BUFFER_OVERFLOW || probe.size == 0 || probe.size > 0x1_0000 {
            return Err(format!(
                "{what}: the size probe answered {} with {} bytes (wanted STATUS_BUFFER_OVERFLOW \
                 and the size)",
                status_name(probe.status),
                probe.size
            ));
        }
        let answer = get(vec![0; probe.size as usize]);
        if answer.status != STATUS_SUCCESS || answer.size != probe.size {
            return Err(format!(
                "{what}: a GET of the {} bytes the probe named answered {} with {} bytes",
                probe.size,
                status_name(answer.status),
                answer.size
            ));
        }
        Ok(answer.value)
    }

    /// The jack description of an external pin (exactly one jack).
    fn jack(&self, fdo: PDEVICE_OBJECT, name: &str, pin: u32) -> Result<JackDescription, String> {
        let answer = self.jack_answer(fdo, name, pin, KSPROPERTY_JACK_DESCRIPTION)?;
        let what = format!("{name} pin {pin}: Jack/DESCRIPTION");
        match parse_jack_description(&answer).map_err(|e| format!("{what}: {e}"))?[..] {
            [jack] => Ok(jack),
            ref jacks => Err(format!("{what}: {} jacks, expected 1", jacks.len())),
        }
    }

    /// The second jack description of an external pin (as many entries as the first).
    fn jack2(&self, fdo: PDEVICE_OBJECT, name: &str, pin: u32) -> Result<JackDescription2, String> {
        let answer = self.jack_answer(fdo, name, pin, KSPROPERTY_JACK_DESCRIPTION2)?;
        let what = format!("{name} pin {pin}: Jack/DESCRIPTION2");
        match parse_jack_description2(&answer).map_err(|e| format!("{what}: {e}"))?[..] {
            [jack] => Ok(jack),
            ref jacks => Err(format!("{what}: {} jacks, expected 1", jacks.len())),
        }
    }

    /// A control node: its basic support (a description-sized query, then the size it names)
    /// and the value of each channel, each written back as the builder does when it restores
    /// settings.
    fn control(
        &self,
        fdo: PDEVICE_OBJECT,
        name: &str,
        node: u32,
        kind: ControlKind,
    ) -> Result<ControlNode, String> {
        let id = kind.property();
        let what = format!(
            "{name} node {node}: {}",
            property_name(&KSPROPSETID_Audio, id)
        );
        let ask = |verb, instance: &[u8], value: Vec<u8>| {
            self.property(
                fdo,
                name,
                Target::Node(node),
                KSPROPSETID_Audio,
                id,
                verb,
                instance,
                &value,
            )
        };
        let head = ask(
            KSPROPERTY_TYPE_BASICSUPPORT,
            &[],
            vec![0; size_of::<KSPROPERTY_DESCRIPTION>()],
        );
        let full_size = word(
            &head.value,
            offset_of!(KSPROPERTY_DESCRIPTION, DescriptionSize),
            "DescriptionSize",
        )?;
        if head.status != STATUS_SUCCESS
            || head.size as usize != size_of::<KSPROPERTY_DESCRIPTION>()
            || full_size as usize <= size_of::<KSPROPERTY_DESCRIPTION>()
            || full_size > 0x1_0000
        {
            return Err(format!(
                "{what}: basic support into a KSPROPERTY_DESCRIPTION answered {} with {} bytes, \
                 DescriptionSize {full_size}",
                status_name(head.status),
                head.size
            ));
        }
        let support = ask(
            KSPROPERTY_TYPE_BASICSUPPORT,
            &[],
            vec![0; full_size as usize],
        );
        if support.status != STATUS_SUCCESS || support.size != full_size {
            return Err(format!(
                "{what}: basic support into {full_size} bytes answered {} with {} bytes",
                status_name(support.status),
                support.size
            ));
        }
        let ranges = parse_basic_support_for(&support.value, kind.value_type(), kind.access())
            .map_err(|e| format!("{what}: basic support: {e}"))?;
        let mut values = Vec::with_capacity(ranges.len());
        for (channel, range) in ranges.iter().enumerate() {
            let mut instance = i32::try_from(channel).unwrap_or(-1).to_le_bytes().to_vec();
            instance.extend_from_slice(&0u32.to_le_bytes());
            let value = ask(KSPROPERTY_TYPE_GET, &instance, vec![0; 4]);
            let level = word(&value.value, 0, "value").map(u32::cast_signed)?;
            if value.status != STATUS_SUCCESS
                || value.size != 4
                || !(range.minimum..=range.maximum).contains(&level)
            {
                return Err(format!(
                    "{what}: GET of channel {channel} answered {} with {} bytes, value {level} \
                     (range {}..={})",
                    status_name(value.status),
                    value.size,
                    range.minimum,
                    range.maximum
                ));
            }
            if kind == ControlKind::PeakMeter {
                values.push(level);
                continue;
            }
            let set = ask(KSPROPERTY_TYPE_SET, &instance, value.value);
            if set.status != STATUS_SUCCESS {
                return Err(format!(
                    "{what}: SET of channel {channel} to its own value answered {}",
                    status_name(set.status)
                ));
            }
            values.push(level);
        }
        Ok(ControlNode {
            kind,
            node,
            ranges,
            values,
        })
    }

    /// The wave subdevice wired to `pin` of topology `name`, its host pin (one that
    /// instances are made on, found by the wave filter's `CONNECTIONS`) and the host pin's data
    /// ranges (at least one PCM range).
    fn wave_behind(
        &self,
        fdo: PDEVICE_OBJECT,
        name: &str,
        pin: u32,
        subdevices: &[Subdevice],
    ) -> Result<((String, u32), Vec<crate::ks_client::DataRange>), String> {
        let connections = self.physical_connections(fdo);
        let (wave, wave_pin) = connections
            .iter()
            .find_map(|c| {
                if c.from == name && c.from_pin == pin {
                    Some((c.to.clone(), c.to_pin))
                } else if c.to == name && c.to_pin == pin {
                    Some((c.from.clone(), c.from_pin))
                } else {
                    None
                }
            })
            .ok_or_else(|| format!("{name} pin {pin}: no physical connection to a wave filter"))?;
        if !subdevices
            .iter()
            .any(|s| s.name == wave && s.kind == PortKind::WaveRt)
        {
            return Err(format!(
                "{name} pin {pin} is wired to {wave}, not a WaveRT filter"
            ));
        }
        let pins = self.pin_count(fdo, &wave)?;
        let edges = self.topology_connections(fdo, &wave)?;
        let (_, host) = path(&edges, wave_pin)
            .filter(|&(_, host)| host < pins)
            .ok_or_else(|| format!("{wave} pin {wave_pin}: no path to a host pin"))?;
        if !self.pin_facts(fdo, &wave, host)?.is_host() {
            return Err(format!("{wave} pin {host} is not a host pin"));
        }
        let ranges = self.pin_data_ranges(fdo, &wave, host)?;
        if !ranges
            .iter()
            .any(|r| r.sub_format == KSDATAFORMAT_SUBTYPE_PCM)
        {
            return Err(format!("{wave} pin {host}: no PCM data range"));
        }
        Ok(((wave, host), ranges))
    }
}

/// One request, ready to hand to a handler.
struct Call<'a> {
    miniport: portcls_sys::PUNKNOWN,
    node: u32,
    item: PCPROPERTY_ITEM,
    verb: u32,
    instance: &'a [u8],
    value: &'a [u8],
}

impl Call<'_> {
    /// Builds the `PCPROPERTY_REQUEST` over aligned copies of the buffers (as the IRP's system
    /// buffer is) and calls `handler` (measured as `entry`): its status, the `ValueSize` it
    /// reported, the value after.
    ///
    /// # Safety
    /// `handler` is the miniport's handler for `item`, and `miniport` its live `IUnknown`.
    unsafe fn invoke(
        &self,
        world: &crate::world::World,
        entry: &str,
        handler: portcls_sys::kernel_abi!(unsafe fn(*mut PCPROPERTY_REQUEST) -> NTSTATUS),
    ) -> (NTSTATUS, u32, Vec<u8>) {
        let capacity = self.value.len();
        let mut value_storage = vec![0u64; capacity.div_ceil(8).max(1)];
        let value_bytes = value_storage.as_mut_ptr().cast::<u8>();
        // SAFETY: the storage holds at least `capacity` bytes; no overlap.
        unsafe { std::ptr::copy_nonoverlapping(self.value.as_ptr(), value_bytes, capacity) };
        let mut instance_storage = vec![0u64; self.instance.len().div_ceil(8).max(1)];
        let instance_bytes = instance_storage.as_mut_ptr().cast::<u8>();
        // SAFETY: as above.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.instance.as_ptr(),
                instance_bytes,
                self.instance.len(),
            );
        }
        let mut request = PCPROPERTY_REQUEST {
            MajorTarget: self.miniport,
            MinorTarget: std::ptr::null_mut(),
            Node: self.node,
            PropertyItem: &raw const self.item,
            Verb: self.verb,
            InstanceSize: u32::try_from(self.instance.len()).unwrap_or(u32::MAX),
            Instance: if self.instance.is_empty() {
                std::ptr::null_mut()
            } else {
                instance_bytes.cast()
            },
            ValueSize: u32::try_from(capacity).unwrap_or(u32::MAX),
            Value: if capacity == 0 {
                std::ptr::null_mut()
            } else {
                value_bytes.cast()
            },
            Irp: std::ptr::null_mut(),
        };
        let args = (&raw mut request,);
        // SAFETY: caller's contract; the request and its buffers live through the call.
        let status = unsafe { crate::stack::call_driver(world, entry, handler, args) };
        let mut out = vec![0u8; capacity];
        // SAFETY: the storage holds `capacity` bytes.
        unsafe { std::ptr::copy_nonoverlapping(value_bytes, out.as_mut_ptr(), capacity) };
        (status, request.ValueSize, out)
    }
}

/// From filter pin `start`, follows the filter's connections to the next filter pin: the
/// nodes passed, in order, and that pin. `None` if the path ends or loops.
fn path(connections: &[Connection], start: u32) -> Option<(Vec<u32>, u32)> {
    let edges: Vec<(u32, u32, u32, u32)> = connections
        .iter()
        .map(|c| (c.from_node, c.from_pin, c.to_node, c.to_pin))
        .collect();
    let mut nodes = Vec::new();
    let mut used = vec![false; edges.len()];
    let (mut node, mut pin) = (PCFILTER_NODE, start);
    loop {
        // An unused edge touching (node, pin) — or, inside a node, touching the node at all.
        let next = edges.iter().enumerate().find(|(i, (fn_, fp, tn, tp))| {
            !used[*i]
                && if node == PCFILTER_NODE {
                    (*fn_ == node && *fp == pin) || (*tn == node && *tp == pin)
                } else {
                    *fn_ == node || *tn == node
                }
        });
        let (index, &(from_node, from_pin, to_node, to_pin)) = next?;
        used[index] = true;
        let (other_node, other_pin) =
            if from_node == node && (node != PCFILTER_NODE || from_pin == pin) {
                (to_node, to_pin)
            } else {
                (from_node, from_pin)
            };
        if other_node == PCFILTER_NODE {
            return Some((nodes, other_pin));
        }
        if nodes.contains(&other_node) {
            return None;
        }
        nodes.push(other_node);
        node = other_node;
        pin = other_pin;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(bytes: &mut [u8], at: usize, value: u32) {
        bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }

    /// A well-formed volume basic support: -96..0 dB in 0.5 dB steps on two channels.
    fn volume_support() -> Vec<u8> {
        let mut out = vec![0u8; 88];
        put(&mut out, 0, 0x203);
        put(&mut out, 4, 88);
        let set = KSPROPTYPESETID_General;
        out[8..12].copy_from_slice(&set.Data1.to_le_bytes());
        out[12..14].copy_from_slice(&set.Data2.to_le_bytes());
        out[14..16].copy_from_slice(&set.Data3.to_le_bytes());
        out[16..24].copy_from_slice(&set.Data4);
        put(&mut out, 24, VT_I4);
        put(&mut out, 32, 1);
        put(&mut out, 40, KSPROPERTY_MEMBER_STEPPEDRANGES);
        put(&mut out, 44, 16);
        put(&mut out, 48, 2);
        put(
            &mut out,
            52,
            KSPROPERTY_MEMBER_FLAG_BASICSUPPORT_MULTICHANNEL,
        );
        for at in [56, 72] {
            put(&mut out, at, 32_768);
            put(&mut out, at + 8, (-96i32 * 65_536).cast_unsigned());
            put(&mut out, at + 12, 0);
        }
        out
    }

    fn jack_answer() -> Vec<u8> {
        let mut out = vec![0u8; 36];
        for (i, v) in [36, 1, 3, 0x00FF_C0CB, 1, 2, 0, 0, 1]
            .into_iter()
            .enumerate()
        {
            put(&mut out, 4 * i, v);
        }
        out
    }

    fn rejects(answer: &[u8], needle: &str) {
        let error = parse_basic_support(answer, VT_I4).unwrap_err();
        assert!(error.contains(needle), "{error:?} lacks {needle:?}");
    }

    #[test]
    fn a_well_formed_basic_support_gives_its_ranges() {
        let ranges = parse_basic_support(&volume_support(), VT_I4).unwrap();
        let range = SteppedRange {
            delta: 32_768,
            minimum: -96 * 65_536,
            maximum: 0,
        };
        assert_eq!(ranges, [range, range]);
    }

    #[test]
    fn malformed_basic_support_answers_are_named() {
        let good = volume_support();
        rejects(&good[..39], "cannot hold a KSPROPERTY_DESCRIPTION");
        rejects(&good[..40], "DescriptionSize 88");
        let mut bad = good.clone();
        put(
            &mut bad,
            0,
            KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_BASICSUPPORT,
        );
        rejects(&bad, "AccessFlags");
        let mut bad = good.clone();
        put(&mut bad, 4, 90);
        rejects(&bad, "DescriptionSize 90");
        let mut bad = good.clone();
        bad[8] ^= 1;
        rejects(&bad, "PropTypeSet");
        assert!(
            parse_basic_support(&good, VT_BOOL)
                .unwrap_err()
                .contains("PropTypeSet")
        );
        let mut bad = good.clone();
        put(&mut bad, 32, 0);
        rejects(&bad, "MembersListCount");
        let mut bad = good.clone();
        put(&mut bad, 40, 1);
        rejects(&bad, "stepped ranges");
        let mut bad = good.clone();
        put(&mut bad, 44, 12);
        rejects(&bad, "MembersSize 12");
        let mut bad = good.clone();
        put(&mut bad, 48, 3);
        rejects(&bad, "end at byte 104");
        let mut bad = good.clone();
        put(&mut bad, 52, KSPROPERTY_MEMBER_FLAG_BASICSUPPORT_UNIFORM);
        rejects(&bad, "exactly one");
        let mut bad = good.clone();
        put(&mut bad, 72, 0);
        rejects(&bad, "range 1");
        let mut bad = good.clone();
        put(&mut bad, 56, 65_535);
        rejects(&bad, "range 0");
        let mut bad = good;
        put(&mut bad, 64, 1);
        rejects(&bad, "range 0 is 1..=0");
    }

    #[test]
    fn a_uniform_basic_support_has_one_range() {
        let mut uniform = volume_support();
        uniform.truncate(72);
        put(&mut uniform, 4, 72);
        put(&mut uniform, 48, 1);
        put(
            &mut uniform,
            52,
            KSPROPERTY_MEMBER_FLAG_BASICSUPPORT_UNIFORM,
        );
        assert_eq!(parse_basic_support(&uniform, VT_I4).unwrap().len(), 1);
    }

    #[test]
    fn jack_descriptions_are_checked_field_by_field() {
        let jacks = parse_jack_description(&jack_answer()).unwrap();
        assert_eq!(
            jacks,
            [JackDescription {
                channel_mapping: 3,
                color: 0x00FF_C0CB,
                connection_type: 1,
                geo_location: 2,
                gen_location: 0,
                port_connection: 0,
                connected: true,
            }]
        );
        let fails = |at: usize, value: u32, needle: &str| {
            let mut bad = jack_answer();
            put(&mut bad, at, value);
            let error = parse_jack_description(&bad).unwrap_err();
            assert!(error.contains(needle), "{error:?} lacks {needle:?}");
        };
        fails(0, 28, "Size 28");
        fails(4, 0, "Count 0");
        fails(4, 2, "Count 2");
        fails(12, 0xFF00_0000, "Color");
        fails(16, 12, "ConnectionType 12");
        fails(20, 0, "GeoLocation 0");
        fails(24, 4, "GenLocation 4");
        fails(28, 9, "PortConnection 9");
        fails(32, 2, "IsConnected is 2");
        // Without the KSMULTIPLE_ITEM header (a bare KSJACK_DESCRIPTION).
        assert!(parse_jack_description(&jack_answer()[8..]).is_err());
        assert!(parse_jack_description(&[]).unwrap_err().contains("beyond"));
    }

    #[test]
    fn second_jack_descriptions_are_checked() {
        let mut answer = vec![0u8; 16];
        put(&mut answer, 0, 16);
        put(&mut answer, 4, 1);
        put(&mut answer, 12, 1);
        assert_eq!(
            parse_jack_description2(&answer).unwrap(),
            [JackDescription2 {
                device_state: 0,
                capabilities: 1
            }]
        );
        put(&mut answer, 12, 4);
        assert!(
            parse_jack_description2(&answer)
                .unwrap_err()
                .contains("unknown bits")
        );
        put(&mut answer, 12, 0);
        put(&mut answer, 0, 20);
        assert!(
            parse_jack_description2(&answer)
                .unwrap_err()
                .contains("Size 20")
        );
    }

    #[test]
    fn guids_read_from_bytes_match_the_constants() {
        let support = volume_support();
        assert_eq!(guid_at(&support, 8), Some(KSPROPTYPESETID_General));
        assert_eq!(guid_at(&support, 80), None);
    }

    #[test]
    fn endpoint_names_follow_the_pin_category() {
        assert_eq!(endpoint_name(&KSNODETYPE_SPEAKER), "Speakers");
        assert_eq!(endpoint_name(&KSNODETYPE_MICROPHONE), "Microphone");
        assert_eq!(
            endpoint_name(&KSNODETYPE_VOLUME),
            guid_name(&KSNODETYPE_VOLUME)
        );
    }
}
