//! The setlist (which songs, in which order) and section navigation maths. Pure functions,
//! called by the control thread (and `stembox check`); the only I/O is reading
//! `<library>/setlist.json` in [`load_order`].
//!
//! - Order: song folders sorted by name, or `<library>/setlist.json`, a JSON array of folder
//!   names (`["03-intro", "01-opener"]`, a UTF-8 byte-order mark allowed). Names that match
//!   no folder are reported and skipped; a song may appear twice (played twice in a set). A
//!   bad or empty setlist.json falls back to folder order with a warning, so the box still
//!   plays; `stembox check` counts each such note as a problem.
//! - Songs: next at the last song and prev at the first stay put (a set does not wrap).
//! - Sections: the song's start counts as a section start. `next` goes to the first start
//!   after the play head; `prev` goes to the start of the current section, or to the one
//!   before when the play head is within [`PREV_SECTION_GRACE_S`] of the current start, like
//!   a CD player's `|<<`, so tapping it twice quickly steps back two parts.

use crate::model::action::{SectionRef, SongRef};
use serde_path_to_error::Segment;
use std::path::Path;

/// Within this many seconds of a section's start, "prev" goes to the section before.
pub const PREV_SECTION_GRACE_S: f64 = 2.0;

/// Largest setlist.json read.
pub const MAX_SETLIST_BYTES: usize = 64 * 1024;

/// The playing order, as indices into the library's song folders.
#[derive(Clone, Debug, PartialEq)]
pub struct Setlist {
    /// Indices into the `folders` slice given to [`Setlist::from_json`] / [`load_order`].
    pub order: Vec<usize>,
    /// Names in setlist.json that match no folder, in file order.
    pub unknown: Vec<String>,
}

impl Setlist {
    /// Folder order: every folder, as sorted by the library scan.
    pub fn folder_order(folder_count: usize) -> Setlist {
        Setlist {
            order: (0..folder_count).collect(),
            unknown: Vec::new(),
        }
    }

