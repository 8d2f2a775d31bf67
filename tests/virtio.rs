//! The sample driver on a virtio-sound PCI function: `StartDevice` finds the function in its
//! resources, reads its configuration space through the bus interface, maps its register BAR
//! (the model traps every access), starts the device with rust-vmm's `vhost-device-sound` as
//! the device (over the machine's own physical memory), connects its MSI-X interrupt (or the
//! line) and registers it with PortCls through the `portcls` crate as a stream resource for
//! the life of the connection; removal unregisters it before disconnecting it, resets the
//! device and gives everything back. On the host build and on the packaged image, under every
//! OS profile the driver loads on.
#![cfg(all(
    target_os = "linux",
    not(miri),
    any(target_arch = "x86_64", target_arch = "aarch64")
))]

mod common;

use portcls_sim::ks_events::KsEvent;
use portcls_sim::property::{Flow, JackDescription, Target};
use portcls_sim::virtio_pci::{Interrupt, VirtioDevice};
use portcls_sim::{Device, OsProfile, PnpRequest, Resource, Sim, Stream, Via};
use portcls_sys::STATUS_SUCCESS;
use portcls_sys::km::{CONNECT_LINE_BASED, CONNECT_MESSAGE_BASED};
use virtio_oracle::Oracle;
use virtio_oracle::jacks::{Jack as DeviceJack, JackLie, WithJacks};
use virtio_oracle::liar::{Liar, Lie};
use virtio_oracle::machine::{self, PacedFunction};
use virtio_oracle::paced::MoreStream;
use wavert_sample::format::Format;

type Function<D = Oracle> = virtio_oracle::machine::Function<D>;
type Paced = PacedFunction;

/// A virtio-sound function on `sim`'s bus with `messages` MSI-X messages (0: its line), the
/// oracle behind it over the machine's memory, its register BAR trapped, its work run when the
/// driver waits.
fn plug_in(sim: &Sim, messages: u16) -> (Device, Function) {
    try_plug_in(sim, messages).expect("the function is plugged in")
}

/// [`plug_in`], or the status `AddDevice` failed with.
fn try_plug_in(sim: &Sim, messages: u16) -> Result<(Device, Function), portcls_sys::NTSTATUS> {
    let oracle = Oracle::over(&sim.device_memory().arena());
    machine::plug_in(sim, messages, oracle, |_, _| {})
}

/// The oracle kept at its streams' rate in the machine's virtual time.
fn plug_in_paced(sim: &Sim, messages: u16) -> Paced {
    PacedFunction::plug_in(sim, messages).expect("the function is plugged in")
}

fn conforming<D: VirtioDevice>(function: &Function<D>) {
    let function = function.lock().unwrap();
    assert_eq!(function.breaches(), [] as [String; 0]);
    assert_eq!(function.device_errors(), [] as [String; 0]);
}

/// The interrupt's registrations on the machine (the start's and every other).
fn interrupt_registrations(sim: &Sim) -> Vec<(Via, u32)> {
    sim.registration_history()
        .into_iter()
        .filter_map(|r| match r.resource {
            Resource::Interrupt { version, .. } => Some((r.via, version)),
            Resource::Thread(_) => None,
        })
        .collect()
}

fn a_message_interrupt_is_registered_for_the_life_of_the_connection() {
    for profile in common::loadable_profiles() {
        let sim = Sim::new(profile);
        assert_eq!(common::load(&sim), STATUS_SUCCESS);
        let (device, function) = plug_in(&sim, 5);
        assert_eq!(sim.start_device(&device), STATUS_SUCCESS, "{profile}");
        assert_eq!(
            function.lock().unwrap().status() & 0x0F,
            0x0F,
            "{profile}: DRIVER_OK"
        );
        // The control queue's replies during the start: interrupts, delivered now.
        let delivered = sim.run_devices();
        assert!(delivered > 0, "{profile}: the start's replies interrupted");
        let live: Vec<_> = sim
            .registrations()
            .into_iter()
            .filter(|r| matches!(r.resource, Resource::Interrupt { .. }))
            .collect();
        if profile == OsProfile::Windows81 {
            assert!(live.is_empty(), "{profile}: nothing to register with");
        } else {
            assert_eq!(live.len(), 1, "{profile}");
            assert_eq!(
                live[0].pdo,
                device.pdo.addr(),
                "{profile}: for the device's PDO"
            );
            assert!(
                matches!(
                    live[0].resource,
                    Resource::Interrupt {
                        version: CONNECT_MESSAGE_BASED,
                        ..
                    }
                ),
                "{profile}: {:?}",
                live[0].resource
            );
            let expected_v2 = profile != OsProfile::Win10_1507;
            assert_eq!(
                matches!(live[0].via, Via::InterfaceV2 { .. }),
                expected_v2,
                "{profile}: {:?}",
                live[0].via
            );
        }
        sim.remove_device(device.fdo);
        assert!(sim.registrations().is_empty(), "{profile}");
        {
            let function = function.lock().unwrap();
            assert_eq!(function.status(), 0, "{profile}: reset at removal");
        }
        conforming(&function);
        assert!(
            sim.violations().is_empty(),
            "{profile}: {:?}",
            sim.violations()
        );
        sim.unload_driver().expect("unload");
        sim.assert_clean();
        if profile == OsProfile::Win10_1511 {
            println!("the conversation under {profile}:");
            for event in sim.trace() {
                println!("  {event}");
            }
        }
    }
}

fn without_messages_the_line_interrupt_is_registered() {
    let sim = Sim::new(OsProfile::Win10_1511);
    assert_eq!(common::load(&sim), STATUS_SUCCESS);
    let (device, function) = plug_in(&sim, 0);
    assert_eq!(sim.start_device(&device), STATUS_SUCCESS);
    assert_eq!(
        function.lock().unwrap().take_interrupts(),
        [] as [Interrupt; 0]
    );
    let registered = interrupt_registrations(&sim);
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0].1, CONNECT_LINE_BASED);
    sim.remove_device(device.fdo);
    conforming(&function);
    sim.unload_driver().expect("unload");
    sim.assert_clean();
}

/// Every fallible call on the way up fails in turn: the start fails with that status (or
/// goes on, for the registration, which a driver survives), and removal leaves nothing:
/// nothing mapped, allocated, connected or registered, the device reset. On the oracle, and on
/// a device with five streams (five endpoints, each registered and wired, to be undone).
fn every_failure_while_starting_the_function_is_undone() {
    let (total, failed) = every_failure_while_starting_is_undone_on(|sim| try_plug_in(sim, 5));
    println!(
        "{total} fallible calls up to a started virtio function; {failed} failures failed the start"
    );
    assert!(failed > 10);
    let (more, failed_more) = every_failure_while_starting_is_undone_on(|sim| {
        PacedFunction::with_streams(sim, 5, &MORE_STREAMS)
            .map(|paced| (paced.device, paced.function))
    });
    println!(
        "{more} fallible calls up to a started virtio function with five streams; {failed_more} \
         failures failed the start"
    );
    assert!(more > total && failed_more > failed);
}

