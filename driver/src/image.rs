//! What the kernel image needs beyond the driver's code (feature `kernel` only).
//!
//! The panic handler calls a routine that nothing defines: if any panic survives optimisation
//! the link fails, so a linked image is proof that the driver cannot panic. (A driver that could
//! would have to bug-check here instead.)

/// Unwind tables in the precompiled `core` name the MSVC C++ personality routine; a kernel image
/// is built with panic = abort and never unwinds, so it is never called.
#[unsafe(no_mangle)]
pub extern "C" fn __CxxFrameHandler3() -> i32 {
    0
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    unsafe extern "C" {
        // Deliberately defined nowhere (see the module docs).
        fn wavertsample_found_a_reachable_panic() -> !;
    }
    // SAFETY: never linked in a passing build.
    unsafe { wavertsample_found_a_reachable_panic() }
}

/// MSVC's marker that the image uses floating point (the tone generator does); the kernel
/// needs no run-time initialisation for it, so its value is never read.
#[unsafe(no_mangle)]
#[used]
pub static _fltused: i32 = 0;

// The memory routines the compiler emits calls to (copies of the audio scratch buffer,
// zeroing a new DMA buffer). A kernel image has no C run-time library; `ntoskrnl.exe` exports
// these on every build and architecture, so they are imported from it like any other routine.
#[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
#[allow(dead_code)] // called by compiler-generated code, never by name
unsafe extern "C" {
    /// `memcpy` (every build).
    pub fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8;
    /// `memmove` (every build).
    pub fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8;
    /// `memset` (every build).
    pub fn memset(dest: *mut u8, c: i32, n: usize) -> *mut u8;
    /// `memcmp` (every build).
    pub fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32;
}
