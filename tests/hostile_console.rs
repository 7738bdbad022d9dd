//! Issue 13, the console: a stdout nobody reads, a line without end, Ctrl-D on a terminal,
//! control characters in answers. Each drives the real `stembox run`.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A library of one song (`name`) with a 5 s `drums` stem, and a config playing it into
/// the `null` PCM.
fn setup(tag: &str, song: &str) -> (PathBuf, String) {
    let dir = temp_dir(tag);
    let lib = dir.join("lib");
    let s = lib.join(song);
    std::fs::create_dir_all(&s).unwrap();
    GenStem::noise("drums", 48_000, 2, Enc::I16, 5 * 48_000, 0.2, 1)
        .write_wav(&s.join("drums.wav"));
    let cfg = write_config(
        &dir,
        &format!(
            r#"{{"library": "{}", "audio": {{"device": "null"}}, "state_dir": "{}", "rt": {{"mlock": false}}, "stats": {{"interval_s": 0}}}}"#,
            lib.display(),
            dir.join("state").display()
        ),
    );
    (dir, cfg.to_str().unwrap().to_string())
}

fn spawn_run(cfg: &str, stdin: Stdio) -> Child {
    Command::new(stembox())
        .args(["run", "--config", cfg])
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Lines of the child's stdout, read on a thread.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

fn expect(
    rx: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    want: impl Fn(&str) -> bool,
) -> String {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                seen.push(l.clone());
                if want(&l) {
                    return l;
                }
            }
            Err(_) => panic!("line not seen; stdout so far: {seen:#?}"),
        }
    }
}

fn wait_exit(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let until = Instant::now() + timeout;
    while Instant::now() < until {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

fn vm_hwm_kb(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_stdout_nobody_reads_never_blocks_control_or_sigterm() {
    let (dir, cfg) = setup("hostile-console-unread", "01-song");
    let mut child = spawn_run(&cfg, Stdio::piped());
    let mut stdin = child.stdin.take().unwrap();
    // Wait for `ready` by reading byte by byte, then stop reading stdout for good.
    let mut out = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut b = [0u8];
    while !String::from_utf8_lossy(&seen).contains("ready\n") {
        assert_eq!(
            out.read(&mut b).unwrap(),
            1,
            "{}",
            String::from_utf8_lossy(&seen)
        );
        seen.push(b[0]);
    }
    // 3000 answers of ~90 bytes: four times what a pipe holds (64 KB).
    let t0 = Instant::now();
    for _ in 0..3000 {
        writeln!(stdin, "status").unwrap();
    }
    // Commands are still carried out: this one must reach the saved state.
    writeln!(stdin, "mute drums").unwrap();
    stdin.flush().unwrap();
    // The control thread saves it a couple of seconds after the change; a loaded machine
    // may take longer to work through the flood, so wait for the file, not for a clock.
    let state_path = dir.join("state").join("state.json");
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until
        && !std::fs::read_to_string(&state_path)
            .is_ok_and(|s| s.contains("\"drums\":{\"mute\":true"))
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let flood_ms = t0.elapsed().as_millis();
    let t1 = Instant::now();
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = wait_exit(&mut child, Duration::from_secs(5));
    let took = t1.elapsed();
    let Some(status) = status else {
        child.kill().unwrap();
        panic!("SIGTERM ignored while stdout was full");
    };
    println!(
        "flood {flood_ms} ms; exited {status:?} {} ms after SIGTERM",
        took.as_millis()
    );
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(2), "SIGTERM took {took:?}");
    let state = std::fs::read_to_string(dir.join("state").join("state.json")).unwrap();
    assert!(
        state.contains("\"drums\":{\"mute\":true"),
        "control kept working: {state}"
    );
    // What did get out is whole lines.
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(rest.lines().count() > 100, "{} lines", rest.lines().count());
}

#[test]
fn a_50_mb_line_without_newline_is_discarded_in_bounded_memory() {
    let (_dir, cfg) = setup("hostile-console-long", "01-song");
    let mut child = spawn_run(&cfg, Stdio::piped());
    let mut stdin = child.stdin.take().unwrap();
    let rx = lines_of(&mut child);
    let mut seen = Vec::new();
    expect(&rx, &mut seen, |l| l == "ready");
    let before = vm_hwm_kb(child.id());
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..50 {
        stdin.write_all(&chunk).unwrap();
    }
    stdin.write_all(b"\nstatus\n").unwrap();
    let err = expect(&rx, &mut seen, |l| l.starts_with("error:"));
    assert_eq!(err, "error: line longer than 512 bytes ignored");
    expect(&rx, &mut seen, |l| l.starts_with("status song=01-song"));
    let after = vm_hwm_kb(child.id());
    println!(
        "peak RSS {} MB before the line, {} MB after",
        before / 1024,
        after / 1024
    );
    assert!(
        after < before + 8 * 1024,
        "RSS grew from {before} kB to {after} kB"
    );
    writeln!(stdin, "quit").unwrap();
    expect(&rx, &mut seen, |l| l == "ok quit");
    assert!(wait_exit(&mut child, Duration::from_secs(10)).is_some_and(|s| s.success()));
    let lines_after_err = seen.iter().filter(|l| l.starts_with("error:")).count();
    assert_eq!(lines_after_err, 1, "one error line: {seen:#?}");
}

/// A pseudo-terminal pair: (master, slave).
fn open_pty() -> (OwnedFd, OwnedFd) {
    // SAFETY: plain libc calls; every fd returned is checked and owned once.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(m >= 0, "posix_openpt");
        assert_eq!(libc::grantpt(m), 0);
        assert_eq!(libc::unlockpt(m), 0);
        let name = libc::ptsname(m);
        assert!(!name.is_null());
        let s = libc::open(name, libc::O_RDWR | libc::O_NOCTTY);
        assert!(s >= 0, "open slave");
        (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s))
    }
}

