//! The controller: transport, setlist, mixer and loop state, and nothing else. An
//! [`Action`] (or a loader result) goes in with an [`EngineView`] of the engine's status;
//! an [`Output`] comes out: what to hand the engine, the one reply line for the console,
//! and the [`Effects`] the runtime carries out (songs to load, state to save, stats to
//! print, quit). It never sleeps and touches no file, thread or device, so every action is
//! unit-tested below without any of them. Control thread only.

use crate::hw::leds::{LedInputs, LoopLed, TransportLed};
use crate::model::action::{
    clamp_db, Action, MixMode, MAX_GAIN_DB, MAX_PITCH_ST, MAX_SPEED_PCT, MAX_VOLUME_DB,
    MIN_GAIN_DB, MIN_PITCH_ST, MIN_SPEED_PCT, MIN_VOLUME_DB, PITCH_STEP_ST, SPEED_STEP_PCT,
    VOLUME_STEP_DB,
};
use crate::model::setlist::Setlist;
use crate::model::song::Song;
use crate::rt::command::{Command, CountInBar};
use crate::rt::ramp::db_to_gain;
use crate::rt::status::Transport;
use crate::storage::state::{SavedState, StemSetting};
use std::collections::HashMap;
use std::sync::Arc;

/// What the controller needs to know of the engine, read by the runtime from the status
/// atomics and the queues just before each call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EngineView {
    pub transport: Transport,
    /// The mixing head, in frames of the current song.
    pub pos_frames: u64,
    /// Whether the engine is looping now.
    pub looping: bool,
    /// Whether a count-in is clicking.
    pub counting_in: bool,
    /// Free slots in the command queue.
    pub command_slots: usize,
    /// Free slots in the song queue.
    pub song_slots: usize,
    /// Speed in force, in percent (a tempo ramp moves it pass by pass).
    pub speed_pct: f32,
    /// Key change in force, in semitones.
    pub pitch_st: f32,
    /// Tempo-ramp loop pass being played (0: no ramp).
    pub ramp_pass: u32,
    /// Periods the engine has played. A command sent when this read P is taken at the
    /// start of a later period and shows in the view from P + 2 on.
    pub periods: u64,
}

/// One thing for the engine, in order.
#[derive(Clone, Debug)]
pub enum ToEngine {
    Command(Command),
    /// Push `song` into the song queue, then send `Command::SwitchSong` from frame 0 (what
    /// `EngineHandle::switch_song` does); the controller has checked that both queues have
    /// room.
    Switch {
        song: Arc<Song>,
        play: bool,
    },
}

impl PartialEq for ToEngine {
    fn eq(&self, other: &ToEngine) -> bool {
        match (self, other) {
            (ToEngine::Command(a), ToEngine::Command(b)) => a == b,
            (ToEngine::Switch { song: a, play: p }, ToEngine::Switch { song: b, play: q }) => {
                Arc::ptr_eq(a, b) && p == q
            }
            _ => false,
        }
    }
}

/// What the runtime does besides feeding the engine and printing the reply.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Effects {
    /// Setlist positions to hand to the loader, in order.
    pub load: Vec<usize>,
    /// The saved state changed: save it once changes have settled.
    pub state_changed: bool,
    /// Print a stats line now.
    pub print_stats: bool,
    /// Start a new stats window.
    pub reset_stats: bool,
    /// Fade out and exit.
    pub quit: bool,
}

/// The controller's answer to one input.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Output {
    pub engine: Vec<ToEngine>,
    /// The line for the console, if any (a stats request is answered by the runtime).
    pub reply: Option<String>,
    pub effects: Effects,
}

impl Output {
    fn send(&mut self, cmd: Command) {
        self.engine.push(ToEngine::Command(cmd));
    }

    fn reply(&mut self, line: impl Into<String>) {
        self.reply = Some(line.into());
    }

    /// The engine commands only (switches left out), for tests and logs.
    pub fn commands(&self) -> Vec<Command> {
        self.engine
            .iter()
            .filter_map(|e| match e {
                ToEngine::Command(c) => Some(*c),
                ToEngine::Switch { .. } => None,
            })
            .collect()
    }
}

/// How the controller is set up: the device's rate and buffer, the setlist, the limits.
#[derive(Clone, Debug)]
pub struct Setup {
    /// Device rate: frames per second of every loaded song.
    pub rate: u32,
    /// Device buffer: how far the mixing head runs ahead of what is heard.
    pub buffer_frames: u32,
    /// Song folder names in setlist order (a name may appear twice).
    pub names: Vec<String>,
    /// `memory.budget_mb` in bytes: neighbours are preloaded only below it.
    pub budget_bytes: usize,
    /// The master volume the engine was built with.
    pub master_db: f32,
    /// The saved state (`run`), or `None` (`play`: nothing is remembered).
    pub saved: Option<SavedState>,
    /// The output buses in the engine's order (`main` first), for `bus <name> <dB>`.
    pub buses: Vec<String>,
}

/// Mirror of one stem's mixer settings (the engine has the ramped truth).
#[derive(Clone, Debug, PartialEq)]
struct StemMix {
    name: String,
    mute: bool,
    solo: bool,
    gain_db: f32,
}

