//! The rules a miniport's filter descriptor must follow before Windows will build endpoints
//! from it, checked on the raw `PCFILTER_DESCRIPTOR` the miniport hands PortCls.
//!
//! [`check_filter`] walks the descriptor the way PortCls and the audio endpoint builder do:
//! through its pointers, with its stated counts and item sizes, and reports every breach it
//! finds as a [`KsRuleBreach`]. The rules come from the `portcls.h` / `ks.h` documentation and
//! from what endpoint creation needs:
//!
//! - **Shape**: a non-zero count needs a non-null array; `PinSize`, `NodeSize` and the
//!   automation tables' item sizes are a multiple of 8 and at least the structure's size (larger
//!   sizes are allowed, and the arrays are walked with them); a filter has pins.
//! - **Pins**: a known data flow (in or out) and communication; a category; a bridge pin
//!   (communication `NONE` or `BRIDGE`) has all instance counts 0 and no automation table; a
//!   host pin (`SINK`, `SOURCE` or `BOTH`) can be instantiated at least once per filter and
//!   system-wide, and needs no more instances than it allows, and offers at least one PCM range.
//! - **Data ranges**: at least one per pin, none null; `FormatSize` is 64 (`KSDATARANGE`) or
//!   88 (`KSDATARANGE_AUDIO`, whose unpadded 84 is a known trap); an audio range has major
//!   format audio, the `WAVEFORMATEX` specifier, at least one channel and limits in order; a
//!   range with the `WAVEFORMATEX` specifier is a full audio range. A range flagged
//!   `KSDATARANGE_ATTRIBUTES` is followed in the array by its `KSATTRIBUTE_LIST` (counted in
//!   `DataRangesCount`, as KS reads the array): the entry must exist and be a list of at least
//!   one attribute, none null, each at least a `KSATTRIBUTE` ([`data_range_entries`] walks the
//!   array the same way for the rest of the model).
//! - **Nodes**: a node type that is neither null nor `GUID_NULL`.
//! - **Automation tables** (filter, pins, nodes): every property, method and event item names a
//!   set and a handler; property and event items have flags.
//! - **Connections**: pins and nodes in range; a connection leaves a filter pin only from an
//!   input pin and enters one only at an output pin; the simple nodes (volume, mute) are entered
//!   at pin 1 (`KSNODEPIN_STANDARD_IN`) and left at pin 0 (`KSNODEPIN_STANDARD_OUT`).
//! - **Paths**: every pin lies on a path of connections from an input pin to an output pin,
//!   and a host pin's path leads to (render) or comes from (capture) a bridge pin.
//!
//! What cannot be seen without reading memory the descriptor does not promise (the contents of
//! an array whose item size is wrong) is reported once and not walked.

use std::fmt;
use std::mem::size_of;

use portcls_sys::GUID;
use portcls_sys::ks::{
    GUID_NULL, KSATTRIBUTE, KSATTRIBUTE_LIST, KSDATAFORMAT_SPECIFIER_WAVEFORMATEX,
    KSDATAFORMAT_SUBTYPE_PCM, KSDATAFORMAT_TYPE_AUDIO, KSDATARANGE, KSDATARANGE_ATTRIBUTES,
    KSDATARANGE_AUDIO, KSNODETYPE_MUTE, KSNODETYPE_PEAKMETER, KSNODETYPE_VOLUME,
    KSPIN_COMMUNICATION_BOTH, KSPIN_COMMUNICATION_BRIDGE, KSPIN_COMMUNICATION_NONE,
    KSPIN_COMMUNICATION_SINK, KSPIN_COMMUNICATION_SOURCE, KSPIN_DATAFLOW_IN, KSPIN_DATAFLOW_OUT,
    KSPIN_DESCRIPTOR, PKSATTRIBUTE, PKSATTRIBUTE_LIST, PKSDATARANGE,
};
use portcls_sys::wavert::{
    PCAUTOMATION_TABLE, PCCONNECTION_DESCRIPTOR, PCEVENT_ITEM, PCFILTER_DESCRIPTOR, PCFILTER_NODE,
    PCMETHOD_ITEM, PCNODE_DESCRIPTOR, PCPIN_DESCRIPTOR, PCPROPERTY_ITEM,
};

/// `sizeof(KSDATARANGE)`.
const DATARANGE_SIZE: u32 = 64;
/// `sizeof(KSDATARANGE_AUDIO)`: 84 bytes of fields padded to the 8-byte alignment.
const DATARANGE_AUDIO_SIZE: u32 = 88;
/// The node pin a connection enters a simple node at (`KSNODEPIN_STANDARD_IN`).
const NODE_PIN_IN: u32 = 1;
/// The node pin a connection leaves a simple node from (`KSNODEPIN_STANDARD_OUT`).
const NODE_PIN_OUT: u32 = 0;

/// Whose automation table an item belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TableOwner {
    /// The filter's own table.
    Filter,
    /// A pin's table.
    Pin(u32),
    /// A node's table.
    Node(u32),
}

impl fmt::Display for TableOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Filter => f.write_str("the filter's automation table"),
            Self::Pin(pin) => write!(f, "pin {pin}'s automation table"),
            Self::Node(node) => write!(f, "node {node}'s automation table"),
        }
    }
}

/// The kind of an automation-table item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ItemKind {
    /// A `PCPROPERTY_ITEM`.
    Property,
    /// A `PCMETHOD_ITEM`.
    Method,
    /// A `PCEVENT_ITEM`.
    Event,
}

impl fmt::Display for ItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Property => "property",
            Self::Method => "method",
            Self::Event => "event",
        })
    }
}

/// An array a descriptor points to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Array {
    /// The filter's `Pins`.
    Pins,
    /// The filter's `Nodes`.
    Nodes,
    /// The filter's `Connections`.
    Connections,
    /// The filter's `Categories`.
    Categories,
    /// A pin's `Interfaces`.
    Interfaces(u32),
    /// A pin's `Mediums`.
    Mediums(u32),
    /// A pin's `DataRanges`.
    DataRanges(u32),
    /// The items of one kind in an automation table.
    Items(TableOwner, ItemKind),
}

impl fmt::Display for Array {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pins => f.write_str("the filter's Pins"),
            Self::Nodes => f.write_str("the filter's Nodes"),
            Self::Connections => f.write_str("the filter's Connections"),
            Self::Categories => f.write_str("the filter's Categories"),
            Self::Interfaces(pin) => write!(f, "pin {pin}'s Interfaces"),
            Self::Mediums(pin) => write!(f, "pin {pin}'s Mediums"),
            Self::DataRanges(pin) => write!(f, "pin {pin}'s DataRanges"),
            Self::Items(owner, kind) => write!(f, "the {kind} items of {owner}"),
        }
    }
}

/// Which end of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum End {
    /// `FromNode` / `FromNodePin`.
    From,
    /// `ToNode` / `ToNodePin`.
    To,
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::From => "leaves",
            Self::To => "enters",
        })
    }
}

