//! The serial console: one text command per line on stdin, parsed into [`Action`]s for the
//! control thread. Runs on the `console` thread ([`spawn_console`]); [`parse_line`] is pure
//! and never panics, whatever arrives on the wire (line noise included).
//!
//! Each command gets one line back: parse errors (`error: ...`) and `help` are answered
//! here, everything else by the control thread when it carries the action out. End of input
//! (stdin closed, as under systemd without a tty) ends the thread, not the player.

use crate::action::Action;
use crate::input::keymap::{parse_gain_db, parse_loop_points, parse_section_ref, parse_song_ref};
use std::fmt;
use std::io::{self, BufRead, Write};
use std::thread::JoinHandle;

/// The answer to `help`: one line, like every answer.
pub const HELP: &str = "help: play | pause | stop | next | prev | song <n|name> | mute <stem> | \
unmute <stem> | toggle <stem> | solo <stem> | gain <stem> <dB> | section <n|name> | \
next section | prev section | loop <a_s> <b_s> | loop a | loop b | loop on | loop off | \
volume up | volume down | countin | status | stats | stats reset | quit";

/// Longest line accepted; anything longer is noise on the serial line.
pub const MAX_LINE_BYTES: usize = 512;

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
            _ => return err("usage: volume up | volume down"),
        },
        _ => {
            let shown: String = word.chars().take(32).collect();
            return err(format!("unknown command \"{shown}\" (type help)"));
        }
    };
    Ok(Some(action))
}

/// The running console thread. Dropping it detaches the thread: a read on stdin cannot be
/// interrupted, and the process exit ends it.
pub struct ConsoleThread {
    pub handle: JoinHandle<()>,
}

/// Starts the `console` thread: reads lines from `input`, answers errors and `help` on
/// `answers` (one line each), and hands every other action to `send`; stops at end of
/// input, on a read error, or when `send` returns `false`. Called once at start-up by the
/// main thread with stdin and stdout.
pub fn spawn_console<R, W>(
    input: R,
    answers: W,
    send: impl FnMut(Action) -> bool + Send + 'static,
) -> io::Result<ConsoleThread>
where
    R: BufRead + Send + 'static,
    W: Write + Send + 'static,
{
    let handle = std::thread::Builder::new()
        .name("console".into())
        .spawn(move || run_console(input, answers, send))?;
    Ok(ConsoleThread { handle })
}

