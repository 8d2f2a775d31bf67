//! An independent check of the declarations: the sizes, alignments and field offsets of every
//! structure this crate shares with the mingw-w64 headers, their enum and property-id values,
//! their GUIDs, and the slot offsets of every PortCls interface's vtable, compiled by clang
//! against those headers.
//!
//! Two compilations: the user-mode headers (ks.h, ksmedia.h, mmreg.h) for x64 and arm64, and
//! the DDK headers (ddk/ntddk.h, ks.h in kernel mode, ddk/portcls.h) for x64, the only
//! architecture mingw-w64's wdm.h supports; the kernel set is pointers, 32-bit integers and
//! GUIDs, laid out alike by both LLP64 targets, and the crate's const assertions are evaluated
//! for arm64 by the cross-lint.
//!
//! The Rust side emits the facts (`size_of`, `align_of`, `offset_of!` of this crate's types);
//! the C side asserts each one with `_Static_assert`, so a single wrong offset stops the
//! compilation with its name. GUIDs are not constant expressions in C: the user-mode headers'
//! `STATIC_*` initialisers are expanded by the preprocessor, and portcls.h's `DEFINE_GUID`
//! arguments read from its text. The headers lack the stream-resource types and interfaces,
//! the WaveRT latency and register structures, the jack property ids and `KSPROPSETID_Jack`,
//! the fields Windows 8 added to `DEVICE_DESCRIPTION` (and the version 3 entries of
//! `DMA_OPERATIONS`, which the crate does not declare), and everything of the audio
//! signal-processing modes but `KSATTRIBUTE`, `KSATTRIBUTE_LIST` and the attribute flags
//! (`KSATTRIBUTE_AUDIOSIGNALPROCESSING_MODE`, the mode and attribute GUIDs,
//! `IMiniportAudioSignalProcessing`, `KSPROPERTY_PIN_PROPOSEDATAFORMAT2`); those are checked
//! against the reference sheet by the layout assertions in the crate and its unit tests.
//!
//! Needs clang and the mingw-w64 headers (Debian: `clang`, `mingw-w64-common`); `.ci/run`
//! installs them.

use std::fmt::Write as _;
use std::mem::{align_of, offset_of, size_of};
use std::process::Command;

use portcls_sys::GUID;
use portcls_sys::ks::{
    KSATTRIBUTE, KSAUDIO_POSITION, KSDATAFORMAT, KSDATARANGE_AUDIO, KSIDENTIFIER,
    KSJACK_DESCRIPTION, KSJACK_DESCRIPTION2, KSMULTIPLE_ITEM, KSNODEPROPERTY,
    KSNODEPROPERTY_AUDIO_CHANNEL, KSP_NODE, KSP_PIN, KSPROPERTY_DESCRIPTION,
    KSPROPERTY_MEMBERSHEADER, KSPROPERTY_STEPPING_LONG, KSTOPOLOGY_CONNECTION, WAVEFORMATEX,
    WAVEFORMATEXTENSIBLE,
};

const HEADERS: &str = "/usr/share/mingw-w64/include";

