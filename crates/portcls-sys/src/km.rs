//! The kernel side: object types and the few `ntoskrnl.exe` routines the safe layer needs.
//!
//! Kernel objects are opaque here (zero-sized, `!Send`, `!Sync`, `!Unpin` markers behind raw
//! pointers).
//!
//! # With the `wdk` feature: what is wdk-sys's and what stays ours
//! The objects only ever handled by pointer become wdk-sys's own types, so a pointer a WDK
//! driver already holds passes straight in (the same Rust type, no cast):
//!
//! | here | with `wdk` |
//! | --- | --- |
//! | [`DEVICE_OBJECT`], [`PDEVICE_OBJECT`] | `wdk_sys::DEVICE_OBJECT`, `wdk_sys::PDEVICE_OBJECT` |
//! | [`ETHREAD`], [`PETHREAD`] | `wdk_sys::_KTHREAD`, `wdk_sys::PETHREAD` |
//! | [`KINTERRUPT`], [`PKINTERRUPT`] | `wdk_sys::_KINTERRUPT`, `wdk_sys::PKINTERRUPT` |
//! | [`IO_INTERRUPT_MESSAGE_INFO`], [`PIO_INTERRUPT_MESSAGE_INFO`] | `wdk_sys::IO_INTERRUPT_MESSAGE_INFO`, `wdk_sys::PIO_INTERRUPT_MESSAGE_INFO` |
//! | [`IRP`], [`PIRP`], [`MDL`], [`PMDL`] | `wdk_sys::IRP`, `wdk_sys::PIRP`, `wdk_sys::MDL`, `wdk_sys::PMDL` |
//! | [`KEVENT`], [`PKEVENT`], [`OBJECT_ATTRIBUTES`], [`POBJECT_ATTRIBUTES`] | `wdk_sys::KEVENT`, `wdk_sys::PKEVENT`, `wdk_sys::OBJECT_ATTRIBUTES`, `wdk_sys::POBJECT_ATTRIBUTES` |
//!
//! `ETHREAD` is the pointee of `PETHREAD`: wdk-build puts `ntifs.h` first, which defines
//! `_NTIFS_INCLUDED_`, and under it `wdm.h` declares `typedef struct _KTHREAD *PETHREAD`, so
//! wdk-sys has `_KTHREAD` and no `_ETHREAD` (a const check below keeps the two in step).
//!
//! Everything else in this crate stays its own type in every build, wdk or not: the
//! structures a driver reads or fills in field by field ([`DRIVER_OBJECT`], [`UNICODE_STRING`],
//! [`LARGE_INTEGER`] and [`PHYSICAL_ADDRESS`], [`DEVICE_DESCRIPTION`],
//! [`IO_DISCONNECT_INTERRUPT_PARAMETERS`], [`POWER_STATE`]) and their pointer types
//! ([`PDRIVER_OBJECT`], [`PUNICODE_STRING`], ...); the C enums, as 4-byte newtypes with named
//! constants ([`MEMORY_CACHING_TYPE`], [`INTERFACE_TYPE`], ...; wdk-sys has `i32` aliases in
//! modules such as `_MEMORY_CACHING_TYPE`); the opaque [`DRIVER_EXTENSION`] and
//! [`FAST_IO_DISPATCH`]; the callback types ([`PDRIVER_INITIALIZE`], [`PDRIVER_DISPATCH`], ...,
//! `extern "system"`, where wdk-sys's are `extern "C"`: the same convention on x64 and arm64,
//! but different Rust types); and everything in [`ks`](crate::ks), [`wavert`](crate::wavert) and
//! the crate root ([`GUID`](crate::GUID) included). The integer aliases ([`KIRQL`], [`BOOLEAN`],
//! [`CSHORT`], [`ACCESS_MASK`], `NTSTATUS`, `ULONG`, `PVOID`) are the same primitive types as
//! wdk-sys's, so they mix freely.
//!
//! Our structures have the header's layout: with `wdk`, const assertions compare their sizes
//! and field offsets with wdk-sys's (generated from the WDK the build uses), so a pointer to
//! one may be cast to a pointer to the other (`driver.cast::<wdk_sys::DRIVER_OBJECT>()`).
//!
//! The list of routines is deliberately short; each is documented with its IRQL rule:
//! [`ObfReferenceObject`], [`ObfDereferenceObject`], [`IoDisconnectInterruptEx`] and
//! [`KeGetCurrentIrql`].

use crate::{PVOID, ULONG};

#[cfg(not(feature = "wdk"))]
mod opaque {
    use core::marker::{PhantomData, PhantomPinned};

