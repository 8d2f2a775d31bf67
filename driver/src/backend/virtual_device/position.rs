//! The stream position, derived from the performance counter in exact integer arithmetic.
//!
//! A virtual device has no hardware position register: the position is the time the stream has
//! spent in RUN, converted to frames. Adding up per-period increments (or using floating point)
//! loses a fraction of a frame each time and drifts; here the position is always recomputed
//! from the counter value at which the clock last started:
//!
//! ```text
//! frames(now) = kept + floor((now - start) * rate / frequency)
//! ```
//!
//! The product is formed in `u64` while it fits and in `u128` beyond (a `u64` tick count times a
//! `u32` rate cannot overflow that),
//! so the only rounding is the one `floor`, and it never accumulates: after 24 hours at
//! 48 kHz the position is exactly `86 400 x 48 000` frames whatever the counter frequency.
//! `kept` is the whole number of frames reached when the stream was last paused.

use core::num::NonZeroU64;

use crate::format::Format;

/// `floor((now - start) * rate / frequency)`: frames played in the ticks from `start` to `now`.
///
/// A `now` before `start` counts as no time at all; a result beyond `u64` (only possible with
/// absurdly low frequencies) saturates at `u64::MAX`.
#[must_use]
pub fn frames_elapsed(start: u64, now: u64, rate: u32, frequency: NonZeroU64) -> u64 {
    let ticks = now.saturating_sub(start);
    // The same quotient in u64 while the product fits (for 10^14 ticks and more at 48 kHz: over
    // a year at 10 MHz), which is several times cheaper than the u128 division.
    if let Some(product) = ticks.checked_mul(u64::from(rate)) {
        return product / frequency;
    }
    // < 2^64 x 2^32: no overflow in u128.
    let frames = u128::from(ticks) * u128::from(rate) / u128::from(frequency.get());
    u64::try_from(frames).unwrap_or(u64::MAX)
}

/// The byte offset of linear position `total_bytes` within a cyclic buffer of `buffer_bytes`
/// (`total_bytes mod buffer_bytes`); 0 for an empty buffer.
#[must_use]
pub fn cyclic_offset(total_bytes: u64, buffer_bytes: u32) -> u32 {
    let offset = total_bytes
        .checked_rem(u64::from(buffer_bytes))
        .unwrap_or(0);
    // The remainder is below `buffer_bytes`, a u32: the conversion cannot fail.
    u32::try_from(offset).unwrap_or(0)
}

/// A position in a stream, counted from the last STOP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// Frames played (render) or captured.
    pub frames: u64,
    /// The same position in bytes (`frames x block alignment`).
    pub bytes: u64,
}

/// The stream clock: RUN starts it, PAUSE holds the position, STOP resets it to 0.
///
/// # Invariants
/// While running, `start` is the counter value at which it last started, `kept_frames` the
/// position at that moment and `origin` the device frame of linear frame 0 (see
/// [`Clock::origin`]); while not running, `kept_frames` is the position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    frequency: NonZeroU64,
    rate: u32,
    bytes_per_frame: u32,
    kept_frames: u64,
    start: Option<u64>,
    origin: i64,
    /// `(start, kept_frames)` of the latest run (kept across a pause, cleared by STOP): the
    /// timeline [`Clock::counter_at`] reads.
    anchor: Option<(u64, u64)>,
}

impl Clock {
    /// A stopped clock at position 0 for a stream of `format`, reading a counter that ticks
    /// `frequency` times a second (`KeQueryPerformanceCounter`'s frequency).
    #[must_use]
    pub const fn new(format: &Format, frequency: NonZeroU64) -> Self {
        Self {
            frequency,
            rate: format.rate(),
            bytes_per_frame: format.bytes_per_frame(),
            kept_frames: 0,
            start: None,
            origin: 0,
            anchor: None,
        }
    }

    /// Whether the clock is running.
    #[must_use]
    pub const fn is_running(&self) -> bool {
        self.start.is_some()
    }

    /// Starts the clock at counter `now`, continuing from the kept position. Does nothing if it
    /// is already running.
    pub fn run(&mut self, now: u64) {
        if self.start.is_none() {
            self.start = Some(now);
            let device = frames_elapsed(0, now, self.rate, self.frequency);
            let device = i64::try_from(device).unwrap_or(i64::MAX);
            self.origin =
                device.saturating_sub(i64::try_from(self.kept_frames).unwrap_or(i64::MAX));
            self.anchor = Some((now, self.kept_frames));
        }
    }