/// The state machine; see the module doc.
#[derive(Clone, Debug)]
pub struct Controller {
    rate: u32,
    buffer_frames: u32,
    setlist: Setlist,
    names: Vec<String>,
    budget_bytes: usize,
    /// Decoded songs by setlist position: the current one and its neighbours.
    songs: HashMap<usize, Arc<Song>>,
    /// Positions handed to the loader and not back yet.
    loading: Vec<usize>,
    /// Setlist position of the song in the engine.
    current: usize,
    /// A song change waiting for its song to finish loading: (position, play).
    pending_switch: Option<(usize, bool)>,
    mix: Vec<StemMix>,
    master_db: f32,
    count_in: bool,
    loop_a: Option<u64>,
    loop_region: Option<(u64, u64)>,
    saved: Option<SavedState>,
    /// Speed (percent) and key (semitones) asked for the current song.
    speed_pct: f32,
    pitch_st: f32,
    /// The generated click as asked on the console or a key, for every song; `None`: as
    /// each song's `song.json` says.
    click: Option<bool>,
    /// The click as last sent to the engine (it keeps it across song changes).
    engine_click: bool,
    /// `mix master`: the current song's NI master plays in place of its stems. Back to the
    /// stems on every song change.
    master_mode: bool,
    /// The last play, pause or stop sent, and the engine's period count then: until the
    /// view shows it (two periods on), the transport is taken from here, so that `play`
    /// and `song <n>` in one go play the new song instead of cueing it.
    sent_transport: Option<(Transport, u64)>,
    /// Each output bus (engine order) and its gain in dB.
    buses: Vec<(String, f32)>,
}

impl Controller {
    /// A controller whose engine already holds `song` (setlist position `current`). The
    /// output carries the song's saved stem settings, to be sent before the first period.
    pub fn new(setup: Setup, current: usize, song: Arc<Song>) -> (Controller, Output) {
        let mut c = Controller {
            rate: setup.rate,
            buffer_frames: setup.buffer_frames,
            setlist: Setlist::folder_order(setup.names.len()),
            names: setup.names,
            budget_bytes: setup.budget_bytes,
            mix: mix_of(&song),
            songs: HashMap::from([(current, song)]),
            loading: Vec::new(),
            current,
            pending_switch: None,
            master_db: setup.master_db,
            count_in: false,
            loop_a: None,
            loop_region: None,
            saved: setup.saved,
            speed_pct: 100.0,
            pitch_st: 0.0,
            click: None,
            engine_click: false,
            master_mode: false,
            sent_transport: None,
            buses: setup.buses.into_iter().map(|b| (b, 0.0)).collect(),
        };
        let mut out = Output::default();
        c.restore_bus_gains(&mut out);
        c.restore_stem_settings(&mut out);
        c.send_mix(&mut out);
        c.restore_tempo(&mut out);
        c.send_click(&mut out);
        (c, out)
    }

    /// Asks for the current song's neighbours (once the loader runs).
    pub fn preload(&mut self) -> Output {
        let mut out = Output::default();
        self.keep_neighbours_loaded(&mut out);
        out
    }

    pub fn current_song(&self) -> Option<&Arc<Song>> {
        self.songs.get(&self.current)
    }

    /// Song folder names in setlist order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The setlist position of the song in the engine.
    pub fn current(&self) -> usize {
        self.current
    }

    pub fn master_db(&self) -> f32 {
        self.master_db
    }

    /// Loop A is set and B not yet (the loop LED blinks).
    pub fn loop_armed(&self) -> bool {
        self.loop_a.is_some() && self.loop_region.is_none()
    }

    /// What the status LEDs show: transport (a count-in blinks its own way), the loop (on,
    /// or A set and waiting for B), and the xrun counter.
    pub fn led_inputs(&self, view: &EngineView, xruns: u64) -> LedInputs {
        let transport = match view.transport {
            _ if view.counting_in => TransportLed::CountIn,
            Transport::Playing => TransportLed::Playing,
            Transport::Paused => TransportLed::Paused,
            Transport::Stopped => TransportLed::Stopped,
        };
        let looping = if view.looping {
            LoopLed::On
        } else if self.loop_armed() {
            LoopLed::ArmedA
        } else {
            LoopLed::Off
        };
        LedInputs {
            transport,
            looping,
            xruns,
        }
    }

    /// What to write to `state.json`.
    pub fn saved_state(&self) -> Option<&SavedState> {
        self.saved.as_ref()
    }

    pub fn seconds(&self, frames: u64) -> f64 {
        frames as f64 / self.rate as f64
    }

    /// A pause or stop while a called song loads: it will be cued, not played.
    fn cue_pending_switch(&mut self) {
        if let Some((_, play)) = self.pending_switch.as_mut() {
            *play = false;
        }
    }

    /// The song waiting to be loaded before it is switched to (setlist index), if any.
    pub fn pending_song(&self) -> Option<usize> {
        self.pending_switch.map(|(i, _)| i)
    }

    /// Bytes of decoded audio all loaded songs hold (what `memory.budget_mb` limits).
    pub fn loaded_ram_bytes(&self) -> usize {
        self.songs.values().map(|s| s.ram_bytes()).sum()
    }

