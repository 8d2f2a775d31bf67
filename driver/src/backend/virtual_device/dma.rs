//! What the emulated DMA engine of one stream does, without any FFI: the stream's state,
//! clock, buffer geometry, notification points and, for capture, the tone it records.
//!
//! [`stream`](crate::stream) wraps a [`Dma`] in a spin lock and calls it from PortCls's
//! requests (`SetState`, `GetPosition`, buffer allocation) and from the engine thread's
//! periodic [`Dma::advance`]. Every method takes the performance counter's reading as `now`, so
//! the whole behaviour is a pure function of the calls and the counter values, and is tested
//! here directly.
//!
//! # Rules
//! - The buffer can only be attached or detached in STOP, and the format only changes in STOP
//!   without a buffer: the geometry never changes under a running clock.
//! - The linear position (frames since the last STOP) comes from the [`Clock`]; `done` is the
//!   linear position up to which the engine has moved audio and counted notifications. It only
//!   grows, until STOP resets both to 0.
//! - Pausing first catches up to the pause instant, so the data and notifications up to the
//!   kept position are complete; running again continues from there.
//! - An event cannot carry a count: when one advance crosses several notification points (a
//!   starved thread, or notification intervals shorter than the engine period) the client is
//!   signalled once and the extra points are counted in [`Stats::merged`].

use core::num::NonZeroU64;

use portcls_sys::{NTSTATUS, STATUS_INVALID_DEVICE_STATE};

use crate::backend::virtual_device::position::{Clock, cyclic_offset};
use crate::buffer::{self, PeriodCopy};
use crate::format::Format;
use crate::notification::{NotificationError, Notifications};
use crate::stream_state::{Action, KsState, StateError, StreamState};

/// The engine's shortest period, in 100 ns units (1 ms).
pub const MIN_PERIOD_100NS: u32 = 10_000;
/// The engine's longest period, in 100 ns units (10 ms).
pub const MAX_PERIOD_100NS: u32 = 100_000;
/// The largest buffer the driver allocates: 4 MiB (about 5.4 s at 48 kHz in 32-bit stereo).
/// Larger requests get this much (the driver may return less than asked; it reports the
/// actual size).
pub const MAX_BUFFER_BYTES: u32 = 4 << 20;
/// Kernel time units per second.
const TICKS_PER_SECOND: u64 = 10_000_000;

/// A refused stream request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaError {
    /// The request needs the stream in STOP (format change, buffer allocation or release).
    NotStopped(KsState),
    /// A buffer is already attached (one per stream).
    BufferAttached,
    /// The request needs a buffer and there is none.
    NoBuffer,
    /// The state request was refused.
    State(StateError),
    /// The buffer cannot carry the notifications asked for.
    Notification(NotificationError),
}

impl DmaError {
    /// The NTSTATUS PortCls receives: `STATUS_INVALID_DEVICE_STATE` for requests in the wrong
    /// state, the state or notification error's own status otherwise.
    #[must_use]
    pub const fn status(&self) -> NTSTATUS {
        match self {
            Self::NotStopped(_) | Self::BufferAttached | Self::NoBuffer => {
                STATUS_INVALID_DEVICE_STATE
            }
            Self::State(error) => error.status(),
            Self::Notification(error) => error.status(),
        }
    }
}

impl core::fmt::Display for DmaError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotStopped(state) => write!(f, "the stream is in {state:?}, not STOP"),
            Self::BufferAttached => f.write_str("the stream already has a buffer"),
            Self::NoBuffer => f.write_str("the stream has no buffer"),
            Self::State(error) => write!(f, "{error}"),
            Self::Notification(error) => write!(f, "{error}"),
        }
    }
}

impl core::error::Error for DmaError {}

/// Counters of what the engine did (for tests and diagnostics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Notification points signalled (one signal each).
    pub signalled: u64,
    /// Notification points that fell into an advance that had already signalled.
    pub merged: u64,
    /// Bytes moved to or from the buffer.
    pub moved: u64,
    /// Bytes that elapsed while more than a whole buffer behind (lost).
    pub skipped: u64,
}

/// What one [`Dma::advance`] asks the shell to do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// The spans of the buffer the period covers: for capture the shell writes the next bytes
    /// of the tone there, for render they are what the device consumed.
    pub copy: PeriodCopy,
    /// Whether to signal the notification events.
    pub notify: bool,
    /// The device frame (see [`Clock::origin`]) just after the copy's last frame: where the
    /// period's audio sits on the device's timeline (for the loopback cable).
    pub end: i64,
}

