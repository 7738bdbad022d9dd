//! A decoded song: immutable audio shared by `Arc` between the loader, the control thread and
//! the audio thread. Built off the audio thread; dropped off it too (see `rt`).
//!
//! A stem keeps the channels of its file (mono or stereo: a mono stem takes half the RAM;
//! the engine plays it in both channels). Its samples live in a [`StemBuffer`] that may
//! still be filling while the song plays (progressive loading): the audio thread reads
//! only what is published and treats the rest as not there yet.
//!
//! The audio thread reads every stem by the play head up to the song's length:
//! [`Song::new`] pads short stems with silence, and the stems cannot be changed or
//! replaced afterwards (only their mixer defaults can).

use crate::model::stem_buffer::StemBuffer;
use core::sync::atomic::{AtomicU64, Ordering};

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
    /// Interleaved at the stem's channels (1 or 2), at the song's rate, room for at least
    /// the song's frames. Read with [`Stem::samples`].
    audio: StemBuffer,
    /// Defaults from `song.json`.
    pub gain: f32,
    pub pan: f32,
    pub muted: bool,
    /// The buses it plays on: bit `i` is bus `i` of the config's order (`main` is bit 0),
    /// set by the loader ([`crate::model::bus::route`]). The engine ignores bits for buses
    /// it lacks; with none left the stem plays on main.
    pub bus_mask: u8,
    /// `0xRRGGBB` for screens: an NI Stems file's colour for the stem, when it has one.
    pub colour: Option<u32>,
}

/// A song ready to play.
#[derive(Debug)]
pub struct Song {
    /// Folder name, the song's id in the library.
    pub name: String,
    pub title: String,
    pub rate: u32,
    /// Length in frames; every stem holds at least this many ([`Song::frames`]). Only
    /// ever shrinks: the loader trims a song whose headers promised more than decoded.
    frames: AtomicU64,
    stems: Vec<Stem>,
    pub bpm: Option<f32>,
    pub beats_per_bar: u32,
    pub sections: Vec<Section>,
    /// `song.json`'s default speed (percent) and key change (semitones).
    pub speed_pct: f32,
    pub pitch_st: f32,
    /// Bars and beats at [`Song::rate`], when the song has a tempo ([`Song::set_tempo_map`]).
    pub tempo_map: Option<crate::model::tempo::TempoMap>,
    /// `song.json`'s `"click"`: the generated click on when the song is loaded.
    pub click: bool,
    /// The stem holding an NI Stems file's original master mix: muted, and heard only in
    /// place of the other stems (`mix master`). `None` for songs of stem files.
    pub master_stem: Option<usize>,
    /// The frame the play head jumped to last (seek, section, loop point, start frame),
    /// `u64::MAX` for none: the loader decodes from there first ([`Song::want`]).
    wanted: AtomicU64,
    /// `lyrics.lrc` as read by the loader: `None` when the song has none, `Err` with the
    /// one-line reason when it could not be read (the song plays on without lyrics).
    pub lyrics: Option<Result<crate::model::lyrics::Lyrics, String>>,
    /// Chords in song time: `song.json`'s `"chords"` on the tempo map, else the lyrics'
    /// inline chords.
    pub chords: Vec<crate::model::view::ChordAt>,
    /// Each stem's waveform overview ([`crate::model::peaks`]), set once by the loader when
    /// the decode has ended (screens show none until then).
    pub overview: std::sync::OnceLock<Vec<Vec<u8>>>,
}

impl Stem {
    /// A decoded stem at unity gain, centred, not muted. `samples`: interleaved stereo.
    pub fn new(name: impl Into<String>, samples: Box<[f32]>) -> Stem {
        Stem::with_channels(name, 2, samples)
    }

    /// A decoded stem of `channels` (1: mono, 2: interleaved stereo).
    pub fn with_channels(name: impl Into<String>, channels: usize, samples: Box<[f32]>) -> Stem {
        Stem::from_audio(name, StemBuffer::complete(channels, samples))
    }

    /// A stem still to be decoded: `frames` of silence at `channels`, filled through
    /// [`StemBuffer::writer`] (loader) while the song may already play.
    pub fn loading(name: impl Into<String>, channels: usize, frames: usize) -> Stem {
        Stem::from_audio(name, StemBuffer::silent(channels, frames))
    }

    fn from_audio(name: impl Into<String>, audio: StemBuffer) -> Stem {
        Stem {
            name: name.into(),
            audio,
            gain: 1.0,
            pan: 0.0,
            muted: false,
            bus_mask: 1,
            colour: None,
        }
    }

    /// 1 (mono: played in both channels) or 2 (interleaved stereo).
    pub fn channels(&self) -> usize {
        self.audio.channels()
    }

    /// The decoded samples so far, interleaved at [`Stem::channels`]: once the stem is
    /// complete, at least the song's frames. Any thread (one atomic load).
    pub fn samples(&self) -> &[f32] {
        self.audio.published()
    }

    /// The shared buffer (its watermark, its writer).
    pub fn audio(&self) -> &StemBuffer {
        &self.audio
    }
}

