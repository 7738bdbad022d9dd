//! Issue 13, hostile files: stems whose headers lie, songs over the memory budget, NaN in
//! float stems, and stems that are FIFOs or links to devices. Every file is generated here
//! (the bytes written in Rust), fed to the real binary, and the binary must answer with a
//! message naming the stem, within bounded memory and time, and keep running.

mod common;
use common::*;
use std::path::Path;
use std::time::Duration;

const RATE: u32 = 48_000;
/// Peak RSS allowed for a run that refuses or plays a small song: the binary, alsa-lib,
/// the decoder and a few MB of audio. The failures this guards against reach GBs.
const SMALL_RSS_KB: u64 = 120 * 1024;

/// A canonical WAV: `fmt ` (PCM = 1 or IEEE float = 3) and `data`; `data_len` and
/// `riff_len` are what the header claims, whatever `data` really holds.
fn wav_bytes(
    rate: u32,
    channels: u16,
    bits: u16,
    format_tag: u16,
    data: &[u8],
    data_len: u32,
    riff_len: u32,
) -> Vec<u8> {
    let block = channels * bits / 8;
    let mut v = Vec::new();
    v.extend(b"RIFF");
    v.extend(riff_len.to_le_bytes());
    v.extend(b"WAVE");
    v.extend(b"fmt ");
    v.extend(16u32.to_le_bytes());
    v.extend(format_tag.to_le_bytes());
    v.extend(channels.to_le_bytes());
    v.extend(rate.to_le_bytes());
    v.extend((rate.wrapping_mul(block as u32)).to_le_bytes());
    v.extend(block.to_le_bytes());
    v.extend(bits.to_le_bytes());
    v.extend(b"data");
    v.extend(data_len.to_le_bytes());
    v.extend(data);
    v
}

/// An honest 16-bit stereo WAV of `frames` frames of quiet noise.
fn honest_wav(rate: u32, frames: usize, seed: u32) -> Vec<u8> {
    let mut n = Noise::new(seed);
    let data: Vec<u8> = (0..frames * 2)
        .flat_map(|_| ((n.next() * 3000.0) as i16).to_le_bytes())
        .collect();
    let len = data.len() as u32;
    wav_bytes(rate, 2, 16, 1, &data, len, len + 36)
}

/// Rewrites the 36-bit total-samples field of a FLAC's STREAMINFO (bytes 8..42).
fn set_flac_total_samples(path: &Path, total: u64) {
    let mut b = std::fs::read(path).unwrap();
    assert_eq!(&b[..4], b"fLaC");
    assert_eq!(b[4] & 0x7f, 0, "STREAMINFO first");
    let si = 8;
    b[si + 13] = (b[si + 13] & 0xf0) | ((total >> 32) as u8 & 0x0f);
    b[si + 14..si + 18].copy_from_slice(&(total as u32).to_be_bytes());
    std::fs::write(path, b).unwrap();
}

fn config(dir: &Path, lib: &Path, raw: &Path, budget_mb: u32, format: &str) -> String {
    write_config(
        dir,
        &format!(
            r#"{{"library": "{}", "audio": {{"device": "file:FILE={},FORMAT=raw", "format": "{format}", "period_frames": 256, "periods": 3}}, "stats": {{"interval_s": 0}}, "rt": {{"mlock": false}}, "memory": {{"budget_mb": {budget_mb}}}, "state_dir": "{}"}}"#,
            lib.display(),
            raw.display(),
            dir.join("state").display()
        ),
    )
    .to_str()
    .unwrap()
    .to_string()
}

