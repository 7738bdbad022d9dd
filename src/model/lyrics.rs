//! Lyrics and chords in song time: `<song>/lyrics.lrc` (the common LRC format, with inline
//! ChordPro chords) and `song.json`'s `"chords"` placed on the tempo map. Pure parsing (the
//! loader thread reads the file through [`load_lyrics`] and `stembox check` shows what it
//! found); the page, OSC and the display ask [`line_at`] / [`chord_at`] which line and
//! chord are current.
//!
//! ```text
//! [ti:Intro]
//! [offset:+250]
//! [00:12.00][01:02.50][Am]Hello [G/B]world
//! [00:15.300]second line
//! ```
//!
//! - Stamps are `[mm:ss]`, `[mm:ss.x]`, `[mm:ss.xx]` or `[mm:ss.xxx]`; a line with several
//!   stamps is repeated at each. Enhanced-LRC word stamps (`<00:12.34>`) are dropped.
//! - `[offset:+/-ms]` follows the LRC convention: a positive offset shows the lyrics
//!   earlier (every stamp minus the offset); it applies to the whole file wherever it is.
//! - ID tags (`[ti:]`, `[ar:]`, `[al:]`, `[by:]`, `[length:]`) are kept in [`LrcTags`];
//!   other tags (`[re:]`, `[ve:]`, ...) are ignored.
//! - Inside the text, `[Am]`-style groups that are chord names by [`is_chord`] become
//!   [`ChordMark`]s on the line (the text keeps no brackets); any other bracket group stays
//!   text (`[Chorus]`), so a stamp is never taken for a chord.
//!
//! Problems that cost one line are warnings (the line is skipped): a line without a stamp,
//! a malformed stamp, a stamp inside the text. Problems that cost the whole file are errors
//! ([`LyricsError`]): it cannot be read, is not UTF-8, has more than [`MAX_LRC_LINES`]
//! lines, a malformed `[offset:]` (every time would be wrong), or text but no timed line at
//! all (not an LRC file). Each names the file and, where there is one, the 1-based line:
//! `lyrics.lrc:7: stamp "[1:7a]" is not mm:ss.xx`.

use super::view::{ChordAt, ChordMark, LyricLine};
use crate::model::tempo::TempoMap;
use std::fmt;
use std::path::Path;

/// The file a song's lyrics are read from, in its folder.
pub const LYRICS_FILE: &str = "lyrics.lrc";
/// Largest `lyrics.lrc` read: a long song's lyrics are a few kilobytes.
pub const MAX_LRC_BYTES: u64 = 1024 * 1024;
/// Most lines a `lyrics.lrc` may have.
pub const MAX_LRC_LINES: usize = 10_000;
/// Warnings kept per file; the rest are only counted ([`Lyrics::warnings_dropped`]).
pub const MAX_LRC_WARNINGS: usize = 50;
/// Most chords `song.json`'s `"chords"` may list.
pub const MAX_JSON_CHORDS: usize = 4096;
/// Longest chord name (`F#m7b5/C#` is 9).
pub const MAX_CHORD_CHARS: usize = 16;

/// The ID tags of an LRC file that stembox keeps.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LrcTags {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    /// Who made the LRC file.
    pub by: Option<String>,
    /// `[length:]` as written (`3:45`).
    pub length: Option<String>,
}

/// A line skipped, and why (shown by `stembox check`).
#[derive(Clone, Debug, PartialEq)]
pub struct LrcWarning {
    pub file: String,
    /// 1-based.
    pub line: usize,
    pub why: String,
}

impl fmt::Display for LrcWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}; line skipped", self.file, self.line, self.why)
    }
}

/// A parsed `lyrics.lrc`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lyrics {
    /// In time order (stable: lines with the same stamp keep the file's order), offset
    /// applied.
    pub lines: Vec<LyricLine>,
    pub tags: LrcTags,
    /// The `[offset:]` applied, in ms (positive: earlier).
    pub offset_ms: i64,
    pub warnings: Vec<LrcWarning>,
    /// Warnings beyond [`MAX_LRC_WARNINGS`], counted only.
    pub warnings_dropped: usize,
}

impl Lyrics {
    /// One line for `stembox check`: `12 lines, 8 inline chords, offset +250 ms, 2 lines
    /// skipped` (the skipped lines are in [`Lyrics::warnings`]).
    pub fn summary(&self) -> String {
        let n =
            |count: usize, one: &str| format!("{count} {one}{}", if count == 1 { "" } else { "s" });
        let chords: usize = self.lines.iter().map(|l| l.chords.len()).sum();
        let mut s = n(self.lines.len(), "line");
        if chords > 0 {
            s.push_str(&format!(", {}", n(chords, "inline chord")));
        }
        if self.offset_ms != 0 {
            s.push_str(&format!(", offset {:+} ms", self.offset_ms));
        }
        let skipped = self.warnings.len() + self.warnings_dropped;
        if skipped > 0 {
            s.push_str(&format!(", {} skipped", n(skipped, "line")));
        }
        s
    }
}

