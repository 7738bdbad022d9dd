//! The key map: which key and gesture triggers which [`Action`], parsed once from
//! `buttons.map` (or the built-in default map) on the main thread at start-up, then read by
//! the input thread's gesture decoder.

use crate::model::action::Action;
#[cfg(test)]
use crate::model::{
    action::{MixMode, SectionRef, SongRef},
    grammar::PLAIN_ACTIONS,
};
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

pub use crate::model::grammar::{
    action_name, action_names, parse_action, parse_gain_db, parse_loop_points, parse_pitch_st,
    parse_ramp, parse_section_ref, parse_song_ref, parse_speed_pct, MAX_GAIN_DB, MIN_GAIN_DB,
};

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
        if let Some((_, _, first)) = bound.iter().find(|&&(k, g, _)| k == key && g == b.gesture) {
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
