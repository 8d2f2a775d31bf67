//! The kernel stack the shipped image's own code uses, per entry point, over the driver's whole
//! life in the PortCls model (see `portcls_sim::stack` for how it is measured).
//!
//! `cargo test -p portcls-workspace-tests --test stack -- --show-output` prints the table (for
//! the image `PORTCLS_IMAGE` names, see `common::image_path`). Image only: a host build is a
//! debug build whose frames say nothing about the shipped code; and not under Miri, which runs
//! no machine code.
#![cfg(not(miri))]

mod common;

use std::fmt::Write as _;

use common::{Driver, format_bytes};
use portcls_sim::stack::{KERNEL_STACK_SIZE_X64, WINDOW};
use portcls_sim::{OsProfile, Sim, StackUse, Target};
use portcls_sys::STATUS_SUCCESS;
use portcls_sys::ks::{KSPROPERTY_AUDIO_VOLUMELEVEL, KSPROPERTY_TYPE_SET, KSPROPSETID_Audio};
use wavert_sample::descriptors::{CAPTURE_WAVE_HOST_PIN, RENDER_VOLUME_NODE, RENDER_WAVE_HOST_PIN};
use wavert_sample::format::Format;
use wavert_sample::identity::{CAPTURE_WAVE, RENDER_TOPOLOGY, RENDER_WAVE};

/// The most stack any one entry point of the driver may use: 8 KiB, a third of the x64
/// `KERNEL_STACK_SIZE` (24 KiB; arm64 has 32 KiB). The driver is never alone on its thread's
/// stack: the I/O manager, KS and PortCls are below it when it is called (a property request or
/// a pin state change arrives through several layers of dispatch), and the kernel routines it
/// calls (pool, events, spin locks, `PcNewPort`...) and an interrupt or DPC arriving while it
/// runs add to it; running off the end of a kernel stack is a bug check (a double fault,
/// `UNEXPECTED_KERNEL_MODE_TRAP`), not an error a driver can handle. A third for the driver's
/// own frames leaves two thirds to everything else. The figure checked is `StackUse::bytes`,
/// the driver's own frames, an upper bound (see `portcls_sim::stack`); on arm64 the same 8 KiB
/// is a quarter of the stack.
const BUDGET: usize = KERNEL_STACK_SIZE_X64 / 3;

/// The entry points the whole life below must reach, at least.
const EXPECTED: [&str; 11] = [
    "DriverEntry",
    "AddDevice",
    "IRP_MJ_PNP",
    "StartDevice",
    "IMiniportWaveRT::Init",
    "IMiniport::GetDescription",
    "IMiniport::DataRangeIntersection",
    "IMiniportWaveRT::NewStream",
    "IMiniportWaveRTStream::SetState",
    "IAdapterPowerManagement::PowerChangeState",
    // The engine thread's start routine: it runs the DMA periods for the thread's whole life.
    "ThreadStart",
];

const PAUSE: u32 = 2;
const RUN: u32 = 3;
/// One second in the model's 100 ns units.
const SECOND: u64 = 10_000_000;
/// `POWER_DEVICE_D0` and `POWER_DEVICE_D3`.
const D0: u32 = 1;
const D3: u32 = 4;

