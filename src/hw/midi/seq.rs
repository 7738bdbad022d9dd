//! The ALSA sequencer seam: a client named `stembox` with one port `stembox`, a real-time
//! queue for timestamps (arrival of input, departure of clock), connections by name, and
//! the decoding of sequencer events into [`MidiEvent`]s. Used by the `stembox-midi` thread and by
//! the `stembox-midi-probe` test client. Everything that needs no sequencer (matching a
//! port by name, decoding an event, queue time to CLOCK_MONOTONIC) is a plain function with
//! unit tests; this build machine has no `/dev/snd/seq`.

use super::clock::ClockMsg;
use super::map::MidiEvent;
use crate::rt::monitor::now_ns;
use alsa::seq::{
    Addr, ClientIter, EvCtrl, EvNote, EvQueueControl, Event, EventType, PortCap, PortInfo,
    PortIter, PortSubscribe, PortType, Seq,
};
use std::ffi::CString;
use std::time::Duration;

/// Whether `pattern` (from `midi.inputs` / `midi.clock_out`) names this port: `"24:0"` is
/// client 24 port 0; anything else is a case-insensitive part of the client's or the
/// port's name.
pub fn port_matches(pattern: &str, addr: Addr, client_name: &str, port_name: &str) -> bool {
    let pattern = pattern.trim();
    if let Some((c, p)) = pattern.split_once(':') {
        if let (Ok(c), Ok(p)) = (c.trim().parse::<i32>(), p.trim().parse::<i32>()) {
            return addr.client == c && addr.port == p;
        }
    }
    if pattern.is_empty() {
        return false;
    }
    let lower = pattern.to_lowercase();
    client_name.to_lowercase().contains(&lower) || port_name.to_lowercase().contains(&lower)
}

/// The controller message in a sequencer event, if it is one and its numbers are MIDI's.
pub fn decode(ev: &Event) -> Option<MidiEvent> {
    let note = || ev.get_data::<EvNote>();
    let ctrl = || ev.get_data::<EvCtrl>();
    match ev.get_type() {
        EventType::Noteon => note()
            .and_then(|n| MidiEvent::note_on(n.channel.into(), n.note.into(), n.velocity.into())),
        EventType::Noteoff => {
            note().and_then(|n| MidiEvent::note_off(n.channel.into(), n.note.into()))
        }
        EventType::Controller => ctrl()
            .and_then(|c| MidiEvent::control(c.channel.into(), c.param.into(), c.value.into())),
        EventType::Pgmchange => {
            ctrl().and_then(|c| MidiEvent::program(c.channel.into(), c.value.into()))
        }
        _ => None,
    }
}

/// A sequencer event for a clock message (timing clock, start, continue, stop, song
/// position pointer), for sending.
pub fn clock_event(msg: ClockMsg) -> Event<'static> {
    let qc = |t| {
        Event::new(
            t,
            &EvQueueControl {
                queue: 0,
                value: (),
            },
        )
    };
    match msg {
        ClockMsg::Clock => qc(EventType::Clock),
        ClockMsg::Start => qc(EventType::Start),
        ClockMsg::Continue => qc(EventType::Continue),
        ClockMsg::Stop => qc(EventType::Stop),
        ClockMsg::SongPosition(spp) => Event::new(
            EventType::Songpos,
            &EvCtrl {
                channel: 0,
                param: 0,
                value: i32::from(spp),
            },
        ),
    }
}

/// The clock message a received event is, if any (the probe's side).
pub fn clock_msg(ev: &Event) -> Option<ClockMsg> {
    Some(match ev.get_type() {
        EventType::Clock => ClockMsg::Clock,
        EventType::Start => ClockMsg::Start,
        EventType::Continue => ClockMsg::Continue,
        EventType::Stop => ClockMsg::Stop,
        EventType::Songpos => ClockMsg::SongPosition(
            ev.get_data::<EvCtrl>()?
                .value
                .clamp(0, i32::from(super::clock::MAX_SPP)) as u16,
        ),
        _ => return None,
    })
}

/// Maps the queue's real time to CLOCK_MONOTONIC: `monotonic = queue + offset`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct QueueClock {
    pub offset_ns: i128,
}

impl QueueClock {
    /// From one reading of the queue's time taken between two monotonic readings.
    pub fn from_reading(mono_before_ns: u64, queue: Duration, mono_after_ns: u64) -> QueueClock {
        let mid = (i128::from(mono_before_ns) + i128::from(mono_after_ns)) / 2;
        QueueClock {
            offset_ns: mid - queue.as_nanos() as i128,
        }
    }

    pub fn to_monotonic(&self, queue: Duration) -> Duration {
        let ns = (queue.as_nanos() as i128 + self.offset_ns).clamp(0, u64::MAX as i128);
        Duration::from_nanos(ns as u64)
    }

    /// The queue time of a monotonic time (0 for one before the queue started).
    pub fn to_queue(&self, mono_ns: u64) -> Duration {
        let ns = (i128::from(mono_ns) - self.offset_ns).clamp(0, u64::MAX as i128);
        Duration::from_nanos(ns as u64)
    }
}

