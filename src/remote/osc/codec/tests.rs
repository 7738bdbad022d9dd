use super::*;
use crate::remote::view::{BusMix, ChordAt, Health, LyricLine, SectionView, StemMix, TempoView};
use rosc::{OscBundle, OscTime};

fn m(addr: &str, args: Vec<OscType>) -> OscMessage {
    OscMessage {
        addr: addr.into(),
        args,
    }
}

fn line(addr: &str, args: Vec<OscType>) -> String {
    match to_line(&m(addr, args)) {
        Ok(Some(l)) => l,
        other => panic!("{addr}: {other:?}"),
    }
}

fn refused(addr: &str, args: Vec<OscType>) -> String {
    match to_line(&m(addr, args)) {
        Err(e) => e.to_string(),
        Ok(l) => panic!("{addr} should be refused, got {l:?}"),
    }
}

use OscType::{Bool, Double, Float, Int, Long, String as Str};

fn s(v: &str) -> OscType {
    Str(v.into())
}

#[test]
fn triggers_act_on_nothing_or_true_and_ignore_a_release() {
    for (addr, want) in [
        ("/stembox/play", "play"),
        ("/stembox/pause", "pause"),
        ("/stembox/stop", "stop"),
        ("/stembox/next", "next"),
        ("/stembox/prev", "prev"),
        ("/stembox/next/section", "next section"),
        ("/stembox/prev/section", "prev section"),
        ("/stembox/status", "status"),
        ("/stembox/countin", "countin"),
        ("/stembox/loop/off", "loop off"),
        ("/stembox/loop/on", "loop on"),
        ("/stembox/loop/a", "loop a"),
        ("/stembox/loop/b", "loop b"),
        ("/stembox/volume/up", "volume up"),
        ("/stembox/volume/down", "volume down"),
        ("/stembox/speed/up", "speed up"),
        ("/stembox/speed/down", "speed down"),
        ("/stembox/pitch/up", "pitch up"),
        ("/stembox/pitch/down", "pitch down"),
    ] {
        assert_eq!(line(addr, vec![]), want);
        assert_eq!(line(addr, vec![Int(1)]), want);
        assert_eq!(line(addr, vec![Float(1.0)]), want);
        assert_eq!(line(addr, vec![Bool(true)]), want);
        assert_eq!(to_line(&m(addr, vec![Int(0)])).unwrap(), None, "{addr}");
        assert_eq!(to_line(&m(addr, vec![Float(0.0)])).unwrap(), None, "{addr}");
        assert_eq!(
            to_line(&m(addr, vec![Bool(false)])).unwrap(),
            None,
            "{addr}"
        );
        assert!(to_line(&m(addr, vec![s("x")])).is_err(), "{addr}");
        assert!(to_line(&m(addr, vec![Int(1), Int(1)])).is_err(), "{addr}");
    }
}

#[test]
fn song_and_section_take_a_number_or_a_name() {
    assert_eq!(line("/stembox/song", vec![Int(3)]), "song 3");
    assert_eq!(line("/stembox/song", vec![Float(3.0)]), "song 3");
    assert_eq!(line("/stembox/song", vec![Long(12)]), "song 12");
    assert_eq!(line("/stembox/song", vec![s("03-intro")]), "song 03-intro");
    assert_eq!(
        line("/stembox/song", vec![s(" Long Song ")]),
        "song Long Song"
    );
    assert_eq!(line("/stembox/section", vec![Int(2)]), "section 2");
    assert_eq!(
        line("/stembox/section", vec![s("chorus")]),
        "section chorus"
    );
    for bad in [
        vec![],
        vec![Int(0)],
        vec![Int(-1)],
        vec![Float(2.5)],
        vec![Float(f32::NAN)],
        vec![Double(f64::INFINITY)],
        vec![s("")],
        vec![s("   ")],
        vec![Int(1), Int(2)],
        vec![Bool(true)],
    ] {
        assert!(
            to_line(&m("/stembox/song", bad.clone())).is_err(),
            "{bad:?}"
        );
        assert!(to_line(&m("/stembox/section", bad.clone())).is_err());
    }
}

