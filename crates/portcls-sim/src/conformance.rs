//! The HLK's wave tests, as far as they can run without Windows: checks derived from WaveTest
//! and KSPosTst (Microsoft's `audio/tests/wavetest` and `audio/tests/KSPosTst`), run against a
//! driver's host pins in the model, on its virtual clock.
//!
//! Each check is a [`Check`]: a name, the HLK test case it stands in for, and a function of a
//! [`Context`] (the machine, the device, one host pin, the engine periods) that returns what
//! went wrong. [`CHECKS`] lists them; a new check (a signal-processing mode, a proposed
//! format) is one more function and one more entry. The checks find the pins and formats as a
//! client does, through the KS properties ([`Sim::host_pins`], the pin's `DATARANGES`, a data
//! intersection), and drive the streams through [`Stream`], as PortCls does.
//!
//! What the HLK measures against the wall clock and QPC, the checks measure against the
//! model's virtual clock: positions are sampled as KSPosTst samples them (after the same
//! stabilising delay, at the engine period, the same number of points), and the drift, the
//! jitter and the start latency are computed as KSPosTst computes them ([`sample_rate`],
//! [`jitter`], [`start_latency`]) and held to its limits ([`limits`]). The position a check
//! reads is the stream's linear byte position, unwrapped from the cyclic `GetPosition` offsets
//! by sampling at least twice per buffer ([`Cursor`]), as the audio engine's clock reports it.
//! Two departures, both stricter: KSPosTst only warns when the start latency exceeds its
//! threshold or the position runs ahead of the run time, and WaveTest only checks that the
//! position moves; here both are failures, and a moving position must also move at the
//! format's rate (within KSPosTst's sample-rate tolerance).

use std::ops::RangeInclusive;

use portcls_sys::ks::{KSDATAFORMAT_SUBTYPE_IEEE_FLOAT, KSDATAFORMAT_SUBTYPE_PCM};
use portcls_sys::{GUID, NT_SUCCESS, PDEVICE_OBJECT, STATUS_NOT_SUPPORTED, STATUS_SUCCESS};

use crate::adapter::PortKind;
use crate::ks_client::DataRange;
use crate::property::guid_at;
use crate::stream::{Stream, audio_range, state_name};
use crate::{Device, Sim, status_name};

/// KSPosTst's tolerances (`locallimits.h`) and sampling constants (`PreComp.h`,
/// `pintest.cpp`).
pub mod limits {
    /// The largest start latency, in milliseconds (`LATENCY_THRESHOLD`).
    pub const LATENCY_THRESHOLD_MS: f64 = 20.0;
    /// The largest sample-rate error, in percent of the format's rate
    /// (`SAMPLERATE_THRESHOLD`).
    pub const SAMPLERATE_THRESHOLD_PERCENT: f64 = 1.0;
    /// The largest standard deviation of the position error, in milliseconds
    /// (`JITTER_STD_THRESHOLD`).
    pub const JITTER_STD_THRESHOLD_MS: f64 = 1.0;
    /// The largest position error, in milliseconds (`JITTER_MAX_THRESHOLD`).
    pub const JITTER_MAX_THRESHOLD_MS: f64 = 4.0;
    /// The largest mean position error after compensation, in milliseconds (KSPosTst's
    /// sanity check of its own compensation).
    pub const JITTER_MEAN_THRESHOLD_MS: f64 = 2.0;
    /// Positions sampled for the drift and jitter (`DATA_POINTS`).
    pub const DATA_POINTS: usize = 100;
    /// The fewest usable positions the drift and jitter need.
    pub const MIN_DATA_POINTS: usize = 30;
    /// The wait after RUN before sampling, in milliseconds (`DELAY_FOR_STABILIZE`).
    pub const DELAY_FOR_STABILIZE_MS: u64 = 100;
    /// How long a start may take to show a non-zero position, in milliseconds.
    pub const FIRST_POSITION_MS: u64 = 500;
}

/// Virtual-clock ticks (100 ns) per millisecond.
pub const MS: u64 = 10_000;
/// Virtual-clock ticks per second.
pub const SECOND: u64 = 10_000_000;
/// The sample rates a format enumeration tries within a range's limits.
pub const STANDARD_RATES: [u32; 11] = [
    8_000, 11_025, 16_000, 22_050, 32_000, 44_100, 48_000, 88_200, 96_000, 176_400, 192_000,
];

/// A pin a client streams through: a host pin of a WaveRT filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPin {
    /// The wave filter (subdevice) name.
    pub filter: String,
    /// The pin id.
    pub pin: u32,
    /// Whether data leaves the filter through it (`DATAFLOW_OUT`: capture).
    pub capture: bool,
    /// Its `CATEGORY` (a loopback pin's tells it from a capture pin's).
    pub category: GUID,
}

/// The audio engine's periods for the driver under test, in 100 ns units. The engine asks for
/// a buffer of two periods with two notifications (event-driven streaming).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Periods {
    /// The shortest period the driver supports (WaveTest's minimum buffer case).
    pub min: u64,
    /// The period the engine uses by default (10 ms on Windows).
    pub default: u64,
    /// The longest period the driver supports (WaveTest's maximum buffer case).
    pub max: u64,
}

/// What a check runs against.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The machine.
    pub sim: &'a Sim,
    /// The started device.
    pub device: &'a Device,
    /// The host pin under test.
    pub pin: &'a HostPin,
    /// The engine's periods.
    pub periods: Periods,
}

/// One conformance check.
#[derive(Clone, Copy, Debug)]
pub struct Check {
    /// Its name (the model test's).
    pub name: &'static str,
    /// The HLK test case it stands in for.
    pub hlk: &'static str,
    /// The check: `Err` says what failed.
    pub run: fn(&Context) -> Result<(), String>,
}

