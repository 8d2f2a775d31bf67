//! How deep the driver's own code runs on the kernel stack, per entry point.
//!
//! A Windows kernel thread has [`KERNEL_STACK_SIZE`] bytes of stack, and a driver shares it
//! with the kernel, PortCls and whatever called them. When the model runs a driver *image*
//! ([`Sim::load_image`]: the shipped release build), it measures, for every routine of the
//! driver it calls (`DriverEntry`, `AddDevice`, `IRP_MJ_PNP`, `StartDevice`, each miniport,
//! stream and power method, `IUnknown` methods, property handlers, thread start routines,
//! `DriverUnload`), how many bytes below the caller's stack pointer the driver's code touched.
//! [`Sim::stack_usage`] reports the deepest figure seen per entry point. Host builds of the
//! driver are debug builds whose frames mean nothing for the image, so they are not measured.
//!
//! # How
//! Every call from the model into the driver goes through `call_driver`. When the machine
//! measures, it reads the stack pointer exactly (inline assembly), paints the [`WINDOW`] bytes
//! below it with a pattern, calls the routine, and scans the window from the bottom for the
//! first word that no longer holds the pattern: the entry's depth is the stack pointer minus
//! that word's address. The paint, the call and the scan are inlined into one frame, with no
//! call between them but the driver's, so nothing of the model lands in the window on the way
//! in or out (the figure includes the return address the call pushes, as on Windows).
//!
//! The driver calls the model back (pool, events, locks, `PcNewPort`, `memcpy`, ...), and those
//! routines run on the same stack, below the driver's frames: they must not count as the
//! driver's. Every model routine the driver can call enters through `ModelEntry` (`with_world`
//! does it for all of them that use it; the others wrap their body in `model`, or in
//! `model_leaf` for the shallow ones the driver calls often, which scan and repaint only the
//! 4 KiB below their entry). At its entry, before any call, the routine scans the window
//! (exactly: nothing of the model is below its stack pointer yet) to keep what the driver
//! touched so far, which the repaint would otherwise erase; after its work, as the last thing,
//! it repaints the window up to its own stack pointer, erasing every frame its work left.
//!
//! What stays is the model routine's own frames between the driver's stack pointer at its call
//! and the routine's entry (the exported routine's frame and `with_world`'s): when the driver's
//! deepest point is a call into the model, [`StackUse::bytes`] overstates the driver's use by
//! that much. [`StackUse::model_frames`] says how much it was, and
//! [`StackUse::deepest_model_call`] is the driver's own depth at its deepest call into the
//! model, found from the return address into the driver that the model routine's frames hold
//! (on x86-64 the one the driver's `call` pushed, so exact; on arm64 the link register the
//! routine saved in its frame record, exact when that record tops its frame, as it does at
//! opt-level 0). So the driver's use at its calls lies between the two figures. With the model
//! built for tests (opt-level 0), and on x86-64 the Windows convention (every routine saves
//! `xmm6`-`xmm15`), those frames are 400 to 530 bytes on x86-64 and 250 to 400 on arm64: for a
//! routine that uses little stack of its own, `bytes` is mostly them, and `deepest_model_call`
//! is the better figure. A call without a return address into the driver above the routine's
//! entry is a tail call (the driver's frames are gone): it counts as depth 0.
//!
//! Entries nest: `IRP_MJ_PNP` calls `PcDispatchIrp`, which calls `StartDevice`, which calls
//! `IPort::Init`, which calls the miniport's `Init`. A nested entry is measured on its own, and
//! counts for its parent as the parent's depth at the model call it ran under plus the nested
//! entry's own figure ([`StackUse::bytes`]: the driver's frames only, the model's between them
//! left out), and as the lowest word touched ([`StackUse::span`]: everything on the stack while
//! the entry ran, the model's frames between nested entries included).
//!
//! # Threads
//! Each thread measures on its own stack: the model's system threads (the driver's engine thread
//! runs its DMA periods inside its start routine for its whole life) are real threads, so their
//! start routine is one entry, counted when it returns. The entries active on a thread are kept
//! in a thread-local stack; the windows of active entries are also in a process-wide table so
//! that a model routine finds its window without a call (a call would leave a frame below its
//! stack pointer before the scan). Results go to the machine under their own lock.
//!
//! # Limits
//! The figure is what was touched: a frame the driver reserves but never writes is not seen
//! (Windows drivers probe frames over a page with `__chkstk`, which touches each page). A signal
//! handler running on the thread's stack during an entry would show as use. Entries need
//! `2 * WINDOW` plus a guard margin of stack below their caller (the model's threads have
//! 2 MiB); an entry without it, or beyond 64 entries active at once in the process, is not
//! measured. The measurement exists on Linux on x86-64 and arm64; elsewhere, and under Miri
//! (which runs no inline assembly), `call_driver` just calls and nothing is reported. Only the
//! driver's code is an entry: PortCls's own `DriverUnload` and `PcDispatchIrp`, which the model
//! calls when the driver installed none of its own, are the model's.
// Inlining is load-bearing here (see `machine`); where nothing is measured, the bookkeeping is
// never reached.
#![allow(clippy::inline_always)]
#![cfg_attr(
    not(all(
        not(miri),
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    )),
    allow(dead_code)
)]

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::Sim;
use crate::world::World;

/// Bytes below an entry's stack pointer that are painted and scanned (48 KiB, twice the x64
/// [`KERNEL_STACK_SIZE`]). A deeper use is reported as [`StackUse::overflow`].
pub const WINDOW: usize = 48 * 1024;

/// `KERNEL_STACK_SIZE` on x64 Windows: a kernel thread's stack.
pub const KERNEL_STACK_SIZE_X64: usize = 0x6000;

/// `KERNEL_STACK_SIZE` on arm64 Windows.
pub const KERNEL_STACK_SIZE_ARM64: usize = 0x8000;

/// `KERNEL_STACK_SIZE` of the Windows architecture the host runs images of.
pub const KERNEL_STACK_SIZE: usize = if cfg!(target_arch = "aarch64") {
    KERNEL_STACK_SIZE_ARM64
} else {
    KERNEL_STACK_SIZE_X64
};

/// Whether this build measures at all (Linux on x86-64 or arm64, not Miri).
pub const SUPPORTED: bool = cfg!(all(
    not(miri),
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
));

/// Stack an entry needs above its thread's stack limit beyond `2 * WINDOW` to be measured.
const GUARD: usize = 16 * 1024;

/// How far above a model routine's stack pointer the driver's return address is looked for.
const RESIDUE_LIMIT: usize = 4096;

/// How many entries can be measured at once in the process.
const SLOTS: usize = 64;

/// How far below its entry a leaf model routine ([`model_leaf`]) may leave frames: its scan and
/// its repaint cover only this band of the window.
const LEAF_BAND: usize = 4096;

/// Measured entries active in the process (the model routines' fast check).
static ACTIVE_ENTRIES: AtomicUsize = AtomicUsize::new(0);

/// The windows of the active entries: `[floor, floor + WINDOW)` as (floor, floor + WINDOW)
/// pairs, `(0, 0)` when free. Read by [`ModelEntry::begin`] without a call.
static WINDOWS: [AtomicUsize; 2 * SLOTS] = [const { AtomicUsize::new(0) }; 2 * SLOTS];

