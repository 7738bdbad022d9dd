//! Issue 13, answers that tell the truth: a burst of console commands in one write fills
//! the engine's command queue; no command is answered `ok` and then dropped, and `status`
//! ends agreeing with the last commands that were answered `ok`. Drives the real
//! `stembox run` on the jack dummy sink: paced like a card, so the 60 s song is still
//! playing while the burst is worked through (on the unpaced `null` PCM it ended at once
//! and the tests raced).

mod common;
#[path = "support/jack.rs"]
mod jack;
use common::*;
use jack::{jack_missing, write_asoundrc, Jackd, DEVICE_CLOCK_STOPPED};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Device periods in a second: 48 kHz in periods of 256 frames.
const PERIODS_PER_S: f64 = 48_000.0 / 256.0;

/// The test's folder (HOME of the box, with the `.asoundrc` of the jack PCM), its config,
/// and a jack dummy server at 48 kHz, 256-frame periods.
fn setup(tag: &str) -> (PathBuf, String, Jackd) {
    let dir = temp_dir(tag);
    let jackd = Jackd::start(&dir, 256);
    write_asoundrc(&dir, &dir.join("unused.raw"));
    let s = dir.join("lib").join("01-song");
    std::fs::create_dir_all(&s).unwrap();
    for (i, name) in ["drums", "bass"].iter().enumerate() {
        GenStem::noise(name, 48_000, 2, Enc::I16, 60 * 48_000, 0.2, i as u32 + 1)
            .write_wav(&s.join(format!("{name}.wav")));
    }
    let cfg = write_config(
        &dir,
        &format!(
            r#"{{"library": "{}", "audio": {{"device": "stembox_jack", "rate": 48000, "channels": 2, "format": "FLOAT_LE", "period_frames": 256, "periods": 3, "enable_latency_monitor": true}}, "state_dir": "{}", "rt": {{"mlock": false}}, "stats": {{"interval_s": 0}}}}"#,
            dir.join("lib").display(),
            dir.join("state").display()
        ),
    );
    (dir, cfg.to_str().unwrap().to_string(), jackd)
}

/// The running box; its stdout goes to a file (a pipe read by a test thread on a loaded
/// machine can lag the console writer, and answers dropped there would be no news here).
struct Box_ {
    child: Child,
    stdin: std::process::ChildStdin,
    out: PathBuf,
    /// Complete lines of `out` handed out so far.
    read: usize,
}

impl Box_ {
    fn start(dir: &Path, cfg: &str, jackd: &Jackd) -> Box_ {
        let out = dir.join("stdout.txt");
        let mut child = Command::new(stembox())
            .args(["run", "--config", cfg])
            .env("HOME", dir)
            .env("JACK_DEFAULT_SERVER", &jackd.name)
            .env("JACK_NO_START_SERVER", "1")
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut b = Box_ {
            child,
            stdin,
            out,
            read: 0,
        };
        b.until(|l| l == "ready");
        b
    }

    /// Lines until one satisfies `want` (included), within 30 s.
    fn until(&mut self, want: impl Fn(&str) -> bool) -> Vec<String> {
        let (seen, found) = self.read_until(Duration::from_secs(30), want);
        if !found {
            panic!("line not seen; stdout so far: {seen:#?}");
        }
        seen
    }

    /// Sends `lines` in one write, then `status` until the box answers it; returns the
    /// answers seen before that (ok or error lines) and the status line.
    fn burst(&mut self, lines: &[String]) -> (Vec<String>, String) {
        let mut text = lines.join("\n");
        text.push('\n');
        self.stdin.write_all(text.as_bytes()).unwrap();
        self.stdin.flush().unwrap();
        let mut answers = Vec::new();
        loop {
            writeln!(self.stdin, "status").unwrap();
            let end = Instant::now() + Duration::from_secs(30);
            let got = loop {
                let seen = self.until_or_none(|l| l.starts_with("status "));
                answers.extend(
                    seen.iter()
                        .filter(|l| l.starts_with("ok") || l.starts_with("error"))
                        .cloned(),
                );
                if let Some(st) = seen.last().filter(|l| l.starts_with("status ")) {
                    break Some(st.clone());
                }
                if Instant::now() > end {
                    break None;
                }
            };
            if let Some(st) = got {
                return (answers, st);
            }
        }
    }

    /// Lines read within 1 s, up to and including one satisfying `want`.
    fn until_or_none(&mut self, want: impl Fn(&str) -> bool) -> Vec<String> {
        self.read_until(Duration::from_secs(1), want).0
    }

