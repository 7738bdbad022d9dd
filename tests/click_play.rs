//! End to end: a song whose `song.json` has a tempo map (a tempo change and a 3/4 bar) and
//! `"click": true`, played once by the real binary into a `file` PCM; the generated
//! click's onsets are compared with the beat grid worked out here. `check` shows the map.

mod common;
use common::*;

const RATE: f64 = 48_000.0;
const SECONDS: usize = 9;

#[test]
fn song_json_click_lands_on_the_tempo_map_grid_through_the_device() {
    let dir = temp_dir("click-play");
    let song = dir.join("lib").join("01-click");
    std::fs::create_dir_all(&song).unwrap();
    // A silent stem: only the click is heard.
    GenStem {
        name: "pad",
        rate: 48_000,
        channels: 1,
        enc: Enc::I16,
        samples: vec![0.0; SECONDS * 48_000],
    }
    .write_wav(&song.join("pad.wav"));
    // 2 bars of 4/4 at 97 bpm, one 3/4 bar, then 4/4 at 131 bpm.
    std::fs::write(
        song.join("song.json"),
        r#"{"bpm": 97, "click": true,
            "tempo_map": [{"bar": 3, "time_signature": "3/4"},
                          {"bar": 4, "bpm": 131, "time_signature": "4/4"}]}"#,
    )
    .unwrap();
    let raw = dir.join("out.raw");
    let cfg = write_config(
        &dir,
        &format!(
            r#"{{"library": "{}", "audio": {{"device": "file:FILE={},FORMAT=raw", "format": "FLOAT_LE", "period_frames": 256, "periods": 3}}, "stats": {{"interval_s": 0}}, "rt": {{"mlock": false}}}}"#,
            dir.join("lib").display(),
            raw.display()
        ),
    );
    let cfg = cfg.to_str().unwrap();

    let out = run(&["check", "--config", cfg]);
    let s = text(&out.stdout);
    assert!(out.status.success(), "{s}{}", text(&out.stderr));
    assert!(
        s.contains(
            "  tempo: bar 1 97 bpm 4/4, bar 3 97 bpm 3/4, bar 4 131 bpm 4/4 (bar 4 at 6.80 s); click on"
        ),
        "{s}"
    );

    let out = play_once(std::path::Path::new(cfg), "1", &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", text(&out.stderr));
    let prefill = granted_buffer_frames(&stdout);
    let samples = read_raw(&raw, "FLOAT_LE");
    let left: Vec<f64> = samples.chunks_exact(2).map(|f| f[0]).collect();
    assert!(samples.chunks_exact(2).all(|f| f[0] == f[1]));

    // The grid by hand: quarter-note beats (x/4 metres).
    let (q1, q2) = (60.0 * RATE / 97.0, 60.0 * RATE / 131.0);
    let mut grid: Vec<(f64, bool)> = (0..8).map(|k| (k as f64 * q1, k % 4 == 0)).collect();
    grid.extend((0..3).map(|k| ((8 + k) as f64 * q1, k == 0)));
    let song_frames = (SECONDS * 48_000) as f64;
    grid.extend(
        (0..)
            .map(|k| (11.0 * q1 + k as f64 * q2, k % 4 == 0))
            .take_while(|b| b.0 < song_frames - 2_000.0),
    );

    // Bursts: a run of sound after at least 10 ms of silence. The click's sine starts at
    // 0, so its onset is the sample before the first nonzero one.
    let mut bursts: Vec<(f64, f64)> = Vec::new();
    let mut quiet = usize::MAX / 2;
    for (f, &x) in left.iter().enumerate() {
        if x != 0.0 {
            if quiet > 480 {
                bursts.push(((f - 1) as f64 - prefill as f64, 0.0));
            }
            let peak = &mut bursts.last_mut().unwrap().1;
            *peak = peak.max(x.abs());
            quiet = 0;
        } else {
            quiet += 1;
        }
    }
    assert_eq!(bursts.len(), grid.len(), "{bursts:?}");
    for ((onset, peak), (beat, downbeat)) in bursts.iter().zip(&grid) {
        let late = onset - beat;
        assert!(
            (0.0..1.0).contains(&late),
            "click at {onset}, beat at {beat}"
        );
        // The downbeat's click is accented (0.5 against 0.3 at its peak).
        assert_eq!(*peak > 0.4, *downbeat, "beat at {beat}: peak {peak}");
    }
}
