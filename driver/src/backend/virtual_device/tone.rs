//! A sine tone for the capture stream: what the virtual microphone "hears".
//!
//! The frequency and level are `const` parameters of [`Tone`] (1 kHz at -6 dBFS by default).
//! The phase is an exact integer: the position within the cycle counted in `1 / rate` cycles,
//! advanced by the frequency modulo the rate each frame. After `rate` frames it is back where it
//! started exactly, so the tone never drifts, and the output does not depend on how the caller
//! splits it into calls: one call of N bytes writes the same bytes as any sequence of calls
//! adding up to N, even calls that end inside a frame.
//!
//! `core` has no `sin`, so the sine is a polynomial: the phase is reduced to a quarter wave
//! with integer arithmetic, and `sin(x)` on `[0, pi/2]` is its Taylor polynomial to `x^13`
//! (error below 1e-9, far below the 24-bit step of 1.2e-7).
//!
//! Full scale is symmetric: 32 767 for 16-bit, 8 388 607 for 24-bit (stored in the top three
//! bytes of a 32-bit container), 1.0 for float. Every channel carries the same signal.

use core::num::NonZeroU64;

use crate::format::{Format, SampleFormat};

/// The default tone frequency, in hertz.
pub const DEFAULT_FREQUENCY_HZ: u32 = 1_000;
/// The default tone level, in millibels relative to full scale (-600 = -6 dBFS).
pub const DEFAULT_LEVEL_MILLIBELS: i32 = -600;

/// Full scale of 16-bit samples.
const FULL_SCALE_16: f64 = 32_767.0;
/// Full scale of 24-bit samples.
const FULL_SCALE_24: f64 = 8_388_607.0;
/// The largest frame this generator writes (2 channels x 4 bytes).
const MAX_FRAME: usize = 8;
/// Bytes of the precomputed cycle (see [`Tone`]): whole frames as written, 4 KiB (a 441-frame
/// cycle of 8-byte frames, 1 kHz at 44.1 kHz, is 3 528 bytes).
pub const TABLE_BYTES: usize = 4096;

/// The storage of a tone's precomputed cycle.
pub type ToneTable = [u8; TABLE_BYTES];

/// A sine tone of `FREQUENCY_HZ` hertz at `LEVEL_MILLIBELS` hundredths of a dB relative to full
/// scale, written as interleaved little-endian frames of a [`Format`].
///
/// `FREQUENCY_HZ` must be in `1..=20_000` (below the Nyquist frequency of every supported rate)
/// and `LEVEL_MILLIBELS` in `-20_000..=0`; other values do not compile.
///
/// ```
/// use wavert_sample::format::Format;
/// use wavert_sample::backend::virtual_device::tone::Tone;
///
/// let mut tone: Tone = Tone::new(Format::PREFERRED); // 1 kHz, -6 dBFS, 48 kHz 16-bit stereo
/// let mut period = [0u8; 480 * 4]; // 10 ms
/// assert_eq!(tone.fill(&mut period), period.len());
/// ```
///
/// When the frames of one cycle of the tone (`rate / gcd(rate, frequency)` frames: 48 for
/// 1 kHz at 48 kHz, 441 at 44.1 kHz) fit in the table ([`TABLE_BYTES`], enough for every
/// supported format), they are computed once, by the same code, and replayed with bulk copies:
/// the per-period cost is then a `memcpy` of the period's bytes, not a sine per frame, and the
/// output is byte-for-byte the same. A cycle that does not fit (another frequency) is computed
/// as it goes. The table is the type parameter `T`: inline by default, in pool in the driver
/// ([`Tone::with_table`]), because a 4 KiB value on a kernel stack would need stack probes.
///
/// # Invariants
/// `phase < rate` and `increment < rate`; `frame_len` is the format's block alignment (at most
/// 8 bytes); `pending` is 0 or the number of bytes of `frame` already written. With a table
/// (`cycle > 0`), `table[..cycle x frame_len]` holds the bytes of frames `0..cycle` as `fill`
/// writes them and `index < cycle x frame_len` is the next byte's place; `phase`, `frame` and
/// `pending` are then not used.
#[derive(Clone, Debug)]
pub struct Tone<
    const FREQUENCY_HZ: u32 = DEFAULT_FREQUENCY_HZ,
    const LEVEL_MILLIBELS: i32 = DEFAULT_LEVEL_MILLIBELS,
    T = ToneTable,
