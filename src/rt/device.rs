//! The device seam: what the audio loop needs from a playback device, as one small trait.
//!
//! [`PlaybackDevice`] is the ALSA PCM's playback calls, in ALSA's terms and with ALSA's
//! errors (`alsa::Error` with a positive errno, as alsa-lib reports them), so the loop in
//! [`super::run`] reads like the ALSA loop it is. Two implementations:
//! [`AlsaDevice`](super::alsa_pcm::AlsaDevice) (a real PCM, through the kernel's pages or
//! alsa-lib's mmap) and [`FakeDevice`](super::fake::FakeDevice) (scripted, full speed,
//! for tests of every recovery arm).
//!
//! Every method is called on the audio thread, inside the loop, and must keep the rules of
//! `crate::rt`: no allocation, no lock, no logging; the only blocking is in
//! [`PlaybackDevice::wait`], [`PlaybackDevice::pause_before_resume`] and
//! [`PlaybackDevice::rest`] (an unpaced device with nothing to play).

use alsa::pcm::State;

/// A playback device as the audio loop sees it. `Raw` is the sample in the device buffer.
pub trait PlaybackDevice {
    /// One sample as it sits in the device buffer (`i16`, `i32` or `f32`).
    type Raw: Copy + Default + 'static;

    /// Frames of free space in the device buffer (`snd_pcm_avail_update`). An xrun, a
    /// suspend or a lost device show here as `EPIPE`, `ESTRPIPE`, `ENODEV`.
    fn avail(&mut self) -> alsa::Result<u64>;

    /// Sleeps until the device has room for `avail_min` frames, at most `timeout_ms`
    /// (`snd_pcm_wait`): `Ok(true)` when there is room, `Ok(false)` on a timeout. A poll
    /// error (POLLERR, POLLHUP) is an `Err` whose errno says why, as alsa-lib maps it.
    fn wait(&mut self, timeout_ms: u32) -> alsa::Result<bool>;

    /// The device state (`snd_pcm_state`).
    fn state(&mut self) -> State;

    /// Offers the next contiguous part of the buffer, at most `frames` frames, to `fill`
    /// (the mmap area, `frames * channels` samples), then commits what `fill` says it
    /// wrote (`snd_pcm_mmap_begin` / `snd_pcm_mmap_commit`). Returns the frames the
    /// device took, which may be fewer than offered (the area ends at the buffer's wrap,
    /// a plugin may commit less); `Ok(0)` when there is no room.
    fn write(
        &mut self,
        frames: usize,
        fill: &mut dyn FnMut(&mut [Self::Raw]) -> usize,
    ) -> alsa::Result<usize>;

    /// Back to the prepared state, buffer empty (`snd_pcm_prepare`).
    fn prepare(&mut self) -> alsa::Result<()>;

    /// Starts playback of what is in the buffer (`snd_pcm_start`).
    fn start(&mut self) -> alsa::Result<()>;

    /// Leaves a suspend (`snd_pcm_resume`): `EAGAIN` while the driver is not ready yet,
    /// another error when it cannot resume at all (then the loop prepares).
    fn resume(&mut self) -> alsa::Result<()>;

    /// Waits a moment between two `EAGAIN`s of [`PlaybackDevice::resume`].
    fn pause_before_resume(&mut self);

    /// Lets what is in the buffer play out, then stops (after the loop, `play --once`).
    fn drain(&mut self);

    /// Stops at once, dropping what is in the buffer (`snd_pcm_drop`; after the loop).
    fn stop(&mut self);

    /// Sleeps `ms` instead of spinning: called only when the device does not pace the
    /// loop (it takes periods as fast as they come: alsa-lib's `null` and `file` PCMs)
    /// and the engine has nothing to play, or would play audio the loader has not decoded
    /// yet; nobody hears the gap and nothing waits for it. A card or jack always makes the loop wait in [`PlaybackDevice::wait`] and
    /// never gets here.
    fn rest(&mut self, ms: u32);
}

/// The errno alsa-lib would report for a device in `state` that is not running
/// (positive, like `alsa::Error::errno`): an xrun, a suspend, a device gone; `None` while it
/// runs. `snd_pcm_wait` uses the same mapping for POLLERR, with `EIO` for a running device.
pub fn state_errno(state: State) -> Option<i32> {
    match state {
        State::Running | State::Draining => None,
        State::Suspended => Some(libc::ESTRPIPE),
        State::Disconnected => Some(libc::ENODEV),
        State::XRun | State::Prepared | State::Paused => Some(libc::EPIPE),
        _ => Some(libc::EBADFD),
    }
}

/// Where opening the device failed: at the open itself (the device may not be there yet),
/// or setting it up (it is there and refuses what was asked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenStage {
    Open,
    Configure,
}

