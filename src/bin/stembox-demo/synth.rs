//! The demo library: three short songs synthesised from code, so stembox can be tried on a
//! fresh machine without downloading anything (`stembox-demo DIR`).
//!
//! Each song has drums (kick, snare, hats: decaying sines and noise bursts), a bass line
//! following the chords, keys (chords, stereo, gently panned), a click with the accent on
//! beat 1, and the ballad has a lead "vocal" line (a sine with vibrato). The stems differ
//! enough that muting any one of them is plainly audible. Stems are WAV files written with
//! hound, mono and stereo, 16- and 24-bit, and one song is at 44.1 kHz so the loader has to
//! resample it. Each song folder also gets a `song.json` (title, bpm, time signature,
//! sections, per-stem settings) and the library a `setlist.json`.
//!
//! The stems of a song are scaled together so that their sum (the mix, stems at unity, mono
//! stems in both channels) peaks 1.5 dB below full scale. Noise comes from a fixed-seed
//! xorshift, so the output is the same bytes on every run. Main thread, off the audio path.

use std::f64::consts::TAU;
use std::io;
use std::path::{Path, PathBuf};

/// The song folders, in setlist order.
#[cfg(test)]
const SONG_FOLDERS: [&str; 3] = ["01-groove", "02-ballad", "03-shuffle"];

/// Where the mix of each song peaks: -1.5 dBFS, headroom for the resampler's overshoot.
pub const MIX_PEAK: f32 = 0.84;

/// Writes the demo library into `dir` (created if missing; files already there with the
/// same names are overwritten) and returns the paths of the files written.
pub fn write_demo_library(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for spec in SONGS {
        let song_dir = dir.join(spec.folder);
        std::fs::create_dir_all(&song_dir)?;
        for (stem, track) in spec.stems.iter().zip(render_song(spec)) {
            let path = song_dir.join(format!("{}.wav", stem.name));
            write_wav(&path, stem, spec.rate, &track)?;
            written.push(path);
        }
        let meta = song_dir.join("song.json");
        std::fs::write(&meta, song_json(spec))?;
        written.push(meta);
    }
    let setlist = dir.join("setlist.json");
    let names: Vec<String> = SONGS.iter().map(|s| format!("\"{}\"", s.folder)).collect();
    std::fs::write(&setlist, format!("[{}]\n", names.join(", ")))?;
    written.push(setlist);
    Ok(written)
}

// ---- the songs ------------------------------------------------------------------------------

/// What a stem plays.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Part {
    Drums,
    Bass,
    Keys,
    Lead,
    Click,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Style {
    Groove,
    Ballad,
    Shuffle,
}

struct StemSpec {
    name: &'static str,
    part: Part,
    channels: u16,
    bits: u16,
    /// Level before the song is scaled to [`MIX_PEAK`]: the balance of the mix.
    level: f32,
    /// Bars the file lasts, if shorter than the song (the loader pads it with silence).
    bars: Option<u32>,
}

/// A chord: root as a MIDI note and the intervals above it in semitones.
#[derive(Clone, Copy)]
struct Chord(i32, &'static [i32]);

const MAJ: &[i32] = &[0, 4, 7];
const MIN: &[i32] = &[0, 3, 7];
const DOM7: &[i32] = &[0, 4, 7, 10];
const MIN7: &[i32] = &[0, 3, 7, 10];
const MAJ7: &[i32] = &[0, 4, 7, 11];

struct SongSpec {
    folder: &'static str,
    title: &'static str,
    bpm: f64,
    rate: u32,
    /// One chord per bar; the song is this many bars of 4/4.
    chords: &'static [Chord],
    /// Where the off-beat eighth falls within the beat: 0.5 straight, 2/3 shuffled.
    swing: f64,
    style: Style,
    /// Section names and the bar each starts at (1-based); the first starts at 0 s.
    sections: &'static [(&'static str, u32)],
    stems: &'static [StemSpec],
    /// The `stems` object of `song.json`: per-stem settings as examples.
    stem_settings: &'static str,
    seed: u32,
}

const BEATS_PER_BAR: u32 = 4;

const fn stem(name: &'static str, part: Part, channels: u16, bits: u16, level: f32) -> StemSpec {
    StemSpec {
        name,
        part,
        channels,
        bits,
        level,
        bars: None,
    }
}

const A7M: Chord = Chord(57, MIN7);
const D7: Chord = Chord(62, DOM7);
const FMAJ7: Chord = Chord(53, MAJ7);
const G7: Chord = Chord(55, DOM7);
const E7M: Chord = Chord(52, MIN7);
const C: Chord = Chord(60, MAJ);
const AM: Chord = Chord(57, MIN);
const F: Chord = Chord(53, MAJ);
const G: Chord = Chord(55, MAJ);
const E7: Chord = Chord(52, DOM7);
const A7: Chord = Chord(57, DOM7);
const B7: Chord = Chord(59, DOM7);

