//! Gesture decoding: key edges (with their kernel timestamps) in, `short` / `long` /
//! `double` actions out. Pure logic with no clock of its own: every decision is made from
//! the events' timestamps, and timeouts (a long press while the key is still held, the end
//! of a double-press window) from an explicit `now` on the same clock. The input thread
//! owns one [`GestureDecoder`] per device; the rules are in the [`crate::hw::input`] module doc.

use super::decode::event_time;
use super::keymap::{KeyActions, KeyMap};
use crate::model::action::Action;
use crate::storage::config::{ButtonsConfig, ConfigError, Gesture};
use evdev::{EventType, InputEvent, KeyCode, SynchronizationCode};
use std::time::Duration;

/// A time on the input device's clock (see [`crate::base::clock::Timestamp`]).
pub use crate::base::clock::Timestamp;

/// CLOCK_MONOTONIC now, on the same scale as evdev timestamps of opened devices: for
/// measuring button-to-sound latency, and for tools writing records into a FIFO.
pub use crate::base::clock::now as monotonic_now;

/// An action decided from a key gesture. `K` names the key: an evdev [`KeyCode`] for
/// buttons, a note or pedal for MIDI ([`crate::hw::midi::map::MidiKey`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ButtonEvent<K = KeyCode> {
    pub action: Action,
    pub key: K,
    pub gesture: Gesture,
    /// Kernel timestamp of the press that started the gesture (for a double press: the first
    /// press). Where the musician meant it: use it to place loop points and markers.
    pub pressed_at: Timestamp,
    /// When the gesture was decided: the press (short without long/double bindings), the
    /// release, the second press, or the moment a timeout passed. For latency measurement.
    pub decided_at: Timestamp,
}

/// The configured times, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GestureTiming {
    pub debounce: Duration,
    pub long_press: Duration,
    pub double_press: Duration,
}

impl GestureTiming {
    /// Checks `buttons.debounce_ms`, `long_press_ms`, `double_press_ms`.
    pub fn from_config(cfg: &ButtonsConfig) -> Result<GestureTiming, ConfigError> {
        let bad = |key: &str, why: String| {
            Err(ConfigError {
                message: format!("key `buttons.{key}`: {why}"),
            })
        };
        if cfg.debounce_ms > 1_000 {
            return bad(
                "debounce_ms",
                format!(
                    "{} ms is above 1000 ms; contact bounce lasts a few ms",
                    cfg.debounce_ms
                ),
            );
        }
        for (key, v) in [
            ("long_press_ms", cfg.long_press_ms),
            ("double_press_ms", cfg.double_press_ms),
        ] {
            if v <= cfg.debounce_ms || v > 10_000 {
                return bad(
                    key,
                    format!(
                        "{v} ms must be above debounce_ms ({} ms) and at most 10000 ms",
                        cfg.debounce_ms
                    ),
                );
            }
        }
        Ok(GestureTiming {
            debounce: Duration::from_millis(cfg.debounce_ms.into()),
            long_press: Duration::from_millis(cfg.long_press_ms.into()),
            double_press: Duration::from_millis(cfg.double_press_ms.into()),
        })
    }
}

/// `t + d`, saturating: timestamps come from outside and may be anything.
fn after(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(d).unwrap_or(Duration::MAX)
}

/// Where a key is in its gesture.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    /// Up, nothing pending.
    Idle,
    /// Down; its gesture is already decided (short fired on press, or the second press of
    /// a double): the release is ignored.
    Consumed,
    /// Down, undecided: waits for the release or the long-press time.
    Held { pressed_at: Timestamp },
    /// Released after a first press on a key with a `double` binding: waits for a second
    /// press until `pressed_at + double_press`.
    AwaitSecond { pressed_at: Timestamp },
}

#[derive(Clone, Debug)]
struct KeyState<K> {
    code: K,
    actions: KeyActions,
    /// The debounced state the gestures see.
    down: bool,
    /// The last state the device reported, possibly inside the lockout.
    raw_down: bool,
    /// Edges before this time are bounce: ignored, then reconciled when it passes.
    lockout_until: Timestamp,
    phase: Phase,
}