/// [`every_failure_while_starting_the_function_is_undone`] on the function `plug` plugs in:
/// the fallible calls of a start, and how many of their failures failed it.
fn every_failure_while_starting_is_undone_on<D: VirtioDevice + 'static>(
    plug: impl Fn(&Sim) -> Result<(Device, Function<D>), portcls_sys::NTSTATUS>,
) -> (u64, usize) {
    let total = {
        let sim = Sim::new(OsProfile::Win10_1511);
        assert_eq!(common::load(&sim), STATUS_SUCCESS);
        let (device, _function) = plug(&sim).expect("the function is plugged in");
        let before = sim.fallible_calls();
        assert_eq!(sim.start_device(&device), STATUS_SUCCESS);
        let total = sim.fallible_calls();
        assert!(total > before, "the start makes fallible calls");
        sim.remove_device(device.fdo);
        total
    };
    let mut failed_starts = 0;
    for k in 1..=total {
        let sim = Sim::new(OsProfile::Win10_1511);
        sim.fail_nth_call(k, portcls_sys::STATUS_INSUFFICIENT_RESOURCES);
        if common::load(&sim) != STATUS_SUCCESS {
            sim.assert_clean();
            continue;
        }
        let Ok((device, function)) = plug(&sim) else {
            sim.unload_driver().expect("unload");
            sim.assert_clean();
            continue;
        };
        let status = sim.start_device(&device);
        if status != STATUS_SUCCESS {
            failed_starts += 1;
            assert_eq!(
                status,
                portcls_sys::STATUS_INSUFFICIENT_RESOURCES,
                "failing call {k}"
            );
        }
        sim.remove_device(device.fdo);
        assert!(sim.registrations().is_empty(), "failing call {k}");
        assert!(sim.subdevices(device.fdo).is_empty(), "failing call {k}");
        assert_eq!(
            function.lock().unwrap().status() & 0x04,
            0,
            "failing call {k}: not left running"
        );
        conforming(&function);
        assert!(
            sim.violations().is_empty(),
            "failing call {k}: {:?}",
            sim.violations()
        );
        sim.unload_driver().expect("unload");
        sim.assert_clean();
    }
    (total, failed_starts)
}

/// The live interrupt registrations.
fn live_interrupts(sim: &Sim) -> usize {
    sim.registrations()
        .into_iter()
        .filter(|r| matches!(r.resource, Resource::Interrupt { .. }))
        .count()
}

/// A PnP stop unregisters and disconnects the interrupt and resets the device, and removal
/// after it finds nothing left; after a surprise removal (the function gone: every register
/// reads all ones, the reset never completes) the driver still lets go of everything.
fn stop_and_surprise_removal_give_the_function_back() {
    let sim = Sim::new(OsProfile::Win10_1511);
    assert_eq!(common::load(&sim), STATUS_SUCCESS);
    let (device, function) = plug_in(&sim, 5);
    assert_eq!(sim.start_device(&device), STATUS_SUCCESS);
    assert_eq!(live_interrupts(&sim), 1);
    assert_eq!(sim.stop_device(device.fdo), STATUS_SUCCESS);
    assert_eq!(live_interrupts(&sim), 0, "unregistered at stop");
    assert_eq!(function.lock().unwrap().status(), 0, "reset at stop");
    sim.remove_device(device.fdo);
    conforming(&function);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.unload_driver().expect("unload");
    sim.assert_clean();

    let sim = Sim::new(OsProfile::Win10_1511);
    assert_eq!(common::load(&sim), STATUS_SUCCESS);
    let (device, function) = plug_in(&sim, 5);
    assert_eq!(sim.start_device(&device), STATUS_SUCCESS);
    let _ = sim.run_devices();
    function.lock().unwrap().surprise_remove();
    let _ = sim.surprise_remove(device.fdo);
    assert_eq!(live_interrupts(&sim), 0, "unregistered at surprise removal");
    sim.remove_device(device.fdo);
    conforming(&function);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.unload_driver().expect("unload");
    sim.assert_clean();
}

/// The kernel stack the image's own code uses on the virtio path (start with the device, both
/// streams on it from open to close, the ISR and the DPC with its completions, stop), per
/// entry point: reported, and held to the budget every other
/// entry point has (8 KiB, `tests/stack.rs`).
fn the_virtio_path_stays_within_the_stack_budget() {
    if !portcls_sim::stack::SUPPORTED {
        eprintln!("skipped: the model cannot measure stack use on this host");
        return;
    }
    let sim = Sim::new(OsProfile::Win10_1511);
    assert_eq!(common::load(&sim), STATUS_SUCCESS);
    let paced = plug_in_paced(&sim, 5);
    assert_eq!(sim.start_device(&paced.device), STATUS_SUCCESS);
    assert!(sim.run_devices() > 0);
    assert_eq!(
        stream_life(&sim, &paced),
        10,
        "both streams ran on the device"
    );
    sim.remove_device(paced.device.fdo);
    let usage = sim.stack_usage();
    for entry in &usage {
        println!("  {:<44} {:>6} bytes", entry.entry, entry.bytes);
    }
    let budget = portcls_sim::stack::KERNEL_STACK_SIZE_X64 / 3;
    let over: Vec<_> = usage
        .iter()
        .filter(|u| u.overflow || u.bytes > budget)
        .collect();
    assert!(over.is_empty(), "over {budget} bytes: {over:?}");
}

/// Leaving D0 unregisters and disconnects the interrupt and resets the device (the
/// stream-resource docs: interrupts are disconnected in Dx); back in D0 the device starts again
/// and its interrupt is connected and registered anew.
fn d3_disconnects_the_interrupt_and_d0_brings_it_back() {
    const D0: u32 = 1;
    const D3: u32 = 4;
    let sim = Sim::new(OsProfile::Win10_1511);
    assert_eq!(common::load(&sim), STATUS_SUCCESS);
    let (device, function) = plug_in(&sim, 5);
    assert_eq!(sim.start_device(&device), STATUS_SUCCESS);
    let _ = sim.run_devices();
    for _ in 0..2 {
        sim.set_power(device.fdo, D3).expect("D3");
        assert_eq!(live_interrupts(&sim), 0, "unregistered in D3");
        assert_eq!(function.lock().unwrap().status(), 0, "reset in D3");
        sim.set_power(device.fdo, D0).expect("D0");
        assert_eq!(live_interrupts(&sim), 1, "registered again in D0");
        assert_eq!(
            function.lock().unwrap().status() & 0x0F,
            0x0F,
            "DRIVER_OK again"
        );
        assert!(sim.run_devices() > 0, "the restart's replies interrupt");
    }
    sim.remove_device(device.fdo);
    conforming(&function);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.unload_driver().expect("unload");
    sim.assert_clean();
}

/// `KSSTATE_*`.
const STOP: u32 = 0;
const ACQUIRE: u32 = 1;
const PAUSE: u32 = 2;
const RUN: u32 = 3;
/// 1 ms in the machine's time units.
const MS: u64 = 10_000;
/// The device streams the oracle has: output, then input.
const RENDER_ID: usize = 0;
const CAPTURE_ID: usize = 1;