/// Every check, in the order the suite runs them.
pub const CHECKS: [Check; 11] = [
    Check {
        name: "stream_state_control",
        hlk: "WaveTest TAEF_StreamStateControl",
        run: stream_state_control,
    },
    Check {
        name: "min_buffer_size",
        hlk: "WaveTest TAEF_StreamMinBufferSize",
        run: min_buffer_size,
    },
    Check {
        name: "max_buffer_size",
        hlk: "WaveTest TAEF_StreamMaxBufferSize",
        run: max_buffer_size,
    },
    Check {
        name: "different_formats",
        hlk: "WaveTest TAEF_StreamDifferentFormat",
        run: different_formats,
    },
    Check {
        name: "event_driven",
        hlk: "WaveTest TAEF_VerifyPinWaveRTConformance",
        run: event_driven,
    },
    Check {
        name: "notifications_per_buffer",
        hlk: "WaveTest TAEF_VerifyPinWaveRTConformance (event-driven streaming)",
        run: notifications_per_buffer,
    },
    Check {
        name: "drift_and_jitter",
        hlk: "KSPosTst TAEF_DriftAndJitter",
        run: drift_and_jitter,
    },
    Check {
        name: "latency",
        hlk: "KSPosTst TAEF_Latency",
        run: latency,
    },
    Check {
        name: "rtaudio_answers",
        hlk: "the KSPROPERTY_RTAUDIO_* queries of the HLK's endpoint set-up (HalfApp)",
        run: rtaudio_answers,
    },
    Check {
        name: "multiple_modes",
        hlk: "WaveTest TAEF_StreamMultipleModes",
        run: multiple_modes,
    },
    Check {
        name: "proposed_formats",
        hlk: "the audio engine's device-format set-up (KSPROPERTY_PIN_PROPOSEDATAFORMAT and \
              PROPOSEDATAFORMAT2), which the HLK's HalfApp streams rely on",
        run: proposed_formats,
    },
];

/// The check named `name`.
#[must_use]
pub fn check(name: &str) -> Option<&'static Check> {
    CHECKS.iter().find(|c| c.name == name)
}

impl Sim {
    /// The device's host pins, as a client finds them: every pin of every WaveRT filter whose
    /// `COMMUNICATION` is `SINK`, with its `DATAFLOW`.
    ///
    /// # Errors
    /// A malformed answer.
    pub fn host_pins(&self, fdo: PDEVICE_OBJECT) -> Result<Vec<HostPin>, String> {
        let mut out = Vec::new();
        for wave in self
            .subdevices(fdo)
            .into_iter()
            .filter(|s| s.kind == PortKind::WaveRt)
        {
            for pin in 0..self.pin_count(fdo, &wave.name)? {
                let facts = self.pin_facts(fdo, &wave.name, pin)?;
                if facts.is_host() {
                    out.push(HostPin {
                        filter: wave.name.clone(),
                        pin,
                        capture: facts.data_flow == 2,
                        category: facts.category,
                    });
                }
            }
        }
        Ok(out)
    }
}

/// The fields of a `KSDATAFORMAT_WAVEFORMATEX(TENSIBLE)` a stream's timing depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaveFormat {
    /// The whole format, as the pin is opened with it.
    pub bytes: Vec<u8>,
    /// `KSDATAFORMAT.SubFormat`.
    pub sub_format: GUID,
    /// `nChannels`.
    pub channels: u16,
    /// `nSamplesPerSec`.
    pub rate: u32,
    /// `nAvgBytesPerSec`.
    pub avg_bytes_per_sec: u32,
    /// `nBlockAlign`.
    pub block_align: u16,
    /// `wBitsPerSample`.
    pub bits: u16,
}

/// Reads a `KSDATAFORMAT` followed by a `WAVEFORMATEX` (at byte 64, unaligned), checking that
/// the byte rate is the frame size times the frame rate.
///
/// # Errors
/// What is wrong with it.
pub fn parse_format(bytes: &[u8]) -> Result<WaveFormat, String> {
    let short = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .ok_or_else(|| format!("a {}-byte format has no WAVEFORMATEX", bytes.len()))
    };
    let long =
        |at: usize| Ok::<u32, String>(u32::from(short(at)?) | u32::from(short(at + 2)?) << 16);
    let format = WaveFormat {
        bytes: bytes.to_vec(),
        sub_format: guid_at(bytes, 32).unwrap_or_default(),
        channels: short(64 + 2)?,
        rate: long(64 + 4)?,
        avg_bytes_per_sec: long(64 + 8)?,
        block_align: short(64 + 12)?,
        bits: short(64 + 14)?,
    };
    if format.rate == 0
        || format.block_align == 0
        || u64::from(format.avg_bytes_per_sec)
            != u64::from(format.rate) * u64::from(format.block_align)
    {
        return Err(format!(
            "the format's rate {} x block {} is not its {} bytes per second",
            format.rate, format.block_align, format.avg_bytes_per_sec
        ));
    }
    Ok(format)
}

/// A stream's linear byte position, unwrapped from its cyclic `GetPosition` offsets: each read
/// adds the distance from the previous offset, so reads must come less than a buffer apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    size: u64,
    last: u64,
    linear: u64,
}

impl Cursor {
    /// A cursor at 0 over a buffer of `size` bytes.
    #[must_use]
    pub const fn new(size: u32) -> Self {
        Self {
            size: size as u64,
            last: 0,
            linear: 0,
        }
    }

    /// Back to 0 (the stream went to STOP).
    pub const fn reset(&mut self) {
        self.last = 0;
        self.linear = 0;
    }

