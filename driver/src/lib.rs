//! A sample WaveRT miniport with a render (speakers) and a capture (microphone) endpoint, on
//! one of two devices: a virtual adapter whose DMA engine is a driver-owned thread, or a
//! virtio-sound PCI function whose interrupt times the streams; either way the stream
//! resource is registered with PortCls through the `portcls` crate.
//!
//! # Rooms
//! - The WaveRT driver, the same for every device: the adapter and its PnP and power
//!   ([`adapter`], [`device`]), the miniports and their descriptors ([`miniport`],
//!   [`descriptors`], [`identity`], [`properties`]), the stream object ([`stream`]) with its
//!   formats, states, notifications and packets ([`format`], [`stream_state`],
//!   [`notification`], [`packet`], [`buffer`], [`levels`]), and the kernel plumbing ([`com`],
//!   [`kernel`], [`pool`], [`sync`]).
//! - The devices behind it, in [`backend`]: [`backend::virtual_device`] and
//!   [`backend::virtio`], which meet the stream through the contract [`backend`] describes.
//!
//! The logic that needs no kernel (formats, stream state, positions, tone, the virtio
//! protocol) lives in plain modules with no FFI and is unit-tested directly.
#![cfg_attr(not(test), no_std)]

pub mod adapter;
pub mod backend;
pub mod buffer;
pub mod com;
pub mod descriptors;
pub mod device;
pub mod format;
pub mod identity;
#[cfg(all(feature = "kernel", not(feature = "wdk"), not(test)))]
mod image;
// The WDK build: wdk-sys supplies `_fltused` and `__CxxFrameHandler3`, wdk-panic the panic
// handler, and the WDK's libraries the memory routines (what `image` does for the cross-build).
#[cfg(all(feature = "wdk", not(test)))]
use wdk_panic as _;
#[cfg(all(feature = "wdk-alloc-2004", not(test)))]
#[global_allocator]
static ALLOCATOR: wdk_alloc::WdkAllocator = wdk_alloc::WdkAllocator;
pub mod kernel;
pub mod levels;
pub mod miniport;
pub mod notification;
pub mod packet;
pub mod pool;
pub mod properties;
pub mod stream;
pub mod stream_state;
pub mod sync;

// Host builds (tests) link against the simulator's definitions of the kernel symbols.
#[cfg(test)]
use portcls_sim as _;
