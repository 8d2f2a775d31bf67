//! A split virtqueue (virtio 1.2, section 2.7), the driver's side, hardened against the device.
//!
//! The queue lives in one block of DMA memory the driver allocated ([`Layout`]: the descriptor
//! table, the available ring, the used ring). The driver writes descriptors and the available
//! ring; the device writes the used ring. Everything the device can write is *read once, checked,
//! and never trusted*: which descriptors form a chain, how many bytes the device may write into
//! it and which token the caller attached are kept in the queue's own memory, never read back
//! from the shared block. So a used entry naming a head the device was never given, a length
//! beyond what the chain lets it write, or a used index that runs ahead of what is in flight is
//! a [`RingFault`]: the queue stops (every later call reports it) and the caller resets the
//! device. Nothing the device writes makes the driver touch memory outside the block.
//!
//! Every access to the shared block is volatile, at an offset inside the block that the layout
//! fixed; the available index is published after a release fence, the used entries are read
//! after an acquire fence that follows the used index.

use core::ptr::NonNull;
use core::sync::atomic::{Ordering, fence};

use portcls_sys::{NTSTATUS, STATUS_DEVICE_PROTOCOL_ERROR, STATUS_INSUFFICIENT_RESOURCES};

/// The largest queue the driver uses (descriptors): enough for every period the streams of a
/// direction keep on the device (four endpoints' streams, each with up to four periods of up
/// to four descriptors) and every event buffer, and small enough that a queue's own records
/// stay about a kilobyte (they live in the device's object, in pool). The device's maximum
/// may be larger; the driver asks for less, as the transport allows.
pub const MAX_QUEUE_SIZE: u16 = 64;
/// The longest descriptor chain the driver builds (the sound protocol needs at most three:
/// header, payload, status).
pub const MAX_CHAIN: usize = 4;

/// Descriptor flag: the chain continues at `next`.
const VIRTQ_DESC_F_NEXT: u16 = 1;
/// Descriptor flag: the device writes this buffer (otherwise it reads it).
const VIRTQ_DESC_F_WRITE: u16 = 2;
/// Bytes of one descriptor (`addr` u64, `len` u32, `flags` u16, `next` u16).
const DESC_BYTES: usize = 16;
/// Bytes of one used element (`id` u32, `len` u32).
const USED_ELEM_BYTES: usize = 8;

/// Where the three parts of a queue of `size` descriptors sit in its block, with the
/// alignments the split ring needs (descriptor table 16, available ring 2, used ring 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Descriptors in the queue (a power of two, at most [`MAX_QUEUE_SIZE`]).
    pub size: u16,
    /// Offset of the available ring (the descriptor table is at 0).
    pub avail: usize,
    /// Offset of the used ring.
    pub used: usize,
    /// Bytes of the whole block.
    pub bytes: usize,
}

impl Layout {
    /// The layout of a queue of `size` descriptors, or `None` if `size` is not a power of two
    /// in `1..=MAX_QUEUE_SIZE`.
    #[must_use]
    pub const fn new(size: u16) -> Option<Self> {
        if size == 0 || size > MAX_QUEUE_SIZE || !size.is_power_of_two() {
            return None;
        }
        let n = size as usize;
        let avail = DESC_BYTES * n;
        // flags, idx, ring[n], used_event
        let avail_end = avail + 4 + 2 * n + 2;
        let used = avail_end.next_multiple_of(4);
        // flags, idx, ring[n], avail_event
        let bytes = used + 4 + USED_ELEM_BYTES * n + 2;
        Some(Self {
            size,
            avail,
            used,
            bytes,
        })
    }

    /// The queue size the driver asks for when the device offers at most `device_max`
    /// descriptors: the largest power of two no larger than both it and [`MAX_QUEUE_SIZE`];
    /// `None` if the device offers none (the queue does not exist).
    #[must_use]
    pub const fn size_for(device_max: u16) -> Option<u16> {
        if device_max == 0 {
            return None;
        }
        let capped = if device_max < MAX_QUEUE_SIZE {
            device_max
        } else {
            MAX_QUEUE_SIZE
        };
        match capped.checked_ilog2() {
            Some(log) => Some(1 << log),
            None => None,
        }
    }
}

