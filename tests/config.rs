//! Config loading as the binary does it: defaults, a full example, and every class of bad
//! input with the exact one-line message the user sees.

#[cfg(debug_assertions)]
use assert_no_alloc::{assert_no_alloc, AllocDisabler};
use std::path::PathBuf;
use stembox::storage::config::{Config, ConfigError, Gesture, SampleFormat, MAX_CONFIG_BYTES};

// Only inside `assert_no_alloc` does an allocation abort the test (debug builds).
// assert_no_alloc checks debug builds only (its AllocDisabler is absent in release).
#[cfg(debug_assertions)]
#[global_allocator]
static ALLOC: AllocDisabler = AllocDisabler;

/// The example config of the README: every section, non-default values throughout.
const FULL_EXAMPLE: &str = r#"{
  "library": "/media/sd/songs",
  "audio": {
    "device": "hw:0,0",
    "rate": 44100,
    "channels": 2,
    "period_frames": 128,
    "periods": 3,
    "format": "S24_LE",
    "enable_latency_monitor": true,
    "master_gain_db": -3.5
  },
  "rt": { "priority": 80, "cpu": 1, "mlock": false },
  "buttons": {
    "devices": ["/dev/input/by-path/platform-gpio-keys-event"],
    "map": [
      { "key": "KEY_1", "action": "play_pause" },
      { "key": "KEY_1", "gesture": "long", "action": "stop" },
      { "key": "KEY_2", "action": "next_song" },
      { "key": "KEY_3", "gesture": "double", "action": "toggle_mute:drums" }
    ],
    "debounce_ms": 20,
    "long_press_ms": 700,
    "double_press_ms": 250
  },
  "stats": { "interval_s": 30 },
  "memory": { "budget_mb": 1536 },
  "state_dir": "/data/stembox"
}
"#;

fn err(json: &str) -> String {
    match stembox::control::config_from_json(json.as_bytes()) {
        Ok(c) => panic!("{json:?} was accepted: {c:?}"),
        Err(e) => e.message,
    }
}

/// A fresh folder for one test's files, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("stembox-config-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

#[test]
fn empty_object_empty_file_and_whitespace_give_defaults() {
    let default = Config::default();
    for doc in ["{}", " { } \n", "", " \n\t\r\n", "\u{feff}", "\u{feff}{}"] {
        assert_eq!(
            Config::from_json(doc.as_bytes()),
            Ok(default.clone()),
            "{doc:?}"
        );
    }
    assert_eq!(default.audio.device.as_str(), "default");
    assert_eq!(default.audio.rate, 48_000);
    assert_eq!(default.audio.channels, 2);
    assert_eq!(default.audio.period_frames, 256);
    assert_eq!(default.audio.periods, 2);
    assert_eq!(default.audio.format, SampleFormat::S16Le);
    assert!(!default.audio.enable_latency_monitor);
    assert_eq!(default.rt.priority, 70);
    assert_eq!(default.rt.cpu, -1);
    assert_eq!(default.stats.interval_s, 10);
    assert!(default.validate().is_ok());

    let dir = TempDir::new("empty");
    let path = dir.join("config.json");
    std::fs::write(&path, "").expect("write");
    assert_eq!(
        Config::load(&path, stembox::control::CONFIG_CHECKS),
        Ok(default)
    );
}

#[test]
fn full_example_parses_to_its_values() {
    let c = Config::from_json(FULL_EXAMPLE.as_bytes()).expect("the README example loads");
    assert_eq!(c.library.as_str(), "/media/sd/songs");
    assert_eq!(c.audio.device.as_str(), "hw:0,0");
    assert_eq!(c.audio.rate, 44_100);
    assert_eq!(c.audio.channels, 2);
    assert_eq!(c.audio.period_frames, 128);
    assert_eq!(c.audio.periods, 3);
    assert_eq!(c.audio.format, SampleFormat::S24Le);
    assert!(c.audio.enable_latency_monitor);
    assert_eq!(c.audio.master_gain_db, -3.5);
    assert_eq!((c.rt.priority, c.rt.cpu, c.rt.mlock), (80, 1, false));
    assert_eq!(c.buttons.devices.len(), 1);
    assert_eq!(
        c.buttons.devices[0].as_str(),
        "/dev/input/by-path/platform-gpio-keys-event"
    );
    let map: Vec<(&str, Gesture, &str)> = c
        .buttons
        .map
        .iter()
        .map(|b| (b.key.as_str(), b.gesture, b.action.as_str()))
        .collect();
    assert_eq!(
        map,
        [
            ("KEY_1", Gesture::Short, "play_pause"),
            ("KEY_1", Gesture::Long, "stop"),
            ("KEY_2", Gesture::Short, "next_song"),
            ("KEY_3", Gesture::Double, "toggle_mute:drums"),
        ]
    );
    assert_eq!(
        (
            c.buttons.debounce_ms,
            c.buttons.long_press_ms,
            c.buttons.double_press_ms
        ),
        (20, 700, 250)
    );
    assert_eq!(c.stats.interval_s, 30);
    assert_eq!(c.memory.budget_mb, 1536);
    assert_eq!(c.state_dir.as_str(), "/data/stembox");
}