#[test]
fn ctrl_d_on_a_terminal_does_not_end_the_console() {
    let (_dir, cfg) = setup("hostile-console-tty", "01-song");
    let (master, slave) = open_pty();
    let mut child = spawn_run(&cfg, Stdio::from(slave));
    let rx = lines_of(&mut child);
    let mut seen = Vec::new();
    expect(&rx, &mut seen, |l| l == "ready");
    let mut m = std::fs::File::from(master);
    // Drain the terminal's echo so it never fills.
    let mut echo = m.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut b = [0u8; 1024];
        while matches!(echo.read(&mut b), Ok(n) if n > 0) {}
    });
    m.write_all(b"\x04").unwrap(); // Ctrl-D at the start of a line: read() returns 0
    expect(&rx, &mut seen, |l| {
        l.starts_with("console: end of input ignored on a terminal")
    });
    m.write_all(b"status\n").unwrap();
    expect(&rx, &mut seen, |l| l.starts_with("status song=01-song"));
    m.write_all(b"quit\n").unwrap();
    expect(&rx, &mut seen, |l| l == "ok quit");
    assert!(wait_exit(&mut child, Duration::from_secs(10)).is_some_and(|s| s.success()));
    let _ = m.as_raw_fd();
}

#[test]
fn end_of_input_on_a_pipe_is_announced_and_the_player_keeps_going() {
    let (_dir, cfg) = setup("hostile-console-eof", "01-song");
    let mut child = spawn_run(&cfg, Stdio::null());
    let rx = lines_of(&mut child);
    let mut seen = Vec::new();
    expect(&rx, &mut seen, |l| {
        l.starts_with("console: end of input (stdin is not a terminal)")
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the player keeps running"
    );
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert!(wait_exit(&mut child, Duration::from_secs(5)).is_some_and(|s| s.success()));
}

#[test]
fn control_characters_in_names_and_input_are_escaped_in_answers() {
    let name = "01-a\nb\x1b[2J";
    let (_dir, cfg) = setup("hostile-console-escape", name);
    let mut child = spawn_run(&cfg, Stdio::piped());
    let mut stdin = child.stdin.take().unwrap();
    let mut out = child.stdout.take().unwrap();
    stdin
        .write_all(b"status\nmute \x1b]0;owned\x07drums\nplay now\x1b[1m\nquit\n")
        .unwrap();
    let mut all = Vec::new();
    out.read_to_end(&mut all).unwrap();
    assert!(wait_exit(&mut child, Duration::from_secs(10)).is_some_and(|s| s.success()));
    let text = String::from_utf8(all).unwrap();
    println!("{text}");
    assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
    assert!(text.contains("status song=01-a\\nb\\x1b[2J "), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("error:") && l.contains("\\x1b[1m")),
        "{text}"
    );
    assert!(
        text.lines()
            .all(|l| !l.starts_with("b\\x1b") && !l.starts_with("b\x1b")),
        "{text}"
    );
}

