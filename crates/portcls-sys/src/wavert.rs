//! The PortCls side of a WaveRT adapter driver (`portcls.h`): filter descriptors, automation
//! tables, the port and miniport interfaces of the WaveRT and Topology port drivers, and the
//! adapter functions of portcls.sys.
//!
//! Interfaces are laid out as in C: an object is a pointer to a vtable whose first member
//! (`base__`) is the parent interface's vtable. A method's `this` is the interface that
//! declares it.
//!
//! # A calling-convention trap
//! `IPortWaveRTStream::GetPhysicalPageAddress` returns a `PHYSICAL_ADDRESS` from a C++ method.
//! Microsoft's C++ ABI (x64 and arm64 alike) returns every class, struct or union from an
//! instance method through a hidden pointer passed right after `this`, and hands that pointer
//! back. The vtable slot here is declared that way; declaring the C signature (the union
//! returned by value) would read garbage.

use crate::hw::{CM_RESOURCE_TYPE, PCM_PARTIAL_RESOURCE_DESCRIPTOR, PCM_RESOURCE_LIST};
use crate::km::{
    ACCESS_MASK, BOOLEAN, DEVICE_REGISTRY_PROPERTY, MEMORY_CACHING_TYPE, PDEVICE_CAPABILITIES,
    PDEVICE_DESCRIPTION, PDRIVER_ADD_DEVICE, PDRIVER_OBJECT, PHYSICAL_ADDRESS, PIRP, PKEVENT, PMDL,
    POBJECT_ATTRIBUTES, POWER_STATE, PUNICODE_STRING,
};
use crate::ks::{
    KSEVENT_TYPE_BASICSUPPORT, KSEVENT_TYPE_ENABLE, KSEVENT_TYPE_ONESHOT,
    KSMETHOD_TYPE_BASICSUPPORT, KSMETHOD_TYPE_MODIFY, KSMETHOD_TYPE_NONE, KSMETHOD_TYPE_READ,
    KSMETHOD_TYPE_SOURCE, KSMETHOD_TYPE_WRITE, KSPIN_DESCRIPTOR, KSPROPERTY_TYPE_BASICSUPPORT,
    KSPROPERTY_TYPE_DEFAULTVALUES, KSPROPERTY_TYPE_GET, KSPROPERTY_TYPE_SERIALIZERAW,
    KSPROPERTY_TYPE_SERIALIZESIZE, KSPROPERTY_TYPE_SET, KSPROPERTY_TYPE_UNSERIALIZERAW, KSSTATE,
    PKSAUDIO_POSITION, PKSDATAFORMAT, PKSDATARANGE, PKSEVENT_ENTRY, PKSRTAUDIO_HWLATENCY,
    PKSRTAUDIO_HWREGISTER,
};
use crate::{GUID, IUnknownVtbl, NTSTATUS, PDEVICE_OBJECT, PUNKNOWN, PVOID, ULONG};

// ---------------------------------------------------------------------------------------------
// Automation tables
// ---------------------------------------------------------------------------------------------

/// `PCPFNPROPERTY_HANDLER`: a property handler (declared without a calling convention in the
/// header; on x64 and arm64 there is only one).
pub type PCPFNPROPERTY_HANDLER =
    Option<crate::kernel_abi!(unsafe fn(PropertyRequest: PPCPROPERTY_REQUEST) -> NTSTATUS)>;
/// `PCPFNEVENT_HANDLER`: an event handler.
pub type PCPFNEVENT_HANDLER =
    Option<crate::kernel_abi!(unsafe fn(EventRequest: PPCEVENT_REQUEST) -> NTSTATUS)>;
/// `PCPFNMETHOD_HANDLER`: a method handler.
pub type PCPFNMETHOD_HANDLER =
    Option<crate::kernel_abi!(unsafe fn(MethodRequest: PPCMETHOD_REQUEST) -> NTSTATUS)>;

/// `PCPROPERTY_ITEM`: one property of an automation table.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCPROPERTY_ITEM {
    /// The property set.
    pub Set: *const GUID,
    /// The property id.
    pub Id: ULONG,
    /// `PCPROPERTY_ITEM_FLAG_*`: the requests the handler serves.
    pub Flags: ULONG,
    /// The handler.
    pub Handler: PCPFNPROPERTY_HANDLER,
}
/// `PPCPROPERTY_ITEM`.
pub type PPCPROPERTY_ITEM = *mut PCPROPERTY_ITEM;

/// `PCPROPERTY_ITEM_FLAG_GET`.
pub const PCPROPERTY_ITEM_FLAG_GET: ULONG = KSPROPERTY_TYPE_GET;
/// `PCPROPERTY_ITEM_FLAG_SET`.
pub const PCPROPERTY_ITEM_FLAG_SET: ULONG = KSPROPERTY_TYPE_SET;
/// `PCPROPERTY_ITEM_FLAG_BASICSUPPORT`.
pub const PCPROPERTY_ITEM_FLAG_BASICSUPPORT: ULONG = KSPROPERTY_TYPE_BASICSUPPORT;
/// `PCPROPERTY_ITEM_FLAG_DEFAULTVALUES`.
pub const PCPROPERTY_ITEM_FLAG_DEFAULTVALUES: ULONG = KSPROPERTY_TYPE_DEFAULTVALUES;
/// `PCPROPERTY_ITEM_FLAG_SERIALIZERAW`.
pub const PCPROPERTY_ITEM_FLAG_SERIALIZERAW: ULONG = KSPROPERTY_TYPE_SERIALIZERAW;
/// `PCPROPERTY_ITEM_FLAG_UNSERIALIZERAW`.
pub const PCPROPERTY_ITEM_FLAG_UNSERIALIZERAW: ULONG = KSPROPERTY_TYPE_UNSERIALIZERAW;
/// `PCPROPERTY_ITEM_FLAG_SERIALIZESIZE`.
pub const PCPROPERTY_ITEM_FLAG_SERIALIZESIZE: ULONG = KSPROPERTY_TYPE_SERIALIZESIZE;
/// `PCPROPERTY_ITEM_FLAG_SERIALIZE`: the three serialization flags together.
pub const PCPROPERTY_ITEM_FLAG_SERIALIZE: ULONG = PCPROPERTY_ITEM_FLAG_SERIALIZERAW
    | PCPROPERTY_ITEM_FLAG_UNSERIALIZERAW
    | PCPROPERTY_ITEM_FLAG_SERIALIZESIZE;

/// `PCPROPERTY_REQUEST`: what a property handler receives.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCPROPERTY_REQUEST {
    /// The miniport's `IUnknown` (the one passed to `IPort::Init`).
    pub MajorTarget: PUNKNOWN,
    /// The stream's `IUnknown` for a pin-instance request, else null.
    pub MinorTarget: PUNKNOWN,
    /// The node id, or `u32::MAX` when the request is not for a node.
    pub Node: ULONG,
    /// The automation-table entry that matched.
    pub PropertyItem: *const PCPROPERTY_ITEM,
    /// `KSPROPERTY_TYPE_*`: the requested operation.
    pub Verb: ULONG,
    /// Size of `Instance` in bytes.
    pub InstanceSize: ULONG,
    /// The instance data after the `KSPROPERTY` (e.g. the channel of a node property).
    pub Instance: PVOID,
    /// Size of `Value` in bytes; the handler sets it to the bytes it wrote.
    pub ValueSize: ULONG,
    /// The value buffer.
    pub Value: PVOID,
    /// The IRP, for handlers that pend.
    pub Irp: PIRP,
}
/// `PPCPROPERTY_REQUEST`.
pub type PPCPROPERTY_REQUEST = *mut PCPROPERTY_REQUEST;

/// `PCEVENT_ITEM`: one event of an automation table.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCEVENT_ITEM {
    /// The event set.
    pub Set: *const GUID,
    /// The event id.
    pub Id: ULONG,
    /// `PCEVENT_ITEM_FLAG_*`.
    pub Flags: ULONG,
    /// The handler.
    pub Handler: PCPFNEVENT_HANDLER,
}
/// `PPCEVENT_ITEM`.
pub type PPCEVENT_ITEM = *mut PCEVENT_ITEM;

/// `PCEVENT_ITEM_FLAG_ENABLE`.
pub const PCEVENT_ITEM_FLAG_ENABLE: ULONG = KSEVENT_TYPE_ENABLE;
/// `PCEVENT_ITEM_FLAG_ONESHOT`.
pub const PCEVENT_ITEM_FLAG_ONESHOT: ULONG = KSEVENT_TYPE_ONESHOT;
/// `PCEVENT_ITEM_FLAG_BASICSUPPORT`.
pub const PCEVENT_ITEM_FLAG_BASICSUPPORT: ULONG = KSEVENT_TYPE_BASICSUPPORT;
/// `PCEVENT_VERB_NONE`.
pub const PCEVENT_VERB_NONE: ULONG = 0;
/// `PCEVENT_VERB_ADD`.
pub const PCEVENT_VERB_ADD: ULONG = 1;
/// `PCEVENT_VERB_REMOVE`.
pub const PCEVENT_VERB_REMOVE: ULONG = 2;
/// `PCEVENT_VERB_SUPPORT`.
pub const PCEVENT_VERB_SUPPORT: ULONG = 4;

