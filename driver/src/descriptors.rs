//! The four filter descriptors the miniports hand PortCls from `IMiniport::GetDescription`.
//!
//! Each is a `static` table in PortCls's own layout (`PCFILTER_DESCRIPTOR` and everything it
//! points to), built at compile time, never written, and alive for the driver's whole life, as
//! `GetDescription` requires ("valid while the miniport lives"). [`filter`] maps a subdevice of
//! [`identity`] (by name) to its descriptor.
//!
//! | subdevice | pins | topology |
//! | --- | --- | --- |
//! | render wave | 0 host (in, sink), 1 bridge (out) | pin 0 → pin 1 |
//! | render topology | 0 bridge (in, from the wave filter), 1 bridge (out, speaker) | pin 0 → volume → mute → peak meter → pin 1 |
//! | capture wave | 0 bridge (in), 1 host (out, sink) | pin 0 → pin 1 |
//! | capture topology | 0 bridge (in, microphone), 1 bridge (out, to the wave filter) | pin 0 → volume → mute → peak meter → pin 1 |
//!
//! The host pins' data ranges are derived from [`DataRange::DEVICE`]: one `KSDATARANGE_AUDIO`
//! per sample format, whose bit limits are the format's *container* size (what KS compares
//! with `wBitsPerSample`), so 24-in-32 PCM is the range PCM 32..32 and a packed 24-bit format
//! lies outside every range. Each host range is flagged `KSDATARANGE_ATTRIBUTES` and followed,
//! in the pin's `DataRanges` array, by a `KSATTRIBUTE_LIST` naming the signal-processing-mode
//! attribute (so `DataRangesCount` is twice the number of ranges, the lists included, as KS
//! reads the array): the host pins are mode-aware, and which modes they offer is what
//! `IMiniportAudioSignalProcessing::GetModes` answers. Bridge pins carry one analog
//! `KSDATARANGE`.
//!
//! The property handlers named in the automation tables live in
//! [`properties`](crate::properties): [`node_property`] for the volume, mute and peak-meter
//! nodes, [`pin_property`] for the jack description of each topology filter's external pin,
//! [`wave_pin_property`] for the proposed formats of each wave filter's host pin, and the event
//! handler [`jack_event`] for the jack-change event of each topology filter.

use core::mem::size_of;
use core::ptr;

use portcls_sys::GUID;
use portcls_sys::ks::{
    KSATTRIBUTE, KSATTRIBUTE_LIST, KSATTRIBUTEID_AUDIOSIGNALPROCESSING_MODE,
    KSAUDFNAME_MASTER_MUTE, KSAUDFNAME_MASTER_VOLUME, KSAUDFNAME_PEAKMETER, KSCATEGORY_AUDIO,
    KSCATEGORY_CAPTURE, KSCATEGORY_REALTIME, KSCATEGORY_RENDER, KSCATEGORY_TOPOLOGY,
    KSDATAFORMAT_SPECIFIER_NONE, KSDATAFORMAT_SPECIFIER_WAVEFORMATEX, KSDATAFORMAT_SUBTYPE_ANALOG,
    KSDATAFORMAT_SUBTYPE_IEEE_FLOAT, KSDATAFORMAT_SUBTYPE_PCM, KSDATAFORMAT_TYPE_AUDIO,
    KSDATARANGE, KSDATARANGE_ATTRIBUTES, KSDATARANGE_AUDIO, KSEVENT_PINCAPS_JACKINFOCHANGE,
    KSEVENTSETID_PinCapsChange, KSNODETYPE_MICROPHONE, KSNODETYPE_MUTE, KSNODETYPE_PEAKMETER,
    KSNODETYPE_SPEAKER, KSNODETYPE_VOLUME, KSPIN_COMMUNICATION, KSPIN_COMMUNICATION_NONE,
    KSPIN_COMMUNICATION_SINK, KSPIN_DATAFLOW, KSPIN_DATAFLOW_IN, KSPIN_DATAFLOW_OUT,
    KSPIN_DESCRIPTOR, KSPIN_DESCRIPTOR_RESERVED, KSPROPERTY_AUDIO_MUTE,
    KSPROPERTY_AUDIO_PEAKMETER2, KSPROPERTY_AUDIO_VOLUMELEVEL, KSPROPERTY_JACK_DESCRIPTION,
    KSPROPERTY_JACK_DESCRIPTION2, KSPROPERTY_PIN_PROPOSEDATAFORMAT,
    KSPROPERTY_PIN_PROPOSEDATAFORMAT2, KSPROPSETID_Audio, KSPROPSETID_Jack, KSPROPSETID_Pin,
    PKSATTRIBUTE, PKSDATARANGE,
};
use portcls_sys::wavert::{
    PCAUTOMATION_TABLE, PCCONNECTION_DESCRIPTOR, PCEVENT_ITEM, PCEVENT_ITEM_FLAG_BASICSUPPORT,
    PCEVENT_ITEM_FLAG_ENABLE, PCFILTER_DESCRIPTOR, PCFILTER_NODE, PCNODE_DESCRIPTOR,
    PCPIN_DESCRIPTOR, PCPROPERTY_ITEM, PCPROPERTY_ITEM_FLAG_BASICSUPPORT, PCPROPERTY_ITEM_FLAG_GET,
    PCPROPERTY_ITEM_FLAG_SET,
};

use crate::format::{DataRange, SampleFormat};
use crate::identity::{self, EndpointFlow, FilterKind, Subdevice};
use crate::properties::{jack_event, node_property, pin_property, wave_pin_property};

