//! The key map: which key and gesture triggers which [`Action`], parsed once from
//! `buttons.map` (or the built-in default map) on the main thread at start-up, then read by
//! the input thread's gesture decoder.

use crate::model::action::{Action, SectionRef, SongRef};
use crate::storage::config::{ConfigError, Gesture, KeyBinding};
use evdev::KeyCode;
use std::str::FromStr;

/// The built-in map for a 4-button box or footswitch sending `KEY_1`..`KEY_4`; used when
/// `buttons.map` is empty. The module doc of [`crate::hw::input`] explains the choices.
pub const DEFAULT_MAP: &[(&str, Gesture, &str)] = &[
    ("KEY_1", Gesture::Short, "play_pause"),
    ("KEY_1", Gesture::Long, "stop"),
    ("KEY_2", Gesture::Short, "next_song"),
    ("KEY_2", Gesture::Long, "prev_song"),
    ("KEY_3", Gesture::Short, "loop_a"),
    ("KEY_3", Gesture::Long, "loop_b"),
    ("KEY_3", Gesture::Double, "loop_toggle"),
    ("KEY_4", Gesture::Short, "prev_section"),
    ("KEY_4", Gesture::Long, "next_section"),
];

/// Action names without an argument, as written in `buttons.map[].action`.
const PLAIN_ACTIONS: &[(&str, Action)] = &[
    ("play_pause", Action::PlayPause),
    ("play", Action::Play),
    ("pause", Action::Pause),
    ("stop", Action::Stop),
    ("next_song", Action::NextSong),
    ("prev_song", Action::PrevSong),
    ("next_section", Action::NextSection),
    ("prev_section", Action::PrevSection),
    ("loop_a", Action::LoopA),
    ("loop_b", Action::LoopB),
    ("loop_toggle", Action::LoopToggle),
    ("loop_off", Action::LoopOff),
    ("volume_up", Action::VolumeUp),
    ("volume_down", Action::VolumeDown),
    ("count_in", Action::CountInToggle),
    ("click", Action::Click(None)),
    ("click_on", Action::Click(Some(true))),
    ("click_off", Action::Click(Some(false))),
    ("speed_up", Action::SpeedUp),
    ("speed_down", Action::SpeedDown),
    ("pitch_up", Action::PitchUp),
    ("pitch_down", Action::PitchDown),
    (
        "loop_ramp",
        Action::LoopRamp(DEFAULT_RAMP.0, DEFAULT_RAMP.1, DEFAULT_RAMP.2, false),
    ),
    ("mix", Action::Mix(None)),
    ("mix_stems", Action::Mix(Some(MixMode::Stems))),
    ("mix_master", Action::Mix(Some(MixMode::Master))),
    ("status", Action::Status),
    ("stats", Action::Stats),
    ("stats_reset", Action::StatsReset),
    ("quit", Action::Quit),
];

/// Action names that take arguments after a `:`.
const ARG_ACTIONS: &str = "song:<n|name>, section:<n|name>, toggle_mute:<stem>, mute:<stem>, \
                           unmute:<stem>, solo:<stem>, gain:<stem>:<dB>, bus:<bus>:<dB>, loop:<a_s>:<b_s>, speed:<pct>, \
                           pitch:<st>, loop_ramp:<start_pct>:<step_pct>[:<end_pct>][:countin]";

use crate::model::action::{
    MixMode, DEFAULT_RAMP, MAX_PITCH_ST, MAX_SPEED_PCT, MIN_PITCH_ST, MIN_SPEED_PCT,
};
pub use crate::model::action::{MAX_GAIN_DB, MIN_GAIN_DB};

/// One list of every action name, for error messages and `check`.
pub fn action_names() -> String {
    let mut s: String = PLAIN_ACTIONS
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ");
    s.push_str(", ");
    s.push_str(ARG_ACTIONS);
    s
}

