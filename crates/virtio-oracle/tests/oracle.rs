//! The sample driver's virtio code (`wavert_sample::virtio`) against `vhost-device-sound`: the
//! feature negotiation, split rings and sound protocol the driver implements, checked by a
//! device implementation nobody here wrote. Every request is built, every queue driven and every
//! reply parsed by the driver's own code; the device's refusals are failures unless a test asks
//! for one.
#![cfg(target_os = "linux")]

use portcls_sys::STATUS_DEVICE_PROTOCOL_ERROR;
use virtio_oracle::{Block, Oracle};
use wavert_sample::format::{Format, SampleFormat};
use wavert_sample::virtio::ring::{Buffer, Layout, SplitQueue, Used};
use wavert_sample::virtio::sound::{self, PcmInfo, ReplyError};
use wavert_sample::virtio::transport;

/// The driver's side: its queues over the oracle's memory, and blocks for requests and replies.
struct Driver {
    device: Oracle,
    queues: Vec<SplitQueue>,
    request: Block,
    reply: Block,
    token: u32,
}

impl Driver {
    /// Negotiates features and sets up the four queues, as the start of the driver does.
    fn start() -> Self {
        let mut device = Oracle::new();
        let accepted =
            transport::negotiate(device.offered_features()).expect("a virtio 1.x device");
        assert_eq!(
            accepted,
            transport::F_VERSION_1,
            "the device offers nothing else the driver takes"
        );
        device.accept_features(accepted);
        let size = Layout::size_for(device.max_queue_size()).expect("queues");
        let layout = Layout::new(size).expect("a layout");
        let mut queues = Vec::new();
        for index in 0..usize::from(sound::QUEUES) {
            let block = device.alloc(layout.bytes, 4096);
            // SAFETY: the block is guest memory the oracle keeps mapped while it lives (the
            // driver is dropped with it), 4096-aligned, and only this queue and the device use it.
            let queue = unsafe { SplitQueue::new(block.host, block.address, layout) };
            device.set_queue(
                index,
                size,
                queue.descriptor_address(),
                queue.driver_area_address(),
                queue.device_area_address(),
            );
            queues.push(queue);
        }
        let request = device.alloc(64, 64);
        let reply = device.alloc(512, 64);
        Self {
            device,
            queues,
            request,
            reply,
            token: 0,
        }
    }

    fn config(&self) -> sound::Config {
        sound::Config::parse(&self.device.config())
    }

    /// Sends a control request with room for `reply_len` bytes of reply; returns the
    /// completion and the reply's bytes.
    fn control(&mut self, request: &[u8], reply_len: u32) -> (Used, Vec<u8>) {
        self.device.write(self.request.address, request);
        // What was there before must not pass for a reply.
        self.device.write(self.reply.address, &[0xEE; 512]);
        self.token += 1;
        let chain = [
            Buffer::readable(self.request.address, u32::try_from(request.len()).unwrap()),
            Buffer::writable(self.reply.address, reply_len),
        ];
        self.queues[0]
            .post(&chain, self.token)
            .expect("a control chain");
        self.device
            .notify(sound::CONTROL_QUEUE)
            .expect("the device takes the request");
        let used = self.queues[0]
            .take_used()
            .expect("a conforming used ring")
            .expect("a reply");
        assert_eq!(used.token, self.token);
        assert_eq!(self.queues[0].take_used(), Ok(None));
        let mut reply = vec![0; usize::try_from(reply_len).unwrap()];
        self.device.read(self.reply.address, &mut reply);
        (used, reply)
    }

    /// A command with a status reply, parsed by the driver.
    fn command(&mut self, request: &[u8]) -> Result<(), ReplyError> {
        let (used, reply) = self.control(request, 4);
        sound::parse_status(&reply, used.written)
    }

    fn pcm_infos(&mut self, count: u32) -> Result<Vec<(u32, PcmInfo)>, ReplyError> {
        let size = u32::try_from(sound::PCM_INFO_BYTES).unwrap();
        let request = sound::query_info(sound::R_PCM_INFO, 0, count, size);
        let (used, reply) = self.control(&request, 4 + count.min(8) * size);
        let mut infos = Vec::new();
        sound::parse_pcm_infos(&reply, used.written, 0, count, |id, info| {
            infos.push((id, info));
        })?;
        Ok(infos)
    }
}

fn params(
    stream: u32,
    format: Format,
    period_bytes: u32,
    periods: u32,
) -> [u8; sound::SET_PARAMS_BYTES] {
    sound::Params {
        stream,
        buffer_bytes: period_bytes * periods,
        period_bytes,
        channels: u8::try_from(format.channels()).unwrap(),
        format: sound::wire_format(format.sample()),
        rate: sound::wire_rate(format.rate()).unwrap(),
    }
    .encode()
}

#[test]
fn the_device_reports_streams_the_driver_can_drive() {
    let mut driver = Driver::start();
    let config = driver.config();
    assert_eq!((config.jacks, config.streams), (0, 2));
    let infos = driver
        .pcm_infos(config.streams_used())
        .expect("the streams' info");
    assert_eq!(
        driver.device.interrupts(0),
        1,
        "one used-buffer notification for the reply"
    );
    assert_eq!(infos.len(), 2);
    assert_eq!((infos[0].0, infos[0].1.direction), (0, sound::D_OUTPUT));
    assert_eq!((infos[1].0, infos[1].1.direction), (1, sound::D_INPUT));
    // What the driver's ranges would hold for this device: 16-bit and 24-in-32 (as S32) at
    // both rates; it has no float.
    for (_, info) in &infos {
        for sample in SampleFormat::ALL {
            for rate in [44_100, 48_000] {
                let format = Format::new(sample, 2, rate).unwrap();
                assert_eq!(
                    info.supports(&format),
                    sample != SampleFormat::Float32,
                    "{format:?}"
                );
            }
        }
    }
}

