//! The modes of the binary (`run`, `play`, `check`) and the control thread.
//! `main` parses arguments and calls [`main_with`]; everything after that lives here.

mod check;
pub mod controller;
pub mod display_feed;
pub mod pending;
mod reopen;
mod runtime;

use crate::cli::{Args, Mode};
use crate::loader;
use crate::model::library::{self, SongEntry};
use crate::model::song::Song;
use crate::rt::alsa_pcm::{self, Granted, OutputRequest};
use crate::storage::config::Config;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

pub use runtime::Session;

/// A failure that ends the process; `code` is the exit status.
#[derive(Debug)]
pub struct AppError {
    pub code: i32,
    pub message: String,
}

impl AppError {
    /// Bad config or usage: exit 2.
    pub fn usage(message: impl Into<String>) -> AppError {
        AppError {
            code: 2,
            message: message.into(),
        }
    }

    /// Device or library failure: exit 1.
    pub fn runtime(message: impl Into<String>) -> AppError {
        AppError {
            code: 1,
            message: message.into(),
        }
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Runs the mode `args` asks for; returns the exit code. Main thread.
pub fn main_with(args: Args) -> i32 {
    if matches!(args.mode, Mode::Run | Mode::Play { .. }) {
        // Before anything slow (config, library scan): a stop must never kill us unsaved.
        runtime::install_signal_handlers();
    }
    let result = match &args.mode {
        Mode::Help => {
            print!("{}", crate::cli::HELP);
            Ok(())
        }
        Mode::Version => {
            println!("stembox {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Mode::Check { decode } => {
            load_config(&args.config).and_then(|cfg| check::run(&cfg, *decode))
        }
        Mode::Play { song, once, tempo } => load_config(&args.config)
            .and_then(|cfg| runtime::play(cfg, song, *once, args.stats_json, *tempo)),
        Mode::Run => load_config(&args.config)
            .and_then(|cfg| runtime::run(cfg, &args.config, args.stats_json)),
    };
    // Lines still queued for the console go out before the process ends (unless nobody
    // reads them: then exit anyway).
    crate::hw::console::flush_output(std::time::Duration::from_millis(300));
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("stembox: {e}");
            e.code
        }
    }
}

fn load_config(path: &Path) -> Result<Config, AppError> {
    let cfg = Config::load(path).map_err(|e| AppError::usage(e.to_string()))?;
    // Every song load from here on (current song and neighbours) holds to the budget.
    loader::set_memory_budget_mb(cfg.memory.budget_mb);
    // ... and routes its stems over the configured buses.
    loader::set_bus_names(cfg.audio.buses.names());
    Ok(cfg)
}

/// The songs of the library, in setlist order.
pub fn setlist(cfg: &Config) -> Result<Vec<SongEntry>, AppError> {
    let root = Path::new(cfg.library.as_str());
    let (songs, _skipped) = library::scan(root).map_err(|e| AppError::runtime(e.to_string()))?;
    if songs.is_empty() {
        return Err(AppError::runtime(format!(
            "library {}: no songs (expected <library>/<song>/<stem>.flac|wav|mp3|ogg)",
            root.display()
        )));
    }
    let folders: Vec<String> = songs.iter().map(|s| s.name.clone()).collect();
    let (order, notes) = crate::model::setlist::load_order(root, &folders);
    for n in &notes {
        warn(n);
    }
    Ok((0..order.len())
        .filter_map(|pos| order.folder(pos))
        .map(|i| songs[i].clone())
        .collect())
}

/// Finds a song (`play --song`) as the console's `song` command does, through
/// [`Setlist::find`](crate::model::setlist::Setlist::find): a 1-based number, a folder name (exact,
/// else ignoring case, else a unique prefix). A folder literally named like a number wins.
pub fn find_song(songs: &[SongEntry], name: &str) -> Result<usize, String> {
    let names: Vec<String> = songs.iter().map(|s| s.name.clone()).collect();
    if let Some(i) = names.iter().position(|n| n == name) {
        return Ok(i);
    }
    let song = crate::hw::input::keymap::parse_song_ref(name)?;
    crate::model::setlist::Setlist::folder_order(names.len()).find(&names, &song)
}

/// Loads a song at `rate` and returns it as soon as it is playable (its first
/// [`loader::PLAYABLE_LEAD_S`] decoded, see [`loader::load_song_progressive`]); a thread
/// named `stembox-load` goes on decoding the rest into it and prints what it finds. One
/// summary line when playable, one when loaded. Control thread, at start.
pub fn load_with_progress(entry: &SongEntry, rate: u32) -> Result<Arc<Song>, AppError> {
    let t0 = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    let entry = entry.clone();
    let spawned = std::thread::Builder::new()
        .name("stembox-load".into())
        .spawn(move || {
            let mut handed = false;
            let r = loader::load_song_progressive(&entry, rate, &mut |song, warnings| {
                for w in &warnings {
                    warn(w);
                }
                say(&format!(
                    "playable {}: {} stems, {:.1} s, {:.1} MB in {:.3} s",
                    song.name,
                    song.stems().len(),
                    song.duration_s(),
                    song.ram_bytes() as f64 / 1e6,
                    t0.elapsed().as_secs_f64()
                ));
                handed = true;
                let _ = tx.send(Ok(song));
            });
            match r {
                Ok(later) => {
                    for w in &later {
                        warn(w);
                    }
                    say(&format!(
                        "loaded {} in {:.2} s",
                        entry.name,
                        t0.elapsed().as_secs_f64()
                    ));
                }
                Err(e) if !handed => {
                    let _ = tx.send(Err(AppError::runtime(e.to_string())));
                }
                Err(e) => warn(&e.to_string()),
            }
        })
        .map_err(|e| AppError::runtime(format!("cannot start the loader thread: {e}")))?;
    let got = rx.recv();
    match got {
        Ok(r) => r,
        Err(_) => {
            // The thread ended without a word: it panicked (a decoder bug).
            let _ = spawned.join();
            Err(AppError::runtime("the loader failed (panic)".to_string()))
        }
    }
}

/// One line on the console (stdout): queued for the console's writer thread, so a console
/// nobody reads never blocks the caller (see [`crate::hw::console::say`]).
pub fn say(line: &str) {
    crate::hw::console::say(line);
}

/// One warning line on stderr.
pub fn warn(line: &str) {
    eprintln!("warning: {line}");
}

/// Opens the output device (the caller says what it granted once the loop runs).
pub fn open_device(cfg: &Config) -> Result<(alsa::pcm::PCM, Granted), AppError> {
    let a = &cfg.audio;
    let request = OutputRequest {
        device: a.device.as_str(),
        rate: a.rate,
        channels: a.channels,
        format: a.format,
        period_frames: a.period_frames,
        periods: a.periods,
    };
    alsa_pcm::open_output(&request).map_err(|e| AppError::runtime(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn songs(names: &[&str]) -> Vec<SongEntry> {
        names
            .iter()
            .map(|n| SongEntry {
                name: n.to_string(),
                dir: Path::new("/lib").join(n),
                stems: Vec::new(),
                meta_path: None,
            })
            .collect()
    }

    #[test]
    fn play_finds_a_song_as_the_console_does() {
        let s = songs(&["01-opener", "02-ballad", "7"]);
        assert_eq!(find_song(&s, "02-ballad"), Ok(1));
        assert_eq!(find_song(&s, "02-BALLAD"), Ok(1));
        assert_eq!(find_song(&s, "01"), Ok(0));
        assert_eq!(find_song(&s, "2"), Ok(1));
        // A folder named like a number is found by its name first.
        assert_eq!(find_song(&s, "7"), Ok(2));
        assert_eq!(
            find_song(&s, "4"),
            Err("no song 4: the setlist has 3 songs".into())
        );
        assert_eq!(find_song(&s, "0"), Err("numbers start at 1".into()));
        assert_eq!(
            find_song(&s, "0-"),
            Err("no song \"0-\" in the setlist".into())
        );
        assert_eq!(
            find_song(&s, "zz"),
            Err("no song \"zz\" in the setlist".into())
        );
    }
}