/// Parses an action string such as `play_pause`, `toggle_mute:drums` or `gain:bass:-3.5`.
/// The error says what is wrong without naming where it came from; callers add that.
pub fn parse_action(text: &str) -> Result<Action, String> {
    let text = text.trim();
    if let Some((_, a)) = PLAIN_ACTIONS.iter().find(|(n, _)| *n == text) {
        return Ok(a.clone());
    }
    let Some((name, arg)) = text.split_once(':') else {
        return Err(format!(
            "unknown action \"{text}\" (known: {})",
            action_names()
        ));
    };
    let stem = |arg: &str| -> Result<String, String> {
        if arg.trim().is_empty() {
            Err(format!(
                "\"{name}:\" needs a stem name, e.g. \"{name}:drums\""
            ))
        } else {
            Ok(arg.to_string())
        }
    };
    match name {
        "song" => parse_song_ref(arg).map(Action::Song),
        "section" => parse_section_ref(arg).map(Action::Section),
        "toggle_mute" => stem(arg).map(Action::ToggleMute),
        "mute" => stem(arg).map(Action::Mute),
        "unmute" => stem(arg).map(Action::Unmute),
        "solo" => stem(arg).map(Action::Solo),
        "gain" => {
            // The dB value is after the last ':' so stem names may contain ':'.
            let Some((stem_name, db)) = arg.rsplit_once(':') else {
                return Err(format!(
                    "\"gain:{arg}\" needs a stem and a dB value, e.g. \"gain:drums:-3\""
                ));
            };
            Ok(Action::Gain(stem(stem_name)?, parse_gain_db(db)?))
        }
        "bus" => {
            let Some((bus, db)) = arg.rsplit_once(':') else {
                return Err(format!(
                    "\"bus:{arg}\" needs a bus and a dB value, e.g. \"bus:cue:-6\""
                ));
            };
            if bus.trim().is_empty() {
                return Err("\"bus:\" needs a bus name, e.g. \"bus:cue:-6\"".into());
            }
            Ok(Action::BusGain(bus.trim().to_string(), parse_gain_db(db)?))
        }
        "loop" => {
            let Some((a, b)) = arg.split_once(':') else {
                return Err(format!(
                    "\"loop:{arg}\" needs start and end in seconds, e.g. \"loop:12.5:20\""
                ));
            };
            let (a_s, b_s) = parse_loop_points(a, b)?;
            Ok(Action::Loop(a_s, b_s))
        }
        "speed" => parse_speed_pct(arg).map(|p| Action::Speed(Some(p))),
        "pitch" => parse_pitch_st(arg).map(|st| Action::Pitch(Some(st))),
        "loop_ramp" => {
            let parts: Vec<&str> = arg.split(':').collect();
            let count_in = parts
                .last()
                .is_some_and(|w| w.trim().eq_ignore_ascii_case("countin"));
            let parts = if count_in {
                &parts[..parts.len() - 1]
            } else {
                &parts[..]
            };
            let (start, step, end) = parse_ramp(parts)?;
            Ok(Action::LoopRamp(start, step, end, count_in))
        }
        _ => Err(format!(
            "unknown action \"{text}\" (known: {})",
            action_names()
        )),
    }
}

/// The action string that [`parse_action`] reads back to `action` (for `check`, logs and
/// acknowledgements), e.g. `toggle_mute:drums`, `gain:bass:-3.5`. `help` has no key-map
/// name and is written `help`.
pub fn action_name(action: &Action) -> String {
    if let Some((name, _)) = PLAIN_ACTIONS.iter().find(|(_, a)| a == action) {
        return name.to_string();
    }
    match action {
        Action::Song(SongRef::Number(n)) => format!("song:{n}"),
        Action::Song(SongRef::Name(s)) => format!("song:{s}"),
        Action::Section(SectionRef::Number(n)) => format!("section:{n}"),
        Action::Section(SectionRef::Name(s)) => format!("section:{s}"),
        Action::ToggleMute(s) => format!("toggle_mute:{s}"),
        Action::Mute(s) => format!("mute:{s}"),
        Action::Unmute(s) => format!("unmute:{s}"),
        Action::Solo(s) => format!("solo:{s}"),
        Action::Gain(s, db) => format!("gain:{s}:{db}"),
        Action::BusGain(b, db) => format!("bus:{b}:{db}"),
        Action::Loop(a, b) => format!("loop:{a}:{b}"),
        Action::Speed(Some(p)) => format!("speed:{p}"),
        Action::Pitch(Some(st)) => format!("pitch:{st}"),
        Action::LoopRamp(a, s, e, false) => format!("loop_ramp:{a}:{s}:{e}"),
        Action::LoopRamp(a, s, e, true) => format!("loop_ramp:{a}:{s}:{e}:countin"),
        _ => "help".to_string(),
    }
}

