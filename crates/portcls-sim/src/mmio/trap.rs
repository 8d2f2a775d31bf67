//! The trap: the windows' table, the fault handler, and the registers of the interrupted
//! thread (Linux, x86-64 and arm64).
//!
//! # The table
//! [`SLOTS`] is a fixed array, so the handler reads it without allocating or locking. Each
//! slot goes `FREE -> CLAIMED -> LIVE -> RETIRING -> FREE`:
//! - [`Window::map`] claims a free slot (compare-exchange), fills in the range and the
//!   device, then publishes it with a release store of `LIVE`;
//! - the handler, for a slot it sees `LIVE` holding the fault address, increments the slot's
//!   `active` count, then checks again that it is `LIVE` (and re-reads the range): only then
//!   does it use the device, and it decrements `active` when done;
//! - dropping the window stores `RETIRING`, waits until `active` is zero, and only then
//!   unmaps the range, drops the device and frees the slot.
//!
//! The `active` increment and the second `state` load in the handler, and the `RETIRING`
//! store and the `active` load in the drop, are sequentially consistent: either the handler
//! sees `RETIRING` and backs off, or the drop sees the handler's count and waits for it.
//!
//! # The handler
//! Installed once for `SIGSEGV` and `SIGBUS` with `SA_SIGINFO | SA_ONSTACK`. It reads the
//! faulting instruction at the program counter (the code is mapped readable: the host's own
//! and the image's `.text` are), decodes it, emulates it against the device and moves the
//! program counter past it. Faults at addresses outside every window go to the disposition
//! that was there before.
use std::ffi::{c_int, c_void};
use std::fmt::{self, Write as _};
use std::io;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use super::{MmioDevice, MmioError, MmioWindow};

const FREE: u8 = 0;
const CLAIMED: u8 = 1;
const LIVE: u8 = 2;
const RETIRING: u8 = 3;

/// One registered window (see the [module documentation](self) for the protocol).
struct Slot {
    state: AtomicU8,
    /// Handlers currently using this slot's device.
    active: AtomicUsize,
    start: AtomicUsize,
    len: AtomicUsize,
    /// A `Box<Arc<..>>` made by [`Window::map`], freed by [`Window`]'s `Drop`.
    device: AtomicPtr<Arc<dyn MmioDevice>>,
}

impl Slot {
    const fn new() -> Self {
        Self {
            state: AtomicU8::new(FREE),
            active: AtomicUsize::new(0),
            start: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
            device: AtomicPtr::new(ptr::null_mut()),
        }
    }
}

/// The process's windows.
static SLOTS: [Slot; MmioWindow::CAPACITY] = [const { Slot::new() }; MmioWindow::CAPACITY];

/// The host's page size, set before the handler is installed.
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(4096);

/// The dispositions of `SIGSEGV` and `SIGBUS` before ours, or the errno of a failed install.
static PREVIOUS: OnceLock<Result<[libc::sigaction; 2], i32>> = OnceLock::new();

/// The window in the table holding `address`, in use until the guard drops.
struct InUse {
    slot: &'static Slot,
    start: usize,
    len: usize,
    device: *const Arc<dyn MmioDevice>,
}

impl InUse {
    fn find(address: usize) -> Option<Self> {
        let holds = |start: usize, len: usize| address.wrapping_sub(start) < len;
        for slot in &SLOTS {
            if slot.state.load(Ordering::Acquire) != LIVE
                || !holds(
                    slot.start.load(Ordering::Relaxed),
                    slot.len.load(Ordering::Relaxed),
                )
            {
                continue;
            }
            slot.active.fetch_add(1, Ordering::SeqCst);
            if slot.state.load(Ordering::SeqCst) == LIVE {
                let start = slot.start.load(Ordering::Relaxed);
                let len = slot.len.load(Ordering::Relaxed);
                if holds(start, len) {
                    return Some(Self {
                        slot,
                        start,
                        len,
                        device: slot.device.load(Ordering::Acquire),
                    });
                }
            }
            slot.active.fetch_sub(1, Ordering::Release);
        }
        None
    }

