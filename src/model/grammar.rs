//! The grammar of what a musician can ask for, in words: the console's command lines
//! (`mute drums`, `loop 12.5 20`) and the key map's action names (`toggle_mute:drums`),
//! parsed into [`Action`]s. Pure and never panics, whatever arrives (line noise included);
//! the console, the key map, MIDI, the CLI and the remote page all parse through here, so a
//! command means the same from every input.

use super::action::{Action, SectionRef, SongRef};
use std::fmt;

/// The answer to `help`: one line, like every answer.
pub const HELP: &str = "help: play | pause | stop | next | prev | song <n|name> | mute <stem> | \
unmute <stem> | toggle <stem> | solo <stem> | unsolo [<stem>] | gain <stem> <dB> | pan <stem> <-1..1> | \
bus <bus> <dB> | section <n|name> | next section | prev section | seek <s|m:ss|bar N[.beat]> | \
loop <a_s> <b_s> | loop a | loop b | loop on | loop off | volume up | volume down | volume <dB> | \
setlist move <from> <to> | speed [<pct>] | pitch [<st>] | loop ramp <start> <step> [<end>] [countin] | \
countin | click [on|off] | mix [stems|master] | status | stats | stats reset | quit";

/// Longest line accepted; anything longer is noise on the serial line.
pub const MAX_LINE_BYTES: usize = 512;

/// Action names without an argument, as written in `buttons.map[].action`.
pub const PLAIN_ACTIONS: &[(&str, Action)] = &[
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

use super::action::{
    MixMode, SeekTo, DEFAULT_RAMP, MAX_PITCH_ST, MAX_SPEED_PCT, MAX_VOLUME_DB, MIN_PITCH_ST,
    MIN_SPEED_PCT, MIN_VOLUME_DB,
};
pub use super::action::{MAX_GAIN_DB, MIN_GAIN_DB};

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
    parse_db(text, MIN_GAIN_DB, MAX_GAIN_DB, "-3.5")
}

/// A master volume in dB within [`MIN_VOLUME_DB`]..=[`MAX_VOLUME_DB`], written with its sign
/// or its unit (`-6`, `+3`, `0`, `6dB`): a bare `volume 11` is refused, since on a box
/// with `volume up`/`down` it reads as a step count or a typo, not as +11 dB.
pub fn parse_volume_db(text: &str) -> Result<f32, String> {
    let t = text.trim();
    let signed = t.starts_with(['+', '-']) || t == "0";
    let with_unit = t.ends_with("dB") || t.ends_with("db");
    if !signed && !with_unit {
        return Err(format!(
            "\"{t}\" has no sign or unit (say -{t}, +{t} or {t}dB)"
        ));
    }
    parse_db(text, MIN_VOLUME_DB, MAX_VOLUME_DB, "-6")
}

/// A number of dB (`-3.5`, `-3.5dB`) within `min..=max`; `example` shows one in the error.
fn parse_db(text: &str, min: f32, max: f32, example: &str) -> Result<f32, String> {
    let t = text.trim();
    let t = t
        .strip_suffix("dB")
        .or_else(|| t.strip_suffix("db"))
        .unwrap_or(t);
    let db: f32 = t
        .trim()
        .parse()
        .map_err(|_| format!("\"{text}\" is not a number of dB (e.g. {example})"))?;
    if !db.is_finite() || !(min..=max).contains(&db) {
        return Err(format!("{text} dB is outside {min}..={max} dB"));
    }
    Ok(db)
}

/// A pan position from -1 (left) through 0 (centre) to 1 (right).
pub fn parse_pan(text: &str) -> Result<f32, String> {
    let pan: f32 = text
        .trim()
        .parse()
        .map_err(|_| format!("\"{text}\" is not a pan position (-1 left .. 1 right)"))?;
    if !pan.is_finite() || !(-1.0..=1.0).contains(&pan) {
        return Err(format!("{text} is outside -1 (left) ..= 1 (right)"));
    }
    Ok(pan)
}

