//! The limits every layer agrees on, defined once: what the audio thread's buffers are
//! sized for, and the ranges of what a musician may ask for. The console and key-map
//! parsers refuse what is outside them, config validation refuses it, the controller and the
//! engine clamp to them.

/// Most stems one song may have.
pub const MAX_STEMS: usize = 32;
/// Most frames one ALSA period may have.
pub const MAX_PERIOD_FRAMES: usize = 1024;
/// Most output channels.
pub const MAX_CHANNELS: usize = 8;
/// Buses at most; a stem's routing mask is a `u8`.
pub const MAX_BUSES: usize = 8;

/// Quietest stem gain a command may ask for; anything quieter is as good as muted, and the
/// limit catches a typo like `-6000`.
pub const MIN_GAIN_DB: f32 = -120.0;
/// Loudest stem gain a command may ask for.
pub const MAX_GAIN_DB: f32 = 24.0;
/// Quietest master volume (`audio.master_gain_db`, `volume_down`).
pub const MIN_VOLUME_DB: f32 = -60.0;
/// Loudest master volume (`audio.master_gain_db`, `volume_up`); the output still clips only
/// at 0 dBFS.
pub const MAX_VOLUME_DB: f32 = 24.0;
/// Master volume step of `volume_up` / `volume_down`.
pub const VOLUME_STEP_DB: f32 = 2.0;

/// Slowest speed a command may ask for, in percent of the original.
pub const MIN_SPEED_PCT: f32 = 50.0;
/// Fastest speed a command may ask for, in percent.
pub const MAX_SPEED_PCT: f32 = 150.0;
/// Step of `speed_up` / `speed_down`, in percent.
pub const SPEED_STEP_PCT: f32 = 5.0;
/// Lowest key change, in semitones.
pub const MIN_PITCH_ST: f32 = -12.0;
/// Highest key change, in semitones.
pub const MAX_PITCH_ST: f32 = 12.0;
/// Step of `pitch_up` / `pitch_down`, in semitones.
pub const PITCH_STEP_ST: f32 = 1.0;
