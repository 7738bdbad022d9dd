//! OSC to console lines and state to OSC, both pure: [`decode_packet`] turns a datagram into
//! messages (bundles flattened, bounded), [`parse`] / [`to_line`] turn a message into one
//! line of the console's grammar, and [`feedback`] turns what control published into the
//! messages a subscribed control surface is sent. The `stembox-osc` thread
//! ([`super::thread`]) does the I/O around them.
//!
//! The address space mirrors the actions; see the table in [`super`]. Names taken from an
//! address or a string argument (stems, buses, songs, sections) are checked before they go
//! into a line: no control characters (a newline would start a second command), no OSC
//! pattern characters (`*?[]{}`: one message is exactly one command), not blank, and short
//! enough for the console's line limit. A name may contain spaces and `/`: the console
//! takes the rest of the line as the name (or, for `gain`, `pan` and `bus`, all but the
//! last word).
//!
//! Trigger addresses (`/stembox/play`, `/stembox/next`, ...) act on no argument or a true
//! one (int or float not 0, `T`) and ignore a false one: a control surface's push button
//! sends 1 on press and 0 on release, and the release must not skip a second song.

use crate::remote::view::{LiveView, SongView, StemMix};
use rosc::{OscMessage, OscPacket, OscType};
use std::fmt;
use std::net::SocketAddr;

/// Largest datagram taken; anything longer is refused unread (UDP over IPv4 carries at most
/// 65,507 bytes anyway).
pub const MAX_PACKET_BYTES: usize = 64 * 1024;
/// Deepest bundle nesting taken (a bundle in a bundle is depth 2). Real senders use 1.
pub const MAX_BUNDLE_DEPTH: usize = 8;
/// Most messages one datagram may carry, all bundles counted.
pub const MAX_MESSAGES_PER_PACKET: usize = 64;
/// Longest stem, bus, song or section name taken (the console line must stay under its
/// 512-byte limit with the command word and a value).
pub const MAX_NAME_BYTES: usize = 256;

/// The prefix of every stembox address.
pub const PREFIX: &str = "/stembox";

/// What went wrong with a packet, a message or the OSC thread. `Display` is one line.
#[derive(Debug)]
pub enum OscError {
    /// A datagram longer than [`MAX_PACKET_BYTES`].
    TooLarge { bytes: usize },
    /// Bundles nested deeper than [`MAX_BUNDLE_DEPTH`].
    TooDeep,
    /// More than [`MAX_MESSAGES_PER_PACKET`] messages in one datagram.
    TooManyMessages,
    /// Bundle element sizes that do not fit the datagram.
    BadBundle,
    /// Bytes left over after the packet.
    TrailingBytes { bytes: usize },
    /// rosc could not decode the packet.
    Decode(rosc::OscError),
    /// Not a stembox address.
    UnknownAddress(String),
    /// The address is known; its arguments are not what it takes.
    BadArgs { addr: String, why: String },
    /// A name (stem, bus, song, section) that cannot go into a command.
    BadName { addr: String, why: String },
    /// The UDP socket could not be bound (or set up) at `addr`.
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The thread could not be started.
    Spawn(std::io::Error),
}

impl fmt::Display for OscError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OscError::TooLarge { bytes } => write!(
                f,
                "an OSC packet of {bytes} bytes; at most {MAX_PACKET_BYTES}"
            ),
            OscError::TooDeep => write!(f, "OSC bundles nested more than {MAX_BUNDLE_DEPTH} deep"),
            OscError::TooManyMessages => write!(
                f,
                "more than {MAX_MESSAGES_PER_PACKET} OSC messages in one packet"
            ),
            OscError::BadBundle => write!(f, "an OSC bundle element does not fit its bundle"),
            OscError::TrailingBytes { bytes } => {
                write!(f, "{bytes} bytes after the end of the OSC packet")
            }
            OscError::Decode(e) => write!(f, "{e}"),
            OscError::UnknownAddress(a) => write!(
                f,
                "unknown address {} (see the README's OSC address space)",
                shown(a)
            ),
            OscError::BadArgs { addr, why } => write!(f, "{}: {why}", shown(addr)),
            OscError::BadName { addr, why } => write!(f, "{}: {why}", shown(addr)),
            OscError::Bind { addr, source } => write!(
                f,
                "remote.osc_listen {addr}: cannot listen there: {source} (is the address this \
                 box's, and the port free?)"
            ),
            OscError::Spawn(e) => write!(f, "cannot start the stembox-osc thread: {e}"),
        }
    }
}