    fn device(&self) -> &dyn MmioDevice {
        // SAFETY: the slot was LIVE after `active` counted this guard, so its owner's drop
        // waits for the guard before freeing the device: the box is alive and unchanged.
        let device = unsafe { &*self.device };
        &**device
    }

    /// The access of `size` bytes at `address`, as an offset, if it lies inside the window.
    fn offset(&self, address: usize, size: u8) -> Option<u64> {
        let offset = address - self.start;
        (offset + usize::from(size) <= self.len).then_some(offset as u64)
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        self.slot.active.fetch_sub(1, Ordering::Release);
    }
}

/// A registered, inaccessible mapping (the platform half of [`MmioWindow`]).
#[derive(Debug)]
pub(super) struct Window {
    base: usize,
    len: usize,
    slot: usize,
}

impl Window {
    pub(super) fn map(len: usize, device: Arc<dyn MmioDevice>) -> Result<Self, MmioError> {
        install()?;
        let page = PAGE_SIZE.load(Ordering::Relaxed);
        let len = len.checked_next_multiple_of(page).ok_or(MmioError::Empty)?;
        // SAFETY: an anonymous private mapping at an address the kernel chooses replaces no
        // existing memory; the arguments are valid (no file, offset 0).
        let address = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if address == libc::MAP_FAILED {
            return Err(MmioError::Map(io::Error::last_os_error()));
        }
        let base = address as usize;
        for (index, slot) in SLOTS.iter().enumerate() {
            if slot
                .state
                .compare_exchange(FREE, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                slot.start.store(base, Ordering::Relaxed);
                slot.len.store(len, Ordering::Relaxed);
                slot.device
                    .store(Box::into_raw(Box::new(device)), Ordering::Relaxed);
                slot.state.store(LIVE, Ordering::Release);
                return Ok(Self {
                    base,
                    len,
                    slot: index,
                });
            }
        }
        // SAFETY: the mapping was made above and nothing else knows of it.
        unsafe { libc::munmap(address, len) };
        Err(MmioError::TooManyWindows)
    }

    pub(super) fn base(&self) -> *mut u8 {
        ptr::with_exposed_provenance_mut(self.base)
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        let slot = &SLOTS[self.slot];
        slot.state.store(RETIRING, Ordering::SeqCst);
        while slot.active.load(Ordering::SeqCst) != 0 {
            std::thread::yield_now();
        }
        // SAFETY: the mapping is this window's own; no handler uses it any more and a fault
        // on it from now on is outside every window.
        unsafe { libc::munmap(self.base().cast::<c_void>(), self.len) };
        let device = slot.device.swap(ptr::null_mut(), Ordering::Acquire);
        // SAFETY: `device` is the box `map` leaked for this slot; no handler holds it (active
        // is zero and the slot is no longer LIVE), and the swap took it out of the table.
        drop(unsafe { Box::from_raw(device) });
        slot.start.store(0, Ordering::Relaxed);
        slot.len.store(0, Ordering::Relaxed);
        slot.state.store(FREE, Ordering::Release);
    }
}

/// Installs the handler, once per process.
fn install() -> Result<(), MmioError> {
    let previous = PREVIOUS.get_or_init(|| {
        // SAFETY: `sysconf` reads a configuration value; it has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if let Ok(page) = usize::try_from(page)
            && page.is_power_of_two()
        {
            PAGE_SIZE.store(page, Ordering::Relaxed);
        }
        // SAFETY: all-zero is a valid `sigaction` (no handler, empty mask, no flags).
        let mut previous: [libc::sigaction; 2] = unsafe { std::mem::zeroed() };
        for (signal, old) in [libc::SIGSEGV, libc::SIGBUS].into_iter().zip(&mut previous) {
            // SAFETY: reading the disposition into a valid `sigaction`.
            if unsafe { libc::sigaction(signal, ptr::null(), old) } != 0 {
                return Err(io::Error::last_os_error().raw_os_error().unwrap_or(0));
            }
        }
        // SAFETY: all-zero is a valid `sigaction`; the fields that matter are set below.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = handle as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        for signal in [libc::SIGSEGV, libc::SIGBUS] {
            // SAFETY: `handle` has the `SA_SIGINFO` signature and only does what a handler of
            // a synchronous fault may (see the module documentation).
            if unsafe { libc::sigaction(signal, &raw const action, ptr::null_mut()) } != 0 {
                return Err(io::Error::last_os_error().raw_os_error().unwrap_or(0));
            }
        }
        Ok(previous)
    });
    match previous {
        Ok(_) => Ok(()),
        Err(errno) => Err(MmioError::Handler(io::Error::from_raw_os_error(*errno))),
    }
}