/// `PCEVENT_REQUEST`: what an event handler receives.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCEVENT_REQUEST {
    /// The miniport's `IUnknown`.
    pub MajorTarget: PUNKNOWN,
    /// The stream's `IUnknown`, or null.
    pub MinorTarget: PUNKNOWN,
    /// The node id, or `u32::MAX`.
    pub Node: ULONG,
    /// The automation-table entry that matched.
    pub EventItem: *const PCEVENT_ITEM,
    /// The KS event entry.
    pub EventEntry: PKSEVENT_ENTRY,
    /// `PCEVENT_VERB_*`.
    pub Verb: ULONG,
    /// The IRP.
    pub Irp: PIRP,
}
/// `PPCEVENT_REQUEST`.
pub type PPCEVENT_REQUEST = *mut PCEVENT_REQUEST;

/// `PCMETHOD_ITEM`: one method of an automation table.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCMETHOD_ITEM {
    /// The method set.
    pub Set: *const GUID,
    /// The method id.
    pub Id: ULONG,
    /// `PCMETHOD_ITEM_FLAG_*`.
    pub Flags: ULONG,
    /// The handler.
    pub Handler: PCPFNMETHOD_HANDLER,
}
/// `PPCMETHOD_ITEM`.
pub type PPCMETHOD_ITEM = *mut PCMETHOD_ITEM;

/// `PCMETHOD_ITEM_FLAG_NONE`.
pub const PCMETHOD_ITEM_FLAG_NONE: ULONG = KSMETHOD_TYPE_NONE;
/// `PCMETHOD_ITEM_FLAG_READ`.
pub const PCMETHOD_ITEM_FLAG_READ: ULONG = KSMETHOD_TYPE_READ;
/// `PCMETHOD_ITEM_FLAG_WRITE`.
pub const PCMETHOD_ITEM_FLAG_WRITE: ULONG = KSMETHOD_TYPE_WRITE;
/// `PCMETHOD_ITEM_FLAG_MODIFY`.
pub const PCMETHOD_ITEM_FLAG_MODIFY: ULONG = KSMETHOD_TYPE_MODIFY;
/// `PCMETHOD_ITEM_FLAG_SOURCE`.
pub const PCMETHOD_ITEM_FLAG_SOURCE: ULONG = KSMETHOD_TYPE_SOURCE;
/// `PCMETHOD_ITEM_FLAG_BASICSUPPORT`.
pub const PCMETHOD_ITEM_FLAG_BASICSUPPORT: ULONG = KSMETHOD_TYPE_BASICSUPPORT;

/// `PCMETHOD_REQUEST`: what a method handler receives.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCMETHOD_REQUEST {
    /// The miniport's `IUnknown`.
    pub MajorTarget: PUNKNOWN,
    /// The stream's `IUnknown`, or null.
    pub MinorTarget: PUNKNOWN,
    /// The node id, or `u32::MAX`.
    pub Node: ULONG,
    /// The automation-table entry that matched.
    pub MethodItem: *const PCMETHOD_ITEM,
    /// The requested operation.
    pub Verb: ULONG,
}
/// `PPCMETHOD_REQUEST`.
pub type PPCMETHOD_REQUEST = *mut PCMETHOD_REQUEST;

/// `PCAUTOMATION_TABLE`: the properties, methods and events of a filter, pin or node.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCAUTOMATION_TABLE {
    /// `size_of::<PCPROPERTY_ITEM>()`.
    pub PropertyItemSize: ULONG,
    /// Number of entries in `Properties`.
    pub PropertyCount: ULONG,
    /// The properties, or null.
    pub Properties: *const PCPROPERTY_ITEM,
    /// `size_of::<PCMETHOD_ITEM>()`.
    pub MethodItemSize: ULONG,
    /// Number of entries in `Methods`.
    pub MethodCount: ULONG,
    /// The methods, or null.
    pub Methods: *const PCMETHOD_ITEM,
    /// `size_of::<PCEVENT_ITEM>()`.
    pub EventItemSize: ULONG,
    /// Number of entries in `Events`.
    pub EventCount: ULONG,
    /// The events, or null.
    pub Events: *const PCEVENT_ITEM,
    /// Reserved, 0.
    pub Reserved: ULONG,
}
/// `PPCAUTOMATION_TABLE`.
pub type PPCAUTOMATION_TABLE = *mut PCAUTOMATION_TABLE;

// ---------------------------------------------------------------------------------------------
// Filter descriptors
// ---------------------------------------------------------------------------------------------

/// `PCFILTER_NODE`: the "node" id that stands for the filter's own pins in a connection.
pub const PCFILTER_NODE: ULONG = 0xFFFF_FFFF;

/// `PCPIN_DESCRIPTOR`: one pin of a miniport's filter (112 bytes on 64-bit).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCPIN_DESCRIPTOR {
    /// Instances allowed system-wide.
    pub MaxGlobalInstanceCount: ULONG,
    /// Instances allowed per filter.
    pub MaxFilterInstanceCount: ULONG,
    /// Instances required per filter.
    pub MinFilterInstanceCount: ULONG,
    /// The pin's automation table (pin instances only), or null.
    pub AutomationTable: *const PCAUTOMATION_TABLE,
    /// The KS description of the pin.
    pub KsPinDescriptor: KSPIN_DESCRIPTOR,
}
/// `PPCPIN_DESCRIPTOR`.
pub type PPCPIN_DESCRIPTOR = *mut PCPIN_DESCRIPTOR;

/// `PCNODE_DESCRIPTOR`: one topology node of a miniport's filter.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCNODE_DESCRIPTOR {
    /// Reserved, 0.
    pub Flags: ULONG,
    /// The node's automation table, or null.
    pub AutomationTable: *const PCAUTOMATION_TABLE,
    /// The node type (`KSNODETYPE_*`).
    pub Type: *const GUID,
    /// The node name (`KSAUDFNAME_*`), or null.
    pub Name: *const GUID,
}
/// `PPCNODE_DESCRIPTOR`.
pub type PPCNODE_DESCRIPTOR = *mut PCNODE_DESCRIPTOR;

/// `PCCONNECTION_DESCRIPTOR`: one edge of a miniport's topology; [`PCFILTER_NODE`] as a node
/// means "filter pin".
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PCCONNECTION_DESCRIPTOR {
    /// Source node.
    pub FromNode: ULONG,
    /// Source node pin (or filter pin id).
    pub FromNodePin: ULONG,
    /// Destination node.
    pub ToNode: ULONG,
    /// Destination node pin (or filter pin id).
    pub ToNodePin: ULONG,
}
/// `PPCCONNECTION_DESCRIPTOR`.
pub type PPCCONNECTION_DESCRIPTOR = *mut PCCONNECTION_DESCRIPTOR;

/// `PCFILTER_DESCRIPTOR`: what `IMiniport::GetDescription` hands PortCls (80 bytes on 64-bit).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCFILTER_DESCRIPTOR {
    /// Reserved, 0.
    pub Version: ULONG,
    /// The filter's automation table, or null.
    pub AutomationTable: *const PCAUTOMATION_TABLE,
    /// `size_of::<PCPIN_DESCRIPTOR>()`.
    pub PinSize: ULONG,
    /// Number of entries in `Pins`.
    pub PinCount: ULONG,
    /// The pins.
    pub Pins: *const PCPIN_DESCRIPTOR,
    /// `size_of::<PCNODE_DESCRIPTOR>()`.
    pub NodeSize: ULONG,
    /// Number of entries in `Nodes`.
    pub NodeCount: ULONG,
    /// The nodes, or null.
    pub Nodes: *const PCNODE_DESCRIPTOR,
    /// Number of entries in `Connections`.
    pub ConnectionCount: ULONG,
    /// The connections, or null.
    pub Connections: *const PCCONNECTION_DESCRIPTOR,
    /// Number of entries in `Categories`.
    pub CategoryCount: ULONG,
    /// The filter categories (`KSCATEGORY_*`).
    pub Categories: *const GUID,
}
/// `PPCFILTER_DESCRIPTOR`.
pub type PPCFILTER_DESCRIPTOR = *mut PCFILTER_DESCRIPTOR;

// ---------------------------------------------------------------------------------------------
// GUIDs
// ---------------------------------------------------------------------------------------------

