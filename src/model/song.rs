//! A decoded song: immutable audio shared by `Arc` between the loader, the control thread and
//! the audio thread. Built off the audio thread; dropped off it too (see `rt`).
//!
//! The audio thread slices every stem by the play head, so a stem shorter than its song
//! would panic it: [`Song::new`] pads short stems with silence, and the stems and their
//! samples cannot be changed or replaced afterwards (only their mixer defaults can).

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
    /// Interleaved stereo at the song's rate, at least `frames * 2` samples of its song;
    /// mono files are placed in both channels. Read with [`Stem::samples`].
    samples: Box<[f32]>,
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
    /// Length in frames; every stem holds at least this many ([`Song::frames`]).
    frames: u64,
    stems: Vec<Stem>,
    pub bpm: Option<f32>,
    pub beats_per_bar: u32,
    pub sections: Vec<Section>,
    /// `song.json`'s default speed (percent) and key change (semitones).
    pub speed_pct: f32,
    pub pitch_st: f32,
    /// The stem holding an NI Stems file's original master mix: muted, and heard only in
    /// place of the other stems (`mix master`). `None` for songs of stem files.
    pub master_stem: Option<usize>,
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

    /// Interleaved stereo samples, at least `frames * 2` of the song the stem is in.
    pub fn samples(&self) -> &[f32] {
        &self.samples
    }
}

impl Song {
    /// A song of `stems` at `rate`, as long as its longest stem, with no `song.json`
    /// settings (title = name, 4/4, no bpm, no sections). Shorter stems are padded with
    /// silence to the song's length. Not on the audio thread (may allocate).
    pub fn new(name: impl Into<String>, rate: u32, mut stems: Vec<Stem>) -> Song {
        let name = name.into();
        let frames = stems.iter().map(|s| s.samples.len() / 2).max().unwrap_or(0);
        for stem in &mut stems {
            if stem.samples.len() < frames * 2 {
                let mut padded = core::mem::take(&mut stem.samples).into_vec();
                padded.resize(frames * 2, 0.0);
                stem.samples = padded.into_boxed_slice();
            }
        }
        let frames = frames as u64;
        Song {
            title: name.clone(),
            name,
            rate,
            frames,
            stems,
            bpm: None,
            beats_per_bar: 4,
            sections: Vec::new(),
            speed_pct: 100.0,
            pitch_st: 0.0,
            master_stem: None,
        }
    }

    /// Length in frames at [`Song::rate`].
    pub fn frames(&self) -> u64 {
        self.frames
    }

    pub fn stems(&self) -> &[Stem] {
        &self.stems
    }

    /// The stems, to change their mixer defaults (gain, pan, mute) before the song is
    /// shared; a slice, so none can be added or removed.
    pub fn stems_mut(&mut self) -> &mut [Stem] {
        &mut self.stems
    }

    /// The stems, taken out of the song (the loader combines songs' stems before sharing).
    pub fn into_stems(self) -> Vec<Stem> {
        self.stems
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_stems_are_padded_with_silence_to_the_song_length() {
        let song = Song::new(
            "s",
            48_000,
            vec![
                Stem::new("long", vec![0.5; 200].into_boxed_slice()),
                Stem::new("short", vec![0.25; 60].into_boxed_slice()),
                Stem::new("empty", Box::new([])),
            ],
        );
        assert_eq!(song.frames(), 100);
        for stem in song.stems() {
            assert_eq!(stem.samples().len(), 200, "{}", stem.name);
        }
        let short = song.stems()[1].samples();
        assert!(short[..60].iter().all(|&x| x == 0.25));
        assert!(short[60..].iter().all(|&x| x == 0.0));
        assert_eq!(song.stems()[0].samples(), &[0.5; 200][..]);
    }

    #[test]
    fn every_stem_covers_every_frame_of_the_song() {
        // Odd sample counts and a stem longer than the others by half a frame.
        let song = Song::new(
            "odd",
            44_100,
            vec![
                Stem::new("a", vec![0.1; 7].into_boxed_slice()),
                Stem::new("b", vec![0.1; 4].into_boxed_slice()),
            ],
        );
        assert_eq!(song.frames(), 3);
        for stem in song.stems() {
            assert!(stem.samples().len() >= song.frames() as usize * 2);
        }
        let none = Song::new("none", 48_000, Vec::new());
        assert_eq!(none.frames(), 0);
        assert_eq!(none.duration_s(), 0.0);
    }
}