const SONGS: &[SongSpec] = &[
    SongSpec {
        folder: "01-groove",
        title: "Groove in A minor",
        bpm: 120.0,
        rate: 48_000,
        chords: &[
            A7M, A7M, D7, D7, A7M, A7M, D7, D7, FMAJ7, G7, E7M, A7M, A7M, D7, A7M, A7M,
        ],
        swing: 0.5,
        style: Style::Groove,
        sections: &[("intro", 1), ("verse", 5), ("chorus", 9), ("outro", 13)],
        stems: &[
            stem("drums", Part::Drums, 1, 16, 0.65),
            stem("bass", Part::Bass, 1, 16, 0.5),
            stem("keys", Part::Keys, 2, 16, 0.16),
            stem("click", Part::Click, 1, 16, 0.6),
        ],
        stem_settings: r#"{"click": {"gain_db": -6.0}}"#,
        seed: 0x1234_5678,
    },
    SongSpec {
        folder: "02-ballad",
        title: "Ballad in C",
        bpm: 72.0,
        rate: 48_000,
        chords: &[C, AM, F, G, C, C],
        swing: 0.5,
        style: Style::Ballad,
        sections: &[("intro", 1), ("verse", 2), ("outro", 6)],
        stems: &[
            stem("drums", Part::Drums, 1, 16, 0.45),
            stem("bass", Part::Bass, 1, 24, 0.45),
            stem("keys", Part::Keys, 2, 16, 0.13),
            StemSpec {
                // The melody ends with bar 5: a shorter file, padded when loaded.
                bars: Some(5),
                ..stem("vocals", Part::Lead, 1, 24, 0.32)
            },
            stem("click", Part::Click, 1, 16, 0.45),
        ],
        stem_settings: r#"{"vocals": {"gain_db": -1.5}, "keys": {"pan": -0.2}, "click": {"gain_db": -9.0}}"#,
        seed: 0x0BAD_F00D,
    },
    SongSpec {
        folder: "03-shuffle",
        title: "Shuffle in E (44.1 kHz)",
        bpm: 100.0,
        rate: 44_100,
        chords: &[E7, E7, A7, E7, B7, A7, E7, B7],
        swing: 2.0 / 3.0,
        style: Style::Shuffle,
        sections: &[("intro", 1), ("verse", 3), ("turnaround", 7)],
        stems: &[
            stem("drums", Part::Drums, 2, 16, 0.6),
            stem("bass", Part::Bass, 1, 24, 0.5),
            stem("keys", Part::Keys, 2, 16, 0.16),
            stem("click", Part::Click, 1, 16, 0.6),
        ],
        stem_settings: r#"{"click": {"gain_db": -6.0}}"#,
        seed: 0xC0FF_EE11,
    },
];

impl SongSpec {
    fn bars(&self) -> u32 {
        self.chords.len() as u32
    }

    fn seconds_per_beat(&self) -> f64 {
        60.0 / self.bpm
    }

    /// Seconds at a position in beats from the start of the song.
    fn at(&self, beat: f64) -> f64 {
        beat * self.seconds_per_beat()
    }

    fn frames_for_bars(&self, bars: u32) -> usize {
        let beats = f64::from(bars * BEATS_PER_BAR);
        (self.at(beats) * f64::from(self.rate)).round() as usize
    }

    /// The beat position of eighth `n` (0 or 1) of beat `beat` within a bar, with swing.
    fn eighth(&self, beat: u32, n: u32) -> f64 {
        f64::from(beat) + if n == 0 { 0.0 } else { self.swing }
    }
}

fn song_json(spec: &SongSpec) -> String {
    let sections: Vec<String> = spec
        .sections
        .iter()
        .enumerate()
        .map(|(i, &(name, bar))| {
            if i == 0 {
                format!("    {{\"name\": \"{name}\", \"at_s\": 0}}")
            } else {
                format!("    {{\"name\": \"{name}\", \"bar\": {bar}}}")
            }
        })
        .collect();
    format!(
        "{{\n  \"title\": \"{}\",\n  \"bpm\": {},\n  \"time_signature\": \"{BEATS_PER_BAR}/4\",\n  \"sections\": [\n{}\n  ],\n  \"stems\": {}\n}}\n",
        spec.title,
        spec.bpm,
        sections.join(",\n"),
        spec.stem_settings
    )
}

// ---- synthesis ------------------------------------------------------------------------------

/// Fixed-seed noise: the same bytes on every run.
struct XorShift(u32);

impl XorShift {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        (self.0 as f32 / u32::MAX as f32) * 2.0 - 1.0
    }
}

fn midi_hz(note: i32) -> f64 {
    440.0 * 2f64.powf(f64::from(note - 69) / 12.0)
}

/// An interleaved buffer one stem is drawn into.
struct Track {
    rate: f64,
    channels: usize,
    samples: Vec<f32>,
}

impl Track {
    fn new(rate: u32, channels: u16, frames: usize) -> Track {
        Track {
            rate: f64::from(rate),
            channels: usize::from(channels),
            samples: vec![0.0; frames * usize::from(channels)],
        }
    }

    fn frames(&self) -> usize {
        self.samples.len() / self.channels
    }

