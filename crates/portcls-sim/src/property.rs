//! Property requests as PortCls routes them to a miniport's automation tables, and a model of
//! what the Windows Audio Endpoint Builder asks before it creates an endpoint.
//!
//! [`Sim::property`] finds the table (the filter's for filter and pin requests, a node's for
//! node requests), the item for the set and id, checks the verb against the item's flags (PortCls
//! answers itself when the table has no such item or the verb is not allowed), builds the
//! `PCPROPERTY_REQUEST` and calls the handler. Every request is in the trace.
//!
//! [`Sim::endpoints`] walks each topology filter's external pins (bridge pins without a
//! physical connection), follows the path to a wave filter's host pin, and queries what the
//! endpoint builder needs on the way: the jack description (size probe first), and for each
//! volume and mute node the basic support and the current value. Any malformed answer is an
//! error naming the request, because Windows would then show no endpoint.

use portcls_sys::ks::{
    KSDATAFORMAT, KSDATAFORMAT_SUBTYPE_PCM, KSNODETYPE_MUTE, KSNODETYPE_VOLUME,
    KSPIN_COMMUNICATION_SINK, KSPIN_DATAFLOW_OUT, KSPROPERTY_AUDIO_MUTE,
    KSPROPERTY_AUDIO_VOLUMELEVEL, KSPROPERTY_JACK_DESCRIPTION, KSPROPERTY_TYPE_BASICSUPPORT,
    KSPROPERTY_TYPE_GET, KSPROPERTY_TYPE_SET, KSPROPERTY_TYPE_TOPOLOGY, KSPROPSETID_Audio,
    KSPROPSETID_Jack,
};
use portcls_sys::wavert::{
    PCAUTOMATION_TABLE, PCFILTER_DESCRIPTOR, PCFILTER_NODE, PCNODE_DESCRIPTOR, PCPIN_DESCRIPTOR,
    PCPROPERTY_ITEM, PCPROPERTY_REQUEST,
};
use portcls_sys::{GUID, NTSTATUS, PDEVICE_OBJECT, STATUS_INVALID_PARAMETER, STATUS_SUCCESS};

use crate::adapter::PortKind;
use crate::ks_rules::{item, read_guid};
use crate::{Ddi, Sim, Subdevice, guid_name, status_name};

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

/// What the endpoint builder found for one external pin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The topology subdevice.
    pub topology: String,
    /// Its external pin.
    pub pin: u32,
    /// Whether it renders (the pin's data leaves the filter) or captures.
    pub render: bool,
    /// The pin's category (it names the endpoint's form factor).
    pub category: GUID,
    /// The wave subdevice the path reaches, and its host pin.
    pub wave: (String, u32),
    /// `KSJACK_DESCRIPTION::IsConnected`.
    pub connected: bool,
    /// The control nodes on the path (`"volume"`, `"mute"`), from the external pin inwards.
    pub controls: Vec<&'static str>,
}

/// The pin descriptors of a filter.
///
/// # Safety
/// `filter` is a live descriptor.
unsafe fn pins(filter: &PCFILTER_DESCRIPTOR) -> Vec<PCPIN_DESCRIPTOR> {
    if filter.Pins.is_null() {
        return Vec::new();
    }
    (0..filter.PinCount)
        // SAFETY: `PinCount` pins of `PinSize` bytes (the KS rules checked the sizes).
        .map(|i| unsafe { item(filter.Pins, filter.PinSize, i) })
        .collect()
}

/// The node descriptors of a filter.
///
/// # Safety
/// As for [`pins`].
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

