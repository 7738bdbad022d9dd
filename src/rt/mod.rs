//! Real-time code: everything the audio thread runs.
//!
//! The rules here are those of a hard real-time thread, and every function in this module
//! that the audio thread calls keeps them:
//! - no allocation and no free: buffers are sized at construction (`MAX_*` below), songs arrive
//!   as `Arc`s over an rtrb queue and leave over another one to be dropped on the control
//!   thread;
//! - no locks, no logging, no file I/O, no blocking on anything but the ALSA device;
//! - messages in and out are small `Copy` values over rtrb queues or atomics, and a full
//!   queue never blocks: the audio thread keeps what it could not send and tries again.
//!
//! `tests/engine_no_alloc.rs` runs the per-period work under `assert_no_alloc` to prove it.

pub mod command;
pub mod convert;
pub mod engine;
pub mod ramp;
pub mod status;
pub mod stretch;

/// Most stems one song may have.
pub const MAX_STEMS: usize = 32;
/// Most frames one ALSA period may have.
pub const MAX_PERIOD_FRAMES: usize = 1024;
/// Most output channels.
pub const MAX_CHANNELS: usize = 8;
/// Gain changes (mute, solo, gain, pan, master) are ramped over this many milliseconds.
pub const GAIN_RAMP_MS: u32 = 10;
/// Transport fades (pause, stop, song change, mid-song start) take this many milliseconds.
pub const FADE_MS: u32 = 8;
