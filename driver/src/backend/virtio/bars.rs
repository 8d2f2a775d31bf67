//! The function's BARs as the driver reaches them: volatile loads and stores on the mappings
//! `MmMapIoSpace` returned, each access checked against the mapping first.
//!
//! An access outside a mapped BAR, or not aligned to its size, is never made: a read returns
//! all ones (what a PCI read of nothing returns) and a write is dropped. The device layer only
//! makes accesses the capabilities located inside the BARs, so this is a second fence, for a
//! device whose capabilities lie.

use core::ptr::NonNull;

use super::device::Bars;

/// One mapped BAR.
#[derive(Clone, Copy, Debug)]
struct Mapping {
    base: NonNull<u8>,
    len: u32,
}

/// The mapped memory BARs of one function, and how the driver waits a little.
pub struct MappedBars<P: FnMut()> {
    bars: [Option<Mapping>; 6],
    pause: P,
}

impl<P: FnMut()> core::fmt::Debug for MappedBars<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MappedBars")
            .field("bars", &self.bars)
            .finish_non_exhaustive()
    }
}

impl<P: FnMut()> MappedBars<P> {
    /// No BAR mapped yet; `pause` is how the driver waits while the device completes a reset
    /// (the shell stalls the processor a microsecond).
    pub const fn new(pause: P) -> Self {
        Self {
            bars: [None; 6],
            pause,
        }
    }

    /// BAR `index` is mapped at `base` for `len` bytes.
    ///
    /// # Safety
    /// `base` must be the start of a mapping of the BAR of at least `len` bytes (from
    /// `MmMapIoSpace`) that stays mapped while this value lives.
    pub unsafe fn map(&mut self, index: u8, base: NonNull<u8>, len: u32) {
        if let Some(slot) = self.bars.get_mut(usize::from(index)) {
            *slot = Some(Mapping { base, len });
        }
    }

    /// The mapping of BAR `index`, if any: (base, length), for unmapping.
    #[must_use]
    pub fn mapping(&self, index: u8) -> Option<(NonNull<u8>, u32)> {
        let mapping = (*self.bars.get(usize::from(index))?)?;
        Some((mapping.base, mapping.len))
    }

    /// The register at `offset` of BAR `bar`, if an access of `size` bytes there is inside the
    /// mapping and aligned.
    fn register(&self, bar: u8, offset: u32, size: u8) -> Option<*mut u8> {
        let mapping = (*self.bars.get(usize::from(bar))?)?;
        let size = u32::from(size);
        let fits = offset.checked_add(size)? <= mapping.len;
        let aligned = size.is_power_of_two() && size <= 8 && offset.is_multiple_of(size);
        if !(fits && aligned) {
            return None;
        }
        // SAFETY: inside the mapping (checked above), which `map`'s caller keeps mapped.
        let register = unsafe { mapping.base.as_ptr().add(usize::try_from(offset).ok()?) };
        register
            .addr()
            .is_multiple_of(usize::try_from(size).ok()?)
            .then_some(register)
    }
}

// The casts are to registers whose alignment `register` checked (offset and address both
// multiples of the width).
#[allow(clippy::cast_ptr_alignment)]
impl<P: FnMut()> Bars for MappedBars<P> {
    fn read(&mut self, bar: u8, offset: u32, size: u8) -> u64 {
        let Some(register) = self.register(bar, offset, size) else {
            return u64::MAX;
        };
        match size {
            1 => {
                // SAFETY: a register of this width inside a live mapping (checked by `register`).
                u64::from(unsafe { register.read_volatile() })
            }
            2 => {
                // SAFETY: an aligned register of this width inside a live mapping.
                u64::from(unsafe { register.cast::<u16>().read_volatile() })
            }
            4 => {
                // SAFETY: as above.
                u64::from(unsafe { register.cast::<u32>().read_volatile() })
            }
            _ => {
                // SAFETY: as above (`register` admits widths 1, 2, 4 and 8 only).
                unsafe { register.cast::<u64>().read_volatile() }
            }
        }
    }

    fn write(&mut self, bar: u8, offset: u32, size: u8, value: u64) {
        let Some(register) = self.register(bar, offset, size) else {
            return;
        };
        let b = value.to_le_bytes();
        match size {
            1 => {
                // SAFETY: a register of this width inside a live mapping (checked by `register`).
                unsafe { register.write_volatile(b[0]) };
            }
            2 => {
                let half = u16::from_le_bytes([b[0], b[1]]);
                // SAFETY: an aligned register of this width inside a live mapping.
                unsafe { register.cast::<u16>().write_volatile(half) };
            }
            4 => {
                let word = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                // SAFETY: as above.
                unsafe { register.cast::<u32>().write_volatile(word) };
            }
            _ => {
                // SAFETY: as above (`register` admits widths 1, 2, 4 and 8 only).
                unsafe { register.cast::<u64>().write_volatile(value) };
            }
        }
    }

    fn pause(&mut self) {
        (self.pause)();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accesses_outside_the_mapping_or_misaligned_are_never_made() {
        let mut memory = vec![0_u64; 8];
        let base = NonNull::new(memory.as_mut_ptr().cast::<u8>()).unwrap();
        let mut bars = MappedBars::new(|| {});
        // SAFETY: 64 bytes of `memory`, alive for the test.
        unsafe { bars.map(4, base, 64) };
        bars.write(4, 8, 4, 0xDEAD_BEEF);
        assert_eq!(bars.read(4, 8, 4), 0xDEAD_BEEF);
        assert_eq!(bars.read(4, 8, 2), 0xBEEF);
        assert_eq!(bars.read(4, 8, 8), 0xDEAD_BEEF);
        bars.write(4, 60, 8, 1); // runs past the end
        bars.write(4, 6, 4, 1); // misaligned
        bars.write(4, 0, 3, 1); // no such width
        bars.write(2, 0, 4, 1); // BAR not mapped
        assert_eq!(bars.read(4, 64, 1), u64::MAX);
        assert_eq!(bars.read(0, 0, 4), u64::MAX);
        assert_eq!(bars.read(9, 0, 4), u64::MAX);
        assert_eq!(memory.iter().filter(|&&word| word != 0).count(), 1);
        assert_eq!(bars.mapping(4).map(|(_, len)| len), Some(64));
        assert!(bars.mapping(1).is_none());
    }
}
