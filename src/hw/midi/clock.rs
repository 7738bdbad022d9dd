//! MIDI clock out: the scheduling maths, pure and unit-tested.
//!
//! The audio loop publishes, for every period it writes, when that period will be heard
//! ([`AudioClockSample`]: the wake time, the frames still queued in the device buffer, the
//! frames written, the song position after them, the speed). From that the midi thread knows
//! the song position at a future wall-clock time for every frame already mixed: the end of
//! the period is heard at `wake + (delay + frames) / rate`. [`ClockScheduler`] turns each
//! new period into the 24-per-quarter clocks that fall inside it, with their times, and the
//! midi thread puts them on a real-time sequencer queue at those times. Clocks are only
//! scheduled for audio that is already mixed (so a loop wrap or seek never has to take back
//! a clock), which is the output latency ahead of the sound: a few milliseconds.
//!
//! The times are smoothed by [`TimeFilter`]: the device plays at a steady rate, so the
//! heard-at time of period n+1 is that of n plus one period; each new measurement only
//! nudges the estimate (the device pointer moves in DMA bursts, the wake-up has jitter).
//!
//! Where the beats are comes from a [`BeatMap`] ("beat position at song frame"): today
//! [`ConstantTempo`] from the song's `bpm`; a tempo map implements the same trait.
//!
//! Transport, as the MIDI spec has it: `Start` when the song plays from its start, `Stop` on
//! stop and pause, `Song Position Pointer` + `Continue` on resume, and on a jump (seek,
//! section jump, loop wrap, song change mid-play: a `Stop` first). The pointer counts
//! sixteenths, so after a jump the clock resumes on the next sixteenth; the clocks between
//! the jump target and it are not sent (at most 5, a sixteenth note). A jump inside a period
//! is placed at the period's start (at most one period early).

use crate::rt::status::{AudioClockSample, Transport};

/// MIDI clocks per quarter note.
pub const PPQN: f64 = 24.0;

/// Largest Song Position Pointer (14 bits of sixteenths).
pub const MAX_SPP: u16 = 0x3fff;

/// Where the song's beats fall: quarter-note beats from the song's start at a song frame,
/// and back. Both must be increasing.
pub trait BeatMap {
    /// Quarter-note beats at song frame `frame` (0 at the song's start).
    fn beat_at(&self, frame: f64) -> f64;
    /// The song frame where beat `beat` falls.
    fn frame_at(&self, beat: f64) -> f64;
}

/// One tempo for the whole song (`song.json` `bpm`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConstantTempo {
    frames_per_beat: f64,
}

impl ConstantTempo {
    /// `None` for a tempo no clock can follow (not finite, below 1 or above 999 bpm) or a
    /// rate of 0.
    pub fn new(bpm: f64, rate: f64) -> Option<ConstantTempo> {
        let ok = bpm.is_finite() && (1.0..1000.0).contains(&bpm) && rate.is_finite() && rate >= 1.0;
        ok.then(|| ConstantTempo {
            frames_per_beat: rate * 60.0 / bpm,
        })
    }
}

impl BeatMap for ConstantTempo {
    fn beat_at(&self, frame: f64) -> f64 {
        frame / self.frames_per_beat
    }

    fn frame_at(&self, beat: f64) -> f64 {
        beat * self.frames_per_beat
    }
}

/// A MIDI real-time or system-common message the clock sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockMsg {
    /// 0xF8, 24 per quarter note.
    Clock,
    /// 0xFA: play from the song's start.
    Start,
    /// 0xFB: play on from the Song Position Pointer.
    Continue,
    /// 0xFC.
    Stop,
    /// 0xF2, in sixteenths from the song's start.
    SongPosition(u16),
}

/// A message and when it must go out (CLOCK_MONOTONIC, ns).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timed {
    pub at_ns: u64,
    pub msg: ClockMsg,
}

/// Smooths the heard-at time of each period's end (see the module doc).
#[derive(Clone, Copy, Debug, Default)]
pub struct TimeFilter {
    est_ns: Option<f64>,
    n: u32,
}

/// A measurement further than this from the prediction restarts the filter (an xrun, a
/// device restarted): a stream that restarts has a new timeline.
const FILTER_RESET_NS: f64 = 20e6;

/// A settled filter moves by 1/64 of each measurement's error: a device pointer moving in
/// 4 ms bursts then moves a clock by well under the 0.32 ms a MIDI byte takes on the wire,
/// while a sound card's rate error (100 ppm: 0.5 us per period) is still followed at once.
const FILTER_WEIGHT: u32 = 64;

impl TimeFilter {
    /// The smoothed time for a measured `raw_ns`, `advance_ns` (the periods since the last
    /// call) after the previous estimate.
    pub fn update(&mut self, raw_ns: f64, advance_ns: f64) -> f64 {
        let est = match self.est_ns {
            Some(prev) => {
                let predicted = prev + advance_ns;
                let err = raw_ns - predicted;
                if err.abs() > FILTER_RESET_NS || !err.is_finite() {
                    self.n = 1;
                    raw_ns
                } else {
                    self.n = self.n.saturating_add(1);
                    predicted + err / f64::from(self.n.min(FILTER_WEIGHT))
                }
            }
            None => {
                self.n = 1;
                raw_ns
            }
        };
        self.est_ns = Some(est);
        est
    }
}

/// The period last seen.
#[derive(Clone, Copy, Debug)]
struct Seen {
    period: u64,
    pos_end: f64,
    frames: f64,
    song_serial: u32,
}

/// Most clocks one period may produce (a hostile tempo must not loop for long).
const MAX_TICKS_PER_PERIOD: usize = 4096;

