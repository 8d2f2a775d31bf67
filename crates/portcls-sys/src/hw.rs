//! The hardware side of the kernel (`wdm.h`): interrupts (`IoConnectInterruptEx` and its
//! parameters, the message table, the interrupt spin lock), deferred procedure calls, the
//! translated resources PnP assigns (`CM_RESOURCE_LIST` and `IResourceList`'s entries), the
//! PCI bus interface a driver queries from its PDO (`IRP_MN_QUERY_INTERFACE` for
//! `GUID_BUS_INTERFACE_STANDARD`), and device memory (`MmMapIoSpace`).
//!
//! Every structure has the 64-bit header layout (x64 and arm64 alike); const assertions below
//! hold it, and the ABI oracle test compares each one with the mingw-w64 DDK headers.
//!
//! The interrupt objects themselves stay opaque ([`KINTERRUPT`](crate::km::KINTERRUPT)); so
//! does [`IO_INTERRUPT_MESSAGE_INFO`](crate::km::IO_INTERRUPT_MESSAGE_INFO) in [`km`](crate::km),
//! whose fields [`INTERRUPT_MESSAGE_TABLE`] lays out: cast the connection context to it to
//! read the messages.

use crate::km::{
    BOOLEAN, KIRQL, PHYSICAL_ADDRESS, PIO_INTERRUPT_MESSAGE_INFO, PIRP, PKEVENT, PKINTERRUPT,
};
use crate::{GUID, NTSTATUS, PDEVICE_OBJECT, PVOID, ULONG};

/// `HIGH_LEVEL` (x64 and arm64): the highest IRQL.
pub const HIGH_LEVEL: KIRQL = 15;

/// `KSPIN_LOCK`: a pointer-sized lock word.
pub type KSPIN_LOCK = usize;
/// `PKSPIN_LOCK`.
pub type PKSPIN_LOCK = *mut KSPIN_LOCK;
/// `KAFFINITY`: a processor bit set (pointer-sized).
pub type KAFFINITY = usize;

/// `KINTERRUPT_MODE` (a C enum, 4 bytes).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KINTERRUPT_MODE(pub i32);
/// `LevelSensitive`.
pub const LevelSensitive: KINTERRUPT_MODE = KINTERRUPT_MODE(0);
/// `Latched`.
pub const Latched: KINTERRUPT_MODE = KINTERRUPT_MODE(1);

/// `KINTERRUPT_POLARITY` (a C enum, 4 bytes).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KINTERRUPT_POLARITY(pub i32);
/// `InterruptPolarityUnknown`.
pub const InterruptPolarityUnknown: KINTERRUPT_POLARITY = KINTERRUPT_POLARITY(0);
/// `InterruptActiveHigh` (also `InterruptRisingEdge`).
pub const InterruptActiveHigh: KINTERRUPT_POLARITY = KINTERRUPT_POLARITY(1);

// ---------------------------------------------------------------------------------------------
// Interrupt service routines and IoConnectInterruptEx
// ---------------------------------------------------------------------------------------------

/// `KSERVICE_ROUTINE`: a line-based (or fully specified) ISR; TRUE if its device interrupted.
pub type KSERVICE_ROUTINE =
    crate::kernel_abi!(unsafe fn(Interrupt: PKINTERRUPT, ServiceContext: PVOID) -> BOOLEAN);
/// `PKSERVICE_ROUTINE`.
pub type PKSERVICE_ROUTINE = Option<KSERVICE_ROUTINE>;
/// `KMESSAGE_SERVICE_ROUTINE`: a message-based ISR, told which message arrived.
pub type KMESSAGE_SERVICE_ROUTINE = crate::kernel_abi!(
    unsafe fn(Interrupt: PKINTERRUPT, ServiceContext: PVOID, MessageID: ULONG) -> BOOLEAN
);
/// `PKMESSAGE_SERVICE_ROUTINE`.
pub type PKMESSAGE_SERVICE_ROUTINE = Option<KMESSAGE_SERVICE_ROUTINE>;
/// `KSYNCHRONIZE_ROUTINE`: what `KeSynchronizeExecution` runs under the interrupt spin lock.
pub type KSYNCHRONIZE_ROUTINE = crate::kernel_abi!(unsafe fn(SynchronizeContext: PVOID) -> BOOLEAN);
/// `PKSYNCHRONIZE_ROUTINE`.
pub type PKSYNCHRONIZE_ROUTINE = Option<KSYNCHRONIZE_ROUTINE>;

