//! The x86-64 instructions a compiler emits for a volatile load or store, decoded.
//!
//! Pure functions over instruction bytes: [`decode`] says what a faulting instruction does
//! (load or store, which register or immediate, how many bytes) and how long it is, so the
//! fault handler can emulate it and resume after it. The effective address is not computed:
//! the fault reports it. [`load_into`] and [`store_value`] apply the architecture's rules for
//! partial registers (a 32-bit destination clears bits 32-63; 8- and 16-bit destinations keep
//! the rest; `AH`..`BH` are bits 8-15 of `RAX`..`RBX`).
//!
//! Covered, with the operand-size prefix `66`, any REX prefix (W, R, X, B), the segment and
//! address-size prefixes (ignored: the fault gives the address), and every memory form of
//! `ModRM` (SIB, `disp8`, `disp32`, RIP-relative):
//!
//! | opcode | instruction |
//! | --- | --- |
//! | `88` / `89` | `mov r/m8, r8` / `mov r/m16/32/64, r` |
//! | `8A` / `8B` | `mov r8, r/m8` / `mov r, r/m16/32/64` |
//! | `C6 /0` / `C7 /0` | `mov r/m8, imm8` / `mov r/m16/32/64, imm16/32` (sign-extended for 64) |
//! | `0F B6` / `0F B7` | `movzx r, r/m8` / `movzx r, r/m16` |
//! | `0F BE` / `0F BF` | `movsx r, r/m8` / `movsx r, r/m16` |
//! | `63` | `movsxd r64, r/m32` (without REX.W: a 32-bit load) |
//! | `02`/`03`, `0A`/`0B`, `22`/`23`, `2A`/`2B`, `32`/`33`, `3A`/`3B` | `add`, `or`, `and`, `sub`, `xor`, `cmp` `r, r/m` |
//! | `84` / `85` | `test r/m, r` |
//! | `80 /7`, `81 /7`, `83 /7` | `cmp r/m, imm8/imm16/imm32/sign-extended imm8` |
//! | `F6 /0` / `F7 /0` | `test r/m, imm8` / `test r/m, imm16/32` |
//! | `00`/`01`, `08`/`09`, `20`/`21`, `28`/`29`, `30`/`31`; `38`/`39` | `add`, `or`, `and`, `sub`, `xor` `r/m, r` (read-modify-write); `cmp r/m, r` |
//! | `80`/`81`/`83` `/0 /1 /4 /5 /6` | `add`, `or`, `and`, `sub`, `xor` `r/m, imm` (read-modify-write) |
//!
//! The compare and combine rows are what an optimising compiler makes of a volatile load whose
//! value is only combined or compared; the read-modify-write rows what it makes of a volatile
//! load, an operation and a volatile store of the same register (one read, one write: the
//! driver image's status update `status |= bit` is `or byte [r], imm`). Not covered: carries
//! in (`adc`, `sbb`), `not`, `neg`, `inc`/`dec` on memory, and the string and SSE forms.

use super::value::{sign_extend, truncate};

/// The longest x86-64 instruction, in bytes.
pub const MAX_LENGTH: usize = 15;

/// A general register as an instruction names it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Register {
    /// Register `0..=15` in the instruction set's numbering (`RAX`, `RCX`, `RDX`, `RBX`,
    /// `RSP`, `RBP`, `RSI`, `RDI`, `R8`..`R15`), at the access's width from bit 0 (with an
    /// 8-bit access and a REX prefix, 4-7 are `SPL`, `BPL`, `SIL`, `DIL`).
    Gpr(u8),
    /// `AH`, `CH`, `DH`, `BH` (0-3): bits 8-15 of `RAX`, `RCX`, `RDX`, `RBX`, which an 8-bit
    /// operand names with register numbers 4-7 when the instruction has no REX prefix.
    HighByte(u8),
}

impl Register {
    /// The full 64-bit register that holds this one (`0..=15`, as [`Register::Gpr`] numbers).
    #[must_use]
    pub fn full(self) -> u8 {
        match self {
            Self::Gpr(number) | Self::HighByte(number) => number,
        }
    }
}

/// Where a store's value comes from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Source {
    /// A register: its low bytes (or `AH`..`BH`), as many as the store writes.
    Register(Register),
    /// An immediate, already sign-extended to 64 bits; the store writes its low bytes.
    Immediate(u64),
}

