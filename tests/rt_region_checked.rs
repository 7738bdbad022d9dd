//! The checks that ride along with every real run: the audio loop itself runs inside
//! `rt::alloc_check::no_alloc` with denormals flushed (not only this file's copy of it), an
//! allocation there aborts the process with a message that names the region and the
//! culprit, and the audio thread on a real alsa-lib PCM (`null`, through alsa-lib's mmap,
//! the path `play` and `run` take) with MIDI clock out publishing every period stays
//! inside the rule. The end-to-end tests on the binary cannot ask for MIDI clock here:
//! there is no ALSA sequencer on these machines, so this file drives `publish_clock`.
//!
//! The checker is the binary's own global allocator, so this binary checks what the
//! binary checks. Debug builds only (release builds have no checker), so the file is
//! empty there.
#![cfg(debug_assertions)]

use std::os::unix::process::ExitStatusExt;
use std::process::Command as Process;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use stembox::model::song::{Song, Stem};
use stembox::rt::alloc_check::{current_region, no_alloc, RtAllocChecker};
use stembox::rt::alsa_pcm::{open_output, OutputRequest};
use stembox::rt::convert::FloatLe;
use stembox::rt::denormal::{is_flushing, ScopedFtz};
use stembox::rt::engine::Engine;
use stembox::rt::fake::FakeDevice;
use stembox::rt::format::SampleFormat;
use stembox::rt::run::{
    run_device, spawn_audio_thread, LoopControl, LoopParams, NoObserver, AUDIO_LOOP_REGION,
};

#[global_allocator]
static ALLOC: RtAllocChecker = RtAllocChecker;

const RATE: u32 = 48_000;

fn tone(frames: usize) -> Arc<Song> {
    let samples = (0..frames * 2)
        .map(|j| 0.25 * ((j / 2) as f32 * 0.03).sin())
        .collect();
    Arc::new(Song::new("tone", RATE, vec![Stem::new("s0", samples)]))
}

/// Kept out of line so the backtrace in the abort message has a frame of this name.
#[inline(never)]
fn grow_inside_the_region(v: &mut Vec<u64>) {
    v.push(std::hint::black_box(7));
}

/// The child of [`an_allocation_inside_a_region_aborts_naming_region_thread_and_caller`]:
/// it aborts, which is what the parent checks; run alone it would fail, hence ignored.
#[test]
#[ignore = "run as a child process by the test below"]
fn child_allocates_inside_a_region() {
    let mut v: Vec<u64> = Vec::new();
    no_alloc("the test's region", || grow_inside_the_region(&mut v));
    // Not reached: the allocation above ends the process.
    println!("child survived with {} values", v.len());
}

