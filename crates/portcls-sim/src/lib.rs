//! A user-mode model of PortCls and the kernel services around its stream-resource API.
//!
//! `portcls-sim` is what a driver's code runs against on a development host. It is not a mock
//! with canned answers: it keeps the state the real system would (port objects with reference
//! counts, device objects, thread objects, interrupt connections, the live stream-resource
//! registrations and which object made each), enforces the documented rules of each routine,
//! and, like Driver Verifier, records every breach as a [`Violation`] instead of letting it pass.
//!
//! It defines, with `#[no_mangle]`, the very symbols `portcls-sys` declares (the
//! stream-resource exports `PcAddStreamResource`, `PcRemoveStreamResource` and
//! `PcGetPhysicalDeviceObject`; the adapter functions such as `PcInitializeAdapterDriver`,
//! `PcAddAdapterDevice` and `PcNewPort`; and the kernel routines such as `ObfReferenceObject`,
//! `IoDisconnectInterruptEx`, `IoGetDmaAdapter` and `KeGetCurrentIrql`), so the library code
//! under test is the code that ships. A test binary must reference this crate
//! (`use portcls_sim as _;` or any call into it) for the linker to pick those definitions.
//!
//! # Example
//! The smallest adapter driver PortCls accepts, loaded, plugged in, started, removed and
//! unloaded on a simulated Windows 10 1511. Every kernel-facing function is declared with
//! [`portcls_sys::kernel_abi!`], so it has the Windows calling convention on the host too:
//! ```
//! use portcls_sim::{OsProfile, Sim};
//! use portcls_sys::km::{PDRIVER_OBJECT, PIRP, PUNICODE_STRING};
//! use portcls_sys::wavert::{
//!     PORT_CLASS_DEVICE_EXTENSION_SIZE, PRESOURCELIST, PcAddAdapterDevice,
//!     PcInitializeAdapterDriver,
//! };
//! use portcls_sys::{NTSTATUS, PDEVICE_OBJECT, STATUS_SUCCESS};
//!
//! portcls_sys::kernel_abi! {
//!     unsafe fn start_device(_fdo: PDEVICE_OBJECT, _irp: PIRP, _res: PRESOURCELIST) -> NTSTATUS {
//!         STATUS_SUCCESS // a real driver makes its ports and subdevices here
//!     }
//!
//!     unsafe fn add_device(driver: PDRIVER_OBJECT, pdo: PDEVICE_OBJECT) -> NTSTATUS {
//!         // SAFETY: the arguments the system passed, forwarded.
//!         unsafe {
//!             PcAddAdapterDevice(
//!                 driver,
//!                 pdo,
//!                 Some(start_device),
//!                 1, // at most one subdevice
//!                 PORT_CLASS_DEVICE_EXTENSION_SIZE,
//!             )
//!         }
//!     }
//!
//!     unsafe fn driver_entry(driver: PDRIVER_OBJECT, path: PUNICODE_STRING) -> NTSTATUS {
//!         // SAFETY: the arguments the I/O manager passed, forwarded.
//!         unsafe { PcInitializeAdapterDriver(driver, path, Some(add_device)) }
//!     }
//! }
//!
//! let sim = Sim::new(OsProfile::Win10_1511);
//! assert_eq!(sim.load_driver(driver_entry), STATUS_SUCCESS);
//! let device = sim.plug_in()?; // AddDevice
//! assert_eq!(sim.start_device(&device), STATUS_SUCCESS); // IRP_MN_START_DEVICE
//! sim.remove_device(device.fdo); // IRP_MN_REMOVE_DEVICE
//! sim.unload_driver()?; // DriverUnload
//! assert!(sim.violations().is_empty());
//! sim.assert_clean(); // nothing leaked, nothing left registered
//! # Ok::<(), NTSTATUS>(())
//! ```
//!
//! A driver's own tests do the same with its real `DriverEntry`, or load the `.sys` it ships
//! with [`Sim::load_image`] (the image's machine must be the host's: an x64 image on x86-64,
//! an arm64 image on arm64).
//!
//! # A simulated machine per test
//! [`Sim::new`] makes a machine with an [`OsProfile`] and binds it to the calling thread; the
//! exported routines act on the machine bound to the thread that calls them, so tests running
//! in parallel never see each other. Other threads join with [`Sim::bind_current_thread`].
//! IRQL is per thread ([`raise_irql`]).
//!
//! # Deterministic schedules
//! [`Sim::new_deterministic`] makes a machine whose threads run one at a time, switching only
//! where a [`Schedule`] says (at calls into the model, calls into the driver, spin locks and
//! waits), so a race replays exactly from its seed: see [`deterministic`].
//!
//! # DMA
//! Each machine has [physical memory](physical): common buffers of the DMA adapters
//! `IoGetDmaAdapter` hands out ([`dma`]) and the pages of WaveRT streams' MDLs come from it, and
//! a device model reaches them by physical address through [`Sim::device_memory`], only
//! inside the allocations the driver handed out for DMA.
//!
//! # Faults
//! [`Sim::fail_nth_call`] and [`Sim::fail_call`] make a fallible routine return a chosen status
//! (and do nothing else), which is how tests walk every failure point.
//!
//! # Device registers
//! [`mmio::MmioWindow`] is a range of addresses whose plain loads and stores, by the host build
//! or by an image's machine code, reach a [`mmio::MmioDevice`] with register semantics: the
//! model traps them (no-access pages, a fault handler that decodes and emulates the
//! instruction), as a virtual machine monitor does. See [`mmio`].
//!
//! # Hosts
//! The crate needs `std` and a Unix host (images are mapped with `mmap`); it is tested on
//! x86-64 Linux and, under qemu-aarch64, on arm64 Linux. It is never built for the kernel
//! targets: a driver takes it as a dev-dependency.
#![allow(clippy::missing_panics_doc)]

mod adapter;
pub mod conformance;
pub mod deterministic;
pub mod device_work;
pub mod dma;
pub mod exports;
pub mod idle;
pub mod image;
pub mod interrupt;
pub mod ks_client;
pub mod ks_events;
pub mod ks_rules;
pub mod mmio;
mod modes;
pub mod pci;
pub mod physical;
mod pnp;
pub mod pool;
mod port;
pub mod port_properties;
pub mod property;
pub mod sched;
pub mod stack;
pub mod stream;
pub mod sync;
pub mod virtio_pci;
pub mod wav;
mod world;

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::fmt;
use std::sync::Arc;

use portcls_sys::km::{
    CONNECT_FULLY_SPECIFIED, CONNECT_LINE_BASED, CONNECT_MESSAGE_BASED,
    IO_DISCONNECT_INTERRUPT_PARAMETERS, KIRQL, PASSIVE_LEVEL,
};
use portcls_sys::{
    GUID, NTSTATUS, PCSTREAMRESOURCE, PCSTREAMRESOURCE_DESCRIPTOR, PDEVICE_OBJECT, PETHREAD,
    PUNKNOWN, PVOID, STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_PARAMETER, STATUS_NOT_IMPLEMENTED,
    STATUS_SUCCESS,
};

pub use adapter::{DriverEntry, PhysicalConnection, PortKind, Subdevice};
pub use deterministic::{Schedule, Strategy};
pub use dma::{DmaBreach, IoGetDmaAdapter};
pub use idle::{IdleSettings, PowerSource};
pub use modes::ModesAnswer;
pub use pci::{Bar, BarMapper, ConfigSpace, HardwareRule, PciDevice, PciInterrupts};
pub use physical::{
    DeviceAccessError, DeviceFault, DeviceMemory, DmaOwner, DmaRange, PhysicalArena,
    WeakDeviceMemory,
};
pub use pnp::PnpRequest;
pub use pool::Tag;
pub use property::{Endpoint, PropertyOutcome, Target};
pub use stack::StackUse;
pub use stream::{Stream, StreamBuffer};
pub use world::TraceEvent;
use world::{Injection, World};

