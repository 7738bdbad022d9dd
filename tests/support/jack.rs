//! A real-time paced ALSA sink without a sound card, for the latency-monitor test
//! (`tests/jack_monitor.rs`) and the jack latency bench (`benches/jack_latency.rs`):
//! `jackd --no-realtime -d dummy` under a unique server name, alsa-lib's `jack` PCM defined
//! in a test `.asoundrc` (HOME points at the test's folder), a generated song, and the real
//! `stembox` binary with its stdout read line by line.
//!
//! CPU layout for starving the audio thread alone: jackd and stembox start with affinity
//! {0} (inherited by all their threads, libjack's included); stembox's config pins only the
//! audio thread (`stembox-audio`) to CPU 1 (`rt.cpu`); [`starve_cpu`] then runs a
//! SCHED_FIFO 99 busy loop on CPU 1 that ends by itself.
#![allow(dead_code)]

// The shared WAV writer, by path: most jack tests stand alone, without `tests/common/`. A
// test that has both compiles the file twice (two identical `Enc`s, still one writer).
#[allow(clippy::duplicate_mod)]
#[path = "../common/wav.rs"]
pub mod wav;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

pub const RATE: u32 = 48_000;
/// CPU for jackd and every stembox thread but the audio thread.
pub const HOUSE_CPU: usize = 0;
/// CPU the audio thread is pinned to, and the one [`starve_cpu`] takes.
pub const AUDIO_CPU: usize = 1;

/// True (and says so) when jackd is not installed: the one reason a jack test skips.
pub fn jack_missing() -> bool {
    if jackd_path().is_none() {
        eprintln!("SKIP: jackd not installed (apt-get install jackd2 libasound2-plugins)");
        return true;
    }
    false
}

/// `jackd` on PATH, or `None` (the only reason the jack tests skip).
pub fn jackd_path() -> Option<PathBuf> {
    find_on_path("jackd")
}

pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A fresh folder (kept after the run for inspection; removed at the next run).
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stembox-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn pin_to(cpu: usize) -> std::io::Result<()> {
    // SAFETY: cpu_set_t is plain data; the call only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = core::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Makes `cmd`'s process start with affinity {cpu} and, where allowed (root), nice -10, so
/// that the dummy driver's pacing suffers less from whatever else the machine runs (jackd
/// runs without real-time scheduling). All threads of the process inherit both.
fn on_cpu(cmd: &mut Command, cpu: usize) {
    use std::os::unix::process::CommandExt;
    // SAFETY: sched_setaffinity and setpriority are async-signal-safe syscalls; nothing else
    // runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::setpriority(libc::PRIO_PROCESS, 0, -10);
            pin_to(cpu)
        });
    }
}

/// Stops `child`: SIGTERM first so jackd unregisters and removes its shm files, SIGKILL if
/// it has not gone after 10 s (a jackd starved on a loaded machine takes seconds). Returns
/// whether it had to be killed.
fn terminate(child: &mut Child) -> bool {
    if !matches!(child.try_wait(), Ok(None)) {
        return false;
    }
    // SAFETY: signalling our own child by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    true
}

/// Frees the slot a killed server `name` left in jack's server registry. jack keeps at
/// most 8 servers per machine in `/dev/shm/jack-shm-registry` and frees the slot of one
/// that died without unregistering (SIGKILL) only when a server of the same name starts:
/// with a new name per test, every killed server took a slot for good, until no jackd
/// could start at all ("Too many servers already active"). So the name is started once
/// more and stopped cleanly.
fn reclaim_slot(dir: &Path, period_frames: u32, name: &str) {
    match Jackd::try_start_named(dir, period_frames, name) {
        Ok(mut again) => {
            again.reclaim_on_kill = false;
            drop(again);
        }
        Err(e) => eprintln!("jackd registry slot of {name} left taken: {e}"),
    }
}

/// A jackd with the dummy backend, stopped on drop.
pub struct Jackd {
    pub name: String,
    child: Child,
    pub log: PathBuf,
    dir: PathBuf,
    period_frames: u32,
    /// Reclaim the registry slot when the server had to be killed on drop.
    reclaim_on_kill: bool,
}

