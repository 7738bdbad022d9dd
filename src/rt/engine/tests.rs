use super::*;
use crate::model::song::Stem;
use crate::rt::command::CountInBar;

const RATE: u32 = 48_000;

fn stem(name: &str, samples: Vec<f32>) -> Stem {
    Stem::new(name, samples.into_boxed_slice())
}

/// A stereo stem whose left sample at frame i is `f(i)` and right is `-f(i) / 2`.
fn ramp_stem(name: &str, frames: usize, f: impl Fn(usize) -> f32) -> Stem {
    let mut v = Vec::with_capacity(frames * 2);
    for i in 0..frames {
        v.push(f(i));
        v.push(-f(i) / 2.0);
    }
    stem(name, v)
}

fn song(stems: Vec<Stem>) -> Arc<Song> {
    Arc::new(Song::new("t", RATE, stems))
}

fn three_stems(frames: usize) -> Arc<Song> {
    song(vec![
        ramp_stem("a", frames, |i| ((i % 97) as f32 / 97.0) * 0.3),
        ramp_stem("b", frames, |i| ((i * 7 % 31) as f32 / 31.0) * 0.2 - 0.1),
        ramp_stem("c", frames, |i| if i % 2 == 0 { 0.25 } else { -0.25 }),
    ])
}

fn expected_sum(s: &Song, frame: usize, ch: usize) -> f32 {
    s.stems()
        .iter()
        .map(|st| st.samples()[frame * 2 + ch])
        .sum()
}

fn engine_with(s: &Arc<Song>, play: bool) -> (Engine, EngineHandle) {
    let (mut e, mut h) = Engine::new(RATE, 2, 1.0);
    assert!(h.switch_song(s.clone(), 0, play));
    let mut buf = [0.0f32; 0];
    e.process(&mut buf);
    (e, h)
}

fn render(e: &mut Engine, frames: usize, period: usize) -> Vec<f32> {
    let mut out = Vec::new();
    let mut buf = vec![0.0f32; period * 2];
    let mut left = frames;
    while left > 0 {
        let n = left.min(period);
        e.process(&mut buf[..n * 2]);
        out.extend_from_slice(&buf[..n * 2]);
        left -= n;
    }
    out
}

#[test]
fn stems_sum_at_unity_bit_exact_from_the_first_frame() {
    let s = three_stems(5000);
    let (mut e, _h) = engine_with(&s, true);
    let out = render(&mut e, 5000, 256);
    for f in 0..5000 {
        for c in 0..2 {
            assert_eq!(out[f * 2 + c], expected_sum(&s, f, c), "frame {f} ch {c}");
        }
    }
}

#[test]
fn song_end_is_exact_and_reported() {
    let s = three_stems(1000);
    let (mut e, h) = engine_with(&s, true);
    let out = render(&mut e, 1024, 256);
    assert_eq!(out[999 * 2], expected_sum(&s, 999, 0));
    assert!(out[1000 * 2..].iter().all(|&x| x == 0.0));
    assert_eq!(h.status.songs_ended.load(Relaxed), 1);
    assert_eq!(h.status.transport(), Transport::Stopped);
}

#[test]
fn output_clamps_at_full_scale() {
    let s = song(vec![
        ramp_stem("a", 64, |_| 0.8),
        ramp_stem("b", 64, |_| 0.8),
    ]);
    let (mut e, _h) = engine_with(&s, true);
    let out = render(&mut e, 64, 64);
    assert_eq!(out[0], 1.0);
    assert_eq!(out[1], -0.8);
}

#[test]
fn mute_ramps_down_without_steps_larger_than_the_ramp_allows() {
    let frames = 48_000;
    let s = song(vec![ramp_stem("dc", frames, |_| 0.5)]);
    let (mut e, mut h) = engine_with(&s, true);
    render(&mut e, 1000, 100);
    h.send(Command::StemMute {
        stem: 0,
        mute: true,
    })
    .unwrap();
    let out = render(&mut e, 2000, 100);
    let ramp = ms_to_frames(GAIN_RAMP_MS, RATE) as usize;
    let max_step = 0.5 / ramp as f32 + 1e-6;
    let mut prev = 0.5;
    for f in 0..2000 {
        let v = out[f * 2];
        assert!((prev - v).abs() <= max_step, "frame {f}: {prev} -> {v}");
        prev = v;
    }
    assert!(out[(ramp - 2) * 2] > 0.0, "ramp ended too early");
    assert_eq!(
        out[(ramp - 1) * 2],
        0.0,
        "ramp lands on silence after ramp frames"
    );
    assert!(out[ramp * 2..].iter().step_by(2).all(|&x| x == 0.0));
    // Unmute ramps back up to exactly the source.
    h.send(Command::StemMute {
        stem: 0,
        mute: false,
    })
    .unwrap();
    let out = render(&mut e, 2000, 100);
    assert!(out[0] > 0.0 && out[0] <= max_step);
    assert_eq!(out[ramp * 2], 0.5);
}

#[test]
fn solo_silences_the_others_and_unsolo_restores_them() {
    let frames = 20_000;
    let s = song(vec![
        ramp_stem("a", frames, |_| 0.1),
        ramp_stem("b", frames, |_| 0.2),
        ramp_stem("c", frames, |_| 0.4),
    ]);
    let (mut e, mut h) = engine_with(&s, true);
    render(&mut e, 100, 100);
    h.send(Command::StemSolo {
        stem: 1,
        solo: true,
    })
    .unwrap();
    let out = render(&mut e, 1000, 100);
    assert_eq!(out[999 * 2], 0.2);
    h.send(Command::StemSolo {
        stem: 2,
        solo: true,
    })
    .unwrap();
    let out = render(&mut e, 1000, 100);
    assert!((out[999 * 2] - 0.6).abs() < 1e-6);
    // A muted stem stays muted even when soloed.
    h.send(Command::StemMute {
        stem: 2,
        mute: true,
    })
    .unwrap();
    let out = render(&mut e, 1000, 100);
    assert_eq!(out[999 * 2], 0.2);
    h.send(Command::StemSolo {
        stem: 1,
        solo: false,
    })
    .unwrap();
    h.send(Command::StemSolo {
        stem: 2,
        solo: false,
    })
    .unwrap();
    let out = render(&mut e, 1000, 100);
    assert!((out[999 * 2] - 0.3).abs() < 1e-6);
}

#[test]
fn settings_sent_before_the_song_is_heard_apply_without_ramp() {
    let s = three_stems(2000);
    let (mut e, mut h) = Engine::new(RATE, 2, 1.0);
    assert!(h.switch_song(s.clone(), 0, true));
    h.send(Command::StemMute {
        stem: 0,
        mute: true,
    })
    .unwrap();
    let out = render(&mut e, 100, 100);
    let want = s.stems()[1].samples()[0] + s.stems()[2].samples()[0];
    assert_eq!(out[0], want);
}