/// The deepest stack use seen at one entry point of the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackUse {
    /// The entry point (`DriverEntry`, `IMiniportWaveRTStream::SetState`, `ThreadStart`, ...).
    pub entry: String,
    /// The driver's own use: bytes from the caller's stack pointer to the deepest word the
    /// driver's code touched, nested entries counted through the driver's depth at the model
    /// call they ran under (the model's frames between them left out). An upper bound: when
    /// the driver's deepest point is a call into the model it includes that routine's own
    /// frames, at most [`StackUse::model_frames`] bytes (per level of nesting).
    pub bytes: usize,
    /// Everything the stack held while the entry ran: bytes from the caller's stack pointer to
    /// the deepest word touched, the model's frames between nested entries included.
    pub span: usize,
    /// The driver's depth at its deepest call into the model (0 if it made none): bytes from
    /// the caller's stack pointer to the driver's stack pointer at the call, found from the
    /// return address into the driver (see [the module](self)); a lower bound of its use. A
    /// tail call into the model counts as 0.
    pub deepest_model_call: usize,
    /// The most bytes of a model routine's own frames (from its entry up to the driver's stack
    /// pointer at the call, or to the entry point's caller after a tail call) seen at one
    /// call, which [`StackUse::bytes`] may include.
    pub model_frames: usize,
    /// How many calls returned.
    pub calls: u64,
    /// Whether a call touched the bottom word of the [`WINDOW`]: the driver used at least
    /// `WINDOW` bytes, and `bytes` is `WINDOW`, not a measurement.
    pub overflow: bool,
}

/// The figures of one call.
#[derive(Clone, Copy, Debug)]
struct Figures {
    bytes: usize,
    span: usize,
    at_call: usize,
    model_frames: usize,
    overflow: bool,
}

/// What a machine measured (behind its own lock: results arrive from several threads).
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    measuring: AtomicBool,
    /// The driver's code (`[start, end)`): where its return addresses point.
    code: Mutex<(usize, usize)>,
    usage: Mutex<BTreeMap<String, StackUse>>,
}

impl Recorder {
    /// Starts measuring the driver whose code lies in `[code.0, code.1)` (a no-op where the
    /// measurement does not exist).
    pub(crate) fn start(&self, code: (usize, usize)) {
        *self.code.lock().unwrap_or_else(PoisonError::into_inner) = code;
        self.measuring.store(SUPPORTED, Ordering::SeqCst);
    }

    /// Resumes (`on`) or pauses measuring a driver [`Recorder::start`] started measuring.
    fn set(&self, on: bool) {
        let started = self.code() != (0, 0);
        self.measuring
            .store(on && started && SUPPORTED, Ordering::SeqCst);
    }

    /// Whether calls into the driver are measured.
    pub(crate) fn measuring(&self) -> bool {
        self.measuring.load(Ordering::SeqCst)
    }

    fn code(&self) -> (usize, usize) {
        *self.code.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, entry: &str, figures: Figures) {
        let mut usage = self.usage.lock().unwrap_or_else(PoisonError::into_inner);
        let total = usage.entry(entry.to_owned()).or_insert_with(|| StackUse {
            entry: entry.to_owned(),
            bytes: 0,
            span: 0,
            deepest_model_call: 0,
            model_frames: 0,
            calls: 0,
            overflow: false,
        });
        total.bytes = total.bytes.max(figures.bytes);
        total.span = total.span.max(figures.span);
        total.deepest_model_call = total.deepest_model_call.max(figures.at_call);
        total.model_frames = total.model_frames.max(figures.model_frames);
        total.calls += 1;
        total.overflow |= figures.overflow;
    }

    /// The figures so far, by entry point.
    pub(crate) fn usage(&self) -> Vec<StackUse> {
        self.usage
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }
}

impl Sim {
    /// The deepest stack the driver's own code used, per entry point, sorted by entry point
    /// (see [the module](crate::stack) for what is measured and how). Only a driver loaded
    /// with [`Sim::load_image`] is measured; the list is empty for a host build, under Miri,
    /// and where the measurement does not exist ([`SUPPORTED`]). An entry is counted when it
    /// returns (a system thread's start routine when the thread ends).
    #[must_use]
    pub fn stack_usage(&self) -> Vec<StackUse> {
        self.world.stack.usage()
    }

    /// Pauses (`false`) or resumes (`true`) measuring an image's stack use. The measurement
    /// paints and scans a window of the stack at every call into the driver and at every
    /// model routine it calls; a long run that does not need the figures (a soak) turns it
    /// off after loading. Nothing changes for a host build, which is never measured.
    pub fn measure_stack(&self, on: bool) {
        self.world.stack.set(on);
    }
}

/// A routine of the driver with the kernel's convention, as the model calls it: the function
/// pointer, with its arguments as a tuple.
pub(crate) trait DriverFn<A>: Copy {
    /// What the routine returns.
    type Output;

    /// Calls the routine (inlined into [`call_driver`]'s frame, so that nothing of the model
    /// is between that frame and the driver's).
    ///
    /// # Safety
    /// The routine's own contract.
    unsafe fn invoke(self, args: A) -> Self::Output;
}

macro_rules! driver_fn {
    ($($arg:ident: $ty:ident),*) => {
        impl<R, $($ty),*> DriverFn<($($ty,)*)> for portcls_sys::kernel_abi!(unsafe fn($($ty),*) -> R) {
            type Output = R;

            #[inline(always)]
            unsafe fn invoke(self, ($($arg,)*): ($($ty,)*)) -> R {
                // SAFETY: the caller's contract.
                unsafe { self($($arg),*) }
            }
        }
    };
}

driver_fn!();
driver_fn!(a: A);
driver_fn!(a: A, b: B);
driver_fn!(a: A, b: B, c: C);
driver_fn!(a: A, b: B, c: C, d: D);
driver_fn!(a: A, b: B, c: C, d: D, e: E);
driver_fn!(a: A, b: B, c: C, d: D, e: E, f: F);
driver_fn!(a: A, b: B, c: C, d: D, e: E, f: F, g: G);

/// A measured entry in progress on this thread.
#[derive(Debug)]
struct Active {
    entry: String,
    /// The caller's stack pointer (the driver's frames are below it).
    sp: usize,
    /// The window's bottom: `sp - WINDOW`.
    floor: usize,
    /// Its slot in [`WINDOWS`].
    slot: usize,
    /// The driver's code.
    code: (usize, usize),
    /// The lowest word the driver was seen to touch before a model routine ran.
    lowest: usize,
    /// The driver's lowest stack pointer at a call into the model.
    call_sp: usize,
    /// The most bytes of a model routine's own frames at one call (this entry's or a nested
    /// entry's).
    residue: usize,
    /// Nested entries' figures, on top of this entry's depth at their model call.
    nested_bytes: usize,
    nested_at_call: usize,
    /// The lowest word nested entries touched.
    nested_lowest: usize,
    overflow: bool,
    /// How many model routines this entry is inside (0: the driver runs).
    model_depth: u32,
    /// The driver's stack pointer at the outermost model routine it is in now: exact when its
    /// return address was found, else the routine's stack pointer (an upper bound of its depth).
    open_call: usize,
    /// As `open_call`, but the entry's own stack pointer when the return address was not found
    /// (a lower bound of its depth).
    open_call_low: usize,
}

