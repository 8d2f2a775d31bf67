//! What the driver's tests in the model share: the driver under test (the host build, or the
//! packaged image of the host's architecture), bringing a device up, the profiles a driver
//! loads on, and a format's bytes.
//!
//! One test body serves both drivers: a test is a plain function, and [`both_drivers!`] makes
//! a `host::NAME` and an `image::NAME` test of it; [`load`] and [`bring_up`] load whichever
//! driver the running test is for.
#![allow(dead_code)] // each test binary uses its own part

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use portcls_sim::{Device, OsProfile, PnpRequest, Sim, Stream};
use portcls_sys::wavert::{IMiniportWaveRTStream, IMiniportWaveRTStreamVtbl};
use portcls_sys::{NTSTATUS, STATUS_SUCCESS};
use wavert_sample::adapter::DriverEntry;
use wavert_sample::descriptors::{CAPTURE_WAVE_HOST_PIN, RENDER_WAVE_HOST_PIN};
use wavert_sample::format::Format;
use wavert_sample::identity::{CAPTURE_WAVE, RENDER_WAVE};

/// Which build of the sample a test runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Driver {
    /// The host build: the driver's code compiled for this machine, linked to the model.
    Host,
    /// The packaged `.sys` of this machine's architecture, loaded by the model's image loader.
    Image,
}

thread_local! {
    static UNDER_TEST: Cell<Option<Driver>> = const { Cell::new(None) };
}

/// Runs `body` with `driver` as the driver under test on this thread.
pub fn with_driver(driver: Driver, body: fn()) {
    UNDER_TEST.with(|d| d.set(Some(driver)));
    body();
    UNDER_TEST.with(|d| d.set(None));
}

/// The driver the running test is for.
pub fn driver() -> Driver {
    UNDER_TEST
        .with(Cell::get)
        .expect("a driver test runs through both_drivers!")
}

/// The packaging architecture of this host (`target/package/<arch>/`).
pub const ARCH: &str = if cfg!(target_arch = "aarch64") {
    "arm64"
} else {
    "x64"
};

/// Where the packaged image of this host's architecture is: `PORTCLS_IMAGE` if set, else
/// `target/package/<arch>/wavertsample.sys` in the workspace (what `cargo xtask package` makes).
pub fn image_path() -> PathBuf {
    std::env::var_os("PORTCLS_IMAGE").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("target/package")
                .join(ARCH)
                .join("wavertsample.sys")
        },
        PathBuf::from,
    )
}

/// The sources a kernel image of the sample is built from (the probe adds its own crate).
pub const DRIVER_SOURCES: [&str; 5] = [
    "driver/src",
    "driver/Cargo.toml",
    "crates/portcls/src",
    "crates/portcls-sys/src",
    "Cargo.lock",
];

/// The newest modification time among `paths` (files, or directories walked), relative to the
/// workspace root.
fn newest(paths: &[&str]) -> std::time::SystemTime {
    fn walk(path: &Path, newest: &mut std::time::SystemTime) {
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        if let Ok(modified) = meta.modified() {
            *newest = (*newest).max(modified);
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
                walk(&entry.path(), newest);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut time = std::time::SystemTime::UNIX_EPOCH;
    for path in paths {
        walk(&root.join(path), &mut time);
    }
    time
}

/// Reads a kernel image made by `cargo xtask images`, refusing one older than its sources (a
/// test must not pass on yesterday's image).
pub fn read_image(path: &Path, sources: &[&str]) -> Vec<u8> {
    let rebuild = "run `cargo xtask images` first (the test command `cargo xtask test` does)";
    let bytes = std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "the kernel image {} cannot be read ({e}): {rebuild}",
            path.display()
        )
    });
    let built = std::fs::metadata(path).and_then(|m| m.modified());
    if let Ok(built) = built {
        assert!(
            built >= newest(sources),
            "the kernel image {} is older than its sources ({}): {rebuild}",
            path.display(),
            sources.join(", ")
        );
    }
    bytes
}

/// The packaged image's bytes, read once per test binary.
pub fn image_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| read_image(&image_path(), &DRIVER_SOURCES))
}

/// Loads the driver under test into `sim` and returns what its `DriverEntry` returned. An
/// image that does not load fails the test with the loader's reason.
pub fn load(sim: &Sim) -> NTSTATUS {
    match driver() {
        Driver::Host => sim.load_driver(DriverEntry),
        Driver::Image => sim
            .load_image(image_bytes())
            .unwrap_or_else(|e| panic!("{}: {e}", image_path().display())),
    }
}