/// The buffer attached to a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Attached {
    bytes: u32,
    notifications: Option<Notifications>,
}

/// The pure state of one stream's DMA engine.
#[derive(Debug)]
pub struct Dma {
    capture: bool,
    format: Format,
    frequency: NonZeroU64,
    state: StreamState,
    clock: Clock,
    buffer: Option<Attached>,
    done: u64,
    /// The notification points through `done` (see `Notifications::points_through`).
    done_points: u64,
    stats: Stats,
    held: bool,
}

impl Dma {
    /// A stopped stream at position 0 without a buffer. `frequency` is the performance
    /// counter's.
    #[must_use]
    pub const fn new(format: Format, capture: bool, frequency: NonZeroU64) -> Self {
        Self {
            capture,
            format,
            frequency,
            state: StreamState::new(),
            clock: Clock::new(&format, frequency),
            buffer: None,
            done: 0,
            done_points: 0,
            stats: Stats {
                signalled: 0,
                merged: 0,
                moved: 0,
                skipped: 0,
            },
            held: false,
        }
    }

    /// Holds the DMA for a device transition (stop, removal, low power): catches up to `now`,
    /// then freezes the clock whatever the state, as hardware whose DMA engine stops would.
    /// The returned work is the last period's.
    pub fn hold(&mut self, now: u64) -> Work {
        if self.held {
            return Work::default();
        }
        let work = self.advance(now);
        self.clock.pause(now);
        self.held = true;
        work
    }

    /// Ends a hold: in RUN the clock continues from the frozen position at `now`.
    pub fn release(&mut self, now: u64) {
        if self.held {
            self.held = false;
            if self.state.current() == KsState::Run {
                self.clock.run(now);
            }
        }
    }

    /// Whether the DMA is held.
    #[must_use]
    pub const fn is_held(&self) -> bool {
        self.held
    }

    /// Whether this is a capture stream.
    #[must_use]
    pub const fn is_capture(&self) -> bool {
        self.capture
    }

    /// The stream's format.
    #[must_use]
    pub const fn format(&self) -> Format {
        self.format
    }

    /// The current state.
    #[must_use]
    pub const fn state(&self) -> KsState {
        self.state.current()
    }

    /// The counters so far.
    #[must_use]
    pub const fn stats(&self) -> Stats {
        self.stats
    }

    /// The attached buffer's size in bytes (0 without one).
    #[must_use]
    pub fn buffer_bytes(&self) -> u32 {
        self.buffer.map_or(0, |b| b.bytes)
    }

    /// Changes the format (`SetFormat`).
    ///
    /// # Errors
    /// [`DmaError::NotStopped`] outside STOP, [`DmaError::BufferAttached`] with a buffer.
    pub fn set_format(&mut self, format: Format) -> Result<(), DmaError> {
        self.require_stop()?;
        if self.buffer.is_some() {
            return Err(DmaError::BufferAttached);
        }
        self.format = format;
        self.clock = Clock::new(&format, self.frequency);
        Ok(())
    }

    /// The size to allocate for a request of `requested` bytes with `notification_count`
    /// notifications per pass (0 for a buffer without notifications): whole frames (and an
    /// even number of them with two notifications), at most [`MAX_BUFFER_BYTES`], at least one
    /// such unit.
    ///
    /// # Errors
    /// [`DmaError::Notification`] for a count other than 0, 1 or 2.
    pub fn buffer_size(&self, requested: u32, notification_count: u32) -> Result<u32, DmaError> {
        buffer::round_buffer_size(
            requested.min(MAX_BUFFER_BYTES),
            &self.format,
            notification_count.max(1),
        )
        .map_err(DmaError::Notification)
    }

    /// Attaches an allocated buffer of `bytes` (a size [`Dma::buffer_size`] returned).
    ///
    /// # Errors
    /// [`DmaError::NotStopped`], [`DmaError::BufferAttached`], or [`DmaError::Notification`]
    /// if the size does not carry the notifications.
    pub fn attach_buffer(&mut self, bytes: u32, notification_count: u32) -> Result<(), DmaError> {
        self.require_stop()?;
        if self.buffer.is_some() {
            return Err(DmaError::BufferAttached);
        }
        let notifications = if notification_count == 0 {
            // Still whole frames: positions must fall on frame boundaries.
            Notifications::new(bytes, &self.format, 1).map_err(DmaError::Notification)?;
            None
        } else {
            Some(
                Notifications::new(bytes, &self.format, notification_count)
                    .map_err(DmaError::Notification)?,
            )
        };
        self.buffer = Some(Attached {
            bytes,
            notifications,
        });
        Ok(())
    }