/// One breach of the rules (see the [module documentation](self)).
///
/// Pins, nodes, connections and data ranges are named by their index in their array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KsRuleBreach {
    /// The descriptor pointer itself is null.
    NullDescriptor,
    /// An array is null although its count is not 0.
    NullArray {
        /// The array.
        array: Array,
        /// Its count.
        count: u32,
    },
    /// An item size is below the structure's size or not a multiple of 8; the array is not
    /// walked.
    ItemSize {
        /// The array.
        array: Array,
        /// The stated size.
        found: u32,
        /// The structure's size.
        minimum: u32,
    },
    /// The filter has no pins.
    NoPins,
    /// A pin's data flow is neither `KSPIN_DATAFLOW_IN` nor `KSPIN_DATAFLOW_OUT`.
    PinDataFlow {
        /// The pin.
        pin: u32,
        /// The value found.
        value: i32,
    },
    /// A pin's communication is not a `KSPIN_COMMUNICATION_*` value.
    PinCommunication {
        /// The pin.
        pin: u32,
        /// The value found.
        value: i32,
    },
    /// A pin has no category (null, or `GUID_NULL`): the endpoint builder names endpoints by it.
    PinWithoutCategory {
        /// The pin.
        pin: u32,
    },
    /// A bridge pin has a non-zero instance count.
    BridgePinInstances {
        /// The pin.
        pin: u32,
        /// `MaxGlobalInstanceCount`.
        max_global: u32,
        /// `MaxFilterInstanceCount`.
        max_filter: u32,
        /// `MinFilterInstanceCount`.
        min_filter: u32,
    },
    /// A host pin cannot be instantiated (a maximum of 0) or needs more instances than it
    /// allows.
    HostPinInstances {
        /// The pin.
        pin: u32,
        /// `MaxGlobalInstanceCount`.
        max_global: u32,
        /// `MaxFilterInstanceCount`.
        max_filter: u32,
        /// `MinFilterInstanceCount`.
        min_filter: u32,
    },
    /// A bridge pin has an automation table (bridge pins are never instantiated).
    BridgePinAutomationTable {
        /// The pin.
        pin: u32,
    },
    /// A pin has no data ranges.
    NoDataRanges {
        /// The pin.
        pin: u32,
    },
    /// A range flagged `KSDATARANGE_ATTRIBUTES` is the array's last entry: its attribute list
    /// is missing.
    MissingAttributeList {
        /// The pin.
        pin: u32,
        /// The flagged range's entry.
        range: u32,
    },
    /// The attribute list after a flagged range is null, empty, or holds a null attribute or
    /// one smaller than a `KSATTRIBUTE`.
    BadAttributeList {
        /// The pin.
        pin: u32,
        /// The list's entry.
        entry: u32,
        /// What is wrong.
        problem: &'static str,
    },
    /// An entry of a pin's `DataRanges` is null.
    NullDataRange {
        /// The pin.
        pin: u32,
        /// The entry.
        range: u32,
    },
    /// A data range's `FormatSize` is neither 64 (`KSDATARANGE`) nor 88 (`KSDATARANGE_AUDIO`).
    DataRangeSize {
        /// The pin.
        pin: u32,
        /// The entry.
        range: u32,
        /// The stated `FormatSize`.
        found: u32,
    },
    /// A range with the `WAVEFORMATEX` specifier is only a 64-byte `KSDATARANGE`: its audio
    /// limits are missing.
    AudioRangeWithoutLimits {
        /// The pin.
        pin: u32,
        /// The entry.
        range: u32,
    },
    /// An audio range's major format is not `KSDATAFORMAT_TYPE_AUDIO`.
    AudioRangeMajorFormat {
        /// The pin.
        pin: u32,
        /// The entry.
        range: u32,
    },
    /// An audio range's specifier is not `KSDATAFORMAT_SPECIFIER_WAVEFORMATEX`.
    AudioRangeSpecifier {
        /// The pin.
        pin: u32,
        /// The entry.
        range: u32,
    },
    /// An audio range allows no channel.
    AudioRangeNoChannels {
        /// The pin.
        pin: u32,
        /// The entry.
        range: u32,
    },
    /// An audio range's minimum bits per sample exceed its maximum.
    AudioRangeBits {
        /// The pin.
        pin: u32,
        /// The entry.
        range: u32,
        /// `MinimumBitsPerSample`.
        min: u32,
        /// `MaximumBitsPerSample`.
        max: u32,
    },
    /// An audio range's minimum sample rate exceeds its maximum.
    AudioRangeRates {
        /// The pin.
        pin: u32,
        /// The entry.
        range: u32,
        /// `MinimumSampleFrequency`.
        min: u32,
        /// `MaximumSampleFrequency`.
        max: u32,
    },
    /// A host pin has no PCM audio range (the endpoint builder needs a PCM host pin).
    HostPinWithoutPcm {
        /// The pin.
        pin: u32,
    },
    /// A node's type is null or `GUID_NULL`.
    NodeWithoutType {
        /// The node.
        node: u32,
    },
    /// An automation-table item's set is null.
    ItemWithoutSet {
        /// The table.
        owner: TableOwner,
        /// The item kind.
        kind: ItemKind,
        /// The item.
        item: u32,
    },
    /// An automation-table item has no handler.
    ItemWithoutHandler {
        /// The table.
        owner: TableOwner,
        /// The item kind.
        kind: ItemKind,
        /// The item.
        item: u32,
    },
    /// A property or event item has flags 0: it serves no request.
    ItemWithoutFlags {
        /// The table.
        owner: TableOwner,
        /// The item kind.
        kind: ItemKind,
        /// The item.
        item: u32,
    },
    /// A connection names a filter pin beyond `PinCount`.
    ConnectionPinOutOfRange {
        /// The connection.
        connection: u32,
        /// Which end.
        end: End,
        /// The pin named.
        pin: u32,
        /// `PinCount`.
        count: u32,
    },
    /// A connection names a node beyond `NodeCount`.
    ConnectionNodeOutOfRange {
        /// The connection.
        connection: u32,
        /// Which end.
        end: End,
        /// The node named.
        node: u32,
        /// `NodeCount`.
        count: u32,
    },
    /// A connection leaves a filter output pin or enters a filter input pin.
    ConnectionAgainstDataFlow {
        /// The connection.
        connection: u32,
        /// Which end.
        end: End,
        /// The filter pin.
        pin: u32,
    },
    /// A connection enters a simple node at a pin other than 1 or leaves it from a pin other
    /// than 0.
    NodePin {
        /// The connection.
        connection: u32,
        /// Which end.
        end: End,
        /// The node.
        node: u32,
        /// The node pin named.
        found: u32,
        /// The node pin required.
        expected: u32,
    },
    /// A pin lies on no path of connections from an input pin to an output pin.
    PinNotOnPath {
        /// The pin.
        pin: u32,
    },
    /// A host pin's paths reach no bridge pin (render: none leads to one; capture: none comes
    /// from one).
    HostPinWithoutBridge {
        /// The pin.
        pin: u32,
    },
}

impl fmt::Display for KsRuleBreach {
    #[allow(clippy::too_many_lines)] // one arm per breach
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NullDescriptor => f.write_str("the filter descriptor pointer is null"),
            Self::NullArray { array, count } => {
                write!(f, "{array} is null with a count of {count}")
            }
            Self::ItemSize {
                array,
                found,
                minimum,
            } => write!(
                f,
                "the item size of {array} is {found}: it must be a multiple of 8 and at least \
                 {minimum}"
            ),
            Self::NoPins => f.write_str("the filter has no pins"),
            Self::PinDataFlow { pin, value } => write!(
                f,
                "pin {pin} has data flow {value}, neither KSPIN_DATAFLOW_IN (1) nor OUT (2)"
            ),
            Self::PinCommunication { pin, value } => write!(
                f,
                "pin {pin} has communication {value}, not a KSPIN_COMMUNICATION value (0-4)"
            ),
            Self::PinWithoutCategory { pin } => write!(f, "pin {pin} has no category"),
            Self::BridgePinInstances {
                pin,
                max_global,
                max_filter,
                min_filter,
            } => write!(
                f,
                "bridge pin {pin} has instance counts {max_global} (global), {max_filter} \
                 (filter), {min_filter} (necessary): a bridge pin's must all be 0"
            ),
            Self::HostPinInstances {
                pin,
                max_global,
                max_filter,
                min_filter,
            } => write!(
                f,
                "host pin {pin} has instance counts {max_global} (global), {max_filter} \
                 (filter), {min_filter} (necessary): the maxima must be at least 1 and the \
                 necessary count at most the maxima"
            ),
            Self::BridgePinAutomationTable { pin } => {
                write!(f, "bridge pin {pin} has an automation table")
            }
            Self::NoDataRanges { pin } => write!(f, "pin {pin} has no data ranges"),
            Self::NullDataRange { pin, range } => {
                write!(f, "data range {range} of pin {pin} is null")
            }
            Self::MissingAttributeList { pin, range } => write!(
                f,
                "data range {range} of pin {pin} is flagged KSDATARANGE_ATTRIBUTES but no \
                 attribute list follows it"
            ),
            Self::BadAttributeList {
                pin,
                entry,
                problem,
            } => write!(f, "attribute list (entry {entry}) of pin {pin}: {problem}"),
            Self::DataRangeSize { pin, range, found } => {
                write!(
                    f,
                    "data range {range} of pin {pin} has FormatSize {found}: a KSDATARANGE is \
                     {DATARANGE_SIZE} bytes and a KSDATARANGE_AUDIO {DATARANGE_AUDIO_SIZE}"
                )?;
                if found == 84 {
                    f.write_str(" (84 is its size without the padding to 8-byte alignment)")?;
                }
                Ok(())
            }
            Self::AudioRangeWithoutLimits { pin, range } => write!(
                f,
                "data range {range} of pin {pin} has the WAVEFORMATEX specifier but FormatSize \
                 {DATARANGE_SIZE}: an audio range is a KSDATARANGE_AUDIO ({DATARANGE_AUDIO_SIZE})"
            ),
            Self::AudioRangeMajorFormat { pin, range } => write!(
                f,
                "audio range {range} of pin {pin} has a major format other than \
                 KSDATAFORMAT_TYPE_AUDIO"
            ),
            Self::AudioRangeSpecifier { pin, range } => write!(
                f,
                "audio range {range} of pin {pin} has a specifier other than \
                 KSDATAFORMAT_SPECIFIER_WAVEFORMATEX"
            ),
            Self::AudioRangeNoChannels { pin, range } => {
                write!(f, "audio range {range} of pin {pin} allows 0 channels")
            }
            Self::AudioRangeBits {
                pin,
                range,
                min,
                max,
            } => write!(
                f,
                "audio range {range} of pin {pin} has minimum bits {min} above maximum {max}"
            ),
            Self::AudioRangeRates {
                pin,
                range,
                min,
                max,
            } => write!(
                f,
                "audio range {range} of pin {pin} has minimum rate {min} above maximum {max}"
            ),
            Self::HostPinWithoutPcm { pin } => write!(f, "host pin {pin} has no PCM audio range"),
            Self::NodeWithoutType { node } => write!(f, "node {node} has no type"),
            Self::ItemWithoutSet { owner, kind, item } => {
                write!(f, "{kind} item {item} of {owner} names no set")
            }
            Self::ItemWithoutHandler { owner, kind, item } => {
                write!(f, "{kind} item {item} of {owner} has no handler")
            }
            Self::ItemWithoutFlags { owner, kind, item } => {
                write!(f, "{kind} item {item} of {owner} has flags 0")
            }
            Self::ConnectionPinOutOfRange {
                connection,
                end,
                pin,
                count,
            } => write!(
                f,
                "connection {connection} {end} filter pin {pin}, but the filter has {count} pins"
            ),
            Self::ConnectionNodeOutOfRange {
                connection,
                end,
                node,
                count,
            } => write!(
                f,
                "connection {connection} {end} node {node}, but the filter has {count} nodes"
            ),
            Self::ConnectionAgainstDataFlow {
                connection,
                end,
                pin,
            } => write!(
                f,
                "connection {connection} {end} filter pin {pin} against its data flow (a \
                 connection leaves input pins and enters output pins)"
            ),
            Self::NodePin {
                connection,
                end,
                node,
                found,
                expected,
            } => write!(
                f,
                "connection {connection} {end} node {node} at pin {found}, not at pin {expected}"
            ),
            Self::PinNotOnPath { pin } => write!(
                f,
                "pin {pin} lies on no path of connections from an input pin to an output pin"
            ),
            Self::HostPinWithoutBridge { pin } => {
                write!(f, "host pin {pin} has no path to or from a bridge pin")
            }
        }
    }
}