/// Which Windows the simulated PortCls behaves like.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum OsProfile {
    /// Windows 8.1: no stream-resource interface, and portcls.sys lacks the exports (a driver
    /// that imports them would not load).
    Windows81,
    /// Windows 10 1507 (build 10240): interface v1 and the exports.
    Win10_1507,
    /// Windows 10 1511 (build 10586) up to 1909: interfaces v2 and v1, and the exports.
    Win10_1511,
    /// Windows 10 2004 (build 19041) and later: as 1511, and the kernel has `ExAllocatePool2`.
    Win10_2004,
}

impl OsProfile {
    /// Every profile, oldest first.
    pub const ALL: [Self; 4] = [
        Self::Windows81,
        Self::Win10_1507,
        Self::Win10_1511,
        Self::Win10_2004,
    ];

    /// The build number the profile stands for.
    #[must_use]
    pub const fn build(self) -> u32 {
        match self {
            Self::Windows81 => 9600,
            Self::Win10_1507 => 10240,
            Self::Win10_1511 => 10586,
            Self::Win10_2004 => 19041,
        }
    }

    /// Whether ports answer `IID_IPortClsStreamResourceManager2`.
    #[must_use]
    pub const fn has_interface_v2(self) -> bool {
        matches!(self, Self::Win10_1511 | Self::Win10_2004)
    }

    /// Whether ports answer `IID_IPortClsStreamResourceManager`.
    #[must_use]
    pub const fn has_interface_v1(self) -> bool {
        !matches!(self, Self::Windows81)
    }

    /// Whether ntoskrnl.exe exports `ExAllocatePool2` (build 19041 on).
    #[must_use]
    pub const fn has_allocate_pool2(self) -> bool {
        self.build() >= 19041
    }

    /// Whether PortCls asks a WaveRT stream for the packet-mode interfaces
    /// (`IMiniportWaveRTOutputStream` for render, `IMiniportWaveRTInputStream` for capture):
    /// portcls.h declares them from Windows 10 (`NTDDI_WIN10`, build 10240) on.
    #[must_use]
    pub const fn has_packet_interfaces(self) -> bool {
        self.build() >= 10240
    }

    /// Whether portcls.sys exports `PcAddStreamResource` / `PcRemoveStreamResource`.
    #[must_use]
    pub const fn has_exports(self) -> bool {
        !matches!(self, Self::Windows81)
    }
}

impl fmt::Display for OsProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Windows81 => "Windows 8.1 (9600)",
            Self::Win10_1507 => "Windows 10 1507 (10240)",
            Self::Win10_1511 => "Windows 10 1511 (10586)",
            Self::Win10_2004 => "Windows 10 2004 (19041)",
        })
    }
}

/// A routine of the simulated system.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Ddi {
    /// `IUnknown::QueryInterface` on a port.
    QueryInterface,
    /// `IUnknown::AddRef` on a port.
    AddRef,
    /// `IUnknown::Release` on a port.
    Release,
    /// `IPortClsStreamResourceManager::AddStreamResource`.
    AddStreamResource,
    /// `IPortClsStreamResourceManager2::AddStreamResource2`.
    AddStreamResource2,
    /// `IPortClsStreamResourceManager::RemoveStreamResource`.
    RemoveStreamResource,
    /// `PcAddStreamResource`.
    PcAddStreamResource,
    /// `PcRemoveStreamResource`.
    PcRemoveStreamResource,
    /// `PcGetPhysicalDeviceObject`.
    PcGetPhysicalDeviceObject,
    /// `ObfReferenceObject`.
    ObfReferenceObject,
    /// `ObfDereferenceObject`.
    ObfDereferenceObject,
    /// `IoDisconnectInterruptEx`.
    IoDisconnectInterruptEx,
    /// `ExAllocatePoolWithTag`.
    ExAllocatePoolWithTag,
    /// `ExAllocatePool2`.
    ExAllocatePool2,
    /// `ExFreePoolWithTag`.
    ExFreePoolWithTag,
    /// `MmGetSystemRoutineAddress`.
    MmGetSystemRoutineAddress,
    /// `KeSetEvent`.
    KeSetEvent,
    /// `KeWaitForSingleObject` (and `KeDelayExecutionThread`).
    KeWaitForSingleObject,
    /// `PsCreateSystemThread`.
    PsCreateSystemThread,
    /// `PsTerminateSystemThread`.
    PsTerminateSystemThread,
    /// `ObReferenceObjectByHandle`.
    ObReferenceObjectByHandle,
    /// `ZwClose`.
    ZwClose,
    /// `PcInitializeAdapterDriver`.
    PcInitializeAdapterDriver,
    /// The driver object's `DriverUnload` (PortCls's, which `PcInitializeAdapterDriver`
    /// installs, or the driver's own in front of it).
    DriverUnload,
    /// `PcAddAdapterDevice`.
    PcAddAdapterDevice,
    /// `PcNewPort`.
    PcNewPort,
    /// `IPort::Init`.
    PortInit,
    /// `PcRegisterSubdevice`.
    PcRegisterSubdevice,
    /// `PcRegisterPhysicalConnection`.
    PcRegisterPhysicalConnection,
    /// `KeAcquireSpinLockRaiseToDpc`.
    KeAcquireSpinLock,
    /// `KeReleaseSpinLock`.
    KeReleaseSpinLock,
    /// `IMiniport::DataRangeIntersection` (format negotiation before a pin is made).
    DataRangeIntersection,
    /// `IMiniportWaveRT::NewStream` (the port calling the miniport).
    NewStream,
    /// `IMiniportWaveRTStream::SetFormat`.
    SetFormat,
    /// `IMiniportWaveRTStream::SetState`.
    SetState,
    /// `IMiniportWaveRTStream::GetPosition`.
    GetPosition,
    /// `IMiniportWaveRTStream::GetHWLatency`.
    GetHwLatency,
    /// `IMiniportWaveRTStream::GetPositionRegister` / `GetClockRegister`.
    GetRegister,
    /// `IMiniportWaveRTStream::AllocateAudioBuffer`.
    AllocateAudioBuffer,
    /// `IMiniportWaveRTStreamNotification::AllocateBufferWithNotification`.
    AllocateBufferWithNotification,
    /// `FreeAudioBuffer` / `FreeBufferWithNotification`.
    FreeBuffer,
    /// `IMiniportWaveRTStreamNotification::RegisterNotificationEvent`.
    RegisterNotificationEvent,
    /// `IMiniportWaveRTStreamNotification::UnregisterNotificationEvent`.
    UnregisterNotificationEvent,
    /// The port releasing a miniport stream when its pin closes.
    CloseStream,
    /// `IPortWaveRTStream::AllocatePagesForMdl` (and the contiguous variant).
    AllocatePagesForMdl,
    /// `IPortWaveRTStream::MapAllocatedPages`.
    MapAllocatedPages,
    /// `IPortWaveRTStream::UnmapAllocatedPages`.
    UnmapAllocatedPages,
    /// `IPortWaveRTStream::FreePagesFromMdl`.
    FreePagesFromMdl,
    /// `PcDispatchIrp` (PortCls handling a PnP IRP).
    PcDispatchIrp,
    /// `PcRegisterAdapterPowerManagement`.
    PcRegisterAdapterPowerManagement,
    /// `IAdapterPowerManagement::PowerChangeState` (PortCls calling the adapter).
    PowerChangeState,
    /// A property request through a miniport's automation table.
    Property,
    /// `IMiniportWaveRTOutputStream::SetWritePacket`.
    SetWritePacket,
    /// `IMiniportWaveRTOutputStream::GetOutputStreamPresentationPosition`.
    GetPresentationPosition,
    /// `IMiniportWaveRTOutputStream::GetPacketCount`.
    GetPacketCount,
    /// `IMiniportWaveRTInputStream::GetReadPacket`.
    GetReadPacket,
    /// `IMiniportAudioSignalProcessing::GetModes` (PortCls asking a wave miniport for the
    /// signal-processing modes of a pin), and the `QueryInterface` for it.
    GetModes,
    /// `IPortWaveRTStream::GetPhysicalPageAddress`.
    GetPhysicalPageAddress,
    /// `IoGetDmaAdapter`.
    IoGetDmaAdapter,
    /// `DMA_OPERATIONS::PutDmaAdapter`.
    PutDmaAdapter,
    /// `DMA_OPERATIONS::AllocateCommonBuffer`.
    AllocateCommonBuffer,
    /// `DMA_OPERATIONS::FreeCommonBuffer`.
    FreeCommonBuffer,
    /// `DMA_OPERATIONS::GetDmaAlignment`.
    GetDmaAlignment,
    /// Any other `DMA_OPERATIONS` entry (not modeled: see [`dma`]).
    DmaOperation,
    /// `IoConnectInterruptEx`.
    IoConnectInterruptEx,
    /// An interrupt service routine (the system calling the driver's ISR).
    InterruptService,
    /// `KeAcquireInterruptSpinLock` / `KeReleaseInterruptSpinLock`.
    KeAcquireInterruptSpinLock,
    /// `KeSynchronizeExecution`.
    KeSynchronizeExecution,
    /// `KeInitializeDpc` / `KeInsertQueueDpc`.
    KeInsertQueueDpc,
    /// `KeRemoveQueueDpc`.
    KeRemoveQueueDpc,
    /// `KeFlushQueuedDpcs`.
    KeFlushQueuedDpcs,
    /// A DPC's deferred routine (the system calling the driver).
    DeferredRoutine,
    /// A method of the `IResourceList` PortCls handed `StartDevice`.
    ResourceList,
    /// `IoBuildSynchronousFsdRequest`.
    IoBuildSynchronousFsdRequest,
    /// `IofCallDriver` (`IoCallDriver`).
    IofCallDriver,
    /// A routine of the PCI bus interface (`GetBusData`, `SetBusData`, `InterfaceReference`,
    /// `InterfaceDereference`).
    BusInterface,
    /// `MmMapIoSpace`.
    MmMapIoSpace,
    /// `MmUnmapIoSpace`.
    MmUnmapIoSpace,
    /// `KeStallExecutionProcessor`.
    KeStallExecutionProcessor,
    /// `IPortEvents::AddEventToEventList`.
    AddEventToEventList,
    /// `IPortEvents::GenerateEventList`.
    GenerateEventList,
    /// A miniport's event handler (PortCls calling it to enable or disable a KS event).
    EventHandler,
}