    /// Complete lines not read yet, up to and including one satisfying `want`, for at most
    /// `within`; and whether that one came.
    fn read_until(&mut self, within: Duration, want: impl Fn(&str) -> bool) -> (Vec<String>, bool) {
        let end = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let text = std::fs::read_to_string(&self.out).unwrap();
            let complete = text.rfind('\n').map_or("", |i| &text[..i]);
            for l in complete.lines().skip(self.read) {
                self.read += 1;
                let done = want(l);
                seen.push(l.to_string());
                if done {
                    return (seen, true);
                }
            }
            if Instant::now() > end {
                return (seen, false);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// `status` until `want` holds for its line: the engine takes what waits within a few
    /// periods, so it is given 5 s of device periods (the monitor's count), however
    /// long a jackd crawling on a loaded machine takes for them. Returns the last line when
    /// they passed, or when the device clock stood still for [`DEVICE_CLOCK_STOPPED`].
    fn status_until(&mut self, want: impl Fn(&str) -> bool) -> String {
        let first = self.periods();
        let (mut seen, mut moved_at) = (first, Instant::now());
        loop {
            writeln!(self.stdin, "status").unwrap();
            let line = self.until(|l| l.starts_with("status ")).pop().unwrap();
            if want(&line) {
                return line;
            }
            let periods = self.periods();
            if periods != seen {
                (seen, moved_at) = (periods, Instant::now());
            }
            if periods - first >= 5.0 * PERIODS_PER_S || moved_at.elapsed() >= DEVICE_CLOCK_STOPPED
            {
                return line;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Device periods the audio thread has served (`stats`, monitor on).
    fn periods(&mut self) -> f64 {
        writeln!(self.stdin, "stats").unwrap();
        let line = self.until(|l| l.starts_with("stats ")).pop().unwrap();
        line.split_whitespace()
            .find_map(|w| w.strip_prefix("periods="))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no periods in {line}"))
    }

    /// Answers the console dropped so far (stdout did not keep up).
    fn console_dropped(&mut self) -> usize {
        writeln!(self.stdin, "stats").unwrap();
        let line = self.until(|l| l.starts_with("stats ")).pop().unwrap();
        line.split_whitespace()
            .find_map(|w| w.strip_prefix("console_dropped="))
            .and_then(|n| n.parse().ok())
            .unwrap()
    }
}

impl Drop for Box_ {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn transport(status: &str) -> &str {
    status
        .split_whitespace()
        .find_map(|w| w.strip_prefix("transport="))
        .unwrap_or("?")
}

fn is_busy(a: &str) -> bool {
    a == "error: engine busy, try again"
}

/// Every answer is `ok` or a refusal we expect, one per command, none dropped (the
/// `status` lines sent while waiting are not among them).
fn check_answers(lines: &[String], answers: &[String], dropped: usize) {
    for a in answers {
        assert!(
            a.starts_with("ok ")
                || is_busy(a)
                || a.starts_with("error: gain")
                || a.starts_with("error: usage: volume"),
            "unexpected answer {a}"
        );
    }
    // The console holds input back rather than drop an answer (the output is read here):
    // one answer per command.
    assert_eq!(
        (answers.len(), dropped),
        (lines.len(), 0),
        "answers seen and dropped, for {} commands",
        lines.len()
    );
}

#[test]
fn a_burst_of_setters_ending_in_pause_pauses() {
    if jack_missing() {
        return;
    }
    let (dir, cfg, jackd) = setup("burst-pause");
    let mut b = Box_::start(&dir, &cfg, &jackd);
    let (a, st) = b.burst(&["play".to_string()]);
    assert!(a[0].starts_with("ok play"), "{a:?}");
    assert_eq!(transport(&st), "playing", "{st}");
    let t0 = Instant::now();
    let mut lines = Vec::new();
    for i in 0..300 {
        lines.push(format!("gain drums -{}", 1 + i % 7));
        lines.push(format!("gain bass {}", -((i % 5) as f32) - 0.5));
        lines.push(if i % 2 == 0 { "vol +" } else { "vol -" }.to_string());
        // Hostile values in the middle of the flood: refused, nothing queued for them.
        if i % 50 == 0 {
            lines.push("gain drums nan".to_string());
            lines.push("volume 1e40".to_string());
        }
    }
    lines.push("gain drums -2".to_string());
    lines.push("pause".to_string());
    let dropped_before = b.console_dropped();
    let (answers, _) = b.burst(&lines);
    let dropped = b.console_dropped() - dropped_before;
    let queued = answers.iter().filter(|a| a.ends_with("(queued)")).count();
    let busy = answers.iter().filter(|a| is_busy(a)).count();
    println!(
        "{} commands: {} answers seen ({queued} ok (queued)), {busy} busy, {dropped} answers dropped by the console",
        lines.len(),
        answers.len()
    );
    check_answers(&lines, &answers, dropped);
    // Setters coalesce and one pause fits: nothing is refused for room.
    assert_eq!(busy, 0, "{answers:#?}");
    let st = b.status_until(|s| transport(s) == "paused");
    assert_eq!(
        transport(&st),
        "paused",
        "{st} ({:?} after play; the song is 60 s)",
        t0.elapsed()
    );
    assert!(st.contains("drums=mute:0,solo:0,gain_db:-2.0"), "{st}");
}

#[test]
fn a_burst_of_transport_refuses_what_cannot_wait_and_still_takes_a_mute() {
    if jack_missing() {
        return;
    }
    let (dir, cfg, jackd) = setup("burst-transport");
    let mut b = Box_::start(&dir, &cfg, &jackd);
    let mut lines = Vec::new();
    for i in 0..450 {
        lines.push(if i % 2 == 0 { "play" } else { "pause" }.to_string());
    }
    lines.push("mute bass".to_string());
    let dropped_before = b.console_dropped();
    let (answers, _) = b.burst(&lines);
    let dropped = b.console_dropped() - dropped_before;
    let busy = answers.iter().filter(|a| is_busy(a)).count();
    let queued = answers.iter().filter(|a| a.ends_with("(queued)")).count();
    println!(
        "{} commands: {} answers seen ({queued} ok (queued)), {busy} busy, {dropped} answers dropped by the console",
        lines.len(),
        answers.len()
    );
    check_answers(&lines, &answers, dropped);
    // A mute is a setter: it always finds a place, even behind a full transport list.
    let st = b.status_until(|s| s.contains("bass=mute:1"));
    assert!(st.contains("bass=mute:1"), "{st}");
    // What waited has reached the engine: a pause now is answered plainly and heard.
    let (a, _) = b.burst(&["pause".to_string()]);
    assert_eq!(a, ["ok pause"]);
    let st = b.status_until(|s| transport(s) == "paused");
    assert_eq!(transport(&st), "paused", "{st}");
}