/// Where `seek` goes: `42.5` or `42.5s` (seconds), `1:23.5` (minutes and seconds), or
/// `bar 9` / `bar 9.3` (bar 9, beat 3, on the song's tempo map).
pub fn parse_seek(text: &str) -> Result<SeekTo, String> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    if let Some(bar) = lower.strip_prefix("bar") {
        let bar = bar.trim();
        let (b, beat) = match bar.split_once('.') {
            Some((b, beat)) => (b, beat),
            None => (bar, "1"),
        };
        let b: u32 =
            b.parse().ok().filter(|&b| b >= 1).ok_or_else(|| {
                format!("\"{t}\": the bar is a whole number from 1, e.g. bar 9.3")
            })?;
        let beat: u32 = beat
            .parse()
            .ok()
            .filter(|&n| (1..=32).contains(&n))
            .ok_or_else(|| format!("\"{t}\": the beat is a whole number 1..=32, e.g. bar 9.3"))?;
        return Ok(SeekTo::Bar(b, beat));
    }
    let secs = match lower.trim_end_matches('s').split_once(':') {
        Some((m, s)) => m
            .trim()
            .parse::<u32>()
            .ok()
            .zip(
                s.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|s| (0.0..60.0).contains(s)),
            )
            .map(|(m, s)| m as f64 * 60.0 + s),
        None => lower.trim_end_matches('s').trim().parse::<f64>().ok(),
    };
    match secs {
        Some(s) if s.is_finite() && s >= 0.0 => Ok(SeekTo::Seconds(s)),
        _ => Err(format!(
            "\"{t}\" is not a time (42.5, 42.5s, 1:23.5) or a bar (bar 9, bar 9.3)"
        )),
    }
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

/// A line that is not a command. `Display` is the one-line answer, `error: ...`.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsoleError(pub String);

impl fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.0)
    }
}

impl std::error::Error for ConsoleError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ConsoleError> {
    Err(ConsoleError(msg.into()))
}