#[test]
fn no_second_command_can_be_injected_through_a_name() {
    for evil in [
        "drums\nquit",
        "drums\rquit",
        "a\u{0}b",
        "a\tb",
        "x\u{1b}[2J",
        "x\u{85}y",
    ] {
        let e = refused("/stembox/song", vec![s(evil)]);
        assert!(e.contains("control characters"), "{e}");
        let e = refused(&format!("/stembox/stem/{evil}/mute"), vec![Int(1)]);
        assert!(e.contains("control characters"), "{e}");
        let e = refused(&format!("/stembox/bus/{evil}/gain"), vec![Float(1.0)]);
        assert!(e.contains("control characters"), "{e}");
    }
    let long = "x".repeat(MAX_NAME_BYTES + 1);
    assert!(refused("/stembox/song", vec![s(&long)]).contains("at most"));
    assert_eq!(
        line("/stembox/song", vec![s(&"x".repeat(MAX_NAME_BYTES))]).len(),
        5 + MAX_NAME_BYTES
    );
}

#[test]
fn patterns_are_refused_not_expanded() {
    for addr in [
        "/stembox/stem/*/mute",
        "/stembox/stem/dr?ms/mute",
        "/stembox/stem/[ab]/mute",
        "/stembox/stem/{a,b}/mute",
    ] {
        assert!(refused(addr, vec![Int(1)]).contains("patterns"), "{addr}");
    }
}

#[test]
fn stem_mute_solo_gain_pan() {
    assert_eq!(line("/stembox/stem/drums/mute", vec![Int(1)]), "mute drums");
    assert_eq!(
        line("/stembox/stem/drums/mute", vec![Int(0)]),
        "unmute drums"
    );
    assert_eq!(
        line("/stembox/stem/drums/mute", vec![Float(1.0)]),
        "mute drums"
    );
    assert_eq!(
        line("/stembox/stem/drums/mute", vec![Float(0.7)]),
        "mute drums"
    );
    assert_eq!(
        line("/stembox/stem/drums/mute", vec![Float(0.2)]),
        "unmute drums"
    );
    assert_eq!(
        line("/stembox/stem/drums/mute", vec![Double(0.0)]),
        "unmute drums"
    );
    assert_eq!(
        line("/stembox/stem/drums/mute", vec![Bool(true)]),
        "mute drums"
    );
    assert_eq!(
        line("/stembox/stem/drums/mute", vec![Long(0)]),
        "unmute drums"
    );
    assert_eq!(line("/stembox/stem/drums/mute", vec![]), "toggle drums");
    for bad in [
        vec![Int(2)],
        vec![Int(-1)],
        vec![Float(1.5)],
        vec![s("on")],
        vec![Int(1), Int(0)],
    ] {
        assert!(refused("/stembox/stem/drums/mute", bad).contains("takes 0 or 1"));
    }
    assert_eq!(line("/stembox/stem/bass/solo", vec![Int(1)]), "solo bass");
    assert_eq!(line("/stembox/stem/bass/solo", vec![Int(0)]), "unsolo bass");
    assert_eq!(line("/stembox/stem/bass/solo", vec![]), "solo bass");
    assert_eq!(
        line("/stembox/stem/drums/gain", vec![Float(-3.0)]),
        "gain drums -3"
    );
    assert_eq!(
        line("/stembox/stem/drums/gain", vec![Float(-3.5)]),
        "gain drums -3.5"
    );
    assert_eq!(
        line("/stembox/stem/drums/gain", vec![Int(6)]),
        "gain drums 6"
    );
    assert_eq!(
        line("/stembox/stem/drums/gain", vec![Double(0.1)]),
        "gain drums 0.1"
    );
    assert_eq!(
        line("/stembox/stem/keys/pan", vec![Float(-0.25)]),
        "pan keys -0.25"
    );
    assert!(refused("/stembox/stem/drums/gain", vec![]).contains("one number"));
    assert!(refused("/stembox/stem/drums/gain", vec![s("-3")]).contains("one number"));
    assert!(refused("/stembox/stem/drums/gain", vec![Float(f32::NAN)]).contains("one number"));
    assert!(refused("/stembox/stem/drums/pan", vec![Float(f32::INFINITY)]).contains("one number"));
    assert!(refused("/stembox/stem/drums/volume", vec![Float(1.0)]).contains("unknown address"));
    assert!(refused("/stembox/stem/drums", vec![Int(1)]).contains("unknown address"));
    assert!(refused("/stembox/stem//mute", vec![Int(1)]).contains("stem name is needed"));
    assert!(refused("/stembox/stem/ /mute", vec![Int(1)]).contains("stem name is needed"));
}

