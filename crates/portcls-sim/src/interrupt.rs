//! Interrupts and deferred procedure calls: `IoConnectInterruptEx` against a plugged-in PCI
//! device's resources ([`pci`](crate::pci)), the interrupt spin lock, delivery
//! ([`Sim::raise_interrupt`]), and `KeInitializeDpc` / `KeInsertQueueDpc` / `KeRemoveQueueDpc` /
//! `KeFlushQueuedDpcs`.
//!
//! # Connecting
//! `CONNECT_MESSAGE_BASED` connects every message the device was granted: the context written
//! back is an `IO_INTERRUPT_MESSAGE_INFO` with one entry (and one interrupt object) per
//! message, and `Version` stays. A device granted no messages is connected line-based with
//! `FallBackServiceRoutine` instead, and `Version` becomes `CONNECT_LINE_BASED` (as documented);
//! with no fall-back routine the call fails. `CONNECT_LINE_BASED` connects the line interrupt.
//! A device without the interrupt asked for gets `STATUS_NOT_FOUND` (the model's choice of
//! failure status); `CONNECT_FULLY_SPECIFIED` is not modelled (`STATUS_NOT_SUPPORTED`).
//! Connections are what [`Sim::connect_interrupt`]'s fake ones are to the rest of the model:
//! registrable as stream resources, disconnected by `IoDisconnectInterruptEx` (which reports a
//! disconnect while registered), listed as leftovers while connected.
//!
//! # Delivery
//! [`Sim::raise_interrupt`] runs the ISR on the calling thread at the interrupt's DIRQL,
//! holding its spin lock (the driver's `SpinLock`, or the interrupt object's own), with
//! `(interrupt, ServiceContext, MessageId)` for a message and `(interrupt, ServiceContext)` for
//! the line. The DPCs the ISR queued then run on the same thread at `DISPATCH_LEVEL`, each
//! entered through a scheduling point (on a deterministic machine the schedule may switch
//! there), before `raise_interrupt` returns. A DPC queued below `DISPATCH_LEVEL` runs at once
//! (on Windows it runs as soon as the processor's IRQL drops, i.e. immediately);
//! `KeFlushQueuedDpcs` runs whatever is queued. The model has one processor for DPCs: they
//! never run concurrently with each other.
//!
//! # Rules
//! As [`Violation::Hardware`] with a [`HardwareRule`], or [`Violation::IrqlTooHigh`]:
//! `IoConnectInterruptEx` and `KeFlushQueuedDpcs` above `PASSIVE_LEVEL`; a PDO that is not the
//! device's; a null service routine; a second connection of the same device; an ISR, DPC or
//! synchronize routine that returns at another IRQL; the interrupt spin lock taken above its
//! IRQL, recursively, or released without being held; a DPC never initialised; a DPC still
//! queued at unload; an interrupt still connected at stop or removal.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::ffi::c_void;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicUsize, Ordering};

use portcls_sys::hw::{
    INTERRUPT_MESSAGE_TABLE, IO_CONNECT_INTERRUPT_PARAMETERS, IO_INTERRUPT_MESSAGE_INFO_ENTRY,
    InterruptActiveHigh, KDEFERRED_ROUTINE, KMESSAGE_SERVICE_ROUTINE, KSERVICE_ROUTINE, Latched,
    PKDEFERRED_ROUTINE, PKDPC, PKSYNCHRONIZE_ROUTINE,
};
use portcls_sys::km::{
    BOOLEAN, CONNECT_FULLY_SPECIFIED, CONNECT_FULLY_SPECIFIED_GROUP, CONNECT_LINE_BASED,
    CONNECT_MESSAGE_BASED, DISPATCH_LEVEL, KIRQL, LARGE_INTEGER, PKINTERRUPT,
};
use portcls_sys::{
    NTSTATUS, PDEVICE_OBJECT, PVOID, STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_PARAMETER,
    STATUS_NOT_FOUND, STATUS_NOT_SUPPORTED, STATUS_SUCCESS,
};

