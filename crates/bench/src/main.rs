//! The measurements behind `cargo xtask bench`.
//!
//! - `portcls-bench safe N` / `portcls-bench raw N`: N rounds of registering and removing a
//!   thread and an interrupt, through the safe API or through hand-written vtable calls, both
//!   against a trivial port that answers at once. `cargo xtask bench` runs each under
//!   callgrind, collecting only inside [`safe_path`] or [`raw_path`], and compares instruction
//!   counts.
//! - `portcls-bench report`: the other rows, one per line as `row<TAB>what<TAB>measured<TAB>goal`.
//!
//! Timings compare a measurement with its reference taken in the same run, so the ratio is
//! meaningful on a noisy machine; nothing here passes or fails on time.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::c_void;
use std::hint::black_box;
use std::mem::MaybeUninit;
use std::num::NonZeroU64;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use portcls::{ComPtr, InterruptConnection, Pdo, StreamResourceManager, Thread};
use portcls_sim::{Ddi, OsProfile, Sim};
use portcls_sys::km::CONNECT_LINE_BASED;
use portcls_sys::{
    GUID, IPortClsStreamResourceManager, IPortClsStreamResourceManager2,
    IPortClsStreamResourceManager2Vtbl, IPortClsStreamResourceManagerVtbl, IUnknown, IUnknownVtbl,
    NTSTATUS, PCSTREAMRESOURCE, PCSTREAMRESOURCE_DESCRIPTOR, PDEVICE_OBJECT, PUNKNOWN, PVOID,
    STATUS_SUCCESS, ePcStreamResourceInterrupt, ePcStreamResourceThread,
};
use wavert_sample::backend::virtual_device::cable::{Cable, RING_BYTES, SharedBuffer, carry};
use wavert_sample::backend::virtual_device::dma::Dma;
use wavert_sample::backend::virtual_device::position::Clock;
use wavert_sample::backend::virtual_device::tone::{TABLE_BYTES, Tone};
use wavert_sample::format::{Format, SampleFormat};
use wavert_sample::levels::Gain;
use wavert_sample::stream_state::KsState;

mod virtio;

// ---- Counting allocator (heap use) ----

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's layout, as GlobalAlloc requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: a block this allocator (the system's) made with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

// ---- A trivial port: one object whose vtable is the v2 manager's, answering at once ----

#[repr(C)]
struct TrivialPort {
    vtable: &'static IPortClsStreamResourceManager2Vtbl,
}

portcls_sys::kernel_abi! {
    unsafe fn query(this: PUNKNOWN, _iid: *const GUID, out: *mut PVOID) -> NTSTATUS {
        // SAFETY: the library passes a writable slot.
        unsafe { out.write(this.cast()) };
        STATUS_SUCCESS
    }
}

portcls_sys::kernel_abi! {
    unsafe fn add_ref(_this: PUNKNOWN) -> u32 {
        1
    }
}

portcls_sys::kernel_abi! {
    unsafe fn release(_this: PUNKNOWN) -> u32 {
        1
    }
}

portcls_sys::kernel_abi! {
    unsafe fn add(
        _this: *mut IPortClsStreamResourceManager,
        _set: PVOID,
        _descriptor: *mut PCSTREAMRESOURCE_DESCRIPTOR,
        handle: *mut PCSTREAMRESOURCE,
    ) -> NTSTATUS {
        // SAFETY: a writable slot.
        unsafe { handle.write(std::ptr::without_provenance_mut(0x1000)) };
        STATUS_SUCCESS
    }
}

portcls_sys::kernel_abi! {
    unsafe fn remove(
        _this: *mut IPortClsStreamResourceManager,
        _handle: PCSTREAMRESOURCE,
    ) -> NTSTATUS {
        STATUS_SUCCESS
    }
}

portcls_sys::kernel_abi! {
    unsafe fn add2(
        _this: *mut IPortClsStreamResourceManager2,
        _pdo: PDEVICE_OBJECT,
        _set: PVOID,
        _descriptor: *mut PCSTREAMRESOURCE_DESCRIPTOR,
        handle: *mut PCSTREAMRESOURCE,
    ) -> NTSTATUS {
        // SAFETY: a writable slot.
        unsafe { handle.write(std::ptr::without_provenance_mut(0x1000)) };
        STATUS_SUCCESS
    }
}

