//! Choosing how to talk to PortCls, and the registrations that come out of it.

use core::ptr::NonNull;

use portcls_sys::km::{KIRQL, PASSIVE_LEVEL};
use portcls_sys::{
    _PCSTREAMRESOURCE, IPortClsStreamResourceManager, IPortClsStreamResourceManager2,
    PCSTREAMRESOURCE, PCSTREAMRESOURCE_DESCRIPTOR, PcStreamResourceType,
    ePcStreamResourceInterrupt, ePcStreamResourceThread,
};

use crate::com::{ComPtr, Interface};
use crate::error::{Error, Step, check};
use crate::resource::{InterruptConnection, Pdo, Thread};

/// One way of registering stream resources with PortCls.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Mechanism {
    /// `IPortClsStreamResourceManager2::AddStreamResource2` with the explicit PDO
    /// (Windows 10 1511 and later).
    InterfaceV2,
    /// The portcls.sys exports `PcAddStreamResource` / `PcRemoveStreamResource` with the
    /// explicit PDO (Windows 10 1507 and later; only with the `export` feature).
    Export,
    /// `IPortClsStreamResourceManager::AddStreamResource`, PDO in the descriptor
    /// (Windows 10 1507 and later).
    InterfaceV1,
    /// PortCls offers no way to register (Windows 8.1 and earlier): registrations succeed
    /// without doing anything, so the driver still runs.
    Unsupported,
}

impl Mechanism {
    /// The routine that registers through this mechanism.
    #[must_use]
    pub const fn add_routine(self) -> &'static str {
        match self {
            Self::InterfaceV2 => "IPortClsStreamResourceManager2::AddStreamResource2",
            Self::Export => "PcAddStreamResource",
            Self::InterfaceV1 => "IPortClsStreamResourceManager::AddStreamResource",
            Self::Unsupported => "(no registration: unsupported)",
        }
    }

    /// The routine that removes a registration made through this mechanism.
    #[must_use]
    pub const fn remove_routine(self) -> &'static str {
        match self {
            Self::InterfaceV2 => "IPortClsStreamResourceManager2::RemoveStreamResource",
            Self::Export => "PcRemoveStreamResource",
            Self::InterfaceV1 => "IPortClsStreamResourceManager::RemoveStreamResource",
            Self::Unsupported => "(no removal: unsupported)",
        }
    }
}

impl core::fmt::Display for Mechanism {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::InterfaceV2 => "interface v2",
            Self::Export => "PcAddStreamResource export",
            Self::InterfaceV1 => "interface v1",
            Self::Unsupported => "not supported",
        })
    }
}

bitflags::bitflags! {
    /// The registration mechanisms available to this driver on this system.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
    pub struct Mechanisms: u8 {
        /// The port answered `QueryInterface(IID_IPortClsStreamResourceManager2)`.
        const INTERFACE_V2 = 1 << 0;
        /// The port answered `QueryInterface(IID_IPortClsStreamResourceManager)`.
        const INTERFACE_V1 = 1 << 1;
        /// The driver imports the portcls.sys exports (the `export` feature); since the driver
        /// loaded, portcls.sys has them.
        const EXPORT = 1 << 2;
    }
}

/// Whether this build imports `PcAddStreamResource` / `PcRemoveStreamResource` (the `export`
/// feature). Such a driver does not load on Windows 8.1.
pub const EXPORT_LINKED: bool = cfg!(feature = "export");

/// The order of preference: v2 (explicit PDO), the export (explicit PDO), v1, nothing.
#[must_use]
pub const fn choose(available: Mechanisms) -> Mechanism {
    if available.contains(Mechanisms::INTERFACE_V2) {
        Mechanism::InterfaceV2
    } else if available.contains(Mechanisms::EXPORT) {
        Mechanism::Export
    } else if available.contains(Mechanisms::INTERFACE_V1) {
        Mechanism::InterfaceV1
    } else {
        Mechanism::Unsupported
    }
}

/// The chosen route to PortCls, holding the interface it goes through.
#[derive(Clone, Debug)]
enum Route {
    V2(ComPtr<IPortClsStreamResourceManager2>),
    #[cfg(feature = "export")]
    Export,
    V1(ComPtr<IPortClsStreamResourceManager>),
    Unsupported,
}

impl AsRef<Route> for Route {
    fn as_ref(&self) -> &Route {
        self
    }
}

