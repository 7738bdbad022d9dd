use super::*;

const RATE: u32 = 48_000;
const PERIOD: u32 = 256;
const T0: u64 = 5_000_000_000;

/// A simulated audio loop: `n` periods, the device buffer two periods deep.
struct Sim {
    period: u64,
    pos: f64,
    speed: f64,
    transport: Transport,
    bpm: f64,
    serial: u32,
    /// Extra wake-up delay of the next period (the clock reads later, avail is smaller).
    jitter_ns: u64,
}

impl Sim {
    fn new(bpm: f64) -> Sim {
        Sim {
            period: 0,
            pos: 0.0,
            speed: 1.0,
            transport: Transport::Playing,
            bpm,
            serial: 1,
            jitter_ns: 0,
        }
    }

    /// The next period as the audio loop would publish it. The period's first frame plays
    /// at T0 + period * PERIOD / RATE + one buffer of latency, whatever the wake jitter.
    fn next(&mut self) -> AudioClockSample {
        self.period += 1;
        if self.transport == Transport::Playing {
            self.pos += f64::from(PERIOD) * self.speed;
        }
        let first_plays_ns = T0
            + (self.period - 1) * u64::from(PERIOD) * 1_000_000_000 / u64::from(RATE)
            + 2 * u64::from(PERIOD) * 1_000_000_000 / u64::from(RATE);
        let wake_ns = T0
            + (self.period - 1) * u64::from(PERIOD) * 1_000_000_000 / u64::from(RATE)
            + self.jitter_ns;
        let delay_frames =
            ((first_plays_ns - wake_ns) as f64 * f64::from(RATE) / 1e9).round() as u32;
        AudioClockSample {
            period: self.period,
            wake_ns,
            delay_frames,
            frames: PERIOD,
            song_pos: self.pos.round() as u64,
            speed_pct_x100: (self.speed * 10_000.0).round() as u32,
            transport: self.transport as u8,
            counting_in: false,
            song_serial: self.serial,
            song_bpm_milli: (self.bpm * 1000.0) as u32,
            song_quarter: self.pos.round() * self.bpm / 60.0 / f64::from(RATE),
            rate: RATE,
        }
    }
}

fn run(sim: &mut Sim, sched: &mut ClockScheduler, periods: usize, out: &mut Vec<Timed>) {
    for _ in 0..periods {
        let s = sim.next();
        let map = tempo_of(&s);
        sched.on_period(&s, map.as_ref().map(|m| m as &dyn BeatMap), out);
    }
}

fn clocks(out: &[Timed]) -> Vec<u64> {
    out.iter()
        .filter(|t| t.msg == ClockMsg::Clock)
        .map(|t| t.at_ns)
        .collect()
}

fn intervals_ms(at: &[u64]) -> Vec<f64> {
    at.windows(2).map(|w| (w[1] - w[0]) as f64 / 1e6).collect()
}

#[test]
fn start_then_24_clocks_per_quarter_at_the_song_tempo() {
    let mut sim = Sim::new(120.0);
    let mut sched = ClockScheduler::new();
    let mut out = Vec::new();
    run(
        &mut sim,
        &mut sched,
        (10 * RATE / PERIOD) as usize,
        &mut out,
    );
    assert_eq!(out[0].msg, ClockMsg::Start);
    assert_eq!(out[1].msg, ClockMsg::Clock);
    // The first clock is the song's first frame: heard one buffer after T0.
    let first_heard = T0 + 2 * 256 * 1_000_000_000 / 48_000;
    assert!(
        out[1].at_ns.abs_diff(first_heard) < 30_000,
        "{} vs {first_heard}",
        out[1].at_ns
    );
    let c = clocks(&out);
    // 10 s at 120 bpm: 20 beats, 480 clocks (+1 for the one at 0, +-1 at the edge).
    assert!((479..=482).contains(&c.len()), "{}", c.len());
    for ms in intervals_ms(&c) {
        assert!((ms - 500.0 / 24.0).abs() < 0.05, "{ms} ms");
    }
    assert!(out.windows(2).all(|w| w[0].at_ns <= w[1].at_ns));
}

