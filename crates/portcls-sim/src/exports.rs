//! What the model exports to a driver image: each routine by module and name.
//!
//! A loaded image's imports are bound here, as the kernel loader binds them against the export
//! tables of `ntoskrnl.exe`, `hal.dll` and `portcls.sys`. An OS profile exports what its
//! Windows exports: `PcAddStreamResource` / `PcRemoveStreamResource` from Windows 10 1507 on,
//! `ExAllocatePool2` from 2004 on. A routine the model does not export makes the load fail, as
//! the kernel refuses to load a driver with an unresolved import.
//!
//! The C runtime routines ntoskrnl.exe exports (`memcpy`, `memmove`, `memset`, `memcmp`) are
//! wrappers with the Windows calling convention around the host's, since the host C library's
//! own symbols use the host convention.

use std::ffi::c_void;

use crate::OsProfile;
use crate::{adapter, interrupt, pci, pnp, pool, sched, sync};

portcls_sys::kernel_abi! {
    /// ntoskrnl.exe's `memcpy`.
    ///
    /// # Safety
    /// As `memcpy`: `count` bytes readable at `source`, writable at `destination`, no overlap.
    unsafe fn nt_memcpy(destination: *mut c_void, source: *const c_void, count: usize) -> *mut c_void {
        crate::stack::model_leaf(|| {
            // SAFETY: the caller's contract is memcpy's.
            unsafe { std::ptr::copy_nonoverlapping(source.cast::<u8>(), destination.cast::<u8>(), count) };
            destination
        })
    }

    /// ntoskrnl.exe's `memmove`.
    ///
    /// # Safety
    /// As `memmove`: `count` bytes readable at `source`, writable at `destination`.
    unsafe fn nt_memmove(destination: *mut c_void, source: *const c_void, count: usize) -> *mut c_void {
        crate::stack::model_leaf(|| {
            // SAFETY: the caller's contract is memmove's (overlap allowed).
            unsafe { std::ptr::copy(source.cast::<u8>(), destination.cast::<u8>(), count) };
            destination
        })
    }

    /// ntoskrnl.exe's `memset`.
    ///
    /// # Safety
    /// As `memset`: `count` bytes writable at `destination`.
    unsafe fn nt_memset(destination: *mut c_void, value: i32, count: usize) -> *mut c_void {
        crate::stack::model_leaf(|| {
            // memset stores the value converted to unsigned char.
            let byte = value.to_le_bytes()[0];
            // SAFETY: the caller's contract is memset's.
            unsafe { std::ptr::write_bytes(destination.cast::<u8>(), byte, count) };
            destination
        })
    }

    /// ntoskrnl.exe's `memcmp`.
    ///
    /// # Safety
    /// As `memcmp`: `count` bytes readable at both.
    unsafe fn nt_memcmp(left: *const c_void, right: *const c_void, count: usize) -> i32 {
        crate::stack::model_leaf(|| {
            // SAFETY: the caller's contract is memcmp's.
            let left = unsafe { std::slice::from_raw_parts(left.cast::<u8>(), count) };
            // SAFETY: as above.
            let right = unsafe { std::slice::from_raw_parts(right.cast::<u8>(), count) };
            left.iter()
                .zip(right)
                .find(|(a, b)| a != b)
                .map_or(0, |(a, b)| i32::from(*a) - i32::from(*b))
        })
    }
}

/// The address of `module!name` as `profile`'s Windows exports it to a driver, or `None` if it
/// does not (module names compare without regard to case, routine names exactly).
#[must_use]
pub fn resolve(profile: OsProfile, module: &str, name: &str) -> Option<usize> {
    let module = module.to_ascii_lowercase();
    let address = match (module.as_str(), name) {
        ("ntoskrnl.exe", _) => ntoskrnl(profile, name)?,
        ("hal.dll", "KeGetCurrentIrql") => address_of(crate::KeGetCurrentIrql as *const ()),
        ("portcls.sys", _) => portcls(profile, name)?,
        _ => return None,
    };
    Some(address)
}

/// A routine's address, as an import address table holds it.
fn address_of(routine: *const ()) -> usize {
    routine.addr()
}

