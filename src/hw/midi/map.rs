//! The MIDI map: decoded MIDI messages in, the same [`Action`]s as keys out. Pure logic,
//! no sequencer and no clock of its own (timestamps come with the events), so tests drive
//! it from decoded events. Built once from `midi.map` on the main thread; the `stembox-midi` thread
//! owns the [`MidiMapper`].
//!
//! Notes and momentary CC pedals are keys: they go through the buttons' own
//! [`GestureDecoder`] (short, long, double exactly as for keys, with no debounce: MIDI
//! messages do not bounce). CC values, CC ranges, latching pedals and program changes are
//! one-shot: they fire a `short` action when the message arrives.

use crate::hw::input::gesture::{ButtonEvent, GestureDecoder, GestureTiming, Timestamp};
use crate::hw::input::keymap::{action_name, gesture_name, parse_action, KeyActions};
use crate::model::action::{Action, SongRef};
use crate::storage::config::{ButtonsConfig, ConfigError, Gesture, MidiBinding, MidiConfig};
use core::fmt;
use std::time::Duration;

/// A MIDI message that can trigger an action, checked: channel 0..=15 (wire numbering),
/// numbers and values 0..=127. Build it with the checked constructors; everything else the
/// sequencer delivers (pitch bend, aftertouch, SysEx, clock) is not an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MidiEvent {
    NoteOn {
        channel: u8,
        note: u8,
        velocity: u8,
    },
    NoteOff {
        channel: u8,
        note: u8,
    },
    Control {
        channel: u8,
        cc: u8,
        value: u8,
    },
    /// Wire program number 0..=127 (shown as 1..=128 on most gear).
    Program {
        channel: u8,
        program: u8,
    },
}

/// A 4-bit channel and 7-bit numbers, from whatever width the source used.
fn seven(v: i64) -> Option<u8> {
    (0..=127).contains(&v).then_some(v as u8)
}

fn channel(v: i64) -> Option<u8> {
    (0..=15).contains(&v).then_some(v as u8)
}

impl MidiEvent {
    /// A note on; velocity 0 is a note off (running-status senders use it so).
    pub fn note_on(ch: i64, note: i64, velocity: i64) -> Option<MidiEvent> {
        let (channel, note, velocity) = (channel(ch)?, seven(note)?, seven(velocity)?);
        Some(if velocity == 0 {
            MidiEvent::NoteOff { channel, note }
        } else {
            MidiEvent::NoteOn {
                channel,
                note,
                velocity,
            }
        })
    }

    pub fn note_off(ch: i64, note: i64) -> Option<MidiEvent> {
        Some(MidiEvent::NoteOff {
            channel: channel(ch)?,
            note: seven(note)?,
        })
    }

    pub fn control(ch: i64, cc: i64, value: i64) -> Option<MidiEvent> {
        Some(MidiEvent::Control {
            channel: channel(ch)?,
            cc: seven(cc)?,
            value: seven(value)?,
        })
    }

    pub fn program(ch: i64, program: i64) -> Option<MidiEvent> {
        Some(MidiEvent::Program {
            channel: channel(ch)?,
            program: seven(program)?,
        })
    }

    /// Decodes one raw channel message (status byte first, no running status: the ALSA
    /// sequencer hands whole messages). For tools and tests that hold bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<MidiEvent> {
        let (&status, data) = bytes.split_first()?;
        let ch = i64::from(status & 0x0f);
        let d = |i: usize| data.get(i).copied().filter(|b| *b < 0x80).map(i64::from);
        match status & 0xf0 {
            0x80 => MidiEvent::note_off(ch, d(0)?).filter(|_| d(1).is_some()),
            0x90 => MidiEvent::note_on(ch, d(0)?, d(1)?),
            0xb0 => MidiEvent::control(ch, d(0)?, d(1)?),
            0xc0 => MidiEvent::program(ch, d(0)?),
            _ => None,
        }
    }
}

