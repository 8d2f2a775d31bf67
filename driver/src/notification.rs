//! Notification arithmetic for event-driven streams (`AllocateBufferWithNotification`).
//!
//! With `NotificationCount` n (1 or 2), the driver signals the client's event each time the
//! position crosses a multiple of `buffer frames / n`: at the end of the buffer, and with n = 2
//! also at its middle. The buffer must therefore hold a whole number of frames divisible by n
//! ([`buffer::round_buffer_size`](crate::buffer::round_buffer_size) makes it so); then the
//! notification points are exact frame positions that fall on the same buffer offsets in every
//! pass.
//!
//! Counting is done on *linear* positions (frames since STOP, as [`Clock`](crate::backend::virtual_device::position::Clock)
//! gives them), never on cyclic offsets: a cyclic offset cannot tell one wrap from three, a
//! linear position can. The count of notification points in `(from, to]` is
//! `floor(to / interval) - floor(from / interval)`, and because these differences telescope,
//! any sequence of queries covering `0..=end` fires exactly `floor(end / interval)` times, no
//! matter how irregular the steps are or how often the buffer wraps.

use core::num::NonZeroU64;
use portcls_sys::{NTSTATUS, STATUS_INVALID_PARAMETER};

use crate::format::Format;

/// The notification points of one buffer.
///
/// # Invariants
/// `count x interval_frames` is the buffer's length in frames. (The interval's type makes the
/// divisions below panic-free, which the kernel image's link checks.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notifications {
    count: u32,
    interval_frames: NonZeroU64,
}

impl Notifications {
    /// The notification points for a buffer of `buffer_bytes` bytes at `format` with
    /// `NotificationCount` `count`.
    ///
    /// # Errors
    /// [`NotificationError::Count`] unless `count` is 1 or 2;
    /// [`NotificationError::PartialFrame`] if the buffer is not whole frames;
    /// [`NotificationError::Uneven`] if its frames are not a non-zero multiple of `count`.
    pub fn new(buffer_bytes: u32, format: &Format, count: u32) -> Result<Self, NotificationError> {
        if !(1..=2).contains(&count) {
            return Err(NotificationError::Count(count));
        }
        let frame = format.bytes_per_frame();
        if !buffer_bytes.is_multiple_of(frame) {
            return Err(NotificationError::PartialFrame {
                buffer_bytes,
                bytes_per_frame: frame,
            });
        }
        let frames = buffer_bytes.checked_div(frame).unwrap_or(0);
        let interval = frames
            .checked_div(count)
            .filter(|_| frames.is_multiple_of(count))
            .and_then(|i| NonZeroU64::new(u64::from(i)));
        let Some(interval_frames) = interval else {
            return Err(NotificationError::Uneven { frames, count });
        };
        Ok(Self {
            count,
            interval_frames,
        })
    }

    /// `NotificationCount`: notifications per pass through the buffer.
    #[must_use]
    pub const fn count(&self) -> u32 {
        self.count
    }

    /// Frames between two notifications.
    #[must_use]
    pub const fn interval_frames(&self) -> u64 {
        self.interval_frames.get()
    }

    /// How many notification points lie in `(from, to]` (positions in frames since STOP): the
    /// number of times to signal when the position moves from `from` to `to`. 0 when `to` is
    /// not after `from` (after a STOP, restart the bookkeeping at 0).
    #[must_use]
    pub fn crossed(&self, from: u64, to: u64) -> u64 {
        if to <= from {
            return 0;
        }
        // Division by the invariant non-zero interval.
        to / self.interval_frames - from / self.interval_frames
    }

    /// How many notification points lie in `(0, position]`: [`Notifications::crossed`] from 0,
    /// for a caller that keeps the count of the last position (one division per step).
    #[must_use]
    pub fn points_through(&self, position: u64) -> u64 {
        position / self.interval_frames
    }

    /// The first notification point after `position` (to schedule the next wake-up).
    /// Saturates at `u64::MAX`.
    #[must_use]
    pub fn next_after(&self, position: u64) -> u64 {
        (position / self.interval_frames)
            .saturating_add(1)
            .saturating_mul(self.interval_frames.get())
    }
}

/// Why a notification setup was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotificationError {
    /// A `NotificationCount` other than 1 and 2.
    Count(u32),
    /// The buffer ends inside a frame.
    PartialFrame {
        /// The buffer's size.
        buffer_bytes: u32,
        /// Bytes per frame of the format.
        bytes_per_frame: u32,
    },
    /// The buffer's frames cannot be split into `count` equal non-empty intervals.
    Uneven {
        /// Frames in the buffer.
        frames: u32,
        /// `NotificationCount`.
        count: u32,
    },
}

impl NotificationError {
    /// `STATUS_INVALID_PARAMETER` in every case: the count or the size the caller passed (or the
    /// rounding made of it) cannot be used.
    #[must_use]
    pub const fn status(&self) -> NTSTATUS {
        STATUS_INVALID_PARAMETER
    }
}

impl core::fmt::Display for NotificationError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Count(count) => write!(f, "NotificationCount {count} (1 or 2 supported)"),
            Self::PartialFrame {
                buffer_bytes,
                bytes_per_frame,
            } => write!(
                f,
                "buffer of {buffer_bytes} bytes is not whole {bytes_per_frame}-byte frames"
            ),
            Self::Uneven { frames, count } => {
                write!(
                    f,
                    "{frames} frames cannot be split into {count} notifications"
                )
            }
        }
    }
}

