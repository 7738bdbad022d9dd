//! `song.json`: a song's optional metadata (title, tempo, metre, per-stem defaults, section
//! markers), read with serde_json and derives by the loader thread when it loads a song
//! (and by `stembox check`). serde_path_to_error gives the key path of a refused value and
//! serde_ignored the keys nobody reads.
//!
//! Every key is optional and `null` means "not given"; unknown keys are reported as
//! warnings and ignored; a UTF-8 byte-order mark is skipped. A bad file gives one message
//! naming the file, the key and where its value is, e.g. ``.../song.json: key
//! `sections[2].bar`: a bar position needs `bpm` (or give at_s) at line 5, column 30``, and
//! the caller plays the song with defaults.
//!
//! ```json
//! { "title": "Intro", "bpm": 120, "time_signature": "4/4",
//!   "stems": { "click": { "mute": true }, "drums": { "gain_db": -3, "pan": 0 } },
//!   "sections": [ { "name": "verse", "at_s": 0 }, { "name": "chorus", "bar": 17 } ] }
//! ```
//!
//! `stems` may also be an array of objects with a `name`. Tempo is in quarter notes per
//! minute, as DAWs show it, so a bar of `6/8` at 120 bpm is 3 quarter notes = 1.5 s, and
//! bar 17 of a `4/4` song at 120 bpm starts at 16 * 2 s = 32 s. Sections come out sorted by
//! time.
//!
//! A song whose tempo or metre changes gives `tempo_map`, a list of changes
//! `{"bar": 9, "bpm": 96, "time_signature": "3/4"}` (bar 1-based, in order; a change may
//! leave out `bpm` or `time_signature` to keep the one before). Before its first change the
//! song's `bpm` and `time_signature` hold (so a map that does not start at bar 1 needs
//! `bpm`); a single `bpm` is a one-change map. Sections given in bars follow the map (see
//! [`crate::model::tempo`]). `"click": true` turns the generated click on for the song.

use crate::base::json_error as explain;
use crate::model::tempo::{TempoChange, TempoMap, MAX_TEMPO_CHANGES};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_path_to_error::Segment;
use std::fmt;
use std::path::Path;

/// Largest `song.json` read; a real one is a few hundred bytes.
pub const MAX_SONG_JSON_BYTES: usize = 64 * 1024;

pub use super::tempo::TimeSignature;

/// `"#rrggbb"` (or `"rrggbb"`) as 0xRRGGBB.
fn parse_colour(text: &str) -> Result<u32, String> {
    let hex = text.trim().trim_start_matches('#');
    if hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        u32::from_str_radix(hex, 16).map_err(|e| e.to_string())
    } else {
        Err(format!(
            "\"{}\" is not a colour like \"#e0a030\"",
            text.escape_debug()
        ))
    }
}

/// Per-stem defaults; `None` means "not given" (the loader's default applies).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StemMeta {
    pub name: String,
    pub gain_db: Option<f32>,
    /// -1 (left) ..= 1 (right).
    pub pan: Option<f32>,
    /// Muted when the song starts.
    pub mute: Option<bool>,
    /// The buses named by `"bus"` (a name or a list of names); empty: not given. Checked
    /// against the config's buses by `crate::model::bus::route`.
    pub bus: Vec<String>,
    /// `"colour"` for the screens, 0xRRGGBB.
    pub colour: Option<u32>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SectionMeta {
    pub name: String,
    /// Start in seconds from the beginning of the song.
    pub at_s: f64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SongMeta {
    pub title: Option<String>,
    /// Quarter notes per minute.
    pub bpm: Option<f64>,
    /// `None` when not given; [`SongMeta::metre`] gives 4/4 then.
    pub time_signature: Option<TimeSignature>,
    pub stems: Vec<StemMeta>,
    /// Sorted by `at_s`.
    pub sections: Vec<SectionMeta>,
    /// Default speed in percent (50..=150) for practising this song.
    pub speed_pct: Option<f32>,
    /// Default key change in semitones (-12..=12), e.g. for a singer.
    pub pitch_st: Option<f32>,
    /// Tempo from bar 1 on, resolved from `bpm`, `time_signature` and `tempo_map`: the first
    /// change is at bar 1; empty when the song has no tempo. Valid for [`TempoMap::new`].
    pub tempo: Vec<TempoChange>,
    /// `"click"`: the generated click on (or off) when the song is loaded.
    pub click: Option<bool>,
    /// `"chords"` by bar and beat, placed on the tempo map when the song loads.
    pub chords: Vec<crate::model::lyrics::BarChord>,
    /// Things ignored on the way (unknown keys, repeated stems), one line each.
    pub warnings: Vec<String>,
}

impl SongMeta {
    pub fn stem(&self, name: &str) -> Option<&StemMeta> {
        self.stems.iter().find(|s| s.name == name)
    }

    /// The time signature, 4/4 when not given.
    pub fn metre(&self) -> TimeSignature {
        self.time_signature.unwrap_or_default()
    }

    /// Seconds of one bar, when the tempo is known.
    pub fn bar_s(&self) -> Option<f64> {
        self.bpm.map(|b| self.metre().bar_s(b))
    }

    /// The tempo map at `rate` frames per second, when the song has a tempo.
    pub fn tempo_map(&self, rate: u32) -> Option<TempoMap> {
        if self.tempo.is_empty() {
            return None;
        }
        TempoMap::new(&self.tempo, rate).ok()
    }

    /// Section starts in frames at `rate`, in time order.
    pub fn section_frames(&self, rate: u32) -> Vec<(String, u64)> {
        self.sections
            .iter()
            .map(|s| (s.name.clone(), (s.at_s * rate as f64).round() as u64))
            .collect()
    }
}

/// Reads `<song>/song.json`. `Ok(None)` when there is none; `Err` names the file and key.
/// Loader thread.
pub fn load_song_json(path: &Path) -> Result<Option<SongMeta>, String> {
    // A FIFO, a device or a huge file is refused at once, never waited for or slurped.
    if let Err(e) = std::fs::symlink_metadata(path) {
        if e.kind() == std::io::ErrorKind::NotFound {
            return Ok(None);
        }
    }
    let bytes =
        crate::base::fsread::read_regular_file(path, "song.json", MAX_SONG_JSON_BYTES as u64)?;
    parse_song_json(&bytes)
        .map(Some)
        .map_err(|e| format!("{}: {e}; playing the song with defaults", path.display()))
}

/// Parses `song.json` text. Errors name the key and where its value is, e.g.
/// ``key `bpm`: 0 is outside 0 < bpm <= 1000 at line 1, column 9``.
pub fn parse_song_json(bytes: &[u8]) -> Result<SongMeta, String> {
    let (text, start) = document(bytes)?;
    if let Some(path) = array_for_object(&text[start..]) {
        return Err(format!(
            "{}expected {}, found an array{}",
            match path.as_slice() {
                [] => String::new(),
                p => format!("key `{}`: ", explain::path_text(p)),
            },
            wants(&path).unwrap_or("an object"),
            at(text, start, &path)
        ));
    }
    let mut ignored: Vec<Vec<Segment>> = Vec::new();
    let mut de = serde_json::Deserializer::from_str(&text[start..]);
    let mut note = |path: serde_ignored::Path| ignored.push(segments(&path));
    let file: SongFile =
        serde_path_to_error::deserialize(serde_ignored::Deserializer::new(&mut de, &mut note))
            .map_err(|e| {
                let path: Vec<Segment> = e.path().iter().cloned().collect();
                decode_problem(text, start, &path, e.inner(), wants)
            })?;
    let warnings = ignored
        .iter()
        .map(|path| {
            let (parent, _) = path.split_at(path.len().saturating_sub(1));
            format!(
                "unknown key `{}` ignored (known: {}){}",
                explain::path_text(path),
                known_keys(parent).join(", "),
                at(text, start, path)
            )
        })
        .collect();
    resolve(file, warnings, |path: &[Segment]| at(text, start, path))
}

/// The text of a JSON document to read with serde_json, and where its value starts (past
/// a UTF-8 byte-order mark, which some editors write). Its syntax is checked here, so a
/// later decoding error is about the content. Shared with `setlist.json`.
pub(crate) fn document(bytes: &[u8]) -> Result<(&str, usize), String> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 text{} (byte {})",
            explain::position(bytes, e.valid_up_to()),
            e.valid_up_to()
        )
    })?;
    let start = if text.starts_with('\u{feff}') { 3 } else { 0 };
    if text[start..].trim().is_empty() {
        return Err("the file is empty".into());
    }
    explain::syntax(text, start)?;
    Ok((text, start))
}

