//! Register windows: plain volatile loads and stores on a window's addresses reach its device,
//! with register semantics, from any call site, optimised or not, on any thread; and faults
//! elsewhere still kill the process.
#![cfg(all(
    target_os = "linux",
    not(miri),
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
// The accessors are inlined into every call site on purpose: each gets its own instructions.
#![allow(clippy::inline_always)]

use std::hint::black_box;
use std::marker::PhantomData;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::{Arc, Mutex};

use portcls_sim::mmio::{MmioDevice, MmioError, MmioWindow, access};

/// A register file: offset 0 is a read-only identifier, 4 selects a queue, 8 is the selected
/// queue's size (read and written per queue); every other byte is plain storage. It logs
/// every access.
struct Registers {
    state: Mutex<State>,
    log: Mutex<Vec<Logged>>,
}

struct State {
    select: usize,
    sizes: [u64; 4],
    bytes: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Logged {
    Read { offset: u64, size: u8 },
    Write { offset: u64, size: u8, value: u64 },
}

const ID: u32 = 0x1AF4_1059;
const SELECT: usize = 4;
const SIZE: usize = 8;
const LEN: usize = 8192;

impl Registers {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                select: 0,
                sizes: [0; 4],
                bytes: vec![0; LEN],
            }),
            log: Mutex::new(Vec::new()),
        })
    }

    fn log(&self) -> Vec<Logged> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

impl MmioDevice for Registers {
    fn read(&self, offset: u64, size: u8) -> u64 {
        self.log.lock().unwrap().push(Logged::Read { offset, size });
        let state = self.state.lock().unwrap();
        match offset {
            0 => ID.into(),
            4 => state.select as u64,
            8 => state.sizes[state.select],
            _ => {
                let start = usize::try_from(offset).unwrap();
                let mut value = [0u8; 8];
                value[..usize::from(size)]
                    .copy_from_slice(&state.bytes[start..start + usize::from(size)]);
                // Garbage above the access's size, which must not reach the register.
                u64::from_le_bytes(value)
                    | (u64::MAX.checked_shl(8 * u32::from(size)).unwrap_or(0)
                        & 0xA5A5_0000_0000_0000)
            }
        }
    }

    fn write(&self, offset: u64, size: u8, value: u64) {
        self.log.lock().unwrap().push(Logged::Write {
            offset,
            size,
            value,
        });
        let mut state = self.state.lock().unwrap();
        match offset {
            0 => {}
            4 => state.select = usize::try_from(value).unwrap() % 4,
            8 => {
                let select = state.select;
                state.sizes[select] = value;
            }
            _ => {
                let start = usize::try_from(offset).unwrap();
                state.bytes[start..start + usize::from(size)]
                    .copy_from_slice(&value.to_le_bytes()[..usize::from(size)]);
            }
        }
    }
}

fn window() -> (MmioWindow, Arc<Registers>) {
    let device = Registers::new();
    let window = MmioWindow::map(LEN, device.clone()).expect("map a register window");
    (window, device)
}

/// A window's registers, accessed with volatile loads and stores inlined into each caller (so
/// every call site has its own instructions and registers).
#[derive(Clone, Copy)]
struct Bar<'a> {
    base: usize,
    len: usize,
    _window: PhantomData<&'a MmioWindow>,
}

impl<'a> Bar<'a> {
    fn of(window: &'a MmioWindow) -> Self {
        Self {
            base: window.base() as usize,
            len: window.len(),
            _window: PhantomData,
        }
    }

    /// The register of type `T` at `offset` (asserted aligned and inside the window).
    #[inline(always)]
    fn at<T>(self, offset: usize) -> *mut T {
        assert!(offset + size_of::<T>() <= self.len);
        assert!(offset.is_multiple_of(align_of::<T>()));
        std::ptr::with_exposed_provenance_mut(self.base + offset)
    }

    #[inline(always)]
    fn get<T>(self, offset: usize) -> T {
        let register = self.at::<T>(offset);
        // SAFETY: an aligned register inside the window, which outlives `self`.
        unsafe { register.read_volatile() }
    }

    #[inline(always)]
    fn set<T>(self, offset: usize, value: T) {
        let register = self.at::<T>(offset);
        // SAFETY: an aligned register inside the window, which outlives `self`.
        unsafe { register.write_volatile(value) };
    }
}