    /// Detaches the buffer (before the shell frees it).
    ///
    /// # Errors
    /// [`DmaError::NotStopped`] outside STOP (the engine may still be moving audio),
    /// [`DmaError::NoBuffer`] without one.
    pub fn detach_buffer(&mut self) -> Result<u32, DmaError> {
        self.require_stop()?;
        self.buffer
            .take()
            .map(|b| b.bytes)
            .ok_or(DmaError::NoBuffer)
    }

    /// Drops the buffer whatever the state: for a release that arrives outside STOP, which the
    /// stream honours rather than leak the pages. The engine then idles (no buffer, no work);
    /// the position keeps running from the clock but reads 0 as an offset.
    pub fn discard_buffer(&mut self) -> Option<u32> {
        self.buffer.take().map(|b| b.bytes)
    }

    fn require_stop(&self) -> Result<(), DmaError> {
        match self.state.current() {
            KsState::Stop => Ok(()),
            other => Err(DmaError::NotStopped(other)),
        }
    }

    /// A `SetState` request at counter `now`. Pausing catches up to `now` first: the returned
    /// [`Work`] (empty for other transitions) is the last period's copy and notification.
    ///
    /// # Errors
    /// [`DmaError::State`] for an unknown or skipping request (nothing changes).
    pub fn set_state(&mut self, to: KsState, now: u64) -> Result<Work, DmaError> {
        let action = self.state.request(to).map_err(DmaError::State)?;
        let work = match action {
            Action::None => Work::default(),
            Action::StartClock => {
                if !self.held {
                    self.clock.run(now);
                }
                Work::default()
            }
            Action::PauseClock => {
                let work = self.advance(now);
                self.clock.pause(now);
                work
            }
            Action::ResetPosition => {
                self.clock.stop();
                self.done = 0;
                self.done_points = 0;
                Work::default()
            }
        };
        Ok(work)
    }

    /// One period of the engine at counter `now`: the bytes between the last advance and now,
    /// and whether a notification point was crossed.
    pub fn advance(&mut self, now: u64) -> Work {
        let Some(buffer) = self.buffer else {
            return Work::default();
        };
        let to = self.clock.frames(now);
        let from = self.done;
        if to <= from {
            return Work::default();
        }
        self.done = to;
        let bytes_per_frame = u64::from(self.format.bytes_per_frame());
        let copy = buffer::period_copy(
            buffer.bytes,
            from.saturating_mul(bytes_per_frame),
            to.saturating_mul(bytes_per_frame),
        );
        self.stats.moved = self.stats.moved.saturating_add(copy.len());
        self.stats.skipped = self.stats.skipped.saturating_add(copy.skipped);
        // The notification points through `to`, counted once per advance: `crossed(from, to)`
        // with the count through `from` (the last advance's) kept.
        let crossed = buffer.notifications.map_or(0, |n| {
            let through = n.points_through(to);
            let crossed = through.saturating_sub(self.done_points);
            self.done_points = through;
            crossed
        });
        let notify = crossed > 0;
        if notify {
            self.stats.signalled += 1;
            self.stats.merged += crossed - 1;
        }
        let end = self.clock.origin().map_or(0, |origin| {
            origin.saturating_add(i64::try_from(to).unwrap_or(i64::MAX))
        });
        Work { copy, notify, end }
    }

    /// `GetPosition`: the byte offset of the DMA position within the buffer at counter `now`,
    /// as both the play and the write offset (a virtual device reads and writes at one point).
    #[must_use]
    pub fn position(&self, now: u64) -> u32 {
        cyclic_offset(self.clock.position(now).bytes, self.buffer_bytes())
    }

    /// The linear position up to which the engine has moved audio (frames since the last STOP).
    #[must_use]
    pub const fn done_frames(&self) -> u64 {
        self.done
    }

    /// The linear position in frames since the last STOP at counter `now`.
    #[must_use]
    pub fn frames(&self, now: u64) -> u64 {
        self.clock.frames(now)
    }

    /// The counter value at which the linear position reached `frame` (see
    /// [`Clock::counter_at`]); `None` before the first RUN since STOP.
    #[must_use]
    pub fn counter_at(&self, frame: u64) -> Option<u64> {
        self.clock.counter_at(frame)
    }

