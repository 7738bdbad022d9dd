//! The JSON configuration: every key optional with a sane default.
//!
//! Read once at start-up on the main thread with serde-json-core into fixed-capacity
//! (heapless) structs, without allocating, then validated. serde-json-core says neither
//! where nor which key, so only when it refuses a file is the same text read again by
//! serde_json into the same types ([`explain`]); a bad file therefore gives one line that
//! names the key or the byte offset (with line and column), and it never panics. Then [`Config::validate`] checks ranges and
//! the button map (key names, actions, bindings) as the input thread will, so `stembox
//! check` finds what start-up would refuse. An empty file, or one of whitespace only, means
//! every default, as `{}` does. Array items in key paths count from 0: `buttons.map[0]` is
//! the first binding. See the README for every key (a test keeps its defaults equal to `Config::default()`).

use crate::base::json_error as explain;
use core::fmt;
use heapless::{String, Vec};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Largest config file accepted; a real one is a few hundred bytes.
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;

pub use crate::rt::format::SampleFormat;

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
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
    /// Named buses to 1-based output channels (a pair or one), in the file's order.
    pub buses: BusMap,
}

/// Longest bus name.
pub const MAX_BUS_NAME: usize = 16;

/// `audio.buses`: bus name -> 1-based output channels (`[1, 2]`, or `[3]` for mono), in
/// the order written. A name given twice is refused (a map would keep one silently).
#[derive(Clone, Debug, PartialEq)]
pub struct BusMap(pub Vec<(String<MAX_BUS_NAME>, Vec<u8, 2>), { crate::rt::bus::MAX_BUSES }>);

impl Default for BusMap {
    fn default() -> Self {
        let mut m = Vec::new();
        let mut ch = Vec::new();
        let _ = ch.extend_from_slice(&[1, 2]);
        let _ = m.push((str_lit("main"), ch));
        BusMap(m)
    }
}

impl Serialize for BusMap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, ch) in &self.0 {
            map.serialize_entry(name.as_str(), ch)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for BusMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = BusMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    "an object of at most {} buses like {{\"main\": [1, 2], \"cue\": [3, 4]}}",
                    crate::rt::bus::MAX_BUSES
                )
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<BusMap, A::Error> {
                use serde::de::Error;
                let mut out = Vec::new();
                while let Some((name, ch)) = a.next_entry::<String<MAX_BUS_NAME>, Vec<u8, 2>>()? {
                    if out.iter().any(|(n, _)| *n == name) {
                        // Only a refused file gets here: the message may allocate.
                        return Err(A::Error::custom(format!(
                            "bus {:?} is given twice; give each bus once",
                            name.as_str()
                        )));
                    }
                    if out.push((name, ch)).is_err() {
                        return Err(A::Error::invalid_length(out.len() + 1, &self));
                    }
                }
                Ok(BusMap(out))
            }
        }
        d.deserialize_map(Visitor)
    }
}

impl BusMap {
    /// The bus names, `main` first, then the others in the file's order: the order of
    /// the table the engine gets and of a stem's routing mask.
    pub fn names(&self) -> std::vec::Vec<std::string::String> {
        self.ordered().map(|(n, _)| n.as_str().into()).collect()
    }

    fn ordered(&self) -> impl Iterator<Item = &(String<MAX_BUS_NAME>, Vec<u8, 2>)> {
        let main = self.0.iter().filter(|(n, _)| n == "main");
        main.chain(self.0.iter().filter(|(n, _)| n != "main"))
    }

