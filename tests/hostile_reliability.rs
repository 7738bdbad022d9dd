//! Issue 13, reliability: special files as the JSON files, signals, the state file, loop
//! points and answers under a burst of commands. Each test drives the real binary.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const RATE: u32 = 48_000;
/// Peak RSS allowed for a run that refuses a file: the failures this guards against grow
/// until killed.
const SMALL_RSS_KB: u64 = 120 * 1024;

/// A library with songs of `seconds` seconds each (one stereo `drums` stem).
fn library(dir: &Path, songs: &[(&str, usize)]) -> PathBuf {
    let lib = dir.join("lib");
    for (i, (name, seconds)) in songs.iter().enumerate() {
        let s = lib.join(name);
        std::fs::create_dir_all(&s).unwrap();
        GenStem::noise(
            "drums",
            RATE,
            2,
            Enc::I16,
            seconds * RATE as usize,
            0.2,
            i as u32 + 1,
        )
        .write_wav(&s.join("drums.wav"));
    }
    lib
}

/// A config playing into the `null` PCM (paced by nothing: runs as fast as it can).
fn config_json(lib: &Path, state: &Path, extra: &str) -> String {
    format!(
        r#"{{"library": "{}", "audio": {{"device": "null", "period_frames": 256, "periods": 3}}, "state_dir": "{}", "rt": {{"mlock": false}}, "stats": {{"interval_s": 0}}{extra}}}"#,
        lib.display(),
        state.display()
    )
}

/// `stembox run` with stdin and stdout as pipes; stdout lines read on a thread.
struct Appliance {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Appliance {
    fn start(cfg: &Path) -> Appliance {
        let mut child = Command::new(stembox())
            .args(["run", "--config", cfg.to_str().unwrap()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Appliance {
            child,
            stdin,
            lines,
            seen: Vec::new(),
            stderr,
        }
    }

    fn pid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child, not reaped yet.
        assert_eq!(unsafe { libc::kill(self.pid(), sig) }, 0);
    }

    fn expect(&mut self, want: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            match self
                .lines
                .recv_timeout(until.saturating_duration_since(Instant::now()))
            {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if want(&l) {
                        return l;
                    }
                }
                Err(_) => panic!("line not seen; stdout so far: {:#?}", self.seen),
            }
        }
    }

    /// Waits up to `timeout` for the exit; kills the child if it does not come.
    fn wait(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }

    /// Exit status (killed after `timeout`), the rest of stdout and all of stderr.
    fn finish(
        mut self,
        timeout: Duration,
    ) -> (Option<std::process::ExitStatus>, Vec<String>, String) {
        self.stdin = None;
        let status = self.wait(timeout);
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.seen.push(l);
        }
        let seen = std::mem::take(&mut self.seen);
        let stderr = std::mem::replace(&mut self.stderr, std::thread::spawn(String::new));
        (status, seen, stderr.join().unwrap())
    }
}

