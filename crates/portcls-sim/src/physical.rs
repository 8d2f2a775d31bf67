//! Physical memory: the machine's physical address space, and what a device may reach of it.
//!
//! Each machine has one range of simulated physical memory, [`PHYSICAL_MEMORY_SIZE`] bytes at
//! [`PHYSICAL_MEMORY_BASE`], backed by one host allocation (made on first use). The kernel side
//! hands pages of it out for DMA: common buffers ([`dma`](crate::dma)) and the pages of a
//! WaveRT stream's MDLs (`IPortWaveRTStream::AllocatePagesForMdl`). Each allocation is followed
//! by an unallocated guard page, so a transfer that runs past its end is caught rather than
//! landing in a neighbour.
//!
//! The range straddles 4 GiB: allocations without an address limit come from its top half,
//! above 4 GiB (so a driver that truncates a logical address to 32 bits hands the device an
//! address nobody allocated), and allocations limited to 32-bit addresses from its bottom half.
//! The base is far from where a host allocator puts memory, so a host pointer a driver hands a
//! device by mistake is outside physical memory.
//!
//! # The device side
//! A device model reaches the memory through a [`DeviceMemory`] ([`Sim::device_memory`]):
//! [`read`](DeviceMemory::read), [`write`](DeviceMemory::write) and
//! [`host_ptr`](DeviceMemory::host_ptr) by physical address, each allowed only inside a live
//! allocation the driver has handed out for DMA. An access outside one (never allocated,
//! freed, straddling an allocation's end, outside physical memory) is a
//! [`Violation::DeviceAccess`] and fails with a
//! [`DeviceAccessError`].
//!
//! # Mapping the whole range
//! [`DeviceMemory::arena`] gives the range itself ([`PhysicalArena`]: physical base, host
//! pointer, length), for a device implementation with its own view of guest memory (e.g. a
//! `vm-memory` region built over the host pointer). Accesses through that view are not
//! checked; the rules below hold for it as for the checked methods:
//! - the memory is shared with the driver, which reads and writes it through the virtual
//!   addresses the kernel routines returned, from any thread, at any time: never create a Rust
//!   reference (`&[u8]`, `&mut [u8]`) over it; copy with raw pointers
//!   ([`std::ptr::copy_nonoverlapping`], volatile or atomic accesses), as `vm-memory` does;
//! - the host pointer is valid for `length` bytes until the [`Sim`] is dropped, and not after;
//! - bytes outside live allocations belong to nobody: a device must not touch them (the
//!   checked methods refuse to; a raw view cannot tell).

use std::alloc::Layout;
use std::collections::BTreeMap;
use std::fmt;
use std::ptr::NonNull;
use std::sync::{Arc, Weak};

use crate::world::World;
use crate::{Sim, Violation};

/// The physical address of the first byte of physical memory: 8 MiB below 4 GiB.
pub const PHYSICAL_MEMORY_BASE: u64 = 0xFF80_0000;
/// The bytes of physical memory a machine has.
pub const PHYSICAL_MEMORY_SIZE: usize = 16 << 20;
/// The page size of physical memory.
pub const PAGE_SIZE: usize = 4096;

const PAGES: usize = PHYSICAL_MEMORY_SIZE / PAGE_SIZE;
/// `PAGE_SIZE` as a physical-address quantity.
const PAGE: u64 = PAGE_SIZE as u64;

/// What a DMA allocation is for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DmaOwner {
    /// A common buffer of the DMA adapter at this address.
    CommonBuffer {
        /// The `DMA_ADAPTER`'s address.
        adapter: usize,
    },
    /// The pages of an MDL a WaveRT port stream allocated.
    Mdl {
        /// The stream's id.
        stream: u64,
        /// The MDL's address.
        mdl: usize,
    },
}

impl fmt::Display for DmaOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CommonBuffer { adapter } => write!(f, "common buffer of adapter {adapter:#x}"),
            Self::Mdl { stream, mdl } => write!(f, "pages of MDL {mdl:#x} of stream#{stream}"),
        }
    }
}