#[test]
fn song_switch_fades_out_and_hands_the_old_song_back() {
    let a = song(vec![ramp_stem("x", 48_000, |_| 0.5)]);
    let b = song(vec![ramp_stem("y", 48_000, |_| -0.25)]);
    let (mut e, mut h) = engine_with(&a, true);
    render(&mut e, 256, 256);
    assert!(h.switch_song(b.clone(), 0, true));
    let out = render(&mut e, 2048, 256);
    let fade = ms_to_frames(FADE_MS, RATE) as usize;
    // Fade-out: monotone, no step larger than the fade allows.
    for f in 1..fade {
        let step = out[(f - 1) * 2] - out[f * 2];
        assert!(
            (0.0..=0.5 / fade as f32 + 1e-6).contains(&step),
            "frame {f}"
        );
    }
    // Then the new song from its first frame, bit-exact.
    assert_eq!(out[fade * 2], -0.25);
    assert_eq!(h.collect_garbage(), 1);
    assert_eq!(
        Arc::strong_count(&a),
        1,
        "old song handed back and dropped here"
    );
    assert_eq!(h.status.song_serial.load(Relaxed), 2);
}

#[test]
fn pause_fades_and_resume_fades_in_at_the_same_place() {
    let s = song(vec![ramp_stem("x", 48_000, |i| i as f32 / 48_000.0)]);
    let (mut e, mut h) = engine_with(&s, true);
    render(&mut e, 1000, 100);
    h.send(Command::Pause).unwrap();
    let out = render(&mut e, 1000, 100);
    let fade = ms_to_frames(FADE_MS, RATE) as usize;
    assert!(out[fade * 2..].iter().all(|&x| x == 0.0));
    assert_eq!(h.status.transport(), Transport::Paused);
    let paused_at = h.status.pos_frames.load(Relaxed);
    assert_eq!(paused_at, 1000 + fade as u64);
    h.send(Command::Play).unwrap();
    let out = render(&mut e, 1000, 100);
    assert!(out[0] < s.stems()[0].samples()[paused_at as usize * 2]);
    assert_eq!(
        out[fade * 2],
        s.stems()[0].samples()[(paused_at as usize + fade) * 2]
    );
}

#[test]
fn stop_returns_to_start() {
    let s = three_stems(10_000);
    let (mut e, mut h) = engine_with(&s, true);
    render(&mut e, 1000, 100);
    h.send(Command::Stop).unwrap();
    render(&mut e, 1000, 100);
    assert_eq!(h.status.transport(), Transport::Stopped);
    assert_eq!(h.status.pos_frames.load(Relaxed), 0);
    h.send(Command::Play).unwrap();
    let out = render(&mut e, 10, 10);
    assert_eq!(out[0], expected_sum(&s, 0, 0));
}

#[test]
fn loop_region_repeats_sample_exactly_outside_the_crossfade() {
    let frames = 48_000;
    // 3000 frames is 6.25 periods: without a crossfade the wrap would jump by 0.5.
    let s = song(vec![ramp_stem("x", frames, |i| {
        (i as f32 * core::f32::consts::TAU / 480.0).sin() * 0.5
    })]);
    let (mut e, mut h) = engine_with(&s, false);
    h.send(Command::Loop {
        region: Some((0, 3000)),
    })
    .unwrap();
    h.send(Command::Play).unwrap();
    let out = render(&mut e, 9000, 64);
    let fade = ms_to_frames(FADE_MS, RATE) as usize;
    for lap in 0..3 {
        for f in 0..3000 {
            if lap > 0 && f < fade {
                continue;
            }
            assert_eq!(
                out[(lap * 3000 + f) * 2],
                s.stems()[0].samples()[f * 2],
                "lap {lap} f {f}"
            );
        }
    }
    // The crossfade is smooth: no step larger than the source's own plus the fade's.
    for f in 3000..3000 + fade {
        let step = (out[f * 2] - out[(f - 1) * 2]).abs();
        assert!(step < 0.01, "frame {f}: step {step}");
    }
}

#[test]
fn count_in_clicks_one_bar_then_plays_from_the_start_bit_exact() {
    let s = three_stems(20_000);
    let (mut e, mut h) = engine_with(&s, false);
    // 4 beats of 6000 frames (480 bpm).
    h.send(Command::CountIn {
        beat_frames: 6000,
        beats: 4,
    })
    .unwrap();
    let out = render(&mut e, 24_000 + 500, 64);
    let click = ms_to_frames(CLICK_MS, RATE) as usize;
    for beat in 0..4 {
        let start = beat * 6000;
        let peak = out[start * 2..(start + click) * 2]
            .iter()
            .fold(0.0f32, |m, v| m.max(v.abs()));
        let want = if beat == 0 { 0.5 } else { 0.3 };
        assert!(
            peak > want * 0.8 && peak <= want,
            "beat {beat}: peak {peak}"
        );
        assert!(out[(start + click) * 2..(start + 6000) * 2]
            .iter()
            .all(|&v| v.abs() < 1e-4));
    }
    for f in 0..500 {
        assert_eq!(out[(24_000 + f) * 2], expected_sum(&s, f, 0), "frame {f}");
    }
}

/// A `play` during a count-in (a second press, or the soak's checks) changes nothing: the
/// song still starts on the count-in's last beat, bit-exact, and the transport does not
/// say `playing` while the clicks hold the position (the soak caught that).
#[test]
fn play_during_count_in_leaves_it_to_start_the_song() {
    let s = three_stems(20_000);
    let run = |extra_play: bool| {
        let (mut e, mut h) = engine_with(&s, false);
        h.send(Command::CountIn {
            beat_frames: 1000,
            beats: 4,
        })
        .unwrap();
        let mut out = render(&mut e, 1500, 64);
        if extra_play {
            h.send(Command::Play).unwrap();
        }
        out.extend(render(&mut e, 1000, 64));
        assert_ne!(
            h.status.transport(),
            Transport::Playing,
            "still counting in"
        );
        out.extend(render(&mut e, 3000, 64));
        assert_eq!(h.status.transport(), Transport::Playing);
        out
    };
    let (plain, pressed) = (run(false), run(true));
    assert_eq!(plain, pressed);
    for f in 0..500 {
        assert_eq!(plain[(4000 + f) * 2], expected_sum(&s, f, 0), "frame {f}");
    }
}

