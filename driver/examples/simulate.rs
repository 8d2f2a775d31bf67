//! Runs the sample driver in the PortCls simulator, as Windows would drive it, and shows what
//! happened: every call between PortCls (and the kernel) and the driver, each stream-resource
//! registration and removal with its mechanism and PDO, and the captured audio as a WAV file.
//!
//! ```text
//! cargo run -p wavert-sample --example simulate -- [--profile 8.1|1507|1511|2004]
//!     [--device virtual|virtio] [--seconds N] [--wav FILE] [--image PATH [--stack]] [--quiet]
//! ```
//!
//! By default the driver that runs is the host build (the sample's code compiled for this
//! machine and linked to the model). With `--image PATH` it is a driver image, for example the
//! shipped `target/package/x64/wavertsample.sys` (on an x86-64 host; the arm64 image on an arm64
//! host or under qemu-aarch64): the model maps it, binds its imports to its own routines and
//! calls its `DriverEntry`, as the kernel loader would. `--stack` then prints the deepest
//! kernel stack the image's own code used per entry point (`portcls_sim::stack`).
//!
//! The session: load the driver, plug in and start the device, ask what the audio endpoint
//! builder asks (jack descriptions, volume and mute), open the speaker (render) and
//! microphone (capture) pins at 48 kHz 16-bit stereo with event notifications, play a 500 Hz
//! tone at -12 dBFS to the speakers, run both for the given time (virtual time: it takes far
//! less than that), read what the microphone recorded (the device is a loopback cable: the
//! speakers' tone, 20 ms late), stop, close, remove, and check that nothing is left behind.
//!
//! With `--device virtio` (Linux) the device is a virtio-sound PCI function instead, with
//! rust-vmm's `vhost-device-sound` behind it kept at the streams' rate in virtual time
//! (`virtio_oracle::machine`): the driver starts it, connects and registers its MSI-X
//! interrupt, and both streams run on it, timed by its completions. The speakers' tone goes to
//! the device (its null backend plays nothing); the microphone records what the device
//! records, its frame counter as the samples (a sawtooth). Every breach of the virtio spec and
//! every request the device refused is reported.

use std::process::ExitCode;

use portcls_sim::wav::{self, WavFormat};
use portcls_sim::{Ddi, OsProfile, Sim, Stream};
use portcls_sys::{NTSTATUS, STATUS_SUCCESS};
use wavert_sample::adapter::DriverEntry;
use wavert_sample::descriptors::{CAPTURE_WAVE_HOST_PIN, RENDER_WAVE_HOST_PIN};
use wavert_sample::identity::{CAPTURE_WAVE, RENDER_WAVE};

/// Virtual time units (100 ns) per second.
const SECOND: u64 = 10_000_000;
/// How often the simulated client reads the capture buffer: 50 ms.
const STEP: u64 = SECOND / 20;
/// The capture buffer: 100 ms at 48 kHz, 16-bit stereo.
const CAPTURE_BUFFER: u32 = 4_800 * 4;
/// The render buffer: 10 ms, two notifications per pass.
const RENDER_BUFFER: u32 = 480 * 4;

/// The device the driver runs on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DeviceKind {
    /// Root-enumerated, timed by the driver's engine threads (a loopback cable).
    Virtual,
    /// A virtio-sound PCI function, timed by the device.
    Virtio,
}

struct Options {
    profile: OsProfile,
    device: DeviceKind,
    seconds: u64,
    wav: String,
    image: Option<String>,
    stack: bool,
    quiet: bool,
}