/// A live range of physical memory a device may access.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DmaRange {
    /// Its first physical address (page aligned).
    pub physical: u64,
    /// Its length in bytes: what the driver asked for (a common buffer) or the whole pages
    /// (an MDL's).
    pub length: usize,
    /// Who it belongs to.
    pub owner: DmaOwner,
}

/// Why a device access was refused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DeviceFault {
    /// The range is not inside physical memory at all (an untranslated host pointer, a
    /// truncated or corrupted address), or wraps around.
    OutsidePhysicalMemory,
    /// The range starts where nothing is allocated, and nothing freed was there either.
    NeverAllocated,
    /// The range starts in memory that was allocated for DMA and has been freed since.
    Freed,
    /// The range starts inside a live allocation's pages and runs past the bytes it was given
    /// (or starts past them, in the rest of its last page).
    Straddles {
        /// The allocation's first physical address.
        allocation: u64,
        /// The allocation's length in bytes.
        length: usize,
    },
}

/// A device access the rules refuse (also recorded as a
/// [`Violation::DeviceAccess`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DeviceAccessError {
    /// The first physical address of the access.
    pub physical: u64,
    /// Its length in bytes.
    pub length: usize,
    /// Why it was refused.
    pub fault: DeviceFault,
}

impl fmt::Display for DeviceAccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (physical, length) = (self.physical, self.length);
        write!(
            f,
            "device access of {length} bytes at {physical:#x} refused: "
        )?;
        match self.fault {
            DeviceFault::OutsidePhysicalMemory => f.write_str("outside physical memory"),
            DeviceFault::NeverAllocated => f.write_str("nothing is allocated there for DMA"),
            DeviceFault::Freed => f.write_str("the DMA allocation there was freed"),
            DeviceFault::Straddles { allocation, length } => write!(
                f,
                "runs past the end of the allocation of {length} bytes at {allocation:#x}"
            ),
        }
    }
}

impl std::error::Error for DeviceAccessError {}

/// The machine's physical memory as one host range.
///
/// Valid for `length` bytes at `host` until the [`Sim`] that gave it is dropped; see the
/// [module documentation](self) for the aliasing rules.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PhysicalArena {
    /// The physical address of its first byte ([`PHYSICAL_MEMORY_BASE`]).
    pub base: u64,
    /// The host address of its first byte (page aligned).
    pub host: NonNull<u8>,
    /// Its length in bytes ([`PHYSICAL_MEMORY_SIZE`]).
    pub length: usize,
}

// SAFETY: the arena is plain memory that any thread may access under the aliasing rules its
// documentation states; the struct itself only names it.
unsafe impl Send for PhysicalArena {}
// SAFETY: as above.
unsafe impl Sync for PhysicalArena {}

impl PhysicalArena {
    /// The host address of `physical`, if it is inside the arena (no allocation check).
    #[must_use]
    pub fn host_address(&self, physical: u64) -> Option<NonNull<u8>> {
        let offset = usize::try_from(physical.checked_sub(self.base)?).ok()?;
        if offset >= self.length {
            return None;
        }
        // The offset is inside the arena: the result keeps its provenance and is non-null.
        NonNull::new(self.host.as_ptr().wrapping_add(offset))
    }
}

/// The host memory behind physical memory.
#[derive(Debug)]
struct Backing {
    memory: NonNull<u8>,
    layout: Layout,
}

impl Drop for Backing {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout in `Physical::backing`, freed only here.
        unsafe { std::alloc::dealloc(self.memory.as_ptr(), self.layout) };
    }
}

#[derive(Clone, Copy, Debug)]
struct Allocation {
    /// Whole pages it spans.
    pages: usize,
    /// The bytes a device may touch from its start.
    length: usize,
    owner: DmaOwner,
}

/// Physical memory and its allocations, part of the machine's state.
#[derive(Debug, Default)]
pub(crate) struct Physical {
    backing: Option<Backing>,
    /// Live allocations by first page.
    live: BTreeMap<usize, Allocation>,
    /// Freed allocations by first page (the latest at each), with their page counts.
    freed: BTreeMap<usize, usize>,
}

