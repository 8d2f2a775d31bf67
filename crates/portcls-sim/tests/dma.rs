//! DMA in the model: `IoGetDmaAdapter`, common buffers and the device's view of physical memory,
//! called through the `portcls-sys` declarations as a driver calls them (no safe wrapper in
//! between).

use std::ptr::null_mut;

use portcls_sim::physical::{PAGE_SIZE, PHYSICAL_MEMORY_BASE, PHYSICAL_MEMORY_SIZE};
use portcls_sim::{
    Ddi, Device, DeviceFault, DmaBreach, DmaOwner, DmaRange, OsProfile, Sim, Violation,
};
use portcls_sys::dma::{DMA_OPERATIONS, IoGetDmaAdapter, PDMA_ADAPTER};
use portcls_sys::km::{
    Compatible, DEVICE_DESCRIPTION, DEVICE_DESCRIPTION_VERSION, DEVICE_DESCRIPTION_VERSION2,
    DEVICE_DESCRIPTION_VERSION3, DISPATCH_LEVEL, PCIBus, PHYSICAL_ADDRESS, PIRP, PMDL, Width32Bits,
};
use portcls_sys::{
    NTSTATUS, PDEVICE_OBJECT, STATUS_INSUFFICIENT_RESOURCES, STATUS_NOT_SUPPORTED, STATUS_SUCCESS,
    ULONG,
};

const FOUR_GIB: u64 = 1 << 32;
const MEMORY_END: u64 = PHYSICAL_MEMORY_BASE + PHYSICAL_MEMORY_SIZE as u64;

/// A PCI bus master's description, as a virtio driver would fill it.
fn description(version: ULONG, dma64: bool) -> DEVICE_DESCRIPTION {
    DEVICE_DESCRIPTION {
        Version: version,
        Master: 1,
        ScatterGather: 1,
        DemandMode: 0,
        AutoInitialize: 0,
        Dma32BitAddresses: 1,
        IgnoreCount: 0,
        Reserved1: 0,
        Dma64BitAddresses: u8::from(dma64),
        BusNumber: 0,
        DmaChannel: 0,
        InterfaceType: PCIBus,
        DmaWidth: Width32Bits,
        DmaSpeed: Compatible,
        MaximumLength: 64 * 1024,
        DmaPort: 0,
        DmaAddressWidth: 0,
        DmaControllerInstance: 0,
        DmaRequestLine: 0,
        DeviceAddress: PHYSICAL_ADDRESS { QuadPart: 0 },
    }
}

/// `IoGetDmaAdapter` for `pdo`; the adapter (maybe null) and the map registers written.
fn get_adapter(pdo: PDEVICE_OBJECT, description: &mut DEVICE_DESCRIPTION) -> (PDMA_ADAPTER, u32) {
    let mut registers = 0;
    // SAFETY: a readable description and a writable count.
    let adapter = unsafe { IoGetDmaAdapter(pdo, description, &raw mut registers) };
    (adapter, registers)
}

/// A DMA adapter as a driver holds it: the object and its operations.
struct Adapter {
    raw: PDMA_ADAPTER,
    ops: DMA_OPERATIONS,
}

impl Adapter {
    /// A 64-bit (or 32-bit) bus-master adapter for `device`.
    fn get(device: &Device, dma64: bool) -> Self {
        let (raw, registers) = get_adapter(
            device.pdo,
            &mut description(DEVICE_DESCRIPTION_VERSION2, dma64),
        );
        assert!(!raw.is_null());
        assert_eq!(registers, 64 * 1024 / 4096 + 1);
        Self::from_raw(raw)
    }

    fn from_raw(raw: PDMA_ADAPTER) -> Self {
        // SAFETY: an adapter IoGetDmaAdapter returned, readable.
        let table = unsafe { (*raw).DmaOperations };
        // SAFETY: its table, which lives as long as the system.
        let ops = unsafe { *table };
        Self { raw, ops }
    }