    /// The order given by setlist.json text. Names are matched exactly, then (if that
    /// finds nothing) ignoring case. Errors say what is wrong with the JSON.
    pub fn from_json(folders: &[String], bytes: &[u8]) -> Result<Setlist, String> {
        let names = parse_name_array(bytes)?;
        let mut out = Setlist {
            order: Vec::with_capacity(names.len()),
            unknown: Vec::new(),
        };
        for name in names {
            let exact = folders.iter().position(|f| *f == name);
            let loose = || folders.iter().position(|f| f.eq_ignore_ascii_case(&name));
            match exact.or_else(loose) {
                Some(i) => out.order.push(i),
                None => out.unknown.push(name),
            }
        }
        Ok(out)
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The folder index at setlist position `pos`.
    pub fn folder(&self, pos: usize) -> Option<usize> {
        self.order.get(pos).copied()
    }

    /// The position after `pos`, or `None` at the end of the set.
    pub fn next(&self, pos: usize) -> Option<usize> {
        (pos + 1 < self.order.len()).then_some(pos + 1)
    }

    /// The position before `pos`, or `None` at the first song.
    pub fn prev(&self, pos: usize) -> Option<usize> {
        (pos > 0 && pos <= self.order.len()).then(|| pos - 1)
    }

    /// The setlist position a command names: `Number(n)` is the n-th song of the setlist,
    /// `Name` a folder name (exact, else ignoring case, else a unique prefix such as `03`
    /// for `03-intro`).
    pub fn find(&self, folders: &[String], song: &SongRef) -> Result<usize, String> {
        match song {
            SongRef::Number(n) => match n.checked_sub(1).filter(|&i| i < self.order.len()) {
                Some(i) => Ok(i),
                None => Err(format!(
                    "no song {n}: the setlist has {} songs",
                    self.order.len()
                )),
            },
            SongRef::Name(name) => {
                let name_at = |p: usize| folders.get(self.order[p]).map(String::as_str);
                let positions = 0..self.order.len();
                let exact = positions
                    .clone()
                    .find(|&p| name_at(p) == Some(name.as_str()));
                let loose = || {
                    positions
                        .clone()
                        .find(|&p| name_at(p).is_some_and(|f| f.eq_ignore_ascii_case(name)))
                };
                if let Some(p) = exact.or_else(loose) {
                    return Ok(p);
                }
                let lower = name.to_lowercase();
                let prefixed: Vec<usize> = positions
                    .filter(|&p| name_at(p).is_some_and(|f| f.to_lowercase().starts_with(&lower)))
                    .collect();
                match prefixed.as_slice() {
                    [p] => Ok(*p),
                    [] => Err(format!("no song \"{name}\" in the setlist")),
                    many => {
                        let names: Vec<&str> = many.iter().filter_map(|&p| name_at(p)).collect();
                        Err(format!(
                            "\"{name}\" matches {} songs: {}",
                            many.len(),
                            names.join(", ")
                        ))
                    }
                }
            }
        }
    }
}

/// The setlist for a library whose scanned folders (sorted) are `folders`: from
/// `<library>/setlist.json` when it exists and is usable, else folder order. The second
/// value is what to tell the user (unknown names, a bad file), one line each.
pub fn load_order(library: &Path, folders: &[String]) -> (Setlist, Vec<String>) {
    let path = library.join("setlist.json");
    let mut notes = Vec::new();
    // A FIFO, a device or a huge file is refused at once, never waited for or slurped.
    let bytes = match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return (Setlist::folder_order(folders.len()), notes)
        }
        _ => {
            match crate::base::fsread::read_regular_file(&path, "setlist", MAX_SETLIST_BYTES as u64)
            {
                Ok(b) => b,
                Err(e) => {
                    notes.push(format!("{e}; using folder order"));
                    return (Setlist::folder_order(folders.len()), notes);
                }
            }
        }
    };
    match Setlist::from_json(folders, &bytes) {
        Ok(s) => {
            for name in &s.unknown {
                notes.push(format!(
                    "{}: no song folder \"{name}\" in the library; skipped",
                    path.display()
                ));
            }
            if s.is_empty() {
                notes.push(format!(
                    "{}: names no song of the library; using folder order",
                    path.display()
                ));
                return (Setlist::folder_order(folders.len()), notes);
            }
            (s, notes)
        }
        Err(e) => {
            notes.push(format!("{}: {e}; using folder order", path.display()));
            (Setlist::folder_order(folders.len()), notes)
        }
    }
}

/// A JSON array of strings, read with serde_json; errors name the entry and its line and
/// column. A UTF-8 byte-order mark is skipped.
fn parse_name_array(bytes: &[u8]) -> Result<Vec<String>, String> {
    const FORM: &str = "a JSON array of song folder names, e.g. [\"01-intro\", \"02-song\"]";
    let (text, start) = crate::model::songmeta::document(bytes)?;
    let mut de = serde_json::Deserializer::from_str(&text[start..]);
    let names: Vec<String> = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path: Vec<Segment> = e.path().iter().cloned().collect();
        let wants = |path: &[Segment]| match path {
            [] => Some(FORM),
            _ => Some("a song folder name (a string)"),
        };
        let message = crate::model::songmeta::decode_problem(text, start, &path, e.inner(), wants);
        match path.as_slice() {
            [] => message,
            _ => format!("{message} (setlist.json is {FORM})"),
        }
    })?;
    if let Some(index) = names.iter().position(|n| n.trim().is_empty()) {
        let at = crate::base::json_error::locate(text, start, &[Segment::Seq { index }])
            .map_or(String::new(), |at| {
                crate::base::json_error::position(text.as_bytes(), at)
            });
        return Err(format!("entry [{index}] is an empty name{at}"));
    }
    Ok(names)
}

