//! Whole-song numbers, printed (not criterion: each run takes seconds):
//! - preload: decoding an 8-stem, 4-minute, 48 kHz / 24-bit stereo FLAC song into RAM on all
//!   cores (`loader::load_song`), seconds (median of 3);
//! - render: playing that song from start to end through the ALSA `null` PCM and through a
//!   `file` PCM into a raw file, in the audio thread's real loop (mmap, S16_LE, 256x2), as a
//!   multiple of real time.
//!
//! The FLAC files are generated on first use into `target/bench-data/` (needs `flac`).

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use stembox::loader;
use stembox::model::library;
use stembox::rt::alsa_pcm::{open_output, OutputRequest};
use stembox::rt::engine::Engine;
use stembox::rt::run::{spawn_audio_thread, NoObserver};
use stembox::storage::config::AudioConfig;

const STEMS: usize = 8;
const SECONDS: usize = 240;
const RATE: u32 = 48_000;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data")
}

fn make_song() -> PathBuf {
    let root = data_dir().join("library");
    let song = root.join("01-four-minutes");
    std::fs::create_dir_all(&song).unwrap();
    for s in 0..STEMS {
        let p = song.join(format!("stem{s}.flac"));
        if !p.exists() {
            eprintln!("generating {}", p.display());
            common::write_stem(&p, s, 2, SECONDS, RATE);
        }
    }
    root
}

fn render(device: &str, song: &Arc<stembox::model::song::Song>) -> f64 {
    let mut cfg = AudioConfig::default();
    cfg.device.clear();
    cfg.device.push_str(device).unwrap();
    cfg.period_frames = 256;
    cfg.periods = 2;
    let request = OutputRequest {
        device: cfg.device.as_str(),
        rate: cfg.rate,
        channels: cfg.channels,
        format: cfg.format,
        period_frames: cfg.period_frames,
        periods: cfg.periods,
    };
    let (pcm, granted) = open_output(&request).expect("open the ALSA PCM");
    let (engine, mut handle) = Engine::new(granted.rate, granted.channels as usize, 1.0);
    assert!(handle.switch_song(song.clone(), 0, true));
    let t0 = Instant::now();
    let audio = spawn_audio_thread(pcm, granted, engine, NoObserver, 70, None, true).unwrap();
    let exit = audio.join().expect("audio thread");
    let secs = t0.elapsed().as_secs_f64();
    exit.result.expect("render");
    secs
}

/// Every 64-frame period of the song mixed twice over (16 stems: the 8 decoded ones twice),
/// timed one by one: the median and the worst, which criterion's means do not show.
fn per_period_distribution(song: &Arc<stembox::model::song::Song>) {
    let stems = song
        .stems()
        .iter()
        .chain(song.stems().iter())
        .map(|s| {
            stembox::model::song::Stem::with_channels(
                s.name.clone(),
                s.channels(),
                s.samples().into(),
            )
        })
        .collect();
    let doubled = Arc::new(stembox::model::song::Song::new(
        song.name.clone(),
        song.rate,
        stems,
    ));
    let (mut engine, mut handle) = Engine::new(RATE, 2, 1.0);
    assert!(handle.switch_song(doubled.clone(), 0, true));
    let mut out = [0.0f32; 128];
    let mut dev = [0i16; 128];
    let periods = doubled.frames() as usize / 64;
    let mut ns = Vec::with_capacity(periods);
    for _ in 0..periods {
        let t0 = Instant::now();
        engine.process(&mut out);
        stembox::rt::convert::convert::<stembox::rt::convert::S16Le>(&out, &mut dev);
        ns.push(t0.elapsed().as_nanos() as u64);
        std::hint::black_box(&dev);
    }
    ns.sort_unstable();
    let pct = |p: f64| ns[((ns.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    println!(
        "mix 16 stereo stems, 64-frame period, {} periods of a real song: median {:.2} us, p99 {:.2} us, p99.9 {:.2} us, max {:.2} us (budget 1333 us)",
        ns.len(),
        pct(0.5),
        pct(0.99),
        pct(0.999),
        pct(1.0)
    );
    drop(engine);
    handle.collect_garbage();
}

fn main() {
    // `cargo bench` passes --bench; under `cargo test --all-targets` this only says how to
    // run it (generating the 4-minute FLACs takes a minute).
    if !std::env::args().any(|a| a == "--bench") {
        println!("render benchmark: run with `cargo bench --bench render`");
        return;
    }
    let root = make_song();
    let (songs, _) = library::scan(&root).unwrap();
    let entry = &songs[0];

    let mut times = Vec::new();
    let mut song = None;
    for _ in 0..3 {
        let t0 = Instant::now();
        let s = loader::load_song(entry, RATE, &opts(), &mut |_| {}).unwrap();
        times.push(t0.elapsed().as_secs_f64());
        song = Some(s);
    }
    times.sort_by(f64::total_cmp);
    let song = Arc::new(song.unwrap());
    println!(
        "preload: {STEMS} stems x {SECONDS} s 48 kHz/24-bit FLAC, {:.0} MB decoded: median {:.2} s (min {:.2}, max {:.2}) on {} cores",
        song.ram_bytes() as f64 / 1e6,
        times[1],
        times[0],
        times[2],
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    per_period_distribution(&song);

    let out = data_dir().join("render.raw");
    for device in [
        "null".to_string(),
        format!("file:FILE={},FORMAT=raw", out.display()),
    ] {
        let secs = render(&device, &song);
        println!(
            "render through \"{device}\": {:.0} s song in {:.3} s = {:.0}x real time",
            song.duration_s(),
            secs,
            song.duration_s() / secs
        );
    }
    let _ = std::fs::remove_file(out);
}

/// The load options of these tests: defaults (with the read limit a test sets).
fn opts() -> stembox::loader::LoadOptions {
    stembox::loader::LoadOptions::default()
}