impl Drop for Appliance {
    /// A failed assertion must not leave a player running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Each JSON file stembox reads, as a FIFO with no writer and as a link to /dev/zero:
/// a one-line error (or warning) naming the file, at once, in bounded memory.
#[test]
fn json_files_that_are_fifos_or_devices_are_refused_without_hanging() {
    for special in ["fifo", "zero"] {
        let dir = temp_dir(&format!("rel-special-{special}"));
        let lib = library(&dir, &[("01-a", 1)]);
        let state = dir.join("state");
        std::fs::create_dir_all(&state).unwrap();
        let make = |p: &Path| {
            if special == "fifo" {
                make_fifo(p)
            } else {
                std::os::unix::fs::symlink("/dev/zero", p).unwrap()
            }
        };
        let why = if special == "fifo" {
            "is a FIFO (named pipe), not a regular file"
        } else {
            "is a character device, not a regular file"
        };

        // config.json itself.
        let cfg = dir.join("special-config.json");
        make(&cfg);
        let m = run_measured(
            &["check", "--config", cfg.to_str().unwrap()],
            Duration::from_secs(10),
        );
        assert!(!m.timed_out, "{special}: config hung");
        assert_eq!(m.code, Some(2), "{special}: {}", m.stderr);
        assert!(
            m.stderr
                .contains(&format!("config {}: {why}", cfg.display())),
            "{}",
            m.stderr
        );
        assert_eq!(m.stderr.lines().count(), 1, "{}", m.stderr);
        assert!(m.max_rss_kb < SMALL_RSS_KB, "{} KB", m.max_rss_kb);

        let cfg = write_config(&dir, &config_json(&lib, &state, ""));
        let cfg_s = cfg.to_str().unwrap();
        // song.json and setlist.json: `check` names them and fails.
        for file in [lib.join("01-a/song.json"), lib.join("setlist.json")] {
            make(&file);
            let m = run_measured(&["check", "--config", cfg_s], Duration::from_secs(10));
            let all = format!("{}{}", m.stdout, m.stderr);
            assert!(!m.timed_out, "{special} {}: check hung", file.display());
            assert_eq!(m.code, Some(1), "{all}");
            assert!(all.contains(&format!("{}: {why}", file.display())), "{all}");
            assert!(m.max_rss_kb < SMALL_RSS_KB, "{} KB", m.max_rss_kb);
            std::fs::remove_file(&file).unwrap();
        }

        // state.json: `run` warns, starts with defaults and plays.
        make(&state.join("state.json"));
        let mut app = Appliance::start(&cfg);
        app.expect(|l| l == "ready");
        app.send("quit");
        let (status, _, err) = app.finish(Duration::from_secs(10));
        assert!(status.is_some_and(|s| s.success()), "{special}: {err}");
        assert!(
            err.contains(&format!("{}: {why}", state.join("state.json").display()))
                && err.contains("starting with defaults"),
            "{err}"
        );
    }
}

/// The stems' settings as `status` shows them, e.g. `drums=mute:1,solo:0,gain_db:-3.0`.
fn status_of(app: &mut Appliance) -> String {
    app.send("status");
    app.expect(|l| l.starts_with("status "))
}

/// One bad entry in state.json costs only itself; a save that fails (a file where the
/// state folder should be) is warned about once, retried, and succeeds once the way is
/// clear.
#[test]
fn state_keeps_good_entries_and_retries_a_failed_save() {
    let dir = temp_dir("rel-state");
    let lib = library(&dir, &[("01-a", 2), ("02-b", 2)]);
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("state.json"),
        r#"{"version":1,"last_song":"02-b","songs":{"01-a":{"drums":{"gain_db":1e9}},"02-b":{"drums":{"mute":true,"gain_db":-6}}}}"#,
    )
    .unwrap();
    let cfg = write_config(&dir, &config_json(&lib, &state, ""));
    let mut app = Appliance::start(&cfg);
    app.expect(|l| l == "ready");
    let st = status_of(&mut app);
    assert!(
        st.contains("song=02-b") && st.contains("drums=mute:1,solo:0,gain_db:-6.0"),
        "{st}"
    );
    app.send("quit");
    let (status, _, err) = app.finish(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{err}");
    assert!(
        err.contains("ignored 1 bad entry: song \"01-a\" stem \"drums\": gain_db out of range")
            && err.lines().count() == 1,
        "{err}"
    );

    // The state folder blocked by a file: every save fails until it is removed.
    let blocked = dir.join("blocked");
    std::fs::write(&blocked, b"in the way").unwrap();
    let cfg = write_config(&dir, &config_json(&lib, &blocked, ""));
    let mut app = Appliance::start(&cfg);
    app.expect(|l| l == "ready");
    app.send("mute drums");
    app.expect(|l| l.starts_with("ok drums mute=1"));
    // Saves are tried 2 s after the last change, then every 2 s: three or four tries.
    std::thread::sleep(Duration::from_millis(7_500));
    std::fs::remove_file(&blocked).unwrap();
    app.expect(|l| l.contains("saved after") && l.contains("failed tries"));
    let saved = std::fs::read_to_string(blocked.join("state.json")).unwrap();
    assert!(saved.contains(r#""drums":{"mute":true"#), "{saved}");
    // Blocked again, and the exit is the last try.
    std::fs::remove_dir_all(&blocked).unwrap();
    std::fs::write(&blocked, b"in the way").unwrap();
    app.send("unmute drums");
    app.expect(|l| l.starts_with("ok drums mute=0"));
    app.send("quit");
    let (status, out, err) = app.finish(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{err}");
    let tries: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("cannot create"))
        .collect();
    println!("{err}\n{out:#?}");
    assert_eq!(
        tries.len(),
        2,
        "one warning while running, one at exit: {err}"
    );
    assert!(tries[0].contains("will try again"), "{err}");
    assert!(tries[1].contains("not saved at exit"), "{err}");
}

/// A 44.1 kHz song of `stems` stereo stems of `seconds` each: decoded and resampled to
/// 48 kHz at load, which takes seconds in a debug build.
fn long_song(lib: &Path, name: &str, stems: usize, seconds: usize) {
    let s = lib.join(name);
    std::fs::create_dir_all(&s).unwrap();
    const NAMES: [&str; 8] = ["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"];
    for (k, name) in NAMES.iter().enumerate().take(stems) {
        GenStem::noise(
            name,
            44_100,
            2,
            Enc::I16,
            seconds * 44_100,
            0.2,
            k as u32 + 7,
        )
        .write_wav(&s.join(format!("s{k}.wav")));
    }
}

/// SIGTERM and SIGINT while a long song is being decoded (before `ready`, and while a
/// neighbour loads during playback): exit 0 within 1 s, with the final stats line and the
/// state saved.
#[test]
fn sigterm_and_sigint_stop_within_a_second_even_during_a_long_decode() {
    let dir = temp_dir("rel-term");
    let lib = dir.join("lib");
    long_song(&lib, "01-long", 4, 60);
    let state = dir.join("state");
    let cfg = write_config(
        &dir,
        &config_json(&lib, &state, r#", "memory": {"budget_mb": 1024}"#),
    );
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let mut app = Appliance::start(&cfg);
        std::thread::sleep(Duration::from_millis(300));
        let t0 = Instant::now();
        app.signal(sig);
        app.wait(Duration::from_secs(5));
        let took = t0.elapsed();
        let (status, out, err) = app.finish(Duration::from_secs(5));
        println!(
            "signal {sig}: exit after {} ms\n{out:#?}\n{err}",
            took.as_millis()
        );
        assert!(status.is_some_and(|s| s.success()), "{status:?} {err}");
        assert!(took < Duration::from_secs(1), "{} ms", took.as_millis());
        assert!(out.iter().any(|l| l.starts_with("stats ")), "{out:#?}");
        assert!(!err.contains("called off"), "{err}");
        // The first song's name is remembered even though it never played.
        let saved = std::fs::read_to_string(state.join("state.json")).unwrap();
        assert!(saved.contains(r#""last_song":"01-long""#), "{saved}");
        std::fs::remove_dir_all(&state).unwrap();
    }

    // Playing a short song while the long one loads as its neighbour.
    let short = lib.join("00-short");
    std::fs::create_dir_all(&short).unwrap();
    GenStem::noise("drums", RATE, 2, Enc::I16, RATE as usize, 0.2, 3)
        .write_wav(&short.join("drums.wav"));
    let mut app = Appliance::start(&cfg);
    app.expect(|l| l == "ready");
    app.send("mute drums");
    app.expect(|l| l.starts_with("ok drums mute=1"));
    let t0 = Instant::now();
    app.signal(libc::SIGTERM);
    app.wait(Duration::from_secs(5));
    let took = t0.elapsed();
    let (status, out, err) = app.finish(Duration::from_secs(5));
    println!(
        "while a neighbour loads: exit after {} ms\n{err}",
        took.as_millis()
    );
    assert!(status.is_some_and(|s| s.success()), "{err}");
    assert!(took < Duration::from_secs(1), "{} ms", took.as_millis());
    assert!(
        out.last().is_some_and(|l| l.starts_with("stats ")),
        "{out:#?}"
    );
    let saved = std::fs::read_to_string(state.join("state.json")).unwrap();
    assert!(
        saved.contains(r#""00-short":{"drums":{"mute":true"#),
        "{saved}"
    );
}

/// SIGQUIT, SIGUSR2, SIGALRM and SIGPIPE do nothing harmful: the player keeps answering
/// and playing, and `quit` still ends it with 0.
#[test]
fn stray_signals_are_harmless() {
    let dir = temp_dir("rel-stray");
    let lib = library(&dir, &[("01-a", 30)]);
    let cfg = write_config(&dir, &config_json(&lib, &dir.join("state"), ""));
    let mut app = Appliance::start(&cfg);
    app.expect(|l| l == "ready");
    for sig in [libc::SIGQUIT, libc::SIGUSR2, libc::SIGALRM, libc::SIGPIPE] {
        app.signal(sig);
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            app.child.try_wait().unwrap().is_none(),
            "signal {sig} ended the process"
        );
        // (The null device is not paced: the song may have ended; the player answers.)
        let st = status_of(&mut app);
        assert!(
            st.starts_with("status song=01-a "),
            "after signal {sig}: {st}"
        );
    }
    app.send("quit");
    let (status, _, err) = app.finish(Duration::from_secs(5));
    assert!(status.is_some_and(|s| s.success()), "{err}");
    assert!(!err.contains("core dumped"), "{err}");
}