    macro_rules! opaque {
        ($($(#[$doc:meta])* $name:ident;)*) => {$(
            $(#[$doc])*
            #[repr(C)]
            #[derive(Debug)]
            pub struct $name {
                _data: [u8; 0],
                _marker: PhantomData<(*mut u8, PhantomPinned)>,
            }
        )*};
    }

    opaque! {
        /// `DEVICE_OBJECT`: owned by the I/O manager, only ever handled by pointer.
        DEVICE_OBJECT;
        /// `ETHREAD`: an executive thread object, only ever handled by pointer.
        ETHREAD;
        /// `KINTERRUPT`: an interrupt object, only ever handled by pointer.
        KINTERRUPT;
        /// `IO_INTERRUPT_MESSAGE_INFO`: the message table of a message-based connection.
        IO_INTERRUPT_MESSAGE_INFO;
    }

    /// `PDEVICE_OBJECT`.
    pub type PDEVICE_OBJECT = *mut DEVICE_OBJECT;
    /// `PETHREAD`.
    pub type PETHREAD = *mut ETHREAD;
    /// `PKINTERRUPT`.
    pub type PKINTERRUPT = *mut KINTERRUPT;
    /// `PIO_INTERRUPT_MESSAGE_INFO`.
    pub type PIO_INTERRUPT_MESSAGE_INFO = *mut IO_INTERRUPT_MESSAGE_INFO;
}
#[cfg(not(feature = "wdk"))]
pub use opaque::*;

// `PETHREAD` is `*mut _KTHREAD` in wdk-sys (see the module documentation). The WDK's public
// headers only declare `struct _KTHREAD` and `struct _KINTERRUPT` (no typedef without the
// underscore), so bindgen's opaque structs carry the tag names.
#[cfg(feature = "wdk")]
pub use wdk_sys::{
    _KINTERRUPT as KINTERRUPT, _KTHREAD as ETHREAD, DEVICE_OBJECT, IO_INTERRUPT_MESSAGE_INFO,
    PDEVICE_OBJECT, PETHREAD, PIO_INTERRUPT_MESSAGE_INFO, PKINTERRUPT,
};

// The pointer types are the pointers to the object types, in every build: with `wdk`, a WDK
// whose headers name another pointee fails here rather than in the safe layer.
const _: () = {
    const fn same<T>(pointer: T) -> T {
        pointer
    }
    let _: fn(PETHREAD) -> *mut ETHREAD = same;
    let _: fn(PKINTERRUPT) -> *mut KINTERRUPT = same;
    let _: fn(PDEVICE_OBJECT) -> *mut DEVICE_OBJECT = same;
    let _: fn(PIO_INTERRUPT_MESSAGE_INFO) -> *mut IO_INTERRUPT_MESSAGE_INFO = same;
};

/// `KIRQL`.
pub type KIRQL = u8;
/// `PASSIVE_LEVEL`.
pub const PASSIVE_LEVEL: KIRQL = 0;
/// `APC_LEVEL`.
pub const APC_LEVEL: KIRQL = 1;
/// `DISPATCH_LEVEL`.
pub const DISPATCH_LEVEL: KIRQL = 2;

/// `CONNECT_FULLY_SPECIFIED`: the context is a `PKINTERRUPT`.
pub const CONNECT_FULLY_SPECIFIED: ULONG = 1;
/// `CONNECT_LINE_BASED`: the context is a `PKINTERRUPT`.
pub const CONNECT_LINE_BASED: ULONG = 2;
/// `CONNECT_MESSAGE_BASED`: the context is a `PIO_INTERRUPT_MESSAGE_INFO`.
pub const CONNECT_MESSAGE_BASED: ULONG = 3;
/// `CONNECT_FULLY_SPECIFIED_GROUP`: the context is a `PKINTERRUPT`.
pub const CONNECT_FULLY_SPECIFIED_GROUP: ULONG = 4;
/// `CONNECT_MESSAGE_BASED_PASSIVE`: the context is a `PIO_INTERRUPT_MESSAGE_INFO`.
pub const CONNECT_MESSAGE_BASED_PASSIVE: ULONG = 5;

/// `IO_DISCONNECT_INTERRUPT_PARAMETERS`: what `IoDisconnectInterruptEx` takes, i.e. the
/// `Version` and connection context `IoConnectInterruptEx` handed back.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IO_DISCONNECT_INTERRUPT_PARAMETERS {
    /// The version `IoConnectInterruptEx` wrote back (`CONNECT_*`).
    pub Version: ULONG,
    /// `ConnectionContext.Generic` (the union's members are all pointers).
    pub ConnectionContext: PVOID,
}

#[cfg(target_pointer_width = "64")]
const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<IO_DISCONNECT_INTERRUPT_PARAMETERS>() == 16);
    assert!(offset_of!(IO_DISCONNECT_INTERRUPT_PARAMETERS, ConnectionContext) == 8);
};

