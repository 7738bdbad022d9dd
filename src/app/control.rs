//! The control thread: the only owner of mutable app state. Console lines and button
//! actions come in as [`Event`]s; the control thread turns them into engine commands, keeps
//! the current song and its neighbours decoded (the loader thread does the work), drops
//! what the engine hands back, and prints the console's answers and stats lines.

use super::{find_song, load_with_progress, open_device, say, setlist, warn, AppError};
use crate::action::{Action, SongRef};
use crate::config::Config;
use crate::input::{monotonic_now, ButtonEvent, InputMsg, InputThread};
use crate::library::SongEntry;
use crate::monitor::{now_ns, MonitorRt, MonitorShared, Snapshot};
use crate::rt::alsa_pcm::Granted;
use crate::rt::command::Command;
use crate::rt::engine::{Engine, EngineHandle};
use crate::rt::ramp::db_to_gain;
use crate::rt::run::{spawn_audio_thread, AudioThread, NoObserver};
use crate::rt::status::Transport;
use crate::rt::thread as rt_thread;
use crate::song::Song;
use crate::state::{SaveTimer, SavedState, StateStore, StemSetting};
use crate::stats::{underrun_free_s, MonitorStats, StatsLine};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Something for the control thread to act on.
#[derive(Debug)]
pub enum Event {
    /// A console command (parse errors and `help` are answered on the console thread).
    Console(Action),
    /// A button gesture decided an action.
    Button(ButtonEvent),
    /// A line worth showing from the input thread (device found, lost, ...).
    Notice(String),
    /// The loader finished a song (setlist index).
    Loaded(usize, Result<Arc<Song>, String>),
}

/// How often the control thread wakes when nothing happens: garbage, stats, song end.
const TICK: Duration = Duration::from_millis(50);
/// Master volume step of `volume_up` / `volume_down`.
const VOLUME_STEP_DB: f32 = 2.0;

// Set from signal handlers (async-signal-safe: plain atomic stores).
static SIG_TERM: AtomicBool = AtomicBool::new(false);
static SIG_USR1: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_term(_: libc::c_int) {
    SIG_TERM.store(true, Relaxed);
}

extern "C" fn on_usr1(_: libc::c_int) {
    SIG_USR1.fetch_add(1, Relaxed);
}

fn install_signal_handlers() {
    // SAFETY: the handlers only store to atomics, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_term as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_term as *const () as libc::sighandler_t);
        libc::signal(libc::SIGUSR1, on_usr1 as *const () as libc::sighandler_t);
    }
}

/// Mirror of one stem's mixer settings (the engine has the ramped truth).
#[derive(Clone, Debug, PartialEq)]
struct StemMix {
    name: String,
    mute: bool,
    solo: bool,
    gain_db: f32,
}

/// The running app.
pub struct Session {
    cfg: Config,
    granted: Granted,
    songs: Vec<SongEntry>,
    /// Decoded songs by setlist index: the current one and its neighbours.
    cache: HashMap<usize, Arc<Song>>,
    /// Setlist index of the song in the engine.
    current: usize,
    /// A song change waiting for its song to finish loading: (index, play).
    pending_switch: Option<(usize, bool)>,
    mix: Vec<StemMix>,
    master_db: f32,
    count_in: bool,
    loop_a: Option<u64>,
    loop_region: Option<(u64, u64)>,
    engine: EngineHandle,
    audio: Option<AudioThread>,
    monitor: Option<(Arc<MonitorShared>, Snapshot)>,
    events_tx: Sender<Event>,
    events: Receiver<Event>,
    loader_tx: Option<Sender<usize>>,
    input: Option<InputThread>,
    loading: Vec<usize>,
    start_ns: u64,
    last_xrun_ns: u64,
    seen_xruns: u32,
    stats_json: bool,
    quit: bool,
    leds: Option<crate::leds::StatusLeds<crate::leds::GpioLed>>,
    /// Where last song and stem settings are kept (`run` only).
    state: Option<(StateStore, SavedState, SaveTimer)>,
}