> {
    sample: SampleFormat,
    channels: usize,
    rate: u32,
    phase: u32,
    increment: u32,
    amplitude: f64,
    frame: [u8; MAX_FRAME],
    frame_len: usize,
    pending: usize,
    table: T,
    cycle: usize,
    index: usize,
}

impl<const FREQUENCY_HZ: u32, const LEVEL_MILLIBELS: i32>
    Tone<FREQUENCY_HZ, LEVEL_MILLIBELS, ToneTable>
{
    /// A tone for `format`, starting at phase 0, with its table inline (4 KiB: for a tone
    /// that lives in pool, or on a thread with a large stack, see [`Tone::with_table`]).
    #[must_use]
    pub fn new(format: Format) -> Self {
        Self::with_table(format, [0; TABLE_BYTES])
    }
}

impl<const FREQUENCY_HZ: u32, const LEVEL_MILLIBELS: i32, T: AsRef<[u8]> + AsMut<[u8]>>
    Tone<FREQUENCY_HZ, LEVEL_MILLIBELS, T>
{
    /// A tone for `format`, starting at phase 0, whose cycle is precomputed into `table`
    /// (when it fits; a table of [`TABLE_BYTES`] holds one at every supported format). The
    /// driver passes a table in pool, so that 4 KiB never pass through a kernel stack.
    #[must_use]
    pub fn with_table(format: Format, table: T) -> Self {
        const {
            assert!(FREQUENCY_HZ >= 1 && FREQUENCY_HZ <= 20_000);
            assert!(LEVEL_MILLIBELS >= -20_000 && LEVEL_MILLIBELS <= 0);
        }
        let mut tone = Self {
            sample: format.sample(),
            channels: 0,
            rate: 0,
            phase: 0,
            increment: 0,
            amplitude: millibels_to_amplitude(LEVEL_MILLIBELS),
            frame: [0; MAX_FRAME],
            frame_len: 1,
            pending: 0,
            table,
            cycle: 0,
            index: 0,
        };
        tone.reset(format);
        tone
    }

    /// Starts over for `format` at phase 0, reusing the table (a format change).
    pub fn reset(&mut self, format: Format) {
        let rate = format.rate();
        self.sample = format.sample();
        self.channels = usize::from(format.channels());
        self.rate = rate;
        self.phase = 0;
        self.increment = FREQUENCY_HZ.checked_rem(rate).unwrap_or(0);
        self.frame = [0; MAX_FRAME];
        self.frame_len = usize::from(format.block_align()).clamp(1, MAX_FRAME);
        self.pending = 0;
        self.cycle = 0;
        self.index = 0;
        // One cycle: the phase is back at 0 after rate / gcd(rate, increment) frames.
        let cycle = rate
            .checked_div(gcd(rate, self.increment))
            .unwrap_or(1)
            .max(1) as usize;
        let frame_len = self.frame_len;
        if cycle
            .checked_mul(frame_len)
            .is_some_and(|bytes| bytes <= self.table.as_ref().len())
        {
            let channels = self.channels;
            for k in 0..cycle {
                let (bytes, width) = self.compute_sample();
                let start = k.saturating_mul(frame_len);
                let table = self.table.as_mut();
                if let Some(slot) = table.get_mut(start..start.saturating_add(frame_len)) {
                    write_sample(slot, bytes, width, channels);
                }
            }
            // As many whole cycles as the table holds, so that a period is a few long copies
            // (48 frames of 1 kHz at 48 kHz would otherwise be ten copies per 10 ms); a number
            // of cycles that divides the cycles in a second, so the table still lines up with
            // one second of the tone (what `skip_frames` counts on).
            let one = cycle.saturating_mul(frame_len);
            let table = self.table.as_mut();
            let room = table.len().checked_div(one).unwrap_or(1).max(1);
            let per_second = (rate as usize).checked_div(cycle).unwrap_or(1).max(1);
            let copies = (1..=room.min(per_second))
                .rev()
                .find(|k| per_second.is_multiple_of(*k))
                .unwrap_or(1);
            if let Some((first, rest)) = table.split_at_mut_checked(one) {
                for chunk in rest.chunks_exact_mut(one.max(1)).take(copies - 1) {
                    for (to, from) in chunk.iter_mut().zip(first.iter()) {
                        *to = *from;
                    }
                }
            }
            self.phase = 0;
            self.cycle = cycle.saturating_mul(copies);
        }
    }

    /// The linear peak amplitude (1.0 = full scale).
    #[must_use]
    pub const fn amplitude(&self) -> f64 {
        self.amplitude
    }

    /// Fills `out` with the next bytes of the tone and returns how many were written (all of
    /// them). `out` may begin or end inside a frame.
    pub fn fill(&mut self, out: &mut [u8]) -> usize {
        let written = out.len();
        if self.cycle > 0 {
            self.replay(out);
            return written;
        }
        let rest = self.finish_pending(out);
        let mut frames = rest.chunks_exact_mut(self.frame_len.max(1));
        for frame in &mut frames {
            self.next_frame();
            if let Some(bytes) = self.frame.get(..frame.len()) {
                frame.copy_from_slice(bytes);
            }
        }
        let tail = frames.into_remainder();
        if !tail.is_empty() {
            self.next_frame();
            if let Some(bytes) = self.frame.get(..tail.len()) {
                tail.copy_from_slice(bytes);
                self.pending = tail.len();
            }
        }
        written
    }

    /// For a tone replayed from its table: the next bytes of the tone, at most `max`, as one
    /// run of the table (the caller copies them out: no scratch copy), taken as written. `None`
    /// for a computed tone (use [`Tone::fill`]).
    pub fn take_run(&mut self, max: usize) -> Option<&[u8]> {
        if self.cycle == 0 {
            return None;
        }
        let len = self.cycle.saturating_mul(self.frame_len);
        let index = self.index;
        let n = len.saturating_sub(index).min(max);
        self.index = if index + n >= len { 0 } else { index + n };
        self.table.as_ref().get(index..index + n)
    }

    /// Moves the tone `frames` whole frames on without writing them (what a starved capture
    /// engine lost), as if `fill` had written and discarded them. A frame a previous call
    /// began is completed first, so the sequence stays frame-aligned.
    pub fn skip_frames(&mut self, frames: u64) {
        if frames == 0 && self.pending == 0 {
            return;
        }
        if self.pending != 0 {
            let mut rest = [0u8; MAX_FRAME];
            let left = self.frame_len - self.pending;
            if let Some(rest) = rest.get_mut(..left) {
                self.finish_pending(rest);
            }
        }
        let cycle = NonZeroU64::new(self.cycle as u64);
        let frame = NonZeroU64::new(self.frame_len as u64);
        let len = cycle
            .zip(frame)
            .and_then(|(cycle, frame)| NonZeroU64::new(cycle.get().saturating_mul(frame.get())));
        if let (Some(cycle), Some(frame), Some(len)) = (cycle, frame, len) {
            // A frame begun before is completed: the next frame boundary, then whole frames
            // (all within the table, so nothing saturates).
            let index = self.index as u64 % len;
            let boundary = index.div_ceil(frame.get()).saturating_mul(frame.get());
            let skipped = (frames % cycle).saturating_mul(frame.get());
            let advanced = boundary.saturating_add(skipped) % len;
            self.index = usize::try_from(advanced).unwrap_or(0);
            return;
        }
        // (phase + frames x increment) mod rate, without overflow: increment < rate <= u32.
        let rate = u64::from(self.rate.max(1));
        let steps = frames % rate;
        let advanced = (u64::from(self.phase) + steps * u64::from(self.increment)) % rate;
        self.phase = u32::try_from(advanced).unwrap_or(0);
    }

    /// Copies the next bytes of the table into `out`, a contiguous run at a time.
    fn replay(&mut self, mut out: &mut [u8]) {
        let Some(table) = self
            .table
            .as_ref()
            .get(..self.cycle.saturating_mul(self.frame_len))
        else {
            return;
        };
        while !out.is_empty() {
            let from = table.get(self.index..).unwrap_or(&[]);
            let n = from.len().min(out.len());
            let (Some(from), Some((head, rest))) = (from.get(..n), out.split_at_mut_checked(n))
            else {
                return;
            };
            if n == 0 {
                return;
            }
            head.copy_from_slice(from);
            out = rest;
            self.index = self.index.saturating_add(n);
            if self.index >= table.len() {
                self.index = 0;
            }
        }
    }

    /// Writes what is left of a frame a previous call began; returns the rest of `out`.
    fn finish_pending<'a>(&mut self, out: &'a mut [u8]) -> &'a mut [u8] {
        if self.pending == 0 {
            return out;
        }
        let left = self.frame.get(self.pending..self.frame_len).unwrap_or(&[]);
        let n = left.len().min(out.len());
        let Some((head, rest)) = out.split_at_mut_checked(n) else {
            return &mut [];
        };
        if let Some(bytes) = left.get(..n) {
            head.copy_from_slice(bytes);
        }
        self.pending += n;
        if self.pending >= self.frame_len {
            self.pending = 0;
        }
        rest
    }

    /// Renders the frame at the current phase into `frame` and advances the phase.
    fn next_frame(&mut self) {
        let (bytes, width) = self.compute_sample();
        write_sample(&mut self.frame, bytes, width, self.channels);
    }

    /// The sample at the current phase (little-endian, in the low `width` bytes) and its
    /// width; advances the phase.
    fn compute_sample(&mut self) -> ([u8; 4], usize) {
        let value = self.amplitude * sine(self.phase, self.rate);
        let mut bytes = [0u8; 4];
        let width = match self.sample {
            SampleFormat::Pcm16 => {
                let sample = i16::try_from(quantize(value, FULL_SCALE_16)).unwrap_or(0);
                if let Some(slot) = bytes.get_mut(..2) {
                    slot.copy_from_slice(&sample.to_le_bytes());
                }
                2
            }
            SampleFormat::Pcm24In32 => {
                // |quantized| <= 2^23 - 1, so shifting into the top 24 bits stays in range.
                bytes = (quantize(value, FULL_SCALE_24) << 8).to_le_bytes();
                4
            }
            SampleFormat::Float32 => {
                #[allow(clippy::cast_possible_truncation)] // f64 -> f32 rounds; |value| <= 1
                let sample = value as f32;
                bytes = sample.to_le_bytes();
                4
            }
        };
        // Both below `rate` (invariant): the sum fits in u32 (rate <= 48 000).
        let next = self.phase + self.increment;
        self.phase = if next >= self.rate {
            next - self.rate
        } else {
            next
        };
        (bytes, width)
    }
}

