//! The kernel enum and macro values of [`portcls_sys::km`] against their documented values, and
//! what the hand-written `Debug` impls of the crate's unions print.
//!
//! The values were read from the mingw-w64 DDK headers (`ddk/wdm.h`: `MEMORY_CACHING_TYPE`,
//! `INTERFACE_TYPE`, `DMA_WIDTH`, `DMA_SPEED`, `DEVICE_REGISTRY_PROPERTY`, the `CONNECT_*`,
//! `IRP_MJ_*` / `IRP_MN_*` and IRQL macros, `DEVICE_POWER_STATE`) and, for what those headers
//! lack (`CONNECT_MESSAGE_BASED_PASSIVE`, `DEVICE_DESCRIPTION_VERSION3`), from the WDK's
//! documentation. Unlike the ABI oracle this needs no C compiler, so the values are checked on
//! every host; the oracle compares the ones mingw-w64 has with the headers mechanically.

use portcls_sys::km::{self, INTERFACE_TYPE, LARGE_INTEGER, MEMORY_CACHING_TYPE};
use portcls_sys::ks::{
    KSPIN_DESCRIPTOR_CONSTRAINED, KSPIN_DESCRIPTOR_RESERVED, KSPROPERTY_BOUNDS_LONG,
    KSPROPERTY_BOUNDS_LONG_SIGNED, KSPROPERTY_BOUNDS_LONG_UNSIGNED, KSPROPERTY_STEPPING_LONG,
};
use portcls_sys::{
    PCSTREAMRESOURCE_DESCRIPTOR, PCSTREAMRESOURCE_DESCRIPTOR_RESOURCE, PCSTREAMRESOURCE_INTERRUPT,
};

#[test]
fn memory_caching_types_have_the_wdm_values() {
    let cases: [(MEMORY_CACHING_TYPE, i32, &str); 8] = [
        (km::MmNonCached, 0, "MmNonCached"),
        (km::MmCached, 1, "MmCached"),
        (km::MmWriteCombined, 2, "MmWriteCombined"),
        (km::MmHardwareCoherentCached, 3, "MmHardwareCoherentCached"),
        (km::MmNonCachedUnordered, 4, "MmNonCachedUnordered"),
        (km::MmUSWCCached, 5, "MmUSWCCached"),
        (km::MmMaximumCacheType, 6, "MmMaximumCacheType"),
        // `MmNotMapped = -1`: the one negative enumerator, all bits set in the 4-byte enum.
        (km::MmNotMapped, -1, "MmNotMapped"),
    ];
    for (constant, value, name) in cases {
        assert_eq!(constant.0, value, "{name}");
    }
    assert_eq!(km::MmNotMapped.0.cast_unsigned(), 0xFFFF_FFFF);
}

#[test]
fn interface_types_have_the_wdm_values() {
    let cases: [(INTERFACE_TYPE, i32, &str); 3] = [
        // `InterfaceTypeUndefined = -1`, then `Internal` and the buses count up from 0.
        (km::InterfaceTypeUndefined, -1, "InterfaceTypeUndefined"),
        (km::Internal, 0, "Internal"),
        (km::PCIBus, 5, "PCIBus"),
    ];
    for (constant, value, name) in cases {
        assert_eq!(constant.0, value, "{name}");
    }
    assert_eq!(km::InterfaceTypeUndefined.0.cast_unsigned(), 0xFFFF_FFFF);
}

#[test]
fn dma_and_device_property_enums_have_the_wdm_values() {
    assert_eq!(
        [
            km::Width8Bits.0,
            km::Width16Bits.0,
            km::Width32Bits.0,
            km::Width64Bits.0
        ],
        [0, 1, 2, 3]
    );
    assert_eq!([km::Compatible.0, km::MaximumDmaSpeed.0], [0, 5]);
    let properties = [
        (km::DevicePropertyDeviceDescription, 0),
        (km::DevicePropertyHardwareID, 1),
        (km::DevicePropertyClassGuid, 6),
        (km::DevicePropertyDriverKeyName, 7),
        (km::DevicePropertyManufacturer, 8),
        (km::DevicePropertyFriendlyName, 9),
        (km::DevicePropertyPhysicalDeviceObjectName, 0xB),
        (km::DevicePropertyEnumeratorName, 0xF),
        (km::DevicePropertyContainerID, 0x16),
    ];
    for (constant, value) in properties {
        assert_eq!(constant.0, value, "{constant:?}");
    }
}