impl std::error::Error for OscError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OscError::Decode(e) => Some(e),
            OscError::Bind { source, .. } => Some(source),
            OscError::Spawn(e) => Some(e),
            _ => None,
        }
    }
}

/// At most 64 chars of something a client sent, for a message.
fn shown(s: &str) -> String {
    let mut t: String = s
        .chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > 64 {
        t.push('…');
    }
    t
}

/// Decodes one datagram into its messages, in order, bundles flattened (their time tags
/// are not honoured: everything acts at once). Malformed, too large, too deep or too many
/// messages: an error, and nothing of the packet is used.
pub fn decode_packet(bytes: &[u8]) -> Result<Vec<OscMessage>, OscError> {
    if bytes.len() > MAX_PACKET_BYTES {
        return Err(OscError::TooLarge { bytes: bytes.len() });
    }
    // rosc decodes nested bundles by recursion with no limit: measure the nesting first,
    // without recursion, so a hostile packet cannot exhaust the thread's stack.
    check_shape(bytes)?;
    let (rest, packet) = rosc::decoder::decode_udp(bytes).map_err(OscError::Decode)?;
    if !rest.is_empty() {
        return Err(OscError::TrailingBytes { bytes: rest.len() });
    }
    let mut out = Vec::new();
    let mut stack = vec![packet];
    // Depth-first, keeping the packet's order.
    while let Some(p) = stack.pop() {
        match p {
            OscPacket::Message(m) => {
                if out.len() == MAX_MESSAGES_PER_PACKET {
                    return Err(OscError::TooManyMessages);
                }
                out.push(m);
            }
            OscPacket::Bundle(b) => stack.extend(b.content.into_iter().rev()),
        }
    }
    Ok(out)
}

const BUNDLE_TAG: &[u8; 8] = b"#bundle\0";
/// `#bundle\0` and the 8-byte time tag.
const BUNDLE_HEADER_BYTES: usize = 16;

fn is_bundle(b: &[u8]) -> bool {
    b.len() >= BUNDLE_HEADER_BYTES && b.starts_with(BUNDLE_TAG)
}

/// Walks the bundle structure with an explicit stack: depth within [`MAX_BUNDLE_DEPTH`],
/// messages within [`MAX_MESSAGES_PER_PACKET`], element sizes within their bundle.
fn check_shape(bytes: &[u8]) -> Result<(), OscError> {
    if !is_bundle(bytes) {
        return Ok(());
    }
    // Per open bundle: (offset of its next element, end of its content).
    let mut open: Vec<(usize, usize)> = vec![(BUNDLE_HEADER_BYTES, bytes.len())];
    let mut messages = 0usize;
    while let Some(top) = open.last_mut() {
        let (at, end) = *top;
        if at >= end {
            open.pop();
            continue;
        }
        let size_bytes = bytes.get(at..at + 4).filter(|_| at + 4 <= end);
        let Some(size_bytes) = size_bytes else {
            return Err(OscError::BadBundle);
        };
        let size = u32::from_be_bytes([size_bytes[0], size_bytes[1], size_bytes[2], size_bytes[3]])
            as usize;
        let start = at + 4;
        let Some(el_end) = start.checked_add(size).filter(|&e| e <= end) else {
            return Err(OscError::BadBundle);
        };
        top.0 = el_end;
        if is_bundle(&bytes[start..el_end]) {
            if open.len() >= MAX_BUNDLE_DEPTH {
                return Err(OscError::TooDeep);
            }
            open.push((start + BUNDLE_HEADER_BYTES, el_end));
        } else {
            messages += 1;
            if messages > MAX_MESSAGES_PER_PACKET {
                return Err(OscError::TooManyMessages);
            }
        }
    }
    Ok(())
}