    /// `AllocateCommonBuffer`: the virtual address (maybe null) and the logical address.
    fn allocate(&self, length: u32, cached: bool) -> (*mut u8, u64) {
        let mut logical = PHYSICAL_ADDRESS { QuadPart: -1 };
        // SAFETY: a live adapter, a writable logical address.
        let va = unsafe {
            (self.ops.AllocateCommonBuffer)(self.raw, length, &raw mut logical, u8::from(cached))
        };
        // SAFETY: every bit pattern is a valid i64.
        (va.cast(), unsafe { logical.QuadPart }.cast_unsigned())
    }

    /// `FreeCommonBuffer` with the given arguments.
    fn free(&self, length: u32, logical: u64, va: *mut u8, cached: bool) {
        let logical = PHYSICAL_ADDRESS {
            QuadPart: logical.cast_signed(),
        };
        // SAFETY: the model checks the arguments (that is what is tested).
        unsafe {
            (self.ops.FreeCommonBuffer)(self.raw, length, logical, va.cast(), u8::from(cached));
        }
    }

    fn put(&self) {
        // SAFETY: the model checks the adapter.
        unsafe { (self.ops.PutDmaAdapter)(self.raw) };
    }
}

fn dma_violation(ddi: Ddi, adapter: PDMA_ADAPTER, breach: DmaBreach) -> Violation {
    Violation::Dma {
        ddi,
        adapter: adapter.addr(),
        breach,
    }
}

#[test]
fn a_common_buffer_is_page_aligned_physical_memory_shared_by_driver_and_device() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let device = sim.add_device();
    let memory = sim.device_memory();
    let adapter = Adapter::get(&device, true);
    // SAFETY: the adapter object is readable.
    let object = unsafe { &*adapter.raw };
    let (version, size) = (object.Version, object.Size);
    assert_eq!((version, size), (1, 16));
    assert_eq!(adapter.ops.Size as usize, size_of::<DMA_OPERATIONS>());
    // SAFETY: a live adapter.
    assert_eq!(unsafe { (adapter.ops.GetDmaAlignment)(adapter.raw) }, 1);

    let (va, logical) = adapter.allocate(1000, true);
    assert!(!va.is_null());
    assert!(logical.is_multiple_of(PAGE_SIZE as u64));
    assert!((PHYSICAL_MEMORY_BASE..MEMORY_END).contains(&logical));
    assert!(
        logical >= FOUR_GIB,
        "a 64-bit adapter's buffer comes from above 4 GiB"
    );
    assert_eq!(
        memory.ranges(),
        [DmaRange {
            physical: logical,
            length: 1000,
            owner: DmaOwner::CommonBuffer {
                adapter: adapter.raw.addr()
            },
        }]
    );
    assert_eq!(sim.common_buffers(), 1);
    // Not zeroed: filled with the model's pattern.
    // SAFETY: the buffer's first byte.
    assert_eq!(unsafe { va.read() }, portcls_sim::dma::COMMON_BUFFER_FILL);

    // The driver writes through the virtual address; the device reads by logical address.
    // SAFETY: 5 bytes inside the 1000-byte buffer.
    unsafe { std::ptr::copy_nonoverlapping(b"hello".as_ptr(), va.wrapping_add(10), 5) };
    let mut seen = [0u8; 5];
    memory.read(logical + 10, &mut seen).unwrap();
    assert_eq!(&seen, b"hello");
    // And the other way round.
    memory.write(logical + 995, b"tail!").unwrap();
    let mut back = [0u8; 5];
    // SAFETY: the buffer's last 5 bytes.
    unsafe { std::ptr::copy_nonoverlapping(va.wrapping_add(995), back.as_mut_ptr(), 5) };
    assert_eq!(&back, b"tail!");
    assert_eq!(memory.host_ptr(logical, 1000).unwrap().as_ptr(), va);
    assert!(memory.accessible(logical, 1000));
    assert!(!memory.accessible(logical, 1001));
    // The arena is the same memory, one host range.
    let arena = memory.arena();
    assert_eq!(
        (arena.base, arena.length),
        (PHYSICAL_MEMORY_BASE, PHYSICAL_MEMORY_SIZE)
    );
    assert_eq!(
        arena.host_address(logical).map(std::ptr::NonNull::as_ptr),
        Some(va)
    );

    adapter.free(1000, logical, va, true);
    assert_eq!(sim.common_buffers(), 0);
    assert!(memory.ranges().is_empty());
    adapter.put();
    assert_eq!(sim.dma_adapters(), 0);
    sim.assert_clean();
}

