//! The loader's error: a stem or song that cannot be loaded, with a message naming the file.

use super::*;

/// A stem or song that cannot be loaded; the message names the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct LoadError {
    pub message: String,
}

pub(super) fn load_err(path: &Path, what: impl fmt::Display) -> LoadError {
    LoadError {
        message: format!("{}: {what}", path.display()),
    }
}

/// What a stem file holds, from its header (and a full decode where the header has no
/// length).
#[derive(Clone, Debug, PartialEq)]
pub struct StemInfo {
    pub codec: String,
    pub rate: u32,
    pub channels: usize,
    pub bits_per_sample: Option<u32>,
    pub frames: u64,
}

impl StemInfo {
    pub fn duration_s(&self) -> f64 {
        self.frames as f64 / self.rate.max(1) as f64
    }
}

/// A decoded stem at its own rate: interleaved f32 at its file's channels (1 or 2).
pub struct DecodedStem {
    pub rate: u32,
    pub channels: usize,
    pub samples: Vec<f32>,
    /// Packets that failed to decode and were skipped (corrupt data).
    pub bad_packets: usize,
    /// NaN or infinite samples (replaced by silence) and samples beyond +24 dBFS (clamped).
    pub nonfinite_samples: usize,
}

impl DecodedStem {
    pub fn frames(&self) -> usize {
        self.samples.len() / self.channels.max(1)
    }
}