/// One buffer of a chain: a DMA address and length, read or written by the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer {
    /// The buffer's device (logical) address.
    pub addr: u64,
    /// Its length in bytes.
    pub len: u32,
    /// The device writes it (a reply, a status, captured audio); otherwise it reads it.
    pub device_writes: bool,
}

impl Buffer {
    /// A buffer the device reads.
    #[must_use]
    pub const fn readable(addr: u64, len: u32) -> Self {
        Self {
            addr,
            len,
            device_writes: false,
        }
    }

    /// A buffer the device writes.
    #[must_use]
    pub const fn writable(addr: u64, len: u32) -> Self {
        Self {
            addr,
            len,
            device_writes: true,
        }
    }
}

/// A chain the device has finished with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Used {
    /// The token the chain was posted with.
    pub token: u32,
    /// Bytes the device says it wrote into the chain's writable buffers (checked: never more
    /// than they hold).
    pub written: u32,
}

/// A chain the queue refused to post (the device has done nothing wrong).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostError {
    /// Not enough free descriptors.
    Full,
    /// An empty chain, one longer than [`MAX_CHAIN`], a zero-length buffer, a readable buffer
    /// after a writable one (the spec puts all device-readable buffers first), or writable
    /// lengths whose sum does not fit 32 bits.
    BadChain,
    /// The queue has faulted; the device must be reset.
    Faulted(RingFault),
}

impl PostError {
    /// The NTSTATUS a caller reports.
    #[must_use]
    pub const fn status(&self) -> NTSTATUS {
        match self {
            Self::Full => STATUS_INSUFFICIENT_RESOURCES,
            Self::BadChain => portcls_sys::STATUS_INVALID_PARAMETER,
            Self::Faulted(_) => STATUS_DEVICE_PROTOCOL_ERROR,
        }
    }
}

/// What the device wrote into the used ring that no conforming device writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingFault {
    /// The used index claims more completions than chains are in flight.
    UsedIndexAhead {
        /// The used index the device wrote.
        index: u16,
        /// Chains in flight when it was read.
        in_flight: u16,
    },
    /// A used entry names a descriptor that is not the head of a chain in flight.
    UnknownHead {
        /// The id the device wrote.
        id: u32,
    },
    /// A used entry says the device wrote more than the chain's writable buffers hold.
    LengthBeyondChain {
        /// The head of the chain.
        id: u32,
        /// The length the device wrote.
        written: u32,
        /// What the writable buffers hold.
        capacity: u32,
    },
}

impl RingFault {
    /// `STATUS_DEVICE_PROTOCOL_ERROR`.
    #[must_use]
    pub const fn status(&self) -> NTSTATUS {
        STATUS_DEVICE_PROTOCOL_ERROR
    }
}

/// The driver's own record of one descriptor.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// The descriptor that follows in its chain (valid for all but the chain's last).
    next: u16,
    /// Head of a chain in flight.
    head: bool,
    /// For a head: descriptors in the chain (at most [`MAX_CHAIN`]).
    chain: u8,
    /// For a head: bytes the device may write into the chain.
    capacity: u32,
    /// For a head: the caller's token.
    token: u32,
}

impl Slot {
    const EMPTY: Self = Self {
        next: 0,
        head: false,
        chain: 0,
        capacity: 0,
        token: 0,
    };
}

/// A split virtqueue over a block of DMA memory, driver side. See the [module](self) docs.
pub struct SplitQueue {
    base: NonNull<u8>,
    device_address: u64,
    layout: Layout,
    slots: [Slot; MAX_QUEUE_SIZE as usize],
    /// Free descriptor indices (a stack, `free[..free_count]`).
    free: [u16; MAX_QUEUE_SIZE as usize],
    free_count: u16,
    /// Chains in flight.
    chains: u16,
    /// The next available index the driver publishes.
    avail_index: u16,
    /// The used index up to which the driver has taken completions.
    used_index: u16,
    fault: Option<RingFault>,
}

// SAFETY: the queue owns its view of the block (the caller of `new` promised no one else in the
// driver touches it); moving it to another thread moves that exclusive view.
unsafe impl Send for SplitQueue {}