#[test]
fn a_32_bit_adapter_gets_buffers_below_4_gib() {
    let sim = Sim::new(OsProfile::Win10_2004);
    let device = sim.add_device();
    let adapter = Adapter::get(&device, false);
    let (va, logical) = adapter.allocate(3 * 4096, false);
    assert!(!va.is_null());
    assert!(logical >= PHYSICAL_MEMORY_BASE && logical + 3 * 4096 <= FOUR_GIB);
    adapter.free(3 * 4096, logical, va, false);
    adapter.put();
    sim.assert_clean();
}

#[test]
fn device_accesses_outside_live_allocations_fail_and_are_violations() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let device = sim.add_device();
    let memory = sim.device_memory();
    let adapter = Adapter::get(&device, true);
    let (va, logical) = adapter.allocate(256, true);
    let mut buffer = [7u8; 16];

    // Straddling the end of the buffer: refused, nothing copied.
    let straddle = memory.read(logical + 250, &mut buffer).unwrap_err();
    assert_eq!(
        straddle.fault,
        DeviceFault::Straddles {
            allocation: logical,
            length: 256
        }
    );
    assert_eq!(buffer, [7u8; 16]);
    // The guard page below, never allocated.
    let never = memory.write(logical - 4096, &buffer).unwrap_err();
    assert_eq!(never.fault, DeviceFault::NeverAllocated);
    // A host pointer handed over untranslated.
    let host = va.addr() as u64;
    let outside = memory.read(host, &mut buffer).unwrap_err();
    assert_eq!(outside.fault, DeviceFault::OutsidePhysicalMemory);
    // A logical address truncated to 32 bits.
    let truncated = logical & 0xFFFF_FFFF;
    assert!(memory.host_ptr(truncated, 16).is_err());
    // After the free.
    adapter.free(256, logical, va, true);
    let freed = memory.read(logical, &mut buffer).unwrap_err();
    assert_eq!(freed.fault, DeviceFault::Freed);
    assert_eq!(buffer, [7u8; 16]);
    adapter.put();

    let access = |physical, length, write, fault| Violation::DeviceAccess {
        physical,
        length,
        write,
        fault,
    };
    assert_eq!(
        sim.violations(),
        [
            access(logical + 250, 16, false, straddle.fault),
            access(logical - 4096, 16, true, DeviceFault::NeverAllocated),
            access(host, 16, false, DeviceFault::OutsidePhysicalMemory),
            access(truncated, 16, true, DeviceFault::OutsidePhysicalMemory),
            access(logical, 16, false, DeviceFault::Freed),
        ]
    );
    assert!(
        straddle.to_string().contains("runs past the end"),
        "{straddle}"
    );
}

#[test]
fn an_adapter_not_put_and_a_buffer_not_freed_are_leftovers() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let device = sim.add_device();
    let adapter = Adapter::get(&device, true);
    let (_va, logical) = adapter.allocate(64, true);
    let leftovers = sim.leftovers();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");
    assert!(leftovers[0].contains("not put"), "{leftovers:?}");
    assert!(
        leftovers[1].contains("not freed") && leftovers[1].contains(&format!("{logical:#x}")),
        "{leftovers:?}"
    );
}

