//! Audio formats: what the device streams, how a client's `KSDATAFORMAT` is read and checked,
//! how the driver writes the format it proposes, and the data-range intersection.
//!
//! Everything here reads and writes plain little-endian bytes: the kernel hands the driver a
//! pointer and a length, the FFI shell turns that into a `&[u8]`, and this module never assumes
//! any alignment or trusts any size the bytes state about themselves.
//!
//! # Layouts
//!
//! | offset | `KSDATAFORMAT` (64 bytes, 8-byte aligned in C) |
//! | --- | --- |
//! | 0 | `FormatSize` u32: bytes of the whole format, header included |
//! | 4 | `Flags` u32 |
//! | 8 | `SampleSize` u32 |
//! | 12 | `Reserved` u32 |
//! | 16 | `MajorFormat` GUID |
//! | 32 | `SubFormat` GUID |
//! | 48 | `Specifier` GUID |
//!
//! With the `WAVEFORMATEX` specifier a `WAVEFORMATEX` (18 bytes, byte aligned) follows at
//! offset 64: `wFormatTag` u16, `nChannels` u16, `nSamplesPerSec` u32, `nAvgBytesPerSec` u32,
//! `nBlockAlign` u16, `wBitsPerSample` u16, `cbSize` u16. A `WAVEFORMATEXTENSIBLE` adds, at
//! offset 82, `wValidBitsPerSample` u16, `dwChannelMask` u32 and `SubFormat` GUID (40 bytes in
//! all, `cbSize` >= 22). A `KSDATARANGE_AUDIO` (88 bytes) instead puts five u32 limits at offset
//! 64: maximum channels, minimum and maximum bits per sample, minimum and maximum sample rate.
//!
//! # Status codes
//!
//! [`FormatError::status`] answers `STATUS_INVALID_PARAMETER` when the bytes cannot be a correct
//! description of any format: a size that lies (about the buffer or about the structure), or
//! fields that contradict each other (a block alignment that is not channels x container bytes,
//! a sub-format GUID that disagrees with the format tag, more valid bits than the container
//! holds). It answers `STATUS_NO_MATCH` when the description is sound but names a format this
//! device does not stream (another rate, channel count, sample type, speaker layout, or a
//! non-audio major format). `STATUS_NO_MATCH` rather than `STATUS_NOT_SUPPORTED` because it is
//! the code the `DataRangeIntersection` and `PFNKSINTERSECTHANDLER` documentation give for "no
//! intersection", and the code the audio stack expects when a proposed format is refused; one
//! code for both paths keeps the shell simple.
//!
//! The attribute list a format may carry (the signal-processing mode) is read by [`mode`].

use portcls_sys::{NTSTATUS, STATUS_INVALID_PARAMETER};

pub mod mode;

/// Reinterprets the documented 32-bit hexadecimal form of a status code as an [`NTSTATUS`].
const fn status(code: u32) -> NTSTATUS {
    i32::from_ne_bytes(code.to_ne_bytes())
}

/// `STATUS_NO_MATCH` (0xC000001E): the format or range does not intersect the device's.
pub const STATUS_NO_MATCH: NTSTATUS = status(0xC000_001E);
/// `STATUS_BUFFER_OVERFLOW` (0x80000005): the answer to a size query (an output length of 0).
pub const STATUS_BUFFER_OVERFLOW: NTSTATUS = status(0x8000_0005);
/// `STATUS_BUFFER_TOO_SMALL` (0xC0000023): a non-zero output length that cannot hold the result.
pub const STATUS_BUFFER_TOO_SMALL: NTSTATUS = status(0xC000_0023);

/// Converts a GUID in registry order (`{AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE}` read as one
/// 128-bit number) to its 16-byte in-memory layout: `Data1` u32, `Data2` u16 and `Data3` u16
/// little-endian, then the eight `Data4` bytes as written.
#[must_use]
pub const fn guid_wire(registry: u128) -> [u8; 16] {
    let be = registry.to_be_bytes();
    [
        be[3], be[2], be[1], be[0], // Data1
        be[5], be[4], // Data2
        be[7], be[6], // Data3
        be[8], be[9], be[10], be[11], be[12], be[13], be[14], be[15], // Data4
    ]
}

/// `KSDATAFORMAT_TYPE_AUDIO` {73647561-0000-0010-8000-00AA00389B71}, in wire layout.
pub const KSDATAFORMAT_TYPE_AUDIO: [u8; 16] = guid_wire(0x7364_7561_0000_0010_8000_00AA_0038_9B71);
/// `KSDATAFORMAT_SUBTYPE_PCM` {00000001-0000-0010-8000-00AA00389B71}, in wire layout.
pub const KSDATAFORMAT_SUBTYPE_PCM: [u8; 16] = guid_wire(0x0000_0001_0000_0010_8000_00AA_0038_9B71);
/// `KSDATAFORMAT_SUBTYPE_IEEE_FLOAT` {00000003-0000-0010-8000-00AA00389B71}, in wire layout.
pub const KSDATAFORMAT_SUBTYPE_IEEE_FLOAT: [u8; 16] =
    guid_wire(0x0000_0003_0000_0010_8000_00AA_0038_9B71);
/// `KSDATAFORMAT_SPECIFIER_WAVEFORMATEX` {05589F81-C356-11CE-BF01-00AA0055595A}, in wire layout.
pub const KSDATAFORMAT_SPECIFIER_WAVEFORMATEX: [u8; 16] =
    guid_wire(0x0558_9F81_C356_11CE_BF01_00AA_0055_595A);
/// The wildcard GUID (`GUID_NULL`), which a client's data range may use for the major format
/// or the sub-format.
pub const GUID_WILDCARD: [u8; 16] = [0; 16];

/// `WAVE_FORMAT_PCM`.
pub const WAVE_FORMAT_PCM: u16 = 1;
/// `WAVE_FORMAT_IEEE_FLOAT`.
pub const WAVE_FORMAT_IEEE_FLOAT: u16 = 3;
/// `WAVE_FORMAT_EXTENSIBLE`.
pub const WAVE_FORMAT_EXTENSIBLE: u16 = 0xFFFE;
/// `KSAUDIO_SPEAKER_STEREO`: front left | front right.
pub const KSAUDIO_SPEAKER_STEREO: u32 = 0x3;

/// Bytes of a `KSDATAFORMAT` header.
pub const KSDATAFORMAT_SIZE: u32 = 64;
/// Bytes of a `WAVEFORMATEX` without extra bytes.
pub const WAVEFORMATEX_SIZE: u32 = 18;
/// Bytes of a `WAVEFORMATEXTENSIBLE`.
pub const WAVEFORMATEXTENSIBLE_SIZE: u32 = 40;
/// The `cbSize` a `WAVEFORMATEXTENSIBLE` needs at least (its bytes after the `WAVEFORMATEX`).
pub const EXTENSIBLE_CB_SIZE: u16 = 22;
/// Bytes of a `KSDATAFORMAT_WAVEFORMATEXTENSIBLE`: what the driver writes as a format.
pub const KSDATAFORMAT_WAVEFORMATEXTENSIBLE_SIZE: u32 =
    KSDATAFORMAT_SIZE + WAVEFORMATEXTENSIBLE_SIZE;
/// Bytes of a `KSDATARANGE_AUDIO`: a 64-byte header and five u32 limits, padded to 8.
pub const KSDATARANGE_AUDIO_SIZE: u32 = 88;

/// The sample rates the device streams.
pub const SUPPORTED_RATES: [u32; 2] = [44_100, 48_000];
/// The channel count the device streams.
pub const SUPPORTED_CHANNELS: u16 = 2;

/// How one sample of one channel is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SampleFormat {
    /// Signed 16-bit integer PCM.
    Pcm16,
    /// Signed 24-bit integer PCM in the most significant bits of a 32-bit container.
    Pcm24In32,
    /// 32-bit IEEE float, full scale +-1.0.
    Float32,
}

impl SampleFormat {
    /// Every sample format, in the device's order of preference.
    pub const ALL: [Self; 3] = [Self::Pcm16, Self::Pcm24In32, Self::Float32];

    /// Bits of the container (`wBitsPerSample`).
    #[must_use]
    pub const fn container_bits(self) -> u16 {
        match self {
            Self::Pcm16 => 16,
            Self::Pcm24In32 | Self::Float32 => 32,
        }
    }

