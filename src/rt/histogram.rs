//! The monitor's histogram layout and [`bucket_of`], the one part of it the audio thread
//! runs (inlined into [`MonitorRt`](super::monitor::MonitorRt)); bucket edges and percentiles
//! are control-thread maths in `crate::telemetry::monitor::histogram`.
//!
//! The layout is HDR-like: values 0..=1023 µs each have their own bucket (exact), and every
//! octave `[2^k, 2^(k+1))` above that is split into [`SUB_BUCKETS`] equal buckets, so a
//! bucket is at most 1/64 (1.5625 %) of its lower edge wide. Octaves go up to
//! 2^[`TOP_OCTAVE`]` µs` (16.8 s); longer values land in the last bucket (the exact maximum is
//! kept separately).
//!

/// Values below this many µs have one bucket each.
pub const LINEAR_US: u64 = 1024;
/// log2 of [`LINEAR_US`].
pub(crate) const LINEAR_BITS: u32 = 10;
/// Buckets per octave above [`LINEAR_US`].
pub const SUB_BUCKETS: u64 = 64;
pub(crate) const SUB_BITS: u32 = 6;
/// The highest octave with buckets of its own is `[2^(TOP_OCTAVE-1), 2^TOP_OCTAVE)`.
pub const TOP_OCTAVE: u32 = 24;
/// Number of buckets in one histogram (1024 + 14 * 64 = 1920).
pub const BUCKETS: usize = (LINEAR_US + (TOP_OCTAVE - LINEAR_BITS) as u64 * SUB_BUCKETS) as usize;

/// Index of the bucket holding `us`. Branch-light and allocation-free: audio thread.
#[inline]
pub fn bucket_of(us: u64) -> usize {
    if us < LINEAR_US {
        return us as usize;
    }
    let octave = 63 - us.leading_zeros(); // >= LINEAR_BITS
    if octave >= TOP_OCTAVE {
        return BUCKETS - 1;
    }
    let sub = (us >> (octave - SUB_BITS)) & (SUB_BUCKETS - 1);
    (LINEAR_US + (octave - LINEAR_BITS) as u64 * SUB_BUCKETS + sub) as usize
}
