//! The virtual device's loopback cable: what the render stream plays is what the capture
//! stream records, a constant [`LATENCY_MS`] later.
//!
//! # Time
//! Both streams are timed by the same performance counter, so the device has one timeline: the
//! *device frame* `floor(counter x rate / frequency)`. A stream's linear position (frames since
//! STOP, see [`Clock`](crate::backend::virtual_device::position::Clock)) maps to device frames by a constant offset
//! for as long as its clock runs (`Clock::origin`): linear frame `k` is device frame
//! `k + origin`. The render engine writes the frames it consumed into the cable's ring at their
//! device frames; the capture engine reads, for the frames it records at device frames
//! `n..m`, the ring's frames `n - L..m - L`, where `L` is [`latency_frames`] (20 ms). So a
//! render frame played at device frame `d` is recorded at device frame `d + L` exactly,
//! whatever the two streams' start times, pauses or engine periods, and however their periods
//! interleave: the render engine runs at least every 10 ms ([`MAX_PERIOD_100NS`]), so the
//! frames the capture asks for, 20 ms in the past, are written by then.
//!
//! # What the microphone hears
//! | render | capture records |
//! | --- | --- |
//! | in RUN, same rate, same sample format | the rendered bytes, copied unchanged (sample-exact) |
//! | in RUN, same rate, other sample format | the rendered samples converted ([`convert`]) |
//! | in RUN, other rate | silence: the cable does not resample (see below) |
//! | frames missing (render starved, paused, just started) | silence for those frames |
//! | not in RUN, and nothing left in the cable for the period | the tone ([`Tone`]) |
//!
//! Rates that differ are not converted: a virtual cable that resamples either interpolates
//! (not exact) or needs a filter whose cost is far above a copy, and the audio engine already
//! resamples to the device format it chooses for each endpoint. Give both endpoints the same
//! rate (the default format, 48 kHz, does) and the cable is exact. A capture stream at another
//! rate than the playing render stream records silence, so a wrong setup is heard as such and
//! is not mistaken for a working one.
//!
//! The ring holds [`RING_FRAMES`] frames (85 ms at 48 kHz) of the render stream's format:
//! enough for the latency plus the longest engine period, in 32 KiB of pool the adapter
//! allocates once.
//!
//! [`MAX_PERIOD_100NS`]: crate::backend::virtual_device::dma::MAX_PERIOD_100NS

use crate::backend::virtual_device::dma::Work;
use crate::backend::virtual_device::tone::Tone;
use crate::buffer::{PeriodCopy, Span};
use crate::format::{Format, SampleFormat};
use crate::levels::{CHANNELS, Gain, peaks};

/// The loopback latency: a frame rendered at device time `t` is recorded at `t` + 20 ms.
pub const LATENCY_MS: u32 = 20;
/// Frames the ring holds.
pub const RING_FRAMES: u32 = 4096;
/// The largest frame the device streams (stereo, 4-byte samples).
pub const MAX_FRAME_BYTES: u32 = 8;
/// Bytes of the ring.
pub const RING_BYTES: usize = (RING_FRAMES * MAX_FRAME_BYTES) as usize;

/// The ring's storage.
pub type Ring = [u8; RING_BYTES];

/// The latency in frames at `rate` (882 at 44.1 kHz, 960 at 48 kHz: exact for both).
#[must_use]
pub const fn latency_frames(rate: u32) -> u32 {
    rate / (1000 / LATENCY_MS)
}

/// A stream's mapped cyclic buffer, shared with the client: only reached through raw pointers,
/// never as a slice (the client may touch it at any time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedBuffer {
    /// The first byte.
    pub address: *mut u8,
    /// Its size in bytes.
    pub bytes: u32,
}

/// What [`Cable::record`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// The period came from the cable (rendered audio, or silence where none was).
    Cable,
    /// Nothing plays: the caller records the tone instead (nothing was written).
    NothingPlays,
}

/// The cable's state and ring.
///
/// # Invariants
/// `valid_from <= written_to`, `written_to - valid_from <= RING_FRAMES`, and the ring holds, for
/// every device frame `d` in `valid_from..written_to`, the frame the render stream played at
/// `d`, in `source`'s format, at byte `(d mod RING_FRAMES) x frame size`.
#[derive(Debug)]
pub struct Cable<R = Ring> {
    ring: R,
    source: Option<Format>,
    valid_from: i64,
    written_to: i64,
    playing: bool,
    /// The device frame up to which the speakers' peak meter has scanned the ring.
    metered_to: i64,
}

impl<R: AsRef<[u8]> + AsMut<[u8]>> Cable<R> {
    /// An empty cable over `ring` (at least [`RING_BYTES`] long; a shorter ring carries
    /// nothing).
    pub const fn new(ring: R) -> Self {
        Self {
            ring,
            source: None,
            valid_from: 0,
            written_to: 0,
            playing: false,
            metered_to: 0,
        }
    }

