//! KS events through PortCls, as a client (the audio endpoint builder) uses them.
//!
//! A client enables an event on a subdevice's filter, or on one of its pins
//! ([`Sim::enable_event`]). PortCls looks the event up in the miniport's filter automation
//! table (pin events too, with the pin's id, as pin properties are), refuses one the table
//! does not have or does not let be enabled, and calls the item's handler at `PASSIVE_LEVEL`
//! with `PCEVENT_VERB_ADD` and a KS event entry of its own. The handler adds the entry to the
//! port's event list (`IPortEvents::AddEventToEventList`, at `DISPATCH_LEVEL` or below); an
//! entry it does not add is enabled but never signalled. The miniport signals the list with
//! `IPortEvents::GenerateEventList` (at `DISPATCH_LEVEL` or below): every listed entry of that
//! port whose set matches (a null set matches every set), whose id matches and, when the call
//! names them, whose pin and node match, is signalled once ([`Sim::event_signals`]).
//! Disabling ([`Sim::disable_event`]) takes the entry off the list, then tells the handler
//! (`PCEVENT_VERB_REMOVE`).
//!
//! Rules: an entry added that PortCls never handed the miniport, or handed for another port,
//! is `Violation::BadObject`; either routine above `DISPATCH_LEVEL` is
//! `Violation::IrqlTooHigh`. Entries go with their port.

use std::collections::BTreeMap;

use portcls_sys::ks::PKSEVENT_ENTRY;
use portcls_sys::wavert::{
    PCEVENT_ITEM, PCEVENT_ITEM_FLAG_ENABLE, PCEVENT_REQUEST, PCEVENT_VERB_ADD, PCEVENT_VERB_REMOVE,
    PCFILTER_NODE,
};
use portcls_sys::{
    GUID, NTSTATUS, PDEVICE_OBJECT, STATUS_INVALID_PARAMETER, STATUS_NOT_FOUND, STATUS_SUCCESS,
};

use crate::ks_rules::{item, read_guid};
use crate::property::{STATUS_INVALID_DEVICE_REQUEST, Target};
use crate::world::World;
use crate::{Ddi, Sim, Violation, current_irql, guid_name};

/// An enabled event, as the client holds it.
#[derive(Debug, PartialEq, Eq)]
pub struct KsEvent {
    id: u64,
}

/// One enabled event.
#[derive(Debug)]
struct Entry {
    port: u64,
    set: GUID,
    event: u32,
    pin: u32,
    node: u32,
    /// Added to the port's list by the miniport.
    listed: bool,
    signals: u64,
    /// The KS event entry the miniport is handed (opaque to it: its address is the entry's
    /// identity).
    storage: Box<[u64; 8]>,
}

/// The events clients enabled.
#[derive(Debug, Default)]
pub(crate) struct Events {
    entries: BTreeMap<u64, Entry>,
    next: u64,
}

impl Events {
    /// Forgets the entries of port `port` (it is gone).
    pub(crate) fn drop_port(&mut self, port: u64) {
        self.entries.retain(|_, entry| entry.port != port);
    }
}

/// What `GenerateEventList` names.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Match {
    /// The set (`None`: every set).
    pub(crate) set: Option<GUID>,
    /// The event id.
    pub(crate) event: u32,
    /// The pin, when the call is a pin event.
    pub(crate) pin: Option<u32>,
    /// The node, when the call is a node event.
    pub(crate) node: Option<u32>,
}

/// `AddEventToEventList` on port `port` with the entry at `address`.
pub(crate) fn add(world: &World, port: u64, address: usize) {
    let irql = current_irql();
    let mut state = world.lock();
    if !state.irql_ok(Ddi::AddEventToEventList, irql) {
        return;
    }
    let found =
        state.ks_events.entries.values_mut().find(|entry| {
            std::ptr::from_ref(&*entry.storage).addr() == address && entry.port == port
        });
    let detail = format!("port#{port}, entry {address:#x}");
    if let Some(entry) = found {
        entry.listed = true;
        state.record(Ddi::AddEventToEventList, detail, STATUS_SUCCESS);
    } else {
        state.violate(Violation::BadObject {
            ddi: Ddi::AddEventToEventList,
            object: address,
        });
        state.record(Ddi::AddEventToEventList, detail, STATUS_INVALID_PARAMETER);
    }
}

