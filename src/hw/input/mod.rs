//! Buttons: evdev devices (GPIO keys, USB footswitches, keyboards) to [`Action`]s for the
//! control thread. Runs on its own `stembox-input` thread ([`spawn_input`]); everything after the
//! raw bytes is pure code that tests drive from records written into a pipe.
//!
//! Pipeline: [`source`] (read bytes, reopen devices) -> [`decode`] (24-byte `input_event`
//! records) -> [`gesture`] (debounce, short / long / double) -> [`keymap`] (key + gesture to
//! action) -> [`InputMsg::Button`] to the control thread.
//!
//! # Gestures
//!
//! All timing comes from the events' kernel timestamps, so a busy system does not turn a tap
//! into a long press; timeouts use the same clock (see [`InputLoop`]). Opened evdev devices
//! are switched to CLOCK_MONOTONIC stamps ([`monotonic_now`] reads the same clock), so a
//! wall-clock step at boot (no RTC, NTP sync) cannot distort a gesture.
//!
//! - **Bounce lockout** (`buttons.debounce_ms`, default 30): after an edge is taken, further
//!   edges of that key within the lockout are ignored; if the key ended up in the other state
//!   when the lockout ends, that edge is taken then (a 10 ms tap is never lost).
//! - **A key with only a `short` binding fires on the press edge**, at once: the lowest
//!   latency, for play/pause, mutes and the like.
//! - **A key with a `long` binding** (and no `double`) fires `short` on release if released
//!   before `buttons.long_press_ms` (default 600), or `long` the moment that time passes
//!   while it is still held; its release then does nothing.
//! - **A key with a `double` binding** fires `double` on the second press edge if that press
//!   comes within `buttons.double_press_ms` (default 300) of the first press; otherwise
//!   `short` fires when that window closes (or on release, if held past it). So only keys
//!   with a `double` binding pay up to `double_press_ms` of latency on a single tap, and a
//!   third press starts a new gesture. `long` still wins when the first press is held.
//! - Every [`ButtonEvent`] carries `pressed_at` (the press that began the gesture, where the
//!   musician meant it: loop points and markers should use it) and `decided_at`.
//! - Autorepeat (value 2) is ignored; `SYN_DROPPED` forgets the device's key states.
//!
//! # Default key map (4 buttons: `KEY_1`..`KEY_4`), used when `buttons.map` is empty
//!
//! | Key     | short (tap)                        | long (hold 0.6 s)        | double (tap tap)  |
//! |---------|------------------------------------|--------------------------|-------------------|
//! | `KEY_1` | `play_pause`                       | `stop` (back to start)   |                   |
//! | `KEY_2` | `next_song`                        | `prev_song`              |                   |
//! | `KEY_3` | `loop_a` (loop start here)         | `loop_b` (loop end here, loop on) | `loop_toggle` |
//! | `KEY_4` | `prev_section` (restart the part; again within 2 s: the part before) | `next_section` | |
//!
//! Why: transport on the first switch, where the foot finds it; a hold for the destructive
//! variant (stop, previous song) so a stray tap cannot lose the place in a set. Loop points
//! are placed at the *press*, not when the gesture is decided, so the double-press wait on
//! `KEY_3` costs no accuracy. `KEY_4`'s tap goes back, like a CD player's `|<<`, because in
//! rehearsal "once more from the chorus" is far more common than skipping ahead; with no
//! `double` on it, quick taps step back part by part.
//!
//! A custom map replaces the default entirely, e.g.
//! `"map": [{"key": "KEY_SPACE", "action": "play_pause"},
//!          {"key": "BTN_0", "gesture": "long", "action": "toggle_mute:click"}]`.
//! Key names are the evdev crate's (`evtest` prints them); actions are listed by
//! [`keymap::action_names`].

pub mod decode;
pub mod gesture;
pub mod keymap;
pub mod source;

pub use decode::{encode_key, encode_record, RecordDecoder, RECORD_BYTES};
pub use gesture::{monotonic_now, ButtonEvent, GestureDecoder, GestureTiming, Timestamp};
pub use keymap::{action_name, parse_action, KeyMap, DEFAULT_MAP};
pub use source::{DeviceSource, InputSource, StreamSource, REOPEN_INTERVAL};

