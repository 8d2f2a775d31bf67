//! Bit arithmetic on register values that both architectures' rules share.

/// The low `size` bytes of `value`, sign-extended to 64 bits.
#[must_use]
pub(crate) fn sign_extend(value: u64, size: u8) -> u64 {
    let shift = 64 - 8 * u32::from(size.clamp(1, 8));
    // An arithmetic shift right copies the sign bit down.
    ((value << shift).cast_signed() >> shift).cast_unsigned()
}

/// The low `size` bytes of `value`.
#[must_use]
pub(crate) fn truncate(value: u64, size: u8) -> u64 {
    if size >= 8 {
        value
    } else {
        value & ((1u64 << (8 * u32::from(size))) - 1)
    }
}
