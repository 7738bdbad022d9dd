//! Decoding one stem's packets, with the seek hook progressive loading uses, bad packets
//! and non-finite samples counted.

use super::*;

/// Decodes a whole stem into interleaved f32 at its own rate and channels, within the
/// memory budget ([`memory_budget_bytes`]).
pub fn decode_stem(path: &Path, opts: &LoadOptions) -> Result<DecodedStem, LoadError> {
    decode_stem_within(path, &Budget::new(opts.budget_bytes), None, opts)
}

/// [`decode_stem`], charging `budget` with what the stem will take at `device_rate` (its
/// own rate when `None`) as samples arrive; the error names the stem and the budget.
pub fn decode_stem_within(
    path: &Path,
    budget: &Budget,
    device_rate: Option<u32>,
    opts: &LoadOptions,
) -> Result<DecodedStem, LoadError> {
    let mut opened = open(path, opts)?;
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
        opts,
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
pub(super) type PacketSink<'a> = dyn FnMut(&[f32], u32, usize, u64) -> Result<(), LoadError> + 'a;

/// What a decode does next, asked between packets (and at the file's end) of a decode that
/// may seek: `Seek(frame)` goes there (sample-accurate), `Done` ends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Next {
    Go,
    Seek(u64),
    Done,
}

/// Asked with the frame the next packet would start at, and whether the file ended there.
pub(super) type SeekHook<'a> = dyn FnMut(u64, bool) -> Next + 'a;

/// What a decode found besides the samples.
pub(super) struct DecodeCounts {
    pub(super) rate: u32,
    pub(super) channels: usize,
    pub(super) bad_packets: usize,
    pub(super) nonfinite_samples: usize,
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
pub(super) fn decode_packets(
    path: &Path,
    opened: &mut Opened,
    opts: &LoadOptions,
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
        if opts.cancelled() || stop() {
            let why = if opts.cancelled() {
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