fn parse() -> Result<Options, String> {
    let mut options = Options {
        profile: OsProfile::Win10_1511,
        device: DeviceKind::Virtual,
        seconds: 2,
        wav: "target/capture.wav".to_owned(),
        image: None,
        stack: false,
        quiet: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--profile" => {
                options.profile = match value()?.as_str() {
                    "8.1" => OsProfile::Windows81,
                    "1507" => OsProfile::Win10_1507,
                    "1511" => OsProfile::Win10_1511,
                    "2004" => OsProfile::Win10_2004,
                    other => return Err(format!("unknown profile {other}: 8.1, 1507, 1511, 2004")),
                };
            }
            "--device" => {
                options.device = match value()?.as_str() {
                    "virtual" => DeviceKind::Virtual,
                    "virtio" if cfg!(target_os = "linux") => DeviceKind::Virtio,
                    "virtio" => {
                        return Err(
                            "--device virtio needs Linux (the device side runs there)".to_owned()
                        );
                    }
                    other => return Err(format!("unknown device {other}: virtual, virtio")),
                };
            }
            "--seconds" => {
                options.seconds = value()?
                    .parse()
                    .ok()
                    .filter(|s| (1..=600).contains(s))
                    .ok_or("--seconds takes 1 to 600")?;
            }
            "--wav" => options.wav = value()?,
            "--image" => options.image = Some(value()?),
            "--stack" => options.stack = true,
            "--quiet" => options.quiet = true,
            "--help" | "-h" => {
                return Err(
                    "usage: simulate [--profile 8.1|1507|1511|2004] [--device virtual|virtio] [--seconds N] [--wav FILE] [--image PATH [--stack]] [--quiet]"
                        .to_owned(),
                );
            }
            other => return Err(format!("unknown argument {other} (try --help)")),
        }
    }
    if options.stack && options.image.is_none() {
        return Err("--stack measures an image: give --image PATH".to_owned());
    }
    Ok(options)
}

/// What an audio client asks for: 48 kHz, 16-bit PCM, stereo.
fn client_range() -> Vec<u8> {
    portcls_sim::stream::audio_range(
        portcls_sys::ks::KSDATAFORMAT_SUBTYPE_PCM,
        2,
        16..=16,
        48_000..=48_000,
    )
}

fn open(sim: &Sim, fdo: portcls_sys::PDEVICE_OBJECT, capture: bool) -> Result<Stream, String> {
    let (name, pin, buffer, notifications) = if capture {
        (CAPTURE_WAVE.name, CAPTURE_WAVE_HOST_PIN, CAPTURE_BUFFER, 1)
    } else {
        (RENDER_WAVE.name, RENDER_WAVE_HOST_PIN, RENDER_BUFFER, 2)
    };
    // Negotiated first, as PortCls does before it makes a pin.
    let format = sim
        .negotiate(fdo, name, pin, &client_range())
        .map_err(|s| format!("negotiating {name}: {}", portcls_sim::status_name(s)))?;
    let mut stream = sim
        .open_stream(fdo, name, pin, &format)
        .map_err(|s| format!("opening {name}: {}", portcls_sim::status_name(s)))?;
    stream
        .allocate_buffer(notifications, buffer)
        .map_err(|s| format!("buffer for {name}: {}", portcls_sim::status_name(s)))?;
    let status = stream.register_event();
    if status != STATUS_SUCCESS {
        return Err(format!(
            "event for {name}: {}",
            portcls_sim::status_name(status)
        ));
    }
    let status = stream.walk_to(3);
    if status != STATUS_SUCCESS {
        return Err(format!(
            "running {name}: {}",
            portcls_sim::status_name(status)
        ));
    }
    Ok(stream)
}

/// Appends what the capture stream recorded since `from` (a cyclic byte offset) up to its
/// current position; returns the new offset.
fn collect(stream: &Stream, from: u64, recorded: &mut Vec<u8>) -> Result<u64, String> {
    let (to, _) = stream
        .position()
        .map_err(|s| format!("GetPosition: {}", portcls_sim::status_name(s)))?;
    let buffer = stream.read_buffer();
    let size = buffer.len() as u64;
    let mut at = from;
    while at != to && size > 0 {
        let index = usize::try_from(at).unwrap_or(0);
        recorded.push(buffer.get(index).copied().unwrap_or(0));
        at = (at + 1) % size;
    }
    Ok(to)
}

/// Loads the host build, or the image at `path`; returns what `DriverEntry` returned and a line
/// saying which driver runs.
fn load(sim: &Sim, image: Option<&str>) -> Result<(NTSTATUS, String), String> {
    let Some(path) = image else {
        return Ok((
            sim.load_driver(DriverEntry),
            "host build (the sample compiled for this machine, linked to the model)".to_owned(),
        ));
    };
    let bytes = std::fs::read(path).map_err(|e| format!("reading {path}: {e}"))?;
    let status = sim
        .load_image(&bytes)
        .map_err(|e| format!("loading {path}: {e}"))?;
    let image = sim
        .image()
        .ok_or_else(|| format!("{path}: unmapped while loading"))?;
    let machine = match image.machine() {
        0x8664 => "x64",
        0xAA64 => "arm64",
        _ => "?",
    };
    let line = format!(
        "image {path} (machine {:#06x} {machine}, {} bytes on disk, {} mapped at {:#x}, {} relocations applied, {} imports bound)",
        image.machine(),
        image.file_size(),
        image.size(),
        image.base(),
        image.relocations(),
        image.imports().len()
    );
    Ok((status, line))
}

