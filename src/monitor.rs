//! Latency monitor and stats maths (filled in by the monitor work).
