//! What the volume, mute and peak-meter nodes do to the audio, without any FFI: a per-channel
//! [`Gain`] applied to interleaved stereo samples, and the [`PeakMeter`] that reports the
//! largest sample that passed since it was last read, as `KSPROPERTY_AUDIO_PEAKMETER2` asks.
//!
//! # Where the nodes act
//! A hardware volume node on an endpoint's path makes the audio engine hand the endpoint volume
//! to the driver instead of scaling the audio itself, so the nodes must act on the audio:
//! - render (speaker path: volume -> mute -> peak meter): the render engine applies the
//!   speaker's gain to each period as it enters the loopback cable, so the cable (and the
//!   microphone behind it) carries the audio the speakers would play;
//! - capture (microphone path: volume -> mute -> peak meter): the capture engine applies the
//!   microphone's gain to each period it writes into the capture buffer, tone included.
//!
//! At 0 dB and not muted the gain is unity and nothing is touched (the period stays a copy);
//! muted, the period is silence; otherwise every sample is scaled (integer samples rounded to
//! the nearest, float multiplied).
//!
//! # Peak meters
//! A peak meter is read rarely (the audio UI polls it a few times a second) and the period path
//! must stay a copy, so the peaks are computed when read, from the audio that passed: the
//! cable's ring for the speakers (after their gain), the capture buffer for the microphone
//! (after its gain), over the frames that passed since the last scan (at most the last 4096
//! frames, 85 ms at 48 kHz: the ring's size, and a bound on the scan under a spin lock; the audio
//! UI reads far more often). Each channel keeps its
//! own peak until a GET of that channel returns and clears it (the documented reset on a
//! successful read). The value is linear, full scale (1.0, or the integer format's largest
//! magnitude) being `LONG_MAX`, silence 0.

use crate::format::SampleFormat;

/// Channels the device streams.
pub const CHANNELS: usize = 2;

/// What a volume and a mute node do to each channel: a linear factor (1.0 at 0 dB), 0 when
/// muted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gain {
    factors: [f32; CHANNELS],
}

impl Gain {
    /// No change.
    pub const UNITY: Self = Self {
        factors: [1.0; CHANNELS],
    };

    /// The gain of `volume` (1/65536 dB per channel, at most 0 dB) and `muted` per channel.
    #[must_use]
    pub fn new(volume: [i32; CHANNELS], muted: [bool; CHANNELS]) -> Self {
        Self::from_factors(volume.map(linear), muted)
    }

    /// The gain of linear `factors` (from [`linear`]) and `muted` per channel.
    #[must_use]
    pub fn from_factors(factors: [f32; CHANNELS], muted: [bool; CHANNELS]) -> Self {
        let mut out = factors;
        for (factor, mute) in out.iter_mut().zip(muted) {
            if mute {
                *factor = 0.0;
            }
        }
        Self { factors: out }
    }

    /// The factor of `channel` (1.0 for a channel the device does not have).
    #[must_use]
    pub fn factor(&self, channel: usize) -> f32 {
        self.factors.get(channel).copied().unwrap_or(1.0)
    }

    /// Whether the gain changes nothing.
    #[must_use]
    pub fn is_unity(&self) -> bool {
        self.factors.iter().all(|&f| f >= 1.0)
    }

    /// Whether every channel is silenced.
    #[must_use]
    pub fn is_silent(&self) -> bool {
        self.factors.iter().all(|&f| f <= 0.0)
    }

    /// Scales the interleaved stereo samples of `sample` format in `bytes` (whole samples; a
    /// partial one at the end is left alone) in place. The first sample is channel `channel`.
    pub fn apply(&self, sample: SampleFormat, bytes: &mut [u8], mut channel: usize) {
        if self.is_unity() {
            return;
        }
        if self.is_silent() {
            bytes.fill(0);
            return;
        }
        let width = usize::from(sample.container_bytes()).max(1);
        for raw in bytes.chunks_exact_mut(width) {
            let factor = self.factor(channel);
            channel = (channel + 1) % CHANNELS;
            scale(sample, raw, factor);
        }
    }
}

/// The linear factor of a volume level in 1/65536 dB: 1.0 at 0 dB and above, `10^(dB/20)`
/// below.
#[must_use]
pub fn linear(level: i32) -> f32 {
    if level >= 0 {
        return 1.0;
    }
    // 1/65536 dB -> millibels (exact on the 0.5 dB grid), then 10^(dB/20).
    let millibels = i32::try_from(i64::from(level) * 100 / 65_536).unwrap_or(0);
    #[allow(clippy::cast_possible_truncation)] // a factor in (0, 1)
    let factor = crate::backend::virtual_device::tone::millibels_to_amplitude(millibels) as f32;
    factor
}