/// What one incoming message asks of the OSC thread.
#[derive(Clone, Debug, PartialEq)]
pub enum Incoming {
    /// A console line for control.
    Line(String),
    /// Nothing to do (a push button's release).
    Nothing,
    /// Send state to the sender: at its own address, or at `port` on its host (for control
    /// surfaces that listen on another port than they send from, like TouchOSC).
    Subscribe {
        port: Option<u16>,
    },
    Unsubscribe,
}

/// Classifies one message: subscription or a console line ([`to_line`]).
pub fn parse(msg: &OscMessage) -> Result<Incoming, OscError> {
    let bad = |why: &str| OscError::BadArgs {
        addr: msg.addr.clone(),
        why: why.to_string(),
    };
    match msg.addr.strip_prefix(PREFIX) {
        Some("/subscribe") => match msg.args.as_slice() {
            [] => Ok(Incoming::Subscribe { port: None }),
            [a] => match number(a) {
                Some(p) if p.fract() == 0.0 && (1.0..=65535.0).contains(&p) => {
                    Ok(Incoming::Subscribe {
                        port: Some(p as u16),
                    })
                }
                _ => Err(bad(
                    "takes no argument or a port number (1..=65535) to send to",
                )),
            },
            _ => Err(bad("takes no argument or a port number")),
        },
        Some("/unsubscribe") => Ok(Incoming::Unsubscribe),
        _ => Ok(match to_line(msg)? {
            Some(line) => Incoming::Line(line),
            None => Incoming::Nothing,
        }),
    }
}

/// A number argument of any OSC numeric type.
fn number(a: &OscType) -> Option<f64> {
    match a {
        OscType::Int(v) => Some(*v as f64),
        OscType::Long(v) => Some(*v as f64),
        OscType::Float(v) => Some(*v as f64),
        OscType::Double(v) => Some(*v),
        _ => None,
    }
    .filter(|v| v.is_finite())
}

/// A flag argument: int 0/1, float (0.5 and above is on: a fader or a button's 0..1), or
/// `T`/`F`.
fn flag(a: &OscType) -> Option<bool> {
    match a {
        OscType::Bool(b) => Some(*b),
        OscType::Int(0) | OscType::Long(0) => Some(false),
        OscType::Int(1) | OscType::Long(1) => Some(true),
        OscType::Float(_) | OscType::Double(_) => match number(a) {
            Some(v) if (0.0..=1.0).contains(&v) => Some(v >= 0.5),
            _ => None,
        },
        _ => None,
    }
}

/// A value for the console: shortest decimal that reads back as the same `f32` (never an
/// exponent, which the console's parsers would take too, but a person reads worse).
fn value(v: f64) -> String {
    format!("{}", v as f32)
}

/// A name checked for a console line: trimmed, not blank, no control or pattern characters,
/// at most [`MAX_NAME_BYTES`].
fn name<'a>(addr: &str, raw: &'a str, what: &str) -> Result<&'a str, OscError> {
    let bad = |why: String| OscError::BadName {
        addr: addr.to_string(),
        why,
    };
    let n = raw.trim();
    if n.is_empty() {
        return Err(bad(format!("a {what} name is needed")));
    }
    if n.len() > MAX_NAME_BYTES {
        return Err(bad(format!(
            "a {what} name of {} bytes; at most {MAX_NAME_BYTES}",
            n.len()
        )));
    }
    if n.chars().any(char::is_control) {
        return Err(bad(format!(
            "a {what} name may not contain control characters"
        )));
    }
    if n.contains(['*', '?', '[', ']', '{', '}']) {
        return Err(bad(format!(
            "OSC address patterns (*?[]{{}}) are not supported; name one {what}"
        )));
    }
    Ok(n)
}

