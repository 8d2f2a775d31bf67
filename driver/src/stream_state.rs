//! The `KSSTATE` machine of a WaveRT stream, and what each transition asks the stream to do.
//!
//! PortCls moves a WaveRT stream one step at a time: up STOP -> ACQUIRE -> PAUSE -> RUN and down
//! RUN -> PAUSE -> ACQUIRE -> STOP, calling `SetState` once per step. A request that skips a
//! state (STOP -> RUN, say) therefore means a bug somewhere; the stream refuses it with
//! `STATUS_INVALID_DEVICE_STATE` and stays where it is, rather than guessing which actions of
//! the skipped steps to take. A request for the current state is accepted and does nothing.
//!
//! | from -> to | action |
//! | --- | --- |
//! | STOP -> ACQUIRE | none (the buffer is already allocated) |
//! | ACQUIRE -> PAUSE | none |
//! | PAUSE -> RUN | [`Action::StartClock`]: run from the kept position |
//! | RUN -> PAUSE | [`Action::PauseClock`]: hold the position |
//! | PAUSE -> ACQUIRE | none (the position is kept) |
//! | ACQUIRE -> STOP | [`Action::ResetPosition`]: position back to 0 |

use portcls_sys::{NTSTATUS, STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_PARAMETER};

/// `KSSTATE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KsState {
    /// `KSSTATE_STOP` (0): no position, no data.
    Stop,
    /// `KSSTATE_ACQUIRE` (1): resources held.
    Acquire,
    /// `KSSTATE_PAUSE` (2): ready, position held.
    Pause,
    /// `KSSTATE_RUN` (3): streaming.
    Run,
}

impl KsState {
    /// Every state, in order.
    pub const ALL: [Self; 4] = [Self::Stop, Self::Acquire, Self::Pause, Self::Run];

    /// The state a raw `KSSTATE` value names, if any.
    #[must_use]
    pub const fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            0 => Some(Self::Stop),
            1 => Some(Self::Acquire),
            2 => Some(Self::Pause),
            3 => Some(Self::Run),
            _ => None,
        }
    }

    /// The raw `KSSTATE` value.
    #[must_use]
    pub const fn raw(self) -> u32 {
        match self {
            Self::Stop => 0,
            Self::Acquire => 1,
            Self::Pause => 2,
            Self::Run => 3,
        }
    }
}

/// What the stream must do for an accepted transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    None,
    /// Start the clock (and the DMA thread's periodic work) from the kept position.
    StartClock,
    /// Stop the clock, keeping the position reached.
    PauseClock,
    /// Reset the position (and any notification bookkeeping) to 0.
    ResetPosition,
}

/// Why a `SetState` request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateError {
    /// The raw value is not a `KSSTATE`.
    Unknown(u32),
    /// The request skips at least one state.
    Skip {
        /// The current state.
        from: KsState,
        /// The requested state.
        to: KsState,
    },
}

impl StateError {
    /// `STATUS_INVALID_PARAMETER` for an unknown value, `STATUS_INVALID_DEVICE_STATE` for a
    /// skip.
    #[must_use]
    pub const fn status(&self) -> NTSTATUS {
        match self {
            Self::Unknown(_) => STATUS_INVALID_PARAMETER,
            Self::Skip { .. } => STATUS_INVALID_DEVICE_STATE,
        }
    }
}

impl core::fmt::Display for StateError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Unknown(raw) => write!(f, "{raw} is not a KSSTATE"),
            Self::Skip { from, to } => write!(f, "{from:?} -> {to:?} skips a state"),
        }
    }
}

impl core::error::Error for StateError {}

/// The action for the transition `from` -> `to`.
///
/// # Errors
/// [`StateError::Skip`] when `to` is not `from` or a neighbour of it.
pub const fn transition(from: KsState, to: KsState) -> Result<Action, StateError> {
    match (from, to) {
        (KsState::Pause, KsState::Run) => Ok(Action::StartClock),
        (KsState::Run, KsState::Pause) => Ok(Action::PauseClock),
        (KsState::Acquire, KsState::Stop) => Ok(Action::ResetPosition),
        // The same state, or the other one-step moves (STOP -> ACQUIRE, ACQUIRE -> PAUSE,
        // PAUSE -> ACQUIRE): nothing to do.
        _ if from.raw().abs_diff(to.raw()) <= 1 => Ok(Action::None),
        _ => Err(StateError::Skip { from, to }),
    }
}

/// A stream's current `KSSTATE`; it starts in STOP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamState {
    current: KsState,
}