fn ntoskrnl(profile: OsProfile, name: &str) -> Option<usize> {
    Some(match name {
        "ExAllocatePoolWithTag" => address_of(pool::ExAllocatePoolWithTag as *const ()),
        "ExAllocatePool2" if profile.has_allocate_pool2() => {
            address_of(pool::ExAllocatePool2 as *const ())
        }
        "ExFreePoolWithTag" => address_of(pool::ExFreePoolWithTag as *const ()),
        "MmGetSystemRoutineAddress" => address_of(pool::MmGetSystemRoutineAddress as *const ()),
        "KeQueryPerformanceCounter" => address_of(sched::KeQueryPerformanceCounter as *const ()),
        "KeInitializeEvent" => address_of(sched::KeInitializeEvent as *const ()),
        "KeSetEvent" => address_of(sched::KeSetEvent as *const ()),
        "KeClearEvent" => address_of(sched::KeClearEvent as *const ()),
        "KeWaitForSingleObject" => address_of(sched::KeWaitForSingleObject as *const ()),
        "KeDelayExecutionThread" => address_of(sched::KeDelayExecutionThread as *const ()),
        "PsCreateSystemThread" => address_of(sched::PsCreateSystemThread as *const ()),
        "PsTerminateSystemThread" => address_of(sched::PsTerminateSystemThread as *const ()),
        "ObReferenceObjectByHandle" => address_of(sched::ObReferenceObjectByHandle as *const ()),
        "ZwWaitForSingleObject" => address_of(sched::ZwWaitForSingleObject as *const ()),
        "ZwClose" => address_of(sched::ZwClose as *const ()),
        "ObfReferenceObject" => address_of(crate::ObfReferenceObject as *const ()),
        "ObfDereferenceObject" => address_of(crate::ObfDereferenceObject as *const ()),
        "IoDisconnectInterruptEx" => address_of(crate::IoDisconnectInterruptEx as *const ()),
        "IoGetDmaAdapter" => address_of(crate::dma::IoGetDmaAdapter as *const ()),
        "KeAcquireSpinLockRaiseToDpc" => address_of(sync::KeAcquireSpinLockRaiseToDpc as *const ()),
        "KeReleaseSpinLock" => address_of(sync::KeReleaseSpinLock as *const ()),
        "IoConnectInterruptEx" => address_of(interrupt::IoConnectInterruptEx as *const ()),
        "KeAcquireInterruptSpinLock" => {
            address_of(interrupt::KeAcquireInterruptSpinLock as *const ())
        }
        "KeReleaseInterruptSpinLock" => {
            address_of(interrupt::KeReleaseInterruptSpinLock as *const ())
        }
        "KeSynchronizeExecution" => address_of(interrupt::KeSynchronizeExecution as *const ()),
        "KeInitializeDpc" => address_of(interrupt::KeInitializeDpc as *const ()),
        "KeInsertQueueDpc" => address_of(interrupt::KeInsertQueueDpc as *const ()),
        "KeRemoveQueueDpc" => address_of(interrupt::KeRemoveQueueDpc as *const ()),
        "KeFlushQueuedDpcs" => address_of(interrupt::KeFlushQueuedDpcs as *const ()),
        "IoBuildSynchronousFsdRequest" => {
            address_of(pci::IoBuildSynchronousFsdRequest as *const ())
        }
        "IofCallDriver" => address_of(pci::IofCallDriver as *const ()),
        "MmMapIoSpace" => address_of(pci::MmMapIoSpace as *const ()),
        "MmUnmapIoSpace" => address_of(pci::MmUnmapIoSpace as *const ()),
        "KeStallExecutionProcessor" => {
            address_of(crate::device_work::KeStallExecutionProcessor as *const ())
        }
        "memcpy" => address_of(nt_memcpy as *const ()),
        "memmove" => address_of(nt_memmove as *const ()),
        "memset" => address_of(nt_memset as *const ()),
        "memcmp" => address_of(nt_memcmp as *const ()),
        _ => return None,
    })
}