// ---------------------------------------------------------------------------------------------
// Pin and node numbers
// ---------------------------------------------------------------------------------------------

/// Render wave filter: the host pin the audio engine streams into (data flows in).
pub const RENDER_WAVE_HOST_PIN: u32 = 0;
/// Render wave filter: the bridge pin wired to [`RENDER_TOPOLOGY_WAVE_PIN`].
pub const RENDER_WAVE_BRIDGE_PIN: u32 = 1;
/// Render topology filter: the bridge pin wired from [`RENDER_WAVE_BRIDGE_PIN`].
pub const RENDER_TOPOLOGY_WAVE_PIN: u32 = 0;
/// Render topology filter: the speaker pin, which becomes the render endpoint.
pub const RENDER_TOPOLOGY_SPEAKER_PIN: u32 = 1;
/// Render topology filter: the volume node.
pub const RENDER_VOLUME_NODE: u32 = 0;
/// Render topology filter: the mute node.
pub const RENDER_MUTE_NODE: u32 = 1;
/// Render topology filter: the peak-meter node (after the mute: what the speakers play).
pub const RENDER_PEAK_NODE: u32 = 2;

/// Capture wave filter: the bridge pin wired from [`CAPTURE_TOPOLOGY_WAVE_PIN`].
pub const CAPTURE_WAVE_BRIDGE_PIN: u32 = 0;
/// Capture wave filter: the host pin the audio engine reads from (data flows out).
pub const CAPTURE_WAVE_HOST_PIN: u32 = 1;
/// Capture topology filter: the microphone pin, which becomes the capture endpoint.
pub const CAPTURE_TOPOLOGY_MICROPHONE_PIN: u32 = 0;
/// Capture topology filter: the bridge pin wired to [`CAPTURE_WAVE_BRIDGE_PIN`].
pub const CAPTURE_TOPOLOGY_WAVE_PIN: u32 = 1;
/// Capture topology filter: the microphone's volume node.
pub const CAPTURE_VOLUME_NODE: u32 = 0;
/// Capture topology filter: the microphone's mute node.
pub const CAPTURE_MUTE_NODE: u32 = 1;
/// Capture topology filter: the peak-meter node (after the mute: what is recorded).
pub const CAPTURE_PEAK_NODE: u32 = 2;

/// A node's output pin in a connection (`KSNODEPIN_STANDARD_OUT`).
pub const NODE_OUTPUT_PIN: u32 = 0;
/// A node's input pin in a connection (`KSNODEPIN_STANDARD_IN`).
pub const NODE_INPUT_PIN: u32 = 1;

/// A wire between two subdevices' bridge pins, registered with
/// `PcRegisterPhysicalConnection` once both subdevices are registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhysicalConnection {
    /// The subdevice the signal leaves.
    pub from: Subdevice,
    /// Its pin.
    pub from_pin: u32,
    /// The subdevice the signal enters.
    pub to: Subdevice,
    /// Its pin.
    pub to_pin: u32,
}

impl PhysicalConnection {
    /// The wire of one endpoint: its wave filter's bridge pin to its topology filter's for
    /// render, the other way for capture.
    #[must_use]
    pub const fn of(endpoint: &identity::EndpointFilters) -> Self {
        match endpoint.wave.flow {
            EndpointFlow::Render => Self {
                from: endpoint.wave,
                from_pin: RENDER_WAVE_BRIDGE_PIN,
                to: endpoint.topology,
                to_pin: RENDER_TOPOLOGY_WAVE_PIN,
            },
            EndpointFlow::Capture => Self {
                from: endpoint.topology,
                from_pin: CAPTURE_TOPOLOGY_WAVE_PIN,
                to: endpoint.wave,
                to_pin: CAPTURE_WAVE_BRIDGE_PIN,
            },
        }
    }
}

/// The virtual device's two physical connections: render wave → render topology, capture
/// topology → capture wave. A virtio-sound function has these and one more for each endpoint
/// after the first of its flow ([`PhysicalConnection::of`]).
pub const PHYSICAL_CONNECTIONS: [PhysicalConnection; 2] = [
    PhysicalConnection::of(&identity::ENDPOINTS[0][0]),
    PhysicalConnection::of(&identity::ENDPOINTS[1][0]),
];

// ---------------------------------------------------------------------------------------------
// The shareable wrapper
// ---------------------------------------------------------------------------------------------

/// A PortCls table that lives in a `static`.
///
/// The raw tables hold pointers, so they are not `Sync` and cannot be `static` on their own;
/// this wrapper makes them shareable. Only this module can make one (the field and the
/// constructor are private), and it makes them only as the immutable statics below.
///
/// # Invariants
/// The value and everything its pointers reach are `'static`, immutable data of this module
/// (other statics of this module, the property handlers), never written by the driver or
/// PortCls.
#[repr(transparent)]
pub struct StaticTable<T: Copy>(T);

// SAFETY: Sharing a `&StaticTable<T>` between threads only ever gives them shared read access:
// the value is an immutable `static` (type invariant), `T: Copy` rules out interior mutability,
// and every pointer in it leads to other immutable statics or to functions, which no one writes
// either. Concurrent reads of unchanging memory cannot race.
unsafe impl<T: Copy> Sync for StaticTable<T> {}

impl<T: Copy> StaticTable<T> {
    /// Wraps a table; private, so every instance is one of this module's statics.
    const fn new(value: T) -> Self {
        Self(value)
    }

    /// The table.
    #[must_use]
    pub const fn get(&self) -> &T {
        &self.0
    }

    /// The table's address, as PortCls takes it.
    #[must_use]
    pub const fn as_ptr(&self) -> *const T {
        ptr::from_ref(&self.0)
    }
}

