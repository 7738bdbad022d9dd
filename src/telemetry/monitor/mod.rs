//! The latency monitor: what the audio thread measures when `audio.enable_latency_monitor`
//! is on, and the maths the control thread does on it.
//!
//! Threads: the **audio** thread owns a [`MonitorRt`] (its code is in `crate::rt::monitor`,
//! with the rest of the real-time path; re-exported here), built before its loop starts, and calls
//! [`MonitorRt::wake`] right after the device wait returns, [`MonitorRt::committed`] right
//! after `mmap_commit`, and [`MonitorRt::recovered`] after an xrun/suspend recovery. Those
//! calls read the monotonic clock (vDSO, no syscall) and do a handful of relaxed atomic
//! adds on the preallocated [`MonitorShared`]: no allocation, no lock, no logging. The
//! **control** thread holds the same `Arc<MonitorShared>` and calls
//! [`MonitorShared::snapshot`] / [`MonitorShared::reset_window`] and [`Snapshot::since`] to
//! get a [`Window`] with percentiles and loads for the stats line (`crate::telemetry::stats`).
//!
//! [`MonitorRt`] implements the audio loop's `LoopObserver` hooks. When the monitor is off
//! the loop is built with `NoObserver` instead and reads no clock for statistics at all;
//! `benches/monitor_cost.rs` shows that costs nothing measurable.
//!
//! Two histograms, both in whole microseconds (truncated), with the layout of [`histogram`]
//! (exact below 1024 µs, at most 1.6 % wide above, up to 16.8 s):
//! - **work time**: from the wake-up to the end of `mmap_commit`. Its share of the period is
//!   the DSP load as JACK reports it; a period whose work exceeds 80 % of the period budget
//!   counts as **late**.
//! - **wake-up lateness**: how long after the period boundary (the moment the device had a
//!   whole period free) the thread got to run, as cyclictest measures against its timer. See
//!   [`MonitorRt::wake`] for how the boundary is estimated.

pub mod histogram;

pub use crate::rt::monitor::{now_ns, MonitorRt, MonitorShared, LATE_PER_MILLE};
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use histogram::{bucket_high_us, bucket_low_us, percentile_bucket};

/// The control thread's side of the shared counters.
impl MonitorShared {
    /// Copies every counter. Control thread (allocates two small vectors).
    pub fn snapshot(&self) -> Snapshot {
        let copy = |h: &[AtomicU64]| h.iter().map(|c| c.load(Relaxed)).collect::<Vec<u64>>();
        Snapshot {
            work_hist: copy(&self.work_hist),
            wake_hist: copy(&self.wake_hist),
            late: self.late.load(Relaxed),
            work_sum_ns: self.work_sum_ns.load(Relaxed),
            recoveries: self.recoveries.load(Relaxed),
            period_ns: self.period_ns.load(Relaxed),
            work_max_ns: self.work_max_ns.load(Relaxed),
            wake_max_ns: self.wake_max_ns.load(Relaxed),
            recovery_max_ns: self.recovery_max_ns.load(Relaxed),
        }
    }

    /// Starts a new window (`stats reset`): zeroes the window maxima, then returns the
    /// baseline to pass to [`Snapshot::since`]. Control thread; the only caller of the swap,
    /// so there must be one window at a time. A period recorded between the swap and the copy
    /// may raise the new window's maximum without being counted in it: the maximum never
    /// under-reports.
    pub fn reset_window(&self) -> Snapshot {
        self.work_max_ns.swap(0, Relaxed);
        self.wake_max_ns.swap(0, Relaxed);
        self.recovery_max_ns.swap(0, Relaxed);
        self.snapshot()
    }
}

/// A copy of every counter of a [`MonitorShared`] at one moment. Control thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    work_hist: Vec<u64>,
    wake_hist: Vec<u64>,
    late: u64,
    work_sum_ns: u64,
    recoveries: u64,
    period_ns: u64,
    work_max_ns: u64,
    wake_max_ns: u64,
    recovery_max_ns: u64,
}

