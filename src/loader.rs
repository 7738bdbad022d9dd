//! Decoding songs into RAM: symphonia (FLAC, WAV 16/24/32-bit int and float, MP3, Vorbis,
//! AAC and ALAC in MP4; NI Stems files in [`crate::nistem`]),
//! mono placed in both channels, resampled to the device rate with rubato's FFT resampler,
//! stems padded with silence to the longest. Stems decode in parallel on all cores.
//! Loader or control thread; the audio thread only ever sees the finished [`Song`].
//!
//! Files on a card can lie. Nothing here is sized from a header: a stem's first
//! reservation is bounded by what its file can hold ([`plausible_frames`]) and by the
//! memory budget, and decoding grows the buffer as real samples arrive. The budget
//! (`memory.budget_mb`, [`set_memory_budget_mb`]) holds for every song: estimated from the
//! headers before decoding (a song that cannot fit is refused at once) and enforced while
//! decoding (the headers may lie), so an excess is a one-line error naming the stem,
//! never an allocation failure that takes the box down. Sample rates outside
//! [`MIN_STEM_RATE_HZ`]..=[`MAX_STEM_RATE_HZ`] are refused (a resampler for 1 Hz or
//! 4294967295 Hz would need gigabytes), NaN or infinite float samples become silence, and
//! samples beyond +24 dBFS are clamped there.

use crate::model::library::{SongEntry, StemFile};
use crate::model::song::{Section, Song, Stem};
use crate::rt::MAX_STEMS;
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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
    /// NaN or infinite samples (replaced by silence) and samples beyond +24 dBFS (clamped).
    pub nonfinite_samples: usize,
}

impl DecodedStem {
    pub fn frames(&self) -> usize {
        self.stereo.len() / 2
    }
}

/// Largest sample magnitude kept from a (float) stem: +24 dBFS. Beyond it a file is garbage.
pub const MAX_SAMPLE_ABS: f32 = 16.0;
/// Lowest stem sample rate accepted: below it a header is lying or the file is not music.
pub const MIN_STEM_RATE_HZ: u32 = 1_000;
/// Highest stem sample rate accepted (DXD is 352.8 kHz; 768 kHz is the highest in use).
pub const MAX_STEM_RATE_HZ: u32 = 768_000;
/// Most frames one byte of a compressed stem can expand to. FLAC's densest frame (a
/// constant subframe: about 11 bytes for up to 65535 samples) gives about 6000; a header
/// claiming more than this much is lying about its length.
pub const MAX_FRAMES_PER_BYTE: u64 = 8192;
/// The memory budget when nobody set one: the config's default `memory.budget_mb`.
pub const DEFAULT_BUDGET_MB: u32 = 1024;
/// Bytes of one decoded frame in RAM: stereo f32.
const FRAME_BYTES: u64 = 8;
const MIB: u64 = 1024 * 1024;

static BUDGET_BYTES: AtomicU64 = AtomicU64::new(DEFAULT_BUDGET_MB as u64 * MIB);

/// Sets the memory budget every later song load is held to (`memory.budget_mb`; at
/// least 1). Called by the main thread once the config is read.
pub fn set_memory_budget_mb(mb: u32) {
    BUDGET_BYTES.store(mb.max(1) as u64 * MIB, Ordering::Relaxed);
}

/// The budget in bytes that [`load_song`] and [`decode_stem`] hold to.
pub fn memory_budget_bytes() -> u64 {
    BUDGET_BYTES.load(Ordering::Relaxed)
}

fn budget_mb_text(limit_bytes: u64) -> String {
    format!("memory.budget_mb = {}", limit_bytes.div_ceil(MIB))
}

/// Decoded bytes one song load may take, shared by its stem decoders: each charges what
/// its stem will take at the device rate as its samples arrive, so the whole song stops at
/// the limit even when every header lies.
pub struct Budget {
    limit_bytes: u64,
    used_bytes: AtomicU64,
}

