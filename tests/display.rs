//! The box's display end to end, without hardware: the real `stembox-display` thread is fed
//! the views control publishes and drives a fake I2C bus whose SSD1306 decodes every command
//! and data byte
//! into the picture on its glass; each scene is compared pixel for pixel with what
//! `screen::render` draws into an embedded-graphics framebuffer, and saved as a PNG (4x) in
//! `target/screenshots/display-*.png` for a person to look at.
//! Also measured: I2C bytes a frame takes, against the Pi's default 100 kHz bus clock.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stembox::control::display_feed::{live_shown, song_shown, BoardFeed};
use stembox::hw::display::fake_bus::{FakeBus, Glass};
use stembox::hw::display::feed::FeedBoard;
use stembox::hw::display::panel::Panel;
use stembox::hw::display::screen::{lit, render, Screen};
use stembox::hw::display::{DisplayOptions, DisplayThread};
use stembox::remote::link::Board;
use stembox::remote::view::{Health, LiveView, LyricLine, SectionView, SongView, TempoView};

fn song() -> SongView {
    let section = |name: &str, start_s: f64, end_s: f64| SectionView {
        name: name.into(),
        start_s,
        end_s,
        bar: None,
    };
    let line = |at_s: f64, text: &str| LyricLine {
        at_s,
        text: text.into(),
        chords: vec![],
    };
    SongView {
        number: 3,
        name: "03-highway".into(),
        title: "Highway Song".into(),
        bpm: Some(120.0),
        key: Some("Am".into()),
        length_s: 200.0,
        sections: vec![
            section("Intro", 0.0, 16.0),
            section("Verse 1", 16.0, 48.0),
            section("Chorus", 48.0, 64.0),
        ],
        tempo: vec![TempoView {
            at_s: 0.0,
            bar: 1,
            bpm: 120.0,
            beats_per_bar: 4,
            beat_unit: 4,
        }],
        lyrics: vec![
            line(16.0, "Down the highway where the river bends"),
            line(24.0, "Ça plane pour moi, über alles"),
            line(40.0, ""),
        ],
        ..SongView::default()
    }
}

fn live(pos_s: f64) -> LiveView {
    LiveView {
        transport: "playing".into(),
        pos_s,
        speed_pct: 80.0,
        pitch_st: 2.0,
        song: 3,
        health: Health {
            ready: true,
            xruns: 1,
            ..Health::default()
        },
        ..LiveView::default()
    }
}

fn expected(song: &SongView, live: &LiveView) -> Glass {
    let frame = render(&Screen::from_views(&song_shown(song), &live_shown(live)));
    Glass::from_fn(|x, y| lit(&frame, x, y))
}

fn screenshot_dir() -> PathBuf {
    // The test binary is target/<profile>/deps/display-<hash>: its target dir is three up,
    // wherever CARGO_TARGET_DIR put it.
    let exe = std::env::current_exe().expect("the test binary's path");
    let target = exe
        .ancestors()
        .nth(3)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).expect("create target/screenshots");
    dir
}

fn save_png(glass: &Glass, name: &str) -> PathBuf {
    let (w, h, grey) = glass.scaled_grey(4);
    let path = screenshot_dir().join(format!("display-{name}.png"));
    let file = std::fs::File::create(&path).expect("create the PNG");
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().expect("PNG header");
    writer.write_image_data(&grey).expect("PNG data");
    writer.finish().expect("PNG end");
    path
}