use crate::adapter::RawBlock;
use crate::pci::{DriverPtr, HardwareRule, LINE_IRQL, MESSAGE_IRQL, PciInterrupts};
use crate::stack::call_driver;
use crate::virtio_pci::Interrupt;
use crate::world::{InterruptState, State, World};
use crate::{Ddi, Device, IRQL, Sim, Violation, current_irql, with_world};

thread_local! {
    /// The interrupt spin locks (lock word addresses) this thread holds.
    static HELD: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
    /// Whether this thread is running DPCs (they do not nest).
    static IN_DPC: Cell<bool> = const { Cell::new(false) };
}

#[derive(Clone, Copy, Debug)]
enum Routine {
    Line(KSERVICE_ROUTINE),
    Message(KMESSAGE_SERVICE_ROUTINE),
}

/// An interrupt object: one message of a connection, or its line.
#[derive(Debug)]
struct Object {
    /// The object as the driver sees it (its first word is its own lock).
    pointer: DriverPtr,
    /// The connection's context.
    context: usize,
    message: u32,
    /// The DIRQL its ISR runs at.
    irql: KIRQL,
    /// The lock word its ISR holds.
    lock: DriverPtr,
}

#[derive(Debug)]
struct Connection {
    pdo: usize,
    connected: bool,
    routine: Routine,
    service_context: DriverPtr,
    /// Interrupt object addresses, by message.
    objects: Vec<usize>,
}

#[derive(Debug)]
struct Dpc {
    pointer: DriverPtr,
    routine: KDEFERRED_ROUTINE,
    context: DriverPtr,
    queued: Option<(DriverPtr, DriverPtr)>,
}

/// Interrupt objects, connections and DPCs.
#[derive(Debug, Default)]
pub(crate) struct Interrupts {
    objects: BTreeMap<usize, Object>,
    connections: BTreeMap<usize, Connection>,
    dpcs: BTreeMap<usize, Dpc>,
    queue: VecDeque<usize>,
    /// Interrupt objects and message tables, freed with the machine.
    blocks: Vec<RawBlock>,
}

impl Interrupts {
    pub(crate) fn leftovers(&self) -> Vec<String> {
        self.queue
            .iter()
            .map(|dpc| format!("DPC {dpc:#x} still queued"))
            .collect()
    }
}

/// Whether an interrupt of the device with PDO `pdo` is connected.
pub(crate) fn connected_for(state: &State, pdo: usize) -> bool {
    state
        .hw
        .irq
        .connections
        .values()
        .any(|c| c.pdo == pdo && c.connected)
}

/// `IoDisconnectInterruptEx` disconnected the connection with this context.
pub(crate) fn disconnected(state: &mut State, context: usize) {
    if let Some(connection) = state.hw.irq.connections.get_mut(&context) {
        connection.connected = false;
    }
}

/// At unload: nothing may still be queued.
pub(crate) fn check_unload(state: &mut State) {
    if !state.hw.irq.queue.is_empty() {
        state.hardware_rule(Ddi::DriverUnload, HardwareRule::DpcQueuedAtUnload);
    }
}

impl State {
    /// The interrupt object of a line-based connection, which is also its context.
    fn line_object(&mut self, irql: KIRQL, lock: *mut c_void) -> *mut c_void {
        let object = self.new_object(0, 0, irql, lock);
        let entry = self.hw.irq.objects.get_mut(&object);
        entry.map_or(null_mut(), |o| {
            o.context = object;
            o.pointer.0
        })
    }

    /// A new interrupt object for `context`, with its own lock word unless `lock` is given.
    fn new_object(
        &mut self,
        context: usize,
        message: u32,
        irql: KIRQL,
        lock: *mut c_void,
    ) -> usize {
        let block = RawBlock::new(16);
        let pointer = block.ptr().cast::<c_void>();
        let lock = if lock.is_null() { pointer } else { lock };
        self.hw.irq.blocks.push(block);
        self.hw.irq.objects.insert(
            pointer.addr(),
            Object {
                pointer: DriverPtr(pointer),
                context,
                message,
                irql,
                lock: DriverPtr(lock),
            },
        );
        pointer.addr()
    }
}