    /// Takes a cyclic offset and returns the linear position.
    pub const fn update(&mut self, offset: u64) -> u64 {
        if self.size > 0 {
            self.linear += (offset + self.size - self.last % self.size) % self.size;
        }
        self.last = offset;
        self.linear
    }

    /// The linear position of the last read.
    #[must_use]
    pub const fn linear(&self) -> u64 {
        self.linear
    }
}

/// An open host pin with its buffer, event and cursor.
#[derive(Debug)]
struct Open {
    stream: Stream,
    format: WaveFormat,
    cursor: Cursor,
    /// The buffer's duration in ticks.
    buffer_ticks: u64,
}

/// `a / b` as an `f64` (counts and byte positions stay far below 2^52 here).
#[allow(clippy::cast_precision_loss)] // exact for the magnitudes the checks see
fn ratio(a: u64, b: u64) -> f64 {
    a as f64 / b as f64
}

impl Open {
    /// Opens the pin with `format`, allocates a buffer of `bytes` with `notifications` and
    /// registers an event (when notifications are asked for).
    fn new(
        ctx: &Context,
        format: WaveFormat,
        notifications: u32,
        bytes: u32,
    ) -> Result<Self, String> {
        let pin = ctx.pin;
        let what = format!("{} pin {}", pin.filter, pin.pin);
        let mut stream = ctx
            .sim
            .open_stream(ctx.device.fdo, &pin.filter, pin.pin, &format.bytes)
            .map_err(|s| format!("{what}: opening it answered {}", status_name(s)))?;
        let buffer = stream.allocate_buffer(notifications, bytes).map_err(|s| {
            format!(
                "{what}: a {bytes}-byte buffer with {notifications} notification(s) answered {}",
                status_name(s)
            )
        })?;
        if notifications > 0 && stream.register_event() != STATUS_SUCCESS {
            return Err(format!("{what}: registering the notification event failed"));
        }
        let buffer_ticks = u64::from(buffer.size) * SECOND / u64::from(format.avg_bytes_per_sec);
        Ok(Self {
            stream,
            format,
            cursor: Cursor::new(buffer.size),
            buffer_ticks,
        })
    }

    fn what(&self) -> String {
        format!("stream#{}", self.stream.id())
    }

    /// Steps to `state` one state at a time.
    fn walk(&mut self, state: u32) -> Result<(), String> {
        let status = self.stream.walk_to(state);
        if status != STATUS_SUCCESS {
            return Err(format!(
                "{}: walking to {} answered {}",
                self.what(),
                state_name(state),
                status_name(status)
            ));
        }
        if state == 0 {
            self.cursor.reset();
        }
        Ok(())
    }

    /// Reads the position into the cursor.
    fn read(&mut self) -> Result<u64, String> {
        let (play, _) = self
            .stream
            .position()
            .map_err(|s| format!("{}: GetPosition answered {}", self.what(), status_name(s)))?;
        Ok(self.cursor.update(play))
    }

    /// Lets `ticks` of virtual time pass, reading the position at least four times per
    /// buffer; returns the linear position at the end.
    fn run_for(&mut self, sim: &Sim, ticks: u64) -> Result<u64, String> {
        let step = (self.buffer_ticks / 4).max(1);
        let mut left = ticks;
        while left > 0 {
            let now = step.min(left);
            sim.advance(now);
            left -= now;
            self.read()?;
        }
        Ok(self.cursor.linear())
    }

    /// WaveTest's check of a running stream: 100 ms, then ten positions 50 ms apart, each
    /// past the one before; and (stricter) the 500 ms moved at the format's rate.
    fn moves_at_its_rate(&mut self, sim: &Sim) -> Result<(), String> {
        self.run_for(sim, limits::DELAY_FOR_STABILIZE_MS * MS)?;
        let start = self.cursor.linear();
        let mut previous = start;
        for sample in 0..10 {
            let position = self.run_for(sim, 50 * MS)?;
            if position == previous {
                return Err(format!(
                    "{}: the position stood at {position} in RUN (sample {sample})",
                    self.what()
                ));
            }
            previous = position;
        }
        let expected = u64::from(self.format.avg_bytes_per_sec) / 2;
        let error = (ratio(previous - start, expected) - 1.0) * 100.0;
        if error.abs() > limits::SAMPLERATE_THRESHOLD_PERCENT {
            return Err(format!(
                "{}: {} bytes in 500 ms at {} bytes/s: {error:.3} % off",
                self.what(),
                previous - start,
                self.format.avg_bytes_per_sec
            ));
        }
        Ok(())
    }

    fn close(self) {
        self.stream.close();
    }
}

/// The buffer the engine asks for with `period`: two periods' whole frames.
fn buffer_bytes(format: &WaveFormat, period: u64) -> u32 {
    let frames = u64::from(format.rate) * period / SECOND;
    u32::try_from(2 * frames * u64::from(format.block_align)).unwrap_or(u32::MAX)
}

/// The pin's data ranges.
fn ranges(ctx: &Context) -> Result<Vec<DataRange>, String> {
    ctx.sim
        .pin_data_ranges(ctx.device.fdo, &ctx.pin.filter, ctx.pin.pin)
}

/// A data intersection of `client` (a `KSDATARANGE_AUDIO`) with the pin, parsed.
fn intersect(ctx: &Context, client: &[u8]) -> Result<WaveFormat, String> {
    let bytes = ctx
        .sim
        .negotiate(ctx.device.fdo, &ctx.pin.filter, ctx.pin.pin, client)
        .map_err(|s| {
            format!(
                "{} pin {}: the data intersection answered {}",
                ctx.pin.filter,
                ctx.pin.pin,
                status_name(s)
            )
        })?;
    parse_format(&bytes)
}