fn read(offset: u64, size: u8) -> Logged {
    Logged::Read { offset, size }
}

fn write(offset: u64, size: u8, value: u64) -> Logged {
    Logged::Write {
        offset,
        size,
        value,
    }
}

#[test]
fn a_window_is_whole_pages_at_a_page_aligned_address() {
    let device = Registers::new();
    let window = MmioWindow::map(100, device).unwrap();
    assert!(window.len() >= 100);
    assert!(window.len().is_power_of_two());
    assert_eq!(window.base() as usize % window.len(), 0);
    assert!(!window.is_empty());
    assert!(matches!(
        MmioWindow::map(0, Registers::new()),
        Err(MmioError::Empty)
    ));
}

#[test]
fn volatile_accesses_of_each_size_reach_the_device_at_their_offsets() {
    let (window, device) = window();
    let bar = Bar::of(&window);
    bar.set::<u8>(0x101, black_box(0xAB));
    bar.set::<u16>(0x202, black_box(0xBEEF));
    bar.set::<u32>(0x304, black_box(0xDEAD_BEEF));
    bar.set::<u64>(0x408, black_box(0x0123_4567_89AB_CDEF));
    assert_eq!(
        device.log(),
        [
            write(0x101, 1, 0xAB),
            write(0x202, 2, 0xBEEF),
            write(0x304, 4, 0xDEAD_BEEF),
            write(0x408, 8, 0x0123_4567_89AB_CDEF)
        ]
    );
    let values = (
        bar.get::<u8>(0x101),
        bar.get::<u16>(0x202),
        bar.get::<u32>(0x304),
        bar.get::<u64>(0x408),
        bar.get::<u32>(0),
    );
    assert_eq!(
        values,
        (0xAB, 0xBEEF, 0xDEAD_BEEF, 0x0123_4567_89AB_CDEF, ID)
    );
    assert_eq!(
        device.log(),
        [
            read(0x101, 1),
            read(0x202, 2),
            read(0x304, 4),
            read(0x408, 8),
            read(0, 4)
        ]
    );
    // The last register of the last page works too.
    let last = window.len() - 8;
    bar.set::<u64>(last, 7);
    assert_eq!(bar.get::<u64>(last), 7);
}

#[test]
fn a_write_to_the_select_register_changes_what_the_size_register_reads() {
    let (window, device) = window();
    let bar = Bar::of(&window);
    for queue in 0..4u32 {
        bar.set::<u32>(SELECT, queue);
        bar.set::<u16>(SIZE, 64 << queue);
    }
    let mut sizes = Vec::new();
    for queue in (0..4u32).rev() {
        bar.set::<u32>(SELECT, queue);
        sizes.push(bar.get::<u16>(SIZE));
    }
    assert_eq!(sizes, [512, 256, 128, 64]);
    assert_eq!(device.log().len(), 16);
    // The identifier ignores writes.
    bar.set::<u32>(0, 0);
    assert_eq!(bar.get::<u32>(0), ID);
}

#[test]
fn the_librarys_optimised_accessors_trap_like_inline_accesses() {
    let (window, device) = window();
    let bar = Bar::of(&window);
    // SAFETY: an aligned register inside the live window (and so for each block below).
    unsafe { access::write_u8(bar.at(0x10), 0x12) };
    // SAFETY: as above.
    unsafe { access::write_u16(bar.at(0x12), 0x3456) };
    // SAFETY: as above.
    unsafe { access::write_u32(bar.at(0x14), 0x789A_BCDE) };
    // SAFETY: as above.
    unsafe { access::write_u64(bar.at(0x18), u64::MAX - 1) };
    // SAFETY: as above.
    assert_eq!(unsafe { access::read_u8(bar.at(0x10)) }, 0x12);
    // SAFETY: as above.
    assert_eq!(unsafe { access::read_u16(bar.at(0x12)) }, 0x3456);
    // SAFETY: as above.
    assert_eq!(unsafe { access::read_u32(bar.at(0x14)) }, 0x789A_BCDE);
    // SAFETY: as above.
    assert_eq!(unsafe { access::read_u64(bar.at(0x18)) }, u64::MAX - 1);
    assert_eq!(device.log().len(), 8);
}

