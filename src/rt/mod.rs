//! Real-time code: everything the audio thread runs, and nothing else.
//!
//! The audio thread (`stembox-audio`, started by [`run::spawn_audio_thread`]) blocks every
//! signal, turns SCHED_FIFO ([`thread`]), then runs [`run`]'s loop: wait for a period of
//! space in the device ([`device::PlaybackDevice`], implemented for ALSA in [`alsa_pcm`] and
//! by the scripted [`fake::FakeDevice`] for tests), let the [`engine::Engine`] mix it,
//! [`convert`] it to the device's [`format`](mod@format), commit, and recover from xruns and suspends.
//! The latency monitor's audio-thread half ([`monitor`]) hooks into that loop.
//!
//! The rules here are those of a hard real-time thread, and every function in this module
//! that the audio thread calls keeps them:
//! - no allocation and no free: buffers are sized at construction (`MAX_*` below), songs arrive
//!   as `Arc`s over an rtrb queue and leave over another one to be dropped on the control
//!   thread;
//! - no locks, no logging, no file I/O, no blocking on anything but the device;
//! - messages in and out are small `Copy` values over rtrb queues or atomics, and a full
//!   queue never blocks: the audio thread keeps what it could not send and tries again;
//! - nothing here imports the config, the app or the loader: set-up code (control thread)
//!   hands the loop plain values ([`alsa_pcm::Granted`], an `Engine`, an observer).
//!
//! Functions here that run on another thread (opening the device, spawning and joining the
//! audio thread, the fake device's inspection methods) say so in their doc.
//! `tests/engine_no_alloc.rs` and `tests/rt_loop_no_alloc.rs` run the engine and the real
//! loop under `assert_no_alloc` to prove the first rule.

pub mod alsa_pcm;
pub mod bus;
pub mod command;
pub mod convert;
pub mod device;
pub mod engine;
pub mod fake;
pub mod format;
pub mod histogram;
pub mod monitor;
pub mod ramp;
pub mod run;
pub mod status;
pub mod stretch;
pub mod thread;

pub use crate::base::limits::{MAX_CHANNELS, MAX_PERIOD_FRAMES, MAX_STEMS};

/// Gain changes (mute, solo, gain, pan, master) are ramped over this many milliseconds.
pub const GAIN_RAMP_MS: u32 = 10;
/// Transport fades (pause, stop, song change, mid-song start) take this many milliseconds.
pub const FADE_MS: u32 = 8;
