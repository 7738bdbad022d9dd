//! Progressive loading from a slow card: the loader's reads are throttled below what the
//! song needs in real time, the engine plays it paced like a card while it loads, and:
//! every frame is either exactly the stem's sample or (for a stem not decoded that far)
//! silence, the periods with silence are exactly the ones counted in `load_underruns`,
//! and a stem's decoded part never reads as anything else. Its own test binary: the read
//! limit is process-wide.

use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use stembox::loader;
use stembox::model::library;
use stembox::model::song::Song;
use stembox::rt::engine::Engine;

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
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..RATE as usize * SECONDS {
        w.write_sample((f(i) * 32768.0) as i16).unwrap();
    }
    w.finalize().unwrap();
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
    loader::set_read_limit_bytes_per_s(120_000);
    let (tx, rx) = mpsc::channel::<Arc<Song>>();
    let entry = songs[0].clone();
    let t0 = Instant::now();
    let loading = std::thread::spawn(move || {
        loader::load_song_progressive(&entry, RATE, &mut |song, _| {
            tx.send(song).unwrap();
        })
    });
    let song = rx.recv().unwrap();
    let playable_after = t0.elapsed();
    assert!(song.is_loading(), "a slow card cannot have loaded it all");
    assert_eq!(song.stems()[0].channels(), 1);
    let (mut e, mut h) = Engine::new(RATE, 2, 1.0);
    assert!(h.switch_song(song.clone(), 0, true));
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
            let (l, r) = (buf[f * 2], buf[f * 2 + 1]);
            assert_eq!(l, r, "frame {i}");
            // Split the sum into the two stems: b's part is the multiple of 1/16.
            let b = (l * 16.0).floor() / 16.0;
            let a = l - b;
            assert!(a == a_val(i) || a == 0.0, "frame {i}: stem a reads {a}");
            assert!(b == b_val(i) || b == 0.0, "frame {i}: stem b reads {b}");
            short |= a == 0.0 || b == 0.0;
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
    loader::set_read_limit_bytes_per_s(0);
    eprintln!(
        "playable after {:.0} ms; {short_periods} periods of {} short, {underruns} load underruns; {later:?}",
        playable_after.as_secs_f64() * 1000.0,
        frames / PERIOD
    );
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
