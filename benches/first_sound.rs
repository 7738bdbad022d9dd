//! Progressive loading and compact RAM, printed (not criterion: each run takes seconds):
//! - time to first sound of an 8-stem, 4-minute, 48 kHz / 24-bit FLAC song: from process
//!   start for `play --once` into a `file` PCM (to the first non-zero byte in the file), and
//!   from `song 4` on the console of a running appliance (to its `ok song 4` line: the song
//!   is in the engine's queue, it sounds at the next period) paced by jackd's dummy driver;
//! - RSS of that appliance while it plays the song, stereo stems and mono stems;
//! - load underruns while it plays the song from a card throttled to a few read speeds
//!   (`STEMBOX_READ_LIMIT_BYTES_PER_S`);
//! - mixing cost per 64-frame period, 8 mono stems against 8 stereo ones (in process);
//! - preload throughput: MB/s of FLAC read and decoded by `loader::load_song` (in process).
//!
//! `cargo bench --bench first_sound`. `STEMBOX_BENCH_BIN=/path/to/stembox` measures another
//! build of the binary (e.g. the commit before progressive loading) for the binary parts.
//! Needs `flac`; the appliance parts need jackd2 + libasound2-plugins (skipped without).
//! FLAC files are generated on first use into `target/bench-data/`.

mod common;
#[path = "../tests/support/jack.rs"]
mod jack;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stembox::model::song::{Song, Stem};
use stembox::rt::engine::Engine;

const STEMS: usize = 8;
const SECONDS: usize = 240;
const RATE: u32 = 48_000;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data")
}

fn bin() -> String {
    std::env::var("STEMBOX_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_stembox").into())
}

