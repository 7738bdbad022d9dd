//! Decoding songs into RAM: symphonia (FLAC, WAV 16/24/32-bit int and float, MP3, Vorbis),
//! mono placed in both channels, resampled to the device rate with rubato's FFT resampler,
//! stems padded with silence to the longest. Stems decode in parallel on all cores.
//! Loader or control thread; the audio thread only ever sees the finished [`Song`].

use crate::library::{SongEntry, StemFile};
use crate::rt::MAX_STEMS;
use crate::song::{Section, Song, Stem};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};
use std::fmt;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

/// A stem or song that cannot be loaded; the message names the file.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadError {
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LoadError {}

fn load_err(path: &Path, what: impl fmt::Display) -> LoadError {
    LoadError {
        message: format!("{}: {what}", path.display()),
    }
}

/// What a stem file holds, from its header (and a full decode where the header has no
/// length).
#[derive(Clone, Debug, PartialEq)]
pub struct StemInfo {
    pub codec: String,
    pub rate: u32,
    pub channels: usize,
    pub bits_per_sample: Option<u32>,
    pub frames: u64,
}

impl StemInfo {
    pub fn duration_s(&self) -> f64 {
        self.frames as f64 / self.rate.max(1) as f64
    }
}

/// A decoded stem at its own rate: interleaved stereo f32.
pub struct DecodedStem {
    pub rate: u32,
    pub source_channels: usize,
    pub stereo: Vec<f32>,
    /// Packets that failed to decode and were skipped (corrupt data).
    pub bad_packets: usize,
}

impl DecodedStem {
    pub fn frames(&self) -> usize {
        self.stereo.len() / 2
    }
}

struct Opened {
    reader: Box<dyn symphonia::core::formats::FormatReader>,
    track_id: u32,
    params: symphonia::core::codecs::audio::AudioCodecParameters,
    num_frames: Option<u64>,
}

fn open(path: &Path) -> Result<Opened, LoadError> {
    let file = File::open(path).map_err(|e| load_err(path, format!("cannot open: {e}")))?;
    let mss = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let reader = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| load_err(path, format!("not a supported audio file: {e}")))?;
    let track = reader
        .default_track(TrackType::Audio)
        .ok_or_else(|| load_err(path, "no audio track"))?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|c| c.audio())
        .cloned()
        .ok_or_else(|| load_err(path, "no audio codec parameters"))?;
    Ok(Opened {
        track_id: track.id,
        num_frames: track.num_frames,
        params,
        reader,
    })
}

fn codec_name(params: &symphonia::core::codecs::audio::AudioCodecParameters) -> String {
    symphonia::default::get_codecs()
        .get_audio_decoder(params.codec)
        .map(|d| d.codec.info.short_name.to_string())
        .unwrap_or_else(|| format!("{:?}", params.codec))
}

/// Reads a stem's header; decodes it to count frames only where the header has no length.
pub fn probe_stem(path: &Path) -> Result<StemInfo, LoadError> {
    let opened = open(path)?;
    let codec = codec_name(&opened.params);
    let rate = opened.params.sample_rate;
    let channels = opened.params.channels.as_ref().map(|c| c.count());
    let bits = opened.params.bits_per_sample;
    let (rate, channels, frames) = match (rate, channels, opened.num_frames) {
        (Some(r), Some(c), Some(n)) => (r, c, n),
        _ => {
            drop(opened);
            let d = decode_stem(path)?;
            (d.rate, d.source_channels, d.frames() as u64)
        }
    };
    if !(1..=2).contains(&channels) {
        return Err(load_err(
            path,
            format!("has {channels} channels; stems must be mono or stereo"),
        ));
    }
    Ok(StemInfo {
        codec,
        rate,
        channels,
        bits_per_sample: bits,
        frames,
    })
}