    /// A reloaded library (SIGHUP): `names` is the new setlist, `budget_bytes` the new
    /// memory budget. The song in the engine plays on without a gap: its position moves to
    /// where its folder now is; a folder that is gone keeps its place in the list (sorted
    /// in by name) until the next reload, so `next` and `prev` go on from it. Decoded
    /// neighbours are kept by name; loads still under way are forgotten (the runtime
    /// starts a new loader and ignores the old one's results) and asked for again. The
    /// reply says what changed. Control thread.
    pub fn relist(&mut self, mut names: Vec<String>, budget_bytes: usize) -> Output {
        let mut out = Output::default();
        let current_name = self.names[self.current].clone();
        let kept_gone = !names.contains(&current_name);
        if kept_gone {
            let at = names.partition_point(|n| n.as_str() < current_name.as_str());
            names.insert(at, current_name.clone());
        }
        let new_index = |old: usize, names: &[String], old_names: &[String]| {
            names.iter().position(|n| *n == old_names[old])
        };
        let old_names = std::mem::replace(&mut self.names, names);
        let added = self.names.iter().filter(|n| !old_names.contains(n)).count();
        let removed = old_names.iter().filter(|n| !self.names.contains(n)).count();
        self.songs = std::mem::take(&mut self.songs)
            .into_iter()
            .filter_map(|(i, song)| new_index(i, &self.names, &old_names).map(|j| (j, song)))
            .collect();
        self.current = new_index(self.current, &self.names, &old_names).unwrap_or(0);
        self.setlist = Setlist::folder_order(self.names.len());
        self.budget_bytes = budget_bytes;
        self.loading.clear();
        let pending = self.pending_switch.take();
        let mut pending_gone = None;
        if let Some((want, play)) = pending {
            match new_index(want, &self.names, &old_names) {
                Some(j) => {
                    self.pending_switch = Some((j, play));
                    self.request_load(j, &mut out);
                }
                None => pending_gone = Some(old_names[want].clone()),
            }
        }
        self.keep_neighbours_loaded(&mut out);
        let mut reply = format!(
            "reloaded library: {} songs ({added} new, {removed} gone); playing on {} {}",
            self.names.len(),
            self.current + 1,
            current_name
        );
        if kept_gone {
            reply.push_str(" (its folder is gone: it stays until the next song change and reload)");
        }
        if let Some(name) = pending_gone {
            reply.push_str(&format!("; the song being loaded, {name}, is gone"));
        }
        out.reply(reply);
        out
    }

    /// The loader finished setlist position `index`.
    pub fn song_loaded(&mut self, index: usize, song: Arc<Song>, view: &EngineView) -> Output {
        let mut out = Output::default();
        self.loading.retain(|&i| i != index);
        self.songs.insert(index, song);
        if let Some((want, play)) = self.pending_switch {
            if want == index {
                self.pending_switch = None;
                // Play, pause or stop while it loaded decided `play`.
                self.switch_to(index, play, view, &mut out);
            }
        }
        out
    }

    /// The loader could not load setlist position `index` (the runtime shows why).
    pub fn song_failed(&mut self, index: usize) -> Output {
        let mut out = Output::default();
        self.loading.retain(|&i| i != index);
        if self.pending_switch.is_some_and(|(w, _)| w == index) {
            self.pending_switch = None;
            out.reply(format!("error: cannot load song {}", self.names[index]));
        }
        out
    }

    /// Carries out one action.
    pub fn act(&mut self, action: Action, view: &EngineView) -> Output {
        let mut out = Output::default();
        self.act_into(action, view, &mut out);
        self.note_sent_transport(&out, view);
        out
    }

    /// Remembers the last transport command of `out` (see `sent_transport`).
    fn note_sent_transport(&mut self, out: &Output, view: &EngineView) {
        let last = out.engine.iter().rev().find_map(|e| match e {
            ToEngine::Command(Command::Play) => Some(Transport::Playing),
            ToEngine::Command(Command::Pause) => Some(Transport::Paused),
            ToEngine::Command(Command::Stop) => Some(Transport::Stopped),
            _ => None,
        });
        if let Some(t) = last {
            self.sent_transport = Some((t, view.periods));
        }
    }

    /// The transport as the engine will have it once it has taken what was sent.
    fn transport_after_sent(&self, view: &EngineView) -> Transport {
        match self.sent_transport {
            Some((t, at)) if view.periods < at.saturating_add(2) => t,
            _ => view.transport,
        }
    }

    /// Carries out one action whose engine commands must all reach the engine: `admit` is
    /// offered them and queues all or none. If it refuses, the controller goes back to the
    /// state it had before the action and answers `error: engine busy, try again` (no `ok`
    /// for a command that was dropped, no state the engine will never hear of).
    pub fn act_admitted(
        &mut self,
        action: Action,
        view: &EngineView,
        admit: impl FnOnce(&[ToEngine]) -> bool,
    ) -> Output {
        let before = self.clone();
        let out = self.act(action, view);
        if out.engine.is_empty() || admit(&out.engine) {
            return out;
        }
        *self = before;
        let mut busy = Output::default();
        busy.reply("error: engine busy, try again");
        busy
    }

