//! The virtual device: a root-enumerated adapter with no hardware. Each stream's DMA engine is
//! a driver-owned thread ([`engine`]) registered with PortCls as the stream resource; each
//! period it moves the emulated DMA position ([`dma`], on the clock of [`position`]), carries
//! the speakers' audio into a loopback cable and the cable (or, when nothing plays, a tone)
//! into the microphone's buffer ([`cable`], [`tone`]), and signals the notification events.
//! The stream object's side of it is its `stream` module (the backend contract of
//! [`crate::backend`]).

pub mod cable;
pub mod dma;
pub mod engine;
pub mod position;
pub mod tone;

pub(crate) mod stream;
