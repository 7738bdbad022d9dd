//! State that survives power loss: the last song and, per song, each stem's mute / solo /
//! gain, in `<state_dir>/state.json`. Owned by the control thread: it loads once at
//! start-up and saves after changes (coalesced by [`SaveTimer`], since an SD card wears and
//! an fsync can take tens of ms). The library itself is never written.
//!
//! Saving is atomic: write `.state.json.tmp`, fsync it, rename it over `state.json`, fsync
//! the directory. A reader (or the next boot after a power cut) sees the old file or the
//! new one, never a mix. A missing, unreadable or corrupt file is ignored with a warning
//! returned to the caller, and the player starts with defaults.
//!
//! ```json
//! {"version":1,"last_song":"03-intro",
//!  "songs":{"03-intro":{"click":{"mute":true,"solo":false,"gain_db":0},
//!                       "drums":{"mute":false,"solo":false,"gain_db":-3.5}}}}
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The file name inside `state_dir`.
pub const STATE_FILE: &str = "state.json";
const TEMP_FILE: &str = ".state.json.tmp";
/// Format version written; a file with another version is ignored.
pub const STATE_VERSION: u32 = 1;
/// Larger files are not read (a real one is a few KiB).
pub const MAX_STATE_BYTES: usize = 1024 * 1024;

/// One stem's mixer settings as the musician left them. In the file, a missing key is its
/// default and an unknown key is ignored (a newer stembox may add some).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StemSetting {
    pub mute: bool,
    pub solo: bool,
    #[serde(serialize_with = "finite_or_unity", deserialize_with = "gain_in_range")]
    pub gain_db: f32,
}

/// A gain that is not a number is saved as unity.
fn finite_or_unity<S: serde::Serializer>(gain: &f32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f32(if gain.is_finite() { *gain } else { 0.0 })
}

fn gain_in_range<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    let g = f32::deserialize(d)?;
    if !(-120.0..=24.0).contains(&g) {
        return Err(serde::de::Error::custom("gain_db out of range"));
    }
    Ok(g)
}

/// A song's speed and key as the musician left them (`"tempo"` in the file, beside
/// `"songs"`): speed in percent (50..=150), key change in semitones (-12..=12). A value
/// outside those (a hand-edited file) makes the file invalid, like a gain out of range.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SongTempo {
    #[serde(deserialize_with = "speed_in_range")]
    pub speed_pct: f32,
    #[serde(deserialize_with = "pitch_in_range")]
    pub pitch_st: f32,
}

impl Default for SongTempo {
    fn default() -> Self {
        SongTempo {
            speed_pct: 100.0,
            pitch_st: 0.0,
        }
    }
}

fn speed_in_range<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    let v = f32::deserialize(d)?;
    if !(50.0..=150.0).contains(&v) {
        return Err(serde::de::Error::custom("speed_pct out of range 50..150"));
    }
    Ok(v)
}

fn pitch_in_range<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    let v = f32::deserialize(d)?;
    if !(-12.0..=12.0).contains(&v) {
        return Err(serde::de::Error::custom("pitch_st out of range -12..12"));
    }
    Ok(v)
}

fn no_tempo(t: &&BTreeMap<String, SongTempo>) -> bool {
    t.is_empty()
}

/// The file as written: the version first, so a reader sees it before anything else.
#[derive(Serialize)]
struct FileOut<'a> {
    version: u32,
    last_song: &'a Option<String>,
    songs: &'a BTreeMap<String, BTreeMap<String, StemSetting>>,
    #[serde(skip_serializing_if = "no_tempo")]
    tempo: &'a BTreeMap<String, SongTempo>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    buses: &'a BTreeMap<String, f32>,
}

/// The file as read.
#[derive(Deserialize)]
struct FileIn {
    version: Option<u32>,
    #[serde(default)]
    last_song: Option<String>,
    /// Read loosely, so that one bad entry (a hand edit, a future format) costs only
    /// itself: each stem's settings are checked on their own in [`SavedState::from_json`].
    #[serde(default)]
    songs: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    tempo: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    buses: BTreeMap<String, serde_json::Value>,
}

impl Default for StemSetting {
    fn default() -> Self {
        StemSetting {
            mute: false,
            solo: false,
            gain_db: 0.0,
        }
    }
}

