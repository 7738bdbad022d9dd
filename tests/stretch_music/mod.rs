//! Musical test material for the stretcher and how it is measured (issue 19): a song made
//! in code (a sawtooth and a plucked bass line at 41-110 Hz with their harmonics, a chord
//! pad, a vibrato voice, sharp drum hits), rendered through the real `StretchPipe` and
//! `StretchWorker`, and measured per note against the ideal: the fundamental and the 2nd
//! harmonic in cents (a windowed DTFT peak search, Blackman-Harris, so that the
//! neighbouring harmonics 41 Hz away do not pull it), their level, and per drum hit the
//! attack (10-90 % rise of the envelope, its peak against the dry hit) and the pre-echo
//! (energy before the onset against the hit's own).
//!
//! Shared by `tests/stretch_quality.rs` and `examples/stretch_measure.rs` (which also runs
//! `rubberband` on the same song for the comparison table).
#![allow(dead_code)]

use std::f64::consts::TAU;
use stembox::rt::stretch::{StretchConfig, StretchPipe};
use stembox::stretch::StretchWorker;

pub const RATE: u32 = 48_000;

/// One held note of the bass line, in song frames.
#[derive(Clone, Copy, Debug)]
pub struct Note {
    pub start: u64,
    pub frames: u64,
    pub hz: f64,
    /// Sawtooth amplitude of the fundamental (harmonic k has `amp / k`).
    pub amp: f64,
    /// Plucked: decays exponentially instead of being held.
    pub plucked: bool,
}

/// A generated song: mono samples (played in both channels), its bass notes and hits.
pub struct Music {
    pub samples: Vec<f32>,
    pub notes: Vec<Note>,
    /// Song frames where a drum hit starts.
    pub hits: Vec<u64>,
    /// Peak of one dry hit.
    pub dry_hit_peak: f64,
}

/// Deterministic noise in -1..1 (xorshift).
struct Noise(u64);
impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

fn ms(ms: f64) -> u64 {
    (ms * RATE as f64 / 1000.0).round() as u64
}

/// Adds a band-limited sawtooth note (harmonics up to 6 kHz) to `out`.
fn add_note(out: &mut [f64], n: &Note) {
    let harmonics = ((6000.0 / n.hz) as usize).min(40);
    let attack = ms(5.0) as f64;
    let release = ms(30.0) as f64;
    for i in 0..n.frames {
        let t = i as f64 / RATE as f64;
        let env = if n.plucked {
            (i as f64 / attack).min(1.0) * (-t / 0.6).exp()
        } else {
            (i as f64 / attack)
                .min(1.0)
                .min((n.frames - i) as f64 / release)
        };
        let mut v = 0.0;
        for k in 1..=harmonics {
            // A pluck loses its upper harmonics faster.
            let decay = if n.plucked {
                (-t * 0.6 * k as f64).exp()
            } else {
                1.0
            };
            v += (TAU * n.hz * k as f64 * t).sin() / k as f64 * decay;
        }
        out[(n.start + i) as usize] += n.amp * env * v;
    }
}

/// A short bright hit (snare/hat-like: differentiated noise, 0.3 ms rise, 25 ms decay).
fn hit_shape(len: u64, noise: &mut Noise) -> Vec<f64> {
    let rise = ms(0.3) as f64;
    let mut prev = 0.0;
    (0..len)
        .map(|i| {
            let t = i as f64 / RATE as f64;
            let env = (i as f64 / rise).min(1.0) * (-t / 0.025).exp();
            let n = noise.next();
            let v = (n - 0.6 * prev) * env;
            prev = n;
            0.5 * v
        })
        .collect()
}