#[test]
fn stop_during_count_in_cancels_it() {
    let s = three_stems(20_000);
    let (mut e, mut h) = engine_with(&s, false);
    h.send(Command::CountIn {
        beat_frames: 1000,
        beats: 4,
    })
    .unwrap();
    render(&mut e, 1500, 64);
    h.send(Command::Stop).unwrap();
    let out = render(&mut e, 5000, 64);
    assert!(out.iter().all(|&v| v == 0.0));
    assert_eq!(h.status.transport(), Transport::Stopped);
}

#[test]
fn settings_sent_after_a_switch_apply_to_the_new_song_without_ramp() {
    let a = song(vec![ramp_stem("x", 48_000, |_| 0.5)]);
    let b = song(vec![
        ramp_stem("y", 48_000, |_| -0.25),
        ramp_stem("z", 48_000, |_| 0.125),
    ]);
    let (mut e, mut h) = engine_with(&a, true);
    render(&mut e, 256, 256);
    assert!(h.switch_song(b.clone(), 0, true));
    // Sent while the old song fades out: meant for the new one.
    h.send(Command::StemMute {
        stem: 1,
        mute: true,
    })
    .unwrap();
    let out = render(&mut e, 2048, 256);
    let fade = ms_to_frames(FADE_MS, RATE) as usize;
    assert_eq!(
        out[fade * 2],
        -0.25,
        "stem z muted from the new song's first frame"
    );
    assert!(
        out[..fade * 2].iter().step_by(2).all(|&v| v >= 0.0),
        "old song unaffected"
    );
}

// Regressions from review: each of these failed before its fix.

#[test]
fn a_switch_asked_for_in_the_last_fade_of_a_song_still_happens() {
    let a = song(vec![ramp_stem("a", 2000, |_| 0.5)]);
    let b = song(vec![ramp_stem("b", 48_000, |_| -0.25)]);
    let c = song(vec![ramp_stem("c", 48_000, |_| 0.125)]);
    let (mut e, mut h) = engine_with(&a, true);
    render(&mut e, 1900, 100); // 100 frames left, less than the fade
    assert!(h.switch_song(b.clone(), 0, true));
    let out = render(&mut e, 1000, 100);
    assert_eq!(h.status.song_serial.load(Relaxed), 2, "switch to b lost");
    assert_eq!(out[out.len() - 2], -0.25, "b plays");
    assert!(h.switch_song(c.clone(), 0, true));
    let out = render(&mut e, 2000, 100);
    assert_eq!(out[out.len() - 2], 0.125, "then c, not a stale song");
}

#[test]
fn pause_then_song_change_cues_the_new_song_without_playing_it() {
    let a = song(vec![ramp_stem("a", 48_000, |_| 0.5)]);
    let b = song(vec![ramp_stem("b", 48_000, |_| -0.25)]);
    let (mut e, mut h) = engine_with(&a, true);
    render(&mut e, 1000, 100);
    h.send(Command::Pause).unwrap();
    assert!(h.switch_song(b.clone(), 0, true));
    let out = render(&mut e, 2000, 100);
    assert_ne!(h.status.transport(), Transport::Playing);
    assert_eq!(h.status.song_serial.load(Relaxed), 2);
    assert!(out[out.len() / 2..].iter().all(|&v| v == 0.0));
}

#[test]
fn stop_during_a_song_change_does_not_let_the_new_song_sound() {
    let a = song(vec![ramp_stem("a", 48_000, |_| 0.5)]);
    let b = song(vec![ramp_stem("b", 48_000, |_| -0.25)]);
    let (mut e, mut h) = engine_with(&a, true);
    render(&mut e, 1000, 100);
    assert!(h.switch_song(b.clone(), 0, true));
    h.send(Command::Stop).unwrap();
    let out = render(&mut e, 2000, 100);
    assert!(out.iter().step_by(2).all(|&v| v >= 0.0), "song b was heard");
    assert_eq!(h.status.transport(), Transport::Stopped);
}

#[test]
fn seek_during_a_pause_fade_keeps_the_pause() {
    let a = song(vec![ramp_stem("a", 48_000, |_| 0.5)]);
    let (mut e, mut h) = engine_with(&a, true);
    render(&mut e, 1000, 100);
    h.send(Command::Pause).unwrap();
    render(&mut e, 100, 100);
    h.send(Command::Seek { frame: 10_000 }).unwrap();
    render(&mut e, 2000, 100);
    assert_eq!(h.status.transport(), Transport::Paused);
    assert_eq!(h.status.pos_frames.load(Relaxed), 10_000);
}

#[test]
fn ending_the_loop_mid_crossfade_finishes_the_crossfade() {
    let s = song(vec![ramp_stem("x", 48_000, |i| {
        if (i / 1000) % 2 == 0 {
            0.8
        } else {
            -0.8
        }
    })]);
    let (mut e, mut h) = engine_with(&s, false);
    h.send(Command::Loop {
        region: Some((0, 3500)),
    })
    .unwrap();
    h.send(Command::Play).unwrap();
    let mut out = render(&mut e, 3500 + 128, 64);
    h.send(Command::Loop { region: None }).unwrap();
    out.extend(render(&mut e, 512, 64));
    let fade = ms_to_frames(FADE_MS, RATE) as f32;
    for f in 3501..out.len() / 2 {
        let step = (out[f * 2] - out[(f - 1) * 2]).abs();
        assert!(step <= 1.6 / fade + 1e-4, "frame {f}: step {step}");
    }
}

#[test]
fn a_full_song_of_saved_settings_survives_the_switch() {
    let mk = |v: f32| {
        song(
            (0..MAX_STEMS)
                .map(|k| ramp_stem(&format!("s{k}"), 48_000, move |_| v / 64.0))
                .collect(),
        )
    };
    let (a, b) = (mk(0.5), mk(0.5));
    let (mut e, mut h) = engine_with(&a, true);
    render(&mut e, 1000, 100);
    assert!(h.switch_song(b.clone(), 0, true));
    for k in 0..MAX_STEMS as u8 {
        h.send(Command::StemMute {
            stem: k,
            mute: true,
        })
        .unwrap();
        h.send(Command::StemSolo {
            stem: k,
            solo: false,
        })
        .unwrap();
        h.send(Command::StemGain { stem: k, gain: 1.0 }).unwrap();
    }
    let out = render(&mut e, 2000, 100);
    assert_eq!(out[out.len() - 2], 0.0, "every stem of the new song muted");
}

#[test]
fn a_second_count_in_request_does_not_restart_it() {
    let s = song(vec![ramp_stem("x", 48_000, |_| 0.5)]);
    let (mut e, mut h) = engine_with(&s, false);
    h.send(Command::CountIn {
        beat_frames: 1000,
        beats: 2,
    })
    .unwrap();
    render(&mut e, 1500, 100);
    h.send(Command::CountIn {
        beat_frames: 1000,
        beats: 2,
    })
    .unwrap();
    let out = render(&mut e, 1000, 100);
    assert_eq!(h.status.transport(), Transport::Playing);
    assert_eq!(out[out.len() - 2], 0.5);
}

