//! Raw FFI for PortCls: the stream-resource API, and what a WaveRT miniport needs.
//!
//! This crate declares, with the header's own names, the subset of `portcls.h`, `ks.h`,
//! `ksmedia.h` and `wdm.h` that the `portcls` library and a WaveRT miniport use. For stream
//! resources:
//!
//! - [`GUID`], [`NTSTATUS`] and the status codes the API documents;
//! - the PortCls flavour of `IUnknown` (its `QueryInterface` returns an `NTSTATUS`);
//! - the [`IPortClsStreamResourceManager`] and [`IPortClsStreamResourceManager2`] vtables;
//! - [`PCSTREAMRESOURCE_DESCRIPTOR`], [`PcStreamResourceType`] and the opaque [`PCSTREAMRESOURCE`];
//! - the portcls.sys exports [`PcAddStreamResource`], [`PcRemoveStreamResource`] and
//!   [`PcGetPhysicalDeviceObject`];
//! - in [`km`], the kernel object types (opaque here; with the `wdk` feature, the ones only
//!   handled by pointer are wdk-sys's own) and the ntoskrnl routines the safe library calls;
//! - in [`dma`], `IoGetDmaAdapter` and the DMA adapter's operations (common buffers).
//!
//! For a WaveRT miniport: [`ks`] (formats, data ranges, property requests and answers, pin and
//! topology values, the KS and audio GUIDs) and [`wavert`] (PortCls descriptors, automation
//! tables, the port and miniport vtables, and the adapter functions `PcInitializeAdapterDriver`,
//! `PcAddAdapterDevice`, `PcNewPort`, `PcRegisterSubdevice`, `PcRegisterPhysicalConnection`).
//!
//! # Where the symbols come from
//! With the `link` feature (kernel builds) every function is imported with `raw-dylib` from
//! `portcls.sys` or `ntoskrnl.exe`, so no import library is needed. Without it the declarations
//! are plain `extern` items, and whatever defines the same symbols at link time satisfies them:
//! on a development host that is the `portcls-sim` crate, so the code under test is the code
//! that ships. Every function and vtable slot has the Windows calling convention of the target
//! architecture, on the host too ([`kernel_abi!`], [`abi`]), so the model can also load and run
//! the shipped image.
//!
//! Everything here is `unsafe` to use; the `portcls` crate is the safe layer.
//!
//! # Features
//! - `link`: import every routine with `raw-dylib` (kernel builds), as above.
//! - `wdk`: `link`, with the objects [`km`] only handles by pointer (`DEVICE_OBJECT`, `IRP`,
//!   `MDL`, `KEVENT`, `OBJECT_ATTRIBUTES`, `KINTERRUPT`, `IO_INTERRUPT_MESSAGE_INFO`, and
//!   `ETHREAD`, which is wdk-sys's `_KTHREAD`) and their pointer types wdk-sys's own, so those
//!   wdk-sys pointers pass straight in. Everything else stays this crate's: the structures read
//!   or filled in field by field (`DRIVER_OBJECT`, `UNICODE_STRING`, `LARGE_INTEGER`,
//!   `DEVICE_DESCRIPTION`, ...), the enums, the callback types and all of [`ks`] and [`wavert`];
//!   with `wdk` their layouts are asserted equal to wdk-sys's, so pointers to them cast. The
//!   [`km`] documentation has the full list. WDK builds on Windows only (needs the eWDK).
#![no_std]
#![allow(non_camel_case_types, non_snake_case, non_upper_case_globals)]

pub mod abi;
pub mod dma;
pub mod hw;
pub mod km;
pub mod ks;
pub mod wavert;

use core::ffi::c_void;

pub use km::{DEVICE_OBJECT, PDEVICE_OBJECT, PETHREAD, PIO_INTERRUPT_MESSAGE_INFO, PKINTERRUPT};

/// `ULONG`: 32 bits on every Windows target.
pub type ULONG = u32;
/// `PVOID`.
pub type PVOID = *mut c_void;
/// `NTSTATUS`: negative values are errors (see [`NT_SUCCESS`]).
pub type NTSTATUS = i32;

