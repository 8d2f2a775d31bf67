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