/// What a connect request asks for, read from the parameters.
struct Request {
    pdo: PDEVICE_OBJECT,
    out: *mut PVOID,
    message: Option<KMESSAGE_SERVICE_ROUTINE>,
    line: Option<KSERVICE_ROUTINE>,
    service_context: PVOID,
    lock: *mut c_void,
    synchronize: KIRQL,
    message_based: bool,
}

portcls_sys::kernel_abi! {
    /// `IoConnectInterruptEx`: see the [module](self) docs.
    ///
    /// # Safety
    /// `parameters` readable and writable, its out-pointer writable.
    #[unsafe(no_mangle)]
    pub unsafe fn IoConnectInterruptEx(parameters: *mut IO_CONNECT_INTERRUPT_PARAMETERS) -> NTSTATUS {
        with_world("IoConnectInterruptEx", |world| {
            // SAFETY: the caller's contract.
            unsafe { connect(world, parameters) }
        })
    }
}

/// What `parameters` ask for, or the status for a version the model does not connect.
fn read_request(parameters: &IO_CONNECT_INTERRUPT_PARAMETERS) -> Result<Request, NTSTATUS> {
    match parameters.Version {
        CONNECT_MESSAGE_BASED => {
            // SAFETY: the member `Version` names.
            let p = unsafe { parameters.u.MessageBased };
            Ok(Request {
                pdo: p.PhysicalDeviceObject,
                out: p.ConnectionContext,
                message: p.MessageServiceRoutine,
                line: p.FallBackServiceRoutine,
                service_context: p.ServiceContext,
                lock: p.SpinLock.cast(),
                synchronize: p.SynchronizeIrql,
                message_based: true,
            })
        }
        CONNECT_LINE_BASED => {
            // SAFETY: as above.
            let p = unsafe { parameters.u.LineBased };
            Ok(Request {
                pdo: p.PhysicalDeviceObject,
                out: p.InterruptObject.cast(),
                message: None,
                line: p.ServiceRoutine,
                service_context: p.ServiceContext,
                lock: p.SpinLock.cast(),
                synchronize: p.SynchronizeIrql,
                message_based: false,
            })
        }
        CONNECT_FULLY_SPECIFIED | CONNECT_FULLY_SPECIFIED_GROUP => Err(STATUS_NOT_SUPPORTED),
        _ => Err(STATUS_INVALID_PARAMETER),
    }
}

