//! Latency-monitor numbers from the real binary on a real-time paced sink without a sound
//! card: jackd's dummy driver through alsa-lib's `jack` PCM (see `tests/support/jack.rs`),
//! 16 stereo stems looping, at 64x2 and 256x2 frames, each with and without
//! `stress-ng --cpu 2` running beside it. Prints p50/p99.9/max work time, p99/p99.9/max
//! wake-up lateness, late periods, xruns and DSP load for each run, as a Markdown table.
//!
//! `cargo bench --bench jack_latency` (60 s a run; `STEMBOX_JACK_BENCH_S=20` for shorter).
//! Needs jackd2 + libasound2-plugins, and stress-ng for the loaded runs. The audio thread is
//! SCHED_FIFO 70 pinned to CPU 1; jackd (not real-time, as in the tests) and stembox's other
//! threads are on CPU 0 at nice -10; stress-ng's workers are unpinned at nice 0.

#[path = "../tests/support/jack.rs"]
mod jack;

use jack::*;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const STEMS: usize = 16;
const SONG_S: f64 = 10.0;

struct Row {
    label: String,
    stats: Stats,
    xruns: f64,
}

fn stress(seconds: u64) -> Option<Child> {
    use std::os::unix::process::CommandExt;
    let bin = find_on_path("stress-ng")?;
    Command::new(bin)
        .args(["--cpu", "2", "--timeout", &format!("{seconds}s"), "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .ok()
}

fn stop(mut child: Child) {
    // SAFETY: signalling the process group of a child we started in its own group.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGTERM) };
    let _ = child.wait();
}

fn run(period: u32, loaded: bool, seconds: u64) -> Option<Row> {
    let label = format!(
        "{period}x2{}",
        if loaded { " + stress-ng --cpu 2" } else { "" }
    );
    let dir = temp_dir(&format!("jack-bench-{period}-{loaded}"));
    let jackd = Jackd::start(&dir, period);
    write_asoundrc(&dir, &dir.join("rec.raw"));
    let lib = dir.join("library");
    write_song(&lib, "01-stems", STEMS, SONG_S);
    let cfg = write_config(
        &dir,
        &lib,
        &RunConfig {
            device: "stembox_jack".into(),
            period_frames: period,
            periods: 2,
            monitor: true,
            stats_interval_s: 0,
        },
    );
    let cfg = cfg.to_str().unwrap().to_string();
    let mut sb = Stembox::spawn(
        env!("CARGO_BIN_EXE_stembox"),
        &dir,
        &jackd,
        &["play", "--config", &cfg, "--song", "01-stems"],
    );
    sb.expect_line(Duration::from_secs(120), |l| l == "ready");
    sb.send(&format!("loop 0.5 {}", SONG_S - 0.5));
    let load = if loaded {
        let s = stress(seconds + 10);
        if s.is_none() {
            eprintln!("{label}: stress-ng not found, skipped (apt-get install stress-ng)");
            return None;
        }
        s
    } else {
        None
    };
    std::thread::sleep(Duration::from_secs(2));
    sb.send("stats reset");
    sb.expect_line(Duration::from_secs(5), |l| l == "ok stats reset");
    let start = Stats::parse(&sb.stats());
    eprintln!("{label}: measuring for {seconds} s");
    std::thread::sleep(Duration::from_secs(seconds));
    let line = sb.stats();
    if let Some(s) = load {
        stop(s);
    }
    eprintln!("{label}: {line}");
    let code = sb.quit(Duration::from_secs(20));
    if code != Some(0) {
        eprintln!("{label}: stembox exited with {code:?}\n{}", sb.transcript());
    }
    let stats = Stats::parse(&line);
    let xruns = stats.num("xruns") - start.num("xruns");
    Some(Row {
        label,
        stats,
        xruns,
    })
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("jack_latency: run with `cargo bench --bench jack_latency`");
        return;
    }
    if jackd_path().is_none() {
        eprintln!(
            "jack_latency: SKIP, jackd not installed (apt-get install jackd2 libasound2-plugins)"
        );
        return;
    }
    let seconds: u64 = std::env::var("STEMBOX_JACK_BENCH_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let mut rows = Vec::new();
    for period in [64, 256] {
        for loaded in [false, true] {
            rows.extend(run(period, loaded, seconds));
        }
    }
    println!(
        "\n{STEMS} stereo stems, FLOAT_LE, jackd dummy at the same period, {seconds} s a run (µs)\n"
    );
    println!("| run | periods | work p50 | work p99.9 | work max | wake p99 | wake p99.9 | wake max | late | xruns | load avg % | load max % |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let s = &r.stats;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.label,
            s.num("periods"),
            s.num("cb_us_p50"),
            s.num("cb_us_p999"),
            s.num("cb_us_max"),
            s.num("wake_us_p99"),
            s.num("wake_us_p999"),
            s.num("wake_us_max"),
            s.num("late"),
            r.xruns,
            s.get("load_pct").unwrap_or("?"),
            s.get("load_max_pct").unwrap_or("?"),
        );
    }
}