impl Snapshot {
    /// What happened between `base` (an earlier snapshot, normally the one
    /// [`MonitorShared::reset_window`] returned) and this snapshot. Counts and histograms are
    /// differences; maxima are this snapshot's window maxima, i.e. since the last
    /// `reset_window`.
    pub fn since(&self, base: &Snapshot) -> Window {
        let diff = |a: &[u64], b: &[u64]| -> Vec<u64> {
            a.iter()
                .zip(b.iter().chain(core::iter::repeat(&0)))
                .map(|(x, y)| x.saturating_sub(*y))
                .collect()
        };
        Window {
            work_hist: diff(&self.work_hist, &base.work_hist),
            wake_hist: diff(&self.wake_hist, &base.wake_hist),
            late: self.late.saturating_sub(base.late),
            work_sum_ns: self.work_sum_ns.saturating_sub(base.work_sum_ns),
            recoveries: self.recoveries.saturating_sub(base.recoveries),
            period_ns: self.period_ns,
            work_max_ns: self.work_max_ns,
            wake_max_ns: self.wake_max_ns,
            recovery_max_ns: self.recovery_max_ns,
        }
    }
}

/// The monitor's view of one stats window. Control thread. All times in whole µs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    work_hist: Vec<u64>,
    wake_hist: Vec<u64>,
    late: u64,
    work_sum_ns: u64,
    recoveries: u64,
    period_ns: u64,
    work_max_ns: u64,
    wake_max_ns: u64,
    recovery_max_ns: u64,
}

/// Largest value recorded, in µs: the kept maximum, but never below the lowest edge of the
/// highest non-empty bucket (so percentiles never exceed the maximum even if a reset raced a
/// sample).
fn max_us(hist: &[u64], max_ns: u64) -> u64 {
    let top = hist.iter().rposition(|&c| c > 0).map_or(0, bucket_low_us);
    (max_ns / 1000).max(top)
}

fn percentile_us(hist: &[u64], max_ns: u64, p: f64) -> Option<u64> {
    let b = percentile_bucket(hist, p)?;
    Some(bucket_high_us(b).min(max_us(hist, max_ns)))
}

impl Window {
    /// Periods whose work was measured (wake followed by commit).
    pub fn periods(&self) -> u64 {
        self.work_hist.iter().sum()
    }

    /// Wake-ups measured.
    pub fn wakes(&self) -> u64 {
        self.wake_hist.iter().sum()
    }

    /// Nearest-rank percentile `p` (in percent, e.g. `99.9`) of the work time in µs, `None`
    /// before the first period. Exact below 1024 µs, at most 1.6 % high above.
    pub fn work_percentile_us(&self, p: f64) -> Option<u64> {
        percentile_us(&self.work_hist, self.work_max_ns, p)
    }

    /// Nearest-rank percentile `p` of the wake-up lateness in µs, as
    /// [`Window::work_percentile_us`].
    pub fn wake_percentile_us(&self, p: f64) -> Option<u64> {
        percentile_us(&self.wake_hist, self.wake_max_ns, p)
    }

    /// Worst work time in µs (0 when none).
    pub fn work_max_us(&self) -> u64 {
        max_us(&self.work_hist, self.work_max_ns)
    }

    /// Worst wake-up lateness in µs (0 when none).
    pub fn wake_max_us(&self) -> u64 {
        max_us(&self.wake_hist, self.wake_max_ns)
    }

    /// Periods whose work took more than 80 % of the period time.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// xrun/suspend recoveries the monitor saw.
    pub fn recoveries(&self) -> u64 {
        self.recoveries
    }

    /// Worst recovery time in µs (0 when none).
    pub fn recovery_max_us(&self) -> u64 {
        self.recovery_max_ns / 1000
    }

    /// Period time in µs (0 before the audio thread's monitor was built).
    pub fn period_us(&self) -> f64 {
        self.period_ns as f64 / 1000.0
    }

    /// Average DSP load in percent: total work / (periods x period time), as JACK reports it.
    pub fn load_avg_pct(&self) -> f64 {
        let n = self.periods();
        if n == 0 || self.period_ns == 0 {
            return 0.0;
        }
        self.work_sum_ns as f64 * 100.0 / (n as f64 * self.period_ns as f64)
    }

    /// Highest load of one period in percent: worst work / period time.
    pub fn load_max_pct(&self) -> f64 {
        if self.period_ns == 0 {
            return 0.0;
        }
        let max_ns = self.work_max_ns.max(self.work_max_us() * 1000);
        max_ns as f64 * 100.0 / self.period_ns as f64
    }
}

#[cfg(test)]
mod tests;