/// Reinterprets the documented 32-bit hexadecimal form of a status code as an [`NTSTATUS`].
const fn status(code: u32) -> NTSTATUS {
    i32::from_ne_bytes(code.to_ne_bytes())
}

/// `STATUS_SUCCESS` (0x00000000).
pub const STATUS_SUCCESS: NTSTATUS = 0;
/// `STATUS_UNSUCCESSFUL` (0xC0000001).
pub const STATUS_UNSUCCESSFUL: NTSTATUS = status(0xC000_0001);
/// `STATUS_NOT_IMPLEMENTED` (0xC0000002).
pub const STATUS_NOT_IMPLEMENTED: NTSTATUS = status(0xC000_0002);
/// `STATUS_INVALID_PARAMETER` (0xC000000D): the documented answer to any invalid parameter.
pub const STATUS_INVALID_PARAMETER: NTSTATUS = status(0xC000_000D);
/// `STATUS_INSUFFICIENT_RESOURCES` (0xC000009A).
pub const STATUS_INSUFFICIENT_RESOURCES: NTSTATUS = status(0xC000_009A);
/// `STATUS_NOT_SUPPORTED` (0xC00000BB).
pub const STATUS_NOT_SUPPORTED: NTSTATUS = status(0xC000_00BB);
/// `STATUS_INVALID_DEVICE_STATE` (0xC0000184).
pub const STATUS_INVALID_DEVICE_STATE: NTSTATUS = status(0xC000_0184);
/// `STATUS_IO_DEVICE_ERROR` (0xC0000185): the device reported an I/O error.
pub const STATUS_IO_DEVICE_ERROR: NTSTATUS = status(0xC000_0185);
/// `STATUS_DEVICE_PROTOCOL_ERROR` (0xC0000186): the device broke its protocol (for a virtio
/// device: a used-ring entry or reply no conforming device writes).
pub const STATUS_DEVICE_PROTOCOL_ERROR: NTSTATUS = status(0xC000_0186);
/// `STATUS_DEVICE_REMOVED` (0xC00002B6): the device is gone (surprise removal).
pub const STATUS_DEVICE_REMOVED: NTSTATUS = status(0xC000_02B6);
/// `STATUS_NOT_FOUND` (0xC0000225).
pub const STATUS_NOT_FOUND: NTSTATUS = status(0xC000_0225);
/// `STATUS_NOINTERFACE` (0xC00002B9): what `QueryInterface` typically returns for a missing
/// interface (any failure code means "not there").
pub const STATUS_NOINTERFACE: NTSTATUS = status(0xC000_02B9);

/// The `NT_SUCCESS` macro: success and informational codes are non-negative.
#[must_use]
pub const fn NT_SUCCESS(status: NTSTATUS) -> bool {
    status >= 0
}

/// `GUID` as laid out in `guiddef.h` (16 bytes, 4-byte alignment).
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct GUID {
    /// First 32 bits.
    pub Data1: u32,
    /// Next 16 bits.
    pub Data2: u16,
    /// Next 16 bits.
    pub Data3: u16,
    /// Last 64 bits, in byte order.
    pub Data4: [u8; 8],
}

impl GUID {
    /// Builds a GUID from its registry form read as one 128-bit number, so that
    /// `{E1CD9915-CAB1-4103-BB2F-7DC09C9BE942}` is written `0xE1CD9915_CAB1_4103_BB2F_7DC09C9BE942`.
    #[must_use]
    #[allow(clippy::cast_possible_truncation)] // each shift keeps exactly the field's bits
    pub const fn from_u128(value: u128) -> Self {
        Self {
            Data1: (value >> 96) as u32,
            Data2: (value >> 80) as u16,
            Data3: (value >> 64) as u16,
            Data4: (value as u64).to_be_bytes(),
        }
    }

    /// The inverse of [`GUID::from_u128`].
    #[must_use]
    pub const fn to_u128(&self) -> u128 {
        ((self.Data1 as u128) << 96)
            | ((self.Data2 as u128) << 80)
            | ((self.Data3 as u128) << 64)
            | (u64::from_be_bytes(self.Data4) as u128)
    }
}

/// `REFIID`.
pub type REFIID = *const GUID;