/// Everything kept across power cycles.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SavedState {
    /// Folder name of the song last selected.
    pub last_song: Option<String>,
    /// Song folder name -> stem name -> settings.
    pub songs: BTreeMap<String, BTreeMap<String, StemSetting>>,
    /// Song folder name -> speed and key (only songs played at another speed or key).
    pub tempo: BTreeMap<String, SongTempo>,
    /// Bus name -> gain in dB (`bus <name> <dB>`), for every song; only buses not at 0 dB.
    pub buses: BTreeMap<String, f32>,
}

impl SavedState {
    /// The saved settings of a song's stems, if any.
    pub fn song(&self, song: &str) -> Option<&BTreeMap<String, StemSetting>> {
        self.songs.get(song)
    }

    pub fn stem(&self, song: &str, stem: &str) -> Option<StemSetting> {
        self.songs.get(song)?.get(stem).copied()
    }

    pub fn set_stem(&mut self, song: &str, stem: &str, setting: StemSetting) {
        self.songs
            .entry(song.to_string())
            .or_default()
            .insert(stem.to_string(), setting);
    }

    /// The saved speed and key of a song, if any.
    pub fn tempo(&self, song: &str) -> Option<SongTempo> {
        self.tempo.get(song).copied()
    }

    /// Remembers a song's speed and key; the original (100 %, 0 st) removes the entry.
    pub fn set_tempo(&mut self, song: &str, speed_pct: f32, pitch_st: f32) {
        let t = SongTempo {
            speed_pct,
            pitch_st,
        };
        if t == SongTempo::default() {
            self.tempo.remove(song);
        } else {
            self.tempo.insert(song.to_string(), t);
        }
    }

    /// The saved gain of bus `name` in dB, if any.
    pub fn bus_gain_db(&self, name: &str) -> Option<f32> {
        self.buses.get(name).copied()
    }

    /// Remembers a bus gain; 0 dB removes the entry.
    pub fn set_bus_gain_db(&mut self, name: &str, db: f32) {
        if db == 0.0 {
            self.buses.remove(name);
        } else {
            self.buses.insert(name.to_string(), db);
        }
    }

    /// The file's text (compact JSON, keys sorted, so equal states give equal files).
    pub fn to_json(&self) -> String {
        let file = FileOut {
            version: STATE_VERSION,
            last_song: &self.last_song,
            songs: &self.songs,
            tempo: &self.tempo,
            buses: &self.buses,
        };
        // Only maps with string keys, strings, bools and numbers: this cannot fail.
        let mut s = serde_json::to_string(&file).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Parses the file's text. Errors say what is wrong, for the warning.
    pub fn from_json(bytes: &[u8]) -> Result<SavedState, String> {
        Self::from_json_keeping_good(bytes).map(|(s, _)| s)
    }

    /// Parses the file's text, keeping every good stem entry: a bad one (gain out of
    /// range, a wrong type) is left out and named in the second value, one item each.
    /// Only a file that is not a stembox state file at all is an error.
    pub fn from_json_keeping_good(bytes: &[u8]) -> Result<(SavedState, Vec<String>), String> {
        let raw: FileIn =
            serde_json::from_slice(bytes).map_err(|e| format!("not a stembox state file ({e})"))?;
        match raw.version {
            Some(STATE_VERSION) => {}
            Some(v) => {
                return Err(format!(
                    "format version {v}, this stembox reads version {STATE_VERSION}"
                ))
            }
            None => return Err("no \"version\" key; not a stembox state file".into()),
        }
        let mut songs: BTreeMap<String, BTreeMap<String, StemSetting>> = BTreeMap::new();
        let mut bad = Vec::new();
        for (song, stems) in raw.songs {
            for (stem, value) in stems {
                match serde_json::from_value::<StemSetting>(value) {
                    Ok(setting) => {
                        songs.entry(song.clone()).or_default().insert(stem, setting);
                    }
                    Err(e) => bad.push(format!(
                        "song \"{}\" stem \"{}\": {e}",
                        crate::base::text::escape_for_console(&song),
                        crate::base::text::escape_for_console(&stem)
                    )),
                }
            }
        }
        let mut tempo = BTreeMap::new();
        for (song, value) in raw.tempo {
            match serde_json::from_value::<SongTempo>(value) {
                Ok(t) => {
                    tempo.insert(song, t);
                }
                Err(e) => bad.push(format!(
                    "song \"{}\" tempo: {e}",
                    crate::base::text::escape_for_console(&song)
                )),
            }
        }
        let mut buses = BTreeMap::new();
        for (bus, value) in raw.buses {
            use crate::model::action::{MAX_GAIN_DB, MIN_GAIN_DB};
            match value.as_f64().map(|v| v as f32) {
                Some(db) if (MIN_GAIN_DB..=MAX_GAIN_DB).contains(&db) => {
                    buses.insert(bus, db);
                }
                _ => bad.push(format!(
                    "bus \"{}\": gain {value} is not a number of dB in {MIN_GAIN_DB}..={MAX_GAIN_DB}",
                    crate::base::text::escape_for_console(&bus)
                )),
            }
        }
        Ok((
            SavedState {
                last_song: raw.last_song,
                songs,
                tempo,
                buses,
            },
            bad,
        ))
    }
}

/// What [`StateStore::load`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    /// The saved state, or defaults.
    pub state: SavedState,
    /// Why the defaults are used (missing, unreadable, corrupt file), for the log.
    pub warning: Option<String>,
}

