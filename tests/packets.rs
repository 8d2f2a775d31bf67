//! Packet mode in the PortCls model: on builds that have it (Windows 10 on), the port asks a
//! render stream for `IMiniportWaveRTOutputStream` and a capture stream for
//! `IMiniportWaveRTInputStream`; written packets are accepted or refused by where the device
//! is, packet counts and presentation positions equal the clock's linear position, and read
//! packets come once each with their first sample's counter value. On Windows 8.1 the port never
//! asks and the streams run as they always did.
//!
//! The streams are 48 kHz 16-bit stereo with a 1920-byte buffer and two notifications: two
//! packets of 240 frames (5 ms, 50 000 ticks of the 10 MHz counter) each.

mod common;

use std::ffi::c_void;
use std::ptr::null_mut;

use common::{bring_up, loadable_profiles, open_in_state};
use portcls_sim::Sim;
use portcls_sys::ks::KSSTREAM_HEADER_OPTIONSF_ENDOFSTREAM;
use portcls_sys::wavert::{
    IID_IMiniportWaveRTInputStream, IID_IMiniportWaveRTOutputStream,
    IMiniportWaveRTInputStreamVtbl, IMiniportWaveRTOutputStreamVtbl, STATUS_DATA_LATE_ERROR,
    STATUS_DATA_OVERRUN, STATUS_DEVICE_NOT_READY,
};
use portcls_sys::{
    GUID, IID_IUnknown, IUnknownVtbl, NTSTATUS, STATUS_INVALID_DEVICE_STATE,
    STATUS_INVALID_PARAMETER, STATUS_NOINTERFACE, STATUS_SUCCESS,
};

const STOP: u32 = 0;
const PAUSE: u32 = 2;
const RUN: u32 = 3;
/// Frames per packet.
const PACKET: u64 = 240;
/// Ticks per packet (5 ms).
const PACKET_TICKS: u64 = 50_000;

/// The frames the clock has moved `ticks` after RUN at 48 kHz and 10 MHz: exact integer
/// arithmetic, as the position is defined.
fn frames_after(ticks: u64) -> u64 {
    ticks * 48_000 / 10_000_000
}

/// The vtable (or its first part, `V`) of the live interface `this`, which starts with a
/// pointer to it.
fn vtable_of<V: Copy>(this: *mut c_void) -> V {
    // SAFETY: `this` is a live interface of a stream the test holds open.
    let vtable = unsafe { this.cast::<*const V>().read() };
    // SAFETY: the driver's static vtable, which begins with a `V`.
    unsafe { vtable.read() }
}

/// `QueryInterface` on the interface `this` for `iid`: the status and the pointer.
fn query(this: *mut c_void, iid: GUID) -> (NTSTATUS, *mut c_void) {
    let vtable: IUnknownVtbl = vtable_of(this);
    let mut out: *mut c_void = null_mut();
    // SAFETY: a live interface; a readable IID and a writable slot.
    let status = unsafe { (vtable.QueryInterface)(this.cast(), &raw const iid, &raw mut out) };
    (status, out)
}

/// `Release` on an interface the test queried.
fn release(this: *mut c_void) -> u32 {
    let vtable: IUnknownVtbl = vtable_of(this);
    // SAFETY: a live interface; the test gives back the reference its query took.
    unsafe { (vtable.Release)(this.cast()) }
}