/// `IID_IUnknown` {00000000-0000-0000-C000-000000000046}.
pub const IID_IUnknown: GUID = GUID::from_u128(0x0000_0000_0000_0000_C000_0000_0000_0046);
/// `IID_IPortClsStreamResourceManager` {E1CD9915-CAB1-4103-BB2F-7DC09C9BE942} (Windows 10 1507).
pub const IID_IPortClsStreamResourceManager: GUID =
    GUID::from_u128(0xE1CD_9915_CAB1_4103_BB2F_7DC0_9C9B_E942);
/// `IID_IPortClsStreamResourceManager2` {0D500BAE-D565-469D-A0E2-F283760D7148} (Windows 10 1511).
pub const IID_IPortClsStreamResourceManager2: GUID =
    GUID::from_u128(0x0D50_0BAE_D565_469D_A0E2_F283_760D_7148);

/// The PortCls `IUnknown`: a pointer to its vtable.
#[repr(C)]
#[derive(Debug)]
pub struct IUnknown {
    /// The object's vtable.
    pub lpVtbl: *const IUnknownVtbl,
}
/// `PUNKNOWN`.
pub type PUNKNOWN = *mut IUnknown;

/// `IUnknown`'s vtable as PortCls declares it: `QueryInterface` returns an [`NTSTATUS`].
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IUnknownVtbl {
    /// Slot 0: `QueryInterface(this, REFIID, PVOID*)`.
    pub QueryInterface:
        crate::kernel_abi!(unsafe fn(this: PUNKNOWN, riid: REFIID, object: *mut PVOID) -> NTSTATUS),
    /// Slot 1: `AddRef(this)`, returns the new count.
    pub AddRef: crate::kernel_abi!(unsafe fn(this: PUNKNOWN) -> ULONG),
    /// Slot 2: `Release(this)`, returns the new count.
    pub Release: crate::kernel_abi!(unsafe fn(this: PUNKNOWN) -> ULONG),
}

/// `PCSTREAMRESOURCE`: an opaque handle PortCls returns for a registration.
pub type PCSTREAMRESOURCE = *mut _PCSTREAMRESOURCE;

/// The undefined struct a [`PCSTREAMRESOURCE`] points to; never dereferenced.
#[repr(C)]
#[derive(Debug)]
pub struct _PCSTREAMRESOURCE {
    _opaque: [u8; 0],
}

/// `PcStreamResourceType` (a C enum, 4 bytes).
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct PcStreamResourceType(pub i32);

/// `ePcStreamResourceInterrupt`.
pub const ePcStreamResourceInterrupt: PcStreamResourceType = PcStreamResourceType(0);
/// `ePcStreamResourceThread`.
pub const ePcStreamResourceThread: PcStreamResourceType = PcStreamResourceType(1);
/// `ePcStreamResourceSet`: documented as reserved (only device-scoped resources are supported).
pub const ePcStreamResourceSet: PcStreamResourceType = PcStreamResourceType(2);

/// The `Interrupt` member of [`PCSTREAMRESOURCE_DESCRIPTOR_RESOURCE`]: the `Version` and
/// connection context that `IoConnectInterruptEx` returned.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCSTREAMRESOURCE_INTERRUPT {
    /// The connection version (`CONNECT_*`, see [`km`]).
    pub Version: ULONG,
    /// A `PKINTERRUPT` (line-based, fully specified) or a `PIO_INTERRUPT_MESSAGE_INFO`
    /// (message-based).
    pub Generic: PVOID,
}

/// The `Resource` union of [`PCSTREAMRESOURCE_DESCRIPTOR`].
#[repr(C)]
#[derive(Clone, Copy)]
pub union PCSTREAMRESOURCE_DESCRIPTOR_RESOURCE {
    /// For [`ePcStreamResourceInterrupt`].
    pub Interrupt: PCSTREAMRESOURCE_INTERRUPT,
    /// For [`ePcStreamResourceThread`].
    pub Thread: PETHREAD,
    /// For [`ePcStreamResourceSet`] (reserved, NULL).
    pub ResourceSet: PVOID,
}

