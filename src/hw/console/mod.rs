//! The serial console: one text command per line on stdin, parsed into [`Action`]s for the
//! control thread. Runs on the `stembox-console` thread ([`ConsoleThread::spawn`]); [`parse_line`] is pure
//! and never panics, whatever arrives on the wire (line noise included).
//!
//! Each command gets one line back: parse errors (`error: ...`) and `help` are answered
//! here, everything else by the control thread when it carries the action out.
//!
//! Nobody may be reading the other end (a serial terminal that sent XOFF, a full pipe, a
//! hung-up UART), and anything may arrive on it. So:
//! - Output never blocks its caller: [`ConsoleOutput::say`] puts the line in a bounded
//!   queue ([`OUTPUT_QUEUE_LINES`]) that the `stembox-out` thread writes to stdout; when the
//!   queue is full the line is dropped and counted ([`ConsoleOutput::dropped_lines`], shown
//!   as `console_dropped`). [`ConsoleOutput::flush`] waits, within a timeout, at exit.
//! - Input waits for output instead ([`OutputPacer`]): the console reader takes no next
//!   command while the queue and the commands not yet answered would fill it, so a pasted
//!   burst of thousands of commands gets every answer as long as someone reads them (the
//!   paster's side of the line simply stalls). Output that makes no progress for
//!   [`OUTPUT_STALL`] is nobody reading: then commands are read and carried out again at
//!   once and their answers dropped, so a dead terminal never takes the console down.
//! - Every line written is passed through [`escape_for_console`]: control characters from
//!   typed input or from song folder names cannot move the cursor or split an answer.
//! - An input line is read into at most [`MAX_LINE_BYTES`] + 1 bytes; the rest of a longer
//!   one is discarded as it arrives, and answered with one error line.
//! - End of input stops the console only when stdin is not a terminal (closed, as under
//!   systemd without a tty), and says so; Ctrl-D on a terminal is ignored.

use crate::model::action::Action;

use std::io::{self, BufRead, Write};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use crate::model::grammar::{parse_line, ConsoleError, HELP, MAX_LINE_BYTES};

pub mod output;

pub use crate::base::text::escape_for_console;
pub use output::{
    should_wait_for_output, ConsoleOutput, OutputPacer, QueuedLines, OUTPUT_QUEUE_LINES,
    OUTPUT_STALL, PACE_LINES,
};

/// The running console thread. Dropping it detaches the thread: a read on stdin cannot be
/// interrupted, and the process exit ends it.
pub struct ConsoleThread {
    pub handle: JoinHandle<()>,
}

/// What the console does at end of input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtEndOfInput {
    /// Stdin is closed for good (a pipe, `/dev/null` under systemd): say so and stop.
    Stop,
    /// Stdin is a terminal: Ctrl-D is no reason to go deaf; keep reading.
    KeepReading,
}

impl ConsoleThread {
    /// Starts the `stembox-console` thread: reads lines from `input`, answers errors and
    /// `help` on `answers` (one line each; [`QueuedLines`] for the shared output queue), and
    /// hands every other action to `send`; at end of input it stops or keeps reading as
    /// `at_end` says (stdin on a terminal: keep reading), and it stops on a read error or
    /// when `send` returns `false`. Control thread, at start-up.
    pub fn spawn<R, W>(
        input: R,
        answers: W,
        at_end: AtEndOfInput,
        send: impl FnMut(Action) -> bool + Send + 'static,
    ) -> io::Result<ConsoleThread>
    where
        R: BufRead + Send + 'static,
        W: Write + Send + 'static,
    {
        let handle = std::thread::Builder::new()
            .name("stembox-console".into())
            .spawn(move || run_console_with(input, answers, send, at_end))?;
        Ok(ConsoleThread { handle })
    }
}

/// The console loop itself (what [`ConsoleThread::spawn`] runs), callable on any thread; stops at
/// end of input.
pub fn run_console<R: BufRead, W: Write>(input: R, answers: W, send: impl FnMut(Action) -> bool) {
    run_console_with(input, answers, send, AtEndOfInput::Stop);
}

/// How a capped line read ended.
#[derive(Debug, PartialEq)]
enum LineRead {
    /// A line (without its newline) is in the buffer.
    Line,
    /// The line was longer than the cap; what fitted is in the buffer, the rest is gone.
    TooLong,
    /// End of input, nothing read.
    End,
}

/// Reads one line into `buf`, keeping at most `max` bytes of it and discarding the rest as
/// it arrives, so a line without an end cannot grow memory.
fn read_line_capped<R: BufRead>(
    input: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<LineRead> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let avail = match input.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(match (any, too_long) {
                (false, _) => LineRead::End,
                (true, true) => LineRead::TooLong,
                (true, false) => LineRead::Line,
            });
        }
        any = true;
        let (chunk, used, ended) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (&avail[..i], i + 1, true),
            None => (avail, avail.len(), false),
        };
        if buf.len() + chunk.len() > max {
            too_long = true;
        } else {
            buf.extend_from_slice(chunk);
        }
        input.consume(used);
        if ended {
            return Ok(if too_long {
                LineRead::TooLong
            } else {
                LineRead::Line
            });
        }
    }
}