/// The index of the section the play head is in: the last start at or before `pos`.
/// `None` before the first section (the song's start then counts as the section start).
pub fn section_index(starts: &[u64], pos: u64) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &s) in starts.iter().enumerate() {
        if s <= pos && best.is_none_or(|b| starts[b] <= s) {
            best = Some(i);
        }
    }
    best
}

/// Where "next section" goes: the first section start after `pos`, or `None` after the
/// last one (stay put).
pub fn next_section(starts: &[u64], pos: u64) -> Option<u64> {
    starts.iter().copied().filter(|&s| s > pos).min()
}

/// Where "prev section" goes: the start of the current section, or of the one before it
/// when the play head is less than `grace_frames` past the current start. Frame 0 (the
/// song's start) counts as a section start.
pub fn prev_section(starts: &[u64], pos: u64, grace_frames: u64) -> u64 {
    let current = starts
        .iter()
        .copied()
        .filter(|&s| s <= pos)
        .max()
        .unwrap_or(0);
    if pos - current >= grace_frames {
        return current;
    }
    starts
        .iter()
        .copied()
        .filter(|&s| s < current)
        .max()
        .unwrap_or(0)
}

/// [`PREV_SECTION_GRACE_S`] in frames at `rate`.
pub fn grace_frames(rate: u32) -> u64 {
    (PREV_SECTION_GRACE_S * rate as f64) as u64
}

