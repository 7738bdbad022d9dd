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
use crate::model::stem_buffer::StemWriter;
use crate::rt::MAX_STEMS;
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, SeekMode, SeekTo, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::Timestamp;

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

/// A decoded stem at its own rate: interleaved f32 at its file's channels (1 or 2).
pub struct DecodedStem {
    pub rate: u32,
    pub channels: usize,
    pub samples: Vec<f32>,
    /// Packets that failed to decode and were skipped (corrupt data).
    pub bad_packets: usize,
    /// NaN or infinite samples (replaced by silence) and samples beyond +24 dBFS (clamped).
    pub nonfinite_samples: usize,
}

impl DecodedStem {
    pub fn frames(&self) -> usize {
        self.samples.len() / self.channels.max(1)
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
/// Bytes of one decoded frame of one channel in RAM: f32.
const SAMPLE_BYTES: u64 = 4;
/// Seconds of every stem decoded before a song is handed over to play (progressive
/// loading): enough that the decoders, running on ahead, stay in front of the play head.
pub const PLAYABLE_LEAD_S: f64 = 0.5;
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

/// A read speed limit for every stem file (bytes/s, 0: none), shared by all files read at
/// once as an SD card's bandwidth is: for tests and benchmarks of a slow card. Set by
/// [`set_read_limit_bytes_per_s`], else by the environment variable
/// `STEMBOX_READ_LIMIT_BYTES_PER_S` (read once; anything but a whole number is ignored).
static READ_LIMIT_BPS: AtomicU64 = AtomicU64::new(0);
/// Start of the limiter's window and the bytes read since.
static READ_CLOCK: std::sync::Mutex<Option<(std::time::Instant, u64)>> =
    std::sync::Mutex::new(None);

/// Limits the loader's reads of stem files to `bytes_per_s` in all (0: no limit), to play
/// a slow SD card in tests and benchmarks. Any thread.
pub fn set_read_limit_bytes_per_s(bytes_per_s: u64) {
    READ_LIMIT_BPS.store(bytes_per_s, Ordering::Relaxed);
}

fn read_limit_bytes_per_s() -> u64 {
    static FROM_ENV: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    match READ_LIMIT_BPS.load(Ordering::Relaxed) {
        0 => *FROM_ENV
            .get_or_init(|| parse_read_limit(std::env::var("STEMBOX_READ_LIMIT_BYTES_PER_S").ok())),
        n => n,
    }
}

/// `STEMBOX_READ_LIMIT_BYTES_PER_S`'s value: a whole number of bytes/s, else no limit.
fn parse_read_limit(value: Option<String>) -> u64 {
    value.and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// A stem file read no faster than [`read_limit_bytes_per_s`] (all such files together):
/// each read sleeps until the bytes read so far are due. Idle time earns at most 50 ms of
/// credit, as a card's bandwidth cannot be saved up.
struct ThrottledFile {
    file: std::fs::File,
}

impl std::io::Read for ThrottledFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        let bps = read_limit_bytes_per_s().max(1);
        let due = {
            let mut clock = READ_CLOCK.lock().unwrap_or_else(|e| e.into_inner());
            let now = std::time::Instant::now();
            let (start, bytes) = clock.get_or_insert((now, 0));
            let credit = std::time::Duration::from_millis(50);
            let at = *start + std::time::Duration::from_secs_f64(*bytes as f64 / bps as f64);
            if at + credit < now {
                *start = now - credit;
                *bytes = 0;
            }
            *bytes += n as u64;
            *start + std::time::Duration::from_secs_f64(*bytes as f64 / bps as f64)
        };
        let now = std::time::Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        Ok(n)
    }
}

impl std::io::Seek for ThrottledFile {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.file.seek(pos)
    }
}

impl MediaSource for ThrottledFile {
    fn is_seekable(&self) -> bool {
        self.file.is_seekable()
    }

    fn byte_len(&self) -> Option<u64> {
        self.file.byte_len()
    }
}