// SAFETY: the backing memory is owned by this record and only reached under the machine's
// lock (or through raw pointers whose users follow the documented aliasing rules).
unsafe impl Send for Physical {}

impl Physical {
    /// The host memory, allocated (zeroed) on first use. `None` if the host has no memory.
    fn backing(&mut self) -> Option<&Backing> {
        if self.backing.is_none() {
            let layout = Layout::from_size_align(PHYSICAL_MEMORY_SIZE, PAGE_SIZE).ok()?;
            // SAFETY: the layout has a non-zero size.
            let memory = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })?;
            self.backing = Some(Backing { memory, layout });
        }
        self.backing.as_ref()
    }

    /// The whole range, its host memory allocated if it was not yet.
    pub(crate) fn arena(&mut self) -> Option<PhysicalArena> {
        let backing = self.backing()?;
        Some(PhysicalArena {
            base: PHYSICAL_MEMORY_BASE,
            host: backing.memory,
            length: PHYSICAL_MEMORY_SIZE,
        })
    }

    /// Allocates whole pages for `length` bytes, physically contiguous, every byte between
    /// `lowest` and `highest` (inclusive physical addresses), filled with `fill`. Returns the
    /// physical address and the host address of the first byte, or `None` when no such run of
    /// free pages is left (or `length` is 0).
    pub(crate) fn allocate(
        &mut self,
        length: usize,
        lowest: u64,
        highest: u64,
        owner: DmaOwner,
        fill: u8,
    ) -> Option<(u64, NonNull<u8>)> {
        let pages = length.div_ceil(PAGE_SIZE);
        if pages == 0 {
            return None;
        }
        let first = self.place(pages, page_at_or_above(lowest), pages_up_to(highest))?;
        let arena = self.arena()?;
        let physical = PHYSICAL_MEMORY_BASE + (first as u64) * PAGE;
        let host = arena.host_address(physical)?;
        // SAFETY: the pages [first, first + pages) are inside the arena and belong to nobody.
        unsafe { host.as_ptr().write_bytes(fill, pages * PAGE_SIZE) };
        self.live.insert(
            first,
            Allocation {
                pages,
                length,
                owner,
            },
        );
        self.freed.remove(&first);
        Some((physical, host))
    }

    /// The highest first page of a free run of `pages` pages, each followed by a free guard
    /// page (or the end of memory), that starts at or above page `low` and ends at or below
    /// page `top` (exclusive).
    fn place(&self, pages: usize, low: usize, top: usize) -> Option<usize> {
        let mut top = top;
        for (&start, allocation) in self.live.iter().rev() {
            if start > top {
                // Entirely above the window: the new run's guard page (at `top`) stays free.
                continue;
            }
            let occupied_end = start + allocation.pages + 1; // its guard page included
            if top >= pages && occupied_end <= top - pages {
                break;
            }
            // The new run must end before this allocation's first page, with a guard between.
            top = start.checked_sub(1)?;
        }
        let first = top.checked_sub(pages)?;
        (first >= low).then_some(first)
    }

    /// Frees the allocation that starts at `physical`; returns who owned it.
    pub(crate) fn free(&mut self, physical: u64) -> Option<DmaOwner> {
        let page = page_of(physical)?;
        let allocation = self.live.remove(&page)?;
        self.freed.insert(page, allocation.pages);
        Some(allocation.owner)
    }

    /// The live allocations, lowest first.
    pub(crate) fn ranges(&self) -> Vec<DmaRange> {
        self.live
            .iter()
            .map(|(&page, a)| DmaRange {
                physical: PHYSICAL_MEMORY_BASE + (page as u64) * PAGE,
                length: a.length,
                owner: a.owner,
            })
            .collect()
    }

    /// Checks that `length` bytes at `physical` lie inside one live allocation, and gives
    /// their host address.
    fn check(&self, physical: u64, length: usize) -> Result<NonNull<u8>, DeviceFault> {
        let end = u64::try_from(length)
            .ok()
            .and_then(|l| physical.checked_add(l))
            .ok_or(DeviceFault::OutsidePhysicalMemory)?;
        let memory_end = PHYSICAL_MEMORY_BASE + PHYSICAL_MEMORY_SIZE as u64;
        if physical < PHYSICAL_MEMORY_BASE || end > memory_end {
            return Err(DeviceFault::OutsidePhysicalMemory);
        }
        let page = page_of(physical).ok_or(DeviceFault::OutsidePhysicalMemory)?;
        let live = self.live.range(..=page).next_back();
        if let Some((&first, allocation)) = live {
            let start = PHYSICAL_MEMORY_BASE + (first as u64) * PAGE;
            let allocation_end = start + allocation.length as u64;
            if page < first + allocation.pages {
                if end > allocation_end {
                    return Err(DeviceFault::Straddles {
                        allocation: start,
                        length: allocation.length,
                    });
                }
                let backing = self.backing.as_ref().ok_or(DeviceFault::NeverAllocated)?;
                let offset = usize::try_from(physical - PHYSICAL_MEMORY_BASE)
                    .map_err(|_| DeviceFault::OutsidePhysicalMemory)?;
                // Inside the arena (checked above): keeps the arena's provenance.
                let host = backing.memory.as_ptr().wrapping_add(offset);
                return NonNull::new(host).ok_or(DeviceFault::OutsidePhysicalMemory);
            }
        }
        let freed = self
            .freed
            .range(..=page)
            .next_back()
            .is_some_and(|(&first, &pages)| page < first + pages);
        Err(if freed {
            DeviceFault::Freed
        } else {
            DeviceFault::NeverAllocated
        })
    }
}

