//! The driver's four filter descriptors: each passes the simulator's KS rule checker, the host
//! pins offer exactly the device's formats (each range followed by its signal-processing-mode
//! attribute list), every pin, node and connection has the shape the endpoint builder expects,
//! the wave filters carry the proposed-format properties, and the physical connections join
//! bridge pins.

use std::slice;

use portcls_sim::ks_rules::{check_filter, data_range_entries};
use portcls_sys::GUID;
use portcls_sys::ks::{
    GUID_NULL, KSATTRIBUTE, KSATTRIBUTE_LIST, KSATTRIBUTEID_AUDIOSIGNALPROCESSING_MODE,
    KSAUDFNAME_MASTER_MUTE, KSAUDFNAME_MASTER_VOLUME, KSAUDFNAME_PEAKMETER, KSCATEGORY_AUDIO,
    KSDATAFORMAT_SPECIFIER_NONE, KSDATAFORMAT_SPECIFIER_WAVEFORMATEX, KSDATAFORMAT_SUBTYPE_ANALOG,
    KSDATAFORMAT_SUBTYPE_IEEE_FLOAT, KSDATAFORMAT_SUBTYPE_PCM, KSDATAFORMAT_TYPE_AUDIO,
    KSDATARANGE, KSDATARANGE_ATTRIBUTES, KSDATARANGE_AUDIO, KSEVENT_PINCAPS_JACKINFOCHANGE,
    KSEVENTSETID_PinCapsChange, KSNODETYPE_MICROPHONE, KSNODETYPE_MUTE, KSNODETYPE_PEAKMETER,
    KSNODETYPE_SPEAKER, KSNODETYPE_VOLUME, KSPIN_COMMUNICATION, KSPIN_COMMUNICATION_NONE,
    KSPIN_COMMUNICATION_SINK, KSPIN_DATAFLOW, KSPIN_DATAFLOW_IN, KSPIN_DATAFLOW_OUT,
    KSPROPERTY_AUDIO_MUTE, KSPROPERTY_AUDIO_PEAKMETER2, KSPROPERTY_AUDIO_VOLUMELEVEL,
    KSPROPERTY_JACK_DESCRIPTION, KSPROPERTY_JACK_DESCRIPTION2, KSPROPERTY_PIN_PROPOSEDATAFORMAT,
    KSPROPERTY_PIN_PROPOSEDATAFORMAT2, KSPROPSETID_Audio, KSPROPSETID_Jack, KSPROPSETID_Pin,
};
use portcls_sys::wavert::{
    PCAUTOMATION_TABLE, PCCONNECTION_DESCRIPTOR, PCEVENT_ITEM, PCEVENT_ITEM_FLAG_BASICSUPPORT,
    PCEVENT_ITEM_FLAG_ENABLE, PCFILTER_DESCRIPTOR, PCFILTER_NODE, PCNODE_DESCRIPTOR,
    PCPIN_DESCRIPTOR, PCPROPERTY_ITEM, PCPROPERTY_ITEM_FLAG_BASICSUPPORT, PCPROPERTY_ITEM_FLAG_GET,
    PCPROPERTY_ITEM_FLAG_SET,
};
use wavert_sample::descriptors::{
    self, CAPTURE_MUTE_NODE, CAPTURE_PEAK_NODE, CAPTURE_TOPOLOGY_MICROPHONE_PIN,
    CAPTURE_TOPOLOGY_WAVE_PIN, CAPTURE_VOLUME_NODE, CAPTURE_WAVE_BRIDGE_PIN, CAPTURE_WAVE_HOST_PIN,
    HOST_DATA_RANGE_COUNT, HOST_DATA_RANGE_ENTRIES, NODE_INPUT_PIN, NODE_OUTPUT_PIN,
    PHYSICAL_CONNECTIONS, RENDER_MUTE_NODE, RENDER_PEAK_NODE, RENDER_TOPOLOGY_SPEAKER_PIN,
    RENDER_TOPOLOGY_WAVE_PIN, RENDER_VOLUME_NODE, RENDER_WAVE_BRIDGE_PIN, RENDER_WAVE_HOST_PIN,
};
use wavert_sample::format::{DataRange, Format, SampleFormat, guid_wire};
use wavert_sample::identity::{self, FilterKind, KsCategory, SUBDEVICES, Subdevice};

// ---- Reading the raw tables ----

fn len(count: u32) -> usize {
    usize::try_from(count).unwrap()
}

