//! A stem's waveform overview for the page's timeline: one peak level per bucket, 0..=255,
//! computed once when a song loads (loader thread, never the audio thread) and published in
//! [`super::view::StemView::peaks`].
//!
//! Levels are perceptual, not linear: the bucket's peak in dBFS mapped from
//! [`FLOOR_DBFS`] (-48 dBFS, and anything quieter or silent: 0) to 0 dBFS (and anything
//! louder: 255), so a quiet verse is still visible beside a loud chorus, as DAW overviews
//! draw it. One pass over the samples; the log is taken once per bucket, not per sample.

/// The level drawn as 0: quieter than this is as good as silent on a stage screen.
pub const FLOOR_DBFS: f32 = -48.0;

/// The overview of a whole stem: `samples` interleaved with `channels` channels, split into
/// `buckets` buckets of (nearly) equal length; each bucket's loudest sample over all
/// channels, as [`level_of_peak`]. `buckets` zeros when there is no audio (or 0
/// channels). Any thread but the audio thread (allocates).
pub fn overview(samples: &[f32], channels: usize, buckets: usize) -> Vec<u8> {
    let frames = samples.len().checked_div(channels).unwrap_or(0);
    overview_prefix(samples, channels, frames, buckets)
}

/// The overview of a stem still being decoded: `decoded` is the decoded prefix, the buckets
/// cover `total_frames` (the whole stem), and buckets past the prefix are 0. With the whole
/// stem decoded it equals [`overview`].
pub fn overview_prefix(
    decoded: &[f32],
    channels: usize,
    total_frames: usize,
    buckets: usize,
) -> Vec<u8> {
    let mut out = vec![0u8; buckets];
    if channels == 0 || total_frames == 0 || buckets == 0 {
        return out;
    }
    let decoded_frames = (decoded.len() / channels).min(total_frames);
    for (b, level) in out.iter_mut().enumerate() {
        // u128: `b * total_frames` of a long stem at many buckets cannot overflow.
        let start = (b as u128 * total_frames as u128 / buckets as u128) as usize;
        let end = ((b as u128 + 1) * total_frames as u128 / buckets as u128) as usize;
        // More buckets than frames: a bucket holds the one frame it starts in.
        let end = end.max(start + 1).min(decoded_frames);
        if start >= end {
            continue;
        }
        *level = level_of_peak(peak(&decoded[start * channels..end * channels]));
    }
    out
}

/// The largest absolute sample; NaN is ignored (a broken decode must not blank the bucket).
fn peak(samples: &[f32]) -> f32 {
    // Eight lanes so the compiler vectorises the loop (a plain fold with `f32::max` is
    // sequential because of its NaN rule).
    let mut lanes = [0f32; 8];
    let mut chunks = samples.chunks_exact(8);
    for chunk in &mut chunks {
        for (m, &x) in lanes.iter_mut().zip(chunk) {
            let a = x.abs();
            if a > *m {
                *m = a;
            }
        }
    }
    let mut m = 0f32;
    for &x in chunks.remainder().iter().chain(lanes.iter()) {
        let a = x.abs();
        if a > m {
            m = a;
        }
    }
    m
}

