//! Cyclic buffer geometry: the size a stream's buffer gets, and the copy one DMA period makes.
//!
//! # Buffer size
//! `AllocateAudioBuffer` / `AllocateBufferWithNotification` receive a requested size in bytes.
//! The docs allow the driver to adjust it; this driver, like Microsoft's sample, rounds it
//! *down*, to whole frames, so that positions and offsets always fall on frame boundaries and a
//! frame never straddles the wrap. With `NotificationCount` 2 it also rounds down to an even
//! number of frames, so that the two notification points are exact frames (see
//! [`notification`](crate::notification)). A request smaller than that unit gets one unit (one
//! frame, or two with two notifications): the buffer is never empty. The actual size is
//! reported back to PortCls.
//!
//! # Period copy
//! Each period the DMA thread moves the bytes between two linear byte positions (from the
//! [`Clock`](crate::backend::virtual_device::position::Clock)) in or out of the cyclic buffer. [`period_copy`] turns that
//! into at most two spans (before and after the wrap). If more than a whole buffer elapsed (the
//! thread was starved) only the last buffer's worth is copied and the rest is reported as
//! skipped: the older bytes were already overwritten or are gone.

use crate::format::Format;
use crate::notification::NotificationError;

/// The buffer size the driver allocates for a request of `requested` bytes at `format` with
/// `notification_count` notifications per pass (1 for a buffer without notifications):
/// `requested` rounded down to a multiple of `frame x count` bytes, and at least one such unit.
///
/// # Errors
/// [`NotificationError::Count`] unless `notification_count` is 1 or 2.
pub fn round_buffer_size(
    requested: u32,
    format: &Format,
    notification_count: u32,
) -> Result<u32, NotificationError> {
    if !(1..=2).contains(&notification_count) {
        return Err(NotificationError::Count(notification_count));
    }
    // At most 8 x 2 bytes (the format's invariants).
    let unit = format.bytes_per_frame() * notification_count;
    let Some(unit) = core::num::NonZeroU32::new(unit) else {
        // Not reachable: a format has at least one byte per frame.
        return Ok(0);
    };
    let rounded = requested - requested % unit;
    Ok(rounded.max(unit.get()))
}

/// A run of bytes within the cyclic buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Span {
    /// Offset of the first byte.
    pub offset: u32,
    /// Number of bytes (0 for an empty span).
    pub len: u32,
}

impl Span {
    /// The span as a range for `slice.get(..)`.
    #[must_use]
    pub fn range(&self) -> core::ops::Range<usize> {
        // u32 -> usize is lossless on every target Windows runs on; saturate elsewhere.
        let start = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let len = usize::try_from(self.len).unwrap_or(0);
        start..start.saturating_add(len)
    }
}

/// The copy one period makes: `first`, then `second` (which starts at offset 0 and is empty
/// unless the copy wraps).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PeriodCopy {
    /// The part up to the end of the buffer.
    pub first: Span,
    /// The part after the wrap.
    pub second: Span,
    /// Bytes of the period that were not copied because more than a buffer elapsed.
    pub skipped: u64,
}

impl PeriodCopy {
    /// Bytes copied in all.
    #[must_use]
    pub fn len(&self) -> u64 {
        u64::from(self.first.len) + u64::from(self.second.len)
    }

    /// Whether nothing is copied.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.first.len == 0 && self.second.len == 0
    }
}