/// Puts one sample (the low `width` bytes of `bytes`) into each of the first `channels` slots
/// of `frame`.
fn write_sample(frame: &mut [u8], bytes: [u8; 4], width: usize, channels: usize) {
    let sample = bytes.get(..width).unwrap_or(&[]);
    for slot in frame.chunks_exact_mut(width.max(1)).take(channels) {
        for (to, from) in slot.iter_mut().zip(sample) {
            *to = *from;
        }
    }
}

/// The greatest common divisor (`gcd(a, 0) = a`).
const fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        let r = a % b;
        a = b;
        b = r;
    }
    a
}

/// `value x full_scale`, rounded to the nearest integer (halves away from zero).
fn quantize(value: f64, full_scale: f64) -> i32 {
    let scaled = value * full_scale;
    let rounded = if scaled >= 0.0 {
        scaled + 0.5
    } else {
        scaled - 0.5
    };
    // Truncation toward zero after the 0.5 offset is rounding; |rounded| <= 2^23, and `as`
    // saturates anyway.
    #[allow(clippy::cast_possible_truncation)]
    let quantized = rounded as i32;
    quantized
}

/// `sin(2 pi phase / rate)` for `phase < rate`.
fn sine(phase: u32, rate: u32) -> f64 {
    let rate = u64::from(rate.max(1));
    // Four quarters: quarter = floor(4 phase / rate), position within it = rem / rate.
    let four = u64::from(phase) * 4;
    let quarter = (four / rate) % 4;
    let rem = four % rate;
    // sin rises on quarters 0 and 2 and falls (mirrored) on 1 and 3.
    let numerator = if quarter % 2 == 0 { rem } else { rate - rem };
    // Both below 2^32 (rem < rate <= u32::MAX), so the conversions are exact.
    let t = f64::from(u32::try_from(numerator).unwrap_or(0))
        / f64::from(u32::try_from(rate).unwrap_or(1));
    let value = sin_quarter(t * core::f64::consts::FRAC_PI_2);
    if quarter < 2 { value } else { -value }
}