/// Maps one message to exactly one console line; `Ok(None)` for a trigger's release (see
/// the module doc). Pure. The console checks the values' ranges and answers (the reply
/// goes back as `/stembox/reply`); this checks types, names and the shape of the address.
pub fn to_line(msg: &OscMessage) -> Result<Option<String>, OscError> {
    let addr = msg.addr.as_str();
    let args = msg.args.as_slice();
    let bad = |why: &str| OscError::BadArgs {
        addr: addr.to_string(),
        why: why.to_string(),
    };
    let Some(path) = addr.strip_prefix(PREFIX).filter(|p| p.starts_with('/')) else {
        return Err(OscError::UnknownAddress(addr.to_string()));
    };
    // A trigger: no argument or a true one acts, a false one is a release.
    let trigger = |line: &str| -> Result<Option<String>, OscError> {
        match args {
            [] => Ok(Some(line.to_string())),
            [a] => match flag(a).or_else(|| number(a).map(|v| v != 0.0)) {
                Some(true) => Ok(Some(line.to_string())),
                Some(false) => Ok(None),
                None => Err(bad("takes no argument (or 1 to act, 0 to ignore)")),
            },
            _ => Err(bad("takes no argument")),
        }
    };
    let one_number = |what: &str| -> Result<String, OscError> {
        match args {
            [a] => number(a)
                .map(value)
                .ok_or_else(|| bad(&format!("takes one number ({what})"))),
            _ => Err(bad(&format!("takes one number ({what})"))),
        }
    };
    // `song 3` / `song <name>`: an int (or a whole float) is a setlist number.
    let reference = |word: &str| -> Result<String, OscError> {
        match args {
            [OscType::String(s)] => Ok(format!("{word} {}", name(addr, s, word)?)),
            [a] => match number(a) {
                Some(n) if n.fract() == 0.0 && n >= 1.0 && n <= u32::MAX as f64 => {
                    Ok(format!("{word} {}", n as u64))
                }
                _ => Err(bad("takes a number (1 = first) or a name")),
            },
            _ => Err(bad("takes a number (1 = first) or a name")),
        }
    };
    let line = match path {
        "/play" => return trigger("play"),
        "/pause" => return trigger("pause"),
        "/stop" => return trigger("stop"),
        "/next" => return trigger("next"),
        "/prev" => return trigger("prev"),
        "/next/section" => return trigger("next section"),
        "/prev/section" => return trigger("prev section"),
        "/status" => return trigger("status"),
        "/countin" => return trigger("countin"),
        "/loop/off" => return trigger("loop off"),
        "/loop/on" => return trigger("loop on"),
        "/loop/a" => return trigger("loop a"),
        "/loop/b" => return trigger("loop b"),
        "/volume/up" => return trigger("volume up"),
        "/volume/down" => return trigger("volume down"),
        "/speed/up" => return trigger("speed up"),
        "/speed/down" => return trigger("speed down"),
        "/pitch/up" => return trigger("pitch up"),
        "/pitch/down" => return trigger("pitch down"),
        "/song" => reference("song")?,
        "/section" => reference("section")?,
        "/volume" => format!("volume {}", one_number("dB")?),
        "/seek" => format!("seek {}", one_number("seconds")?),
        "/speed" if args.is_empty() => "speed".into(),
        "/speed" => format!("speed {}", one_number("percent")?),
        "/pitch" if args.is_empty() => "pitch".into(),
        "/pitch" => format!("pitch {}", one_number("semitones")?),
        "/click" => match args {
            [] => "click".into(),
            [a] => match flag(a) {
                Some(true) => "click on".into(),
                Some(false) => "click off".into(),
                None => return Err(bad("takes 0 or 1 (no argument toggles)")),
            },
            _ => return Err(bad("takes 0 or 1 (no argument toggles)")),
        },
        "/mix" => match args {
            [] => "mix".into(),
            [OscType::String(s)] if s.eq_ignore_ascii_case("stems") => "mix stems".into(),
            [OscType::String(s)] if s.eq_ignore_ascii_case("master") => "mix master".into(),
            _ => return Err(bad("takes \"stems\" or \"master\" (no argument toggles)")),
        },
        "/loop" => match args {
            [a, b] => match (number(a), number(b)) {
                (Some(a), Some(b)) => format!("loop {} {}", value(a), value(b)),
                _ => return Err(bad("takes two numbers: start and end in seconds")),
            },
            _ => return Err(bad("takes two numbers: start and end in seconds")),
        },
        "/loop/ramp" => {
            let usage = "takes start %, step %, optional end % and optional countin 0|1";
            let (nums, countin) = match args {
                [s, t] => (vec![s, t], false),
                [s, t, e] => (vec![s, t, e], false),
                [s, t, e, c] => match flag(c) {
                    Some(c) => (vec![s, t, e], c),
                    None => return Err(bad(usage)),
                },
                _ => return Err(bad(usage)),
            };
            let mut line = String::from("loop ramp");
            for n in nums {
                let v = number(n).ok_or_else(|| bad(usage))?;
                line.push(' ');
                line.push_str(&value(v));
            }
            if countin {
                line.push_str(" countin");
            }
            line
        }
        p => {
            if let Some(rest) = p.strip_prefix("/stem/") {
                stem_line(addr, rest, args)?
            } else if let Some(rest) = p.strip_prefix("/bus/") {
                let Some(bus) = rest.strip_suffix("/gain") else {
                    return Err(OscError::UnknownAddress(addr.to_string()));
                };
                let bus = name(addr, bus, "bus")?;
                format!("bus {bus} {}", one_number("dB")?)
            } else {
                return Err(OscError::UnknownAddress(addr.to_string()));
            }
        }
    };
    Ok(Some(line))
}