/// The page `physical` is in, if it is in physical memory.
fn page_of(physical: u64) -> Option<usize> {
    let page = usize::try_from(physical.checked_sub(PHYSICAL_MEMORY_BASE)? / PAGE).ok()?;
    (page < PAGES).then_some(page)
}

/// The first page whose first byte is at or above `lowest`.
fn page_at_or_above(lowest: u64) -> usize {
    let above = lowest.saturating_sub(PHYSICAL_MEMORY_BASE).div_ceil(PAGE);
    usize::try_from(above).unwrap_or(usize::MAX)
}

/// How many pages from the bottom lie wholly at or below `highest` (a page limit, exclusive).
fn pages_up_to(highest: u64) -> usize {
    let Some(span) = highest
        .checked_add(1)
        .map_or(Some(u64::MAX), |end| end.checked_sub(PHYSICAL_MEMORY_BASE))
    else {
        return 0;
    };
    usize::try_from(span / PAGE).map_or(PAGES, |pages| pages.min(PAGES))
}

/// A device's view of the machine's physical memory: reads and writes by physical address,
/// allowed only inside the live allocations the driver handed out for DMA.
///
/// Clone it freely and move it to the device's threads: it keeps the machine's state alive
/// (not the driver, nor the binding of any thread).
#[derive(Clone)]
pub struct DeviceMemory {
    world: Arc<World>,
}

impl fmt::Debug for DeviceMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceMemory").finish_non_exhaustive()
    }
}

/// A [`DeviceMemory`] that does not keep the machine alive: for a device the machine itself
/// holds (its work attached with [`Sim::attach_device_work`]), which would otherwise keep the
/// machine from ever being dropped.
#[derive(Clone, Debug)]
pub struct WeakDeviceMemory {
    world: Weak<World>,
}

impl WeakDeviceMemory {
    /// The memory, while the machine lives.
    #[must_use]
    pub fn upgrade(&self) -> Option<DeviceMemory> {
        self.world.upgrade().map(|world| DeviceMemory { world })
    }
}

impl DeviceMemory {
    /// The same view, without keeping the machine alive.
    #[must_use]
    pub fn downgrade(&self) -> WeakDeviceMemory {
        WeakDeviceMemory {
            world: Arc::downgrade(&self.world),
        }
    }