fn portcls(profile: OsProfile, name: &str) -> Option<usize> {
    Some(match name {
        "PcInitializeAdapterDriver" => address_of(adapter::PcInitializeAdapterDriver as *const ()),
        "PcAddAdapterDevice" => address_of(adapter::PcAddAdapterDevice as *const ()),
        "PcNewPort" => address_of(adapter::PcNewPort as *const ()),
        "PcRegisterSubdevice" => address_of(adapter::PcRegisterSubdevice as *const ()),
        "PcRegisterPhysicalConnection" => {
            address_of(adapter::PcRegisterPhysicalConnection as *const ())
        }
        "PcDispatchIrp" => address_of(pnp::PcDispatchIrp as *const ()),
        "PcRegisterAdapterPowerManagement" => {
            address_of(pnp::PcRegisterAdapterPowerManagement as *const ())
        }
        "PcGetPhysicalDeviceObject" => address_of(crate::PcGetPhysicalDeviceObject as *const ()),
        "PcAddStreamResource" if profile.has_exports() => {
            address_of(crate::PcAddStreamResource as *const ())
        }
        "PcRemoveStreamResource" if profile.has_exports() => {
            address_of(crate::PcRemoveStreamResource as *const ())
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_export_what_their_windows_exports() {
        for profile in OsProfile::ALL {
            assert_eq!(
                resolve(profile, "portcls.sys", "PcAddStreamResource").is_some(),
                profile.has_exports()
            );
            assert_eq!(
                resolve(profile, "NTOSKRNL.EXE", "ExAllocatePool2").is_some(),
                profile.has_allocate_pool2()
            );
            assert!(resolve(profile, "ntoskrnl.exe", "KeSetEvent").is_some());
            assert!(resolve(profile, "ntoskrnl.exe", "IoGetDmaAdapter").is_some());
            for routine in [
                "IoConnectInterruptEx",
                "KeAcquireInterruptSpinLock",
                "KeReleaseInterruptSpinLock",
                "KeSynchronizeExecution",
                "KeInitializeDpc",
                "KeInsertQueueDpc",
                "KeRemoveQueueDpc",
                "KeFlushQueuedDpcs",
                "IoBuildSynchronousFsdRequest",
                "IofCallDriver",
                "MmMapIoSpace",
                "MmUnmapIoSpace",
                "KeStallExecutionProcessor",
            ] {
                assert!(
                    resolve(profile, "ntoskrnl.exe", routine).is_some(),
                    "{routine}"
                );
            }
            assert!(resolve(profile, "hal.dll", "KeGetCurrentIrql").is_some());
            assert!(resolve(profile, "ntoskrnl.exe", "KeBugCheckEx").is_none());
            assert!(resolve(profile, "ks.sys", "KsCreatePin").is_none());
        }
    }

    #[test]
    fn the_c_runtime_wrappers_behave_as_the_c_runtime() {
        let mut buffer = *b"abcdefgh";
        let source = *b"XYZ";
        // SAFETY: 3 bytes at both, no overlap.
        unsafe { nt_memcpy(buffer.as_mut_ptr().cast(), source.as_ptr().cast(), 3) };
        assert_eq!(&buffer, b"XYZdefgh");
        let base = buffer.as_mut_ptr();
        // SAFETY: 4 bytes from offset 0 to offset 2 of one 8-byte buffer.
        unsafe { nt_memmove(base.wrapping_add(2).cast(), base.cast(), 4) };
        assert_eq!(&buffer, b"XYXYZdgh");
        // SAFETY: 2 writable bytes.
        unsafe { nt_memset(buffer.as_mut_ptr().cast(), 0x141, 2) };
        assert_eq!(&buffer, b"AAXYZdgh");
        let (a, b) = (*b"abc", *b"abd");
        // SAFETY: 3 readable bytes at both.
        assert!(unsafe { nt_memcmp(a.as_ptr().cast(), b.as_ptr().cast(), 3) } < 0);
        // SAFETY: 2 readable bytes at both.
        let equal = unsafe { nt_memcmp(a.as_ptr().cast(), b.as_ptr().cast(), 2) };
        assert_eq!(equal, 0);
    }
}
