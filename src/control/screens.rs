//! The views every screen shows (the phone page, OSC clients, the box's display), built on
//! the control thread from the controller and the engine's status, and published on the
//! [`Board`]: a [`SongView`] when the song (or its overview) changes, a [`LiveView`] on
//! every change and, while playing, at most [`LIVE_EVERY`] apart so a late joiner's play
//! head is never far off. Building is cheap (no file is read here but the board's
//! temperature, once a second).

use super::controller::{Controller, EngineView};
use crate::model::board::Board;
use crate::model::song::Song;
use crate::model::view::{Health, LiveView, SectionView, SongView, StemView, TempoView};
use crate::rt::status::Transport;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest a playing song goes without a live view.
pub const LIVE_EVERY: Duration = Duration::from_millis(250);

/// A play head this far from where the last view and the speed put it has jumped, and the
/// screens are told at once (a control tick is 50 ms; the head moves ~0.05 s in one).
pub const JUMP_S: f64 = 0.15;

/// Publishes on the board what changed. Owned by the session.
pub struct Screens {
    board: Arc<Board>,
    /// The song view last published: (setlist number, song, overview ready).
    song: Option<(usize, usize, bool)>,
    live: Option<LiveView>,
    live_at: Instant,
    temp: (Option<f32>, Instant),
}

impl Screens {
    pub fn new(board: Arc<Board>) -> Screens {
        let long_ago = Instant::now() - Duration::from_secs(3600);
        Screens {
            board,
            song: None,
            live: None,
            live_at: long_ago,
            temp: (None, long_ago),
        }
    }

    pub fn board(&self) -> &Arc<Board> {
        &self.board
    }

    /// Publishes what changed since last time. Control thread, every tick and after every
    /// action. `health`: what the session knows of the box (the board's temperature is
    /// added here); `now_ms`: box uptime for [`LiveView::at_ms`].
    pub fn update(
        &mut self,
        controller: &Controller,
        view: &EngineView,
        mut health: Health,
        now_ms: u64,
    ) {
        let now = Instant::now();
        if now.duration_since(self.temp.1) >= Duration::from_secs(1) {
            self.temp = (board_temperature_c(), now);
        }
        let mut live = LiveView {
            transport: match (view.transport, view.counting_in) {
                (_, true) => "count-in".into(),
                (t, false) => t.name().into(),
            },
            pos_s: controller.seconds(view.pos_frames),
            at_ms: now_ms,
            health: {
                health.temp_c = self.temp.0;
                health
            },
            ..LiveView::default()
        };
        controller.fill_live(view, &mut live);
        let song_key = controller.current_song().map(|s| {
            (
                controller.current() + 1,
                Arc::as_ptr(s) as usize,
                s.overview.get().is_some(),
            )
        });
        if song_key != self.song {
            self.song = song_key;
            let song = controller
                .current_song()
                .map_or_else(SongView::default, |s| {
                    song_view(s, controller.current() + 1)
                });
            self.board.publish_song(song, live.clone());
            self.live = Some(live);
            self.live_at = now;
            return;
        }
        let playing = view.transport == Transport::Playing;
        // The play head moves every tick while playing: that alone is no change worth a
        // publish; the page draws it from the speed between views.
        let same = self.live.as_ref().is_some_and(|old| {
            let mut a = old.clone();
            let mut b = live.clone();
            a.pos_s = 0.0;
            a.at_ms = 0;
            b.pos_s = 0.0;
            b.at_ms = 0;
            a.health.uptime_s = 0;
            b.health.uptime_s = 0;
            a == b
        });
        // A jump (seek, section, loop wrap, song start) is a change: the head is not where
        // the last view and the speed put it.
        let jumped = self.live.as_ref().is_some_and(|old| {
            let moving = old.transport == "playing";
            let since_s = now.duration_since(self.live_at).as_secs_f64();
            let expected = old.pos_s
                + if moving {
                    since_s * f64::from(old.speed_pct) / 100.0
                } else {
                    0.0
                };
            (live.pos_s - expected).abs() > JUMP_S
        });
        if !same || jumped || (playing && now.duration_since(self.live_at) >= LIVE_EVERY) {
            self.board.publish_live(live.clone());
            self.live = Some(live);
            self.live_at = now;
        }
    }
}

/// The song as the screens show it.
pub fn song_view(song: &Song, number: usize) -> SongView {
    let rate = song.rate as f64;
    let length_s = song.duration_s();
    let tempo: Vec<TempoView> = song.tempo_map.as_ref().map_or_else(Vec::new, |map| {
        map.segments()
            .iter()
            .map(|seg| TempoView {
                at_s: seg.start_frame / rate,
                bar: seg.first_bar,
                bpm: seg.bpm,
                beats_per_bar: seg.time_signature.beats_per_bar.min(255) as u8,
                beat_unit: seg.time_signature.beat_unit.min(255) as u8,
            })
            .collect()
    });
    let sections = song
        .sections
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let start_s = s.start_frame as f64 / rate;
            let end_s = song
                .sections
                .get(i + 1)
                .map_or(length_s, |n| n.start_frame as f64 / rate);
            let bar = song
                .tempo_map
                .as_ref()
                .map(|m| m.beat_at_or_after(s.start_frame as f64).bar);
            SectionView {
                name: s.name.clone(),
                start_s,
                end_s,
                bar,
            }
        })
        .collect();
    let overview = song.overview.get();
    let stems = song
        .stems()
        .iter()
        .enumerate()
        .filter(|(i, _)| song.master_stem != Some(*i))
        .map(|(i, s)| StemView {
            name: s.name.clone(),
            colour: s.colour.map(|c| format!("#{:06x}", c & 0xff_ffff)),
            peaks: overview.and_then(|o| o.get(i).cloned()).unwrap_or_default(),
            buses: Vec::new(),
        })
        .collect();
    let (lyrics, lyrics_problem) = match &song.lyrics {
        None => (Vec::new(), None),
        Some(Ok(l)) => (l.lines.clone(), None),
        Some(Err(e)) => (Vec::new(), Some(e.clone())),
    };
    SongView {
        number,
        name: song.name.clone(),
        title: song.title.clone(),
        bpm: song.bpm.map(f64::from),
        key: None,
        length_s,
        sections,
        tempo,
        stems,
        lyrics,
        chords: song.chords.clone(),
        lyrics_problem,
    }
}

/// The first thermal zone's temperature, where the kernel has one (a Pi's SoC sensor).
fn board_temperature_c() -> Option<f32> {
    let text = std::fs::read_to_string("/sys/class/thermal/thermal_zone0/temp").ok()?;
    let milli: f32 = text.trim().parse().ok()?;
    Some(milli / 1000.0)
}
