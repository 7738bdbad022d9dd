//! MIDI: foot controllers in and MIDI clock out, through the ALSA sequencer, on the `midi`
//! thread ([`spawn_midi`]).
//!
//! Pipeline in: [`seq`] (a sequencer client `stembox` with a port `stembox`; events arrive
//! stamped with the real time of its queue) -> [`seq::decode`] ([`map::MidiEvent`], numbers
//! checked) -> [`map::MidiMapper`] (notes and momentary pedals through the buttons' gesture
//! decoder; CC values, ranges, latching pedals, program changes) -> [`MidiMsg::Action`] to
//! the control thread, which carries it out as a button action.
//!
//! Pipeline out: the audio loop publishes when each period will be heard
//! ([`crate::rt::status::AudioClock`]); [`clock::ClockScheduler`] turns that into timed clock
//! messages; they go onto the queue at those times, so their timing does not depend on when
//! this thread wakes, only on the queue's timer (an hrtimer in Debian's kernels).
//!
//! Ports are connected by number or name part (`midi.inputs`, `midi.clock_out`) at start
//! and whenever the sequencer announces a new client or port (system:1), so a controller
//! plugged in later works without a restart. With no sequencer (`/dev/snd/seq` missing:
//! `snd-seq` not loaded) the thread says so in one line and ends; playback is not affected.

pub mod clock;
pub mod map;
pub mod seq;

use crate::hw::input::gesture::{monotonic_now, ButtonEvent};
use crate::rt::status::{EngineStatus, Transport};
use crate::storage::config::{ButtonsConfig, ConfigError, MidiConfig};
use alsa::seq::{Addr, EventType};
use clock::{tempo_of, BeatMap, ClockMsg, ClockScheduler};
use map::{midi_timing, MidiKey, MidiMap, MidiMapper};
use seq::{clock_event, decode, port_matches, Client};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the midi thread tells the control thread.
#[derive(Clone, Debug, PartialEq)]
pub enum MidiMsg {
    /// A note, pedal or program change decided an action.
    Action(ButtonEvent<MidiKey>),
    /// A line worth showing: sequencer missing, port connected or gone, events dropped.
    Notice(String),
}

/// The running midi thread. Dropping it stops and joins the thread.
pub struct MidiThread {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for MidiThread {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Checks the `midi` config and starts the `stembox-midi` thread when inputs or clock outputs are
/// configured (`Ok(None)` otherwise). Main/control thread, at start-up. `status`: the
/// engine's, for the clock; `emit` runs on the midi thread, `false` ends it.
pub fn spawn_midi(
    cfg: &MidiConfig,
    buttons: &ButtonsConfig,
    status: Arc<EngineStatus>,
    emit: impl FnMut(MidiMsg) -> bool + Send + 'static,
) -> Result<Option<MidiThread>, ConfigError> {
    let map = MidiMap::from_config(cfg)?;
    if !cfg.enabled() {
        return Ok(None);
    }
    let mapper = MidiMapper::new(map, midi_timing(buttons));
    let stop = Arc::new(AtomicBool::new(false));
    let cfg = cfg.clone();
    let flag = stop.clone();
    let handle = std::thread::Builder::new()
        .name("stembox-midi".into())
        .spawn(move || run(&cfg, mapper, &status, &flag, emit))
        .map_err(|e| ConfigError {
            message: format!("midi: cannot start the midi thread: {e}"),
        })?;
    Ok(Some(MidiThread {
        stop,
        handle: Some(handle),
    }))
}

/// Ports connected so far.
#[derive(Default)]
struct Links {
    inputs: Vec<Addr>,
    clocks: Vec<Addr>,
}

impl Links {
    /// Connects every port that matches and is not connected yet.
    fn scan(&mut self, client: &Client, cfg: &MidiConfig, emit: &mut dyn FnMut(MidiMsg) -> bool) {
        for p in client.ports() {
            let wanted = |list: &[heapless::String<64>]| {
                list.iter()
                    .any(|pat| port_matches(pat, p.addr, &p.client_name, &p.name))
            };
            let name = format!(
                "{}:{} \"{}\" \"{}\"",
                p.addr.client, p.addr.port, p.client_name, p.name
            );
            if p.readable() && !self.inputs.contains(&p.addr) && wanted(&cfg.inputs) {
                let line = match client.connect(p.addr, client.addr(), true) {
                    Ok(()) => {
                        self.inputs.push(p.addr);
                        format!("midi: reading {name}")
                    }
                    Err(e) => format!("midi: cannot read {name}: {e}"),
                };
                emit(MidiMsg::Notice(line));
            }
            if p.writable() && !self.clocks.contains(&p.addr) && wanted(&cfg.clock_out) {
                let line = match client.connect(client.addr(), p.addr, false) {
                    Ok(()) => {
                        self.clocks.push(p.addr);
                        format!("midi: clock out to {name}")
                    }
                    Err(e) => format!("midi: cannot send clock to {name}: {e}"),
                };
                emit(MidiMsg::Notice(line));
            }
        }
    }

