//! A WaveRT stream on the virtio-sound device: the stream keeps no engine, the device is its
//! clock. From STOP -> ACQUIRE to ACQUIRE -> STOP the stream is bound to the device's first
//! stream of its direction as a [`PeriodSink`]; the KS steps send the PCM commands
//! ([`pcm_steps`](super::stream::pcm_steps)); RUN posts the first periods in place in the
//! buffer's pages; each completion (in the DPC) moves the position on, posts the next period
//! and signals the events at each notification point. Steps towards STOP always succeed (the
//! client must be able to tear down); steps towards RUN report the device's failure. A halt
//! (stop, removal, leaving D0) unbinds the stream and holds its position; the resume binds it
//! again to the device as it came back, from the first period not completed.

use core::ptr::NonNull;

use portcls_sys::{NTSTATUS, STATUS_NOT_SUPPORTED, STATUS_SUCCESS};

use super::device::{Completion, MAX_PIECES, Piece, period_pieces};
use super::hardware::{DeviceAccess, PeriodSink};
use super::sound;
use super::stream::{PeriodClock, PeriodPlan, Periods, token};
use crate::backend::StreamBackend;
use crate::device::Inside;
use crate::packet::{ReadPackets, WritePackets};
use crate::stream::{Inner, WaveStream, counter};
use crate::stream_state::KsState;

/// The virtio-sound device's side of the stream contract.
pub(crate) struct OnDevice;

impl StreamBackend for OnDevice {
    fn set_state(stream: &WaveStream, inside: &mut Inside<'_>, to: KsState) -> NTSTATUS {
        set_device_state(stream, inside, to)
    }

    fn halt(stream: &WaveStream, inside: &mut Inside<'_>) {
        unbind(stream, inside);
    }

    fn resume(stream: &WaveStream, inside: &mut Inside<'_>) {
        rebind(stream, inside);
    }

    fn detach(stream: &WaveStream, inside: &mut Inside<'_>) {
        release(stream, inside);
    }

    fn frames(inner: &Inner, now: u64) -> u64 {
        inner.link.map_or(0, |link| link.clock.position(now))
    }

    fn done_frames(inner: &Inner) -> u64 {
        inner.link.map_or(0, |link| {
            link.periods.completed() * u64::from(link.plan.period_frames)
        })
    }

    /// The device has moved every frame up to the position by the time it says so.
    fn catch_up(_stream: &WaveStream, _inner: &mut Inner, _now: u64) {}

    /// The counter of a frame is not recorded: a packet's is now's, an upper bound (the
    /// packet is complete by now).
    fn counter_at(_inner: &Inner, _frame: u64, now: u64) -> u64 {
        now
    }
}

/// A WaveRT stream on a device stream (see [`stream`](super::stream)): `Inner::link` from STOP ->
/// ACQUIRE to ACQUIRE -> STOP.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Link {
    /// The device stream.
    id: u32,
    plan: PeriodPlan,
    /// Notification points per buffer (0: none).
    notifications: u32,
    periods: Periods,
    clock: PeriodClock,
    /// Bound to the device (not while the device is halted).
    bound: bool,
    /// Why the stream no longer works on the device: a period or the device failed.
    failed: Option<NTSTATUS>,
}

impl Link {
    /// Why the stream no longer works on the device, if it does not.
    pub(crate) const fn failed(&self) -> Option<NTSTATUS> {
        self.failed
    }
}

/// The physical address of page `index` of the buffer.
fn page(inner: &Inner, index: u32) -> Option<u64> {
    let table = inner.pages.as_deref()?;
    let at = usize::try_from(index).ok()?.checked_mul(8)?;
    let bytes = table.get(at..at.checked_add(8)?)?;
    let address = u64::from_le_bytes(bytes.try_into().ok()?);
    (address != 0).then_some(address)
}

/// Keeps the device's periods posted (RUN, and after each completion).
fn fill(inner: &mut Inner, device: &mut DeviceAccess<'_>) -> Result<(), NTSTATUS> {
    let Some(mut link) = inner.link else {
        return Ok(());
    };
    let mut result = Ok(());
    while let Some(n) = link.periods.take_next(&link.plan) {
        let mut pieces = [Piece { address: 0, len: 0 }; MAX_PIECES];
        let posted = period_pieces(
            link.plan.offset(n),
            link.plan.period_bytes,
            |at| page(inner, at),
            &mut pieces,
        )
        .map_err(|error| error.status())
        .and_then(|count| {
            let pieces = pieces.get(..count).unwrap_or(&[]);
            device.post(link.id, pieces, token(n))
        });
        if let Err(status) = posted {
            link.periods.unpost();
            result = Err(status);
            break;
        }
    }
    inner.link = Some(link);
    result
}