impl Budget {
    pub fn new(limit_bytes: u64) -> Budget {
        Budget {
            limit_bytes,
            used_bytes: AtomicU64::new(0),
        }
    }

    /// Takes `bytes` more; `false` (and nothing taken) when that would pass the limit.
    fn charge(&self, bytes: u64) -> bool {
        let mut used = self.used_bytes.load(Ordering::Relaxed);
        loop {
            let want = used.saturating_add(bytes);
            if want > self.limit_bytes {
                return false;
            }
            match self.used_bytes.compare_exchange_weak(
                used,
                want,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => used = now,
            }
        }
    }
}

/// Frames `frames` at `from_hz` become at `to_hz` (the resampler's exact length).
fn frames_at(frames: u64, from_hz: u32, to_hz: u32) -> u64 {
    if from_hz == to_hz || from_hz == 0 {
        return frames;
    }
    (frames as u128 * to_hz as u128).div_ceil(from_hz as u128) as u64
}

/// The most frames a file of `file_bytes` can hold: exact for PCM (WAV), a generous bound
/// for compressed codecs ([`MAX_FRAMES_PER_BYTE`]).
pub fn plausible_frames(
    codec: &str,
    channels: usize,
    bits_per_sample: Option<u32>,
    file_bytes: u64,
) -> u64 {
    if codec.starts_with("pcm") {
        let bytes = bits_per_sample.unwrap_or(8).div_ceil(8).max(1) as u64;
        file_bytes / (channels.max(1) as u64 * bytes)
    } else {
        file_bytes.saturating_mul(MAX_FRAMES_PER_BYTE)
    }
}

struct Opened {
    reader: Box<dyn symphonia::core::formats::FormatReader>,
    track_id: u32,
    params: symphonia::core::codecs::audio::AudioCodecParameters,
    num_frames: Option<u64>,
    file_bytes: u64,
}

fn open(path: &Path) -> Result<Opened, LoadError> {
    let (file, file_bytes) = crate::storage::fsread::open_regular_file(path, "stem")
        .map_err(|message| LoadError { message })?;
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
    if let Some(rate) = params.sample_rate {
        check_rate(path, rate)?;
    }
    Ok(Opened {
        track_id: track.id,
        num_frames: track.num_frames,
        params,
        reader,
        file_bytes,
    })
}

fn check_rate(path: &Path, rate: u32) -> Result<(), LoadError> {
    if (MIN_STEM_RATE_HZ..=MAX_STEM_RATE_HZ).contains(&rate) {
        Ok(())
    } else {
        Err(load_err(
            path,
            format!(
                "sample rate {rate} Hz is outside {MIN_STEM_RATE_HZ}..{MAX_STEM_RATE_HZ} Hz \
                 (a damaged or hostile header); stem refused"
            ),
        ))
    }
}

fn codec_name(params: &symphonia::core::codecs::audio::AudioCodecParameters) -> String {
    symphonia::default::get_codecs()
        .get_audio_decoder(params.codec)
        .map(|d| d.codec.info.short_name.to_string())
        .unwrap_or_else(|| "an unsupported codec".to_string())
}

/// What a stem's header says, checked against its file: read before decoding to estimate a
/// song's size.
struct HeaderClaim {
    rate: u32,
    /// Frames the header claims, if it gives a length.
    claimed_frames: Option<u64>,
    /// Most frames the file can hold.
    plausible_frames: u64,
}

impl HeaderClaim {
    /// Frames to expect: the claim, unless the file cannot hold it (a header proven
    /// wrong says nothing; decoding finds the length, within the budget).
    fn expected_frames(&self) -> Option<u64> {
        self.claimed_frames.filter(|&n| n <= self.plausible_frames)
    }

    fn lies(&self) -> bool {
        self.claimed_frames
            .is_some_and(|n| n > self.plausible_frames)
    }
}

