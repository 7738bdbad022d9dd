//! A vanishing output device, end to end: the real binary on alsa-lib's `jack` PCM over a
//! `jackd -d dummy` server (see `support/jack.rs`). Killing the server with SIGKILL is the
//! test's USB unplug: the PCM stops consuming and the audio loop gives the device up; a
//! new server under the same name is the interface plugged back in.
//!
//! - `run` mid-song: one `lost` line, the process lives and answers `status`/`stats` with
//!   `device=lost`; after the server is back, playback goes on about where it stopped.
//! - `run` with no server at start: one `waiting` line, then `ready` once it appears.
//! - `play --once` still ends with exit 1 when its device goes.
//!
//! Waits for audio are in device time (`pos_s`, [`jack::Stembox::wait_for_device`]): a
//! jackd crawling on a loaded machine slows the test, and only a stopped head fails it.
//!
//! Skips (and passes) only when `jackd` is not installed.

#[path = "support/jack.rs"]
mod jack;

use jack::*;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The tests share the CPUs' roles: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const PERIOD: u32 = 256;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_stembox")
}

/// A folder with `.asoundrc`, a one-song library of `seconds` and a config on the jack PCM.
fn setup(name: &str, seconds: f64) -> (PathBuf, String) {
    let dir = temp_dir(name);
    write_asoundrc(&dir, &dir.join("rec.raw"));
    let lib = dir.join("library");
    write_song(&lib, "01-tone", 2, seconds);
    let cfg = write_config(
        &dir,
        &lib,
        &RunConfig {
            device: "stembox_jack".into(),
            period_frames: PERIOD,
            periods: 2,
            monitor: false,
            stats_interval_s: 0,
        },
    );
    (dir, cfg.to_str().unwrap().to_string())
}

fn alive(sb: &mut Stembox) -> bool {
    // SAFETY: signal 0 only checks that our child exists.
    unsafe { libc::kill(sb.pid() as i32, 0) == 0 }
}

fn stats(sb: &mut Stembox) -> Stats {
    Stats::parse(&sb.stats())
}

fn count(sb: &Stembox, needle: &str) -> usize {
    sb.seen.iter().filter(|l| l.contains(needle)).count()
}

fn start_run(dir: &Path, server: &str, cfg: &str) -> Stembox {
    Stembox::spawn_for_server(bin(), dir, server, &["run", "--config", cfg])
}

#[test]
fn run_survives_the_device_vanishing_mid_song_and_plays_on_when_it_is_back() {
    if jack_missing() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (dir, cfg) = setup("device-loss-mid-song", 120.0);
    let jackd = Jackd::start(&dir, PERIOD);
    let server = jackd.name.clone();
    let mut sb = start_run(&dir, &server, &cfg);
    sb.expect_line(Duration::from_secs(30), |l| l == "ready");
    // A second of the song played, in device time.
    let before = Stats::parse(&sb.wait_for_device("pos_s", 1.0));
    assert!(before.num("pos_s") >= 1.0, "playing: {before:?}");
    assert!(!before.has("device"), "no device keys while all is well");

    let killed = Instant::now();
    let unplugged = jackd.kill();
    let lost = sb.expect_line(Duration::from_secs(15), |l| l.contains(" lost: "));
    let detected_s = killed.elapsed().as_secs_f64();
    assert!(
        lost.starts_with("audio device \"stembox_jack\" lost: ") && lost.ends_with("; reopening"),
        "{lost}"
    );
    // The console keeps working while the device is away, and says so.
    sb.send("status");
    let status = sb.expect_line(Duration::from_secs(5), |l| l.starts_with("status "));
    assert!(status.ends_with(" device=lost"), "{status}");
    let away = stats(&mut sb);
    assert_eq!(away.get("device"), Some("lost"), "{away:?}");
    assert_eq!(away.num("device_losses"), 1.0);
    let stopped_at = away.num("pos_s");
    assert!(stopped_at >= before.num("pos_s"), "{away:?}");
    // A few seconds away: the process lives and does not say it again.
    std::thread::sleep(Duration::from_secs(3));
    assert!(alive(&mut sb), "{}", sb.transcript());
    let still = stats(&mut sb);
    assert_eq!(
        still.num("pos_s"),
        stopped_at,
        "nothing plays without a device"
    );

    let restarted = Instant::now();
    let _jackd = unplugged.replug();
    let server_up_s = restarted.elapsed().as_secs_f64();
    let back = sb.expect_line(Duration::from_secs(15), |l| l.contains(" reopened "));
    let back_s = restarted.elapsed().as_secs_f64();
    assert!(
        back.contains(&format!("playing on at {stopped_at:.1} s")),
        "{back}"
    );
    let resumed = stats(&mut sb);
    // The position advances again: 1.5 s of the song, in device time (it fails when the
    // head stands still).
    let later = Stats::parse(&sb.wait_for_device("pos_s", resumed.num("pos_s") + 1.5));
    eprintln!(
        "measured: loss noticed {detected_s:.2} s after SIGKILL; server up {server_up_s:.2} s \
         after restart, sound {back_s:.2} s after restart; resumed at {} s (stopped at \
         {stopped_at} s)",
        resumed.num("pos_s")
    );
    assert!(
        (resumed.num("pos_s") - stopped_at).abs() < 1.0,
        "resumes where it stopped: {resumed:?}"
    );
    assert!(
        later.num("pos_s") >= resumed.num("pos_s") + 1.5,
        "the position advances again: {resumed:?} then {later:?}"
    );
    assert_eq!(later.get("device"), Some("ok"), "{later:?}");
    assert_eq!(later.num("device_losses"), 1.0);
    assert_eq!(later.get("transport"), Some("playing"));
    assert_eq!(count(&sb, " lost: "), 1, "{}", sb.transcript());
    assert_eq!(
        sb.quit(Duration::from_secs(10)),
        Some(0),
        "{}",
        sb.transcript()
    );
}