impl Jackd {
    /// Starts `jackd --no-realtime -d dummy -r 48000 -p PERIOD` under a unique server name,
    /// with affinity {HOUSE_CPU}, and waits until clients can connect.
    pub fn start(dir: &Path, period_frames: u32) -> Jackd {
        Jackd::start_named(dir, period_frames, &unique_server_name())
    }

    /// Starts jackd under `name` (to bring a killed server back under the same name, as a
    /// replugged sound card comes back under its ALSA name). Its log is appended to.
    pub fn start_named(dir: &Path, period_frames: u32, name: &str) -> Jackd {
        Jackd::try_start_named(dir, period_frames, name).unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_start_named(dir: &Path, period_frames: u32, name: &str) -> Result<Jackd, String> {
        let name = name.to_string();
        let log = dir.join("jackd.log");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
        let mut cmd = Command::new(jackd_path().ok_or("jackd is not installed")?);
        cmd.args(["-n", &name, "--no-realtime", "-d", "dummy"])
            .args(["-r", &RATE.to_string(), "-p", &period_frames.to_string()])
            .env("JACK_DEFAULT_SERVER", &name)
            .env("JACK_NO_AUDIO_RESERVATION", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().map_err(|e| e.to_string())?)
            .stderr(out);
        on_cpu(&mut cmd, HOUSE_CPU);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start jackd: {e}"))?;
        let mut jackd = Jackd {
            name,
            child,
            log,
            dir: dir.to_path_buf(),
            period_frames,
            reclaim_on_kill: true,
        };
        jackd.wait_ready()?;
        Ok(jackd)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        // Generous: a jackd without real-time scheduling on a loaded machine starts slowly.
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Err(format!("jackd exited ({st}): {}", self.log_text()));
            }
            let ok = Command::new("jack_lsp")
                .env("JACK_DEFAULT_SERVER", &self.name)
                .env("JACK_NO_START_SERVER", "1")
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .output()
                .map(|o| {
                    o.status.success()
                        && String::from_utf8_lossy(&o.stdout).contains("system:playback_1")
                });
            match ok {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                // No jack_lsp: give the server a moment instead.
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(1500));
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "jackd did not come up in 30 s: {}",
            self.log_text()
        ))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server with SIGKILL, as a sound card is yanked: no goodbye to clients.
    /// The server stays away while the [`Unplugged`] is kept.
    pub fn kill(mut self) -> Unplugged {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Its slot is reclaimed by the Unplugged, not by a second kill here.
        self.reclaim_on_kill = false;
        Unplugged {
            name: self.name.clone(),
            dir: self.dir.clone(),
            period_frames: self.period_frames,
            replugged: false,
        }
    }
}

/// A server killed by [`Jackd::kill`]: [`Unplugged::replug`] brings it back under the same
/// name; dropping it frees the slot the dead server holds in jack's registry (see
/// [`reclaim_slot`]), which starts and stops a server of that name for a moment.
#[must_use = "dropped at once, it brings the server back for a moment: keep it while the \
              device is to be away"]
pub struct Unplugged {
    name: String,
    dir: PathBuf,
    period_frames: u32,
    replugged: bool,
}

impl Unplugged {
    /// Starts the server again under its name, as a replugged sound card comes back under
    /// its ALSA name.
    pub fn replug(mut self) -> Jackd {
        self.replugged = true;
        Jackd::start_named(&self.dir, self.period_frames, &self.name)
    }
}

impl Drop for Unplugged {
    fn drop(&mut self) {
        if !self.replugged {
            reclaim_slot(&self.dir, self.period_frames, &self.name);
        }
    }
}

/// A jack server name no other test uses.
pub fn unique_server_name() -> String {
    static SERIAL: AtomicU32 = AtomicU32::new(0);
    format!(
        "stembox-test-{}-{}",
        std::process::id(),
        SERIAL.fetch_add(1, Ordering::Relaxed)
    )
}