/// `count` items at `items` (empty when the count is 0, whatever the pointer).
///
/// # Safety
/// `items` points to `count` readable `T`s that live for `'static` (the driver's statics).
unsafe fn array<T>(items: *const T, count: u32) -> &'static [T] {
    if count == 0 {
        return &[];
    }
    assert!(!items.is_null());
    // SAFETY: `count` readable, immutable, 'static items (the caller's contract).
    unsafe { slice::from_raw_parts(items, len(count)) }
}

fn descriptor(subdevice: &Subdevice) -> &'static PCFILTER_DESCRIPTOR {
    descriptors::filter(subdevice).expect("every subdevice has a descriptor")
}

fn pins(filter: &PCFILTER_DESCRIPTOR) -> &'static [PCPIN_DESCRIPTOR] {
    assert_eq!(len(filter.PinSize), size_of::<PCPIN_DESCRIPTOR>());
    // SAFETY: the driver's static descriptor: `PinCount` pins of exactly the struct's size.
    unsafe { array(filter.Pins, filter.PinCount) }
}

fn nodes(filter: &PCFILTER_DESCRIPTOR) -> &'static [PCNODE_DESCRIPTOR] {
    assert_eq!(len(filter.NodeSize), size_of::<PCNODE_DESCRIPTOR>());
    // SAFETY: the driver's static descriptor: `NodeCount` nodes of exactly the struct's size.
    unsafe { array(filter.Nodes, filter.NodeCount) }
}

fn connections(filter: &PCFILTER_DESCRIPTOR) -> &'static [PCCONNECTION_DESCRIPTOR] {
    // SAFETY: the driver's static descriptor: `ConnectionCount` connections.
    unsafe { array(filter.Connections, filter.ConnectionCount) }
}

fn categories(filter: &PCFILTER_DESCRIPTOR) -> &'static [GUID] {
    // SAFETY: the driver's static descriptor: `CategoryCount` GUIDs.
    unsafe { array(filter.Categories, filter.CategoryCount) }
}

fn guid(pointer: *const GUID) -> GUID {
    assert!(!pointer.is_null());
    // SAFETY: non-null GUID pointers of the driver's tables lead to static GUIDs.
    unsafe { pointer.read() }
}

/// A table's properties; it has no methods, and events only where `events` says.
fn properties(table: *const PCAUTOMATION_TABLE) -> &'static [PCPROPERTY_ITEM] {
    assert!(!table.is_null());
    // SAFETY: non-null table pointers of the driver's descriptors lead to static tables.
    let table = unsafe { &*table };
    assert_eq!(len(table.PropertyItemSize), size_of::<PCPROPERTY_ITEM>());
    assert_eq!(table.MethodCount, 0);
    // SAFETY: `PropertyCount` items of exactly the struct's size, static.
    unsafe { array(table.Properties, table.PropertyCount) }
}

/// A table's events.
fn events(table: *const PCAUTOMATION_TABLE) -> &'static [PCEVENT_ITEM] {
    assert!(!table.is_null());
    // SAFETY: as in `properties`.
    let table = unsafe { &*table };
    if table.EventCount == 0 {
        return &[];
    }
    assert_eq!(len(table.EventItemSize), size_of::<PCEVENT_ITEM>());
    // SAFETY: `EventCount` items of exactly the struct's size, static.
    unsafe { array(table.Events, table.EventCount) }
}

/// A pin's data ranges, as the raw pointers PortCls reads (a reference to the 64-byte head would
/// not cover the rest of an audio range), without the attribute lists that follow flagged
/// ranges (KS reads the array so, and so does the model).
fn ranges(pin: &PCPIN_DESCRIPTOR) -> Vec<*const KSDATARANGE> {
    // SAFETY: the driver's static pin: `DataRangesCount` pointers to static ranges and lists.
    let entries = unsafe { data_range_entries(&pin.KsPinDescriptor) };
    entries
        .into_iter()
        .map(|(range, _)| {
            assert!(!range.is_null());
            range.cast_const()
        })
        .collect()
}

/// The attribute list after each of a pin's ranges (`None` for a range without one).
fn attribute_lists(pin: &PCPIN_DESCRIPTOR) -> Vec<Option<KSATTRIBUTE_LIST>> {
    // SAFETY: as in `ranges`.
    let entries = unsafe { data_range_entries(&pin.KsPinDescriptor) };
    entries
        .into_iter()
        .map(|(_, list)| {
            list.map(|list| {
                assert!(!list.is_null());
                // SAFETY: the driver's static list after a flagged range.
                unsafe { list.read() }
            })
        })
        .collect()
}

