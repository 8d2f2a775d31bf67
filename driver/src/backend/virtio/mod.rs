//! The virtio-sound backend's pure logic: everything the driver does with a virtio-sound PCI
//! function (virtio 1.2, section 5.14; PCI `1AF4:1059`) that needs no kernel, so it is
//! unit-tested directly and fuzzed.
//!
//! - [`pci`]: the capability list in configuration space, locating the virtio structures in the
//!   BARs and the MSI-X table.
//! - [`transport`]: the common configuration registers, feature negotiation and the
//!   initialization handshake, behind a register-access trait the shell implements with MMIO.
//! - [`ring`]: split virtqueues over DMA memory, hardened against whatever the device writes.
//! - [`sound`]: the sound protocol's requests, and checked parsing of every reply.
//! - [`bars`]: register access on the mapped BARs, every access checked against the mapping.
//! - [`device`]: one device from start to stop over those parts, with the kernel's services
//!   (register access, DMA memory, the buffer's pages) behind traits the shell implements.
//! - [`hardware`]: the kernel shell of one PCI function: resources, configuration space, BAR
//!   mappings, the DMA adapter, the interrupt (registered with PortCls) and its DPC.
//! - [`stream`]: a WaveRT stream on a device stream: the buffer as periods, the KS states as
//!   PCM commands, the position from the periods consumed.
//! - `wave_stream`: the stream object's side of it (the backend contract of
//!   [`crate::backend`]): binding, the PCM steps, the periods posted and completed.
//!
//! The device is untrusted input throughout: nothing it writes into configuration space,
//! registers, used rings or replies makes this code read or write outside the driver's own
//! buffers, loop without bound, or panic; a device that breaks the protocol is reported as an
//! error the caller turns into a reset and a clean failure.
//!
//! On a PCI function the endpoints' WaveRT streams run on the device: the stream object
//! ([`crate::stream`], through `wave_stream`) binds itself to a device stream through
//! [`hardware::Hardware::bind`] and drives it with [`stream`]'s plan, steps and clock. This code
//! is checked against an implementation nobody here wrote, rust-vmm's `vhost-device-sound`,
//! behind the model's virtio PCI function (`portcls_sim::virtio_pci`), in the `virtio-oracle`
//! crate's tests and the workspace's `tests/virtio.rs`.

pub mod bars;
pub mod device;
pub mod hardware;
pub mod pci;
pub mod ring;
pub mod sound;
pub mod stream;
pub mod transport;
pub(crate) mod wave_stream;