impl<T: Copy + core::fmt::Debug> core::fmt::Debug for StaticTable<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.fmt(f)
    }
}

/// `n` as a `ULONG`. Only used in the static initializers below, where a count that does not
/// fit is a compile error.
const fn ulong(n: usize) -> u32 {
    assert!(n <= u32::MAX as usize, "a table count must fit a ULONG");
    #[allow(clippy::cast_possible_truncation)] // checked just above
    let value = n as u32;
    value
}

// ---------------------------------------------------------------------------------------------
// GUIDs the tables point to
// ---------------------------------------------------------------------------------------------

static CATEGORY_AUDIO: GUID = KSCATEGORY_AUDIO;
static CATEGORY_SPEAKER: GUID = KSNODETYPE_SPEAKER;
static CATEGORY_MICROPHONE: GUID = KSNODETYPE_MICROPHONE;
static NODE_TYPE_VOLUME: GUID = KSNODETYPE_VOLUME;
static NODE_TYPE_MUTE: GUID = KSNODETYPE_MUTE;
static NODE_NAME_MASTER_VOLUME: GUID = KSAUDFNAME_MASTER_VOLUME;
static NODE_NAME_MASTER_MUTE: GUID = KSAUDFNAME_MASTER_MUTE;
static NODE_TYPE_PEAKMETER: GUID = KSNODETYPE_PEAKMETER;
static NODE_NAME_PEAKMETER: GUID = KSAUDFNAME_PEAKMETER;
static PROPSETID_AUDIO: GUID = KSPROPSETID_Audio;
static PROPSETID_JACK: GUID = KSPROPSETID_Jack;
static EVENTSETID_PINCAPSCHANGE: GUID = KSEVENTSETID_PinCapsChange;
static PROPSETID_PIN: GUID = KSPROPSETID_Pin;

/// The filter categories of the render wave filter (as `identity::RENDER_WAVE` and the INF).
static RENDER_WAVE_CATEGORIES: [GUID; 3] =
    [KSCATEGORY_AUDIO, KSCATEGORY_RENDER, KSCATEGORY_REALTIME];
/// The filter categories of the capture wave filter (as `identity::CAPTURE_WAVE` and the INF).
static CAPTURE_WAVE_CATEGORIES: [GUID; 3] =
    [KSCATEGORY_AUDIO, KSCATEGORY_CAPTURE, KSCATEGORY_REALTIME];
/// The filter categories of both topology filters (as `identity` and the INF).
static TOPOLOGY_CATEGORIES: [GUID; 2] = [KSCATEGORY_AUDIO, KSCATEGORY_TOPOLOGY];

// ---------------------------------------------------------------------------------------------
// Data ranges
// ---------------------------------------------------------------------------------------------

/// The number of host-pin data ranges: one per sample format of [`DataRange::DEVICE`].
pub const HOST_DATA_RANGE_COUNT: usize = DataRange::DEVICE.samples.len();
/// The entries of a host pin's `DataRanges` array: each range, then its attribute list.
pub const HOST_DATA_RANGE_ENTRIES: usize = 2 * HOST_DATA_RANGE_COUNT;

/// The `KSDATARANGE_AUDIO` of one sample format within [`DataRange::DEVICE`].
const fn host_range(sample: SampleFormat) -> KSDATARANGE_AUDIO {
    host_range_in(&DataRange::DEVICE, sample)
}

/// The `KSDATARANGE_AUDIO` of one sample format within `device`.
const fn host_range_in(device: &DataRange, sample: SampleFormat) -> KSDATARANGE_AUDIO {
    let sub_format = match sample {
        SampleFormat::Pcm16 | SampleFormat::Pcm24In32 => KSDATAFORMAT_SUBTYPE_PCM,
        SampleFormat::Float32 => KSDATAFORMAT_SUBTYPE_IEEE_FLOAT,
    };
    let bits = sample.container_bits() as u32;
    KSDATARANGE_AUDIO {
        DataRange: KSDATARANGE {
            FormatSize: ulong(size_of::<KSDATARANGE_AUDIO>()),
            Flags: KSDATARANGE_ATTRIBUTES,
            SampleSize: 0,
            Reserved: 0,
            MajorFormat: KSDATAFORMAT_TYPE_AUDIO,
            SubFormat: sub_format,
            Specifier: KSDATAFORMAT_SPECIFIER_WAVEFORMATEX,
        },
        MaximumChannels: device.channels as u32,
        MinimumBitsPerSample: bits,
        MaximumBitsPerSample: bits,
        MinimumSampleFrequency: device.min_rate,
        MaximumSampleFrequency: device.max_rate,
    }
}

/// The host pins' data ranges, in the order of [`DataRange::DEVICE`]'s sample formats.
static HOST_RANGES: [KSDATARANGE_AUDIO; HOST_DATA_RANGE_COUNT] = {
    let samples = DataRange::DEVICE.samples;
    let mut out = [host_range(samples[0]); HOST_DATA_RANGE_COUNT];
    let mut i = 1;
    while i < HOST_DATA_RANGE_COUNT {
        out[i] = host_range(samples[i]);
        i += 1;
    }
    out
};

/// The attribute a host range supports: the signal-processing mode (a bare `KSATTRIBUTE`
/// header: a range names the attribute, a format carries its value).
static MODE_ATTRIBUTE: KSATTRIBUTE = KSATTRIBUTE {
    Size: ulong(size_of::<KSATTRIBUTE>()),
    Flags: 0,
    Attribute: KSATTRIBUTEID_AUDIOSIGNALPROCESSING_MODE,
};