fn open(path: &Path) -> Result<Opened, LoadError> {
    let (file, file_bytes) = crate::base::fsread::open_regular_file(path, "stem")
        .map_err(|message| LoadError { message })?;
    let source: Box<dyn MediaSource> = match read_limit_bytes_per_s() {
        0 => Box::new(file),
        _ => Box::new(ThrottledFile { file }),
    };
    let mss = MediaSourceStream::new(source, MediaSourceStreamOptions::default());
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

/// Refuses a sample rate outside what a stem can have (a damaged or hostile header).
pub(crate) fn check_rate(path: &Path, rate: u32) -> Result<(), LoadError> {
    if (MIN_STEM_RATE_HZ..=MAX_STEM_RATE_HZ).contains(&rate) {
        Ok(())
    } else {
        Err(load_err(
            path,
            format!(
                "sample rate {rate} Hz is outside {MIN_STEM_RATE_HZ}..{MAX_STEM_RATE_HZ} Hz \
                 (a damaged or hostile header); file refused"
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
            (d.rate, d.channels, d.frames() as u64)
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

/// Decodes a whole stem into interleaved f32 at its own rate and channels, within the
/// memory budget ([`memory_budget_bytes`]).
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
    // The first reservation trusts the header only as far as the file and the budget go;
    // beyond that the buffer grows with the samples that really arrive.
    let header_channels = opened.params.channels.as_ref().map_or(1, |c| c.count());
    let most = plausible_frames(
        &codec_name(&opened.params),
        header_channels,
        opened.params.bits_per_sample,
        opened.file_bytes,
    );
    let first_frames = opened
        .num_frames
        .unwrap_or(0)
        .min(most)
        .min(budget.limit_bytes / (SAMPLE_BYTES * header_channels.clamp(1, 2) as u64));
    let mut samples: Vec<f32> = Vec::with_capacity(first_frames as usize * header_channels);
    let mut charged_bytes = 0u64;
    let header_frames = opened.num_frames;
    let counts = decode_packets(
        path,
        &mut opened,
        &|| false,
        None,
        &mut |packet, rate, channels, _at| {
            let frames_after = (samples.len() + packet.len()) as u64 / channels as u64;
            let need = frames_at(frames_after, rate, device_rate.unwrap_or(rate))
                * SAMPLE_BYTES
                * channels as u64;
            if need > charged_bytes {
                if !budget.charge(need - charged_bytes) {
                    return Err(load_err(
                        path,
                        format!(
                            "decoding passed {} at {:.1} s of this stem (the song does not \
                             fit in RAM; its header said {}); stem refused",
                            budget_mb_text(budget.limit_bytes),
                            frames_after as f64 / rate.max(1) as f64,
                            header_frames.map_or("no length".into(), |n| format!("{n} frames")),
                        ),
                    ));
                }
                charged_bytes = need;
            }
            samples.extend_from_slice(packet);
            Ok(())
        },
    )?;
    Ok(DecodedStem {
        rate: counts.rate,
        channels: counts.channels,
        samples,
        bad_packets: counts.bad_packets,
        nonfinite_samples: counts.nonfinite_samples,
    })
}

/// Where [`decode_packets`] hands each packet: samples (interleaved), rate, channels, and
/// the frame of the file they start at.
type PacketSink<'a> = dyn FnMut(&[f32], u32, usize, u64) -> Result<(), LoadError> + 'a;

/// What a decode does next, asked between packets (and at the file's end) of a decode that
/// may seek: `Seek(frame)` goes there (sample-accurate), `Done` ends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    Go,
    Seek(u64),
    Done,
}

/// Asked with the frame the next packet would start at, and whether the file ended there.
type SeekHook<'a> = dyn FnMut(u64, bool) -> Next + 'a;

/// What a decode found besides the samples.
struct DecodeCounts {
    rate: u32,
    channels: usize,
    bad_packets: usize,
    nonfinite_samples: usize,
}

/// The seam where a stem file becomes samples: decodes `opened` packet by packet and hands
/// each packet's samples to `sink` (interleaved at the file's channels, 1 or 2, with its
/// rate), NaN silenced and absurd values clamped. Stops with an error at the next packet
/// once `stop` says so or every load is called off. A file whose rate or channel count
/// changes midway is refused (a stem is one stream).
///
/// With `seek` (FLAC and WAV only: their packet timestamps are frames), the hook is asked
/// between packets where to go on; after a seek the frames before the target are dropped,
/// so the sink gets exactly the file's frames from there, with their positions.
fn decode_packets(
    path: &Path,
    opened: &mut Opened,
    stop: &dyn Fn() -> bool,
    mut seek: Option<&mut SeekHook<'_>>,
    sink: &mut PacketSink<'_>,
) -> Result<DecodeCounts, LoadError> {
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&opened.params, &AudioDecoderOptions::default())
        .map_err(|e| load_err(path, format!("cannot decode: {e}")))?;
    let mut first: Option<(u32, usize)> = None;
    let mut packet_buf: Vec<f32> = Vec::new();
    let mut bad_packets = 0;
    let mut nonfinite_samples = 0;
    // The frame the next packet starts at, and (after a seek) the first frame wanted.
    let mut cursor = 0u64;
    let mut skip_until = 0u64;
    let mut at_end = false;
    loop {
        if let Some(hook) = seek.as_deref_mut() {
            // After a seek the frames before its target are dropped: they do not count.
            match hook(cursor.max(skip_until), at_end) {
                Next::Go if at_end => break,
                Next::Go => {}
                Next::Done => break,
                Next::Seek(frame) => {
                    let to = SeekTo::Timestamp {
                        ts: Timestamp::new(frame.min(i64::MAX as u64) as i64),
                        track_id: opened.track_id,
                    };
                    let got = opened.reader.seek(SeekMode::Accurate, to).map_err(|e| {
                        load_err(path, format!("cannot seek to frame {frame}: {e}"))
                    })?;
                    decoder.reset();
                    skip_until = frame.max(got.required_ts.get().max(0) as u64);
                    cursor = got.actual_ts.get().max(0) as u64;
                    at_end = false;
                }
            }
        } else if at_end {
            break;
        }
        if loads_cancelled() || stop() {
            let why = if loads_cancelled() {
                "stembox is stopping"
            } else {
                "the song was dropped"
            };
            return Err(load_err(path, format!("loading called off ({why})")));
        }
        let packet = match opened.reader.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => {
                at_end = true;
                continue;
            }
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                at_end = true;
                continue;
            }
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
        let rate = buf.spec().rate();
        check_rate(path, rate)?;
        let channels = buf.spec().channels().count();
        if !(1..=2).contains(&channels) {
            return Err(load_err(
                path,
                format!("has {channels} channels; stems must be mono or stereo"),
            ));
        }
        match first {
            None => first = Some((rate, channels)),
            Some(f) if f != (rate, channels) => {
                return Err(load_err(
                    path,
                    format!(
                        "changes from {} Hz/{} channels to {rate} Hz/{channels} midway; \
                         a stem must be one stream",
                        f.0, f.1
                    ),
                ))
            }
            Some(_) => {}
        }
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
        // Where this packet starts: its timestamp when seeking (frames for FLAC and WAV),
        // else right after the previous one.
        let at = if seek.is_some() {
            packet.pts.get().max(0) as u64
        } else {
            cursor
        };
        let frames = (packet_buf.len() / channels) as u64;
        cursor = at + frames;
        let skip = skip_until.saturating_sub(at).min(frames) as usize;
        if skip < frames as usize {
            sink(
                &packet_buf[skip * channels..],
                rate,
                channels,
                at + skip as u64,
            )?;
        }
    }
    let Some((rate, channels)) = first.or_else(|| {
        let rate = opened.params.sample_rate?;
        let channels = opened.params.channels.as_ref()?.count();
        (1..=2).contains(&channels).then_some((rate, channels))
    }) else {
        return Err(load_err(path, "unknown sample rate"));
    };
    Ok(DecodeCounts {
        rate,
        channels,
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
    resample(input, 2, from_hz, to_hz)
}

/// [`resample_stereo`] for `channels` (1 or 2) interleaved channels.
pub fn resample(
    input: &[f32],
    channels: usize,
    from_hz: u32,
    to_hz: u32,
) -> Result<Vec<f32>, String> {
    let mut r = ChunkResampler::new(channels, from_hz, to_hz)?;
    let mut out = Vec::with_capacity(
        frames_at((input.len() / channels) as u64, from_hz, to_hz) as usize * channels,
    );
    let called_off = || "loading called off (stembox is stopping)".to_string();
    // A piece at a time, so that a stop (SIGTERM) ends a long resample soon.
    for piece in input.chunks(channels * 65_536) {
        if loads_cancelled() {
            return Err(called_off());
        }
        r.push(piece, &mut |s| out.extend_from_slice(s))?;
    }
    r.finish(&mut |s| out.extend_from_slice(s))?;
    Ok(out)
}

/// A resampler fed piece by piece as a stem decodes (progressive loading), with output
/// exactly that of rubato's `process_all` on the whole input: the same FFT chunks in the
/// same order, the resampler's delay cut off at the start, the output cut at
/// `ceil(frames * to / from)` at the end. At equal rates it passes samples through.
pub struct ChunkResampler {
    channels: usize,
    from_hz: u32,
    to_hz: u32,
    fft: Option<Fft<f32>>,
    /// Input not yet resampled (less than one chunk after each push).
    pending: Vec<f32>,
    /// One chunk of output.
    scratch: Vec<f32>,
    /// Output frames still to drop (the resampler's delay).
    delay_left: usize,
    in_frames: u64,
    out_frames: u64,
}

impl ChunkResampler {
    pub fn new(channels: usize, from_hz: u32, to_hz: u32) -> Result<ChunkResampler, String> {
        let fft = if from_hz == to_hz {
            None
        } else {
            Some(
                Fft::<f32>::new(
                    from_hz as usize,
                    to_hz as usize,
                    1024,
                    channels,
                    FixedSync::Input,
                )
                .map_err(|e| format!("resampler {from_hz} -> {to_hz} Hz: {e}"))?,
            )
        };
        let (delay_left, scratch) = match &fft {
            Some(f) => (
                f.output_delay(),
                vec![0.0; f.output_frames_max() * channels],
            ),
            None => (0, Vec::new()),
        };
        Ok(ChunkResampler {
            channels,
            from_hz,
            to_hz,
            fft,
            pending: Vec::new(),
            scratch,
            delay_left,
            in_frames: 0,
            out_frames: 0,
        })
    }

    /// Takes `input` (whole frames, interleaved) and hands every finished piece of output
    /// to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut dyn FnMut(&[f32])) -> Result<(), String> {
        self.in_frames += (input.len() / self.channels) as u64;
        if self.fft.is_none() {
            self.out_frames += (input.len() / self.channels) as u64;
            out(input);
            return Ok(());
        }
        self.pending.extend_from_slice(input);
        loop {
            let next = self.fft.as_ref().map_or(0, |f| f.input_frames_next());
            if self.pending.len() / self.channels < next {
                return Ok(());
            }
            let used = self.run_chunk(None, out)?;
            self.pending.drain(..used * self.channels);
        }
    }

    /// The input ended: the last partial chunk, then silence until the delayed tail is out.
    pub fn finish(&mut self, out: &mut dyn FnMut(&[f32])) -> Result<(), String> {
        if self.fft.is_none() {
            return Ok(());
        }
        let want = frames_at(self.in_frames, self.from_hz, self.to_hz);
        let mut partial = self.pending.len() / self.channels;
        while self.out_frames < want {
            self.run_chunk(Some(partial), out)?;
            self.pending.clear();
            partial = 0;
        }
        Ok(())
    }

    /// One FFT chunk from the start of `pending`; returns the input frames it used.
    fn run_chunk(
        &mut self,
        partial: Option<usize>,
        out: &mut dyn FnMut(&[f32]),
    ) -> Result<usize, String> {
        let ch = self.channels;
        let (from_hz, to_hz) = (self.from_hz, self.to_hz);
        let fail = |e: rubato::ResampleError| format!("resampling {from_hz} -> {to_hz} Hz: {e}");
        let Some(fft) = self.fft.as_mut() else {
            return Ok(0);
        };
        let in_frames = self.pending.len() / ch;
        let input =
            InterleavedSlice::new(&self.pending[..], ch, in_frames).map_err(|e| e.to_string())?;
        let cap = self.scratch.len() / ch;
        let mut output =
            InterleavedSlice::new_mut(&mut self.scratch[..], ch, cap).map_err(|e| e.to_string())?;
        let at = Indexing {
            input_offset: 0,
            output_offset: 0,
            active_channels_mask: None,
            partial_len: partial,
        };
        let (used, made) = fft
            .process_into_buffer(&input, &mut output, Some(&at))
            .map_err(fail)?;
        let skip = self.delay_left.min(made);
        self.delay_left -= skip;
        // Mid-stream the total is not known yet: all is kept. At the end the length is
        // exact: rubato's float ratio can round one frame over.
        let keep = match partial {
            None => made - skip,
            Some(_) => {
                let want = frames_at(self.in_frames, from_hz, to_hz);
                ((made - skip) as u64).min(want.saturating_sub(self.out_frames)) as usize
            }
        };
        self.out_frames += keep as u64;
        out(&self.scratch[skip * ch..(skip + keep) * ch]);
        Ok(used)
    }
}

/// Progress of a song load: stems finished out of all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
}

/// Loads a whole song at `device_rate`, stems in parallel, within the memory budget
/// ([`set_memory_budget_mb`]), and returns it once every stem is decoded. `progress` is
/// called on the calling thread after each stem. Loader or control thread.
pub fn load_song(
    entry: &SongEntry,
    device_rate: u32,
    progress: &mut dyn FnMut(Progress),
) -> Result<Song, LoadError> {
    load_whole(entry, device_rate, false, progress).map(|(song, _)| song)
}

/// [`load_song`], then `song.json` (title, bpm, metre, stem gain/pan/mute, sections)
/// applied. A bad `song.json` is a warning, and the song plays with defaults. Returns the
/// song and the warnings, one line each.
pub fn load_song_with_meta(
    entry: &SongEntry,
    device_rate: u32,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Song, Vec<String>), LoadError> {
    load_whole(entry, device_rate, true, progress)
}

fn load_whole(
    entry: &SongEntry,
    device_rate: u32,
    with_meta: bool,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Song, Vec<String>), LoadError> {
    let mut kept = None;
    let mut warnings = Vec::new();
    let finished = load_streaming(entry, device_rate, with_meta, progress, &mut |song, w| {
        kept = Some(song);
        warnings.extend(w);
    })?;
    if let Some(e) = finished.failed {
        return Err(e);
    }
    warnings.extend(finished.warnings);
    let song = kept.ok_or_else(|| LoadError {
        message: format!("song {}: loading called off", entry.name),
    })?;
    // Nobody else was given the song: the decoders are done and gone.
    let song = Arc::try_unwrap(song).map_err(|_| LoadError {
        message: format!("song {}: still shared after loading", entry.name),
    })?;
    Ok((song, warnings))
}

/// Loads a song while it plays (progressive loading): `on_playable` gets it, with
/// `song.json` applied and the warnings so far, as soon as every stem has
/// [`PLAYABLE_LEAD_S`] decoded (or is finished); the stems go on decoding in parallel
/// into the song's buffers, which the audio thread reads up to their watermarks. Returns
/// when the decode has ended, with the warnings found after the hand-over (a stem that
/// failed midway is one: the rest of it stays silent). An error means the song was never
/// handed over. The decode stops early, and the song's memory is freed here, when every
/// other holder has dropped the song. Loader thread.
pub fn load_song_progressive(
    entry: &SongEntry,
    device_rate: u32,
    on_playable: &mut dyn FnMut(Arc<Song>, Vec<String>),
) -> Result<Vec<String>, LoadError> {
    let finished = load_streaming(entry, device_rate, true, &mut |_| {}, on_playable)?;
    let mut warnings = finished.warnings;
    // A stop (SIGTERM) calling the decode off is no news: the process is ending.
    if let Some(e) = finished.failed.filter(|_| !loads_cancelled()) {
        warnings.push(format!("{e} (the rest of that stem plays as silence)"));
    }
    Ok(warnings)
}

fn over_budget(
    entry: &SongEntry,
    bytes: u64,
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
            bytes.div_ceil(MIB),
            frames as f64 / device_rate.max(1) as f64,
            budget_mb_text(limit),
        ),
    }
}

