//! Output sample formats as ALSA names them: what the config asks for, what the device
//! granted, and which [`DeviceFormat`](super::convert::DeviceFormat) the audio loop is built
//! for. Lives with the output code so the real-time path does not depend on the config.

use core::fmt;
use serde::{Deserialize, Serialize};

/// Output sample formats, named as ALSA names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum SampleFormat {
    #[serde(rename = "S16_LE")]
    S16Le,
    /// 24 bits in the low three bytes of a 32-bit little-endian container.
    #[serde(rename = "S24_LE")]
    S24Le,
    #[serde(rename = "S32_LE")]
    S32Le,
    #[serde(rename = "FLOAT_LE")]
    FloatLe,
}

impl SampleFormat {
    pub const ALL: [SampleFormat; 4] = [
        SampleFormat::S16Le,
        SampleFormat::S24Le,
        SampleFormat::S32Le,
        SampleFormat::FloatLe,
    ];

    /// ALSA's name for the format.
    pub fn name(self) -> &'static str {
        match self {
            SampleFormat::S16Le => "S16_LE",
            SampleFormat::S24Le => "S24_LE",
            SampleFormat::S32Le => "S32_LE",
            SampleFormat::FloatLe => "FLOAT_LE",
        }
    }

    pub fn from_name(name: &str) -> Option<SampleFormat> {
        SampleFormat::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl fmt::Display for SampleFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