/// The output device could not be opened or set up. Keeps the errno and the stage, so the
/// caller decides on values ([`DeviceError::is_terminal`]), never on the message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeviceError {
    /// An ALSA call failed.
    #[error("audio device \"{device}\": {what}: {} ({func})", errno_text(*.errno))]
    Alsa {
        device: String,
        /// What was being done, in the user's words (`format S24_LE not supported ...`).
        what: String,
        /// The alsa-lib function that failed.
        func: &'static str,
        /// Positive errno, as alsa-lib reports it.
        errno: i32,
        stage: OpenStage,
    },
    /// The device opened but cannot be used as it is (more channels or a longer period than
    /// stembox mixes), or the name itself is unusable.
    #[error("audio device \"{device}\": {why}")]
    Unusable { device: String, why: String },
}

impl DeviceError {
    pub(crate) fn alsa(device: &str, what: &str, e: alsa::Error, stage: OpenStage) -> DeviceError {
        DeviceError::Alsa {
            device: device.to_string(),
            what: what.to_string(),
            func: e.func(),
            errno: e.errno().abs(),
            stage,
        }
    }

    /// Whether waiting cannot help: a device that is not there yet (a USB interface that
    /// enumerates late, a jack server not started, a card another program holds) may come
    /// at any moment, so the appliance waits for it; one that is there and refuses the
    /// format, rate or period asked for will still refuse in an hour, so waiting for it is
    /// pointless and the config must change.
    pub fn is_terminal(&self) -> bool {
        match self {
            DeviceError::Alsa { stage, errno, .. } => {
                *stage == OpenStage::Configure
                    && !matches!(
                        *errno,
                        libc::ENODEV | libc::EBUSY | libc::EAGAIN | libc::EIO
                    )
            }
            DeviceError::Unusable { .. } => true,
        }
    }
}

/// One line naming the device, what failed and why. Not on the audio thread (allocates).
pub fn describe(device: &str, what: &str, e: &alsa::Error) -> String {
    format!(
        "audio device \"{device}\": {what}: {} ({})",
        errno_text(e.errno()),
        e.func()
    )
}

pub use crate::base::errno::errno_text;

#[cfg(test)]
mod tests {
    use super::*;

    /// The recovery matches errno values as alsa-lib's own errors carry them (positive);
    /// errors the loop and the fake device make must use the same sign or an xrun becomes
    /// fatal.
    #[test]
    fn loop_made_errors_carry_errno_like_alsa_lib() {
        let pcm = alsa::PCM::new("null", alsa::Direction::Playback, false).unwrap();
        let lib_err = pcm.resume().unwrap_err();
        assert!(lib_err.errno() > 0, "alsa-lib errno {}", lib_err.errno());
        for (state, want) in [
            (State::XRun, libc::EPIPE),
            (State::Suspended, libc::ESTRPIPE),
            (State::Disconnected, libc::ENODEV),
            (State::Setup, libc::EBADFD),
        ] {
            let e = alsa::Error::new("state", state_errno(state).unwrap());
            assert_eq!(e.errno(), want, "{state:?} must reach its recovery arm");
        }
        assert_eq!(state_errno(State::Running), None);
    }

    #[test]
    fn a_device_not_there_is_waited_for_and_one_that_refuses_the_config_is_not() {
        use crate::rt::alsa_pcm::{open_output, OutputRequest};
        let request = |device| OutputRequest {
            device,
            rate: 48_000,
            channels: 2,
            format: crate::rt::format::SampleFormat::S16Le,
            period_frames: 256,
            periods: 2,
        };
        // No such PCM: it may be a plugin or card that appears later.
        let e = open_output(&request("stembox_no_such_pcm")).unwrap_err();
        assert!(
            matches!(
                e,
                DeviceError::Alsa {
                    stage: OpenStage::Open,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(!e.is_terminal(), "{e}");
        assert!(e
            .to_string()
            .starts_with("audio device \"stembox_no_such_pcm\": cannot open: "));
        // Refused parameters and a period stembox cannot mix are for the config to change.
        let refused = DeviceError::Alsa {
            device: "hw:0".into(),
            what: "format S24_LE not supported".into(),
            func: "snd_pcm_hw_params_set_format",
            errno: libc::EINVAL,
            stage: OpenStage::Configure,
        };
        assert!(refused.is_terminal());
        assert_eq!(
            refused.to_string(),
            format!(
                "audio device \"hw:0\": format S24_LE not supported: {} (snd_pcm_hw_params_set_format)",
                errno_text(libc::EINVAL)
            )
        );
        let unplugged_meanwhile = DeviceError::Alsa {
            device: "hw:0".into(),
            what: "hardware parameters refused".into(),
            func: "snd_pcm_hw_params",
            errno: libc::ENODEV,
            stage: OpenStage::Configure,
        };
        assert!(!unplugged_meanwhile.is_terminal());
        let unusable = DeviceError::Unusable {
            device: "jack".into(),
            why: "granted a period of 4096 frames".into(),
        };
        assert!(unusable.is_terminal());
    }
}