struct Layout {
    c: &'static str,
    /// Size and alignment; `None` where only the field offsets are comparable.
    size: Option<(usize, usize)>,
    fields: Vec<(&'static str, usize)>,
}

macro_rules! layout {
    ($rust:ty => $c:literal { $($field:ident => $cfield:literal),* $(,)? }) => {
        Layout {
            c: $c,
            size: Some((size_of::<$rust>(), align_of::<$rust>())),
            fields: vec![$(($cfield, offset_of!($rust, $field))),*],
        }
    };
}

/// A vtable: its size (the slot count) and the offset of every slot it adds to its base.
macro_rules! vtable {
    ($rust:ty => $c:literal { $($slot:ident),* $(,)? }) => {
        Layout {
            c: $c,
            size: Some((size_of::<$rust>(), align_of::<$rust>())),
            fields: vec![$((stringify!($slot), offset_of!($rust, $slot))),*],
        }
    };
}

fn layouts() -> Vec<Layout> {
    vec![
        layout!(KSIDENTIFIER => "KSIDENTIFIER" { Set => "Set", Id => "Id", Flags => "Flags" }),
        layout!(KSP_PIN => "KSP_PIN" { Property => "Property", PinId => "PinId", Reserved => "Reserved" }),
        layout!(KSP_NODE => "KSP_NODE" { Property => "Property", NodeId => "NodeId", Reserved => "Reserved" }),
        layout!(KSNODEPROPERTY => "KSNODEPROPERTY" { Property => "Property", NodeId => "NodeId", Reserved => "Reserved" }),
        layout!(KSNODEPROPERTY_AUDIO_CHANNEL => "KSNODEPROPERTY_AUDIO_CHANNEL" {
            NodeProperty => "NodeProperty", Channel => "Channel", Reserved => "Reserved"
        }),
        layout!(KSMULTIPLE_ITEM => "KSMULTIPLE_ITEM" { Size => "Size", Count => "Count" }),
        layout!(KSATTRIBUTE => "KSATTRIBUTE" { Size => "Size", Flags => "Flags", Attribute => "Attribute" }),
        layout!(KSPROPERTY_DESCRIPTION => "KSPROPERTY_DESCRIPTION" {
            AccessFlags => "AccessFlags", DescriptionSize => "DescriptionSize",
            PropTypeSet => "PropTypeSet", MembersListCount => "MembersListCount",
            Reserved => "Reserved"
        }),
        layout!(KSPROPERTY_MEMBERSHEADER => "KSPROPERTY_MEMBERSHEADER" {
            MembersFlags => "MembersFlags", MembersSize => "MembersSize",
            MembersCount => "MembersCount", Flags => "Flags"
        }),
        layout!(KSPROPERTY_STEPPING_LONG => "KSPROPERTY_STEPPING_LONG" {
            SteppingDelta => "SteppingDelta", Reserved => "Reserved", Bounds => "Bounds"
        }),
        layout!(KSDATAFORMAT => "KSDATAFORMAT" {
            FormatSize => "FormatSize", Flags => "Flags", SampleSize => "SampleSize",
            Reserved => "Reserved", MajorFormat => "MajorFormat", SubFormat => "SubFormat",
            Specifier => "Specifier"
        }),
        layout!(KSDATARANGE_AUDIO => "KSDATARANGE_AUDIO" {
            DataRange => "DataRange", MaximumChannels => "MaximumChannels",
            MinimumBitsPerSample => "MinimumBitsPerSample",
            MaximumBitsPerSample => "MaximumBitsPerSample",
            MinimumSampleFrequency => "MinimumSampleFrequency",
            MaximumSampleFrequency => "MaximumSampleFrequency"
        }),
        layout!(KSTOPOLOGY_CONNECTION => "KSTOPOLOGY_CONNECTION" {
            FromNode => "FromNode", FromNodePin => "FromNodePin", ToNode => "ToNode",
            ToNodePin => "ToNodePin"
        }),
        layout!(KSAUDIO_POSITION => "KSAUDIO_POSITION" { PlayOffset => "PlayOffset", WriteOffset => "WriteOffset" }),
        layout!(KSJACK_DESCRIPTION => "KSJACK_DESCRIPTION" {
            ChannelMapping => "ChannelMapping", Color => "Color",
            ConnectionType => "ConnectionType", GeoLocation => "GeoLocation",
            GenLocation => "GenLocation", PortConnection => "PortConnection",
            IsConnected => "IsConnected"
        }),
        layout!(KSJACK_DESCRIPTION2 => "KSJACK_DESCRIPTION2" {
            DeviceStateInfo => "DeviceStateInfo", JackCapabilities => "JackCapabilities"
        }),
        layout!(WAVEFORMATEX => "WAVEFORMATEX" {
            wFormatTag => "wFormatTag", nChannels => "nChannels",
            nSamplesPerSec => "nSamplesPerSec", nAvgBytesPerSec => "nAvgBytesPerSec",
            nBlockAlign => "nBlockAlign", wBitsPerSample => "wBitsPerSample", cbSize => "cbSize"
        }),
        layout!(WAVEFORMATEXTENSIBLE => "WAVEFORMATEXTENSIBLE" {
            Format => "Format", Samples => "Samples", dwChannelMask => "dwChannelMask",
            SubFormat => "SubFormat"
        }),
    ]
}

/// The kernel-mode declarations: PortCls's structures and interfaces (`ddk/portcls.h`), the KS
/// pin descriptor (`ks.h` with `_NTDDK_`), and the kernel structures the crate declares
/// (`ddk/wdm.h`). The DDK headers support x64 only (their `wdm.h` stops with "Unknown
/// Architecture" on arm64); every type here is made of pointers, 32-bit integers and GUIDs,
/// laid out identically by the two LLP64 targets, and the crate's own const assertions are
/// evaluated for both by the cross-lint.
fn kernel_layouts() -> Vec<Layout> {
    use portcls_sys::km::{
        DEVICE_DESCRIPTION, DRIVER_OBJECT, IO_DISCONNECT_INTERRUPT_PARAMETERS, UNICODE_STRING,
    };
    use portcls_sys::ks::{KSATTRIBUTE_LIST, KSPIN_DESCRIPTOR};
    use portcls_sys::wavert as w;
    vec![
        layout!(KSATTRIBUTE_LIST => "KSATTRIBUTE_LIST" { Count => "Count", Attributes => "Attributes" }),
        layout!(KSPIN_DESCRIPTOR => "KSPIN_DESCRIPTOR" {
            InterfacesCount => "InterfacesCount", Interfaces => "Interfaces",
            MediumsCount => "MediumsCount", Mediums => "Mediums",
            DataRangesCount => "DataRangesCount", DataRanges => "DataRanges",
            DataFlow => "DataFlow", Communication => "Communication",
            Category => "Category", Name => "Name", Constraints => "Reserved"
        }),
        layout!(w::PCPROPERTY_ITEM => "PCPROPERTY_ITEM" {
            Set => "Set", Id => "Id", Flags => "Flags", Handler => "Handler"
        }),
        layout!(w::PCPROPERTY_REQUEST => "PCPROPERTY_REQUEST" {
            MajorTarget => "MajorTarget", MinorTarget => "MinorTarget", Node => "Node",
            PropertyItem => "PropertyItem", Verb => "Verb", InstanceSize => "InstanceSize",
            Instance => "Instance", ValueSize => "ValueSize", Value => "Value", Irp => "Irp"
        }),
        layout!(w::PCEVENT_ITEM => "PCEVENT_ITEM" {
            Set => "Set", Id => "Id", Flags => "Flags", Handler => "Handler"
        }),
        layout!(w::PCEVENT_REQUEST => "PCEVENT_REQUEST" {
            MajorTarget => "MajorTarget", MinorTarget => "MinorTarget", Node => "Node",
            EventItem => "EventItem", EventEntry => "EventEntry", Verb => "Verb", Irp => "Irp"
        }),
        layout!(w::PCMETHOD_ITEM => "PCMETHOD_ITEM" {
            Set => "Set", Id => "Id", Flags => "Flags", Handler => "Handler"
        }),
        layout!(w::PCMETHOD_REQUEST => "PCMETHOD_REQUEST" {
            MajorTarget => "MajorTarget", MinorTarget => "MinorTarget", Node => "Node",
            MethodItem => "MethodItem", Verb => "Verb"
        }),
        layout!(w::PCAUTOMATION_TABLE => "PCAUTOMATION_TABLE" {
            PropertyItemSize => "PropertyItemSize", PropertyCount => "PropertyCount",
            Properties => "Properties", MethodItemSize => "MethodItemSize",
            MethodCount => "MethodCount", Methods => "Methods",
            EventItemSize => "EventItemSize", EventCount => "EventCount", Events => "Events",
            Reserved => "Reserved"
        }),
        layout!(w::PCPIN_DESCRIPTOR => "PCPIN_DESCRIPTOR" {
            MaxGlobalInstanceCount => "MaxGlobalInstanceCount",
            MaxFilterInstanceCount => "MaxFilterInstanceCount",
            MinFilterInstanceCount => "MinFilterInstanceCount",
            AutomationTable => "AutomationTable", KsPinDescriptor => "KsPinDescriptor"
        }),
        layout!(w::PCNODE_DESCRIPTOR => "PCNODE_DESCRIPTOR" {
            Flags => "Flags", AutomationTable => "AutomationTable", Type => "Type", Name => "Name"
        }),
        layout!(w::PCCONNECTION_DESCRIPTOR => "PCCONNECTION_DESCRIPTOR" {
            FromNode => "FromNode", FromNodePin => "FromNodePin", ToNode => "ToNode",
            ToNodePin => "ToNodePin"
        }),
        layout!(w::PCFILTER_DESCRIPTOR => "PCFILTER_DESCRIPTOR" {
            Version => "Version", AutomationTable => "AutomationTable", PinSize => "PinSize",
            PinCount => "PinCount", Pins => "Pins", NodeSize => "NodeSize",
            NodeCount => "NodeCount", Nodes => "Nodes", ConnectionCount => "ConnectionCount",
            Connections => "Connections", CategoryCount => "CategoryCount",
            Categories => "Categories"
        }),
        layout!(IO_DISCONNECT_INTERRUPT_PARAMETERS => "IO_DISCONNECT_INTERRUPT_PARAMETERS" {
            Version => "Version", ConnectionContext => "ConnectionContext"
        }),
        layout!(UNICODE_STRING => "UNICODE_STRING" {
            Length => "Length", MaximumLength => "MaximumLength", Buffer => "Buffer"
        }),
        layout!(DRIVER_OBJECT => "DRIVER_OBJECT" {
            Type => "Type", Size => "Size", DeviceObject => "DeviceObject", Flags => "Flags",
            DriverStart => "DriverStart", DriverSize => "DriverSize",
            DriverSection => "DriverSection", DriverExtension => "DriverExtension",
            DriverName => "DriverName", HardwareDatabase => "HardwareDatabase",
            FastIoDispatch => "FastIoDispatch", DriverInit => "DriverInit",
            DriverStartIo => "DriverStartIo", DriverUnload => "DriverUnload",
            MajorFunction => "MajorFunction"
        }),
        // mingw-w64 stops before the four fields Windows 8 added (and so at a smaller size).
        Layout {
            size: None,
            ..layout!(DEVICE_DESCRIPTION => "DEVICE_DESCRIPTION" {
                Version => "Version", Master => "Master", ScatterGather => "ScatterGather",
                DemandMode => "DemandMode", AutoInitialize => "AutoInitialize",
                Dma32BitAddresses => "Dma32BitAddresses", IgnoreCount => "IgnoreCount",
                Reserved1 => "Reserved1", Dma64BitAddresses => "Dma64BitAddresses",
                BusNumber => "BusNumber", DmaChannel => "DmaChannel",
                InterfaceType => "InterfaceType", DmaWidth => "DmaWidth", DmaSpeed => "DmaSpeed",
                MaximumLength => "MaximumLength", DmaPort => "DmaPort"
            })
        },
    ]
}

/// The interrupt declarations of `portcls_sys::hw`: connection parameters, message table, DPC.
fn hardware_layouts() -> Vec<Layout> {
    use portcls_sys::hw as h;
    vec![
        layout!(h::IO_CONNECT_INTERRUPT_FULLY_SPECIFIED_PARAMETERS => "IO_CONNECT_INTERRUPT_FULLY_SPECIFIED_PARAMETERS" {
            PhysicalDeviceObject => "PhysicalDeviceObject", InterruptObject => "InterruptObject",
            ServiceRoutine => "ServiceRoutine", ServiceContext => "ServiceContext",
            SpinLock => "SpinLock", SynchronizeIrql => "SynchronizeIrql",
            FloatingSave => "FloatingSave", ShareVector => "ShareVector", Vector => "Vector",
            Irql => "Irql", InterruptMode => "InterruptMode",
            ProcessorEnableMask => "ProcessorEnableMask", Group => "Group"
        }),
        layout!(h::IO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS => "IO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS" {
            PhysicalDeviceObject => "PhysicalDeviceObject", InterruptObject => "InterruptObject",
            ServiceRoutine => "ServiceRoutine", ServiceContext => "ServiceContext",
            SpinLock => "SpinLock", SynchronizeIrql => "SynchronizeIrql",
            FloatingSave => "FloatingSave"
        }),
        layout!(h::IO_CONNECT_INTERRUPT_MESSAGE_BASED_PARAMETERS => "IO_CONNECT_INTERRUPT_MESSAGE_BASED_PARAMETERS" {
            PhysicalDeviceObject => "PhysicalDeviceObject",
            ConnectionContext => "ConnectionContext.Generic",
            MessageServiceRoutine => "MessageServiceRoutine", ServiceContext => "ServiceContext",
            SpinLock => "SpinLock", SynchronizeIrql => "SynchronizeIrql",
            FloatingSave => "FloatingSave", FallBackServiceRoutine => "FallBackServiceRoutine"
        }),
        layout!(h::IO_CONNECT_INTERRUPT_PARAMETERS => "IO_CONNECT_INTERRUPT_PARAMETERS" {
            Version => "Version", u => "MessageBased"
        }),
        layout!(h::IO_INTERRUPT_MESSAGE_INFO_ENTRY => "IO_INTERRUPT_MESSAGE_INFO_ENTRY" {
            MessageAddress => "MessageAddress", TargetProcessorSet => "TargetProcessorSet",
            InterruptObject => "InterruptObject", MessageData => "MessageData",
            Vector => "Vector", Irql => "Irql", Mode => "Mode", Polarity => "Polarity"
        }),
        layout!(h::INTERRUPT_MESSAGE_TABLE => "IO_INTERRUPT_MESSAGE_INFO" {
            UnifiedIrql => "UnifiedIrql", MessageCount => "MessageCount",
            MessageInfo => "MessageInfo"
        }),
        layout!(h::KDPC => "KDPC" {}),
    ]
}

/// The resource descriptors.
fn resource_layouts() -> Vec<Layout> {
    use portcls_sys::hw as h;
    vec![
        layout!(h::CM_PARTIAL_RESOURCE_DESCRIPTOR => "CM_PARTIAL_RESOURCE_DESCRIPTOR" {
            Type => "Type", ShareDisposition => "ShareDisposition", Flags => "Flags", u => "u"
        }),
        Layout {
            c: "CM_PARTIAL_RESOURCE_DESCRIPTOR",
            size: None,
            fields: vec![
                ("u.Memory.Start", 4 + offset_of!(h::CM_RANGE, Start)),
                ("u.Memory.Length", 4 + offset_of!(h::CM_RANGE, Length)),
                ("u.Port.Length", 4 + offset_of!(h::CM_RANGE, Length)),
                ("u.Interrupt.Level", 4 + offset_of!(h::CM_INTERRUPT, Level)),
                ("u.Interrupt.Group", 4 + offset_of!(h::CM_INTERRUPT, Group)),
                (
                    "u.Interrupt.Vector",
                    4 + offset_of!(h::CM_INTERRUPT, Vector),
                ),
                (
                    "u.Interrupt.Affinity",
                    4 + offset_of!(h::CM_INTERRUPT, Affinity),
                ),
                (
                    "u.MessageInterrupt.Raw.Group",
                    4 + offset_of!(h::CM_MESSAGE_INTERRUPT_RAW, Group),
                ),
                (
                    "u.MessageInterrupt.Raw.MessageCount",
                    4 + offset_of!(h::CM_MESSAGE_INTERRUPT_RAW, MessageCount),
                ),
                (
                    "u.MessageInterrupt.Raw.Vector",
                    4 + offset_of!(h::CM_MESSAGE_INTERRUPT_RAW, Vector),
                ),
                (
                    "u.MessageInterrupt.Raw.Affinity",
                    4 + offset_of!(h::CM_MESSAGE_INTERRUPT_RAW, Affinity),
                ),
                (
                    "u.MessageInterrupt.Translated.Level",
                    4 + offset_of!(h::CM_INTERRUPT, Level),
                ),
                (
                    "u.MessageInterrupt.Translated.Vector",
                    4 + offset_of!(h::CM_INTERRUPT, Vector),
                ),
                (
                    "u.MessageInterrupt.Translated.Affinity",
                    4 + offset_of!(h::CM_INTERRUPT, Affinity),
                ),
                ("u.Dma.Reserved1", 4 + offset_of!(h::CM_DMA, Reserved1)),
                ("u.DevicePrivate.Data", 4),
            ],
        },
        layout!(h::CM_PARTIAL_RESOURCE_LIST => "CM_PARTIAL_RESOURCE_LIST" {
            Version => "Version", Revision => "Revision", Count => "Count",
            PartialDescriptors => "PartialDescriptors"
        }),
        layout!(h::CM_FULL_RESOURCE_DESCRIPTOR => "CM_FULL_RESOURCE_DESCRIPTOR" {
            InterfaceType => "InterfaceType", BusNumber => "BusNumber",
            PartialResourceList => "PartialResourceList"
        }),
        layout!(h::CM_RESOURCE_LIST => "CM_RESOURCE_LIST" { Count => "Count", List => "List" }),
    ]
}

/// The bus interface and the IRP fields a driver touches to query it.
fn bus_layouts() -> Vec<Layout> {
    use portcls_sys::hw as h;
    vec![
        layout!(h::INTERFACE => "INTERFACE" {
            Size => "Size", Version => "Version", Context => "Context",
            InterfaceReference => "InterfaceReference",
            InterfaceDereference => "InterfaceDereference"
        }),
        layout!(h::BUS_INTERFACE_STANDARD => "BUS_INTERFACE_STANDARD" {
            Size => "Size", Version => "Version", Context => "Context",
            InterfaceReference => "InterfaceReference",
            InterfaceDereference => "InterfaceDereference",
            TranslateBusAddress => "TranslateBusAddress", GetDmaAdapter => "GetDmaAdapter",
            SetBusData => "SetBusData", GetBusData => "GetBusData"
        }),
        layout!(h::IO_STATUS_BLOCK => "IO_STATUS_BLOCK" {
            Status => "Status", Information => "Information"
        }),
        layout!(h::IO_STACK_LOCATION => "IO_STACK_LOCATION" {
            MajorFunction => "MajorFunction", MinorFunction => "MinorFunction",
            Flags => "Flags", Control => "Control", Parameters => "Parameters",
            DeviceObject => "DeviceObject", FileObject => "FileObject",
            CompletionRoutine => "CompletionRoutine", Context => "Context"
        }),
        Layout {
            c: "IO_STACK_LOCATION",
            size: None,
            fields: vec![
                (
                    "Parameters.QueryInterface.InterfaceType",
                    8 + offset_of!(h::QUERY_INTERFACE_PARAMETERS, InterfaceType),
                ),
                (
                    "Parameters.QueryInterface.Size",
                    8 + offset_of!(h::QUERY_INTERFACE_PARAMETERS, Size),
                ),
                (
                    "Parameters.QueryInterface.Version",
                    8 + offset_of!(h::QUERY_INTERFACE_PARAMETERS, Version),
                ),
                (
                    "Parameters.QueryInterface.Interface",
                    8 + offset_of!(h::QUERY_INTERFACE_PARAMETERS, Interface),
                ),
                (
                    "Parameters.QueryInterface.InterfaceSpecificData",
                    8 + offset_of!(h::QUERY_INTERFACE_PARAMETERS, InterfaceSpecificData),
                ),
            ],
        },
        Layout {
            c: "IRP",
            size: Some((portcls_sys::km::IRP_SIZE, 8)),
            fields: vec![
                ("IoStatus", h::IRP_IO_STATUS_OFFSET),
                ("StackCount", h::IRP_STACK_COUNT_OFFSET),
                ("CurrentLocation", h::IRP_CURRENT_LOCATION_OFFSET),
                ("UserIosb", h::IRP_USER_IOSB_OFFSET),
                ("UserEvent", h::IRP_USER_EVENT_OFFSET),
                (
                    "Tail.Overlay.CurrentStackLocation",
                    portcls_sys::km::IRP_CURRENT_STACK_LOCATION_OFFSET,
                ),
            ],
        },
    ]
}

/// The hardware constants (`portcls_sys::hw`).
fn hardware_constants() -> Vec<(&'static str, i64)> {
    use portcls_sys::hw as h;
    vec![
        ("IRP_MN_QUERY_INTERFACE", h::IRP_MN_QUERY_INTERFACE.into()),
        ("PCI_WHICHSPACE_CONFIG", h::PCI_WHICHSPACE_CONFIG.into()),
        ("PCI_WHICHSPACE_ROM", h::PCI_WHICHSPACE_ROM.into()),
        ("HIGH_LEVEL", h::HIGH_LEVEL.into()),
        ("LevelSensitive", h::LevelSensitive.0.into()),
        ("Latched", h::Latched.0.into()),
        ("InterruptActiveHigh", h::InterruptActiveHigh.0.into()),
        ("CmResourceTypePort", h::CmResourceTypePort.into()),
        ("CmResourceTypeInterrupt", h::CmResourceTypeInterrupt.into()),
        ("CmResourceTypeMemory", h::CmResourceTypeMemory.into()),
        ("CmResourceTypeDma", h::CmResourceTypeDma.into()),
        (
            "CmResourceShareDeviceExclusive",
            h::CmResourceShareDeviceExclusive.into(),
        ),
        ("CmResourceShareShared", h::CmResourceShareShared.into()),
        (
            "CM_RESOURCE_INTERRUPT_LATCHED",
            h::CM_RESOURCE_INTERRUPT_LATCHED.into(),
        ),
        (
            "CM_RESOURCE_INTERRUPT_MESSAGE",
            h::CM_RESOURCE_INTERRUPT_MESSAGE.into(),
        ),
        (
            "CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN",
            h::CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN.into(),
        ),
        (
            "CM_RESOURCE_MEMORY_READ_WRITE",
            h::CM_RESOURCE_MEMORY_READ_WRITE.into(),
        ),
        ("CM_RESOURCE_PORT_IO", h::CM_RESOURCE_PORT_IO.into()),
    ]
}

/// The DMA adapter, its operations table and the scatter/gather types (`ddk/wdm.h`).
fn dma_layouts() -> Vec<Layout> {
    use portcls_sys::dma::{DMA_ADAPTER, SCATTER_GATHER_ELEMENT, SCATTER_GATHER_LIST};
    vec![
        layout!(DMA_ADAPTER => "DMA_ADAPTER" {
            Version => "Version", Size => "Size", DmaOperations => "DmaOperations"
        }),
        layout!(SCATTER_GATHER_ELEMENT => "SCATTER_GATHER_ELEMENT" {
            Address => "Address", Length => "Length", Reserved => "Reserved"
        }),
        // mingw-w64 declares `Elements[1]` where the WDK has a flexible array: the sizes differ.
        Layout {
            size: None,
            ..layout!(SCATTER_GATHER_LIST => "SCATTER_GATHER_LIST" {
                NumberOfElements => "NumberOfElements", Reserved => "Reserved",
                Elements => "Elements"
            })
        },
        // The operations table up to the version 2 set, which is where mingw-w64 ends too.
        vtable!(portcls_sys::dma::DMA_OPERATIONS => "DMA_OPERATIONS" {
            Size, PutDmaAdapter, AllocateCommonBuffer, FreeCommonBuffer, AllocateAdapterChannel,
            FlushAdapterBuffers, FreeAdapterChannel, FreeMapRegisters, MapTransfer,
            GetDmaAlignment, ReadDmaCounter, GetScatterGatherList, PutScatterGatherList,
            CalculateScatterGatherList, BuildScatterGatherList, BuildMdlFromScatterGatherList
        }),
    ]
}

/// Every PortCls interface the crate declares: the vtable's size and each slot it adds.
fn vtables() -> Vec<Layout> {
    use portcls_sys::wavert as w;
    vec![
        vtable!(w::IPortVtbl => "IPortVtbl" { Init, GetDeviceProperty, NewRegistryKey }),
        vtable!(w::IPortWaveRTVtbl => "IPortWaveRTVtbl" {}),
        vtable!(w::IPortTopologyVtbl => "IPortTopologyVtbl" {}),
        vtable!(w::IPortEventsVtbl => "IPortEventsVtbl" { AddEventToEventList, GenerateEventList }),
        vtable!(w::IPortWaveRTStreamVtbl => "IPortWaveRTStreamVtbl" {
            AllocatePagesForMdl, AllocateContiguousPagesForMdl, MapAllocatedPages,
            UnmapAllocatedPages, FreePagesFromMdl, GetPhysicalPagesCount, GetPhysicalPageAddress
        }),
        vtable!(w::IMiniportVtbl => "IMiniportVtbl" { GetDescription, DataRangeIntersection }),
        vtable!(w::IMiniportTopologyVtbl => "IMiniportTopologyVtbl" { Init }),
        vtable!(w::IMiniportWaveRTVtbl => "IMiniportWaveRTVtbl" {
            Init, NewStream, GetDeviceDescription
        }),
        vtable!(w::IMiniportWaveRTStreamVtbl => "IMiniportWaveRTStreamVtbl" {
            SetFormat, SetState, GetPosition, AllocateAudioBuffer, FreeAudioBuffer,
            GetHWLatency, GetPositionRegister, GetClockRegister
        }),
        vtable!(w::IMiniportWaveRTStreamNotificationVtbl => "IMiniportWaveRTStreamNotificationVtbl" {
            AllocateBufferWithNotification, FreeBufferWithNotification,
            RegisterNotificationEvent, UnregisterNotificationEvent
        }),
        vtable!(w::IAdapterPowerManagementVtbl => "IAdapterPowerManagementVtbl" {
            PowerChangeState, QueryPowerChangeState, QueryDeviceCapabilities
        }),
        vtable!(w::IResourceListVtbl => "IResourceListVtbl" {
            NumberOfEntries, NumberOfEntriesOfType, FindTranslatedEntry, FindUntranslatedEntry,
            AddEntry, AddEntryFromParent, TranslatedList, UntranslatedList
        }),
    ]
}

/// The PortCls GUIDs `ddk/portcls.h` defines (with `DEFINE_GUID`, read from the header's text).
fn kernel_guids() -> Vec<(&'static str, GUID)> {
    use portcls_sys::wavert as w;
    vec![
        ("CLSID_PortWaveRT", w::CLSID_PortWaveRT),
        ("CLSID_PortTopology", w::CLSID_PortTopology),
        ("IID_IPort", w::IID_IPort),
        ("IID_IPortWaveRT", w::IID_IPortWaveRT),
        ("IID_IPortTopology", w::IID_IPortTopology),
        ("IID_IPortEvents", w::IID_IPortEvents),
        ("IID_IPortWaveRTStream", w::IID_IPortWaveRTStream),
        ("IID_IMiniport", w::IID_IMiniport),
        ("IID_IMiniportTopology", w::IID_IMiniportTopology),
        ("IID_IMiniportWaveRT", w::IID_IMiniportWaveRT),
        ("IID_IMiniportWaveRTStream", w::IID_IMiniportWaveRTStream),
        (
            "IID_IMiniportWaveRTStreamNotification",
            w::IID_IMiniportWaveRTStreamNotification,
        ),
        (
            "IID_IAdapterPowerManagement",
            w::IID_IAdapterPowerManagement,
        ),
        ("IID_IResourceList", w::IID_IResourceList),
    ]
}

/// Constants whose C names are enumerators or macros usable in `_Static_assert` (the jack
/// property ids and `JACKDESC2_*` flags are not in these headers; the reference sheet has them).
fn constants() -> Vec<(&'static str, i64)> {
    use portcls_sys::ks as k;
    vec![
        ("KSSTATE_STOP", k::KSSTATE_STOP.0.into()),
        ("KSSTATE_ACQUIRE", k::KSSTATE_ACQUIRE.0.into()),
        ("KSSTATE_PAUSE", k::KSSTATE_PAUSE.0.into()),
        ("KSSTATE_RUN", k::KSSTATE_RUN.0.into()),
        ("KSPIN_DATAFLOW_IN", k::KSPIN_DATAFLOW_IN.0.into()),
        ("KSPIN_DATAFLOW_OUT", k::KSPIN_DATAFLOW_OUT.0.into()),
        (
            "KSPIN_COMMUNICATION_NONE",
            k::KSPIN_COMMUNICATION_NONE.0.into(),
        ),
        (
            "KSPIN_COMMUNICATION_SINK",
            k::KSPIN_COMMUNICATION_SINK.0.into(),
        ),
        ("KSPROPERTY_TYPE_GET", k::KSPROPERTY_TYPE_GET.into()),
        ("KSPROPERTY_TYPE_SET", k::KSPROPERTY_TYPE_SET.into()),
        (
            "KSPROPERTY_TYPE_BASICSUPPORT",
            k::KSPROPERTY_TYPE_BASICSUPPORT.into(),
        ),
        (
            "KSPROPERTY_TYPE_TOPOLOGY",
            k::KSPROPERTY_TYPE_TOPOLOGY.into(),
        ),
        (
            "KSPROPERTY_AUDIO_VOLUMELEVEL",
            k::KSPROPERTY_AUDIO_VOLUMELEVEL.into(),
        ),
        ("KSPROPERTY_AUDIO_MUTE", k::KSPROPERTY_AUDIO_MUTE.into()),
        ("KSPROPERTY_PIN_CATEGORY", k::KSPROPERTY_PIN_CATEGORY.into()),
        ("KSPROPERTY_PIN_NAME", k::KSPROPERTY_PIN_NAME.into()),
        (
            "KSPROPERTY_PIN_PROPOSEDATAFORMAT",
            k::KSPROPERTY_PIN_PROPOSEDATAFORMAT.into(),
        ),
        ("KSDATAFORMAT_ATTRIBUTES", k::KSDATAFORMAT_ATTRIBUTES.into()),
        ("KSDATARANGE_ATTRIBUTES", k::KSDATARANGE_ATTRIBUTES.into()),
        (
            "KSDATARANGE_REQUIRED_ATTRIBUTES",
            k::KSDATARANGE_REQUIRED_ATTRIBUTES.into(),
        ),
        ("KSATTRIBUTE_REQUIRED", k::KSATTRIBUTE_REQUIRED.into()),
        (
            "KSPROPERTY_MEMBER_STEPPEDRANGES",
            k::KSPROPERTY_MEMBER_STEPPEDRANGES.into(),
        ),
        (
            "KSPROPERTY_MEMBER_FLAG_BASICSUPPORT_MULTICHANNEL",
            k::KSPROPERTY_MEMBER_FLAG_BASICSUPPORT_MULTICHANNEL.into(),
        ),
        ("KSAUDIO_SPEAKER_STEREO", k::KSAUDIO_SPEAKER_STEREO.into()),
        ("eConnTypeUnknown", k::eConnTypeUnknown.into()),
        ("eConnType3Point5mm", k::eConnType3Point5mm.into()),
        ("eConnTypeQuarter", k::eConnTypeQuarter.into()),
        ("eConnTypeAtapiInternal", k::eConnTypeAtapiInternal.into()),
        ("eConnTypeRCA", k::eConnTypeRCA.into()),
        ("eConnTypeOptical", k::eConnTypeOptical.into()),
        ("eConnTypeOtherDigital", k::eConnTypeOtherDigital.into()),
        ("eConnTypeOtherAnalog", k::eConnTypeOtherAnalog.into()),
        (
            "eConnTypeMultichannelAnalogDIN",
            k::eConnTypeMultichannelAnalogDIN.into(),
        ),
        (
            "eConnTypeXlrProfessional",
            k::eConnTypeXlrProfessional.into(),
        ),
        ("eConnTypeRJ11Modem", k::eConnTypeRJ11Modem.into()),
        ("eConnTypeCombination", k::eConnTypeCombination.into()),
        ("eGeoLocRear", k::eGeoLocRear.into()),
        ("eGeoLocFront", k::eGeoLocFront.into()),
        ("eGeoLocLeft", k::eGeoLocLeft.into()),
        ("eGeoLocRight", k::eGeoLocRight.into()),
        ("eGeoLocTop", k::eGeoLocTop.into()),
        ("eGeoLocBottom", k::eGeoLocBottom.into()),
        ("eGeoLocRearPanel", k::eGeoLocRearPanel.into()),
        ("eGeoLocRiser", k::eGeoLocRiser.into()),
        ("eGeoLocInsideMobileLid", k::eGeoLocInsideMobileLid.into()),
        ("eGeoLocDrivebay", k::eGeoLocDrivebay.into()),
        ("eGeoLocHDMI", k::eGeoLocHDMI.into()),
        ("eGeoLocOutsideMobileLid", k::eGeoLocOutsideMobileLid.into()),
        ("eGeoLocATAPI", k::eGeoLocATAPI.into()),
        ("eGenLocPrimaryBox", k::eGenLocPrimaryBox.into()),
        ("eGenLocInternal", k::eGenLocInternal.into()),
        ("eGenLocSeparate", k::eGenLocSeparate.into()),
        ("eGenLocOther", k::eGenLocOther.into()),
        ("ePortConnJack", k::ePortConnJack.into()),
        (
            "ePortConnIntegratedDevice",
            k::ePortConnIntegratedDevice.into(),
        ),
        (
            "ePortConnBothIntegratedAndJack",
            k::ePortConnBothIntegratedAndJack.into(),
        ),
        ("ePortConnUnknown", k::ePortConnUnknown.into()),
        // mingw-w64 names the Windows SDK's eGeoLocNotApplicable by its older name.
        ("eGeoLocReserved5", k::eGeoLocNotApplicable.into()),
    ]
}

/// The kernel enumerators and macros of `km` that `ddk/wdm.h` defines (`CONNECT_MESSAGE_BASED_PASSIVE`
/// and `DEVICE_DESCRIPTION_VERSION3` are newer than mingw-w64's header; the `values_and_debug`
/// test has their documented values).
fn kernel_constants() -> Vec<(&'static str, i64)> {
    use portcls_sys::km as m;
    vec![
        ("MmNonCached", m::MmNonCached.0.into()),
        ("MmCached", m::MmCached.0.into()),
        ("MmWriteCombined", m::MmWriteCombined.0.into()),
        (
            "MmHardwareCoherentCached",
            m::MmHardwareCoherentCached.0.into(),
        ),
        ("MmNonCachedUnordered", m::MmNonCachedUnordered.0.into()),
        ("MmUSWCCached", m::MmUSWCCached.0.into()),
        ("MmMaximumCacheType", m::MmMaximumCacheType.0.into()),
        ("MmNotMapped", m::MmNotMapped.0.into()),
        ("InterfaceTypeUndefined", m::InterfaceTypeUndefined.0.into()),
        ("Internal", m::Internal.0.into()),
        ("PCIBus", m::PCIBus.0.into()),
        ("Width8Bits", m::Width8Bits.0.into()),
        ("Width16Bits", m::Width16Bits.0.into()),
        ("Width32Bits", m::Width32Bits.0.into()),
        ("Width64Bits", m::Width64Bits.0.into()),
        ("Compatible", m::Compatible.0.into()),
        ("MaximumDmaSpeed", m::MaximumDmaSpeed.0.into()),
        (
            "DevicePropertyDeviceDescription",
            m::DevicePropertyDeviceDescription.0.into(),
        ),
        (
            "DevicePropertyHardwareID",
            m::DevicePropertyHardwareID.0.into(),
        ),
        (
            "DevicePropertyClassGuid",
            m::DevicePropertyClassGuid.0.into(),
        ),
        (
            "DevicePropertyDriverKeyName",
            m::DevicePropertyDriverKeyName.0.into(),
        ),
        (
            "DevicePropertyManufacturer",
            m::DevicePropertyManufacturer.0.into(),
        ),
        (
            "DevicePropertyFriendlyName",
            m::DevicePropertyFriendlyName.0.into(),
        ),
        (
            "DevicePropertyPhysicalDeviceObjectName",
            m::DevicePropertyPhysicalDeviceObjectName.0.into(),
        ),
        (
            "DevicePropertyEnumeratorName",
            m::DevicePropertyEnumeratorName.0.into(),
        ),
        (
            "DevicePropertyContainerID",
            m::DevicePropertyContainerID.0.into(),
        ),
        ("PASSIVE_LEVEL", m::PASSIVE_LEVEL.into()),
        ("APC_LEVEL", m::APC_LEVEL.into()),
        ("DISPATCH_LEVEL", m::DISPATCH_LEVEL.into()),
        ("CONNECT_FULLY_SPECIFIED", m::CONNECT_FULLY_SPECIFIED.into()),
        ("CONNECT_LINE_BASED", m::CONNECT_LINE_BASED.into()),
        ("CONNECT_MESSAGE_BASED", m::CONNECT_MESSAGE_BASED.into()),
        (
            "CONNECT_FULLY_SPECIFIED_GROUP",
            m::CONNECT_FULLY_SPECIFIED_GROUP.into(),
        ),
        (
            "DEVICE_DESCRIPTION_VERSION",
            m::DEVICE_DESCRIPTION_VERSION.into(),
        ),
        (
            "DEVICE_DESCRIPTION_VERSION1",
            m::DEVICE_DESCRIPTION_VERSION1.into(),
        ),
        (
            "DEVICE_DESCRIPTION_VERSION2",
            m::DEVICE_DESCRIPTION_VERSION2.into(),
        ),
        (
            "IRP_MJ_MAXIMUM_FUNCTION",
            i64::try_from(m::IRP_MJ_MAXIMUM_FUNCTION).unwrap(),
        ),
        ("IRP_MJ_POWER", m::IRP_MJ_POWER.into()),
        ("IRP_MJ_PNP", m::IRP_MJ_PNP.into()),
        ("IRP_MN_START_DEVICE", m::IRP_MN_START_DEVICE.into()),
        ("IRP_MN_REMOVE_DEVICE", m::IRP_MN_REMOVE_DEVICE.into()),
        ("IRP_MN_STOP_DEVICE", m::IRP_MN_STOP_DEVICE.into()),
        ("IRP_MN_SURPRISE_REMOVAL", m::IRP_MN_SURPRISE_REMOVAL.into()),
        ("PowerDeviceD0", m::POWER_DEVICE_D0.into()),
        ("PowerDeviceD1", m::POWER_DEVICE_D1.into()),
        ("PowerDeviceD2", m::POWER_DEVICE_D2.into()),
        ("PowerDeviceD3", m::POWER_DEVICE_D3.into()),
    ]
}

/// The DMA enumerators (`IO_ALLOCATION_ACTION`).
fn dma_constants() -> Vec<(&'static str, i64)> {
    use portcls_sys::dma as d;
    vec![
        ("KeepObject", d::KeepObject.0.into()),
        ("DeallocateObject", d::DeallocateObject.0.into()),
        (
            "DeallocateObjectKeepRegisters",
            d::DeallocateObjectKeepRegisters.0.into(),
        ),
    ]
}

/// GUIDs that have a `STATIC_<name>` initialiser in the headers (`KSPROPSETID_Jack` and the KS
/// proxy's CLSID do not; the reference sheet and the crate's registry-form tests cover them).
fn guids() -> Vec<(&'static str, GUID)> {
    use portcls_sys::ks as k;
    vec![
        ("KSCATEGORY_AUDIO", k::KSCATEGORY_AUDIO),
        ("KSCATEGORY_RENDER", k::KSCATEGORY_RENDER),
        ("KSCATEGORY_CAPTURE", k::KSCATEGORY_CAPTURE),
        ("KSCATEGORY_REALTIME", k::KSCATEGORY_REALTIME),
        ("KSCATEGORY_TOPOLOGY", k::KSCATEGORY_TOPOLOGY),
        ("KSINTERFACESETID_Standard", k::KSINTERFACESETID_Standard),
        ("KSMEDIUMSETID_Standard", k::KSMEDIUMSETID_Standard),
        ("KSDATAFORMAT_TYPE_AUDIO", k::KSDATAFORMAT_TYPE_AUDIO),
        ("KSDATAFORMAT_SUBTYPE_PCM", k::KSDATAFORMAT_SUBTYPE_PCM),
        (
            "KSDATAFORMAT_SUBTYPE_IEEE_FLOAT",
            k::KSDATAFORMAT_SUBTYPE_IEEE_FLOAT,
        ),
        (
            "KSDATAFORMAT_SUBTYPE_ANALOG",
            k::KSDATAFORMAT_SUBTYPE_ANALOG,
        ),
        (
            "KSDATAFORMAT_SPECIFIER_WAVEFORMATEX",
            k::KSDATAFORMAT_SPECIFIER_WAVEFORMATEX,
        ),
        (
            "KSDATAFORMAT_SPECIFIER_NONE",
            k::KSDATAFORMAT_SPECIFIER_NONE,
        ),
        ("KSNODETYPE_SPEAKER", k::KSNODETYPE_SPEAKER),
        ("KSNODETYPE_MICROPHONE", k::KSNODETYPE_MICROPHONE),
        ("KSNODETYPE_VOLUME", k::KSNODETYPE_VOLUME),
        ("KSNODETYPE_MUTE", k::KSNODETYPE_MUTE),
        ("KSNODETYPE_PEAKMETER", k::KSNODETYPE_PEAKMETER),
        ("KSAUDFNAME_PEAKMETER", k::KSAUDFNAME_PEAKMETER),
        ("KSAUDFNAME_MASTER_VOLUME", k::KSAUDFNAME_MASTER_VOLUME),
        ("KSAUDFNAME_MASTER_MUTE", k::KSAUDFNAME_MASTER_MUTE),
        ("KSPROPSETID_Pin", k::KSPROPSETID_Pin),
        ("KSPROPSETID_Audio", k::KSPROPSETID_Audio),
        ("KSPROPSETID_General", k::KSPROPSETID_General),
        ("KSPROPSETID_RtAudio", k::KSPROPSETID_RtAudio),
        ("KSPROPTYPESETID_General", k::KSPROPTYPESETID_General),
    ]
}

const PRELUDE: &str = "#include <windows.h>\n#include <mmreg.h>\n#include <ks.h>\n#include <ksmedia.h>\n#include <stddef.h>\n";

fn clang(target: &str, args: &[&str], source: &str) -> String {
    // One directory per compilation: the tests run in parallel in one process.
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("portcls-abi-{}-{run}-{target}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("oracle.c");
    std::fs::write(&file, source).unwrap();
    let output = Command::new("clang")
        .args([&format!("--target={target}"), "-I", HEADERS, "-w"])
        .args(args)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!("clang is needed for the ABI oracle (Debian: apt-get install clang): {e}")
        });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        output.status.success(),
        "clang ({target}) rejected the oracle:\n{stderr}"
    );
    stdout
}