    /// A port (or, with `port` None, a whole client) went away: when it comes back it is
    /// connected again. Whether it was one of ours.
    fn forget(&mut self, client: i32, port: Option<i32>) -> bool {
        let gone = |a: &Addr| a.client == client && port.is_none_or(|p| a.port == p);
        let before = self.inputs.len() + self.clocks.len();
        self.inputs.retain(|a| !gone(a));
        self.clocks.retain(|a| !gone(a));
        before != self.inputs.len() + self.clocks.len()
    }
}

/// How often the queue's time is read against CLOCK_MONOTONIC (the queue's timer and the
/// monotonic clock drift apart by parts per million at most).
const RESYNC: Duration = Duration::from_secs(1);

/// The thread's body.
fn run(
    cfg: &MidiConfig,
    mut mapper: MidiMapper,
    status: &EngineStatus,
    stop: &AtomicBool,
    mut emit: impl FnMut(MidiMsg) -> bool,
) {
    // Checked first: alsa-lib would print its own error line on stderr as well.
    let node = std::path::Path::new("/dev/snd/seq");
    if !node.exists() {
        emit(MidiMsg::Notice(
            "midi: no ALSA sequencer (/dev/snd/seq is missing: load snd-seq); MIDI in and clock out are off".into(),
        ));
        return;
    }
    let client = match Client::open("stembox") {
        Ok(c) => c,
        Err(e) => {
            emit(MidiMsg::Notice(format!(
                "midi: cannot open the ALSA sequencer: {} ({}); MIDI in and clock out are off (is snd-seq loaded, does /dev/snd/seq exist?)",
                crate::rt::device::errno_text(e.errno()),
                e.func()
            )));
            return;
        }
    };
    if let Err(e) = client.connect(Addr::system_announce(), client.addr(), false) {
        emit(MidiMsg::Notice(format!(
            "midi: no announcements ({e}): devices plugged in later are not connected"
        )));
    }
    emit(MidiMsg::Notice(format!(
        "midi: client {}:{} \"stembox\"",
        client.id, client.port
    )));
    let mut links = Links::default();
    links.scan(&client, cfg, &mut emit);
    for (field, list, have) in [
        ("inputs", &cfg.inputs, &links.inputs),
        ("clock_out", &cfg.clock_out, &links.clocks),
    ] {
        if !list.is_empty() && have.is_empty() {
            emit(MidiMsg::Notice(format!(
                "midi: no port matches midi.{field} yet; connected when one appears"
            )));
        }
    }
    let wants_clock = !cfg.clock_out.is_empty();
    status.clock_wanted.store(wants_clock, Relaxed);
    let mut qclock = client.queue_clock().unwrap_or_default();
    let mut synced = Instant::now();
    let mut sched = ClockScheduler::new();
    let mut fired = Vec::with_capacity(16);
    let mut timed = Vec::with_capacity(64);
    let mut send_errors = 0u64;
    let mut dropped_said = Instant::now() - Duration::from_secs(60);
    while !stop.load(Relaxed) {
        let playing = status.transport() == Transport::Playing;
        let mut timeout = match (wants_clock, sched.running() || playing) {
            (true, true) => Duration::from_millis(1),
            (true, false) => Duration::from_millis(5),
            (false, _) => Duration::from_millis(50),
        };
        if let Some(due) = mapper.next_deadline() {
            timeout = timeout.min(due.saturating_sub(monotonic_now()));
        }
        if let Err(e) = client.wait_input(timeout) {
            emit(MidiMsg::Notice(format!("midi: poll failed: {e}")));
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut rescan = false;
        {
            let mut input = client.seq.input();
            loop {
                let ev = match input.event_input() {
                    Ok(ev) => ev,
                    Err(e) if e.errno() == libc::EAGAIN => break,
                    Err(e) if e.errno() == libc::ENOSPC => {
                        // The kernel's input pool overflowed: events were lost, so held
                        // notes and pedal states are unknown.
                        mapper.reset();
                        emit(MidiMsg::Notice("midi: input overrun, events lost".into()));
                        continue;
                    }
                    Err(e) => {
                        emit(MidiMsg::Notice(format!("midi: read failed: {e}")));
                        break;
                    }
                };
                match ev.get_type() {
                    EventType::ClientStart | EventType::PortStart => rescan = true,
                    t @ (EventType::ClientExit | EventType::PortExit) => {
                        if let Some(a) = ev.get_data::<Addr>() {
                            let port = (t == EventType::PortExit).then_some(a.port);
                            if links.forget(a.client, port) {
                                mapper.reset();
                                emit(MidiMsg::Notice(format!(
                                    "midi: {}:{} gone",
                                    a.client, a.port
                                )));
                            }
                        }
                    }
                    _ => {
                        if let Some(m) = decode(&ev) {
                            let t = ev
                                .get_time()
                                .map(|q| qclock.to_monotonic(q))
                                .unwrap_or_else(monotonic_now);
                            mapper.on_event(m, t, &mut fired);
                        }
                    }
                }
            }
        }
        if rescan {
            links.scan(&client, cfg, &mut emit);
        }
        mapper.poll(monotonic_now(), &mut fired);
        for f in fired.drain(..) {
            if !emit(MidiMsg::Action(f)) {
                status.clock_wanted.store(false, Relaxed);
                return;
            }
        }
        let dropped = mapper.take_dropped();
        if dropped > 0 && dropped_said.elapsed() >= Duration::from_secs(1) {
            dropped_said = Instant::now();
            emit(MidiMsg::Notice(format!(
                "midi: {dropped} actions dropped (more than {} a second: a stuck or looping device?)",
                map::MAX_ACTIONS_PER_S
            )));
        }
        if !wants_clock {
            continue;
        }
        if synced.elapsed() >= RESYNC {
            if let Ok(q) = client.queue_clock() {
                qclock = q;
            }
            synced = Instant::now();
        }
        if let Some(s) = status.audio_clock.read() {
            let map = tempo_of(&s);
            sched.on_period(&s, map.as_ref().map(|m| m as &dyn BeatMap), &mut timed);
        }
        if !timed.is_empty() {
            for t in timed.drain(..) {
                let mut ev = clock_event(t.msg);
                if client.send_at(&mut ev, qclock.to_queue(t.at_ns)).is_err() {
                    send_errors += 1;
                    if send_errors.is_power_of_two() {
                        emit(MidiMsg::Notice(format!(
                            "midi: {send_errors} clock messages could not be queued"
                        )));
                    }
                }
            }
            let _ = client.seq.drain_output();
        }
    }
    status.clock_wanted.store(false, Relaxed);
    if sched.running() {
        let _ = client.send_now(&mut clock_event(ClockMsg::Stop));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_forget_a_port_or_a_whole_client() {
        let mut l = Links {
            inputs: vec![
                Addr {
                    client: 24,
                    port: 0,
                },
                Addr {
                    client: 24,
                    port: 1,
                },
            ],
            clocks: vec![Addr {
                client: 25,
                port: 0,
            }],
        };
        assert!(!l.forget(99, None));
        assert!(l.forget(24, Some(1)));
        assert_eq!(
            l.inputs,
            [Addr {
                client: 24,
                port: 0
            }]
        );
        assert!(l.forget(24, None));
        assert!(l.inputs.is_empty());
        assert_eq!(l.clocks.len(), 1);
    }

    /// No `/dev/snd/seq` on a build machine: the thread says so in one line and ends; the
    /// clock is not asked of the audio loop.
    #[test]
    fn without_a_sequencer_the_thread_says_so_once_and_ends() {
        if std::path::Path::new("/dev/snd/seq").exists() {
            return; // a machine with a sequencer: covered by the QEMU test instead
        }
        let cfg = crate::storage::config::Config::from_json(
            br#"{"midi": {"inputs": ["FCB"], "clock_out": ["TR-8"]}}"#,
        )
        .unwrap();
        let status = Arc::new(EngineStatus::default());
        let (tx, rx) = std::sync::mpsc::channel();
        let t = spawn_midi(&cfg.midi, &cfg.buttons, status.clone(), move |m| {
            tx.send(m).is_ok()
        })
        .unwrap()
        .expect("configured");
        let first = rx.recv_timeout(Duration::from_secs(5)).expect("one line");
        drop(t);
        let MidiMsg::Notice(line) = first else {
            panic!("{first:?}")
        };
        assert!(line.starts_with("midi: no ALSA sequencer"), "{line}");
        assert!(line.contains("snd-seq"), "{line}");
        assert!(rx.try_recv().is_err(), "one line only");
        assert!(!status.clock_wanted.load(Relaxed));
        // Nothing configured: no thread at all.
        let none = spawn_midi(&Default::default(), &cfg.buttons, status, |_| true).unwrap();
        assert!(none.is_none());
    }
}