/// The console loop itself (what [`spawn_console`] runs), callable on any thread.
pub fn run_console<R: BufRead, W: Write>(
    mut input: R,
    mut answers: W,
    mut send: impl FnMut(Action) -> bool,
) {
    let mut buf = Vec::with_capacity(MAX_LINE_BYTES);
    loop {
        buf.clear();
        match input.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        // Serial lines carry noise: invalid UTF-8 is replaced, never a reason to stop.
        let line = String::from_utf8_lossy(&buf);
        let answer = match parse_line(&line) {
            Ok(None) => None,
            Ok(Some(Action::Help)) => Some(HELP.to_string()),
            Ok(Some(a)) => {
                if !send(a) {
                    return;
                }
                None
            }
            Err(e) => Some(e.to_string()),
        };
        if let Some(a) = answer {
            if writeln!(answers, "{a}")
                .and_then(|_| answers.flush())
                .is_err()
            {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::{SectionRef, SongRef};

    fn ok(line: &str) -> Action {
        match parse_line(line) {
            Ok(Some(a)) => a,
            other => panic!("{line:?}: {other:?}"),
        }
    }

    fn bad(line: &str) -> String {
        match parse_line(line) {
            Err(e) => {
                let s = e.to_string();
                assert!(s.starts_with("error: "), "{s}");
                assert!(!s.contains('\n'), "one line: {s:?}");
                s
            }
            other => panic!("{line:?} should fail: {other:?}"),
        }
    }

    #[test]
    fn every_documented_command_parses() {
        assert_eq!(ok("help"), Action::Help);
        assert_eq!(ok("play"), Action::Play);
        assert_eq!(ok("pause"), Action::Pause);
        assert_eq!(ok("stop"), Action::Stop);
        assert_eq!(ok("next"), Action::NextSong);
        assert_eq!(ok("prev"), Action::PrevSong);
        assert_eq!(ok("song 3"), Action::Song(SongRef::Number(3)));
        assert_eq!(
            ok("song 03-intro"),
            Action::Song(SongRef::Name("03-intro".into()))
        );
        assert_eq!(ok("mute drums"), Action::Mute("drums".into()));
        assert_eq!(ok("unmute drums"), Action::Unmute("drums".into()));
        assert_eq!(ok("solo bass"), Action::Solo("bass".into()));
        assert_eq!(ok("gain drums -3"), Action::Gain("drums".into(), -3.0));
        assert_eq!(ok("section 2"), Action::Section(SectionRef::Number(2)));
        assert_eq!(
            ok("section chorus"),
            Action::Section(SectionRef::Name("chorus".into()))
        );
        assert_eq!(ok("loop 12.5 20"), Action::Loop(12.5, 20.0));
        assert_eq!(ok("loop off"), Action::LoopOff);
        assert_eq!(ok("status"), Action::Status);
        assert_eq!(ok("stats"), Action::Stats);
        assert_eq!(ok("stats reset"), Action::StatsReset);
        assert_eq!(ok("quit"), Action::Quit);
    }

    #[test]
    fn extras_and_spelling_variants() {
        assert_eq!(ok("  PLAY \r\n"), Action::Play);
        assert_eq!(ok("Next Section"), Action::NextSection);
        assert_eq!(ok("prev section"), Action::PrevSection);
        assert_eq!(ok("next song"), Action::NextSong);
        assert_eq!(ok("loop a"), Action::LoopA);
        assert_eq!(ok("loop B"), Action::LoopB);
        assert_eq!(ok("loop on"), Action::LoopToggle);
        assert_eq!(ok("toggle click"), Action::ToggleMute("click".into()));
        assert_eq!(ok("volume up"), Action::VolumeUp);
        assert_eq!(ok("vol -"), Action::VolumeDown);
        assert_eq!(ok("countin"), Action::CountInToggle);
        assert_eq!(ok("mute lead vox"), Action::Mute("lead vox".into()));
        assert_eq!(
            ok("gain lead vox +2.5dB"),
            Action::Gain("lead vox".into(), 2.5)
        );
        assert_eq!(ok("loop 1s 2s"), Action::Loop(1.0, 2.0));
        assert_eq!(
            ok("mute Drums"),
            Action::Mute("Drums".into()),
            "names as typed"
        );
        assert_eq!(parse_line(""), Ok(None));
        assert_eq!(parse_line("   \n"), Ok(None));
        assert_eq!(parse_line("# a comment"), Ok(None));
    }

    #[test]
    fn malformed_commands_get_one_line_errors() {
        assert!(bad("dance").contains("unknown command \"dance\" (type help)"));
        assert!(bad("play now").contains("takes no arguments"));
        assert!(bad("mute").contains("usage: mute <stem>"));
        assert!(bad("solo   ").contains("usage: solo <stem>"));
        assert!(bad("gain drums").contains("usage: gain"));
        assert!(bad("gain -3").contains("usage: gain"));
        assert!(bad("gain drums loud").contains("not a number"));
        assert!(bad("gain drums 100").contains("outside"));
        assert!(bad("song").contains("song:"));
        assert!(bad("song 0").contains("start at 1"));
        assert!(bad("section").contains("section:"));
        assert!(bad("loop").contains("usage: loop"));
        assert!(bad("loop 5").contains("usage: loop"));
        assert!(bad("loop 5 2").contains("after loop start"));
        assert!(bad("loop 1 2 3").contains("usage: loop"));
        assert!(bad("loop x y").contains("seconds"));
        assert!(bad("stats now").contains("usage: stats"));
        assert!(bad("next bar").contains("usage: next"));
        assert!(bad("volume 11").contains("usage: volume"));
        assert!(bad(&"x".repeat(MAX_LINE_BYTES + 1)).contains("longer than"));
        let long_word = bad(&"y".repeat(200));
        assert!(
            long_word.len() < 100,
            "unknown words are shortened: {long_word}"
        );
    }

    #[test]
    fn noise_never_panics() {
        let samples = [
            "\u{0}\u{1}\u{7f}",
            "gain \u{1F3B8} -3",
            "loop \u{a0}1 2",
            "song \u{feff}",
            "gain   ",
            "loop    ",
            "gain a NaN",
            "loop inf 3",
            "song 18446744073709551616",
        ];
        for s in samples {
            let _ = parse_line(s);
        }
        // Every byte value in a few positions.
        for b in 0u8..=255 {
            let bytes = [b'm', b'u', b't', b'e', b' ', b];
            let _ = parse_line(&String::from_utf8_lossy(&bytes));
            let _ = parse_line(&String::from_utf8_lossy(&[b, b' ', b'1']));
        }
    }

    #[test]
    fn help_is_one_line_and_lists_every_command_word() {
        assert!(!HELP.contains('\n'));
        for word in [
            "play", "pause", "stop", "next", "prev", "song", "mute", "unmute", "solo", "gain",
            "section", "loop", "status", "stats", "quit",
        ] {
            assert!(HELP.contains(word), "{word}");
        }
    }

    #[test]
    fn console_loop_answers_and_forwards() {
        let input = b"help\nplay\nbogus\n\n\xff\xfe\nmute drums\nquit\n".to_vec();
        let mut answers = Vec::new();
        let mut got = Vec::new();
        run_console(&input[..], &mut answers, |a| {
            got.push(a);
            true
        });
        assert_eq!(
            got,
            vec![Action::Play, Action::Mute("drums".into()), Action::Quit]
        );
        let text = String::from_utf8(answers).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("help: "));
        assert!(lines[1].starts_with("error: unknown command \"bogus\""));
        assert!(lines[2].starts_with("error: unknown command"));
    }

    #[test]
    fn console_loop_stops_when_the_receiver_is_gone() {
        let input = b"play\nstop\n".to_vec();
        let mut n = 0;
        run_console(&input[..], Vec::new(), |_| {
            n += 1;
            false
        });
        assert_eq!(n, 1);
    }

    #[test]
    fn spawned_console_reads_to_end() {
        let (tx, rx) = std::sync::mpsc::channel();
        let t = spawn_console(&b"pause\n"[..], io::sink(), move |a| tx.send(a).is_ok()).unwrap();
        t.handle.join().unwrap();
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![Action::Pause]);
    }
}
