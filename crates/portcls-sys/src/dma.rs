//! DMA for bus-master devices (`wdm.h`): the adapter object `IoGetDmaAdapter` hands out, the
//! table of operations behind it, and the scatter/gather types those operations name.
//!
//! A driver describes its device's DMA capabilities in a
//! [`DEVICE_DESCRIPTION`](crate::km::DEVICE_DESCRIPTION) and asks the kernel for an adapter
//! with [`IoGetDmaAdapter`]. Everything else is reached through the adapter's
//! [`DMA_OPERATIONS`] table (the routines have no exported names): common buffers
//! ([`PALLOCATE_COMMON_BUFFER`], [`PFREE_COMMON_BUFFER`]), map registers and adapter channels,
//! scatter/gather lists, and finally [`PPUT_DMA_ADAPTER`], which gives the adapter back.
//!
//! The table is declared up to `BuildMdlFromScatterGatherList`, the last entry of the version
//! 2 set (Windows XP); the entries Windows 8 added for version 3 adapters follow it in the
//! WDK's header and are not declared. A driver reads [`DMA_OPERATIONS::Size`] before using an
//! entry past [`DMA_OPERATIONS_V1_SIZE`].

use crate::km::{BOOLEAN, PDEVICE_DESCRIPTION, PHYSICAL_ADDRESS, PIRP, PMDL, PPHYSICAL_ADDRESS};
use crate::{NTSTATUS, PDEVICE_OBJECT, PVOID, ULONG};

/// `IO_ALLOCATION_ACTION` (a C enum, 4 bytes): what an adapter-channel routine returns.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct IO_ALLOCATION_ACTION(pub i32);
/// `KeepObject`: keep the adapter channel and the map registers.
pub const KeepObject: IO_ALLOCATION_ACTION = IO_ALLOCATION_ACTION(1);
/// `DeallocateObject`: release the adapter channel and the map registers.
pub const DeallocateObject: IO_ALLOCATION_ACTION = IO_ALLOCATION_ACTION(2);
/// `DeallocateObjectKeepRegisters`: release the channel, keep the map registers.
pub const DeallocateObjectKeepRegisters: IO_ALLOCATION_ACTION = IO_ALLOCATION_ACTION(3);

/// `PDRIVER_CONTROL`: the routine `AllocateAdapterChannel` calls once the channel is granted.
pub type PDRIVER_CONTROL = Option<
    crate::kernel_abi!(
        unsafe fn(
            DeviceObject: PDEVICE_OBJECT,
            Irp: PIRP,
            MapRegisterBase: PVOID,
            Context: PVOID,
        ) -> IO_ALLOCATION_ACTION
    ),
>;

/// `SCATTER_GATHER_ELEMENT`: one physically contiguous run of a transfer (24 bytes on 64-bit).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SCATTER_GATHER_ELEMENT {
    /// The run's logical (device-side) address.
    pub Address: PHYSICAL_ADDRESS,
    /// Its length in bytes.
    pub Length: ULONG,
    /// Reserved.
    pub Reserved: usize,
}
/// `PSCATTER_GATHER_ELEMENT`.
pub type PSCATTER_GATHER_ELEMENT = *mut SCATTER_GATHER_ELEMENT;

/// `SCATTER_GATHER_LIST`: a header followed by `NumberOfElements` elements (the WDK declares
/// the array flexible; only a pointer to a list the system built is ever handled).
#[repr(C)]
#[derive(Debug)]
pub struct SCATTER_GATHER_LIST {
    /// How many elements follow.
    pub NumberOfElements: ULONG,
    /// Reserved.
    pub Reserved: usize,
    /// The elements.
    pub Elements: [SCATTER_GATHER_ELEMENT; 0],
}
/// `PSCATTER_GATHER_LIST`.
pub type PSCATTER_GATHER_LIST = *mut SCATTER_GATHER_LIST;

/// `PDRIVER_LIST_CONTROL`: the routine `GetScatterGatherList` calls with the built list.
pub type PDRIVER_LIST_CONTROL = Option<
    crate::kernel_abi!(
        unsafe fn(
            DeviceObject: PDEVICE_OBJECT,
            Irp: PIRP,
            ScatterGather: PSCATTER_GATHER_LIST,
            Context: PVOID,
        )
    ),
>;

