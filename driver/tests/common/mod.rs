//! What the driver's tests in the model share: bringing a device up, the profiles a build
//! loads on, and a format's bytes.
#![allow(dead_code)] // each test binary uses its own part

use portcls_sim::{Device, OsProfile, Sim, Stream};
use portcls_sys::STATUS_SUCCESS;
use wavert_sample::adapter::DriverEntry;
use wavert_sample::descriptors::{CAPTURE_WAVE_HOST_PIN, RENDER_WAVE_HOST_PIN};
use wavert_sample::format::Format;
use wavert_sample::identity::{CAPTURE_WAVE, RENDER_WAVE};

/// Loads the driver, plugs in a device and starts it.
pub fn bring_up(sim: &Sim) -> Device {
    assert_eq!(sim.load_driver(DriverEntry), STATUS_SUCCESS);
    let device = sim.plug_in().unwrap();
    assert_eq!(sim.start_device(&device), STATUS_SUCCESS);
    device
}

/// The profiles this build loads on: a build that links the `PcAddStreamResource` export (the
/// library's `export` feature, on when the whole workspace is built together) does not load on
/// Windows 8.1, which lacks it; the sample as shipped leaves it out and loads everywhere.
pub fn loadable_profiles() -> impl Iterator<Item = OsProfile> {
    OsProfile::ALL
        .into_iter()
        .filter(|&p| !(portcls::EXPORT_LINKED && p == OsProfile::Windows81))
}

/// `format` as the bytes of a `KSDATAFORMAT_WAVEFORMATEXTENSIBLE`.
pub fn format_bytes(format: Format) -> Vec<u8> {
    let mut out = vec![0u8; 104];
    let written = format.write_extensible(&mut out).unwrap();
    out.truncate(written);
    out
}

/// Opens the render (or, with `capture`, the capture) host pin in the preferred format with a
/// 1920-byte buffer and two notifications (a point every 5 ms at 48 kHz), registers an event
/// and walks the stream to `state` (a `KSSTATE` value).
pub fn open_in_state(sim: &Sim, device: &Device, capture: bool, state: u32) -> Stream {
    let (name, pin) = if capture {
        (CAPTURE_WAVE.name, CAPTURE_WAVE_HOST_PIN)
    } else {
        (RENDER_WAVE.name, RENDER_WAVE_HOST_PIN)
    };
    let mut stream = sim
        .open_stream(device.fdo, name, pin, &format_bytes(Format::PREFERRED))
        .unwrap();
    stream.allocate_buffer(2, 1920).unwrap();
    assert_eq!(stream.register_event(), STATUS_SUCCESS);
    assert_eq!(stream.walk_to(state), STATUS_SUCCESS);
    stream
}