#[test]
fn stem_names_with_spaces_and_slashes_reach_the_console_whole() {
    // The console takes the rest of the line as the stem (for gain and pan: all but the
    // last word), so these name exactly the stem the address named.
    assert_eq!(
        line("/stembox/stem/lead vox/mute", vec![Int(1)]),
        "mute lead vox"
    );
    assert_eq!(
        line("/stembox/stem/lead vox/gain", vec![Float(-2.0)]),
        "gain lead vox -2"
    );
    assert_eq!(line("/stembox/stem/gtr/L/mute", vec![Int(1)]), "mute gtr/L");
    assert_eq!(
        line("/stembox/stem/Grüße/mute", vec![Int(0)]),
        "unmute Grüße"
    );
}

#[test]
fn buses_volume_speed_pitch_seek() {
    assert_eq!(
        line("/stembox/bus/cue/gain", vec![Float(-6.0)]),
        "bus cue -6"
    );
    assert_eq!(
        line("/stembox/bus/in ear/gain", vec![Int(3)]),
        "bus in ear 3"
    );
    assert!(refused("/stembox/bus/cue", vec![Float(1.0)]).contains("unknown address"));
    assert!(refused("/stembox/bus/cue/pan", vec![Float(1.0)]).contains("unknown address"));
    assert_eq!(line("/stembox/volume", vec![Float(-10.0)]), "volume -10");
    assert!(refused("/stembox/volume", vec![]).contains("one number (dB)"));
    assert_eq!(line("/stembox/speed", vec![Int(80)]), "speed 80");
    assert_eq!(line("/stembox/speed", vec![Float(97.5)]), "speed 97.5");
    assert_eq!(line("/stembox/speed", vec![]), "speed");
    assert_eq!(line("/stembox/pitch", vec![Int(-2)]), "pitch -2");
    assert_eq!(line("/stembox/pitch", vec![Float(1.5)]), "pitch 1.5");
    assert_eq!(line("/stembox/pitch", vec![]), "pitch");
    assert_eq!(line("/stembox/seek", vec![Float(42.5)]), "seek 42.5");
    assert_eq!(line("/stembox/seek", vec![Double(90.0)]), "seek 90");
    assert!(refused("/stembox/seek", vec![s("1:30")]).contains("seconds"));
    // Values that are tiny or huge stay plain decimals (the console checks the range).
    assert_eq!(line("/stembox/speed", vec![Float(1e-7)]), "speed 0.0000001");
    assert!(!line("/stembox/volume", vec![Float(1e30)])[7..].contains('e'));
}

