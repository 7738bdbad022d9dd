//! `song.json` through songmeta's parser, then the derived values the loader uses.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(meta) = stembox::model::songmeta::parse_song_json(data) {
        let _ = meta.bar_s();
        let _ = meta.section_frames(48_000);
        // A map that parsed builds, and its queries stay finite and in order.
        if let Some(map) = meta.tempo_map(44_100) {
            let mut last = -1.0;
            for b in map.beats(0.0, 44_100.0 * 30.0).take(10_000) {
                assert!(b.frame.is_finite() && b.frame > last);
                last = b.frame;
            }
            let q = map.quarter_at(1e6);
            assert!((map.frame_of_quarter(q) - 1e6).abs() < 1e-3);
            assert!(map.frame_of_bar(1e9).is_finite());
        } else {
            assert!(meta.tempo.is_empty());
        }
    }
});