/// `IO_CONNECT_INTERRUPT_FULLY_SPECIFIED_PARAMETERS` (72 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IO_CONNECT_INTERRUPT_FULLY_SPECIFIED_PARAMETERS {
    /// The device's PDO.
    pub PhysicalDeviceObject: PDEVICE_OBJECT,
    /// Out: where the interrupt object is written.
    pub InterruptObject: *mut PKINTERRUPT,
    /// The ISR.
    pub ServiceRoutine: PKSERVICE_ROUTINE,
    /// The ISR's context.
    pub ServiceContext: PVOID,
    /// The driver's spin lock to synchronize with (optional).
    pub SpinLock: PKSPIN_LOCK,
    /// The DIRQL the ISR runs at.
    pub SynchronizeIrql: KIRQL,
    /// Whether to save the floating-point state (must be FALSE on x64).
    pub FloatingSave: BOOLEAN,
    /// Whether the vector may be shared.
    pub ShareVector: BOOLEAN,
    /// The translated vector.
    pub Vector: ULONG,
    /// The translated level.
    pub Irql: KIRQL,
    /// Level-sensitive or latched.
    pub InterruptMode: KINTERRUPT_MODE,
    /// Processors the interrupt may arrive on.
    pub ProcessorEnableMask: KAFFINITY,
    /// The processor group.
    pub Group: u16,
}

/// `IO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS` (48 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS {
    /// The device's PDO.
    pub PhysicalDeviceObject: PDEVICE_OBJECT,
    /// Out: where the interrupt object is written.
    pub InterruptObject: *mut PKINTERRUPT,
    /// The ISR.
    pub ServiceRoutine: PKSERVICE_ROUTINE,
    /// The ISR's context.
    pub ServiceContext: PVOID,
    /// The driver's spin lock to synchronize with (optional).
    pub SpinLock: PKSPIN_LOCK,
    /// The DIRQL to synchronize at (optional: with no spin lock the system picks it).
    pub SynchronizeIrql: KIRQL,
    /// Whether to save the floating-point state (must be FALSE on x64).
    pub FloatingSave: BOOLEAN,
}

/// `IO_CONNECT_INTERRUPT_MESSAGE_BASED_PARAMETERS` (56 bytes). `ConnectionContext` is the
/// header's union of three out-pointers (`Generic`, `InterruptMessageTable`,
/// `InterruptObject`), all the same pointer: where the context goes (a
/// `PIO_INTERRUPT_MESSAGE_INFO`, or a `PKINTERRUPT` after a fall-back to line-based).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IO_CONNECT_INTERRUPT_MESSAGE_BASED_PARAMETERS {
    /// The device's PDO.
    pub PhysicalDeviceObject: PDEVICE_OBJECT,
    /// Out: where the connection context is written.
    pub ConnectionContext: *mut PVOID,
    /// The message ISR.
    pub MessageServiceRoutine: PKMESSAGE_SERVICE_ROUTINE,
    /// The ISRs' context.
    pub ServiceContext: PVOID,
    /// The driver's spin lock to synchronize with (optional).
    pub SpinLock: PKSPIN_LOCK,
    /// The DIRQL to synchronize at (optional: with no spin lock the system picks it).
    pub SynchronizeIrql: KIRQL,
    /// Whether to save the floating-point state (must be FALSE on x64).
    pub FloatingSave: BOOLEAN,
    /// The line-based ISR used if the device has no message interrupts (optional).
    pub FallBackServiceRoutine: PKSERVICE_ROUTINE,
}

/// The union of `IO_CONNECT_INTERRUPT_PARAMETERS`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union IO_CONNECT_INTERRUPT_PARAMETERS_UNION {
    /// `CONNECT_FULLY_SPECIFIED` (and `_GROUP`).
    pub FullySpecified: IO_CONNECT_INTERRUPT_FULLY_SPECIFIED_PARAMETERS,
    /// `CONNECT_LINE_BASED`.
    pub LineBased: IO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS,
    /// `CONNECT_MESSAGE_BASED` (and `_PASSIVE`).
    pub MessageBased: IO_CONNECT_INTERRUPT_MESSAGE_BASED_PARAMETERS,
}

/// `IO_CONNECT_INTERRUPT_PARAMETERS` (80 bytes): what `IoConnectInterruptEx` takes. `Version`
/// is in and out: a message-based request that falls back to line-based comes back with
/// `CONNECT_LINE_BASED`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IO_CONNECT_INTERRUPT_PARAMETERS {
    /// `CONNECT_*`.
    pub Version: ULONG,
    /// The member `Version` names.
    pub u: IO_CONNECT_INTERRUPT_PARAMETERS_UNION,
}
/// `PIO_CONNECT_INTERRUPT_PARAMETERS`.
pub type PIO_CONNECT_INTERRUPT_PARAMETERS = *mut IO_CONNECT_INTERRUPT_PARAMETERS;

