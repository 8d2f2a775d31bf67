//! A virtio-sound device nobody here wrote, for checking the sample driver's virtio code:
//! rust-vmm's `vhost-device-sound` (its null audio backend), run in-process.
//!
//! [`Oracle`] plays the VMM around the device. It owns the guest's "physical" memory (one
//! anonymous mapping the device reads and writes through `vm-memory`), hands out blocks of it
//! with both their device address and a host pointer ([`Oracle::alloc`]: what a DMA adapter's
//! common buffer is to a driver), programs the device's queues from the addresses a driver
//! writes into the transport ([`Oracle::set_queue`]), turns a driver's queue notification into
//! the device's queue event ([`Oracle::notify`]), and counts the device's used-buffer
//! notifications, the interrupts a PCI transport would raise as MSI-X messages
//! ([`Oracle::interrupts`]). It is also a [`VirtioDevice`], so the model's virtio PCI function
//! (`portcls_sim::virtio_pci`) can put it behind a transport: a driver then reaches it through
//! configuration space and register accesses, as on a real machine.
//!
//! # What the device does (`vhost-device-sound` 0.3.0, null backend)
//! - Two PCM streams (0 playback, 1 capture), formats U8/S16/S24/S32, rates 8-48 kHz, 1-6
//!   channels, no jacks, one channel map.
//! - Control requests are answered, and playback periods completed, during
//!   [`Oracle::notify`]: the device takes every available chain at once, so the caller paces
//!   the device by when it notifies.
//! - Capture periods are never completed (the null backend's `read` does nothing): a capture
//!   chain stays with the device until it is reset.
//! - A bad stream ID in a control request is `VIRTIO_SND_S_BAD_MSG`. Malformed *playback*
//!   chains (no audio after the header, an unknown stream) make the device panic, so tests
//!   only send it what a conforming driver sends; the driver's own hardening against a lying
//!   device is tested with a device that lies on purpose, not with this one.
//!
//! Linux only (eventfd, mmap); on other systems the crate is empty.
#![cfg(target_os = "linux")]

pub mod jacks;
pub mod liar;
pub mod machine;
pub mod paced;

use std::fs::File;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::PathBuf;
use std::ptr::NonNull;
use std::sync::Arc;

use portcls_sim::virtio_pci::{QueueConfig, VirtioDevice};
use vhost_device_sound::device::VhostUserSoundBackend;
use vhost_device_sound::{BackendType, SoundConfig};
use vhost_user_backend::{VhostUserBackend, VringRwLock, VringT};
use vm_memory::{
    Bytes, GuestAddress, GuestAddressSpace, GuestMemory, GuestMemoryAtomic, GuestMemoryMmap,
    GuestRegionMmap, MmapRegion,
};
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::eventfd::{EFD_NONBLOCK, EventFd};

/// The guest address the memory starts at (not 0, so an address the driver forgot to
/// translate is caught).
pub const MEMORY_BASE: u64 = 0x8000_0000;
/// Bytes of guest memory.
pub const MEMORY_BYTES: usize = 4 << 20;
/// Queues of a sound device (control, event, tx, rx).
pub const QUEUES: usize = 4;
/// The virtio device ID of a sound device.
pub const DEVICE_ID: u16 = 25;
/// Bytes of the device configuration the device has (`jacks`, `streams`, `chmaps`,
/// `controls`).
pub const CONFIG_BYTES: usize = 16;

/// `VIRTIO_SND_S_OK`, the status the VMM's own answers carry.
pub(crate) const S_OK: u32 = 0x8000;
/// `VIRTIO_SND_S_BAD_MSG`.
pub(crate) const S_BAD_MSG: u32 = 0x8001;
/// `VIRTIO_SND_S_NOT_SUPP`.
pub(crate) const S_NOT_SUPP: u32 = 0x8002;

/// A block of guest memory: where the device sees it and where the host can touch it.
#[derive(Clone, Copy, Debug)]
pub struct Block {
    /// The device (guest physical) address.
    pub address: u64,
    /// The host pointer to the same bytes, valid as long as the [`Oracle`] lives.
    pub host: NonNull<u8>,
    /// Bytes.
    pub len: usize,
}

/// Why the device refused a notification.
pub type DeviceError = std::io::Error;

