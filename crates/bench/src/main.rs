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
use wavert_sample::dma::Dma;
use wavert_sample::format::{Format, SampleFormat};
use wavert_sample::position::Clock;
use wavert_sample::stream_state::KsState;
use wavert_sample::tone::Tone;

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
        "heap: sample pool allocations per stream open..RUN..close (stream object, engine)",
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

/// Row 3: one period of the capture engine's work (advance + tone into the buffer) against
/// writing the same bytes with a plain fill, at both rates.
fn dma_work() {
    for rate in [48_000, 44_100] {
        if let Ok(format) = Format::new(SampleFormat::Pcm16, 2, rate) {
            dma_period(format);
        }
    }
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

fn dma_period(format: Format) {
    let frequency = NonZeroU64::new(10_000_000).expect("non-zero");
    let mut dma = Dma::new(format, true, frequency);
    let size = dma
        .buffer_size(format.rate() / 50 * format.bytes_per_frame(), 2)
        .unwrap_or(9_600);
    let _ = dma.attach_buffer(size, 2);
    for state in [KsState::Acquire, KsState::Pause, KsState::Run] {
        let _ = dma.set_state(state, 0);
    }
    let mut tone: Tone = Tone::new(format);
    let mut buffer = vec![0u8; size as usize];
    let periods: u32 = 20_000;
    let period_ticks = 100_000; // 10 ms
    let start = Instant::now();
    for i in 1..=u64::from(periods) {
        let work = dma.advance(i * period_ticks);
        for span in [work.copy.first, work.copy.second] {
            if let Some(bytes) = buffer.get_mut(span.range()) {
                tone.fill(bytes);
            }
        }
        black_box(&buffer);
    }
    let engine = start.elapsed().as_secs_f64() * 1e9 / f64::from(periods);
    let frames_per_period = format.rate() / 100;
    let bytes_per_period = (frames_per_period * format.bytes_per_frame()) as usize;
    let start = Instant::now();
    for i in 0..periods as usize {
        let at = (i * bytes_per_period) % buffer.len();
        let end = (at + bytes_per_period).min(buffer.len());
        if let Some(bytes) = buffer.get_mut(at..end) {
            bytes.fill(black_box(i.to_le_bytes()[0]));
        }
        black_box(&buffer);
    }
    let floor = start.elapsed().as_secs_f64() * 1e9 / f64::from(periods);
    let share = engine / 10_000_000.0 * 100.0;
    row(
        3,
        &format!(
            "DMA period, 10 ms at {} Hz stereo 16-bit (capture: advance + tone)",
            format.rate()
        ),
        &format!(
            "{engine:.0} ns/period, {:.1} ns/frame, {share:.4} % of the period, {:.1}x a plain fill ({floor:.0} ns)",
            engine / f64::from(frames_per_period),
            engine / floor.max(1.0)
        ),
        "< 0.05 % of the period (48 kHz)",
    );
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
