//! A sample WaveRT miniport: a virtual adapter with a render (speakers) and a capture
//! (microphone) endpoint whose DMA engine is a driver-owned thread, registered with PortCls as a
//! stream resource through the `portcls` crate.
//!
//! The logic that needs no kernel (formats, stream state, positions, tone) lives in plain
//! modules with no FFI and is unit-tested directly.
#![cfg_attr(not(test), no_std)]

pub mod adapter;
pub mod buffer;
pub mod cable;
pub mod com;
pub mod descriptors;
pub mod device;
pub mod dma;
pub mod engine;
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
pub mod position;
pub mod properties;
pub mod stream;
pub mod stream_state;
pub mod sync;
pub mod tone;
pub mod virtio;

// Host builds (tests) link against the simulator's definitions of the kernel symbols.
#[cfg(test)]
use portcls_sim as _;
