//! Seeks beyond the watermark on a slow card: the loader's reads are throttled so that a
//! front-to-back decode of the song takes seconds; a seek to 80 % is decoded first (FLAC
//! and WAV seek) and plays within a fraction of that time, with the right audio (frame for
//! frame the source's), and when the load ends the whole song is exact (the gap before the
//! region was filled, nothing written twice). Its own test binary: the read limit is
//! process-wide.

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
use stembox::rt::engine::Engine;

const RATE: u32 = 48_000;
const SECONDS: usize = 30;
const PERIOD: usize = 256;

/// Stem a (WAV) and b (FLAC): 16-bit values that do not repeat within a second, so a
/// frame read from anywhere else does not match.
fn a_i16(i: usize) -> i16 {
    (((i * 13) % 65_521) as i32 - 32_760) as i16
}

fn b_i16(i: usize) -> i16 {
    (((i * 7 + 1_000) % 60_000) as i32 - 30_000) as i16
}

fn val(f: fn(usize) -> i16, i: usize) -> f32 {
    f(i) as f32 / 32_768.0
}

fn write_wav(path: &Path, f: fn(usize) -> i16) {
    wav::write_i16(path, RATE, 1, (0..RATE as usize * SECONDS).map(f));
}

#[test]
fn a_seek_to_80_percent_of_a_loading_song_plays_soon_and_exact() {
    let root = std::env::temp_dir().join(format!("stembox-seekload-{}", std::process::id()));
    let dir = root.join("01-long");
    std::fs::create_dir_all(&dir).unwrap();
    write_wav(&dir.join("a.wav"), a_i16);
    let b_wav = root.join("b.wav");
    write_wav(&b_wav, b_i16);
    let ok = std::process::Command::new("flac")
        .args(["--silent", "-f", "-o"])
        .arg(dir.join("b.flac"))
        .arg(&b_wav)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "the flac encoder is needed for this test");
    let (songs, _) = library::scan(&root).unwrap();
    let frames = RATE as usize * SECONDS;
    // 2.9 MB of WAV and about as much FLAC (a ramp-like signal barely compresses) at
    // 1.5 MB/s: a few seconds front to back.
    // A slow card: every stem file of this load reads at most this many bytes a second.
    let opts = slow_card(1_500_000);
    let (tx, rx) = mpsc::channel::<Arc<Song>>();
    let entry = songs[0].clone();
    let t0 = Instant::now();
    let loading = std::thread::spawn(move || {
        let r = loader::load_song_progressive(&entry, RATE, &opts, &mut |song, _| {
            tx.send(song).unwrap();
        });
        (r, t0.elapsed())
    });
    let song = rx.recv().unwrap();
    assert!(song.is_loading());
    let (mut e, mut h) = Engine::new(RATE, 2, 1.0);
    assert!(h.switch_song(song.clone(), 0, true));
    // a on the left, b on the right.
    assert!(h.send(Command::StemPan { stem: 0, pan: -1.0 }).is_ok());
    assert!(h.send(Command::StemPan { stem: 1, pan: 1.0 }).is_ok());
    let mut buf = [0.0f32; PERIOD * 2];
    for _ in 0..4 {
        e.process(&mut buf);
    }
    let target = frames * 4 / 5;
    assert!(
        song.ready_frames() < target as u64 / 2,
        "loaded too fast to test"
    );
    let asked = Instant::now();
    assert!(h
        .send(Command::Seek {
            frame: target as u64
        })
        .is_ok());
    // Periods, paced like a card, until the one that starts playing at the target.
    let period = Duration::from_secs_f64(PERIOD as f64 / RATE as f64);
    let status = e.status().clone();
    let mut out = Vec::new();
    let mut waited = 0;
    loop {
        let before = status.pos_frames.load(Relaxed);
        e.process(&mut buf);
        let after = status.pos_frames.load(Relaxed);
        if before == target as u64 && after > before {
            out.extend_from_slice(&buf);
            break;
        }
        waited += 1;
        assert!(asked.elapsed() < Duration::from_secs(30), "never played");
        std::thread::sleep(period);
    }
    let sound_after = asked.elapsed();
    // A second of playback, paced, from the target on.
    for _ in 0..RATE as usize / PERIOD {
        std::thread::sleep(period);
        e.process(&mut buf);
        out.extend_from_slice(&buf);
    }
    let underruns = status.load_underruns.load(Relaxed);
    let (result, load_all) = loading.join().unwrap();
    eprintln!(
        "seek to {:.1} s played after {:.0} ms ({waited} periods waited); whole song \
         loaded after {:.0} ms; {underruns} load underruns",
        target as f64 / RATE as f64,
        sound_after.as_secs_f64() * 1000.0,
        load_all.as_secs_f64() * 1000.0,
    );
    result.unwrap();
    assert!(
        sound_after * 4 < load_all,
        "the seek waited {sound_after:?}, the whole load took {load_all:?}"
    );
    // The right audio: past the fade-in, frame k of the output is frame target + k.
    let fade =
        2 * (stembox::rt::FADE_MS.max(stembox::rt::engine::LOAD_FADE_MS) * RATE / 1000) as usize;
    for k in fade..out.len() / 2 {
        let i = target + k;
        assert_eq!(out[k * 2], val(a_i16, i), "a at output frame {k}");
        assert_eq!(out[k * 2 + 1], val(b_i16, i), "b at output frame {k}");
    }
    // Loaded in the end: both stems whole and exact (the gap filled, the region kept).
    assert!(!song.is_loading());
    assert_eq!(song.frames() as usize, frames);
    for (k, f) in [a_i16 as fn(usize) -> i16, b_i16].into_iter().enumerate() {
        let s = song.stems()[k].samples();
        assert_eq!(s.len(), frames);
        let bad = (0..frames).find(|&i| s[i] != val(f, i));
        assert_eq!(bad, None, "stem {k}");
    }
    drop(e);
    seek_storm_while_loading(&songs[0], frames);
    let _ = std::fs::remove_dir_all(&root);
}

