//! Arbitrary bytes as an NI Stems `.stem.mp4` through what the loader does with one: the
//! manifest, symphonia's MP4 demuxer over every track, AAC/ALAC decoding, the budget, and
//! resampling each track to 48 kHz (`nistem::load_file`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!(
        "stembox-fuzz-{}.stem.mp4",
        std::process::id()
    ));
    std::fs::write(&path, data).expect("write temp stem");
    // 512 MiB of decoded audio: far below the 2 GB limit, so a finding is a real leak past
    // the budget, not the budget itself.
    let _ = stembox::loader::nistem::load_file(&path, 48_000, 512 * 1024 * 1024, &stembox::loader::LoadOptions::default());
    let _ = std::fs::remove_file(&path);
});
