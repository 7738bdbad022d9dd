//! Proof that the engine's per-period work never allocates or frees: every call of
//! `Engine::process` (with commands, song switches, loop wraps, fades and the hand-back of
//! old songs) runs inside `assert_no_alloc`, which aborts the test on any allocation.

// assert_no_alloc checks debug builds only (its AllocDisabler is absent in release).
#![cfg(debug_assertions)]

use assert_no_alloc::{assert_no_alloc, AllocDisabler};
use std::sync::Arc;
use stembox::model::song::{Song, Stem};
use stembox::rt::command::Command;
use stembox::rt::engine::Engine;

#[global_allocator]
static ALLOC: AllocDisabler = AllocDisabler;

fn song(name: &str, stems: usize, frames: usize) -> Arc<Song> {
    let stems = (0..stems)
        .map(|i| {
            let samples = (0..frames * 2)
                .map(|j| ((j * (i + 3)) % 200) as f32 / 1000.0 - 0.1)
                .collect();
            Stem::new(format!("s{i}"), samples)
        })
        .collect();
    Arc::new(Song::new(name, 48_000, stems))
}

#[test]
fn per_period_work_never_allocates_or_frees() {
    let (mut engine, mut handle) = Engine::new(48_000, 2, 1.0);
    let a = song("a", 16, 48_000);
    let b = song("b", 8, 30_000);
    let mut out = vec![0.0f32; 64 * 2];
    let mut periods = 0u32;
    let mut run = |engine: &mut Engine, n: usize| {
        for _ in 0..n {
            assert_no_alloc(|| engine.process(&mut out));
            periods += 1;
        }
    };

    assert!(handle.switch_song(a.clone(), 0, true));
    run(&mut engine, 50);
    for (i, cmd) in [
        Command::StemMute {
            stem: 3,
            mute: true,
        },
        Command::StemSolo {
            stem: 5,
            solo: true,
        },
        Command::StemGain { stem: 1, gain: 0.5 },
        Command::StemPan { stem: 2, pan: -0.7 },
        Command::MasterGain { gain: 0.8 },
        Command::Loop {
            region: Some((1_000, 9_000)),
        },
    ]
    .into_iter()
    .enumerate()
    {
        handle.send(cmd).unwrap();
        run(&mut engine, 20 + i);
    }
    run(&mut engine, 400); // several loop wraps with crossfades
    handle.send(Command::Pause).unwrap();
    run(&mut engine, 10);
    handle.send(Command::Play).unwrap();
    run(&mut engine, 10);
    handle.send(Command::Seek { frame: 20_000 }).unwrap();
    run(&mut engine, 10);
    // Song switch while playing: the old song goes back over the garbage queue.
    assert!(handle.switch_song(b.clone(), 0, true));
    run(&mut engine, 20);
    // Switch back and forth more often than the garbage queue holds, without collecting:
    // the engine must hold what it cannot hand back, never free it.
    for _ in 0..12 {
        let _ = handle.switch_song(a.clone(), 0, true);
        run(&mut engine, 3);
        let _ = handle.switch_song(b.clone(), 0, true);
        run(&mut engine, 3);
    }
    // Play to the end of song b.
    handle.send(Command::Loop { region: None }).unwrap();
    run(&mut engine, 1_000);
    assert!(
        handle
            .status
            .songs_ended
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
    // Collecting (and freeing) happens here, outside the audio thread's work.
    assert!(handle.collect_garbage() > 0);
    run(&mut engine, 5);
    assert!(
        handle.collect_garbage() > 0,
        "held songs are handed back later"
    );
    assert!(periods > 1_500);
}

#[test]
fn stretched_periods_speed_changes_and_a_ramp_wrap_never_allocate() {
    use std::sync::atomic::Ordering::Relaxed;
    use stembox::rt::stretch::StretchConfig;
    use stembox::stretch::StretchWorker;

    let (mut engine, mut handle) = Engine::new(48_000, 2, 1.0);
    // Made off the audio thread; the stretcher runs inside `process` here (as for an
    // offline render), so its Rust side is checked too.
    let (pipe, worker) = StretchWorker::new(StretchConfig::new(48_000, 2, 64));
    engine.attach_stretch(pipe, Some(Box::new(worker)));
    let a = song("a", 16, 96_000);
    let mut out = vec![0.0f32; 64 * 2];
    let mut run = |engine: &mut Engine, n: usize| {
        for _ in 0..n {
            assert_no_alloc(|| engine.process(&mut out));
        }
    };
    assert!(handle.switch_song(a, 0, true));
    run(&mut engine, 10);
    handle.send(Command::Speed { factor: 0.8 }).unwrap();
    handle.send(Command::Pitch { st: 3.0 }).unwrap();
    run(&mut engine, 300);
    assert!(handle.status.stretching.load(Relaxed), "stretcher audible");
    for cmd in [
        Command::Speed { factor: 1.3 },
        Command::Pitch { st: f32::NAN },
        Command::StemMute {
            stem: 2,
            mute: true,
        },
        Command::Speed { factor: 1.0 },
        Command::Speed { factor: 0.6 },
    ] {
        handle.send(cmd).unwrap();
        run(&mut engine, 60);
    }
    // A tempo ramp on an 8,000-frame loop: 50 %, 75 %, 100 %, then held.
    handle
        .send(Command::Loop {
            region: Some((1_000, 9_000)),
        })
        .unwrap();
    handle
        .send(Command::LoopRamp {
            start: 0.5,
            step: 0.25,
            end: 1.0,
            count_in: stembox::rt::command::CountInBar::NONE,
        })
        .unwrap();
    run(&mut engine, 1_200);
    assert!(handle.status.ramp_pass.load(Relaxed) >= 4);
    assert_eq!(handle.status.speed(), 1.0);
    // The same with a count-in before each pass: the tail fades out at B, clicks at the new
    // tempo, then A; wraps through the stretched and the bypassed path.
    handle
        .send(Command::LoopRamp {
            start: 0.5,
            step: 0.25,
            end: 1.0,
            count_in: stembox::rt::command::CountInBar::new(2_000, 2),
        })
        .unwrap();
    run(&mut engine, 1_200);
    assert!(handle.status.ramp_pass.load(Relaxed) >= 4);
    assert_eq!(handle.status.speed(), 1.0);
    // Back to plain: the pipe drains and is bypassed again.
    handle.send(Command::Loop { region: None }).unwrap();
    run(&mut engine, 400);
    assert!(!handle.status.stretching.load(Relaxed), "bypassed again");
}

#[test]
fn the_generated_click_never_allocates() {
    use stembox::model::tempo::TimeSignature;
    use stembox::model::tempo::{TempoChange, TempoMap};
    let sig = |s| TimeSignature::parse(s).unwrap();
    let (mut engine, mut handle) = Engine::new(48_000, 2, 1.0);
    let mut s = Arc::try_unwrap(song("click", 4, 96_000)).expect("unique");
    // 400 bpm with a 3/4 bar: many beats in two seconds.
    s.set_tempo_map(Some(
        TempoMap::new(
            &[
                TempoChange {
                    bar: 1,
                    bpm: 400.0,
                    time_signature: sig("4/4"),
                },
                TempoChange {
                    bar: 2,
                    bpm: 400.0,
                    time_signature: sig("3/4"),
                },
                TempoChange {
                    bar: 3,
                    bpm: 311.0,
                    time_signature: sig("7/8"),
                },
            ],
            48_000,
        )
        .unwrap(),
    ));
    let mut out = vec![0.0f32; 64 * 2];
    let mut run = |engine: &mut Engine, n: usize| {
        for _ in 0..n {
            assert_no_alloc(|| engine.process(&mut out));
        }
    };
    assert!(handle.switch_song(Arc::new(s), 0, true));
    handle.send(Command::Click(true)).unwrap();
    run(&mut engine, 400);
    handle
        .send(Command::Loop {
            region: Some((3_000, 20_000)),
        })
        .unwrap();
    run(&mut engine, 800); // loop wraps with clicks ringing over them
    handle.send(Command::Click(false)).unwrap();
    run(&mut engine, 5);
    handle.send(Command::Seek { frame: 40_000 }).unwrap();
    handle.send(Command::Click(true)).unwrap();
    run(&mut engine, 200);
}

/// Progressive loading: the engine plays a song whose stems (one mono, one stereo) a
/// loader thread is still filling, reaches undecoded audio (load underruns), seeks past
/// the watermark and waits there, and never allocates or frees doing it.
#[test]
fn playing_a_song_while_it_loads_never_allocates_or_frees() {
    use std::sync::atomic::Ordering::Relaxed;
    let frames = 96_000;
    let song = Arc::new(Song::new(
        "loading",
        48_000,
        vec![
            Stem::loading("mono", 1, frames),
            Stem::loading("stereo", 2, frames),
        ],
    ));
    let (mut engine, mut handle) = Engine::new(48_000, 2, 1.0);
    assert!(handle.switch_song(song.clone(), 0, true));
    let writer = {
        let song = song.clone();
        std::thread::spawn(move || {
            let mut m = song.stems()[0].audio().writer().unwrap();
            let mut s = song.stems()[1].audio().writer().unwrap();
            let chunk: Vec<f32> = (0..4_096 * 2).map(|i| (i % 97) as f32 / 500.0).collect();
            while m.remaining_frames() > 0 {
                m.append(&chunk[..4_096]);
                s.append(&chunk);
                std::thread::sleep(std::time::Duration::from_millis(3));
            }
        })
    };
    let mut out = vec![0.0f32; 64 * 2];
    let mut periods = 0;
    while song.is_loading() || periods < 2_000 {
        if periods == 300 {
            handle.send(Command::Seek { frame: 90_000 }).unwrap();
        }
        assert_no_alloc(|| engine.process(&mut out));
        periods += 1;
        if periods % 50 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    writer.join().unwrap();
    assert!(handle.status.load_underruns.load(Relaxed) > 0);
    assert!(
        handle.status.pos_frames.load(Relaxed) > 90_000
            || handle.status.songs_ended.load(Relaxed) > 0
    );
}
