//! The memory budget of one song load, the limits a stem's header is held to, and how many
//! frames a file can plausibly hold.

use super::*;

/// Largest sample magnitude kept from a (float) stem: +24 dBFS. Beyond it a file is garbage.
pub const MAX_SAMPLE_ABS: f32 = 16.0;
/// Lowest stem sample rate accepted: below it a header is lying or the file is not music.
pub const MIN_STEM_RATE_HZ: u32 = 1_000;
/// Highest stem sample rate accepted (DXD is 352.8 kHz; 768 kHz is the highest in use).
pub const MAX_STEM_RATE_HZ: u32 = 768_000;
/// Most frames one byte of a compressed stem can expand to. FLAC's densest frame (a
/// constant subframe: about 11 bytes for up to 65535 samples) gives about 6000; a header
/// claiming more than this much is lying about its length.
pub const MAX_FRAMES_PER_BYTE: u64 = 8192;
/// Bytes of one decoded frame of one channel in RAM: f32.
pub(super) const SAMPLE_BYTES: u64 = 4;
/// Seconds of every stem decoded before a song is handed over to play (progressive
/// loading): enough that the decoders, running on ahead, stay in front of the play head.
pub const PLAYABLE_LEAD_S: f64 = 0.5;

pub(super) fn budget_mb_text(limit_bytes: u64) -> String {
    format!("memory.budget_mb = {}", limit_bytes.div_ceil(MIB))
}

/// Decoded bytes one song load may take, shared by its stem decoders: each charges what
/// its stem will take at the device rate as its samples arrive, so the whole song stops at
/// the limit even when every header lies.
pub struct Budget {
    pub(super) limit_bytes: u64,
    pub(super) used_bytes: AtomicU64,
}

impl Budget {
    pub fn new(limit_bytes: u64) -> Budget {
        Budget {
            limit_bytes,
            used_bytes: AtomicU64::new(0),
        }
    }

    /// Takes `bytes` more; `false` (and nothing taken) when that would pass the limit.
    pub(super) fn charge(&self, bytes: u64) -> bool {
        let mut used = self.used_bytes.load(Ordering::Relaxed);
        loop {
            let want = used.saturating_add(bytes);
            if want > self.limit_bytes {
                return false;
            }
            match self.used_bytes.compare_exchange_weak(
                used,
                want,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => used = now,
            }
        }
    }
}

/// Frames `frames` at `from_hz` become at `to_hz` (the resampler's exact length).
pub(super) fn frames_at(frames: u64, from_hz: u32, to_hz: u32) -> u64 {
    if from_hz == to_hz || from_hz == 0 {
        return frames;
    }
    (frames as u128 * to_hz as u128).div_ceil(from_hz as u128) as u64
}

/// The most frames a file of `file_bytes` can hold: exact for PCM (WAV), a generous bound
/// for compressed codecs ([`MAX_FRAMES_PER_BYTE`]).
pub fn plausible_frames(
    codec: &str,
    channels: usize,
    bits_per_sample: Option<u32>,
    file_bytes: u64,
) -> u64 {
    if codec.starts_with("pcm") {
        let bytes = bits_per_sample.unwrap_or(8).div_ceil(8).max(1) as u64;
        file_bytes / (channels.max(1) as u64 * bytes)
    } else {
        file_bytes.saturating_mul(MAX_FRAMES_PER_BYTE)
    }
}