impl Music {
    /// The bass line and its company: `lead_s` of silence (the stretcher switches in),
    /// then notes of `note_s` each (held sawtooth, then plucked) with a chord pad above
    /// (262-523 Hz, clear of every bass fundamental and 2nd harmonic), a vibrato voice,
    /// and a drum hit on every note start.
    pub fn bass_song(lead_s: f64, note_s: f64, with_company: bool) -> Music {
        let freqs = [41.2, 55.0, 73.42, 98.0, 110.0, 49.0, 61.74, 82.41];
        let note_frames = (note_s * RATE as f64) as u64;
        let lead = (lead_s * RATE as f64) as u64;
        let mut notes = Vec::new();
        for (i, &hz) in freqs.iter().enumerate() {
            notes.push(Note {
                start: lead + i as u64 * note_frames,
                frames: note_frames,
                hz,
                amp: 0.25,
                plucked: i >= 5,
            });
        }
        let total = lead + notes.len() as u64 * note_frames + ms(500.0);
        let mut out = vec![0.0f64; total as usize];
        for n in &notes {
            add_note(&mut out, n);
        }
        let mut hits = Vec::new();
        let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
        let shape = hit_shape(ms(200.0), &mut noise);
        let dry_hit_peak = shape.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if with_company {
            for n in &notes {
                hits.push(n.start);
                for (j, v) in shape.iter().enumerate() {
                    out[n.start as usize + j] += v;
                }
            }
            let body = lead as usize..(total - ms(500.0)) as usize;
            for i in body {
                let t = i as f64 / RATE as f64;
                // C major pad, soft.
                let pad: f64 = [261.63, 329.63, 392.0, 523.25]
                    .iter()
                    .map(|f| 0.04 * (TAU * f * t).sin())
                    .sum();
                // A voice at 659 Hz (E5) with 5.5 Hz vibrato of +-30 cents, 3 harmonics.
                let depth = 2f64.powf(30.0 / 1200.0) - 1.0;
                let phase = TAU * 659.26 * (t - depth / (TAU * 5.5) * (TAU * 5.5 * t).cos());
                let voice = 0.05 * (phase.sin() + 0.4 * (2.0 * phase).sin());
                out[i] += pad + voice;
            }
        }
        Music {
            samples: out.iter().map(|&v| v as f32).collect(),
            notes,
            hits,
            dry_hit_peak,
        }
    }

    /// Drum hits alone, every `every_s`, after `lead_s` of silence.
    pub fn drum_song(lead_s: f64, every_s: f64, count: usize) -> Music {
        let lead = (lead_s * RATE as f64) as u64;
        let every = (every_s * RATE as f64) as u64;
        let total = lead + count as u64 * every + ms(500.0);
        let mut out = vec![0.0f64; total as usize];
        let mut noise = Noise(0x2545_f491_4f6c_dd1d);
        let mut hits = Vec::new();
        let mut dry_hit_peak = 0.0f64;
        for k in 0..count as u64 {
            let at = lead + k * every;
            let shape = hit_shape(ms(200.0), &mut noise);
            dry_hit_peak = dry_hit_peak.max(shape.iter().fold(0.0, |m, v| m.max(v.abs())));
            for (j, v) in shape.iter().enumerate() {
                out[(at + j as u64) as usize] += v;
            }
            hits.push(at);
        }
        Music {
            samples: out.iter().map(|&v| v as f32).collect(),
            notes: Vec::new(),
            hits,
            dry_hit_peak,
        }
    }

    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / RATE as f64
    }
}

/// What a render produced: the left channel, and for every period the output frame it
/// began at and the song frame heard there (`mix head - latency`, as the engine shows it).
pub struct Rendered {
    pub out: Vec<f32>,
    pub map: Vec<(u64, f64)>,
    pub underruns: u64,
}

impl Rendered {
    /// The output frame where song frame `song` is heard (linear between periods).
    pub fn out_frame(&self, song: f64) -> f64 {
        let i = self.map.partition_point(|&(_, s)| s <= song);
        if i == 0 || i >= self.map.len() {
            return self
                .map
                .get(i.min(self.map.len() - 1))
                .map_or(0.0, |m| m.0 as f64);
        }
        let (o0, s0) = self.map[i - 1];
        let (o1, s1) = self.map[i];
        o0 as f64 + (song - s0) / (s1 - s0).max(1e-9) * (o1 - o0) as f64
    }
}

/// Renders `music` through the real pipe and worker (run in step between the period's
/// pushes and its pull, as the offline renderer does), the speed and pitch set before
/// the song starts.
pub fn render_pipe(music: &Music, speed: f64, pitch_st: f32, period: usize) -> Rendered {
    render_pipe_config(
        StretchConfig::new(RATE, 2, 1024),
        music,
        speed,
        pitch_st,
        period,
    )
}

