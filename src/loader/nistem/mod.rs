//! NI Stems files (`<song>/<name>.stem.mp4`): one MP4 holding the song's stereo master on
//! its first audio track and its stems (four in NI's format) on the tracks after it, AAC or
//! ALAC, with a JSON manifest in `moov/udta/stem` naming the stems ([`atom`]).
//!
//! Each track is decoded into its own stem in one pass over the file (symphonia's isomp4
//! demuxer hands out every track's packets in file order), resampled to the device rate
//! like any stem. The stems are named from the manifest (`stem1`.. where it says nothing
//! usable); the master becomes the extra stem [`MASTER_STEM`], muted, which the `mix`
//! command plays in place of the stems ([`crate::model::song::Song::master_stem`]).
//! Everything decoded is charged against the memory budget as it arrives, like
//! [`crate::loader`] does for a stem file. Loader and control threads.

pub mod atom;

use crate::loader::{check_rate, resample_stereo, LoadError, LoadOptions, MAX_SAMPLE_ABS};
use crate::model::library::{SongEntry, StemFile};
use crate::model::song::Stem;
use crate::rt::MAX_STEMS;
use std::path::Path;
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

/// Name of the stem that holds an NI Stems file's master track.
pub const MASTER_STEM: &str = "master";
/// Most audio tracks taken from one file: the master and up to 16 stems.
pub const MAX_TRACKS: usize = 1 + atom::MAX_MANIFEST_STEMS;
/// Bytes of one decoded frame in RAM: stereo f32.
const FRAME_BYTES: u64 = 8;

/// Whether `path` names an NI Stems file (`*.stem.mp4`, or `*.stem.m4a` as some tools
/// write), by name as the library scan knows files.
pub fn is_ni_stem_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    name.ends_with(".stem.mp4") || name.ends_with(".stem.m4a")
}

fn load_err(path: &Path, what: impl std::fmt::Display) -> LoadError {
    LoadError {
        message: format!("{}: {what}", path.display()),
    }
}

/// One track of an NI Stems file as its headers and manifest describe it.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackInfo {
    /// Stem name: [`MASTER_STEM`] for the first track, else from the manifest.
    pub name: String,
    /// `#RRGGBB` from the manifest, as 0xRRGGBB.
    pub color: Option<u32>,
    pub codec: String,
    pub rate: u32,
    pub channels: usize,
    /// Frames the header claims (0 when it gives no length).
    pub frames: u64,
}

/// What [`probe`] finds: the tracks (master first) and what the manifest said.
#[derive(Clone, Debug, PartialEq)]
pub struct FileInfo {
    pub tracks: Vec<TrackInfo>,
    /// The manifest's trouble, if it is missing or unreadable (names fall back).
    pub manifest_note: Option<String>,
}

struct Opened {
    reader: Box<dyn symphonia::core::formats::FormatReader>,
    /// Track ids and codec parameters of the audio tracks, master first.
    tracks: Vec<(u32, AudioCodecParameters, Option<u64>)>,
    names: Vec<String>,
    colors: Vec<Option<u32>>,
    manifest_note: Option<String>,
    file_bytes: u64,
}

fn open(path: &Path) -> Result<Opened, LoadError> {
    let (mut file, file_bytes) = crate::base::fsread::open_regular_file(path, "stem")
        .map_err(|message| LoadError { message })?;
    let (manifest, manifest_note) = match atom::read_manifest(&mut file, file_bytes) {
        Ok(Some(bytes)) => match atom::parse_manifest(&bytes) {
            Ok(m) => (Some(m), None),
            Err(e) => (None, Some(e.0)),
        },
        Ok(None) => (None, Some("no stem manifest (moov/udta/stem)".to_string())),
        Err(e) => return Err(load_err(path, format!("not a readable MP4: {e}"))),
    };
    use std::io::Seek;
    file.rewind()
        .map_err(|e| load_err(path, format!("cannot rewind: {e}")))?;
    let mss = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    hint.with_extension("mp4");
    let reader = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| load_err(path, format!("not a supported MP4 file: {e}")))?;
    let tracks: Vec<_> = reader
        .tracks()
        .iter()
        .filter_map(|t| {
            let params = t.codec_params.as_ref()?.audio()?.clone();
            Some((t.id, params, t.num_frames))
        })
        .collect();
    if tracks.len() < 2 {
        return Err(load_err(
            path,
            format!(
                "has {} audio track(s); an NI Stems file has a master and its stems \
                 (rename it to .mp4 to play its first track as one stem)",
                tracks.len()
            ),
        ));
    }
    if tracks.len() > MAX_TRACKS {
        return Err(load_err(
            path,
            format!(
                "has {} audio tracks; stembox takes at most {MAX_TRACKS} (a master and {} stems)",
                tracks.len(),
                MAX_TRACKS - 1
            ),
        ));
    }
    for (_, params, _) in &tracks {
        if let Some(rate) = params.sample_rate {
            check_rate(path, rate)?;
        }
    }
    let stems = tracks.len() - 1;
    let mut names = vec![MASTER_STEM.to_string()];
    names.extend(atom::stem_names(manifest.as_ref(), stems));
    let mut colors = vec![None];
    colors.extend((0..stems).map(|i| {
        manifest
            .as_ref()
            .and_then(|m| m.stems.get(i))
            .and_then(|s| s.color)
    }));
    Ok(Opened {
        reader,
        tracks,
        names,
        colors,
        manifest_note,
        file_bytes,
    })
}

