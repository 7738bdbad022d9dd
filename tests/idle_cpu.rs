//! Issue 13: an idle stembox costs next to no CPU on any device. On the `null` PCM, which
//! takes periods as fast as they come, the audio loop used to spin a whole core on silence
//! once the song had ended (96 % of a core over 5 s); it now rests while there is nothing
//! to play. A behavioural bound, not a performance target: a spinning loop is far above it.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// utime + stime of process `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name may hold spaces: fields count from after its closing parenthesis.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn ticks_per_s() -> u64 {
    // SAFETY: sysconf with a constant name has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as u64 }
}

#[test]
fn run_on_the_unpaced_null_device_does_not_spin_once_the_song_has_ended() {
    let dir = temp_dir("idle-cpu");
    let s = dir.join("lib").join("01-short");
    std::fs::create_dir_all(&s).unwrap();
    // Half a second: on the unpaced device it has ended long before `ready` is read.
    GenStem::noise("drums", 48_000, 2, Enc::I16, 24_000, 0.2, 1).write_wav(&s.join("drums.wav"));
    let cfg = write_config(
        &dir,
        &format!(
            r#"{{"library": "{}", "audio": {{"device": "null", "period_frames": 256, "periods": 2}}, "state_dir": "{}", "rt": {{"mlock": false}}, "stats": {{"interval_s": 0}}}}"#,
            dir.join("lib").display(),
            dir.join("state").display()
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
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let end = Instant::now() + Duration::from_secs(30);
    while line.trim_end() != "ready" {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "no ready");
        assert!(Instant::now() < end, "no ready within 30 s");
    }
    // The song has ended: the box is idle (stopped at the end, nothing to play).
    let idle = |stdin: &mut std::process::ChildStdin, out: &mut BufReader<_>| {
        writeln!(stdin, "status").unwrap();
        let mut l = String::new();
        loop {
            l.clear();
            out.read_line(&mut l).unwrap();
            if l.starts_with("status ") {
                return l;
            }
        }
    };
    let end = Instant::now() + Duration::from_secs(10);
    let mut st = idle(&mut stdin, &mut out);
    while !st.contains("transport=stopped") && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
        st = idle(&mut stdin, &mut out);
    }
    assert!(st.contains("transport=stopped"), "{st}");
    let pid = child.id();
    let window = Duration::from_secs(3);
    let t0 = cpu_ticks(pid);
    std::thread::sleep(window);
    let used = cpu_ticks(pid) - t0;
    // Still alive and answering after the idle window.
    let st = idle(&mut stdin, &mut out);
    let _ = child.kill();
    let _ = child.wait();
    let budget = ticks_per_s() * window.as_secs();
    let pct = used as f64 * 100.0 / budget as f64;
    println!("idle on null: {used} ticks in {window:?} = {pct:.1} % of a core ({st})");
    // Spinning took 96 % of a core; resting about 1 %. 15 % leaves room for a loaded host.
    assert!(pct < 15.0, "idle stembox used {pct:.1} % of a core");
}
