//! A WaveRT stream on the virtio device in virtual time: the driver's stream logic
//! (`wavert_sample::backend::virtio::stream`) and device layer against the oracle kept at the stream's
//! rate by the model (`virtio_oracle::paced`). The position is exact against what the device
//! consumed at every completion and never more than a period ahead between them; pauses hold
//! it; captured audio lands where the position says; a stop releases every period.
#![cfg(target_os = "linux")]

mod common;

use common::{Function, MSIX_VECTORS, Memory, never_wait, pieces_of, start};
use virtio_oracle::paced::Paced;
use virtio_oracle::{Block, Oracle};
use wavert_sample::backend::virtio::device::{Report, SoundDevice};
use wavert_sample::backend::virtio::sound;
use wavert_sample::backend::virtio::stream::{
    PcmStep, PeriodClock, PeriodPlan, Periods, pcm_steps, token,
};
use wavert_sample::format::{Format, SampleFormat};
use wavert_sample::stream_state::KsState;

/// The counter: nanoseconds.
const FREQUENCY: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

/// One WaveRT stream on device stream `stream`, driven the way the driver's shell will.
struct Stream {
    function: Function<Paced>,
    memory: Memory,
    device: SoundDevice,
    id: u32,
    format: Format,
    plan: PeriodPlan,
    notifications: u32,
    buffer: Block,
    periods: Periods,
    clock: PeriodClock,
    state: KsState,
    now: u64,
    completions: u64,
    /// Notification events signalled (one per notification interval completed).
    signals: u64,
}

impl Stream {
    fn open(id: u32, format: Format, buffer_bytes: u32, notifications: u32) -> Self {
        let (mut function, memory, device) = start(Paced::new(Oracle::new()), MSIX_VECTORS);
        let plan = PeriodPlan::new(&format, buffer_bytes, notifications).expect("a plan");
        let buffer = function
            .0
            .device()
            .oracle()
            .alloc(usize::try_from(buffer_bytes).unwrap(), 4096);
        Self {
            function,
            memory,
            device,
            id,
            format,
            plan,
            notifications,
            buffer,
            periods: Periods::default(),
            clock: PeriodClock::new(plan.period_frames, format.rate(), FREQUENCY),
            state: KsState::Stop,
            now: 0,
            completions: 0,
            signals: 0,
        }
    }

    fn set_state(&mut self, to: KsState) {
        for step in pcm_steps(self.state, to) {
            let result = match step {
                PcmStep::SetParams => {
                    let params = sound::Params {
                        stream: self.id,
                        buffer_bytes: self.plan.period_bytes * self.plan.periods,
                        period_bytes: self.plan.period_bytes,
                        channels: u8::try_from(self.format.channels()).unwrap(),
                        format: sound::wire_format(self.format.sample()),
                        rate: sound::wire_rate(self.format.rate()).unwrap(),
                    };
                    self.device
                        .set_params(&mut self.function, &params, &mut never_wait)
                }
                PcmStep::Prepare => self.device.pcm(
                    &mut self.function,
                    sound::R_PCM_PREPARE,
                    self.id,
                    &mut never_wait,
                ),
                PcmStep::Start => {
                    let result = self.device.pcm(
                        &mut self.function,
                        sound::R_PCM_START,
                        self.id,
                        &mut never_wait,
                    );
                    self.clock.start(self.now);
                    self.fill();
                    result
                }
                PcmStep::Stop => {
                    let result = self.device.pcm(
                        &mut self.function,
                        sound::R_PCM_STOP,
                        self.id,
                        &mut never_wait,
                    );
                    self.clock.pause(self.now);
                    result
                }
                PcmStep::Release => {
                    let result = self.device.pcm(
                        &mut self.function,
                        sound::R_PCM_RELEASE,
                        self.id,
                        &mut never_wait,
                    );
                    // The device completed every period it held before it answered.
                    self.collect();
                    assert_eq!(self.periods.in_flight(), 0, "released");
                    self.periods.reset();
                    self.clock.reset();
                    result
                }
            };
            result.unwrap_or_else(|error| panic!("{step:?}: {error:?}"));
        }
        self.state = to;
    }

    /// Keeps the device's periods posted, as each completion does.
    fn fill(&mut self) {
        while let Some(n) = self.periods.take_next(&self.plan) {
            let pieces = pieces_of(&self.buffer, self.plan.offset(n), self.plan.period_bytes);
            self.device
                .post_period(&mut self.function, self.id, &pieces, token(n))
                .expect("a period");
        }
    }

    fn collect(&mut self) {
        self.function.0.collect_interrupts();
        let _ = self.function.0.take_interrupts();
        let mut reports = Vec::new();
        self.device
            .completions(&mut self.function, |report| reports.push(report))
            .expect("a conforming device");
        for report in reports {
            let Report::Period(completion) = report else {
                continue;
            };
            assert_eq!(completion.stream, self.id);
            assert!(completion.result.is_ok(), "{completion:?}");
            assert!(
                self.periods.complete(completion.token),
                "in order: {completion:?}"
            );
            self.clock.complete(self.now);
            self.completions += 1;
            let per_notification =
                u64::from(self.plan.periods_per_notification(self.notifications));
            if per_notification > 0 && self.periods.completed().is_multiple_of(per_notification) {
                self.signals += 1;
            }
            if self.state == KsState::Run {
                self.check_capture(self.periods.completed() - 1);
            }
        }
    }