/// Why a whole lyrics file was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum LyricsErrorKind {
    /// Opening or reading failed (the message of `storage::fsread`, which names the path).
    Read(String),
    /// Bytes that are not UTF-8 on this line.
    NotUtf8,
    TooManyLines {
        lines: usize,
    },
    /// `[offset:...]` with this value is not a whole number of ms.
    BadOffset {
        value: String,
    },
    /// Lines of text, none with a time stamp.
    NoTimedLine,
}

/// A lyrics file that costs its song its lyrics (the song still plays).
#[derive(Clone, Debug, PartialEq)]
pub struct LyricsError {
    pub file: String,
    /// 1-based, where the problem is on one line.
    pub line: Option<usize>,
    pub kind: LyricsErrorKind,
}

impl fmt::Display for LyricsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let LyricsErrorKind::Read(why) = &self.kind {
            return write!(f, "{why}");
        }
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        match &self.kind {
            LyricsErrorKind::Read(_) => Ok(()),
            LyricsErrorKind::NotUtf8 => write!(f, ": not UTF-8 text (save the file as UTF-8)"),
            LyricsErrorKind::TooManyLines { lines } => {
                write!(f, ": {lines} lines or more; at most {MAX_LRC_LINES}")
            }
            LyricsErrorKind::BadOffset { value } => write!(
                f,
                ": offset \"{value}\" is not a whole number of ms (e.g. [offset:+250])"
            ),
            LyricsErrorKind::NoTimedLine => write!(
                f,
                ": no line has a time stamp ([mm:ss.xx]); is it an LRC file?"
            ),
        }
    }
}

impl std::error::Error for LyricsError {}

/// Reads `<song>/lyrics.lrc` through `storage::fsread` (regular files only, at most
/// [`MAX_LRC_BYTES`]). `Ok(None)` when the song has none. Loader thread and `check`.
pub fn load_lyrics(path: &Path) -> Result<Option<Lyrics>, LyricsError> {
    let file = path.display().to_string();
    if let Err(e) = std::fs::symlink_metadata(path) {
        if e.kind() == std::io::ErrorKind::NotFound {
            return Ok(None);
        }
    }
    let bytes = crate::base::fsread::read_regular_file(path, LYRICS_FILE, MAX_LRC_BYTES).map_err(
        |why| LyricsError {
            file: file.clone(),
            line: None,
            kind: LyricsErrorKind::Read(why),
        },
    )?;
    parse_lrc(&bytes, &file).map(Some)
}

/// Parses LRC bytes; `file` names the file in messages. Pure; see the module doc.
pub fn parse_lrc(bytes: &[u8], file: &str) -> Result<Lyrics, LyricsError> {
    let fail = |line: Option<usize>, kind| LyricsError {
        file: file.to_string(),
        line,
        kind,
    };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        fail(Some(line), LyricsErrorKind::NotUtf8)
    })?;
    let mut out = Lyrics::default();
    // (stamp in ms before the offset, line) in file order.
    let mut timed: Vec<(i64, LyricLine)> = Vec::new();
    let mut untimed_text = false;
    let warn = |out: &mut Lyrics, line: usize, why: String| {
        if out.warnings.len() < MAX_LRC_WARNINGS {
            out.warnings.push(LrcWarning {
                file: file.to_string(),
                line,
                why,
            });
        } else {
            out.warnings_dropped += 1;
        }
    };
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        if n > MAX_LRC_LINES {
            return Err(fail(None, LyricsErrorKind::TooManyLines { lines: n }));
        }
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        match parse_line(line) {
            Parsed::Blank => {}
            Parsed::Tag(key, value) => match key.to_ascii_lowercase().as_str() {
                "offset" => {
                    out.offset_ms = parse_offset_ms(value).ok_or_else(|| {
                        fail(
                            Some(n),
                            LyricsErrorKind::BadOffset {
                                value: shown(value),
                            },
                        )
                    })?;
                }
                "ti" => out.tags.title = Some(value.trim().to_string()),
                "ar" => out.tags.artist = Some(value.trim().to_string()),
                "al" => out.tags.album = Some(value.trim().to_string()),
                "by" => out.tags.by = Some(value.trim().to_string()),
                "length" => out.tags.length = Some(value.trim().to_string()),
                _ => {}
            },
            Parsed::Timed {
                stamps_ms,
                text,
                chords,
                stamp_in_text,
            } => {
                if stamp_in_text {
                    warn(
                        &mut out,
                        n,
                        "a time stamp inside the text was dropped (one line per stamp)".into(),
                    );
                }
                for ms in stamps_ms {
                    timed.push((
                        ms,
                        LyricLine {
                            at_s: 0.0,
                            text: text.clone(),
                            chords: chords.clone(),
                        },
                    ));
                }
            }
            Parsed::BadStamp(stamp) => warn(
                &mut out,
                n,
                format!("stamp \"{}\" is not mm:ss.xx", shown(stamp)),
            ),
            Parsed::NoStamp => {
                untimed_text = true;
                warn(&mut out, n, "text without a time stamp [mm:ss.xx]".into());
            }
        }
    }
    if timed.is_empty() && untimed_text {
        return Err(fail(None, LyricsErrorKind::NoTimedLine));
    }
    let offset_ms = out.offset_ms;
    out.lines = timed
        .into_iter()
        .map(|(ms, mut l)| {
            l.at_s = ms.saturating_sub(offset_ms).max(0) as f64 / 1000.0;
            l
        })
        .collect();
    // Stable: lines at the same time keep the file's order.
    out.lines.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    Ok(out)
}