    /// Adds `voice(t)` (t in seconds from the onset) for `length_s` from `start_s`, at
    /// `gain`, panned by `pan` (-1 left .. 1 right; centre is full level in both channels).
    fn add(
        &mut self,
        start_s: f64,
        length_s: f64,
        gain: f32,
        pan: f32,
        mut voice: impl FnMut(f64) -> f32,
    ) {
        let first = (start_s * self.rate).round() as usize;
        let last = ((start_s + length_s) * self.rate).round() as usize;
        let last = last.min(self.frames());
        let (left, right) = ((1.0 - pan).min(1.0) * gain, (1.0 + pan).min(1.0) * gain);
        for frame in first..last {
            let v = voice((frame - first) as f64 / self.rate);
            if self.channels == 1 {
                self.samples[frame] += v * gain;
            } else {
                self.samples[frame * 2] += v * left;
                self.samples[frame * 2 + 1] += v * right;
            }
        }
    }

    /// A short linear fade at the end, so a note cut by the song's end does not click.
    fn fade_out(&mut self, seconds: f64) {
        let n = ((seconds * self.rate) as usize).min(self.frames());
        let frames = self.frames();
        for i in 0..n {
            let g = i as f32 / n as f32;
            let frame = frames - 1 - i;
            for c in 0..self.channels {
                self.samples[frame * self.channels + c] *= g;
            }
        }
    }
}

/// Attack, then the note's own decay, then a release ramp after `hold` seconds.
fn envelope(t: f64, attack: f64, hold: f64, release: f64) -> f64 {
    let a = (t / attack).min(1.0);
    let r = if t < hold {
        1.0
    } else {
        (1.0 - (t - hold) / release).max(0.0)
    };
    a * r
}

/// A sine oscillator that rotates a phasor: one complex multiply a sample instead of a
/// `sin()`, which keeps the whole library well under a second to render.
struct Osc {
    sin: f64,
    cos: f64,
    step_sin: f64,
    step_cos: f64,
}

impl Osc {
    fn new(hz: f64, rate: f64) -> Osc {
        let w = TAU * hz / rate;
        Osc {
            sin: 0.0,
            cos: 1.0,
            step_sin: w.sin(),
            step_cos: w.cos(),
        }
    }

    /// `(sin φ, cos φ)` of this sample; then advances one sample.
    fn next(&mut self) -> (f64, f64) {
        let now = (self.sin, self.cos);
        self.sin = now.0 * self.step_cos + now.1 * self.step_sin;
        self.cos = now.1 * self.step_cos - now.0 * self.step_sin;
        now
    }
}

/// `exp(-t / tau)` sample by sample, by one multiply.
struct Decay {
    value: f64,
    factor: f64,
}

impl Decay {
    fn new(tau_s: f64, rate: f64) -> Decay {
        Decay {
            value: 1.0,
            factor: (-1.0 / (tau_s * rate)).exp(),
        }
    }

    fn next(&mut self) -> f64 {
        let now = self.value;
        self.value *= self.factor;
        now
    }
}

/// `sin(kφ)` for `k = 1..=N` from `sin φ` and `cos φ` (Chebyshev recurrence).
fn harmonics<const N: usize>(sin: f64, cos: f64) -> [f64; N] {
    let mut out = [0.0; N];
    let (mut previous, mut current) = (0.0, sin);
    for h in out.iter_mut() {
        *h = current;
        let next = 2.0 * cos * current - previous;
        previous = current;
        current = next;
    }
    out
}

#[derive(Clone, Copy)]
enum Hit {
    Kick,
    Snare,
    Rim,
    Hat,
    OpenHat,
}

/// One drum hit: its length in seconds and its voice; noise from a seeded xorshift.
fn drum(hit: Hit, seed: u32, rate: f64) -> (f64, impl FnMut(f64) -> f32) {
    let mut rng = XorShift(seed | 1);
    let mut previous = 0.0f32;
    let (length, tone_hz, tone_tau, noise_tau) = match hit {
        Hit::Kick => (0.5, 50.0, 0.22, 0.003),
        Hit::Snare => (0.35, 185.0, 0.05, 0.1),
        Hit::Rim => (0.08, 820.0, 0.012, 0.01),
        Hit::Hat => (0.12, 0.0, 1.0, 0.025),
        Hit::OpenHat => (0.6, 0.0, 1.0, 0.18),
    };
    let mut tone = Osc::new(tone_hz, rate);
    let mut tone_decay = Decay::new(tone_tau, rate);
    let mut noise_decay = Decay::new(noise_tau, rate);
    // The kick's pitch falls from 150 Hz to 50 Hz; its phase is summed sample by sample.
    let mut sweep = Decay::new(0.03, rate);
    let mut kick_phase = 0.0f64;
    let voice = move |_t: f64| {
        let noise = rng.next();
        // First difference: a crude high-pass that makes noise hiss like metal.
        let bright = f64::from(noise - previous);
        previous = noise;
        let noise = f64::from(noise);
        let (sin, _) = tone.next();
        let (body, burst) = (tone_decay.next(), noise_decay.next());
        let v = match hit {
            Hit::Kick => {
                let v = kick_phase.sin() * body + noise * 0.25 * burst;
                kick_phase += TAU * (50.0 + 100.0 * sweep.next()) / rate;
                v
            }
            Hit::Snare => sin * 0.55 * body + noise * 0.45 * burst + bright * 0.12 * burst,
            Hit::Rim => sin * 0.5 * body + bright * 0.3 * burst,
            Hit::Hat => bright * 0.3 * burst,
            Hit::OpenHat => bright * 0.25 * burst,
        };
        v as f32
    };
    (length, voice)
}