#[test]
fn speed_changes_the_clock_rate_from_that_period_on() {
    let mut sim = Sim::new(100.0);
    let mut sched = ClockScheduler::new();
    let mut out = Vec::new();
    run(&mut sim, &mut sched, 400, &mut out);
    let before = clocks(&out).len();
    sim.speed = 0.8;
    run(&mut sim, &mut sched, 1000, &mut out);
    let c = clocks(&out);
    // No jump (no Stop) for a speed change.
    assert!(!out.iter().any(|t| t.msg == ClockMsg::Stop));
    let tail = intervals_ms(&c[before + 2..]);
    let want = 60_000.0 / (100.0 * 0.8) / 24.0;
    for ms in tail {
        assert!((ms - want).abs() < 0.05, "{ms} vs {want}");
    }
}

#[test]
fn loop_wrap_sends_stop_song_position_and_continue_on_the_grid() {
    let mut sim = Sim::new(120.0);
    let mut sched = ClockScheduler::new();
    let mut out = Vec::new();
    run(&mut sim, &mut sched, 1000, &mut out); // 5.33 s: 10.67 beats
    let n = out.len();
    // Loop back to 1.3 s (2.6 beats: not on a sixteenth).
    sim.pos = 1.3 * f64::from(RATE);
    run(&mut sim, &mut sched, 200, &mut out);
    let after: Vec<_> = out[n..].iter().map(|t| t.msg).collect();
    // The pointer rounds up to the next sixteenth: 2.6 beats = 10.4 sixteenths -> 11.
    assert_eq!(
        after[..3],
        [
            ClockMsg::Stop,
            ClockMsg::SongPosition(11),
            ClockMsg::Continue
        ]
    );
    // The first clock after Continue is sixteenth 11 = beat 2.75, heard when the song is there.
    let first = out[n + 3];
    assert_eq!(first.msg, ClockMsg::Clock);
    let wrap_heard = out[n].at_ns as f64; // the period the wrap was in starts here
    let want = wrap_heard + (2.75 - 2.6) * 0.5e9 - f64::from(PERIOD) / 48_000.0 * 1e9 * 0.0;
    // The wrap is placed at the period's start, so the pointer's time is exact to within
    // one period.
    assert!(
        (first.at_ns as f64 - want).abs() < 5.4e6,
        "{} vs {want}",
        first.at_ns
    );
    // And the grid continues at 24 per quarter.
    for ms in intervals_ms(&clocks(&out[n..])) {
        assert!((ms - 500.0 / 24.0).abs() < 0.05, "{ms}");
    }
}

#[test]
fn pause_stops_and_resume_continues_song_change_restarts() {
    let mut sim = Sim::new(90.0);
    let mut sched = ClockScheduler::new();
    let mut out = Vec::new();
    run(&mut sim, &mut sched, 500, &mut out);
    sim.transport = Transport::Paused;
    let n = out.len();
    run(&mut sim, &mut sched, 100, &mut out);
    assert_eq!(
        out[n..].iter().map(|t| t.msg).collect::<Vec<_>>(),
        [ClockMsg::Stop]
    );
    sim.transport = Transport::Playing;
    run(&mut sim, &mut sched, 10, &mut out);
    let msgs: Vec<_> = out[n + 1..].iter().map(|t| t.msg).collect();
    assert!(
        matches!(msgs[..2], [ClockMsg::SongPosition(_), ClockMsg::Continue]),
        "{msgs:?}"
    );
    // Stop: back to the start; play again: Start.
    sim.transport = Transport::Stopped;
    sim.pos = 0.0;
    run(&mut sim, &mut sched, 10, &mut out);
    let n = out.len();
    assert_eq!(out[n - 1].msg, ClockMsg::Stop);
    sim.transport = Transport::Playing;
    run(&mut sim, &mut sched, 10, &mut out);
    assert_eq!(out[n].msg, ClockMsg::Start);
    // A new song mid-play (new serial) from its start: Stop, Start.
    let n = out.len();
    sim.serial += 1;
    sim.pos = 0.0;
    run(&mut sim, &mut sched, 5, &mut out);
    assert_eq!(out[n].msg, ClockMsg::Stop);
    assert_eq!(out[n + 1].msg, ClockMsg::Start);
}

