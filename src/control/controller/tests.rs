//! Every action through the controller: the commands it produces and the reply line,
//! including the error cases. No threads, no device: an [`EngineView`] stands in for the
//! engine's status.

use super::*;
use crate::model::action::{SectionRef, SongRef};
use crate::model::song::{Section, Stem};
use crate::rt::command::CountInBar;
use crate::rt::status::Transport::{Paused, Playing, Stopped};

const RATE: u32 = 48_000;
const BUFFER: u32 = 1_024;

fn song(name: &str, stems: &[&str], seconds: u64) -> Arc<Song> {
    let frames = (seconds * RATE as u64) as usize;
    let stems = stems
        .iter()
        .map(|s| Stem::new(*s, vec![0.0; frames * 2].into_boxed_slice()))
        .collect();
    Arc::new(Song::new(name, RATE, stems))
}

fn with_sections(name: &str, sections: &[(&str, u64)]) -> Arc<Song> {
    let mut s = Arc::try_unwrap(song(name, &["drums", "bass"], 6)).expect("unique");
    s.sections = sections
        .iter()
        .map(|(n, f)| Section {
            name: n.to_string(),
            start_frame: *f,
        })
        .collect();
    Arc::new(s)
}

fn setup(saved: Option<SavedState>) -> Setup {
    Setup {
        rate: RATE,
        buffer_frames: BUFFER,
        names: ["01-a", "02-b", "03-c"].map(String::from).to_vec(),
        budget_bytes: usize::MAX,
        master_db: 0.0,
        saved,
        buses: vec!["main".into(), "cue".into()],
    }
}

fn view(transport: Transport) -> EngineView {
    EngineView {
        transport,
        pos_frames: 0,
        looping: false,
        counting_in: false,
        command_slots: 256,
        song_slots: 4,
        speed_pct: 100.0,
        pitch_st: 0.0,
        ramp_pass: 0,
        periods: 1_000,
    }
}

fn at(transport: Transport, pos_frames: u64) -> EngineView {
    EngineView {
        pos_frames,
        ..view(transport)
    }
}

/// A controller on song 1 of 3 (8 s, stems drums, bass), nothing saved.
fn ctl() -> Controller {
    Controller::new(setup(None), 0, song("01-a", &["drums", "bass"], 8)).0
}

fn reply(out: &Output) -> &str {
    out.reply.as_deref().expect("a reply line")
}

/// Asserts the commands and the reply of one action.
fn check(c: &mut Controller, action: Action, v: EngineView, cmds: &[Command], line: &str) {
    let out = c.act(action.clone(), &v);
    assert_eq!(out.commands(), cmds, "{action:?}");
    assert_eq!(reply(&out), line, "{action:?}");
}

fn switched_to(out: &Output) -> Option<(&str, bool)> {
    out.engine.iter().find_map(|e| match e {
        ToEngine::Switch { song, play } => Some((song.name.as_str(), *play)),
        ToEngine::Command(_) => None,
    })
}

// --- transport ---

#[test]
fn play_pause_plays_when_stopped_or_paused_and_pauses_when_playing() {
    let mut c = ctl();
    check(
        &mut c,
        Action::PlayPause,
        view(Stopped),
        &[Command::Play],
        "ok play",
    );
    check(
        &mut c,
        Action::PlayPause,
        view(Paused),
        &[Command::Play],
        "ok play",
    );
    check(
        &mut c,
        Action::PlayPause,
        view(Playing),
        &[Command::Pause],
        "ok pause",
    );
}

#[test]
fn play_pause_during_a_count_in_calls_it_off() {
    let mut c = ctl();
    let v = EngineView {
        counting_in: true,
        ..view(Stopped)
    };
    check(&mut c, Action::PlayPause, v, &[Command::Stop], "ok stop");
}

#[test]
fn play_starts_at_once_or_with_a_count_in_at_the_song_tempo() {
    let mut c = ctl();
    check(
        &mut c,
        Action::Play,
        view(Stopped),
        &[Command::Play],
        "ok play",
    );
    check(
        &mut c,
        Action::CountInToggle,
        view(Stopped),
        &[],
        "ok count_in on",
    );
    // No bpm in song.json: 120 bpm, 4 beats.
    check(
        &mut c,
        Action::Play,
        view(Paused),
        &[Command::CountIn {
            beat_frames: RATE / 2,
            beats: 4,
        }],
        "ok play (count-in 4 beats at 120 bpm)",
    );
    // Already playing: no count-in.
    check(
        &mut c,
        Action::Play,
        view(Playing),
        &[Command::Play],
        "ok play",
    );
}

#[test]
fn count_in_follows_bpm_and_bar_of_the_song() {
    let mut s = Arc::try_unwrap(song("01-a", &["drums"], 1)).expect("unique");
    s.bpm = Some(100.0);
    s.beats_per_bar = 3;
    let (mut c, _) = Controller::new(setup(None), 0, Arc::new(s));
    c.act(Action::CountInToggle, &view(Stopped));
    check(
        &mut c,
        Action::Play,
        view(Stopped),
        &[Command::CountIn {
            beat_frames: 28_800,
            beats: 3,
        }],
        "ok play (count-in 3 beats at 100 bpm)",
    );
}

#[test]
fn count_in_toggle_turns_it_on_and_off() {
    let mut c = ctl();
    check(
        &mut c,
        Action::CountInToggle,
        view(Stopped),
        &[],
        "ok count_in on",
    );
    check(
        &mut c,
        Action::CountInToggle,
        view(Stopped),
        &[],
        "ok count_in off",
    );
    check(
        &mut c,
        Action::Play,
        view(Stopped),
        &[Command::Play],
        "ok play",
    );
}

#[test]
fn pause_and_stop_send_their_commands() {
    let mut c = ctl();
    check(
        &mut c,
        Action::Pause,
        view(Playing),
        &[Command::Pause],
        "ok pause",
    );
    check(
        &mut c,
        Action::Stop,
        view(Playing),
        &[Command::Stop],
        "ok stop",
    );
}

// --- setlist ---

#[test]
fn next_song_that_is_loaded_switches_at_once_and_keeps_playing() {
    let mut c = ctl();
    let b = song("02-b", &["keys"], 1);
    c.song_loaded(1, b.clone(), &view(Playing));
    let out = c.act(Action::NextSong, &view(Playing));
    assert_eq!(switched_to(&out), Some(("02-b", true)));
    assert_eq!(reply(&out), "ok song 2 02-b");
    assert!(Arc::ptr_eq(c.current_song().expect("current"), &b));
    // The new neighbour (03-c) is asked for; 01-a is still loaded.
    assert_eq!(out.effects.load, vec![2]);
    // The new song's stems are the ones the controller knows now.
    let out = c.act(Action::Mute("keys".into()), &view(Playing));
    assert_eq!(
        out.commands(),
        [Command::StemMute {
            stem: 0,
            mute: true
        }]
    );
}

#[test]
fn next_song_while_stopped_switches_without_playing() {
    let mut c = ctl();
    c.song_loaded(1, song("02-b", &["keys"], 1), &view(Stopped));
    let out = c.act(Action::NextSong, &view(Stopped));
    assert_eq!(switched_to(&out), Some(("02-b", false)));
}

#[test]
fn next_song_not_loaded_yet_waits_for_the_loader() {
    let mut c = ctl();
    let out = c.act(Action::NextSong, &view(Playing));
    assert_eq!(switched_to(&out), None);
    assert_eq!(out.effects.load, vec![1]);
    assert_eq!(reply(&out), "loading 02-b");
    // Asking again does not load it twice.
    let out = c.act(Action::NextSong, &view(Playing));
    assert!(out.effects.load.is_empty());
    let out = c.song_loaded(1, song("02-b", &["keys"], 1), &view(Playing));
    assert_eq!(switched_to(&out), Some(("02-b", true)));
    assert_eq!(reply(&out), "ok song 2 02-b");
}

#[test]
fn a_stop_while_the_next_song_loads_holds() {
    let mut c = ctl();
    c.act(Action::NextSong, &view(Playing));
    c.act(Action::Stop, &view(Playing));
    let out = c.song_loaded(1, song("02-b", &["keys"], 1), &view(Stopped));
    assert_eq!(switched_to(&out), Some(("02-b", false)));
}