/// A stream opened on the function: the preferred format (48 kHz, 16-bit stereo), a buffer of
/// `bytes` with `notifications` points, an event registered.
fn open(sim: &Sim, device: &Device, capture: bool, bytes: u32, notifications: u32) -> Stream {
    let mut stream = common::open_host_pin(sim, device, capture, Format::PREFERRED);
    stream.allocate_buffer(notifications, bytes).unwrap();
    assert_eq!(stream.register_event(), STATUS_SUCCESS);
    stream
}

/// The linear frame a cyclic `GetPosition` stands for, given the linear frame `near` it is
/// within a buffer of.
fn linear(offset: u64, near: u64, buffer_frames: u64) -> u64 {
    let base = near - near % buffer_frames;
    let candidate = base + offset / 4;
    if candidate + buffer_frames / 2 < near {
        candidate + buffer_frames
    } else if candidate > near + buffer_frames / 2 {
        candidate - buffer_frames
    } else {
        candidate
    }
}

/// Both directions stream on the device, timed by it: a render and a capture stream run for
/// a second of virtual time with the oracle at 48 kHz. At every millisecond each position is
/// at or past what the device consumed and at most one period ahead; each notification point
/// the device reached signals the event; the captured audio is what the device recorded
/// (its frame counter), where the position says; a pause holds the positions; STOP takes
/// every period back. Only the interrupt is registered (no engine thread), for the device's
/// PDO; nothing is left afterwards.
fn both_directions_stream_on_the_device_at_its_pace() {
    for profile in common::loadable_profiles() {
        let sim = Sim::new(profile);
        assert_eq!(common::load(&sim), STATUS_SUCCESS);
        let paced = plug_in_paced(&sim, 5);
        let device = &paced.device;
        assert_eq!(sim.start_device(device), STATUS_SUCCESS, "{profile}");
        let _ = sim.run_devices();
        // 20 ms buffers, two points each: two 10 ms (1920-byte) device periods.
        let (bytes, frames, period) = (3840_u32, 960_u64, 480_u64);
        let mut render = open(&sim, device, false, bytes, 2);
        let mut capture = open(&sim, device, true, bytes, 2);
        for stream in [&mut render, &mut capture] {
            assert_eq!(stream.walk_to(RUN), STATUS_SUCCESS, "{profile}");
        }
        let threads = sim
            .registrations()
            .into_iter()
            .filter(|r| matches!(r.resource, Resource::Thread(_)))
            .count();
        assert_eq!(
            threads, 0,
            "{profile}: the device is the clock, no engine thread"
        );
        if profile != OsProfile::Windows81 {
            assert_eq!(live_interrupts(&sim), 1, "{profile}");
        }
        for ms in 1..=1000_u64 {
            paced.tick(&sim, MS);
            for (stream, id) in [(&render, RENDER_ID), (&capture, CAPTURE_ID)] {
                let done = paced.frames(id);
                let (offset, _) = stream.position().expect("a position");
                let at = linear(offset, done, frames);
                assert!(
                    done <= at && at <= done + period,
                    "{profile} at {ms} ms, device stream {id}: at {at}, the device at {done}"
                );
            }
        }
        assert_eq!(
            paced.frames(RENDER_ID),
            48_000,
            "{profile}: one second played"
        );
        assert_eq!(
            paced.frames(CAPTURE_ID),
            48_000,
            "{profile}: one second recorded"
        );
        assert_eq!(
            render.event_signals(),
            100,
            "{profile}: a signal per 10 ms point"
        );
        assert_eq!(capture.event_signals(), 100, "{profile}");
        // The last period recorded (frames 47 520..48 000) holds the device's frame counter.
        let recorded = capture.read_buffer();
        for frame in 47_520..48_000_u64 {
            let at = usize::try_from(frame % frames * 4).unwrap();
            let sample = u16::from_le_bytes([recorded[at], recorded[at + 1]]);
            assert_eq!(
                u64::from(sample),
                frame & 0xFFFF,
                "{profile}: frame {frame}"
            );
        }
        // A pause holds both positions; RUN goes on from there.
        for stream in [&mut render, &mut capture] {
            assert_eq!(stream.set_state(PAUSE), STATUS_SUCCESS, "{profile}");
        }
        let held = (render.position().unwrap(), capture.position().unwrap());
        for _ in 0..50 {
            paced.tick(&sim, MS);
        }
        assert_eq!(
            (render.position().unwrap(), capture.position().unwrap()),
            held,
            "{profile}: held while paused"
        );
        for stream in [&mut render, &mut capture] {
            assert_eq!(stream.set_state(RUN), STATUS_SUCCESS, "{profile}");
        }
        for _ in 0..100 {
            paced.tick(&sim, MS);
        }
        assert_eq!(paced.frames(RENDER_ID), 52_800, "{profile}: 100 ms more");
        // STOP: every period back, the positions at 0.
        for stream in [&mut render, &mut capture] {
            assert_eq!(stream.walk_to(STOP), STATUS_SUCCESS, "{profile}");
            assert_eq!(stream.position().unwrap(), (0, 0), "{profile}");
        }
        let released = paced.frames(RENDER_ID);
        for _ in 0..20 {
            paced.tick(&sim, MS);
        }
        assert_eq!(
            paced.frames(RENDER_ID),
            released,
            "{profile}: nothing plays after STOP"
        );
        finish(&sim, &paced, [render, capture], &profile.to_string());
    }
}

/// The streams close, the device goes: nothing registered, no rule of the model or the spec
/// broken, the device refused nothing, the driver unloads clean.
fn finish<const N: usize>(sim: &Sim, paced: &Paced, streams: [Stream; N], what: &str) {
    for stream in streams {
        stream.close();
    }
    sim.remove_device(paced.device.fdo);
    assert!(sim.registrations().is_empty(), "{what}");
    conforming(&paced.function);
    assert!(
        sim.violations().is_empty(),
        "{what}: {:?}",
        sim.violations()
    );
    sim.unload_driver().expect("unload");
    sim.assert_clean();
}

