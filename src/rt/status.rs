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
    /// The current song's tempo at the heard position (its tempo map), in thousandths of a
    /// bpm; 0: the song has no tempo.
    pub song_bpm_milli: AtomicU32,
    /// Quarter notes from the song's start to the heard position (an f64's bits).
    pub song_quarter_bits: AtomicU64,
    /// Set by the midi thread when it sends MIDI clock: only then does the audio loop read
    /// the clock for [`EngineStatus::audio_clock`] (no clock reads otherwise).
    pub clock_wanted: AtomicBool,
    /// When the audio just mixed will be heard, for MIDI clock out.
    pub audio_clock: AudioClock,
}

/// One period as the audio loop wrote it, with its timing: the sample the MIDI clock
/// scheduler works from ([`crate::hw::midi::clock`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AudioClockSample {
    /// Periods published so far (the sample's serial).
    pub period: u64,
    /// CLOCK_MONOTONIC, read right after `snd_pcm_avail_update` at the period's wake.
    pub wake_ns: u64,
    /// Output latency at that moment: frames still queued in the device buffer
    /// (buffer size minus avail), i.e. how long until this period's first frame plays.
    pub delay_frames: u32,
    /// Frames this period wrote.
    pub frames: u32,
    /// Song position (frames, as heard) after the period's last frame.
    pub song_pos: u64,
    /// Speed in hundredths of a percent, transport and count-in as published.
    pub speed_pct_x100: u32,
    pub transport: u8,
    pub counting_in: bool,
    pub song_serial: u32,
    pub song_bpm_milli: u32,
    /// Quarter notes from the song's start at `song_pos` (the tempo map's position).
    pub song_quarter: f64,
    pub rate: u32,
}

/// A seqlock over [`AudioClockSample`]: the audio loop writes without waiting; a reader
/// retries the rare read that overlapped a write.
#[derive(Debug, Default)]
pub struct AudioClock {
    seq: AtomicU64,
    period: AtomicU64,
    wake_ns: AtomicU64,
    delay_frames: AtomicU32,
    frames: AtomicU32,
    song_pos: AtomicU64,
    /// speed (low 32 bits) and rate (high 32 bits).
    speed_rate: AtomicU64,
    /// transport (bits 0-7), counting_in (bit 8).
    flags: AtomicU32,
    song_serial: AtomicU32,
    song_bpm_milli: AtomicU32,
    song_quarter_bits: AtomicU64,
}

impl AudioClock {
    /// Audio thread: publishes one period. Never blocks, never allocates.
    pub fn publish(&self, s: &AudioClockSample) {
        use core::sync::atomic::{fence, Ordering::Release};
        let seq = self.seq.load(Relaxed);
        self.seq.store(seq.wrapping_add(1), Relaxed);
        fence(Release);
        self.period.store(s.period, Relaxed);
        self.wake_ns.store(s.wake_ns, Relaxed);
        self.delay_frames.store(s.delay_frames, Relaxed);
        self.frames.store(s.frames, Relaxed);
        self.song_pos.store(s.song_pos, Relaxed);
        self.speed_rate.store(
            u64::from(s.speed_pct_x100) | u64::from(s.rate) << 32,
            Relaxed,
        );
        self.flags.store(
            u32::from(s.transport) | u32::from(s.counting_in) << 8,
            Relaxed,
        );
        self.song_serial.store(s.song_serial, Relaxed);
        self.song_bpm_milli.store(s.song_bpm_milli, Relaxed);
        self.song_quarter_bits
            .store(s.song_quarter.to_bits(), Relaxed);
        self.seq.store(seq.wrapping_add(2), Release);
    }

    /// Any thread: the latest period, or `None` before the first (or if writes kept
    /// overlapping the read, which a period of milliseconds makes vanishingly rare).
    pub fn read(&self) -> Option<AudioClockSample> {
        use core::sync::atomic::{fence, Ordering::Acquire};
        for _ in 0..16 {
            let before = self.seq.load(Acquire);
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let speed_rate = self.speed_rate.load(Relaxed);
            let flags = self.flags.load(Relaxed);
            let s = AudioClockSample {
                period: self.period.load(Relaxed),
                wake_ns: self.wake_ns.load(Relaxed),
                delay_frames: self.delay_frames.load(Relaxed),
                frames: self.frames.load(Relaxed),
                song_pos: self.song_pos.load(Relaxed),
                speed_pct_x100: speed_rate as u32,
                rate: (speed_rate >> 32) as u32,
                transport: flags as u8,
                counting_in: flags & 0x100 != 0,
                song_serial: self.song_serial.load(Relaxed),
                song_bpm_milli: self.song_bpm_milli.load(Relaxed),
                song_quarter: f64::from_bits(self.song_quarter_bits.load(Relaxed)),
            };
            fence(Acquire);
            if self.seq.load(Relaxed) == before {
                return (before > 0).then_some(s);
            }
        }
        None
    }
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
