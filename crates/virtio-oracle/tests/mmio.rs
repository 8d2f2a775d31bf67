//! The driver's register accesses as the shipped driver makes them: volatile loads and stores
//! on the mapped register BAR (`wavert_sample::backend::virtio::bars`), trapped by the model's MMIO
//! window and served by its virtio PCI function, the device's work done when the driver
//! waits, as on hardware. The whole device layer runs this way against the oracle.
#![cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]

mod common;

use std::sync::{Arc, Mutex};

use common::{MSIX_VECTORS, Memory, bar_lengths, pieces_of};
use portcls_sim::mmio::MmioWindow;
use portcls_sim::virtio_pci::{self, Interrupt, RegisterBar, VirtioPci};
use virtio_oracle::Oracle;
use wavert_sample::backend::virtio::bars::MappedBars;
use wavert_sample::backend::virtio::device::{Report, SoundDevice};
use wavert_sample::backend::virtio::sound;

#[test]
fn the_device_layer_runs_on_trapped_register_accesses() {
    let mut function = VirtioPci::new(Oracle::new());
    function.set_msix_enabled(true);
    function.set_deferred(true);
    let mut memory = Memory::new(function.device());
    let space = function.config_space();
    let pci = Arc::new(Mutex::new(function));
    let len = usize::try_from(virtio_pci::REGISTER_BAR_BYTES).unwrap();
    let window = MmioWindow::map(len, Arc::new(RegisterBar(Arc::clone(&pci)))).expect("a window");
    let run = {
        let pci = Arc::clone(&pci);
        move || pci.lock().unwrap().run_device()
    };
    let mut bars = MappedBars::new(run.clone());
    let base = std::ptr::NonNull::new(window.base()).unwrap();
    // SAFETY: the window is mapped for `len` bytes and outlives `bars` (dropped at the end).
    unsafe { bars.map(virtio_pci::REGISTER_BAR, base, u32::try_from(len).unwrap()) };
    let mut waits = 0;
    let mut wait = || {
        waits += 1;
        run();
        waits < 100
    };
    let mut device = SoundDevice::start(
        &mut bars,
        &mut memory,
        &space,
        &bar_lengths(),
        MSIX_VECTORS,
        &mut wait,
    )
    .expect("the device starts");
    assert!(waits > 0, "the reply waited for the device");
    assert_eq!(device.streams().count(), 2);

    let buffer = pci.lock().unwrap().device().alloc(4 * 3840, 4096);
    let params = sound::Params {
        stream: 0,
        buffer_bytes: 4 * 3840,
        period_bytes: 3840,
        channels: 2,
        format: sound::FMT_S32,
        rate: sound::RATE_48000,
    };
    let mut wait = || {
        run();
        true
    };
    device
        .set_params(&mut bars, &params, &mut wait)
        .expect("SET_PARAMS");
    device
        .pcm(&mut bars, sound::R_PCM_PREPARE, 0, &mut wait)
        .expect("PREPARE");
    device
        .pcm(&mut bars, sound::R_PCM_START, 0, &mut wait)
        .expect("START");
    let _ = pci.lock().unwrap().take_interrupts();
    let mut completed = 0;
    for n in 0..40_u32 {
        device
            .post_period(&mut bars, 0, &pieces_of(&buffer, n % 4 * 3840, 3840), n)
            .expect("a period");
        // Nothing happens until the device runs.
        assert!(pci.lock().unwrap().has_work());
        run();
        assert_eq!(
            pci.lock().unwrap().take_interrupts(),
            [Interrupt::Message(3)]
        );
        device
            .completions(&mut bars, |report| {
                assert!(
                    matches!(report, Report::Period(c) if c.token == n && c.result.is_ok()),
                    "{report:?}"
                );
                completed += 1;
            })
            .expect("a conforming device");
    }
    assert_eq!(completed, 40);
    // The reset completes while the driver pauses between reads of the status.
    assert!(device.stop(&mut bars, &mut memory, |_, _| {}));
    assert_eq!(memory.live, []);
    let function = pci.lock().unwrap();
    assert_eq!(function.breaches(), [] as [String; 0]);
    assert_eq!(function.device_errors(), [] as [String; 0]);
    assert_eq!(function.resets(), 2);
    drop(function);
    drop(bars);
    drop(window);
}