/// What one LRC line is.
#[derive(Debug, PartialEq)]
enum Parsed<'a> {
    Blank,
    Tag(&'a str, &'a str),
    Timed {
        stamps_ms: Vec<i64>,
        text: String,
        chords: Vec<ChordMark>,
        stamp_in_text: bool,
    },
    BadStamp(&'a str),
    NoStamp,
}

fn parse_line(line: &str) -> Parsed<'_> {
    let mut rest = line.trim_start();
    if rest.trim_end().is_empty() {
        return Parsed::Blank;
    }
    let mut stamps_ms = Vec::new();
    while let Some(inner) = rest.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            break;
        };
        let content = &inner[..close];
        if content.starts_with(|c: char| c.is_ascii_digit()) {
            match parse_stamp_ms(content) {
                Some(ms) => stamps_ms.push(ms),
                None => return Parsed::BadStamp(&rest[..close + 2]),
            }
        } else if stamps_ms.is_empty() {
            if let Some((key, value)) = content.split_once(':') {
                if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphabetic()) {
                    return Parsed::Tag(key, value);
                }
            }
            break;
        } else {
            // Text begins with a bracket group (a chord, `[Chorus]`).
            break;
        }
        rest = inner[close + 1..].trim_start();
    }
    if stamps_ms.is_empty() {
        return Parsed::NoStamp;
    }
    let (text, chords, stamp_in_text) = split_chords(rest);
    Parsed::Timed {
        stamps_ms,
        text,
        chords,
        stamp_in_text,
    }
}

/// The text without its chord groups, the chords by char offset, and whether a time stamp
/// was dropped from it. Enhanced-LRC `<mm:ss.xx>` word stamps are dropped silently.
fn split_chords(text: &str) -> (String, Vec<ChordMark>, bool) {
    let mut out = String::with_capacity(text.len());
    let mut out_chars = 0usize;
    let mut chords = Vec::new();
    let mut stamp_in_text = false;
    let mut rest = text;
    while let Some(open) = rest.find(['[', '<']) {
        let before = &rest[..open];
        out.push_str(before);
        out_chars += before.chars().count();
        let bracket = &rest[open..];
        let close_char = if bracket.starts_with('[') { ']' } else { '>' };
        let Some(close) = bracket[1..].find(close_char).map(|c| c + 1) else {
            out.push_str(bracket);
            rest = "";
            break;
        };
        let content = &bracket[1..close];
        let group = &bracket[..=close];
        if close_char == '>' {
            if parse_stamp_ms(content).is_none() {
                out.push_str(group);
                out_chars += group.chars().count();
            }
        } else if is_chord(content) {
            chords.push(ChordMark {
                at_char: out_chars,
                chord: content.to_string(),
            });
        } else if content.starts_with(|c: char| c.is_ascii_digit())
            && parse_stamp_ms(content).is_some()
        {
            stamp_in_text = true;
        } else {
            out.push_str(group);
            out_chars += group.chars().count();
        }
        rest = &bracket[close + 1..];
    }
    out.push_str(rest);
    let trimmed = out.trim_end();
    if trimmed.len() != out.len() {
        out.truncate(trimmed.len());
        let len = out.chars().count();
        for c in &mut chords {
            c.at_char = c.at_char.min(len);
        }
    }
    (out, chords, stamp_in_text)
}