/// A peak (linear, 1.0 = full scale) as an overview level: dBFS mapped from
/// [`FLOOR_DBFS`]..=0 onto 0..=255, rounded; quieter is 0, louder (and infinite) 255.
pub fn level_of_peak(peak: f32) -> u8 {
    // NaN, zero and negative (not a peak) alike.
    if peak.is_nan() || peak <= 0.0 {
        return 0;
    }
    let dbfs = 20.0 * peak.log10();
    let unit = ((dbfs - FLOOR_DBFS) / -FLOOR_DBFS).clamp(0.0, 1.0);
    (unit * 255.0).round() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(dbfs: f32) -> f32 {
        10f32.powf(dbfs / 20.0)
    }

    #[test]
    fn levels_are_db_scaled() {
        assert_eq!(level_of_peak(0.0), 0);
        assert_eq!(level_of_peak(f32::NAN), 0);
        assert_eq!(level_of_peak(-1.0), 0);
        assert_eq!(level_of_peak(1.0), 255);
        assert_eq!(level_of_peak(4.0), 255);
        assert_eq!(level_of_peak(f32::INFINITY), 255);
        assert_eq!(level_of_peak(db(-24.0)), 128); // half way: 127.5 rounds up
        assert_eq!(level_of_peak(db(-12.0)), 191);
        assert_eq!(level_of_peak(db(-48.0)), 0);
        assert_eq!(level_of_peak(db(-60.0)), 0);
        // Monotonic.
        let mut last = 0;
        for i in 0..=480 {
            let l = level_of_peak(db(-48.0 + i as f32 / 10.0));
            assert!(l >= last);
            last = l;
        }
    }

    #[test]
    fn each_bucket_shows_its_own_loudest_sample_over_all_channels() {
        // Stereo, 8 frames, 4 buckets of 2 frames: the right channel is loud in bucket 2,
        // bucket 3 is silent, and a negative peak counts as loud.
        let s = [
            0.1, 0.0, 0.0, 0.0, //
            0.0, 0.0, 0.0, -1.0, //
            0.0, 0.5, 0.0, 0.0, //
            0.0, 0.0, 0.0, 0.0,
        ];
        let o = overview(&s, 2, 4);
        assert_eq!(o, vec![level_of_peak(0.1), 255, level_of_peak(0.5), 0]);
    }

    #[test]
    fn uneven_buckets_cover_every_frame_once() {
        // 10 mono frames in 3 buckets: 3, 3, 4 frames; a spike in the last frame lands in
        // the last bucket and nowhere else.
        let mut s = vec![0.0f32; 10];
        s[9] = 1.0;
        assert_eq!(overview(&s, 1, 3), vec![0, 0, 255]);
        s[9] = 0.0;
        s[3] = 1.0;
        assert_eq!(overview(&s, 1, 3), vec![0, 255, 0]);
    }

    #[test]
    fn more_buckets_than_frames_and_empty_input() {
        assert_eq!(overview(&[1.0, 0.0], 1, 4), vec![255, 255, 0, 0]);
        assert_eq!(overview(&[], 2, 3), vec![0, 0, 0]);
        assert_eq!(overview(&[1.0], 0, 3), vec![0, 0, 0]);
        assert_eq!(overview(&[1.0; 8], 2, 0), Vec::<u8>::new());
        // A trailing half frame is not a frame.
        assert_eq!(overview(&[0.0, 0.0, 1.0], 2, 1), vec![0]);
    }

    #[test]
    fn nan_samples_are_ignored() {
        let s = [f32::NAN, 0.25, f32::NAN, f32::NAN];
        assert_eq!(overview(&s, 1, 1), vec![level_of_peak(0.25)]);
    }

    #[test]
    fn a_prefix_fills_its_buckets_and_leaves_the_rest_empty() {
        let whole: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.01).sin() * 0.5).collect();
        let full = overview(&whole, 1, 10);
        let part = overview_prefix(&whole[..500], 1, 1000, 10);
        assert_eq!(&part[..5], &full[..5]);
        assert_eq!(&part[5..], &[0; 5]);
        assert_eq!(overview_prefix(&whole, 1, 1000, 10), full);
        // A prefix longer than the stem (a decoder's padding) is cut at the stem's end.
        let mut padded = whole.clone();
        padded.extend([1.0; 100]);
        assert_eq!(overview_prefix(&padded, 1, 1000, 10), full);
    }

    #[test]
    fn the_peak_matches_a_plain_fold_at_every_length() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..100 {
            let s: Vec<f32> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
                })
                .collect();
            let want = s.iter().fold(0f32, |m, x| m.max(x.abs()));
            assert_eq!(peak(&s), want, "len {len}");
        }
    }

    #[test]
    fn throughput() {
        // Five minutes of stereo at 48 kHz (115 MB of f32): printed, not asserted, as the
        // machine is shared; `cargo test --release --lib peaks -- --nocapture` shows it.
        let frames = 48_000 * 300;
        let s: Vec<f32> = (0..frames * 2)
            .map(|i| ((i % 1000) as f32) / 1000.0 - 0.5)
            .collect();
        let t = std::time::Instant::now();
        let o = overview(&s, 2, 2000);
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(o.len(), 2000);
        assert!(o.iter().all(|&l| l == level_of_peak(0.5)));
        let mb = (s.len() * 4) as f64 / 1e6;
        println!(
            "peaks::overview: {mb:.0} MB in {:.1} ms = {:.0} MB/s",
            secs * 1e3,
            mb / secs
        );
    }
}