use crate::model::action::Action;
use crate::storage::config::{ButtonsConfig, ConfigError};
use decode::event_time;
use evdev::InputEvent;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the input thread tells the control thread.
#[derive(Clone, Debug, PartialEq)]
pub enum InputMsg {
    /// A gesture decided an action.
    Button(ButtonEvent),
    /// A device line worth showing: opened, lost, not found (each reported once).
    Notice(String),
}

impl InputMsg {
    /// The action, if this is one.
    pub fn action(&self) -> Option<&Action> {
        match self {
            InputMsg::Button(b) => Some(&b.action),
            InputMsg::Notice(_) => None,
        }
    }
}

/// One source and the state that goes with it.
struct Slot {
    source: Box<dyn InputSource>,
    gestures: GestureDecoder,
    /// Maps the source's clock to ours: (timestamp of the last event read, when we read
    /// it). "Now" on the source's clock is `ts + (Instant::now() - read_at)`. This works
    /// whatever clock the source stamps with (REALTIME evdev, or a test's numbers) and is
    /// immune to wall-clock steps between events.
    anchor: Option<(Timestamp, Instant)>,
}

impl Slot {
    fn source_now(&self, now: Instant) -> Option<Timestamp> {
        self.anchor
            .map(|(ts, at)| ts.saturating_add(now.saturating_duration_since(at)))
    }

    /// When (on our clock) the decoder next has a timeout to resolve.
    fn deadline(&self) -> Option<Instant> {
        let due = self.gestures.next_deadline()?;
        let (ts, at) = self.anchor?;
        Some(
            at.checked_add(due.saturating_sub(ts))
                .unwrap_or(at + Duration::from_secs(3600)),
        )
    }
}

/// The input thread's loop state: sources, their gesture decoders, scratch buffers. Built
/// from config by [`spawn_input`]; tests build one over pipes and call [`InputLoop::step`].
pub struct InputLoop {
    map: KeyMap,
    timing: GestureTiming,
    slots: Vec<Slot>,
    events: Vec<InputEvent>,
    fired: Vec<ButtonEvent>,
}

impl InputLoop {
    pub fn new(map: KeyMap, timing: GestureTiming) -> InputLoop {
        InputLoop {
            map,
            timing,
            slots: Vec::new(),
            events: Vec::with_capacity(64),
            fired: Vec::with_capacity(8),
        }
    }

    /// Adds a source with its own gesture state (keys on different devices never combine
    /// into one gesture).
    pub fn add_source(&mut self, source: Box<dyn InputSource>) {
        self.slots.push(Slot {
            source,
            gestures: GestureDecoder::new(&self.map, self.timing),
            anchor: None,
        });
    }