    /// The engine's table for a device of `channels`. The default map on a 1-channel
    /// device is main, mono, on output 1 (as before buses).
    pub fn table(&self, channels: u32) -> Result<crate::rt::bus::BusTable, std::string::String> {
        use crate::rt::bus::{BusOut, BusTable};
        if *self == BusMap::default() && channels == 1 {
            return Ok(BusTable::main_only(1));
        }
        let mut outs = std::vec::Vec::new();
        for (name, ch) in self.ordered() {
            outs.push(match ch.as_slice() {
                [c] => BusOut::mono(c.saturating_sub(1)),
                [l, r] => BusOut::stereo(l.saturating_sub(1), r.saturating_sub(1)),
                _ => return Err(format!("bus \"{name}\" has no channel")),
            });
        }
        let cue = self.ordered().position(|(n, _)| n == "cue");
        BusTable::new(&outs, cue, channels as usize)
    }

    /// The first problem, as (key, why): names, channel numbers, overlaps, `main` missing.
    fn problem(&self, channels: u32) -> Option<(std::string::String, std::string::String)> {
        if *self == BusMap::default() && channels == 1 {
            return None;
        }
        if !self.0.iter().any(|(n, _)| n == "main") {
            return Some((
                "audio.buses".into(),
                "needs a \"main\" bus (where stems go by default), e.g. {\"main\": [1, 2]}".into(),
            ));
        }
        let mut used: [Option<&str>; 256] = [None; 256];
        for (name, ch) in &self.0 {
            let key = format!("audio.buses.{name}");
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                // The key names the map, not the bad name (which may hold anything).
                return Some((
                    "audio.buses".into(),
                    format!(
                        "bus name {:?}: a bus name is 1..16 ASCII letters, digits, '_' or '-'",
                        name.as_str()
                    ),
                ));
            }
            if ch.is_empty() {
                return Some((key, "needs one output (mono) or two, e.g. [3, 4]".into()));
            }
            if ch.len() == 2 && ch[0] == ch[1] {
                return Some((key, format!("uses output {} twice", ch[0])));
            }
            for &c in ch {
                if c == 0 || c as u32 > channels {
                    return Some((
                        key,
                        format!(
                            "output {c} is outside 1..={channels} (audio.channels); raise audio.channels or move bus \"{name}\""
                        ),
                    ));
                }
                if let Some(other) = used[c as usize] {
                    return Some((
                        key,
                        format!("output {c} is already used by bus \"{other}\""),
                    ));
                }
                used[c as usize] = Some(name.as_str());
            }
        }
        None
    }
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
            buses: BusMap::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
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

pub use crate::model::action::Gesture;

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
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

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
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

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
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

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
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

/// Most host names `remote.hosts` may list.
pub const MAX_REMOTE_HOSTS: usize = 8;

/// The phone page and OSC (`remote.*`); each is off while its address is empty.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemoteConfig {
    /// HTTP address of the page, e.g. `0.0.0.0:8080`; empty: no page.
    pub listen: String<64>,
    /// UDP address for OSC, e.g. `0.0.0.0:9000`; empty: no OSC.
    pub osc_listen: String<64>,
    /// Asked once per browser before any change from the page; empty: no PIN.
    pub pin: String<32>,
    /// Host names the page answers to besides IP addresses, `*.local` and one-label names
    /// (a guard against DNS rebinding), e.g. `["stage-box.example.org"]`.
    pub hosts: Vec<String<64>, MAX_REMOTE_HOSTS>,
}

/// The box's small I2C display (`display.*`); off while `i2c` is empty.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DisplayConfig {
    /// The I2C bus device, e.g. `/dev/i2c-1`; empty: no display.
    pub i2c: String<64>,
    /// The SSD1306's 7-bit address (0x3C = 60, 0x3D = 61).
    pub address: u8,
    /// The panel is mounted upside down.
    pub rotate_180: bool,
    /// Most frames a second (1..=10).
    pub max_fps: u8,
}

impl Default for DisplayConfig {
    fn default() -> Self {
        DisplayConfig {
            i2c: String::new(),
            address: 0x3c,
            rotate_180: false,
            max_fps: 10,
        }
    }
}

/// One status LED: a GPIO line. An empty `chip` means the LED is not fitted.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LedLineConfig {
    /// `gpiochip0` or `/dev/gpiochip0`; empty: no LED.
    pub chip: String<64>,
    pub offset: u32,
    /// The LED lights when the line is low.
    pub active_low: bool,
}