impl Route {
    const fn mechanism(&self) -> Mechanism {
        match self {
            Self::V2(_) => Mechanism::InterfaceV2,
            #[cfg(feature = "export")]
            Self::Export => Mechanism::Export,
            Self::V1(_) => Mechanism::InterfaceV1,
            Self::Unsupported => Mechanism::Unsupported,
        }
    }

    /// Registers the resource `descriptor` describes; `Ok(None)` when unsupported.
    fn add(
        &self,
        pdo: Pdo,
        resource_type: PcStreamResourceType,
        fill: impl FnOnce(&mut PCSTREAMRESOURCE_DESCRIPTOR),
    ) -> Result<Option<NonNull<_PCSTREAMRESOURCE>>, Error> {
        let step = Step::Add(self.mechanism());
        if matches!(self, Self::Unsupported) {
            return Ok(None);
        }
        ensure_passive(step)?;
        // PCSTREAMRESOURCE_DESCRIPTOR_INIT in place, so the padding PortCls reads is zero.
        let mut slot = core::mem::MaybeUninit::uninit();
        let descriptor = PCSTREAMRESOURCE_DESCRIPTOR::init_in_place(&mut slot);
        descriptor.Pdo = pdo.as_raw();
        descriptor.Type = resource_type;
        fill(descriptor);
        let d = core::ptr::from_mut(descriptor);
        let mut handle: PCSTREAMRESOURCE = core::ptr::null_mut();
        let status = match self {
            Self::V2(manager) => {
                let add = manager.vtable().AddStreamResource2;
                // SAFETY: `manager` is live (ComPtr invariant), the descriptor is complete and
                // `handle` writable; ResourceSet is NULL as documented.
                unsafe {
                    add(
                        manager.as_raw(),
                        pdo.as_raw(),
                        core::ptr::null_mut(),
                        d,
                        &raw mut handle,
                    )
                }
            }
            #[cfg(feature = "export")]
            Self::Export => {
                // SAFETY: as above, through the portcls.sys export.
                unsafe {
                    portcls_sys::PcAddStreamResource(
                        pdo.as_raw(),
                        core::ptr::null_mut(),
                        d,
                        &raw mut handle,
                    )
                }
            }
            Self::V1(manager) => {
                let add = manager.vtable().AddStreamResource;
                // SAFETY: as above; v1 takes the PDO from the descriptor.
                unsafe { add(manager.as_raw(), core::ptr::null_mut(), d, &raw mut handle) }
            }
            Self::Unsupported => return Ok(None),
        };
        check(step, status)?;
        NonNull::new(handle)
            .map(Some)
            .ok_or(Error::NullResult { step })
    }

    /// Removes a registration through the mechanism that made it.
    fn remove(&self, handle: NonNull<_PCSTREAMRESOURCE>) -> Result<(), Error> {
        let step = Step::Remove(self.mechanism());
        ensure_passive(step)?;
        let status = match self {
            Self::V2(manager) => {
                let remove = manager.vtable().base__.RemoveStreamResource;
                // SAFETY: `manager` is live; `handle` came from its AddStreamResource2. The v2
                // interface derives from v1, so the pointer is also a v1 `this`.
                unsafe { remove(manager.as_raw().cast(), handle.as_ptr()) }
            }
            #[cfg(feature = "export")]
            // SAFETY: `handle` came from PcAddStreamResource.
            Self::Export => unsafe { portcls_sys::PcRemoveStreamResource(handle.as_ptr()) },
            Self::V1(manager) => {
                let remove = manager.vtable().RemoveStreamResource;
                // SAFETY: `manager` is live; `handle` came from its AddStreamResource.
                unsafe { remove(manager.as_raw(), handle.as_ptr()) }
            }
            Self::Unsupported => return Ok(()),
        };
        check(step, status)
    }
}

/// The current IRQL, as the kernel (or on the host, the simulator) reports it.
fn current_irql() -> KIRQL {
    // SAFETY: reading the IRQL has no precondition in kernel mode (and on the host the
    // simulator defines it).
    unsafe { portcls_sys::km::KeGetCurrentIrql() }
}

/// Debug builds refuse stream-resource calls above `PASSIVE_LEVEL` instead of letting PortCls
/// bug-check; release builds leave the check to the caller (and to Driver Verifier).
fn ensure_passive(step: Step) -> Result<(), Error> {
    if cfg!(debug_assertions) {
        let irql = current_irql();
        if irql != PASSIVE_LEVEL {
            return Err(Error::IrqlNotPassive { step, irql });
        }
    }
    Ok(())
}

