//! The control thread's session: it owns the threads (audio, loader, stretch, console,
//! input, midi), the LEDs and the state file. Console lines, button actions and loader
//! results come in as [`Event`]s; the session hands them with a view of the engine's status
//! to the [`Controller`] (the state machine, no I/O), then carries out what comes back:
//! commands for the engine, the reply line, songs to load, state to save. It also drops
//! what the engine hands back, watches the device ([`super::device_watch`]), reloads on
//! SIGHUP ([`super::reload`]) and prints the stats lines.

use super::controller::{Controller, EngineView, Output, Setup, ToEngine};
use super::device_watch::{DeviceWatch, Loss};
use super::pending::Pending;
use super::reopen::Backoff;
use super::{load_with_progress, open_device, setlist, warn, AppError, Context};
use crate::hw::input::{monotonic_now, ButtonEvent, InputMsg, InputThread};
use crate::loader::{LoadOptions, LoadReport, LoaderThread};
use crate::model::action::Action;
use crate::model::library::SongEntry;
use crate::model::song::Song;
use crate::rt::alsa_pcm::Granted;
use crate::rt::command::Command;
use crate::rt::engine::{Engine, EngineHandle};
use crate::rt::ramp::db_to_gain;
use crate::rt::run::{spawn_audio_thread, AudioThread, NoObserver};
use crate::rt::status::Transport;
use crate::rt::stretch::StretchConfig;
use crate::rt::thread as rt_thread;
use crate::storage::config::Config;
use crate::storage::state::{SaveTimer, SavedState, StateStore};
use crate::stretch::{StretchWorker, StretchWorkerHandle};
use crate::telemetry::monitor::{now_ns, MonitorRt, MonitorShared, Snapshot};
use crate::telemetry::stats::{underrun_free_s, MonitorStats, StatsLine};
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
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
    /// A warning from the loader (a damaged stem, a bad `song.json`).
    Warning(String),
    /// The loader finished a song: the loader's generation (a reload starts a new loader;
    /// results of an older one are dropped), the setlist index, the song or why not.
    Loaded(u32, usize, Result<Arc<Song>, String>),
    /// A MIDI note, pedal or program change decided an action.
    Midi(ButtonEvent<crate::hw::midi::map::MidiKey>),
    /// A request from the phone page, a script or an OSC client: a console-grammar line
    /// and where its answer goes.
    Remote(crate::remote::link::RemoteRequest),
}

/// How often the control thread wakes when nothing happens: garbage, stats, song end.
pub(super) const TICK: Duration = Duration::from_millis(50);

/// The running app.
pub struct Session {
    cfg: Config,
    granted: Granted,
    /// The library's songs in setlist order (what the loader reads).
    songs: Vec<SongEntry>,
    /// The state machine: transport, setlist, mixer, loop, loaded songs.
    controller: Controller,
    engine: EngineHandle,
    audio: Option<AudioThread>,
    monitor: Option<(Arc<MonitorShared>, Snapshot)>,
    events_tx: Sender<Event>,
    events: Receiver<Event>,
    loader: Option<LoaderThread>,
    /// Signals and load options, made first thing in `main_with`.
    pub(super) ctx: Context,
    input: Option<InputThread>,
    /// The midi thread (MIDI in, clock out), when `midi` is configured.
    midi: Option<crate::hw::midi::MidiThread>,
    start_ns: u64,
    /// A song asked for that was not loaded (setlist index), and when: `load_ms` runs
    /// from here to its switch.
    song_asked: Option<(usize, Instant)>,
    /// `load_ms` of the current song (see [`StatsLine::load_ms`]).
    load_ms: Option<u64>,
    last_xrun_ns: u64,
    seen_xruns: u32,
    stats_json: bool,
    quit: bool,
    leds: Option<crate::hw::leds::StatusLeds<crate::hw::leds::GpioLed>>,
    /// Where last song and stem settings are written (`run` only); the controller holds
    /// the settings themselves.
    state: Option<(StateStore, SaveTimer)>,
    /// The stretcher's worker thread (speed and pitch); joined when the session ends.
    stretch_worker: Option<StretchWorkerHandle>,
    /// Whether the output device is there, and when to try it again.
    device: DeviceWatch,
    /// The output device is gone and the audio thread ended: its engine (song, position,
    /// mixer) waits here until the device is back.
    lost_engine: Option<Engine>,
    /// What to say once a reopened device has played its first period.
    reopened_line: Option<String>,
    /// Audio threads started so far (real-time warnings are said for the first only).
    audio_spawns: u32,
    /// Saves that failed in a row (state partition full or read-only): warned about once.
    failed_saves: u32,
    /// Engine commands the command queue had no room for yet, flushed in order every tick
    /// and before new commands (nothing answered `ok` is dropped).
    pending: Pending,
    /// The config file `run` was started with: SIGHUP reads it again. `None` in `play`.
    pub(super) config_path: Option<PathBuf>,
    /// Generation of the running loader thread (see [`Event::Loaded`]).
    loader_gen: u32,
    /// The views published for the page, OSC and the display.
    screens: super::screens::Screens,
    /// The phone page's server, OSC and the display, when configured.
    web: Option<crate::remote::http::WebThread>,
    osc: Option<crate::remote::osc::OscThread>,
    display: Option<crate::hw::display::DisplayThread>,
}

