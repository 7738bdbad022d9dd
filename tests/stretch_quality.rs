//! End-to-end checks of the stretch pipeline (issue 10): the real `StretchPipe` and
//! `StretchWorker` with Signalsmith Stretch, driven like the engine drives them, on
//! generated audio. Frequencies are measured by interpolated zero crossings over long
//! steady windows, levels by RMS and Goertzel filters.
//!
//! Most tests run the worker in step with the "audio thread" (`run_pending` between the
//! pushes and the pull) so they are deterministic; one runs it on its own thread, paced
//! like a sound card, and checks that it stays ahead.

mod common;

use assert_no_alloc::{assert_no_alloc, AllocDisabler};
use common::{cents, zero_crossing_hz};
use std::f64::consts::TAU;
use stembox::rt::stretch::{StretchConfig, StretchPipe, StretchState};
use stembox::stretch::StretchWorker;

// Only inside `assert_no_alloc` does an allocation abort the test (debug builds).
#[global_allocator]
static ALLOC: AllocDisabler = AllocDisabler;

const RATE: u32 = 48_000;

/// The threaded tests run one at a time: the load test's `stress-ng` would otherwise
/// starve the other one's normal-priority worker.
static THREADED: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A song as a function of the song frame: stereo, same signal in both channels.
type Song = dyn Fn(u64) -> f32;

fn sine(freq: f64, amp: f64) -> impl Fn(u64) -> f32 {
    move |i| (amp * (TAU * freq * i as f64 / RATE as f64).sin()) as f32
}

/// Stand-in for the engine: mixes song frames from its play head into the pipe.
struct Driver {
    pipe: StretchPipe,
    worker: StretchWorker,
    period: usize,
    /// Song frames mixed so far (the mix head).
    head: u64,
    /// Direct path scratch for bypassed periods.
    out: Vec<f32>,
}

impl Driver {
    fn new(period: usize) -> Self {
        let (pipe, worker) = StretchWorker::new(StretchConfig::new(RATE, 2, 1024));
        Driver {
            pipe,
            worker,
            period,
            head: 0,
            out: vec![0.0; period * 2],
        }
    }

    /// One period, as the engine does it; the worker runs between pushes and pull.
    fn period(&mut self, song: &Song, sink: &mut Vec<f32>) {
        if self.pipe.is_bypassed() {
            for f in 0..self.period {
                let v = song(self.head + f as u64);
                self.out[2 * f] = v;
                self.out[2 * f + 1] = v;
            }
            self.head += self.period as u64;
        } else {
            loop {
                let n = self.pipe.input_frames_wanted(self.period);
                if n == 0 {
                    break;
                }
                let buf = self.pipe.input_buffer(n);
                for (f, frame) in buf.chunks_exact_mut(2).enumerate() {
                    let v = song(self.head + f as u64);
                    frame[0] = v;
                    frame[1] = v;
                }
                self.pipe.commit_input(n);
                self.head += n as u64;
            }
            self.worker.run_pending();
            self.pipe.pull(&mut self.out);
        }
        sink.extend(self.out.iter().step_by(2));
    }

    /// Runs `seconds` of output; returns the left channel.
    fn run(&mut self, song: &Song, seconds: f64) -> Vec<f32> {
        let periods = (seconds * RATE as f64 / self.period as f64).ceil() as usize;
        let mut sink = Vec::with_capacity(periods * self.period);
        for _ in 0..periods {
            self.period(song, &mut sink);
        }
        sink
    }
}