impl core::fmt::Debug for PCSTREAMRESOURCE_DESCRIPTOR_RESOURCE {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PCSTREAMRESOURCE_DESCRIPTOR_RESOURCE { .. }")
    }
}

/// `PCSTREAMRESOURCE_DESCRIPTOR`: what a driver hands PortCls to register one resource.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCSTREAMRESOURCE_DESCRIPTOR {
    /// `sizeof(PCSTREAMRESOURCE_DESCRIPTOR)`.
    pub Size: ULONG,
    /// Must be 0.
    pub Flags: ULONG,
    /// The physical device object the resource belongs to.
    pub Pdo: PDEVICE_OBJECT,
    /// Which member of `Resource` is valid.
    pub Type: PcStreamResourceType,
    /// The resource itself.
    pub Resource: PCSTREAMRESOURCE_DESCRIPTOR_RESOURCE,
}

impl PCSTREAMRESOURCE_DESCRIPTOR {
    /// `sizeof(PCSTREAMRESOURCE_DESCRIPTOR)` as the `Size` field wants it.
    #[allow(clippy::cast_possible_truncation)] // 40 bytes
    pub const SIZE: ULONG = core::mem::size_of::<Self>() as ULONG;

    /// `PCSTREAMRESOURCE_DESCRIPTOR_INIT` on a slot: zeroes every byte, padding included, and
    /// sets `Size`. Field assignments through the returned reference keep the padding zero, so
    /// PortCls reads exactly the bytes a C driver would send (a by-value descriptor, as
    /// [`PCSTREAMRESOURCE_DESCRIPTOR::init`] returns, may lose its padding when moved).
    pub fn init_in_place(slot: &mut core::mem::MaybeUninit<Self>) -> &mut Self {
        // SAFETY: the slot is valid for writes of one descriptor.
        unsafe { slot.as_mut_ptr().write_bytes(0, 1) };
        // SAFETY: all-zero bytes are a valid descriptor (integers and null pointers).
        let descriptor = unsafe { slot.assume_init_mut() };
        descriptor.Size = Self::SIZE;
        descriptor
    }

    /// What `PCSTREAMRESOURCE_DESCRIPTOR_INIT` produces, by value: all fields zero but `Size`.
    #[must_use]
    pub const fn init() -> Self {
        Self {
            Size: Self::SIZE,
            Flags: 0,
            Pdo: core::ptr::null_mut(),
            Type: ePcStreamResourceInterrupt,
            Resource: PCSTREAMRESOURCE_DESCRIPTOR_RESOURCE {
                Interrupt: PCSTREAMRESOURCE_INTERRUPT {
                    Version: 0,
                    Generic: core::ptr::null_mut(),
                },
            },
        }
    }
}

/// `IPortClsStreamResourceManager` (Windows 10 1507 and later).
#[repr(C)]
#[derive(Debug)]
pub struct IPortClsStreamResourceManager {
    /// The object's vtable.
    pub lpVtbl: *const IPortClsStreamResourceManagerVtbl,
}

/// The vtable of [`IPortClsStreamResourceManager`].
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IPortClsStreamResourceManagerVtbl {
    /// Slots 0-2.
    pub base__: IUnknownVtbl,
    /// Slot 3: `AddStreamResource(this, ResourceSet /*NULL*/, descriptor, out handle)`; the PDO
    /// travels in `descriptor.Pdo`.
    pub AddStreamResource: crate::kernel_abi!(
        unsafe fn(
            this: *mut IPortClsStreamResourceManager,
            ResourceSet: PVOID,
            ResourceDescriptor: *mut PCSTREAMRESOURCE_DESCRIPTOR,
            ResourceHandle: *mut PCSTREAMRESOURCE,
        ) -> NTSTATUS
    ),
    /// Slot 4: `RemoveStreamResource(this, handle)`.
    pub RemoveStreamResource: crate::kernel_abi!(
        unsafe fn(
            this: *mut IPortClsStreamResourceManager,
            ResourceHandle: PCSTREAMRESOURCE,
        ) -> NTSTATUS
    ),
}

