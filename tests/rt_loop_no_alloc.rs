//! Proof that the audio thread's loop never allocates or frees: the real loop
//! (`rt::run::run_device`, the function the audio thread runs, with the engine, the format
//! conversion and the latency monitor) runs inside `assert_no_alloc` on the scripted fake
//! device for thousands of periods, with every engine command and every fault the fake can
//! inject, for every sample format. Any allocation aborts the test binary.
//!
//! Lives in its own test binary because the allocator hook is process-wide.
//! assert_no_alloc checks debug builds only (its `AllocDisabler` is absent in release), so
//! this file is empty there.
#![cfg(debug_assertions)]

use alsa::pcm::State;
use assert_no_alloc::{assert_no_alloc, AllocDisabler};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use stembox::model::song::{Song, Stem};
use stembox::rt::command::Command;
use stembox::rt::convert::{DeviceFormat, FloatLe, S16Le, S24Le, S32Le};
use stembox::rt::engine::Engine;
use stembox::rt::fake::{FakeDevice, Fault};
use stembox::rt::monitor::{MonitorRt, MonitorShared};
use stembox::rt::run::{run_device, LoopControl, LoopObserver, LoopParams, NoObserver};
use stembox::rt::stretch::StretchConfig;
use stembox::stretch::StretchWorker;

#[global_allocator]
static ALLOC: AllocDisabler = AllocDisabler;

const RATE: u32 = 48_000;
const PERIOD: u32 = 64;
const PERIODS: u32 = 3;
const RUN_PERIODS: u64 = 5_000;

fn song(name: &str, stems: usize, frames: usize) -> Arc<Song> {
    let stems = (0..stems)
        .map(|i| {
            let samples = (0..frames * 2)
                .map(|j| ((j * (i + 3)) % 200) as f32 / 1000.0 - 0.1)
                .collect();
            Stem::new(format!("s{i}"), samples)
        })
        .collect();
    Arc::new(Song::new(name, RATE, stems))
}

/// [`song`] with stem `i` on the buses of mask `i % 16` (0: main by default).
fn routed_song(name: &str, stems: usize, frames: usize) -> Arc<Song> {
    let mut song = Arc::try_unwrap(song(name, stems, frames)).unwrap();
    for (i, stem) in song.stems_mut().iter_mut().enumerate() {
        stem.bus_mask = (i % 16) as u8;
    }
    Arc::new(song)
}

/// Every fault the loop recovers from, spread over the run.
fn recoverable_faults() -> Vec<Fault> {
    vec![
        Fault::Xrun,
        Fault::Suspend {
            eagain: 3,
            resumable: true,
        },
        Fault::Suspend {
            eagain: 1,
            resumable: false,
        },
        Fault::Suspend {
            eagain: 1_000,
            resumable: true,
        },
        Fault::PollErr(State::XRun),
        Fault::PollErr(State::Suspended),
        Fault::Stall { waits: 20 },
        Fault::TimeoutIn(State::XRun),
        Fault::TimeoutIn(State::Prepared),
        Fault::TimeoutIn(State::Paused),
        Fault::TimeoutIn(State::Suspended),
        Fault::ShortArea { frames: 5 },
        Fault::ShortArea { frames: 0 },
        Fault::PartialCommit { frames: 17 },
        Fault::CommitError(libc::EPIPE),
    ]
}

/// The faults that end playback.
fn fatal_faults() -> Vec<Fault> {
    vec![
        Fault::Unplug,
        Fault::BadState,
        Fault::PollHup,
        Fault::PollErr(State::Disconnected),
        Fault::PollErr(State::Running),
        Fault::TimeoutIn(State::Disconnected),
        Fault::TimeoutIn(State::Setup),
        Fault::Stall { waits: 1_000_000 },
        Fault::CommitError(libc::EIO),
    ]
}

