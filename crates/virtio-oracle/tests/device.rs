//! The driver's whole virtio-sound device layer (`wavert_sample::virtio::device`) against
//! `vhost-device-sound` behind the model's virtio PCI function: start, both stream directions,
//! stop, and a start that fails at each allocation leaving nothing behind.
#![cfg(target_os = "linux")]

use std::ptr::NonNull;

use portcls_sim::virtio_pci::{self, Interrupt, VirtioPci};
use virtio_oracle::{Block, Oracle};
use wavert_sample::format::{Format, SampleFormat};
use wavert_sample::virtio::device::{
    Bars, Completion, DeviceError, DmaBlock, DmaMemory, MAX_PIECES, Piece, Report, SoundDevice,
    StartStep, period_pieces,
};
use wavert_sample::virtio::sound;

/// The function's BARs as the driver reaches them (only the register BAR has registers).
struct Function(VirtioPci<Oracle>);

impl Bars for Function {
    fn read(&mut self, bar: u8, offset: u32, size: u8) -> u64 {
        assert_eq!(bar, virtio_pci::REGISTER_BAR);
        self.0.read(offset.into(), size)
    }
    fn write(&mut self, bar: u8, offset: u32, size: u8, value: u64) {
        assert_eq!(bar, virtio_pci::REGISTER_BAR);
        self.0.write(offset.into(), size, value);
    }
}

/// Common buffers carved from a block of the device's memory; counts what is live and can
/// refuse the n-th allocation.
struct Memory {
    pool: Block,
    next: usize,
    live: Vec<DmaBlock>,
    allocations: usize,
    fail_at: Option<usize>,
}

impl Memory {
    fn new(oracle: &mut Oracle) -> Self {
        Self {
            pool: oracle.alloc(256 << 10, 4096),
            next: 0,
            live: Vec::new(),
            allocations: 0,
            fail_at: None,
        }
    }
}

impl DmaMemory for Memory {
    fn allocate(&mut self, bytes: usize) -> Option<DmaBlock> {
        let n = self.allocations;
        self.allocations += 1;
        if self.fail_at == Some(n) {
            return None;
        }
        let at = self.next.next_multiple_of(4096);
        assert!(at + bytes <= self.pool.len);
        self.next = at + bytes;
        // SAFETY: `at` is inside the pool block (asserted).
        let host = unsafe { self.pool.host.as_ptr().add(at) };
        let block = DmaBlock {
            host: NonNull::new(host).unwrap(),
            device: self.pool.address + at as u64,
            bytes,
        };
        self.live.push(block);
        Some(block)
    }
    fn free(&mut self, block: DmaBlock) {
        let at = self
            .live
            .iter()
            .position(|live| *live == block)
            .expect("a block that was allocated, freed once");
        self.live.swap_remove(at);
    }
}

fn never_wait() -> bool {
    false
}

const MSIX_VECTORS: u16 = 5;

fn start(vectors: u16) -> (Function, Memory, SoundDevice) {
    let mut pci = VirtioPci::new(Oracle::new());
    pci.set_msix_enabled(vectors > 0);
    let mut memory = Memory::new(pci.device());
    let mut function = Function(pci);
    let space = function.0.config_space();
    let mut bars = [0; 6];
    bars[usize::from(virtio_pci::REGISTER_BAR)] = virtio_pci::REGISTER_BAR_BYTES;
    bars[usize::from(virtio_pci::MSIX_BAR)] = virtio_pci::MSIX_BAR_BYTES;
    let device = SoundDevice::start(
        &mut function,
        &mut memory,
        &space,
        &bars,
        vectors,
        &mut never_wait,
    )
    .expect("the device starts");
    (function, memory, device)
}

fn conforming(function: &Function) {
    assert_eq!(function.0.breaches(), [] as [String; 0]);
    assert_eq!(function.0.device_errors(), [] as [String; 0]);
}

