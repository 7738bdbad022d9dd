//! The stretcher measured on music (issue 19): the bass line, chords, voice and drum song
//! of `tests/stretch_music` rendered through the real pipe and worker at 50, 80, 120 and
//! 150 % and at -5, -2, +3 and +7 semitones, and the same input through `rubberband` (R3
//! and R2; a GPL command-line tool used only as a measuring reference, never linked),
//! measured the same way: per bass note the fundamental and the 2nd harmonic in cents
//! (median and worst over the notes), the fundamental's level, and per drum hit the
//! 10-90 % rise, its peak and the pre-echo.
//!
//! `cargo run --release --example stretch_measure [-- --no-rubberband] [--note-s S]`;
//! `STRETCH_BLOCK_MS` / `STRETCH_INTERVAL_MS` try other blocks, `STRETCH_MEASURE_NOTES=1`
//! prints every note. Other modes: `--switch` (a held tone's level through the crossfades),
//! `--align` (tone bursts against the stated heard position), `--changes` (the same across
//! speed steps), `--residual` (the stretched path against the song at speed 1, per lag).

#[path = "../tests/stretch_music/mod.rs"]
mod stretch_music;

use std::path::{Path, PathBuf};
use std::process::Command;
use stretch_music::*;

fn write_wav(path: &Path, x: &[f32]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for &v in x {
        w.write_sample(v).expect("write wav");
    }
    w.finalize().expect("finish wav");
}

fn read_wav(path: &Path) -> Vec<f32> {
    let mut r = hound::WavReader::open(path).expect("open wav");
    let spec = r.spec();
    let ch = spec.channels as usize;
    let all: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().map(|s| s.expect("sample")).collect(),
        hound::SampleFormat::Int => {
            let scale = (1u64 << (spec.bits_per_sample - 1)) as f32;
            r.samples::<i32>()
                .map(|s| s.expect("sample") as f32 / scale)
                .collect()
        }
    };
    all.iter().step_by(ch).copied().collect()
}

fn rubberband(dir: &Path, input: &Path, engine: &str, speed: f64, pitch: f32) -> Vec<f32> {
    let out = dir.join(format!("rb-{engine}-{speed}-{pitch}.wav"));
    let status = Command::new("rubberband")
        .args([
            engine,
            "-q",
            "-t",
            &format!("{}", 1.0 / speed),
            "-p",
            &format!("{pitch}"),
        ])
        .arg(input)
        .arg(&out)
        .status()
        .expect("run rubberband");
    assert!(status.success(), "rubberband failed");
    read_wav(&out)
}

struct Row {
    what: String,
    f0: (f64, f64),
    h2: (f64, f64),
    f0_db: (f64, f64),
    rise_ms: f64,
    peak_db: f64,
    pre_echo_db: f64,
    underruns: u64,
}

fn row(what: String, bass: &Music, drums: &Music, rb: &Rendered, rd: &Rendered, st: f32) -> Row {
    let notes = measure_notes(bass, rb, st);
    let hits = measure_hits(drums, rd);
    let f0: Vec<f64> = notes.iter().map(|n| n.f0_cents).collect();
    let h2: Vec<f64> = notes.iter().map(|n| n.h2_cents).collect();
    let db: Vec<f64> = notes.iter().map(|n| n.f0_db).collect();
    if std::env::var_os("STRETCH_MEASURE_NOTES").is_some() {
        for n in &notes {
            println!(
                "    {:6.2} Hz: f0 {:+7.2} c  h2 {:+7.2} c  {:+5.2} dB",
                n.hz, n.f0_cents, n.h2_cents, n.f0_db
            );
        }
    }
    let mean = |v: Vec<f64>| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let worst_pre = hits
        .iter()
        .map(|h| h.pre_echo_db)
        .fold(f64::NEG_INFINITY, f64::max);
    Row {
        what,
        f0: median_worst(&f0),
        h2: median_worst(&h2),
        f0_db: median_worst(&db),
        rise_ms: mean(hits.iter().map(|h| h.rise_ms).collect()),
        peak_db: mean(hits.iter().map(|h| h.peak_db).collect()),
        pre_echo_db: worst_pre,
        underruns: rb.underruns + rd.underruns,
    }
}