/// Turns key edges of one device into [`ButtonEvent`]s. Owned by the input thread (evdev
/// keys) or the midi thread (notes and momentary pedals, `K` =
/// [`crate::hw::midi::map::MidiKey`]): one set of gesture rules for both.
#[derive(Clone, Debug)]
pub struct GestureDecoder<K = KeyCode> {
    timing: GestureTiming,
    keys: Vec<KeyState<K>>,
}

impl GestureDecoder {
    pub fn new(map: &KeyMap, timing: GestureTiming) -> GestureDecoder {
        GestureDecoder::with_keys(map.keys().map(|(k, a)| (k, a.clone())), timing)
    }

    /// Handles one decoded `input_event`: `EV_KEY` edges of mapped keys drive gestures
    /// (value 1 press, 0 release; 2, autorepeat, is ignored); `SYN_DROPPED` (the kernel
    /// lost events) forgets every key's state; everything else is ignored.
    pub fn on_event(&mut self, ev: &InputEvent, out: &mut Vec<ButtonEvent>) {
        let t = event_time(ev);
        if ev.event_type() == EventType::SYNCHRONIZATION
            && ev.code() == SynchronizationCode::SYN_DROPPED.0
        {
            self.reset();
            return;
        }
        if ev.event_type() != EventType::KEY {
            return;
        }
        match ev.value() {
            0 => self.on_key(KeyCode::new(ev.code()), false, t, out),
            1 => self.on_key(KeyCode::new(ev.code()), true, t, out),
            _ => {}
        }
    }
}

impl<K: Copy + PartialEq> GestureDecoder<K> {
    /// A decoder for these keys and their actions (a key listed twice: the first wins).
    pub fn with_keys(
        keys: impl IntoIterator<Item = (K, KeyActions)>,
        timing: GestureTiming,
    ) -> GestureDecoder<K> {
        let keys = keys
            .into_iter()
            .map(|(code, actions)| KeyState {
                code,
                actions,
                down: false,
                raw_down: false,
                lockout_until: Duration::ZERO,
                phase: Phase::Idle,
            })
            .collect();
        GestureDecoder { timing, keys }
    }

    /// Whether `code` is one of this decoder's keys.
    pub fn has_key(&self, code: K) -> bool {
        self.keys.iter().any(|k| k.code == code)
    }

    /// One key edge at kernel time `t`. Timeouts that fall before `t` are resolved first,
    /// so the outcome depends on the timestamps only, never on when this is called.
    pub fn on_key(&mut self, code: K, down: bool, t: Timestamp, out: &mut Vec<ButtonEvent<K>>) {
        self.poll(t, out);
        let timing = self.timing;
        let Some(k) = self.keys.iter_mut().find(|k| k.code == code) else {
            return;
        };
        k.raw_down = down;
        if t < k.lockout_until || down == k.down {
            // Bounce (reconciled by `poll` once the lockout ends) or a repeated state.
            return;
        }
        k.accept_edge(down, t, timing, out);
    }

    /// Resolves every timeout up to `now` (same clock as the timestamps): long presses of
    /// keys still held, double-press windows that closed, edges held back by the lockout.
    pub fn poll(&mut self, now: Timestamp, out: &mut Vec<ButtonEvent<K>>) {
        let timing = self.timing;
        for k in &mut self.keys {
            // A key can have more than one thing due (a reconciled release, then its
            // double window); take them in time order.
            while let Some(due) = k.next_deadline(timing) {
                if due > now {
                    break;
                }
                k.fire_deadline(due, timing, out);
            }
        }
    }

    /// The earliest time at which [`GestureDecoder::poll`] has something to do.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.keys
            .iter()
            .filter_map(|k| k.next_deadline(self.timing))
            .min()
    }

    /// Forgets every key's state without firing anything (events were lost, or the device
    /// went away).
    pub fn reset(&mut self) {
        for k in &mut self.keys {
            k.down = false;
            k.raw_down = false;
            k.lockout_until = Duration::ZERO;
            k.phase = Phase::Idle;
        }
    }
}