#[test]
fn the_device_starts_reports_its_streams_and_stops_leaving_nothing() {
    let (mut function, mut memory, device) = start(MSIX_VECTORS);
    assert_eq!(
        device.features(),
        wavert_sample::virtio::transport::F_VERSION_1
    );
    let streams: Vec<(u32, u8)> = device
        .streams()
        .map(|(id, info)| (id, info.direction))
        .collect();
    assert_eq!(streams, [(0, sound::D_OUTPUT), (1, sound::D_INPUT)]);
    assert_eq!(memory.live.len(), 5, "four rings and the message block");
    // The control reply came with the control queue's message.
    assert_eq!(function.0.take_interrupts(), [Interrupt::Message(1)]);
    assert!(device.stop(&mut function, &mut memory, |_, _| panic!(
        "nothing was in flight"
    )));
    assert_eq!(memory.live, []);
    assert_eq!(function.0.status(), 0);
    conforming(&function);
}

fn pieces_of(buffer: &Block, offset: u32, len: u32) -> Vec<Piece> {
    let mut out = [Piece { address: 0, len: 0 }; MAX_PIECES];
    let pages = u32::try_from(buffer.len.div_ceil(4096)).unwrap();
    let count = period_pieces(
        offset,
        len,
        |page| (page < pages).then(|| buffer.address + u64::from(page) * 4096),
        &mut out,
    )
    .unwrap();
    out[..count].to_vec()
}

#[test]
fn a_playback_stream_runs_period_after_period_without_copying() {
    let (mut function, mut memory, mut device) = start(MSIX_VECTORS);
    let format = Format::new(SampleFormat::Pcm16, 2, 48_000).unwrap();
    let period = format.bytes_per_frame() * 480;
    let buffer = function
        .0
        .device()
        .alloc(usize::try_from(period * 4).unwrap(), 4096);
    let params = sound::Params {
        stream: 0,
        buffer_bytes: period * 4,
        period_bytes: period,
        channels: 2,
        format: sound::wire_format(format.sample()),
        rate: sound::wire_rate(format.rate()).unwrap(),
    };
    device
        .set_params(&mut function, &params, &mut never_wait)
        .expect("SET_PARAMS");
    device
        .pcm(&mut function, sound::R_PCM_PREPARE, 0, &mut never_wait)
        .expect("PREPARE");
    device
        .pcm(&mut function, sound::R_PCM_START, 0, &mut never_wait)
        .expect("START");
    let _ = function.0.take_interrupts();
    let mut done = Vec::new();
    for n in 0..200_u32 {
        let pieces = pieces_of(&buffer, n % 4 * period, period);
        device
            .post_period(&mut function, 0, &pieces, n)
            .expect("a period");
        assert_eq!(function.0.take_interrupts(), [Interrupt::Message(3)]);
        device
            .completions(&mut function, |report| done.push(report))
            .expect("a conforming device");
    }
    assert_eq!(done.len(), 200);
    for (n, report) in (0..).zip(done) {
        let Report::Period(Completion {
            stream: 0,
            token,
            result: Ok(_),
        }) = report
        else {
            panic!("period {n}: {report:?}");
        };
        assert_eq!(token, n);
    }
    device
        .pcm(&mut function, sound::R_PCM_STOP, 0, &mut never_wait)
        .expect("STOP");
    device
        .pcm(&mut function, sound::R_PCM_RELEASE, 0, &mut never_wait)
        .expect("RELEASE");
    assert!(device.stop(&mut function, &mut memory, |_, _| panic!(
        "nothing was in flight"
    )));
    assert_eq!(memory.live, []);
    conforming(&function);
}

