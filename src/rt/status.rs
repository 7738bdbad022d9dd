//! What the audio thread reports: atomics written by the audio thread and read by anyone.
//! Relaxed ordering is enough: every value is a self-contained counter or position.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Transport {
    Stopped = 0,
    Playing = 1,
    Paused = 2,
}

impl Transport {
    pub fn from_u8(v: u8) -> Transport {
        match v {
            1 => Transport::Playing,
            2 => Transport::Paused,
            _ => Transport::Stopped,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Transport::Stopped => "stopped",
            Transport::Playing => "playing",
            Transport::Paused => "paused",
        }
    }
}

/// Shared between the audio thread (writer) and the control thread (reader).
#[derive(Debug, Default)]
pub struct EngineStatus {
    /// Play head in frames of the current song.
    pub pos_frames: AtomicU64,
    /// Serial of the current song (each `SwitchSong` increments it).
    pub song_serial: AtomicU32,
    pub transport: AtomicU8,
    /// Times a song played to its end.
    pub songs_ended: AtomicU32,
    /// Blocks the engine has mixed (a period, or a part of one where the mmap area
    /// wraps); the control thread waits for the first.
    pub periods: AtomicU64,
    /// ALSA underruns (EPIPE) recovered from.
    pub xruns: AtomicU32,
    /// Suspends (ESTRPIPE) recovered from.
    pub suspends: AtomicU32,
    /// Whether the loop region is active.
    pub looping: AtomicBool,
    /// Whether a count-in is clicking.
    pub counting_in: AtomicBool,
    /// Speed in force, in hundredths of a percent (10_000 = 100 %).
    pub speed_pct_x100: AtomicU32,
    /// Pitch in force, in thousandths of a semitone (signed, as the bits of an i32).
    pub pitch_milli_st: AtomicU32,
    /// Whether the stretcher is in the audible path (not bypassed).
    pub stretching: AtomicBool,
    /// Tempo-ramp loop: the pass now being mixed (1 = first), 0 when no ramp runs.
    pub ramp_pass: AtomicU32,
    /// Stretcher periods where the worker had not delivered in time.
    pub stretch_underruns: AtomicU64,
    /// Periods where playback reached audio not yet decoded (progressive loading): the
    /// missing stems played silence there, or the head waited after a jump.
    pub load_underruns: AtomicU64,
}

impl EngineStatus {
    /// Speed in force, as a factor (1.0 before the engine's first period).
    pub fn speed(&self) -> f64 {
        match self.speed_pct_x100.load(Relaxed) {
            0 => 1.0,
            v => v as f64 / 10_000.0,
        }
    }

    /// Pitch in force, in semitones.
    pub fn pitch_st(&self) -> f32 {
        self.pitch_milli_st.load(Relaxed) as i32 as f32 / 1000.0
    }

    pub fn transport(&self) -> Transport {
        Transport::from_u8(self.transport.load(Relaxed))
    }
}