impl<K: Copy> KeyState<K> {
    fn next_deadline(&self, timing: GestureTiming) -> Option<Timestamp> {
        let reconcile = (self.raw_down != self.down).then_some(self.lockout_until);
        let gesture = match self.phase {
            Phase::Held { pressed_at } if self.actions.long.is_some() => {
                Some(after(pressed_at, timing.long_press))
            }
            Phase::AwaitSecond { pressed_at } => Some(after(pressed_at, timing.double_press)),
            _ => None,
        };
        match (reconcile, gesture) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn fire_deadline(
        &mut self,
        due: Timestamp,
        timing: GestureTiming,
        out: &mut Vec<ButtonEvent<K>>,
    ) {
        if self.raw_down != self.down && due == self.lockout_until {
            // The key changed during the lockout and stayed changed: that edge is real.
            let down = self.raw_down;
            self.accept_edge(down, due, timing, out);
            return;
        }
        match self.phase {
            Phase::Held { pressed_at } => {
                // Held for long_press: the long action, and the release will do nothing.
                self.emit(Gesture::Long, pressed_at, due, out);
                self.phase = Phase::Consumed;
            }
            Phase::AwaitSecond { pressed_at } => {
                // No second press came: it was a short press after all.
                self.emit(Gesture::Short, pressed_at, due, out);
                self.phase = Phase::Idle;
            }
            Phase::Idle | Phase::Consumed => {}
        }
    }

    fn accept_edge(
        &mut self,
        down: bool,
        t: Timestamp,
        timing: GestureTiming,
        out: &mut Vec<ButtonEvent<K>>,
    ) {
        self.down = down;
        self.lockout_until = after(t, timing.debounce);
        let waits_for_more = self.actions.long.is_some() || self.actions.double.is_some();
        match (down, self.phase) {
            (true, Phase::AwaitSecond { pressed_at }) => {
                // The window is still open (poll closes it first otherwise): a double.
                self.emit(Gesture::Double, pressed_at, t, out);
                self.phase = Phase::Consumed;
            }
            (true, _) if !waits_for_more => {
                // Nothing else to wait for: act on the leading edge, lowest latency.
                self.emit(Gesture::Short, t, t, out);
                self.phase = Phase::Consumed;
            }
            (true, _) => self.phase = Phase::Held { pressed_at: t },
            (false, Phase::Held { pressed_at }) => {
                let window_open = t < after(pressed_at, timing.double_press);
                if self.actions.double.is_some() && window_open {
                    self.phase = Phase::AwaitSecond { pressed_at };
                } else {
                    self.emit(Gesture::Short, pressed_at, t, out);
                    self.phase = Phase::Idle;
                }
            }
            (false, _) => self.phase = Phase::Idle,
        }
    }

    fn emit(
        &self,
        gesture: Gesture,
        pressed_at: Timestamp,
        decided_at: Timestamp,
        out: &mut Vec<ButtonEvent<K>>,
    ) {
        if let Some(action) = self.actions.get(gesture) {
            out.push(ButtonEvent {
                action: action.clone(),
                key: self.code,
                gesture,
                pressed_at,
                decided_at,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::config::KeyBinding;

    const DEBOUNCE: u64 = 30;
    const LONG: u64 = 600;
    const DOUBLE: u64 = 300;

    fn ms(v: u64) -> Timestamp {
        // A realistic epoch offset, so nothing depends on timestamps starting at zero.
        Duration::from_secs(1_700_000_000) + Duration::from_millis(v)
    }

    fn map(entries: &[(&str, Gesture, &str)]) -> KeyMap {
        let list: Vec<KeyBinding> = entries
            .iter()
            .map(|(k, g, a)| {
                let mut key = heapless::String::new();
                key.push_str(k).unwrap();
                let mut action = heapless::String::new();
                action.push_str(a).unwrap();
                KeyBinding {
                    key,
                    gesture: *g,
                    action,
                }
            })
            .collect();
        KeyMap::from_config(&list).unwrap()
    }

    fn decoder(entries: &[(&str, Gesture, &str)]) -> GestureDecoder {
        GestureDecoder::new(
            &map(entries),
            GestureTiming {
                debounce: Duration::from_millis(DEBOUNCE),
                long_press: Duration::from_millis(LONG),
                double_press: Duration::from_millis(DOUBLE),
            },
        )
    }

    /// Drives the decoder with `(ms, down)` edges of KEY_1, polls at `end`, and returns
    /// `(gesture, pressed_ms, decided_ms)` of everything fired.
    fn run(d: &mut GestureDecoder, edges: &[(u64, bool)], end: u64) -> Vec<(Gesture, u64, u64)> {
        let mut out = Vec::new();
        for (t, down) in edges {
            d.on_key(KeyCode::KEY_1, *down, ms(*t), &mut out);
        }
        d.poll(ms(end), &mut out);
        out.iter()
            .map(|e| {
                assert_eq!(e.key, KeyCode::KEY_1);
                (
                    e.gesture,
                    (e.pressed_at - ms(0)).as_millis() as u64,
                    (e.decided_at - ms(0)).as_millis() as u64,
                )
            })
            .collect()
    }

    const SHORT_ONLY: &[(&str, Gesture, &str)] = &[("KEY_1", Gesture::Short, "play_pause")];
    const SHORT_LONG: &[(&str, Gesture, &str)] = &[
        ("KEY_1", Gesture::Short, "play_pause"),
        ("KEY_1", Gesture::Long, "stop"),
    ];
    const SHORT_DOUBLE: &[(&str, Gesture, &str)] = &[
        ("KEY_1", Gesture::Short, "loop_a"),
        ("KEY_1", Gesture::Double, "loop_toggle"),
    ];
    const ALL_THREE: &[(&str, Gesture, &str)] = &[
        ("KEY_1", Gesture::Short, "loop_a"),
        ("KEY_1", Gesture::Long, "loop_b"),
        ("KEY_1", Gesture::Double, "loop_toggle"),
    ];
    use Gesture::{Double as D, Long as L, Short as S};

    #[test]
    fn short_only_key_fires_on_the_press_edge() {
        let mut d = decoder(SHORT_ONLY);
        let mut out = Vec::new();
        d.on_key(KeyCode::KEY_1, true, ms(100), &mut out);
        assert_eq!(out.len(), 1, "fired at once, before any release or poll");
        assert_eq!(out[0].action, Action::PlayPause);
        assert_eq!(d.next_deadline(), None, "nothing pending");
        // Holding it for ages does nothing more; the release does nothing.
        assert_eq!(run(&mut d, &[(5_000, false)], 10_000), vec![]);
        // Two quick taps are two presses.
        let mut d = decoder(SHORT_ONLY);
        assert_eq!(
            run(
                &mut d,
                &[(0, true), (50, false), (120, true), (170, false)],
                1_000
            ),
            vec![(S, 0, 0), (S, 120, 120)]
        );
    }

    #[test]
    fn long_binding_makes_short_fire_on_release() {
        let mut d = decoder(SHORT_LONG);
        let mut out = Vec::new();
        d.on_key(KeyCode::KEY_1, true, ms(0), &mut out);
        assert!(out.is_empty(), "undecided while held");
        assert_eq!(d.next_deadline(), Some(ms(LONG)));
        d.on_key(KeyCode::KEY_1, false, ms(200), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].gesture, out[0].action.clone()),
            (S, Action::PlayPause)
        );
        assert_eq!(out[0].decided_at, ms(200));
        assert_eq!(d.next_deadline(), None);
    }

    #[test]
    fn long_fires_when_the_time_passes_while_held() {
        let mut d = decoder(SHORT_LONG);
        let mut out = Vec::new();
        d.on_key(KeyCode::KEY_1, true, ms(0), &mut out);
        d.poll(ms(LONG - 1), &mut out);
        assert!(out.is_empty(), "one ms early");
        d.poll(ms(LONG), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].gesture, out[0].action.clone()), (L, Action::Stop));
        assert_eq!((out[0].pressed_at, out[0].decided_at), (ms(0), ms(LONG)));
        // The release after a long press does nothing, and polling again fires nothing.
        d.on_key(KeyCode::KEY_1, false, ms(2_000), &mut out);
        d.poll(ms(9_000), &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn long_is_decided_from_timestamps_even_without_polling() {
        // The release arrives late (no poll in between): the timestamps say it was long.
        let mut d = decoder(SHORT_LONG);
        assert_eq!(
            run(&mut d, &[(0, true), (LONG + 50, false)], LONG + 50),
            vec![(L, 0, LONG)]
        );
        // Exactly at the threshold counts as long ("held >= long_press_ms").
        let mut d = decoder(SHORT_LONG);
        assert_eq!(
            run(&mut d, &[(0, true), (LONG, false)], LONG),
            vec![(L, 0, LONG)]
        );
        let mut d = decoder(SHORT_LONG);
        assert_eq!(
            run(&mut d, &[(0, true), (LONG - 1, false)], 5_000),
            vec![(S, 0, LONG - 1)]
        );
    }

    #[test]
    fn long_only_key_ignores_taps() {
        let mut d = decoder(&[("KEY_1", Gesture::Long, "stop")]);
        assert_eq!(run(&mut d, &[(0, true), (100, false)], 5_000), vec![]);
        assert_eq!(
            run(&mut d, &[(6_000, true)], 7_000),
            vec![(L, 6_000, 6_000 + LONG)]
        );
    }

    #[test]
    fn double_press_fires_on_the_second_press() {
        let mut d = decoder(SHORT_DOUBLE);
        let mut out = Vec::new();
        d.on_key(KeyCode::KEY_1, true, ms(0), &mut out);
        d.on_key(KeyCode::KEY_1, false, ms(80), &mut out);
        assert!(out.is_empty(), "short waits for the double window");
        assert_eq!(d.next_deadline(), Some(ms(DOUBLE)));
        d.on_key(KeyCode::KEY_1, true, ms(200), &mut out);
        assert_eq!(out.len(), 1, "double decided on the second press edge");
        assert_eq!(out[0].action, Action::LoopToggle);
        assert_eq!((out[0].pressed_at, out[0].decided_at), (ms(0), ms(200)));
        // Its release and any later poll fire nothing more.
        d.on_key(KeyCode::KEY_1, false, ms(260), &mut out);
        d.poll(ms(5_000), &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn short_fires_when_the_double_window_closes() {
        let mut d = decoder(SHORT_DOUBLE);
        assert_eq!(run(&mut d, &[(0, true), (80, false)], DOUBLE - 1), vec![]);
        assert_eq!(run(&mut d, &[], DOUBLE), vec![(S, 0, DOUBLE)]);
        // A second press exactly at the window's end is a new first press, not a double.
        let mut d = decoder(SHORT_DOUBLE);
        assert_eq!(
            run(
                &mut d,
                &[(0, true), (80, false), (DOUBLE, true), (DOUBLE + 80, false)],
                2_000
            ),
            vec![(S, 0, DOUBLE), (S, DOUBLE, 2 * DOUBLE)]
        );
    }

    #[test]
    fn a_press_held_past_the_double_window_is_short_on_release() {
        let mut d = decoder(SHORT_DOUBLE);
        assert_eq!(
            run(&mut d, &[(0, true)], 5_000),
            vec![],
            "no long binding: waits"
        );
        assert_eq!(run(&mut d, &[(5_000, false)], 6_000), vec![(S, 0, 5_000)]);
    }

    #[test]
    fn triple_press_is_a_double_then_a_new_gesture() {
        let mut d = decoder(SHORT_DOUBLE);
        assert_eq!(
            run(
                &mut d,
                &[
                    (0, true),
                    (60, false),
                    (120, true),
                    (180, false),
                    (240, true),
                    (300, false)
                ],
                2_000
            ),
            vec![(D, 0, 120), (S, 240, 240 + DOUBLE)]
        );
    }

    #[test]
    fn all_three_gestures_on_one_key() {
        let mut d = decoder(ALL_THREE);
        assert_eq!(
            run(&mut d, &[(0, true), (100, false)], 1_000),
            vec![(S, 0, DOUBLE)]
        );
        let mut d = decoder(ALL_THREE);
        assert_eq!(run(&mut d, &[(0, true)], 1_000), vec![(L, 0, LONG)]);
        assert_eq!(run(&mut d, &[(1_500, false)], 2_000), vec![]);
        let mut d = decoder(ALL_THREE);
        assert_eq!(
            run(&mut d, &[(0, true), (100, false), (250, true)], 5_000),
            vec![(D, 0, 250)],
            "a held second press stays a double, no long"
        );
        // Released after the double window but before long: short on release.
        let mut d = decoder(ALL_THREE);
        assert_eq!(
            run(&mut d, &[(0, true), (450, false)], 5_000),
            vec![(S, 0, 450)]
        );
    }

    #[test]
    fn double_only_key_does_nothing_on_a_single_tap() {
        let mut d = decoder(&[("KEY_1", Gesture::Double, "stop")]);
        assert_eq!(run(&mut d, &[(0, true), (60, false)], 5_000), vec![]);
        assert_eq!(
            run(
                &mut d,
                &[(6_000, true), (6_060, false), (6_100, true)],
                7_000
            ),
            vec![(D, 6_000, 6_100)]
        );
    }

    #[test]
    fn bounce_within_the_lockout_is_ignored() {
        let mut d = decoder(SHORT_ONLY);
        // Press bounces 1-0-1-0-1 within 5 ms, release bounces too.
        let edges = [
            (0, true),
            (2, false),
            (3, true),
            (4, false),
            (5, true),
            (150, false),
            (152, true),
            (154, false),
        ];
        assert_eq!(run(&mut d, &edges, 1_000), vec![(S, 0, 0)]);
        // The next real press after the lockout is taken.
        assert_eq!(run(&mut d, &[(400, true)], 1_000), vec![(S, 400, 400)]);
    }

    #[test]
    fn bounce_does_not_make_a_double_or_a_short() {
        let mut d = decoder(SHORT_DOUBLE);
        // Bounce on press and release: one tap, so one short after the window.
        let edges = [
            (0, true),
            (3, false),
            (6, true),
            (100, false),
            (104, true),
            (108, false),
        ];
        assert_eq!(run(&mut d, &edges, 1_000), vec![(S, 0, DOUBLE)]);
        let mut d = decoder(SHORT_LONG);
        // A press bouncing for 20 ms and held: long, not a short from the bounce release.
        assert_eq!(
            run(&mut d, &[(0, true), (10, false), (20, true)], 1_000),
            vec![(L, 0, LONG)]
        );
    }

    #[test]
    fn release_inside_the_lockout_is_taken_when_the_lockout_ends() {
        // A real 10 ms tap with a 30 ms lockout: the release must not be lost, or the key
        // would look held and fire long.
        let mut d = decoder(SHORT_LONG);
        let mut out = Vec::new();
        d.on_key(KeyCode::KEY_1, true, ms(0), &mut out);
        d.on_key(KeyCode::KEY_1, false, ms(10), &mut out);
        assert_eq!(d.next_deadline(), Some(ms(DEBOUNCE)));
        assert_eq!(run(&mut d, &[], 2_000), vec![(S, 0, DEBOUNCE)]);
        // Same, but nobody polls until the next press: the timestamps still decide.
        let mut d = decoder(SHORT_LONG);
        assert_eq!(
            run(
                &mut d,
                &[(0, true), (10, false), (3_000, true), (3_100, false)],
                3_100
            ),
            vec![(S, 0, DEBOUNCE), (S, 3_000, 3_100)]
        );
    }

    #[test]
    fn lockout_zero_takes_every_edge() {
        let mut d = GestureDecoder::new(
            &map(SHORT_ONLY),
            GestureTiming {
                debounce: Duration::ZERO,
                long_press: Duration::from_millis(LONG),
                double_press: Duration::from_millis(DOUBLE),
            },
        );
        assert_eq!(
            run(&mut d, &[(0, true), (1, false), (2, true)], 10),
            vec![(S, 0, 0), (S, 2, 2)]
        );
    }

    #[test]
    fn keys_are_independent_and_unmapped_keys_ignored() {
        let mut d = decoder(&[
            ("KEY_1", Gesture::Short, "play_pause"),
            ("KEY_1", Gesture::Long, "stop"),
            ("KEY_2", Gesture::Short, "next_song"),
        ]);
        let mut out = Vec::new();
        d.on_key(KeyCode::KEY_1, true, ms(0), &mut out);
        d.on_key(KeyCode::KEY_9, true, ms(5), &mut out);
        d.on_key(KeyCode::KEY_2, true, ms(10), &mut out);
        d.on_key(KeyCode::KEY_1, false, ms(100), &mut out);
        let got: Vec<_> = out.iter().map(|e| e.action.clone()).collect();
        assert_eq!(got, vec![Action::NextSong, Action::PlayPause]);
    }

    #[test]
    fn events_from_input_event_records() {
        let mut d = decoder(SHORT_LONG);
        let mut out = Vec::new();
        let ev = |type_: u16, code: u16, value: i32, t_ms: u64| {
            let t = ms(t_ms);
            InputEvent::from(libc::input_event {
                time: libc::timeval {
                    tv_sec: t.as_secs() as libc::time_t,
                    tv_usec: t.subsec_micros() as libc::suseconds_t,
                },
                type_,
                code,
                value,
            })
        };
        let key = EventType::KEY.0;
        d.on_event(&ev(key, KeyCode::KEY_1.0, 1, 0), &mut out);
        d.on_event(&ev(key, KeyCode::KEY_1.0, 2, 250), &mut out); // autorepeat: ignored
        d.on_event(&ev(EventType::SYNCHRONIZATION.0, 0, 0, 250), &mut out);
        d.on_event(&ev(key, KeyCode::KEY_1.0, 0, 300), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].gesture, out[0].decided_at), (S, ms(300)));
        // SYN_DROPPED while held: the state is forgotten, no long fires later.
        out.clear();
        d.on_event(&ev(key, KeyCode::KEY_1.0, 1, 1_000), &mut out);
        let dropped = SynchronizationCode::SYN_DROPPED.0;
        d.on_event(
            &ev(EventType::SYNCHRONIZATION.0, dropped, 0, 1_010),
            &mut out,
        );
        d.poll(ms(5_000), &mut out);
        assert!(out.is_empty());
        assert_eq!(d.next_deadline(), None);
    }

    #[test]
    fn absurd_timestamps_do_not_panic() {
        let mut d = decoder(ALL_THREE);
        let mut out = Vec::new();
        d.on_key(KeyCode::KEY_1, true, Duration::MAX, &mut out);
        d.on_key(KeyCode::KEY_1, false, Duration::ZERO, &mut out);
        d.poll(Duration::MAX, &mut out);
        d.on_key(KeyCode::KEY_1, true, Duration::from_secs(5), &mut out);
        d.poll(Duration::ZERO, &mut out);
        d.poll(Duration::MAX, &mut out);
        assert!(out.len() <= 2);
    }

    #[test]
    fn timing_is_validated() {
        let ok = ButtonsConfig::default();
        let t = GestureTiming::from_config(&ok).unwrap();
        assert_eq!(t.long_press, Duration::from_millis(600));
        let bad = ButtonsConfig {
            long_press_ms: 20,
            ..ButtonsConfig::default()
        };
        let e = GestureTiming::from_config(&bad).unwrap_err().message;
        assert!(e.starts_with("key `buttons.long_press_ms`"), "{e}");
        let bad = ButtonsConfig {
            debounce_ms: 5_000,
            ..ButtonsConfig::default()
        };
        assert!(GestureTiming::from_config(&bad)
            .unwrap_err()
            .message
            .contains("debounce_ms"));
        let bad = ButtonsConfig {
            double_press_ms: 60_000,
            ..ButtonsConfig::default()
        };
        assert!(GestureTiming::from_config(&bad)
            .unwrap_err()
            .message
            .contains("double_press_ms"));
    }
}
