//! `song.json`: a song's optional metadata (title, tempo, metre, per-stem defaults, section
//! markers), read with serde-json-core by the loader thread when it loads a song.
//!
//! Every key is optional; unknown keys are reported as warnings and ignored. A bad file
//! gives one message naming the file and the key, e.g.
//! ``.../song.json: key `sections[2].bar`: a bar position needs `bpm` ``, and the caller
//! plays the song with defaults.
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

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::path::Path;

/// Largest `song.json` read; a real one is a few hundred bytes.
pub const MAX_SONG_JSON_BYTES: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeSignature {
    /// The upper number: beats in a bar (and clicks in a count-in bar).
    pub beats_per_bar: u32,
    /// The lower number: the note value of a beat (4 = quarter, 8 = eighth).
    pub beat_unit: u32,
}

impl Default for TimeSignature {
    fn default() -> Self {
        TimeSignature {
            beats_per_bar: 4,
            beat_unit: 4,
        }
    }
}

impl TimeSignature {
    /// Parses `"4/4"`, `"6/8"`, `"7/16"`.
    pub fn parse(text: &str) -> Result<TimeSignature, String> {
        let bad = || {
            format!(
                "\"{text}\" is not a time signature like \"4/4\" or \"6/8\" \
                 (1..=32 beats of 1, 2, 4, 8, 16 or 32)"
            )
        };
        let (n, d) = text.trim().split_once('/').ok_or_else(bad)?;
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        let d: u32 = d.trim().parse().map_err(|_| bad())?;
        if !(1..=32).contains(&n) || ![1, 2, 4, 8, 16, 32].contains(&d) {
            return Err(bad());
        }
        Ok(TimeSignature {
            beats_per_bar: n,
            beat_unit: d,
        })
    }

    /// Seconds of one beat (one `beat_unit` note) at `bpm` quarter notes per minute.
    pub fn beat_s(&self, bpm: f64) -> f64 {
        60.0 / bpm * 4.0 / self.beat_unit as f64
    }

    /// Seconds of one bar at `bpm` quarter notes per minute.
    pub fn bar_s(&self, bpm: f64) -> f64 {
        self.beat_s(bpm) * self.beats_per_bar as f64
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
    /// A free-form routing name, e.g. `click` or `monitor`.
    pub bus: Option<String>,
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
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
    };
    if bytes.len() > MAX_SONG_JSON_BYTES {
        return Err(format!(
            "{}: {} bytes, the limit is {MAX_SONG_JSON_BYTES}",
            path.display(),
            bytes.len()
        ));
    }
    parse_song_json(&bytes)
        .map(Some)
        .map_err(|e| format!("{}: {e}; playing the song with defaults", path.display()))
}

/// Parses `song.json` text. Errors name the key, e.g. `key `bpm`: must be above 0`.
pub fn parse_song_json(bytes: &[u8]) -> Result<SongMeta, String> {
    let ctx = json::Ctx::default();
    let mut scratch = [0u8; 1024];
    let mut de = serde_json_core::de::Deserializer::new(bytes, Some(&mut scratch));
    let raw = TopSeed(&ctx)
        .deserialize(&mut de)
        .and_then(|raw| de.end().map(|_| raw))
        .map_err(|e| ctx.message(e, "a JSON object"))?;
    resolve(raw, ctx.take_warnings())
}

/// A section as written: position in seconds or bars, resolved once `bpm` is known.
struct RawSection {
    index: usize,
    name: Option<String>,
    at_s: Option<f64>,
    bar: Option<f64>,
}

#[derive(Default)]
struct RawSong {
    title: Option<String>,
    bpm: Option<f64>,
    time_signature: Option<TimeSignature>,
    stems: Vec<StemMeta>,
    sections: Vec<RawSection>,
}

