//! A minimal RIFF/WAVE writer for what a simulated capture stream recorded, so a person can
//! listen to it.
//!
//! The header is the canonical 44-byte one (`WAVE_FORMAT_PCM` for integer samples,
//! `WAVE_FORMAT_IEEE_FLOAT` for float); 24-bit samples in 32-bit containers are written as
//! 32-bit PCM, which players read as the same signal.

use std::io::{self, Write};

/// The sample layout of recorded bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WavFormat {
    /// Channels (interleaved).
    pub channels: u16,
    /// Frames per second.
    pub rate: u32,
    /// Bits per sample container (16 or 32).
    pub bits: u16,
    /// Whether samples are IEEE floats.
    pub float: bool,
}

impl WavFormat {
    /// Bytes per frame.
    #[must_use]
    pub const fn block_align(&self) -> u16 {
        self.channels * (self.bits / 8)
    }
}

/// Writes `data` (whole frames of `format`) as a WAV file to `out`.
///
/// # Errors
/// `InvalidInput` if `data` is not whole frames or too large for a RIFF file; the writer's
/// errors.
pub fn write(out: &mut impl Write, format: WavFormat, data: &[u8]) -> io::Result<()> {
    let align = format.block_align();
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_owned());
    if align == 0 || !data.len().is_multiple_of(usize::from(align)) {
        return Err(invalid("the data is not whole frames"));
    }
    let size = u32::try_from(data.len())
        .ok()
        .filter(|&n| n <= u32::MAX - 36)
        .ok_or_else(|| invalid("the data is too large for a WAV file"))?;
    let tag: u16 = if format.float { 3 } else { 1 };
    let mut header = Vec::with_capacity(44);
    header.extend_from_slice(b"RIFF");
    header.extend_from_slice(&(36 + size).to_le_bytes());
    header.extend_from_slice(b"WAVEfmt ");
    header.extend_from_slice(&16u32.to_le_bytes());
    header.extend_from_slice(&tag.to_le_bytes());
    header.extend_from_slice(&format.channels.to_le_bytes());
    header.extend_from_slice(&format.rate.to_le_bytes());
    header.extend_from_slice(&(format.rate * u32::from(align)).to_le_bytes());
    header.extend_from_slice(&align.to_le_bytes());
    header.extend_from_slice(&format.bits.to_le_bytes());
    header.extend_from_slice(b"data");
    header.extend_from_slice(&size.to_le_bytes());
    out.write_all(&header)?;
    out.write_all(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEREO_16: WavFormat = WavFormat {
        channels: 2,
        rate: 48_000,
        bits: 16,
        float: false,
    };

    #[test]
    fn the_header_describes_the_data() {
        let data = [1u8, 2, 3, 4, 5, 6, 7, 8];
        let mut out = Vec::new();
        write(&mut out, STEREO_16, &data).unwrap();
        assert_eq!(out.len(), 44 + 8);
        assert_eq!(&out[0..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(out[4..8].try_into().unwrap()), 44);
        assert_eq!(&out[8..16], b"WAVEfmt ");
        assert_eq!(u16::from_le_bytes([out[20], out[21]]), 1);
        assert_eq!(u16::from_le_bytes([out[22], out[23]]), 2);
        assert_eq!(u32::from_le_bytes(out[24..28].try_into().unwrap()), 48_000);
        assert_eq!(u32::from_le_bytes(out[28..32].try_into().unwrap()), 192_000);
        assert_eq!(u16::from_le_bytes([out[32], out[33]]), 4);
        assert_eq!(u16::from_le_bytes([out[34], out[35]]), 16);
        assert_eq!(&out[36..40], b"data");
        assert_eq!(u32::from_le_bytes(out[40..44].try_into().unwrap()), 8);
        assert_eq!(&out[44..], &data);
    }

    #[test]
    fn float_is_tagged_and_partial_frames_are_refused() {
        let float = WavFormat {
            bits: 32,
            float: true,
            ..STEREO_16
        };
        let mut out = Vec::new();
        write(&mut out, float, &[0; 8]).unwrap();
        assert_eq!(u16::from_le_bytes([out[20], out[21]]), 3);
        let error = write(&mut Vec::new(), STEREO_16, &[0; 6]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }
}