#[test]
fn loops_click_mix() {
    assert_eq!(
        line("/stembox/loop", vec![Float(12.0), Float(20.5)]),
        "loop 12 20.5"
    );
    assert_eq!(
        line("/stembox/loop", vec![Int(1), Double(2.25)]),
        "loop 1 2.25"
    );
    assert!(refused("/stembox/loop", vec![Float(12.0)]).contains("two numbers"));
    assert!(refused("/stembox/loop", vec![s("a"), s("b")]).contains("two numbers"));
    assert_eq!(
        line("/stembox/loop/ramp", vec![Int(70), Int(5)]),
        "loop ramp 70 5"
    );
    assert_eq!(
        line("/stembox/loop/ramp", vec![Int(70), Int(5), Int(100)]),
        "loop ramp 70 5 100"
    );
    assert_eq!(
        line(
            "/stembox/loop/ramp",
            vec![Int(70), Int(5), Int(100), Int(1)]
        ),
        "loop ramp 70 5 100 countin"
    );
    assert_eq!(
        line(
            "/stembox/loop/ramp",
            vec![Int(70), Int(5), Int(100), Bool(false)]
        ),
        "loop ramp 70 5 100"
    );
    assert!(refused("/stembox/loop/ramp", vec![Int(70)]).contains("start %"));
    assert!(refused("/stembox/loop/ramp", vec![Int(70), s("x")]).contains("start %"));
    assert_eq!(line("/stembox/click", vec![Int(1)]), "click on");
    assert_eq!(line("/stembox/click", vec![Int(0)]), "click off");
    assert_eq!(line("/stembox/click", vec![]), "click");
    assert!(refused("/stembox/click", vec![Int(5)]).contains("0 or 1"));
    assert_eq!(line("/stembox/mix", vec![]), "mix");
    assert_eq!(line("/stembox/mix", vec![s("Master")]), "mix master");
    assert_eq!(line("/stembox/mix", vec![s("stems")]), "mix stems");
    assert!(refused("/stembox/mix", vec![s("both")]).contains("stems"));
}

#[test]
fn unknown_addresses() {
    for addr in [
        "/",
        "/stembox",
        "/stembox/",
        "/stemboxplay",
        "/other/play",
        "/stembox/Play",
        "/stembox/play/",
    ] {
        assert!(
            matches!(to_line(&m(addr, vec![])), Err(OscError::UnknownAddress(_))),
            "{addr}"
        );
    }
    // The message shows what was sent, shortened and without control characters.
    let e = refused(&format!("/x/{}\n", "y".repeat(100)), vec![]);
    assert!(e.len() < 140 && !e.contains('\n'), "{e}");
}

#[test]
fn every_line_parses_in_the_console() {
    // The lines are console grammar: the console's own parser takes every one of them
    // (`pan`, `unsolo`, `seek` and `volume <dB>` are the lead's additions and checked
    // once they exist).
    let lines = [
        line("/stembox/play", vec![]),
        line("/stembox/next/section", vec![]),
        line("/stembox/song", vec![Int(3)]),
        line("/stembox/song", vec![s("My Song")]),
        line("/stembox/section", vec![s("chorus")]),
        line("/stembox/stem/lead vox/mute", vec![Int(1)]),
        line("/stembox/stem/lead vox/mute", vec![Int(0)]),
        line("/stembox/stem/lead vox/mute", vec![]),
        line("/stembox/stem/bass/solo", vec![Int(1)]),
        line("/stembox/stem/lead vox/gain", vec![Float(-3.5)]),
        line("/stembox/bus/in ear/gain", vec![Float(-6.0)]),
        line("/stembox/speed", vec![Float(80.0)]),
        line("/stembox/pitch", vec![Float(-2.0)]),
        line("/stembox/loop", vec![Float(12.0), Float(20.0)]),
        line(
            "/stembox/loop/ramp",
            vec![Int(70), Int(5), Int(100), Int(1)],
        ),
        line("/stembox/click", vec![Int(1)]),
        line("/stembox/mix", vec![s("master")]),
        line("/stembox/volume/up", vec![]),
        line("/stembox/loop/off", vec![]),
    ];
    for l in lines {
        assert!(
            matches!(crate::hw::console::parse_line(&l), Ok(Some(_))),
            "{l}: {:?}",
            crate::hw::console::parse_line(&l)
        );
    }
    use crate::model::action::Action;
    assert_eq!(
        crate::hw::console::parse_line(&line("/stembox/stem/lead vox/gain", vec![Float(-3.5)])),
        Ok(Some(Action::Gain("lead vox".into(), -3.5)))
    );
}