/// `IID_IPort` {B4C90A25-5791-11D0-86F9-00A0C911B544}.
pub const IID_IPort: GUID = GUID::from_u128(0xB4C9_0A25_5791_11D0_86F9_00A0_C911_B544);
/// `IID_IMiniport` {B4C90A24-5791-11D0-86F9-00A0C911B544}.
pub const IID_IMiniport: GUID = GUID::from_u128(0xB4C9_0A24_5791_11D0_86F9_00A0_C911_B544);
/// `IID_IPortTopology` {B4C90A30-5791-11D0-86F9-00A0C911B544}.
pub const IID_IPortTopology: GUID = GUID::from_u128(0xB4C9_0A30_5791_11D0_86F9_00A0_C911_B544);
/// `IID_IPortEvents` {A80F29C4-5498-11D2-95D9-00C04FB925D3}: every port's event lists.
pub const IID_IPortEvents: GUID = GUID::from_u128(0xA80F_29C4_5498_11D2_95D9_00C0_4FB9_25D3);
/// `IID_IMiniportTopology` {B4C90A31-5791-11D0-86F9-00A0C911B544}.
pub const IID_IMiniportTopology: GUID = GUID::from_u128(0xB4C9_0A31_5791_11D0_86F9_00A0_C911_B544);
/// `CLSID_PortTopology` {B4C90A32-5791-11D0-86F9-00A0C911B544}.
pub const CLSID_PortTopology: GUID = GUID::from_u128(0xB4C9_0A32_5791_11D0_86F9_00A0_C911_B544);
/// `CLSID_PortWaveRT` {CC9BE57A-EB9E-42B4-94FC-0CAD3DBCE7FA}.
pub const CLSID_PortWaveRT: GUID = GUID::from_u128(0xCC9B_E57A_EB9E_42B4_94FC_0CAD_3DBC_E7FA);
/// `IID_IPortWaveRT` {339FF909-68A9-4310-B09B-274E96EE4CBD}.
pub const IID_IPortWaveRT: GUID = GUID::from_u128(0x339F_F909_68A9_4310_B09B_274E_96EE_4CBD);
/// `IID_IPortWaveRTStream` {1809CE5A-64BC-4E62-BD7D-95BCE43DE393}.
pub const IID_IPortWaveRTStream: GUID = GUID::from_u128(0x1809_CE5A_64BC_4E62_BD7D_95BC_E43D_E393);
/// `IID_IMiniportWaveRT` {0F9FC4D6-6061-4F3C-B1FC-075E35F7960A}.
pub const IID_IMiniportWaveRT: GUID = GUID::from_u128(0x0F9F_C4D6_6061_4F3C_B1FC_075E_35F7_960A);
/// `IID_IMiniportWaveRTStream` {000AC9AB-FAAB-4F3D-9455-6FF8306A74A0}.
pub const IID_IMiniportWaveRTStream: GUID =
    GUID::from_u128(0x000A_C9AB_FAAB_4F3D_9455_6FF8_306A_74A0);
/// `IID_IMiniportWaveRTStreamNotification` {23759128-96F1-423B-AB4D-81635BCF8CA1}.
pub const IID_IMiniportWaveRTStreamNotification: GUID =
    GUID::from_u128(0x2375_9128_96F1_423B_AB4D_8163_5BCF_8CA1);
/// `IID_IMiniportAudioSignalProcessing` {B532678C-BE50-472D-9973-8A6F16594989} (Windows 8.1).
pub const IID_IMiniportAudioSignalProcessing: GUID =
    GUID::from_u128(0xB532_678C_BE50_472D_9973_8A6F_1659_4989);

// ---------------------------------------------------------------------------------------------
// Helper interfaces passed through (only their IUnknown part is declared)
// ---------------------------------------------------------------------------------------------

/// `IResourceList`: the device's resources, translated and untranslated, as PnP assigned them:
/// handed to `StartDevice` and passed on to `IPort::Init` and the miniports.
#[repr(C)]
#[derive(Debug)]
pub struct IResourceList {
    /// The object's vtable.
    pub lpVtbl: *const IResourceListVtbl,
}
/// `PRESOURCELIST`.
pub type PRESOURCELIST = *mut IResourceList;

/// `IID_IResourceList` {22C6AC60-851B-11D0-9A7F-00AA0038ACFE}.
pub const IID_IResourceList: GUID = GUID::from_u128(0x22C6AC60_851B_11D0_9A7F_00AA0038ACFE);

/// The vtable of [`IResourceList`], in portcls.h's order (the `DECLARE_INTERFACE_(IResourceList,
/// IUnknown)` block).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IResourceListVtbl {
    /// Slots 0-2.
    pub base__: IUnknownVtbl,
    /// Slot 3: `NumberOfEntries(this) -> ULONG`.
    pub NumberOfEntries: crate::kernel_abi!(unsafe fn(this: *mut IResourceList) -> ULONG),
    /// Slot 4: `NumberOfEntriesOfType(this, Type) -> ULONG`.
    pub NumberOfEntriesOfType:
        crate::kernel_abi!(unsafe fn(this: *mut IResourceList, Type: CM_RESOURCE_TYPE) -> ULONG),
    /// Slot 5: `FindTranslatedEntry(this, Type, Index)`: the `Index`-th translated descriptor of
    /// `Type`, or null.
    pub FindTranslatedEntry: crate::kernel_abi!(
        unsafe fn(
            this: *mut IResourceList,
            Type: CM_RESOURCE_TYPE,
            Index: ULONG,
        ) -> PCM_PARTIAL_RESOURCE_DESCRIPTOR
    ),
    /// Slot 6: `FindUntranslatedEntry(this, Type, Index)`: as slot 5, untranslated (raw).
    pub FindUntranslatedEntry: crate::kernel_abi!(
        unsafe fn(
            this: *mut IResourceList,
            Type: CM_RESOURCE_TYPE,
            Index: ULONG,
        ) -> PCM_PARTIAL_RESOURCE_DESCRIPTOR
    ),
    /// Slot 7: `AddEntry(this, Translated, Untranslated)`.
    pub AddEntry: crate::kernel_abi!(
        unsafe fn(
            this: *mut IResourceList,
            Translated: PCM_PARTIAL_RESOURCE_DESCRIPTOR,
            Untranslated: PCM_PARTIAL_RESOURCE_DESCRIPTOR,
        ) -> NTSTATUS
    ),
    /// Slot 8: `AddEntryFromParent(this, Parent, Type, Index)`.
    pub AddEntryFromParent: crate::kernel_abi!(
        unsafe fn(
            this: *mut IResourceList,
            Parent: *mut IResourceList,
            Type: CM_RESOURCE_TYPE,
            Index: ULONG,
        ) -> NTSTATUS
    ),
    /// Slot 9: `TranslatedList(this)`.
    pub TranslatedList:
        crate::kernel_abi!(unsafe fn(this: *mut IResourceList) -> PCM_RESOURCE_LIST),
    /// Slot 10: `UntranslatedList(this)`.
    pub UntranslatedList:
        crate::kernel_abi!(unsafe fn(this: *mut IResourceList) -> PCM_RESOURCE_LIST),
}

/// `IRegistryKey`: a registry key object from `IPort::NewRegistryKey`; only its `IUnknown`
/// slots are declared here.
#[repr(C)]
#[derive(Debug)]
pub struct IRegistryKey {
    /// The object's vtable (the slots after `IUnknown`'s are not declared).
    pub lpVtbl: *const IUnknownVtbl,
}
/// `PREGISTRYKEY`.
pub type PREGISTRYKEY = *mut IRegistryKey;

// ---------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------

/// `BOOL` (a 32-bit Win32 truth value: 0 false, anything else true).
pub type BOOL = i32;

/// `IPortEvents`: the port's event lists, which a miniport's event handler adds KS event
/// entries to and which the miniport signals.
#[repr(C)]
#[derive(Debug)]
pub struct IPortEvents {
    /// The object's vtable.
    pub lpVtbl: *const IPortEventsVtbl,
}
/// `PPORTEVENTS`.
pub type PPORTEVENTS = *mut IPortEvents;

/// The vtable of [`IPortEvents`].
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IPortEventsVtbl {
    /// Slots 0-2.
    pub base__: IUnknownVtbl,
    /// Slot 3: `AddEventToEventList(this, EventEntry)`, from an event handler's
    /// `PCEVENT_VERB_ADD`.
    pub AddEventToEventList:
        crate::kernel_abi!(unsafe fn(this: *mut IPortEvents, EventEntry: PKSEVENT_ENTRY)),
    /// Slot 4: `GenerateEventList(this, Set, EventId, PinEvent, PinId, NodeEvent, NodeId)`:
    /// signals every entry of the event (`Set` null: of any set), of pin `PinId` if `PinEvent`,
    /// of node `NodeId` if `NodeEvent`. At `DISPATCH_LEVEL` or below.
    pub GenerateEventList: crate::kernel_abi!(
        unsafe fn(
            this: *mut IPortEvents,
            Set: *mut GUID,
            EventId: ULONG,
            PinEvent: BOOL,
            PinId: ULONG,
            NodeEvent: BOOL,
            NodeId: ULONG,
        )
    ),
}

/// `IPort`: the part every port driver shares.
#[repr(C)]
#[derive(Debug)]
pub struct IPort {
    /// The object's vtable.
    pub lpVtbl: *const IPortVtbl,
}
/// `PPORT`.
pub type PPORT = *mut IPort;

