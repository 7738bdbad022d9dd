//! The phone page in a real browser: headless Chromium over WebDriver against the web
//! remote, with a test Board standing in for control's publishing and a thread answering
//! `ok: <line>` standing in for control. Opens the page at phone size (390x844) and tablet
//! size (1024x768), checks each view shows the published state, taps controls and sees the
//! console lines arrive, and saves a screenshot of every view under `target/screenshots/`.
//! (The end-to-end test with real audio comes once control is wired to the remote.)

#[path = "support/webdriver.rs"]
mod webdriver;

use serde_json::Value;
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stembox::remote::http::{RemoteOptions, WebThread};
use stembox::remote::link::{Board, RemoteRequest, RequestSink};
use stembox::remote::view::*;
use webdriver::{screenshot_dir, Driver, Session};

const WAIT: Duration = Duration::from_secs(10);

fn song() -> SongView {
    let peaks = |f: f64| -> Vec<u8> {
        (0..400)
            .map(|i| {
                let x = i as f64 / 400.0;
                (120.0 + 110.0 * (x * f).sin() * (x * 7.0).cos()).clamp(0.0, 255.0) as u8
            })
            .collect()
    };
    let section = |name: &str, start_s: f64, end_s: f64, bar: u32| SectionView {
        name: name.into(),
        start_s,
        end_s,
        bar: Some(bar),
    };
    let line = |at_s: f64, text: &str, chords: &[(usize, &str)]| LyricLine {
        at_s,
        text: text.into(),
        chords: chords
            .iter()
            .map(|(at_char, c)| ChordMark {
                at_char: *at_char,
                chord: c.to_string(),
            })
            .collect(),
    };
    SongView {
        number: 2,
        name: "02-river".into(),
        title: "River Song".into(),
        bpm: Some(120.0),
        key: Some("Am".into()),
        length_s: 96.0,
        // 120 bpm 4/4: a bar is 2 s
        sections: vec![
            section("Intro", 0.0, 16.0, 1),
            section("Verse", 16.0, 48.0, 9),
            section("Chorus", 48.0, 80.0, 25),
            section("Outro", 80.0, 96.0, 41),
        ],
        tempo: vec![TempoView {
            at_s: 0.0,
            bar: 1,
            bpm: 120.0,
            beats_per_bar: 4,
            beat_unit: 4,
        }],
        stems: [
            ("drums", "#e8663d", 37.0),
            ("bass", "#3d9be8", 11.0),
            ("keys", "#5fd38b", 23.0),
            ("vocals", "#c26be8", 5.0),
        ]
        .iter()
        .map(|(n, c, f)| StemView {
            name: n.to_string(),
            colour: Some(c.to_string()),
            peaks: peaks(*f),
            buses: vec!["main".into()],
        })
        .collect(),
        lyrics: vec![
            line(8.0, "Down by the river", &[(0, "Am"), (12, "F")]),
            line(12.0, "where the water runs wide", &[(6, "C"), (16, "G")]),
            line(16.0, "I will wait for you", &[(2, "Am")]),
            line(20.0, "until the morning light", &[]),
        ],
        chords: [(0.0, "Am"), (8.0, "F"), (12.0, "C"), (16.0, "G")]
            .iter()
            .map(|(at_s, c)| ChordAt {
                at_s: *at_s,
                bar: None,
                beat: None,
                chord: c.to_string(),
            })
            .collect(),
        ..SongView::default()
    }
}