fn codec_name(params: &AudioCodecParameters) -> String {
    symphonia::default::get_codecs()
        .get_audio_decoder(params.codec)
        .map(|d| d.codec.info.short_name.to_string())
        .unwrap_or_else(|| "an unsupported codec".to_string())
}

/// Reads the headers and the manifest of an NI Stems file (for `check`).
pub fn probe(path: &Path) -> Result<FileInfo, LoadError> {
    let opened = open(path)?;
    let tracks = opened
        .tracks
        .iter()
        .zip(opened.names.iter().zip(&opened.colors))
        .map(|((_, params, frames), (name, color))| TrackInfo {
            name: name.clone(),
            color: *color,
            codec: codec_name(params),
            rate: params.sample_rate.unwrap_or(0),
            channels: params.channels.as_ref().map_or(0, |c| c.count()),
            frames: frames.unwrap_or(0),
        })
        .collect();
    Ok(FileInfo {
        tracks,
        manifest_note: opened.manifest_note,
    })
}

/// One decoded track at its own rate: interleaved stereo (a mono track in both channels).
pub struct DecodedTrack {
    pub name: String,
    pub rate: u32,
    pub stereo: Vec<f32>,
}

/// Every track of an NI Stems file decoded, master first.
pub struct DecodedFile {
    pub tracks: Vec<DecodedTrack>,
    /// Damaged packets skipped, NaN/huge samples silenced or clamped: one line each.
    pub warnings: Vec<String>,
    /// The manifest is missing or unreadable (the stems are named stem1..): a note, not
    /// damage.
    pub manifest_note: Option<String>,
}

struct TrackDecode {
    id: u32,
    name: String,
    decoder: Box<dyn symphonia::core::codecs::audio::AudioDecoder>,
    rate: u32,
    stereo: Vec<f32>,
    /// Bytes this track will take at the device rate, charged so far.
    charged_bytes: u64,
    bad_packets: usize,
    fixed_samples: usize,
}