impl core::fmt::Debug for IO_CONNECT_INTERRUPT_PARAMETERS {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IO_CONNECT_INTERRUPT_PARAMETERS")
            .field("Version", &self.Version)
            .finish_non_exhaustive()
    }
}

/// `IO_INTERRUPT_MESSAGE_INFO_ENTRY` (48 bytes): one message of a message-based connection.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IO_INTERRUPT_MESSAGE_INFO_ENTRY {
    /// The address the device writes to signal the message.
    pub MessageAddress: PHYSICAL_ADDRESS,
    /// The processors the message may arrive on.
    pub TargetProcessorSet: KAFFINITY,
    /// The message's interrupt object.
    pub InterruptObject: PKINTERRUPT,
    /// The data the device writes.
    pub MessageData: ULONG,
    /// The translated vector.
    pub Vector: ULONG,
    /// The message's DIRQL.
    pub Irql: KIRQL,
    /// Always `Latched` for messages.
    pub Mode: KINTERRUPT_MODE,
    /// The polarity.
    pub Polarity: KINTERRUPT_POLARITY,
}

/// The fields of `IO_INTERRUPT_MESSAGE_INFO` (opaque in [`km`](crate::km)): the header and the
/// first of `MessageCount` entries (the others follow it, 48 bytes apart).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct INTERRUPT_MESSAGE_TABLE {
    /// The IRQL every message's ISR is synchronized at.
    pub UnifiedIrql: KIRQL,
    /// Entries in the table.
    pub MessageCount: ULONG,
    /// The first entry (`MessageInfo[1]` in the header, a variable-length array).
    pub MessageInfo: [IO_INTERRUPT_MESSAGE_INFO_ENTRY; 1],
}

impl INTERRUPT_MESSAGE_TABLE {
    /// The table behind a message-based connection context.
    ///
    /// # Safety
    /// `context` is the `PIO_INTERRUPT_MESSAGE_INFO` a live message-based connection handed
    /// back.
    #[must_use]
    pub const unsafe fn from_context(context: PIO_INTERRUPT_MESSAGE_INFO) -> *const Self {
        context.cast_const().cast()
    }