fn live(pos_s: f64, drums_muted: bool) -> LiveView {
    LiveView {
        transport: "paused".into(),
        pos_s,
        speed_pct: 100.0,
        song: 2,
        next_song: Some(3),
        volume_db: -2.0,
        click: true,
        stems: ["drums", "bass", "keys", "vocals"]
            .iter()
            .map(|n| StemMix {
                name: n.to_string(),
                mute: *n == "drums" && drums_muted,
                gain_db: if *n == "bass" { -3.0 } else { 0.0 },
                pan: if *n == "keys" { -0.4 } else { 0.0 },
                ..StemMix::default()
            })
            .collect(),
        buses: vec![
            BusMix {
                name: "main".into(),
                gain_db: 0.0,
            },
            BusMix {
                name: "cue".into(),
                gain_db: -6.0,
            },
        ],
        setlist: [
            ("01-opener", "Opener", 96.0, "E"),
            ("02-river", "River Song", 120.0, "Am"),
            ("03-late", "Late Night", 84.0, "Dm"),
        ]
        .iter()
        .enumerate()
        .map(|(i, (name, title, bpm, key))| SetlistEntry {
            number: i + 1,
            name: name.to_string(),
            title: title.to_string(),
            bpm: Some(*bpm),
            key: Some(key.to_string()),
            length_s: Some(180.0 + 30.0 * i as f64),
        })
        .collect(),
        health: Health {
            uptime_s: 3725,
            ready: true,
            xruns: 0,
            load_pct: Some(3.2),
            temp_c: Some(48.5),
            ..Health::default()
        },
        ..LiveView::default()
    }
}

struct Rig {
    web: WebThread,
    board: Arc<Board>,
    lines: Receiver<(String, Instant)>,
}

fn rig() -> Rig {
    rig_with(None)
}

fn rig_with(pin: Option<&str>) -> Rig {
    let board = Arc::new(Board::default());
    board.publish_song(song(), live(10.0, false));
    let (tx, rx) = mpsc::sync_channel::<RemoteRequest>(64);
    let (line_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        while let Ok(req) = rx.recv() {
            let _ = line_tx.send((req.line.clone(), Instant::now()));
            req.reply.send(format!("ok: {}", req.line));
        }
    });
    let sink: RequestSink = Arc::new(move |req| tx.try_send(req).is_ok());
    let opts = RemoteOptions {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        pin: pin.map(str::to_string),
        ..RemoteOptions::default()
    };
    let web = WebThread::spawn(opts, board.clone(), sink).unwrap();
    Rig { web, board, lines }
}

fn next_line(r: &Rig) -> String {
    r.lines
        .recv_timeout(WAIT)
        .expect("the tap reached control")
        .0
}

fn js(s: &Session, script: &str) -> Value {
    s.execute(script, vec![]).unwrap()
}

fn shot(s: &Session, name: &str) {
    let path = screenshot_dir().join(format!("{name}.png"));
    s.screenshot(&path).unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 5_000, "{name}: a {len}-byte screenshot is blank");
}

fn view(s: &Session, name: &str) {
    s.click(&format!("#tab-{name}")).unwrap();
    s.wait_for(
        &format!("return !document.querySelector('#view-{name}').hidden"),
        WAIT,
    )
    .unwrap();
}