/// Multiplies one little-endian sample by `factor` (in `[0, 1]`).
fn scale(sample: SampleFormat, raw: &mut [u8], factor: f32) {
    match sample {
        SampleFormat::Pcm16 => {
            let Some(bytes) = raw.first_chunk_mut::<2>() else {
                return;
            };
            let scaled = round(f32::from(i16::from_le_bytes(*bytes)) * factor);
            *bytes = i16::try_from(scaled).unwrap_or(0).to_le_bytes();
        }
        SampleFormat::Pcm24In32 => {
            let Some(bytes) = raw.first_chunk_mut::<4>() else {
                return;
            };
            // 24-bit values are exact in f32.
            #[allow(clippy::cast_precision_loss)]
            let value = (i32::from_le_bytes(*bytes) >> 8) as f32;
            *bytes = (round(value * factor) << 8).to_le_bytes();
        }
        SampleFormat::Float32 => {
            let Some(bytes) = raw.first_chunk_mut::<4>() else {
                return;
            };
            *bytes = (f32::from_le_bytes(*bytes) * factor).to_le_bytes();
        }
    }
}

/// The nearest integer (halves away from zero); saturating.
fn round(value: f32) -> i32 {
    #[allow(clippy::cast_possible_truncation)] // `as` saturates
    if value >= 0.0 {
        (value + 0.5) as i32
    } else {
        (value - 0.5) as i32
    }
}

/// The largest magnitude per channel of interleaved stereo samples, on the
/// `KSPROPERTY_AUDIO_PEAKMETER2` scale (full scale = `i32::MAX`, silence 0). The first sample
/// is channel `channel`.
#[must_use]
pub fn peaks(sample: SampleFormat, bytes: &[u8], mut channel: usize) -> [i32; CHANNELS] {
    let width = usize::from(sample.container_bytes()).max(1);
    // The largest magnitude in the format's own units first (cheap), scaled once at the end.
    let mut largest = [0u32; CHANNELS];
    let mut largest_float = [0f32; CHANNELS];
    for raw in bytes.chunks_exact(width) {
        let slot = channel;
        channel = (channel + 1) % CHANNELS;
        match sample {
            SampleFormat::Pcm16 => {
                if let (Some(bytes), Some(max)) = (raw.first_chunk::<2>(), largest.get_mut(slot)) {
                    *max = (*max).max(u32::from(i16::from_le_bytes(*bytes).unsigned_abs()));
                }
            }
            SampleFormat::Pcm24In32 => {
                if let (Some(bytes), Some(max)) = (raw.first_chunk::<4>(), largest.get_mut(slot)) {
                    *max = (*max).max((i32::from_le_bytes(*bytes) >> 8).unsigned_abs());
                }
            }
            SampleFormat::Float32 => {
                if let (Some(bytes), Some(max)) =
                    (raw.first_chunk::<4>(), largest_float.get_mut(slot))
                {
                    let magnitude = f32::from_le_bytes(*bytes).abs();
                    // NaN compares false: it never raises the peak.
                    if magnitude > *max {
                        *max = magnitude;
                    }
                }
            }
        }
    }
    let mut out = [0i32; CHANNELS];
    for (channel, value) in out.iter_mut().enumerate() {
        *value = match sample {
            SampleFormat::Pcm16 => on_scale(largest.get(channel).copied().unwrap_or(0), 15),
            SampleFormat::Pcm24In32 => on_scale(largest.get(channel).copied().unwrap_or(0), 23),
            SampleFormat::Float32 => {
                let magnitude = f64::from(largest_float.get(channel).copied().unwrap_or(0.0));
                #[allow(clippy::cast_possible_truncation)] // `as` saturates: >= 1.0 is full scale
                let scaled = (magnitude.min(1.0) * f64::from(i32::MAX)) as i32;
                scaled
            }
        };
    }
    out
}

/// A magnitude of an integer format with `bits` bits of magnitude (2^bits is full scale) on the
/// 0..=`i32::MAX` scale.
fn on_scale(magnitude: u32, bits: u32) -> i32 {
    let scaled = (u64::from(magnitude) << (31 - bits)).min(u64::from(i32::MAX.unsigned_abs()));
    i32::try_from(scaled).unwrap_or(i32::MAX)
}

/// A peak-meter node's per-channel peaks since each channel was last read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeakMeter {
    pending: [i32; CHANNELS],
}