impl Drop for Jackd {
    fn drop(&mut self) {
        if terminate(&mut self.child) && self.reclaim_on_kill {
            reclaim_slot(&self.dir, self.period_frames, &self.name);
        }
    }
}

/// Writes `<home>/.asoundrc` with `stembox_jack` (the jack PCM on the dummy's playback
/// ports) and `stembox_rec` (a raw `file` PCM over it, recording into `rec`).
pub fn write_asoundrc(home: &Path, rec: &Path) {
    let text = format!(
        r#"pcm.stembox_jack {{
    type jack
    playback_ports {{
        0 system:playback_1
        1 system:playback_2
    }}
}}
pcm.stembox_rec {{
    type file
    slave.pcm "stembox_jack"
    file "{}"
    format "raw"
}}
"#,
        rec.display()
    );
    std::fs::write(home.join(".asoundrc"), text).unwrap();
}

/// Writes a 16-bit stereo WAV at 48 kHz: a quiet sine at `hz`, the same in both channels.
pub fn write_wav(path: &Path, seconds: f64, hz: f64) {
    let frames = (seconds * RATE as f64) as usize;
    let sine = (0..frames).map(|i| {
        let x = (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(RATE)).sin() * 0.05;
        (x * 32767.0) as i16
    });
    wav::write_i16(path, RATE, 2, sine.flat_map(|s| [s, s]));
}

/// `<lib>/<song>/stemN.wav` for `stems` stems of `seconds`.
pub fn write_song(lib: &Path, song: &str, stems: usize, seconds: f64) {
    let dir = lib.join(song);
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..stems {
        write_wav(
            &dir.join(format!("stem{i:02}.wav")),
            seconds,
            110.0 * (i + 1) as f64,
        );
    }
}

/// What a run's config says.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub device: String,
    pub period_frames: u32,
    pub periods: u32,
    pub monitor: bool,
    pub stats_interval_s: u32,
}

pub fn write_config(dir: &Path, lib: &Path, rc: &RunConfig) -> PathBuf {
    let path = dir.join("config.json");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let text = format!(
        r#"{{
  "library": "{}",
  "state_dir": "{}",
  "audio": {{
    "device": "{}",
    "rate": {RATE},
    "channels": 2,
    "period_frames": {},
    "periods": {},
    "format": "FLOAT_LE",
    "enable_latency_monitor": {}
  }},
  "rt": {{ "priority": 70, "cpu": {AUDIO_CPU}, "mlock": false }},
  "stats": {{ "interval_s": {} }}
}}
"#,
        lib.display(),
        state.display(),
        rc.device,
        rc.period_frames,
        rc.periods,
        rc.monitor,
        rc.stats_interval_s
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// How long a device clock ([`Stembox::wait_for_device`]) may stand still before a test
/// calls it stopped. A jackd without real-time scheduling on a loaded machine crawls (seen at
/// 6 % and 26 % of real time) but moves every second; a dead one never moves again.
pub const DEVICE_CLOCK_STOPPED: Duration = Duration::from_secs(30);
/// Longest wait for device time however slowly the clock moves: 20 s of device time at the
/// slowest pace seen (6 %) takes 330 s; the tests wait for a few seconds of it.
pub const DEVICE_WAIT_CAP: Duration = Duration::from_secs(300);
/// How often [`Stembox::wait_for_device`] asks for `stats`.
const DEVICE_POLL: Duration = Duration::from_millis(100);

/// Bytes of the `file` PCM's recording at `rec` so far (0 before it exists).
pub fn recorded_bytes(rec: &Path) -> u64 {
    std::fs::metadata(rec).map_or(0, |m| m.len())
}