/// `3` is the third song of the setlist, anything else a folder name.
pub fn parse_song_ref(arg: &str) -> Result<SongRef, String> {
    let arg = arg.trim();
    if arg.is_empty() {
        return Err("a song needs a number (1 = first in the setlist) or a folder name".into());
    }
    match number_ref(arg)? {
        Some(n) => Ok(SongRef::Number(n)),
        None => Ok(SongRef::Name(arg.to_string())),
    }
}

/// `2` is the second section of the song, anything else a section name from `song.json`.
pub fn parse_section_ref(arg: &str) -> Result<SectionRef, String> {
    let arg = arg.trim();
    if arg.is_empty() {
        return Err("a section needs a number (1 = first) or a name from song.json".into());
    }
    match number_ref(arg)? {
        Some(n) => Ok(SectionRef::Number(n)),
        None => Ok(SectionRef::Name(arg.to_string())),
    }
}

/// All digits: a 1-based number; otherwise not a number (`None`).
fn number_ref(arg: &str) -> Result<Option<usize>, String> {
    if !arg.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    match arg.parse::<usize>() {
        Ok(0) => Err("numbers start at 1".into()),
        Ok(n) => Ok(Some(n)),
        Err(_) => Err(format!("{arg} is too large")),
    }
}

/// A stem gain in dB within [`MIN_GAIN_DB`]..=[`MAX_GAIN_DB`].
pub fn parse_gain_db(text: &str) -> Result<f32, String> {
    let t = text.trim();
    let t = t
        .strip_suffix("dB")
        .or_else(|| t.strip_suffix("db"))
        .unwrap_or(t);
    let db: f32 = t
        .trim()
        .parse()
        .map_err(|_| format!("\"{text}\" is not a number of dB (e.g. -3.5)"))?;
    if !db.is_finite() || !(MIN_GAIN_DB..=MAX_GAIN_DB).contains(&db) {
        return Err(format!(
            "{text} dB is outside {MIN_GAIN_DB}..={MAX_GAIN_DB} dB"
        ));
    }
    Ok(db)
}

/// A speed in percent within [`MIN_SPEED_PCT`]..=[`MAX_SPEED_PCT`] (`80`, `80%`, `97.5`).
pub fn parse_speed_pct(text: &str) -> Result<f32, String> {
    let t = text.trim();
    let t = t.strip_suffix('%').unwrap_or(t).trim();
    let pct: f32 = t
        .parse()
        .map_err(|_| format!("\"{text}\" is not a speed in percent (e.g. 80)"))?;
    if !pct.is_finite() || !(MIN_SPEED_PCT..=MAX_SPEED_PCT).contains(&pct) {
        return Err(format!(
            "speed {text} % is outside {MIN_SPEED_PCT}..={MAX_SPEED_PCT} %"
        ));
    }
    Ok(pct)
}

/// A key change in semitones within [`MIN_PITCH_ST`]..=[`MAX_PITCH_ST`] (`-2`, `+1.5`,
/// `3st`).
pub fn parse_pitch_st(text: &str) -> Result<f32, String> {
    let t = text.trim();
    let t = t.strip_suffix("st").unwrap_or(t).trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    let st: f32 = t
        .parse()
        .map_err(|_| format!("\"{text}\" is not a number of semitones (e.g. -2 or 1.5)"))?;
    if !st.is_finite() || !(MIN_PITCH_ST..=MAX_PITCH_ST).contains(&st) {
        return Err(format!(
            "pitch {text} st is outside {MIN_PITCH_ST}..={MAX_PITCH_ST} semitones"
        ));
    }
    Ok(st)
}