/// A port found by [`Client::ports`].
#[derive(Clone, Debug)]
pub struct PortDesc {
    pub addr: Addr,
    pub client_name: String,
    pub name: String,
    pub caps: PortCap,
}

impl PortDesc {
    /// Others can read from it (a controller: an input for stembox).
    pub fn readable(&self) -> bool {
        self.caps.contains(PortCap::READ | PortCap::SUBS_READ)
    }

    /// Others can write to it (a clock receiver).
    pub fn writable(&self) -> bool {
        self.caps.contains(PortCap::WRITE | PortCap::SUBS_WRITE)
    }
}

/// A sequencer client with one duplex port and a running real-time queue.
pub struct Client {
    pub seq: Seq,
    pub id: i32,
    pub port: i32,
    pub queue: i32,
}

impl Client {
    /// Opens the sequencer (non-blocking) as `name` with a port `name`, and starts a queue.
    /// The kernel stamps every event that arrives at the port with the queue's real time,
    /// on arrival: input latency and clock jitter are measured from those stamps.
    pub fn open(name: &str) -> alsa::Result<Client> {
        let seq = Seq::open(None, None, true)?;
        let cname = CString::new(name).unwrap_or_default();
        seq.set_client_name(&cname)?;
        let queue = seq.alloc_named_queue(&cname)?;
        let mut info = PortInfo::empty()?;
        info.set_name(&cname);
        info.set_capability(
            PortCap::READ | PortCap::SUBS_READ | PortCap::WRITE | PortCap::SUBS_WRITE,
        );
        info.set_type(PortType::MIDI_GENERIC | PortType::APPLICATION);
        info.set_timestamping(true);
        info.set_timestamp_real(true);
        info.set_timestamp_queue(queue);
        seq.create_port(&info)?;
        let port = info.get_port();
        seq.control_queue(queue, EventType::Start, 0, None)?;
        seq.drain_output()?;
        let id = seq.client_id()?;
        Ok(Client {
            seq,
            id,
            port,
            queue,
        })
    }

    pub fn addr(&self) -> Addr {
        Addr {
            client: self.id,
            port: self.port,
        }
    }

    /// Every port of every other client.
    pub fn ports(&self) -> Vec<PortDesc> {
        let mut out = Vec::new();
        for c in ClientIter::new(&self.seq) {
            if c.get_client() == self.id {
                continue;
            }
            let client_name = c.get_name().unwrap_or("").to_string();
            for p in PortIter::new(&self.seq, c.get_client()) {
                out.push(describe(&p, &client_name));
            }
        }
        out
    }

    /// Reads the queue's time now, against CLOCK_MONOTONIC.
    pub fn queue_clock(&self) -> alsa::Result<QueueClock> {
        let before = now_ns();
        let status = self.seq.get_queue_status(self.queue)?;
        let after = now_ns();
        Ok(QueueClock::from_reading(
            before,
            status.get_real_time(),
            after,
        ))
    }

    /// Subscribes `from` -> `to`; with `stamp`, events arrive stamped with our queue's real
    /// time. Already connected counts as done.
    pub fn connect(&self, from: Addr, to: Addr, stamp: bool) -> alsa::Result<()> {
        let sub = PortSubscribe::empty()?;
        sub.set_sender(from);
        sub.set_dest(to);
        if stamp {
            sub.set_queue(self.queue);
            sub.set_time_update(true);
            sub.set_time_real(true);
        }
        match self.seq.subscribe_port(&sub) {
            Err(e) if e.errno() == libc::EBUSY => Ok(()),
            r => r,
        }
    }

    /// Queues `ev` from our port to its subscribers at queue time `at`.
    pub fn send_at(&self, ev: &mut Event, at: Duration) -> alsa::Result<()> {
        ev.set_source(self.port);
        ev.set_subs();
        ev.schedule_real(self.queue, false, at);
        self.seq.event_output(ev).map(|_| ())
    }

    /// Sends `ev` from our port to its subscribers now.
    pub fn send_now(&self, ev: &mut Event) -> alsa::Result<()> {
        ev.set_source(self.port);
        ev.set_subs();
        ev.set_direct();
        self.seq.event_output(ev)?;
        self.seq.drain_output().map(|_| ())
    }

    /// How many ports send to ours (`WRITE` subscriptions) and read from ours (`READ`).
    pub fn subscribers(&self) -> (usize, usize) {
        use alsa::seq::{PortSubscribeIter, QuerySubsType};
        let count = |t| PortSubscribeIter::new(&self.seq, self.addr(), t).count();
        (count(QuerySubsType::WRITE), count(QuerySubsType::READ))
    }

    /// Waits up to `timeout` for input.
    pub fn wait_input(&self, timeout: Duration) -> alsa::Result<()> {
        use alsa::poll::Descriptors;
        let mut fds = (&self.seq, Some(alsa::Direction::Capture)).get()?;
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        alsa::poll::poll(&mut fds, ms)?;
        Ok(())
    }
}