/// Waits until the `file` PCM's recording at `rec` holds `bytes`: the recording grows as
/// the box writes to the device, which takes audio at its own pace, so this is device
/// time, seen from outside the box. Panics when it stops growing for
/// [`DEVICE_CLOCK_STOPPED`] or the wait passes [`DEVICE_WAIT_CAP`].
pub fn wait_for_recording(rec: &Path, bytes: u64) {
    let started = Instant::now();
    let (mut seen, mut grew_at) = (recorded_bytes(rec), started);
    while seen < bytes {
        std::thread::sleep(DEVICE_POLL);
        let now = recorded_bytes(rec);
        if now != seen {
            (seen, grew_at) = (now, Instant::now());
        }
        let stood = grew_at.elapsed();
        assert!(
            stood < DEVICE_CLOCK_STOPPED,
            "the device clock stopped: {} stood at {seen} bytes for {stood:.1?}, waiting for \
             {bytes}",
            rec.display()
        );
        let waited = started.elapsed();
        assert!(
            waited < DEVICE_WAIT_CAP,
            "the device clock crawled: {} at {seen} bytes after {waited:.1?}, waiting for \
             {bytes}",
            rec.display()
        );
    }
}

/// A running `stembox`, its stdout as lines, stdin for console commands.
pub struct Stembox {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<(Instant, String)>,
    /// Every line read so far, for failure messages.
    pub seen: Vec<String>,
    pub stderr: PathBuf,
}

impl Stembox {
    /// Starts `stembox <args>` with HOME = `home`, talking to `jackd`, affinity {HOUSE_CPU}.
    pub fn spawn(bin: &str, home: &Path, jackd: &Jackd, args: &[&str]) -> Stembox {
        Stembox::spawn_for_server(bin, home, &jackd.name, args)
    }

    /// Starts `stembox <args>` for the jack server `server`, running or not.
    pub fn spawn_for_server(bin: &str, home: &Path, server: &str, args: &[&str]) -> Stembox {
        let stderr = home.join("stembox.stderr");
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .env("HOME", home)
            .env("JACK_DEFAULT_SERVER", server)
            .env("JACK_NO_START_SERVER", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap());
        on_cpu(&mut cmd, HOUSE_CPU);
        let mut child = cmd.spawn().expect("cannot start stembox");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Stembox {
            child,
            stdin,
            lines,
            seen: Vec::new(),
            stderr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process said, for assertion messages.
    pub fn transcript(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.seen.join("\n"),
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }

    /// Waits for the next line matching `pred`; panics with the transcript after `timeout`.
    pub fn expect_line(&mut self, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((_, line)) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no expected line in {timeout:?}\n{}", self.transcript())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("stembox closed its stdout\n{}", self.transcript())
                }
            }
        }
    }

    /// Sends one console command.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        if let Err(e) = writeln!(stdin, "{line}").and_then(|_| stdin.flush()) {
            // The process is gone: say what it said last.
            std::thread::sleep(Duration::from_millis(200));
            self.drain();
            panic!("cannot send {line:?}: {e}\n{}", self.transcript());
        }
    }

    /// Takes every line already printed (periodic stats lines pile up while a test sleeps).
    pub fn drain(&mut self) {
        while let Ok((_, line)) = self.lines.try_recv() {
            self.seen.push(line);
        }
    }

    /// Sends `stats` and returns the first stats line printed after it (the answer, or a
    /// periodic line printed at the same moment).
    pub fn stats(&mut self) -> String {
        self.drain();
        self.send("stats");
        self.expect_line(Duration::from_secs(5), |l| l.starts_with("stats "))
    }

    /// Polls `stats` until its `key` reaches `target`, and returns that line. `key` is one of
    /// the box's device clocks: `periods` (device periods served, monitor on) or `pos_s`
    /// (the play head, which moves only as the device takes audio). A test that waits for
    /// audio this way and not on the wall clock holds on a loaded machine, where a jackd
    /// without real-time scheduling pulls periods at a fraction of real time.
    ///
    /// Panics with the transcript when `key` stands still for [`DEVICE_CLOCK_STOPPED`] (the
    /// device clock, or playback, stopped) or the wait passes [`DEVICE_WAIT_CAP`].
    pub fn wait_for_device(&mut self, key: &str, target: f64) -> String {
        let started = Instant::now();
        let mut seen: Option<f64> = None;
        let mut moved_at = started;
        loop {
            let line = self.stats();
            let now = Stats::parse(&line).num(key);
            if now >= target {
                return line;
            }
            if seen != Some(now) {
                (seen, moved_at) = (Some(now), Instant::now());
            }
            let stood = moved_at.elapsed();
            assert!(
                stood < DEVICE_CLOCK_STOPPED,
                "the device clock stopped: {key}={now} for {stood:.1?}, waiting for {target}\n{}",
                self.transcript()
            );
            let waited = started.elapsed();
            assert!(
                waited < DEVICE_WAIT_CAP,
                "the device clock crawled: {key}={now} after {waited:.1?}, waiting for \
                 {target}\n{}",
                self.transcript()
            );
            std::thread::sleep(DEVICE_POLL);
        }
    }

    /// Sends `quit`, then collects the remaining lines until exit; returns the exit code.
    pub fn quit(&mut self, timeout: Duration) -> Option<i32> {
        self.send("quit");
        self.wait(timeout)
    }

    /// Waits for the process to end (reading its remaining output); returns the exit code.
    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((_, line)) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("stembox did not exit in {timeout:?}\n{}", self.transcript())
                }
            }
        }
        self.child.wait().ok().and_then(|s| s.code())
    }

    /// The thread ids of this process whose name is `name`.
    pub fn threads_named(&self, name: &str) -> Vec<i32> {
        let dir = format!("/proc/{}/task", self.pid());
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok())
            .filter(|e| {
                std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim_end() == name)
            })
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect()
    }
}