/// Optional status LEDs.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LedsConfig {
    /// On while playing; blinks when paused (1 Hz) and during a count-in (4 Hz).
    pub playing: LedLineConfig,
    /// On while looping; blinks while loop A is set and B is awaited.
    #[serde(rename = "loop")]
    pub looping: LedLineConfig,
    /// Lit for 2 s after each xrun.
    pub xrun: LedLineConfig,
}

pub const MAX_MIDI_PORTS: usize = 8;
pub const MAX_MIDI_BINDINGS: usize = 64;

/// One `midi.map` entry: what a MIDI message (a note, a control change or a program
/// change) does. Exactly one of `note`, `cc` and `program` is given; the rules are in the
/// [`crate::hw::midi`] module doc and the README.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MidiBinding {
    /// MIDI channel 1..=16; 0 (the default) matches any channel.
    #[serde(default)]
    pub channel: u8,
    /// Note number 0..=127: note on is the press, note off (or note on at velocity 0)
    /// the release.
    #[serde(default)]
    pub note: Option<u8>,
    /// Control change number 0..=127. Without `value`/`min`/`max` it is a pedal
    /// (`latching` or momentary: value >= 64 is down).
    #[serde(default)]
    pub cc: Option<u8>,
    /// With `cc`: fires on every message with exactly this value.
    #[serde(default)]
    pub value: Option<u8>,
    /// With `cc`: fires when the value enters `min..=max` (either may be left out).
    #[serde(default)]
    pub min: Option<u8>,
    #[serde(default)]
    pub max: Option<u8>,
    /// With a `cc` pedal: the pedal sends 127 and 0 on alternate presses; every change is
    /// one press (short only).
    #[serde(default)]
    pub latching: bool,
    /// Program number as shown on most gear, 1..=128 (the wire value + 1).
    #[serde(default)]
    pub program: Option<u8>,
    #[serde(default = "default_gesture")]
    pub gesture: Gesture,
    /// Action name, as in `buttons.map`.
    pub action: String<64>,
}

impl Default for MidiBinding {
    fn default() -> Self {
        MidiBinding {
            channel: 0,
            note: None,
            cc: None,
            value: None,
            min: None,
            max: None,
            latching: false,
            program: None,
            gesture: Gesture::Short,
            action: String::new(),
        }
    }
}

/// MIDI in (foot controllers) and MIDI clock out, through the ALSA sequencer.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MidiConfig {
    /// Ports to read: `"client:port"` numbers (`"24:0"`) or a substring of the client or
    /// port name (`"FCB1010"`); devices that appear later are connected when they do.
    pub inputs: Vec<String<64>, MAX_MIDI_PORTS>,
    /// What notes, control changes and program changes do.
    pub map: Vec<MidiBinding, MAX_MIDI_BINDINGS>,
    /// Program change N (1-based) selects song N of the setlist, unless `map` binds it.
    pub program_change_selects_song: bool,
    /// Ports that get MIDI clock (24 per quarter note), Start/Stop/Continue and Song
    /// Position Pointer, named like `inputs`.
    pub clock_out: Vec<String<64>, MAX_MIDI_PORTS>,
}

impl Default for MidiConfig {
    fn default() -> Self {
        MidiConfig {
            inputs: Vec::new(),
            map: Vec::new(),
            program_change_selects_song: true,
            clock_out: Vec::new(),
        }
    }
}

