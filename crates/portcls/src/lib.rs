//! Register a WaveRT miniport's stream resources with PortCls, safely, on every Windows 10 build.
//!
//! Audio drivers tell PortCls which interrupts and driver-owned threads keep their audio
//! flowing, so the OS can keep other work from interfering with them. This crate wraps that API:
//!
//! - [`StreamResourceManager::new`] asks a PortCls port which mechanisms it offers and picks the
//!   best: `IPortClsStreamResourceManager2::AddStreamResource2` with the explicit PDO (Windows 10
//!   1511+), else the `PcAddStreamResource` export (1507, `export` feature, on by default), else
//!   `IPortClsStreamResourceManager` (1507 when the export is compiled out), else
//!   [`Mechanism::Unsupported`] (Windows 8.1), where registrations succeed and do nothing so the
//!   driver still runs.
//! - Registrations are values. Dropping one removes it, through the very object that made it.
//!   The borrowing form ([`Registration`]) cannot outlive the resource or the manager; the owning
//!   forms ([`OwnedThreadRegistration`], [`OwnedInterruptRegistration`]) hold the resource
//!   themselves and give it up only after removal, so a registered thread reference or
//!   interrupt connection can never be released first.
//! - Errors are typed ([`Error`]) and carry the `NTSTATUS` and the step that failed.
//!
//! The crate is `no_std`, allocates nothing and does not panic.
//!
//! # Scoped use
//! ```
//! # use portcls_sim as _;
//! # let sim = portcls_sim::Sim::new(portcls_sim::OsProfile::Win10_1511);
//! # let device = sim.add_device();
//! # let (raw_port, fdo, raw_thread) = (sim.new_port(), device.fdo, sim.create_thread());
//! use portcls::{ComPtr, Mechanism, Pdo, StreamResourceManager, Thread};
//!
//! // SAFETY (example): `raw_port` is the WaveRT port from PcNewPort, `fdo` our PortCls FDO,
//! // `raw_thread` a referenced thread object from ObReferenceObjectByHandle.
//! let port = unsafe { ComPtr::from_raw(raw_port) }.expect("port");
//! let pdo = unsafe { Pdo::from_fdo(fdo) }?;
//! let thread = unsafe { Thread::from_raw(raw_thread) }.expect("thread");
//!
//! let manager = StreamResourceManager::new(&port, pdo);
//! assert_eq!(manager.mechanism(), Mechanism::InterfaceV2);
//! {
//!     let registration = manager.register_thread(&thread)?;
//!     assert!(registration.is_registered());
//!     // ... the thread does its work ...
//! } // removed here, before `thread` can go
//! # drop((thread, manager, port));
//! # sim.assert_clean();
//! # Ok::<(), portcls::Error>(())
//! ```
//!
//! # Owned use (in a device extension)
//! ```
//! # use portcls_sim as _;
//! # let sim = portcls_sim::Sim::new(portcls_sim::OsProfile::Win10_1507);
//! # let device = sim.add_device();
//! # let raw_port = sim.new_port();
//! # let (version, context) = sim.connect_interrupt(portcls_sim::Connect::MessageBased);
//! use portcls::{ComPtr, InterruptConnection, Pdo, StreamResourceManager};
//!
//! struct DeviceExtension {
//!     interrupt: Option<portcls::OwnedInterruptRegistration>,
//!     manager: StreamResourceManager,
//! }
//!
//! // SAFETY (example): the port from PcNewPort, the PDO of our stack, and the Version and
//! // ConnectionContext IoConnectInterruptEx wrote back.
//! let port = unsafe { ComPtr::from_raw(raw_port) }.expect("port");
//! let pdo = unsafe { Pdo::from_raw(device.pdo) }.expect("pdo");
//! let connection = unsafe { InterruptConnection::from_raw(version, context) }.expect("connection");
//!
//! let manager = StreamResourceManager::new(&port, pdo);
//! let interrupt = manager.register_owned_interrupt(connection).map_err(|(error, _)| error)?;
//! let mut extension = DeviceExtension { interrupt: Some(interrupt), manager };
//!
//! // Leaving D0: unregister, then disconnect (dropping does both, in that order).
//! extension.interrupt = None;
//! # drop((extension, port));
//! # sim.assert_clean();
//! # Ok::<(), portcls::Error>(())
//! ```
//!
//! # What cannot compile
//! A scoped registration borrows its resource, so the resource cannot be dropped first:
//! ```compile_fail,E0505
//! # use portcls_sim as _;
//! # fn f(manager: &portcls::StreamResourceManager, thread: portcls::Thread) {
//! let registration = manager.register_thread(&thread).unwrap();
//! drop(thread); // error[E0505]: cannot move out of `thread` because it is borrowed
//! drop(registration);
//! # }
//! ```
//!
//! # Where the symbols come from
//! With the `link` feature (kernel builds) PortCls and kernel routines are imported with
//! `raw-dylib`; otherwise they are resolved at link time by whatever defines them: in tests,
//! the `portcls-sim` crate. See `portcls-sys`.
//!
//! # Features
//! - `export` (default): use the portcls.sys export `PcAddStreamResource` on Windows 10 1507
//!   ([`EXPORT_LINKED`]). A driver that imports it does not load where portcls.sys lacks it
//!   (Windows 8.1); build with `default-features = false` to load there, and 1507 then uses
//!   interface v1.
//! - `link`: import PortCls and kernel routines with `raw-dylib` (kernel builds for
//!   `x86_64-pc-windows-msvc` and `aarch64-pc-windows-msvc`).
//! - `wdk`: `link`, with the kernel objects only ever handled by pointer wdk-sys's own types
//!   (WDK builds on Windows; needs the eWDK; `portcls_sys::km` lists what stays ours).
#![no_std]

mod com;
mod error;
mod manager;
mod resource;

pub use com::{ComPtr, Interface};
pub use error::{Error, Step};
pub use manager::{
    EXPORT_LINKED, Mechanism, Mechanisms, OwnedInterruptRegistration, OwnedThreadRegistration,
    Registration, StreamResourceManager, choose,
};
pub use resource::{InterruptConnection, InterruptKind, Pdo, Thread};

/// The raw declarations this crate is built on.
pub use portcls_sys as sys;

// The unit tests link against the simulator's definitions of the PortCls symbols.
#[cfg(test)]
use portcls_sim as _;