    /// The per-channel peaks (on the `KSPROPERTY_AUDIO_PEAKMETER2` scale) of the frames the
    /// render stream played since the last scan that the ring still holds; zero when none.
    pub fn scan_peaks(&mut self) -> [i32; CHANNELS] {
        let mut out = [0; CHANNELS];
        let Some(source) = self.source else {
            return out;
        };
        let frame = i64::from(source.bytes_per_frame().clamp(1, MAX_FRAME_BYTES));
        let mut from = self.metered_to.max(self.valid_from);
        self.metered_to = self.written_to;
        while from < self.written_to {
            let (offset, room) = ring_place(from, frame);
            let n = (self.written_to - from).min(room);
            let bytes = usize::try_from(n * frame).unwrap_or(0);
            if let Some(run) = self.ring.as_ref().get(offset..offset.saturating_add(bytes)) {
                for (peak, found) in out.iter_mut().zip(peaks(source.sample(), run, 0)) {
                    *peak = (*peak).max(found);
                }
            }
            from += n;
        }
        out
    }

    /// Whether a render stream is in RUN.
    #[must_use]
    pub const fn is_playing(&self) -> bool {
        self.playing
    }

    /// Notes that a render stream entered (`true`) or left (`false`) RUN.
    pub const fn set_playing(&mut self, playing: bool) {
        self.playing = playing;
    }

    /// Device frames `valid_from..written_to` that hold rendered audio.
    #[must_use]
    pub const fn valid(&self) -> (i64, i64) {
        (self.valid_from, self.written_to)
    }

    /// Takes the render frames of one period: `copy` (the period's spans of `buffer`, whole
    /// frames of `format`) ends at device frame `end`; `gain` (the speakers' volume and mute)
    /// is applied to them in the ring.
    ///
    /// # Safety
    /// `buffer.address` is readable for `buffer.bytes` bytes for the call (the stream's mapped
    /// buffer, attached while its lock is held).
    pub unsafe fn play(
        &mut self,
        format: Format,
        end: i64,
        buffer: SharedBuffer,
        copy: &PeriodCopy,
        gain: Gain,
    ) {
        let frame = i64::from(format.bytes_per_frame().clamp(1, MAX_FRAME_BYTES));
        let frames = i64::try_from(copy.len()).unwrap_or(0) / frame;
        let start = end - frames;
        if self.source != Some(format) || start < self.written_to {
            // A new format (or frames from before the last ones, which a running clock never
            // gives): what the ring held is not continuous with what comes.
            self.source = Some(format);
            self.valid_from = start;
            self.written_to = start;
        } else if start > self.written_to {
            // A gap (a pause, a new RUN, a starved engine): nothing played there, which is
            // silence; what was played before it is still recorded.
            self.silence_ring(
                self.written_to.max(start - i64::from(RING_FRAMES)),
                start,
                frame,
            );
            self.written_to = start;
            self.valid_from = self.valid_from.max(start - i64::from(RING_FRAMES));
        }
        let keep = frames.min(i64::from(RING_FRAMES));
        let mut skip = u64::try_from((frames - keep) * frame).unwrap_or(0);
        let mut slot = end - keep;
        for span in [copy.first, copy.second] {
            let span = clamp(span, buffer.bytes);
            let head = u32::try_from(skip.min(u64::from(span.len))).unwrap_or(span.len);
            skip -= u64::from(head);
            let mut at = span.offset + head;
            let mut left = i64::from(span.len - head) / frame;
            while left > 0 {
                let (offset, room) = ring_place(slot, frame);
                let n = left.min(room);
                let bytes = usize::try_from(n * frame).unwrap_or(0);
                if let Some(to) = self
                    .ring
                    .as_mut()
                    .get_mut(offset..offset.saturating_add(bytes))
                {
                    // SAFETY: `at + bytes <= buffer.bytes` (the span is clamped to the buffer and
                    // `bytes` is within it); readable per the caller's contract; the ring is ours.
                    let from = unsafe { buffer.address.add(at as usize) };
                    // SAFETY: as above; the client's buffer and the ring do not overlap.
                    unsafe { core::ptr::copy_nonoverlapping(from, to.as_mut_ptr(), bytes) };
                    // The speakers' volume and mute act on what they play (runs start on frames).
                    gain.apply(format.sample(), to, 0);
                }
                at += u32::try_from(bytes).unwrap_or(0);
                slot += n;
                left -= n;
            }
        }
        self.written_to = end;
        self.valid_from = self.valid_from.max(end - i64::from(RING_FRAMES));
    }