#[test]
fn wake_jitter_is_smoothed_and_missed_periods_do_not_matter() {
    let mut sim = Sim::new(120.0);
    let mut sched = ClockScheduler::new();
    let mut out = Vec::new();
    // Settle, then wake up to 3 ms late at random (a busy or emulated machine), and let the
    // midi thread see only every third period.
    run(&mut sim, &mut sched, 200, &mut out);
    let n = clocks(&out).len();
    let mut x = 12345u64;
    for i in 0..3000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        sim.jitter_ns = (x >> 33) % 3_000_000;
        let s = sim.next();
        if i % 3 == 0 {
            let map = tempo_of(&s);
            sched.on_period(&s, map.as_ref().map(|m| m as &dyn BeatMap), &mut out);
        }
    }
    let c = clocks(&out);
    let mut err: Vec<f64> = intervals_ms(&c[n..])
        .iter()
        .map(|ms| (ms - 500.0 / 24.0).abs())
        .collect();
    err.sort_by(f64::total_cmp);
    let p99 = err[err.len() * 99 / 100];
    // The delay is measured through avail, so wake jitter alone moves nothing; the filter
    // keeps rounding of delay_frames (+-1 frame) from showing.
    assert!(p99 < 0.1, "p99 interval error {p99} ms");
    assert!(
        !out.iter().any(|t| t.msg == ClockMsg::Stop),
        "no false jumps"
    );
}

#[test]
fn a_device_pointer_that_moves_in_bursts_is_smoothed() {
    // An emulated or USB device updates its position in chunks: the measured delay is up
    // to 4 ms too long at random. One measurement moves the estimate by at most 1/64 of
    // its error.
    let mut sim = Sim::new(120.0);
    let mut sched = ClockScheduler::new();
    let mut out = Vec::new();
    let mut x = 99u64;
    for _ in 0..4000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut s = sim.next();
        s.delay_frames += ((x >> 33) % 192) as u32;
        let map = tempo_of(&s);
        sched.on_period(&s, map.as_ref().map(|m| m as &dyn BeatMap), &mut out);
    }
    let c = clocks(&out);
    let mut err: Vec<f64> = intervals_ms(&c[200..])
        .iter()
        .map(|ms| (ms - 500.0 / 24.0).abs())
        .collect();
    err.sort_by(f64::total_cmp);
    let (p99, max) = (err[err.len() * 99 / 100], err[err.len() - 1]);
    assert!(p99 < 0.15 && max < 0.3, "p99 {p99} ms, max {max} ms");
    assert!(
        !out.iter().any(|t| t.msg == ClockMsg::Stop),
        "no false jumps"
    );
}

#[test]
fn a_plugged_in_tempo_map_is_followed() {
    /// 120 bpm for 4 beats, then 60 bpm.
    struct TwoTempos;
    impl BeatMap for TwoTempos {
        fn beat_at(&self, f: f64) -> f64 {
            let change = 4.0 * 24_000.0;
            if f < change {
                f / 24_000.0
            } else {
                4.0 + (f - change) / 48_000.0
            }
        }
        fn frame_at(&self, b: f64) -> f64 {
            if b < 4.0 {
                b * 24_000.0
            } else {
                4.0 * 24_000.0 + (b - 4.0) * 48_000.0
            }
        }
    }
    let mut sim = Sim::new(120.0);
    let mut sched = ClockScheduler::new();
    let mut out = Vec::new();
    for _ in 0..1500 {
        let s = sim.next();
        sched.on_period(&s, Some(&TwoTempos), &mut out);
    }
    let iv = intervals_ms(&clocks(&out));
    assert!((iv[10] - 500.0 / 24.0).abs() < 0.05);
    assert!((iv[200] - 1000.0 / 24.0).abs() < 0.05, "{}", iv[200]);
}