/// Opens the output device for the appliance, waiting for it as long as it takes (a USB
/// interface that enumerates after stembox starts): the error is said once, then attempts
/// follow the [`Backoff`] schedule, quietly, until one succeeds or SIGTERM/SIGINT ends the
/// wait (exit 0: nothing was playing). The third value says whether it had to wait.
fn open_device_waiting(
    cfg: &Config,
    ctx: &Context,
) -> Result<(alsa::pcm::PCM, Granted, bool), AppError> {
    let mut backoff: Option<Backoff> = None;
    loop {
        match open_device(cfg) {
            Ok((pcm, granted)) => return Ok((pcm, granted, backoff.is_some())),
            // A device that is there and refuses what the config asks will refuse it in an
            // hour too: say what to change instead of waiting for ever.
            Err(e) if e.is_terminal() => {
                return Err(AppError::runtime(format!(
                    "{e}; waiting will not change this: change audio.* in the config \
                     (`stembox check` says what the device takes)"
                )))
            }
            Err(e) => match backoff.as_mut() {
                None => {
                    ctx.out.say(&format!("{e}; waiting for the device"));
                    backoff = Some(Backoff::new(Instant::now()));
                }
                Some(b) => b.failed(Instant::now()),
            },
        }
        while let Some(left) = backoff
            .as_ref()
            .map(|b| b.wait(Instant::now()))
            .filter(|w| !w.is_zero())
        {
            if ctx.signals.stopping() {
                return Err(AppError {
                    code: 0,
                    message: format!(
                        "stopped while waiting for audio device \"{}\"",
                        cfg.audio.device.as_str()
                    ),
                });
            }
            std::thread::sleep(left.min(TICK));
        }
    }
}

/// The one line said when the device is lost: `reason` is the loop's error as
/// [`describe`](crate::rt::device::describe) made it (`audio device "X": stopped: ...`).
fn lost_line(device: &str, reason: &str) -> String {
    let prefix = format!("audio device \"{device}\": ");
    let detail = reason.strip_prefix(&prefix).unwrap_or(reason);
    format!("audio device \"{device}\" lost: {detail}; reopening")
}