impl Active {
    /// The call's figures, `lowest` being what the final scan found.
    fn figures(&self, lowest: usize) -> Figures {
        let lowest = self.lowest.min(lowest);
        let overflow = self.overflow || lowest <= self.floor;
        let lowest = lowest.max(self.floor);
        let own = self.sp - lowest;
        Figures {
            bytes: own.max(self.nested_bytes),
            span: self.sp - lowest.min(self.nested_lowest),
            at_call: (self.sp - self.call_sp).max(self.nested_at_call),
            model_frames: self.residue,
            overflow,
        }
    }

    /// Counts a nested entry that just returned.
    fn adopt(&mut self, child_sp: usize, child: Figures) {
        let depth = self.sp.saturating_sub(self.open_call);
        let least = self.sp.saturating_sub(self.open_call_low);
        self.nested_bytes = self.nested_bytes.max(depth + child.bytes);
        self.nested_at_call = self.nested_at_call.max(least + child.at_call);
        self.nested_lowest = self.nested_lowest.min(child_sp - child.span);
        self.residue = self.residue.max(child.model_frames);
        self.overflow |= child.overflow;
    }
}

thread_local! {
    /// The measured entries active on this thread, outermost first.
    static ACTIVE: RefCell<Vec<Active>> = const { RefCell::new(Vec::new()) };
    /// The lowest address of this thread's stack, once asked.
    static STACK_LOW: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Calls a routine of the driver, measuring its stack use when the machine measures (see [the
/// module](self)). `entry` names the entry point in [`Sim::stack_usage`].
///
/// # Safety
/// `routine` may be called with `args` (its own contract).
pub(crate) unsafe fn call_driver<A, F: DriverFn<A>>(
    world: &World,
    entry: &str,
    routine: F,
    args: A,
) -> F::Output {
    crate::sched::point(world, entry);
    if !world.stack.measuring() {
        // SAFETY: the caller's contract.
        return unsafe { routine.invoke(args) };
    }
    let sp = machine::sp();
    let Some(floor) = enter(world, entry, sp) else {
        // SAFETY: the caller's contract.
        return unsafe { routine.invoke(args) };
    };
    // From the paint to the scan nothing runs but the driver: both are inline assembly and the
    // call is inlined, all in this frame.
    // SAFETY: `enter` checked that [floor, sp) lies in this thread's stack above its guard;
    // everything below this frame's stack pointer is dead.
    unsafe { machine::paint(floor) };
    // SAFETY: the caller's contract.
    let output = unsafe { routine.invoke(args) };
    // SAFETY: as for the paint (a read).
    let lowest = unsafe { machine::first_touched(floor) };
    leave(world, lowest);
    output
}

/// Sets up a measured entry: its window (`None` when it cannot be measured), its slot, and its
/// record on this thread.
#[inline(never)]
fn enter(world: &World, entry: &str, sp: usize) -> Option<usize> {
    let low = stack_low()?;
    let floor = sp.checked_sub(WINDOW)? & !15;
    if floor.checked_sub(WINDOW)? < low.checked_add(GUARD)? {
        return None;
    }
    let slot = claim_slot(floor)?;
    let code = world.stack.code();
    let pushed = ACTIVE.try_with(|active| {
        let mut active = active.borrow_mut();
        if let Some(parent) = active.last_mut()
            && parent.model_depth == 0
        {
            // Model code called the driver again without entering through a model routine:
            // keep what the parent's code left before the paint below erases it (the model's
            // frames since the parent's call included: an overestimate).
            parent.lowest = parent.lowest.min(scan(parent.floor, sp));
            parent.open_call = sp;
            parent.open_call_low = parent.sp;
        }
        active.push(Active {
            entry: entry.to_owned(),
            sp,
            floor,
            slot,
            code,
            lowest: sp,
            call_sp: sp,
            residue: 0,
            nested_bytes: 0,
            nested_at_call: 0,
            nested_lowest: sp,
            overflow: false,
            model_depth: 0,
            open_call: sp,
            open_call_low: sp,
        });
    });
    if pushed.is_err() {
        release_slot(slot);
        return None;
    }
    Some(floor)
}

/// Ends the innermost measured entry: records its figures and counts them for its parent.
#[inline(never)]
fn leave(world: &World, lowest: usize) {
    let done = ACTIVE.try_with(|active| {
        let mut active = active.borrow_mut();
        let entry = active.pop()?;
        let figures = entry.figures(lowest);
        if let Some(parent) = active.last_mut() {
            parent.adopt(entry.sp, figures);
        }
        Some((entry, figures))
    });
    if let Ok(Some((entry, figures))) = done {
        release_slot(entry.slot);
        world.stack.record(&entry.entry, figures);
    }
}

/// Ends every measured entry of this thread where it stands (the thread parks for good inside
/// a model routine, as in `PsTerminateSystemThread`, so its entries never return).
pub(crate) fn thread_parks(world: &World) {
    loop {
        let done = ACTIVE.try_with(|active| {
            let mut active = active.borrow_mut();
            let entry = active.pop()?;
            // What is below the driver's stack pointer at its call into the model is the
            // model's (what the driver touched before is in the entry's `lowest`).
            let figures = entry.figures(entry.open_call_low);
            if let Some(parent) = active.last_mut() {
                parent.adopt(entry.sp, figures);
            }
            Some((entry, figures))
        });
        let Ok(Some((entry, figures))) = done else {
            return;
        };
        release_slot(entry.slot);
        world.stack.record(&entry.entry, figures);
    }
}

/// A model routine's entry on a thread that may be measuring (see [the module](self)): 0 when
/// [`model_enter`] did not count it, [`ModelEntry::NESTED`] when it counted it inside another
/// model routine, else the floor of the window to repaint at its end.
#[derive(Clone, Copy, Debug)]
#[must_use = "a model routine ends its entry with `end` as its last step"]
pub(crate) struct ModelEntry(usize);

impl ModelEntry {
    /// Not counted: no measured entry on this thread.
    const OFF: Self = Self(0);
    /// Counted inside another model routine of the entry (nothing to repaint at its end).
    const NESTED: Self = Self(1);

    /// Begins a model routine: the first thing it does. Inlined, one block of assembly that
    /// reads the stack pointer, finds the routine's window in [`WINDOWS`] and scans it, so that
    /// nothing of the model is below the stack pointer yet; then the bookkeeping.
    #[inline(always)]
    pub(crate) fn begin() -> Self {
        machine::begin_model(0)
    }

    /// As [`ModelEntry::begin`], for a routine whose frames stay within [`LEAF_BAND`] bytes
    /// below its entry: only that band is scanned (and repainted at its end).
    #[inline(always)]
    pub(crate) fn begin_leaf() -> Self {
        machine::begin_model(LEAF_BAND)
    }

    /// Ends a model routine: the last thing it does, after its work (and every drop). Repaints
    /// the window up to the routine's stack pointer when it was the outermost.
    #[inline(always)]
    pub(crate) fn end(self) {
        if self.0 > 1 && model_leave() {
            // SAFETY: the window of the entry this routine ran in ([floor, sp) lies in this
            // thread's stack above its guard); everything below this frame is dead.
            unsafe { machine::paint(self.0) };
        } else if self.0 == 1 {
            model_leave();
        }
    }
}

/// Runs `body` as a model routine (for routines the driver calls that do not enter through
/// `with_world`, which does the same).
pub(crate) fn model<R>(body: impl FnOnce() -> R) -> R {
    let entry = ModelEntry::begin();
    let result = body();
    entry.end();
    result
}

/// Runs `body` as a leaf model routine: one that calls nothing deep (the C runtime wrappers,
/// spin locks, `KeGetCurrentIrql`), whose frames stay within [`LEAF_BAND`] bytes of its entry.
/// The driver calls these often (a bulk copy is a `memcpy`), and scanning and repainting only
/// that band keeps the measurement cheap. Were a routine to go deeper, its frames below the
/// band would count as the driver's (an overestimate, never an underestimate).
pub(crate) fn model_leaf<R>(body: impl FnOnce() -> R) -> R {
    let entry = ModelEntry::begin_leaf();
    let result = body();
    entry.end();
    result
}

/// The bookkeeping of [`ModelEntry::begin`], once its scan is done: `sp` is the routine's stack
/// pointer, `floor` the window found for it (0: none), `lowest` what the scan found, `band` the
/// bytes below `sp` it covered (0: down to the floor).
#[inline(never)]
fn model_enter(sp: usize, floor: usize, lowest: usize, band: usize) -> ModelEntry {
    let entry = ACTIVE.try_with(|active| {
        let mut active = active.borrow_mut();
        let entry = active.last_mut()?;
        entry.model_depth += 1;
        if entry.model_depth > 1 {
            return Some(ModelEntry::NESTED);
        }
        // What the end repaints: what the scan covered.
        let repaint = if band == 0 {
            entry.floor
        } else {
            entry.floor.max(sp.saturating_sub(band))
        };
        let lowest = if floor == entry.floor {
            lowest
        } else {
            // Not this entry's window (the driver called the model below its window, or a
            // stale table entry): scan now, this routine's frames included.
            scan(repaint, sp)
        };
        if sp < entry.floor {
            entry.overflow = true;
        }
        if lowest < sp {
            entry.lowest = entry.lowest.min(lowest);
        }
        // The driver's stack pointer at its call. Without a return address into the driver the
        // call was a tail call (the driver's frames are gone: it used nothing at that point),
        // or one the search does not recognise: for the lower bound the driver is at its entry,
        // for the upper bounds (its depth under which nested entries run, and the model's
        // frames `bytes` may include) at this routine's stack pointer.
        let found = driver_sp_at_call(sp, entry.sp, entry.code);
        entry.call_sp = entry.call_sp.min(found.unwrap_or(entry.sp));
        entry.residue = entry
            .residue
            .max(found.unwrap_or(entry.sp).saturating_sub(sp));
        entry.open_call = found.unwrap_or(sp);
        entry.open_call_low = found.unwrap_or(entry.sp);
        Some(ModelEntry(repaint))
    });
    entry.ok().flatten().unwrap_or(ModelEntry::OFF)
}

/// The bookkeeping of [`ModelEntry::end`]: whether the routine was the outermost of its entry.
#[inline(never)]
fn model_leave() -> bool {
    ACTIVE
        .try_with(|active| {
            let mut active = active.borrow_mut();
            let Some(entry) = active.last_mut() else {
                return false;
            };
            entry.model_depth = entry.model_depth.saturating_sub(1);
            if entry.model_depth == 0 {
                entry.open_call = entry.sp;
                entry.open_call_low = entry.sp;
                true
            } else {
                false
            }
        })
        .unwrap_or(false)
}

/// The first word in `[floor, top)` that does not hold the pattern (`top` if none), read one by
/// one (the frames of the caller below `top`, if any, count as touched).
fn scan(floor: usize, top: usize) -> usize {
    (floor..top)
        .step_by(8)
        // SAFETY: callers pass a window of this thread's stack (mapped, above its guard).
        .find(|&address| unsafe { machine::read_word(address) } != machine::PATTERN)
        .unwrap_or(top)
}

/// The driver's stack pointer at the call into the model routine whose stack pointer is `sp`:
/// just above the return address the call pushed, the first word above `sp` (below the entry's
/// `top`) that returns into the driver's `code` after a call instruction.
fn driver_sp_at_call(sp: usize, top: usize, code: (usize, usize)) -> Option<usize> {
    let limit = top.min(sp.saturating_add(RESIDUE_LIMIT));
    let mut slot = sp;
    // A plain loop: this runs at every model call, in a build without optimisation.
    while slot < limit {
        // SAFETY: [sp, top) is this thread's live stack (the model's and the driver's frames).
        let value = unsafe { machine::read_word(slot) };
        if value >= code.0 && value < code.1 && machine::returns_after_call(value, code) {
            return Some(slot + 8);
        }
        slot += 8;
    }
    None
}

/// This thread's lowest stack address, asked once.
fn stack_low() -> Option<usize> {
    STACK_LOW
        .try_with(|cached| {
            if cached.get().is_none() {
                cached.set(query_stack_low());
            }
            cached.get()
        })
        .ok()
        .flatten()
}

#[cfg(target_os = "linux")]
fn query_stack_low() -> Option<usize> {
    let mut attributes = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
    // SAFETY: no preconditions.
    let me = unsafe { libc::pthread_self() };
    // SAFETY: `attributes` is storage for an attribute object, initialised on success.
    if unsafe { libc::pthread_getattr_np(me, attributes.as_mut_ptr()) } != 0 {
        return None;
    }
    let mut address = std::ptr::null_mut();
    let mut size = 0;
    // SAFETY: initialised by pthread_getattr_np; the out pointers are writable.
    let status = unsafe {
        libc::pthread_attr_getstack(attributes.as_ptr(), &raw mut address, &raw mut size)
    };
    // SAFETY: initialised above, destroyed once.
    unsafe { libc::pthread_attr_destroy(attributes.as_mut_ptr()) };
    (status == 0 && size > 0).then_some(address.addr())
}

#[cfg(not(target_os = "linux"))]
fn query_stack_low() -> Option<usize> {
    None
}

/// Takes a free slot of [`WINDOWS`] for the window at `floor`.
fn claim_slot(floor: usize) -> Option<usize> {
    let slot = (0..SLOTS).find(|&slot| {
        WINDOWS[2 * slot]
            .compare_exchange(0, floor, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    })?;
    WINDOWS[2 * slot + 1].store(floor + WINDOW, Ordering::SeqCst);
    ACTIVE_ENTRIES.fetch_add(1, Ordering::SeqCst);
    Some(slot)
}

fn release_slot(slot: usize) {
    ACTIVE_ENTRIES.fetch_sub(1, Ordering::SeqCst);
    WINDOWS[2 * slot + 1].store(0, Ordering::SeqCst);
    WINDOWS[2 * slot].store(0, Ordering::SeqCst);
}

/// Whether the x86-64 instruction bytes `before` (the 8 bytes before an address) end with a
/// near call (`E8 rel32`, or `FF /2` with any operand, with or without REX).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn ends_with_call(before: [u8; 8]) -> bool {
    before[3] == 0xE8 || (0..7).any(|start| decodes_to_end(&before[start..]))
}

/// Whether `code` is exactly one `FF /2` (call r/m64) instruction.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn decodes_to_end(code: &[u8]) -> bool {
    let mut at = usize::from(code.first().is_some_and(|b| (0x40..=0x4F).contains(b)));
    if code.get(at) != Some(&0xFF) {
        return false;
    }
    let Some(&modrm) = code.get(at + 1) else {
        return false;
    };
    if (modrm >> 3) & 7 != 2 {
        return false;
    }
    let (mode, rm) = (modrm >> 6, modrm & 7);
    at += 2;
    if mode != 3 && rm == 4 {
        let Some(&sib) = code.get(at) else {
            return false;
        };
        at += 1;
        if mode == 0 && sib & 7 == 5 {
            at += 4;
        }
    } else if mode == 0 && rm == 5 {
        at += 4;
    }
    at += match mode {
        1 => 1,
        2 => 4,
        _ => 0,
    };
    at == code.len()
}

/// Whether the arm64 instruction `insn` is a `BL` or a `BLR`.
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
const fn is_branch_with_link(insn: u32) -> bool {
    insn & 0xFC00_0000 == 0x9400_0000 || insn & 0xFFFF_FC1F == 0xD63F_0000
}

/// The machine-level steps, in inline assembly: each is inlined into its caller's frame and
/// touches nothing below the stack pointer but what it paints.
#[cfg(all(not(miri), target_os = "linux", target_arch = "x86_64"))]
mod machine {
    use std::arch::asm;

    use super::{ACTIVE_ENTRIES, SLOTS, WINDOW, WINDOWS};

    /// The scan (assembly text): from `rdi` (16-aligned) up to `rcx`, the first qword that is
    /// not `rax` (the pattern), left in `rdi` (`rcx` or above if none). 64 bytes per step with
    /// SSE2 (every x86-64 has it), then qword by qword. Clobbers `rdx` and `xmm0`-`xmm4`.
    macro_rules! scan {
        () => {
            concat!(
                "movq xmm0, rax\n",
                "punpcklqdq xmm0, xmm0\n",
                "22:\n",
                "lea rdx, [rdi + 64]\n",
                "cmp rdx, rcx\n",
                "ja 23f\n",
                "movdqa xmm1, xmmword ptr [rdi]\n",
                "movdqa xmm2, xmmword ptr [rdi + 16]\n",
                "movdqa xmm3, xmmword ptr [rdi + 32]\n",
                "movdqa xmm4, xmmword ptr [rdi + 48]\n",
                "pcmpeqd xmm1, xmm0\n",
                "pcmpeqd xmm2, xmm0\n",
                "pcmpeqd xmm3, xmm0\n",
                "pcmpeqd xmm4, xmm0\n",
                "pand xmm1, xmm2\n",
                "pand xmm3, xmm4\n",
                "pand xmm1, xmm3\n",
                "pmovmskb edx, xmm1\n",
                "cmp edx, 0xFFFF\n",
                "jne 23f\n",
                "add rdi, 64\n",
                "jmp 22b\n",
                "23:\n",
                "cmp rdi, rcx\n",
                "jae 24f\n",
                "cmp qword ptr [rdi], rax\n",
                "jne 24f\n",
                "add rdi, 8\n",
                "jmp 23b\n",
                "24:\n",
            )
        };
    }

    /// What an untouched word of a window holds (not a canonical address, so a driver that
    /// used one as a pointer would fault).
    pub(super) const PATTERN: usize = 0xC0DE_5EED_C0DE_5EED;

    /// The stack pointer.
    #[inline(always)]
    pub(super) fn sp() -> usize {
        let sp: usize;
        // SAFETY: copies the stack pointer to a register.
        unsafe { asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
        sp
    }

    /// [`ModelEntry::begin`](super::ModelEntry::begin): reads the stack pointer; if measured
    /// entries are active in the process, finds the innermost registered window holding it (the
    /// one with the lowest top; only a pair of the table with `top == floor + WINDOW` counts, so
    /// a pair torn by a concurrent update never names memory outside one window) and scans it
    /// up to the stack pointer; then hands over to `model_enter`.
    ///
    /// With a `band`, the scan starts `band` bytes below the stack pointer (not below the
    /// floor).
    #[inline(always)]
    pub(super) fn begin_model(band: usize) -> super::ModelEntry {
        let (sp, floor, lowest, active): (usize, usize, usize, usize);
        // SAFETY: reads the static table, and [floor, rsp) of a window holding rsp: a window is
        // registered only by `enter`, which checked that it lies in its thread's stack above
        // the guard, so it is the stack this routine runs on.
        unsafe {
            asm!(
                "mov rsi, rsp",
                "xor r10d, r10d",
                "mov r8, qword ptr [rip + {active}]",
                "test r8, r8",
                "jz 4f",
                "lea rax, [rip + {windows}]",
                "mov ecx, {slots}",
                "mov r11, -1",
                "2:",
                "mov rdx, qword ptr [rax]",
                "test rdx, rdx",
                "jz 3f",
                "mov r9, qword ptr [rax + 8]",
                "lea rdi, [rdx + {window}]",
                "cmp rdi, r9",
                "jne 3f",
                "cmp rsi, rdx",
                "jb 3f",
                "cmp rsi, r9",
                "jae 3f",
                "cmp r9, r11",
                "jae 3f",
                "mov r10, rdx",
                "mov r11, r9",
                "3:",
                "add rax, 16",
                "dec ecx",
                "jnz 2b",
                "4:",
                "mov rdi, rsi",
                "test r10, r10",
                "jz 5f",
                "mov rdi, r10",
                "test r12, r12",
                "jz 6f",
                "mov rdx, rsi",
                "sub rdx, r12",
                "cmp rdx, rdi",
                "jbe 6f",
                "mov rdi, rdx",
                "6:",
                "mov rcx, rsi",
                "mov rax, {pattern}",
                scan!(),
                "5:",
                active = sym ACTIVE_ENTRIES,
                windows = sym WINDOWS,
                slots = const SLOTS,
                window = const WINDOW,
                pattern = const PATTERN,
                out("rsi") sp,
                out("r10") floor,
                out("rdi") lowest,
                out("r8") active,
                in("r12") band,
                out("rax") _,
                out("rcx") _,
                out("rdx") _,
                out("r9") _,
                out("r11") _,
                out("xmm0") _,
                out("xmm1") _,
                out("xmm2") _,
                out("xmm3") _,
                out("xmm4") _,
                options(readonly),
            );
        }
        if active == 0 {
            return super::ModelEntry::OFF;
        }
        super::model_enter(sp, floor, lowest, band)
    }

    /// Paints `[floor, rsp)` with [`PATTERN`] (nothing if `floor >= rsp`).
    ///
    /// # Safety
    /// `[floor, rsp)` is mapped stack of this thread; `floor` is 8-aligned.
    #[inline(always)]
    pub(super) unsafe fn paint(floor: usize) {
        // SAFETY: the caller's contract; below the stack pointer nothing is live (the block
        // may use the stack, so the compiler keeps no red zone data there).
        unsafe {
            asm!(
                "mov rcx, rsp",
                "cmp rdi, rcx",
                "jae 2f",
                "sub rcx, rdi",
                "shr rcx, 3",
                "rep stosq",
                "2:",
                inout("rdi") floor => _,
                out("rcx") _,
                in("rax") PATTERN,
            );
        }
    }

    /// The first word of `[floor, rsp)` that does not hold [`PATTERN`], or `rsp` if none.
    ///
    /// # Safety
    /// `[floor, rsp)` is mapped stack of this thread; `floor` is 16-aligned.
    #[inline(always)]
    pub(super) unsafe fn first_touched(floor: usize) -> usize {
        let lowest: usize;
        // SAFETY: the caller's contract (reads only).
        unsafe {
            asm!(
                "mov rcx, rsp",
                scan!(),
                inout("rdi") floor => lowest,
                out("rcx") _,
                out("rdx") _,
                in("rax") PATTERN,
                out("xmm0") _,
                out("xmm1") _,
                out("xmm2") _,
                out("xmm3") _,
                out("xmm4") _,
                options(readonly),
            );
        }
        lowest
    }

    /// The word at `address`.
    ///
    /// # Safety
    /// 8 bytes at `address` are mapped and readable.
    #[inline(always)]
    pub(super) unsafe fn read_word(address: usize) -> usize {
        let value: usize;
        // SAFETY: the caller's contract.
        unsafe {
            asm!(
                "mov {value}, qword ptr [{address}]",
                address = in(reg) address,
                value = out(reg) value,
                options(nostack, readonly, preserves_flags),
            );
        }
        value
    }

    /// Whether `value` is an address in `code` that follows a call instruction.
    pub(super) fn returns_after_call(value: usize, code: (usize, usize)) -> bool {
        if value < code.0.saturating_add(8) || value >= code.1 {
            return false;
        }
        // SAFETY: the 8 bytes before `value` lie in the driver's mapped image.
        let before = unsafe { read_word(value - 8) };
        super::ends_with_call(before.to_le_bytes())
    }
}

/// See the x86-64 `machine`.
#[cfg(all(not(miri), target_os = "linux", target_arch = "aarch64"))]
mod machine {
    use std::arch::asm;

    use super::{ACTIVE_ENTRIES, SLOTS, WINDOW, WINDOWS};

    /// The scan (assembly text): from `x2` up to `x0`, the first doubleword that is not `x11`
    /// (the pattern), left in `x2` (`x0` or above if none). 32 bytes per step, then doubleword
    /// by doubleword. Clobbers `x9` and `x12`-`x15`.
    macro_rules! scan {
        () => {
            concat!(
                "22:\n",
                "add x9, x2, #32\n",
                "cmp x9, x0\n",
                "b.hi 23f\n",
                "ldp x12, x13, [x2]\n",
                "ldp x14, x15, [x2, #16]\n",
                "cmp x12, x11\n",
                "ccmp x13, x11, #0, eq\n",
                "ccmp x14, x11, #0, eq\n",
                "ccmp x15, x11, #0, eq\n",
                "b.ne 23f\n",
                "add x2, x2, #32\n",
                "b 22b\n",
                "23:\n",
                "cmp x2, x0\n",
                "b.hs 24f\n",
                "ldr x9, [x2]\n",
                "cmp x9, x11\n",
                "b.ne 24f\n",
                "add x2, x2, #8\n",
                "b 23b\n",
                "24:\n",
            )
        };
    }

    /// What an untouched word of a window holds (not a valid user address).
    pub(super) const PATTERN: usize = 0xC0DE_5EED_C0DE_5EED;

    /// The stack pointer.
    #[inline(always)]
    pub(super) fn sp() -> usize {
        let sp: usize;
        // SAFETY: copies the stack pointer to a register.
        unsafe { asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
        sp
    }

    /// See the x86-64 version.
    #[inline(always)]
    pub(super) fn begin_model(band: usize) -> super::ModelEntry {
        let (sp, floor, lowest, active): (usize, usize, usize, usize);
        // SAFETY: as the x86-64 version.
        unsafe {
            asm!(
                "mov x0, sp",
                "mov x2, x0",
                "mov x1, xzr",
                "adrp x3, {active}",
                "ldr x3, [x3, :lo12:{active}]",
                "cbz x3, 5f",
                "adrp x4, {windows}",
                "add x4, x4, :lo12:{windows}",
                "mov x5, #{slots}",
                "mov x6, #-1",
                "2:",
                "ldp x7, x8, [x4], #16",
                "cbz x7, 3f",
                "add x9, x7, x10",
                "cmp x9, x8",
                "b.ne 3f",
                "cmp x0, x7",
                "b.lo 3f",
                "cmp x0, x8",
                "b.hs 3f",
                "cmp x8, x6",
                "b.hs 3f",
                "mov x1, x7",
                "mov x6, x8",
                "3:",
                "subs x5, x5, #1",
                "b.ne 2b",
                "cbz x1, 5f",
                "mov x2, x1",
                "cbz x16, 6f",
                "sub x9, x0, x16",
                "cmp x9, x2",
                "b.ls 6f",
                "mov x2, x9",
                "6:",
                scan!(),
                "5:",
                active = sym ACTIVE_ENTRIES,
                windows = sym WINDOWS,
                slots = const SLOTS,
                in("x10") WINDOW,
                in("x11") PATTERN,
                in("x16") band,
                out("x0") sp,
                out("x1") floor,
                out("x2") lowest,
                out("x3") active,
                out("x4") _,
                out("x5") _,
                out("x6") _,
                out("x7") _,
                out("x8") _,
                out("x9") _,
                out("x12") _,
                out("x13") _,
                out("x14") _,
                out("x15") _,
                options(readonly),
            );
        }
        if active == 0 {
            return super::ModelEntry::OFF;
        }
        super::model_enter(sp, floor, lowest, band)
    }

    /// See the x86-64 version.
    ///
    /// # Safety
    /// As the x86-64 version.
    #[inline(always)]
    pub(super) unsafe fn paint(floor: usize) {
        // SAFETY: the caller's contract; nothing below the stack pointer is live.
        unsafe {
            asm!(
                "mov {end}, sp",
                "2:",
                "cmp {p}, {end}",
                "b.hs 3f",
                "str {v}, [{p}], #8",
                "b 2b",
                "3:",
                p = inout(reg) floor => _,
                end = out(reg) _,
                v = in(reg) PATTERN,
            );
        }
    }

    /// See the x86-64 version.
    ///
    /// # Safety
    /// As the x86-64 version.
    #[inline(always)]
    pub(super) unsafe fn first_touched(floor: usize) -> usize {
        let lowest: usize;
        // SAFETY: the caller's contract (reads only).
        unsafe {
            asm!(
                "mov x0, sp",
                scan!(),
                inout("x2") floor => lowest,
                out("x0") _,
                out("x9") _,
                in("x11") PATTERN,
                out("x12") _,
                out("x13") _,
                out("x14") _,
                out("x15") _,
                options(readonly),
            );
        }
        lowest
    }

    /// The word at `address`.
    ///
    /// # Safety
    /// 8 bytes at `address` are mapped and readable.
    #[inline(always)]
    pub(super) unsafe fn read_word(address: usize) -> usize {
        let value: usize;
        // SAFETY: the caller's contract.
        unsafe {
            asm!(
                "ldr {value}, [{address}]",
                address = in(reg) address,
                value = out(reg) value,
                options(nostack, readonly, preserves_flags),
            );
        }
        value
    }

    /// Whether `value` is an address in `code` that follows a `BL` or `BLR` (the link register
    /// a model routine saved).
    pub(super) fn returns_after_call(value: usize, code: (usize, usize)) -> bool {
        if value < code.0.saturating_add(8) || value >= code.1 || !value.is_multiple_of(4) {
            return false;
        }
        // SAFETY: the 8 bytes before `value` lie in the driver's mapped image.
        let before = unsafe { read_word(value - 8) };
        super::is_branch_with_link(u32::try_from(before >> 32).unwrap_or(0))
    }
}

/// Where the measurement does not exist: [`SUPPORTED`](super::SUPPORTED) is false, so no
/// entry is measured and nothing here runs but `begin_model` (which counts nothing).
#[cfg(not(all(
    not(miri),
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
mod machine {
    pub(super) const PATTERN: usize = 0;

    pub(super) fn sp() -> usize {
        0
    }

    pub(super) fn begin_model(_band: usize) -> super::ModelEntry {
        super::ModelEntry::OFF
    }

    pub(super) unsafe fn paint(_floor: usize) {}

    pub(super) unsafe fn first_touched(floor: usize) -> usize {
        floor
    }

    pub(super) unsafe fn read_word(_address: usize) -> usize {
        0
    }

    pub(super) fn returns_after_call(_value: usize, _code: (usize, usize)) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use std::hint::black_box;

    use super::*;
    use crate::OsProfile;

    /// A routine of the "driver" in these tests: gets the machine to call back.
    type Routine = portcls_sys::kernel_abi!(unsafe fn(world: *const World) -> usize);

    /// A machine that measures, the driver's code being `[start, start + 4 KiB)` cut short at
    /// the first of `others` above `start` (a model routine's return address must not look
    /// like the driver's).
    fn measuring(start: Routine, others: &[Routine]) -> World {
        let start = start as usize;
        let end = others
            .iter()
            .map(|&routine| routine as usize)
            .filter(|&address| address > start)
            .fold(start + 4096, usize::min);
        let world = World::new(OsProfile::Win10_1511);
        world.stack.start((start, end));
        world
    }

    /// Calls `routine` as the model calls the driver's `entry`.
    fn call(world: &World, entry: &str, routine: Routine) -> usize {
        let me: *const World = world;
        // SAFETY: the routines of these tests take the machine they run on.
        unsafe { call_driver(world, entry, routine, (me,)) }
    }

    fn figures(world: &World, entry: &str) -> StackUse {
        world
            .stack
            .usage()
            .into_iter()
            .find(|u| u.entry == entry)
            .unwrap_or_else(|| panic!("{entry} was not measured"))
    }

    /// Uses `N` bytes of stack: an array it writes whole and hands to `black_box`.
    #[inline(never)]
    fn use_stack<const N: usize>() -> usize {
        let mut bytes = [0x5Au8; N];
        black_box(&mut bytes);
        usize::from(bytes[N / 2])
    }

    portcls_sys::kernel_abi! {
        /// A driver routine using 4 KiB of stack.
        #[inline(never)]
        unsafe fn driver_4k(_world: *const World) -> usize {
            let mut bytes = [0x11u8; 4096];
            black_box(&mut bytes);
            usize::from(bytes[7])
        }
    }

    portcls_sys::kernel_abi! {
        /// A driver routine using 8 KiB of stack.
        #[inline(never)]
        unsafe fn driver_8k(_world: *const World) -> usize {
            let mut bytes = [0x22u8; 8192];
            black_box(&mut bytes);
            usize::from(bytes[7])
        }
    }

    portcls_sys::kernel_abi! {
        /// A driver routine using 64 KiB of stack (more than the window).
        #[inline(never)]
        #[allow(clippy::large_stack_arrays)] // The point: deeper than the window.
        unsafe fn driver_64k(_world: *const World) -> usize {
            let mut bytes = [0x33u8; 65536];
            black_box(&mut bytes);
            usize::from(bytes[7])
        }
    }

    portcls_sys::kernel_abi! {
        /// A model routine that calls the driver's `driver_8k` back (as `IPort::Init` calls the
        /// miniport's `Init`).
        #[inline(never)]
        unsafe fn model_calls_back(world: *const World) -> usize {
            model(|| {
                // SAFETY: the machine the caller runs on.
                let world = unsafe { &*world };
                call(world, "child", driver_8k)
            })
        }
    }

    portcls_sys::kernel_abi! {
        /// A driver routine holding 4 KiB while the model calls `driver_8k` back.
        #[inline(never)]
        unsafe fn driver_parent(world: *const World) -> usize {
            let mut bytes = [0x44u8; 4096];
            black_box(&mut bytes);
            // SAFETY: the machine this routine runs on.
            let child = unsafe { model_calls_back(world) };
            black_box(&mut bytes);
            child + usize::from(bytes[7])
        }
    }

    portcls_sys::kernel_abi! {
        /// A model routine whose work takes 16 KiB of stack.
        #[inline(never)]
        unsafe fn deep_model(_world: *const World) -> usize {
            model(use_stack::<16384>)
        }
    }

    portcls_sys::kernel_abi! {
        /// The same work without entering as a model routine.
        #[inline(never)]
        unsafe fn deep_model_unwrapped(_world: *const World) -> usize {
            use_stack::<16384>()
        }
    }

    portcls_sys::kernel_abi! {
        /// A driver routine holding 1 KiB while it calls the deep model routine.
        #[inline(never)]
        unsafe fn driver_calls_deep_model(world: *const World) -> usize {
            let mut bytes = [0x55u8; 1024];
            black_box(&mut bytes);
            // SAFETY: the machine this routine runs on.
            let answer = unsafe { deep_model(world) };
            black_box(&mut bytes);
            answer + usize::from(bytes[7])
        }
    }

    portcls_sys::kernel_abi! {
        /// As `driver_calls_deep_model`, through the routine that does not enter as the model.
        #[inline(never)]
        unsafe fn driver_calls_unwrapped_model(world: *const World) -> usize {
            let mut bytes = [0x55u8; 1024];
            black_box(&mut bytes);
            // SAFETY: the machine this routine runs on.
            let answer = unsafe { deep_model_unwrapped(world) };
            black_box(&mut bytes);
            answer + usize::from(bytes[7])
        }
    }

    portcls_sys::kernel_abi! {
        /// A driver routine that goes 8 KiB deep, comes back, then calls the deep model routine
        /// (whose repaint must not erase what the driver touched before).
        #[inline(never)]
        unsafe fn driver_deep_then_model(world: *const World) -> usize {
            let first = use_stack::<8192>();
            // SAFETY: the machine this routine runs on.
            first + unsafe { deep_model(world) }
        }
    }

    /// Asserts `bytes` is `expected` plus at most 1 KiB of frame overhead (opt-level 0 frames:
    /// the routine's own locals, saved registers, return addresses, `black_box`).
    #[track_caller]
    fn about(bytes: usize, expected: usize) {
        assert!(
            (expected..expected + 1024).contains(&bytes),
            "{bytes} bytes, expected {expected} plus less than 1 KiB"
        );
    }

    #[test]
    #[cfg_attr(miri, ignore)] // Miri runs no inline assembly: nothing is measured there.
    fn a_routine_using_4_kib_measures_4_kib() {
        let world = measuring(driver_4k, &[]);
        assert_eq!(call(&world, "4k", driver_4k), 0x11);
        let use_4k = figures(&world, "4k");
        about(use_4k.bytes, 4096);
        assert_eq!((use_4k.calls, use_4k.overflow), (1, false));
        assert_eq!(use_4k.deepest_model_call, 0, "no call into the model");
        assert_eq!(use_4k.span, use_4k.bytes);
        // Twice as deep is seen as such, and the deepest call is what stays.
        let world = measuring(driver_8k, &[]);
        call(&world, "entry", driver_8k);
        call(&world, "entry", driver_4k);
        let entry = figures(&world, "entry");
        about(entry.bytes, 8192);
        assert_eq!(entry.calls, 2);
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn a_nested_entry_counts_for_its_parent() {
        let world = measuring(driver_parent, &[model_calls_back, driver_8k]);
        call(&world, "parent", driver_parent);
        let child = figures(&world, "child");
        about(child.bytes, 8192);
        let parent = figures(&world, "parent");
        // The parent's 4 KiB (it holds them across its call into the model) plus the child's
        // 8 KiB, the model's frames between them left out...
        assert!(parent.bytes >= 4096 + child.bytes, "{parent:?} / {child:?}");
        assert!(parent.bytes < 4096 + child.bytes + 1024, "{parent:?}");
        about(parent.deepest_model_call, 4096);
        // ... which the span includes.
        assert!(parent.span > parent.bytes, "{parent:?}");
        assert!(parent.span < parent.bytes + 2048, "{parent:?}");
        if cfg!(target_arch = "x86_64") {
            // The driver's stack pointer at its call is found exactly: the model's frames
            // between it and the model routine's entry are measured.
            assert!((64..1024).contains(&parent.model_frames), "{parent:?}");
        }
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn a_model_routine_s_deep_frames_do_not_count() {
        let world = measuring(driver_calls_deep_model, &[deep_model]);
        call(&world, "driver", driver_calls_deep_model);
        let driver = figures(&world, "driver");
        // The driver's 1 KiB, its depth at the call, and at most the model routine's own frames
        // above its entry: not the 16 KiB its work took.
        about(driver.deepest_model_call, 1024);
        assert!(driver.bytes >= driver.deepest_model_call, "{driver:?}");
        assert!(driver.bytes < 1024 + 2048, "{driver:?}");
        assert!(!driver.overflow);
        // Through a routine that does not enter as the model, the 16 KiB show: the model
        // entry is what keeps them out.
        let world = measuring(driver_calls_unwrapped_model, &[deep_model_unwrapped]);
        call(&world, "driver", driver_calls_unwrapped_model);
        let driver = figures(&world, "driver");
        assert!(driver.bytes >= 1024 + 16384, "{driver:?}");
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn what_the_driver_touched_before_a_model_call_stays_counted() {
        let world = measuring(driver_deep_then_model, &[deep_model]);
        call(&world, "driver", driver_deep_then_model);
        let driver = figures(&world, "driver");
        // The 8 KiB excursion, though the model's 16 KiB were painted over after it.
        about(driver.bytes, 8192);
        assert!(driver.deepest_model_call < 1024, "{driver:?}");
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn a_use_beyond_the_window_is_an_overflow() {
        let world = measuring(driver_64k, &[]);
        call(&world, "deep", driver_64k);
        let deep = figures(&world, "deep");
        assert!(deep.overflow, "{deep:?}");
        assert_eq!(deep.bytes, WINDOW);
    }

    portcls_sys::kernel_abi! {
        /// A model routine in which the calling thread parks for good (the test returns
        /// instead, once the entries are ended).
        #[inline(never)]
        unsafe fn model_parks(world: *const World) -> usize {
            model(|| {
                // SAFETY: the machine the caller runs on.
                thread_parks(unsafe { &*world });
                7
            })
        }
    }

    portcls_sys::kernel_abi! {
        /// A driver routine holding 2 KiB while it calls `model_parks`.
        #[inline(never)]
        unsafe fn driver_parks(world: *const World) -> usize {
            let mut bytes = [0x66u8; 2048];
            black_box(&mut bytes);
            // SAFETY: the machine this routine runs on.
            let answer = unsafe { model_parks(world) };
            black_box(&mut bytes);
            answer + usize::from(bytes[7])
        }
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn a_thread_that_parks_ends_its_entries_where_they_stand() {
        let world = measuring(driver_parks, &[model_parks]);
        call(&world, "parks", driver_parks);
        let parks = figures(&world, "parks");
        assert_eq!(parks.calls, 1, "ended once, when the thread parked");
        about(parks.bytes, 2048);
        assert_eq!(ACTIVE.with(|active| active.borrow().len()), 0);
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn threads_measure_on_their_own_stacks() {
        let world = std::sync::Arc::new(measuring(driver_parent, &[model_calls_back, driver_8k]));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let world = std::sync::Arc::clone(&world);
                std::thread::spawn(move || call(&world, "parent", driver_parent))
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let parent = figures(&world, "parent");
        assert_eq!(parent.calls, 4);
        assert!(parent.bytes < 4096 + 8192 + 1024, "{parent:?}");
        about(figures(&world, "child").bytes, 8192);
    }

    #[test]
    fn nothing_is_measured_unless_the_machine_measures_and_the_build_can() {
        let world = World::new(OsProfile::Win10_1511);
        assert_eq!(call(&world, "4k", driver_4k), 0x11);
        assert!(world.stack.usage().is_empty(), "not measuring");
        world.stack.start((0, 0));
        assert_eq!(call(&world, "4k", driver_4k), 0x11);
        // Under Miri the measurement is compiled out: the routine still runs.
        assert_eq!(world.stack.usage().is_empty(), !SUPPORTED);
    }

    #[test]
    fn calls_are_recognised_by_the_bytes_before_the_return_address() {
        let ends = |tail: &[u8]| {
            let mut before = [0x90u8; 8];
            before[8 - tail.len()..].copy_from_slice(tail);
            ends_with_call(before)
        };
        assert!(ends(&[0xFF, 0x15, 1, 2, 3, 4])); // call [rip + disp32] (an import)
        assert!(ends(&[0xFF, 0xD0])); // call rax
        assert!(ends(&[0x41, 0xFF, 0xD3])); // call r11
        assert!(ends(&[0xFF, 0x50, 0x18])); // call [rax + 0x18] (a vtable slot)
        assert!(ends(&[0xFF, 0x90, 0, 1, 0, 0])); // call [rax + disp32]
        assert!(ends(&[0x41, 0xFF, 0x54, 0x24, 0x08])); // call [r12 + 8] (SIB)
        assert!(ends(&[0xE8, 1, 2, 3, 4])); // call rel32
        assert!(!ends(&[0x90, 0x90])); // no call
        assert!(!ends(&[0xFF, 0xE0])); // jmp rax
        assert!(!ends(&[0xFF, 0x15, 1, 2, 3])); // a call that does not end here
        assert!(is_branch_with_link(0x9400_0010)); // bl
        assert!(is_branch_with_link(0xD63F_0100)); // blr x8
        assert!(!is_branch_with_link(0xD61F_0100)); // br x8
        assert!(!is_branch_with_link(0xD65F_03C0)); // ret
    }
}