crate::kernel_abi! {
    #[cfg_attr(
        feature = "link",
        link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")
    )]
    unsafe extern {
        /// `ObfReferenceObject` (the function behind `ObReferenceObject`). IRQL <= `DISPATCH_LEVEL`.
        pub fn ObfReferenceObject(Object: PVOID) -> isize;
        /// `ObfDereferenceObject` (the function behind `ObDereferenceObject`). IRQL <= `DISPATCH_LEVEL`.
        pub fn ObfDereferenceObject(Object: PVOID) -> isize;
        /// `IoDisconnectInterruptEx`. IRQL: `PASSIVE_LEVEL`.
        pub fn IoDisconnectInterruptEx(Parameters: *mut IO_DISCONNECT_INTERRUPT_PARAMETERS);
    }
}

// On the host, the simulator defines `KeGetCurrentIrql` (a per-thread IRQL it models). On arm64
// the WDK declares it a HAL routine (`NTHALAPI KIRQL KeGetCurrentIrql(VOID)` under `_ARM64_` in
// wdm.h), so a kernel build imports it from hal.dll there.
crate::kernel_abi! {
    #[cfg(any(not(feature = "link"), target_arch = "aarch64"))]
    #[cfg_attr(
        all(feature = "link", target_arch = "aarch64"),
        link(name = "hal.dll", kind = "raw-dylib", modifiers = "+verbatim")
    )]
    unsafe extern {
        /// `KeGetCurrentIrql`. Any IRQL.
        pub fn KeGetCurrentIrql() -> KIRQL;
    }
}

/// `KeGetCurrentIrql`, as the WDK headers define it inline on x64: the IRQL is CR8.
///
/// Only debug builds of the library call it (see `portcls`'s IRQL check); the release image
/// that ships, and that the model runs, never reads CR8, which would fault in user mode.
///
/// # Safety
/// Kernel mode only (reading CR8 faults in user mode).
#[cfg(all(feature = "link", target_arch = "x86_64"))]
#[inline]
#[must_use]
pub unsafe fn KeGetCurrentIrql() -> KIRQL {
    let irql: u64;
    // SAFETY: the caller runs in kernel mode, where reading CR8 has no side effect.
    unsafe {
        core::arch::asm!("mov {}, cr8", out(reg) irql, options(nomem, nostack, preserves_flags));
    }
    // CR8 holds the task priority class in bits 0-3: the IRQL, which fits a byte.
    (irql & 0xF) as KIRQL
}

// ---------------------------------------------------------------------------------------------
// What a WaveRT adapter driver additionally needs: driver and I/O objects, strings, physical
// addresses and the DMA description (`wdm.h`).
// ---------------------------------------------------------------------------------------------

use crate::NTSTATUS;

/// Declares zero-sized, `!Send`, `!Sync`, `!Unpin` types only ever handled by pointer.
macro_rules! opaque_kernel_types {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[repr(C)]
        #[derive(Debug)]
        pub struct $name {
            _data: [u8; 0],
            _marker: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
        }
    )*};
}

#[cfg(not(feature = "wdk"))]
mod opaque_io {
    opaque_kernel_types! {
        /// `IRP`: an I/O request packet, only ever handled by pointer.
        IRP;
        /// `MDL`: a memory descriptor list, only ever handled by pointer here.
        MDL;
        /// `KEVENT`: a kernel event object, only ever handled by pointer.
        KEVENT;
        /// `OBJECT_ATTRIBUTES`: only ever handled by pointer here.
        OBJECT_ATTRIBUTES;
    }

    /// `PIRP`.
    pub type PIRP = *mut IRP;
    /// `PMDL`.
    pub type PMDL = *mut MDL;
    /// `PKEVENT`.
    pub type PKEVENT = *mut KEVENT;
    /// `POBJECT_ATTRIBUTES`.
    pub type POBJECT_ATTRIBUTES = *mut OBJECT_ATTRIBUTES;
}
#[cfg(not(feature = "wdk"))]
pub use opaque_io::*;

#[cfg(feature = "wdk")]
pub use wdk_sys::{IRP, KEVENT, MDL, OBJECT_ATTRIBUTES, PIRP, PKEVENT, PMDL, POBJECT_ATTRIBUTES};

opaque_kernel_types! {
    /// `DRIVER_EXTENSION`: the I/O manager's per-driver extension (its `AddDevice` slot is
    /// set by `PcInitializeAdapterDriver`); only ever handled by pointer.
    DRIVER_EXTENSION;
    /// `FAST_IO_DISPATCH`: a file-system fast I/O table; unused by audio drivers.
    FAST_IO_DISPATCH;
}