/// The message for a value at `path` that did not decode: the key path, what was wrong in
/// the user's words (`wants` says what the key takes) and the value's line and column.
pub(crate) fn decode_problem(
    text: &str,
    start: usize,
    path: &[Segment],
    e: &serde_json::Error,
    wants: fn(&[Segment]) -> Option<&'static str>,
) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full);
    let why = if let Some(field) = message
        .strip_prefix("duplicate field `")
        .and_then(|m| m.strip_suffix('`'))
    {
        let mut key = path.to_vec();
        key.push(Segment::Map { key: field.into() });
        return format!(
            "key `{}` is given twice; give it once{}",
            explain::path_text(&key),
            at(text, start, &key)
        );
    } else if let Some((found, expected)) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
        .and_then(|m| m.rsplit_once(", expected "))
    {
        format!(
            "expected {}, found {}",
            wants(path).unwrap_or(expected),
            explain::found_as_written(found)
        )
    } else {
        message.to_string()
    };
    let position = match explain::locate(text, start, path) {
        Some(offset) => explain::position(text.as_bytes(), offset),
        None => format!(" at line {}, column {}", e.line(), e.column()),
    };
    if path.is_empty() {
        format!("{why}{position}")
    } else {
        format!("key `{}`: {why}{position}", explain::path_text(path))
    }
}

/// The first array where `song.json` has an object (the document, a stem, a section): serde's
/// derive would take it as the object's fields in order, which no one means.
fn array_for_object(text: &str) -> Option<Vec<Segment>> {
    use serde_json::Value;
    let doc: Value = serde_json::from_str(text).ok()?;
    if doc.is_array() {
        return Some(Vec::new());
    }
    let key = |k: &str| Segment::Map { key: k.into() };
    for list in ["sections", "tempo_map"] {
        if let Some(Value::Array(items)) = doc.get(list) {
            if let Some(index) = items.iter().position(Value::is_array) {
                return Some(vec![key(list), Segment::Seq { index }]);
            }
        }
    }
    match doc.get("stems") {
        Some(Value::Array(stems)) => stems
            .iter()
            .position(Value::is_array)
            .map(|index| vec![key("stems"), Segment::Seq { index }]),
        Some(Value::Object(stems)) => stems
            .iter()
            .find(|(_, v)| v.is_array())
            .map(|(name, _)| vec![key("stems"), key(name)]),
        _ => None,
    }
}

/// ` at line L, column C` of the value at `path`, or nothing when it is not written.
fn at(text: &str, start: usize, path: &[Segment]) -> String {
    explain::locate(text, start, path).map_or(String::new(), |offset| {
        explain::position(text.as_bytes(), offset)
    })
}

/// A serde_ignored path as key path segments.
fn segments(path: &serde_ignored::Path) -> Vec<Segment> {
    use serde_ignored::Path as P;
    match path {
        P::Root => Vec::new(),
        P::Seq { parent, index } => {
            let mut v = segments(parent);
            v.push(Segment::Seq { index: *index });
            v
        }
        P::Map { parent, key } => {
            let mut v = segments(parent);
            v.push(Segment::Map { key: key.clone() });
            v
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            segments(parent)
        }
    }
}

fn is_key(s: &Segment, name: &str) -> bool {
    matches!(s, Segment::Map { key } if key == name)
}

/// What the value at a `song.json` key path must be, for messages.
fn wants(path: &[Segment]) -> Option<&'static str> {
    match path {
        [] => Some("a JSON object"),
        [stems, Segment::Map { .. }] if is_key(stems, "stems") => {
            Some("an object of stem settings")
        }
        [stems, Segment::Seq { .. }] if is_key(stems, "stems") => {
            Some("a stem object with a \"name\"")
        }
        [sections, Segment::Seq { .. }] if is_key(sections, "sections") => Some("a section object"),
        [tempo, Segment::Seq { .. }] if is_key(tempo, "tempo_map") => {
            Some("a tempo change object like {\"bar\": 9, \"bpm\": 96}")
        }
        [.., Segment::Map { key }] => match key.as_str() {
            "title" | "name" => Some("a string"),
            "bus" => Some("a bus name or a list of them, e.g. \"cue\" or [\"main\", \"cue\"]"),
            "bpm" => Some("a number"),
            "speed_pct" => Some("a number of percent (50..150)"),
            "pitch_st" => Some("a number of semitones (-12..12)"),
            "time_signature" => Some("a string like \"4/4\""),
            "sections" => Some("an array of {\"name\", \"at_s\" or \"bar\"} objects"),
            "tempo_map" => Some("an array of {\"bar\", \"bpm\", \"time_signature\"} objects"),
            "click" => Some("true or false"),
            "gain_db" => Some("a number of dB"),
            "pan" => Some("a number from -1 (left) to 1 (right)"),
            "mute" => Some("true or false"),
            "at_s" => Some("a number of seconds"),
            "bar" => Some("a bar number (1 = first bar)"),
            _ => None,
        },
        _ => None,
    }
}