impl MidiConfig {
    /// Whether the `stembox-midi` thread has anything to do.
    pub fn enabled(&self) -> bool {
        !self.inputs.is_empty() || !self.clock_out.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Folder of songs: `<library>/<song>/<stem>.(flac|wav|mp3|ogg)`.
    pub library: String<256>,
    pub audio: AudioConfig,
    pub rt: RtConfig,
    pub buttons: ButtonsConfig,
    pub stats: StatsConfig,
    pub memory: MemoryConfig,
    pub leds: LedsConfig,
    pub midi: MidiConfig,
    pub remote: RemoteConfig,
    pub display: DisplayConfig,
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
            leds: LedsConfig::default(),
            midi: MidiConfig::default(),
            remote: RemoteConfig::default(),
            display: DisplayConfig::default(),
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
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    pub message: std::string::String,
}

impl ConfigError {
    /// The exit code `main` gives for a bad config (or bad usage).
    pub const EXIT_CODE: i32 = 2;
}

/// `text` with control characters escaped, so a message stays on one line.
fn one_line(text: &str) -> std::string::String {
    text.chars()
        .flat_map(|c| {
            let escaped: std::vec::Vec<char> = if c.is_control() {
                c.escape_debug().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// `buttons.map[2].key` as serde_path_to_error's segments, to find it in the text.
fn key_segments(path: &str) -> std::vec::Vec<serde_path_to_error::Segment> {
    use serde_path_to_error::Segment;
    let mut out = std::vec::Vec::new();
    for part in path.split('.') {
        let (name, indexes) = part.split_once('[').unwrap_or((part, ""));
        out.push(Segment::Map { key: name.into() });
        for index in indexes.split('[').filter(|i| !i.is_empty()) {
            if let Ok(index) = index.trim_end_matches(']').parse() {
                out.push(Segment::Seq { index });
            }
        }
    }
    out
}

/// Every key that holds a value, with its dotted path (array items as `buttons.map[].key`),
/// taken from `Config::default()` (plus one key binding) so that no list can drift from
/// the structs. For "did you mean" and for the README test.
pub fn leaf_paths() -> std::vec::Vec<std::string::String> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut std::vec::Vec<std::string::String>) {
        match v {
            serde_json::Value::Object(members) => {
                for (k, v) in members {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    if let serde_json::Value::Array(items) = v {
                        out.push(path.clone());
                        if let Some(first @ serde_json::Value::Object(_)) = items.first() {
                            walk(&format!("{path}[]"), first, out);
                        }
                    } else if v.is_object() && path != "audio.buses" {
                        walk(&path, v, out);
                    } else {
                        out.push(path);
                    }
                }
            }
            _ => out.push(prefix.into()),
        }
    }
    let mut sample = Config::default();
    let _ = sample.buttons.map.push(KeyBinding {
        key: str_lit("KEY_1"),
        gesture: Gesture::Short,
        action: str_lit("stop"),
    });
    let _ = sample.midi.map.push(MidiBinding {
        note: Some(60),
        action: str_lit("stop"),
        ..MidiBinding::default()
    });
    let mut out = std::vec::Vec::new();
    if let Ok(v) = serde_json::to_value(&sample) {
        walk("", &v, &mut out);
    }
    out
}

/// Reads the config file: a regular file only (a FIFO or `/dev/zero` is refused at once,
/// see [`crate::base::fsread`]) of at most [`MAX_CONFIG_BYTES`].
fn read_limited(path: &Path) -> Result<std::vec::Vec<u8>, std::string::String> {
    crate::base::fsread::read_regular_file(path, "config", MAX_CONFIG_BYTES as u64)
}

/// A check a thread folder makes of its own part of the config (the key map as the input
/// thread reads it, the MIDI map as the midi thread does): the key and why, like the range
/// checks here. Storage knows no thread; control passes the checks in
/// (`crate::control::config_checks`), so `check`, start-up and SIGHUP refuse the same files.
pub type ThreadCheck = fn(&Config) -> Option<(std::string::String, std::string::String)>;

impl Config {
    /// Reads and validates a config file with the threads' own checks. Main thread, at
    /// start-up, and control on SIGHUP.
    ///
    /// The error message is the whole line to print, e.g. `config /etc/stembox/config.json:
    /// key "audio.rate": expected a number, found a string at line 3, column 13`.
    pub fn load(path: &Path, checks: &[ThreadCheck]) -> Result<Config, ConfigError> {
        let name = one_line(&path.display().to_string());
        // The message names the file already ("config PATH: ...").
        let bytes = read_limited(path).map_err(|message| ConfigError {
            message: one_line(&message),
        })?;
        Config::from_json_checked(&bytes, checks).map_err(|e| ConfigError {
            message: format!("config {name}: {}", e.message),
        })
    }

    /// Parses and validates config JSON. An empty or whitespace-only document gives the
    /// defaults; a UTF-8 byte-order mark is skipped. A good document is read by
    /// serde-json-core alone, without allocating; only a bad one is read again to explain it.
    pub fn from_json(bytes: &[u8]) -> Result<Config, ConfigError> {
        Config::from_json_checked(bytes, &[])
    }

    /// [`Config::from_json`] and then each thread's check; the first problem found is the
    /// error, with the position of the key it names.
    pub fn from_json_checked(bytes: &[u8], checks: &[ThreadCheck]) -> Result<Config, ConfigError> {
        let fail = |message: std::string::String| Err(ConfigError { message });
        if bytes.len() > MAX_CONFIG_BYTES {
            return fail(format!(
                "the file is {} bytes, the limit is {MAX_CONFIG_BYTES}",
                bytes.len()
            ));
        }
        let text = match core::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                let at = e.valid_up_to();
                return fail(format!(
                    "malformed JSON{} (byte {at}): byte 0x{:02x} is not UTF-8 text; save the file as UTF-8",
                    explain::position(bytes, at),
                    bytes[at]
                ));
            }
        };
        let start = if text.starts_with('\u{feff}') { 3 } else { 0 };
        if text[start..]
            .bytes()
            .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            return Ok(Config::default());
        }
        // Strings are at most 256 bytes, so this buffer suffices for any that fits.
        let mut unescape = [0u8; 512];
        let cfg =
            match serde_json_core::from_slice_escaped::<Config>(&bytes[start..], &mut unescape) {
                Ok((cfg, _)) => cfg,
                Err(e) => return fail(explain::refused::<Config>(&leaf_paths(), text, start, e)),
            };
        let problem = cfg
            .range_problem()
            .or_else(|| checks.iter().find_map(|check| check(&cfg)));
        if let Some((key, why)) = problem {
            let at = explain::locate(text, start, &key_segments(&key))
                .map(|o| explain::position(bytes, o))
                .unwrap_or_default();
            // serde-json-core lets raw control characters through in strings.
            return fail(format!("key \"{key}\": {}{at}", one_line(&why)));
        }
        Ok(cfg)
    }

