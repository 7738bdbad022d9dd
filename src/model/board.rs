//! The board: the latest state control publishes for every screen (the phone page, OSC
//! clients, the box's display), as a [`SongView`] (changes with the song) and a
//! [`LiveView`] (transport, mixer, health). One writer (control), any number of readers,
//! each of which serialises or draws what it needs; the lock is held only to swap or clone
//! two `Arc`s, so control never waits on a slow reader.

use super::view::{LiveView, SongView};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// The latest published state.
#[derive(Clone, Debug)]
pub struct Published {
    /// Bumped on every publish; a reader compares it with the last one it showed.
    pub seq: u64,
    /// Bumped when the song view changes (a new song, its lyrics loaded, ...).
    pub song_seq: u64,
    pub song: Arc<SongView>,
    pub live: Arc<LiveView>,
}

/// The state control publishes and the remote threads read. One writer (control), any
/// number of readers; the lock is held only to swap or clone two `Arc`s, so control never
/// waits on a slow client.
#[derive(Debug)]
pub struct Board {
    latest: Mutex<Published>,
    changed: Condvar,
}

impl Default for Board {
    fn default() -> Board {
        Board {
            latest: Mutex::new(Published {
                seq: 0,
                song_seq: 0,
                song: Arc::new(SongView::default()),
                live: Arc::new(LiveView::default()),
            }),
            changed: Condvar::new(),
        }
    }
}

impl Board {
    /// Called from the control thread: a new song view (and live view with it).
    pub fn publish_song(&self, song: SongView, live: LiveView) {
        let mut p = self.lock();
        p.seq += 1;
        p.song_seq += 1;
        p.song = Arc::new(song);
        p.live = Arc::new(live);
        drop(p);
        self.changed.notify_all();
    }

    /// Called from the control thread: a new live view (same song).
    pub fn publish_live(&self, live: LiveView) {
        let mut p = self.lock();
        p.seq += 1;
        p.live = Arc::new(live);
        drop(p);
        self.changed.notify_all();
    }

    /// The latest state (any thread).
    pub fn latest(&self) -> Published {
        self.lock().clone()
    }

    /// Waits until something newer than `seen_seq` is published, or `timeout` passes; returns
    /// the latest state either way (any thread but control).
    pub fn wait_newer(&self, seen_seq: u64, timeout: Duration) -> Published {
        let p = self.lock();
        let (p, _) = self
            .changed
            .wait_timeout_while(p, timeout, |p| p.seq <= seen_seq)
            .unwrap_or_else(|e| e.into_inner());
        p.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Published> {
        // A panic elsewhere while holding the lock leaves plain data behind: keep using it.
        self.latest.lock().unwrap_or_else(|e| e.into_inner())
    }
}
