//! The modes that run the control thread: `stembox play` (one song, `--once` to its end)
//! and `stembox run` (the appliance), from a loaded config to the [`Session`] that owns the
//! threads, including a stop (SIGTERM) that comes before the first song is playable.

use super::session::Session;
use super::{find_song, setlist, warn, AppError, Context};
use crate::hw::console::ConsoleOutput;
use crate::rt::status::Transport;
use crate::storage::config::Config;
use crate::storage::state::{SaveTimer, SavedState, StateStore};
use crate::telemetry::monitor::now_ns;
use crate::telemetry::stats::{underrun_free_s, StatsLine};
use std::path::Path;
use std::time::Instant;

/// SIGTERM or SIGINT arrived before the player was running (the first song was still
/// being decoded): save what is pending, print the final stats line, and exit 0 like a
/// normal stop.
fn stopped_before_ready(
    out: &ConsoleOutput,
    start_ns: u64,
    song: &str,
    state: Option<(StateStore, SavedState, SaveTimer)>,
) -> Result<(), AppError> {
    out.say(&format!("stopping: signal received while loading {song}"));
    if let Some((store, saved, timer)) = state {
        if timer.pending() {
            if let Err(e) = store.save(&saved) {
                warn(&format!("state not saved at exit: {e}"));
            }
        }
    }
    let now = now_ns();
    let line = StatsLine {
        uptime_s: (now - start_ns) / 1_000_000_000,
        song: None,
        pos_s: 0.0,
        transport: Transport::Stopped,
        xruns: 0,
        suspends: 0,
        underrun_free_s: underrun_free_s(now, start_ns, 0),
        device_lost: false,
        device_losses: 0,
        console_dropped: out.dropped_lines(),
        monitor: None,
        load_underruns: 0,
        stretch_underruns: 0,
        load_ms: None,
        song_ram_mb: 0.0,
        ram_mb: 0.0,
    };
    out.say(&line.to_text());
    Ok(())
}

/// `stembox play`: one song from its start; with `once`, to its end and exit. `tempo`:
/// speed in percent and key change in semitones (`--speed`, `--pitch`), if given.
pub fn play(
    cfg: Config,
    ctx: Context,
    song_name: &str,
    once: bool,
    stats_json: bool,
    tempo: Option<(f32, f32)>,
) -> Result<(), AppError> {
    let songs = setlist(&cfg)?;
    let index = find_song(&songs, song_name).map_err(|e| {
        AppError::usage(format!(
            "{e} (library {}; songs: {})",
            cfg.library,
            songs
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let start_ns = now_ns();
    let stopping = ctx.signals.clone();
    let out = ctx.out.clone();
    let session = match Session::start(
        cfg,
        ctx,
        songs.clone(),
        index,
        !once,
        once,
        stats_json,
        None,
        tempo,
    ) {
        Err(_) if stopping.stopping() => {
            return stopped_before_ready(&out, start_ns, &songs[index].name, None)
        }
        r => r?,
    };
    if once {
        session.wait_for_song_end()
    } else {
        session.serve()
    }
}

/// `stembox run`: the appliance; `config_path` is read again on SIGHUP.
pub fn run(
    cfg: Config,
    ctx: Context,
    config_path: &Path,
    stats_json: bool,
) -> Result<(), AppError> {
    let start_ns = now_ns();
    let mut songs = setlist(&cfg)?;
    let store = StateStore::new(Path::new(cfg.state_dir.as_str()));
    let loaded = store.load();
    if let Some(w) = &loaded.warning {
        warn(w);
    }
    // A setlist reordered on the page is kept in the state: the library stays read-only.
    if let Some(saved) = &loaded.state.setlist {
        let names: Vec<String> = songs.iter().map(|s| s.name.clone()).collect();
        let order = crate::model::setlist::saved_order(&names, saved);
        songs = order.into_iter().map(|i| songs[i].clone()).collect();
    }
    let first = loaded
        .state
        .last_song
        .as_deref()
        .and_then(|name| songs.iter().position(|s| s.name == name))
        .unwrap_or(0);
    let mut saved = loaded.state;
    let mut timer = SaveTimer::default();
    if saved.last_song.as_deref() != Some(songs[first].name.as_str()) {
        saved.last_song = Some(songs[first].name.clone());
        timer.changed(Instant::now());
    }
    let state = Some((store, saved, timer));
    let kept = state.clone();
    let name = songs[first].name.clone();
    let stopping = ctx.signals.clone();
    let out = ctx.out.clone();
    let mut session =
        match Session::start(cfg, ctx, songs, first, true, false, stats_json, state, None) {
            Err(_) if stopping.stopping() => {
                return stopped_before_ready(&out, start_ns, &name, kept)
            }
            r => r?,
        };
    session.config_path = Some(config_path.to_path_buf());
    session.open_leds();
    session.serve()
}
