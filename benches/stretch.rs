//! Cost of speed and pitch (issue 10), at 64x2 and 256x2, 48 kHz, 16 stereo stems:
//! - the audio thread's period with the stretcher running: the engine mixes the song frames
//!   the pipe asks for into its staging buffer, commits them and pulls one period
//!   (`engine+pipe`), and the pipe's own share of that (`pipe only`), beside today's
//!   direct period (`bypass`, the engine mixing one period). Median, 99th percentile and
//!   the worst period: the worst is what must stay within the budget.
//! - the worker: time in the stretcher (Signalsmith Stretch plus the pitch resampler) per
//!   second of stereo output, as "x real time", and its worst single call (the FFT burst
//!   that the worker thread absorbs so the audio thread never sees it).
//!
//! The speed moves between 80 % and 125 % and the pitch between -2 and +3 semitones every
//! half second. The worker runs in step, between periods, untimed on the audio side.
//!
//! `cargo bench --bench stretch` (20 s of audio per case, `STRETCH_BENCH_S` to change);
//! under `cargo test` it runs a 1 s smoke pass. On a shared machine the worst period
//! measures the scheduler, not the code: run it as the appliance runs the audio thread,
//! e.g. `chrt -f 20 target/release/deps/stretch-* --bench`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use stembox::model::song::{Song, Stem};
use stembox::rt::command::Command;
use stembox::rt::engine::Engine;
use stembox::rt::stretch::StretchConfig;
use stembox::stretch::StretchWorker;

const RATE: u32 = 48_000;
const STEMS: usize = 16;
const SONG_FRAMES: u64 = 4 * RATE as u64;

/// 16 stereo stems of quiet pseudo-random noise plus a tone each, looping over the song.
fn playing_engine() -> Engine {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let stems = (0..STEMS)
        .map(|i| {
            let samples: Vec<f32> = (0..SONG_FRAMES * 2)
                .map(|j| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let noise = ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.01;
                    let t = (j / 2) as f32 / RATE as f32;
                    noise + 0.03 * (std::f32::consts::TAU * 110.0 * (i + 1) as f32 * t).sin()
                })
                .collect();
            Stem::new(format!("stem{i}"), samples.into_boxed_slice())
        })
        .collect();
    let song = Arc::new(Song::new("bench", RATE, stems));
    let (mut engine, mut handle) = Engine::new(RATE, 2, 1.0);
    assert!(handle.switch_song(song, 0, true));
    handle
        .send(Command::Loop {
            region: Some((0, SONG_FRAMES - 2048)),
        })
        .unwrap();
    let mut scratch = [0.0f32; 64 * 2];
    engine.process(&mut scratch);
    std::mem::forget(handle);
    engine
}

struct Times(Vec<Duration>);

impl Times {
    fn line(&mut self, what: &str, budget: Duration) -> String {
        self.0.sort();
        let n = self.0.len();
        let at = |q: f64| self.0[((n - 1) as f64 * q) as usize];
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        format!(
            "{what:<12} median {:7.2} us  p99 {:7.2} us  worst {:7.2} us  ({:.1} % of the budget at worst)",
            us(at(0.5)),
            us(at(0.99)),
            us(at(1.0)),
            100.0 * at(1.0).as_secs_f64() / budget.as_secs_f64()
        )
    }
}

fn bench(period: usize, seconds: f64) {
    let budget = Duration::from_secs_f64(period as f64 / RATE as f64);
    let periods = (seconds * RATE as f64 / period as f64) as usize;

    // Today's period: the engine mixes straight into the period.
    let mut engine = playing_engine();
    let mut out = vec![0.0f32; period * 2];
    let mut bypass = Times(Vec::with_capacity(periods));
    for _ in 0..periods {
        let t = Instant::now();
        engine.process(black_box(&mut out));
        bypass.0.push(t.elapsed());
    }

    let mut engine = playing_engine();
    let (mut pipe, mut worker) = StretchWorker::new(StretchConfig::new(RATE, 2, 1024));
    let mut whole = Times(Vec::with_capacity(periods));
    let mut pipe_only = Times(Vec::with_capacity(periods));
    let mut worker_calls = Vec::with_capacity(periods);
    let mut speed_change = 0usize;
    for p in 0..periods {
        if (p * period) % (RATE as usize / 2) < period {
            speed_change += 1;
        }
        let speed = if speed_change.is_multiple_of(2) {
            0.8
        } else {
            1.25
        };
        let pitch = if speed_change.is_multiple_of(3) {
            -2.0
        } else {
            3.0
        };
        let t = Instant::now();
        let mut in_pipe = Duration::ZERO;
        let tp = Instant::now();
        pipe.set_target(speed, pitch);
        in_pipe += tp.elapsed();
        loop {
            let tp = Instant::now();
            let n = pipe.input_frames_wanted(period);
            in_pipe += tp.elapsed();
            if n == 0 {
                break;
            }
            // The engine mixes at most its largest period per call.
            let n = n.min(1024);
            engine.process(pipe.input_buffer(n));
            let tp = Instant::now();
            pipe.commit_input(n);
            in_pipe += tp.elapsed();
        }
        let tp = Instant::now();
        pipe.pull(black_box(&mut out));
        in_pipe += tp.elapsed();
        whole.0.push(t.elapsed());
        pipe_only.0.push(in_pipe);

        let tw = Instant::now();
        worker.run_pending();
        worker_calls.push(tw.elapsed());
    }
    assert_eq!(pipe.stats().underruns, 0);

    println!(
        "period {period}x2, budget {:.0} us:",
        budget.as_secs_f64() * 1e6
    );
    println!("  {}", bypass.line("bypass", budget));
    println!("  {}", whole.line("engine+pipe", budget));
    println!("  {}", pipe_only.line("pipe only", budget));
    let (busy, frames) = worker.busy();
    let audio_s = frames as f64 / RATE as f64;
    println!(
        "  worker: {:.1}x real time per stereo stream ({:.1} % of a core); worst stretcher call {:.0} us",
        audio_s / busy.as_secs_f64(),
        100.0 * busy.as_secs_f64() / audio_s,
        worker.worst_call().as_secs_f64() * 1e6,
    );
    // Period 0 is the switch-in, where the worker resets the stretcher (Signalsmith
    // rebuilds its windows: ~3.5 ms on x86); its output is not heard until the worker has
    // caught up, so that burst is shown apart.
    println!(
        "  worker: switch-in run (stretcher reset) {:.0} us; worst run after it {:.0} us",
        worker_calls[0].as_secs_f64() * 1e6,
        worker_calls[1..].iter().max().unwrap().as_secs_f64() * 1e6,
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let seconds = match std::env::var("STRETCH_BENCH_S") {
        Ok(s) => s
            .parse()
            .expect("STRETCH_BENCH_S: seconds of audio per case"),
        Err(_) if full => 20.0,
        Err(_) => 1.0,
    };
    for period in [64, 256] {
        bench(period, seconds);
    }
}