#[test]
fn play_while_a_called_song_loads_plays_that_song_once_loaded() {
    let mut c = ctl();
    c.act(Action::Stop, &view(Stopped));
    let out = c.act(Action::NextSong, &view(Stopped));
    assert_eq!(reply(&out), "loading 02-b");
    let out = c.act(Action::Play, &view(Stopped));
    // The old song is not started meanwhile.
    assert!(out.commands().is_empty(), "{:?}", out.commands());
    assert_eq!(reply(&out), "ok play (when 02-b is loaded)");
    let out = c.song_loaded(1, song("02-b", &["keys"], 1), &view(Stopped));
    assert_eq!(switched_to(&out), Some(("02-b", true)));
    // And a pause after the play cues it again.
    c.act(Action::NextSong, &view(Playing));
    c.act(Action::Play, &view(Playing));
    c.act(Action::Pause, &view(Playing));
    let out = c.song_loaded(2, song("03-c", &["keys"], 1), &view(Paused));
    assert_eq!(switched_to(&out), Some(("03-c", false)));
}

#[test]
fn a_song_that_fails_to_load_is_reported_and_the_current_one_stays() {
    let mut c = ctl();
    c.act(Action::NextSong, &view(Playing));
    let out = c.song_failed(1);
    assert_eq!(reply(&out), "error: cannot load song 02-b");
    assert_eq!(c.current(), 0);
    // A failed preload nobody waits for is silent, and may be asked for again.
    assert_eq!(c.song_failed(2).reply, None);
    let out = c.act(Action::NextSong, &view(Playing));
    assert_eq!(out.effects.load, vec![1]);
}

#[test]
fn song_change_with_full_engine_queues_is_refused_and_nothing_changes() {
    let mut c = ctl();
    c.song_loaded(1, song("02-b", &["keys"], 1), &view(Playing));
    let busy = EngineView {
        song_slots: 0,
        ..view(Playing)
    };
    check(
        &mut c,
        Action::NextSong,
        busy,
        &[],
        "error: engine busy, try again",
    );
    assert_eq!(c.current(), 0);
    let out = c.act(Action::Mute("drums".into()), &view(Playing));
    assert_eq!(reply(&out), "ok drums mute=1 solo=0 gain_db=0.0");
}

#[test]
fn next_at_the_last_song_and_prev_at_the_first_stay_put() {
    let mut c = ctl();
    check(
        &mut c,
        Action::PrevSong,
        view(Playing),
        &[],
        "error: this is the first song of the setlist",
    );
    let mut last = Controller::new(setup(None), 2, song("03-c", &["drums"], 1)).0;
    check(
        &mut last,
        Action::NextSong,
        view(Playing),
        &[],
        "error: this is the last song of the setlist",
    );
}

/// `play` and then `song <n>` before the engine has taken the play (the soak's
/// transcript had it): the new song plays, it is not cued. Once the engine has had two
/// periods to show the play, the view is believed again.
#[test]
fn a_song_change_right_after_play_plays_the_new_song() {
    let mut c = ctl();
    c.song_loaded(1, song("02-b", &["keys"], 1), &view(Stopped));
    let stale = view(Stopped);
    c.act(Action::Play, &stale);
    let out = c.act(Action::NextSong, &stale);
    assert_eq!(switched_to(&out), Some(("02-b", true)));
    // Stop, and then the view catches up without the stop having played anything.
    c.act(Action::Stop, &view(Playing));
    let out = c.act(Action::PrevSong, &view(Playing));
    assert_eq!(switched_to(&out), Some(("01-a", false)), "the stop counts");
    let caught_up = EngineView {
        periods: 1_002,
        ..view(Playing)
    };
    let out = c.act(Action::NextSong, &caught_up);
    assert_eq!(switched_to(&out), Some(("02-b", true)), "the view again");
}

#[test]
fn prev_song_goes_back_one() {
    let mut c = Controller::new(setup(None), 2, song("03-c", &["drums"], 1)).0;
    c.song_loaded(1, song("02-b", &["keys"], 1), &view(Paused));
    let out = c.act(Action::PrevSong, &view(Paused));
    assert_eq!(switched_to(&out), Some(("02-b", false)));
    assert_eq!(reply(&out), "ok song 2 02-b");
}

#[test]
fn song_by_number_name_case_and_prefix() {
    let mut c = ctl();
    let out = c.act(Action::Song(SongRef::Number(3)), &view(Stopped));
    assert_eq!(reply(&out), "loading 03-c");
    assert_eq!(out.effects.load, vec![2]);
    c.song_loaded(1, song("02-b", &["keys"], 1), &view(Stopped));
    let out = c.act(Action::Song(SongRef::Name("02-B".into())), &view(Stopped));
    assert_eq!(reply(&out), "ok song 2 02-b");
    let out = c.act(Action::Song(SongRef::Name("01".into())), &view(Stopped));
    assert_eq!(reply(&out), "ok song 1 01-a");
}

#[test]
fn song_that_is_not_in_the_setlist_is_an_error() {
    let mut c = ctl();
    check(
        &mut c,
        Action::Song(SongRef::Number(9)),
        view(Stopped),
        &[],
        "error: no song 9: the setlist has 3 songs",
    );
    check(
        &mut c,
        Action::Song(SongRef::Name("zz".into())),
        view(Stopped),
        &[],
        "error: no song \"zz\" in the setlist",
    );
    check(
        &mut c,
        Action::Song(SongRef::Name("0".into())),
        view(Stopped),
        &[],
        "error: \"0\" matches 3 songs: 01-a, 02-b, 03-c",
    );
}

#[test]
fn preload_asks_for_the_neighbours_within_the_budget() {
    let mut c = Controller::new(setup(None), 1, song("02-b", &["keys"], 1)).0;
    assert_eq!(c.preload().effects.load, vec![2, 0]);
    let tight = Setup {
        budget_bytes: 1,
        ..setup(None)
    };
    let mut c = Controller::new(tight, 1, song("02-b", &["keys"], 1)).0;
    assert!(c.preload().effects.load.is_empty());
}

// --- stems ---

#[test]
fn toggle_mute_flips_the_stem_and_names_are_case_blind() {
    let mut c = ctl();
    check(
        &mut c,
        Action::ToggleMute("drums".into()),
        view(Playing),
        &[Command::StemMute {
            stem: 0,
            mute: true,
        }],
        "ok drums mute=1 solo=0 gain_db=0.0",
    );
    check(
        &mut c,
        Action::ToggleMute("BASS".into()),
        view(Playing),
        &[Command::StemMute {
            stem: 1,
            mute: true,
        }],
        "ok bass mute=1 solo=0 gain_db=0.0",
    );
    check(
        &mut c,
        Action::ToggleMute("drums".into()),
        view(Playing),
        &[Command::StemMute {
            stem: 0,
            mute: false,
        }],
        "ok drums mute=0 solo=0 gain_db=0.0",
    );
}

#[test]
fn mute_and_unmute_send_only_a_change() {
    let mut c = ctl();
    let mute = [Command::StemMute {
        stem: 1,
        mute: true,
    }];
    check(
        &mut c,
        Action::Mute("bass".into()),
        view(Playing),
        &mute,
        "ok bass mute=1 solo=0 gain_db=0.0",
    );
    check(
        &mut c,
        Action::Mute("bass".into()),
        view(Playing),
        &[],
        "ok bass mute=1 solo=0 gain_db=0.0",
    );
    let unmute = [Command::StemMute {
        stem: 1,
        mute: false,
    }];
    check(
        &mut c,
        Action::Unmute("bass".into()),
        view(Playing),
        &unmute,
        "ok bass mute=0 solo=0 gain_db=0.0",
    );
    check(
        &mut c,
        Action::Unmute("bass".into()),
        view(Playing),
        &[],
        "ok bass mute=0 solo=0 gain_db=0.0",
    );
}

#[test]
fn solo_toggles() {
    let mut c = ctl();
    let on = [Command::StemSolo {
        stem: 0,
        solo: true,
    }];
    check(
        &mut c,
        Action::Solo("drums".into()),
        view(Playing),
        &on,
        "ok drums mute=0 solo=1 gain_db=0.0",
    );
    let off = [Command::StemSolo {
        stem: 0,
        solo: false,
    }];
    check(
        &mut c,
        Action::Solo("drums".into()),
        view(Playing),
        &off,
        "ok drums mute=0 solo=0 gain_db=0.0",
    );
}