    fn act_into(&mut self, action: Action, view: &EngineView, out: &mut Output) {
        match action {
            Action::PlayPause => {
                let next = if view.counting_in {
                    // A second press during the count-in calls it off.
                    Action::Stop
                } else if view.transport == Transport::Playing {
                    Action::Pause
                } else {
                    Action::Play
                };
                self.act_into(next, view, out)
            }
            Action::Play if self.pending_switch.is_some() => {
                // The musician called a song that is still loading, then play: that song
                // is what they want to hear, not the rest of the old one.
                if let Some((index, play)) = self.pending_switch.as_mut() {
                    *play = true;
                    out.reply(format!("ok play (when {} is loaded)", self.names[*index]));
                }
            }
            Action::Play => match self.current_song() {
                Some(song) if self.count_in && view.transport != Transport::Playing => {
                    let (beat_frames, beats, bpm) = count_in_at(song, view.pos_frames, self.rate);
                    out.send(Command::CountIn { beat_frames, beats });
                    out.reply(format!("ok play (count-in {beats} beats at {bpm:.0} bpm)"));
                }
                _ => {
                    out.send(Command::Play);
                    out.reply("ok play");
                }
            },
            Action::Pause => {
                self.cue_pending_switch();
                out.send(Command::Pause);
                out.reply("ok pause");
            }
            Action::Stop => {
                self.cue_pending_switch();
                out.send(Command::Stop);
                out.reply("ok stop");
            }
            Action::NextSong => match self.setlist.next(self.current) {
                Some(i) => self.change_song(i, view, out),
                None => out.reply("error: this is the last song of the setlist"),
            },
            Action::PrevSong => match self.setlist.prev(self.current) {
                Some(i) => self.change_song(i, view, out),
                None => out.reply("error: this is the first song of the setlist"),
            },
            Action::Song(r) => match self.setlist.find(&self.names, &r) {
                Ok(i) => self.change_song(i, view, out),
                Err(e) => out.reply(format!("error: {e}")),
            },
            Action::ToggleMute(stem) => self.with_stem(&stem, out, |m| {
                m.mute = !m.mute;
                false
            }),
            Action::Mute(stem) => self.with_stem(&stem, out, |m| {
                m.mute = true;
                false
            }),
            Action::Unmute(stem) => self.with_stem(&stem, out, |m| {
                m.mute = false;
                false
            }),
            Action::Solo(stem) => self.with_stem(&stem, out, |m| {
                m.solo = !m.solo;
                false
            }),
            Action::Gain(stem, db) => {
                if db.is_nan() {
                    out.reply("error: gain must be a number of dB");
                    return;
                }
                let (db, clamped) = clamp_db(db, MIN_GAIN_DB, MAX_GAIN_DB);
                self.with_stem(&stem, out, |m| {
                    m.gain_db = db;
                    clamped
                })
            }
            Action::BusGain(bus, db) => self.set_bus_gain(&bus, db, out),
            Action::NextSection | Action::PrevSection | Action::Section(_) => {
                self.goto_section(action, view, out)
            }
            Action::LoopA => {
                let pos = self.heard_pos_frames(view);
                self.loop_a = Some(pos);
                out.reply(format!("ok loop_a {:.3}", self.seconds(pos)));
            }
            Action::LoopB => {
                let pos = self.heard_pos_frames(view);
                match self.loop_a {
                    Some(a) if pos > a => self.set_loop((a, pos), out),
                    _ => out.reply("error: set loop A before B (B must come after A)"),
                }
            }
            Action::LoopToggle => {
                if view.looping {
                    out.send(Command::Loop { region: None });
                    out.reply("ok loop off");
                } else if let Some(r) = self.loop_region {
                    self.set_loop(r, out);
                } else {
                    out.reply("error: no loop set (set A and B first)");
                }
            }
            Action::Loop(a_s, b_s) => {
                let rate = self.rate as f64;
                let song_s = self.current_song().map_or(0.0, |s| s.duration_s());
                if !(a_s >= 0.0 && b_s > a_s) {
                    out.reply("error: loop needs 0 <= A < B (seconds)");
                } else if b_s > song_s {
                    out.reply(format!(
                        "error: loop {a_s:.3} {b_s:.3} ends after the song ({song_s:.3} s long); \
                         both points must be inside it"
                    ));
                } else {
                    self.set_loop(((a_s * rate) as u64, (b_s * rate) as u64), out);
                }
            }
            Action::LoopOff => {
                out.send(Command::Loop { region: None });
                out.reply("ok loop off");
            }
            Action::VolumeUp | Action::VolumeDown => {
                let step = if action == Action::VolumeUp {
                    VOLUME_STEP_DB
                } else {
                    -VOLUME_STEP_DB
                };
                let (db, clamped) = clamp_db(self.master_db + step, MIN_VOLUME_DB, MAX_VOLUME_DB);
                self.master_db = db;
                out.send(Command::MasterGain {
                    gain: db_to_gain(db),
                });
                out.reply(format!("ok volume {db:+.1} dB{}", limit_note(clamped)));
            }
            Action::Speed(None) | Action::Pitch(None) => out.reply(format!(
                "speed {} pitch {}{}",
                pct_text(view.speed_pct),
                st_text(view.pitch_st),
                if view.ramp_pass > 0 {
                    format!(" (loop ramp pass {})", view.ramp_pass)
                } else {
                    String::new()
                }
            )),
            Action::Speed(Some(pct)) => self.set_speed(pct, out),
            Action::SpeedUp => self.set_speed(view.speed_pct + SPEED_STEP_PCT, out),
            Action::SpeedDown => self.set_speed(view.speed_pct - SPEED_STEP_PCT, out),
            Action::Pitch(Some(st)) => self.set_pitch(st, out),
            Action::PitchUp => self.set_pitch(self.pitch_st + PITCH_STEP_ST, out),
            Action::PitchDown => self.set_pitch(self.pitch_st - PITCH_STEP_ST, out),
            Action::LoopRamp(start, step, end, count_in) => {
                self.loop_ramp(start, step, end, count_in, view, out)
            }
            Action::CountInToggle => {
                self.count_in = !self.count_in;
                out.reply(format!(
                    "ok count_in {}",
                    if self.count_in { "on" } else { "off" }
                ));
            }
            Action::Click(on) => self.set_click(on, out),
            Action::Mix(want) => self.set_mix(want, out),
            Action::Status => out.reply(self.status_line(view)),
            Action::Stats => out.effects.print_stats = true,
            Action::StatsReset => {
                out.effects.reset_stats = true;
                out.reply("ok stats reset");
            }
            Action::Help => out.reply(crate::hw::console::HELP),
            Action::Quit => {
                out.effects.quit = true;
                out.reply("ok quit");
            }
        }
    }