/// Registers a driver's stream resources with PortCls for one device, through the best
/// mechanism the system offers.
///
/// Made once per device (typically in `StartDevice`, from the WaveRT port) and kept in the
/// device extension. Creating one never fails: on a system without the stream-resource API the
/// manager reports [`Mechanism::Unsupported`] and its registrations do nothing.
#[derive(Debug)]
pub struct StreamResourceManager {
    pdo: Pdo,
    available: Mechanisms,
    route: Route,
}

impl StreamResourceManager {
    /// Asks `port` (a PortCls port object: the WaveRT port's `IUnknown` or any other interface
    /// of it) which stream-resource interfaces it implements and picks, in this order,
    /// interface v2, the `PcAddStreamResource` export (with the `export` feature), interface v1,
    /// and last [`Mechanism::Unsupported`]. A failing `QueryInterface` means "not there".
    ///
    /// Resources are registered for `pdo`.
    #[must_use]
    pub fn new<I: Interface>(port: &ComPtr<I>, pdo: Pdo) -> Self {
        let v2 = port.query::<IPortClsStreamResourceManager2>().ok();
        let v1 = port.query::<IPortClsStreamResourceManager>().ok();
        let mut available = Mechanisms::empty();
        available.set(Mechanisms::INTERFACE_V2, v2.is_some());
        available.set(Mechanisms::INTERFACE_V1, v1.is_some());
        available.set(Mechanisms::EXPORT, EXPORT_LINKED);
        let route = match (choose(available), v2, v1) {
            (Mechanism::InterfaceV2, Some(v2), _) => Route::V2(v2),
            #[cfg(feature = "export")]
            (Mechanism::Export, ..) => Route::Export,
            (Mechanism::InterfaceV1, _, Some(v1)) => Route::V1(v1),
            _ => Route::Unsupported,
        };
        Self {
            pdo,
            available,
            route,
        }
    }

    /// The mechanism registrations go through.
    #[must_use]
    pub const fn mechanism(&self) -> Mechanism {
        self.route.mechanism()
    }

    /// Every mechanism that was available when the manager was made.
    #[must_use]
    pub const fn available(&self) -> Mechanisms {
        self.available
    }

    /// The PDO resources are registered for.
    #[must_use]
    pub const fn pdo(&self) -> Pdo {
        self.pdo
    }

    fn add_thread(&self, thread: &Thread) -> Result<Option<NonNull<_PCSTREAMRESOURCE>>, Error> {
        self.route.add(self.pdo, ePcStreamResourceThread, |d| {
            d.Resource.Thread = thread.as_raw();
        })
    }

    fn add_interrupt(
        &self,
        interrupt: &InterruptConnection,
    ) -> Result<Option<NonNull<_PCSTREAMRESOURCE>>, Error> {
        self.route.add(self.pdo, ePcStreamResourceInterrupt, |d| {
            d.Resource.Interrupt.Version = interrupt.kind().version();
            d.Resource.Interrupt.Generic = interrupt.context();
        })
    }

    /// Registers `thread` for as long as the returned value lives (scoped use).
    ///
    /// The registration borrows both the manager and the thread, so neither can go away first.
    ///
    /// # Errors
    /// The failure PortCls reported ([`Step::Add`]), or [`Error::IrqlNotPassive`] in debug
    /// builds when called above `PASSIVE_LEVEL`. Nothing is registered then.
    pub fn register_thread<'a>(&'a self, thread: &'a Thread) -> Result<Registration<'a>, Error> {
        let handle = self.add_thread(thread)?;
        Ok(Registration {
            active: Active {
                route: &self.route,
                handle,
            },
        })
    }