/// Stores constants: the compiler encodes them as immediates.
#[inline(never)]
fn store_constants(bar: Bar<'_>) {
    bar.set::<u8>(0x20, 0x80);
    bar.set::<u16>(0x22, 0x8001);
    bar.set::<u32>(0x24, 0x8000_0001);
    bar.set::<u64>(0x28, 0xFFFF_FFFF_8000_0000);
    bar.set::<u64>(0x30, 0x7FFF_FFFF);
    bar.set::<u32>(0x38, 0);
}

fn shuffled(seed: u64) -> [u64; 12] {
    std::array::from_fn(|i| seed.rotate_left(5 * u32::try_from(i).unwrap()) ^ i as u64)
}

/// Many live values at once, so the compiler spreads them over many registers.
#[inline(never)]
fn shuffle(bar: Bar<'_>, seed: u64) -> u64 {
    let values = shuffled(seed);
    for (i, value) in values.iter().enumerate() {
        bar.set::<u64>(0x200 + 8 * i, *value);
    }
    let loaded: [u64; 12] = std::array::from_fn(|i| bar.get::<u64>(0x200 + 8 * i));
    let mut sum = 0u64;
    for (value, got) in values.iter().zip(loaded) {
        assert_eq!(*value, got);
        sum = sum.wrapping_add(got.wrapping_mul(*value | 1));
    }
    sum
}

/// Mixed sizes in a loop, with loads feeding stores and arithmetic.
#[inline(never)]
fn mixed(bar: Bar<'_>, n: usize) -> u32 {
    let mut acc = 0u32;
    for i in 0..n {
        bar.set::<u8>(0x400 + i, u8::try_from(i).unwrap());
        bar.set::<u16>(0x600 + 2 * i, bar.get::<u8>(0x400 + i).into());
        bar.set::<u32>(0x800 + 4 * i, u32::from(bar.get::<u16>(0x600 + 2 * i)) * 3);
        acc += bar.get::<u32>(0x800 + 4 * i);
    }
    acc
}

/// Signed values through narrow registers.
#[inline(never)]
fn signed(bar: Bar<'_>) -> (i64, i64, i64) {
    bar.set::<i8>(0x40, black_box(-3));
    bar.set::<i16>(0x42, black_box(-300));
    bar.set::<i32>(0x44, black_box(-70_000));
    (
        bar.get::<i8>(0x40).into(),
        bar.get::<i16>(0x42).into(),
        bar.get::<i32>(0x44).into(),
    )
}

/// Flags read and compared, as a driver polls a status register.
#[inline(never)]
fn poll(bar: Bar<'_>, ready: u32) -> u32 {
    let mut spins = 0;
    while bar.get::<u32>(0x60) & ready == 0 {
        spins += 1;
        bar.set::<u32>(0x60, spins);
    }
    spins
}

#[test]
fn constants_and_computed_values_from_differently_shaped_call_sites() {
    let (window, device) = window();
    let bar = black_box(Bar::of(&window));
    store_constants(bar);
    assert_eq!(
        device.log(),
        [
            write(0x20, 1, 0x80),
            write(0x22, 2, 0x8001),
            write(0x24, 4, 0x8000_0001),
            write(0x28, 8, 0xFFFF_FFFF_8000_0000),
            write(0x30, 8, 0x7FFF_FFFF),
            write(0x38, 4, 0),
        ]
    );
    let expected = shuffled(99)
        .iter()
        .fold(0u64, |sum, v| sum.wrapping_add(v.wrapping_mul(v | 1)));
    assert_eq!(shuffle(bar, black_box(99)), expected);
    assert_eq!(device.log().len(), 24);
    let n = black_box(40);
    assert_eq!(mixed(bar, n), (0..40u32).map(|i| 3 * i).sum::<u32>());
    assert_eq!(device.log().len(), 6 * 40);
    assert_eq!(signed(bar), (-3, -300, -70_000));
    device.log();
    assert_eq!(poll(bar, black_box(8)), 8);
    assert_eq!(device.log().len(), 9 + 8);
}