/// A property's name for the trace.
fn property_name(set: &GUID, id: u32) -> String {
    match (*set, id) {
        (s, KSPROPERTY_AUDIO_VOLUMELEVEL) if s == KSPROPSETID_Audio => "Audio/VOLUMELEVEL".into(),
        (s, KSPROPERTY_AUDIO_MUTE) if s == KSPROPSETID_Audio => "Audio/MUTE".into(),
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
        let (table, node, verb, instance) = match target {
            Target::Filter => (
                filter.AutomationTable,
                PCFILTER_NODE,
                verb,
                instance.to_vec(),
            ),
            Target::Pin(pin) => {
                let mut data = pin.to_le_bytes().to_vec();
                data.extend_from_slice(&0u32.to_le_bytes());
                data.extend_from_slice(instance);
                (filter.AutomationTable, PCFILTER_NODE, verb, data)
            }
            Target::Node(index) => {
                // SAFETY: a live descriptor.
                let nodes = unsafe { nodes(filter) };
                let Some(node) = nodes.get(index as usize) else {
                    return refuse(STATUS_INVALID_PARAMETER);
                };
                (
                    node.AutomationTable,
                    index,
                    verb | KSPROPERTY_TYPE_TOPOLOGY,
                    instance.to_vec(),
                )
            }
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
        // SAFETY: the miniport's own handler for its own item.
        let (status, size, out) = unsafe { call.invoke(handler) };
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
            // SAFETY: the miniport's descriptor, live while the device is.
            let filter = unsafe { &*topology.descriptor };
            // SAFETY: as above.
            let pin_list = unsafe { pins(filter) };
            for &pin in &topology.bridge_pins {
                let wired = connections.iter().any(|c| {
                    (c.from == topology.name && c.from_pin == pin)
                        || (c.to == topology.name && c.to_pin == pin)
                });
                if wired {
                    continue;
                }
                let descriptor = pin_list
                    .get(pin as usize)
                    .ok_or_else(|| format!("{} pin {pin}: no descriptor", topology.name))?;
                endpoints.push(self.endpoint(
                    fdo,
                    topology,
                    filter,
                    pin,
                    descriptor,
                    &subdevices,
                )?);
            }
        }
        Ok(endpoints)
    }

    fn endpoint(
        &self,
        fdo: PDEVICE_OBJECT,
        topology: &Subdevice,
        filter: &PCFILTER_DESCRIPTOR,
        pin: u32,
        descriptor: &PCPIN_DESCRIPTOR,
        subdevices: &[Subdevice],
    ) -> Result<Endpoint, String> {
        let name = &topology.name;
        // SAFETY: the pin's category GUID, a static of the miniport.
        let category = unsafe { read_guid(descriptor.KsPinDescriptor.Category) }
            .ok_or_else(|| format!("{name} pin {pin}: no category"))?;
        let connected = self.jack(fdo, name, pin)?;
        let (nodes_on_path, inner_pin) =
            path(filter, pin).ok_or_else(|| format!("{name} pin {pin}: no path to another pin"))?;
        let mut controls = Vec::new();
        // SAFETY: a live descriptor.
        let node_list = unsafe { nodes(filter) };
        for node in nodes_on_path {
            let Some(descriptor) = node_list.get(node as usize) else {
                return Err(format!("{name} node {node}: no descriptor"));
            };
            // SAFETY: the node's type GUID, a static of the miniport.
            let kind = unsafe { read_guid(descriptor.Type) };
            let (control, id) = match kind {
                Some(k) if k == KSNODETYPE_VOLUME => ("volume", KSPROPERTY_AUDIO_VOLUMELEVEL),
                Some(k) if k == KSNODETYPE_MUTE => ("mute", KSPROPERTY_AUDIO_MUTE),
                _ => continue,
            };
            self.control(fdo, name, node, id)?;
            controls.push(control);
        }
        let wave = self.wave_behind(fdo, name, inner_pin, subdevices)?;
        Ok(Endpoint {
            topology: name.clone(),
            pin,
            render: descriptor.KsPinDescriptor.DataFlow == KSPIN_DATAFLOW_OUT,
            category,
            wave,
            connected,
            controls,
        })
    }

    /// The jack description of an external pin: a size probe, then the value.
    fn jack(&self, fdo: PDEVICE_OBJECT, name: &str, pin: u32) -> Result<bool, String> {
        let what = format!("{name} pin {pin}: Jack/DESCRIPTION");
        let get = |value: Vec<u8>| {
            self.property(
                fdo,
                name,
                Target::Pin(pin),
                KSPROPSETID_Jack,
                KSPROPERTY_JACK_DESCRIPTION,
                KSPROPERTY_TYPE_GET,
                &[],
                &value,
            )
        };
        let probe = get(Vec::new());
        if probe.status != STATUS_BUFFER_OVERFLOW || probe.size < 8 + 28 {
            return Err(format!(
                "{what}: the size probe answered {} with {} bytes",
                status_name(probe.status),
                probe.size
            ));
        }
        let answer = get(vec![0; probe.size as usize]);
        let word = |at: usize| {
            answer
                .value
                .get(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes)
        };
        if answer.status != STATUS_SUCCESS
            || answer.size != probe.size
            || word(0) != Some(probe.size)
            || word(4).is_none_or(|count| count == 0)
        {
            return Err(format!(
                "{what}: {} with {} bytes, KSMULTIPLE_ITEM {:?}/{:?}",
                status_name(answer.status),
                answer.size,
                word(0),
                word(4)
            ));
        }
        // IsConnected is the last field of the first description.
        Ok(word(8 + 24).is_some_and(|v| v != 0))
    }

    /// A control node's basic support (probe, then in full) and current value of channel 0.
    fn control(&self, fdo: PDEVICE_OBJECT, name: &str, node: u32, id: u32) -> Result<(), String> {
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
        let probe = ask(KSPROPERTY_TYPE_BASICSUPPORT, &[], Vec::new());
        if probe.status != STATUS_BUFFER_OVERFLOW || probe.size < 40 {
            return Err(format!(
                "{what}: basic-support probe answered {} with {} bytes",
                status_name(probe.status),
                probe.size
            ));
        }
        let support = ask(
            KSPROPERTY_TYPE_BASICSUPPORT,
            &[],
            vec![0; probe.size as usize],
        );
        let members = support
            .value
            .get(32..36)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes);
        if support.status != STATUS_SUCCESS || support.size != probe.size || members != Some(1) {
            return Err(format!(
                "{what}: basic support answered {} with {} bytes",
                status_name(support.status),
                support.size
            ));
        }
        let channel = [0u8; 8];
        let value = ask(KSPROPERTY_TYPE_GET, &channel, vec![0; 4]);
        if value.status != STATUS_SUCCESS || value.size != 4 {
            return Err(format!(
                "{what}: GET of channel 0 answered {} with {} bytes",
                status_name(value.status),
                value.size
            ));
        }
        // The builder also writes the value back when it restores settings.
        let set = ask(KSPROPERTY_TYPE_SET, &channel, value.value);
        if set.status != STATUS_SUCCESS {
            return Err(format!("{what}: SET answered {}", status_name(set.status)));
        }
        Ok(())
    }

    /// The wave subdevice wired to `pin` of topology `name`, and its host pin (one that
    /// instances are made on and that takes PCM).
    fn wave_behind(
        &self,
        fdo: PDEVICE_OBJECT,
        name: &str,
        pin: u32,
        subdevices: &[Subdevice],
    ) -> Result<(String, u32), String> {
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
        let subdevice = subdevices
            .iter()
            .find(|s| s.name == wave && s.kind == PortKind::WaveRt)
            .ok_or_else(|| format!("{name} pin {pin} is wired to {wave}, not a WaveRT filter"))?;
        // SAFETY: the miniport's descriptor, live while the device is.
        let filter = unsafe { &*subdevice.descriptor };
        let (_, host) = path(filter, wave_pin)
            .ok_or_else(|| format!("{wave} pin {wave_pin}: no path to a host pin"))?;
        // SAFETY: a live descriptor.
        let pin_list = unsafe { pins(filter) };
        let descriptor = pin_list
            .get(host as usize)
            .filter(|p| p.KsPinDescriptor.Communication == KSPIN_COMMUNICATION_SINK)
            .ok_or_else(|| format!("{wave} pin {host} is not a host pin"))?;
        let ranges = &descriptor.KsPinDescriptor;
        let pcm = (0..ranges.DataRangesCount).any(|i| {
            // SAFETY: `DataRangesCount` pointers to the miniport's static data ranges.
            let range = unsafe { item(ranges.DataRanges, 8, i) };
            // SAFETY: as above.
            !range.is_null()
                && unsafe { range.cast::<KSDATAFORMAT>().read_unaligned() }.SubFormat
                    == KSDATAFORMAT_SUBTYPE_PCM
        });
        if !pcm {
            return Err(format!("{wave} pin {host}: no PCM data range"));
        }
        Ok((wave, host))
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
    /// buffer is) and calls `handler`: its status, the `ValueSize` it reported, the value after.
    ///
    /// # Safety
    /// `handler` is the miniport's handler for `item`, and `miniport` its live `IUnknown`.
    unsafe fn invoke(
        &self,
        handler: unsafe extern "system" fn(*mut PCPROPERTY_REQUEST) -> NTSTATUS,
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
        // SAFETY: caller's contract; the request and its buffers live through the call.
        let status = unsafe { handler(&raw mut request) };
        let mut out = vec![0u8; capacity];
        // SAFETY: the storage holds `capacity` bytes.
        unsafe { std::ptr::copy_nonoverlapping(value_bytes, out.as_mut_ptr(), capacity) };
        (status, request.ValueSize, out)
    }
}

/// From filter pin `start`, follows the filter's connections to the next filter pin: the
/// nodes passed, in order, and that pin. `None` if the path ends or loops.
fn path(filter: &PCFILTER_DESCRIPTOR, start: u32) -> Option<(Vec<u32>, u32)> {
    if filter.Connections.is_null() {
        return None;
    }
    let edges: Vec<(u32, u32, u32, u32)> = (0..filter.ConnectionCount)
        .map(|i| {
            // SAFETY: `ConnectionCount` connections of 16 bytes (the KS rules checked them).
            let c = unsafe { item(filter.Connections, 16, i) };
            (c.FromNode, c.FromNodePin, c.ToNode, c.ToNodePin)
        })
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