/// `CSHORT`.
pub type CSHORT = i16;
/// `BOOLEAN`: one byte, 0 or 1.
pub type BOOLEAN = u8;
/// `ACCESS_MASK`.
pub type ACCESS_MASK = u32;

/// `UNICODE_STRING`: a counted UTF-16 string (16 bytes on 64-bit).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct UNICODE_STRING {
    /// Length of the string in bytes, without any terminator.
    pub Length: u16,
    /// Size of `Buffer` in bytes.
    pub MaximumLength: u16,
    /// The UTF-16 code units.
    pub Buffer: *mut u16,
}
/// `PUNICODE_STRING`.
pub type PUNICODE_STRING = *mut UNICODE_STRING;
/// `PCUNICODE_STRING`.
pub type PCUNICODE_STRING = *const UNICODE_STRING;

/// The two-part member of [`LARGE_INTEGER`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LARGE_INTEGER_PARTS {
    /// Low 32 bits.
    pub LowPart: u32,
    /// High 32 bits.
    pub HighPart: i32,
}

/// `LARGE_INTEGER`: a 64-bit signed value, also readable as two halves (8 bytes, 8-aligned).
#[repr(C)]
#[derive(Clone, Copy)]
pub union LARGE_INTEGER {
    /// The halves (the header's `u` member and anonymous struct).
    pub u: LARGE_INTEGER_PARTS,
    /// The whole value.
    pub QuadPart: i64,
}

impl core::fmt::Debug for LARGE_INTEGER {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // SAFETY: every bit pattern is a valid i64.
        let quad = unsafe { self.QuadPart };
        f.debug_struct("LARGE_INTEGER")
            .field("QuadPart", &quad)
            .finish()
    }
}

/// `PHYSICAL_ADDRESS`: a [`LARGE_INTEGER`] holding a physical address.
pub type PHYSICAL_ADDRESS = LARGE_INTEGER;
/// `PPHYSICAL_ADDRESS`.
pub type PPHYSICAL_ADDRESS = *mut PHYSICAL_ADDRESS;

/// `MEMORY_CACHING_TYPE` (a C enum, 4 bytes).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MEMORY_CACHING_TYPE(pub i32);
/// `MmNonCached`.
pub const MmNonCached: MEMORY_CACHING_TYPE = MEMORY_CACHING_TYPE(0);
/// `MmCached`.
pub const MmCached: MEMORY_CACHING_TYPE = MEMORY_CACHING_TYPE(1);
/// `MmWriteCombined` (the same value as `MmFrameBufferCached`).
pub const MmWriteCombined: MEMORY_CACHING_TYPE = MEMORY_CACHING_TYPE(2);
/// `MmHardwareCoherentCached`.
pub const MmHardwareCoherentCached: MEMORY_CACHING_TYPE = MEMORY_CACHING_TYPE(3);
/// `MmNonCachedUnordered`.
pub const MmNonCachedUnordered: MEMORY_CACHING_TYPE = MEMORY_CACHING_TYPE(4);
/// `MmUSWCCached`.
pub const MmUSWCCached: MEMORY_CACHING_TYPE = MEMORY_CACHING_TYPE(5);
/// `MmMaximumCacheType`.
pub const MmMaximumCacheType: MEMORY_CACHING_TYPE = MEMORY_CACHING_TYPE(6);
/// `MmNotMapped`.
pub const MmNotMapped: MEMORY_CACHING_TYPE = MEMORY_CACHING_TYPE(-1);

/// `DEVICE_REGISTRY_PROPERTY` (a C enum, 4 bytes): what `IPort::GetDeviceProperty` reads.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DEVICE_REGISTRY_PROPERTY(pub i32);
/// `DevicePropertyDeviceDescription`.
pub const DevicePropertyDeviceDescription: DEVICE_REGISTRY_PROPERTY = DEVICE_REGISTRY_PROPERTY(0);
/// `DevicePropertyHardwareID`.
pub const DevicePropertyHardwareID: DEVICE_REGISTRY_PROPERTY = DEVICE_REGISTRY_PROPERTY(1);
/// `DevicePropertyClassGuid`.
pub const DevicePropertyClassGuid: DEVICE_REGISTRY_PROPERTY = DEVICE_REGISTRY_PROPERTY(6);
/// `DevicePropertyDriverKeyName`.
pub const DevicePropertyDriverKeyName: DEVICE_REGISTRY_PROPERTY = DEVICE_REGISTRY_PROPERTY(7);
/// `DevicePropertyManufacturer`.
pub const DevicePropertyManufacturer: DEVICE_REGISTRY_PROPERTY = DEVICE_REGISTRY_PROPERTY(8);
/// `DevicePropertyFriendlyName`.
pub const DevicePropertyFriendlyName: DEVICE_REGISTRY_PROPERTY = DEVICE_REGISTRY_PROPERTY(9);
/// `DevicePropertyPhysicalDeviceObjectName`.
pub const DevicePropertyPhysicalDeviceObjectName: DEVICE_REGISTRY_PROPERTY =
    DEVICE_REGISTRY_PROPERTY(11);
