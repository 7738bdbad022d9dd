//! The display's feed: the song and live views control publishes on the remote board,
//! turned into the few things the display shows. Thread folders do not import each other,
//! so this small adapter lives here, where both are in reach. Its work (waiting on the board,
//! converting) runs on the display thread, never on control's; a song's lyrics and tempo map
//! are converted once per song, not on every live publish.

use crate::hw::display::feed::{
    DisplayFeed, LiveShown, LyricAt, SectionSpan, Shown, SongShown, TempoSpan,
};
use crate::remote::link::Board;
use crate::remote::view::{LiveView, SongView};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Feeds the display from `board` (hand it to `DisplayThread::spawn`).
#[derive(Debug)]
pub struct BoardFeed {
    board: Arc<Board>,
    /// The board's `song_seq` the cached song was converted from.
    song_seq: Option<u64>,
    song: Arc<SongShown>,
}

impl BoardFeed {
    pub fn new(board: Arc<Board>) -> BoardFeed {
        BoardFeed {
            board,
            song_seq: None,
            song: Arc::new(SongShown::default()),
        }
    }
}

impl DisplayFeed for BoardFeed {
    fn wait_newer(&mut self, seen: Option<u64>, timeout: Duration) -> Shown {
        let p = match seen {
            None => self.board.latest(),
            Some(seq) => self.board.wait_newer(seq, timeout),
        };
        if self.song_seq != Some(p.song_seq) {
            self.song = Arc::new(song_shown(&p.song));
            self.song_seq = Some(p.song_seq);
        }
        let mut live = live_shown(&p.live);
        // `at_ms` is on control's clock; the display waits on the board, so the time it
        // gets a view is within a wake-up of the publish (only a view older than the
        // display thread itself is stamped late, until the next publish).
        live.read_at = Some(Instant::now());
        Shown {
            seq: p.seq,
            song: self.song.clone(),
            live,
        }
    }
}

/// What the display shows of a song view.
pub fn song_shown(v: &SongView) -> SongShown {
    SongShown {
        number: v.number,
        title: v.title.clone(),
        name: v.name.clone(),
        key: v.key.clone(),
        tempo: v
            .tempo
            .iter()
            .map(|t| TempoSpan {
                at_s: t.at_s,
                bar: t.bar,
                bpm: t.bpm,
                beats_per_bar: t.beats_per_bar,
                beat_unit: t.beat_unit,
            })
            .collect(),
        sections: v
            .sections
            .iter()
            .map(|s| SectionSpan {
                name: s.name.clone(),
                start_s: s.start_s,
                end_s: s.end_s,
            })
            .collect(),
        lyrics: v
            .lyrics
            .iter()
            .map(|l| LyricAt {
                at_s: l.at_s,
                text: l.text.clone(),
            })
            .collect(),
    }
}

/// What the display shows of a live view.
pub fn live_shown(v: &LiveView) -> LiveShown {
    LiveShown {
        transport: v.transport.clone(),
        pos_s: v.pos_s,
        speed_pct: v.speed_pct,
        pitch_st: v.pitch_st,
        loop_on: v.loop_on,
        ready: v.health.ready,
        waiting_for: v.health.waiting_for.clone(),
        xruns: v.health.xruns,
        device_lost: v.health.device_lost,
        read_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::view::{Health, LyricLine, SectionView, TempoView};

    fn song_view() -> SongView {
        SongView {
            number: 2,
            name: "02-blue".into(),
            title: "Blue".into(),
            key: Some("E".into()),
            tempo: vec![TempoView {
                at_s: 0.0,
                bar: 1,
                bpm: 96.0,
                beats_per_bar: 3,
                beat_unit: 4,
            }],
            sections: vec![SectionView {
                name: "Verse".into(),
                start_s: 4.0,
                end_s: 20.0,
                bar: Some(3),
            }],
            lyrics: vec![LyricLine {
                at_s: 5.0,
                text: "so blue".into(),
                chords: vec![],
            }],
            ..SongView::default()
        }
    }

    #[test]
    fn the_feed_carries_what_the_views_say() {
        let board = Arc::new(Board::default());
        let live = LiveView {
            transport: "playing".into(),
            pos_s: 6.0,
            speed_pct: 90.0,
            pitch_st: -1.0,
            loop_on: true,
            health: Health {
                ready: true,
                xruns: 4,
                device_lost: false,
                waiting_for: None,
                ..Health::default()
            },
            ..LiveView::default()
        };
        board.publish_song(song_view(), live.clone());
        let mut feed = BoardFeed::new(board.clone());
        let s = feed.wait_newer(None, Duration::from_secs(1));
        assert_eq!(s.seq, 1);
        assert_eq!(
            (s.song.number, &*s.song.title, &*s.song.name),
            (2, "Blue", "02-blue")
        );
        assert_eq!(s.song.key.as_deref(), Some("E"));
        assert_eq!(s.song.tempo[0].bpm, 96.0);
        assert_eq!(s.song.tempo[0].beats_per_bar, 3);
        assert_eq!(
            (s.song.sections[0].start_s, s.song.sections[0].end_s),
            (4.0, 20.0)
        );
        assert_eq!(s.song.lyrics[0].text, "so blue");
        assert!(s.live.read_at.is_some(), "stamped when received");
        assert_eq!(
            LiveShown {
                read_at: None,
                ..s.live
            },
            LiveShown {
                transport: "playing".into(),
                pos_s: 6.0,
                speed_pct: 90.0,
                pitch_st: -1.0,
                loop_on: true,
                ready: true,
                waiting_for: None,
                xruns: 4,
                device_lost: false,
                read_at: None,
            }
        );
    }

    #[test]
    fn a_song_is_converted_once_and_again_only_when_it_changes() {
        let board = Arc::new(Board::default());
        board.publish_song(song_view(), LiveView::default());
        let mut feed = BoardFeed::new(board.clone());
        let first = feed.wait_newer(None, Duration::from_secs(1));
        board.publish_live(LiveView {
            pos_s: 9.0,
            ..LiveView::default()
        });
        let second = feed.wait_newer(Some(first.seq), Duration::from_secs(5));
        assert_eq!((second.seq, second.live.pos_s), (2, 9.0));
        assert!(
            Arc::ptr_eq(&first.song, &second.song),
            "same song: not converted again"
        );
        let mut other = song_view();
        other.number = 3;
        board.publish_song(other, LiveView::default());
        let third = feed.wait_newer(Some(second.seq), Duration::from_secs(5));
        assert_eq!(third.song.number, 3);
        // Nothing newer: the wait times out with the latest.
        let same = feed.wait_newer(Some(third.seq), Duration::from_millis(10));
        assert_eq!(same.seq, third.seq);
    }
}