fn describe(p: &PortInfo, client_name: &str) -> PortDesc {
    PortDesc {
        addr: p.addr(),
        client_name: client_name.to_string(),
        name: p.get_name().unwrap_or("").to_string(),
        caps: p.get_capability(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(client: i32, port: i32) -> Addr {
        Addr { client, port }
    }

    #[test]
    fn ports_match_by_number_or_name_part() {
        let a = addr(24, 0);
        assert!(port_matches("24:0", a, "FCB1010", "FCB1010 MIDI 1"));
        assert!(port_matches(" 24 : 0 ", a, "x", "y"));
        assert!(!port_matches("24:1", a, "FCB1010", "FCB1010 MIDI 1"));
        assert!(!port_matches("2:0", a, "FCB1010", "FCB1010 MIDI 1"));
        assert!(port_matches("fcb", a, "FCB1010", "port"));
        assert!(port_matches("MIDI 1", a, "c", "FCB1010 MIDI 1"));
        assert!(!port_matches("Launchpad", a, "FCB1010", "FCB1010 MIDI 1"));
        // Hostile patterns: empty, blank, numbers out of range, a colon in a name.
        assert!(!port_matches("", a, "FCB1010", "p"));
        assert!(!port_matches("   ", a, "FCB1010", "p"));
        assert!(!port_matches("99999999999:0", a, "FCB1010", "p"));
        assert!(port_matches("Midi: Thru", addr(14, 0), "Midi: Thru", "p"));
    }

    #[test]
    fn sequencer_events_decode_with_their_numbers_checked() {
        let note = |t, channel, note, velocity| {
            Event::new(
                t,
                &EvNote {
                    channel,
                    note,
                    velocity,
                    off_velocity: 0,
                    duration: 0,
                },
            )
        };
        let ctrl = |t, channel, param, value| {
            Event::new(
                t,
                &EvCtrl {
                    channel,
                    param,
                    value,
                },
            )
        };
        assert_eq!(
            decode(&note(EventType::Noteon, 9, 36, 100)),
            MidiEvent::note_on(9, 36, 100)
        );
        assert_eq!(
            decode(&note(EventType::Noteon, 9, 36, 0)),
            MidiEvent::note_off(9, 36)
        );
        assert_eq!(
            decode(&note(EventType::Noteoff, 0, 1, 64)),
            MidiEvent::note_off(0, 1)
        );
        assert_eq!(
            decode(&ctrl(EventType::Controller, 1, 64, 127)),
            MidiEvent::control(1, 64, 127)
        );
        assert_eq!(
            decode(&ctrl(EventType::Pgmchange, 0, 0, 4)),
            MidiEvent::program(0, 4)
        );
        // The sequencer's fields are wider than MIDI's: garbage is dropped, not wrapped.
        for ev in [
            note(EventType::Noteon, 16, 1, 1),
            note(EventType::Noteon, 255, 1, 1),
            note(EventType::Noteon, 0, 200, 1),
            note(EventType::Noteon, 0, 1, 128),
            ctrl(EventType::Controller, 0, 128, 1),
            ctrl(EventType::Controller, 0, 1, -1),
            ctrl(EventType::Controller, 0, 1, 128),
            ctrl(EventType::Controller, 0, u32::MAX, 0),
            ctrl(EventType::Pgmchange, 0, 0, 128),
            ctrl(EventType::Pgmchange, 0, 0, i32::MIN),
            ctrl(EventType::Pitchbend, 0, 0, 100),
            clock_event(ClockMsg::Clock),
        ] {
            assert_eq!(decode(&ev), None, "{ev:?}");
        }
    }

    #[test]
    fn clock_messages_round_trip_through_events() {
        for msg in [
            ClockMsg::Clock,
            ClockMsg::Start,
            ClockMsg::Continue,
            ClockMsg::Stop,
            ClockMsg::SongPosition(0),
            ClockMsg::SongPosition(super::super::clock::MAX_SPP),
        ] {
            assert_eq!(clock_msg(&clock_event(msg)), Some(msg));
        }
        let bad = Event::new(
            EventType::Songpos,
            &EvCtrl {
                channel: 0,
                param: 0,
                value: -7,
            },
        );
        assert_eq!(clock_msg(&bad), Some(ClockMsg::SongPosition(0)));
    }

    #[test]
    fn queue_time_maps_to_monotonic_and_back() {
        let q =
            QueueClock::from_reading(10_000_000_000, Duration::from_millis(250), 10_000_002_000);
        assert_eq!(q.offset_ns, 9_750_001_000);
        let mono = q.to_monotonic(Duration::from_millis(300));
        assert_eq!(mono, Duration::from_nanos(10_050_001_000));
        assert_eq!(q.to_queue(10_050_001_000), Duration::from_millis(300));
        // Before the queue started, or beyond any range: clamped, never a panic.
        assert_eq!(q.to_queue(0), Duration::ZERO);
        let far = QueueClock {
            offset_ns: i128::MAX / 2,
        };
        assert_eq!(
            far.to_monotonic(Duration::MAX),
            Duration::from_nanos(u64::MAX)
        );
    }
}
