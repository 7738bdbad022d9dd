//! The table of every config key: its JSON kind, capacity, default and meaning.
//!
//! The scanner in [`super::json`] checks a document against this table before serde-json-core
//! sees it, so that a wrong key or type is reported by name and position. The table is written
//! by hand beside the structs in `config.rs`; the tests below derive the same information from
//! the structs' own `Deserialize` impls (field names, kinds, enum variants) and from
//! serde-json-core itself (capacities, required fields, defaults), so the two cannot drift
//! apart without a failing test.

use super::{MAX_BUTTON_DEVICES, MAX_KEY_BINDINGS};

/// The JSON kind of a key's value, with the limits its Rust type imposes.
#[derive(Debug, PartialEq)]
pub enum Kind {
    /// `true` or `false`.
    Bool,
    /// A whole number in `0..=u32::MAX`.
    U32,
    /// A whole number in `i32::MIN..=i32::MAX`.
    I32,
    /// Any JSON number that fits an `f32`.
    F32,
    /// A string of at most this many UTF-8 bytes once unescaped (the heapless capacity).
    Str(usize),
    /// A string that must be one of these names.
    Enum(&'static [&'static str]),
    /// An object with exactly these keys (all optional unless `default` is `None`).
    Object(&'static [Key]),
    /// An array of at most `max_items` values of kind `item`.
    Array {
        max_items: usize,
        item: &'static Kind,
    },
}

/// One key of a config object.
#[derive(Debug, PartialEq)]
pub struct Key {
    pub name: &'static str,
    pub kind: Kind,
    /// The default as JSON text; `None` if the key is required (only inside array items).
    pub default: Option<&'static str>,
    /// A valid value different from the default, as JSON text (examples and tests).
    pub example: &'static str,
    /// One line for the README table.
    pub meaning: &'static str,
}

/// ALSA's names of the sample formats `audio.format` takes.
pub const FORMAT_NAMES: &[&str] = &["S16_LE", "S24_LE", "S32_LE", "FLOAT_LE"];

/// The gestures a key binding can wait for.
pub const GESTURE_NAMES: &[&str] = &["short", "long", "double"];

const fn key(
    name: &'static str,
    kind: Kind,
    default: &'static str,
    example: &'static str,
    meaning: &'static str,
) -> Key {
    Key {
        name,
        kind,
        default: Some(default),
        example,
        meaning,
    }
}

pub const AUDIO_KEYS: &[Key] = &[
    key(
        "device",
        Kind::Str(256),
        r#""default""#,
        r#""hw:0,0""#,
        "ALSA PCM to play through, e.g. `hw:0,0`, or `file:FILE=/tmp/out.raw,FORMAT=raw` to record without a card",
    ),
    key(
        "rate",
        Kind::U32,
        "48000",
        "44100",
        "Device sample rate in Hz (8000..=384000); stems at other rates are resampled when loaded",
    ),
    key(
        "channels",
        Kind::U32,
        "2",
        "4",
        "Output channels (1..=8)",
    ),
    key(
        "period_frames",
        Kind::U32,
        "256",
        "64",
        "Frames per ALSA period (16..=1024); latency is about `period_frames * periods / rate`",
    ),
    key(
        "periods",
        Kind::U32,
        "2",
        "3",
        "Periods in the ALSA buffer (2..=32)",
    ),
    key(
        "format",
        Kind::Enum(FORMAT_NAMES),
        r#""S16_LE""#,
        r#""S24_LE""#,
        "Device sample format: `S16_LE`, `S24_LE` (24 bits in a 32-bit container), `S32_LE` or `FLOAT_LE`",
    ),
    key(
        "enable_latency_monitor",
        Kind::Bool,
        "false",
        "true",
        "Time every period (stats `cb_us_*`, `late`); when false the audio loop reads no clocks for stats",
    ),
    key(
        "master_gain_db",
        Kind::F32,
        "0.0",
        "-6.5",
        "Master gain in dB after the stem sum (at most +24); the output clips only at 0 dBFS",
    ),
];

pub const RT_KEYS: &[Key] = &[
    key(
        "priority",
        Kind::U32,
        "70",
        "80",
        "SCHED_FIFO priority of the audio thread (1..=99)",
    ),
    key(
        "cpu",
        Kind::I32,
        "-1",
        "1",
        "CPU the audio thread is pinned to; -1 leaves it unpinned",
    ),
    key(
        "mlock",
        Kind::Bool,
        "true",
        "false",
        "Lock all memory (`mlockall`) so the audio path never page-faults",
    ),
];

