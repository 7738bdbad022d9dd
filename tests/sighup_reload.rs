//! Issue 13, SIGHUP: config and library are read again while the box plays; the song in
//! the engine plays on, a broken config or key map is refused with one line and the old
//! ones stay, settings that need the device reopened are said to need a restart, and a
//! storm of SIGHUPs while a song loads does not end the process. The real `stembox run`
//! on the jack dummy sink (paced like a card, so the song is still playing throughout).

#[path = "support/jack.rs"]
mod jack;
use jack::*;
use std::path::Path;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

fn status(sb: &mut Stembox) -> String {
    sb.drain();
    sb.send("status");
    sb.expect_line(WAIT, |l| l.starts_with("status "))
}

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .unwrap_or("?")
}

/// Waits until stderr holds `count` lines containing `text`; returns the last of them.
fn stderr_line(sb: &Stembox, text: &str, count: usize) -> String {
    let end = Instant::now() + WAIT;
    loop {
        let err = std::fs::read_to_string(&sb.stderr).unwrap_or_default();
        let hits: Vec<&str> = err.lines().filter(|l| l.contains(text)).collect();
        if hits.len() >= count {
            return hits[count - 1].to_string();
        }
        assert!(
            Instant::now() < end,
            "no {text:?} (x{count}) in stderr:\n{err}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn hup(sb: &Stembox) {
    // SAFETY: kill(2) on our own child.
    assert_eq!(
        unsafe { libc::kill(sb.pid() as libc::pid_t, libc::SIGHUP) },
        0
    );
}

/// Still playing 01-a, and the play head moved on since `before` (seconds). Waited for in
/// device time: the head moves as the device takes audio, which a jackd crawling on a
/// loaded machine does slowly; only a head standing still for [`DEVICE_CLOCK_STOPPED`]
/// fails.
fn plays_on(sb: &mut Stembox, before: f64) -> f64 {
    let since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let st = status(sb);
        assert_eq!(field(&st, "transport"), "playing", "{st}");
        assert_eq!(field(&st, "song"), "01-a", "{st}");
        let pos: f64 = field(&st, "pos_s").parse().unwrap();
        if pos > before {
            return pos;
        }
        assert!(
            since.elapsed() < DEVICE_CLOCK_STOPPED,
            "position stood still at {pos} after {before}: {st}"
        );
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn sighup_reloads_library_and_config_while_playing_and_never_kills_the_box() {
    if jack_missing() {
        return;
    }
    let dir = temp_dir("sighup");
    let jackd = Jackd::start(&dir, 256);
    write_asoundrc(&dir, &dir.join("unused.raw"));
    let lib = dir.join("lib");
    write_song(&lib, "01-a", 2, 60.0);
    write_song(&lib, "02-b", 1, 20.0);
    let rc = RunConfig {
        device: "stembox_jack".into(),
        period_frames: 256,
        periods: 3,
        monitor: false,
        stats_interval_s: 0,
    };
    let cfg = write_config(&dir, &lib, &rc);
    let good = std::fs::read_to_string(&cfg).unwrap();
    let mut sb = Stembox::spawn(
        env!("CARGO_BIN_EXE_stembox"),
        &dir,
        &jackd,
        &["run", "--config", cfg.to_str().unwrap()],
    );
    // A SIGHUP while the first song is still being decoded (the handler is installed
    // before that): taken once the box runs, on the same list.
    std::thread::sleep(Duration::from_millis(150));
    hup(&sb);
    sb.expect_line(WAIT, |l| l == "ready");
    let line = sb.expect_line(WAIT, |l| l.starts_with("reloaded library"));
    assert_eq!(
        line,
        "reloaded library: 2 songs (0 new, 0 gone); playing on 1 01-a"
    );
    sb.send("play");
    sb.expect_line(WAIT, |l| l.starts_with("ok play"));
    let mut pos = plays_on(&mut sb, 0.0);

    // A song added before the current one: the list grows, 01-a plays on at its new place.
    write_song(&lib, "00-new", 1, 5.0);
    hup(&sb);
    let line = sb.expect_line(WAIT, |l| l.starts_with("reloaded library"));
    assert_eq!(
        line,
        "reloaded library: 3 songs (1 new, 0 gone); playing on 2 01-a"
    );
    plays_on(&mut sb, pos);
    // The new neighbour is reachable and loads from the new list.
    sb.send("prev");
    sb.expect_line(WAIT, |l| l == "ok song 1 00-new" || l == "loading 00-new");
    sb.send("song 01-a");
    sb.expect_line(WAIT, |l| l.starts_with("ok song 2 01-a"));
    sb.send("play");
    sb.expect_line(WAIT, |l| l.starts_with("ok play"));
    pos = plays_on(&mut sb, 0.0);

    // A broken config (garbage, then a bad key map, then a library without songs): one
    // line each, the running config and library stay, the song plays on.
    let broken = [
        "{\"library\": \u{1b}[2J nonsense".to_string(),
        good.replacen(
            "\"state_dir\"",
            r#""buttons": {"map": [{"key": "KEY_NOPE", "gesture": "short", "action": "play"}]}, "state_dir""#,
            1,
        ),
        good.replacen(
            &lib.display().to_string(),
            &dir.join("empty").display().to_string(),
            1,
        ),
    ];
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    for (k, text) in broken.iter().enumerate() {
        write(&cfg, text);
        hup(&sb);
        let line = stderr_line(&sb, "SIGHUP: reload refused", k + 1);
        println!("{line}");
        pos = plays_on(&mut sb, pos);
    }
    assert!(stderr_line(&sb, "KEY_NOPE", 1).contains("buttons"));

    // A device setting changed: needs a restart, said once; the rest applies.
    write(
        &cfg,
        &good.replacen("\"period_frames\": 256", "\"period_frames\": 512", 1),
    );
    hup(&sb);
    let line = stderr_line(&sb, "needs a restart", 1);
    assert!(line.contains("audio changed"), "{line}");
    sb.expect_line(WAIT, |l| {
        l.starts_with("reloaded library: 3 songs (0 new, 0 gone)")
    });
    pos = plays_on(&mut sb, pos);

    // A valid key map change is taken without a word of refusal.
    write(
        &cfg,
        &good.replacen(
            "\"state_dir\"",
            r#""buttons": {"map": [{"key": "KEY_P", "gesture": "short", "action": "play_pause"}]}, "state_dir""#,
            1,
        ),
    );
    hup(&sb);
    sb.expect_line(WAIT, |l| l.starts_with("reloaded library"));
    pos = plays_on(&mut sb, pos);

    // The current song's folder removed: it plays on, said in words.
    std::fs::remove_dir_all(lib.join("01-a")).unwrap();
    hup(&sb);
    let line = sb.expect_line(WAIT, |l| l.starts_with("reloaded library"));
    assert!(line.contains("01-a (its folder is gone"), "{line}");
    plays_on(&mut sb, pos);

    // A storm of SIGHUPs while a song is called and loading, and while the library
    // changes under it: the box stays up, answers, and ends on a consistent list.
    write_song(&lib, "03-c", 1, 30.0);
    sb.send("next");
    for i in 0..20 {
        hup(&sb);
        if i == 10 {
            write_song(&lib, "04-d", 1, 3.0);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(500));
    let st = status(&mut sb);
    assert!(st.starts_with("status song="), "{st}");
    sb.drain();
    hup(&sb);
    let line = sb.expect_line(WAIT, |l| l.starts_with("reloaded library"));
    println!("{line}");
    assert!(
        line.contains("4 songs") || line.contains("5 songs"),
        "{line}"
    );
    sb.send("song 04-d");
    sb.expect_line(WAIT, |l| l.contains("04-d"));
    assert_eq!(sb.quit(WAIT), Some(0), "{}", sb.transcript());
}