/// The keys an object at `parent` takes, for the unknown-key warning.
fn known_keys(parent: &[Segment]) -> &'static [&'static str] {
    match parent {
        [] => &[
            "title",
            "bpm",
            "time_signature",
            "stems",
            "sections",
            "speed_pct",
            "pitch_st",
            "tempo_map",
            "click",
            "chords",
        ],
        [stems, Segment::Map { .. }] if is_key(stems, "stems") => {
            &["gain_db", "pan", "mute", "bus", "colour"]
        }
        [stems, Segment::Seq { .. }] if is_key(stems, "stems") => {
            &["name", "gain_db", "pan", "mute", "bus", "colour"]
        }
        [tempo, Segment::Seq { .. }] if is_key(tempo, "tempo_map") => {
            &["bar", "bpm", "time_signature"]
        }
        _ => &["name", "at_s", "bar"],
    }
}

/// `song.json` as written. Every key is optional; `null` means not given. Unknown keys are
/// left to serde_ignored, which reports them as warnings.
#[derive(Deserialize, Default)]
#[serde(default)]
struct SongFile {
    title: Option<String>,
    #[serde(deserialize_with = "bpm")]
    bpm: Option<f64>,
    #[serde(deserialize_with = "time_signature")]
    time_signature: Option<TimeSignature>,
    stems: StemsFile,
    sections: Vec<SectionFile>,
    #[serde(deserialize_with = "speed_pct")]
    speed_pct: Option<f32>,
    #[serde(deserialize_with = "pitch_st")]
    pitch_st: Option<f32>,
    /// `None` when not given; `Some(empty)` is refused.
    tempo_map: Option<Vec<TempoChangeFile>>,
    click: Option<bool>,
    /// Read as a value here and checked by [`crate::model::lyrics::chords_from_json`]: a
    /// bad chord list costs only the chords (a warning), never the rest of the file.
    chords: Option<serde_json::Value>,
}

/// A `tempo_map` change as written; a missing `bpm` or `time_signature` keeps the one before.
#[derive(Deserialize, Default)]
#[serde(default)]
struct TempoChangeFile {
    #[serde(deserialize_with = "change_bar")]
    bar: Option<u32>,
    #[serde(deserialize_with = "bpm")]
    bpm: Option<f64>,
    #[serde(deserialize_with = "time_signature")]
    time_signature: Option<TimeSignature>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StemFile {
    /// Only in the array form; in the object form the key is the name.
    name: Option<String>,
    #[serde(deserialize_with = "gain_db")]
    gain_db: Option<f32>,
    #[serde(deserialize_with = "pan")]
    pan: Option<f32>,
    mute: Option<bool>,
    #[serde(deserialize_with = "bus")]
    bus: Vec<String>,
    /// `"#rrggbb"` for the screens; anything else is a warning.
    colour: Option<String>,
}

/// A section as written: position in seconds or bars, resolved once `bpm` is known.
#[derive(Deserialize, Default)]
#[serde(default)]
struct SectionFile {
    name: Option<String>,
    #[serde(deserialize_with = "at_s")]
    at_s: Option<f64>,
    #[serde(deserialize_with = "bar")]
    bar: Option<f64>,
}

/// `stems`: an object keyed by stem name (kept in file order, repeats included, so they can
/// be reported), or an array of objects with `name`.
enum StemsFile {
    Named(Vec<(String, StemFile)>),
    Listed(Vec<StemFile>),
}

impl Default for StemsFile {
    fn default() -> Self {
        StemsFile::Listed(Vec::new())
    }
}

impl<'de> Deserialize<'de> for StemsFile {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<StemsFile, D::Error> {
        struct Either;
        impl<'de> Visitor<'de> for Either {
            type Value = StemsFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object (stem name -> settings) or an array of stems")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StemsFile, A::Error> {
                let mut stems = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    stems.push(entry);
                }
                Ok(StemsFile::Named(stems))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<StemsFile, A::Error> {
                Deserialize::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(StemsFile::Listed)
            }
        }
        d.deserialize_any(Either)
    }
}

/// An optional number, refused with `why` when `ok` says no.
fn checked<'de, D, T>(d: D, ok: fn(T) -> bool, why: fn(T) -> String) -> Result<Option<T>, D::Error>
where
    D: de::Deserializer<'de>,
    T: Deserialize<'de> + Copy,
{
    match Option::<T>::deserialize(d)? {
        Some(v) if !ok(v) => Err(de::Error::custom(why(v))),
        v => Ok(v),
    }
}

fn bpm<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    use crate::model::tempo::{MAX_BPM, MIN_BPM};
    checked(
        d,
        |b: f64| (MIN_BPM..=MAX_BPM).contains(&b),
        |b| format!("{b} is outside {MIN_BPM}..={MAX_BPM} bpm"),
    )
}

fn change_bar<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    checked(
        d,
        |b: u32| b >= 1,
        |b| format!("{b} is not a bar (the first bar is 1)"),
    )
}

fn speed_pct<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<f32>, D::Error> {
    checked(
        d,
        |p: f32| (50.0..=150.0).contains(&p),
        |p| format!("{p} % is outside 50..=150 %"),
    )
}

fn pitch_st<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<f32>, D::Error> {
    checked(
        d,
        |p: f32| (-12.0..=12.0).contains(&p),
        |p| format!("{p} semitones is outside -12..=12"),
    )
}

fn gain_db<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<f32>, D::Error> {
    checked(
        d,
        |g| (-120.0..=24.0).contains(&g),
        |g| format!("{g} dB is outside -120..=24 dB"),
    )
}

fn pan<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<f32>, D::Error> {
    checked(
        d,
        |p| (-1.0..=1.0).contains(&p),
        |p| format!("{p} is outside -1 (left) ..= 1 (right)"),
    )
}