/// [`render_pipe`] with another configuration (block sizes, lead).
pub fn render_pipe_config(
    config: StretchConfig,
    music: &Music,
    speed: f64,
    pitch_st: f32,
    period: usize,
) -> Rendered {
    let (mut pipe, mut worker) = StretchWorker::new(config);
    render_with(&mut pipe, &mut worker, music, speed, pitch_st, period)
}

pub fn render_with(
    pipe: &mut StretchPipe,
    worker: &mut StretchWorker,
    music: &Music,
    speed: f64,
    pitch_st: f32,
    period: usize,
) -> Rendered {
    let song = |i: u64| music.samples.get(i as usize).copied().unwrap_or(0.0);
    pipe.set_target(speed, pitch_st);
    let out_frames = (music.seconds() / speed * RATE as f64) as usize + RATE as usize / 2;
    let mut out = Vec::with_capacity(out_frames + period);
    let mut map = Vec::new();
    let mut head = 0u64;
    let mut buf = vec![0.0f32; period * 2];
    while out.len() < out_frames {
        map.push((out.len() as u64, head as f64 - pipe.latency_song_frames()));
        if pipe.is_bypassed() {
            for f in 0..period {
                buf[2 * f] = song(head + f as u64);
                buf[2 * f + 1] = buf[2 * f];
            }
            head += period as u64;
        } else {
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
            worker.run_pending();
            pipe.pull(&mut buf);
        }
        out.extend(buf.iter().step_by(2));
    }
    Rendered {
        out,
        map,
        underruns: pipe.stats().underruns,
    }
}

/// A render of something else (e.g. rubberband) whose output frame `o` plays song frame
/// `o * speed` (its latency already compensated).
pub fn linear_map(out: Vec<f32>, speed: f64) -> Rendered {
    let map = (0..out.len() as u64 / 256 + 2)
        .map(|p| (p * 256, (p * 256) as f64 * speed))
        .collect();
    Rendered {
        out,
        map,
        underruns: 0,
    }
}

/// Magnitude of the windowed DTFT of `x` at `hz`.
fn dtft_mag(x: &[f64], hz: f64) -> f64 {
    let w = TAU * hz / RATE as f64;
    let (c, s) = (w.cos(), w.sin());
    // Rotating phasor (re-normalised now and then against drift).
    let (mut pr, mut pi) = (1.0f64, 0.0f64);
    let (mut re, mut im) = (0.0, 0.0);
    for (i, &v) in x.iter().enumerate() {
        re += v * pr;
        im -= v * pi;
        let nr = pr * c - pi * s;
        pi = pr * s + pi * c;
        pr = nr;
        if i % 1024 == 1023 {
            let n = (pr * pr + pi * pi).sqrt();
            pr /= n;
            pi /= n;
        }
    }
    (re * re + im * im).sqrt()
}

/// The strongest component within `search_cents` of `expected_hz` in `x`: its frequency
/// and amplitude (as the amplitude of the sine that would give that peak).
pub fn peak_near(x: &[f32], expected_hz: f64, search_cents: f64) -> (f64, f64) {
    let n = x.len() as f64;
    // 4-term Blackman-Harris: sidelobes below -92 dB.
    let win: Vec<f64> = (0..x.len())
        .map(|i| {
            let p = TAU * i as f64 / (n - 1.0);
            0.35875 - 0.48829 * p.cos() + 0.14128 * (2.0 * p).cos() - 0.01168 * (3.0 * p).cos()
        })
        .collect();
    let wsum: f64 = win.iter().sum();
    let xw: Vec<f64> = x.iter().zip(&win).map(|(&v, w)| v as f64 * w).collect();
    let at = |c: f64| dtft_mag(&xw, expected_hz * 2f64.powf(c / 1200.0));
    // Coarse grid, then golden-section refinement around the best point.
    let step = 3.0;
    let mut best = (-search_cents, at(-search_cents));
    let mut c = -search_cents + step;
    while c <= search_cents {
        let m = at(c);
        if m > best.1 {
            best = (c, m);
        }
        c += step;
    }
    let (mut lo, mut hi) = (best.0 - step, best.0 + step);
    let g = 0.618_033_988_75;
    let (mut a, mut b) = (hi - g * (hi - lo), lo + g * (hi - lo));
    let (mut fa, mut fb) = (at(a), at(b));
    for _ in 0..24 {
        if fa > fb {
            hi = b;
            b = a;
            fb = fa;
            a = hi - g * (hi - lo);
            fa = at(a);
        } else {
            lo = a;
            a = b;
            fa = fb;
            b = lo + g * (hi - lo);
            fb = at(b);
        }
    }
    let c = (a + b) / 2.0;
    (expected_hz * 2f64.powf(c / 1200.0), 2.0 * at(c) / wsum)
}