#[test]
fn subscribe_and_unsubscribe() {
    let p = |args| parse(&m("/stembox/subscribe", args));
    assert_eq!(p(vec![]).unwrap(), Incoming::Subscribe { port: None });
    assert_eq!(
        p(vec![Int(9000)]).unwrap(),
        Incoming::Subscribe { port: Some(9000) }
    );
    assert_eq!(
        p(vec![Float(8000.0)]).unwrap(),
        Incoming::Subscribe { port: Some(8000) }
    );
    for bad in [
        vec![Int(0)],
        vec![Int(65536)],
        vec![s("9000")],
        vec![Float(1.5)],
        vec![Int(1), Int(2)],
    ] {
        assert!(p(bad).is_err());
    }
    assert_eq!(
        parse(&m("/stembox/unsubscribe", vec![])).unwrap(),
        Incoming::Unsubscribe
    );
    assert_eq!(
        parse(&m("/stembox/play", vec![])).unwrap(),
        Incoming::Line("play".into())
    );
    assert_eq!(
        parse(&m("/stembox/play", vec![Int(0)])).unwrap(),
        Incoming::Nothing
    );
}

#[test]
fn solo_one_for_a_soloed_stem_is_answered_without_a_toggle() {
    let live = LiveView {
        stems: vec![
            StemMix {
                name: "bass".into(),
                solo: true,
                ..StemMix::default()
            },
            StemMix {
                name: "drums".into(),
                ..StemMix::default()
            },
        ],
        ..LiveView::default()
    };
    let solo =
        |stem: &str, args| already_so(&m(&format!("/stembox/stem/{stem}/solo"), args), &live);
    assert_eq!(
        solo("bass", vec![Int(1)]).as_deref(),
        Some("ok: bass is soloed already")
    );
    assert_eq!(solo("bass", vec![Int(0)]), None);
    assert_eq!(solo("bass", vec![]), None, "no argument toggles");
    assert_eq!(solo("drums", vec![Int(1)]), None);
    assert_eq!(solo("nope", vec![Int(1)]), None);
    assert_eq!(
        already_so(&m("/stembox/stem/bass/mute", vec![Int(1)]), &live),
        None
    );
}

// --- packets ---

fn encode_packet(p: &OscPacket) -> Vec<u8> {
    rosc::encoder::encode(p).unwrap()
}

fn bundle(content: Vec<OscPacket>) -> OscPacket {
    OscPacket::Bundle(OscBundle {
        timetag: OscTime::from((0, 1)),
        content,
    })
}

fn message(addr: &str) -> OscPacket {
    OscPacket::Message(m(addr, vec![Int(1)]))
}

#[test]
fn a_message_and_nested_bundles_flatten_in_order() {
    let one = encode_packet(&message("/stembox/play"));
    let got = decode_packet(&one).unwrap();
    assert_eq!(got, vec![m("/stembox/play", vec![Int(1)])]);
    let nested = bundle(vec![
        message("/a"),
        bundle(vec![
            message("/b"),
            bundle(vec![message("/c")]),
            message("/d"),
        ]),
        message("/e"),
    ]);
    let got: Vec<String> = decode_packet(&encode_packet(&nested))
        .unwrap()
        .into_iter()
        .map(|m| m.addr)
        .collect();
    assert_eq!(got, vec!["/a", "/b", "/c", "/d", "/e"]);
    // An empty bundle is no messages.
    assert_eq!(
        decode_packet(&encode_packet(&bundle(vec![]))).unwrap(),
        vec![]
    );
}