/// What a gesture key is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MidiKind {
    Note,
    /// A control change used as a pedal or a value trigger.
    Cc,
    Program,
}

/// A note, pedal or program on one channel (0..=15) or on any (`None`): the "key" of a
/// [`ButtonEvent`] from MIDI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MidiKey {
    pub kind: MidiKind,
    pub channel: Option<u8>,
    /// Note, CC or wire program number.
    pub number: u8,
}

impl fmt::Display for MidiKey {
    /// `note:60`, `cc:64@ch2`, `program:5` (1-based program and channel, as configured).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            MidiKind::Note => write!(f, "note:{}", self.number)?,
            MidiKind::Cc => write!(f, "cc:{}", self.number)?,
            MidiKind::Program => write!(f, "program:{}", u16::from(self.number) + 1)?,
        }
        match self.channel {
            Some(c) => write!(f, "@ch{}", c + 1),
            None => Ok(()),
        }
    }
}

/// A one-shot control-change binding.
#[derive(Clone, Debug, PartialEq)]
enum CcTrigger {
    /// Every message with this value.
    Value(u8),
    /// The value enters `min..=max` (from outside it, or as the first message seen).
    Range(u8, u8),
    /// Every change between the halves (< 64, >= 64): one press of a latching pedal.
    Latching,
}

#[derive(Clone, Debug, PartialEq)]
struct OneShot {
    key: MidiKey,
    trigger: Option<CcTrigger>,
    action: Action,
}

/// The parsed `midi.map`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct MidiMap {
    /// Notes and momentary pedals, for the gesture decoder.
    keys: Vec<(MidiKey, KeyActions)>,
    /// CC value/range/latching bindings and program changes.
    one_shots: Vec<OneShot>,
    program_selects_song: bool,
}

/// Largest number of actions per second taken from MIDI; more is a stuck or looping device
/// (a foot cannot press 50 times a second), and a flood must not bury the control thread.
pub const MAX_ACTIONS_PER_S: u32 = 50;

fn binding_problem(
    i: usize,
    b: &MidiBinding,
) -> Result<(MidiKey, Option<CcTrigger>, Action), (String, String)> {
    let at = |field: &str, why: String| (format!("midi.map[{i}].{field}"), why);
    let action = parse_action(&b.action).map_err(|e| at("action", e))?;
    if b.channel > 16 {
        return Err(at(
            "channel",
            format!("{} is outside 1..=16 (0 or left out: any)", b.channel),
        ));
    }
    let channel = b.channel.checked_sub(1);
    for (field, v) in [
        ("note", b.note),
        ("cc", b.cc),
        ("value", b.value),
        ("min", b.min),
        ("max", b.max),
    ] {
        if let Some(v) = v.filter(|v| *v > 127) {
            return Err(at(field, format!("{v} is outside 0..=127")));
        }
    }
    let given = [b.note.is_some(), b.cc.is_some(), b.program.is_some()];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(at(
            "note",
            "give exactly one of \"note\", \"cc\" and \"program\"".into(),
        ));
    }
    let has_value = b.value.is_some() || b.min.is_some() || b.max.is_some();
    if b.cc.is_none() && (has_value || b.latching) {
        let field = if b.latching { "latching" } else { "value" };
        return Err(at(
            field,
            "only a \"cc\" binding takes value, min, max or latching".into(),
        ));
    }
    let short_only = |field: &str| {
        if b.gesture != Gesture::Short {
            Err(at(
                "gesture",
                format!(
                    "{} fires once per message: only \"short\" (long and double need a note or a momentary cc pedal; {field})",
                    gesture_name(b.gesture)
                ),
            ))
        } else {
            Ok(())
        }
    };
    if let Some(note) = b.note {
        let key = MidiKey {
            kind: MidiKind::Note,
            channel,
            number: note,
        };
        return Ok((key, None, action));
    }
    if let Some(p) = b.program {
        if !(1..=128).contains(&p) {
            return Err(at(
                "program",
                format!("{p} is outside 1..=128 (as shown on the device)"),
            ));
        }
        short_only("program")?;
        let key = MidiKey {
            kind: MidiKind::Program,
            channel,
            number: p - 1,
        };
        return Ok((key, Some(CcTrigger::Value(0)), action));
    }
    let cc = b.cc.unwrap_or_default();
    let key = MidiKey {
        kind: MidiKind::Cc,
        channel,
        number: cc,
    };
    let trigger = match (b.value, b.min, b.max) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(at("value", "give either value or min/max, not both".into()))
        }
        (Some(v), None, None) => Some(CcTrigger::Value(v)),
        (None, None, None) => None,
        (None, min, max) => {
            let (min, max) = (min.unwrap_or(0), max.unwrap_or(127));
            if min > max {
                return Err(at("min", format!("{min} is above max {max}")));
            }
            Some(CcTrigger::Range(min, max))
        }
    };
    if trigger.is_some() && b.latching {
        return Err(at(
            "latching",
            "a latching pedal has no value or range: leave out value, min and max".into(),
        ));
    }
    let trigger = if b.latching {
        Some(CcTrigger::Latching)
    } else {
        trigger
    };
    if trigger.is_some() {
        short_only("cc with value, range or latching")?;
    }
    Ok((key, trigger, action))
}