#[test]
fn the_irql_rules_hold_and_a_breach_does_nothing() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let device = sim.add_device();
    let adapter = Adapter::get(&device, true);
    let (va, logical) = adapter.allocate(64, true);
    {
        let _dispatch = portcls_sim::raise_irql(DISPATCH_LEVEL);
        let (raw, _) = get_adapter(
            device.pdo,
            &mut description(DEVICE_DESCRIPTION_VERSION, true),
        );
        assert!(raw.is_null());
        assert!(adapter.allocate(64, true).0.is_null());
        adapter.free(64, logical, va, true);
        adapter.put();
    }
    assert_eq!((sim.dma_adapters(), sim.common_buffers()), (1, 1));
    let too_high = |ddi| Violation::IrqlTooHigh {
        ddi,
        irql: DISPATCH_LEVEL,
    };
    assert_eq!(
        sim.violations(),
        [
            too_high(Ddi::IoGetDmaAdapter),
            too_high(Ddi::AllocateCommonBuffer),
            too_high(Ddi::FreeCommonBuffer),
            too_high(Ddi::PutDmaAdapter),
        ]
    );
    adapter.free(64, logical, va, true);
    adapter.put();
    assert_eq!((sim.dma_adapters(), sim.common_buffers()), (0, 0));
}

#[test]
fn a_free_that_does_not_match_its_allocation_frees_nothing() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let device = sim.add_device();
    let adapter = Adapter::get(&device, true);
    let other = Adapter::get(&device, true);
    let (va, logical) = adapter.allocate(512, true);
    let (other_va, other_logical) = other.allocate(512, true);

    adapter.free(256, logical, va, true); // wrong length
    adapter.free(512, logical + 4096, va, true); // wrong logical address
    adapter.free(512, logical, va, false); // wrong cache setting
    adapter.free(512, logical, va.wrapping_add(8), true); // not where the buffer starts
    adapter.free(512, other_logical, other_va, true); // the other adapter's buffer
    assert_eq!(sim.common_buffers(), 2);
    assert!(sim.device_memory().accessible(logical, 512));

    let mismatch = |length, logical_passed, cached| DmaBreach::FreeMismatch {
        virtual_address: va.addr(),
        allocated_length: 512,
        length,
        allocated_logical: logical,
        logical: logical_passed,
        allocated_cached: true,
        cached,
    };
    let free = |breach| dma_violation(Ddi::FreeCommonBuffer, adapter.raw, breach);
    assert_eq!(
        sim.violations(),
        [
            free(mismatch(256, logical, true)),
            free(mismatch(512, logical + 4096, true)),
            free(mismatch(512, logical, false)),
            free(DmaBreach::NoSuchCommonBuffer {
                virtual_address: va.addr() + 8
            }),
            free(DmaBreach::NoSuchCommonBuffer {
                virtual_address: other_va.addr()
            }),
        ]
    );
    adapter.free(512, logical, va, true);
    other.free(512, other_logical, other_va, true);
    adapter.put();
    other.put();
    assert!(
        sim.leftovers().len() == 5,
        "only the five violations are left"
    );
}

#[test]
fn a_put_with_buffers_allocated_a_double_put_and_use_after_put_are_violations() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let device = sim.add_device();
    let adapter = Adapter::get(&device, true);
    let (_va, _logical) = adapter.allocate(64, true);
    adapter.put();
    adapter.put();
    assert!(adapter.allocate(64, true).0.is_null());
    let breach = |ddi, breach| dma_violation(ddi, adapter.raw, breach);
    assert_eq!(
        sim.violations(),
        [
            breach(
                Ddi::PutDmaAdapter,
                DmaBreach::PutWithCommonBuffers { buffers: 1 }
            ),
            breach(Ddi::PutDmaAdapter, DmaBreach::AlreadyPut),
            breach(Ddi::AllocateCommonBuffer, DmaBreach::AlreadyPut),
        ]
    );
    // The buffer is lost with the adapter: a leftover.
    assert_eq!(sim.common_buffers(), 1);
    // A pointer that never was an adapter.
    let mut fake = portcls_sys::dma::DMA_ADAPTER {
        Version: 1,
        Size: 16,
        DmaOperations: adapter.raw.cast(),
    };
    // SAFETY: the model looks the address up; it never reads through it.
    unsafe { (adapter.ops.PutDmaAdapter)(&raw mut fake) };
    assert_eq!(
        sim.violations().last(),
        Some(&dma_violation(
            Ddi::PutDmaAdapter,
            &raw mut fake,
            DmaBreach::UnknownAdapter
        ))
    );
}

