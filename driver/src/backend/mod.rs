//! The devices a WaveRT stream runs on, and the one contract between them and the stream.
//!
//! Everything PortCls and the audio stack see is the same for every device: the adapter, the
//! filters and their descriptors, the stream object ([`crate::stream`]: its format, buffer,
//! notification events, packets, KS state machine and position reports). What differs is what
//! times a stream and moves its audio:
//! - [`virtual_device`]: a root-enumerated adapter with no hardware; each stream's engine is a
//!   driver-owned thread, the stream resource registered with PortCls.
//! - [`virtio`]: a virtio-sound PCI function; the device times the streams through its
//!   interrupt (the stream resource registered with PortCls) and moves the audio in place in
//!   the buffers' pages.
//!
//! # The contract
//! A backend answers the crate's `StreamBackend` trait for a stream, always inside the adapter's gate (see
//! [`crate::device`]), at `PASSIVE_LEVEL`:
//!
//! | | virtual device | virtio-sound |
//! | --- | --- | --- |
//! | start (STOP -> ACQUIRE) | the engine thread starts, registered with PortCls | the stream binds to the device's stream of its direction: `SET_PARAMS`, `PREPARE` |
//! | run, pause | the emulated DMA clock runs, holds | `START` and the first periods; `STOP` |
//! | stop (ACQUIRE -> STOP) | the engine stops, unregistered | `RELEASE`: every period back; unbound |
//! | halt, resume (PnP stop and removal, D3 and D0) | the engine stops and restarts, the clock holds | unbound and bound again, the position holds |
//! | position | the clock, at the stream's rate | the periods the device consumed, interpolated |
//! | period completion | the engine's tick: audio moved, events signalled at each point | the DPC: the next period posted, events signalled at each point |
//!
//! [`Backend`] is which one a stream has, fixed when the stream is made (a device is one or
//! the other for its whole life).
//!
//! The stream's state machine, format and buffer geometry are kept, for both, by the emulated
//! DMA engine ([`virtual_device::dma::Dma`]); on a device its clock is not used.

pub mod virtio;
pub mod virtual_device;

use portcls_sys::NTSTATUS;

use crate::device::Inside;
use crate::stream::{Inner, WaveStream};
use crate::stream_state::KsState;

/// What runs a WaveRT stream: see the [module](self) docs.
pub(crate) trait StreamBackend {
    /// `SetState`: one KS step (the state machine refuses the others), the backend's own work
    /// with it (start at STOP -> ACQUIRE, stop at ACQUIRE -> STOP). A failed step leaves the
    /// stream where it was.
    fn set_state(stream: &WaveStream, inside: &mut Inside<'_>, to: KsState) -> NTSTATUS;
    /// The device stops, goes away or leaves D0: the backend lets go of the stream's hardware;
    /// the position holds.
    fn halt(stream: &WaveStream, inside: &mut Inside<'_>);
    /// Back from a halt: an acquired stream takes its hardware again.
    fn resume(stream: &WaveStream, inside: &mut Inside<'_>);
    /// The stream, or its buffer, goes: nothing of it may stay on the backend.
    fn detach(stream: &WaveStream, inside: &mut Inside<'_>);
    /// The linear position in frames since STOP at counter `now`.
    fn frames(inner: &Inner, now: u64) -> u64;
    /// The frames whose audio has been moved (the periods completed).
    fn done_frames(inner: &Inner) -> u64;
    /// Before a capture packet is handed out: the audio up to `now` is moved.
    fn catch_up(stream: &WaveStream, inner: &mut Inner, now: u64);
    /// The counter value at which the position reached `frame`, if known.
    fn counter_at(inner: &Inner, frame: u64, now: u64) -> u64;
}

/// Which backend a stream runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// [`virtual_device`].
    VirtualDevice,
    /// [`virtio`].
    Virtio,
}

/// Calls `$method` of the backend `$backend` is.
macro_rules! dispatch {
    ($backend:expr, $method:ident($($arg:expr),*)) => {
        match $backend {
            Backend::VirtualDevice => {
                <virtual_device::stream::Threaded as StreamBackend>::$method($($arg),*)
            }
            Backend::Virtio => <virtio::wave_stream::OnDevice as StreamBackend>::$method($($arg),*),
        }
    };
}

impl Backend {
    /// See [`StreamBackend::set_state`].
    pub(crate) fn set_state(
        self,
        stream: &WaveStream,
        inside: &mut Inside<'_>,
        to: KsState,
    ) -> NTSTATUS {
        dispatch!(self, set_state(stream, inside, to))
    }

    /// See [`StreamBackend::halt`].
    pub(crate) fn halt(self, stream: &WaveStream, inside: &mut Inside<'_>) {
        dispatch!(self, halt(stream, inside));
    }

    /// See [`StreamBackend::resume`].
    pub(crate) fn resume(self, stream: &WaveStream, inside: &mut Inside<'_>) {
        dispatch!(self, resume(stream, inside));
    }

    /// See [`StreamBackend::detach`].
    pub(crate) fn detach(self, stream: &WaveStream, inside: &mut Inside<'_>) {
        dispatch!(self, detach(stream, inside));
    }

    /// See [`StreamBackend::frames`].
    pub(crate) fn frames(self, inner: &Inner, now: u64) -> u64 {
        dispatch!(self, frames(inner, now))
    }

    /// See [`StreamBackend::done_frames`].
    pub(crate) fn done_frames(self, inner: &Inner) -> u64 {
        dispatch!(self, done_frames(inner))
    }

    /// See [`StreamBackend::catch_up`].
    pub(crate) fn catch_up(self, stream: &WaveStream, inner: &mut Inner, now: u64) {
        dispatch!(self, catch_up(stream, inner, now));
    }

    /// See [`StreamBackend::counter_at`].
    pub(crate) fn counter_at(self, inner: &Inner, frame: u64, now: u64) -> u64 {
        dispatch!(self, counter_at(inner, frame, now))
    }
}
