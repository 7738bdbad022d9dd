//! `stembox check`: validates the config and the library without touching the audio device.

use super::AppError;
use crate::loader::{self, StemInfo};
use crate::model::library;
use crate::rt::MAX_STEMS;
use crate::storage::config::Config;
use std::path::Path;

/// Lists every song and stem, the RAM each song needs, and every problem found. With
/// `decode`, every stem is decoded as `play` would (one at a time, dropped at once), so damage
/// inside a file that its header does not show is found too.
pub fn run(cfg: &Config, opts: &crate::loader::LoadOptions, decode: bool) -> Result<(), AppError> {
    let rate = cfg.audio.rate;
    say(&format!(
        "config ok: device={} rate={} channels={} format={} period_frames={} periods={} latency_monitor={}",
        cfg.audio.device,
        rate,
        cfg.audio.channels,
        cfg.audio.format,
        cfg.audio.period_frames,
        cfg.audio.periods,
        cfg.audio.enable_latency_monitor
    ));
    let bus_names = cfg.audio.buses.names();
    say(&format!("buses: {}", buses_line(cfg)));
    let map = crate::hw::input::KeyMap::from_config(&cfg.buttons.map)
        .map_err(|e| AppError::usage(e.to_string()))?;
    say(&format!(
        "buttons: {} device(s){}; {} map:",
        cfg.buttons.devices.len(),
        cfg.buttons
            .devices
            .iter()
            .map(|d| format!(" {d}"))
            .collect::<String>(),
        if cfg.buttons.map.is_empty() {
            "default"
        } else {
            "configured"
        }
    ));
    for line in map.describe().lines() {
        say(&format!("  {line}"));
    }
    check_midi(&cfg.midi)?;
    let root = Path::new(cfg.library.as_str());
    let (songs, skipped) = library::scan(root).map_err(|e| AppError::runtime(e.to_string()))?;
    say(&format!(
        "library {}: {} songs",
        root.display(),
        songs.len()
    ));
    let mut problems: Vec<String> = Vec::new();
    let folders: Vec<String> = songs.iter().map(|s| s.name.clone()).collect();
    let (order, notes) = crate::model::setlist::load_order(root, &folders);
    say(&format!(
        "setlist: {}",
        (0..order.len())
            .filter_map(|p| order.folder(p))
            .map(|i| folders[i].as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    // `run` and `play` start anyway (in folder order when the file is unusable), but a
    // setlist that does not say what its author meant is a problem to fix before the gig.
    problems.extend(notes);
    for name in &skipped {
        problems.push(format!(
            "song {name}: folder has no stem files (flac, wav, mp3, ogg, m4a, mp4, stem.mp4)"
        ));
    }
    if songs.is_empty() {
        problems.push("the library has no songs".into());
    }
    let budget = cfg.memory.budget_mb as u64 * 1024 * 1024;
    let mut ram_per_song = Vec::new();
    for (n, song) in songs.iter().enumerate() {
        let mut infos: Vec<(String, Result<StemInfo, String>)> = Vec::new();
        // What a stem line adds: an NI stem's colour, or that it is the NI master.
        let mut notes: Vec<String> = Vec::new();
        for stem in &song.stems {
            if crate::loader::nistem::is_ni_stem_file(&stem.path) {
                ni_stem_infos(&stem.path, &mut infos, &mut notes);
                continue;
            }
            infos.push((
                stem.name.clone(),
                loader::probe_stem(&stem.path, opts).map_err(|e| e.message),
            ));
            notes.push(String::new());
        }
        // Frames once resampled to the device rate; the song is as long as its longest stem.
        let frames_at_rate = infos
            .iter()
            .filter_map(|(_, i)| i.as_ref().ok())
            .map(|i| (i.frames * rate as u64).div_ceil(i.rate.max(1) as u64))
            .max()
            .unwrap_or(0);
        // Mono stems are held mono; an unreadable stem is counted as stereo.
        let channels: u64 = infos
            .iter()
            .map(|(_, i)| i.as_ref().map_or(2, |i| i.channels.clamp(1, 2) as u64))
            .sum();
        let ram = frames_at_rate * 4 * channels;
        ram_per_song.push(ram);
        say(&format!(
            "song {:>2} {}: {} stems, {:.2} s, RAM {:.1} MB",
            n + 1,
            song.name,
            infos.len(),
            frames_at_rate as f64 / rate as f64,
            ram as f64 / 1e6
        ));
        for ((name, info), note) in infos.iter().zip(&notes) {
            match info {
                Ok(i) => say(&format!(
                    "  stem {:<12} {:<9} {:>6} Hz {:<6} {:>7} {:>8.2} s{}{note}",
                    name,
                    i.codec,
                    i.rate,
                    if i.channels == 1 { "mono" } else { "stereo" },
                    i.bits_per_sample
                        .map_or("-".to_string(), |b| format!("{b}-bit")),
                    i.duration_s(),
                    if i.rate != rate { " (resampled)" } else { "" }
                )),
                Err(e) => {
                    say(&format!("  stem {name:<12} UNREADABLE"));
                    problems.push(e.clone());
                }
            }
        }
        if decode {
            for stem in song.stems.iter() {
                if crate::loader::nistem::is_ni_stem_file(&stem.path) {
                    progress(&format!(
                        "decoding song {}/{}: {}",
                        n + 1,
                        songs.len(),
                        stem.name
                    ));
                    match crate::loader::nistem::decode_file(&stem.path, None, budget, opts) {
                        Ok(d) => problems.extend(d.warnings),
                        Err(e) => problems.push(e.message),
                    }
                }
            }
            let files = song
                .stems
                .iter()
                .filter(|s| !crate::loader::nistem::is_ni_stem_file(&s.path));
            let file_infos = infos.iter().zip(&notes).filter(|(_, n)| n.is_empty());
            for (stem, ((_, info), _)) in files.zip(file_infos) {
                if let Ok(info) = info {
                    progress(&format!(
                        "decoding song {}/{}: {}",
                        n + 1,
                        songs.len(),
                        stem.name
                    ));
                    problems.extend(decode_problems(&stem.path, info, opts));
                }
            }
            progress("");
        }
        // Where each stem plays, and why (a song.json that does not read: defaults).
        let meta = song
            .meta_path
            .as_ref()
            .and_then(|p| crate::model::songmeta::load_song_json(p).ok().flatten());
        for stem in &song.stems {
            let given = meta
                .as_ref()
                .and_then(|m| m.stem(&stem.name))
                .map_or(&[][..], |s| s.bus.as_slice());
            say(&route_line(&bus_names, &stem.name, given));
        }
        if let Some(meta) = &song.meta_path {
            match crate::model::songmeta::load_song_json(meta) {
                Ok(Some(m)) => {
                    say(&format!(
                        "  song.json: title={:?} bpm={} time_signature={}/{} sections={}",
                        m.title.as_deref().unwrap_or(""),
                        m.bpm.map_or("-".into(), |b| format!("{b}")),
                        m.metre().beats_per_bar,
                        m.metre().beat_unit,
                        m.sections.len()
                    ));
                    if let Some(line) = tempo_line(&m) {
                        say(&line);
                    }
                    for w in &m.warnings {
                        say(&format!("  note: {}: {w}", meta.display()));
                    }
                }
                Ok(None) => {}
                Err(e) => problems.push(e),
            }
        }
        // Lyrics cost only themselves: what was found, and each line that was skipped.
        let lrc = song.dir.join(crate::model::lyrics::LYRICS_FILE);
        match crate::model::lyrics::load_lyrics(&lrc) {
            Ok(None) => {}
            Ok(Some(l)) => {
                say(&format!("  lyrics.lrc: {}", l.summary()));
                for w in &l.warnings {
                    say(&format!("  note: {w}"));
                }
            }
            Err(e) => say(&format!("  note: {e}; the song plays without lyrics")),
        }
        if infos.len() > MAX_STEMS {
            problems.push(format!(
                "song {}: {} stems, stembox mixes at most {MAX_STEMS}",
                song.name,
                infos.len()
            ));
        }
        let ni_files = song
            .stems
            .iter()
            .filter(|s| crate::loader::nistem::is_ni_stem_file(&s.path))
            .count();
        if ni_files > 1 {
            problems.push(format!(
                "song {}: {ni_files} NI Stems files; keep one per song folder",
                song.name
            ));
        }
        if ram > budget {
            problems.push(format!(
                "song {}: needs {:.0} MB decoded, more than memory.budget_mb = {}",
                song.name,
                ram as f64 / 1048576.0,
                cfg.memory.budget_mb
            ));
        }
    }
    // The current song and both neighbours are kept decoded for instant changes.
    for i in 0..ram_per_song.len() {
        let lo = i.saturating_sub(1);
        let hi = (i + 1).min(ram_per_song.len() - 1);
        let need: u64 = ram_per_song[lo..=hi].iter().sum();
        if need > budget && ram_per_song[i] <= budget {
            say(&format!(
                "note: song {} with its neighbours needs {:.0} MB, over memory.budget_mb = {}: changing to it will not be instant",
                songs[i].name,
                need as f64 / 1048576.0,
                cfg.memory.budget_mb
            ));
        }
    }
    for p in &problems {
        say(&format!("problem: {p}"));
    }
    say(&format!(
        "check: {} songs, {} problems{}",
        songs.len(),
        problems.len(),
        if decode {
            ", every stem decoded"
        } else {
            "; --quick: headers only, stems not decoded (damage inside a file is not found)"
        }
    ));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(AppError::runtime(format!(
            "{} problems found in the library",
            problems.len()
        )))
    }
}

/// The tracks of an NI Stems file as stem lines: the stems named from its manifest (with
/// their colours), then its master; a file that cannot be read is one UNREADABLE line.
fn ni_stem_infos(
    path: &Path,
    infos: &mut Vec<(String, Result<StemInfo, String>)>,
    notes: &mut Vec<String>,
) {
    let file = match crate::loader::nistem::probe(path) {
        Ok(f) => f,
        Err(e) => {
            let name = path
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into());
            infos.push((name, Err(e.message)));
            notes.push(" NI Stems".into());
            return;
        }
    };
    if let Some(note) = &file.manifest_note {
        say(&format!(
            "  note: {}: {note}; stems named stem1..",
            path.display()
        ));
    }
    // Stems first, the master last: the order the loaded song has.
    let mut tracks: Vec<_> = file.tracks.iter().skip(1).collect();
    tracks.extend(file.tracks.first());
    for (k, t) in tracks.into_iter().enumerate() {
        let is_master = k + 1 == file.tracks.len();
        infos.push((
            t.name.clone(),
            Ok(StemInfo {
                codec: t.codec.clone(),
                rate: t.rate,
                channels: t.channels,
                bits_per_sample: None,
                frames: t.frames,
            }),
        ));
        notes.push(match (is_master, t.color) {
            (true, _) => " NI master (heard with `mix master`)".into(),
            (false, Some(c)) => format!(" NI stem #{c:06X}"),
            (false, None) => " NI stem".into(),
        });
    }
}

/// `main -> 1-2, cue -> 3`: the buses in the engine's order, outputs 1-based.
fn buses_line(cfg: &Config) -> String {
    match cfg.audio.buses.table(cfg.audio.channels) {
        Ok(t) => cfg
            .audio
            .buses
            .names()
            .iter()
            .zip(t.buses())
            .map(|(n, b)| {
                let ch: Vec<String> = b.channels().iter().map(|c| (c + 1).to_string()).collect();
                format!("{n} -> {}", ch.join("-"))
            })
            .collect::<Vec<_>>()
            .join(", "),
        Err(e) => format!("unusable: {e}"),
    }
}

/// `  bus keys         -> main+cue (song.json)`, with any unknown bus names.
fn route_line(buses: &[String], stem: &str, given: &[String]) -> String {
    let r = crate::model::bus::route(buses, stem, given);
    let unknown: String = r
        .unknown
        .iter()
        .map(|n| format!("; unknown bus {n:?}"))
        .collect();
    format!(
        "  bus {stem:<12} -> {} ({}){unknown}",
        r.names(buses),
        r.why
    )
}

/// What decoding a stem whose header read fine finds: a decoder error, damaged packets, a
/// stem much shorter than its header says (truncated), samples that are not numbers.
fn decode_problems(path: &Path, info: &StemInfo, opts: &crate::loader::LoadOptions) -> Vec<String> {
    let stem = match loader::decode_stem(path, opts) {
        Ok(stem) => stem,
        Err(e) => return vec![e.message],
    };
    let mut problems = Vec::new();
    if stem.bad_packets > 0 {
        problems.push(format!(
            "{}: {} damaged packets (play skips them: a gap)",
            path.display(),
            stem.bad_packets
        ));
    }
    // A header's length is exact for every supported codec; 10 ms of slack for the padding
    // some encoders leave out of the count.
    let got = stem.frames() as u64;
    let slack = u64::from(info.rate) / 100;
    if info.frames > 0 && got + slack < info.frames {
        problems.push(format!(
            "{}: decodes to {:.2} s of the {:.2} s its header says: truncated or damaged",
            path.display(),
            got as f64 / f64::from(info.rate.max(1)),
            info.duration_s()
        ));
    }
    if stem.nonfinite_samples > 0 {
        problems.push(format!(
            "{}: {} samples are NaN, infinite or beyond +24 dBFS (play silences or clamps them)",
            path.display(),
            stem.nonfinite_samples
        ));
    }
    problems
}

/// One progress line on a terminal (stderr), rewritten in place; `""` clears it.
fn progress(line: &str) {
    use std::io::{IsTerminal, Write};
    let mut err = std::io::stderr();
    if err.is_terminal() {
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
    }
}

/// The `midi` section: ports and the MIDI map, one binding a line.
fn check_midi(cfg: &crate::storage::config::MidiConfig) -> Result<(), AppError> {
    let map = crate::hw::midi::map::MidiMap::from_config(cfg)
        .map_err(|e| AppError::usage(e.to_string()))?;
    let names = |list: &[heapless::String<64>]| {
        if list.is_empty() {
            " none".to_string()
        } else {
            list.iter().map(|p| format!(" \"{p}\"")).collect()
        }
    };
    say(&format!(
        "midi: inputs{}; clock_out{}; map:",
        names(&cfg.inputs),
        names(&cfg.clock_out)
    ));
    for line in map.describe().lines() {
        say(&format!("  {line}"));
    }
    Ok(())
}

/// `check`'s line for a song's tempo map and click, e.g. `  tempo: bar 1 120 bpm 4/4,
/// bar 9 96 bpm 3/4 (bars 1-8 16.0 s); click on`. `None` without a tempo or a click setting.
fn tempo_line(m: &crate::model::songmeta::SongMeta) -> Option<String> {
    let click = m.click.map(|c| if c { "click on" } else { "click off" });
    if m.tempo.is_empty() {
        return click.map(|c| format!("  tempo: none; {c} (no beat grid to click on)"));
    }
    let changes: Vec<String> = m
        .tempo
        .iter()
        .map(|c| {
            format!(
                "bar {} {} bpm {}/{}",
                c.bar, c.bpm, c.time_signature.beats_per_bar, c.time_signature.beat_unit
            )
        })
        .collect();
    let mut line = format!("  tempo: {}", changes.join(", "));
    // Where the last change falls, so a map can be checked against the recording.
    if let (Some(last), Some(map)) = (m.tempo.last(), m.tempo_map(1)) {
        if last.bar > 1 {
            line.push_str(&format!(
                " (bar {} at {:.2} s)",
                last.bar,
                map.frame_of_bar(last.bar as f64)
            ));
        }
    }
    if let Some(c) = click {
        line.push_str(&format!("; {c}"));
    }
    Some(line)
}

/// One line of the report on stdout: `check` runs no other thread that prints, so its
/// report needs no queue.
fn say(line: &str) {
    println!("{}", crate::base::text::escape_for_console(line));
}

#[cfg(test)]
mod tempo_line_tests {
    use super::tempo_line;
    use crate::model::songmeta::parse_song_json;

    #[test]
    fn check_shows_the_tempo_map_and_click() {
        let m = parse_song_json(
            br#"{"bpm": 120, "click": true, "tempo_map": [{"bar": 3, "time_signature": "3/4"}, {"bar": 4, "bpm": 90}]}"#,
        )
        .unwrap();
        assert_eq!(
            tempo_line(&m).unwrap(),
            "  tempo: bar 1 120 bpm 4/4, bar 3 120 bpm 3/4, bar 4 90 bpm 3/4 (bar 4 at 5.50 s); click on"
        );
        let m = parse_song_json(br#"{"bpm": 96.5}"#).unwrap();
        assert_eq!(tempo_line(&m).unwrap(), "  tempo: bar 1 96.5 bpm 4/4");
        let m = parse_song_json(br#"{"click": true}"#).unwrap();
        assert_eq!(
            tempo_line(&m).unwrap(),
            "  tempo: none; click on (no beat grid to click on)"
        );
        assert_eq!(tempo_line(&parse_song_json(b"{}").unwrap()), None);
    }
}
