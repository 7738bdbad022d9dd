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
    /// The setlist in a new order (folder names): the runtime reorders its songs to match
    /// and restarts the loader over them.
    pub setlist: Option<Vec<String>>,
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
    /// -1 (left) ..= 1 (right).
    pan: f32,
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

    /// Carries out one action.
    pub fn act(&mut self, action: Action, view: &EngineView) -> Output {
        let mut out = Output::default();
        self.act_into(action, view, &mut out);
        self.note_sent_transport(&out, view);
        out
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
            Action::Pan(stem, pan) => {
                if !(-1.0..=1.0).contains(&pan) {
                    out.reply("error: pan must be -1 (left) ..= 1 (right)");
                    return;
                }
                self.with_stem(&stem, out, |m| {
                    m.pan = pan;
                    false
                })
            }
            Action::Unsolo(None) => self.unsolo(out),
            Action::Unsolo(Some(stem)) => self.with_stem(&stem, out, |m| {
                m.solo = false;
                false
            }),
            Action::Volume(db) => {
                if db.is_nan() {
                    out.reply("error: volume must be a number of dB");
                    return;
                }
                let (db, clamped) = clamp_db(db, MIN_VOLUME_DB, MAX_VOLUME_DB);
                self.master_db = db;
                out.send(Command::MasterGain {
                    gain: db_to_gain(db),
                });
                out.reply(format!("ok volume {db:+.1} dB{}", limit_note(clamped)));
            }
            Action::Seek(to) => self.seek(to, out),
            Action::SetlistMove(from, to) => self.move_in_setlist(from, to, out),
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
}

mod mixer;
mod reply;
mod songs;
mod tempo;
mod transport;
mod view;

use mixer::*;
use reply::*;
use transport::*;

#[cfg(test)]
mod tests;