/// Parses one console line. `Ok(None)` for a blank line or a `#` comment. Command words are
/// case-insensitive; stem, song and section names are taken as typed (they may contain
/// spaces: `mute lead vox`; for `gain` the last word is the dB value).
pub fn parse_line(line: &str) -> Result<Option<Action>, ConsoleError> {
    if line.len() > MAX_LINE_BYTES {
        return err(format!("line longer than {MAX_LINE_BYTES} bytes ignored"));
    }
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (word, rest) = match line.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim()),
        None => (line, ""),
    };
    let word = word.to_ascii_lowercase();
    let rest_lower = rest.to_ascii_lowercase();
    let no_args = |a: Action| -> Result<Option<Action>, ConsoleError> {
        if rest.is_empty() {
            Ok(Some(a))
        } else {
            err(format!("`{word}` takes no arguments (got \"{rest}\")"))
        }
    };
    let stem = |usage: &str| -> Result<String, ConsoleError> {
        if rest.is_empty() {
            err(format!("usage: {usage}"))
        } else {
            Ok(rest.to_string())
        }
    };
    let action = match word.as_str() {
        "help" | "?" => return no_args(Action::Help),
        "play" => return no_args(Action::Play),
        "pause" => return no_args(Action::Pause),
        "stop" => return no_args(Action::Stop),
        "status" => return no_args(Action::Status),
        "quit" | "exit" => return no_args(Action::Quit),
        "countin" | "count-in" => return no_args(Action::CountInToggle),
        "click" => match rest_lower.as_str() {
            "" | "toggle" => Action::Click(None),
            "on" => Action::Click(Some(true)),
            "off" => Action::Click(Some(false)),
            _ => return err("usage: click | click on | click off"),
        },
        "mix" => match rest_lower.as_str() {
            "" | "toggle" => Action::Mix(None),
            "stems" => Action::Mix(Some(MixMode::Stems)),
            "master" => Action::Mix(Some(MixMode::Master)),
            _ => return err("usage: mix [stems|master] (no word: toggles)"),
        },
        "next" | "prev" => {
            let next = word == "next";
            match rest_lower.as_str() {
                "" | "song" if next => Action::NextSong,
                "" | "song" => Action::PrevSong,
                "section" if next => Action::NextSection,
                "section" => Action::PrevSection,
                _ => return err(format!("usage: {word} [song|section]")),
            }
        }
        "song" => {
            Action::Song(parse_song_ref(rest).map_err(|e| ConsoleError(format!("song: {e}")))?)
        }
        "section" => Action::Section(
            parse_section_ref(rest).map_err(|e| ConsoleError(format!("section: {e}")))?,
        ),
        "mute" => Action::Mute(stem("mute <stem>")?),
        "unmute" => Action::Unmute(stem("unmute <stem>")?),
        "toggle" => Action::ToggleMute(stem("toggle <stem>")?),
        "solo" => Action::Solo(stem("solo <stem>")?),
        "gain" => {
            let Some((name, db)) = rest.rsplit_once(char::is_whitespace) else {
                return err("usage: gain <stem> <dB>, e.g. gain drums -3");
            };
            let name = name.trim();
            if name.is_empty() {
                return err("usage: gain <stem> <dB>, e.g. gain drums -3");
            }
            let db = parse_gain_db(db).map_err(|e| ConsoleError(format!("gain: {e}")))?;
            Action::Gain(name.to_string(), db)
        }
        "bus" => {
            let usage = "usage: bus <bus> <dB>, e.g. bus cue -6";
            let Some((name, db)) = rest.rsplit_once(char::is_whitespace) else {
                return err(usage);
            };
            let name = name.trim();
            if name.is_empty() {
                return err(usage);
            }
            let db = parse_gain_db(db).map_err(|e| ConsoleError(format!("bus: {e}")))?;
            Action::BusGain(name.to_string(), db)
        }
        "speed" => match rest_lower.as_str() {
            "" => Action::Speed(None),
            "up" | "+" => Action::SpeedUp,
            "down" | "-" => Action::SpeedDown,
            _ => Action::Speed(Some(
                parse_speed_pct(rest).map_err(|e| ConsoleError(format!("speed: {e}")))?,
            )),
        },
        "pitch" | "key" => match rest_lower.as_str() {
            "" => Action::Pitch(None),
            "up" => Action::PitchUp,
            "down" => Action::PitchDown,
            _ => Action::Pitch(Some(
                parse_pitch_st(rest).map_err(|e| ConsoleError(format!("pitch: {e}")))?,
            )),
        },
        "loop" if rest_lower.starts_with("ramp") => {
            let mut args: Vec<&str> = rest["ramp".len()..].split_whitespace().collect();
            if !rest_lower["ramp".len()..].starts_with(char::is_whitespace) && !args.is_empty() {
                return err("usage: loop ramp <start_pct> <step_pct> [<end_pct>] [countin]");
            }
            let count_in = args
                .last()
                .is_some_and(|w| w.eq_ignore_ascii_case("countin"));
            if count_in {
                args.pop();
            }
            let (start, step, end) =
                parse_ramp(&args).map_err(|e| ConsoleError(format!("loop ramp: {e}")))?;
            Action::LoopRamp(start, step, end, count_in)
        }
        "loop" => match rest_lower.as_str() {
            "off" => Action::LoopOff,
            "a" => Action::LoopA,
            "b" => Action::LoopB,
            "on" | "toggle" => Action::LoopToggle,
            _ => {
                let mut parts = rest.split_whitespace();
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(a), Some(b), None) => {
                        let (a_s, b_s) = parse_loop_points(a, b)
                            .map_err(|e| ConsoleError(format!("loop: {e}")))?;
                        Action::Loop(a_s, b_s)
                    }
                    _ => {
                        return err(
                            "usage: loop <a_s> <b_s> | loop a | loop b | loop on | loop off",
                        )
                    }
                }
            }
        },
        "stats" => match rest_lower.as_str() {
            "" => Action::Stats,
            "reset" => Action::StatsReset,
            _ => return err("usage: stats | stats reset"),
        },
        "volume" | "vol" => match rest_lower.as_str() {
            "up" | "+" => Action::VolumeUp,
            "down" | "-" => Action::VolumeDown,
            "" => return err("usage: volume up | volume down | volume <dB>"),
            _ => Action::Volume(parse_volume_db(rest).map_err(|e| {
                ConsoleError(format!(
                    "usage: volume up | volume down | volume <dB> with its sign \
                         (volume -6, volume +3): {e}"
                ))
            })?),
        },
        "pan" => {
            let usage = "usage: pan <stem> <-1..1>, e.g. pan keys -0.5";
            let Some((name, pan)) = rest.rsplit_once(char::is_whitespace) else {
                return err(usage);
            };
            let name = name.trim();
            if name.is_empty() {
                return err(usage);
            }
            let pan = parse_pan(pan).map_err(|e| ConsoleError(format!("pan: {e}")))?;
            Action::Pan(name.to_string(), pan)
        }
        "unsolo" if rest.is_empty() => Action::Unsolo(None),
        "unsolo" => Action::Unsolo(Some(rest.to_string())),
        "seek" => Action::Seek(parse_seek(rest).map_err(|e| ConsoleError(format!("seek: {e}")))?),
        "setlist" => {
            let mut w = rest.split_whitespace();
            match (
                w.next().map(str::to_ascii_lowercase).as_deref(),
                w.next(),
                w.next(),
                w.next(),
            ) {
                (Some("move"), Some(a), Some(b), None) => {
                    let n = |t: &str| t.parse::<usize>().ok().filter(|&n| n >= 1);
                    match (n(a), n(b)) {
                        (Some(a), Some(b)) => Action::SetlistMove(a, b),
                        _ => return err("setlist move: positions are whole numbers from 1"),
                    }
                }
                _ => return err("usage: setlist move <from> <to>"),
            }
        }
        _ => {
            let shown: String = word.chars().take(32).collect();
            return err(format!("unknown command \"{shown}\" (type help)"));
        }
    };
    Ok(Some(action))
}
