//! The library's kernel probe (`crates/kernel-probe`: every public path of `portcls` in one
//! entry point) run in the model, as the host build and as the kernel images `cargo xtask test`
//! linked and audited, with the export and without it.
//!
//! For each OS profile the probe registers a thread (borrowed and owned) and a line-based
//! interrupt (borrowed and owned) and removes them again. Checked, as the library's host matrix
//! checks its scenarios: the mechanism PortCls saw for each registration (interface v2 on 1511+,
//! the export or interface v1 on 1507, none on 8.1), the 40 descriptor bytes exactly, the
//! explicit PDO, the references on the port and the thread given back, the interrupt
//! disconnected, nothing left registered; then every fallible call of the run fails in turn and
//! each run still leaves nothing registered or referenced. An image that imports the export
//! does not load on Windows 8.1, whose portcls.sys lacks it.
#![cfg(not(miri))] // the images are machine code; the host variant is covered by the matrix

mod common;

use std::path::PathBuf;

use portcls_kernel_probe::ProbeInput;
use portcls_sim::image::{Image, ImageError};
use portcls_sim::{Connect, Ddi, OsProfile, Resource, Sim, Via, Violation};
use portcls_sys::{NTSTATUS, PVOID, STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS};

/// The probe's entry point, with the kernel convention.
type Entry =
    portcls_sys::kernel_abi!(unsafe fn(input: *const ProbeInput, unused: PVOID) -> NTSTATUS);

/// A build of the probe.
#[derive(Clone, Copy, Debug)]
enum Probe {
    /// Linked into this test binary; it has the export exactly when the library here does.
    Host,
    /// The kernel image, with or without the export.
    Image { export: bool },
}

impl Probe {
    fn has_export(self) -> bool {
        match self {
            Self::Host => portcls::EXPORT_LINKED,
            Self::Image { export } => export,
        }
    }
}

/// `target/probe/<arch>/probe{-export}.sys`, which `cargo xtask test` writes after checking it.
fn image_path(export: bool) -> PathBuf {
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "x64"
    };
    let name = if export {
        "probe-export.sys"
    } else {
        "probe.sys"
    };
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/probe")
        .join(arch)
        .join(name)
}

/// Maps the probe (for an image, with its imports bound to what `profile` exports) and returns
/// its entry point with the mapping that keeps it alive.
fn entry(probe: Probe, profile: OsProfile) -> Result<(Entry, Option<Image>), ImageError> {
    let Probe::Image { export } = probe else {
        return Ok((portcls_kernel_probe::probe_entry, None));
    };
    let mut sources = common::DRIVER_SOURCES.to_vec();
    sources.push("crates/kernel-probe");
    let bytes = common::read_image(&image_path(export), &sources);
    let image = Image::load(&bytes, &mut |module, name| {
        portcls_sim::exports::resolve(profile, module, name)
    })?;
    // SAFETY: the entry point of a mapped, bound image for this machine; the probe's
    // `DriverEntry` has this signature and the kernel convention.
    let entry = unsafe { std::mem::transmute::<usize, Entry>(image.entry()) };
    Ok((entry, Some(image)))
}

/// The objects one probe run works on, and what the run returned.
struct Run {
    status: NTSTATUS,
    port: portcls_sys::PUNKNOWN,
    pdo: usize,
    thread: portcls_sys::PETHREAD,
    context: PVOID,
    version: u32,
}

fn run_probe(sim: &Sim, entry: Entry) -> Run {
    let device = sim.add_device();
    let port = sim.new_port();
    let thread = sim.create_thread();
    let (version, context) = sim.connect_interrupt(Connect::LineBased);
    let input = ProbeInput {
        port,
        fdo: device.fdo,
        thread,
        version,
        context,
    };
    // SAFETY: the probe's entry point with objects of this machine: a port whose reference it
    // takes over, an FDO, a thread it borrows, a connection it disconnects.
    let status = unsafe { entry(&raw const input, std::ptr::null_mut()) };
    Run {
        status,
        port,
        pdo: device.pdo.addr(),
        thread,
        context,
        version,
    }
}