impl core::error::Error for NotificationError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::SampleFormat;

    fn pcm16(rate: u32) -> Format {
        Format::new(SampleFormat::Pcm16, 2, rate).unwrap()
    }

    struct Rng(u64);

    impl Rng {
        fn below(&mut self, bound: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % bound
        }
    }

    #[test]
    fn interval_is_the_buffer_frames_divided_by_the_count() {
        // 10 ms at 48 kHz, 16-bit stereo: 480 frames, 1 920 bytes.
        let one = Notifications::new(1_920, &pcm16(48_000), 1).unwrap();
        assert_eq!((one.count(), one.interval_frames()), (1, 480));
        let two = Notifications::new(1_920, &pcm16(48_000), 2).unwrap();
        assert_eq!((two.count(), two.interval_frames()), (2, 240));
        let float = Format::new(SampleFormat::Float32, 2, 44_100).unwrap();
        let two = Notifications::new(441 * 8 * 2, &float, 2).unwrap();
        assert_eq!(two.interval_frames(), 441);
    }

    #[test]
    fn counts_other_than_one_and_two_are_refused() {
        for count in [0, 3, 4, u32::MAX] {
            let error = Notifications::new(1_920, &pcm16(48_000), count).unwrap_err();
            assert_eq!(error, NotificationError::Count(count));
            assert_eq!(error.status(), STATUS_INVALID_PARAMETER);
        }
    }

    #[test]
    fn buffers_that_cannot_be_split_exactly_are_refused() {
        assert_eq!(
            Notifications::new(1_922, &pcm16(48_000), 1),
            Err(NotificationError::PartialFrame {
                buffer_bytes: 1_922,
                bytes_per_frame: 4
            })
        );
        assert_eq!(
            Notifications::new(4 * 481, &pcm16(48_000), 2),
            Err(NotificationError::Uneven {
                frames: 481,
                count: 2
            })
        );
        assert_eq!(
            Notifications::new(0, &pcm16(48_000), 1),
            Err(NotificationError::Uneven {
                frames: 0,
                count: 1
            })
        );
        assert!(Notifications::new(4, &pcm16(48_000), 1).is_ok());
        assert!(Notifications::new(4, &pcm16(48_000), 2).is_err());
    }

    #[test]
    fn crossed_counts_points_in_the_half_open_interval() {
        let n = Notifications::new(1_920, &pcm16(48_000), 2).unwrap(); // every 240 frames
        assert_eq!(n.crossed(0, 239), 0);
        assert_eq!(n.crossed(0, 240), 1, "reaching a point fires it");
        assert_eq!(
            n.crossed(240, 240),
            0,
            "standing on it does not fire it again"
        );
        assert_eq!(n.crossed(240, 479), 0);
        assert_eq!(n.crossed(239, 480), 2);
        assert_eq!(
            n.crossed(100, 100 + 10 * 480),
            20,
            "ten wraps of the buffer"
        );
        assert_eq!(
            n.crossed(500, 400),
            0,
            "a position that went back (STOP) fires nothing"
        );
    }

    #[test]
    fn next_after_lands_on_the_middle_and_end_of_the_buffer() {
        let n = Notifications::new(1_920, &pcm16(48_000), 2).unwrap();
        assert_eq!(n.next_after(0), 240);
        assert_eq!(n.next_after(239), 240);
        assert_eq!(n.next_after(240), 480);
        assert_eq!(n.next_after(480 * 1_000 + 1), 480 * 1_000 + 240);
        assert_eq!(n.next_after(u64::MAX), u64::MAX);
        let one = Notifications::new(1_920, &pcm16(48_000), 1).unwrap();
        assert_eq!(one.next_after(480 * 7 + 3), 480 * 8);
    }

    #[test]
    fn crossed_agrees_with_counting_frame_by_frame() {
        let n = Notifications::new(4 * 6, &pcm16(44_100), 2).unwrap(); // every 3 frames
        for from in 0..40 {
            for to in from..80 {
                let brute = (from + 1..=to).filter(|frame| frame % 3 == 0).count();
                assert_eq!(n.crossed(from, to), u64::try_from(brute).unwrap());
            }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "long arithmetic run: natively only")]
    fn long_irregular_runs_fire_exactly_floor_total_over_interval() {
        let cases = [
            (pcm16(48_000), 1_920, 1),
            (pcm16(48_000), 1_920, 2),
            (pcm16(44_100), 4 * 882, 2),
            (pcm16(44_100), 4 * 1_001, 1), // odd frame count, one notification
            (
                Format::new(SampleFormat::Pcm24In32, 2, 44_100).unwrap(),
                8 * 442,
                2,
            ),
        ];
        for (seed, (format, bytes, count)) in (1u64..).zip(cases) {
            let n = Notifications::new(bytes, &format, count).unwrap();
            let buffer_frames = u64::from(bytes / format.bytes_per_frame());
            let mut rng = Rng(0x2545_F491_4F6C_DD1D * seed);
            let mut position = 0;
            let mut fired = 0;
            let mut expected_next = n.next_after(0);
            // About an hour of audio in steps from 0 to 3 buffers (several wraps per step at
            // times, and many steps that stay inside one interval).
            let end = 3_600 * u64::from(format.rate());
            while position < end {
                let step = rng.below(3 * buffer_frames + 1).min(end - position);
                let next = position + step;
                let crossed = n.crossed(position, next);
                // Each fired point is the next expected one: no double, no miss.
                for _ in 0..crossed {
                    assert!(expected_next <= next && expected_next > position);
                    let offset = expected_next % buffer_frames;
                    assert!(
                        offset == 0 || (count == 2 && offset == buffer_frames / 2),
                        "notification at buffer offset {offset}"
                    );
                    expected_next += n.interval_frames();
                }
                assert!(expected_next > next);
                fired += crossed;
                position = next;
            }
            assert_eq!(fired, end / n.interval_frames());
            assert_eq!(fired, end * u64::from(count) / buffer_frames);
        }
    }
}
