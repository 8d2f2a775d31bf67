//! A WaveRT stream on the virtual device: its engine thread ([`Engine`]) runs from STOP ->
//! ACQUIRE to ACQUIRE -> STOP and is the stream resource registered with PortCls for exactly
//! that time; each period it advances the emulated DMA ([`Dma`](super::dma::Dma)), carries the
//! audio through the loopback cable ([`cable::carry`]) and signals the notification events. A
//! halt stops the engine and freezes the clock; the resume restarts both.

use portcls_sys::{NTSTATUS, STATUS_SUCCESS};

use super::cable::{self, SharedBuffer};
use super::dma::Work;
use super::engine::{Engine, Period};
use crate::backend::StreamBackend;
use crate::device::{Adapter, Inside};
use crate::packet::{ReadPackets, WritePackets};
use crate::stream::{Inner, WaveStream, counter};
use crate::stream_state::KsState;
use crate::sync::SpinLock;

/// The virtual device's side of the stream contract.
pub(crate) struct Threaded;

impl StreamBackend for Threaded {
    fn set_state(stream: &WaveStream, inside: &mut Inside<'_>, to: KsState) -> NTSTATUS {
        let from = stream.inner.lock().dma.state();
        let starting = from == KsState::Stop && to == KsState::Acquire;
        if starting
            && !inside.halted()
            && let Err(status) = start_engine(stream, inside)
        {
            return status;
        }
        let outcome = {
            let mut inner = stream.inner.lock();
            let now = counter();
            let outcome = inner.dma.set_state(to, now);
            if let Ok(work) = outcome {
                perform(&mut inner, work, Adapter::of(&stream.adapter));
                if !inner.dma.is_capture() {
                    Adapter::of(&stream.adapter)
                        .cable()
                        .lock()
                        .set_playing(to == KsState::Run);
                }
                if to == KsState::Stop {
                    // Packet numbers count from STOP, like the position.
                    inner.written = WritePackets::new();
                    inner.read = ReadPackets::new();
                }
            }
            outcome
        };
        match outcome {
            Ok(_) => {
                if from == KsState::Acquire && to == KsState::Stop {
                    stop_engine(stream, inside);
                }
                STATUS_SUCCESS
            }
            Err(error) => {
                if starting {
                    stop_engine(stream, inside);
                }
                error.status()
            }
        }
    }

    fn halt(stream: &WaveStream, inside: &mut Inside<'_>) {
        {
            let mut inner = stream.inner.lock();
            let work = inner.dma.hold(counter());
            perform(&mut inner, work, Adapter::of(&stream.adapter));
        }
        stop_engine(stream, inside);
    }

    fn resume(stream: &WaveStream, inside: &mut Inside<'_>) {
        let acquired = stream.inner.lock().dma.state() != KsState::Stop;
        if acquired {
            let _ = start_engine(stream, inside);
        }
        stream.inner.lock().dma.release(counter());
    }

    fn detach(stream: &WaveStream, inside: &mut Inside<'_>) {
        stop_engine(stream, inside);
        if !stream.capture {
            Adapter::of(&stream.adapter)
                .cable()
                .lock()
                .set_playing(false);
        }
    }

    fn frames(inner: &Inner, now: u64) -> u64 {
        inner.dma.frames(now)
    }

    fn done_frames(inner: &Inner) -> u64 {
        inner.dma.done_frames()
    }

    fn catch_up(stream: &WaveStream, inner: &mut Inner, now: u64) {
        let work = inner.dma.advance(now);
        perform(inner, work, Adapter::of(&stream.adapter));
    }

    fn counter_at(inner: &Inner, frame: u64, _now: u64) -> u64 {
        inner.dma.counter_at(frame).unwrap_or(0)
    }
}

/// Starts the stream's engine (nothing if it runs).
fn start_engine(stream: &WaveStream, _inside: &mut Inside<'_>) -> Result<(), NTSTATUS> {
    // SAFETY: inside the gate (see the field's rule).
    let slot = unsafe { &mut *stream.engine.get() };
    if slot.is_some() {
        return Ok(());
    }
    let period = stream.inner.lock().dma.period_100ns();
    let tick = Tick {
        inner: core::ptr::from_ref(&stream.inner),
        adapter: core::ptr::from_ref(Adapter::of(&stream.adapter)),
    };
    *slot = Some(Engine::start(stream.pool, &stream.manager, period, tick)?);
    Ok(())
}

/// Stops the stream's engine, unregistering it (nothing if none runs).
pub(crate) fn stop_engine(stream: &WaveStream, _inside: &mut Inside<'_>) {
    // SAFETY: inside the gate (see the field's rule).
    let slot = unsafe { &mut *stream.engine.get() };
    if let Some(engine) = slot.take() {
        // A failed removal is PortCls's to report; the thread is stopped regardless.
        let _ = engine.stop();
    }
}

/// Carries out one advance's work: the period's audio (see [`cable::carry`]: render into the
/// loopback cable; the cable, or the tone when nothing plays, into a capture buffer), and the
/// notifications.
pub(crate) fn perform(inner: &mut Inner, work: Work, adapter: &Adapter) {
    if work.copy.is_empty() && !work.notify {
        return;
    }
    if let Some(mapping) = inner.mapping
        && !work.copy.is_empty()
    {
        let buffer = SharedBuffer {
            address: mapping.address,
            bytes: mapping.bytes,
        };
        let (capture, format) = (inner.dma.is_capture(), inner.dma.format());
        let gain = adapter.controls(capture).gain();
        let mut wire = adapter.cable().lock();
        // SAFETY: the mapping is attached while we hold the stream's lock, so its `bytes` are
        // mapped, readable and writable for the call.
        unsafe {
            cable::carry(
                &mut wire,
                &mut inner.tone,
                capture,
                format,
                &work,
                buffer,
                gain,
            );
        }
    }
    if work.notify {
        inner.signal();
    }
}

/// The engine's periodic work: advance the DMA and do what it says.
pub(crate) struct Tick {
    inner: *const SpinLock<Inner>,
    adapter: *const Adapter,
}

// SAFETY: the pointers are to the stream's lock and the adapter, which are Sync and
// outlive the engine (the stream stops the engine before it is freed, and holds a reference on
// the adapter until then).
unsafe impl Send for Tick {}
// SAFETY: as above.
unsafe impl Sync for Tick {}

impl Period for Tick {
    fn tick(&self, counter: i64, _frequency: i64) {
        // SAFETY: see the Send impl: the lock outlives the engine running this.
        let lock = unsafe { &*self.inner };
        // SAFETY: as above.
        let adapter = unsafe { &*self.adapter };
        let mut inner = lock.lock();
        let work = inner.dma.advance(u64::try_from(counter).unwrap_or(0));
        perform(&mut inner, work, adapter);
    }
}
