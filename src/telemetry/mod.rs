//! Telemetry off the audio thread: the latency monitor's windows and percentiles, and the
//! stats line (text and JSON). The audio thread's half of the monitor is in `rt::monitor`.

pub mod monitor;
pub mod stats;
