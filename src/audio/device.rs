//! Opening an ALSA PCM for mmap playback with the configured parameters, nearest to what
//! the device allows. Control thread, before the audio thread starts.

use super::DeviceError;
use crate::config::{AudioConfig, SampleFormat};
use alsa::pcm::{Access as AlsaAccess, Format, HwParams, PCM};
use alsa::{Direction, ValueOr};

/// How the audio thread reaches the device buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// alsa-lib's `snd_pcm_mmap_begin/commit` (any PCM, plugins included).
    AlsaMmap,
    /// The kernel's mmap'ed buffer, status and control pages directly (`hw:` devices).
    DirectMmap,
}

/// What the device granted.
#[derive(Clone, Debug, PartialEq)]
pub struct Granted {
    pub device: String,
    pub rate: u32,
    pub channels: u32,
    pub format: SampleFormat,
    pub period_frames: u32,
    pub periods: u32,
    pub buffer_frames: u32,
    pub access: Access,
}

impl Granted {
    /// One line for the console: what was asked for is in the config, this is what we got.
    pub fn describe(&self) -> String {
        format!(
            "audio device={} rate={} channels={} format={} period_frames={} periods={} buffer_frames={} latency_ms={:.1} access={}",
            self.device,
            self.rate,
            self.channels,
            self.format,
            self.period_frames,
            self.periods,
            self.buffer_frames,
            self.buffer_frames as f64 * 1000.0 / self.rate as f64,
            match self.access {
                Access::AlsaMmap => "mmap",
                Access::DirectMmap => "direct-mmap",
            }
        )
    }

    /// Period length in nanoseconds.
    pub fn period_ns(&self) -> u64 {
        self.period_frames as u64 * 1_000_000_000 / self.rate as u64
    }
}

fn alsa_format(f: SampleFormat) -> Format {
    match f {
        SampleFormat::S16Le => Format::S16LE,
        SampleFormat::S24Le => Format::S24LE,
        SampleFormat::S32Le => Format::S32LE,
        SampleFormat::FloatLe => Format::FloatLE,
    }
}

/// Opens `cfg.device` for MMAP_INTERLEAVED playback. Control thread.
pub fn open_output(cfg: &AudioConfig) -> Result<(PCM, Granted), DeviceError> {
    let name = cfg.device.as_str();
    let err = |what: &str, e: alsa::Error| DeviceError::alsa(name, what, e);
    let cname = std::ffi::CString::new(name).map_err(|_| DeviceError {
        message: "audio.device contains a NUL character".into(),
    })?;
    // Non-blocking: a busy `hw:` device is an error now, not a wait for ever. The loop
    // sleeps in snd_pcm_wait (poll) either way.
    let pcm = PCM::open(&cname, Direction::Playback, true).map_err(|e| {
        if e.errno() == libc::EBUSY {
            err("busy (another program is playing through it)", e)
        } else {
            err("cannot open", e)
        }
    })?;
    {
        let hwp = HwParams::any(&pcm).map_err(|e| err("no hardware parameters", e))?;
        hwp.set_access(AlsaAccess::MMapInterleaved)
            .map_err(|e| err("mmap interleaved access not supported", e))?;
        hwp.set_format(alsa_format(cfg.format)).map_err(|e| {
            err(
                &format!(
                    "format {} not supported (set audio.format to one the device takes)",
                    cfg.format
                ),
                e,
            )
        })?;
        hwp.set_channels_near(cfg.channels)
            .map_err(|e| err("channel count", e))?;
        // No hidden resampling in alsa-lib: songs are resampled at load to the granted rate.
        let _ = hwp.set_rate_resample(false);
        hwp.set_rate_near(cfg.rate, ValueOr::Nearest)
            .map_err(|e| err("sample rate", e))?;
        hwp.set_period_size_near(cfg.period_frames as alsa::pcm::Frames, ValueOr::Nearest)
            .map_err(|e| err("period size", e))?;
        hwp.set_periods_near(cfg.periods, ValueOr::Nearest)
            .map_err(|e| err("period count", e))?;
        pcm.hw_params(&hwp)
            .map_err(|e| err("hardware parameters refused", e))?;
    }
    let hwp = pcm
        .hw_params_current()
        .map_err(|e| err("reading granted parameters", e))?;
    let rate = hwp.get_rate().map_err(|e| err("rate", e))?;
    let channels = hwp.get_channels().map_err(|e| err("channels", e))?;
    let period_frames = hwp.get_period_size().map_err(|e| err("period size", e))? as u32;
    let buffer_frames = hwp.get_buffer_size().map_err(|e| err("buffer size", e))? as u32;
    drop(hwp);
    if channels as usize > crate::rt::MAX_CHANNELS {
        return Err(DeviceError {
            message: format!(
                "audio device \"{name}\": granted {channels} channels, stembox mixes at most {}",
                crate::rt::MAX_CHANNELS
            ),
        });
    }
    if period_frames as usize > crate::rt::MAX_PERIOD_FRAMES {
        return Err(DeviceError {
            message: format!(
                "audio device \"{name}\": granted a period of {period_frames} frames, stembox mixes at most {} (lower audio.period_frames)",
                crate::rt::MAX_PERIOD_FRAMES
            ),
        });
    }
    {
        let swp = pcm
            .sw_params_current()
            .map_err(|e| err("software parameters", e))?;
        swp.set_avail_min(period_frames as alsa::pcm::Frames)
            .map_err(|e| err("avail_min", e))?;
        // The loop starts the device itself after the silence prefill.
        swp.set_start_threshold(buffer_frames as alsa::pcm::Frames)
            .map_err(|e| err("start threshold", e))?;
        pcm.sw_params(&swp)
            .map_err(|e| err("software parameters refused", e))?;
    }
    // Direct mmap talks to the kernel's pages, which only `hw:` devices have.
    let access = if name.starts_with("hw:") {
        Access::DirectMmap
    } else {
        Access::AlsaMmap
    };
    let granted = Granted {
        device: name.to_string(),
        rate,
        channels,
        format: cfg.format,
        period_frames,
        periods: buffer_frames / period_frames.max(1),
        buffer_frames,
        access,
    };
    Ok((pcm, granted))
}