/// The 64-byte head every data range starts with.
fn head(range: *const KSDATARANGE) -> KSDATARANGE {
    // SAFETY: every range pointer of the driver leads to a static, aligned range of at least
    // 64 bytes.
    unsafe { range.read() }
}

/// A host pin's ranges, as the audio ranges their `FormatSize` says they are.
fn audio_ranges(pin: &PCPIN_DESCRIPTOR) -> Vec<KSDATARANGE_AUDIO> {
    ranges(pin)
        .into_iter()
        .map(|range| {
            let size = head(range).FormatSize;
            assert_eq!(len(size), size_of::<KSDATARANGE_AUDIO>());
            assert_eq!(size, 88);
            // SAFETY: `FormatSize` says 88 bytes: the whole, 8-aligned KSDATARANGE_AUDIO static.
            unsafe { range.cast::<KSDATARANGE_AUDIO>().read() }
        })
        .collect()
}

fn host_pin(subdevice: &Subdevice) -> &'static PCPIN_DESCRIPTOR {
    let pin = if *subdevice == identity::RENDER_WAVE {
        RENDER_WAVE_HOST_PIN
    } else {
        CAPTURE_WAVE_HOST_PIN
    };
    &pins(descriptor(subdevice))[len(pin)]
}

// ---- The rules ----

#[test]
fn every_descriptor_passes_the_ks_rule_checker() {
    for subdevice in identity::DEVICE_SUBDEVICES {
        let filter = descriptor(&subdevice);
        // SAFETY: the driver's static descriptor, complete and consistent.
        let breaches = unsafe { check_filter(filter) };
        let report: Vec<String> = breaches.iter().map(ToString::to_string).collect();
        assert!(breaches.is_empty(), "{}: {report:#?}", subdevice.name);
    }
}

#[test]
fn each_subdevice_maps_to_its_own_static_descriptor_and_others_to_none() {
    let expected = [
        (identity::RENDER_WAVE, &descriptors::RENDER_WAVE_FILTER),
        (
            identity::RENDER_TOPOLOGY,
            &descriptors::RENDER_TOPOLOGY_FILTER,
        ),
        (identity::CAPTURE_WAVE, &descriptors::CAPTURE_WAVE_FILTER),
        (
            identity::CAPTURE_TOPOLOGY,
            &descriptors::CAPTURE_TOPOLOGY_FILTER,
        ),
    ];
    for (subdevice, table) in expected {
        let found = descriptor(&subdevice);
        assert!(std::ptr::eq(found, table.get()), "{}", subdevice.name);
        assert!(std::ptr::eq(found, table.as_ptr()), "{}", subdevice.name);
        assert_eq!(found.Version, 0);
    }
    // Every further endpoint of a flow has the first one's filters.
    for endpoints in identity::ENDPOINTS {
        for endpoint in &endpoints[1..] {
            for (subdevice, first) in [
                (endpoint.wave, endpoints[0].wave),
                (endpoint.topology, endpoints[0].topology),
            ] {
                assert!(
                    std::ptr::eq(descriptor(&subdevice), descriptor(&first)),
                    "{}",
                    subdevice.name
                );
                assert_eq!(
                    descriptors::device_topology_filter(&subdevice).map(std::ptr::from_ref),
                    descriptors::device_topology_filter(&first).map(std::ptr::from_ref),
                    "{}",
                    subdevice.name
                );
            }
        }
    }
    let stranger = Subdevice {
        name: "Stranger",
        ..identity::RENDER_WAVE
    };
    assert!(descriptors::filter(&stranger).is_none());
    assert!(descriptors::device_topology_filter(&stranger).is_none());
}

#[test]
fn filter_categories_are_the_subdevice_interface_categories() {
    for subdevice in identity::DEVICE_SUBDEVICES {
        let found: Vec<u128> = categories(descriptor(&subdevice))
            .iter()
            .map(GUID::to_u128)
            .collect();
        let expected: Vec<u128> = subdevice
            .categories
            .iter()
            .map(|c| KsCategory::guid(*c))
            .collect();
        assert_eq!(found, expected, "{}", subdevice.name);
    }
}

// ---- The host pins' formats ----