fn resolve(raw: RawSong, mut warnings: Vec<String>) -> Result<SongMeta, String> {
    let metre = raw.time_signature.unwrap_or_default();
    let mut sections = Vec::with_capacity(raw.sections.len());
    for s in raw.sections {
        let at_s = match (s.at_s, s.bar) {
            (Some(t), None) => t,
            (None, Some(bar)) => match raw.bpm {
                Some(bpm) => (bar - 1.0) * metre.bar_s(bpm),
                None => {
                    return Err(format!(
                        "key `sections[{}].bar`: a bar position needs `bpm` (or give at_s)",
                        s.index
                    ))
                }
            },
            // Checked while parsing.
            _ => 0.0,
        };
        let name = s.name.unwrap_or_else(|| format!("section {}", s.index + 1));
        sections.push(SectionMeta { name, at_s });
    }
    sections.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    let mut stems: Vec<StemMeta> = Vec::with_capacity(raw.stems.len());
    for s in raw.stems {
        if let Some(old) = stems.iter_mut().find(|o| o.name == s.name) {
            warnings.push(format!(
                "stems: \"{}\" is given twice; the last one counts",
                s.name
            ));
            *old = s;
        } else {
            stems.push(s);
        }
    }
    Ok(SongMeta {
        title: raw.title.filter(|t| !t.trim().is_empty()),
        bpm: raw.bpm,
        time_signature: raw.time_signature,
        stems,
        sections,
        warnings,
    })
}

struct TopSeed<'c>(&'c json::Ctx);

impl<'de> DeserializeSeed<'de> for TopSeed<'_> {
    type Value = RawSong;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<RawSong, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_> {
    type Value = RawSong;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a song.json object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawSong, A::Error> {
        let ctx = self.0;
        let mut song = RawSong::default();
        while let Some(json::Text(key)) = map.next_key()? {
            ctx.push_key(&key);
            match key.as_str() {
                "title" => {
                    song.title = ctx
                        .value::<_, Option<json::Text>>(&mut map, "a string")?
                        .map(|t| t.0)
                }
                "bpm" => {
                    let bpm = ctx.value::<_, Option<f64>>(&mut map, "a number")?;
                    if let Some(b) = bpm {
                        if !(b > 0.0 && b <= 1000.0) {
                            return Err(ctx.fail(format!("{b} is outside 0 < bpm <= 1000")));
                        }
                    }
                    song.bpm = bpm;
                }
                "time_signature" => {
                    let text =
                        ctx.value::<_, Option<json::Text>>(&mut map, "a string like \"4/4\"")?;
                    song.time_signature = match text {
                        Some(t) => Some(TimeSignature::parse(&t.0).map_err(|e| ctx.fail(e))?),
                        None => None,
                    };
                }
                "stems" => song.stems = map.next_value_seed(StemsSeed(ctx))?,
                "sections" => {
                    ctx.expect("an array of {\"name\", \"at_s\" or \"bar\"} objects");
                    song.sections = map.next_value_seed(SectionsSeed(ctx))?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    ctx.warn(format!(
                        "unknown key `{key}` ignored (known: title, bpm, time_signature, stems, sections)"
                    ));
                }
            }
            ctx.pop();
        }
        Ok(song)
    }
}

/// `stems`: an object keyed by stem name, or an array of objects with `name`.
struct StemsSeed<'c>(&'c json::Ctx);

impl<'de> DeserializeSeed<'de> for StemsSeed<'_> {
    type Value = Vec<StemMeta>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Vec<StemMeta>, D::Error> {
        // serde-json-core cannot deserialize_any; its ignored_any dispatches on the first
        // character (object, array, string, other), which is exactly the choice needed here.
        d.deserialize_ignored_any(self)
    }
}