    /// Bytes of the container.
    #[must_use]
    pub const fn container_bytes(self) -> u16 {
        self.container_bits() / 8
    }

    /// Bits that carry the signal (`wValidBitsPerSample`).
    #[must_use]
    pub const fn valid_bits(self) -> u16 {
        match self {
            Self::Pcm16 => 16,
            Self::Pcm24In32 => 24,
            Self::Float32 => 32,
        }
    }

    /// The `KSDATAFORMAT_SUBTYPE_*` GUID (wire layout) of this sample type.
    #[must_use]
    pub const fn sub_format(self) -> [u8; 16] {
        match self {
            Self::Pcm16 | Self::Pcm24In32 => KSDATAFORMAT_SUBTYPE_PCM,
            Self::Float32 => KSDATAFORMAT_SUBTYPE_IEEE_FLOAT,
        }
    }
}

/// A format the device streams.
///
/// # Invariants
/// `channels` is [`SUPPORTED_CHANNELS`] and `rate` is one of [`SUPPORTED_RATES`]; so every
/// derived size is small (a frame is at most 8 bytes, a second at most 384 000 bytes) and no
/// arithmetic on it can overflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Format {
    sample: SampleFormat,
    channels: u16,
    rate: u32,
}

impl Format {
    /// The device's preferred format: 48 kHz, 16-bit PCM, stereo.
    pub const PREFERRED: Self = Self {
        sample: SampleFormat::Pcm16,
        channels: 2,
        rate: 48_000,
    };

    /// A format the device streams.
    ///
    /// # Errors
    /// [`FormatError::Channels`] or [`FormatError::SampleRate`] for values the device does not
    /// stream.
    pub const fn new(sample: SampleFormat, channels: u16, rate: u32) -> Result<Self, FormatError> {
        if channels != SUPPORTED_CHANNELS {
            return Err(FormatError::Channels(channels));
        }
        if rate != SUPPORTED_RATES[0] && rate != SUPPORTED_RATES[1] {
            return Err(FormatError::SampleRate(rate));
        }
        Ok(Self {
            sample,
            channels,
            rate,
        })
    }

    /// How each sample is stored.
    #[must_use]
    pub const fn sample(&self) -> SampleFormat {
        self.sample
    }

    /// Channels per frame.
    #[must_use]
    pub const fn channels(&self) -> u16 {
        self.channels
    }

    /// Frames per second.
    #[must_use]
    pub const fn rate(&self) -> u32 {
        self.rate
    }

    /// `nBlockAlign`: bytes per frame (channels x container bytes).
    #[must_use]
    pub const fn block_align(&self) -> u16 {
        // At most 2 x 4 (type invariant).
        self.channels * self.sample.container_bytes()
    }

    /// Bytes per frame, as a u32 for position arithmetic (equal to [`Format::block_align`]).
    #[must_use]
    pub const fn bytes_per_frame(&self) -> u32 {
        self.block_align() as u32
    }

    /// `nAvgBytesPerSec`: rate x block alignment.
    #[must_use]
    pub const fn avg_bytes_per_sec(&self) -> u32 {
        // At most 48 000 x 8 (type invariant).
        self.rate * self.bytes_per_frame()
    }

    /// `wValidBitsPerSample`.
    #[must_use]
    pub const fn valid_bits(&self) -> u16 {
        self.sample.valid_bits()
    }

    /// Reads and checks a `KSDATAFORMAT` followed by a `WAVEFORMATEX` or `WAVEFORMATEXTENSIBLE`.
    ///
    /// `bytes` is everything the caller may read; `FormatSize` must lie within it. Bytes beyond
    /// `FormatSize` are ignored, as are `Flags`, `SampleSize` and `Reserved` (the device takes no
    /// attributes). For `WAVE_FORMAT_PCM`, `cbSize` is ignored, as the `WAVEFORMATEX`
    /// documentation says; for the other tags the extra bytes it announces must lie within
    /// `FormatSize`.
    ///
    /// # Errors
    /// The first check that fails, in this order: the buffer and `FormatSize`; major format and
    /// specifier; format tag, `cbSize` and the sizes that depend on them; the `SubFormat`s'
    /// agreement with the tag; block alignment and byte rate; valid bits; then what the device
    /// supports (channels, rate, sample type, speaker mask). See [`FormatError::status`].
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let header = Header::read(bytes)?;
        if header.major != KSDATAFORMAT_TYPE_AUDIO {
            return Err(FormatError::MajorFormat);
        }
        if header.specifier != KSDATAFORMAT_SPECIFIER_WAVEFORMATEX {
            return Err(FormatError::Specifier);
        }
        let body = header.body;
        let minimum = KSDATAFORMAT_SIZE + WAVEFORMATEX_SIZE;
        if header.format_size < minimum {
            return Err(FormatError::FormatSizeTooSmall {
                format_size: header.format_size,
                minimum,
            });
        }
        let wave = Wave::read(body).ok_or(FormatError::FormatSizeTooSmall {
            format_size: header.format_size,
            minimum,
        })?;

        // The tag, and the sizes it implies.
        let (sub_format, valid_bits, channel_mask) = match wave.tag {
            WAVE_FORMAT_PCM => (KSDATAFORMAT_SUBTYPE_PCM, None, None),
            WAVE_FORMAT_IEEE_FLOAT => {
                check_cb_size(header.format_size, wave.cb_size)?;
                (KSDATAFORMAT_SUBTYPE_IEEE_FLOAT, None, None)
            }
            WAVE_FORMAT_EXTENSIBLE => {
                let minimum = KSDATAFORMAT_WAVEFORMATEXTENSIBLE_SIZE;
                if header.format_size < minimum {
                    return Err(FormatError::FormatSizeTooSmall {
                        format_size: header.format_size,
                        minimum,
                    });
                }
                if wave.cb_size < EXTENSIBLE_CB_SIZE {
                    return Err(FormatError::CbSizeTooSmall {
                        cb_size: wave.cb_size,
                        minimum: EXTENSIBLE_CB_SIZE,
                    });
                }
                check_cb_size(header.format_size, wave.cb_size)?;
                let extension = Extension::read(body).ok_or(FormatError::FormatSizeTooSmall {
                    format_size: header.format_size,
                    minimum,
                })?;
                (
                    extension.sub_format,
                    Some(extension.valid_bits),
                    Some(extension.channel_mask),
                )
            }
            other => return Err(FormatError::FormatTag(other)),
        };

        // Internal consistency: a description that contradicts itself is malformed.
        if header.sub_format != sub_format {
            return Err(FormatError::SubFormatMismatch);
        }
        let container_bytes = u32::from(wave.bits.div_ceil(8));
        let expected_align = u32::from(wave.channels) * container_bytes;
        if u32::from(wave.block_align) != expected_align {
            return Err(FormatError::BlockAlign {
                expected: expected_align,
                found: wave.block_align,
            });
        }
        let expected_avg = u64::from(wave.rate) * u64::from(wave.block_align);
        if u64::from(wave.avg_bytes_per_sec) != expected_avg {
            return Err(FormatError::AvgBytesPerSec {
                expected: expected_avg,
                found: wave.avg_bytes_per_sec,
            });
        }
        let valid_bits = valid_bits.unwrap_or(wave.bits);
        if valid_bits > wave.bits {
            return Err(FormatError::ValidBitsExceedContainer {
                valid: valid_bits,
                container: wave.bits,
            });
        }