/// # Safety
/// As `IoConnectInterruptEx`.
unsafe fn connect(world: &World, parameters: *mut IO_CONNECT_INTERRUPT_PARAMETERS) -> NTSTATUS {
    let ddi = Ddi::IoConnectInterruptEx;
    let irql = current_irql();
    let mut state = world.lock();
    if !state.irql_ok(ddi, irql) {
        return STATUS_INVALID_DEVICE_STATE;
    }
    if parameters.is_null() {
        state.hardware_rule(ddi, HardwareRule::BadParameters);
        return state.record(ddi, "null parameters".to_owned(), STATUS_INVALID_PARAMETER);
    }
    // SAFETY: readable (the caller's contract, checked non-null).
    let read = unsafe { parameters.read() };
    let version = read.Version;
    let request = match read_request(&read) {
        Ok(request) => request,
        Err(status) => {
            if status == STATUS_INVALID_PARAMETER {
                state.hardware_rule(ddi, HardwareRule::BadParameters);
            }
            let what = format!("version {version} (not modelled or unknown)");
            return state.record(ddi, what, status);
        }
    };
    let detail = format!("version {version}, pdo {:p}", request.pdo);
    if let Some(status) = state.fallible(ddi) {
        return state.record(ddi, detail, status);
    }
    let Some(interrupts) = state
        .hw
        .devices
        .get(&request.pdo.addr())
        .map(|d| d.interrupts)
    else {
        state.hardware_rule(ddi, HardwareRule::NotThePdo);
        return state.record(ddi, detail, STATUS_INVALID_PARAMETER);
    };
    if request.out.is_null() {
        state.hardware_rule(ddi, HardwareRule::BadParameters);
        return state.record(ddi, detail, STATUS_INVALID_PARAMETER);
    }
    if connected_for(&state, request.pdo.addr()) {
        state.hardware_rule(ddi, HardwareRule::AlreadyConnected);
        return state.record(ddi, detail, STATUS_INVALID_DEVICE_STATE);
    }
    let messages = match interrupts {
        PciInterrupts::MsiX { messages } if request.message_based => Some(messages),
        _ => None,
    };
    let has_line = interrupts == PciInterrupts::Line;
    let (context, connected_version, routine) = if let Some(messages) = messages {
        let Some(routine) = request.message else {
            state.hardware_rule(ddi, HardwareRule::NullRoutine);
            return state.record(ddi, detail, STATUS_INVALID_PARAMETER);
        };
        let context = message_table(&mut state, &request, messages);
        (context, CONNECT_MESSAGE_BASED, Routine::Message(routine))
    } else if has_line {
        let Some(routine) = request.line else {
            if request.message_based {
                // No messages and no fall-back: nothing to connect.
                return state.record(
                    ddi,
                    format!("{detail}: no messages, no fall-back"),
                    STATUS_NOT_FOUND,
                );
            }
            state.hardware_rule(ddi, HardwareRule::NullRoutine);
            return state.record(ddi, detail, STATUS_INVALID_PARAMETER);
        };
        let irql = if request.lock.is_null() {
            LINE_IRQL
        } else {
            request.synchronize.max(LINE_IRQL)
        };
        let pointer = state.line_object(irql, request.lock);
        (pointer, CONNECT_LINE_BASED, Routine::Line(routine))
    } else {
        return state.record(
            ddi,
            format!("{detail}: no such interrupt"),
            STATUS_NOT_FOUND,
        );
    };
    book(
        &mut state,
        context.addr(),
        &request,
        connected_version,
        routine,
    );
    // SAFETY: writable (the caller's contract, checked non-null).
    unsafe { request.out.write(context) };
    if connected_version != version {
        // SAFETY: writable (the caller's contract).
        unsafe { (*parameters).Version = connected_version };
    }
    state.record(
        ddi,
        format!("{detail} -> version {connected_version}, context {context:p}"),
        STATUS_SUCCESS,
    )
}

/// Books a new connection of `request`'s device with context `context`: its interrupt objects
/// (by message), its routine, and the entry that makes it registrable and a leftover.
fn book(state: &mut State, context: usize, request: &Request, version: u32, routine: Routine) {
    let objects = state
        .hw
        .irq
        .objects
        .iter()
        .filter(|(_, o)| o.context == context)
        .map(|(&a, o)| (o.message, a))
        .collect::<BTreeMap<_, _>>()
        .into_values()
        .collect();
    state.hw.irq.connections.insert(
        context,
        Connection {
            pdo: request.pdo.addr(),
            connected: true,
            routine,
            service_context: DriverPtr(request.service_context),
            objects,
        },
    );
    state.interrupts.insert(
        context,
        InterruptState {
            version,
            connected: true,
        },
    );
}