/// Evaluates one GUID component as the headers spell it: a number, possibly cast
/// (`(USHORT) (1)`) or summed (`0xDFF219E0+(USHORT)(0x0301)`).
fn parse_number(text: &str) -> u64 {
    let cleaned = text.replace("(USHORT)", "").replace(['(', ')', ' '], "");
    cleaned
        .split('+')
        .map(|term| {
            let term = term.trim_end_matches(['L', 'l', 'U', 'u']);
            term.strip_prefix("0x")
                .or_else(|| term.strip_prefix("0X"))
                .map_or_else(
                    || {
                        term.parse()
                            .unwrap_or_else(|_| panic!("not a number: {text}"))
                    },
                    |hex| u64::from_str_radix(hex, 16).unwrap(),
                )
        })
        .sum()
}

/// Appends a `_Static_assert` for each size, alignment and offset; returns how many.
fn assert_layouts(source: &mut String, layouts: &[Layout]) -> usize {
    let mut items = 0;
    for layout in layouts {
        let c = layout.c;
        if let Some((size, align)) = layout.size {
            writeln!(
                source,
                "_Static_assert(sizeof({c}) == {size}, \"size of {c}\");"
            )
            .unwrap();
            writeln!(
                source,
                "_Static_assert(_Alignof({c}) == {align}, \"alignment of {c}\");"
            )
            .unwrap();
            items += 2;
        }
        for (field, offset) in &layout.fields {
            writeln!(
                source,
                "_Static_assert(offsetof({c}, {field}) == {offset}, \"offset of {c}.{field}\");"
            )
            .unwrap();
            items += 1;
        }
    }
    items
}