        // What the device streams.
        let is_float = if sub_format == KSDATAFORMAT_SUBTYPE_PCM {
            false
        } else if sub_format == KSDATAFORMAT_SUBTYPE_IEEE_FLOAT {
            true
        } else {
            return Err(FormatError::SubFormat);
        };
        let format = Self::new(
            sample_format(is_float, wave.bits, valid_bits)?,
            wave.channels,
            wave.rate,
        )?;
        if let Some(mask) = channel_mask
            && mask != KSAUDIO_SPEAKER_STEREO
        {
            return Err(FormatError::ChannelMask(mask));
        }
        Ok(format)
    }

    /// Writes this format as a `KSDATAFORMAT_WAVEFORMATEXTENSIBLE` (104 bytes) at the start of
    /// `out`, and returns the number of bytes written.
    ///
    /// `FormatSize` is 104, `SampleSize` the block alignment, `Flags` and `Reserved` 0, the
    /// speaker mask `KSAUDIO_SPEAKER_STEREO`, and both sub-format GUIDs name the sample type.
    ///
    /// # Errors
    /// As [`check_output_length`] for `out.len()`; nothing is written then.
    pub fn write_extensible(&self, out: &mut [u8]) -> Result<usize, OutputSizeError> {
        let length = u32::try_from(out.len()).unwrap_or(u32::MAX);
        let size = check_output_length(length)?;
        let size = usize::try_from(size).map_err(|_| OutputSizeError::TooSmall { length })?;
        let out = out
            .get_mut(..size)
            .ok_or(OutputSizeError::TooSmall { length })?;
        let sub = self.sample.sub_format();
        let mut w = Writer { out, at: 0 };
        w.u32(KSDATAFORMAT_WAVEFORMATEXTENSIBLE_SIZE); // FormatSize
        w.u32(0); // Flags
        w.u32(self.bytes_per_frame()); // SampleSize
        w.u32(0); // Reserved
        w.bytes(&KSDATAFORMAT_TYPE_AUDIO);
        w.bytes(&sub);
        w.bytes(&KSDATAFORMAT_SPECIFIER_WAVEFORMATEX);
        w.u16(WAVE_FORMAT_EXTENSIBLE);
        w.u16(self.channels);
        w.u32(self.rate);
        w.u32(self.avg_bytes_per_sec());
        w.u16(self.block_align());
        w.u16(self.sample.container_bits());
        w.u16(EXTENSIBLE_CB_SIZE);
        w.u16(self.valid_bits());
        w.u32(KSAUDIO_SPEAKER_STEREO);
        w.bytes(&sub);
        Ok(w.at)
    }
}

/// Which sample type a (float?, container bits, valid bits) triple is.
const fn sample_format(is_float: bool, bits: u16, valid: u16) -> Result<SampleFormat, FormatError> {
    match (is_float, bits, valid) {
        (false, 16, 16) => Ok(SampleFormat::Pcm16),
        (false, 32, 24) => Ok(SampleFormat::Pcm24In32),
        (true, 32, 32) => Ok(SampleFormat::Float32),
        _ => Err(FormatError::BitsPerSample { bits, valid }),
    }
}

/// Checks that the extra bytes `cbSize` announces lie within `FormatSize`.
fn check_cb_size(format_size: u32, cb_size: u16) -> Result<(), FormatError> {
    let needed = KSDATAFORMAT_SIZE + WAVEFORMATEX_SIZE + u32::from(cb_size);
    if needed > format_size {
        return Err(FormatError::CbSizeExceedsFormat {
            cb_size,
            format_size,
        });
    }
    Ok(())
}

/// Why a `KSDATAFORMAT` or `KSDATARANGE` was refused: which check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// The buffer is shorter than the `KSDATAFORMAT` header. Malformed.
    Truncated {
        /// Bytes the header needs.
        needed: u32,
        /// Bytes the caller gave.
        available: usize,
    },
    /// `FormatSize` is larger than the buffer: the size lies. Malformed.
    FormatSizeExceedsBuffer {
        /// `FormatSize`.
        format_size: u32,
        /// Bytes the caller gave.
        available: usize,
    },
    /// `FormatSize` is too small for the structure the format says it is. Malformed.
    FormatSizeTooSmall {
        /// `FormatSize`.
        format_size: u32,
        /// The least that structure needs.
        minimum: u32,
    },
    /// A `WAVEFORMATEXTENSIBLE` whose `cbSize` is below 22. Malformed.
    CbSizeTooSmall {
        /// `cbSize`.
        cb_size: u16,
        /// 22.
        minimum: u16,
    },
    /// `cbSize` announces more bytes than `FormatSize` holds. Malformed.
    CbSizeExceedsFormat {
        /// `cbSize`.
        cb_size: u16,
        /// `FormatSize`.
        format_size: u32,
    },
    /// The `KSDATAFORMAT` `SubFormat` disagrees with the wave format's tag or extensible
    /// sub-format. Malformed.
    SubFormatMismatch,
    /// `nBlockAlign` is not channels x container bytes. Malformed.
    BlockAlign {
        /// Channels x container bytes.
        expected: u32,
        /// `nBlockAlign`.
        found: u16,
    },
    /// `nAvgBytesPerSec` is not rate x block alignment. Malformed.
    AvgBytesPerSec {
        /// Rate x block alignment.
        expected: u64,
        /// `nAvgBytesPerSec`.
        found: u32,
    },
    /// `wValidBitsPerSample` is larger than the container. Malformed.
    ValidBitsExceedContainer {
        /// `wValidBitsPerSample`.
        valid: u16,
        /// `wBitsPerSample`.
        container: u16,
    },
    /// `MajorFormat` is not `KSDATAFORMAT_TYPE_AUDIO`. Unsupported.
    MajorFormat,
    /// `Specifier` is not `KSDATAFORMAT_SPECIFIER_WAVEFORMATEX`. Unsupported.
    Specifier,
    /// A `wFormatTag` other than PCM, IEEE float and extensible. Unsupported.
    FormatTag(u16),
    /// An extensible sub-format (or a range's sub-format) other than PCM and IEEE float.
    /// Unsupported.
    SubFormat,
    /// A channel count other than 2. Unsupported.
    Channels(u16),
    /// A rate other than 44 100 and 48 000. Unsupported.
    SampleRate(u32),
    /// A container / valid-bits pair other than 16/16 PCM, 32/24 PCM and 32/32 float.
    /// Unsupported.
    BitsPerSample {
        /// `wBitsPerSample`.
        bits: u16,
        /// `wValidBitsPerSample` (equal to `bits` without the extensible part).
        valid: u16,
    },
    /// A speaker mask other than `KSAUDIO_SPEAKER_STEREO`. Unsupported.
    ChannelMask(u32),
    /// The client's data range and the device's have no format in common. Unsupported.
    NoIntersection,
}

impl FormatError {
    /// Whether the bytes were malformed (as opposed to describing an unsupported format).
    #[must_use]
    pub const fn is_malformed(&self) -> bool {
        matches!(
            self,
            Self::Truncated { .. }
                | Self::FormatSizeExceedsBuffer { .. }
                | Self::FormatSizeTooSmall { .. }
                | Self::CbSizeTooSmall { .. }
                | Self::CbSizeExceedsFormat { .. }
                | Self::SubFormatMismatch
                | Self::BlockAlign { .. }
                | Self::AvgBytesPerSec { .. }
                | Self::ValidBitsExceedContainer { .. }
        )
    }

    /// The NTSTATUS to return: `STATUS_INVALID_PARAMETER` for malformed bytes,
    /// [`STATUS_NO_MATCH`] for an unsupported format (see the module documentation).
    #[must_use]
    pub const fn status(&self) -> NTSTATUS {
        if self.is_malformed() {
            STATUS_INVALID_PARAMETER
        } else {
            STATUS_NO_MATCH
        }
    }
}

impl core::fmt::Display for FormatError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Truncated { needed, available } => {
                write!(f, "buffer of {available} bytes, the header needs {needed}")
            }
            Self::FormatSizeExceedsBuffer {
                format_size,
                available,
            } => write!(
                f,
                "FormatSize {format_size} exceeds the buffer of {available} bytes"
            ),
            Self::FormatSizeTooSmall {
                format_size,
                minimum,
            } => write!(
                f,
                "FormatSize {format_size} is below the {minimum} bytes needed"
            ),
            Self::CbSizeTooSmall { cb_size, minimum } => {
                write!(f, "extensible cbSize {cb_size} is below {minimum}")
            }
            Self::CbSizeExceedsFormat {
                cb_size,
                format_size,
            } => write!(
                f,
                "cbSize {cb_size} does not fit in FormatSize {format_size}"
            ),
            Self::SubFormatMismatch => f.write_str("SubFormat disagrees with the wave format"),
            Self::BlockAlign { expected, found } => {
                write!(f, "nBlockAlign {found}, expected {expected}")
            }
            Self::AvgBytesPerSec { expected, found } => {
                write!(f, "nAvgBytesPerSec {found}, expected {expected}")
            }
            Self::ValidBitsExceedContainer { valid, container } => {
                write!(f, "{valid} valid bits in a {container}-bit container")
            }
            Self::MajorFormat => f.write_str("major format is not audio"),
            Self::Specifier => f.write_str("specifier is not WAVEFORMATEX"),
            Self::FormatTag(tag) => write!(f, "unsupported format tag {tag:#06x}"),
            Self::SubFormat => f.write_str("sub-format is neither PCM nor IEEE float"),
            Self::Channels(channels) => write!(f, "unsupported channel count {channels}"),
            Self::SampleRate(rate) => write!(f, "unsupported sample rate {rate}"),
            Self::BitsPerSample { bits, valid } => {
                write!(f, "unsupported sample size {valid} valid bits in {bits}")
            }
            Self::ChannelMask(mask) => write!(f, "unsupported speaker mask {mask:#x}"),
            Self::NoIntersection => f.write_str("no format in common with the device's range"),
        }
    }
}

