//! End to end through alsa-lib: generated stems, the real binary playing into a `file` PCM
//! over `null`, and the bytes written compared with a mix computed here.

mod common;
use common::*;
use std::path::Path;

/// Song `exact`: stems at the device rate in several encodings, mono and stereo, of
/// different lengths. Song `resampled`: a 44.1 kHz sine against the 48 kHz device, beside
/// a 48 kHz stem.
struct Library {
    exact: Vec<GenStem>,
    sine_hz: f64,
    sine_amp: f64,
    sine_frames_44k: usize,
    resampled_partner: GenStem,
}

const SINE_STEM: &str = "lead";

fn make_library(root: &Path) -> Library {
    let exact = vec![
        GenStem::noise("bass", 48_000, 1, Enc::I24, 30_000, 0.2, 1),
        GenStem::noise("drums", 48_000, 2, Enc::I16, 48_000, 0.25, 2),
        GenStem::noise("keys", 48_000, 2, Enc::F32, 40_000, 0.2, 3),
        GenStem::noise("pad", 48_000, 1, Enc::I32, 45_000, 0.15, 4),
        GenStem::noise("vox", 48_000, 2, Enc::I16, 47_500, 0.1, 5),
    ];
    let song = root.join("01-exact");
    std::fs::create_dir_all(&song).unwrap();
    exact[0].write_flac(&song.join("bass.flac"));
    exact[1].write_wav(&song.join("drums.wav"));
    exact[2].write_wav(&song.join("keys.wav"));
    exact[3].write_wav(&song.join("pad.wav"));
    exact[4].write_flac(&song.join("vox.flac"));

    // A 1 kHz sine at 44.1 kHz, 16-bit stereo FLAC.
    let sine_hz = 1000.0;
    let sine_amp = 0.4;
    let sine_frames_44k = 44_100;
    let mut samples = Vec::new();
    for i in 0..sine_frames_44k {
        let v = quantise(
            Enc::I16,
            (i as f64 * sine_hz * std::f64::consts::TAU / 44_100.0).sin() * sine_amp,
        );
        samples.push(v);
        samples.push(-v);
    }
    let sine = GenStem {
        name: SINE_STEM,
        rate: 44_100,
        channels: 2,
        enc: Enc::I16,
        samples,
    };
    let partner = GenStem::noise("click", 48_000, 1, Enc::I16, 24_000, 0.1, 9);
    let song = root.join("02-resampled");
    std::fs::create_dir_all(&song).unwrap();
    sine.write_flac(&song.join("lead.flac"));
    partner.write_wav(&song.join("click.wav"));
    Library {
        exact,
        sine_hz,
        sine_amp,
        sine_frames_44k,
        resampled_partner: partner,
    }
}

/// Plays `song` once into a raw file; returns the samples and the prefill length.
fn play_to_raw(dir: &Path, song: &str, format: &str) -> (Vec<f64>, usize) {
    let raw = dir.join(format!("{song}-{format}.raw"));
    let _ = std::fs::remove_file(&raw);
    let cfg = write_config(
        dir,
        &format!(
            r#"{{"library": "{}", "audio": {{"device": "file:FILE={},FORMAT=raw", "format": "{format}", "period_frames": 256, "periods": 3}}, "stats": {{"interval_s": 0}}, "rt": {{"mlock": false}}}}"#,
            dir.join("lib").display(),
            raw.display()
        ),
    );
    let out = play_once(&cfg, song, &[]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "play failed: {}\n{stdout}",
        text(&out.stderr)
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("stats ")),
        "no final stats line:\n{stdout}"
    );
    (read_raw(&raw, format), granted_buffer_frames(&stdout))
}

const FORMATS: [&str; 4] = ["S16_LE", "S24_LE", "S32_LE", "FLOAT_LE"];

/// Allowed difference from the independent mix, in the units of `read_raw`. The mix is f32
/// inside stembox (24-bit mantissa), so S32_LE is exact to 24 bits: 256 of its LSBs.
fn tolerance(format: &str) -> f64 {
    match format {
        "S16_LE" | "S24_LE" => 1.0,
        "S32_LE" => 256.0,
        _ => 1e-6,
    }
}