/// Decodes a whole stem into interleaved stereo f32 at its own rate.
pub fn decode_stem(path: &Path) -> Result<DecodedStem, LoadError> {
    let mut opened = open(path)?;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&opened.params, &AudioDecoderOptions::default())
        .map_err(|e| load_err(path, format!("cannot decode: {e}")))?;
    let mut rate = opened.params.sample_rate.unwrap_or(0);
    let mut channels = opened.params.channels.as_ref().map_or(0, |c| c.count());
    let capacity = opened.num_frames.unwrap_or(0) as usize * 2;
    let mut stereo: Vec<f32> = Vec::with_capacity(capacity);
    let mut packet_buf: Vec<f32> = Vec::new();
    let mut bad_packets = 0;
    loop {
        let packet = match opened.reader.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => {
                decoder.reset();
                continue;
            }
            Err(e) => return Err(load_err(path, format!("read error: {e}"))),
        };
        if packet.track_id != opened.track_id {
            continue;
        }
        let buf = match decoder.decode(&packet) {
            Ok(b) => b,
            Err(SymError::DecodeError(_)) => {
                bad_packets += 1;
                continue;
            }
            Err(e) => return Err(load_err(path, format!("decode error: {e}"))),
        };
        rate = buf.spec().rate();
        channels = buf.spec().channels().count();
        buf.copy_to_vec_interleaved::<f32>(&mut packet_buf);
        match channels {
            1 => {
                stereo.reserve(packet_buf.len() * 2);
                for &s in &packet_buf {
                    stereo.push(s);
                    stereo.push(s);
                }
            }
            2 => stereo.extend_from_slice(&packet_buf),
            n => {
                return Err(load_err(
                    path,
                    format!("has {n} channels; stems must be mono or stereo"),
                ))
            }
        }
    }
    if rate == 0 {
        return Err(load_err(path, "unknown sample rate"));
    }
    Ok(DecodedStem {
        rate,
        source_channels: channels,
        stereo,
        bad_packets,
    })
}

/// Resamples interleaved stereo from `from_hz` to `to_hz` (rubato FFT resampler; output
/// length exactly `ceil(frames * to / from)`, the resampler's delay trimmed).
pub fn resample_stereo(input: &[f32], from_hz: u32, to_hz: u32) -> Result<Vec<f32>, String> {
    if from_hz == to_hz {
        return Ok(input.to_vec());
    }
    let frames = input.len() / 2;
    let mut resampler =
        Fft::<f32>::new(from_hz as usize, to_hz as usize, 1024, 2, FixedSync::Input)
            .map_err(|e| format!("resampler {from_hz} -> {to_hz} Hz: {e}"))?;
    let adapter = InterleavedSlice::new(input, 2, frames).map_err(|e| e.to_string())?;
    let out = resampler
        .process_all(&adapter, frames, None)
        .map_err(|e| format!("resampling {from_hz} -> {to_hz} Hz: {e}"))?;
    // Exact integer length: rubato's float ratio can round one frame over.
    let want = (frames as u64 * to_hz as u64).div_ceil(from_hz as u64) as usize;
    let mut data = out.take_data();
    data.resize(want * 2, 0.0);
    Ok(data)
}

/// Progress of a song load: stems finished out of all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
}

/// Loads a whole song at `device_rate`, stems in parallel on all cores. `progress` is called
/// on the calling thread after each stem.
pub fn load_song(
    entry: &SongEntry,
    device_rate: u32,
    progress: &mut dyn FnMut(Progress),
) -> Result<Song, LoadError> {
    if entry.stems.len() > MAX_STEMS {
        return Err(LoadError {
            message: format!(
                "song {}: {} stems, stembox mixes at most {MAX_STEMS}",
                entry.name,
                entry.stems.len()
            ),
        });
    }
    if entry.stems.is_empty() {
        return Err(LoadError {
            message: format!("song {}: no stem files", entry.name),
        });
    }
    let total = entry.stems.len();
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(total);
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, Result<Vec<f32>, LoadError>)>();
    let mut results: Vec<Option<Vec<f32>>> = (0..total).map(|_| None).collect();
    let mut first_error = None;
    std::thread::scope(|scope| {
        for w in 0..workers {
            let tx = tx.clone();
            let next = &next;
            let stems = &entry.stems;
            let spawned = std::thread::Builder::new()
                .name(format!("stembox-load{w}"))
                .spawn_scoped(scope, move || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= stems.len() {
                        break;
                    }
                    let r = load_stem(&stems[i], device_rate);
                    if tx.send((i, r)).is_err() {
                        break;
                    }
                });
            if let Err(e) = spawned {
                first_error.get_or_insert(LoadError {
                    message: format!("cannot start a loader thread: {e}"),
                });
            }
        }
        drop(tx);
        for (done, (i, r)) in rx.into_iter().enumerate() {
            let done = done + 1;
            match r {
                Ok(samples) => results[i] = Some(samples),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
            progress(Progress { done, total });
        }
    });
    if let Some(e) = first_error {
        return Err(e);
    }
    let frames = results
        .iter()
        .map(|r| r.as_ref().map_or(0, |s| s.len() / 2))
        .max()
        .unwrap_or(0);
    let stems = entry
        .stems
        .iter()
        .zip(results)
        .map(|(file, samples)| {
            let mut samples = samples.unwrap_or_default();
            samples.resize(frames * 2, 0.0);
            Stem::new(file.name.clone(), samples.into_boxed_slice())
        })
        .collect();
    Ok(Song::new(entry.name.clone(), device_rate, stems))
}

