//! Row 9: the virtio path's cost per period, the driver's side only. The driver's device layer
//! (`wavert_sample::backend::virtio::device`) runs behind the model's virtio PCI function, with a device
//! that does the least a device can: it completes each playback chain as soon as it is
//! notified (reading nothing, writing the status and the used entry) and answers the start's
//! query with one playback stream. So the time is the driver's posting (header, descriptors,
//! the notification) and completion handling (used entry, status check), plus that minimum.
//!
//! The device also checks where each period's audio is: every byte it would play must be read
//! in place from the stream's buffer. Bytes anywhere else are audio the driver copied.

use std::hint::black_box;
use std::ptr::NonNull;
use std::time::Instant;

use portcls_sim::virtio_pci::{self, QueueConfig, VirtioDevice, VirtioPci};
use wavert_sample::backend::virtio::device::{
    Bars, DmaBlock, DmaMemory, MAX_PIECES, Piece, Report, SoundDevice, period_pieces,
};
use wavert_sample::backend::virtio::sound;

use crate::{median_of_five, row};

/// The machine's memory, as the device sees it: device address = host address.
struct Arena {
    words: Vec<u128>,
    next: usize,
}

impl Arena {
    fn base(&mut self) -> *mut u8 {
        self.words.as_mut_ptr().cast()
    }

    fn bytes(&self) -> usize {
        self.words.len() * 16
    }
}

impl DmaMemory for Arena {
    fn allocate(&mut self, bytes: usize) -> Option<DmaBlock> {
        let at = self.next.next_multiple_of(4096);
        if at + bytes > self.bytes() {
            return None;
        }
        self.next = at + bytes;
        // SAFETY: `at` is inside the arena (checked above).
        let host = unsafe { self.base().add(at) };
        Some(DmaBlock {
            host: NonNull::new(host)?,
            device: host as u64,
            bytes,
        })
    }

    fn free(&mut self, _block: DmaBlock) {}
}

/// The quickest possible device: see the [module](self) docs.
struct Quick {
    queues: [QueueConfig; 4],
    seen: [u16; 4],
    interrupts: [u64; 4],
    /// Where the buffer is: audio read from inside it is in place.
    buffer: (u64, u64),
    in_place: u64,
    copied: u64,
}

/// Reads a little-endian value of `N` bytes at a device address.
fn read<const N: usize>(address: u64) -> [u8; N] {
    let mut out = [0; N];
    for (i, byte) in out.iter_mut().enumerate() {
        let pointer = (address + i as u64) as *const u8;
        // SAFETY: device addresses are host addresses of the arena, and the driver only gives
        // the device addresses inside its blocks.
        *byte = unsafe { pointer.read_volatile() };
    }
    out
}

fn write(address: u64, bytes: &[u8]) {
    for (i, byte) in bytes.iter().enumerate() {
        let pointer = (address + i as u64) as *mut u8;
        // SAFETY: as in `read`.
        unsafe { pointer.write_volatile(*byte) };
    }
}

impl Quick {
    /// Completes every chain made available on `index`.
    fn serve(&mut self, index: u16) {
        let queue = self.queues[usize::from(index)];
        let avail = u16::from_le_bytes(read(queue.driver_area + 2));
        let mut seen = self.seen[usize::from(index)];
        while seen != avail {
            let slot = u64::from(seen % queue.size);
            let head = u16::from_le_bytes(read(queue.driver_area + 4 + 2 * slot));
            let written = self.complete(index, queue, head);
            let used = queue.device_area + 4 + 8 * slot;
            write(used, &u32::from(head).to_le_bytes());
            write(used + 4, &written.to_le_bytes());
            seen = seen.wrapping_add(1);
            write(queue.device_area + 2, &seen.to_le_bytes());
            self.interrupts[usize::from(index)] += 1;
        }
        self.seen[usize::from(index)] = seen;
    }

