//! The latency monitor end to end: the real binary against a real-time paced ALSA sink
//! without a sound card (`jackd -d dummy` + alsa-lib's `jack` PCM, see `support/jack.rs`).
//!
//! - Monitor on: the stats line shows plausible timing (non-zero work time, one period per
//!   period time, wake-ups within a period of the boundary); starving the audio thread alone
//!   for far longer than the buffer is counted as an xrun, recovered from, and playback goes
//!   on; `stats reset` starts a new window.
//! - Monitor off: the stats line has no timing keys at all.
//!
//! Skips (and passes) only when `jackd` is not installed; CI installs jackd2 and
//! libasound2-plugins.

#[path = "support/jack.rs"]
mod jack;

use jack::*;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use stembox::telemetry::stats::TIMING_KEYS;

/// The tests share the CPUs' roles: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const PERIOD: u32 = 64;
const PERIOD_US: f64 = PERIOD as f64 * 1e6 / RATE as f64;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_stembox")
}

/// jackd, a one-song library of `seconds`, a config, and stembox playing it.
fn start(name: &str, monitor: bool, seconds: f64) -> (std::path::PathBuf, Jackd, Stembox) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        cpus > AUDIO_CPU,
        "the jack tests need CPUs {HOUSE_CPU} and {AUDIO_CPU}; this machine has {cpus}"
    );
    let dir = temp_dir(name);
    let jackd = Jackd::start(&dir, PERIOD);
    write_asoundrc(&dir, &dir.join("rec.raw"));
    let lib = dir.join("library");
    write_song(&lib, "01-tone", 4, seconds);
    let cfg = write_config(
        &dir,
        &lib,
        &RunConfig {
            device: "stembox_jack".into(),
            period_frames: PERIOD,
            periods: 2,
            monitor,
            stats_interval_s: 1,
        },
    );
    let cfg = cfg.to_str().unwrap().to_string();
    let mut sb = Stembox::spawn(
        bin(),
        &dir,
        &jackd,
        &["play", "--config", &cfg, "--song", "01-tone"],
    );
    sb.expect_line(Duration::from_secs(30), |l| l == "ready");
    (dir, jackd, sb)
}