/// Checks a miniport's filter descriptor against the rules of the
/// [module documentation](self) and returns every breach found, in walking order (empty:
/// none).
///
/// # Safety
/// `descriptor` is null or points to a readable `PCFILTER_DESCRIPTOR`, and every non-null
/// pointer it leads to (directly or through other tables) points to what the C declarations
/// say, as many items as the count beside it, laid out with the stated item size; each data
/// range holds at least its stated `FormatSize` bytes (and at least 4). Nothing needs to be
/// aligned. An array whose item size is wrong is not read.
#[must_use]
pub unsafe fn check_filter(descriptor: *const PCFILTER_DESCRIPTOR) -> Vec<KsRuleBreach> {
    let mut checker = Checker::default();
    if descriptor.is_null() {
        checker.breach(KsRuleBreach::NullDescriptor);
        return checker.breaches;
    }
    // SAFETY: non-null, so readable (the caller's contract).
    let filter = unsafe { descriptor.read_unaligned() };
    // SAFETY: the caller's contract covers every table the descriptor leads to.
    unsafe { checker.filter(&filter) };
    checker.breaches
}

/// How a pin connects, by its communication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PinKind {
    /// `NONE` or `BRIDGE`: a bridge pin, never instantiated.
    Bridge,
    /// `SINK`, `SOURCE` or `BOTH`: a pin streams are opened on.
    Host,
}

/// What the path analysis needs of a pin; `None` where the pin's value was invalid.
#[derive(Clone, Copy, Debug)]
struct PinInfo {
    input: Option<bool>,
    kind: Option<PinKind>,
}

/// A vertex of the topology graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Vertex {
    Pin(u32),
    Node(u32),
}

#[derive(Default)]
struct Checker {
    breaches: Vec<KsRuleBreach>,
}

/// The fields of an automation-table item the rules look at.
struct ItemView {
    set_is_null: bool,
    flags: u32,
    has_handler: bool,
}

/// The three automation-table item types, which share a layout but not a handler type.
trait AutomationItem: Copy {
    const KIND: ItemKind;
    fn view(&self) -> ItemView;
}

impl AutomationItem for PCPROPERTY_ITEM {
    const KIND: ItemKind = ItemKind::Property;
    fn view(&self) -> ItemView {
        ItemView {
            set_is_null: self.Set.is_null(),
            flags: self.Flags,
            has_handler: self.Handler.is_some(),
        }
    }
}

impl AutomationItem for PCMETHOD_ITEM {
    const KIND: ItemKind = ItemKind::Method;
    fn view(&self) -> ItemView {
        ItemView {
            set_is_null: self.Set.is_null(),
            flags: self.Flags,
            has_handler: self.Handler.is_some(),
        }
    }
}

impl AutomationItem for PCEVENT_ITEM {
    const KIND: ItemKind = ItemKind::Event;
    fn view(&self) -> ItemView {
        ItemView {
            set_is_null: self.Set.is_null(),
            flags: self.Flags,
            has_handler: self.Handler.is_some(),
        }
    }
}

/// `size_of::<T>()` as a `ULONG` (every structure here is far below 4 GiB).
fn ulong_size<T>() -> u32 {
    u32::try_from(size_of::<T>()).unwrap_or(u32::MAX)
}

/// Reads item `index` of an array of `stride`-byte items that starts at `base`.
///
/// # Safety
/// `base` points to at least `index + 1` items of `stride` bytes, each starting with a `T`.
pub(crate) unsafe fn item<T>(base: *const T, stride: u32, index: u32) -> T {
    let offset = stride as usize * index as usize;
    let address = base.cast::<u8>().wrapping_add(offset).cast::<T>();
    // SAFETY: within the array (the caller's contract); unaligned reads need no alignment.
    unsafe { address.read_unaligned() }
}

/// Reads the GUID at `guid`, `None` when the pointer is null.
///
/// # Safety
/// `guid` is null or readable.
pub(crate) unsafe fn read_guid(guid: *const GUID) -> Option<GUID> {
    if guid.is_null() {
        None
    } else {
        // SAFETY: non-null, so readable (the caller's contract).
        Some(unsafe { guid.read_unaligned() })
    }
}

impl Checker {
    fn breach(&mut self, breach: KsRuleBreach) {
        self.breaches.push(breach);
    }

    /// Whether an array can be walked: it has items and a pointer; a null pointer with items
    /// is a breach.
    fn walkable<T>(&mut self, array: Array, count: u32, items: *const T) -> bool {
        if count == 0 {
            return false;
        }
        if items.is_null() {
            self.breach(KsRuleBreach::NullArray { array, count });
            return false;
        }
        true
    }

    /// Whether an array's item size allows walking it as `T`s (checked only when it has items).
    fn stride_ok<T>(&mut self, array: Array, count: u32, size: u32) -> bool {
        let minimum = ulong_size::<T>();
        if count == 0 || (size >= minimum && size.is_multiple_of(8)) {
            return true;
        }
        self.breach(KsRuleBreach::ItemSize {
            array,
            found: size,
            minimum,
        });
        false
    }

    /// # Safety
    /// As [`check_filter`], for `filter`.
    unsafe fn filter(&mut self, filter: &PCFILTER_DESCRIPTOR) {
        // SAFETY: the caller's contract covers the filter's automation table.
        unsafe { self.table(TableOwner::Filter, filter.AutomationTable) };

        if filter.PinCount == 0 {
            self.breach(KsRuleBreach::NoPins);
        }
        let mut pins = None;
        if self.stride_ok::<PCPIN_DESCRIPTOR>(Array::Pins, filter.PinCount, filter.PinSize)
            && self.walkable(Array::Pins, filter.PinCount, filter.Pins)
        {
            let mut infos = Vec::new();
            for index in 0..filter.PinCount {
                // SAFETY: `PinCount` items of `PinSize` (checked) bytes (the caller's contract).
                let pin = unsafe { item(filter.Pins, filter.PinSize, index) };
                // SAFETY: the caller's contract covers what the pin points to.
                infos.push(unsafe { self.pin(index, &pin) });
            }
            pins = Some(infos);
        }

        let mut node_types = None;
        if self.stride_ok::<PCNODE_DESCRIPTOR>(Array::Nodes, filter.NodeCount, filter.NodeSize)
            && self.walkable(Array::Nodes, filter.NodeCount, filter.Nodes)
        {
            let mut types = Vec::new();
            for index in 0..filter.NodeCount {
                // SAFETY: `NodeCount` items of `NodeSize` (checked) bytes (the caller's contract).
                let node = unsafe { item(filter.Nodes, filter.NodeSize, index) };
                // SAFETY: the caller's contract covers what the node points to.
                types.push(unsafe { self.node(index, &node) });
            }
            node_types = Some(types);
        }

        // Categories: only their presence can be checked.
        self.walkable(Array::Categories, filter.CategoryCount, filter.Categories);

        let mut edges = Vec::new();
        if self.walkable(
            Array::Connections,
            filter.ConnectionCount,
            filter.Connections,
        ) {
            let stride = ulong_size::<PCCONNECTION_DESCRIPTOR>();
            for index in 0..filter.ConnectionCount {
                // SAFETY: `ConnectionCount` connections (the caller's contract).
                let connection = unsafe { item(filter.Connections, stride, index) };
                let ends = self.connection(
                    index,
                    &connection,
                    filter,
                    pins.as_deref(),
                    node_types.as_deref(),
                );
                edges.extend(ends);
            }
        }

        if let Some(pins) = &pins {
            self.paths(pins, &edges);
        }
    }

    /// Checks one pin and returns what the path analysis needs of it.
    ///
    /// # Safety
    /// As [`check_filter`], for `pin`.
    unsafe fn pin(&mut self, index: u32, pin: &PCPIN_DESCRIPTOR) -> PinInfo {
        let ks = &pin.KsPinDescriptor;
        let input = if ks.DataFlow == KSPIN_DATAFLOW_IN {
            Some(true)
        } else if ks.DataFlow == KSPIN_DATAFLOW_OUT {
            Some(false)
        } else {
            self.breach(KsRuleBreach::PinDataFlow {
                pin: index,
                value: ks.DataFlow.0,
            });
            None
        };
        let kind = match ks.Communication {
            c if c == KSPIN_COMMUNICATION_NONE || c == KSPIN_COMMUNICATION_BRIDGE => {
                Some(PinKind::Bridge)
            }
            c if c == KSPIN_COMMUNICATION_SINK
                || c == KSPIN_COMMUNICATION_SOURCE
                || c == KSPIN_COMMUNICATION_BOTH =>
            {
                Some(PinKind::Host)
            }
            c => {
                self.breach(KsRuleBreach::PinCommunication {
                    pin: index,
                    value: c.0,
                });
                None
            }
        };

        // SAFETY: the category is null or readable (the caller's contract).
        let category = unsafe { read_guid(ks.Category) };
        if category.is_none_or(|guid| guid == GUID_NULL) {
            self.breach(KsRuleBreach::PinWithoutCategory { pin: index });
        }

        let (max_global, max_filter, min_filter) = (
            pin.MaxGlobalInstanceCount,
            pin.MaxFilterInstanceCount,
            pin.MinFilterInstanceCount,
        );
        match kind {
            Some(PinKind::Bridge) => {
                if (max_global, max_filter, min_filter) != (0, 0, 0) {
                    self.breach(KsRuleBreach::BridgePinInstances {
                        pin: index,
                        max_global,
                        max_filter,
                        min_filter,
                    });
                }
                if !pin.AutomationTable.is_null() {
                    self.breach(KsRuleBreach::BridgePinAutomationTable { pin: index });
                }
            }
            Some(PinKind::Host)
                if max_global == 0
                    || max_filter == 0
                    || min_filter > max_filter
                    || min_filter > max_global =>
            {
                self.breach(KsRuleBreach::HostPinInstances {
                    pin: index,
                    max_global,
                    max_filter,
                    min_filter,
                });
            }
            Some(PinKind::Host) | None => {}
        }
        if kind != Some(PinKind::Bridge) {
            // SAFETY: the caller's contract covers the pin's automation table.
            unsafe { self.table(TableOwner::Pin(index), pin.AutomationTable) };
        }

        // Interfaces and mediums are optional (PortCls supplies the standard ones).
        self.walkable(Array::Interfaces(index), ks.InterfacesCount, ks.Interfaces);
        self.walkable(Array::Mediums(index), ks.MediumsCount, ks.Mediums);

        // SAFETY: the caller's contract covers the pin's data ranges.
        let has_pcm = unsafe { self.data_ranges(index, ks) };
        if kind == Some(PinKind::Host) && !has_pcm {
            self.breach(KsRuleBreach::HostPinWithoutPcm { pin: index });
        }

        PinInfo { input, kind }
    }