/// The stream as its device sees it.
fn sink(stream: &WaveStream) -> NonNull<dyn PeriodSink> {
    let sink: &dyn PeriodSink = stream;
    NonNull::from(sink)
}

/// `SetState` on a device.
fn set_device_state(stream: &WaveStream, inside: &mut Inside<'_>, to: KsState) -> NTSTATUS {
    let from = stream.inner.lock().dma.state();
    if let Err(error) = crate::stream_state::transition(from, to) {
        return error.status();
    }
    let now = counter();
    let stepped = match (from, to) {
        (KsState::Stop, KsState::Acquire) => bind(stream, inside),
        (KsState::Pause, KsState::Run) => run(stream, inside, now),
        (KsState::Run, KsState::Pause) => {
            pause(stream, inside, now);
            Ok(())
        }
        (KsState::Acquire, KsState::Stop) => {
            release(stream, inside);
            Ok(())
        }
        _ => Ok(()),
    };
    if let Err(status) = stepped {
        return status;
    }
    let mut inner = stream.inner.lock();
    // The state machine's; the work it hands out is the virtual engine's.
    let _ = inner.dma.set_state(to, now);
    if to == KsState::Stop {
        inner.written = WritePackets::new();
        inner.read = ReadPackets::new();
    }
    STATUS_SUCCESS
}

/// STOP -> ACQUIRE, or back from a halt: binds the stream to its device stream and sets
/// it up (`SET_PARAMS`, `PREPARE`). A halted device binds nothing (the resume does).
fn bind(stream: &WaveStream, inside: &mut Inside<'_>) -> Result<(), NTSTATUS> {
    let Some(hardware) = inside.hardware() else {
        return Ok(());
    };
    let (id, info) = hardware
        .stream_of(stream.capture, stream.endpoint)
        .ok_or(STATUS_NOT_SUPPORTED)?;
    let (link, params) = {
        let inner = stream.inner.lock();
        let format = inner.dma.format();
        if !info.supports(&format) {
            return Err(STATUS_NOT_SUPPORTED);
        }
        let notifications = inner.dma.notifications().map_or(0, |n| n.count());
        let bytes = inner.dma.buffer_bytes();
        let plan = PeriodPlan::new(&format, bytes, notifications)
            .map_err(|_| portcls_sys::STATUS_INVALID_DEVICE_STATE)?;
        let link = match inner.link {
            // Back from a halt: the position held, the periods from the first not
            // completed (the device let go of the others when it was reset).
            Some(mut link) => {
                link.periods.forget_posted();
                link.id = id;
                link
            }
            None => Link {
                id,
                plan,
                notifications,
                periods: Periods::default(),
                clock: PeriodClock::new(plan.period_frames, format.rate(), inner.frequency),
                bound: false,
                failed: None,
            },
        };
        let params = sound::Params {
            stream: id,
            buffer_bytes: plan.period_bytes * plan.periods,
            period_bytes: plan.period_bytes,
            channels: u8::try_from(format.channels()).unwrap_or(0),
            format: sound::wire_format(format.sample()),
            rate: sound::wire_rate(format.rate()).unwrap_or(0),
        };
        (link, params)
    };
    hardware.bind(id, sink(stream))?;
    let set_up = hardware
        .set_params(&params)
        .and_then(|()| hardware.pcm(sound::R_PCM_PREPARE, id));
    if let Err(status) = set_up {
        hardware.unbind(id);
        return Err(status);
    }
    let mut inner = stream.inner.lock();
    inner.link = Some(Link {
        bound: true,
        ..link
    });
    Ok(())
}

/// PAUSE -> RUN: `START`, the clock runs, the first periods go to the device.
fn run(stream: &WaveStream, inside: &mut Inside<'_>, now: u64) -> Result<(), NTSTATUS> {
    let link = stream.inner.lock().link;
    let Some(link) = link else {
        // Acquired while halted and not bound since: the stream runs when the device
        // is back, or not at all.
        return Ok(());
    };
    if let Some(status) = link.failed {
        return Err(status);
    }
    let Some(hardware) = inside.hardware().filter(|_| link.bound) else {
        return Ok(());
    };
    hardware.pcm(sound::R_PCM_START, link.id)?;
    hardware
        .access(|device| {
            let mut inner = stream.inner.lock();
            if let Some(link) = inner.link.as_mut() {
                link.clock.start(now);
            }
            fill(&mut inner, device)
        })
        .and_then(|result| result)
}