#[test]
fn run_waits_for_a_device_that_appears_after_start() {
    if jack_missing() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (dir, cfg) = setup("device-late", 30.0);
    let server = unique_server_name();
    let mut sb = start_run(&dir, &server, &cfg);
    let waiting = sb.expect_line(Duration::from_secs(15), |l| l.contains("waiting"));
    assert!(
        waiting.starts_with("audio device \"stembox_jack\"")
            && waiting.ends_with("; waiting for the device"),
        "{waiting}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(alive(&mut sb), "{}", sb.transcript());
    let started = Instant::now();
    let _jackd = Jackd::start_named(&dir, PERIOD, &server);
    sb.expect_line(Duration::from_secs(30), |l| l == "ready");
    eprintln!(
        "measured: ready {:.2} s after the server was started",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(count(&sb, "waiting"), 1, "said once: {}", sb.transcript());
    // It plays: the head passes 0.3 s (one decimal), in device time.
    let s = Stats::parse(&sb.wait_for_device("pos_s", 0.4));
    assert!(s.num("pos_s") > 0.3, "{s:?}");
    assert_eq!(s.get("device"), Some("ok"), "{s:?}");
    assert_eq!(s.num("device_losses"), 1.0, "absent at start counts");
    assert_eq!(
        sb.quit(Duration::from_secs(10)),
        Some(0),
        "{}",
        sb.transcript()
    );
}

#[test]
fn run_waiting_for_a_device_ends_cleanly_on_sigterm() {
    if jack_missing() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (dir, cfg) = setup("device-never", 5.0);
    let mut sb = start_run(&dir, &unique_server_name(), &cfg);
    sb.expect_line(Duration::from_secs(15), |l| l.contains("waiting"));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(sb.pid() as i32, libc::SIGTERM) };
    assert_eq!(
        sb.wait(Duration::from_secs(5)),
        Some(0),
        "{}",
        sb.transcript()
    );
}

#[test]
fn play_once_still_fails_when_its_device_vanishes() {
    if jack_missing() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (dir, cfg) = setup("device-loss-once", 60.0);
    let jackd = Jackd::start(&dir, PERIOD);
    let mut sb = Stembox::spawn(
        bin(),
        &dir,
        &jackd,
        &["play", "--config", &cfg, "--song", "01-tone", "--once"],
    );
    sb.expect_line(Duration::from_secs(30), |l| l.starts_with("loaded "));
    std::thread::sleep(Duration::from_secs(1));
    let _unplugged = jackd.kill();
    assert_eq!(
        sb.wait(Duration::from_secs(20)),
        Some(1),
        "{}",
        sb.transcript()
    );
    let err = std::fs::read_to_string(&sb.stderr).unwrap_or_default();
    assert!(err.contains("audio device \"stembox_jack\""), "{err}");
}