/// A paste of 2,000 commands (setters, `status`, and garbage the console answers itself)
/// into a console that is read, slowly: every command gets its answer, none is dropped.
/// The console reader stops taking input while the output queue is full (the pipe into
/// stembox fills and the writer here blocks) instead of dropping answers.
#[test]
fn a_burst_of_2000_commands_that_is_read_slowly_gets_2000_answers() {
    let (_dir, cfg) = setup("hostile-console-burst", "01-song");
    let mut child = spawn_run(&cfg, Stdio::piped());
    // Answers lost would leave the read below waiting for ever: after 60 s the box is
    // killed, stdout ends and the test fails.
    let pid = child.id() as libc::pid_t;
    let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = finished.clone();
    std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until {
            if done.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // SAFETY: kill(2) on our own child, not yet waited for (the test is still reading).
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let mut next_line = |out: &mut BufReader<_>| -> String {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "stdout ended (killed after 60 s: answers were lost)"
        );
        line.trim_end_matches('\n').to_string()
    };
    while next_line(&mut out) != "ready" {}
    let mut stdin = child.stdin.take().unwrap();
    const N: usize = 2_000;
    let kinds = [
        "status",
        "mute drums",
        "gain drums -3",
        "gain drums nan",
        "no-such-command \u{1b}[2J",
        "volume 1e40",
        "unmute drums",
    ];
    let text: String = (0..N)
        .map(|i| format!("{}\n", kinds[i % kinds.len()]))
        .collect();
    // One writer thread pushes it all (it blocks while stembox holds input back).
    let writer = std::thread::spawn(move || {
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
        stdin
    });
    let t0 = Instant::now();
    let is_answer =
        |l: &str| l.starts_with("ok") || l.starts_with("error") || l.starts_with("status ");
    let mut answers = 0;
    let mut other = Vec::new();
    while answers < N {
        let l = next_line(&mut out);
        if is_answer(&l) {
            answers += 1;
            // A slow reader (a terminal at a low baud rate): 2 ms a line, slower than
            // stembox answers, so the output queue fills.
            std::thread::sleep(Duration::from_millis(2));
        } else {
            other.push(l);
        }
    }
    let took = t0.elapsed();
    let mut stdin = writer.join().unwrap();
    writeln!(stdin, "stats").unwrap();
    let stats = loop {
        let l = next_line(&mut out);
        if l.starts_with("stats ") {
            break l;
        }
        assert!(!is_answer(&l), "an answer too many: {l}");
    };
    println!("{answers} answers to {N} commands in {took:?}; {stats}");
    assert!(stats.contains(" console_dropped=0"), "{stats}");
    assert!(other.iter().all(|l| !is_answer(l)), "{other:#?}");
    finished.store(true, std::sync::atomic::Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(200));
    let _ = child.kill();
    let _ = child.wait();
}