#[test]
fn hostile_samples_send_nothing_or_stop() {
    let mut sched = ClockScheduler::new();
    let mut out = Vec::new();
    let mut sim = Sim::new(120.0);
    for bpm in [0.0, f64::NAN, 1e9, -5.0] {
        sim.bpm = bpm;
        let s = sim.next();
        assert!(tempo_of(&s).is_none(), "{bpm}");
        sched.on_period(&s, None, &mut out);
    }
    assert!(out.is_empty());
    // Rate 0, zero frames, a repeated period: ignored.
    let mut s = sim.next();
    s.rate = 0;
    let map = ConstantTempo::new(120.0, 48_000.0).unwrap();
    sched.on_period(&s, Some(&map), &mut out);
    s.rate = RATE;
    s.frames = 0;
    sched.on_period(&s, Some(&map), &mut out);
    assert!(out.is_empty());
    // Garbage timing (wake at 0, huge delay, position near u64::MAX) cannot loop or panic,
    // and stays bounded per period.
    for (wake, delay, pos) in [
        (0, u32::MAX, u64::MAX),
        (u64::MAX, 0, 0),
        (1, 1, u64::MAX / 2),
    ] {
        let mut s = sim.next();
        s.wake_ns = wake;
        s.delay_frames = delay;
        s.song_pos = pos;
        let before = out.len();
        sched.on_period(&s, Some(&map), &mut out);
        assert!(out.len() - before <= MAX_TICKS_PER_PERIOD + 3);
    }
}

/// The engine publishes the song's tempo map at the heard position (quarter notes and
/// bpm there); the clocks built from those samples land on the map's quarter-note grid
/// through a tempo change and a 3/4 bar.
#[test]
fn published_tempo_map_positions_put_clocks_on_the_maps_grid() {
    use crate::model::tempo::TimeSignature;
    use crate::model::tempo::{TempoChange, TempoMap};
    let ts = |beats_per_bar, beat_unit| TimeSignature {
        beats_per_bar,
        beat_unit,
    };
    let map = TempoMap::new(
        &[
            TempoChange {
                bar: 1,
                bpm: 120.0,
                time_signature: ts(4, 4),
            },
            TempoChange {
                bar: 3,
                bpm: 120.0,
                time_signature: ts(3, 4),
            },
            TempoChange {
                bar: 4,
                bpm: 90.0,
                time_signature: ts(4, 4),
            },
        ],
        RATE,
    )
    .unwrap();
    let mut sim = Sim::new(120.0);
    let mut sched = ClockScheduler::new();
    let mut out = Vec::new();
    for _ in 0..2000 {
        let mut s = sim.next();
        // What Engine::publish stores.
        s.song_quarter = map.quarter_at(s.song_pos as f64);
        s.song_bpm_milli = (map.bpm_at(s.song_pos as f64) * 1000.0).round() as u32;
        let local = tempo_of(&s);
        sched.on_period(&s, local.as_ref().map(|m| m as &dyn BeatMap), &mut out);
    }
    let c = clocks(&out);
    let heard0 = (T0 + 2 * 256 * 1_000_000_000 / 48_000) as f64;
    // Clock k is heard when the song reaches quarter k / 24 of the map; the straight line
    // through each period's point is off by a fraction of a period at the change only.
    let mut worst: f64 = 0.0;
    for (k, &at) in c.iter().enumerate() {
        let want = heard0 + map.frame_of_quarter(k as f64 / 24.0) / f64::from(RATE) * 1e9;
        worst = worst.max((at as f64 - want).abs());
    }
    assert!(
        worst < 50_000.0,
        "worst {} us off the map's grid",
        worst / 1e3
    );
    // 10.67 s: 8 beats at 120 (4 s) + 3 beats (1.5 s) + the rest at 90 bpm.
    let quarters = 4.0 * 2.0 + 3.0 + (2000.0 * 256.0 / 48_000.0 - 5.5) * 1.5;
    assert!(
        (c.len() as f64 - quarters * 24.0).abs() <= 2.0,
        "{}",
        c.len()
    );
    // And a published NaN position or tempo gives no map.
    let mut s = sim.next();
    s.song_quarter = f64::NAN;
    assert!(tempo_of(&s).is_none());
}