pub const KEY_BINDING_KEYS: &[Key] = &[
    Key {
        name: "key",
        kind: Kind::Str(32),
        default: None,
        example: r#""KEY_1""#,
        meaning: "evdev key name, e.g. `KEY_1`, `KEY_SPACE`, `BTN_0` (as `evtest` shows them)",
    },
    key(
        "gesture",
        Kind::Enum(GESTURE_NAMES),
        r#""short""#,
        r#""long""#,
        "`short`, `long` (held at least `long_press_ms`) or `double` (second press within `double_press_ms`)",
    ),
    Key {
        name: "action",
        kind: Kind::Str(64),
        default: None,
        example: r#""toggle_mute:drums""#,
        meaning: "What the press does, e.g. `play_pause`, `next_song`, `toggle_mute:drums`, `gain:bass:-3`",
    },
];

pub const BUTTONS_KEYS: &[Key] = &[
    key(
        "devices",
        Kind::Array {
            max_items: MAX_BUTTON_DEVICES,
            item: &Kind::Str(256),
        },
        "[]",
        r#"["/dev/input/by-path/platform-gpio-keys-event"]"#,
        "evdev devices to read buttons from, e.g. `/dev/input/by-path/...`; empty reads no buttons",
    ),
    key(
        "map",
        Kind::Array {
            max_items: MAX_KEY_BINDINGS,
            item: &Kind::Object(KEY_BINDING_KEYS),
        },
        "[]",
        r#"[{"key": "KEY_1", "gesture": "long", "action": "stop"}]"#,
        "Key bindings `{key, gesture, action}`; a key and gesture may be bound once; empty uses the built-in map",
    ),
    key(
        "debounce_ms",
        Kind::U32,
        "30",
        "15",
        "Edges closer than this to the previous one are contact bounce (at most 1000)",
    ),
    key(
        "long_press_ms",
        Kind::U32,
        "600",
        "800",
        "A press held at least this long is a long press (above `debounce_ms`, at most 10000)",
    ),
    key(
        "double_press_ms",
        Kind::U32,
        "300",
        "250",
        "A second press within this time is a double press (above `debounce_ms`, at most 10000)",
    ),
];

pub const STATS_KEYS: &[Key] = &[key(
    "interval_s",
    Kind::U32,
    "10",
    "60",
    "Seconds between periodic `stats` lines on the console; 0 = only on request",
)];

pub const MEMORY_KEYS: &[Key] = &[key(
    "budget_mb",
    Kind::U32,
    "1024",
    "512",
    "MiB of RAM the decoded songs may take (the current song and its neighbours); at least 1",
)];

pub const LED_LINE_KEYS: &[Key] = &[
    key(
        "chip",
        Kind::Str(64),
        r#""""#,
        r#""gpiochip0""#,
        "GPIO chip of the LED's line, e.g. `gpiochip0`; empty: no LED",
    ),
    key(
        "offset",
        Kind::U32,
        "0",
        "17",
        "Line offset on the chip (the BCM GPIO number on a Pi)",
    ),
    key(
        "active_low",
        Kind::Bool,
        "false",
        "true",
        "The LED lights when the line is low",
    ),
];

pub const LEDS_KEYS: &[Key] = &[
    key(
        "playing",
        Kind::Object(LED_LINE_KEYS),
        "{}",
        r#"{"chip": "gpiochip0", "offset": 17}"#,
        "LED on while playing; blinks when paused (1 Hz) and during a count-in (4 Hz)",
    ),
    key(
        "loop",
        Kind::Object(LED_LINE_KEYS),
        "{}",
        r#"{"chip": "gpiochip0", "offset": 27}"#,
        "LED on while looping; blinks while loop A is set and B is awaited",
    ),
    key(
        "xrun",
        Kind::Object(LED_LINE_KEYS),
        "{}",
        r#"{"chip": "gpiochip0", "offset": 22, "active_low": true}"#,
        "LED lit for 2 s after each xrun",
    ),
];

