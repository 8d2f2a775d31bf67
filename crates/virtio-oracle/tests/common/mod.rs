//! The driver's side of the oracle tests: the sample driver's own virtio code (capability walk,
//! transport handshake, split rings, sound protocol) driving `vhost-device-sound` through the
//! model's virtio PCI function, register by register.
#![allow(dead_code, reason = "each test file uses part of the harness")]

use std::ptr::NonNull;

use portcls_sim::virtio_pci::{self, Interrupt, VirtioDevice, VirtioPci};
use virtio_oracle::liar::Liar;
use virtio_oracle::paced::Paced;
use virtio_oracle::{Block, Oracle};
use wavert_sample::backend::virtio::device::{
    Bars, DmaBlock, DmaMemory, MAX_PIECES, Piece, SoundDevice, period_pieces,
};
use wavert_sample::backend::virtio::pci::Structures;
use wavert_sample::backend::virtio::ring::{Buffer, Layout, SplitQueue, Used};
use wavert_sample::backend::virtio::sound::{self, PcmInfo, ReplyError};
use wavert_sample::backend::virtio::transport::{self, CommonConfig, QueueAddresses};
use wavert_sample::format::Format;

/// The common configuration, reached through the function's register BAR.
pub struct Common<'a> {
    pub pci: &'a mut VirtioPci<Oracle>,
    pub base: u64,
}

impl Common<'_> {
    fn at(&self, offset: usize) -> u64 {
        self.base + u64::try_from(offset).unwrap()
    }
}

impl CommonConfig for Common<'_> {
    fn read8(&mut self, offset: usize) -> u8 {
        u8::try_from(self.pci.read(self.at(offset), 1)).unwrap()
    }
    fn read16(&mut self, offset: usize) -> u16 {
        u16::try_from(self.pci.read(self.at(offset), 2)).unwrap()
    }
    fn read32(&mut self, offset: usize) -> u32 {
        u32::try_from(self.pci.read(self.at(offset), 4)).unwrap()
    }
    fn write8(&mut self, offset: usize, value: u8) {
        self.pci.write(self.at(offset), 1, value.into());
    }
    fn write16(&mut self, offset: usize, value: u16) {
        self.pci.write(self.at(offset), 2, value.into());
    }
    fn write32(&mut self, offset: usize, value: u32) {
        self.pci.write(self.at(offset), 4, value.into());
    }
}

/// The sample driver's virtio state for one function.
pub struct Driver {
    pub pci: VirtioPci<Oracle>,
    pub structures: Structures,
    pub queues: Vec<SplitQueue>,
    /// Each queue's notification offset in the register BAR.
    pub notify: Vec<u64>,
    pub request: Block,
    pub reply: Block,
    token: u32,
}

/// The MSI-X vector for configuration changes.
pub const CONFIG_VECTOR: u16 = 0;

/// The MSI-X vector of queue `index`.
pub const fn vector(index: u16) -> u16 {
    index + 1
}