/// RUN -> PAUSE: `STOP`; the position holds (the periods on the device stay there and
/// may still come back).
fn pause(stream: &WaveStream, inside: &mut Inside<'_>, now: u64) {
    let id = {
        let mut inner = stream.inner.lock();
        let Some(link) = inner.link.as_mut() else {
            return;
        };
        link.clock.pause(now);
        link.bound.then_some(link.id)
    };
    if let (Some(id), Some(hardware)) = (id, inside.hardware()) {
        // A device that refuses goes on playing what it has: the position holds anyway,
        // and the next step (to STOP) takes every period back.
        let _ = hardware.pcm(sound::R_PCM_STOP, id);
    }
}

/// ACQUIRE -> STOP (and before the buffer goes): `RELEASE`, which makes the device hand
/// back every period it holds; they are taken at once, then the stream unbinds.
fn release(stream: &WaveStream, inside: &mut Inside<'_>) {
    let link = stream.inner.lock().link.take();
    let Some(link) = link.filter(|link| link.bound) else {
        return;
    };
    if let Some(hardware) = inside.hardware() {
        let _ = hardware.pcm(sound::R_PCM_RELEASE, link.id);
        // What the device handed back goes to the sinks now, while the stream is still bound.
        let _ = hardware.access(|device| {
            let _ = device.collect();
        });
        hardware.unbind(link.id);
    }
}

/// A halt: the stream unbinds, its position holds.
fn unbind(stream: &WaveStream, inside: &mut Inside<'_>) {
    let now = counter();
    let id = {
        let mut inner = stream.inner.lock();
        let Some(link) = inner.link.as_mut() else {
            return;
        };
        link.clock.pause(now);
        let was = link.bound.then_some(link.id);
        link.bound = false;
        was
    };
    if let (Some(id), Some(hardware)) = (id, inside.hardware()) {
        hardware.unbind(id);
    }
}

/// Back from a halt: an acquired stream binds again and, in RUN, runs again; a device
/// that does not take it back fails the stream (its next step towards RUN and its
/// position report why).
fn rebind(stream: &WaveStream, inside: &mut Inside<'_>) {
    let (state, acquired) = {
        let inner = stream.inner.lock();
        let state = inner.dma.state();
        (state, state != KsState::Stop)
    };
    if !acquired {
        return;
    }
    let now = counter();
    let mut result = bind(stream, inside);
    if result.is_ok() && state == KsState::Run {
        result = run(stream, inside, now);
    }
    if let Err(status) = result {
        let mut inner = stream.inner.lock();
        if let Some(link) = inner.link.as_mut() {
            link.failed.get_or_insert(status);
        }
    }
}

impl PeriodSink for WaveStream {
    fn completed(&self, completion: Completion, device: &mut DeviceAccess<'_>) {
        let now = counter();
        let mut inner = self.inner.lock();
        let running = inner.dma.state() == KsState::Run;
        let Some(link) = inner
            .link
            .as_mut()
            .filter(|link| link.id == completion.stream)
        else {
            return;
        };
        if link.failed.is_some() {
            return;
        }
        if let Err(error) = completion.result {
            link.failed = Some(error.status());
            return;
        }
        if !link.periods.complete(completion.token) {
            link.failed = Some(portcls_sys::STATUS_DEVICE_PROTOCOL_ERROR);
            return;
        }
        link.clock.complete(now);
        let per_point = u64::from(link.plan.periods_per_notification(link.notifications));
        let notify = per_point > 0 && link.periods.completed().is_multiple_of(per_point);
        if running
            && let Err(status) = fill(&mut inner, device)
            && let Some(link) = inner.link.as_mut()
        {
            link.failed = Some(status);
        }
        if notify {
            inner.signal();
        }
    }

    fn failed(&self, status: NTSTATUS) {
        let mut inner = self.inner.lock();
        if let Some(link) = inner.link.as_mut() {
            link.failed.get_or_insert(status);
        }
    }
}
