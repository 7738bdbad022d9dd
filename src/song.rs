//! A decoded song: immutable audio shared by `Arc` between the loader, the control thread and
//! the audio thread. Built off the audio thread; dropped off it too (see `rt`).

/// A named point in a song (from `song.json`).
#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    pub name: String,
    pub start_frame: u64,
}

/// One stem, decoded and resampled to the device rate.
#[derive(Debug)]
pub struct Stem {
    /// File stem name, e.g. `drums` for `drums.flac`.
    pub name: String,
    /// Interleaved stereo at the song's rate, `frames * 2` samples; mono files are placed in
    /// both channels; shorter stems are padded with silence to the song's length.
    pub samples: Box<[f32]>,
    /// Defaults from `song.json`.
    pub gain: f32,
    pub pan: f32,
    pub muted: bool,
}

/// A song ready to play.
#[derive(Debug)]
pub struct Song {
    /// Folder name, the song's id in the library.
    pub name: String,
    pub title: String,
    pub rate: u32,
    pub frames: u64,
    pub stems: Vec<Stem>,
    pub bpm: Option<f32>,
    pub beats_per_bar: u32,
    pub sections: Vec<Section>,
}

impl Song {
    pub fn stem_index(&self, name: &str) -> Option<usize> {
        self.stems.iter().position(|s| s.name == name)
    }

    pub fn duration_s(&self) -> f64 {
        self.frames as f64 / self.rate as f64
    }

    /// Bytes of decoded audio this song holds in RAM.
    pub fn ram_bytes(&self) -> usize {
        self.stems
            .iter()
            .map(|s| s.samples.len() * core::mem::size_of::<f32>())
            .sum()
    }
}