/// `/stembox/stem/<name>/<what>`: the name is all between `/stem/` and the last `/`.
fn stem_line(addr: &str, rest: &str, args: &[OscType]) -> Result<String, OscError> {
    let bad = |why: &str| OscError::BadArgs {
        addr: addr.to_string(),
        why: why.to_string(),
    };
    let Some((stem, what)) = rest.rsplit_once('/') else {
        return Err(OscError::UnknownAddress(addr.to_string()));
    };
    let stem = name(addr, stem, "stem")?;
    let number_arg = |what: &str| match args {
        [a] => number(a)
            .map(value)
            .ok_or_else(|| bad(&format!("takes one number ({what})"))),
        _ => Err(bad(&format!("takes one number ({what})"))),
    };
    let set = |on: &str, off: &str, toggle: &str| match args {
        [] => Ok(format!("{toggle} {stem}")),
        [a] => match flag(a) {
            Some(true) => Ok(format!("{on} {stem}")),
            Some(false) => Ok(format!("{off} {stem}")),
            None => Err(bad("takes 0 or 1 (no argument toggles)")),
        },
        _ => Err(bad("takes 0 or 1 (no argument toggles)")),
    };
    match what {
        "mute" => set("mute", "unmute", "toggle"),
        // `solo` toggles in the console; a 1 for a stem already soloed is caught by
        // [`already_so`] before it is sent.
        "solo" => set("solo", "unsolo", "solo"),
        "gain" => Ok(format!("gain {stem} {}", number_arg("dB")?)),
        "pan" => Ok(format!("pan {stem} {}", number_arg("-1 left .. 1 right")?)),
        _ => Err(OscError::UnknownAddress(addr.to_string())),
    }
}

/// The answer for a message that asks for what already holds and would otherwise flip it:
/// `/stembox/stem/<name>/solo 1` for a soloed stem (the console's `solo` toggles). `None`:
/// send the line. Pure.
pub fn already_so(msg: &OscMessage, live: &LiveView) -> Option<String> {
    let rest = msg.addr.strip_prefix(PREFIX)?.strip_prefix("/stem/")?;
    let stem = rest.strip_suffix("/solo")?.trim();
    let [a] = msg.args.as_slice() else {
        return None;
    };
    if flag(a) != Some(true) {
        return None;
    }
    live.stems
        .iter()
        .find(|s| s.name == stem && s.solo)
        .map(|s| format!("ok: {} is soloed already", s.name))
}

fn msg(addr: impl Into<String>, args: Vec<OscType>) -> OscMessage {
    OscMessage {
        addr: addr.into(),
        args,
    }
}

/// The reply line of a request, for its sender.
pub fn reply(line: &str) -> OscMessage {
    msg(
        format!("{PREFIX}/reply"),
        vec![OscType::String(line.to_string())],
    )
}