/// The routine the probe's registrations must have gone through under `profile`.
fn expected_add(profile: OsProfile, export: bool) -> Option<Ddi> {
    if profile.has_interface_v2() {
        Some(Ddi::AddStreamResource2)
    } else if export && profile.has_exports() {
        Some(Ddi::PcAddStreamResource)
    } else if profile.has_interface_v1() {
        Some(Ddi::AddStreamResource)
    } else {
        None
    }
}

/// After any run, clean or failed: nothing registered, every reference the probe took given
/// back, the interrupt disconnected once the probe owned it, no rule broken.
fn assert_nothing_left(sim: &Sim, run: &Run, owned_interrupt: bool, label: &str) {
    assert!(
        sim.registrations().is_empty(),
        "{label}: {:?}",
        sim.registrations()
    );
    assert_eq!(sim.port_refs(run.port), 0, "{label}: port references");
    assert_eq!(
        sim.thread_refs(run.thread),
        1,
        "{label}: only the test's own thread reference"
    );
    assert_eq!(
        sim.is_connected(run.context),
        !owned_interrupt,
        "{label}: an owned interrupt is disconnected, one never taken over is not"
    );
    assert!(
        sim.violations().is_empty(),
        "{label}: {:?}",
        sim.violations()
    );
}

fn check_clean_run(probe: Probe, profile: OsProfile) -> Vec<Ddi> {
    let label = format!("{probe:?} under {profile}");
    let sim = Sim::new(profile);
    let (entry, _image) = entry(probe, profile).unwrap_or_else(|e| panic!("{label}: {e}"));
    let run = run_probe(&sim, entry);
    assert_eq!(run.status, STATUS_SUCCESS, "{label}");
    let history = sim.registration_history();
    let adds: Vec<Ddi> = sim
        .trace()
        .into_iter()
        .map(|event| event.ddi)
        .filter(|ddi| {
            matches!(
                ddi,
                Ddi::AddStreamResource | Ddi::AddStreamResource2 | Ddi::PcAddStreamResource
            )
        })
        .collect();
    match expected_add(profile, probe.has_export()) {
        None => {
            assert!(adds.is_empty(), "{label}: {adds:?}");
            assert!(history.is_empty(), "{label}: {history:?}");
        }
        Some(add) => {
            // Borrowed thread, borrowed interrupt, owned thread, owned interrupt.
            assert_eq!(adds, vec![add; 4], "{label}");
            let thread = Resource::Thread(run.thread.addr());
            let interrupt = Resource::Interrupt {
                context: run.context.addr(),
                version: run.version,
            };
            let resources: Vec<Resource> = history.iter().map(|r| r.resource).collect();
            assert_eq!(resources, [thread, interrupt, thread, interrupt], "{label}");
            for registration in &history {
                assert_eq!(registration.pdo, run.pdo, "{label}: the explicit PDO");
                assert_eq!(
                    registration.descriptor,
                    registration.resource.descriptor_bytes(run.pdo),
                    "{label}: descriptor bytes"
                );
                let expected_via = match add {
                    Ddi::AddStreamResource2 => matches!(registration.via, Via::InterfaceV2 { .. }),
                    Ddi::AddStreamResource => matches!(registration.via, Via::InterfaceV1 { .. }),
                    _ => matches!(registration.via, Via::Export),
                };
                assert!(expected_via, "{label}: {:?}", registration.via);
            }
        }
    }
    assert_nothing_left(&sim, &run, true, &label);
    sim.trace()
        .into_iter()
        .map(|event| event.ddi)
        .filter(|ddi| sim_fallible(*ddi))
        .collect()
}