#[test]
fn the_page_shows_the_state_and_taps_become_console_lines() {
    assert!(
        std::path::Path::new(webdriver::CHROMEDRIVER).exists(),
        "install Debian's chromium and chromium-driver"
    );
    let r = rig();
    let url = format!("http://{}/", r.web.local_addr());
    let driver = Driver::start().unwrap();
    let phone = driver.session(390, 844, 2.0).unwrap();
    phone.goto(&url).unwrap();
    phone
        .wait_for(
            "return document.querySelector('#song-title').textContent.includes('River Song')",
            WAIT,
        )
        .unwrap();
    let w = js(&phone, "return window.innerWidth");
    assert_eq!(w, 390, "phone width");

    // Setlist: three songs, the current and the next marked.
    phone
        .wait_for(
            "return document.querySelectorAll('#setlist li').length === 3",
            WAIT,
        )
        .unwrap();
    assert_eq!(
        js(
            &phone,
            "return document.querySelector('#setlist li.current .t').textContent"
        ),
        "River Song"
    );
    assert_eq!(
        js(
            &phone,
            "return document.querySelector('#setlist li.next .t').textContent"
        ),
        "Late Night"
    );
    assert!(js(
        &phone,
        "return document.querySelector('#setlist li.current .meta').textContent"
    )
    .as_str()
    .unwrap()
    .contains("120 bpm"));
    shot(&phone, "phone-setlist");
    phone.click("[data-act='cue'][data-song='3']").unwrap();
    assert_eq!(next_line(&r), "song 3");
    phone.click("#btn-play").unwrap();
    assert_eq!(next_line(&r), "play");
    // Drag the first song by its grip onto the third.
    phone
        .drag(
            ("#setlist li[data-song='1'] .grip", 0, 0),
            ("#setlist li[data-song='3'] .grip", 0, 0),
            1,
        )
        .unwrap();
    assert_eq!(next_line(&r), "setlist move 1 3");
    phone
        .wait_for(
            "return document.querySelector('#toast').textContent === 'ok: setlist move 1 3'",
            WAIT,
        )
        .unwrap();

    // Mixer: tap "mute drums"; control gets the line; the next publish shows it on the page.
    view(&phone, "mixer");
    assert_eq!(
        js(&phone, "return document.querySelectorAll('.stem').length"),
        4
    );
    assert_eq!(
        js(&phone, "return document.querySelector(\"output[data-stem='bass'][data-out='gain']\").textContent"),
        "-3.0 dB"
    );
    shot(&phone, "phone-mixer");
    let mut tap_ms = Vec::new();
    let mut page_ms = Vec::new();
    for i in 0..10 {
        let muted = i % 2 == 1;
        let t = Instant::now();
        phone.click("[data-stem='drums'][data-act='mute']").unwrap();
        let (line, at) = r.lines.recv_timeout(WAIT).unwrap();
        tap_ms.push(at.duration_since(t).as_secs_f64() * 1e3);
        assert_eq!(line, if muted { "unmute drums" } else { "mute drums" });
        let expect = line.clone();
        let rt = phone
            .wait_for(
                &format!("const r = window.stembox.lastReply; return r && r.line === '{expect}' && r.status === 200 && r.ms"),
                WAIT,
            )
            .unwrap();
        page_ms.push(rt.as_f64().unwrap());
        js(&phone, "window.stembox.lastReply = null; return 1");
        r.board.publish_live(live(10.0, !muted));
        phone
            .wait_for(
                &format!(
                    "return document.querySelector(\"[data-stem='drums'][data-act='mute']\").classList.contains('on') === {}",
                    !muted
                ),
                WAIT,
            )
            .unwrap();
    }
    tap_ms.sort_by(f64::total_cmp);
    page_ms.sort_by(f64::total_cmp);
    eprintln!(
        "in the page, tap -> reply from control (fetch round trip): median {:.1} ms, max {:.1} ms",
        page_ms[page_ms.len() / 2],
        page_ms[page_ms.len() - 1]
    );
    eprintln!(
        "WebDriver click -> line at control: median {:.1} ms, max {:.1} ms",
        tap_ms[tap_ms.len() / 2],
        tap_ms[tap_ms.len() - 1]
    );
    // Leave drums muted for the second browser.
    phone.click("[data-stem='drums'][data-act='mute']").unwrap();
    assert_eq!(next_line(&r), "mute drums");
    r.board.publish_live(live(10.0, true));
    // A slider sends its value.
    phone
        .execute(
            "const el = document.querySelector(\"input[data-stem='bass'][data-act='gain']\");\
             el.value = -7.5; el.dispatchEvent(new Event('change', {bubbles: true}));",
            vec![],
        )
        .unwrap();
    assert_eq!(next_line(&r), "gain bass -7.5");

    // A second browser at tablet size shows drums muted.
    let tablet = driver.session(1024, 768, 1.0).unwrap();
    tablet.goto(&url).unwrap();
    view(&tablet, "mixer");
    tablet
        .wait_for(
            "return document.querySelector(\"[data-stem='drums'][data-act='mute']\").classList.contains('on')",
            WAIT,
        )
        .unwrap();
    shot(&tablet, "tablet-mixer");

    // Timeline: sections as blocks; "what comes next" from the tempo map; tap a section.
    view(&phone, "timeline");
    assert_eq!(
        js(
            &phone,
            "return document.querySelectorAll('.section').length"
        ),
        4
    );
    // paused at 10 s = bar 6 beat 1; the verse starts at bar 9: 3 bars away
    phone
        .wait_for(
            "return document.querySelector('#next-section').textContent === 'Intro  \u{2192}  Verse in 3 bars'",
            WAIT,
        )
        .unwrap();
    assert_eq!(
        js(
            &phone,
            "return document.querySelector('#barbeat').textContent"
        ),
        "6:1"
    );
    shot(&phone, "phone-timeline");
    phone.click("[data-section='3']").unwrap();
    assert_eq!(next_line(&r), "section 3");
    // Tap the middle of the ruler: seek to the middle of the song.
    phone.click("#ruler").unwrap();
    let seek = next_line(&r);
    let at: f64 = seek.strip_prefix("seek ").unwrap().parse().unwrap();
    assert!((at - 48.0).abs() < 1.0, "{seek}");
    // Drag over the waveforms from a quarter to three quarters: an A-B loop there.
    let w = js(
        &phone,
        "return document.querySelector('#peaks').getBoundingClientRect().width",
    )
    .as_f64()
    .unwrap() as i64;
    phone
        .drag(("#peaks", -w / 4, 0), ("#peaks", w / 4, 0), 6)
        .unwrap();
    let lp = next_line(&r);
    let ab: Vec<f64> = lp
        .strip_prefix("loop ")
        .unwrap()
        .split(' ')
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(
        (ab[0] - 24.0).abs() < 1.0 && (ab[1] - 72.0).abs() < 1.0,
        "{lp}"
    );
    phone.click("#ramp-go").unwrap();
    assert_eq!(next_line(&r), "loop ramp 70 5 100");
    view(&tablet, "timeline");
    shot(&tablet, "tablet-timeline");

    // Practice.
    view(&phone, "practice");
    assert_eq!(
        js(
            &phone,
            "return document.querySelector('#click-toggle').textContent"
        ),
        "Click on"
    );
    phone
        .click("[data-act='speed-step'][data-step='-5']")
        .unwrap();
    assert_eq!(next_line(&r), "speed 95");
    shot(&phone, "phone-practice");

    // Lyrics: at 10 s the first line is current, the second next; chords sit above words.
    view(&phone, "lyrics");
    phone
        .wait_for(
            "return document.querySelector('.lyric.current')?.dataset.line === '0'",
            WAIT,
        )
        .unwrap();
    assert_eq!(
        js(
            &phone,
            "return document.querySelector('.lyric.next').dataset.line"
        ),
        "1"
    );
    assert_eq!(
        js(&phone, "return Array.from(document.querySelectorAll('.lyric[data-line=\"0\"] .chord')).map(e => e.textContent).join(' ')"),
        "Am F"
    );
    assert_eq!(
        js(&phone, "return Array.from(document.querySelectorAll('.lyric[data-line=\"0\"] .words')).map(e => e.textContent).join('|')"),
        "Down by the |river"
    );
    assert_eq!(
        js(
            &phone,
            "return document.querySelector('#chord-now').textContent"
        ),
        "F"
    );
    assert_eq!(
        js(
            &phone,
            "return document.querySelector('#chord-next').textContent"
        ),
        "C"
    );
    // Playing at 80 %: the line at 12 s song time is 2.5 s of wall time after 10 s.
    let mut playing = live(10.0, true);
    playing.transport = "playing".into();
    playing.speed_pct = 80.0;
    let t0 = Instant::now();
    r.board.publish_live(playing);
    phone
        .wait_for(
            "return document.querySelector('.lyric.current')?.dataset.line === '1'",
            WAIT,
        )
        .unwrap();
    let changed_after = t0.elapsed();
    eprintln!("at 80 % the next lyric line lit after {changed_after:?} (song time says 2.5 s)");
    assert!(
        changed_after >= Duration::from_millis(2400),
        "{changed_after:?}"
    );
    assert!(
        changed_after < Duration::from_millis(2700),
        "{changed_after:?}"
    );
    shot(&phone, "phone-lyrics");
    r.board.publish_live(live(10.0, true));

    // Health.
    view(&phone, "health");
    phone
        .wait_for(
            "return document.querySelector('#h-temp').textContent === '48.5 \u{b0}C'",
            WAIT,
        )
        .unwrap();
    assert_eq!(
        js(
            &phone,
            "return document.querySelector('#h-uptime').textContent"
        ),
        "1 h 2 min 5 s"
    );
    shot(&phone, "phone-health");

    // Lock: the page shrinks to transport and setlist; a mixer line is refused (423) on
    // every page, transport still goes through.
    phone.click("#lock-btn").unwrap();
    phone
        .wait_for("return document.body.classList.contains('locked')", WAIT)
        .unwrap();
    tablet
        .wait_for("return document.body.classList.contains('locked')", WAIT)
        .unwrap();
    assert_eq!(
        js(
            &phone,
            "return getComputedStyle(document.querySelector('#tab-mixer')).display"
        ),
        "none"
    );
    let refused = js(
        &tablet,
        "return fetch('/api/action', {method: 'POST', headers: {'X-Stembox': '1'}, body: 'mute bass'}).then(r => r.status)",
    );
    assert_eq!(refused, 423);
    view(&phone, "setlist");
    shot(&phone, "phone-locked");
    phone.click("#btn-stop").unwrap();
    assert_eq!(next_line(&r), "stop");
    phone.click("#lock-btn").unwrap();
    phone
        .wait_for("return !document.body.classList.contains('locked')", WAIT)
        .unwrap();
    assert!(r.lines.try_recv().is_err(), "nothing else reached control");
    for s in [&phone, &tablet] {
        assert_eq!(js(s, "return window.stembox.errors.join('; ')"), "");
    }
}