impl SplitQueue {
    /// A queue over no memory: every post is refused as full, nothing is ever used. What a
    /// device's queues are before they are set up.
    #[must_use]
    pub const fn placeholder() -> Self {
        Self {
            base: NonNull::dangling(),
            device_address: 0,
            layout: Layout {
                size: 0,
                avail: 0,
                used: 0,
                bytes: 0,
            },
            slots: [Slot::EMPTY; MAX_QUEUE_SIZE as usize],
            free: [0; MAX_QUEUE_SIZE as usize],
            free_count: 0,
            chains: 0,
            avail_index: 0,
            used_index: 0,
            fault: None,
        }
    }

    /// A queue over `layout.bytes` bytes at `base`, which the device sees at `device_address`.
    /// The block is zeroed (an empty queue).
    ///
    /// # Safety
    /// `base` must be valid for reads and writes of `layout.bytes` bytes, aligned to 16, for
    /// the queue's whole life, and nothing else in the driver may access that memory while the
    /// queue exists (the device may).
    #[must_use]
    pub unsafe fn new(base: NonNull<u8>, device_address: u64, layout: Layout) -> Self {
        let mut queue = Self::placeholder();
        // SAFETY: the caller's contract.
        unsafe { queue.set_up(base, device_address, layout) };
        queue
    }

    /// [`SplitQueue::new`] in place: the queue (whatever it was) becomes one over
    /// `layout.bytes` bytes at `base`, which the device sees at `device_address`, the block
    /// zeroed. A queue is about a kilobyte: set up in place, it never crosses the kernel stack.
    ///
    /// # Safety
    /// As for [`SplitQueue::new`].
    pub unsafe fn set_up(&mut self, base: NonNull<u8>, device_address: u64, layout: Layout) {
        self.base = base;
        self.device_address = device_address;
        self.layout = layout;
        self.reset();
    }

    /// Becomes a [placeholder](SplitQueue::placeholder) in place (the block is not touched: it
    /// is no longer the queue's).
    pub fn clear(&mut self) {
        self.base = NonNull::dangling();
        self.device_address = 0;
        self.layout = Layout {
            size: 0,
            avail: 0,
            used: 0,
            bytes: 0,
        };
        self.slots.fill(Slot::EMPTY);
        self.free.fill(0);
        self.free_count = 0;
        self.chains = 0;
        self.avail_index = 0;
        self.used_index = 0;
        self.fault = None;
    }

    /// The layout the queue was built with.
    #[must_use]
    pub const fn layout(&self) -> Layout {
        self.layout
    }

    /// The device address of the descriptor table (`queue_desc`).
    #[must_use]
    pub const fn descriptor_address(&self) -> u64 {
        self.device_address
    }

    /// The device address of the available ring (`queue_driver`).
    #[must_use]
    pub const fn driver_area_address(&self) -> u64 {
        self.device_address + self.layout.avail as u64
    }

    /// The device address of the used ring (`queue_device`).
    #[must_use]
    pub const fn device_area_address(&self) -> u64 {
        self.device_address + self.layout.used as u64
    }

    /// Chains posted and not yet completed.
    #[must_use]
    pub const fn in_flight(&self) -> u16 {
        self.chains
    }

    /// Free descriptors.
    #[must_use]
    pub const fn free_descriptors(&self) -> u16 {
        self.free_count
    }

    /// The fault that stopped the queue, if any.
    #[must_use]
    pub const fn fault(&self) -> Option<RingFault> {
        self.fault
    }

    /// Forgets every chain (after a device reset: the device has dropped them) and empties the
    /// shared block; calls `dropped` with the token of each chain that was in flight, so the
    /// caller can fail what waited on it. The queue works again afterwards.
    pub fn drain(&mut self, mut dropped: impl FnMut(u32)) {
        for slot in self.slots.iter().take(usize::from(self.layout.size)) {
            if slot.head {
                dropped(slot.token);
            }
        }
        self.reset();
    }

    /// Zeroes the block and the driver's records.
    fn reset(&mut self) {
        for offset in 0..self.layout.bytes {
            self.write_u8(offset, 0);
        }
        self.slots.fill(Slot::default());
        let size = self.layout.size;
        // Descriptor 0 on top: chains take the lowest free indices first.
        for (position, index) in self.free.iter_mut().take(usize::from(size)).enumerate() {
            *index = size - 1 - u16::try_from(position).unwrap_or(0);
        }
        self.free_count = size;
        self.chains = 0;
        self.avail_index = 0;
        self.used_index = 0;
        self.fault = None;
    }