#[test]
fn only_the_devices_pdo_and_a_complete_bus_master_description_get_an_adapter() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let device = sim.add_device();
    let mut good = description(DEVICE_DESCRIPTION_VERSION2, true);
    let mut registers = 0;
    let refused: Vec<PDMA_ADAPTER> = vec![
        get_adapter(device.fdo, &mut good).0,
        get_adapter(null_mut(), &mut good).0,
        // SAFETY: the model checks the pointers before it uses them.
        unsafe { IoGetDmaAdapter(device.pdo, null_mut(), &raw mut registers) },
        // SAFETY: as above.
        unsafe { IoGetDmaAdapter(device.pdo, &raw mut good, null_mut()) },
        get_adapter(device.pdo, &mut description(7, true)).0,
        get_adapter(
            device.pdo,
            &mut description(DEVICE_DESCRIPTION_VERSION3, true),
        )
        .0,
        get_adapter(
            device.pdo,
            &mut DEVICE_DESCRIPTION {
                Master: 0,
                ..description(DEVICE_DESCRIPTION_VERSION, false)
            },
        )
        .0,
    ];
    assert!(refused.iter().all(|a| a.is_null()));
    assert_eq!(sim.dma_adapters(), 0);
    let breaches: Vec<DmaBreach> = sim
        .violations()
        .into_iter()
        .map(|v| match v {
            Violation::Dma {
                ddi: Ddi::IoGetDmaAdapter,
                adapter: 0,
                breach,
            } => breach,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert!(matches!(
        breaches.as_slice(),
        [
            DmaBreach::NotThePdo { object: fdo },
            DmaBreach::NotThePdo { object: 0 },
            DmaBreach::BadArgument { .. },
            DmaBreach::BadArgument { .. },
            DmaBreach::BadArgument { .. },
            DmaBreach::NotModeled { .. },
            DmaBreach::NotModeled { .. },
        ] if *fdo == device.fdo.addr()
    ));
}

portcls_sys::kernel_abi! {
    unsafe fn start_device(
        _fdo: PDEVICE_OBJECT,
        _irp: PIRP,
        _res: portcls_sys::wavert::PRESOURCELIST,
    ) -> NTSTATUS {
        STATUS_SUCCESS
    }

    unsafe fn add_device(
        driver: portcls_sys::km::PDRIVER_OBJECT,
        pdo: PDEVICE_OBJECT,
    ) -> NTSTATUS {
        // SAFETY: the arguments the system passed, forwarded.
        unsafe {
            portcls_sys::wavert::PcAddAdapterDevice(
                driver,
                pdo,
                Some(start_device),
                1,
                portcls_sys::wavert::PORT_CLASS_DEVICE_EXTENSION_SIZE,
            )
        }
    }

    unsafe fn driver_entry(
        driver: portcls_sys::km::PDRIVER_OBJECT,
        path: portcls_sys::km::PUNICODE_STRING,
    ) -> NTSTATUS {
        // SAFETY: the arguments the I/O manager passed, forwarded.
        unsafe { portcls_sys::wavert::PcInitializeAdapterDriver(driver, path, Some(add_device)) }
    }
}

#[test]
fn an_adapter_must_be_put_before_its_device_is_removed() {
    let sim = Sim::new(OsProfile::Win10_1511);
    assert_eq!(sim.load_driver(driver_entry), STATUS_SUCCESS);
    let device = sim.plug_in().unwrap();
    assert_eq!(sim.start_device(&device), STATUS_SUCCESS);
    let adapter = Adapter::get(&device, true);
    sim.remove_device(device.fdo);
    assert_eq!(
        sim.violations(),
        [dma_violation(
            Ddi::PcDispatchIrp,
            adapter.raw,
            DmaBreach::NotPutBeforeRemoval
        )]
    );
    adapter.put();
    sim.unload_driver().unwrap();
    assert_eq!(sim.leftovers().len(), 1, "{:?}", sim.leftovers());
}

#[test]
fn the_operations_the_model_does_not_implement_fail_safely() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let device = sim.add_device();
    let adapter = Adapter::get(&device, true);
    let (raw, ops) = (adapter.raw, adapter.ops);
    // SAFETY: a live adapter; the model ignores the other arguments.
    let counter = unsafe { (ops.ReadDmaCounter)(raw) };
    // SAFETY: as above; the routine must not be called.
    let channel = unsafe { (ops.AllocateAdapterChannel)(raw, device.fdo, 1, None, null_mut()) };
    let mdl: PMDL = null_mut();
    // SAFETY: as above.
    let list = unsafe {
        (ops.GetScatterGatherList)(raw, device.fdo, mdl, null_mut(), 64, None, null_mut(), 1)
    };
    let mut length = 64;
    // SAFETY: as above.
    let mapped = unsafe { (ops.MapTransfer)(raw, mdl, null_mut(), null_mut(), &raw mut length, 1) };
    assert_eq!(
        (counter, channel, list),
        (0, STATUS_NOT_SUPPORTED, STATUS_NOT_SUPPORTED)
    );
    // SAFETY: every bit pattern is a valid i64.
    assert_eq!(unsafe { mapped.QuadPart }, 0);
    let operations: Vec<&str> = sim
        .violations()
        .iter()
        .map(|v| match *v {
            Violation::Dma {
                ddi: Ddi::DmaOperation,
                breach: DmaBreach::NotModeled { operation },
                ..
            } => operation,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        operations,
        [
            "ReadDmaCounter",
            "AllocateAdapterChannel",
            "GetScatterGatherList",
            "MapTransfer"
        ]
    );
    adapter.put();
}

/// What a driver's start routine does: an adapter and two common buffers, everything given
/// back on a failure (and nothing kept: this is only the failure path under test).
fn set_up_dma(device: &Device) -> NTSTATUS {
    let (raw, _) = get_adapter(
        device.pdo,
        &mut description(DEVICE_DESCRIPTION_VERSION2, true),
    );
    if raw.is_null() {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    let adapter = Adapter::from_raw(raw);
    let (queue, queue_logical) = adapter.allocate(4096, true);
    if queue.is_null() {
        adapter.put();
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    let (events, events_logical) = adapter.allocate(512, true);
    if events.is_null() {
        adapter.free(4096, queue_logical, queue, true);
        adapter.put();
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    adapter.free(512, events_logical, events, true);
    adapter.free(4096, queue_logical, queue, true);
    adapter.put();
    STATUS_SUCCESS
}

#[test]
fn every_fallible_dma_call_can_fail_and_leaves_nothing_allocated() {
    let calls = {
        let sim = Sim::new(OsProfile::Win10_1511);
        let device = sim.add_device();
        assert_eq!(set_up_dma(&device), STATUS_SUCCESS);
        sim.assert_clean();
        sim.fallible_calls()
    };
    assert_eq!(
        calls, 3,
        "IoGetDmaAdapter and two AllocateCommonBuffer calls"
    );
    let mut failed = Vec::new();
    for k in 1..=calls {
        let sim = Sim::new(OsProfile::Win10_1511);
        let device = sim.add_device();
        sim.fail_nth_call(k, STATUS_INSUFFICIENT_RESOURCES);
        assert_eq!(
            set_up_dma(&device),
            STATUS_INSUFFICIENT_RESOURCES,
            "call {k}"
        );
        assert!(sim.device_memory().ranges().is_empty());
        sim.assert_clean();
        failed.extend(sim.injected());
    }
    assert_eq!(
        failed,
        [
            Ddi::IoGetDmaAdapter,
            Ddi::AllocateCommonBuffer,
            Ddi::AllocateCommonBuffer
        ]
    );
    // And by routine: the first common buffer of a run fails, its logical address untouched.
    let sim = Sim::new(OsProfile::Win10_1511);
    let device = sim.add_device();
    sim.fail_call(Ddi::AllocateCommonBuffer, 1, STATUS_INSUFFICIENT_RESOURCES);
    let adapter = Adapter::get(&device, true);
    let (va, logical) = adapter.allocate(64, true);
    assert!(va.is_null());
    assert_eq!(
        logical,
        u64::MAX,
        "LogicalAddress is not written on failure"
    );
    assert_eq!(sim.common_buffers(), 0);
    adapter.put();
    sim.assert_clean();
}