/// What a decoded instruction does to memory.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Access {
    /// Reads `size` bytes into `destination`.
    Load {
        /// The register written.
        destination: Register,
        /// Bytes read from memory: 1, 2, 4 or 8.
        size: u8,
        /// The destination's width in bytes (1, 2, 4 or 8): `movzx`/`movsx` widen.
        width: u8,
        /// Whether the value is sign-extended to `width` (`movsx`, `movsxd`) rather than
        /// zero-extended.
        sign_extend: bool,
    },
    /// Writes `size` bytes taken from `source`.
    Store {
        /// The value's origin.
        source: Source,
        /// Bytes written to memory: 1, 2, 4 or 8.
        size: u8,
    },
    /// Reads `size` bytes, combines them with `other` ([`compute`], memory the left operand),
    /// writes the result back to memory and sets the flags: a read-modify-write (`or byte
    /// [rax], 1`, `add dword [rdi], eax`). An optimising compiler folds a volatile load, an
    /// operation and a volatile store of the same register into one of these (it is still one
    /// read and one write).
    Modify {
        /// The operation ([`Alu::writes`] is true for each).
        op: Alu,
        /// The register or immediate operand.
        other: Source,
        /// Bytes read and written: 1, 2, 4 or 8.
        size: u8,
    },
    /// Reads `size` bytes and combines them with `other` ([`compute`]): sets the flags, and
    /// for the operations that have a result ([`Alu::writes`]) writes it to the register
    /// `other` names. An optimising compiler folds volatile loads into these (`add eax,
    /// [rdi]`, `cmp dword [rdi], 5`, `test byte [rdi], 1`).
    Compute {
        /// The operation.
        op: Alu,
        /// The register or immediate operand.
        other: Source,
        /// Bytes read from memory, and the operation's width: 1, 2, 4 or 8.
        size: u8,
        /// Whether memory is the left operand (`cmp m, imm`, `test m, r`) rather than the
        /// right (`sub r, m`, `cmp r, m`).
        memory_left: bool,
    },
}

/// The arithmetic and logic operations [`Access::Compute`] covers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Alu {
    /// `add`.
    Add,
    /// `or`.
    Or,
    /// `and`.
    And,
    /// `sub`.
    Sub,
    /// `xor`.
    Xor,
    /// `cmp`: a `sub` that keeps only the flags.
    Cmp,
    /// `test`: an `and` that keeps only the flags.
    Test,
}

impl Alu {
    /// Whether the operation writes its result to the register operand.
    #[must_use]
    pub fn writes(self) -> bool {
        !matches!(self, Self::Cmp | Self::Test)
    }
}

/// The `RFLAGS` bits [`compute`] sets: CF, PF, AF, ZF, SF, OF.
pub const STATUS_FLAGS: u64 = 0x8D5;

/// `left op right` at `size` bytes: the result (truncated to `size`) and the status flags it
/// sets (within [`STATUS_FLAGS`]; the logic operations clear CF, OF and the undefined AF).
#[must_use]
pub fn compute(op: Alu, size: u8, left: u64, right: u64) -> (u64, u64) {
    let (left, right) = (truncate(left, size), truncate(right, size));
    let sign = 1u64 << (8 * u32::from(size) - 1);
    let (result, carry, overflow) = match op {
        Alu::Add => {
            let result = truncate(left.wrapping_add(right), size);
            (
                result,
                result < left,
                (left ^ result) & (right ^ result) & sign != 0,
            )
        }
        Alu::Sub | Alu::Cmp => {
            let result = truncate(left.wrapping_sub(right), size);
            (
                result,
                left < right,
                (left ^ right) & (left ^ result) & sign != 0,
            )
        }
        Alu::Or => (left | right, false, false),
        Alu::And | Alu::Test => (left & right, false, false),
        Alu::Xor => (left ^ right, false, false),
    };
    let adjust =
        matches!(op, Alu::Add | Alu::Sub | Alu::Cmp) && (left ^ right ^ result) & 0x10 != 0;
    let flags = u64::from(carry)
        | u64::from((result & 0xFF).count_ones() % 2 == 0) << 2
        | u64::from(adjust) << 4
        | u64::from(result == 0) << 6
        | u64::from(result & sign != 0) << 7
        | u64::from(overflow) << 11;
    (result, flags)
}

/// A decoded instruction.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Instruction {
    /// Its effect on memory and registers.
    pub access: Access,
    /// Its length in bytes: the amount to add to `RIP` after emulating it.
    pub length: usize,
}

/// Why [`decode`] gave no instruction.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DecodeError {
    /// The bytes end before the instruction does: call again with more (at most
    /// [`MAX_LENGTH`]).
    Truncated,
    /// Not one of the covered loads and stores (or not a memory form of one).
    Unsupported,
}

/// A cursor over the instruction's bytes.
struct Bytes<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Bytes<'_> {
    fn next(&mut self) -> Result<u8, DecodeError> {
        let byte = *self.bytes.get(self.at).ok_or(DecodeError::Truncated)?;
        self.at += 1;
        Ok(byte)
    }

    fn skip(&mut self, count: usize) -> Result<(), DecodeError> {
        if self.bytes.len() < self.at + count {
            return Err(DecodeError::Truncated);
        }
        self.at += count;
        Ok(())
    }

    fn immediate(&mut self, size: u8) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for index in 0..size {
            value |= u64::from(self.next()?) << (8 * index);
        }
        Ok(sign_extend(value, size))
    }
}