/// The routines of the probe's run that can fail.
fn sim_fallible(ddi: Ddi) -> bool {
    matches!(
        ddi,
        Ddi::QueryInterface
            | Ddi::AddStreamResource
            | Ddi::AddStreamResource2
            | Ddi::RemoveStreamResource
            | Ddi::PcAddStreamResource
            | Ddi::PcRemoveStreamResource
            | Ddi::PcGetPhysicalDeviceObject
    )
}

fn check_failures(probe: Probe, profile: OsProfile, fallible: usize) -> usize {
    for k in 1..=fallible {
        let label = format!("{probe:?} under {profile}, fallible call {k} failing");
        let sim = Sim::new(profile);
        let (entry, _image) = entry(probe, profile).unwrap_or_else(|e| panic!("{label}: {e}"));
        sim.fail_nth_call(k as u64, STATUS_INSUFFICIENT_RESOURCES);
        let run = run_probe(&sim, entry);
        // A failed query is a fallback, not a failure; anything else surfaces as injected.
        assert!(
            run.status == STATUS_SUCCESS || run.status == STATUS_INSUFFICIENT_RESOURCES,
            "{label}: {:#x}",
            run.status
        );
        let injected = sim.injected();
        assert_eq!(injected.len(), 1, "{label}: the injection happened");
        if matches!(
            injected[0],
            Ddi::RemoveStreamResource | Ddi::PcRemoveStreamResource
        ) {
            // As in the library's matrix: PortCls still holds the one registration it refused
            // to remove, the probe gives up on it (a driver would retry; a removal by drop has
            // no way to report), and tearing the resource down then breaks the rules, which the
            // model reports as Driver Verifier would. Nothing else is left registered.
            let left = sim.registrations();
            assert_eq!(left.len(), 1, "{label}: {left:?}");
            let allowed = match left[0].resource {
                Resource::Thread(thread) => Violation::ThreadGoneWhileRegistered { thread },
                Resource::Interrupt { context, .. } => {
                    Violation::DisconnectedWhileRegistered { context }
                }
            };
            let violations = sim.violations();
            assert!(
                violations.iter().all(|v| *v == allowed),
                "{label}: {violations:?}"
            );
            continue;
        }
        // The probe looks the PDO up first and stops there when that fails, before it takes
        // the interrupt connection over.
        let owned = injected[0] != Ddi::PcGetPhysicalDeviceObject;
        assert_nothing_left(&sim, &run, owned, &label);
    }
    fallible
}

fn check_probe(probe: Probe) {
    let mut runs = 0;
    for profile in OsProfile::ALL {
        if probe.has_export() && !profile.has_exports() {
            continue;
        }
        let fallible = check_clean_run(probe, profile).len();
        runs += 1 + check_failures(probe, profile, fallible);
    }
    println!(
        "kernel probe ({probe:?}): {runs} runs in the model (clean, then each fallible call failing), nothing left but what a refused removal keeps"
    );
}

#[test]
fn the_host_probe_registers_through_the_mechanism_of_each_profile() {
    check_probe(Probe::Host);
}

#[test]
fn the_probe_image_without_the_export_registers_through_each_profile_s_mechanism() {
    check_probe(Probe::Image { export: false });
}

#[test]
fn the_probe_image_with_the_export_registers_through_each_profile_s_mechanism() {
    check_probe(Probe::Image { export: true });
}

#[test]
fn the_probe_image_with_the_export_does_not_load_on_windows_8_1() {
    let error = entry(Probe::Image { export: true }, OsProfile::Windows81)
        .map(|_| ())
        .expect_err("Windows 8.1's portcls.sys has no PcAddStreamResource");
    assert!(
        matches!(&error, ImageError::MissingImport { module, name }
            if module.eq_ignore_ascii_case("portcls.sys") && name.ends_with("StreamResource")),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .ends_with("StreamResource, which the model does not provide"),
        "{error}"
    );
}
