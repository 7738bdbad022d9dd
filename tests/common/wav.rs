//! WAV stems for the end-to-end tests, written by `hound`: one writer for every test, so no
//! test carries its own RIFF header code, where a wrong byte would pass for a loader bug.
//! (`tests/hostile_files.rs` keeps its hand-made RIFF bytes: those are broken on purpose.)
//!
//! Used as `common::wav` by the tests that share `tests/common/`, and by path from
//! `tests/support/jack.rs` and the tests that stand alone.
#![allow(dead_code)]

use std::path::Path;

/// How a stem's samples are stored in the file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Enc {
    I16,
    I24,
    I32,
    F32,
}

impl Enc {
    /// Bits per sample and sample format, as hound names them.
    fn hound_format(self) -> (u16, hound::SampleFormat) {
        match self {
            Enc::I16 => (16, hound::SampleFormat::Int),
            Enc::I24 => (24, hound::SampleFormat::Int),
            Enc::I32 => (32, hound::SampleFormat::Int),
            Enc::F32 => (32, hound::SampleFormat::Float),
        }
    }

    /// The integer that 1.0 stands for (what a decoder divides by); `None` for float.
    pub fn full_scale(self) -> Option<f64> {
        match self {
            Enc::I16 => Some(32_768.0),
            Enc::I24 => Some(8_388_608.0),
            Enc::I32 => Some(2_147_483_648.0),
            Enc::F32 => None,
        }
    }
}

fn create(
    path: &Path,
    rate: u32,
    channels: u16,
    enc: Enc,
) -> hound::WavWriter<std::io::BufWriter<std::fs::File>> {
    let (bits_per_sample, sample_format) = enc.hound_format();
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample,
        sample_format,
    };
    hound::WavWriter::create(path, spec)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()))
}

fn finish<W: std::io::Write + std::io::Seek>(w: hound::WavWriter<W>, path: &Path) {
    w.finalize()
        .unwrap_or_else(|e| panic!("cannot finish {}: {e}", path.display()));
}

/// Writes interleaved `samples` (nominally in [-1, 1)) as a WAV of `enc` at `rate`. Integer
/// encodings store `sample * full scale` rounded toward zero, saturated: a value already
/// quantised to `enc` is stored exactly, so the test knows what the decoder gives back.
pub fn write(
    path: &Path,
    rate: u32,
    channels: u16,
    enc: Enc,
    samples: impl IntoIterator<Item = f32>,
) {
    let mut w = create(path, rate, channels, enc);
    for s in samples {
        // `as` saturates: full scale itself (1.0) becomes the largest code.
        let r = match enc.full_scale() {
            None => w.write_sample(s),
            Some(fs) if enc == Enc::I16 => w.write_sample((f64::from(s) * fs) as i16),
            Some(fs) => w.write_sample((f64::from(s) * fs) as i32),
        };
        r.unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
    finish(w, path);
}

/// Writes interleaved 16-bit `samples` as they are, as a WAV at `rate`.
pub fn write_i16(path: &Path, rate: u32, channels: u16, samples: impl IntoIterator<Item = i16>) {
    let mut w = create(path, rate, channels, Enc::I16);
    for s in samples {
        w.write_sample(s)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
    finish(w, path);
}