#[test]
fn gain_sets_the_stem_gain_and_says_when_it_hit_a_limit() {
    let mut c = ctl();
    let gain = |db: f32| {
        [Command::StemGain {
            stem: 1,
            gain: db_to_gain(db),
        }]
    };
    check(
        &mut c,
        Action::Gain("bass".into(), -3.0),
        view(Playing),
        &gain(-3.0),
        "ok bass mute=0 solo=0 gain_db=-3.0",
    );
    check(
        &mut c,
        Action::Gain("bass".into(), 30.0),
        view(Playing),
        &gain(MAX_GAIN_DB),
        "ok bass mute=0 solo=0 gain_db=24.0 (limit)",
    );
    check(
        &mut c,
        Action::Gain("bass".into(), -500.0),
        view(Playing),
        &gain(MIN_GAIN_DB),
        "ok bass mute=0 solo=0 gain_db=-120.0 (limit)",
    );
    // The same gain again changes nothing in the engine.
    check(
        &mut c,
        Action::Gain("bass".into(), -120.0),
        view(Playing),
        &[],
        "ok bass mute=0 solo=0 gain_db=-120.0",
    );
    check(
        &mut c,
        Action::Gain("bass".into(), f32::NAN),
        view(Playing),
        &[],
        "error: gain must be a number of dB",
    );
}

#[test]
fn an_unknown_stem_is_an_error_naming_the_stems() {
    let mut c = ctl();
    let line = "error: no stem \"vox\" in this song (stems: drums, bass)";
    for a in [
        Action::ToggleMute("vox".into()),
        Action::Mute("vox".into()),
        Action::Unmute("vox".into()),
        Action::Solo("vox".into()),
        Action::Gain("vox".into(), 1.0),
    ] {
        check(&mut c, a, view(Playing), &[], line);
    }
}

#[test]
fn song_json_defaults_are_the_starting_mix() {
    let mut s = Arc::try_unwrap(song("01-a", &["click", "drums"], 1)).expect("unique");
    s.stems_mut()[0].muted = true;
    s.stems_mut()[1].gain = db_to_gain(-6.0);
    let (mut c, out) = Controller::new(setup(None), 0, Arc::new(s));
    assert!(out.engine.is_empty());
    let out = c.act(Action::Status, &view(Stopped));
    assert!(
        reply(&out).ends_with(" click=mute:1,solo:0,gain_db:0.0 drums=mute:0,solo:0,gain_db:-6.0"),
        "{out:?}"
    );
}

// --- saved state ---

fn saved_bass(gain_db: f32) -> SavedState {
    let mut saved = SavedState::default();
    saved.set_stem(
        "02-b",
        "bass",
        StemSetting {
            mute: true,
            solo: false,
            gain_db,
        },
    );
    saved
}

#[test]
fn stem_changes_are_remembered_only_with_a_state() {
    let mut c = ctl();
    assert!(
        !c.act(Action::Mute("drums".into()), &view(Stopped))
            .effects
            .state_changed
    );
    assert!(c.saved_state().is_none());
    let mut c = Controller::new(
        setup(Some(SavedState::default())),
        0,
        song("01-a", &["drums"], 1),
    )
    .0;
    let out = c.act(Action::Gain("drums".into(), -2.0), &view(Stopped));
    assert!(out.effects.state_changed);
    let saved = c.saved_state().expect("state");
    assert_eq!(
        saved.stem("01-a", "drums"),
        Some(StemSetting {
            mute: false,
            solo: false,
            gain_db: -2.0
        })
    );
}

#[test]
fn saved_settings_are_sent_at_start_and_after_a_song_change() {
    let (_, out) = Controller::new(
        setup(Some(saved_bass(-4.0))),
        1,
        song("02-b", &["drums", "bass"], 1),
    );
    let restore = [
        Command::StemMute {
            stem: 1,
            mute: true,
        },
        Command::StemSolo {
            stem: 1,
            solo: false,
        },
        Command::StemGain {
            stem: 1,
            gain: db_to_gain(-4.0),
        },
    ];
    assert_eq!(out.commands(), restore);

    let mut c = Controller::new(
        setup(Some(saved_bass(-4.0))),
        0,
        song("01-a", &["drums"], 1),
    )
    .0;
    c.song_loaded(1, song("02-b", &["drums", "bass"], 1), &view(Playing));
    let out = c.act(Action::NextSong, &view(Playing));
    assert!(
        matches!(out.engine[0], ToEngine::Switch { .. }),
        "switch first: {out:?}"
    );
    assert_eq!(out.commands(), restore);
    assert!(out.effects.state_changed);
    assert_eq!(
        c.saved_state().and_then(|s| s.last_song.as_deref()),
        Some("02-b")
    );
}

#[test]
fn a_saved_gain_outside_the_limits_is_clamped() {
    let (_, out) = Controller::new(setup(Some(saved_bass(90.0))), 1, song("02-b", &["bass"], 1));
    assert!(out.commands().contains(&Command::StemGain {
        stem: 0,
        gain: db_to_gain(MAX_GAIN_DB)
    }));
}

// --- sections ---

fn sectioned() -> Controller {
    let s = with_sections(
        "01-a",
        &[("verse", RATE as u64), ("chorus", 2 * RATE as u64)],
    );
    Controller::new(setup(None), 0, s).0
}

#[test]
fn next_section_seeks_to_the_next_start_and_stops_after_the_last() {
    let mut c = sectioned();
    let seek = |f: u64| [Command::Seek { frame: f }];
    check(
        &mut c,
        Action::NextSection,
        at(Playing, 10),
        &seek(48_000),
        "ok section verse at 1.000",
    );
    check(
        &mut c,
        Action::NextSection,
        at(Playing, 48_000),
        &seek(96_000),
        "ok section chorus at 2.000",
    );
    check(
        &mut c,
        Action::NextSection,
        at(Playing, 100_000),
        &[],
        "error: no section after this one",
    );
}

#[test]
fn prev_section_goes_to_this_start_or_within_the_grace_to_the_one_before() {
    let mut c = sectioned();
    let seek = |f: u64| [Command::Seek { frame: f }];
    // More than the 2 s grace into the chorus: back to its start.
    check(
        &mut c,
        Action::PrevSection,
        at(Playing, 96_000 + 96_000 + 10),
        &seek(96_000),
        "ok section chorus at 2.000",
    );
    // Just after the chorus started: the verse.
    check(
        &mut c,
        Action::PrevSection,
        at(Playing, 96_010),
        &seek(48_000),
        "ok section verse at 1.000",
    );
    // Just after the verse started: the song's start.
    check(
        &mut c,
        Action::PrevSection,
        at(Playing, 48_010),
        &seek(0),
        "ok section start at 0.000",
    );
}

#[test]
fn section_by_name_or_number() {
    let mut c = sectioned();
    let seek = |f: u64| [Command::Seek { frame: f }];
    check(
        &mut c,
        Action::Section(SectionRef::Name("Chorus".into())),
        view(Playing),
        &seek(96_000),
        "ok section chorus at 2.000",
    );
    check(
        &mut c,
        Action::Section(SectionRef::Number(1)),
        view(Playing),
        &seek(48_000),
        "ok section verse at 1.000",
    );
    check(
        &mut c,
        Action::Section(SectionRef::Number(5)),
        view(Playing),
        &[],
        "error: no section 5: this song has 2",
    );
    check(
        &mut c,
        Action::Section(SectionRef::Name("bridge".into())),
        view(Playing),
        &[],
        "error: no section \"bridge\" (this song has: verse, chorus)",
    );
}

#[test]
fn sections_of_a_song_without_them_are_an_error() {
    let mut c = ctl();
    for a in [
        Action::NextSection,
        Action::PrevSection,
        Action::Section(SectionRef::Number(1)),
    ] {
        check(
            &mut c,
            a,
            view(Playing),
            &[],
            "error: song 01-a has no sections",
        );
    }
}

// --- loop ---

#[test]
fn loop_a_and_b_take_the_heard_position() {
    let mut c = ctl();
    // The mixing head runs a device buffer ahead of what is heard.
    check(
        &mut c,
        Action::LoopA,
        at(Playing, RATE as u64 + BUFFER as u64),
        &[],
        "ok loop_a 1.000",
    );
    assert!(c.loop_armed());
    check(
        &mut c,
        Action::LoopB,
        at(Playing, 2 * RATE as u64 + BUFFER as u64),
        &[Command::Loop {
            region: Some((48_000, 96_000)),
        }],
        "ok loop 1.000 2.000",
    );
    assert!(!c.loop_armed());
}

#[test]
fn loop_b_needs_an_earlier_a() {
    let mut c = ctl();
    let line = "error: set loop A before B (B must come after A)";
    check(&mut c, Action::LoopB, at(Playing, 96_000), &[], line);
    c.act(Action::LoopA, &at(Playing, 96_000));
    check(&mut c, Action::LoopB, at(Playing, 96_000), &[], line);
    check(&mut c, Action::LoopB, at(Playing, 50_000), &[], line);
}