/// The `Attributes` array of [`HOST_RANGE_ATTRIBUTES`].
static MODE_ATTRIBUTE_POINTERS: StaticTable<[PKSATTRIBUTE; 1]> =
    StaticTable::new([(&raw const MODE_ATTRIBUTE).cast_mut()]);

/// The attribute list after each host range in the `DataRanges` array.
static HOST_RANGE_ATTRIBUTES: StaticTable<KSATTRIBUTE_LIST> = StaticTable::new(KSATTRIBUTE_LIST {
    Count: 1,
    // `cast_mut` only because the C field is mutable; KS reads the list only.
    Attributes: MODE_ATTRIBUTE_POINTERS
        .as_ptr()
        .cast::<PKSATTRIBUTE>()
        .cast_mut(),
});

/// The `DataRanges` array of both host pins: a pointer to each of [`HOST_RANGES`], each
/// followed by one to [`HOST_RANGE_ATTRIBUTES`] (the range is flagged `KSDATARANGE_ATTRIBUTES`).
static HOST_RANGE_POINTERS: StaticTable<[PKSDATARANGE; HOST_DATA_RANGE_ENTRIES]> = {
    let mut out = [ptr::null_mut(); HOST_DATA_RANGE_ENTRIES];
    let mut i = 0;
    while i < HOST_DATA_RANGE_COUNT {
        // `cast_mut` only because the C field is `PKSDATARANGE`; PortCls reads ranges only.
        out[2 * i] = HOST_RANGES
            .as_ptr()
            .wrapping_add(i)
            .cast::<KSDATARANGE>()
            .cast_mut();
        // KS takes the entry after a flagged range as its attribute list.
        out[2 * i + 1] = HOST_RANGE_ATTRIBUTES
            .as_ptr()
            .cast::<KSDATARANGE>()
            .cast_mut();
        i += 1;
    }
    StaticTable::new(out)
};

/// The data range of every bridge pin: an analog signal, nothing more to say.
static BRIDGE_RANGE: KSDATARANGE = KSDATARANGE {
    FormatSize: ulong(size_of::<KSDATARANGE>()),
    Flags: 0,
    SampleSize: 0,
    Reserved: 0,
    MajorFormat: KSDATAFORMAT_TYPE_AUDIO,
    SubFormat: KSDATAFORMAT_SUBTYPE_ANALOG,
    Specifier: KSDATAFORMAT_SPECIFIER_NONE,
};

/// The `DataRanges` array of every bridge pin.
static BRIDGE_RANGE_POINTERS: StaticTable<[PKSDATARANGE; 1]> =
    StaticTable::new([(&raw const BRIDGE_RANGE).cast_mut()]);

// ---------------------------------------------------------------------------------------------
// Pins
// ---------------------------------------------------------------------------------------------

/// A `KSPIN_DESCRIPTOR` with the standard interface and medium and no name.
const fn ks_pin(
    ranges: *const PKSDATARANGE,
    range_count: usize,
    dataflow: KSPIN_DATAFLOW,
    communication: KSPIN_COMMUNICATION,
    category: *const GUID,
) -> KSPIN_DESCRIPTOR {
    KSPIN_DESCRIPTOR {
        InterfacesCount: 0,
        Interfaces: ptr::null(),
        MediumsCount: 0,
        Mediums: ptr::null(),
        DataRangesCount: ulong(range_count),
        DataRanges: ranges,
        DataFlow: dataflow,
        Communication: communication,
        Category: category,
        Name: ptr::null(),
        Constraints: KSPIN_DESCRIPTOR_RESERVED { Reserved: 0 },
    }
}

/// A host pin: one stream at a time (per filter and system-wide), none required, the device's
/// audio ranges, no pin automation table (the WaveRT port answers the streaming properties).
const fn host_pin(dataflow: KSPIN_DATAFLOW) -> PCPIN_DESCRIPTOR {
    PCPIN_DESCRIPTOR {
        MaxGlobalInstanceCount: 1,
        MaxFilterInstanceCount: 1,
        MinFilterInstanceCount: 0,
        AutomationTable: ptr::null(),
        KsPinDescriptor: ks_pin(
            HOST_RANGE_POINTERS.as_ptr().cast(),
            HOST_DATA_RANGE_ENTRIES,
            dataflow,
            KSPIN_COMMUNICATION_SINK,
            &raw const CATEGORY_AUDIO,
        ),
    }
}

/// A bridge pin: never instantiated (all counts 0), no automation table, the analog range.
const fn bridge_pin(dataflow: KSPIN_DATAFLOW, category: *const GUID) -> PCPIN_DESCRIPTOR {
    PCPIN_DESCRIPTOR {
        MaxGlobalInstanceCount: 0,
        MaxFilterInstanceCount: 0,
        MinFilterInstanceCount: 0,
        AutomationTable: ptr::null(),
        KsPinDescriptor: ks_pin(
            BRIDGE_RANGE_POINTERS.as_ptr().cast(),
            1,
            dataflow,
            KSPIN_COMMUNICATION_NONE,
            category,
        ),
    }
}

static RENDER_WAVE_PINS: StaticTable<[PCPIN_DESCRIPTOR; 2]> = StaticTable::new([
    host_pin(KSPIN_DATAFLOW_IN),
    bridge_pin(KSPIN_DATAFLOW_OUT, &raw const CATEGORY_AUDIO),
]);

static CAPTURE_WAVE_PINS: StaticTable<[PCPIN_DESCRIPTOR; 2]> = StaticTable::new([
    bridge_pin(KSPIN_DATAFLOW_IN, &raw const CATEGORY_AUDIO),
    host_pin(KSPIN_DATAFLOW_OUT),
]);