    /// Zeroes the ring's frames for device frames `from..to` (at most a ring's worth).
    fn silence_ring(&mut self, mut from: i64, to: i64, frame: i64) {
        while from < to {
            let (offset, room) = ring_place(from, frame);
            let n = (to - from).min(room);
            let bytes = usize::try_from(n * frame).unwrap_or(0);
            if let Some(run) = self
                .ring
                .as_mut()
                .get_mut(offset..offset.saturating_add(bytes))
            {
                run.fill(0);
            }
            from += n;
        }
    }

    /// Records one capture period: `copy` (spans of `buffer`, whole frames of `format`) ends at
    /// device frame `end` of the capture stream; it receives the render frames of device
    /// frames `end - latency - n..end - latency`.
    ///
    /// # Safety
    /// `buffer.address` is writable for `buffer.bytes` bytes for the call.
    pub unsafe fn record(
        &mut self,
        format: Format,
        end: i64,
        buffer: SharedBuffer,
        copy: &PeriodCopy,
    ) -> Recorded {
        let frame = i64::from(format.bytes_per_frame().clamp(1, MAX_FRAME_BYTES));
        let frames = i64::try_from(copy.len()).unwrap_or(0) / frame;
        let end = end - i64::from(latency_frames(format.rate()));
        let start = end - frames;
        let source = self.source.filter(|s| s.rate() == format.rate());
        if !self.playing && (source.is_none() || self.written_to <= start) {
            return Recorded::NothingPlays;
        }
        let mut slot = start;
        for span in [copy.first, copy.second] {
            let span = clamp(span, buffer.bytes);
            let mut at = span.offset;
            let mut left = i64::from(span.len) / frame;
            while left > 0 {
                let n = if let Some(source) = source {
                    // SAFETY: `at` and the frames after it lie in the clamped span, writable per
                    // the caller's contract.
                    unsafe { self.deliver(source, format, slot, left, buffer.address, at) }
                } else {
                    // SAFETY: as above.
                    unsafe { silence(buffer.address, at, left * frame) };
                    left
                };
                at += u32::try_from(n * frame).unwrap_or(0);
                slot += n;
                left -= n;
            }
        }
        Recorded::Cable
    }

    /// Writes up to `left` frames for device frames from `slot` at byte `at` of the buffer: one
    /// run of the same kind (all rendered, or all silence) that does not wrap the ring. Returns
    /// the frames written (at least 1).
    ///
    /// # Safety
    /// `address + at` is writable for `left` frames of `format`.
    unsafe fn deliver(
        &self,
        source: Format,
        format: Format,
        slot: i64,
        left: i64,
        address: *mut u8,
        at: u32,
    ) -> i64 {
        let frame = i64::from(format.bytes_per_frame().clamp(1, MAX_FRAME_BYTES));
        let source_frame = i64::from(source.bytes_per_frame().clamp(1, MAX_FRAME_BYTES));
        let (from, to) = (self.valid_from, self.written_to);
        if slot < from || slot >= to {
            // Silence up to where the rendered frames begin (or for the rest).
            let n = if slot < from {
                left.min(from - slot)
            } else {
                left
            };
            // SAFETY: caller's contract.
            unsafe { silence(address, at, n * frame) };
            return n;
        }
        let (offset, room) = ring_place(slot, source_frame);
        let n = left.min(room).min(to - slot);
        let bytes = usize::try_from(n * source_frame).unwrap_or(0);
        let Some(rendered) = self.ring.as_ref().get(offset..offset.saturating_add(bytes)) else {
            // SAFETY: caller's contract.
            unsafe { silence(address, at, n * frame) };
            return n;
        };
        if source == format {
            // SAFETY: `n <= left` frames of `format` at `address + at`, writable per the
            // caller's contract; the ring is ours and does not overlap the client's buffer.
            let target = unsafe { address.add(at as usize) };
            // SAFETY: as above.
            unsafe { core::ptr::copy_nonoverlapping(rendered.as_ptr(), target, bytes) };
        } else {
            // SAFETY: as above.
            unsafe { write_converted(source.sample(), format.sample(), rendered, address, at) };
        }
        n
    }
}