impl Default for StreamState {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamState {
    /// A stream in STOP.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            current: KsState::Stop,
        }
    }

    /// The current state.
    #[must_use]
    pub const fn current(&self) -> KsState {
        self.current
    }

    /// Moves to `to` and returns the action to take; on error the state is unchanged.
    ///
    /// # Errors
    /// As [`transition`].
    pub const fn request(&mut self, to: KsState) -> Result<Action, StateError> {
        match transition(self.current, to) {
            Ok(action) => {
                self.current = to;
                Ok(action)
            }
            Err(error) => Err(error),
        }
    }

    /// [`StreamState::request`] for the raw `KSSTATE` value `SetState` receives.
    ///
    /// # Errors
    /// [`StateError::Unknown`] for a value that is not a `KSSTATE`, otherwise as [`transition`].
    pub const fn request_raw(&mut self, raw: u32) -> Result<Action, StateError> {
        match KsState::from_raw(raw) {
            Some(to) => self.request(to),
            None => Err(StateError::Unknown(raw)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_values_round_trip_and_unknown_values_are_none() {
        for (raw, state) in (0..).zip(KsState::ALL) {
            assert_eq!(state.raw(), raw);
            assert_eq!(KsState::from_raw(raw), Some(state));
        }
        assert_eq!(KsState::from_raw(4), None);
        assert_eq!(KsState::from_raw(u32::MAX), None);
    }

    #[test]
    fn every_pair_of_states_has_the_documented_outcome() {
        use Action::{None as Nothing, PauseClock, ResetPosition, StartClock};
        use KsState::{Acquire, Pause, Run, Stop};
        let skip = |from, to| Err(StateError::Skip { from, to });
        #[rustfmt::skip]
        let table = [
            (Stop, Stop, Ok(Nothing)),       (Stop, Acquire, Ok(Nothing)),
            (Stop, Pause, skip(Stop, Pause)), (Stop, Run, skip(Stop, Run)),
            (Acquire, Stop, Ok(ResetPosition)), (Acquire, Acquire, Ok(Nothing)),
            (Acquire, Pause, Ok(Nothing)),   (Acquire, Run, skip(Acquire, Run)),
            (Pause, Stop, skip(Pause, Stop)), (Pause, Acquire, Ok(Nothing)),
            (Pause, Pause, Ok(Nothing)),     (Pause, Run, Ok(StartClock)),
            (Run, Stop, skip(Run, Stop)),    (Run, Acquire, skip(Run, Acquire)),
            (Run, Pause, Ok(PauseClock)),    (Run, Run, Ok(Nothing)),
        ];
        for (from, to, expected) in table {
            assert_eq!(transition(from, to), expected, "{from:?} -> {to:?}");
        }
        // The table covers all 16 pairs.
        for from in KsState::ALL {
            for to in KsState::ALL {
                assert!(table.iter().any(|&(f, t, _)| f == from && t == to));
            }
        }
    }

    #[test]
    fn accepted_transitions_are_exactly_neighbours_and_self() {
        for from in KsState::ALL {
            for to in KsState::ALL {
                let distance = from.raw().abs_diff(to.raw());
                assert_eq!(
                    transition(from, to).is_ok(),
                    distance <= 1,
                    "{from:?} -> {to:?}"
                );
            }
        }
    }

    #[test]
    fn a_full_cycle_starts_pauses_and_resets_in_order() {
        let mut state = StreamState::new();
        assert_eq!(state.current(), KsState::Stop);
        let mut actions = [Action::None; 6];
        for (slot, raw) in actions.iter_mut().zip([1, 2, 3, 2, 1, 0]) {
            *slot = state.request_raw(raw).unwrap();
        }
        assert_eq!(
            actions,
            [
                Action::None,
                Action::None,
                Action::StartClock,
                Action::PauseClock,
                Action::None,
                Action::ResetPosition,
            ]
        );
        assert_eq!(state.current(), KsState::Stop);
    }

    #[test]
    fn a_refused_skip_leaves_the_state_unchanged_with_invalid_device_state() {
        let mut state = StreamState::default();
        let error = state.request(KsState::Run).unwrap_err();
        assert_eq!(
            error,
            StateError::Skip {
                from: KsState::Stop,
                to: KsState::Run
            }
        );
        assert_eq!(error.status().cast_unsigned(), 0xC000_0184);
        assert_eq!(state.current(), KsState::Stop);
        assert_eq!(state.request(KsState::Acquire), Ok(Action::None));
        assert_eq!(state.current(), KsState::Acquire);
    }

    #[test]
    fn an_unknown_raw_state_is_an_invalid_parameter() {
        let mut state = StreamState::new();
        let error = state.request_raw(7).unwrap_err();
        assert_eq!(error, StateError::Unknown(7));
        assert_eq!(error.status().cast_unsigned(), 0xC000_000D);
        assert_eq!(state.current(), KsState::Stop);
    }

    #[test]
    fn pause_run_pause_toggles_the_clock_each_time() {
        let mut state = StreamState::new();
        state.request(KsState::Acquire).unwrap();
        state.request(KsState::Pause).unwrap();
        for _ in 0..3 {
            assert_eq!(state.request(KsState::Run), Ok(Action::StartClock));
            assert_eq!(state.request(KsState::Run), Ok(Action::None));
            assert_eq!(state.request(KsState::Pause), Ok(Action::PauseClock));
        }
    }
}
