//! The latency monitor end to end: the real binary against a real-time paced ALSA sink
//! without a sound card (`jackd -d dummy` + alsa-lib's `jack` PCM, see `support/jack.rs`).
//!
//! - Monitor on: the stats line shows plausible timing (non-zero work time, one period per
//!   period time, wake-ups within a period of the boundary); starving the audio thread alone
//!   for far longer than the buffer is counted as an xrun, recovered from, and playback goes
//!   on; `stats reset` starts a new window.
//! - Monitor off: the stats line has no timing keys at all.
//!
//! Time is the device's: the tests wait for device periods (the box's `periods`, or `pos_s`
//! with the monitor off) through [`jack::Stembox::wait_for_device`], not wall seconds, so a
//! jackd without real-time scheduling that crawls on a loaded machine slows them down and
//! fails them only when its clock stops. The wall clock is read only where the claim is
//! about it: never faster than real time, and the last underrun is the stall's.
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

/// A monitor window (`stats reset`, then `periods` device periods) and the line before it.
struct Window {
    /// The stats line just before the reset.
    before_line: String,
    before: Stats,
    /// The stats line that ends the window.
    line: String,
    stats: Stats,
    /// Wall time from the reset's answer to the window's last line.
    wall: Duration,
    /// Windows asked for until this one.
    asked: usize,
    /// jackd logged no late client cycle in the window ([`jackd_late_cycles`]): its periods
    /// came one at a time, so the wake-up lateness measured is the box's own.
    device_kept_time: bool,
}

/// Cycles in which jackd logged the box's jack client thread as not done in time
/// (`JackEngine::XRun: client = ... was not finished`): that thread then hands the box two
/// periods at once. jackd logs through a message thread of its own, so a line comes a
/// little after its cycle. (The dummy driver's own lateness, `JackTimedDriver::Process XRun`, moves
/// a boundary by less than half a period, which the monitor follows.)
fn jackd_late_cycles(jackd: &Jackd) -> usize {
    jackd
        .log_text()
        .lines()
        .filter(|l| l.contains("JackEngine::XRun"))
        .count()
}