/// A plucked bass note: six harmonics that fade faster the higher they are.
fn bass_voice(note: i32, hold: f64, rate: f64) -> impl FnMut(f64) -> f32 {
    let mut osc = Osc::new(midi_hz(note), rate);
    let mut brightness = Decay::new(0.6, rate);
    let mut decay = Decay::new(1.2, rate);
    move |t| {
        let (sin, cos) = osc.next();
        let b = brightness.next();
        let mut weight = 1.0;
        let mut tone = 0.0;
        for (k, h) in harmonics::<6>(sin, cos).iter().enumerate() {
            weight *= b;
            tone += h * weight / (k + 1) as f64;
        }
        (tone * decay.next() * envelope(t, 0.004, hold, 0.04)) as f32
    }
}

/// An electric-piano-like note: a bright attack whose upper harmonics die away first.
fn keys_voice(note: i32, hold: f64, rate: f64) -> impl FnMut(f64) -> f32 {
    let mut osc = Osc::new(midi_hz(note), rate);
    let mut brightness = Decay::new(0.25, rate);
    let mut decay = Decay::new(2.0, rate);
    move |t| {
        let (sin, cos) = osc.next();
        let b = brightness.next();
        let [h1, h2, h3, h4] = harmonics::<4>(sin, cos);
        let tone = h1 + b * (0.6 * h2 + b * (0.3 * h3 + b * 0.15 * h4));
        (tone * decay.next() * envelope(t, 0.003, hold, 0.12)) as f32
    }
}

/// A sung-like line: a near-triangle tone with vibrato that grows after the attack.
fn lead_voice(note: i32, hold: f64, rate: f64) -> impl FnMut(f64) -> f32 {
    let f = midi_hz(note);
    let mut vibrato = Osc::new(5.5, rate);
    let mut settle = Decay::new(0.4, rate);
    let mut phase = 0.0f64;
    move |t| {
        // Up to 0.3 semitone; 2^(x/12) ~ 1 + x ln2 / 12 this close to 1.
        let depth = 0.3 * (t / 0.5).min(1.0);
        let ratio = 1.0 + depth * vibrato.next().0 * core::f64::consts::LN_2 / 12.0;
        let (sin, cos) = phase.sin_cos();
        phase += TAU * f * ratio / rate;
        let [h1, _, h3, _, h5] = harmonics::<5>(sin, cos);
        let tone = h1 - h3 / 9.0 + h5 / 25.0;
        (tone * envelope(t, 0.06, hold, 0.15) * (0.85 + 0.15 * settle.next())) as f32
    }
}

/// A metronome tick: a decaying cosine (full level on its first sample, so the onset is
/// exact), higher and louder on beat 1.
fn click_voice(accent: bool, rate: f64) -> impl FnMut(f64) -> f32 {
    let (f, level) = if accent {
        (2000.0, 1.0)
    } else {
        (1200.0, 0.55)
    };
    let mut osc = Osc::new(f, rate);
    let mut decay = Decay::new(0.012, rate);
    move |_t| (osc.next().1 * decay.next() * level) as f32
}

/// Chord tones folded into the octave and a half above G3, low to high.
fn voicing(chord: Chord) -> Vec<i32> {
    let mut notes: Vec<i32> = chord
        .1
        .iter()
        .map(|iv| {
            let mut n = chord.0 + iv;
            while n < 55 {
                n += 12;
            }
            while n >= 70 {
                n -= 12;
            }
            n
        })
        .collect();
    notes.sort_unstable();
    notes
}

/// The chord root in the bass register, E1..D#2.
fn bass_root(chord: Chord) -> i32 {
    28 + (chord.0 - 28).rem_euclid(12)
}

/// Renders every stem of a song (in `spec.stems` order), scaled so the mix peaks at
/// [`MIX_PEAK`].
fn render_song(spec: &SongSpec) -> Vec<Track> {
    let mut tracks: Vec<Track> = spec
        .stems
        .iter()
        .enumerate()
        .map(|(i, stem)| {
            let bars = stem.bars.unwrap_or(spec.bars()).min(spec.bars());
            let mut track = Track::new(spec.rate, stem.channels, spec.frames_for_bars(bars));
            let seed = spec.seed.wrapping_add((i as u32).wrapping_mul(0x9E37_79B9));
            match stem.part {
                Part::Drums => drums(spec, &mut track, stem.channels == 2, seed),
                Part::Bass => bass(spec, &mut track),
                Part::Keys => keys(spec, &mut track),
                Part::Lead => lead(spec, &mut track),
                Part::Click => click(spec, &mut track),
            }
            if stem.part != Part::Click {
                track.fade_out(0.02);
            }
            for s in &mut track.samples {
                *s *= stem.level;
            }
            track
        })
        .collect();
    // The mix as the engine makes it: stems at unity, mono stems in both channels.
    let frames = tracks.iter().map(Track::frames).max().unwrap_or(0);
    let mut mix = vec![0.0f32; frames * 2];
    for t in &tracks {
        for frame in 0..t.frames() {
            for c in 0..2 {
                mix[frame * 2 + c] += t.samples[frame * t.channels + c.min(t.channels - 1)];
            }
        }
    }
    let peak = mix.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    if peak > 0.0 {
        let scale = MIX_PEAK / peak;
        for t in &mut tracks {
            for s in &mut t.samples {
                *s *= scale;
            }
        }
    }
    tracks
}