    /// The click for the current song: as asked, else as its `song.json` says; never for a
    /// song without a tempo or with a stem of its own named `click` (it would be doubled).
    /// With the reason when it is off though asked for.
    fn click_state(&self) -> (bool, Option<&'static str>) {
        let Some(song) = self.current_song() else {
            return (false, None);
        };
        let wanted = self.click.unwrap_or(song.click);
        if !wanted {
            (false, None)
        } else if song.tempo_map.is_none() {
            (
                false,
                Some("not for this song: it has no tempo; give its song.json a bpm or tempo_map"),
            )
        } else if song.stem_index("click").is_some() {
            (
                false,
                Some("not for this song: it has a click stem (mute/unmute click)"),
            )
        } else {
            (true, None)
        }
    }

    /// Sends the click for the current song when the engine has another.
    fn send_click(&mut self, out: &mut Output) {
        let (on, _) = self.click_state();
        if on != self.engine_click {
            self.engine_click = on;
            out.send(Command::Click(on));
        }
    }

    /// `click`, `click on`, `click off`: from now on for every song.
    fn set_click(&mut self, on: Option<bool>, out: &mut Output) {
        let wanted = on.unwrap_or_else(|| {
            let now = self
                .click
                .or(self.current_song().map(|s| s.click))
                .unwrap_or(false);
            !now
        });
        self.click = Some(wanted);
        self.send_click(out);
        let (_, why) = self.click_state();
        out.reply(format!(
            "ok click {}{}",
            if wanted { "on" } else { "off" },
            why.map_or(String::new(), |w| format!(" ({w})"))
        ));
    }

    /// Sets the speed (percent), clamped to its limits with a word saying so; a value that is
    /// not a number is refused.
    fn set_speed(&mut self, pct: f32, out: &mut Output) {
        if pct.is_nan() {
            out.reply("error: speed must be a number of percent (50..150)");
            return;
        }
        let c = pct.clamp(MIN_SPEED_PCT, MAX_SPEED_PCT);
        // A step (or a ramp's odd end) must not leave 99.99999 instead of 100.
        let c = (c * 100.0).round() / 100.0;
        self.speed_pct = c;
        out.send(Command::Speed { factor: c / 100.0 });
        self.remember_tempo(out);
        out.reply(format!(
            "ok speed {}{}",
            pct_text(c),
            range_note(c != pct, "50..150 %")
        ));
    }

    /// Sets the key change (semitones), clamped to its limits with a word saying so.
    fn set_pitch(&mut self, st: f32, out: &mut Output) {
        if st.is_nan() {
            out.reply("error: pitch must be a number of semitones (-12..12)");
            return;
        }
        let c = st.clamp(MIN_PITCH_ST, MAX_PITCH_ST);
        let c = (c * 1000.0).round() / 1000.0;
        self.pitch_st = c;
        out.send(Command::Pitch { st: c });
        self.remember_tempo(out);
        out.reply(format!(
            "ok pitch {}{}",
            st_text(c),
            range_note(c != st, "-12..12 st")
        ));
    }

    /// Keeps the current song's speed and key in the saved state (`run`).
    fn remember_tempo(&mut self, out: &mut Output) {
        if let (Some(song), Some(saved)) = (self.songs.get(&self.current), &mut self.saved) {
            saved.set_tempo(&song.name, self.speed_pct, self.pitch_st);
            out.effects.state_changed = true;
        }
    }

    /// Starts a tempo ramp on the loop that is playing.
    fn loop_ramp(
        &mut self,
        start: f32,
        step: f32,
        end: f32,
        count_in: bool,
        view: &EngineView,
        out: &mut Output,
    ) {
        if !view.looping {
            out.reply("error: no loop playing (set loop a and b, or loop <a_s> <b_s>, first)");
            return;
        }
        if !(start.is_finite() && step.is_finite() && end.is_finite()) || step <= 0.0 {
            out.reply("error: loop ramp needs <start_pct> <step_pct> [<end_pct>] as numbers");
            return;
        }
        let s = start.clamp(MIN_SPEED_PCT, MAX_SPEED_PCT);
        let e = end.clamp(MIN_SPEED_PCT, MAX_SPEED_PCT).max(s);
        let st = step.min(MAX_SPEED_PCT - MIN_SPEED_PCT);
        let bar = match (count_in, self.current_song()) {
            (true, Some(song)) => {
                let a = self.loop_region.map_or(view.pos_frames, |(a, _)| a);
                let (beat_frames, beats, _) = count_in_at(song, a, self.rate);
                CountInBar::new(beat_frames, beats)
            }
            _ => CountInBar::NONE,
        };
        out.send(Command::LoopRamp {
            start: s / 100.0,
            step: st / 100.0,
            end: e / 100.0,
            count_in: bar,
        });
        out.reply(format!(
            "ok loop ramp {} +{} per pass to {}{}{}",
            pct_text(s),
            pct_text(st),
            pct_text(e),
            if bar.beats() > 0 {
                format!(", a {}-beat count-in before each pass", bar.beats())
            } else {
                String::new()
            },
            range_note(s != start || e != end || st != step, "50..150 %")
        ));
    }

    /// The frame being heard now: the mixing head runs up to a device buffer ahead.
    fn heard_pos_frames(&self, view: &EngineView) -> u64 {
        view.pos_frames.saturating_sub(self.buffer_frames as u64)
    }