    /// Posts a chain (device-readable buffers first, then device-writable ones) with the
    /// caller's `token`, and makes it available to the device. Returns the chain's head. The
    /// caller then notifies the device.
    ///
    /// # Errors
    /// [`PostError`]: a full queue, a malformed chain, or a queue that has faulted.
    pub fn post(&mut self, chain: &[Buffer], token: u32) -> Result<u16, PostError> {
        if let Some(fault) = self.fault {
            return Err(PostError::Faulted(fault));
        }
        let capacity = check_chain(chain)?;
        let count = u16::try_from(chain.len()).map_err(|_| PostError::BadChain)?;
        if count > self.free_count {
            return Err(PostError::Full);
        }
        let mut indices = [0_u16; MAX_CHAIN];
        for index in indices.iter_mut().take(chain.len()) {
            self.free_count -= 1;
            *index = self
                .free
                .get(usize::from(self.free_count))
                .copied()
                .unwrap_or(0);
        }
        for (position, buffer) in chain.iter().enumerate() {
            let index = indices.get(position).copied().unwrap_or(0);
            let next = indices.get(position + 1).copied();
            let last = position + 1 == chain.len();
            let mut flags = if buffer.device_writes {
                VIRTQ_DESC_F_WRITE
            } else {
                0
            };
            let next = if last {
                0
            } else {
                flags |= VIRTQ_DESC_F_NEXT;
                next.unwrap_or(0)
            };
            let at = usize::from(index) * DESC_BYTES;
            self.write_u64(at, buffer.addr);
            self.write_u32(at + 8, buffer.len);
            self.write_u16(at + 12, flags);
            self.write_u16(at + 14, next);
            if let Some(slot) = self.slots.get_mut(usize::from(index)) {
                *slot = Slot {
                    next,
                    ..Slot::default()
                };
            }
        }
        let head = indices[0];
        if let Some(slot) = self.slots.get_mut(usize::from(head)) {
            slot.head = true;
            slot.chain = u8::try_from(count).unwrap_or(0);
            slot.capacity = capacity;
            slot.token = token;
        }
        self.chains += 1;
        let ring_slot = usize::from(self.avail_index & self.mask());
        self.write_u16(self.layout.avail + 4 + 2 * ring_slot, head);
        self.avail_index = self.avail_index.wrapping_add(1);
        // The descriptors and the ring entry are visible before the index that publishes them.
        fence(Ordering::Release);
        self.write_u16(self.layout.avail + 2, self.avail_index);
        Ok(head)
    }

    /// Takes the next chain the device has finished with, if any.
    ///
    /// # Errors
    /// [`RingFault`]: the used ring holds what no conforming device writes. The queue stays
    /// faulted (every later call returns the same fault) until [`SplitQueue::drain`].
    pub fn take_used(&mut self) -> Result<Option<Used>, RingFault> {
        if let Some(fault) = self.fault {
            return Err(fault);
        }
        let index = self.read_u16(self.layout.used + 2);
        let pending = index.wrapping_sub(self.used_index);
        if pending == 0 {
            return Ok(None);
        }
        let in_flight = self.in_flight();
        if pending > in_flight {
            return Err(self.fail(RingFault::UsedIndexAhead { index, in_flight }));
        }
        // The entry is read after the index that published it.
        fence(Ordering::Acquire);
        let entry =
            self.layout.used + 4 + USED_ELEM_BYTES * usize::from(self.used_index & self.mask());
        let id = self.read_u32(entry);
        let written = self.read_u32(entry + 4);
        let slot = u16::try_from(id)
            .ok()
            .filter(|&head| head < self.layout.size)
            .and_then(|head| {
                self.slots
                    .get(usize::from(head))
                    .copied()
                    .map(|slot| (head, slot))
            })
            .filter(|(_, slot)| slot.head);
        let Some((head, slot)) = slot else {
            return Err(self.fail(RingFault::UnknownHead { id }));
        };
        if written > slot.capacity {
            return Err(self.fail(RingFault::LengthBeyondChain {
                id,
                written,
                capacity: slot.capacity,
            }));
        }
        self.release(head, slot.chain);
        self.chains -= 1;
        self.used_index = self.used_index.wrapping_add(1);
        Ok(Some(Used {
            token: slot.token,
            written,
        }))
    }