/// The vtable of [`IPort`].
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IPortVtbl {
    /// Slots 0-2.
    pub base__: IUnknownVtbl,
    /// Slot 3: `Init(this, DeviceObject, Irp, UnknownMiniport, UnknownAdapter, ResourceList)`.
    pub Init: crate::kernel_abi!(
        unsafe fn(
            this: *mut IPort,
            DeviceObject: PDEVICE_OBJECT,
            Irp: PIRP,
            UnknownMiniport: PUNKNOWN,
            UnknownAdapter: PUNKNOWN,
            ResourceList: PRESOURCELIST,
        ) -> NTSTATUS
    ),
    /// Slot 4: `GetDeviceProperty(this, DeviceProperty, BufferLength, PropertyBuffer,
    /// ResultLength)`.
    pub GetDeviceProperty: crate::kernel_abi!(
        unsafe fn(
            this: *mut IPort,
            DeviceProperty: DEVICE_REGISTRY_PROPERTY,
            BufferLength: ULONG,
            PropertyBuffer: PVOID,
            ResultLength: *mut ULONG,
        ) -> NTSTATUS
    ),
    /// Slot 5: `NewRegistryKey(this, OutRegistryKey, OuterUnknown, RegistryKeyType,
    /// DesiredAccess, ObjectAttributes, CreateOptions, Disposition)`.
    pub NewRegistryKey: crate::kernel_abi!(
        unsafe fn(
            this: *mut IPort,
            OutRegistryKey: *mut PREGISTRYKEY,
            OuterUnknown: PUNKNOWN,
            RegistryKeyType: ULONG,
            DesiredAccess: ACCESS_MASK,
            ObjectAttributes: POBJECT_ATTRIBUTES,
            CreateOptions: ULONG,
            Disposition: *mut ULONG,
        ) -> NTSTATUS
    ),
}

/// `IPortWaveRT`: the WaveRT port driver (adds nothing to [`IPort`]).
#[repr(C)]
#[derive(Debug)]
pub struct IPortWaveRT {
    /// The object's vtable.
    pub lpVtbl: *const IPortWaveRTVtbl,
}
/// `PPORTWAVERT`.
pub type PPORTWAVERT = *mut IPortWaveRT;

/// The vtable of [`IPortWaveRT`].
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IPortWaveRTVtbl {
    /// Slots 0-5.
    pub base__: IPortVtbl,
}

/// `IPortTopology`: the Topology port driver (adds nothing to [`IPort`]).
#[repr(C)]
#[derive(Debug)]
pub struct IPortTopology {
    /// The object's vtable.
    pub lpVtbl: *const IPortTopologyVtbl,
}
/// `PPORTTOPOLOGY`.
pub type PPORTTOPOLOGY = *mut IPortTopology;

/// The vtable of [`IPortTopology`].
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IPortTopologyVtbl {
    /// Slots 0-5.
    pub base__: IPortVtbl,
}

/// `IPortWaveRTStream`: the port's helper object for one WaveRT stream (buffer allocation).
#[repr(C)]
#[derive(Debug)]
pub struct IPortWaveRTStream {
    /// The object's vtable.
    pub lpVtbl: *const IPortWaveRTStreamVtbl,
}
/// `PPORTWAVERTSTREAM`.
pub type PPORTWAVERTSTREAM = *mut IPortWaveRTStream;

/// The vtable of [`IPortWaveRTStream`].
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IPortWaveRTStreamVtbl {
    /// Slots 0-2.
    pub base__: IUnknownVtbl,
    /// Slot 3: `AllocatePagesForMdl(this, HighAddress, TotalBytes)`: pages below `HighAddress`,
    /// not necessarily contiguous; null on failure.
    pub AllocatePagesForMdl: crate::kernel_abi!(
        unsafe fn(
            this: *mut IPortWaveRTStream,
            HighAddress: PHYSICAL_ADDRESS,
            TotalBytes: usize,
        ) -> PMDL
    ),
    /// Slot 4: `AllocateContiguousPagesForMdl(this, LowAddress, HighAddress, TotalBytes)`.
    pub AllocateContiguousPagesForMdl: crate::kernel_abi!(
        unsafe fn(
            this: *mut IPortWaveRTStream,
            LowAddress: PHYSICAL_ADDRESS,
            HighAddress: PHYSICAL_ADDRESS,
            TotalBytes: usize,
        ) -> PMDL
    ),
    /// Slot 5: `MapAllocatedPages(this, MemoryDescriptorList, CacheType)`: the kernel-mode
    /// address, or null.
    pub MapAllocatedPages: crate::kernel_abi!(
        unsafe fn(
            this: *mut IPortWaveRTStream,
            MemoryDescriptorList: PMDL,
            CacheType: MEMORY_CACHING_TYPE,
        ) -> PVOID
    ),
    /// Slot 6: `UnmapAllocatedPages(this, BaseAddress, MemoryDescriptorList)`.
    pub UnmapAllocatedPages: crate::kernel_abi!(
        unsafe fn(this: *mut IPortWaveRTStream, BaseAddress: PVOID, MemoryDescriptorList: PMDL)
    ),
    /// Slot 7: `FreePagesFromMdl(this, MemoryDescriptorList)`: frees the pages and the MDL.
    pub FreePagesFromMdl:
        crate::kernel_abi!(unsafe fn(this: *mut IPortWaveRTStream, MemoryDescriptorList: PMDL)),
    /// Slot 8: `GetPhysicalPagesCount(this, MemoryDescriptorList)`.
    pub GetPhysicalPagesCount: crate::kernel_abi!(
        unsafe fn(this: *mut IPortWaveRTStream, MemoryDescriptorList: PMDL) -> ULONG
    ),
    /// Slot 9: `GetPhysicalPageAddress(this, MemoryDescriptorList, Index)` as the C++ ABI
    /// calls it: the result is written through `Result` (passed right after `this`), and that
    /// pointer is returned. See the module docs.
    pub GetPhysicalPageAddress: crate::kernel_abi!(
        unsafe fn(
            this: *mut IPortWaveRTStream,
            Result: *mut PHYSICAL_ADDRESS,
            MemoryDescriptorList: PMDL,
            Index: ULONG,
        ) -> *mut PHYSICAL_ADDRESS
    ),
}

// ---------------------------------------------------------------------------------------------
// Miniports
// ---------------------------------------------------------------------------------------------

/// `IMiniport`: the part every miniport shares.
#[repr(C)]
#[derive(Debug)]
pub struct IMiniport {
    /// The object's vtable.
    pub lpVtbl: *const IMiniportVtbl,
}
/// `PMINIPORT`.
pub type PMINIPORT = *mut IMiniport;

/// The vtable of [`IMiniport`].
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IMiniportVtbl {
    /// Slots 0-2.
    pub base__: IUnknownVtbl,
    /// Slot 3: `GetDescription(this, out Description)`: a pointer to the miniport's filter
    /// descriptor, which must stay valid while the miniport lives.
    pub GetDescription: crate::kernel_abi!(
        unsafe fn(this: *mut IMiniport, Description: *mut PPCFILTER_DESCRIPTOR) -> NTSTATUS
    ),
    /// Slot 4: `DataRangeIntersection(this, PinId, DataRange, MatchingDataRange,
    /// OutputBufferLength, ResultantFormat, ResultantFormatLength)`.
    pub DataRangeIntersection: crate::kernel_abi!(
        unsafe fn(
            this: *mut IMiniport,
            PinId: ULONG,
            DataRange: PKSDATARANGE,
            MatchingDataRange: PKSDATARANGE,
            OutputBufferLength: ULONG,
            ResultantFormat: PVOID,
            ResultantFormatLength: *mut ULONG,
        ) -> NTSTATUS
    ),
}

/// `IMiniportTopology`: a Topology miniport.
#[repr(C)]
#[derive(Debug)]
pub struct IMiniportTopology {
    /// The object's vtable.
    pub lpVtbl: *const IMiniportTopologyVtbl,
}
/// `PMINIPORTTOPOLOGY`.
pub type PMINIPORTTOPOLOGY = *mut IMiniportTopology;

/// The vtable of [`IMiniportTopology`].
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IMiniportTopologyVtbl {
    /// Slots 0-4.
    pub base__: IMiniportVtbl,
    /// Slot 5: `Init(this, UnknownAdapter, ResourceList, Port)`.
    pub Init: crate::kernel_abi!(
        unsafe fn(
            this: *mut IMiniportTopology,
            UnknownAdapter: PUNKNOWN,
            ResourceList: PRESOURCELIST,
            Port: PPORTTOPOLOGY,
        ) -> NTSTATUS
    ),
}

/// `IMiniportWaveRT`: a WaveRT miniport.
#[repr(C)]
#[derive(Debug)]
pub struct IMiniportWaveRT {
    /// The object's vtable.
    pub lpVtbl: *const IMiniportWaveRTVtbl,
}
/// `PMINIPORTWAVERT`.
pub type PMINIPORTWAVERT = *mut IMiniportWaveRT;