fn drums(spec: &SongSpec, track: &mut Track, stereo: bool, seed: u32) {
    let mut seed = seed;
    let mut hit = |track: &mut Track, beat: f64, what: Hit, gain: f32, pan: f32| {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let (length, voice) = drum(what, seed, track.rate);
        let pan = if stereo { pan } else { 0.0 };
        track.add(spec.at(beat), length, gain, pan, voice);
    };
    let last_bar = spec.bars() - 1;
    for bar in 0..spec.bars() {
        let b0 = f64::from(bar * BEATS_PER_BAR);
        if bar == last_bar {
            // The ending: one hit on beat 1, left to ring.
            hit(track, b0, Hit::Kick, 1.0, 0.0);
            hit(track, b0, Hit::OpenHat, 0.8, 0.3);
            continue;
        }
        match spec.style {
            Style::Groove => {
                for beat in [0.0, 1.0 + spec.swing, 2.0] {
                    hit(track, b0 + beat, Hit::Kick, 1.0, 0.0);
                }
                if bar >= 2 {
                    hit(track, b0 + 1.0, Hit::Snare, 0.9, -0.1);
                    hit(track, b0 + 3.0, Hit::Snare, 0.9, -0.1);
                }
                for beat in 0..BEATS_PER_BAR {
                    for n in 0..2 {
                        let (what, gain) = if beat == 3 && n == 1 {
                            (Hit::OpenHat, 0.7)
                        } else {
                            (Hit::Hat, if n == 0 { 1.0 } else { 0.6 })
                        };
                        hit(track, b0 + spec.eighth(beat, n), what, gain, 0.4);
                    }
                }
            }
            Style::Ballad => {
                if bar >= 1 {
                    hit(track, b0, Hit::Kick, 0.9, 0.0);
                    hit(track, b0 + 2.0 + spec.swing, Hit::Kick, 0.6, 0.0);
                    hit(track, b0 + 1.0, Hit::Rim, 0.8, -0.2);
                    hit(track, b0 + 3.0, Hit::Snare, 0.6, -0.1);
                }
                for beat in 0..BEATS_PER_BAR {
                    for n in 0..2 {
                        let gain = if n == 0 { 0.5 } else { 0.3 };
                        hit(track, b0 + spec.eighth(beat, n), Hit::Hat, gain, 0.4);
                    }
                }
            }
            Style::Shuffle => {
                hit(track, b0, Hit::Kick, 1.0, 0.0);
                hit(track, b0 + 2.0, Hit::Kick, 0.9, 0.0);
                hit(track, b0 + 1.0, Hit::Snare, 0.9, -0.15);
                hit(track, b0 + 3.0, Hit::Snare, 0.9, -0.15);
                for beat in 0..BEATS_PER_BAR {
                    for n in 0..2 {
                        let gain = if n == 0 { 0.9 } else { 0.55 };
                        hit(track, b0 + spec.eighth(beat, n), Hit::Hat, gain, 0.5);
                    }
                }
            }
        }
    }
}

fn bass(spec: &SongSpec, track: &mut Track) {
    let spb = spec.seconds_per_beat();
    let last_bar = spec.bars() - 1;
    for (bar, &chord) in spec.chords.iter().enumerate() {
        let b0 = (bar as u32 * BEATS_PER_BAR) as f64;
        let root = bass_root(chord);
        // (beat in the bar, semitones above the root, length in beats)
        let groove: &[(f64, i32, f64)] = &[
            (0.0, 0, 0.45),
            (0.75, 0, 0.2),
            (1.0 + spec.swing, 12, 0.4),
            (2.0, 7, 0.45),
            (3.0, 0, 0.45),
            (3.5, 10, 0.4),
        ];
        let ballad: &[(f64, i32, f64)] = &[(0.0, 0, 1.9), (2.0, 7, 1.9)];
        let boogie: Vec<(f64, i32, f64)> = [0, 4, 7, 9, 10, 9, 7, 4]
            .iter()
            .enumerate()
            .map(|(i, &iv)| (spec.eighth(i as u32 / 2, i as u32 % 2), iv, 0.3))
            .collect();
        let ending: &[(f64, i32, f64)] = &[(0.0, 0, 3.5)];
        let pattern = if bar as u32 == last_bar {
            ending
        } else {
            match spec.style {
                Style::Groove => groove,
                Style::Ballad => ballad,
                Style::Shuffle => &boogie,
            }
        };
        for &(beat, interval, length) in pattern {
            let hold = length * spb;
            track.add(
                spec.at(b0 + beat),
                hold + 0.05,
                1.0,
                0.0,
                bass_voice(root + interval, hold, track.rate),
            );
        }
    }
}