fn run(options: &Options) -> Result<Vec<u8>, String> {
    let sim = Sim::new(options.profile);
    let (status, driver) = load(&sim, options.image.as_deref())?;
    if status != STATUS_SUCCESS {
        return Err(format!("DriverEntry: {}", portcls_sim::status_name(status)));
    }
    let hardware = Hardware::plug_in(&sim, options.device)?;
    let device = hardware.device(&sim)?;
    let status = sim.start_device(&device);
    if status != STATUS_SUCCESS {
        return Err(format!("StartDevice: {}", portcls_sim::status_name(status)));
    }
    let endpoints = sim
        .endpoints(device.fdo)
        .map_err(|e| format!("the endpoint builder would create no endpoint: {e}"))?;
    let render = open(&sim, device.fdo, false)?;
    // What the speakers play: 500 Hz is five whole cycles of the 10 ms buffer, so the cyclic
    // buffer plays it on without a seam.
    let mut played = vec![0u8; RENDER_BUFFER as usize];
    wavert_sample::backend::virtual_device::tone::Tone::<500, -1200>::new(
        wavert_sample::format::Format::PREFERRED,
    )
    .fill(&mut played);
    render.write_buffer(0, &played);
    let capture = open(&sim, device.fdo, true)?;
    let mut recorded = Vec::new();
    let mut offset = 0;
    for _ in 0..options.seconds * SECOND / STEP {
        hardware.advance(&sim, STEP);
        offset = collect(&capture, offset, &mut recorded)?;
    }
    let signals = (render.event_signals(), capture.event_signals());
    let described = hardware.describe();
    let registrations = sim.registrations();
    render.close();
    capture.close();
    sim.remove_device(device.fdo);

    if !options.quiet {
        println!("driver: {driver}");
        println!("== the conversation ({}) ==", options.profile);
        print_trace(&sim);
    }
    println!("== summary ==");
    println!("driver: {driver}");
    println!("profile: {}", options.profile);
    println!("device: {described}");
    for endpoint in &endpoints {
        let controls: Vec<String> = endpoint
            .controls
            .iter()
            .map(|c| format!("{:?} node {} {:?}", c.kind, c.node, c.values))
            .collect();
        println!(
            "endpoint: {} ({:?}), {} pin {} -> {} pin {}, jack {} colour {:06X}, controls {:?}",
            endpoint.name,
            endpoint.flow,
            endpoint.topology,
            endpoint.pin,
            endpoint.wave.0,
            endpoint.wave.1,
            if endpoint.connected() {
                "connected"
            } else {
                "unplugged"
            },
            endpoint.jack.color,
            controls
        );
    }
    println!(
        "stream resources while running: {}",
        if registrations.is_empty() {
            "none (this Windows has no stream-resource API; the device streams anyway)".to_owned()
        } else {
            registrations
                .iter()
                .map(|r| format!("{} via {} for PDO {:#x}", r.resource, r.via, r.pdo))
                .collect::<Vec<_>>()
                .join("; ")
        }
    );
    println!(
        "notifications: render {} (every 5 ms), capture {} (every 100 ms)",
        signals.0, signals.1
    );
    if options.stack {
        print_stack(&sim);
    }
    hardware.check()?;
    let leftovers = sim.leftovers();
    if leftovers.is_empty() {
        println!("after removal: nothing left (pool, references, registrations, threads)");
        Ok(recorded)
    } else {
        Err(format!("left behind:\n  {}", leftovers.join("\n  ")))
    }
}

/// The device the session plugs in.
enum Hardware {
    Virtual,
    #[cfg(target_os = "linux")]
    Virtio(virtio_oracle::machine::PacedFunction),
}

impl Hardware {
    fn plug_in(sim: &Sim, kind: DeviceKind) -> Result<Self, String> {
        match kind {
            DeviceKind::Virtual => Ok(Self::Virtual),
            #[cfg(target_os = "linux")]
            DeviceKind::Virtio => virtio_oracle::machine::PacedFunction::plug_in(sim, 5)
                .map(Self::Virtio)
                .map_err(|s| format!("AddDevice: {}", portcls_sim::status_name(s))),
            #[cfg(not(target_os = "linux"))]
            DeviceKind::Virtio => Err("--device virtio needs Linux".to_owned()),
        }
    }

