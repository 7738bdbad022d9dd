//! Storage: the config (read once at start-up), the saved state (the one writable place),
//! and reading files that a user controls without hanging or running out of memory.

pub mod config;
pub mod state;