impl Drop for Stembox {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// The CPUs thread `tid` may run on.
pub fn affinity(tid: i32) -> Vec<usize> {
    // SAFETY: out-parameter of the right size.
    unsafe {
        let mut set: libc::cpu_set_t = core::mem::zeroed();
        if libc::sched_getaffinity(tid, core::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Scheduling policy of thread `tid` (`libc::SCHED_FIFO`, ...).
pub fn policy(tid: i32) -> i32 {
    // SAFETY: plain syscall.
    unsafe { libc::sched_getscheduler(tid) }
}

/// Every thread of process `pid` with its affinity.
pub fn thread_affinities(pid: u32) -> Vec<(i32, String, Vec<usize>)> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let tid: i32 = e.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            Some((tid, comm.trim_end().to_string(), affinity(tid)))
        })
        .collect()
}

/// Runs a SCHED_FIFO 99 busy loop on `cpu` for `duration`, from a thread of this process that
/// stops by itself. Everything of lower priority pinned to `cpu` gets no CPU meanwhile.
pub fn starve_cpu(cpu: usize, duration: Duration) -> Result<(), String> {
    std::thread::spawn(move || {
        pin_to(cpu).map_err(|e| format!("cannot pin the busy loop to CPU {cpu}: {e}"))?;
        let param = libc::sched_param { sched_priority: 99 };
        // SAFETY: the calling thread's own scheduling parameters.
        let r =
            unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
        if r != 0 {
            return Err(format!(
                "cannot make the busy loop SCHED_FIFO 99: {}",
                std::io::Error::from_raw_os_error(r)
            ));
        }
        let end = Instant::now() + duration;
        while Instant::now() < end {
            std::hint::spin_loop();
        }
        Ok(())
    })
    .join()
    .map_err(|_| "busy loop panicked".to_string())?
}

/// The `key=value` pairs of a text stats line as a lookup.
#[derive(Debug)]
pub struct Stats(pub Vec<(String, String)>);

impl Stats {
    pub fn parse(line: &str) -> Stats {
        Stats(
            stembox::telemetry::stats::parse_text(line)
                .unwrap_or_else(|| panic!("not a stats line: {line}")),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn num(&self, key: &str) -> f64 {
        self.get(key)
            .unwrap_or_else(|| panic!("no {key} in stats line"))
            .parse()
            .unwrap_or_else(|_| panic!("{key} is not a number"))
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}