/// `GenerateEventList` on port `port`.
pub(crate) fn generate(world: &World, port: u64, filter: &Match) {
    let irql = current_irql();
    let mut state = world.lock();
    if !state.irql_ok(Ddi::GenerateEventList, irql) {
        return;
    }
    let mut signalled = 0;
    for entry in state.ks_events.entries.values_mut() {
        let matches = entry.port == port
            && entry.listed
            && filter.set.is_none_or(|set| set == entry.set)
            && filter.event == entry.event
            && filter.pin.is_none_or(|pin| pin == entry.pin)
            && filter.node.is_none_or(|node| node == entry.node);
        if matches {
            entry.signals += 1;
            signalled += 1;
        }
    }
    let set = filter
        .set
        .map_or_else(|| "any set".to_owned(), |set| guid_name(&set));
    state.record(
        Ddi::GenerateEventList,
        format!(
            "port#{port}, {set} event {}, pin {:?}, node {:?}: {signalled} signalled",
            filter.event, filter.pin, filter.node
        ),
        STATUS_SUCCESS,
    );
}

/// The enabled event's item in the filter's automation table.
///
/// # Safety
/// `table` is null or a live automation table.
unsafe fn find_event(
    table: *const portcls_sys::wavert::PCAUTOMATION_TABLE,
    set: &GUID,
    id: u32,
) -> Result<PCEVENT_ITEM, NTSTATUS> {
    if table.is_null() {
        return Err(STATUS_NOT_FOUND);
    }
    // SAFETY: caller's contract.
    let table = unsafe { table.read_unaligned() };
    if table.Events.is_null() {
        return Err(STATUS_NOT_FOUND);
    }
    (0..table.EventCount)
        // SAFETY: `EventCount` items of `EventItemSize` bytes.
        .map(|i| unsafe { item(table.Events, table.EventItemSize, i) })
        // SAFETY: the items' set GUIDs are the miniport's statics.
        .find(|it| it.Id == id && unsafe { read_guid(it.Set) }.as_ref() == Some(set))
        .ok_or(STATUS_NOT_FOUND)
}

