//! Loading a whole song: each stem decodes on a thread of its own into a buffer sized from
//! its header, published to the audio thread as it grows (progressive loading), within the
//! memory budget; a song is handed over once every stem is playable.

use super::*;

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
    opts: &LoadOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Song, LoadError> {
    load_whole(entry, device_rate, opts, false, progress).map(|(song, _)| song)
}

/// [`load_song`], then `song.json` (title, bpm, metre, stem gain/pan/mute, sections)
/// applied. A bad `song.json` is a warning, and the song plays with defaults. Returns the
/// song and the warnings, one line each.
pub fn load_song_with_meta(
    entry: &SongEntry,
    device_rate: u32,
    opts: &LoadOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Song, Vec<String>), LoadError> {
    load_whole(entry, device_rate, opts, true, progress)
}

pub(super) fn load_whole(
    entry: &SongEntry,
    device_rate: u32,
    opts: &LoadOptions,
    with_meta: bool,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Song, Vec<String>), LoadError> {
    let mut kept = None;
    let mut warnings = Vec::new();
    let finished = load_streaming(
        entry,
        device_rate,
        opts,
        with_meta,
        progress,
        &mut |song, w| {
            kept = Some(song);
            warnings.extend(w);
        },
    )?;
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
    opts: &LoadOptions,
    on_playable: &mut dyn FnMut(Arc<Song>, Vec<String>),
) -> Result<Vec<String>, LoadError> {
    let finished = load_streaming(entry, device_rate, opts, true, &mut |_| {}, on_playable)?;
    let mut warnings = finished.warnings;
    // A stop (SIGTERM) calling the decode off is no news: the process is ending.
    if let Some(e) = finished.failed.filter(|_| !opts.cancelled()) {
        warnings.push(format!("{e} (the rest of that stem plays as silence)"));
    }
    Ok(warnings)
}

pub(super) fn over_budget(
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
pub(super) enum StemPlan {
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

/// Buckets of a stem's waveform overview on the screens (about 4 per second of a 4-minute
/// song; a phone's timeline is narrower than this).
pub const OVERVIEW_BUCKETS: usize = 1000;

/// What a load found after the song was handed over.
pub(super) struct Finished {
    pub(super) warnings: Vec<String>,
    pub(super) failed: Option<LoadError>,
}

/// A stem decoder's result: frames decoded at the device rate, and warnings.
pub(super) type StreamResult = Result<(u64, Vec<String>), LoadError>;

pub(super) fn load_streaming(
    entry: &SongEntry,
    device_rate: u32,
    opts: &LoadOptions,
    with_meta: bool,
    progress: &mut dyn FnMut(Progress),
    on_playable: &mut dyn FnMut(Arc<Song>, Vec<String>),
) -> Result<Finished, LoadError> {
    // An NI Stems file holds several stems: it is decoded whole, after the stem files'
    // headers are read (see below); the stem files stream as usual.
    let (plain_entry, ni_file) = crate::loader::nistem::split_song_files(entry)?;
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
    let limit = opts.budget_bytes;
    let budget = Budget::new(limit);
    let mut warnings = Vec::new();
    // Headers first: the song's length and size, believed only as far as the files can
    // hold it. A song that cannot fit is refused here, in milliseconds.
    let mut plans = Vec::with_capacity(entry.stems.len());
    for file in &entry.stems {
        let opened = open(&file.path, opts)?;
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
                let (stem, notes) = load_stem_whole(file, device_rate, &budget, opts)?;
                warnings.extend(notes);
                plans.push(StemPlan::Whole(stem));
            }
        }
    }
    let mut names: Vec<String> = entry.stems.iter().map(|f| f.name.clone()).collect();
    let mut master_stem = None;
    if let Some(ni) = &ni_file {
        let (stems, master) = crate::loader::nistem::load_stems(
            entry,
            ni,
            &names,
            device_rate,
            limit,
            opts,
            &mut warnings,
        )?;
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
        read_meta(entry, &mut song, opts, &mut warnings);
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
                .name(format!("stembox-stem{i}"))
                .spawn_scoped(scope, move || {
                    // The song was dropped by everybody else: stop, and free it here.
                    let dropped = || {
                        stop.load(Ordering::Relaxed)
                            || (handed.load(Ordering::Acquire) && Arc::strong_count(song) == 1)
                    };
                    let r = match song.stems()[i].audio().writer() {
                        Some(w) if rate == device_rate && can_seek(&opened) => {
                            stream_stem_seeking(path, *opened, w, song, opts, &dropped)
                        }
                        Some(w) => stream_stem(path, *opened, rate, w, device_rate, opts, &dropped),
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
                && !opts.cancelled()
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
    if Arc::strong_count(&song) > 1 && !opts.cancelled() {
        // The screens' waveform overview, on this (loader) thread, once the decode is done.
        let frames = song.frames() as usize;
        let overview = song
            .stems()
            .iter()
            .map(|s| {
                let ch = s.channels();
                let n = (frames * ch).min(s.samples().len());
                crate::model::peaks::overview(&s.samples()[..n], ch, OVERVIEW_BUCKETS)
            })
            .collect();
        let _ = song.overview.set(overview);
    }
    Ok(Finished {
        warnings,
        failed: first_error,
    })
}

/// Decodes one stem front to back into its buffer at the device rate, publishing as it
/// goes. Frames beyond the buffer (a header that claimed too few) are dropped with a
/// warning; a header that claimed too many leaves silence (the song is trimmed later).
pub(super) fn stream_stem(
    path: &Path,
    mut opened: Opened,
    rate: u32,
    mut writer: StemWriter<'_>,
    device_rate: u32,
    opts: &LoadOptions,
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
        decode_packets(path, &mut opened, opts, stop, None, &mut sink)?
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
pub(super) fn can_seek(opened: &Opened) -> bool {
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
pub(super) fn stream_stem_seeking(
    path: &Path,
    mut opened: Opened,
    writer: StemWriter<'_>,
    song: &Song,
    opts: &LoadOptions,
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
        decode_packets(path, &mut opened, opts, stop, Some(&mut hook), &mut sink)?
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

pub(super) fn writer_channels(opened: &Opened) -> usize {
    opened.params.channels.as_ref().map_or(1, |c| c.count())
}

pub(super) fn packet_notes(
    path: &Path,
    bad_packets: usize,
    nonfinite_samples: usize,
) -> Vec<String> {
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

/// A stem decoded whole and resampled, kept at its file's channels.
pub(super) fn load_stem_whole(
    file: &StemFile,
    device_rate: u32,
    budget: &Budget,
    opts: &LoadOptions,
) -> Result<(Stem, Vec<String>), LoadError> {
    let decoded = decode_stem_within(&file.path, budget, Some(device_rate), opts)?;
    let notes = packet_notes(&file.path, decoded.bad_packets, decoded.nonfinite_samples);
    let samples = resample(
        &decoded.samples,
        decoded.channels,
        decoded.rate,
        device_rate,
        opts,
    )
    .map_err(|e| load_err(&file.path, e))?;
    let stem = Stem::with_channels(
        file.name.clone(),
        decoded.channels,
        samples.into_boxed_slice(),
    );
    Ok((stem, notes))
}