    /// Entry `index` of the table at `table`, if it has one.
    ///
    /// # Safety
    /// `table` is a live table (see [`INTERRUPT_MESSAGE_TABLE::from_context`]).
    #[must_use]
    pub unsafe fn entry(
        table: *const Self,
        index: ULONG,
    ) -> Option<*const IO_INTERRUPT_MESSAGE_INFO_ENTRY> {
        // SAFETY: a live table (caller's contract).
        let count = unsafe { (*table).MessageCount };
        if index >= count {
            return None;
        }
        // SAFETY: the table is followed by `MessageCount` entries in one allocation.
        let first = unsafe { &raw const (*table).MessageInfo };
        Some(
            first
                .cast::<IO_INTERRUPT_MESSAGE_INFO_ENTRY>()
                .wrapping_add(index as usize),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Deferred procedure calls
// ---------------------------------------------------------------------------------------------

/// `KDPC` (64 bytes, 8-aligned): a deferred procedure call object. The driver provides the
/// storage (in non-paged memory) and never touches its fields; only `KeInitializeDpc`,
/// `KeInsertQueueDpc` and `KeRemoveQueueDpc` do.
#[repr(C)]
#[derive(Debug)]
pub struct KDPC {
    _storage: [u64; 8],
}

impl KDPC {
    /// Storage for a DPC, to be initialised with `KeInitializeDpc`.
    #[must_use]
    pub const fn zeroed() -> Self {
        Self { _storage: [0; 8] }
    }
}

/// `PKDPC` (also `PRKDPC`).
pub type PKDPC = *mut KDPC;
/// `KDEFERRED_ROUTINE`: the routine a DPC runs at `DISPATCH_LEVEL`.
pub type KDEFERRED_ROUTINE = crate::kernel_abi!(
    unsafe fn(Dpc: PKDPC, DeferredContext: PVOID, SystemArgument1: PVOID, SystemArgument2: PVOID)
);
/// `PKDEFERRED_ROUTINE`.
pub type PKDEFERRED_ROUTINE = Option<KDEFERRED_ROUTINE>;

// ---------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------

/// `CM_RESOURCE_TYPE`: a descriptor's type (`UCHAR`).
pub type CM_RESOURCE_TYPE = u8;
/// `CmResourceTypeNull`.
pub const CmResourceTypeNull: CM_RESOURCE_TYPE = 0;
/// `CmResourceTypePort`.
pub const CmResourceTypePort: CM_RESOURCE_TYPE = 1;
/// `CmResourceTypeInterrupt`.
pub const CmResourceTypeInterrupt: CM_RESOURCE_TYPE = 2;
/// `CmResourceTypeMemory`.
pub const CmResourceTypeMemory: CM_RESOURCE_TYPE = 3;
/// `CmResourceTypeDma`.
pub const CmResourceTypeDma: CM_RESOURCE_TYPE = 4;

/// `CmResourceShareDeviceExclusive`.
pub const CmResourceShareDeviceExclusive: u8 = 1;
/// `CmResourceShareShared`.
pub const CmResourceShareShared: u8 = 3;

/// Interrupt flag `CM_RESOURCE_INTERRUPT_LEVEL_SENSITIVE`.
pub const CM_RESOURCE_INTERRUPT_LEVEL_SENSITIVE: u16 = 0x0000;
/// Interrupt flag `CM_RESOURCE_INTERRUPT_LATCHED`.
pub const CM_RESOURCE_INTERRUPT_LATCHED: u16 = 0x0001;
/// Interrupt flag `CM_RESOURCE_INTERRUPT_MESSAGE`: a message-signaled interrupt.
pub const CM_RESOURCE_INTERRUPT_MESSAGE: u16 = 0x0002;
/// The raw `Vector` of a message-signaled interrupt.
pub const CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN: ULONG = 0xFFFF_FFFE;
/// Memory flag `CM_RESOURCE_MEMORY_READ_WRITE`.
pub const CM_RESOURCE_MEMORY_READ_WRITE: u16 = 0x0000;
/// Port flag `CM_RESOURCE_PORT_IO`.
pub const CM_RESOURCE_PORT_IO: u16 = 0x0001;

/// The `Generic`, `Port` and `Memory` members: a start address and a length.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug)]
pub struct CM_RANGE {
    /// The first address.
    pub Start: PHYSICAL_ADDRESS,
    /// Bytes.
    pub Length: ULONG,
}

/// The `Interrupt` member (and `MessageInterrupt.Translated`), with processor groups
/// (`NT_PROCESSOR_GROUPS`, every Windows 7 and later WDK).
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug)]
pub struct CM_INTERRUPT {
    /// The level (translated: the DIRQL).
    pub Level: u16,
    /// The processor group.
    pub Group: u16,
    /// The vector.
    pub Vector: ULONG,
    /// The processors.
    pub Affinity: KAFFINITY,
}

/// `MessageInterrupt.Raw`.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug)]
pub struct CM_MESSAGE_INTERRUPT_RAW {
    /// The processor group.
    pub Group: u16,
    /// Messages the descriptor stands for.
    pub MessageCount: u16,
    /// [`CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN`].
    pub Vector: ULONG,
    /// The processors.
    pub Affinity: KAFFINITY,
}

/// The `MessageInterrupt` member: raw or translated.
#[repr(C, packed(4))]
#[derive(Clone, Copy)]
pub union CM_MESSAGE_INTERRUPT {
    /// In the untranslated list.
    pub Raw: CM_MESSAGE_INTERRUPT_RAW,
    /// In the translated list.
    pub Translated: CM_INTERRUPT,
}

/// The `Dma` member.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug)]
pub struct CM_DMA {
    /// The channel.
    pub Channel: ULONG,
    /// The port.
    pub Port: ULONG,
    /// Reserved.
    pub Reserved1: ULONG,
}

/// The union `u` of [`CM_PARTIAL_RESOURCE_DESCRIPTOR`] (16 bytes), the members drivers read.
#[repr(C, packed(4))]
#[derive(Clone, Copy)]
pub union CM_PARTIAL_RESOURCE_DESCRIPTOR_U {
    /// Any range.
    pub Generic: CM_RANGE,
    /// `CmResourceTypePort`.
    pub Port: CM_RANGE,
    /// `CmResourceTypeInterrupt` without `CM_RESOURCE_INTERRUPT_MESSAGE`.
    pub Interrupt: CM_INTERRUPT,
    /// `CmResourceTypeInterrupt` with `CM_RESOURCE_INTERRUPT_MESSAGE`.
    pub MessageInterrupt: CM_MESSAGE_INTERRUPT,
    /// `CmResourceTypeMemory`.
    pub Memory: CM_RANGE,
    /// `CmResourceTypeDma`.
    pub Dma: CM_DMA,
    /// `CmResourceTypeDevicePrivate`.
    pub DevicePrivate: [ULONG; 3],
}

/// `CM_PARTIAL_RESOURCE_DESCRIPTOR` (20 bytes, 4-aligned: the header packs it to 4).
#[repr(C, packed(4))]
#[derive(Clone, Copy)]
pub struct CM_PARTIAL_RESOURCE_DESCRIPTOR {
    /// `CmResourceType*`.
    pub Type: CM_RESOURCE_TYPE,
    /// `CM_SHARE_DISPOSITION`.
    pub ShareDisposition: u8,
    /// Type-specific flags (`CM_RESOURCE_*`).
    pub Flags: u16,
    /// The member `Type` names.
    pub u: CM_PARTIAL_RESOURCE_DESCRIPTOR_U,
}
/// `PCM_PARTIAL_RESOURCE_DESCRIPTOR`.
pub type PCM_PARTIAL_RESOURCE_DESCRIPTOR = *mut CM_PARTIAL_RESOURCE_DESCRIPTOR;

impl core::fmt::Debug for CM_PARTIAL_RESOURCE_DESCRIPTOR {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (kind, flags) = (self.Type, self.Flags);
        f.debug_struct("CM_PARTIAL_RESOURCE_DESCRIPTOR")
            .field("Type", &kind)
            .field("Flags", &flags)
            .finish_non_exhaustive()
    }
}