/// Moves one period's audio of a stream (what the engine does after each [`Dma::advance`]):
/// a render stream's period goes into the cable; a capture stream's comes from the cable, or
/// is the next stretch of `tone` when nothing plays ([`Recorded::NothingPlays`]). Frames the
/// capture engine lost (more than a buffer behind) move the tone on as if written.
///
/// # Safety
/// `buffer.address` is readable and writable for `buffer.bytes` bytes for the call (the
/// stream's mapped buffer, attached while its lock is held).
///
/// [`Dma::advance`]: crate::backend::virtual_device::dma::Dma::advance
pub unsafe fn carry<R, const F: u32, const L: i32, T>(
    cable: &mut Cable<R>,
    tone: &mut Tone<F, L, T>,
    capture: bool,
    format: Format,
    work: &Work,
    buffer: SharedBuffer,
    gain: Gain,
) where
    R: AsRef<[u8]> + AsMut<[u8]>,
    T: AsRef<[u8]> + AsMut<[u8]>,
{
    if work.copy.is_empty() {
        return;
    }
    if !capture {
        // SAFETY: caller's contract (readable).
        unsafe { cable.play(format, work.end, buffer, &work.copy, gain) };
        return;
    }
    // SAFETY: caller's contract (writable).
    if unsafe { cable.record(format, work.end, buffer, &work.copy) } == Recorded::NothingPlays {
        if work.copy.skipped != 0 {
            tone.skip_frames(work.copy.skipped / u64::from(format.bytes_per_frame()).max(1));
        }
        for span in [work.copy.first, work.copy.second] {
            // SAFETY: caller's contract (writable).
            unsafe { write_tone(tone, buffer, clamp(span, buffer.bytes)) };
        }
    }
    if !gain.is_unity() {
        // The microphone's volume and mute act on what it records.
        for span in [work.copy.first, work.copy.second] {
            // SAFETY: caller's contract (readable and writable).
            unsafe { apply_gain(gain, format.sample(), buffer, clamp(span, buffer.bytes)) };
        }
    }
}

/// Applies `gain` in place to `span` of the buffer (whole frames), through a small scratch
/// copy.
///
/// # Safety
/// `span` lies within the buffer, readable and writable for the call.
unsafe fn apply_gain(gain: Gain, sample: SampleFormat, buffer: SharedBuffer, span: Span) {
    let mut scratch = [0u8; 256];
    let mut done = 0u32;
    while done < span.len {
        // 256 is a whole number of frames of every format, so chunks start on channel 0.
        let n = (span.len - done).min(256);
        let Some(chunk) = scratch.get_mut(..n as usize) else {
            return;
        };
        // SAFETY: `span.offset + done + n <= span.offset + span.len`, inside the buffer
        // (caller's contract).
        let at = unsafe { buffer.address.add((span.offset + done) as usize) };
        // SAFETY: as above; the scratch is ours.
        unsafe { core::ptr::copy_nonoverlapping(at, chunk.as_mut_ptr(), chunk.len()) };
        gain.apply(sample, chunk, 0);
        // SAFETY: as above.
        unsafe { core::ptr::copy_nonoverlapping(chunk.as_ptr(), at, chunk.len()) };
        done += n;
    }
}

/// Writes the next bytes of the tone into `span` of the buffer: straight from the tone's table,
/// or for a computed tone through a small scratch copy (the buffer is shared with the client,
/// so it is never borrowed as a slice).
///
/// # Safety
/// `span` lies within the buffer, writable for the call.
unsafe fn write_tone<const F: u32, const L: i32, T>(
    tone: &mut Tone<F, L, T>,
    buffer: SharedBuffer,
    span: Span,
) where
    T: AsRef<[u8]> + AsMut<[u8]>,
{
    let mut scratch = [0u8; 256];
    let mut done = 0u32;
    while done < span.len {
        let left = span.len - done;
        if let Some(run) = tone.take_run(left as usize) {
            // A tabled tone: straight from its table (at most `left` bytes, and at least one).
            let n = u32::try_from(run.len()).unwrap_or(0).min(left);
            if n == 0 {
                return;
            }
            // SAFETY: `span.offset + done + n <= span.offset + span.len`, inside the buffer
            // (caller's contract).
            let target = unsafe { buffer.address.add((span.offset + done) as usize) };
            // SAFETY: as above; the table is ours and does not overlap the buffer.
            unsafe { core::ptr::copy_nonoverlapping(run.as_ptr(), target, n as usize) };
            done += n;
            continue;
        }
        let n = left.min(256);
        let Some(chunk) = scratch.get_mut(..n as usize) else {
            return;
        };
        tone.fill(chunk);
        // SAFETY: `span.offset + done + n <= span.offset + span.len`, inside the buffer
        // (caller's contract).
        let target = unsafe { buffer.address.add((span.offset + done) as usize) };
        // SAFETY: as above; the scratch is ours and does not overlap the buffer.
        unsafe { core::ptr::copy_nonoverlapping(chunk.as_ptr(), target, chunk.len()) };
        done += n;
    }
}

/// Where device frame `slot` lives in the ring (byte offset) and how many frames fit before
/// the ring wraps.
fn ring_place(slot: i64, frame: i64) -> (usize, i64) {
    let index = slot.rem_euclid(i64::from(RING_FRAMES));
    let offset = usize::try_from(index * frame).unwrap_or(0);
    (offset, i64::from(RING_FRAMES) - index)
}

/// `span` cut to a buffer of `bytes`.
fn clamp(span: Span, bytes: u32) -> Span {
    let offset = span.offset.min(bytes);
    Span {
        offset,
        len: span.len.min(bytes - offset),
    }
}