static RENDER_TOPOLOGY_PINS: StaticTable<[PCPIN_DESCRIPTOR; 2]> = StaticTable::new([
    bridge_pin(KSPIN_DATAFLOW_IN, &raw const CATEGORY_AUDIO),
    bridge_pin(KSPIN_DATAFLOW_OUT, &raw const CATEGORY_SPEAKER),
]);

static CAPTURE_TOPOLOGY_PINS: StaticTable<[PCPIN_DESCRIPTOR; 2]> = StaticTable::new([
    bridge_pin(KSPIN_DATAFLOW_IN, &raw const CATEGORY_MICROPHONE),
    bridge_pin(KSPIN_DATAFLOW_OUT, &raw const CATEGORY_AUDIO),
]);

// ---------------------------------------------------------------------------------------------
// Automation tables
// ---------------------------------------------------------------------------------------------

/// An automation table of properties only.
const fn property_table(items: *const PCPROPERTY_ITEM, count: usize) -> PCAUTOMATION_TABLE {
    PCAUTOMATION_TABLE {
        PropertyItemSize: ulong(size_of::<PCPROPERTY_ITEM>()),
        PropertyCount: ulong(count),
        Properties: items,
        MethodItemSize: 0,
        MethodCount: 0,
        Methods: ptr::null(),
        EventItemSize: 0,
        EventCount: 0,
        Events: ptr::null(),
        Reserved: 0,
    }
}

const NODE_FLAGS: u32 =
    PCPROPERTY_ITEM_FLAG_GET | PCPROPERTY_ITEM_FLAG_SET | PCPROPERTY_ITEM_FLAG_BASICSUPPORT;
const JACK_FLAGS: u32 = PCPROPERTY_ITEM_FLAG_GET | PCPROPERTY_ITEM_FLAG_BASICSUPPORT;
/// A peak meter is read only.
const PEAK_FLAGS: u32 = PCPROPERTY_ITEM_FLAG_GET | PCPROPERTY_ITEM_FLAG_BASICSUPPORT;

static VOLUME_PROPERTIES: StaticTable<[PCPROPERTY_ITEM; 1]> = StaticTable::new([PCPROPERTY_ITEM {
    Set: &raw const PROPSETID_AUDIO,
    Id: KSPROPERTY_AUDIO_VOLUMELEVEL,
    Flags: NODE_FLAGS,
    Handler: Some(node_property),
}]);

static MUTE_PROPERTIES: StaticTable<[PCPROPERTY_ITEM; 1]> = StaticTable::new([PCPROPERTY_ITEM {
    Set: &raw const PROPSETID_AUDIO,
    Id: KSPROPERTY_AUDIO_MUTE,
    Flags: NODE_FLAGS,
    Handler: Some(node_property),
}]);

static PEAK_PROPERTIES: StaticTable<[PCPROPERTY_ITEM; 1]> = StaticTable::new([PCPROPERTY_ITEM {
    Set: &raw const PROPSETID_AUDIO,
    Id: KSPROPERTY_AUDIO_PEAKMETER2,
    Flags: PEAK_FLAGS,
    Handler: Some(node_property),
}]);

/// The jack properties: PortCls routes a filter-level request for a pin (`KSP_PIN`) to the
/// filter's table, so both topology filters carry this one; the handler answers for the
/// external pin only.
static JACK_PROPERTIES: StaticTable<[PCPROPERTY_ITEM; 2]> = StaticTable::new([
    PCPROPERTY_ITEM {
        Set: &raw const PROPSETID_JACK,
        Id: KSPROPERTY_JACK_DESCRIPTION,
        Flags: JACK_FLAGS,
        Handler: Some(pin_property),
    },
    PCPROPERTY_ITEM {
        Set: &raw const PROPSETID_JACK,
        Id: KSPROPERTY_JACK_DESCRIPTION2,
        Flags: JACK_FLAGS,
        Handler: Some(pin_property),
    },
]);

const PROPOSE_FLAGS: u32 =
    PCPROPERTY_ITEM_FLAG_GET | PCPROPERTY_ITEM_FLAG_SET | PCPROPERTY_ITEM_FLAG_BASICSUPPORT;
const PROPOSE2_FLAGS: u32 = PCPROPERTY_ITEM_FLAG_GET | PCPROPERTY_ITEM_FLAG_BASICSUPPORT;

/// The proposed-format properties of the wave filters (filter-level `KSP_PIN` requests); the
/// handler answers for the host pin.
static WAVE_PROPERTIES: StaticTable<[PCPROPERTY_ITEM; 2]> = StaticTable::new([
    PCPROPERTY_ITEM {
        Set: &raw const PROPSETID_PIN,
        Id: KSPROPERTY_PIN_PROPOSEDATAFORMAT,
        Flags: PROPOSE_FLAGS,
        Handler: Some(wave_pin_property),
    },
    PCPROPERTY_ITEM {
        Set: &raw const PROPSETID_PIN,
        Id: KSPROPERTY_PIN_PROPOSEDATAFORMAT2,
        Flags: PROPOSE2_FLAGS,
        Handler: Some(wave_pin_property),
    },
]);

static WAVE_AUTOMATION: StaticTable<PCAUTOMATION_TABLE> =
    StaticTable::new(property_table(WAVE_PROPERTIES.as_ptr().cast(), 2));
static VOLUME_AUTOMATION: StaticTable<PCAUTOMATION_TABLE> =
    StaticTable::new(property_table(VOLUME_PROPERTIES.as_ptr().cast(), 1));