/// A port name for `midi.inputs` / `midi.clock_out`: `client:port` numbers or a name part.
fn port_problem(field: &str, i: usize, name: &str) -> Option<(String, String)> {
    let at = |why: &str| Some((format!("midi.{field}[{i}]"), why.to_string()));
    if name.trim().is_empty() {
        return at("empty: name a port (\"24:0\" or a part of its name, e.g. \"FCB1010\")");
    }
    if name.chars().any(char::is_control) {
        return at("control characters in a port name");
    }
    if let Some((c, p)) = name.split_once(':') {
        let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if numeric(c) && numeric(p) && (c.parse::<u8>().is_err() || p.parse::<u8>().is_err()) {
            return at("client and port numbers are 0..=255");
        }
    }
    None
}

impl MidiMap {
    /// Parses `midi.map`. Main thread, at start-up (and `check`). Errors name the entry.
    pub fn from_config(cfg: &MidiConfig) -> Result<MidiMap, ConfigError> {
        MidiMap::build(cfg).map_err(|(key, why)| ConfigError {
            message: format!("key \"{key}\": {why}"),
        })
    }

    fn build(cfg: &MidiConfig) -> Result<MidiMap, (String, String)> {
        for (field, list) in [("inputs", &cfg.inputs), ("clock_out", &cfg.clock_out)] {
            for (i, name) in list.iter().enumerate() {
                if let Some(p) = port_problem(field, i, name) {
                    return Err(p);
                }
            }
        }
        let mut map = MidiMap {
            program_selects_song: cfg.program_change_selects_song,
            ..MidiMap::default()
        };
        let mut origin: Vec<(MidiKey, Option<CcTrigger>, Gesture, usize)> = Vec::new();
        for (i, b) in cfg.map.iter().enumerate() {
            let (key, trigger, action) = binding_problem(i, b)?;
            if let Some((.., first)) = origin
                .iter()
                .find(|(k, t, g, _)| *k == key && *t == trigger && *g == b.gesture)
            {
                return Err((
                    format!("midi.map[{i}]"),
                    format!(
                        "{key} {} is already bound by midi.map[{first}]; remove one of them",
                        gesture_name(b.gesture)
                    ),
                ));
            }
            origin.push((key, trigger.clone(), b.gesture, i));
            match trigger {
                None => {
                    let idx = match map.keys.iter().position(|(k, _)| *k == key) {
                        Some(idx) => idx,
                        None => {
                            map.keys.push((key, KeyActions::default()));
                            map.keys.len() - 1
                        }
                    };
                    *map.keys[idx].1.slot(b.gesture) = Some(action);
                }
                Some(trigger) => map.one_shots.push(OneShot {
                    key,
                    trigger: (key.kind == MidiKind::Cc).then_some(trigger),
                    action,
                }),
            }
        }
        Ok(map)
    }

