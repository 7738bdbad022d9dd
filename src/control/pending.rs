//! Engine commands the command queue had no room for, waiting in order (control thread).
//!
//! A burst of console commands can fill the engine's command queue faster than the audio
//! thread drains it (once per period). Nothing the controller has answered `ok` to may be
//! lost, so what does not fit waits here and is flushed every control tick and before any
//! new command, in order.
//!
//! To stay small under a flood, absolute setters are coalesced: a new stem gain, mute,
//! solo or pan for a stem, a new master gain, speed or pitch replaces the one still waiting
//! for the same target. The replaced entry is removed and the new one appended at the end,
//! so the order of what is left is the order it was asked in; since a setter only sets, and
//! no waiting command reads what it sets, the engine ends in the state that sending every
//! command would have left. Everything else (play, pause, stop, seek, count-in, loops, loop
//! ramps, song switches) is kept in order and never coalesced or dropped. The buffer is
//! bounded: at most one setter per target plus [`ORDERED_CAPACITY`] ordered entries; what
//! would go beyond is refused as a whole (see [`Pending::admit`]) and the controller answers
//! `error: engine busy, try again`.

use super::controller::ToEngine;
use crate::rt::command::Command;
use crate::rt::MAX_STEMS;
use std::collections::VecDeque;

/// Ordered (never coalesced) entries that may wait at once.
pub const ORDERED_CAPACITY: usize = 64;

/// Coalescable targets: four per stem, then master gain, speed and pitch.
pub const SETTER_TARGETS: usize = 4 * MAX_STEMS + 3;

/// The target an absolute setter sets, if `cmd` is one.
fn target(cmd: &Command) -> Option<usize> {
    let stem = |s: u8| (s as usize).min(MAX_STEMS - 1);
    match *cmd {
        Command::StemGain { stem: s, .. } => Some(4 * stem(s)),
        Command::StemMute { stem: s, .. } => Some(4 * stem(s) + 1),
        Command::StemSolo { stem: s, .. } => Some(4 * stem(s) + 2),
        Command::StemPan { stem: s, .. } => Some(4 * stem(s) + 3),
        Command::MasterGain { .. } => Some(4 * MAX_STEMS),
        Command::Speed { .. } => Some(4 * MAX_STEMS + 1),
        Command::Pitch { .. } => Some(4 * MAX_STEMS + 2),
        _ => None,
    }
}

fn target_of(e: &ToEngine) -> Option<usize> {
    match e {
        ToEngine::Command(c) => target(c),
        ToEngine::Switch { .. } => None,
    }
}

/// The waiting entries, oldest first.
#[derive(Clone, Debug, Default)]
pub struct Pending {
    queue: VecDeque<ToEngine>,
    ordered: usize,
}

