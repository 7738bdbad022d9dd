//! Command-line arguments. Main thread.

use crate::model::grammar::{parse_pitch_st, parse_speed_pct};
use std::path::PathBuf;

pub const DEFAULT_CONFIG: &str = "/etc/stembox/config.json";

pub const HELP: &str = "\
stembox: plays songs split into stems (drums, bass, vocals, click, ...) from RAM through ALSA

USAGE:
    stembox [run] [--config FILE] [--stats-json]
        The appliance: preloads the first song and its neighbours, prints `ready`, plays.
        Reads commands on stdin (type `help`), prints `stats ...` lines every
        stats.interval_s seconds, on `stats` and on SIGUSR1.
    stembox play --config FILE --song NAME [--once] [--speed PCT] [--pitch ST] [--stats-json]
        Decodes one song (NAME: folder name or 1-based number), plays it from start to end
        through audio.device, prints the stats line and exits 0. Without --once it takes
        commands on stdin like `run` and keeps going after the song ends. --speed 50..150
        (percent, same key) and --pitch -12..12 (semitones, same tempo) time-stretch it;
        100 and 0 are bit-exact with a plain play.
    stembox check --config FILE [--quick]
        Validates the config and the library: every song, its stems (format, rate,
        channels, duration), the RAM each song needs once decoded; exits 1 on problems.
        Decodes every stem to find truncated or damaged files, as `play` would (progress
        on a terminal); --quick reads the headers only and says what it did not verify.
    stembox --help | --version

OPTIONS:
    --config FILE    JSON config (default /etc/stembox/config.json); every key optional
    --song NAME      song folder name or its number in the setlist
    --once           play the song once and exit
    --speed PCT      play at PCT percent of the original tempo (50..150), same key
    --pitch ST       move the key by ST semitones (-12..12, fractions allowed), same tempo
    --stats-json     print stats as one JSON object per line instead of key=value

    The demo library is written by a second program, `stembox-demo DIR [--force]`.

EXIT CODES:
    0 ok, 1 device or library failure, 2 bad config or usage