/// A tempo ramp: start %, step % (more than 0, at most 100), optional end % (default 100,
/// not below the start).
pub fn parse_ramp(parts: &[&str]) -> Result<(f32, f32, f32), String> {
    let usage = "a tempo ramp needs <start_pct> <step_pct> [<end_pct>], e.g. 70 5 100";
    let (start, step, end) = match parts {
        [a, s] => (*a, *s, None),
        [a, s, e] => (*a, *s, Some(*e)),
        _ => return Err(usage.into()),
    };
    let start = parse_speed_pct(start)?;
    let step_pct: f32 = step
        .trim()
        .strip_suffix('%')
        .unwrap_or(step.trim())
        .parse()
        .map_err(|_| format!("ramp step \"{step}\" is not a percentage ({usage})"))?;
    if !(step_pct > 0.0 && step_pct <= 100.0) {
        return Err(format!(
            "ramp step {step} % must be more than 0 and at most 100"
        ));
    }
    let end = match end {
        Some(e) => parse_speed_pct(e)?,
        None => DEFAULT_RAMP.2.max(start),
    };
    if end < start {
        return Err(format!("ramp end {end} % is below its start {start} %"));
    }
    Ok((start, step_pct, end))
}

/// Loop start and end in seconds: both finite, start >= 0, end after start.
pub fn parse_loop_points(a: &str, b: &str) -> Result<(f64, f64), String> {
    let secs = |t: &str| -> Result<f64, String> {
        let t = t.trim();
        let t = t.strip_suffix('s').unwrap_or(t);
        match t.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
            _ => Err(format!(
                "\"{t}\" is not a time in seconds (a number >= 0, e.g. 12.5)"
            )),
        }
    };
    let (a_s, b_s) = (secs(a)?, secs(b)?);
    if b_s <= a_s {
        return Err(format!("loop end {b_s} s must be after loop start {a_s} s"));
    }
    Ok((a_s, b_s))
}

/// Parses a key name as the evdev crate (and `evtest`) names it: `KEY_1`, `BTN_0`,
/// `KEY_SPACE`. Case does not matter.
pub fn parse_key(name: &str) -> Result<KeyCode, String> {
    let upper = name.trim().to_ascii_uppercase();
    KeyCode::from_str(&upper).map_err(|_| {
        format!(
            "unknown key \"{name}\" (use evdev names such as KEY_1, BTN_0, KEY_SPACE; \
             `evtest` shows what a device sends)"
        )
    })
}

/// The actions bound to one key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyActions {
    pub short: Option<Action>,
    pub long: Option<Action>,
    pub double: Option<Action>,
}

impl KeyActions {
    pub fn get(&self, gesture: Gesture) -> Option<&Action> {
        match gesture {
            Gesture::Short => self.short.as_ref(),
            Gesture::Long => self.long.as_ref(),
            Gesture::Double => self.double.as_ref(),
        }
    }

    /// The action of one gesture, to set it (a map builder's job).
    pub fn slot(&mut self, gesture: Gesture) -> &mut Option<Action> {
        match gesture {
            Gesture::Short => &mut self.short,
            Gesture::Long => &mut self.long,
            Gesture::Double => &mut self.double,
        }
    }
}

/// Keys and their actions. Small (a few keys), so a linear search is the fastest lookup.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyMap {
    keys: Vec<(KeyCode, KeyActions)>,
}

impl KeyMap {
    /// Builds the map from `buttons.map`; an empty list gives [`KeyMap::default_map`].
    /// Main thread, at start-up. Errors name the entry: `buttons.map[2].action: ...`.
    pub fn from_config(map: &[KeyBinding]) -> Result<KeyMap, ConfigError> {
        if map.is_empty() {
            return Ok(KeyMap::default_map());
        }
        let mut out = KeyMap { keys: Vec::new() };
        let mut origin: Vec<(KeyCode, Gesture, usize)> = Vec::new();
        for (i, b) in map.iter().enumerate() {
            let err = |field: &str, why: String| ConfigError {
                message: format!("buttons.map[{i}].{field}: {why}"),
            };
            let key = parse_key(&b.key).map_err(|e| err("key", e))?;
            let action = parse_action(&b.action).map_err(|e| err("action", e))?;
            if let Some((_, _, first)) =
                origin.iter().find(|(k, g, _)| *k == key && *g == b.gesture)
            {
                return Err(err(
                    "key",
                    format!(
                        "{key:?} {} is already bound by buttons.map[{first}]; remove one of them",
                        gesture_name(b.gesture)
                    ),
                ));
            }
            origin.push((key, b.gesture, i));
            out.bind(key, b.gesture, action);
        }
        Ok(out)
    }