#[test]
fn a_box_that_has_published_nothing_yet_shows_an_empty_page_without_errors() {
    let board = Arc::new(Board::default());
    let sink: RequestSink = Arc::new(|_| false);
    let opts = RemoteOptions {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        ..RemoteOptions::default()
    };
    let web = WebThread::spawn(opts, board, sink).unwrap();
    let driver = Driver::start().unwrap();
    let phone = driver.session(390, 844, 2.0).unwrap();
    phone
        .goto(&format!("http://{}/", web.local_addr()))
        .unwrap();
    phone
        .wait_for(
            "return document.querySelector('#song-title').textContent === 'no song'",
            WAIT,
        )
        .unwrap();
    for v in [
        "timeline", "mixer", "practice", "lyrics", "health", "setlist",
    ] {
        view(&phone, v);
    }
    // control is not there: a tap says so
    phone.click("#btn-play").unwrap();
    phone
        .wait_for(
            "return document.querySelector('#toast').textContent === 'busy: control did not take the request'",
            WAIT,
        )
        .unwrap();
    assert_eq!(js(&phone, "return window.stembox.errors.join('; ')"), "");
    // ... and the error check does see errors.
    // (break the page on purpose: the ramp button reads an input that is gone)
    view(&phone, "timeline");
    js(
        &phone,
        "document.querySelector('#ramp-start').remove(); return 1",
    );
    phone.click("#ramp-go").unwrap();
    phone
        .wait_for("return window.stembox.errors.length > 0", WAIT)
        .unwrap();
}