#[test]
fn a_playback_stream_lives_through_its_states_and_every_period_completes() {
    let mut driver = Driver::start();
    let format = Format::new(SampleFormat::Pcm16, 2, 48_000).unwrap();
    // 10 ms periods, four of them in the buffer (the WaveRT buffer's pages, in the driver).
    let period = format.bytes_per_frame() * 480;
    let buffer = driver
        .device
        .alloc(usize::try_from(period * 4).unwrap(), 4096);
    let headers = driver.device.alloc(64, 64);
    let statuses = driver.device.alloc(64, 64);
    driver
        .command(&params(0, format, period, 4))
        .expect("SET_PARAMS");
    driver
        .command(&sound::pcm_command(sound::R_PCM_PREPARE, 0))
        .expect("PREPARE");
    driver
        .command(&sound::pcm_command(sound::R_PCM_START, 0))
        .expect("START");
    driver.device.write(headers.address, &sound::xfer(0));
    // 250 periods, two in flight at a time: the 64-entry rings wrap several times.
    let mut completed = 0_u32;
    for pair in 0..125_u32 {
        for slot in 0..2_u32 {
            let n = pair * 2 + slot;
            let chain = [
                Buffer::readable(headers.address, 4),
                Buffer::readable(buffer.address + u64::from(n % 4 * period), period),
                Buffer::writable(statuses.address + u64::from(slot * 8), 8),
            ];
            driver.queues[2].post(&chain, n).expect("a period");
        }
        driver
            .device
            .notify(sound::TX_QUEUE)
            .expect("the device takes the periods");
        assert_eq!(driver.device.interrupts(2), 2);
        for slot in 0..2_u32 {
            let used = driver.queues[2]
                .take_used()
                .expect("a conforming used ring")
                .expect("a completion");
            assert_eq!(used.token, pair * 2 + slot, "in order");
            let mut status = [0; sound::PCM_STATUS_BYTES];
            driver
                .device
                .read(statuses.address + u64::from(slot * 8), &mut status);
            sound::parse_period(&status, used.written, 0).expect("a played period");
            completed += 1;
        }
        assert_eq!(driver.queues[2].take_used(), Ok(None));
    }
    assert_eq!(completed, 250);
    driver
        .command(&sound::pcm_command(sound::R_PCM_STOP, 0))
        .expect("STOP");
    driver
        .command(&sound::pcm_command(sound::R_PCM_RELEASE, 0))
        .expect("RELEASE");
}

#[test]
fn requests_the_device_refuses_come_back_as_statuses() {
    let mut driver = Driver::start();
    // More streams than the device has.
    assert_eq!(driver.pcm_infos(3), Err(ReplyError::BadMessage));
    let format = Format::new(SampleFormat::Pcm16, 2, 48_000).unwrap();
    assert_eq!(
        driver.command(&params(7, format, 1920, 4)),
        Err(ReplyError::BadMessage)
    );
    for code in [
        sound::R_PCM_PREPARE,
        sound::R_PCM_START,
        sound::R_PCM_STOP,
        sound::R_PCM_RELEASE,
    ] {
        assert_eq!(
            driver.command(&sound::pcm_command(code, 7)),
            Err(ReplyError::BadMessage)
        );
    }
    assert_eq!(
        ReplyError::BadMessage.status(),
        STATUS_DEVICE_PROTOCOL_ERROR
    );
    // The queue still works: the refusals were replies, not faults.
    driver.pcm_infos(2).expect("the streams' info");
}

#[test]
fn a_capture_period_the_device_keeps_is_handed_back_when_the_queue_is_drained() {
    let mut driver = Driver::start();
    let format = Format::new(SampleFormat::Pcm16, 2, 48_000).unwrap();
    let period = format.bytes_per_frame() * 480;
    driver
        .command(&params(1, format, period, 4))
        .expect("SET_PARAMS");
    driver
        .command(&sound::pcm_command(sound::R_PCM_PREPARE, 1))
        .expect("PREPARE");
    driver
        .command(&sound::pcm_command(sound::R_PCM_START, 1))
        .expect("START");
    let header = driver.device.alloc(4, 64);
    let audio = driver.device.alloc(usize::try_from(period).unwrap(), 4096);
    let status = driver.device.alloc(8, 64);
    driver.device.write(header.address, &sound::xfer(1));
    let chain = [
        Buffer::readable(header.address, 4),
        Buffer::writable(audio.address, period),
        Buffer::writable(status.address, 8),
    ];
    driver.queues[3].post(&chain, 41).expect("a period");
    driver.queues[3].post(&chain, 42).expect("a period");
    driver
        .device
        .notify(sound::RX_QUEUE)
        .expect("the device takes the periods");
    // The null backend records nothing: it holds the periods, which is not a fault.
    assert_eq!(driver.queues[3].take_used(), Ok(None));
    assert_eq!(driver.queues[3].in_flight(), 2);
    // Stopping the device: reset it first (it lets go of the driver's memory), then forget
    // the chains, whatever the device did with them while it reset.
    driver.device.reset();
    let mut dropped = Vec::new();
    driver.queues[3].drain(|token| dropped.push(token));
    dropped.sort_unstable();
    assert_eq!(dropped, [41, 42]);
}