/// The play head message (the thread sends it at most [`super::thread::POS_INTERVAL`]
/// apart).
pub fn pos(pos_s: f64) -> OscMessage {
    msg(format!("{PREFIX}/pos"), vec![OscType::Float(pos_s as f32)])
}

/// Whether `m` is the play head message of [`pos`].
pub fn is_pos(m: &OscMessage) -> bool {
    m.addr.strip_prefix(PREFIX) == Some("/pos")
}

fn int(v: impl TryInto<i32>) -> OscType {
    OscType::Int(v.try_into().unwrap_or(i32::MAX))
}

fn text(s: &str) -> OscType {
    OscType::String(s.to_string())
}

/// The section playing at `pos_s` (`""` between sections).
fn section_at(song: &SongView, pos_s: f64) -> &str {
    song.sections
        .iter()
        .rev()
        .find(|s| s.start_s <= pos_s && pos_s < s.end_s)
        .map_or("", |s| s.name.as_str())
}

/// Bar and beat (1-based) at `pos_s` from the song's tempo map; `None` without a tempo.
pub fn bar_beat_at(song: &SongView, pos_s: f64) -> Option<(u32, u32)> {
    let i = song
        .tempo
        .partition_point(|t| t.at_s <= pos_s)
        .checked_sub(1)?;
    let t = &song.tempo[i];
    if t.bpm.is_nan() || t.bpm <= 0.0 || t.beats_per_bar == 0 || t.beat_unit == 0 {
        return None;
    }
    let beat_s = 60.0 / t.bpm * 4.0 / t.beat_unit as f64;
    let beats = ((pos_s - t.at_s) / beat_s).floor().max(0.0);
    if !beats.is_finite() || beats > u32::MAX as f64 {
        return None;
    }
    let beats = beats as u64;
    let per_bar = t.beats_per_bar as u64;
    let bar = (t.bar as u64 + beats / per_bar).min(u32::MAX as u64) as u32;
    Some((bar, (beats % per_bar) as u32 + 1))
}

