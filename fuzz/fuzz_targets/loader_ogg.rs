//! Arbitrary bytes as a `.ogg` stem through the loader's per-stem decode and resample.
//! Run under a memory limit (scripts/fuzz sets -malloc_limit_mb), so a header that makes
//! the loader allocate far more than the file could hold is a finding.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    stembox_fuzz::decode_as(data, "ogg");
});
