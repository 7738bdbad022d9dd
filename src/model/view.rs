//! What the page and OSC clients are shown: plain data, built by the control thread from its
//! own state and published on the [`super::board::Board`]. Times are in song time (seconds
//! from the song's start at 100 % speed), so lyrics and sections stay right at any speed.

use serde::Serialize;

/// The current song: what changes only with the song (or when its files are re-read).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SongView {
    /// Setlist number, 1-based, as `song <n>` takes it; 0 when no song is loaded.
    pub number: usize,
    /// Folder name.
    pub name: String,
    pub title: String,
    pub bpm: Option<f64>,
    pub key: Option<String>,
    pub length_s: f64,
    pub sections: Vec<SectionView>,
    /// The tempo map in song time; empty when the song has no tempo.
    pub tempo: Vec<TempoView>,
    pub stems: Vec<StemView>,
    pub lyrics: Vec<LyricLine>,
    /// Chords not tied to a lyric line (`song.json` "chords", or inline chords), in time order.
    pub chords: Vec<ChordAt>,
    /// Why the song's lyrics or chords could not be read (file and line), if so.
    pub lyrics_problem: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SectionView {
    pub name: String,
    pub start_s: f64,
    pub end_s: f64,
    /// 1-based bar where the section starts, when the song has a tempo.
    pub bar: Option<u32>,
}

/// A tempo segment: from `at_s` on, `bpm` beats of `beat_unit` a minute.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TempoView {
    pub at_s: f64,
    /// 1-based bar at which this segment starts.
    pub bar: u32,
    pub bpm: f64,
    pub beats_per_bar: u8,
    pub beat_unit: u8,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StemView {
    pub name: String,
    /// `#rrggbb` (NI Stems colour or `song.json` "colour").
    pub colour: Option<String>,
    /// Overview of the waveform: peak level per bucket, 0..=255, over the whole song.
    pub peaks: Vec<u8>,
    /// Output buses the stem plays on.
    pub buses: Vec<String>,
}

/// One lyric line with the chords above it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LyricLine {
    pub at_s: f64,
    pub text: String,
    /// Chords placed above the text: the char offset into `text` where each one sits.
    pub chords: Vec<ChordMark>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ChordMark {
    pub at_char: usize,
    pub chord: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ChordAt {
    pub at_s: f64,
    pub bar: Option<u32>,
    pub beat: Option<u32>,
    pub chord: String,
}

/// What changes while a song plays: transport, mixer, practice settings, health.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LiveView {
    /// `playing`, `paused`, `stopped` or `count-in`.
    pub transport: String,
    /// Play head in song time.
    pub pos_s: f64,
    /// Box uptime in ms when `pos_s` was read: the page draws the head from it and the speed.
    pub at_ms: u64,
    pub speed_pct: f32,
    pub pitch_st: f32,
    /// Setlist number of the current song (0: none) and of the next one.
    pub song: usize,
    pub next_song: Option<usize>,
    pub loop_a_s: Option<f64>,
    pub loop_b_s: Option<f64>,
    pub loop_on: bool,
    pub ramp: Option<RampView>,
    pub click: bool,
    pub countin: bool,
    /// Some(true) while an NI Stems file's master plays instead of its stems.
    pub mix_master: Option<bool>,
    pub volume_db: f32,
    pub stems: Vec<StemMix>,
    pub buses: Vec<BusMix>,
    pub setlist: Vec<SetlistEntry>,
    pub health: Health,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RampView {
    pub start_pct: f32,
    pub step_pct: f32,
    pub end_pct: f32,
    pub countin: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StemMix {
    pub name: String,
    pub mute: bool,
    pub solo: bool,
    pub gain_db: f32,
    /// -1 (left) ..= 1 (right).
    pub pan: f32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BusMix {
    pub name: String,
    pub gain_db: f32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SetlistEntry {
    /// 1-based, as `song <n>` takes it.
    pub number: usize,
    pub name: String,
    pub title: String,
    pub bpm: Option<f64>,
    pub key: Option<String>,
    pub length_s: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Health {
    pub uptime_s: u64,
    /// False until the first song is loaded and the device runs (`ready`).
    pub ready: bool,
    /// What the box waits for before `ready`, in words (`the device default`).
    pub waiting_for: Option<String>,
    pub xruns: u64,
    pub late: u64,
    pub load_pct: Option<f32>,
    pub load_underruns: u64,
    pub stretch_underruns: u64,
    pub device_lost: bool,
    pub device_losses: u64,
    /// The board's temperature, where `/sys/class/thermal` has one.
    pub temp_c: Option<f32>,
}