/// The GUID's numbers in `DEFINE_GUID` / `STATIC_*` order.
fn guid_numbers(guid: &GUID) -> Vec<u64> {
    let mut numbers = vec![
        u64::from(guid.Data1),
        u64::from(guid.Data2),
        u64::from(guid.Data3),
    ];
    numbers.extend(guid.Data4.iter().map(|&b| u64::from(b)));
    numbers
}

fn headers_present(file: &str) {
    assert!(
        std::path::Path::new(HEADERS).join(file).exists(),
        "the mingw-w64 headers are needed (Debian: apt-get install mingw-w64-common)"
    );
}

#[test]
#[cfg_attr(miri, ignore = "runs clang: natively only")]
fn layouts_constants_and_guids_agree_with_the_mingw_headers() {
    headers_present("ksmedia.h");
    let mut source = String::from(PRELUDE);
    let mut items = assert_layouts(&mut source, &layouts());
    for (name, value) in constants() {
        writeln!(
            source,
            "_Static_assert({name} == {value}, \"value of {name}\");"
        )
        .unwrap();
        items += 1;
    }
    for target in ["x86_64-w64-mingw32", "aarch64-w64-mingw32"] {
        clang(target, &["-fsyntax-only", "-std=c11"], &source);
    }

    // GUIDs: expand the STATIC_ initialisers and compare.
    let mut expand = String::from(PRELUDE);
    for (name, _) in guids() {
        writeln!(expand, "GUID_{name}: STATIC_{name}").unwrap();
    }
    let expanded = clang("x86_64-w64-mingw32", &["-E", "-P"], &expand);
    for (name, guid) in guids() {
        let line = expanded
            .lines()
            .find(|l| l.starts_with(&format!("GUID_{name}:")))
            .unwrap_or_else(|| panic!("no expansion of STATIC_{name}"));
        let numbers: Vec<u64> = line
            .split_once(':')
            .unwrap()
            .1
            .split(',')
            .map(parse_number)
            .collect();
        assert_eq!(numbers, guid_numbers(&guid), "{name}");
        items += 1;
    }
    println!(
        "ABI oracle: {items} items checked against the mingw-w64 headers on x86_64 and aarch64"
    );
}