#[test]
fn seeking_out_of_the_loop_ends_it() {
    let s = song(vec![ramp_stem("x", 20_000, |_| 0.5)]);
    let (mut e, mut h) = engine_with(&s, false);
    h.send(Command::Loop {
        region: Some((1000, 5000)),
    })
    .unwrap();
    h.send(Command::Play).unwrap();
    render(&mut e, 1000, 100);
    h.send(Command::Seek { frame: 8000 }).unwrap();
    render(&mut e, 1000, 100);
    assert!(!h.status.looping.load(Relaxed));
}

#[test]
fn count_in_follows_the_master_volume() {
    let s = song(vec![ramp_stem("x", 48_000, |_| 0.5)]);
    let (mut e, mut h) = Engine::new(RATE, 2, 0.01);
    assert!(h.switch_song(s.clone(), 0, false));
    h.send(Command::CountIn {
        beat_frames: 4800,
        beats: 2,
    })
    .unwrap();
    let out = render(&mut e, 9600, 256);
    let peak = out.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(peak <= 0.5 * 0.01 + 1e-6, "click peak {peak}");
    assert!(peak > 0.0);
}

#[test]
fn a_stem_shorter_than_its_song_plays_as_silence_after_its_end() {
    // Song::new pads the short stem, so the mixer's slices by position stay in bounds.
    let s = song(vec![
        ramp_stem("long", 1000, |i| (i % 50) as f32 / 100.0),
        ramp_stem("short", 300, |_| 0.25),
    ]);
    assert_eq!(s.frames(), 1000);
    let (mut e, h) = engine_with(&s, true);
    let out = render(&mut e, 1024, 256);
    for f in 0..1000 {
        let long = (f % 50) as f32 / 100.0;
        let want = if f < 300 { long + 0.25 } else { long };
        assert_eq!(out[f * 2], want, "frame {f}");
    }
    assert_eq!(h.status.songs_ended.load(Relaxed), 1);
}

/// An engine with a stretcher whose worker runs inside `process` (as in an offline render).
fn stretched_engine(s: &Arc<Song>, period: usize) -> (Engine, EngineHandle) {
    let (mut e, h) = engine_with(s, false);
    let (pipe, worker) =
        crate::stretch::StretchWorker::new(crate::rt::stretch::StretchConfig::new(RATE, 2, period));
    e.attach_stretch(pipe, Some(Box::new(worker)));
    (e, h)
}

/// Output frames where a click starts (a jump from silence), left channel.
fn click_starts(out: &[f32]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut quiet = usize::MAX / 2;
    for (f, fr) in out.chunks_exact(2).enumerate() {
        if fr[0].abs() > 1e-3 {
            if quiet > 100 {
                starts.push(f);
            }
            quiet = 0;
        } else {
            quiet += 1;
        }
    }
    starts
}

#[test]
fn count_in_clicks_follow_the_effective_tempo_when_stretched() {
    let silent = song(vec![stem("x", vec![0.0; 4 * RATE as usize * 2])]);
    let (mut e, mut h) = stretched_engine(&silent, 256);
    h.send(Command::Speed { factor: 0.5 }).unwrap();
    // Let the pipe switch the stretcher in (silence in, silence out).
    render(&mut e, RATE as usize, 256);
    assert!(h.status.stretching.load(Relaxed));
    // 4 beats of 6,000 song frames at half speed: 12,000 output frames apart.
    h.send(Command::CountIn {
        beat_frames: 6_000,
        beats: 4,
    })
    .unwrap();
    let out = render(&mut e, 60_000, 256);
    let starts = click_starts(&out);
    // (A click's sine starts at 0, so its first audible sample is frame 1 of the beat.)
    assert_eq!(starts, [1, 12_001, 24_001, 36_001], "{starts:?}");
    // The song was started under the count-in, the pipe's latency early.
    assert_eq!(h.status.transport(), Transport::Playing);
}

#[test]
fn speed_and_pitch_hostile_values_are_clamped_or_mean_the_original() {
    let s = three_stems(48_000);
    let (mut e, mut h) = stretched_engine(&s, 256);
    for (cmd, speed, pitch) in [
        (Command::Speed { factor: f32::NAN }, 1.0, 0.0),
        (Command::Speed { factor: 9.0 }, 1.5, 0.0),
        (Command::Speed { factor: -1.0 }, 0.5, 0.0),
        (Command::Pitch { st: f32::INFINITY }, 0.5, 0.0),
        (Command::Pitch { st: -40.0 }, 0.5, -12.0),
        (
            Command::Speed {
                factor: f32::INFINITY,
            },
            1.0,
            -12.0,
        ),
    ] {
        h.send(cmd).unwrap();
        render(&mut e, 256, 256);
        assert_eq!(h.status.speed(), speed, "{cmd:?}");
        assert_eq!(h.status.pitch_st(), pitch, "{cmd:?}");
    }
    // A ramp without a loop is ignored.
    h.send(Command::LoopRamp {
        start: 0.7,
        step: 0.1,
        end: 1.0,
        count_in: CountInBar::NONE,
    })
    .unwrap();
    render(&mut e, 256, 256);
    assert_eq!(h.status.ramp_pass.load(Relaxed), 0);
}

#[test]
fn a_ramp_steps_once_per_wrap_and_holds_at_its_end() {
    let s = three_stems(96_000);
    let (mut e, mut h) = stretched_engine(&s, 256);
    h.send(Command::Play).unwrap();
    h.send(Command::Loop {
        region: Some((4_800, 14_400)),
    })
    .unwrap();
    h.send(Command::LoopRamp {
        start: 0.6,
        step: 0.15,
        end: 0.9,
        count_in: CountInBar::NONE,
    })
    .unwrap();
    render(&mut e, 256, 256);
    let mut seen = Vec::new();
    for _ in 0..600 {
        render(&mut e, 256, 256);
        let pass = h.status.ramp_pass.load(Relaxed);
        let speed = (h.status.speed() * 100.0).round() as u32;
        if seen.last() != Some(&(pass, speed)) {
            seen.push((pass, speed));
        }
    }
    assert_eq!(
        &seen[..4],
        &[(1, 60), (2, 75), (3, 90), (4, 90)],
        "{seen:?}"
    );
}

