//! The soak: both endpoints stream for a long stretch of simulated time while, once a simulated
//! minute, something happens in turn: a pause of both streams, a format change (both streams
//! closed and reopened in the next of the six supported formats), a trip to D3 and back, and a
//! PnP stop (the device stopped, removed, plugged in and started again, the streams reopened).
//!
//! At the end of every minute: each stream's position is exactly the frames its RUN time
//! makes (the clock is kept per stretch, as the driver keeps it: whole frames at each pause),
//! checked through the play offset, and the notification count is one per 240 frames crossed
//! by the engine's last wake-up (none missed, none doubled); the pool in use and the references
//! held are what they were the first time the same format ran (no growth); no verifier finding.
//! At the end everything comes down clean.
//!
//! The test command runs one simulated hour (`PORTCLS_SOAK_SECONDS`, default 3600);
//! `cargo xtask soak` runs 24 hours.

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use common::{bring_up, format_bytes};
use portcls_sim::pool::Tag;
use portcls_sim::{Device, OsProfile, Sim, Stream};
use portcls_sys::STATUS_SUCCESS;
use wavert_sample::descriptors::{CAPTURE_WAVE_HOST_PIN, RENDER_WAVE_HOST_PIN};
use wavert_sample::format::{Format, SUPPORTED_RATES, SampleFormat};
use wavert_sample::identity::{CAPTURE_WAVE, RENDER_WAVE};

const SECOND: u64 = 10_000_000;
const MINUTE: u64 = 60 * SECOND;
/// Frames per buffer (10 ms at 48 kHz) and between notifications (two per buffer).
const BUFFER_FRAMES: u64 = 480;
const NOTIFY_FRAMES: u64 = BUFFER_FRAMES / 2;

/// The six supported formats, 48 kHz 16-bit first.
fn formats() -> Vec<Format> {
    let mut all = vec![Format::PREFERRED];
    for sample in SampleFormat::ALL {
        for rate in SUPPORTED_RATES {
            let format = Format::new(sample, 2, rate).unwrap();
            if format != Format::PREFERRED {
                all.push(format);
            }
        }
    }
    all
}

/// A stream and the position its RUN time makes, kept as the driver keeps it.
struct Tracked {
    stream: Stream,
    format: Format,
    /// Whole frames reached when the stream last stopped running.
    kept: u64,
    /// Since when it runs (virtual time), if it does.
    since: Option<u64>,
    /// When its engine last started: the engine wakes every `period` from then.
    engine: u64,
    /// The engine period (100 ns): half the notification interval, as the driver picks it.
    period: u64,
}

impl Tracked {
    fn open(sim: &Sim, device: &Device, capture: bool, format: Format) -> Self {
        let (name, pin) = if capture {
            (CAPTURE_WAVE.name, CAPTURE_WAVE_HOST_PIN)
        } else {
            (RENDER_WAVE.name, RENDER_WAVE_HOST_PIN)
        };
        let mut stream = sim
            .open_stream(device.fdo, name, pin, &format_bytes(format))
            .unwrap_or_else(|e| panic!("{format:?}: {e:#x}"));
        let bytes = u32::try_from(BUFFER_FRAMES).unwrap() * format.bytes_per_frame();
        stream.allocate_buffer(2, bytes).unwrap();
        assert_eq!(stream.register_event(), STATUS_SUCCESS);
        assert_eq!(stream.walk_to(3), STATUS_SUCCESS);
        let period = NOTIFY_FRAMES * SECOND / u64::from(format.rate()) / 2;
        Self {
            stream,
            format,
            kept: 0,
            since: Some(sim.now()),
            engine: sim.now(),
            period,
        }
    }

    fn frames(&self, now: u64) -> u64 {
        let rate = u128::from(self.format.rate());
        let running = self.since.map_or(0, |since| {
            u64::try_from(u128::from(now - since) * rate / u128::from(SECOND)).unwrap()
        });
        self.kept + running
    }

    /// The position stops moving at `now` (a pause, or the device leaving D0).
    fn hold(&mut self, now: u64) {
        self.kept = self.frames(now);
        self.since = None;
    }

    fn set_state(&mut self, sim: &Sim, state: u32) {
        assert_eq!(self.stream.set_state(state), STATUS_SUCCESS);
        if state == 3 {
            self.since = Some(sim.now());
        } else {
            self.hold(sim.now());
        }
    }

    /// Position and notifications exactly as the RUN time makes them: the position as of
    /// `now`, the notifications as of the engine's last wake-up (each point crossed is
    /// signalled at the first wake-up after it).
    fn check(&self, now: u64, what: &str) {
        let frames = self.frames(now);
        let woke = self.engine + (now - self.engine) / self.period * self.period;
        let block = u64::from(self.format.bytes_per_frame());
        let (play, _) = self.stream.position().unwrap();
        assert_eq!(
            play,
            frames % BUFFER_FRAMES * block,
            "{what}: {:?} play offset off by {} frames",
            self.format,
            (i128::from(play / block) - i128::from(frames % BUFFER_FRAMES))
        );
        assert_eq!(
            self.stream.event_signals(),
            self.frames(woke) / NOTIFY_FRAMES,
            "{what}: {:?} notifications",
            self.format
        );
    }
}