    /// Registers `interrupt` for as long as the returned value lives (scoped use).
    ///
    /// # Errors
    /// As for [`StreamResourceManager::register_thread`].
    pub fn register_interrupt<'a>(
        &'a self,
        interrupt: &'a InterruptConnection,
    ) -> Result<Registration<'a>, Error> {
        let handle = self.add_interrupt(interrupt)?;
        Ok(Registration {
            active: Active {
                route: &self.route,
                handle,
            },
        })
    }

    /// Registers `thread` and keeps it: the result owns the thread reference and a reference
    /// on the PortCls interface, so it can live in a device extension.
    ///
    /// # Errors
    /// As for [`StreamResourceManager::register_thread`]; the thread comes back with the error.
    pub fn register_owned_thread(
        &self,
        thread: Thread,
    ) -> Result<OwnedThreadRegistration, (Error, Thread)> {
        match self.add_thread(&thread) {
            Ok(handle) => Ok(OwnedThreadRegistration {
                active: Active {
                    route: self.route.clone(),
                    handle,
                },
                thread,
            }),
            Err(error) => Err((error, thread)),
        }
    }

    /// Registers `interrupt` and takes ownership of the connection: dropping the result
    /// removes the registration first and disconnects the interrupt after.
    ///
    /// # Errors
    /// As for [`StreamResourceManager::register_thread`]; the connection comes back with the
    /// error, still connected.
    pub fn register_owned_interrupt(
        &self,
        interrupt: InterruptConnection,
    ) -> Result<OwnedInterruptRegistration, (Error, InterruptConnection)> {
        match self.add_interrupt(&interrupt) {
            Ok(handle) => Ok(OwnedInterruptRegistration {
                active: Active {
                    route: self.route.clone(),
                    handle,
                },
                interrupt,
            }),
            Err(error) => Err((error, interrupt)),
        }
    }
}

/// A live registration: the handle and the route that made it (borrowed or owned).
///
/// # Invariants
/// `handle`, when present, was returned by `route`'s add and has not been removed.
#[derive(Debug)]
struct Active<R: AsRef<Route>> {
    route: R,
    handle: Option<NonNull<_PCSTREAMRESOURCE>>,
}

// SAFETY: the handle is an opaque token PortCls accepts from any thread; the route is Send.
unsafe impl<R: AsRef<Route> + Send> Send for Active<R> {}

impl<R: AsRef<Route>> Active<R> {
    fn mechanism(&self) -> Mechanism {
        self.route.as_ref().mechanism()
    }

    fn finish(&mut self) -> Result<(), Error> {
        match self.handle.take() {
            Some(handle) => self.route.as_ref().remove(handle),
            None => Ok(()),
        }
    }