    /// One round: (re)opens sources that are due, waits until a source is readable, a
    /// gesture timeout or reopen attempt is due, `wake` is readable, or `max_wait` passes
    /// (`None`: no limit), then reads, decodes and hands every message to `emit`. Returns
    /// `Ok(false)` when `wake` became readable or `emit` returned `false` (stop).
    pub fn step(
        &mut self,
        max_wait: Option<Duration>,
        wake: Option<&UnixStream>,
        emit: &mut dyn FnMut(InputMsg) -> bool,
    ) -> io::Result<bool> {
        let now = Instant::now();
        for slot in &mut self.slots {
            if slot.source.fd().is_none() {
                if let Some(note) = slot.source.maintain(now) {
                    if !emit(InputMsg::Notice(note)) {
                        return Ok(false);
                    }
                }
            }
        }

        // Wait for the earliest of: readable fds, gesture deadlines, reopen attempts.
        let mut until: Option<Instant> = max_wait.map(|d| now + d);
        let mut earliest = |t: Option<Instant>| {
            if let Some(t) = t {
                until = Some(until.map_or(t, |u| u.min(t)));
            }
        };
        for slot in &self.slots {
            earliest(slot.deadline());
            if slot.source.fd().is_none() {
                earliest(slot.source.retry_at());
            }
        }
        let timeout_ms: libc::c_int = match until {
            None => -1,
            // Rounded up, so we never wake just before a deadline and spin.
            Some(t) => {
                let d = t.saturating_duration_since(now);
                let ms = d.as_micros().div_ceil(1000);
                ms.min(i32::MAX as u128) as libc::c_int
            }
        };
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(self.slots.len() + 1);
        let mut owners: Vec<usize> = Vec::with_capacity(self.slots.len());
        for (i, slot) in self.slots.iter().enumerate() {
            if let Some(fd) = slot.source.fd() {
                fds.push(libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                });
                owners.push(i);
            }
        }
        if let Some(w) = wake {
            fds.push(libc::pollfd {
                fd: w.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // SAFETY: fds is a valid array of fds.len() pollfd structs for the whole call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(true);
            }
            return Err(e);
        }
        if wake.is_some() && fds.last().is_some_and(|p| p.revents != 0) {
            return Ok(false);
        }

        for (pfd, &i) in fds.iter().zip(&owners) {
            if pfd.revents == 0 {
                continue;
            }
            let slot = &mut self.slots[i];
            self.events.clear();
            let result = slot.source.read_events(&mut self.events);
            let read_at = Instant::now();
            for ev in &self.events {
                slot.gestures.on_event(ev, &mut self.fired);
                slot.anchor = Some((event_time(ev), read_at));
            }
            if let Err(e) = result {
                // Gone mid-gesture: forget held keys rather than fire on a stale state.
                slot.gestures.reset();
                slot.anchor = None;
                let note = match slot.source.retry_at() {
                    Some(_) => format!(
                        "buttons: {} lost ({e}); looking for it every {} s",
                        slot.source.name(),
                        REOPEN_INTERVAL.as_secs()
                    ),
                    None => format!("buttons: {} closed ({e})", slot.source.name()),
                };
                if !emit(InputMsg::Notice(note)) {
                    return Ok(false);
                }
            }
        }

        let now = Instant::now();
        for slot in &mut self.slots {
            if let Some(t) = slot.source_now(now) {
                slot.gestures.poll(t, &mut self.fired);
            }
        }
        for b in self.fired.drain(..) {
            if !emit(InputMsg::Button(b)) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// The running input thread. Dropping it stops and joins the thread.
pub struct InputThread {
    wake: UnixStream,
    handle: Option<JoinHandle<()>>,
}

impl InputThread {
    /// Stops the thread and waits for it (it closes its devices, which ungrabs them).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.wake.write_all(b"x");
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for InputThread {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Checks the `buttons` config and starts the `input` thread reading `buttons.devices`.
/// Called once by the main/control thread at start-up; config errors come back here (exit
/// code 2), device problems later as [`InputMsg::Notice`]s. `emit` runs on the input thread
/// for every message; returning `false` (e.g. the control thread's receiver is gone) ends
/// the thread. With no devices the thread just waits to be stopped.
pub fn spawn_input(
    cfg: &ButtonsConfig,
    emit: impl FnMut(InputMsg) -> bool + Send + 'static,
) -> Result<InputThread, ConfigError> {
    let map = KeyMap::from_config(&cfg.map)?;
    let timing = GestureTiming::from_config(cfg)?;
    let mut input = InputLoop::new(map, timing);
    for (i, path) in cfg.devices.iter().enumerate() {
        if path.is_empty() {
            return Err(ConfigError {
                message: format!("buttons.devices[{i}]: empty path; remove it or name a device"),
            });
        }
        input.add_source(Box::new(DeviceSource::new(Path::new(path.as_str()))));
    }
    spawn_loop(input, emit).map_err(|e| ConfigError {
        message: format!("buttons: cannot start the input thread: {e}"),
    })
}

/// Starts the `input` thread over an already built loop (custom sources).
pub fn spawn_loop(
    mut input: InputLoop,
    mut emit: impl FnMut(InputMsg) -> bool + Send + 'static,
) -> io::Result<InputThread> {
    let (wake, wake_rx) = UnixStream::pair()?;
    let handle = std::thread::Builder::new()
        .name("stembox-input".into())
        .spawn(move || loop {
            match input.step(None, Some(&wake_rx), &mut emit) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    if !emit(InputMsg::Notice(format!("buttons: poll failed: {e}"))) {
                        break;
                    }
                    // Never spin on a persistent error.
                    std::thread::sleep(REOPEN_INTERVAL);
                }
            }
        })?;
    Ok(InputThread {
        wake,
        handle: Some(handle),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::config::Gesture;
    use evdev::KeyCode;
    use std::sync::mpsc;

    fn timing(long_ms: u64, double_ms: u64) -> GestureTiming {
        GestureTiming {
            debounce: Duration::from_millis(5),
            long_press: Duration::from_millis(long_ms),
            double_press: Duration::from_millis(double_ms),
        }
    }

    fn t(ms: u64) -> Timestamp {
        Duration::from_secs(1_000) + Duration::from_millis(ms)
    }

    /// Runs steps until `want` messages arrived or 2 s passed.
    fn collect(input: &mut InputLoop, want: usize) -> Vec<InputMsg> {
        let mut got = Vec::new();
        let start = Instant::now();
        while got.len() < want && start.elapsed() < Duration::from_secs(2) {
            input
                .step(Some(Duration::from_millis(20)), None, &mut |m| {
                    got.push(m);
                    true
                })
                .unwrap();
        }
        got
    }

    fn actions(msgs: &[InputMsg]) -> Vec<Action> {
        msgs.iter().filter_map(|m| m.action().cloned()).collect()
    }

    #[test]
    fn bytes_through_a_socket_become_actions() {
        let (mut tx, rx) = UnixStream::pair().unwrap();
        let mut input = InputLoop::new(KeyMap::default_map(), timing(600, 300));
        input.add_source(Box::new(StreamSource::new("pair", rx).unwrap()));
        // KEY_2 tap: next_song on release (KEY_2 has a long binding).
        let mut bytes = encode_key(KeyCode::KEY_2, true, t(0));
        bytes.extend(encode_key(KeyCode::KEY_2, false, t(90)));
        // Written in awkward pieces: records split across reads.
        for piece in bytes.chunks(7) {
            tx.write_all(piece).unwrap();
        }
        let got = collect(&mut input, 1);
        assert_eq!(actions(&got), vec![Action::NextSong]);
        match &got[0] {
            InputMsg::Button(b) => {
                assert_eq!((b.key, b.gesture), (KeyCode::KEY_2, Gesture::Short));
                assert_eq!((b.pressed_at, b.decided_at), (t(0), t(90)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn records_through_an_os_pipe_with_bounce_and_noise() {
        let (rx, mut tx) = std::io::pipe().unwrap();
        let mut input = InputLoop::new(KeyMap::default_map(), timing(600, 300));
        input.add_source(Box::new(StreamSource::new("pipe", rx).unwrap()));
        let mut bytes = Vec::new();
        // A relative-axis event and an autorepeat, both ignored.
        bytes.extend(encode_record(evdev::EventType::RELATIVE.0, 0, 5, t(0)));
        // KEY_3 press bouncing (loop_a is decided when the double window closes).
        bytes.extend(encode_key(KeyCode::KEY_3, true, t(10)));
        bytes.extend(encode_key(KeyCode::KEY_3, false, t(11)));
        bytes.extend(encode_key(KeyCode::KEY_3, true, t(12)));
        bytes.extend(encode_record(
            evdev::EventType::KEY.0,
            KeyCode::KEY_3.0,
            2,
            t(40),
        ));
        bytes.extend(encode_key(KeyCode::KEY_3, false, t(100)));
        tx.write_all(&bytes).unwrap();
        let got = collect(&mut input, 1);
        assert_eq!(actions(&got), vec![Action::LoopA]);
        match &got[0] {
            InputMsg::Button(b) => assert_eq!((b.pressed_at, b.decided_at), (t(10), t(310))),
            other => panic!("{other:?}"),
        }
        assert!(
            collect(&mut input, 1).is_empty(),
            "the bounce made nothing more"
        );
    }

    #[test]
    fn long_press_fires_from_the_loop_while_the_key_is_held() {
        let (mut tx, rx) = UnixStream::pair().unwrap();
        let mut input = InputLoop::new(KeyMap::default_map(), timing(80, 40));
        input.add_source(Box::new(StreamSource::new("pair", rx).unwrap()));
        tx.write_all(&encode_key(KeyCode::KEY_1, true, t(0)))
            .unwrap();
        let started = Instant::now();
        let got = collect(&mut input, 1);
        assert_eq!(actions(&got), vec![Action::Stop]);
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(70),
            "fired too early: {waited:?}"
        );
        assert!(
            waited < Duration::from_millis(1_000),
            "fired too late: {waited:?}"
        );
        // The release, much later, does nothing.
        tx.write_all(&encode_key(KeyCode::KEY_1, false, t(500)))
            .unwrap();
        assert!(actions(&collect(&mut input, 1)).is_empty());
    }

    #[test]
    fn double_press_window_closes_in_the_loop() {
        let (mut tx, rx) = UnixStream::pair().unwrap();
        let mut input = InputLoop::new(KeyMap::default_map(), timing(400, 60));
        input.add_source(Box::new(StreamSource::new("pair", rx).unwrap()));
        let mut bytes = encode_key(KeyCode::KEY_3, true, t(0));
        bytes.extend(encode_key(KeyCode::KEY_3, false, t(20)));
        tx.write_all(&bytes).unwrap();
        assert_eq!(actions(&collect(&mut input, 1)), vec![Action::LoopA]);
        let mut bytes = encode_key(KeyCode::KEY_3, true, t(1_000));
        bytes.extend(encode_key(KeyCode::KEY_3, false, t(1_020)));
        bytes.extend(encode_key(KeyCode::KEY_3, true, t(1_040)));
        bytes.extend(encode_key(KeyCode::KEY_3, false, t(1_060)));
        tx.write_all(&bytes).unwrap();
        assert_eq!(actions(&collect(&mut input, 1)), vec![Action::LoopToggle]);
    }

    #[test]
    fn closed_stream_is_reported_once() {
        let (tx, rx) = UnixStream::pair().unwrap();
        let mut input = InputLoop::new(KeyMap::default_map(), timing(600, 300));
        input.add_source(Box::new(StreamSource::new("pair", rx).unwrap()));
        drop(tx);
        let got = collect(&mut input, 1);
        assert_eq!(got.len(), 1);
        assert!(
            matches!(&got[0], InputMsg::Notice(n) if n.contains("pair closed")),
            "{got:?}"
        );
        assert!(
            collect(&mut input, 1).is_empty(),
            "closed sources are not polled again"
        );
    }

    fn temp_dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("stembox-input-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn mkfifo(path: &Path) {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: c is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    }

    #[test]
    fn device_path_absent_at_start_is_picked_up_when_it_appears() {
        let dir = temp_dir("appear");
        let path = dir.join("buttons");
        let mut input = InputLoop::new(KeyMap::default_map(), timing(600, 300));
        input.add_source(Box::new(DeviceSource::new(&path)));
        let got = collect(&mut input, 1);
        assert!(
            matches!(&got[..], [InputMsg::Notice(n)] if n.contains("No such file") && n.contains("every 1 s")),
            "{got:?}"
        );
        // Not repeated every second.
        let quiet_until = Instant::now() + Duration::from_millis(1_300);
        let mut more = Vec::new();
        while Instant::now() < quiet_until {
            input
                .step(Some(Duration::from_millis(50)), None, &mut |m| {
                    more.push(m);
                    true
                })
                .unwrap();
        }
        assert!(more.is_empty(), "{more:?}");
        // Now the device (a FIFO here) appears; a writer presses KEY_4 (prev_section on
        // release), leaves, and a second writer comes later.
        mkfifo(&path);
        let got = collect(&mut input, 1);
        assert!(
            matches!(&got[..], [InputMsg::Notice(n)] if n.contains("opened")),
            "{got:?}"
        );
        let mut w = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let mut bytes = encode_key(KeyCode::KEY_4, true, t(0));
        bytes.extend(encode_key(KeyCode::KEY_4, false, t(50)));
        w.write_all(&bytes).unwrap();
        drop(w);
        let got = collect(&mut input, 1);
        assert_eq!(actions(&got), vec![Action::PrevSection]);
        // The FIFO's writer closing is not a loss: no message, and no busy loop either
        // (each step waits the full max_wait).
        let before = Instant::now();
        let got = collect(&mut input, 1);
        assert!(got.is_empty(), "{got:?}");
        assert!(before.elapsed() >= Duration::from_millis(1_900));
        let mut w = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        w.write_all(&encode_key(KeyCode::KEY_2, true, t(5_000)))
            .unwrap();
        w.write_all(&encode_key(KeyCode::KEY_2, false, t(5_050)))
            .unwrap();
        assert_eq!(actions(&collect(&mut input, 1)), vec![Action::NextSong]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn recorded_file_is_played_once() {
        let dir = temp_dir("file");
        let path = dir.join("session.bin");
        let mut bytes = encode_key(KeyCode::KEY_2, true, t(0));
        bytes.extend(encode_key(KeyCode::KEY_2, false, t(50)));
        std::fs::write(&path, &bytes).unwrap();
        let mut input = InputLoop::new(KeyMap::default_map(), timing(600, 300));
        input.add_source(Box::new(DeviceSource::new(&path)));
        let got = collect(&mut input, 2);
        assert!(
            matches!(&got[0], InputMsg::Notice(n) if n.contains("opened")),
            "{got:?}"
        );
        assert_eq!(actions(&got), vec![Action::NextSong]);
        assert!(collect(&mut input, 1).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn directory_is_refused_with_advice() {
        let dir = temp_dir("dir");
        let mut src = DeviceSource::new(&dir);
        let note = src.maintain(Instant::now()).unwrap();
        assert!(note.contains("is a directory"), "{note}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn character_device_that_is_not_evdev_is_named() {
        let mut src = DeviceSource::new(Path::new("/dev/null"));
        let note = src.maintain(Instant::now()).unwrap();
        assert!(
            note.starts_with("buttons: /dev/null: a character device but not an evdev"),
            "{note}"
        );
        assert_eq!(src.fd(), None);
        assert!(
            src.retry_at().is_some(),
            "keeps looking (a udev rule may fix it)"
        );
    }

    #[test]
    fn spawned_thread_sends_actions_and_stops() {
        let dir = temp_dir("spawn");
        let path = dir.join("buttons");
        mkfifo(&path);
        let mut cfg = ButtonsConfig::default();
        cfg.devices
            .push(heapless::String::try_from(path.to_str().unwrap()).unwrap())
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let thread = spawn_input(&cfg, move |m| tx.send(m).is_ok()).unwrap();
        let first = rx.recv_timeout(Duration::from_secs(2)).unwrap();
        assert!(
            matches!(&first, InputMsg::Notice(n) if n.contains("opened")),
            "{first:?}"
        );
        let mut w = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        w.write_all(&encode_key(KeyCode::KEY_3, true, t(0)))
            .unwrap();
        w.write_all(&encode_key(KeyCode::KEY_3, false, t(30)))
            .unwrap();
        // KEY_3 has a double binding: loop_a comes when the 300 ms window closes.
        let msg = rx.recv_timeout(Duration::from_secs(2)).unwrap();
        assert_eq!(msg.action(), Some(&Action::LoopA));
        let started = Instant::now();
        thread.stop();
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "stop must not hang"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn monotonic_now_advances_like_instant() {
        let (a, i) = (monotonic_now(), Instant::now());
        std::thread::sleep(Duration::from_millis(20));
        let (b, j) = (monotonic_now(), Instant::now());
        let d = b - a;
        assert!(d >= Duration::from_millis(20));
        assert!(
            d <= (j - i) + Duration::from_millis(5),
            "{d:?} vs {:?}",
            j - i
        );
    }

    #[test]
    fn bad_config_is_refused_before_the_thread_starts() {
        let mut cfg = ButtonsConfig::default();
        cfg.map
            .push(crate::storage::config::KeyBinding {
                key: heapless::String::try_from("KEY_1").unwrap(),
                gesture: Gesture::Short,
                action: heapless::String::try_from("dance").unwrap(),
            })
            .unwrap();
        let e = spawn_input(&cfg, |_| true).err().unwrap();
        assert!(
            e.message
                .starts_with("buttons.map[0].action: unknown action"),
            "{e}"
        );
    }
}