impl<'de> Visitor<'de> for StemsSeed<'_> {
    type Value = Vec<StemMeta>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object or an array of stems")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<StemMeta>, A::Error> {
        let mut out = Vec::new();
        while let Some(json::Text(name)) = map.next_key()? {
            self.0.push_key(&name);
            out.push(map.next_value_seed(StemSeed(self.0, Some(name)))?);
            self.0.pop();
        }
        Ok(out)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<StemMeta>, A::Error> {
        let mut out = Vec::new();
        loop {
            self.0.push_index(out.len());
            match seq.next_element_seed(StemSeed(self.0, None))? {
                Some(s) => out.push(s),
                None => {
                    self.0.pop();
                    return Ok(out);
                }
            }
            self.0.pop();
        }
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Vec<StemMeta>, E> {
        Err(self
            .0
            .fail("must be an object (stem name -> settings) or an array of stems"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Vec<StemMeta>, E> {
        Err(self
            .0
            .fail("must be an object (stem name -> settings) or an array of stems"))
    }
}

/// One stem's settings; `name` is known already in the object form.
struct StemSeed<'c>(&'c json::Ctx, Option<String>);

impl<'de> DeserializeSeed<'de> for StemSeed<'_> {
    type Value = StemMeta;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<StemMeta, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for StemSeed<'_> {
    type Value = StemMeta;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a stem object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StemMeta, A::Error> {
        let ctx = self.0;
        let in_object = self.1.is_some();
        let mut s = StemMeta {
            name: self.1.unwrap_or_default(),
            ..StemMeta::default()
        };
        while let Some(json::Text(key)) = map.next_key()? {
            ctx.push_key(&key);
            match key.as_str() {
                "name" if !in_object => {
                    s.name = ctx.value::<_, json::Text>(&mut map, "a string")?.0;
                }
                "gain_db" => {
                    let g = ctx.value::<_, Option<f32>>(&mut map, "a number of dB")?;
                    if let Some(g) = g {
                        if !(-120.0..=24.0).contains(&g) {
                            return Err(ctx.fail(format!("{g} dB is outside -120..=24 dB")));
                        }
                    }
                    s.gain_db = g;
                }
                "pan" => {
                    let p = ctx.value::<_, Option<f32>>(&mut map, "a number from -1 to 1")?;
                    if let Some(p) = p {
                        if !(-1.0..=1.0).contains(&p) {
                            return Err(ctx.fail(format!("{p} is outside -1 (left) ..= 1 (right)")));
                        }
                    }
                    s.pan = p;
                }
                "mute" => s.mute = ctx.value::<_, Option<bool>>(&mut map, "true or false")?,
                "bus" => {
                    s.bus = ctx
                        .value::<_, Option<json::Text>>(&mut map, "a string")?
                        .map(|t| t.0)
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    ctx.warn(format!(
                        "unknown key `{}` ignored (known: name, gain_db, pan, mute, bus)",
                        ctx.path()
                    ));
                }
            }
            ctx.pop();
        }
        if s.name.trim().is_empty() {
            return Err(ctx.fail("a stem needs a \"name\" (the file name without extension)"));
        }
        Ok(s)
    }
}

struct SectionsSeed<'c>(&'c json::Ctx);

impl<'de> DeserializeSeed<'de> for SectionsSeed<'_> {
    type Value = Vec<RawSection>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Vec<RawSection>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for SectionsSeed<'_> {
    type Value = Vec<RawSection>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of sections")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<RawSection>, A::Error> {
        let mut out = Vec::new();
        loop {
            self.0.push_index(out.len());
            match seq.next_element_seed(SectionSeed(self.0, out.len()))? {
                Some(s) => out.push(s),
                None => {
                    self.0.pop();
                    return Ok(out);
                }
            }
            self.0.pop();
        }
    }
}

struct SectionSeed<'c>(&'c json::Ctx, usize);

impl<'de> DeserializeSeed<'de> for SectionSeed<'_> {
    type Value = RawSection;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<RawSection, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SectionSeed<'_> {
    type Value = RawSection;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a section object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawSection, A::Error> {
        let ctx = self.0;
        let mut s = RawSection {
            index: self.1,
            name: None,
            at_s: None,
            bar: None,
        };
        while let Some(json::Text(key)) = map.next_key()? {
            ctx.push_key(&key);
            match key.as_str() {
                "name" => {
                    s.name = ctx
                        .value::<_, Option<json::Text>>(&mut map, "a string")?
                        .map(|t| t.0)
                }
                "at_s" => {
                    let t = ctx.value::<_, Option<f64>>(&mut map, "a number of seconds")?;
                    if let Some(t) = t {
                        if !(t.is_finite() && t >= 0.0) {
                            return Err(ctx.fail(format!("{t} s is before the song's start")));
                        }
                    }
                    s.at_s = t;
                }
                "bar" => {
                    let b =
                        ctx.value::<_, Option<f64>>(&mut map, "a bar number (1 = first bar)")?;
                    if let Some(b) = b {
                        if !(b.is_finite() && b >= 1.0) {
                            return Err(ctx.fail(format!("{b} is not a bar (the first bar is 1)")));
                        }
                    }
                    s.bar = b;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    ctx.warn(format!(
                        "unknown key `{}` ignored (known: name, at_s, bar)",
                        ctx.path()
                    ));
                }
            }
            ctx.pop();
        }
        match (s.at_s, s.bar) {
            (Some(_), Some(_)) => Err(ctx.fail("give either at_s or bar, not both")),
            (None, None) => Err(ctx.fail("needs at_s (seconds) or bar (1 = the first bar)")),
            _ => Ok(s),
        }
    }
}