impl Ddi {
    /// The highest IRQL the documentation allows the routine at.
    #[must_use]
    pub const fn max_irql(self) -> KIRQL {
        match self {
            Self::AddStreamResource
            | Self::AddStreamResource2
            | Self::RemoveStreamResource
            | Self::PcAddStreamResource
            | Self::PcRemoveStreamResource
            | Self::IoDisconnectInterruptEx
            | Self::MmGetSystemRoutineAddress
            | Self::PsCreateSystemThread
            | Self::PsTerminateSystemThread
            | Self::ObReferenceObjectByHandle
            | Self::ZwClose
            | Self::PcInitializeAdapterDriver
            | Self::DriverUnload
            | Self::PcAddAdapterDevice
            | Self::PcNewPort
            | Self::PortInit
            | Self::PcRegisterSubdevice
            | Self::PcRegisterPhysicalConnection
            | Self::DataRangeIntersection
            | Self::NewStream
            | Self::SetFormat
            | Self::SetState
            | Self::AllocateAudioBuffer
            | Self::AllocateBufferWithNotification
            | Self::FreeBuffer
            | Self::RegisterNotificationEvent
            | Self::UnregisterNotificationEvent
            | Self::CloseStream
            | Self::AllocatePagesForMdl
            | Self::MapAllocatedPages
            | Self::UnmapAllocatedPages
            | Self::FreePagesFromMdl
            | Self::PcDispatchIrp
            | Self::PcRegisterAdapterPowerManagement
            | Self::PowerChangeState
            | Self::Property
            | Self::SetWritePacket
            | Self::GetPresentationPosition
            | Self::GetPacketCount
            | Self::GetReadPacket
            | Self::GetModes
            | Self::IoGetDmaAdapter
            | Self::PutDmaAdapter
            | Self::AllocateCommonBuffer
            | Self::FreeCommonBuffer
            | Self::GetDmaAlignment
            | Self::IoConnectInterruptEx
            | Self::KeFlushQueuedDpcs
            | Self::IoBuildSynchronousFsdRequest
            | Self::EventHandler => PASSIVE_LEVEL,
            Self::QueryInterface
            | Self::AddRef
            | Self::Release
            | Self::ObfReferenceObject
            | Self::ObfDereferenceObject
            | Self::ExAllocatePoolWithTag
            | Self::ExAllocatePool2
            | Self::ExFreePoolWithTag
            | Self::KeSetEvent
            | Self::KeWaitForSingleObject
            | Self::KeAcquireSpinLock
            | Self::KeReleaseSpinLock
            | Self::GetPosition
            | Self::GetHwLatency
            | Self::GetRegister
            | Self::GetPhysicalPageAddress
            | Self::DmaOperation
            | Self::DeferredRoutine
            | Self::ResourceList
            | Self::IofCallDriver
            | Self::BusInterface
            | Self::MmMapIoSpace
            | Self::MmUnmapIoSpace
            | Self::AddEventToEventList
            | Self::GenerateEventList => portcls_sys::km::DISPATCH_LEVEL,
            // Any IRQL up to HIGH_LEVEL (the interrupt spin lock: up to the interrupt's DIRQL,
            // checked by the routine).
            Self::InterruptService
            | Self::KeAcquireInterruptSpinLock
            | Self::KeSynchronizeExecution
            | Self::KeInsertQueueDpc
            | Self::KeRemoveQueueDpc
            | Self::KeStallExecutionProcessor => portcls_sys::hw::HIGH_LEVEL,
            // "Any level".
            Self::PcGetPhysicalDeviceObject => u8::MAX,
        }
    }
}

impl fmt::Display for Ddi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Through which object a registration was made.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Via {
    /// `AddStreamResource2` on the given port.
    InterfaceV2 {
        /// The port's id.
        port: u64,
    },
    /// `AddStreamResource` on the given port.
    InterfaceV1 {
        /// The port's id.
        port: u64,
    },
    /// The portcls.sys export.
    Export,
}

impl Via {
    /// Whether removal through `other` reaches the object that registered: the same port (v1
    /// and v2 are one object), or the export for the export.
    #[must_use]
    pub const fn same_object(self, other: Self) -> bool {
        match (self, other) {
            (
                Self::InterfaceV1 { port: a } | Self::InterfaceV2 { port: a },
                Self::InterfaceV1 { port: b } | Self::InterfaceV2 { port: b },
            ) => a == b,
            (Self::Export, Self::Export) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InterfaceV2 { port } => write!(f, "v2 on port#{port}"),
            Self::InterfaceV1 { port } => write!(f, "v1 on port#{port}"),
            Self::Export => f.write_str("export"),
        }
    }
}

