//! The tempo map's queries, which the audio thread (generated click) and the MIDI clock make
//! every period, never allocate. Own test binary: the allocator hook is process-wide;
//! assert_no_alloc is off in release builds, so this file is empty there.
#![cfg(debug_assertions)]

use assert_no_alloc::{assert_no_alloc, AllocDisabler};
use stembox::model::tempo::TimeSignature;
use stembox::model::tempo::{TempoChange, TempoMap};

#[global_allocator]
static A: AllocDisabler = AllocDisabler;

#[test]
fn tempo_map_queries_do_not_allocate() {
    let sig = |s| TimeSignature::parse(s).unwrap();
    let map = TempoMap::new(
        &[
            TempoChange {
                bar: 1,
                bpm: 120.0,
                time_signature: sig("4/4"),
            },
            TempoChange {
                bar: 3,
                bpm: 120.0,
                time_signature: sig("3/4"),
            },
            TempoChange {
                bar: 4,
                bpm: 97.3,
                time_signature: sig("6/8"),
            },
        ],
        48_000,
    )
    .unwrap();
    let mut beats = 0;
    let mut sum = 0.0;
    assert_no_alloc(|| {
        let mut at = 0.0;
        while at < 2_000_000.0 {
            for b in map.beats(at, at + 256.0) {
                beats += 1;
                sum += b.frame;
            }
            sum += map.quarter_at(at) + map.frame_of_quarter(at / 24_000.0);
            at += 256.0;
        }
        sum += map.beat_at_or_after(123_456.0).frame;
        sum += map.frame_of_bar(7.5) + map.frame_of_beat(9, 2) + map.bpm_at(1e6);
    });
    assert!(beats > 50 && sum > 0.0);
}