#[test]
fn monitor_on_measures_periods_and_counts_a_starved_audio_thread_as_an_xrun() {
    if jack_missing() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_dir, jackd, mut sb) = start("jack-monitor-on", true, 30.0);

    // The CPU layout the stall relies on: the audio thread alone on AUDIO_CPU, SCHED_FIFO.
    let audio = sb.threads_named("stembox-audio");
    assert_eq!(audio.len(), 1, "threads: {:?}", thread_affinities(sb.pid()));
    let audio = audio[0];
    assert_eq!(affinity(audio), vec![AUDIO_CPU]);
    assert_eq!(policy(audio), libc::SCHED_FIFO);
    for (tid, name, cpus) in thread_affinities(sb.pid())
        .into_iter()
        .chain(thread_affinities(jackd.pid()))
    {
        if tid != audio {
            assert_eq!(
                cpus,
                vec![HOUSE_CPU],
                "thread {tid} ({name}) may run on {cpus:?}"
            );
        }
    }

    std::thread::sleep(Duration::from_secs(2));
    let a_at = Instant::now();
    let a = Stats::parse(&sb.stats());
    std::thread::sleep(Duration::from_secs(2));
    let b_at = Instant::now();
    let b_line = sb.stats();
    let b = Stats::parse(&b_line);
    eprintln!("before the stall: {b_line}");
    assert_eq!(b.get("transport"), Some("playing"), "{b_line}");
    assert_eq!(b.get("song"), Some("01-tone"), "{b_line}");
    for key in TIMING_KEYS {
        assert!(b.has(key), "no {key} in {b_line}");
    }
    // Paced by the device: one period per period time (never faster; the dummy driver,
    // without real-time scheduling on a busy machine, may skip cycles, hence the low bound).
    let rate = (b.num("periods") - a.num("periods")) / (b_at - a_at).as_secs_f64();
    let expected = RATE as f64 / PERIOD as f64;
    assert!(
        (0.6 * expected..1.1 * expected).contains(&rate),
        "{rate:.0} periods/s, expected {expected:.0}: {b_line}"
    );
    // Work was measured and is well inside the period.
    assert!(
        b.num("cb_us_max") > 0.0 && b.num("load_pct") > 0.0,
        "{b_line}"
    );
    assert!(b.num("cb_us_p50") <= b.num("cb_us_p99"), "{b_line}");
    assert!(b.num("cb_us_p99") <= b.num("cb_us_p999"), "{b_line}");
    assert!(b.num("cb_us_p999") <= b.num("cb_us_max"), "{b_line}");
    assert!(b.num("cb_us_p99") < PERIOD_US, "{b_line}");
    assert!(b.num("load_pct") <= b.num("load_max_pct"), "{b_line}");
    // Wake-ups come within a period of the boundary (p99), and no later than a buffer's
    // worth plus the period, or the device would have run dry.
    assert!(b.num("wake_us_p99") < PERIOD_US, "{b_line}");
    assert!(b.num("wake_us_p99") <= b.num("wake_us_max"), "{b_line}");

    // Starve the audio thread alone for 300 ms (the buffer is 2.7 ms).
    let xruns_before = b.num("xruns");
    let pos_before = b.num("pos_s");
    starve_cpu(AUDIO_CPU, Duration::from_millis(300)).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let c_line = sb.stats();
    let c = Stats::parse(&c_line);
    eprintln!("after the stall:  {c_line}");
    assert!(
        c.num("xruns") > xruns_before,
        "the stall caused no xrun: {c_line}"
    );
    assert!(c.num("recovery_us_max") > 0.0, "{c_line}");
    assert!(c.num("underrun_free_s") < 5.0, "{c_line}");
    // Playback goes on: the head moves at real-time speed after the recovery.
    std::thread::sleep(Duration::from_secs(1));
    let d_line = sb.stats();
    let d = Stats::parse(&d_line);
    assert_eq!(d.get("transport"), Some("playing"), "{d_line}");
    assert!(c.num("pos_s") > pos_before + 0.5, "{c_line}");
    assert!(d.num("pos_s") >= c.num("pos_s") + 0.7, "{c_line}\n{d_line}");
    assert!(
        d.num("periods") > c.num("periods") + 0.7 * expected,
        "{d_line}"
    );

    // `stats reset` starts a new window: counts and maxima start again.
    sb.send("stats reset");
    sb.expect_line(Duration::from_secs(5), |l| l == "ok stats reset");
    std::thread::sleep(Duration::from_millis(500));
    let e_line = sb.stats();
    let e = Stats::parse(&e_line);
    assert!(e.num("periods") < 0.5 * d.num("periods"), "{e_line}");
    assert!(e.num("periods") > 0.2 * expected, "{e_line}");
    assert_eq!(e.num("recovery_us_max"), 0.0, "{e_line}");

    assert_eq!(
        sb.quit(Duration::from_secs(10)),
        Some(0),
        "{}",
        sb.transcript()
    );
    let last = sb.seen.iter().rev().find(|l| l.starts_with("stats "));
    assert!(last.is_some(), "no final stats line\n{}", sb.transcript());
}

#[test]
fn monitor_off_prints_no_timing_keys() {
    if jack_missing() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_dir, _jackd, mut sb) = start("jack-monitor-off", false, 10.0);
    std::thread::sleep(Duration::from_millis(1500));
    let periodic = sb.expect_line(Duration::from_secs(3), |l| l.starts_with("stats "));
    let asked = sb.stats();
    assert_eq!(
        sb.quit(Duration::from_secs(10)),
        Some(0),
        "{}",
        sb.transcript()
    );
    let last = sb
        .seen
        .iter()
        .rev()
        .find(|l| l.starts_with("stats "))
        .cloned();
    let last = last.expect("no final stats line");
    for line in [&periodic, &asked, &last] {
        let s = Stats::parse(line);
        for key in TIMING_KEYS {
            assert!(!s.has(key), "timing key {key} with the monitor off: {line}");
        }
        for key in [
            "uptime_s",
            "song",
            "pos_s",
            "transport",
            "xruns",
            "suspends",
            "underrun_free_s",
            "console_dropped",
        ] {
            assert!(s.has(key), "no {key}: {line}");
        }
    }
    assert!(
        Stats::parse(&asked).num("pos_s") > 1.0,
        "{asked}\n{}",
        sb.transcript()
    );
}