/// Both endpoints, streaming.
struct Pair {
    device: Device,
    render: Tracked,
    capture: Tracked,
}

impl Pair {
    fn up(sim: &Sim, device: Device, format: Format) -> Self {
        Self {
            render: Tracked::open(sim, &device, false, format),
            capture: Tracked::open(sim, &device, true, format),
            device,
        }
    }

    fn streams(&mut self) -> [&mut Tracked; 2] {
        [&mut self.render, &mut self.capture]
    }

    fn close(self) -> Device {
        self.render.stream.close();
        self.capture.stream.close();
        self.device
    }
}

/// Pool in use, summed by tag.
fn pool(sim: &Sim) -> BTreeMap<Tag, usize> {
    let mut by_tag = BTreeMap::new();
    for (tag, size) in sim.pool_in_use() {
        *by_tag.entry(tag).or_insert(0) += size;
    }
    by_tag
}

/// Runs the soak for `seconds` of simulated time on `sim` and returns the wall time taken.
fn soak(sim: &Sim, seconds: u64) -> f64 {
    let formats = formats();
    let mut format = 0;
    let device = bring_up(sim);
    // The image's stack is measured elsewhere (tests/stack.rs); here it would cost more than
    // the driver's work.
    sim.measure_stack(false);
    let mut pair = Pair::up(sim, device, formats[format]);
    // Per format: the pool in use and the references held at the end of its first minute.
    let mut pools: BTreeMap<usize, (BTreeMap<Tag, usize>, u64)> = BTreeMap::new();
    let start = Instant::now();
    let minutes = seconds.div_ceil(60);
    for minute in 0..minutes {
        let what = format!("minute {minute}");
        let begun = sim.now();
        match minute % 4 {
            // Both streams pause for a second.
            1 => {
                for tracked in pair.streams() {
                    tracked.set_state(sim, 2);
                }
                sim.advance(SECOND);
                for tracked in pair.streams() {
                    tracked.set_state(sim, 3);
                }
            }
            // The next format.
            2 => {
                let device = pair.close();
                format = (format + 1) % formats.len();
                pair = Pair::up(sim, device, formats[format]);
            }
            // D3 for a second: the engines halt (the positions hold) and resume.
            3 => {
                sim.set_power(pair.device.fdo, 4).unwrap();
                for tracked in pair.streams() {
                    tracked.hold(sim.now());
                }
                assert!(sim.registrations().is_empty(), "{what}: registered in D3");
                sim.advance(SECOND);
                sim.set_power(pair.device.fdo, 1).unwrap();
                for tracked in pair.streams() {
                    tracked.since = Some(sim.now());
                    tracked.engine = sim.now();
                }
            }
            // PnP stop, then the device removed and a new one started.
            _ if minute > 0 => {
                assert_eq!(sim.stop_device(pair.device.fdo), STATUS_SUCCESS);
                assert!(
                    sim.registrations().is_empty(),
                    "{what}: registered when stopped"
                );
                let device = pair.close();
                sim.remove_device(device.fdo);
                let device = sim.plug_in().unwrap();
                assert_eq!(sim.start_device(&device), STATUS_SUCCESS);
                pair = Pair::up(sim, device, formats[format]);
            }
            _ => {}
        }
        sim.advance(begun + MINUTE - sim.now());
        let now = sim.now();
        pair.render.check(now, &what);
        pair.capture.check(now, &what);
        let in_use = (pool(sim), sim.references_held());
        let first = pools.entry(format).or_insert_with(|| in_use.clone());
        assert_eq!(&in_use.0, &first.0, "{what}: pool grew");
        assert_eq!(in_use.1, first.1, "{what}: references grew");
        assert!(
            sim.violations().is_empty(),
            "{what}: {:?}",
            sim.violations()
        );
    }
    let wall = start.elapsed().as_secs_f64();
    let device = pair.close();
    sim.remove_device(device.fdo);
    assert_eq!(sim.unload_driver(), Ok(()));
    sim.assert_clean();
    wall
}

fn both_endpoints_stream_through_an_hour_of_changes() {
    let seconds = std::env::var("PORTCLS_SOAK_SECONDS").map_or(3_600, |s| {
        s.parse()
            .expect("PORTCLS_SOAK_SECONDS: a number of simulated seconds")
    });
    let sim = Sim::new(OsProfile::Win10_1511);
    let wall = soak(&sim, seconds);
    #[allow(clippy::cast_precision_loss)] // a figure to print
    let speed = seconds as f64 / wall;
    println!(
        "soak: {seconds} simulated s ({} minutes of changes) in {wall:.1} s wall: {speed:.0}x real time; position error 0 frames, pool and references flat, no violation",
        seconds.div_ceil(60)
    );
}

both_drivers!(
    #[cfg_attr(miri, ignore = "an hour of simulated streaming: natively only")]
    both_endpoints_stream_through_an_hour_of_changes,
);
