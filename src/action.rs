//! What a musician can ask for: the common currency of buttons, the serial console and the
//! control thread. Not real-time: produced by the input and console threads, consumed by
//! the control thread, which turns each into engine commands.

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
    CountInToggle,
    Status,
    Stats,
    StatsReset,
    Help,
    Quit,
}
