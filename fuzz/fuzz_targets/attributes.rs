//! The signal-processing-mode attribute lists a user-mode client controls: after a pin-create
//! format, and after the `KSP_PIN` of `KSPROPERTY_PIN_PROPOSEDATAFORMAT2`. Whatever the bytes,
//! reading them never panics, a mode it returns is one the device offers, a format it accepts
//! reads back the same, and the proposed-format handler never claims more bytes than the value
//! buffer holds (and answers a size probe only for an empty one).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcls_sys::ks::{
    KSPROPERTY_PIN_PROPOSEDATAFORMAT, KSPROPERTY_PIN_PROPOSEDATAFORMAT2,
    KSPROPERTY_TYPE_BASICSUPPORT, KSPROPERTY_TYPE_GET, KSPROPERTY_TYPE_SET, KSPROPSETID_Pin,
};
use wavert_sample::format::{DataRange, Format};
use wavert_sample::format::mode::{Mode, parse_format_and_mode, requested_mode};
use wavert_sample::properties::{PropertyError, ProposingPin, proposed_request};

fuzz_target!(|data: &[u8]| {
    let [selector, verb_flags, value_len, rest @ ..] = data else {
        return;
    };
    match selector % 3 {
        0 => {
            if let Ok(mode) = requested_mode(rest) {
                assert!(Mode::ALL.contains(&mode));
            }
        }
        1 => {
            if let Ok((format, mode)) = parse_format_and_mode(rest) {
                assert!(Mode::ALL.contains(&mode));
                assert_eq!(Format::parse(rest), Ok(format));
            }
        }
        _ => {
            // Each verb, or any other flags (which must be refused).
            let flags = match verb_flags % 4 {
                0 => KSPROPERTY_TYPE_GET,
                1 => KSPROPERTY_TYPE_SET,
                2 => KSPROPERTY_TYPE_BASICSUPPORT,
                _ => u32::from(*verb_flags) << (selector % 24),
            };
            let id = if selector / 3 % 2 == 0 {
                KSPROPERTY_PIN_PROPOSEDATAFORMAT
            } else {
                KSPROPERTY_PIN_PROPOSEDATAFORMAT2
            };
            // The instance is the bytes (a `KSP_PIN` tail, then for PROPOSEDATAFORMAT2 the
            // list); the value starts as a copy of what follows the pin id and reserved word (a
            // SET's proposed format), zero-padded.
            let mut value: Vec<u8> = rest
                .get(8..)
                .unwrap_or_default()
                .iter()
                .copied()
                .chain(core::iter::repeat(0))
                .take(usize::from(*value_len))
                .collect();
            let answer = proposed_request(
                &KSPROPSETID_Pin,
                id,
                flags,
                rest,
                |pin| match pin {
                    0 => ProposingPin::Host(DataRange::DEVICE),
                    1 => ProposingPin::Nothing,
                    _ => ProposingPin::Missing,
                },
                &mut value,
            );
            match answer {
                Ok(written) => assert!(written <= value.len()),
                Err(PropertyError::Overflow { required }) => {
                    assert!(value.is_empty());
                    assert!(required > 0);
                }
                Err(_) => {}
            }
        }
    }
});