/// What a subscriber is sent when `now` follows `prev` (everything when `prev` is `None`:
/// a new subscriber, or a new song view). Only what changed, in a fixed order. Pure; the
/// thread sends `/stembox/pos` apart, at most 10 times a second.
///
/// `/stembox/transport s`, `/stembox/pos f`, `/stembox/song i s` (number, title),
/// `/stembox/stem/<name>/{mute,solo} i`, `.../{gain,pan} f`, `/stembox/bus/<name>/gain f`,
/// `/stembox/volume f`, `/stembox/speed f`, `/stembox/pitch f`, `/stembox/click i`,
/// `/stembox/countin i`, `/stembox/loop/on i`, `/stembox/loop/a f`, `/stembox/loop/b f`,
/// `/stembox/section s`, `/stembox/bar i`, `/stembox/beat i`, `/stembox/lyric s`,
/// `/stembox/lyric/next s`, `/stembox/chord s`, `/stembox/xruns i`.
pub fn feedback(prev: Option<&LiveView>, now: &LiveView, song: &SongView) -> Vec<OscMessage> {
    let mut out = Vec::new();
    let mut changed = |differs: bool, addr: String, args: Vec<OscType>| {
        if differs {
            out.push(msg(addr, args));
        }
    };
    let all = prev.is_none();
    let p = prev.unwrap_or(now);
    let a = |s: &str| format!("{PREFIX}{s}");
    changed(
        all || p.transport != now.transport,
        a("/transport"),
        vec![text(&now.transport)],
    );
    changed(
        all || p.pos_s != now.pos_s,
        a("/pos"),
        vec![OscType::Float(now.pos_s as f32)],
    );
    let title = if song.title.is_empty() {
        &song.name
    } else {
        &song.title
    };
    changed(
        all || p.song != now.song,
        a("/song"),
        vec![int(now.song), text(title)],
    );
    for s in &now.stems {
        let before: Option<&StemMix> = p.stems.iter().find(|b| b.name == s.name);
        let new = all || before.is_none();
        let b = before.unwrap_or(s);
        let base = format!("{PREFIX}/stem/{}", s.name);
        changed(
            new || b.mute != s.mute,
            format!("{base}/mute"),
            vec![int(s.mute as i32)],
        );
        changed(
            new || b.solo != s.solo,
            format!("{base}/solo"),
            vec![int(s.solo as i32)],
        );
        changed(
            new || b.gain_db != s.gain_db,
            format!("{base}/gain"),
            vec![OscType::Float(s.gain_db)],
        );
        changed(
            new || b.pan != s.pan,
            format!("{base}/pan"),
            vec![OscType::Float(s.pan)],
        );
    }
    for bus in &now.buses {
        let before = p.buses.iter().find(|b| b.name == bus.name);
        changed(
            all || before.is_none_or(|b| b.gain_db != bus.gain_db),
            format!("{PREFIX}/bus/{}/gain", bus.name),
            vec![OscType::Float(bus.gain_db)],
        );
    }
    changed(
        all || p.volume_db != now.volume_db,
        a("/volume"),
        vec![OscType::Float(now.volume_db)],
    );
    changed(
        all || p.speed_pct != now.speed_pct,
        a("/speed"),
        vec![OscType::Float(now.speed_pct)],
    );
    changed(
        all || p.pitch_st != now.pitch_st,
        a("/pitch"),
        vec![OscType::Float(now.pitch_st)],
    );
    changed(
        all || p.click != now.click,
        a("/click"),
        vec![int(now.click as i32)],
    );
    changed(
        all || p.countin != now.countin,
        a("/countin"),
        vec![int(now.countin as i32)],
    );
    changed(
        all || p.loop_on != now.loop_on,
        a("/loop/on"),
        vec![int(now.loop_on as i32)],
    );
    if let Some(l) = now.loop_a_s {
        changed(
            all || p.loop_a_s != now.loop_a_s,
            a("/loop/a"),
            vec![OscType::Float(l as f32)],
        );
    }
    if let Some(l) = now.loop_b_s {
        changed(
            all || p.loop_b_s != now.loop_b_s,
            a("/loop/b"),
            vec![OscType::Float(l as f32)],
        );
    }
    let section = section_at(song, now.pos_s);
    changed(
        all || section_at(song, p.pos_s) != section,
        a("/section"),
        vec![text(section)],
    );
    let bb = bar_beat_at(song, now.pos_s);
    let bb_before = bar_beat_at(song, p.pos_s);
    if let Some((bar, beat)) = bb {
        changed(
            all || bb_before.map(|b| b.0) != Some(bar),
            a("/bar"),
            vec![int(bar)],
        );
        changed(
            all || bb_before.map(|b| b.1) != Some(beat),
            a("/beat"),
            vec![int(beat)],
        );
    }
    let line = crate::model::lyrics::line_at(&song.lyrics, now.pos_s);
    if all || crate::model::lyrics::line_at(&song.lyrics, p.pos_s) != line {
        let at = |i: Option<usize>| i.and_then(|i| song.lyrics.get(i)).map_or("", |l| &l.text);
        let next = line.map_or(0, |i| i + 1);
        changed(true, a("/lyric"), vec![text(at(line))]);
        changed(true, a("/lyric/next"), vec![text(at(Some(next)))]);
    }
    let chord = crate::model::lyrics::chord_at(&song.chords, now.pos_s);
    changed(
        all || crate::model::lyrics::chord_at(&song.chords, p.pos_s) != chord,
        a("/chord"),
        vec![text(
            chord
                .and_then(|i| song.chords.get(i))
                .map_or("", |c| &c.chord),
        )],
    );
    changed(
        all || p.health.xruns != now.health.xruns,
        a("/xruns"),
        vec![int(now.health.xruns.min(i32::MAX as u64) as i32)],
    );
    out
}

/// Encodes a message for sending; `None` only for a message rosc cannot encode (none that
/// this module builds).
pub fn encode(m: &OscMessage) -> Option<Vec<u8>> {
    rosc::encoder::encode(&OscPacket::Message(m.clone())).ok()
}

#[cfg(test)]
mod tests;