/// Helpers for reading JSON with serde-json-core while knowing where an error happened:
/// its errors are plain codes, so the visitors keep the key path on the side.
pub(crate) mod json {
    use serde::de::{self, Deserialize, MapAccess, Visitor};
    use std::cell::RefCell;
    use std::fmt;

    /// An owned string from any JSON string (escaped or not).
    pub struct Text(pub String);

    impl<'de> Deserialize<'de> for Text {
        fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
            struct V;
            impl Visitor<'_> for V {
                type Value = Text;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a string")
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                    Ok(Text(v.to_string()))
                }
            }
            d.deserialize_str(V)
        }
    }

    enum Seg {
        Key(String),
        Index(usize),
    }

    /// The path being read (`sections[2].bar`), what was expected there, and a message
    /// when a visitor refused a value.
    #[derive(Default)]
    pub struct Ctx {
        path: RefCell<Vec<Seg>>,
        expect: RefCell<Option<&'static str>>,
        problem: RefCell<Option<String>>,
        warnings: RefCell<Vec<String>>,
    }

    impl Ctx {
        pub fn push_key(&self, k: &str) {
            self.path.borrow_mut().push(Seg::Key(k.to_string()));
        }

        pub fn push_index(&self, i: usize) {
            self.path.borrow_mut().push(Seg::Index(i));
        }

        pub fn pop(&self) {
            self.path.borrow_mut().pop();
            *self.expect.borrow_mut() = None;
        }

        pub fn expect(&self, what: &'static str) {
            *self.expect.borrow_mut() = Some(what);
        }

        pub fn path(&self) -> String {
            let mut s = String::new();
            for seg in self.path.borrow().iter() {
                match seg {
                    Seg::Key(k) if s.is_empty() => s.push_str(k),
                    Seg::Key(k) => {
                        s.push('.');
                        s.push_str(k);
                    }
                    Seg::Index(i) => s.push_str(&format!("[{i}]")),
                }
            }
            s
        }

        /// Reads the current key's value as `T`, noting what was expected for the message.
        pub fn value<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
            &self,
            map: &mut A,
            what: &'static str,
        ) -> Result<T, A::Error> {
            self.expect(what);
            let v = map.next_value::<T>()?;
            *self.expect.borrow_mut() = None;
            Ok(v)
        }

        /// A refusal with a message; the path at this moment is where it happened.
        pub fn fail<E: de::Error>(&self, msg: impl Into<String>) -> E {
            *self.problem.borrow_mut() = Some(msg.into());
            E::custom("refused")
        }

        pub fn warn(&self, msg: String) {
            self.warnings.borrow_mut().push(msg);
        }

        pub fn take_warnings(&self) -> Vec<String> {
            std::mem::take(&mut self.warnings.borrow_mut())
        }

        /// The one-line message for a failed parse.
        pub fn message(&self, e: serde_json_core::de::Error, top: &str) -> String {
            let path = self.path();
            let what = match self.problem.borrow_mut().take() {
                Some(p) => p,
                None => match *self.expect.borrow() {
                    Some(x) => format!("expected {x} ({e})"),
                    None if path.is_empty() => format!("expected {top} ({e})"),
                    None => format!("{e}"),
                },
            };
            if path.is_empty() {
                what
            } else {
                format!("key `{path}`: {what}")
            }
        }
    }
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
            (click.mute, click.bus.as_deref()),
            (Some(true), Some("monitor"))
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
        assert!(w.contains("unknown key `tittle`"), "{w}");
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
            (r#"{"bpm": 0}"#, "key `bpm`: 0 is outside 0 < bpm <= 1000"),
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
            (r#"{"stems": 5}"#, "key `stems`: must be an object"),
            (r#"{"stems": "drums"}"#, "key `stems`: must be an object"),
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
                "key `sections[0].bar`: a bar position needs `bpm`",
            ),
            (r#"{"sections": {"a": 1}}"#, "key `sections`"),
            (r#"[1, 2]"#, "expected a JSON object"),
            ("", "expected a JSON object"),
            ("{} {}", "expected a JSON object"),
        ];
        for (text, want) in cases {
            let e = err(text);
            assert!(e.starts_with(want), "{text}\n  got:  {e}\n  want: {want}");
            assert!(!e.contains('\n'));
        }
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
}