/// `<state_dir>/state.json`. Control thread.
#[derive(Clone, Debug)]
pub struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    pub fn new(state_dir: &Path) -> StateStore {
        StateStore {
            dir: state_dir.to_path_buf(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    /// Reads the saved state; never fails: problems come back as a warning with defaults.
    pub fn load(&self) -> Loaded {
        let path = self.path();
        let fresh = |why: String| Loaded {
            state: SavedState::default(),
            warning: Some(format!(
                "state {}: {why}; starting with defaults",
                path.display()
            )),
        };
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return fresh("not found (first start?)".into())
            }
            _ => {}
        }
        // A FIFO, a device or a huge file is refused at once, never waited for or slurped.
        let bytes =
            match crate::base::fsread::read_regular_file(&path, "state", MAX_STATE_BYTES as u64) {
                Ok(b) => b,
                Err(e) => {
                    return Loaded {
                        state: SavedState::default(),
                        warning: Some(format!("{e}; starting with defaults")),
                    }
                }
            };
        match SavedState::from_json_keeping_good(&bytes) {
            Ok((state, bad)) if bad.is_empty() => Loaded {
                state,
                warning: None,
            },
            Ok((state, bad)) => {
                // One line however many: name the first few, count the rest.
                const NAMED: usize = 3;
                let more = match bad.len().saturating_sub(NAMED) {
                    0 => String::new(),
                    n => format!(" (and {n} more)"),
                };
                Loaded {
                    state,
                    warning: Some(format!(
                        "state {}: ignored {} bad entr{}: {}{more}; the other settings are kept",
                        path.display(),
                        bad.len(),
                        if bad.len() == 1 { "y" } else { "ies" },
                        bad[..bad.len().min(NAMED)].join("; "),
                    )),
                }
            }
            Err(e) => fresh(format!("ignored: {e}")),
        }
    }

    /// Writes the state atomically (temp file, fsync, rename, fsync of the directory),
    /// creating `state_dir` if needed. The error names the path and what to check.
    pub fn save(&self, state: &SavedState) -> Result<(), String> {
        let path = self.path();
        let tmp = self.dir.join(TEMP_FILE);
        let fail = |what: &str, e: std::io::Error| {
            format!(
                "state {}: cannot {what}: {e}; check that state_dir `{}` is writable \
                 (it is the one writable place)",
                path.display(),
                self.dir.display()
            )
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| fail("create the directory", e))?;
        let text = state.to_json();
        {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)
                .map_err(|e| fail("create the temporary file", e))?;
            f.write_all(text.as_bytes())
                .map_err(|e| fail("write the temporary file", e))?;
            f.sync_all()
                .map_err(|e| fail("fsync the temporary file", e))?;
        }
        std::fs::rename(&tmp, &path).map_err(|e| fail("rename the temporary file", e))?;
        // The rename itself is only durable once the directory entry is on disk.
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| fail("fsync the directory", e))?;
        Ok(())
    }
}

/// Coalesces saves: after a change, save once things have been quiet for `quiet`, or at
/// the latest `max_delay` after the first unsaved change. Pure; the control thread asks
/// [`SaveTimer::due`] on each tick.
#[derive(Clone, Debug)]
pub struct SaveTimer {
    quiet: Duration,
    max_delay: Duration,
    first_change: Option<Instant>,
    last_change: Option<Instant>,
}

impl SaveTimer {
    pub fn new(quiet: Duration, max_delay: Duration) -> SaveTimer {
        SaveTimer {
            quiet,
            max_delay,
            first_change: None,
            last_change: None,
        }
    }