/// `DMA_ADAPTER`: the adapter object (16 bytes on 64-bit); the system's, read-only to drivers.
#[repr(C)]
#[derive(Debug)]
pub struct DMA_ADAPTER {
    /// The adapter's version.
    pub Version: u16,
    /// Its size in bytes.
    pub Size: u16,
    /// The operations table.
    pub DmaOperations: *mut DMA_OPERATIONS,
}
/// `PDMA_ADAPTER`.
pub type PDMA_ADAPTER = *mut DMA_ADAPTER;

/// `PPUT_DMA_ADAPTER`: gives the adapter back (`PASSIVE_LEVEL`); every common buffer must be
/// freed first.
pub type PPUT_DMA_ADAPTER = crate::kernel_abi!(unsafe fn(DmaAdapter: PDMA_ADAPTER));
/// `PALLOCATE_COMMON_BUFFER`: `Length` bytes both the processor and the device reach; returns
/// the virtual address (or null) and writes the logical address the device uses
/// (`PASSIVE_LEVEL`).
pub type PALLOCATE_COMMON_BUFFER = crate::kernel_abi!(
    unsafe fn(
        DmaAdapter: PDMA_ADAPTER,
        Length: ULONG,
        LogicalAddress: PPHYSICAL_ADDRESS,
        CacheEnabled: BOOLEAN,
    ) -> PVOID
);
/// `PFREE_COMMON_BUFFER`: frees a common buffer; every argument must be what the allocation
/// was made with or returned (`PASSIVE_LEVEL`).
pub type PFREE_COMMON_BUFFER = crate::kernel_abi!(
    unsafe fn(
        DmaAdapter: PDMA_ADAPTER,
        Length: ULONG,
        LogicalAddress: PHYSICAL_ADDRESS,
        VirtualAddress: PVOID,
        CacheEnabled: BOOLEAN,
    )
);
/// `PALLOCATE_ADAPTER_CHANNEL`.
pub type PALLOCATE_ADAPTER_CHANNEL = crate::kernel_abi!(
    unsafe fn(
        DmaAdapter: PDMA_ADAPTER,
        DeviceObject: PDEVICE_OBJECT,
        NumberOfMapRegisters: ULONG,
        ExecutionRoutine: PDRIVER_CONTROL,
        Context: PVOID,
    ) -> NTSTATUS
);
/// `PFLUSH_ADAPTER_BUFFERS`.
pub type PFLUSH_ADAPTER_BUFFERS = crate::kernel_abi!(
    unsafe fn(
        DmaAdapter: PDMA_ADAPTER,
        Mdl: PMDL,
        MapRegisterBase: PVOID,
        CurrentVa: PVOID,
        Length: ULONG,
        WriteToDevice: BOOLEAN,
    ) -> BOOLEAN
);
/// `PFREE_ADAPTER_CHANNEL`.
pub type PFREE_ADAPTER_CHANNEL = crate::kernel_abi!(unsafe fn(DmaAdapter: PDMA_ADAPTER));
/// `PFREE_MAP_REGISTERS`.
pub type PFREE_MAP_REGISTERS = crate::kernel_abi!(
    unsafe fn(DmaAdapter: PDMA_ADAPTER, MapRegisterBase: PVOID, NumberOfMapRegisters: ULONG)
);
/// `PMAP_TRANSFER`.
pub type PMAP_TRANSFER = crate::kernel_abi!(
    unsafe fn(
        DmaAdapter: PDMA_ADAPTER,
        Mdl: PMDL,
        MapRegisterBase: PVOID,
        CurrentVa: PVOID,
        Length: *mut ULONG,
        WriteToDevice: BOOLEAN,
    ) -> PHYSICAL_ADDRESS
);
/// `PGET_DMA_ALIGNMENT`: the alignment, in bytes, DMA buffers' start and length need
/// (`PASSIVE_LEVEL`).
pub type PGET_DMA_ALIGNMENT = crate::kernel_abi!(unsafe fn(DmaAdapter: PDMA_ADAPTER) -> ULONG);
/// `PREAD_DMA_COUNTER`.
pub type PREAD_DMA_COUNTER = crate::kernel_abi!(unsafe fn(DmaAdapter: PDMA_ADAPTER) -> ULONG);
/// `PGET_SCATTER_GATHER_LIST`.
pub type PGET_SCATTER_GATHER_LIST = crate::kernel_abi!(
    unsafe fn(
        DmaAdapter: PDMA_ADAPTER,
        DeviceObject: PDEVICE_OBJECT,
        Mdl: PMDL,
        CurrentVa: PVOID,
        Length: ULONG,
        ExecutionRoutine: PDRIVER_LIST_CONTROL,
        Context: PVOID,
        WriteToDevice: BOOLEAN,
    ) -> NTSTATUS
);
/// `PPUT_SCATTER_GATHER_LIST`.
pub type PPUT_SCATTER_GATHER_LIST = crate::kernel_abi!(
    unsafe fn(
        DmaAdapter: PDMA_ADAPTER,
        ScatterGather: PSCATTER_GATHER_LIST,
        WriteToDevice: BOOLEAN,
    )
);
/// `PCALCULATE_SCATTER_GATHER_LIST_SIZE`.
pub type PCALCULATE_SCATTER_GATHER_LIST_SIZE = crate::kernel_abi!(
    unsafe fn(
        DmaAdapter: PDMA_ADAPTER,
        Mdl: PMDL,
        CurrentVa: PVOID,
        Length: ULONG,
        ScatterGatherListSize: *mut ULONG,
        NumberOfMapRegisters: *mut ULONG,
    ) -> NTSTATUS
);
/// `PBUILD_SCATTER_GATHER_LIST`.
pub type PBUILD_SCATTER_GATHER_LIST = crate::kernel_abi!(
    unsafe fn(
        DmaAdapter: PDMA_ADAPTER,
        DeviceObject: PDEVICE_OBJECT,
        Mdl: PMDL,
        CurrentVa: PVOID,
        Length: ULONG,
        ExecutionRoutine: PDRIVER_LIST_CONTROL,
        Context: PVOID,
        WriteToDevice: BOOLEAN,
        ScatterGatherBuffer: PVOID,
        ScatterGatherLength: ULONG,
    ) -> NTSTATUS
);
/// `PBUILD_MDL_FROM_SCATTER_GATHER_LIST`.
pub type PBUILD_MDL_FROM_SCATTER_GATHER_LIST = crate::kernel_abi!(
    unsafe fn(
        DmaAdapter: PDMA_ADAPTER,
        ScatterGather: PSCATTER_GATHER_LIST,
        OriginalMdl: PMDL,
        TargetMdl: *mut PMDL,
    ) -> NTSTATUS
);