/// The sub-format GUID of a device sample format, from the format module's own mapping.
fn sub_format(sample: SampleFormat) -> GUID {
    let wire = sample.sub_format();
    [KSDATAFORMAT_SUBTYPE_PCM, KSDATAFORMAT_SUBTYPE_IEEE_FLOAT]
        .into_iter()
        .find(|guid| guid_wire(guid.to_u128()) == wire)
        .expect("PCM or float")
}

/// Whether a KS audio range admits a format, as KS compares them: the same sub-format,
/// at most `MaximumChannels`, `wBitsPerSample` (the container) and the rate within the limits.
fn admits(range: &KSDATARANGE_AUDIO, sub: GUID, channels: u32, bits: u32, rate: u32) -> bool {
    range.DataRange.SubFormat == sub
        && (1..=range.MaximumChannels).contains(&channels)
        && (range.MinimumBitsPerSample..=range.MaximumBitsPerSample).contains(&bits)
        && (range.MinimumSampleFrequency..=range.MaximumSampleFrequency).contains(&rate)
}

/// The common sample rates. (Between 44 100 and 48 000 Hz lies none, so the continuous rate
/// limits of a range admit no common rate the device refuses.)
const STANDARD_RATES: [u32; 11] = [
    8_000, 11_025, 16_000, 22_050, 32_000, 44_100, 48_000, 88_200, 96_000, 176_400, 192_000,
];

#[test]
fn host_ranges_are_well_formed_audio_ranges_one_per_device_sample_format() {
    let device = DataRange::DEVICE;
    for subdevice in [identity::RENDER_WAVE, identity::CAPTURE_WAVE] {
        let ranges = audio_ranges(host_pin(&subdevice));
        assert_eq!(ranges.len(), HOST_DATA_RANGE_COUNT);
        assert_eq!(ranges.len(), device.samples.len());
        for (range, &sample) in ranges.iter().zip(device.samples) {
            let head = &range.DataRange;
            assert_eq!(head.MajorFormat, KSDATAFORMAT_TYPE_AUDIO);
            assert_eq!(head.Specifier, KSDATAFORMAT_SPECIFIER_WAVEFORMATEX);
            assert_eq!(head.SubFormat, sub_format(sample), "{sample:?}");
            assert_eq!(
                (head.Flags, head.SampleSize, head.Reserved),
                (KSDATARANGE_ATTRIBUTES, 0, 0)
            );
            assert_eq!(range.MaximumChannels, u32::from(device.channels));
            let bits = u32::from(sample.container_bits());
            assert_eq!(
                (range.MinimumBitsPerSample, range.MaximumBitsPerSample),
                (bits, bits),
                "{sample:?}: the container size"
            );
            assert_eq!(
                (range.MinimumSampleFrequency, range.MaximumSampleFrequency),
                (device.min_rate, device.max_rate)
            );
        }
    }
}

#[test]
fn each_host_range_is_followed_by_a_list_naming_the_mode_attribute() {
    for subdevice in [identity::RENDER_WAVE, identity::CAPTURE_WAVE] {
        let pin = host_pin(&subdevice);
        assert_eq!(
            len(pin.KsPinDescriptor.DataRangesCount),
            HOST_DATA_RANGE_ENTRIES
        );
        let lists = attribute_lists(pin);
        assert_eq!(lists.len(), HOST_DATA_RANGE_COUNT);
        for list in lists {
            let list = list.expect("every host range is flagged and has its list");
            assert_eq!(list.Count, 1);
            // SAFETY: the driver's static array of `Count` attribute pointers.
            let attributes = unsafe { array(list.Attributes, list.Count) };
            // SAFETY: each points to a static KSATTRIBUTE.
            let attribute: KSATTRIBUTE = unsafe { attributes[0].read() };
            assert_eq!(
                attribute.Attribute,
                KSATTRIBUTEID_AUDIOSIGNALPROCESSING_MODE
            );
            assert_eq!(len(attribute.Size), size_of::<KSATTRIBUTE>());
            assert_eq!(
                attribute.Flags, 0,
                "the mode is optional: no mode means DEFAULT"
            );
        }
    }
}