/// [`load_song`], then `song.json` (title, bpm, metre, stem gain/pan/mute, sections)
/// applied. A bad `song.json` is a warning, and the song plays with defaults. Returns the
/// song and the warnings, one line each.
pub fn load_song_with_meta(
    entry: &SongEntry,
    device_rate: u32,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Song, Vec<String>), LoadError> {
    let mut song = load_song(entry, device_rate, progress)?;
    let mut warnings = Vec::new();
    let meta = match &entry.meta_path {
        Some(path) => match crate::songmeta::load_song_json(path) {
            Ok(m) => m,
            Err(e) => {
                warnings.push(e);
                None
            }
        },
        None => None,
    };
    if let Some(meta) = meta {
        let where_ = entry.meta_path.as_ref().map(|p| p.display().to_string());
        let where_ = where_.unwrap_or_default();
        warnings.extend(meta.warnings.iter().map(|w| format!("{where_}: {w}")));
        apply_meta(&mut song, &meta, &where_, &mut warnings);
    }
    Ok((song, warnings))
}

fn apply_meta(
    song: &mut Song,
    meta: &crate::songmeta::SongMeta,
    where_: &str,
    warnings: &mut Vec<String>,
) {
    if let Some(title) = &meta.title {
        song.title = title.clone();
    }
    song.bpm = meta.bpm.map(|b| b as f32);
    song.beats_per_bar = meta.metre().beats_per_bar;
    for sm in &meta.stems {
        let Some(stem) = song.stems_mut().iter_mut().find(|s| s.name == sm.name) else {
            warnings.push(format!(
                "{where_}: stem \"{}\" has no file in the song folder; ignored",
                sm.name
            ));
            continue;
        };
        if let Some(db) = sm.gain_db {
            stem.gain = crate::rt::ramp::db_to_gain(db);
        }
        if let Some(pan) = sm.pan {
            stem.pan = pan.clamp(-1.0, 1.0);
        }
        if let Some(mute) = sm.mute {
            stem.muted = mute;
        }
    }
    song.sections = meta
        .section_frames(song.rate)
        .into_iter()
        .map(|(name, start_frame)| Section {
            name,
            start_frame: start_frame.min(song.frames()),
        })
        .collect();
}

fn load_stem(file: &StemFile, device_rate: u32) -> Result<Vec<f32>, LoadError> {
    let decoded = decode_stem(&file.path)?;
    resample_stereo(&decoded.stereo, decoded.rate, device_rate).map_err(|e| load_err(&file.path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_keeps_a_tone_at_its_frequency_and_length() {
        let from = 44_100;
        let to = 48_000;
        let frames = from as usize; // one second
        let f = 1000.0;
        let input: Vec<f32> = (0..frames)
            .flat_map(|i| {
                let s = (i as f32 * f * core::f32::consts::TAU / from as f32).sin() * 0.5;
                [s, -s]
            })
            .collect();
        let out = resample_stereo(&input, from, to).unwrap();
        assert_eq!(out.len() / 2, to as usize);
        // Away from the edges the output is the same tone sampled at 48 kHz.
        let mut max_err = 0.0f32;
        for i in 1000..47_000 {
            let want = (i as f32 * f * core::f32::consts::TAU / to as f32).sin() * 0.5;
            max_err = max_err.max((out[i * 2] - want).abs());
            assert_eq!(out[i * 2], -out[i * 2 + 1]);
        }
        assert!(max_err < 1e-3, "max error {max_err}");
    }

    #[test]
    fn same_rate_is_a_copy() {
        let v = vec![0.1, 0.2, 0.3, 0.4];
        assert_eq!(resample_stereo(&v, 48_000, 48_000).unwrap(), v);
    }
}