impl Sim {
    /// Enables event `id` of `set` on subdevice `name` of the device, on the filter or on
    /// one of its pins, as a client does (see the [module](self) docs).
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER` for a subdevice the device does not have or a node target;
    /// `STATUS_NOT_FOUND` for an event the filter does not have;
    /// `STATUS_INVALID_DEVICE_REQUEST` for one it does not let be enabled; the handler's
    /// failure.
    pub fn enable_event(
        &self,
        fdo: PDEVICE_OBJECT,
        name: &str,
        target: Target,
        set: GUID,
        id: u32,
    ) -> Result<KsEvent, NTSTATUS> {
        // An enable request is an access to the device, as a property request is.
        self.note_access(fdo);
        let port = self.port_id(fdo, name).ok_or(STATUS_INVALID_PARAMETER)?;
        let (Some(subdevice), Some(miniport)) = (
            self.subdevices(fdo).into_iter().find(|s| s.name == name),
            self.miniport(fdo, name),
        ) else {
            return Err(STATUS_INVALID_PARAMETER);
        };
        let pin = match target {
            Target::Filter => u32::MAX,
            Target::Pin(pin) if pin < subdevice.pins => pin,
            Target::Pin(_) | Target::Node(_) => return Err(STATUS_INVALID_PARAMETER),
        };
        let detail = format!("{name} {target:?} {} event {id}", guid_name(&set));
        // SAFETY: the miniport's descriptor, live while the device is.
        let table = unsafe { &*subdevice.descriptor }.AutomationTable;
        // SAFETY: the filter's table, from the live descriptor.
        let found = unsafe { find_event(table, &set, id) }.and_then(|it| {
            if it.Flags & PCEVENT_ITEM_FLAG_ENABLE == 0 {
                Err(STATUS_INVALID_DEVICE_REQUEST)
            } else {
                it.Handler
                    .map(|handler| (it, handler))
                    .ok_or(STATUS_INVALID_DEVICE_REQUEST)
            }
        });
        let (item, handler) = match found {
            Ok(found) => found,
            Err(status) => return Err(self.world.lock().record(Ddi::EventHandler, detail, status)),
        };
        let key = {
            let mut state = self.world.lock();
            let key = state.ks_events.next;
            state.ks_events.next += 1;
            state.ks_events.entries.insert(
                key,
                Entry {
                    port,
                    set,
                    event: id,
                    pin,
                    node: PCFILTER_NODE,
                    listed: false,
                    signals: 0,
                    storage: Box::new([0; 8]),
                },
            );
            key
        };
        let status = self.call_event_handler(key, miniport, &item, handler, PCEVENT_VERB_ADD);
        let mut state = self.world.lock();
        if status < 0 {
            state.ks_events.entries.remove(&key);
        }
        state.record(Ddi::EventHandler, format!("{detail}: add"), status);
        if status < 0 {
            Err(status)
        } else {
            Ok(KsEvent { id: key })
        }
    }

    /// Disables an enabled event: off the port's list, then the handler is told
    /// (`PCEVENT_VERB_REMOVE`). Returns the handler's status (`STATUS_SUCCESS` when the port
    /// is gone).
    #[must_use]
    #[allow(clippy::needless_pass_by_value)] // the client's handle is used up
    pub fn disable_event(&self, event: KsEvent) -> NTSTATUS {
        let key = event.id;
        let (port, set, id) = {
            let state = self.world.lock();
            let Some(entry) = state.ks_events.entries.get(&key) else {
                return STATUS_SUCCESS;
            };
            (entry.port, entry.set, entry.event)
        };
        let handler = self.event_item_of(port, set, id);
        let status = match handler {
            Some((miniport, item, handler)) => {
                if let Some(entry) = self.world.lock().ks_events.entries.get_mut(&key) {
                    entry.listed = false;
                }
                self.call_event_handler(key, miniport, &item, handler, PCEVENT_VERB_REMOVE)
            }
            None => STATUS_SUCCESS,
        };
        let mut state = self.world.lock();
        state.ks_events.entries.remove(&key);
        state.record(
            Ddi::EventHandler,
            format!("port#{port} {} event {id}: remove", guid_name(&set)),
            status,
        )
    }

    /// How often the miniport signalled an enabled event.
    #[must_use]
    pub fn event_signals(&self, event: &KsEvent) -> u64 {
        self.world
            .lock()
            .ks_events
            .entries
            .get(&event.id)
            .map_or(0, |entry| entry.signals)
    }

    /// The miniport, event item and handler of event `id` of `set` on port `port`, while
    /// the port has its miniport.
    fn event_item_of(
        &self,
        port: u64,
        set: GUID,
        id: u32,
    ) -> Option<(portcls_sys::PUNKNOWN, PCEVENT_ITEM, EventHandler)> {
        let (miniport, descriptor) = {
            let state = self.world.lock();
            let bound = state.ports.get(&port)?.bound.as_ref()?;
            (bound.miniport.as_ptr(), bound.descriptor)
        };
        // SAFETY: the bound miniport's descriptor, live while it is bound.
        let table = unsafe { &*descriptor }.AutomationTable;
        // SAFETY: as above.
        let item = unsafe { find_event(table, &set, id) }.ok()?;
        Some((miniport, item, item.Handler?))
    }

    /// Calls the miniport's event handler with `verb` for entry `key`.
    fn call_event_handler(
        &self,
        key: u64,
        miniport: portcls_sys::PUNKNOWN,
        item: &PCEVENT_ITEM,
        handler: EventHandler,
        verb: u32,
    ) -> NTSTATUS {
        let (entry, node): (PKSEVENT_ENTRY, u32) = {
            let mut state = self.world.lock();
            let Some(entry) = state.ks_events.entries.get_mut(&key) else {
                return STATUS_INVALID_PARAMETER;
            };
            (
                std::ptr::from_mut(&mut *entry.storage).cast::<u8>().cast(),
                entry.node,
            )
        };
        let mut request = PCEVENT_REQUEST {
            MajorTarget: miniport,
            MinorTarget: std::ptr::null_mut(),
            Node: node,
            EventItem: std::ptr::from_ref(item),
            EventEntry: entry,
            Verb: verb,
            Irp: std::ptr::null_mut(),
        };
        let args = (&raw mut request,);
        // SAFETY: the miniport's own handler for its own item; the request, the item and the
        // entry live through the call.
        unsafe { crate::stack::call_driver(&self.world, "EventHandler", handler, args) }
    }
}

/// A miniport's event handler.
type EventHandler = portcls_sys::kernel_abi!(unsafe fn(*mut PCEVENT_REQUEST) -> NTSTATUS);

#[cfg(test)]
mod tests {
    use portcls_sys::ks::{KSEVENT_PINCAPS_JACKINFOCHANGE, KSEVENTSETID_PinCapsChange};

    use super::*;
    use crate::OsProfile;

    /// An enabled entry of `port` for the jack event on `pin`, as `enable_event` makes it;
    /// returns its key and the address the miniport is handed.
    fn entry(sim: &Sim, port: u64, pin: u32) -> (u64, usize) {
        let mut state = sim.world.lock();
        let key = state.ks_events.next;
        state.ks_events.next += 1;
        let storage = Box::new([0; 8]);
        let address = std::ptr::from_ref(&*storage).addr();
        state.ks_events.entries.insert(
            key,
            Entry {
                port,
                set: KSEVENTSETID_PinCapsChange,
                event: KSEVENT_PINCAPS_JACKINFOCHANGE,
                pin,
                node: PCFILTER_NODE,
                listed: false,
                signals: 0,
                storage,
            },
        );
        (key, address)
    }

    fn signals(sim: &Sim, key: u64) -> u64 {
        sim.event_signals(&KsEvent { id: key })
    }

    fn jack(pin: Option<u32>) -> Match {
        Match {
            set: Some(KSEVENTSETID_PinCapsChange),
            event: KSEVENT_PINCAPS_JACKINFOCHANGE,
            pin,
            node: None,
        }
    }

    #[test]
    fn only_listed_entries_that_match_are_signalled() {
        let sim = Sim::new(OsProfile::Win10_1511);
        let (listed, address) = entry(&sim, 1, 3);
        let (other_pin, other_address) = entry(&sim, 1, 4);
        let (never_added, _) = entry(&sim, 1, 3);
        add(&sim.world, 1, address);
        add(&sim.world, 1, other_address);
        generate(&sim.world, 1, &jack(Some(3)));
        assert_eq!(
            [listed, other_pin, never_added].map(|key| signals(&sim, key)),
            [1, 0, 0]
        );
        // Any pin, any set; another port's list, another event id: nothing.
        generate(&sim.world, 1, &jack(None));
        generate(
            &sim.world,
            1,
            &Match {
                set: None,
                ..jack(Some(4))
            },
        );
        generate(&sim.world, 2, &jack(None));
        generate(
            &sim.world,
            1,
            &Match {
                event: 0,
                ..jack(None)
            },
        );
        assert_eq!([listed, other_pin].map(|key| signals(&sim, key)), [2, 2]);
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        sim.world.lock().ks_events.drop_port(1);
        assert_eq!(signals(&sim, listed), 0, "gone with its port");
    }

    #[test]
    fn a_foreign_entry_or_a_high_irql_is_a_violation() {
        let sim = Sim::new(OsProfile::Win10_1511);
        let (key, address) = entry(&sim, 1, 3);
        add(&sim.world, 2, address);
        add(&sim.world, 1, 0x1234);
        assert_eq!(
            sim.violations(),
            [
                Violation::BadObject {
                    ddi: Ddi::AddEventToEventList,
                    object: address
                },
                Violation::BadObject {
                    ddi: Ddi::AddEventToEventList,
                    object: 0x1234
                }
            ]
        );
        add(&sim.world, 1, address);
        {
            let _raised = crate::raise_irql(portcls_sys::hw::HIGH_LEVEL);
            generate(&sim.world, 1, &jack(Some(3)));
        }
        assert_eq!(signals(&sim, key), 0);
        assert!(sim.violations().iter().any(|violation| matches!(
            violation,
            Violation::IrqlTooHigh {
                ddi: Ddi::GenerateEventList,
                ..
            }
        )));
    }
}