/// The device and the VMM around it. See the [crate] docs.
pub struct Oracle {
    memory: GuestMemoryAtomic<GuestMemoryMmap>,
    backend: Arc<VhostUserSoundBackend>,
    vrings: Vec<VringRwLock>,
    calls: Vec<EventFd>,
    next: u64,
}

impl Oracle {
    /// A device with its null backend, its memory empty and no queue ready.
    ///
    /// # Panics
    /// If the host cannot map the memory or create the device's eventfds.
    #[must_use]
    pub fn new() -> Self {
        let regions = [(GuestAddress(MEMORY_BASE), MEMORY_BYTES)];
        let memory =
            GuestMemoryAtomic::new(GuestMemoryMmap::from_ranges(&regions).expect("guest memory"));
        Self::with_memory(memory)
    }

    /// A device whose guest memory is a simulated machine's physical memory (`arena`, from
    /// `Sim::device_memory().arena()`), as a VMM maps the guest's RAM, plus the VMM's own
    /// block at [`MEMORY_BASE`] for what [`Oracle::alloc`] hands out (never the driver's).
    ///
    /// # Panics
    /// If the host cannot map the VMM's block or the two overlap.
    #[must_use]
    pub fn over(arena: &portcls_sim::physical::PhysicalArena) -> Self {
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        let region =
            // SAFETY: the arena is a live, page-aligned host block of `length` bytes that the
            // machine keeps while it lives (the machine outlives its devices); the region does not
            // own it (it is never unmapped through the region).
            unsafe { MmapRegion::build_raw(arena.host.as_ptr(), arena.length, prot, flags) }
                .expect("a region over the machine's memory");
        let machine =
            GuestRegionMmap::new(region, GuestAddress(arena.base)).expect("the machine's memory");
        let own = MmapRegion::new(MEMORY_BYTES).expect("the VMM's memory");
        let own = GuestRegionMmap::new(own, GuestAddress(MEMORY_BASE)).expect("the VMM's memory");
        let memory = GuestMemoryAtomic::new(
            GuestMemoryMmap::from_regions(vec![own, machine]).expect("guest memory"),
        );
        Self::with_memory(memory)
    }

    /// A device over `memory`, its allocations starting at [`MEMORY_BASE`].
    fn with_memory(memory: GuestMemoryAtomic<GuestMemoryMmap>) -> Self {
        let (backend, vrings, calls) = device(&memory);
        Self {
            memory,
            backend,
            vrings,
            calls,
            next: MEMORY_BASE,
        }
    }

    /// Resets the device (the driver wrote 0 to its status): the device finishes with every
    /// chain it holds (the null backend completes them as it drops them, while their
    /// descriptors are still the driver's), then comes back with no queue ready, as after
    /// [`Oracle::new`]. The memory and its blocks stay.
    pub fn reset(&mut self) {
        let (backend, vrings, calls) = device(&self.memory);
        self.backend = backend;
        self.vrings = vrings;
        self.calls = calls;
    }

    /// The features the device offers.
    #[must_use]
    pub fn offered_features(&self) -> u64 {
        self.backend.features()
    }

    /// Tells the device which features the driver accepted.
    pub fn accept_features(&self, features: u64) {
        self.backend.acked_features(features);
        self.backend.set_event_idx(features & (1 << 29) != 0);
    }

    /// The largest queue the device offers.
    #[must_use]
    pub fn max_queue_size(&self) -> u16 {
        u16::try_from(self.backend.max_queue_size()).unwrap_or(u16::MAX)
    }

    /// The device configuration (`virtio_snd_config`), its first `N` bytes.
    #[must_use]
    pub fn config<const N: usize>(&self) -> [u8; N] {
        let bytes = self.backend.get_config(0, u32::try_from(N).unwrap_or(0));
        let mut out = [0; N];
        for (target, byte) in out.iter_mut().zip(bytes) {
            *target = byte;
        }
        out
    }

    /// A zeroed block of `len` bytes of guest memory, aligned to `align` (a power of two).
    ///
    /// # Panics
    /// When the memory is used up.
    pub fn alloc(&mut self, len: usize, align: u64) -> Block {
        let address = self.next.next_multiple_of(align);
        let end = address + u64::try_from(len).expect("a length");
        assert!(
            end <= MEMORY_BASE + MEMORY_BYTES as u64,
            "guest memory used up"
        );
        self.next = end;
        let memory = self.memory.memory();
        memory
            .write_slice(&vec![0; len], GuestAddress(address))
            .expect("zeroing a block");
        let host = memory
            .get_host_address(GuestAddress(address))
            .expect("a host address");
        Block {
            address,
            host: NonNull::new(host).expect("a mapped block"),
            len,
        }
    }