/// A resource as a registration names it (addresses, since the objects are opaque).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Resource {
    /// A thread object.
    Thread(usize),
    /// An interrupt connection: its context and version.
    Interrupt {
        /// The `KINTERRUPT` or `IO_INTERRUPT_MESSAGE_INFO` address.
        context: usize,
        /// The `CONNECT_*` version.
        version: u32,
    },
}

impl Resource {
    /// The 40 bytes of a correct `PCSTREAMRESOURCE_DESCRIPTOR` registering this resource for
    /// `pdo` (the x64 and arm64 layout, every padding byte zero): what PortCls must see, to
    /// compare with [`StreamResource::descriptor`].
    #[must_use]
    pub fn descriptor_bytes(self, pdo: usize) -> [u8; 40] {
        let mut bytes = [0u8; 40];
        bytes[0..4].copy_from_slice(&40u32.to_le_bytes());
        bytes[8..16].copy_from_slice(&(pdo as u64).to_le_bytes());
        match self {
            Self::Thread(thread) => {
                bytes[16..20].copy_from_slice(&1u32.to_le_bytes());
                bytes[24..32].copy_from_slice(&(thread as u64).to_le_bytes());
            }
            Self::Interrupt { context, version } => {
                bytes[24..28].copy_from_slice(&version.to_le_bytes());
                bytes[32..40].copy_from_slice(&(context as u64).to_le_bytes());
            }
        }
        bytes
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Thread(address) => write!(f, "thread {address:#x}"),
            Self::Interrupt { context, version } => {
                write!(f, "interrupt {context:#x} (version {version})")
            }
        }
    }
}

/// A live stream-resource registration as PortCls holds it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct StreamResource {
    /// The handle handed back.
    pub handle: usize,
    /// The object that registered it.
    pub via: Via,
    /// The PDO it was registered for.
    pub pdo: usize,
    /// The resource.
    pub resource: Resource,
    /// The descriptor's 40 bytes exactly as PortCls read them.
    pub descriptor: [u8; 40],
}

/// A breach of a documented rule, as Driver Verifier would report it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Violation {
    /// A routine was called above its maximum IRQL (Windows would bug-check).
    IrqlTooHigh {
        /// The routine.
        ddi: Ddi,
        /// The caller's IRQL.
        irql: KIRQL,
    },
    /// A routine was called on a port whose last reference had been released.
    UseAfterRelease {
        /// The routine.
        ddi: Ddi,
        /// The port id.
        object: u64,
    },
    /// A resource was registered that is not a live thread or connected interrupt.
    ResourceNotLive {
        /// The routine.
        ddi: Ddi,
        /// The resource.
        resource: Resource,
    },
    /// A resource was registered for a PDO the system does not know.
    UnknownPdo {
        /// The routine.
        ddi: Ddi,
        /// The address passed.
        pdo: usize,
    },
    /// A handle that is not registered (never was, or already removed) was removed.
    UnknownHandle {
        /// The routine.
        ddi: Ddi,
        /// The handle.
        handle: usize,
    },
    /// A registration was removed through another object than the one that made it.
    RemovedThroughOtherObject {
        /// The handle.
        handle: usize,
        /// Who registered it.
        registered_via: Via,
        /// Who tried to remove it.
        via: Via,
    },
    /// The driver called a portcls.sys export this Windows does not have: the driver would not
    /// have loaded.
    ImportMissing {
        /// The export.
        ddi: Ddi,
    },
    /// A thread exited, or its object was freed, while still registered.
    ThreadGoneWhileRegistered {
        /// The thread object.
        thread: usize,
    },
    /// An interrupt was disconnected while still registered.
    DisconnectedWhileRegistered {
        /// The connection context.
        context: usize,
    },
    /// An object reference was dropped that was not held.
    OverRelease {
        /// The routine.
        ddi: Ddi,
        /// The object.
        object: usize,
    },
    /// A miniport's filter descriptor breaks KS rules endpoint creation depends on
    /// ([`Sim::descriptor_breaches`] says which).
    FilterRules {
        /// The port whose miniport described it.
        port: u64,
        /// How many rules it breaks.
        breaches: usize,
    },
    /// Executable pool was requested (memory integrity forbids it).
    ExecutablePool {
        /// The routine.
        ddi: Ddi,
        /// The allocation's tag.
        tag: Tag,
    },
    /// Pool was freed that is not allocated (never was, or freed already).
    BadFree {
        /// The address passed.
        address: usize,
    },
    /// Pool was freed with another tag than it was allocated with.
    TagMismatch {
        /// The block.
        address: usize,
        /// The tag it was allocated with.
        allocated: Tag,
        /// The tag passed to the free.
        freed: Tag,
    },
    /// A kernel routine was given an object the system does not know, or the wrong version.
    BadObject {
        /// The routine.
        ddi: Ddi,
        /// The object.
        object: usize,
    },
    /// A spin lock was acquired by the thread that already holds it (a deadlock on Windows).
    SpinLockRecursion {
        /// The lock's address.
        lock: usize,
    },
    /// A spin lock was released by a thread that does not hold it.
    SpinLockNotHeld {
        /// The lock's address.
        lock: usize,
    },
    /// Pages were freed while still mapped, or mapped twice, or unmapped at another address.
    MdlMisuse {
        /// The routine.
        ddi: Ddi,
        /// The MDL.
        mdl: usize,
    },
    /// A stream resource of the device was still registered at a moment the documentation
    /// says it must be gone (stop, surprise removal, removal, leaving D0).
    RegisteredAcrossTransition {
        /// The moment.
        transition: &'static str,
        /// How many registrations were left.
        registrations: usize,
    },
    /// A property handler claimed to have written more than the value buffer holds.
    PropertyContract {
        /// The property id.
        id: u32,
        /// The `ValueSize` the handler reported.
        claimed: u32,
        /// The bytes the buffer held.
        capacity: u32,
    },
    /// `GetModes` succeeded reporting more modes than the caller's buffer had room for.
    ModesContract {
        /// The pin asked about.
        pin: u32,
        /// The count the miniport reported.
        reported: u32,
        /// The GUIDs the buffer held.
        capacity: u32,
    },
    /// A miniport stream broke the WaveRT stream contract (an answer out of range, a buffer
    /// not freed by its close, a reference kept after the pin closed).
    StreamContract {
        /// The routine whose answer or aftermath broke it.
        ddi: Ddi,
        /// The stream's id.
        stream: u64,
    },
    /// A driver COM object reported fewer references than the system alone holds on it: the
    /// driver released references it did not own (it will be freed while still in use).
    DriverReferenceCount {
        /// The object's address.
        object: usize,
        /// References the system holds.
        held: u32,
        /// The count the object's `AddRef` or `Release` returned.
        reported: u32,
    },
    /// The driver freed a COM object the system still holds references on.
    DriverObjectFreedWhileHeld {
        /// The object's address.
        object: usize,
        /// References the system held.
        held: u32,
    },
    /// The driver replaced the driver object's `DriverUnload` and its routine did not call
    /// PortCls's (which frees what PortCls keeps for the driver).
    PortClsUnloadSkipped,
    /// The driver freed pool holding an event a thread was still waiting on (Driver Verifier
    /// checks freed pool for live dispatcher objects).
    WaitedEventFreed {
        /// The event's address.
        event: usize,
    },
    /// A DMA rule was broken (see [`dma`]).
    Dma {
        /// The routine.
        ddi: Ddi,
        /// The `DMA_ADAPTER`'s address (0 when there is none yet).
        adapter: usize,
        /// Which rule, with what was passed.
        breach: DmaBreach,
    },
    /// A device accessed physical memory outside every live DMA allocation (see
    /// [`physical`]); the access did not happen.
    DeviceAccess {
        /// Its first physical address.
        physical: u64,
        /// Its length in bytes.
        length: usize,
        /// Whether it was a write (or an in-place access).
        write: bool,
        /// What was there.
        fault: DeviceFault,
    },
    /// A rule of the hardware routines (interrupts, DPCs, the bus interface, device memory:
    /// see [`pci`] and [`interrupt`]).
    Hardware {
        /// The routine.
        ddi: Ddi,
        /// The rule broken.
        rule: HardwareRule,
    },
}

