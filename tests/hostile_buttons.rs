//! Issue 13, special files as buttons: `buttons.devices` naming a FIFO with an endless
//! writer must not take a core; the box keeps answering and exits on SIGTERM.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// CPU seconds (user + system) the threads of `pid` other than the audio thread have used
/// so far. (The audio thread on the unpaced `null` PCM spins by design of that test
/// device; what matters here is the input, control and console threads.)
fn cpu_s_but_audio(pid: u32) -> f64 {
    // utime + stime: fields 14 and 15, that is 11 and 12 after the state field.
    let ticks_of = |stat: &str| -> f64 {
        let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
            .split_whitespace()
            .collect();
        f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()
    };
    // The whole process (threads that ended included), less the audio thread.
    let mut ticks = ticks_of(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap());
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        if stat.contains("(stembox-audio)") {
            ticks -= ticks_of(&stat);
        }
    }
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

#[test]
fn a_fifo_with_an_endless_writer_as_buttons_takes_no_core() {
    let dir = temp_dir("hostile-buttons");
    let lib = dir.join("lib").join("01-song");
    std::fs::create_dir_all(&lib).unwrap();
    GenStem::noise("drums", 48_000, 2, Enc::I16, 48_000, 0.2, 1).write_wav(&lib.join("drums.wav"));
    let fifo = dir.join("buttons");
    make_fifo(&fifo);
    let cfg = write_config(
        &dir,
        &format!(
            r#"{{"library": "{}", "audio": {{"device": "null"}}, "state_dir": "{}", "rt": {{"mlock": false}}, "stats": {{"interval_s": 0}}, "buttons": {{"devices": ["{}"]}}}}"#,
            dir.join("lib").display(),
            dir.join("state").display(),
            fifo.display()
        ),
    );
    let mut child = Command::new(stembox())
        .args(["run", "--config", cfg.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let mut seen = Vec::new();
    let mut expect = |want: &dyn Fn(&str) -> bool| loop {
        let l = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("not seen; stdout: {seen:#?}"));
        seen.push(l.clone());
        if want(&l) {
            return l;
        }
    };
    expect(&|l| l == "ready");
    // An endless writer of zeros (each 24 bytes decode as a record).
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, fifo) = (stop.clone(), fifo.clone());
        std::thread::spawn(move || {
            let Ok(mut w) = std::fs::OpenOptions::new().write(true).open(&fifo) else {
                return;
            };
            let zeros = vec![0u8; 24 * 1024];
            while !stop.load(Ordering::Relaxed) && w.write_all(&zeros).is_ok() {}
        })
    };
    // From the writer's start: judging the flood is part of the cost.
    let (c0, t0) = (cpu_s_but_audio(child.id()), Instant::now());
    let flood = expect(&|l| l.contains("not a button device"));
    println!("{flood}");
    std::thread::sleep(Duration::from_secs(3));
    let share = (cpu_s_but_audio(child.id()) - c0) / t0.elapsed().as_secs_f64();
    println!(
        "CPU while the writer floods: {:.1} % of a core",
        share * 100.0
    );
    assert!(share < 0.25, "{:.0} % of a core", share * 100.0);
    writeln!(stdin, "status").unwrap();
    expect(&|l| l.starts_with("status song=01-song"));
    stop.store(true, Ordering::Relaxed);
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let until = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < until, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "{status:?}");
    // The writer gets EPIPE once nobody reads, or finishes at `stop` (a non-blocking
    // reader opened and closed here wakes it if it still waits in open()).
    let _ = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo);
    writer.join().unwrap();
}
