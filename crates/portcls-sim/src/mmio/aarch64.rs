//! The A64 instructions a compiler emits for a volatile load or store, decoded.
//!
//! Pure functions over the instruction word: [`decode`] says what a faulting load or store
//! does (which register, how many bytes, how the value is extended, whether the base
//! register is written back), so the fault handler can emulate it and resume at the next
//! instruction (every A64 instruction is 4 bytes). The address is not computed: the fault
//! reports it; only the base writeback needs the offset.
//!
//! Covered: the general-register forms of `LDR`/`STR` (W and X), `LDRB`/`STRB`,
//! `LDRH`/`STRH`, `LDRSB`/`LDRSH` (to W or X) and `LDRSW`, each with an unsigned scaled
//! immediate offset, an unscaled immediate (`LDUR`/`STUR`, and the unprivileged
//! `LDTR`/`STTR`, which user mode runs alike), pre-index and post-index (base writeback), and
//! a register offset (extended or shifted). Register 31 as the data register is `XZR`/`WZR`:
//! a store of zero, a load discarded; as the base it is `SP`. Not covered: SIMD and
//! floating-point registers, pairs (`LDP`/`STP`, which compilers do not emit for separate
//! volatile accesses), exclusives and acquire/release forms, `PRFM`.

use super::value::{sign_extend, truncate};

/// How a load extends its value to the register.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Extend {
    /// Zero-extended to 64 bits (`LDR`, `LDRB`, `LDRH`, to W or X).
    Zero,
    /// Sign-extended to 32 bits, bits 32-63 cleared (`LDRSB`/`LDRSH` to a W register).
    Sign32,
    /// Sign-extended to 64 bits (`LDRSB`/`LDRSH` to an X register, `LDRSW`).
    Sign64,
}

/// What a decoded instruction does to memory.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Access {
    /// Reads `size` bytes into register `register`.
    Load {
        /// `X0`..`X30`, or 31 for `XZR` (the value is discarded).
        register: u8,
        /// Bytes read: 1, 2, 4 or 8.
        size: u8,
        /// How the value fills the register.
        extend: Extend,
    },
    /// Writes the low `size` bytes of register `register`.
    Store {
        /// `X0`..`X30`, or 31 for `XZR` (a store of zero).
        register: u8,
        /// Bytes written: 1, 2, 4 or 8.
        size: u8,
    },
}

/// A base register update (pre-index or post-index addressing).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Writeback {
    /// `X0`..`X30`, or 31 for `SP`.
    pub base: u8,
    /// Added to the base after the access.
    pub offset: i64,
}

/// A decoded instruction.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Instruction {
    /// Its effect on memory and the data register.
    pub access: Access,
    /// The base register's update, if the addressing mode writes it back.
    pub writeback: Option<Writeback>,
}

/// Why [`decode`] gave no instruction.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DecodeError {
    /// Not one of the covered loads and stores.
    Unsupported,
}

/// The register that means `XZR` for data and `SP` for a base.
pub const ZR_OR_SP: u8 = 31;

/// Decodes one instruction word.
///
/// # Errors
/// [`DecodeError::Unsupported`] if `word` is not a covered load or store.
pub fn decode(word: u32) -> Result<Instruction, DecodeError> {
    let size_field = word >> 30;
    let opc = (word >> 22) & 3;
    let base = field(word, 5);
    let register = field(word, 0);
    let writeback = if word & 0x3F00_0000 == 0x3900_0000 {
        None // unsigned scaled immediate
    } else if word & 0x3F20_0000 == 0x3800_0000 {
        // 9-bit signed immediate; bits 10-11 choose the form.
        let imm9 = i64::from((word >> 12) & 0x1FF);
        let offset = if imm9 & 0x100 == 0 {
            imm9
        } else {
            imm9 - 0x200
        };
        match (word >> 10) & 3 {
            0b01 | 0b11 => Some(Writeback { base, offset }), // post-index, pre-index
            _ => None,                                       // unscaled, unprivileged
        }
    } else if word & 0x3F20_0C00 == 0x3820_0800 {
        // Register offset; option values without bit 1 (UXTB, UXTH, SXTB, SXTH) are
        // unallocated.
        if (word >> 13) & 2 == 0 {
            return Err(DecodeError::Unsupported);
        }
        None
    } else {
        return Err(DecodeError::Unsupported);
    };
    let size = 1u8 << size_field;
    let access = match (opc, size_field) {
        (0, _) => Access::Store { register, size },
        (1, _) => Access::Load {
            register,
            size,
            extend: Extend::Zero,
        },
        (2, 0..=2) => Access::Load {
            register,
            size,
            extend: Extend::Sign64,
        },
        (3, 0..=1) => Access::Load {
            register,
            size,
            extend: Extend::Sign32,
        },
        _ => return Err(DecodeError::Unsupported), // PRFM and unallocated encodings
    };
    Ok(Instruction { access, writeback })
}

/// The 5-bit register field at bit `shift`.
fn field(word: u32, shift: u32) -> u8 {
    // Masked to five bits: always fits.
    #[allow(clippy::cast_possible_truncation)]
    let register = ((word >> shift) & 31) as u8;
    register
}