impl PeakMeter {
    /// A meter at silence.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            pending: [0; CHANNELS],
        }
    }

    /// Adds the peaks of audio that passed.
    pub fn add(&mut self, peaks: [i32; CHANNELS]) {
        for (pending, peak) in self.pending.iter_mut().zip(peaks) {
            *pending = (*pending).max(peak);
        }
    }

    /// The peak of `channel` since it was last taken, and clears it; `None` for a channel the
    /// device does not have (nothing changes).
    pub fn take(&mut self, channel: usize) -> Option<i32> {
        self.pending.get_mut(channel).map(core::mem::take)
    }

    /// The peak of `channel` so far, without clearing it.
    #[must_use]
    pub fn peek(&self, channel: usize) -> Option<i32> {
        self.pending.get(channel).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcm16(samples: &[i16]) -> Vec<u8> {
        samples.iter().flat_map(|s| s.to_le_bytes()).collect()
    }

    #[test]
    fn zero_db_unmuted_changes_nothing_and_mute_is_silence() {
        let gain = Gain::new([0, 0], [false, false]);
        assert!(gain.is_unity());
        let mut bytes = pcm16(&[1000, -1000, 32_767, -32_768]);
        let before = bytes.clone();
        gain.apply(SampleFormat::Pcm16, &mut bytes, 0);
        assert_eq!(bytes, before);
        let muted = Gain::new([0, 0], [true, true]);
        assert!(muted.is_silent());
        muted.apply(SampleFormat::Pcm16, &mut bytes, 0);
        assert!(bytes.iter().all(|&b| b == 0));
    }

    #[test]
    fn minus_six_db_halves_each_channel_on_its_own() {
        // -6.0206 dB is one half; the 0.5 dB grid has -6 dB = 0.501 187.
        let gain = Gain::new([-6 * 65_536, 0], [false, false]);
        assert!((gain.factor(0) - 0.501_187).abs() < 1e-5);
        assert!((gain.factor(1) - 1.0).abs() < f32::EPSILON);
        let mut bytes = pcm16(&[10_000, 10_000, -10_000, -10_000]);
        gain.apply(SampleFormat::Pcm16, &mut bytes, 0);
        let out: Vec<i16> = bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(out, [5012, 10_000, -5012, -10_000]);
        // Starting on channel 1 (a span that begins mid-frame is never made, but the phase is
        // honoured).
        let mut bytes = pcm16(&[10_000, 10_000]);
        gain.apply(SampleFormat::Pcm16, &mut bytes, 1);
        assert_eq!(i16::from_le_bytes([bytes[2], bytes[3]]), 5012);
    }

    #[test]
    fn gain_scales_twenty_four_bit_and_float_samples() {
        let gain = Gain::new([-20 * 65_536, -20 * 65_536], [false, false]);
        let mut bytes: Vec<u8> = [(1_000_000i32) << 8, (-1_000_000i32) << 8]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        gain.apply(SampleFormat::Pcm24In32, &mut bytes, 0);
        assert_eq!(
            i32::from_le_bytes(bytes[..4].try_into().unwrap()),
            100_000 << 8
        );
        assert_eq!(
            i32::from_le_bytes(bytes[4..].try_into().unwrap()),
            -100_000 << 8
        );
        let mut bytes: Vec<u8> = [0.5f32, -1.0]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        gain.apply(SampleFormat::Float32, &mut bytes, 0);
        let left = f32::from_le_bytes(bytes[..4].try_into().unwrap());
        assert!((left - 0.05).abs() < 1e-6, "{left}");
    }

    #[test]
    fn peaks_are_per_channel_on_the_long_scale() {
        let bytes = pcm16(&[100, -16_384, -32_768, 0, 5, 7]);
        assert_eq!(
            peaks(SampleFormat::Pcm16, &bytes, 0),
            [i32::MAX, 16_384 << 16]
        );
        assert_eq!(peaks(SampleFormat::Pcm16, &pcm16(&[0, 0]), 0), [0, 0]);
        let half: Vec<u8> = [0.5f32, -0.25, f32::NAN, 2.0]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        let [left, right] = peaks(SampleFormat::Float32, &half, 0);
        assert_eq!(left, i32::MAX / 2);
        assert_eq!(right, i32::MAX, "above full scale is full scale");
        let wide: Vec<u8> = [(1i32 << 22) << 8, 0]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        assert_eq!(peaks(SampleFormat::Pcm24In32, &wide, 0), [1 << 30, 0]);
    }

    #[test]
    fn a_meter_keeps_each_channels_peak_until_that_channel_is_read() {
        let mut meter = PeakMeter::new();
        meter.add([10, 20]);
        meter.add([5, 30]);
        assert_eq!(meter.take(0), Some(10));
        assert_eq!(meter.take(0), Some(0));
        assert_eq!(meter.peek(1), Some(30));
        assert_eq!(meter.take(1), Some(30));
        assert_eq!(meter.take(2), None);
    }
}