    /// One line per binding for `stembox check`, e.g. `note:60@ch10 short play_pause`,
    /// `cc:64 >=64 long stop`, `cc:80 latching short loop_toggle`.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for (key, actions) in &self.keys {
            let how = if key.kind == MidiKind::Cc {
                " momentary(>=64 down)"
            } else {
                ""
            };
            for g in [Gesture::Short, Gesture::Long, Gesture::Double] {
                if let Some(a) = actions.get(g) {
                    out.push_str(&format!(
                        "{key}{how} {} {}\n",
                        gesture_name(g),
                        action_name(a)
                    ));
                }
            }
        }
        for o in &self.one_shots {
            let how = match o.trigger {
                Some(CcTrigger::Value(v)) => format!(" value={v}"),
                Some(CcTrigger::Range(a, b)) => format!(" entering {a}..={b}"),
                Some(CcTrigger::Latching) => " latching".into(),
                None => String::new(),
            };
            out.push_str(&format!(
                "{}{how} short {}\n",
                o.key,
                action_name(&o.action)
            ));
        }
        if self.program_selects_song {
            out.push_str("program:N (any other) short song:N\n");
        }
        out
    }
}

/// [`GestureTiming`] for MIDI: the buttons' long and double times, no debounce.
pub fn midi_timing(buttons: &ButtonsConfig) -> GestureTiming {
    GestureTiming {
        debounce: Duration::ZERO,
        long_press: Duration::from_millis(buttons.long_press_ms.into()),
        double_press: Duration::from_millis(buttons.double_press_ms.into()),
    }
}

/// `midi` config problems for [`crate::storage::config::Config::validate`]: the key and why.
pub fn config_problem(cfg: &crate::storage::config::Config) -> Option<(String, String)> {
    MidiMap::build(&cfg.midi).err()
}

/// Turns decoded MIDI messages into actions. Owned by the midi thread.
pub struct MidiMapper {
    one_shots: Vec<OneShot>,
    program_selects_song: bool,
    gestures: GestureDecoder<MidiKey>,
    /// Last value of every control change on every channel (range entry, latching).
    last_cc: [[Option<u8>; 128]; 16],
    /// Flood limit: actions taken in the current one-second window, and its start.
    window: (Timestamp, u32),
    /// Actions dropped by the flood limit since last asked ([`MidiMapper::take_dropped`]).
    dropped: u64,
}

impl MidiMapper {
    pub fn new(map: MidiMap, timing: GestureTiming) -> MidiMapper {
        MidiMapper {
            gestures: GestureDecoder::with_keys(map.keys, timing),
            one_shots: map.one_shots,
            program_selects_song: map.program_selects_song,
            last_cc: [[None; 128]; 16],
            window: (Duration::ZERO, 0),
            dropped: 0,
        }
    }