    /// What the driver wrote into queue `index`'s registers when it enabled it: size and the
    /// three areas' device addresses. The queue is ready afterwards.
    ///
    /// # Panics
    /// If `index` is not a queue, or the device refuses the addresses.
    pub fn set_queue(
        &self,
        index: usize,
        size: u16,
        descriptors: u64,
        driver_area: u64,
        device_area: u64,
    ) {
        let vring = &self.vrings[index];
        vring.set_queue_size(size);
        vring
            .set_queue_info(descriptors, driver_area, device_area)
            .expect("queue addresses");
        vring.set_queue_event_idx(false);
        vring.set_queue_ready(true);
        vring.set_enabled(true);
    }

    /// A notification of queue `index` (the driver wrote to its notify address): the device
    /// processes what the driver made available.
    ///
    /// # Errors
    /// The device's own refusal (it does not complete the chains it refuses).
    pub fn notify(&self, index: u16) -> Result<(), DeviceError> {
        self.backend
            .handle_event(index, EventSet::IN, &self.vrings, 0)
    }

    /// Used-buffer notifications the device raised for queue `index` since the last call.
    #[must_use]
    pub fn interrupts(&self, index: usize) -> u64 {
        self.calls[index].read().unwrap_or(0)
    }

    /// Copies guest memory at `address` into `out`.
    ///
    /// # Panics
    /// If the range is not guest memory.
    pub fn read(&self, address: u64, out: &mut [u8]) {
        self.memory
            .memory()
            .read_slice(out, GuestAddress(address))
            .expect("guest memory");
    }

    /// The little-endian `u16` at `address` of guest memory.
    ///
    /// # Panics
    /// As [`Oracle::read`].
    #[must_use]
    pub fn read16(&self, address: u64) -> u16 {
        let mut bytes = [0; 2];
        self.read(address, &mut bytes);
        u16::from_le_bytes(bytes)
    }

    /// The little-endian `u32` at `address` of guest memory.
    ///
    /// # Panics
    /// As [`Oracle::read`].
    #[must_use]
    pub fn read32(&self, address: u64) -> u32 {
        let mut bytes = [0; 4];
        self.read(address, &mut bytes);
        u32::from_le_bytes(bytes)
    }

    /// The descriptors of the chain at `head` on `queue`, in order: (address, length,
    /// device-writable). Stops at the chain's end, at a descriptor index outside the table, or
    /// after as many descriptors as the queue has (a loop).
    ///
    /// # Panics
    /// As [`Oracle::read`].
    #[must_use]
    pub fn chain(&self, queue: QueueConfig, head: u32) -> Vec<(u64, u32, bool)> {
        let mut out = Vec::new();
        let mut index = head;
        for _ in 0..queue.size {
            if index >= u32::from(queue.size) {
                break;
            }
            let mut descriptor = [0; 16];
            self.read(queue.descriptors + u64::from(index) * 16, &mut descriptor);
            let address = u64::from_le_bytes(descriptor[..8].try_into().unwrap_or_default());
            let len = u32::from_le_bytes(descriptor[8..12].try_into().unwrap_or_default());
            let flags = u16::from_le_bytes([descriptor[12], descriptor[13]]);
            out.push((address, len, flags & 2 != 0));
            if flags & 1 == 0 {
                break;
            }
            index = u32::from(u16::from_le_bytes([descriptor[14], descriptor[15]]));
        }
        out
    }

    /// Writes `bytes` into the device-writable descriptors of the chain at `head`, in order,
    /// as far as they reach; returns the bytes written (a used entry's length).
    ///
    /// # Panics
    /// As [`Oracle::write`].
    #[must_use = "the length a used entry reports"]
    pub fn write_chain(&self, queue: QueueConfig, head: u32, bytes: &[u8]) -> u32 {
        let mut rest = bytes;
        for (address, len, writable) in self.chain(queue, head) {
            if !writable || rest.is_empty() {
                continue;
            }
            let here = rest.len().min(len as usize);
            self.write(address, &rest[..here]);
            rest = &rest[here..];
        }
        u32::try_from(bytes.len() - rest.len()).unwrap_or(u32::MAX)
    }