/// A render stream runs on a device that starts lying: a failed period status (the device's
/// `IO_ERR`, `NOT_SUPP`, a code the spec does not have, a status cut short) fails the stream
/// with its status; a used entry no device writes (a length beyond the chain, a head the
/// driver never posted, a used index ahead) faults the queue and fails the stream as a
/// protocol error. Either way the position reports it and RUN is refused with it, the steps
/// back to STOP succeed, and closing, removal and unload leave nothing.
fn a_device_that_lies_while_streaming_fails_the_stream_cleanly() {
    use portcls_sys::{STATUS_DEVICE_PROTOCOL_ERROR, STATUS_IO_DEVICE_ERROR, STATUS_NOT_SUPPORTED};
    let tx = 2_u16;
    for (lie, status) in [
        (
            Lie::Status {
                queue: tx,
                code: 0x8003,
            },
            STATUS_IO_DEVICE_ERROR,
        ),
        (
            Lie::Status {
                queue: tx,
                code: 0x8002,
            },
            STATUS_NOT_SUPPORTED,
        ),
        (
            Lie::Status {
                queue: tx,
                code: 0x8007,
            },
            STATUS_DEVICE_PROTOCOL_ERROR,
        ),
        (
            Lie::UsedLength { queue: tx, len: 4 },
            STATUS_DEVICE_PROTOCOL_ERROR,
        ),
        (
            Lie::UsedLength { queue: tx, len: 9 },
            STATUS_DEVICE_PROTOCOL_ERROR,
        ),
        (
            Lie::UsedId { queue: tx, id: 63 },
            STATUS_DEVICE_PROTOCOL_ERROR,
        ),
        (
            Lie::UsedIndexAhead { queue: tx },
            STATUS_DEVICE_PROTOCOL_ERROR,
        ),
    ] {
        let what = format!("{lie:?}");
        let sim = Sim::new(OsProfile::Win10_1511);
        assert_eq!(common::load(&sim), STATUS_SUCCESS);
        let liar = Liar::new(Oracle::over(&sim.device_memory().arena()));
        let (device, function) =
            machine::plug_in(&sim, 5, liar, |_, _| {}).expect("the function is plugged in");
        assert_eq!(sim.start_device(&device), STATUS_SUCCESS, "{what}");
        let mut render = open(&sim, &device, false, 3840, 2);
        assert_eq!(render.walk_to(RUN), STATUS_SUCCESS, "{what}");
        let run = |sim: &Sim| {
            for _ in 0..5 {
                sim.advance(MS);
                let _ = sim.run_devices();
            }
        };
        run(&sim);
        assert!(render.position().is_ok(), "{what}: the truth first");
        assert!(render.event_signals() > 0, "{what}: periods came back");
        function.lock().unwrap().device().lie(lie);
        run(&sim);
        assert_eq!(render.position(), Err(status), "{what}");
        assert_eq!(render.set_state(PAUSE), STATUS_SUCCESS, "{what}");
        assert_eq!(render.set_state(RUN), status, "{what}: RUN refused");
        assert_eq!(render.walk_to(STOP), STATUS_SUCCESS, "{what}: back to STOP");
        function.lock().unwrap().device().lie(Lie::None);
        render.close();
        sim.remove_device(device.fdo);
        assert!(sim.registrations().is_empty(), "{what}");
        assert_eq!(function.lock().unwrap().status(), 0, "{what}: reset");
        assert_eq!(
            function.lock().unwrap().breaches(),
            [] as [String; 0],
            "{what}"
        );
        assert!(
            sim.violations().is_empty(),
            "{what}: {:?}",
            sim.violations()
        );
        sim.unload_driver().expect("unload");
        sim.assert_clean();
    }
}

/// A device that stops answering control requests while a stream plays (it takes nothing
/// from the control queue any more): the stream's next command (PAUSE's `STOP`) waits its
/// 100 ms and gives up; the device is then taken for broken, so the stream fails
/// (`GetPosition` and RUN answer `STATUS_IO_DEVICE_ERROR`) and no new stream binds, while the
/// steps back to STOP succeed; D3 and back starts the device anew and a stream plays again;
/// removal leaves nothing.
fn a_device_that_stops_answering_fails_the_stream_cleanly() {
    use portcls_sys::{STATUS_DEVICE_PROTOCOL_ERROR, STATUS_IO_DEVICE_ERROR};
    const D0: u32 = 1;
    const D3: u32 = 4;
    let sim = Sim::new(OsProfile::Win10_1511);
    assert_eq!(common::load(&sim), STATUS_SUCCESS);
    let liar = Liar::new(Oracle::over(&sim.device_memory().arena()));
    let (device, function) =
        machine::plug_in(&sim, 5, liar, |_, _| {}).expect("the function is plugged in");
    assert_eq!(sim.start_device(&device), STATUS_SUCCESS);
    let run = |sim: &Sim| {
        for _ in 0..5 {
            sim.advance(MS);
            let _ = sim.run_devices();
        }
    };
    let mut render = open(&sim, &device, false, 3840, 2);
    assert_eq!(render.walk_to(RUN), STATUS_SUCCESS);
    run(&sim);
    assert!(render.position().is_ok(), "the truth first");
    function
        .lock()
        .unwrap()
        .device()
        .lie(Lie::Silent { queue: 0 });
    assert_eq!(
        render.set_state(PAUSE),
        STATUS_SUCCESS,
        "PAUSE itself succeeds"
    );
    assert_eq!(render.position(), Err(STATUS_IO_DEVICE_ERROR));
    assert_eq!(render.set_state(RUN), STATUS_IO_DEVICE_ERROR, "RUN refused");
    assert_eq!(render.walk_to(STOP), STATUS_SUCCESS, "back to STOP");
    assert_eq!(
        render.set_state(ACQUIRE),
        STATUS_DEVICE_PROTOCOL_ERROR,
        "a broken device binds nothing"
    );
    render.close();
    function.lock().unwrap().device().lie(Lie::None);
    sim.set_power(device.fdo, D3).expect("D3");
    sim.set_power(device.fdo, D0).expect("D0");
    let mut render = open(&sim, &device, false, 3840, 2);
    assert_eq!(
        render.walk_to(RUN),
        STATUS_SUCCESS,
        "the device started anew"
    );
    let before = render.event_signals();
    run(&sim);
    assert!(render.event_signals() > before, "and it plays");
    assert!(render.position().is_ok());
    assert_eq!(render.walk_to(STOP), STATUS_SUCCESS);
    render.close();
    sim.remove_device(device.fdo);
    assert!(sim.registrations().is_empty());
    assert_eq!(function.lock().unwrap().status(), 0, "reset");
    assert_eq!(function.lock().unwrap().breaches(), [] as [String; 0]);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.unload_driver().expect("unload");
    sim.assert_clean();
}

/// The render stream's event signals and the capture stream's position.
fn progress(render: &Stream, capture: &Stream) -> (u64, (u64, u64)) {
    (render.event_signals(), capture.position().unwrap())
}

