//! The host build and the shipped image are the same driver: one session under each OS profile
//! gives the same conversation with the model from both, call for call (every routine in the
//! same order with the same status), the same fallible calls, and the same stream-resource
//! registrations (mechanism and resource kind).
//!
//! Each half of the other workspace tests checks its own driver against the model; this test
//! checks the two drivers against each other, so a difference between what is tested on the
//! host and what ships (a feature, a `cfg`, the compiler's code for another target) cannot hide
//! behind two passing halves. The host build must then be built as the sample ships (the library
//! without the `export` feature), which `cargo test -p portcls-workspace-tests` does; a workspace
//! build that links the export into the host build compares only the profiles where the export
//! is never chosen (1511 and later).
#![cfg(not(miri))] // the image is machine code

mod common;

use portcls_sim::{Ddi, OsProfile, Resource, Sim, Via};
use portcls_sys::{NTSTATUS, STATUS_SUCCESS};
use wavert_sample::adapter::DriverEntry;

/// One session's conversation and registrations.
#[derive(Debug, PartialEq, Eq)]
struct Session {
    calls: Vec<(Ddi, NTSTATUS)>,
    fallible: u64,
    registrations: Vec<(&'static str, &'static str)>,
}

/// Loads `driver`, brings both endpoints up, streams for 100 ms of virtual time, pauses, stops,
/// closes, takes the device through D3 and back, removes it and unloads the driver.
fn session(profile: OsProfile, image: bool) -> Session {
    let sim = Sim::new(profile);
    let status = if image {
        sim.load_image(common::image_bytes()).unwrap()
    } else {
        sim.load_driver(DriverEntry)
    };
    assert_eq!(status, STATUS_SUCCESS);
    let device = sim.plug_in().unwrap();
    assert_eq!(sim.start_device(&device), STATUS_SUCCESS);
    sim.endpoints(device.fdo).unwrap();
    let mut render = common::open_in_state(&sim, &device, false, 3);
    let mut capture = common::open_in_state(&sim, &device, true, 3);
    sim.advance(1_000_000);
    for stream in [&mut render, &mut capture] {
        stream.position().unwrap();
        assert_eq!(stream.set_state(2), STATUS_SUCCESS);
    }
    render.close();
    capture.close();
    assert_eq!(sim.set_power(device.fdo, 4), Ok(()));
    assert_eq!(sim.set_power(device.fdo, 1), Ok(()));
    sim.remove_device(device.fdo);
    assert_eq!(sim.unload_driver(), Ok(()));
    sim.assert_clean();
    let registrations = sim
        .registration_history()
        .iter()
        .map(|r| {
            let via = match r.via {
                Via::InterfaceV2 { .. } => "interface v2",
                Via::InterfaceV1 { .. } => "interface v1",
                Via::Export => "export",
            };
            let kind = match r.resource {
                Resource::Thread(_) => "thread",
                Resource::Interrupt { .. } => "interrupt",
            };
            (via, kind)
        })
        .collect();
    Session {
        calls: sim
            .trace()
            .into_iter()
            .map(|event| (event.ddi, event.status))
            .collect(),
        fallible: sim.fallible_calls(),
        registrations,
    }
}

#[test]
fn host_build_and_image_hold_the_same_conversation_with_the_model() {
    let mut compared = Vec::new();
    for profile in OsProfile::ALL {
        // A host build with the export linked chooses it on 1507 and cannot load on 8.1; the
        // image never has it.
        if portcls::EXPORT_LINKED && !profile.has_interface_v2() {
            continue;
        }
        let host = session(profile, false);
        let image = session(profile, true);
        if let Some(at) = host
            .calls
            .iter()
            .zip(&image.calls)
            .position(|(h, i)| h != i)
        {
            panic!(
                "{profile}: call {at} differs: host {:?}, image {:?}\nhost:  {:?}\nimage: {:?}",
                host.calls[at],
                image.calls[at],
                &host.calls[at.saturating_sub(3)..(at + 3).min(host.calls.len())],
                &image.calls[at.saturating_sub(3)..(at + 3).min(image.calls.len())],
            );
        }
        assert_eq!(host, image, "{profile}");
        compared.push(format!("{profile}: {} calls", host.calls.len()));
    }
    assert!(!compared.is_empty());
    println!(
        "host build and image, call for call: {}",
        compared.join(", ")
    );
}