    /// Checks a pin's data ranges and the attribute lists after flagged ones; returns whether
    /// one is a sound PCM audio range.
    ///
    /// # Safety
    /// As [`check_filter`], for the pin's `DataRanges`.
    unsafe fn data_ranges(&mut self, index: u32, ks: &KSPIN_DESCRIPTOR) -> bool {
        let mut has_pcm = false;
        if ks.DataRangesCount == 0 {
            self.breach(KsRuleBreach::NoDataRanges { pin: index });
        } else if self.walkable(Array::DataRanges(index), ks.DataRangesCount, ks.DataRanges) {
            let stride = ulong_size::<PKSDATARANGE>();
            let mut range = 0;
            while range < ks.DataRangesCount {
                // SAFETY: `DataRangesCount` pointers (the caller's contract).
                let pointer = unsafe { item(ks.DataRanges, stride, range) };
                // SAFETY: the caller's contract covers each data range.
                has_pcm |= unsafe { self.data_range(index, range, pointer) };
                // SAFETY: as above (a range is null or readable for its FormatSize).
                if unsafe { has_attributes(pointer) } {
                    let entry = range + 1;
                    if entry < ks.DataRangesCount {
                        // SAFETY: `DataRangesCount` pointers (the caller's contract).
                        let list = unsafe { item(ks.DataRanges, stride, entry) };
                        // SAFETY: the entry after a flagged range is its attribute list.
                        if let Err(problem) = unsafe { check_attribute_list(list.cast()) } {
                            self.breach(KsRuleBreach::BadAttributeList {
                                pin: index,
                                entry,
                                problem,
                            });
                        }
                    } else {
                        self.breach(KsRuleBreach::MissingAttributeList { pin: index, range });
                    }
                    range += 1;
                }
                range += 1;
            }
        }
        has_pcm
    }

    /// Checks one data range; returns whether it is a sound PCM audio range.
    ///
    /// # Safety
    /// `range` is null or points to at least 4 readable bytes and at least its `FormatSize`.
    unsafe fn data_range(&mut self, pin: u32, index: u32, range: PKSDATARANGE) -> bool {
        if range.is_null() {
            self.breach(KsRuleBreach::NullDataRange { pin, range: index });
            return false;
        }
        // SAFETY: at least the 4 bytes of `FormatSize` are readable (the caller's contract).
        let size = unsafe { range.cast::<u32>().read_unaligned() };
        if size == DATARANGE_SIZE {
            // SAFETY: `FormatSize` (64) bytes are readable (the caller's contract).
            let head = unsafe { range.read_unaligned() };
            if head.Specifier == KSDATAFORMAT_SPECIFIER_WAVEFORMATEX {
                self.breach(KsRuleBreach::AudioRangeWithoutLimits { pin, range: index });
            }
            return false;
        }
        if size != DATARANGE_AUDIO_SIZE {
            self.breach(KsRuleBreach::DataRangeSize {
                pin,
                range: index,
                found: size,
            });
            return false;
        }
        // SAFETY: `FormatSize` (88) bytes are readable (the caller's contract).
        let audio = unsafe { range.cast::<KSDATARANGE_AUDIO>().read_unaligned() };
        let head: &KSDATARANGE = &audio.DataRange;
        let before = self.breaches.len();
        if head.MajorFormat != KSDATAFORMAT_TYPE_AUDIO {
            self.breach(KsRuleBreach::AudioRangeMajorFormat { pin, range: index });
        }
        if head.Specifier != KSDATAFORMAT_SPECIFIER_WAVEFORMATEX {
            self.breach(KsRuleBreach::AudioRangeSpecifier { pin, range: index });
        }
        if audio.MaximumChannels == 0 {
            self.breach(KsRuleBreach::AudioRangeNoChannels { pin, range: index });
        }
        if audio.MinimumBitsPerSample > audio.MaximumBitsPerSample {
            self.breach(KsRuleBreach::AudioRangeBits {
                pin,
                range: index,
                min: audio.MinimumBitsPerSample,
                max: audio.MaximumBitsPerSample,
            });
        }
        if audio.MinimumSampleFrequency > audio.MaximumSampleFrequency {
            self.breach(KsRuleBreach::AudioRangeRates {
                pin,
                range: index,
                min: audio.MinimumSampleFrequency,
                max: audio.MaximumSampleFrequency,
            });
        }
        self.breaches.len() == before && head.SubFormat == KSDATAFORMAT_SUBTYPE_PCM
    }

    /// Checks one node and returns its type.
    ///
    /// # Safety
    /// As [`check_filter`], for `node`.
    unsafe fn node(&mut self, index: u32, node: &PCNODE_DESCRIPTOR) -> Option<GUID> {
        // SAFETY: the type is null or readable (the caller's contract).
        let node_type = unsafe { read_guid(node.Type) }.filter(|guid| *guid != GUID_NULL);
        if node_type.is_none() {
            self.breach(KsRuleBreach::NodeWithoutType { node: index });
        }
        // SAFETY: the caller's contract covers the node's automation table.
        unsafe { self.table(TableOwner::Node(index), node.AutomationTable) };
        node_type
    }

    /// Checks an automation table (null: nothing to check).
    ///
    /// # Safety
    /// `table` is null or as described in [`check_filter`].
    unsafe fn table(&mut self, owner: TableOwner, table: *const PCAUTOMATION_TABLE) {
        if table.is_null() {
            return;
        }
        // SAFETY: non-null, so readable (the caller's contract).
        let table = unsafe { table.read_unaligned() };
        // SAFETY: each array holds its count of items of its item size (the caller's contract).
        unsafe {
            self.items(
                owner,
                table.PropertyCount,
                table.PropertyItemSize,
                table.Properties,
            );
        }
        // SAFETY: as above.
        unsafe {
            self.items(
                owner,
                table.MethodCount,
                table.MethodItemSize,
                table.Methods,
            );
        }
        // SAFETY: as above.
        unsafe {
            self.items(owner, table.EventCount, table.EventItemSize, table.Events);
        }
    }

    /// Checks the items of one kind of an automation table.
    ///
    /// # Safety
    /// `items` is null or points to `count` items of `size` bytes.
    unsafe fn items<T: AutomationItem>(
        &mut self,
        owner: TableOwner,
        count: u32,
        size: u32,
        items: *const T,
    ) {
        let array = Array::Items(owner, T::KIND);
        if !self.stride_ok::<T>(array, count, size) || !self.walkable(array, count, items) {
            return;
        }
        for index in 0..count {
            // SAFETY: `count` items of `size` (checked) bytes (the caller's contract).
            let view = unsafe { item(items, size, index) }.view();
            let (kind, item) = (T::KIND, index);
            if view.set_is_null {
                self.breach(KsRuleBreach::ItemWithoutSet { owner, kind, item });
            }
            if !view.has_handler {
                self.breach(KsRuleBreach::ItemWithoutHandler { owner, kind, item });
            }
            // A method's flags may be `KSMETHOD_TYPE_NONE` (0).
            if view.flags == 0 && kind != ItemKind::Method {
                self.breach(KsRuleBreach::ItemWithoutFlags { owner, kind, item });
            }
        }
    }

    /// Checks one connection; returns its edge when both ends are valid.
    fn connection(
        &mut self,
        index: u32,
        connection: &PCCONNECTION_DESCRIPTOR,
        filter: &PCFILTER_DESCRIPTOR,
        pins: Option<&[PinInfo]>,
        node_types: Option<&[Option<GUID>]>,
    ) -> Option<(Vertex, Vertex)> {
        let from = self.end(
            index,
            End::From,
            connection.FromNode,
            connection.FromNodePin,
            filter,
            pins,
            node_types,
        );
        let to = self.end(
            index,
            End::To,
            connection.ToNode,
            connection.ToNodePin,
            filter,
            pins,
            node_types,
        );
        Some((from?, to?))
    }

    /// Checks one end of a connection; returns its vertex when valid.
    #[allow(clippy::too_many_arguments)] // the end's coordinates plus the filter's tables
    fn end(
        &mut self,
        connection: u32,
        end: End,
        node: u32,
        pin: u32,
        filter: &PCFILTER_DESCRIPTOR,
        pins: Option<&[PinInfo]>,
        node_types: Option<&[Option<GUID>]>,
    ) -> Option<Vertex> {
        if node == PCFILTER_NODE {
            if pin >= filter.PinCount {
                self.breach(KsRuleBreach::ConnectionPinOutOfRange {
                    connection,
                    end,
                    pin,
                    count: filter.PinCount,
                });
                return None;
            }
            // A connection leaves a filter pin where data enters the filter, and the reverse.
            let input = pins.and_then(|pins| pins[pin as usize].input);
            if input == Some(end == End::To) {
                self.breach(KsRuleBreach::ConnectionAgainstDataFlow {
                    connection,
                    end,
                    pin,
                });
            }
            return Some(Vertex::Pin(pin));
        }
        if node >= filter.NodeCount {
            self.breach(KsRuleBreach::ConnectionNodeOutOfRange {
                connection,
                end,
                node,
                count: filter.NodeCount,
            });
            return None;
        }
        let node_type = node_types.and_then(|types| types[node as usize]);
        // One input and one output pin, in the standard numbering.
        let simple = node_type.is_some_and(|t| {
            t == KSNODETYPE_VOLUME || t == KSNODETYPE_MUTE || t == KSNODETYPE_PEAKMETER
        });
        let expected = match end {
            End::From => NODE_PIN_OUT,
            End::To => NODE_PIN_IN,
        };
        if simple && pin != expected {
            self.breach(KsRuleBreach::NodePin {
                connection,
                end,
                node,
                found: pin,
                expected,
            });
        }
        Some(Vertex::Node(node))
    }