/// Frequency from positive-going zero crossings, linearly interpolated.
fn frequency(x: &[f32]) -> f64 {
    zero_crossing_hz(x, RATE, 11)
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

/// Amplitude of the component at `freq` (Goertzel, Hann window).
fn tone_amplitude(x: &[f32], freq: f64) -> f64 {
    let n = x.len() as f64;
    let w = TAU * freq / RATE as f64;
    let (mut re, mut im) = (0.0, 0.0);
    for (i, &v) in x.iter().enumerate() {
        let hann = 0.5 - 0.5 * (TAU * i as f64 / n).cos();
        re += v as f64 * hann * (w * i as f64).cos();
        im -= v as f64 * hann * (w * i as f64).sin();
    }
    2.0 * (re * re + im * im).sqrt() / (n * 0.5)
}

/// Stretches a steady song at `speed`/`pitch` and returns 2 s of settled output.
fn steady_output(song: &Song, speed: f64, pitch: f32) -> Vec<f32> {
    let mut d = Driver::new(256);
    d.run(song, 0.1);
    d.pipe.set_target(speed, pitch);
    d.run(song, 1.0);
    assert_eq!(d.pipe.state(), StretchState::Stretching);
    let out = d.run(song, 2.0);
    assert_eq!(d.pipe.stats().underruns, 0);
    out
}

#[test]
fn speed_keeps_the_frequency_within_a_cent() {
    for speed in [0.5, 0.8, 1.5] {
        let out = steady_output(&sine(440.0, 0.5), speed, 0.0);
        let c = cents(frequency(&out), 440.0);
        println!("speed {speed}: {c:+.3} cents");
        assert!(c.abs() < 1.0, "speed {speed}: {c} cents");
    }
}

#[test]
fn pitch_moves_by_the_asked_interval_within_a_cent() {
    for (speed, pitch) in [(1.0, -12.0), (1.0, -5.0), (0.8, 3.5), (1.2, 12.0)] {
        let out = steady_output(&sine(440.0, 0.5), speed, pitch);
        let expected = 440.0 * 2f64.powf(pitch as f64 / 12.0);
        let c = cents(frequency(&out), expected);
        println!("speed {speed} pitch {pitch:+}: {c:+.3} cents");
        assert!(c.abs() < 1.0, "pitch {pitch}: {c} cents");
    }
}

#[test]
fn level_changes_less_than_half_a_db_on_a_steady_tone() {
    let input = rms(&(0..RATE as u64).map(sine(440.0, 0.5)).collect::<Vec<_>>());
    for (speed, pitch) in [(0.5, 0.0), (0.8, 0.0), (1.5, 0.0), (1.0, 3.5), (0.8, -5.0)] {
        let out = steady_output(&sine(440.0, 0.5), speed, pitch);
        let db = 20.0 * (rms(&out) / input).log10();
        println!("speed {speed} pitch {pitch:+}: {db:+.3} dB");
        assert!(db.abs() < 0.5, "speed {speed} pitch {pitch}: {db} dB");
    }
}

#[test]
fn a_two_tone_chord_keeps_both_tones() {
    let chord = |i: u64| sine(440.0, 0.3)(i) + sine(660.0, 0.3)(i);
    let interval = 2f64.powf(3.0 / 12.0);
    let out = steady_output(&chord, 0.8, 3.0);
    for f in [440.0, 660.0] {
        let a = tone_amplitude(&out, f * interval);
        let db = 20.0 * (a / 0.3).log10();
        println!("{f} Hz -> {:.1} Hz: {db:+.2} dB", f * interval);
        assert!(db.abs() < 1.0, "{f} Hz tone at {db} dB");
        // And nothing left at the unshifted frequency.
        assert!(tone_amplitude(&out, f) < 0.01, "{f} Hz still there");
    }
}

/// A tone burst of `burst` song frames in silence, stretched at `speed`: its length in
/// the output (between the half-amplitude points of its envelope) is `burst / speed`.
#[test]
fn length_scales_with_one_over_speed() {
    let start = RATE as u64; // after the switch-in has settled
    let burst = 2 * RATE as u64;
    for speed in [0.5, 0.8, 1.5] {
        let song = move |i: u64| {
            if (start..start + burst).contains(&i) {
                sine(440.0, 0.5)(i)
            } else {
                0.0
            }
        };
        let mut d = Driver::new(256);
        d.pipe.set_target(speed, 0.0);
        let out = d.run(&song, 1.0 / speed + 2.0 / speed + 1.0);
        // Envelope: peak over 1 ms windows.
        let win = 48;
        let env: Vec<f32> = out
            .chunks(win)
            .map(|c| c.iter().fold(0.0f32, |m, v| m.max(v.abs())))
            .collect();
        let on = env.iter().position(|&e| e > 0.25).unwrap();
        let off = env.iter().rposition(|&e| e > 0.25).unwrap() + 1;
        let measured = ((off - on) * win) as f64;
        let expected = burst as f64 / speed;
        let error = (measured - expected).abs() / expected * 100.0;
        println!("speed {speed}: {measured} frames, expected {expected}: {error:.3} %");
        // The 1 ms envelope grid adds up to 2 windows of error.
        assert!(
            (measured - expected).abs() <= expected * 0.005 + 2.0 * win as f64,
            "speed {speed}: {measured} frames vs {expected}"
        );
    }
}

#[test]
fn at_unity_the_pipe_is_bypassed_and_the_direct_line_is_bit_exact() {
    let song = sine(440.0, 0.5);
    let mut d = Driver::new(64);
    let before = d.run(&song, 0.2);
    assert!(d.pipe.is_bypassed());
    // Stretch, come back, and check that everything the direct line plays (priming,
    // draining, bypass) is the song itself, sample for sample, at the heard position.
    d.pipe.set_target(0.8, 0.0);
    let mut heard = Vec::new();
    let mut states = Vec::new();
    for p in 0..(3.0 * RATE as f64 / 64.0) as usize {
        if p == 1500 {
            d.pipe.set_target(1.0, 0.0);
        }
        let state = d.pipe.state();
        let head_before = d.head;
        let latency = d.pipe.latency_song_frames();
        let mut out = Vec::new();
        d.period(&song, &mut out);
        states.push(state);
        if matches!(
            state,
            StretchState::Bypassed | StretchState::Priming | StretchState::Draining
        ) {
            let first = (head_before as f64 - latency) as u64;
            for (i, v) in out.iter().enumerate() {
                assert_eq!(
                    v.to_bits(),
                    song(first + i as u64).to_bits(),
                    "period {p} {state:?}"
                );
            }
        }
        heard.extend(out);
    }
    assert!(d.pipe.is_bypassed(), "back in bypass: {:?}", d.pipe.state());
    for s in [
        StretchState::Priming,
        StretchState::FadeIn,
        StretchState::Stretching,
        StretchState::Settling,
        StretchState::FadeOut,
        StretchState::Draining,
    ] {
        assert!(states.contains(&s), "never went through {s:?}");
    }
    // Before any stretching, the output is the song.
    for (i, v) in before.iter().enumerate() {
        assert_eq!(v.to_bits(), song(i as u64).to_bits());
    }
    assert_eq!(d.pipe.stats().underruns, 0);
}

/// The largest sample-to-sample step over a whole in/out session stays within the
/// signal's own largest step (plus 10 %): no click at either crossfade.
#[test]
fn switching_in_and_out_has_no_discontinuity() {
    let (freq, amp) = (440.0, 0.5);
    let own_step = amp * TAU * freq / RATE as f64;
    for (speed, pitch) in [(0.8, 0.0), (1.3, 0.0), (1.0, 2.0), (0.6, -3.0)] {
        let song = sine(freq, amp);
        let pitch_ratio = 2f64.powf(pitch as f64 / 12.0);
        let mut d = Driver::new(128);
        let mut out = d.run(&song, 0.1);
        d.pipe.set_target(speed, pitch);
        out.extend(d.run(&song, 1.0));
        d.pipe.set_target(1.0, 0.0);
        out.extend(d.run(&song, 1.0));
        assert!(d.pipe.is_bypassed());
        out.extend(d.run(&song, 0.1));
        let (worst, at) = out
            .windows(2)
            .enumerate()
            .map(|(i, w)| ((w[1] - w[0]).abs() as f64, i))
            .fold((0.0, 0), |a, b| if b.0 > a.0 { b } else { a });
        // A pitch shift raises the signal's own steepest step by its ratio.
        let allowed = own_step * pitch_ratio.max(1.0) * 1.1;
        println!(
            "speed {speed} pitch {pitch:+}: worst step {worst:.5} at {at} (own {own_step:.5})"
        );
        assert!(
            worst <= allowed,
            "speed {speed}: step {worst} > {allowed} at frame {at}"
        );
    }
}

#[test]
fn a_speed_change_while_stretching_goes_straight_to_the_stretcher() {
    let song = sine(440.0, 0.5);
    let mut d = Driver::new(256);
    d.pipe.set_target(0.7, 0.0);
    d.run(&song, 1.0);
    assert_eq!(d.pipe.state(), StretchState::Stretching);
    let head = d.head;
    d.pipe.set_target(1.4, 0.0);
    assert_eq!(d.pipe.state(), StretchState::Stretching);
    d.run(&song, 1.0);
    // A second at 140 % consumes about 1.4 s of song.
    let consumed = (d.head - head) as f64 / RATE as f64;
    assert!((consumed - 1.4).abs() < 0.02, "consumed {consumed} s");
    let out = d.run(&song, 1.0);
    assert!(cents(frequency(&out), 440.0).abs() < 1.0);
}

/// The worker on its own thread, the "audio thread" paced by the clock like a card: the
/// pipe primes, switches in, and the worker then stays ahead with no underrun.
#[test]
fn a_threaded_worker_stays_ahead() {
    let period = 256;
    // This machine's two cores are shared with other builds (load averages of 10 were
    // seen), so the worker may be preempted for tens of milliseconds: give it a lead to
    // match (the appliance runs it at RT priority, where the default 10 ms lead is
    // enough). Unoptimised, the worker's Rust half (the resampler) runs only a few times
    // faster than real time, so debug builds pace the card at half speed.
    let config = StretchConfig {
        lead_frames: RATE as usize / 5,
        ..StretchConfig::new(RATE, 2, 1024)
    };
    let pace = if cfg!(debug_assertions) { 2 } else { 1 };
    let _alone = THREADED.lock().unwrap_or_else(|e| e.into_inner());
    let (mut pipe, worker) = StretchWorker::new(config);
    let handle = worker.spawn().unwrap();
    let song = sine(440.0, 0.5);
    let mut out = vec![0.0f32; period * 2];
    let mut heard = Vec::new();
    let mut head = 0u64;
    pipe.set_target(0.75, 2.0);
    let period_dur = std::time::Duration::from_secs_f64(pace as f64 * period as f64 / RATE as f64);
    let start = std::time::Instant::now();
    let mut stretching_since = None;
    let mut p = 0u32;
    // Up to 20 s of paced periods to get through priming, then 1.5 s of stretching.
    while p < 20 * RATE / period as u32 {
        loop {
            let n = pipe.input_frames_wanted(period);
            if n == 0 {
                break;
            }
            for (f, frame) in pipe.input_buffer(n).chunks_exact_mut(2).enumerate() {
                frame.fill(song(head + f as u64));
            }
            pipe.commit_input(n);
            head += n as u64;
        }
        // Wait for the period's deadline, as the card would make us.
        let deadline = start + period_dur * (p + 1);
        if let Some(wait) = deadline.checked_duration_since(std::time::Instant::now()) {
            std::thread::sleep(wait);
        }
        pipe.pull(&mut out);
        p += 1;
        match stretching_since {
            None if pipe.state() == StretchState::Stretching => {
                stretching_since = Some(p);
                assert_eq!(pipe.stats().underruns, 0, "underrun while switching in");
            }
            Some(since) => {
                heard.extend(out.iter().step_by(2));
                if p - since >= 3 * RATE / 2 / period as u32 {
                    break;
                }
            }
            None => {}
        }
    }
    let worker = handle.stop().unwrap();
    println!(
        "switched in after {stretching_since:?} periods; stats {:?}, worst worker call {:?}",
        pipe.stats(),
        worker.worst_call()
    );
    assert!(
        stretching_since.is_some(),
        "never switched in: {:?}",
        pipe.state()
    );
    assert_eq!(pipe.stats().underruns, 0);
    // The new pitch is heard once the lead and the stretcher's latency have passed.
    let expected = 440.0 * 2f64.powf(2.0 / 12.0);
    let settled = &heard[RATE as usize * 7 / 10..];
    assert!(cents(frequency(settled), expected).abs() < 1.0);
}

/// The audio thread's side never allocates or frees, with the stretcher running, the
/// speed changing every few periods, and the stretcher switched in and out.
#[test]
fn audio_thread_side_never_allocates() {
    let song = sine(440.0, 0.5);
    let mut d = Driver::new(64);
    let mut out = vec![0.0f32; 64 * 2];
    let speeds = [0.5, 0.8, 1.0, 1.25, 1.5, 0.9];
    for p in 0..3000usize {
        let speed = if p < 2500 {
            speeds[(p / 40) % speeds.len()]
        } else {
            1.0
        };
        let pitch = if p < 2500 {
            ((p / 55) % 5) as f32 - 2.0
        } else {
            0.0
        };
        let head = &mut d.head;
        let pipe = &mut d.pipe;
        assert_no_alloc(|| {
            pipe.set_target(speed, pitch);
            if pipe.is_bypassed() {
                return;
            }
            loop {
                let n = pipe.input_frames_wanted(64);
                if n == 0 {
                    break;
                }
                for (f, frame) in pipe.input_buffer(n).chunks_exact_mut(2).enumerate() {
                    frame.fill(song(*head + f as u64));
                }
                pipe.commit_input(n);
                *head += n as u64;
            }
        });
        // The worker's Rust side does not allocate either (the C++ stretcher's own
        // buffers are outside what assert_no_alloc can see).
        let worker = &mut d.worker;
        assert_no_alloc(|| worker.run_pending());
        assert_no_alloc(|| d.pipe.pull(&mut out));
    }
    assert_eq!(d.pipe.stats().underruns, 0);
}

mod stretch_music;

/// Issue 19: a sawtooth and a plucked bass line at 41-110 Hz (with a chord pad, a vibrato
/// voice and drum hits over it), through the real pipe and worker at 50, 80, 120 and
/// 150 % and at -5, -2, +3 and +7 semitones: every note's fundamental within 5 cents
/// median and 10 cents worst of the ideal, its 2nd harmonic within 10 cents, its level
/// within 1 dB. (With the 80/20 ms blocks used before: up to +96 cents at 80 %.)
#[test]
fn a_low_bass_line_stays_in_tune_at_every_speed_and_shift() {
    let music = stretch_music::Music::bass_song(0.3, 0.4, true);
    let cases = [
        (0.5, 0.0),
        (0.8, 0.0),
        (1.2, 0.0),
        (1.5, 0.0),
        (1.0, -5.0),
        (1.0, -2.0),
        (1.0, 3.0),
        (1.0, 7.0),
    ];
    for (speed, st) in cases {
        let r = stretch_music::render_pipe(&music, speed, st, 256);
        assert_eq!(r.underruns, 0);
        let notes = stretch_music::measure_notes(&music, &r, st);
        let f0: Vec<f64> = notes.iter().map(|n| n.f0_cents).collect();
        let h2: Vec<f64> = notes.iter().map(|n| n.h2_cents).collect();
        let (med, worst) = stretch_music::median_worst(&f0);
        let (_, h2_worst) = stretch_music::median_worst(&h2);
        let db_worst = notes.iter().map(|n| n.f0_db.abs()).fold(0.0, f64::max);
        println!(
            "speed {speed} shift {st:+}: f0 median {med:.2} worst {worst:+.2} cents, \
             h2 worst {h2_worst:+.2}, level worst {db_worst:.2} dB"
        );
        assert!(med < 5.0 && worst.abs() < 10.0, "{speed} {st}: {notes:?}");
        assert!(h2_worst.abs() < 10.0, "{speed} {st}: {notes:?}");
        assert!(db_worst < 2.0, "{speed} {st}: {notes:?}");
    }
}

/// Issue 19: sharp drum hits keep their attack (10-90 % rise within a few ms, peak within
/// 3 dB of the dry hit's) and little pre-echo at every speed and shift.
#[test]
fn drum_hits_keep_their_attack_and_little_pre_echo() {
    let music = stretch_music::Music::drum_song(0.4, 0.25, 6);
    for (speed, st) in [(0.5, 0.0), (0.8, 0.0), (1.5, 0.0), (1.0, -5.0), (1.0, 7.0)] {
        let r = stretch_music::render_pipe(&music, speed, st, 256);
        let hits = stretch_music::measure_hits(&music, &r);
        assert_eq!(hits.len(), music.hits.len());
        let rise = hits.iter().map(|h| h.rise_ms).sum::<f64>() / hits.len() as f64;
        let peak = hits.iter().map(|h| h.peak_db).sum::<f64>() / hits.len() as f64;
        let pre = hits.iter().map(|h| h.pre_echo_db).fold(f64::MIN, f64::max);
        println!("speed {speed} shift {st:+}: rise {rise:.2} ms, peak {peak:+.2} dB, pre-echo {pre:+.1} dB");
        assert!(rise < 14.0, "{speed} {st}: rise {rise} ms");
        assert!(peak.abs() < 3.5, "{speed} {st}: peak {peak} dB");
        assert!(pre < -11.0, "{speed} {st}: pre-echo {pre} dB");
    }
}

/// Issue 19: under `stress-ng --cpu 2` the real-time worker never leaves a gap (a short
/// run; the 60 s proof is `cargo run --release --example stretch_stress`).
#[test]
fn the_worker_keeps_up_under_load() {
    let _alone = THREADED.lock().unwrap_or_else(|e| e.into_inner());
    let (underruns, scheduling, stretched) = stretch_music::paced_session_under_load(2.0);
    println!("worker scheduling {scheduling}; {stretched} periods stretched");
    assert!(stretched > 0);
    assert_eq!(underruns, 0, "{scheduling}");
}

/// Issue 19: a held tone keeps its level within 1 dB through the crossfades into and out
/// of the stretcher (out of it, it fell to 10-98 % before the direct line was lined up
/// with the stretcher's phase), at 480 Hz and at 60 Hz, after speed and pitch changes.
#[test]
fn a_held_tone_keeps_its_level_through_both_crossfades() {
    use stembox::rt::stretch::StretchState as S;
    // Both tones at once, each read by its own demodulation (windows of whole half
    // periods of each, so the other tone and the 2f terms cancel).
    let song = |i: u64| {
        let t = i as f64 / RATE as f64;
        (0.25 * (TAU * 480.0 * t).sin() + 0.25 * (TAU * 60.0 * t).sin()) as f32
    };
    for (speed, st) in [(0.8, 0.0), (1.25, 0.0), (1.0, 2.0), (0.7, -3.0)] {
        let s = stretch_music::switch_session(&song, speed, st, 0.8, 256);
        for (hz, window) in [(480.0, 800usize), (60.0, 800)] {
            let env = stretch_music::tone_envelope(&s.out, hz, window);
            for fade in [S::FadeIn, S::FadeOut] {
                let first = s.periods.iter().position(|p| p.1 == fade).unwrap();
                let last = s.periods.iter().rposition(|p| p.1 == fade).unwrap();
                let from = s.periods[first - 2].0.saturating_sub(window / 2);
                let to = s.periods[last + 3].0.min(env.len());
                let (lo, hi) = env[from..to]
                    .iter()
                    .fold((f64::MAX, 0.0f64), |(l, h), &e| (l.min(e), h.max(e)));
                let (lo_db, hi_db) = (20.0 * (lo / 0.25).log10(), 20.0 * (hi / 0.25).log10());
                println!("{hz} Hz, {speed} {st:+}, {fade:?}: {lo_db:+.2} .. {hi_db:+.2} dB");
                assert!(
                    lo_db > -1.0 && hi_db < 1.0,
                    "{hz} Hz {speed} {st} {fade:?}: {lo_db} .. {hi_db} dB"
                );
            }
        }
    }
}

/// Issue 19: both sides of each crossfade are the same song time. A 2 kHz burst is placed
/// in the middle of each crossfade (found by a first run; the pipeline is deterministic):
/// it is heard once, centred within 1 ms of where the pipe says (2.5 ms out of the
/// stretcher, see below), with no copy of it from another time.
#[test]
fn the_crossfades_mix_no_audio_from_another_time() {
    use stembox::rt::stretch::StretchState as S;
    let burst_frames = RATE as u64 * 30 / 1000;
    let burst = |centre: u64| {
        move |i: u64| {
            let Some(j) = (i + burst_frames / 2).checked_sub(centre) else {
                return 0.0;
            };
            if j >= burst_frames {
                return 0.0;
            }
            let env = 0.5 - 0.5 * (TAU * j as f64 / burst_frames as f64).cos();
            (0.5 * env * (TAU * 2000.0 * j as f64 / RATE as f64).sin()) as f32
        }
    };
    // A quiet 100 Hz tone under it, so the stretcher never sees digital silence (it
    // passes silence through), and the burst's energy is read at 2 kHz only.
    let with_tone = move |song: &dyn Fn(u64) -> f32, i: u64| {
        song(i) + (0.003 * (TAU * 100.0 * i as f64 / RATE as f64).sin()) as f32
    };
    for (speed, st) in [(0.8, 0.0), (1.25, 0.0), (1.0, 2.0)] {
        let probe = stretch_music::switch_session(&|i| with_tone(&|_| 0.0, i), speed, st, 0.8, 256);
        for fade in [S::FadeIn, S::FadeOut] {
            // Where the middle of the crossfade is heard, in song frames.
            let first = probe.periods.iter().position(|p| p.1 == fade).unwrap();
            let last = probe.periods.iter().rposition(|p| p.1 == fade).unwrap();
            let centre_out = (probe.periods[first].0 + probe.periods[last + 1].0) / 2;
            let at = probe.periods.partition_point(|p| p.0 <= centre_out) - 1;
            let (o, _, heard) = probe.periods[at];
            let centre = (heard + (centre_out - o) as f64) as u64;
            let b = burst(centre);
            let s = stretch_music::switch_session(&|i| with_tone(&b, i), speed, st, 0.8, 256);
            assert_eq!(s.periods[first].1, fade, "the same run");
            // The burst's energy: its centroid, and what lies more than 25 ms from it.
            // (2 kHz envelope over 24 frames: a whole number of 4 kHz periods.)
            let energy: Vec<f64> = stretch_music::tone_envelope(&s.out, 2000.0, 24)
                .iter()
                .map(|e| e * e)
                .collect();
            let total: f64 = energy.iter().sum();
            let centroid = energy
                .iter()
                .enumerate()
                .map(|(i, e)| i as f64 * e)
                .sum::<f64>()
                / total;
            let away: f64 = energy
                .iter()
                .enumerate()
                .filter(|(i, _)| (*i as f64 - centroid).abs() > RATE as f64 * 0.025)
                .map(|(_, e)| e)
                .sum();
            // (The envelope at frame i covers frames i..i + 24.)
            // Where this run says the burst's centre is heard (it may differ from the
            // probe's by the lag the fade-out lined up to).
            let at = s.periods.partition_point(|p| p.2 <= centre as f64) - 1;
            let (o, _, heard) = s.periods[at];
            let expected = o as f64 + (centre as f64 - heard);
            let offset_ms = (centroid + 11.5 - expected) * 1000.0 / RATE as f64;
            let away_db = 10.0 * (away / total).log10();
            println!("{speed} {st:+} {fade:?}: centroid {offset_ms:+.2} ms, energy away {away_db:+.1} dB");
            // Out of the stretcher the direct line goes on from the lag that lines it up
            // with the stretcher's phase (issue 19's level dip), so the two copies of the
            // burst may stand that lag apart: a blend, not an echo.
            let bound_ms = if fade == S::FadeIn { 1.0 } else { 2.5 };
            assert!(
                offset_ms.abs() < bound_ms,
                "{speed} {st} {fade:?}: {offset_ms} ms"
            );
            assert!(
                away_db < -30.0,
                "{speed} {st} {fade:?}: {away_db} dB elsewhere"
            );
        }
    }
}

/// Issue 19: the heard position stays true through speed changes (a tempo-ramp loop
/// changes the speed at its wrap): timing marks after each step are heard within 1 ms of
/// where the pipe says their song frame is heard (before: up to 29 ms off, as the frames
/// in flight were counted at the new speed).
#[test]
fn the_heard_position_stays_true_across_speed_changes() {
    let bursts = stretch_music::burst_song(0.6, 0.15, 20);
    let step = (0.45 * RATE as f64) as u64;
    let base = (0.6 * RATE as f64) as u64 - RATE as u64 / 25;
    let speeds = [0.7, 1.5, 0.5, 1.25, 0.9, 1.1];
    let changes: Vec<(u64, f64, f32)> = std::iter::once((0, 0.8, 0.0))
        .chain(
            speeds
                .iter()
                .enumerate()
                .map(|(k, &s)| (base + k as u64 * step, s, 0.0)),
        )
        .collect();
    let r = stretch_music::render_changes(&bursts, &changes, 256);
    let off = stretch_music::burst_offsets_ms(&bursts, &r);
    println!("offsets ms {off:.2?}");
    assert_eq!(off.len(), bursts.hits.len());
    for (k, o) in off.iter().enumerate() {
        assert!(o.abs() < 1.0, "burst {k}: {o} ms");
    }
}