#[test]
fn capture_periods_the_device_holds_come_back_at_stop() {
    let (mut function, mut memory, mut device) = start(MSIX_VECTORS);
    let buffer = function.0.device().alloc(4 * 3840, 4096);
    for n in 0..4_u32 {
        let pieces = pieces_of(&buffer, n * 3840, 3840);
        device
            .post_period(&mut function, 1, &pieces, 100 + n)
            .expect("a period");
    }
    // No more than MAX_IN_FLIGHT periods on the device.
    let pieces = pieces_of(&buffer, 0, 3840);
    assert_eq!(
        device.post_period(&mut function, 1, &pieces, 104),
        Err(DeviceError::BadRequest)
    );
    assert_eq!(device.in_flight(1), 4);
    device
        .completions(&mut function, |report| panic!("{report:?}"))
        .expect("a conforming device");
    let mut dropped = Vec::new();
    assert!(device.stop(&mut function, &mut memory, |stream, token| {
        dropped.push((stream, token));
    }));
    dropped.sort_unstable();
    assert_eq!(dropped, [(1, 100), (1, 101), (1, 102), (1, 103)]);
    assert_eq!(memory.live, []);
    conforming(&function);
}

#[test]
fn requests_for_what_the_device_does_not_have_are_refused_before_they_reach_it() {
    let (mut function, mut memory, mut device) = start(MSIX_VECTORS);
    let pieces = [Piece {
        address: 0x1000,
        len: 16,
    }];
    assert_eq!(
        device.post_period(&mut function, 7, &pieces, 0),
        Err(DeviceError::BadRequest)
    );
    assert_eq!(
        device.post_period(&mut function, 0, &[], 0),
        Err(DeviceError::BadRequest)
    );
    assert_eq!(
        device.pcm(&mut function, sound::R_PCM_START, 5, &mut never_wait),
        Err(DeviceError::BadRequest)
    );
    assert_eq!(
        device.request(&mut function, &[0; 65], 4, &mut never_wait),
        Err(DeviceError::BadRequest)
    );
    assert!(
        function.0.take_interrupts().len() <= 1,
        "only the start's query reached the device"
    );
    assert!(device.stop(&mut function, &mut memory, |_, _| {}));
    conforming(&function);
}

#[test]
fn with_a_line_interrupt_the_queues_have_no_vectors() {
    let (mut function, mut memory, device) = start(0);
    assert_eq!(function.0.take_interrupts(), [Interrupt::Line]);
    assert_eq!(function.0.read(virtio_pci::ISR_OFFSET, 1), 1);
    assert!(device.stop(&mut function, &mut memory, |_, _| {}));
    conforming(&function);
}

#[test]
fn a_start_that_fails_at_any_allocation_resets_the_device_and_frees_everything() {
    for fail_at in 0..5 {
        let mut pci = VirtioPci::new(Oracle::new());
        pci.set_msix_enabled(true);
        let mut memory = Memory::new(pci.device());
        memory.fail_at = Some(fail_at);
        let mut function = Function(pci);
        let space = function.0.config_space();
        let mut bars = [0; 6];
        bars[usize::from(virtio_pci::REGISTER_BAR)] = virtio_pci::REGISTER_BAR_BYTES;
        bars[usize::from(virtio_pci::MSIX_BAR)] = virtio_pci::MSIX_BAR_BYTES;
        let result = SoundDevice::start(
            &mut function,
            &mut memory,
            &space,
            &bars,
            MSIX_VECTORS,
            &mut never_wait,
        );
        assert_eq!(
            result.map(|_| ()),
            Err(StartStep::Memory),
            "allocation {fail_at}"
        );
        assert_eq!(
            StartStep::Memory.status(),
            portcls_sys::STATUS_INSUFFICIENT_RESOURCES
        );
        assert_eq!(memory.live, [], "allocation {fail_at}");
        assert_eq!(function.0.status(), 0, "reset after allocation {fail_at}");
        conforming(&function);
    }
}

#[test]
fn a_start_without_the_register_bar_is_refused_before_touching_the_device() {
    let mut pci = VirtioPci::new(Oracle::new());
    let mut memory = Memory::new(pci.device());
    let mut function = Function(pci);
    let space = function.0.config_space();
    let result = SoundDevice::start(
        &mut function,
        &mut memory,
        &space,
        &[0; 6],
        0,
        &mut never_wait,
    );
    assert!(matches!(result, Err(StartStep::Structures(_))));
    assert_eq!((memory.allocations, function.0.resets()), (0, 0));
}
