//! A WaveRT stream on a virtio-sound PCM stream, as pure logic: the buffer cut into device
//! periods ([`PeriodPlan`]), the KS states as PCM commands ([`pcm_steps`]), which period goes
//! to the device next ([`Periods`]), and the position from what the device consumed
//! ([`PeriodClock`]).
//!
//! # The buffer on the device
//! The WaveRT buffer is cut into device periods of whole frames, at most one page each (so a
//! period is at most two pieces, wherever the buffer's pages are) and a whole number of them in
//! each notification interval. At RUN the driver posts up to [`MAX_IN_FLIGHT`] periods from
//! the current one on; each completion reposts the period that many further on, so the device
//! always has the next periods in place (devices read a period's bytes when they play it, as
//! the spec's design and Linux's driver assume). Nothing is copied.
//!
//! # States
//! | KS | PCM |
//! | --- | --- |
//! | STOP -> ACQUIRE | `SET_PARAMS`, `PREPARE` |
//! | PAUSE -> RUN | `START`, then the first periods |
//! | RUN -> PAUSE | `STOP` (periods on the device stay there) |
//! | ACQUIRE -> STOP | `RELEASE` (the device completes every period it holds) |
//!
//! # Position
//! The device has consumed `completed x period` frames when its `completed`-th period comes
//! back. Between completions the position moves on with the performance counter at the
//! stream's rate, never further than the next period's end, so it is monotonic, exact at every
//! completion, and at most one period ahead of the device.

use crate::format::Format;
use crate::stream_state::KsState;

pub use super::device::MAX_IN_FLIGHT;

/// The longest device period, in bytes: one page.
pub const MAX_PERIOD_BYTES: u32 = 4096;

/// Why a buffer cannot be cut into device periods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// No frames, or notifications that do not divide the buffer into whole frames.
    BadGeometry,
    /// No period of at most [`MAX_PERIOD_BYTES`] divides a notification interval.
    NoPeriod,
}

/// How a buffer is cut into device periods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeriodPlan {
    /// Frames in a period.
    pub period_frames: u32,
    /// Bytes in a period.
    pub period_bytes: u32,
    /// Periods in the buffer.
    pub periods: u32,
    /// Periods kept on the device while running.
    pub in_flight: u32,
}

impl PeriodPlan {
    /// The plan for a buffer of `buffer_bytes` with `notifications` notification points per
    /// cycle (0: none; then the periods are 10 ms or less).
    ///
    /// # Errors
    /// [`PlanError`].
    pub const fn new(
        format: &Format,
        buffer_bytes: u32,
        notifications: u32,
    ) -> Result<Self, PlanError> {
        let frame = format.bytes_per_frame();
        if frame == 0 || buffer_bytes == 0 || !buffer_bytes.is_multiple_of(frame) {
            return Err(PlanError::BadGeometry);
        }
        let frames = buffer_bytes / frame;
        let interval = if notifications == 0 {
            let ten_ms = format.rate() / 100;
            if ten_ms == 0 || !frames.is_multiple_of(ten_ms) {
                frames
            } else {
                ten_ms
            }
        } else if !frames.is_multiple_of(notifications) {
            return Err(PlanError::BadGeometry);
        } else {
            frames / notifications
        };
        // The fewest periods per interval that make each one fit a page.
        let mut split = 1;
        while split <= interval {
            let (Some(period_frames), true) =
                (interval.checked_div(split), interval.is_multiple_of(split))
            else {
                split += 1;
                continue;
            };
            if period_frames * frame <= MAX_PERIOD_BYTES {
                let Some(periods) = frames.checked_div(period_frames) else {
                    return Err(PlanError::BadGeometry);
                };
                return Ok(Self {
                    period_frames,
                    period_bytes: period_frames * frame,
                    periods,
                    in_flight: if periods < MAX_IN_FLIGHT {
                        periods
                    } else {
                        MAX_IN_FLIGHT
                    },
                });
            }
            split += 1;
        }
        Err(PlanError::NoPeriod)
    }