static TRIVIAL_VTBL: IPortClsStreamResourceManager2Vtbl = IPortClsStreamResourceManager2Vtbl {
    base__: IPortClsStreamResourceManagerVtbl {
        base__: IUnknownVtbl {
            QueryInterface: query,
            AddRef: add_ref,
            Release: release,
        },
        AddStreamResource: add,
        RemoveStreamResource: remove,
    },
    AddStreamResource2: add2,
};

/// Stand-ins for kernel objects: only their addresses are used.
static OBJECTS: [u64; 3] = [0; 3];

fn object(index: usize) -> *mut c_void {
    std::ptr::from_ref(&OBJECTS[index]).cast_mut().cast()
}

/// N rounds through the safe API: scoped registration of a thread and of an interrupt,
/// each removed when dropped.
#[inline(never)]
fn safe_path(manager: &StreamResourceManager, thread: &Thread, irq: &InterruptConnection, n: u64) {
    for _ in 0..n {
        // Dropping removes; the calls through the port's vtable cannot be optimised away.
        drop(manager.register_thread(black_box(thread)));
        drop(manager.register_interrupt(black_box(irq)));
    }
}

/// The same work as raw vtable calls, as a careful C driver would write it.
#[inline(never)]
fn raw_path(manager: *mut IPortClsStreamResourceManager2, pdo: PDEVICE_OBJECT, n: u64) {
    // SAFETY: the trivial port, a live object.
    let vtable = unsafe { (*manager).lpVtbl };
    // SAFETY: its static vtable.
    let vtable = unsafe { &*vtable };
    for _ in 0..n {
        for kind in [ePcStreamResourceThread, ePcStreamResourceInterrupt] {
            let mut slot = MaybeUninit::<PCSTREAMRESOURCE_DESCRIPTOR>::uninit();
            let descriptor = PCSTREAMRESOURCE_DESCRIPTOR::init_in_place(&mut slot);
            descriptor.Pdo = pdo;
            descriptor.Type = kind;
            if kind == ePcStreamResourceThread {
                descriptor.Resource.Thread = black_box(object(1)).cast();
            } else {
                descriptor.Resource.Interrupt.Version = CONNECT_LINE_BASED;
                descriptor.Resource.Interrupt.Generic = black_box(object(2));
            }
            let mut handle: PCSTREAMRESOURCE = null_mut();
            // SAFETY: a live manager, a valid descriptor and a writable handle slot.
            let status = unsafe {
                (vtable.AddStreamResource2)(manager, pdo, null_mut(), descriptor, &raw mut handle)
            };
            if status >= 0 && !handle.is_null() {
                // SAFETY: the handle the add returned.
                let removed =
                    unsafe { (vtable.base__.RemoveStreamResource)(manager.cast(), handle) };
                black_box(removed);
            }
        }
    }
}

/// The library's pieces around the trivial port.
struct Library {
    manager: StreamResourceManager,
    thread: Thread,
    irq: InterruptConnection,
    raw: *mut IPortClsStreamResourceManager2,
    pdo: PDEVICE_OBJECT,
}

fn library() -> Library {
    let port = Box::leak(Box::new(TrivialPort {
        vtable: &TRIVIAL_VTBL,
    }));
    let raw = std::ptr::from_mut(port);
    // SAFETY: the trivial port is a live object with an IUnknown-led vtable, never freed.
    let unknown = unsafe { ComPtr::<IUnknown>::from_raw(raw.cast()) }.expect("non-null");
    let pdo_raw: PDEVICE_OBJECT = object(0).cast();
    // SAFETY: a stand-in PDO; the trivial port only passes it on.
    let pdo = unsafe { Pdo::from_raw(pdo_raw) }.expect("non-null");
    let manager = StreamResourceManager::new(&unknown, pdo);
    // The trivial port counts no references; keep the ComPtr from calling Release twice.
    let _ = unknown.into_raw();
    // SAFETY: stand-ins the trivial port never dereferences; they are never released (see main).
    let thread = unsafe { Thread::from_raw(object(1).cast()) }.expect("non-null");
    // SAFETY: as above.
    let irq =
        unsafe { InterruptConnection::from_raw(CONNECT_LINE_BASED, object(2)) }.expect("non-null");
    Library {
        manager,
        thread,
        irq,
        raw: raw.cast(),
        pdo: pdo_raw,
    }
}

fn row(row: u32, what: &str, measured: &str, goal: &str) {
    println!("{row}\t{what}\t{measured}\t{goal}");
}