    /// Stops the clock at counter `now` and keeps the position reached. Does nothing if it is
    /// not running.
    pub fn pause(&mut self, now: u64) {
        if self.start.is_some() {
            self.kept_frames = self.frames(now);
            self.start = None;
        }
    }

    /// Stops the clock and resets the position to 0.
    pub fn stop(&mut self) {
        self.kept_frames = 0;
        self.start = None;
        self.anchor = None;
    }

    /// The first counter value at which the position reached `frame`, on the timeline of the
    /// latest run (`start + ceil((frame - kept) x frequency / rate)`; exact for every frame
    /// that run reached or will reach). A frame from before an earlier pause is placed on the
    /// same timeline, as if the stream had not paused. `None` before the first run since STOP.
    #[must_use]
    pub fn counter_at(&self, frame: u64) -> Option<u64> {
        let (start, kept) = self.anchor?;
        let rate = u128::from(self.rate.max(1));
        let frequency = u128::from(self.frequency.get());
        let ticks = |frames: u64| {
            let exact = u128::from(frames) * frequency;
            let ticks = exact.div_ceil(rate);
            u64::try_from(ticks).unwrap_or(u64::MAX)
        };
        Some(if frame >= kept {
            start.saturating_add(ticks(frame - kept))
        } else {
            start.saturating_sub(ticks(kept - frame))
        })
    }

    /// While the clock runs, the device frame of linear frame 0: linear frame `k` is device
    /// frame `k + origin`, where device frame `n` is the `n`-th frame period of the counter
    /// (`floor(counter x rate / frequency)`), the one timeline all streams of the device share.
    /// `None` while the clock does not run (no frame is being played then).
    #[must_use]
    pub const fn origin(&self) -> Option<i64> {
        match self.start {
            Some(_) => Some(self.origin),
            None => None,
        }
    }

    /// The position in frames at counter `now`. Non-decreasing for non-decreasing `now`.
    #[must_use]
    pub fn frames(&self, now: u64) -> u64 {
        match self.start {
            Some(start) => self.kept_frames.saturating_add(frames_elapsed(
                start,
                now,
                self.rate,
                self.frequency,
            )),
            None => self.kept_frames,
        }
    }

    /// The position at counter `now`, in frames and bytes.
    #[must_use]
    pub fn position(&self, now: u64) -> Position {
        let frames = self.frames(now);
        Position {
            frames,
            bytes: frames.saturating_mul(u64::from(self.bytes_per_frame)),
        }
    }

