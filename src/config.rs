//! The JSON configuration: every key optional with a sane default.
//!
//! Read once at start-up on the main thread with serde-json-core into fixed-capacity
//! (heapless) structs, then validated. A bad file gives one line that names the key or the
//! byte offset; it never panics. See the README for every key and its default.

use core::fmt;
use heapless::{String, Vec};
use serde::Deserialize;
use std::path::Path;

/// Largest config file accepted; a real one is a few hundred bytes.
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;

/// Output sample formats, named as ALSA names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
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

    /// Bytes of one sample in the device buffer.
    pub fn bytes(self) -> usize {
        match self {
            SampleFormat::S16Le => 2,
            _ => 4,
        }
    }
}

impl fmt::Display for SampleFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AudioConfig {
    /// ALSA PCM name, e.g. `default`, `hw:0,0`, `file:FILE=/tmp/out.raw,FORMAT=raw`.
    pub device: String<256>,
    pub rate: u32,
    pub channels: u32,
    pub period_frames: u32,
    pub periods: u32,
    pub format: SampleFormat,
    pub enable_latency_monitor: bool,
    /// Master gain in dB applied after the stem sum (0 = unity).
    pub master_gain_db: f32,
}

impl Default for AudioConfig {
    fn default() -> Self {
        AudioConfig {
            device: str_lit("default"),
            rate: 48_000,
            channels: 2,
            period_frames: 256,
            periods: 2,
            format: SampleFormat::S16Le,
            enable_latency_monitor: false,
            master_gain_db: 0.0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RtConfig {
    /// SCHED_FIFO priority of the audio thread (1..=99).
    pub priority: u32,
    /// CPU the audio thread is pinned to; `-1` leaves it free.
    pub cpu: i32,
    /// Lock all memory (mlockall) so the audio path never page-faults.
    pub mlock: bool,
}

impl Default for RtConfig {
    fn default() -> Self {
        RtConfig {
            priority: 70,
            cpu: -1,
            mlock: true,
        }
    }
}

/// How a key was pressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gesture {
    Short,
    Long,
    Double,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyBinding {
    /// evdev key name, e.g. `KEY_1`, `BTN_0`.
    pub key: String<32>,
    #[serde(default = "default_gesture")]
    pub gesture: Gesture,
    /// Action name, e.g. `play_pause`, `toggle_mute:drums`.
    pub action: String<64>,
}

fn default_gesture() -> Gesture {
    Gesture::Short
}

pub const MAX_BUTTON_DEVICES: usize = 8;
pub const MAX_KEY_BINDINGS: usize = 48;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ButtonsConfig {
    /// evdev device paths; an empty list reads no buttons.
    pub devices: Vec<String<256>, MAX_BUTTON_DEVICES>,
    /// Key map; empty means the built-in default map (README).
    pub map: Vec<KeyBinding, MAX_KEY_BINDINGS>,
    /// Presses closer than this to the previous edge are contact bounce.
    pub debounce_ms: u32,
    /// Held at least this long: a long press.
    pub long_press_ms: u32,
    /// A second press within this time: a double press.
    pub double_press_ms: u32,
}

impl Default for ButtonsConfig {
    fn default() -> Self {
        ButtonsConfig {
            devices: Vec::new(),
            map: Vec::new(),
            debounce_ms: 30,
            long_press_ms: 600,
            double_press_ms: 300,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatsConfig {
    /// Seconds between periodic stats lines; 0 = never.
    pub interval_s: u32,
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig { interval_s: 10 }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryConfig {
    /// RAM the decoded songs may take, in MiB (current song and its neighbours).
    pub budget_mb: u32,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig { budget_mb: 1024 }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Folder of songs: `<library>/<song>/<stem>.(flac|wav|mp3|ogg)`.
    pub library: String<256>,
    pub audio: AudioConfig,
    pub rt: RtConfig,
    pub buttons: ButtonsConfig,
    pub stats: StatsConfig,
    pub memory: MemoryConfig,
    /// The one writable place: last song and stem settings.
    pub state_dir: String<256>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            library: str_lit("/srv/stembox/library"),
            audio: AudioConfig::default(),
            rt: RtConfig::default(),
            buttons: ButtonsConfig::default(),
            stats: StatsConfig::default(),
            memory: MemoryConfig::default(),
            state_dir: str_lit("/var/lib/stembox"),
        }
    }
}

fn str_lit<const N: usize>(s: &str) -> String<N> {
    let mut out = String::new();
    // Literals here are all far below their capacity.
    let _ = out.push_str(s);
    out
}

/// A config that cannot be used. `Display` is the one-line message for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub message: std::string::String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads and validates a config file. Main thread, at start-up.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let bytes = std::fs::read(path).map_err(|e| ConfigError {
            message: format!("config {}: cannot read: {e}", path.display()),
        })?;
        Config::from_json(&bytes).map_err(|e| ConfigError {
            message: format!("config {}: {}", path.display(), e.message),
        })
    }

    /// Parses and validates config JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Config, ConfigError> {
        if bytes.len() > MAX_CONFIG_BYTES {
            return Err(ConfigError {
                message: format!("file is {} bytes, the limit is {MAX_CONFIG_BYTES}", bytes.len()),
            });
        }
        let mut unescape = [0u8; 512];
        let (cfg, _) = serde_json_core::from_slice_escaped::<Config>(bytes, &mut unescape)
            .map_err(|e| ConfigError {
                message: format!("{e}"),
            })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Range checks that the types alone cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let a = &self.audio;
        let bad = |key: &str, why: std::string::String| {
            Err(ConfigError {
                message: format!("key `{key}`: {why}"),
            })
        };
        if !(8_000..=384_000).contains(&a.rate) {
            return bad("audio.rate", format!("{} Hz is outside 8000..=384000", a.rate));
        }
        if !(1..=crate::rt::MAX_CHANNELS as u32).contains(&a.channels) {
            return bad(
                "audio.channels",
                format!("{} is outside 1..={}", a.channels, crate::rt::MAX_CHANNELS),
            );
        }
        if !(16..=crate::rt::MAX_PERIOD_FRAMES as u32).contains(&a.period_frames) {
            return bad(
                "audio.period_frames",
                format!(
                    "{} is outside 16..={}",
                    a.period_frames,
                    crate::rt::MAX_PERIOD_FRAMES
                ),
            );
        }
        if !(2..=32).contains(&a.periods) {
            return bad("audio.periods", format!("{} is outside 2..=32", a.periods));
        }
        if !a.master_gain_db.is_finite() || a.master_gain_db > 24.0 {
            return bad(
                "audio.master_gain_db",
                format!("{} dB is above +24 dB", a.master_gain_db),
            );
        }
        if !(1..=99).contains(&self.rt.priority) {
            return bad(
                "rt.priority",
                format!("{} is outside 1..=99 (SCHED_FIFO)", self.rt.priority),
            );
        }
        if self.rt.cpu < -1 {
            return bad("rt.cpu", format!("{} is not a CPU number (or -1)", self.rt.cpu));
        }
        if self.memory.budget_mb == 0 {
            return bad("memory.budget_mb", "must be at least 1".into());
        }
        if self.library.is_empty() {
            return bad("library", "must not be empty".into());
        }
        Ok(())
    }
}
