//! What every song load is held to, passed in as one value rather than set in globals: the
//! memory budget, the output buses stems are routed to, a read speed limit (a slow SD card,
//! for tests and benchmarks), and the flag that calls every decode off (SIGTERM).
//! Made by control from the config ([`LoadOptions::for_config`]); cloned into each loader
//! thread (the flag and the limiter are shared, the rest is plain data).

use crate::storage::config::Config;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The memory budget when nobody set one: the config's default `memory.budget_mb`.
pub const DEFAULT_BUDGET_MB: u32 = 1024;
pub(crate) const MIB: u64 = 1024 * 1024;

/// The environment variable that limits stem reads (bytes/s) when no limit is given: for the
/// end-to-end tests and benchmarks of a slow card, which run the real binary.
pub const READ_LIMIT_ENV: &str = "STEMBOX_READ_LIMIT_BYTES_PER_S";

/// How a load is done. Cheap to clone.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Bytes one song may hold decoded (`memory.budget_mb`).
    pub budget_bytes: u64,
    /// The configured bus names in `audio.buses` order (`song.json` routes stems by name).
    pub bus_names: Arc<[String]>,
    /// A read speed limit shared by every stem file of these options; `None`: no limit.
    pub read_limit: Option<Arc<ReadLimit>>,
    /// Set to call every decode of these options off at its next packet.
    pub cancel: Arc<AtomicBool>,
}

impl Default for LoadOptions {
    fn default() -> LoadOptions {
        LoadOptions {
            budget_bytes: DEFAULT_BUDGET_MB as u64 * MIB,
            bus_names: Arc::from(Vec::new()),
            read_limit: ReadLimit::from_env(),
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl LoadOptions {
    /// The options the config asks for (budget, buses), the read limit from the environment
    /// and a fresh cancel flag. Control thread.
    pub fn for_config(cfg: &Config) -> LoadOptions {
        LoadOptions {
            budget_bytes: cfg.memory.budget_mb.max(1) as u64 * MIB,
            bus_names: Arc::from(cfg.audio.buses.names()),
            ..LoadOptions::default()
        }
    }

    /// These options with a memory budget of `mb` (at least 1).
    pub fn with_budget_mb(mut self, mb: u32) -> LoadOptions {
        self.budget_bytes = mb.max(1) as u64 * MIB;
        self
    }

    /// These options with stem reads limited to `bytes_per_s` in all (0: no limit).
    pub fn with_read_limit(mut self, bytes_per_s: u64) -> LoadOptions {
        self.read_limit = (bytes_per_s > 0).then(|| Arc::new(ReadLimit::new(bytes_per_s)));
        self
    }

    /// Calls off every decode of these options (and their clones). Any thread, including a
    /// signal handler's flag watcher.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// A read speed limit shared by every file read at once, as an SD card's bandwidth is.
#[derive(Debug)]
pub struct ReadLimit {
    pub bytes_per_s: u64,
    /// Start of the limiter's window and the bytes read since.
    pub(crate) clock: Mutex<Option<(Instant, u64)>>,
}

impl ReadLimit {
    pub fn new(bytes_per_s: u64) -> ReadLimit {
        ReadLimit {
            bytes_per_s,
            clock: Mutex::new(None),
        }
    }

    /// The limit [`READ_LIMIT_ENV`] asks for, if it holds a whole number above 0.
    pub fn from_env() -> Option<Arc<ReadLimit>> {
        match parse_read_limit(std::env::var(READ_LIMIT_ENV).ok()) {
            0 => None,
            n => Some(Arc::new(ReadLimit::new(n))),
        }
    }
}

/// [`READ_LIMIT_ENV`]'s value: a whole number of bytes/s, else no limit.
pub(crate) fn parse_read_limit(value: Option<String>) -> u64 {
    value.and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}
