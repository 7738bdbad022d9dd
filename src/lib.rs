//! stembox: plays songs split into stems from RAM through ALSA on a real-time thread.
//!
//! The folders show the threads and what they share:
//! - [`rt`]: everything the audio thread runs (the engine, the ALSA loop behind a device
//!   seam, the latency monitor's audio-thread half, the stretcher's audio-thread side);
//! - [`control`]: the control thread (a pure [`control::controller`] and the runtime that
//!   owns the threads), and the `run`, `play` and `check` modes;
//! - [`loader`] and [`stretch_worker`]: the loader thread and the time-stretch worker;
//!   [`nistem`]: NI Stems files (`.stem.mp4`), decoded by the loader;
//! - [`hw`]: the hardware around the box (evdev buttons, status LEDs, the serial console);
//! - [`model`]: what a musician names (songs, stems, the setlist, song.json, actions);
//! - [`storage`]: what is read and written on disk (config, saved state, safe file reads);
//! - [`telemetry`]: the latency monitor's maths and the stats line.
//!
//! The demo library writer is a second binary (`stembox-demo`, `src/bin/stembox-demo/`):
//! the appliance never needs it at run time.

pub mod base;
pub mod cli;
pub mod control;
pub mod hw;
pub mod loader;
pub mod model;
pub mod remote;
pub mod rt;
pub mod storage;
pub mod stretch;
pub mod telemetry;