#[test]
fn a_loop_shorter_than_two_crossfades_is_refused() {
    let mut c = ctl();
    c.act(Action::LoopA, &at(Playing, 48_000 + BUFFER as u64));
    // FADE_MS = 8 ms: 384 frames a crossfade at 48 kHz, so a loop must be > 768 frames.
    let line = "error: loop too short (0.016 s); it must be longer than 0.016 s";
    check(
        &mut c,
        Action::LoopB,
        at(Playing, 48_768 + BUFFER as u64),
        &[],
        line,
    );
    let ok = [Command::Loop {
        region: Some((48_000, 48_769)),
    }];
    check(
        &mut c,
        Action::LoopB,
        at(Playing, 48_769 + BUFFER as u64),
        &ok,
        "ok loop 1.000 1.016",
    );
    check(
        &mut c,
        Action::Loop(1.0, 1.01),
        view(Playing),
        &[],
        "error: loop too short (0.010 s); it must be longer than 0.016 s",
    );
}

#[test]
fn loop_between_seconds() {
    let mut c = Controller::new(setup(None), 0, song("01-a", &["drums"], 32)).0;
    let ok = [Command::Loop {
        region: Some((24_000, 120_000)),
    }];
    check(
        &mut c,
        Action::Loop(0.5, 2.5),
        view(Stopped),
        &ok,
        "ok loop 0.500 2.500",
    );
    let bad = "error: loop needs 0 <= A < B (seconds)";
    check(&mut c, Action::Loop(2.0, 1.0), view(Stopped), &[], bad);
    check(&mut c, Action::Loop(-1.0, 1.0), view(Stopped), &[], bad);
    check(&mut c, Action::Loop(1.0, 1.0), view(Stopped), &[], bad);
    check(&mut c, Action::Loop(f64::NAN, 1.0), view(Stopped), &[], bad);
    // Points outside the 32 s song are refused in words; the end of the song is inside.
    let outside = |a: &str, b: &str| {
        format!("error: loop {a} {b} ends after the song (32.000 s long); both points must be inside it")
    };
    check(
        &mut c,
        Action::Loop(500.0, 600.0),
        view(Stopped),
        &[],
        &outside("500.000", "600.000"),
    );
    check(
        &mut c,
        Action::Loop(31.0, 32.001),
        view(Stopped),
        &[],
        &outside("31.000", "32.001"),
    );
    check(
        &mut c,
        Action::Loop(0.0, f64::INFINITY),
        view(Stopped),
        &[],
        &outside("0.000", "inf"),
    );
    check(&mut c, Action::Loop(1.0, f64::NAN), view(Stopped), &[], bad);
    check(
        &mut c,
        Action::Loop(f64::INFINITY, f64::INFINITY),
        view(Stopped),
        &[],
        bad,
    );
    let end = [Command::Loop {
        region: Some((31 * 48_000, 32 * 48_000)),
    }];
    check(
        &mut c,
        Action::Loop(31.0, 32.0),
        view(Stopped),
        &end,
        "ok loop 31.000 32.000",
    );
}

#[test]
fn loop_toggle_ends_a_running_loop_and_restarts_the_last_one() {
    let mut c = ctl();
    check(
        &mut c,
        Action::LoopToggle,
        view(Playing),
        &[],
        "error: no loop set (set A and B first)",
    );
    c.act(Action::Loop(1.0, 2.0), &view(Playing));
    let looping = EngineView {
        looping: true,
        ..view(Playing)
    };
    check(
        &mut c,
        Action::LoopToggle,
        looping,
        &[Command::Loop { region: None }],
        "ok loop off",
    );
    let again = [Command::Loop {
        region: Some((48_000, 96_000)),
    }];
    check(
        &mut c,
        Action::LoopToggle,
        view(Playing),
        &again,
        "ok loop 1.000 2.000",
    );
}

#[test]
fn loop_off_ends_the_loop_and_keeps_it_for_a_toggle() {
    let mut c = ctl();
    c.act(Action::Loop(1.0, 2.0), &view(Playing));
    check(
        &mut c,
        Action::LoopOff,
        view(Playing),
        &[Command::Loop { region: None }],
        "ok loop off",
    );
    let again = [Command::Loop {
        region: Some((48_000, 96_000)),
    }];
    check(
        &mut c,
        Action::LoopToggle,
        view(Playing),
        &again,
        "ok loop 1.000 2.000",
    );
}

#[test]
fn a_song_change_forgets_the_loop() {
    let mut c = ctl();
    c.act(Action::Loop(1.0, 2.0), &view(Playing));
    c.act(Action::LoopA, &at(Playing, 200_000));
    c.song_loaded(1, song("02-b", &["keys"], 1), &view(Playing));
    c.act(Action::NextSong, &view(Playing));
    assert!(!c.loop_armed());
    check(
        &mut c,
        Action::LoopToggle,
        view(Playing),
        &[],
        "error: no loop set (set A and B first)",
    );
    check(
        &mut c,
        Action::LoopB,
        at(Playing, 300_000),
        &[],
        "error: set loop A before B (B must come after A)",
    );
}

// --- master volume ---

#[test]
fn volume_steps_by_two_db() {
    let mut c = ctl();
    let master = |db: f32| {
        [Command::MasterGain {
            gain: db_to_gain(db),
        }]
    };
    check(
        &mut c,
        Action::VolumeUp,
        view(Playing),
        &master(2.0),
        "ok volume +2.0 dB",
    );
    check(
        &mut c,
        Action::VolumeDown,
        view(Playing),
        &master(0.0),
        "ok volume +0.0 dB",
    );
    check(
        &mut c,
        Action::VolumeDown,
        view(Playing),
        &master(-2.0),
        "ok volume -2.0 dB",
    );
}

#[test]
fn volume_up_from_a_loud_configured_volume_goes_up_to_the_limit_never_down() {
    let loud = Setup {
        master_db: 20.0,
        ..setup(None)
    };
    let mut c = Controller::new(loud, 0, song("01-a", &["drums"], 1)).0;
    let master = |db: f32| {
        [Command::MasterGain {
            gain: db_to_gain(db),
        }]
    };
    check(
        &mut c,
        Action::VolumeUp,
        view(Playing),
        &master(22.0),
        "ok volume +22.0 dB",
    );
    check(
        &mut c,
        Action::VolumeUp,
        view(Playing),
        &master(24.0),
        "ok volume +24.0 dB",
    );
    check(
        &mut c,
        Action::VolumeUp,
        view(Playing),
        &master(24.0),
        "ok volume +24.0 dB (limit)",
    );
    assert_eq!(c.master_db(), MAX_VOLUME_DB);
}

#[test]
fn volume_down_stops_at_the_quiet_limit() {
    let quiet = Setup {
        master_db: -59.0,
        ..setup(None)
    };
    let mut c = Controller::new(quiet, 0, song("01-a", &["drums"], 1)).0;
    let master = [Command::MasterGain {
        gain: db_to_gain(MIN_VOLUME_DB),
    }];
    check(
        &mut c,
        Action::VolumeDown,
        view(Playing),
        &master,
        "ok volume -60.0 dB (limit)",
    );
    check(
        &mut c,
        Action::VolumeUp,
        view(Playing),
        &[Command::MasterGain {
            gain: db_to_gain(-58.0),
        }],
        "ok volume -58.0 dB",
    );
}

