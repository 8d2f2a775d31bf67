//! Every OS profile x resource kind x registration form x failure point, through the safe API
//! against the PortCls model.
//!
//! For each combination the scenario (make the manager, register, unregister, release
//! everything) first runs clean to count its fallible calls, then once more per call with that
//! call failing. Each run checks the mechanism chosen, the descriptor bytes PortCls saw, the
//! error surfaced, that removal went through the registering object, and what is left behind.
// The scenario and its checks read best as one straight line each.
#![allow(clippy::too_many_lines)]

use portcls::{
    ComPtr, EXPORT_LINKED, Error, InterruptConnection, Mechanism, Mechanisms, Pdo, Step,
    StreamResourceManager, Thread, choose,
};
use portcls_sim::{Connect, Ddi, OsProfile, Resource, Sim, Via, Violation};
use portcls_sys::{IUnknown, STATUS_INSUFFICIENT_RESOURCES, STATUS_NOT_IMPLEMENTED};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Thread,
    Interrupt(Connect),
}

const KINDS: [Kind; 4] = [
    Kind::Thread,
    Kind::Interrupt(Connect::LineBased),
    Kind::Interrupt(Connect::FullySpecified),
    Kind::Interrupt(Connect::MessageBased),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    Borrowed,
    Owned,
}

/// The raw objects a scenario made, for checking afterwards.
struct Made {
    port: *mut IUnknown,
    pdo: usize,
    resource: Resource,
}

/// What the scenario observed through the safe API.
#[derive(Debug, Default)]
struct Observed {
    mechanism: Option<Mechanism>,
    available: Option<Mechanisms>,
    register: Option<Result<(), Error>>,
    unregister: Option<Result<(), Error>>,
    registered_while_live: Vec<portcls_sim::StreamResource>,
    port_refs_while_registered: u32,
}

fn scenario(sim: &Sim, kind: Kind, form: Form) -> (Made, Observed) {
    let device = sim.add_device();
    let raw_port = sim.new_port();
    let mut seen = Observed::default();
    // SAFETY: the port sim just made, with the reference it handed us.
    let port: ComPtr<IUnknown> = unsafe { ComPtr::from_raw(raw_port) }.unwrap();
    // SAFETY: an FDO of the simulated machine.
    let pdo = match unsafe { Pdo::from_fdo(device.fdo) } {
        Ok(pdo) => pdo,
        Err(error) => {
            seen.register = Some(Err(error));
            let made = Made {
                port: raw_port,
                pdo: device.pdo.addr(),
                resource: Resource::Thread(0),
            };
            return (made, seen);
        }
    };
    assert_eq!(pdo.as_raw().addr(), device.pdo.addr());
    let manager = StreamResourceManager::new(&port, pdo);
    seen.mechanism = Some(manager.mechanism());
    seen.available = Some(manager.available());

    let observe_live = |seen: &mut Observed| {
        seen.registered_while_live = sim.registrations();
        seen.port_refs_while_registered = sim.port_refs(raw_port);
    };

    let resource = match kind {
        Kind::Thread => {
            let raw = sim.create_thread();
            // SAFETY: sim handed us one reference on a live thread.
            let thread = unsafe { Thread::from_raw(raw) }.unwrap();
            match form {
                Form::Borrowed => match manager.register_thread(&thread) {
                    Ok(registration) => {
                        seen.register = Some(Ok(()));
                        assert_eq!(registration.mechanism(), manager.mechanism());
                        observe_live(&mut seen);
                        seen.unregister = Some(registration.unregister());
                    }
                    Err(error) => seen.register = Some(Err(error)),
                },
                Form::Owned => match manager.register_owned_thread(thread) {
                    Ok(registration) => {
                        seen.register = Some(Ok(()));
                        assert_eq!(registration.thread().as_raw(), raw);
                        observe_live(&mut seen);
                        let (thread, outcome) = registration.unregister();
                        seen.unregister = Some(outcome);
                        drop(thread);
                    }
                    Err((error, thread)) => {
                        seen.register = Some(Err(error));
                        assert_eq!(thread.as_raw(), raw, "the thread comes back with the error");
                    }
                },
            }
            Resource::Thread(raw.addr())
        }
        Kind::Interrupt(connect) => {
            let (version, context) = sim.connect_interrupt(connect);
            // SAFETY: a live connection sim made, handed over to the wrapper.
            let connection = unsafe { InterruptConnection::from_raw(version, context) }.unwrap();
            assert_eq!(
                connection.kind().is_message_based(),
                connect == Connect::MessageBased
            );
            match form {
                Form::Borrowed => {
                    match manager.register_interrupt(&connection) {
                        Ok(registration) => {
                            seen.register = Some(Ok(()));
                            observe_live(&mut seen);
                            seen.unregister = Some(registration.unregister());
                        }
                        Err(error) => seen.register = Some(Err(error)),
                    }
                    drop(connection);
                }
                Form::Owned => match manager.register_owned_interrupt(connection) {
                    Ok(registration) => {
                        seen.register = Some(Ok(()));
                        observe_live(&mut seen);
                        let (connection, outcome) = registration.unregister();
                        assert!(sim.is_connected(context), "unregister leaves it connected");
                        seen.unregister = Some(outcome);
                        drop(connection);
                    }
                    Err((error, connection)) => {
                        seen.register = Some(Err(error));
                        assert!(sim.is_connected(connection.context()));
                    }
                },
            }
            assert!(
                !sim.is_connected(context),
                "dropping the connection disconnects"
            );
            Resource::Interrupt {
                context: context.addr(),
                version,
            }
        }
    };
    drop(manager);
    drop(port);
    (
        Made {
            port: raw_port,
            pdo: device.pdo.addr(),
            resource,
        },
        seen,
    )
}