/// The format the engine streams by default: the intersection of the pin's first PCM range
/// with the pin (the driver picks within it).
fn default_format(ctx: &Context) -> Result<WaveFormat, String> {
    let ranges = ranges(ctx)?;
    let (sub_format, audio) = ranges
        .iter()
        .find_map(|r| {
            r.audio
                .clone()
                .filter(|_| r.sub_format == KSDATAFORMAT_SUBTYPE_PCM)
                .map(|a| (r.sub_format, a))
        })
        .ok_or_else(|| format!("{} pin {}: no PCM audio range", ctx.pin.filter, ctx.pin.pin))?;
    intersect(
        ctx,
        &audio_range(sub_format, audio.max_channels, audio.bits, audio.rates),
    )
}

/// Stands in for WaveTest's `TAEF_StreamMultipleModes`: every signal-processing mode the pin
/// offers (`IMiniportAudioSignalProcessing::GetModes`, asked as PortCls asks) streams: a pin
/// opened with the mode in its format's attribute list runs at its rate. WaveTest opens two
/// instances in different modes when the pin allows it; a pin of one instance (the sample's)
/// streams them one after the other. A pin without the interface has one mode, the default,
/// which [`different_formats`] covers.
///
/// # Errors
/// What failed.
pub fn multiple_modes(ctx: &Context) -> Result<(), String> {
    let what = format!("{} pin {}", ctx.pin.filter, ctx.pin.pin);
    let modes = match ctx
        .sim
        .signal_processing_modes(ctx.device.fdo, &ctx.pin.filter, ctx.pin.pin)
    {
        Ok(modes) => modes,
        Err(status) if status == portcls_sys::STATUS_NOINTERFACE => return Ok(()),
        Err(status) => return Err(format!("{what}: GetModes answered {}", status_name(status))),
    };
    if modes.is_empty() {
        return Err(format!("{what}: GetModes offered no mode"));
    }
    let base = default_format(ctx)?;
    for mode in modes {
        let mut format = base.clone();
        format.bytes = crate::stream::with_mode(&base.bytes, mode);
        let bytes = buffer_bytes(&format, ctx.periods.default);
        let mut open = Open::new(ctx, format, 2, bytes)
            .map_err(|e| format!("mode {}: {e}", crate::guid_name(&mode)))?;
        open.walk(3)?;
        open.moves_at_its_rate(ctx.sim)
            .map_err(|e| format!("mode {}: {e}", crate::guid_name(&mode)))?;
        open.close();
    }
    Ok(())
}

/// The audio engine's device-format set-up: `KSPROPERTY_PIN_PROPOSEDATAFORMAT` GET gives the
/// pin's default format (size probe first), SET of that format succeeds, and the format streams;
/// `PROPOSEDATAFORMAT2` (where the pin has modes) gives, per mode, a format flagged with an
/// attribute list naming that mode, which streams. A pin whose table has neither property is
/// left to [`different_formats`].
///
/// # Errors
/// What failed.
pub fn proposed_formats(ctx: &Context) -> Result<(), String> {
    use portcls_sys::ks::{
        KSPROPERTY_PIN_PROPOSEDATAFORMAT, KSPROPERTY_PIN_PROPOSEDATAFORMAT2, KSPROPERTY_TYPE_GET,
        KSPROPERTY_TYPE_SET, KSPROPSETID_Pin,
    };
    let what = format!("{} pin {}", ctx.pin.filter, ctx.pin.pin);
    let ask = |id, verb, instance: &[u8], value: &[u8]| {
        ctx.sim.property(
            ctx.device.fdo,
            &ctx.pin.filter,
            crate::property::Target::Pin(ctx.pin.pin),
            KSPROPSETID_Pin,
            id,
            verb,
            instance,
            value,
        )
    };
    let sized_get = |id, instance: &[u8]| -> Result<Option<Vec<u8>>, String> {
        let probe = ask(id, KSPROPERTY_TYPE_GET, instance, &[]);
        if probe.status == crate::property::STATUS_NOT_FOUND
            || probe.status == crate::property::STATUS_PROPSET_NOT_FOUND
            || probe.status == crate::property::STATUS_INVALID_DEVICE_REQUEST
        {
            return Ok(None);
        }
        if probe.status != crate::property::STATUS_BUFFER_OVERFLOW || probe.size < 82 {
            return Err(format!(
                "{what}: a size probe of Pin/{id} answered {} with {} bytes",
                status_name(probe.status),
                probe.size
            ));
        }
        let got = ask(
            id,
            KSPROPERTY_TYPE_GET,
            instance,
            &vec![0; probe.size as usize],
        );
        if got.status != STATUS_SUCCESS || got.size != probe.size {
            return Err(format!(
                "{what}: GET of Pin/{id} into {} bytes answered {} with {} bytes",
                probe.size,
                status_name(got.status),
                got.size
            ));
        }
        Ok(Some(got.value))
    };
    let stream_it = |bytes: Vec<u8>, label: &str| -> Result<(), String> {
        let mut format = parse_format(&bytes).map_err(|e| format!("{what}: {label}: {e}"))?;
        format.bytes = bytes;
        let buffer = buffer_bytes(&format, ctx.periods.default);
        let mut open = Open::new(ctx, format, 2, buffer).map_err(|e| format!("{label}: {e}"))?;
        open.walk(3)?;
        open.moves_at_its_rate(ctx.sim)
            .map_err(|e| format!("{label}: {e}"))?;
        open.close();
        Ok(())
    };
    let Some(default) = sized_get(KSPROPERTY_PIN_PROPOSEDATAFORMAT, &[])? else {
        return Ok(());
    };
    let set = ask(
        KSPROPERTY_PIN_PROPOSEDATAFORMAT,
        KSPROPERTY_TYPE_SET,
        &[],
        &default,
    );
    if set.status != STATUS_SUCCESS {
        return Err(format!(
            "{what}: SET of its own proposed format answered {}",
            status_name(set.status)
        ));
    }
    stream_it(default, "the proposed format")?;
    let Ok(modes) = ctx
        .sim
        .signal_processing_modes(ctx.device.fdo, &ctx.pin.filter, ctx.pin.pin)
    else {
        return Ok(());
    };
    for mode in modes {
        let list = crate::stream::mode_attribute_list(mode);
        let Some(format) = sized_get(KSPROPERTY_PIN_PROPOSEDATAFORMAT2, &list)? else {
            return Err(format!(
                "{what}: no PROPOSEDATAFORMAT2 although it has modes"
            ));
        };
        stream_it(
            format,
            &format!("the format proposed for {}", crate::guid_name(&mode)),
        )?;
    }
    Ok(())
}