#[test]
fn the_limits_are_the_same_for_config_console_key_map_and_controller() {
    use crate::hw::input::keymap::parse_gain_db;
    use crate::storage::config::Config;
    let master = |db: f32| {
        Config::from_json(format!(r#"{{"audio": {{"master_gain_db": {db}}}}}"#).as_bytes())
    };
    assert!(master(MAX_VOLUME_DB).is_ok());
    assert!(master(MIN_VOLUME_DB).is_ok());
    assert!(master(MAX_VOLUME_DB + 1.0).is_err());
    let below = master(MIN_VOLUME_DB - 1.0).expect_err("below the limit");
    assert!(
        below.to_string().contains("audio.master_gain_db"),
        "{below}"
    );
    assert_eq!(parse_gain_db("24"), Ok(MAX_GAIN_DB));
    assert_eq!(parse_gain_db("-120"), Ok(MIN_GAIN_DB));
    assert!(parse_gain_db("24.5").is_err());
    assert!(parse_gain_db("-120.5").is_err());
    assert!(matches!(
        crate::hw::console::parse_line("gain drums 24.5"),
        Err(e) if e.0.contains("outside")
    ));
    assert!(crate::hw::input::keymap::parse_action("gain:drums:-121").is_err());
}

// --- information and the rest ---

#[test]
fn status_shows_song_transport_position_loop_volume_and_mix() {
    let mut c = ctl();
    c.act(Action::Mute("bass".into()), &view(Playing));
    c.act(Action::VolumeDown, &view(Playing));
    c.act(Action::Loop(0.25, 0.75), &view(Playing));
    let v = EngineView {
        looping: true,
        ..at(Playing, 24_000)
    };
    check(
        &mut c,
        Action::Status,
        v,
        &[],
        "status song=01-a title=\"01-a\" transport=playing pos_s=0.5 loop=0.250-0.750 volume_db=-2.0 \
         speed_pct=100.0 pitch_st=+0.00 drums=mute:0,solo:0,gain_db:0.0 bass=mute:1,solo:0,gain_db:0.0",
    );
    let out = c.act(Action::Status, &view(Paused));
    assert!(
        reply(&out).contains(" transport=paused pos_s=0.0 loop=off "),
        "{out:?}"
    );
}

#[test]
fn stats_is_printed_by_the_runtime() {
    let mut c = ctl();
    let out = c.act(Action::Stats, &view(Playing));
    assert_eq!(out.reply, None);
    assert!(out.engine.is_empty());
    assert_eq!(
        out.effects,
        Effects {
            print_stats: true,
            ..Effects::default()
        }
    );
}

#[test]
fn stats_reset_starts_a_new_window() {
    let mut c = ctl();
    let out = c.act(Action::StatsReset, &view(Playing));
    assert_eq!(reply(&out), "ok stats reset");
    assert!(out.engine.is_empty());
    assert!(out.effects.reset_stats && !out.effects.print_stats);
}

#[test]
fn help_answers_with_the_console_help() {
    let mut c = ctl();
    check(
        &mut c,
        Action::Help,
        view(Playing),
        &[],
        crate::hw::console::HELP,
    );
}

#[test]
fn quit_asks_the_runtime_to_stop() {
    let mut c = ctl();
    let out = c.act(Action::Quit, &view(Playing));
    assert_eq!(reply(&out), "ok quit");
    assert!(out.engine.is_empty());
    assert!(out.effects.quit);
    assert!(!c.act(Action::Play, &view(Playing)).effects.quit);
}

#[test]
fn led_inputs_follow_transport_count_in_and_loop() {
    use crate::hw::leds::{LoopLed, TransportLed};
    let mut c = ctl();
    let leds = |c: &Controller, v: EngineView| {
        let i = c.led_inputs(&v, 3);
        assert_eq!(i.xruns, 3);
        (i.transport, i.looping)
    };
    assert_eq!(
        leds(&c, view(Stopped)),
        (TransportLed::Stopped, LoopLed::Off)
    );
    assert_eq!(leds(&c, view(Paused)).0, TransportLed::Paused);
    assert_eq!(leds(&c, view(Playing)).0, TransportLed::Playing);
    let counting = EngineView {
        counting_in: true,
        ..view(Stopped)
    };
    assert_eq!(leds(&c, counting).0, TransportLed::CountIn);
    c.act(Action::LoopA, &at(Playing, 100_000));
    assert_eq!(leds(&c, view(Playing)).1, LoopLed::ArmedA);
    c.act(Action::LoopB, &at(Playing, 200_000));
    let looping = EngineView {
        looping: true,
        ..view(Playing)
    };
    assert_eq!(leds(&c, looping).1, LoopLed::On);
    assert_eq!(leds(&c, view(Playing)).1, LoopLed::Off);
}

fn tempo_view(speed_pct: f32, pitch_st: f32) -> EngineView {
    EngineView {
        speed_pct,
        pitch_st,
        ..view(Playing)
    }
}

#[test]
fn speed_sets_clamps_in_words_and_refuses_nan() {
    let mut c = ctl();
    check(
        &mut c,
        Action::Speed(Some(80.0)),
        view(Playing),
        &[Command::Speed { factor: 0.8 }],
        "ok speed 80 %",
    );
    check(
        &mut c,
        Action::Speed(Some(400.0)),
        view(Playing),
        &[Command::Speed { factor: 1.5 }],
        "ok speed 150 % (limited to 50..150 %)",
    );
    check(
        &mut c,
        Action::Speed(Some(-3.0)),
        view(Playing),
        &[Command::Speed { factor: 0.5 }],
        "ok speed 50 % (limited to 50..150 %)",
    );
    check(
        &mut c,
        Action::Speed(Some(f32::NAN)),
        view(Playing),
        &[],
        "error: speed must be a number of percent (50..150)",
    );
    check(
        &mut c,
        Action::Speed(Some(f32::INFINITY)),
        view(Playing),
        &[Command::Speed { factor: 1.5 }],
        "ok speed 150 % (limited to 50..150 %)",
    );
}

#[test]
fn speed_steps_from_what_the_engine_plays_and_stop_at_the_limits() {
    let mut c = ctl();
    check(
        &mut c,
        Action::SpeedDown,
        tempo_view(100.0, 0.0),
        &[Command::Speed { factor: 0.95 }],
        "ok speed 95 %",
    );
    check(
        &mut c,
        Action::SpeedUp,
        tempo_view(85.0, 0.0),
        &[Command::Speed { factor: 0.9 }],
        "ok speed 90 %",
    );
    check(
        &mut c,
        Action::SpeedUp,
        tempo_view(150.0, 0.0),
        &[Command::Speed { factor: 1.5 }],
        "ok speed 150 % (limited to 50..150 %)",
    );
    check(
        &mut c,
        Action::SpeedDown,
        tempo_view(50.0, 0.0),
        &[Command::Speed { factor: 0.5 }],
        "ok speed 50 % (limited to 50..150 %)",
    );
}

#[test]
fn pitch_sets_steps_clamps_and_refuses_nan() {
    let mut c = ctl();
    check(
        &mut c,
        Action::Pitch(Some(-1.5)),
        view(Playing),
        &[Command::Pitch { st: -1.5 }],
        "ok pitch -1.5 st",
    );
    check(
        &mut c,
        Action::PitchUp,
        view(Playing),
        &[Command::Pitch { st: -0.5 }],
        "ok pitch -0.5 st",
    );
    check(
        &mut c,
        Action::PitchDown,
        view(Playing),
        &[Command::Pitch { st: -1.5 }],
        "ok pitch -1.5 st",
    );
    check(
        &mut c,
        Action::Pitch(Some(30.0)),
        view(Playing),
        &[Command::Pitch { st: 12.0 }],
        "ok pitch +12 st (limited to -12..12 st)",
    );
    check(
        &mut c,
        Action::PitchUp,
        view(Playing),
        &[Command::Pitch { st: 12.0 }],
        "ok pitch +12 st (limited to -12..12 st)",
    );
    check(
        &mut c,
        Action::Pitch(Some(f32::NAN)),
        view(Playing),
        &[],
        "error: pitch must be a number of semitones (-12..12)",
    );
}

#[test]
fn speed_and_pitch_alone_answer_what_the_engine_plays() {
    let mut c = ctl();
    check(
        &mut c,
        Action::Speed(None),
        tempo_view(80.0, 3.0),
        &[],
        "speed 80 % pitch +3 st",
    );
    let ramping = EngineView {
        ramp_pass: 3,
        ..tempo_view(75.0, 0.0)
    };
    check(
        &mut c,
        Action::Pitch(None),
        ramping,
        &[],
        "speed 75 % pitch 0 st (loop ramp pass 3)",
    );
    let out = c.act(Action::Status, &ramping);
    assert!(
        reply(&out).contains(" speed_pct=75.0 pitch_st=+0.00 ramp_pass=3 "),
        "{out:?}"
    );
}

#[test]
fn loop_ramp_needs_a_loop_and_clamps_in_words() {
    let mut c = ctl();
    check(
        &mut c,
        Action::LoopRamp(70.0, 5.0, 100.0, false),
        view(Playing),
        &[],
        "error: no loop playing (set loop a and b, or loop <a_s> <b_s>, first)",
    );
    let looping = EngineView {
        looping: true,
        ..view(Playing)
    };
    check(
        &mut c,
        Action::LoopRamp(70.0, 5.0, 100.0, false),
        looping,
        &[Command::LoopRamp {
            start: 0.7,
            step: 0.05,
            end: 1.0,
            count_in: CountInBar::NONE,
        }],
        "ok loop ramp 70 % +5 % per pass to 100 %",
    );
    check(
        &mut c,
        Action::LoopRamp(20.0, 10.0, 300.0, false),
        looping,
        &[Command::LoopRamp {
            start: 0.5,
            step: 0.1,
            end: 1.5,
            count_in: CountInBar::NONE,
        }],
        "ok loop ramp 50 % +10 % per pass to 150 % (limited to 50..150 %)",
    );
    // With a count-in: one bar at the song's tempo (120 bpm, 4 beats when unknown).
    check(
        &mut c,
        Action::LoopRamp(70.0, 5.0, 100.0, true),
        looping,
        &[Command::LoopRamp {
            start: 0.7,
            step: 0.05,
            end: 1.0,
            count_in: CountInBar::new(RATE / 2, 4),
        }],
        "ok loop ramp 70 % +5 % per pass to 100 %, a 4-beat count-in before each pass",
    );
    for (s, st, e) in [
        (f32::NAN, 5.0, 100.0),
        (70.0, 0.0, 100.0),
        (70.0, -5.0, 100.0),
        (70.0, 5.0, f32::INFINITY),
    ] {
        for count_in in [false, true] {
            let out = c.act(Action::LoopRamp(s, st, e, count_in), &looping);
            assert!(out.commands().is_empty(), "{s} {st} {e}");
            assert!(reply(&out).starts_with("error: loop ramp"), "{out:?}");
        }
    }
}

#[test]
fn speed_and_key_are_saved_per_song_and_restored_on_the_way_back() {
    let (mut c, _) = Controller::new(
        setup(Some(SavedState::default())),
        0,
        song("01-a", &["drums"], 1),
    );
    c.song_loaded(1, song("02-b", &["bass"], 1), &view(Playing));
    let out = c.act(Action::Speed(Some(80.0)), &view(Playing));
    assert!(out.effects.state_changed);
    c.act(Action::Pitch(Some(2.0)), &view(Playing));
    let t = c.saved_state().unwrap().tempo("01-a").unwrap();
    assert_eq!((t.speed_pct, t.pitch_st), (80.0, 2.0));
    // Song 2 has nothing saved: back to the original.
    let out = c.act(Action::NextSong, &view(Playing));
    assert!(out.commands().contains(&Command::Speed { factor: 1.0 }));
    assert!(out.commands().contains(&Command::Pitch { st: 0.0 }));
    // And back: song 1's values come back.
    let out = c.act(Action::PrevSong, &view(Playing));
    assert!(out.commands().contains(&Command::Speed { factor: 0.8 }));
    assert!(out.commands().contains(&Command::Pitch { st: 2.0 }));
    // The original speed and key remove the entry.
    c.act(Action::Speed(Some(100.0)), &view(Playing));
    c.act(Action::Pitch(Some(0.0)), &view(Playing));
    assert_eq!(c.saved_state().unwrap().tempo("01-a"), None);
}

#[test]
fn song_json_speed_and_key_apply_when_nothing_is_saved() {
    let mut s = Arc::try_unwrap(song("01-a", &["drums"], 1)).expect("unique");
    s.speed_pct = 85.0;
    s.pitch_st = -1.0;
    let (_, out) = Controller::new(setup(None), 0, Arc::new(s));
    assert_eq!(
        out.commands(),
        [Command::Speed { factor: 0.85 }, Command::Pitch { st: -1.0 }]
    );
}

// --- a full engine queue: no `ok` for a command that was not queued ---

/// What the runtime's pending buffer looks like with no room for another ordered command.
fn full_pending() -> crate::control::pending::Pending {
    let mut p = crate::control::pending::Pending::new();
    while p.push(ToEngine::Command(Command::Seek { frame: 0 })) {}
    p
}

#[test]
fn a_refused_command_is_answered_busy_and_leaves_the_controller_as_it_was() {
    let mut c = ctl();
    let full = EngineView {
        command_slots: 0,
        ..view(Playing)
    };
    let status_before = reply(&c.act(Action::Status, &full)).to_string();
    let out = c.act_admitted(Action::Mute("bass".into()), &full, |_| false);
    assert_eq!(reply(&out), "error: engine busy, try again");
    assert!(out.engine.is_empty());
    assert_eq!(out.effects, Effects::default());
    assert_eq!(reply(&c.act(Action::Status, &full)), status_before);
    // The mute was not remembered: asked again with room, it is sent (mute only sends a
    // change, so a remembered lost mute would never reach the engine).
    check(
        &mut c,
        Action::Mute("bass".into()),
        view(Playing),
        &[Command::StemMute {
            stem: 1,
            mute: true,
        }],
        "ok bass mute=1 solo=0 gain_db=0.0",
    );
}

#[test]
fn hostile_values_refused_for_room_change_nothing() {
    let mut c = ctl();
    let v = view(Playing);
    let before = reply(&c.act(Action::Status, &v)).to_string();
    for action in [
        Action::Gain("bass".into(), f32::NAN),
        Action::Gain("bass".into(), 1e30),
        Action::Gain("drums".into(), f32::NEG_INFINITY),
        Action::VolumeUp,
        Action::Speed(Some(f32::INFINITY)),
        Action::Pitch(Some(-1e9)),
        Action::Pause,
        Action::Stop,
    ] {
        let out = c.act_admitted(action.clone(), &v, |_| false);
        assert!(
            !reply(&out).starts_with("ok"),
            "{action:?} answered {:?}",
            out.reply
        );
    }
    assert_eq!(reply(&c.act(Action::Status, &v)), before);
}

#[test]
fn a_full_pending_buffer_still_takes_setters_but_refuses_transport() {
    let mut c = ctl();
    let mut p = full_pending();
    let full = EngineView {
        command_slots: 0,
        ..view(Playing)
    };
    let out = c.act_admitted(Action::Mute("drums".into()), &full, |e| p.admit(e));
    assert_eq!(reply(&out), "ok drums mute=1 solo=0 gain_db=0.0");
    let out = c.act_admitted(Action::Pause, &full, |e| p.admit(e));
    assert_eq!(reply(&out), "error: engine busy, try again");
    // The stem is muted in the controller as in the buffer: asking again sends nothing.
    let out = c.act_admitted(Action::Mute("drums".into()), &full, |e| p.admit(e));
    assert!(out.engine.is_empty());
}

#[test]
fn commands_that_were_admitted_come_out_unchanged() {
    let mut c = ctl();
    let mut seen = Vec::new();
    let out = c.act_admitted(Action::Pause, &view(Playing), |e| {
        seen.extend_from_slice(e);
        true
    });
    assert_eq!(reply(&out), "ok pause");
    assert_eq!(out.commands(), vec![Command::Pause]);
    assert_eq!(seen, vec![ToEngine::Command(Command::Pause)]);
}

// --- generated click ---

/// A 4 s song with a tempo map (120 bpm, 4/4) and `song.json`'s `click`.
fn tempo_song(name: &str, stems: &[&str], click: bool) -> Arc<Song> {
    use crate::model::tempo::TempoMap;
    use crate::model::tempo::TimeSignature;
    let mut s = Arc::try_unwrap(song(name, stems, 4)).expect("unique");
    s.set_tempo_map(Some(
        TempoMap::constant(120.0, TimeSignature::default(), RATE).unwrap(),
    ));
    s.click = click;
    Arc::new(s)
}

#[test]
fn click_toggles_on_and_off_for_a_song_with_a_tempo() {
    let (mut c, out) = Controller::new(setup(None), 0, tempo_song("01-a", &["drums"], false));
    assert_eq!(out.commands(), vec![]);
    let v = view(Playing);
    check(
        &mut c,
        Action::Click(None),
        v,
        &[Command::Click(true)],
        "ok click on",
    );
    assert!(reply(&c.act(Action::Status, &v)).contains(" click=on"));
    // Asking for what is already so sends nothing.
    check(&mut c, Action::Click(Some(true)), v, &[], "ok click on");
    check(
        &mut c,
        Action::Click(None),
        v,
        &[Command::Click(false)],
        "ok click off",
    );
    assert!(!reply(&c.act(Action::Status, &v)).contains("click="));
    check(&mut c, Action::Click(Some(false)), v, &[], "ok click off");
}

#[test]
fn song_json_click_turns_it_on_with_the_song_until_the_musician_decides() {
    let (mut c, out) = Controller::new(setup(None), 0, tempo_song("01-a", &["drums"], true));
    assert_eq!(out.commands(), vec![Command::Click(true)]);
    let v = view(Stopped);
    // Song 2 has no click in its song.json: off with it; song 3 turns it back on.
    c.song_loaded(1, tempo_song("02-b", &["drums"], false), &v);
    c.song_loaded(2, tempo_song("03-c", &["drums"], true), &v);
    let out = c.act(Action::NextSong, &v);
    assert_eq!(switched_to(&out), Some(("02-b", false)));
    assert_eq!(out.commands(), vec![Command::Click(false)]);
    let out = c.act(Action::NextSong, &v);
    assert_eq!(out.commands(), vec![Command::Click(true)]);
    // `click` toggles from what the song said; from then on it holds for every song.
    check(
        &mut c,
        Action::Click(None),
        v,
        &[Command::Click(false)],
        "ok click off",
    );
    let out = c.act(Action::PrevSong, &v);
    assert_eq!(out.commands(), vec![]);
    let out = c.act(Action::NextSong, &v);
    assert_eq!(
        out.commands(),
        vec![],
        "song.json's click no longer decides"
    );
}

#[test]
fn click_is_not_generated_without_a_tempo_or_over_a_click_stem() {
    let mut c = ctl();
    let v = view(Playing);
    check(
        &mut c,
        Action::Click(Some(true)),
        v,
        &[],
        "ok click on (not for this song: it has no tempo; give its song.json a bpm or tempo_map)",
    );
    // The next song has a tempo: the click comes on with it.
    c.song_loaded(1, tempo_song("02-b", &["drums"], false), &v);
    c.song_loaded(2, tempo_song("03-c", &["drums", "click"], false), &v);
    let out = c.act(Action::NextSong, &v);
    assert_eq!(out.commands(), vec![Command::Click(true)]);
    // A song with its own click stem: the generated one would double it.
    let out = c.act(Action::NextSong, &v);
    assert_eq!(out.commands(), vec![Command::Click(false)]);
    check(
        &mut c,
        Action::Click(Some(true)),
        v,
        &[],
        "ok click on (not for this song: it has a click stem (mute/unmute click))",
    );
}

#[test]
fn a_refused_click_leaves_the_controller_as_it_was() {
    let (mut c, _) = Controller::new(setup(None), 0, tempo_song("01-a", &["drums"], false));
    let v = view(Playing);
    let out = c.act_admitted(Action::Click(None), &v, |_| false);
    assert_eq!(reply(&out), "error: engine busy, try again");
    // Still off, so the next toggle turns it on and sends it.
    check(
        &mut c,
        Action::Click(None),
        v,
        &[Command::Click(true)],
        "ok click on",
    );
}

#[test]
fn count_in_counts_the_bar_of_the_tempo_map_where_play_starts() {
    use crate::model::tempo::TimeSignature;
    use crate::model::tempo::{TempoChange, TempoMap};
    let sig = |s| TimeSignature::parse(s).unwrap();
    let mut s = Arc::try_unwrap(song("01-a", &["drums"], 20)).expect("unique");
    // One bar of 6/8 at 120 (1.5 s), then 3/4 at 90.
    s.set_tempo_map(Some(
        TempoMap::new(
            &[
                TempoChange {
                    bar: 1,
                    bpm: 120.0,
                    time_signature: sig("6/8"),
                },
                TempoChange {
                    bar: 2,
                    bpm: 90.0,
                    time_signature: sig("3/4"),
                },
            ],
            RATE,
        )
        .unwrap(),
    ));
    let (mut c, _) = Controller::new(setup(None), 0, Arc::new(s));
    c.act(Action::CountInToggle, &view(Stopped));
    // Six eighths of 12,000 frames: the bar is 1.5 s, not six quarters.
    check(
        &mut c,
        Action::Play,
        view(Stopped),
        &[Command::CountIn {
            beat_frames: 12_000,
            beats: 6,
        }],
        "ok play (count-in 6 beats at 120 bpm)",
    );
    check(
        &mut c,
        Action::Play,
        at(Paused, 5 * RATE as u64),
        &[Command::CountIn {
            beat_frames: 32_000,
            beats: 3,
        }],
        "ok play (count-in 3 beats at 90 bpm)",
    );
}

// --- reload (SIGHUP) ---

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn relist_with_a_song_added_before_the_current_one_plays_on_without_a_command() {
    let mut c = ctl();
    let v = view(Playing);
    let out = c.act(Action::NextSong, &v);
    assert_eq!(reply(&out), "loading 02-b");
    let out = c.song_loaded(1, song("02-b", &["drums"], 8), &v);
    assert_eq!(switched_to(&out), Some(("02-b", true)));
    let out = c.relist(names(&["00-new", "01-a", "02-b", "03-c"]), usize::MAX);
    // Nothing for the engine: the song plays on, untouched.
    assert!(out.engine.is_empty(), "{:?}", out.engine);
    assert_eq!(
        reply(&out),
        "reloaded library: 4 songs (1 new, 0 gone); playing on 3 02-b"
    );
    assert_eq!(c.current(), 2);
    assert_eq!(c.current_song().unwrap().name, "02-b");
    // The decoded neighbour 01-a moved with its name; 03-c is asked for again at its
    // new place (the old loader's work is forgotten).
    assert!(out.effects.load.contains(&3), "{:?}", out.effects.load);
    assert!(!out.effects.load.contains(&1), "{:?}", out.effects.load);
    let out = c.act(Action::PrevSong, &v);
    assert_eq!(reply(&out), "ok song 2 01-a");
    let st = c.act(Action::Status, &v);
    assert!(reply(&st).contains("song=01-a"), "{}", reply(&st));
}

#[test]
fn relist_without_the_current_folder_keeps_it_in_place_until_it_is_left() {
    let mut c = ctl();
    let v = view(Playing);
    let out = c.relist(names(&["00-x", "02-b", "03-c"]), usize::MAX);
    assert!(out.engine.is_empty());
    assert_eq!(
        reply(&out),
        "reloaded library: 4 songs (1 new, 0 gone); playing on 2 01-a (its folder is gone: it \
         stays until the next song change and reload)"
    );
    assert_eq!(c.current(), 1);
    assert_eq!(c.current_song().unwrap().name, "01-a");
    // The next song is the one after it by name.
    let out = c.act(Action::NextSong, &v);
    assert_eq!(reply(&out), "loading 02-b");
    // A second reload, now on 02-b, drops the gone folder.
    c.song_loaded(2, song("02-b", &["drums"], 8), &v);
    let out = c.relist(names(&["00-x", "02-b", "03-c"]), usize::MAX);
    assert_eq!(
        reply(&out),
        "reloaded library: 3 songs (0 new, 1 gone); playing on 2 02-b"
    );
}

#[test]
fn relist_while_a_called_song_loads_asks_for_it_again_or_says_it_is_gone() {
    let mut c = ctl();
    let v = view(Playing);
    c.act(Action::Song(SongRef::Number(3)), &v);
    // Still there, at a new place: loaded again by the new loader, then switched to.
    let out = c.relist(names(&["01-a", "02-b", "02-z", "03-c"]), usize::MAX);
    assert!(out.effects.load.contains(&3), "{:?}", out.effects.load);
    let out = c.song_loaded(3, song("03-c", &["drums"], 8), &v);
    assert_eq!(switched_to(&out), Some(("03-c", true)));
    // Gone while it loads: said, and no switch ever comes.
    let mut c = ctl();
    c.act(Action::Song(SongRef::Number(3)), &v);
    let out = c.relist(names(&["01-a", "02-b"]), usize::MAX);
    assert!(
        reply(&out).ends_with("; the song being loaded, 03-c, is gone"),
        "{}",
        reply(&out)
    );
    assert!(!out.effects.load.contains(&2), "{:?}", out.effects.load);
}

#[test]
fn relist_to_an_empty_or_hostile_list_keeps_the_current_song_alone() {
    let mut c = ctl();
    let out = c.relist(Vec::new(), 0);
    assert!(out.engine.is_empty());
    assert_eq!(c.current(), 0);
    assert_eq!(c.current_song().unwrap().name, "01-a");
    // With a zero budget no neighbour is preloaded; next is refused in words, not a panic.
    assert!(out.effects.load.is_empty(), "{:?}", out.effects.load);
    let out = c.act(Action::NextSong, &view(Playing));
    assert!(out.reply.is_some());
    // Names with control characters and unsorted input do not confuse the lookup.
    let out = c.relist(names(&["zz", "\u{1b}[2J", "01-a", "01-a"]), usize::MAX);
    assert_eq!(c.current_song().unwrap().name, "01-a");
    assert!(out.reply.is_some());
}

// --- mix: stems or the NI master ---

/// An NI Stems song: drums, bass, then the master (muted, as the loader leaves it).
fn ni_song(name: &str) -> Arc<Song> {
    let mut s = Arc::try_unwrap(song(name, &["drums", "bass", "master"], 2)).expect("unique");
    s.stems_mut()[2].muted = true;
    s.master_stem = Some(2);
    Arc::new(s)
}

fn mutes(cmds: &[Command]) -> Vec<(u8, bool)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::StemMute { stem, mute } => Some((*stem, *mute)),
            _ => None,
        })
        .collect()
}