/// The REX prefix's bits.
#[derive(Clone, Copy, Default)]
struct Rex {
    present: bool,
    w: bool,
    r: bool,
}

/// Decodes the instruction at the start of `bytes`.
///
/// # Errors
/// [`DecodeError::Truncated`] if `bytes` ends inside the instruction;
/// [`DecodeError::Unsupported`] if it is not a covered load or store with a memory operand.
pub fn decode(bytes: &[u8]) -> Result<Instruction, DecodeError> {
    let mut cursor = Bytes { bytes, at: 0 };
    let (rex, operand_16, opcode) = prefixes(&mut cursor)?;
    let operand_size = if rex.w {
        8
    } else if operand_16 {
        2
    } else {
        4
    };
    let (kind, size) = classify(opcode, &mut cursor, operand_size)?;
    let modrm = cursor.next()?;
    let mode = modrm >> 6;
    let rm = modrm & 7;
    let reg_field = (modrm >> 3) & 7;
    if mode == 3 {
        return Err(DecodeError::Unsupported); // a register operand: no memory access
    }
    skip_address(&mut cursor, mode, rm)?;
    let register_number = reg_field | (u8::from(rex.r) << 3);
    // The width of the register operand: the destination's for loads, the store's size.
    let register = |width: u8| {
        if width == 1 && !rex.present && (4..8).contains(&register_number) {
            Register::HighByte(register_number - 4)
        } else {
            Register::Gpr(register_number)
        }
    };
    let access = match kind {
        Kind::Load { width, sign } => Access::Load {
            destination: register(width),
            size,
            width,
            sign_extend: sign,
        },
        Kind::StoreRegister => Access::Store {
            source: Source::Register(register(size)),
            size,
        },
        Kind::Compute { op, memory_left } => Access::Compute {
            op,
            other: Source::Register(register(size)),
            size,
            memory_left,
        },
        Kind::Modify { op } => Access::Modify {
            op,
            other: Source::Register(register(size)),
            size,
        },
        Kind::ComputeImmediate { immediate } => {
            // 80/81/83 /7 is `cmp`, F6/F7 /0 is `test` (read only); 80/81/83 /0 /1 /4 /5 /6
            // are `add`, `or`, `and`, `sub`, `xor` into memory; the rest are not covered
            // (`adc`, `sbb`, and F6/F7's `not`, `neg`, multiplications).
            let (op, modify) = match (opcode, reg_field) {
                (0x80 | 0x81 | 0x83, 7) => (Alu::Cmp, false),
                (0xF6 | 0xF7, 0) => (Alu::Test, false),
                (0x80 | 0x81 | 0x83, 0) => (Alu::Add, true),
                (0x80 | 0x81 | 0x83, 1) => (Alu::Or, true),
                (0x80 | 0x81 | 0x83, 4) => (Alu::And, true),
                (0x80 | 0x81 | 0x83, 5) => (Alu::Sub, true),
                (0x80 | 0x81 | 0x83, 6) => (Alu::Xor, true),
                _ => return Err(DecodeError::Unsupported),
            };
            let other = Source::Immediate(cursor.immediate(immediate)?);
            if modify {
                Access::Modify { op, other, size }
            } else {
                Access::Compute {
                    op,
                    other,
                    size,
                    memory_left: true,
                }
            }
        }
        Kind::StoreImmediate => {
            if reg_field != 0 {
                return Err(DecodeError::Unsupported); // C6/C7 with /1../7 are not `mov`
            }
            Access::Store {
                source: Source::Immediate(cursor.immediate(size.min(4))?),
                size,
            }
        }
    };
    if cursor.at > MAX_LENGTH {
        return Err(DecodeError::Unsupported);
    }
    Ok(Instruction {
        access,
        length: cursor.at,
    })
}

/// Reads the prefixes and the opcode's first byte: the REX bits, whether `66` was there, and
/// the opcode.
fn prefixes(cursor: &mut Bytes<'_>) -> Result<(Rex, bool, u8), DecodeError> {
    let mut operand_16 = false;
    let mut rex = Rex::default();
    loop {
        let byte = cursor.next()?;
        match byte {
            0x66 => operand_16 = true,
            // Segment overrides and the address-size prefix change only the address.
            0x26 | 0x2E | 0x36 | 0x3E | 0x64 | 0x65 | 0x67 => {}
            0x40..=0x4F => {
                rex = Rex {
                    present: true,
                    w: byte & 0x08 != 0,
                    r: byte & 0x04 != 0,
                };
                // A REX prefix counts only right before the opcode.
                let opcode = cursor.next()?;
                if !matches!(
                    opcode,
                    0x26 | 0x2E | 0x36 | 0x3E | 0x64 | 0x65 | 0x66 | 0x67
                ) {
                    return Ok((rex, operand_16, opcode));
                }
                rex = Rex::default();
                operand_16 |= opcode == 0x66;
            }
            _ => return Ok((rex, operand_16, byte)),
        }
        if cursor.at >= MAX_LENGTH {
            return Err(DecodeError::Unsupported);
        }
    }
}