/// The default stream: default format, two default periods, two notifications.
fn open_default(ctx: &Context) -> Result<Open, String> {
    let format = default_format(ctx)?;
    let bytes = buffer_bytes(&format, ctx.periods.default);
    Open::new(ctx, format, 2, bytes)
}

/// One format a range offers: its subformat, channels, bits and one rate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// `SubFormat`.
    pub sub_format: GUID,
    /// `MaximumChannels` (the engine asks for the most a range offers).
    pub channels: u32,
    /// The range's bits per sample.
    pub bits: RangeInclusive<u32>,
    /// One [`STANDARD_RATES`] rate within the range.
    pub rate: u32,
}

/// Every format the audio ranges offer: each PCM or IEEE-float range at each standard rate
/// within its limits.
#[must_use]
pub fn candidates(ranges: &[DataRange]) -> Vec<Candidate> {
    let mut out = Vec::new();
    for range in ranges {
        let Some(audio) = &range.audio else { continue };
        if range.sub_format != KSDATAFORMAT_SUBTYPE_PCM
            && range.sub_format != KSDATAFORMAT_SUBTYPE_IEEE_FLOAT
        {
            continue;
        }
        for rate in STANDARD_RATES
            .into_iter()
            .filter(|r| audio.rates.contains(r))
        {
            out.push(Candidate {
                sub_format: range.sub_format,
                channels: audio.max_channels,
                bits: audio.bits.clone(),
                rate,
            });
        }
    }
    out
}

/// Stands in for WaveTest's `TAEF_StreamStateControl`: every one-step `KSSTATE` transition
/// from every state succeeds and every skip is refused (leaving the state); then the HLK's
/// walk: moving in RUN, standing in PAUSE (and in ACQUIRE after it), 0 in STOP, moving again
/// from 0 after RUN.
///
/// # Errors
/// What failed.
pub fn stream_state_control(ctx: &Context) -> Result<(), String> {
    let mut open = open_default(ctx)?;
    for from in 0..4u32 {
        for to in 0..4u32 {
            open.walk(from)?;
            let status = open.stream.set_state(to);
            let legal = from.abs_diff(to) <= 1;
            if legal != NT_SUCCESS(status) {
                return Err(format!(
                    "{}: {} -> {} answered {} ({})",
                    open.what(),
                    state_name(from),
                    state_name(to),
                    status_name(status),
                    if legal { "a legal step" } else { "a skip" }
                ));
            }
            // A refused skip left the stream where it was: stepping back down from there works.
            open.walk(0)?;
        }
    }
    open.walk(3)?;
    open.moves_at_its_rate(ctx.sim)?;
    open.walk(2)?;
    for state in [2, 1] {
        open.walk(state)?;
        let held = open.run_for(ctx.sim, limits::DELAY_FOR_STABILIZE_MS * MS)?;
        for _ in 0..10 {
            let position = open.run_for(ctx.sim, 50 * MS)?;
            if position != held {
                return Err(format!(
                    "{}: the position moved from {held} to {position} in {}",
                    open.what(),
                    state_name(state)
                ));
            }
        }
    }
    open.walk(0)?;
    for _ in 0..10 {
        ctx.sim.advance(50 * MS);
        let position = open.stream.position();
        if position != Ok((0, 0)) {
            return Err(format!(
                "{}: in STOP GetPosition answered {position:?}",
                open.what()
            ));
        }
    }
    open.walk(3)?;
    open.moves_at_its_rate(ctx.sim)?;
    open.close();
    Ok(())
}

/// A buffer of two `period`s streams: its position moves, at the format's rate.
fn buffer_of_period_streams(ctx: &Context, period: u64) -> Result<(), String> {
    let format = default_format(ctx)?;
    let bytes = buffer_bytes(&format, period);
    let mut open = Open::new(ctx, format, 2, bytes)?;
    open.walk(3)?;
    open.moves_at_its_rate(ctx.sim)?;
    open.close();
    Ok(())
}

/// Stands in for WaveTest's `TAEF_StreamMinBufferSize`: a buffer of two of the shortest periods
/// streams at its rate.
///
/// # Errors
/// What failed.
pub fn min_buffer_size(ctx: &Context) -> Result<(), String> {
    buffer_of_period_streams(ctx, ctx.periods.min)
}

/// Stands in for WaveTest's `TAEF_StreamMaxBufferSize`: a buffer of two of the longest periods
/// streams at its rate.
///
/// # Errors
/// What failed.
pub fn max_buffer_size(ctx: &Context) -> Result<(), String> {
    buffer_of_period_streams(ctx, ctx.periods.max)
}