/// `CM_PARTIAL_RESOURCE_LIST`: a version, a revision and `Count` descriptors (the first here).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CM_PARTIAL_RESOURCE_LIST {
    /// The version (1).
    pub Version: u16,
    /// The revision (1).
    pub Revision: u16,
    /// Descriptors that follow.
    pub Count: ULONG,
    /// The first descriptor (a variable-length array in the header).
    pub PartialDescriptors: [CM_PARTIAL_RESOURCE_DESCRIPTOR; 1],
}

/// `CM_FULL_RESOURCE_DESCRIPTOR`: one bus's resources.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CM_FULL_RESOURCE_DESCRIPTOR {
    /// The bus type.
    pub InterfaceType: crate::km::INTERFACE_TYPE,
    /// The bus number.
    pub BusNumber: ULONG,
    /// Its resources.
    pub PartialResourceList: CM_PARTIAL_RESOURCE_LIST,
}

/// `CM_RESOURCE_LIST`: `Count` full descriptors (the first here).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CM_RESOURCE_LIST {
    /// Full descriptors that follow.
    pub Count: ULONG,
    /// The first (a variable-length array in the header).
    pub List: [CM_FULL_RESOURCE_DESCRIPTOR; 1],
}
/// `PCM_RESOURCE_LIST`.
pub type PCM_RESOURCE_LIST = *mut CM_RESOURCE_LIST;

// ---------------------------------------------------------------------------------------------
// The bus interface and IRP_MN_QUERY_INTERFACE
// ---------------------------------------------------------------------------------------------

/// `GUID_BUS_INTERFACE_STANDARD` {496B8280-6F25-11D0-BEAF-08002BE2092F} (wdmguid.h).
pub const GUID_BUS_INTERFACE_STANDARD: GUID =
    GUID::from_u128(0x496B8280_6F25_11D0_BEAF_08002BE2092F);

/// `IRP_MN_QUERY_INTERFACE`.
pub const IRP_MN_QUERY_INTERFACE: u8 = 0x08;
/// `PCI_WHICHSPACE_CONFIG`: `GetBusData`/`SetBusData` on configuration space.
pub const PCI_WHICHSPACE_CONFIG: ULONG = 0;
/// `PCI_WHICHSPACE_ROM`: on the expansion ROM.
pub const PCI_WHICHSPACE_ROM: ULONG = 0x5269_6350;

/// `PINTERFACE_REFERENCE` / `PINTERFACE_DEREFERENCE`.
pub type PINTERFACE_REFERENCE = Option<crate::kernel_abi!(unsafe fn(Context: PVOID))>;
/// `PINTERFACE_DEREFERENCE`.
pub type PINTERFACE_DEREFERENCE = PINTERFACE_REFERENCE;
/// `PGET_SET_DEVICE_DATA`: `GetBusData` / `SetBusData`; returns the bytes transferred.
pub type PGET_SET_DEVICE_DATA = Option<
    crate::kernel_abi!(
        unsafe fn(
            Context: PVOID,
            DataType: ULONG,
            Buffer: PVOID,
            Offset: ULONG,
            Length: ULONG,
        ) -> ULONG
    ),