/// Row 2: heap use.
fn heap(lib: &Library) {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    safe_path(&lib.manager, &lib.thread, &lib.irq, 10_000);
    let library = ALLOCATIONS.load(Ordering::Relaxed) - before;
    row(
        2,
        "heap: library allocations, 10 000 register/remove rounds",
        &library.to_string(),
        "0",
    );

    let sim = Sim::new(OsProfile::Win10_1511);
    let _ = sim.load_driver(wavert_sample::adapter::DriverEntry);
    let Ok(device) = sim.plug_in() else {
        row(2, "heap: sample", "device did not start", "-");
        return;
    };
    let _ = sim.start_device(&device);
    let pool = |sim: &Sim| {
        sim.trace()
            .iter()
            .filter(|e| matches!(e.ddi, Ddi::ExAllocatePoolWithTag | Ddi::ExAllocatePool2))
            .count()
    };
    let before = pool(&sim);
    let format = format_bytes(Format::PREFERRED);
    let stream = sim.open_stream(device.fdo, "WaveSpeaker", 0, &format);
    let Ok(mut stream) = stream else {
        row(2, "heap: sample", "stream did not open", "-");
        return;
    };
    let _ = stream.allocate_buffer(2, 1920);
    let _ = stream.walk_to(3);
    let opened = pool(&sim) - before;
    sim.advance(10_000_000);
    let per_period = pool(&sim) - before - opened;
    stream.close();
    row(
        2,
        "heap: sample pool allocations per stream open..RUN..close (stream object, tone table, engine)",
        &opened.to_string(),
        "reported",
    );
    row(
        2,
        "heap: sample pool allocations during 1 s of periods",
        &per_period.to_string(),
        "0",
    );
    sim.remove_device(device.fdo);
}

fn format_bytes(format: Format) -> Vec<u8> {
    let mut out = vec![0u8; 104];
    let written = format.write_extensible(&mut out).unwrap_or(0);
    out.truncate(written);
    out
}

/// Row 3: one 10 ms period of the data path for every supported format at both rates: the
/// loopback (the render engine's period into the cable, then the capture engine's out of it,
/// the driver's own `cable::carry` on both), and the capture engine alone when nothing plays
/// (the tone), each against a plain `memcpy` of the period's bytes in the same run; and the
/// heap allocations over all the periods (the driver allocates nothing there).
fn dma_work() {
    let mut allocations = 0usize;
    let mut worst: f64 = 0.0;
    let mut periods_run = 0u64;
    for sample in SampleFormat::ALL {
        for rate in [48_000, 44_100] {
            if let Ok(format) = Format::new(sample, 2, rate) {
                let (loopback, tone, copy, periods, allocated) = data_path(format);
                periods_run += periods;
                allocations += allocated;
                // The loopback moves the period's bytes twice (into the cable, out of it): its
                // memcpy is of those bytes, two periods' worth.
                let (loopback_ratio, tone_ratio) = (loopback / (2.0 * copy), tone / copy);
                worst = worst.max(loopback_ratio).max(tone_ratio);
                row(
                    3,
                    &format!("data path, one 10 ms period at {rate} Hz stereo {sample:?}"),
                    &format!(
                        "loopback (render period in, capture period out) {loopback:.0} ns = {loopback_ratio:.2}x a memcpy of both periods' bytes; tone (capture, nothing plays) {tone:.0} ns = {tone_ratio:.2}x a memcpy of the period ({copy:.0} ns)"
                    ),
                    "<= 4x the memcpy of the same bytes",
                );
            }
        }
    }
    row(
        3,
        "data path: heap allocations during the periods above",
        &format!(
            "{allocations} in {periods_run} periods (worst ratio of the rows above: {worst:.2}x)"
        ),
        "0",
    );
    let wide = Format::new(SampleFormat::Float32, 8, 192_000);
    row(
        3,
        "DMA period, 10 ms at 192 kHz 8-channel float",
        &match wide {
            Ok(_) => "measurable".to_owned(),
            Err(e) => format!("n/a: the sample streams stereo 44.1/48 kHz only ({e})"),
        },
        "reported",
    );
}

/// A stream's DMA in RUN from counter 0, with a 20 ms buffer and two notifications.
fn running_dma(format: Format, capture: bool) -> (Dma, Vec<u8>) {
    let frequency = NonZeroU64::new(10_000_000).expect("non-zero");
    let mut dma = Dma::new(format, capture, frequency);
    let size = dma
        .buffer_size(format.rate() / 50 * format.bytes_per_frame(), 2)
        .unwrap_or(9_600);
    let _ = dma.attach_buffer(size, 2);
    for state in [KsState::Acquire, KsState::Pause, KsState::Run] {
        let _ = dma.set_state(state, 0);
    }
    (dma, vec![0u8; size as usize])
}