/// `stembox play`: one song from its start; with `once`, to its end and exit.
pub fn play(cfg: Config, song_name: &str, once: bool, stats_json: bool) -> Result<(), AppError> {
    let songs = setlist(&cfg)?;
    let index = find_song(&songs, song_name).ok_or_else(|| {
        AppError::usage(format!(
            "no song \"{song_name}\" in library {} (songs: {})",
            cfg.library,
            songs
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let mut session = Session::start(cfg, songs, index, !once, once, stats_json, None)?;
    if once {
        session.wait_for_song_end()
    } else {
        session.spawn_console();
        session.spawn_input()?;
        say("ready");
        session.control_loop()
    }
}

/// `stembox run`: the appliance.
pub fn run(cfg: Config, stats_json: bool) -> Result<(), AppError> {
    let songs = setlist(&cfg)?;
    let store = StateStore::new(Path::new(cfg.state_dir.as_str()));
    let loaded = store.load();
    if let Some(w) = &loaded.warning {
        warn(w);
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
    let mut session = Session::start(cfg, songs, first, true, false, stats_json, state)?;
    session.open_leds();
    session.spawn_console();
    session.spawn_input()?;
    say("ready");
    session.control_loop()
}

impl Session {
    /// Opens the device, loads song `index`, starts the audio thread playing it.
    fn start(
        cfg: Config,
        songs: Vec<SongEntry>,
        index: usize,
        neighbours: bool,
        once: bool,
        stats_json: bool,
        state: Option<(StateStore, SavedState, SaveTimer)>,
    ) -> Result<Session, AppError> {
        install_signal_handlers();
        let start_ns = now_ns();
        if cfg.rt.mlock {
            if let Err(w) = rt_thread::lock_memory() {
                warn(&w);
            }
        }
        let (pcm, granted) = open_device(&cfg)?;
        let song = Arc::new(load_with_progress(&songs[index], granted.rate)?);
        let master_db = cfg.audio.master_gain_db;
        let (engine, mut handle) = Engine::new(
            granted.rate,
            granted.channels as usize,
            db_to_gain(master_db),
        );
        if !handle.switch_song(song.clone(), 0, true) {
            return Err(AppError::runtime("engine queue refused the first song"));
        }
        let (events_tx, events) = mpsc::channel();
        let mut session = Session {
            mix: mix_of(&song),
            cfg,
            granted,
            songs,
            cache: HashMap::from([(index, song)]),
            current: index,
            pending_switch: None,
            master_db,
            count_in: false,
            loop_a: None,
            loop_region: None,
            engine: handle,
            audio: None,
            monitor: None,
            events_tx,
            events,
            loader_tx: None,
            input: None,
            loading: Vec::new(),
            start_ns,
            last_xrun_ns: 0,
            seen_xruns: 0,
            stats_json,
            quit: false,
            state,
            leds: None,
        };
        // Saved stem settings go in before the first period: the song is never heard
        // with them missing.
        session.restore_stem_settings();
        let cfg = &session.cfg;
        let granted = &session.granted;
        let cpu = (cfg.rt.cpu >= 0).then_some(cfg.rt.cpu as usize);
        let prio = cfg.rt.priority;
        let spawned = if cfg.audio.enable_latency_monitor {
            let shared = Arc::new(MonitorShared::new());
            let rt = MonitorRt::new(shared.clone(), granted.period_frames, granted.rate);
            let base = shared.reset_window();
            session.monitor = Some((shared, base));
            spawn_audio_thread(pcm, granted.clone(), engine, rt, prio, cpu, once)
        } else {
            spawn_audio_thread(pcm, granted.clone(), engine, NoObserver, prio, cpu, once)
        };
        let audio = spawned
            .map_err(|e| AppError::runtime(format!("cannot start the audio thread: {e}")))?;
        for w in &audio.rt_warnings {
            warn(w);
        }
        session.audio = Some(audio);
        session.wait_until_running()?;
        session.report_access();
        if neighbours {
            session.spawn_loader();
            session.keep_neighbours_loaded();
        }
        Ok(session)
    }

    /// Says what the device granted and how the loop reaches its buffer: direct mmap is
    /// asked for on `hw:` devices, but some kernels (arm64) and drivers refuse it, and then
    /// the loop uses alsa-lib's mmap.
    fn report_access(&mut self) {
        if let Some(a) = &self.audio {
            if a.control.access_used.load(Relaxed) == 1
                && self.granted.access == crate::rt::alsa_pcm::Access::DirectMmap
            {
                warn(&format!(
                    "audio device \"{}\": direct mmap refused by the kernel or driver; using alsa-lib mmap",
                    self.granted.device
                ));
                self.granted.access = crate::rt::alsa_pcm::Access::AlsaMmap;
            }
        }
        say(&self.granted.describe());
    }

    /// Waits until the audio thread has written its first period.
    fn wait_until_running(&mut self) -> Result<(), AppError> {
        let t0 = Instant::now();
        while self.engine.status.periods.load(Relaxed) == 0 {
            if self.audio.as_ref().is_none_or(|a| a.is_finished()) {
                return Err(self.audio_failure());
            }
            if t0.elapsed() > Duration::from_secs(10) {
                return Err(AppError::runtime(format!(
                    "audio device \"{}\" did not start within 10 s",
                    self.granted.device
                )));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    fn audio_failure(&mut self) -> AppError {
        let exit = self.audio.take().and_then(|a| a.join());
        match exit.map(|e| e.result) {
            Some(Err(e)) => AppError::runtime(e),
            _ => AppError::runtime("the audio thread stopped"),
        }
    }

    /// `play --once`: waits for the song's end, then prints the final stats line.
    fn wait_for_song_end(mut self) -> Result<(), AppError> {
        let mut next_stats = self.stats_interval().map(|d| Instant::now() + d);
        while !self.quit && !self.audio.as_ref().is_none_or(|a| a.is_finished()) {
            std::thread::sleep(TICK);
            self.housekeeping(&mut next_stats);
        }
        if self.quit {
            self.fade_out_before_stopping();
        }
        let exit = match self.audio.take() {
            Some(a) if self.quit => a.stop(),
            Some(a) => a.join(),
            None => None,
        };
        self.note_xruns();
        self.print_stats();
        match exit.map(|e| e.result) {
            Some(Err(e)) => Err(AppError::runtime(e)),
            Some(Ok(())) => Ok(()),
            None => Err(AppError::runtime("the audio thread panicked")),
        }
    }

    /// What the control thread does every tick: drop what the engine handed back, notice
    /// xruns, save state, stats on schedule and on SIGUSR1, quit on SIGTERM/SIGINT.
    fn housekeeping(&mut self, next_stats: &mut Option<Instant>) {
        self.engine.collect_garbage();
        self.note_xruns();
        self.save_state_if_due(false);
        self.update_leds();
        if SIG_TERM.load(Relaxed) {
            self.quit = true;
        }
        if SIG_USR1.swap(0, Relaxed) > 0 {
            self.print_stats();
        }
        if let Some(t) = *next_stats {
            if Instant::now() >= t {
                self.print_stats();
                *next_stats = self.stats_interval().map(|d| t + d);
            }
        }
    }

    fn stats_interval(&self) -> Option<Duration> {
        match self.cfg.stats.interval_s {
            0 => None,
            s => Some(Duration::from_secs(s as u64)),
        }
    }

    /// The appliance loop: events, stats, garbage, until `quit` or SIGTERM.
    fn control_loop(mut self) -> Result<(), AppError> {
        let mut next_stats = self.stats_interval().map(|d| Instant::now() + d);
        while !self.quit {
            match self.events.recv_timeout(TICK) {
                Ok(ev) => self.handle(ev),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.housekeeping(&mut next_stats);
            if self.audio.as_ref().is_none_or(|a| a.is_finished()) {
                let e = self.audio_failure();
                self.print_stats();
                return Err(e);
            }
        }
        self.shutdown();
        Ok(())
    }

    /// Asks the engine to fade out and waits until the fade has left the device buffer.
    fn fade_out_before_stopping(&mut self) {
        let _ = self.engine.send(Command::Stop);
        // The fade is a few ms; give it a period or two beyond the buffer to be heard.
        let buffer_ms = self.granted.buffer_frames as u64 * 1000 / self.granted.rate as u64;
        std::thread::sleep(Duration::from_millis(buffer_ms + 20));
    }

    /// Fades out, stops the audio thread, prints the final stats line.
    fn shutdown(&mut self) {
        self.fade_out_before_stopping();
        if let Some(a) = self.audio.take() {
            if let Some(Err(e)) = a.stop().map(|e| e.result) {
                warn(&e);
            }
        }
        self.engine.collect_garbage();
        self.note_xruns();
        self.save_state_if_due(true);
        self.print_stats();
    }

    /// Writes the state file when changes have settled (or now, at exit).
    fn save_state_if_due(&mut self, now: bool) {
        let Some((store, saved, timer)) = &mut self.state else {
            return;
        };
        if timer.pending() && (now || timer.due(Instant::now())) {
            if let Err(e) = store.save(saved) {
                warn(&e);
            }
            timer.saved();
        }
    }

    /// Opens the status LEDs of the config; a missing GPIO line is a warning, not a stop.
    fn open_leds(&mut self) {
        let cfg = crate::leds::LedsConfig::from_config(&self.cfg.leds);
        if cfg == crate::leds::LedsConfig::default() {
            return;
        }
        match crate::leds::open_status_leds(&cfg, Instant::now()) {
            Ok(leds) => self.leds = Some(leds),
            Err(e) => warn(&e.to_string()),
        }
    }

    fn update_leds(&mut self) {
        use crate::leds::{LedInputs, LoopLed, TransportLed};
        let Some(leds) = self.leds.as_mut() else {
            return;
        };
        let st = &self.engine.status;
        let transport = if st.counting_in.load(Relaxed) {
            TransportLed::CountIn
        } else {
            match st.transport() {
                Transport::Playing => TransportLed::Playing,
                Transport::Paused => TransportLed::Paused,
                Transport::Stopped => TransportLed::Stopped,
            }
        };
        let looping = if st.looping.load(Relaxed) {
            LoopLed::On
        } else if self.loop_a.is_some() && self.loop_region.is_none() {
            LoopLed::ArmedA
        } else {
            LoopLed::Off
        };
        let inputs = LedInputs {
            transport,
            looping,
            xruns: st.xruns.load(Relaxed) as u64,
        };
        leds.update(&inputs, Instant::now());
    }

    /// Applies the saved stem settings of the current song (after a song change).
    fn restore_stem_settings(&mut self) {
        let Some(song) = self.current_song().map(|s| s.name.clone()) else {
            return;
        };
        let Some((_, saved, _)) = &self.state else {
            return;
        };
        let settings: Vec<(usize, StemSetting)> = self
            .mix
            .iter()
            .enumerate()
            .filter_map(|(i, m)| saved.stem(&song, &m.name).map(|s| (i, s)))
            .collect();
        for (i, s) in settings {
            let m = &mut self.mix[i];
            m.mute = s.mute;
            m.solo = s.solo;
            m.gain_db = s.gain_db;
            let stem = i as u8;
            self.send(Command::StemMute { stem, mute: s.mute });
            self.send(Command::StemSolo { stem, solo: s.solo });
            self.send(Command::StemGain {
                stem,
                gain: db_to_gain(s.gain_db),
            });
        }
    }

    fn handle(&mut self, ev: Event) {
        match ev {
            Event::Console(action) => self.act(action),
            Event::Button(b) => self.button(b),
            Event::Notice(line) => say(&line),
            Event::Loaded(index, result) => {
                self.loading.retain(|&i| i != index);
                match result {
                    Ok(song) => {
                        self.cache.insert(index, song);
                        if let Some((want, play)) = self.pending_switch {
                            if want == index {
                                self.pending_switch = None;
                                // A stop or pause while it loaded still counts.
                                let play = play && self.transport() == Transport::Playing;
                                self.switch_to(index, play);
                            }
                        }
                    }
                    Err(e) => {
                        warn(&e);
                        if self.pending_switch.is_some_and(|(w, _)| w == index) {
                            self.pending_switch = None;
                            say(&format!(
                                "error: cannot load song {}",
                                self.songs[index].name
                            ));
                        }
                    }
                }
            }
        }
    }

    fn send(&mut self, cmd: Command) {
        if self.engine.send(cmd).is_err() {
            warn("engine command queue full; command dropped");
        }
    }

    fn transport(&self) -> Transport {
        self.engine.status.transport()
    }

    fn pos_frames(&self) -> u64 {
        self.engine.status.pos_frames.load(Relaxed)
    }

    /// The frame being heard now: the mixing head runs up to a device buffer ahead.
    fn heard_pos_frames(&self) -> u64 {
        self.pos_frames()
            .saturating_sub(self.granted.buffer_frames as u64)
    }

    fn current_song(&self) -> Option<&Arc<Song>> {
        self.cache.get(&self.current)
    }

    /// Carries out one action and answers in one line.
    pub fn act(&mut self, action: Action) {
        match action {
            Action::PlayPause => {
                if self.engine.status.counting_in.load(Relaxed) {
                    // A second press during the count-in calls it off.
                    self.act(Action::Stop)
                } else if self.transport() == Transport::Playing {
                    self.act(Action::Pause)
                } else {
                    self.act(Action::Play)
                }
            }
            Action::Play => match self.current_song().cloned() {
                Some(song) if self.count_in && self.transport() != Transport::Playing => {
                    let bpm = song.bpm.unwrap_or(120.0).clamp(20.0, 400.0);
                    let beat_frames = (60.0 * self.granted.rate as f32 / bpm) as u32;
                    let beats = song.beats_per_bar.clamp(1, 16) as u8;
                    self.send(Command::CountIn { beat_frames, beats });
                    say(&format!("ok play (count-in {beats} beats at {bpm:.0} bpm)"));
                }
                _ => {
                    self.send(Command::Play);
                    say("ok play");
                }
            },
            Action::Pause => {
                self.send(Command::Pause);
                say("ok pause");
            }
            Action::Stop => {
                self.send(Command::Stop);
                say("ok stop");
            }
            Action::NextSong => {
                if self.current + 1 < self.songs.len() {
                    self.change_song(self.current + 1)
                } else {
                    say("error: this is the last song of the setlist");
                }
            }
            Action::PrevSong => {
                if self.current > 0 {
                    self.change_song(self.current - 1)
                } else {
                    say("error: this is the first song of the setlist");
                }
            }
            Action::Song(r) => {
                let found = match &r {
                    SongRef::Number(n) => (1..=self.songs.len()).contains(n).then(|| n - 1),
                    SongRef::Name(name) => find_song(&self.songs, name),
                };
                match found {
                    Some(i) => self.change_song(i),
                    None => say(&format!("error: no song {r:?} in the setlist")),
                }
            }
            Action::ToggleMute(stem) => self.with_stem(&stem, |m| m.mute = !m.mute),
            Action::Mute(stem) => self.with_stem(&stem, |m| m.mute = true),
            Action::Unmute(stem) => self.with_stem(&stem, |m| m.mute = false),
            Action::Solo(stem) => self.with_stem(&stem, |m| m.solo = !m.solo),
            Action::Gain(stem, db) => self.with_stem(&stem, |m| m.gain_db = db.clamp(-120.0, 12.0)),
            Action::NextSection | Action::PrevSection | Action::Section(_) => {
                self.goto_section(action)
            }
            Action::LoopA => {
                let pos = self.heard_pos_frames();
                self.loop_a = Some(pos);
                say(&format!("ok loop_a {:.3}", self.seconds(pos)));
            }
            Action::LoopB => {
                let pos = self.heard_pos_frames();
                match self.loop_a {
                    Some(a) if pos > a => self.set_loop(Some((a, pos))),
                    _ => say("error: set loop A before B (B must come after A)"),
                }
            }
            Action::LoopToggle => {
                if self.engine.status.looping.load(Relaxed) {
                    self.send(Command::Loop { region: None });
                    say("ok loop off");
                } else if let Some(r) = self.loop_region {
                    self.set_loop(Some(r));
                } else {
                    say("error: no loop set (set A and B first)");
                }
            }
            Action::Loop(a_s, b_s) => {
                let rate = self.granted.rate as f64;
                if !(a_s >= 0.0 && b_s > a_s) {
                    say("error: loop needs 0 <= A < B (seconds)");
                } else {
                    self.set_loop(Some(((a_s * rate) as u64, (b_s * rate) as u64)));
                }
            }
            Action::LoopOff => {
                self.send(Command::Loop { region: None });
                say("ok loop off");
            }
            Action::VolumeUp | Action::VolumeDown => {
                let step = if action == Action::VolumeUp {
                    VOLUME_STEP_DB
                } else {
                    -VOLUME_STEP_DB
                };
                self.master_db = (self.master_db + step).clamp(-60.0, 12.0);
                self.send(Command::MasterGain {
                    gain: db_to_gain(self.master_db),
                });
                say(&format!("ok volume {:+.1} dB", self.master_db));
            }
            Action::CountInToggle => {
                self.count_in = !self.count_in;
                say(&format!(
                    "ok count_in {}",
                    if self.count_in { "on" } else { "off" }
                ));
            }
            Action::Status => say(&self.status_line()),
            Action::Stats => self.print_stats(),
            Action::StatsReset => {
                if let Some((shared, base)) = &mut self.monitor {
                    *base = shared.reset_window();
                }
                say("ok stats reset");
            }
            Action::Help => {
                say(crate::console::HELP);
            }
            Action::Quit => {
                say("ok quit");
                self.quit = true;
            }
        }
    }

    fn seconds(&self, frames: u64) -> f64 {
        frames as f64 / self.granted.rate as f64
    }

    fn set_loop(&mut self, region: Option<(u64, u64)>) {
        // The engine crossfades each wrap; a loop must be longer than two crossfades.
        let min = 2 * crate::rt::ramp::ms_to_frames(crate::rt::FADE_MS, self.granted.rate) as u64;
        if let Some((a, b)) = region {
            if b - a <= min {
                say(&format!(
                    "error: loop too short ({:.3} s); it must be longer than {:.3} s",
                    self.seconds(b - a),
                    self.seconds(min)
                ));
                return;
            }
        }
        self.loop_region = region;
        self.send(Command::Loop { region });
        if let Some((a, b)) = region {
            say(&format!(
                "ok loop {:.3} {:.3}",
                self.seconds(a),
                self.seconds(b)
            ));
        }
    }

    fn goto_section(&mut self, action: Action) {
        let Some(song) = self.current_song().cloned() else {
            return;
        };
        if song.sections.is_empty() {
            say(&format!("error: song {} has no sections", song.name));
            return;
        }
        let pos = self.pos_frames();
        let starts: Vec<u64> = song.sections.iter().map(|s| s.start_frame).collect();
        let target = match &action {
            Action::NextSection => crate::setlist::next_section(&starts, pos),
            Action::PrevSection => Some(crate::setlist::prev_section(
                &starts,
                pos,
                crate::setlist::grace_frames(self.granted.rate),
            )),
            Action::Section(r) => {
                let names: Vec<&str> = song.sections.iter().map(|s| s.name.as_str()).collect();
                match crate::setlist::find_section(&names, r) {
                    Ok(i) => Some(starts[i]),
                    Err(e) => {
                        say(&format!("error: {e}"));
                        return;
                    }
                }
            }
            _ => None,
        };
        let Some(frame) = target else {
            say("error: no section after this one");
            return;
        };
        self.send(Command::Seek { frame });
        let name = song
            .sections
            .iter()
            .find(|s| s.start_frame == frame)
            .map_or("start", |s| s.name.as_str());
        say(&format!("ok section {name} at {:.3}", self.seconds(frame)));
    }

    fn with_stem(&mut self, stem: &str, f: impl FnOnce(&mut StemMix)) {
        let Some(i) = self
            .mix
            .iter()
            .position(|m| m.name.eq_ignore_ascii_case(stem))
        else {
            say(&format!(
                "error: no stem \"{stem}\" in this song (stems: {})",
                self.mix
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            return;
        };
        let before = self.mix[i].clone();
        f(&mut self.mix[i]);
        let after = self.mix[i].clone();
        let stem_ix = i as u8;
        if before.mute != after.mute {
            self.send(Command::StemMute {
                stem: stem_ix,
                mute: after.mute,
            });
        }
        if before.solo != after.solo {
            self.send(Command::StemSolo {
                stem: stem_ix,
                solo: after.solo,
            });
        }
        if before.gain_db != after.gain_db {
            self.send(Command::StemGain {
                stem: stem_ix,
                gain: db_to_gain(after.gain_db),
            });
        }
        if let (Some(song), Some((_, saved, timer))) =
            (self.cache.get(&self.current), &mut self.state)
        {
            saved.set_stem(
                &song.name,
                &after.name,
                StemSetting {
                    mute: after.mute,
                    solo: after.solo,
                    gain_db: after.gain_db,
                },
            );
            timer.changed(Instant::now());
        }
        say(&format!(
            "ok {} mute={} solo={} gain_db={:.1}",
            after.name, after.mute as u8, after.solo as u8, after.gain_db
        ));
    }

    /// Switches to setlist entry `index`: at once if it is loaded, else when it is.
    fn change_song(&mut self, index: usize) {
        let play = self.transport() == Transport::Playing;
        if self.cache.contains_key(&index) {
            self.switch_to(index, play);
        } else {
            self.pending_switch = Some((index, play));
            self.request_load(index);
            say(&format!("loading {}", self.songs[index].name));
        }
    }

    fn switch_to(&mut self, index: usize, play: bool) {
        let Some(song) = self.cache.get(&index).cloned() else {
            return;
        };
        if !self.engine.switch_song(song.clone(), 0, play) {
            say("error: engine busy, try again");
            return;
        }
        self.current = index;
        self.mix = mix_of(&song);
        self.loop_a = None;
        self.loop_region = None;
        self.restore_stem_settings();
        if let Some((_, saved, timer)) = &mut self.state {
            saved.last_song = Some(song.name.clone());
            timer.changed(Instant::now());
        }
        say(&format!("ok song {} {}", index + 1, song.name));
        self.keep_neighbours_loaded();
    }

    /// Keeps the current song and its neighbours decoded, within the memory budget;
    /// everything else is dropped (here, on the control thread).
    fn keep_neighbours_loaded(&mut self) {
        let want: Vec<usize> = [
            Some(self.current),
            self.current
                .checked_add(1)
                .filter(|&i| i < self.songs.len()),
            self.current.checked_sub(1),
        ]
        .into_iter()
        .flatten()
        .collect();
        let keep_pending = self.pending_switch.map(|(i, _)| i);
        self.cache
            .retain(|i, _| want.contains(i) || Some(*i) == keep_pending);
        let budget = self.cfg.memory.budget_mb as usize * 1024 * 1024;
        for &i in &want {
            let used: usize = self.cache.values().map(|s| s.ram_bytes()).sum();
            if !self.cache.contains_key(&i) && used < budget {
                self.request_load(i);
            }
        }
    }

    fn request_load(&mut self, index: usize) {
        if self.loading.contains(&index) {
            return;
        }
        if let Some(tx) = &self.loader_tx {
            if tx.send(index).is_ok() {
                self.loading.push(index);
            }
        }
    }

    /// The loader thread: decodes requested songs, one at a time (each on all cores).
    fn spawn_loader(&mut self) {
        let (tx, rx) = mpsc::channel::<usize>();
        let events = self.events_tx.clone();
        let songs = self.songs.clone();
        let rate = self.granted.rate;
        let budget = self.cfg.memory.budget_mb as usize * 1024 * 1024;
        let spawned = std::thread::Builder::new()
            .name("stembox-loader".into())
            .spawn(move || {
                for index in rx {
                    let entry = &songs[index];
                    // A decoder bug must not leave the song change waiting for ever.
                    let r = std::panic::catch_unwind(|| {
                        crate::loader::load_song_with_meta(entry, rate, &mut |_| {})
                    })
                    .unwrap_or_else(|_| {
                        Err(crate::loader::LoadError {
                            message: format!("song {}: the decoder failed (panic)", entry.name),
                        })
                    })
                    .map_err(|e| e.to_string())
                    .and_then(|(s, warnings)| {
                        for w in warnings {
                            warn(&w);
                        }
                        if s.ram_bytes() > budget {
                            Err(format!(
                                "song {} needs {} MB, over memory.budget_mb",
                                entry.name,
                                s.ram_bytes() / 1048576
                            ))
                        } else {
                            Ok(Arc::new(s))
                        }
                    });
                    if events.send(Event::Loaded(index, r)).is_err() {
                        break;
                    }
                }
            });
        match spawned {
            Ok(_) => self.loader_tx = Some(tx),
            Err(e) => warn(&format!("cannot start the loader thread: {e}")),
        }
    }

    /// Reads console commands from stdin on the console thread (`crate::console`).
    /// End of stdin (as under systemd) ends only the console thread.
    fn spawn_console(&mut self) {
        let tx = self.events_tx.clone();
        let input = std::io::BufReader::new(std::io::stdin());
        let spawned = crate::console::spawn_console(input, std::io::stdout(), move |a| {
            tx.send(Event::Console(a)).is_ok()
        });
        if let Err(e) = spawned {
            warn(&format!("cannot start the console thread: {e}"));
        }
    }

    /// Reads the button devices of the config (a bad key map is a config error).
    fn spawn_input(&mut self) -> Result<(), AppError> {
        if self.cfg.buttons.devices.is_empty() {
            return Ok(());
        }
        let tx = self.events_tx.clone();
        let input = crate::input::spawn_input(&self.cfg.buttons, move |msg| {
            tx.send(match msg {
                InputMsg::Button(b) => Event::Button(b),
                InputMsg::Notice(n) => Event::Notice(n),
            })
            .is_ok()
        })
        .map_err(|e| AppError::usage(e.to_string()))?;
        self.input = Some(input);
        Ok(())
    }

    /// A button action: carried out like a console command, plus how long it took from the
    /// key press (kernel timestamp) to the command queue, and the worst case until the
    /// change is heard (one period until the engine takes it, then the device buffer).
    fn button(&mut self, b: ButtonEvent) {
        let queued = monotonic_now();
        self.act(b.action.clone());
        let g = &self.granted;
        let to_queue_us = queued.saturating_sub(b.decided_at).as_micros() as u64;
        let period_us = g.period_frames as u64 * 1_000_000 / g.rate as u64;
        let buffer_us = g.buffer_frames as u64 * 1_000_000 / g.rate as u64;
        say(&format!(
            "button key={:?} gesture={:?} press_to_queue_us={} heard_within_us={}",
            b.key,
            b.gesture,
            queued.saturating_sub(b.pressed_at).as_micros(),
            to_queue_us + period_us + buffer_us
        ));
    }

    /// Notices new xruns (for `underrun_free_s`) and reports them on the console.
    fn note_xruns(&mut self) {
        let x = self.engine.status.xruns.load(Relaxed);
        if x != self.seen_xruns {
            self.last_xrun_ns = now_ns();
            self.seen_xruns = x;
        }
    }

    fn stats(&self) -> StatsLine {
        let now = now_ns();
        let st = &self.engine.status;
        StatsLine {
            uptime_s: (now - self.start_ns) / 1_000_000_000,
            song: self.current_song().map(|s| s.name.clone()),
            pos_s: self.seconds(self.pos_frames()),
            transport: self.transport(),
            xruns: st.xruns.load(Relaxed) as u64,
            suspends: st.suspends.load(Relaxed) as u64,
            underrun_free_s: underrun_free_s(now, self.start_ns, self.last_xrun_ns),
            monitor: self
                .monitor
                .as_ref()
                .map(|(shared, base)| MonitorStats::from_window(&shared.snapshot().since(base))),
        }
    }

    fn print_stats(&self) {
        let s = self.stats();
        say(&if self.stats_json {
            s.to_json()
        } else {
            s.to_text()
        });
    }

    fn status_line(&self) -> String {
        let song = self.current_song();
        let mut line = format!(
            "status song={} title={:?} transport={} pos_s={:.1} loop={} volume_db={:.1}",
            song.map_or("-", |s| s.name.as_str()),
            song.map_or("", |s| s.title.as_str()),
            self.transport().name(),
            self.seconds(self.pos_frames()),
            match (self.engine.status.looping.load(Relaxed), self.loop_region) {
                (true, Some((a, b))) => format!("{:.3}-{:.3}", self.seconds(a), self.seconds(b)),
                _ => "off".into(),
            },
            self.master_db
        );
        for m in &self.mix {
            line.push_str(&format!(
                " {}=mute:{},solo:{},gain_db:{:.1}",
                m.name, m.mute as u8, m.solo as u8, m.gain_db
            ));
        }
        line
    }
}

fn mix_of(song: &Song) -> Vec<StemMix> {
    song.stems()
        .iter()
        .map(|s| StemMix {
            name: s.name.clone(),
            mute: s.muted,
            solo: false,
            gain_db: if s.gain > 0.0 {
                20.0 * s.gain.log10()
            } else {
                -120.0
            },
        })
        .collect()
}
