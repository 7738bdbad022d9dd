//! Shared by the loader fuzz targets: the loader reads files, so each input is written to a
//! per-process temporary file named with the format's extension, then goes through what the
//! loader does per stem (`loader::load_stem`, private): decode, then resample to the device
//! rate.

/// The device rate of the default config.
const DEVICE_RATE: u32 = 48_000;

/// Writes `data` to `<tmp>/stembox-fuzz-<pid>.<ext>`, decodes it as a stem, resamples it to
/// [`DEVICE_RATE`] and removes the file (a crash leaves it behind: it is the input).
pub fn decode_as(data: &[u8], ext: &str) {
    let path = std::env::temp_dir().join(format!("stembox-fuzz-{}.{ext}", std::process::id()));
    std::fs::write(&path, data).expect("write temp stem");
    let opts = stembox::loader::LoadOptions::default();
    if let Ok(stem) = stembox::loader::decode_stem(&path, &opts) {
        let _ = stembox::loader::resample(&stem.samples, stem.channels, stem.rate, DEVICE_RATE, &opts);
    }
    let _ = std::fs::remove_file(&path);
}