    /// Something worth saving changed at `now`.
    pub fn changed(&mut self, now: Instant) {
        self.first_change.get_or_insert(now);
        self.last_change = Some(now);
    }

    /// Whether to save now.
    pub fn due(&self, now: Instant) -> bool {
        match (self.first_change, self.last_change) {
            (Some(first), Some(last)) => {
                now.saturating_duration_since(last) >= self.quiet
                    || now.saturating_duration_since(first) >= self.max_delay
            }
            _ => false,
        }
    }

    /// The state was saved (or the save failed and should not be retried in a loop).
    pub fn saved(&mut self) {
        self.first_change = None;
        self.last_change = None;
    }

    /// A save failed at `now`: try again once `quiet` has passed (or later changes have
    /// settled), not on every tick; the changes stay pending.
    pub fn retry_later(&mut self, now: Instant) {
        self.first_change = Some(now);
        self.last_change = Some(now);
    }

    pub fn pending(&self) -> bool {
        self.first_change.is_some()
    }
}

impl Default for SaveTimer {
    /// 2 s of quiet, at most 10 s late.
    fn default() -> Self {
        SaveTimer::new(Duration::from_secs(2), Duration::from_secs(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("stembox-state-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn bus_gains_round_trip_and_hostile_ones_are_dropped_alone() {
        let mut s = sample();
        s.set_bus_gain_db("cue", -6.5);
        s.set_bus_gain_db("main", 0.0);
        let back = SavedState::from_json(s.to_json().as_bytes()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.bus_gain_db("cue"), Some(-6.5));
        assert_eq!(back.bus_gain_db("main"), None);
        s.set_bus_gain_db("cue", 0.0);
        assert!(!s.to_json().contains("buses"));
        let (st, bad) = SavedState::from_json_keeping_good(
            br#"{"version":1,"buses":{"cue":-6,"a":1e9,"b":"loud","c":null,"d":-121,"e\u0007":[1]}}"#,
        )
        .unwrap();
        assert_eq!(st.buses.len(), 1);
        assert_eq!(st.bus_gain_db("cue"), Some(-6.0));
        assert_eq!(bad.len(), 5, "{bad:?}");
        assert!(bad.iter().all(|b| !b.contains('\u{7}')), "{bad:?}");
    }

    fn sample() -> SavedState {
        let mut s = SavedState {
            last_song: Some("03-intro".into()),
            ..SavedState::default()
        };
        s.set_stem(
            "03-intro",
            "drums",
            StemSetting {
                mute: false,
                solo: true,
                gain_db: -3.5,
            },
        );
        s.set_stem(
            "03-intro",
            "click",
            StemSetting {
                mute: true,
                solo: false,
                gain_db: 0.0,
            },
        );
        s.set_stem(
            "weird \"name\"\\ \u{1}\n",
            "bass é",
            StemSetting {
                mute: true,
                solo: true,
                gain_db: 0.1,
            },
        );
        s.set_stem(
            "04",
            "keys",
            StemSetting {
                mute: false,
                solo: false,
                gain_db: -119.25,
            },
        );
        s
    }

    #[test]
    fn tempo_round_trips_and_a_hostile_value_costs_only_its_entry() {
        let mut s = SavedState::default();
        s.set_tempo("01-a", 80.0, -2.5);
        s.set_tempo("02-b", 100.0, 0.0);
        let back = SavedState::from_json(s.to_json().as_bytes()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.tempo("02-b"), None, "the original is not stored");
        assert!(!SavedState::default().to_json().contains("tempo"));
        for bad in [
            r#"{"version":1,"tempo":{"a":{"speed_pct":10}}}"#,
            r#"{"version":1,"tempo":{"a":{"speed_pct":1e39}}}"#,
            r#"{"version":1,"tempo":{"a":{"pitch_st":-13}}}"#,
            r#"{"version":1,"tempo":{"a":{"pitch_st":"C"}}}"#,
            r#"{"version":1,"tempo":{"a":"fast"}}"#,
        ] {
            let with_good = bad.replace(
                r#""tempo":{"#,
                r#""songs":{"b":{"x":{"mute":true}}},"tempo":{"c":{"pitch_st":2},"#,
            );
            let (state, dropped) = SavedState::from_json_keeping_good(with_good.as_bytes())
                .unwrap_or_else(|e| panic!("{with_good}: {e}"));
            assert_eq!(state.tempo("a"), None, "{bad}");
            assert_eq!(state.tempo("c").unwrap().pitch_st, 2.0, "{bad}");
            assert!(state.stem("b", "x").unwrap().mute, "{bad}");
            assert_eq!(dropped.len(), 1, "{bad}: {dropped:?}");
            assert!(dropped[0].contains("song \"a\" tempo"), "{dropped:?}");
        }
        // A missing field is the original.
        let ok = SavedState::from_json(br#"{"version":1,"tempo":{"a":{"pitch_st":3}}}"#).unwrap();
        assert_eq!(ok.tempo("a").unwrap().speed_pct, 100.0);
    }

    #[test]
    fn json_round_trip() {
        let s = sample();
        let text = s.to_json();
        assert_eq!(SavedState::from_json(text.as_bytes()), Ok(s.clone()));
        assert_eq!(s.stem("03-intro", "drums").unwrap().gain_db, -3.5);
        assert_eq!(s.stem("03-intro", "nope"), None);
        let empty = SavedState::default();
        assert_eq!(SavedState::from_json(empty.to_json().as_bytes()), Ok(empty));
    }

    #[test]
    fn awkward_floats_round_trip_exactly() {
        for g in [0.1f32, -0.0, 1e-7, -119.999_99, 23.999_998, 1.0 / 3.0] {
            let mut s = SavedState::default();
            s.set_stem(
                "a",
                "b",
                StemSetting {
                    gain_db: g,
                    ..StemSetting::default()
                },
            );
            let back = SavedState::from_json(s.to_json().as_bytes()).unwrap();
            assert_eq!(
                back.stem("a", "b").unwrap().gain_db.to_bits(),
                g.to_bits(),
                "{g}"
            );
        }
        // Not-a-number never reaches the file as invalid JSON.
        let mut s = SavedState::default();
        s.set_stem(
            "a",
            "b",
            StemSetting {
                gain_db: f32::NAN,
                ..StemSetting::default()
            },
        );
        assert_eq!(
            SavedState::from_json(s.to_json().as_bytes())
                .unwrap()
                .stem("a", "b")
                .unwrap()
                .gain_db,
            0.0
        );
    }

    #[test]
    fn store_round_trip_and_creates_the_directory() {
        let dir = temp_dir("rt").join("nested");
        let store = StateStore::new(&dir);
        let first = store.load();
        assert_eq!(first.state, SavedState::default());
        assert!(first.warning.unwrap().contains("not found"));
        store.save(&sample()).unwrap();
        assert_eq!(
            store.load(),
            Loaded {
                state: sample(),
                warning: None
            }
        );
        assert!(!dir.join(TEMP_FILE).exists(), "temp file renamed away");
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }

    #[test]
    fn corrupt_and_truncated_files_are_ignored_with_a_warning() {
        let dir = temp_dir("corrupt");
        let store = StateStore::new(&dir);
        store.save(&sample()).unwrap();
        let full = std::fs::read(store.path()).unwrap();
        // Every truncation (a power cut with a non-atomic writer would leave one).
        for cut in 0..full.len() - 1 {
            std::fs::write(store.path(), &full[..cut]).unwrap();
            let l = store.load();
            assert_eq!(l.state, SavedState::default(), "cut at {cut}");
            let w = l.warning.unwrap();
            assert!(
                w.contains("starting with defaults") && w.contains("state.json"),
                "{w}"
            );
        }
        for junk in [
            &b"\x00\x00\x00\x00"[..],
            b"{\"version\":2,\"songs\":{}}",
            b"{\"songs\":{}}",
            b"[]",
            b"{\"version\":1,\"songs\":[]}",
            b"{\"version\":1,\"songs\":{\"a\":[]}}",
        ] {
            std::fs::write(store.path(), junk).unwrap();
            let l = store.load();
            assert_eq!(l.state, SavedState::default());
            assert!(l.warning.is_some());
        }
        // Unknown keys from a future minor change are skipped, not fatal.
        std::fs::write(
            store.path(),
            b"{\"version\":1,\"x\":[1,{}],\"last_song\":\"s\",\"songs\":{\"s\":{\"d\":{\"mute\":true,\"pan\":1}}}}",
        )
        .unwrap();
        let l = store.load();
        assert_eq!(l.warning, None);
        assert_eq!(l.state.last_song.as_deref(), Some("s"));
        assert!(l.state.stem("s", "d").unwrap().mute);
        // A stale temp file from a power cut mid-save does not matter.
        std::fs::write(dir.join(TEMP_FILE), b"{\"vers").unwrap();
        store.save(&sample()).unwrap();
        assert_eq!(store.load().state, sample());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_bad_entry_costs_only_itself() {
        let dir = temp_dir("bad-entry");
        let store = StateStore::new(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            store.path(),
            br#"{"version":1,"last_song":"s","songs":{
                "s":{"drums":{"gain_db":-3},"bass":{"gain_db":1e9},"keys":{"mute":"yes"},
                     "vox":{"gain_db":null},"pad":[1]},
                "t":{"click":{"mute":true}},
                "evil\u001b[2J":{"x":{"gain_db":-1e300}}}}"#,
        )
        .unwrap();
        let l = store.load();
        let w = l.warning.expect("a warning");
        println!("{w}");
        assert_eq!(l.state.last_song.as_deref(), Some("s"));
        assert_eq!(l.state.stem("s", "drums").unwrap().gain_db, -3.0);
        assert!(l.state.stem("t", "click").unwrap().mute);
        for gone in ["bass", "keys", "vox", "pad"] {
            assert_eq!(l.state.stem("s", gone), None, "{gone}");
        }
        assert!(l.state.song("evil\u{1b}[2J").is_none());
        assert!(
            w.contains("ignored 5 bad entries")
                && w.contains("song \"s\" stem \"bass\": gain_db out of range")
                && w.contains("(and 2 more)")
                && w.contains("the other settings are kept")
                && !w.contains('\n')
                && !w.contains('\u{1b}'),
            "{w}"
        );
        // The next save writes the good entries only.
        store.save(&l.state).unwrap();
        assert_eq!(store.load().warning, None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn replace_is_atomic_for_a_concurrent_reader() {
        let dir = temp_dir("atomic");
        let store = StateStore::new(&dir);
        // Two big states (~150 KiB) so a non-atomic write would be seen half done.
        let big = |tag: &str| {
            let mut s = SavedState {
                last_song: Some(tag.into()),
                ..SavedState::default()
            };
            for i in 0..1500 {
                s.set_stem(
                    &format!("{tag}-song-{i:04}"),
                    "drums",
                    StemSetting {
                        mute: i % 2 == 0,
                        solo: false,
                        gain_db: -(i as f32) / 100.0,
                    },
                );
            }
            s
        };
        let (a, b) = (big("a"), big("b"));
        store.save(&a).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (stop, path) = (stop.clone(), store.path());
            let (a, b) = (a.clone(), b.clone());
            std::thread::spawn(move || {
                let mut reads = 0;
                while !stop.load(Ordering::Relaxed) {
                    let bytes = std::fs::read(&path).expect("state.json always exists");
                    let s = SavedState::from_json(&bytes).expect("never a partial file");
                    assert!(s == a || s == b);
                    reads += 1;
                }
                reads
            })
        };
        for i in 0..40 {
            store.save(if i % 2 == 0 { &b } else { &a }).unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        let reads = reader.join().unwrap();
        assert!(reads > 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn save_failure_names_the_path() {
        let dir = temp_dir("ro");
        std::fs::create_dir_all(&dir).unwrap();
        // A file where the directory should be: fails even for root.
        let blocker = dir.join("not-a-dir");
        std::fs::write(&blocker, b"x").unwrap();
        let e = StateStore::new(&blocker).save(&sample()).unwrap_err();
        assert!(e.contains("not-a-dir") && e.contains("writable"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn save_timer_coalesces() {
        let t0 = Instant::now();
        let s = |ms: u64| t0 + Duration::from_millis(ms);
        let mut t = SaveTimer::new(Duration::from_millis(2_000), Duration::from_millis(10_000));
        assert!(!t.due(s(0)) && !t.pending());
        t.changed(s(0));
        assert!(!t.due(s(1_999)));
        assert!(t.due(s(2_000)));
        // Changes keep coming: quiet never happens, max delay caps it.
        let mut t = SaveTimer::default();
        for ms in (0..12_000).step_by(500) {
            t.changed(s(ms));
            if t.due(s(ms)) {
                assert_eq!(ms, 10_000);
                t.saved();
            }
        }
        assert!(t.pending());
        t.saved();
        assert!(!t.due(s(60_000)));
        // A failed save is retried after the quiet time, not on every tick after the
        // maximum delay has passed.
        let mut t = SaveTimer::default();
        t.changed(s(0));
        assert!(t.due(s(20_000)));
        t.retry_later(s(20_000));
        assert!(t.pending() && !t.due(s(20_050)) && !t.due(s(21_999)));
        assert!(t.due(s(22_000)));
    }
}