/// `mm:ss`, `mm:ss.x`, `mm:ss.xx`, `mm:ss.xxx` (1 to 4 digits of minutes, 1 or 2 of
/// seconds below 60) in ms.
fn parse_stamp_ms(s: &str) -> Option<i64> {
    let (min, sec) = s.split_once(':')?;
    let (sec, frac) = match sec.split_once('.') {
        Some((s, f)) => (s, Some(f)),
        None => (sec, None),
    };
    let digits = |t: &str, lo: usize, hi: usize| {
        (lo..=hi).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(min, 1, 4) || !digits(sec, 1, 2) {
        return None;
    }
    let min: i64 = min.parse().ok()?;
    let sec: i64 = sec.parse().ok()?;
    if sec >= 60 {
        return None;
    }
    let frac_ms = match frac {
        None => 0,
        Some(f) if digits(f, 1, 3) => {
            let v: i64 = f.parse().ok()?;
            v * [100, 10, 1][f.len() - 1]
        }
        Some(_) => return None,
    };
    Some(min * 60_000 + sec * 1000 + frac_ms)
}

/// `+250`, `-100`, `0`: whole ms, within a day.
fn parse_offset_ms(value: &str) -> Option<i64> {
    let v = value.trim();
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ms: i64 = digits.parse().ok()?;
    Some(if v.starts_with('-') { -ms } else { ms })
}

/// At most 40 chars of what the user wrote, for a message.
fn shown(s: &str) -> String {
    let mut t: String = s.chars().take(40).collect();
    if t.len() < s.len() {
        t.push('…');
    }
    t
}

/// Whether `name` is a chord name: a root `A`-`G` with `#` or `b`, then an optional quality
/// (`m`, `min`, `maj`, `M`, `dim`, `aug`, `+`, `°`, `ø`), an optional extension (`5`, `6`,
/// `7`, `9`, `11`, `13`, `69`, or `maj7`/`maj9`/... after a quality), any alterations
/// (`sus`, `sus2`, `sus4`, `add2`/`4`/`9`/`11`/`13`, `b5`, `#5`, `b9`, `#9`, `#11`, `b13`),
/// and an optional bass `/B`. Strict on purpose: `[00:12]`, `[Chorus]` and `[Bridge]` are
/// not chords.
pub fn is_chord(name: &str) -> bool {
    if name.is_empty() || name.chars().count() > MAX_CHORD_CHARS {
        return false;
    }
    let (main, bass) = match name.split_once('/') {
        Some((m, b)) => (m, Some(b)),
        None => (name, None),
    };
    if let Some(b) = bass {
        match root(b) {
            Some("") => {}
            _ => return false,
        }
    }
    let Some(mut rest) = root(main) else {
        return false;
    };
    // Longest first, so `maj7` is not read as `m` + `aj7`.
    let mut minor = false;
    for q in ["maj", "min", "dim", "aug", "M", "m", "+", "°", "ø"] {
        if let Some(r) = rest.strip_prefix(q) {
            minor = q == "m" || q == "min";
            rest = r;
            break;
        }
    }
    // A minor chord may take a major seventh (`Cmmaj7`); other qualities a plain number.
    let minor_major = ["maj13", "maj11", "maj9", "maj7"];
    let plain = ["13", "11", "69", "9", "7", "6", "5"];
    let extensions = minor_major.iter().filter(|_| minor).chain(plain.iter());
    for e in extensions {
        if let Some(r) = rest.strip_prefix(e) {
            rest = r;
            break;
        }
    }
    let alterations = [
        "sus2", "sus4", "sus", "add13", "add11", "add9", "add4", "add2", "b13", "#11", "b9", "#9",
        "b5", "#5",
    ];
    'outer: while !rest.is_empty() {
        for a in alterations {
            if let Some(r) = rest.strip_prefix(a) {
                rest = r;
                continue 'outer;
            }
        }
        return false;
    }
    true
}

/// The rest after a root note (`A`-`G`, optional `#` or `b`), or `None`.
fn root(s: &str) -> Option<&str> {
    let rest = s.strip_prefix(['A', 'B', 'C', 'D', 'E', 'F', 'G'])?;
    Some(rest.strip_prefix(['#', 'b']).unwrap_or(rest))
}

/// The current line: the last one whose stamp is at or before `song_s` (lines sorted by
/// time, as [`parse_lrc`] gives them). `None` before the first line (or for NaN). Any
/// thread.
pub fn line_at(lines: &[LyricLine], song_s: f64) -> Option<usize> {
    lines.partition_point(|l| l.at_s <= song_s).checked_sub(1)
}

/// The current chord of a time-ordered list, as [`line_at`] for lines.
pub fn chord_at(chords: &[ChordAt], song_s: f64) -> Option<usize> {
    chords.partition_point(|c| c.at_s <= song_s).checked_sub(1)
}

/// A chord of `song.json`'s `"chords"`: on beat `beat` (1-based) of bar `bar` (1-based).
#[derive(Clone, Debug, PartialEq)]
pub struct BarChord {
    pub bar: u32,
    pub beat: u32,
    pub chord: String,
}