/// The vtable of [`IMiniportWaveRT`].
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IMiniportWaveRTVtbl {
    /// Slots 0-4.
    pub base__: IMiniportVtbl,
    /// Slot 5: `Init(this, UnknownAdapter, ResourceList, Port)`.
    pub Init: crate::kernel_abi!(
        unsafe fn(
            this: *mut IMiniportWaveRT,
            UnknownAdapter: PUNKNOWN,
            ResourceList: PRESOURCELIST,
            Port: PPORTWAVERT,
        ) -> NTSTATUS
    ),
    /// Slot 6: `NewStream(this, out Stream, PortStream, Pin, Capture, DataFormat)`.
    pub NewStream: crate::kernel_abi!(
        unsafe fn(
            this: *mut IMiniportWaveRT,
            Stream: *mut PMINIPORTWAVERTSTREAM,
            PortStream: PPORTWAVERTSTREAM,
            Pin: ULONG,
            Capture: BOOLEAN,
            DataFormat: PKSDATAFORMAT,
        ) -> NTSTATUS
    ),
    /// Slot 7: `GetDeviceDescription(this, DeviceDescription)`.
    pub GetDeviceDescription: crate::kernel_abi!(
        unsafe fn(this: *mut IMiniportWaveRT, DeviceDescription: PDEVICE_DESCRIPTION) -> NTSTATUS
    ),
}

/// `IMiniportWaveRTStream`: one stream of a WaveRT miniport.
#[repr(C)]
#[derive(Debug)]
pub struct IMiniportWaveRTStream {
    /// The object's vtable.
    pub lpVtbl: *const IMiniportWaveRTStreamVtbl,
}
/// `PMINIPORTWAVERTSTREAM`.
pub type PMINIPORTWAVERTSTREAM = *mut IMiniportWaveRTStream;

/// The vtable of [`IMiniportWaveRTStream`].
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IMiniportWaveRTStreamVtbl {
    /// Slots 0-2.
    pub base__: IUnknownVtbl,
    /// Slot 3: `SetFormat(this, DataFormat)`.
    pub SetFormat: crate::kernel_abi!(
        unsafe fn(this: *mut IMiniportWaveRTStream, DataFormat: PKSDATAFORMAT) -> NTSTATUS
    ),
    /// Slot 4: `SetState(this, State)`.
    pub SetState:
        crate::kernel_abi!(unsafe fn(this: *mut IMiniportWaveRTStream, State: KSSTATE) -> NTSTATUS),
    /// Slot 5: `GetPosition(this, Position)`: fills both offsets.
    pub GetPosition: crate::kernel_abi!(
        unsafe fn(this: *mut IMiniportWaveRTStream, Position: PKSAUDIO_POSITION) -> NTSTATUS
    ),
    /// Slot 6: `AllocateAudioBuffer(this, RequestedSize, out AudioBufferMdl, out ActualSize,
    /// out OffsetFromFirstPage, out CacheType)`.
    pub AllocateAudioBuffer: crate::kernel_abi!(
        unsafe fn(
            this: *mut IMiniportWaveRTStream,
            RequestedSize: ULONG,
            AudioBufferMdl: *mut PMDL,
            ActualSize: *mut ULONG,
            OffsetFromFirstPage: *mut ULONG,
            CacheType: *mut MEMORY_CACHING_TYPE,
        ) -> NTSTATUS
    ),
    /// Slot 7: `FreeAudioBuffer(this, AudioBufferMdl, BufferSize)`.
    pub FreeAudioBuffer: crate::kernel_abi!(
        unsafe fn(this: *mut IMiniportWaveRTStream, AudioBufferMdl: PMDL, BufferSize: ULONG)
    ),
    /// Slot 8: `GetHWLatency(this, hwLatency)`: fills all three fields.
    pub GetHWLatency: crate::kernel_abi!(
        unsafe fn(this: *mut IMiniportWaveRTStream, hwLatency: PKSRTAUDIO_HWLATENCY)
    ),
    /// Slot 9: `GetPositionRegister(this, Register)`.
    pub GetPositionRegister: crate::kernel_abi!(
        unsafe fn(this: *mut IMiniportWaveRTStream, Register: PKSRTAUDIO_HWREGISTER) -> NTSTATUS
    ),
    /// Slot 10: `GetClockRegister(this, Register)`.
    pub GetClockRegister: crate::kernel_abi!(
        unsafe fn(this: *mut IMiniportWaveRTStream, Register: PKSRTAUDIO_HWREGISTER) -> NTSTATUS
    ),
}

/// `IMiniportWaveRTStreamNotification`: a WaveRT stream that signals buffer notifications
/// (event-driven mode), derived from [`IMiniportWaveRTStream`].
#[repr(C)]
#[derive(Debug)]
pub struct IMiniportWaveRTStreamNotification {
    /// The object's vtable.
    pub lpVtbl: *const IMiniportWaveRTStreamNotificationVtbl,
}
/// `PMINIPORTWAVERTSTREAMNOTIFICATION`.
pub type PMINIPORTWAVERTSTREAMNOTIFICATION = *mut IMiniportWaveRTStreamNotification;

/// The vtable of [`IMiniportWaveRTStreamNotification`].
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IMiniportWaveRTStreamNotificationVtbl {
    /// Slots 0-10.
    pub base__: IMiniportWaveRTStreamVtbl,
    /// Slot 11: `AllocateBufferWithNotification(this, NotificationCount, RequestedSize,
    /// out AudioBufferMdl, out ActualSize, out OffsetFromFirstPage, out CacheType)`.
    pub AllocateBufferWithNotification: crate::kernel_abi!(
        unsafe fn(
            this: *mut IMiniportWaveRTStreamNotification,
            NotificationCount: ULONG,
            RequestedSize: ULONG,
            AudioBufferMdl: *mut PMDL,
            ActualSize: *mut ULONG,
            OffsetFromFirstPage: *mut ULONG,
            CacheType: *mut MEMORY_CACHING_TYPE,
        ) -> NTSTATUS
    ),
    /// Slot 12: `FreeBufferWithNotification(this, AudioBufferMdl, BufferSize)`.
    pub FreeBufferWithNotification: crate::kernel_abi!(
        unsafe fn(
            this: *mut IMiniportWaveRTStreamNotification,
            AudioBufferMdl: PMDL,
            BufferSize: ULONG,
        )
    ),
    /// Slot 13: `RegisterNotificationEvent(this, NotificationEvent)`.
    pub RegisterNotificationEvent: crate::kernel_abi!(
        unsafe fn(
            this: *mut IMiniportWaveRTStreamNotification,
            NotificationEvent: PKEVENT,
        ) -> NTSTATUS
    ),
    /// Slot 14: `UnregisterNotificationEvent(this, NotificationEvent)`.
    pub UnregisterNotificationEvent: crate::kernel_abi!(
        unsafe fn(
            this: *mut IMiniportWaveRTStreamNotification,
            NotificationEvent: PKEVENT,
        ) -> NTSTATUS
    ),
}

/// `IMiniportAudioSignalProcessing` (Windows 8.1 and later): the audio signal-processing modes
/// each pin of a WaveRT miniport supports. PortCls queries the miniport for it (its own
/// `KSPROPERTY_AUDIOSIGNALPROCESSING_MODES` answer is built from `GetModes`).
#[repr(C)]
#[derive(Debug)]
pub struct IMiniportAudioSignalProcessing {
    /// The object's vtable.
    pub lpVtbl: *const IMiniportAudioSignalProcessingVtbl,
}
/// `PMINIPORTAUDIOSIGNALPROCESSING`.
pub type PMINIPORTAUDIOSIGNALPROCESSING = *mut IMiniportAudioSignalProcessing;

/// The vtable of [`IMiniportAudioSignalProcessing`].
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IMiniportAudioSignalProcessingVtbl {
    /// Slots 0-2.
    pub base__: IUnknownVtbl,
    /// Slot 3: `GetModes(this, Pin, SignalProcessingModes /*optional*/,
    /// NumSignalProcessingModes /*in: capacity, out: count*/)`. A null buffer asks for the count
    /// (`STATUS_SUCCESS`); a buffer below the count gets `STATUS_BUFFER_TOO_SMALL`; an unknown pin
    /// `STATUS_INVALID_PARAMETER`; a pin without modes (bridge, loopback) `STATUS_NOT_SUPPORTED`.
    pub GetModes: crate::kernel_abi!(
        unsafe fn(
            this: *mut IMiniportAudioSignalProcessing,
            Pin: ULONG,
            SignalProcessingModes: *mut GUID,
            NumSignalProcessingModes: *mut ULONG,
        ) -> NTSTATUS
    ),
}

// ---------------------------------------------------------------------------------------------
// Packet mode (Windows 10 1507 and later: portcls.h declares these for NTDDI_WIN10)
// ---------------------------------------------------------------------------------------------

/// `IID_IMiniportWaveRTOutputStream` {831FC7BC-6347-44BC-B47B-C0C657B5BF73}.
pub const IID_IMiniportWaveRTOutputStream: GUID =
    GUID::from_u128(0x831F_C7BC_6347_44BC_B47B_C0C6_57B5_BF73);
