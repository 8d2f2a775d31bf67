//! Runs the sample driver in the PortCls simulator, as Windows would drive it, and shows what
//! happened: every call between PortCls (and the kernel) and the driver, each stream-resource
//! registration and removal with its mechanism and PDO, and the captured audio as a WAV file.
//!
//! ```text
//! cargo run -p wavert-sample --example simulate -- [--profile 8.1|1507|1511|2004]
//!     [--seconds N] [--wav FILE] [--image PATH [--stack]] [--quiet]
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

struct Options {
    profile: OsProfile,
    seconds: u64,
    wav: String,
    image: Option<String>,
    stack: bool,
    quiet: bool,
}

fn parse() -> Result<Options, String> {
    let mut options = Options {
        profile: OsProfile::Win10_1511,
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
                    "usage: simulate [--profile 8.1|1507|1511|2004] [--seconds N] [--wav FILE] [--image PATH [--stack]] [--quiet]"
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
    let device = sim.plug_in().map_err(|s| format!("AddDevice: {s:#x}"))?;
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
    wavert_sample::tone::Tone::<500, -1200>::new(wavert_sample::format::Format::PREFERRED)
        .fill(&mut played);
    render.write_buffer(0, &played);
    let capture = open(&sim, device.fdo, true)?;
    let mut recorded = Vec::new();
    let mut offset = 0;
    for _ in 0..options.seconds * SECOND / STEP {
        sim.advance(STEP);
        offset = collect(&capture, offset, &mut recorded)?;
    }
    let signals = (render.event_signals(), capture.event_signals());
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
    let leftovers = sim.leftovers();
    if leftovers.is_empty() {
        println!("after removal: nothing left (pool, references, registrations, threads)");
        Ok(recorded)
    } else {
        Err(format!("left behind:\n  {}", leftovers.join("\n  ")))
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
            println!(
                "captured audio: {} ({} s of what the speakers played, a 500 Hz tone at -12 dBFS, \
                 20 ms late; 48 kHz 16-bit stereo)",
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