fn shared(buffer: &mut [u8]) -> SharedBuffer {
    SharedBuffer {
        address: buffer.as_mut_ptr(),
        bytes: u32::try_from(buffer.len()).unwrap_or(0),
    }
}

/// Nanoseconds per period of the loopback, of the tone, and of a memcpy of the period's
/// bytes, and the periods run (the medians of five runs each).
fn data_path(format: Format) -> (f64, f64, f64, u64, usize) {
    const PERIODS: u32 = 4_000;
    const PERIOD_TICKS: u64 = 100_000; // 10 ms
    let mut in_loops = 0usize;
    let mut ring = vec![0u8; RING_BYTES];
    let mut table = vec![0u8; TABLE_BYTES];
    let (mut render, mut render_buffer) = running_dma(format, false);
    let (mut capture, mut capture_buffer) = running_dma(format, true);
    for (k, b) in render_buffer.iter_mut().enumerate() {
        *b = k.to_le_bytes()[0];
    }
    let mut t = 0u64;
    let mut loopback = || {
        let mut cable = Cable::new(ring.as_mut_slice());
        cable.set_playing(true);
        let mut tone: Tone<1000, -600, &mut [u8]> = Tone::with_table(format, table.as_mut_slice());
        let allocations = ALLOCATIONS.load(Ordering::Relaxed);
        let start = Instant::now();
        for _ in 0..PERIODS {
            t += PERIOD_TICKS;
            let work = render.advance(t);
            // SAFETY: a live buffer of its length.
            unsafe {
                carry(
                    &mut cable,
                    &mut tone,
                    false,
                    format,
                    &work,
                    shared(&mut render_buffer),
                    Gain::UNITY,
                );
            }
            let work = capture.advance(t);
            // SAFETY: as above.
            unsafe {
                carry(
                    &mut cable,
                    &mut tone,
                    true,
                    format,
                    &work,
                    shared(&mut capture_buffer),
                    Gain::UNITY,
                );
            }
            black_box(&capture_buffer);
        }
        let ns = start.elapsed().as_secs_f64() * 1e9 / f64::from(PERIODS);
        in_loops += ALLOCATIONS.load(Ordering::Relaxed) - allocations;
        ns
    };
    let loopback_ns = median_of_five(&mut loopback);
    let (mut capture, mut capture_buffer) = running_dma(format, true);
    let mut ring = vec![0u8; RING_BYTES];
    let mut table = vec![0u8; TABLE_BYTES];
    let mut t = 0u64;
    let mut tone_only = || {
        let mut cable = Cable::new(ring.as_mut_slice());
        let mut tone: Tone<1000, -600, &mut [u8]> = Tone::with_table(format, table.as_mut_slice());
        let allocations = ALLOCATIONS.load(Ordering::Relaxed);
        let start = Instant::now();
        for _ in 0..PERIODS {
            t += PERIOD_TICKS;
            let work = capture.advance(t);
            // SAFETY: a live buffer of its length.
            unsafe {
                carry(
                    &mut cable,
                    &mut tone,
                    true,
                    format,
                    &work,
                    shared(&mut capture_buffer),
                    Gain::UNITY,
                );
            }
            black_box(&capture_buffer);
        }
        let ns = start.elapsed().as_secs_f64() * 1e9 / f64::from(PERIODS);
        in_loops += ALLOCATIONS.load(Ordering::Relaxed) - allocations;
        ns
    };
    let tone_ns = median_of_five(&mut tone_only);
    let bytes = (format.rate() / 100 * format.bytes_per_frame()) as usize;
    let from = vec![0x5Au8; bytes];
    let mut to = vec![0u8; bytes];
    let mut copy = || {
        let start = Instant::now();
        for _ in 0..PERIODS {
            to.copy_from_slice(black_box(&from));
            black_box(&to);
        }
        start.elapsed().as_secs_f64() * 1e9 / f64::from(PERIODS)
    };
    let copy_ns = median_of_five(&mut copy).max(1.0);
    // Five runs each of the loopback (a render and a capture period) and of the tone.
    (
        loopback_ns,
        tone_ns,
        copy_ns,
        u64::from(PERIODS) * 5 * 3,
        in_loops,
    )
}