fn solos(cmds: &[Command]) -> Vec<(u8, bool)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::StemSolo { stem, solo } => Some((*stem, *solo)),
            _ => None,
        })
        .collect()
}

#[test]
fn mix_toggles_between_the_stems_and_the_master() {
    let (mut c, out) = Controller::new(setup(None), 0, ni_song("01-a"));
    // At start the master is held muted (whatever song.json did to it).
    assert_eq!(mutes(&out.commands()), [(0, false), (1, false), (2, true)]);
    let out = c.act(Action::Mix(None), &view(Playing));
    assert_eq!(reply(&out), "ok mix master");
    assert_eq!(mutes(&out.commands()), [(0, true), (1, true), (2, false)]);
    assert_eq!(solos(&out.commands()), [(0, false), (1, false), (2, false)]);
    assert!(reply(&c.act(Action::Status, &view(Playing))).contains(" mix=master "));
    let out = c.act(Action::Mix(None), &view(Playing));
    assert_eq!(reply(&out), "ok mix stems");
    assert_eq!(mutes(&out.commands()), [(0, false), (1, false), (2, true)]);
    // Asking for the mode in force changes nothing.
    check(
        &mut c,
        Action::Mix(Some(MixMode::Stems)),
        view(Playing),
        &[],
        "ok mix stems",
    );
    let out = c.act(Action::Mix(Some(MixMode::Master)), &view(Playing));
    assert_eq!(mutes(&out.commands()), [(0, true), (1, true), (2, false)]);
    check(
        &mut c,
        Action::Mix(Some(MixMode::Master)),
        view(Playing),
        &[],
        "ok mix master",
    );
}

