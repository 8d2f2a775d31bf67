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
//! The same code runs: the workspace's probe tests call its entry point with the objects of a
//! simulated machine, on the host build (linked, [`probe_entry`]) and in the image (loaded by
//! the model, `DriverEntry`), and check what PortCls saw, as the library's own matrix does.
#![no_std]

mod probe {
    use core::ffi::c_void;

    use portcls::sys::{NTSTATUS, PDEVICE_OBJECT, PUNKNOWN, STATUS_SUCCESS};
    use portcls::{ComPtr, InterruptConnection, Pdo, StreamResourceManager, Thread};

    /// The inputs a real driver would have; here they arrive as the entry point's arguments so
    /// nothing can be folded away at compile time.
    #[repr(C)]
    #[derive(Debug)]
    pub struct ProbeInput {
        /// A WaveRT port, with a reference the probe takes over (and gives back).
        pub port: PUNKNOWN,
        /// The FDO PortCls made for the device.
        pub fdo: PDEVICE_OBJECT,
        /// A thread object, borrowed (the probe takes and gives back references of its own).
        pub thread: portcls::sys::PETHREAD,
        /// The version `IoConnectInterruptEx` wrote back.
        pub version: u32,
        /// The connection context `IoConnectInterruptEx` wrote back (the probe disconnects it).
        pub context: *mut c_void,
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

    /// Runs every public path of the library on `input` (null: nothing) and returns the first
    /// failure's status.
    ///
    /// # Safety
    /// `input` is null or points to objects of the running system as [`ProbeInput`] describes.
    unsafe fn run(input: *const ProbeInput) -> NTSTATUS {
        // SAFETY: the caller's contract; a null input is handled.
        let Some(input) = (unsafe { input.as_ref() }) else {
            return STATUS_SUCCESS;
        };
        match exercise(input) {
            Ok(()) => STATUS_SUCCESS,
            Err(status) => status,
        }
    }

    #[cfg(windows)]
    portcls::sys::kernel_abi! {
        /// The image's entry point: runs every public path of the library on `input`.
        ///
        /// # Safety
        /// `input` is null or a [`ProbeInput`] of the running system: the image is only entered by a model that passes a [`ProbeInput`].
        #[unsafe(no_mangle)]
        pub unsafe fn DriverEntry(input: *const ProbeInput, _: *mut c_void) -> NTSTATUS {
            // SAFETY: the caller's contract is run's.
            unsafe { run(input) }
        }
    }

    #[cfg(not(windows))]
    portcls::sys::kernel_abi! {
        /// The host build's entry point, the image's `DriverEntry` under another name (the host
        /// links it beside other drivers' `DriverEntry`).
        ///
        /// # Safety
        /// As the image's: `input` is null or a [`ProbeInput`] of the running (simulated) system.
        pub unsafe fn probe_entry(input: *const ProbeInput, _: *mut c_void) -> NTSTATUS {
            // SAFETY: the caller's contract is run's.
            unsafe { run(input) }
        }
    }

    /// Unwind tables in the precompiled `core` name the MSVC C++ personality routine; a kernel
    /// image never unwinds (panic = abort), so it is never called.
    #[cfg(windows)]
    #[unsafe(no_mangle)]
    pub extern "C" fn __CxxFrameHandler3() -> i32 {
        0
    }

    #[cfg(windows)]
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

pub use probe::ProbeInput;
#[cfg(not(windows))]
pub use probe::probe_entry;
