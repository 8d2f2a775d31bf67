//! `DataRangeIntersection` on a host pin: the client's data range is untrusted bytes.
//! Whatever they are, the answer is an error or a format the device streams, which writes out
//! and parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wavert_sample::format::{self, DataRange, Format};

fuzz_target!(|data: &[u8]| {
    let Ok(chosen) = format::intersect(&DataRange::DEVICE, Some(data)) else {
        return;
    };
    assert!(DataRange::DEVICE.contains(&chosen));
    let mut out = [0u8; 128];
    let written = chosen.write_extensible(&mut out).expect("fits");
    assert_eq!(Format::parse(&out[..written]), Ok(chosen));
});