/// While both streams run: D3 holds them (the interrupt gone, the device reset) and D0 runs
/// them on from where they were, twice; then a PnP stop, or a surprise removal followed by
/// removal, with the streams still running, gives everything back (nothing registered, the
/// device reset, no rule broken) and the streams close cleanly afterwards.
fn the_device_goes_away_while_streaming() {
    const D0: u32 = 1;
    const D3: u32 = 4;
    for request in [
        None,
        Some(PnpRequest::Stop),
        Some(PnpRequest::SurpriseRemoval),
    ] {
        let what = format!("{request:?}");
        let sim = Sim::new(OsProfile::Win10_1511);
        assert_eq!(common::load(&sim), STATUS_SUCCESS);
        let paced = plug_in_paced(&sim, 5);
        assert_eq!(sim.start_device(&paced.device), STATUS_SUCCESS);
        let mut render = open(&sim, &paced.device, false, 3840, 2);
        let mut capture = open(&sim, &paced.device, true, 3840, 2);
        for stream in [&mut render, &mut capture] {
            assert_eq!(stream.walk_to(RUN), STATUS_SUCCESS, "{what}");
        }
        for _ in 0..100 {
            paced.tick(&sim, MS);
        }
        if request.is_none() {
            for _ in 0..2 {
                sim.set_power(paced.device.fdo, D3).expect("D3");
                assert_eq!(live_interrupts(&sim), 0, "unregistered in D3");
                let held = progress(&render, &capture);
                for _ in 0..50 {
                    paced.tick(&sim, MS);
                }
                assert_eq!(progress(&render, &capture), held, "held in D3");
                sim.set_power(paced.device.fdo, D0).expect("D0");
                assert_eq!(live_interrupts(&sim), 1, "registered again in D0");
                let signals = render.event_signals();
                for _ in 0..50 {
                    paced.tick(&sim, MS);
                }
                let more = render.event_signals() - signals;
                assert!((4..=6).contains(&more), "50 ms after D0: {more} signals");
                assert_ne!(capture.position().unwrap(), held.1, "capture runs again");
            }
        }
        let request = request.unwrap_or(PnpRequest::Remove);
        if request == PnpRequest::SurpriseRemoval {
            paced.function.lock().unwrap().surprise_remove();
        }
        let status = sim.pnp(paced.device.fdo, request);
        assert_eq!(status, STATUS_SUCCESS, "{what}");
        assert_eq!(live_interrupts(&sim), 0, "{what}");
        if request != PnpRequest::SurpriseRemoval {
            assert_eq!(paced.function.lock().unwrap().status(), 0, "{what}: reset");
        }
        for _ in 0..10 {
            paced.tick(&sim, MS);
        }
        for stream in [&mut render, &mut capture] {
            assert_eq!(stream.walk_to(STOP), STATUS_SUCCESS, "{what}");
        }
        if request == PnpRequest::Remove {
            render.close();
            capture.close();
            conforming(&paced.function);
            assert!(
                sim.violations().is_empty(),
                "{what}: {:?}",
                sim.violations()
            );
            sim.unload_driver().expect("unload");
            sim.assert_clean();
        } else {
            finish(&sim, &paced, [render, capture], &what);
        }
    }
}

/// One streaming life on a started function, every step allowed to fail: both streams open,
/// take a buffer with two points, an event, run 30 ms on the device, and go back to STOP and
/// close. Returns how many steps succeeded.
fn stream_life(sim: &Sim, paced: &Paced) -> usize {
    use wavert_sample::descriptors::{CAPTURE_WAVE_HOST_PIN, RENDER_WAVE_HOST_PIN};
    use wavert_sample::identity::{CAPTURE_WAVE, RENDER_WAVE};
    let format = common::format_bytes(Format::PREFERRED);
    let mut streams = Vec::new();
    let mut succeeded = 0;
    for (name, pin) in [
        (RENDER_WAVE.name, RENDER_WAVE_HOST_PIN),
        (CAPTURE_WAVE.name, CAPTURE_WAVE_HOST_PIN),
    ] {
        let Ok(mut stream) = sim.open_stream(paced.device.fdo, name, pin, &format) else {
            continue;
        };
        succeeded += 1;
        if stream.allocate_buffer(2, 3840).is_ok() {
            succeeded += 1;
            if stream.register_event() == STATUS_SUCCESS {
                succeeded += 1;
            }
            if stream.walk_to(RUN) == STATUS_SUCCESS {
                succeeded += 1;
            }
        }
        streams.push(stream);
    }
    for _ in 0..30 {
        paced.tick(sim, MS);
    }
    for mut stream in streams {
        if stream.walk_to(STOP) == STATUS_SUCCESS {
            succeeded += 1;
        }
        stream.close();
    }
    succeeded
}

/// Every fallible call of a streaming life on the device (buffers and their pages, events,
/// the state steps, the interrupts, DPCs and events of 30 ms of streaming) fails in turn:
/// whatever failed, the streams go back to STOP and close, and removal and unload leave
/// nothing (no pool, page, common buffer, mapping, connection or registration), with no rule
/// of the model or the spec broken and nothing the device refused.
fn every_failure_while_streaming_is_undone() {
    let (before, total) = {
        let sim = Sim::new(OsProfile::Win10_1511);
        assert_eq!(common::load(&sim), STATUS_SUCCESS);
        let paced = plug_in_paced(&sim, 5);
        assert_eq!(sim.start_device(&paced.device), STATUS_SUCCESS);
        let before = sim.fallible_calls();
        assert_eq!(stream_life(&sim, &paced), 10, "the whole life succeeds");
        let total = sim.fallible_calls();
        finish(&sim, &paced, [], "the reference run");
        (before, total)
    };
    let mut failed_steps = 0;
    for k in before + 1..=total {
        let sim = Sim::new(OsProfile::Win10_1511);
        assert_eq!(common::load(&sim), STATUS_SUCCESS);
        let paced = plug_in_paced(&sim, 5);
        assert_eq!(sim.start_device(&paced.device), STATUS_SUCCESS);
        sim.fail_nth_call(k, portcls_sys::STATUS_INSUFFICIENT_RESOURCES);
        if stream_life(&sim, &paced) < 10 {
            failed_steps += 1;
        }
        finish(&sim, &paced, [], &format!("failing call {k}"));
    }
    println!(
        "{} fallible calls in a streaming life on the device; {failed_steps} failures failed a step",
        total - before
    );
    assert!(failed_steps > 0);
}