/// The command the control thread sends before period `p`, cycling through all of them.
fn command_for(p: u64) -> Option<Command> {
    Some(match p % 60 {
        1 => Command::StemMute {
            stem: 3,
            mute: true,
        },
        2 => Command::StemSolo {
            stem: 5,
            solo: true,
        },
        3 => Command::StemGain { stem: 1, gain: 0.5 },
        4 => Command::StemPan { stem: 2, pan: -0.7 },
        5 => Command::MasterGain { gain: 0.8 },
        6 => Command::Loop {
            region: Some((1_000, 3_000)),
        },
        // The stretcher in, a tempo ramp wrapping on the loop, and out again.
        7 => Command::Speed { factor: 0.8 },
        8 => Command::Pitch { st: 2.0 },
        9 => Command::LoopRamp {
            start: 0.6,
            step: 0.2,
            end: 1.2,
            count_in: stembox::rt::command::CountInBar::NONE,
        },
        45 => Command::Speed { factor: 1.0 },
        46 => Command::Pitch { st: 0.0 },
        20 => Command::Pause,
        22 => Command::Play,
        24 => Command::Seek { frame: 20_000 },
        26 => Command::CountIn {
            beat_frames: 1_000,
            beats: 2,
        },
        36 => Command::Stop,
        38 => Command::Play,
        40 => Command::Loop { region: None },
        42 => Command::StemMute {
            stem: 3,
            mute: false,
        },
        43 => Command::StemSolo {
            stem: 5,
            solo: false,
        },
        // Bus gains (bus 1 and 3 exist only with buses configured: ignored otherwise).
        47 => Command::BusGain { bus: 1, gain: 0.5 },
        48 => Command::BusGain { bus: 0, gain: 0.7 },
        49 => Command::BusGain { bus: 3, gain: 2.0 },
        57 => Command::BusGain { bus: 0, gain: 1.0 },
        _ => return None,
    })
}

struct Run {
    result: Result<(), i32>,
    device_periods: u64,
    xruns: u32,
    suspends: u32,
    handed_back: usize,
    commands: usize,
    /// Periods in which the stretcher was the audible path.
    stretched: usize,
}

/// Runs the loop on a fake `F` device with `faults` (fault `i` at period `first + i *
/// every`), the engine playing and receiving commands and song switches from the device's
/// period hook, everything inside `assert_no_alloc`.
fn run<F: DeviceFormat, O: LoopObserver>(
    faults: &[Fault],
    first: u64,
    every: u64,
    observer: &mut O,
) -> Run {
    run_on::<F, O>(faults, first, every, observer, 2)
}

/// [`run`] on a device of `channels`; above 2, with 4 buses (main 1-2, cue 3-4, then the
/// rest, the last mono where the channels are odd) and the stems spread over them.
fn run_on<F: DeviceFormat, O: LoopObserver>(
    faults: &[Fault],
    first: u64,
    every: u64,
    observer: &mut O,
    channels: usize,
) -> Run {
    let (a, b) = if channels > 2 {
        (routed_song("a", 16, 48_000), routed_song("b", 8, 30_000))
    } else {
        (song("a", 16, 48_000), song("b", 8, 30_000))
    };
    let control = Arc::new(LoopControl::default());
    let (mut engine, mut handle) = Engine::new(RATE, channels, 1.0);
    if channels > 2 {
        use stembox::rt::bus::{BusOut, BusTable};
        let mut outs = vec![BusOut::stereo(0, 1), BusOut::stereo(2, 3)];
        let mut c = 4;
        while c < channels && outs.len() < 4 {
            outs.push(if c + 1 < channels {
                BusOut::stereo(c as u8, c as u8 + 1)
            } else {
                BusOut::mono(c as u8)
            });
            c += 2;
        }
        engine
            .set_buses(BusTable::new(&outs, Some(1), channels).unwrap())
            .unwrap();
    }
    // The stretcher as `run` has it: its worker on its own thread, the audio thread only
    // moving samples through the pipe.
    let (pipe, worker) = StretchWorker::new(StretchConfig::new(RATE, channels, PERIOD as usize));
    engine.attach_stretch(pipe, None);
    let _worker = worker.spawn().unwrap();
    assert!(handle.switch_song(a.clone(), 0, true));
    let handed_back = Arc::new(AtomicUsize::new(0));
    let commands = Arc::new(AtomicUsize::new(0));
    let stretched = Arc::new(AtomicUsize::new(0));
    let (back, sent, stretching) = (handed_back.clone(), commands.clone(), stretched.clone());
    let (a2, b2) = (a.clone(), b.clone());
    let status = handle.status.clone();
    // The control thread's part, run from the device between periods. It must not allocate
    // either (it is inside the same assert_no_alloc); the test keeps `a` and `b`, so the
    // songs handed back are never the last reference and dropping them frees nothing.
    let hook = move |p: u64| {
        if handle.status.stretching.load(Relaxed) {
            stretching.fetch_add(1, Relaxed);
        }
        if let Some(cmd) = command_for(p) {
            if handle.send(cmd).is_ok() {
                sent.fetch_add(1, Relaxed);
            }
        }
        match p % 60 {
            10 | 50 => {
                let _ = handle.switch_song(b2.clone(), 0, true);
            }
            30 => {
                let _ = handle.switch_song(a2.clone(), 5_000, true);
            }
            // More switches than the garbage queue holds, without collecting.
            55 => {
                for _ in 0..6 {
                    let _ = handle.switch_song(a2.clone(), 0, true);
                }
            }
            _ => {}
        }
        if p % 60 != 56 {
            back.fetch_add(handle.collect_garbage(), Relaxed);
        }
    };
    let mut device = FakeDevice::<F::Raw>::new(channels, PERIOD, PERIODS, 4_096)
        .stop_after(RUN_PERIODS, control.clone())
        .on_period(hook);
    for (i, &f) in faults.iter().enumerate() {
        device = device.fault_at(first + i as u64 * every, f);
    }
    let params = LoopParams {
        channels,
        period_frames: PERIOD as u64,
        buffer_frames: (PERIOD * PERIODS) as u64,
        rate: RATE,
    };
    let result = assert_no_alloc(|| {
        run_device::<F, _, _>(&mut device, params, &mut engine, observer, &control)
    });
    assert_eq!(device.counts().natural_xruns, 0);
    assert!(status.periods.load(Relaxed) > 0);
    Run {
        result: result.map_err(|e| e.errno()),
        device_periods: device.played_periods(),
        xruns: status.xruns.load(Relaxed),
        suspends: status.suspends.load(Relaxed),
        handed_back: handed_back.load(Relaxed),
        commands: commands.load(Relaxed),
        stretched: stretched.load(Relaxed),
    }
}

