//! Opening a stem file for symphonia (through the read limit of the load's options), its
//! header's claims, and the probe that `check` uses.

use super::*;

pub(super) struct Opened {
    pub(super) reader: Box<dyn symphonia::core::formats::FormatReader>,
    pub(super) track_id: u32,
    pub(super) params: symphonia::core::codecs::audio::AudioCodecParameters,
    pub(super) num_frames: Option<u64>,
    pub(super) file_bytes: u64,
}

/// A stem file read no faster than its [`ReadLimit`] (shared by all files of that limit):
/// each read sleeps until the bytes read so far are due. Idle time earns at most 50 ms of
/// credit, as a card's bandwidth cannot be saved up.
pub(super) struct ThrottledFile {
    pub(super) file: std::fs::File,
    pub(super) limit: Arc<ReadLimit>,
}

impl std::io::Read for ThrottledFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        let bps = self.limit.bytes_per_s.max(1);
        let due = {
            let mut clock = self.limit.clock.lock().unwrap_or_else(|e| e.into_inner());
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

pub(super) fn open(path: &Path, opts: &LoadOptions) -> Result<Opened, LoadError> {
    let (file, file_bytes) = crate::base::fsread::open_regular_file(path, "stem")
        .map_err(|message| LoadError { message })?;
    let source: Box<dyn MediaSource> = match &opts.read_limit {
        None => Box::new(file),
        Some(limit) => Box::new(ThrottledFile {
            file,
            limit: limit.clone(),
        }),
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

pub(super) fn codec_name(params: &symphonia::core::codecs::audio::AudioCodecParameters) -> String {
    symphonia::default::get_codecs()
        .get_audio_decoder(params.codec)
        .map(|d| d.codec.info.short_name.to_string())
        .unwrap_or_else(|| "an unsupported codec".to_string())
}

/// What a stem's header says, checked against its file: read before decoding to estimate a
/// song's size.
pub(super) struct HeaderClaim {
    pub(super) rate: u32,
    /// Frames the header claims, if it gives a length.
    pub(super) claimed_frames: Option<u64>,
    /// Most frames the file can hold.
    pub(super) plausible_frames: u64,
}

impl HeaderClaim {
    /// Frames to expect: the claim, unless the file cannot hold it (a header proven
    /// wrong says nothing; decoding finds the length, within the budget).
    pub(super) fn expected_frames(&self) -> Option<u64> {
        self.claimed_frames.filter(|&n| n <= self.plausible_frames)
    }

    pub(super) fn lies(&self) -> bool {
        self.claimed_frames
            .is_some_and(|n| n > self.plausible_frames)
    }
}

/// Reads a stem's header; decodes it to count frames only where the header has no length
/// (within the memory budget). A header claiming more frames than the file can hold is
/// reported as an error here: this is what `check` shows.
pub fn probe_stem(path: &Path, opts: &LoadOptions) -> Result<StemInfo, LoadError> {
    let opened = open(path, opts)?;
    let codec = codec_name(&opened.params);
    let rate = opened.params.sample_rate;
    let channels = opened.params.channels.as_ref().map(|c| c.count());
    let bits = opened.params.bits_per_sample;
    let file_bytes = opened.file_bytes;
    let (rate, channels, frames) = match (rate, channels, opened.num_frames) {
        (Some(r), Some(c), Some(n)) => (r, c, n),
        _ => {
            drop(opened);
            let d = decode_stem(path, opts)?;
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