/// Makes the message table (and an interrupt object per message) of a message-based connection.
fn message_table(state: &mut State, request: &Request, messages: u16) -> *mut c_void {
    let count = usize::from(messages.max(1));
    let entry_size = std::mem::size_of::<IO_INTERRUPT_MESSAGE_INFO_ENTRY>();
    let block = RawBlock::new(
        std::mem::offset_of!(INTERRUPT_MESSAGE_TABLE, MessageInfo) + entry_size * count,
    );
    let table = block.words().cast::<INTERRUPT_MESSAGE_TABLE>();
    let context = table.cast::<c_void>();
    let unified = if request.lock.is_null() {
        MESSAGE_IRQL
    } else {
        request.synchronize.max(MESSAGE_IRQL)
    };
    state.hw.irq.blocks.push(block);
    let first = table
        .wrapping_byte_add(std::mem::offset_of!(INTERRUPT_MESSAGE_TABLE, MessageInfo))
        .cast::<IO_INTERRUPT_MESSAGE_INFO_ENTRY>();
    for message in 0..u32::from(messages) {
        let object = state.new_object(context.addr(), message, unified, request.lock);
        let pointer = state
            .hw
            .irq
            .objects
            .get(&object)
            .map_or(null_mut(), |o| o.pointer.0);
        let vector = 0x80 + message;
        let entry = IO_INTERRUPT_MESSAGE_INFO_ENTRY {
            MessageAddress: LARGE_INTEGER {
                QuadPart: 0xFEE0_0000,
            },
            TargetProcessorSet: 1,
            InterruptObject: pointer.cast(),
            MessageData: vector,
            Vector: vector,
            Irql: MESSAGE_IRQL,
            Mode: Latched,
            Polarity: InterruptActiveHigh,
        };
        if message == 0 {
            let head = INTERRUPT_MESSAGE_TABLE {
                UnifiedIrql: unified,
                MessageCount: u32::from(messages),
                MessageInfo: [entry],
            };
            // SAFETY: the block holds the table's head, 8-aligned.
            unsafe { table.write(head) };
        } else {
            let slot = first.wrapping_add(usize::try_from(message).unwrap_or(0));
            // SAFETY: entry `message` lies in the block (sized for `messages` entries).
            unsafe { slot.write(entry) };
        }
    }
    context
}

// ---- The interrupt spin lock ----

/// Takes the lock word at `lock`, raising to `irql` first; returns the previous IRQL, or `None`
/// (after a violation) if this thread already holds it.
fn acquire(world: &World, ddi: Ddi, lock: DriverPtr, irql: KIRQL) -> Option<KIRQL> {
    let address = lock.0.addr();
    if HELD.with(|h| h.borrow().contains(&address)) {
        world
            .lock()
            .hardware_rule(ddi, HardwareRule::InterruptLockRecursion);
        return None;
    }
    let previous = IRQL.with(|cell| cell.replace(irql));
    if crate::sched::is_participant() {
        crate::sched::spin_acquire(world, address);
    }
    // SAFETY: a lock word (the driver's KSPIN_LOCK or the interrupt object's first word),
    // aligned, used only as a lock while the connection lives.
    let atomic = unsafe { AtomicUsize::from_ptr(lock.0.cast::<usize>()) };
    while atomic
        .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        std::hint::spin_loop();
        std::thread::yield_now();
    }
    HELD.with(|h| h.borrow_mut().push(address));
    Some(previous)
}

/// Frees the lock word at `lock` and lowers to `irql`; false if this thread does not hold it.
fn release(world: &World, lock: DriverPtr, irql: KIRQL) -> bool {
    let address = lock.0.addr();
    let held = HELD.with(|h| {
        let mut held = h.borrow_mut();
        let position = held.iter().position(|&a| a == address);
        position.map(|i| held.remove(i)).is_some()
    });
    if !held {
        return false;
    }
    // SAFETY: as in `acquire`.
    unsafe { AtomicUsize::from_ptr(lock.0.cast::<usize>()) }.store(0, Ordering::Release);
    IRQL.with(|cell| cell.set(irql));
    if crate::sched::is_participant() {
        crate::sched::spin_released(world, address);
    }
    true
}

/// The lock and IRQL of the interrupt object at `interrupt`, or a violation.
fn object_lock(world: &World, ddi: Ddi, interrupt: PKINTERRUPT) -> Option<(DriverPtr, KIRQL)> {
    let mut state = world.lock();
    let found = state
        .hw
        .irq
        .objects
        .get(&interrupt.addr())
        .filter(|o| {
            state
                .hw
                .irq
                .connections
                .get(&o.context)
                .is_some_and(|c| c.connected)
        })
        .map(|o| (o.lock, o.irql));
    if found.is_none() {
        state.violate(Violation::BadObject {
            ddi,
            object: interrupt.addr(),
        });
    }
    found
}