    /// The whole of physical memory (see the [module documentation](self) for the rules that
    /// hold for a view of it).
    ///
    /// # Panics
    /// If the host cannot allocate the memory.
    #[must_use]
    pub fn arena(&self) -> PhysicalArena {
        self.world
            .lock()
            .physical
            .arena()
            .expect("the host could not allocate the simulated physical memory")
    }

    /// The live DMA allocations, lowest first.
    #[must_use]
    pub fn ranges(&self) -> Vec<DmaRange> {
        self.world.lock().physical.ranges()
    }

    /// Whether `length` bytes at `physical` lie inside one live DMA allocation (nothing is
    /// recorded either way).
    #[must_use]
    pub fn accessible(&self, physical: u64, length: usize) -> bool {
        self.world.lock().physical.check(physical, length).is_ok()
    }

    /// Copies `buffer.len()` bytes at `physical` into `buffer` (a device's DMA read).
    ///
    /// # Errors
    /// The access is outside every live DMA allocation: recorded as a violation, `buffer`
    /// left as it was.
    pub fn read(&self, physical: u64, buffer: &mut [u8]) -> Result<(), DeviceAccessError> {
        self.access(physical, buffer.len(), false, |host| {
            // SAFETY: `buffer.len()` bytes at `host` are inside a live allocation (checked
            // under the lock, which is held, so it cannot be freed meanwhile); `buffer` is
            // the caller's own memory, so the two do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(host.as_ptr(), buffer.as_mut_ptr(), buffer.len());
            }
        })
    }

    /// Copies `data` to `physical` (a device's DMA write).
    ///
    /// # Errors
    /// The access is outside every live DMA allocation: recorded as a violation, nothing
    /// written.
    pub fn write(&self, physical: u64, data: &[u8]) -> Result<(), DeviceAccessError> {
        self.access(physical, data.len(), true, |host| {
            // SAFETY: as in `read`, the other way round.
            unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), host.as_ptr(), data.len()) };
        })
    }

    /// The host address of `length` bytes at `physical`, once they are checked to lie inside
    /// one live DMA allocation (for a device that accesses memory in place).
    ///
    /// The pointer stays valid while the allocation lives: a device that keeps it across a
    /// point where the driver may free the allocation must check again. The aliasing rules
    /// of the [module documentation](self) apply.
    ///
    /// # Errors
    /// The range is outside every live DMA allocation: recorded as a violation.
    pub fn host_ptr(&self, physical: u64, length: usize) -> Result<NonNull<u8>, DeviceAccessError> {
        let mut host = None;
        self.access(physical, length, true, |h| host = Some(h))?;
        host.ok_or(DeviceAccessError {
            physical,
            length,
            fault: DeviceFault::NeverAllocated,
        })
    }

    fn access(
        &self,
        physical: u64,
        length: usize,
        write: bool,
        with: impl FnOnce(NonNull<u8>),
    ) -> Result<(), DeviceAccessError> {
        let mut state = self.world.lock();
        match state.physical.check(physical, length) {
            Ok(host) => {
                with(host);
                Ok(())
            }
            Err(fault) => {
                state.violate(Violation::DeviceAccess {
                    physical,
                    length,
                    write,
                    fault,
                });
                Err(DeviceAccessError {
                    physical,
                    length,
                    fault,
                })
            }
        }
    }
}

