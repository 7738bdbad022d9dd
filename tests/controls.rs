//! Controls end to end: the real binary on a real-time paced sink (`jackd -d dummy` through
//! alsa-lib's `jack` PCM, recorded by a `file` PCM stacked on it), a FIFO carrying raw
//! 24-byte `input_event` records as its button device, and generated noise stems whose mix
//! the test computes itself:
//! - a press of the mute key silences that stem from the next period on (after the ramp),
//!   and the output before equals the full mix, after it the mix without the stem, exactly;
//! - a loop region repeats sample-exactly (outside the wrap crossfade);
//! - the next-song key switches songs: the new song starts bit-exact from its first frame.
//!
//! Skips (and passes) only when `jackd` is not installed; CI installs it.

#[path = "support/jack.rs"]
mod jack;

use jack::*;
use std::io::Write;
use std::path::Path;
use std::time::Duration;
use stembox::hw::input::{encode_key, monotonic_now};

/// Period of the run; `STEMBOX_TEST_PERIOD=64` measures the button latency at 64x2.
fn period() -> usize {
    std::env::var("STEMBOX_TEST_PERIOD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}
const SONG_S: usize = 20;
/// A stereo FLOAT_LE frame in the recording.
const FRAME_BYTES: u64 = 8;

/// Noise stem values as the WAV decoder will produce them (16-bit quantised).
fn noise(seed: u32, frames: usize, channels: usize, amp: f32) -> Vec<f32> {
    let mut x = seed.max(1);
    (0..frames * channels)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let v = (x as f32 / u32::MAX as f32 * 2.0 - 1.0) * amp;
            (v * 32768.0).round() / 32768.0
        })
        .collect()
}

fn write_wav16(path: &Path, channels: u16, samples: &[f32]) {
    wav::write(path, RATE, channels, wav::Enc::I16, samples.iter().copied());
}

struct Songs {
    /// Song 1: stereo drums, mono bass (as stereo frames: L, R).
    drums: Vec<f32>,
    bass: Vec<f32>,
    /// Song 2: one stereo stem.
    keys: Vec<f32>,
}

impl Songs {
    fn full(&self, f: usize) -> [f32; 2] {
        [
            self.drums[2 * f] + self.bass[2 * f],
            self.drums[2 * f + 1] + self.bass[2 * f + 1],
        ]
    }
    fn bass_only(&self, f: usize) -> [f32; 2] {
        [self.bass[2 * f], self.bass[2 * f + 1]]
    }
}