#[test]
fn stem_settings_made_in_master_mode_are_heard_back_in_stems_mode() {
    let (mut c, _) = Controller::new(setup(None), 0, ni_song("01-a"));
    c.act(Action::Solo("bass".into()), &view(Playing));
    let out = c.act(Action::Mix(Some(MixMode::Master)), &view(Playing));
    // The solo would silence the master: every solo is off while it plays.
    assert_eq!(solos(&out.commands()), [(0, false), (1, false), (2, false)]);
    // Muting drums now is remembered, not sent (every stem is silent anyway).
    let out = c.act(Action::Mute("drums".into()), &view(Playing));
    assert_eq!(out.commands(), []);
    assert!(reply(&out).starts_with("ok drums mute=1"), "{out:?}");
    assert!(reply(&out).contains("heard after `mix stems`"));
    // A gain is sent: it is heard once the stems are back.
    let out = c.act(Action::Gain("bass".into(), -3.0), &view(Playing));
    assert_eq!(
        out.commands(),
        [Command::StemGain {
            stem: 1,
            gain: db_to_gain(-3.0)
        }]
    );
    let out = c.act(Action::Mix(Some(MixMode::Stems)), &view(Playing));
    assert_eq!(mutes(&out.commands()), [(0, true), (1, false), (2, true)]);
    assert_eq!(solos(&out.commands()), [(0, false), (1, true), (2, false)]);
}