CONFIG KEYS (defaults):
    library \"/srv/stembox/library\"   audio.device \"default\"   audio.rate 48000
    audio.channels 2   audio.period_frames 256   audio.periods 2   audio.format \"S16_LE\"
    (S16_LE, S24_LE, S32_LE, FLOAT_LE)   audio.enable_latency_monitor false
    audio.master_gain_db 0 (-60..+24 dB)   audio.buses {\"main\":[1,2]} (name -> outputs)
    rt.priority 70   rt.cpu -1   rt.mlock true
    buttons.devices []   buttons.map [] (built-in default map)   buttons.debounce_ms 30
    buttons.long_press_ms 600   buttons.double_press_ms 300   stats.interval_s 10
    memory.budget_mb 1024   state_dir \"/var/lib/stembox\"   midi.inputs [] (ALSA sequencer
    ports: \"24:0\" or a name part)   midi.map []   midi.program_change_selects_song true
    midi.clock_out []   remote.listen \"\" (off; \"0.0.0.0:8080\": the phone page)
    remote.osc_listen \"\" (off; UDP for OSC)   remote.pin \"\" (none)   remote.hosts []
    display.i2c \"\" (off; \"/dev/i2c-1\": an SSD1306 OLED)   display.address 60
    display.rotate_180 false   display.max_fps 10
";

#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    Run,
    Play {
        song: String,
        once: bool,
        /// `--speed` (percent) and `--pitch` (semitones), when either is given.
        tempo: Option<(f32, f32)>,
    },
    /// `decode`: decode every stem to find damage inside the files (not `--quick`).
    Check {
        decode: bool,
    },
    Help,
    Version,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Args {
    pub mode: Mode,
    pub config: PathBuf,
    pub stats_json: bool,
}

/// Parses `args` (without the program name). The error is a one-line usage message.
pub fn parse(args: &[String]) -> Result<Args, String> {
    let mut mode_word: Option<&str> = None;
    let mut config = None;
    let mut song = None;
    let mut once = false;
    let mut quick = false;
    let mut speed: Option<f32> = None;
    let mut pitch: Option<f32> = None;
    let mut stats_json = false;
    let mut positional = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--help" | "-h" | "help" => {
                return Ok(Args {
                    mode: Mode::Help,
                    config: DEFAULT_CONFIG.into(),
                    stats_json,
                })
            }
            "--version" | "-V" => {
                return Ok(Args {
                    mode: Mode::Version,
                    config: DEFAULT_CONFIG.into(),
                    stats_json,
                })
            }
            "--config" | "-c" => {
                config = Some(it.next().ok_or("--config needs a FILE")?.clone());
            }
            "--song" => song = Some(it.next().ok_or("--song needs a NAME")?.clone()),
            "--once" => once = true,
            "--quick" => quick = true,
            "--speed" => {
                let v = it.next().ok_or("--speed needs a PCT (50..150)")?;
                speed = Some(parse_speed_pct(v).map_err(|e| format!("--speed: {e}"))?);
            }
            "--pitch" => {
                let v = it.next().ok_or("--pitch needs SEMITONES (-12..12)")?;
                pitch = Some(parse_pitch_st(v).map_err(|e| format!("--pitch: {e}"))?);
            }
            "--stats-json" => stats_json = true,
            s if s.starts_with("--config=") => config = Some(s["--config=".len()..].to_string()),
            s if s.starts_with("--song=") => song = Some(s["--song=".len()..].to_string()),
            s if s.starts_with('-') => return Err(format!("unknown option {s} (see --help)")),
            s if mode_word.is_none() && positional.is_empty() => match s {
                "run" | "play" | "check" => mode_word = Some(s),
                _ => return Err(format!("unknown command {s} (see --help)")),
            },
            s => positional.push(s.to_string()),
        }
    }
    let config: PathBuf = config.unwrap_or_else(|| DEFAULT_CONFIG.to_string()).into();
    let mode = match mode_word.unwrap_or("run") {
        "run" => Mode::Run,
        "check" => Mode::Check { decode: !quick },
        "play" => Mode::Play {
            song: song.ok_or("play needs --song NAME")?,
            once,
            tempo: (speed.is_some() || pitch.is_some())
                .then(|| (speed.unwrap_or(100.0), pitch.unwrap_or(0.0))),
        },
        _ => unreachable!("mode words are checked above"),
    };
    if let Some(extra) = positional.first() {
        return Err(format!("unexpected argument {extra} (see --help)"));
    }
    if quick && !matches!(mode, Mode::Check { .. }) {
        return Err("--quick goes with check".into());
    }
    if (speed.is_some() || pitch.is_some()) && !matches!(mode, Mode::Play { .. }) {
        return Err("--speed and --pitch go with play".into());
    }
    if once && !matches!(mode, Mode::Play { .. }) {
        return Err("--once goes with play".into());
    }
    Ok(Args {
        mode,
        config,
        stats_json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Args, String> {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn modes() {
        assert_eq!(p("").unwrap().mode, Mode::Run);
        assert_eq!(p("").unwrap().config, PathBuf::from(DEFAULT_CONFIG));
        assert_eq!(
            p("run --config /x.json").unwrap().config,
            PathBuf::from("/x.json")
        );
        assert_eq!(
            p("play --config c.json --song 01-intro --once")
                .unwrap()
                .mode,
            Mode::Play {
                song: "01-intro".into(),
                once: true,
                tempo: None,
            }
        );
        assert_eq!(
            p("play --config c.json --song 2 --once --speed 80 --pitch -1.5")
                .unwrap()
                .mode,
            Mode::Play {
                song: "2".into(),
                once: true,
                tempo: Some((80.0, -1.5)),
            }
        );
        assert_eq!(
            p("play --song 2 --pitch +3").unwrap().mode,
            Mode::Play {
                song: "2".into(),
                once: false,
                tempo: Some((100.0, 3.0)),
            }
        );
        assert_eq!(
            p("check --config=c.json").unwrap().mode,
            Mode::Check { decode: true }
        );
        assert_eq!(
            p("check --quick").unwrap().mode,
            Mode::Check { decode: false }
        );
        assert!(p("play --song x --quick").is_err());
        assert!(
            p("demo-library /tmp/lib").is_err(),
            "a second binary writes it"
        );
        assert!(p("play --song x --force").is_err());
        assert!(p("--stats-json").unwrap().stats_json);
        assert_eq!(p("--help").unwrap().mode, Mode::Help);
    }

    #[test]
    fn usage_errors() {
        assert!(p("play --config c.json").unwrap_err().contains("--song"));
        assert!(p("--bogus").unwrap_err().contains("--bogus"));
        assert!(p("dance").unwrap_err().contains("dance"));
        assert!(p("run --once").unwrap_err().contains("--once"));
        // Hostile speeds and keys are refused with the option's name.
        for bad in [
            "--speed 49.9",
            "--speed 151",
            "--speed NaN",
            "--speed inf",
            "--speed fast",
            "--speed",
            "--pitch 12.5",
            "--pitch -13",
            "--pitch nan",
            "--pitch up",
            "--pitch",
        ] {
            let e = p(&format!("play --song 1 {bad}")).unwrap_err();
            assert!(e.contains(bad.split(' ').next().unwrap()), "{bad}: {e}");
        }
        assert!(p("run --speed 80").unwrap_err().contains("go with play"));
        assert!(p("run --config").unwrap_err().contains("FILE"));
        assert!(p("check extra").unwrap_err().contains("extra"));
    }
}