pub const CONFIG_KEYS: &[Key] = &[
    key(
        "library",
        Kind::Str(256),
        r#""/srv/stembox/library""#,
        r#""/media/sd/songs""#,
        "Folder of songs: `<library>/<song>/<stem>.flac` (or `.wav`, `.mp3`, `.ogg`); played in folder-name order unless `<library>/setlist.json` lists them",
    ),
    key(
        "audio",
        Kind::Object(AUDIO_KEYS),
        "{}",
        r#"{"rate": 44100}"#,
        "The ALSA output",
    ),
    key(
        "rt",
        Kind::Object(RT_KEYS),
        "{}",
        r#"{"priority": 80}"#,
        "Real-time scheduling of the audio thread",
    ),
    key(
        "buttons",
        Kind::Object(BUTTONS_KEYS),
        "{}",
        r#"{"debounce_ms": 15}"#,
        "Hardware buttons and footswitches",
    ),
    key(
        "stats",
        Kind::Object(STATS_KEYS),
        "{}",
        r#"{"interval_s": 60}"#,
        "Console statistics",
    ),
    key(
        "memory",
        Kind::Object(MEMORY_KEYS),
        "{}",
        r#"{"budget_mb": 512}"#,
        "Preloading",
    ),
    key(
        "leds",
        Kind::Object(LEDS_KEYS),
        "{}",
        r#"{"playing": {"chip": "gpiochip0", "offset": 17}}"#,
        "Optional status LEDs on GPIO lines",
    ),
    key(
        "state_dir",
        Kind::Str(256),
        r#""/var/lib/stembox""#,
        r#""/data/stembox""#,
        "The one writable place: last song and stem settings",
    ),
];

/// The whole document: one object.
pub static ROOT: Kind = Kind::Object(CONFIG_KEYS);

impl Kind {
    /// What a value of this kind is, as said after "expected" in an error.
    pub fn expected(&self) -> &'static str {
        match self {
            Kind::Bool => "true or false",
            Kind::U32 | Kind::I32 | Kind::F32 => "a number",
            Kind::Str(_) | Kind::Enum(_) => "a string",
            Kind::Object(_) => "an object",
            Kind::Array { .. } => "an array",
        }
    }

    /// The type column of the README table.
    pub fn type_name(&self) -> std::string::String {
        match self {
            Kind::Bool => "bool".into(),
            Kind::U32 => "integer >= 0".into(),
            Kind::I32 => "integer".into(),
            Kind::F32 => "number".into(),
            Kind::Str(n) => format!("string (<= {n} bytes)"),
            Kind::Enum(names) => format!("one of {}", names.join(", ")),
            Kind::Object(_) => "object".into(),
            Kind::Array { max_items, item } => match item {
                Kind::Object(_) => format!("array of <= {max_items} objects"),
                Kind::Str(n) => format!("array of <= {max_items} strings (<= {n} bytes each)"),
                other => format!("array of <= {max_items} ({})", other.type_name()),
            },
        }
    }
}