#[test]
fn fade_in_after_gap_ramps_a_playing_song_up_from_silence_and_spares_the_rest() {
    let s = song(vec![ramp_stem("x", 48_000, |_| 0.5)]);
    let fade = ms_to_frames(FADE_MS, RATE) as usize;
    let (mut e, _h) = engine_with(&s, true);
    render(&mut e, 1000, 100);
    e.fade_in_after_gap();
    let out = render(&mut e, 2 * fade, 64);
    let left: Vec<f32> = out.iter().step_by(2).copied().collect();
    assert!(
        left[0] > 0.0 && left[0] <= 0.5 / fade as f32 + 1e-6,
        "{}",
        left[0]
    );
    assert!(left[..fade].windows(2).all(|w| w[1] > w[0]), "rises");
    assert!(
        left[fade..].iter().all(|&x| x == 0.5),
        "then the song as is"
    );
    assert_eq!(e.status().pos_frames.load(Relaxed), 1000 + 2 * fade as u64);

    // Paused: nothing to fade, and resuming later fades in as it always does.
    let (mut e, mut h) = engine_with(&s, true);
    render(&mut e, 1000, 100);
    h.send(Command::Pause).unwrap();
    render(&mut e, 1000, 100);
    e.fade_in_after_gap();
    assert_eq!(h.status.transport(), Transport::Paused);
    assert!(render(&mut e, 100, 100).iter().all(|&x| x == 0.0));

    // A stop that was fading out when the gap came completes in the silence.
    let (mut e, mut h) = engine_with(&s, true);
    render(&mut e, 1000, 100);
    h.send(Command::Stop).unwrap();
    render(&mut e, 10, 10);
    e.fade_in_after_gap();
    assert!(render(&mut e, 100, 100).iter().all(|&x| x == 0.0));
    assert_eq!(h.status.transport(), Transport::Stopped);
    assert_eq!(h.status.pos_frames.load(Relaxed), 0);
}

#[test]
fn a_countin_ramp_counts_in_each_pass_then_plays_a_sample_accurately() {
    let s = three_stems(40_000);
    let (mut e, mut h) = engine_with(&s, true);
    let fade = ms_to_frames(FADE_MS, RATE) as usize;
    h.send(Command::Loop {
        region: Some((4_800, 14_400)),
    })
    .unwrap();
    render(&mut e, 4_000, 64);
    h.send(Command::LoopRamp {
        start: 1.0,
        step: 0.1,
        end: 1.0,
        count_in: CountInBar::new(6_000, 4),
    })
    .unwrap();
    let out = render(&mut e, 3 * (24_000 + 9_600 + 2_000), 64);
    let starts = click_starts(&out);
    // The song, then counted-in passes: 4 clicks 6,000 apart, then the pass from A. The
    // accented first click follows the faded tail too closely to stand out of silence
    // here, so each group is found by its beats 2..4 and the first is checked by level.
    assert!(starts.len() >= 9, "{starts:?}");
    let click = ms_to_frames(CLICK_MS, RATE) as usize;
    for group in [1, 5] {
        let t0 = starts[group] - 1 - 6_000;
        for beat in 1..4 {
            assert_eq!(
                starts[group + beat - 1],
                t0 + 1 + beat * 6_000,
                "{starts:?}"
            );
        }
        let peak = out[t0 * 2..(t0 + click) * 2]
            .iter()
            .fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(peak > 0.4 && peak <= 0.5, "accent {peak}");
        // The pass starts at A right after the last beat (fading in like any count-in).
        assert!(out[(t0 + 24_000 - 10) * 2..(t0 + 24_000) * 2]
            .iter()
            .all(|&v| v == 0.0));
        for f in fade..fade + 500 {
            assert_eq!(
                out[(t0 + 24_000 + f) * 2],
                expected_sum(&s, 4_800 + f, 0),
                "group {group} frame {f}"
            );
        }
    }
    assert!(h.status.ramp_pass.load(Relaxed) >= 2);
}

#[test]
fn a_countin_ramp_counts_in_at_each_new_pass_tempo_when_stretched() {
    let silent = song(vec![stem("x", vec![0.0; 20 * RATE as usize * 2])]);
    let (mut e, mut h) = stretched_engine(&silent, 256);
    h.send(Command::Play).unwrap();
    h.send(Command::Loop {
        region: Some((4_800, 14_400)),
    })
    .unwrap();
    render(&mut e, 2_560, 256);
    h.send(Command::LoopRamp {
        start: 0.5,
        step: 0.25,
        end: 1.0,
        count_in: CountInBar::new(6_000, 2),
    })
    .unwrap();
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for _ in 0..400 {
        out.extend(render(&mut e, 256, 256));
        let pass = h.status.ramp_pass.load(Relaxed);
        let speed = (h.status.speed() * 100.0).round() as u32;
        if seen.last() != Some(&(pass, speed)) {
            seen.push((pass, speed));
        }
    }
    assert_eq!(&seen[..3], &[(1, 50), (2, 75), (3, 100)], "{seen:?}");
    let starts = click_starts(&out);
    // Two clicks a pass, at 6,000 / speed frames: 12,000, then 8,000, then 6,000.
    assert!(starts.len() >= 6, "{starts:?}");
    let gaps: Vec<usize> = starts.chunks(2).take(3).map(|p| p[1] - p[0]).collect();
    assert_eq!(gaps, [12_000, 8_000, 6_000], "{starts:?}");
}

#[test]
fn a_countin_ramp_survives_hostile_count_ins_and_speeds() {
    let s = three_stems(40_000);
    for (count_in, start, step, end) in [
        (CountInBar::new(u32::MAX, 255), 0.5, 0.25, 1.0),
        (CountInBar::new(0, 255), f32::NAN, f32::INFINITY, -3.0),
        (CountInBar::new(1, 1), 9.0, -1.0, f32::NAN),
    ] {
        let (mut e, mut h) = stretched_engine(&s, 256);
        h.send(Command::Play).unwrap();
        h.send(Command::Loop {
            region: Some((4_800, 14_400)),
        })
        .unwrap();
        render(&mut e, 1_024, 256);
        h.send(Command::LoopRamp {
            start,
            step,
            end,
            count_in,
        })
        .unwrap();
        let out = render(&mut e, 96_000, 256);
        assert!(out.iter().all(|v| v.is_finite() && v.abs() <= 1.0));
        let speed = h.status.speed();
        assert!((0.5..=1.5).contains(&speed), "{speed}");
        assert!(h.status.ramp_pass.load(Relaxed) >= 1);
        // Whatever the count-in, a pause calls it off and play plays from where it holds.
        h.send(Command::Pause).unwrap();
        render(&mut e, 2_048, 256);
        assert!(!h.status.counting_in.load(Relaxed));
        h.send(Command::Play).unwrap();
        render(&mut e, 2_048, 256);
        assert_eq!(h.status.transport(), Transport::Playing);
    }
}

