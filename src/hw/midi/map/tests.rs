use super::*;
use crate::model::action::SongRef;
use crate::storage::config::Config;

fn ms(v: u64) -> Timestamp {
    Duration::from_secs(1_700_000_000) + Duration::from_millis(v)
}

fn cfg(json: &str) -> MidiConfig {
    Config::from_json(format!("{{\"midi\": {json}}}").as_bytes())
        .unwrap_or_else(|e| panic!("{json}: {e}"))
        .midi
}

fn mapper(map: &str) -> MidiMapper {
    let c = cfg(&format!("{{\"map\": {map}}}"));
    let timing = GestureTiming {
        debounce: Duration::ZERO,
        long_press: Duration::from_millis(600),
        double_press: Duration::from_millis(300),
    };
    MidiMapper::new(MidiMap::from_config(&c).unwrap(), timing)
}

fn names(out: &[ButtonEvent<MidiKey>]) -> Vec<String> {
    out.iter()
        .map(|e| format!("{} {}", gesture_name(e.gesture), action_name(&e.action)))
        .collect()
}

fn feed(m: &mut MidiMapper, events: &[(u64, MidiEvent)]) -> Vec<String> {
    let mut out = Vec::new();
    for (t, ev) in events {
        m.on_event(*ev, ms(*t), &mut out);
    }
    names(&out)
}

fn on(ch: i64, note: i64) -> MidiEvent {
    MidiEvent::note_on(ch, note, 100).unwrap()
}
fn off(ch: i64, note: i64) -> MidiEvent {
    MidiEvent::note_off(ch, note).unwrap()
}
fn cc(ch: i64, n: i64, v: i64) -> MidiEvent {
    MidiEvent::control(ch, n, v).unwrap()
}

#[test]
fn notes_drive_the_key_gestures() {
    let mut m = mapper(
        r#"[{"note": 60, "action": "play_pause"},
            {"note": 61, "action": "loop_a"}, {"note": 61, "gesture": "long", "action": "loop_b"},
            {"note": 62, "action": "next_song"}, {"note": 62, "gesture": "double", "action": "prev_song"}]"#,
    );
    // Only short: fires on the press.
    assert_eq!(feed(&mut m, &[(0, on(0, 60))]), ["short play_pause"]);
    assert!(feed(&mut m, &[(50, off(0, 60))]).is_empty());
    // Long: held past 600 ms (decided by the next event's time or by poll).
    assert!(feed(&mut m, &[(1000, on(0, 61))]).is_empty());
    let mut out = Vec::new();
    m.poll(ms(1700), &mut out);
    assert_eq!(names(&out), ["long loop_b"]);
    assert!(feed(&mut m, &[(1800, off(0, 61))]).is_empty());
    // Tap: short on release.
    assert_eq!(
        feed(&mut m, &[(2000, on(0, 61)), (2100, off(0, 61))]),
        ["short loop_a"]
    );
    // Double: two taps within 300 ms; note on at velocity 0 is a release.
    let v0 = MidiEvent::note_on(0, 62, 0).unwrap();
    assert_eq!(v0, off(0, 62));
    assert_eq!(
        feed(&mut m, &[(3000, on(0, 62)), (3050, v0), (3200, on(0, 62))]),
        ["double prev_song"]
    );
}

#[test]
fn momentary_and_latching_pedals_both_work() {
    let mut m = mapper(
        r#"[{"cc": 64, "action": "play_pause"}, {"cc": 64, "gesture": "long", "action": "stop"},
            {"cc": 80, "latching": true, "action": "loop_toggle"}]"#,
    );
    // Momentary: 127 press, 0 release; a tap is short, a hold is long.
    assert_eq!(
        feed(&mut m, &[(0, cc(0, 64, 127)), (100, cc(0, 64, 0))]),
        ["short play_pause"]
    );
    assert_eq!(
        feed(&mut m, &[(1000, cc(0, 64, 127)), (1700, cc(0, 64, 0))]),
        ["long stop"]
    );
    // Latching: every change of half is one press; a repeated value is not.
    assert_eq!(
        feed(
            &mut m,
            &[
                (2000, cc(0, 80, 127)),
                (3000, cc(0, 80, 0)),
                (3001, cc(0, 80, 0)),
                (4000, cc(0, 80, 127))
            ]
        ),
        [
            "short loop_toggle",
            "short loop_toggle",
            "short loop_toggle"
        ]
    );
}