/// The spans of a cyclic buffer of `buffer_bytes` that the linear byte positions `from..to`
/// cover. Nothing when `to <= from` or the buffer is empty.
#[must_use]
pub fn period_copy(buffer_bytes: u32, from: u64, to: u64) -> PeriodCopy {
    let size = u64::from(buffer_bytes);
    if to <= from || size == 0 {
        return PeriodCopy::default();
    }
    let total = to - from;
    let skipped = total.saturating_sub(size);
    let start = from + skipped;
    let bytes = total - skipped; // <= size
    let offset = start % size;
    let first = bytes.min(size - offset);
    let second = bytes - first;
    // Each value is at most `size`, a u32.
    let narrow = |value: u64| u32::try_from(value).unwrap_or(buffer_bytes);
    PeriodCopy {
        first: Span {
            offset: narrow(offset),
            len: narrow(first),
        },
        second: Span {
            offset: 0,
            len: narrow(second),
        },
        skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::SampleFormat;
    use crate::notification::Notifications;

    fn format(sample: SampleFormat, rate: u32) -> Format {
        Format::new(sample, 2, rate).unwrap()
    }

    #[test]
    fn requests_round_down_to_whole_frames() {
        let pcm16 = format(SampleFormat::Pcm16, 48_000); // 4-byte frames
        assert_eq!(round_buffer_size(1_920, &pcm16, 1), Ok(1_920));
        assert_eq!(round_buffer_size(1_923, &pcm16, 1), Ok(1_920));
        assert_eq!(round_buffer_size(1_919, &pcm16, 1), Ok(1_916));
        let float = format(SampleFormat::Float32, 44_100); // 8-byte frames
        assert_eq!(round_buffer_size(17_647, &float, 1), Ok(17_640));
        assert_eq!(round_buffer_size(u32::MAX, &float, 1), Ok(u32::MAX - 7));
    }

    #[test]
    fn two_notifications_round_down_to_an_even_frame_count() {
        let pcm16 = format(SampleFormat::Pcm16, 48_000);
        assert_eq!(round_buffer_size(4 * 481, &pcm16, 2), Ok(4 * 480));
        assert_eq!(round_buffer_size(4 * 481 + 3, &pcm16, 2), Ok(4 * 480));
        assert_eq!(round_buffer_size(u32::MAX, &pcm16, 2), Ok(u32::MAX - 7));
    }

    #[test]
    fn tiny_requests_get_one_unit() {
        let pcm24 = format(SampleFormat::Pcm24In32, 48_000);
        assert_eq!(round_buffer_size(0, &pcm24, 1), Ok(8));
        assert_eq!(round_buffer_size(7, &pcm24, 1), Ok(8));
        assert_eq!(round_buffer_size(0, &pcm24, 2), Ok(16));
        assert_eq!(round_buffer_size(15, &pcm24, 2), Ok(16));
    }

    #[test]
    fn rounded_sizes_always_admit_their_notifications() {
        for sample in SampleFormat::ALL {
            let f = format(sample, 44_100);
            for count in [1, 2] {
                for requested in (0..5_000).chain([u32::MAX - 20..=u32::MAX].into_iter().flatten())
                {
                    let size = round_buffer_size(requested, &f, count).unwrap();
                    assert!(size <= requested.max(f.bytes_per_frame() * count));
                    assert!(Notifications::new(size, &f, count).is_ok(), "{requested}");
                }
            }
        }
    }

    #[test]
    fn other_notification_counts_are_refused() {
        let f = format(SampleFormat::Pcm16, 48_000);
        assert_eq!(
            round_buffer_size(1_920, &f, 0),
            Err(NotificationError::Count(0))
        );
        assert_eq!(
            round_buffer_size(1_920, &f, 3),
            Err(NotificationError::Count(3))
        );
    }

    #[test]
    fn a_period_inside_the_buffer_is_one_span() {
        let copy = period_copy(1_920, 100, 500);
        assert_eq!(
            copy.first,
            Span {
                offset: 100,
                len: 400
            }
        );
        assert!(copy.second.len == 0 && copy.skipped == 0);
        assert_eq!(copy.len(), 400);
        assert_eq!(copy.first.range(), 100..500);
    }

    #[test]
    fn a_period_across_the_wrap_is_two_spans() {
        // Linear positions in the third pass: 2 x 1 920 + 1 800 .. 3 x 1 920 + 200.
        let copy = period_copy(1_920, 3_840 + 1_800, 5_760 + 200);
        assert_eq!(
            copy.first,
            Span {
                offset: 1_800,
                len: 120
            }
        );
        assert_eq!(
            copy.second,
            Span {
                offset: 0,
                len: 200
            }
        );
        assert_eq!(copy.len(), 320);
        let exact_end = period_copy(1_920, 1_800, 1_920);
        assert_eq!(
            exact_end.first,
            Span {
                offset: 1_800,
                len: 120
            }
        );
        assert_eq!(exact_end.second.len, 0);
    }

    #[test]
    fn a_period_longer_than_the_buffer_copies_the_last_buffer_and_reports_the_rest() {
        let copy = period_copy(1_000, 250, 250 + 2_500);
        assert_eq!(copy.skipped, 1_500);
        assert_eq!(copy.len(), 1_000);
        // The last 1 000 bytes start at linear 1 750, offset 750.
        assert_eq!(
            copy.first,
            Span {
                offset: 750,
                len: 250
            }
        );
        assert_eq!(
            copy.second,
            Span {
                offset: 0,
                len: 750
            }
        );
    }

    #[test]
    fn empty_or_backward_periods_copy_nothing() {
        assert!(period_copy(1_920, 500, 500).is_empty());
        assert!(period_copy(1_920, 500, 100).is_empty());
        assert!(period_copy(0, 0, 100).is_empty());
        assert_eq!(period_copy(0, 0, 100).skipped, 0);
    }

    #[test]
    fn a_copy_with_bytes_in_either_span_is_not_empty() {
        // `is_empty` is false whenever any byte is copied: a period inside the buffer (only
        // `first`), one across the wrap (both spans), and a copy with only `second` set (not
        // one `period_copy` makes, but the fields are public); true only when both are empty,
        // whatever was skipped.
        assert!(!period_copy(1_920, 100, 500).is_empty());
        assert!(!period_copy(1_920, 1_800, 2_000).is_empty());
        let only_second = PeriodCopy {
            second: Span { offset: 0, len: 4 },
            ..PeriodCopy::default()
        };
        assert!(!only_second.is_empty());
        assert_eq!(only_second.len(), 4);
        let only_skipped = PeriodCopy {
            skipped: 100,
            ..PeriodCopy::default()
        };
        assert!(only_skipped.is_empty());
    }

    #[test]
    fn consecutive_periods_cover_every_byte_exactly_once() {
        let size = 1_764u32;
        let mut covered = [0u32; 1_764];
        let mut position = 0u64;
        let mut step = 1u64;
        // Irregular steps below the buffer size over 50 passes.
        while position < 50 * u64::from(size) {
            step = (step * 7 + 13) % u64::from(size);
            let copy = period_copy(size, position, position + step);
            assert_eq!(copy.len(), step);
            for span in [copy.first, copy.second] {
                for slot in &mut covered[span.range()] {
                    *slot += 1;
                }
            }
            position += step;
        }
        let passes = u32::try_from(position / u64::from(size)).unwrap();
        let rest = usize::try_from(position % u64::from(size)).unwrap();
        for (offset, &count) in covered.iter().enumerate() {
            assert_eq!(count, passes + u32::from(offset < rest), "offset {offset}");
        }
    }
}
