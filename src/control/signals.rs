//! Signals, through signal-hook: each handler only sets a flag (async-signal-safe), and the
//! control thread looks at the flags every tick. SIGTERM/SIGINT: fade out, save, final
//! stats, exit 0, and every song decode is called off at its next packet (the loader's
//! cancel flag is set by the same signal). SIGUSR1: a stats line. SIGHUP (a serial hang-up,
//! or `systemctl reload`): reload config and library. SIGQUIT, SIGUSR2 and SIGALRM are
//! caught and ignored: none of them may kill a box on stage (Rust already ignores SIGPIPE,
//! and a broken console pipe shows up as a write error, counted in `console_dropped`).

use signal_hook::consts::{SIGALRM, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

/// The flags the handlers set. Made once, first thing in `main_with`; cloned where needed.
#[derive(Clone, Debug)]
pub struct Signals {
    term: Arc<AtomicBool>,
    usr1: Arc<AtomicBool>,
    hup: Arc<AtomicBool>,
}

impl Signals {
    /// Installs the handlers; `cancel_loads` is set by SIGTERM/SIGINT too. Main thread,
    /// before any other thread exists or anything slow runs.
    pub fn install(cancel_loads: &Arc<AtomicBool>) -> std::io::Result<Signals> {
        let s = Signals {
            term: Arc::new(AtomicBool::new(false)),
            usr1: Arc::new(AtomicBool::new(false)),
            hup: Arc::new(AtomicBool::new(false)),
        };
        let ignored = Arc::new(AtomicBool::new(false));
        for sig in [SIGTERM, SIGINT] {
            signal_hook::flag::register(sig, s.term.clone())?;
            signal_hook::flag::register(sig, cancel_loads.clone())?;
        }
        signal_hook::flag::register(SIGUSR1, s.usr1.clone())?;
        signal_hook::flag::register(SIGHUP, s.hup.clone())?;
        for sig in [SIGQUIT, SIGUSR2, SIGALRM] {
            signal_hook::flag::register(sig, ignored.clone())?;
        }
        Ok(s)
    }

    /// Flags no handler sets: for `check` and tests.
    pub fn none() -> Signals {
        Signals {
            term: Arc::new(AtomicBool::new(false)),
            usr1: Arc::new(AtomicBool::new(false)),
            hup: Arc::new(AtomicBool::new(false)),
        }
    }

    /// SIGTERM or SIGINT has arrived (it stays set).
    pub fn stopping(&self) -> bool {
        self.term.load(Relaxed)
    }

    /// SIGUSR1 arrived since last asked.
    pub fn take_stats_request(&self) -> bool {
        self.usr1.swap(false, Relaxed)
    }

    /// SIGHUP arrived since last asked (several in a row are one reload).
    pub fn take_reload_request(&self) -> bool {
        self.hup.swap(false, Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raised_signal_sets_its_flag_once_and_term_also_cancels_loads() {
        let cancel = Arc::new(AtomicBool::new(false));
        let s = Signals::install(&cancel).unwrap();
        signal_hook::low_level::raise(SIGUSR1).unwrap();
        assert!(s.take_stats_request());
        assert!(!s.take_stats_request());
        signal_hook::low_level::raise(SIGHUP).unwrap();
        signal_hook::low_level::raise(SIGHUP).unwrap();
        assert!(s.take_reload_request());
        assert!(!s.take_reload_request());
        // Ignored signals do not end the test process.
        signal_hook::low_level::raise(SIGQUIT).unwrap();
        signal_hook::low_level::raise(SIGUSR2).unwrap();
        assert!(!s.stopping());
    }
}