    /// Like `finish`, but a refused removal keeps the handle (PortCls still holds it), so it
    /// can be tried again.
    fn try_finish(&mut self) -> Result<(), Error> {
        match self.handle {
            Some(handle) => {
                self.route.as_ref().remove(handle)?;
                self.handle = None;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl<R: AsRef<Route>> Drop for Active<R> {
    fn drop(&mut self) {
        // A failed removal cannot be reported from drop; `unregister` returns it instead.
        let _ = self.finish();
    }
}

/// A scoped registration; removed (through the object that made it) when dropped.
///
/// Drop it at `PASSIVE_LEVEL`. Debug builds skip the removal above that level (PortCls would
/// bug-check) and the registration then stays behind.
#[derive(Debug)]
#[must_use = "dropping a registration removes it at once"]
pub struct Registration<'a> {
    active: Active<&'a Route>,
}

impl Registration<'_> {
    /// The mechanism that registered the resource ([`Mechanism::Unsupported`]: nothing was).
    #[must_use]
    pub fn mechanism(&self) -> Mechanism {
        self.active.mechanism()
    }

    /// Whether PortCls holds a registration (false when unsupported).
    #[must_use]
    pub fn is_registered(&self) -> bool {
        self.active.handle.is_some()
    }

    /// Removes the registration now and reports the outcome.
    ///
    /// # Errors
    /// The failure PortCls reported ([`Step::Remove`]) or [`Error::IrqlNotPassive`].
    pub fn unregister(mut self) -> Result<(), Error> {
        self.active.finish()
    }
}

/// A registration that owns its thread reference and a reference on the PortCls interface.
///
/// Dropping it removes the registration, then drops the thread reference.
#[derive(Debug)]
#[must_use = "dropping a registration removes it at once"]
pub struct OwnedThreadRegistration {
    // Field order is drop order: the registration goes before the thread reference.
    active: Active<Route>,
    thread: Thread,
}

impl OwnedThreadRegistration {
    /// The mechanism that registered the thread.
    #[must_use]
    pub fn mechanism(&self) -> Mechanism {
        self.active.mechanism()
    }

    /// Whether PortCls holds a registration (false when unsupported).
    #[must_use]
    pub fn is_registered(&self) -> bool {
        self.active.handle.is_some()
    }

    /// The registered thread.
    #[must_use]
    pub const fn thread(&self) -> &Thread {
        &self.thread
    }

    /// Removes the registration and hands the thread back (to be told to exit and waited on),
    /// with the outcome of the removal.
    pub fn unregister(self) -> (Thread, Result<(), Error>) {
        let Self { mut active, thread } = self;
        let outcome = active.finish();
        (thread, outcome)
    }

    /// Removes the registration and hands the thread back; if PortCls refuses the removal,
    /// hands the registration back intact (still registered) with the error, so the caller
    /// can try again before letting the thread go. (PortCls reports a failure only when it
    /// did not remove the resource.)
    ///
    /// # Errors
    /// The registration, unchanged, and the failure ([`Step::Remove`] or
    /// [`Error::IrqlNotPassive`]).
    pub fn try_unregister(mut self) -> Result<Thread, (Self, Error)> {
        match self.active.try_finish() {
            Ok(()) => Ok(self.unregister().0),
            Err(error) => Err((self, error)),
        }
    }
}

/// A registration that owns the interrupt connection and a reference on the PortCls interface.
///
/// Dropping it removes the registration, then disconnects the interrupt: the order PortCls
/// requires (never a registered interrupt that is disconnected).
#[derive(Debug)]
#[must_use = "dropping a registration removes it and disconnects the interrupt at once"]
pub struct OwnedInterruptRegistration {
    // Field order is drop order: the registration goes before the connection.
    active: Active<Route>,
    interrupt: InterruptConnection,
}

impl OwnedInterruptRegistration {
    /// The mechanism that registered the interrupt.
    #[must_use]
    pub fn mechanism(&self) -> Mechanism {
        self.active.mechanism()
    }

    /// Whether PortCls holds a registration (false when unsupported).
    #[must_use]
    pub fn is_registered(&self) -> bool {
        self.active.handle.is_some()
    }

    /// The registered connection.
    #[must_use]
    pub const fn interrupt(&self) -> &InterruptConnection {
        &self.interrupt
    }

    /// Removes the registration and hands the still-connected interrupt back (for example to
    /// disconnect on the way to D3), with the outcome of the removal.
    pub fn unregister(self) -> (InterruptConnection, Result<(), Error>) {
        let Self {
            mut active,
            interrupt,
        } = self;
        let outcome = active.finish();
        (interrupt, outcome)
    }

    /// Removes the registration and hands the connection back; if PortCls refuses the
    /// removal, hands the registration back intact with the error, so the caller can try
    /// again before disconnecting.
    ///
    /// # Errors
    /// The registration, unchanged, and the failure ([`Step::Remove`] or
    /// [`Error::IrqlNotPassive`]).
    pub fn try_unregister(mut self) -> Result<InterruptConnection, (Self, Error)> {
        match self.active.try_finish() {
            Ok(()) => Ok(self.unregister().0),
            Err(error) => Err((self, error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preference_is_v2_then_export_then_v1_then_unsupported() {
        let all = Mechanisms::all();
        assert_eq!(choose(all), Mechanism::InterfaceV2);
        assert_eq!(
            choose(Mechanisms::INTERFACE_V1 | Mechanisms::EXPORT),
            Mechanism::Export
        );
        assert_eq!(choose(Mechanisms::INTERFACE_V1), Mechanism::InterfaceV1);
        assert_eq!(choose(Mechanisms::EXPORT), Mechanism::Export);
        assert_eq!(choose(Mechanisms::empty()), Mechanism::Unsupported);
        assert_eq!(
            choose(Mechanisms::INTERFACE_V2 | Mechanisms::INTERFACE_V1),
            Mechanism::InterfaceV2
        );
    }

    #[test]
    fn mechanisms_display_as_distinct_names() {
        extern crate std;
        use std::string::ToString;
        use std::vec::Vec;
        let all = [
            Mechanism::InterfaceV2,
            Mechanism::Export,
            Mechanism::InterfaceV1,
            Mechanism::Unsupported,
        ];
        let names: Vec<_> = all.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "interface v2",
                "PcAddStreamResource export",
                "interface v1",
                "not supported"
            ]
        );
    }

    #[test]
    fn registrations_are_send_so_a_device_extension_can_hold_them() {
        fn assert_send<T: Send>() {}
        assert_send::<OwnedThreadRegistration>();
        assert_send::<OwnedInterruptRegistration>();
        assert_send::<StreamResourceManager>();
    }
}