    fn set_loop(&mut self, (a, b): (u64, u64), out: &mut Output) {
        // The engine crossfades each wrap; a loop must be longer than two crossfades.
        let min = 2 * crate::rt::ramp::ms_to_frames(crate::rt::FADE_MS, self.rate) as u64;
        if b - a <= min {
            out.reply(format!(
                "error: loop too short ({:.3} s); it must be longer than {:.3} s",
                self.seconds(b - a),
                self.seconds(min)
            ));
            return;
        }
        self.loop_region = Some((a, b));
        out.send(Command::Loop {
            region: Some((a, b)),
        });
        out.reply(format!(
            "ok loop {:.3} {:.3}",
            self.seconds(a),
            self.seconds(b)
        ));
    }

    fn goto_section(&mut self, action: Action, view: &EngineView, out: &mut Output) {
        let Some(song) = self.current_song().cloned() else {
            out.reply("error: no song loaded");
            return;
        };
        if song.sections.is_empty() {
            out.reply(format!("error: song {} has no sections", song.name));
            return;
        }
        let pos = view.pos_frames;
        let starts: Vec<u64> = song.sections.iter().map(|s| s.start_frame).collect();
        let target = match &action {
            Action::NextSection => crate::model::setlist::next_section(&starts, pos),
            Action::PrevSection => Some(crate::model::setlist::prev_section(
                &starts,
                pos,
                crate::model::setlist::grace_frames(self.rate),
            )),
            Action::Section(r) => {
                let names: Vec<&str> = song.sections.iter().map(|s| s.name.as_str()).collect();
                match crate::model::setlist::find_section(&names, r) {
                    Ok(i) => Some(starts[i]),
                    Err(e) => {
                        out.reply(format!("error: {e}"));
                        return;
                    }
                }
            }
            _ => None,
        };
        let Some(frame) = target else {
            out.reply("error: no section after this one");
            return;
        };
        out.send(Command::Seek { frame });
        let name = song
            .sections
            .iter()
            .find(|s| s.start_frame == frame)
            .map_or("start", |s| s.name.as_str());
        out.reply(format!("ok section {name} at {:.3}", self.seconds(frame)));
    }