/// One bass note measured in an output.
#[derive(Clone, Copy, Debug)]
pub struct NoteMeasure {
    pub hz: f64,
    pub f0_cents: f64,
    pub h2_cents: f64,
    /// Level of the fundamental against the dry note's, in dB.
    pub f0_db: f64,
}

/// Measures every bass note of `music` in `r` (output at `speed`, shifted `pitch_st`),
/// on the steady middle of each note (from 30 % to 80 % of it, in song time).
pub fn measure_notes(music: &Music, r: &Rendered, pitch_st: f32) -> Vec<NoteMeasure> {
    let shift = 2f64.powf(pitch_st as f64 / 12.0);
    music
        .notes
        .iter()
        .map(|n| {
            let s0 = n.start as f64 + 0.3 * n.frames as f64;
            let s1 = n.start as f64 + 0.8 * n.frames as f64;
            let (o0, o1) = (r.out_frame(s0) as usize, r.out_frame(s1) as usize);
            let seg = &r.out[o0.min(r.out.len())..o1.min(r.out.len())];
            let want = n.hz * shift;
            let (f0, a0) = peak_near(seg, want, 150.0);
            let (h2, _) = peak_near(seg, 2.0 * want, 150.0);
            // The dry note's fundamental over the same song span.
            let dry = &music.samples[s0 as usize..s1 as usize];
            let (_, d0) = peak_near(dry, n.hz, 20.0);
            NoteMeasure {
                hz: n.hz,
                f0_cents: 1200.0 * (f0 / want).log2(),
                h2_cents: 1200.0 * (h2 / (2.0 * want)).log2(),
                f0_db: 20.0 * (a0 / d0).log10(),
            }
        })
        .collect()
}

/// One drum hit measured in an output.
#[derive(Clone, Copy, Debug)]
pub struct HitMeasure {
    /// 10 % to 90 % rise of the envelope (0.5 ms peak hold), in ms.
    pub rise_ms: f64,
    /// Peak against the dry hit's, in dB.
    pub peak_db: f64,
    /// Energy from 50 ms to 2 ms before the onset (the 50 % point) against the energy of
    /// the 50 ms from there, in dB (more negative is better).
    pub pre_echo_db: f64,
}

pub fn measure_hits(music: &Music, r: &Rendered) -> Vec<HitMeasure> {
    let hold = ms(0.5) as usize;
    music
        .hits
        .iter()
        .filter_map(|&h| {
            let centre = r.out_frame(h as f64) as i64;
            let from = (centre - ms(60.0) as i64).max(0) as usize;
            let to = ((centre + ms(60.0) as i64) as usize).min(r.out.len());
            if to <= from + hold {
                return None;
            }
            let x = &r.out[from..to];
            let env: Vec<f64> = (0..x.len())
                .map(|i| {
                    x[i.saturating_sub(hold / 2)..(i + hold / 2 + 1).min(x.len())]
                        .iter()
                        .fold(0.0f64, |m, v| m.max(v.abs() as f64))
                })
                .collect();
            let peak = env.iter().fold(0.0f64, |m, &v| m.max(v));
            let t50 = env.iter().position(|&e| e >= 0.5 * peak)?;
            let t90 = env.iter().position(|&e| e >= 0.9 * peak)?;
            let t10 = env[..t50]
                .iter()
                .rposition(|&e| e < 0.1 * peak)
                .unwrap_or(0);
            let abs50 = from + t50;
            let energy = |a: usize, b: usize| -> f64 {
                r.out[a.min(r.out.len())..b.min(r.out.len())]
                    .iter()
                    .map(|&v| (v as f64).powi(2))
                    .sum::<f64>()
            };
            let pre = energy(
                abs50.saturating_sub(ms(50.0) as usize),
                abs50 - ms(2.0) as usize,
            );
            let post = energy(abs50 - ms(2.0) as usize, abs50 + ms(48.0) as usize);
            Some(HitMeasure {
                rise_ms: (t90.saturating_sub(t10)) as f64 * 1000.0 / RATE as f64,
                peak_db: 20.0 * (peak / music.dry_hit_peak).log10(),
                pre_echo_db: 10.0 * ((pre + 1e-20) / post).log10(),
            })
        })
        .collect()
}

