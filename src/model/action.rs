//! What a musician can ask for: the common currency of buttons, the serial console and the
//! control thread. Not real-time: produced by the input and console threads, consumed by
//! the control thread, which turns each into engine commands.
//!
//! The limits of the values an action carries live once, in [`crate::base::limits`]: the
//! console and key-map parsers refuse what is outside them, the config validation refuses a
//! master gain outside them, and the controller clamps to them (and says so).

use serde::{Deserialize, Serialize};

pub use crate::base::limits::{
    MAX_GAIN_DB, MAX_PITCH_ST, MAX_SPEED_PCT, MAX_VOLUME_DB, MIN_GAIN_DB, MIN_PITCH_ST,
    MIN_SPEED_PCT, MIN_VOLUME_DB, PITCH_STEP_ST, SPEED_STEP_PCT, VOLUME_STEP_DB,
};

/// The plain `loop_ramp` action: from 70 % up by 5 % a pass to 100 %.
pub const DEFAULT_RAMP: (f32, f32, f32) = (70.0, 5.0, 100.0);

/// `db` clamped to `min..=max`, and whether it had to be.
pub fn clamp_db(db: f32, min: f32, max: f32) -> (f32, bool) {
    let c = db.clamp(min, max);
    (c, c != db)
}

/// A song named in a command: its 1-based position in the setlist or its folder name.
#[derive(Clone, Debug, PartialEq)]
pub enum SongRef {
    Number(usize),
    Name(String),
}

/// A section named in a command: its 1-based number or its name in `song.json`.
#[derive(Clone, Debug, PartialEq)]
pub enum SectionRef {
    Number(usize),
    Name(String),
}

/// What `mix` plays: the stems, or an NI Stems file's original master in their place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MixMode {
    Stems,
    Master,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    PlayPause,
    Play,
    Pause,
    Stop,
    NextSong,
    PrevSong,
    Song(SongRef),
    /// Stem by name.
    ToggleMute(String),
    Mute(String),
    Unmute(String),
    /// Toggles solo of the stem.
    Solo(String),
    /// Stem gain in dB.
    Gain(String, f32),
    /// Gain of an output bus (`audio.buses`) in dB, within the stem gain limits
    /// ([`MIN_GAIN_DB`]..=[`MAX_GAIN_DB`]), for every song; saved.
    BusGain(String, f32),
    NextSection,
    PrevSection,
    Section(SectionRef),
    /// Set loop start at the play head.
    LoopA,
    /// Set loop end at the play head (and start looping).
    LoopB,
    LoopToggle,
    /// Loop between two points in seconds.
    Loop(f64, f64),
    LoopOff,
    VolumeUp,
    VolumeDown,
    /// Speed in percent (time-stretched, same key); `None` asks for the current values.
    Speed(Option<f32>),
    SpeedUp,
    SpeedDown,
    /// Key change in semitones (same tempo); `None` asks for the current values.
    Pitch(Option<f32>),
    PitchUp,
    PitchDown,
    /// Tempo-ramp loop on the current loop: start %, step % per pass, end %, and whether
    /// each pass starts with a one-bar count-in.
    LoopRamp(f32, f32, f32, bool),
    CountInToggle,
    /// The generated click on the song's beat grid: on, off, or `None` to toggle. Once
    /// given it holds for every song, over `song.json`'s `"click"`.
    Click(Option<bool>),
    /// Stems mix or the song's original master (NI Stems); `None` toggles.
    Mix(Option<MixMode>),
    Status,
    Stats,
    StatsReset,
    Help,
    Quit,
}

/// How a key was pressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Gesture {
    Short,
    Long,
    Double,
}

impl Gesture {
    /// The name the config uses.
    pub fn name(self) -> &'static str {
        match self {
            Gesture::Short => "short",
            Gesture::Long => "long",
            Gesture::Double => "double",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamp_db_says_when_it_clamped() {
        assert_eq!(clamp_db(3.0, MIN_GAIN_DB, MAX_GAIN_DB), (3.0, false));
        assert_eq!(
            clamp_db(MAX_GAIN_DB, MIN_GAIN_DB, MAX_GAIN_DB),
            (MAX_GAIN_DB, false)
        );
        assert_eq!(
            clamp_db(30.0, MIN_GAIN_DB, MAX_GAIN_DB),
            (MAX_GAIN_DB, true)
        );
        assert_eq!(
            clamp_db(-61.0, MIN_VOLUME_DB, MAX_VOLUME_DB),
            (MIN_VOLUME_DB, true)
        );
    }
}