    /// Serves one chain; returns the bytes written into it.
    fn complete(&mut self, index: u16, queue: QueueConfig, head: u16) -> u32 {
        let mut descriptors = Vec::with_capacity(4);
        let mut at = head;
        loop {
            let d = queue.descriptors + 16 * u64::from(at);
            let address = u64::from_le_bytes(read(d));
            let len = u32::from_le_bytes(read(d + 8));
            let flags = u16::from_le_bytes(read(d + 12));
            descriptors.push((address, len, flags));
            if flags & 1 == 0 {
                break;
            }
            at = u16::from_le_bytes(read(d + 14));
        }
        let first_writable = descriptors
            .iter()
            .find(|(_, _, flags)| flags & 2 != 0)
            .copied();
        let Some((reply, _, _)) = first_writable else {
            return 0;
        };
        if index == sound::CONTROL_QUEUE {
            let code = u32::from_le_bytes(read(descriptors[0].0));
            write(reply, &sound::S_OK.to_le_bytes());
            if code == sound::R_PCM_INFO {
                let mut info = [0u8; sound::PCM_INFO_BYTES];
                info[8..16].copy_from_slice(&(1u64 << sound::FMT_S16).to_le_bytes());
                info[16..24].copy_from_slice(&(1u64 << sound::RATE_48000).to_le_bytes());
                info[24..27].copy_from_slice(&[sound::D_OUTPUT, 1, 2]);
                write(reply + 4, &info);
                return 4 + 32;
            }
            return 4;
        }
        // A period: the audio after the header, then the status.
        for &(address, len, flags) in &descriptors[1..descriptors.len() - 1] {
            if flags & 2 == 0 {
                let inside = address >= self.buffer.0 && address + u64::from(len) <= self.buffer.1;
                if inside {
                    self.in_place += u64::from(len);
                } else {
                    self.copied += u64::from(len);
                }
            }
        }
        let (status, _, _) = descriptors[descriptors.len() - 1];
        write(status, &sound::S_OK.to_le_bytes());
        write(status + 4, &0u32.to_le_bytes());
        8
    }
}