>;

/// `INTERFACE`: the header every queried interface begins with (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct INTERFACE {
    /// Bytes of the whole interface.
    pub Size: u16,
    /// Its version.
    pub Version: u16,
    /// What the routines take as their first argument.
    pub Context: PVOID,
    /// Takes a reference.
    pub InterfaceReference: PINTERFACE_REFERENCE,
    /// Gives one back (the querier owns one reference on success).
    pub InterfaceDereference: PINTERFACE_DEREFERENCE,
}
/// `PINTERFACE`.
pub type PINTERFACE = *mut INTERFACE;

/// `BUS_INTERFACE_STANDARD` (64 bytes): the bus driver's routines for a device.
/// `TranslateBusAddress` and `GetDmaAdapter` are declared as untyped pointers here.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BUS_INTERFACE_STANDARD {
    /// Bytes of this structure.
    pub Size: u16,
    /// Its version (1).
    pub Version: u16,
    /// The routines' first argument.
    pub Context: PVOID,
    /// Takes a reference.
    pub InterfaceReference: PINTERFACE_REFERENCE,
    /// Gives one back.
    pub InterfaceDereference: PINTERFACE_DEREFERENCE,
    /// `PTRANSLATE_BUS_ADDRESS`.
    pub TranslateBusAddress: PVOID,
    /// `PGET_DMA_ADAPTER`.
    pub GetDmaAdapter: PVOID,
    /// Writes bus data.
    pub SetBusData: PGET_SET_DEVICE_DATA,
    /// Reads bus data.
    pub GetBusData: PGET_SET_DEVICE_DATA,
}

impl BUS_INTERFACE_STANDARD {
    /// An all-empty interface for `IRP_MN_QUERY_INTERFACE` to fill in.
    #[must_use]
    pub const fn empty() -> Self {
        Self {
            Size: 0,
            Version: 0,
            Context: core::ptr::null_mut(),
            InterfaceReference: None,
            InterfaceDereference: None,
            TranslateBusAddress: core::ptr::null_mut(),
            GetDmaAdapter: core::ptr::null_mut(),
            SetBusData: None,
            GetBusData: None,
        }
    }
}

/// `IO_STATUS_BLOCK` (16 bytes): the status is the low half of a pointer-sized union.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct IO_STATUS_BLOCK {
    /// `Status` (the union's `Pointer` member shares its 8 bytes; the high half is padding).
    pub Status: NTSTATUS,
    _pad: u32,
    /// Request-specific (for `IRP_MN_QUERY_INTERFACE`, unused).
    pub Information: usize,
}
/// `PIO_STATUS_BLOCK`.
pub type PIO_STATUS_BLOCK = *mut IO_STATUS_BLOCK;

/// `Parameters.QueryInterface` of an `IO_STACK_LOCATION`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct QUERY_INTERFACE_PARAMETERS {
    /// The interface's GUID.
    pub InterfaceType: *const GUID,
    /// Bytes of the caller's buffer.
    pub Size: u16,
    /// The version asked for.
    pub Version: u16,
    /// The caller's buffer, which begins with an [`INTERFACE`].
    pub Interface: PINTERFACE,
    /// Interface-specific input (null for the bus interface).
    pub InterfaceSpecificData: PVOID,
}

/// `IO_STACK_LOCATION` (72 bytes), with `Parameters` as its 32 raw bytes (read a member such as
/// [`QUERY_INTERFACE_PARAMETERS`] through a pointer cast).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IO_STACK_LOCATION {
    /// `IRP_MJ_*`.
    pub MajorFunction: u8,
    /// `IRP_MN_*`.
    pub MinorFunction: u8,
    /// Request flags.
    pub Flags: u8,
    /// Completion control.
    pub Control: u8,
    /// The request's parameters (a union in the header).
    pub Parameters: [u64; 4],
    /// The target device.
    pub DeviceObject: PDEVICE_OBJECT,
    /// The file object.
    pub FileObject: PVOID,
    /// The completion routine.
    pub CompletionRoutine: PVOID,
    /// Its context.
    pub Context: PVOID,
}
/// `PIO_STACK_LOCATION`.
pub type PIO_STACK_LOCATION = *mut IO_STACK_LOCATION;