/// Decodes every audio track of the NI Stems file at `path` in one pass, holding the whole
/// file to `limit_bytes` of decoded audio counted at `device_rate` (each track's own rate
/// when `None`).
pub fn decode_file(
    path: &Path,
    device_rate: Option<u32>,
    limit_bytes: u64,
    opts: &LoadOptions,
) -> Result<DecodedFile, LoadError> {
    let mut opened = open(path)?;
    let mut warnings = Vec::new();
    let manifest_note = opened.manifest_note.as_ref().map(|note| {
        format!(
            "{}: {note}; stems named stem1..stem{}",
            path.display(),
            opened.tracks.len() - 1
        )
    });
    // The first reservation trusts a header only as far as the file could hold it (a
    // compressed frame is never below ~1/8192 of a byte) and the budget goes.
    let per_track_cap = (limit_bytes / FRAME_BYTES) / opened.tracks.len() as u64;
    let plausible = opened
        .file_bytes
        .saturating_mul(crate::loader::MAX_FRAMES_PER_BYTE);
    let mut tracks = Vec::with_capacity(opened.tracks.len());
    for ((id, params, frames), name) in opened.tracks.iter().zip(&opened.names) {
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(params, &AudioDecoderOptions::default())
            .map_err(|e| load_err(path, format!("track \"{name}\": cannot decode: {e}")))?;
        let first = frames.unwrap_or(0).min(plausible).min(per_track_cap);
        tracks.push(TrackDecode {
            id: *id,
            name: name.clone(),
            decoder,
            rate: params.sample_rate.unwrap_or(0),
            stereo: Vec::with_capacity(first as usize * 2),
            charged_bytes: 0,
            bad_packets: 0,
            fixed_samples: 0,
        });
    }
    let mut used_bytes = 0u64;
    let mut packet_buf: Vec<f32> = Vec::new();
    loop {
        if opts.cancelled() {
            return Err(load_err(path, "loading called off (stembox is stopping)"));
        }
        let packet = match opened.reader.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => {
                for t in &mut tracks {
                    t.decoder.reset();
                }
                continue;
            }
            Err(e) => return Err(load_err(path, format!("read error: {e}"))),
        };
        let Some(t) = tracks.iter_mut().find(|t| t.id == packet.track_id) else {
            continue;
        };
        let buf = match t.decoder.decode(&packet) {
            Ok(b) => b,
            Err(SymError::DecodeError(_)) => {
                t.bad_packets += 1;
                continue;
            }
            Err(e) => {
                return Err(load_err(
                    path,
                    format!("track \"{}\": decode error: {e}", t.name),
                ))
            }
        };
        let rate = buf.spec().rate();
        check_rate(path, rate)?;
        if t.rate != 0 && rate != t.rate && !t.stereo.is_empty() {
            return Err(load_err(
                path,
                format!(
                    "track \"{}\" changes rate from {} to {rate} Hz mid-stream",
                    t.name, t.rate
                ),
            ));
        }
        t.rate = rate;
        let channels = buf.spec().channels().count();
        if !(1..=2).contains(&channels) {
            return Err(load_err(
                path,
                format!(
                    "track \"{}\" has {channels} channels; stems must be mono or stereo",
                    t.name
                ),
            ));
        }
        buf.copy_to_vec_interleaved::<f32>(&mut packet_buf);
        for s in packet_buf.iter_mut() {
            if !s.is_finite() {
                *s = 0.0;
                t.fixed_samples += 1;
            } else if s.abs() > MAX_SAMPLE_ABS {
                *s = s.clamp(-MAX_SAMPLE_ABS, MAX_SAMPLE_ABS);
                t.fixed_samples += 1;
            }
        }
        let frames_after = (t.stereo.len() + packet_buf.len() / channels * 2) as u64 / 2;
        let at_rate = device_rate.unwrap_or(rate);
        let need =
            (frames_after as u128 * at_rate as u128).div_ceil(rate as u128) as u64 * FRAME_BYTES;
        if need > t.charged_bytes {
            used_bytes = used_bytes.saturating_add(need - t.charged_bytes);
            t.charged_bytes = need;
            if used_bytes > limit_bytes {
                return Err(load_err(
                    path,
                    format!(
                        "decoding passed memory.budget_mb = {} at {:.1} s of track \"{}\" \
                         (the song does not fit in RAM); song refused",
                        limit_bytes.div_ceil(1024 * 1024),
                        frames_after as f64 / rate as f64,
                        t.name
                    ),
                ));
            }
        }
        if channels == 1 {
            t.stereo.reserve(packet_buf.len() * 2);
            for &s in &packet_buf {
                t.stereo.push(s);
                t.stereo.push(s);
            }
        } else {
            t.stereo.extend_from_slice(&packet_buf);
        }
    }
    let mut out = Vec::with_capacity(tracks.len());
    for t in tracks {
        if t.rate == 0 {
            return Err(load_err(
                path,
                format!("track \"{}\": unknown sample rate", t.name),
            ));
        }
        if t.bad_packets > 0 {
            warnings.push(format!(
                "{}: track \"{}\": {} damaged packets skipped",
                path.display(),
                t.name,
                t.bad_packets
            ));
        }
        if t.fixed_samples > 0 {
            warnings.push(format!(
                "{}: track \"{}\": {} NaN, infinite or beyond +24 dBFS samples silenced or \
                 clamped",
                path.display(),
                t.name,
                t.fixed_samples
            ));
        }
        out.push(DecodedTrack {
            name: t.name,
            rate: t.rate,
            stereo: t.stereo,
        });
    }
    Ok(DecodedFile {
        tracks: out,
        warnings,
        manifest_note,
    })
}

/// Named interleaved stereo stems at the device rate, master first, and the warnings.
pub type LoadedFile = (Vec<(String, Vec<f32>)>, Vec<String>);