/// `ddk/ntddk.h`, then `ks.h` and `ddk/portcls.h` in kernel mode. `portcls.h` pulls in
/// `ksmedia.h`, which expects a few user-mode type names; and mingw-w64's `ksmedia.h` lacks the
/// two WaveRT structures `portcls.h` names in method signatures, so they get stand-ins (which
/// nothing here compares: the reference sheet covers them).
const KERNEL_PRELUDE: &str = "#include <ntddk.h>
typedef float FLOAT;
typedef unsigned char BYTE;
typedef char TCHAR;
#include <ks.h>
typedef struct { ULONG Unused; } KSRTAUDIO_HWLATENCY, KSRTAUDIO_HWREGISTER;
#include <portcls.h>
#include <stddef.h>
";

#[test]
#[cfg_attr(miri, ignore = "runs clang: natively only")]
fn kernel_layouts_vtables_and_guids_agree_with_the_mingw_ddk_headers() {
    headers_present("ddk/portcls.h");
    let mut source = String::from(KERNEL_PRELUDE);
    let mut items = assert_layouts(&mut source, &kernel_layouts());
    items += assert_layouts(&mut source, &dma_layouts());
    items += assert_layouts(&mut source, &hardware_layouts());
    items += assert_layouts(&mut source, &resource_layouts());
    items += assert_layouts(&mut source, &bus_layouts());
    items += assert_layouts(&mut source, &vtables());
    for (name, value) in kernel_constants()
        .into_iter()
        .chain(dma_constants())
        .chain(hardware_constants())
    {
        writeln!(
            source,
            "_Static_assert({name} == {value}, \"value of {name}\");"
        )
        .unwrap();
        items += 1;
    }
    let ddk = format!("{HEADERS}/ddk");
    clang(
        "x86_64-w64-mingw32",
        &[
            "-I",
            &ddk,
            "-D_WIN32_WINNT=0x0A00",
            // As every Windows 7 and later WDK: interrupt descriptors carry a processor group.
            "-DNT_PROCESSOR_GROUPS",
            "-fsyntax-only",
            "-std=c11",
        ],
        &source,
    );

    // GUIDs: read from the headers' DEFINE_GUID lines.
    let portcls = std::fs::read_to_string(format!("{ddk}/portcls.h")).unwrap();
    let wdmguid = std::fs::read_to_string(format!("{ddk}/wdmguid.h")).unwrap();
    let bus = (
        "GUID_BUS_INTERFACE_STANDARD",
        portcls_sys::hw::GUID_BUS_INTERFACE_STANDARD,
    );
    let guids = kernel_guids()
        .into_iter()
        .map(|g| (&portcls, g))
        .chain([(&wdmguid, bus)]);
    for (header, (name, guid)) in guids {
        // The arguments may span lines.
        let opening = format!("DEFINE_GUID({name},");
        let start = header
            .find(&opening)
            .unwrap_or_else(|| panic!("the header does not define {name}"));
        let arguments = &header[start + opening.len()..];
        let arguments = &arguments[..arguments.find(");").unwrap()];
        let numbers: Vec<u64> = arguments
            .split(',')
            .map(|n| parse_number(n.trim()))
            .collect();
        assert_eq!(numbers, guid_numbers(&guid), "{name}");
        items += 1;
    }
    println!(
        "ABI oracle (kernel): {items} items checked against the mingw-w64 DDK headers on x86_64"
    );
}
