//! The console's `stats` line and its JSON twin (`--stats-json`): pure formatting, no I/O.
//!
//! Threads: the **control** thread builds a [`StatsLine`] from the engine's status atomics and,
//! when the latency monitor is on, from a [`Window`] of the monitor
//! ([`MonitorStats::from_window`]), then prints [`StatsLine::to_text`] or
//! [`StatsLine::to_json`]. Nothing here runs on the audio thread.
//!
//! Text format: `stats ` then space-separated `key=value` pairs in a fixed order. Values never
//! contain spaces: in the song name, ASCII control characters, space and `%` are
//! percent-encoded (`03 intro` prints as `03%20intro`; UTF-8 is kept as is), no song prints
//! as `-` (and a song really named `-` as `%2D`), so `split(' ')` then `split_once('=')`
//! parses any line ([`parse_text`] does that and decodes the name). JSON carries the same
//! keys and values, one object per line, with `"song": null` when no song is loaded.
//!
//! With the monitor off the line carries only what needs no timing: `uptime_s song pos_s
//! transport xruns suspends underrun_free_s console_dropped`. With it on, [`TIMING_KEYS`] are added after
//! `xruns`, matching the example in DESIGN.md.

use crate::rt::status::Transport;
use crate::telemetry::monitor::Window;
use core::fmt::Write as _;

/// Keys present only when the latency monitor is on, in line order.
pub const TIMING_KEYS: [&str; 12] = [
    "late",
    "cb_us_p50",
    "cb_us_p99",
    "cb_us_p999",
    "cb_us_max",
    "wake_us_p99",
    "wake_us_p999",
    "wake_us_max",
    "load_pct",
    "load_max_pct",
    "recovery_us_max",
    "periods",
];

/// What the latency monitor adds to a stats line: one window's numbers, in µs and percent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MonitorStats {
    /// Periods whose work took more than 80 % of the period.
    pub late: u64,
    /// Work time (wake-up to `mmap_commit` done) percentiles and maximum, µs.
    pub cb_us_p50: u64,
    pub cb_us_p99: u64,
    pub cb_us_p999: u64,
    pub cb_us_max: u64,
    /// Wake-up lateness p99, p99.9 and maximum, µs.
    pub wake_us_p99: u64,
    pub wake_us_p999: u64,
    pub wake_us_max: u64,
    /// DSP load: average and worst single period, percent of the period time.
    pub load_pct: f64,
    pub load_max_pct: f64,
    /// Worst xrun/suspend recovery (prepare, prefill, start), µs.
    pub recovery_us_max: u64,
    /// Periods measured in the window (how much the percentiles rest on).
    pub periods: u64,
}

impl MonitorStats {
    /// The stats of one monitor window; percentiles are 0 while it has no periods.
    pub fn from_window(w: &Window) -> MonitorStats {
        MonitorStats {
            late: w.late(),
            cb_us_p50: w.work_percentile_us(50.0).unwrap_or(0),
            cb_us_p99: w.work_percentile_us(99.0).unwrap_or(0),
            cb_us_p999: w.work_percentile_us(99.9).unwrap_or(0),
            cb_us_max: w.work_max_us(),
            wake_us_p99: w.wake_percentile_us(99.0).unwrap_or(0),
            wake_us_p999: w.wake_percentile_us(99.9).unwrap_or(0),
            wake_us_max: w.wake_max_us(),
            load_pct: w.load_avg_pct(),
            load_max_pct: w.load_max_pct(),
            recovery_us_max: w.recovery_max_us(),
            periods: w.periods(),
        }
    }
}