/// The library: short songs around `04-big` (stereo stems) and `06-big-mono`, so that
/// neither is a neighbour of song 1 or of the other.
fn make_library() -> PathBuf {
    let root = data_dir().join("first-sound-library");
    for (song, channels) in [("04-big", 2u16), ("06-big-mono", 1)] {
        let dir = root.join(song);
        std::fs::create_dir_all(&dir).unwrap();
        for s in 0..STEMS {
            let p = dir.join(format!("stem{s}.flac"));
            if !p.exists() {
                eprintln!("generating {}", p.display());
                common::write_stem(&p, s, channels, SECONDS, RATE);
            }
        }
    }
    for song in ["01-a", "02-b", "03-c", "05-d", "07-e", "08-f"] {
        let dir = root.join(song);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("stem0.wav");
        if !p.exists() {
            jack::write_wav(&p, 2.0, 220.0);
        }
    }
    root
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `play --once` from process start to the first non-zero byte in the `file` PCM's output.
fn once_first_sound(lib: &Path, song: &str) -> f64 {
    let dir = jack::temp_dir("first-sound-once");
    let raw = dir.join("out.raw");
    let cfg = dir.join("config.json");
    std::fs::write(
        &cfg,
        format!(
            r#"{{"library": "{}", "audio": {{"device": "file:FILE={},FORMAT=raw", "format": "S16_LE"}}}}"#,
            lib.display(),
            raw.display()
        ),
    )
    .unwrap();
    let t0 = Instant::now();
    let mut child = spawn_play_once(&cfg, song);
    let mut seen = 0usize;
    let took = loop {
        if let Ok(mut f) = std::fs::File::open(&raw) {
            let mut buf = Vec::new();
            let _ = f.read_to_end(&mut buf);
            if buf[seen.min(buf.len())..].iter().any(|&b| b != 0) {
                break t0.elapsed().as_secs_f64();
            }
            seen = buf.len();
        }
        if t0.elapsed() > Duration::from_secs(120) {
            panic!("no sound in 120 s");
        }
        std::thread::sleep(Duration::from_micros(500));
    };
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    took
}

/// Peak RSS (VmHWM) of `play --once` rendering `song` whole into a `file` PCM, in MB.
fn once_peak_rss_mb(lib: &Path, song: &str) -> f64 {
    let dir = jack::temp_dir("first-sound-rss");
    let cfg = dir.join("config.json");
    std::fs::write(
        &cfg,
        format!(
            r#"{{"library": "{}", "audio": {{"device": "file:FILE={},FORMAT=raw", "format": "S16_LE"}}}}"#,
            lib.display(),
            dir.join("out.raw").display()
        ),
    )
    .unwrap();
    let mut child = spawn_play_once(&cfg, song);
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        peak = peak.max(status_kb(child.id(), "VmHWM:"));
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = std::fs::remove_dir_all(&dir);
    peak as f64 / 1024.0
}

fn rss_kb(pid: u32) -> u64 {
    status_kb(pid, "VmRSS:")
}

fn status_kb(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

struct Appliance {
    first_reply_ms: f64,
    switch_ms: f64,
    stats: String,
    rss_mb: f64,
}

/// The appliance on jackd's dummy driver: waits for `ready` and the neighbour preloads,
/// sends `song <n>`, times its `ok song` reply, lets it play `play_s`, reads the stats and
/// the RSS. `read_limit`: bytes/s of the simulated card (0: none).
fn appliance(lib: &Path, n: usize, play_s: u64, read_limit: u64) -> Appliance {
    let dir = jack::temp_dir(&format!("first-sound-run-{n}-{read_limit}"));
    // Other jack tests on the machine may hold every server slot for a while.
    let mut tries = 0;
    let jackd = loop {
        match std::panic::catch_unwind(|| jack::Jackd::start(&dir, 256)) {
            Ok(j) => break j,
            Err(_) if tries < 10 => {
                tries += 1;
                std::thread::sleep(Duration::from_secs(5));
            }
            Err(e) => std::panic::resume_unwind(e),
        }
    };
    jack::write_asoundrc(&dir, &dir.join("rec.raw"));
    let cfg = jack::write_config(
        &dir,
        lib,
        &jack::RunConfig {
            device: "stembox_jack".into(),
            period_frames: 256,
            periods: 2,
            monitor: false,
            stats_interval_s: 0,
        },
    );
    // The read limit goes to the child through its environment.
    std::env::set_var("STEMBOX_READ_LIMIT_BYTES_PER_S", read_limit.to_string());
    let mut sb = jack::Stembox::spawn(
        &bin(),
        &dir,
        &jackd,
        &["run", "--config", cfg.to_str().unwrap()],
    );
    std::env::remove_var("STEMBOX_READ_LIMIT_BYTES_PER_S");
    sb.expect_line(Duration::from_secs(60), |l| l == "ready");
    std::thread::sleep(Duration::from_secs(2));
    sb.drain();
    let t0 = Instant::now();
    sb.send(&format!("song {n}"));
    // The first answer (`loading ...` when not loaded): the console's own delay.
    let first = sb.expect_line(Duration::from_secs(120), |_| true);
    let first_reply_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let ok = format!("ok song {n} ");
    if !first.starts_with(&ok) {
        sb.expect_line(Duration::from_secs(120), |l| l.starts_with(&ok));
    }
    let switch_ms = t0.elapsed().as_secs_f64() * 1000.0;
    sb.send("play");
    std::thread::sleep(Duration::from_secs(play_s));
    let rss_mb = rss_kb(sb.pid()) as f64 / 1024.0;
    let stats = sb.stats();
    let _ = sb.quit(Duration::from_secs(20));
    jackd.kill();
    Appliance {
        first_reply_ms,
        switch_ms,
        stats,
        rss_mb,
    }
}

/// Per-period mixing cost of 8 stems of `channels`, 64 frames, median and p99 in µs.
fn mix_cost(channels: usize) -> (f64, f64) {
    let frames = 48_000 * 20;
    let stems = (0..STEMS)
        .map(|k| {
            let v: Vec<f32> = (0..frames * channels)
                .map(|i| ((i * (k + 3)) % 200) as f32 / 1000.0 - 0.1)
                .collect();
            Stem::with_channels(format!("s{k}"), channels, v.into_boxed_slice())
        })
        .collect();
    let song = Arc::new(Song::new("mix", RATE, stems));
    let (mut e, mut h) = Engine::new(RATE, 2, 1.0);
    assert!(h.switch_song(song, 0, true));
    let mut out = [0.0f32; 128];
    let mut ns = Vec::new();
    for _ in 0..frames / 64 {
        let t0 = Instant::now();
        e.process(&mut out);
        ns.push(t0.elapsed().as_nanos() as f64 / 1000.0);
        std::hint::black_box(&out);
    }
    ns.sort_by(f64::total_cmp);
    (ns[ns.len() / 2], ns[ns.len() * 99 / 100])
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("first_sound benchmark: run with `cargo bench --bench first_sound`");
        return;
    }
    let lib = make_library();
    let flac_bytes: u64 = std::fs::read_dir(lib.join("04-big"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    println!("binary: {}", bin());
    let once: Vec<f64> = (0..3).map(|_| once_first_sound(&lib, "04-big")).collect();
    println!(
        "play --once 04-big ({STEMS} stereo stems x {SECONDS} s, 48 kHz/24-bit FLAC, {:.0} MB): first sound after {:.0} ms (median of 3; {:?})",
        flac_bytes as f64 / 1e6,
        median(once.clone()) * 1000.0,
        once.iter().map(|s| (s * 1000.0).round()).collect::<Vec<_>>()
    );
    for name in ["04-big", "06-big-mono"] {
        println!(
            "play --once {name}: peak RSS {:.0} MB",
            once_peak_rss_mb(&lib, name)
        );
    }
    if std::env::var_os("STEMBOX_BENCH_BIN").is_some() {
        // The in-process parts measure this build only.
        appliance_parts(&lib);
        return;
    }
    for ch in [2usize, 1] {
        let (p50, p99) = mix_cost(ch);
        println!(
            "mix 8 {} stems, 64-frame period: median {p50:.2} us, p99 {p99:.2} us",
            if ch == 1 { "mono" } else { "stereo" }
        );
    }
    let (songs, _) = stembox::model::library::scan(&lib).unwrap();
    for name in ["04-big", "06-big-mono"] {
        let entry = songs.iter().find(|s| s.name == name).unwrap();
        let bytes: u64 = entry
            .stems
            .iter()
            .map(|s| std::fs::metadata(&s.path).unwrap().len())
            .sum();
        let mut times = Vec::new();
        let mut ram = 0;
        for _ in 0..3 {
            let t0 = Instant::now();
            let s = stembox::loader::load_song(entry, RATE, &opts(), &mut |_| {}).unwrap();
            times.push(t0.elapsed().as_secs_f64());
            ram = s.ram_bytes();
        }
        let t = median(times);
        println!(
            "preload {name}: {:.0} MB FLAC -> {:.0} MB in RAM in {t:.2} s: {:.0} MB/s read, {:.0} MB/s decoded, on {} cores",
            bytes as f64 / 1e6,
            ram as f64 / 1e6,
            bytes as f64 / 1e6 / t,
            ram as f64 / 1e6 / t,
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
    }
    appliance_parts(&lib);
}

/// The parts on a paced appliance; jackd may fail to start when other tests on the machine
/// hold every server slot: then they are skipped with a note.
fn appliance_parts(lib: &Path) {
    if jack::jackd_path().is_none() {
        println!("appliance parts skipped: jackd not installed");
        return;
    }
    let run = |n: usize, play_s: u64, limit: u64| {
        std::panic::catch_unwind(|| appliance(lib, n, play_s, limit)).ok()
    };
    for (n, name) in [(4, "04-big"), (6, "06-big-mono")] {
        match run(n, 8, 0) {
            Some(a) => println!(
                "song {n} ({name}) on a running appliance: first reply after {:.0} ms, ok after {:.0} ms; RSS while playing {:.0} MB; {}",
                a.first_reply_ms, a.switch_ms, a.rss_mb, a.stats
            ),
            None => println!("song {n}: skipped (jackd or the appliance failed, see above)"),
        }
    }
    for limit in [1_000_000u64, 2_000_000, 5_000_000, 40_000_000] {
        match run(4, 20, limit) {
            Some(a) => println!(
                "card at {:.0} MB/s: song 4 ok after {:.0} ms; after 20 s of play: {}",
                limit as f64 / 1e6,
                a.switch_ms,
                a.stats
            ),
            None => println!("card at {limit} B/s: skipped"),
        }
    }
}

/// Starts `stembox play --config CFG --song SONG --once`, its output discarded.
fn spawn_play_once(cfg: &Path, song: &str) -> std::process::Child {
    Command::new(bin())
        .args([
            "play",
            "--config",
            cfg.to_str().unwrap(),
            "--song",
            song,
            "--once",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start stembox")
}

/// The load options of these tests: defaults (with the read limit a test sets).
fn opts() -> stembox::loader::LoadOptions {
    stembox::loader::LoadOptions::default()
}