fn keys(spec: &SongSpec, track: &mut Track) {
    let spb = spec.seconds_per_beat();
    let last_bar = spec.bars() - 1;
    for (bar, &chord) in spec.chords.iter().enumerate() {
        let b0 = (bar as u32 * BEATS_PER_BAR) as f64;
        let notes = voicing(chord);
        let spread = |i: usize| -0.35 + 0.7 * i as f32 / (notes.len() - 1).max(1) as f32;
        let chord_at = |track: &mut Track, beat: f64, length: f64, gain: f32| {
            for (i, &n) in notes.iter().enumerate() {
                let hold = length * spb;
                track.add(
                    spec.at(b0 + beat),
                    hold + 0.15,
                    gain,
                    spread(i),
                    keys_voice(n, hold, track.rate),
                );
            }
        };
        if bar as u32 == last_bar {
            chord_at(track, 0.0, 3.5, 1.0);
            continue;
        }
        match spec.style {
            // The keys come in with the verse (bar 5).
            Style::Groove if bar >= 4 => {
                for (beat, length) in [(0.0, 0.9), (1.0 + spec.swing, 0.4), (3.0, 0.4), (3.5, 0.3)]
                {
                    chord_at(track, beat, length, 1.0);
                }
            }
            Style::Groove => {}
            Style::Ballad => {
                // Up-and-down arpeggio in eighths, alternating sides; a soft chord under it.
                chord_at(track, 0.0, 3.9, 0.35);
                let mut order: Vec<i32> = notes.clone();
                order.push(notes[0] + 12);
                let up_down = [0, 1, 2, 3, 2, 1, 2, 1];
                for (i, &k) in up_down.iter().enumerate() {
                    let note = order[k.min(order.len() - 1)];
                    let pan = if i % 2 == 0 { -0.3 } else { 0.3 };
                    let hold = 1.0 * spb;
                    track.add(
                        spec.at(b0 + 0.5 * i as f64),
                        hold + 0.15,
                        0.7,
                        pan,
                        keys_voice(note + 12, hold, track.rate),
                    );
                }
            }
            Style::Shuffle => {
                for (beat, length) in [(1.0, 0.5), (3.0, 0.5), (3.0 + spec.swing, 0.25)] {
                    chord_at(track, beat, length, 1.0);
                }
            }
        }
    }
}

fn lead(spec: &SongSpec, track: &mut Track) {
    // (MIDI note, beats), from bar 2; 0 is a rest.
    const MELODY: &[(i32, f64)] = &[
        (76, 1.0),
        (74, 0.5),
        (72, 0.5),
        (74, 2.0),
        (72, 1.0),
        (69, 1.0),
        (72, 1.0),
        (77, 1.0),
        (76, 1.5),
        (74, 0.5),
        (71, 2.0),
        (72, 3.0),
        (0, 1.0),
    ];
    let spb = spec.seconds_per_beat();
    let rate = track.rate;
    let mut beat = f64::from(BEATS_PER_BAR);
    for &(note, length) in MELODY {
        if note > 0 {
            let hold = length * spb * 0.95;
            track.add(
                spec.at(beat),
                hold + 0.15,
                1.0,
                0.0,
                lead_voice(note, hold, rate),
            );
        }
        beat += length;
    }
}

fn click(spec: &SongSpec, track: &mut Track) {
    for beat in 0..spec.bars() * BEATS_PER_BAR {
        let accent = beat % BEATS_PER_BAR == 0;
        track.add(
            spec.at(f64::from(beat)),
            0.05,
            1.0,
            0.0,
            click_voice(accent, track.rate),
        );
    }
}

// ---- files ----------------------------------------------------------------------------------

