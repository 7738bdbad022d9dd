//! Mixing cost per period: 16 stereo stems into a stereo period of 64 and 256 frames, with
//! unity gains (the common case) and with every gain ramping (the worst case), plus the
//! conversion to S16_LE that follows the mix in the audio loop. Buses: the same 16 stems
//! on a 2-channel device (main only) against an 8-channel one with 4 buses (main 1-2,
//! cue 3-4, fx 5-6, a mono bus on 7), stems spread over them (some on two), cue at a
//! non-unity gain; `Engine::process` alone, 256 frames.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::hint::black_box;
use std::sync::Arc;
use stembox::model::song::{Song, Stem};
use stembox::rt::command::Command;
use stembox::rt::convert::{convert, S16Le};
use stembox::rt::engine::Engine;

const STEMS: usize = 16;
const FRAMES: usize = 48_000 * 30;

fn song() -> Arc<Song> {
    let stems = (0..STEMS)
        .map(|i| {
            let samples = (0..FRAMES * 2)
                .map(|j| ((j * (i + 7)) % 977) as f32 / 9770.0 - 0.05)
                .collect();
            Stem::new(format!("s{i}"), samples)
        })
        .collect();
    Arc::new(Song::new("bench", 48_000, stems))
}

fn playing(song: &Arc<Song>) -> (Engine, stembox::rt::engine::EngineHandle) {
    let (mut e, mut h) = Engine::new(48_000, 2, 1.0);
    assert!(h.switch_song(song.clone(), 0, true));
    e.process(&mut [0.0; 2]);
    // Loop the whole song so the benchmark never runs into its end.
    h.send(Command::Loop {
        region: Some((0, FRAMES as u64)),
    })
    .unwrap();
    (e, h)
}

fn mix(c: &mut Criterion) {
    let s = song();
    for frames in [64usize, 256] {
        let (mut e, _h) = playing(&s);
        let mut out = vec![0.0f32; frames * 2];
        let mut dev = vec![0i16; frames * 2];
        c.bench_function(
            &format!("mix 16 stereo stems, {frames}-frame period, unity"),
            |b| {
                b.iter(|| {
                    e.process(black_box(&mut out));
                    convert::<S16Le>(&out, &mut dev);
                    black_box(&dev);
                })
            },
        );
        let (mut e, mut h) = playing(&s);
        let mut flip = false;
        c.bench_function(
            &format!("mix 16 stereo stems, {frames}-frame period, all gains ramping"),
            |b| {
                b.iter_batched(
                    || {
                        flip = !flip;
                        for stem in 0..STEMS as u8 {
                            let gain = if flip { 0.5 } else { 1.0 };
                            h.send(Command::StemGain { stem, gain }).unwrap();
                        }
                    },
                    |_| {
                        e.process(black_box(&mut out));
                        convert::<S16Le>(&out, &mut dev);
                        black_box(&dev);
                    },
                    BatchSize::PerIteration,
                )
            },
        );
    }
}

fn routed_song() -> Arc<Song> {
    let mut song = Arc::try_unwrap(song()).unwrap_or_else(|_| unreachable!());
    // 8 main, 3 cue, 3 main+cue, 1 fx, 1 mono bus.
    let masks = [1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 8];
    for (stem, m) in song.stems_mut().iter_mut().zip(masks) {
        stem.bus_mask = m;
    }
    Arc::new(song)
}

fn buses(c: &mut Criterion) {
    use stembox::rt::bus::{BusOut, BusTable};
    const FRAMES_PER_PERIOD: usize = 256;
    let (mut e, _h) = playing(&song());
    let mut out = vec![0.0f32; FRAMES_PER_PERIOD * 2];
    c.bench_function("buses: 16 stems, 2 channels, main only, 256 frames", |b| {
        b.iter(|| e.process(black_box(&mut out)))
    });
    let s = routed_song();
    let (mut e, mut h) = Engine::new(48_000, 8, 1.0);
    let table = BusTable::new(
        &[
            BusOut::stereo(0, 1),
            BusOut::stereo(2, 3),
            BusOut::stereo(4, 5),
            BusOut::mono(6),
        ],
        Some(1),
        8,
    )
    .unwrap();
    e.set_buses(table).unwrap();
    assert!(h.switch_song(s.clone(), 0, true));
    e.process(&mut [0.0; 8]);
    h.send(Command::Loop {
        region: Some((0, FRAMES as u64)),
    })
    .unwrap();
    h.send(Command::BusGain { bus: 1, gain: 0.7 }).unwrap();
    let mut out = vec![0.0f32; FRAMES_PER_PERIOD * 8];
    c.bench_function(
        "buses: 16 stems, 8 channels, 4 buses, cue at -3 dB, 256 frames",
        |b| b.iter(|| e.process(black_box(&mut out))),
    );
}

criterion_group!(benches, mix, buses);
criterion_main!(benches);