impl core::error::Error for FormatError {}

/// Why a result could not be written into the caller's output buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputSizeError {
    /// The output length was 0: the caller asks for the size.
    SizeQuery,
    /// The output length is non-zero but below the size of the result.
    TooSmall {
        /// The length the caller gave.
        length: u32,
    },
}

impl OutputSizeError {
    /// The size the caller must provide (store it in `*ResultantFormatLength`).
    #[must_use]
    pub const fn required(&self) -> u32 {
        KSDATAFORMAT_WAVEFORMATEXTENSIBLE_SIZE
    }

    /// [`STATUS_BUFFER_OVERFLOW`] for a size query, [`STATUS_BUFFER_TOO_SMALL`] otherwise.
    #[must_use]
    pub const fn status(&self) -> NTSTATUS {
        match self {
            Self::SizeQuery => STATUS_BUFFER_OVERFLOW,
            Self::TooSmall { .. } => STATUS_BUFFER_TOO_SMALL,
        }
    }
}

impl core::fmt::Display for OutputSizeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::SizeQuery => write!(f, "size query: {} bytes needed", self.required()),
            Self::TooSmall { length } => {
                write!(f, "output of {length} bytes, {} needed", self.required())
            }
        }
    }
}

impl core::error::Error for OutputSizeError {}

/// The size-probe rule of `DataRangeIntersection` for an output buffer of `length` bytes
/// (`OutputBufferLength`): `Ok(104)`, the bytes to write, when it is large enough.
///
/// # Errors
/// [`OutputSizeError::SizeQuery`] when `length` is 0 (return `STATUS_BUFFER_OVERFLOW` with the
/// required size), [`OutputSizeError::TooSmall`] when it is non-zero but below 104.
pub const fn check_output_length(length: u32) -> Result<u32, OutputSizeError> {
    if length == 0 {
        Err(OutputSizeError::SizeQuery)
    } else if length < KSDATAFORMAT_WAVEFORMATEXTENSIBLE_SIZE {
        Err(OutputSizeError::TooSmall { length })
    } else {
        Ok(KSDATAFORMAT_WAVEFORMATEXTENSIBLE_SIZE)
    }
}

/// What a pin's data range admits (the content of its `KSDATARANGE_AUDIO`s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataRange {
    /// The sample types, in order of preference.
    pub samples: &'static [SampleFormat],
    /// The channel count (the device streams exactly this many).
    pub channels: u16,
    /// The lowest rate, inclusive.
    pub min_rate: u32,
    /// The highest rate, inclusive.
    pub max_rate: u32,
}

impl DataRange {
    /// The device's range: every sample type, stereo, 44 100 to 48 000 Hz.
    pub const DEVICE: Self = Self {
        samples: &SampleFormat::ALL,
        channels: SUPPORTED_CHANNELS,
        min_rate: 44_100,
        max_rate: 48_000,
    };

    /// Whether `format` lies inside this range.
    #[must_use]
    pub fn contains(&self, format: &Format) -> bool {
        self.samples.contains(&format.sample)
            && format.channels == self.channels
            && (self.min_rate..=self.max_rate).contains(&format.rate)
    }

    /// The formats of this range, best first: [`Format::PREFERRED`] when the range holds it, then
    /// by sample type (in the range's order), 48 kHz before 44.1 kHz.
    pub fn candidates(&self) -> impl Iterator<Item = Format> + '_ {
        let preferred = core::iter::once(Format::PREFERRED);
        let rest = self.samples.iter().flat_map(|&sample| {
            [48_000, 44_100]
                .into_iter()
                .filter_map(move |rate| Format::new(sample, SUPPORTED_CHANNELS, rate).ok())
        });
        preferred
            .chain(rest.filter(|format| *format != Format::PREFERRED))
            .filter(|format| self.contains(format))
    }

    /// The best format of this range, if it holds any.
    #[must_use]
    pub fn preferred(&self) -> Option<Format> {
        self.candidates().next()
    }
}

/// What `DataRangeIntersection` answers for the device's `range` and what the client sent.
///
/// `requested` is the client's `KSDATARANGE` bytes (`None` when the client gave nothing to
/// match, e.g. a wildcard the shell already vetted):
/// - `FormatSize` 88 ([`KSDATARANGE_AUDIO_SIZE`]) with the `WAVEFORMATEX` specifier is a
///   `KSDATARANGE_AUDIO`: the best of [`DataRange::candidates`] that also lies within the
///   client's limits (maximum channels, bits, rates; major format and sub-format may be the
///   wildcard). A 24-in-32 format matches when its container or its valid bits lie within the
///   client's bit limits.
/// - any other size is a complete format (`KSDATAFORMAT` + wave format, as a proposed format
///   or a client that sends one): it is the answer if it parses and lies inside `range`;
///   otherwise the answer is the range's preferred format.
///
/// The result is written with [`Format::write_extensible`], after [`check_output_length`].
///
/// # Errors
/// Malformed bytes ([`FormatError::is_malformed`]) whatever their shape; a client range that is
/// not audio / `WAVEFORMATEX` or not PCM / float ([`FormatError::MajorFormat`],
/// [`FormatError::Specifier`], [`FormatError::SubFormat`]); [`FormatError::NoIntersection`]
/// when nothing fits both.
pub fn intersect(range: &DataRange, requested: Option<&[u8]>) -> Result<Format, FormatError> {
    let Some(bytes) = requested else {
        return range.preferred().ok_or(FormatError::NoIntersection);
    };
    let header = Header::read(bytes)?;
    if header.format_size == KSDATARANGE_AUDIO_SIZE
        && header.specifier == KSDATAFORMAT_SPECIFIER_WAVEFORMATEX
    {
        return intersect_audio_range(range, &header);
    }
    match Format::parse(bytes) {
        Ok(format) if range.contains(&format) => Ok(format),
        Err(error) if error.is_malformed() => Err(error),
        Ok(_) | Err(_) => range.preferred().ok_or(FormatError::NoIntersection),
    }
}

/// The client's `KSDATARANGE_AUDIO` limits.
struct AudioLimits {
    max_channels: u32,
    min_bits: u32,
    max_bits: u32,
    min_rate: u32,
    max_rate: u32,
}

fn intersect_audio_range(range: &DataRange, header: &Header<'_>) -> Result<Format, FormatError> {
    if header.major != KSDATAFORMAT_TYPE_AUDIO && header.major != GUID_WILDCARD {
        return Err(FormatError::MajorFormat);
    }
    let (pcm, float) = if header.sub_format == GUID_WILDCARD {
        (true, true)
    } else if header.sub_format == KSDATAFORMAT_SUBTYPE_PCM {
        (true, false)
    } else if header.sub_format == KSDATAFORMAT_SUBTYPE_IEEE_FLOAT {
        (false, true)
    } else {
        return Err(FormatError::SubFormat);
    };
    let field = |offset: usize| read_u32(header.body, offset);
    let limits = match (field(0), field(4), field(8), field(12), field(16)) {
        (Some(max_channels), Some(min_bits), Some(max_bits), Some(min_rate), Some(max_rate)) => {
            AudioLimits {
                max_channels,
                min_bits,
                max_bits,
                min_rate,
                max_rate,
            }
        }
        _ => {
            return Err(FormatError::FormatSizeTooSmall {
                format_size: header.format_size,
                minimum: KSDATARANGE_AUDIO_SIZE,
            });
        }
    };
    let bits_fit = |bits: u16| (limits.min_bits..=limits.max_bits).contains(&u32::from(bits));
    range
        .candidates()
        .find(|format| {
            let sample = format.sample;
            let type_fits = if sample == SampleFormat::Float32 {
                float
            } else {
                pcm
            };
            type_fits
                && u32::from(format.channels) <= limits.max_channels
                && (bits_fit(sample.container_bits()) || bits_fit(sample.valid_bits()))
                && (limits.min_rate..=limits.max_rate).contains(&format.rate)
        })
        .ok_or(FormatError::NoIntersection)
}