    /// The built-in map ([`DEFAULT_MAP`]).
    pub fn default_map() -> KeyMap {
        let mut out = KeyMap { keys: Vec::new() };
        for (key, gesture, action) in DEFAULT_MAP {
            // The table is checked by a unit test, so these never fail.
            if let (Ok(k), Ok(a)) = (parse_key(key), parse_action(action)) {
                out.bind(k, *gesture, a);
            }
        }
        out
    }

    fn bind(&mut self, key: KeyCode, gesture: Gesture, action: Action) {
        let idx = match self.keys.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                self.keys.push((key, KeyActions::default()));
                self.keys.len() - 1
            }
        };
        *self.keys[idx].1.slot(gesture) = Some(action);
    }

    /// What a key does, or `None` for a key that is not in the map.
    pub fn key(&self, key: KeyCode) -> Option<&KeyActions> {
        self.keys.iter().find(|(k, _)| *k == key).map(|(_, a)| a)
    }

    pub fn get(&self, key: KeyCode, gesture: Gesture) -> Option<&Action> {
        self.key(key).and_then(|a| a.get(gesture))
    }

    /// Every bound key, in the order first bound.
    pub fn keys(&self) -> impl Iterator<Item = (KeyCode, &KeyActions)> {
        self.keys.iter().map(|(k, a)| (*k, a))
    }

    /// One line per binding, e.g. `KEY_1 short play_pause`, for `stembox check`.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for (key, actions) in &self.keys {
            for g in [Gesture::Short, Gesture::Long, Gesture::Double] {
                if let Some(a) = actions.get(g) {
                    out.push_str(&format!("{key:?} {} {}\n", gesture_name(g), action_name(a)));
                }
            }
        }
        out
    }
}

pub fn gesture_name(g: Gesture) -> &'static str {
    match g {
        Gesture::Short => "short",
        Gesture::Long => "long",
        Gesture::Double => "double",
    }
}