fn make_library(lib: &Path) -> Songs {
    let frames = SONG_S * RATE as usize;
    let drums = noise(11, frames, 2, 0.3);
    let bass_mono = noise(22, frames, 1, 0.3);
    let keys = noise(33, frames, 2, 0.3);
    let s1 = lib.join("01-first");
    let s2 = lib.join("02-second");
    std::fs::create_dir_all(&s1).unwrap();
    std::fs::create_dir_all(&s2).unwrap();
    write_wav16(&s1.join("drums.wav"), 2, &drums);
    write_wav16(&s1.join("bass.wav"), 1, &bass_mono);
    write_wav16(&s2.join("keys.wav"), 2, &keys);
    Songs {
        drums,
        bass: bass_mono.iter().flat_map(|&v| [v, v]).collect(),
        keys,
    }
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// Presses and releases `key` through the FIFO (opened per press, like a device that comes
/// and goes; the input thread reopens it).
fn press(fifo: &Path, key: evdev::KeyCode) {
    let mut f = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
    let t = monotonic_now();
    let mut bytes = encode_key(key, true, t);
    bytes.extend(encode_key(key, false, t + Duration::from_millis(80)));
    f.write_all(&bytes).unwrap();
}

/// The recording as stereo frames, with device silence (prefill, xrun refills: runs of 16
/// or more exactly-zero frames, which noise stems never make) taken out.
fn engine_frames(raw: &[u8]) -> Vec<[f32; 2]> {
    let frames: Vec<[f32; 2]> = raw
        .chunks_exact(8)
        .map(|c| {
            [
                f32::from_le_bytes([c[0], c[1], c[2], c[3]]),
                f32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            ]
        })
        .collect();
    let mut out = Vec::with_capacity(frames.len());
    let mut i = 0;
    while i < frames.len() {
        let run = frames[i..].iter().take_while(|f| **f == [0.0, 0.0]).count();
        if run >= 16 {
            i += run;
        } else {
            out.push(frames[i]);
            i += 1;
        }
    }
    out
}

fn find(
    out: &[[f32; 2]],
    from: usize,
    want: impl Fn(usize) -> [f32; 2],
    len: usize,
) -> Option<usize> {
    (from..out.len().saturating_sub(len)).find(|&k| (0..len).all(|j| out[k + j] == want(j)))
}

#[test]
fn mute_key_loop_and_next_song_through_a_paced_device() {
    if jackd_path().is_none() {
        eprintln!("SKIP: jackd not installed (apt-get install jackd2 libasound2-plugins)");
        return;
    }
    let dir = temp_dir("controls");
    let jackd = Jackd::start(&dir, period() as u32);
    let rec = dir.join("rec.raw");
    write_asoundrc(&dir, &rec);
    let lib = dir.join("library");
    let songs = make_library(&lib);
    let fifo = dir.join("buttons");
    mkfifo(&fifo);
    let cfg = dir.join("config.json");
    std::fs::write(
        &cfg,
        format!(
            r#"{{ "library": "{}", "state_dir": "{}",
  "audio": {{ "device": "stembox_rec", "format": "FLOAT_LE", "period_frames": {}, "periods": 2 }},
  "rt": {{ "mlock": false, "cpu": {AUDIO_CPU} }}, "stats": {{ "interval_s": 0 }},
  "buttons": {{ "devices": ["{}"], "map": [
    {{ "key": "KEY_M", "gesture": "short", "action": "toggle_mute:drums" }},
    {{ "key": "KEY_N", "gesture": "short", "action": "next_song" }} ] }} }}"#,
            lib.display(),
            dir.join("state").display(),
            period(),
            fifo.display()
        ),
    )
    .unwrap();

    let mut sb = Stembox::spawn(
        env!("CARGO_BIN_EXE_stembox"),
        &dir,
        &jackd,
        &["run", "--config", cfg.to_str().unwrap()],
    );
    sb.expect_line(Duration::from_secs(30), |l| l == "ready");
    // Every wait below is in device time: as much audio again in the recording, which grows
    // as the device takes it (a jackd crawling on a loaded machine slows the test down).
    let wait_device_s = |s: f64| {
        let more = (s * f64::from(RATE)) as u64 * FRAME_BYTES;
        wait_for_recording(&rec, recorded_bytes(&rec) + more);
    };
    wait_device_s(0.8);
    press(&fifo, evdev::KeyCode::KEY_M);
    sb.expect_line(Duration::from_secs(5), |l| l.starts_with("ok drums mute=1"));
    let latency = sb.expect_line(Duration::from_secs(5), |l| l.starts_with("button "));
    println!("{latency}");
    wait_device_s(0.5);
    // Loop 5 s .. 6 s (the play head is before it: the engine seeks there).
    sb.send("loop 5 6");
    sb.expect_line(Duration::from_secs(5), |l| {
        l.starts_with("ok loop 5.000 6.000")
    });
    wait_device_s(3.2);
    press(&fifo, evdev::KeyCode::KEY_N);
    sb.expect_line(Duration::from_secs(10), |l| {
        l.starts_with("ok song 2 02-second")
    });
    wait_device_s(0.7);
    let stats = sb.stats();
    assert_eq!(
        sb.quit(Duration::from_secs(10)),
        Some(0),
        "{}",
        sb.transcript()
    );
    drop(jackd);

    let raw = std::fs::read(&rec).unwrap();
    let out = engine_frames(&raw);
    let xruns_free = stats.contains(" xruns=0 ");
    println!("{} frames recorded, {stats}", out.len());

    // 1. The song from its first frame, bit-exact, up to the mute.
    let start = find(&out, 0, |j| songs.full(j), 64).expect("song 1 start not found");
    let mut f = 0;
    while start + f < out.len() && out[start + f] == songs.full(f) {
        f += 1;
    }
    let mute_at = f;
    assert!(
        mute_at > RATE as usize / 2,
        "mute came too early: frame {mute_at}"
    );
    if xruns_free {
        // Engine frames run in periods from the song's first frame: the change starts at a
        // period boundary ("from the next period on").
        assert_eq!(
            mute_at % period(),
            0,
            "mute began mid-period at frame {mute_at}"
        );
    }
    // 2. The ramp only takes drums away (never overshoots), then exactly bass alone.
    let ramp = RATE as usize / 100; // GAIN_RAMP_MS = 10 ms
    for j in mute_at..mute_at + ramp {
        let (o, b, d) = (out[start + j], songs.bass_only(j), songs.full(j));
        for c in 0..2 {
            let (lo, hi) = (b[c].min(d[c]) - 1e-6, b[c].max(d[c]) + 1e-6);
            assert!(
                (lo..=hi).contains(&o[c]),
                "ramp frame {j}: {o:?} not between {b:?} and {d:?}"
            );
        }
    }
    let mut g = mute_at + ramp;
    while start + g < out.len() && out[start + g] == songs.bass_only(g) {
        g += 1;
    }
    assert!(
        g > mute_at + ramp + RATE as usize / 4,
        "after the mute the output left the bass-only mix at frame {g}"
    );

    // 3. The loop 5..6 s repeats: the middle of the region (well away from the crossfades)
    //    appears again and again exactly one loop length apart, each time sample-exact.
    let a = 5 * RATE as usize;
    let b = 6 * RATE as usize;
    let fade = RATE as usize * 8 / 1000; // FADE_MS = 8 ms
    let mut laps = Vec::new();
    let mut from = start + g;
    while let Some(k) = find(&out, from, |j| songs.bass_only(a + fade + j), 256) {
        laps.push(k);
        from = k + 256;
    }
    assert!(laps.len() >= 3, "loop did not repeat: laps at {laps:?}");
    // Every lap but the last (which the song change cuts short) is exact from just after
    // the crossfade to B.
    for (n, &k) in laps[..laps.len() - 1].iter().enumerate() {
        for j in 0..(b - a - fade) {
            assert_eq!(
                out[k + j],
                songs.bass_only(a + fade + j),
                "lap {n} frame {j}"
            );
        }
    }
    if xruns_free {
        for w in laps.windows(2) {
            assert_eq!(w[1] - w[0], b - a, "loop period");
        }
    }

    // 4. Next song: song 2 from its first frame, bit-exact, after song 1 faded out.
    let s2 = find(
        &out,
        from,
        |j| [songs.keys[2 * j], songs.keys[2 * j + 1]],
        64,
    )
    .expect("song 2 not found after the loop");
    let n = (out.len() - s2).min(RATE as usize / 4);
    for j in 0..n {
        assert_eq!(
            out[s2 + j],
            [songs.keys[2 * j], songs.keys[2 * j + 1]],
            "song 2 frame {j}"
        );
    }
    println!(
        "mute at song frame {mute_at}, {} loop laps, song 2 at output frame {s2}",
        laps.len()
    );
}
