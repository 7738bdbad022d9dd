//! What the display is fed, in its own terms: the few things the screen shows, split like
//! the remote board into what changes with the song and what changes while it plays.
//!
//! The display thread reads them through a [`DisplayFeed`]. Thread folders do not import
//! each other, so the feed from the remote `Board` that control publishes on lives in
//! control (`control::display_feed::BoardFeed`); tests feed the thread from a
//! [`FeedBoard`] of their own, or from that same `BoardFeed`.
//!
//! Times are song time in seconds (as on the board), so sections and lyrics hold at any
//! speed.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What changes only with the song.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SongShown {
    /// Setlist number, 1-based; 0 when no song is loaded.
    pub number: usize,
    /// `song.json`'s title; empty when it has none (the folder name shows then).
    pub title: String,
    /// Folder name.
    pub name: String,
    /// The song's musical key, as written (`Am`).
    pub key: Option<String>,
    /// The tempo map in time order; empty when the song has no tempo.
    pub tempo: Vec<TempoSpan>,
    pub sections: Vec<SectionSpan>,
    /// In time order.
    pub lyrics: Vec<LyricAt>,
}

/// From `at_s` on, `bpm` quarter notes a minute in `beats_per_bar`/`beat_unit`, the first
/// downbeat being bar `bar` (1-based).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TempoSpan {
    pub at_s: f64,
    pub bar: u32,
    pub bpm: f64,
    pub beats_per_bar: u8,
    pub beat_unit: u8,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SectionSpan {
    pub name: String,
    pub start_s: f64,
    pub end_s: f64,
}

/// A lyric line and when it is sung.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LyricAt {
    pub at_s: f64,
    pub text: String,
}

/// What changes while the song plays.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveShown {
    /// `playing`, `paused`, `stopped` or `count-in`.
    pub transport: String,
    /// Play head in song time.
    pub pos_s: f64,
    pub speed_pct: f32,
    pub pitch_st: f32,
    pub loop_on: bool,
    /// False until the first song is loaded and the device runs.
    pub ready: bool,
    /// What the box waits for before `ready`, in words.
    pub waiting_for: Option<String>,
    pub xruns: u64,
    pub device_lost: bool,
    /// When `pos_s` was the play head, if known: while playing, the display moves the head
    /// on from it at `speed_pct`, so bar:beat advances between publishes.
    pub read_at: Option<Instant>,
}

/// How far past the last publish the display moves a playing head on by itself: a control
/// thread that stopped publishing must not leave the bars counting up for ever.
pub const MAX_EXTRAPOLATION: Duration = Duration::from_secs(5);

impl LiveShown {
    /// Whether the head moves by itself (playing, with a known read time and speed).
    pub fn is_moving(&self) -> bool {
        self.transport == "playing" && self.read_at.is_some() && self.speed_pct > 0.0
    }

    /// The play head at `now`: `pos_s` moved on at `speed_pct` since `read_at` while
    /// playing (at most [`MAX_EXTRAPOLATION`]), else `pos_s`.
    pub fn pos_at(&self, now: Instant) -> f64 {
        match self.read_at {
            Some(at) if self.is_moving() => {
                let since = now.saturating_duration_since(at).min(MAX_EXTRAPOLATION);
                self.pos_s + since.as_secs_f64() * self.speed_pct as f64 / 100.0
            }
            _ => self.pos_s,
        }
    }
}

/// One published state.
#[derive(Clone, Debug, Default)]
pub struct Shown {
    /// Bumped on every publish.
    pub seq: u64,
    pub song: Arc<SongShown>,
    pub live: LiveShown,
}

/// Where the display thread reads what to show; called from the display thread only.
pub trait DisplayFeed: Send + 'static {
    /// The latest state once something newer than `seen` is published or `timeout` has
    /// passed; at once when `seen` is `None`.
    fn wait_newer(&mut self, seen: Option<u64>, timeout: Duration) -> Shown;
}

/// A feed a caller publishes on directly (tests, tools): one writer, any readers.
#[derive(Debug, Default)]
pub struct FeedBoard {
    latest: Mutex<Shown>,
    changed: Condvar,
}

impl FeedBoard {
    /// A new song and live state (any thread).
    pub fn publish(&self, song: SongShown, live: LiveShown) {
        let mut s = self.lock();
        s.seq += 1;
        s.song = Arc::new(song);
        s.live = live;
        drop(s);
        self.changed.notify_all();
    }

    /// A new live state, same song (any thread).
    pub fn publish_live(&self, live: LiveShown) {
        let mut s = self.lock();
        s.seq += 1;
        s.live = live;
        drop(s);
        self.changed.notify_all();
    }

    pub fn latest(&self) -> Shown {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Shown> {
        // Plain data: a panic elsewhere while holding the lock leaves nothing half-done.
        self.latest.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl DisplayFeed for Arc<FeedBoard> {
    fn wait_newer(&mut self, seen: Option<u64>, timeout: Duration) -> Shown {
        let Some(seen) = seen else {
            return self.latest();
        };
        let s = self.lock();
        let (s, _) = self
            .changed
            .wait_timeout_while(s, timeout, |s| s.seq <= seen)
            .unwrap_or_else(|e| e.into_inner());
        s.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_playing_head_moves_on_at_its_speed_and_no_further_than_the_cap() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut live = LiveShown {
            transport: "playing".into(),
            pos_s: 10.0,
            speed_pct: 50.0,
            read_at: Some(t0),
            ..LiveShown::default()
        };
        assert_eq!(live.pos_at(t0), 10.0);
        assert_eq!(
            live.pos_at(at(1000)),
            10.5,
            "half speed: half a second of song"
        );
        assert_eq!(
            live.pos_at(at(60_000)),
            12.5,
            "capped at 5 s past the publish"
        );
        live.speed_pct = 100.0;
        assert_eq!(live.pos_at(at(2000)), 12.0);
        assert_eq!(
            live.pos_at(t0 - Duration::from_secs(1)),
            10.0,
            "never backwards"
        );
        for transport in ["paused", "stopped", "count-in"] {
            live.transport = transport.into();
            assert!(!live.is_moving());
            assert_eq!(live.pos_at(at(2000)), 10.0, "{transport}");
        }
        live.transport = "playing".into();
        live.read_at = None;
        assert_eq!(live.pos_at(at(2000)), 10.0, "no read time: no guess");
    }

    #[test]
    fn a_reader_wakes_on_publish_and_times_out_without() {
        let board = Arc::new(FeedBoard::default());
        let mut feed = board.clone();
        assert_eq!(
            feed.wait_newer(None, Duration::from_secs(10)).seq,
            0,
            "at once"
        );
        let started = Instant::now();
        let s = feed.wait_newer(Some(0), Duration::from_millis(30));
        assert_eq!(s.seq, 0);
        assert!(started.elapsed() >= Duration::from_millis(30));
        let mut reader = board.clone();
        let waiter =
            std::thread::spawn(move || reader.wait_newer(Some(0), Duration::from_secs(10)));
        board.publish_live(LiveShown {
            pos_s: 4.5,
            ..LiveShown::default()
        });
        let got = waiter.join().unwrap();
        assert_eq!((got.seq, got.live.pos_s), (1, 4.5));
    }
}
