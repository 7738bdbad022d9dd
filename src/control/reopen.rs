//! When to try a lost output device again. A USB interface that was unplugged, or one that
//! enumerates late at boot, comes back whenever it comes back: the runtime keeps trying,
//! forever, but backs off so that a device that stays away costs a failed `snd_pcm_open`
//! every 2 s, not a busy loop. Pure timing, no I/O; control thread.

use std::time::{Duration, Instant};

/// Wait before the first attempt after a loss (a replugged interface needs a moment for
/// udev anyway).
pub const FIRST_RETRY: Duration = Duration::from_millis(250);
/// The wait doubles after each failed attempt up to this, then stays there.
pub const MAX_RETRY: Duration = Duration::from_secs(2);

/// The schedule of reopen attempts after one loss.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The wait that led to `next_at`.
    delay: Duration,
    next_at: Instant,
    /// Attempts that failed so far.
    failures: u32,
}

impl Backoff {
    /// The device was lost at `now`: the first attempt is [`FIRST_RETRY`] later.
    pub fn new(now: Instant) -> Backoff {
        Backoff {
            delay: FIRST_RETRY,
            next_at: now + FIRST_RETRY,
            failures: 0,
        }
    }

    /// Whether an attempt is due at `now`.
    pub fn due(&self, now: Instant) -> bool {
        now >= self.next_at
    }

    /// An attempt at `now` failed: the next one waits twice as long as the last, at most
    /// [`MAX_RETRY`], counted from `now` (an attempt that itself took long, such as an open
    /// that timed out, does not make the next one due at once).
    pub fn failed(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        self.delay = (self.delay * 2).min(MAX_RETRY);
        self.next_at = now + self.delay;
    }

    /// Attempts that failed so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// How long until the next attempt, from `now` (zero when due).
    pub fn wait(&self, now: Instant) -> Duration {
        self.next_at.saturating_duration_since(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn first_attempt_after_a_quarter_second_then_doubling_to_two_seconds_forever() {
        let t0 = Instant::now();
        let mut b = Backoff::new(t0);
        assert!(!b.due(t0));
        assert!(!b.due(t0 + 249 * MS));
        assert!(b.due(t0 + 250 * MS));
        let mut now = t0 + 250 * MS;
        let mut waits = Vec::new();
        for _ in 0..1000 {
            assert!(b.due(now));
            b.failed(now);
            let w = b.wait(now);
            assert!(!b.due(now + w - MS), "not due before its time");
            waits.push(w.as_millis() as u64);
            now += w;
        }
        assert_eq!(&waits[..5], &[500, 1000, 2000, 2000, 2000]);
        assert!(waits.iter().all(|&w| w <= 2000));
        assert_eq!(*waits.last().unwrap(), 2000, "never gives up, never grows");
        assert_eq!(b.failures(), 1000);
    }

    #[test]
    fn a_slow_failed_attempt_counts_the_wait_from_when_it_ended() {
        let t0 = Instant::now();
        let mut b = Backoff::new(t0);
        // The open took 5 s (a hung driver): the next try is 0.5 s after it returned.
        let end = t0 + Duration::from_secs(5);
        b.failed(end);
        assert!(!b.due(end));
        assert_eq!(b.wait(end), 500 * MS);
        assert_eq!(b.wait(end + Duration::from_secs(9)), Duration::ZERO);
    }

    #[test]
    fn failures_saturate_instead_of_wrapping() {
        let t0 = Instant::now();
        let mut b = Backoff::new(t0);
        b.failures = u32::MAX - 1;
        b.failed(t0);
        b.failed(t0);
        assert_eq!(b.failures(), u32::MAX);
        assert_eq!(b.wait(t0), 1000 * MS, "the schedule goes on as usual");
    }
}