/// Writes `len` zero bytes (silence in every supported format) at byte `at` of `address`.
///
/// # Safety
/// `address + at` is writable for `len` bytes.
unsafe fn silence(address: *mut u8, at: u32, len: i64) {
    let len = usize::try_from(len).unwrap_or(0);
    // SAFETY: caller's contract.
    let target = unsafe { address.add(at as usize) };
    // SAFETY: as above.
    unsafe { core::ptr::write_bytes(target, 0, len) };
}

/// Converts the samples of `rendered` (format `from`) and writes them at byte `at` of
/// `address` (format `to`), through a small scratch buffer.
///
/// # Safety
/// `address + at` is writable for as many samples of `to` as `rendered` holds of `from`.
unsafe fn write_converted(
    from: SampleFormat,
    to: SampleFormat,
    rendered: &[u8],
    address: *mut u8,
    at: u32,
) {
    let (in_width, out_width) = (
        usize::from(from.container_bytes()).max(1),
        usize::from(to.container_bytes()).max(1),
    );
    let mut scratch = [0u8; 256];
    let mut written = at as usize;
    // 64 samples at a time: at most 256 bytes out.
    for chunk in rendered.chunks(in_width * 64) {
        let out_len = chunk.len() / in_width * out_width;
        let Some(out) = scratch.get_mut(..out_len) else {
            return;
        };
        convert(from, to, chunk, out);
        // SAFETY: within the caller's writable range (samples for samples, in order).
        let target = unsafe { address.add(written) };
        // SAFETY: as above; the scratch is on our stack.
        unsafe { core::ptr::copy_nonoverlapping(out.as_ptr(), target, out_len) };
        written += out_len;
    }
}

/// Converts little-endian samples of `from` in `input` into samples of `to` in `output`
/// (as many as both hold).
///
/// Integer samples map to float by the power-of-two full scale (16-bit `s / 32768`, 24-bit
/// `s / 8388608`), which is exact, and back by the same scale, rounded to the nearest integer
/// and clamped (NaN is silence), so integer -> float -> integer gives back every sample. 16-bit
/// widens to 24-bit exactly (`s << 8`); 24-bit narrows to 16-bit rounded to the nearest
/// (halves up) and clamped.
pub fn convert(from: SampleFormat, to: SampleFormat, input: &[u8], output: &mut [u8]) {
    let in_width = usize::from(from.container_bytes()).max(1);
    let out_width = usize::from(to.container_bytes()).max(1);
    for (sample, out) in input
        .chunks_exact(in_width)
        .zip(output.chunks_exact_mut(out_width))
    {
        let value = Sample::read(from, sample);
        value.write(to, out);
    }
}

/// One decoded sample.
#[derive(Clone, Copy, Debug)]
enum Sample {
    /// A 24-bit integer (16-bit samples widened by 8 bits).
    Int24(i32),
    /// A float, full scale +-1.0.
    Float(f32),
}

impl Sample {
    fn read(format: SampleFormat, bytes: &[u8]) -> Self {
        let mut word = [0u8; 4];
        for (to, from) in word.iter_mut().zip(bytes) {
            *to = *from;
        }
        match format {
            SampleFormat::Pcm16 => {
                let value = i16::from_le_bytes([word[0], word[1]]);
                Self::Int24(i32::from(value) << 8)
            }
            SampleFormat::Pcm24In32 => Self::Int24(i32::from_le_bytes(word) >> 8),
            SampleFormat::Float32 => Self::Float(f32::from_le_bytes(word)),
        }
    }

    fn write(self, format: SampleFormat, out: &mut [u8]) {
        let bytes = match (self, format) {
            (Self::Int24(value), SampleFormat::Pcm16) => {
                let narrowed = ((value + 0x80) >> 8).clamp(-32_768, 32_767);
                let narrowed = i16::try_from(narrowed).unwrap_or(0);
                let [a, b] = narrowed.to_le_bytes();
                [a, b, 0, 0]
            }
            (Self::Int24(value), SampleFormat::Pcm24In32) => (value << 8).to_le_bytes(),
            (Self::Int24(value), SampleFormat::Float32) => {
                // |value| < 2^23: exact in f32, and so is the power-of-two division.
                #[allow(clippy::cast_precision_loss)]
                let float = value as f32 / 8_388_608.0;
                float.to_le_bytes()
            }
            (Self::Float(value), SampleFormat::Pcm16) => {
                let narrowed = i16::try_from(quantize(value, 32_768.0, 32_767)).unwrap_or(0);
                let [a, b] = narrowed.to_le_bytes();
                [a, b, 0, 0]
            }
            (Self::Float(value), SampleFormat::Pcm24In32) => {
                (quantize(value, 8_388_608.0, 8_388_607) << 8).to_le_bytes()
            }
            (Self::Float(value), SampleFormat::Float32) => value.to_le_bytes(),
        };
        for (to, from) in out.iter_mut().zip(bytes) {
            *to = from;
        }
    }
}