/// `"bus"`: one name or a list of at most 8 (`null`: not given).
fn bus<'de, D: de::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let names = match Option::<OneOrMany>::deserialize(d)? {
        None => return Ok(Vec::new()),
        Some(OneOrMany::One(n)) => vec![n],
        Some(OneOrMany::Many(v)) => v,
    };
    if names.is_empty() || names.len() > crate::base::limits::MAX_BUSES {
        return Err(de::Error::custom(format!(
            "{} bus names; give 1..={}",
            names.len(),
            crate::base::limits::MAX_BUSES
        )));
    }
    Ok(names)
}

fn at_s<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    checked(
        d,
        |t| t.is_finite() && t >= 0.0,
        |t| format!("{t} s is before the song's start"),
    )
}

fn bar<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    checked(
        d,
        |b| b.is_finite() && b >= 1.0,
        |b| format!("{b} is not a bar (the first bar is 1)"),
    )
}

fn time_signature<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<TimeSignature>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|t| TimeSignature::parse(&t).map_err(de::Error::custom))
        .transpose()
}

/// The song's metadata from the file as written: sections placed in time and sorted, stems
/// given twice reduced to the last. `at` gives the position of a key path for messages.
fn resolve(
    file: SongFile,
    mut warnings: Vec<String>,
    at: impl Fn(&[Segment]) -> String,
) -> Result<SongMeta, String> {
    let stems_key = || Segment::Map {
        key: "stems".into(),
    };
    let sections_key = || Segment::Map {
        key: "sections".into(),
    };
    let fail = |path: &[Segment], why: &str| {
        format!("key `{}`: {why}{}", explain::path_text(path), at(path))
    };
    let tempo = resolve_tempo(&file, &mut warnings, &at)?;
    // In seconds: a map at 1 frame per second.
    let seconds = (!tempo.is_empty())
        .then(|| TempoMap::new(&tempo, 1))
        .transpose()
        .map_err(|e| fail(&[], &e.why))?;
    let mut sections = Vec::with_capacity(file.sections.len());
    for (index, s) in file.sections.into_iter().enumerate() {
        let path = [sections_key(), Segment::Seq { index }];
        let at_s = match (s.at_s, s.bar) {
            (Some(t), None) => t,
            (None, Some(bar)) => match &seconds {
                Some(map) => map.frame_of_bar(bar),
                None => {
                    let mut bar_path = path.to_vec();
                    bar_path.push(Segment::Map { key: "bar".into() });
                    return Err(fail(
                        &bar_path,
                        "a bar position needs `bpm` or a `tempo_map` (or give at_s)",
                    ));
                }
            },
            (Some(_), Some(_)) => return Err(fail(&path, "give either at_s or bar, not both")),
            (None, None) => {
                return Err(fail(
                    &path,
                    "needs at_s (seconds) or bar (1 = the first bar)",
                ))
            }
        };
        let name = s.name.unwrap_or_else(|| format!("section {}", index + 1));
        sections.push(SectionMeta { name, at_s });
    }
    sections.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));

    let named: Vec<(Vec<Segment>, Option<String>, StemFile)> = match file.stems {
        StemsFile::Named(stems) => stems
            .into_iter()
            .map(|(name, mut s)| {
                let path = vec![stems_key(), Segment::Map { key: name.clone() }];
                if s.name.take().is_some() {
                    let mut key = path.clone();
                    key.push(Segment::Map { key: "name".into() });
                    warnings.push(format!(
                        "unknown key `{}` ignored (in this form the stem's name is its key){}",
                        explain::path_text(&key),
                        at(&key)
                    ));
                }
                (path, Some(name), s)
            })
            .collect(),
        StemsFile::Listed(stems) => stems
            .into_iter()
            .enumerate()
            .map(|(index, mut s)| {
                let path = vec![stems_key(), Segment::Seq { index }];
                (path, s.name.take(), s)
            })
            .collect(),
    };
    let mut stems: Vec<StemMeta> = Vec::with_capacity(named.len());
    for (path, name, s) in named {
        let name = match name {
            Some(n) if !n.trim().is_empty() => n,
            _ => {
                return Err(fail(
                    &path,
                    "a stem needs a \"name\" (the file name without extension)",
                ))
            }
        };
        let colour = match s.colour.as_deref().map(parse_colour) {
            None => None,
            Some(Ok(c)) => Some(c),
            Some(Err(why)) => {
                warnings.push(format!("stems: \"{name}\" colour: {why}; not shown"));
                None
            }
        };
        let stem = StemMeta {
            name,
            gain_db: s.gain_db,
            pan: s.pan,
            mute: s.mute,
            bus: s.bus,
            colour,
        };
        if let Some(old) = stems.iter_mut().find(|o| o.name == stem.name) {
            warnings.push(format!(
                "stems: \"{}\" is given twice; the last one counts",
                stem.name
            ));
            *old = stem;
        } else {
            stems.push(stem);
        }
    }
    let chords = match file
        .chords
        .as_ref()
        .map(crate::model::lyrics::chords_from_json)
    {
        None => Vec::new(),
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            warnings.push(format!("{e}; the song plays without its chords"));
            Vec::new()
        }
    };
    Ok(SongMeta {
        title: file.title.filter(|t| !t.trim().is_empty()),
        bpm: file.bpm,
        time_signature: file.time_signature,
        stems,
        sections,
        speed_pct: file.speed_pct,
        pitch_st: file.pitch_st,
        tempo,
        click: file.click,
        chords,
        warnings,
    })
}