/// `sin(x)` for `x` in `[0, pi/2]`: the Taylor polynomial to `x^13`, in Horner form.
fn sin_quarter(x: f64) -> f64 {
    let x2 = x * x;
    let mut sum = 1.0;
    // 1 - x^2/(2*3) (1 - x^2/(4*5) (1 - ... (1 - x^2/(12*13))))
    for denominator in [156.0, 110.0, 72.0, 42.0, 20.0, 6.0] {
        sum = 1.0 - x2 / denominator * sum;
    }
    x * sum
}

/// `10^(millibels / 2000)`: the linear amplitude of a level in millibels (1/100 dB).
/// `10^(millibels / 2000)`: the linear amplitude of a level in hundredths of a decibel.
#[must_use]
pub fn millibels_to_amplitude(millibels: i32) -> f64 {
    // 10^(mB/2000) = exp(mB x ln(10) / 2000)
    exp(f64::from(millibels) * core::f64::consts::LN_10 / 2_000.0)
}

/// `e^x` for moderate `x` (here `[-23, 0]`): `(e^(x/256))^256`, the inner power by its Taylor
/// series to 12 terms.
fn exp(x: f64) -> f64 {
    let y = x / 256.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0] {
        term *= y / k;
        sum += term;
    }
    for _ in 0..8 {
        sum *= sum;
    }
    sum
}

