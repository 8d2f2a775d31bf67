//! Memory-mapped device registers: plain loads and stores that reach a device model.
//!
//! A driver maps its device's BAR (`MmMapIoSpace`) and reads and writes the registers with
//! ordinary volatile accesses (the WDK's `READ_REGISTER_ULONG` and friends are inline, not
//! imports), so the code under test, the host build and the machine code of the shipped image
//! alike, executes `mov` (x86-64) or `ldr`/`str` (arm64) on a pointer. The model gives those
//! accesses register semantics the way a virtual machine monitor does:
//!
//! 1. [`MmioWindow::map`] reserves page-aligned memory with no access at all (`PROT_NONE`)
//!    and registers it, with its [`MmioDevice`], in a process-wide table;
//! 2. an access to it faults (`SIGSEGV`); the model's handler finds the window holding the
//!    fault address, decodes the faulting instruction ([`x86_64::decode`],
//!    [`aarch64::decode`]), and emulates it: a load takes [`MmioDevice::read`]'s value into
//!    the destination register, a store hands the source register's (or immediate's) value to
//!    [`MmioDevice::write`], a base writeback updates the base register;
//! 3. the handler moves the program counter past the instruction and returns: the code goes
//!    on as if memory had answered.
//!
//! The shipped image is Windows x64 or arm64 machine code running in this process: it uses the
//! same instruction encodings, so its register accesses are trapped and decoded exactly like
//! the host build's. The window's address is what the model hands the driver from
//! `MmMapIoSpace`.
//!
//! # Example
//! ```
//! # #[cfg(all(target_os = "linux", not(miri), any(target_arch = "x86_64", target_arch = "aarch64")))]
//! # {
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU64, Ordering};
//!
//! use portcls_sim::mmio::{self, MmioDevice, MmioWindow};
//!
//! /// One register at offset 0 that reads back twice what was written.
//! struct Doubler(AtomicU64);
//!
//! impl MmioDevice for Doubler {
//!     fn read(&self, _offset: u64, _size: u8) -> u64 {
//!         2 * self.0.load(Ordering::Relaxed)
//!     }
//!     fn write(&self, _offset: u64, _size: u8, value: u64) {
//!         self.0.store(value, Ordering::Relaxed);
//!     }
//! }
//!
//! let window = MmioWindow::map(4096, Arc::new(Doubler(AtomicU64::new(0))))?;
//! let register = window.base().cast::<u32>();
//! // SAFETY: `register` is the window's first register; the window outlives the accesses.
//! unsafe { register.write_volatile(21) };
//! // SAFETY: as above.
//! assert_eq!(unsafe { register.read_volatile() }, 42);
//! # }
//! # Ok::<(), portcls_sim::mmio::MmioError>(())
//! ```
//!
//! # Rules for devices
//! [`MmioDevice::read`] and [`MmioDevice::write`] run inside the fault handler, on the
//! faulting thread, at the faulting instruction: the interrupted code holds whatever it held,
//! so a device must not wait for a lock that code might hold (the driver's own locks are
//! outside the device, which is the normal case), and must not touch a window itself. The
//! handler runs on the thread's alternate signal stack when it has one (every thread Rust's
//! standard library starts has one, of a few KiB: `SIGSTKSZ` or the kernel's minimum), so
//! that the faults do not count as the driver's kernel stack use ([`crate::stack`]) and a
//! stack overflow is still reported; a device's work per access must therefore be shallow:
//! record, compute a value, or hand heavy work to another thread. A panic in a device aborts
//! the process (it cannot unwind out of a signal handler).
//!
//! # The table of windows
//! The handler finds a window in a fixed, process-wide table of [`MmioWindow::CAPACITY`]
//! slots that it reads without locking or allocating. [`MmioWindow::map`] fills a free slot
//! and publishes it; dropping the window withdraws it, waits for accesses in progress on other
//! threads to finish, and only then unmaps it and drops the device. An access after the drop
//! faults like any other address outside every window.
//!
//! # Faults outside any window
//! The handler is installed once, for `SIGSEGV` and `SIGBUS`. A fault at an address no window
//! holds goes to the handler that was installed before (Rust's standard library's, which
//! reports stack overflows); if that was the default action, the handler restores it and
//! returns, so the instruction faults again and the process dies of the signal as it would
//! have. A fault inside a window at an instruction the decoders do not cover prints the
//! address and the instruction's bytes to standard error and aborts.
//!
//! # Hosts
//! The trap exists on Linux on x86-64 and arm64 (natively or under qemu-aarch64's user mode),
//! and not under Miri (which runs no signal handlers): elsewhere [`MmioWindow::map`] returns
//! [`MmioError::Unsupported`]. The decoders are plain functions and run everywhere.
// The decoders' modules are named for the architecture whose instructions they decode.
pub mod aarch64;
#[cfg(all(
    target_os = "linux",
    not(miri),
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod trap;
mod value;
pub mod x86_64;

use std::fmt;
use std::sync::Arc;

/// A device's register file, as the code accessing its window sees it.
///
/// The model calls it from the fault handler of the thread that accessed the window (see the
/// [module documentation](self) for what it may do there).
pub trait MmioDevice: Send + Sync {
    /// The value of the `size` bytes (1, 2, 4 or 8) at `offset` from the window's start, in
    /// the low bytes of the result (the rest is ignored).
    fn read(&self, offset: u64, size: u8) -> u64;

    /// A write of the low `size` bytes (1, 2, 4 or 8) of `value` at `offset` from the window's
    /// start.
    fn write(&self, offset: u64, size: u8, value: u64);
}