    /// Checks that every pin lies on an input-to-output path and host pins reach a bridge pin.
    fn paths(&mut self, pins: &[PinInfo], edges: &[(Vertex, Vertex)]) {
        let count = u32::try_from(pins.len()).unwrap_or(u32::MAX);
        // For each input pin the output pins it reaches, and for each output pin the reverse.
        let mut reached_from: Vec<Vec<u32>> = vec![Vec::new(); pins.len()];
        let mut reaches: Vec<Vec<u32>> = vec![Vec::new(); pins.len()];
        for start in 0..count {
            if pins[start as usize].input != Some(true) {
                continue;
            }
            for output in outputs_reached(start, edges) {
                if output < count && pins[output as usize].input == Some(false) {
                    reaches[start as usize].push(output);
                    reached_from[output as usize].push(start);
                }
            }
        }
        for pin in 0..count {
            let info = pins[pin as usize];
            let partners = match info.input {
                Some(true) => &reaches[pin as usize],
                Some(false) => &reached_from[pin as usize],
                None => continue,
            };
            if partners.is_empty() {
                self.breach(KsRuleBreach::PinNotOnPath { pin });
            } else if info.kind == Some(PinKind::Host)
                && !partners
                    .iter()
                    .any(|&p| pins[p as usize].kind == Some(PinKind::Bridge))
            {
                self.breach(KsRuleBreach::HostPinWithoutBridge { pin });
            }
        }
    }
}

/// The filter pins reachable from filter pin `start` along `edges`, passing through nodes only.
fn outputs_reached(start: u32, edges: &[(Vertex, Vertex)]) -> Vec<u32> {
    let mut seen = vec![Vertex::Pin(start)];
    let mut stack = vec![Vertex::Pin(start)];
    let mut outputs = Vec::new();
    while let Some(vertex) = stack.pop() {
        for &(from, to) in edges {
            if from != vertex || seen.contains(&to) {
                continue;
            }
            seen.push(to);
            match to {
                Vertex::Pin(pin) => outputs.push(pin),
                Vertex::Node(_) => stack.push(to),
            }
        }
    }
    outputs
}

/// Whether a data range is flagged `KSDATARANGE_ATTRIBUTES` (so the next entry of the array
/// is its attribute list).
///
/// # Safety
/// `range` is null or points to at least 8 readable bytes.
unsafe fn has_attributes(range: PKSDATARANGE) -> bool {
    if range.is_null() {
        return false;
    }
    let flags = range.cast::<u8>().wrapping_add(4).cast::<[u8; 4]>();
    // SAFETY: the Flags word lies within the range (caller's contract).
    u32::from_le_bytes(unsafe { flags.read() }) & KSDATARANGE_ATTRIBUTES != 0
}

/// Checks the attribute list after a flagged range: what is wrong, if anything.
///
/// # Safety
/// `list` is null or a readable `KSATTRIBUTE_LIST` whose `Attributes` holds `Count` pointers,
/// each null or to a readable `KSATTRIBUTE`.
unsafe fn check_attribute_list(list: PKSATTRIBUTE_LIST) -> Result<(), &'static str> {
    if list.is_null() {
        return Err("null");
    }
    // SAFETY: readable (caller's contract).
    let list: KSATTRIBUTE_LIST = unsafe { list.read_unaligned() };
    if list.Count == 0 {
        return Err("no attributes");
    }
    if list.Attributes.is_null() {
        return Err("a count without an array");
    }
    for index in 0..list.Count as usize {
        let slot = list.Attributes.wrapping_add(index);
        // SAFETY: `Count` pointers (caller's contract).
        let attribute: PKSATTRIBUTE = unsafe { slot.read_unaligned() };
        if attribute.is_null() {
            return Err("a null attribute");
        }
        // SAFETY: readable (caller's contract).
        let header: KSATTRIBUTE = unsafe { attribute.read_unaligned() };
        if (header.Size as usize) < size_of::<KSATTRIBUTE>() {
            return Err("an attribute smaller than a KSATTRIBUTE");
        }
    }
    Ok(())
}