/// Runs the ignored test `name` of this binary as a child process.
fn child(name: &str) -> std::process::Output {
    let exe = std::env::current_exe().unwrap();
    Process::new(exe)
        .args([
            "--ignored",
            "--exact",
            name,
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .unwrap()
}

#[test]
fn an_allocation_inside_a_region_aborts_naming_region_thread_and_caller() {
    let out = child("child_allocates_inside_a_region");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "the child must abort: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(!stdout.contains("child survived"), "{stdout}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("stembox: allocated "))
        .unwrap_or_else(|| panic!("no abort line in:\n{stderr}"));
    assert!(
        line.contains("inside the no-allocation region \"the test's region\""),
        "{line}"
    );
    assert!(
        line.contains("on thread \"child_allocates_inside_a_region\""),
        "{line}"
    );
    assert!(
        stderr.contains("grow_inside_the_region"),
        "the backtrace names the caller:\n{stderr}"
    );
}

/// The child of [`a_panic_inside_a_region_is_reported_as_the_panic_it_is`].
#[test]
#[ignore = "run as a child process by the test below"]
fn child_panics_inside_a_region() {
    let limit = std::hint::black_box(3usize);
    no_alloc("the test's region", || {
        if limit < 5 {
            panic!("the period index {limit} is out of range");
        }
    });
}

#[test]
fn a_panic_inside_a_region_is_reported_as_the_panic_it_is() {
    let out = child("child_panics_inside_a_region");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // libtest's exit code for a failed test: the panic unwound, nothing aborted.
    assert_eq!(out.status.code(), Some(101), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("the period index 3 is out of range")
            || stderr.contains("the period index 3 is out of range"),
        "the panic message is shown:\n{stdout}\n{stderr}"
    );
    assert!(!stderr.contains("stembox: allocated"), "{stderr}");
}

#[test]
fn allocations_outside_a_region_go_on_as_usual() {
    let v: Vec<u8> = no_alloc("empty", Vec::new);
    let mut v = v;
    v.extend_from_slice(b"after the region");
    assert_eq!(v.len(), 16);
    assert_eq!(current_region(), None);
}

/// What the loop's own thread sees from inside `run_device`, observed from the fake
/// device's period hook (which runs inside the loop).
#[test]
fn the_loop_itself_is_the_region_with_denormals_flushed() {
    let observed = Arc::new(AtomicUsize::new(0));
    let in_region = Arc::new(AtomicUsize::new(0));
    let flushing = Arc::new(AtomicUsize::new(0));
    let control = Arc::new(LoopControl::default());
    let (mut engine, mut handle) = Engine::new(RATE, 2, 1.0);
    assert!(handle.switch_song(tone(48_000), 0, true));
    let (o, r, f) = (observed.clone(), in_region.clone(), flushing.clone());
    let mut device = FakeDevice::<f32>::new(2, 64, 3, 64 * 50)
        .stop_after(50, control.clone())
        .on_period(move |_| {
            o.fetch_add(1, Relaxed);
            if current_region() == Some(AUDIO_LOOP_REGION) {
                r.fetch_add(1, Relaxed);
            }
            if is_flushing() {
                f.fetch_add(1, Relaxed);
            }
        });
    assert_eq!(current_region(), None);
    let before = is_flushing();
    let params = LoopParams {
        channels: 2,
        period_frames: 64,
        buffer_frames: 192,
        rate: RATE,
    };
    let result =
        run_device::<FloatLe, _, _>(&mut device, params, &mut engine, &mut NoObserver, &control);
    assert!(result.is_ok());
    let observed = observed.load(Relaxed);
    assert!(observed >= 50, "{observed} periods");
    assert_eq!(in_region.load(Relaxed), observed);
    let want_flushing = if ScopedFtz::supported() { observed } else { 0 };
    assert_eq!(flushing.load(Relaxed), want_flushing);
    // Both are the loop's: gone once it returns.
    assert_eq!(current_region(), None);
    assert_eq!(is_flushing(), before);
    assert!(
        device.recorded().iter().any(|&s| s != 0.0),
        "the tone was played"
    );
}

/// The real audio thread (`spawn_audio_thread`: signals, real-time set-up, the mapping,
/// then the checked loop) on alsa-lib's `null` PCM, with the MIDI clock asked for, so
/// `publish_clock` runs every period. A `play --once`-style run: the thread ends by itself
/// when the song has played.
#[test]
fn the_audio_thread_on_an_alsa_pcm_publishes_the_midi_clock_without_allocating() {
    let (pcm, granted) = open_output(&OutputRequest {
        device: "null",
        rate: RATE,
        channels: 2,
        format: SampleFormat::S16Le,
        period_frames: 256,
        periods: 3,
    })
    .expect("alsa-lib's null PCM opens");
    let (engine, mut handle) = Engine::new(granted.rate, granted.channels as usize, 1.0);
    let status = handle.status.clone();
    status.clock_wanted.store(true, Relaxed);
    assert!(handle.switch_song(tone(RATE as usize / 2), 0, true));
    let audio = spawn_audio_thread(pcm, granted, engine, NoObserver, 1, None, true).unwrap();
    let exit = audio.join().expect("the audio thread ended by itself");
    assert_eq!(exit.result, Ok(()));
    let clock = status.audio_clock.read().expect("the clock was published");
    // Half a second at 256-frame periods is about 94 periods, each one published.
    assert!(clock.period >= 90, "{} clock periods", clock.period);
    assert!(clock.wake_ns > 0 && clock.frames > 0);
    drop(exit);
}