/// Stands in for WaveTest's `TAEF_StreamDifferentFormat`: every [`candidates`] format of the
/// pin's `DATARANGES` is what a data intersection for exactly it answers, opens, and streams
/// at its rate.
///
/// # Errors
/// What failed.
pub fn different_formats(ctx: &Context) -> Result<(), String> {
    let formats = candidates(&ranges(ctx)?);
    if formats.is_empty() {
        return Err(format!(
            "{} pin {}: no PCM or float format",
            ctx.pin.filter, ctx.pin.pin
        ));
    }
    for candidate in formats {
        let client = audio_range(
            candidate.sub_format,
            candidate.channels,
            candidate.bits.clone(),
            candidate.rate..=candidate.rate,
        );
        let format = intersect(ctx, &client)?;
        if format.rate != candidate.rate
            || format.sub_format != candidate.sub_format
            || !candidate.bits.contains(&u32::from(format.bits))
        {
            return Err(format!(
                "{} pin {}: asked for {candidate:?}, the intersection answered {} Hz, {} bits, \
                 subformat {}",
                ctx.pin.filter,
                ctx.pin.pin,
                format.rate,
                format.bits,
                crate::guid_name(&format.sub_format)
            ));
        }
        let bytes = buffer_bytes(&format, ctx.periods.default);
        let mut open = Open::new(ctx, format, 2, bytes)?;
        open.walk(3)?;
        open.moves_at_its_rate(ctx.sim)
            .map_err(|e| format!("{candidate:?}: {e}"))?;
        open.close();
    }
    Ok(())
}

/// Stands in for WaveTest's `TAEF_VerifyPinWaveRTConformance`: the stream is WaveRT with
/// event-driven support: it implements the notification interface, allocates a buffer with
/// notifications, takes an event, signals it while running and lets it go.
///
/// # Errors
/// What failed.
pub fn event_driven(ctx: &Context) -> Result<(), String> {
    let mut open = open_default(ctx)?;
    if !open.stream.supports_notification() {
        return Err(format!(
            "{}: no IMiniportWaveRTStreamNotification",
            open.what()
        ));
    }
    open.walk(3)?;
    open.run_for(ctx.sim, 50 * MS)?;
    if open.stream.event_signals() == 0 {
        return Err(format!("{}: 50 ms of RUN signalled no event", open.what()));
    }
    open.walk(0)?;
    let status = open.stream.unregister_event();
    if status != STATUS_SUCCESS {
        return Err(format!(
            "{}: UnregisterNotificationEvent answered {}",
            open.what(),
            status_name(status)
        ));
    }
    open.close();
    Ok(())
}

/// The event-driven contract behind `TAEF_VerifyPinWaveRTConformance`: with one and with two
/// notifications per buffer, ten buffers of RUN signal the event exactly ten and twenty times.
///
/// # Errors
/// What failed.
pub fn notifications_per_buffer(ctx: &Context) -> Result<(), String> {
    for count in [1u32, 2] {
        let format = default_format(ctx)?;
        let bytes = buffer_bytes(&format, ctx.periods.default);
        let mut open = Open::new(ctx, format, count, bytes)?;
        open.walk(3)?;
        let interval = open.buffer_ticks / u64::from(count);
        open.run_for(ctx.sim, 10 * open.buffer_ticks + interval / 2)?;
        let signals = open.stream.event_signals();
        if signals != u64::from(10 * count) {
            return Err(format!(
                "{}: ten buffers with {count} notification(s) each signalled {signals} times",
                open.what()
            ));
        }
        open.close();
    }
    Ok(())
}

/// One position KSPosTst keeps: when it was sampled, the time the position is for (both in
/// milliseconds from the start of sampling) and the position in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PositionSample {
    /// `testTime`.
    pub test_ms: f64,
    /// `positionTime`.
    pub position_time_ms: f64,
    /// `position`.
    pub position_s: f64,
}

/// KSPosTst's drift estimate: the least-squares line of bytes over position time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Drift {
    /// The slope, in bytes per second.
    pub bytes_per_second: f64,
    /// The intercept, as a time offset in milliseconds.
    pub offset_ms: f64,
    /// The slope's error against the format's byte rate, in percent.
    pub error_percent: f64,
}

/// KSPosTst's `CalculateSampleRate`: the least-squares slope and intercept of
/// `(positionTime, position x nAvgBytesPerSec)`.
#[must_use]
pub fn sample_rate(samples: &[PositionSample], avg_bytes_per_sec: u32) -> Drift {
    let rate = f64::from(avg_bytes_per_sec);
    let n = f64::from(u32::try_from(samples.len()).unwrap_or(u32::MAX));
    let points = samples
        .iter()
        .map(|s| (s.position_time_ms, s.position_s * rate));
    let (sx, sy, sxx, sxy) = points.fold((0.0, 0.0, 0.0, 0.0), |(sx, sy, sxx, sxy), (x, y)| {
        (sx + x, sy + y, sxx + x * x, sxy + x * y)
    });
    let per_ms = (n * sxy - sx * sy) / (n * sxx - sx * sx);
    let intercept = (sy - per_ms * sx) / n;
    let bytes_per_second = per_ms * 1000.0;
    Drift {
        bytes_per_second,
        offset_ms: intercept / bytes_per_second * 1000.0,
        error_percent: (bytes_per_second - rate) / rate * 100.0,
    }
}

/// KSPosTst's jitter figures, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Jitter {
    /// The mean error after compensation.
    pub mean_ms: f64,
    /// The largest absolute error.
    pub max_ms: f64,
    /// The standard deviation of the error.
    pub std_ms: f64,
}