/// The `SIGSEGV`/`SIGBUS` handler.
extern "C" fn handle(signal: c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    // SAFETY: the kernel passes a valid `siginfo_t` to an `SA_SIGINFO` handler.
    let details = unsafe { &*info };
    // SAFETY: for `SIGSEGV` and `SIGBUS` the union holds the fault fields.
    let address = unsafe { details.si_addr() } as usize;
    // SAFETY: the kernel passes the interrupted thread's `ucontext_t`, which the handler owns
    // until it returns.
    let machine = unsafe { &mut *context.cast::<libc::ucontext_t>() };
    let pc = arch::pc(machine);
    if let Some(window) = InUse::find(address)
        && InUse::find(pc).is_none()
    {
        if let Err(failure) = arch::emulate(machine, &window, address) {
            die(format_args!(
                "portcls-sim mmio: cannot emulate the access to {address:#x} (window \
                 {:#x}+{:#x}) by the instruction at {pc:#x}: {failure}; aborting\n",
                window.start, window.len
            ));
        }
        return;
    }
    chain(signal, info, context);
}

/// Hands a fault outside every window to the disposition that was there before ours.
fn chain(signal: c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    let Some(Ok(previous)) = PREVIOUS.get() else {
        return;
    };
    let previous = &previous[usize::from(signal != libc::SIGSEGV)];
    let handler = previous.sa_sigaction;
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // SAFETY: restoring the disposition that was installed before ours.
        unsafe { libc::sigaction(signal, previous, ptr::null_mut()) };
        // SAFETY: the kernel passes a valid `siginfo_t` to an `SA_SIGINFO` handler.
        let sent = unsafe { (*info).si_code } <= 0;
        if sent {
            // A signal sent by a process does not recur when the handler returns: send it
            // again (it stays pending until this handler returns).
            // SAFETY: `raise` has no preconditions.
            unsafe { libc::raise(signal) };
        }
        // Otherwise the faulting instruction runs again and faults under the old action.
        return;
    }
    if previous.sa_flags & libc::SA_SIGINFO != 0 {
        let previous: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) =
            // SAFETY: with `SA_SIGINFO`, the handler field holds such a function.
            unsafe { std::mem::transmute(handler) };
        previous(signal, info, context);
    } else {
        // SAFETY: without `SA_SIGINFO`, the handler field holds such a function.
        let previous: extern "C" fn(c_int) = unsafe { std::mem::transmute(handler) };
        previous(signal);
    }
}

/// Writes `message` to standard error without allocating, then aborts.
fn die(message: fmt::Arguments<'_>) -> ! {
    let mut text = Text {
        bytes: [0; 512],
        len: 0,
    };
    let _ = text.write_fmt(message);
    // SAFETY: writing initialised bytes of a local buffer to file descriptor 2.
    unsafe { libc::write(2, text.bytes.as_ptr().cast(), text.len) };
    std::process::abort()
}

/// A fixed buffer that formats without allocating (what does not fit is dropped).
struct Text {
    bytes: [u8; 512],
    len: usize,
}

impl fmt::Write for Text {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let room = self.bytes.len() - self.len;
        let count = text.len().min(room);
        self.bytes[self.len..self.len + count].copy_from_slice(&text.as_bytes()[..count]);
        self.len += count;
        Ok(())
    }
}