#[test]
fn cc_values_ranges_and_channels() {
    let mut m = mapper(
        r#"[{"cc": 20, "value": 127, "action": "next_song"},
            {"cc": 21, "min": 100, "action": "volume_up"},
            {"cc": 22, "channel": 2, "value": 1, "action": "stop"}]"#,
    );
    // A trigger pedal sending 127 on every press: every message fires.
    assert_eq!(
        feed(
            &mut m,
            &[
                (0, cc(0, 20, 127)),
                (10, cc(0, 20, 127)),
                (20, cc(0, 20, 0))
            ]
        ),
        ["short next_song", "short next_song"]
    );
    // An expression pedal sweeping into 100..=127 fires once per entry.
    let sweep: Vec<_> = (90..128)
        .chain((50..128).rev())
        .map(|v| (100, cc(3, 21, v)))
        .collect();
    assert_eq!(feed(&mut m, &sweep), ["short volume_up"]);
    assert_eq!(feed(&mut m, &[(200, cc(3, 21, 120))]), ["short volume_up"]);
    // Channel 2 in the config is wire channel 1; other channels do nothing.
    assert!(feed(&mut m, &[(300, cc(0, 22, 1)), (301, cc(15, 22, 1))]).is_empty());
    assert_eq!(feed(&mut m, &[(302, cc(1, 22, 1))]), ["short stop"]);
}