/// `value x scale` rounded to the nearest integer (halves away from zero), clamped to
/// `-scale..=max`; NaN gives 0.
fn quantize(value: f32, scale: f32, max: i32) -> i32 {
    let scaled = value * scale;
    // `as` saturates and maps NaN to 0.
    #[allow(clippy::cast_possible_truncation)]
    let rounded = if scaled >= 0.0 {
        (scaled + 0.5) as i32
    } else {
        (scaled - 0.5) as i32
    };
    rounded.clamp(-max - 1, max)
}

#[cfg(test)]
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)] // the tests' frame counts and offsets are small
mod tests {
    use super::*;
    use crate::buffer::period_copy;

    const ALL: [SampleFormat; 3] = SampleFormat::ALL;

    fn format(sample: SampleFormat, rate: u32) -> Format {
        Format::new(sample, 2, rate).unwrap()
    }

    fn cable() -> Cable<Vec<u8>> {
        Cable::new(vec![0u8; RING_BYTES])
    }

    /// A render buffer whose frame `k` carries `k` in every byte pair (distinct frames).
    fn pattern(format: Format, frames: u32) -> Vec<u8> {
        let frame = format.bytes_per_frame() as usize;
        let mut out = vec![0u8; frames as usize * frame];
        for (k, bytes) in out.chunks_exact_mut(frame).enumerate() {
            for (i, b) in bytes.iter_mut().enumerate() {
                *b = (k as u8).wrapping_mul(7).wrapping_add(i as u8);
            }
        }
        out
    }

    fn shared(buffer: &mut [u8]) -> SharedBuffer {
        SharedBuffer {
            address: buffer.as_mut_ptr(),
            bytes: buffer.len() as u32,
        }
    }

    /// Plays linear frames `from..to` of `render` (cyclic) at device offset `origin`.
    fn play(
        cable: &mut Cable<Vec<u8>>,
        f: Format,
        render: &mut [u8],
        origin: i64,
        from: u64,
        to: u64,
    ) {
        let frame = u64::from(f.bytes_per_frame());
        let copy = period_copy(render.len() as u32, from * frame, to * frame);
        // SAFETY: a live buffer.
        unsafe { cable.play(f, to as i64 + origin, shared(render), &copy, Gain::UNITY) };
    }

    fn record(
        cable: &mut Cable<Vec<u8>>,
        f: Format,
        capture: &mut [u8],
        origin: i64,
        from: u64,
        to: u64,
    ) -> Recorded {
        let frame = u64::from(f.bytes_per_frame());
        let copy = period_copy(capture.len() as u32, from * frame, to * frame);
        // SAFETY: a live buffer.
        unsafe { cable.record(f, to as i64 + origin, shared(capture), &copy) }
    }

    #[test]
    fn latency_is_twenty_milliseconds_in_whole_frames_at_both_rates() {
        assert_eq!(latency_frames(48_000), 960);
        assert_eq!(latency_frames(44_100), 882);
    }

    #[test]
    fn what_is_played_is_recorded_exactly_one_latency_later_in_every_format() {
        // Under Miri one format of each width is enough (the arithmetic is the same).
        let samples: &[SampleFormat] = if cfg!(miri) {
            &[SampleFormat::Pcm16, SampleFormat::Float32]
        } else {
            &ALL
        };
        for &sample in samples {
            for rate in [44_100, 48_000] {
                let f = format(sample, rate);
                let frame = f.bytes_per_frame() as usize;
                let mut render = pattern(f, 4800);
                let mut capture = vec![0xAAu8; 4800 * frame];
                let mut cable = cable();
                cable.set_playing(true);
                // Render starts at device frame 1000, capture at 1234; periods of different
                // lengths interleave, render first.
                let (render_origin, capture_origin) = (1000i64, 1234i64);
                let mut rendered = 0u64;
                let mut recorded = 0u64;
                for step in 1..=40u64 {
                    let now = 1234 + step * 97; // device frames
                    let r_to = (now as i64 - render_origin) as u64;
                    play(&mut cable, f, &mut render, render_origin, rendered, r_to);
                    rendered = r_to;
                    let c_to = (now as i64 - capture_origin) as u64;
                    assert_eq!(
                        record(&mut cable, f, &mut capture, capture_origin, recorded, c_to),
                        Recorded::Cable
                    );
                    recorded = c_to;
                }
                let latency = i64::from(latency_frames(rate));
                let render_frames = 4800i64;
                for j in 0..recorded as i64 {
                    let device = j + capture_origin - latency;
                    let k = device - render_origin;
                    let got = &capture[j as usize * frame..][..frame];
                    if (0..rendered as i64).contains(&k) {
                        let at = (k % render_frames) as usize * frame;
                        assert_eq!(got, &render[at..][..frame], "{f:?} capture frame {j}");
                    } else {
                        assert!(got.iter().all(|&b| b == 0), "{f:?} frame {j} silent");
                    }
                }
            }
        }
    }