impl Violation {
    /// The driver COM object the violation is about, if any.
    const fn driver_object(self) -> Option<usize> {
        match self {
            Self::DriverReferenceCount { object, .. }
            | Self::DriverObjectFreedWhileHeld { object, .. } => Some(object),
            _ => None,
        }
    }
}

/// `STATUS_BUFFER_TOO_SMALL`.
const STATUS_BUFFER_TOO_SMALL: NTSTATUS = 0xC000_0023_u32.cast_signed();
/// `STATUS_NO_MATCH`.
const STATUS_NO_MATCH: NTSTATUS = 0xC000_001E_u32.cast_signed();

/// Names the status codes the simulator deals in.
#[must_use]
pub fn status_name(status: NTSTATUS) -> String {
    let name = match status {
        STATUS_SUCCESS => "STATUS_SUCCESS",
        STATUS_INVALID_PARAMETER => "STATUS_INVALID_PARAMETER",
        STATUS_INVALID_DEVICE_STATE => "STATUS_INVALID_DEVICE_STATE",
        STATUS_NOT_IMPLEMENTED => "STATUS_NOT_IMPLEMENTED",
        portcls_sys::STATUS_NOINTERFACE => "STATUS_NOINTERFACE",
        portcls_sys::STATUS_INSUFFICIENT_RESOURCES => "STATUS_INSUFFICIENT_RESOURCES",
        portcls_sys::STATUS_UNSUCCESSFUL => "STATUS_UNSUCCESSFUL",
        portcls_sys::STATUS_NOT_SUPPORTED => "STATUS_NOT_SUPPORTED",
        property::STATUS_BUFFER_OVERFLOW => "STATUS_BUFFER_OVERFLOW",
        property::STATUS_NOT_FOUND => "STATUS_NOT_FOUND",
        property::STATUS_PROPSET_NOT_FOUND => "STATUS_PROPSET_NOT_FOUND",
        property::STATUS_INVALID_DEVICE_REQUEST => "STATUS_INVALID_DEVICE_REQUEST",
        stream::STATUS_DEVICE_BUSY => "STATUS_DEVICE_BUSY",
        STATUS_BUFFER_TOO_SMALL => "STATUS_BUFFER_TOO_SMALL",
        STATUS_NO_MATCH => "STATUS_NO_MATCH",
        _ => return format!("{status:#010X}"),
    };
    name.to_owned()
}

/// Names the interface identifiers the simulator knows.
#[must_use]
pub fn guid_name(guid: &GUID) -> String {
    let name = match *guid {
        portcls_sys::IID_IUnknown => "IID_IUnknown",
        portcls_sys::IID_IPortClsStreamResourceManager => "IID_IPortClsStreamResourceManager",
        portcls_sys::IID_IPortClsStreamResourceManager2 => "IID_IPortClsStreamResourceManager2",
        portcls_sys::wavert::IID_IPortEvents => "IID_IPortEvents",
        portcls_sys::ks::KSEVENTSETID_PinCapsChange => "KSEVENTSETID_PinCapsChange",
        _ => return format!("{{{:032X}}}", guid.to_u128()),
    };
    name.to_owned()
}

/// How an interrupt is connected in the simulation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Connect {
    /// `CONNECT_LINE_BASED`: the context is a `KINTERRUPT`.
    LineBased,
    /// `CONNECT_FULLY_SPECIFIED`: the context is a `KINTERRUPT`.
    FullySpecified,
    /// `CONNECT_MESSAGE_BASED`: the context is an `IO_INTERRUPT_MESSAGE_INFO`.
    MessageBased,
}

impl Connect {
    /// The `CONNECT_*` version `IoConnectInterruptEx` writes back.
    #[must_use]
    pub const fn version(self) -> u32 {
        match self {
            Self::LineBased => CONNECT_LINE_BASED,
            Self::FullySpecified => CONNECT_FULLY_SPECIFIED,
            Self::MessageBased => CONNECT_MESSAGE_BASED,
        }
    }
}

/// A simulated device stack: the FDO PortCls made and the PDO under it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Device {
    /// The functional device object.
    pub fdo: PDEVICE_OBJECT,
    /// The physical device object.
    pub pdo: PDEVICE_OBJECT,
}

// SAFETY: a `Device` only names the machine's device objects; every use goes through the
// machine's routines, which any thread bound to it may call (as any kernel thread may pass a
// device object to the I/O manager).
unsafe impl Send for Device {}
// SAFETY: as above; the pointers are never dereferenced through a shared `Device`.
unsafe impl Sync for Device {}

thread_local! {
    static CURRENT: RefCell<Option<Arc<World>>> = const { RefCell::new(None) };
    pub(crate) static IRQL: Cell<KIRQL> = const { Cell::new(PASSIVE_LEVEL) };
}

/// The IRQL of the calling thread.
#[must_use]
pub fn current_irql() -> KIRQL {
    IRQL.with(Cell::get)
}

/// Raises the calling thread's IRQL until the guard drops.
#[must_use = "the IRQL drops back when the guard is dropped"]
pub fn raise_irql(irql: KIRQL) -> IrqlGuard {
    let previous = IRQL.with(|cell| cell.replace(irql));
    IrqlGuard { previous }
}

/// Restores the previous IRQL on drop.
#[derive(Debug)]
pub struct IrqlGuard {
    previous: KIRQL,
}

impl Drop for IrqlGuard {
    fn drop(&mut self) {
        IRQL.with(|cell| cell.set(self.previous));
    }
}

fn abort_no_world(what: &str) -> ! {
    eprintln!(
        "portcls-sim: {what} was called on a thread with no simulated machine; \
         create a Sim on this thread or bind it with Sim::bind_current_thread"
    );
    std::process::abort()
}

/// Runs a routine of the simulated system on the machine bound to the calling thread. Every
/// routine the driver calls that acts on the machine enters here, which makes it a model routine
/// for the stack measurement ([`stack::ModelEntry`]): its frames below its entry do not count as
/// the driver's.
fn with_world<R>(what: &str, f: impl FnOnce(&Arc<World>) -> R) -> R {
    // First and last: nothing of the routine is on the stack below this frame before `begin`
    // and after `end`.
    let entry = stack::ModelEntry::begin();
    let result = run_with_world(what, f);
    entry.end();
    result
}

fn run_with_world<R>(what: &str, f: impl FnOnce(&Arc<World>) -> R) -> R {
    let world = CURRENT.with(|current| current.borrow().clone());
    match world {
        Some(world) => {
            sched::point(&world, what);
            f(&world)
        }
        None => abort_no_world(what),
    }
}

/// Binds a machine to the current thread until dropped.
#[derive(Debug)]
#[must_use = "the thread is unbound when the binding is dropped"]
pub struct ThreadBinding {
    previous: Option<Arc<World>>,
}

