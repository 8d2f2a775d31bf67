//! The adapter comes up in the PortCls model as Windows would bring it up: driver load,
//! `AddDevice`, `StartDevice` with four subdevices and two physical connections; it answers format
//! negotiation on its host pins; removal gives everything back; and every failure on the way
//! up leaves nothing behind once the device is removed.

mod common;

use common::bring_up;
use portcls_sim::{Ddi, OsProfile, PhysicalConnection, PortKind, Sim};
use portcls_sys::ks::KSDATARANGE_AUDIO;
use portcls_sys::wavert::IMiniportVtbl;
use portcls_sys::{STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS};
use wavert_sample::identity;

fn start_device_registers_the_four_subdevices_and_their_connections() {
    for profile in OsProfile::ALL {
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        let subdevices = sim.subdevices(device.fdo);
        let names: Vec<&str> = subdevices.iter().map(|s| s.name.as_str()).collect();
        let expected: Vec<&str> = identity::SUBDEVICES.iter().map(|s| s.name).collect();
        assert_eq!(names.len(), 4, "{profile}");
        for name in &expected {
            assert!(
                names.contains(name),
                "{profile}: {name} missing from {names:?}"
            );
        }
        for subdevice in &subdevices {
            let wave = subdevice.name.starts_with("Wave");
            let kind = if wave {
                PortKind::WaveRt
            } else {
                PortKind::Topology
            };
            assert_eq!(subdevice.kind, kind, "{}", subdevice.name);
            assert_eq!(subdevice.pins, 2, "{}", subdevice.name);
        }
        let connection = |from: &str, from_pin, to: &str, to_pin| PhysicalConnection {
            from: from.to_owned(),
            from_pin,
            to: to.to_owned(),
            to_pin,
        };
        assert_eq!(
            sim.physical_connections(device.fdo),
            vec![
                connection("WaveSpeaker", 1, "TopologySpeaker", 0),
                connection("TopologyMicrophone", 1, "WaveMicrophone", 0),
            ]
        );
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

/// Calls `DataRangeIntersection` on a subdevice's miniport as PortCls does.
fn intersect(
    sim: &Sim,
    fdo: portcls_sys::PDEVICE_OBJECT,
    name: &str,
    pin: u32,
    range: &KSDATARANGE_AUDIO,
    out: &mut [u8],
) -> (i32, u32) {
    let miniport = sim.miniport(fdo, name).unwrap();
    // SAFETY: a live miniport starts with a pointer to its vtable.
    let vtable = unsafe { miniport.cast::<*const IMiniportVtbl>().read() };
    // SAFETY: that vtable begins with IMiniport's.
    let vtable = unsafe { vtable.read() };
    let mut written = 0u32;
    let length = u32::try_from(out.len()).unwrap();
    let range = std::ptr::from_ref(range).cast_mut().cast();
    // SAFETY: the arguments PortCls passes: a readable range, a writable buffer and length.
    let status = unsafe {
        (vtable.DataRangeIntersection)(
            miniport.cast(),
            pin,
            range,
            range,
            length,
            out.as_mut_ptr().cast(),
            &raw mut written,
        )
    };
    (status, written)
}

fn client_range(bits: u32, rate: u32) -> KSDATARANGE_AUDIO {
    // SAFETY: all-zero is a valid KSDATARANGE_AUDIO (integers and GUIDs).
    let mut range: KSDATARANGE_AUDIO = unsafe { std::mem::zeroed() };
    range.DataRange.FormatSize = 88;
    range.DataRange.MajorFormat = portcls_sys::ks::KSDATAFORMAT_TYPE_AUDIO;
    range.DataRange.SubFormat = portcls_sys::ks::KSDATAFORMAT_SUBTYPE_PCM;
    range.DataRange.Specifier = portcls_sys::ks::KSDATAFORMAT_SPECIFIER_WAVEFORMATEX;
    range.MaximumChannels = 2;
    range.MinimumBitsPerSample = bits;
    range.MaximumBitsPerSample = bits;
    range.MinimumSampleFrequency = rate;
    range.MaximumSampleFrequency = rate;
    range
}

fn the_host_pins_negotiate_formats_with_a_size_probe_first() {
    let sim = Sim::new(OsProfile::Win10_1511);
    let device = bring_up(&sim);
    let range = client_range(16, 44_100);
    let (status, needed) = intersect(&sim, device.fdo, "WaveSpeaker", 0, &range, &mut []);
    assert_eq!(
        (status, needed),
        (wavert_sample::format::STATUS_BUFFER_OVERFLOW, 104)
    );
    let mut out = [0u8; 104];
    let (status, written) = intersect(&sim, device.fdo, "WaveSpeaker", 0, &range, &mut out);
    assert_eq!((status, written), (STATUS_SUCCESS, 104));
    let format = wavert_sample::format::Format::parse(&out).unwrap();
    assert_eq!(
        (format.rate(), format.channels(), format.valid_bits()),
        (44_100, 2, 16)
    );
    // The capture host pin is pin 1; bridge pins are left to PortCls.
    let (status, _) = intersect(
        &sim,
        device.fdo,
        "WaveMicrophone",
        1,
        &client_range(16, 48_000),
        &mut out,
    );
    assert_eq!(status, STATUS_SUCCESS);
    let (status, _) = intersect(&sim, device.fdo, "WaveSpeaker", 1, &range, &mut out);
    assert_eq!(status, portcls_sys::STATUS_NOT_IMPLEMENTED);
    // A rate the device does not have: no match.
    let (status, _) = intersect(
        &sim,
        device.fdo,
        "WaveSpeaker",
        0,
        &client_range(16, 8_000),
        &mut out,
    );
    assert_eq!(status, wavert_sample::format::STATUS_NO_MATCH);
    sim.remove_device(device.fdo);
    sim.assert_clean();
}

fn every_failure_while_coming_up_is_undone_by_removal() {
    // A clean run names the fallible calls in order; then each one fails in turn.
    let ddis: Vec<Ddi> = {
        let sim = Sim::new(OsProfile::Win10_1511);
        let device = bring_up(&sim);
        let fallible = [
            Ddi::PcInitializeAdapterDriver,
            Ddi::PcAddAdapterDevice,
            Ddi::PcNewPort,
            Ddi::ExAllocatePoolWithTag,
            Ddi::PcRegisterSubdevice,
            Ddi::PcRegisterPhysicalConnection,
            Ddi::PcRegisterAdapterPowerManagement,
        ];
        let ddis: Vec<Ddi> = sim
            .trace()
            .iter()
            .map(|e| e.ddi)
            .filter(|d| fallible.contains(d))
            .collect();
        assert_eq!(
            sim.fallible_calls(),
            19,
            "load, add, the loopback cable's ring, adapter object, power registration, \
             4 x (port, pool, register), 2 connections"
        );
        assert_eq!(ddis.len(), 19, "{ddis:?}");
        sim.remove_device(device.fdo);
        ddis
    };
    for (k, ddi) in (1..).zip(&ddis) {
        let sim = Sim::new(OsProfile::Win10_1511);
        sim.fail_nth_call(k, STATUS_INSUFFICIENT_RESOURCES);
        let loaded = common::load(&sim);
        let outcome = if loaded == STATUS_SUCCESS {
            match sim.plug_in() {
                Ok(device) => {
                    let status = sim.start_device(&device);
                    sim.remove_device(device.fdo);
                    status
                }
                Err(status) => status,
            }
        } else {
            loaded
        };
        assert_eq!(
            outcome, STATUS_INSUFFICIENT_RESOURCES,
            "failing call {k} ({ddi:?})"
        );
        sim.assert_clean();
    }
}

both_drivers!(
    start_device_registers_the_four_subdevices_and_their_connections,
    the_host_pins_negotiate_formats_with_a_size_probe_first,
    every_failure_while_coming_up_is_undone_by_removal,
);