#[test]
fn exact_mix_in_every_device_format() {
    let dir = temp_dir("playback-exact");
    let lib = make_library(&dir.join("lib"));
    let frames = lib.exact.iter().map(|s| s.frames()).max().unwrap();
    for format in FORMATS {
        let (out, prefill) = play_to_raw(&dir, "01-exact", format);
        let samples_per_frame = 2;
        assert!(
            out.len() >= (prefill + frames) * samples_per_frame,
            "{format}: output too short"
        );
        assert!(
            out[..prefill * 2].iter().all(|&v| v == 0.0),
            "{format}: prefill is not silence"
        );
        let tol = tolerance(format);
        let mut worst = 0.0f64;
        for f in 0..frames {
            let (mut l, mut r) = (0.0, 0.0);
            for s in &lib.exact {
                let (a, b) = s.lr(f);
                l += a;
                r += b;
            }
            for (c, want) in [(0, l), (1, r)] {
                let got = out[(prefill + f) * 2 + c];
                let want = expected_device_value(format, want);
                let d = (got - want).abs();
                worst = worst.max(d);
                assert!(
                    d <= tol,
                    "{format}: frame {f} ch {c}: got {got}, want {want} (tolerance {tol})"
                );
            }
        }
        // Nothing cut, nothing added: after the song only silence.
        assert!(
            out[(prefill + frames) * 2..].iter().all(|&v| v == 0.0),
            "{format}: output continues after the song"
        );
        println!("{format}: {frames} frames match, worst difference {worst}");
    }
}

#[test]
fn resampled_stem_matches_the_tone_at_the_device_rate() {
    let dir = temp_dir("playback-resampled");
    let lib = make_library(&dir.join("lib"));
    let (out, prefill) = play_to_raw(&dir, "02-resampled", "FLOAT_LE");
    // ceil(44100 * 48000 / 44100) frames: the song is exactly one second at 48 kHz.
    let frames = (lib.sine_frames_44k as u64 * 48_000).div_ceil(44_100) as usize;
    assert_eq!(frames, 48_000);
    // The resampler's filter rings at the abrupt start and end of the tone: the stated
    // tolerance holds from 5 ms in to 5 ms before the end, and is 1e-4 of full scale
    // (-80 dB) in between; the partner stem (no resampling) is exact.
    let edge = 240;
    let mut worst = 0.0f64;
    for f in edge..frames - edge {
        let t = f as f64 / 48_000.0;
        let tone = (t * lib.sine_hz * std::f64::consts::TAU).sin() * lib.sine_amp;
        let (p, _) = lib.resampled_partner.lr(f);
        let (l, r) = (out[(prefill + f) * 2], out[(prefill + f) * 2 + 1]);
        worst = worst
            .max((l - (tone + p)).abs())
            .max((r - (-tone + p)).abs());
    }
    println!("resampled: worst difference {worst:e} of full scale");
    assert!(worst < 1e-4, "resampled tone off by {worst}");
    // And the song's length is exact: one second, then silence.
    assert!(out[(prefill + frames) * 2..].iter().all(|&v| v == 0.0));
    assert!(out[(prefill + frames - 1) * 2..(prefill + frames) * 2]
        .iter()
        .any(|&v| v != 0.0));
}

#[test]
fn lossy_stems_mp3_and_vorbis_decode_to_the_right_tone_and_length() {
    let dir = temp_dir("playback-lossy");
    let song = dir.join("lib").join("01-lossy");
    std::fs::create_dir_all(&song).unwrap();
    // sox makes the tones; it writes MP3 (libmp3lame) and Ogg Vorbis.
    run_tool(
        "sox",
        &[
            "-n",
            "-r",
            "48000",
            "-c",
            "1",
            song.join("a.mp3").to_str().unwrap(),
            "synth",
            "2",
            "sine",
            "440",
            "vol",
            "0.3",
        ],
    );
    run_tool(
        "sox",
        &[
            "-n",
            "-r",
            "48000",
            "-c",
            "2",
            song.join("b.ogg").to_str().unwrap(),
            "synth",
            "2",
            "sine",
            "880",
            "vol",
            "0.3",
        ],
    );
    let (out, prefill) = play_to_raw(&dir, "01-lossy", "FLOAT_LE");
    let body: Vec<f64> = out[prefill * 2..].iter().step_by(2).copied().collect();
    let last_sound = body.iter().rposition(|v| v.abs() > 1e-3).unwrap();
    let secs = last_sound as f64 / 48_000.0;
    assert!((1.95..2.1).contains(&secs), "length {secs} s");
    // 440 + 880 Hz at 0.3 each: RMS of the sum is 0.3 (two sines of 0.3/sqrt 2).
    let mid = &body[24_000..72_000];
    let rms = (mid.iter().map(|v| v * v).sum::<f64>() / mid.len() as f64).sqrt();
    assert!((rms - 0.3).abs() < 0.03, "rms {rms}");
    // The sum's fundamental repeats every 1/440 s: autocorrelation at that lag is high.
    let lag = 48_000 / 440;
    let num: f64 = mid[..mid.len() - lag]
        .iter()
        .zip(&mid[lag..])
        .map(|(a, b)| a * b)
        .sum();
    let den: f64 = mid.iter().map(|v| v * v).sum();
    assert!(
        num / den > 0.9,
        "not the expected tones: autocorrelation {}",
        num / den
    );
}