/// A pin's `DataRanges` as KS reads the array: each range with the attribute list that follows
/// it when it is flagged `KSDATARANGE_ATTRIBUTES` (a flagged range at the end has none).
///
/// # Safety
/// `ks` is a live pin descriptor whose `DataRanges` holds `DataRangesCount` pointers, each null
/// or to a readable range.
#[must_use]
pub unsafe fn data_range_entries(
    ks: &KSPIN_DESCRIPTOR,
) -> Vec<(PKSDATARANGE, Option<PKSATTRIBUTE_LIST>)> {
    let mut out = Vec::new();
    if ks.DataRanges.is_null() {
        return out;
    }
    let stride = ulong_size::<PKSDATARANGE>();
    let mut index = 0;
    while index < ks.DataRangesCount {
        // SAFETY: `DataRangesCount` pointers (the caller's contract).
        let range = unsafe { item(ks.DataRanges, stride, index) };
        let mut list = None;
        // SAFETY: null or readable (the caller's contract).
        if unsafe { has_attributes(range) } && index + 1 < ks.DataRangesCount {
            // SAFETY: as above.
            list = Some(unsafe { item(ks.DataRanges, stride, index + 1) }.cast());
            index += 1;
        }
        out.push((range, list));
        index += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcls_sys::ks::{
        KSCATEGORY_AUDIO, KSDATAFORMAT_SPECIFIER_NONE, KSDATAFORMAT_SUBTYPE_ANALOG,
        KSDATAFORMAT_SUBTYPE_IEEE_FLOAT, KSNODETYPE_SPEAKER, KSPIN_COMMUNICATION, KSPIN_DATAFLOW,
        KSPIN_DESCRIPTOR, KSPIN_DESCRIPTOR_RESERVED, KSPROPERTY_AUDIO_MUTE,
        KSPROPERTY_AUDIO_VOLUMELEVEL, KSPROPERTY_JACK_DESCRIPTION, KSPROPSETID_Audio,
        KSPROPSETID_Jack,
    };
    use portcls_sys::wavert::{PCPROPERTY_ITEM_FLAG_GET, PCPROPERTY_REQUEST};
    use portcls_sys::{NTSTATUS, STATUS_SUCCESS};
    use std::ptr;

    static CATEGORY_AUDIO: GUID = KSCATEGORY_AUDIO;
    static CATEGORY_SPEAKER: GUID = KSNODETYPE_SPEAKER;
    static NULL_GUID: GUID = GUID_NULL;
    static TYPE_VOLUME: GUID = KSNODETYPE_VOLUME;
    static TYPE_MUTE: GUID = KSNODETYPE_MUTE;
    static SET_AUDIO: GUID = KSPROPSETID_Audio;
    static SET_JACK: GUID = KSPROPSETID_Jack;

    portcls_sys::kernel_abi! {
        unsafe fn handler(_request: *mut PCPROPERTY_REQUEST) -> NTSTATUS {
            STATUS_SUCCESS
        }
    }

    /// A data range to store: a full audio range, or a plain range in the first 64 bytes.
    fn audio_range(sub_format: GUID) -> KSDATARANGE_AUDIO {
        KSDATARANGE_AUDIO {
            DataRange: KSDATARANGE {
                FormatSize: DATARANGE_AUDIO_SIZE,
                MajorFormat: KSDATAFORMAT_TYPE_AUDIO,
                SubFormat: sub_format,
                Specifier: KSDATAFORMAT_SPECIFIER_WAVEFORMATEX,
                ..KSDATARANGE::default()
            },
            MaximumChannels: 2,
            MinimumBitsPerSample: 16,
            MaximumBitsPerSample: 16,
            MinimumSampleFrequency: 44_100,
            MaximumSampleFrequency: 48_000,
        }
    }

    fn analog_range() -> KSDATARANGE_AUDIO {
        KSDATARANGE_AUDIO {
            DataRange: KSDATARANGE {
                FormatSize: DATARANGE_SIZE,
                MajorFormat: KSDATAFORMAT_TYPE_AUDIO,
                SubFormat: KSDATAFORMAT_SUBTYPE_ANALOG,
                Specifier: KSDATAFORMAT_SPECIFIER_NONE,
                ..KSDATARANGE::default()
            },
            ..KSDATARANGE_AUDIO::default()
        }
    }

    fn property(set: &'static GUID, id: u32, flags: u32) -> PCPROPERTY_ITEM {
        PCPROPERTY_ITEM {
            Set: set,
            Id: id,
            Flags: flags,
            Handler: Some(handler),
        }
    }

    /// An automation table's items; the table's pointer is filled in when checked.
    #[derive(Clone)]
    struct TableSpec {
        table: PCAUTOMATION_TABLE,
        properties: Vec<PCPROPERTY_ITEM>,
    }

    impl TableSpec {
        fn of(properties: Vec<PCPROPERTY_ITEM>) -> Self {
            Self {
                table: PCAUTOMATION_TABLE {
                    PropertyItemSize: ulong_size::<PCPROPERTY_ITEM>(),
                    PropertyCount: u32::try_from(properties.len()).unwrap(),
                    Properties: ptr::null(),
                    MethodItemSize: 0,
                    MethodCount: 0,
                    Methods: ptr::null(),
                    EventItemSize: 0,
                    EventCount: 0,
                    Events: ptr::null(),
                    Reserved: 0,
                },
                properties,
            }
        }

        fn raw(&self) -> PCAUTOMATION_TABLE {
            PCAUTOMATION_TABLE {
                Properties: if self.properties.is_empty() {
                    ptr::null()
                } else {
                    self.properties.as_ptr()
                },
                ..self.table
            }
        }
    }

    /// A pin; its data-range array and table pointers are filled in when checked (null when
    /// empty / absent), its counts are kept as set.
    #[derive(Clone)]
    struct PinSpec {
        pin: PCPIN_DESCRIPTOR,
        ranges: Vec<Option<KSDATARANGE_AUDIO>>,
        table: Option<TableSpec>,
    }

    fn pin(
        dataflow: KSPIN_DATAFLOW,
        communication: KSPIN_COMMUNICATION,
        category: &'static GUID,
        ranges: Vec<KSDATARANGE_AUDIO>,
    ) -> PinSpec {
        let host = communication == KSPIN_COMMUNICATION_SINK;
        let instances = u32::from(host);
        PinSpec {
            pin: PCPIN_DESCRIPTOR {
                MaxGlobalInstanceCount: instances,
                MaxFilterInstanceCount: instances,
                MinFilterInstanceCount: 0,
                AutomationTable: ptr::null(),
                KsPinDescriptor: KSPIN_DESCRIPTOR {
                    InterfacesCount: 0,
                    Interfaces: ptr::null(),
                    MediumsCount: 0,
                    Mediums: ptr::null(),
                    DataRangesCount: u32::try_from(ranges.len()).unwrap(),
                    DataRanges: ptr::null(),
                    DataFlow: dataflow,
                    Communication: communication,
                    Category: category,
                    Name: ptr::null(),
                    Constraints: KSPIN_DESCRIPTOR_RESERVED { Reserved: 0 },
                },
            },
            ranges: ranges.into_iter().map(Some).collect(),
            table: None,
        }
    }

    fn host_pin(dataflow: KSPIN_DATAFLOW) -> PinSpec {
        pin(
            dataflow,
            KSPIN_COMMUNICATION_SINK,
            &CATEGORY_AUDIO,
            vec![
                audio_range(KSDATAFORMAT_SUBTYPE_PCM),
                audio_range(KSDATAFORMAT_SUBTYPE_IEEE_FLOAT),
            ],
        )
    }

    fn bridge_pin(dataflow: KSPIN_DATAFLOW, category: &'static GUID) -> PinSpec {
        pin(
            dataflow,
            KSPIN_COMMUNICATION_NONE,
            category,
            vec![analog_range()],
        )
    }

    #[derive(Clone)]
    struct NodeSpec {
        node: PCNODE_DESCRIPTOR,
        table: Option<TableSpec>,
    }

    fn node(node_type: &'static GUID, property: u32) -> NodeSpec {
        NodeSpec {
            node: PCNODE_DESCRIPTOR {
                Flags: 0,
                AutomationTable: ptr::null(),
                Type: node_type,
                Name: ptr::null(),
            },
            table: Some(TableSpec::of(vec![property_item(property)])),
        }
    }

    fn property_item(id: u32) -> PCPROPERTY_ITEM {
        property(&SET_AUDIO, id, PCPROPERTY_ITEM_FLAG_GET)
    }

    fn connect(from: (u32, u32), to: (u32, u32)) -> PCCONNECTION_DESCRIPTOR {
        PCCONNECTION_DESCRIPTOR {
            FromNode: from.0,
            FromNodePin: from.1,
            ToNode: to.0,
            ToNodePin: to.1,
        }
    }

    /// A whole filter, turned into raw tables (pointing into this spec) only while checked.
    #[derive(Clone)]
    struct FilterSpec {
        filter: PCFILTER_DESCRIPTOR,
        table: Option<TableSpec>,
        pins: Vec<PinSpec>,
        nodes: Vec<NodeSpec>,
        connections: Vec<PCCONNECTION_DESCRIPTOR>,
        categories: Vec<GUID>,
    }

    const F: u32 = PCFILTER_NODE;

    impl FilterSpec {
        fn new(
            pins: Vec<PinSpec>,
            nodes: Vec<NodeSpec>,
            connections: Vec<PCCONNECTION_DESCRIPTOR>,
        ) -> Self {
            Self {
                filter: PCFILTER_DESCRIPTOR {
                    Version: 0,
                    AutomationTable: ptr::null(),
                    PinSize: ulong_size::<PCPIN_DESCRIPTOR>(),
                    PinCount: u32::try_from(pins.len()).unwrap(),
                    Pins: ptr::null(),
                    NodeSize: ulong_size::<PCNODE_DESCRIPTOR>(),
                    NodeCount: u32::try_from(nodes.len()).unwrap(),
                    Nodes: ptr::null(),
                    ConnectionCount: u32::try_from(connections.len()).unwrap(),
                    Connections: ptr::null(),
                    CategoryCount: 1,
                    Categories: ptr::null(),
                },
                table: None,
                pins,
                nodes,
                connections,
                categories: vec![KSCATEGORY_AUDIO],
            }
        }

        /// A render wave filter: host pin 0 (in) → bridge pin 1 (out).
        fn wave() -> Self {
            Self::new(
                vec![
                    host_pin(KSPIN_DATAFLOW_IN),
                    bridge_pin(KSPIN_DATAFLOW_OUT, &CATEGORY_AUDIO),
                ],
                vec![],
                vec![connect((F, 0), (F, 1))],
            )
        }

        /// A render topology filter: pin 0 → volume → mute → speaker pin 1, jack table.
        fn topology() -> Self {
            let mut spec = Self::new(
                vec![
                    bridge_pin(KSPIN_DATAFLOW_IN, &CATEGORY_AUDIO),
                    bridge_pin(KSPIN_DATAFLOW_OUT, &CATEGORY_SPEAKER),
                ],
                vec![
                    node(&TYPE_VOLUME, KSPROPERTY_AUDIO_VOLUMELEVEL),
                    node(&TYPE_MUTE, KSPROPERTY_AUDIO_MUTE),
                ],
                vec![
                    connect((F, 0), (0, 1)),
                    connect((0, 0), (1, 1)),
                    connect((1, 0), (F, 1)),
                ],
            );
            spec.table = Some(TableSpec::of(vec![property(
                &SET_JACK,
                KSPROPERTY_JACK_DESCRIPTION,
                PCPROPERTY_ITEM_FLAG_GET,
            )]));
            spec
        }

        fn check(&self) -> Vec<KsRuleBreach> {
            self.check_with(|_| {})
        }

        /// Builds the raw tables, lets `patch` change the filter descriptor, checks it.
        fn check_with(&self, patch: impl FnOnce(&mut PCFILTER_DESCRIPTOR)) -> Vec<KsRuleBreach> {
            fn array<T>(items: &[T]) -> *const T {
                if items.is_empty() {
                    ptr::null()
                } else {
                    items.as_ptr()
                }
            }
            // Every vector is complete before any pointer into it is taken.
            let range_pointers: Vec<Vec<PKSDATARANGE>> = self
                .pins
                .iter()
                .map(|pin| {
                    pin.ranges
                        .iter()
                        .map(|range| {
                            range.as_ref().map_or(ptr::null_mut(), |range| {
                                ptr::from_ref(range).cast::<KSDATARANGE>().cast_mut()
                            })
                        })
                        .collect()
                })
                .collect();
            let pin_tables: Vec<Option<PCAUTOMATION_TABLE>> = self
                .pins
                .iter()
                .map(|pin| pin.table.as_ref().map(TableSpec::raw))
                .collect();
            let node_tables: Vec<Option<PCAUTOMATION_TABLE>> = self
                .nodes
                .iter()
                .map(|node| node.table.as_ref().map(TableSpec::raw))
                .collect();
            let filter_table = self.table.as_ref().map(TableSpec::raw);
            let pins: Vec<PCPIN_DESCRIPTOR> = self
                .pins
                .iter()
                .zip(&range_pointers)
                .zip(&pin_tables)
                .map(|((spec, ranges), table)| {
                    let mut pin = spec.pin;
                    pin.KsPinDescriptor.DataRanges = array(ranges);
                    pin.AutomationTable = table.as_ref().map_or(ptr::null(), ptr::from_ref);
                    pin
                })
                .collect();
            let nodes: Vec<PCNODE_DESCRIPTOR> = self
                .nodes
                .iter()
                .zip(&node_tables)
                .map(|(spec, table)| PCNODE_DESCRIPTOR {
                    AutomationTable: table.as_ref().map_or(ptr::null(), ptr::from_ref),
                    ..spec.node
                })
                .collect();
            let mut filter = PCFILTER_DESCRIPTOR {
                AutomationTable: filter_table.as_ref().map_or(ptr::null(), ptr::from_ref),
                Pins: array(&pins),
                Nodes: array(&nodes),
                Connections: array(&self.connections),
                Categories: array(&self.categories),
                ..self.filter
            };
            patch(&mut filter);
            // SAFETY: every pointer leads into the vectors above or into statics, with the
            // counts and sizes of this spec (tests that break them break only what the
            // checker reports instead of reading).
            unsafe { check_filter(&raw const filter) }
        }
    }

    fn dataflow(value: i32) -> KSPIN_DATAFLOW {
        KSPIN_DATAFLOW(value)
    }

    #[test]
    fn valid_wave_filter_has_no_breaches() {
        assert_eq!(FilterSpec::wave().check(), vec![]);
    }

    #[test]
    fn valid_capture_wave_filter_has_no_breaches() {
        let spec = FilterSpec::new(
            vec![
                bridge_pin(KSPIN_DATAFLOW_IN, &CATEGORY_AUDIO),
                host_pin(KSPIN_DATAFLOW_OUT),
            ],
            vec![],
            vec![connect((F, 0), (F, 1))],
        );
        assert_eq!(spec.check(), vec![]);
    }

    #[test]
    fn valid_topology_filter_with_nodes_and_tables_has_no_breaches() {
        assert_eq!(FilterSpec::topology().check(), vec![]);
    }

    #[test]
    fn null_descriptor_is_reported() {
        // SAFETY: null is allowed.
        let breaches = unsafe { check_filter(ptr::null()) };
        assert_eq!(breaches, vec![KsRuleBreach::NullDescriptor]);
    }

    #[test]
    fn null_pins_with_a_count_are_reported_and_not_walked() {
        let mut spec = FilterSpec::wave();
        spec.pins.clear();
        assert_eq!(
            spec.check(),
            vec![KsRuleBreach::NullArray {
                array: Array::Pins,
                count: 2
            }]
        );
    }

    #[test]
    fn null_nodes_connections_and_categories_with_counts_are_reported() {
        let mut spec = FilterSpec::topology();
        spec.nodes.clear();
        spec.categories.clear();
        let breaches = spec.check_with(|filter| filter.Connections = ptr::null());
        assert_eq!(
            breaches,
            vec![
                KsRuleBreach::NullArray {
                    array: Array::Nodes,
                    count: 2
                },
                KsRuleBreach::NullArray {
                    array: Array::Categories,
                    count: 1
                },
                KsRuleBreach::NullArray {
                    array: Array::Connections,
                    count: 3
                },
                KsRuleBreach::PinNotOnPath { pin: 0 },
                KsRuleBreach::PinNotOnPath { pin: 1 },
            ]
        );
    }

    #[test]
    fn a_filter_without_pins_is_reported() {
        let spec = FilterSpec::new(vec![], vec![], vec![]);
        assert_eq!(spec.check(), vec![KsRuleBreach::NoPins]);
    }

    #[test]
    fn pin_and_node_sizes_below_the_struct_or_not_multiples_of_8_are_reported() {
        let spec = FilterSpec::topology();
        for (pin_size, node_size) in [(88, 32), (116, 32), (112, 24), (112, 36)] {
            let breaches = spec.check_with(|filter| {
                filter.PinSize = pin_size;
                filter.NodeSize = node_size;
            });
            let expected = if pin_size == 112 {
                KsRuleBreach::ItemSize {
                    array: Array::Nodes,
                    found: node_size,
                    minimum: 32,
                }
            } else {
                KsRuleBreach::ItemSize {
                    array: Array::Pins,
                    found: pin_size,
                    minimum: 112,
                }
            };
            assert_eq!(breaches, vec![expected], "{pin_size}, {node_size}");
        }
    }

    #[test]
    fn larger_item_sizes_that_are_multiples_of_8_are_walked_with_that_stride() {
        #[repr(C)]
        #[derive(Clone, Copy)]
        struct ExtendedPin {
            pin: PCPIN_DESCRIPTOR,
            _padding: u64,
        }
        let spec = FilterSpec::wave();
        let mut wide: Vec<ExtendedPin> = Vec::new();
        let breaches = spec.check_with(|filter| {
            for i in 0..2 {
                // SAFETY: the descriptor's pin array holds two pins.
                let pin = unsafe { filter.Pins.wrapping_add(i).read() };
                wide.push(ExtendedPin {
                    pin,
                    _padding: u64::MAX,
                });
            }
            filter.PinSize = u32::try_from(size_of::<ExtendedPin>()).unwrap();
            filter.Pins = wide.as_ptr().cast();
        });
        assert_eq!(breaches, vec![]);
    }

    #[test]
    fn bridge_pin_with_instance_counts_or_automation_table_is_reported() {
        let mut spec = FilterSpec::wave();
        spec.pins[1].pin.MaxFilterInstanceCount = 1;
        spec.pins[1].table = Some(TableSpec::of(vec![property_item(
            KSPROPERTY_JACK_DESCRIPTION,
        )]));
        assert_eq!(
            spec.check(),
            vec![
                KsRuleBreach::BridgePinInstances {
                    pin: 1,
                    max_global: 0,
                    max_filter: 1,
                    min_filter: 0
                },
                KsRuleBreach::BridgePinAutomationTable { pin: 1 },
            ]
        );
    }

    #[test]
    fn host_pin_that_cannot_be_instantiated_or_needs_more_than_allowed_is_reported() {
        for (max_global, max_filter, min_filter) in [(0, 1, 0), (1, 0, 0), (1, 1, 2), (2, 4, 3)] {
            let mut spec = FilterSpec::wave();
            let pin = &mut spec.pins[0].pin;
            pin.MaxGlobalInstanceCount = max_global;
            pin.MaxFilterInstanceCount = max_filter;
            pin.MinFilterInstanceCount = min_filter;
            assert_eq!(
                spec.check(),
                vec![KsRuleBreach::HostPinInstances {
                    pin: 0,
                    max_global,
                    max_filter,
                    min_filter
                }]
            );
        }
        let mut unlimited = FilterSpec::wave();
        unlimited.pins[0].pin.MaxGlobalInstanceCount = u32::MAX;
        unlimited.pins[0].pin.MaxFilterInstanceCount = u32::MAX;
        unlimited.pins[0].pin.MinFilterInstanceCount = 1;
        assert_eq!(unlimited.check(), vec![]);
    }

    #[test]
    fn format_size_84_is_reported_with_the_padding_trap() {
        let mut spec = FilterSpec::wave();
        spec.pins[0].ranges[0]
            .as_mut()
            .unwrap()
            .DataRange
            .FormatSize = 84;
        let breaches = spec.check();
        assert_eq!(
            breaches,
            vec![
                KsRuleBreach::DataRangeSize {
                    pin: 0,
                    range: 0,
                    found: 84
                },
                KsRuleBreach::HostPinWithoutPcm { pin: 0 }
            ]
        );
        let text = breaches[0].to_string();
        assert!(text.contains("88") && text.contains("padding"), "{text}");
    }

    #[test]
    fn other_format_sizes_are_reported_without_reading_past_them() {
        let mut spec = FilterSpec::wave();
        spec.pins[1].ranges[0]
            .as_mut()
            .unwrap()
            .DataRange
            .FormatSize = 16;
        assert_eq!(
            spec.check(),
            vec![KsRuleBreach::DataRangeSize {
                pin: 1,
                range: 0,
                found: 16
            }]
        );
    }

    #[test]
    fn audio_range_with_wrong_major_format_or_specifier_is_reported() {
        let mut spec = FilterSpec::wave();
        let range = spec.pins[0].ranges[1].as_mut().unwrap();
        range.DataRange.MajorFormat = KSDATAFORMAT_SUBTYPE_PCM;
        range.DataRange.Specifier = KSDATAFORMAT_SPECIFIER_NONE;
        assert_eq!(
            spec.check(),
            vec![
                KsRuleBreach::AudioRangeMajorFormat { pin: 0, range: 1 },
                KsRuleBreach::AudioRangeSpecifier { pin: 0, range: 1 },
            ]
        );
    }

    #[test]
    fn audio_range_with_no_channels_or_inverted_limits_is_reported() {
        let mut spec = FilterSpec::wave();
        let range = spec.pins[0].ranges[1].as_mut().unwrap();
        range.MaximumChannels = 0;
        range.MinimumBitsPerSample = 32;
        range.MaximumBitsPerSample = 16;
        range.MinimumSampleFrequency = 48_001;
        assert_eq!(
            spec.check(),
            vec![
                KsRuleBreach::AudioRangeNoChannels { pin: 0, range: 1 },
                KsRuleBreach::AudioRangeBits {
                    pin: 0,
                    range: 1,
                    min: 32,
                    max: 16
                },
                KsRuleBreach::AudioRangeRates {
                    pin: 0,
                    range: 1,
                    min: 48_001,
                    max: 48_000
                },
            ]
        );
    }

    #[test]
    fn waveformatex_range_of_64_bytes_is_reported() {
        let mut spec = FilterSpec::wave();
        spec.pins[1].ranges[0].as_mut().unwrap().DataRange.Specifier =
            KSDATAFORMAT_SPECIFIER_WAVEFORMATEX;
        assert_eq!(
            spec.check(),
            vec![KsRuleBreach::AudioRangeWithoutLimits { pin: 1, range: 0 }]
        );
    }

    #[test]
    fn missing_null_or_non_pcm_host_ranges_are_reported() {
        let mut spec = FilterSpec::wave();
        spec.pins[0].ranges[0] = None;
        assert_eq!(
            spec.check(),
            vec![
                KsRuleBreach::NullDataRange { pin: 0, range: 0 },
                KsRuleBreach::HostPinWithoutPcm { pin: 0 },
            ]
        );

        let mut spec = FilterSpec::wave();
        spec.pins[0].ranges.clear();
        assert_eq!(
            spec.check(),
            vec![
                KsRuleBreach::NullArray {
                    array: Array::DataRanges(0),
                    count: 2
                },
                KsRuleBreach::HostPinWithoutPcm { pin: 0 },
            ]
        );

        let mut spec = FilterSpec::wave();
        spec.pins[1].pin.KsPinDescriptor.DataRangesCount = 0;
        assert_eq!(spec.check(), vec![KsRuleBreach::NoDataRanges { pin: 1 }]);
    }

    #[test]
    fn pins_without_category_or_with_unknown_enums_are_reported() {
        let mut spec = FilterSpec::wave();
        spec.pins[0].pin.KsPinDescriptor.Category = ptr::null();
        spec.pins[1].pin.KsPinDescriptor.Category = &raw const NULL_GUID;
        assert_eq!(
            spec.check(),
            vec![
                KsRuleBreach::PinWithoutCategory { pin: 0 },
                KsRuleBreach::PinWithoutCategory { pin: 1 },
            ]
        );

        let mut spec = FilterSpec::wave();
        spec.pins[0].pin.KsPinDescriptor.DataFlow = dataflow(0);
        spec.pins[1].pin.KsPinDescriptor.Communication = KSPIN_COMMUNICATION(5);
        assert_eq!(
            spec.check(),
            vec![
                KsRuleBreach::PinDataFlow { pin: 0, value: 0 },
                KsRuleBreach::PinCommunication { pin: 1, value: 5 },
                // Pin 0 has no known direction, so nothing reaches output pin 1.
                KsRuleBreach::PinNotOnPath { pin: 1 },
            ]
        );
    }

    #[test]
    fn automation_items_without_set_handler_or_flags_are_reported() {
        let mut spec = FilterSpec::topology();
        let items = &mut spec.nodes[1].table.as_mut().unwrap().properties;
        items[0].Set = ptr::null();
        items[0].Handler = None;
        items[0].Flags = 0;
        assert_eq!(
            spec.check(),
            vec![
                KsRuleBreach::ItemWithoutSet {
                    owner: TableOwner::Node(1),
                    kind: ItemKind::Property,
                    item: 0
                },
                KsRuleBreach::ItemWithoutHandler {
                    owner: TableOwner::Node(1),
                    kind: ItemKind::Property,
                    item: 0
                },
                KsRuleBreach::ItemWithoutFlags {
                    owner: TableOwner::Node(1),
                    kind: ItemKind::Property,
                    item: 0
                },
            ]
        );
    }

    #[test]
    fn automation_item_sizes_and_null_item_arrays_are_reported() {
        let mut spec = FilterSpec::topology();
        spec.table.as_mut().unwrap().table.PropertyItemSize = 20;
        spec.nodes[0].table.as_mut().unwrap().properties.clear();
        spec.nodes[1].table.as_mut().unwrap().table.EventCount = 1;
        spec.nodes[1].table.as_mut().unwrap().table.EventItemSize = 24;
        assert_eq!(
            spec.check(),
            vec![
                KsRuleBreach::ItemSize {
                    array: Array::Items(TableOwner::Filter, ItemKind::Property),
                    found: 20,
                    minimum: 24
                },
                KsRuleBreach::NullArray {
                    array: Array::Items(TableOwner::Node(0), ItemKind::Property),
                    count: 1
                },
                KsRuleBreach::NullArray {
                    array: Array::Items(TableOwner::Node(1), ItemKind::Event),
                    count: 1
                },
            ]
        );
    }

    #[test]
    fn node_without_type_is_reported() {
        let mut spec = FilterSpec::topology();
        spec.nodes[0].node.Type = ptr::null();
        spec.nodes[1].node.Type = &raw const NULL_GUID;
        assert_eq!(
            spec.check(),
            vec![
                KsRuleBreach::NodeWithoutType { node: 0 },
                KsRuleBreach::NodeWithoutType { node: 1 },
            ]
        );
    }

    #[test]
    fn connections_to_pins_or_nodes_out_of_range_are_reported() {
        let mut spec = FilterSpec::topology();
        spec.connections[0] = connect((F, 2), (0, 1));
        spec.connections[2] = connect((1, 0), (7, 1));
        assert_eq!(
            spec.check(),
            vec![
                KsRuleBreach::ConnectionPinOutOfRange {
                    connection: 0,
                    end: End::From,
                    pin: 2,
                    count: 2
                },
                KsRuleBreach::ConnectionNodeOutOfRange {
                    connection: 2,
                    end: End::To,
                    node: 7,
                    count: 2
                },
                KsRuleBreach::PinNotOnPath { pin: 0 },
                KsRuleBreach::PinNotOnPath { pin: 1 },
            ]
        );
    }

    #[test]
    fn connections_against_the_pins_data_flow_are_reported() {
        let mut spec = FilterSpec::wave();
        spec.connections[0] = connect((F, 1), (F, 0));
        assert_eq!(
            spec.check(),
            vec![
                KsRuleBreach::ConnectionAgainstDataFlow {
                    connection: 0,
                    end: End::From,
                    pin: 1
                },
                KsRuleBreach::ConnectionAgainstDataFlow {
                    connection: 0,
                    end: End::To,
                    pin: 0
                },
                KsRuleBreach::PinNotOnPath { pin: 0 },
                KsRuleBreach::PinNotOnPath { pin: 1 },
            ]
        );
    }

    #[test]
    fn simple_nodes_entered_or_left_at_the_wrong_pin_are_reported() {
        let mut spec = FilterSpec::topology();
        // Volume entered at its output pin and left from its input pin.
        spec.connections[0] = connect((F, 0), (0, 0));
        spec.connections[1] = connect((0, 1), (1, 1));
        assert_eq!(
            spec.check(),
            vec![
                KsRuleBreach::NodePin {
                    connection: 0,
                    end: End::To,
                    node: 0,
                    found: 0,
                    expected: 1
                },
                KsRuleBreach::NodePin {
                    connection: 1,
                    end: End::From,
                    node: 0,
                    found: 1,
                    expected: 0
                },
            ]
        );
    }

    #[test]
    fn pins_off_every_path_are_reported() {
        let mut spec = FilterSpec::topology();
        // Mute no longer feeds the speaker pin.
        spec.connections.pop();
        spec.filter.ConnectionCount = 2;
        assert_eq!(
            spec.check(),
            vec![
                KsRuleBreach::PinNotOnPath { pin: 0 },
                KsRuleBreach::PinNotOnPath { pin: 1 },
            ]
        );
    }

    #[test]
    fn host_pin_wired_only_to_another_host_pin_is_reported() {
        let mut spec = FilterSpec::new(
            vec![
                host_pin(KSPIN_DATAFLOW_IN),
                host_pin(KSPIN_DATAFLOW_OUT),
                bridge_pin(KSPIN_DATAFLOW_OUT, &CATEGORY_AUDIO),
            ],
            vec![],
            vec![connect((F, 0), (F, 1))],
        );
        assert_eq!(
            spec.check(),
            vec![
                KsRuleBreach::HostPinWithoutBridge { pin: 0 },
                KsRuleBreach::HostPinWithoutBridge { pin: 1 },
                KsRuleBreach::PinNotOnPath { pin: 2 },
            ]
        );
        spec.connections.push(connect((F, 0), (F, 2)));
        spec.filter.ConnectionCount = 2;
        assert_eq!(
            spec.check(),
            vec![KsRuleBreach::HostPinWithoutBridge { pin: 1 }]
        );
    }

    #[test]
    fn every_breach_explains_itself() {
        let owner = TableOwner::Pin(3);
        let samples = [
            (KsRuleBreach::NullDescriptor, "null"),
            (
                KsRuleBreach::NullArray {
                    array: Array::Items(owner, ItemKind::Event),
                    count: 2,
                },
                "the event items of pin 3's automation table is null with a count of 2",
            ),
            (
                KsRuleBreach::ItemSize {
                    array: Array::Pins,
                    found: 88,
                    minimum: 112,
                },
                "multiple of 8 and at least 112",
            ),
            (
                KsRuleBreach::ConnectionAgainstDataFlow {
                    connection: 1,
                    end: End::To,
                    pin: 0,
                },
                "connection 1 enters filter pin 0 against its data flow",
            ),
            (
                KsRuleBreach::NodePin {
                    connection: 2,
                    end: End::From,
                    node: 1,
                    found: 1,
                    expected: 0,
                },
                "connection 2 leaves node 1 at pin 1, not at pin 0",
            ),
        ];
        for (breach, text) in samples {
            let shown = breach.to_string();
            assert!(shown.contains(text), "{shown}");
        }
    }

    /// A pin descriptor over `entries` (ranges and lists, as KS reads the array).
    fn pin_over(entries: &[PKSDATARANGE]) -> KSPIN_DESCRIPTOR {
        KSPIN_DESCRIPTOR {
            InterfacesCount: 0,
            Interfaces: ptr::null(),
            MediumsCount: 0,
            Mediums: ptr::null(),
            DataRangesCount: u32::try_from(entries.len()).unwrap(),
            DataRanges: entries.as_ptr(),
            DataFlow: KSPIN_DATAFLOW_IN,
            Communication: KSPIN_COMMUNICATION_SINK,
            Category: &raw const CATEGORY_AUDIO,
            Name: ptr::null(),
            Constraints: KSPIN_DESCRIPTOR_RESERVED { Reserved: 0 },
        }
    }

    #[test]
    fn flagged_ranges_take_the_next_entry_as_their_attribute_list() {
        let mut flagged = audio_range(KSDATAFORMAT_SUBTYPE_PCM);
        flagged.DataRange.Flags = KSDATARANGE_ATTRIBUTES;
        let mut plain = audio_range(KSDATAFORMAT_SUBTYPE_IEEE_FLOAT);
        let mut attribute = KSATTRIBUTE {
            Size: 24,
            Flags: 0,
            Attribute: GUID::from_u128(1),
        };
        let mut pointers = [&raw mut attribute];
        let mut list = KSATTRIBUTE_LIST {
            Count: 1,
            Attributes: pointers.as_mut_ptr(),
        };
        let flagged_ptr = (&raw mut flagged).cast::<KSDATARANGE>();
        let list_ptr = (&raw mut list).cast::<KSDATARANGE>();
        let plain_ptr = (&raw mut plain).cast::<KSDATARANGE>();
        let entries = [flagged_ptr, list_ptr, plain_ptr];
        let ks = pin_over(&entries);
        // SAFETY: live ranges and list for the call.
        let walked = unsafe { data_range_entries(&ks) };
        assert_eq!(
            walked,
            vec![(flagged_ptr, Some(list_ptr.cast())), (plain_ptr, None)]
        );
        // SAFETY: as above.
        assert_eq!(unsafe { check_attribute_list(list_ptr.cast()) }, Ok(()));
        // A flagged range at the end has no list.
        let ks = pin_over(&entries[..1]);
        // SAFETY: as above.
        let walked = unsafe { data_range_entries(&ks) };
        assert_eq!(walked, vec![(flagged_ptr, None)]);
    }

    #[test]
    fn malformed_attribute_lists_are_named() {
        let mut small = KSATTRIBUTE {
            Size: 8,
            Flags: 0,
            Attribute: GUID::from_u128(1),
        };
        let mut small_pointers = [&raw mut small];
        let mut null_pointers: [PKSATTRIBUTE; 1] = [ptr::null_mut()];
        let cases = [
            (0, ptr::null_mut(), "no attributes"),
            (1, ptr::null_mut(), "a count without an array"),
            (1, null_pointers.as_mut_ptr(), "a null attribute"),
            (1, small_pointers.as_mut_ptr(), "smaller than a KSATTRIBUTE"),
        ];
        for (count, attributes, problem) in cases {
            let mut list = KSATTRIBUTE_LIST {
                Count: count,
                Attributes: attributes,
            };
            // SAFETY: a live list whose pointers are null or live.
            let found = unsafe { check_attribute_list(&raw mut list) }.unwrap_err();
            assert!(found.contains(problem), "{found}");
        }
        // SAFETY: null is allowed.
        let null = unsafe { check_attribute_list(ptr::null_mut()) };
        assert_eq!(null, Err("null"));
        let shown = KsRuleBreach::MissingAttributeList { pin: 0, range: 2 }.to_string();
        assert!(shown.contains("no attribute list follows"), "{shown}");
    }
}