/// A silent song of `seconds` at `rate` with a tempo map: bars 1-2 4/4 at `bpm`, bar 3 in
/// 3/4, then 4/4 at `bpm2`.
fn click_song(rate: u32, seconds: usize, bpm: f64, bpm2: f64) -> Arc<Song> {
    use crate::model::tempo::TimeSignature;
    use crate::model::tempo::{TempoChange, TempoMap};
    let sig = |s| TimeSignature::parse(s).unwrap();
    let mut s = Song::new(
        "click",
        rate,
        vec![stem("x", vec![0.0; seconds * rate as usize * 2])],
    );
    let map = TempoMap::new(
        &[
            TempoChange {
                bar: 1,
                bpm,
                time_signature: sig("4/4"),
            },
            TempoChange {
                bar: 3,
                bpm,
                time_signature: sig("3/4"),
            },
            TempoChange {
                bar: 4,
                bpm: bpm2,
                time_signature: sig("4/4"),
            },
        ],
        rate,
    )
    .unwrap();
    s.set_tempo_map(Some(map));
    Arc::new(s)
}

/// The grid of [`click_song`], worked out here by hand: (frame, downbeat) of every beat
/// before `end`.
fn click_grid(rate: u32, bpm: f64, bpm2: f64, end: f64) -> Vec<(f64, bool)> {
    let q = 60.0 * rate as f64 / bpm;
    let q2 = 60.0 * rate as f64 / bpm2;
    let mut grid: Vec<(f64, bool)> = (0..8).map(|k| (k as f64 * q, k % 4 == 0)).collect();
    grid.extend((0..3).map(|k| ((8 + k) as f64 * q, k == 0)));
    grid.extend(
        (0..)
            .map(|k| (11.0 * q + k as f64 * q2, k % 4 == 0))
            .take_while(|b| b.0 < end),
    );
    grid
}

/// Onsets of the click bursts in `out` (stereo), found by fitting the click's waveform: for
/// each burst the frame (of the first nonzero sample and the two before it) where
/// `click_sample` matches best, and whether the accented one matched.
fn fitted_click_onsets(out: &[f32], rate: u32) -> Vec<(usize, bool, f32)> {
    let n = ms_to_frames(CLICK_MS, rate) as usize;
    let left: Vec<f32> = out.chunks_exact(2).map(|f| f[0]).collect();
    for f in out.chunks_exact(2) {
        assert_eq!(f[0], f[1], "the click is the same on both channels");
    }
    let mut found = Vec::new();
    let mut f = 0;
    while f < left.len() {
        if left[f] == 0.0 {
            f += 1;
            continue;
        }
        let mut best = (usize::MAX, false, f32::INFINITY);
        for onset in f.saturating_sub(2)..=f {
            for accent in [0u32, 1] {
                let err: f32 = (0..n.min(left.len() - onset))
                    .map(|t| (left[onset + t] - click_sample(accent, t as u32, rate)).powi(2))
                    .sum();
                if err < best.2 {
                    best = (onset, accent == 0, err);
                }
            }
        }
        found.push(best);
        f = best.0 + n;
    }
    found
}

#[test]
fn generated_click_onsets_land_on_the_tempo_map_grid() {
    // 97 and 131 bpm at 44.1 kHz: no beat falls on a whole frame; periods of 100 frames
    // split bursts across periods.
    let rate = 44_100;
    let (bpm, bpm2) = (97.0, 131.0);
    let s = click_song(rate, 12, bpm, bpm2);
    let (mut e, mut h) = Engine::new(rate, 2, 1.0);
    assert!(h.switch_song(s.clone(), 0, false));
    h.send(Command::Click(true)).unwrap();
    h.send(Command::Play).unwrap();
    let frames = 10 * rate as usize;
    let out = render(&mut e, frames, 100);
    let grid = click_grid(rate, bpm, bpm2, (frames - 2000) as f64);
    let found = fitted_click_onsets(&out, rate);
    assert_eq!(found.len(), grid.len(), "{found:?}");
    for ((onset, accented, err), (frame, downbeat)) in found.iter().zip(&grid) {
        assert!(
            (*onset as f64 - frame).abs() < 1.0,
            "click at {onset}, beat at {frame}"
        );
        assert_eq!(accented, downbeat, "beat at {frame}");
        assert!(*err < 1e-9, "the burst at {onset} is not the click ({err})");
    }
    // The 3/4 bar: downbeats at bars 3 and 4 are three beats apart.
    let downbeats: Vec<usize> = found.iter().filter(|f| f.1).map(|f| f.0).collect();
    let q = 60.0 * rate as f64 / bpm;
    assert!((downbeats[3] as f64 - downbeats[2] as f64 - 3.0 * q).abs() < 1.0);
}

#[test]
fn click_off_lets_the_sounding_click_ring_out_and_seek_starts_on_the_next_beat() {
    let s = click_song(RATE, 6, 120.0, 120.0);
    let (mut e, mut h) = engine_with(&s, false);
    h.send(Command::Click(true)).unwrap();
    h.send(Command::Play).unwrap();
    // 120 bpm at 48 kHz: beats every 24,000 frames. Turn off 5 ms into the second click.
    let mut out = render(&mut e, 24_240, 240);
    h.send(Command::Click(false)).unwrap();
    out.extend(render(&mut e, 72_000, 240));
    let found = fitted_click_onsets(&out, RATE);
    assert_eq!(
        found.iter().map(|f| f.0).collect::<Vec<_>>(),
        vec![0, 24_000],
        "the second click rings out whole, no third"
    );
    assert!(found.iter().all(|f| f.2 < 1e-9));
    // On again mid-song, after a seek to 10 ms into a beat: no half click, the next beat's.
    h.send(Command::Click(true)).unwrap();
    h.send(Command::Seek { frame: 120_480 }).unwrap();
    let out = render(&mut e, 30_000, 240);
    let starts = click_starts(&out);
    assert_eq!(starts.len(), 1, "{starts:?}");
    // The seek's fade takes some frames; the click sits on beat 144,000 of the song.
    let fitted = fitted_click_onsets(&out, RATE);
    assert_eq!(fitted.len(), 1);
    let seek_out_frames = fitted[0].0 as i64 - (144_000 - 120_480);
    assert!(
        (0..=(RATE as i64 / 50)).contains(&seek_out_frames),
        "click {} frames after where the beat would be without the seek's fade",
        seek_out_frames
    );
}