static MUTE_AUTOMATION: StaticTable<PCAUTOMATION_TABLE> =
    StaticTable::new(property_table(MUTE_PROPERTIES.as_ptr().cast(), 1));
static PEAK_AUTOMATION: StaticTable<PCAUTOMATION_TABLE> =
    StaticTable::new(property_table(PEAK_PROPERTIES.as_ptr().cast(), 1));
/// The jack-change event of the topology filters (a pin event, enabled through the filter's
/// table as the jack properties are): signalled for the external pin when the device says a
/// jack changed.
static JACK_EVENTS: StaticTable<[PCEVENT_ITEM; 1]> = StaticTable::new([PCEVENT_ITEM {
    Set: &raw const EVENTSETID_PINCAPSCHANGE,
    Id: KSEVENT_PINCAPS_JACKINFOCHANGE,
    Flags: PCEVENT_ITEM_FLAG_ENABLE | PCEVENT_ITEM_FLAG_BASICSUPPORT,
    Handler: Some(jack_event),
}]);

static TOPOLOGY_AUTOMATION: StaticTable<PCAUTOMATION_TABLE> =
    StaticTable::new(PCAUTOMATION_TABLE {
        EventItemSize: ulong(size_of::<PCEVENT_ITEM>()),
        EventCount: 1,
        Events: JACK_EVENTS.as_ptr().cast(),
        ..property_table(JACK_PROPERTIES.as_ptr().cast(), 2)
    });

// ---------------------------------------------------------------------------------------------
// Nodes and connections
// ---------------------------------------------------------------------------------------------

/// The nodes of either topology filter, in node-number order: volume, mute, peak meter (the
/// node constants of both filters name these places).
static TOPOLOGY_NODES: StaticTable<[PCNODE_DESCRIPTOR; 3]> = StaticTable::new([
    PCNODE_DESCRIPTOR {
        Flags: 0,
        AutomationTable: VOLUME_AUTOMATION.as_ptr(),
        Type: &raw const NODE_TYPE_VOLUME,
        Name: &raw const NODE_NAME_MASTER_VOLUME,
    },
    PCNODE_DESCRIPTOR {
        Flags: 0,
        AutomationTable: MUTE_AUTOMATION.as_ptr(),
        Type: &raw const NODE_TYPE_MUTE,
        Name: &raw const NODE_NAME_MASTER_MUTE,
    },
    PCNODE_DESCRIPTOR {
        Flags: 0,
        AutomationTable: PEAK_AUTOMATION.as_ptr(),
        Type: &raw const NODE_TYPE_PEAKMETER,
        Name: &raw const NODE_NAME_PEAKMETER,
    },
]);

const _: () = {
    assert!(RENDER_VOLUME_NODE == 0 && RENDER_MUTE_NODE == 1 && RENDER_PEAK_NODE == 2);
    assert!(CAPTURE_VOLUME_NODE == 0 && CAPTURE_MUTE_NODE == 1 && CAPTURE_PEAK_NODE == 2);
};

/// A connection between two pins of the filter itself.
const fn pin_to_pin(from_pin: u32, to_pin: u32) -> PCCONNECTION_DESCRIPTOR {
    PCCONNECTION_DESCRIPTOR {
        FromNode: PCFILTER_NODE,
        FromNodePin: from_pin,
        ToNode: PCFILTER_NODE,
        ToNodePin: to_pin,
    }
}

static RENDER_WAVE_CONNECTIONS: [PCCONNECTION_DESCRIPTOR; 1] =
    [pin_to_pin(RENDER_WAVE_HOST_PIN, RENDER_WAVE_BRIDGE_PIN)];

static CAPTURE_WAVE_CONNECTIONS: [PCCONNECTION_DESCRIPTOR; 1] =
    [pin_to_pin(CAPTURE_WAVE_BRIDGE_PIN, CAPTURE_WAVE_HOST_PIN)];

/// Filter pin `from` → volume → mute → peak meter → filter pin `to`.
const fn through_the_nodes(from: u32, to: u32) -> [PCCONNECTION_DESCRIPTOR; 4] {
    const fn link(
        from_node: u32,
        from_pin: u32,
        to_node: u32,
        to_pin: u32,
    ) -> PCCONNECTION_DESCRIPTOR {
        PCCONNECTION_DESCRIPTOR {
            FromNode: from_node,
            FromNodePin: from_pin,
            ToNode: to_node,
            ToNodePin: to_pin,
        }
    }
    [
        link(PCFILTER_NODE, from, 0, NODE_INPUT_PIN),
        link(0, NODE_OUTPUT_PIN, 1, NODE_INPUT_PIN),
        link(1, NODE_OUTPUT_PIN, 2, NODE_INPUT_PIN),
        link(2, NODE_OUTPUT_PIN, PCFILTER_NODE, to),
    ]
}

static RENDER_TOPOLOGY_CONNECTIONS: [PCCONNECTION_DESCRIPTOR; 4] =
    through_the_nodes(RENDER_TOPOLOGY_WAVE_PIN, RENDER_TOPOLOGY_SPEAKER_PIN);

static CAPTURE_TOPOLOGY_CONNECTIONS: [PCCONNECTION_DESCRIPTOR; 4] =
    through_the_nodes(CAPTURE_TOPOLOGY_MICROPHONE_PIN, CAPTURE_TOPOLOGY_WAVE_PIN);

// ---------------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------------