/// `IPortClsStreamResourceManager2` (Windows 10 1511 and later), derived from
/// [`IPortClsStreamResourceManager`].
#[repr(C)]
#[derive(Debug)]
pub struct IPortClsStreamResourceManager2 {
    /// The object's vtable.
    pub lpVtbl: *const IPortClsStreamResourceManager2Vtbl,
}

/// The vtable of [`IPortClsStreamResourceManager2`].
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IPortClsStreamResourceManager2Vtbl {
    /// Slots 0-4.
    pub base__: IPortClsStreamResourceManagerVtbl,
    /// Slot 5: `AddStreamResource2(this, PDO, ResourceSet /*NULL*/, descriptor, out handle)`.
    pub AddStreamResource2: crate::kernel_abi!(
        unsafe fn(
            this: *mut IPortClsStreamResourceManager2,
            PhysicalDeviceObject: PDEVICE_OBJECT,
            ResourceSet: PVOID,
            ResourceDescriptor: *mut PCSTREAMRESOURCE_DESCRIPTOR,
            ResourceHandle: *mut PCSTREAMRESOURCE,
        ) -> NTSTATUS
    ),
}

// The portcls.sys exports. Declared once; with `link` they are raw-dylib imports.
crate::kernel_abi! {
    #[cfg_attr(
        feature = "link",
        link(name = "portcls.sys", kind = "raw-dylib", modifiers = "+verbatim")
    )]
    unsafe extern {
        /// `PcAddStreamResource` (portcls.sys, Windows 10 1507 and later). IRQL: `PASSIVE_LEVEL`.
        ///
        /// A driver that imports it does not load where portcls.sys lacks it (Windows 8.1).
        pub fn PcAddStreamResource(
            PhysicalDeviceObject: PDEVICE_OBJECT,
            ResourceSet: PVOID,
            ResourceDescriptor: *mut PCSTREAMRESOURCE_DESCRIPTOR,
            ResourceHandle: *mut PCSTREAMRESOURCE,
        ) -> NTSTATUS;

        /// `PcRemoveStreamResource` (portcls.sys, Windows 10 1507 and later). IRQL: `PASSIVE_LEVEL`.
        pub fn PcRemoveStreamResource(ResourceHandle: PCSTREAMRESOURCE) -> NTSTATUS;

        /// `PcGetPhysicalDeviceObject` (portcls.sys, every version): the PDO under a PortCls FDO.
        pub fn PcGetPhysicalDeviceObject(
            DeviceObject: PDEVICE_OBJECT,
            PhysicalDeviceObject: *mut PDEVICE_OBJECT,
        ) -> NTSTATUS;
    }
}

#[cfg(target_pointer_width = "64")]
mod layout {
    use super::{
        GUID, IPortClsStreamResourceManager2Vtbl, IPortClsStreamResourceManagerVtbl, IUnknownVtbl,
        PCSTREAMRESOURCE_DESCRIPTOR, PCSTREAMRESOURCE_DESCRIPTOR_RESOURCE,
        PCSTREAMRESOURCE_INTERRUPT, PcStreamResourceType,
    };
    use core::mem::{align_of, offset_of, size_of};

    // Layouts from the reference sheet for x64 and arm64 (both 64-bit, same C ABI for these).
    const _: () = assert!(size_of::<GUID>() == 16 && align_of::<GUID>() == 4);
    const _: () = assert!(size_of::<PcStreamResourceType>() == 4);
    const _: () = assert!(size_of::<PCSTREAMRESOURCE_DESCRIPTOR>() == 40);
    const _: () = assert!(align_of::<PCSTREAMRESOURCE_DESCRIPTOR>() == 8);
    const _: () = assert!(offset_of!(PCSTREAMRESOURCE_DESCRIPTOR, Size) == 0);
    const _: () = assert!(offset_of!(PCSTREAMRESOURCE_DESCRIPTOR, Flags) == 4);
    const _: () = assert!(offset_of!(PCSTREAMRESOURCE_DESCRIPTOR, Pdo) == 8);
    const _: () = assert!(offset_of!(PCSTREAMRESOURCE_DESCRIPTOR, Type) == 16);
    const _: () = assert!(offset_of!(PCSTREAMRESOURCE_DESCRIPTOR, Resource) == 24);
    const _: () = assert!(size_of::<PCSTREAMRESOURCE_DESCRIPTOR_RESOURCE>() == 16);
    const _: () = assert!(offset_of!(PCSTREAMRESOURCE_INTERRUPT, Version) == 0);
    const _: () = assert!(offset_of!(PCSTREAMRESOURCE_INTERRUPT, Generic) == 8);
    // Vtable slots: each is one pointer, in declaration order.
    const _: () = assert!(size_of::<IUnknownVtbl>() == 3 * 8);
    const _: () =
        assert!(offset_of!(IPortClsStreamResourceManagerVtbl, AddStreamResource) == 3 * 8);
    const _: () =
        assert!(offset_of!(IPortClsStreamResourceManagerVtbl, RemoveStreamResource) == 4 * 8);
    const _: () =
        assert!(offset_of!(IPortClsStreamResourceManager2Vtbl, AddStreamResource2) == 5 * 8);
}