/// Why [`MmioWindow::map`] made no window.
#[derive(Debug)]
pub enum MmioError {
    /// This host cannot trap accesses: not Linux on x86-64 or arm64, or running under Miri.
    Unsupported,
    /// The length was zero.
    Empty,
    /// Every slot of the process-wide table of windows is in use.
    TooManyWindows,
    /// `mmap` failed.
    Map(std::io::Error),
    /// Installing the fault handler (`sigaction`) failed.
    Handler(std::io::Error),
}

impl fmt::Display for MmioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unsupported => f.write_str("this host cannot trap memory-mapped accesses"),
            Self::Empty => f.write_str("a register window needs at least one byte"),
            Self::TooManyWindows => write!(
                f,
                "all {} register window slots are in use",
                MmioWindow::CAPACITY
            ),
            Self::Map(error) => write!(f, "mmap of a register window failed: {error}"),
            Self::Handler(error) => write!(f, "installing the fault handler failed: {error}"),
        }
    }
}

impl std::error::Error for MmioError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Map(error) | Self::Handler(error) => Some(error),
            _ => None,
        }
    }
}

/// A range of addresses whose loads and stores go to an [`MmioDevice`].
///
/// # Invariants
/// While the value lives, `base()..base() + len()` is a mapping this value owns, with no
/// access rights, registered with its device in the process-wide table; dropping it
/// unregisters the window (after any access in progress on another thread has finished) and
/// unmaps it.
#[derive(Debug)]
pub struct MmioWindow {
    #[cfg(all(
        target_os = "linux",
        not(miri),
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    inner: trap::Window,
}

impl MmioWindow {
    /// How many windows can exist at once in the process.
    pub const CAPACITY: usize = 64;

    /// Maps a window of `len` bytes (rounded up to whole pages) whose accesses go to `device`.
    ///
    /// # Errors
    /// [`MmioError::Unsupported`] on a host without the trap (see the [module
    /// documentation](self)), [`MmioError::Empty`] for `len == 0`,
    /// [`MmioError::TooManyWindows`] when [`Self::CAPACITY`] windows exist, and
    /// [`MmioError::Map`] if the kernel refuses the mapping.
    pub fn map(len: usize, device: Arc<dyn MmioDevice>) -> Result<Self, MmioError> {
        if len == 0 {
            return Err(MmioError::Empty);
        }
        #[cfg(all(
            target_os = "linux",
            not(miri),
            any(target_arch = "x86_64", target_arch = "aarch64")
        ))]
        return trap::Window::map(len, device).map(|inner| Self { inner });
        #[cfg(not(all(
            target_os = "linux",
            not(miri),
            any(target_arch = "x86_64", target_arch = "aarch64")
        )))]
        {
            drop(device);
            Err(MmioError::Unsupported)
        }
    }

    /// The window's first byte (page-aligned); offset 0 for the device.
    #[must_use]
    pub fn base(&self) -> *mut u8 {
        #[cfg(all(
            target_os = "linux",
            not(miri),
            any(target_arch = "x86_64", target_arch = "aarch64")
        ))]
        return self.inner.base();
        #[cfg(not(all(
            target_os = "linux",
            not(miri),
            any(target_arch = "x86_64", target_arch = "aarch64")
        )))]
        unreachable!("no window exists on this host")
    }

    /// The window's length in bytes: the length asked for, rounded up to whole pages.
    #[must_use]
    pub fn len(&self) -> usize {
        #[cfg(all(
            target_os = "linux",
            not(miri),
            any(target_arch = "x86_64", target_arch = "aarch64")
        ))]
        return self.inner.len();
        #[cfg(not(all(
            target_os = "linux",
            not(miri),
            any(target_arch = "x86_64", target_arch = "aarch64")
        )))]
        unreachable!("no window exists on this host")
    }

    /// Always `false`: a window has at least one page.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Volatile register accessors, compiled with the library (optimised, `opt-level = 2`) and
/// never inlined into the caller: the load and store instructions an optimising compiler
/// chooses, for tests that need them whatever the test's own profile is.
///
/// Each is the `read_volatile`/`write_volatile` of its type.
pub mod access {
    macro_rules! accessors {
        ($($t:ty: $read:ident, $write:ident;)*) => {$(
            #[doc = concat!("Reads the `", stringify!($t), "` register at `register`.")]
            ///
            /// # Safety
            /// `register` is aligned and valid for a volatile read: in an
            /// [`MmioWindow`](super::MmioWindow) that outlives the call, or ordinary memory.
            #[inline(never)]
            #[must_use]
            pub unsafe fn $read(register: *const $t) -> $t {
                // SAFETY: the caller guarantees `register` is valid for a volatile read.
                unsafe { register.read_volatile() }
            }

            #[doc = concat!("Writes `value` to the `", stringify!($t), "` register at `register`.")]
            ///
            /// # Safety
            /// `register` is aligned and valid for a volatile write: in an
            /// [`MmioWindow`](super::MmioWindow) that outlives the call, or ordinary memory.
            #[inline(never)]
            pub unsafe fn $write(register: *mut $t, value: $t) {
                // SAFETY: the caller guarantees `register` is valid for a volatile write.
                unsafe { register.write_volatile(value) };
            }
        )*};
    }

    accessors! {
        u8: read_u8, write_u8;
        u16: read_u16, write_u16;
        u32: read_u32, write_u32;
        u64: read_u64, write_u64;
    }
}