/// Turns published periods into timed clock messages. Owned by the midi thread.
#[derive(Clone, Debug, Default)]
pub struct ClockScheduler {
    filter: TimeFilter,
    seen: Option<Seen>,
    running: bool,
    /// Next clock to send, counted from the song's start.
    next_tick: u64,
    /// Messages go out in time order.
    last_at_ns: u64,
}

impl ClockScheduler {
    pub fn new() -> ClockScheduler {
        ClockScheduler::default()
    }

    /// Whether clocks are being sent (between Start/Continue and Stop).
    pub fn running(&self) -> bool {
        self.running
    }

    /// One published period (the latest; periods the midi thread did not see in between
    /// are assumed the same size). `map`: the current song's beats, `None` when it has no
    /// tempo (then no clock runs). Appends what to send to `out`, in time order.
    pub fn on_period(
        &mut self,
        s: &AudioClockSample,
        map: Option<&dyn BeatMap>,
        out: &mut Vec<Timed>,
    ) {
        if self.seen.is_some_and(|seen| seen.period == s.period) || s.rate == 0 || s.frames == 0 {
            return;
        }
        let rate = f64::from(s.rate);
        let frames = f64::from(s.frames);
        let speed = match s.speed_pct_x100 {
            0 => 1.0,
            v => f64::from(v) / 10_000.0,
        };
        let gap = self
            .seen
            .map_or(1, |seen| s.period.saturating_sub(seen.period).max(1)) as f64;
        let raw_end = s.wake_ns as f64 + (f64::from(s.delay_frames) + frames) * 1e9 / rate;
        let end_ns = self.filter.update(raw_end, gap * frames * 1e9 / rate);
        let start_ns = end_ns - frames * 1e9 / rate;
        let pos_end = s.song_pos as f64;
        let start_pos = pos_end - frames * speed;
        let rolling = Transport::from_u8(s.transport) == Transport::Playing && !s.counting_in;
        let seen = self.seen.replace(Seen {
            period: s.period,
            pos_end,
            frames,
            song_serial: s.song_serial,
        });
        let Some(map) = map.filter(|_| rolling) else {
            if self.running {
                self.push(start_ns, ClockMsg::Stop, out);
                self.running = false;
            }
            return;
        };
        if self.running {
            let jumped = seen.is_none_or(|seen| {
                let expected = seen.pos_end + (gap - 1.0) * seen.frames * speed;
                seen.song_serial != s.song_serial
                    || (start_pos - expected).abs() > 0.5 * frames * speed.max(1.0) + 2.0
            });
            if jumped {
                self.push(start_ns, ClockMsg::Stop, out);
                self.running = false;
            }
        }
        if !self.running {
            self.running = true;
            let beat = map.beat_at(start_pos.max(0.0));
            if beat * PPQN < 0.5 {
                // From the song's start: the first clock is beat 1.
                self.next_tick = 0;
                self.push(start_ns, ClockMsg::Start, out);
            } else {
                let spp = (beat * 4.0).ceil().min(f64::from(MAX_SPP)) as u16;
                self.next_tick = u64::from(spp) * 6;
                self.push(start_ns, ClockMsg::SongPosition(spp), out);
                self.push(start_ns, ClockMsg::Continue, out);
            }
        }
        for _ in 0..MAX_TICKS_PER_PERIOD {
            let frame = map.frame_at(self.next_tick as f64 / PPQN);
            // NaN (a broken map) ends the loop too.
            if frame.partial_cmp(&pos_end).is_none_or(|o| o.is_gt()) {
                break;
            }
            let at = end_ns - (pos_end - frame) / (speed * rate) * 1e9;
            self.push(at, ClockMsg::Clock, out);
            self.next_tick += 1;
        }
    }

    fn push(&mut self, at_ns: f64, msg: ClockMsg, out: &mut Vec<Timed>) {
        let at = if at_ns.is_finite() && at_ns > 0.0 {
            at_ns as u64
        } else {
            0
        };
        let at = at.max(self.last_at_ns);
        self.last_at_ns = at;
        out.push(Timed { at_ns: at, msg });
    }
}

/// The song's tempo map as [`BeatMap`] (the whole map, where a thread holds the song).
impl BeatMap for crate::model::tempo::TempoMap {
    fn beat_at(&self, frame: f64) -> f64 {
        self.quarter_at(frame)
    }

    fn frame_at(&self, beat: f64) -> f64 {
        self.frame_of_quarter(beat)
    }
}

/// The tempo map around one published period: the engine evaluates the song's
/// [`TempoMap`](crate::model::tempo::TempoMap) at the heard position (quarter notes and
/// tempo there); within the few milliseconds of a period the beats are a straight line
/// through that point. So the midi thread needs no copy of the song.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LocalTempo {
    pos: f64,
    quarter: f64,
    tempo: ConstantTempo,
}

impl BeatMap for LocalTempo {
    fn beat_at(&self, frame: f64) -> f64 {
        self.quarter - self.tempo.beat_at(self.pos - frame)
    }

    fn frame_at(&self, beat: f64) -> f64 {
        self.pos - self.tempo.frame_at(self.quarter - beat)
    }
}

/// The beats around a published period; `None` when the song has no tempo (or what was
/// published is not a usable one).
pub fn tempo_of(s: &AudioClockSample) -> Option<LocalTempo> {
    let tempo = ConstantTempo::new(f64::from(s.song_bpm_milli) / 1000.0, f64::from(s.rate))?;
    s.song_quarter.is_finite().then_some(LocalTempo {
        pos: s.song_pos as f64,
        quarter: s.song_quarter,
        tempo,
    })
}

#[cfg(test)]
mod tests;