/// One stats report.
#[derive(Clone, Debug, PartialEq)]
pub struct StatsLine {
    /// Seconds since the process started.
    pub uptime_s: u64,
    /// Folder name of the current song; `None` when none is loaded.
    pub song: Option<String>,
    /// Play head in seconds.
    pub pos_s: f64,
    pub transport: Transport,
    /// ALSA underruns (EPIPE) recovered from.
    pub xruns: u64,
    /// Suspends (ESTRPIPE) recovered from.
    pub suspends: u64,
    /// Seconds since the last xrun, or since start when there was none ([`underrun_free_s`]).
    pub underrun_free_s: u64,
    /// Console lines dropped because nobody read stdout
    /// ([`crate::hw::console::dropped_lines`]).
    pub console_dropped: u64,
    /// `Some` exactly when `audio.enable_latency_monitor` is on.
    pub monitor: Option<MonitorStats>,
    /// The output device is gone and being reopened.
    pub device_lost: bool,
    /// Times the device was lost (or absent at start) since start.
    pub device_losses: u64,
    /// Periods where playback reached audio not decoded yet (progressive loading).
    pub load_underruns: u64,
    /// Periods where the stretch worker was late and the output faded to silence.
    pub stretch_underruns: u64,
    /// Milliseconds from asking for the current song to the engine taking it, playable;
    /// `None` (`-`) until a song was asked for since start.
    pub load_ms: Option<u64>,
    /// Decoded audio the current song holds, and all loaded songs together, in MB.
    pub song_ram_mb: f64,
    pub ram_mb: f64,
}

/// Seconds without an underrun at `now_ns`: since the last xrun (`last_xrun_ns`, 0 = none),
/// or since `start_ns` when there was none. All CLOCK_MONOTONIC ns
/// ([`crate::telemetry::monitor::now_ns`]).
pub fn underrun_free_s(now_ns: u64, start_ns: u64, last_xrun_ns: u64) -> u64 {
    let since = if last_xrun_ns == 0 {
        start_ns
    } else {
        last_xrun_ns
    };
    now_ns.saturating_sub(since) / 1_000_000_000
}

/// A finite float with one decimal (non-finite values print as 0.0, to keep JSON valid).
fn one_decimal(v: f64) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    // Avoid "-0.0" for tiny negatives.
    let s = format!("{v:.1}");
    if s == "-0.0" {
        "0.0".into()
    } else {
        s
    }
}

