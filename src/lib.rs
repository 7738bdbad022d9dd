//! stembox: plays songs split into stems from RAM through ALSA on a real-time thread.
//!
//! Threads: `audio` (the [`rt::engine::Engine`] in the ALSA loop, [`rt`]), `control`
//! (the app state machine, [`app`]), `loader` ([`loader`]), `input` and `console`.

pub mod action;
pub mod app;
pub mod cli;
pub mod config;
pub mod console;
pub mod demo;
pub mod fsread;
pub mod input;
pub mod leds;
pub mod library;
pub mod loader;
pub mod monitor;
pub mod rt;
pub mod setlist;
pub mod song;
pub mod songmeta;
pub mod state;
pub mod stats;
pub mod stretch_worker;