#[test]
fn threads_use_windows_at_once() {
    let (shared, shared_device) = window();
    let shared = Bar::of(&shared);
    std::thread::scope(|scope| {
        for thread in 0..4u64 {
            scope.spawn(move || {
                let (own, device) = window();
                let own = black_box(Bar::of(&own));
                let slot = 0x100 + 8 * usize::try_from(thread).unwrap();
                for round in 0..200u64 {
                    let value = (thread << 32) | round;
                    own.set::<u64>(0x100, value);
                    assert_eq!(own.get::<u64>(0x100), value);
                    shared.set::<u64>(slot, value);
                    assert_eq!(shared.get::<u64>(slot), value);
                }
                assert_eq!(device.log().len(), 400);
            });
        }
        // Windows come and go while the others fault.
        scope.spawn(|| {
            for _ in 0..50 {
                let (window, device) = window();
                Bar::of(&window).set::<u32>(0x10, 5);
                assert_eq!(device.log(), [write(0x10, 4, 5)]);
            }
        });
    });
    assert_eq!(shared_device.log().len(), 4 * 400);
}

/// Runs this test binary's test `name` again in a child with `MMIO_CHILD` set (under
/// qemu-user, through the same runner), returning its status and standard error.
fn run_child(name: &str) -> (std::process::ExitStatus, String) {
    let exe = std::env::current_exe().unwrap();
    let runner = std::env::var("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER")
        .ok()
        .filter(|_| cfg!(target_arch = "aarch64"));
    let mut command = match runner.as_deref().map(str::split_whitespace) {
        Some(mut words) => {
            let mut command = Command::new(words.next().unwrap());
            command.args(words).arg(&exe);
            command
        }
        None => Command::new(&exe),
    };
    let output = command
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("MMIO_CHILD", name)
        .output()
        .unwrap();
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn in_child(name: &str) -> bool {
    std::env::var("MMIO_CHILD").is_ok_and(|child| child == name)
}

#[test]
fn a_fault_outside_every_window_still_kills_the_process() {
    const NAME: &str = "a_fault_outside_every_window_still_kills_the_process";
    if in_child(NAME) {
        let (window, _device) = window();
        Bar::of(&window).set::<u32>(0x10, 1);
        let nowhere = std::ptr::with_exposed_provenance::<u32>(black_box(0x10));
        // SAFETY: none: a read of an unmapped page, which must kill this child process.
        black_box(unsafe { nowhere.read_volatile() });
        std::process::exit(0); // not reached if the fault kills
    }
    let (status, _) = run_child(NAME);
    assert_eq!(status.signal(), Some(libc::SIGSEGV), "{status:?}");
}

#[test]
fn a_stack_overflow_is_still_reported_by_the_standard_library() {
    const NAME: &str = "a_stack_overflow_is_still_reported_by_the_standard_library";
    #[allow(unconditional_recursion)]
    fn recurse(depth: u64) -> u64 {
        let frame = black_box([depth; 64]);
        recurse(depth + 1) + frame[3]
    }
    if in_child(NAME) {
        let (_window, _device) = window();
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| recurse(0))
            .unwrap()
            .join()
            .unwrap();
        std::process::exit(0);
    }
    let (status, stderr) = run_child(NAME);
    assert_eq!(status.signal(), Some(libc::SIGABRT), "{status:?}: {stderr}");
    assert!(stderr.contains("has overflowed its stack"), "{stderr}");
}

#[test]
fn an_instruction_the_decoder_does_not_cover_aborts_with_its_bytes() {
    const NAME: &str = "an_instruction_the_decoder_does_not_cover_aborts_with_its_bytes";
    if in_child(NAME) {
        let (window, _device) = window();
        forms::uncovered(window.base());
        std::process::exit(0);
    }
    let (status, stderr) = run_child(NAME);
    assert_eq!(status.signal(), Some(libc::SIGABRT), "{status:?}: {stderr}");
    assert!(stderr.contains("cannot emulate"), "{stderr}");
    assert!(stderr.contains(forms::UNCOVERED), "{stderr}");
}

