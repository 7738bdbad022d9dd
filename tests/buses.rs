//! Output buses end to end: the real binary playing into a 4-channel `file` PCM with
//! `main` on 1-2 and `cue` on 3-4; stems routed to main, cue or both by `song.json` and by
//! their names, every channel compared sample for sample with a mix computed here; a song
//! on main only is bit-exact with a 2-channel run; the generated click and (engine level)
//! the count-in sound on 3-4 only; a bus gain scales only its outputs.

mod common;
use common::*;
use std::path::Path;
use std::sync::Arc;
use stembox::model::song::{Song, Stem};
use stembox::rt::bus::{BusOut, BusTable};
use stembox::rt::command::Command;
use stembox::rt::engine::Engine;

const MAIN: u8 = 1;
const CUE: u8 = 2;

fn config(dir: &Path, raw: &Path, channels: u32, buses: &str) -> std::path::PathBuf {
    write_config(
        dir,
        &format!(
            r#"{{"library": "{}", "audio": {{"device": "file:FILE={},FORMAT=raw", "format": "FLOAT_LE", "channels": {channels}, {buses} "period_frames": 256, "periods": 3}}, "stats": {{"interval_s": 0}}, "rt": {{"mlock": false}}}}"#,
            dir.join("lib").display(),
            raw.display()
        ),
    )
}

/// Plays song `song` once; the raw samples, the prefill and stdout+stderr.
fn play(dir: &Path, song: &str, channels: u32, buses: &str) -> (Vec<f64>, usize, String) {
    let raw = dir.join(format!("{song}-{channels}.raw"));
    let _ = std::fs::remove_file(&raw);
    let cfg = config(dir, &raw, channels, buses);
    let out = play_once(&cfg, song, &[]);
    let stdout = text(&out.stdout);
    let all = format!("{stdout}{}", text(&out.stderr));
    assert!(out.status.success(), "play failed: {all}");
    (
        read_raw(&raw, "FLOAT_LE"),
        granted_buffer_frames(&stdout),
        all,
    )
}

const CUE_BUSES: &str = r#""buses": {"main": [1, 2], "cue": [3, 4]},"#;

#[test]
fn stems_play_on_their_buses_sample_for_sample() {
    let dir = temp_dir("buses-routed");
    let song = dir.join("lib").join("01-routed");
    std::fs::create_dir_all(&song).unwrap();
    // (stem, bus mask expected)
    let stems = [
        (
            GenStem::noise("drums", 48_000, 2, Enc::I16, 20_000, 0.2, 1),
            MAIN,
        ),
        (
            GenStem::noise("guide", 48_000, 1, Enc::I16, 18_000, 0.2, 2),
            CUE,
        ),
        (
            GenStem::noise("keys", 48_000, 2, Enc::I16, 19_000, 0.15, 3),
            MAIN | CUE,
        ),
        (
            GenStem::noise("bass", 48_000, 1, Enc::I16, 20_000, 0.2, 4),
            CUE,
        ),
        (
            GenStem::noise("click", 48_000, 1, Enc::I16, 17_000, 0.1, 5),
            MAIN,
        ),
        (
            GenStem::noise("vox", 48_000, 2, Enc::I16, 16_000, 0.1, 6),
            MAIN,
        ),
    ];
    for (s, _) in &stems {
        s.write_wav(&song.join(format!("{}.wav", s.name)));
    }
    // guide: cue by its name; keys: both; bass: cue; click: told main; vox: an unknown bus.
    std::fs::write(
        song.join("song.json"),
        r#"{"stems": {"keys": {"bus": ["main", "cue"]}, "bass": {"bus": "cue"},
                      "click": {"bus": "main"}, "vox": {"bus": "monitor"}}}"#,
    )
    .unwrap();
    let (out, prefill, log) = play(&dir, "1", 4, CUE_BUSES);
    assert!(
        log.contains(
            "stem \"vox\": bus \"monitor\" is not in audio.buses (main, cue); it plays on main"
        ),
        "{log}"
    );
    let frames = stems.iter().map(|(s, _)| s.frames()).max().unwrap();
    assert!(out.len() >= (prefill + frames) * 4, "output too short");
    let mut worst = 0.0f64;
    let mut cue_energy = 0.0;
    for f in 0..frames {
        let mut want = [0.0f64; 4];
        for (s, mask) in &stems {
            let (l, r) = s.lr(f);
            for (bit, base) in [(MAIN, 0), (CUE, 2)] {
                if mask & bit != 0 {
                    want[base] += l;
                    want[base + 1] += r;
                }
            }
        }
        for c in 0..4 {
            let got = out[(prefill + f) * 4 + c];
            let d = (got - want[c]).abs();
            worst = worst.max(d);
            assert!(
                d <= 1e-6,
                "frame {f} ch {}: got {got}, want {}",
                c + 1,
                want[c]
            );
        }
        cue_energy += want[2].abs();
    }
    assert!(
        cue_energy > 100.0,
        "the cue mix is not silent: {cue_energy}"
    );
    assert!(out[(prefill + frames) * 4..].iter().all(|&v| v == 0.0));
    println!("{frames} frames x 4 channels match, worst difference {worst}");

    // `check` says where each stem goes and why.
    let cfg = config(&dir, &dir.join("x.raw"), 4, CUE_BUSES);
    let out = run(&["check", "--quick", "--config", cfg.to_str().unwrap()]);
    let s = text(&out.stdout);
    for line in [
        "buses: main -> 1-2, cue -> 3-4",
        "  bus drums        -> main (default)",
        "  bus guide        -> cue (default for guide)",
        "  bus keys         -> main+cue (song.json)",
        "  bus click        -> main (song.json)",
        "  bus vox          -> main (song.json names no bus of the config: main); unknown bus \"monitor\"",
    ] {
        assert!(s.contains(line), "check lacks {line:?}:\n{s}");
    }
}