/// Why an access inside a window could not be emulated.
enum Failure {
    /// The instruction is not one the decoder covers.
    #[cfg_attr(target_arch = "aarch64", allow(dead_code))]
    Bytes([u8; super::x86_64::MAX_LENGTH], usize),
    /// The instruction word is not one the decoder covers.
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    Word(u32),
    /// The access runs past the window's end.
    PastTheEnd(u8),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bytes(bytes, count) => {
                f.write_str("an instruction the decoder does not cover, bytes")?;
                for byte in &bytes[..*count] {
                    write!(f, " {byte:02x}")?;
                }
                Ok(())
            }
            Self::Word(word) => {
                write!(
                    f,
                    "an instruction the decoder does not cover, word {word:#010x}"
                )
            }
            Self::PastTheEnd(size) => write!(f, "a {size}-byte access past the window's end"),
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod arch {
    use super::super::x86_64::{self, Access, DecodeError, MAX_LENGTH, Source};
    use super::{Failure, InUse, PAGE_SIZE};
    use std::sync::atomic::Ordering;

    /// `gregs` indices of the registers 0-15 of the instruction set's numbering.
    const GREGS: [libc::c_int; 16] = [
        libc::REG_RAX,
        libc::REG_RCX,
        libc::REG_RDX,
        libc::REG_RBX,
        libc::REG_RSP,
        libc::REG_RBP,
        libc::REG_RSI,
        libc::REG_RDI,
        libc::REG_R8,
        libc::REG_R9,
        libc::REG_R10,
        libc::REG_R11,
        libc::REG_R12,
        libc::REG_R13,
        libc::REG_R14,
        libc::REG_R15,
    ];

    fn slot(number: u8) -> usize {
        // Kernel register numbers are small and nonnegative.
        #[allow(clippy::cast_sign_loss)]
        let index = GREGS[usize::from(number & 15)] as usize;
        index
    }

    // A 64-bit target: addresses are 64 bits; kernel register numbers are nonnegative.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    pub(super) fn pc(machine: &libc::ucontext_t) -> usize {
        machine.uc_mcontext.gregs[libc::REG_RIP as usize].cast_unsigned() as usize
    }

    pub(super) fn emulate(
        machine: &mut libc::ucontext_t,
        window: &InUse,
        address: usize,
    ) -> Result<(), Failure> {
        let pc = pc(machine);
        let mut bytes = [0u8; MAX_LENGTH];
        // Read up to the page's end first: the next page need not exist.
        let page = PAGE_SIZE.load(Ordering::Relaxed);
        let on_page = (page - pc % page).min(MAX_LENGTH);
        read_code(pc, &mut bytes[..on_page]);
        let mut read = on_page;
        let instruction = match x86_64::decode(&bytes[..on_page]) {
            Err(DecodeError::Truncated) if on_page < MAX_LENGTH => {
                // The instruction goes on to the next page, so that page is mapped.
                read_code(pc + on_page, &mut bytes[on_page..]);
                read = MAX_LENGTH;
                x86_64::decode(&bytes)
            }
            decoded => decoded,
        }
        .map_err(|_| Failure::Bytes(bytes, read))?;
        let gregs = &mut machine.uc_mcontext.gregs;
        match instruction.access {
            load @ Access::Load {
                destination, size, ..
            } => {
                let offset = window
                    .offset(address, size)
                    .ok_or(Failure::PastTheEnd(size))?;
                let value = window.device().read(offset, size);
                let register = &mut gregs[slot(destination.full())];
                let old = register.cast_unsigned();
                *register = x86_64::load_into(load, old, value).cast_signed();
            }
            Access::Store { source, size } => {
                let offset = window
                    .offset(address, size)
                    .ok_or(Failure::PastTheEnd(size))?;
                let register = match source {
                    Source::Register(register) => gregs[slot(register.full())].cast_unsigned(),
                    Source::Immediate(_) => 0,
                };
                let value = x86_64::store_value(source, size, register);
                window.device().write(offset, size, value);
            }
            Access::Modify { op, other, size } => {
                let offset = window
                    .offset(address, size)
                    .ok_or(Failure::PastTheEnd(size))?;
                let memory = window.device().read(offset, size);
                let register = match other {
                    Source::Register(register) => gregs[slot(register.full())].cast_unsigned(),
                    Source::Immediate(_) => 0,
                };
                let other_value = x86_64::store_value(other, size, register);
                let (result, flags) = x86_64::compute(op, size, memory, other_value);
                window.device().write(offset, size, result);
                let rflags = &mut gregs[libc::REG_EFL as usize];
                *rflags = ((rflags.cast_unsigned() & !x86_64::STATUS_FLAGS) | flags).cast_signed();
            }
            Access::Compute {
                op,
                other,
                size,
                memory_left,
            } => {
                let offset = window
                    .offset(address, size)
                    .ok_or(Failure::PastTheEnd(size))?;
                let memory = window.device().read(offset, size);
                let register = match other {
                    Source::Register(register) => gregs[slot(register.full())].cast_unsigned(),
                    Source::Immediate(_) => 0,
                };
                let other_value = x86_64::store_value(other, size, register);
                let (left, right) = if memory_left {
                    (memory, other_value)
                } else {
                    (other_value, memory)
                };
                let (result, flags) = x86_64::compute(op, size, left, right);
                if let (true, Source::Register(destination)) = (op.writes(), other) {
                    let as_load = Access::Load {
                        destination,
                        size,
                        width: size,
                        sign_extend: false,
                    };
                    let register = &mut gregs[slot(destination.full())];
                    *register =
                        x86_64::load_into(as_load, register.cast_unsigned(), result).cast_signed();
                }
                let rflags = &mut gregs[libc::REG_EFL as usize];
                *rflags = ((rflags.cast_unsigned() & !x86_64::STATUS_FLAGS) | flags).cast_signed();
            }
        }
        let rip = &mut gregs[libc::REG_RIP as usize];
        // At most 15: fits.
        #[allow(clippy::cast_possible_wrap)]
        let length = instruction.length as i64;
        *rip = rip.wrapping_add(length);
        Ok(())
    }

