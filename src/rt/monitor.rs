//! The latency monitor's audio-thread half: [`MonitorRt`], the loop's observer when
//! `audio.enable_latency_monitor` is on, and the preallocated counters of [`MonitorShared`]
//! it writes. The control thread reads them through `crate::telemetry::monitor` (snapshots, windows,
//! percentiles), which also explains what is measured.
//!
//! [`MonitorRt::wake`], [`MonitorRt::committed`] and [`MonitorRt::recovered`] read the
//! monotonic clock (vDSO, no syscall) and do a handful of relaxed atomic adds: no
//! allocation, no lock, no logging.

use super::histogram::{bucket_of, BUCKETS};
use super::run::LoopObserver;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

pub use crate::base::clock::now_ns;

/// A period whose work exceeds this fraction of the period time (in per mille) is "late".
pub const LATE_PER_MILLE: u64 = 800;

/// How far the grid may move later on any one wake, in parts per million of the period: it
/// follows a device clock up to 250 ppm slower than CLOCK_MONOTONIC (crystals are within
/// ~100 ppm) without waiting for the end of a block.
const CREEP_PPM: u64 = 250;
/// The boundary grid is re-anchored on the earliest wake of each block of this many
/// periods (see [`MonitorRt::wake`]). Short, because jackd's dummy driver without real-time
/// scheduling changes phase after each of its own hiccups (about once a second on a busy
/// machine), and every wake until the re-anchoring would read late by the phase change.
pub const GRID_BLOCK_PERIODS: u32 = 8;

/// Counters and histograms written by the audio thread and read by the control thread.
/// Everything is preallocated at construction and updated with relaxed atomics: each value is
/// a self-contained counter, and a snapshot that is off by the one period in flight is fine.
pub struct MonitorShared {
    pub(crate) work_hist: Box<[AtomicU64]>,
    pub(crate) wake_hist: Box<[AtomicU64]>,
    pub(crate) late: AtomicU64,
    pub(crate) work_sum_ns: AtomicU64,
    pub(crate) recoveries: AtomicU64,
    /// Period time in ns, set by [`MonitorRt::new`]; 0 until then.
    pub(crate) period_ns: AtomicU64,
    /// Maxima since the last [`MonitorShared::reset_window`] (maxima cannot be subtracted, so
    /// the control thread swaps them to 0 when it starts a window).
    pub(crate) work_max_ns: AtomicU64,
    pub(crate) wake_max_ns: AtomicU64,
    pub(crate) recovery_max_ns: AtomicU64,
}

impl Default for MonitorShared {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for MonitorShared {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MonitorShared")
            .field("period_ns", &self.period_ns.load(Relaxed))
            .field("late", &self.late.load(Relaxed))
            .finish_non_exhaustive()
    }
}

fn zeroed(n: usize) -> Box<[AtomicU64]> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

#[inline]
fn raise_max(max: &AtomicU64, v: u64) {
    // The plain load keeps the common case (no new maximum) free of a read-modify-write.
    if v > max.load(Relaxed) {
        max.fetch_max(v, Relaxed);
    }
}

impl MonitorShared {
    /// Allocates both histograms (2 x 1920 counters, 30 KiB). Control/main thread, before the
    /// audio thread starts.
    pub fn new() -> MonitorShared {
        MonitorShared {
            work_hist: zeroed(BUCKETS),
            wake_hist: zeroed(BUCKETS),
            late: AtomicU64::new(0),
            work_sum_ns: AtomicU64::new(0),
            recoveries: AtomicU64::new(0),
            period_ns: AtomicU64::new(0),
            work_max_ns: AtomicU64::new(0),
            wake_max_ns: AtomicU64::new(0),
            recovery_max_ns: AtomicU64::new(0),
        }
    }
}

/// The audio thread's side of the monitor. Built before the loop starts (control/main
/// thread), then moved to the audio thread; every method after `new` is real-time safe.
#[derive(Debug)]
pub struct MonitorRt {
    shared: Arc<MonitorShared>,
    period_frames: u64,
    rate_hz: u64,
    period_ns: u64,
    late_ns: u64,
    /// Periods per grid block, periods left in the current one, and the smallest amount by
    /// which a wake of this block came after the grid (ns).
    creep_ns: i64,
    block_len: u32,
    block_left: u32,
    block_min_ns: i64,
    /// Time of the last [`MonitorRt::wake`] not yet matched by a commit.
    wake_ns: Option<u64>,
    /// Start of the recovery in progress (the [`LoopObserver`] hooks).
    recovery_start_ns: Option<u64>,
    /// Estimated time of the last period boundary; `None` after start and recovery.
    boundary_ns: Option<i64>,
}

impl MonitorRt {
    /// Prepares the monitor for a device running `period_frames` at `rate_hz` and publishes
    /// the period time to `shared`. Call before the audio loop starts.
    pub fn new(shared: Arc<MonitorShared>, period_frames: u32, rate_hz: u32) -> MonitorRt {
        assert!(
            period_frames > 0 && rate_hz > 0,
            "period and rate must be positive"
        );
        let period_ns = (period_frames as u128 * 1_000_000_000 / rate_hz as u128) as u64;
        shared.period_ns.store(period_ns, Relaxed);
        MonitorRt {
            shared,
            period_frames: period_frames as u64,
            rate_hz: rate_hz as u64,
            period_ns,
            late_ns: period_ns * LATE_PER_MILLE / 1000,
            creep_ns: (period_ns * CREEP_PPM / 1_000_000).max(1) as i64,
            block_len: GRID_BLOCK_PERIODS,
            block_left: 0,
            block_min_ns: i64::MAX,
            wake_ns: None,
            recovery_start_ns: None,
            boundary_ns: None,
        }
    }