portcls_sys::kernel_abi! {
    /// `KeAcquireInterruptSpinLock`.
    ///
    /// # Safety
    /// As the real routine.
    #[unsafe(no_mangle)]
    pub unsafe fn KeAcquireInterruptSpinLock(interrupt: PKINTERRUPT) -> KIRQL {
        with_world("KeAcquireInterruptSpinLock", |world| {
            let ddi = Ddi::KeAcquireInterruptSpinLock;
            let irql = current_irql();
            let Some((lock, dirql)) = object_lock(world, ddi, interrupt) else {
                return irql;
            };
            if irql > dirql {
                world.lock().violate(Violation::IrqlTooHigh { ddi, irql });
                return irql;
            }
            acquire(world, ddi, lock, dirql).unwrap_or(irql)
        })
    }
}

portcls_sys::kernel_abi! {
    /// `KeReleaseInterruptSpinLock`.
    ///
    /// # Safety
    /// As the real routine.
    #[unsafe(no_mangle)]
    pub unsafe fn KeReleaseInterruptSpinLock(interrupt: PKINTERRUPT, old: KIRQL) {
        with_world("KeReleaseInterruptSpinLock", |world| {
            let ddi = Ddi::KeAcquireInterruptSpinLock;
            let Some((lock, _)) = object_lock(world, ddi, interrupt) else {
                return;
            };
            if !release(world, lock, old) {
                world.lock().hardware_rule(ddi, HardwareRule::InterruptLockNotHeld);
            }
        });
    }
}

portcls_sys::kernel_abi! {
    /// `KeSynchronizeExecution`: runs the routine at the interrupt's DIRQL under its lock.
    ///
    /// # Safety
    /// As the real routine.
    #[unsafe(no_mangle)]
    pub unsafe fn KeSynchronizeExecution(
        interrupt: PKINTERRUPT,
        routine: PKSYNCHRONIZE_ROUTINE,
        context: PVOID,
    ) -> BOOLEAN {
        with_world("KeSynchronizeExecution", |world| {
            let ddi = Ddi::KeSynchronizeExecution;
            let irql = current_irql();
            let Some((lock, dirql)) = object_lock(world, ddi, interrupt) else {
                return 0;
            };
            let Some(routine) = routine else {
                world.lock().hardware_rule(ddi, HardwareRule::NullRoutine);
                return 0;
            };
            if irql > dirql {
                world.lock().violate(Violation::IrqlTooHigh { ddi, irql });
                return 0;
            }
            let Some(previous) = acquire(world, ddi, lock, dirql) else {
                return 0;
            };
            // SAFETY: the driver's synchronize routine with its context, under the lock.
            let result = unsafe { call_driver(world, "SynchronizeRoutine", routine, (context,)) };
            if current_irql() != dirql {
                world.lock().hardware_rule(ddi, HardwareRule::RoutineChangedIrql);
            }
            release(world, lock, previous);
            result
        })
    }
}

// ---- Delivery ----

impl Sim {
    /// The device raises `interrupt` (an MSI-X message or its line): its ISR runs on the
    /// calling thread at the DIRQL, holding the interrupt spin lock, then the DPCs it queued
    /// run at `DISPATCH_LEVEL` (see the [module](crate::interrupt) docs). Returns what the ISR
    /// returned (whether it claimed the interrupt), or `None` if nothing is connected to that
    /// interrupt (no connection, another kind, a message the device was not granted) or the
    /// calling thread's IRQL masks it.
    #[must_use = "whether the ISR claimed the interrupt (None: not delivered)"]
    pub fn raise_interrupt(&self, device: &Device, interrupt: Interrupt) -> Option<bool> {
        raise(&self.world, device.pdo.addr(), interrupt)
    }
}