impl Pending {
    pub fn new() -> Pending {
        Pending::default()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Adds `e` at the end, coalescing a setter with the one waiting for the same target.
    /// Returns false (and changes nothing) when `e` is ordered and the ordered list is full.
    pub fn push(&mut self, e: ToEngine) -> bool {
        match target_of(&e) {
            Some(t) => {
                if let Some(i) = self.queue.iter().position(|w| target_of(w) == Some(t)) {
                    self.queue.remove(i);
                }
            }
            None => {
                if self.ordered >= ORDERED_CAPACITY {
                    return false;
                }
                self.ordered += 1;
            }
        }
        self.queue.push_back(e);
        true
    }

    /// Ordered entries that still fit.
    pub fn ordered_room(&self) -> usize {
        ORDERED_CAPACITY.saturating_sub(self.ordered)
    }

    /// Adds `e` even past the bound: for what the engine must get and the controller did not
    /// ask for from a user (a song that finished loading), which cannot be refused.
    pub fn push_past_bound(&mut self, e: ToEngine) {
        if !self.push(e.clone()) {
            self.ordered += 1;
            self.queue.push_back(e);
        }
    }

    /// Adds every entry of `entries` or, if they do not all fit, none of them.
    pub fn admit(&mut self, entries: &[ToEngine]) -> bool {
        let mut trial = self.clone();
        for e in entries {
            if !trial.push(e.clone()) {
                return false;
            }
        }
        *self = trial;
        true
    }

    /// Hands entries to `send`, oldest first, until it refuses one (the queue is full
    /// again); the refused one stays first. Returns how many were handed over.
    pub fn flush(&mut self, mut send: impl FnMut(&ToEngine) -> bool) -> usize {
        let mut n = 0;
        while let Some(e) = self.queue.front() {
            if !send(e) {
                break;
            }
            if target_of(e).is_none() {
                self.ordered -= 1;
            }
            self.queue.pop_front();
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(c: Command) -> ToEngine {
        ToEngine::Command(c)
    }

    fn drain(p: &mut Pending) -> Vec<Command> {
        let mut v = Vec::new();
        p.flush(|e| {
            if let ToEngine::Command(c) = e {
                v.push(*c);
            }
            true
        });
        v
    }

    #[test]
    fn last_setter_per_target_wins_and_moves_to_the_end() {
        let mut p = Pending::new();
        assert!(p.push(cmd(Command::StemGain { stem: 1, gain: 0.5 })));
        assert!(p.push(cmd(Command::Pause)));
        assert!(p.push(cmd(Command::StemGain { stem: 2, gain: 0.7 })));
        assert!(p.push(cmd(Command::StemGain {
            stem: 1,
            gain: 0.25
        })));
        assert!(p.push(cmd(Command::StemMute {
            stem: 1,
            mute: true
        })));
        assert_eq!(
            drain(&mut p),
            vec![
                Command::Pause,
                Command::StemGain { stem: 2, gain: 0.7 },
                Command::StemGain {
                    stem: 1,
                    gain: 0.25
                },
                Command::StemMute {
                    stem: 1,
                    mute: true
                },
            ]
        );
        assert!(p.is_empty());
    }

    #[test]
    fn a_flood_of_setters_stays_bounded_and_ends_in_the_last_values() {
        let mut p = Pending::new();
        for i in 0..10_000u32 {
            let s = (i % 300) as u8; // stems beyond MAX_STEMS share the last target
            assert!(p.push(cmd(Command::StemGain {
                stem: s,
                gain: i as f32
            })));
            assert!(p.push(cmd(Command::MasterGain { gain: f32::NAN })));
            assert!(p.push(cmd(Command::Speed { factor: i as f32 })));
            assert!(p.push(cmd(Command::Pitch { st: -(i as f32) })));
            assert!(p.push(cmd(Command::StemPan {
                stem: s,
                pan: f32::INFINITY
            })));
        }
        assert!(p.len() <= SETTER_TARGETS);
        let out = drain(&mut p);
        assert!(out.contains(&Command::Speed { factor: 9999.0 }));
        assert!(out.contains(&Command::Pitch { st: -9999.0 }));
    }

    #[test]
    fn transport_is_kept_in_order_and_refused_when_full() {
        let mut p = Pending::new();
        for i in 0..ORDERED_CAPACITY {
            let c = if i % 2 == 0 {
                Command::Play
            } else {
                Command::Pause
            };
            assert!(p.push(cmd(c)));
        }
        assert!(!p.push(cmd(Command::Stop)));
        assert!(!p.push(cmd(Command::Seek { frame: u64::MAX })));
        // Setters still coalesce in a full buffer.
        assert!(p.push(cmd(Command::MasterGain { gain: 0.5 })));
        let out = drain(&mut p);
        assert_eq!(out.len(), ORDERED_CAPACITY + 1);
        assert_eq!(out[0], Command::Play);
        assert_eq!(out[ORDERED_CAPACITY - 1], Command::Pause);
        // Room again once flushed.
        assert!(p.push(cmd(Command::Stop)));
    }

    #[test]
    fn admit_is_all_or_nothing() {
        let mut p = Pending::new();
        for _ in 0..ORDERED_CAPACITY - 1 {
            assert!(p.push(cmd(Command::Seek { frame: 0 })));
        }
        let before = p.len();
        assert!(!p.admit(&[
            cmd(Command::StemGain { stem: 0, gain: 2.0 }),
            cmd(Command::Play),
            cmd(Command::Pause),
        ]));
        assert_eq!(p.len(), before);
        assert!(p.admit(&[
            cmd(Command::StemGain { stem: 0, gain: 2.0 }),
            cmd(Command::Play)
        ]));
        assert_eq!(p.len(), before + 2);
    }

    #[test]
    fn flush_stops_at_a_full_queue_and_keeps_the_refused_entry() {
        let mut p = Pending::new();
        p.push(cmd(Command::Play));
        p.push(cmd(Command::Pause));
        p.push(cmd(Command::Stop));
        let mut room = 2;
        let sent = p.flush(|_| {
            if room == 0 {
                return false;
            }
            room -= 1;
            true
        });
        assert_eq!(sent, 2);
        assert_eq!(drain(&mut p), vec![Command::Stop]);
        // The ordered count followed the flushes: a full list fits again.
        for _ in 0..ORDERED_CAPACITY {
            assert!(p.push(cmd(Command::Stop)));
        }
    }
}