/// Decodes an NI Stems file into named stereo stems at `device_rate`, master first, within
/// `limit_bytes`. The tracks are resampled in parallel (one per core).
pub fn load_file(
    path: &Path,
    device_rate: u32,
    limit_bytes: u64,
    opts: &LoadOptions,
) -> Result<LoadedFile, LoadError> {
    let mut decoded = decode_file(path, Some(device_rate), limit_bytes, opts)?;
    decoded.warnings.extend(decoded.manifest_note.take());
    // Each worker takes a track, resamples it and frees its source at once: the peak is
    // the decoded file plus a worker's output or two, not twice the file.
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(decoded.tracks.len());
    let total = decoded.tracks.len();
    let queue = std::sync::Mutex::new(decoded.tracks.into_iter().enumerate());
    let done = std::sync::Mutex::new(Vec::with_capacity(total));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let next = queue.lock().map(|mut q| q.next()).unwrap_or(None);
                let Some((i, t)) = next else { break };
                let r = resample_stereo(&t.stereo, t.rate, device_rate, opts);
                let name = t.name;
                if let Ok(mut d) = done.lock() {
                    d.push((i, name, r));
                }
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_default();
    if done.len() != total {
        return Err(load_err(path, "a resampler thread failed"));
    }
    done.sort_by_key(|(i, _, _)| *i);
    let mut stems = Vec::with_capacity(total);
    for (_, name, r) in done {
        let samples = r.map_err(|e| load_err(path, format!("track \"{name}\": {e}")))?;
        stems.push((name, samples));
    }
    Ok((stems, decoded.warnings))
}

/// The NI Stems file among a song folder's files, if any (the loader's hook): the
/// folder's other files, and the NI file. Two NI files in one folder are refused.
pub fn split_song_files(entry: &SongEntry) -> Result<(SongEntry, Option<StemFile>), LoadError> {
    let (ni, plain): (Vec<_>, Vec<_>) = entry
        .stems
        .iter()
        .cloned()
        .partition(|s| is_ni_stem_file(&s.path));
    if ni.len() > 1 {
        return Err(LoadError {
            message: format!(
                "song {}: {} NI Stems files ({}); keep one per song folder",
                entry.name,
                ni.len(),
                ni.iter()
                    .map(|s| s.path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    let plain_entry = SongEntry {
        stems: plain,
        ..entry.clone()
    };
    Ok((plain_entry, ni.into_iter().next()))
}

/// Decodes the NI Stems file `ni_file` of song `entry` whole (its tracks are interleaved in
/// one file, so it is read in one pass before the song can start) into stems placed after
/// the song's `taken` stem files: the four stems, then the master, muted (its index in the
/// returned list is the second value). A name already taken by a stem file gets an `ni_`
/// prefix, with a warning. `limit_bytes`: what the memory budget leaves.
pub fn load_stems(
    entry: &SongEntry,
    ni_file: &StemFile,
    taken: &[String],
    device_rate: u32,
    limit_bytes: u64,
    opts: &LoadOptions,
    warnings: &mut Vec<String>,
) -> Result<(Vec<Stem>, Option<usize>), LoadError> {
    let (decoded, notes) = load_file(&ni_file.path, device_rate, limit_bytes, opts)?;
    warnings.extend(notes);
    if taken.len() + decoded.len() > MAX_STEMS {
        return Err(LoadError {
            message: format!(
                "song {}: {} stems with the NI Stems file's, stembox mixes at most {MAX_STEMS}",
                entry.name,
                taken.len() + decoded.len()
            ),
        });
    }
    // The manifest's colours, for the screens (a file whose header reads no more gives none).
    let colours: Vec<(String, Option<u32>)> = probe(&ni_file.path)
        .map(|info| info.tracks.into_iter().map(|t| (t.name, t.color)).collect())
        .unwrap_or_default();
    let mut stems: Vec<Stem> = Vec::new();
    let mut master = None;
    for (name, samples) in decoded {
        let colour = colours
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, c)| *c);
        let is_master = master.is_none() && name == MASTER_STEM;
        let name = if taken.iter().any(|s| s.eq_ignore_ascii_case(&name)) {
            let renamed = format!("ni_{name}");
            warnings.push(format!(
                "{}: stem \"{name}\" is also a stem file's name; the NI stem is \"{renamed}\"",
                ni_file.path.display()
            ));
            renamed
        } else {
            name
        };
        let mut stem = Stem::new(name, samples.into_boxed_slice());
        stem.colour = colour;
        if is_master {
            stem.muted = true;
            master = Some(stem);
        } else {
            stems.push(stem);
        }
    }
    let master_ix = master.is_some().then_some(stems.len());
    stems.extend(master);
    Ok((stems, master_ix))
}
