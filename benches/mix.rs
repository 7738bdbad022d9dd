//! Mixing cost per period: 16 stereo stems into a stereo period of 64 and 256 frames, with
//! unity gains (the common case) and with every gain ramping (the worst case), plus the
//! conversion to S16_LE that follows the mix in the audio loop.

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

criterion_group!(benches, mix);
criterion_main!(benches);