    /// Range checks that the types alone cannot express (the threads' own checks are made
    /// by [`Config::from_json_checked`]). The message names the key but has no position (that is
    /// added by [`Config::from_json`], which has the text).
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.range_problem() {
            None => Ok(()),
            Some((key, why)) => Err(ConfigError {
                message: format!("key \"{key}\": {}", one_line(&why)),
            }),
        }
    }

    /// A `remote` address that is not `IP:port`, or a PIN that cannot be typed on a phone.
    fn remote_problem(&self) -> Option<(&'static str, std::string::String)> {
        let r = &self.remote;
        for (key, addr) in [
            ("remote.listen", &r.listen),
            ("remote.osc_listen", &r.osc_listen),
        ] {
            if !addr.is_empty() && addr.parse::<std::net::SocketAddr>().is_err() {
                return Some((
                    key,
                    format!(
                        "\"{}\" is not an address and port like \"0.0.0.0:8080\" or \"[::]:8080\"",
                        crate::base::text::escape_for_console(addr)
                    ),
                ));
            }
        }
        if !r.pin.is_empty() && !(4..=16).contains(&r.pin.chars().count()) {
            return Some(("remote.pin", "must be 4 to 16 characters".into()));
        }
        if r.pin.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Some((
                "remote.pin",
                "must not contain spaces or control characters".into(),
            ));
        }
        None
    }

    /// The first key out of range, and why.
    fn range_problem(&self) -> Option<(std::string::String, std::string::String)> {
        let a = &self.audio;
        let b = &self.buttons;
        let problem = if !(8_000..=384_000).contains(&a.rate) {
            (
                "audio.rate",
                format!("{} Hz is outside 8000..=384000", a.rate),
            )
        } else if !(1..=crate::rt::MAX_CHANNELS as u32).contains(&a.channels) {
            (
                "audio.channels",
                format!("{} is outside 1..={}", a.channels, crate::rt::MAX_CHANNELS),
            )
        } else if !(16..=crate::rt::MAX_PERIOD_FRAMES as u32).contains(&a.period_frames) {
            (
                "audio.period_frames",
                format!(
                    "{} is outside 16..={}",
                    a.period_frames,
                    crate::rt::MAX_PERIOD_FRAMES
                ),
            )
        } else if !(2..=32).contains(&a.periods) {
            ("audio.periods", format!("{} is outside 2..=32", a.periods))
        } else if a.master_gain_db > crate::model::action::MAX_VOLUME_DB {
            (
                "audio.master_gain_db",
                format!(
                    "{} dB is above {:+} dB",
                    a.master_gain_db,
                    crate::model::action::MAX_VOLUME_DB
                ),
            )
        } else if !a.master_gain_db.is_finite() {
            ("audio.master_gain_db", "must be a finite number".into())
        } else if a.master_gain_db < crate::model::action::MIN_VOLUME_DB {
            (
                "audio.master_gain_db",
                format!(
                    "{} dB is below {} dB",
                    a.master_gain_db,
                    crate::model::action::MIN_VOLUME_DB
                ),
            )
        } else if let Some(p) = a.buses.problem(a.channels) {
            return Some(p);
        } else if a.device.is_empty() {
            (
                "audio.device",
                "must not be empty (e.g. \"default\")".into(),
            )
        } else if !(1..=99).contains(&self.rt.priority) {
            (
                "rt.priority",
                format!("{} is outside 1..=99 (SCHED_FIFO)", self.rt.priority),
            )
        } else if self.rt.cpu < -1 {
            (
                "rt.cpu",
                format!("{} is not a CPU number (or -1)", self.rt.cpu),
            )
        } else if b.debounce_ms > 1_000 {
            (
                "buttons.debounce_ms",
                format!(
                    "{} ms is above 1000 ms; contact bounce lasts a few ms",
                    b.debounce_ms
                ),
            )
        } else if let Some((key, ms)) = [
            ("buttons.long_press_ms", b.long_press_ms),
            ("buttons.double_press_ms", b.double_press_ms),
        ]
        .into_iter()
        .find(|&(_, ms)| ms <= b.debounce_ms || ms > 10_000)
        {
            (
                key,
                format!(
                    "{ms} ms must be above buttons.debounce_ms ({} ms) and at most 10000 ms",
                    b.debounce_ms
                ),
            )
        } else if self.memory.budget_mb == 0 {
            ("memory.budget_mb", "must be at least 1".into())
        } else if self.library.is_empty() {
            ("library", "must not be empty".into())
        } else if self.state_dir.is_empty() {
            ("state_dir", "must not be empty".into())
        } else if let Some((key, why)) = self.remote_problem() {
            return Some((key.into(), why));
        } else if !(1..=10).contains(&self.display.max_fps) {
            (
                "display.max_fps",
                format!("{} is outside 1..=10 frames a second", self.display.max_fps),
            )
        } else if !(0x03..=0x77).contains(&self.display.address) {
            (
                "display.address",
                format!(
                    "{} is not a 7-bit I2C device address (0x03..=0x77; an SSD1306 is 60 or 61)",
                    self.display.address
                ),
            )
        } else {
            return None;
        };
        Some((problem.0.into(), problem.1))
    }
}