/// The host pins stream what the device's streams list. vhost-device-sound's output and
/// input list U8, S16, S24 (LSB-aligned) and S32 at 8 to 48 kHz, 1 to 6 channels: of the
/// driver's formats that is 16-bit and 24-in-32 PCM, not float. Each host pin has exactly those
/// two ranges (44.1 to 48 kHz, stereo); a float client range finds no match and a float format
/// is refused by `NewStream`, before anything is allocated; a 24-in-32 stream runs on the
/// device. (The root device's pins keep all three formats: `tests/endpoints.rs`.)
fn the_host_pins_stream_what_the_device_lists() {
    use portcls_sys::ks::{KSDATAFORMAT_SUBTYPE_IEEE_FLOAT, KSDATAFORMAT_SUBTYPE_PCM};
    use wavert_sample::descriptors::{CAPTURE_WAVE_HOST_PIN, RENDER_WAVE_HOST_PIN};
    use wavert_sample::format::{STATUS_NO_MATCH, SampleFormat};
    use wavert_sample::identity::{CAPTURE_WAVE, RENDER_WAVE};
    let sim = Sim::new(OsProfile::Win10_1511);
    assert_eq!(common::load(&sim), STATUS_SUCCESS);
    let paced = plug_in_paced(&sim, 5);
    let fdo = paced.device.fdo;
    assert_eq!(sim.start_device(&paced.device), STATUS_SUCCESS);
    let float = Format::new(SampleFormat::Float32, 2, 48_000).unwrap();
    for (name, pin) in [
        (RENDER_WAVE.name, RENDER_WAVE_HOST_PIN),
        (CAPTURE_WAVE.name, CAPTURE_WAVE_HOST_PIN),
    ] {
        let ranges: Vec<_> = sim
            .pin_data_ranges(fdo, name, pin)
            .expect("the host pin's ranges")
            .into_iter()
            .map(|range| {
                let audio = range.audio.expect("an audio range");
                (
                    range.sub_format,
                    audio.bits,
                    audio.rates,
                    audio.max_channels,
                )
            })
            .collect();
        assert_eq!(
            ranges,
            [
                (KSDATAFORMAT_SUBTYPE_PCM, 16..=16, 44_100..=48_000, 2),
                (KSDATAFORMAT_SUBTYPE_PCM, 32..=32, 44_100..=48_000, 2),
            ],
            "{name}"
        );
        let client = portcls_sim::stream::audio_range(
            KSDATAFORMAT_SUBTYPE_IEEE_FLOAT,
            2,
            32..=32,
            48_000..=48_000,
        );
        assert_eq!(
            sim.negotiate(fdo, name, pin, &client).err(),
            Some(STATUS_NO_MATCH),
            "{name}"
        );
        let pool = sim.pool_in_use().len();
        let opened = sim.open_stream(fdo, name, pin, &common::format_bytes(float));
        assert_eq!(
            opened.err(),
            Some(portcls_sys::STATUS_NOT_SUPPORTED),
            "{name}"
        );
        assert_eq!(sim.pool_in_use().len(), pool, "{name}: nothing allocated");
    }
    let deep = Format::new(SampleFormat::Pcm24In32, 2, 48_000).unwrap();
    let mut render = common::open_host_pin(&sim, &paced.device, false, deep);
    render.allocate_buffer(2, 7680).unwrap();
    assert_eq!(render.register_event(), STATUS_SUCCESS);
    assert_eq!(render.walk_to(RUN), STATUS_SUCCESS);
    for _ in 0..100 {
        paced.tick(&sim, MS);
    }
    assert_eq!(paced.frames(RENDER_ID), 4_800, "100 ms of 24-in-32 played");
    assert_eq!(render.event_signals(), 10);
    assert_eq!(render.walk_to(STOP), STATUS_SUCCESS);
    finish(&sim, &paced, [render], "24-in-32");
}

/// The jacks of the device in the jack tests: an HDMI output of another function group (id
/// 0), a rear green line out of the streams' group (id 1, nothing plugged in) and a rear pink
/// microphone jack (id 2, a microphone in it), both able to detect presence.
fn device_jacks() -> Vec<DeviceJack> {
    const PRESENCE: u32 = 1 << 2;
    vec![
        DeviceJack {
            hda_fn_nid: 1,
            config: 0x1856_0010,
            caps: PRESENCE,
            connected: true,
        },
        DeviceJack {
            hda_fn_nid: 0,
            config: 0x0101_4010,
            caps: PRESENCE,
            connected: false,
        },
        DeviceJack {
            hda_fn_nid: 0,
            config: 0x01A1_9020,
            caps: PRESENCE,
            connected: true,
        },
    ]
}

/// A function whose device has `jacks` ([`WithJacks`]), its events delivered as time passes.
fn plug_in_with_jacks(sim: &Sim, jacks: Vec<DeviceJack>) -> (Device, Function<WithJacks>) {
    let device = WithJacks::new(Oracle::over(&sim.device_memory().arena()), jacks);
    machine::plug_in(sim, 5, device, |function, _| function.collect_interrupts())
        .expect("the function is plugged in")
}

/// The render and capture endpoints' jack descriptions, as the endpoint builder reads them;
/// both jacks detect presence (`DESCRIPTION2`).
fn endpoint_jacks(sim: &Sim, device: &Device) -> [JackDescription; 2] {
    let endpoints = sim.endpoints(device.fdo).expect("the endpoints");
    [Flow::Render, Flow::Capture].map(|flow| {
        let endpoint = endpoints
            .iter()
            .find(|endpoint| endpoint.flow == flow)
            .expect("an endpoint of each direction");
        assert_eq!(
            endpoint.jack2.capabilities,
            portcls_sys::ks::JACKDESC2_PRESENCE_DETECT_CAPABILITY,
            "{flow:?}"
        );
        // No volume, mute or meter node: Windows applies the endpoint's volume itself.
        assert!(
            endpoint.controls.is_empty(),
            "{flow:?}: {:?}",
            endpoint.controls
        );
        endpoint.jack
    })
}

/// `KSEVENT_PINCAPS_JACKINFOCHANGE` enabled on the external pin of both topology filters
/// (render, capture), as the audio stack does for a jack that detects presence.
fn enable_jack_events(sim: &Sim, device: &Device) -> [KsEvent; 2] {
    use portcls_sys::ks::{KSEVENT_PINCAPS_JACKINFOCHANGE, KSEVENTSETID_PinCapsChange};
    use wavert_sample::descriptors::{
        CAPTURE_TOPOLOGY_MICROPHONE_PIN, RENDER_TOPOLOGY_SPEAKER_PIN,
    };
    use wavert_sample::identity::{CAPTURE_TOPOLOGY, RENDER_TOPOLOGY};
    [
        (RENDER_TOPOLOGY.name, RENDER_TOPOLOGY_SPEAKER_PIN),
        (CAPTURE_TOPOLOGY.name, CAPTURE_TOPOLOGY_MICROPHONE_PIN),
    ]
    .map(|(name, pin)| {
        sim.enable_event(
            device.fdo,
            name,
            Target::Pin(pin),
            KSEVENTSETID_PinCapsChange,
            KSEVENT_PINCAPS_JACKINFOCHANGE,
        )
        .expect("the jack event is enabled")
    })
}