/// Every key that holds a value (not a section object), with its dotted path: array items
/// appear as `buttons.map[].key`. In table order, for the README and for tests.
pub fn leaf_keys() -> std::vec::Vec<(std::string::String, &'static Key)> {
    fn walk(
        prefix: &str,
        keys: &'static [Key],
        out: &mut std::vec::Vec<(std::string::String, &'static Key)>,
    ) {
        for k in keys {
            let path = if prefix.is_empty() {
                k.name.to_string()
            } else {
                format!("{prefix}.{}", k.name)
            };
            match &k.kind {
                Kind::Object(sub) => walk(&path, sub, out),
                Kind::Array {
                    item: Kind::Object(sub),
                    ..
                } => {
                    out.push((path.clone(), k));
                    walk(&format!("{path}[]"), sub, out);
                }
                _ => out.push((path, k)),
            }
        }
    }
    let mut out = std::vec::Vec::new();
    walk("", CONFIG_KEYS, &mut out);
    out
}

/// The config keys as a Markdown table (key, type, default, meaning), as in the README.
pub fn markdown_table() -> std::string::String {
    let mut s =
        std::string::String::from("| key | type | default | meaning |\n|---|---|---|---|\n");
    for (path, k) in leaf_keys() {
        let default = match k.default {
            Some(d) => format!("`{d}`"),
            None => "(required)".into(),
        };
        s.push_str(&format!(
            "| `{path}` | {} | {default} | {} |\n",
            k.kind.type_name(),
            k.meaning
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    //! The schema against the structs. `Probe` is a serde `Deserializer` that feeds a type's
    //! `Deserialize` impl and writes down what it asks for: the field names serde derive
    //! passes to `deserialize_struct`, the primitive each field reads, the variant names of
    //! each enum, and arrays (probed with one item). Capacities, required fields and defaults
    //! cannot be seen that way, so they are checked by running serde-json-core itself.

    use super::*;
    use crate::config::{Config, ConfigError};
    use serde::de::{self, DeserializeSeed, Visitor};
    use std::collections::BTreeMap;
    use std::fmt;

    #[derive(Clone, Debug, PartialEq)]
    enum Probed {
        Bool,
        U32,
        I32,
        F32,
        Str,
        Enum(std::vec::Vec<&'static str>),
        Object(std::vec::Vec<&'static str>),
        Array,
    }

    #[derive(Debug)]
    struct ProbeError(std::string::String);
    impl fmt::Display for ProbeError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.0)
        }
    }
    impl std::error::Error for ProbeError {}
    impl de::Error for ProbeError {
        fn custom<T: fmt::Display>(msg: T) -> Self {
            ProbeError(msg.to_string())
        }
    }

    type Found = BTreeMap<std::string::String, Probed>;

    struct Probe<'a> {
        path: std::string::String,
        found: &'a mut Found,
    }

    impl Probe<'_> {
        fn note(&mut self, p: Probed) {
            self.found.insert(self.path.clone(), p);
        }
    }

    macro_rules! unsupported {
        ($($name:ident)*) => {$(
            fn $name<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, ProbeError> {
                Err(ProbeError(format!("{}: config types do not use {}", self.path, stringify!($name))))
            }
        )*};
    }

    impl<'de> de::Deserializer<'de> for Probe<'_> {
        type Error = ProbeError;

        fn deserialize_bool<V: Visitor<'de>>(mut self, v: V) -> Result<V::Value, ProbeError> {
            self.note(Probed::Bool);
            v.visit_bool(false)
        }
        fn deserialize_u32<V: Visitor<'de>>(mut self, v: V) -> Result<V::Value, ProbeError> {
            self.note(Probed::U32);
            v.visit_u32(0)
        }
        fn deserialize_i32<V: Visitor<'de>>(mut self, v: V) -> Result<V::Value, ProbeError> {
            self.note(Probed::I32);
            v.visit_i32(0)
        }
        fn deserialize_f32<V: Visitor<'de>>(mut self, v: V) -> Result<V::Value, ProbeError> {
            self.note(Probed::F32);
            v.visit_f32(0.0)
        }
        fn deserialize_str<V: Visitor<'de>>(mut self, v: V) -> Result<V::Value, ProbeError> {
            self.note(Probed::Str);
            v.visit_str("")
        }
        fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
            self.deserialize_str(v)
        }
        fn deserialize_seq<V: Visitor<'de>>(mut self, v: V) -> Result<V::Value, ProbeError> {
            self.note(Probed::Array);
            v.visit_seq(OneItem {
                path: format!("{}[]", self.path),
                found: self.found,
                done: false,
            })
        }
        fn deserialize_struct<V: Visitor<'de>>(
            mut self,
            _name: &'static str,
            fields: &'static [&'static str],
            v: V,
        ) -> Result<V::Value, ProbeError> {
            self.note(Probed::Object(fields.to_vec()));
            v.visit_map(Fields {
                path: self.path,
                fields,
                next: 0,
                found: self.found,
            })
        }
        fn deserialize_enum<V: Visitor<'de>>(
            mut self,
            _name: &'static str,
            variants: &'static [&'static str],
            v: V,
        ) -> Result<V::Value, ProbeError> {
            self.note(Probed::Enum(variants.to_vec()));
            v.visit_enum(UnitVariant(variants[0]))
        }
        unsupported!(deserialize_any deserialize_i8 deserialize_i16 deserialize_i64
            deserialize_u8 deserialize_u16 deserialize_u64 deserialize_f64 deserialize_char
            deserialize_bytes deserialize_byte_buf deserialize_option deserialize_unit
            deserialize_map deserialize_ignored_any deserialize_identifier);

        fn deserialize_unit_struct<V: Visitor<'de>>(
            self,
            _n: &'static str,
            _v: V,
        ) -> Result<V::Value, ProbeError> {
            Err(ProbeError("unit struct".into()))
        }
        fn deserialize_newtype_struct<V: Visitor<'de>>(
            self,
            _n: &'static str,
            _v: V,
        ) -> Result<V::Value, ProbeError> {
            Err(ProbeError("newtype struct".into()))
        }
        fn deserialize_tuple<V: Visitor<'de>>(
            self,
            _l: usize,
            _v: V,
        ) -> Result<V::Value, ProbeError> {
            Err(ProbeError("tuple".into()))
        }
        fn deserialize_tuple_struct<V: Visitor<'de>>(
            self,
            _n: &'static str,
            _l: usize,
            _v: V,
        ) -> Result<V::Value, ProbeError> {
            Err(ProbeError("tuple struct".into()))
        }
    }

    /// A name handed to serde as a field or variant identifier.
    struct Name(&'static str);
    impl<'de> de::Deserializer<'de> for Name {
        type Error = ProbeError;
        fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
            v.visit_str(self.0)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map struct enum identifier ignored_any
        }
    }

    struct UnitVariant(&'static str);
    impl<'de> de::EnumAccess<'de> for UnitVariant {
        type Error = ProbeError;
        type Variant = Self;
        fn variant_seed<S: DeserializeSeed<'de>>(
            self,
            seed: S,
        ) -> Result<(S::Value, Self), ProbeError> {
            Ok((seed.deserialize(Name(self.0))?, self))
        }
    }
    impl<'de> de::VariantAccess<'de> for UnitVariant {
        type Error = ProbeError;
        fn unit_variant(self) -> Result<(), ProbeError> {
            Ok(())
        }
        fn newtype_variant_seed<S: DeserializeSeed<'de>>(
            self,
            _s: S,
        ) -> Result<S::Value, ProbeError> {
            Err(ProbeError("config enums are unit variants".into()))
        }
        fn tuple_variant<V: Visitor<'de>>(self, _l: usize, _v: V) -> Result<V::Value, ProbeError> {
            Err(ProbeError("config enums are unit variants".into()))
        }
        fn struct_variant<V: Visitor<'de>>(
            self,
            _f: &'static [&'static str],
            _v: V,
        ) -> Result<V::Value, ProbeError> {
            Err(ProbeError("config enums are unit variants".into()))
        }
    }

    struct Fields<'a> {
        path: std::string::String,
        fields: &'static [&'static str],
        next: usize,
        found: &'a mut Found,
    }
    impl<'de> de::MapAccess<'de> for Fields<'_> {
        type Error = ProbeError;
        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, ProbeError> {
            match self.fields.get(self.next) {
                Some(name) => seed.deserialize(Name(name)).map(Some),
                None => Ok(None),
            }
        }
        fn next_value_seed<S: DeserializeSeed<'de>>(
            &mut self,
            seed: S,
        ) -> Result<S::Value, ProbeError> {
            let name = self.fields[self.next];
            self.next += 1;
            let path = if self.path.is_empty() {
                name.to_string()
            } else {
                format!("{}.{name}", self.path)
            };
            seed.deserialize(Probe {
                path,
                found: self.found,
            })
        }
    }

    struct OneItem<'a> {
        path: std::string::String,
        found: &'a mut Found,
        done: bool,
    }
    impl<'de> de::SeqAccess<'de> for OneItem<'_> {
        type Error = ProbeError;
        fn next_element_seed<S: DeserializeSeed<'de>>(
            &mut self,
            seed: S,
        ) -> Result<Option<S::Value>, ProbeError> {
            if self.done {
                return Ok(None);
            }
            self.done = true;
            seed.deserialize(Probe {
                path: self.path.clone(),
                found: self.found,
            })
            .map(Some)
        }
    }

    /// What the structs say, by dotted path (array items as `path[]`).
    fn probe_structs() -> Found {
        let mut found = Found::new();
        let probe = Probe {
            path: std::string::String::new(),
            found: &mut found,
        };
        if let Err(e) = <Config as serde::Deserialize>::deserialize(probe) {
            panic!("probing Config failed: {e}");
        }
        found
    }

    /// What the schema says, in the same shape.
    fn flatten_schema() -> Found {
        fn walk(path: &str, kind: &Kind, out: &mut Found) {
            let join = |name: &str| {
                if path.is_empty() {
                    name.to_string()
                } else {
                    format!("{path}.{name}")
                }
            };
            let p = match kind {
                Kind::Bool => Probed::Bool,
                Kind::U32 => Probed::U32,
                Kind::I32 => Probed::I32,
                Kind::F32 => Probed::F32,
                Kind::Str(_) => Probed::Str,
                Kind::Enum(names) => Probed::Enum(names.to_vec()),
                Kind::Object(keys) => {
                    for k in *keys {
                        walk(&join(k.name), &k.kind, out);
                    }
                    Probed::Object(keys.iter().map(|k| k.name).collect())
                }
                Kind::Array { item, .. } => {
                    walk(&format!("{path}[]"), item, out);
                    Probed::Array
                }
            };
            out.insert(path.to_string(), p);
        }
        let mut out = Found::new();
        walk("", &ROOT, &mut out);
        out
    }

    #[test]
    fn schema_names_kinds_and_variants_match_the_structs() {
        let structs = probe_structs();
        let schema = flatten_schema();
        for (path, p) in &structs {
            assert_eq!(
                schema.get(path),
                Some(p),
                "struct field `{path}` ({p:?}) is not in the schema as such"
            );
        }
        for path in schema.keys() {
            assert!(
                structs.contains_key(path),
                "schema key `{path}` is no struct field"
            );
        }
        // The probe really looked inside: every leaf the README lists was found.
        assert_eq!(structs.len(), schema.len());
        assert!(structs.contains_key("buttons.map[].gesture"));
    }

    /// `{"a": {"b": VALUE}}` for the dotted path `a.b`.
    fn nest(path: &str, value: &str) -> std::string::String {
        let mut s = value.to_string();
        for name in path.rsplit('.') {
            s = format!("{{\"{name}\": {s}}}");
        }
        s
    }

    fn serde_only(json: &str) -> Result<Config, serde_json_core::de::Error> {
        let mut buf = [0u8; 512];
        serde_json_core::from_slice_escaped::<Config>(json.as_bytes(), &mut buf).map(|(c, _)| c)
    }

    /// A binding with every required field, plus `extra` (`"name": value` or empty).
    fn binding(extra: &str) -> std::string::String {
        let mut fields: std::vec::Vec<std::string::String> = KEY_BINDING_KEYS
            .iter()
            .filter(|k| k.default.is_none() && !extra.starts_with(&format!("\"{}\"", k.name)))
            .map(|k| format!("\"{}\": {}", k.name, k.example))
            .collect();
        if !extra.is_empty() {
            fields.push(extra.to_string());
        }
        format!("{{\"buttons\": {{\"map\": [{{{}}}]}}}}", fields.join(", "))
    }

    /// For every key: the default written out gives `Config::default()`, the example gives a
    /// different config, and both pass the scanner and `validate()`.
    #[test]
    fn every_key_round_trips_through_serde_json_core_and_the_scanner() {
        let default = Config::default();
        for (path, k) in leaf_keys() {
            let (with_default, with_example) = match path.strip_prefix("buttons.map[].") {
                Some(field) => (
                    k.default.map(|d| binding(&format!("\"{field}\": {d}"))),
                    binding(&format!("\"{field}\": {}", k.example)),
                ),
                None => (k.default.map(|d| nest(&path, d)), nest(&path, k.example)),
            };
            let example = serde_only(&with_example)
                .unwrap_or_else(|e| panic!("{path}: example {with_example} fails: {e}"));
            let checked: Result<Config, ConfigError> = Config::from_json(with_example.as_bytes());
            assert_eq!(checked.as_ref(), Ok(&example), "{path}: {with_example}");
            if let Some(with_default) = with_default {
                let d = serde_only(&with_default)
                    .unwrap_or_else(|e| panic!("{path}: default {with_default} fails: {e}"));
                if path.starts_with("buttons.map[]") {
                    assert_eq!(
                        d.buttons.map[0],
                        serde_only(&binding("")).unwrap().buttons.map[0]
                    );
                    assert_ne!(d, example, "{path}: example equals the default");
                } else {
                    assert_eq!(
                        d, default,
                        "{path}: the documented default {with_default} is not the default"
                    );
                    assert_ne!(example, default, "{path}: example equals the default");
                }
            }
        }
    }

    /// Required keys are exactly the ones serde-json-core refuses to do without.
    #[test]
    fn required_keys_match_serde() {
        for k in KEY_BINDING_KEYS {
            let others: std::vec::Vec<std::string::String> = KEY_BINDING_KEYS
                .iter()
                .filter(|o| o.name != k.name)
                .map(|o| format!("\"{}\": {}", o.name, o.example))
                .collect();
            let json = format!("{{\"buttons\": {{\"map\": [{{{}}}]}}}}", others.join(", "));
            assert_eq!(
                serde_only(&json).is_err(),
                k.default.is_none(),
                "buttons.map[].{}",
                k.name
            );
            assert_eq!(
                Config::from_json(json.as_bytes()).is_err(),
                k.default.is_none()
            );
        }
    }

    /// String and array capacities are the heapless capacities: the limit deserializes, one
    /// more does not (checked on serde-json-core alone, then the scanner agrees).
    #[test]
    fn capacities_match_heapless() {
        for (path, k) in leaf_keys() {
            let (max, make): (usize, Box<dyn Fn(usize) -> std::string::String>) = match &k.kind {
                Kind::Str(max) => (*max, Box::new(|n| format!("\"{}\"", "x".repeat(n)))),
                Kind::Array { max_items, item } => {
                    // Distinct keys, so that a full map is also a valid one.
                    let keys: std::vec::Vec<std::string::String> = ('A'..='Z')
                        .map(|c| format!("KEY_{c}"))
                        .chain((1..=24).map(|n| format!("KEY_F{n}")))
                        .collect();
                    let object = matches!(item, Kind::Object(_));
                    assert!(
                        object || matches!(item, Kind::Str(_)),
                        "{path}: no sample item"
                    );
                    (
                        *max_items,
                        Box::new(move |n| {
                            let items: std::vec::Vec<std::string::String> = (0..n)
                                .map(|i| match object {
                                    true => {
                                        format!(r#"{{"key": "{}", "action": "stop"}}"#, keys[i])
                                    }
                                    false => format!("\"/dev/input/event{i}\""),
                                })
                                .collect();
                            format!("[{}]", items.join(","))
                        }),
                    )
                }
                _ => continue,
            };
            let doc = |n: usize| match path.strip_prefix("buttons.map[].") {
                Some(field) => binding(&format!("\"{field}\": {}", make(n))),
                None => nest(&path, &make(n)),
            };
            assert!(serde_only(&doc(max)).is_ok(), "{path}: {max} should fit");
            assert!(
                serde_only(&doc(max + 1)).is_err(),
                "{path}: {} should not fit",
                max + 1
            );
            // At the limit the scanner has no objection (a made-up key or action name may
            // still be refused by validate()); one more is refused for its length.
            if let Err(e) = Config::from_json(doc(max).as_bytes()) {
                assert!(path.starts_with("buttons.map[]."), "{path}: {e}");
                assert!(!e.message.contains("long, the limit"), "{path}: {e}");
            }
            let err = Config::from_json(doc(max + 1).as_bytes())
                .unwrap_err()
                .message;
            let shown = path.replace("[]", "[0]");
            assert!(err.starts_with(&format!("key \"{shown}\"")), "{err}");
            assert!(
                err.contains("long, the limit") || err.contains("more than"),
                "{err}"
            );
        }
    }

    #[test]
    fn enum_names_are_the_rust_names() {
        let names: std::vec::Vec<&str> = crate::config::SampleFormat::ALL
            .iter()
            .map(|f| f.name())
            .collect();
        assert_eq!(names, FORMAT_NAMES);
    }

    #[test]
    fn markdown_table_lists_every_leaf() {
        let table = markdown_table();
        for (path, _) in leaf_keys() {
            assert!(table.contains(&format!("| `{path}` |")), "{path}");
        }
        assert!(table.contains("| `audio.rate` | integer >= 0 | `48000` |"));
        assert!(table.contains("| `buttons.map[].action` | string (<= 64 bytes) | (required) |"));
        assert!(table.contains("| `buttons.map` | array of <= 48 objects | `[]` |"));
        // A '|' in a cell would split it.
        for (path, k) in leaf_keys() {
            assert!(!k.meaning.contains('|'), "{path}");
        }
    }
}