/// The filter-level proposed-format properties of a wave filter.
fn assert_proposed_format_table(filter: &PCFILTER_DESCRIPTOR) {
    let items = properties(filter.AutomationTable);
    assert!(events(filter.AutomationTable).is_empty());
    let ids: Vec<(u32, u32)> = items.iter().map(|item| (item.Id, item.Flags)).collect();
    assert_eq!(
        ids,
        [
            (
                KSPROPERTY_PIN_PROPOSEDATAFORMAT,
                PCPROPERTY_ITEM_FLAG_GET
                    | PCPROPERTY_ITEM_FLAG_SET
                    | PCPROPERTY_ITEM_FLAG_BASICSUPPORT
            ),
            (
                KSPROPERTY_PIN_PROPOSEDATAFORMAT2,
                PCPROPERTY_ITEM_FLAG_GET | PCPROPERTY_ITEM_FLAG_BASICSUPPORT
            ),
        ]
    );
    for item in items {
        assert_eq!(guid(item.Set), KSPROPSETID_Pin);
        assert!(item.Handler.is_some());
    }
}

#[test]
fn host_ranges_admit_every_device_format_and_no_other_stereo_format() {
    // KSDATARANGE_AUDIO states only a maximum channel count, so it cannot refuse mono; the
    // comparison is made at the device's channel count, over standard bit depths and rates.
    let channels = u32::from(DataRange::DEVICE.channels);
    for subdevice in [identity::RENDER_WAVE, identity::CAPTURE_WAVE] {
        let ranges = audio_ranges(host_pin(&subdevice));
        for sub in [KSDATAFORMAT_SUBTYPE_PCM, KSDATAFORMAT_SUBTYPE_IEEE_FLOAT] {
            for bits in [8, 16, 20, 24, 32, 64] {
                for rate in STANDARD_RATES {
                    let device_format = SampleFormat::ALL.iter().any(|&sample| {
                        sub_format(sample) == sub
                            && u32::from(sample.container_bits()) == bits
                            && Format::new(sample, DataRange::DEVICE.channels, rate)
                                .is_ok_and(|f| DataRange::DEVICE.contains(&f))
                    });
                    let admitted = ranges
                        .iter()
                        .filter(|r| admits(r, sub, channels, bits, rate))
                        .count();
                    let expected = usize::from(device_format);
                    assert_eq!(
                        admitted, expected,
                        "{}: {sub:?} {bits} bits {rate} Hz",
                        subdevice.name
                    );
                }
            }
        }
    }
}

#[test]
fn every_format_the_device_accepts_lies_in_exactly_one_host_range() {
    for subdevice in [identity::RENDER_WAVE, identity::CAPTURE_WAVE] {
        let ranges = audio_ranges(host_pin(&subdevice));
        let mut formats = 0;
        for &sample in &SampleFormat::ALL {
            for channels in 0..=8 {
                for rate in STANDARD_RATES {
                    let Ok(format) = Format::new(sample, channels, rate) else {
                        continue;
                    };
                    formats += 1;
                    let admitted = ranges
                        .iter()
                        .filter(|r| {
                            admits(
                                r,
                                sub_format(sample),
                                u32::from(format.channels()),
                                u32::from(sample.container_bits()),
                                format.rate(),
                            )
                        })
                        .count();
                    assert_eq!(admitted, 1, "{}: {format:?}", subdevice.name);
                }
            }
        }
        assert_eq!(formats, SampleFormat::ALL.len() * 2);
    }
}

// ---- Pins, nodes, connections ----

struct PinShape {
    dataflow: KSPIN_DATAFLOW,
    communication: KSPIN_COMMUNICATION,
    category: GUID,
}

fn shape(dataflow: KSPIN_DATAFLOW, communication: KSPIN_COMMUNICATION, category: GUID) -> PinShape {
    PinShape {
        dataflow,
        communication,
        category,
    }
}

fn filter_connection(from_pin: u32, to_pin: u32) -> PCCONNECTION_DESCRIPTOR {
    PCCONNECTION_DESCRIPTOR {
        FromNode: PCFILTER_NODE,
        FromNodePin: from_pin,
        ToNode: PCFILTER_NODE,
        ToNodePin: to_pin,
    }
}