fn hound_error(e: hound::Error) -> io::Error {
    match e {
        hound::Error::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

fn write_wav(path: &Path, stem: &StemSpec, rate: u32, track: &Track) -> io::Result<()> {
    let spec = hound::WavSpec {
        channels: stem.channels,
        sample_rate: rate,
        bits_per_sample: stem.bits,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(hound_error)?;
    let full_scale = ((1i64 << (stem.bits - 1)) - 1) as f32;
    if stem.bits == 16 {
        let mut w = writer.get_i16_writer(track.samples.len() as u32);
        for &s in &track.samples {
            w.write_sample((s * full_scale).round().clamp(-full_scale, full_scale) as i16);
        }
        w.flush().map_err(hound_error)?;
    } else {
        for &s in &track.samples {
            let v = (s * full_scale).round().clamp(-full_scale, full_scale) as i32;
            writer.write_sample(v).map_err(hound_error)?;
        }
    }
    writer.finalize().map_err(hound_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A demo library written to a temporary folder, removed when dropped.
    struct Library {
        dir: PathBuf,
        files: Vec<PathBuf>,
    }

    impl Library {
        fn write() -> Library {
            let dir = std::env::temp_dir().join(format!("stembox-demo-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let files = write_demo_library(&dir).expect("write the demo library");
            Library { dir, files }
        }
    }

    impl Drop for Library {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// Writing the library is the slow part, so one test writes it and checks it all.
    #[test]
    fn demo_library_on_disk() {
        let lib = Library::write();
        files_and_specs(&lib.dir, &lib.files);
        song_json_reads_as_song_metadata(&lib.dir);
        library_scan_and_setlist_see_every_song(&lib.dir);
        sum_never_clips_and_every_stem_is_heard(&lib.dir);
        click_on_every_beat_with_the_accent_on_beat_one(&lib.dir);
    }

    /// A stem read back as f32 frames (mono or stereo), with its spec.
    fn read(path: &Path) -> (hound::WavSpec, Vec<f32>) {
        let mut r = hound::WavReader::open(path).expect("open wav");
        let spec = r.spec();
        let scale = (1i64 << (spec.bits_per_sample - 1)) as f32;
        let samples = r
            .samples::<i32>()
            .map(|s| s.expect("sample") as f32 / scale)
            .collect();
        (spec, samples)
    }

    fn files_and_specs(dir: &Path, files: &[PathBuf]) {
        let mut expected = Vec::new();
        for song in SONGS {
            for stem in song.stems {
                expected.push(dir.join(song.folder).join(format!("{}.wav", stem.name)));
            }
            expected.push(dir.join(song.folder).join("song.json"));
        }
        expected.push(dir.join("setlist.json"));
        assert_eq!(files, expected);
        assert_eq!(
            SONGS.iter().map(|s| s.folder).collect::<Vec<_>>(),
            SONG_FOLDERS
        );

        let (mut mono, mut stereo, mut bits16, mut bits24, mut rates) = (0, 0, 0, 0, vec![]);
        let mut total_bytes = 0;
        for song in SONGS {
            rates.push(song.rate);
            for stem in song.stems {
                let path = dir.join(song.folder).join(format!("{}.wav", stem.name));
                total_bytes += std::fs::metadata(&path).expect("stat").len();
                let r = hound::WavReader::open(&path).expect("open");
                let spec = r.spec();
                assert_eq!(spec.channels, stem.channels, "{path:?}");
                assert_eq!(spec.bits_per_sample, stem.bits, "{path:?}");
                assert_eq!(spec.sample_rate, song.rate, "{path:?}");
                assert_eq!(spec.sample_format, hound::SampleFormat::Int);
                let bars = stem.bars.unwrap_or(song.bars());
                let seconds = f64::from(bars * BEATS_PER_BAR) * 60.0 / song.bpm;
                let frames = (seconds * f64::from(song.rate)).round() as u32;
                assert_eq!(r.duration(), frames, "{path:?}");
                if spec.channels == 1 {
                    mono += 1
                } else {
                    stereo += 1
                }
                if spec.bits_per_sample == 16 {
                    bits16 += 1
                } else {
                    bits24 += 1
                }
            }
        }
        assert!(mono > 0 && stereo > 0 && bits16 > 0 && bits24 > 0);
        assert!(rates.contains(&44_100) && rates.contains(&48_000));
        assert!(total_bytes < 40_000_000, "{total_bytes} bytes");

        let setlist = std::fs::read_to_string(dir.join("setlist.json")).expect("setlist");
        assert_eq!(setlist, "[\"01-groove\", \"02-ballad\", \"03-shuffle\"]\n");
        let meta = std::fs::read_to_string(dir.join("01-groove/song.json")).expect("song.json");
        assert_eq!(
            meta,
            "{\n  \"title\": \"Groove in A minor\",\n  \"bpm\": 120,\n  \"time_signature\": \"4/4\",\n  \"sections\": [\n    {\"name\": \"intro\", \"at_s\": 0},\n    {\"name\": \"verse\", \"bar\": 5},\n    {\"name\": \"chorus\", \"bar\": 9},\n    {\"name\": \"outro\", \"bar\": 13}\n  ],\n  \"stems\": {\"click\": {\"gain_db\": -6.0}}\n}\n"
        );
    }

    /// The library scanner finds every song and stem, and `setlist.json` names them all.
    fn library_scan_and_setlist_see_every_song(dir: &Path) {
        let (songs, skipped) = stembox::model::library::scan(dir).expect("scan");
        assert!(skipped.is_empty(), "{skipped:?}");
        let folders: Vec<String> = songs.iter().map(|s| s.name.clone()).collect();
        assert_eq!(folders, SONG_FOLDERS);
        for (entry, spec) in songs.iter().zip(SONGS) {
            let mut stems: Vec<&str> = spec.stems.iter().map(|s| s.name).collect();
            stems.sort_unstable();
            let found: Vec<&str> = entry.stems.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(found, stems, "{}", spec.folder);
            assert!(entry.meta_path.is_some());
        }
        let (_, notes) = stembox::model::setlist::load_order(dir, &folders);
        assert!(notes.is_empty(), "{notes:?}");
    }

    /// Every `song.json` reads with the loader's parser, without warnings, and its sections
    /// land on the bars they name.
    fn song_json_reads_as_song_metadata(dir: &Path) {
        for song in SONGS {
            let bytes = std::fs::read(dir.join(song.folder).join("song.json")).expect("read");
            let meta = stembox::model::songmeta::parse_song_json(&bytes)
                .unwrap_or_else(|e| panic!("{}: {e}", song.folder));
            assert_eq!(meta.title.as_deref(), Some(song.title));
            assert_eq!(meta.bpm, Some(song.bpm));
            assert!(meta.warnings.is_empty(), "{:?}", meta.warnings);
            let starts: Vec<(String, u64)> = song
                .sections
                .iter()
                .map(|&(name, bar)| {
                    let frames = song.frames_for_bars(bar - 1) as u64;
                    (name.to_string(), frames)
                })
                .collect();
            assert_eq!(meta.section_frames(song.rate), starts, "{}", song.folder);
            assert!(!meta.stems.is_empty());
            for s in &meta.stems {
                assert!(song.stems.iter().any(|t| t.name == s.name), "{}", s.name);
            }
        }
    }

    /// The mix of a song's stems as the engine makes it, from the files.
    fn mix(dir: &Path, song: &SongSpec) -> (Vec<f32>, Vec<(String, Vec<f32>)>) {
        let stems: Vec<(String, Vec<f32>)> = song
            .stems
            .iter()
            .map(|stem| {
                let path = dir.join(song.folder).join(format!("{}.wav", stem.name));
                let (spec, samples) = read(&path);
                // As stereo frames: mono in both channels.
                let stereo = if spec.channels == 1 {
                    samples.iter().flat_map(|&s| [s, s]).collect()
                } else {
                    samples
                };
                (stem.name.to_string(), stereo)
            })
            .collect();
        let len = stems.iter().map(|(_, s)| s.len()).max().unwrap_or(0);
        let mut sum = vec![0.0f32; len];
        for (_, s) in &stems {
            for (m, v) in sum.iter_mut().zip(s) {
                *m += v;
            }
        }
        (sum, stems)
    }

    fn rms(s: &[f32]) -> f32 {
        (s.iter().map(|v| v * v).sum::<f32>() / s.len().max(1) as f32).sqrt()
    }

    fn sum_never_clips_and_every_stem_is_heard(dir: &Path) {
        for song in SONGS {
            let (sum, stems) = mix(dir, song);
            let peak = sum.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            // Scaled to MIX_PEAK; quantisation moves it by a few LSBs at most.
            assert!(
                peak <= MIX_PEAK + 1e-3,
                "{}: mix peaks at {peak}",
                song.folder
            );
            assert!(
                peak > MIX_PEAK - 1e-2,
                "{}: mix peaks at {peak}",
                song.folder
            );
            let mix_rms = rms(&sum);
            for (name, s) in &stems {
                // A click is short, so its peak says more than its power.
                let (level, floor) = if name == "click" {
                    let click_peak = s.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                    (click_peak / peak, 0.2)
                } else {
                    (rms(s) / mix_rms, 0.15)
                };
                assert!(level > floor, "{} {name}: {level} of the mix", song.folder);
            }
        }
    }

    /// Onsets of a click track: the first sample above a threshold after 20 ms of quiet.
    fn onsets(samples: &[f32], rate: u32) -> Vec<(usize, f32)> {
        let threshold = 0.05 * samples.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let quiet = rate as usize / 50;
        let mut out = Vec::new();
        let mut last_loud: Option<usize> = None;
        for (i, v) in samples.iter().enumerate() {
            if v.abs() > threshold {
                if last_loud.is_none_or(|l| i - l > quiet) {
                    let window = &samples[i..(i + quiet).min(samples.len())];
                    let peak = window.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                    out.push((i, peak));
                }
                last_loud = Some(i);
            }
        }
        out
    }

    fn click_on_every_beat_with_the_accent_on_beat_one(dir: &Path) {
        for song in SONGS {
            let (spec, samples) = read(&dir.join(song.folder).join("click.wav"));
            assert_eq!(spec.channels, 1);
            let found = onsets(&samples, spec.sample_rate);
            let beats = (song.bars() * BEATS_PER_BAR) as usize;
            assert_eq!(found.len(), beats, "{}", song.folder);
            let frames_per_beat = 60.0 / song.bpm * f64::from(spec.sample_rate);
            let loudest_plain = found
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 4 != 0)
                .fold(0.0f32, |m, (_, &(_, p))| m.max(p));
            for (i, &(frame, peak)) in found.iter().enumerate() {
                let expected = (i as f64 * frames_per_beat).round() as usize;
                assert_eq!(frame, expected, "{} beat {i}", song.folder);
                if i % 4 == 0 {
                    assert!(peak > 1.5 * loudest_plain, "{} beat {i}", song.folder);
                }
            }
        }
    }

    #[test]
    fn output_is_deterministic() {
        let song = &SONGS[2];
        let a = render_song(song);
        let b = render_song(song);
        for (x, y) in a.iter().zip(&b) {
            assert!(x.samples == y.samples);
        }
        // And the noise really is noise: two hats with different seeds differ.
        let (_, mut h1) = drum(Hit::Hat, 1, 48_000.0);
        let (_, mut h2) = drum(Hit::Hat, 2, 48_000.0);
        assert_ne!(h1(0.0), h2(0.0));
    }

    #[test]
    fn voicings_stay_in_the_keys_register_and_the_bass_below() {
        for song in SONGS {
            for &chord in song.chords {
                let v = voicing(chord);
                assert!(v.iter().all(|n| (55..70).contains(n)), "{v:?}");
                assert_eq!(v.len(), chord.1.len());
                assert!((28..40).contains(&bass_root(chord)));
                assert_eq!((bass_root(chord) - chord.0).rem_euclid(12), 0);
            }
        }
    }
}