/// Parses the value of `song.json`'s `"chords"` key: a list of `{"bar": 9, "beat": 1,
/// "chord": "Am"}` (`beat` may be left out: 1). `null` is no chords. Errors name the
/// element and key (`chords[2].bar: 0 is not a bar (bars start at 1)`). Pure.
pub fn chords_from_json(v: &serde_json::Value) -> Result<Vec<BarChord>, String> {
    use serde_json::Value;
    let list = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(a) => a,
        _ => {
            return Err(
                "chords: a list of {\"bar\": 9, \"beat\": 1, \"chord\": \"Am\"} is expected".into(),
            )
        }
    };
    if list.len() > MAX_JSON_CHORDS {
        return Err(format!(
            "chords: {} chords; at most {MAX_JSON_CHORDS}",
            list.len()
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let Value::Object(obj) = item else {
            return Err(format!(
                "chords[{i}]: an object {{\"bar\": 9, \"beat\": 1, \"chord\": \"Am\"}} is expected"
            ));
        };
        if let Some(k) = obj
            .keys()
            .find(|k| !["bar", "beat", "chord"].contains(&k.as_str()))
        {
            return Err(format!(
                "chords[{i}]: unknown key `{}` (known: bar, beat, chord)",
                shown(k)
            ));
        }
        let whole = |key: &str, max: u64, needed: bool| -> Result<Option<u32>, String> {
            match obj.get(key) {
                None | Some(Value::Null) if needed => {
                    Err(format!("chords[{i}]: `{key}` is missing"))
                }
                None | Some(Value::Null) => Ok(None),
                Some(v) => match v.as_u64() {
                    Some(n) if (1..=max).contains(&n) => Ok(Some(n as u32)),
                    _ => Err(format!(
                        "chords[{i}].{key}: {} is not a whole number from 1 to {max}",
                        shown(&v.to_string())
                    )),
                },
            }
        };
        let bar = whole("bar", 100_000, true)?.unwrap_or(1);
        let beat = whole("beat", 64, false)?.unwrap_or(1);
        let chord = match obj.get("chord") {
            Some(Value::String(s)) if is_chord(s) => s.clone(),
            Some(Value::String(s)) => {
                return Err(format!(
                    "chords[{i}].chord: \"{}\" is not a chord name (e.g. Am, G/B, F#m7b5)",
                    shown(s)
                ))
            }
            None | Some(Value::Null) => return Err(format!("chords[{i}]: `chord` is missing")),
            Some(v) => {
                return Err(format!(
                    "chords[{i}].chord: {} is not a chord name (a string, e.g. \"Am\")",
                    shown(&v.to_string())
                ))
            }
        };
        out.push(BarChord { bar, beat, chord });
    }
    Ok(out)
}

/// Places bar chords in song time on the song's tempo map, sorted by time (stable). Pure;
/// the loader thread calls it with the map of `song.json`.
pub fn place_chords(chords: &[BarChord], map: &TempoMap) -> Vec<ChordAt> {
    let rate = map.rate() as f64;
    let mut out: Vec<ChordAt> = chords
        .iter()
        .map(|c| ChordAt {
            at_s: map.frame_of_beat(c.bar, c.beat) / rate,
            bar: Some(c.bar),
            beat: Some(c.beat),
            chord: c.chord.clone(),
        })
        .collect();
    out.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    out
}

/// The inline chords of the lyrics as a time-ordered list: each at its line's time (a
/// line's chords share its stamp, in text order). For a chord lane without lyrics.
pub fn inline_chords(lines: &[LyricLine]) -> Vec<ChordAt> {
    lines
        .iter()
        .flat_map(|l| {
            l.chords.iter().map(|c| ChordAt {
                at_s: l.at_s,
                bar: None,
                beat: None,
                chord: c.chord.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::songmeta::TimeSignature;

    fn lrc(text: &str) -> Lyrics {
        match parse_lrc(text.as_bytes(), "lyrics.lrc") {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        }
    }

    fn times(l: &Lyrics) -> Vec<(f64, &str)> {
        l.lines.iter().map(|l| (l.at_s, l.text.as_str())).collect()
    }

    #[test]
    fn stamps_of_every_precision() {
        let l = lrc("[00:01]a\n[00:02.5]b\n[00:03.25]c\n[00:04.125]d\n[12:34.56]e\n[0:5]f\n");
        assert_eq!(
            times(&l),
            vec![
                (1.0, "a"),
                (2.5, "b"),
                (3.25, "c"),
                (4.125, "d"),
                (5.0, "f"),
                (754.56, "e")
            ]
        );
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    }

    #[test]
    fn several_stamps_repeat_the_line_and_output_is_sorted_stably() {
        let l =
            lrc("[00:30.00][00:10.00]chorus\n[00:10.00]same time, later in file\n[00:20]verse\n");
        assert_eq!(
            times(&l),
            vec![
                (10.0, "chorus"),
                (10.0, "same time, later in file"),
                (20.0, "verse"),
                (30.0, "chorus")
            ]
        );
    }

    #[test]
    fn offset_positive_shows_lyrics_earlier_and_applies_everywhere() {
        let l = lrc("[00:10.00]a\n[offset:+500]\n[00:00.20]b\n");
        assert_eq!(l.offset_ms, 500);
        // 10 s - 0.5 s; 0.2 s - 0.5 s clamps at the song's start.
        assert_eq!(times(&l), vec![(0.0, "b"), (9.5, "a")]);
        let l = lrc("[offset:-250]\n[00:10.00]a\n");
        assert_eq!(times(&l), vec![(10.25, "a")]);
        let l = lrc("[offset: 0 ]\n[00:01]a\n");
        assert_eq!(l.offset_ms, 0);
    }

    #[test]
    fn a_bad_offset_costs_the_file_and_names_the_line() {
        let e = parse_lrc(b"[00:01]a\n[offset:soon]\n", "x/lyrics.lrc").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(matches!(e.kind, LyricsErrorKind::BadOffset { .. }));
        assert_eq!(
            e.to_string(),
            "x/lyrics.lrc:2: offset \"soon\" is not a whole number of ms (e.g. [offset:+250])"
        );
        assert!(parse_lrc(b"[offset:+]\n", "f").is_err());
        assert!(parse_lrc(b"[offset:1.5]\n", "f").is_err());
        assert!(parse_lrc(b"[offset:999999999999]\n", "f").is_err());
    }

    #[test]
    fn id_tags_are_kept_and_unknown_tags_ignored() {
        let l = lrc("[ti: Intro ]\n[ar:The Band]\n[al:First]\n[by:me]\n[length:3:45]\n[re:some editor]\n[ve:1.0]\n[00:01]go\n");
        assert_eq!(
            l.tags,
            LrcTags {
                title: Some("Intro".into()),
                artist: Some("The Band".into()),
                album: Some("First".into()),
                by: Some("me".into()),
                length: Some("3:45".into()),
            }
        );
        assert_eq!(times(&l), vec![(1.0, "go")]);
        assert!(l.warnings.is_empty());
    }

    #[test]
    fn crlf_bom_and_blank_lines() {
        let l = lrc("\u{feff}[ti:x]\r\n\r\n   \r\n[00:01.00]one\r\n[00:02.00]two  \r\n");
        assert_eq!(times(&l), vec![(1.0, "one"), (2.0, "two")]);
        assert!(l.warnings.is_empty());
        assert_eq!(l.tags.title.as_deref(), Some("x"));
    }

    #[test]
    fn a_summary_for_check() {
        let l = lrc("[offset:+250]\n[00:01][Am]a [G]b\n[00:02]c\nnope\n");
        assert_eq!(
            l.summary(),
            "2 lines, 2 inline chords, offset +250 ms, 1 line skipped"
        );
        assert_eq!(lrc("[00:01]a\n").summary(), "1 line");
    }

    #[test]
    fn an_empty_stamped_line_is_kept_to_clear_the_display() {
        let l = lrc("[00:01]sing\n[00:05]\n");
        assert_eq!(times(&l), vec![(1.0, "sing"), (5.0, "")]);
    }

    #[test]
    fn bad_stamps_and_unstamped_lines_are_warnings_with_line_numbers() {
        let l = lrc("[00:01]a\n[1:7a]x\nno stamp here\n[00:61.00]bad seconds\n[00:01.1234]too fine\n[00:02]b\n[00:03\n");
        assert_eq!(times(&l), vec![(1.0, "a"), (2.0, "b")]);
        let shown: Vec<String> = l.warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(
            shown,
            vec![
                "lyrics.lrc:2: stamp \"[1:7a]\" is not mm:ss.xx; line skipped",
                "lyrics.lrc:3: text without a time stamp [mm:ss.xx]; line skipped",
                "lyrics.lrc:4: stamp \"[00:61.00]\" is not mm:ss.xx; line skipped",
                "lyrics.lrc:5: stamp \"[00:01.1234]\" is not mm:ss.xx; line skipped",
                "lyrics.lrc:7: text without a time stamp [mm:ss.xx]; line skipped",
            ]
        );
    }

    #[test]
    fn text_without_any_stamp_is_not_an_lrc_file() {
        let e = parse_lrc(b"Hello darkness\nmy old friend\n", "lyrics.lrc").unwrap_err();
        assert_eq!(e.kind, LyricsErrorKind::NoTimedLine);
        assert!(e
            .to_string()
            .starts_with("lyrics.lrc: no line has a time stamp"));
        // Tags alone (or nothing) are an empty file, not an error.
        assert!(lrc("[ti:only tags]\n").lines.is_empty());
        assert!(lrc("").lines.is_empty());
    }

    #[test]
    fn not_utf8_names_the_line() {
        let e = parse_lrc(b"[00:01]a\n[00:02]b\n[00:03]\xff\xfe\n", "l.lrc").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert_eq!(e.kind, LyricsErrorKind::NotUtf8);
        assert_eq!(
            e.to_string(),
            "l.lrc:3: not UTF-8 text (save the file as UTF-8)"
        );
    }

    #[test]
    fn too_many_lines_costs_the_file() {
        let text = "[00:01]x\n".repeat(MAX_LRC_LINES);
        // 10,000 lines, each ending in a newline: still within.
        assert_eq!(lrc(&text).lines.len(), MAX_LRC_LINES);
        let text = format!("{text}[00:02]one more");
        let e = parse_lrc(text.as_bytes(), "l.lrc").unwrap_err();
        assert!(matches!(e.kind, LyricsErrorKind::TooManyLines { .. }));
    }

    #[test]
    fn warnings_are_bounded_and_counted() {
        let mut text = String::from("[00:01]a\n");
        for _ in 0..(MAX_LRC_WARNINGS + 7) {
            text.push_str("[xx:yy]\n");
        }
        // `[xx:yy]` is a tag-shaped line (letters before ':'), ignored: use bad stamps.
        let text = text.replace("[xx:yy]", "[9:9:9]");
        let l = lrc(&text);
        assert_eq!(l.warnings.len(), MAX_LRC_WARNINGS);
        assert_eq!(l.warnings_dropped, 7);
    }

    #[test]
    fn inline_chords_become_marks_and_leave_the_text() {
        let l = lrc("[00:12.00][Am]Hello [G/B]world\n");
        let line = &l.lines[0];
        assert_eq!(line.text, "Hello world");
        assert_eq!(
            line.chords,
            vec![
                ChordMark {
                    at_char: 0,
                    chord: "Am".into()
                },
                ChordMark {
                    at_char: 6,
                    chord: "G/B".into()
                }
            ]
        );
    }

    #[test]
    fn chord_offsets_count_chars_not_bytes_and_end_chords_clamp() {
        let l = lrc("[00:01]Grüße [C]an [F#m7b5]alle [G]  \n");
        let line = &l.lines[0];
        assert_eq!(line.text, "Grüße an alle");
        let at: Vec<(usize, &str)> = line
            .chords
            .iter()
            .map(|c| (c.at_char, c.chord.as_str()))
            .collect();
        assert_eq!(at, vec![(6, "C"), (9, "F#m7b5"), (13, "G")]);
    }

    #[test]
    fn bracket_words_stay_text_and_stamps_are_never_chords() {
        let l = lrc("[00:01][Chorus] sing [Bridge] [H7] [Am\n");
        assert_eq!(l.lines[0].text, "[Chorus] sing [Bridge] [H7] [Am");
        assert!(l.lines[0].chords.is_empty());
        // A stamp inside the text is dropped (with a warning), never a chord.
        let l = lrc("[00:01]one [00:02]two\n");
        assert_eq!(l.lines[0].text, "one two");
        assert!(l.lines[0].chords.is_empty());
        assert_eq!(l.warnings.len(), 1);
        assert_eq!(l.warnings[0].line, 1);
    }

    #[test]
    fn enhanced_lrc_word_stamps_are_dropped() {
        let l = lrc("[00:01.00]<00:01.00>Hel<00:01.50>lo <a>b\n");
        assert_eq!(l.lines[0].text, "Hello <a>b");
    }

    #[test]
    fn a_line_starting_with_a_chord_but_no_stamp_is_skipped() {
        let l = lrc("[00:01]a\n[Am]no stamp\n");
        assert_eq!(l.lines.len(), 1);
        assert_eq!(l.warnings[0].line, 2);
    }

    #[test]
    fn chord_grammar() {
        for ok in [
            "A", "Am", "A#", "Bb", "Bbmaj7", "C7", "Cmaj7", "CM7", "Dm7", "Dsus4", "Dsus2", "Dsus",
            "Bdim", "Bdim7", "Eaug", "E+", "Fadd9", "G11", "D13", "A9", "F#m7b5", "E7#9", "G/B",
            "Am7/G", "C/Bb", "C6", "C69", "A5", "Cmmaj7", "Gm9", "Bø", "C°7", "Abadd11", "C7sus4",
            "Amin", "Emadd9",
        ] {
            assert!(is_chord(ok), "{ok} should be a chord");
        }
        for bad in [
            "",
            "00:12",
            "0:5",
            "H7",
            "am",
            "Chorus",
            "Bridge",
            "Intro",
            "A/",
            "/B",
            "A/H",
            "Am7/G/B",
            "C7x",
            "Cmaj7maj7",
            "Xm",
            "A#b",
            "Csus5",
            "Amm",
            "ti:x",
            "C add9",
            "A ",
            "Gmaj7777777777777",
        ] {
            assert!(!is_chord(bad), "{bad:?} should not be a chord");
        }
    }

    #[test]
    fn line_at_is_the_last_line_at_or_before() {
        let l = lrc("[00:01]a\n[00:02]b\n[00:02]b2\n[00:05]c\n");
        let lines = &l.lines;
        assert_eq!(line_at(lines, 0.0), None);
        assert_eq!(line_at(lines, 0.999), None);
        assert_eq!(line_at(lines, 1.0), Some(0));
        assert_eq!(line_at(lines, 1.5), Some(0));
        assert_eq!(line_at(lines, 2.0), Some(2));
        assert_eq!(line_at(lines, 4.99), Some(2));
        assert_eq!(line_at(lines, 1e9), Some(3));
        assert_eq!(line_at(lines, f64::NAN), None);
        assert_eq!(line_at(&[], 3.0), None);
    }

    #[test]
    fn json_chords_parse_and_refuse_with_the_element_named() {
        let v: serde_json::Value = serde_json::from_str(
            r#"[{"bar": 9, "beat": 1, "chord": "Am"}, {"bar": 1, "chord": "G/B"}]"#,
        )
        .unwrap();
        assert_eq!(
            chords_from_json(&v).unwrap(),
            vec![
                BarChord {
                    bar: 9,
                    beat: 1,
                    chord: "Am".into()
                },
                BarChord {
                    bar: 1,
                    beat: 1,
                    chord: "G/B".into()
                }
            ]
        );
        assert_eq!(chords_from_json(&serde_json::Value::Null).unwrap(), vec![]);
        let err = |s: &str| chords_from_json(&serde_json::from_str(s).unwrap()).unwrap_err();
        assert_eq!(
            err(r#"[{"bar": 1, "chord": "Am"}, {"bar": 0, "chord": "C"}]"#),
            "chords[1].bar: 0 is not a whole number from 1 to 100000"
        );
        assert_eq!(
            err(r#"[{"bar": 2.5, "chord": "C"}]"#),
            "chords[0].bar: 2.5 is not a whole number from 1 to 100000"
        );
        assert_eq!(err(r#"[{"chord": "C"}]"#), "chords[0]: `bar` is missing");
        assert_eq!(err(r#"[{"bar": 1}]"#), "chords[0]: `chord` is missing");
        assert_eq!(
            err(r#"[{"bar": 1, "chord": "Chorus"}]"#),
            "chords[0].chord: \"Chorus\" is not a chord name (e.g. Am, G/B, F#m7b5)"
        );
        assert_eq!(
            err(r#"[{"bar": 1, "beat": 65, "chord": "C"}]"#),
            "chords[0].beat: 65 is not a whole number from 1 to 64"
        );
        assert!(err(r#"[{"bar": 1, "chord": 7}]"#).starts_with("chords[0].chord: 7"));
        assert!(err(r#"[{"bar": 1, "chord": "C", "beats": 2}]"#).contains("unknown key `beats`"));
        assert!(err(r#"{"bar": 1}"#).starts_with("chords: a list"));
        assert!(err(r#"[3]"#).starts_with("chords[0]: an object"));
        let many = format!(
            "[{}]",
            vec![r#"{"bar":1,"chord":"C"}"#; MAX_JSON_CHORDS + 1].join(",")
        );
        assert!(err(&many).contains("at most"));
    }

    #[test]
    fn chords_land_on_the_tempo_map_in_song_time() {
        // 120 bpm 4/4: a beat is 0.5 s, a bar 2 s; bar 9 beat 1 is at 16 s.
        let map = TempoMap::constant(120.0, TimeSignature::default(), 48_000).unwrap();
        let chords = vec![
            BarChord {
                bar: 9,
                beat: 1,
                chord: "Am".into(),
            },
            BarChord {
                bar: 1,
                beat: 3,
                chord: "G".into(),
            },
            BarChord {
                bar: 1,
                beat: 1,
                chord: "C".into(),
            },
        ];
        let placed = place_chords(&chords, &map);
        let at: Vec<(f64, &str, Option<u32>)> = placed
            .iter()
            .map(|c| (c.at_s, c.chord.as_str(), c.bar))
            .collect();
        assert_eq!(
            at,
            vec![
                (0.0, "C", Some(1)),
                (1.0, "G", Some(1)),
                (16.0, "Am", Some(9))
            ]
        );
        assert_eq!(chord_at(&placed, 0.99), Some(0));
        assert_eq!(chord_at(&placed, 20.0), Some(2));
        assert_eq!(chord_at(&placed, -1.0), None);
    }

    #[test]
    fn chords_follow_a_tempo_change() {
        use crate::model::tempo::TempoChange;
        // Bars 1-2 at 120 bpm 4/4 (2 s each), then 60 bpm: bar 3 starts at 4 s, its beat 2
        // one second later.
        let ts = TimeSignature::default();
        let map = TempoMap::new(
            &[
                TempoChange {
                    bar: 1,
                    bpm: 120.0,
                    time_signature: ts,
                },
                TempoChange {
                    bar: 3,
                    bpm: 60.0,
                    time_signature: ts,
                },
            ],
            1,
        )
        .unwrap();
        let placed = place_chords(
            &[BarChord {
                bar: 3,
                beat: 2,
                chord: "D".into(),
            }],
            &map,
        );
        assert_eq!(placed[0].at_s, 5.0);
    }

    #[test]
    fn inline_chords_as_a_lane() {
        let l = lrc("[00:02][C]a [G]b\n[00:01][Am]c\n");
        let lane = inline_chords(&l.lines);
        let at: Vec<(f64, &str)> = lane.iter().map(|c| (c.at_s, c.chord.as_str())).collect();
        assert_eq!(at, vec![(1.0, "Am"), (2.0, "C"), (2.0, "G")]);
    }

    #[test]
    fn load_reads_a_file_and_a_missing_one_is_none() {
        let dir = std::env::temp_dir().join(format!("stembox-lyrics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(LYRICS_FILE);
        assert_eq!(load_lyrics(&path), Ok(None));
        std::fs::write(&path, "[00:01.50]hi\n").unwrap();
        let l = load_lyrics(&path).unwrap().unwrap();
        assert_eq!(times(&l), vec![(1.5, "hi")]);
        std::fs::write(&path, "[00:01]a\n[offset:x]\n").unwrap();
        let e = load_lyrics(&path).unwrap_err();
        assert!(e
            .to_string()
            .starts_with(&format!("{}:2: ", path.display())));
        std::fs::remove_file(&path).unwrap();
        // A directory in its place is refused by fsread, naming the path.
        std::fs::create_dir(&path).unwrap();
        let e = load_lyrics(&path).unwrap_err();
        assert!(matches!(e.kind, LyricsErrorKind::Read(_)));
        assert!(e.to_string().contains("lyrics.lrc"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn never_panics_on_odd_input() {
        // A small deterministic scramble of LRC-ish pieces (the fuzz target goes further).
        let pieces = [
            "[", "]", "<", ">", ":", ".", "0", "9", "[00:01]", "[Am]", "ü", "\r", "\n", "[offset:",
            "[ti:", "\u{feff}", " ", "/", "#", "b",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..3000 {
            let mut s = String::new();
            for _ in 0..12 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            if let Ok(l) = parse_lrc(s.as_bytes(), "f") {
                for line in &l.lines {
                    let len = line.text.chars().count();
                    assert!(line.chords.iter().all(|c| c.at_char <= len), "{s:?}");
                    assert!(line.at_s >= 0.0);
                }
                assert!(l.lines.windows(2).all(|w| w[0].at_s <= w[1].at_s));
            }
        }
    }
}