    /// Returns a chain's descriptors to the free stack, following the driver's own links.
    fn release(&mut self, head: u16, chain: u8) {
        let mut index = head;
        for _ in 0..chain {
            let Some(slot) = self.slots.get_mut(usize::from(index)) else {
                return;
            };
            let next = slot.next;
            *slot = Slot::default();
            if let Some(free) = self.free.get_mut(usize::from(self.free_count)) {
                *free = index;
                self.free_count += 1;
            }
            index = next;
        }
    }

    /// Ring index mask (the size is a power of two).
    const fn mask(&self) -> u16 {
        self.layout.size.wrapping_sub(1)
    }

    fn fail(&mut self, fault: RingFault) -> RingFault {
        self.fault = Some(fault);
        fault
    }

    /// A pointer `offset` bytes into the block.
    fn at(&self, offset: usize, bytes: usize) -> Option<*mut u8> {
        (offset.checked_add(bytes)? <= self.layout.bytes)
            // SAFETY: the offset is inside the block `new`'s caller made valid.
            .then(|| unsafe { self.base.as_ptr().add(offset) })
    }

    fn write_u8(&self, offset: usize, value: u8) {
        if let Some(pointer) = self.at(offset, 1) {
            // SAFETY: inside the block (checked by `at`), valid for writes per `new`'s contract.
            unsafe { pointer.write_volatile(value) };
        }
    }

    fn write_u16(&self, offset: usize, value: u16) {
        for (i, byte) in value.to_le_bytes().into_iter().enumerate() {
            self.write_u8(offset + i, byte);
        }
    }

    fn write_u32(&self, offset: usize, value: u32) {
        for (i, byte) in value.to_le_bytes().into_iter().enumerate() {
            self.write_u8(offset + i, byte);
        }
    }

    fn write_u64(&self, offset: usize, value: u64) {
        for (i, byte) in value.to_le_bytes().into_iter().enumerate() {
            self.write_u8(offset + i, byte);
        }
    }

    fn read_u8(&self, offset: usize) -> u8 {
        self.at(offset, 1).map_or(0, |pointer| {
            // SAFETY: inside the block (checked by `at`), valid for reads per `new`'s contract.
            unsafe { pointer.read_volatile() }
        })
    }

    fn read_u16(&self, offset: usize) -> u16 {
        u16::from_le_bytes([self.read_u8(offset), self.read_u8(offset + 1)])
    }

    fn read_u32(&self, offset: usize) -> u32 {
        u32::from_le_bytes([
            self.read_u8(offset),
            self.read_u8(offset + 1),
            self.read_u8(offset + 2),
            self.read_u8(offset + 3),
        ])
    }
}