impl VirtioDevice for Quick {
    fn device_id(&self) -> u16 {
        25
    }
    fn features(&self) -> u64 {
        1 << 32
    }
    fn accept_features(&mut self, _features: u64) {}
    fn num_queues(&self) -> u16 {
        4
    }
    fn queue_max(&self, _index: u16) -> u16 {
        64
    }
    fn config(&self) -> Vec<u8> {
        // No jacks, one stream, no channel maps.
        vec![0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    }
    fn enable_queue(&mut self, index: u16, queue: QueueConfig) {
        self.queues[usize::from(index)] = queue;
    }
    fn notify(&mut self, index: u16) -> Result<(), String> {
        // Event buffers stay with the device, as a device with nothing to report keeps them.
        if index != sound::EVENT_QUEUE {
            self.serve(index);
        }
        Ok(())
    }
    fn take_interrupts(&mut self, index: u16) -> u64 {
        std::mem::take(&mut self.interrupts[usize::from(index)])
    }
    fn reset(&mut self) {
        self.queues = [QueueConfig::default(); 4];
        self.seen = [0; 4];
    }
}

struct Function(VirtioPci<Quick>);

impl Bars for Function {
    fn read(&mut self, _bar: u8, offset: u32, size: u8) -> u64 {
        self.0.read(offset.into(), size)
    }
    fn write(&mut self, _bar: u8, offset: u32, size: u8, value: u64) {
        self.0.write(offset.into(), size, value);
    }
}

/// The driver's device layer started on the quick device, and a buffer of four periods.
fn started(period: u32) -> Result<(Function, Arena, SoundDevice, DmaBlock), String> {
    let mut arena = Arena {
        words: vec![0; (1 << 20) / 16],
        next: 0,
    };
    let buffer = arena.allocate(4 * period as usize).ok_or("no memory")?;
    let quick = Quick {
        queues: [QueueConfig::default(); 4],
        seen: [0; 4],
        interrupts: [0; 4],
        buffer: (buffer.device, buffer.device + buffer.bytes as u64),
        in_place: 0,
        copied: 0,
    };
    let mut pci = VirtioPci::new(quick);
    pci.set_msix_enabled(true);
    let space = pci.config_space();
    let mut function = Function(pci);
    let mut bars = [0; 6];
    bars[usize::from(virtio_pci::REGISTER_BAR)] = virtio_pci::REGISTER_BAR_BYTES;
    bars[usize::from(virtio_pci::MSIX_BAR)] = virtio_pci::MSIX_BAR_BYTES;
    let device = SoundDevice::start(&mut function, &mut arena, &space, &bars, 5, &mut || false)
        .map_err(|step| format!("the device did not start: {step:?}"))?;
    Ok((function, arena, device, buffer))
}

/// Row 9: nanoseconds per period (post, notify, complete), against a memcpy of the period's
/// bytes in the same run; and the audio bytes the device found outside the buffer.
pub fn virtio_path() {
    const PERIODS: u32 = 20_000;
    const PERIOD: u32 = 3840; // 10 ms, 48 kHz 16-bit stereo
    let (mut function, mut arena, mut device, buffer) = match started(PERIOD) {
        Ok(parts) => parts,
        Err(why) => {
            row(9, "virtio path", &why, "-");
            return;
        }
    };
    let pieces: Vec<Vec<Piece>> = (0..4)
        .map(|n| {
            let mut out = [Piece { address: 0, len: 0 }; MAX_PIECES];
            let count = period_pieces(
                n * PERIOD,
                PERIOD,
                |page| Some(buffer.device + u64::from(page) * 4096),
                &mut out,
            )
            .unwrap_or(0);
            out[..count].to_vec()
        })
        .collect();
    let mut failed = 0u32;
    let mut periods = 0u64;
    let mut path = || {
        let start = Instant::now();
        for n in 0..PERIODS {
            if device
                .post_period(&mut function, 0, &pieces[(n % 4) as usize], n)
                .is_err()
            {
                failed += 1;
            }
            let done = device.completions(&mut function, |report| {
                if !matches!(report, Report::Period(completion) if completion.result.is_ok()) {
                    failed += 1;
                }
            });
            if done.is_err() {
                failed += 1;
            }
            let _ = black_box(function.0.take_interrupts());
        }
        periods += u64::from(PERIODS);
        start.elapsed().as_secs_f64() * 1e9 / f64::from(PERIODS)
    };
    let path_ns = median_of_five(&mut path);
    let from = vec![0x5Au8; PERIOD as usize];
    let mut to = vec![0u8; PERIOD as usize];
    let copy_ns = median_of_five(|| {
        let start = Instant::now();
        for _ in 0..PERIODS {
            to.copy_from_slice(black_box(&from));
            black_box(&to);
        }
        start.elapsed().as_secs_f64() * 1e9 / f64::from(PERIODS)
    })
    .max(1.0);
    row(
        9,
        "virtio path: one 10 ms period at 48 kHz stereo 16-bit, posted, notified and completed (driver side, the quickest device)",
        &format!(
            "{path_ns:.0} ns = {:.2}x a memcpy of the period ({copy_ns:.0} ns); {failed} failed",
            path_ns / copy_ns
        ),
        "reported",
    );
    let quick = function.0.device();
    let per_period = |bytes: u64| bytes / periods.max(1);
    row(
        9,
        "virtio path: bytes of audio copied per period (the device reads the rest in place from the buffer)",
        &format!(
            "{} copied, {} read in place",
            per_period(quick.copied),
            per_period(quick.in_place)
        ),
        "0",
    );
    let _ = device.stop(&mut function, &mut arena, |_, _| {});
}
