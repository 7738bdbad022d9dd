//! Shared helpers for the end-to-end tests: temp folders, generated stems, running the
//! real binary, reading raw ALSA `file` PCM output.
#![allow(dead_code)]

pub mod wav;

/// The encodings a test stem is written in.
pub use wav::Enc;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn stembox() -> &'static str {
    env!("CARGO_BIN_EXE_stembox")
}

/// A fresh folder for one test, under the target dir (removed at the start, kept after a
/// failure for inspection).
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Deterministic pseudo-random numbers in [-1, 1) (xorshift32).
pub struct Noise(u32);

impl Noise {
    pub fn new(seed: u32) -> Noise {
        Noise(seed.max(1))
    }
    pub fn next(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        (x as f64 / u32::MAX as f64) * 2.0 - 1.0
    }
}

/// A generated stem: its samples as the decoder will see them (f32 after int scaling),
/// interleaved with `channels` channels.
pub struct GenStem {
    pub name: &'static str,
    pub rate: u32,
    pub channels: u16,
    pub enc: Enc,
    pub samples: Vec<f32>,
}

impl GenStem {
    /// `frames` frames of seeded noise at `amp`, quantised to the encoding so that the
    /// values here are exactly what a decoder produces.
    pub fn noise(
        name: &'static str,
        rate: u32,
        channels: u16,
        enc: Enc,
        frames: usize,
        amp: f64,
        seed: u32,
    ) -> GenStem {
        let mut n = Noise::new(seed);
        let samples = (0..frames * channels as usize)
            .map(|_| quantise(enc, n.next() * amp))
            .collect();
        GenStem {
            name,
            rate,
            channels,
            enc,
            samples,
        }
    }

    pub fn frames(&self) -> usize {
        self.samples.len() / self.channels as usize
    }

    /// Left and right at `frame` as stembox places them (mono in both channels).
    pub fn lr(&self, frame: usize) -> (f64, f64) {
        if frame >= self.frames() {
            return (0.0, 0.0);
        }
        match self.channels {
            1 => {
                let v = self.samples[frame] as f64;
                (v, v)
            }
            _ => (
                self.samples[frame * 2] as f64,
                self.samples[frame * 2 + 1] as f64,
            ),
        }
    }

    /// Writes the stem as WAV at `path`.
    pub fn write_wav(&self, path: &Path) {
        wav::write(
            path,
            self.rate,
            self.channels,
            self.enc,
            self.samples.iter().copied(),
        );
    }

    /// Writes the stem as FLAC (through a WAV and the `flac` tool).
    pub fn write_flac(&self, path: &Path) {
        let wav = path.with_extension("tmp.wav");
        self.write_wav(&wav);
        run_tool(
            "flac",
            &[
                "--silent",
                "-f",
                "-o",
                path.to_str().unwrap(),
                wav.to_str().unwrap(),
            ],
        );
        std::fs::remove_file(wav).unwrap();
    }
}

/// The value a decoder yields for `x` written in `enc`.
pub fn quantise(enc: Enc, x: f64) -> f32 {
    match enc {
        Enc::I16 => ((x * 32768.0).round().clamp(-32768.0, 32767.0) / 32768.0) as f32,
        Enc::I24 => ((x * 8388608.0).round().clamp(-8388608.0, 8388607.0) / 8388608.0) as f32,
        // f32 holds 24 bits: what a 32-bit int decodes to after f32 conversion.
        Enc::I32 => {
            let i = (x * 2147483648.0)
                .round()
                .clamp(-2147483648.0, 2147483647.0) as i32;
            (i as f32) / 2147483648.0
        }
        Enc::F32 => x as f32,
    }
}

pub fn run_tool(tool: &str, args: &[&str]) {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} is needed by this test (install it: see README): {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn write_config(dir: &Path, json: &str) -> PathBuf {
    let p = dir.join("config.json");
    std::fs::write(&p, json).unwrap();
    p
}

pub fn run(args: &[&str]) -> Output {
    Command::new(stembox()).args(args).output().unwrap()
}

/// `stembox play --config CFG --song SONG --once EXTRA...`.
pub fn play_once(cfg: &Path, song: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "play",
        "--config",
        cfg.to_str().unwrap(),
        "--song",
        song,
        "--once",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `buffer_frames=N` from the `audio ...` line the binary prints.
pub fn granted_buffer_frames(stdout: &str) -> usize {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("audio "))
        .unwrap_or_else(|| panic!("no audio line in:\n{stdout}"));
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix("buffer_frames="))
        .unwrap()
        .parse()
        .unwrap()
}