/// Delivers `interrupt` of the device whose PDO is at `pdo` (see [`Sim::raise_interrupt`]).
pub(crate) fn raise(world: &World, pdo: usize, interrupt: Interrupt) -> Option<bool> {
    {
        let found = {
            let state = world.lock();
            let connection = state
                .hw
                .irq
                .connections
                .values()
                .find(|c| c.pdo == pdo && c.connected)?;
            let object = match (interrupt, connection.routine) {
                (Interrupt::Line, Routine::Line(_)) => connection.objects.first(),
                (Interrupt::Message(n), Routine::Message(_)) => {
                    connection.objects.get(usize::from(n))
                }
                _ => None,
            }?;
            let object = state.hw.irq.objects.get(object)?;
            (
                connection.routine,
                connection.service_context,
                object.pointer,
                object.message,
                object.irql,
                object.lock,
            )
        };
        let (routine, service_context, pointer, message, irql, lock) = found;
        if current_irql() >= irql {
            return None;
        }
        let ddi = Ddi::InterruptService;
        let previous = acquire(world, ddi, lock, irql)?;
        let interrupt_object: PKINTERRUPT = pointer.0.cast();
        let claimed = match routine {
            Routine::Line(isr) => {
                let args = (interrupt_object, service_context.0);
                // SAFETY: the driver's ISR with its interrupt object and context, at DIRQL.
                unsafe { call_driver(world, "InterruptService", isr, args) }
            }
            Routine::Message(isr) => {
                let args = (interrupt_object, service_context.0, message);
                // SAFETY: the driver's message ISR with its interrupt object, context, message.
                unsafe { call_driver(world, "InterruptMessageService", isr, args) }
            }
        };
        let returned_at = current_irql();
        {
            let mut state = world.lock();
            if returned_at != irql {
                state.hardware_rule(ddi, HardwareRule::RoutineChangedIrql);
            }
            state.record(
                ddi,
                format!("{interrupt:?} at IRQL {irql} -> claimed {claimed}"),
                STATUS_SUCCESS,
            );
        }
        IRQL.with(|cell| cell.set(irql));
        release(world, lock, previous);
        run_dpcs(world);
        Some(claimed != 0)
    }
}

impl Sim {
    /// Runs the queued DPCs now, at `DISPATCH_LEVEL` on the calling thread (as the processor
    /// does once its IRQL drops); returns how many ran.
    #[must_use = "how many DPCs ran"]
    pub fn run_dpcs(&self) -> usize {
        run_dpcs(&self.world)
    }

    /// DPCs queued and not yet run.
    #[must_use]
    pub fn queued_dpcs(&self) -> usize {
        self.world.lock().hw.irq.queue.len()
    }
}

/// Runs the queued DPCs, oldest first, unless this thread already runs DPCs or is at
/// `DISPATCH_LEVEL` or above.
fn run_dpcs(world: &World) -> usize {
    if IN_DPC.with(Cell::get) || current_irql() >= DISPATCH_LEVEL {
        return 0;
    }
    IN_DPC.with(|c| c.set(true));
    let mut ran = 0;
    loop {
        let next = {
            let mut state = world.lock();
            let Some(address) = state.hw.irq.queue.pop_front() else {
                break;
            };
            state.hw.irq.dpcs.get_mut(&address).and_then(|dpc| {
                let (first, second) = dpc.queued.take()?;
                Some((dpc.routine, dpc.pointer, dpc.context, first, second))
            })
        };
        let Some((routine, pointer, context, first, second)) = next else {
            continue;
        };
        let guard = crate::raise_irql(DISPATCH_LEVEL);
        let args = (pointer.0.cast(), context.0, first.0, second.0);
        // SAFETY: the driver's deferred routine with its DPC, context and arguments.
        unsafe { call_driver(world, "DeferredRoutine", routine, args) };
        if current_irql() != DISPATCH_LEVEL {
            world
                .lock()
                .hardware_rule(Ddi::DeferredRoutine, HardwareRule::RoutineChangedIrql);
        }
        drop(guard);
        ran += 1;
    }
    IN_DPC.with(|c| c.set(false));
    ran
}