#[test]
fn every_decoded_form_emulates_with_its_register_rules() {
    let (window, device) = window();
    forms::check(window.base(), &device);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn read_modify_write_forms_write_back_their_result() {
    let (window, _device) = window();
    forms::read_modify_write(window.base());
}

#[cfg(target_arch = "x86_64")]
#[test]
fn folded_arithmetic_sets_what_the_processor_would() {
    let (window, _device) = window();
    forms::arithmetic_matches_the_processor(window.base().wrapping_add(0x1800));
}

/// Instruction forms, written out: the registers and encodings are the point here. `p` is a
/// register's address (8-byte aligned) inside a live window.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::many_single_char_names, clippy::cast_ptr_alignment)]
mod forms {
    use std::arch::asm;

    use super::{Registers, read, write};

    /// CF, PF, AF, ZF, SF, OF.
    const STATUS: u64 = 0x8D5;
    const AF: u64 = 0x10;

    /// `op a, b` on registers and `op a, [p]` (or `test [p], a`) with `b` in the window,
    /// each giving the register and the status flags after it.
    macro_rules! both {
        ($op:literal, $reg:literal, $ptr:literal, $memory_left:literal) => {
            |a: u64, b: u64, p: *mut u8| -> [(u64, u64); 2] {
                let (mut native, mut native_flags) = (a, 0u64);
                // SAFETY: register arithmetic and a flags read through the stack.
                unsafe {
                    asm!(
                        concat!($op, " {a", $reg, "}, {b", $reg, "}"),
                        "pushfq",
                        "pop {f}",
                        a = inout(reg) native, b = in(reg) b, f = out(reg) native_flags,
                    );
                }
                // SAFETY: an aligned register inside the live window (the caller's `p`).
                unsafe { p.cast::<u64>().write_volatile(b) };
                let (mut trapped, mut trapped_flags) = (a, 0u64);
                if $memory_left {
                    // SAFETY: as above, with the memory operand in the window.
                    unsafe {
                        asm!(
                            concat!($op, " ", $ptr, " ptr [{p}], {a", $reg, "}"),
                            "pushfq",
                            "pop {f}",
                            a = inout(reg) trapped, p = in(reg) p, f = out(reg) trapped_flags,
                        );
                    }
                } else {
                    // SAFETY: as above, with the memory operand in the window.
                    unsafe {
                        asm!(
                            concat!($op, " {a", $reg, "}, ", $ptr, " ptr [{p}]"),
                            "pushfq",
                            "pop {f}",
                            a = inout(reg) trapped, p = in(reg) p, f = out(reg) trapped_flags,
                        );
                    }
                }
                [(native, native_flags), (trapped, trapped_flags)]
            }
        };
    }

    pub(super) fn arithmetic_matches_the_processor(p: *mut u8) {
        type Pair = fn(u64, u64, *mut u8) -> [(u64, u64); 2];
        macro_rules! sizes {
            ($op:literal, $left:literal) => {
                [
                    both!($op, ":l", "byte", $left) as Pair,
                    both!($op, ":x", "word", $left),
                    both!($op, ":e", "dword", $left),
                    both!($op, "", "qword", $left),
                ]
            };
        }
        let ops: [(&str, bool, [Pair; 4]); 7] = [
            ("add", false, sizes!("add", false)),
            ("or", true, sizes!("or", false)),
            ("and", true, sizes!("and", false)),
            ("sub", false, sizes!("sub", false)),
            ("xor", true, sizes!("xor", false)),
            ("cmp", false, sizes!("cmp", false)),
            ("test", true, sizes!("test", true)),
        ];
        let values = [
            0,
            1,
            0xF,
            0x10,
            0x7F,
            0x80,
            0xFF,
            0x7FFF,
            0x8000,
            0x8000_0000,
            0xFFFF_FFFF,
            0x1234_5678_9ABC_DEF0,
            u64::MAX,
        ];
        for (name, logic, pairs) in ops {
            // AF is undefined after the logic operations.
            let mask = if logic { STATUS & !AF } else { STATUS };
            for (size, pair) in pairs.iter().enumerate() {
                for a in values {
                    for b in values {
                        let [(native, native_flags), (trapped, trapped_flags)] = pair(a, b, p);
                        assert_eq!(
                            (trapped, trapped_flags & mask),
                            (native, native_flags & mask),
                            "{name} at {} bytes, {a:#x}, {b:#x}",
                            1 << size
                        );
                    }
                }
            }
        }
        // Compares and tests with immediates.
        let mut flags = [0u64; 4];
        // SAFETY: as above.
        unsafe { p.cast::<u64>().write_volatile(0x80) };
        // SAFETY: as above.
        unsafe {
            asm!(
                "cmp byte ptr [{p}], 0x80",
                "pushfq",
                "pop {a}",
                "cmp dword ptr [{p}], 0x81",
                "pushfq",
                "pop {b}",
                "test word ptr [{p}], 0x0080",
                "pushfq",
                "pop {c}",
                "cmp qword ptr [{p}], -1",
                "pushfq",
                "pop {d}",
                p = in(reg) p,
                a = out(reg) flags[0], b = out(reg) flags[1], c = out(reg) flags[2],
                d = out(reg) flags[3],
            );
        }
        let [equal, below, nonzero, above] = flags.map(|flags| flags & STATUS);
        assert_eq!(equal & 0x40, 0x40, "ZF after cmp 0x80, 0x80: {equal:#x}");
        assert_eq!(
            below & 0x81,
            0x81,
            "CF and SF after cmp 0x80, 0x81: {below:#x}"
        );
        assert_eq!(nonzero & 0x40, 0, "ZF after test 0x80, 0x80: {nonzero:#x}");
        assert_eq!(above & 1, 1, "CF after cmp 0x80, u64::MAX: {above:#x}");
    }

    /// How the uncovered instruction (`add dword ptr [rdi], 1`) appears in the message.
    pub(super) const UNCOVERED: &str = "bytes 83 17 01";

    pub(super) fn uncovered(base: *mut u8) {
        // SAFETY: an add-with-carry into the window's first register, which aborts.
        unsafe { asm!("adc dword ptr [rdi], 1", in("rdi") base) };
    }

    /// Read-modify-write forms (what an optimiser makes of a volatile read, an operation and a
    /// volatile write of one register): each reads once, writes back the result, sets flags.
    pub(super) fn read_modify_write(base: *mut u8) {
        let p = base.wrapping_add(0x1400);
        // SAFETY: registers inside the live window `p` points into (and so for each block).
        unsafe {
            asm!(
                "mov byte ptr [rdi], 0x40",
                "mov dword ptr [rdi + 8], 0xffffffff",
                "mov qword ptr [rdi + 16], rcx",
                "mov word ptr [rdi + 24], 2",
                in("rdi") p, in("rcx") 0x00FF_00FF_00FF_00FF_u64,
            );
        }
        // SAFETY: as above.
        unsafe {
            asm!(
                "or byte ptr [rdi], 0x81",
                "add dword ptr [rdi + 8], 1",
                "xor qword ptr [rdi + 16], rax",
                "sub word ptr [rdi + 24], 3",
                in("rdi") p, in("rax") 0x0F0F_0F0F_0F0F_0F0F_u64,
            );
        }
        let (byte, dword, qword, word): (u64, u64, u64, u64);
        // SAFETY: as above.
        unsafe {
            asm!(
                "movzx eax, byte ptr [rdi]",
                "mov ecx, dword ptr [rdi + 8]",
                "mov rdx, qword ptr [rdi + 16]",
                "movzx esi, word ptr [rdi + 24]",
                in("rdi") p, out("rax") byte, out("rcx") dword, out("rdx") qword, out("rsi") word,
            );
        }
        assert_eq!(byte, 0xC1);
        assert_eq!(dword, 0, "wrapped");
        assert_eq!(qword, 0x0FF0_0FF0_0FF0_0FF0);
        assert_eq!(word, 0xFFFF);
    }

    #[allow(clippy::too_many_lines)]
    pub(super) fn check(base: *mut u8, device: &Registers) {
        let p = base.wrapping_add(0x1000);
        let old = 0x1111_2222_3333_4444u64;
        let (mut rax, mut rcx, mut rdx) = (old, old, old);
        let (mut r12, mut r13, mut r14, mut r15) = (0xA1u64, old, u64::MAX, old);
        // SAFETY: accesses of registers inside the live window `p` points into, through the
        // registers the operands name (and so for each block below).
        unsafe {
            // Stores first, so the loads read something known.
            asm!(
                "mov byte ptr [rdi], 0x7f",
                "mov word ptr [rdi + 2], 0x1234",
                "mov dword ptr [rdi + 4], 0x89abcdef",
                "mov qword ptr [rdi + 8], -2",
                "mov byte ptr [rdi + 0x10], ch",
                "mov byte ptr [rdi + 0x11], r12b",
                "mov word ptr [rdi + rsi*2 + 0x20], r13w",
                "mov qword ptr [rdi + rsi*8 + 0x200], r15",
                "mov dword ptr [rdi + 0x300], edx",
                // No REX prefix may be needed where `ch` is named: fixed low registers.
                in("rdi") p, in("rsi") 4usize,
                in("rcx") 0x5a00u64, in("r12") r12, in("r13") 0xbeefu64, in("r15") r15,
                in("rdx") 0xcafe_f00d_u64,
            );
        }
        assert_eq!(
            device.log(),
            [
                write(0x1000, 1, 0x7F),
                write(0x1002, 2, 0x1234),
                write(0x1004, 4, 0x89AB_CDEF),
                write(0x1008, 8, 0xFFFF_FFFF_FFFF_FFFE),
                write(0x1010, 1, 0x5A),
                write(0x1011, 1, 0xA1),
                write(0x1028, 2, 0xBEEF),
                write(0x1220, 8, old),
                write(0x1300, 4, 0xCAFE_F00D),
            ]
        );
        // SAFETY: as above.
        unsafe {
            asm!(
                "mov ah, byte ptr [rsi + 0x10]",
                "mov ch, byte ptr [rsi]",
                "mov dl, byte ptr [rsi + 0x11]",
                in("rsi") p, inout("rax") rax, inout("rcx") rcx, inout("rdx") rdx,
            );
        }
        assert_eq!(rax, 0x1111_2222_3333_5A44);
        assert_eq!(rcx, 0x1111_2222_3333_7F44);
        assert_eq!(rdx, 0x1111_2222_3333_44A1);
        // SAFETY: as above.
        unsafe {
            asm!(
                "mov r13w, word ptr [{p} + {i}*2 + 0x20]",
                "mov r14d, dword ptr [{p} + 4]",
                "mov r12, qword ptr [{p} + 0x300]",
                "mov r15, qword ptr [{p} + {i}*8 + 0x200]",
                p = in(reg) p, i = in(reg) 4usize,
                inout("r12") r12, inout("r13") r13, inout("r14") r14, inout("r15") r15,
            );
        }
        assert_eq!(r13, 0x1111_2222_3333_BEEF, "a 16-bit load keeps bits 16-63");
        assert_eq!(r14, 0x89AB_CDEF, "a 32-bit load clears bits 32-63");
        assert_eq!(r12, 0xCAFE_F00D);
        assert_eq!(r15, old);
        let (mut a, mut b, mut c, mut d, mut e) = (old, old, old, old, old);
        // SAFETY: as above.
        unsafe {
            asm!(
                "movzx {a:e}, byte ptr [{p} + 4]",
                "movzx {b}, word ptr [{p} + 6]",
                "movsx {c}, byte ptr [{p} + 4]",
                "movsx {d:e}, word ptr [{p} + 6]",
                "movsxd {e}, dword ptr [{p} + 4]",
                p = in(reg) p,
                a = inout(reg) a, b = inout(reg) b, c = inout(reg) c, d = inout(reg) d,
                e = inout(reg) e,
            );
        }
        assert_eq!(a, 0xEF);
        assert_eq!(b, 0x89AB);
        assert_eq!(c, 0xFFFF_FFFF_FFFF_FFEF);
        assert_eq!(d, 0xFFFF_89AB);
        assert_eq!(e, 0xFFFF_FFFF_89AB_CDEF);
        let mut bx = old;
        // SAFETY: as above; rbx is saved and restored around its use.
        unsafe {
            asm!(
                "xchg rbx, {t}",
                "mov bh, byte ptr [rdi]",
                "mov byte ptr [rdi + 0x12], bh",
                "xchg rbx, {t}",
                in("rdi") p, t = inout(reg) bx,
            );
        }
        assert_eq!(bx, 0x1111_2222_3333_7F44);
        let log = device.log();
        assert_eq!(log.last(), Some(&write(0x1012, 1, 0x7F)));
        assert!(log.contains(&read(0x1010, 1)));
    }
}

/// Instruction forms, written out: the registers and encodings are the point here. `p` is a
/// register's address (8-byte aligned) inside a live window.
#[cfg(target_arch = "aarch64")]
#[allow(clippy::many_single_char_names)]
mod forms {
    use std::arch::asm;

    use super::{Registers, read, write};

    /// How the uncovered instruction (`ldp x0, x1, [x0]`) appears in the message.
    pub(super) const UNCOVERED: &str = "word 0xa9400400";

    pub(super) fn uncovered(base: *mut u8) {
        // SAFETY: a pair load of the window's first registers, which aborts.
        unsafe { asm!("ldp x0, x1, [x0]", inout("x0") base => _, out("x1") _) };
    }

    pub(super) fn check(base: *mut u8, device: &Registers) {
        let p = base.wrapping_add(0x1000);
        let old = 0x1111_2222_3333_4444u64;
        // SAFETY: accesses of registers inside the live window `p` points into (and so for
        // each block below).
        unsafe {
            asm!(
                "strb {v:w}, [{p}]",
                "strh {v:w}, [{p}, #2]",
                "str {v:w}, [{p}, #4]",
                "str {v}, [{p}, #8]",
                "str wzr, [{p}, #0x10]",
                "str xzr, [{p}, #0x18]",
                "stur {v:w}, [{p}, #-4]",
                "str {v}, [{p}, {i}, lsl #3]",
                "strh {v:w}, [{p}, {i:w}, uxtw #1]",
                p = in(reg) p, v = in(reg) 0x8899_AABB_CCDD_EEFFu64, i = in(reg) 8u64,
            );
        }
        assert_eq!(
            device.log(),
            [
                write(0x1000, 1, 0xFF),
                write(0x1002, 2, 0xEEFF),
                write(0x1004, 4, 0xCCDD_EEFF),
                write(0x1008, 8, 0x8899_AABB_CCDD_EEFF),
                write(0x1010, 4, 0),
                write(0x1018, 8, 0),
                write(0x0FFC, 4, 0xCCDD_EEFF),
                write(0x1040, 8, 0x8899_AABB_CCDD_EEFF),
                write(0x1010, 2, 0xEEFF),
            ]
        );
        let (mut a, mut b, mut c, mut d, mut e, mut f) = (old, old, old, old, old, old);
        // SAFETY: as above.
        unsafe {
            asm!(
                "ldrb {a:w}, [{p}]",
                "ldrh {b:w}, [{p}, #2]",
                "ldrsb {c}, [{p}]",
                "ldrsh {d:w}, [{p}, #2]",
                "ldrsw {e}, [{p}, #4]",
                "ldur {f:w}, [{p}, #-4]",
                "ldr xzr, [{p}, #8]",
                p = in(reg) p,
                a = inout(reg) a, b = inout(reg) b, c = inout(reg) c, d = inout(reg) d,
                e = inout(reg) e, f = inout(reg) f,
            );
        }
        assert_eq!(a, 0xFF);
        assert_eq!(b, 0xEEFF);
        assert_eq!(c, 0xFFFF_FFFF_FFFF_FFFF);
        assert_eq!(d, 0xFFFF_EEFF, "a W load clears bits 32-63");
        assert_eq!(e, 0xFFFF_FFFF_CCDD_EEFF);
        assert_eq!(f, 0xCCDD_EEFF);
        assert_eq!(device.log().last(), Some(&read(0x1008, 8)));
        // Writeback: pre-index, post-index, and a register offset.
        let (mut base_pre, mut base_post) = (p, p);
        let (mut x, mut y, mut z) = (old, old, old);
        // SAFETY: as above.
        unsafe {
            asm!(
                "ldr {x:w}, [{pre}, #4]!",
                "ldr {y}, [{post}], #-8",
                "ldr {z}, [{q}, {i}]",
                pre = inout(reg) base_pre, post = inout(reg) base_post,
                q = in(reg) p, i = in(reg) 0x40u64,
                x = inout(reg) x, y = inout(reg) y, z = inout(reg) z,
            );
        }
        assert_eq!(x, 0xCCDD_EEFF);
        assert_eq!(base_pre, p.wrapping_add(4));
        assert_eq!(y, 0xCCDD_EEFF_EEFF_00FF);
        assert_eq!(base_post, p.wrapping_sub(8));
        assert_eq!(z, 0x8899_AABB_CCDD_EEFF);
        let mut s = p;
        // SAFETY: as above.
        unsafe {
            asm!(
                "str {v:w}, [{s}, #0x20]!",
                "strb {v:w}, [{s}], #1",
                s = inout(reg) s, v = in(reg) 0x55u64,
            );
        }
        assert_eq!(s, p.wrapping_add(0x21));
        let log = device.log();
        assert_eq!(
            log[log.len() - 2..],
            [write(0x1020, 4, 0x55), write(0x1020, 1, 0x55)]
        );
    }
}