/// The ddi the k-th fallible call was, from a clean run's trace.
fn fallible_ddis(sim: &Sim) -> Vec<Ddi> {
    let fallible = [
        Ddi::QueryInterface,
        Ddi::AddStreamResource,
        Ddi::AddStreamResource2,
        Ddi::RemoveStreamResource,
        Ddi::PcAddStreamResource,
        Ddi::PcRemoveStreamResource,
        Ddi::PcGetPhysicalDeviceObject,
    ];
    sim.trace()
        .into_iter()
        .map(|event| event.ddi)
        .filter(|ddi| fallible.contains(ddi))
        .collect()
}

fn expected_available(profile: OsProfile, failed_query: Option<usize>) -> Mechanisms {
    // The manager asks for v2 first, then v1 (queries 1 and 2).
    let mut available = Mechanisms::empty();
    available.set(
        Mechanisms::INTERFACE_V2,
        profile.has_interface_v2() && failed_query != Some(1),
    );
    available.set(
        Mechanisms::INTERFACE_V1,
        profile.has_interface_v1() && failed_query != Some(2),
    );
    available.set(Mechanisms::EXPORT, EXPORT_LINKED);
    available
}

fn add_ddi(mechanism: Mechanism) -> Option<Ddi> {
    match mechanism {
        Mechanism::InterfaceV2 => Some(Ddi::AddStreamResource2),
        Mechanism::Export => Some(Ddi::PcAddStreamResource),
        Mechanism::InterfaceV1 => Some(Ddi::AddStreamResource),
        Mechanism::Unsupported => None,
    }
}

fn check_run(profile: OsProfile, kind: Kind, form: Form, inject: Option<(usize, Ddi)>) {
    let label = format!("{profile:?} {kind:?} {form:?} inject {inject:?}");
    let sim = Sim::new(profile);
    if let Some((k, _)) = inject {
        sim.fail_nth_call(k as u64, STATUS_INSUFFICIENT_RESOURCES);
    }
    let (made, seen) = scenario(&sim, kind, form);

    if inject.is_some_and(|(_, ddi)| ddi == Ddi::PcGetPhysicalDeviceObject) {
        assert_eq!(
            seen.register,
            Some(Err(Error::InsufficientResources {
                step: Step::PdoLookup
            })),
            "{label}"
        );
        assert_eq!(sim.port_refs(made.port), 0, "{label}");
        sim.assert_clean();
        return;
    }

    // Which QueryInterface failed (1 = v2, 2 = v1), counted among the queries.
    let failed_query = inject.and_then(|(k, ddi)| {
        (ddi == Ddi::QueryInterface).then(|| k - 1) // call 1 is the PDO lookup
    });
    let available = expected_available(profile, failed_query);
    let mechanism = choose(available);
    assert_eq!(seen.available, Some(available), "{label}");
    assert_eq!(seen.mechanism, Some(mechanism), "{label}");

    let add_failed = inject.is_some_and(|(_, ddi)| Some(ddi) == add_ddi(mechanism));
    let remove_failed = inject.is_some_and(|(_, ddi)| {
        matches!(ddi, Ddi::RemoveStreamResource | Ddi::PcRemoveStreamResource)
    });
    let missing_export = mechanism == Mechanism::Export && !profile.has_exports();

    // Registration outcome.
    if missing_export {
        // A driver importing the export does not load on 8.1; the model says so.
        assert_eq!(
            seen.register,
            Some(Err(Error::Failed {
                step: Step::Add(Mechanism::Export),
                status: STATUS_NOT_IMPLEMENTED
            })),
            "{label}"
        );
        assert_eq!(
            sim.violations(),
            vec![Violation::ImportMissing {
                ddi: Ddi::PcAddStreamResource
            }],
            "{label}"
        );
        return;
    }
    if add_failed {
        let error = seen.register.unwrap().unwrap_err();
        assert_eq!(
            error,
            Error::InsufficientResources {
                step: Step::Add(mechanism)
            },
            "{label}"
        );
        assert_eq!(error.status(), STATUS_INSUFFICIENT_RESOURCES, "{label}");
        assert!(seen.unregister.is_none(), "{label}");
        sim.assert_clean();
        return;
    }
    assert_eq!(seen.register, Some(Ok(())), "{label}");

    // What PortCls held while registered.
    if mechanism == Mechanism::Unsupported {
        assert!(seen.registered_while_live.is_empty(), "{label}");
    } else {
        let [record] = seen.registered_while_live.as_slice() else {
            panic!(
                "{label}: expected one registration, got {:?}",
                seen.registered_while_live
            );
        };
        assert_eq!(
            record.pdo, made.pdo,
            "{label}: registered for the explicit PDO"
        );
        assert_eq!(record.resource, made.resource, "{label}");
        assert_eq!(
            record.descriptor,
            made.resource.descriptor_bytes(made.pdo),
            "{label}"
        );
        let via_matches = matches!(
            (mechanism, record.via),
            (Mechanism::InterfaceV2, Via::InterfaceV2 { .. })
                | (Mechanism::InterfaceV1, Via::InterfaceV1 { .. })
                | (Mechanism::Export, Via::Export)
        );
        assert!(via_matches, "{label}: {mechanism:?} vs {:?}", record.via);
        // The port reference: ours, plus the manager's interface (v1/v2 routes); the
        // borrowed form adds none, the owned form holds one more.
        let interface_refs = u32::from(matches!(
            mechanism,
            Mechanism::InterfaceV1 | Mechanism::InterfaceV2
        ));
        let owned_refs = if form == Form::Owned {
            interface_refs
        } else {
            0
        };
        assert_eq!(
            seen.port_refs_while_registered,
            1 + interface_refs + owned_refs,
            "{label}"
        );
    }

    // Removal outcome and what is left.
    if remove_failed {
        assert_eq!(
            seen.unregister,
            Some(Err(Error::InsufficientResources {
                step: Step::Remove(mechanism)
            })),
            "{label}"
        );
        // PortCls still holds it, and tearing the resource down then breaks the rules: the
        // model reports exactly that, as Driver Verifier would.
        assert_eq!(sim.registrations().len(), 1, "{label}");
        let gone = match made.resource {
            Resource::Thread(thread) => Violation::ThreadGoneWhileRegistered { thread },
            Resource::Interrupt { context, .. } => {
                Violation::DisconnectedWhileRegistered { context }
            }
        };
        assert_eq!(sim.violations(), vec![gone], "{label}");
    } else {
        assert_eq!(seen.unregister, Some(Ok(())), "{label}");
        assert_eq!(sim.port_refs(made.port), 0, "{label}");
        sim.assert_clean();
    }
}