/// The first `buttons.map` entry whose key or action the input thread could not use, or
/// that binds a key and gesture already bound: the checks [`KeyMap::from_config`] makes at
/// start-up, made on the config too (a [`crate::storage::config::ThreadCheck`]) so `stembox
/// check` finds them, with their position.
pub fn config_problem(cfg: &crate::storage::config::Config) -> Option<(String, String)> {
    let mut bound = std::vec::Vec::new();
    for (i, b) in cfg.buttons.map.iter().enumerate() {
        let key = match parse_key(&b.key) {
            Ok(key) => key,
            Err(why) => return Some((format!("buttons.map[{i}].key"), why)),
        };
        if let Err(why) = parse_action(&b.action) {
            return Some((format!("buttons.map[{i}].action"), why));
        }
        if let Some((_, _, first)) = bound.iter().find(|&&(k, g, _)| k == key && g == b.gesture)
        {
            let gesture = b.gesture.name();
            return Some((
                format!("buttons.map[{i}].key"),
                format!(
                    "{} {gesture} is already bound by buttons.map[{first}]; remove one of them",
                    b.key
                ),
            ));
        }
        bound.push((key, b.gesture, i));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(key: &str, gesture: Gesture, action: &str) -> KeyBinding {
        let mut k = heapless::String::new();
        k.push_str(key).unwrap();
        let mut a = heapless::String::new();
        a.push_str(action).unwrap();
        KeyBinding {
            key: k,
            gesture,
            action: a,
        }
    }

    #[test]
    fn plain_actions_parse() {
        for (name, action) in PLAIN_ACTIONS {
            assert_eq!(parse_action(name).as_ref(), Ok(action), "{name}");
        }
        assert_eq!(parse_action("  stop "), Ok(Action::Stop));
    }

    #[test]
    fn mix_actions_parse_and_garbage_after_them_is_refused() {
        assert_eq!(parse_action("mix"), Ok(Action::Mix(None)));
        assert_eq!(
            parse_action("mix_stems"),
            Ok(Action::Mix(Some(MixMode::Stems)))
        );
        assert_eq!(
            parse_action(" mix_master"),
            Ok(Action::Mix(Some(MixMode::Master)))
        );
        for bad in [
            "mix:",
            "mix:master",
            "mix_Master",
            "mix_",
            "mix:nan",
            "mix_master:1e999",
        ] {
            assert!(parse_action(bad).is_err(), "{bad}");
        }
        for a in [MixMode::Stems, MixMode::Master].map(|m| Action::Mix(Some(m))) {
            assert_eq!(parse_action(&action_name(&a)), Ok(a));
        }
    }

    #[test]
    fn actions_with_arguments_parse() {
        assert_eq!(
            parse_action("toggle_mute:drums"),
            Ok(Action::ToggleMute("drums".into()))
        );
        assert_eq!(
            parse_action("mute:lead vox"),
            Ok(Action::Mute("lead vox".into()))
        );
        assert_eq!(
            parse_action("unmute:bass"),
            Ok(Action::Unmute("bass".into()))
        );
        assert_eq!(parse_action("solo:keys"), Ok(Action::Solo("keys".into())));
        assert_eq!(
            parse_action("gain:bass:-3.5"),
            Ok(Action::Gain("bass".into(), -3.5))
        );
        assert_eq!(
            parse_action("gain:a:b:6dB"),
            Ok(Action::Gain("a:b".into(), 6.0))
        );
        assert_eq!(parse_action("song:3"), Ok(Action::Song(SongRef::Number(3))));
        assert_eq!(
            parse_action("song:03-intro"),
            Ok(Action::Song(SongRef::Name("03-intro".into())))
        );
        assert_eq!(
            parse_action("section:2"),
            Ok(Action::Section(SectionRef::Number(2)))
        );
        assert_eq!(
            parse_action("section:chorus"),
            Ok(Action::Section(SectionRef::Name("chorus".into())))
        );
        assert_eq!(parse_action("loop:1.5:4"), Ok(Action::Loop(1.5, 4.0)));
    }

    #[test]
    fn speed_pitch_and_ramp_actions_parse_and_refuse_hostile_values() {
        assert_eq!(parse_action("speed:80"), Ok(Action::Speed(Some(80.0))));
        assert_eq!(parse_action("speed:97.5%"), Ok(Action::Speed(Some(97.5))));
        assert_eq!(parse_action("pitch:-2"), Ok(Action::Pitch(Some(-2.0))));
        assert_eq!(parse_action("pitch:+1.5st"), Ok(Action::Pitch(Some(1.5))));
        assert_eq!(
            parse_action("loop_ramp:60:10"),
            Ok(Action::LoopRamp(60.0, 10.0, 100.0, false))
        );
        assert_eq!(
            parse_action("loop_ramp:60:10:120"),
            Ok(Action::LoopRamp(60.0, 10.0, 120.0, false))
        );
        assert_eq!(
            parse_action("loop_ramp"),
            Ok(Action::LoopRamp(70.0, 5.0, 100.0, false))
        );
        assert_eq!(
            parse_action("loop_ramp:60:10:countin"),
            Ok(Action::LoopRamp(60.0, 10.0, 100.0, true))
        );
        assert_eq!(
            parse_action("loop_ramp:60:10:90:CountIn"),
            Ok(Action::LoopRamp(60.0, 10.0, 90.0, true))
        );
        for bad in [
            "speed:",
            "speed:49",
            "speed:151",
            "speed:NaN",
            "speed:inf",
            "speed:-80",
            "speed:fast",
            "pitch:",
            "pitch:13",
            "pitch:-12.01",
            "pitch:nan",
            "pitch:C#",
            "loop_ramp:",
            "loop_ramp:60",
            "loop_ramp:60:0",
            "loop_ramp:60:-5",
            "loop_ramp:60:nan",
            "loop_ramp:60:500",
            "loop_ramp:90:5:80",
            "loop_ramp:40:5",
            "loop_ramp:60:5:100:3",
            "loop_ramp:countin",
            "loop_ramp:60:countin",
            "loop_ramp:60:5:countin:100",
            "loop_ramp:60:5:100:countin:countin",
            "loop_ramp:nan:5:countin",
            "loop_ramp:60:0:countin",
            "loop_ramp:60:5:100:count",
        ] {
            assert!(parse_action(bad).is_err(), "{bad}");
        }
        // The names read back.
        for a in [
            Action::Speed(Some(85.0)),
            Action::Pitch(Some(-3.5)),
            Action::LoopRamp(60.0, 10.0, 110.0, false),
            Action::LoopRamp(60.0, 10.0, 110.0, true),
            Action::SpeedUp,
            Action::PitchDown,
        ] {
            assert_eq!(parse_action(&action_name(&a)), Ok(a.clone()), "{a:?}");
        }
    }

    #[test]
    fn bad_actions_are_refused_with_a_reason() {
        let e = parse_action("foo").unwrap_err();
        assert!(e.starts_with("unknown action \"foo\""), "{e}");
        assert!(e.contains("play_pause"), "{e}");
        assert!(parse_action("").is_err());
        assert!(parse_action("foo:bar")
            .unwrap_err()
            .contains("unknown action"));
        assert!(parse_action("mute:").unwrap_err().contains("needs a stem"));
        assert!(parse_action("mute: ").unwrap_err().contains("needs a stem"));
        assert!(parse_action("gain:drums").unwrap_err().contains("dB"));
        assert_eq!(
            parse_action("bus:cue:-6dB"),
            Ok(Action::BusGain("cue".into(), -6.0))
        );
        for bad in [
            "bus:cue",
            "bus::-6",
            "bus:cue:NaN",
            "bus:cue:inf",
            "bus:cue:25",
            "bus:cue:-121",
            "bus:cue:loud",
        ] {
            assert!(parse_action(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_action(&action_name(&Action::BusGain("cue".into(), -6.5))),
            Ok(Action::BusGain("cue".into(), -6.5))
        );
        assert!(parse_action("gain::3")
            .unwrap_err()
            .contains("needs a stem"));
        assert!(parse_action("gain:drums:loud")
            .unwrap_err()
            .contains("not a number"));
        assert!(parse_action("gain:drums:30")
            .unwrap_err()
            .contains("outside"));
        assert!(parse_action("gain:drums:-200")
            .unwrap_err()
            .contains("outside"));
        assert!(parse_action("gain:drums:NaN")
            .unwrap_err()
            .contains("outside"));
        assert!(parse_action("gain:drums:inf")
            .unwrap_err()
            .contains("outside"));
        assert!(parse_action("song:0").unwrap_err().contains("start at 1"));
        assert!(parse_action("song:").is_err());
        assert!(parse_action("song:99999999999999999999999")
            .unwrap_err()
            .contains("too large"));
        assert!(parse_action("section:0").is_err());
        assert!(parse_action("loop:4:1")
            .unwrap_err()
            .contains("after loop start"));
        assert!(parse_action("loop:-1:1").unwrap_err().contains("seconds"));
        assert!(parse_action("loop:1")
            .unwrap_err()
            .contains("start and end"));
        assert!(parse_action("PLAY").is_err(), "action names are lower case");
        assert_eq!(parse_action("click"), Ok(Action::Click(None)));
        assert_eq!(parse_action("click_off"), Ok(Action::Click(Some(false))));
        for bad in ["click:on", "click_on:1", "click:", "click_maybe", "clickon"] {
            assert!(
                parse_action(bad).unwrap_err().contains("unknown action"),
                "{bad}"
            );
        }
    }

    #[test]
    fn action_names_read_back_to_the_same_action() {
        let mut all: Vec<Action> = PLAIN_ACTIONS.iter().map(|(_, a)| a.clone()).collect();
        all.extend([
            Action::Song(SongRef::Number(4)),
            Action::Song(SongRef::Name("03-intro".into())),
            Action::Section(SectionRef::Number(2)),
            Action::Section(SectionRef::Name("chorus".into())),
            Action::ToggleMute("lead vox".into()),
            Action::Mute("a:b".into()),
            Action::Unmute("bass".into()),
            Action::Solo("keys".into()),
            Action::Gain("drums".into(), -3.25),
            Action::Gain("x:y".into(), 0.1),
            Action::Loop(1.5, 20.0),
        ]);
        for a in all {
            assert_eq!(
                parse_action(&action_name(&a)),
                Ok(a.clone()),
                "{}",
                action_name(&a)
            );
        }
        assert_eq!(action_name(&Action::Help), "help");
    }

    #[test]
    fn keys_parse_by_evdev_name_in_any_case() {
        assert_eq!(parse_key("KEY_1"), Ok(KeyCode::KEY_1));
        assert_eq!(parse_key("btn_0"), Ok(KeyCode::BTN_0));
        assert_eq!(parse_key(" KEY_SPACE "), Ok(KeyCode::KEY_SPACE));
        assert_eq!(parse_key("KEY_PAGEDOWN"), Ok(KeyCode::KEY_PAGEDOWN));
        let e = parse_key("KEY_FOO").unwrap_err();
        assert!(e.contains("unknown key \"KEY_FOO\""), "{e}");
        assert!(parse_key("").is_err());
    }

    #[test]
    fn default_map_is_complete_and_parses() {
        let m = KeyMap::default_map();
        let count: usize = m
            .keys()
            .map(|(_, a)| {
                [a.short.is_some(), a.long.is_some(), a.double.is_some()]
                    .iter()
                    .filter(|b| **b)
                    .count()
            })
            .sum();
        assert_eq!(count, DEFAULT_MAP.len(), "every default entry must parse");
        assert_eq!(
            m.get(KeyCode::KEY_1, Gesture::Short),
            Some(&Action::PlayPause)
        );
        assert_eq!(m.get(KeyCode::KEY_1, Gesture::Long), Some(&Action::Stop));
        assert_eq!(
            m.get(KeyCode::KEY_3, Gesture::Double),
            Some(&Action::LoopToggle)
        );
        assert_eq!(m.get(KeyCode::KEY_4, Gesture::Double), None);
        assert_eq!(m.get(KeyCode::KEY_5, Gesture::Short), None);
        assert_eq!(KeyMap::from_config(&[]), Ok(m));
    }

    #[test]
    fn config_map_builds_and_names_bad_entries() {
        let map = [
            binding("KEY_A", Gesture::Short, "play"),
            binding("KEY_A", Gesture::Long, "toggle_mute:click"),
            binding("BTN_0", Gesture::Double, "next_song"),
        ];
        let m = KeyMap::from_config(&map).unwrap();
        assert_eq!(m.get(KeyCode::KEY_A, Gesture::Short), Some(&Action::Play));
        assert_eq!(
            m.get(KeyCode::KEY_A, Gesture::Long),
            Some(&Action::ToggleMute("click".into()))
        );
        assert_eq!(
            m.get(KeyCode::BTN_0, Gesture::Double),
            Some(&Action::NextSong)
        );
        assert_eq!(
            m.get(KeyCode::KEY_1, Gesture::Short),
            None,
            "no default mixed in"
        );
        assert!(
            m.describe().contains("KEY_A long toggle_mute:click\n"),
            "{}",
            m.describe()
        );

        let bad = [
            binding("KEY_1", Gesture::Short, "play"),
            binding("KEY_2", Gesture::Short, "stop"),
            binding("KEY_3", Gesture::Short, "foo"),
        ];
        let e = KeyMap::from_config(&bad).unwrap_err().message;
        assert!(
            e.starts_with("buttons.map[2].action: unknown action \"foo\""),
            "{e}"
        );
        let bad = [binding("KEY_NOPE", Gesture::Short, "play")];
        let e = KeyMap::from_config(&bad).unwrap_err().message;
        assert!(e.starts_with("buttons.map[0].key: unknown key"), "{e}");
        let dup = [
            binding("KEY_1", Gesture::Long, "play"),
            binding("key_1", Gesture::Long, "stop"),
        ];
        let e = KeyMap::from_config(&dup).unwrap_err().message;
        assert!(
            e.starts_with("buttons.map[1].key: KEY_1 long is already bound by buttons.map[0]"),
            "{e}"
        );
    }
}