/// The index of the section a command names: `Number(n)` is the n-th (1-based), `Name` the
/// first with that name (exact, else ignoring case).
pub fn find_section(names: &[&str], section: &SectionRef) -> Result<usize, String> {
    match section {
        SectionRef::Number(n) => n
            .checked_sub(1)
            .filter(|&i| i < names.len())
            .ok_or_else(|| match names.len() {
                0 => "this song has no sections (add them to its song.json)".to_string(),
                len => format!("no section {n}: this song has {len}"),
            }),
        SectionRef::Name(name) => names
            .iter()
            .position(|s| s == name)
            .or_else(|| names.iter().position(|s| s.eq_ignore_ascii_case(name)))
            .ok_or_else(|| {
                if names.is_empty() {
                    "this song has no sections (add them to its song.json)".to_string()
                } else {
                    format!(
                        "no section \"{name}\" (this song has: {})",
                        names.join(", ")
                    )
                }
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folders() -> Vec<String> {
        ["01-opener", "02-ballad", "03-intro", "04-Outro"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn folder_order_is_every_folder() {
        let s = Setlist::folder_order(3);
        assert_eq!(s.order, vec![0, 1, 2]);
        assert!(Setlist::folder_order(0).is_empty());
    }

    #[test]
    fn setlist_json_orders_and_reports_unknown_names() {
        let f = folders();
        let s = Setlist::from_json(
            &f,
            br#"["03-intro", "nope", "01-opener", "04-outro", "03-intro"]"#,
        )
        .unwrap();
        assert_eq!(
            s.order,
            vec![2, 0, 3, 2],
            "case-insensitive match, repeats allowed"
        );
        assert_eq!(s.unknown, vec!["nope".to_string()]);
        let s = Setlist::from_json(&f, br#"["a\"b", "02-ballad"]"#).unwrap();
        assert_eq!((s.order, s.unknown), (vec![1], vec!["a\"b".to_string()]));
    }

    #[test]
    fn bad_setlist_json_is_refused() {
        let f = folders();
        for bad in [
            &b"{}"[..],
            b"[1, 2]",
            b"\"01-opener\"",
            b"[\"a\",]",
            b"[\"a\"",
            b"",
            b"[\"\"]",
        ] {
            let e = Setlist::from_json(&f, bad).unwrap_err();
            assert!(!e.is_empty() && !e.contains('\n'), "{e}");
        }
        assert!(Setlist::from_json(&f, b"[1]")
            .unwrap_err()
            .contains("array of song folder names"));
        // Errors name the entry and where it is.
        assert_eq!(
            Setlist::from_json(&f, b"[\"01-opener\",\n 7]").unwrap_err(),
            "key `[1]`: expected a song folder name (a string), found 7 at line 2, column 2 \
             (setlist.json is a JSON array of song folder names, e.g. [\"01-intro\", \"02-song\"])"
        );
        assert_eq!(
            Setlist::from_json(&f, br#"{"songs": []}"#).unwrap_err(),
            "expected a JSON array of song folder names, e.g. [\"01-intro\", \"02-song\"], \
             found an object at line 1, column 1"
        );
        assert_eq!(
            Setlist::from_json(&f, br#"["a", " "]"#).unwrap_err(),
            "entry [1] is an empty name at line 1, column 7"
        );
        assert!(Setlist::from_json(&f, b"[\"a\"")
            .unwrap_err()
            .starts_with("malformed JSON at line 1, column 1"));
        assert_eq!(
            Setlist::from_json(&f, b"[]").unwrap().order,
            Vec::<usize>::new()
        );
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let f = folders();
        let s = Setlist::from_json(&f, "\u{feff}[\"02-ballad\", \"01-opener\"]".as_bytes());
        assert_eq!(s.unwrap().order, vec![1, 0]);
        assert!(Setlist::from_json(&f, "\u{feff}".as_bytes()).is_err());
    }

    #[test]
    fn load_order_falls_back_with_a_note() {
        let dir = std::env::temp_dir().join(format!("stembox-setlist-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let f = folders();
        let (s, notes) = load_order(&dir, &f);
        assert_eq!(
            (s.order, notes.len()),
            (vec![0, 1, 2, 3], 0),
            "no file: folder order"
        );
        std::fs::write(dir.join("setlist.json"), br#"["02-ballad", "ghost"]"#).unwrap();
        let (s, notes) = load_order(&dir, &f);
        assert_eq!(s.order, vec![1]);
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("no song folder \"ghost\""), "{notes:?}");
        std::fs::write(dir.join("setlist.json"), b"[oops").unwrap();
        let (s, notes) = load_order(&dir, &f);
        assert_eq!(s.order, vec![0, 1, 2, 3]);
        assert!(notes[0].contains("setlist.json") && notes[0].ends_with("using folder order"));
        std::fs::write(dir.join("setlist.json"), br#"["ghost"]"#).unwrap();
        let (s, notes) = load_order(&dir, &f);
        assert_eq!(s.order, vec![0, 1, 2, 3]);
        assert_eq!(notes.len(), 2, "{notes:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn song_navigation_does_not_wrap() {
        let s = Setlist::folder_order(3);
        assert_eq!(s.next(0), Some(1));
        assert_eq!(s.next(2), None);
        assert_eq!(s.prev(0), None);
        assert_eq!(s.prev(2), Some(1));
        assert_eq!(s.prev(7), None, "out of range");
        assert_eq!(Setlist::folder_order(0).next(0), None);
    }

    #[test]
    fn find_song_by_number_name_and_prefix() {
        let f = folders();
        let s = Setlist::from_json(&f, br#"["03-intro", "01-opener", "04-Outro"]"#).unwrap();
        assert_eq!(s.find(&f, &SongRef::Number(1)), Ok(0));
        assert_eq!(s.find(&f, &SongRef::Number(3)), Ok(2));
        assert!(s
            .find(&f, &SongRef::Number(4))
            .unwrap_err()
            .contains("has 3 songs"));
        assert!(s.find(&f, &SongRef::Number(0)).is_err());
        assert_eq!(s.find(&f, &SongRef::Name("01-opener".into())), Ok(1));
        assert_eq!(s.find(&f, &SongRef::Name("04-outro".into())), Ok(2));
        assert_eq!(s.find(&f, &SongRef::Name("03".into())), Ok(0));
        let e = s.find(&f, &SongRef::Name("0".into())).unwrap_err();
        assert!(e.contains("matches 3 songs"), "{e}");
        let e = s.find(&f, &SongRef::Name("02-ballad".into())).unwrap_err();
        assert!(
            e.contains("no song \"02-ballad\""),
            "not in this setlist: {e}"
        );
    }

    // Sections at 0 s, 10 s, 20 s, 30 s in frames at 1 kHz for readability.
    const STARTS: [u64; 4] = [0, 10_000, 20_000, 30_000];
    const GRACE: u64 = 2_000;

    #[test]
    fn next_section_goes_to_the_next_start() {
        assert_eq!(next_section(&STARTS, 0), Some(10_000));
        assert_eq!(next_section(&STARTS, 9_999), Some(10_000));
        assert_eq!(
            next_section(&STARTS, 10_000),
            Some(20_000),
            "at a start: the next one"
        );
        assert_eq!(next_section(&STARTS, 30_000), None, "after the last: stay");
        assert_eq!(next_section(&[], 5), None);
        assert_eq!(
            next_section(&[30, 10, 20], 15),
            Some(20),
            "order does not matter"
        );
    }

    #[test]
    fn prev_section_acts_like_a_cd_player() {
        // Well into a section: back to its start.
        assert_eq!(prev_section(&STARTS, 25_000, GRACE), 20_000);
        assert_eq!(
            prev_section(&STARTS, 22_000, GRACE),
            20_000,
            "exactly at the grace"
        );
        // Within the grace: the section before.
        assert_eq!(prev_section(&STARTS, 21_999, GRACE), 10_000);
        assert_eq!(prev_section(&STARTS, 20_000, GRACE), 10_000);
        // Tapping twice: the first tap lands on 20 s, the second (soon after) on 10 s.
        let first = prev_section(&STARTS, 27_000, GRACE);
        assert_eq!(prev_section(&STARTS, first + 300, GRACE), 10_000);
        // In the first section: the song's start; near it: still the start.
        assert_eq!(prev_section(&STARTS, 500, GRACE), 0);
        assert_eq!(prev_section(&STARTS, 11_000, GRACE), 0);
        // Before the first marker (when it is not at 0): the song's start counts.
        assert_eq!(prev_section(&[5_000, 9_000], 4_000, GRACE), 0);
        assert_eq!(prev_section(&[5_000, 9_000], 5_500, GRACE), 0);
        assert_eq!(prev_section(&[5_000, 9_000], 8_000, GRACE), 5_000);
        assert_eq!(prev_section(&[], 8_000, GRACE), 0);
        assert_eq!(prev_section(&[], 8_000, 0), 0);
        assert_eq!(grace_frames(48_000), 96_000);
    }

    #[test]
    fn section_index_is_the_section_playing() {
        assert_eq!(section_index(&STARTS, 0), Some(0));
        assert_eq!(section_index(&STARTS, 19_999), Some(1));
        assert_eq!(section_index(&STARTS, 99_999), Some(3));
        assert_eq!(section_index(&[5_000], 100), None);
        assert_eq!(section_index(&[], 100), None);
    }

    #[test]
    fn find_section_by_number_and_name() {
        let names = ["intro", "Verse", "chorus"];
        assert_eq!(find_section(&names, &SectionRef::Number(1)), Ok(0));
        assert_eq!(find_section(&names, &SectionRef::Number(3)), Ok(2));
        assert!(find_section(&names, &SectionRef::Number(4))
            .unwrap_err()
            .contains("has 3"));
        assert_eq!(
            find_section(&names, &SectionRef::Name("verse".into())),
            Ok(1)
        );
        let e = find_section(&names, &SectionRef::Name("bridge".into())).unwrap_err();
        assert!(e.contains("intro, Verse, chorus"), "{e}");
        assert!(find_section(&[], &SectionRef::Number(1))
            .unwrap_err()
            .contains("no sections"));
    }
}