fn nested(depth: usize) -> OscPacket {
    let mut p = message("/stembox/play");
    for _ in 0..depth {
        p = bundle(vec![p]);
    }
    p
}

#[test]
fn bundle_depth_is_bounded_without_recursion() {
    assert_eq!(
        decode_packet(&encode_packet(&nested(MAX_BUNDLE_DEPTH)))
            .unwrap()
            .len(),
        1
    );
    assert!(matches!(
        decode_packet(&encode_packet(&nested(MAX_BUNDLE_DEPTH + 1))),
        Err(OscError::TooDeep)
    ));
    // 1,000 deep (20 kB): refused by the shape check before rosc's recursive decoder.
    let deep = encode_packet(&nested(1000));
    assert!(deep.len() < MAX_PACKET_BYTES);
    assert!(matches!(decode_packet(&deep), Err(OscError::TooDeep)));
}

#[test]
fn messages_per_packet_are_bounded() {
    let ok = bundle(
        (0..MAX_MESSAGES_PER_PACKET)
            .map(|_| message("/x"))
            .collect(),
    );
    assert_eq!(
        decode_packet(&encode_packet(&ok)).unwrap().len(),
        MAX_MESSAGES_PER_PACKET
    );
    let too_many = bundle(
        (0..=MAX_MESSAGES_PER_PACKET)
            .map(|_| message("/x"))
            .collect(),
    );
    assert!(matches!(
        decode_packet(&encode_packet(&too_many)),
        Err(OscError::TooManyMessages)
    ));
}

#[test]
fn malformed_packets_are_errors_never_panics() {
    let good = encode_packet(&bundle(vec![message("/stembox/play"), message("/b")]));
    // Every truncation of a valid bundle and of a valid message.
    let msg_bytes = encode_packet(&OscPacket::Message(m(
        "/stembox/stem/drums/gain",
        vec![Float(-3.0), s("x"), Double(1.0)],
    )));
    // A bundle cut at an element boundary is a shorter valid bundle: 16 (no elements) and
    // after the first element.
    let first = encode_packet(&message("/stembox/play")).len();
    let boundaries = [16, 16 + 4 + first];
    for (full, whole) in [(&good, &boundaries[..]), (&msg_bytes, &[][..])] {
        for n in 0..full.len() {
            assert_eq!(
                decode_packet(&full[..n]).is_ok(),
                whole.contains(&n),
                "truncated at {n}"
            );
        }
    }
    assert!(decode_packet(&[]).is_err());
    assert!(matches!(
        decode_packet(&vec![0u8; MAX_PACKET_BYTES + 1]),
        Err(OscError::TooLarge { .. })
    ));
    // A bundle element claiming more bytes than there are.
    let mut lying = good.clone();
    lying[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(decode_packet(&lying), Err(OscError::BadBundle)));
    // Trailing garbage after a message.
    let mut trailing = encode_packet(&message("/a"));
    trailing.extend([1, 2, 3, 4]);
    assert!(decode_packet(&trailing).is_err());
    // Random bytes (deterministic), with and without a bundle header.
    let mut seed = 0x1234_5678_9abc_def0u64;
    for i in 0..5000 {
        let len = (i % 200) + 1;
        let mut b: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        if i % 2 == 0 && b.len() >= 16 {
            b[..8].copy_from_slice(b"#bundle\0");
        }
        if i % 3 == 0 {
            b[0] = b'/';
        }
        if let Ok(ms) = decode_packet(&b) {
            for msg in ms {
                let _ = parse(&msg);
            }
        }
    }
}

// --- feedback ---