impl Drop for ThreadBinding {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|current| *current.borrow_mut() = previous);
    }
}

/// Threads acting on a machine, made by [`Sim::scope`].
pub struct Scope<'scope, 'env: 'scope> {
    threads: &'scope std::thread::Scope<'scope, 'env>,
    world: &'env Arc<World>,
    /// The participants spawned (on a deterministic machine).
    spawned: RefCell<Vec<usize>>,
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("participants", &self.spawned.borrow().len())
            .finish_non_exhaustive()
    }
}

/// Finishes a participant when its thread's body returns or unwinds.
struct Finish<'a>(&'a World, usize);

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        sched::finish_participant(self.0, self.1);
    }
}

impl<'scope> Scope<'scope, '_> {
    /// Starts a thread named `name` (in schedule traces) bound to the machine, running `body`.
    pub fn spawn<F>(&self, name: &str, body: F)
    where
        F: FnOnce() + Send + 'scope,
    {
        let id = sched::add_participant(&mut self.world.lock(), name);
        if let Some(id) = id {
            self.spawned.borrow_mut().push(id);
        }
        let world = Arc::clone(self.world);
        let _ = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn_scoped(self.threads, move || {
                let _binding = bind(&world);
                let _participation = id.map(|id| sched::start_participant(&world, id));
                let _finish = id.map(|id| Finish(&world, id));
                body();
            })
            .unwrap_or_else(|e| panic!("cannot start thread {name}: {e}"));
    }
}

/// A simulated machine (PortCls plus the kernel services around it).
///
/// Drop it last: ports and kernel objects it made are freed with it.
pub struct Sim {
    world: Arc<World>,
    _binding: ThreadBinding,
    /// On a deterministic machine: the creating thread is its participant 0.
    _participation: Option<sched::Participation>,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("profile", &self.profile())
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// A new machine behaving like `profile`, bound to the calling thread.
    #[must_use]
    pub fn new(profile: OsProfile) -> Self {
        let world = Arc::new(World::new(profile));
        let binding = bind(&world);
        Self {
            world,
            _binding: binding,
            _participation: None,
        }
    }

    /// A new deterministic machine behaving like `profile`: its threads run one at a time, and
    /// `schedule` decides every switch (see [`deterministic`]). The calling thread is its
    /// participant `main`; other threads join through [`Sim::scope`], and every system thread
    /// the driver creates is a participant from its first instruction.
    ///
    /// Every thread that acts on a deterministic machine must be a participant, and must wait
    /// only through the machine (its events, spin locks, [`Sim::advance`], the end of a scope):
    /// a participant blocked on something else (a host mutex, a channel) holds the processor
    /// and hangs the run.
    #[must_use]
    pub fn new_deterministic(profile: OsProfile, schedule: deterministic::Schedule) -> Self {
        let world = Arc::new(World::new_deterministic(profile, schedule));
        let binding = bind(&world);
        let participation = sched::Participation::new(&world, 0);
        Self {
            world,
            _binding: binding,
            _participation: Some(participation),
        }
    }