/// `IID_IMiniportWaveRTInputStream` {CD8E756A-5FC7-4624-984B-2AF02925B91F}.
pub const IID_IMiniportWaveRTInputStream: GUID =
    GUID::from_u128(0xCD8E_756A_5FC7_4624_984B_2AF0_2925_B91F);

/// `STATUS_DATA_OVERRUN`: `SetWritePacket` for a packet beyond what the buffer can hold.
pub const STATUS_DATA_OVERRUN: NTSTATUS = 0xC000_003C_u32.cast_signed();
/// `STATUS_DATA_LATE_ERROR`: `SetWritePacket` for a packet already (being) transferred.
pub const STATUS_DATA_LATE_ERROR: NTSTATUS = 0xC000_003D_u32.cast_signed();
/// `STATUS_DEVICE_NOT_READY`: `GetReadPacket` when no new packet is complete.
pub const STATUS_DEVICE_NOT_READY: NTSTATUS = 0xC000_00A3_u32.cast_signed();

/// `IMiniportWaveRTOutputStream`: a render stream in packet mode. The OS tells the stream
/// which packet (a buffer / `NotificationCount` slice) it wrote, and reads back how many
/// packets the hardware took and where presentation stands. Inherits `IUnknown` only: it is a
/// separate interface of the stream object.
#[repr(C)]
#[derive(Debug)]
pub struct IMiniportWaveRTOutputStream {
    /// The object's vtable.
    pub lpVtbl: *const IMiniportWaveRTOutputStreamVtbl,
}
/// `PMINIPORTWAVERTOUTPUTSTREAM`.
pub type PMINIPORTWAVERTOUTPUTSTREAM = *mut IMiniportWaveRTOutputStream;

/// The vtable of [`IMiniportWaveRTOutputStream`]. Every method: `PASSIVE_LEVEL`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IMiniportWaveRTOutputStreamVtbl {
    /// Slots 0-2.
    pub base__: IUnknownVtbl,
    /// Slot 3: `SetWritePacket(this, PacketNumber, Flags, EosPacketLength)`: the OS wrote packet
    /// `PacketNumber`; `Flags` is 0 or `KSSTREAM_HEADER_OPTIONSF_ENDOFSTREAM`, and then
    /// `EosPacketLength` is the bytes of the last packet.
    pub SetWritePacket: crate::kernel_abi!(
        unsafe fn(
            this: *mut IMiniportWaveRTOutputStream,
            PacketNumber: ULONG,
            Flags: u32,
            EosPacketLength: ULONG,
        ) -> NTSTATUS
    ),
    /// Slot 4: `GetOutputStreamPresentationPosition(this, out pPresentationPosition)`.
    pub GetOutputStreamPresentationPosition: crate::kernel_abi!(
        unsafe fn(
            this: *mut IMiniportWaveRTOutputStream,
            pPresentationPosition: crate::ks::PKSAUDIO_PRESENTATION_POSITION,
        ) -> NTSTATUS
    ),
    /// Slot 5: `GetPacketCount(this, out pPacketCount)`: packets completely transferred from
    /// the buffer to the hardware since STOP.
    pub GetPacketCount: crate::kernel_abi!(
        unsafe fn(this: *mut IMiniportWaveRTOutputStream, pPacketCount: *mut ULONG) -> NTSTATUS
    ),
}

/// `IMiniportWaveRTInputStream`: a capture stream in packet mode. The OS asks which packet is
/// ready before it reads it. Inherits `IUnknown` only.
#[repr(C)]
#[derive(Debug)]
pub struct IMiniportWaveRTInputStream {
    /// The object's vtable.
    pub lpVtbl: *const IMiniportWaveRTInputStreamVtbl,
}
/// `PMINIPORTWAVERTINPUTSTREAM`.
pub type PMINIPORTWAVERTINPUTSTREAM = *mut IMiniportWaveRTInputStream;

/// The vtable of [`IMiniportWaveRTInputStream`]. `PASSIVE_LEVEL`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IMiniportWaveRTInputStreamVtbl {
    /// Slots 0-2.
    pub base__: IUnknownVtbl,
    /// Slot 3: `GetReadPacket(this, out PacketNumber, out Flags, out PerformanceCounterValue,
    /// out MoreData)`: the oldest packet not yet read, the counter at its first sample, and
    /// whether another is ready already (`MoreData` is a Win32 `BOOL`, four bytes).
    pub GetReadPacket: crate::kernel_abi!(
        unsafe fn(
            this: *mut IMiniportWaveRTInputStream,
            PacketNumber: *mut ULONG,
            Flags: *mut u32,
            PerformanceCounterValue: *mut u64,
            MoreData: *mut i32,
        ) -> NTSTATUS
    ),
}

#[cfg(target_pointer_width = "64")]
mod packet_layout {
    use super::{IMiniportWaveRTInputStreamVtbl, IMiniportWaveRTOutputStreamVtbl};
    use core::mem::{offset_of, size_of};

    // Slots in the order of portcls.h (mingw-w64 does not declare these interfaces).
    const _: () = assert!(offset_of!(IMiniportWaveRTOutputStreamVtbl, SetWritePacket) == 3 * 8);
    const _: () = assert!(
        offset_of!(
            IMiniportWaveRTOutputStreamVtbl,
            GetOutputStreamPresentationPosition
        ) == 4 * 8
    );
    const _: () = assert!(offset_of!(IMiniportWaveRTOutputStreamVtbl, GetPacketCount) == 5 * 8);
    const _: () = assert!(size_of::<IMiniportWaveRTOutputStreamVtbl>() == 6 * 8);
    const _: () = assert!(offset_of!(IMiniportWaveRTInputStreamVtbl, GetReadPacket) == 3 * 8);
    const _: () = assert!(size_of::<IMiniportWaveRTInputStreamVtbl>() == 4 * 8);
}

// ---------------------------------------------------------------------------------------------
// Adapter functions
// ---------------------------------------------------------------------------------------------

/// `PCPFNSTARTDEVICE`: the adapter's `StartDevice` callback for `PcAddAdapterDevice`.
pub type PCPFNSTARTDEVICE = Option<
    crate::kernel_abi!(
        unsafe fn(DeviceObject: PDEVICE_OBJECT, Irp: PIRP, ResourceList: PRESOURCELIST) -> NTSTATUS
    ),
>;

/// `PORT_CLASS_DEVICE_EXTENSION_SIZE`: the device-extension bytes PortCls reserves for itself
/// at the start of the extension (64 pointers).
#[allow(clippy::cast_possible_truncation)] // 512 on 64-bit
pub const PORT_CLASS_DEVICE_EXTENSION_SIZE: ULONG = (64 * core::mem::size_of::<usize>()) as ULONG;

/// `IID_IAdapterPowerManagement` {793417D0-35FE-11D1-AD08-00A0C90AB1B0}.
pub const IID_IAdapterPowerManagement: GUID =
    GUID::from_u128(0x7934_17D0_35FE_11D1_AD08_00A0_C90A_B1B0);

/// `IAdapterPowerManagement`: the adapter's power callbacks, registered with
/// [`PcRegisterAdapterPowerManagement`].
#[repr(C)]
#[derive(Debug)]
pub struct IAdapterPowerManagement {
    /// The object's vtable.
    pub lpVtbl: *const IAdapterPowerManagementVtbl,
}
/// `PADAPTERPOWERMANAGEMENT`.
pub type PADAPTERPOWERMANAGEMENT = *mut IAdapterPowerManagement;

/// The vtable of [`IAdapterPowerManagement`].
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IAdapterPowerManagementVtbl {
    /// Slots 0-2.
    pub base__: IUnknownVtbl,
    /// Slot 3: `PowerChangeState(this, NewState)`: the device is entering `NewState`.
    pub PowerChangeState:
        crate::kernel_abi!(unsafe fn(this: *mut IAdapterPowerManagement, NewState: POWER_STATE)),
    /// Slot 4: `QueryPowerChangeState(this, NewStateQuery)`.
    pub QueryPowerChangeState: crate::kernel_abi!(
        unsafe fn(this: *mut IAdapterPowerManagement, NewStateQuery: POWER_STATE) -> NTSTATUS
    ),
    /// Slot 5: `QueryDeviceCapabilities(this, PowerDeviceCaps)`.
    pub QueryDeviceCapabilities: crate::kernel_abi!(
        unsafe fn(
            this: *mut IAdapterPowerManagement,
            PowerDeviceCaps: PDEVICE_CAPABILITIES,
        ) -> NTSTATUS
    ),
}

