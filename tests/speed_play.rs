//! `stembox play --once --speed PCT --pitch ST` end to end: the real binary renders a
//! generated song into a `file` PCM over `null` (FLOAT_LE), and the test measures what
//! came out: bit-exact with a plain play at 100 %/0 st, length scaled by 100/speed, and a
//! sine's frequency kept (speed) or moved (pitch) within 1 cent.

mod common;
use common::*;
use std::path::{Path, PathBuf};

const RATE: u32 = 48_000;
const SINE_HZ: f64 = 440.0;
const SONG_FRAMES: usize = 4 * RATE as usize;

/// `01-mix`: noise stems and a sine; `02-sine`: a 440 Hz sine alone, 4 s, float WAV.
fn make_library(root: &Path) {
    let sine = GenStem {
        name: "lead",
        rate: RATE,
        channels: 2,
        enc: Enc::F32,
        samples: (0..SONG_FRAMES)
            .flat_map(|i| {
                let v =
                    (0.3 * (i as f64 * SINE_HZ * std::f64::consts::TAU / RATE as f64).sin()) as f32;
                [v, v]
            })
            .collect(),
    };
    let mix = root.join("01-mix");
    std::fs::create_dir_all(&mix).unwrap();
    GenStem::noise("drums", RATE, 2, Enc::I16, 40_000, 0.2, 7).write_wav(&mix.join("drums.wav"));
    GenStem::noise("bass", RATE, 1, Enc::I24, 30_000, 0.2, 8).write_wav(&mix.join("bass.wav"));
    sine.write_wav(&mix.join("lead.wav"));
    let only = root.join("02-sine");
    std::fs::create_dir_all(&only).unwrap();
    sine.write_wav(&only.join("lead.wav"));
}

fn library() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = temp_dir("speed_play");
        make_library(&dir.join("lib"));
        dir
    })
    .clone()
}

/// Renders `song` with `extra` arguments; returns the left channel and stdout.
fn render(song: &str, tag: &str, extra: &[&str]) -> (Vec<f64>, String) {
    let dir = library();
    let raw = dir.join(format!("{tag}.raw"));
    let _ = std::fs::remove_file(&raw);
    let sub = dir.join(tag);
    std::fs::create_dir_all(&sub).unwrap();
    let cfg = write_config(
        &sub,
        &format!(
            r#"{{"library": "{}", "audio": {{"device": "file:FILE={},FORMAT=raw", "format": "FLOAT_LE", "period_frames": 256, "periods": 3}}, "stats": {{"interval_s": 0}}, "rt": {{"mlock": false}}}}"#,
            dir.join("lib").display(),
            raw.display()
        ),
    );
    let out = play_once(&cfg, song, extra);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", text(&out.stderr));
    let left = read_raw(&raw, "FLOAT_LE")
        .chunks_exact(2)
        .map(|c| c[0])
        .collect();
    (left, stdout)
}

/// The tone's frequency in Hz (rising zero crossings, interpolated).
fn frequency(x: &[f64]) -> f64 {
    zero_crossing_hz(x, RATE, 101)
}

/// First and one past the last sample louder than -40 dBFS.
fn sounding(x: &[f64]) -> (usize, usize) {
    let first = x.iter().position(|v| v.abs() > 0.01).expect("silence");
    let last = x.iter().rposition(|v| v.abs() > 0.01).unwrap();
    (first, last + 1)
}

/// `latency_ms=` from the `stretch` line.
fn stated_latency_frames(stdout: &str) -> f64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("stretch "))
        .unwrap_or_else(|| panic!("no stretch line:\n{stdout}"));
    let ms: f64 = line
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("latency_ms="))
        .unwrap()
        .parse()
        .unwrap();
    ms * RATE as f64 / 1000.0
}

#[test]
fn speed_100_pitch_0_is_bit_exact_with_a_plain_play() {
    let (plain, _) = render("01-mix", "plain", &[]);
    let (unity, stdout) = render("01-mix", "unity", &["--speed", "100", "--pitch", "0"]);
    assert!(
        stdout.contains("stretch speed_pct=100 pitch_st=0"),
        "{stdout}"
    );
    assert_eq!(plain.len(), unity.len());
    assert!(plain == unity, "output differs from a plain play");
    assert!(plain.iter().any(|v| v.abs() > 0.1));
}

#[test]
fn speed_80_scales_the_length_and_keeps_the_frequency() {
    let (out, stdout) = render("02-sine", "speed80", &["--speed", "80"]);
    let latency = stated_latency_frames(&stdout);
    let (first, end) = sounding(&out);
    let len = (end - first) as f64;
    let expected = SONG_FRAMES as f64 * 100.0 / 80.0;
    println!(
        "speed 80: rendered {len} frames, expected {expected} (+-0.5 % = {:.0}, latency {latency:.0})",
        expected * 0.005
    );
    assert!(
        (len - expected).abs() <= expected * 0.005 + latency,
        "length {len} vs {expected}"
    );
    // One second from the middle, well after the stretcher was switched in.
    let mid = first + (len as usize) / 2;
    let c = cents(
        frequency(&out[mid - RATE as usize / 2..mid + RATE as usize / 2]),
        SINE_HZ,
    );
    println!("speed 80: {c:+.4} cents");
    assert!(c.abs() < 1.0, "{c} cents");
}

#[test]
fn pitch_3_moves_the_sine_three_semitones_and_keeps_the_length() {
    let (out, stdout) = render("02-sine", "pitch3", &["--pitch", "3"]);
    let latency = stated_latency_frames(&stdout);
    let (first, end) = sounding(&out);
    let len = (end - first) as f64;
    let expected_len = SONG_FRAMES as f64;
    println!("pitch +3: rendered {len} frames, expected {expected_len}");
    assert!((len - expected_len).abs() <= expected_len * 0.005 + latency);
    let mid = first + (len as usize) / 2;
    let expected = SINE_HZ * 2f64.powf(3.0 / 12.0);
    let c = cents(
        frequency(&out[mid - RATE as usize / 2..mid + RATE as usize / 2]),
        expected,
    );
    println!("pitch +3: {c:+.4} cents from {expected:.3} Hz");
    assert!(c.abs() < 1.0, "{c} cents");
}

#[test]
fn hostile_speed_and_pitch_are_usage_errors() {
    let dir = library();
    let cfg = write_config(&dir, r#"{"audio": {"device": "null"}}"#);
    for bad in [
        ["--speed", "0"],
        ["--speed", "NaN"],
        ["--speed", "1e99"],
        ["--pitch", "-24"],
        ["--pitch", "inf"],
        ["--pitch", "E"],
    ] {
        let mut args = vec![
            "play",
            "--config",
            cfg.to_str().unwrap(),
            "--song",
            "1",
            "--once",
        ];
        args.extend_from_slice(&bad);
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(
            text(&out.stderr).contains(bad[0]),
            "{bad:?}: {}",
            text(&out.stderr)
        );
    }
}
