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

impl Stem {
    /// A stem at unity gain, centred, not muted. `samples`: interleaved stereo.
    pub fn new(name: impl Into<String>, samples: Box<[f32]>) -> Stem {
        Stem {
            name: name.into(),
            samples,
            gain: 1.0,
            pan: 0.0,
            muted: false,
        }
    }
}

impl Song {
    /// A song of `stems` at `rate`, as long as its longest stem, with no `song.json`
    /// settings (title = name, 4/4, no bpm, no sections).
    pub fn new(name: impl Into<String>, rate: u32, stems: Vec<Stem>) -> Song {
        let name = name.into();
        let frames = stems.iter().map(|s| s.samples.len() / 2).max().unwrap_or(0) as u64;
        Song {
            title: name.clone(),
            name,
            rate,
            frames,
            stems,
            bpm: None,
            beats_per_bar: 4,
            sections: Vec::new(),
        }
    }

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