/// `DevicePropertyEnumeratorName`.
pub const DevicePropertyEnumeratorName: DEVICE_REGISTRY_PROPERTY = DEVICE_REGISTRY_PROPERTY(15);
/// `DevicePropertyContainerID`.
pub const DevicePropertyContainerID: DEVICE_REGISTRY_PROPERTY = DEVICE_REGISTRY_PROPERTY(22);

/// `INTERFACE_TYPE` (a C enum, 4 bytes): the bus a device sits on.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct INTERFACE_TYPE(pub i32);
/// `InterfaceTypeUndefined`.
pub const InterfaceTypeUndefined: INTERFACE_TYPE = INTERFACE_TYPE(-1);
/// `Internal`.
pub const Internal: INTERFACE_TYPE = INTERFACE_TYPE(0);
/// `PCIBus`.
pub const PCIBus: INTERFACE_TYPE = INTERFACE_TYPE(5);

/// `DMA_WIDTH` (a C enum, 4 bytes).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DMA_WIDTH(pub i32);
/// `Width8Bits`.
pub const Width8Bits: DMA_WIDTH = DMA_WIDTH(0);
/// `Width16Bits`.
pub const Width16Bits: DMA_WIDTH = DMA_WIDTH(1);
/// `Width32Bits`.
pub const Width32Bits: DMA_WIDTH = DMA_WIDTH(2);
/// `Width64Bits`.
pub const Width64Bits: DMA_WIDTH = DMA_WIDTH(3);

/// `DMA_SPEED` (a C enum, 4 bytes).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DMA_SPEED(pub i32);
/// `Compatible`.
pub const Compatible: DMA_SPEED = DMA_SPEED(0);
/// `MaximumDmaSpeed`.
pub const MaximumDmaSpeed: DMA_SPEED = DMA_SPEED(5);

/// `DEVICE_DESCRIPTION_VERSION`.
pub const DEVICE_DESCRIPTION_VERSION: ULONG = 0;
/// `DEVICE_DESCRIPTION_VERSION1`.
pub const DEVICE_DESCRIPTION_VERSION1: ULONG = 1;
/// `DEVICE_DESCRIPTION_VERSION2`.
pub const DEVICE_DESCRIPTION_VERSION2: ULONG = 2;
/// `DEVICE_DESCRIPTION_VERSION3` (Windows 8 and later: the last four fields are valid).
pub const DEVICE_DESCRIPTION_VERSION3: ULONG = 3;

/// `DEVICE_DESCRIPTION`: the DMA capabilities `IMiniportWaveRT::GetDeviceDescription` fills in
/// (the Windows 8 and later layout, 64 bytes on 64-bit).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DEVICE_DESCRIPTION {
    /// `DEVICE_DESCRIPTION_VERSION*`.
    pub Version: ULONG,
    /// The device is a bus master.
    pub Master: BOOLEAN,
    /// The device supports scatter/gather.
    pub ScatterGather: BOOLEAN,
    /// System DMA demand mode.
    pub DemandMode: BOOLEAN,
    /// System DMA auto-initialize mode.
    pub AutoInitialize: BOOLEAN,
    /// The device uses 32-bit addresses.
    pub Dma32BitAddresses: BOOLEAN,
    /// Ignore the transfer count (system DMA quirk).
    pub IgnoreCount: BOOLEAN,
    /// Reserved, 0.
    pub Reserved1: BOOLEAN,
    /// The device uses 64-bit addresses.
    pub Dma64BitAddresses: BOOLEAN,
    /// Bus number (unused for Plug and Play devices).
    pub BusNumber: ULONG,
    /// System DMA channel.
    pub DmaChannel: ULONG,
    /// The bus type.
    pub InterfaceType: INTERFACE_TYPE,
    /// System DMA transfer width.
    pub DmaWidth: DMA_WIDTH,
    /// System DMA speed.
    pub DmaSpeed: DMA_SPEED,
    /// Largest transfer in bytes.
    pub MaximumLength: ULONG,
    /// Microchannel DMA port.
    pub DmaPort: ULONG,
    /// Address width in bits (version 3).
    pub DmaAddressWidth: ULONG,
    /// DMA controller instance (version 3).
    pub DmaControllerInstance: ULONG,
    /// DMA request line (version 3).
    pub DmaRequestLine: ULONG,
    /// Device-side address for system DMA (version 3).
    pub DeviceAddress: PHYSICAL_ADDRESS,
}
/// `PDEVICE_DESCRIPTION`.
pub type PDEVICE_DESCRIPTION = *mut DEVICE_DESCRIPTION;