/// A filter descriptor over static arrays.
const fn filter_descriptor(
    automation: *const PCAUTOMATION_TABLE,
    pins: &'static [PCPIN_DESCRIPTOR],
    nodes: &'static [PCNODE_DESCRIPTOR],
    connections: &'static [PCCONNECTION_DESCRIPTOR],
    categories: &'static [GUID],
) -> PCFILTER_DESCRIPTOR {
    const fn array<T>(items: &'static [T]) -> *const T {
        if items.is_empty() {
            ptr::null()
        } else {
            items.as_ptr()
        }
    }
    PCFILTER_DESCRIPTOR {
        Version: 0,
        AutomationTable: automation,
        PinSize: ulong(size_of::<PCPIN_DESCRIPTOR>()),
        PinCount: ulong(pins.len()),
        Pins: array(pins),
        NodeSize: ulong(size_of::<PCNODE_DESCRIPTOR>()),
        NodeCount: ulong(nodes.len()),
        Nodes: array(nodes),
        ConnectionCount: ulong(connections.len()),
        Connections: array(connections),
        CategoryCount: ulong(categories.len()),
        Categories: array(categories),
    }
}

/// The render wave filter: host pin → bridge pin, with the proposed-format properties.
pub static RENDER_WAVE_FILTER: StaticTable<PCFILTER_DESCRIPTOR> =
    StaticTable::new(filter_descriptor(
        WAVE_AUTOMATION.as_ptr(),
        RENDER_WAVE_PINS.get(),
        &[],
        &RENDER_WAVE_CONNECTIONS,
        &RENDER_WAVE_CATEGORIES,
    ));

/// The render topology filter: bridge pin from the wave filter → volume → mute → peak meter
/// → speaker pin, with the jack properties.
pub static RENDER_TOPOLOGY_FILTER: StaticTable<PCFILTER_DESCRIPTOR> =
    StaticTable::new(filter_descriptor(
        TOPOLOGY_AUTOMATION.as_ptr(),
        RENDER_TOPOLOGY_PINS.get(),
        TOPOLOGY_NODES.get(),
        &RENDER_TOPOLOGY_CONNECTIONS,
        &TOPOLOGY_CATEGORIES,
    ));

/// The capture wave filter: bridge pin → host pin, with the proposed-format properties.
pub static CAPTURE_WAVE_FILTER: StaticTable<PCFILTER_DESCRIPTOR> =
    StaticTable::new(filter_descriptor(
        WAVE_AUTOMATION.as_ptr(),
        CAPTURE_WAVE_PINS.get(),
        &[],
        &CAPTURE_WAVE_CONNECTIONS,
        &CAPTURE_WAVE_CATEGORIES,
    ));

/// The capture topology filter: microphone pin → volume → mute → peak meter → bridge pin to
/// the wave filter, with the jack properties.
pub static CAPTURE_TOPOLOGY_FILTER: StaticTable<PCFILTER_DESCRIPTOR> =
    StaticTable::new(filter_descriptor(
        TOPOLOGY_AUTOMATION.as_ptr(),
        CAPTURE_TOPOLOGY_PINS.get(),
        TOPOLOGY_NODES.get(),
        &CAPTURE_TOPOLOGY_CONNECTIONS,
        &TOPOLOGY_CATEGORIES,
    ));

static RENDER_DEVICE_TOPOLOGY_CONNECTIONS: [PCCONNECTION_DESCRIPTOR; 1] = [pin_to_pin(
    RENDER_TOPOLOGY_WAVE_PIN,
    RENDER_TOPOLOGY_SPEAKER_PIN,
)];

static CAPTURE_DEVICE_TOPOLOGY_CONNECTIONS: [PCCONNECTION_DESCRIPTOR; 1] = [pin_to_pin(
    CAPTURE_TOPOLOGY_MICROPHONE_PIN,
    CAPTURE_TOPOLOGY_WAVE_PIN,
)];

/// The render topology filter of a virtio-sound function: the bridge pin straight to the
/// speaker pin, with the jack properties and event, and no nodes. The audio goes to the device
/// as the client wrote it (in place, in the buffer's pages) and the device has no volume, mute
/// or meter the driver can drive, so a node would be a control that does nothing; without one,
/// Windows applies the endpoint's volume and mute in its audio engine, as it does for any
/// endpoint without hardware volume.
pub static RENDER_DEVICE_TOPOLOGY_FILTER: StaticTable<PCFILTER_DESCRIPTOR> =
    StaticTable::new(filter_descriptor(
        TOPOLOGY_AUTOMATION.as_ptr(),
        RENDER_TOPOLOGY_PINS.get(),
        &[],
        &RENDER_DEVICE_TOPOLOGY_CONNECTIONS,
        &TOPOLOGY_CATEGORIES,
    ));

/// The capture topology filter of a virtio-sound function: the microphone pin straight to the
/// bridge pin, no nodes (as [`RENDER_DEVICE_TOPOLOGY_FILTER`]).
pub static CAPTURE_DEVICE_TOPOLOGY_FILTER: StaticTable<PCFILTER_DESCRIPTOR> =
    StaticTable::new(filter_descriptor(
        TOPOLOGY_AUTOMATION.as_ptr(),
        CAPTURE_TOPOLOGY_PINS.get(),
        &[],
        &CAPTURE_DEVICE_TOPOLOGY_CONNECTIONS,
        &TOPOLOGY_CATEGORIES,
    ));

/// `PinSize` of every filter of this driver.
const PIN_SIZE: u32 = ulong(size_of::<PCPIN_DESCRIPTOR>());