/// Byte offset of `IoStatus` in a 64-bit `IRP`.
pub const IRP_IO_STATUS_OFFSET: usize = 0x30;
/// Byte offset of `StackCount` in a 64-bit `IRP`.
pub const IRP_STACK_COUNT_OFFSET: usize = 0x42;
/// Byte offset of `CurrentLocation` in a 64-bit `IRP`.
pub const IRP_CURRENT_LOCATION_OFFSET: usize = 0x43;
/// Byte offset of `UserIosb` in a 64-bit `IRP`.
pub const IRP_USER_IOSB_OFFSET: usize = 0x48;
/// Byte offset of `UserEvent` in a 64-bit `IRP`.
pub const IRP_USER_EVENT_OFFSET: usize = 0x50;

/// `IoGetNextIrpStackLocation` (inline in the header): the stack location the next driver
/// down will see, the one a driver fills in before `IoCallDriver`.
///
/// # Safety
/// `irp` is a live IRP with a stack location below its current one.
#[must_use]
pub unsafe fn IoGetNextIrpStackLocation(irp: PIRP) -> PIO_STACK_LOCATION {
    let slot = irp
        .cast::<PIO_STACK_LOCATION>()
        .wrapping_byte_add(crate::km::IRP_CURRENT_STACK_LOCATION_OFFSET);
    // SAFETY: a live IRP stores its current stack location at this aligned offset.
    let current = unsafe { slot.read() };
    current.wrapping_sub(1)
}

/// `&irp->IoStatus` (the header's field access), as a pointer: valid while the IRP is.
#[must_use]
pub const fn irp_io_status(irp: PIRP) -> *mut IO_STATUS_BLOCK {
    irp.cast::<IO_STATUS_BLOCK>()
        .wrapping_byte_add(IRP_IO_STATUS_OFFSET)
}

crate::kernel_abi! {
    #[cfg_attr(
        feature = "link",
        link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")
    )]
    unsafe extern {
        /// `IoConnectInterruptEx`. IRQL: `PASSIVE_LEVEL`.
        pub fn IoConnectInterruptEx(Parameters: PIO_CONNECT_INTERRUPT_PARAMETERS) -> NTSTATUS;
        /// `KeAcquireInterruptSpinLock`: raises to the interrupt's synchronize IRQL and takes
        /// its lock; returns the previous IRQL. IRQL <= that DIRQL.
        pub fn KeAcquireInterruptSpinLock(Interrupt: PKINTERRUPT) -> KIRQL;
        /// `KeReleaseInterruptSpinLock`: frees the lock, back to `OldIrql`.
        pub fn KeReleaseInterruptSpinLock(Interrupt: PKINTERRUPT, OldIrql: KIRQL);
        /// `KeSynchronizeExecution`: runs `SynchronizeRoutine` under the interrupt spin lock.
        /// IRQL <= the interrupt's DIRQL.
        pub fn KeSynchronizeExecution(
            Interrupt: PKINTERRUPT,
            SynchronizeRoutine: PKSYNCHRONIZE_ROUTINE,
            SynchronizeContext: PVOID,
        ) -> BOOLEAN;
        /// `KeInitializeDpc`. Any IRQL.
        pub fn KeInitializeDpc(Dpc: PKDPC, DeferredRoutine: PKDEFERRED_ROUTINE, DeferredContext: PVOID);
        /// `KeInsertQueueDpc`: TRUE if queued, FALSE if it already was. Any IRQL.
        pub fn KeInsertQueueDpc(Dpc: PKDPC, SystemArgument1: PVOID, SystemArgument2: PVOID) -> BOOLEAN;
        /// `KeRemoveQueueDpc`: TRUE if it was queued. Any IRQL.
        pub fn KeRemoveQueueDpc(Dpc: PKDPC) -> BOOLEAN;
        /// `KeFlushQueuedDpcs`: returns once every queued DPC has run. IRQL: `PASSIVE_LEVEL`.
        pub fn KeFlushQueuedDpcs();
        /// `IoBuildSynchronousFsdRequest`. IRQL: `PASSIVE_LEVEL`.
        pub fn IoBuildSynchronousFsdRequest(
            MajorFunction: ULONG,
            DeviceObject: PDEVICE_OBJECT,
            Buffer: PVOID,
            Length: ULONG,
            StartingOffset: *mut i64,
            Event: PKEVENT,
            IoStatusBlock: PIO_STATUS_BLOCK,
        ) -> PIRP;
        /// `IofCallDriver` (`IoCallDriver`). IRQL <= `DISPATCH_LEVEL` (PnP IRPs: `PASSIVE_LEVEL`).
        pub fn IofCallDriver(DeviceObject: PDEVICE_OBJECT, Irp: PIRP) -> NTSTATUS;
        /// `MmMapIoSpace`: maps device memory. IRQL <= `DISPATCH_LEVEL`.
        pub fn MmMapIoSpace(
            PhysicalAddress: PHYSICAL_ADDRESS,
            NumberOfBytes: usize,
            CacheType: crate::km::MEMORY_CACHING_TYPE,
        ) -> PVOID;
        /// `MmUnmapIoSpace`. IRQL <= `DISPATCH_LEVEL`.
        pub fn MmUnmapIoSpace(BaseAddress: PVOID, NumberOfBytes: usize);
    }
}