fn read_claim(path: &Path) -> Result<HeaderClaim, LoadError> {
    let opened = open(path)?;
    let codec = codec_name(&opened.params);
    let channels = opened.params.channels.as_ref().map_or(1, |c| c.count());
    if channels > 2 {
        return Err(load_err(
            path,
            format!("has {channels} channels; stems must be mono or stereo"),
        ));
    }
    Ok(HeaderClaim {
        rate: opened.params.sample_rate.unwrap_or(0),
        claimed_frames: opened.num_frames,
        plausible_frames: plausible_frames(
            &codec,
            channels,
            opened.params.bits_per_sample,
            opened.file_bytes,
        ),
    })
}

/// Reads a stem's header; decodes it to count frames only where the header has no length
/// (within the memory budget). A header claiming more frames than the file can hold is
/// reported as an error here: this is what `check` shows.
pub fn probe_stem(path: &Path) -> Result<StemInfo, LoadError> {
    let opened = open(path)?;
    let codec = codec_name(&opened.params);
    let rate = opened.params.sample_rate;
    let channels = opened.params.channels.as_ref().map(|c| c.count());
    let bits = opened.params.bits_per_sample;
    let file_bytes = opened.file_bytes;
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
    let most = plausible_frames(&codec, channels, bits, file_bytes);
    if frames > most {
        return Err(load_err(
            path,
            format!(
                "header claims {frames} frames ({:.0} s) but the file ({file_bytes} bytes) \
                 holds at most {most}: damaged or hostile header",
                frames as f64 / rate.max(1) as f64
            ),
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

/// Decodes a whole stem into interleaved stereo f32 at its own rate, within the memory
/// budget ([`memory_budget_bytes`]).
pub fn decode_stem(path: &Path) -> Result<DecodedStem, LoadError> {
    decode_stem_within(path, &Budget::new(memory_budget_bytes()), None)
}

/// [`decode_stem`], charging `budget` with what the stem will take at `device_rate` (its
/// own rate when `None`) as samples arrive; the error names the stem and the budget.
pub fn decode_stem_within(
    path: &Path,
    budget: &Budget,
    device_rate: Option<u32>,
) -> Result<DecodedStem, LoadError> {
    let mut opened = open(path)?;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&opened.params, &AudioDecoderOptions::default())
        .map_err(|e| load_err(path, format!("cannot decode: {e}")))?;
    let mut rate = opened.params.sample_rate.unwrap_or(0);
    let mut channels = opened.params.channels.as_ref().map_or(0, |c| c.count());
    // The first reservation trusts the header only as far as the file and the budget go;
    // beyond that the buffer grows with the samples that really arrive.
    let codec = codec_name(&opened.params);
    let most = plausible_frames(
        &codec,
        channels,
        opened.params.bits_per_sample,
        opened.file_bytes,
    );
    let first_frames = opened
        .num_frames
        .unwrap_or(0)
        .min(most)
        .min(budget.limit_bytes / FRAME_BYTES);
    let mut stereo: Vec<f32> = Vec::with_capacity(first_frames as usize * 2);
    let mut packet_buf: Vec<f32> = Vec::new();
    let mut bad_packets = 0;
    let mut nonfinite_samples = 0;
    let mut charged_bytes = 0u64;
    loop {
        if loads_cancelled() {
            return Err(load_err(path, "loading called off (stembox is stopping)"));
        }
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
        check_rate(path, rate)?;
        channels = buf.spec().channels().count();
        buf.copy_to_vec_interleaved::<f32>(&mut packet_buf);
        // A float stem may carry NaN or infinities; on a FLOAT_LE device they would reach
        // the card as they are (and poison every mix they are summed into). Absurdly large
        // finite values (a float file of garbage: 1e38) overflow the resampler's FFT into
        // the same; no real stem goes past +24 dBFS, so anything beyond is counted with them
        // and clamped there.
        for s in packet_buf.iter_mut() {
            if !s.is_finite() {
                *s = 0.0;
                nonfinite_samples += 1;
            } else if s.abs() > MAX_SAMPLE_ABS {
                *s = s.clamp(-MAX_SAMPLE_ABS, MAX_SAMPLE_ABS);
                nonfinite_samples += 1;
            }
        }
        let frames_after = (stereo.len() + packet_buf.len() / channels.max(1) * 2) as u64 / 2;
        let need = frames_at(frames_after, rate, device_rate.unwrap_or(rate)) * FRAME_BYTES;
        if need > charged_bytes {
            if !budget.charge(need - charged_bytes) {
                return Err(load_err(
                    path,
                    format!(
                        "decoding passed {} at {:.1} s of this stem (the song does not fit \
                         in RAM; its header said {}); stem refused",
                        budget_mb_text(budget.limit_bytes),
                        frames_after as f64 / rate.max(1) as f64,
                        opened
                            .num_frames
                            .map_or("no length".into(), |n| format!("{n} frames")),
                    ),
                ));
            }
            charged_bytes = need;
        }
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
        nonfinite_samples,
    })
}

/// Set once the process is stopping (SIGTERM/SIGINT): every decode in progress ends at its
/// next packet, so a long song being loaded never holds up the exit.
static CANCEL_LOADS: AtomicBool = AtomicBool::new(false);

/// Calls off every load in progress and to come: decodes stop at their next packet with a
/// "loading called off" error. Async-signal-safe (one atomic store): the SIGTERM handler
/// calls it. Any thread.
pub fn cancel_loads() {
    CANCEL_LOADS.store(true, Ordering::Relaxed);
}

/// Whether [`cancel_loads`] was called.
pub fn loads_cancelled() -> bool {
    CANCEL_LOADS.load(Ordering::Relaxed)
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
    // What rubato's `process_all` does, one chunk at a time so that a stop (SIGTERM) ends
    // a long resample at the next chunk; the resampler's delay is cut off at the end.
    let want = (frames as u64 * to_hz as u64).div_ceil(from_hz as u64) as usize;
    let delay = resampler.output_delay();
    let capacity = resampler.process_all_needed_output_len(frames);
    let mut data = vec![0.0f32; capacity * 2];
    let mut out = InterleavedSlice::new_mut(&mut data, 2, capacity).map_err(|e| e.to_string())?;
    let mut at = Indexing {
        input_offset: 0,
        output_offset: 0,
        active_channels_mask: None,
        partial_len: None,
    };
    let fail = |e: rubato::ResampleError| format!("resampling {from_hz} -> {to_hz} Hz: {e}");
    let called_off = || "loading called off (stembox is stopping)".to_string();
    let mut left = frames;
    while left > resampler.input_frames_next() {
        if loads_cancelled() {
            return Err(called_off());
        }
        let (used, made) = resampler
            .process_into_buffer(&adapter, &mut out, Some(&at))
            .map_err(fail)?;
        left -= used;
        at.input_offset += used;
        at.output_offset += made;
    }
    // The last partial chunk, then silence until the delayed tail is out.
    at.partial_len = Some(left);
    while at.output_offset < delay + want {
        if loads_cancelled() {
            return Err(called_off());
        }
        let (used, made) = resampler
            .process_into_buffer(&adapter, &mut out, Some(&at))
            .map_err(fail)?;
        let _ = used; // past the end of the input: silence, as in `process_all`
        at.output_offset += made;
        at.partial_len = Some(0);
    }
    // Exact integer length: rubato's float ratio can round one frame over.
    data.truncate((delay + want) * 2);
    data.drain(..delay * 2);
    Ok(data)
}

/// Progress of a song load: stems finished out of all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
}

/// Loads a whole song at `device_rate`, stems in parallel on all cores, within the memory
/// budget ([`set_memory_budget_mb`]). `progress` is called on the calling thread after each
/// stem.
pub fn load_song(
    entry: &SongEntry,
    device_rate: u32,
    progress: &mut dyn FnMut(Progress),
) -> Result<Song, LoadError> {
    load_song_noting(entry, device_rate, progress, &mut Vec::new())
}

fn over_budget(
    entry: &SongEntry,
    frames: u64,
    device_rate: u32,
    limit: u64,
    how: &str,
) -> LoadError {
    let stems = entry.stems.len() as u64;
    LoadError {
        message: format!(
            "song {}: needs {} MB decoded ({stems} stems x {:.0} s at {device_rate} Hz, \
             {how}), over {}; song refused (raise memory.budget_mb or shorten the song)",
            entry.name,
            (frames * FRAME_BYTES * stems).div_ceil(MIB),
            frames as f64 / device_rate.max(1) as f64,
            budget_mb_text(limit),
        ),
    }
}

/// [`load_song`], appending warnings (lying headers, corrupt packets, NaN samples). A
/// folder with an NI Stems file goes through [`crate::nistem::load_song`], which loads its
/// other stem files through [`load_files_noting`].
fn load_song_noting(
    entry: &SongEntry,
    device_rate: u32,
    progress: &mut dyn FnMut(Progress),
    warnings: &mut Vec<String>,
) -> Result<Song, LoadError> {
    crate::nistem::load_song(entry, device_rate, progress, warnings, |e, p, w| {
        load_files_noting(e, device_rate, p, w)
    })
}

/// [`load_song_noting`] for a folder of stem files, one stem each.
fn load_files_noting(
    entry: &SongEntry,
    device_rate: u32,
    progress: &mut dyn FnMut(Progress),
    warnings: &mut Vec<String>,
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
    let limit = memory_budget_bytes();
    // Before decoding anything: the size the headers give, believed only as far as the
    // files can hold it. A song that cannot fit is refused here, in milliseconds.
    let mut longest = 0u64;
    for stem in &entry.stems {
        let claim = read_claim(&stem.path)?;
        if claim.lies() {
            warnings.push(format!(
                "{}: header claims {} frames but the file can hold at most {}; its length \
                 is taken from the samples really there",
                stem.path.display(),
                claim.claimed_frames.unwrap_or(0),
                claim.plausible_frames
            ));
        }
        if let Some(n) = claim.expected_frames() {
            longest = longest.max(frames_at(n, claim.rate, device_rate));
        }
    }
    let stems_n = entry.stems.len() as u64;
    if longest.saturating_mul(FRAME_BYTES * stems_n) > limit {
        return Err(over_budget(
            entry,
            longest,
            device_rate,
            limit,
            "from the file headers",
        ));
    }
    let budget = Budget::new(limit);
    let total = entry.stems.len();
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(total);
    let next = AtomicUsize::new(0);
    type StemResult = Result<(Vec<f32>, Vec<String>), LoadError>;
    let (tx, rx) = mpsc::channel::<(usize, StemResult)>();
    let mut results: Vec<Option<Vec<f32>>> = (0..total).map(|_| None).collect();
    let mut first_error = None;
    std::thread::scope(|scope| {
        for w in 0..workers {
            let tx = tx.clone();
            let next = &next;
            let stems = &entry.stems;
            let budget = &budget;
            let spawned = std::thread::Builder::new()
                .name(format!("stembox-load{w}"))
                .spawn_scoped(scope, move || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= stems.len() || loads_cancelled() {
                        break;
                    }
                    let r = load_stem(&stems[i], device_rate, budget);
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
                Ok((samples, notes)) => {
                    results[i] = Some(samples);
                    warnings.extend(notes);
                }
                Err(e) => {
                    // The others stop at their next packet instead of decoding for nothing.
                    budget.used_bytes.store(u64::MAX, Ordering::Relaxed);
                    first_error.get_or_insert(e);
                }
            }
            progress(Progress { done, total });
        }
    });
    if let Some(e) = first_error {
        return Err(e);
    }
    if loads_cancelled() {
        return Err(LoadError {
            message: format!(
                "song {}: loading called off (stembox is stopping)",
                entry.name
            ),
        });
    }
    let frames = results
        .iter()
        .map(|r| r.as_ref().map_or(0, |s| s.len() / 2))
        .max()
        .unwrap_or(0);
    // Stems are padded to the longest: that is what the song takes in the end.
    if frames as u64 * FRAME_BYTES * stems_n > limit {
        return Err(over_budget(
            entry,
            frames as u64,
            device_rate,
            limit,
            "as decoded",
        ));
    }
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
    let mut warnings = Vec::new();
    let mut song = load_song_noting(entry, device_rate, progress, &mut warnings)?;
    let meta = match &entry.meta_path {
        Some(path) => match crate::model::songmeta::load_song_json(path) {
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
    meta: &crate::model::songmeta::SongMeta,
    where_: &str,
    warnings: &mut Vec<String>,
) {
    if let Some(title) = &meta.title {
        song.title = title.clone();
    }
    song.bpm = meta.bpm.map(|b| b as f32);
    song.beats_per_bar = meta.metre().beats_per_bar;
    song.speed_pct = meta.speed_pct.unwrap_or(100.0);
    song.pitch_st = meta.pitch_st.unwrap_or(0.0);
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

fn load_stem(
    file: &StemFile,
    device_rate: u32,
    budget: &Budget,
) -> Result<(Vec<f32>, Vec<String>), LoadError> {
    let decoded = decode_stem_within(&file.path, budget, Some(device_rate))?;
    let mut notes = Vec::new();
    if decoded.nonfinite_samples > 0 {
        notes.push(format!(
            "{}: {} NaN or infinite samples replaced by silence (or beyond +24 dBFS, clamped)",
            file.path.display(),
            decoded.nonfinite_samples
        ));
    }
    if decoded.bad_packets > 0 {
        notes.push(format!(
            "{}: {} damaged packets skipped",
            file.path.display(),
            decoded.bad_packets
        ));
    }
    let samples = resample_stereo(&decoded.stereo, decoded.rate, device_rate)
        .map_err(|e| load_err(&file.path, e))?;
    Ok((samples, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fuzzer finding: finite but absurd float samples (1e38) overflowed rubato's FFT
    /// into NaN, and rubato panics on that. They are clamped at load like NaN is silenced.
    #[test]
    fn absurd_float_samples_are_clamped_before_the_resampler() {
        let path = std::env::temp_dir().join(format!("stembox-huge-{}.wav", std::process::id()));
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 44_100,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for i in 0..4410 {
            w.write_sample(if i % 2 == 0 { 1e38f32 } else { -3e38 })
                .unwrap();
        }
        w.finalize().unwrap();
        let stem = decode_stem(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(stem.nonfinite_samples, 4410);
        assert!(stem.stereo.iter().all(|s| s.abs() <= MAX_SAMPLE_ABS));
        let out = resample_stereo(&stem.stereo, 44_100, 48_000).unwrap();
        assert!(out.iter().all(|s| s.is_finite()));
    }

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
    fn chunked_resampling_is_exactly_rubatos_process_all() {
        for (from, to) in [(44_100, 48_000), (48_000, 44_100), (22_050, 48_000)] {
            for frames in [0usize, 1, 10, 1023, 1024, 1025, 5_000, 48_000] {
                let input: Vec<f32> = (0..frames * 2)
                    .map(|i| ((i * 7919) % 2003) as f32 / 2003.0 - 0.5)
                    .collect();
                let mut r = Fft::<f32>::new(from, to, 1024, 2, FixedSync::Input).unwrap();
                let a = InterleavedSlice::new(&input[..], 2, frames).unwrap();
                let mut want = r.process_all(&a, frames, None).unwrap().take_data();
                want.resize(
                    (frames as u64 * to as u64).div_ceil(from as u64) as usize * 2,
                    0.0,
                );
                let got = resample_stereo(&input, from as u32, to as u32).unwrap();
                assert_eq!(got.len(), want.len(), "{from}->{to} {frames}");
                assert!(
                    got.iter()
                        .zip(&want)
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{from}->{to} {frames}"
                );
            }
        }
    }

    #[test]
    fn same_rate_is_a_copy() {
        let v = vec![0.1, 0.2, 0.3, 0.4];
        assert_eq!(resample_stereo(&v, 48_000, 48_000).unwrap(), v);
    }
}