/// A wave filter's descriptor whose host pin carries what a device streams rather than all of
/// [`DataRange::DEVICE`] (a virtio-sound stream that lists fewer formats or rates): the static
/// filter and pin descriptors copied, the host pin's `DataRanges` made for the device's range
/// (each flagged and followed by the mode attribute list, as the static ones), all in one pool
/// block that points into itself. Built once at start; PortCls only reads it.
#[derive(Debug)]
pub struct DeviceDescriptor {
    filter: PCFILTER_DESCRIPTOR,
    pins: [PCPIN_DESCRIPTOR; 2],
    ranges: [KSDATARANGE_AUDIO; HOST_DATA_RANGE_COUNT],
    pointers: [PKSDATARANGE; HOST_DATA_RANGE_ENTRIES],
    range: Option<DataRange>,
}

// SAFETY: the pointers name static tables and the block's own fields, which nothing writes
// after `DeviceDescriptor::build`.
unsafe impl Send for DeviceDescriptor {}
// SAFETY: as above: shared access only reads.
unsafe impl Sync for DeviceDescriptor {}

impl DeviceDescriptor {
    /// `subdevice`'s descriptor with its host pin (`host_pin`) carrying `range` (none: the
    /// device streams nothing the driver can, and the pin has no data range), in pool.
    /// `None` without pool, or for a subdevice that is not a two-pin filter of this driver.
    #[must_use]
    pub fn build(
        pool: crate::pool::Pool,
        subdevice: &Subdevice,
        host_pin: u32,
        range: Option<DataRange>,
    ) -> Option<crate::pool::PoolBox<Self>> {
        let base = filter(subdevice)?;
        if base.PinCount != 2 || base.PinSize != PIN_SIZE {
            return None;
        }
        // SAFETY: the static filter's pin table: `PinCount` (2) descriptors of `PinSize`.
        let pins = unsafe { base.Pins.cast::<[PCPIN_DESCRIPTOR; 2]>().read() };
        let samples = range.map_or(&[][..], |range| range.samples);
        let mut ranges = [host_range(SampleFormat::Pcm16); HOST_DATA_RANGE_COUNT];
        if let Some(range) = &range {
            for (slot, &sample) in ranges.iter_mut().zip(samples) {
                *slot = host_range_in(range, sample);
            }
        }
        let mut block = crate::pool::PoolBox::new(
            pool,
            Self {
                filter: *base,
                pins,
                ranges,
                pointers: [ptr::null_mut(); HOST_DATA_RANGE_ENTRIES],
                range,
            },
        )
        .ok()?;
        let this = &mut *block;
        let used = samples.len().min(HOST_DATA_RANGE_COUNT);
        let attributes = HOST_RANGE_ATTRIBUTES
            .as_ptr()
            .cast::<KSDATARANGE>()
            .cast_mut();
        for (pair, range) in this
            .pointers
            .chunks_exact_mut(2)
            .zip(&mut this.ranges)
            .take(used)
        {
            let range: *mut KSDATARANGE_AUDIO = range;
            // A flagged range, then its attribute list, as in the static table.
            pair.copy_from_slice(&[range.cast(), attributes]);
        }
        let host = this.pins.get_mut(usize::try_from(host_pin).ok()?)?;
        host.KsPinDescriptor.DataRanges = this.pointers.as_ptr();
        // At most HOST_DATA_RANGE_ENTRIES (6).
        host.KsPinDescriptor.DataRangesCount = u32::try_from(2 * used).unwrap_or(0);
        this.filter.Pins = this.pins.as_ptr();
        Some(block)
    }

    /// The filter descriptor `GetDescription` hands PortCls.
    #[must_use]
    pub const fn filter(&self) -> &PCFILTER_DESCRIPTOR {
        &self.filter
    }

    /// The range the host pin carries.
    #[must_use]
    pub const fn range(&self) -> Option<DataRange> {
        self.range
    }
}

/// The descriptor of topology `subdevice` on a virtio-sound function
/// ([`RENDER_DEVICE_TOPOLOGY_FILTER`], [`CAPTURE_DEVICE_TOPOLOGY_FILTER`]), or `None` for a
/// subdevice that is not a topology filter of this driver.
#[must_use]
pub fn device_topology_filter(subdevice: &Subdevice) -> Option<&'static PCFILTER_DESCRIPTOR> {
    if !identity::DEVICE_SUBDEVICES.contains(subdevice) {
        return None;
    }
    let table = match (subdevice.kind, subdevice.flow) {
        (FilterKind::Topology, EndpointFlow::Render) => &RENDER_DEVICE_TOPOLOGY_FILTER,
        (FilterKind::Topology, EndpointFlow::Capture) => &CAPTURE_DEVICE_TOPOLOGY_FILTER,
        (FilterKind::Wave, _) => return None,
    };
    Some(table.get())
}

/// The descriptor of `subdevice` (every endpoint of a flow has the same filters), or `None`
/// for a subdevice this driver does not register.
#[must_use]
pub fn filter(subdevice: &Subdevice) -> Option<&'static PCFILTER_DESCRIPTOR> {
    if !identity::DEVICE_SUBDEVICES.contains(subdevice) {
        return None;
    }
    let table = match (subdevice.kind, subdevice.flow) {
        (FilterKind::Wave, EndpointFlow::Render) => &RENDER_WAVE_FILTER,
        (FilterKind::Topology, EndpointFlow::Render) => &RENDER_TOPOLOGY_FILTER,
        (FilterKind::Wave, EndpointFlow::Capture) => &CAPTURE_WAVE_FILTER,
        (FilterKind::Topology, EndpointFlow::Capture) => &CAPTURE_TOPOLOGY_FILTER,
    };
    Some(table.get())
}
