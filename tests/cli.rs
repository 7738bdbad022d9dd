//! The binary's contract from the outside: modes, exit codes, one-line errors, `check`'s
//! report, and the appliance's `ready` / `stats` / `quit` on the console.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn small_library(dir: &std::path::Path) -> std::path::PathBuf {
    let lib = dir.join("lib");
    let a = lib.join("01-one");
    let b = lib.join("02-two");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    GenStem::noise("drums", 48_000, 2, Enc::I16, 24_000, 0.2, 1).write_wav(&a.join("drums.wav"));
    GenStem::noise("bass", 44_100, 1, Enc::I24, 22_050, 0.2, 2).write_flac(&a.join("bass.flac"));
    GenStem::noise("keys", 48_000, 2, Enc::F32, 12_000, 0.2, 3).write_wav(&b.join("keys.wav"));
    lib
}

#[test]
fn help_documents_every_mode() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for word in [
        "run",
        "play",
        "check",
        "--once",
        "--config",
        "--song",
        "--stats-json",
        "stembox-demo",
    ] {
        assert!(help.contains(word), "--help does not mention {word}");
    }
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    for args in [
        &["--bogus"][..],
        &["play", "--config", "x.json"],
        &["dance"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("stembox: "), "{err}");
    }
}

#[test]
fn bad_config_exits_2_naming_the_problem_without_panicking() {
    let dir = temp_dir("cli-bad-config");
    for (json, needle) in [
        (r#"{"audio": {"rate": "fast"}}"#, "audio.rate"),
        (r#"{"audio": {"rat": 48000}}"#, "audio.rat"),
        (r#"{"audio": {"format": "S8"}}"#, "audio.format"),
        ("{\"library\": \"/x\",, }", "line 1"),
        (r#"{"rt": {"priority": 0}}"#, "rt.priority"),
    ] {
        let cfg = write_config(&dir, json);
        let out = run(&["check", "--config", cfg.to_str().unwrap()]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{json}: {err}");
        assert_eq!(err.lines().count(), 1, "{json}: {err}");
        assert!(err.contains(needle), "{json}: {err} does not name {needle}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let out = run(&[
        "check",
        "--config",
        dir.join("missing.json").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("missing.json"));
}

#[test]
fn check_lists_songs_stems_and_ram_then_flags_a_broken_stem() {
    let dir = temp_dir("cli-check");
    let lib = small_library(&dir);
    let cfg = write_config(&dir, &format!(r#"{{"library": "{}"}}"#, lib.display()));
    let out = run(&["check", "--config", cfg.to_str().unwrap()]);
    let s = text(&out.stdout);
    assert!(out.status.success(), "{s}{}", text(&out.stderr));
    assert!(s.contains("library") && s.contains("2 songs"), "{s}");
    // 01-one: 0.5 s at 48 kHz, one mono and one stereo stem, f32: 24000 * 3 * 4 = 288000
    // bytes (a mono stem is held mono).
    assert!(
        s.contains("song  1 01-one: 2 stems, 0.50 s, RAM 0.3 MB"),
        "{s}"
    );
    assert!(s.contains("44100 Hz") && s.contains("(resampled)"), "{s}");
    assert!(
        s.contains("mono") && s.contains("stereo") && s.contains("24-bit"),
        "{s}"
    );
    assert!(
        s.contains("check: 2 songs, 0 problems, every stem decoded"),
        "{s}"
    );

    std::fs::write(lib.join("02-two").join("broken.wav"), b"RIFF0000WAVEjunk").unwrap();
    let out = run(&["check", "--config", cfg.to_str().unwrap()]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{s}");
    assert!(s.contains("problem: ") && s.contains("broken.wav"), "{s}");
}

#[test]
fn check_decodes_stems_and_finds_a_truncated_flac_that_quick_cannot() {
    let dir = temp_dir("cli-check-truncated");
    let lib = small_library(&dir);
    let cfg = write_config(&dir, &format!(r#"{{"library": "{}"}}"#, lib.display()));
    // Cut the FLAC in half: its STREAMINFO still says 0.5 s.
    let flac = lib.join("01-one").join("bass.flac");
    let bytes = std::fs::read(&flac).unwrap();
    std::fs::write(&flac, &bytes[..bytes.len() / 2]).unwrap();

    let out = run(&["check", "--config", cfg.to_str().unwrap()]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{s}");
    assert!(
        s.contains("problem: ") && s.contains("bass.flac") && s.contains("truncated"),
        "{s}"
    );
    // Headers only: it passes, and says what it did not verify.
    let out = run(&["check", "--quick", "--config", cfg.to_str().unwrap()]);
    let s = text(&out.stdout);
    assert!(out.status.success(), "{s}");
    assert!(s.contains("headers only, stems not decoded"), "{s}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn play_names_missing_songs_and_devices() {
    let dir = temp_dir("cli-play-errors");
    let lib = small_library(&dir);
    let cfg = write_config(
        &dir,
        &format!(
            r#"{{"library": "{}", "audio": {{"device": "null"}}}}"#,
            lib.display()
        ),
    );
    let out = play_once(&cfg, "99-nope", &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("99-nope") && err.contains("01-one"), "{err}");

    let cfg = write_config(
        &dir,
        &format!(
            r#"{{"library": "{}", "audio": {{"device": "hw:97,0"}}}}"#,
            lib.display()
        ),
    );
    let out = play_once(&cfg, "1", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("hw:97,0"),
        "{}",
        text(&out.stderr)
    );

    let cfg = write_config(&dir, r#"{"library": "/nonexistent/stembox-lib"}"#);
    let out = play_once(&cfg, "1", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/nonexistent/stembox-lib"));
}

#[test]
fn appliance_prints_ready_answers_stats_and_quits() {
    let dir = temp_dir("cli-run");
    let lib = small_library(&dir);
    let cfg = write_config(
        &dir,
        &format!(
            r#"{{"library": "{}", "audio": {{"device": "null"}}, "state_dir": "{}", "rt": {{"mlock": false}}, "stats": {{"interval_s": 0}}}}"#,
            lib.display(),
            dir.join("state").display()
        ),
    );
    let mut child = Command::new(stembox())
        .args(["run", "--config", cfg.to_str().unwrap(), "--stats-json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let t0 = Instant::now();
    let mut seen = Vec::new();
    let mut next_line = |seen: &mut Vec<String>| {
        let l = lines.next().expect("stdout closed").unwrap();
        seen.push(l.clone());
        l
    };
    while next_line(&mut seen) != "ready" {
        assert!(t0.elapsed() < Duration::from_secs(30), "{seen:?}");
    }
    writeln!(stdin, "stats").unwrap();
    let stats = next_line(&mut seen);
    assert!(
        stats.starts_with('{') && stats.contains("\"xruns\":0"),
        "{stats}"
    );
    writeln!(stdin, "bogus words").unwrap();
    assert!(next_line(&mut seen).starts_with("error: "), "{seen:?}");
    writeln!(stdin, "mute drums").unwrap();
    assert_eq!(next_line(&mut seen), "ok drums mute=1 solo=0 gain_db=0.0");
    writeln!(stdin, "quit").unwrap();
    assert_eq!(next_line(&mut seen), "ok quit");
    let status = child.wait().unwrap();
    assert!(status.success(), "{seen:?}");
    // The final stats line comes at exit.
    let last = lines.map(|l| l.unwrap()).last().unwrap_or_default();
    assert!(last.starts_with('{') && last.contains("\"song\""), "{last}");
    // And the stem setting was saved for the next start.
    let state = std::fs::read_to_string(dir.join("state").join("state.json")).unwrap();
    assert!(state.contains("\"drums\":{\"mute\":true"), "{state}");
}

/// A bad setlist.json is a problem for `check` (exit 1, naming the file and what is wrong),
/// while `play` still starts, in folder order, with a warning. A byte-order mark in
/// setlist.json and song.json is not a problem.
#[test]
fn check_refuses_a_bad_setlist_that_play_falls_back_from() {
    let dir = temp_dir("cli-setlist");
    let lib = small_library(&dir);
    let cfg = write_config(
        &dir,
        &format!(
            r#"{{"library": "{}", "audio": {{"device": "null"}}}}"#,
            lib.display()
        ),
    );
    let cfg = cfg.to_str().unwrap();
    let setlist = lib.join("setlist.json");
    std::fs::write(&setlist, "\u{feff}[\"02-two\", \"01-one\"]").unwrap();
    std::fs::write(
        lib.join("01-one").join("song.json"),
        "\u{feff}{\"title\": \"One\", \"bpm\": 90}",
    )
    .unwrap();
    let out = run(&["check", "--config", cfg]);
    let s = text(&out.stdout);
    assert!(out.status.success(), "{s}{}", text(&out.stderr));
    assert!(s.contains("setlist: 02-two, 01-one"), "{s}");
    assert!(s.contains("title=\"One\" bpm=90"), "{s}");

    for (bad, why) in [
        (
            "[\"02-two\",\n 1]",
            "key `[1]`: expected a song folder name (a string), found 1 at line 2, column 2",
        ),
        ("[\"02-two\", \"03-three\"]", "no song folder \"03-three\""),
    ] {
        std::fs::write(&setlist, bad).unwrap();
        let out = run(&["check", "--config", cfg]);
        let s = text(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{bad}: {s}");
        let problem = s
            .lines()
            .find(|l| l.starts_with("problem: ") && l.contains("setlist.json"))
            .unwrap_or_else(|| panic!("{bad}: no setlist problem in {s}"));
        assert!(problem.contains(why), "{bad}: {problem}");
        assert!(s.contains("check: 2 songs, 1 problems"), "{s}");
    }

    std::fs::write(&setlist, "[\"02-two\",\n 1]").unwrap();
    let out = run(&["play", "--config", cfg, "--song", "1", "--once"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("setlist.json") && err.contains("using folder order"),
        "{err}"
    );
}

/// `check` prints the MIDI map; a bad MIDI binding is a one-line config error naming it.
#[test]
fn check_prints_the_midi_map_and_refuses_a_bad_binding() {
    let dir = temp_dir("cli-check-midi");
    let lib = small_library(&dir);
    let cfg = write_config(
        &dir,
        &format!(
            r#"{{"library": "{}", "midi": {{"inputs": ["FCB1010"], "map": [
                {{"note": 36, "channel": 10, "action": "play_pause"}},
                {{"cc": 64, "gesture": "long", "action": "stop"}},
                {{"cc": 80, "latching": true, "action": "loop_toggle"}}]}}}}"#,
            lib.display()
        ),
    );
    let out = run(&["check", "--config", cfg.to_str().unwrap()]);
    let s = text(&out.stdout);
    assert!(out.status.success(), "{s}{}", text(&out.stderr));
    for line in [
        "midi: inputs \"FCB1010\"; clock_out none; map:",
        "  note:36@ch10 short play_pause",
        "  cc:64 momentary(>=64 down) long stop",
        "  cc:80 latching short loop_toggle",
        "  program:N (any other) short song:N",
    ] {
        assert!(s.lines().any(|l| l == line), "{line:?} not in\n{s}");
    }
    for (map, key) in [
        (
            r#"[{"note": 36, "channel": 99, "action": "stop"}]"#,
            "midi.map[0].channel",
        ),
        (r#"[{"cc": 300, "action": "stop"}]"#, "midi.map[0].cc"),
        (
            r#"[{"note": 1, "action": "stop"}, {"cc": 2, "value": 1, "min": 0, "action": "x"}]"#,
            "midi.map[1]",
        ),
    ] {
        let cfg = write_config(&dir, &format!(r#"{{"midi": {{"map": {map}}}}}"#));
        let out = run(&["check", "--config", cfg.to_str().unwrap()]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{map}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(key), "{map}: {err} does not name {key}");
    }
}

#[test]
fn check_lists_lyrics_and_names_a_bad_line_by_file_and_line_and_still_passes() {
    let dir = temp_dir("cli-check-lyrics");
    let lib = small_library(&dir);
    std::fs::write(
        lib.join("01-one").join("lyrics.lrc"),
        "[ti:One]\n[00:00.10][Am]Hello [G/B]world\n[0x:12]not a stamp\n[00:00.30]second line\n",
    )
    .unwrap();
    // Not UTF-8 at all: that song's lyrics only are lost.
    std::fs::write(
        lib.join("02-two").join("lyrics.lrc"),
        b"[00:01.00]\xff\xfe\n",
    )
    .unwrap();
    let cfg = write_config(&dir, &format!(r#"{{"library": "{}"}}"#, lib.display()));
    let out = run(&["check", "--quick", "--config", cfg.to_str().unwrap()]);
    let s = text(&out.stdout);
    assert!(out.status.success(), "{s}{}", text(&out.stderr));
    assert!(
        s.contains("lyrics.lrc: 2 lines, 2 inline chords, 1 line skipped"),
        "{s}"
    );
    assert!(s.contains("01-one/lyrics.lrc:3: "), "{s}");
    assert!(
        s.contains("02-two/lyrics.lrc") && s.contains("the song plays without lyrics"),
        "{s}"
    );
}