#[test]
fn no_click_without_a_tempo_map_or_when_off() {
    let plain = three_stems(48_000);
    let (mut e, mut h) = engine_with(&plain, true);
    h.send(Command::Click(true)).unwrap();
    let out = render(&mut e, 48_000, 256);
    for f in 0..48_000 {
        assert_eq!(out[f * 2], expected_sum(&plain, f, 0), "frame {f}");
    }
    let s = click_song(RATE, 2, 120.0, 120.0);
    let (mut e, _h) = engine_with(&s, true);
    assert!(render(&mut e, 96_000, 256).iter().all(|&x| x == 0.0));
}

#[test]
fn generated_click_follows_the_speed_through_the_stretcher() {
    let s = click_song(RATE, 12, 120.0, 120.0);
    let (mut e, mut h) = stretched_engine(&s, 256);
    h.send(Command::Speed { factor: 0.8 }).unwrap();
    // Let the pipe switch the stretcher in (silence in, silence out).
    render(&mut e, RATE as usize, 256);
    assert!(h.status.stretching.load(Relaxed));
    h.send(Command::Click(true)).unwrap();
    h.send(Command::Play).unwrap();
    let out = render(&mut e, 8 * RATE as usize, 256);
    let starts = click_starts(&out);
    // 24,000 song frames a beat at 80 %: 30,000 output frames apart.
    assert!(starts.len() >= 10, "{starts:?}");
    // The stretcher moves a transient's threshold crossing by up to ~2 ms (its phase
    // vocoder smears it) but does not drift: every onset within 2 ms of the 80 % grid from
    // the first, and the whole run within 0.01 % of it.
    for (k, &f) in starts.iter().enumerate() {
        let want = starts[0] as i64 + k as i64 * 30_000;
        assert!(
            (f as i64 - want).abs() <= 96,
            "beat {k} at {f}, grid {want}: {starts:?}"
        );
    }
    // The beat length by a least-squares fit over all onsets (the end points alone carry
    // each one's smear: with the 140 ms blocks of issue 19 that is up to 1 ms).
    let n = starts.len() as f64;
    let (mean_k, mean_f) = (
        (n - 1.0) / 2.0,
        starts.iter().map(|&f| f as f64).sum::<f64>() / n,
    );
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (k, &f) in starts.iter().enumerate() {
        sxy += (k as f64 - mean_k) * (f as f64 - mean_f);
        sxx += (k as f64 - mean_k).powi(2);
    }
    let beat = sxy / sxx;
    assert!((beat / 30_000.0 - 1.0).abs() < 1e-4, "{beat} vs 30000");
}

/// The same song with mono stems and with each mono stem copied into both channels plays
/// sample for sample the same: with pans, gains, a mute ramp and a loop crossfade, on
/// stereo and on mono output.
#[test]
fn mono_stems_play_bit_exact_with_their_stereo_copies() {
    let frames = 20_000;
    let waves: Vec<Vec<f32>> = (0..3)
        .map(|k| {
            (0..frames)
                .map(|i| ((i * (7 + 3 * k)) % 211) as f32 / 211.0 - 0.5)
                .collect()
        })
        .collect();
    let mono = song(
        waves
            .iter()
            .enumerate()
            .map(|(k, w)| Stem::with_channels(format!("m{k}"), 1, w.clone().into()))
            .collect(),
    );
    let stereo = song(
        waves
            .iter()
            .enumerate()
            .map(|(k, w)| stem(&format!("m{k}"), w.iter().flat_map(|&s| [s, s]).collect()))
            .collect(),
    );
    assert_eq!(mono.ram_bytes() * 2, stereo.ram_bytes());
    for channels in [2usize, 1] {
        let play = |s: &Arc<Song>| {
            let (mut e, mut h) = Engine::new(RATE, channels, 1.0);
            assert!(h.switch_song(s.clone(), 0, true));
            let mut out = Vec::new();
            let mut buf = vec![0.0f32; 256 * channels];
            for p in 0..70 {
                match p {
                    5 => h.send(Command::StemPan { stem: 0, pan: -0.6 }).unwrap(),
                    9 => h.send(Command::StemGain { stem: 1, gain: 0.7 }).unwrap(),
                    12 => h
                        .send(Command::StemMute {
                            stem: 2,
                            mute: true,
                        })
                        .unwrap(),
                    20 => h
                        .send(Command::Loop {
                            region: Some((1_000, 9_000)),
                        })
                        .unwrap(),
                    _ => {}
                }
                e.process(&mut buf);
                out.extend_from_slice(&buf);
            }
            out
        };
        let (a, b) = (play(&mono), play(&stereo));
        assert!(a.iter().any(|&x| x != 0.0));
        assert!(
            a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{channels} channels out"
        );
    }
}

/// A song still loading: frames below each stem's watermark play exactly (but for the
/// load fade just before it), a stem that has not got as far plays silence and the period
/// counts as a load underrun, and once the loader catches up (and the stem has faded back
/// in) everything is exact again.
#[test]
fn a_stem_not_decoded_yet_plays_silence_and_counts_load_underruns() {
    let frames = 4_096;
    let s = song(vec![
        Stem::loading("a", 1, frames),
        Stem::loading("b", 2, frames),
    ]);
    let a_val = |i: usize| (i % 50) as f32 / 100.0;
    let b_val = |i: usize| -((i % 30) as f32) / 100.0;
    let mut wa = s.stems()[0].audio().writer().unwrap();
    let mut wb = s.stems()[1].audio().writer().unwrap();
    let a_all: Vec<f32> = (0..frames).map(a_val).collect();
    let b_all: Vec<f32> = (0..frames)
        .flat_map(|i| [b_val(i), b_val(i) / 2.0])
        .collect();
    wa.append(&a_all[..2_048]);
    wb.append(&b_all[..1_000 * 2]);
    let (mut e, _h) = engine_with(&s, true);
    let status = e.status().clone();
    let out = render(&mut e, 2_048, 128);
    let lf = ms_to_frames(LOAD_FADE_MS, RATE) as usize;
    // Stem a fades out ahead of its watermark at 2048 in the same way.
    for f in 0..2_048 - lf {
        let b = if f < 1_000 { b_val(f) } else { 0.0 };
        let b_r = if f < 1_000 { b_val(f) / 2.0 } else { 0.0 };
        if (1_000 - lf..1_000).contains(&f) {
            // Fading out into the watermark: b at a gain between 0 and 1, falling.
            let g = (out[f * 2] - a_val(f)) / b;
            let want = (1_000 - f) as f32 / lf as f32;
            assert!((g - want).abs() < 1e-3 || b.abs() < 1e-3, "frame {f}: {g}");
            continue;
        }
        assert_eq!(out[f * 2], a_val(f) + b, "frame {f}");
        assert_eq!(out[f * 2 + 1], a_val(f) + b_r, "frame {f}");
    }
    // Periods 7 (frames 896..1024, partly short) to 15.
    assert_eq!(status.load_underruns.load(Relaxed), 9);
    wa.append(&a_all[2_048..]);
    wb.append(&b_all[2_000..]);
    let out = render(&mut e, 1_024, 128);
    for f in lf + 1..1_024 {
        let i = 2_048 + f;
        assert_eq!(out[f * 2], a_val(i) + b_val(i));
    }
    assert_eq!(status.load_underruns.load(Relaxed), 9);
    drop((wa, wb));
}

