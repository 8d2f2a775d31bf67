//! A kernel-mode image that calls every public operation of `portcls`.
//!
//! `cargo xtask test` links it for `x86_64-pc-windows-msvc` and `aarch64-pc-windows-msvc` with
//! rust-lld and the kernel linker settings, then checks the PE it produced:
//!
//! - the PortCls and kernel routines resolve through `raw-dylib` alone (no import library);
//! - the image imports exactly the routines the library documents, from `portcls.sys` and
//!   `ntoskrnl.exe` and nothing else (without the `export` feature: not the `Pc*StreamResource`
//!   exports, so such a driver loads on Windows 8.1);
//! - no panic is reachable: the panic handler calls a symbol nobody defines, so a surviving
//!   panic path is a link error.
//!
//! On other targets the crate is empty.
#![no_std]

#[cfg(windows)]
mod probe {
    use core::ffi::c_void;

    use portcls::sys::{NTSTATUS, PDEVICE_OBJECT, PUNKNOWN, STATUS_SUCCESS};
    use portcls::{ComPtr, InterruptConnection, Pdo, StreamResourceManager, Thread};

    /// The inputs a real driver would have; here they arrive as the entry point's arguments so
    /// nothing can be folded away at compile time.
    #[repr(C)]
    pub struct ProbeInput {
        port: PUNKNOWN,
        fdo: PDEVICE_OBJECT,
        thread: portcls::sys::PETHREAD,
        version: u32,
        context: *mut c_void,
    }

    fn exercise(input: &ProbeInput) -> Result<(), NTSTATUS> {
        // SAFETY: the probe is never run; the contract a driver would meet is assumed.
        let port = unsafe { ComPtr::from_raw(input.port) }.ok_or(0)?;
        // SAFETY: as above.
        let pdo = unsafe { Pdo::from_fdo(input.fdo) }.map_err(|e| e.status())?;
        let manager = StreamResourceManager::new(&port, pdo);
        // SAFETY: as above.
        let thread = unsafe { Thread::from_raw_borrowed(input.thread) }.ok_or(0)?;
        // SAFETY: as above.
        let connection =
            unsafe { InterruptConnection::from_raw(input.version, input.context) }.ok_or(0)?;
        {
            let scoped = manager.register_thread(&thread).map_err(|e| e.status())?;
            let interrupt = manager
                .register_interrupt(&connection)
                .map_err(|e| e.status())?;
            interrupt.unregister().map_err(|e| e.status())?;
            drop(scoped);
        }
        let owned = manager
            .register_owned_thread(thread)
            .map_err(|(e, _)| e.status())?;
        let (thread, outcome) = owned.unregister();
        outcome.map_err(|e| e.status())?;
        drop(thread);
        let owned = manager
            .register_owned_interrupt(connection)
            .map_err(|(e, _)| e.status())?;
        drop(owned);
        Ok(())
    }

    portcls::sys::kernel_abi! {
        /// The image's entry point.
        ///
        /// # Safety
        /// Never called: the image exists to be linked and inspected.
        #[unsafe(no_mangle)]
        pub unsafe fn DriverEntry(
            input: *const ProbeInput,
            _: *mut c_void,
        ) -> NTSTATUS {
            // SAFETY: see above; a null input is handled.
            let Some(input) = (unsafe { input.as_ref() }) else {
                return STATUS_SUCCESS;
            };
            match exercise(input) {
                Ok(()) => STATUS_SUCCESS,
                Err(status) => status,
            }
        }
    }

    /// Unwind tables in the precompiled `core` name the MSVC C++ personality routine; a kernel
    /// image never unwinds (panic = abort), so it is never called.
    #[unsafe(no_mangle)]
    pub extern "C" fn __CxxFrameHandler3() -> i32 {
        0
    }

    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
        unsafe extern "C" {
            // Deliberately defined nowhere: linking fails if any panic survives optimisation.
            fn portcls_kernel_probe_found_a_reachable_panic() -> !;
        }
        // SAFETY: never linked in a passing build (see above).
        unsafe { portcls_kernel_probe_found_a_reachable_panic() }
    }
}