impl Song {
    /// A song of `stems` at `rate`, as long as its longest stem, with no `song.json`
    /// settings (title = name, 4/4, no bpm, no sections). Shorter stems are padded with
    /// silence to the song's length. Not on the audio thread (may allocate).
    pub fn new(name: impl Into<String>, rate: u32, mut stems: Vec<Stem>) -> Song {
        let name = name.into();
        let frames = stems
            .iter()
            .map(|s| s.audio.capacity_frames())
            .max()
            .unwrap_or(0);
        for stem in &mut stems {
            let ch = stem.channels();
            if stem.audio.capacity_frames() < frames {
                // Only finished stems are ever shorter (a loading song's stems are all
                // allocated at its length), so the copy is the whole stem.
                assert!(
                    stem.audio.is_complete(),
                    "a loading stem is shorter than its song"
                );
                let mut padded = stem.samples().to_vec();
                padded.resize(frames * ch, 0.0);
                stem.audio = StemBuffer::complete(ch, padded.into_boxed_slice());
            }
        }
        let frames = AtomicU64::new(frames as u64);
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
            tempo_map: None,
            click: false,
            master_stem: None,
            wanted: AtomicU64::new(u64::MAX),
            lyrics: None,
            chords: Vec::new(),
            overview: std::sync::OnceLock::new(),
        }
    }

    /// Tells the loader that playback jumped to `frame`: where it is not decoded yet, a
    /// stem whose codec can seek decodes from there first. One atomic store: the audio
    /// thread calls it on every jump.
    pub fn want(&self, frame: u64) {
        self.wanted.store(frame, Ordering::Relaxed);
    }

    /// The frame asked for by [`Song::want`], if any. Loader thread.
    pub fn wanted(&self) -> Option<u64> {
        Some(self.wanted.load(Ordering::Relaxed)).filter(|&f| f != u64::MAX)
    }

    /// How far from `frame` every stem is decoded without a gap (in its front part or
    /// its region): `frame` when some stem has nothing there, the song's length when all
    /// are complete. A few atomic loads per stem; the audio thread calls it.
    pub fn decoded_through(&self, frame: u64) -> u64 {
        let song_frames = self.frames();
        let mut end = song_frames;
        for stem in &self.stems {
            let audio = stem.audio();
            if audio.is_complete() {
                continue;
            }
            let (_, e) = audio.readable_from(frame.min(usize::MAX as u64) as usize);
            end = end.min(e as u64);
        }
        end.max(frame.min(song_frames))
    }

    /// Sets the tempo map; a map at another rate than the song's is refused (kept `None`),
    /// as its frames would not be the song's. Not on the audio thread.
    pub fn set_tempo_map(&mut self, map: Option<crate::model::tempo::TempoMap>) {
        self.tempo_map = map.filter(|m| m.rate() == self.rate);
    }

    /// Length in frames at [`Song::rate`] (Acquire: it may shrink once, when the loader
    /// finds the files shorter than their headers said). Any thread.
    pub fn frames(&self) -> u64 {
        self.frames.load(Ordering::Acquire)
    }

    /// Shortens the song to `frames` (never lengthens it). Loader thread, once every stem
    /// is decoded.
    pub fn trim_frames(&self, frames: u64) {
        self.frames.fetch_min(frames, Ordering::AcqRel);
    }

    /// Whether some stem is still being decoded.
    pub fn is_loading(&self) -> bool {
        self.stems.iter().any(|s| !s.audio.is_complete())
    }

    /// Frames from the start that every stem has decoded (the song's length once loaded).
    /// Any thread.
    pub fn ready_frames(&self) -> u64 {
        let ready = self.stems.iter().map(|s| s.audio.ready_frames()).min();
        (ready.unwrap_or(0) as u64).min(self.frames())
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
        self.frames() as f64 / self.rate as f64
    }

    /// Bytes of decoded audio this song holds in RAM (mono stems count once; a song still
    /// loading counts all it will hold: its buffers are allocated up front).
    pub fn ram_bytes(&self) -> usize {
        self.stems.iter().map(|s| s.audio.ram_bytes()).sum()
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

    #[test]
    fn mono_stems_stay_mono_and_count_half_the_ram() {
        let song = Song::new(
            "m",
            48_000,
            vec![
                Stem::with_channels("kick", 1, vec![0.5; 100].into_boxed_slice()),
                Stem::new("keys", vec![0.25; 60].into_boxed_slice()),
            ],
        );
        assert_eq!(song.frames(), 100);
        assert_eq!(song.stems()[0].channels(), 1);
        assert_eq!(song.stems()[0].samples().len(), 100);
        // The stereo stem is padded to 100 frames of 2 channels.
        assert_eq!(song.stems()[1].samples().len(), 200);
        assert_eq!(song.ram_bytes(), (100 + 200) * 4);
    }

    #[test]
    fn a_loading_song_is_ready_as_far_as_its_slowest_stem_and_can_be_trimmed() {
        let song = Song::new(
            "l",
            48_000,
            vec![Stem::loading("a", 1, 10), Stem::loading("b", 2, 10)],
        );
        assert!(song.is_loading());
        assert_eq!(song.ready_frames(), 0);
        let mut a = song.stems()[0].audio().writer().unwrap();
        let mut b = song.stems()[1].audio().writer().unwrap();
        a.append(&[0.1; 6]);
        b.append(&[0.1; 8]);
        assert_eq!(song.ready_frames(), 4);
        // The files were shorter than their headers: the song ends where they did.
        song.trim_frames(6);
        song.trim_frames(1_000);
        assert_eq!(song.frames(), 6);
        drop((a, b));
        assert!(!song.is_loading());
        assert_eq!(song.ready_frames(), 6);
    }
}