/// The family of the instruction `opcode` starts (reading a second opcode byte after `0F`)
/// and its memory access's size.
fn classify(
    opcode: u8,
    cursor: &mut Bytes<'_>,
    operand_size: u8,
) -> Result<(Kind, u8), DecodeError> {
    let load = |width, sign| Kind::Load { width, sign };
    let compute = |op, memory_left| Kind::Compute { op, memory_left };
    let classified = match opcode {
        0x88 => (Kind::StoreRegister, 1),
        0x89 => (Kind::StoreRegister, operand_size),
        0x8A => (load(1, false), 1),
        0x8B => (load(operand_size, false), operand_size),
        0xC6 => (Kind::StoreImmediate, 1),
        0xC7 => (Kind::StoreImmediate, operand_size),
        0x02 | 0x03 | 0x0A | 0x0B | 0x22 | 0x23 | 0x2A | 0x2B | 0x32 | 0x33 | 0x3A | 0x3B => {
            let op = match opcode >> 3 {
                0 => Alu::Add,
                1 => Alu::Or,
                4 => Alu::And,
                5 => Alu::Sub,
                6 => Alu::Xor,
                _ => Alu::Cmp,
            };
            let size = if opcode & 1 == 0 { 1 } else { operand_size };
            (compute(op, false), size)
        }
        // `op r/m, r`: into memory (`cmp r/m, r` only reads it).
        0x00 | 0x01 | 0x08 | 0x09 | 0x20 | 0x21 | 0x28 | 0x29 | 0x30 | 0x31 => {
            let op = match opcode >> 3 {
                0 => Alu::Add,
                1 => Alu::Or,
                4 => Alu::And,
                5 => Alu::Sub,
                _ => Alu::Xor,
            };
            let size = if opcode & 1 == 0 { 1 } else { operand_size };
            (Kind::Modify { op }, size)
        }
        0x38 => (compute(Alu::Cmp, true), 1),
        0x39 => (compute(Alu::Cmp, true), operand_size),
        0x84 => (compute(Alu::Test, true), 1),
        0x85 => (compute(Alu::Test, true), operand_size),
        0x80 | 0xF6 => (Kind::ComputeImmediate { immediate: 1 }, 1),
        0x83 => (Kind::ComputeImmediate { immediate: 1 }, operand_size),
        0x81 | 0xF7 => {
            let immediate = operand_size.min(4);
            (Kind::ComputeImmediate { immediate }, operand_size)
        }
        0x63 => (load(operand_size, true), operand_size.min(4)),
        0x0F => match cursor.next()? {
            0xB6 => (load(operand_size, false), 1),
            0xB7 => (load(operand_size, false), 2),
            0xBE => (load(operand_size, true), 1),
            0xBF => (load(operand_size, true), 2),
            _ => return Err(DecodeError::Unsupported),
        },
        _ => return Err(DecodeError::Unsupported),
    };
    Ok(classified)
}

/// Skips the SIB byte and the displacement a memory operand with `mode` and `rm` has.
fn skip_address(cursor: &mut Bytes<'_>, mode: u8, rm: u8) -> Result<(), DecodeError> {
    if rm == 4 {
        let sib = cursor.next()?;
        if mode == 0 && sib & 7 == 5 {
            cursor.skip(4)?; // no base: disp32
        }
    }
    match mode {
        0 if rm == 5 => cursor.skip(4)?, // RIP-relative disp32
        1 => cursor.skip(1)?,
        2 => cursor.skip(4)?,
        _ => {}
    }
    Ok(())
}

/// The instruction families [`decode`] tells apart before the operands.
#[derive(Clone, Copy)]
enum Kind {
    Load { width: u8, sign: bool },
    Compute { op: Alu, memory_left: bool },
    Modify { op: Alu },
    ComputeImmediate { immediate: u8 },
    StoreRegister,
    StoreImmediate,
}

/// The new value of the full register holding `destination` after a load of `loaded` (the
/// `size` bytes memory gave) into it, given its value `old`.
///
/// `load` must be an [`Access::Load`]; for a store this returns `old`.
#[must_use]
pub fn load_into(load: Access, old: u64, loaded: u64) -> u64 {
    let Access::Load {
        destination,
        size,
        width,
        sign_extend: sign,
    } = load
    else {
        return old;
    };
    let value = if sign {
        sign_extend(loaded, size)
    } else {
        truncate(loaded, size)
    };
    match (width, destination) {
        (1, Register::HighByte(_)) => (old & !0xFF00) | (truncate(value, 1) << 8),
        (1, Register::Gpr(_)) => (old & !0xFF) | truncate(value, 1),
        (2, _) => (old & !0xFFFF) | truncate(value, 2),
        (4, _) => truncate(value, 4), // a 32-bit destination clears bits 32-63
        _ => value,
    }
}

