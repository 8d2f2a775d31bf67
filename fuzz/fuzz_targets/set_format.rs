//! `SetFormat` and `NewStream`: a client's `KSDATAFORMAT` (with a `WAVEFORMATEX` or
//! `WAVEFORMATEXTENSIBLE` whose sizes may lie) is untrusted bytes. A parsed format is one the
//! device streams, round-trips, and gives a stream that accepts buffers of any requested size.
#![no_main]

use core::num::NonZeroU64;

use libfuzzer_sys::fuzz_target;
use wavert_sample::backend::virtual_device::dma::Dma;
use wavert_sample::format::{DataRange, Format};

fuzz_target!(|data: &[u8]| {
    let Ok(format) = Format::parse(data) else {
        return;
    };
    assert!(DataRange::DEVICE.contains(&format));
    let mut out = [0u8; 128];
    let written = format.write_extensible(&mut out).expect("fits");
    assert_eq!(Format::parse(&out[..written]), Ok(format));
    // The stream built on it takes any requested size (rounded to whole frames).
    let requested = data.len() as u32 * 977;
    let mut dma = Dma::new(format, false, NonZeroU64::new(10_000_000).unwrap());
    for count in 0..=2 {
        let size = dma.buffer_size(requested, count).expect("valid count");
        assert_eq!(size % format.bytes_per_frame(), 0);
        dma.attach_buffer(size, count).expect("a size it chose");
        dma.detach_buffer().expect("in STOP");
    }
});