/// `IRP_MJ_MAXIMUM_FUNCTION`: the highest major function code.
pub const IRP_MJ_MAXIMUM_FUNCTION: usize = 0x1b;
/// `IRP_MJ_POWER`.
pub const IRP_MJ_POWER: u8 = 0x16;
/// `IRP_MJ_PNP`.
pub const IRP_MJ_PNP: u8 = 0x1b;
/// `IRP_MN_START_DEVICE`.
pub const IRP_MN_START_DEVICE: u8 = 0x00;
/// `IRP_MN_REMOVE_DEVICE`.
pub const IRP_MN_REMOVE_DEVICE: u8 = 0x02;
/// `IRP_MN_STOP_DEVICE`.
pub const IRP_MN_STOP_DEVICE: u8 = 0x04;
/// `IRP_MN_SURPRISE_REMOVAL`.
pub const IRP_MN_SURPRISE_REMOVAL: u8 = 0x17;

/// Byte offset of `DeviceExtension` in a 64-bit `DEVICE_OBJECT` (x64 and arm64).
pub const DEVICE_OBJECT_EXTENSION_OFFSET: usize = 0x40;

/// Byte offset of `Tail.Overlay.CurrentStackLocation` in a 64-bit `IRP` (what the header's
/// inline `IoGetCurrentIrpStackLocation` reads; the same on x64 and arm64).
pub const IRP_CURRENT_STACK_LOCATION_OFFSET: usize = 0xB8;
/// Bytes of a 64-bit `IRP` without its stack locations.
pub const IRP_SIZE: usize = 0xD0;
/// Bytes of one 64-bit `IO_STACK_LOCATION`; `MajorFunction` is its byte 0, `MinorFunction`
/// byte 1.
pub const IO_STACK_LOCATION_SIZE: usize = 0x48;

/// `DEVICE_POWER_STATE` values as `POWER_STATE.DeviceState` carries them.
pub const POWER_DEVICE_D0: u32 = 1;
/// `PowerDeviceD1`.
pub const POWER_DEVICE_D1: u32 = 2;
/// `PowerDeviceD2`.
pub const POWER_DEVICE_D2: u32 = 3;
/// `PowerDeviceD3`.
pub const POWER_DEVICE_D3: u32 = 4;
/// `POWER_STATE`: a union of two 4-byte enums, passed by value; for an adapter's
/// `IAdapterPowerManagement` it is always the device state.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct POWER_STATE {
    /// `DeviceState` (`PowerDeviceD0` = 1 ... `PowerDeviceD3` = 4).
    pub DeviceState: u32,
}
/// `PDEVICE_CAPABILITIES`: only ever handled by pointer here.
pub type PDEVICE_CAPABILITIES = *mut core::ffi::c_void;

/// `PDRIVER_INITIALIZE`: the `DriverEntry` routine.
pub type PDRIVER_INITIALIZE = Option<
    crate::kernel_abi!(
        unsafe fn(DriverObject: PDRIVER_OBJECT, RegistryPath: PUNICODE_STRING) -> NTSTATUS
    ),
>;
/// `PDRIVER_ADD_DEVICE`: the `AddDevice` routine.
pub type PDRIVER_ADD_DEVICE = Option<
    crate::kernel_abi!(
        unsafe fn(DriverObject: PDRIVER_OBJECT, PhysicalDeviceObject: PDEVICE_OBJECT) -> NTSTATUS
    ),
>;
/// `PDRIVER_UNLOAD`: the `DriverUnload` routine.
pub type PDRIVER_UNLOAD = Option<crate::kernel_abi!(unsafe fn(DriverObject: PDRIVER_OBJECT))>;
/// `PDRIVER_DISPATCH`: an IRP dispatch routine.
pub type PDRIVER_DISPATCH =
    Option<crate::kernel_abi!(unsafe fn(DeviceObject: PDEVICE_OBJECT, Irp: PIRP) -> NTSTATUS)>;
/// `PDRIVER_STARTIO`: the `StartIo` routine.
pub type PDRIVER_STARTIO =
    Option<crate::kernel_abi!(unsafe fn(DeviceObject: PDEVICE_OBJECT, Irp: PIRP))>;