/// Checks a chain's shape; returns the bytes the device may write into it.
fn check_chain(chain: &[Buffer]) -> Result<u32, PostError> {
    if chain.is_empty() || chain.len() > MAX_CHAIN {
        return Err(PostError::BadChain);
    }
    let mut capacity: u32 = 0;
    let mut writable_seen = false;
    for buffer in chain {
        if buffer.len == 0 || (writable_seen && !buffer.device_writes) {
            return Err(PostError::BadChain);
        }
        if buffer.device_writes {
            writable_seen = true;
            capacity = capacity
                .checked_add(buffer.len)
                .ok_or(PostError::BadChain)?;
        }
    }
    Ok(capacity)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zeroed, 16-aligned block standing in for a common buffer, and a device's view of it.
    struct Block {
        pointer: NonNull<u8>,
        layout: std::alloc::Layout,
    }

    impl Block {
        fn new(bytes: usize) -> Self {
            let layout = std::alloc::Layout::from_size_align(bytes, 16).unwrap();
            // SAFETY: the layout has a non-zero size.
            let pointer = unsafe { std::alloc::alloc_zeroed(layout) };
            Self {
                pointer: NonNull::new(pointer).unwrap(),
                layout,
            }
        }

        fn read(&self, offset: usize, bytes: usize) -> u64 {
            assert!(offset + bytes <= self.layout.size());
            let mut value = 0_u64;
            for i in (0..bytes).rev() {
                // SAFETY: inside the allocation (asserted above).
                let pointer = unsafe { self.pointer.as_ptr().add(offset + i) };
                // SAFETY: a valid, initialized byte of the allocation.
                let byte = unsafe { pointer.read_volatile() };
                value = value << 8 | u64::from(byte);
            }
            value
        }

        fn write(&self, offset: usize, bytes: usize, value: u64) {
            assert!(offset + bytes <= self.layout.size());
            for (i, byte) in value.to_le_bytes().into_iter().take(bytes).enumerate() {
                // SAFETY: inside the allocation (asserted above).
                let pointer = unsafe { self.pointer.as_ptr().add(offset + i) };
                // SAFETY: a valid byte of the allocation.
                unsafe { pointer.write_volatile(byte) };
            }
        }
    }

    impl Drop for Block {
        fn drop(&mut self) {
            // SAFETY: allocated in `new` with this layout.
            unsafe { std::alloc::dealloc(self.pointer.as_ptr(), self.layout) };
        }
    }

    const ADDRESS: u64 = 0x1_0000;

    fn queue(size: u16) -> (SplitQueue, Block) {
        let layout = Layout::new(size).unwrap();
        let block = Block::new(layout.bytes);
        // SAFETY: the block is valid, 16-aligned and only the queue (and the test's "device")
        // touches it; the queue (which has no `Drop`) is never used after the block is freed:
        // each test drops both together.
        let queue = unsafe { SplitQueue::new(block.pointer, ADDRESS, layout) };
        (queue, block)
    }

    /// One chain as the device reads it: its head and each descriptor's (addr, len, flags).
    type Chain = (u16, Vec<(u64, u32, u16)>);

    /// The device's side: the chains the driver made available since `seen`.
    fn device_takes(block: &Block, layout: Layout, seen: &mut u16) -> Vec<Chain> {
        let index = u16::try_from(block.read(layout.avail + 2, 2)).unwrap();
        let mut chains = Vec::new();
        while *seen != index {
            let slot = usize::from(*seen % layout.size);
            let head = u16::try_from(block.read(layout.avail + 4 + 2 * slot, 2)).unwrap();
            let mut descriptors = Vec::new();
            let mut at = head;
            loop {
                let d = usize::from(at) * DESC_BYTES;
                let flags = u16::try_from(block.read(d + 12, 2)).unwrap();
                descriptors.push((
                    block.read(d, 8),
                    u32::try_from(block.read(d + 8, 4)).unwrap(),
                    flags,
                ));
                if flags & VIRTQ_DESC_F_NEXT == 0 {
                    break;
                }
                at = u16::try_from(block.read(d + 14, 2)).unwrap();
            }
            chains.push((head, descriptors));
            *seen = seen.wrapping_add(1);
        }
        chains
    }

    fn device_completes(block: &Block, layout: Layout, used: &mut u16, id: u32, len: u32) {
        let entry = layout.used + 4 + USED_ELEM_BYTES * usize::from(*used % layout.size);
        block.write(entry, 4, u64::from(id));
        block.write(entry + 4, 4, u64::from(len));
        *used = used.wrapping_add(1);
        block.write(layout.used + 2, 2, u64::from(*used));
    }

    #[test]
    fn layouts_follow_the_split_ring_alignments() {
        let layout = Layout::new(16).unwrap();
        assert_eq!(layout.avail, 256);
        assert_eq!(layout.used, 296); // 256 + 4 + 32 + 2 = 294, rounded up to 4
        assert_eq!(layout.bytes, 296 + 4 + 128 + 2);
        let small = Layout::new(1).unwrap();
        assert_eq!((small.avail, small.used, small.bytes), (16, 24, 38));
        let largest = Layout::new(MAX_QUEUE_SIZE).unwrap();
        assert_eq!((largest.avail, largest.used), (1024, 1160)); // 1024 + 4 + 128 + 2, to 4
        assert_eq!(largest.bytes, 1160 + 4 + 512 + 2);
        for bad in [0, 3, 12, 128, 256, 65535] {
            assert_eq!(Layout::new(bad), None, "{bad}");
        }
        assert_eq!(Layout::size_for(0), None);
        assert_eq!(Layout::size_for(1), Some(1));
        assert_eq!(Layout::size_for(12), Some(8));
        assert_eq!(Layout::size_for(16), Some(16));
        assert_eq!(Layout::size_for(48), Some(32));
        assert_eq!(Layout::size_for(256), Some(64));
        assert_eq!(Layout::size_for(u16::MAX), Some(64));
    }

    #[test]
    fn chains_reach_the_device_as_posted_and_come_back_with_their_tokens() {
        let (mut queue, block) = queue(8);
        let layout = queue.layout();
        assert_eq!(queue.driver_area_address(), ADDRESS + layout.avail as u64);
        assert_eq!(queue.device_area_address(), ADDRESS + layout.used as u64);
        let chain = [
            Buffer::readable(0x2000, 8),
            Buffer::readable(0x3000, 480),
            Buffer::writable(0x4000, 8),
        ];
        let head = queue.post(&chain, 77).unwrap();
        assert_eq!((queue.in_flight(), queue.free_descriptors()), (1, 5));
        let (mut seen, mut used) = (0, 0);
        let taken = device_takes(&block, layout, &mut seen);
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].0, head);
        assert_eq!(
            taken[0].1,
            vec![
                (0x2000, 8, VIRTQ_DESC_F_NEXT),
                (0x3000, 480, VIRTQ_DESC_F_NEXT),
                (0x4000, 8, VIRTQ_DESC_F_WRITE)
            ]
        );
        assert_eq!(queue.take_used(), Ok(None));
        device_completes(&block, layout, &mut used, u32::from(head), 8);
        assert_eq!(
            queue.take_used(),
            Ok(Some(Used {
                token: 77,
                written: 8
            }))
        );
        assert_eq!(queue.take_used(), Ok(None));
        assert_eq!((queue.in_flight(), queue.free_descriptors()), (0, 8));
    }

    #[test]
    fn indices_wrap_and_completions_may_come_out_of_order() {
        let (mut queue, block) = queue(4);
        let layout = queue.layout();
        let (mut seen, mut used) = (0_u16, 0_u16);
        // Far beyond 65 536 chains, so both 16-bit indices wrap several times.
        for round in 0..70_000_u32 {
            if cfg!(miri) && round == 300 {
                break;
            }
            let a = queue.post(&[Buffer::writable(0x10, 4)], round * 2).unwrap();
            let b = queue
                .post(
                    &[Buffer::readable(0x20, 4), Buffer::writable(0x30, 8)],
                    round * 2 + 1,
                )
                .unwrap();
            let taken = device_takes(&block, layout, &mut seen);
            assert_eq!(taken.iter().map(|c| c.0).collect::<Vec<_>>(), vec![a, b]);
            device_completes(&block, layout, &mut used, u32::from(b), 8);
            device_completes(&block, layout, &mut used, u32::from(a), 0);
            assert_eq!(
                queue.take_used().unwrap().unwrap(),
                Used {
                    token: round * 2 + 1,
                    written: 8
                }
            );
            assert_eq!(
                queue.take_used().unwrap().unwrap(),
                Used {
                    token: round * 2,
                    written: 0
                }
            );
        }
        assert_eq!(queue.free_descriptors(), 4);
    }

    #[test]
    fn a_full_queue_and_malformed_chains_are_refused_without_touching_the_ring() {
        let (mut queue, block) = queue(2);
        let layout = queue.layout();
        let long = [Buffer::readable(1, 1); MAX_CHAIN + 1];
        for bad in [
            &[][..],
            &long[..],
            &[Buffer::readable(1, 0)][..],
            &[Buffer::writable(1, 4), Buffer::readable(2, 4)][..],
            &[Buffer::writable(1, u32::MAX), Buffer::writable(2, 1)][..],
        ] {
            assert_eq!(queue.post(bad, 0), Err(PostError::BadChain));
        }
        assert_eq!(
            PostError::BadChain.status(),
            portcls_sys::STATUS_INVALID_PARAMETER
        );
        queue.post(&[Buffer::readable(1, 4)], 1).unwrap();
        assert_eq!(
            queue.post(&[Buffer::readable(1, 4), Buffer::writable(2, 4)], 2),
            Err(PostError::Full)
        );
        assert_eq!(PostError::Full.status(), STATUS_INSUFFICIENT_RESOURCES);
        assert_eq!(block.read(layout.avail + 2, 2), 1);
        queue.post(&[Buffer::readable(1, 4)], 2).unwrap();
        assert_eq!(
            queue.post(&[Buffer::readable(1, 4)], 3),
            Err(PostError::Full)
        );
    }

    /// Each way a device can lie in the used ring: the queue faults, stays faulted (posting
    /// included), reports the same fault and `STATUS_DEVICE_PROTOCOL_ERROR`, and works again
    /// after a drain that hands back every token in flight.
    #[test]
    fn a_lying_device_faults_the_queue_until_it_is_drained() {
        type Lie = fn(&Block, Layout, u16);
        let lies: [(Lie, RingFault); 5] = [
            (
                |block, layout, _| block.write(layout.used + 2, 2, 3),
                RingFault::UsedIndexAhead {
                    index: 3,
                    in_flight: 2,
                },
            ),
            (
                |block, layout, _| {
                    block.write(layout.used + 4, 4, 7);
                    block.write(layout.used + 2, 2, 1);
                },
                RingFault::UnknownHead { id: 7 },
            ),
            (
                |block, layout, _| {
                    block.write(layout.used + 4, 4, 0x1_0000);
                    block.write(layout.used + 2, 2, 1);
                },
                RingFault::UnknownHead { id: 0x1_0000 },
            ),
            (
                // A descriptor inside a chain, not its head.
                |block, layout, head| {
                    block.write(layout.used + 4, 4, u64::from(head) + 1);
                    block.write(layout.used + 2, 2, 1);
                },
                RingFault::UnknownHead { id: 2 },
            ),
            (
                |block, layout, head| {
                    block.write(layout.used + 4, 4, u64::from(head));
                    block.write(layout.used + 8, 4, 9);
                    block.write(layout.used + 2, 2, 1);
                },
                RingFault::LengthBeyondChain {
                    id: 1,
                    written: 9,
                    capacity: 8,
                },
            ),
        ];
        for (lie, fault) in lies {
            let (mut queue, block) = queue(8);
            let layout = queue.layout();
            queue.post(&[Buffer::writable(0x10, 4)], 10).unwrap();
            let head = queue
                .post(&[Buffer::readable(0x20, 4), Buffer::writable(0x30, 8)], 11)
                .unwrap();
            assert_eq!(head, 1);
            lie(&block, layout, head);
            assert_eq!(queue.take_used(), Err(fault));
            assert_eq!(queue.take_used(), Err(fault));
            assert_eq!(queue.fault(), Some(fault));
            assert_eq!(fault.status(), STATUS_DEVICE_PROTOCOL_ERROR);
            assert_eq!(
                queue.post(&[Buffer::readable(1, 1)], 12),
                Err(PostError::Faulted(fault))
            );
            let mut dropped = Vec::new();
            queue.drain(|token| dropped.push(token));
            dropped.sort_unstable();
            assert_eq!(dropped, vec![10, 11]);
            assert_eq!(block.read(layout.used + 2, 2), 0);
            assert_eq!((queue.fault(), queue.free_descriptors()), (None, 8));
            queue.post(&[Buffer::writable(0x10, 4)], 13).unwrap();
            let mut used = 0;
            device_completes(&block, layout, &mut used, 0, 4);
            assert_eq!(
                queue.take_used(),
                Ok(Some(Used {
                    token: 13,
                    written: 4
                }))
            );
        }
    }

    /// A device that reports one chain twice: the second report names a head that is no
    /// longer in flight.
    #[test]
    fn a_chain_completed_twice_is_a_fault() {
        let (mut queue, block) = queue(4);
        let layout = queue.layout();
        let a = queue.post(&[Buffer::writable(0x10, 4)], 1).unwrap();
        queue.post(&[Buffer::writable(0x10, 4)], 2).unwrap();
        let mut used = 0;
        device_completes(&block, layout, &mut used, u32::from(a), 4);
        device_completes(&block, layout, &mut used, u32::from(a), 4);
        assert_eq!(
            queue.take_used(),
            Ok(Some(Used {
                token: 1,
                written: 4
            }))
        );
        assert_eq!(
            queue.take_used(),
            Err(RingFault::UnknownHead { id: u32::from(a) })
        );
    }
}
