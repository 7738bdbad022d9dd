//! Whether the output device is there, decided without I/O: the session tells the watcher
//! what happened (the audio thread ended on a device error, an open failed, the device came
//! back with another format, a reopened device started or played its first period) and the
//! watcher says when to try again ([`Backoff`]), what to say, and when a loss is one loss: a
//! reopened device that fails again before it has played a period is the same loss, said
//! once and retried on the same schedule. Control thread.

use super::reopen::Backoff;
use std::time::Instant;

#[derive(Clone, Debug, PartialEq)]
enum State {
    Present,
    /// Gone; reopen attempts follow `backoff`.
    Lost {
        backoff: Backoff,
        since: Instant,
        /// A device that came back with another rate or channel count is refused (songs
        /// are resampled to the rate the engine was built for); said once per loss.
        told_mismatch: bool,
    },
    /// Reopened; an audio thread started at engine period `at_spawn` and has not played.
    Reopened {
        at_spawn: u64,
        backoff: Backoff,
        since: Instant,
    },
}

/// What the session does after the audio thread ended on a device error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// A new loss: say it.
    New,
    /// The reopened device failed before playing: the same loss goes on, quietly.
    Continued,
}

/// The watcher of one output device.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceWatch {
    state: State,
    losses: u32,
}

impl DeviceWatch {
    /// A watcher for a device that opened; `absent_at_start`: it had to be waited for (that
    /// counts as a loss).
    pub fn new(absent_at_start: bool) -> DeviceWatch {
        DeviceWatch {
            state: State::Present,
            losses: absent_at_start as u32,
        }
    }

    /// Times the device was lost since start.
    pub fn losses(&self) -> u32 {
        self.losses
    }

    /// The device is gone and no audio thread runs on it.
    pub fn is_lost(&self) -> bool {
        matches!(self.state, State::Lost { .. })
    }

    /// The audio thread ended on a device error at `now`, with the engine at `periods`.
    pub fn thread_ended(&mut self, now: Instant, periods: u64) -> Loss {
        let (backoff, since, loss) = match std::mem::replace(&mut self.state, State::Present) {
            State::Reopened {
                at_spawn,
                mut backoff,
                since,
            } if periods == at_spawn => {
                backoff.failed(now);
                (backoff, since, Loss::Continued)
            }
            _ => {
                self.losses = self.losses.saturating_add(1);
                (Backoff::new(now), now, Loss::New)
            }
        };
        self.state = State::Lost {
            backoff,
            since,
            told_mismatch: false,
        };
        loss
    }

    /// Whether a reopen attempt is due at `now`.
    pub fn reopen_due(&self, now: Instant) -> bool {
        matches!(&self.state, State::Lost { backoff, .. } if backoff.due(now))
    }

    /// A reopen attempt at `now` failed (the device is not there, or refused to open).
    pub fn open_failed(&mut self, now: Instant) {
        if let State::Lost { backoff, .. } = &mut self.state {
            backoff.failed(now);
        }
    }

    /// The device opened at `now` with another rate or channel count than the engine's: it
    /// is refused and tried again later; true when that is to be said (once per loss).
    pub fn came_back_different(&mut self, now: Instant) -> bool {
        match &mut self.state {
            State::Lost {
                backoff,
                told_mismatch,
                ..
            } => {
                backoff.failed(now);
                !std::mem::replace(told_mismatch, true)
            }
            _ => false,
        }
    }

    /// The device opened as it was, and an audio thread starts on it at engine period
    /// `at_spawn`. Returns the attempts it took and when the loss began, for the
    /// `reopened` line; `None` when no loss was under way.
    pub fn reopening(&mut self, at_spawn: u64) -> Option<(u32, Instant)> {
        match std::mem::replace(&mut self.state, State::Present) {
            State::Lost { backoff, since, .. } => {
                let tries = backoff.failures() + 1;
                self.state = State::Reopened {
                    at_spawn,
                    backoff,
                    since,
                };
                Some((tries, since))
            }
            other => {
                self.state = other;
                None
            }
        }
    }

    /// The engine is at `periods`: true once, when a reopened device has played a period
    /// (the moment to say `reopened`).
    pub fn played(&mut self, periods: u64) -> bool {
        match self.state {
            State::Reopened { at_spawn, .. } if periods > at_spawn => {
                self.state = State::Present;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ms(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn a_loss_is_said_once_retried_on_schedule_and_ends_when_the_device_plays() {
        let t0 = Instant::now();
        let mut w = DeviceWatch::new(false);
        assert_eq!(w.thread_ended(t0, 100), Loss::New);
        assert!(w.is_lost() && w.losses() == 1);
        assert!(!w.reopen_due(ms(t0, 100)));
        assert!(w.reopen_due(ms(t0, 250)));
        w.open_failed(ms(t0, 250));
        assert!(!w.reopen_due(ms(t0, 600)));
        assert!(w.reopen_due(ms(t0, 750)));
        let (tries, since) = w.reopening(100).unwrap();
        assert_eq!((tries, since), (2, t0));
        assert!(!w.is_lost());
        assert!(!w.played(100), "no period played yet");
        assert!(w.played(101));
        assert!(!w.played(102), "said once");
        assert_eq!(w.losses(), 1);
    }

    #[test]
    fn a_reopened_device_that_fails_before_playing_is_the_same_loss() {
        let t0 = Instant::now();
        let mut w = DeviceWatch::new(true);
        assert_eq!(w.losses(), 1, "absent at start counts");
        assert_eq!(w.thread_ended(t0, 5), Loss::New);
        w.reopening(5);
        assert_eq!(w.thread_ended(ms(t0, 300), 5), Loss::Continued);
        assert_eq!(w.losses(), 2);
        // Its schedule went on: the wait doubled from the first retry.
        assert!(!w.reopen_due(ms(t0, 500)));
        assert!(w.reopen_due(ms(t0, 800)));
        // One that played before failing is a new loss.
        w.reopening(5);
        assert!(w.played(6));
        assert_eq!(w.thread_ended(ms(t0, 900), 6), Loss::New);
        assert_eq!(w.losses(), 3);
    }

    #[test]
    fn a_device_that_comes_back_different_is_said_once_per_loss() {
        let t0 = Instant::now();
        let mut w = DeviceWatch::new(false);
        w.thread_ended(t0, 1);
        assert!(w.came_back_different(ms(t0, 250)));
        assert!(!w.came_back_different(ms(t0, 750)));
        assert!(w.is_lost());
        w.reopening(1);
        w.played(2);
        w.thread_ended(ms(t0, 2000), 2);
        assert!(
            w.came_back_different(ms(t0, 2250)),
            "a new loss says it again"
        );
    }
}
