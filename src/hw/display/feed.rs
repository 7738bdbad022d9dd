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
use std::time::Duration;

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
    use std::time::Instant;

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