    /// The byte offset at counter `now` within a cyclic buffer of `buffer_bytes` (what
    /// `GetPosition` reports).
    #[must_use]
    pub fn buffer_offset(&self, now: u64, buffer_bytes: u32) -> u32 {
        cyclic_offset(self.position(now).bytes, buffer_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::SampleFormat;

    const DAY: u64 = 86_400;
    const FREQUENCIES: [u64; 3] = [10_000_000, 3_579_545, 1_000_003];
    const RATES: [u32; 2] = [44_100, 48_000];

    fn nz(value: u64) -> NonZeroU64 {
        NonZeroU64::new(value).unwrap()
    }

    fn format(rate: u32) -> Format {
        Format::new(SampleFormat::Pcm16, 2, rate).unwrap()
    }

    #[test]
    fn the_u64_shortcut_gives_the_u128_quotient_on_both_sides_of_its_limit() {
        for frequency in FREQUENCIES {
            for rate in RATES {
                let limit = u64::MAX / u64::from(rate);
                for ticks in [0, 1, limit - 1, limit, limit + 1, u64::MAX / 2, u64::MAX] {
                    let exact = u128::from(ticks) * u128::from(rate) / u128::from(frequency);
                    let exact = u64::try_from(exact).unwrap_or(u64::MAX);
                    assert_eq!(
                        frames_elapsed(0, ticks, rate, nz(frequency)),
                        exact,
                        "{ticks}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_origin_maps_linear_frames_onto_the_counter_timeline_across_pauses() {
        for frequency in FREQUENCIES {
            for rate in RATES {
                let f = nz(frequency);
                let device = |counter: u64| frames_elapsed(0, counter, rate, f).cast_signed();
                let mut clock = Clock::new(&format(rate), f);
                assert_eq!(clock.origin(), None);
                let start = frequency * 3 + 12_345;
                clock.run(start);
                assert_eq!(clock.origin(), Some(device(start)));
                // Linear frame k is device frame k + origin, to within the one floor of each.
                let later = start + frequency / 7;
                let linear = clock.frames(later).cast_signed();
                let gap = device(later) - (linear + clock.origin().unwrap());
                assert!((0..=1).contains(&gap), "{frequency} {rate}: {gap}");
                clock.pause(later);
                assert_eq!(clock.origin(), None);
                let again = later + frequency;
                clock.run(again);
                assert_eq!(clock.origin(), Some(device(again) - linear));
            }
        }
    }

    /// xorshift64: deterministic irregular steps without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, bound: u64) -> u64 {
            self.next() % bound
        }
    }

    /// The exact value, computed another way: whole seconds times the rate plus the frames of
    /// the remaining ticks (all in u64, no u128).
    fn exact(ticks: u64, rate: u32, frequency: u64) -> u64 {
        let seconds = ticks / frequency;
        let rest = ticks % frequency;
        seconds * u64::from(rate) + rest * u64::from(rate) / frequency
    }

    #[test]
    fn one_day_is_exactly_rate_times_86400_frames_for_every_frequency() {
        for frequency in FREQUENCIES {
            for rate in RATES {
                for start in [0, 123_456_789_012, u64::MAX - DAY * frequency] {
                    let now = start + DAY * frequency;
                    assert_eq!(
                        frames_elapsed(start, now, rate, nz(frequency)),
                        DAY * u64::from(rate),
                        "frequency {frequency}, rate {rate}, start {start}"
                    );
                }
            }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "long arithmetic run: natively only")]
    fn irregular_queries_over_a_day_are_exact_monotonic_and_never_jump() {
        for frequency in FREQUENCIES {
            for rate in RATES {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ frequency ^ u64::from(rate));
                let start = 987_654_321;
                let mut clock = Clock::new(&format(rate), nz(frequency));
                clock.run(start);
                let end = start + DAY * frequency;
                let mut now = start;
                let mut previous = 0;
                let mut queries = 0u32;
                while now < end {
                    // 1 tick to 2 s, and now and then a burst of single ticks.
                    let step = if rng.below(8) == 0 {
                        1
                    } else {
                        1 + rng.below(2 * frequency)
                    };
                    let step = step.min(end - now);
                    now += step;
                    let frames = clock.frames(now);
                    assert_eq!(frames, exact(now - start, rate, frequency));
                    let least = step * u64::from(rate) / frequency;
                    assert!(
                        frames - previous == least || frames - previous == least + 1,
                        "step of {step} ticks moved {} frames",
                        frames - previous
                    );
                    previous = frames;
                    queries += 1;
                }
                assert!(queries > 50_000);
                assert_eq!(clock.frames(end), DAY * u64::from(rate), "0 frames error");
            }
        }
    }

    #[test]
    fn dense_queries_advance_one_frame_at_a_time() {
        // 3 579 545 Hz at 44 100 Hz: about 81 ticks per frame; query every 7 ticks for 1 s.
        let (frequency, rate) = (3_579_545, 44_100);
        let mut previous = 0;
        let mut ticks = 0;
        while ticks <= frequency {
            let frames = frames_elapsed(0, ticks, rate, nz(frequency));
            assert!(frames == previous || frames == previous + 1);
            previous = frames;
            ticks += 7;
        }
        assert_eq!(frames_elapsed(0, frequency, rate, nz(frequency)), 44_100);
    }

    #[test]
    fn frames_elapsed_treats_a_counter_before_start_as_no_time() {
        assert_eq!(frames_elapsed(1_000, 999, 48_000, nz(10_000_000)), 0);
    }

    #[test]
    fn frames_elapsed_saturates_instead_of_wrapping() {
        assert_eq!(frames_elapsed(0, u64::MAX, 48_000, nz(1)), u64::MAX);
        assert_eq!(
            frames_elapsed(0, u64::MAX, 48_000, nz(u64::MAX)),
            48_000,
            "exactly one second of a 2^64-1 Hz counter"
        );
    }

    #[test]
    fn counter_at_is_the_first_counter_value_that_reaches_a_frame() {
        for frequency in FREQUENCIES {
            for rate in RATES {
                let mut clock = Clock::new(&format(rate), nz(frequency));
                assert_eq!(clock.counter_at(0), None);
                clock.run(1_000);
                clock.pause(1_000 + frequency / 3);
                clock.run(5 * frequency);
                let kept = clock.frames(5 * frequency);
                // The kept position is where the run starts.
                assert_eq!(clock.counter_at(kept), Some(5 * frequency));
                for frame in [kept + 1, kept + 479, kept + u64::from(rate) * 7 + 13] {
                    let at = clock.counter_at(frame).unwrap();
                    assert!(clock.frames(at) >= frame, "{frequency} {rate} {frame}");
                    assert!(clock.frames(at - 1) < frame, "{frequency} {rate} {frame}");
                }
                // Before the latest run: on its timeline, never after its start.
                assert!(clock.counter_at(0).unwrap() <= 5 * frequency);
                clock.stop();
                assert_eq!(clock.counter_at(0), None);
            }
        }
    }

    #[test]
    fn clock_starts_stopped_at_zero() {
        let clock = Clock::new(&format(48_000), nz(10_000_000));
        assert!(!clock.is_running());
        assert_eq!(
            clock.position(123_456),
            Position {
                frames: 0,
                bytes: 0
            }
        );
    }

    #[test]
    fn run_pause_run_stop_follow_the_wavert_rules() {
        let f = 10_000_000;
        let mut clock = Clock::new(&format(48_000), nz(f));
        clock.run(1_000);
        assert!(clock.is_running());
        assert_eq!(
            clock.position(1_000 + f),
            Position {
                frames: 48_000,
                bytes: 192_000
            }
        );

        // PAUSE keeps the position reached, however long the pause lasts.
        clock.pause(1_000 + f + f / 2);
        assert!(!clock.is_running());
        assert_eq!(clock.frames(1_000 + 100 * f), 72_000);

        // RUN continues from the kept position, timed from the new start.
        let restart = 1_000 + 200 * f;
        clock.run(restart);
        assert_eq!(clock.frames(restart), 72_000);
        assert_eq!(clock.frames(restart + f / 2), 96_000);

        // STOP resets to 0, and the next RUN counts from 0.
        clock.stop();
        assert!(!clock.is_running());
        assert_eq!(
            clock.position(restart + f),
            Position {
                frames: 0,
                bytes: 0
            }
        );
        clock.run(restart + 2 * f);
        assert_eq!(clock.frames(restart + 3 * f), 48_000);
    }

    #[test]
    fn repeated_run_and_pause_change_nothing() {
        let f = 1_000_003;
        let mut clock = Clock::new(&format(44_100), nz(f));
        clock.run(0);
        clock.run(f); // already running: the start stays at 0
        assert_eq!(clock.frames(2 * f), 88_200);
        clock.pause(2 * f);
        clock.pause(3 * f); // already paused: the position stays
        assert_eq!(clock.frames(10 * f), 88_200);
    }

    #[test]
    fn pause_run_cycles_over_a_day_lose_nothing_and_never_go_back() {
        for frequency in FREQUENCIES {
            for rate in RATES {
                let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ frequency);
                let mut clock = Clock::new(&format(rate), nz(frequency));
                let mut now = 42;
                let mut expected = 0;
                let mut previous = 0;
                let end = DAY * frequency;
                while now < end {
                    let run_for = rng.below(60 * frequency);
                    clock.run(now);
                    // Query inside the running segment too.
                    let mid = now + run_for / 3;
                    let at_mid = clock.frames(mid);
                    assert_eq!(at_mid, expected + exact(mid - now, rate, frequency));
                    assert!(at_mid >= previous);
                    expected += exact(run_for, rate, frequency);
                    now += run_for;
                    clock.pause(now);
                    assert_eq!(clock.frames(now), expected);
                    let paused_for = rng.below(5 * frequency);
                    now += paused_for;
                    assert_eq!(clock.frames(now), expected, "paused clocks hold");
                    previous = expected;
                }
                assert!(expected > 0);
            }
        }
    }

    #[test]
    fn bytes_follow_the_frame_size_of_the_format() {
        let f = 10_000_000;
        let float = Format::new(SampleFormat::Float32, 2, 44_100).unwrap();
        let mut clock = Clock::new(&float, nz(f));
        clock.run(0);
        assert_eq!(
            clock.position(f),
            Position {
                frames: 44_100,
                bytes: 352_800
            }
        );
    }

    #[test]
    fn buffer_offset_is_the_byte_position_modulo_the_buffer() {
        let f = 10_000_000;
        let mut clock = Clock::new(&format(48_000), nz(f));
        clock.run(0);
        // 10 ms buffer = 480 frames = 1 920 bytes; 1 s = 100 whole buffers.
        assert_eq!(clock.buffer_offset(f, 1_920), 0);
        // 1 s + 1 frame (208.33 ticks per frame, so 209 ticks reach it).
        assert_eq!(clock.buffer_offset(f + 209, 1_920), 4);
        assert_eq!(clock.buffer_offset(f + f / 200, 1_920), 960);
        assert_eq!(cyclic_offset(7, 0), 0, "an empty buffer has offset 0");
        assert_eq!(cyclic_offset(u64::MAX, u32::MAX), 0);
        assert_eq!(cyclic_offset(u64::MAX - 1, u32::MAX), u32::MAX - 1);
    }
}