/// A good document is read without allocating: serde-json-core into the heapless structs
/// (serde_json reads it again, to explain, only when that fails).
#[cfg(debug_assertions)]
#[test]
fn reading_a_good_document_does_not_allocate() {
    let escaped = r#"{"library": "/caf\u00e9", "audio": {"r\u0061te": 44100}}"#;
    for doc in [FULL_EXAMPLE, escaped, "{}"] {
        assert!(assert_no_alloc(|| {
            let mut buf = [0u8; 512];
            serde_json_core::from_slice_escaped::<Config>(doc.as_bytes(), &mut buf).is_ok()
        }));
    }
}

#[test]
fn escapes_and_unicode_in_strings_are_decoded() {
    let c = Config::from_json(
        r#"{"library": "/songs/caf\u00e9 \"live\"\\", "state_dir": "/ü"}"#.as_bytes(),
    )
    .expect("loads");
    assert_eq!(c.library.as_str(), "/songs/café \"live\"\\");
    assert_eq!(c.state_dir.as_str(), "/ü");
    // Keys may be escaped too.
    let c = Config::from_json(br#"{"audio": {"r\u0061te": 44100}}"#).expect("loads");
    assert_eq!(c.audio.rate, 44_100);
}

#[test]
fn wrong_type_names_key_and_line_through_load() {
    let dir = TempDir::new("wrong-type");
    let path = dir.join("config.json");
    std::fs::write(
        &path,
        "{\n  \"audio\": {\n    \"rate\": \"48000\"\n  }\n}\n",
    )
    .expect("write");
    let e = Config::load(&path, stembox::control::CONFIG_CHECKS).unwrap_err();
    assert_eq!(
        e.message,
        format!(
            "config {}: key \"audio.rate\": expected a whole number in 0..=4294967295, found a string at line 3, column 13",
            path.display()
        )
    );
    assert_eq!(e.to_string(), e.message);
    assert_eq!(ConfigError::EXIT_CODE, 2);
}

#[test]
fn wrong_types() {
    assert_eq!(
        err(r#"{"audio": {"enable_latency_monitor": "yes"}}"#),
        "key \"audio.enable_latency_monitor\": expected true or false, found a string at line 1, column 38"
    );
    assert_eq!(
        err(r#"{"audio": 48000}"#),
        "key \"audio\": expected an object, found a number at line 1, column 11"
    );
    assert_eq!(
        err(r#"{"library": null}"#),
        "key \"library\": expected a string no more than 256 bytes long, found null at line 1, column 13"
    );
    assert_eq!(
        err(r#"{"audio": {"master_gain_db": null}}"#),
        "key \"audio.master_gain_db\": must be a finite number at line 1, column 30"
    );
    assert_eq!(
        err(r#"{"buttons": {"devices": "/dev/input/event0"}}"#),
        "key \"buttons.devices\": expected an array, found a string at line 1, column 25"
    );
    assert_eq!(
        err(r#"{"buttons": {"map": [{"key": 1, "action": "stop"}]}}"#),
        "key \"buttons.map[0].key\": expected a string no more than 32 bytes long, found a number at line 1, column 30"
    );
    assert_eq!(
        err("[]"),
        "the document: expected an object, found an array at line 1, column 1"
    );
}

#[test]
fn numbers_must_fit_their_type() {
    assert_eq!(
        err(r#"{"audio": {"period_frames": -64}}"#),
        "key \"audio.period_frames\": expected a whole number in 0..=4294967295, found -64 at line 1, column 29"
    );
    assert_eq!(
        err(r#"{"audio": {"periods": 2.5}}"#),
        "key \"audio.periods\": expected a whole number in 0..=4294967295, found 2.5 at line 1, column 23"
    );
    assert_eq!(
        err(r#"{"audio": {"rate": 1e5}}"#),
        "key \"audio.rate\": expected a whole number in 0..=4294967295, found 1e5 at line 1, column 20"
    );
    assert_eq!(
        err(r#"{"stats": {"interval_s": 4294967296}}"#),
        "key \"stats.interval_s\": expected a whole number in 0..=4294967295, found 4294967296 at line 1, column 26"
    );
    assert!(Config::from_json(br#"{"stats": {"interval_s": 4294967295}}"#).is_ok());
    assert_eq!(
        err(r#"{"rt": {"cpu": -2147483649}}"#),
        "key \"rt.cpu\": expected a whole number in -2147483648..=2147483647, found -2147483649 at line 1, column 16"
    );
    assert_eq!(
        err(r#"{"audio": {"master_gain_db": -1e39}}"#),
        "key \"audio.master_gain_db\": must be a finite number at line 1, column 30"
    );
    // Floats take whole numbers too.
    let c = Config::from_json(br#"{"audio": {"master_gain_db": -6}}"#).expect("loads");
    assert_eq!(c.audio.master_gain_db, -6.0);
}

#[test]
fn out_of_range_values_name_the_key_and_where_it_is() {
    assert_eq!(
        err(r#"{"audio": {"rate": 1000}}"#),
        "key \"audio.rate\": 1000 Hz is outside 8000..=384000 at line 1, column 20"
    );
    assert_eq!(
        err("{\n\"rt\": {\"priority\": 0}}"),
        "key \"rt.priority\": 0 is outside 1..=99 (SCHED_FIFO) at line 2, column 20"
    );
    assert_eq!(
        err(r#"{"audio": {"period_frames": 2048}}"#),
        "key \"audio.period_frames\": 2048 is outside 16..=1024 at line 1, column 29"
    );
    assert_eq!(
        err(r#"{"audio": {"channels": 0}}"#),
        "key \"audio.channels\": 0 is outside 1..=8 at line 1, column 24"
    );
    assert_eq!(
        err(r#"{"rt": {"cpu": -2}}"#),
        "key \"rt.cpu\": -2 is not a CPU number (or -1) at line 1, column 16"
    );
    assert_eq!(
        err(r#"{"audio": {"master_gain_db": 30}}"#),
        "key \"audio.master_gain_db\": 30 dB is above +24 dB at line 1, column 30"
    );
    assert_eq!(
        err(r#"{"library": ""}"#),
        "key \"library\": must not be empty at line 1, column 13"
    );
    // A range problem that comes from two keys, one of them left at its default: the
    // position is that of the key named.
    assert_eq!(
        err(r#"{"buttons": {"debounce_ms": 700}}"#),
        "key \"buttons.long_press_ms\": 600 ms must be above buttons.debounce_ms (700 ms) and at most 10000 ms"
    );
}

#[test]
fn key_map_entries_are_checked_where_they_are_written() {
    let doc = r#"{"buttons": {"map": [
        {"key": "KEY_1", "action": "play_pause"},
        {"key": "KEY_2", "action": "play_paws"}]}}"#;
    let e = err(doc);
    assert!(
        e.starts_with("key \"buttons.map[1].action\": unknown action \"play_paws\" (known: "),
        "{e}"
    );
    assert!(e.ends_with(" at line 3, column 36"), "{e}");
    assert!(
        err(r#"{"buttons": {"map": [{"key": "KEY_NOPE", "action": "stop"}]}}"#)
            .starts_with("key \"buttons.map[0].key\": unknown key \"KEY_NOPE\"")
    );
    assert_eq!(
        err(r#"{"buttons": {"map": [{"key": "KEY_1", "action": "stop"}, {"key": "key_1", "gesture": "short", "action": "next_song"}]}}"#),
        "key \"buttons.map[1].key\": key_1 short is already bound by buttons.map[0]; remove one of them at line 1, column 66"
    );
    // The same key with another gesture is another binding.
    assert!(Config::from_json(
        br#"{"buttons": {"map": [{"key": "KEY_1", "action": "stop"}, {"key": "KEY_1", "gesture": "long", "action": "next_song"}]}}"#
    )
    .is_ok());
}

/// The checks on `buttons` here are the ones the input thread makes when it starts, so
/// `stembox check` accepts exactly the button configs the appliance will run with.
#[test]
fn button_checks_agree_with_the_input_module() {
    use stembox::hw::input::{GestureTiming, KeyMap};
    let times = [0, 1, 29, 30, 31, 300, 600, 1000, 1001, 10_000, 10_001];
    for debounce in times {
        for long in times {
            for double in times {
                let mut c = Config::default();
                c.buttons.debounce_ms = debounce;
                c.buttons.long_press_ms = long;
                c.buttons.double_press_ms = double;
                assert_eq!(
                    c.validate().is_ok(),
                    GestureTiming::from_config(&c.buttons).is_ok(),
                    "debounce {debounce}, long {long}, double {double}"
                );
            }
        }
    }
    let maps = [
        r#"[]"#,
        r#"[{"key": "KEY_1", "action": "stop"}]"#,
        r#"[{"key": "btn_0", "action": "toggle_mute:drums"}]"#,
        r#"[{"key": "KEY_1", "action": "nope"}]"#,
        r#"[{"key": "KEY_WHAT", "action": "stop"}]"#,
        r#"[{"key": "KEY_1", "action": "toggle_mute:"}]"#,
        r#"[{"key": "KEY_1", "action": "gain:bass:-3.5"}]"#,
        r#"[{"key": "KEY_1", "action": "gain:bass"}]"#,
        r#"[{"key": "KEY_1", "action": "a"}, {"key": "KEY_1", "action": "stop"}]"#,
        r#"[{"key": "KEY_1", "action": "stop"}, {"key": "KEY_1", "action": "stop"}]"#,
        r#"[{"key": "KEY_1", "action": "stop"}, {"key": "KEY_1", "gesture": "double", "action": "stop"}]"#,
    ];
    for map in maps {
        let doc = format!(r#"{{"buttons": {{"map": {map}}}}}"#);
        let mut buf = [0u8; 512];
        let (c, _) = serde_json_core::from_slice_escaped::<Config>(doc.as_bytes(), &mut buf)
            .expect("decodes");
        // The key map is the input thread's check, passed to the config reader by control.
        let checked =
            c.validate().is_ok() && stembox::hw::input::keymap::config_problem(&c).is_none();
        assert_eq!(
            checked,
            KeyMap::from_config(&c.buttons.map).is_ok(),
            "{map}"
        );
        assert_eq!(
            stembox::control::config_from_json(doc.as_bytes()).is_ok(),
            checked
        );
    }
}

#[test]
fn unknown_keys_suggest_the_right_one() {
    assert_eq!(
        err(r#"{"libary": "/x"}"#),
        "unknown key \"libary\" (did you mean \"library\"?) at line 1, column 2"
    );
    assert_eq!(
        err("{\n  \"audio\": {\n    \"rat\": 44100\n  }\n}"),
        "unknown key \"audio.rat\" (did you mean \"audio.rate\"?) at line 3, column 5"
    );
    assert_eq!(
        err(r#"{"rate": 44100}"#),
        "unknown key \"rate\" (did you mean \"audio.rate\"?) at line 1, column 2"
    );
    assert_eq!(
        err(r#"{"audio": {"Period_Frames": 64}}"#),
        "unknown key \"audio.Period_Frames\" (did you mean \"audio.period_frames\"?) at line 1, column 12"
    );
    assert_eq!(
        err(r#"{"audio": {"volume": 3}}"#),
        "unknown key \"audio.volume\" (known keys here: device, rate, channels, period_frames, periods, format, enable_latency_monitor, master_gain_db, buses) at line 1, column 12"
    );
    assert_eq!(
        err(r#"{"colour": "red"}"#),
        "unknown key \"colour\" (known keys at the top level: library, audio, rt, buttons, stats, memory, leds, midi, remote, display, state_dir) at line 1, column 2"
    );
    assert_eq!(
        err(r#"{"buttons": {"map": [{"key": "KEY_1", "action": "stop"}, {"key": "KEY_2", "action": "stop", "gestrue": "long"}]}}"#),
        "unknown key \"buttons.map[1].gestrue\" (did you mean \"buttons.map[1].gesture\"?) at line 1, column 93"
    );
    // A key with a line break in it stays on one line in the message.
    let m = err("{\"a\\nb\": 1}");
    assert_eq!(m.lines().count(), 1, "{m}");
    assert!(m.starts_with("unknown key \"a\\nb\""), "{m}");
}

#[test]
fn bad_enum_values() {
    assert_eq!(
        err(r#"{"audio": {"format": "S16"}}"#),
        "key \"audio.format\": expected one of S16_LE, S24_LE, S32_LE, FLOAT_LE, found \"S16\" at line 1, column 22"
    );
    assert_eq!(
        err(r#"{"audio": {"format": "float_le"}}"#),
        "key \"audio.format\": expected one of S16_LE, S24_LE, S32_LE, FLOAT_LE, found \"float_le\" (the names are case-sensitive) at line 1, column 22"
    );
    assert_eq!(
        err(r#"{"audio": {"format": 16}}"#),
        "key \"audio.format\": expected one of S16_LE, S24_LE, S32_LE, FLOAT_LE, found a number at line 1, column 22"
    );
    let three = r#"{"buttons": {"map": [
        {"key": "KEY_1", "action": "a"},
        {"key": "KEY_2", "action": "b"},
        {"key": "KEY_3", "gesture": "triple", "action": "c"}]}}"#;
    assert_eq!(
        err(three),
        "key \"buttons.map[2].gesture\": expected one of short, long, double, found \"triple\" at line 4, column 37"
    );
    for f in SampleFormat::ALL {
        let c = Config::from_json(format!(r#"{{"audio": {{"format": "{f}"}}}}"#).as_bytes())
            .expect("every format name loads");
        assert_eq!(c.audio.format, f);
    }
}

#[test]
fn duplicate_and_missing_keys() {
    assert_eq!(
        err(r#"{"audio": {"rate": 44100, "rate": 48000}}"#),
        "key \"audio.rate\" is given twice (here again) at line 1, column 27"
    );
    assert_eq!(
        err(r#"{"buttons": {"map": [{"key": "KEY_1"}]}}"#),
        "key \"buttons.map[0]\": \"action\" is missing at line 1, column 22"
    );
}

#[test]
fn strings_and_arrays_within_capacity() {
    let long = "d".repeat(300);
    assert_eq!(
        err(&format!(r#"{{"audio": {{"device": "{long}"}}}}"#)),
        "key \"audio.device\": the string is 300 bytes long, the limit is 256 at line 1, column 22"
    );
    // The limit is on UTF-8 bytes after unescaping: 128 x "é" is 256 bytes, 129 is 258.
    let fits = r"\u00e9".repeat(128);
    assert!(Config::from_json(format!(r#"{{"library": "{fits}"}}"#).as_bytes()).is_ok());
    let too_long = "é".repeat(129);
    assert_eq!(
        err(&format!(r#"{{"library": "{too_long}"}}"#)),
        "key \"library\": the string is 258 bytes long, the limit is 256 at line 1, column 13"
    );
    let nine: Vec<String> = (0..9).map(|i| format!("\"/dev/input/event{i}\"")).collect();
    let doc = format!(r#"{{"buttons": {{"devices": [{}]}}}}"#, nine.join(", "));
    let ninth = doc.find("\"/dev/input/event8").expect("ninth") + 1;
    assert_eq!(
        err(&doc),
        format!("key \"buttons.devices\": more than 8 items (this is item [8]) at line 1, column {ninth}")
    );
    let many: Vec<&str> = vec![r#"{"key": "KEY_1", "action": "stop"}"#; 49];
    let doc = format!(r#"{{"buttons": {{"map": [{}]}}}}"#, many.join(","));
    assert!(err(&doc).starts_with("key \"buttons.map\": more than 48 items (this is item [48])"));
}

#[test]
fn malformed_json_gives_byte_offset_line_and_column() {
    assert_eq!(
        err(r#"{"audio": {"rate": 48000,}}"#),
        "malformed JSON at line 1, column 25 (byte 24): trailing comma before '}'"
    );
    assert_eq!(
        err("{\n  \"audio\": {\n    \"rate\" 48000\n  }\n}"),
        "malformed JSON at line 3, column 12 (byte 26): expected `:`, found '4'"
    );
    assert_eq!(
        err("{\n  \"library\": \"/x\"\n  \"state_dir\": \"/y\"\n}"),
        "malformed JSON at line 3, column 3 (byte 22): expected `,` or `}`, found '\"' (missing ',' between two keys?)"
    );
    assert_eq!(
        err(r#"{"library": "/x}"#),
        "malformed JSON at line 1, column 13 (byte 12): this string is never closed: the file ends first"
    );
    assert_eq!(
        err(r#"{"audio": {"rate": 48000}"#),
        "malformed JSON at line 1, column 1 (byte 0): this '{' is never closed: the file ends first"
    );
    assert_eq!(
        err(r#"{"audio": {"rate": 048000}}"#),
        "malformed JSON at line 1, column 20 (byte 19): bad number '048000': leading zeros are not allowed"
    );
    assert_eq!(
        err("{} {}"),
        "malformed JSON at line 1, column 4 (byte 3): '{' after the end of the document"
    );
    assert_eq!(
        err("{\"library\": \"/x\", // the songs\n}"),
        "malformed JSON at line 1, column 19 (byte 18): expected a key in double quotes, found '/' (JSON has no comments)"
    );
    // Deep nesting neither overflows the stack nor hides what is wrong.
    let deep = format!("{{\"audio\": {}{}}}", "[".repeat(100), "]".repeat(100));
    assert_eq!(
        err(&deep),
        "key \"audio\": expected an object, found an array at line 1, column 11"
    );
    let unclosed = format!("{{\"audio\": {}", "[".repeat(30_000));
    assert_eq!(
        err(&unclosed),
        "malformed JSON at line 1, column 30010 (byte 30009): this '[' is never closed: the file ends first"
    );
    // Syntax is checked before keys: a bad key early does not hide broken JSON later.
    assert!(err(r#"{"nope": 1, "audio": {]}"#).starts_with("malformed JSON at line 1, column 23"));
}

#[test]
fn non_utf8_is_refused_with_its_offset() {
    let e = Config::from_json(b"{\n  \"library\": \"/caf\xe9\"\n}").unwrap_err();
    assert_eq!(
        e.message,
        "malformed JSON at line 2, column 19 (byte 20): byte 0xe9 is not UTF-8 text; save the file as UTF-8"
    );
}

#[test]
fn missing_unreadable_and_too_big_files() {
    let dir = TempDir::new("files");
    let missing = dir.join("nope.json");
    assert_eq!(
        Config::load(&missing, stembox::control::CONFIG_CHECKS)
            .unwrap_err()
            .message,
        format!(
            "config {}: cannot open: No such file or directory (os error 2)",
            missing.display()
        )
    );
    assert_eq!(
        Config::load(&dir, stembox::control::CONFIG_CHECKS)
            .unwrap_err()
            .message,
        format!(
            "config {}: is a directory, not a regular file; refused (put the file itself there)",
            dir.display()
        )
    );
    let big = dir.join("big.json");
    let mut text = String::from("{\"library\": \"/x\"}");
    text.push_str(&" ".repeat(MAX_CONFIG_BYTES));
    std::fs::write(&big, &text).expect("write");
    assert_eq!(
        Config::load(&big, stembox::control::CONFIG_CHECKS)
            .unwrap_err()
            .message,
        format!(
            "config {}: larger than 65536 bytes; refused (is it the right file?)",
            big.display()
        )
    );
    assert_eq!(
        err(&text),
        format!("the file is {} bytes, the limit is 65536", text.len())
    );
    // Exactly at the limit is fine.
    text.truncate(MAX_CONFIG_BYTES);
    assert!(Config::from_json(text.as_bytes()).is_ok());
}

/// A tiny deterministic generator for the mutation test.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Thousands of damaged copies of the full example: none panics, every error is one line,
/// and the scanner never lets through a document serde-json-core then refuses (the
/// scanner's promise, which the "stembox bug" message would otherwise reveal).
#[test]
fn damaged_configs_never_panic_and_always_explain() {
    let base = FULL_EXAMPLE.as_bytes();
    let alphabet = b"{}[]:,\"\\ \n-0123456789.eE+tfnaul_xS\x00\xff\xc3\xa9";
    let mut rng = XorShift(0x5EED_CAFE_F00D_1234);
    let (mut ok, mut bad) = (0, 0);
    for _ in 0..20_000 {
        let mut doc = base.to_vec();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(doc.len() + 1);
            match rng.below(4) {
                0 if at < doc.len() => {
                    doc.remove(at);
                }
                1 => doc.insert(at, alphabet[rng.below(alphabet.len())]),
                2 if at < doc.len() => doc[at] = alphabet[rng.below(alphabet.len())],
                _ => doc.truncate(at),
            }
        }
        match Config::from_json(&doc) {
            Ok(_) => ok += 1,
            Err(e) => {
                bad += 1;
                assert!(!e.message.is_empty());
                assert_eq!(
                    e.message.lines().count(),
                    1,
                    "{:?} {}",
                    String::from_utf8_lossy(&doc),
                    e.message
                );
                assert!(
                    !e.message.contains("stembox bug"),
                    "{}\n{}",
                    e.message,
                    String::from_utf8_lossy(&doc)
                );
            }
        }
    }
    // Both outcomes happen, so the test exercises both paths.
    assert!(ok > 100 && bad > 10_000, "ok {ok}, bad {bad}");
}

/// `{"a": {"b": VALUE}}` for the dotted path `a.b`; `buttons.map[].x` becomes one binding
/// with the required fields and `x` set to VALUE.
fn doc_with(path: &str, value: &str) -> String {
    if let Some(field) = path.strip_prefix("buttons.map[].") {
        let mut fields = vec![];
        for (name, sample) in [("key", "\"KEY_1\""), ("action", "\"stop\"")] {
            if name != field {
                fields.push(format!("\"{name}\": {sample}"));
            }
        }
        fields.push(format!("\"{field}\": {value}"));
        return format!("{{\"buttons\": {{\"map\": [{{{}}}]}}}}", fields.join(", "));
    }
    let mut s = value.to_string();
    for name in path.rsplit('.') {
        s = format!("{{\"{name}\": {s}}}");
    }
    s
}

/// For every key and a spread of values of every JSON kind, the checked loader accepts
/// exactly what serde-json-core plus `validate()` accept: the scanner is neither looser
/// (which would leave serde-json-core's position-less error to the user) nor stricter.
#[test]
fn scanner_agrees_with_serde_json_core_on_every_key() {
    let long = format!("\"{}\"", "x".repeat(300));
    let values = [
        "0",
        "1",
        "-1",
        "-0",
        "2",
        "44100",
        "1.5",
        "-0.5",
        "1e3",
        "2E-2",
        "4294967295",
        "4294967296",
        "2147483647",
        "2147483648",
        "-2147483648",
        "-2147483649",
        "\"\"",
        "\"x\"",
        "\"S16_LE\"",
        "\"FLOAT_LE\"",
        "\"short\"",
        "\"double\"",
        "\"a\\u00e9\\n\"",
        "true",
        "false",
        "null",
        "[]",
        "[\"a\"]",
        "[1]",
        "{}",
        "{\"key\": \"K\", \"action\": \"a\"}",
        "[{\"key\": \"K\", \"action\": \"a\"}]",
        "[{\"key\": \"K\"}]",
        &long,
    ];
    let mut accepted = 0;
    for path in stembox::storage::config::leaf_paths() {
        for value in values {
            let doc = doc_with(&path, value);
            let mut buf = [0u8; 512];
            let serde = serde_json_core::from_slice_escaped::<Config>(doc.as_bytes(), &mut buf)
                .ok()
                .filter(|c| c.0.validate().is_ok());
            let checked = Config::from_json(doc.as_bytes());
            match (&serde, &checked) {
                (Some((c, _)), Ok(d)) => {
                    assert_eq!(c, d, "{doc}");
                    accepted += 1;
                }
                (None, Err(e)) => assert!(!e.message.contains("stembox bug"), "{doc}: {e}"),
                _ => panic!("{doc}: serde-json-core {serde:?}, checked {checked:?}"),
            }
        }
    }
    assert!(accepted > 40, "{accepted}");
}

/// The default at a dotted path of `Config::default()`, as JSON.
fn default_at(path: &str) -> Option<serde_json::Value> {
    let mut v = serde_json::to_value(Config::default()).expect("the config serializes");
    for name in path.split('.') {
        v = v.get(name)?.clone();
    }
    Some(v)
}

/// Whether a default as the README or `--help` writes it is the default (`0` for `0.0`).
fn same_default(written: &str, actual: &serde_json::Value) -> bool {
    match serde_json::from_str::<serde_json::Value>(written) {
        Ok(serde_json::Value::Number(n)) => actual.as_f64() == n.as_f64(),
        // `{}`: every key of that section at its default.
        Ok(serde_json::Value::Object(m)) if m.is_empty() => actual.is_object(),
        Ok(v) => &v == actual,
        Err(_) => false,
    }
}

/// Defaults are written once, in `Config::default()`: the README's table and `--help` say
/// the same, and between them every key is documented.
#[test]
fn readme_and_help_defaults_are_config_default() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let mut documented = Vec::new();
    for row in readme.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split(" | ").collect();
        let Some(default) = cells
            .get(1)
            .and_then(|d| d.strip_prefix('`')?.strip_suffix('`'))
        else {
            continue;
        };
        for key in cells[0].trim_start_matches("| ").split(" / ") {
            let key = key.trim_matches('`');
            // Rows of other tables (e.g. song.json) name no config key.
            let Some(actual) = default_at(key) else {
                continue;
            };
            assert!(
                same_default(default, &actual),
                "README: `{key}` default {default}, Config::default() has {actual}"
            );
            documented.push(key.to_string());
        }
    }
    let help = stembox::cli::HELP;
    let keys = help
        .split("CONFIG KEYS (defaults):")
        .nth(1)
        .expect("--help lists the config keys");
    let words: Vec<&str> = keys.split_whitespace().collect();
    let mut in_help = 0;
    for pair in words.windows(2) {
        if let Some(actual) =
            default_at(pair[0]).filter(|_| pair[0].contains(['.', '_']) || pair[0] == "library")
        {
            assert!(
                same_default(pair[1], &actual),
                "--help: `{}` default {}, Config::default() has {actual}",
                pair[0],
                pair[1]
            );
            in_help += 1;
        }
    }
    assert!(in_help >= 19, "{in_help} keys in --help");
    for path in stembox::storage::config::leaf_paths() {
        if path.contains("[]") {
            continue;
        }
        assert!(
            documented
                .iter()
                .any(|d| path == *d || path.starts_with(&format!("{d}."))),
            "README: `{path}` is not in the config table"
        );
    }
}

/// The master gain's range is written where users look, and it is the one the controller
/// enforces (`action::MIN_VOLUME_DB..=MAX_VOLUME_DB`).
#[test]
fn master_gain_range_in_readme_and_help_is_the_enforced_one() {
    let range = format!(
        "{}..+{} dB",
        stembox::model::action::MIN_VOLUME_DB,
        stembox::model::action::MAX_VOLUME_DB
    );
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let row = readme
        .lines()
        .find(|l| l.starts_with("| `audio.master_gain_db` |"))
        .expect("README documents audio.master_gain_db");
    assert!(row.contains(&range), "README row {row:?} lacks {range}");
    let help = stembox::cli::HELP;
    assert!(
        help.contains(&format!("audio.master_gain_db 0 ({range})")),
        "--help lacks the range {range}"
    );
}

/// `audio.buses`: a good map is read in order (main first for the engine); every hostile
/// one is refused with a message that names the bus or the key.
#[test]
fn buses_are_read_and_hostile_ones_refused() {
    let c = Config::from_json(
        br#"{"audio": {"channels": 6, "buses": {"cue": [3, 4], "main": [1, 2], "fx": [6]}}}"#,
    )
    .unwrap();
    assert_eq!(c.audio.buses.names(), ["main", "cue", "fx"]);
    let t = c.audio.buses.table(6).unwrap();
    assert_eq!(t.len(), 3);
    assert_eq!(t.click_bus().channels(), &[2, 3]);
    // The default map on a mono device: main on output 1.
    let mono = Config::from_json(br#"{"audio": {"channels": 1}}"#).unwrap();
    assert_eq!(
        mono.audio.buses.table(1).unwrap().buses()[0].channels(),
        &[0]
    );
    for (doc, want) in [
        (
            r#"{"audio": {"buses": {"main": [1, 2], "cue": [3, 4]}}}"#,
            "audio.buses.cue\": output 3 is outside 1..=2 (audio.channels)",
        ),
        (
            r#"{"audio": {"channels": 4, "buses": {"main": [1, 2], "cue": [2, 3]}}}"#,
            "output 2 is already used by bus \"main\"",
        ),
        (
            r#"{"audio": {"channels": 4, "buses": {"cue": [3, 4]}}}"#,
            "needs a \"main\" bus",
        ),
        (
            r#"{"audio": {"channels": 4, "buses": {"main": [1, 2], "main": [3, 4]}}}"#,
            "bus \"main\" is given twice",
        ),
        (
            r#"{"audio": {"channels": 4, "buses": {"main": [1, 1]}}}"#,
            "twice",
        ),
        (
            r#"{"audio": {"channels": 4, "buses": {"main": [0, 1]}}}"#,
            "output 0 is outside",
        ),
        (
            r#"{"audio": {"channels": 4, "buses": {"main": []}}}"#,
            "needs one output",
        ),
        (
            r#"{"audio": {"channels": 4, "buses": {"main": [1, 2, 3]}}}"#,
            "audio.buses.main",
        ),
        (
            r#"{"audio": {"channels": 4, "buses": {"main": [1.5, 2]}}}"#,
            "audio.buses.main",
        ),
        (
            r#"{"audio": {"channels": 4, "buses": {"main": [-1, 2]}}}"#,
            "audio.buses.main",
        ),
        (
            r#"{"audio": {"channels": 4, "buses": {"main": [1, 2], "c ue": [3]}}}"#,
            "ASCII letters",
        ),
        (
            r#"{"audio": {"channels": 4, "buses": {"main": [1, 2], "": [3]}}}"#,
            "ASCII letters",
        ),
        (
            r#"{"audio": {"channels": 4, "buses": {"main": [1, 2], "a_very_long_bus_name": [3]}}}"#,
            "audio.buses",
        ),
        (
            r#"{"audio": {"channels": 4, "buses": [1, 2]}}"#,
            "audio.buses",
        ),
        (
            r#"{"audio": {"channels": 4, "buses": {"main": "1,2"}}}"#,
            "audio.buses.main",
        ),
        (
            r#"{"audio": {"channels": 8, "buses": {"main": [1], "a": [2], "b": [3], "c": [4], "d": [5], "e": [6], "f": [7], "g": [8], "h": [8]}}}"#,
            "audio.buses",
        ),
        (
            r#"{"audio": {"channels": 4, "buses": {"m\nx": [1], "m\nx": [2]}}}"#,
            "bus \"m\\nx\" is given twice",
        ),
        (
            r#"{"audio": {"channels": 4, "buses": {"main": [1], "m\u0007x": [2]}}}"#,
            "bus name \"m\\u{7}x\"",
        ),
    ] {
        let e = Config::from_json(doc.as_bytes()).expect_err(doc);
        assert!(e.message.contains(want), "{doc}: {}", e.message);
        assert!(
            !e.message.chars().any(char::is_control),
            "{doc}: one line: {:?}",
            e.message
        );
        assert!(!e.message.contains("stembox bug"), "{doc}: {}", e.message);
    }
}