fn assert_pins(subdevice: &Subdevice, expected: &[PinShape]) {
    let pins = pins(descriptor(subdevice));
    assert_eq!(pins.len(), expected.len(), "{}", subdevice.name);
    for (index, (pin, shape)) in pins.iter().zip(expected).enumerate() {
        let ks = &pin.KsPinDescriptor;
        let at = format!("{} pin {index}", subdevice.name);
        assert_eq!(ks.DataFlow, shape.dataflow, "{at}");
        assert_eq!(ks.Communication, shape.communication, "{at}");
        assert_eq!(guid(ks.Category), shape.category, "{at}");
        assert!(ks.Name.is_null(), "{at}");
        let counts = (
            pin.MaxGlobalInstanceCount,
            pin.MaxFilterInstanceCount,
            pin.MinFilterInstanceCount,
        );
        if shape.communication == KSPIN_COMMUNICATION_SINK {
            assert_eq!(counts, (1, 1, 0), "{at}");
        } else {
            assert_eq!(counts, (0, 0, 0), "{at}");
            assert!(pin.AutomationTable.is_null(), "{at}");
            let ranges = ranges(pin);
            assert_eq!(ranges.len(), 1, "{at}");
            let analog = head(ranges[0]);
            assert_eq!(len(analog.FormatSize), size_of::<KSDATARANGE>(), "{at}");
            assert_eq!(analog.MajorFormat, KSDATAFORMAT_TYPE_AUDIO, "{at}");
            assert_eq!(analog.SubFormat, KSDATAFORMAT_SUBTYPE_ANALOG, "{at}");
            assert_eq!(analog.Specifier, KSDATAFORMAT_SPECIFIER_NONE, "{at}");
        }
    }
}

#[test]
fn render_wave_filter_is_host_pin_in_to_bridge_pin_out() {
    let sub = identity::RENDER_WAVE;
    assert_pins(
        &sub,
        &[
            shape(
                KSPIN_DATAFLOW_IN,
                KSPIN_COMMUNICATION_SINK,
                KSCATEGORY_AUDIO,
            ),
            shape(
                KSPIN_DATAFLOW_OUT,
                KSPIN_COMMUNICATION_NONE,
                KSCATEGORY_AUDIO,
            ),
        ],
    );
    let filter = descriptor(&sub);
    assert_eq!(
        connections(filter),
        [filter_connection(
            RENDER_WAVE_HOST_PIN,
            RENDER_WAVE_BRIDGE_PIN
        )]
    );
    assert!(nodes(filter).is_empty());
    assert_proposed_format_table(filter);
}

#[test]
fn capture_wave_filter_is_bridge_pin_in_to_host_pin_out() {
    let sub = identity::CAPTURE_WAVE;
    assert_pins(
        &sub,
        &[
            shape(
                KSPIN_DATAFLOW_IN,
                KSPIN_COMMUNICATION_NONE,
                KSCATEGORY_AUDIO,
            ),
            shape(
                KSPIN_DATAFLOW_OUT,
                KSPIN_COMMUNICATION_SINK,
                KSCATEGORY_AUDIO,
            ),
        ],
    );
    let filter = descriptor(&sub);
    assert_eq!(
        connections(filter),
        [filter_connection(
            CAPTURE_WAVE_BRIDGE_PIN,
            CAPTURE_WAVE_HOST_PIN
        )]
    );
    assert!(nodes(filter).is_empty());
    assert_proposed_format_table(filter);
}

/// The filter-level jack properties of a topology filter.
fn assert_jack_table(filter: &PCFILTER_DESCRIPTOR) {
    let items = properties(filter.AutomationTable);
    let ids: Vec<u32> = items.iter().map(|item| item.Id).collect();
    assert_eq!(
        ids,
        [KSPROPERTY_JACK_DESCRIPTION, KSPROPERTY_JACK_DESCRIPTION2]
    );
    for item in items {
        assert_eq!(guid(item.Set), KSPROPSETID_Jack);
        assert_eq!(
            item.Flags,
            PCPROPERTY_ITEM_FLAG_GET | PCPROPERTY_ITEM_FLAG_BASICSUPPORT
        );
        assert!(item.Handler.is_some());
    }
    // The jack-change event, enabled through the same table.
    let [event] = events(filter.AutomationTable) else {
        panic!("one event");
    };
    assert_eq!(guid(event.Set), KSEVENTSETID_PinCapsChange);
    assert_eq!(event.Id, KSEVENT_PINCAPS_JACKINFOCHANGE);
    assert_eq!(
        event.Flags,
        PCEVENT_ITEM_FLAG_ENABLE | PCEVENT_ITEM_FLAG_BASICSUPPORT
    );
    assert!(event.Handler.is_some());
}