/// Median and worst (largest magnitude) of `v`.
pub fn median_worst(v: &[f64]) -> (f64, f64) {
    let mut s: Vec<f64> = v.iter().map(|x| x.abs()).collect();
    s.sort_by(f64::total_cmp);
    let median = if s.is_empty() { 0.0 } else { s[s.len() / 2] };
    let worst = v
        .iter()
        .copied()
        .fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
    (median, worst)
}

/// Where each drum hit of `music` is heard in `r` against where the render's own map says
/// its song frame is heard, in ms (positive: late). The onset is the hit's 50 % point,
/// less the dry hit's own 50 % point.
pub fn hit_offsets_ms(music: &Music, r: &Rendered) -> Vec<f64> {
    let dry_t50 = music.samples[music.hits[0] as usize..]
        .iter()
        .position(|v| v.abs() as f64 >= 0.5 * music.dry_hit_peak)
        .unwrap_or(0) as f64;
    music
        .hits
        .iter()
        .filter_map(|&h| {
            let expected = r.out_frame(h as f64);
            let from = (expected as i64 - ms(30.0) as i64).max(0) as usize;
            let to = (from + ms(60.0) as usize).min(r.out.len());
            let x = r.out.get(from..to)?;
            let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let t50 = x.iter().position(|v| v.abs() >= 0.5 * peak)? as f64;
            Some((from as f64 + t50 - dry_t50 - expected) * 1000.0 / RATE as f64)
        })
        .collect()
}

/// A session in and out of the stretcher: `before_s` plain, then `speed`/`pitch_st` for
/// `stretch_s`, then 100 %/0 until bypassed again (and `after_s` more). The left channel,
/// and per period its first output frame, the state it played in and the song frame
/// heard first.
pub struct Session {
    pub out: Vec<f32>,
    pub periods: Vec<(usize, stembox::rt::stretch::StretchState, f64)>,
}

pub fn switch_session(
    song: &dyn Fn(u64) -> f32,
    speed: f64,
    pitch_st: f32,
    stretch_s: f64,
    period: usize,
) -> Session {
    use stembox::rt::stretch::StretchState;
    let (mut pipe, mut worker) = StretchWorker::new(StretchConfig::new(RATE, 2, 1024));
    let mut out = Vec::new();
    let mut periods = Vec::new();
    let mut head = 0u64;
    let mut buf = vec![0.0f32; period * 2];
    let per_s = RATE as f64 / period as f64;
    let (on, off) = ((0.2 * per_s) as usize, ((0.2 + stretch_s) * per_s) as usize);
    let mut p = 0;
    loop {
        if p == on {
            pipe.set_target(speed, pitch_st);
        }
        if p == off {
            pipe.set_target(1.0, 0.0);
        }
        if p > off && pipe.is_bypassed() && periods.len() > off + (0.2 * per_s) as usize {
            break;
        }
        assert!(p < off + (3.0 * per_s) as usize, "never back in bypass");
        let state = pipe.state();
        periods.push((out.len(), state, head as f64 - pipe.latency_song_frames()));
        if pipe.is_bypassed() {
            for f in 0..period {
                buf[2 * f] = song(head + f as u64);
                buf[2 * f + 1] = buf[2 * f];
            }
            head += period as u64;
        } else {
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
            worker.run_pending();
            pipe.pull(&mut buf);
        }
        out.extend(buf.iter().step_by(2));
        p += 1;
        let _ = StretchState::Bypassed;
    }
    Session { out, periods }
}