/// A seek past what is decoded waits there in silence (the head does not move on
/// through undecoded audio) and plays from exactly that frame once it is decoded.
#[test]
fn a_seek_past_the_watermark_waits_there_silent_then_plays_from_it() {
    let frames = 48_000;
    let s = song(vec![Stem::loading("a", 1, frames)]);
    let val = |i: usize| ((i % 1000) as f32 + 1.0) / 2000.0;
    let all: Vec<f32> = (0..frames).map(val).collect();
    let mut w = s.stems()[0].audio().writer().unwrap();
    w.append(&all[..10_000]);
    let (mut e, mut h) = engine_with(&s, true);
    let status = e.status().clone();
    render(&mut e, 1_024, 256);
    h.send(Command::Seek { frame: 30_000 }).unwrap();
    // The fade out of the old position, then the wait.
    render(&mut e, 2_048, 256);
    let waited = status.load_underruns.load(Relaxed);
    assert!(waited >= 4, "{waited}");
    let out = render(&mut e, 2_048, 256);
    assert!(out.iter().all(|&x| x == 0.0));
    assert_eq!(status.pos_frames.load(Relaxed), 30_000);
    assert_eq!(status.load_underruns.load(Relaxed), waited + 8);
    w.append(&all[10_000..31_000]);
    let out = render(&mut e, 256, 256);
    // Fading in from frame 30000: rising, never from anywhere else.
    assert!(out[0] < 0.01 && out[255 * 2] > 0.0);
    let f = 255;
    assert!(out[f * 2] <= val(30_000 + f) + 1e-6);
    assert_eq!(status.pos_frames.load(Relaxed), 30_256);
    drop(w);
}

/// Largest step between neighbouring samples of one channel of interleaved stereo.
fn max_step(out: &[f32], channel: usize) -> f32 {
    let l: Vec<f32> = out.iter().skip(channel).step_by(2).copied().collect();
    l.windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f32::max)
}

/// A load underrun fades: steady stems that playback catches up with ramp out into their
/// watermarks and back in once decoded, never stepping by more than one fade step, both at
/// the edge into the missing part and on the way back. Hostile timing: the watermarks
/// move in uneven pieces to odd frames, the periods have odd sizes.
#[test]
fn a_load_underrun_fades_out_and_back_in_without_a_step() {
    let frames = 20_000;
    let (dc, st) = (0.5f32, 0.25f32);
    let s = song(vec![
        Stem::loading("dc", 1, frames),
        Stem::loading("st", 2, frames),
    ]);
    let mut w1 = s.stems()[0].audio().writer().unwrap();
    let mut w2 = s.stems()[1].audio().writer().unwrap();
    w1.append(&vec![dc; 3_001]);
    w2.append(&[st, -st].repeat(2_999));
    let (mut e, _h) = engine_with(&s, true);
    let status = e.status().clone();
    let lf = ms_to_frames(LOAD_FADE_MS, RATE) as f32;
    // Each stem's gain moves by at most 1/lf per frame.
    let bound = (dc + st) / lf * 1.001;
    // Plays into both watermarks (underruns), then the loader catches up in pieces.
    let mut out = render(&mut e, 4_000, 77);
    assert!(status.load_underruns.load(Relaxed) > 0);
    // The missing part is silence, reached by a fade (never a cut at the watermark).
    assert!(out[3_500 * 2..].iter().all(|&x| x == 0.0));
    assert!(out[2_900 * 2] > 0.0 && out[2_900 * 2] < dc + st);
    w1.append(&vec![dc; 1_333]);
    w2.append(&[st, -st].repeat(5_000));
    out.extend(render(&mut e, 3_000, 131));
    w1.append(&vec![dc; frames]);
    w2.append(&[st, -st].repeat(frames));
    out.extend(render(&mut e, 4_000, 64));
    for ch in 0..2 {
        let step = max_step(&out, ch);
        assert!(step <= bound, "channel {ch}: step {step} > {bound}");
    }
    // Both back at full level at the end.
    let end = out.len() - 2;
    assert_eq!((out[end], out[end + 1]), (dc + st, dc - st));
    // Without the fade the first edge alone would be a step of the whole level.
    assert!(bound < (dc + st) / 100.0);
    drop((w1, w2));
}

/// A seek beyond the front lands in a region the loader decoded there first: the engine
/// tells the song where it jumped (the loader's cue), waits silent until the region holds
/// the target, then plays the region exactly although the front is far behind.
#[test]
fn a_seek_into_a_region_decoded_ahead_plays_it_and_tells_the_song() {
    let frames = 48_000;
    let s = song(vec![Stem::loading("a", 1, frames)]);
    let val = |i: usize| ((i % 1000) as f32 + 1.0) / 2000.0;
    let all: Vec<f32> = (0..frames).map(val).collect();
    let mut w = s.stems()[0].audio().writer().unwrap();
    w.append(&all[..5_000]);
    let (mut e, mut h) = engine_with(&s, true);
    assert_eq!(s.wanted(), Some(0));
    render(&mut e, 1_024, 256);
    h.send(Command::Seek { frame: 30_000 }).unwrap();
    // Asked for at once, before the old position has faded out.
    render(&mut e, 256, 256);
    assert_eq!(s.wanted(), Some(30_000));
    render(&mut e, 512, 256);
    let out = render(&mut e, 1_024, 256);
    assert!(out.iter().all(|&x| x == 0.0));
    assert_eq!(e.status().pos_frames.load(Relaxed), 30_000);
    // The loader's region: [30000, 40000); the front stays at 5000.
    w.focus(30_000);
    w.write_at(30_000, &all[30_000..40_000]);
    let out = render(&mut e, 4_096, 256);
    let fade = ms_to_frames(FADE_MS, RATE) as usize;
    for f in fade..4_096 {
        assert_eq!(out[f * 2], val(30_000 + f), "frame {f}");
    }
    assert_eq!(s.ready_frames(), 5_000);
    // A hostile seek past the song's end is clamped and asks for nothing beyond it.
    h.send(Command::Seek { frame: u64::MAX }).unwrap();
    render(&mut e, 256, 256);
    assert!(s.wanted().is_some_and(|f| f <= frames as u64));
    drop(w);
}