/// The device's jacks describe the endpoints: each direction's endpoint is described by the
/// first jack for that direction of its stream's function group (the line out, not the HDMI
/// output of another group), decoded from the jack's HD Audio pin configuration, connected as
/// the device says, with presence detection; the device's jack events (the line out plugged
/// in, the microphone pulled out) reach the descriptions through the DPC, which raises
/// `KSEVENT_PINCAPS_JACKINFOCHANGE` on that endpoint's topology pin, once per change; events
/// for the HDMI jack (no endpoint's) and for a jack the device does not have change nothing
/// and raise nothing; in D3 the descriptions hold, back in D0 the device is asked again and
/// what changed meanwhile is announced; a disabled event is not raised again.
fn the_endpoints_describe_the_jacks_the_device_reports() {
    use portcls_sys::ks::{
        KSAUDIO_SPEAKER_STEREO, eConnType3Point5mm, eGenLocPrimaryBox, eGeoLocRear, ePortConnJack,
    };
    const D0: u32 = 1;
    const D3: u32 = 4;
    let sim = Sim::new(OsProfile::Win10_1511);
    assert_eq!(common::load(&sim), STATUS_SUCCESS);
    let (device, function) = plug_in_with_jacks(&sim, device_jacks());
    assert_eq!(sim.start_device(&device), STATUS_SUCCESS);
    let _ = sim.run_devices();
    assert_eq!(
        function.lock().unwrap().device().queries(),
        1,
        "JACK_INFO at start"
    );
    let line_out = JackDescription {
        channel_mapping: KSAUDIO_SPEAKER_STEREO,
        color: 0x0000_FF00,
        connection_type: eConnType3Point5mm,
        geo_location: eGeoLocRear,
        gen_location: eGenLocPrimaryBox,
        port_connection: ePortConnJack,
        connected: false,
    };
    let microphone = JackDescription {
        channel_mapping: 0,
        color: 0x00FF_C0CB,
        connected: true,
        ..line_out
    };
    assert_eq!(endpoint_jacks(&sim, &device), [line_out, microphone]);
    let events = enable_jack_events(&sim, &device);
    for (id, connected) in [(1, true), (2, false), (0, false), (7, true)] {
        assert!(
            function.lock().unwrap().device().plug(id, connected),
            "jack {id}: an event buffer was there"
        );
    }
    assert!(sim.run_devices() > 0, "the events interrupted");
    assert_eq!(
        events.each_ref().map(|event| sim.event_signals(event)),
        [1, 1]
    );
    let plugged = [
        JackDescription {
            connected: true,
            ..line_out
        },
        JackDescription {
            connected: false,
            ..microphone
        },
    ];
    assert_eq!(endpoint_jacks(&sim, &device), plugged);
    sim.set_power(device.fdo, D3).expect("D3");
    assert_eq!(
        endpoint_jacks(&sim, &device),
        plugged,
        "as last said, in D3"
    );
    // Plugged in while the device was reset: nothing reaches the driver then; in D0 the
    // device reports it, and the change is announced.
    function.lock().unwrap().device().set_connected(2, true);
    sim.set_power(device.fdo, D0).expect("D0");
    let _ = sim.run_devices();
    assert_eq!(
        function.lock().unwrap().device().queries(),
        2,
        "asked again in D0"
    );
    let plugged = [
        plugged[0],
        JackDescription {
            connected: true,
            ..microphone
        },
    ];
    assert_eq!(endpoint_jacks(&sim, &device), plugged);
    let signals = |events: &[KsEvent; 2]| events.each_ref().map(|event| sim.event_signals(event));
    assert_eq!(signals(&events), [1, 2], "the change in D3 announced in D0");
    // After D0, pulled out again: the event again (the DPC found the ports where they were).
    assert!(function.lock().unwrap().device().plug(1, false));
    assert!(sim.run_devices() > 0);
    assert_eq!(signals(&events), [2, 2]);
    assert!(!endpoint_jacks(&sim, &device)[0].connected);
    let [render, capture] = events;
    assert_eq!(sim.disable_event(render), STATUS_SUCCESS);
    assert!(function.lock().unwrap().device().plug(2, false));
    assert!(sim.run_devices() > 0);
    assert_eq!(sim.event_signals(&capture), 3);
    assert_eq!(sim.disable_event(capture), STATUS_SUCCESS);
    sim.remove_device(device.fdo);
    conforming(&function);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.unload_driver().expect("unload");
    sim.assert_clean();
}

/// Jack and channel-map info are optional: a device that answers their queries
/// `VIRTIO_SND_S_NOT_SUPP` starts, taken to have none. Without jack info the endpoints keep
/// the virtual device's descriptions (integrated, always connected, no presence detection)
/// and jack events change nothing; without channel maps the host pins stream stereo as front
/// left, front right.
fn a_device_without_jack_or_channel_map_info_starts() {
    use portcls_sys::ks::ePortConnIntegratedDevice;
    for lie in [JackLie::NotSupported, JackLie::ChmapsNotSupported] {
        let sim = Sim::new(OsProfile::Win10_1511);
        assert_eq!(common::load(&sim), STATUS_SUCCESS);
        let (device, function) = plug_in_with_jacks(&sim, device_jacks());
        function.lock().unwrap().device().lie(lie);
        assert_eq!(sim.start_device(&device), STATUS_SUCCESS, "{lie:?}");
        let _ = sim.run_devices();
        let endpoints = sim.endpoints(device.fdo).expect("the endpoints");
        assert_eq!(endpoints.len(), 2, "{lie:?}");
        for endpoint in &endpoints {
            assert!(!endpoint.host_ranges.is_empty(), "{lie:?}: the pin streams");
            let plain = lie == JackLie::NotSupported;
            assert_eq!(
                endpoint.jack.port_connection == ePortConnIntegratedDevice,
                plain,
                "{lie:?}: {:?}",
                endpoint.jack
            );
            assert_eq!(endpoint.jack2.capabilities == 0, plain, "{lie:?}");
        }
        if lie == JackLie::NotSupported {
            assert!(function.lock().unwrap().device().plug(1, true));
            let _ = sim.run_devices();
            assert!(
                sim.endpoints(device.fdo)
                    .unwrap()
                    .iter()
                    .all(portcls_sim::Endpoint::connected)
            );
        }
        sim.remove_device(device.fdo);
        conforming(&function);
        assert!(
            sim.violations().is_empty(),
            "{lie:?}: {:?}",
            sim.violations()
        );
        sim.unload_driver().expect("unload");
        sim.assert_clean();
    }
}

/// Jack replies no conforming device writes (a record cut short, a `connected` byte that is
/// neither 0 nor 1) fail the start cleanly, as a bad stream or channel-map record does:
/// nothing registered, the device reset, nothing left.
fn a_device_that_lies_about_its_jacks_is_refused() {
    for lie in [JackLie::ShortReply, JackLie::BadRecord] {
        let sim = Sim::new(OsProfile::Win10_1511);
        assert_eq!(common::load(&sim), STATUS_SUCCESS);
        let (device, function) = plug_in_with_jacks(&sim, device_jacks());
        function.lock().unwrap().device().lie(lie);
        assert_eq!(
            sim.start_device(&device),
            portcls_sys::STATUS_DEVICE_PROTOCOL_ERROR,
            "{lie:?}"
        );
        assert!(sim.registrations().is_empty(), "{lie:?}");
        assert_eq!(function.lock().unwrap().status(), 0, "{lie:?}: reset");
        sim.remove_device(device.fdo);
        conforming(&function);
        assert!(
            sim.violations().is_empty(),
            "{lie:?}: {:?}",
            sim.violations()
        );
        sim.unload_driver().expect("unload");
        sim.assert_clean();
    }
}

/// Streams a device has beyond the oracle's two (0 output, 1 input): 2 an output and 3 an
/// input of the same function group, 4 an output of another.
const MORE_STREAMS: [MoreStream; 3] = [
    MoreStream {
        direction: 0,
        hda_fn_nid: 0,
    },
    MoreStream {
        direction: 1,
        hda_fn_nid: 0,
    },
    MoreStream {
        direction: 0,
        hda_fn_nid: 1,
    },
];

/// The registered subdevices' names, in order.
fn subdevice_names(sim: &Sim, device: &Device) -> Vec<String> {
    sim.subdevices(device.fdo)
        .into_iter()
        .map(|subdevice| subdevice.name)
        .collect()
}

