//! The audio thread does not page-fault while it plays, with memory locked the way stembox
//! locks it (`rt.mlock`: `mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)`, see
//! `rt::thread::lock_memory`), while the loader decodes the next song beside it.
//!
//! Measured on the real binary over the `jack` PCM (`support/jack.rs`): alsa-lib's `file`
//! PCM would write its file from the audio thread, and those page-cache faults are not the
//! audio path's. The counters are the kernel's per-thread `minflt` and `majflt`
//! (`/proc/<pid>/task/<tid>/stat`, fields 10 and 12) of the `stembox-audio` thread, read
//! after a warm-up (the thread's stack and the loop's buffers are touched by then) and again
//! near the end of the song.
//!
//! Skips (and passes) only when `jackd` is not installed.

#[path = "support/jack.rs"]
mod jack;

use jack::*;
use std::time::Duration;

const PERIOD: u32 = 256;

/// `(minflt, majflt)` of one thread.
fn faults(pid: u32, tid: i32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).unwrap();
    // The name in parentheses may hold spaces: count fields after its closing one.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // rest starts at field 3 (state): minflt is field 10, majflt field 12.
    (f[7].parse().unwrap(), f[9].parse().unwrap())
}

fn status_kb(pid: u32, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn the_audio_thread_does_not_fault_while_a_song_plays_and_the_next_one_loads() {
    if jackd_path().is_none() {
        eprintln!("SKIP: jackd not installed (apt-get install jackd2 libasound2-plugins)");
        return;
    }
    let dir = temp_dir("page-faults");
    let jackd = Jackd::start(&dir, PERIOD);
    write_asoundrc(&dir, &dir.join("rec.raw"));
    let lib = dir.join("library");
    write_song(&lib, "01-short", 4, 8.0);
    // The neighbour the loader decodes while the first song plays: 4 stems of 120 s
    // (184 MB of samples).
    write_song(&lib, "02-long", 4, 120.0);
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
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("\"mlock\": false", "\"mlock\": true");
    std::fs::write(&cfg, text).unwrap();
    let cfg = cfg.to_str().unwrap().to_string();
    let mut sb = Stembox::spawn(bin(), &dir, &jackd, &["run", "--config", &cfg]);
    sb.expect_line(Duration::from_secs(30), |l| l == "ready");
    let pid = sb.pid();
    let tid = *sb
        .threads_named("stembox-audio")
        .first()
        .expect("an audio thread");

    // Warm-up: the first 100 periods (0.53 s) touch the thread's stack and every code path
    // of a plain period; the loader starts on the neighbour at `ready` and is still at
    // work. Counted in device time: the head's position.
    sb.wait_for_device("pos_s", 0.6);
    let warm = faults(pid, tid);
    let locked_kb = status_kb(pid, "VmLck:");
    let rss_warm_kb = status_kb(pid, "VmRSS:");
    // Near the end of the 8 s song (in device time); the loader has decoded the neighbour
    // meanwhile.
    let s = Stats::parse(&sb.wait_for_device("pos_s", 7.3));
    let end = faults(pid, tid);
    let rss_end_kb = status_kb(pid, "VmRSS:");
    eprintln!(
        "measured: audio thread minflt/majflt {warm:?} after warm-up, {end:?} at pos_s={}; \
         VmLck {locked_kb} kB, VmRSS {rss_warm_kb} kB -> {rss_end_kb} kB",
        s.num("pos_s")
    );
    assert!(
        locked_kb > 0,
        "rt.mlock locked nothing: {}",
        sb.transcript()
    );
    assert!(
        s.num("pos_s") >= 5.0,
        "the song played on: {}",
        sb.transcript()
    );
    assert!(
        rss_end_kb > rss_warm_kb + 50_000,
        "the loader was decoding the neighbour during the measurement: VmRSS {rss_warm_kb} kB \
         -> {rss_end_kb} kB"
    );
    assert_eq!(
        end.1, warm.1,
        "major faults on the audio thread while playing"
    );
    assert_eq!(
        end.0, warm.0,
        "minor faults on the audio thread while playing"
    );
    assert_eq!(
        sb.quit(Duration::from_secs(10)),
        Some(0),
        "{}",
        sb.transcript()
    );
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_stembox")
}