    /// Runs `body` with a [`Scope`] whose threads act on this machine, and returns once they
    /// have all finished (like [`std::thread::scope`], whose threads they are). On a
    /// deterministic machine each spawned thread is a participant; elsewhere they are plain
    /// threads bound to the machine. A panic in a spawned thread panics `scope` once every
    /// thread has finished.
    pub fn scope<'env, F, R>(&'env self, body: F) -> R
    where
        F: for<'scope> FnOnce(&Scope<'scope, 'env>) -> R,
    {
        std::thread::scope(|threads| {
            let scope = Scope {
                threads,
                world: &self.world,
                spawned: RefCell::new(Vec::new()),
            };
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&scope)));
            sched::wait_for_participants(&self.world, scope.spawned.take());
            result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// The interleaving a deterministic machine ran so far: a line per scheduling point
    /// (`step #participant name label`), then the schedule, the point count and a digest of
    /// every point. The same schedule and driver give the same text. `None` on a machine
    /// the host schedules.
    #[must_use]
    pub fn schedule_trace(&self) -> Option<String> {
        self.world
            .lock()
            .scheduler
            .as_ref()
            .map(deterministic::Scheduler::text)
    }

    /// Sets what a deadlock report of this deterministic machine ends with: how to replay the
    /// run, typically. Nothing happens on a machine the host schedules.
    pub fn set_schedule_note(&self, note: &str) {
        if let Some(scheduler) = self.world.lock().scheduler.as_mut() {
            note.clone_into(&mut scheduler.note);
        }
    }

    /// Scheduling points a deterministic machine has passed (0 elsewhere).
    #[must_use]
    pub fn schedule_points(&self) -> u64 {
        self.world
            .lock()
            .scheduler
            .as_ref()
            .map_or(0, deterministic::Scheduler::steps)
    }

    /// The schedule of a deterministic machine.
    #[must_use]
    pub fn schedule(&self) -> Option<deterministic::Schedule> {
        self.world
            .lock()
            .scheduler
            .as_ref()
            .map(deterministic::Scheduler::schedule)
    }

    /// The OS profile.
    #[must_use]
    pub fn profile(&self) -> OsProfile {
        self.world.lock().profile
    }

    /// Binds this machine to the calling thread (for threads a test starts itself).
    pub fn bind_current_thread(&self) -> ThreadBinding {
        bind(&self.world)
    }

    fn token(&self) -> *mut c_void {
        token_address(&self.world)
    }

    /// Makes a port object (as `PcNewPort` would) and returns its `IUnknown` with one reference
    /// for the caller.
    #[must_use]
    pub fn new_port(&self) -> PUNKNOWN {
        port::new_port(&self.world, adapter::PortKind::Generic)
    }

    /// The port's reference count (0 once released for the last time).
    #[must_use]
    pub fn port_refs(&self, port: PUNKNOWN) -> u32 {
        let state = self.world.lock();
        let id = state
            .port_allocations
            .iter()
            .find(|a| a.is(port))
            .map(|a| a.id);
        id.and_then(|id| state.ports.get(&id).map(|p| p.refs))
            .unwrap_or(0)
    }

    /// Makes a device stack (FDO over PDO).
    #[must_use]
    pub fn add_device(&self) -> Device {
        let fdo: PDEVICE_OBJECT = self.token().cast();
        let pdo: PDEVICE_OBJECT = self.token().cast();
        self.world.lock().devices.insert(fdo.addr(), pdo.addr());
        Device { fdo, pdo }
    }

    /// Starts a system thread and returns its object with one reference for the caller (what
    /// `PsCreateSystemThread` plus `ObReferenceObjectByHandle` give a driver).
    #[must_use]
    pub fn create_thread(&self) -> PETHREAD {
        let thread = self.token();
        let mut state = self.world.lock();
        let id = state.next_id();
        state.threads.insert(
            thread.addr(),
            world::ThreadState {
                id,
                refs: 1,
                exited: false,
                system: None,
            },
        );
        thread.cast()
    }

    /// Makes the thread exit (as `PsTerminateSystemThread`). Exiting while registered is a
    /// violation.
    pub fn exit_thread(&self, thread: PETHREAD) {
        let mut state = self.world.lock();
        if state.threads.contains_key(&thread.addr()) {
            state.thread_exited(thread.addr());
        } else {
            let object = thread.addr();
            state.violate(Violation::BadObject {
                ddi: Ddi::PsTerminateSystemThread,
                object,
            });
        }
        self.world.thread_ended();
    }

    /// The references held on a thread object.
    #[must_use]
    pub fn thread_refs(&self, thread: PETHREAD) -> u32 {
        self.world
            .lock()
            .threads
            .get(&thread.addr())
            .map_or(0, |t| t.refs)
    }

    /// The simulated thread's id (stable for the machine's life).
    #[must_use]
    pub fn thread_id(&self, thread: PETHREAD) -> Option<u64> {
        self.world.lock().threads.get(&thread.addr()).map(|t| t.id)
    }

    /// Connects an interrupt (as `IoConnectInterruptEx`) and returns the version and
    /// connection context it writes back.
    #[must_use]
    pub fn connect_interrupt(&self, connect: Connect) -> (u32, PVOID) {
        let context = self.token();
        let version = connect.version();
        let state = world::InterruptState {
            version,
            connected: true,
        };
        self.world.lock().interrupts.insert(context.addr(), state);
        (version, context)
    }

    /// Whether the interrupt is still connected.
    #[must_use]
    pub fn is_connected(&self, context: PVOID) -> bool {
        self.world
            .lock()
            .interrupts
            .get(&context.addr())
            .is_some_and(|i| i.connected)
    }

    /// The live registrations, oldest first.
    #[must_use]
    pub fn registrations(&self) -> Vec<StreamResource> {
        self.world.lock().registrations.values().copied().collect()
    }

    /// Every stream-resource registration made on this machine, in order, removed ones
    /// included (what [`Sim::registrations`] listed at some point).
    #[must_use]
    pub fn registration_history(&self) -> Vec<StreamResource> {
        self.world.lock().registered_ever.clone()
    }

    /// Every call so far, in order.
    #[must_use]
    pub fn trace(&self) -> Vec<TraceEvent> {
        self.world.lock().trace.clone()
    }

    /// The KS rule breaches found in filter descriptors, in words.
    #[must_use]
    pub fn descriptor_breaches(&self) -> Vec<String> {
        self.world.lock().breaches.clone()
    }

    /// Every violation so far, in order.
    #[must_use]
    pub fn violations(&self) -> Vec<Violation> {
        self.world.lock().violations.clone()
    }

    /// Moves virtual time forward by `ticks` (100 ns units), running the driver's system
    /// threads in lock step: each waits until its time-out comes due, runs until it waits again.
    ///
    /// With idle settings ([`Sim::set_idle_settings`]) an idle device's timer may run out on
    /// the way: time stops there while the model powers the device down (see [`idle`]).
    ///
    /// With devices attached ([`Sim::attach_device_work`]) time moves in steps of at most
    /// [`device_work::DEVICE_STEP`], the devices working and their interrupts delivered after
    /// each.
    pub fn advance(&self, ticks: u64) {
        let devices = !self.world.lock().hw.work.is_empty();
        if !devices {
            return self.advance_plain(ticks);
        }
        let mut left = ticks;
        while left > 0 {
            let step = left.min(device_work::DEVICE_STEP);
            self.advance_plain(step);
            let _ = self.run_devices();
            left -= step;
        }
    }

    /// [`Sim::advance`] without the devices.
    fn advance_plain(&self, ticks: u64) {
        let idle = self.world.lock().idle_enabled();
        if idle {
            let until = self.now().saturating_add(ticks);
            self.advance_with_idle(until);
        } else {
            sched::advance(&self.world, ticks);
        }
    }

    /// The virtual time, in 100 ns units since the machine started.
    #[must_use]
    pub fn now(&self) -> u64 {
        self.world.lock().now
    }

    /// Sets the performance counter's frequency (10 MHz unless changed).
    pub fn set_qpc_frequency(&self, frequency: u64) {
        self.world.lock().qpc_frequency = frequency.max(1);
    }

    /// The pool still allocated, as (tag, bytes) per block, in address order.
    #[must_use]
    pub fn pool_in_use(&self) -> Vec<(Tag, usize)> {
        self.world
            .lock()
            .pool
            .values()
            .map(|b| (b.tag, b.size))
            .collect()
    }

    /// How many fallible calls (the ones failures can be injected into) were made so far.
    #[must_use]
    pub fn fallible_calls(&self) -> u64 {
        self.world.lock().fallible_calls()
    }

    /// The routines whose calls an injected failure hit so far, in order.
    #[must_use]
    pub fn injected(&self) -> Vec<Ddi> {
        self.world.lock().injected.clone()
    }

    /// Makes the `n`-th fallible call (1-based, counting every routine) return `status`.
    pub fn fail_nth_call(&self, n: u64, status: NTSTATUS) {
        self.world.lock().inject(Injection::Nth { n, status });
    }

    /// Makes the `n`-th call (1-based) of `ddi` return `status`.
    pub fn fail_call(&self, ddi: Ddi, n: u64, status: NTSTATUS) {
        self.world.lock().inject(Injection::Call { ddi, n, status });
    }

    /// Every reference held now, summed: on port objects, on thread objects, and the model's on
    /// the driver's COM objects. A long run compares it between moments in the same
    /// configuration: growth is a leak.
    #[must_use]
    pub fn references_held(&self) -> u64 {
        let state = self.world.lock();
        let ports: u64 = state.ports.values().map(|p| u64::from(p.refs)).sum();
        let threads: u64 = state.threads.values().map(|t| u64::from(t.refs)).sum();
        let objects: u64 = state
            .driver_objects
            .values()
            .filter(|o| o.alive)
            .map(|o| u64::from(o.held))
            .sum();
        ports + threads + objects
    }

    /// What is left over that a clean driver would have given back: live registrations, ports
    /// and thread objects still referenced, interrupts still connected, pool still allocated,
    /// and every violation.
    /// Empty means clean.
    #[must_use]
    pub fn leftovers(&self) -> Vec<String> {
        let state = self.world.lock();
        let mut out: Vec<String> = state
            .violations
            .iter()
            .map(|v| {
                let object = v.driver_object().and_then(|o| state.driver_objects.get(&o));
                match object {
                    Some(object) => format!(
                        "violation: {v:?} ({}); history (change -> count reported @trace \
                         index): {}",
                        object.role,
                        object.history.text()
                    ),
                    None => format!("violation: {v:?}"),
                }
            })
            .collect();
        out.extend(
            state
                .registrations
                .values()
                .map(|r| format!("still registered: {} via {}", r.resource, r.via)),
        );
        out.extend(
            state
                .ports
                .iter()
                .filter(|(_, p)| p.refs > 0)
                .map(|(id, p)| {
                    format!(
                        "port#{id} still has {} reference(s); history (change -> count @trace \
                         index): {}",
                        p.refs,
                        p.history.text()
                    )
                }),
        );
        out.extend(
            state
                .threads
                .iter()
                .filter(|(_, t)| t.refs > 0)
                .map(|(a, t)| format!("thread {a:#x} still has {} reference(s)", t.refs)),
        );
        out.extend(
            state
                .interrupts
                .iter()
                .filter(|(_, i)| i.connected)
                .map(|(a, _)| format!("interrupt {a:#x} still connected")),
        );
        out.extend(
            state
                .threads
                .values()
                .filter(|t| t.system.is_some() && !t.exited)
                .map(|t| format!("system thread #{} still running", t.id)),
        );
        out.extend(state.streams.leftovers());
        out.extend(state.dma.leftovers());
        out.extend(state.hw.leftovers());
        out.extend(state.driver_objects_alive());
        out.extend(state.pool.iter().map(|(address, block)| {
            let (size, tag) = (block.size, block.tag);
            format!(
                "pool block {address:#x} of {size} bytes with tag '{tag}' still allocated, \
                 allocated by {}",
                block.site.caller()
            )
        }));
        out
    }

    /// Panics with the list of [`Sim::leftovers`] unless there are none.
    pub fn assert_clean(&self) {
        let leftovers = self.leftovers();
        assert!(
            leftovers.is_empty(),
            "the simulated system is not clean:\n  {}",
            leftovers.join("\n  ")
        );
    }
}