    /// The byte offset of period `n` (linear, since STOP) in the buffer.
    #[must_use]
    pub fn offset(&self, n: u64) -> u32 {
        // Below `periods`, itself a u32.
        let slot = u32::try_from(n % u64::from(self.periods.max(1))).unwrap_or(0);
        slot * self.period_bytes
    }

    /// Device periods per notification interval (`notifications` as given to [`Self::new`]).
    #[must_use]
    pub fn periods_per_notification(&self, notifications: u32) -> u32 {
        self.periods.checked_div(notifications).unwrap_or(0)
    }
}

/// A PCM command of a KS transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PcmStep {
    /// `PCM_SET_PARAMS` with the stream's format and plan.
    SetParams,
    /// `PCM_PREPARE`.
    Prepare,
    /// `PCM_START`, then the first periods.
    Start,
    /// `PCM_STOP`.
    Stop,
    /// `PCM_RELEASE`.
    Release,
}

/// The PCM commands of one KS step (the stream state machine has already checked the step).
#[must_use]
pub const fn pcm_steps(from: KsState, to: KsState) -> &'static [PcmStep] {
    match (from, to) {
        (KsState::Stop, KsState::Acquire) => &[PcmStep::SetParams, PcmStep::Prepare],
        (KsState::Pause, KsState::Run) => &[PcmStep::Start],
        (KsState::Run, KsState::Pause) => &[PcmStep::Stop],
        (KsState::Acquire, KsState::Stop) => &[PcmStep::Release],
        _ => &[],
    }
}

/// Which periods are on the device, linear since STOP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Periods {
    /// The next period to post.
    next: u64,
    /// Periods completed (in order: a queue completes in order).
    completed: u64,
}

impl Periods {
    /// Periods on the device.
    #[must_use]
    pub const fn in_flight(&self) -> u64 {
        self.next - self.completed
    }

    /// Periods completed since STOP.
    #[must_use]
    pub const fn completed(&self) -> u64 {
        self.completed
    }

    /// The next period to post if the device should get one more under `plan`, and marks it
    /// posted.
    pub const fn take_next(&mut self, plan: &PeriodPlan) -> Option<u64> {
        if self.in_flight() >= plan.in_flight as u64 {
            return None;
        }
        let n = self.next;
        self.next += 1;
        Some(n)
    }

    /// A posted period failed to post: it is not on the device.
    pub const fn unpost(&mut self) {
        if self.next > self.completed {
            self.next -= 1;
        }
    }

    /// The device completed period `token` (the low 24 bits of its linear number).
    /// Returns whether it is the one expected (the oldest on the device).
    pub const fn complete(&mut self, token: u32) -> bool {
        if self.in_flight() == 0 || (self.completed & 0x00FF_FFFF) as u32 != token {
            return false;
        }
        self.completed += 1;
        true
    }

    /// The device let go of every period without completing them (it was reset): none is on
    /// it, and the next one posted is the first not completed.
    pub const fn forget_posted(&mut self) {
        self.next = self.completed;
    }

    /// Back to nothing posted (STOP).
    pub const fn reset(&mut self) {
        *self = Self {
            next: 0,
            completed: 0,
        };
    }
}

/// The token a period is posted with: its linear number's low 24 bits.
#[must_use]
pub const fn token(n: u64) -> u32 {
    (n & 0x00FF_FFFF) as u32
}

/// The position: see the [module](self) docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeriodClock {
    period_frames: u64,
    rate: u64,
    frequency: u64,
    /// Frames the device has consumed (whole periods).
    consumed: u64,
    /// The counter at the last completion or start, while running.
    since: Option<u64>,
    /// The position when paused (interpolation frozen).
    held: u64,
}