impl Sim {
    /// The device side of the machine's physical memory (see [`physical`](crate::physical)).
    #[must_use]
    pub fn device_memory(&self) -> DeviceMemory {
        DeviceMemory {
            world: Arc::clone(&self.world),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANY: u64 = u64::MAX;
    const OWNER: DmaOwner = DmaOwner::CommonBuffer { adapter: 0x10 };
    const FOUR_GIB: u64 = 1 << 32;

    #[test]
    fn unlimited_allocations_come_from_above_4_gib_with_a_guard_page_between() {
        let mut memory = Physical::default();
        let (a, _) = memory.allocate(100, 0, ANY, OWNER, 0).unwrap();
        let (b, _) = memory.allocate(PAGE_SIZE, 0, ANY, OWNER, 0).unwrap();
        assert!(a >= FOUR_GIB && b >= FOUR_GIB);
        assert!(a.is_multiple_of(PAGE) && b.is_multiple_of(PAGE));
        assert_eq!(a, PHYSICAL_MEMORY_BASE + PHYSICAL_MEMORY_SIZE as u64 - PAGE);
        // b's page, then a guard page, then a.
        assert_eq!(b + 2 * PAGE, a);
    }

    #[test]
    fn a_32_bit_limit_places_every_byte_below_4_gib() {
        let mut memory = Physical::default();
        let (a, _) = memory
            .allocate(3 * PAGE_SIZE, 0, FOUR_GIB - 1, OWNER, 0)
            .unwrap();
        assert_eq!(a + 3 * PAGE, FOUR_GIB);
        // Below the base: nothing qualifies.
        assert!(
            memory
                .allocate(1, 0, PHYSICAL_MEMORY_BASE - 1, OWNER, 0)
                .is_none()
        );
        // A lower bound above every free run fails too.
        assert!(memory.allocate(1, ANY - PAGE, ANY, OWNER, 0).is_none());
    }

    #[test]
    fn exhaustion_fails_and_freeing_makes_room_again() {
        let mut memory = Physical::default();
        let half = PHYSICAL_MEMORY_SIZE / 2;
        let (a, _) = memory.allocate(half, 0, ANY, OWNER, 0).unwrap();
        // What is left, less the guard page: one page short of another half.
        assert!(memory.allocate(half, 0, ANY, OWNER, 0).is_none());
        let (b, _) = memory.allocate(half - PAGE_SIZE, 0, ANY, OWNER, 0).unwrap();
        assert_eq!(b, PHYSICAL_MEMORY_BASE);
        assert_eq!(memory.free(a), Some(OWNER));
        assert_eq!(memory.free(a), None);
        assert!(memory.allocate(half, 0, ANY, OWNER, 0).is_some());
    }

    #[test]
    fn checks_tell_inside_straddling_freed_never_and_outside_apart() {
        let mut memory = Physical::default();
        let (a, host) = memory.allocate(100, 0, ANY, OWNER, 0x5A).unwrap();
        // SAFETY: the first byte of a live allocation.
        assert_eq!(unsafe { host.as_ptr().read() }, 0x5A);
        assert_eq!(memory.check(a, 100).ok(), Some(host));
        assert!(memory.check(a + 99, 1).is_ok());
        // The rest of the last page is not the device's.
        assert!(matches!(
            memory.check(a + 200, 1),
            Err(DeviceFault::Straddles { .. })
        ));
        assert_eq!(
            memory.check(a + 50, 51),
            Err(DeviceFault::Straddles {
                allocation: a,
                length: 100
            })
        );
        assert_eq!(memory.check(a - PAGE, 4), Err(DeviceFault::NeverAllocated));
        assert_eq!(
            memory.check(0x7fff_0000_1000, 4),
            Err(DeviceFault::OutsidePhysicalMemory)
        );
        assert_eq!(
            memory.check(ANY, 2),
            Err(DeviceFault::OutsidePhysicalMemory)
        );
        memory.free(a);
        assert_eq!(memory.check(a, 4), Err(DeviceFault::Freed));
    }

    #[test]
    fn page_limits_round_toward_the_allowed_side() {
        assert_eq!(pages_up_to(ANY), PAGES);
        assert_eq!(pages_up_to(PHYSICAL_MEMORY_BASE + PAGE - 1), 1);
        assert_eq!(pages_up_to(PHYSICAL_MEMORY_BASE + PAGE - 2), 0);
        assert_eq!(pages_up_to(0), 0);
        assert_eq!(page_at_or_above(0), 0);
        assert_eq!(page_at_or_above(PHYSICAL_MEMORY_BASE + 1), 1);
    }
}