#[test]
fn with_a_pin_the_first_change_asks_for_it_once() {
    let r = rig_with(Some("1357"));
    let driver = Driver::start().unwrap();
    let phone = driver.session(390, 844, 2.0).unwrap();
    phone
        .goto(&format!("http://{}/", r.web.local_addr()))
        .unwrap();
    view(&phone, "mixer");
    phone.click("[data-stem='drums'][data-act='mute']").unwrap();
    phone
        .wait_for("return document.querySelector('#pin-dialog').open", WAIT)
        .unwrap();
    shot(&phone, "phone-pin");
    phone.type_text("#pin-input", "0000").unwrap();
    phone.click("#pin-go").unwrap();
    phone
        .wait_for(
            "return document.querySelector('#toast').textContent === 'forbidden: wrong PIN'",
            WAIT,
        )
        .unwrap();
    assert!(r.lines.recv_timeout(Duration::from_millis(300)).is_err());
    phone.click("[data-stem='drums'][data-act='mute']").unwrap();
    phone
        .wait_for("return document.querySelector('#pin-dialog').open", WAIT)
        .unwrap();
    phone.type_text("#pin-input", "1357").unwrap();
    phone.click("#pin-go").unwrap();
    assert_eq!(next_line(&r), "mute drums");
    // The session cookie covers this browser from now on.
    phone.click("[data-stem='bass'][data-act='solo']").unwrap();
    assert_eq!(next_line(&r), "solo bass");
    assert_eq!(
        js(&phone, "return document.querySelector('#pin-dialog').open"),
        false
    );
    assert_eq!(
        js(&phone, "return document.cookie"),
        "",
        "the session cookie is HttpOnly"
    );
}
