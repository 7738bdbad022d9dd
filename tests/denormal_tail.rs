//! A tail decaying into the subnormal range, played through the real loop
//! (`rt::run::run_device` on the scripted device), reaches the device as exact zeros: the
//! loop flushes denormals, so no period does arithmetic on them (which costs about a
//! hundred cycles an operation on x86; `benches/denormal.rs` measures the period). The same
//! engine driven outside the loop, without the guard, does put subnormals in the output:
//! that is what the loop's guard removes. Also through the stretcher (speed 80 %), whose
//! FFT and resampler ring out in the same range.
//!
//! The property is functional (no subnormal sample), not wall time: timing belongs in the
//! bench, where it is measured and reported.
#![cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]

use std::sync::Arc;
use stembox::model::song::{Song, Stem};
use stembox::rt::command::Command;
use stembox::rt::convert::FloatLe;
use stembox::rt::engine::{Engine, EngineHandle};
use stembox::rt::fake::FakeDevice;
use stembox::rt::run::{run_device, LoopControl, LoopParams, NoObserver};
use stembox::rt::stretch::StretchConfig;
use stembox::stretch::StretchWorker;

const RATE: u32 = 48_000;
const PERIOD: u32 = 256;
const FRAMES: usize = 48_000;

/// Two stereo stems decaying from 1e-36 by 0.9995 a frame: subnormal (below 1.18e-38)
/// from about frame 9,200 to frame ~30,000, then 0. Made at run time, so the values are
/// IEEE subnormals whatever the test thread's mode.
fn decaying_song() -> Arc<Song> {
    let stems = (0..2)
        .map(|i| {
            let mut level = 1e-36f32 * (1.0 + i as f32 * 0.25);
            let mut samples = Vec::with_capacity(FRAMES * 2);
            for f in 0..FRAMES {
                let sign = if (f / 7) % 2 == 0 { 1.0 } else { -1.0 };
                samples.push(sign * level);
                samples.push(-sign * level * 0.5);
                level *= 0.9995;
            }
            Stem::new(format!("tail{i}"), samples.into_boxed_slice())
        })
        .collect();
    Arc::new(Song::new("tail", RATE, stems))
}

fn input_subnormals(song: &Song) -> usize {
    song.stems()
        .iter()
        .flat_map(|s| s.samples())
        .filter(|x| x.is_subnormal())
        .count()
}

/// An engine playing the tail with non-unity stem gains (so the mix multiplies), and,
/// when `speed` is set, through the stretcher run in step with the engine (as for
/// `play --once`).
fn engine(speed: Option<f32>) -> (Engine, EngineHandle) {
    let song = decaying_song();
    assert!(
        input_subnormals(&song) > 40_000,
        "the stems hold subnormals"
    );
    let (mut engine, mut handle) = Engine::new(RATE, 2, 1.0);
    if speed.is_some() {
        let (pipe, worker) = StretchWorker::new(StretchConfig::new(RATE, 2, PERIOD as usize));
        engine.attach_stretch(pipe, Some(Box::new(worker)));
    }
    assert!(handle.switch_song(song, 0, true));
    for stem in 0..2 {
        handle.send(Command::StemGain { stem, gain: 0.7 }).unwrap();
    }
    if let Some(factor) = speed {
        handle.send(Command::Speed { factor }).unwrap();
    }
    (engine, handle)
}

/// Plays `periods` through the real loop (with its guard) and returns what the device got.
fn through_the_loop((mut engine, _handle): (Engine, EngineHandle), periods: u64) -> Vec<f32> {
    let control = Arc::new(LoopControl::default());
    let mut device = FakeDevice::<f32>::new(2, PERIOD, 3, periods as usize * PERIOD as usize)
        .stop_after(periods, control.clone());
    let params = LoopParams {
        channels: 2,
        period_frames: PERIOD as u64,
        buffer_frames: 3 * PERIOD as u64,
        rate: RATE,
    };
    run_device::<FloatLe, _, _>(&mut device, params, &mut engine, &mut NoObserver, &control)
        .unwrap();
    device.recorded().to_vec()
}

/// The same periods rendered by calling the engine directly on this (unguarded) thread.
fn without_the_guard((mut engine, _handle): (Engine, EngineHandle), periods: u64) -> Vec<f32> {
    assert!(!stembox::rt::denormal::is_flushing());
    let mut out = vec![0.0f32; periods as usize * PERIOD as usize * 2];
    for period in out.chunks_mut(PERIOD as usize * 2) {
        engine.process(period);
    }
    out
}

fn subnormals(samples: &[f32]) -> usize {
    samples.iter().filter(|x| x.is_subnormal()).count()
}

const PERIODS: u64 = (FRAMES / PERIOD as usize) as u64;

#[test]
fn a_tail_decaying_through_the_subnormal_range_reaches_the_device_as_zeros() {
    let raw = without_the_guard(engine(None), PERIODS);
    let unguarded = subnormals(&raw);
    assert!(
        unguarded > 20_000,
        "without the guard the mix carries the subnormals ({unguarded})"
    );
    let played = through_the_loop(engine(None), PERIODS);
    assert!(played.len() >= raw.len() / 2, "{} samples", played.len());
    assert_eq!(subnormals(&played), 0, "the loop flushes them");
    // Before the tail gets there the samples are normal numbers and pass unchanged.
    assert!(played.iter().any(|s| s.is_normal()));
}

#[test]
fn through_the_stretcher_too() {
    let raw = without_the_guard(engine(Some(0.8)), PERIODS);
    let unguarded = subnormals(&raw);
    let played = through_the_loop(engine(Some(0.8)), PERIODS);
    assert!(
        played.iter().any(|&s| s != 0.0),
        "the stretched tail was played"
    );
    assert_eq!(
        subnormals(&played),
        0,
        "the loop flushes them (unguarded: {unguarded})"
    );
    assert!(
        unguarded > 1_000,
        "without the guard the stretcher's output carries subnormals ({unguarded})"
    );
}