impl Session {
    /// Opens the device, loads song `index`, starts the audio thread playing it (at
    /// `tempo`, speed % and semitones, when given).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start(
        cfg: Config,
        ctx: Context,
        songs: Vec<SongEntry>,
        index: usize,
        neighbours: bool,
        once: bool,
        stats_json: bool,
        state: Option<(StateStore, SavedState, SaveTimer)>,
        tempo: Option<(f32, f32)>,
    ) -> Result<Session, AppError> {
        let start_ns = now_ns();
        if cfg.rt.mlock {
            if let Err(w) = rt_thread::lock_memory() {
                warn(&w);
            }
        }
        // The appliance (`run`, the only mode with a state file) waits for a device that is
        // not there yet (a USB interface that enumerates late); `play` fails at once.
        let appliance = state.is_some();
        let (pcm, granted, absent) = if appliance {
            open_device_waiting(&cfg, &ctx)?
        } else {
            let (pcm, granted) = open_device(&cfg).map_err(|e| AppError::runtime(e.to_string()))?;
            (pcm, granted, false)
        };
        let song = load_with_progress(&songs[index], granted.rate, &ctx)?;
        let master_db = cfg.audio.master_gain_db;
        let (mut engine, mut handle) = Engine::new(
            granted.rate,
            granted.channels as usize,
            db_to_gain(master_db),
        );
        // The buses on the channels the device granted (validated against audio.channels).
        cfg.audio
            .buses
            .table(granted.channels)
            .and_then(|t| engine.set_buses(t))
            .map_err(|e| {
                AppError::usage(format!(
                    "audio.buses: {e} (the device granted {} channels)",
                    granted.channels
                ))
            })?;
        // The stretcher (speed and pitch) on the engine's output; bypassed at 100 %/0 st.
        let stretch_period = (granted.period_frames as usize).min(crate::rt::MAX_PERIOD_FRAMES);
        let (pipe, worker) = StretchWorker::new(StretchConfig::new(
            granted.rate,
            granted.channels as usize,
            stretch_period,
        ));
        if let Some((speed_pct, pitch_st)) = tempo {
            let ms = |f: usize| f as f64 * 1000.0 / granted.rate as f64;
            ctx.out.say(&format!(
                "stretch speed_pct={speed_pct} pitch_st={pitch_st} block_ms={:.0} latency_ms={:.1}",
                ms(StretchConfig::new(granted.rate, 1, stretch_period).block_frames),
                ms(pipe.latency_at_unity_frames()),
            ));
        }
        // `play --once` renders: the device may not be paced (a `file` PCM runs far faster
        // than real time), so the stretcher runs in step with the engine there.
        let stretch_worker = if once {
            engine.attach_stretch(pipe, Some(Box::new(worker)));
            None
        } else {
            engine.attach_stretch(pipe, None);
            // Real-time just below the audio thread, so ordinary load cannot starve it.
            let spawned = worker.spawn_with(crate::stretch::WorkerPriority::BelowAudio {
                audio_priority: cfg.rt.priority,
            });
            let handle = spawned.map_err(|e| AppError::runtime(format!("stretch thread: {e}")))?;
            if tempo.is_some() {
                ctx.out
                    .say(&format!("stretch worker {:?}", handle.scheduling()));
            }
            Some(handle)
        };
        if !handle.switch_song(song.clone(), 0, true) {
            return Err(AppError::runtime("engine queue refused the first song"));
        }
        let (events_tx, events) = mpsc::channel();
        let (state, saved) = match state {
            Some((store, saved, timer)) => (Some((store, timer)), Some(saved)),
            None => (None, None),
        };
        let setup = Setup {
            rate: granted.rate,
            buffer_frames: granted.buffer_frames,
            names: songs.iter().map(|s| s.name.clone()).collect(),
            budget_bytes: cfg.memory.budget_mb as usize * 1024 * 1024,
            master_db,
            saved,
            buses: cfg.audio.buses.names(),
        };
        let (controller, restore) = Controller::new(setup, index, song);
        let mut session = Session {
            cfg,
            granted,
            songs,
            controller,
            engine: handle,
            audio: None,
            monitor: None,
            events_tx,
            events,
            loader: None,
            ctx,
            input: None,
            midi: None,
            start_ns,
            // The first song: from process start (near enough: session start) to now,
            // when the engine has it.
            song_asked: None,
            load_ms: Some((now_ns() - start_ns) / 1_000_000),
            last_xrun_ns: 0,
            seen_xruns: 0,
            stats_json,
            quit: false,
            failed_saves: 0,
            pending: Pending::new(),
            config_path: None,
            loader_gen: 0,
            state,
            leds: None,
            stretch_worker,
            device: DeviceWatch::new(absent),
            lost_engine: None,
            reopened_line: None,
            screens: super::screens::Screens::new(Arc::new(crate::model::board::Board::default())),
            web: None,
            osc: None,
            display: None,
            audio_spawns: 0,
        };
        // Saved stem settings go in before the first period: the song is never heard
        // with them missing.
        session.execute(restore);
        if let Some((speed_pct, pitch_st)) = tempo {
            // Through the controller like any speed or key change, before the first period.
            for action in [
                Action::Speed(Some(speed_pct)),
                Action::Pitch(Some(pitch_st)),
            ] {
                let view = session.view();
                let mut out = session.controller.act(action, &view);
                out.reply = None;
                session.execute(out);
            }
        }
        let granted = session.granted.clone();
        session.spawn_audio(pcm, granted, engine, once)?;
        session.wait_until_running()?;
        session.report_access();
        if neighbours {
            session.spawn_loader();
            let preload = session.controller.preload();
            session.execute(preload);
        }
        Ok(session)
    }

    /// Starts the audio thread on `pcm` with `engine` (at start, and on a reopened device:
    /// the latency monitor goes on in the same window). Control thread.
    fn spawn_audio(
        &mut self,
        pcm: alsa::pcm::PCM,
        granted: Granted,
        engine: Engine,
        once: bool,
    ) -> Result<(), AppError> {
        let cpu = (self.cfg.rt.cpu >= 0).then_some(self.cfg.rt.cpu as usize);
        let prio = self.cfg.rt.priority;
        let spawned = if self.cfg.audio.enable_latency_monitor {
            let shared = match &self.monitor {
                Some((shared, _)) => shared.clone(),
                None => {
                    let shared = Arc::new(MonitorShared::new());
                    let base = shared.reset_window();
                    self.monitor = Some((shared.clone(), base));
                    shared
                }
            };
            let rt = MonitorRt::new(shared, granted.period_frames, granted.rate);
            spawn_audio_thread(pcm, granted, engine, rt, prio, cpu, once)
        } else {
            spawn_audio_thread(pcm, granted, engine, NoObserver, prio, cpu, once)
        };
        let audio = spawned
            .map_err(|e| AppError::runtime(format!("cannot start the audio thread: {e}")))?;
        // The same refusals on every reopen: said the first time only.
        if self.audio_spawns == 0 {
            for w in &audio.rt_warnings {
                warn(w);
            }
        }
        self.audio_spawns += 1;
        self.audio = Some(audio);
        Ok(())
    }

    /// The audio thread ended by itself: a device error it cannot recover from (ENODEV,
    /// EBADFD, EIO, a stall). Outside `play --once` that is a lost device, not the end: the
    /// engine comes back from the thread with the song, position and mixer, and waits for
    /// the device to be reopened. Says so once per loss (a reopened device that fails
    /// again before playing a period is the same loss). Control thread.
    fn audio_thread_ended(&mut self) -> Result<(), AppError> {
        let exit = self.audio.take().and_then(|a| a.join());
        let Some(exit) = exit else {
            return Err(AppError::runtime("the audio thread panicked"));
        };
        let reason = match exit.result {
            Err(e) => e,
            Ok(()) => return Err(AppError::runtime("the audio thread stopped")),
        };
        drop(exit.pcm);
        let periods = self.engine.status.periods.load(Relaxed);
        if self.device.thread_ended(Instant::now(), periods) == Loss::New {
            self.ctx.out.say(&lost_line(&self.granted.device, &reason));
        }
        self.reopened_line = None;
        self.lost_engine = Some(exit.engine);
        Ok(())
    }

    /// Tries to reopen the lost device when the watcher says so; on success the audio
    /// thread starts again with the kept engine, fading in where it stopped. Control thread.
    fn try_reopen(&mut self) -> Result<(), AppError> {
        if self.lost_engine.is_none() || !self.device.reopen_due(Instant::now()) {
            return Ok(());
        }
        let (pcm, granted) = match open_device(&self.cfg) {
            Ok(opened) => opened,
            Err(_) => {
                self.device.open_failed(Instant::now());
                return Ok(());
            }
        };
        if granted.rate != self.granted.rate || granted.channels != self.granted.channels {
            if self.device.came_back_different(Instant::now()) {
                warn(&format!(
                    "audio device \"{}\" came back at {} Hz, {} channels instead of {} Hz, {} \
                     channels; waiting for it as it was (restart stembox to use it so)",
                    granted.device,
                    granted.rate,
                    granted.channels,
                    self.granted.rate,
                    self.granted.channels
                ));
            }
            return Ok(());
        }
        let Some(mut engine) = self.lost_engine.take() else {
            return Ok(());
        };
        engine.fade_in_after_gap();
        let at_spawn = self.engine.status.periods.load(Relaxed);
        if let Some((tries, since)) = self.device.reopening(at_spawn) {
            self.reopened_line = Some(format!(
                "audio device \"{}\" reopened after {:.1} s ({tries} tries); playing on at {:.1} s",
                granted.device,
                since.elapsed().as_secs_f64(),
                self.controller.seconds(self.pos_frames())
            ));
        }
        self.granted = granted.clone();
        self.spawn_audio(pcm, granted, engine, false)
    }

    /// Says `reopened` once the reopened device has really played a period.
    fn note_reopened(&mut self) {
        if self.device.played(self.engine.status.periods.load(Relaxed)) {
            if let Some(line) = self.reopened_line.take() {
                self.ctx.out.say(&line);
            }
        }
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
        self.ctx.out.say(&self.granted.describe());
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
    pub(super) fn wait_for_song_end(mut self) -> Result<(), AppError> {
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
        self.update_screens();
        self.flush_pending();
        self.note_xruns();
        self.save_state_if_due(false);
        self.update_leds();
        if self.ctx.signals.stopping() {
            self.quit = true;
        }
        if self.ctx.signals.take_stats_request() {
            self.print_stats();
        }
        if self.ctx.signals.take_reload_request() {
            self.reload(next_stats);
        }
        if let Some(t) = *next_stats {
            if Instant::now() >= t {
                self.print_stats();
                *next_stats = self.stats_interval().map(|d| t + d);
            }
        }
    }

    /// SIGHUP: reads the config file again and rescans the library, on the control thread
    /// (the audio thread never notices: the song in the engine plays on without a gap).
    /// Everything is checked before anything changes: a config that does not load, a bad
    /// key map or a library without songs is refused with one line and the running ones
    /// stay. What applies now and what needs a restart is [`super::reload::plan`]'s to say
    /// (`audio`, `rt`, `midi` and `state_dir` are said to need a restart, and their running
    /// values stay).
    fn reload(&mut self, next_stats: &mut Option<Instant>) {
        let Some(path) = self.config_path.clone() else {
            warn("SIGHUP: reloading is for `stembox run`; carrying on unchanged");
            return;
        };
        let refused = |what: String| {
            warn(&format!(
                "SIGHUP: reload refused, the running config and library stay: {what}"
            ))
        };
        let cfg = match Config::load(&path, super::CONFIG_CHECKS) {
            Ok(cfg) => cfg,
            Err(e) => return refused(e.to_string()),
        };
        let checked = crate::hw::input::keymap::KeyMap::from_config(&cfg.buttons.map)
            .and_then(|_| crate::hw::input::gesture::GestureTiming::from_config(&cfg.buttons));
        if let Err(e) = checked {
            return refused(e.to_string());
        }
        if let Some(i) = cfg.buttons.devices.iter().position(|d| d.is_empty()) {
            return refused(format!("buttons.devices[{i}]: empty path"));
        }
        let scanned = match setlist(&cfg) {
            Ok(songs) => songs,
            Err(e) => return refused(e.to_string()),
        };
        // From here on nothing is refused.
        let super::reload::ReloadPlan {
            cfg,
            needs_restart,
            buttons_changed,
            leds_changed,
        } = super::reload::plan(&self.cfg, cfg);
        self.ctx.load.budget_bytes = LoadOptions::for_config(&cfg).budget_bytes;
        self.cfg = cfg;
        *next_stats = self.stats_interval().map(|d| Instant::now() + d);
        if leds_changed {
            self.leds = None;
            self.open_leds();
        }
        if buttons_changed {
            if let Some(input) = self.input.take() {
                input.stop();
            }
            if let Err(e) = self.spawn_input() {
                warn(&format!("SIGHUP: buttons: {e}"));
            }
        }
        // The library: a new loader over the new list; the old one ends after the song it
        // decodes (its result is dropped by generation).
        let old = std::mem::take(&mut self.songs);
        let names = scanned.iter().map(|s| s.name.clone()).collect();
        let budget = self.cfg.memory.budget_mb as usize * 1024 * 1024;
        let out = self.controller.relist(names, budget);
        // The controller's list, with the entry of a current song whose folder is gone.
        self.songs = self
            .controller
            .names()
            .iter()
            .filter_map(|n| {
                scanned
                    .iter()
                    .chain(old.iter())
                    .find(|e| &e.name == n)
                    .cloned()
            })
            .collect();
        self.loader_gen = self.loader_gen.wrapping_add(1);
        if self.loader.take().is_some() {
            self.spawn_loader();
        }
        self.execute(out);
        if !needs_restart.is_empty() {
            warn(&format!(
                "SIGHUP: {} changed in {}: that needs a restart (the device is opened at \
                 start); running on with the old values",
                needs_restart.join(", "),
                path.display()
            ));
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
            let ended = match &self.audio {
                Some(a) => a.is_finished(),
                None => self.lost_engine.is_none(),
            };
            let kept_going = if ended {
                self.audio_thread_ended()
            } else {
                self.try_reopen()
            };
            if let Err(e) = kept_going {
                self.print_stats();
                return Err(e);
            }
            self.note_reopened();
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
        // The midi thread sends Stop to clock receivers as it ends.
        drop(self.midi.take());
        if let Some(a) = self.audio.take() {
            if let Some(Err(e)) = a.stop().map(|e| e.result) {
                warn(&e);
            }
        }
        // Only once the audio thread is gone: stop and join the stretcher's worker.
        if let Some(worker) = self.stretch_worker.take() {
            worker.stop();
        }
        self.engine.collect_garbage();
        self.note_xruns();
        self.save_state_if_due(true);
        self.print_stats();
    }

    /// Writes the state file when changes have settled (or now, at exit). A failed save
    /// stays pending and is tried again later and at exit; it is warned about once, and
    /// once more at exit if the changes are still not saved then.
    fn save_state_if_due(&mut self, now: bool) {
        let (Some((store, timer)), Some(saved)) = (&mut self.state, self.controller.saved_state())
        else {
            return;
        };
        let t = Instant::now();
        if !(timer.pending() && (now || timer.due(t))) {
            return;
        }
        match store.save(saved) {
            Ok(()) => {
                timer.saved();
                if self.failed_saves > 0 {
                    self.ctx.out.say(&format!(
                        "state {}: saved after {} failed tries",
                        store.path().display(),
                        self.failed_saves
                    ));
                }
                self.failed_saves = 0;
            }
            Err(e) => {
                timer.retry_later(t);
                self.failed_saves += 1;
                if now {
                    warn(&format!(
                        "state not saved at exit (try {}); the latest settings are lost: {e}",
                        self.failed_saves
                    ));
                } else if self.failed_saves == 1 {
                    warn(&format!("{e}; will try again"));
                }
            }
        }
    }

    /// Opens the status LEDs of the config; a missing GPIO line is a warning, not a stop.
    pub(super) fn open_leds(&mut self) {
        let cfg = crate::hw::leds::FittedLeds::from_config(&self.cfg.leds);
        if cfg == crate::hw::leds::FittedLeds::default() {
            return;
        }
        match crate::hw::leds::open_status_leds(&cfg, Instant::now()) {
            Ok(leds) => self.leds = Some(leds),
            Err(e) => warn(&e.to_string()),
        }
    }

    fn update_leds(&mut self) {
        if self.leds.is_none() {
            return;
        }
        let xruns = self.engine.status.xruns.load(Relaxed) as u64;
        let inputs = self.controller.led_inputs(&self.view(), xruns);
        if let Some(leds) = self.leds.as_mut() {
            leds.update(&inputs, Instant::now());
        }
    }

    fn handle(&mut self, ev: Event) {
        match ev {
            Event::Console(action) => {
                self.act(action);
                self.ctx.out.action_done();
            }
            Event::Button(b) => self.button(b),
            Event::Midi(m) => self.midi_action(m),
            Event::Notice(line) => self.ctx.out.say(&line),
            Event::Remote(req) => self.remote_request(req),
            Event::Warning(line) => warn(&line),
            Event::Loaded(gen, _, _) if gen != self.loader_gen => {
                // An earlier loader's work, from before a reload: its index means nothing
                // now (the song, if any, is dropped here on the control thread).
            }
            Event::Loaded(_, index, Ok(song)) => {
                let view = self.view();
                let out = self.controller.song_loaded(index, song, &view);
                self.execute(out);
            }
            Event::Loaded(_, index, Err(e)) => {
                // A load called off by SIGTERM is no news: the stop is under way.
                if !self.ctx.load.cancelled() {
                    warn(&e);
                }
                let out = self.controller.song_failed(index);
                self.execute(out);
            }
        }
    }

    /// Sends what waits, in order, while the engine's queues have room.
    fn flush_pending(&mut self) {
        let engine = &mut self.engine;
        self.pending.flush(|e| match e {
            ToEngine::Command(cmd) => engine.send(*cmd).is_ok(),
            ToEngine::Switch { song, play } => engine.switch_song(song.clone(), 0, *play),
        });
    }

    /// What the controller needs to know of the engine, now.
    fn view(&self) -> EngineView {
        let st = &self.engine.status;
        EngineView {
            transport: st.transport(),
            pos_frames: st.pos_frames.load(Relaxed),
            looping: st.looping.load(Relaxed),
            counting_in: st.counting_in.load(Relaxed),
            // What a switch needs: a slot now, or a place in line behind what waits.
            command_slots: self.engine.commands.slots() + self.pending.ordered_room(),
            song_slots: self.engine.songs.slots(),
            speed_pct: (st.speed() * 100.0) as f32,
            pitch_st: st.pitch_st(),
            ramp_pass: st.ramp_pass.load(Relaxed),
            periods: st.periods.load(Relaxed),
        }
    }

    /// Carries out one action and answers in one line on the console.
    pub fn act(&mut self, action: Action) {
        if let Some(line) = self.act_quietly(action) {
            self.ctx.out.say(&line);
        }
    }

    /// A remote request: parsed with the console's grammar and carried out like a console
    /// command; the answer goes back to the requester (not onto the console). `quit` is
    /// the console's and the box's own: a page cannot end the set.
    fn remote_request(&mut self, req: crate::remote::link::RemoteRequest) {
        use crate::model::grammar::{parse_line, HELP};
        let answer = match parse_line(&req.line) {
            Err(e) => e.to_string(),
            Ok(None) => "ok".to_string(),
            Ok(Some(Action::Help)) => HELP.to_string(),
            Ok(Some(Action::Quit)) => "error: quit is for the console".to_string(),
            Ok(Some(Action::Stats)) => self.stats_text(),
            Ok(Some(action)) => self.act_quietly(action).unwrap_or_else(|| "ok".to_string()),
        };
        req.reply.send(answer);
        self.update_screens();
    }

    /// Carries out one action through the controller and hands back its one answer line
    /// (the console says it; a remote request sends it to the requester).
    fn act_quietly(&mut self, action: Action) -> Option<String> {
        self.flush_pending();
        let view = self.view();
        let is_status = matches!(action, Action::Status);
        let pending = &mut self.pending;
        let mut out = self
            .controller
            .act_admitted(action, &view, |e| pending.admit(e));
        // Admitted: the commands are in line already; send what fits now.
        let had_commands = !std::mem::take(&mut out.engine).is_empty();
        self.flush_pending();
        let mut reply = out.reply.take();
        if had_commands && !self.pending.is_empty() {
            if let Some(r) = reply.as_mut().filter(|r| r.starts_with("ok")) {
                r.push_str(" (queued)");
            }
        }
        if is_status && self.device.is_lost() {
            if let Some(r) = reply.as_mut() {
                r.push_str(" device=lost");
            }
        }
        self.execute(out);
        reply
    }

    /// Publishes the views for the screens (see [`super::screens`]). Control thread.
    fn update_screens(&mut self) {
        // No screen, no views: a box without them spends nothing on them.
        if self.web.is_none() && self.osc.is_none() && self.display.is_none() {
            return;
        }
        let view = self.view();
        let st = &self.engine.status;
        let now = now_ns();
        let (late, load_pct) = match &self.monitor {
            Some((shared, base)) => {
                let m = MonitorStats::from_window(&shared.snapshot().since(base));
                (m.late, Some(m.load_pct as f32))
            }
            None => (0, None),
        };
        let health = crate::model::view::Health {
            uptime_s: (now - self.start_ns) / 1_000_000_000,
            ready: true,
            waiting_for: None,
            temp_c: None,
            xruns: st.xruns.load(Relaxed) as u64,
            late,
            load_pct,
            load_underruns: st.load_underruns.load(Relaxed),
            stretch_underruns: st.stretch_underruns.load(Relaxed),
            device_lost: self.device.is_lost(),
            device_losses: self.device.losses() as u64,
        };
        let now_ms = (now - self.start_ns) / 1_000_000;
        self.screens.update(&self.controller, &view, health, now_ms);
    }

    /// The appliance from here on: the console, buttons, MIDI and the screens start, the
    /// box says `ready`, and the control loop runs until `quit` or SIGTERM. Control thread.
    pub(super) fn serve(mut self) -> Result<(), AppError> {
        self.spawn_console();
        self.spawn_input()?;
        self.spawn_midi()?;
        self.spawn_screens();
        self.ctx.out.say("ready");
        self.control_loop()
    }

    /// Starts the phone page's server, OSC and the display when the config asks for them.
    /// One that cannot start (the port is taken, no I2C bus) is one warning; the box plays
    /// on without it. Control thread, at start.
    fn spawn_screens(&mut self) {
        let board = self.screens.board().clone();
        let tx = self.events_tx.clone();
        let sink: crate::remote::link::RequestSink =
            Arc::new(move |req| tx.send(Event::Remote(req)).is_ok());
        let r = &self.cfg.remote;
        let lock = Arc::new(std::sync::atomic::AtomicBool::new(false));
        if !r.listen.is_empty() {
            let opts = crate::remote::http::RemoteOptions {
                listen: r.listen.parse().ok(),
                pin: (!r.pin.is_empty()).then(|| r.pin.to_string()),
                hosts: r.hosts.iter().map(|h| h.to_string()).collect(),
                lock: lock.clone(),
            };
            match crate::remote::http::WebThread::spawn(opts, board.clone(), sink.clone()) {
                Ok(web) => {
                    self.ctx
                        .out
                        .say(&format!("remote page on http://{}/", web.local_addr()));
                    self.web = Some(web);
                }
                Err(e) => warn(&format!("remote.listen: {e}; the page is off")),
            }
        }
        if let Ok(addr) = r.osc_listen.parse() {
            match crate::remote::osc::OscThread::spawn(addr, board.clone(), sink) {
                Ok(osc) => {
                    self.ctx
                        .out
                        .say(&format!("osc on udp {}", osc.local_addr()));
                    self.osc = Some(osc);
                }
                Err(e) => warn(&format!("remote.osc_listen: {e}; OSC is off")),
            }
        }
        let d = &self.cfg.display;
        if !d.i2c.is_empty() {
            let opts = crate::hw::display::DisplayOptions {
                i2c_path: PathBuf::from(d.i2c.as_str()),
                address: d.address,
                rotate_180: d.rotate_180,
                max_fps: d.max_fps,
            };
            let tx = self.events_tx.clone();
            self.display = Some(crate::hw::display::DisplayThread::spawn(
                opts,
                super::display_feed::BoardFeed::new(board),
                move |line| {
                    let _ = tx.send(Event::Notice(line));
                },
            ));
        }
        self.update_screens();
    }

    /// Carries out what the controller asked for, in order: engine, effects, reply.
    /// Engine commands go in line behind what waits (never dropped: a song loaded or failed
    /// is not refused for a full queue, so these may go past the bound by a few).
    fn execute(&mut self, out: Output) {
        self.time_song_load(&out);
        if !out.engine.is_empty() {
            for e in out.engine {
                self.pending.push_past_bound(e);
            }
            self.flush_pending();
        }
        let fx = out.effects;
        if let Some(names) = fx.setlist {
            // The controller's new order: the loader's indices change with it, so a new
            // loader (and generation) takes over before anything is asked of it.
            let old = std::mem::take(&mut self.songs);
            self.songs = names
                .iter()
                .filter_map(|n| old.iter().find(|e| &e.name == n).cloned())
                .collect();
            self.loader_gen = self.loader_gen.wrapping_add(1);
            if self.loader.take().is_some() {
                self.spawn_loader();
            }
        }
        for index in fx.load {
            let sent = self.loader.as_ref().is_some_and(|l| l.load(index));
            if !sent {
                warn("the loader thread is not running");
                let failed = self.controller.song_failed(index);
                self.execute(failed);
            }
        }
        if fx.state_changed {
            if let Some((_, timer)) = &mut self.state {
                timer.changed(Instant::now());
            }
        }
        if fx.reset_stats {
            if let Some((shared, base)) = &mut self.monitor {
                *base = shared.reset_window();
            }
        }
        if let Some(line) = &out.reply {
            self.ctx.out.say(line);
        }
        if fx.print_stats {
            self.print_stats();
        }
        if fx.quit {
            self.quit = true;
        }
    }

    fn transport(&self) -> Transport {
        self.engine.status.transport()
    }

    fn pos_frames(&self) -> u64 {
        self.engine.status.pos_frames.load(Relaxed)
    }

    /// Starts the loader thread over the session's songs; what it reports comes back as
    /// events of this loader's generation.
    fn spawn_loader(&mut self) {
        let events = self.events_tx.clone();
        let gen = self.loader_gen;
        let spawned = LoaderThread::spawn(
            Arc::from(self.songs.clone()),
            self.granted.rate,
            self.ctx.load.clone(),
            move |report| {
                let ev = match report {
                    LoadReport::Playable { index, song } => Event::Loaded(gen, index, song),
                    LoadReport::Warning(w) => Event::Warning(w),
                };
                events.send(ev).is_ok()
            },
        );
        match spawned {
            Ok(loader) => self.loader = Some(loader),
            Err(e) => warn(&format!("cannot start the loader thread: {e}")),
        }
    }

    /// Reads console commands from stdin on the console thread (`crate::hw::console`);
    /// answers go through the non-blocking queue of `say`. At end of input the console
    /// stops only when stdin is not a terminal (a pipe, `/dev/null` under systemd): Ctrl-D
    /// on a terminal must not leave the box deaf until a restart.
    fn spawn_console(&mut self) {
        use crate::hw::console::{AtEndOfInput, ConsoleThread, OutputPacer, QueuedLines};
        use std::io::IsTerminal;
        let tx = self.events_tx.clone();
        let mut pacer = OutputPacer::new(self.ctx.out.clone());
        let at_end = if std::io::stdin().is_terminal() {
            AtEndOfInput::KeepReading
        } else {
            AtEndOfInput::Stop
        };
        let spawned = ConsoleThread::spawn(
            std::io::BufReader::new(std::io::stdin()),
            QueuedLines::new(self.ctx.out.clone()),
            at_end,
            move |a| {
                // Answers are never dropped for a burst while someone reads them.
                pacer.before_send();
                tx.send(Event::Console(a)).is_ok()
            },
        );
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
        let input = crate::hw::input::spawn_input(&self.cfg.buttons, move |msg| {
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
        let timing = self.act_timed(b.action.clone(), b.pressed_at, b.decided_at);
        self.ctx.out.say(&format!(
            "button key={:?} gesture={} {timing}",
            b.key, // evdev's name, e.g. KEY_SPACE: the word the key map uses
            crate::hw::input::keymap::gesture_name(b.gesture),
        ));
    }

    /// Carries out a gesture's action; returns `press_to_queue_us=.. heard_within_us=..`:
    /// from the press to the command queue, and the worst case until the change is heard.
    fn act_timed(
        &mut self,
        action: Action,
        pressed_at: crate::hw::input::Timestamp,
        decided_at: crate::hw::input::Timestamp,
    ) -> String {
        let queued = monotonic_now();
        self.act(action);
        let g = &self.granted;
        let to_queue_us = queued.saturating_sub(decided_at).as_micros() as u64;
        let period_us = g.period_frames as u64 * 1_000_000 / g.rate as u64;
        let buffer_us = g.buffer_frames as u64 * 1_000_000 / g.rate as u64;
        format!(
            "press_to_queue_us={} heard_within_us={}",
            queued.saturating_sub(pressed_at).as_micros(),
            to_queue_us + period_us + buffer_us
        )
    }

    /// Starts the midi thread when `midi.inputs` or `midi.clock_out` is set (a bad MIDI map
    /// is a config error; a missing sequencer is one line from the thread).
    fn spawn_midi(&mut self) -> Result<(), AppError> {
        use crate::hw::midi::MidiMsg;
        let tx = self.events_tx.clone();
        self.midi = crate::hw::midi::spawn_midi(
            &self.cfg.midi,
            &self.cfg.buttons,
            self.engine.status.clone(),
            move |msg| {
                tx.send(match msg {
                    MidiMsg::Action(a) => Event::Midi(a),
                    MidiMsg::Notice(n) => Event::Notice(n),
                })
                .is_ok()
            },
        )
        .map_err(|e| AppError::usage(e.to_string()))?;
        Ok(())
    }

    /// A MIDI action: carried out like a button's, with the same figures, from the
    /// sequencer's arrival stamp of the message.
    fn midi_action(&mut self, m: ButtonEvent<crate::hw::midi::map::MidiKey>) {
        let timing = self.act_timed(m.action.clone(), m.pressed_at, m.decided_at);
        self.ctx.out.say(&format!(
            "midi key={} gesture={} {timing}",
            m.key,
            crate::hw::input::keymap::gesture_name(m.gesture),
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
            song: self.controller.current_song().map(|s| s.name.clone()),
            pos_s: self.controller.seconds(self.pos_frames()),
            transport: self.transport(),
            xruns: st.xruns.load(Relaxed) as u64,
            suspends: st.suspends.load(Relaxed) as u64,
            underrun_free_s: underrun_free_s(now, self.start_ns, self.last_xrun_ns),
            device_lost: self.device.is_lost(),
            device_losses: self.device.losses() as u64,
            console_dropped: self.ctx.out.dropped_lines(),
            load_underruns: st.load_underruns.load(Relaxed),
            stretch_underruns: st.stretch_underruns.load(Relaxed),
            load_ms: self.load_ms,
            song_ram_mb: self
                .controller
                .current_song()
                .map_or(0.0, |s| s.ram_bytes() as f64 / 1e6),
            ram_mb: self.controller.loaded_ram_bytes() as f64 / 1e6,
            monitor: self
                .monitor
                .as_ref()
                .map(|(shared, base)| MonitorStats::from_window(&shared.snapshot().since(base))),
        }
    }

    /// `load_ms`: notes when a song not loaded is asked for (the controller holds it as
    /// its pending switch), and when a switch goes to the engine, how long since the song
    /// was asked for (a song already loaded: 0). Control thread, on every output.
    fn time_song_load(&mut self, out: &Output) {
        let now = Instant::now();
        let switched = out
            .engine
            .iter()
            .any(|e| matches!(e, ToEngine::Switch { .. }));
        if switched {
            let asked = match self.song_asked.take() {
                Some((i, at)) if i == self.controller.current() => at,
                _ => now,
            };
            self.load_ms = Some(now.duration_since(asked).as_millis() as u64);
        }
        match self.controller.pending_song() {
            Some(i) if self.song_asked.map(|(j, _)| j) != Some(i) => {
                self.song_asked = Some((i, now));
            }
            Some(_) => {}
            None if !switched => self.song_asked = None,
            None => {}
        }
    }

    fn print_stats(&self) {
        self.ctx.out.say(&self.stats_text());
    }

    /// The stats line as the session prints it (JSON with `--stats-json`).
    fn stats_text(&self) -> String {
        let s = self.stats();
        if self.stats_json {
            s.to_json()
        } else {
            s.to_text()
        }
    }
}