/// The driver's whole life under Windows 10 1511, every kind of entry point called at least once.
fn whole_life(sim: &Sim) {
    assert_eq!(common::load(sim), STATUS_SUCCESS);
    let device = sim.plug_in().unwrap();
    assert_eq!(sim.start_device(&device), STATUS_SUCCESS);
    // The endpoint builder's property requests, and a volume change.
    assert_eq!(sim.endpoints(device.fdo).unwrap().len(), 2);
    let mut instance = 0i32.to_le_bytes().to_vec();
    instance.extend_from_slice(&0u32.to_le_bytes());
    let set = sim.property(
        device.fdo,
        RENDER_TOPOLOGY.name,
        Target::Node(RENDER_VOLUME_NODE),
        KSPROPSETID_Audio,
        KSPROPERTY_AUDIO_VOLUMELEVEL,
        KSPROPERTY_TYPE_SET,
        &instance,
        &(-6i32 << 16).to_le_bytes(),
    );
    assert_eq!(set.status, STATUS_SUCCESS);
    // Both pins: negotiated, opened, run for a second, paused, stopped and closed.
    let mut streams = Vec::new();
    for (name, pin, capture) in [
        (RENDER_WAVE.name, RENDER_WAVE_HOST_PIN, false),
        (CAPTURE_WAVE.name, CAPTURE_WAVE_HOST_PIN, true),
    ] {
        let format = Format::PREFERRED;
        let range = portcls_sim::stream::audio_range(
            portcls_sys::ks::KSDATAFORMAT_SUBTYPE_PCM,
            2,
            u32::from(format.valid_bits())..=u32::from(format.sample().container_bits()),
            format.rate()..=format.rate(),
        );
        let negotiated = sim.negotiate(device.fdo, name, pin, &range).unwrap();
        assert_eq!(negotiated, format_bytes(format));
        let mut stream = sim.open_stream(device.fdo, name, pin, &negotiated).unwrap();
        assert_eq!(stream.is_capture(), capture);
        let _ = stream.set_format(&negotiated);
        stream.allocate_buffer(2, 1920).unwrap();
        assert_eq!(stream.register_event(), STATUS_SUCCESS);
        assert_eq!(stream.walk_to(RUN), STATUS_SUCCESS);
        streams.push(stream);
    }
    sim.advance(SECOND);
    for stream in &mut streams {
        stream.position().unwrap();
        let _ = stream.hw_latency();
        let _ = stream.registers();
        assert_eq!(stream.walk_to(PAUSE), STATUS_SUCCESS);
        assert_eq!(stream.walk_to(0), STATUS_SUCCESS);
    }
    for stream in streams {
        stream.close();
    }
    // A trip to D3 and back, a stop, a surprise removal, the removal.
    sim.set_power(device.fdo, D3).unwrap();
    sim.set_power(device.fdo, D0).unwrap();
    assert_eq!(sim.stop_device(device.fdo), STATUS_SUCCESS);
    assert_eq!(sim.surprise_remove(device.fdo), STATUS_SUCCESS);
    sim.remove_device(device.fdo);
    sim.unload_driver().unwrap();
    sim.assert_clean();
}

/// The figures as a table.
fn table(usage: &[StackUse]) -> String {
    let mut out = String::new();
    for (entry, bytes, span, at_call, frames, calls) in [
        ("entry point", "bytes", "span", "at model", "model", "calls"),
        ("", "", "", "call", "frames", ""),
    ] {
        let _ = writeln!(
            out,
            "{entry:<68} {bytes:>6} {span:>6} {at_call:>9} {frames:>7} {calls:>6}"
        );
    }
    for u in usage {
        let _ = writeln!(
            out,
            "{:<68} {:>6} {:>6} {:>9} {:>7} {:>6}{}",
            u.entry,
            u.bytes,
            u.span,
            u.deepest_model_call,
            u.model_frames,
            u.calls,
            if u.overflow { "  OVERFLOW" } else { "" }
        );
    }
    out
}

fn every_entry_point_stays_within_its_budget() {
    if !portcls_sim::stack::SUPPORTED {
        eprintln!("skipped: the model cannot measure stack use on this host");
        return;
    }
    let sim = Sim::new(OsProfile::Win10_1511);
    whole_life(&sim);
    let usage = sim.stack_usage();
    println!(
        "Stack use of {} per entry point (bytes; budget {BUDGET}, KERNEL_STACK_SIZE {} on x64, \
         window {WINDOW}):\n{}",
        common::image_path().display(),
        KERNEL_STACK_SIZE_X64,
        table(&usage)
    );
    let names: Vec<&str> = usage.iter().map(|u| u.entry.as_str()).collect();
    for expected in EXPECTED {
        assert!(
            names.contains(&expected),
            "{expected} was not measured: {names:?}"
        );
    }
    // The sample leaves `DriverUnload` to PortCls (`PcInitializeAdapterDriver` installs
    // PortCls's), so unloading runs no driver code and there is nothing to measure. If the
    // driver gets an unload routine of its own, this fails: add it to EXPECTED.
    assert!(
        !names.contains(&"DriverUnload"),
        "the driver has its own DriverUnload now: add it to EXPECTED"
    );
    let over: Vec<&StackUse> = usage
        .iter()
        .filter(|u| u.overflow || u.bytes > BUDGET)
        .collect();
    assert!(
        over.is_empty(),
        "over the {BUDGET}-byte budget:\n{}",
        table(&over.into_iter().cloned().collect::<Vec<_>>())
    );
}

#[test]
fn image_every_entry_point_stays_within_its_budget() {
    common::with_driver(Driver::Image, every_entry_point_stays_within_its_budget);
}