// The portcls.sys adapter exports. With `link` they are raw-dylib imports.
crate::kernel_abi! {
    #[cfg_attr(
        feature = "link",
        link(name = "portcls.sys", kind = "raw-dylib", modifiers = "+verbatim")
    )]
    unsafe extern {
        /// `PcInitializeAdapterDriver`: called from `DriverEntry`; installs PortCls's dispatch
        /// routines and `AddDevice`. IRQL: `PASSIVE_LEVEL`.
        pub fn PcInitializeAdapterDriver(
            DriverObject: PDRIVER_OBJECT,
            RegistryPathName: PUNICODE_STRING,
            AddDevice: PDRIVER_ADD_DEVICE,
        ) -> NTSTATUS;

        /// `PcAddAdapterDevice`: called from `AddDevice`; creates the FDO with room for
        /// `MaxObjects` subdevices and `DeviceExtensionSize` bytes of extension (0, or at least
        /// [`PORT_CLASS_DEVICE_EXTENSION_SIZE`]). IRQL: `PASSIVE_LEVEL`.
        pub fn PcAddAdapterDevice(
            DriverObject: PDRIVER_OBJECT,
            PhysicalDeviceObject: PDEVICE_OBJECT,
            StartDevice: PCPFNSTARTDEVICE,
            MaxObjects: ULONG,
            DeviceExtensionSize: ULONG,
        ) -> NTSTATUS;

        /// `PcNewPort`: creates a port driver object of class `ClassId` (`CLSID_PortWaveRT`,
        /// `CLSID_PortTopology`). IRQL: `PASSIVE_LEVEL`.
        pub fn PcNewPort(OutPort: *mut PPORT, ClassId: *const GUID) -> NTSTATUS;

        /// `PcRegisterSubdevice`: registers a port as the subdevice `Name` (a NUL-terminated
        /// UTF-16 string that must stay valid for the device object's lifetime and equal the INF
        /// reference string). IRQL: `PASSIVE_LEVEL`.
        pub fn PcRegisterSubdevice(
            DeviceObject: PDEVICE_OBJECT,
            Name: *const u16,
            Unknown: PUNKNOWN,
        ) -> NTSTATUS;

        /// `PcRegisterPhysicalConnection`: records that pin `FromPin` of one subdevice is wired to
        /// pin `ToPin` of another (both given by their port's `IUnknown`). IRQL: `PASSIVE_LEVEL`.
        pub fn PcRegisterPhysicalConnection(
            DeviceObject: PDEVICE_OBJECT,
            FromUnknown: PUNKNOWN,
            FromPin: ULONG,
            ToUnknown: PUNKNOWN,
            ToPin: ULONG,
        ) -> NTSTATUS;

        /// `PcDispatchIrp`: PortCls's IRP dispatcher, which an adapter that hooks a major function
        /// calls to pass the IRP on. IRQL: as the IRP's.
        pub fn PcDispatchIrp(DeviceObject: PDEVICE_OBJECT, Irp: PIRP) -> NTSTATUS;

        /// `PcRegisterAdapterPowerManagement`: PortCls queries `Unknown` for
        /// [`IAdapterPowerManagement`], keeps it, and calls it on power changes of the device
        /// (`DeviceObject`). IRQL: `PASSIVE_LEVEL`.
        pub fn PcRegisterAdapterPowerManagement(
            Unknown: PUNKNOWN,
            DeviceObject: PDEVICE_OBJECT,
        ) -> NTSTATUS;
    }
}

#[cfg(target_pointer_width = "64")]
mod layout {
    use super::{
        IMiniportAudioSignalProcessingVtbl, IMiniportTopologyVtbl, IMiniportVtbl,
        IMiniportWaveRTStreamNotificationVtbl, IMiniportWaveRTStreamVtbl, IMiniportWaveRTVtbl,
        IPortTopologyVtbl, IPortVtbl, IPortWaveRTStreamVtbl, IPortWaveRTVtbl, PCAUTOMATION_TABLE,
        PCCONNECTION_DESCRIPTOR, PCEVENT_ITEM, PCEVENT_REQUEST, PCFILTER_DESCRIPTOR, PCMETHOD_ITEM,
        PCMETHOD_REQUEST, PCNODE_DESCRIPTOR, PCPIN_DESCRIPTOR, PCPROPERTY_ITEM, PCPROPERTY_REQUEST,
    };
    use core::mem::{align_of, offset_of, size_of};

    // Struct layouts compared with the mingw-w64 portcls.h by a C compiler.
    const _: () = assert!(size_of::<PCPROPERTY_ITEM>() == 24);
    const _: () = assert!(offset_of!(PCPROPERTY_ITEM, Id) == 8);
    const _: () = assert!(offset_of!(PCPROPERTY_ITEM, Flags) == 12);
    const _: () = assert!(offset_of!(PCPROPERTY_ITEM, Handler) == 16);
    const _: () = assert!(size_of::<PCPROPERTY_REQUEST>() == 72);
    const _: () = assert!(offset_of!(PCPROPERTY_REQUEST, Node) == 16);
    const _: () = assert!(offset_of!(PCPROPERTY_REQUEST, PropertyItem) == 24);
    const _: () = assert!(offset_of!(PCPROPERTY_REQUEST, Verb) == 32);
    const _: () = assert!(offset_of!(PCPROPERTY_REQUEST, InstanceSize) == 36);
    const _: () = assert!(offset_of!(PCPROPERTY_REQUEST, Instance) == 40);
    const _: () = assert!(offset_of!(PCPROPERTY_REQUEST, ValueSize) == 48);
    const _: () = assert!(offset_of!(PCPROPERTY_REQUEST, Value) == 56);
    const _: () = assert!(offset_of!(PCPROPERTY_REQUEST, Irp) == 64);
    const _: () = assert!(size_of::<PCEVENT_ITEM>() == 24);
    const _: () = assert!(offset_of!(PCEVENT_ITEM, Handler) == 16);
    const _: () = assert!(size_of::<PCEVENT_REQUEST>() == 56);
    const _: () = assert!(offset_of!(PCEVENT_REQUEST, EventItem) == 24);
    const _: () = assert!(offset_of!(PCEVENT_REQUEST, EventEntry) == 32);
    const _: () = assert!(offset_of!(PCEVENT_REQUEST, Verb) == 40);
    const _: () = assert!(offset_of!(PCEVENT_REQUEST, Irp) == 48);
    const _: () = assert!(size_of::<PCMETHOD_ITEM>() == 24);
    const _: () = assert!(offset_of!(PCMETHOD_ITEM, Handler) == 16);
    const _: () = assert!(size_of::<PCMETHOD_REQUEST>() == 40);
    const _: () = assert!(offset_of!(PCMETHOD_REQUEST, MethodItem) == 24);
    const _: () = assert!(offset_of!(PCMETHOD_REQUEST, Verb) == 32);
    const _: () = assert!(size_of::<PCAUTOMATION_TABLE>() == 56);
    const _: () = assert!(offset_of!(PCAUTOMATION_TABLE, PropertyCount) == 4);
    const _: () = assert!(offset_of!(PCAUTOMATION_TABLE, Properties) == 8);
    const _: () = assert!(offset_of!(PCAUTOMATION_TABLE, MethodItemSize) == 16);
    const _: () = assert!(offset_of!(PCAUTOMATION_TABLE, Methods) == 24);
    const _: () = assert!(offset_of!(PCAUTOMATION_TABLE, EventItemSize) == 32);
    const _: () = assert!(offset_of!(PCAUTOMATION_TABLE, Events) == 40);
    const _: () = assert!(offset_of!(PCAUTOMATION_TABLE, Reserved) == 48);
    const _: () = assert!(size_of::<PCPIN_DESCRIPTOR>() == 112);
    const _: () = assert!(align_of::<PCPIN_DESCRIPTOR>() == 8);
    const _: () = assert!(offset_of!(PCPIN_DESCRIPTOR, MinFilterInstanceCount) == 8);
    const _: () = assert!(offset_of!(PCPIN_DESCRIPTOR, AutomationTable) == 16);
    const _: () = assert!(offset_of!(PCPIN_DESCRIPTOR, KsPinDescriptor) == 24);
    const _: () = assert!(size_of::<PCNODE_DESCRIPTOR>() == 32);
    const _: () = assert!(offset_of!(PCNODE_DESCRIPTOR, AutomationTable) == 8);
    const _: () = assert!(offset_of!(PCNODE_DESCRIPTOR, Type) == 16);
    const _: () = assert!(offset_of!(PCNODE_DESCRIPTOR, Name) == 24);
    const _: () = assert!(size_of::<PCCONNECTION_DESCRIPTOR>() == 16);
    const _: () = assert!(offset_of!(PCCONNECTION_DESCRIPTOR, ToNodePin) == 12);
    const _: () = assert!(size_of::<PCFILTER_DESCRIPTOR>() == 80);
    const _: () = assert!(offset_of!(PCFILTER_DESCRIPTOR, AutomationTable) == 8);
    const _: () = assert!(offset_of!(PCFILTER_DESCRIPTOR, PinSize) == 16);
    const _: () = assert!(offset_of!(PCFILTER_DESCRIPTOR, PinCount) == 20);
    const _: () = assert!(offset_of!(PCFILTER_DESCRIPTOR, Pins) == 24);
    const _: () = assert!(offset_of!(PCFILTER_DESCRIPTOR, NodeSize) == 32);
    const _: () = assert!(offset_of!(PCFILTER_DESCRIPTOR, NodeCount) == 36);
    const _: () = assert!(offset_of!(PCFILTER_DESCRIPTOR, Nodes) == 40);
    const _: () = assert!(offset_of!(PCFILTER_DESCRIPTOR, ConnectionCount) == 48);
    const _: () = assert!(offset_of!(PCFILTER_DESCRIPTOR, Connections) == 56);
    const _: () = assert!(offset_of!(PCFILTER_DESCRIPTOR, CategoryCount) == 64);
    const _: () = assert!(offset_of!(PCFILTER_DESCRIPTOR, Categories) == 72);