// ---- DPCs ----

portcls_sys::kernel_abi! {
    /// `KeInitializeDpc`.
    ///
    /// # Safety
    /// `dpc` is the driver's `KDPC` storage.
    #[unsafe(no_mangle)]
    pub unsafe fn KeInitializeDpc(dpc: PKDPC, routine: PKDEFERRED_ROUTINE, context: PVOID) {
        with_world("KeInitializeDpc", |world| {
            let ddi = Ddi::KeInsertQueueDpc;
            let mut state = world.lock();
            let Some(routine) = routine.filter(|_| !dpc.is_null()) else {
                state.hardware_rule(ddi, HardwareRule::NullRoutine);
                return;
            };
            let address = dpc.addr();
            if let Some(position) = state.hw.irq.queue.iter().position(|&d| d == address) {
                // Re-initialising a queued DPC: it is no longer queued (the object was reset).
                state.hw.irq.queue.remove(position);
            }
            state.hw.irq.dpcs.insert(
                address,
                Dpc {
                    pointer: DriverPtr(dpc.cast()),
                    routine,
                    context: DriverPtr(context),
                    queued: None,
                },
            );
        });
    }
}

portcls_sys::kernel_abi! {
    /// `KeInsertQueueDpc`: TRUE if queued, FALSE if it already was.
    ///
    /// # Safety
    /// `dpc` was initialised with `KeInitializeDpc`.
    #[unsafe(no_mangle)]
    pub unsafe fn KeInsertQueueDpc(dpc: PKDPC, first: PVOID, second: PVOID) -> BOOLEAN {
        with_world("KeInsertQueueDpc", |world| {
            let ddi = Ddi::KeInsertQueueDpc;
            let irql = current_irql();
            let queued = {
                let mut state = world.lock();
                if !state.irql_ok(ddi, irql) {
                    return 0;
                }
                let Some(entry) = state.hw.irq.dpcs.get_mut(&dpc.addr()) else {
                    state.hardware_rule(ddi, HardwareRule::DpcNotInitialised);
                    return 0;
                };
                if entry.queued.is_some() {
                    false
                } else {
                    entry.queued = Some((DriverPtr(first), DriverPtr(second)));
                    state.hw.irq.queue.push_back(dpc.addr());
                    true
                }
            };
            if queued && irql < DISPATCH_LEVEL {
                run_dpcs(world);
            }
            BOOLEAN::from(queued)
        })
    }
}

portcls_sys::kernel_abi! {
    /// `KeRemoveQueueDpc`: TRUE if it was queued.
    ///
    /// # Safety
    /// `dpc` was initialised with `KeInitializeDpc`.
    #[unsafe(no_mangle)]
    pub unsafe fn KeRemoveQueueDpc(dpc: PKDPC) -> BOOLEAN {
        with_world("KeRemoveQueueDpc", |world| {
            let ddi = Ddi::KeRemoveQueueDpc;
            let irql = current_irql();
            let mut state = world.lock();
            if !state.irql_ok(ddi, irql) {
                return 0;
            }
            let Some(entry) = state.hw.irq.dpcs.get_mut(&dpc.addr()) else {
                state.hardware_rule(ddi, HardwareRule::DpcNotInitialised);
                return 0;
            };
            let was = entry.queued.take().is_some();
            state.hw.irq.queue.retain(|&d| d != dpc.addr());
            BOOLEAN::from(was)
        })
    }
}

portcls_sys::kernel_abi! {
    /// `KeFlushQueuedDpcs`: runs every queued DPC before returning.
    #[unsafe(no_mangle)]
    pub fn KeFlushQueuedDpcs() {
        with_world("KeFlushQueuedDpcs", |world| {
            let ddi = Ddi::KeFlushQueuedDpcs;
            let irql = current_irql();
            if !world.lock().irql_ok(ddi, irql) {
                return;
            }
            run_dpcs(world);
            world.lock().record(ddi, String::new(), STATUS_SUCCESS);
        });
    }
}
