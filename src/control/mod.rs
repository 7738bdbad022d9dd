//! The modes of the binary (`run`, `play`, `check`) and the control thread.
//! `main` parses arguments and calls [`main_with`]; everything after that lives here.

mod check;
pub mod controller;
mod device_watch;
pub mod display_feed;
mod modes;
pub mod pending;
mod reload;
mod reopen;
mod screens;
mod session;
pub mod signals;

use crate::cli::{Args, Mode};
use crate::loader::{self, LoadOptions};
use crate::model::library::{self, SongEntry};
use crate::model::song::Song;
use crate::rt::alsa_pcm::{self, Granted, OutputRequest};
use crate::storage::config::Config;
use std::path::Path;
use std::sync::Arc;

pub use session::Session;

/// A failure that ends the process; `code` is the exit status.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
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

/// The threads' own checks of the config (the key map as the input thread reads it, the MIDI
/// map as the midi thread does), made wherever a config is read: start-up, `check`, SIGHUP.
pub const CONFIG_CHECKS: &[crate::storage::config::ThreadCheck] = &[
    crate::hw::input::keymap::config_problem,
    crate::hw::midi::map::config_problem,
];

/// A config from JSON with every check the box makes (for tests and tools).
pub fn config_from_json(
    bytes: &[u8],
) -> Result<crate::storage::config::Config, crate::storage::config::ConfigError> {
    crate::storage::config::Config::from_json_checked(bytes, CONFIG_CHECKS)
}

/// Runs the mode `args` asks for; returns the exit code. Main thread.
pub fn main_with(args: Args) -> i32 {
    // Before anything slow (config, library scan): a stop must never kill us unsaved.
    let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let signals = if matches!(args.mode, Mode::Run | Mode::Play { .. }) {
        match signals::Signals::install(&cancel) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("stembox: cannot install signal handlers: {e}");
                return 1;
            }
        }
    } else {
        signals::Signals::none()
    };
    let out = crate::hw::console::ConsoleOutput::stdout();
    let ctx = |cfg: &Config| Context {
        out: out.clone(),
        signals: signals.clone(),
        load: LoadOptions {
            cancel: cancel.clone(),
            ..LoadOptions::for_config(cfg)
        },
    };
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
            load_config(&args.config).and_then(|cfg| check::run(&cfg, &ctx(&cfg).load, *decode))
        }
        Mode::Play { song, once, tempo } => load_config(&args.config).and_then(|cfg| {
            let ctx = ctx(&cfg);
            modes::play(cfg, ctx, song, *once, args.stats_json, *tempo)
        }),
        Mode::Run => load_config(&args.config).and_then(|cfg| {
            let ctx = ctx(&cfg);
            modes::run(cfg, ctx, &args.config, args.stats_json)
        }),
    };
    // Lines still queued for the console go out before the process ends (unless nobody
    // reads them: then exit anyway).
    out.flush(std::time::Duration::from_millis(300));
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("stembox: {e}");
            e.code
        }
    }
}

fn load_config(path: &Path) -> Result<Config, AppError> {
    Config::load(path, CONFIG_CHECKS).map_err(|e| AppError::usage(e.to_string()))
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
    let song = crate::model::grammar::parse_song_ref(name)?;
    crate::model::setlist::Setlist::folder_order(names.len()).find(&names, &song)
}

/// Loads a song at `rate` through [`loader::load_now`] and returns it once playable, with
/// one summary line when playable and one when loaded. Control thread, at start.
pub fn load_with_progress(
    entry: &SongEntry,
    rate: u32,
    ctx: &Context,
) -> Result<Arc<Song>, AppError> {
    let out = ctx.out.clone();
    loader::load_now(entry, rate, &ctx.load, move |report| match report {
        loader::LoadNowReport::Playable(song, t) => out.say(&format!(
            "playable {}: {} stems, {:.1} s, {:.1} MB in {:.3} s",
            song.name,
            song.stems().len(),
            song.duration_s(),
            song.ram_bytes() as f64 / 1e6,
            t.as_secs_f64()
        )),
        loader::LoadNowReport::Loaded(name, t) => {
            out.say(&format!("loaded {name} in {:.2} s", t.as_secs_f64()))
        }
        loader::LoadNowReport::Warning(w) => warn(&w),
    })
    .map_err(|e| AppError::runtime(e.to_string()))
}

/// What every mode gets from `main_with`: the signal flags and the options every song load
/// is held to (whose cancel flag SIGTERM sets).
#[derive(Clone, Debug)]
pub struct Context {
    pub signals: signals::Signals,
    pub load: LoadOptions,
    /// The console's output queue (stdout).
    pub out: Arc<crate::hw::console::ConsoleOutput>,
}

/// One warning line on stderr.
pub fn warn(line: &str) {
    eprintln!("warning: {line}");
}

/// Opens the output device (the caller says what it granted once the loop runs).
pub fn open_device(
    cfg: &Config,
) -> Result<(alsa::pcm::PCM, Granted), crate::rt::device::DeviceError> {
    let a = &cfg.audio;
    let request = OutputRequest {
        device: a.device.as_str(),
        rate: a.rate,
        channels: a.channels,
        format: a.format,
        period_frames: a.period_frames,
        periods: a.periods,
    };
    alsa_pcm::open_output(&request)
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
