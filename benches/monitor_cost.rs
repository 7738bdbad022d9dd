//! Per-period cost of the latency monitor: 16 stereo stems mixed at 64 frames and converted
//! to S16_LE, the audio loop's per-period work without the ALSA calls, in four builds:
//! - `no_monitor_code`: the body with no observer calls at all;
//! - `monitor_off` (`NoObserver`): what stembox runs with `enable_latency_monitor: false` (the
//!   loop is generic over its observer, so this should be identical to the line above);
//! - `monitor_off_runtime_flag`: an `Option<MonitorRt>` that is `None`, checked every period
//!   (what a runtime flag instead of a generic would cost);
//! - `monitor_on` (`MonitorRt`): two CLOCK_MONOTONIC reads and the histogram updates.
//!
//! `cargo bench --bench monitor_cost`.

use criterion::{criterion_group, Criterion};
use std::hint::black_box;
use std::sync::Arc;
use stembox::model::song::{Song, Stem};
use stembox::rt::command::Command;
use stembox::rt::convert::{convert, S16Le};
use stembox::rt::engine::Engine;
use stembox::rt::monitor::{MonitorRt, MonitorShared};
use stembox::rt::run::{LoopObserver, NoObserver};

const RATE: u32 = 48_000;
const PERIOD: usize = 64;
const STEMS: usize = 16;
const SONG_FRAMES: u64 = 4 * RATE as u64;

/// 16 stereo stems of quiet pseudo-random noise, looping over the whole song.
fn playing_engine() -> Engine {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let stems = (0..STEMS)
        .map(|i| {
            let samples: Box<[f32]> = (0..SONG_FRAMES * 2)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.05
                })
                .collect();
            Stem::new(format!("stem{i}"), samples)
        })
        .collect();
    let song = Song::new("bench", RATE, stems);
    let (mut engine, mut handle) = Engine::new(RATE, 2, 1.0);
    assert!(handle.switch_song(Arc::new(song), 0, true));
    handle
        .send(Command::Loop {
            region: Some((0, SONG_FRAMES - PERIOD as u64)),
        })
        .unwrap();
    // Apply the commands and get past the first period's set-up; keep the handle alive.
    let mut scratch = [0.0f32; PERIOD * 2];
    engine.process(&mut scratch);
    std::mem::forget(handle);
    engine
}

struct Loop {
    engine: Engine,
    scratch: [f32; PERIOD * 2],
    device: [i16; PERIOD * 2],
}

impl Loop {
    fn new() -> Loop {
        Loop {
            engine: playing_engine(),
            scratch: [0.0; PERIOD * 2],
            device: [0; PERIOD * 2],
        }
    }

    #[inline(always)]
    fn mix(&mut self) {
        self.engine.process(&mut self.scratch);
        convert::<S16Le>(&self.scratch, &mut self.device);
        black_box(&mut self.device);
    }

    /// The loop body as `rt::run` has it: wake, mix into the device area, commit.
    #[inline(never)]
    fn period<O: LoopObserver>(&mut self, observer: &mut O) {
        observer.wake(black_box(PERIOD as u64));
        self.mix();
        observer.committed();
    }

    #[inline(never)]
    fn period_without_observer(&mut self) {
        self.mix();
    }

    #[inline(never)]
    fn period_with_flag(&mut self, monitor: &mut Option<MonitorRt>) {
        if let Some(m) = monitor.as_mut() {
            m.wake(stembox::rt::monitor::now_ns(), black_box(PERIOD as u64));
        }
        self.mix();
        if let Some(m) = monitor.as_mut() {
            m.committed(stembox::rt::monitor::now_ns());
        }
    }
}

fn per_period(c: &mut Criterion) {
    let mut g = c.benchmark_group("period_16_stereo_stems_64_frames");
    let mut l = Loop::new();
    g.bench_function("no_monitor_code", |b| {
        b.iter(|| l.period_without_observer())
    });
    let mut l = Loop::new();
    g.bench_function("monitor_off", |b| b.iter(|| l.period(&mut NoObserver)));
    let mut l = Loop::new();
    let mut none: Option<MonitorRt> = black_box(None);
    g.bench_function("monitor_off_runtime_flag", |b| {
        b.iter(|| l.period_with_flag(&mut none))
    });
    let mut l = Loop::new();
    let shared = Arc::new(MonitorShared::new());
    let mut rt = MonitorRt::new(shared.clone(), PERIOD as u32, RATE);
    g.bench_function("monitor_on", |b| b.iter(|| l.period(&mut rt)));
    g.finish();
    c.bench_function("now_ns", |b| b.iter(stembox::rt::monitor::now_ns));
    let w = shared.snapshot().since(&MonitorShared::new().snapshot());
    assert!(w.periods() > 0, "the monitor recorded nothing");
    eprintln!(
        "monitor_on recorded {} periods: work p50 {} us, p99.9 {} us",
        w.periods(),
        w.work_percentile_us(50.0).unwrap_or(0),
        w.work_percentile_us(99.9).unwrap_or(0)
    );
}

/// The four variants measured round-robin, many short rounds each, so that load from other
/// processes on a shared machine hits all of them alike; prints median and best ns/period.
fn interleaved(rounds: usize, periods: usize) {
    let mut loops: Vec<Loop> = (0..4).map(|_| Loop::new()).collect();
    let shared = Arc::new(MonitorShared::new());
    let mut rt = MonitorRt::new(shared.clone(), PERIOD as u32, RATE);
    let mut none: Option<MonitorRt> = black_box(None);
    let names = [
        "no_monitor_code",
        "monitor_off",
        "monitor_off_runtime_flag",
        "monitor_on",
    ];
    let mut ns: Vec<Vec<f64>> = (0..4).map(|_| Vec::with_capacity(rounds)).collect();
    for _ in 0..rounds {
        for (v, l) in loops.iter_mut().enumerate() {
            let t = std::time::Instant::now();
            for _ in 0..periods {
                match v {
                    0 => l.period_without_observer(),
                    1 => l.period(&mut NoObserver),
                    2 => l.period_with_flag(&mut none),
                    _ => l.period(&mut rt),
                }
            }
            ns[v].push(t.elapsed().as_nanos() as f64 / periods as f64);
        }
    }
    eprintln!("interleaved: {rounds} rounds x {periods} periods per variant, ns per period");
    for (name, mut v) in names.iter().zip(ns) {
        v.sort_by(f64::total_cmp);
        eprintln!(
            "  {name:<26} median {:>7.1}  best {:>7.1}  p90 {:>7.1}",
            v[v.len() / 2],
            v[0],
            v[v.len() * 9 / 10]
        );
    }
}

criterion_group!(benches, per_period);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo bench` passes --bench; `cargo test --benches` does not: keep that run short.
    if std::env::args().any(|a| a == "--bench") {
        interleaved(40, 20_000);
    } else {
        interleaved(2, 100);
    }
}