fn thousands_of_periods_with_every_command_and_fault<F: DeviceFormat, O: LoopObserver>(
    observer: &mut O,
) {
    let faults = recoverable_faults();
    let r = run::<F, O>(&faults, 100, 300, observer);
    assert_eq!(r.result, Ok(()));
    assert_eq!(r.device_periods, RUN_PERIODS);
    // Xrun, the two POLLERR/timeouts in xrun, prepared and paused, and the failed commit.
    assert_eq!(r.xruns, 6);
    assert_eq!(r.suspends, 5);
    assert!(r.commands > 1_000, "{} commands", r.commands);
    assert!(r.stretched > 500, "stretched in {} periods", r.stretched);
    assert!(r.handed_back > 100, "{} songs handed back", r.handed_back);
}

#[test]
fn real_loop_never_allocates_s16_with_the_latency_monitor() {
    let shared = Arc::new(MonitorShared::new());
    let mut monitor = MonitorRt::new(shared.clone(), PERIOD, RATE);
    let base = shared.reset_window();
    thousands_of_periods_with_every_command_and_fault::<S16Le, _>(&mut monitor);
    let w = shared.snapshot().since(&base);
    assert_eq!(w.recoveries(), 11);
    assert!(w.periods() > 4_000);
}

#[test]
fn real_loop_never_allocates_s24_s32_float() {
    thousands_of_periods_with_every_command_and_fault::<S24Le, _>(&mut NoObserver);
    thousands_of_periods_with_every_command_and_fault::<S32Le, _>(&mut NoObserver);
    thousands_of_periods_with_every_command_and_fault::<FloatLe, _>(&mut NoObserver);
}

#[test]
fn real_loop_never_allocates_on_the_way_out_after_a_fatal_fault() {
    for fault in fatal_faults() {
        let r = run::<S16Le, _>(&[fault], 500, 1, &mut NoObserver);
        assert!(r.result.is_err(), "{fault:?} must end playback");
        assert_eq!(r.device_periods, 500, "{fault:?}");
    }
}

#[test]
fn real_loop_never_allocates_with_four_buses_on_eight_channels() {
    let faults = recoverable_faults();
    let r = run_on::<FloatLe, _>(&faults, 100, 300, &mut NoObserver, 8);
    assert_eq!(r.result, Ok(()));
    assert_eq!(r.device_periods, RUN_PERIODS);
    assert!(r.commands > 1_000, "{} commands", r.commands);
    assert!(r.stretched > 500, "stretched in {} periods", r.stretched);
    let r = run_on::<S16Le, _>(&faults, 100, 300, &mut NoObserver, 5);
    assert_eq!(r.result, Ok(()));
}
