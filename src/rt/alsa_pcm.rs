//! The ALSA PCM: opening it for mmap playback with the configured parameters, nearest to
//! what the device allows (control thread, before the audio thread starts), and
//! [`AlsaDevice`], its [`PlaybackDevice`] for the audio loop.
//!
//! Latency model: the device buffer holds `periods` periods of `period_frames`. The loop
//! sleeps in `snd_pcm_wait` until a period of space is free, mixes one period straight into
//! the mmap area (`mmap_begin` -> mix -> `mmap_commit`), and sleeps again, so the output
//! latency is the buffer (`periods * period_frames / rate`) and the deadline for each period
//! is one period minus the wake-up latency.

use super::convert::{DeviceFormat, FloatLe, S16Le, S24Le, S32Le};
use super::device::{state_errno, DeviceError, OpenStage, PlaybackDevice};
use super::format::SampleFormat;
use alsa::pcm::{Access as AlsaAccess, Format, HwParams, State, IO, PCM};
use alsa::{Direction, ValueOr};
use std::time::{Duration, Instant};

/// What the config asks of the device: the `audio.*` keys, as plain values.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputRequest<'a> {
    pub device: &'a str,
    pub rate: u32,
    pub channels: u32,
    pub format: SampleFormat,
    pub period_frames: u32,
    pub periods: u32,
}

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
pub fn open_output(cfg: &OutputRequest<'_>) -> Result<(PCM, Granted), DeviceError> {
    let name = cfg.device;
    let open_err = |what: &str, e: alsa::Error| DeviceError::alsa(name, what, e, OpenStage::Open);
    let err = |what: &str, e: alsa::Error| DeviceError::alsa(name, what, e, OpenStage::Configure);
    let cname = std::ffi::CString::new(name).map_err(|_| DeviceError::Unusable {
        device: name.escape_debug().to_string(),
        why: "audio.device contains a NUL character".into(),
    })?;
    // Non-blocking: a busy `hw:` device is an error now, not a wait for ever. The loop
    // sleeps in snd_pcm_wait (poll) either way.
    let pcm = PCM::open(&cname, Direction::Playback, true).map_err(|e| {
        if e.errno() == libc::EBUSY {
            open_err("busy (another program is playing through it)", e)
        } else {
            open_err("cannot open", e)
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
        return Err(DeviceError::Unusable {
            device: name.to_string(),
            why: format!(
                "granted {channels} channels, stembox mixes at most {}",
                crate::rt::MAX_CHANNELS
            ),
        });
    }
    if period_frames as usize > crate::rt::MAX_PERIOD_FRAMES {
        return Err(DeviceError::Unusable {
            device: name.to_string(),
            why: format!(
                "granted a period of {period_frames} frames, stembox mixes at most {} (lower audio.period_frames)",
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

/// How the loop gets at alsa-lib's mmap area for one sample type.
pub trait AlsaIo: DeviceFormat {
    fn io(pcm: &PCM) -> alsa::Result<IO<'_, Self::Raw>>;
}

impl AlsaIo for S16Le {
    fn io(pcm: &PCM) -> alsa::Result<IO<'_, i16>> {
        pcm.io_i16()
    }
}
impl AlsaIo for S24Le {
    fn io(pcm: &PCM) -> alsa::Result<IO<'_, i32>> {
        pcm.io_i32_s24()
    }
}
impl AlsaIo for S32Le {
    fn io(pcm: &PCM) -> alsa::Result<IO<'_, i32>> {
        pcm.io_i32()
    }
}
impl AlsaIo for FloatLe {
    fn io(pcm: &PCM) -> alsa::Result<IO<'_, f32>> {
        pcm.io_f32()
    }
}

/// The two ways into the device buffer.
enum Area<'a, R: Copy> {
    Lib(IO<'a, R>),
    Direct(alsa::direct::pcm::MmapPlayback<R>),
}

/// An open ALSA PCM as the audio loop's [`PlaybackDevice`].
pub struct AlsaDevice<'a, R: Copy> {
    pcm: &'a PCM,
    area: Area<'a, R>,
    channels: usize,
    /// Longest a drain may take: the buffer's time and a second more.
    drain_limit: Duration,
}

impl<'a, R: Copy> AlsaDevice<'a, R> {
    /// Maps the device buffer: the kernel's pages where the device has them
    /// ([`Access::DirectMmap`]), alsa-lib's mmap otherwise or when the kernel refuses.
    /// Audio thread, before the loop (the mapping is made once).
    pub fn new<F: AlsaIo<Raw = R>>(pcm: &'a PCM, granted: &Granted) -> alsa::Result<Self> {
        let area = match granted.access {
            Access::DirectMmap => match pcm.direct_mmap_playback::<R>() {
                Ok(m) => Area::Direct(m),
                Err(_) => Area::Lib(F::io(pcm)?),
            },
            Access::AlsaMmap => Area::Lib(F::io(pcm)?),
        };
        Ok(AlsaDevice {
            pcm,
            area,
            channels: granted.channels as usize,
            drain_limit: Duration::from_millis(
                1000 + granted.buffer_frames as u64 * 1000 / granted.rate.max(1) as u64,
            ),
        })
    }

    /// How the loop reaches the buffer: what it asked for, or alsa-lib's mmap after a
    /// refused direct mapping.
    pub fn access(&self) -> Access {
        match self.area {
            Area::Lib(_) => Access::AlsaMmap,
            Area::Direct(_) => Access::DirectMmap,
        }
    }
}

impl<R: Copy + Default + 'static> PlaybackDevice for AlsaDevice<'_, R> {
    type Raw = R;

    fn avail(&mut self) -> alsa::Result<u64> {
        match &self.area {
            Area::Lib(_) => self.pcm.avail_update().map(|a| a as u64),
            // Prepared (during the prefill) has room like Running; the rest is an error.
            Area::Direct(m) => match m.status().state() {
                st @ (State::XRun | State::Suspended | State::Disconnected) => Err(
                    alsa::Error::new("status", state_errno(st).unwrap_or(libc::EBADFD)),
                ),
                _ => Ok(m.avail() as u64),
            },
        }
    }

    fn rest(&mut self, ms: u32) {
        // nanosleep: no allocation, no lock; the device runs on with silence in its buffer.
        std::thread::sleep(std::time::Duration::from_millis(ms as u64));
    }

    fn wait(&mut self, timeout_ms: u32) -> alsa::Result<bool> {
        self.pcm.wait(Some(timeout_ms))
    }

    fn state(&mut self) -> State {
        self.pcm.state()
    }

    fn write(
        &mut self,
        frames: usize,
        fill: &mut dyn FnMut(&mut [R]) -> usize,
    ) -> alsa::Result<usize> {
        let ch = self.channels;
        match &mut self.area {
            Area::Lib(io) => io.mmap(frames, |buf| {
                let n = (buf.len() / ch).min(frames);
                fill(&mut buf[..n * ch]).min(n)
            }),
            Area::Direct(m) => {
                let (part, _) = m.data_ptr();
                let n = (part.frames as usize).min(frames);
                if n == 0 {
                    return Ok(0);
                }
                // SAFETY: `data_ptr` gives the writable contiguous part of the device buffer,
                // `part.frames * channels` samples from `part.ptr`; we write at most that.
                let buf = unsafe { core::slice::from_raw_parts_mut(part.ptr, n * ch) };
                let done = fill(buf).min(n);
                m.commit(done as alsa::pcm::Frames);
                Ok(done)
            }
        }
    }

    fn prepare(&mut self) -> alsa::Result<()> {
        self.pcm.prepare()
    }

    fn start(&mut self) -> alsa::Result<()> {
        self.pcm.start()
    }

    fn resume(&mut self) -> alsa::Result<()> {
        self.pcm.resume()
    }

    fn pause_before_resume(&mut self) {
        std::thread::sleep(Duration::from_millis(5));
    }

    /// The PCM is non-blocking, so `snd_pcm_drain` returns EAGAIN at once and the drain
    /// goes on in the device; wait for it to finish (at most the buffer's time and a second
    /// more).
    fn drain(&mut self) {
        if let Err(e) = self.pcm.drain() {
            if e.errno() != libc::EAGAIN {
                return;
            }
        }
        let t0 = Instant::now();
        while self.pcm.state() == State::Draining && t0.elapsed() < self.drain_limit {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn stop(&mut self) {
        let _ = self.pcm.drop();
    }
}