    #[test]
    fn nothing_playing_and_nothing_left_means_the_tone_and_nothing_written() {
        let f = format(SampleFormat::Pcm16, 48_000);
        let mut capture = vec![0x55u8; 1920];
        let mut c = cable();
        assert_eq!(
            record(&mut c, f, &mut capture, 0, 0, 480),
            Recorded::NothingPlays
        );
        assert!(capture.iter().all(|&b| b == 0x55));
        // Render played and stopped: the frames still in the cable come out, then the tone.
        let mut render = pattern(f, 480);
        c.set_playing(true);
        play(&mut c, f, &mut render, 0, 0, 480);
        c.set_playing(false);
        assert_eq!(
            record(&mut c, f, &mut capture, 960, 0, 240),
            Recorded::Cable
        );
        assert_eq!(&capture[..960], &render[..960]);
        assert_eq!(
            record(&mut c, f, &mut capture, 960, 240, 480),
            Recorded::Cable
        );
        assert_eq!(
            record(&mut c, f, &mut capture, 960, 480, 960),
            Recorded::NothingPlays
        );
    }

    #[test]
    fn another_rate_records_silence_while_render_plays() {
        let render_format = format(SampleFormat::Pcm16, 44_100);
        let capture_format = format(SampleFormat::Pcm16, 48_000);
        let mut render = pattern(render_format, 4410);
        let mut capture = vec![0x55u8; 1920];
        let mut c = cable();
        c.set_playing(true);
        play(&mut c, render_format, &mut render, 0, 0, 4410);
        assert_eq!(
            record(&mut c, capture_format, &mut capture, 2000, 0, 480),
            Recorded::Cable
        );
        assert!(capture.iter().all(|&b| b == 0));
    }

    #[test]
    fn a_gap_in_rendering_is_recorded_as_silence_between_what_was_played() {
        let f = format(SampleFormat::Pcm16, 48_000);
        let mut render = pattern(f, 9600);
        let mut capture = vec![0x55u8; 9600 * 4];
        let mut c = cable();
        c.set_playing(true);
        play(&mut c, f, &mut render, 0, 0, 1000);
        // Paused for 2000 frames, then played on from linear 1000 at device 3000.
        play(&mut c, f, &mut render, 2000, 1000, 2000);
        assert_eq!(c.valid(), (0, 4000));
        assert_eq!(
            record(&mut c, f, &mut capture, 960, 0, 3040),
            Recorded::Cable
        );
        assert_eq!(&capture[..4000], &render[..4000]);
        assert!(capture[4000..3000 * 4].iter().all(|&b| b == 0));
        assert_eq!(&capture[3000 * 4..3040 * 4], &render[4000..4160]);
    }

    #[test]
    fn a_period_longer_than_the_ring_keeps_its_newest_frames() {
        let f = format(SampleFormat::Float32, 48_000);
        let mut render = pattern(f, 10_000);
        let mut c = cable();
        c.set_playing(true);
        play(&mut c, f, &mut render, 0, 0, 10_000);
        assert_eq!(c.valid(), (10_000 - i64::from(RING_FRAMES), 10_000));
        let mut capture = vec![0x55u8; 100 * 8];
        // Frames 9000..9100 of the render, recorded 960 later.
        assert_eq!(
            record(&mut c, f, &mut capture, 960 + 9000, 0, 100),
            Recorded::Cable
        );
        assert_eq!(&capture[..], &render[9000 * 8..9100 * 8]);
    }

    #[test]
    fn a_format_change_forgets_what_the_ring_held() {
        let a = format(SampleFormat::Pcm16, 48_000);
        let b = format(SampleFormat::Pcm24In32, 48_000);
        let mut c = cable();
        c.set_playing(true);
        let mut render = pattern(a, 480);
        play(&mut c, a, &mut render, 0, 0, 480);
        let mut render = pattern(b, 480);
        play(&mut c, b, &mut render, 480, 0, 480);
        assert_eq!(c.valid(), (480, 960));
    }