/// KSPosTst's `CalculateJitter`: each position, less the drift's offset and moved to the
/// sample time, against the sample time.
#[must_use]
pub fn jitter(samples: &[PositionSample], drift: &Drift) -> Jitter {
    let errors: Vec<f64> = samples
        .iter()
        .map(|s| {
            let position =
                s.position_s * 1000.0 - drift.offset_ms + (s.test_ms - s.position_time_ms);
            s.test_ms - position
        })
        .collect();
    let n = f64::from(u32::try_from(errors.len()).unwrap_or(u32::MAX));
    let mean_ms = errors.iter().sum::<f64>() / n;
    let max_ms = errors.iter().fold(0.0f64, |m, e| m.max(e.abs()));
    let std_ms = (errors.iter().map(|e| (e - mean_ms).powi(2)).sum::<f64>() / n).sqrt();
    Jitter {
        mean_ms,
        max_ms,
        std_ms,
    }
}

/// Stands in for KSPosTst's `TAEF_DriftAndJitter`: after 100 ms of RUN, 100 positions one
/// default period apart; their sample rate within 1 % of the format's, and their jitter
/// (mean, largest and standard deviation of the error) within KSPosTst's limits.
///
/// # Errors
/// What failed.
pub fn drift_and_jitter(ctx: &Context) -> Result<(), String> {
    let mut open = open_default(ctx)?;
    open.walk(3)?;
    open.run_for(ctx.sim, limits::DELAY_FOR_STABILIZE_MS * MS)?;
    let base = ctx.sim.now();
    let mut samples = Vec::with_capacity(limits::DATA_POINTS);
    while samples.len() < limits::DATA_POINTS {
        let position = open.run_for(ctx.sim, ctx.periods.default)?;
        if position == 0 {
            continue;
        }
        let time = ratio(ctx.sim.now() - base, MS);
        samples.push(PositionSample {
            test_ms: time,
            position_time_ms: time,
            position_s: ratio(position, u64::from(open.format.avg_bytes_per_sec)),
        });
    }
    let drift = sample_rate(&samples, open.format.avg_bytes_per_sec);
    let jitter = jitter(&samples, &drift);
    let what = open.what();
    open.close();
    if drift.error_percent.abs() > limits::SAMPLERATE_THRESHOLD_PERCENT {
        return Err(format!(
            "{what}: sample rate {drift:?} off by more than 1 %"
        ));
    }
    if jitter.mean_ms.abs() >= limits::JITTER_MEAN_THRESHOLD_MS
        || jitter.max_ms >= limits::JITTER_MAX_THRESHOLD_MS
        || jitter.std_ms >= limits::JITTER_STD_THRESHOLD_MS
    {
        return Err(format!(
            "{what}: jitter {jitter:?} beyond KSPosTst's limits"
        ));
    }
    Ok(())
}

/// KSPosTst's start latency in milliseconds: the first non-zero position (`offset_ms`, already
/// moved to the sample time) against the middle of the window in which it can have been
/// taken (RUN called at `run_pre..run_post`, the position read at `pos_pre..pos_post`).
/// Returns the latency and the window's end.
#[must_use]
pub fn start_latency(run: (f64, f64), read: (f64, f64), offset_ms: f64) -> (f64, f64) {
    let max = read.1 - run.0;
    let min = read.0 - run.1;
    ((f64::midpoint(max, min) - offset_ms).abs(), max)
}

/// Stands in for KSPosTst's `TAEF_Latency`: after one start-stop cycle to wake the driver, a
/// new stream started in RUN shows a non-zero position within 500 ms (read every 1 ms), no
/// further ahead than the time it has run (plus 1 ms), and a start latency within 20 ms.
///
/// # Errors
/// What failed.
pub fn latency(ctx: &Context) -> Result<(), String> {
    let mut wake = open_default(ctx)?;
    wake.walk(3)?;
    wake.run_for(ctx.sim, limits::DELAY_FOR_STABILIZE_MS * MS)?;
    wake.close();
    let mut open = open_default(ctx)?;
    let ms = |ticks: u64| ratio(ticks, MS);
    let run_pre = ctx.sim.now();
    open.walk(3)?;
    let run_post = ctx.sim.now();
    let (pos_pre, position, pos_post) = loop {
        ctx.sim.advance(MS);
        let pre = ctx.sim.now();
        let position = open.read()?;
        let post = ctx.sim.now();
        if position > 0 {
            break (pre, position, post);
        }
        if post - run_post >= limits::FIRST_POSITION_MS * MS {
            return Err(format!("{}: no position within 500 ms of RUN", open.what()));
        }
    };
    let offset = 1000.0 * ratio(position, u64::from(open.format.avg_bytes_per_sec));
    let (latency, window) = start_latency(
        (ms(run_pre), ms(run_post)),
        (ms(pos_pre), ms(pos_post)),
        offset,
    );
    let what = open.what();
    open.close();
    if offset > window + limits::JITTER_STD_THRESHOLD_MS {
        return Err(format!(
            "{what}: position {offset:.3} ms ahead of the {window:.3} ms it ran"
        ));
    }
    if latency > limits::LATENCY_THRESHOLD_MS {
        return Err(format!("{what}: start latency {latency:.3} ms"));
    }
    Ok(())
}

