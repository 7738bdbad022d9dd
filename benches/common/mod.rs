//! What the benchmarks share: test audio generated in code (never downloaded).

use std::path::Path;
use std::process::Command;

/// Writes a 24-bit FLAC stem of `seconds` at `rate` that compresses like music: three
/// partials under a slow envelope plus a little noise, different per `stem`; `channels`
/// 1 or 2. Needs the `flac` tool.
pub fn write_stem(path: &Path, stem: usize, channels: u16, seconds: usize, rate: u32) {
    let wav = path.with_extension("wav");
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 24,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&wav, spec).unwrap();
    let mut x: u32 = 0x9e37_79b9 ^ stem as u32;
    let f0 = 55.0 * (1 + stem) as f64;
    for i in 0..seconds * rate as usize {
        let t = i as f64 / rate as f64;
        let env = 0.5 + 0.5 * (t * 0.5 * (1 + stem % 3) as f64).sin();
        let tone = (t * f0 * std::f64::consts::TAU).sin() * 0.5
            + (t * f0 * 2.01 * std::f64::consts::TAU).sin() * 0.25
            + (t * f0 * 3.02 * std::f64::consts::TAU).sin() * 0.12;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let noise = (x as f64 / u32::MAX as f64 - 0.5) * 0.02;
        let v = (tone * env * 0.1 + noise) * 8_388_607.0;
        w.write_sample(v as i32).unwrap();
        if channels == 2 {
            w.write_sample((v * 0.9) as i32).unwrap();
        }
    }
    w.finalize().unwrap();
    let ok = Command::new("flac")
        .args(["--silent", "-f", "-o"])
        .arg(path)
        .arg(&wav)
        .status()
        .expect("the benchmarks need the flac tool (apt-get install flac)");
    assert!(ok.success());
    std::fs::remove_file(wav).unwrap();
}
