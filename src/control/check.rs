//! `stembox check`: validates the config and the library without touching the audio device.

use super::{say, AppError};
use crate::loader::{self, StemInfo};
use crate::model::library;
use crate::rt::MAX_STEMS;
use crate::storage::config::Config;
use std::path::Path;

/// Lists every song and stem, the RAM each song needs, and every problem found.
pub fn run(cfg: &Config) -> Result<(), AppError> {
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
            "song {name}: folder has no stem files (flac, wav, mp3, ogg)"
        ));
    }
    if songs.is_empty() {
        problems.push("the library has no songs".into());
    }
    let budget = cfg.memory.budget_mb as u64 * 1024 * 1024;
    let mut ram_per_song = Vec::new();
    for (n, song) in songs.iter().enumerate() {
        let mut infos: Vec<(String, Result<StemInfo, String>)> = Vec::new();
        for stem in &song.stems {
            infos.push((
                stem.name.clone(),
                loader::probe_stem(&stem.path).map_err(|e| e.message),
            ));
        }
        // Frames once resampled to the device rate; the song is as long as its longest stem.
        let frames_at_rate = infos
            .iter()
            .filter_map(|(_, i)| i.as_ref().ok())
            .map(|i| (i.frames * rate as u64).div_ceil(i.rate.max(1) as u64))
            .max()
            .unwrap_or(0);
        let ram = frames_at_rate * 2 * 4 * song.stems.len() as u64;
        ram_per_song.push(ram);
        say(&format!(
            "song {:>2} {}: {} stems, {:.2} s, RAM {:.1} MB",
            n + 1,
            song.name,
            song.stems.len(),
            frames_at_rate as f64 / rate as f64,
            ram as f64 / 1e6
        ));
        for (name, info) in &infos {
            match info {
                Ok(i) => say(&format!(
                    "  stem {:<12} {:<9} {:>6} Hz {:<6} {:>7} {:>8.2} s{}",
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
                    for w in &m.warnings {
                        say(&format!("  note: {}: {w}", meta.display()));
                    }
                }
                Ok(None) => {}
                Err(e) => problems.push(e),
            }
        }
        if song.stems.len() > MAX_STEMS {
            problems.push(format!(
                "song {}: {} stems, stembox mixes at most {MAX_STEMS}",
                song.name,
                song.stems.len()
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
        "check: {} songs, {} problems",
        songs.len(),
        problems.len()
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