    /// Changes one stem's settings with `f` (which says whether a value hit its limit),
    /// sends what changed, remembers it, answers with the stem's settings.
    /// `bus <name> <dB>`: the bus's gain, ramped by the engine, kept for every song and
    /// saved. NaN is refused; out of range is clamped to the stem gain limits (and said).
    fn set_bus_gain(&mut self, bus: &str, db: f32, out: &mut Output) {
        if db.is_nan() {
            out.reply("error: bus gain must be a number of dB");
            return;
        }
        let (db, clamped) = clamp_db(db, MIN_GAIN_DB, MAX_GAIN_DB);
        let Some(i) = self
            .buses
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(bus))
        else {
            out.reply(format!(
                "error: no bus \"{bus}\" (audio.buses: {})",
                self.buses
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            return;
        };
        self.buses[i].1 = db;
        let name = self.buses[i].0.clone();
        out.send(Command::BusGain {
            bus: i as u8,
            gain: db_to_gain(db),
        });
        if let Some(saved) = &mut self.saved {
            saved.set_bus_gain_db(&name, db);
            out.effects.state_changed = true;
        }
        out.reply(format!("ok bus {name} {db:+.1} dB{}", limit_note(clamped)));
    }

    /// The saved bus gains (`run`), sent once at start-up: buses keep them across songs.
    /// A saved bus the config no longer has is left alone in the file.
    fn restore_bus_gains(&mut self, out: &mut Output) {
        let Some(saved) = &self.saved else {
            return;
        };
        for (i, (name, db)) in self.buses.iter_mut().enumerate() {
            if let Some(g) = saved.bus_gain_db(name) {
                let (g, _) = clamp_db(g, MIN_GAIN_DB, MAX_GAIN_DB);
                *db = g;
                out.send(Command::BusGain {
                    bus: i as u8,
                    gain: db_to_gain(g),
                });
            }
        }
    }

    /// Bus names and gains in dB, in the engine's order.
    pub fn bus_gains_db(&self) -> &[(String, f32)] {
        &self.buses
    }

    fn with_stem(&mut self, stem: &str, out: &mut Output, f: impl FnOnce(&mut StemMix) -> bool) {
        let Some(i) = self
            .mix
            .iter()
            .position(|m| m.name.eq_ignore_ascii_case(stem))
        else {
            out.reply(format!(
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
        let clamped = f(&mut self.mix[i]);
        let after = self.mix[i].clone();
        let stem_ix = i as u8;
        let master = self.master_stem();
        if Some(i) == master && (before.mute != after.mute || before.solo != after.solo) {
            self.mix[i] = before;
            out.reply(format!(
                "error: {} is the song's original master mix: hear it with `mix master`",
                after.name
            ));
            return;
        }
        // With the master playing, a stem's mute and solo are remembered for `mix stems`
        // and not sent: every stem stays silent until then.
        let held = self.master_mode && Some(i) != master;
        if before.mute != after.mute && !held {
            out.send(Command::StemMute {
                stem: stem_ix,
                mute: after.mute,
            });
        }
        if before.solo != after.solo && !held {
            out.send(Command::StemSolo {
                stem: stem_ix,
                solo: after.solo,
            });
        }
        if before.gain_db != after.gain_db {
            out.send(Command::StemGain {
                stem: stem_ix,
                gain: db_to_gain(after.gain_db),
            });
        }
        if let (Some(song), Some(saved)) = (self.songs.get(&self.current), &mut self.saved) {
            saved.set_stem(
                &song.name,
                &after.name,
                StemSetting {
                    mute: after.mute,
                    solo: after.solo,
                    gain_db: after.gain_db,
                },
            );
            out.effects.state_changed = true;
        }
        out.reply(format!(
            "ok {} mute={} solo={} gain_db={:.1}{}",
            after.name,
            after.mute as u8,
            after.solo as u8,
            after.gain_db,
            limit_note(clamped)
        ));
        if held {
            if let Some(line) = out.reply.as_mut() {
                line.push_str(" (master playing: heard after `mix stems`)");
            }
        }
    }

    /// Switches to setlist position `index`: at once if it is loaded, else when it is.
    fn change_song(&mut self, index: usize, view: &EngineView, out: &mut Output) {
        let play = self.transport_after_sent(view) == Transport::Playing;
        if self.songs.contains_key(&index) {
            self.switch_to(index, play, view, out);
        } else {
            self.pending_switch = Some((index, play));
            self.request_load(index, out);
            out.reply(format!("loading {}", self.names[index]));
        }
    }

    fn switch_to(&mut self, index: usize, play: bool, view: &EngineView, out: &mut Output) {
        let Some(song) = self.songs.get(&index).cloned() else {
            return;
        };
        if view.song_slots == 0 || view.command_slots == 0 {
            out.reply("error: engine busy, try again");
            return;
        }
        out.engine.push(ToEngine::Switch {
            song: song.clone(),
            play,
        });
        self.current = index;
        self.mix = mix_of(&song);
        self.loop_a = None;
        self.loop_region = None;
        self.master_mode = false;
        self.restore_stem_settings(out);
        self.send_mix(out);
        self.restore_tempo(out);
        self.send_click(out);
        if let Some(saved) = &mut self.saved {
            saved.last_song = Some(song.name.clone());
            out.effects.state_changed = true;
        }
        out.reply(format!("ok song {} {}", index + 1, song.name));
        self.keep_neighbours_loaded(out);
    }

    /// Applies the saved stem settings of the current song (after a song change); a gain
    /// outside the limits (a hand-edited state file) is clamped.
    fn restore_stem_settings(&mut self, out: &mut Output) {
        let (Some(song), Some(saved)) = (self.songs.get(&self.current), &self.saved) else {
            return;
        };
        for (i, m) in self.mix.iter_mut().enumerate() {
            let Some(s) = saved.stem(&song.name, &m.name) else {
                continue;
            };
            if Some(i) == song.master_stem {
                // Only its gain: the master is silent in the stems mix whatever a
                // (hand-edited) state file says.
                m.gain_db = clamp_db(s.gain_db, MIN_GAIN_DB, MAX_GAIN_DB).0;
                out.send(Command::StemGain {
                    stem: i as u8,
                    gain: db_to_gain(m.gain_db),
                });
                continue;
            }
            let gain_db = clamp_db(s.gain_db, MIN_GAIN_DB, MAX_GAIN_DB).0;
            m.mute = s.mute;
            m.solo = s.solo;
            m.gain_db = gain_db;
            let stem = i as u8;
            out.send(Command::StemMute { stem, mute: s.mute });
            out.send(Command::StemSolo { stem, solo: s.solo });
            out.send(Command::StemGain {
                stem,
                gain: db_to_gain(gain_db),
            });
        }
    }

    /// The current song's NI master stem, if it has one.
    fn master_stem(&self) -> Option<usize> {
        self.current_song()
            .and_then(|s| s.master_stem)
            .filter(|&m| m < self.mix.len())
    }

    /// `mix`, `mix stems`, `mix master`: switches between the stems and the song's master.
    /// The engine's mute ramps fade one out and the other in.
    fn set_mix(&mut self, want: Option<MixMode>, out: &mut Output) {
        let Some(song) = self.current_song() else {
            out.reply("error: no song loaded");
            return;
        };
        if self.master_stem().is_none() {
            out.reply(format!(
                "error: song {} has no master track to compare with (only an NI Stems \
                 file, .stem.mp4, carries one); it plays its stems",
                song.name
            ));
            return;
        }
        let master = match want {
            None => !self.master_mode,
            Some(MixMode::Master) => true,
            Some(MixMode::Stems) => false,
        };
        if master != self.master_mode {
            self.master_mode = master;
            self.send_mix(out);
        }
        out.reply(if master {
            "ok mix master"
        } else {
            "ok mix stems"
        });
    }

    /// Sends the mute and solo each stem has in the current mix mode (songs with a master
    /// only): in master mode the master alone, unsoloed; in stems mode the stems as the
    /// musician set them and the master muted.
    fn send_mix(&self, out: &mut Output) {
        let Some(master) = self.master_stem() else {
            return;
        };
        for (i, m) in self.mix.iter().enumerate() {
            let (mute, solo) = match (self.master_mode, i == master) {
                (true, is_master) => (!is_master, false),
                (false, true) => (true, false),
                (false, false) => (m.mute, m.solo),
            };
            let stem = i as u8;
            out.send(Command::StemMute { stem, mute });
            out.send(Command::StemSolo { stem, solo });
        }
    }

    /// The current song's speed and key: as saved (`run`), else as its `song.json` says,
    /// else the original. Sent only when they differ from what the engine has (it keeps
    /// them across song changes), so a plain setlist sends nothing.
    fn restore_tempo(&mut self, out: &mut Output) {
        let Some(song) = self.songs.get(&self.current) else {
            return;
        };
        let (speed, pitch) = match self.saved.as_ref().and_then(|s| s.tempo(&song.name)) {
            Some(t) => (t.speed_pct, t.pitch_st),
            None => (song.speed_pct, song.pitch_st),
        };
        let speed = if speed.is_finite() {
            speed.clamp(MIN_SPEED_PCT, MAX_SPEED_PCT)
        } else {
            100.0
        };
        let pitch = if pitch.is_finite() {
            pitch.clamp(MIN_PITCH_ST, MAX_PITCH_ST)
        } else {
            0.0
        };
        if speed != self.speed_pct {
            self.speed_pct = speed;
            out.send(Command::Speed {
                factor: speed / 100.0,
            });
        }
        if pitch != self.pitch_st {
            self.pitch_st = pitch;
            out.send(Command::Pitch { st: pitch });
        }
    }

    /// Keeps the current song and its neighbours decoded, within the memory budget;
    /// everything else is dropped (here, on the control thread).
    fn keep_neighbours_loaded(&mut self, out: &mut Output) {
        let want: Vec<usize> = [
            Some(self.current),
            self.setlist.next(self.current),
            self.setlist.prev(self.current),
        ]
        .into_iter()
        .flatten()
        .collect();
        let keep_pending = self.pending_switch.map(|(i, _)| i);
        self.songs
            .retain(|i, _| want.contains(i) || Some(*i) == keep_pending);
        for &i in &want {
            let used: usize = self.songs.values().map(|s| s.ram_bytes()).sum();
            if !self.songs.contains_key(&i) && used < self.budget_bytes {
                self.request_load(i, out);
            }
        }
    }

    fn request_load(&mut self, index: usize, out: &mut Output) {
        if !self.loading.contains(&index) {
            self.loading.push(index);
            out.effects.load.push(index);
        }
    }

    fn status_line(&self, view: &EngineView) -> String {
        let song = self.current_song();
        let mut line = format!(
            "status song={} title={} transport={} pos_s={:.1} loop={} volume_db={:.1}",
            song.map_or("-", |s| s.name.as_str()),
            // JSON string quoting, not Rust's debug text.
            serde_json::to_string(song.map_or("", |s| s.title.as_str())).unwrap_or_default(),
            view.transport.name(),
            self.seconds(view.pos_frames),
            match (view.looping, self.loop_region) {
                (true, Some((a, b))) => format!("{:.3}-{:.3}", self.seconds(a), self.seconds(b)),
                _ => "off".into(),
            },
            self.master_db
        );
        line.push_str(&format!(
            " speed_pct={:.1} pitch_st={:+.2}",
            view.speed_pct, view.pitch_st
        ));
        if view.ramp_pass > 0 {
            line.push_str(&format!(" ramp_pass={}", view.ramp_pass));
        }
        if self.engine_click {
            line.push_str(" click=on");
        }
        if self.master_stem().is_some() {
            line.push_str(if self.master_mode {
                " mix=master"
            } else {
                " mix=stems"
            });
        }
        for m in &self.mix {
            line.push_str(&format!(
                " {}=mute:{},solo:{},gain_db:{:.1}",
                m.name, m.mute as u8, m.solo as u8, m.gain_db
            ));
        }
        line
    }
}

/// `80 %`, `97.5 %`.
fn pct_text(pct: f32) -> String {
    format!("{} %", (pct * 100.0).round() / 100.0)
}

/// `+3 st`, `-1.5 st`, `0 st`.
fn st_text(st: f32) -> String {
    let st = (st * 1000.0).round() / 1000.0;
    if st > 0.0 {
        format!("+{st} st")
    } else {
        format!("{} st", if st == 0.0 { 0.0 } else { st })
    }
}

/// What a reply adds when a value was clamped to its range, in words.
fn range_note(clamped: bool, range: &str) -> String {
    if clamped {
        format!(" (limited to {range})")
    } else {
        String::new()
    }
}

/// What a reply adds when a value was clamped to its limit.
fn limit_note(clamped: bool) -> &'static str {
    if clamped {
        " (limit)"
    } else {
        ""
    }
}

fn mix_of(song: &Song) -> Vec<StemMix> {
    song.stems()
        .iter()
        .enumerate()
        .map(|(i, s)| StemMix {
            name: s.name.clone(),
            // The master is silent in the stems mix, whatever song.json says.
            mute: s.muted || song.master_stem == Some(i),
            solo: false,
            gain_db: if s.gain > 0.0 {
                20.0 * s.gain.log10()
            } else {
                MIN_GAIN_DB
            },
        })
        .collect()
}

/// A song's count-in: beat length in frames at 100 % (bpm from `song.json`, 120 when
/// unknown, clamped to 20..=400; not finite = 120), beats (its bar, 1..=16), and the bpm used.
fn count_in_bar(bpm: Option<f32>, beats_per_bar: u32, rate: u32) -> (u32, u8, f32) {
    let bpm = bpm
        .filter(|b| b.is_finite())
        .unwrap_or(120.0)
        .clamp(20.0, 400.0);
    let beat_frames = (60.0 * rate as f32 / bpm) as u32;
    (beat_frames, beats_per_bar.clamp(1, 16) as u8, bpm)
}

/// The count-in before `frame` of `song`: one bar of the tempo map where it starts (a beat
/// is the time signature's lower note, so 6/8 counts six eighths), else [`count_in_bar`].
fn count_in_at(song: &Song, frame: u64, rate: u32) -> (u32, u8, f32) {
    match &song.tempo_map {
        Some(map) if map.rate() == rate => {
            let seg = map.segment_at(frame as f64);
            (
                (seg.beat_frames.round() as u32).max(1),
                seg.time_signature.beats_per_bar.clamp(1, 16) as u8,
                seg.bpm as f32,
            )
        }
        _ => count_in_bar(song.bpm, song.beats_per_bar, rate),
    }
}

#[cfg(test)]
mod tests;
