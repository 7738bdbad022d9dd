//! The one clock every thread reads: CLOCK_MONOTONIC, the clock evdev timestamps of opened
//! devices use too (stembox switches them to it), so a button's kernel time and the audio
//! thread's measurements are on one scale. A vDSO read on Linux (no system call): fine on
//! the audio thread.

use std::time::Duration;

/// A time on CLOCK_MONOTONIC (or on an input device's clock): a duration since its epoch.
/// stembox switches evdev devices to CLOCK_MONOTONIC, so their kernel timestamps are on
/// this scale.
pub type Timestamp = Duration;

/// CLOCK_MONOTONIC now.
#[inline]
pub fn now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC exists on every Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// CLOCK_MONOTONIC in nanoseconds.
#[inline]
pub fn now_ns() -> u64 {
    let t = now();
    t.as_secs() * 1_000_000_000 + u64::from(t.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_readings_are_one_clock_and_it_never_goes_back() {
        let a = now_ns();
        let b = now();
        let c = now_ns();
        let b_ns = b.as_nanos() as u64;
        assert!(a <= b_ns && b_ns <= c, "{a} {b_ns} {c}");
    }
}