/// A fresh unique address for a simulated kernel object.
pub(crate) fn token_address(world: &World) -> *mut c_void {
    world.lock().token()
}

pub(crate) fn bind(world: &Arc<World>) -> ThreadBinding {
    let previous = CURRENT.with(|current| current.borrow_mut().replace(Arc::clone(world)));
    ThreadBinding { previous }
}

// ---- The exported routines: the same symbols portcls-sys declares. ----

portcls_sys::kernel_abi! {
    /// `KeGetCurrentIrql`: the calling thread's simulated IRQL.
    #[unsafe(no_mangle)]
    pub fn KeGetCurrentIrql() -> KIRQL {
        stack::model_leaf(current_irql)
    }
}

portcls_sys::kernel_abi! {
    /// `PcAddStreamResource`.
    ///
    /// # Safety
    /// As documented for the real routine: `descriptor` readable, `handle` writable.
    #[unsafe(no_mangle)]
    pub unsafe fn PcAddStreamResource(
        pdo: PDEVICE_OBJECT,
        resource_set: PVOID,
        descriptor: *mut PCSTREAMRESOURCE_DESCRIPTOR,
        handle: *mut PCSTREAMRESOURCE,
    ) -> NTSTATUS {
        with_world("PcAddStreamResource", |world| {
            if !export_present(world, Ddi::PcAddStreamResource) {
                return STATUS_NOT_IMPLEMENTED;
            }
            port::add(
                world,
                Ddi::PcAddStreamResource,
                Via::Export,
                pdo,
                resource_set,
                descriptor,
                handle,
            )
        })
    }
}

portcls_sys::kernel_abi! {
    /// `PcRemoveStreamResource`.
    ///
    /// # Safety
    /// As documented for the real routine.
    #[unsafe(no_mangle)]
    pub unsafe fn PcRemoveStreamResource(handle: PCSTREAMRESOURCE) -> NTSTATUS {
        with_world("PcRemoveStreamResource", |world| {
            if !export_present(world, Ddi::PcRemoveStreamResource) {
                return STATUS_NOT_IMPLEMENTED;
            }
            port::remove(world, Ddi::PcRemoveStreamResource, Via::Export, handle)
        })
    }
}

fn export_present(world: &World, ddi: Ddi) -> bool {
    let mut state = world.lock();
    if state.profile.has_exports() {
        return true;
    }
    state.violate(Violation::ImportMissing { ddi });
    state.record(
        ddi,
        "not exported by this portcls.sys".to_owned(),
        STATUS_NOT_IMPLEMENTED,
    );
    false
}

portcls_sys::kernel_abi! {
    /// `PcGetPhysicalDeviceObject`.
    ///
    /// # Safety
    /// `pdo` writable.
    #[unsafe(no_mangle)]
    pub unsafe fn PcGetPhysicalDeviceObject(
        fdo: PDEVICE_OBJECT,
        pdo: *mut PDEVICE_OBJECT,
    ) -> NTSTATUS {
        with_world("PcGetPhysicalDeviceObject", |world| {
            let mut state = world.lock();
            let ddi = Ddi::PcGetPhysicalDeviceObject;
            let detail = format!("fdo {fdo:p}");
            if let Some(status) = state.fallible(ddi) {
                return state.record(ddi, detail, status);
            }
            let known = state.devices.get(&fdo.addr()).copied();
            match known {
                Some(address) if !pdo.is_null() => {
                    // Device objects are only keys here: hand back a pointer with that address.
                    let found: PDEVICE_OBJECT = std::ptr::without_provenance_mut(address);
                    // SAFETY: `pdo` is writable (caller's contract, checked non-null).
                    unsafe { pdo.write(found) };
                    state.record(ddi, format!("{detail} -> pdo {found:p}"), STATUS_SUCCESS)
                }
                _ => state.record(ddi, detail, STATUS_INVALID_PARAMETER),
            }
        })
    }
}

portcls_sys::kernel_abi! {
    /// `ObfReferenceObject` on a simulated thread object.
    ///
    /// # Safety
    /// `object` is a referenced object.
    #[unsafe(no_mangle)]
    pub unsafe fn ObfReferenceObject(object: PVOID) -> isize {
        with_world("ObfReferenceObject", |world| {
            let irql = current_irql();
            let mut state = world.lock();
            state.irql_ok(Ddi::ObfReferenceObject, irql);
            match state.threads.get_mut(&object.addr()) {
                Some(thread) if thread.refs > 0 => {
                    thread.refs += 1;
                    isize::try_from(thread.refs).unwrap_or(isize::MAX)
                }
                _ => {
                    state.violate(Violation::BadObject {
                        ddi: Ddi::ObfReferenceObject,
                        object: object.addr(),
                    });
                    0
                }
            }
        })
    }
}

portcls_sys::kernel_abi! {
    /// `ObfDereferenceObject` on a simulated thread object.
    ///
    /// # Safety
    /// `object` is a referenced object.
    #[unsafe(no_mangle)]
    pub unsafe fn ObfDereferenceObject(object: PVOID) -> isize {
        with_world("ObfDereferenceObject", |world| {
            let irql = current_irql();
            let mut state = world.lock();
            state.irql_ok(Ddi::ObfDereferenceObject, irql);
            let address = object.addr();
            let Some(thread) = state.threads.get_mut(&address) else {
                state.violate(Violation::BadObject {
                    ddi: Ddi::ObfDereferenceObject,
                    object: address,
                });
                return 0;
            };
            if thread.refs == 0 {
                state.violate(Violation::OverRelease {
                    ddi: Ddi::ObfDereferenceObject,
                    object: address,
                });
                return 0;
            }
            thread.refs -= 1;
            let refs = thread.refs;
            if refs == 0 && state.registered(&Resource::Thread(address)) {
                state.violate(Violation::ThreadGoneWhileRegistered { thread: address });
            }
            isize::try_from(refs).unwrap_or(isize::MAX)
        })
    }
}

portcls_sys::kernel_abi! {
    /// `IoDisconnectInterruptEx` on a simulated connection.
    ///
    /// # Safety
    /// `parameters` readable.
    #[unsafe(no_mangle)]
    pub unsafe fn IoDisconnectInterruptEx(
        parameters: *mut IO_DISCONNECT_INTERRUPT_PARAMETERS,
    ) {
        with_world("IoDisconnectInterruptEx", |world| {
            let ddi = Ddi::IoDisconnectInterruptEx;
            let irql = current_irql();
            let mut state = world.lock();
            if !state.irql_ok(ddi, irql) {
                return;
            }
            if parameters.is_null() {
                state.violate(Violation::BadObject { ddi, object: 0 });
                return;
            }
            // SAFETY: readable (caller's contract, checked non-null).
            let parameters = unsafe { parameters.read() };
            let context = parameters.ConnectionContext.addr();
            let resource = Resource::Interrupt {
                context,
                version: parameters.Version,
            };
            if state.registered(&resource) {
                state.violate(Violation::DisconnectedWhileRegistered { context });
            }
            match state.interrupts.get_mut(&context) {
                Some(i) if i.connected && i.version == parameters.Version => {
                    i.connected = false;
                    interrupt::disconnected(&mut state, context);
                }
                _ => state.violate(Violation::BadObject {
                    ddi,
                    object: context,
                }),
            }
            state.record(ddi, format!("{resource}"), STATUS_SUCCESS);
        });
    }
}