/// The value a store of `size` bytes from `source` writes, given `register_value`, the full
/// register holding the source when it is a register.
#[must_use]
pub fn store_value(source: Source, size: u8, register_value: u64) -> u64 {
    match source {
        Source::Register(Register::HighByte(_)) => truncate(register_value >> 8, size),
        Source::Register(Register::Gpr(_)) => truncate(register_value, size),
        Source::Immediate(value) => truncate(value, size),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(destination: Register, size: u8, width: u8, sign_extend: bool) -> Access {
        Access::Load {
            destination,
            size,
            width,
            sign_extend,
        }
    }

    fn store(source: Source, size: u8) -> Access {
        Access::Store { source, size }
    }

    #[test]
    fn read_modify_write_forms_decode_with_their_operands() {
        use Register::Gpr;
        // or byte [rax+r14], 1 (REX.X): what a volatile read, `| 1`, volatile write became.
        assert_eq!(
            decoded(&[0x42, 0x80, 0x0C, 0x30, 0x01]),
            (
                Access::Modify {
                    op: Alu::Or,
                    other: Source::Immediate(1),
                    size: 1
                },
                5
            )
        );
        // add dword [rdi], 1 ; sub qword [rdi+8], -3 ; and word [rsi], 0x00F0
        assert_eq!(
            decoded(&[0x83, 0x07, 0x01]).0,
            Access::Modify {
                op: Alu::Add,
                other: Source::Immediate(1),
                size: 4
            }
        );
        assert_eq!(
            decoded(&[0x48, 0x83, 0x6F, 0x08, 0xFD]).0,
            Access::Modify {
                op: Alu::Sub,
                other: Source::Immediate(u64::MAX - 2),
                size: 8
            }
        );
        assert_eq!(
            decoded(&[0x66, 0x81, 0x26, 0xF0, 0x00]),
            (
                Access::Modify {
                    op: Alu::And,
                    other: Source::Immediate(0xF0),
                    size: 2
                },
                5
            )
        );
        // xor [rdi], r9d ; add byte [rdx], al ; cmp [rdi], ecx (read only)
        assert_eq!(
            decoded(&[0x44, 0x31, 0x0F]).0,
            Access::Modify {
                op: Alu::Xor,
                other: Source::Register(Gpr(9)),
                size: 4
            }
        );
        assert_eq!(
            decoded(&[0x00, 0x02]).0,
            Access::Modify {
                op: Alu::Add,
                other: Source::Register(Gpr(0)),
                size: 1
            }
        );
        assert_eq!(
            decoded(&[0x39, 0x0F]).0,
            Access::Compute {
                op: Alu::Cmp,
                other: Source::Register(Gpr(1)),
                size: 4,
                memory_left: true
            }
        );
    }

    fn decoded(bytes: &[u8]) -> (Access, usize) {
        let instruction = decode(bytes).unwrap_or_else(|error| panic!("{bytes:02x?}: {error:?}"));
        (instruction.access, instruction.length)
    }

    use Register::{Gpr, HighByte};

    #[test]
    fn mov_loads_of_each_size_decode_with_their_lengths() {
        // mov eax, [rdi]
        assert_eq!(decoded(&[0x8B, 0x07]), (load(Gpr(0), 4, 4, false), 2));
        // mov rax, [rdi+0x10]
        assert_eq!(
            decoded(&[0x48, 0x8B, 0x47, 0x10]),
            (load(Gpr(0), 8, 8, false), 4)
        );
        // mov ax, [rdi+0x1234]
        assert_eq!(
            decoded(&[0x66, 0x8B, 0x87, 0x34, 0x12, 0, 0]),
            (load(Gpr(0), 2, 2, false), 7)
        );
        // mov cl, [rsi]
        assert_eq!(decoded(&[0x8A, 0x0E]), (load(Gpr(1), 1, 1, false), 2));
        // mov r9d, [r10+r11*4+8]
        assert_eq!(
            decoded(&[0x47, 0x8B, 0x4C, 0x9A, 0x08]),
            (load(Gpr(9), 4, 4, false), 5)
        );
        // mov r15, [rsp]
        assert_eq!(
            decoded(&[0x4C, 0x8B, 0x3C, 0x24]),
            (load(Gpr(15), 8, 8, false), 4)
        );
    }

    #[test]
    fn eight_bit_registers_four_to_seven_are_ah_to_bh_only_without_rex() {
        // mov ah, [rdi]; mov bh, [rax]
        assert_eq!(decoded(&[0x8A, 0x27]), (load(HighByte(0), 1, 1, false), 2));
        assert_eq!(decoded(&[0x8A, 0x38]), (load(HighByte(3), 1, 1, false), 2));
        // mov spl, [rdi] (REX 40); mov dil, [rax]
        assert_eq!(decoded(&[0x40, 0x8A, 0x27]), (load(Gpr(4), 1, 1, false), 3));
        assert_eq!(decoded(&[0x40, 0x8A, 0x38]), (load(Gpr(7), 1, 1, false), 3));
        // mov [rdi], ch; mov [rdi], r12b
        assert_eq!(
            decoded(&[0x88, 0x2F]),
            (store(Source::Register(HighByte(1)), 1), 2)
        );
        assert_eq!(
            decoded(&[0x44, 0x88, 0x27]),
            (store(Source::Register(Gpr(12)), 1), 3)
        );
    }

    #[test]
    fn register_stores_decode_with_the_operand_size() {
        // mov [rdi], esi
        assert_eq!(
            decoded(&[0x89, 0x37]),
            (store(Source::Register(Gpr(6)), 4), 2)
        );
        // mov [rdi], si
        assert_eq!(
            decoded(&[0x66, 0x89, 0x37]),
            (store(Source::Register(Gpr(6)), 2), 3)
        );
        // mov [r8+0x7f], r9
        assert_eq!(
            decoded(&[0x4D, 0x89, 0x48, 0x7F]),
            (store(Source::Register(Gpr(9)), 8), 4)
        );
        // mov [rip+0x100], eax
        assert_eq!(
            decoded(&[0x89, 0x05, 0x00, 0x01, 0, 0]),
            (store(Source::Register(Gpr(0)), 4), 6)
        );
        // mov [0x1000] (SIB, no base, no index), edx
        assert_eq!(
            decoded(&[0x89, 0x14, 0x25, 0x00, 0x10, 0, 0]),
            (store(Source::Register(Gpr(2)), 4), 7)
        );
        // fs: mov [rax], ecx; addr32 mov [eax], ecx
        assert_eq!(
            decoded(&[0x64, 0x89, 0x08]),
            (store(Source::Register(Gpr(1)), 4), 3)
        );
        assert_eq!(
            decoded(&[0x67, 0x89, 0x08]),
            (store(Source::Register(Gpr(1)), 4), 3)
        );
    }

    #[test]
    fn immediate_stores_carry_their_immediate_and_length() {
        // mov byte [rdi+4], 0x80
        assert_eq!(
            decoded(&[0xC6, 0x47, 0x04, 0x80]),
            (store(Source::Immediate(0xFFFF_FFFF_FFFF_FF80), 1), 4)
        );
        // mov word [rdi], 0x1234
        assert_eq!(
            decoded(&[0x66, 0xC7, 0x07, 0x34, 0x12]),
            (store(Source::Immediate(0x1234), 2), 5)
        );
        // mov dword [rax+rcx*8+0x100], 0xdeadbeef
        assert_eq!(
            decoded(&[0xC7, 0x84, 0xC8, 0x00, 0x01, 0, 0, 0xEF, 0xBE, 0xAD, 0xDE]),
            (store(Source::Immediate(0xFFFF_FFFF_DEAD_BEEF), 4), 11)
        );
        // mov qword [r13+0], -1 (r13 as base needs a disp8)
        assert_eq!(
            decoded(&[0x49, 0xC7, 0x45, 0x00, 0xFF, 0xFF, 0xFF, 0xFF]),
            (store(Source::Immediate(u64::MAX), 8), 8)
        );
        // C7 /1 is not a mov
        assert_eq!(
            decode(&[0xC7, 0x0F, 0, 0, 0, 0]),
            Err(DecodeError::Unsupported)
        );
    }

    #[test]
    fn widening_loads_decode_with_source_size_and_destination_width() {
        // movzx eax, byte [rdi]; movzx ecx, word [rdi+2]
        assert_eq!(decoded(&[0x0F, 0xB6, 0x07]), (load(Gpr(0), 1, 4, false), 3));
        assert_eq!(
            decoded(&[0x0F, 0xB7, 0x4F, 0x02]),
            (load(Gpr(1), 2, 4, false), 4)
        );
        // movzx r8, byte [rdi]: REX.WR
        assert_eq!(
            decoded(&[0x4C, 0x0F, 0xB6, 0x07]),
            (load(Gpr(8), 1, 8, false), 4)
        );
        // movsx eax, byte [rdi]; movsx rax, word [rdi]; movsxd rax, dword [rdi]
        assert_eq!(decoded(&[0x0F, 0xBE, 0x07]), (load(Gpr(0), 1, 4, true), 3));
        assert_eq!(
            decoded(&[0x48, 0x0F, 0xBF, 0x07]),
            (load(Gpr(0), 2, 8, true), 4)
        );
        assert_eq!(decoded(&[0x48, 0x63, 0x07]), (load(Gpr(0), 4, 8, true), 3));
    }

    fn compute(op: Alu, other: Source, size: u8, memory_left: bool) -> Access {
        Access::Compute {
            op,
            other,
            size,
            memory_left,
        }
    }

    #[test]
    fn loads_folded_into_arithmetic_decode_with_their_operands() {
        let reg = |n| Source::Register(Gpr(n));
        assert_eq!(
            decoded(&[0x03, 0x84, 0x8F, 0x00, 0x08, 0, 0]),
            (compute(Alu::Add, reg(0), 4, false), 7)
        );
        assert_eq!(
            decoded(&[0x44, 0x0A, 0x06]),
            (compute(Alu::Or, reg(8), 1, false), 3)
        );
        assert_eq!(
            decoded(&[0x48, 0x23, 0x17]),
            (compute(Alu::And, reg(2), 8, false), 3)
        );
        assert_eq!(
            decoded(&[0x66, 0x2B, 0x4F, 0x02]),
            (compute(Alu::Sub, reg(1), 2, false), 4)
        );
        assert_eq!(
            decoded(&[0x33, 0x37]),
            (compute(Alu::Xor, reg(6), 4, false), 2)
        );
        assert_eq!(
            decoded(&[0x4C, 0x3B, 0x0F]),
            (compute(Alu::Cmp, reg(9), 8, false), 3)
        );
        assert_eq!(
            decoded(&[0x84, 0x27]),
            (
                compute(Alu::Test, Source::Register(HighByte(0)), 1, true),
                2
            )
        );
        assert_eq!(
            decoded(&[0x48, 0x85, 0x07]),
            (compute(Alu::Test, reg(0), 8, true), 3)
        );
    }

    #[test]
    fn compares_and_tests_with_immediates_decode_with_their_immediate() {
        let imm = Source::Immediate;
        assert_eq!(
            decoded(&[0x80, 0x3F, 0x80]),
            (compute(Alu::Cmp, imm(0xFFFF_FFFF_FFFF_FF80), 1, true), 3)
        );
        assert_eq!(
            decoded(&[0x66, 0x81, 0x3F, 0x34, 0x12]),
            (compute(Alu::Cmp, imm(0x1234), 2, true), 5)
        );
        assert_eq!(
            decoded(&[0x81, 0x7F, 0x08, 0x78, 0x56, 0x34, 0x12]),
            (compute(Alu::Cmp, imm(0x1234_5678), 4, true), 7)
        );
        assert_eq!(
            decoded(&[0x48, 0x83, 0x3F, 0xFD]),
            (compute(Alu::Cmp, imm(0xFFFF_FFFF_FFFF_FFFD), 8, true), 4)
        );
        assert_eq!(
            decoded(&[0xF6, 0x07, 0x01]),
            (compute(Alu::Test, imm(1), 1, true), 3)
        );
        assert_eq!(
            decoded(&[0xF7, 0x07, 0, 0, 0, 0x80]),
            (compute(Alu::Test, imm(0xFFFF_FFFF_8000_0000), 4, true), 6)
        );
        // Carries in and `not` are not covered: adc [rdi], 1 and not [rdi].
        assert_eq!(decode(&[0x83, 0x17, 0x01]), Err(DecodeError::Unsupported));
        assert_eq!(decode(&[0xF7, 0x17]), Err(DecodeError::Unsupported));
        assert_eq!(decode(&[0x13, 0x07]), Err(DecodeError::Unsupported)); // adc eax, [rdi]
        assert_eq!(decode(&[0xF7, 0x17]), Err(DecodeError::Unsupported)); // not dword [rdi]
    }

    const CF: u64 = 1;
    const PF: u64 = 1 << 2;
    const AF: u64 = 1 << 4;
    const ZF: u64 = 1 << 6;
    const SF: u64 = 1 << 7;
    const OF: u64 = 1 << 11;

    #[test]
    fn computed_flags_match_the_architecture() {
        // cmp 5, 5: equal
        assert_eq!(super::compute(Alu::Cmp, 4, 5, 5), (0, ZF | PF));
        // cmp 0, 1 in 8 bits: borrow, negative, AF (borrow from bit 4)
        assert_eq!(super::compute(Alu::Cmp, 1, 0, 1), (0xFF, CF | SF | PF | AF));
        // 0x7fff_ffff + 1: signed overflow, AF
        assert_eq!(
            super::compute(Alu::Add, 4, 0x7FFF_FFFF, 1),
            (0x8000_0000, OF | SF | PF | AF)
        );
        // 0xffff + 1 in 16 bits: carry, zero
        assert_eq!(
            super::compute(Alu::Add, 2, 0xFFFF, 1),
            (0, CF | ZF | PF | AF)
        );
        // sub 0x80 - 1 in 8 bits: signed overflow
        assert_eq!(super::compute(Alu::Sub, 1, 0x80, 1), (0x7F, OF | AF));
        // test with bits in common; xor to zero; or with the sign bit
        assert_eq!(super::compute(Alu::Test, 4, 0b110, 0b011), (0b010, 0));
        assert_eq!(
            super::compute(Alu::Xor, 8, u64::MAX, u64::MAX),
            (0, ZF | PF)
        );
        assert_eq!(
            super::compute(Alu::Or, 8, 1 << 63, 3),
            ((1 << 63) | 3, SF | PF)
        );
        // the operands' bits above the size do not count
        assert_eq!(super::compute(Alu::And, 1, 0xFF01, 0xFF03), (1, 0));
        assert!(!Alu::Cmp.writes() && !Alu::Test.writes() && Alu::Sub.writes());
    }

    #[test]
    fn register_operands_and_other_opcodes_are_unsupported() {
        assert_eq!(decode(&[0x89, 0xC8]), Err(DecodeError::Unsupported)); // mov eax, ecx
        assert_eq!(decode(&[0x11, 0x07]), Err(DecodeError::Unsupported)); // adc [rdi], eax
        assert_eq!(decode(&[0x0F, 0x05]), Err(DecodeError::Unsupported)); // syscall
        assert_eq!(decode(&[0x66; 20]), Err(DecodeError::Unsupported));
    }

    #[test]
    fn short_input_is_truncated_at_every_cut() {
        let full = [
            0x48, 0xC7, 0x84, 0xC8, 0x00, 0x01, 0, 0, 0xEF, 0xBE, 0xAD, 0xDE,
        ];
        for cut in 0..full.len() {
            assert_eq!(
                decode(&full[..cut]),
                Err(DecodeError::Truncated),
                "cut {cut}"
            );
        }
        assert_eq!(decode(&full).map(|i| i.length), Ok(full.len()));
    }

    #[test]
    fn a_rex_before_a_legacy_prefix_is_ignored() {
        // 48 66 8B 07: the REX is not last, so this is mov ax, [rdi]
        assert_eq!(
            decoded(&[0x48, 0x66, 0x8B, 0x07]),
            (load(Gpr(0), 2, 2, false), 4)
        );
    }

    #[test]
    fn loads_follow_the_partial_register_rules() {
        let old = 0x1122_3344_5566_7788;
        let access = |destination, size, width, sign| load(destination, size, width, sign);
        assert_eq!(load_into(access(Gpr(0), 8, 8, false), old, 0xAB), 0xAB);
        assert_eq!(
            load_into(access(Gpr(0), 4, 4, false), old, 0xFFFF_FFFF),
            0xFFFF_FFFF
        );
        assert_eq!(
            load_into(access(Gpr(0), 2, 2, false), old, 0xABCD),
            0x1122_3344_5566_ABCD
        );
        assert_eq!(
            load_into(access(Gpr(0), 1, 1, false), old, 0xAB),
            0x1122_3344_5566_77AB
        );
        assert_eq!(
            load_into(access(HighByte(0), 1, 1, false), old, 0xAB),
            0x1122_3344_5566_AB88
        );
        assert_eq!(load_into(access(Gpr(0), 1, 4, false), old, 0x80), 0x80);
        assert_eq!(
            load_into(access(Gpr(0), 1, 4, true), old, 0x80),
            0xFFFF_FF80
        );
        assert_eq!(
            load_into(access(Gpr(0), 2, 8, true), old, 0x8000),
            0xFFFF_FFFF_FFFF_8000
        );
        assert_eq!(
            load_into(access(Gpr(0), 4, 8, true), old, 0x8000_0000),
            0xFFFF_FFFF_8000_0000
        );
        assert_eq!(
            load_into(access(Gpr(0), 1, 2, true), old, 0xFF),
            0x1122_3344_5566_FFFF
        );
        assert_eq!(load_into(store(Source::Immediate(0), 4), old, 0), old);
    }

    #[test]
    fn stores_take_the_low_bytes_or_the_high_byte() {
        let value = 0x1122_3344_5566_7788;
        assert_eq!(store_value(Source::Register(Gpr(3)), 8, value), value);
        assert_eq!(store_value(Source::Register(Gpr(3)), 4, value), 0x5566_7788);
        assert_eq!(store_value(Source::Register(Gpr(3)), 2, value), 0x7788);
        assert_eq!(store_value(Source::Register(Gpr(3)), 1, value), 0x88);
        assert_eq!(store_value(Source::Register(HighByte(3)), 1, value), 0x77);
        assert_eq!(store_value(Source::Immediate(u64::MAX), 2, value), 0xFFFF);
    }
}