/// Row 4: the position after 24 hours for several counter frequencies.
fn accuracy() {
    let day = 86_400u64;
    let mut worst = 0u64;
    let mut cases = 0;
    for rate in [44_100, 48_000] {
        let Ok(format) = Format::new(SampleFormat::Pcm16, 2, rate) else {
            continue;
        };
        for frequency in [10_000_000u64, 3_579_545, 24_000_001] {
            let Some(hz) = NonZeroU64::new(frequency) else {
                continue;
            };
            let mut clock = Clock::new(&format, hz);
            clock.run(0);
            // Queried every simulated second, as a client polling would.
            let mut last = 0;
            for second in 1..=day {
                last = clock.frames(second * frequency);
            }
            let expected = day * u64::from(rate);
            worst = worst.max(last.abs_diff(expected));
            cases += 1;
        }
    }
    row(
        4,
        &format!(
            "position error after 24 h ({cases} cases: 44.1/48 kHz x 10 MHz, 3.579545 MHz, 24.000001 MHz)"
        ),
        &format!("{worst} frames"),
        "0 frames",
    );
}

/// Simulated streaming seconds per wall second for one render + one capture stream, 20
/// simulated seconds on `sim`.
fn streaming_speed(sim: &Sim) -> f64 {
    let _ = sim.load_driver(wavert_sample::adapter::DriverEntry);
    let Ok(device) = sim.plug_in() else {
        return 0.0;
    };
    let _ = sim.start_device(&device);
    let format = format_bytes(Format::PREFERRED);
    let streams: Vec<_> = [("WaveSpeaker", 0), ("WaveMicrophone", 1)]
        .into_iter()
        .filter_map(|(name, pin)| {
            let mut stream = sim.open_stream(device.fdo, name, pin, &format).ok()?;
            stream.allocate_buffer(2, 1920).ok()?;
            let _ = stream.register_event();
            let _ = stream.walk_to(3);
            Some(stream)
        })
        .collect();
    let seconds: u32 = 20;
    let start = Instant::now();
    sim.advance(u64::from(seconds) * 10_000_000);
    let wall = start.elapsed().as_secs_f64();
    drop(streams);
    sim.remove_device(device.fdo);
    f64::from(seconds) / wall
}

/// The median of five runs of `run`.
fn median_of_five(mut run: impl FnMut() -> f64) -> f64 {
    let mut speeds: Vec<f64> = (0..5).map(|_| run()).collect();
    speeds.sort_by(f64::total_cmp);
    speeds[2]
}

/// Rows 6 and 8: simulated streaming seconds per wall second (one render + one capture
/// stream), with the host scheduling the threads and under the deterministic scheduler.
fn simulator_speed() {
    let host = median_of_five(|| streaming_speed(&Sim::new(OsProfile::Win10_1511)));
    row(
        6,
        "simulator: streaming seconds per wall second (render + capture, 2.5 ms engine periods; median of 5 x 20 s)",
        &format!("{host:.0}x real time"),
        ">= 300x (24 h in < 5 min)",
    );
    let under = |schedule: portcls_sim::Schedule| {
        median_of_five(|| streaming_speed(&Sim::new_deterministic(OsProfile::Win10_1511, schedule)))
    };
    let random = under(portcls_sim::Schedule::random(1));
    let pct = under(portcls_sim::Schedule::pct(1, 3, 2_000));
    row(
        8,
        "simulator, deterministic scheduler (one thread at a time, a choice at every call), random / PCT schedules: as row 6",
        &format!(
            "{random:.0}x / {pct:.0}x real time ({:.2} / {:.2} of row 6)",
            random / host,
            pct / host
        ),
        "reported",
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let lib = library();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["safe", n] => safe_path(&lib.manager, &lib.thread, &lib.irq, n.parse().unwrap_or(1)),
        ["raw", n] => raw_path(lib.raw, lib.pdo, n.parse().unwrap_or(1)),
        ["report"] => {
            heap(&lib);
            dma_work();
            accuracy();
            simulator_speed();
            virtio::virtio_path();
        }
        _ => {
            eprintln!("usage: portcls-bench safe N | raw N | report");
            std::process::exit(2);
        }
    }
    // The stand-ins are not kernel objects: give them up without dereferencing or
    // disconnecting.
    let Library { thread, irq, .. } = lib;
    let _ = thread.into_raw();
    let _ = irq.into_raw();
}