    /// Copies the code bytes at `address` into `bytes`.
    fn read_code(address: usize, bytes: &mut [u8]) {
        for (index, byte) in bytes.iter_mut().enumerate() {
            let code = std::ptr::with_exposed_provenance::<u8>(address + index);
            // SAFETY: the bytes are those of the instruction that just ran (or the rest of
            // its page): mapped and readable code.
            *byte = unsafe { code.read_volatile() };
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod arch {
    use super::super::aarch64::{self, Access, ZR_OR_SP};
    use super::super::value::truncate;
    use super::{Failure, InUse};

    // A 64-bit target: addresses are 64 bits.
    #[allow(clippy::cast_possible_truncation)]
    pub(super) fn pc(machine: &libc::ucontext_t) -> usize {
        machine.uc_mcontext.pc as usize
    }

    pub(super) fn emulate(
        machine: &mut libc::ucontext_t,
        window: &InUse,
        address: usize,
    ) -> Result<(), Failure> {
        let code = std::ptr::with_exposed_provenance::<u32>(pc(machine));
        // SAFETY: the instruction that just ran: mapped, readable and 4-byte aligned.
        let word = unsafe { code.read_volatile() };
        let instruction = aarch64::decode(word).map_err(|_| Failure::Word(word))?;
        let context = &mut machine.uc_mcontext;
        match instruction.access {
            Access::Load {
                register,
                size,
                extend,
            } => {
                let offset = window
                    .offset(address, size)
                    .ok_or(Failure::PastTheEnd(size))?;
                let value = window.device().read(offset, size);
                if register != ZR_OR_SP {
                    context.regs[usize::from(register)] =
                        aarch64::loaded_value(size, extend, value);
                }
            }
            Access::Store { register, size } => {
                let offset = window
                    .offset(address, size)
                    .ok_or(Failure::PastTheEnd(size))?;
                let value = if register == ZR_OR_SP {
                    0
                } else {
                    truncate(context.regs[usize::from(register)], size)
                };
                window.device().write(offset, size, value);
            }
        }
        if let Some(writeback) = instruction.writeback {
            let base = if writeback.base == ZR_OR_SP {
                &mut context.sp
            } else {
                &mut context.regs[usize::from(writeback.base)]
            };
            *base = base.wrapping_add_signed(writeback.offset);
        }
        context.pc += 4;
        Ok(())
    }
}
