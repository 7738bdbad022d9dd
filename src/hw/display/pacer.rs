//! When the display draws: only when what it would show has changed, and at most
//! `max_fps` frames a second however fast control publishes. A change that arrives too soon
//! is held (the newest replacing any older one) and drawn as soon as the next frame is
//! allowed, so the screen always ends on the latest state. Pure: the caller passes the time,
//! so tests count frames over a made-up clock instead of sleeping.

use std::time::{Duration, Instant};

/// The most frames a second the display draws (the limit; an I2C OLED at 400 kHz
/// could do more, but nothing a musician reads changes faster).
pub const MAX_FPS: u8 = 10;

/// Decides which offered contents are drawn, and when.
#[derive(Debug)]
pub struct FramePacer<T> {
    min_interval: Duration,
    /// What the panel shows (None: nothing known, e.g. at start or after a failure).
    shown: Option<T>,
    /// Newer than `shown`, waiting for its frame.
    pending: Option<T>,
    /// The earliest time the next frame may be drawn.
    next_at: Option<Instant>,
}

impl<T: Clone + PartialEq> FramePacer<T> {
    /// At most `max_fps` frames a second, clamped to 1..=[`MAX_FPS`].
    pub fn new(max_fps: u8) -> FramePacer<T> {
        let fps = max_fps.clamp(1, MAX_FPS);
        FramePacer {
            min_interval: Duration::from_secs(1) / fps as u32,
            shown: None,
            pending: None,
            next_at: None,
        }
    }

    pub fn min_interval(&self) -> Duration {
        self.min_interval
    }

    /// `content` is what the screen should show as of `now`: returns it when it is to be
    /// drawn now; `None` when the panel already shows it or it must wait for [`Self::poll`].
    pub fn offer(&mut self, content: T, now: Instant) -> Option<T> {
        if self.shown.as_ref() == Some(&content) {
            // Changed and changed back before its frame: nothing to draw.
            self.pending = None;
            return None;
        }
        self.pending = Some(content);
        self.poll(now)
    }

    /// The held content, once its frame is due.
    pub fn poll(&mut self, now: Instant) -> Option<T> {
        if self.next_at.is_some_and(|t| now < t) {
            return None;
        }
        let content = self.pending.take()?;
        self.next_at = Some(now + self.min_interval);
        self.shown = Some(content.clone());
        Some(content)
    }

    /// How long the caller may wait for news before it must [`Self::poll`]: until the held
    /// content is due, or `idle` when nothing is held.
    pub fn wait(&self, now: Instant, idle: Duration) -> Duration {
        match (&self.pending, self.next_at) {
            (Some(_), Some(t)) => t.saturating_duration_since(now).min(idle),
            (Some(_), None) => Duration::ZERO,
            (None, _) => idle,
        }
    }

    /// The panel no longer shows what was drawn (it failed, or was re-initialised): the
    /// next offer draws even if unchanged.
    pub fn forget_shown(&mut self) {
        self.shown = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock() -> impl Fn(u64) -> Instant {
        let base = Instant::now();
        move |ms| base + Duration::from_millis(ms)
    }

    #[test]
    fn a_fast_stream_of_changes_draws_at_most_max_fps_and_ends_on_the_newest() {
        let t = clock();
        let mut p = FramePacer::new(10);
        let mut drawn: Vec<(u64, u32)> = Vec::new();
        // 1000 different contents, one every 10 ms (a 100 Hz publisher) over 10 s; the caller
        // also polls every 10 ms, as the thread's wait would let it.
        for i in 0..1000u32 {
            let ms = i as u64 * 10;
            if let Some(c) = p.offer(i, t(ms)) {
                drawn.push((ms, c));
            }
        }
        assert_eq!(drawn.len(), 100, "10 s at 10 fps");
        for w in drawn.windows(2) {
            assert!(w[1].0 - w[0].0 >= 100, "frames {w:?} closer than 100 ms");
        }
        // Any 1 s window holds at most 10 frames.
        for start in (0..10_000).step_by(10) {
            let n = drawn
                .iter()
                .filter(|(ms, _)| (start..start + 1000).contains(ms))
                .count();
            assert!(n <= 10, "{n} frames in 1 s from {start} ms");
        }
        assert_eq!(drawn[0], (0, 0), "the first change draws at once");
        // The stream stops on 999, held since 9990 ms; it is drawn when due, not lost.
        assert_eq!(p.poll(t(9995)), None);
        assert_eq!(
            p.wait(t(9995), Duration::from_secs(1)),
            Duration::from_millis(5)
        );
        assert_eq!(p.poll(t(10_000)), Some(999));
        assert_eq!(p.poll(t(20_000)), None, "nothing new");
        assert_eq!(
            p.wait(t(20_000), Duration::from_millis(200)),
            Duration::from_millis(200)
        );
    }

    #[test]
    fn unchanged_content_is_never_redrawn() {
        let t = clock();
        let mut p = FramePacer::new(10);
        let frames = (0..500u64)
            .filter(|&i| p.offer("5:3", t(i * 7)).is_some())
            .count();
        assert_eq!(frames, 1);
        // A change that reverts before its frame draws nothing.
        assert_eq!(p.offer("5:4", t(3500)), Some("5:4"));
        assert_eq!(p.offer("5:3", t(3510)), None);
        assert_eq!(p.offer("5:4", t(3520)), None, "back to what is shown");
        assert_eq!(p.poll(t(4000)), None);
        // After the panel lost its picture the same content is drawn again.
        p.forget_shown();
        assert_eq!(p.offer("5:4", t(4000)), Some("5:4"));
    }

    #[test]
    fn the_rate_is_clamped_and_counted_per_setting() {
        let t = clock();
        for (fps, expect) in [(0u8, 10usize), (1, 10), (4, 40), (10, 100), (60, 100)] {
            let mut p = FramePacer::new(fps);
            let n = (0..2000u64)
                .filter(|&i| p.offer(i, t(i * 5)).is_some())
                .count();
            assert_eq!(n, expect, "max_fps {fps} over 10 s");
        }
    }
}
