//! The ALSA output: opening the PCM, and the audio thread's loop around [`Engine::process`].
//!
//! Latency model: the device buffer holds `periods` periods of `period_frames`. The loop
//! sleeps in `snd_pcm_wait` until a period of space is free, mixes one period straight into
//! the mmap area (`mmap_begin` -> mix -> `mmap_commit`), and sleeps again, so the output
//! latency is the buffer (`periods * period_frames / rate`) and the deadline for each period
//! is one period minus the wake-up latency. The buffer is prefilled with silence before the
//! device starts, and again after every xrun recovery.
//!
//! [`Engine::process`]: crate::rt::engine::Engine::process

mod device;
pub mod rt_thread;
mod run;

pub use device::{open_output, Access, Granted};
pub use run::{spawn_audio_thread, AudioThread, LoopControl, LoopObserver, NoObserver};

use std::fmt;

/// The output device could not be opened or failed while running.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceError {
    pub message: String,
}

impl DeviceError {
    pub(crate) fn alsa(device: &str, what: &str, e: alsa::Error) -> DeviceError {
        DeviceError {
            message: format!(
                "audio device \"{device}\": {what}: {} ({})",
                errno_text(e.errno()),
                e.func()
            ),
        }
    }
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeviceError {}

/// The C library's text for an errno value.
pub fn errno_text(errno: i32) -> String {
    std::io::Error::from_raw_os_error(errno.abs()).to_string()
}