    /// The shared counters this monitor writes.
    pub fn shared(&self) -> &Arc<MonitorShared> {
        &self.shared
    }

    /// The device wait returned at `now_ns` with `avail_frames` free in the buffer. Records
    /// the wake-up lateness and starts timing the period's work. Audio thread.
    ///
    /// How the lateness is estimated: the device crossed the boundary when `avail` reached
    /// `period_frames`, so it says the boundary was `(avail - period) / rate` ago. That alone
    /// is only as fine as the device's pointer: a card's DMA pointer is fine-grained, but
    /// ALSA's jack plugin and USB move it a whole block at a time, so it reads 0 for any
    /// wake-up within the block. So the monitor also keeps a clock-side grid of boundaries
    /// one period apart: each wake takes the grid point nearest to the device's estimate;
    /// if the device implies an earlier boundary the grid snaps to it at once; otherwise it
    /// may move later by 250 ppm of a period per wake (clock drift); and at the end of each
    /// block of [`GRID_BLOCK_PERIODS`] wakes it moves later by the smallest delay any wake of
    /// the block had past it, which follows a device whose own timing changes phase (jackd
    /// without real-time scheduling does). Lateness = now - boundary.
    ///
    /// So: whole device blocks of lateness (and, with a fine pointer, all of it) come from
    /// the device and are exact; below one device block it is the delay past the earliest
    /// wake-up of the last 8..16 periods, i.e. jitter, as a cyclictest-like tool would see
    /// it relative to its best case (capped at half a period: a later wake within the same
    /// device block cannot be told from a device phase change). A lateness that lasts for
    /// all of a block's wakes stops counting after that block. The grid restarts after
    /// [`MonitorRt::recovered`].
    #[inline]
    pub fn wake(&mut self, now_ns: u64, avail_frames: u64) {
        let behind_frames = avail_frames as i64 - self.period_frames as i64;
        let device_ns = now_ns as i64 - behind_frames * 1_000_000_000 / self.rate_hz as i64;
        let boundary = match self.boundary_ns {
            None => {
                self.block_left = self.block_len;
                self.block_min_ns = i64::MAX;
                device_ns
            }
            Some(last) => {
                let p = self.period_ns as i64;
                let k = (device_ns - last + p / 2).div_euclid(p);
                let grid = last + k * p;
                let past_ns = device_ns - grid;
                self.block_min_ns = self.block_min_ns.min(past_ns.max(0));
                if past_ns <= 0 {
                    device_ns
                } else {
                    grid + past_ns.min(self.creep_ns)
                }
            }
        };
        let late_ns = (now_ns as i64 - boundary).max(0) as u64;
        self.block_left = self.block_left.saturating_sub(1);
        let anchor = if self.block_left == 0 {
            let shift = if self.block_min_ns == i64::MAX {
                0
            } else {
                self.block_min_ns
            };
            self.block_left = self.block_len;
            self.block_min_ns = i64::MAX;
            boundary + shift
        } else {
            boundary
        };
        self.boundary_ns = Some(anchor);
        let s = &*self.shared;
        s.wake_hist[bucket_of(late_ns / 1000)].fetch_add(1, Relaxed);
        raise_max(&s.wake_max_ns, late_ns);
        self.wake_ns = Some(now_ns);
    }

    /// `mmap_commit` of the period returned at `now_ns`: records the work time since the
    /// matching [`MonitorRt::wake`], the load, and whether the period was late. A commit
    /// without a wake (e.g. the prefill after a recovery) records nothing. Audio thread.
    #[inline]
    pub fn committed(&mut self, now_ns: u64) {
        let Some(woke) = self.wake_ns.take() else {
            return;
        };
        let work_ns = now_ns.saturating_sub(woke);
        let s = &*self.shared;
        s.work_hist[bucket_of(work_ns / 1000)].fetch_add(1, Relaxed);
        s.work_sum_ns.fetch_add(work_ns, Relaxed);
        raise_max(&s.work_max_ns, work_ns);
        if work_ns > self.late_ns {
            s.late.fetch_add(1, Relaxed);
        }
    }

    /// An xrun or suspend recovery (prepare, prefill, start) took `duration_ns`. Records the
    /// worst recovery time and restarts the boundary grid. Audio thread.
    #[inline]
    pub fn recovered(&mut self, duration_ns: u64) {
        let s = &*self.shared;
        s.recoveries.fetch_add(1, Relaxed);
        raise_max(&s.recovery_max_ns, duration_ns);
        self.wake_ns = None;
        self.boundary_ns = None;
    }
}

/// The audio loop's hooks ([`LoopObserver`]): each reads the clock once and
/// calls the matching method above. The loop is generic over the observer, so with the monitor
/// off it runs with `NoObserver` and none of this is compiled into it. Audio thread.
impl LoopObserver for MonitorRt {
    #[inline]
    fn wake(&mut self, avail_frames: u64) {
        MonitorRt::wake(self, now_ns(), avail_frames);
    }

    #[inline]
    fn committed(&mut self) {
        MonitorRt::committed(self, now_ns());
    }

    #[inline]
    fn recovery_begin(&mut self) {
        self.recovery_start_ns = Some(now_ns());
    }

    #[inline]
    fn recovery_end(&mut self) {
        if let Some(start) = self.recovery_start_ns.take() {
            self.recovered(now_ns().saturating_sub(start));
        }
    }
}