/// Every device stream becomes an endpoint: a device with three output and two input streams
/// gets three render and two capture endpoints (each a wave filter wired to its topology
/// filter, under the names the INF declares), each host pin streaming what its stream lists;
/// all five stream at once, each on its own device stream (the `n`-th endpoint of a flow on
/// the `n`-th stream of that direction), at the device's pace, the captured audio the device's
/// frame counter; STOP gives every period back and nothing is left.
fn every_device_stream_becomes_an_endpoint() {
    use wavert_sample::descriptors::{CAPTURE_WAVE_HOST_PIN, RENDER_WAVE_HOST_PIN};
    use wavert_sample::identity::EndpointFilters;
    for profile in common::loadable_profiles() {
        let sim = Sim::new(profile);
        assert_eq!(common::load(&sim), STATUS_SUCCESS);
        let paced = PacedFunction::with_streams(&sim, 5, &MORE_STREAMS).expect("plugged in");
        let device = &paced.device;
        assert_eq!(sim.start_device(device), STATUS_SUCCESS, "{profile}");
        let _ = sim.run_devices();
        // (capture, endpoint index, device stream id)
        let ends = [
            (false, 0, 0),
            (false, 1, 2),
            (false, 2, 4),
            (true, 0, 1),
            (true, 1, 3),
        ];
        let filters = |capture, index| EndpointFilters::of(capture, index).unwrap();
        let expected: Vec<&str> = ends
            .iter()
            .flat_map(|&(capture, index, _)| {
                let endpoint = filters(capture, index);
                [endpoint.wave.name, endpoint.topology.name]
            })
            .collect();
        assert_eq!(subdevice_names(&sim, device), expected, "{profile}");
        assert_eq!(sim.physical_connections(device.fdo).len(), 5, "{profile}");
        let endpoints = sim.endpoints(device.fdo).expect("the endpoints");
        assert_eq!(endpoints.len(), 5, "{profile}");
        for &(capture, index, _) in &ends {
            let endpoint = filters(capture, index);
            let found = endpoints
                .iter()
                .find(|e| e.topology == endpoint.topology.name)
                .expect("an endpoint per topology filter");
            assert_eq!(found.wave.0, endpoint.wave.name, "{profile}");
            assert_eq!(
                found.flow,
                if capture { Flow::Capture } else { Flow::Render },
                "{profile}"
            );
            assert!(
                !found.host_ranges.is_empty(),
                "{profile}: {}",
                endpoint.wave.name
            );
        }
        // All five at once: 20 ms buffers, two 10 ms device periods each.
        let (bytes, frames, period) = (3840_u32, 960_u64, 480_u64);
        let mut streams: Vec<(Stream, usize)> = ends
            .iter()
            .map(|&(capture, index, id)| {
                let (pin, wave) = if capture {
                    (CAPTURE_WAVE_HOST_PIN, filters(true, index).wave.name)
                } else {
                    (RENDER_WAVE_HOST_PIN, filters(false, index).wave.name)
                };
                let mut stream = sim
                    .open_stream(
                        device.fdo,
                        wave,
                        pin,
                        &common::format_bytes(Format::PREFERRED),
                    )
                    .unwrap();
                stream.allocate_buffer(2, bytes).unwrap();
                assert_eq!(stream.register_event(), STATUS_SUCCESS);
                assert_eq!(stream.walk_to(RUN), STATUS_SUCCESS, "{profile}: {wave}");
                (stream, id)
            })
            .collect();
        for ms in 1..=200_u64 {
            paced.tick(&sim, MS);
            for (stream, id) in &streams {
                let done = paced.frames(*id);
                let (offset, _) = stream.position().expect("a position");
                let at = linear(offset, done, frames);
                assert!(
                    done <= at && at <= done + period,
                    "{profile} at {ms} ms, device stream {id}: at {at}, the device at {done}"
                );
            }
        }
        for (stream, id) in &streams {
            assert_eq!(paced.frames(*id), 9_600, "{profile}: device stream {id}");
            assert_eq!(stream.event_signals(), 20, "{profile}: device stream {id}");
        }
        // The second microphone recorded its own stream's frames: the last period, 9 120..9 600.
        let recorded = streams[4].0.read_buffer();
        for frame in 9_120..9_600_u64 {
            let at = usize::try_from(frame % frames * 4).unwrap();
            let sample = u16::from_le_bytes([recorded[at], recorded[at + 1]]);
            assert_eq!(u64::from(sample), frame, "{profile}: frame {frame}");
        }
        for (stream, _) in &mut streams {
            assert_eq!(stream.walk_to(STOP), STATUS_SUCCESS, "{profile}");
        }
        let streams: Vec<Stream> = streams.into_iter().map(|(stream, _)| stream).collect();
        let streams: [Stream; 5] = streams.try_into().ok().unwrap();
        finish(&sim, &paced, streams, &profile.to_string());
    }
}

/// A device with more streams of a direction than a flow has endpoints (six outputs) gets
/// four endpoints of that flow, on its first four output streams; its input stream still
/// gets the capture endpoint.
fn a_device_with_more_streams_than_endpoints_gets_the_first_four_of_a_flow() {
    use wavert_sample::identity::{ENDPOINTS, MAX_ENDPOINTS_PER_FLOW};
    let sim = Sim::new(OsProfile::Win10_1511);
    assert_eq!(common::load(&sim), STATUS_SUCCESS);
    let outputs = [MoreStream {
        direction: 0,
        hda_fn_nid: 0,
    }; 5];
    let paced = PacedFunction::with_streams(&sim, 5, &outputs).expect("plugged in");
    let device = &paced.device;
    assert_eq!(sim.start_device(device), STATUS_SUCCESS);
    let mut expected: Vec<&str> = ENDPOINTS[0]
        .iter()
        .flat_map(|endpoint| [endpoint.wave.name, endpoint.topology.name])
        .collect();
    expected.extend([ENDPOINTS[1][0].wave.name, ENDPOINTS[1][0].topology.name]);
    assert_eq!(subdevice_names(&sim, device), expected);
    assert_eq!(
        sim.endpoints(device.fdo).expect("the endpoints").len(),
        MAX_ENDPOINTS_PER_FLOW + 1
    );
    finish(&sim, &paced, [], "more streams than endpoints");
}

both_drivers!(
    every_device_stream_becomes_an_endpoint,
    a_device_with_more_streams_than_endpoints_gets_the_first_four_of_a_flow,
    a_message_interrupt_is_registered_for_the_life_of_the_connection,
    without_messages_the_line_interrupt_is_registered,
    every_failure_while_starting_the_function_is_undone,
    stop_and_surprise_removal_give_the_function_back,
    d3_disconnects_the_interrupt_and_d0_brings_it_back,
    both_directions_stream_on_the_device_at_its_pace,
    a_device_that_lies_while_streaming_fails_the_stream_cleanly,
    a_device_that_stops_answering_fails_the_stream_cleanly,
    the_device_goes_away_while_streaming,
    every_failure_while_streaming_is_undone,
    the_host_pins_stream_what_the_device_lists,
    the_endpoints_describe_the_jacks_the_device_reports,
    a_device_that_lies_about_its_jacks_is_refused,
    a_device_without_jack_or_channel_map_info_starts,
);

/// Image only: a host build is a debug build whose frames say nothing about the shipped code.
#[test]
fn image_the_virtio_path_stays_within_the_stack_budget() {
    common::with_driver(
        common::Driver::Image,
        the_virtio_path_stays_within_the_stack_budget,
    );
}