    /// One message at time `t` (monotonic, the sequencer's arrival time). Actions are
    /// appended to `out`.
    pub fn on_event(&mut self, ev: MidiEvent, t: Timestamp, out: &mut Vec<ButtonEvent<MidiKey>>) {
        let start = out.len();
        self.gestures.poll(t, out);
        match ev {
            MidiEvent::NoteOn { channel, note, .. } => {
                self.key_edge(MidiKind::Note, channel, note, true, t, out)
            }
            MidiEvent::NoteOff { channel, note } => {
                self.key_edge(MidiKind::Note, channel, note, false, t, out)
            }
            MidiEvent::Control { channel, cc, value } => {
                let before = self.last_cc[channel as usize][cc as usize];
                self.last_cc[channel as usize][cc as usize] = Some(value);
                self.key_edge(MidiKind::Cc, channel, cc, value >= 64, t, out);
                for o in &self.one_shots {
                    let fires = o.key.kind == MidiKind::Cc
                        && o.key.number == cc
                        && o.key.channel.is_none_or(|c| c == channel)
                        && match o.trigger {
                            Some(CcTrigger::Value(v)) => v == value,
                            Some(CcTrigger::Range(a, b)) => {
                                let inside = |v: u8| (a..=b).contains(&v);
                                inside(value) && !before.is_some_and(inside)
                            }
                            Some(CcTrigger::Latching) => {
                                before.is_none_or(|b| (b >= 64) != (value >= 64))
                            }
                            None => false,
                        };
                    if fires {
                        out.push(one_shot(o.key, o.action.clone(), t));
                    }
                }
            }
            MidiEvent::Program { channel, program } => {
                let key = |channel| MidiKey {
                    kind: MidiKind::Program,
                    channel,
                    number: program,
                };
                let bound = self
                    .one_shots
                    .iter()
                    .find(|o| o.key == key(Some(channel)))
                    .or_else(|| self.one_shots.iter().find(|o| o.key == key(None)));
                if let Some(o) = bound {
                    out.push(one_shot(o.key, o.action.clone(), t));
                } else if self.program_selects_song {
                    let song = Action::Song(SongRef::Number(usize::from(program) + 1));
                    out.push(one_shot(key(Some(channel)), song, t));
                }
            }
        }
        self.limit(start, t, out);
    }

    /// A press or release of a note or momentary pedal: the binding for this channel if
    /// there is one, else the any-channel one.
    fn key_edge(
        &mut self,
        kind: MidiKind,
        channel: u8,
        number: u8,
        down: bool,
        t: Timestamp,
        out: &mut Vec<ButtonEvent<MidiKey>>,
    ) {
        let exact = MidiKey {
            kind,
            channel: Some(channel),
            number,
        };
        let any = MidiKey {
            channel: None,
            ..exact
        };
        if self.gestures.has_key(exact) {
            self.gestures.on_key(exact, down, t, out);
        } else if self.gestures.has_key(any) {
            self.gestures.on_key(any, down, t, out);
        }
    }

    /// Timeouts up to `now` (long presses of held notes and pedals, double windows).
    pub fn poll(&mut self, now: Timestamp, out: &mut Vec<ButtonEvent<MidiKey>>) {
        let start = out.len();
        self.gestures.poll(now, out);
        self.limit(start, now, out);
    }

    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.gestures.next_deadline()
    }

    /// Forgets held notes and pedal states (a device went away).
    pub fn reset(&mut self) {
        self.gestures.reset();
        self.last_cc = [[None; 128]; 16];
    }

    /// Actions dropped by the flood limit since the last call.
    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }

    /// Keeps at most [`MAX_ACTIONS_PER_S`] actions per second of what was appended
    /// after `start`.
    fn limit(&mut self, start: usize, t: Timestamp, out: &mut Vec<ButtonEvent<MidiKey>>) {
        if t.saturating_sub(self.window.0) >= Duration::from_secs(1) || t < self.window.0 {
            self.window = (t, 0);
        }
        let room = MAX_ACTIONS_PER_S.saturating_sub(self.window.1) as usize;
        let new = out.len() - start;
        if new > room {
            self.dropped += (new - room) as u64;
            out.truncate(start + room);
        }
        self.window.1 += new.min(room) as u32;
    }
}

fn one_shot(key: MidiKey, action: Action, t: Timestamp) -> ButtonEvent<MidiKey> {
    ButtonEvent {
        action,
        key,
        gesture: Gesture::Short,
        pressed_at: t,
        decided_at: t,
    }
}

#[cfg(test)]
mod tests;
