//! `song.json` through songmeta's parser, then the derived values the loader uses.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(meta) = stembox::model::songmeta::parse_song_json(data) {
        let _ = meta.bar_s();
        let _ = meta.section_frames(48_000);
    }
});