#[test]
fn the_master_cannot_be_unmuted_or_soloed_into_the_stems_mix() {
    let (mut c, _) = Controller::new(setup(None), 0, ni_song("01-a"));
    for a in [
        Action::Unmute("master".into()),
        Action::ToggleMute("MASTER".into()),
        Action::Solo("master".into()),
    ] {
        let out = c.act(a.clone(), &view(Playing));
        assert_eq!(out.commands(), [], "{a:?}");
        assert!(reply(&out).contains("hear it with `mix master`"), "{a:?}");
    }
    // Muting it again is no change; its gain may be matched to the stems.
    let out = c.act(Action::Gain("master".into(), -1.5), &view(Playing));
    assert_eq!(
        out.commands(),
        [Command::StemGain {
            stem: 2,
            gain: db_to_gain(-1.5)
        }]
    );
    assert!(reply(&c.act(Action::Status, &view(Playing))).contains("master=mute:1,solo:0"));
}

#[test]
fn a_song_without_a_master_says_so_and_a_song_change_returns_to_the_stems() {
    let mut c = ctl();
    let out = c.act(Action::Mix(None), &view(Playing));
    assert_eq!(out.commands(), []);
    assert!(
        reply(&out).starts_with("error: song 01-a has no master track"),
        "{out:?}"
    );
    assert!(!reply(&c.act(Action::Status, &view(Playing))).contains("mix="));
    // A master index past the stems (a broken song) counts as none.
    let mut s = Arc::try_unwrap(song("01-a", &["drums"], 1)).expect("unique");
    s.master_stem = Some(5);
    let (mut c, out) = Controller::new(setup(None), 0, Arc::new(s));
    assert!(out.engine.is_empty());
    assert!(reply(&c.act(Action::Mix(None), &view(Playing))).starts_with("error: "));

    let (mut c, _) = Controller::new(setup(None), 0, ni_song("01-a"));
    c.act(Action::Mix(Some(MixMode::Master)), &view(Playing));
    c.song_loaded(1, ni_song("02-b"), &view(Playing));
    let out = c.act(Action::NextSong, &view(Playing));
    assert_eq!(mutes(&out.commands()), [(0, false), (1, false), (2, true)]);
    assert!(reply(&c.act(Action::Status, &view(Playing))).contains(" mix=stems "));
}

#[test]
fn a_saved_state_cannot_unmute_the_master() {
    let mut saved = SavedState::default();
    saved.set_stem(
        "01-a",
        "master",
        StemSetting {
            mute: false,
            solo: true,
            gain_db: -2.0,
        },
    );
    let (_, out) = Controller::new(setup(Some(saved)), 0, ni_song("01-a"));
    let cmds = out.commands();
    assert!(cmds.contains(&Command::StemGain {
        stem: 2,
        gain: db_to_gain(-2.0)
    }));
    assert_eq!(mutes(&cmds), [(0, false), (1, false), (2, true)]);
    assert_eq!(solos(&cmds), [(0, false), (1, false), (2, false)]);
}

// --- buses ---

#[test]
fn bus_gain_is_sent_ramped_by_index_clamped_and_hostile_values_refused() {
    let mut c = ctl();
    let bus = |bus: u8, db: f32| {
        [Command::BusGain {
            bus,
            gain: db_to_gain(db),
        }]
    };
    check(
        &mut c,
        Action::BusGain("cue".into(), -6.0),
        view(Playing),
        &bus(1, -6.0),
        "ok bus cue -6.0 dB",
    );
    check(
        &mut c,
        Action::BusGain("MAIN".into(), 3.0),
        view(Stopped),
        &bus(0, 3.0),
        "ok bus main +3.0 dB",
    );
    check(
        &mut c,
        Action::BusGain("cue".into(), 1e9),
        view(Playing),
        &bus(1, MAX_GAIN_DB),
        "ok bus cue +24.0 dB (limit)",
    );
    check(
        &mut c,
        Action::BusGain("cue".into(), f32::NEG_INFINITY),
        view(Playing),
        &bus(1, MIN_GAIN_DB),
        "ok bus cue -120.0 dB (limit)",
    );
    check(
        &mut c,
        Action::BusGain("cue".into(), f32::NAN),
        view(Playing),
        &[],
        "error: bus gain must be a number of dB",
    );
    check(
        &mut c,
        Action::BusGain("monitor".into(), -3.0),
        view(Playing),
        &[],
        "error: no bus \"monitor\" (audio.buses: main, cue)",
    );
    check(
        &mut c,
        Action::BusGain(String::new(), -3.0),
        view(Playing),
        &[],
        "error: no bus \"\" (audio.buses: main, cue)",
    );
    assert_eq!(
        c.bus_gains_db(),
        &[("main".to_string(), 3.0), ("cue".to_string(), MIN_GAIN_DB)]
    );
    // Not remembered without a state (`play`).
    assert!(c.saved_state().is_none());
}

#[test]
fn bus_gains_are_saved_and_restored_at_start_up() {
    let mut c = Controller::new(
        setup(Some(SavedState::default())),
        0,
        song("01-a", &["drums"], 1),
    )
    .0;
    let out = c.act(Action::BusGain("cue".into(), -9.0), &view(Playing));
    assert!(out.effects.state_changed);
    let mut saved = c.saved_state().expect("state").clone();
    assert_eq!(saved.bus_gain_db("cue"), Some(-9.0));
    // A saved bus the config no longer has is ignored; the rest is sent at start-up.
    saved.set_bus_gain_db("monitor", -3.0);
    let (c, out) = Controller::new(setup(Some(saved)), 0, song("01-a", &["drums"], 1));
    assert!(out.commands().contains(&Command::BusGain {
        bus: 1,
        gain: db_to_gain(-9.0)
    }));
    assert_eq!(
        out.commands()
            .iter()
            .filter(|c| matches!(c, Command::BusGain { .. }))
            .count(),
        1
    );
    assert_eq!(c.bus_gains_db()[1], ("cue".to_string(), -9.0));
}