impl Driver {
    /// Finds the structures in configuration space, negotiates, sets up the four queues with
    /// one MSI-X vector each, and sets `DRIVER_OK`: the start of the driver.
    pub fn start() -> Self {
        let mut pci = VirtioPci::new(Oracle::new());
        pci.set_msix_enabled(true);
        let structures = Structures::parse(&pci.config_space(), sound::PCI_DEVICE_ID)
            .expect("a virtio-sound function");
        let mut bars = [0; 6];
        bars[usize::from(virtio_pci::REGISTER_BAR)] = virtio_pci::REGISTER_BAR_BYTES;
        bars[usize::from(virtio_pci::MSIX_BAR)] = virtio_pci::MSIX_BAR_BYTES;
        structures
            .locate(
                &bars,
                transport::COMMON_CONFIG_BYTES,
                u32::try_from(sound::CONFIG_BYTES).unwrap(),
            )
            .expect("structures inside the BARs");
        assert!(structures.msix.expect("MSI-X").vectors >= vector(sound::QUEUES));
        let base = u64::from(structures.common.offset);
        let mut queues = Vec::new();
        let mut notify = Vec::new();
        let mut blocks = Vec::new();
        {
            let mut common = Common {
                pci: &mut pci,
                base,
            };
            let accepted = transport::begin(&mut common, sound::QUEUES).expect("initialization");
            assert_eq!(accepted, transport::F_VERSION_1);
            transport::set_config_vector(&mut common, CONFIG_VECTOR)
                .expect("the configuration vector");
            for index in 0..sound::QUEUES {
                let max = transport::queue_max(&mut common, index).expect("the queue exists");
                let layout = Layout::new(Layout::size_for(max).unwrap()).unwrap();
                blocks.push((index, layout));
            }
        }
        for (index, layout) in blocks {
            let block = pci.device().alloc(layout.bytes, 4096);
            // SAFETY: guest memory the oracle keeps mapped while it lives (the driver is dropped
            // with it), 4096-aligned, used only by this queue and the device.
            let queue = unsafe { SplitQueue::new(block.host, block.address, layout) };
            let addresses = QueueAddresses {
                size: layout.size,
                descriptors: queue.descriptor_address(),
                driver_area: queue.driver_area_address(),
                device_area: queue.device_area_address(),
            };
            let mut common = Common {
                pci: &mut pci,
                base,
            };
            let notify_off = transport::enable_queue(&mut common, index, addresses, vector(index))
                .expect("the queue");
            notify.push(u64::from(
                structures
                    .notify_offset(notify_off)
                    .expect("a notify address"),
            ));
            queues.push(queue);
        }
        transport::finish(&mut Common {
            pci: &mut pci,
            base,
        })
        .expect("DRIVER_OK");
        let request = pci.device().alloc(64, 64);
        let reply = pci.device().alloc(512, 64);
        Self {
            pci,
            structures,
            queues,
            notify,
            request,
            reply,
            token: 0,
        }
    }

    /// The common configuration.
    pub fn common(&mut self) -> Common<'_> {
        let base = u64::from(self.structures.common.offset);
        Common {
            pci: &mut self.pci,
            base,
        }
    }

    /// Notifies queue `index` as the driver does: its index, 16 bits, at its notify address.
    pub fn kick(&mut self, index: u16) {
        self.pci
            .write(self.notify[usize::from(index)], 2, index.into());
    }

    pub fn config(&mut self) -> sound::Config {
        let base = u64::from(self.structures.device.offset);
        let mut bytes = [0; sound::CONFIG_BYTES];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::try_from(self.pci.read(base + u64::try_from(i).unwrap(), 1)).unwrap();
        }
        sound::Config::parse(&bytes)
    }

    /// Sends a control request with room for `reply_len` bytes of reply; returns the
    /// completion and the reply's bytes. The completion must come with the control queue's
    /// MSI-X message.
    pub fn control(&mut self, request: &[u8], reply_len: u32) -> (Used, Vec<u8>) {
        let device = self.pci.device();
        device.write(self.request.address, request);
        // What was there before must not pass for a reply.
        device.write(self.reply.address, &[0xEE; 512]);
        self.token += 1;
        let chain = [
            Buffer::readable(self.request.address, u32::try_from(request.len()).unwrap()),
            Buffer::writable(self.reply.address, reply_len),
        ];
        self.queues[0]
            .post(&chain, self.token)
            .expect("a control chain");
        self.kick(sound::CONTROL_QUEUE);
        assert_eq!(
            self.pci.take_interrupts(),
            [Interrupt::Message(vector(sound::CONTROL_QUEUE))]
        );
        let used = self.queues[0]
            .take_used()
            .expect("a conforming used ring")
            .expect("a reply");
        assert_eq!(used.token, self.token);
        assert_eq!(self.queues[0].take_used(), Ok(None));
        let mut reply = vec![0; usize::try_from(reply_len).unwrap()];
        self.pci.device().read(self.reply.address, &mut reply);
        (used, reply)
    }

    /// A command with a status reply, parsed by the driver.
    pub fn command(&mut self, request: &[u8]) -> Result<(), ReplyError> {
        let (used, reply) = self.control(request, 4);
        sound::parse_status(&reply, used.written)
    }

    /// `PCM_INFO` for streams `0..count`, parsed by the driver.
    pub fn pcm_infos(&mut self, count: u32) -> Result<Vec<(u32, PcmInfo)>, ReplyError> {
        let size = u32::try_from(sound::PCM_INFO_BYTES).unwrap();
        let request = sound::query_info(sound::R_PCM_INFO, 0, count, size);
        let (used, reply) = self.control(&request, 4 + count.min(8) * size);
        let mut infos = Vec::new();
        sound::parse_pcm_infos(&reply, used.written, 0, count, |id, info| {
            infos.push((id, info));
        })?;
        Ok(infos)
    }

    /// Nothing the driver did broke the transport's rules.
    pub fn assert_conforming(&self) {
        assert_eq!(self.pci.breaches(), [] as [String; 0]);
        assert_eq!(self.pci.device_errors(), [] as [String; 0]);
    }
}