/// `DMA_OPERATIONS`: the adapter's routines, in the header's order (128 bytes on 64-bit, up to
/// the version 2 set; see the module documentation).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DMA_OPERATIONS {
    /// The table's size in bytes, as the system filled it.
    pub Size: ULONG,
    /// `PutDmaAdapter`.
    pub PutDmaAdapter: PPUT_DMA_ADAPTER,
    /// `AllocateCommonBuffer`.
    pub AllocateCommonBuffer: PALLOCATE_COMMON_BUFFER,
    /// `FreeCommonBuffer`.
    pub FreeCommonBuffer: PFREE_COMMON_BUFFER,
    /// `AllocateAdapterChannel`.
    pub AllocateAdapterChannel: PALLOCATE_ADAPTER_CHANNEL,
    /// `FlushAdapterBuffers`.
    pub FlushAdapterBuffers: PFLUSH_ADAPTER_BUFFERS,
    /// `FreeAdapterChannel`.
    pub FreeAdapterChannel: PFREE_ADAPTER_CHANNEL,
    /// `FreeMapRegisters`.
    pub FreeMapRegisters: PFREE_MAP_REGISTERS,
    /// `MapTransfer`.
    pub MapTransfer: PMAP_TRANSFER,
    /// `GetDmaAlignment`.
    pub GetDmaAlignment: PGET_DMA_ALIGNMENT,
    /// `ReadDmaCounter`.
    pub ReadDmaCounter: PREAD_DMA_COUNTER,
    /// `GetScatterGatherList`.
    pub GetScatterGatherList: PGET_SCATTER_GATHER_LIST,
    /// `PutScatterGatherList`.
    pub PutScatterGatherList: PPUT_SCATTER_GATHER_LIST,
    /// `CalculateScatterGatherList` (version 2).
    pub CalculateScatterGatherList: PCALCULATE_SCATTER_GATHER_LIST_SIZE,
    /// `BuildScatterGatherList` (version 2).
    pub BuildScatterGatherList: PBUILD_SCATTER_GATHER_LIST,
    /// `BuildMdlFromScatterGatherList` (version 2).
    pub BuildMdlFromScatterGatherList: PBUILD_MDL_FROM_SCATTER_GATHER_LIST,
}
/// `PDMA_OPERATIONS`.
pub type PDMA_OPERATIONS = *mut DMA_OPERATIONS;