/// Hostile wanted frames while the song loads (throttled): past the end, the "none" value,
/// the last frame, 0, and pseudo-random frames, changing every few milliseconds. The load
/// still ends, every frame of both stems is decoded exactly once and right.
fn seek_storm_while_loading(entry: &library::SongEntry, frames: usize) {
    // A slow card: every stem file of this load reads at most this many bytes a second.
    let opts = slow_card(1_500_000);
    let (tx, rx) = mpsc::channel::<Arc<Song>>();
    let entry = entry.clone();
    let loading = std::thread::spawn(move || {
        loader::load_song_progressive(&entry, RATE, &opts, &mut |song, _| {
            tx.send(song).unwrap();
        })
    });
    let song = rx.recv().unwrap();
    let mut x = 12_345u64;
    let mut k = 0u64;
    let t0 = Instant::now();
    while song.is_loading() {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let want = match k % 6 {
            0 => u64::MAX - 1,
            1 => frames as u64 + 5,
            2 => u64::MAX,
            3 => frames as u64 - 1,
            4 => 0,
            _ => (x >> 33) % frames as u64,
        };
        song.want(want);
        k += 1;
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the load never ended"
        );
        std::thread::sleep(Duration::from_millis(3));
    }
    loading.join().unwrap().unwrap();
    eprintln!(
        "seek storm: {k} wanted frames in {:.0} ms of loading",
        t0.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(song.frames() as usize, frames);
    for (n, f) in [a_i16 as fn(usize) -> i16, b_i16].into_iter().enumerate() {
        let s = song.stems()[n].samples();
        let bad = (0..frames).find(|&i| s[i] != val(f, i));
        assert_eq!(bad, None, "stem {n}");
    }
}

/// Load options whose stem reads are limited to `bytes_per_s` in all, like a slow SD card.
fn slow_card(bytes_per_s: u64) -> stembox::loader::LoadOptions {
    stembox::loader::LoadOptions::default().with_read_limit(bytes_per_s)
}