/// Helpers shared by the unit tests of this crate's modules.
#[cfg(test)]
mod test_support {
    /// Reads a GUID's registry form (`{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}`) as one number.
    pub(crate) fn parse_registry_form(text: &str) -> u128 {
        assert_eq!(text.len(), 38, "{text}");
        assert!(text.starts_with('{') && text.ends_with('}'), "{text}");
        let mut value = 0u128;
        for (i, c) in text[1..37].chars().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                assert_eq!(c, '-', "{text}");
            } else {
                value = (value << 4) | u128::from(c.to_digit(16).expect("hex digit"));
            }
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_values_match_the_reference_sheet() {
        let cases = [
            (IID_IUnknown, "{00000000-0000-0000-C000-000000000046}"),
            (
                IID_IPortClsStreamResourceManager,
                "{E1CD9915-CAB1-4103-BB2F-7DC09C9BE942}",
            ),
            (
                IID_IPortClsStreamResourceManager2,
                "{0D500BAE-D565-469D-A0E2-F283760D7148}",
            ),
        ];
        for (guid, text) in cases {
            assert_eq!(
                guid.to_u128(),
                crate::test_support::parse_registry_form(text),
                "{text}"
            );
        }
    }

    #[test]
    fn guid_fields_are_split_as_in_guiddef() {
        let guid = IID_IPortClsStreamResourceManager;
        assert_eq!(guid.Data1, 0xE1CD_9915);
        assert_eq!(guid.Data2, 0xCAB1);
        assert_eq!(guid.Data3, 0x4103);
        assert_eq!(guid.Data4, [0xBB, 0x2F, 0x7D, 0xC0, 0x9C, 0x9B, 0xE9, 0x42]);
        assert_eq!(GUID::from_u128(guid.to_u128()), guid);
    }

    #[test]
    fn status_codes_have_their_documented_bit_patterns() {
        assert_eq!(STATUS_INVALID_PARAMETER.cast_unsigned(), 0xC000_000D);
        assert_eq!(STATUS_INSUFFICIENT_RESOURCES.cast_unsigned(), 0xC000_009A);
        assert_eq!(STATUS_NOINTERFACE.cast_unsigned(), 0xC000_02B9);
        assert_eq!(STATUS_NOT_SUPPORTED.cast_unsigned(), 0xC000_00BB);
        assert!(NT_SUCCESS(STATUS_SUCCESS));
        assert!(!NT_SUCCESS(STATUS_UNSUCCESSFUL));
    }

    #[test]
    fn descriptor_init_is_zero_but_size() {
        let d = PCSTREAMRESOURCE_DESCRIPTOR::init();
        assert_eq!(d.Size, 40);
        assert_eq!(d.Flags, 0);
        assert!(d.Pdo.is_null());
        assert_eq!(d.Type, ePcStreamResourceInterrupt);
        // SAFETY: init() wrote the Interrupt member.
        let interrupt = unsafe { d.Resource.Interrupt };
        assert_eq!(interrupt.Version, 0);
        assert!(interrupt.Generic.is_null());
        assert_eq!(ePcStreamResourceThread.0, 1);
        assert_eq!(ePcStreamResourceSet.0, 2);
    }
}