    /// The device on the bus (the virtual one is plugged in now).
    fn device(&self, sim: &Sim) -> Result<portcls_sim::Device, String> {
        match self {
            Self::Virtual => sim.plug_in().map_err(|s| format!("AddDevice: {s:#x}")),
            #[cfg(target_os = "linux")]
            Self::Virtio(function) => Ok(function.device),
        }
    }

    /// Virtual time passes by `ticks`: on the virtio function, a millisecond at a time, the
    /// device playing and recording as it goes.
    fn advance(&self, sim: &Sim, ticks: u64) {
        match self {
            Self::Virtual => sim.advance(ticks),
            #[cfg(target_os = "linux")]
            Self::Virtio(function) => {
                const MS: u64 = 10_000;
                for _ in 0..ticks / MS {
                    function.tick(sim, MS);
                }
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Virtual => {
                "virtual (root-enumerated, a loopback cable timed by the engine threads)".to_owned()
            }
            #[cfg(target_os = "linux")]
            Self::Virtio(function) => format!(
                "virtio-sound PCI function 1AF4:1059 (rust-vmm's vhost-device-sound behind it, paced in virtual time): played {} frames, recorded {}",
                function.frames(0),
                function.frames(1)
            ),
        }
    }

    /// The virtio function saw no breach of the spec and refused nothing.
    fn check(&self) -> Result<(), String> {
        match self {
            Self::Virtual => Ok(()),
            #[cfg(target_os = "linux")]
            Self::Virtio(function) => {
                let function = function
                    .function
                    .lock()
                    .map_err(|_| "the function's lock is poisoned".to_owned())?;
                let wrong: Vec<&String> = function
                    .breaches()
                    .iter()
                    .chain(function.device_errors())
                    .collect();
                if wrong.is_empty() {
                    println!("virtio: no breach of the spec, nothing refused by the device");
                    Ok(())
                } else {
                    Err(format!("virtio: {wrong:?}"))
                }
            }
        }
    }
}

/// Prints the deepest kernel stack the image's own code used per entry point, one per line as
/// `ENTRY: BYTES bytes (...)`, deepest first (`cargo xtask bench` reads these lines).
fn print_stack(sim: &Sim) {
    let mut usage = sim.stack_usage();
    usage.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.entry.cmp(&b.entry)));
    println!(
        "== kernel stack: the image's own deepest use per entry point (upper bound; at its deepest call into the model) =="
    );
    for entry in &usage {
        println!(
            "  {}: {} bytes ({} at a model call, {} call(s){})",
            entry.entry,
            entry.bytes,
            entry.deepest_model_call,
            entry.calls,
            if entry.overflow {
                ", past the measured window"
            } else {
                ""
            }
        );
    }
}

/// Prints the trace, folding runs of the same routine (the engine's periods) into one line.
fn print_trace(sim: &Sim) {
    let trace = sim.trace();
    let mut index = 0;
    while let Some(event) = trace.get(index) {
        let run = trace[index..]
            .iter()
            .take_while(|e| e.ddi == event.ddi && e.status == event.status)
            .count();
        let chatty = matches!(event.ddi, Ddi::KeWaitForSingleObject | Ddi::KeSetEvent);
        if run > 2 && chatty {
            println!("  {event}  (x{run})");
            index += run;
        } else {
            println!("  {event}");
            index += 1;
        }
    }
}

fn main() -> ExitCode {
    let options = match parse() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let recorded = match run(&options) {
        Ok(recorded) => recorded,
        Err(message) => {
            eprintln!("simulate: {message}");
            return ExitCode::FAILURE;
        }
    };
    let format = WavFormat {
        channels: 2,
        rate: 48_000,
        bits: 16,
        float: false,
    };
    let written = std::fs::File::create(&options.wav)
        .and_then(|mut file| wav::write(&mut file, format, &recorded));
    match written {
        Ok(()) => {
            let what = if options.device == DeviceKind::Virtio {
                "what the virtio device recorded, its frame counter as the samples"
            } else {
                "what the speakers played, a 500 Hz tone at -12 dBFS, 20 ms late"
            };
            println!(
                "captured audio: {} ({} s of {what}; 48 kHz 16-bit stereo)",
                options.wav,
                recorded.len() / 4 / 48_000
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("simulate: writing {}: {error}", options.wav);
            ExitCode::FAILURE
        }
    }
}