#[test]
fn kernel_macros_have_the_wdm_values() {
    assert_eq!(
        [km::PASSIVE_LEVEL, km::APC_LEVEL, km::DISPATCH_LEVEL],
        [0, 1, 2]
    );
    assert_eq!(
        [
            km::CONNECT_FULLY_SPECIFIED,
            km::CONNECT_LINE_BASED,
            km::CONNECT_MESSAGE_BASED,
            km::CONNECT_FULLY_SPECIFIED_GROUP,
            km::CONNECT_MESSAGE_BASED_PASSIVE,
        ],
        [1, 2, 3, 4, 5]
    );
    assert_eq!(
        [
            km::DEVICE_DESCRIPTION_VERSION,
            km::DEVICE_DESCRIPTION_VERSION1,
            km::DEVICE_DESCRIPTION_VERSION2,
            km::DEVICE_DESCRIPTION_VERSION3,
        ],
        [0, 1, 2, 3]
    );
    assert_eq!(km::IRP_MJ_MAXIMUM_FUNCTION, 0x1B);
    assert_eq!([km::IRP_MJ_POWER, km::IRP_MJ_PNP], [0x16, 0x1B]);
    assert_eq!(
        [
            km::IRP_MN_START_DEVICE,
            km::IRP_MN_REMOVE_DEVICE,
            km::IRP_MN_STOP_DEVICE,
            km::IRP_MN_SURPRISE_REMOVAL,
        ],
        [0x00, 0x02, 0x04, 0x17]
    );
    // `PowerDeviceUnspecified` is 0, so D0 ... D3 are 1 ... 4.
    assert_eq!(
        [
            km::POWER_DEVICE_D0,
            km::POWER_DEVICE_D1,
            km::POWER_DEVICE_D2,
            km::POWER_DEVICE_D3,
        ],
        [1, 2, 3, 4]
    );
}

#[test]
fn large_integer_debug_shows_the_whole_signed_value() {
    // The union prints as its `QuadPart`: negative values stay negative, and both halves count.
    let negative = LARGE_INTEGER { QuadPart: -2 };
    assert_eq!(format!("{negative:?}"), "LARGE_INTEGER { QuadPart: -2 }");
    let halves = LARGE_INTEGER {
        u: km::LARGE_INTEGER_PARTS {
            LowPart: 2,
            HighPart: 1,
        },
    };
    assert_eq!(
        format!("{halves:?}"),
        "LARGE_INTEGER { QuadPart: 4294967298 }"
    );
}

#[test]
fn bounds_debug_shows_the_signed_range() {
    // The union prints its signed reading, which is what volume ranges (dB x 65536) are.
    let bounds = KSPROPERTY_BOUNDS_LONG {
        Signed: KSPROPERTY_BOUNDS_LONG_SIGNED {
            SignedMinimum: -96 * 65_536,
            SignedMaximum: 0,
        },
    };
    assert_eq!(
        format!("{bounds:?}"),
        "KSPROPERTY_BOUNDS_LONG { SignedMinimum: -6291456, SignedMaximum: 0 }"
    );
    // The same bits written as unsigned bounds read back signed.
    let unsigned = KSPROPERTY_BOUNDS_LONG {
        Unsigned: KSPROPERTY_BOUNDS_LONG_UNSIGNED {
            UnsignedMinimum: u32::MAX,
            UnsignedMaximum: 1,
        },
    };
    assert_eq!(
        format!("{unsigned:?}"),
        "KSPROPERTY_BOUNDS_LONG { SignedMinimum: -1, SignedMaximum: 1 }"
    );
    // And inside a derived Debug, the stepped range shows its bounds.
    let stepping = KSPROPERTY_STEPPING_LONG {
        SteppingDelta: 32_768,
        Reserved: 0,
        Bounds: bounds,
    };
    let text = format!("{stepping:?}");
    assert!(text.contains("SteppingDelta: 32768"), "{text}");
    assert!(
        text.contains(
            "Bounds: KSPROPERTY_BOUNDS_LONG { SignedMinimum: -6291456, SignedMaximum: 0 }"
        ),
        "{text}"
    );
}

#[test]
fn opaque_union_debug_names_the_union_without_reading_it() {
    // These unions cannot tell which member is live, so they print their name and `..`, and
    // never read (possibly uninitialised or pointer) bytes.
    let reserved = KSPIN_DESCRIPTOR_RESERVED { Reserved: 0 };
    assert_eq!(format!("{reserved:?}"), "KSPIN_DESCRIPTOR_RESERVED { .. }");
    let constrained = KSPIN_DESCRIPTOR_RESERVED {
        Constrained: KSPIN_DESCRIPTOR_CONSTRAINED {
            ConstrainedDataRangesCount: 3,
            ConstrainedDataRanges: core::ptr::null_mut(),
        },
    };
    assert_eq!(
        format!("{constrained:?}"),
        "KSPIN_DESCRIPTOR_RESERVED { .. }"
    );

    let resource = PCSTREAMRESOURCE_DESCRIPTOR_RESOURCE {
        Interrupt: PCSTREAMRESOURCE_INTERRUPT {
            Version: km::CONNECT_LINE_BASED,
            Generic: core::ptr::null_mut(),
        },
    };
    assert_eq!(
        format!("{resource:?}"),
        "PCSTREAMRESOURCE_DESCRIPTOR_RESOURCE { .. }"
    );
    // The descriptor's derived Debug shows its own fields and the union's placeholder.
    let descriptor = PCSTREAMRESOURCE_DESCRIPTOR::init();
    let text = format!("{descriptor:?}");
    assert!(
        text.starts_with("PCSTREAMRESOURCE_DESCRIPTOR { Size: 40, Flags: 0,"),
        "{text}"
    );
    assert!(
        text.ends_with("Resource: PCSTREAMRESOURCE_DESCRIPTOR_RESOURCE { .. } }"),
        "{text}"
    );
}