/// `PCM_SET_PARAMS` for `stream` in `format`.
pub fn params(
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

/// A device the tests can reach the oracle of (the oracle itself, or a liar around it).
pub trait WithOracle: VirtioDevice {
    fn oracle(&mut self) -> &mut Oracle;
}

impl WithOracle for Oracle {
    fn oracle(&mut self) -> &mut Oracle {
        self
    }
}

impl WithOracle for Paced {
    fn oracle(&mut self) -> &mut Oracle {
        Paced::oracle(self)
    }
}

impl WithOracle for Liar {
    fn oracle(&mut self) -> &mut Oracle {
        Liar::oracle(self)
    }
}

/// The function's BARs as the driver's device layer reaches them (only the register BAR has
/// registers).
pub struct Function<D: VirtioDevice>(pub VirtioPci<D>);

impl<D: VirtioDevice> Bars for Function<D> {
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
pub struct Memory {
    pool: Block,
    next: usize,
    pub live: Vec<DmaBlock>,
    pub allocations: usize,
    pub fail_at: Option<usize>,
}

impl Memory {
    pub fn new(oracle: &mut Oracle) -> Self {
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
            device: self.pool.address + u64::try_from(at).unwrap(),
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

/// A wait that gives up at once (the oracle answers during the notification).
pub fn never_wait() -> bool {
    false
}

/// MSI-X messages the system grants: one for configuration changes and one per queue.
pub const MSIX_VECTORS: u16 = 5;

/// The BAR lengths the system assigned to the model's function.
pub fn bar_lengths() -> [u64; 6] {
    let mut bars = [0; 6];
    bars[usize::from(virtio_pci::REGISTER_BAR)] = virtio_pci::REGISTER_BAR_BYTES;
    bars[usize::from(virtio_pci::MSIX_BAR)] = virtio_pci::MSIX_BAR_BYTES;
    bars
}

/// A function around `device` and its DMA memory, before the driver starts.
pub fn function<D: WithOracle>(device: D, vectors: u16) -> (Function<D>, Memory) {
    let mut pci = VirtioPci::new(device);
    pci.set_msix_enabled(vectors > 0);
    let memory = Memory::new(pci.device().oracle());
    (Function(pci), memory)
}

/// The driver's device layer started on `device` with `vectors` MSI-X messages (0: a line).
pub fn start<D: WithOracle>(device: D, vectors: u16) -> (Function<D>, Memory, SoundDevice) {
    let (mut function, mut memory) = function(device, vectors);
    let space = function.0.config_space();
    let device = SoundDevice::start(
        &mut function,
        &mut memory,
        &space,
        &bar_lengths(),
        vectors,
        &mut never_wait,
    )
    .expect("the device starts");
    (function, memory, device)
}

/// The pieces of the period at `offset` of a buffer in one block of the device's memory.
pub fn pieces_of(buffer: &Block, offset: u32, len: u32) -> Vec<Piece> {
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