#[cfg(target_pointer_width = "64")]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<IO_CONNECT_INTERRUPT_FULLY_SPECIFIED_PARAMETERS>() == 72);
    assert!(offset_of!(IO_CONNECT_INTERRUPT_FULLY_SPECIFIED_PARAMETERS, Vector) == 44);
    assert!(offset_of!(IO_CONNECT_INTERRUPT_FULLY_SPECIFIED_PARAMETERS, Irql) == 48);
    assert!(offset_of!(IO_CONNECT_INTERRUPT_FULLY_SPECIFIED_PARAMETERS, Group) == 64);
    assert!(size_of::<IO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS>() == 48);
    assert!(size_of::<IO_CONNECT_INTERRUPT_MESSAGE_BASED_PARAMETERS>() == 56);
    assert!(
        offset_of!(
            IO_CONNECT_INTERRUPT_MESSAGE_BASED_PARAMETERS,
            SynchronizeIrql
        ) == 40
    );
    assert!(offset_of!(IO_CONNECT_INTERRUPT_MESSAGE_BASED_PARAMETERS, FloatingSave) == 41);
    assert!(
        offset_of!(
            IO_CONNECT_INTERRUPT_MESSAGE_BASED_PARAMETERS,
            FallBackServiceRoutine
        ) == 48
    );
    assert!(size_of::<IO_CONNECT_INTERRUPT_PARAMETERS>() == 80);
    assert!(offset_of!(IO_CONNECT_INTERRUPT_PARAMETERS, u) == 8);
    assert!(size_of::<IO_INTERRUPT_MESSAGE_INFO_ENTRY>() == 48);
    assert!(offset_of!(IO_INTERRUPT_MESSAGE_INFO_ENTRY, InterruptObject) == 16);
    assert!(offset_of!(IO_INTERRUPT_MESSAGE_INFO_ENTRY, Irql) == 32);
    assert!(offset_of!(IO_INTERRUPT_MESSAGE_INFO_ENTRY, Polarity) == 40);
    assert!(offset_of!(INTERRUPT_MESSAGE_TABLE, MessageCount) == 4);
    assert!(offset_of!(INTERRUPT_MESSAGE_TABLE, MessageInfo) == 8);
    assert!(size_of::<KDPC>() == 64 && align_of::<KDPC>() == 8);
    assert!(size_of::<CM_PARTIAL_RESOURCE_DESCRIPTOR>() == 20);
    assert!(align_of::<CM_PARTIAL_RESOURCE_DESCRIPTOR>() == 4);
    assert!(offset_of!(CM_PARTIAL_RESOURCE_DESCRIPTOR, u) == 4);
    assert!(offset_of!(CM_RANGE, Length) == 8);
    assert!(offset_of!(CM_INTERRUPT, Vector) == 4 && offset_of!(CM_INTERRUPT, Affinity) == 8);
    assert!(offset_of!(CM_MESSAGE_INTERRUPT_RAW, MessageCount) == 2);
    assert!(size_of::<CM_PARTIAL_RESOURCE_LIST>() == 28);
    assert!(size_of::<CM_FULL_RESOURCE_DESCRIPTOR>() == 36);
    assert!(size_of::<CM_RESOURCE_LIST>() == 40);
    assert!(size_of::<INTERFACE>() == 32);
    assert!(size_of::<BUS_INTERFACE_STANDARD>() == 64);
    assert!(offset_of!(BUS_INTERFACE_STANDARD, GetBusData) == 56);
    assert!(size_of::<IO_STATUS_BLOCK>() == 16);
    assert!(size_of::<IO_STACK_LOCATION>() == crate::km::IO_STACK_LOCATION_SIZE);
    assert!(offset_of!(IO_STACK_LOCATION, Parameters) == 8);
    assert!(offset_of!(IO_STACK_LOCATION, DeviceObject) == 40);
    assert!(offset_of!(QUERY_INTERFACE_PARAMETERS, Interface) == 16);
    assert!(size_of::<QUERY_INTERFACE_PARAMETERS>() == 32);
};