/// `DRIVER_OBJECT`: the I/O manager's object for a loaded driver (336 bytes on 64-bit). The
/// driver may set `DriverUnload` and hook `MajorFunction` entries after
/// `PcInitializeAdapterDriver`; everything else belongs to the I/O manager.
#[repr(C)]
#[derive(Debug)]
pub struct DRIVER_OBJECT {
    /// `IO_TYPE_DRIVER`.
    pub Type: CSHORT,
    /// Size of this structure.
    pub Size: CSHORT,
    /// The driver's first device object.
    pub DeviceObject: PDEVICE_OBJECT,
    /// Driver flags.
    pub Flags: ULONG,
    /// Image base.
    pub DriverStart: PVOID,
    /// Image size.
    pub DriverSize: ULONG,
    /// The loader's entry for the image.
    pub DriverSection: PVOID,
    /// The driver extension.
    pub DriverExtension: *mut DRIVER_EXTENSION,
    /// The driver's name (`\Driver\<service>`).
    pub DriverName: UNICODE_STRING,
    /// The hardware database registry path.
    pub HardwareDatabase: PUNICODE_STRING,
    /// File-system fast I/O table (null for audio drivers).
    pub FastIoDispatch: *mut FAST_IO_DISPATCH,
    /// `DriverEntry`.
    pub DriverInit: PDRIVER_INITIALIZE,
    /// `StartIo`.
    pub DriverStartIo: PDRIVER_STARTIO,
    /// `DriverUnload`.
    pub DriverUnload: PDRIVER_UNLOAD,
    /// Dispatch routines, indexed by `IRP_MJ_*`.
    pub MajorFunction: [PDRIVER_DISPATCH; IRP_MJ_MAXIMUM_FUNCTION + 1],
}
/// `PDRIVER_OBJECT`.
pub type PDRIVER_OBJECT = *mut DRIVER_OBJECT;

#[cfg(target_pointer_width = "64")]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    // Compared with the mingw-w64 wdm.h by a C compiler, except `DEVICE_DESCRIPTION`'s last
    // four fields (from 40 on) and its size: mingw-w64 lacks these Windows 8 additions, so
    // they follow the documented field list and the offsets published for the x64 kernel.
    assert!(size_of::<UNICODE_STRING>() == 16 && align_of::<UNICODE_STRING>() == 8);
    assert!(offset_of!(UNICODE_STRING, MaximumLength) == 2);
    assert!(offset_of!(UNICODE_STRING, Buffer) == 8);
    assert!(size_of::<LARGE_INTEGER>() == 8 && align_of::<LARGE_INTEGER>() == 8);
    assert!(offset_of!(LARGE_INTEGER_PARTS, HighPart) == 4);
    assert!(size_of::<MEMORY_CACHING_TYPE>() == 4);
    assert!(size_of::<DEVICE_REGISTRY_PROPERTY>() == 4);
    assert!(offset_of!(DEVICE_DESCRIPTION, Master) == 4);
    assert!(offset_of!(DEVICE_DESCRIPTION, Dma32BitAddresses) == 8);
    assert!(offset_of!(DEVICE_DESCRIPTION, Dma64BitAddresses) == 11);
    assert!(offset_of!(DEVICE_DESCRIPTION, BusNumber) == 12);
    assert!(offset_of!(DEVICE_DESCRIPTION, InterfaceType) == 20);
    assert!(offset_of!(DEVICE_DESCRIPTION, MaximumLength) == 32);
    assert!(offset_of!(DEVICE_DESCRIPTION, DmaPort) == 36);
    assert!(offset_of!(DEVICE_DESCRIPTION, DmaAddressWidth) == 40);
    assert!(offset_of!(DEVICE_DESCRIPTION, DmaRequestLine) == 48);
    assert!(offset_of!(DEVICE_DESCRIPTION, DeviceAddress) == 56);
    assert!(size_of::<DEVICE_DESCRIPTION>() == 64);
    assert!(size_of::<DRIVER_OBJECT>() == 336);
    assert!(offset_of!(DRIVER_OBJECT, DeviceObject) == 8);
    assert!(offset_of!(DRIVER_OBJECT, Flags) == 16);
    assert!(offset_of!(DRIVER_OBJECT, DriverStart) == 24);
    assert!(offset_of!(DRIVER_OBJECT, DriverSize) == 32);
    assert!(offset_of!(DRIVER_OBJECT, DriverSection) == 40);
    assert!(offset_of!(DRIVER_OBJECT, DriverExtension) == 48);
    assert!(offset_of!(DRIVER_OBJECT, DriverName) == 56);
    assert!(offset_of!(DRIVER_OBJECT, HardwareDatabase) == 72);
    assert!(offset_of!(DRIVER_OBJECT, FastIoDispatch) == 80);
    assert!(offset_of!(DRIVER_OBJECT, DriverInit) == 88);
    assert!(offset_of!(DRIVER_OBJECT, DriverStartIo) == 96);
    assert!(offset_of!(DRIVER_OBJECT, DriverUnload) == 104);
    assert!(offset_of!(DRIVER_OBJECT, MajorFunction) == 112);
};