fn song() -> SongView {
    SongView {
        number: 2,
        name: "02-ballad".into(),
        title: "Ballad".into(),
        sections: vec![
            SectionView {
                name: "verse".into(),
                start_s: 0.0,
                end_s: 10.0,
                bar: Some(1),
            },
            SectionView {
                name: "chorus".into(),
                start_s: 10.0,
                end_s: 20.0,
                bar: Some(6),
            },
        ],
        // 120 bpm 4/4: a beat is 0.5 s, a bar 2 s.
        tempo: vec![TempoView {
            at_s: 0.0,
            bar: 1,
            bpm: 120.0,
            beats_per_bar: 4,
            beat_unit: 4,
        }],
        lyrics: vec![
            LyricLine {
                at_s: 1.0,
                text: "first".into(),
                chords: vec![],
            },
            LyricLine {
                at_s: 5.0,
                text: "second".into(),
                chords: vec![],
            },
        ],
        chords: vec![
            ChordAt {
                at_s: 0.0,
                bar: Some(1),
                beat: Some(1),
                chord: "C".into(),
            },
            ChordAt {
                at_s: 4.0,
                bar: Some(3),
                beat: Some(1),
                chord: "G".into(),
            },
        ],
        ..SongView::default()
    }
}

fn live() -> LiveView {
    LiveView {
        transport: "playing".into(),
        pos_s: 0.2,
        speed_pct: 100.0,
        song: 2,
        stems: vec![
            StemMix {
                name: "drums".into(),
                gain_db: 0.0,
                ..StemMix::default()
            },
            StemMix {
                name: "bass".into(),
                gain_db: -3.0,
                pan: 0.5,
                ..StemMix::default()
            },
        ],
        buses: vec![BusMix {
            name: "cue".into(),
            gain_db: -6.0,
        }],
        health: Health::default(),
        ..LiveView::default()
    }
}

fn shown(msgs: &[OscMessage]) -> Vec<String> {
    msgs.iter()
        .map(|m| {
            let args: Vec<String> = m
                .args
                .iter()
                .map(|a| match a {
                    Int(i) => i.to_string(),
                    Float(f) => f.to_string(),
                    Str(s) => format!("{s:?}"),
                    other => format!("{other:?}"),
                })
                .collect();
            format!("{} {}", m.addr, args.join(" "))
                .trim_end()
                .to_string()
        })
        .collect()
}

#[test]
fn a_new_subscriber_gets_everything() {
    let got = shown(&feedback(None, &live(), &song()));
    assert_eq!(
        got,
        vec![
            "/stembox/transport \"playing\"",
            "/stembox/pos 0.2",
            "/stembox/song 2 \"Ballad\"",
            "/stembox/stem/drums/mute 0",
            "/stembox/stem/drums/solo 0",
            "/stembox/stem/drums/gain 0",
            "/stembox/stem/drums/pan 0",
            "/stembox/stem/bass/mute 0",
            "/stembox/stem/bass/solo 0",
            "/stembox/stem/bass/gain -3",
            "/stembox/stem/bass/pan 0.5",
            "/stembox/bus/cue/gain -6",
            "/stembox/volume 0",
            "/stembox/speed 100",
            "/stembox/pitch 0",
            "/stembox/click 0",
            "/stembox/countin 0",
            "/stembox/loop/on 0",
            "/stembox/section \"verse\"",
            "/stembox/bar 1",
            "/stembox/beat 1",
            "/stembox/lyric \"\"",
            "/stembox/lyric/next \"first\"",
            "/stembox/chord \"C\"",
            "/stembox/xruns 0",
        ]
    );
}