/// Waits (bounded, for a loaded machine) until the glass shows `want`.
fn wait_for(bus: &FakeBus, want: &Glass, what: &str) {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let glass = bus.glass();
        if glass == *want {
            return;
        }
        if Instant::now() > until {
            panic!(
                "{what}: the glass never showed the rendered screen; {} pixels differ\n{glass:?}",
                glass.diff(want).len()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

struct Scene {
    name: &'static str,
    song: SongView,
    live: LiveView,
    rotate_180: bool,
}

#[test]
fn scenes_on_the_glass_match_the_rendered_screen_and_are_saved() {
    let mut no_tempo = song();
    no_tempo.tempo.clear();
    no_tempo.key = None;
    let mut paused = live(125.0);
    paused.transport = "paused".into();
    paused.loop_on = true;
    paused.speed_pct = 100.0;
    paused.pitch_st = 0.0;
    paused.health.xruns = 0;
    let mut starting = LiveView::default();
    starting.health.waiting_for = Some("the device default".into());
    let scenes = [
        Scene {
            name: "playing",
            song: song(),
            live: live(17.0),
            rotate_180: false,
        },
        Scene {
            name: "accents",
            song: song(),
            live: live(30.5),
            rotate_180: false,
        },
        Scene {
            name: "no-tempo-paused-loop",
            song: no_tempo,
            live: paused,
            rotate_180: false,
        },
        Scene {
            name: "starting",
            song: SongView::default(),
            live: starting,
            rotate_180: false,
        },
        Scene {
            name: "rotated-180",
            song: song(),
            live: live(50.0),
            rotate_180: true,
        },
    ];
    for scene in scenes {
        // A still picture: fed directly, with no read time, so a playing head stays put.
        let board = Arc::new(FeedBoard::default());
        board.publish(song_shown(&scene.song), live_shown(&scene.live));
        let bus = FakeBus::new(0x3C);
        let notices = Arc::new(Mutex::new(Vec::<String>::new()));
        let n = notices.clone();
        let opts = DisplayOptions {
            rotate_180: scene.rotate_180,
            ..DisplayOptions::default()
        };
        let thread = DisplayThread::spawn_with_bus(bus.clone(), opts, board, move |l| {
            n.lock().unwrap().push(l)
        });
        let mut want = expected(&scene.song, &scene.live);
        if scene.rotate_180 {
            want = want.rotated_180();
        }
        wait_for(&bus, &want, scene.name);
        assert!(
            want.lit_count() > 100,
            "{}: a blank screen proves nothing",
            scene.name
        );
        let path = save_png(&bus.glass(), scene.name);
        {
            let s = bus.state();
            assert!(
                s.chip.unknown_commands.is_empty(),
                "{:02x?}",
                s.chip.unknown_commands
            );
            assert_eq!(s.wrong_address, 0);
        }
        assert!(notices.lock().unwrap().is_empty());
        drop(thread);
        let png = std::fs::read(&path).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
        eprintln!("screenshot {}", path.display());
    }
}

#[test]
fn a_played_minute_fits_the_default_i2c_clock() {
    // Every beat of a minute at 120 bpm, as the thread would draw them (one frame a beat, 2 a
    // second: well under the 10 fps cap), on the panel alone: bytes counted, not timed.
    let bus = FakeBus::new(0x3C);
    let mut panel = Panel::new(bus.clone(), 0x3C, false);
    let s = song_shown(&song());
    let shown = |pos_s: f64| render(&Screen::from_views(&s, &live_shown(&live(pos_s))));
    panel.show(&shown(0.0)).unwrap();
    let first = panel.bytes_written();
    let mut frames = 0u64;
    let mut pos = 0.5;
    while pos < 60.0 {
        panel.show(&shown(pos)).unwrap();
        frames += 1;
        pos += 0.5;
    }
    let last = expected(&song(), &live(59.5));
    assert_eq!(bus.glass().diff(&last), vec![]);
    let per_frame = (panel.bytes_written() - first) as f64 / frames as f64;
    // 9 clock cycles a byte (8 bits and the acknowledge), plus start and stop, ignored.
    let ms_at_100k = |bytes: f64| bytes * 9.0 / 100_000.0 * 1000.0;
    eprintln!(
        "i2c: first frame {first} bytes ({:.1} ms at 100 kHz), then {per_frame:.1} bytes a \
         frame on average over {frames} beat frames ({:.2} ms at 100 kHz)",
        ms_at_100k(first as f64),
        ms_at_100k(per_frame)
    );
    assert!(first >= 1024, "the first frame writes the whole RAM");
    // At the 10 fps cap, the average frame must leave the bus mostly idle at 100 kHz.
    assert!(
        ms_at_100k(per_frame) * 10.0 < 500.0,
        "{per_frame} bytes a frame would keep a 100 kHz bus busy half the time at 10 fps"
    );
}

#[test]
fn through_the_remote_board_a_playing_head_moves_on_between_publishes() {
    // One publish on the real remote Board, through control's BoardFeed: at 120 bpm and
    // 100 % the beat changes every 0.5 s, and the display follows without more publishes.
    let board = Arc::new(Board::default());
    let mut playing = live(16.0);
    playing.speed_pct = 100.0;
    board.publish_song(song(), playing.clone());
    let bus = FakeBus::new(0x3C);
    let thread = DisplayThread::spawn_with_bus(
        bus.clone(),
        DisplayOptions::default(),
        BoardFeed::new(board.clone()),
        |_| {},
    );
    // Bar 9 beat 1 at 16.0 s; a second later it is bar 9 beat 3, for half a second.
    let later = |pos_s: f64| {
        let mut l = playing.clone();
        l.pos_s = pos_s;
        expected(&song(), &l)
    };
    wait_for(&bus, &later(17.0), "the head moved on by itself to 9:3");
    assert!(thread.counters().frames >= 2, "a frame before 9:3 and 9:3");
    // Paused: the head stays where control says.
    let mut paused = live(20.25);
    paused.transport = "paused".into();
    board.publish_live(paused.clone());
    wait_for(&bus, &expected(&song(), &paused), "paused at 11:1");
    let frames = thread.counters().frames;
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        thread.counters().frames,
        frames,
        "a paused head draws nothing more"
    );
    assert_eq!(bus.glass(), expected(&song(), &paused));
}
