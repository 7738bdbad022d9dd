//! Progressive loading from a slow card: the loader's reads are throttled below what the
//! song needs in real time, the engine plays it paced like a card while it loads, and:
//! every frame is either exactly the stem's sample, or (for a stem not decoded that far)
//! silence, or the stem's sample faded (the load fade into and out of a watermark, never
//! longer than two fades in a row); the periods with silence are exactly the ones counted
//! in `load_underruns`, and a stem's decoded part never reads as anything else. Its own
//! test binary: the read limit is process-wide.

#[path = "common/wav.rs"]
mod wav;

use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use stembox::loader;
use stembox::model::library;
use stembox::model::song::Song;
use stembox::rt::command::Command;
use stembox::rt::engine::{Engine, LOAD_FADE_MS};

const RATE: u32 = 48_000;
const SECONDS: usize = 3;
const PERIOD: usize = 256;

/// Stem `a`: ((i % 16) + 1) / 1024, stem `b`: ((i % 8) + 1) / 16: both exact in 16 bits,
/// never 0, their sum below full scale, and the sum tells them apart (a < 1/16).
fn a_val(i: usize) -> f32 {
    ((i % 16) + 1) as f32 * 32.0 / 32768.0
}

fn b_val(i: usize) -> f32 {
    ((i % 8) + 1) as f32 * 2048.0 / 32768.0
}

fn write_mono_wav(path: &Path, f: impl Fn(usize) -> f32) {
    let samples = (0..RATE as usize * SECONDS).map(f);
    wav::write(path, RATE, 1, wav::Enc::I16, samples);
}

#[test]
fn a_slow_card_gives_counted_silence_and_exact_audio_elsewhere() {
    let root = std::env::temp_dir().join(format!("stembox-progressive-{}", std::process::id()));
    let dir = root.join("01-slow");
    std::fs::create_dir_all(&dir).unwrap();
    write_mono_wav(&dir.join("a.wav"), a_val);
    write_mono_wav(&dir.join("b.wav"), b_val);
    let (songs, _) = library::scan(&root).unwrap();
    // The song needs 2 x 96 kB/s; the "card" gives 120 kB/s in all.
    // A slow card: every stem file of this load reads at most this many bytes a second.
    let opts = slow_card(120_000);
    let (tx, rx) = mpsc::channel::<Arc<Song>>();
    let entry = songs[0].clone();
    let t0 = Instant::now();
    let loading = std::thread::spawn(move || {
        loader::load_song_progressive(&entry, RATE, &opts, &mut |song, _| {
            tx.send(song).unwrap();
        })
    });
    let song = rx.recv().unwrap();
    let playable_after = t0.elapsed();
    assert!(song.is_loading(), "a slow card cannot have loaded it all");
    assert_eq!(song.stems()[0].channels(), 1);
    let (mut e, mut h) = Engine::new(RATE, 2, 1.0);
    assert!(h.switch_song(song.clone(), 0, true));
    // Stem a on the left only, b on the right only: each channel is one stem.
    assert!(h.send(Command::StemPan { stem: 0, pan: -1.0 }).is_ok());
    assert!(h.send(Command::StemPan { stem: 1, pan: 1.0 }).is_ok());
    let fade = (LOAD_FADE_MS * RATE / 1000) as usize;
    let mut faded_run = [0usize; 2];
    let mut faded_frames = 0u64;
    let mut buf = [0.0f32; PERIOD * 2];
    let mut short_periods = 0u64;
    let frames = RATE as usize * SECONDS;
    let period = Duration::from_secs_f64(PERIOD as f64 / RATE as f64);
    let start = Instant::now();
    for p in 0..frames / PERIOD {
        e.process(&mut buf);
        let mut short = false;
        for f in 0..PERIOD {
            let i = p * PERIOD + f;
            for (c, want) in [a_val(i), b_val(i)].into_iter().enumerate() {
                let v = buf[f * 2 + c];
                if v == want || v == 0.0 {
                    faded_run[c] = 0;
                } else {
                    // Faded: the stem's own sample at a gain between 0 and 1, for at most
                    // a fade out and a fade in.
                    assert!(v > 0.0 && v < want, "frame {i}: stem {c} reads {v}");
                    faded_run[c] += 1;
                    faded_frames += 1;
                    assert!(
                        faded_run[c] <= 2 * fade + 2,
                        "frame {i}: stem {c} faded long"
                    );
                }
                short |= v == 0.0;
            }
        }
        short_periods += short as u64;
        // Paced like a card.
        let due = start + period * (p as u32 + 1);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let underruns = e.status().load_underruns.load(Relaxed);
    let later = loading.join().unwrap().unwrap();
    eprintln!(
        "playable after {:.0} ms; {short_periods} periods of {} short, {underruns} load underruns, \
         {faded_frames} frames faded; {later:?}",
        playable_after.as_secs_f64() * 1000.0,
        frames / PERIOD
    );
    assert!(faded_frames > 0, "an underrun came without a fade");
    assert!(short_periods > 0, "the throttle did not bite");
    assert_eq!(underruns, short_periods);
    // Loaded in the end: the song is whole and exact.
    assert!(!song.is_loading());
    assert_eq!(song.frames() as usize, frames);
    for (k, f) in [a_val as fn(usize) -> f32, b_val].into_iter().enumerate() {
        let s = song.stems()[k].samples();
        assert!(s.iter().enumerate().all(|(i, &x)| x == f(i)), "stem {k}");
    }
    drop(e);
    let _ = std::fs::remove_dir_all(&root);
}

/// Load options whose stem reads are limited to `bytes_per_s` in all, like a slow SD card.
fn slow_card(bytes_per_s: u64) -> stembox::loader::LoadOptions {
    stembox::loader::LoadOptions::default().with_read_limit(bytes_per_s)
}