/// Amplitude envelope of a tone at `hz` (quadrature demodulation, averaged over `window`
/// frames: a whole number of half periods of the tone cancels the 2f term).
pub fn tone_envelope(x: &[f32], hz: f64, window: usize) -> Vec<f64> {
    let w = TAU * hz / RATE as f64;
    let (mut re, mut im) = (vec![0.0; x.len() + 1], vec![0.0; x.len() + 1]);
    for (i, &v) in x.iter().enumerate() {
        re[i + 1] = re[i] + v as f64 * (w * i as f64).cos();
        im[i + 1] = im[i] + v as f64 * (w * i as f64).sin();
    }
    (0..x.len().saturating_sub(window))
        .map(|i| {
            let (a, b) = (re[i + window] - re[i], im[i + window] - im[i]);
            2.0 * (a * a + b * b).sqrt() / window as f64
        })
        .collect()
}

/// The threaded worker at the appliance's scheduling (the "audio thread" SCHED_FIFO at
/// `AUDIO_PRIORITY`, paced like a card; the worker just below it), at 80 % with the speed
/// changing every 0.5 s between 80 % and 125 % (and the pitch between 0 and +2), while
/// `stress-ng --cpu 2` (when installed) loads both cores. Returns the underruns, the
/// worker's scheduling and the periods played while stretching.
pub fn paced_session_under_load(seconds: f64) -> (u64, String, u64) {
    use std::time::{Duration, Instant};
    use stembox::stretch::WorkerPriority;
    const AUDIO_PRIORITY: u32 = 20;
    let period = 256;
    // Unoptimised, the resampler runs only a few times faster than real time: debug
    // builds pace the card at half speed (the full proof is a release run).
    let pace = if cfg!(debug_assertions) { 2 } else { 1 };
    let stress = std::process::Command::new("stress-ng")
        .args([
            "--cpu",
            "2",
            "--timeout",
            &format!("{}s", (seconds * pace as f64) as u64 + 30),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok();
    // Let the load start before the session.
    std::thread::sleep(Duration::from_millis(300));
    let session = std::thread::spawn(move || {
        let refused = stembox::rt::thread::make_current_thread_realtime(AUDIO_PRIORITY, None);
        let (mut pipe, worker) = StretchWorker::new(StretchConfig::new(RATE, 2, period));
        let counter = pipe.underrun_counter();
        // STRETCH_STRESS_INHERIT=1 shows the worker as it was (normal priority).
        let priority = if std::env::var_os("STRETCH_STRESS_INHERIT").is_some() {
            WorkerPriority::Inherit
        } else {
            WorkerPriority::BelowAudio {
                audio_priority: AUDIO_PRIORITY,
            }
        };
        let handle = worker.spawn_with(priority).unwrap();
        let scheduling = format!("{:?} (audio thread: {refused:?})", handle.scheduling());
        let song = |i: u64| (0.3 * (TAU * 220.0 * i as f64 / RATE as f64).sin()) as f32;
        let mut out = vec![0.0f32; period * 2];
        let mut head = 0u64;
        let period_dur = Duration::from_secs_f64(pace as f64 * period as f64 / RATE as f64);
        let periods = (seconds * RATE as f64 / period as f64) as u32;
        let change_every = RATE / 2 / period as u32;
        let start = Instant::now();
        let mut stretched = 0u64;
        for p in 0..periods {
            let (speed, pitch) = match (p / change_every) % 3 {
                0 => (0.8, 0.0),
                1 => (1.25, 2.0),
                _ => (0.8, 2.0),
            };
            pipe.set_target(speed, pitch);
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
            let deadline = start + period_dur * (p + 1);
            if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            pipe.pull(&mut out);
            stretched += (pipe.state() == stembox::rt::stretch::StretchState::Stretching) as u64;
        }
        let worker = handle.stop().unwrap();
        println!(
            "{seconds} s: stats {:?}, worst worker call {:?}",
            pipe.stats(),
            worker.worst_call()
        );
        assert_eq!(
            counter.load(std::sync::atomic::Ordering::Relaxed),
            pipe.stats().underruns
        );
        (pipe.stats().underruns, scheduling, stretched)
    });
    let result = session.join();
    if let Some(mut s) = stress {
        let _ = s.kill();
        let _ = s.wait();
    }
    result.unwrap()
}

/// Tone bursts (2 kHz under a 30 ms Hann envelope) every `every_s` after `lead_s`: timing
/// marks whose energy centroid a stretcher's smearing (symmetric) does not move. `hits`
/// holds each burst's centre.
pub fn burst_song(lead_s: f64, every_s: f64, count: usize) -> Music {
    let lead = (lead_s * RATE as f64) as u64;
    let every = (every_s * RATE as f64) as u64;
    let len = ms(30.0);
    let total = lead + count as u64 * every + ms(500.0);
    let mut out = vec![0.0f32; total as usize];
    let mut hits = Vec::new();
    for k in 0..count as u64 {
        let at = lead + k * every;
        for j in 0..len {
            let env = 0.5 - 0.5 * (TAU * j as f64 / len as f64).cos();
            let v = 0.5 * env * (TAU * 2000.0 * j as f64 / RATE as f64).sin();
            out[(at + j) as usize] = v as f32;
        }
        hits.push(at + len / 2);
    }
    Music {
        samples: out,
        notes: Vec::new(),
        hits,
        dry_hit_peak: 0.5,
    }
}

/// Where each burst of a [`burst_song`] is heard (its energy centroid) against where the
/// render's map says its centre is heard, in ms (positive: late).
pub fn burst_offsets_ms(music: &Music, r: &Rendered) -> Vec<f64> {
    music
        .hits
        .iter()
        .filter_map(|&h| {
            let expected = r.out_frame(h as f64);
            let from = (expected as i64 - ms(60.0) as i64).max(0) as usize;
            let to = (from + ms(120.0) as usize).min(r.out.len());
            let x = r.out.get(from..to)?;
            let (mut m, mut e) = (0.0, 0.0);
            for (i, &v) in x.iter().enumerate() {
                let p = (v as f64).powi(2);
                m += p * i as f64;
                e += p;
            }
            (e > 0.0).then(|| (from as f64 + m / e - expected) * 1000.0 / RATE as f64)
        })
        .collect()
}

/// Renders `music` through the real pipe and worker with the speed and pitch changing at
/// given song frames, exactly there (the chunk is split at the change, as the engine does
/// at a tempo-ramp loop's wrap). `changes` is sorted by song frame; the first applies
/// from the start.
pub fn render_changes(music: &Music, changes: &[(u64, f64, f32)], period: usize) -> Rendered {
    let (mut pipe, mut worker) = StretchWorker::new(StretchConfig::new(RATE, 2, 1024));
    let song = |i: u64| music.samples.get(i as usize).copied().unwrap_or(0.0);
    let mut next = 0;
    let mut out = Vec::new();
    let mut map = Vec::new();
    let mut head = 0u64;
    let mut buf = vec![0.0f32; period * 2];
    while (head as usize) < music.samples.len() {
        while next < changes.len() && changes[next].0 <= head {
            pipe.set_target(changes[next].1, changes[next].2);
            next += 1;
        }
        map.push((out.len() as u64, head as f64 - pipe.latency_song_frames()));
        assert!(!pipe.is_bypassed());
        loop {
            let mut n = pipe.input_frames_wanted(period);
            if n == 0 {
                break;
            }
            if next < changes.len() {
                n = n.min((changes[next].0 - head) as usize);
            }
            for (f, frame) in pipe.input_buffer(n).chunks_exact_mut(2).enumerate() {
                frame.fill(song(head + f as u64));
            }
            pipe.commit_input(n);
            head += n as u64;
            while next < changes.len() && changes[next].0 <= head {
                pipe.set_target(changes[next].1, changes[next].2);
                next += 1;
            }
        }
        worker.run_pending();
        pipe.pull(&mut buf);
        out.extend(buf.iter().step_by(2));
    }
    Rendered {
        out,
        map,
        underruns: pipe.stats().underruns,
    }
}