    /// The time moves on by `step`; whatever the device finished is taken, as the DPC does.
    fn tick(&mut self, step: u64) {
        self.now += step;
        self.function.0.device().advance_to(self.now);
        self.collect();
        if self.state == KsState::Run {
            self.fill();
        }
        let played = self
            .function
            .0
            .device()
            .frames(usize::try_from(self.id).unwrap());
        let position = self.clock.position(self.now);
        assert!(
            played <= position && position <= played + u64::from(self.plan.period_frames),
            "at {} ns: position {position}, device {played}",
            self.now
        );
    }

    /// For capture: period `n` holds the device's frames, frame k's samples being k.
    fn check_capture(&mut self, n: u64) {
        if self.id != 1 {
            return;
        }
        let frame_bytes = self.format.bytes_per_frame();
        let mut bytes = vec![0; usize::try_from(self.plan.period_bytes).unwrap()];
        let at = self.buffer.address + u64::from(self.plan.offset(n));
        self.function.0.device().oracle().read(at, &mut bytes);
        let first = n * u64::from(self.plan.period_frames);
        for (k, frame) in bytes
            .chunks_exact(usize::try_from(frame_bytes).unwrap())
            .enumerate()
        {
            let expected = (first + k as u64).to_le_bytes();
            assert_eq!(frame[..2], expected[..2], "period {n} frame {k}");
        }
    }

    fn close(self) {
        let Self {
            mut function,
            mut memory,
            device,
            ..
        } = self;
        assert!(device.stop(&mut function, &mut memory, |_, _| panic!(
            "a period left on the device"
        )));
        assert_eq!(memory.live, []);
        assert_eq!(function.0.breaches(), [] as [String; 0]);
        assert_eq!(function.0.device_errors(), [] as [String; 0]);
        assert_eq!(function.0.device().underruns(), 0);
    }
}

fn run_to(stream: &mut Stream) {
    for state in [KsState::Acquire, KsState::Pause, KsState::Run] {
        stream.set_state(state);
    }
}

fn stop(stream: &mut Stream) {
    for state in [KsState::Pause, KsState::Acquire, KsState::Stop] {
        stream.set_state(state);
    }
}

#[test]
fn a_playback_stream_keeps_its_position_on_the_devices_consumption() {
    let format = Format::new(SampleFormat::Pcm16, 2, 48_000).unwrap();
    // 20 ms, two notifications: two 10 ms periods.
    let mut stream = Stream::open(0, format, 3840, 2);
    run_to(&mut stream);
    for _ in 0..1000 {
        stream.tick(MS);
    }
    // One second at 48 kHz: exactly 100 periods, both exact.
    assert_eq!(stream.function.0.device().frames(0), 48_000);
    assert_eq!(stream.clock.position(stream.now), 48_000);
    assert_eq!(stream.completions, 100);
    assert_eq!(stream.signals, 100, "one notification per 10 ms");
    // A pause holds the position and the device plays nothing.
    stream.set_state(KsState::Pause);
    let held = stream.clock.position(stream.now);
    for _ in 0..100 {
        stream.tick(MS);
    }
    assert_eq!(stream.clock.position(stream.now), held);
    assert_eq!(stream.function.0.device().frames(0), 48_000);
    stream.set_state(KsState::Run);
    for _ in 0..250 {
        stream.tick(MS);
    }
    assert_eq!(stream.function.0.device().frames(0), 48_000 + 12_000);
    stop(&mut stream);
    stream.close();
}

#[test]
fn at_44_1_khz_with_odd_ticks_the_position_stays_within_a_period_of_the_device() {
    let format = Format::new(SampleFormat::Pcm24In32, 2, 44_100).unwrap();
    // 40 ms, four notifications: 441-frame periods of 3528 bytes.
    let mut stream = Stream::open(0, format, 4 * 3528, 4);
    assert_eq!((stream.plan.period_frames, stream.plan.periods), (441, 4));
    run_to(&mut stream);
    for k in 0..3000_u64 {
        stream.tick(333_333 + k % 7 * 1_000);
    }
    assert!(stream.completions > 0);
    stop(&mut stream);
    stream.close();
}

#[test]
fn a_capture_stream_records_the_devices_frames_where_its_position_says() {
    let format = Format::new(SampleFormat::Pcm16, 2, 48_000).unwrap();
    let mut stream = Stream::open(1, format, 3840, 2);
    run_to(&mut stream);
    for _ in 0..500 {
        stream.tick(MS);
    }
    assert_eq!(stream.function.0.device().frames(1), 24_000);
    assert_eq!(stream.completions, 50);
    stop(&mut stream);
    stream.close();
}

#[test]
fn a_stream_stopped_while_running_has_every_period_released() {
    let format = Format::new(SampleFormat::Pcm24In32, 2, 48_000).unwrap();
    let mut stream = Stream::open(0, format, 4 * 3840, 4);
    run_to(&mut stream);
    stream.tick(15 * MS);
    assert_eq!(stream.periods.in_flight(), 4);
    stop(&mut stream);
    assert_eq!(stream.periods.in_flight(), 0);
    // Again from STOP: the position starts from 0.
    run_to(&mut stream);
    stream.tick(10 * MS);
    assert_eq!(stream.clock.position(stream.now), 480);
    stop(&mut stream);
    stream.close();
}