fn song_dir(lib: &Path, name: &str) -> std::path::PathBuf {
    let d = lib.join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn play(cfg: &str, song: &str) -> Measured {
    let m = run_measured(
        &["play", "--config", cfg, "--song", song, "--once"],
        Duration::from_secs(60),
    );
    println!(
        "play {song}: exit {:?}, {} ms, cpu {} ms, max RSS {} MB\n  stderr: {}",
        m.code,
        m.elapsed.as_millis(),
        m.cpu.as_millis(),
        m.max_rss_kb / 1024,
        m.stderr.trim()
    );
    assert!(!m.timed_out, "play {song} hung: {}", m.stderr);
    m
}

#[test]
fn headers_that_lie_are_bounded_by_the_file_and_refused_per_stem() {
    let dir = temp_dir("hostile-headers");
    let lib = dir.join("lib");
    // A 1 s FLAC whose STREAMINFO claims 2^36-1 samples (about 16 days at 48 kHz).
    let flac = song_dir(&lib, "01-flac-lies");
    GenStem::noise("drums", RATE, 2, Enc::I16, RATE as usize, 0.2, 1)
        .write_flac(&flac.join("drums.flac"));
    set_flac_total_samples(&flac.join("drums.flac"), (1 << 36) - 1);
    // WAVs claiming 1 Hz and 4294967295 Hz.
    let one_hz = song_dir(&lib, "02-one-hz");
    let data = vec![0u8; 4 * 10_000];
    std::fs::write(
        one_hz.join("bass.wav"),
        wav_bytes(1, 2, 16, 1, &data, 40_000, 40_036),
    )
    .unwrap();
    let four_g = song_dir(&lib, "03-four-ghz");
    std::fs::write(
        four_g.join("bass.wav"),
        wav_bytes(u32::MAX, 2, 16, 1, &data, 40_000, 40_036),
    )
    .unwrap();
    // A 1 s WAV whose sizes claim 4 GB of data.
    let huge = song_dir(&lib, "04-huge-data");
    let mut w = honest_wav(RATE, RATE as usize, 2);
    w[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    w[40..44].copy_from_slice(&(u32::MAX - 64).to_le_bytes());
    std::fs::write(huge.join("keys.wav"), w).unwrap();
    let cfg = config(&dir, &lib, &dir.join("out.raw"), 256, "S16_LE");

    // The lying lengths: the stems play what is really in them, with a warning.
    for (song, stem) in [("01-flac-lies", "drums.flac"), ("04-huge-data", "keys.wav")] {
        let m = play(&cfg, song);
        assert_eq!(m.code, Some(0), "{song}: {}", m.stderr);
        assert!(
            m.stderr.contains(stem) && m.stderr.contains("header claims"),
            "{song}: {}",
            m.stderr
        );
        assert!(m.max_rss_kb < SMALL_RSS_KB, "{song}: {} KB", m.max_rss_kb);
        let frames = std::fs::metadata(dir.join("out.raw")).unwrap().len() / 4;
        assert!(
            (RATE as u64..RATE as u64 + 8192).contains(&frames),
            "{song}: {frames} frames played, the stem holds {RATE}"
        );
    }
    // The impossible rates: a one-line error naming the stem, no allocation failure.
    for song in ["02-one-hz", "03-four-ghz"] {
        let m = play(&cfg, song);
        assert_eq!(m.code, Some(1), "{song}: {}", m.stderr);
        assert!(
            m.stderr.contains("bass.wav")
                && m.stderr.contains("sample rate")
                && m.stderr.contains("refused"),
            "{song}: {}",
            m.stderr
        );
        assert!(!m.stderr.contains("memory allocation"), "{}", m.stderr);
        assert!(m.max_rss_kb < SMALL_RSS_KB, "{song}: {} KB", m.max_rss_kb);
    }
    // `check` finds what `play` finds.
    let m = run_measured(&["check", "--config", &cfg], Duration::from_secs(60));
    let all = format!("{}{}", m.stdout, m.stderr);
    assert!(!m.timed_out && m.code == Some(1), "{all}");
    assert!(
        all.contains("drums.flac") && all.contains("header claims"),
        "{all}"
    );
    assert!(all.contains("4294967295 Hz"), "{all}");
}

#[test]
fn a_song_over_the_memory_budget_is_refused_before_and_while_decoding() {
    let dir = temp_dir("hostile-budget");
    let lib = dir.join("lib");
    let small = song_dir(&lib, "01-small");
    std::fs::write(small.join("click.wav"), honest_wav(RATE, RATE as usize, 3)).unwrap();
    // 2 stems x 12 s stereo at 48 kHz: 9.2 MB decoded, over a 4 MB budget.
    let big = song_dir(&lib, "02-big");
    for (name, seed) in [("bass", 4), ("drums", 5)] {
        std::fs::write(
            big.join(format!("{name}.wav")),
            honest_wav(RATE, 12 * RATE as usize, seed),
        )
        .unwrap();
    }
    // The same size as FLACs whose headers give no length (total samples 0): only the
    // decoder can find out.
    let unknown = song_dir(&lib, "03-no-length");
    for (name, seed) in [("bass", 6), ("drums", 7)] {
        let p = unknown.join(format!("{name}.flac"));
        GenStem::noise("x", RATE, 2, Enc::I16, 12 * RATE as usize, 0.2, seed).write_flac(&p);
        set_flac_total_samples(&p, 0);
    }
    let cfg = config(&dir, &lib, &dir.join("out.raw"), 4, "S16_LE");

    let m = play(&cfg, "02-big");
    assert_eq!(m.code, Some(1), "{}", m.stderr);
    assert!(
        m.stderr.contains("song 02-big: needs 9 MB")
            && m.stderr.contains("over memory.budget_mb = 4"),
        "{}",
        m.stderr
    );
    assert!(
        m.elapsed < Duration::from_secs(5),
        "refused from the headers, not decoded"
    );

    let m = play(&cfg, "03-no-length");
    assert_eq!(m.code, Some(1), "{}", m.stderr);
    assert!(
        m.stderr.contains("decoding passed memory.budget_mb = 4") && m.stderr.contains(".flac"),
        "{}",
        m.stderr
    );
    assert!(m.max_rss_kb < SMALL_RSS_KB, "{} KB", m.max_rss_kb);

    let m = play(&cfg, "01-small");
    assert_eq!(
        m.code,
        Some(0),
        "a song within the budget plays: {}",
        m.stderr
    );

    // In `run`, the big song is a neighbour: refused with a warning while 01 plays on.
    let mut sb = Appliance::start(&cfg);
    sb.expect(|l| l == "ready");
    sb.send("song 2");
    sb.expect(|l| l == "error: cannot load song 02-big");
    sb.send("status");
    sb.expect(|l| l.starts_with("status song=01-small"));
    sb.send("quit");
    sb.expect(|l| l == "ok quit");
    let (code, stderr) = sb.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("over memory.budget_mb = 4"), "{stderr}");
}

#[test]
fn nan_and_infinite_float_samples_are_silenced_at_load() {
    let dir = temp_dir("hostile-nan");
    let lib = dir.join("lib");
    let song = song_dir(&lib, "01-nan");
    let frames = 4_800;
    let mut stem = GenStem::noise("keys", RATE, 2, Enc::F32, frames, 0.3, 8);
    let bad = [
        (100, f32::NAN),
        (101, f32::INFINITY),
        (2_001, f32::NEG_INFINITY),
        (4_000, -f32::NAN),
    ];
    for (i, v) in bad {
        stem.samples[i] = v;
    }
    stem.write_wav(&song.join("keys.wav"));
    let raw = dir.join("out.raw");
    let cfg = config(&dir, &lib, &raw, 64, "FLOAT_LE");
    let m = play(&cfg, "01-nan");
    assert_eq!(m.code, Some(0), "{}", m.stderr);
    assert!(
        m.stderr
            .contains("keys.wav: 4 NaN or infinite samples replaced by silence"),
        "{}",
        m.stderr
    );
    let out = read_raw(&raw, "FLOAT_LE");
    assert!(
        out.iter().all(|v| v.is_finite()),
        "a non-finite sample reached the device"
    );
    // The song starts at the first non-zero sample; line it up and compare exactly.
    let start = out.iter().position(|&v| v != 0.0).unwrap() & !1;
    for (i, &want) in stem.samples.iter().enumerate() {
        let want = if want.is_finite() { want as f64 } else { 0.0 };
        assert_eq!(out[start + i], want, "sample {i}");
    }
}

#[test]
fn stems_that_are_fifos_or_devices_are_refused_without_hanging() {
    let dir = temp_dir("hostile-special");
    let lib = dir.join("lib");
    let good = song_dir(&lib, "01-good");
    std::fs::write(good.join("click.wav"), honest_wav(RATE, 4_800, 9)).unwrap();
    let fifo = song_dir(&lib, "02-fifo");
    make_fifo(&fifo.join("drums.wav"));
    let zero = song_dir(&lib, "03-zero");
    std::os::unix::fs::symlink("/dev/zero", zero.join("bass.flac")).unwrap();
    let cfg = config(&dir, &lib, &dir.join("out.raw"), 64, "S16_LE");

    let m = run_measured(&["check", "--config", &cfg], Duration::from_secs(30));
    let all = format!("{}{}", m.stdout, m.stderr);
    println!(
        "check: {} ms, max RSS {} MB\n{all}",
        m.elapsed.as_millis(),
        m.max_rss_kb / 1024
    );
    assert!(!m.timed_out, "check hung: {all}");
    assert_eq!(m.code, Some(1), "{all}");
    assert!(
        all.contains("drums.wav: is a FIFO (named pipe), not a regular file"),
        "{all}"
    );
    assert!(
        all.contains("bass.flac: is a character device, not a regular file"),
        "{all}"
    );

    for (song, why) in [("02-fifo", "a FIFO"), ("03-zero", "a character device")] {
        let m = play(&cfg, song);
        assert_eq!(m.code, Some(1), "{song}: {}", m.stderr);
        assert!(
            m.stderr.contains(why) && m.stderr.contains("refused"),
            "{song}: {}",
            m.stderr
        );
        assert!(m.max_rss_kb < SMALL_RSS_KB, "{song}: {} KB", m.max_rss_kb);
    }
    assert_eq!(play(&cfg, "01-good").code, Some(0));
}

/// `stembox run` with stdin and stdout as pipes, read line by line.
struct Appliance {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Appliance {
    fn start(cfg: &str) -> Appliance {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let mut child = Command::new(stembox())
            .args(["run", "--config", cfg])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Appliance {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    fn send(&mut self, line: &str) {
        use std::io::Write;
        writeln!(self.stdin, "{line}").unwrap();
    }

    fn expect(&mut self, want: impl Fn(&str) -> bool) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
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

    fn finish(mut self) -> (Option<i32>, String) {
        use std::io::Read;
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (status.code(), err)
    }
}

fn run_demo(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_stembox-demo"))
        .args(args)
        .output()
        .expect("stembox-demo")
}

#[test]
fn demo_library_refuses_a_folder_with_songs_unless_forced() {
    let dir = temp_dir("hostile-demo");
    let lib = dir.join("lib");
    let mine = song_dir(&lib, "01-my-song");
    std::fs::write(mine.join("vox.wav"), honest_wav(RATE, 480, 1)).unwrap();
    std::fs::write(lib.join("setlist.json"), "[\"01-my-song\"]").unwrap();
    let out = run_demo(&[lib.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("not empty") && text(&out.stderr).contains("--force"));
    assert_eq!(
        std::fs::read_to_string(lib.join("setlist.json")).unwrap(),
        "[\"01-my-song\"]"
    );
    assert_eq!(
        std::fs::read_dir(&lib).unwrap().count(),
        2,
        "nothing written"
    );
    // A new or empty folder needs no --force; --force writes over the songs.
    let fresh = dir.join("fresh");
    assert!(run_demo(&[fresh.to_str().unwrap()]).status.success());
    let out = run_demo(&["--force", lib.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_ne!(
        std::fs::read_to_string(lib.join("setlist.json")).unwrap(),
        "[\"01-my-song\"]"
    );
}