#[cfg(test)]
mod skip_tests {
    use super::*;

    /// A tone without a table: every frame computed (what a cycle that does not fit does).
    fn computed(format: Format) -> Tone<DEFAULT_FREQUENCY_HZ, DEFAULT_LEVEL_MILLIBELS, [u8; 0]> {
        Tone::with_table(format, [])
    }

    #[test]
    #[cfg_attr(miri, ignore = "long arithmetic run: natively only")]
    fn the_table_replays_exactly_what_computing_writes() {
        for sample in SampleFormat::ALL {
            for rate in [44_100, 48_000] {
                let format = Format::new(sample, 2, rate).unwrap();
                let mut table: Tone = Tone::new(format);
                // A 1 kHz cycle is 48 frames at 48 kHz, 441 at 44.1 kHz: both tabled.
                assert!(table.cycle > 0, "{sample:?} {rate}");
                let mut computed: Tone = Tone::new(format);
                computed.cycle = 0;
                // Irregular chunk sizes, ending inside frames, over several cycles.
                for chunk in [1usize, 7, 1920, 3, 4096, 5, 8000] {
                    let mut a = vec![0u8; chunk];
                    let mut b = vec![0u8; chunk];
                    table.fill(&mut a);
                    computed.fill(&mut b);
                    assert_eq!(a, b, "{sample:?} {rate} chunk {chunk}");
                }
                table.skip_frames(12_345);
                computed.skip_frames(12_345);
                let mut a = [0u8; 64];
                let mut b = [0u8; 64];
                table.fill(&mut a);
                computed.fill(&mut b);
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "long arithmetic run: natively only")]
    fn skipping_frames_equals_filling_and_discarding_them() {
        for sample in SampleFormat::ALL {
            for rate in [44_100, 48_000] {
                let format = Format::new(sample, 2, rate).unwrap();
                let frame = usize::from(format.block_align());
                let mut filled: Tone = Tone::new(format);
                let mut skipped: Tone = Tone::new(format);
                for frames in [0u64, 1, 7, 441, 48_000, 100_003] {
                    let mut scratch = vec![0u8; usize::try_from(frames).unwrap() * frame];
                    filled.fill(&mut scratch);
                    skipped.skip_frames(frames);
                    let mut a = [0u8; 64];
                    let mut b = [0u8; 64];
                    filled.fill(&mut a);
                    skipped.fill(&mut b);
                    assert_eq!(a, b, "{sample:?} {rate} after {frames}");
                }
            }
        }
    }

    #[test]
    fn skipping_completes_a_frame_begun_before() {
        let format = Format::PREFERRED;
        let mut filled: Tone = Tone::new(format);
        let mut skipped: Tone = Tone::new(format);
        let mut head = [0u8; 3];
        filled.fill(&mut head);
        skipped.fill(&mut head);
        // Finish the frame (1 byte) plus 10 frames.
        let mut scratch = [0u8; 1 + 40];
        filled.fill(&mut scratch);
        skipped.skip_frames(10);
        let mut a = [0u8; 16];
        let mut b = [0u8; 16];
        filled.fill(&mut a);
        skipped.fill(&mut b);
        assert_eq!(a, b);
    }

    /// The state `fill` and `skip_frames` move on: two tones in the same state write the same
    /// bytes from here on.
    fn position<const F: u32, const L: i32, T>(tone: &Tone<F, L, T>) -> (u32, usize, usize) {
        (tone.phase, tone.pending, tone.index)
    }

    #[test]
    #[cfg_attr(miri, ignore = "long arithmetic run: natively only")]
    fn skipping_completes_a_computed_frame_begun_before() {
        // Without a table a frame begun by `fill` is held in `frame` / `pending`. Skipping after any partial frame, of any width,
        // writes the rest of it first: the tone ends where filling the rest and the skipped
        // frames would leave it, with no frame pending.
        for sample in SampleFormat::ALL {
            let format = Format::new(sample, 2, 44_100).unwrap();
            let frame = usize::from(format.block_align());
            for begun in 1..frame {
                let mut filled = computed(format);
                let mut skipped = computed(format);
                assert_eq!(filled.cycle, 0, "computed, not tabled");
                let mut head = vec![0u8; begun];
                filled.fill(&mut head);
                skipped.fill(&mut head);
                assert_eq!(skipped.pending, begun);
                let mut scratch = vec![0u8; frame - begun + 10 * frame];
                filled.fill(&mut scratch);
                skipped.skip_frames(10);
                assert_eq!(skipped.pending, 0, "{sample:?} after {begun} bytes");
                assert_eq!(position(&filled), position(&skipped));
                let mut a = [0u8; 64];
                let mut b = [0u8; 64];
                filled.fill(&mut a);
                skipped.fill(&mut b);
                assert_eq!(a, b, "{sample:?} after {begun} bytes");
            }
        }
    }

    #[test]
    fn runs_taken_from_the_table_are_the_bytes_fill_writes() {
        for sample in SampleFormat::ALL {
            for rate in [44_100, 48_000] {
                let format = Format::new(sample, 2, rate).unwrap();
                let mut runs: Tone = Tone::new(format);
                let mut filled: Tone = Tone::new(format);
                let mut got = Vec::new();
                // Under Miri a few takes of each size are enough.
                let takes = if cfg!(miri) { 6 } else { 30 };
                for max in [5usize, 1920, 3, 4096, 7, 8000].iter().cycle().take(takes) {
                    got.extend_from_slice(runs.take_run(*max).unwrap());
                }
                let mut want = vec![0u8; got.len()];
                filled.fill(&mut want);
                assert_eq!(got, want, "{sample:?} {rate}");
                assert!(computed(format).take_run(64).is_none());
            }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "long arithmetic run: natively only")]
    fn a_huge_skip_lands_where_the_period_says_without_overflow() {
        // A tone repeats after `rate` frames, so skipping u64::MAX frames (far more than any
        // starved engine loses) must equal filling u64::MAX mod rate frames, without an
        // arithmetic overflow, and keep the phase reduced below the rate (the invariant).
        for rate in [44_100u32, 48_000] {
            let format = Format::new(SampleFormat::Pcm16, 2, rate).unwrap();
            let frame = usize::from(format.block_align());
            let mut filled: Tone = Tone::new(format);
            let mut skipped: Tone = Tone::new(format);
            let rest = usize::try_from(u64::MAX % u64::from(rate)).unwrap();
            let mut scratch = vec![0u8; rest * frame];
            filled.fill(&mut scratch);
            skipped.skip_frames(u64::MAX);
            assert!(skipped.phase < rate, "{rate}: phase {}", skipped.phase);
            assert_eq!(position(&filled), position(&skipped), "{rate}");
            let mut a = [0u8; 64];
            let mut b = [0u8; 64];
            filled.fill(&mut a);
            skipped.fill(&mut b);
            assert_eq!(a, b, "{rate}");
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "long arithmetic run: natively only")]
    fn skipping_keeps_the_computed_phase_below_the_rate() {
        // However many frames are skipped, the phase lands on the one filling reaches, which is
        // always below the rate: after 1 000 frames of 1 kHz at 44.1 kHz it is
        // 1 000 x 1 000 mod 44 100 = 29 800, and 44 099 more frames are one frame short of a
        // whole second: 1 000 less.
        let format = Format::new(SampleFormat::Pcm16, 2, 44_100).unwrap();
        let mut tone = computed(format);
        tone.skip_frames(1_000);
        assert_eq!(tone.phase, 29_800);
        tone.skip_frames(44_100 - 1);
        assert_eq!(tone.phase, 28_800);
    }

    #[test]
    fn a_frame_split_over_three_calls_is_written_whole() {
        // One frame written in three pieces (3 bytes, 2, then the rest and more) gives the
        // same bytes as one call: the part of the frame a short call leaves stays pending
        // until it is written.
        for sample in SampleFormat::ALL {
            let format = Format::new(sample, 2, 44_100).unwrap();
            let frame = usize::from(format.block_align());
            if frame < 6 {
                continue; // 16-bit frames are 4 bytes: no room for three pieces of 3 + 2 + 1.
            }
            let mut whole = computed(format);
            let mut pieces = computed(format);
            let mut expected = vec![0u8; 4 * frame];
            whole.fill(&mut expected);
            let mut got = vec![0u8; 4 * frame];
            let (first, rest) = got.split_at_mut(3);
            let (second, third) = rest.split_at_mut(2);
            pieces.fill(first);
            pieces.fill(second);
            assert_eq!(
                pieces.pending, 5,
                "{sample:?}: the frame is still being written"
            );
            pieces.fill(third);
            assert_eq!(got, expected, "{sample:?}");
        }
        // 16-bit frames: 1 byte, 2 bytes, then the last byte and more.
        let format = Format::new(SampleFormat::Pcm16, 2, 44_100).unwrap();
        let mut whole = computed(format);
        let mut pieces = computed(format);
        let mut expected = [0u8; 16];
        whole.fill(&mut expected);
        let mut got = [0u8; 16];
        let (first, rest) = got.split_at_mut(1);
        let (second, third) = rest.split_at_mut(2);
        pieces.fill(first);
        pieces.fill(second);
        assert_eq!(pieces.pending, 3);
        pieces.fill(third);
        assert_eq!(got, expected);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn format(sample: SampleFormat, rate: u32) -> Format {
        Format::new(sample, 2, rate).unwrap()
    }

    /// The left and right channels' values, scaled to +-1 full scale.
    fn decode(sample: SampleFormat, bytes: &[u8]) -> Vec<(f64, f64)> {
        let width = usize::from(sample.container_bytes());
        bytes
            .chunks_exact(2 * width)
            .map(|frame| {
                let one = |b: &[u8]| match sample {
                    SampleFormat::Pcm16 => {
                        f64::from(i16::from_le_bytes(b.try_into().unwrap())) / FULL_SCALE_16
                    }
                    SampleFormat::Pcm24In32 => {
                        let v = i32::from_le_bytes(b.try_into().unwrap());
                        assert_eq!(v & 0xFF, 0, "24 valid bits in the top of the container");
                        f64::from(v >> 8) / FULL_SCALE_24
                    }
                    SampleFormat::Float32 => f64::from(f32::from_le_bytes(b.try_into().unwrap())),
                };
                (one(&frame[..width]), one(&frame[width..]))
            })
            .collect()
    }

    fn one_second<const F: u32, const L: i32>(sample: SampleFormat, rate: u32) -> Vec<(f64, f64)> {
        let f = format(sample, rate);
        let mut tone = Tone::<F, L>::new(f);
        let mut bytes = vec![0u8; usize::try_from(f.avg_bytes_per_sec()).unwrap()];
        assert_eq!(tone.fill(&mut bytes), bytes.len());
        decode(sample, &bytes)
    }

    fn rising_zero_crossings(values: &[(f64, f64)]) -> usize {
        values
            .windows(2)
            .filter(|pair| pair[0].0 < 0.0 && pair[1].0 >= 0.0)
            .count()
    }

    fn peak_dbfs(values: &[(f64, f64)]) -> f64 {
        let peak = values.iter().map(|&(l, _)| l.abs()).fold(0.0, f64::max);
        20.0 * peak.log10()
    }

    fn check<const F: u32, const L: i32>() {
        for sample in SampleFormat::ALL {
            for rate in [44_100, 48_000] {
                let values = one_second::<F, L>(sample, rate);
                let crossings = rising_zero_crossings(&values);
                let expected = usize::try_from(F).unwrap();
                assert!(
                    crossings.abs_diff(expected) <= 1,
                    "{F} Hz {sample:?} {rate}: {crossings} crossings"
                );
                let level = peak_dbfs(&values);
                let wanted = f64::from(L) / 100.0;
                assert!(
                    (level - wanted).abs() < 0.1,
                    "{sample:?} {rate}: peak {level} dBFS, wanted {wanted}"
                );
                assert!(
                    values.iter().all(|&(l, r)| l.to_bits() == r.to_bits()),
                    "both channels equal"
                );
            }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "long arithmetic run: natively only")]
    fn default_tone_is_one_kilohertz_at_minus_six_dbfs_in_every_format() {
        check::<DEFAULT_FREQUENCY_HZ, DEFAULT_LEVEL_MILLIBELS>();
        let tone: Tone = Tone::new(Format::PREFERRED);
        assert!((tone.amplitude() - 0.501_187_233_627_272_3).abs() < 1e-12);
    }

    #[test]
    #[cfg_attr(miri, ignore = "long arithmetic run: natively only")]
    fn other_frequencies_and_levels_have_the_configured_crossings_and_peak() {
        check::<997, -600>();
        check::<440, -1_200>();
        check::<20_000, -100>();
        check::<1, -2_000>();
        check::<1_000, 0>();
    }

    #[test]
    fn amplitude_conversion_matches_the_decibel_definition() {
        for millibels in [0, -1, -600, -2_000, -6_021, -12_000, -20_000] {
            let expected = 10f64.powf(f64::from(millibels) / 2_000.0);
            let got = millibels_to_amplitude(millibels);
            assert!(
                ((got - expected) / expected).abs() < 1e-12,
                "{millibels}: {got}"
            );
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "long arithmetic run: natively only")]
    fn sine_polynomial_matches_the_library_sine_at_every_phase() {
        for rate in [44_100, 48_000] {
            let mut worst = 0.0f64;
            for phase in 0..rate {
                let exact =
                    (2.0 * core::f64::consts::PI * f64::from(phase) / f64::from(rate)).sin();
                worst = worst.max((sine(phase, rate) - exact).abs());
            }
            assert!(worst < 1e-9, "{rate}: worst error {worst}");
        }
        assert!(sine(0, 48_000).abs() < 1e-15);
        assert!((sine(12_000, 48_000) - 1.0).abs() < 1e-9);
        assert!((sine(36_000, 48_000) + 1.0).abs() < 1e-9);
    }

    #[test]
    #[cfg_attr(miri, ignore = "long arithmetic run: natively only")]
    fn one_big_call_equals_many_small_calls_byte_for_byte() {
        for sample in SampleFormat::ALL {
            for rate in [44_100, 48_000] {
                let f = format(sample, rate);
                let mut whole = vec![0u8; 200_003];
                let mut reference = Tone::<997, -600>::new(f);
                reference.fill(&mut whole);

                let mut pieces = vec![0u8; whole.len()];
                let mut tone = Tone::<997, -600>::new(f);
                let mut at = 0;
                let mut step = 0usize;
                while at < pieces.len() {
                    // 0, 1, 2 ... 12 bytes, then larger odd sizes: every alignment occurs.
                    step = (step * 5 + 3) % 1_031;
                    let size = if step < 13 { step } else { step * 3 };
                    let end = (at + size).min(pieces.len());
                    assert_eq!(tone.fill(&mut pieces[at..end]), end - at);
                    at = end;
                }
                assert!(whole == pieces, "{sample:?} {rate}");
            }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "long arithmetic run: natively only")]
    fn the_phase_returns_exactly_after_one_second_so_nothing_drifts() {
        for sample in SampleFormat::ALL {
            for rate in [44_100, 48_000] {
                let f = format(sample, rate);
                let second = usize::try_from(f.avg_bytes_per_sec()).unwrap();
                let mut tone = Tone::<997, -600>::new(f);
                let mut first = vec![0u8; second];
                tone.fill(&mut first);
                let mut later = vec![0u8; second];
                for _ in 0..30 {
                    tone.fill(&mut later);
                    assert!(first == later, "{sample:?} {rate}");
                }
                assert_eq!(tone.phase, 0);
            }
        }
    }

    #[test]
    fn sixteen_bit_samples_have_the_exact_expected_values() {
        // 1 kHz at 48 kHz: 48 frames a cycle, the peak at frame 12.
        let mut tone: Tone = Tone::new(Format::PREFERRED);
        let mut bytes = [0u8; 48 * 4];
        tone.fill(&mut bytes);
        let left = |frame: usize| i16::from_le_bytes([bytes[4 * frame], bytes[4 * frame + 1]]);
        // 10^(-6/20) x 32 767 = 16 422.36 and half of it (sin 30 degrees) 8 211.18.
        assert_eq!(left(0), 0);
        assert_eq!(left(4), 8_211);
        assert_eq!(left(12), 16_422);
        assert_eq!(left(24), 0);
        assert_eq!(left(28), -8_211);
        assert_eq!(left(36), -16_422);
    }

    #[test]
    fn an_empty_fill_writes_nothing_and_keeps_the_phase() {
        let mut a: Tone = Tone::new(Format::PREFERRED);
        let mut b: Tone = Tone::new(Format::PREFERRED);
        assert_eq!(a.fill(&mut []), 0);
        let (mut x, mut y) = ([0u8; 64], [0u8; 64]);
        a.fill(&mut x);
        b.fill(&mut y);
        assert_eq!(x, y);
    }
}