#[test]
fn program_change_selects_the_song_unless_bound() {
    let mut m = mapper(r#"[{"program": 3, "action": "stop"}]"#);
    let mut out = Vec::new();
    m.on_event(MidiEvent::program(5, 0).unwrap(), ms(0), &mut out);
    m.on_event(MidiEvent::program(5, 127).unwrap(), ms(1), &mut out);
    m.on_event(MidiEvent::program(0, 2).unwrap(), ms(2), &mut out);
    let actions: Vec<_> = out.iter().map(|e| e.action.clone()).collect();
    assert_eq!(
        actions,
        [
            Action::Song(SongRef::Number(1)),
            Action::Song(SongRef::Number(128)),
            Action::Stop
        ]
    );
    let c = cfg(r#"{"program_change_selects_song": false}"#);
    let mut m = MidiMapper::new(
        MidiMap::from_config(&c).unwrap(),
        midi_timing(&Default::default()),
    );
    let mut out = Vec::new();
    m.on_event(MidiEvent::program(0, 4).unwrap(), ms(0), &mut out);
    assert!(out.is_empty());
}

#[test]
fn hostile_numbers_never_become_events() {
    // The sequencer's fields are wider than MIDI's: anything outside is dropped.
    for (ch, n, v) in [
        (16, 60, 100),
        (-1, 60, 100),
        (0, 128, 1),
        (0, -5, 1),
        (0, 60, 128),
        (0, 60, -1),
        (i64::MAX, 0, 0),
    ] {
        assert_eq!(MidiEvent::note_on(ch, n, v), None, "{ch} {n} {v}");
        assert_eq!(MidiEvent::control(ch, n, v), None, "{ch} {n} {v}");
    }
    assert_eq!(MidiEvent::program(0, 128), None);
    assert_eq!(MidiEvent::program(16, 1), None);
    // Raw bytes: data bytes with the top bit set, short messages, system messages.
    for bytes in [
        &[0x90u8, 0x80, 0x10][..],
        &[0x90, 60],
        &[0xb0],
        &[],
        &[0xf8],
        &[0xf0, 1, 2, 0xf7],
        &[0x3c, 0x40],
        &[0xe0, 0, 64],
    ] {
        assert_eq!(MidiEvent::from_bytes(bytes), None, "{bytes:?}");
    }
    assert_eq!(MidiEvent::from_bytes(&[0x9f, 60, 0]), Some(off(15, 60)));
    assert_eq!(MidiEvent::from_bytes(&[0xc3, 7]), MidiEvent::program(3, 7));
}

#[test]
fn unbound_channels_and_numbers_do_nothing_and_floods_are_bounded() {
    let mut m = mapper(r#"[{"note": 36, "channel": 10, "action": "play_pause"}]"#);
    let mut out = Vec::new();
    // Every note on every other channel, and other notes on channel 10: nothing.
    for ch in 0..16 {
        for note in 0..128 {
            if (ch, note) == (9, 36) {
                continue;
            }
            m.on_event(on(ch, note), ms(0), &mut out);
            m.on_event(off(ch, note), ms(0), &mut out);
        }
    }
    assert!(out.is_empty(), "{:?}", names(&out));
    // A stuck device repeating a bound note: at most MAX_ACTIONS_PER_S per second.
    for i in 0..100_000u64 {
        m.on_event(on(9, 36), ms(10_000 + i / 100), &mut out);
        m.on_event(off(9, 36), ms(10_000 + i / 100), &mut out);
    }
    // 100 000 presses over 1000 ms: one window (plus the edge of the next).
    assert!(out.len() <= 2 * MAX_ACTIONS_PER_S as usize, "{}", out.len());
    assert!(out.len() >= MAX_ACTIONS_PER_S as usize);
    assert_eq!(m.take_dropped(), 100_000 - out.len() as u64);
    // After the flood, a real press works at once.
    out.clear();
    m.on_event(on(9, 36), ms(20_000), &mut out);
    assert_eq!(names(&out), ["short play_pause"]);
}

#[test]
fn bad_bindings_name_the_key() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"map": [{"note": 128, "action": "stop"}]}"#,
            "midi.map[0].note",
        ),
        (
            r#"{"map": [{"note": 1, "channel": 17, "action": "stop"}]}"#,
            "midi.map[0].channel",
        ),
        (
            r#"{"map": [{"note": 1, "cc": 2, "action": "stop"}]}"#,
            "midi.map[0].note",
        ),
        (r#"{"map": [{"action": "stop"}]}"#, "midi.map[0].note"),
        (
            r#"{"map": [{"note": 1, "action": "fly"}]}"#,
            "midi.map[0].action",
        ),
        (
            r#"{"map": [{"note": 1, "value": 3, "action": "stop"}]}"#,
            "midi.map[0].value",
        ),
        (
            r#"{"map": [{"cc": 1, "value": 3, "min": 2, "action": "stop"}]}"#,
            "midi.map[0].value",
        ),
        (
            r#"{"map": [{"cc": 1, "min": 90, "max": 10, "action": "stop"}]}"#,
            "midi.map[0].min",
        ),
        (
            r#"{"map": [{"cc": 1, "latching": true, "gesture": "long", "action": "stop"}]}"#,
            "midi.map[0].gesture",
        ),
        (
            r#"{"map": [{"cc": 1, "latching": true, "value": 5, "action": "stop"}]}"#,
            "midi.map[0].latching",
        ),
        (
            r#"{"map": [{"program": 0, "action": "stop"}]}"#,
            "midi.map[0].program",
        ),
        (
            r#"{"map": [{"program": 200, "action": "stop"}]}"#,
            "midi.map[0].program",
        ),
        (
            r#"{"map": [{"program": 2, "gesture": "double", "action": "stop"}]}"#,
            "midi.map[0].gesture",
        ),
        (
            r#"{"map": [{"note": 5, "action": "stop"}, {"note": 5, "action": "play"}]}"#,
            "midi.map[1]",
        ),
        (r#"{"inputs": [""]}"#, "midi.inputs[0]"),
        (r#"{"clock_out": ["999:0"]}"#, "midi.clock_out[0]"),
    ];
    for (json, key) in cases {
        let e = Config::from_json_checked(
            format!("{{\"midi\": {json}}}").as_bytes(),
            &[config_problem],
        )
        .unwrap_err();
        assert!(e.message.contains(&format!("\"{key}\"")), "{json}: {e}");
    }
    // Wrong types and values beyond u8 are refused by the parser, naming the key.
    for (json, key) in [
        (
            r#"{"map": [{"note": 300, "action": "stop"}]}"#,
            "midi.map[0].note",
        ),
        (
            r#"{"map": [{"note": -1, "action": "stop"}]}"#,
            "midi.map[0].note",
        ),
        (
            r#"{"map": [{"note": "C4", "action": "stop"}]}"#,
            "midi.map[0].note",
        ),
        (
            r#"{"map": [{"note": 1.5, "action": "stop"}]}"#,
            "midi.map[0].note",
        ),
        (r#"{"inputs": "FCB"}"#, "midi.inputs"),
    ] {
        let e = Config::from_json_checked(
            format!("{{\"midi\": {json}}}").as_bytes(),
            &[config_problem],
        )
        .unwrap_err();
        assert!(e.message.contains(key), "{json}: {e}");
    }
}

#[test]
fn describe_lists_every_binding() {
    let c = cfg(
        r#"{"map": [{"note": 60, "channel": 10, "action": "play_pause"},
                    {"cc": 64, "gesture": "long", "action": "stop"},
                    {"cc": 80, "latching": true, "action": "loop_toggle"},
                    {"cc": 7, "min": 64, "action": "volume_up"},
                    {"program": 4, "action": "song:intro"}]}"#,
    );
    let d = MidiMap::from_config(&c).unwrap().describe();
    for line in [
        "note:60@ch10 short play_pause",
        "cc:64 momentary(>=64 down) long stop",
        "cc:80 latching short loop_toggle",
        "cc:7 entering 64..=127 short volume_up",
        "program:4 short song:intro",
        "program:N (any other) short song:N",
    ] {
        assert!(d.lines().any(|l| l == line), "{line:?} not in\n{d}");
    }
}