fn run_profile(profile: OsProfile) {
    let mut runs = 0;
    for kind in KINDS {
        for form in [Form::Borrowed, Form::Owned] {
            // A clean run first, counting the fallible calls.
            let ddis = {
                let sim = Sim::new(profile);
                let _ = scenario(&sim, kind, form);
                fallible_ddis(&sim)
            };
            assert!(!ddis.is_empty());
            check_run(profile, kind, form, None);
            runs += 1;
            for (index, ddi) in ddis.iter().enumerate() {
                check_run(profile, kind, form, Some((index + 1, *ddi)));
                runs += 1;
            }
        }
    }
    println!("{profile}: {runs} runs (every fallible call failed once)");
}

#[test]
fn windows_8_1_reports_not_supported_or_the_missing_export() {
    run_profile(OsProfile::Windows81);
}

#[test]
fn windows_10_1507_falls_back_to_the_export_or_interface_v1() {
    run_profile(OsProfile::Win10_1507);
}

#[test]
fn windows_10_1511_uses_interface_v2_with_the_explicit_pdo() {
    run_profile(OsProfile::Win10_1511);
}

#[test]
fn windows_10_2004_still_uses_interface_v2() {
    run_profile(OsProfile::Win10_2004);
}

#[test]
fn mechanism_chosen_per_profile() {
    for profile in OsProfile::ALL {
        let sim = Sim::new(profile);
        let device = sim.add_device();
        // SAFETY: a fresh simulated port and PDO.
        let port: ComPtr<IUnknown> = unsafe { ComPtr::from_raw(sim.new_port()) }.unwrap();
        // SAFETY: as above.
        let pdo = unsafe { Pdo::from_raw(device.pdo) }.unwrap();
        let manager = StreamResourceManager::new(&port, pdo);
        let expected = match profile {
            OsProfile::Win10_1511 | OsProfile::Win10_2004 => Mechanism::InterfaceV2,
            OsProfile::Win10_1507 | OsProfile::Windows81 if EXPORT_LINKED => Mechanism::Export,
            OsProfile::Win10_1507 => Mechanism::InterfaceV1,
            OsProfile::Windows81 => Mechanism::Unsupported,
        };
        println!(
            "{profile}: export linked {EXPORT_LINKED}, available {:?}, chosen {}",
            manager.available(),
            manager.mechanism()
        );
        assert_eq!(manager.mechanism(), expected, "{profile}");
    }
}