/// A `KSDATAFORMAT` header whose `FormatSize` has been checked against the buffer.
struct Header<'a> {
    format_size: u32,
    major: [u8; 16],
    sub_format: [u8; 16],
    specifier: [u8; 16],
    /// The bytes after the header, up to `FormatSize`.
    body: &'a [u8],
}

impl<'a> Header<'a> {
    fn read(bytes: &'a [u8]) -> Result<Self, FormatError> {
        let truncated = FormatError::Truncated {
            needed: KSDATAFORMAT_SIZE,
            available: bytes.len(),
        };
        let format_size = read_u32(bytes, 0).ok_or(truncated)?;
        let (Some(major), Some(sub_format), Some(specifier)) = (
            read_guid(bytes, 16),
            read_guid(bytes, 32),
            read_guid(bytes, 48),
        ) else {
            return Err(truncated);
        };
        if format_size < KSDATAFORMAT_SIZE {
            return Err(FormatError::FormatSizeTooSmall {
                format_size,
                minimum: KSDATAFORMAT_SIZE,
            });
        }
        let exceeds = FormatError::FormatSizeExceedsBuffer {
            format_size,
            available: bytes.len(),
        };
        let end = usize::try_from(format_size).map_err(|_| exceeds)?;
        let body = bytes.get(64..end).ok_or(exceeds)?;
        Ok(Self {
            format_size,
            major,
            sub_format,
            specifier,
            body,
        })
    }
}

/// The `WAVEFORMATEX` fields (offsets relative to the end of the `KSDATAFORMAT`).
struct Wave {
    tag: u16,
    channels: u16,
    rate: u32,
    avg_bytes_per_sec: u32,
    block_align: u16,
    bits: u16,
    cb_size: u16,
}

impl Wave {
    fn read(body: &[u8]) -> Option<Self> {
        Some(Self {
            tag: read_u16(body, 0)?,
            channels: read_u16(body, 2)?,
            rate: read_u32(body, 4)?,
            avg_bytes_per_sec: read_u32(body, 8)?,
            block_align: read_u16(body, 12)?,
            bits: read_u16(body, 14)?,
            cb_size: read_u16(body, 16)?,
        })
    }
}

/// The `WAVEFORMATEXTENSIBLE` fields after the `WAVEFORMATEX`.
struct Extension {
    valid_bits: u16,
    channel_mask: u32,
    sub_format: [u8; 16],
}

impl Extension {
    fn read(body: &[u8]) -> Option<Self> {
        Some(Self {
            valid_bits: read_u16(body, 18)?,
            channel_mask: read_u32(body, 20)?,
            sub_format: read_guid(body, 24)?,
        })
    }
}

fn read_array<const N: usize>(bytes: &[u8], offset: usize) -> Option<[u8; N]> {
    bytes.get(offset..offset.checked_add(N)?)?.try_into().ok()
}

fn read_u16(bytes: &[u8], offset: usize) -> Option<u16> {
    read_array(bytes, offset).map(u16::from_le_bytes)
}

fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    read_array(bytes, offset).map(u32::from_le_bytes)
}

fn read_guid(bytes: &[u8], offset: usize) -> Option<[u8; 16]> {
    read_array(bytes, offset)
}