/// The song's tempo from bar 1 on: `tempo_map` after the song's own `bpm` and
/// `time_signature`, each change keeping what it leaves out. Empty when there is no tempo.
fn resolve_tempo(
    file: &SongFile,
    warnings: &mut Vec<String>,
    at: &dyn Fn(&[Segment]) -> String,
) -> Result<Vec<TempoChange>, String> {
    let fail = |path: &[Segment], why: &str| {
        format!("key `{}`: {why}{}", explain::path_text(path), at(path))
    };
    let song_metre = file.time_signature.unwrap_or_default();
    let Some(list) = &file.tempo_map else {
        return Ok(file
            .bpm
            .map(|bpm| TempoChange {
                bar: 1,
                bpm,
                time_signature: song_metre,
            })
            .into_iter()
            .collect());
    };
    let list_path = [Segment::Map {
        key: "tempo_map".into(),
    }];
    if list.is_empty() {
        return Err(fail(
            &list_path,
            "an empty tempo map; leave it out or give at least one change",
        ));
    }
    if list.len() > MAX_TEMPO_CHANGES {
        return Err(fail(
            &list_path,
            &format!("{} tempo changes; at most {MAX_TEMPO_CHANGES}", list.len()),
        ));
    }
    let item = |index: usize, key: Option<&str>| {
        let mut path = list_path.to_vec();
        path.push(Segment::Seq { index });
        if let Some(key) = key {
            path.push(Segment::Map { key: key.into() });
        }
        path
    };
    let mut changes: Vec<TempoChange> = Vec::with_capacity(list.len() + 1);
    if let Some(bpm) = file.bpm {
        changes.push(TempoChange {
            bar: 1,
            bpm,
            time_signature: song_metre,
        });
    }
    for (index, c) in list.iter().enumerate() {
        let Some(bar) = c.bar else {
            return Err(fail(
                &item(index, None),
                "a tempo change needs a \"bar\" (1 = the first bar)",
            ));
        };
        if c.bpm.is_none() && c.time_signature.is_none() {
            return Err(fail(
                &item(index, None),
                "a tempo change needs \"bpm\", \"time_signature\" or both",
            ));
        }
        let before = changes.last().copied();
        if before.is_none() && bar > 1 {
            return Err(fail(
                &item(index, Some("bar")),
                &format!(
                    "the tempo before bar {bar} is not known: give the song a \"bpm\" \
                     or start the map at bar 1"
                ),
            ));
        }
        let Some(bpm) = c.bpm.or(before.map(|b| b.bpm)) else {
            return Err(fail(
                &item(index, None),
                "the first change needs a \"bpm\" (or give the song a \"bpm\")",
            ));
        };
        let change = TempoChange {
            bar,
            bpm,
            time_signature: c
                .time_signature
                .or(before.map(|b| b.time_signature))
                .unwrap_or(song_metre),
        };
        match before {
            // The map's own bar 1 wins over the song's `bpm`/`time_signature`.
            Some(b) if index == 0 && bar == 1 => {
                if (b.bpm, b.time_signature) != (change.bpm, change.time_signature) {
                    warnings.push(format!(
                        "tempo_map[0] at bar 1 replaces the song's bpm/time_signature ({} {}/{}){}",
                        b.bpm,
                        b.time_signature.beats_per_bar,
                        b.time_signature.beat_unit,
                        at(&item(0, None))
                    ));
                }
                changes[0] = change;
            }
            Some(b) if bar <= b.bar => {
                return Err(fail(
                    &item(index, Some("bar")),
                    &format!(
                        "bar {bar} does not come after the change before it (bar {}); list changes in order, one per bar",
                        b.bar
                    ),
                ))
            }
            _ => changes.push(change),
        }
    }
    // Checked above change by change; the map's own checks stay the last word.
    TempoMap::new(&changes, 1).map_err(|e| fail(&list_path, &e.why))?;
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<SongMeta, String> {
        parse_song_json(s.as_bytes())
    }

    #[test]
    fn empty_object_is_all_defaults() {
        let m = parse("{}").unwrap();
        assert_eq!(m, SongMeta::default());
        assert_eq!(m.metre(), TimeSignature::default());
        assert_eq!(m.bar_s(), None);
        assert_eq!(parse(" \n{ }\n").unwrap(), SongMeta::default());
    }

    #[test]
    fn stem_bus_is_a_name_or_a_list_and_hostile_ones_are_refused() {
        let m = parse(
            r#"{ "stems": { "click": { "bus": "cue" }, "keys": { "bus": ["main", "cue"] },
                            "bass": { "bus": null } } }"#,
        )
        .unwrap();
        assert_eq!(m.stem("click").unwrap().bus, vec!["cue".to_string()]);
        assert_eq!(m.stem("keys").unwrap().bus, vec!["main", "cue"]);
        assert!(m.stem("bass").unwrap().bus.is_empty());
        for bad in [
            r#"{ "stems": { "a": { "bus": [] } } }"#,
            r#"{ "stems": { "a": { "bus": 3 } } }"#,
            r#"{ "stems": { "a": { "bus": ["main", 3] } } }"#,
            r#"{ "stems": { "a": { "bus": {"x": 1} } } }"#,
            r#"{ "stems": { "a": { "bus": ["a","b","c","d","e","f","g","h","i"] } } }"#,
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(e.contains("bus"), "{bad}: {e}");
        }
    }

    #[test]
    fn full_file_with_stem_object_and_bars() {
        let m = parse(
            r#"{ "title": "Intro \"live\"", "bpm": 120, "time_signature": "4/4",
                 "stems": { "click": { "mute": true, "bus": "monitor" },
                            "drums": { "gain_db": -3, "pan": -0.5 } },
                 "sections": [ { "name": "chorus", "bar": 17 },
                               { "name": "verse", "at_s": 0 },
                               { "name": "bridge", "at_s": 40.5 } ] }"#,
        )
        .unwrap();
        assert_eq!(m.title.as_deref(), Some("Intro \"live\""));
        assert_eq!(m.bpm, Some(120.0));
        assert_eq!(m.bar_s(), Some(2.0));
        let click = m.stem("click").unwrap();
        assert_eq!(
            (click.mute, click.bus.clone()),
            (Some(true), vec!["monitor".to_string()])
        );
        let drums = m.stem("drums").unwrap();
        assert_eq!(
            (drums.gain_db, drums.pan, drums.mute),
            (Some(-3.0), Some(-0.5), None)
        );
        let names: Vec<(&str, f64)> = m
            .sections
            .iter()
            .map(|s| (s.name.as_str(), s.at_s))
            .collect();
        assert_eq!(
            names,
            vec![("verse", 0.0), ("chorus", 32.0), ("bridge", 40.5)]
        );
        assert_eq!(
            m.section_frames(48_000),
            vec![
                ("verse".to_string(), 0),
                ("chorus".to_string(), 1_536_000),
                ("bridge".to_string(), 1_944_000)
            ]
        );
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    }

    #[test]
    fn stems_as_an_array() {
        let m = parse(
            r#"{"stems": [{"name": "bass", "gain_db": 2.5}, {"name": "keys", "mute": false}]}"#,
        )
        .unwrap();
        assert_eq!(m.stems.len(), 2);
        assert_eq!(m.stem("bass").unwrap().gain_db, Some(2.5));
        assert_eq!(m.stem("keys").unwrap().mute, Some(false));
    }

    #[test]
    fn bars_in_other_metres() {
        // 6/8 at 120 quarter-note bpm: a bar is 3 quarters = 1.5 s; bar 3 starts at 3 s.
        let m =
            parse(r#"{"bpm": 120, "time_signature": "6/8", "sections": [{"bar": 3}]}"#).unwrap();
        assert_eq!(m.bar_s(), Some(1.5));
        assert_eq!(m.sections[0].at_s, 3.0);
        assert_eq!(m.sections[0].name, "section 1");
        assert_eq!(m.metre().beats_per_bar, 6);
        // 3/4 at 90: bar = 2 s; bar 2.5 (half way through bar 2) = 3 s. Key order free.
        let m = parse(
            r#"{"sections": [{"name": "x", "bar": 2.5}], "time_signature": "3/4", "bpm": 90}"#,
        )
        .unwrap();
        assert!((m.sections[0].at_s - 3.0).abs() < 1e-9);
        assert_eq!(TimeSignature::parse("7/16").unwrap().beat_s(120.0), 0.125);
    }

    #[test]
    fn speed_and_key_defaults_in_range_only() {
        let m = parse(r#"{"speed_pct": 80, "pitch_st": -2.5}"#).unwrap();
        assert_eq!((m.speed_pct, m.pitch_st), (Some(80.0), Some(-2.5)));
        let m = parse(r#"{"speed_pct": null}"#).unwrap();
        assert_eq!((m.speed_pct, m.pitch_st), (None, None));
        for (bad, why) in [
            (r#"{"speed_pct": 49}"#, "outside 50..=150"),
            (r#"{"speed_pct": 1e30}"#, "outside 50..=150"),
            (r#"{"speed_pct": "fast"}"#, "percent"),
            (r#"{"pitch_st": 13}"#, "outside -12..=12"),
            (r#"{"pitch_st": [1]}"#, "semitones"),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn unknown_keys_and_repeated_stems_are_warnings() {
        let m = parse(
            r#"{"tittle": "x", "bpm": 100, "stems": {"a": {"gian_db": 1}, "a": {"mute": true}},
                "sections": [{"at_s": 1, "colour": "red"}], "extra": [1, {"b": 2}]}"#,
        )
        .unwrap();
        assert_eq!(m.bpm, Some(100.0));
        assert_eq!(m.stems.len(), 1);
        assert_eq!(m.stem("a").unwrap().mute, Some(true));
        let w = m.warnings.join("\n");
        assert!(w.contains("unknown key `tittle` ignored (known: title, bpm, time_signature, stems, sections, speed_pct, pitch_st, tempo_map, click, chords) at line 1, column 12"), "{w}");
        assert!(w.contains("unknown key `stems.a.gian_db`"), "{w}");
        assert!(w.contains("unknown key `sections[0].colour`"), "{w}");
        assert!(w.contains("unknown key `extra`"), "{w}");
        assert!(w.contains("\"a\" is given twice"), "{w}");
    }

    #[test]
    fn nulls_mean_not_given() {
        let m =
            parse(r#"{"title": null, "bpm": null, "stems": {"a": {"gain_db": null}}}"#).unwrap();
        assert_eq!((m.title.as_deref(), m.bpm), (None, None));
        assert_eq!(m.stem("a").unwrap().gain_db, None);
    }

    fn err(s: &str) -> String {
        match parse(s) {
            Err(e) => e,
            Ok(m) => panic!("{s} should fail, got {m:?}"),
        }
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (r#"{"bpm": "fast"}"#, "key `bpm`: expected a number"),
            (r#"{"bpm": 0}"#, "key `bpm`: 0 is outside 20..=400 bpm"),
            (r#"{"bpm": -5}"#, "key `bpm`: -5 is outside"),
            (r#"{"title": 3}"#, "key `title`: expected a string"),
            (
                r#"{"time_signature": "4:4"}"#,
                "key `time_signature`: \"4:4\" is not a time signature",
            ),
            (r#"{"time_signature": "5/3"}"#, "key `time_signature`"),
            (
                r#"{"time_signature": 4}"#,
                "key `time_signature`: expected a string",
            ),
            (r#"{"stems": 5}"#, "key `stems`: expected an object"),
            (r#"{"stems": "drums"}"#, "key `stems`: expected an object"),
            (
                r#"{"stems": {"drums": {"gain_db": "loud"}}}"#,
                "key `stems.drums.gain_db`: expected a number of dB",
            ),
            (
                r#"{"stems": {"drums": {"gain_db": 40}}}"#,
                "key `stems.drums.gain_db`: 40 dB is outside",
            ),
            (
                r#"{"stems": [{"name": "a"}, {"pan": 3, "name": "b"}]}"#,
                "key `stems[1].pan`: 3 is outside",
            ),
            (
                r#"{"stems": [{"name": "a"}, {"mute": true}]}"#,
                "key `stems[1]`: a stem needs a \"name\"",
            ),
            (
                r#"{"stems": {"a": {"mute": "yes"}}}"#,
                "key `stems.a.mute`: expected true or false",
            ),
            (
                r#"{"sections": [{"name": "a", "at_s": 1}, {"name": "b"}]}"#,
                "key `sections[1]`: needs at_s",
            ),
            (
                r#"{"sections": [{"at_s": 1, "bar": 2}]}"#,
                "key `sections[0]`: give either",
            ),
            (
                r#"{"sections": [{"at_s": -1}]}"#,
                "key `sections[0].at_s`: -1 s is before",
            ),
            (
                r#"{"sections": [{"bar": 0}]}"#,
                "key `sections[0].bar`: 0 is not a bar",
            ),
            (
                r#"{"sections": [{"bar": 5}]}"#,
                "key `sections[0].bar`: a bar position needs `bpm` or a `tempo_map`",
            ),
            (r#"{"sections": {"a": 1}}"#, "key `sections`"),
            (r#"[1, 2]"#, "expected a JSON object"),
            ("", "the file is empty"),
            ("{} {}", "malformed JSON at line 1, column 4"),
        ];
        for (text, want) in cases {
            let e = err(text);
            assert!(e.starts_with(want), "{text}\n  got:  {e}\n  want: {want}");
            assert!(!e.contains('\n'));
            if text.trim().len() > 2 {
                assert!(
                    e.contains(" at line 1, column "),
                    "{text}: no position in {e}"
                );
            }
        }
    }

    #[test]
    fn errors_point_at_the_value() {
        let text = "{\n  \"bpm\": 120,\n  \"stems\": {\n    \"bass\": {\"pan\": 2}\n  }\n}";
        assert_eq!(
            err(text),
            "key `stems.bass.pan`: 2 is outside -1 (left) ..= 1 (right) at line 4, column 21"
        );
        // Where serde's derive would take an array as an object's fields in order.
        for (text, want) in [
            (r#"{"sections": [["v", 1]]}"#, "key `sections[0]`: expected a section object, found an array at line 1, column 15"),
            (r#"{"stems": [["a", 1]]}"#, "key `stems[0]`: expected a stem object with a \"name\", found an array at line 1, column 12"),
            (r#"{"stems": {"a": [1]}}"#, "key `stems.a`: expected an object of stem settings, found an array at line 1, column 17"),
        ] {
            assert_eq!(err(text), want);
        }
        assert_eq!(
            err(r#"{"bpm": 90, "bpm": 100}"#),
            "key `bpm` is given twice; give it once at line 1, column 20"
        );
        assert_eq!(
            parse_song_json(b"{\"title\": \"\xff\"}").unwrap_err(),
            "not UTF-8 text at line 1, column 12 (byte 11)"
        );
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let m = parse("\u{feff}{\"bpm\": 96, \"title\": \"BOM\"}").unwrap();
        assert_eq!((m.bpm, m.title.as_deref()), (Some(96.0), Some("BOM")));
        // Positions do not count it, as editors do not show it.
        assert_eq!(
            err("\u{feff}{\"bpm\": -1}"),
            "key `bpm`: -1 is outside 20..=400 bpm at line 1, column 9"
        );
        assert!(err("\u{feff}").starts_with("the file is empty"));
        assert!(err("\u{feff}\u{feff}{}").starts_with("malformed JSON"));
    }

    #[test]
    fn truncated_and_garbage_files_fail_cleanly() {
        let full = r#"{"title": "a", "bpm": 120, "stems": {"d": {"gain_db": -1}}, "sections": [{"name": "v", "at_s": 1}]}"#;
        for cut in 0..full.len() {
            assert!(parse(&full[..cut]).is_err(), "cut at {cut}");
        }
        assert!(parse(full).is_ok());
        for junk in [
            &b"\xff\xfe"[..],
            b"{\"title\": \"\xff\"}",
            b"{\"a\"",
            b"nul",
            b"{,}",
        ] {
            let _ = parse_song_json(junk);
        }
    }

    #[test]
    fn a_single_bpm_is_a_one_change_map() {
        let m = parse(r#"{"bpm": 90, "time_signature": "3/4"}"#).unwrap();
        let sig = TimeSignature::parse("3/4").unwrap();
        assert_eq!(
            m.tempo,
            vec![TempoChange {
                bar: 1,
                bpm: 90.0,
                time_signature: sig
            }]
        );
        assert_eq!(m.tempo_map(48_000).unwrap().frame_of_bar(2.0), 96_000.0);
        assert_eq!(parse("{}").unwrap().tempo_map(48_000), None);
        assert!(parse(r#"{"time_signature": "3/4"}"#)
            .unwrap()
            .tempo
            .is_empty());
        // Top-level bpm takes the map's range too.
        for bad in ["19.99", "400.5", "1e400", "-0", "\"NaN\""] {
            let text = format!(r#"{{"bpm": {bad}}}"#);
            assert!(
                err(&text).starts_with("key `bpm`"),
                "{text}: {}",
                err(&text)
            );
        }
    }

    #[test]
    fn a_tempo_map_places_sections_and_keeps_what_a_change_leaves_out() {
        // 2 bars of 4/4 at 120 (the song's bpm), a 3/4 bar, then 90 bpm (still 3/4), then
        // 4/4 at 90 from bar 6.
        let m = parse(
            r#"{"bpm": 120, "click": true,
                "tempo_map": [ {"bar": 3, "time_signature": "3/4"},
                               {"bar": 4, "bpm": 90},
                               {"bar": 6, "time_signature": "4/4", "bpm": null} ],
                "sections": [ {"name": "c", "bar": 6}, {"name": "b", "bar": 4},
                              {"name": "a", "bar": 3.5} ]}"#,
        )
        .unwrap();
        assert_eq!(m.click, Some(true));
        let got: Vec<(u32, f64, u32, u32)> = m
            .tempo
            .iter()
            .map(|c| {
                let t = c.time_signature;
                (c.bar, c.bpm, t.beats_per_bar, t.beat_unit)
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (1, 120.0, 4, 4),
                (3, 120.0, 3, 4),
                (4, 90.0, 3, 4),
                (6, 90.0, 4, 4)
            ]
        );
        // bar 3 at 4 s, half of a 1.5 s bar later; bar 4 at 5.5 s; two 3/4 bars at 90 = 4 s.
        let at: Vec<(&str, f64)> = m
            .sections
            .iter()
            .map(|s| (s.name.as_str(), s.at_s))
            .collect();
        assert_eq!(at, vec![("a", 4.75), ("b", 5.5), ("c", 9.5)]);
        assert_eq!(
            m.section_frames(48_000),
            vec![
                ("a".to_string(), 228_000),
                ("b".to_string(), 264_000),
                ("c".to_string(), 456_000)
            ]
        );
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
        // Without the song's bpm a map starting at bar 1 is enough.
        let m = parse(r#"{"tempo_map": [{"bar": 1, "bpm": 100, "time_signature": "6/8"}], "sections": [{"bar": 2}]}"#).unwrap();
        assert!((m.sections[0].at_s - 1.8).abs() < 1e-12);
        assert_eq!(m.bpm, None);
        assert_eq!(m.tempo[0].time_signature.beat_unit, 8);
    }

    #[test]
    fn a_map_at_bar_one_replaces_the_song_bpm_with_a_warning() {
        let m = parse(r#"{"bpm": 100, "tempo_map": [{"bar": 1, "bpm": 120}]}"#).unwrap();
        assert_eq!(m.tempo.len(), 1);
        assert_eq!(m.tempo[0].bpm, 120.0);
        let w = m.warnings.join("\n");
        assert!(
            w.contains("tempo_map[0] at bar 1 replaces the song's bpm/time_signature (100 4/4) at line 1, column 28"),
            "{w}"
        );
        // The same values: nothing to warn about.
        let m =
            parse(r#"{"bpm": 100, "tempo_map": [{"bar": 1, "bpm": 100}, {"bar": 2, "bpm": 50}]}"#)
                .unwrap();
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
        assert_eq!(m.tempo.len(), 2);
        let m = parse(r#"{"tempo_map": [{"bar": 1, "bpm": 100, "colour": 1}]}"#).unwrap();
        assert!(
            m.warnings[0].contains(
                "unknown key `tempo_map[0].colour` ignored (known: bar, bpm, time_signature)"
            ),
            "{:?}",
            m.warnings
        );
    }

    #[test]
    fn hostile_tempo_maps_are_refused_naming_the_change() {
        let many = format!(
            r#"{{"bpm": 100, "tempo_map": [{}]}}"#,
            (2..=258)
                .map(|b| format!(r#"{{"bar": {b}, "bpm": 100}}"#))
                .collect::<Vec<_>>()
                .join(",")
        );
        let cases = [
            (r#"{"tempo_map": []}"#, "key `tempo_map`: an empty tempo map"),
            (many.as_str(), "key `tempo_map`: 257 tempo changes; at most 256"),
            (r#"{"tempo_map": {"bar": 1}}"#, "key `tempo_map`: expected an array of {\"bar\""),
            (r#"{"tempo_map": [1]}"#, "key `tempo_map[0]`: expected a tempo change object"),
            (r#"{"tempo_map": [[1, 120]]}"#, "key `tempo_map[0]`: expected a tempo change object like {\"bar\": 9, \"bpm\": 96}, found an array"),
            (r#"{"tempo_map": [{"bpm": 120}]}"#, "key `tempo_map[0]`: a tempo change needs a \"bar\""),
            (r#"{"tempo_map": [{"bar": 1}]}"#, "key `tempo_map[0]`: a tempo change needs \"bpm\", \"time_signature\" or both"),
            (r#"{"tempo_map": [{"bar": 0, "bpm": 90}]}"#, "key `tempo_map[0].bar`: 0 is not a bar"),
            (r#"{"tempo_map": [{"bar": -2, "bpm": 90}]}"#, "key `tempo_map[0].bar`: expected a bar number"),
            (r#"{"tempo_map": [{"bar": 2.5, "bpm": 90}]}"#, "key `tempo_map[0].bar`: expected a bar number (1 = first bar), found 2.5"),
            (r#"{"tempo_map": [{"bar": 1e20, "bpm": 90}]}"#, "key `tempo_map[0].bar`: expected a bar number"),
            (r#"{"tempo_map": [{"bar": "9", "bpm": 90}]}"#, "key `tempo_map[0].bar`: expected a bar number"),
            (r#"{"tempo_map": [{"bar": 1, "bpm": 19}]}"#, "key `tempo_map[0].bpm`: 19 is outside 20..=400 bpm"),
            (r#"{"tempo_map": [{"bar": 1, "bpm": 1e999}]}"#, "key `tempo_map[0].bpm`"),
            (r#"{"tempo_map": [{"bar": 1, "bpm": "NaN"}]}"#, "key `tempo_map[0].bpm`: expected a number"),
            (r#"{"tempo_map": [{"bar": 1, "bpm": 90, "time_signature": "4/0"}]}"#, "key `tempo_map[0].time_signature`: \"4/0\" is not a time signature"),
            (r#"{"tempo_map": [{"bar": 1, "bpm": 90, "time_signature": "33/4"}]}"#, "key `tempo_map[0].time_signature`"),
            (r#"{"tempo_map": [{"bar": 1, "bpm": 90, "time_signature": "NaN/4"}]}"#, "key `tempo_map[0].time_signature`"),
            (r#"{"tempo_map": [{"bar": 5, "bpm": 90}]}"#, "key `tempo_map[0].bar`: the tempo before bar 5 is not known"),
            (r#"{"tempo_map": [{"bar": 5, "time_signature": "3/4"}]}"#, "key `tempo_map[0].bar`: the tempo before bar 5"),
            (r#"{"tempo_map": [{"bar": 1, "time_signature": "3/4"}]}"#, "key `tempo_map[0]`: the first change needs a \"bpm\""),
            (r#"{"bpm": 90, "tempo_map": [{"bar": 5, "bpm": 80}, {"bar": 5, "bpm": 70}]}"#, "key `tempo_map[1].bar`: bar 5 does not come after the change before it (bar 5)"),
            (r#"{"bpm": 90, "tempo_map": [{"bar": 9, "bpm": 80}, {"bar": 3, "bpm": 70}]}"#, "key `tempo_map[1].bar`: bar 3 does not come after"),
            (r#"{"bpm": 90, "tempo_map": [{"bar": 3, "bpm": 80}, {"bar": 1, "bpm": 70}]}"#, "key `tempo_map[1].bar`: bar 1 does not come after"),
            (r#"{"click": "yes"}"#, "key `click`: expected true or false"),
            (r#"{"click": 1}"#, "key `click`: expected true or false"),
        ];
        for (text, want) in cases {
            let e = err(text);
            assert!(e.starts_with(want), "{text}\n  got:  {e}\n  want: {want}");
            assert!(!e.contains('\n'));
            assert!(
                e.contains(" at line 1, column "),
                "{text}: no position in {e}"
            );
        }
        // A file cut anywhere fails cleanly.
        let full = r#"{"bpm": 120, "tempo_map": [{"bar": 3, "bpm": 96, "time_signature": "7/8"}], "click": false}"#;
        for cut in 0..full.len() {
            assert!(parse(&full[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(parse(full).unwrap().tempo.len(), 2);
    }

    #[test]
    fn load_names_the_file_and_missing_is_fine() {
        let dir = std::env::temp_dir().join(format!("stembox-songmeta-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("song.json");
        let _ = std::fs::remove_file(&path);
        assert_eq!(load_song_json(&path), Ok(None));
        std::fs::write(&path, r#"{"bpm": "x"}"#).unwrap();
        let e = load_song_json(&path).unwrap_err();
        assert!(
            e.starts_with(&format!("{}: key `bpm`", path.display())),
            "{e}"
        );
        assert!(e.ends_with("playing the song with defaults"), "{e}");
        std::fs::write(&path, r#"{"bpm": 99}"#).unwrap();
        assert_eq!(load_song_json(&path).unwrap().unwrap().bpm, Some(99.0));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_stem_colour_is_read_and_a_bad_one_is_a_warning() {
        let m =
            parse(r##"{"stems": {"drums": {"colour": "#E0a030"}, "bass": {"colour": "red"}}}"##)
                .unwrap();
        assert_eq!(m.stem("drums").unwrap().colour, Some(0xe0a030));
        assert_eq!(m.stem("bass").unwrap().colour, None);
        let w = m.warnings.join("\n");
        assert!(
            w.contains("\"bass\" colour: \"red\" is not a colour"),
            "{w}"
        );
    }
}