/// Checks a topology filter's three nodes (volume, mute, peak meter at `numbers`) and that its
/// connections run filter pin `from` → volume → mute → peak meter → filter pin `to`.
fn assert_volume_mute_meter_chain(
    filter: &PCFILTER_DESCRIPTOR,
    from: u32,
    to: u32,
    numbers: [u32; 3],
) {
    let nodes = nodes(filter);
    assert_eq!(nodes.len(), 3);
    let read_write =
        PCPROPERTY_ITEM_FLAG_GET | PCPROPERTY_ITEM_FLAG_SET | PCPROPERTY_ITEM_FLAG_BASICSUPPORT;
    let read_only = PCPROPERTY_ITEM_FLAG_GET | PCPROPERTY_ITEM_FLAG_BASICSUPPORT;
    for (index, node_type, name, property, flags) in [
        (
            numbers[0],
            KSNODETYPE_VOLUME,
            KSAUDFNAME_MASTER_VOLUME,
            KSPROPERTY_AUDIO_VOLUMELEVEL,
            read_write,
        ),
        (
            numbers[1],
            KSNODETYPE_MUTE,
            KSAUDFNAME_MASTER_MUTE,
            KSPROPERTY_AUDIO_MUTE,
            read_write,
        ),
        (
            numbers[2],
            KSNODETYPE_PEAKMETER,
            KSAUDFNAME_PEAKMETER,
            KSPROPERTY_AUDIO_PEAKMETER2,
            read_only,
        ),
    ] {
        let node = &nodes[len(index)];
        assert_eq!(guid(node.Type), node_type);
        assert_eq!(guid(node.Name), name);
        let items = properties(node.AutomationTable);
        assert!(events(node.AutomationTable).is_empty());
        assert_eq!(items.len(), 1);
        assert_eq!(guid(items[0].Set), KSPROPSETID_Audio);
        assert_eq!(items[0].Id, property);
        assert_eq!(items[0].Flags, flags);
        assert!(items[0].Handler.is_some());
    }
    let wire = |from: (u32, u32), to: (u32, u32)| PCCONNECTION_DESCRIPTOR {
        FromNode: from.0,
        FromNodePin: from.1,
        ToNode: to.0,
        ToNodePin: to.1,
    };
    assert_eq!((NODE_INPUT_PIN, NODE_OUTPUT_PIN), (1, 0));
    let [volume, mute, meter] = numbers;
    assert_eq!(
        connections(filter),
        [
            wire((PCFILTER_NODE, from), (volume, NODE_INPUT_PIN)),
            wire((volume, NODE_OUTPUT_PIN), (mute, NODE_INPUT_PIN)),
            wire((mute, NODE_OUTPUT_PIN), (meter, NODE_INPUT_PIN)),
            wire((meter, NODE_OUTPUT_PIN), (PCFILTER_NODE, to)),
        ]
    );
}

#[test]
fn render_topology_filter_runs_through_volume_mute_and_meter_to_the_speaker_pin() {
    let sub = identity::RENDER_TOPOLOGY;
    assert_pins(
        &sub,
        &[
            shape(
                KSPIN_DATAFLOW_IN,
                KSPIN_COMMUNICATION_NONE,
                KSCATEGORY_AUDIO,
            ),
            shape(
                KSPIN_DATAFLOW_OUT,
                KSPIN_COMMUNICATION_NONE,
                KSNODETYPE_SPEAKER,
            ),
        ],
    );
    let filter = descriptor(&sub);
    assert_volume_mute_meter_chain(
        filter,
        RENDER_TOPOLOGY_WAVE_PIN,
        RENDER_TOPOLOGY_SPEAKER_PIN,
        [RENDER_VOLUME_NODE, RENDER_MUTE_NODE, RENDER_PEAK_NODE],
    );
    assert_jack_table(filter);
}

#[test]
fn capture_topology_filter_runs_the_microphone_through_volume_mute_and_meter() {
    let sub = identity::CAPTURE_TOPOLOGY;
    assert_pins(
        &sub,
        &[
            shape(
                KSPIN_DATAFLOW_IN,
                KSPIN_COMMUNICATION_NONE,
                KSNODETYPE_MICROPHONE,
            ),
            shape(
                KSPIN_DATAFLOW_OUT,
                KSPIN_COMMUNICATION_NONE,
                KSCATEGORY_AUDIO,
            ),
        ],
    );
    let filter = descriptor(&sub);
    assert_volume_mute_meter_chain(
        filter,
        CAPTURE_TOPOLOGY_MICROPHONE_PIN,
        CAPTURE_TOPOLOGY_WAVE_PIN,
        [CAPTURE_VOLUME_NODE, CAPTURE_MUTE_NODE, CAPTURE_PEAK_NODE],
    );
    assert_jack_table(filter);
}