fn render_packet_mode_follows_the_clock_on_builds_that_have_it() {
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        let mut render = open_in_state(&sim, &device, false, PAUSE);
        if !profile.has_packet_interfaces() {
            // The port never asked: the stream runs as it always did.
            assert!(!render.supports_packets(), "{profile}");
            assert_eq!(render.set_write_packet(0, 0, 0), Err(STATUS_NOINTERFACE));
            assert_eq!(render.walk_to(RUN), STATUS_SUCCESS);
            sim.advance(4 * PACKET_TICKS);
            assert_eq!(render.event_signals(), 4, "{profile}");
            assert_eq!(
                render.position().unwrap().0,
                0,
                "four packets: whole buffers"
            );
            assert!(!sim.trace().iter().any(|e| matches!(
                e.ddi,
                portcls_sim::Ddi::SetWritePacket | portcls_sim::Ddi::GetPacketCount
            )));
            render.close();
            sim.remove_device(device.fdo);
            sim.assert_clean();
            continue;
        }
        assert!(render.supports_packets(), "{profile}");
        // Before RUN the device is at packet 0: packets 0 and 1 fill the buffer, 2 does not fit.
        assert_eq!(render.set_write_packet(0, 0, 0), Ok(()));
        assert_eq!(render.set_write_packet(1, 0, 0), Ok(()));
        assert_eq!(render.set_write_packet(2, 0, 0), Err(STATUS_DATA_OVERRUN));
        assert_eq!(render.packet_count(), Ok(0));
        assert_eq!(render.presentation_position(), Ok((0, sim.now())));
        assert_eq!(render.walk_to(RUN), STATUS_SUCCESS);
        let run_at = sim.now();
        // One packet transferred, the next about to start: 2 fits, 1 is not late yet.
        sim.advance(PACKET_TICKS);
        assert_eq!(render.packet_count(), Ok(1));
        assert_eq!(render.presentation_position(), Ok((PACKET, sim.now())));
        assert_eq!(render.set_write_packet(2, 0, 0), Ok(()));
        // Half way through packet 1: it is late, 3 would overwrite it.
        sim.advance(PACKET_TICKS / 2);
        assert_eq!(
            render.set_write_packet(1, 0, 0),
            Err(STATUS_DATA_LATE_ERROR)
        );
        assert_eq!(render.set_write_packet(3, 0, 0), Err(STATUS_DATA_OVERRUN));
        assert_eq!(
            render.set_write_packet(2, 0x1, 0),
            Err(STATUS_INVALID_PARAMETER)
        );
        // Irregular steps: every answer is the clock's exact linear position.
        for step in [7_777, 1, 123_457, 49_999, 50_001, 300_017] {
            sim.advance(step);
            let frames = frames_after(sim.now() - run_at);
            assert_eq!(
                render.presentation_position(),
                Ok((frames, sim.now())),
                "{profile}"
            );
            let count = u32::try_from(frames / PACKET).unwrap();
            assert_eq!(render.packet_count(), Ok(count), "{profile}");
        }
        // The client keeps up: the next packet is accepted, with the end of the stream.
        let next = u32::try_from(frames_after(sim.now() - run_at) / PACKET + 1).unwrap();
        let eos = KSSTREAM_HEADER_OPTIONSF_ENDOFSTREAM;
        assert_eq!(
            render.set_write_packet(next, eos, 961),
            Err(STATUS_INVALID_PARAMETER)
        );
        assert_eq!(render.set_write_packet(next, eos, 100), Ok(()));
        assert_eq!(
            render.set_write_packet(next + 1, 0, 0),
            Err(STATUS_INVALID_DEVICE_STATE)
        );
        // The device still runs at the nominal rate and signals every packet.
        let ticks = sim.now() - run_at;
        assert_eq!(render.event_signals(), ticks / PACKET_TICKS, "{profile}");
        // STOP resets the packet numbers with the position.
        assert_eq!(render.walk_to(STOP), STATUS_SUCCESS);
        assert_eq!(render.walk_to(PAUSE), STATUS_SUCCESS);
        assert_eq!(render.packet_count(), Ok(0));
        assert_eq!(render.set_write_packet(0, 0, 0), Ok(()));
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        render.close();
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

fn capture_packets_come_once_each_with_their_first_sample_counter() {
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        let mut capture = open_in_state(&sim, &device, true, RUN);
        let run_at = sim.now();
        if !profile.has_packet_interfaces() {
            assert!(!capture.supports_packets(), "{profile}");
            assert_eq!(capture.read_packet(), Err(STATUS_NOINTERFACE));
            sim.advance(4 * PACKET_TICKS);
            assert_eq!(capture.event_signals(), 4, "{profile}");
            assert!(capture.read_buffer().iter().any(|&b| b != 0), "the tone");
            capture.close();
            sim.remove_device(device.fdo);
            sim.assert_clean();
            continue;
        }
        assert!(capture.supports_packets(), "{profile}");
        assert_eq!(capture.read_packet(), Err(STATUS_DEVICE_NOT_READY));
        sim.advance(PACKET_TICKS - 1);
        assert_eq!(capture.read_packet(), Err(STATUS_DEVICE_NOT_READY));
        sim.advance(1);
        assert_eq!(capture.read_packet(), Ok((0, run_at, false)));
        // The packet is in the buffer when it is handed out: the first half holds the tone.
        assert!(capture.read_buffer()[..960].iter().any(|&b| b != 0));
        assert_eq!(capture.read_packet(), Err(STATUS_DEVICE_NOT_READY));
        // Two more complete: MoreData, then the next, each once.
        sim.advance(2 * PACKET_TICKS);
        assert_eq!(capture.read_packet(), Ok((1, run_at + PACKET_TICKS, true)));
        assert_eq!(
            capture.read_packet(),
            Ok((2, run_at + 2 * PACKET_TICKS, false))
        );
        assert_eq!(capture.read_packet(), Err(STATUS_DEVICE_NOT_READY));
        // A slow client: four more packets complete (3 to 6); 3 and 4 are overwritten.
        sim.advance(4 * PACKET_TICKS);
        assert_eq!(
            capture.read_packet(),
            Ok((5, run_at + 5 * PACKET_TICKS, true))
        );
        // Two more, and the device a little into packet 9, whose slot is packet 7's.
        sim.advance(2 * PACKET_TICKS + 10_000);
        assert_eq!(
            capture.read_packet(),
            Ok((8, run_at + 8 * PACKET_TICKS, false))
        );
        // STOP resets the numbering; the next run's packets count from 0 at its start.
        assert_eq!(capture.walk_to(STOP), STATUS_SUCCESS);
        assert_eq!(capture.walk_to(RUN), STATUS_SUCCESS);
        let again = sim.now();
        sim.advance(PACKET_TICKS);
        assert_eq!(capture.read_packet(), Ok((0, again, false)));
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        capture.close();
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

fn each_stream_answers_only_its_own_packet_interface() {
    for profile in loadable_profiles() {
        let sim = Sim::new(profile);
        let device = bring_up(&sim);
        let render = open_in_state(&sim, &device, false, STOP);
        let capture = open_in_state(&sim, &device, true, STOP);
        for (stream, mine, other) in [
            (
                &render,
                IID_IMiniportWaveRTOutputStream,
                IID_IMiniportWaveRTInputStream,
            ),
            (
                &capture,
                IID_IMiniportWaveRTInputStream,
                IID_IMiniportWaveRTOutputStream,
            ),
        ] {
            let object = stream.raw().cast::<c_void>();
            let (status, none) = query(object, other);
            assert_eq!(
                (status, none),
                (STATUS_NOINTERFACE, null_mut()),
                "{profile}"
            );
            let (status, facet) = query(object, mine);
            assert_eq!(status, STATUS_SUCCESS, "{profile}");
            assert_ne!(facet, object, "a separate vtable pointer");
            // COM identity: IUnknown through the facet is the object; the facet answers the
            // same set as the object.
            let (status, unknown) = query(facet, IID_IUnknown);
            assert_eq!((status, unknown), (STATUS_SUCCESS, object));
            assert_eq!(query(facet, other).0, STATUS_NOINTERFACE);
            let (status, again) = query(facet, mine);
            assert_eq!((status, again), (STATUS_SUCCESS, facet));
            for interface in [again, unknown, facet] {
                release(interface);
            }
        }
        // Null outputs are refused before anything is read.
        let (_, output) = query(render.raw().cast(), IID_IMiniportWaveRTOutputStream);
        let vtable: IMiniportWaveRTOutputStreamVtbl = vtable_of(output);
        // SAFETY: a live facet; null outputs are what is tested.
        let status = unsafe { (vtable.GetPacketCount)(output.cast(), null_mut()) };
        assert_eq!(status, STATUS_INVALID_PARAMETER);
        // SAFETY: as above.
        let status =
            unsafe { (vtable.GetOutputStreamPresentationPosition)(output.cast(), null_mut()) };
        assert_eq!(status, STATUS_INVALID_PARAMETER);
        release(output);
        let (_, input) = query(capture.raw().cast(), IID_IMiniportWaveRTInputStream);
        let vtable: IMiniportWaveRTInputStreamVtbl = vtable_of(input);
        let (mut number, mut flags, mut counter) = (0u32, 0u32, 0u64);
        // SAFETY: a live facet; a null MoreData is what is tested.
        let status = unsafe {
            (vtable.GetReadPacket)(
                input.cast(),
                &raw mut number,
                &raw mut flags,
                &raw mut counter,
                null_mut(),
            )
        };
        assert_eq!(status, STATUS_INVALID_PARAMETER);
        release(input);
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        render.close();
        capture.close();
        sim.remove_device(device.fdo);
        sim.assert_clean();
    }
}

fn packet_calls_need_a_buffer_with_notifications() {
    let sim = Sim::new(portcls_sim::OsProfile::Win10_1511);
    let device = bring_up(&sim);
    let name = wavert_sample::identity::RENDER_WAVE.name;
    let pin = wavert_sample::descriptors::RENDER_WAVE_HOST_PIN;
    let format = common::format_bytes(wavert_sample::format::Format::PREFERRED);
    let mut render = sim.open_stream(device.fdo, name, pin, &format).unwrap();
    // No buffer yet, then a buffer without notifications: no packets either way.
    assert_eq!(
        render.set_write_packet(0, 0, 0),
        Err(STATUS_INVALID_DEVICE_STATE)
    );
    render.allocate_buffer(0, 1920).unwrap();
    assert_eq!(
        render.set_write_packet(0, 0, 0),
        Err(STATUS_INVALID_DEVICE_STATE)
    );
    assert_eq!(render.packet_count(), Err(STATUS_INVALID_DEVICE_STATE));
    // The presentation position needs no packets.
    assert_eq!(render.walk_to(RUN), STATUS_SUCCESS);
    let run_at = sim.now();
    sim.advance(12_345);
    assert_eq!(
        render.presentation_position(),
        Ok((frames_after(sim.now() - run_at), sim.now()))
    );
    let capture_name = wavert_sample::identity::CAPTURE_WAVE.name;
    let capture_pin = wavert_sample::descriptors::CAPTURE_WAVE_HOST_PIN;
    let mut capture = sim
        .open_stream(device.fdo, capture_name, capture_pin, &format)
        .unwrap();
    capture.allocate_buffer(0, 1920).unwrap();
    assert_eq!(capture.walk_to(RUN), STATUS_SUCCESS);
    sim.advance(4 * PACKET_TICKS);
    assert_eq!(capture.read_packet(), Err(STATUS_INVALID_DEVICE_STATE));
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    render.close();
    capture.close();
    sim.remove_device(device.fdo);
    sim.assert_clean();
}

both_drivers!(
    render_packet_mode_follows_the_clock_on_builds_that_have_it,
    capture_packets_come_once_each_with_their_first_sample_counter,
    each_stream_answers_only_its_own_packet_interface,
    packet_calls_need_a_buffer_with_notifications,
);