/// How one stem of a song is loaded.
enum StemPlan {
    /// Streamed into the song's buffer: the header gives rate, channels and a plausible
    /// length (FLAC, WAV, most others).
    Stream {
        opened: Box<Opened>,
        rate: u32,
        channels: usize,
        frames: u64,
    },
    /// Decoded whole before the song can start: its header gives no (believable) length,
    /// so its buffer cannot be sized up front (some MP3 and Ogg files).
    Whole(Stem),
}

/// What a load found after the song was handed over.
struct Finished {
    warnings: Vec<String>,
    failed: Option<LoadError>,
}

/// A stem decoder's result: frames decoded at the device rate, and warnings.
type StreamResult = Result<(u64, Vec<String>), LoadError>;

fn load_streaming(
    entry: &SongEntry,
    device_rate: u32,
    with_meta: bool,
    progress: &mut dyn FnMut(Progress),
    on_playable: &mut dyn FnMut(Arc<Song>, Vec<String>),
) -> Result<Finished, LoadError> {
    // An NI Stems file holds several stems: it is decoded whole, after the stem files'
    // headers are read (see below); the stem files stream as usual.
    let (plain_entry, ni_file) = crate::nistem::split_song_files(entry)?;
    let entry = &plain_entry;
    if entry.stems.len() > MAX_STEMS {
        return Err(LoadError {
            message: format!(
                "song {}: {} stems, stembox mixes at most {MAX_STEMS}",
                entry.name,
                entry.stems.len()
            ),
        });
    }
    if entry.stems.is_empty() && ni_file.is_none() {
        return Err(LoadError {
            message: format!("song {}: no stem files", entry.name),
        });
    }
    let limit = memory_budget_bytes();
    let budget = Budget::new(limit);
    let mut warnings = Vec::new();
    // Headers first: the song's length and size, believed only as far as the files can
    // hold it. A song that cannot fit is refused here, in milliseconds.
    let mut plans = Vec::with_capacity(entry.stems.len());
    for file in &entry.stems {
        let opened = open(&file.path)?;
        let codec = codec_name(&opened.params);
        let channels = opened.params.channels.as_ref().map(|c| c.count());
        if let Some(n @ 3..) = channels {
            return Err(load_err(
                &file.path,
                format!("has {n} channels; stems must be mono or stereo"),
            ));
        }
        let claim = HeaderClaim {
            rate: opened.params.sample_rate.unwrap_or(0),
            claimed_frames: opened.num_frames,
            plausible_frames: plausible_frames(
                &codec,
                channels.unwrap_or(1),
                opened.params.bits_per_sample,
                opened.file_bytes,
            ),
        };
        if claim.lies() {
            warnings.push(format!(
                "{}: header claims {} frames but the file can hold at most {}; its length \
                 is taken from the samples really there",
                file.path.display(),
                claim.claimed_frames.unwrap_or(0),
                claim.plausible_frames
            ));
        }
        let frames = claim
            .expected_frames()
            .map(|n| frames_at(n, claim.rate, device_rate));
        match (frames, channels) {
            (Some(frames), Some(channels)) if claim.rate > 0 => plans.push(StemPlan::Stream {
                opened: Box::new(opened),
                rate: claim.rate,
                channels,
                frames,
            }),
            _ => {
                drop(opened);
                if !claim.lies() {
                    warnings.push(format!(
                        "{}: its header gives no length, so it is decoded whole before the \
                         song can start",
                        file.path.display()
                    ));
                }
                let (stem, notes) = load_stem_whole(file, device_rate, &budget)?;
                warnings.extend(notes);
                plans.push(StemPlan::Whole(stem));
            }
        }
    }
    let mut names: Vec<String> = entry.stems.iter().map(|f| f.name.clone()).collect();
    let mut master_stem = None;
    if let Some(ni) = &ni_file {
        let (stems, master) =
            crate::nistem::load_stems(entry, ni, &names, device_rate, limit, &mut warnings)?;
        master_stem = master.map(|m| m + plans.len());
        for stem in stems {
            names.push(stem.name.clone());
            plans.push(StemPlan::Whole(stem));
        }
    }
    let frames = plans
        .iter()
        .map(|p| match p {
            StemPlan::Stream { frames, .. } => *frames,
            StemPlan::Whole(stem) => stem.audio().capacity_frames() as u64,
        })
        .max()
        .unwrap_or(0);
    // Every stem is held at the song's length (the short ones padded with silence).
    let bytes: u64 = plans
        .iter()
        .map(|p| match p {
            StemPlan::Stream { channels, .. } => *channels as u64,
            StemPlan::Whole(stem) => stem.channels() as u64,
        })
        .map(|ch| ch.saturating_mul(frames).saturating_mul(SAMPLE_BYTES))
        .fold(0u64, |a, b| a.saturating_add(b));
    if bytes > limit {
        return Err(over_budget(
            entry,
            bytes,
            frames,
            device_rate,
            limit,
            "from the file headers",
        ));
    }
    let mut streams: Vec<Option<(Box<Opened>, u32)>> = Vec::with_capacity(plans.len());
    let total = plans.len();
    let stems: Vec<Stem> = names
        .into_iter()
        .zip(plans)
        .map(|(name, plan)| match plan {
            StemPlan::Stream {
                opened,
                rate,
                channels,
                ..
            } => {
                streams.push(Some((opened, rate)));
                Stem::loading(name, channels, frames as usize)
            }
            StemPlan::Whole(stem) => {
                streams.push(None);
                stem
            }
        })
        .collect();
    let mut song = Song::new(entry.name.clone(), device_rate, stems);
    song.master_stem = master_stem;
    if with_meta {
        read_meta(entry, &mut song, &mut warnings);
    }
    let song = Arc::new(song);
    let mut done = streams.iter().filter(|s| s.is_none()).count();
    if done > 0 {
        progress(Progress { done, total });
    }
    let lead = ((PLAYABLE_LEAD_S * device_rate as f64) as u64).min(song.frames());
    let stop = AtomicBool::new(false);
    let handed = AtomicBool::new(false);
    let mut first_error: Option<LoadError> = None;
    // Where the song really ends: the longest stem as decoded.
    let mut decoded_frames = song
        .stems()
        .iter()
        .zip(&streams)
        .filter(|(_, s)| s.is_none())
        .map(|(stem, _)| stem.audio().capacity_frames() as u64)
        .max()
        .unwrap_or(0);
    let (tx, rx) = mpsc::channel::<(usize, StreamResult)>();
    std::thread::scope(|scope| {
        let mut running = 0;
        for (i, stream) in streams.into_iter().enumerate() {
            let Some((opened, rate)) = stream else {
                continue;
            };
            let tx = tx.clone();
            let (song, stop, handed) = (&song, &stop, &handed);
            let path = &entry.stems[i].path;
            // One decoder per stem, so that every stem moves on together (the song is
            // playable only as far as its slowest stem).
            let spawned = std::thread::Builder::new()
                .name(format!("stembox-load{i}"))
                .spawn_scoped(scope, move || {
                    // The song was dropped by everybody else: stop, and free it here.
                    let dropped = || {
                        stop.load(Ordering::Relaxed)
                            || (handed.load(Ordering::Acquire) && Arc::strong_count(song) == 1)
                    };
                    let r = match song.stems()[i].audio().writer() {
                        Some(w) if rate == device_rate && can_seek(&opened) => {
                            stream_stem_seeking(path, *opened, w, song, &dropped)
                        }
                        Some(w) => stream_stem(path, *opened, rate, w, device_rate, &dropped),
                        None => Err(load_err(path, "stem buffer already being written")),
                    };
                    let _ = tx.send((i, r));
                });
            match spawned {
                Ok(_) => running += 1,
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    first_error.get_or_insert(LoadError {
                        message: format!("cannot start a loader thread: {e}"),
                    });
                }
            }
        }
        drop(tx);
        loop {
            match rx.recv_timeout(std::time::Duration::from_millis(1)) {
                Ok((_, r)) => {
                    running -= 1;
                    done += 1;
                    progress(Progress { done, total });
                    match r {
                        Ok((n, notes)) => {
                            decoded_frames = decoded_frames.max(n);
                            warnings.extend(notes);
                        }
                        Err(e) => {
                            // Before the hand-over the others stop at their next packet
                            // instead of decoding for nothing; after it they go on.
                            if !handed.load(Ordering::Relaxed) {
                                stop.store(true, Ordering::Relaxed);
                            }
                            first_error.get_or_insert(e);
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => running = 0,
            }
            let ready = song.ready_frames() >= lead || running == 0;
            if ready
                && first_error.is_none()
                && !loads_cancelled()
                && !handed.load(Ordering::Relaxed)
            {
                on_playable(song.clone(), core::mem::take(&mut warnings));
                handed.store(true, Ordering::Release);
            }
            if running == 0 {
                break;
            }
        }
    });
    if !handed.load(Ordering::Relaxed) {
        return Err(first_error.unwrap_or_else(|| LoadError {
            message: format!(
                "song {}: loading called off (stembox is stopping)",
                entry.name
            ),
        }));
    }
    if first_error.is_none() && Arc::strong_count(&song) > 1 {
        // The headers may have promised more than the files hold: the song ends where
        // its longest stem really does.
        song.trim_frames(decoded_frames);
    }
    Ok(Finished {
        warnings,
        failed: first_error,
    })
}

/// Decodes one stem front to back into its buffer at the device rate, publishing as it
/// goes. Frames beyond the buffer (a header that claimed too few) are dropped with a
/// warning; a header that claimed too many leaves silence (the song is trimmed later).
fn stream_stem(
    path: &Path,
    mut opened: Opened,
    rate: u32,
    mut writer: StemWriter<'_>,
    device_rate: u32,
    stop: &dyn Fn() -> bool,
) -> StreamResult {
    let channels = writer_channels(&opened);
    let mut resampler =
        ChunkResampler::new(channels, rate, device_rate).map_err(|e| load_err(path, e))?;
    let mut dropped = 0u64;
    let counts = {
        let mut sink = |packet: &[f32], r: u32, c: usize, _at: u64| {
            if (r, c) != (rate, channels) {
                return Err(load_err(
                    path,
                    format!(
                        "header says {rate} Hz/{channels} channels but the audio is \
                         {r} Hz/{c} channels; stem refused"
                    ),
                ));
            }
            resampler
                .push(packet, &mut |s| {
                    dropped += (s.len() / channels - writer.append(s)) as u64;
                })
                .map_err(|e| load_err(path, e))
        };
        decode_packets(path, &mut opened, stop, None, &mut sink)?
    };
    resampler
        .finish(&mut |s| {
            dropped += (s.len() / channels - writer.append(s)) as u64;
        })
        .map_err(|e| load_err(path, e))?;
    let mut notes = packet_notes(path, counts.bad_packets, counts.nonfinite_samples);
    if dropped > 0 {
        notes.push(format!(
            "{}: decodes to {dropped} frames more than its header says; they are dropped",
            path.display()
        ));
    }
    Ok((writer.written_frames() as u64, notes))
}

/// Whether a jump beyond the watermark can be decoded first for this stem: FLAC and WAV
/// seek sample-accurately and time their packets in frames. Resampled stems cannot (a
/// resampler started at a seek point would not give the same samples as one that ran from
/// the start), nor can lossy codecs here; they decode front to back.
fn can_seek(opened: &Opened) -> bool {
    let codec = codec_name(&opened.params);
    codec == "flac" || codec.starts_with("pcm")
}

/// A seek further than this beyond the decode is decoded from its target first; a nearer
/// one is reached sooner by decoding on.
pub const SEEK_AHEAD_S: f64 = 2.0;

/// [`stream_stem`] for a stem at the device rate whose codec can seek ([`can_seek`]):
/// front to back, but when the song's play head jumps ([`Song::wanted`]) to a frame not
/// decoded yet and more than [`SEEK_AHEAD_S`] away, the decode seeks there and goes on
/// from it (the buffer publishes it as its region) to the file's end, then fills the gaps
/// from the start. Each frame is decoded into the buffer once; frames already there are
/// jumped over. Returns the frames the file really holds (capped at the buffer).
fn stream_stem_seeking(
    path: &Path,
    mut opened: Opened,
    writer: StemWriter<'_>,
    song: &Song,
    stop: &dyn Fn() -> bool,
) -> StreamResult {
    let channels = writer_channels(&opened);
    let cap = writer.capacity_frames() as u64;
    let gap = (SEEK_AHEAD_S * song.rate as f64) as u64;
    let writer = core::cell::RefCell::new(writer);
    let mut dropped = 0u64;
    let mut end_of_file: Option<u64> = None;
    let mut last_target: Option<u64> = None;
    let mut last_wanted: Option<u64> = None;
    let mut hook = |cursor: u64, at_end: bool| -> Next {
        let mut w = writer.borrow_mut();
        if at_end {
            end_of_file = Some(cursor.min(cap));
        }
        let end = end_of_file.unwrap_or(cap);
        if let Some(t) = song.wanted().filter(|&t| t < end) {
            if last_wanted != Some(t) {
                // Publish the part that holds the play head (once it is decoded).
                last_wanted = Some(t);
                w.focus(t as usize);
            }
            let far = t < cursor || t > cursor + gap;
            if far && !w.is_written(t as usize) && last_target != Some(t) {
                last_target = Some(t);
                return Next::Seek(t);
            }
        }
        let next = w.next_unwritten(cursor.min(cap) as usize) as u64;
        if !at_end && next == cursor && cursor < end {
            return Next::Go;
        }
        // Ran into decoded frames, or the end: on at the next gap, from the start.
        let next = if next < end {
            next
        } else {
            w.next_unwritten(0) as u64
        };
        if next < end {
            Next::Seek(next)
        } else if !at_end && cursor >= cap {
            // All decoded, past the capacity before the file's end: read on only to learn
            // whether the file holds more than its header said (those frames are dropped).
            Next::Go
        } else {
            Next::Done
        }
    };
    let counts = {
        let mut sink = |packet: &[f32], r: u32, c: usize, at: u64| {
            if (r, c) != (song.rate, channels) {
                return Err(load_err(
                    path,
                    format!(
                        "header says {} Hz/{channels} channels but the audio is \
                         {r} Hz/{c} channels; stem refused",
                        song.rate
                    ),
                ));
            }
            let at = at.min(usize::MAX as u64) as usize;
            dropped += writer.borrow_mut().write_at(at, packet) as u64;
            Ok(())
        };
        decode_packets(path, &mut opened, stop, Some(&mut hook), &mut sink)?
    };
    let mut notes = packet_notes(path, counts.bad_packets, counts.nonfinite_samples);
    if dropped > 0 {
        notes.push(format!(
            "{}: decodes to {dropped} frames more than its header says; they are dropped",
            path.display()
        ));
    }
    let writer = writer.into_inner();
    Ok((writer.last_written_end() as u64, notes))
}

fn writer_channels(opened: &Opened) -> usize {
    opened.params.channels.as_ref().map_or(1, |c| c.count())
}

fn packet_notes(path: &Path, bad_packets: usize, nonfinite_samples: usize) -> Vec<String> {
    let mut notes = Vec::new();
    if nonfinite_samples > 0 {
        notes.push(format!(
            "{}: {nonfinite_samples} NaN or infinite samples replaced by silence (or beyond \
             +24 dBFS, clamped)",
            path.display(),
        ));
    }
    if bad_packets > 0 {
        notes.push(format!(
            "{}: {bad_packets} damaged packets skipped",
            path.display(),
        ));
    }
    notes
}

fn read_meta(entry: &SongEntry, song: &mut Song, warnings: &mut Vec<String>) {
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
    let where_ = entry.meta_path.as_ref().map(|p| p.display().to_string());
    let where_ = where_.unwrap_or_default();
    if let Some(meta) = &meta {
        warnings.extend(meta.warnings.iter().map(|w| format!("{where_}: {w}")));
        apply_meta(song, meta, &where_, warnings);
    }
    apply_routing(song, meta.as_ref(), &bus_names(), &where_, warnings);
}

static BUS_NAMES: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Sets the config's bus names (`main` first, as `BusMap::names` orders them) that every
/// later song load routes its stems over. Main thread, once the config is read; until
/// then there is only `main`.
pub fn set_bus_names(names: Vec<String>) {
    if let Ok(mut b) = BUS_NAMES.write() {
        *b = names;
    }
}

fn bus_names() -> Vec<String> {
    match BUS_NAMES.read() {
        Ok(b) if !b.is_empty() => b.clone(),
        _ => vec!["main".to_string()],
    }
}

/// Each stem's bus mask over `buses` ([`crate::model::bus::route`]): `song.json`'s
/// `"bus"`, else the default for its name. An unknown bus name is a warning; that stem
/// goes to main.
fn apply_routing(
    song: &mut Song,
    meta: Option<&crate::model::songmeta::SongMeta>,
    buses: &[String],
    where_: &str,
    warnings: &mut Vec<String>,
) {
    for stem in song.stems_mut() {
        let given = meta
            .and_then(|m| m.stem(&stem.name))
            .map_or(&[][..], |s| s.bus.as_slice());
        let route = crate::model::bus::route(buses, &stem.name, given);
        for name in &route.unknown {
            warnings.push(format!(
                "{where_}: stem \"{}\": bus {name:?} is not in audio.buses ({}); it plays on {}",
                stem.name,
                buses.join(", "),
                route.names(buses)
            ));
        }
        stem.bus_mask = route.mask;
    }
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
    // Bar 1's tempo and metre (from the map when it starts there) drive the count-in.
    if let Some(first) = meta.tempo.first() {
        song.bpm = Some(first.bpm as f32);
        song.beats_per_bar = first.time_signature.beats_per_bar;
    }
    song.set_tempo_map(meta.tempo_map(song.rate));
    song.click = meta.click.unwrap_or(false);
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

/// A stem decoded whole and resampled, kept at its file's channels.
fn load_stem_whole(
    file: &StemFile,
    device_rate: u32,
    budget: &Budget,
) -> Result<(Stem, Vec<String>), LoadError> {
    let decoded = decode_stem_within(&file.path, budget, Some(device_rate))?;
    let notes = packet_notes(&file.path, decoded.bad_packets, decoded.nonfinite_samples);
    let samples = resample(
        &decoded.samples,
        decoded.channels,
        decoded.rate,
        device_rate,
    )
    .map_err(|e| load_err(&file.path, e))?;
    let stem = Stem::with_channels(
        file.name.clone(),
        decoded.channels,
        samples.into_boxed_slice(),
    );
    Ok((stem, notes))
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
        assert_eq!(stem.channels, 1, "a mono file stays mono");
        assert!(stem.samples.iter().all(|s| s.abs() <= MAX_SAMPLE_ABS));
        let out = resample(&stem.samples, 1, 44_100, 48_000).unwrap();
        assert!(out.iter().all(|s| s.is_finite()));
    }

    #[test]
    fn song_json_tempo_map_and_click_reach_the_song() {
        let mut song = Song::new(
            "s",
            44_100,
            vec![Stem::new("a", vec![0.0; 44_100 * 20].into_boxed_slice())],
        );
        let meta = crate::model::songmeta::parse_song_json(
            br#"{"bpm": 100, "click": true, "time_signature": "6/8",
                 "tempo_map": [{"bar": 1, "bpm": 120, "time_signature": "3/4"}, {"bar": 3, "bpm": 60}],
                 "sections": [{"name": "b", "bar": 4}]}"#,
        )
        .unwrap();
        let mut warnings = Vec::new();
        apply_meta(&mut song, &meta, "song.json", &mut warnings);
        // Bar 1's tempo from the map, for the count-in.
        assert_eq!(
            (song.bpm, song.beats_per_bar, song.click),
            (Some(120.0), 3, true)
        );
        let map = song.tempo_map.as_ref().unwrap();
        assert_eq!(map.rate(), 44_100);
        // Two 3/4 bars at 120 (3 s), then one at 60 (3 s).
        assert_eq!(map.frame_of_bar(3.0), 132_300.0);
        assert_eq!(song.sections[0].start_frame, 264_600);
        // A map at another rate is refused rather than misplacing every beat.
        song.set_tempo_map(meta.tempo_map(48_000));
        assert!(song.tempo_map.is_none());
        // No tempo: no map, no click.
        let mut plain = Song::new("p", 44_100, Vec::new());
        let none = crate::model::songmeta::parse_song_json(b"{}").unwrap();
        apply_meta(&mut plain, &none, "song.json", &mut warnings);
        assert!(plain.tempo_map.is_none() && !plain.click && plain.bpm.is_none());
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

    /// Progressive loading feeds the resampler a packet at a time: any cut of the input
    /// gives exactly the output of the whole, and a mono channel resamples exactly as
    /// the same channel inside a stereo pair.
    #[test]
    fn resampling_piece_by_piece_is_exactly_the_whole_and_mono_is_one_channel_of_stereo() {
        for (from, to) in [(44_100u32, 48_000u32), (96_000, 48_000), (48_000, 48_000)] {
            let frames = 20_000;
            let mono: Vec<f32> = (0..frames)
                .map(|i| ((i * 7919) % 2003) as f32 / 2003.0 - 0.5)
                .collect();
            let stereo: Vec<f32> = mono.iter().flat_map(|&s| [s, s]).collect();
            let whole = resample_stereo(&stereo, from, to).unwrap();
            for piece in [1usize, 7, 1024, 4096, 4608] {
                let mut r = ChunkResampler::new(1, from, to).unwrap();
                let mut got = Vec::new();
                for p in mono.chunks(piece) {
                    r.push(p, &mut |s| got.extend_from_slice(s)).unwrap();
                }
                r.finish(&mut |s| got.extend_from_slice(s)).unwrap();
                assert_eq!(got.len() * 2, whole.len(), "{from}->{to} by {piece}");
                for (i, (&m, lr)) in got.iter().zip(whole.chunks_exact(2)).enumerate() {
                    assert_eq!(
                        m.to_bits(),
                        lr[0].to_bits(),
                        "{from}->{to} by {piece} at {i}"
                    );
                    assert_eq!(m.to_bits(), lr[1].to_bits());
                }
            }
        }
    }

    /// A mono 16-bit FLAC of `frames` frames, sample i = ((i % 64) - 32) / 128, via `flac`.
    fn write_flac(path: &Path, frames: usize) {
        let wav = path.with_extension("wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 48_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&wav, spec).unwrap();
        for i in 0..frames {
            w.write_sample(((i % 64) as i16 - 32) * 256).unwrap();
        }
        w.finalize().unwrap();
        let ok = std::process::Command::new("flac")
            .args(["--silent", "-f", "-o"])
            .arg(path)
            .arg(&wav)
            .status()
            .expect("flac tool");
        assert!(ok.success());
        std::fs::remove_file(wav).unwrap();
    }

    /// A FLAC cut short (its header promises more than the file holds): streamed into a
    /// buffer sized from the header, the part that decodes is exact, the rest silence,
    /// and the song ends where its longest stem really does. A stem whose header is
    /// honest keeps the song at its length.
    #[test]
    fn a_header_that_promises_too_much_leaves_silence_and_the_song_is_trimmed() {
        let dir = std::env::temp_dir().join(format!("stembox-trunc-{}", std::process::id()));
        let song_dir = dir.join("01-cut");
        std::fs::create_dir_all(&song_dir).unwrap();
        let frames = 96_000;
        let want = |i: usize| ((i % 64) as f32 - 32.0) / 128.0;
        let cut = song_dir.join("a.flac");
        write_flac(&cut, frames);
        let bytes = std::fs::read(&cut).unwrap();
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let (songs, _) = crate::model::library::scan(&dir).unwrap();
        let mut got = None;
        let later = load_song_progressive(&songs[0], 48_000, &mut |s, _| got = Some(s)).unwrap();
        let song = got.unwrap();
        assert!(!song.is_loading());
        let stem = &song.stems()[0];
        assert_eq!(stem.channels(), 1);
        let decoded = song.frames() as usize;
        assert!(decoded > 10_000 && decoded < frames, "{decoded} {later:?}");
        let s = stem.samples();
        assert!((0..decoded).all(|i| s[i] == want(i)));
        assert!(s[decoded..].iter().all(|&x| x == 0.0));
        // With an honest stem beside it, the song keeps the honest length.
        write_flac(&song_dir.join("b.flac"), frames);
        let (songs, _) = crate::model::library::scan(&dir).unwrap();
        let song = load_song(&songs[0], 48_000, &mut |_| {}).unwrap();
        assert_eq!(song.frames() as usize, frames);
        assert_eq!(song.stems()[1].samples().len(), frames);
        assert!(song.stems()[0].samples()[decoded..]
            .iter()
            .all(|&x| x == 0.0));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn read_limit_from_the_environment_takes_whole_numbers_only() {
        assert_eq!(parse_read_limit(None), 0);
        assert_eq!(parse_read_limit(Some(" 5000000 ".into())), 5_000_000);
        for bad in [
            "",
            "-5",
            "5e6",
            "NaN",
            "1.5",
            "99999999999999999999999",
            "fast",
        ] {
            assert_eq!(parse_read_limit(Some(bad.into())), 0, "{bad}");
        }
    }

    #[test]
    fn same_rate_is_a_copy() {
        let v = vec![0.1, 0.2, 0.3, 0.4];
        assert_eq!(resample_stereo(&v, 48_000, 48_000).unwrap(), v);
    }
}