/// Writes little-endian fields in sequence into a buffer known to be large enough.
struct Writer<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, value: &[u8]) {
        let end = self.at.saturating_add(value.len());
        if let Some(slot) = self.out.get_mut(self.at..end) {
            slot.copy_from_slice(value);
        }
        self.at = end;
    }

    fn u16(&mut self, value: u16) {
        self.bytes(&value.to_le_bytes());
    }

    fn u32(&mut self, value: u32) {
        self.bytes(&value.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Field values for building test formats byte by byte.
    #[derive(Clone, Copy)]
    struct Spec {
        format_size: u32,
        major: [u8; 16],
        ks_sub: [u8; 16],
        specifier: [u8; 16],
        tag: u16,
        channels: u16,
        rate: u32,
        avg: u32,
        align: u16,
        bits: u16,
        cb_size: u16,
        valid: u16,
        mask: u32,
        ext_sub: [u8; 16],
    }

    impl Spec {
        fn extensible(sample: SampleFormat, rate: u32) -> Self {
            let align = 2 * sample.container_bytes();
            Self {
                format_size: 104,
                major: KSDATAFORMAT_TYPE_AUDIO,
                ks_sub: sample.sub_format(),
                specifier: KSDATAFORMAT_SPECIFIER_WAVEFORMATEX,
                tag: WAVE_FORMAT_EXTENSIBLE,
                channels: 2,
                rate,
                avg: rate * u32::from(align),
                align,
                bits: sample.container_bits(),
                cb_size: 22,
                valid: sample.valid_bits(),
                mask: KSAUDIO_SPEAKER_STEREO,
                ext_sub: sample.sub_format(),
            }
        }

        fn plain(tag: u16, bits: u16, rate: u32) -> Self {
            let align = 2 * bits / 8;
            let sub = if tag == WAVE_FORMAT_IEEE_FLOAT {
                KSDATAFORMAT_SUBTYPE_IEEE_FLOAT
            } else {
                KSDATAFORMAT_SUBTYPE_PCM
            };
            Self {
                format_size: 82,
                ks_sub: sub,
                tag,
                avg: rate * u32::from(align),
                align,
                bits,
                cb_size: 0,
                ..Self::extensible(SampleFormat::Pcm16, rate)
            }
        }

        /// 104 bytes, whatever `format_size` says.
        fn bytes(&self) -> [u8; 104] {
            let mut out = [0u8; 104];
            let mut w = Writer {
                out: &mut out,
                at: 0,
            };
            w.u32(self.format_size);
            w.u32(0);
            w.u32(u32::from(self.align));
            w.u32(0);
            w.bytes(&self.major);
            w.bytes(&self.ks_sub);
            w.bytes(&self.specifier);
            w.u16(self.tag);
            w.u16(self.channels);
            w.u32(self.rate);
            w.u32(self.avg);
            w.u16(self.align);
            w.u16(self.bits);
            w.u16(self.cb_size);
            w.u16(self.valid);
            w.u32(self.mask);
            w.bytes(&self.ext_sub);
            assert_eq!(w.at, 104);
            out
        }

        fn parse(&self) -> Result<Format, FormatError> {
            let bytes = self.bytes();
            let len = usize::try_from(self.format_size).unwrap().min(104);
            Format::parse(&bytes[..len])
        }
    }

    fn format(sample: SampleFormat, rate: u32) -> Format {
        Format::new(sample, 2, rate).unwrap()
    }

    fn audio_range(
        sub: [u8; 16],
        max_channels: u32,
        bits: (u32, u32),
        rates: (u32, u32),
    ) -> [u8; 88] {
        let mut out = [0u8; 88];
        let mut w = Writer {
            out: &mut out,
            at: 0,
        };
        w.u32(88);
        w.u32(0);
        w.u32(0);
        w.u32(0);
        w.bytes(&KSDATAFORMAT_TYPE_AUDIO);
        w.bytes(&sub);
        w.bytes(&KSDATAFORMAT_SPECIFIER_WAVEFORMATEX);
        for value in [max_channels, bits.0, bits.1, rates.0, rates.1] {
            w.u32(value);
        }
        assert_eq!(w.at, 84);
        out
    }

    #[test]
    fn guid_wire_layout_swaps_the_first_three_fields_and_keeps_data4() {
        assert_eq!(
            KSDATAFORMAT_TYPE_AUDIO,
            [
                0x61, 0x75, 0x64, 0x73, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38,
                0x9B, 0x71
            ]
        );
        assert_eq!(
            KSDATAFORMAT_SPECIFIER_WAVEFORMATEX,
            [
                0x81, 0x9F, 0x58, 0x05, 0x56, 0xC3, 0xCE, 0x11, 0xBF, 0x01, 0x00, 0xAA, 0x00, 0x55,
                0x59, 0x5A
            ]
        );
        assert_eq!(KSDATAFORMAT_SUBTYPE_PCM[..4], [1, 0, 0, 0]);
        assert_eq!(KSDATAFORMAT_SUBTYPE_IEEE_FLOAT[..4], [3, 0, 0, 0]);
    }

    #[test]
    fn guid_wire_matches_the_portcls_sys_guid_in_memory() {
        let value = 0x0558_9F81_C356_11CE_BF01_00AA_0055_595A;
        let guid = portcls_sys::GUID::from_u128(value);
        let mut expected = [0u8; 16];
        expected[..4].copy_from_slice(&guid.Data1.to_le_bytes());
        expected[4..6].copy_from_slice(&guid.Data2.to_le_bytes());
        expected[6..8].copy_from_slice(&guid.Data3.to_le_bytes());
        expected[8..].copy_from_slice(&guid.Data4);
        assert_eq!(guid_wire(value), expected);
    }

    #[test]
    fn derived_sizes_of_every_supported_format() {
        let cases = [
            (SampleFormat::Pcm16, 44_100, 4, 176_400, 16),
            (SampleFormat::Pcm16, 48_000, 4, 192_000, 16),
            (SampleFormat::Pcm24In32, 44_100, 8, 352_800, 24),
            (SampleFormat::Pcm24In32, 48_000, 8, 384_000, 24),
            (SampleFormat::Float32, 44_100, 8, 352_800, 32),
            (SampleFormat::Float32, 48_000, 8, 384_000, 32),
        ];
        for (sample, rate, align, avg, valid) in cases {
            let f = format(sample, rate);
            assert_eq!(f.block_align(), align);
            assert_eq!(f.bytes_per_frame(), u32::from(align));
            assert_eq!(f.avg_bytes_per_sec(), avg);
            assert_eq!(f.valid_bits(), valid);
            assert_eq!(f.channels(), 2);
            assert_eq!(f.rate(), rate);
            assert_eq!(f.sample(), sample);
        }
    }

    #[test]
    fn new_refuses_other_channel_counts_and_rates() {
        assert_eq!(
            Format::new(SampleFormat::Pcm16, 1, 48_000),
            Err(FormatError::Channels(1))
        );
        assert_eq!(
            Format::new(SampleFormat::Pcm16, 2, 96_000),
            Err(FormatError::SampleRate(96_000))
        );
        assert_eq!(
            Format::new(SampleFormat::Pcm16, 2, 46_000),
            Err(FormatError::SampleRate(46_000))
        );
    }

    #[test]
    fn parses_every_supported_extensible_format() {
        for sample in SampleFormat::ALL {
            for rate in SUPPORTED_RATES {
                assert_eq!(
                    Spec::extensible(sample, rate).parse(),
                    Ok(format(sample, rate))
                );
            }
        }
    }

    #[test]
    fn parses_plain_pcm16_and_float32_waveformatex() {
        assert_eq!(
            Spec::plain(WAVE_FORMAT_PCM, 16, 44_100).parse(),
            Ok(format(SampleFormat::Pcm16, 44_100))
        );
        assert_eq!(
            Spec::plain(WAVE_FORMAT_IEEE_FLOAT, 32, 48_000).parse(),
            Ok(format(SampleFormat::Float32, 48_000))
        );
    }

    #[test]
    fn plain_pcm_ignores_cb_size_but_float_checks_it() {
        let mut pcm = Spec::plain(WAVE_FORMAT_PCM, 16, 48_000);
        pcm.cb_size = 0xFFFF;
        assert_eq!(pcm.parse(), Ok(Format::PREFERRED));
        let mut float = Spec::plain(WAVE_FORMAT_IEEE_FLOAT, 32, 48_000);
        float.cb_size = 1;
        assert_eq!(
            float.parse(),
            Err(FormatError::CbSizeExceedsFormat {
                cb_size: 1,
                format_size: 82
            })
        );
    }

    #[test]
    fn parse_reads_unaligned_input() {
        let bytes = Spec::extensible(SampleFormat::Pcm24In32, 44_100).bytes();
        let mut shifted = [0u8; 105];
        shifted[1..].copy_from_slice(&bytes);
        assert_eq!(
            Format::parse(&shifted[1..]),
            Ok(format(SampleFormat::Pcm24In32, 44_100))
        );
    }

    #[test]
    fn parse_ignores_bytes_beyond_format_size() {
        let bytes = Spec::plain(WAVE_FORMAT_PCM, 16, 48_000).bytes();
        // 104 bytes given, FormatSize 82: the 22 bytes after are not looked at.
        assert_eq!(Format::parse(&bytes), Ok(Format::PREFERRED));
    }

    #[test]
    fn buffer_shorter_than_the_header_is_truncated_at_every_length() {
        let bytes = Spec::extensible(SampleFormat::Pcm16, 48_000).bytes();
        for len in 0..64 {
            assert_eq!(
                Format::parse(&bytes[..len]),
                Err(FormatError::Truncated {
                    needed: 64,
                    available: len
                })
            );
        }
    }

    #[test]
    fn every_short_prefix_is_refused_as_malformed_never_panics() {
        let bytes = Spec::extensible(SampleFormat::Float32, 48_000).bytes();
        for len in 0..104 {
            let error = Format::parse(&bytes[..len]).unwrap_err();
            assert!(error.is_malformed(), "length {len}: {error:?}");
            assert_eq!(error.status(), STATUS_INVALID_PARAMETER);
        }
    }

    #[test]
    fn format_size_larger_than_the_buffer_is_a_lying_size() {
        let mut spec = Spec::extensible(SampleFormat::Pcm16, 48_000);
        spec.format_size = 105;
        let bytes = spec.bytes();
        assert_eq!(
            Format::parse(&bytes),
            Err(FormatError::FormatSizeExceedsBuffer {
                format_size: 105,
                available: 104
            })
        );
        spec.format_size = u32::MAX;
        assert_eq!(
            Format::parse(&spec.bytes()),
            Err(FormatError::FormatSizeExceedsBuffer {
                format_size: u32::MAX,
                available: 104
            })
        );
    }

    #[test]
    fn format_size_below_each_structure_is_refused() {
        let mut spec = Spec::extensible(SampleFormat::Pcm16, 48_000);
        for (size, minimum) in [(0, 64), (63, 64), (64, 82), (81, 82), (82, 104), (103, 104)] {
            spec.format_size = size;
            assert_eq!(
                Format::parse(&spec.bytes()),
                Err(FormatError::FormatSizeTooSmall {
                    format_size: size,
                    minimum
                }),
                "FormatSize {size}"
            );
        }
    }

    #[test]
    fn extensible_with_small_cb_size_is_malformed() {
        let mut spec = Spec::extensible(SampleFormat::Pcm16, 48_000);
        spec.cb_size = 21;
        assert_eq!(
            spec.parse(),
            Err(FormatError::CbSizeTooSmall {
                cb_size: 21,
                minimum: 22
            })
        );
        spec.cb_size = 23; // one byte more than FormatSize 104 holds
        assert_eq!(
            spec.parse(),
            Err(FormatError::CbSizeExceedsFormat {
                cb_size: 23,
                format_size: 104
            })
        );
    }

    #[test]
    fn wrong_major_format_and_specifier_are_unsupported() {
        let mut spec = Spec::extensible(SampleFormat::Pcm16, 48_000);
        spec.major = guid_wire(0x7364_6976_0000_0010_8000_00AA_0038_9B71); // video
        assert_eq!(spec.parse(), Err(FormatError::MajorFormat));
        assert_eq!(FormatError::MajorFormat.status(), STATUS_NO_MATCH);
        let mut spec = Spec::extensible(SampleFormat::Pcm16, 48_000);
        spec.specifier = guid_wire(0x5185_90A2_A184_11D0_8522_00C0_4FD9_BAF3); // DSOUND
        assert_eq!(spec.parse(), Err(FormatError::Specifier));
    }

    #[test]
    fn unknown_format_tag_is_unsupported() {
        let mut spec = Spec::plain(WAVE_FORMAT_PCM, 16, 48_000);
        spec.tag = 0x55; // MPEG layer 3
        assert_eq!(spec.parse(), Err(FormatError::FormatTag(0x55)));
        assert_eq!(FormatError::FormatTag(0x55).status(), STATUS_NO_MATCH);
    }

    #[test]
    fn sub_format_disagreeing_with_the_tag_is_malformed() {
        let mut spec = Spec::plain(WAVE_FORMAT_PCM, 16, 48_000);
        spec.ks_sub = KSDATAFORMAT_SUBTYPE_IEEE_FLOAT;
        assert_eq!(spec.parse(), Err(FormatError::SubFormatMismatch));
        let mut spec = Spec::extensible(SampleFormat::Float32, 48_000);
        spec.ks_sub = KSDATAFORMAT_SUBTYPE_PCM;
        assert_eq!(spec.parse(), Err(FormatError::SubFormatMismatch));
        assert_eq!(
            FormatError::SubFormatMismatch.status(),
            STATUS_INVALID_PARAMETER
        );
    }

    #[test]
    fn extensible_sub_format_other_than_pcm_or_float_is_unsupported() {
        let mut spec = Spec::extensible(SampleFormat::Pcm16, 48_000);
        let alaw = guid_wire(0x0000_0006_0000_0010_8000_00AA_0038_9B71);
        spec.ks_sub = alaw;
        spec.ext_sub = alaw;
        assert_eq!(spec.parse(), Err(FormatError::SubFormat));
    }

    #[test]
    fn block_align_and_byte_rate_must_follow_from_the_other_fields() {
        let mut spec = Spec::extensible(SampleFormat::Pcm16, 48_000);
        spec.align = 8;
        spec.avg = 48_000 * 8;
        assert_eq!(
            spec.parse(),
            Err(FormatError::BlockAlign {
                expected: 4,
                found: 8
            })
        );
        let mut spec = Spec::extensible(SampleFormat::Pcm16, 48_000);
        spec.avg = 192_001;
        assert_eq!(
            spec.parse(),
            Err(FormatError::AvgBytesPerSec {
                expected: 192_000,
                found: 192_001
            })
        );
        assert_eq!(
            FormatError::BlockAlign {
                expected: 4,
                found: 8
            }
            .status(),
            STATUS_INVALID_PARAMETER
        );
    }

    #[test]
    fn consistency_checks_cannot_overflow_on_extreme_fields() {
        let mut spec = Spec::extensible(SampleFormat::Pcm16, 48_000);
        spec.channels = u16::MAX;
        spec.bits = u16::MAX;
        spec.align = u16::MAX;
        spec.rate = u32::MAX;
        spec.avg = u32::MAX;
        assert_eq!(
            spec.parse(),
            Err(FormatError::BlockAlign {
                expected: 65_535 * 8192,
                found: u16::MAX
            })
        );
    }

    #[test]
    fn more_valid_bits_than_the_container_is_malformed() {
        let mut spec = Spec::extensible(SampleFormat::Pcm16, 48_000);
        spec.valid = 17;
        assert_eq!(
            spec.parse(),
            Err(FormatError::ValidBitsExceedContainer {
                valid: 17,
                container: 16
            })
        );
    }

    #[test]
    fn unsupported_channels_rate_bits_and_mask_are_no_match() {
        let mut spec = Spec::extensible(SampleFormat::Pcm16, 48_000);
        spec.channels = 1;
        spec.align = 2;
        spec.avg = 96_000;
        spec.mask = 0x4;
        assert_eq!(spec.parse(), Err(FormatError::Channels(1)));

        let spec = Spec::extensible(SampleFormat::Pcm16, 96_000);
        assert_eq!(spec.parse(), Err(FormatError::SampleRate(96_000)));

        let mut spec = Spec::extensible(SampleFormat::Pcm24In32, 48_000);
        spec.valid = 32;
        assert_eq!(
            spec.parse(),
            Err(FormatError::BitsPerSample {
                bits: 32,
                valid: 32
            })
        );

        // 32-bit plain PCM has 32 valid bits: not the device's 24-in-32.
        let spec = Spec::plain(WAVE_FORMAT_PCM, 32, 48_000);
        assert_eq!(
            spec.parse(),
            Err(FormatError::BitsPerSample {
                bits: 32,
                valid: 32
            })
        );

        let mut spec = Spec::extensible(SampleFormat::Float32, 48_000);
        spec.valid = 24;
        assert_eq!(
            spec.parse(),
            Err(FormatError::BitsPerSample {
                bits: 32,
                valid: 24
            })
        );

        let mut spec = Spec::extensible(SampleFormat::Pcm16, 48_000);
        spec.mask = 0;
        assert_eq!(spec.parse(), Err(FormatError::ChannelMask(0)));
        spec.mask = 0x600; // side left | side right
        assert_eq!(spec.parse(), Err(FormatError::ChannelMask(0x600)));

        for error in [
            FormatError::Channels(1),
            FormatError::SampleRate(96_000),
            FormatError::BitsPerSample {
                bits: 32,
                valid: 32,
            },
            FormatError::ChannelMask(0),
            FormatError::SubFormat,
            FormatError::Specifier,
            FormatError::NoIntersection,
        ] {
            assert!(!error.is_malformed());
            assert_eq!(error.status(), STATUS_NO_MATCH);
        }
    }

    #[test]
    fn status_codes_have_their_documented_values() {
        assert_eq!(STATUS_NO_MATCH.cast_unsigned(), 0xC000_001E);
        assert_eq!(STATUS_BUFFER_OVERFLOW.cast_unsigned(), 0x8000_0005);
        assert_eq!(STATUS_BUFFER_TOO_SMALL.cast_unsigned(), 0xC000_0023);
        assert_eq!(STATUS_INVALID_PARAMETER.cast_unsigned(), 0xC000_000D);
    }

    #[test]
    fn written_extensible_format_has_every_field_in_place() {
        let f = format(SampleFormat::Pcm24In32, 44_100);
        let mut out = [0xAAu8; 110];
        assert_eq!(f.write_extensible(&mut out), Ok(104));
        assert_eq!(
            out[..104],
            Spec::extensible(SampleFormat::Pcm24In32, 44_100).bytes()
        );
        assert_eq!(read_u32(&out, 0), Some(104));
        assert_eq!(read_u32(&out, 8), Some(8)); // SampleSize = block align
        assert_eq!(read_u16(&out, 64), Some(0xFFFE));
        assert_eq!(read_u32(&out, 68), Some(44_100));
        assert_eq!(read_u32(&out, 72), Some(352_800));
        assert_eq!(read_u16(&out, 76), Some(8));
        assert_eq!(read_u16(&out, 78), Some(32));
        assert_eq!(read_u16(&out, 80), Some(22));
        assert_eq!(read_u16(&out, 82), Some(24));
        assert_eq!(read_u32(&out, 84), Some(3));
        assert_eq!(out[88..104], KSDATAFORMAT_SUBTYPE_PCM);
        assert_eq!(out[104..], [0xAA; 6], "nothing written past 104");
    }

    #[test]
    fn written_formats_parse_back_to_themselves() {
        for sample in SampleFormat::ALL {
            for rate in SUPPORTED_RATES {
                let f = format(sample, rate);
                let mut out = [0u8; 104];
                assert_eq!(f.write_extensible(&mut out), Ok(104));
                assert_eq!(Format::parse(&out), Ok(f));
            }
        }
    }

    #[test]
    fn writing_into_a_small_buffer_reports_the_size_and_writes_nothing() {
        let mut out = [0x55u8; 103];
        assert_eq!(
            Format::PREFERRED.write_extensible(&mut out),
            Err(OutputSizeError::TooSmall { length: 103 })
        );
        assert_eq!(out, [0x55; 103]);
        assert_eq!(
            Format::PREFERRED.write_extensible(&mut []),
            Err(OutputSizeError::SizeQuery)
        );
    }

    #[test]
    fn size_probe_is_overflow_for_zero_and_too_small_below_104() {
        let probe = check_output_length(0).unwrap_err();
        assert_eq!(probe, OutputSizeError::SizeQuery);
        assert_eq!(probe.status(), STATUS_BUFFER_OVERFLOW);
        assert_eq!(probe.required(), 104);
        for length in [1, 64, 82, 103] {
            let error = check_output_length(length).unwrap_err();
            assert_eq!(error, OutputSizeError::TooSmall { length });
            assert_eq!(error.status(), STATUS_BUFFER_TOO_SMALL);
            assert_eq!(error.required(), 104);
        }
        assert_eq!(check_output_length(104), Ok(104));
        assert_eq!(check_output_length(u32::MAX), Ok(104));
    }

    #[test]
    fn device_range_contains_exactly_the_supported_formats() {
        let range = DataRange::DEVICE;
        for sample in SampleFormat::ALL {
            for rate in SUPPORTED_RATES {
                assert!(range.contains(&format(sample, rate)));
            }
        }
        let pcm16_48k_only = DataRange {
            samples: &[SampleFormat::Pcm16],
            channels: 2,
            min_rate: 48_000,
            max_rate: 48_000,
        };
        assert!(pcm16_48k_only.contains(&Format::PREFERRED));
        assert!(!pcm16_48k_only.contains(&format(SampleFormat::Pcm16, 44_100)));
        assert!(!pcm16_48k_only.contains(&format(SampleFormat::Float32, 48_000)));
    }

    #[test]
    fn candidates_start_with_the_preferred_format_then_follow_the_range_order_once_each() {
        let mut seen = [None; 8];
        for (slot, f) in seen.iter_mut().zip(DataRange::DEVICE.candidates()) {
            *slot = Some(f);
        }
        assert_eq!(
            seen,
            [
                Some(Format::PREFERRED),
                Some(format(SampleFormat::Pcm16, 44_100)),
                Some(format(SampleFormat::Pcm24In32, 48_000)),
                Some(format(SampleFormat::Pcm24In32, 44_100)),
                Some(format(SampleFormat::Float32, 48_000)),
                Some(format(SampleFormat::Float32, 44_100)),
                None,
                None,
            ]
        );
        let float_44k = DataRange {
            samples: &[SampleFormat::Float32],
            channels: 2,
            min_rate: 44_100,
            max_rate: 44_100,
        };
        assert_eq!(
            float_44k.preferred(),
            Some(format(SampleFormat::Float32, 44_100))
        );
        let empty = DataRange {
            samples: &[],
            ..DataRange::DEVICE
        };
        assert_eq!(empty.preferred(), None);
        assert_eq!(intersect(&empty, None), Err(FormatError::NoIntersection));
    }

    #[test]
    fn intersect_without_request_answers_the_preferred_format() {
        assert_eq!(intersect(&DataRange::DEVICE, None), Ok(Format::PREFERRED));
    }

    #[test]
    fn intersect_keeps_a_requested_format_inside_the_range() {
        for sample in SampleFormat::ALL {
            for rate in SUPPORTED_RATES {
                let bytes = Spec::extensible(sample, rate).bytes();
                assert_eq!(
                    intersect(&DataRange::DEVICE, Some(&bytes)),
                    Ok(format(sample, rate))
                );
            }
        }
    }

    #[test]
    fn intersect_falls_back_to_preferred_for_a_supported_but_out_of_range_or_unsupported_request() {
        let pcm_only = DataRange {
            samples: &[SampleFormat::Pcm16],
            ..DataRange::DEVICE
        };
        let float = Spec::extensible(SampleFormat::Float32, 44_100).bytes();
        assert_eq!(intersect(&pcm_only, Some(&float)), Ok(Format::PREFERRED));
        let mono = Spec {
            channels: 1,
            align: 2,
            avg: 96_000,
            mask: 4,
            ..Spec::extensible(SampleFormat::Pcm16, 48_000)
        };
        assert_eq!(
            intersect(&DataRange::DEVICE, Some(&mono.bytes())),
            Ok(Format::PREFERRED)
        );
    }

    #[test]
    fn intersect_refuses_a_malformed_request() {
        let mut spec = Spec::extensible(SampleFormat::Pcm16, 48_000);
        spec.align = 3;
        assert_eq!(
            intersect(&DataRange::DEVICE, Some(&spec.bytes())),
            Err(FormatError::BlockAlign {
                expected: 4,
                found: 3
            })
        );
        let bytes = Spec::extensible(SampleFormat::Pcm16, 48_000).bytes();
        assert_eq!(
            intersect(&DataRange::DEVICE, Some(&bytes[..100])),
            Err(FormatError::FormatSizeExceedsBuffer {
                format_size: 104,
                available: 100
            })
        );
    }

    #[test]
    fn intersect_with_a_client_audio_range_picks_the_best_common_format() {
        let range = DataRange::DEVICE;
        let any = audio_range(GUID_WILDCARD, 8, (8, 32), (8_000, 192_000));
        assert_eq!(intersect(&range, Some(&any)), Ok(Format::PREFERRED));

        let only_44k = audio_range(KSDATAFORMAT_SUBTYPE_PCM, 2, (16, 16), (44_100, 44_100));
        assert_eq!(
            intersect(&range, Some(&only_44k)),
            Ok(format(SampleFormat::Pcm16, 44_100))
        );

        let float = audio_range(
            KSDATAFORMAT_SUBTYPE_IEEE_FLOAT,
            2,
            (32, 32),
            (8_000, 48_000),
        );
        assert_eq!(
            intersect(&range, Some(&float)),
            Ok(format(SampleFormat::Float32, 48_000))
        );

        // 24 valid bits in a 32-bit container matches a client asking for 24 bits.
        let pcm24 = audio_range(KSDATAFORMAT_SUBTYPE_PCM, 2, (24, 24), (48_000, 48_000));
        assert_eq!(
            intersect(&range, Some(&pcm24)),
            Ok(format(SampleFormat::Pcm24In32, 48_000))
        );
    }

    #[test]
    fn intersect_with_a_disjoint_client_range_is_no_match() {
        let range = DataRange::DEVICE;
        for client in [
            audio_range(KSDATAFORMAT_SUBTYPE_PCM, 1, (16, 16), (48_000, 48_000)),
            audio_range(KSDATAFORMAT_SUBTYPE_PCM, 2, (8, 8), (48_000, 48_000)),
            audio_range(KSDATAFORMAT_SUBTYPE_PCM, 2, (16, 32), (96_000, 192_000)),
            audio_range(KSDATAFORMAT_SUBTYPE_PCM, 2, (32, 16), (44_100, 48_000)),
        ] {
            let error = intersect(&range, Some(&client)).unwrap_err();
            assert_eq!(error, FormatError::NoIntersection);
            assert_eq!(error.status(), STATUS_NO_MATCH);
        }
        let mut odd = audio_range(KSDATAFORMAT_SUBTYPE_PCM, 2, (16, 16), (48_000, 48_000));
        odd[32..48].copy_from_slice(&guid_wire(0x0000_0006_0000_0010_8000_00AA_0038_9B71));
        assert_eq!(intersect(&range, Some(&odd)), Err(FormatError::SubFormat));
        let mut video = audio_range(GUID_WILDCARD, 2, (16, 16), (48_000, 48_000));
        video[16..32].copy_from_slice(&[7; 16]);
        assert_eq!(
            intersect(&range, Some(&video)),
            Err(FormatError::MajorFormat)
        );
    }

    #[test]
    fn intersect_with_a_truncated_client_range_is_malformed() {
        let client = audio_range(KSDATAFORMAT_SUBTYPE_PCM, 2, (16, 16), (48_000, 48_000));
        for len in [0, 63, 64, 84, 87] {
            let error = intersect(&DataRange::DEVICE, Some(&client[..len])).unwrap_err();
            assert!(error.is_malformed(), "length {len}: {error:?}");
        }
    }

    #[test]
    fn errors_describe_the_failed_check() {
        use std::string::ToString;
        assert_eq!(
            FormatError::BlockAlign {
                expected: 4,
                found: 3
            }
            .to_string(),
            "nBlockAlign 3, expected 4"
        );
        assert_eq!(
            OutputSizeError::SizeQuery.to_string(),
            "size query: 104 bytes needed"
        );
    }
}