/// The register's new value after a load of `loaded` (the `size` bytes memory gave) with
/// `extend`.
#[must_use]
pub fn loaded_value(size: u8, extend: Extend, loaded: u64) -> u64 {
    let value = truncate(loaded, size);
    match extend {
        Extend::Zero => value,
        Extend::Sign64 => sign_extend(value, size),
        Extend::Sign32 => truncate(sign_extend(value, size), 4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(register: u8, size: u8, extend: Extend) -> Access {
        Access::Load {
            register,
            size,
            extend,
        }
    }

    fn store(register: u8, size: u8) -> Access {
        Access::Store { register, size }
    }

    #[allow(clippy::unnecessary_wraps)] // compared with `decode`'s result
    fn plain(access: Access) -> Result<Instruction, DecodeError> {
        Ok(Instruction {
            access,
            writeback: None,
        })
    }

    #[allow(clippy::unnecessary_wraps)] // compared with `decode`'s result
    fn written_back(access: Access, base: u8, offset: i64) -> Result<Instruction, DecodeError> {
        Ok(Instruction {
            access,
            writeback: Some(Writeback { base, offset }),
        })
    }

    #[test]
    fn unsigned_offset_forms_decode_for_each_size() {
        assert_eq!(decode(0xB940_0020), plain(load(0, 4, Extend::Zero))); // ldr w0, [x1]
        assert_eq!(decode(0xF940_0422), plain(load(2, 8, Extend::Zero))); // ldr x2, [x1, #8]
        assert_eq!(decode(0x3940_1C23), plain(load(3, 1, Extend::Zero))); // ldrb w3, [x1, #7]
        assert_eq!(decode(0x7940_0C24), plain(load(4, 2, Extend::Zero))); // ldrh w4, [x1, #6]
        assert_eq!(decode(0xB900_0420), plain(store(0, 4))); // str w0, [x1, #4]
        assert_eq!(decode(0xF900_03E5), plain(store(5, 8))); // str x5, [sp]
        assert_eq!(decode(0x3900_0026), plain(store(6, 1))); // strb w6, [x1]
        assert_eq!(decode(0x7900_0427), plain(store(7, 2))); // strh w7, [x1, #2]
    }

    #[test]
    fn sign_extending_loads_decode_to_w_or_x() {
        assert_eq!(decode(0x3980_0020), plain(load(0, 1, Extend::Sign64))); // ldrsb x0, [x1]
        assert_eq!(decode(0x39C0_0020), plain(load(0, 1, Extend::Sign32))); // ldrsb w0, [x1]
        assert_eq!(decode(0x7980_0020), plain(load(0, 2, Extend::Sign64))); // ldrsh x0, [x1]
        assert_eq!(decode(0x79C0_0020), plain(load(0, 2, Extend::Sign32))); // ldrsh w0, [x1]
        assert_eq!(decode(0xB980_0020), plain(load(0, 4, Extend::Sign64))); // ldrsw x0, [x1]
    }

    #[test]
    fn unscaled_and_indexed_forms_decode_with_their_writeback() {
        assert_eq!(decode(0xB85F_C020), plain(load(0, 4, Extend::Zero))); // ldur w0, [x1, #-4]
        assert_eq!(decode(0x3800_1020), plain(store(0, 1))); // sturb w0, [x1, #1]
        // ldr w0, [x1, #4]!
        assert_eq!(
            decode(0xB840_4C20),
            written_back(load(0, 4, Extend::Zero), 1, 4)
        );
        // ldr x0, [x1], #-8
        assert_eq!(
            decode(0xF85F_8420),
            written_back(load(0, 8, Extend::Zero), 1, -8)
        );
        // str w2, [x3], #4
        assert_eq!(decode(0xB800_4462), written_back(store(2, 4), 3, 4));
        // strh w2, [sp, #-2]!
        assert_eq!(decode(0x781F_EFE2), written_back(store(2, 2), 31, -2));
        // ldtr w0, [x1]: unprivileged, no writeback
        assert_eq!(decode(0xB840_0820), plain(load(0, 4, Extend::Zero)));
    }

    #[test]
    fn register_offset_forms_decode() {
        assert_eq!(decode(0xB862_6820), plain(load(0, 4, Extend::Zero))); // ldr w0, [x1, x2]
        assert_eq!(decode(0xF822_7820), plain(store(0, 8))); // str x0, [x1, x2, lsl #3]
        assert_eq!(decode(0x3862_C820), plain(load(0, 1, Extend::Zero))); // ldrb w0, [x1, w2, sxtw]
        // option 000 (UXTB) is unallocated
        assert_eq!(decode(0xB862_0820), Err(DecodeError::Unsupported));
    }

    #[test]
    fn register_31_is_the_zero_register_for_data() {
        assert_eq!(decode(0xB900_003F), plain(store(ZR_OR_SP, 4))); // str wzr, [x1]
        assert_eq!(decode(0xF940_003F), plain(load(ZR_OR_SP, 8, Extend::Zero))); // ldr xzr, [x1]
    }

    #[test]
    fn other_instructions_are_unsupported() {
        assert_eq!(decode(0xD503_201F), Err(DecodeError::Unsupported)); // nop
        assert_eq!(decode(0xA940_0420), Err(DecodeError::Unsupported)); // ldp x0, x1, [x1]
        assert_eq!(decode(0xBD40_0020), Err(DecodeError::Unsupported)); // ldr s0, [x1]
        assert_eq!(decode(0xF980_0020), Err(DecodeError::Unsupported)); // prfm pldl1keep, [x1]
        assert_eq!(decode(0x88DF_FC20), Err(DecodeError::Unsupported)); // ldar w0, [x1]
    }

    #[test]
    fn loaded_values_extend_as_the_form_says() {
        assert_eq!(
            loaded_value(4, Extend::Zero, 0xFFFF_FFFF_8000_0000),
            0x8000_0000
        );
        assert_eq!(loaded_value(1, Extend::Sign64, 0x80), 0xFFFF_FFFF_FFFF_FF80);
        assert_eq!(loaded_value(2, Extend::Sign32, 0x8000), 0xFFFF_8000);
        assert_eq!(loaded_value(4, Extend::Sign64, 0x7FFF_FFFF), 0x7FFF_FFFF);
        assert_eq!(loaded_value(8, Extend::Zero, u64::MAX), u64::MAX);
    }
}
