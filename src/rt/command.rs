//! Messages between the control thread and the audio thread: small `Copy` values.

/// What the control thread asks of the engine. Sent over an rtrb queue of
/// [`COMMAND_QUEUE_CAPACITY`]; applied at the start of the next period.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Command {
    /// Start or resume. From the song's first frame the output is bit-exact (no fade-in);
    /// from anywhere else it fades in.
    Play,
    /// Count in: `beats` clicks `beat_frames` apart (accent on the first), then play from
    /// the current position as [`Command::Play`] does.
    CountIn {
        beat_frames: u32,
        beats: u8,
    },
    /// Fade out and hold the position.
    Pause,
    /// Fade out and go back to the start.
    Stop,
    /// Move the play head (fades out and in when playing).
    Seek {
        frame: u64,
    },
    /// Take the next song waiting in the song queue; start at `start_frame`, playing or not.
    /// The current song fades out first if it is audible, and is then handed back.
    SwitchSong {
        start_frame: u64,
        play: bool,
    },
    /// Linear gain of one stem (1.0 = unity).
    StemGain {
        stem: u8,
        gain: f32,
    },
    StemMute {
        stem: u8,
        mute: bool,
    },
    StemSolo {
        stem: u8,
        solo: bool,
    },
    /// -1.0 (left) ..= 1.0 (right); centre keeps both channels at unity.
    StemPan {
        stem: u8,
        pan: f32,
    },
    /// Linear master gain after the stem sum.
    MasterGain {
        gain: f32,
    },
    /// Loop between two frames (the wrap is crossfaded); `None` ends the loop.
    Loop {
        region: Option<(u64, u64)>,
    },
    /// Playback speed as a factor (1.0 = original; clamped to 0.5..=1.5, not finite = 1.0),
    /// without changing the pitch. The song is mixed in song time and time-stretched.
    Speed {
        factor: f32,
    },
    /// Key change in semitones (clamped to -12..=12, not finite = 0), without changing the
    /// tempo. Speed 1.0 and pitch 0 together bypass the stretcher (bit-exact output).
    Pitch {
        st: f32,
    },
    /// Tempo-ramp loop on the current A-B loop: the next pass (from A) plays at
    /// `start` (speed factor), each wrap raises the speed by `step` until `end`, then it
    /// holds. Ignored without a loop. A `Speed`, a new loop or `Loop { region: None }` ends it.
    /// With a `count_in` of some beats each pass (the first too) starts with a count-in
    /// instead of the wrap crossfade: the tail fades out at B, then the clicks (beat length
    /// at 100 %, divided by the new pass's speed), then A.
    LoopRamp {
        start: f32,
        step: f32,
        end: f32,
        count_in: CountInBar,
    },
    /// The generated click on the current song's tempo map (`Song::tempo_map`; nothing
    /// without one): accented downbeats, mixed in song time so it follows the speed. Turned
    /// off, a click already sounding rings out.
    Click(bool),
    /// Linear gain of bus `bus` (an index into the engine's `BusTable`, main = 0), applied
    /// to its outputs after mixing and stretching, ramped. Unknown buses are ignored.
    BusGain {
        bus: u8,
        gain: f32,
    },
}

/// A count-in's beat length (frames at 100 %) and beats, packed into 32 bits so that
/// [`Command::LoopRamp`] stays within the command size: 24 bits of beat frames (up to 87 s
/// a beat at 192 kHz; bpm is at least 20) and 8 bits of beats. 0 beats: no count-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CountInBar(u32);

impl CountInBar {
    /// No count-in.
    pub const NONE: CountInBar = CountInBar(0);
    const FRAMES_MASK: u32 = (1 << 24) - 1;

    /// `beat_frames` is clamped to 1..=2^24-1; 0 `beats` means no count-in.
    pub fn new(beat_frames: u32, beats: u8) -> CountInBar {
        if beats == 0 {
            return CountInBar::NONE;
        }
        CountInBar((beats as u32) << 24 | beat_frames.clamp(1, Self::FRAMES_MASK))
    }

    pub fn beat_frames(self) -> u32 {
        self.0 & Self::FRAMES_MASK
    }

    pub fn beats(self) -> u8 {
        (self.0 >> 24) as u8
    }
}

// Commands are copied through a lock-free queue on every control action: keep them small.
const _: () = assert!(core::mem::size_of::<Command>() <= 24);

/// Commands in flight at once; far more than a button box or console can produce per period.
pub const COMMAND_QUEUE_CAPACITY: usize = 256;
/// Songs in flight to the audio thread (the next song, plus one change of mind).
pub const SONG_QUEUE_CAPACITY: usize = 4;
/// Songs waiting to be dropped by the control thread.
pub const GARBAGE_QUEUE_CAPACITY: usize = 8;

#[cfg(test)]
mod tests {
    use super::CountInBar;

    #[test]
    fn count_in_bar_packs_and_clamps() {
        let c = CountInBar::new(24_000, 4);
        assert_eq!((c.beat_frames(), c.beats()), (24_000, 4));
        let c = CountInBar::new(u32::MAX, 255);
        assert_eq!((c.beat_frames(), c.beats()), ((1 << 24) - 1, 255));
        let c = CountInBar::new(0, 3);
        assert_eq!((c.beat_frames(), c.beats()), (1, 3));
        assert_eq!(CountInBar::new(24_000, 0), CountInBar::NONE);
        assert_eq!(CountInBar::NONE.beats(), 0);
    }
}
