//! Fixed-bucket histogram layout for microsecond timings: pure maths, no state.
//!
//! The layout and [`bucket_of`] live in `crate::rt::histogram` because the audio thread
//! runs `bucket_of` (inlined into `MonitorRt`); this module adds what the control thread
//! needs for a [`Window`](super::Window): bucket edges and percentiles.
//!
//! The layout is HDR-like: values 0..=1023 µs each have their own bucket (exact), and every
//! octave `[2^k, 2^(k+1))` above that is split into [`SUB_BUCKETS`] equal buckets, so a
//! bucket is at most 1/64 (1.5625 %) of its lower edge wide. Octaves go up to
//! 2^[`TOP_OCTAVE`]` µs` (16.8 s); longer values land in the last bucket (the exact maximum is
//! kept separately).
//!
//! Percentile error: a percentile is reported as the highest value its bucket can hold
//! (clamped to the window's maximum), so it is never lower than the true nearest-rank
//! percentile of the integer-µs samples, exact below 1024 µs, and at most 1.6 % high above
//! (`reported - true < bucket width <= true / 64`).

pub use crate::rt::histogram::{bucket_of, BUCKETS, LINEAR_US, SUB_BUCKETS, TOP_OCTAVE};
use crate::rt::histogram::{LINEAR_BITS, SUB_BITS};

/// Lowest value (µs) that falls into bucket `i`.
pub fn bucket_low_us(i: usize) -> u64 {
    let i = i as u64;
    if i < LINEAR_US {
        return i;
    }
    let octave = LINEAR_BITS as u64 + (i - LINEAR_US) / SUB_BUCKETS;
    let sub = (i - LINEAR_US) % SUB_BUCKETS;
    (SUB_BUCKETS + sub) << (octave - SUB_BITS as u64)
}

/// Highest value (µs) that falls into bucket `i` (`u64::MAX` for the overflow bucket).
pub fn bucket_high_us(i: usize) -> u64 {
    if i + 1 >= BUCKETS {
        u64::MAX
    } else {
        bucket_low_us(i + 1) - 1
    }
}

/// Nearest-rank percentile: the bucket holding the sample of rank `ceil(n * p / 100)`
/// (at least 1) of `counts`, or `None` when `counts` is empty. `p` is in percent and is
/// used to four decimals (`99.9`, `99.99`), so the rank is exact integer maths.
pub fn percentile_bucket(counts: &[u64], p: f64) -> Option<usize> {
    let n: u64 = counts.iter().sum();
    if n == 0 {
        return None;
    }
    // Parts per million, so that 99.9 % of 1000 samples is rank 999, not 1000.
    let ppm = (p.clamp(0.0, 100.0) * 10_000.0).round() as u128;
    let rank = ((n as u128 * ppm).div_ceil(1_000_000)).max(1) as u64;
    let mut seen = 0u64;
    for (i, &c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return Some(i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_part_is_exact() {
        for us in 0..LINEAR_US {
            let b = bucket_of(us);
            assert_eq!(b, us as usize);
            assert_eq!(bucket_low_us(b), us);
            assert_eq!(bucket_high_us(b), us);
        }
    }

    #[test]
    fn buckets_are_contiguous_and_monotonic() {
        for i in 0..BUCKETS - 1 {
            assert_eq!(
                bucket_high_us(i) + 1,
                bucket_low_us(i + 1),
                "gap after bucket {i}"
            );
            assert_eq!(bucket_of(bucket_low_us(i)), i);
            assert_eq!(bucket_of(bucket_high_us(i)), i);
        }
        assert_eq!(
            bucket_low_us(BUCKETS - 1),
            (2 * SUB_BUCKETS - 1) << (TOP_OCTAVE - 1 - SUB_BITS)
        );
        assert_eq!(bucket_of(1 << TOP_OCTAVE), BUCKETS - 1);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert_eq!(BUCKETS, 1920);
    }

    #[test]
    fn relative_width_is_bounded_above_linear_part() {
        // Covers well past the 10 s the monitor must handle.
        assert!(bucket_low_us(BUCKETS - 1) > 10_000_000);
        for i in LINEAR_US as usize..BUCKETS - 1 {
            let lo = bucket_low_us(i);
            let width = bucket_high_us(i) - lo + 1;
            assert!(
                width * SUB_BUCKETS <= lo,
                "bucket {i}: width {width} at {lo}"
            );
        }
        // Known edges: 1024..1039 is the first 16 µs-wide bucket, 2048..2079 the first 32 µs one.
        assert_eq!(bucket_of(1024), 1024);
        assert_eq!(bucket_of(1039), 1024);
        assert_eq!(bucket_of(1040), 1025);
        assert_eq!(bucket_of(2047), 1087);
        assert_eq!(bucket_of(2048), 1088);
        assert_eq!(bucket_high_us(1088), 2079);
    }

    #[test]
    fn percentile_nearest_rank() {
        let mut counts = vec![0u64; BUCKETS];
        assert_eq!(percentile_bucket(&counts, 50.0), None);
        // 1..=1000 µs, one sample each.
        for us in 1..=1000 {
            counts[bucket_of(us)] += 1;
        }
        assert_eq!(percentile_bucket(&counts, 50.0), Some(500));
        assert_eq!(percentile_bucket(&counts, 99.0), Some(990));
        assert_eq!(percentile_bucket(&counts, 99.9), Some(999));
        assert_eq!(percentile_bucket(&counts, 100.0), Some(1000));
        assert_eq!(percentile_bucket(&counts, 0.0), Some(1));
        assert_eq!(percentile_bucket(&counts, 0.05), Some(1));
        assert_eq!(percentile_bucket(&counts, 0.15), Some(2));
    }

    #[test]
    fn percentile_of_single_outlier() {
        let mut counts = vec![0u64; BUCKETS];
        counts[bucket_of(10)] = 999;
        counts[bucket_of(5000)] = 1;
        assert_eq!(percentile_bucket(&counts, 99.9), Some(10));
        assert_eq!(percentile_bucket(&counts, 99.95), Some(bucket_of(5000)));
        let b = percentile_bucket(&counts, 100.0).unwrap();
        assert!(bucket_low_us(b) <= 5000 && 5000 <= bucket_high_us(b));
    }
}