// With `wdk`, the structures that stay ours against wdk-sys's, which bindgen generated from the
// WDK this build uses: same size, same field offsets, so pointers may be cast between them.
#[cfg(all(feature = "wdk", target_pointer_width = "64"))]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<DRIVER_OBJECT>() == size_of::<wdk_sys::DRIVER_OBJECT>());
    assert!(
        offset_of!(DRIVER_OBJECT, DeviceObject) == offset_of!(wdk_sys::DRIVER_OBJECT, DeviceObject)
    );
    assert!(
        offset_of!(DRIVER_OBJECT, DriverExtension)
            == offset_of!(wdk_sys::DRIVER_OBJECT, DriverExtension)
    );
    assert!(
        offset_of!(DRIVER_OBJECT, DriverName) == offset_of!(wdk_sys::DRIVER_OBJECT, DriverName)
    );
    assert!(
        offset_of!(DRIVER_OBJECT, DriverInit) == offset_of!(wdk_sys::DRIVER_OBJECT, DriverInit)
    );
    assert!(
        offset_of!(DRIVER_OBJECT, DriverUnload) == offset_of!(wdk_sys::DRIVER_OBJECT, DriverUnload)
    );
    assert!(
        offset_of!(DRIVER_OBJECT, MajorFunction)
            == offset_of!(wdk_sys::DRIVER_OBJECT, MajorFunction)
    );
    assert!(size_of::<UNICODE_STRING>() == size_of::<wdk_sys::UNICODE_STRING>());
    assert!(
        offset_of!(UNICODE_STRING, MaximumLength)
            == offset_of!(wdk_sys::UNICODE_STRING, MaximumLength)
    );
    assert!(offset_of!(UNICODE_STRING, Buffer) == offset_of!(wdk_sys::UNICODE_STRING, Buffer));
    assert!(size_of::<LARGE_INTEGER>() == size_of::<wdk_sys::LARGE_INTEGER>());
    assert!(align_of::<LARGE_INTEGER>() == align_of::<wdk_sys::LARGE_INTEGER>());
    assert!(size_of::<DEVICE_DESCRIPTION>() == size_of::<wdk_sys::DEVICE_DESCRIPTION>());
    assert!(
        offset_of!(DEVICE_DESCRIPTION, Dma64BitAddresses)
            == offset_of!(wdk_sys::DEVICE_DESCRIPTION, Dma64BitAddresses)
    );
    assert!(
        offset_of!(DEVICE_DESCRIPTION, InterfaceType)
            == offset_of!(wdk_sys::DEVICE_DESCRIPTION, InterfaceType)
    );
    assert!(
        offset_of!(DEVICE_DESCRIPTION, DmaPort) == offset_of!(wdk_sys::DEVICE_DESCRIPTION, DmaPort)
    );
    assert!(
        offset_of!(DEVICE_DESCRIPTION, DmaAddressWidth)
            == offset_of!(wdk_sys::DEVICE_DESCRIPTION, DmaAddressWidth)
    );
    assert!(
        offset_of!(DEVICE_DESCRIPTION, DeviceAddress)
            == offset_of!(wdk_sys::DEVICE_DESCRIPTION, DeviceAddress)
    );
    assert!(
        size_of::<IO_DISCONNECT_INTERRUPT_PARAMETERS>()
            == size_of::<wdk_sys::IO_DISCONNECT_INTERRUPT_PARAMETERS>()
    );
    assert!(
        offset_of!(IO_DISCONNECT_INTERRUPT_PARAMETERS, ConnectionContext)
            == offset_of!(
                wdk_sys::IO_DISCONNECT_INTERRUPT_PARAMETERS,
                ConnectionContext
            )
    );
    assert!(size_of::<POWER_STATE>() == size_of::<wdk_sys::POWER_STATE>());
    // The offsets and sizes the driver reads raw memory with.
    assert!(DEVICE_OBJECT_EXTENSION_OFFSET == offset_of!(wdk_sys::DEVICE_OBJECT, DeviceExtension));
    assert!(IRP_SIZE == size_of::<wdk_sys::IRP>());
    assert!(IO_STACK_LOCATION_SIZE == size_of::<wdk_sys::IO_STACK_LOCATION>());
};