/// Reads raw little-endian samples of `format` as f64 in units of the format's LSB
/// (integers) or as the float value (FLOAT_LE).
pub fn read_raw(path: &Path, format: &str) -> Vec<f64> {
    let bytes = std::fs::read(path).unwrap();
    match format {
        "S16_LE" => bytes
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]) as f64)
            .collect(),
        "S24_LE" | "S32_LE" => bytes
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect(),
        "FLOAT_LE" => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect(),
        f => panic!("unknown format {f}"),
    }
}

/// Full scale of a format in the units `read_raw` returns.
pub fn full_scale(format: &str) -> f64 {
    match format {
        "S16_LE" => 32768.0,
        "S24_LE" => 8388608.0,
        "S32_LE" => 2147483648.0,
        _ => 1.0,
    }
}

/// The device value the mix `x` (full scale 1.0) should become: clamp, scale, round.
pub fn expected_device_value(format: &str, x: f64) -> f64 {
    let fs = full_scale(format);
    let x = x.clamp(-1.0, 1.0);
    if format == "FLOAT_LE" {
        x
    } else {
        (x * fs).round().clamp(-fs, fs - 1.0)
    }
}

/// What [`run_measured`] saw of one run of the binary.
pub struct Measured {
    /// Exit code; `None` when killed by a signal (or by the timeout).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Peak resident memory of the child (`ru_maxrss` from `wait4`), in KiB.
    pub max_rss_kb: u64,
    /// CPU time the child used (user + system).
    pub cpu: std::time::Duration,
    pub elapsed: std::time::Duration,
    /// The timeout ran out and the child was killed.
    pub timed_out: bool,
}

/// Runs the binary with `args` (stdin empty), kills it after `timeout`, and measures its
/// peak RSS and CPU time with `wait4` (this child only, unlike `RUSAGE_CHILDREN`).
pub fn run_measured(args: &[&str], timeout: std::time::Duration) -> Measured {
    use std::io::Read;
    use std::process::Stdio;
    let t0 = std::time::Instant::now();
    let mut child = Command::new(stembox())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let (done, killed) = (done.clone(), killed.clone());
        std::thread::spawn(move || {
            while t0.elapsed() < timeout {
                if done.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            if !done.load(std::sync::atomic::Ordering::Relaxed) {
                killed.store(true, std::sync::atomic::Ordering::Relaxed);
                // SAFETY: kill(2) on our own child's pid, which is not reaped yet.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        })
    };
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to be overwritten.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child; status and ru are valid for writes.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert_eq!(r, pid, "wait4");
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    watchdog.join().unwrap();
    drop(child); // reaped by wait4 above (dropping a Child neither waits nor kills)
    let tv = |t: libc::timeval| {
        std::time::Duration::from_secs(t.tv_sec as u64)
            + std::time::Duration::from_micros(t.tv_usec as u64)
    };
    Measured {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        stdout: text(&out_t.join().unwrap()),
        stderr: text(&err_t.join().unwrap()),
        max_rss_kb: ru.ru_maxrss as u64,
        cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
        elapsed: t0.elapsed(),
        timed_out: killed.load(std::sync::atomic::Ordering::Relaxed),
    }
}

/// Makes a FIFO at `path`.
pub fn make_fifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: c is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// Frequency in Hz of a steady tone in `x` (one channel at `rate`), from its rising zero
/// crossings, linearly interpolated between samples; at least `min_crossings` of them.
pub fn zero_crossing_hz<T: Copy + Into<f64>>(x: &[T], rate: u32, min_crossings: u64) -> f64 {
    let (mut first, mut last, mut count) = (None, 0.0, 0u64);
    for w in x.windows(2).enumerate() {
        let (i, pair) = w;
        let (a, b): (f64, f64) = (pair[0].into(), pair[1].into());
        if a < 0.0 && b >= 0.0 {
            let t = i as f64 + a / (a - b);
            if first.is_none() {
                first = Some(t);
            } else {
                count += 1;
            }
            last = t;
        }
    }
    let first = first.expect("no zero crossing");
    assert!(count >= min_crossings, "too few crossings: {count}");
    count as f64 * rate as f64 / (last - first)
}

/// How far `measured` is from `expected`, in cents.
pub fn cents(measured: f64, expected: f64) -> f64 {
    1200.0 * (measured / expected).log2()
}