/// Percent-encodes what would break `key=value` parsing: controls, space, `%`, DEL, and a
/// lone `-` (which means "no song").
fn escape_song(name: &str) -> String {
    if name == "-" {
        return "%2D".into();
    }
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_control() || c == ' ' || c == '%' {
            let _ = write!(out, "%{:02X}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

fn unescape_song(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// One value of the line: how it prints in text and in JSON.
enum Value<'a> {
    Int(u64),
    Dec(f64),
    Song(Option<&'a str>),
    Word(&'static str),
    /// A count that may not be known yet: `-` / `null`.
    OptInt(Option<u64>),
}

impl StatsLine {
    /// The pairs in line order.
    fn pairs(&self) -> Vec<(&'static str, Value<'_>)> {
        let mut v = vec![
            ("uptime_s", Value::Int(self.uptime_s)),
            ("song", Value::Song(self.song.as_deref())),
            ("pos_s", Value::Dec(self.pos_s)),
            ("transport", Value::Word(self.transport.name())),
            ("xruns", Value::Int(self.xruns)),
        ];
        if let Some(m) = &self.monitor {
            let timing = [
                Value::Int(m.late),
                Value::Int(m.cb_us_p50),
                Value::Int(m.cb_us_p99),
                Value::Int(m.cb_us_p999),
                Value::Int(m.cb_us_max),
                Value::Int(m.wake_us_p99),
                Value::Int(m.wake_us_p999),
                Value::Int(m.wake_us_max),
                Value::Dec(m.load_pct),
                Value::Dec(m.load_max_pct),
                Value::Int(m.recovery_us_max),
                Value::Int(m.periods),
            ];
            v.extend(TIMING_KEYS.into_iter().zip(timing));
        }
        v.push(("suspends", Value::Int(self.suspends)));
        v.push(("underrun_free_s", Value::Int(self.underrun_free_s)));
        v.push(("console_dropped", Value::Int(self.console_dropped)));
        v.push(("load_underruns", Value::Int(self.load_underruns)));
        v.push(("stretch_underruns", Value::Int(self.stretch_underruns)));
        v.push(("load_ms", Value::OptInt(self.load_ms)));
        v.push(("song_ram_mb", Value::Dec(self.song_ram_mb)));
        v.push(("ram_mb", Value::Dec(self.ram_mb)));
        // Only once the device was ever lost, so the everyday line stays as it was.
        if self.device_lost || self.device_losses > 0 {
            let state = if self.device_lost { "lost" } else { "ok" };
            v.push(("device", Value::Word(state)));
            v.push(("device_losses", Value::Int(self.device_losses)));
        }
        v
    }

    /// `stats uptime_s=12 song=03-intro pos_s=41.2 transport=playing xruns=0 ...`, no newline.
    pub fn to_text(&self) -> String {
        let mut out = String::from("stats");
        for (key, value) in self.pairs() {
            let _ = write!(out, " {key}=");
            match value {
                Value::Int(n) => {
                    let _ = write!(out, "{n}");
                }
                Value::Dec(x) => out.push_str(&one_decimal(x)),
                Value::Song(Some(name)) => out.push_str(&escape_song(name)),
                Value::Song(None) => out.push('-'),
                Value::Word(w) => out.push_str(w),
                Value::OptInt(Some(n)) => {
                    let _ = write!(out, "{n}");
                }
                Value::OptInt(None) => out.push('-'),
            }
        }
        out
    }

    /// The same data as one JSON object, no newline: `{"uptime_s":12,"song":"03-intro",...}`,
    /// keys in line order.
    pub fn to_json(&self) -> String {
        struct Object<'a>(Vec<(&'static str, Value<'a>)>);
        impl serde::Serialize for Object<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut map = s.serialize_map(Some(self.0.len()))?;
                for (key, value) in &self.0 {
                    match value {
                        Value::Int(n) => map.serialize_entry(key, n)?,
                        // Rounded as on the text line; the shortest f64 text of that is it.
                        Value::Dec(x) => map
                            .serialize_entry(key, &one_decimal(*x).parse::<f64>().unwrap_or(0.0))?,
                        Value::Song(name) => map.serialize_entry(key, name)?,
                        Value::Word(w) => map.serialize_entry(key, w)?,
                        Value::OptInt(n) => map.serialize_entry(key, n)?,
                    }
                }
                map.end()
            }
        }
        // A map of strings and numbers: this cannot fail.
        serde_json::to_string(&Object(self.pairs())).unwrap_or_default()
    }
}

/// Parses a text stats line into `(key, value)` pairs, decoding the song name (`None` for
/// `-`, i.e. no song, is returned as an empty value). Returns `None` if `line` is not a stats
/// line. For tests and scripts; the control thread only prints.
pub fn parse_text(line: &str) -> Option<Vec<(String, String)>> {
    let rest = line.trim_end().strip_prefix("stats ")?;
    let mut pairs = Vec::new();
    for field in rest.split(' ').filter(|f| !f.is_empty()) {
        let (key, value) = field.split_once('=')?;
        let value = if key == "song" {
            if value == "-" {
                String::new()
            } else {
                unescape_song(value)?
            }
        } else {
            value.to_string()
        };
        pairs.push((key.to_string(), value));
    }
    Some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::monitor::{MonitorRt, MonitorShared};
    use std::sync::Arc;

    fn line(monitor: Option<MonitorStats>) -> StatsLine {
        StatsLine {
            uptime_s: 12,
            song: Some("03-intro".into()),
            pos_s: 41.234,
            transport: Transport::Playing,
            xruns: 0,
            suspends: 0,
            underrun_free_s: 12,
            console_dropped: 3,
            monitor,
            device_lost: false,
            device_losses: 0,
            load_underruns: 2,
            stretch_underruns: 1,
            load_ms: Some(37),
            song_ram_mb: 368.64,
            ram_mb: 1105.9,
        }
    }

    #[test]
    fn device_keys_appear_once_the_device_was_lost() {
        let mut l = line(None);
        assert!(!l.to_text().contains("device"), "{}", l.to_text());
        l.device_lost = true;
        l.device_losses = 1;
        assert!(l.to_text().ends_with(" device=lost device_losses=1"));
        assert!(l
            .to_json()
            .ends_with(r#","device":"lost","device_losses":1}"#));
        l.device_lost = false;
        l.device_losses = u64::MAX;
        let text = l.to_text();
        assert!(text.ends_with(&format!(" device=ok device_losses={}", u64::MAX)));
        let pairs = parse_text(&text).unwrap();
        assert_eq!(pairs[pairs.len() - 2], ("device".into(), "ok".into()));
    }

    fn timing() -> MonitorStats {
        MonitorStats {
            late: 0,
            cb_us_p50: 18,
            cb_us_p99: 31,
            cb_us_p999: 40,
            cb_us_max: 44,
            wake_us_p99: 12,
            wake_us_p999: 40,
            wake_us_max: 57,
            load_pct: 2.06,
            load_max_pct: 3.3,
            recovery_us_max: 0,
            periods: 9000,
        }
    }

    #[test]
    fn text_with_monitor_off_has_no_timing_keys() {
        assert_eq!(
            line(None).to_text(),
            "stats uptime_s=12 song=03-intro pos_s=41.2 transport=playing xruns=0 suspends=0 \
             underrun_free_s=12 console_dropped=3 load_underruns=2 stretch_underruns=1 load_ms=37 song_ram_mb=368.6 \
             ram_mb=1105.9"
        );
    }

    #[test]
    fn text_with_monitor_on() {
        assert_eq!(
            line(Some(timing())).to_text(),
            "stats uptime_s=12 song=03-intro pos_s=41.2 transport=playing xruns=0 late=0 \
             cb_us_p50=18 cb_us_p99=31 cb_us_p999=40 cb_us_max=44 wake_us_p99=12 wake_us_p999=40 wake_us_max=57 \
             load_pct=2.1 load_max_pct=3.3 recovery_us_max=0 periods=9000 suspends=0 \
             underrun_free_s=12 console_dropped=3 load_underruns=2 stretch_underruns=1 load_ms=37 song_ram_mb=368.6 \
             ram_mb=1105.9"
        );
    }

    #[test]
    fn json_with_monitor_off_and_on() {
        let mut l = line(None);
        l.song = None;
        l.transport = Transport::Stopped;
        assert_eq!(
            l.to_json(),
            r#"{"uptime_s":12,"song":null,"pos_s":41.2,"transport":"stopped","xruns":0,"suspends":0,"underrun_free_s":12,"console_dropped":3,"load_underruns":2,"stretch_underruns":1,"load_ms":37,"song_ram_mb":368.6,"ram_mb":1105.9}"#
        );
        assert_eq!(
            line(Some(timing())).to_json(),
            r#"{"uptime_s":12,"song":"03-intro","pos_s":41.2,"transport":"playing","xruns":0,"late":0,"cb_us_p50":18,"cb_us_p99":31,"cb_us_p999":40,"cb_us_max":44,"wake_us_p99":12,"wake_us_p999":40,"wake_us_max":57,"load_pct":2.1,"load_max_pct":3.3,"recovery_us_max":0,"periods":9000,"suspends":0,"underrun_free_s":12,"console_dropped":3,"load_underruns":2,"stretch_underruns":1,"load_ms":37,"song_ram_mb":368.6,"ram_mb":1105.9}"#
        );
    }

    #[test]
    fn json_is_valid_for_awkward_names_and_numbers() {
        let mut l = line(None);
        l.song = Some("a \"b\"\\c\td\u{1}é".into());
        l.pos_s = f64::NAN;
        let j = l.to_json();
        assert!(
            j.contains(r#""song":"a \"b\"\\c\td\u0001é","pos_s":0.0"#),
            "{j}"
        );
        // serde-json-core (already a dependency) parses it back.
        #[derive(serde::Deserialize)]
        struct Back<'a> {
            song: &'a str,
            uptime_s: u64,
        }
        let (back, _): (Back, usize) = serde_json_core::from_str(&j).unwrap();
        assert_eq!(back.uptime_s, 12);
        assert!(back.song.starts_with("a "));
    }

    #[test]
    fn song_names_round_trip_through_text() {
        for name in [
            "03 intro",
            "100%",
            "-",
            "a=b",
            "tab\there",
            "Café del mar",
            "x-y_z",
        ] {
            let mut l = line(Some(timing()));
            l.song = Some(name.into());
            let text = l.to_text();
            assert_eq!(
                text.matches(' ').count(),
                1 + 5 + TIMING_KEYS.len() + 2 + 5,
                "{text}"
            );
            let pairs = parse_text(&text).unwrap();
            assert_eq!(pairs[1], ("song".to_string(), name.to_string()), "{text}");
        }
        assert!(line(None).to_text().contains(" song=03-intro "));
        let mut none = line(None);
        none.song = None;
        assert!(none.to_text().contains(" song=- "));
        assert_eq!(parse_text(&none.to_text()).unwrap()[1].1, "");
        assert_eq!(parse_text("ready"), None);
    }

    #[test]
    fn parse_gives_every_key_in_order() {
        let keys: Vec<String> = parse_text(&line(Some(timing())).to_text())
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let mut want = vec!["uptime_s", "song", "pos_s", "transport", "xruns"];
        want.extend(TIMING_KEYS);
        want.extend(["suspends", "underrun_free_s", "console_dropped"]);
        want.extend([
            "load_underruns",
            "stretch_underruns",
            "load_ms",
            "song_ram_mb",
            "ram_mb",
        ]);
        assert_eq!(keys, want);
    }

    #[test]
    fn load_ms_unknown_is_a_dash_and_null() {
        let mut l = line(None);
        l.load_ms = None;
        assert!(l.to_text().contains(" load_ms=- "), "{}", l.to_text());
        assert!(l.to_json().contains(r#""load_ms":null"#));
        // Hostile sizes do not break the line: NaN RAM is 0, huge counts print whole.
        l.song_ram_mb = f64::NAN;
        l.load_underruns = u64::MAX;
        let pairs = parse_text(&l.to_text()).unwrap();
        assert!(pairs.contains(&("load_underruns".into(), u64::MAX.to_string())));
        assert!(serde_json::from_str::<serde_json::Value>(&l.to_json()).is_ok());
    }

    #[test]
    fn monitor_stats_from_a_window() {
        let shared = Arc::new(MonitorShared::new());
        let mut rt = MonitorRt::new(shared.clone(), 256, 48_000); // 5333 µs periods
        let base = shared.reset_window();
        let mut t = 1_000_000_000u64;
        for i in 0..1000u64 {
            t += 5_333_333;
            rt.wake(t, 256);
            // 999 periods of 100 µs, one of 4500 µs (late: > 4266 µs).
            let work = if i == 500 { 4_500_000 } else { 100_000 };
            rt.committed(t + work);
        }
        rt.recovered(1_234_567);
        let m = MonitorStats::from_window(&shared.snapshot().since(&base));
        assert_eq!(m.periods, 1000);
        assert_eq!((m.cb_us_p50, m.cb_us_p99, m.cb_us_p999), (100, 100, 100));
        assert_eq!(m.cb_us_max, 4500);
        assert_eq!(m.late, 1);
        assert_eq!((m.wake_us_p99, m.wake_us_p999, m.wake_us_max), (0, 0, 0));
        assert_eq!(m.recovery_us_max, 1234);
        let avg = (999.0 * 100.0 + 4500.0) / 1000.0 / 5333.333 * 100.0;
        assert!((m.load_pct - avg).abs() < 0.01, "{} vs {avg}", m.load_pct);
        assert!((m.load_max_pct - 84.375).abs() < 0.01, "{}", m.load_max_pct);
    }

    #[test]
    fn underrun_free_time() {
        let s = 1_000_000_000;
        assert_eq!(underrun_free_s(s + 12_500_000_000, s, 0), 12);
        assert_eq!(
            underrun_free_s(s + 12_500_000_000, s, s + 10_000_000_000),
            2
        );
        assert_eq!(underrun_free_s(s, s + 1, 0), 0);
    }
}