    // Vtable slots: one pointer each, in the order of portcls.h (the C `lpVtbl` structs mingw
    // generates were compared slot by slot).
    const _: () = assert!(offset_of!(IPortVtbl, Init) == 3 * 8);
    const _: () = assert!(offset_of!(IPortVtbl, GetDeviceProperty) == 4 * 8);
    const _: () = assert!(offset_of!(IPortVtbl, NewRegistryKey) == 5 * 8);
    const _: () = assert!(size_of::<IPortVtbl>() == 6 * 8);
    const _: () = assert!(size_of::<IPortWaveRTVtbl>() == 6 * 8);
    const _: () = assert!(size_of::<IPortTopologyVtbl>() == 6 * 8);
    const _: () = assert!(offset_of!(IPortWaveRTStreamVtbl, AllocatePagesForMdl) == 3 * 8);
    const _: () =
        assert!(offset_of!(IPortWaveRTStreamVtbl, AllocateContiguousPagesForMdl) == 4 * 8);
    const _: () = assert!(offset_of!(IPortWaveRTStreamVtbl, MapAllocatedPages) == 5 * 8);
    const _: () = assert!(offset_of!(IPortWaveRTStreamVtbl, UnmapAllocatedPages) == 6 * 8);
    const _: () = assert!(offset_of!(IPortWaveRTStreamVtbl, FreePagesFromMdl) == 7 * 8);
    const _: () = assert!(offset_of!(IPortWaveRTStreamVtbl, GetPhysicalPagesCount) == 8 * 8);
    const _: () = assert!(offset_of!(IPortWaveRTStreamVtbl, GetPhysicalPageAddress) == 9 * 8);
    const _: () = assert!(size_of::<IPortWaveRTStreamVtbl>() == 10 * 8);
    const _: () = assert!(offset_of!(IMiniportVtbl, GetDescription) == 3 * 8);
    const _: () = assert!(offset_of!(IMiniportVtbl, DataRangeIntersection) == 4 * 8);
    const _: () = assert!(size_of::<IMiniportVtbl>() == 5 * 8);
    const _: () = assert!(offset_of!(IMiniportTopologyVtbl, Init) == 5 * 8);
    const _: () = assert!(size_of::<IMiniportTopologyVtbl>() == 6 * 8);
    const _: () = assert!(offset_of!(IMiniportWaveRTVtbl, Init) == 5 * 8);
    const _: () = assert!(offset_of!(IMiniportWaveRTVtbl, NewStream) == 6 * 8);
    const _: () = assert!(offset_of!(IMiniportWaveRTVtbl, GetDeviceDescription) == 7 * 8);
    const _: () = assert!(size_of::<IMiniportWaveRTVtbl>() == 8 * 8);
    const _: () = assert!(offset_of!(IMiniportWaveRTStreamVtbl, SetFormat) == 3 * 8);
    const _: () = assert!(offset_of!(IMiniportWaveRTStreamVtbl, SetState) == 4 * 8);
    const _: () = assert!(offset_of!(IMiniportWaveRTStreamVtbl, GetPosition) == 5 * 8);
    const _: () = assert!(offset_of!(IMiniportWaveRTStreamVtbl, AllocateAudioBuffer) == 6 * 8);
    const _: () = assert!(offset_of!(IMiniportWaveRTStreamVtbl, FreeAudioBuffer) == 7 * 8);
    const _: () = assert!(offset_of!(IMiniportWaveRTStreamVtbl, GetHWLatency) == 8 * 8);
    const _: () = assert!(offset_of!(IMiniportWaveRTStreamVtbl, GetPositionRegister) == 9 * 8);
    const _: () = assert!(offset_of!(IMiniportWaveRTStreamVtbl, GetClockRegister) == 10 * 8);
    const _: () = assert!(size_of::<IMiniportWaveRTStreamVtbl>() == 11 * 8);
    const _: () = assert!(
        offset_of!(
            IMiniportWaveRTStreamNotificationVtbl,
            AllocateBufferWithNotification
        ) == 11 * 8
    );
    const _: () = assert!(
        offset_of!(
            IMiniportWaveRTStreamNotificationVtbl,
            FreeBufferWithNotification
        ) == 12 * 8
    );
    const _: () = assert!(
        offset_of!(
            IMiniportWaveRTStreamNotificationVtbl,
            RegisterNotificationEvent
        ) == 13 * 8
    );
    const _: () = assert!(
        offset_of!(
            IMiniportWaveRTStreamNotificationVtbl,
            UnregisterNotificationEvent
        ) == 14 * 8
    );
    const _: () = assert!(size_of::<IMiniportWaveRTStreamNotificationVtbl>() == 15 * 8);
    // Not in mingw-w64's portcls.h: one slot after IUnknown's, as the documentation lists it.
    const _: () = assert!(offset_of!(IMiniportAudioSignalProcessingVtbl, GetModes) == 3 * 8);
    const _: () = assert!(size_of::<IMiniportAudioSignalProcessingVtbl>() == 4 * 8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::parse_registry_form;

    #[test]
    fn guid_values_match_the_reference_sheet() {
        let cases = [
            (CLSID_PortWaveRT, "{CC9BE57A-EB9E-42B4-94FC-0CAD3DBCE7FA}"),
            (IID_IPortWaveRT, "{339FF909-68A9-4310-B09B-274E96EE4CBD}"),
            (
                IID_IPortWaveRTStream,
                "{1809CE5A-64BC-4E62-BD7D-95BCE43DE393}",
            ),
            (
                IID_IMiniportWaveRT,
                "{0F9FC4D6-6061-4F3C-B1FC-075E35F7960A}",
            ),
            (
                IID_IMiniportWaveRTStream,
                "{000AC9AB-FAAB-4F3D-9455-6FF8306A74A0}",
            ),
            (
                IID_IMiniportWaveRTStreamNotification,
                "{23759128-96F1-423B-AB4D-81635BCF8CA1}",
            ),
            (IID_IMiniport, "{B4C90A24-5791-11D0-86F9-00A0C911B544}"),
            (IID_IPort, "{B4C90A25-5791-11D0-86F9-00A0C911B544}"),
            (IID_IPortTopology, "{B4C90A30-5791-11D0-86F9-00A0C911B544}"),
            (
                IID_IMiniportTopology,
                "{B4C90A31-5791-11D0-86F9-00A0C911B544}",
            ),
            (CLSID_PortTopology, "{B4C90A32-5791-11D0-86F9-00A0C911B544}"),
            (
                IID_IMiniportAudioSignalProcessing,
                "{B532678C-BE50-472D-9973-8A6F16594989}",
            ),
        ];
        for (guid, text) in cases {
            assert_eq!(guid.to_u128(), parse_registry_form(text), "{text}");
        }
    }

    #[test]
    fn packet_mode_guids_and_statuses_have_their_header_values() {
        assert_eq!(
            IID_IMiniportWaveRTOutputStream.to_u128(),
            parse_registry_form("{831FC7BC-6347-44BC-B47B-C0C657B5BF73}")
        );
        assert_eq!(
            IID_IMiniportWaveRTInputStream.to_u128(),
            parse_registry_form("{CD8E756A-5FC7-4624-984B-2AF02925B91F}")
        );
        assert_eq!(STATUS_DATA_OVERRUN.cast_unsigned(), 0xC000_003C);
        assert_eq!(STATUS_DATA_LATE_ERROR.cast_unsigned(), 0xC000_003D);
        assert_eq!(STATUS_DEVICE_NOT_READY.cast_unsigned(), 0xC000_00A3);
    }

    #[test]
    fn flags_and_sentinels_have_their_header_values() {
        assert_eq!(PCFILTER_NODE, u32::MAX);
        assert_eq!(PCPROPERTY_ITEM_FLAG_GET, 1);
        assert_eq!(PCPROPERTY_ITEM_FLAG_SET, 2);
        assert_eq!(PCPROPERTY_ITEM_FLAG_BASICSUPPORT, 0x200);
        assert_eq!(PCPROPERTY_ITEM_FLAG_SERIALIZE, 0xE000);
        assert_eq!(PCEVENT_ITEM_FLAG_BASICSUPPORT, 0x200);
        assert_eq!(PCMETHOD_ITEM_FLAG_MODIFY, 3);
        #[cfg(target_pointer_width = "64")]
        assert_eq!(PORT_CLASS_DEVICE_EXTENSION_SIZE, 512);
    }
}