/// The bytes of a version 1 table (`Size` through `PutScatterGatherList`).
pub const DMA_OPERATIONS_V1_SIZE: usize =
    core::mem::offset_of!(DMA_OPERATIONS, CalculateScatterGatherList);

#[cfg(target_pointer_width = "64")]
const _: () = {
    use core::mem::{offset_of, size_of};
    // Compared with the mingw-w64 wdm.h by the ABI oracle (x64); evaluated here for every
    // 64-bit target, arm64 included (the same LLP64 layout).
    assert!(size_of::<DMA_ADAPTER>() == 16);
    assert!(offset_of!(DMA_ADAPTER, Size) == 2);
    assert!(offset_of!(DMA_ADAPTER, DmaOperations) == 8);
    assert!(offset_of!(DMA_OPERATIONS, PutDmaAdapter) == 8);
    assert!(offset_of!(DMA_OPERATIONS, AllocateCommonBuffer) == 16);
    assert!(offset_of!(DMA_OPERATIONS, FreeCommonBuffer) == 24);
    assert!(offset_of!(DMA_OPERATIONS, GetDmaAlignment) == 72);
    assert!(offset_of!(DMA_OPERATIONS, PutScatterGatherList) == 96);
    assert!(DMA_OPERATIONS_V1_SIZE == 104);
    assert!(offset_of!(DMA_OPERATIONS, BuildMdlFromScatterGatherList) == 120);
    assert!(size_of::<DMA_OPERATIONS>() == 128);
    assert!(size_of::<SCATTER_GATHER_ELEMENT>() == 24);
    assert!(offset_of!(SCATTER_GATHER_ELEMENT, Length) == 8);
    assert!(offset_of!(SCATTER_GATHER_ELEMENT, Reserved) == 16);
    assert!(offset_of!(SCATTER_GATHER_LIST, Reserved) == 8);
    assert!(offset_of!(SCATTER_GATHER_LIST, Elements) == 16);
    assert!(size_of::<IO_ALLOCATION_ACTION>() == 4);
};

// With `wdk`, against wdk-sys's (whose table goes on with the version 3 entries).
#[cfg(all(feature = "wdk", target_pointer_width = "64"))]
const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<DMA_ADAPTER>() == size_of::<wdk_sys::DMA_ADAPTER>());
    assert!(
        offset_of!(DMA_ADAPTER, DmaOperations) == offset_of!(wdk_sys::DMA_ADAPTER, DmaOperations)
    );
    assert!(
        offset_of!(DMA_OPERATIONS, AllocateCommonBuffer)
            == offset_of!(wdk_sys::DMA_OPERATIONS, AllocateCommonBuffer)
    );
    assert!(
        offset_of!(DMA_OPERATIONS, BuildMdlFromScatterGatherList)
            == offset_of!(wdk_sys::DMA_OPERATIONS, BuildMdlFromScatterGatherList)
    );
    assert!(
        offset_of!(SCATTER_GATHER_LIST, Elements)
            == offset_of!(wdk_sys::SCATTER_GATHER_LIST, Elements)
    );
};

crate::kernel_abi! {
    #[cfg_attr(
        feature = "link",
        link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")
    )]
    unsafe extern {
        /// `IoGetDmaAdapter`: the DMA adapter for the device whose PDO is
        /// `PhysicalDeviceObject`, as `DeviceDescription` describes it; writes the most map
        /// registers a transfer may use to `NumberOfMapRegisters`. Null on failure.
        /// `PASSIVE_LEVEL`. Every adapter is given back with its `PutDmaAdapter`.
        pub fn IoGetDmaAdapter(
            PhysicalDeviceObject: PDEVICE_OBJECT,
            DeviceDescription: PDEVICE_DESCRIPTION,
            NumberOfMapRegisters: *mut ULONG,
        ) -> PDMA_ADAPTER;
    }
}