#[test]
fn a_virtio_functions_topology_filters_join_their_pins_with_no_nodes() {
    for (sub, from, to) in [
        (
            identity::RENDER_TOPOLOGY,
            RENDER_TOPOLOGY_WAVE_PIN,
            RENDER_TOPOLOGY_SPEAKER_PIN,
        ),
        (
            identity::CAPTURE_TOPOLOGY,
            CAPTURE_TOPOLOGY_MICROPHONE_PIN,
            CAPTURE_TOPOLOGY_WAVE_PIN,
        ),
    ] {
        let filter = descriptors::device_topology_filter(&sub).expect("a topology filter");
        // SAFETY: the driver's static descriptor, complete and consistent.
        let breaches = unsafe { check_filter(filter) };
        assert!(breaches.is_empty(), "{}: {breaches:?}", sub.name);
        // The same pins as on the virtual device, the same jack table and event.
        assert_eq!(filter.PinCount, descriptor(&sub).PinCount, "{}", sub.name);
        assert!(
            core::ptr::eq(filter.Pins, descriptor(&sub).Pins),
            "{}",
            sub.name
        );
        assert!(nodes(filter).is_empty(), "{}", sub.name);
        assert_eq!(
            connections(filter),
            [filter_connection(from, to)],
            "{}",
            sub.name
        );
        assert_jack_table(filter);
    }
    for wave in [identity::RENDER_WAVE, identity::CAPTURE_WAVE] {
        assert!(descriptors::device_topology_filter(&wave).is_none());
    }
}

#[test]
fn physical_connections_join_a_bridge_pin_out_to_a_bridge_pin_in() {
    assert_eq!(
        PHYSICAL_CONNECTIONS.map(|c| (c.from.name, c.from_pin, c.to.name, c.to_pin)),
        [
            (
                identity::RENDER_WAVE.name,
                RENDER_WAVE_BRIDGE_PIN,
                identity::RENDER_TOPOLOGY.name,
                RENDER_TOPOLOGY_WAVE_PIN
            ),
            (
                identity::CAPTURE_TOPOLOGY.name,
                CAPTURE_TOPOLOGY_WAVE_PIN,
                identity::CAPTURE_WAVE.name,
                CAPTURE_WAVE_BRIDGE_PIN
            ),
        ]
    );
    for connection in PHYSICAL_CONNECTIONS {
        // Each link joins a wave filter and a topology filter.
        assert_ne!(connection.from.kind, connection.to.kind);
        let from = &pins(descriptor(&connection.from))[len(connection.from_pin)];
        let to = &pins(descriptor(&connection.to))[len(connection.to_pin)];
        for (pin, dataflow) in [(from, KSPIN_DATAFLOW_OUT), (to, KSPIN_DATAFLOW_IN)] {
            assert_eq!(pin.KsPinDescriptor.Communication, KSPIN_COMMUNICATION_NONE);
            assert_eq!(pin.KsPinDescriptor.DataFlow, dataflow);
        }
    }
    // The endpoint pins are the topology bridge pins left without a physical connection.
    let wired: Vec<(&str, u32)> = PHYSICAL_CONNECTIONS
        .iter()
        .flat_map(|c| [(c.from.name, c.from_pin), (c.to.name, c.to_pin)])
        .collect();
    for subdevice in SUBDEVICES {
        for (index, pin) in pins(descriptor(&subdevice)).iter().enumerate() {
            let index = u32::try_from(index).unwrap();
            let bridge = pin.KsPinDescriptor.Communication == KSPIN_COMMUNICATION_NONE;
            let endpoint = bridge && !wired.contains(&(subdevice.name, index));
            let expected = match subdevice.endpoint {
                Some(identity::EndpointFlow::Render) => index == RENDER_TOPOLOGY_SPEAKER_PIN,
                Some(identity::EndpointFlow::Capture) => index == CAPTURE_TOPOLOGY_MICROPHONE_PIN,
                None => false,
            };
            assert_eq!(endpoint, expected, "{} pin {index}", subdevice.name);
            if endpoint {
                assert_eq!(subdevice.kind, FilterKind::Topology);
                assert_ne!(guid(pin.KsPinDescriptor.Category), GUID_NULL);
            }
        }
    }
}