    /// Copies `bytes` into guest memory at `address`.
    ///
    /// # Panics
    /// If the range is not guest memory.
    pub fn write(&self, address: u64, bytes: &[u8]) {
        self.memory
            .memory()
            .write_slice(bytes, GuestAddress(address))
            .expect("guest memory");
    }
}

/// The [`VirtioDevice`] methods a wrapper around the oracle answers as the oracle does (the
/// device's identity and its offer, and with no argument its configuration), for a wrapper
/// type with an `oracle` field.
macro_rules! forward_identity {
    () => {
        crate::forward_identity!(no_config);

        fn config(&self) -> Vec<u8> {
            portcls_sim::virtio_pci::VirtioDevice::config(&self.oracle)
        }
    };
    (no_config) => {
        fn device_id(&self) -> u16 {
            self.oracle.device_id()
        }

        fn features(&self) -> u64 {
            portcls_sim::virtio_pci::VirtioDevice::features(&self.oracle)
        }

        fn accept_features(&mut self, features: u64) {
            portcls_sim::virtio_pci::VirtioDevice::accept_features(&mut self.oracle, features);
        }

        fn num_queues(&self) -> u16 {
            self.oracle.num_queues()
        }

        fn queue_max(&self, index: u16) -> u16 {
            self.oracle.queue_max(index)
        }
    };
}
pub(crate) use forward_identity;

/// A device with its null backend over `memory`, its queues, and the eventfds it signals.
fn device(
    memory: &GuestMemoryAtomic<GuestMemoryMmap>,
) -> (Arc<VhostUserSoundBackend>, Vec<VringRwLock>, Vec<EventFd>) {
    // The socket path is only used by the vhost-user daemon, which is not started.
    let config = SoundConfig::new(PathBuf::from("unused.sock"), false, BackendType::Null);
    let backend = Arc::new(VhostUserSoundBackend::new(config).expect("the device"));
    backend
        .update_memory(memory.clone())
        .expect("the device's memory");
    let max = u16::try_from(backend.max_queue_size()).unwrap_or(u16::MAX);
    let mut vrings = Vec::new();
    let mut calls = Vec::new();
    for _ in 0..QUEUES {
        let vring = VringRwLock::new(memory.clone(), max).expect("a vring");
        let call = EventFd::new(EFD_NONBLOCK).expect("an eventfd");
        // SAFETY: the eventfd's descriptor is open while `call` lives, which outlasts this
        // borrow (it is only duplicated here).
        let borrowed = unsafe { BorrowedFd::borrow_raw(call.as_raw_fd()) };
        let device_end = borrowed.try_clone_to_owned().expect("a duplicate eventfd");
        vring.set_call(Some(File::from(device_end)));
        vrings.push(vring);
        calls.push(call);
    }
    (backend, vrings, calls)
}

/// The oracle as the device behind the model's virtio PCI function: the model plays the
/// transport, the oracle the sound device.
impl VirtioDevice for Oracle {
    fn device_id(&self) -> u16 {
        DEVICE_ID
    }

    fn features(&self) -> u64 {
        self.offered_features()
    }

    fn accept_features(&mut self, features: u64) {
        Oracle::accept_features(self, features);
    }

    fn num_queues(&self) -> u16 {
        u16::try_from(QUEUES).unwrap_or(0)
    }

    fn queue_max(&self, _index: u16) -> u16 {
        self.max_queue_size()
    }

    fn config(&self) -> Vec<u8> {
        self.config::<CONFIG_BYTES>().to_vec()
    }

    fn enable_queue(&mut self, index: u16, queue: QueueConfig) {
        self.set_queue(
            usize::from(index),
            queue.size,
            queue.descriptors,
            queue.driver_area,
            queue.device_area,
        );
    }

    fn notify(&mut self, index: u16) -> Result<(), String> {
        Oracle::notify(self, index).map_err(|error| error.to_string())
    }

    fn take_interrupts(&mut self, index: u16) -> u64 {
        self.interrupts(usize::from(index))
    }

    fn reset(&mut self) {
        Oracle::reset(self);
    }
}

impl Default for Oracle {
    fn default() -> Self {
        Self::new()
    }
}
