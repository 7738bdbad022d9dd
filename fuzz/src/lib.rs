//! Shared by the loader fuzz targets: the loader reads files, so each input is written to a
//! per-process temporary file named with the format's extension, then goes through what the
//! loader does per stem (`loader::load_stem`, private): decode, then resample to the device
//! rate.

use std::path::PathBuf;

/// The device rate of the default config.
const DEVICE_RATE: u32 = 48_000;

/// Writes `data` to `<tmp>/stembox-fuzz-<pid>/stem.<ext>`, decodes it as a stem and
/// resamples it to [`DEVICE_RATE`].
pub fn decode_as(data: &[u8], ext: &str) {
    let dir = std::env::temp_dir().join(format!("stembox-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path: PathBuf = dir.join(format!("stem.{ext}"));
    std::fs::write(&path, data).expect("write temp stem");
    if let Ok(stem) = stembox::loader::decode_stem(&path) {
        let _ = stembox::loader::resample_stereo(&stem.stereo, stem.rate, DEVICE_RATE);
    }
}