/// The `KSPROPERTY_RTAUDIO_*` answers the HLK's endpoint set-up reads: `GetPosition` 0 in STOP
/// and inside the buffer while running (both offsets, which the model checks are written),
/// `GetHWLatency` with every field written, and the position and clock registers either
/// supported or `STATUS_NOT_SUPPORTED`.
///
/// # Errors
/// What failed.
pub fn rtaudio_answers(ctx: &Context) -> Result<(), String> {
    let mut open = open_default(ctx)?;
    let what = open.what();
    let size = u64::from(open.stream.buffer().map_or(0, |b| b.size));
    if open.stream.position() != Ok((0, 0)) {
        return Err(format!(
            "{what}: GetPosition in STOP answered {:?}",
            open.stream.position()
        ));
    }
    open.walk(3)?;
    open.run_for(ctx.sim, 25 * MS)?;
    match open.stream.position() {
        Ok((play, write)) if play < size && write < size => {}
        other => {
            return Err(format!(
                "{what}: GetPosition in RUN answered {other:?} ({size}-byte buffer)"
            ));
        }
    }
    let before = ctx.sim.violations().len();
    let _ = open.stream.hw_latency();
    if ctx.sim.violations().len() != before {
        return Err(format!("{what}: GetHWLatency left a field unwritten"));
    }
    let (position, clock) = open.stream.registers();
    for (name, status) in [("position", position), ("clock", clock)] {
        if status != STATUS_SUCCESS && status != STATUS_NOT_SUPPORTED {
            return Err(format!(
                "{what}: the {name} register answered {}",
                status_name(status)
            ));
        }
    }
    open.close();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ks_client::AudioLimits;

    fn samples(rate_factor: f64, wobble_ms: f64) -> Vec<PositionSample> {
        (1..=100)
            .map(|i| {
                let t = f64::from(i) * 10.0;
                let wobble = if i % 2 == 0 { wobble_ms } else { -wobble_ms };
                PositionSample {
                    test_ms: t,
                    position_time_ms: t,
                    position_s: (t * rate_factor + wobble) / 1000.0,
                }
            })
            .collect()
    }

    #[test]
    fn an_exact_clock_has_no_drift_and_no_jitter() {
        let drift = sample_rate(&samples(1.0, 0.0), 192_000);
        assert!(drift.error_percent.abs() < 1e-9, "{drift:?}");
        assert!(drift.offset_ms.abs() < 1e-6, "{drift:?}");
        let jitter = jitter(&samples(1.0, 0.0), &drift);
        assert!(jitter.max_ms < 1e-6 && jitter.std_ms < 1e-6, "{jitter:?}");
    }

    #[test]
    fn drift_and_jitter_are_measured_as_kspostst_measures_them() {
        let fast = sample_rate(&samples(1.02, 0.0), 192_000);
        assert!((fast.error_percent - 2.0).abs() < 1e-6, "{fast:?}");
        let shaky = samples(1.0, 1.5);
        let drift = sample_rate(&shaky, 192_000);
        let jitter = jitter(&shaky, &drift);
        assert!((jitter.max_ms - 1.5).abs() < 0.05, "{jitter:?}");
        assert!((jitter.std_ms - 1.5).abs() < 0.05, "{jitter:?}");
    }

    #[test]
    fn start_latency_is_taken_from_the_middle_of_the_window() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        let (latency, window) = start_latency((0.0, 0.0), (3.0, 3.0), 1.0);
        assert!(
            close(latency, 2.0) && close(window, 3.0),
            "{latency} {window}"
        );
        let (latency, _) = start_latency((0.0, 1.0), (5.0, 6.0), 6.0);
        assert!(close(latency, 1.0), "{latency}");
    }

    #[test]
    fn a_cursor_unwraps_cyclic_offsets() {
        let mut cursor = Cursor::new(100);
        assert_eq!(cursor.update(40), 40);
        assert_eq!(cursor.update(90), 90);
        assert_eq!(cursor.update(10), 110);
        assert_eq!(cursor.update(10), 110);
        cursor.reset();
        assert_eq!(cursor.update(30), 30);
    }

    #[test]
    fn formats_are_checked_for_a_consistent_rate() {
        let mut bytes = vec![0u8; 64 + 18];
        bytes[66..68].copy_from_slice(&2u16.to_le_bytes());
        bytes[68..72].copy_from_slice(&48_000u32.to_le_bytes());
        bytes[72..76].copy_from_slice(&192_000u32.to_le_bytes());
        bytes[76..78].copy_from_slice(&4u16.to_le_bytes());
        bytes[78..80].copy_from_slice(&16u16.to_le_bytes());
        let format = parse_format(&bytes).unwrap();
        assert_eq!(
            (format.rate, format.block_align, format.bits),
            (48_000, 4, 16)
        );
        bytes[72] = 1;
        assert!(
            parse_format(&bytes)
                .unwrap_err()
                .contains("bytes per second")
        );
        assert!(
            parse_format(&bytes[..70])
                .unwrap_err()
                .contains("no WAVEFORMATEX")
        );
    }

    #[test]
    fn candidates_are_the_standard_rates_within_each_range() {
        let range = |sub_format, rates| DataRange {
            major: GUID::default(),
            sub_format,
            specifier: GUID::default(),
            audio: Some(AudioLimits {
                max_channels: 2,
                bits: 16..=16,
                rates,
            }),
        };
        let found = candidates(&[
            range(KSDATAFORMAT_SUBTYPE_PCM, 44_100..=48_000),
            range(KSDATAFORMAT_SUBTYPE_IEEE_FLOAT, 8_000..=11_025),
            range(GUID::default(), 8_000..=192_000),
        ]);
        let rates: Vec<u32> = found.iter().map(|c| c.rate).collect();
        assert_eq!(rates, [44_100, 48_000, 8_000, 11_025]);
    }

    #[test]
    fn every_check_is_listed_once_by_name() {
        for (i, c) in CHECKS.iter().enumerate() {
            assert!(
                CHECKS[..i].iter().all(|other| other.name != c.name),
                "{}",
                c.name
            );
            assert_eq!(check(c.name).map(|found| found.hlk), Some(c.hlk));
        }
        assert!(check("no such check").is_none());
    }
}