/// Starts a monitor window with `stats reset` and waits for `periods` device periods in
/// it. A window with an xrun of its own is asked for again (up to ten times): on a loaded
/// machine jackd, not real-time, is late, its client thread makes real xruns and hands over
/// two periods at once, and then the window's maxima and timing are the device's, not the
/// box's. With `want_device_time`, windows in which jackd logged a late cycle are asked for
/// again too, up to the fifth, and then the last xrun-free one is taken.
fn xrun_free_window(
    sb: &mut Stembox,
    jackd: &Jackd,
    periods: f64,
    want_device_time: bool,
) -> Window {
    let mut fallback = None;
    for asked in 1..=10 {
        let before_line = sb.stats();
        let before = Stats::parse(&before_line);
        let late_before = jackd_late_cycles(jackd);
        sb.send("stats reset");
        sb.expect_line(Duration::from_secs(5), |l| l == "ok stats reset");
        let started = Instant::now();
        let line = sb.wait_for_device("periods", periods);
        let wall = started.elapsed();
        let stats = Stats::parse(&line);
        if stats.num("xruns") != before.num("xruns") {
            continue;
        }
        // jackd logs from a thread of its own, behind its cycles: give it a moment.
        std::thread::sleep(Duration::from_secs(1));
        let device_kept_time = jackd_late_cycles(jackd) == late_before;
        let w = Window {
            before_line,
            before,
            line,
            stats,
            wall,
            asked,
            device_kept_time,
        };
        // Five windows are enough to find the device on time on a machine that lets it be.
        if device_kept_time || !want_device_time || asked >= 5 {
            return w;
        }
        fallback = Some(w);
    }
    fallback.unwrap_or_else(|| {
        panic!(
            "ten monitor windows in a row had an xrun of their own\n{}",
            sb.transcript()
        )
    })
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

    // Warm up for 2 s of device time, then measure a window of 2 s more: counted in the
    // box's own periods, as the device pulled them, so a jackd that crawls on a loaded
    // machine makes the test slower, not wrong.
    let expected = RATE as f64 / PERIOD as f64;
    sb.wait_for_device("periods", 2.0 * expected);
    let w = xrun_free_window(&mut sb, &jackd, 2.0 * expected, true);
    let (a, b, b_line) = (&w.before, &w.stats, &w.line);
    eprintln!("before the stall: {b_line}");
    assert_eq!(b.get("transport"), Some("playing"), "{b_line}");
    assert_eq!(b.get("song"), Some("01-tone"), "{b_line}");
    for key in TIMING_KEYS {
        assert!(b.has(key), "no {key} in {b_line}");
    }
    // Paced by the device: never faster than one period per period time (the dummy driver
    // never catches up after a late cycle, so this holds on a loaded machine too) ...
    let periods = b.num("periods");
    let rate = periods / w.wall.as_secs_f64();
    eprintln!(
        "device clock: {rate:.0} periods/s, {:.0} % of real time; window {} asked for, \
         device on time: {}",
        100.0 * rate / expected,
        w.asked,
        w.device_kept_time
    );
    assert!(
        rate < 1.1 * expected,
        "{rate:.0} periods/s, expected at most {expected:.0}: {b_line}"
    );
    // ... and one period of audio per period counted: the head moved as far as the periods
    // served say (pos_s has one decimal).
    let heard_s = b.num("pos_s") - a.num("pos_s");
    let served_s = periods / expected;
    assert!(
        (heard_s - served_s).abs() <= 0.15,
        "head moved {heard_s:.1} s in {served_s:.2} s of periods: {}\n{b_line}",
        w.before_line
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
    // worth plus the period, or the device would have run dry. Judged only on a device that
    // kept its time: a late jackd hands over two periods at once, which reads as a wake-up
    // a period late (the monitor can only see the device's pointer).
    if w.device_kept_time {
        assert!(b.num("wake_us_p99") < PERIOD_US, "{b_line}");
    } else {
        eprintln!(
            "wake-up lateness not judged: jackd logged late cycles in each of the {} windows \
             asked for (wake_us_p99={})",
            w.asked,
            b.num("wake_us_p99")
        );
    }
    assert!(b.num("wake_us_p99") <= b.num("wake_us_max"), "{b_line}");

    // Starve the audio thread alone for 300 ms (the buffer is 2.7 ms).
    let xruns_before = b.num("xruns");
    let pos_before = b.num("pos_s");
    let stall_at = Instant::now();
    starve_cpu(AUDIO_CPU, Duration::from_millis(300)).unwrap();
    // Then 1.5 s of device time, as the box counts it (periods stand while it is starved).
    let c_line = sb.wait_for_device("periods", b.num("periods") + 1.5 * expected);
    let c = Stats::parse(&c_line);
    eprintln!("after the stall:  {c_line}");
    assert!(
        c.num("xruns") > xruns_before,
        "the stall caused no xrun: {c_line}"
    );
    assert!(c.num("recovery_us_max") > 0.0, "{c_line}");
    // The last underrun is the stall's (or a later one): the run free of underruns began
    // after the stall (whole seconds: one of rounding).
    let since_stall_s = stall_at.elapsed().as_secs_f64();
    assert!(
        c.num("underrun_free_s") < since_stall_s + 1.0,
        "{since_stall_s:.1} s after the stall: {c_line}"
    );
    // Playback goes on: the head moves with the device after the recovery.
    let d_line = sb.wait_for_device("periods", c.num("periods") + expected);
    let d = Stats::parse(&d_line);
    assert_eq!(d.get("transport"), Some("playing"), "{d_line}");
    assert!(c.num("pos_s") > pos_before + 0.5, "{c_line}");
    let served_s = (d.num("periods") - c.num("periods")) / expected;
    assert!(
        d.num("pos_s") >= c.num("pos_s") + 0.7 * served_s,
        "{served_s:.2} s of periods: {c_line}\n{d_line}"
    );

    // `stats reset` starts a new window: counts and maxima start again; it counts again
    // (0.3 s of device periods).
    let e = xrun_free_window(&mut sb, &jackd, 0.3 * expected, false);
    let e_line = &e.line;
    assert!(e.stats.num("periods") < 0.5 * d.num("periods"), "{e_line}");
    assert_eq!(e.stats.num("recovery_us_max"), 0.0, "{e_line}");

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
    // Periodic lines come on the box's own timer (1 s), not the device's: wall time it is.
    let periodic = sb.expect_line(Duration::from_secs(10), |l| l.starts_with("stats "));
    // Asked for once the head has moved a second (of device time: its periods).
    let asked = sb.wait_for_device("pos_s", 1.1);
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