#[test]
fn main_at_unity_is_bit_exact_with_a_two_channel_run_and_the_click_goes_to_cue() {
    let dir = temp_dir("buses-exact");
    let song = dir.join("lib").join("01-main");
    std::fs::create_dir_all(&song).unwrap();
    GenStem::noise("drums", 48_000, 2, Enc::F32, 20_000, 0.3, 7).write_wav(&song.join("drums.wav"));
    GenStem::noise("bass", 48_000, 1, Enc::I24, 19_000, 0.3, 8).write_flac(&song.join("bass.flac"));
    let (two, p2, _) = play(&dir, "1", 2, "");
    let (four, p4, _) = play(&dir, "1", 4, CUE_BUSES);
    let frames = two.len() / 2 - p2;
    assert!(frames >= 20_000 && four.len() / 4 - p4 >= frames);
    for f in 0..frames {
        let (a, b) = (
            &two[(p2 + f) * 2..(p2 + f) * 2 + 2],
            &four[(p4 + f) * 4..(p4 + f) * 4 + 4],
        );
        // Bit-exact: the same f32 values, not merely close.
        assert!(
            a[0].to_bits() == b[0].to_bits() && a[1].to_bits() == b[1].to_bits(),
            "frame {f}: 2-channel {a:?}, 4-channel {b:?}"
        );
        assert_eq!((b[2], b[3]), (0.0, 0.0), "frame {f}: cue is not silent");
    }

    // The generated click (song.json "click": true) sounds on cue only.
    let song = dir.join("lib").join("02-click");
    std::fs::create_dir_all(&song).unwrap();
    GenStem::noise("pad", 48_000, 1, Enc::I16, 96_000, 0.2, 9).write_wav(&song.join("pad.wav"));
    std::fs::write(song.join("song.json"), r#"{"bpm": 120, "click": true}"#).unwrap();
    let (four, p4, _) = play(&dir, "2", 4, CUE_BUSES);
    let pad = GenStem::noise("pad", 48_000, 1, Enc::I16, 96_000, 0.2, 9);
    let mut cue_peak = 0.0f64;
    for f in 0..96_000 {
        let q = &four[(p4 + f) * 4..(p4 + f) * 4 + 4];
        // Main: the pad alone, no click in it; cue: the click alone, the same on 3 and 4.
        let (l, r) = pad.lr(f);
        assert!(
            (q[0] - l).abs() <= 1e-6 && (q[1] - r).abs() <= 1e-6,
            "frame {f}: {q:?}"
        );
        assert_eq!(q[2], q[3], "frame {f}");
        cue_peak = cue_peak.max(q[2].abs());
    }
    assert!(cue_peak > 0.2, "no click on cue: peak {cue_peak}");
    // Every 0.5 s a click starts on 3-4; the first 40 ms of each beat carry it.
    for beat in 0..4 {
        let at = p4 + beat * 24_000;
        let burst: f64 = (0..960).map(|f| four[(at + f) * 4 + 2].abs()).sum();
        let gap: f64 = (2_000..20_000).map(|f| four[(at + f) * 4 + 2].abs()).sum();
        assert!(
            burst > 10.0 && gap < 1e-3,
            "beat {beat}: burst {burst}, gap {gap}"
        );
    }
}

fn engine_song(frames: usize, masks: &[u8]) -> Arc<Song> {
    let stems = masks
        .iter()
        .enumerate()
        .map(|(i, &m)| {
            let mut s = Stem::with_channels(
                format!("s{i}"),
                1,
                vec![0.1 * (i + 1) as f32; frames].into(),
            );
            s.bus_mask = m;
            s
        })
        .collect();
    let mut song = Song::new("e", 48_000, stems);
    song.bpm = Some(120.0);
    Arc::new(song)
}

fn four_channel_engine() -> (Engine, stembox::rt::engine::EngineHandle) {
    let (mut engine, handle) = Engine::new(48_000, 4, 1.0);
    let table = BusTable::new(&[BusOut::stereo(0, 1), BusOut::stereo(2, 3)], Some(1), 4).unwrap();
    engine.set_buses(table).unwrap();
    (engine, handle)
}

#[test]
fn count_in_sounds_on_cue_only_and_bus_gain_scales_only_its_bus() {
    let (mut engine, mut handle) = four_channel_engine();
    assert!(handle.switch_song(engine_song(48_000, &[MAIN, MAIN | CUE]), 0, false));
    let mut out = vec![0.0f32; 256 * 4];
    engine.process(&mut out);
    // 2 beats of 4_800 frames.
    handle
        .send(Command::CountIn {
            beat_frames: 4_800,
            beats: 2,
        })
        .unwrap();
    let mut all = Vec::new();
    for _ in 0..60 {
        engine.process(&mut out);
        all.extend_from_slice(&out);
    }
    let frame = |f: usize| &all[f * 4..f * 4 + 4];
    let mut click = 0.0f32;
    for f in 0..9_600 {
        let x = frame(f);
        assert_eq!(
            (x[0], x[1]),
            (0.0, 0.0),
            "count-in frame {f} on main: {x:?}"
        );
        click = click.max(x[2].abs());
        assert_eq!(x[2], x[3]);
    }
    assert!(click > 0.2, "no count-in on 3-4: {click}");
    // Then the song: main = 0.1 + 0.2, cue = 0.2 (after the count-in, from the start: exact).
    for f in 9_600..15_000 {
        assert_eq!(frame(f), &[0.1f32 + 0.2, 0.1 + 0.2, 0.2, 0.2], "frame {f}");
    }
    // Cue at half gain: main untouched, cue ramps to 0.1 within the 10 ms ramp.
    handle.send(Command::BusGain { bus: 1, gain: 0.5 }).unwrap();
    // Hostile: NaN, negative, a bus that does not exist: no harm, no panic.
    for cmd in [
        Command::BusGain { bus: 7, gain: 2.0 },
        Command::BusGain {
            bus: 200,
            gain: 2.0,
        },
    ] {
        handle.send(cmd).unwrap();
    }
    for _ in 0..4 {
        engine.process(&mut out);
    }
    for x in out.chunks_exact(4) {
        assert_eq!(x, &[0.1f32 + 0.2, 0.1 + 0.2, 0.2 * 0.5, 0.2 * 0.5]);
    }
    handle
        .send(Command::BusGain {
            bus: 0,
            gain: f32::NAN,
        })
        .unwrap();
    for _ in 0..4 {
        engine.process(&mut out);
    }
    for x in out.chunks_exact(4) {
        assert_eq!(
            x,
            &[0.0, 0.0, 0.2 * 0.5, 0.2 * 0.5],
            "NaN gain is silence, not NaN"
        );
    }
}

#[test]
fn mono_bus_and_a_table_wider_than_the_device_is_refused() {
    let (mut engine, _h) = Engine::new(48_000, 2, 1.0);
    let t = BusTable::new(&[BusOut::stereo(0, 1), BusOut::stereo(2, 3)], Some(1), 4).unwrap();
    assert!(engine.set_buses(t).is_err());
    // main stereo on 1-2, cue mono on 3: the cue gets (l + r) / 2.
    let (mut engine, mut handle) = Engine::new(48_000, 3, 1.0);
    let t = BusTable::new(&[BusOut::stereo(0, 1), BusOut::mono(2)], Some(1), 3).unwrap();
    engine.set_buses(t).unwrap();
    let mut stem = Stem::new(
        "s",
        (0..2_000)
            .map(|i| if i % 2 == 0 { 0.4 } else { 0.2 })
            .collect(),
    );
    stem.bus_mask = MAIN | CUE;
    assert!(handle.switch_song(Arc::new(Song::new("m", 48_000, vec![stem])), 0, true));
    let mut out = vec![0.0f32; 256 * 3];
    engine.process(&mut out);
    for x in out.chunks_exact(3) {
        assert_eq!(x, &[0.4, 0.2, 0.5 * (0.4f32 + 0.2)]);
    }
}
