//! What a tail in the subnormal range costs a period, with and without the loop's
//! flush-to-zero guard (`rt::denormal::ScopedFtz`, which `rt::run::run_device` holds):
//! 16 stereo stems at gain 0.7 into a 256-frame stereo period, the play head looping in
//! audio that is (a) ordinary music-level samples, (b) subnormal throughout (the end of a
//! fade, a resampled or decoded tail ringing out below 1.2e-38). Then the same through
//! the stretcher at speed 80 % (run in step with the engine, as for `play --once`), whose
//! FFT and resampler process the tail.
//!
//! `cargo bench --bench denormal` prints an A/B table first (each case with and without
//! the guard, measured in alternation, so a busy machine slows both alike), then runs the
//! criterion group. `tests/denormal_tail.rs` checks the functional side
//! (no subnormal reaches the device from the loop); this measures the cost it avoids.

use criterion::{criterion_group, Criterion};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use stembox::model::song::{Song, Stem};
use stembox::rt::command::Command;
use stembox::rt::denormal::ScopedFtz;
use stembox::rt::engine::{Engine, EngineHandle};
use stembox::rt::stretch::StretchConfig;
use stembox::stretch::StretchWorker;

const RATE: u32 = 48_000;
const STEMS: usize = 16;
/// Two seconds, looped: the play head never leaves the chosen audio.
const FRAMES: usize = 2 * RATE as usize;
const PERIOD: usize = 256;

/// `level` times a pattern in [0.5, 1.5), alternating in sign. With `level` = 1e-39
/// every sample is subnormal; with 0.01 they are ordinary.
fn song(level: f32) -> Arc<Song> {
    let stems = (0..STEMS)
        .map(|i| {
            let samples: Vec<f32> = (0..FRAMES * 2)
                .map(|j| {
                    let p = ((j * (i + 7)) % 977) as f32 / 977.0 + 0.5;
                    let sign = if (j / 2) % 3 == 0 { -1.0 } else { 1.0 };
                    // black_box: built at run time, never folded.
                    black_box(level) * p * sign
                })
                .collect();
            Stem::new(format!("s{i}"), samples.into_boxed_slice())
        })
        .collect();
    Arc::new(Song::new("bench", RATE, stems))
}

fn playing(song: &Arc<Song>, speed: Option<f32>) -> (Engine, EngineHandle) {
    let (mut e, mut h) = Engine::new(RATE, 2, 1.0);
    if speed.is_some() {
        let (pipe, worker) = StretchWorker::new(StretchConfig::new(RATE, 2, PERIOD));
        e.attach_stretch(pipe, Some(Box::new(worker)));
    }
    assert!(h.switch_song(song.clone(), 0, true));
    e.process(&mut [0.0; 2]);
    h.send(Command::Loop {
        region: Some((0, FRAMES as u64)),
    })
    .unwrap();
    for stem in 0..STEMS as u8 {
        h.send(Command::StemGain { stem, gain: 0.7 }).unwrap();
    }
    if let Some(factor) = speed {
        h.send(Command::Speed { factor }).unwrap();
    }
    // Past the gain ramps and the stretcher's start-up.
    let mut out = vec![0.0f32; PERIOD * 2];
    for _ in 0..200 {
        e.process(&mut out);
    }
    (e, h)
}

fn periods(c: &mut Criterion) {
    let music = song(0.01);
    let tail = song(1e-39);
    assert!(tail.stems()[0].samples().iter().all(|s| s.is_subnormal()));
    let mut group = c.benchmark_group("denormal");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    for (path, speed) in [("mix", None), ("stretch 80%", Some(0.8))] {
        for (what, s) in [("music", &music), ("subnormal tail", &tail)] {
            for ftz in [false, true] {
                let (mut e, _h) = playing(s, speed);
                let mut out = vec![0.0f32; PERIOD * 2];
                let name = format!(
                    "{path}: 16 stems, 256 frames, {what}, {}",
                    if ftz { "ftz" } else { "no ftz" }
                );
                group.bench_function(name, |b| {
                    let _guard = ftz.then(ScopedFtz::enable);
                    b.iter(|| e.process(black_box(&mut out)))
                });
            }
        }
    }
    group.finish();
}

/// Per-period times of `a` (no guard) and `b` (guard held around each call), measured in
/// alternation so that a busy machine slows both alike; returns (mean, p50, min) in µs.
fn interleaved(a: &mut Engine, b: &mut Engine, rounds: usize) -> [(f64, f64, f64); 2] {
    let mut out = vec![0.0f32; PERIOD * 2];
    let mut times = [Vec::with_capacity(rounds), Vec::with_capacity(rounds)];
    for round in 0..rounds {
        // Which goes first alternates, so neither always finds the other's traces in cache.
        for which in [round % 2, 1 - round % 2] {
            let t = Instant::now();
            if which == 0 {
                a.process(black_box(&mut out));
            } else {
                let _ftz = ScopedFtz::enable();
                b.process(black_box(&mut out));
            }
            times[which].push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    times.map(|mut v| {
        v.sort_by(f64::total_cmp);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        (mean, v[v.len() / 2], v[0])
    })
}

/// The A/B table: each case with and without the guard, side by side.
fn table() {
    println!("per 256-frame period, 16 stems, µs (mean / p50 / min), no ftz | ftz:");
    for (path, speed) in [("mix", None), ("stretch 80%", Some(0.8))] {
        for (what, level) in [("music", 0.01), ("subnormal tail", 1e-39)] {
            // A song each: the two engines share no audio in the caches.
            let (mut a, _ha) = playing(&song(level), speed);
            let (mut b, _hb) = playing(&song(level), speed);
            let [off, on] = interleaved(&mut a, &mut b, 4_000);
            println!(
                "{path:12} {what:15} {:8.1} / {:8.1} / {:8.1} | {:8.1} / {:8.1} / {:8.1}",
                off.0, off.1, off.2, on.0, on.1, on.2
            );
        }
    }
}

criterion_group!(benches, periods);

fn main() {
    table();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