fn ms_frames(ms: f64) -> u64 {
    (ms * RATE as f64 / 1000.0) as u64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let with_rb = !args.iter().any(|a| a == "--no-rubberband");
    let note_s = args
        .iter()
        .position(|a| a == "--note-s")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.8);
    let dir = PathBuf::from(
        std::env::var("STRETCH_MEASURE_DIR").unwrap_or("/tmp/stretch_measure".into()),
    );
    std::fs::create_dir_all(&dir).expect("measure dir");
    let bass = Music::bass_song(1.0, note_s, true);
    let drums = Music::drum_song(1.0, 0.4, 12);
    let (bass_wav, drum_wav) = (dir.join("bass.wav"), dir.join("drums.wav"));
    write_wav(&bass_wav, &bass.samples);
    write_wav(&drum_wav, &drums.samples);

    let mut config = stembox::rt::stretch::StretchConfig::new(RATE, 2, 1024);
    let env_ms = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<usize>().ok());
    if let Some(ms) = env_ms("STRETCH_BLOCK_MS") {
        config.block_frames = RATE as usize * ms / 1000;
    }
    if let Some(ms) = env_ms("STRETCH_INTERVAL_MS") {
        config.interval_frames = RATE as usize * ms / 1000;
    }
    let (probe, _) = stembox::stretch::StretchWorker::new(config);
    println!(
        "block {} ms, hop {} ms: pipeline latency at 100 % {:.1} ms",
        config.block_frames * 1000 / RATE as usize,
        config.interval_frames * 1000 / RATE as usize,
        probe.latency_at_unity_frames() as f64 * 1000.0 / RATE as f64
    );
    if args.iter().any(|a| a == "--switch") {
        use stembox::rt::stretch::StretchState as S;
        for (hz, window) in [(480.0, 100usize), (60.0, 400)] {
            let song = move |i: u64| {
                (0.5 * (std::f64::consts::TAU * hz * i as f64 / RATE as f64).sin()) as f32
            };
            for (speed, st) in [(0.8, 0.0), (1.25, 0.0), (1.0, 2.0), (0.7, -3.0)] {
                let s = switch_session(&song, speed, st, 1.0, 256);
                let env = tone_envelope(&s.out, hz, window);
                for fade in [S::FadeIn, S::FadeOut] {
                    let first = s.periods.iter().position(|p| p.1 == fade).unwrap();
                    let last = s.periods.iter().rposition(|p| p.1 == fade).unwrap();
                    let from = s.periods[first.saturating_sub(2)].0;
                    let to = s.periods[(last + 3).min(s.periods.len() - 1)]
                        .0
                        .min(env.len());
                    let (lo, hi) = env[from..to]
                        .iter()
                        .fold((f64::MAX, 0.0f64), |(l, h), &e| (l.min(e), h.max(e)));
                    println!(
                        "{hz} Hz {speed} {st:+} {fade:?}: level {:.1} .. {:.1} dB",
                        20.0 * (lo / 0.5).log10(),
                        20.0 * (hi / 0.5).log10()
                    );
                }
            }
        }
        return;
    }
    if args.iter().any(|a| a == "--residual") {
        let glide = |i: u64| {
            let t = i as f64 / RATE as f64;
            (0.5 * (std::f64::consts::TAU * (300.0 * t + 75.0 * t * t)).sin()) as f32
        };
        let m = Music {
            samples: (0..RATE as u64 * 4).map(glide).collect(),
            notes: vec![],
            hits: vec![],
            dry_hit_peak: 0.5,
        };
        let r = render_pipe_config(config, &m, 1.0, 0.0001, 256);
        for lag in (-1200i64..=1200).filter(|l| l.abs() <= 20 || l % 4 == 0) {
            let (mut err, mut sig) = (0.0f64, 0.0f64);
            for k in 200..(r.map.len() - 100) {
                let (at, heard) = r.map[k];
                for j in 0..256u64 {
                    let v = r.out[(at + j) as usize] as f64;
                    let ideal = glide(((heard + j as f64).round() as i64 + lag) as u64) as f64;
                    err += (v - ideal).powi(2);
                    sig += ideal * ideal;
                }
            }
            println!("lag {lag}: residual {:+.1} dB", 10.0 * (err / sig).log10());
        }
        return;
    }
    if args.iter().any(|a| a == "--changes") {
        // Bursts every 150 ms; the speed steps every 0.6 s of song, between bursts.
        let bursts = burst_song(1.0, 0.15, 40);
        let step = (0.6 * RATE as f64) as u64;
        let base = (1.0 * RATE as f64) as u64 - ms_frames(40.0);
        let speeds = [0.9, 1.05, 1.25, 0.7, 1.5, 0.5, 0.8, 1.2, 0.95, 1.1];
        let changes: Vec<(u64, f64, f32)> = std::iter::once((0, 0.8, 0.0))
            .chain(
                speeds
                    .iter()
                    .enumerate()
                    .map(|(k, &s)| (base + k as u64 * step, s, 0.0)),
            )
            .collect();
        let r = render_changes(&bursts, &changes, 256);
        let off = burst_offsets_ms(&bursts, &r);
        let worst = off
            .iter()
            .fold(0.0f64, |m, v| if v.abs() > m.abs() { *v } else { m });
        println!("speed steps: worst {worst:+.2} ms; {off:.2?}");
        return;
    }
    if args.iter().any(|a| a == "--align") {
        for (speed, st) in [
            (1.0, 0.01f32),
            (0.5, 0.0),
            (0.8, 0.0),
            (1.2, 0.0),
            (1.5, 0.0),
            (1.0, 3.0),
            (1.0, 7.0),
            (1.0, -5.0),
            (0.7, -3.0),
        ] {
            let bursts = burst_song(1.0, 0.3, 12);
            let r = render_pipe_config(config, &bursts, speed, st, 256);
            let off = burst_offsets_ms(&bursts, &r);
            let mean = off.iter().sum::<f64>() / off.len() as f64;
            println!("{speed} {st:+}: mean {mean:+.2} ms, hit offsets ms {off:.2?}");
        }
        return;
    }
    let cases: [(f64, f32); 8] = [
        (0.5, 0.0),
        (0.8, 0.0),
        (1.2, 0.0),
        (1.5, 0.0),
        (1.0, -5.0),
        (1.0, -2.0),
        (1.0, 3.0),
        (1.0, 7.0),
    ];
    println!(
        "{:<24} {:>16} {:>16} {:>14} {:>8} {:>8} {:>9} {:>4}",
        "case",
        "f0 c med/worst",
        "h2 c med/worst",
        "f0 dB med/wst",
        "rise ms",
        "peak dB",
        "pre-echo",
        "und"
    );
    for (speed, st) in cases {
        let mut rows = Vec::new();
        let rb = render_pipe_config(config, &bass, speed, st, 256);
        let rd = render_pipe_config(config, &drums, speed, st, 256);
        rows.push(row(
            format!("stembox {:.0}% {st:+}st", speed * 100.0),
            &bass,
            &drums,
            &rb,
            &rd,
            st,
        ));
        if with_rb {
            for engine in ["-3", "-2"] {
                let b = linear_map(rubberband(&dir, &bass_wav, engine, speed, st), speed);
                let d = linear_map(rubberband(&dir, &drum_wav, engine, speed, st), speed);
                let name = if engine == "-3" { "R3" } else { "R2" };
                rows.push(row(format!("rubberband {name}"), &bass, &drums, &b, &d, st));
            }
        }
        for r in rows {
            println!(
                "{:<24} {:>7.1} {:>+8.1} {:>7.1} {:>+8.1} {:>6.2} {:>+7.2} {:>8.2} {:>+8.2} {:>+9.1} {:>4}",
                r.what,
                r.f0.0,
                r.f0.1,
                r.h2.0,
                r.h2.1,
                r.f0_db.0,
                r.f0_db.1,
                r.rise_ms,
                r.peak_db,
                r.pre_echo_db,
                r.underruns
            );
        }
    }
}