/// Loads the driver, plugs in a device and starts it.
pub fn bring_up(sim: &Sim) -> Device {
    assert_eq!(load(sim), STATUS_SUCCESS);
    let device = sim.plug_in().unwrap();
    assert_eq!(sim.start_device(&device), STATUS_SUCCESS);
    device
}

/// The profiles the driver under test loads on. A host build that links the
/// `PcAddStreamResource` export (the library's `export` feature, on when the whole workspace is
/// built together) does not load on Windows 8.1, which lacks it; the sample as shipped (and so
/// its image) leaves it out and loads everywhere.
pub fn loadable_profiles() -> impl Iterator<Item = OsProfile> {
    let linked = driver() == Driver::Host && portcls::EXPORT_LINKED;
    OsProfile::ALL
        .into_iter()
        .filter(move |&p| !(linked && p == OsProfile::Windows81))
}

/// Makes each named test body (a `fn()`) two tests: `host::NAME` on the host build and
/// `image::NAME` on the packaged image. Attributes before a name (`#[cfg_attr(miri, ignore)]`)
/// go on both. Under Miri only the host tests exist: an image is machine code, which Miri does
/// not interpret.
#[macro_export]
macro_rules! both_drivers {
    ($($(#[$meta:meta])* $name:ident),+ $(,)?) => {
        mod host {
            $(
                #[test]
                $(#[$meta])*
                fn $name() {
                    $crate::common::with_driver($crate::common::Driver::Host, super::$name);
                }
            )+
        }
        #[cfg(not(miri))]
        mod image {
            $(
                #[test]
                $(#[$meta])*
                fn $name() {
                    $crate::common::with_driver($crate::common::Driver::Image, super::$name);
                }
            )+
        }
    };
}

/// `format` as the bytes of a `KSDATAFORMAT_WAVEFORMATEXTENSIBLE`.
pub fn format_bytes(format: Format) -> Vec<u8> {
    let mut out = vec![0u8; 104];
    let written = format.write_extensible(&mut out).unwrap();
    out.truncate(written);
    out
}

/// Opens the render (or, with `capture`, the capture) host pin in `format` (STOP, no buffer).
pub fn open_host_pin(sim: &Sim, device: &Device, capture: bool, format: Format) -> Stream {
    let (name, pin) = if capture {
        (CAPTURE_WAVE.name, CAPTURE_WAVE_HOST_PIN)
    } else {
        (RENDER_WAVE.name, RENDER_WAVE_HOST_PIN)
    };
    sim.open_stream(device.fdo, name, pin, &format_bytes(format))
        .unwrap()
}

/// Opens the render (or, with `capture`, the capture) host pin in the preferred format with a
/// 1920-byte buffer and two notifications (a point every 5 ms at 48 kHz), registers an event
/// and walks the stream to `state` (a `KSSTATE` value).
pub fn open_in_state(sim: &Sim, device: &Device, capture: bool, state: u32) -> Stream {
    let mut stream = open_host_pin(sim, device, capture, Format::PREFERRED);
    stream.allocate_buffer(2, 1920).unwrap();
    assert_eq!(stream.register_event(), STATUS_SUCCESS);
    assert_eq!(stream.walk_to(state), STATUS_SUCCESS);
    stream
}

/// A miniport stream shared by racing threads (the driver's methods are free-threaded).
#[derive(Clone, Copy)]
pub struct Shared(pub *mut IMiniportWaveRTStream);
// SAFETY: the stream object is used only through its vtable, whose methods the driver makes
// safe to call concurrently (a spin lock inside); the tests keep it open while threads use it.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Shared {
    /// The stream's vtable.
    pub fn vtable(self) -> IMiniportWaveRTStreamVtbl {
        // SAFETY: a live stream starts with its vtable pointer.
        let vtable = unsafe { self.0.cast::<*const IMiniportWaveRTStreamVtbl>().read() };
        // SAFETY: the driver's static vtable.
        unsafe { vtable.read() }
    }
}

/// The end of a PnP `request` sent with `streams` open (`what` names the case): it returned
/// success, nothing stays registered, no rule was broken; then the streams close, the device
/// goes (unless the request removed it) and the driver unloads clean.
pub fn after_transition(
    sim: &Sim,
    device: &Device,
    request: PnpRequest,
    status: NTSTATUS,
    streams: Vec<Stream>,
    what: &str,
) {
    assert_eq!(status, STATUS_SUCCESS, "{what}");
    assert!(sim.registrations().is_empty(), "{what}");
    assert!(
        sim.violations().is_empty(),
        "{what}: {:?}",
        sim.violations()
    );
    for stream in streams {
        stream.close();
    }
    if request != PnpRequest::Remove {
        sim.remove_device(device.fdo);
    }
    assert_eq!(sim.unload_driver(), Ok(()), "{what}");
    sim.assert_clean();
}