    #[test]
    fn a_short_ring_or_buffer_never_reaches_outside() {
        let f = format(SampleFormat::Pcm16, 48_000);
        let mut c: Cable<Vec<u8>> = Cable::new(vec![0u8; 64]);
        c.set_playing(true);
        let mut render = pattern(f, 480);
        play(&mut c, f, &mut render, 0, 0, 480);
        let mut capture = vec![0x55u8; 1920];
        assert_eq!(
            record(&mut c, f, &mut capture, 960, 0, 480),
            Recorded::Cable
        );
        // A copy whose spans claim more than the buffer holds is cut to the buffer.
        let copy = PeriodCopy {
            first: Span {
                offset: 1900,
                len: 4000,
            },
            second: Span { offset: 0, len: 0 },
            skipped: 0,
        };
        let mut small = vec![0x55u8; 1920];
        // SAFETY: a live buffer; the cable clamps to its size.
        unsafe { c.record(f, 2000, shared(&mut small), &copy) };
        assert!(small[..1900].iter().all(|&b| b == 0x55));
    }

    #[test]
    #[cfg_attr(miri, ignore = "long arithmetic run: natively only")]
    fn integer_float_integer_gives_back_every_sample() {
        for s in i16::MIN..=i16::MAX {
            let mut float = [0u8; 4];
            convert(
                SampleFormat::Pcm16,
                SampleFormat::Float32,
                &s.to_le_bytes(),
                &mut float,
            );
            // Exact: compare the bits.
            assert_eq!(float, (f32::from(s) / 32_768.0).to_le_bytes());
            let mut back = [0u8; 2];
            convert(
                SampleFormat::Float32,
                SampleFormat::Pcm16,
                &float,
                &mut back,
            );
            assert_eq!(i16::from_le_bytes(back), s);
        }
        for s in (-(1i32 << 23)..(1 << 23))
            .step_by(97)
            .chain([(1 << 23) - 1])
        {
            let container = (s << 8).to_le_bytes();
            let mut float = [0u8; 4];
            convert(
                SampleFormat::Pcm24In32,
                SampleFormat::Float32,
                &container,
                &mut float,
            );
            let mut back = [0u8; 4];
            convert(
                SampleFormat::Float32,
                SampleFormat::Pcm24In32,
                &float,
                &mut back,
            );
            assert_eq!(i32::from_le_bytes(back) >> 8, s);
            assert_eq!(i32::from_le_bytes(back) & 0xFF, 0);
        }
    }

    #[test]
    fn sixteen_and_twenty_four_bit_convert_by_shifting_with_rounding_down_to_sixteen() {
        let mut wide = [0u8; 4];
        convert(
            SampleFormat::Pcm16,
            SampleFormat::Pcm24In32,
            &(-2i16).to_le_bytes(),
            &mut wide,
        );
        assert_eq!(i32::from_le_bytes(wide), -2 << 16);
        let narrow = |s24: i32| {
            let mut out = [0u8; 2];
            convert(
                SampleFormat::Pcm24In32,
                SampleFormat::Pcm16,
                &(s24 << 8).to_le_bytes(),
                &mut out,
            );
            i16::from_le_bytes(out)
        };
        assert_eq!(narrow(0x7F_FFFF), 32_767); // rounds up past the top: clamped
        assert_eq!(narrow(-0x80_0000), -32_768);
        assert_eq!(narrow(0x17F), 1); // 1.498 -> 1
        assert_eq!(narrow(0x180), 2); // 1.5 -> 2
        assert_eq!(narrow(-0x181), -2);
    }

    #[test]
    fn out_of_range_and_nan_floats_clamp_or_fall_silent() {
        let to16 = |v: f32| {
            let mut out = [0u8; 2];
            convert(
                SampleFormat::Float32,
                SampleFormat::Pcm16,
                &v.to_le_bytes(),
                &mut out,
            );
            i16::from_le_bytes(out)
        };
        assert_eq!(to16(1.0), 32_767);
        assert_eq!(to16(-1.0), -32_768);
        assert_eq!(to16(7.5), 32_767);
        assert_eq!(to16(f32::NEG_INFINITY), -32_768);
        assert_eq!(to16(f32::NAN), 0);
    }

    #[test]
    fn converted_loopback_matches_sample_by_sample_conversion() {
        let from = format(SampleFormat::Float32, 48_000);
        let to = format(SampleFormat::Pcm16, 48_000);
        let mut render = vec![0u8; 480 * 8];
        for (i, s) in render.chunks_exact_mut(4).enumerate() {
            s.copy_from_slice(&((i as f32 / 960.0) - 0.5).to_le_bytes());
        }
        let mut c = cable();
        c.set_playing(true);
        play(&mut c, from, &mut render, 0, 0, 480);
        let mut capture = vec![0x55u8; 480 * 4];
        assert_eq!(
            record(&mut c, to, &mut capture, 960, 0, 480),
            Recorded::Cable
        );
        let mut expected = vec![0u8; 480 * 4];
        convert(
            SampleFormat::Float32,
            SampleFormat::Pcm16,
            &render,
            &mut expected,
        );
        assert_eq!(capture, expected);
    }
}