impl PeriodClock {
    /// A clock for periods of `period_frames` at `rate`, counter at `frequency` Hz.
    #[must_use]
    pub const fn new(period_frames: u32, rate: u32, frequency: u64) -> Self {
        Self {
            period_frames: period_frames as u64,
            rate: rate as u64,
            frequency: if frequency == 0 { 1 } else { frequency },
            consumed: 0,
            since: None,
            held: 0,
        }
    }

    /// RUN at counter `now`.
    pub const fn start(&mut self, now: u64) {
        self.since = Some(now);
    }

    /// PAUSE at counter `now`: the position holds where it is.
    pub fn pause(&mut self, now: u64) {
        self.held = self.position(now);
        self.since = None;
    }

    /// STOP: back to 0.
    pub const fn reset(&mut self) {
        self.consumed = 0;
        self.since = None;
        self.held = 0;
    }

    /// A period came back at counter `now`.
    pub const fn complete(&mut self, now: u64) {
        self.consumed += self.period_frames;
        if self.since.is_some() {
            self.since = Some(now);
        }
        if self.held < self.consumed {
            self.held = self.consumed;
        }
    }

    /// The position at counter `now`, in frames since STOP.
    #[must_use]
    pub fn position(&self, now: u64) -> u64 {
        let Some(since) = self.since else {
            return if self.held > self.consumed {
                self.held
            } else {
                self.consumed
            };
        };
        let elapsed = now.saturating_sub(since);
        let moved = (u128::from(elapsed) * u128::from(self.rate))
            .checked_div(u128::from(self.frequency))
            .unwrap_or(0);
        let moved = u64::try_from(moved)
            .unwrap_or(u64::MAX)
            .min(self.period_frames);
        let position = self.consumed + moved;
        if position > self.held {
            position
        } else {
            self.held
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::SampleFormat;

    fn format(sample: SampleFormat, rate: u32) -> Format {
        Format::new(sample, 2, rate).unwrap()
    }

    #[test]
    fn buffers_are_cut_into_page_sized_periods_that_fill_each_interval() {
        // 20 ms at 48 kHz 16-bit, two notifications: two 10 ms periods of 1920 bytes.
        let plan = PeriodPlan::new(&format(SampleFormat::Pcm16, 48_000), 3840, 2).unwrap();
        assert_eq!(
            plan,
            PeriodPlan {
                period_frames: 480,
                period_bytes: 1920,
                periods: 2,
                in_flight: 2
            }
        );
        // Float: 3840-byte periods.
        let plan = PeriodPlan::new(&format(SampleFormat::Float32, 48_000), 7680, 2).unwrap();
        assert_eq!((plan.period_bytes, plan.periods), (3840, 2));
        // 40 ms float intervals: each split in two to fit a page.
        let plan = PeriodPlan::new(&format(SampleFormat::Float32, 48_000), 4 * 7680, 2).unwrap();
        assert_eq!(
            (plan.period_frames, plan.periods, plan.in_flight),
            (480, 8, MAX_IN_FLIGHT)
        );
        assert_eq!(plan.periods_per_notification(2), 4);
        // No notifications: 10 ms periods.
        let plan = PeriodPlan::new(&format(SampleFormat::Pcm16, 44_100), 441 * 4 * 10, 0).unwrap();
        assert_eq!((plan.period_frames, plan.periods), (441, 10));
        assert_eq!(plan.offset(13), 3 * 441 * 4);
        // Geometry the driver never makes.
        let f = format(SampleFormat::Pcm16, 48_000);
        assert_eq!(PeriodPlan::new(&f, 0, 2), Err(PlanError::BadGeometry));
        assert_eq!(PeriodPlan::new(&f, 3842, 2), Err(PlanError::BadGeometry));
        assert_eq!(PeriodPlan::new(&f, 4 * 7, 2), Err(PlanError::BadGeometry));
        // A prime number of frames: one period if it fits a page, else single frames.
        let plan = PeriodPlan::new(&f, 4 * 1021, 1).unwrap();
        assert_eq!(plan.period_frames, 1021);
        let plan = PeriodPlan::new(&f, 4 * 1031, 1).unwrap();
        assert_eq!(plan.period_frames, 1);
    }

    #[test]
    fn ks_steps_map_to_pcm_commands() {
        use KsState::{Acquire, Pause, Run, Stop};
        assert_eq!(
            pcm_steps(Stop, Acquire),
            [PcmStep::SetParams, PcmStep::Prepare]
        );
        assert_eq!(pcm_steps(Acquire, Pause), []);
        assert_eq!(pcm_steps(Pause, Run), [PcmStep::Start]);
        assert_eq!(pcm_steps(Run, Pause), [PcmStep::Stop]);
        assert_eq!(pcm_steps(Pause, Acquire), []);
        assert_eq!(pcm_steps(Acquire, Stop), [PcmStep::Release]);
        assert_eq!(pcm_steps(Run, Run), []);
    }

    #[test]
    fn periods_go_out_in_order_up_to_the_plan_and_come_back_in_order() {
        let plan = PeriodPlan::new(&format(SampleFormat::Pcm16, 48_000), 4 * 1920, 4).unwrap();
        assert_eq!(plan.in_flight, 4);
        let mut periods = Periods::default();
        let posted: Vec<u64> = core::iter::from_fn(|| periods.take_next(&plan)).collect();
        assert_eq!(posted, [0, 1, 2, 3]);
        assert!(!periods.complete(1), "out of order");
        assert!(periods.complete(0));
        assert_eq!(periods.take_next(&plan), Some(4));
        assert_eq!(periods.take_next(&plan), None);
        assert_eq!((periods.in_flight(), periods.completed()), (4, 1));
        periods.unpost();
        assert_eq!(periods.in_flight(), 3);
        periods.forget_posted();
        assert_eq!((periods.in_flight(), periods.completed()), (0, 1));
        assert_eq!(
            periods.take_next(&plan),
            Some(1),
            "the first not completed, again"
        );
        periods.reset();
        assert!(!periods.complete(0), "nothing in flight");
        assert_eq!(token(0x1_2345_6789), 0x45_6789);
    }

    #[test]
    fn the_position_is_exact_at_each_completion_and_moves_on_between() {
        // 480-frame periods at 48 kHz, a 10 MHz counter: a period is 100 000 ticks.
        let mut clock = PeriodClock::new(480, 48_000, 10_000_000);
        assert_eq!(clock.position(0), 0);
        clock.start(1_000);
        assert_eq!(clock.position(1_000), 0);
        assert_eq!(clock.position(51_000), 240);
        // Late completion: the position never runs more than a period ahead.
        assert_eq!(clock.position(1_000_000), 480);
        clock.complete(1_000_000);
        assert_eq!(clock.position(1_000_000), 480);
        assert_eq!(clock.position(1_050_000), 720);
        clock.pause(1_050_000);
        assert_eq!(clock.position(9_000_000), 720, "held while paused");
        // The period the device was playing comes back during the pause.
        clock.complete(9_000_000);
        assert_eq!(clock.position(9_000_000), 960);
        clock.start(10_000_000);
        assert_eq!(clock.position(10_025_000), 1080);
        clock.reset();
        assert_eq!(clock.position(10_025_000), 0);
    }

    #[test]
    fn the_position_never_goes_back() {
        let mut clock = PeriodClock::new(480, 48_000, 10_000_000);
        clock.start(0);
        let mut last = 0;
        let mut now = 0;
        for step in 0..2_000_u64 {
            now += 7_919 * (step % 5 + 1);
            if step % 13 == 0 {
                clock.complete(now);
            }
            if step % 211 == 0 {
                clock.pause(now);
                clock.start(now);
            }
            let position = clock.position(now);
            assert!(position >= last, "step {step}: {position} < {last}");
            last = position;
        }
    }
}