/// [`run_console`] with the end-of-input behaviour chosen by the caller.
pub fn run_console_with<R: BufRead, W: Write>(
    mut input: R,
    mut answers: W,
    mut send: impl FnMut(Action) -> bool,
    at_end: AtEndOfInput,
) {
    let mut buf = Vec::with_capacity(MAX_LINE_BYTES + 1);
    // A hung-up terminal reads as an endless run of ends of input: slow down, never spin.
    let mut recent_ends: Vec<Instant> = Vec::with_capacity(4);
    loop {
        let read = read_line_capped(&mut input, &mut buf, MAX_LINE_BYTES);
        let answer = match read {
            Err(e) => {
                let _ = writeln!(
                    answers,
                    "console: cannot read input ({e}); console commands are off"
                );
                let _ = answers.flush();
                return;
            }
            Ok(LineRead::End) if at_end == AtEndOfInput::Stop => {
                let _ = writeln!(
                    answers,
                    "console: end of input (stdin is not a terminal); console commands are off \
                     until restart, buttons still work"
                );
                let _ = answers.flush();
                return;
            }
            Ok(LineRead::End) => {
                let now = Instant::now();
                recent_ends.retain(|t| now.duration_since(*t) < Duration::from_secs(1));
                recent_ends.push(now);
                if recent_ends.len() >= 3 {
                    std::thread::sleep(Duration::from_secs(1));
                    None
                } else {
                    Some(
                        "console: end of input ignored on a terminal (type quit to stop stembox)"
                            .to_string(),
                    )
                }
            }
            Ok(LineRead::TooLong) => Some(
                ConsoleError(format!("line longer than {MAX_LINE_BYTES} bytes ignored"))
                    .to_string(),
            ),
            Ok(LineRead::Line) => {
                // Serial lines carry noise: invalid UTF-8 is replaced, never a reason to stop.
                let line = String::from_utf8_lossy(&buf);
                match parse_line(&line) {
                    Ok(None) => None,
                    Ok(Some(Action::Help)) => Some(HELP.to_string()),
                    Ok(Some(a)) => {
                        if !send(a) {
                            return;
                        }
                        None
                    }
                    Err(e) => Some(e.to_string()),
                }
            }
        };
        if let Some(a) = answer {
            if writeln!(answers, "{}", escape_for_console(&a))
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
    use crate::model::action::{MixMode, SectionRef, SongRef};

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
    fn the_reader_waits_for_output_room_only_while_output_moves() {
        let moving = Duration::ZERO;
        // Room left: read on.
        assert!(!should_wait_for_output(0, 0, moving));
        assert!(!should_wait_for_output(PACE_LINES - 1, 0, moving));
        assert!(!should_wait_for_output(100, PACE_LINES - 101, moving));
        // Queue plus answers to come would fill it: wait.
        assert!(should_wait_for_output(PACE_LINES, 0, moving));
        assert!(should_wait_for_output(100, PACE_LINES - 100, moving));
        // Hostile counts (a counter that went backwards and wrapped) never overflow.
        assert!(should_wait_for_output(u64::MAX, u64::MAX, moving));
        // Nothing written or answered for a while: nobody reads; commands go on.
        assert!(should_wait_for_output(
            PACE_LINES,
            0,
            OUTPUT_STALL - Duration::from_millis(1)
        ));
        assert!(!should_wait_for_output(PACE_LINES, 0, OUTPUT_STALL));
        assert!(!should_wait_for_output(u64::MAX, 5, Duration::MAX));
        // Nothing queued but many commands unanswered: the control thread is behind, and
        // that is waited for however long it takes (no line can be lost to it).
        assert!(should_wait_for_output(0, PACE_LINES, Duration::MAX));
        // The pause leaves room below the queue's size for stats lines and notices.
        const { assert!(PACE_LINES + 32 <= OUTPUT_QUEUE_LINES as u64) };
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
        assert_eq!(ok("click"), Action::Click(None));
        assert_eq!(ok("CLICK On"), Action::Click(Some(true)));
        assert_eq!(ok("click  off "), Action::Click(Some(false)));
        assert_eq!(ok("click toggle"), Action::Click(None));
        for bad in [
            "click 1",
            "click on off",
            "click NaN",
            "click \u{1b}[2J",
            "click onn",
        ] {
            let e = parse_line(bad).unwrap_err().to_string();
            assert!(e.starts_with("error: usage: click"), "{bad}: {e}");
        }
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
        assert_eq!(ok("bus cue -6"), Action::BusGain("cue".into(), -6.0));
        assert_eq!(ok("bus  main  +3dB"), Action::BusGain("main".into(), 3.0));
        for hostile in [
            "bus",
            "bus cue",
            "bus -6",
            "bus cue NaN",
            "bus cue inf",
            "bus cue 1e9",
            "bus cue -200",
            "bus cue x",
        ] {
            assert!(bad(hostile).contains("bus"), "{hostile}: {}", bad(hostile));
        }
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
    fn speed_pitch_and_loop_ramp_lines() {
        assert_eq!(ok("speed"), Action::Speed(None));
        assert_eq!(ok("SPEED 80"), Action::Speed(Some(80.0)));
        assert_eq!(ok("speed 92.5%"), Action::Speed(Some(92.5)));
        assert_eq!(ok("speed up"), Action::SpeedUp);
        assert_eq!(ok("speed -"), Action::SpeedDown);
        assert_eq!(ok("pitch"), Action::Pitch(None));
        assert_eq!(ok("pitch -3"), Action::Pitch(Some(-3.0)));
        assert_eq!(ok("pitch +0.5"), Action::Pitch(Some(0.5)));
        assert_eq!(ok("pitch down"), Action::PitchDown);
        assert_eq!(
            ok("loop ramp 70 5"),
            Action::LoopRamp(70.0, 5.0, 100.0, false)
        );
        assert_eq!(
            ok("loop ramp 60 10 90"),
            Action::LoopRamp(60.0, 10.0, 90.0, false)
        );
        assert_eq!(
            ok("loop ramp 60 10 90 countin"),
            Action::LoopRamp(60.0, 10.0, 90.0, true)
        );
        assert_eq!(
            ok("loop ramp 70 5 COUNTIN"),
            Action::LoopRamp(70.0, 5.0, 100.0, true)
        );
        for (line, says) in [
            ("speed 200", "outside 50..=150"),
            ("speed 10", "outside 50..=150"),
            ("speed NaN", "outside 50..=150"),
            ("speed 1e40", "outside 50..=150"),
            ("speed fast", "not a speed"),
            ("speed 80 90", "not a speed"),
            ("pitch 24", "outside -12..=12"),
            ("pitch -inf", "outside -12..=12"),
            ("pitch Bb", "not a number of semitones"),
            ("loop ramp", "needs <start_pct>"),
            ("loop ramp 70", "needs <start_pct>"),
            ("loop ramp 70 0", "more than 0"),
            ("loop ramp 70 nan", "more than 0"),
            ("loop ramp 90 5 80", "below its start"),
            ("loop ramp countin", "needs <start_pct>"),
            ("loop ramp 70 countin", "needs <start_pct>"),
            ("loop ramp 70 5 countin 100", "needs <start_pct>"),
            ("loop ramp 70 5 100 countin countin", "needs <start_pct>"),
            ("loop ramp nan 5 countin", "speed"),
            ("loop ramp 70 -5 countin", "more than 0"),
            ("loop rampage", "usage: loop ramp"),
        ] {
            let e = bad(line);
            assert!(e.contains(says), "{line}: {e}");
        }
    }

    #[test]
    fn mix_toggles_or_takes_stems_or_master_and_refuses_anything_else() {
        assert_eq!(ok("mix"), Action::Mix(None));
        assert_eq!(ok("MIX toggle"), Action::Mix(None));
        assert_eq!(ok("mix stems"), Action::Mix(Some(MixMode::Stems)));
        assert_eq!(ok("mix  Master "), Action::Mix(Some(MixMode::Master)));
        for line in [
            "mix master stems",
            "mix nan",
            "mix 1",
            "mix -1e999",
            "mix \u{0}",
            "mix mastering",
            "mix stems\x1b",
        ] {
            assert!(bad(line).contains("usage: mix [stems|master]"), "{line}");
        }
    }

    #[test]
    fn help_is_one_line_and_lists_every_command_word() {
        assert!(!HELP.contains('\n'));
        for word in [
            "play",
            "pause",
            "stop",
            "next",
            "prev",
            "song",
            "mute",
            "unmute",
            "solo",
            "gain",
            "bus",
            "section",
            "loop",
            "status",
            "stats",
            "quit",
            "speed",
            "pitch",
            "loop ramp",
            "mix",
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
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("help: "));
        assert!(lines[1].starts_with("error: unknown command \"bogus\""));
        assert!(lines[2].starts_with("error: unknown command"));
        assert!(
            lines[3].starts_with("console: end of input (stdin is not a terminal)"),
            "says why it stops: {text}"
        );
    }

    #[test]
    fn escaping_keeps_every_answer_on_one_inert_line() {
        assert!(matches!(
            escape_for_console("ok song 2 02-b"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(
            escape_for_console("a\nb\rc\td\u{1b}[2Je\u{7f}f\u{9b}g\\h"),
            "a\\nb\\rc\\td\\x1b[2Je\\x7ff\\u{9b}g\\h"
        );
        for c in (0u32..0x110000).filter_map(char::from_u32) {
            let e = escape_for_console(&c.to_string()).into_owned();
            assert!(!e.chars().any(char::is_control), "{c:?} -> {e:?}");
        }
    }

    #[test]
    fn echoed_input_is_escaped() {
        let mut answers = Vec::new();
        run_console(
            &b"mute\x1b[31m\x07 now\nplay \x1b]0;owned\x07\n"[..],
            &mut answers,
            |_| true,
        );
        let text = String::from_utf8(answers).unwrap();
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{text:?}"
        );
        assert!(text.contains("\\x1b[31m\\x07"), "{text}");
    }

    #[test]
    fn a_line_without_end_is_capped_and_answered_once() {
        // 5 MB without a newline, then a real command: one error, then the command works,
        // and the reader never holds more than the cap.
        struct Endless {
            left: usize,
            tail: &'static [u8],
            chunk: Vec<u8>,
        }
        impl io::Read for Endless {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                unreachable!("read through BufRead only")
            }
        }
        impl BufRead for Endless {
            fn fill_buf(&mut self) -> io::Result<&[u8]> {
                if self.left > 0 {
                    let n = self.left.min(self.chunk.len());
                    Ok(&self.chunk[..n])
                } else {
                    Ok(self.tail)
                }
            }
            fn consume(&mut self, n: usize) {
                if self.left > 0 {
                    self.left -= n;
                } else {
                    self.tail = &self.tail[n..];
                }
            }
        }
        let input = Endless {
            left: 5 << 20,
            tail: b"\nplay\n",
            chunk: vec![b'x'; 8192],
        };
        let mut answers = Vec::new();
        let mut got = Vec::new();
        run_console(input, &mut answers, |a| {
            got.push(a);
            true
        });
        let text = String::from_utf8(answers).unwrap();
        let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(
            errors,
            [format!(
                "error: line longer than {MAX_LINE_BYTES} bytes ignored"
            )]
        );
        assert_eq!(got, vec![Action::Play]);
        let mut buf = Vec::new();
        let r = read_line_capped(&mut &b"abcdef\nxy"[..], &mut buf, 3).unwrap();
        assert_eq!((r, buf.len()), (LineRead::TooLong, 0));
        let mut rest = &b"ab\ncd"[..];
        assert_eq!(
            read_line_capped(&mut rest, &mut buf, 3).unwrap(),
            LineRead::Line
        );
        assert_eq!(buf, b"ab");
        assert_eq!(
            read_line_capped(&mut rest, &mut buf, 3).unwrap(),
            LineRead::Line
        );
        assert_eq!(buf, b"cd");
        assert_eq!(
            read_line_capped(&mut rest, &mut buf, 3).unwrap(),
            LineRead::End
        );
    }

    #[test]
    fn on_a_terminal_end_of_input_is_not_the_end() {
        // Two Ctrl-Ds (reads of 0 bytes) between commands, as a tty delivers them.
        struct Tty(Vec<&'static [u8]>);
        impl io::Read for Tty {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                unreachable!()
            }
        }
        impl BufRead for Tty {
            fn fill_buf(&mut self) -> io::Result<&[u8]> {
                // An empty chunk is one Ctrl-D: reported once, then the next chunk.
                if self.0.first().is_some_and(|c| c.is_empty()) {
                    self.0.remove(0);
                    return Ok(b"");
                }
                Ok(self.0.first().copied().unwrap_or(b""))
            }
            fn consume(&mut self, n: usize) {
                let first = self.0[0];
                if n == first.len() {
                    self.0.remove(0);
                } else {
                    self.0[0] = &first[n..];
                }
            }
        }
        let input = Tty(vec![b"play\n", b"", b"", b"stop\n", b"quit\n"]);
        let mut answers = Vec::new();
        let mut got = Vec::new();
        run_console_with(
            input,
            &mut answers,
            |a| {
                let quit = a == Action::Quit;
                got.push(a);
                !quit
            },
            AtEndOfInput::KeepReading,
        );
        assert_eq!(got, vec![Action::Play, Action::Stop, Action::Quit]);
        let text = String::from_utf8(answers).unwrap();
        assert_eq!(
            text.matches("end of input ignored on a terminal").count(),
            2,
            "{text}"
        );
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
        let t = ConsoleThread::spawn(&b"pause\n"[..], io::sink(), AtEndOfInput::Stop, move |a| {
            tx.send(a).is_ok()
        })
        .unwrap();
        t.handle.join().unwrap();
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![Action::Pause]);
    }
}