    /// The notification points of the attached buffer (`None` without a buffer, or for one
    /// allocated without notifications): in packet mode a packet is one notification interval.
    #[must_use]
    pub fn notifications(&self) -> Option<Notifications> {
        self.buffer.and_then(|b| b.notifications)
    }

    /// The engine period for the current buffer, in 100 ns units: half the notification
    /// interval (or half the buffer without notifications), clamped to
    /// [`MIN_PERIOD_100NS`]..=[`MAX_PERIOD_100NS`]. Notification intervals shorter than two
    /// periods may merge (see the module docs).
    #[must_use]
    pub fn period_100ns(&self) -> u32 {
        let Some(buffer) = self.buffer else {
            return MAX_PERIOD_100NS;
        };
        let frames = u64::from(
            buffer
                .bytes
                .checked_div(self.format.bytes_per_frame())
                .unwrap_or(0),
        );
        let interval = buffer.notifications.map_or(frames, |n| n.interval_frames());
        let interval_ticks = interval
            .saturating_mul(TICKS_PER_SECOND)
            .checked_div(u64::from(self.format.rate()))
            .unwrap_or(0);
        let half = interval_ticks / 2;
        let clamped = half.clamp(u64::from(MIN_PERIOD_100NS), u64::from(MAX_PERIOD_100NS));
        u32::try_from(clamped).unwrap_or(MAX_PERIOD_100NS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::SampleFormat;

    const FREQUENCY: NonZeroU64 = NonZeroU64::new(10_000_000).unwrap();

    fn stream(capture: bool) -> Dma {
        Dma::new(Format::PREFERRED, capture, FREQUENCY)
    }

    /// 48 kHz 16-bit stereo: 4 bytes a frame; 10 ms = 480 frames = 1920 bytes = 100 000 ticks.
    fn running(count: u32) -> Dma {
        let mut dma = stream(false);
        let size = dma.buffer_size(1920, count).unwrap();
        dma.attach_buffer(size, count).unwrap();
        for state in [KsState::Acquire, KsState::Pause, KsState::Run] {
            dma.set_state(state, 0).unwrap();
        }
        dma
    }

    #[test]
    fn a_new_stream_is_stopped_at_zero_without_a_buffer() {
        let dma = stream(true);
        assert!(dma.is_capture());
        assert_eq!(dma.state(), KsState::Stop);
        assert_eq!(dma.buffer_bytes(), 0);
        assert_eq!(dma.position(1_000_000), 0);
        assert_eq!(dma.period_100ns(), MAX_PERIOD_100NS);
        assert_eq!(dma.stats(), Stats::default());
    }

    #[test]
    fn buffer_sizes_round_down_and_are_capped() {
        let dma = stream(false);
        assert_eq!(dma.buffer_size(1923, 0), Ok(1920));
        assert_eq!(dma.buffer_size(1924, 2), Ok(1920));
        assert_eq!(dma.buffer_size(0, 1), Ok(4));
        assert_eq!(dma.buffer_size(0, 2), Ok(8));
        assert_eq!(dma.buffer_size(u32::MAX, 1), Ok(MAX_BUFFER_BYTES));
        assert!(matches!(
            dma.buffer_size(1920, 3),
            Err(DmaError::Notification(NotificationError::Count(3)))
        ));
    }

    #[test]
    fn one_buffer_only_and_only_in_stop() {
        let mut dma = stream(false);
        assert_eq!(dma.detach_buffer(), Err(DmaError::NoBuffer));
        dma.attach_buffer(1920, 2).unwrap();
        assert_eq!(dma.attach_buffer(1920, 2), Err(DmaError::BufferAttached));
        dma.set_state(KsState::Acquire, 0).unwrap();
        assert_eq!(
            dma.detach_buffer(),
            Err(DmaError::NotStopped(KsState::Acquire))
        );
        assert_eq!(
            dma.detach_buffer().unwrap_err().status(),
            STATUS_INVALID_DEVICE_STATE
        );
        dma.set_state(KsState::Stop, 0).unwrap();
        assert_eq!(dma.detach_buffer(), Ok(1920));
        // Discarding works in any state and leaves no work behind.
        dma.attach_buffer(1920, 2).unwrap();
        for state in [KsState::Acquire, KsState::Pause, KsState::Run] {
            dma.set_state(state, 0).unwrap();
        }
        assert_eq!(dma.discard_buffer(), Some(1920));
        assert_eq!(dma.discard_buffer(), None);
        assert_eq!(dma.advance(1_000_000), Work::default());
        assert_eq!(dma.buffer_bytes(), 0);
    }

    #[test]
    fn a_buffer_must_carry_its_notifications() {
        let mut dma = stream(false);
        // 3 frames cannot be split in two.
        assert!(matches!(
            dma.attach_buffer(12, 2),
            Err(DmaError::Notification(NotificationError::Uneven { .. }))
        ));
        // Not whole frames, even without notifications.
        assert!(matches!(
            dma.attach_buffer(6, 0),
            Err(DmaError::Notification(
                NotificationError::PartialFrame { .. }
            ))
        ));
        assert_eq!(dma.buffer_bytes(), 0);
    }

    #[test]
    fn format_changes_only_in_stop_without_a_buffer() {
        let mut dma = stream(false);
        let float = Format::new(SampleFormat::Float32, 2, 44_100).unwrap();
        dma.set_format(float).unwrap();
        assert_eq!(dma.format(), float);
        dma.attach_buffer(8 * 441, 1).unwrap();
        assert_eq!(
            dma.set_format(Format::PREFERRED),
            Err(DmaError::BufferAttached)
        );
        assert_eq!(dma.format(), float);
        dma.detach_buffer().unwrap();
        dma.set_state(KsState::Acquire, 0).unwrap();
        assert_eq!(
            dma.set_format(Format::PREFERRED),
            Err(DmaError::NotStopped(KsState::Acquire))
        );
    }

    #[test]
    fn the_position_moves_only_in_run_and_stop_resets_it() {
        let mut dma = running(1);
        // 5 ms at 48 kHz: 240 frames, 960 bytes.
        assert_eq!(dma.position(50_000), 960);
        // 12.5 ms wraps a 10 ms buffer: 600 frames -> 120 frames into the second pass.
        assert_eq!(dma.position(125_000), 480);
        dma.set_state(KsState::Pause, 125_000).unwrap();
        assert_eq!(dma.position(10_000_000), 480);
        dma.set_state(KsState::Run, 10_000_000).unwrap();
        assert_eq!(dma.position(10_025_000), 960);
        dma.set_state(KsState::Pause, 10_025_000).unwrap();
        dma.set_state(KsState::Acquire, 10_025_000).unwrap();
        assert_eq!(dma.position(10_025_000), 960);
        dma.set_state(KsState::Stop, 10_025_000).unwrap();
        assert_eq!(dma.position(10_025_000), 0);
        assert_eq!(dma.frames(10_025_000), 0);
    }

    #[test]
    fn skipping_states_is_refused_and_changes_nothing() {
        let mut dma = stream(false);
        let error = dma.set_state(KsState::Run, 0).unwrap_err();
        assert!(matches!(error, DmaError::State(StateError::Skip { .. })));
        assert_eq!(error.status(), STATUS_INVALID_DEVICE_STATE);
        assert_eq!(dma.state(), KsState::Stop);
    }

    #[test]
    fn advances_cover_every_byte_once() {
        let mut dma = running(2);
        let mut moved = 0;
        // Irregular steps over 1 s.
        let mut now = 0;
        for step in (1..).map(|i| 3_833 * (i % 13 + 1)) {
            now += step;
            if now > 10_000_000 {
                now = 10_000_000;
            }
            let work = dma.advance(now);
            moved += work.copy.len();
            if now == 10_000_000 {
                break;
            }
        }
        assert_eq!(moved, 48_000 * 4);
        assert_eq!(dma.stats().moved, moved);
        assert_eq!(dma.stats().skipped, 0);
        // Two notifications per 10 ms buffer for 1 s: 200 points, each signalled once, as
        // no step was longer than the 5 ms interval.
        assert_eq!(dma.stats().signalled + dma.stats().merged, 200);
        assert_eq!(dma.stats().merged, 0);
    }

    #[test]
    fn long_gaps_merge_notifications_and_skip_old_bytes() {
        let mut dma = running(2);
        // 25 ms in one go: 1200 frames = 4800 bytes, buffer 1920: 2880 bytes lost; notification
        // points at 240, 480, ..., 1200: five of them, signalled once.
        let work = dma.advance(250_000);
        assert!(work.notify);
        assert_eq!(work.copy.len(), 1920);
        assert_eq!(work.copy.skipped, 2880);
        assert_eq!(dma.stats().signalled, 1);
        assert_eq!(dma.stats().merged, 4);
        // Nothing more without time passing.
        assert_eq!(dma.advance(250_000), Work::default());
    }

    #[test]
    fn pausing_catches_up_and_running_continues() {
        let mut dma = running(1);
        dma.advance(40_000);
        let work = dma.set_state(KsState::Pause, 100_000).unwrap();
        // From 192 frames to 480: the buffer end is a notification point.
        assert_eq!(work.copy.len(), (480 - 192) * 4);
        assert!(work.notify);
        // Paused: nothing moves however long.
        assert_eq!(dma.advance(5_000_000), Work::default());
        dma.set_state(KsState::Run, 5_000_000).unwrap();
        let work = dma.advance(5_050_000);
        assert_eq!(work.copy.first.offset, 0);
        assert_eq!(work.copy.len(), 240 * 4);
        assert!(!work.notify);
        // On the device's timeline (frame n = counter x 48 000 / 10^7) the period ends where
        // the clock restarted (frame 24 000 at counter 5 000 000) plus its 240 frames, less the
        // 480 frames played before the pause, which that origin counts from.
        assert_eq!(work.end, 24_000 - 480 + 720);
    }

    #[test]
    fn stop_restarts_the_bookkeeping() {
        let mut dma = running(1);
        dma.advance(100_000);
        for state in [KsState::Pause, KsState::Acquire, KsState::Stop] {
            dma.set_state(state, 100_000).unwrap();
        }
        for state in [KsState::Acquire, KsState::Pause, KsState::Run] {
            dma.set_state(state, 200_000).unwrap();
        }
        let work = dma.advance(300_000);
        assert_eq!(work.copy.first.offset, 0);
        assert_eq!(work.copy.len(), 1920);
        assert!(work.notify);
        assert_eq!(dma.stats().signalled, 2);
    }

    #[test]
    fn no_buffer_means_no_work() {
        let mut dma = stream(false);
        for state in [KsState::Acquire, KsState::Pause, KsState::Run] {
            dma.set_state(state, 0).unwrap();
        }
        assert_eq!(dma.advance(1_000_000), Work::default());
        assert_eq!(dma.position(1_000_000), 0);
    }

    #[test]
    fn periods_follow_the_notification_interval() {
        // 10 ms buffer, 2 notifications: 5 ms interval, 2.5 ms period.
        assert_eq!(running(2).period_100ns(), 25_000);
        // 10 ms, 1 notification: 5 ms.
        assert_eq!(running(1).period_100ns(), 50_000);
        // No notifications: half the buffer.
        assert_eq!(running(0).period_100ns(), 50_000);
        // A 1 s buffer: capped at 10 ms.
        let mut dma = stream(false);
        dma.attach_buffer(192_000, 1).unwrap();
        assert_eq!(dma.period_100ns(), MAX_PERIOD_100NS);
        // A tiny buffer: at least 1 ms.
        let mut dma = stream(false);
        dma.attach_buffer(8, 2).unwrap();
        assert_eq!(dma.period_100ns(), MIN_PERIOD_100NS);
    }

    #[test]
    fn a_hold_freezes_the_position_in_any_state_and_release_continues() {
        let mut dma = running(1);
        let work = dma.hold(50_000);
        assert_eq!(work.copy.len(), 240 * 4);
        assert!(dma.is_held());
        assert_eq!(dma.hold(60_000), Work::default());
        assert_eq!(dma.position(5_000_000), 960);
        // State changes while held keep the clock frozen.
        dma.set_state(KsState::Pause, 5_000_000).unwrap();
        dma.set_state(KsState::Run, 6_000_000).unwrap();
        assert_eq!(dma.position(7_000_000), 960);
        dma.release(7_000_000);
        assert!(!dma.is_held());
        assert_eq!(dma.position(7_050_000), 1920 % 1920);
        let work = dma.advance(7_050_000);
        assert_eq!(work.copy.len(), 240 * 4);
        assert!(work.notify);
        // Released in PAUSE: nothing runs until RUN.
        let mut dma = running(1);
        dma.set_state(KsState::Pause, 0).unwrap();
        dma.hold(0);
        dma.release(100);
        assert_eq!(dma.position(1_000_000), 0);
    }

    #[test]
    fn errors_describe_themselves() {
        extern crate std;
        use std::string::ToString;
        assert!(
            DmaError::NotStopped(KsState::Run)
                .to_string()
                .contains("Run")
        );
        assert!(DmaError::NoBuffer.to_string().contains("no buffer"));
    }
}