#[test]
fn only_what_changed_is_sent() {
    let before = live();
    assert!(feedback(Some(&before), &before, &song()).is_empty());
    let mut now = before.clone();
    now.stems[0].mute = true;
    assert_eq!(
        shown(&feedback(Some(&before), &now, &song())),
        vec!["/stembox/stem/drums/mute 1"]
    );
    let mut now = before.clone();
    now.stems[1].gain_db = -6.0;
    now.stems[1].solo = true;
    now.speed_pct = 80.0;
    now.buses[0].gain_db = 0.0;
    now.loop_on = true;
    now.loop_a_s = Some(2.0);
    now.loop_b_s = Some(4.0);
    now.transport = "paused".into();
    assert_eq!(
        shown(&feedback(Some(&before), &now, &song())),
        vec![
            "/stembox/transport \"paused\"",
            "/stembox/stem/bass/solo 1",
            "/stembox/stem/bass/gain -6",
            "/stembox/bus/cue/gain 0",
            "/stembox/speed 80",
            "/stembox/loop/on 1",
            "/stembox/loop/a 2",
            "/stembox/loop/b 4",
        ]
    );
    // A stem that appears is sent whole.
    let mut now = before.clone();
    now.stems.push(StemMix {
        name: "keys".into(),
        ..StemMix::default()
    });
    assert_eq!(feedback(Some(&before), &now, &song()).len(), 4);
}

#[test]
fn the_play_head_moves_lyric_section_bar_beat_and_chord() {
    let before = live();
    let mut now = before.clone();
    now.pos_s = 0.3;
    assert_eq!(
        shown(&feedback(Some(&before), &now, &song())),
        vec!["/stembox/pos 0.3"]
    );
    now.pos_s = 1.2;
    assert_eq!(
        shown(&feedback(Some(&before), &now, &song())),
        vec![
            "/stembox/pos 1.2",
            "/stembox/beat 3",
            "/stembox/lyric \"first\"",
            "/stembox/lyric/next \"second\"",
        ]
    );
    let from = now.clone();
    now.pos_s = 10.5;
    assert_eq!(
        shown(&feedback(Some(&from), &now, &song())),
        vec![
            "/stembox/pos 10.5",
            "/stembox/section \"chorus\"",
            "/stembox/bar 6",
            "/stembox/beat 2",
            "/stembox/lyric \"second\"",
            "/stembox/lyric/next \"\"",
            "/stembox/chord \"G\"",
        ]
    );
    let from = now.clone();
    now.pos_s = 25.0;
    let got = shown(&feedback(Some(&from), &now, &song()));
    assert!(
        got.contains(&"/stembox/section \"\"".to_string()),
        "{got:?}"
    );
}

#[test]
fn bar_and_beat_follow_the_tempo_map() {
    let mut sv = song();
    // From 8 s (bar 5) on: 60 bpm 3/4, a beat is 1 s.
    sv.tempo.push(TempoView {
        at_s: 8.0,
        bar: 5,
        bpm: 60.0,
        beats_per_bar: 3,
        beat_unit: 4,
    });
    assert_eq!(bar_beat_at(&sv, 0.0), Some((1, 1)));
    assert_eq!(bar_beat_at(&sv, 7.9), Some((4, 4)));
    assert_eq!(bar_beat_at(&sv, 8.0), Some((5, 1)));
    assert_eq!(bar_beat_at(&sv, 11.0), Some((6, 1)));
    assert_eq!(bar_beat_at(&sv, 12.5), Some((6, 2)));
    assert_eq!(bar_beat_at(&SongView::default(), 3.0), None);
    assert_eq!(bar_beat_at(&sv, f64::NAN), None);
    sv.tempo[0].bpm = 0.0;
    assert_eq!(bar_beat_at(&sv, 1.0), None);
}

#[test]
fn replies_and_feedback_encode() {
    let r = reply("ok: drums muted");
    assert_eq!(r.addr, "/stembox/reply");
    let back = decode_packet(&encode(&r).unwrap()).unwrap();
    assert_eq!(back, vec![r]);
    for msg in feedback(None, &live(), &song()) {
        let bytes = encode(&msg).unwrap();
        assert_eq!(decode_packet(&bytes).unwrap(), vec![msg]);
    }
    assert!(is_pos(&pos(1.0)));
    assert!(!is_pos(&reply("x")));
}
