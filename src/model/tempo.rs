//! A song's tempo map: where its bars and beats fall, for the generated click, MIDI clock
//! and sections given in bars. Built off the audio thread (by the loader, from `song.json`'s
//! `tempo_map` or its single `bpm`); every query is pure, allocation-free and constant or
//! logarithmic time, so the audio thread and the MIDI clock may ask it anything.
//!
//! Units, as DAWs show them:
//! - `bpm` is quarter notes per minute, whatever the time signature.
//! - A **beat** is the time signature's lower note: in 6/8 a beat is an eighth and a bar has
//!   6 beats (the click ticks 6 times a bar, the first accented); in 2/2 a beat is a half.
//! - **Quarter notes** count from the song's start (0.0 = first frame); MIDI clock sends
//!   24 ticks per quarter and Song Position Pointer counts sixteenths (4 per quarter),
//!   independent of the time signature.
//! - Bars are 1-based; beats within a bar are 1-based too (bar 1 beat 1 = frame 0).
//!
//! Positions are `f64` frames at the map's rate (a map at rate 1 counts seconds). Each
//! segment's beats are `start + n * beat_frames` from the segment's exact start, so no
//! error accumulates along a long song; segment starts are sums of whole bars.

/// A time signature: `beats_per_bar` beats of `beat_unit` notes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeSignature {
    /// The upper number: beats in a bar (and clicks in a count-in bar).
    pub beats_per_bar: u32,
    /// The lower number: the note value of a beat (4 = quarter, 8 = eighth).
    pub beat_unit: u32,
}

impl Default for TimeSignature {
    fn default() -> Self {
        TimeSignature {
            beats_per_bar: 4,
            beat_unit: 4,
        }
    }
}

impl TimeSignature {
    /// Parses `"4/4"`, `"6/8"`, `"7/16"`.
    pub fn parse(text: &str) -> Result<TimeSignature, String> {
        let bad = || {
            format!(
                "\"{text}\" is not a time signature like \"4/4\" or \"6/8\" \
                 (1..=32 beats of 1, 2, 4, 8, 16 or 32)"
            )
        };
        let (n, d) = text.trim().split_once('/').ok_or_else(bad)?;
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        let d: u32 = d.trim().parse().map_err(|_| bad())?;
        if !(1..=32).contains(&n) || ![1, 2, 4, 8, 16, 32].contains(&d) {
            return Err(bad());
        }
        Ok(TimeSignature {
            beats_per_bar: n,
            beat_unit: d,
        })
    }

    /// Seconds of one beat (one `beat_unit` note) at `bpm` quarter notes per minute.
    pub fn beat_s(&self, bpm: f64) -> f64 {
        60.0 / bpm * 4.0 / self.beat_unit as f64
    }

    /// Seconds of one bar at `bpm` quarter notes per minute.
    pub fn bar_s(&self, bpm: f64) -> f64 {
        self.beat_s(bpm) * self.beats_per_bar as f64
    }
}

/// Most tempo changes a song may have (a song with a change every bar for 64 bars of 4
/// would need 64; 256 leaves room for rubato written out as changes).
pub const MAX_TEMPO_CHANGES: usize = 256;
/// Tempos a map takes, in quarter notes per minute.
pub const MIN_BPM: f64 = 20.0;
pub const MAX_BPM: f64 = 400.0;

/// One change as written: from `bar` on (1-based), `bpm` and `time_signature` hold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TempoChange {
    pub bar: u32,
    /// Quarter notes per minute.
    pub bpm: f64,
    pub time_signature: TimeSignature,
}

/// What is wrong with a list of changes: `index` into it (or `None` for the list itself).
#[derive(Clone, Debug, PartialEq)]
pub struct TempoError {
    pub index: Option<usize>,
    pub why: String,
}

/// A stretch of bars at one tempo and metre, placed in frames.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TempoSegment {
    /// Its first bar (1-based).
    pub first_bar: u32,
    /// Frame of its first downbeat.
    pub start_frame: f64,
    /// Quarter notes from the song's start to its first downbeat.
    pub start_quarter: f64,
    /// Beats in it; `u64::MAX` for the last segment, which lasts for ever.
    pub beats: u64,
    pub bpm: f64,
    pub time_signature: TimeSignature,
    /// Frames of one beat (one lower-number note).
    pub beat_frames: f64,
    /// Frames of one quarter note.
    pub quarter_frames: f64,
}

impl TempoSegment {
    fn beats_per_bar(&self) -> u64 {
        self.time_signature.beats_per_bar as u64
    }

    fn beat(&self, n: u64) -> Beat {
        let bpb = self.beats_per_bar();
        let bar = (self.first_bar as u64).saturating_add(n / bpb);
        Beat {
            bar: bar.min(u32::MAX as u64) as u32,
            beat: (n % bpb) as u32 + 1,
            is_downbeat: n.is_multiple_of(bpb),
            frame: self.start_frame + n as f64 * self.beat_frames,
        }
    }
}

/// One beat of the grid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Beat {
    /// 1-based.
    pub bar: u32,
    /// 1-based within the bar.
    pub beat: u32,
    /// The bar's first beat: the accented click.
    pub is_downbeat: bool,
    /// Exact position in frames at the map's rate.
    pub frame: f64,
}

impl Beat {
    /// The first whole frame at or after the beat: where a click on it starts.
    pub fn onset_frame(&self) -> u64 {
        self.frame.max(0.0).ceil() as u64
    }
}

/// A song's bars and beats in frames; see the module doc for units.
#[derive(Clone, Debug, PartialEq)]
pub struct TempoMap {
    rate: u32,
    /// In time order, the first at bar 1 and frame 0; never empty.
    segments: Box<[TempoSegment]>,
}

impl TempoMap {
    /// The map of `changes` at `rate` frames per second (1 gives seconds). The first change
    /// must be at bar 1 (the caller puts the song's own bpm there); bars strictly increase;
    /// tempos are within [`MIN_BPM`]..=[`MAX_BPM`]; at most [`MAX_TEMPO_CHANGES`]. Not on the
    /// audio thread (allocates).
    pub fn new(changes: &[TempoChange], rate: u32) -> Result<TempoMap, TempoError> {
        let list = |why: String| TempoError { index: None, why };
        if rate == 0 {
            return Err(list("a tempo map needs a sample rate above 0".into()));
        }
        if changes.is_empty() {
            return Err(list(
                "an empty tempo map; leave it out or give at least one change".into(),
            ));
        }
        if changes.len() > MAX_TEMPO_CHANGES {
            return Err(list(format!(
                "{} tempo changes; at most {MAX_TEMPO_CHANGES}",
                changes.len()
            )));
        }
        let mut segments: Vec<TempoSegment> = Vec::with_capacity(changes.len());
        for (index, c) in changes.iter().enumerate() {
            let fail = |why: String| TempoError {
                index: Some(index),
                why,
            };
            if !(c.bpm.is_finite() && (MIN_BPM..=MAX_BPM).contains(&c.bpm)) {
                return Err(fail(format!(
                    "{} is outside {MIN_BPM}..={MAX_BPM} bpm",
                    c.bpm
                )));
            }
            let ts = c.time_signature;
            if !(1..=32).contains(&ts.beats_per_bar)
                || ![1, 2, 4, 8, 16, 32].contains(&ts.beat_unit)
            {
                return Err(fail(format!(
                    "{}/{} is not a time signature stembox plays (1..=32 beats of 1, 2, 4, 8, 16 or 32)",
                    ts.beats_per_bar, ts.beat_unit
                )));
            }
            let quarter_frames = 60.0 * rate as f64 / c.bpm;
            let beat_frames = quarter_frames * 4.0 / ts.beat_unit as f64;
            let (start_frame, start_quarter) = match segments.last_mut() {
                None if c.bar != 1 => {
                    return Err(fail(format!(
                        "the first change is at bar {}; the map must start at bar 1",
                        c.bar
                    )))
                }
                None => (0.0, 0.0),
                Some(prev) if c.bar <= prev.first_bar => {
                    return Err(fail(format!(
                        "bar {} does not come after the change before it (bar {}); \
                         list changes in order, one per bar",
                        c.bar, prev.first_bar
                    )))
                }
                Some(prev) => {
                    let bars = (c.bar - prev.first_bar) as u64;
                    prev.beats = bars * prev.beats_per_bar();
                    let beats = prev.beats as f64;
                    (
                        prev.start_frame + beats * prev.beat_frames,
                        prev.start_quarter + beats * 4.0 / prev.time_signature.beat_unit as f64,
                    )
                }
            };
            segments.push(TempoSegment {
                first_bar: c.bar,
                start_frame,
                start_quarter,
                beats: u64::MAX,
                bpm: c.bpm,
                time_signature: ts,
                beat_frames,
                quarter_frames,
            });
        }
        Ok(TempoMap {
            rate,
            segments: segments.into_boxed_slice(),
        })
    }

    /// A one-change map: `bpm` and `time_signature` for the whole song.
    pub fn constant(
        bpm: f64,
        time_signature: TimeSignature,
        rate: u32,
    ) -> Result<TempoMap, TempoError> {
        TempoMap::new(
            &[TempoChange {
                bar: 1,
                bpm,
                time_signature,
            }],
            rate,
        )
    }

    /// Frames per second the positions count.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// The segments in time order (never empty; the first starts at bar 1, frame 0).
    pub fn segments(&self) -> &[TempoSegment] {
        &self.segments
    }

    /// The segment playing at `frame` (the first one before the song's start).
    pub fn segment_at(&self, frame: f64) -> &TempoSegment {
        &self.segments[self.index_at(frame)]
    }

    fn index_at(&self, frame: f64) -> usize {
        self.segments
            .partition_point(|s| s.start_frame <= frame)
            .saturating_sub(1)
    }

    /// Frame of `bar` (1-based; a fraction is that part of the bar, so 2.5 is half way
    /// through bar 2). Bars before 1 count as bar 1; not finite counts as bar 1.
    pub fn frame_of_bar(&self, bar: f64) -> f64 {
        let bar = if bar.is_finite() { bar.max(1.0) } else { 1.0 };
        let i = self
            .segments
            .partition_point(|s| s.first_bar as f64 <= bar)
            .saturating_sub(1);
        let s = &self.segments[i];
        let bar_frames = s.beat_frames * s.beats_per_bar() as f64;
        s.start_frame + (bar - s.first_bar as f64) * bar_frames
    }

    /// Frame of beat `beat` (1-based) of bar `bar` (1-based). A beat past the bar's last
    /// counts on at the bar's tempo; 0 of either counts as 1.
    pub fn frame_of_beat(&self, bar: u32, beat: u32) -> f64 {
        let bar = bar.max(1);
        let i = self
            .segments
            .partition_point(|s| s.first_bar <= bar)
            .saturating_sub(1);
        let s = &self.segments[i];
        let n = (bar - s.first_bar) as u64 * s.beats_per_bar() + (beat.max(1) - 1) as u64;
        s.start_frame + n as f64 * s.beat_frames
    }

    /// The first beat at or after `frame` (bar 1 beat 1 for any frame up to 0).
    pub fn beat_at_or_after(&self, frame: f64) -> Beat {
        let (seg, n) = self.cursor(frame);
        self.segments[seg].beat(n)
    }

    /// Segment index and beat index in it of the first beat at or after `frame`.
    fn cursor(&self, frame: f64) -> (usize, u64) {
        if frame.is_nan() || frame <= 0.0 {
            return (0, 0);
        }
        let seg = self.index_at(frame);
        let s = &self.segments[seg];
        // `as` saturates: a frame beyond any song gives a huge but harmless beat index.
        let mut n = ((frame - s.start_frame) / s.beat_frames).floor().max(0.0) as u64;
        // Decide with the same expression the beat's frame is computed with, so a frame
        // exactly on a beat finds that beat whatever the division rounded to.
        if s.start_frame + n as f64 * s.beat_frames < frame {
            n = n.saturating_add(1);
        }
        if n >= s.beats && seg + 1 < self.segments.len() {
            (seg + 1, 0)
        } else {
            (seg, n)
        }
    }

    /// The beats with frames in `[from, to)`, in order, without allocating.
    pub fn beats(&self, from: f64, to: f64) -> Beats<'_> {
        let (seg, n) = self.cursor(from);
        Beats {
            map: self,
            seg,
            n,
            to,
        }
    }

    /// Quarter notes from the song's start to `frame` (negative before it, at the first
    /// tempo). Not finite gives 0.
    pub fn quarter_at(&self, frame: f64) -> f64 {
        if !frame.is_finite() {
            return 0.0;
        }
        let s = self.segment_at(frame);
        s.start_quarter + (frame - s.start_frame) / s.quarter_frames
    }

    /// Frame of a position in quarter notes from the song's start (for Song Position
    /// Pointer: sixteenths / 4). Not finite gives 0.
    pub fn frame_of_quarter(&self, quarter: f64) -> f64 {
        if !quarter.is_finite() {
            return 0.0;
        }
        let i = self
            .segments
            .partition_point(|s| s.start_quarter <= quarter)
            .saturating_sub(1);
        let s = &self.segments[i];
        s.start_frame + (quarter - s.start_quarter) * s.quarter_frames
    }

    /// Tempo (quarter notes per minute) at `frame`.
    pub fn bpm_at(&self, frame: f64) -> f64 {
        self.segment_at(frame).bpm
    }
}

/// Beats of a [`TempoMap`] in a range of frames; see [`TempoMap::beats`].
#[derive(Clone, Debug)]
pub struct Beats<'a> {
    map: &'a TempoMap,
    seg: usize,
    n: u64,
    to: f64,
}

impl Iterator for Beats<'_> {
    type Item = Beat;

    fn next(&mut self) -> Option<Beat> {
        let segments = &self.map.segments;
        if self.n >= segments[self.seg].beats {
            if self.seg + 1 >= segments.len() {
                return None;
            }
            self.seg += 1;
            self.n = 0;
        }
        let beat = segments[self.seg].beat(self.n);
        // A NaN end yields nothing.
        if beat.frame.partial_cmp(&self.to) != Some(std::cmp::Ordering::Less) {
            return None;
        }
        self.n = self.n.saturating_add(1);
        Some(beat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> TimeSignature {
        TimeSignature::parse(text).unwrap()
    }

    fn change(bar: u32, bpm: f64, sig: &str) -> TempoChange {
        TempoChange {
            bar,
            bpm,
            time_signature: ts(sig),
        }
    }

    /// 2 bars of 4/4 at 120, 1 bar of 3/4 at 120, then 4/4 at 90 for ever; at 48 kHz.
    fn song_map() -> TempoMap {
        TempoMap::new(
            &[
                change(1, 120.0, "4/4"),
                change(3, 120.0, "3/4"),
                change(4, 90.0, "4/4"),
            ],
            48_000,
        )
        .unwrap()
    }

    #[test]
    fn bars_and_beats_across_a_tempo_and_metre_change() {
        let m = song_map();
        // A beat at 120 is 24000 frames, at 90 it is 32000.
        assert_eq!(m.frame_of_bar(1.0), 0.0);
        assert_eq!(m.frame_of_bar(2.0), 96_000.0);
        assert_eq!(m.frame_of_bar(3.0), 192_000.0);
        assert_eq!(m.frame_of_bar(4.0), 264_000.0);
        assert_eq!(m.frame_of_bar(5.0), 392_000.0);
        assert_eq!(m.frame_of_bar(3.5), 228_000.0);
        assert_eq!(m.frame_of_beat(3, 3), 240_000.0);
        assert_eq!(m.frame_of_beat(4, 2), 296_000.0);
        assert_eq!(m.frame_of_beat(1, 5), 96_000.0);
        assert_eq!(m.frame_of_beat(0, 0), 0.0);
        let segs = m.segments();
        assert_eq!(segs.len(), 3);
        assert_eq!(
            (segs[0].beats, segs[1].beats, segs[2].beats),
            (8, 3, u64::MAX)
        );
        assert_eq!(segs[2].start_quarter, 11.0);
        assert_eq!(m.bpm_at(263_999.0), 120.0);
        assert_eq!(m.bpm_at(264_000.0), 90.0);
        // Hostile positions do not panic and land on the song's edges.
        assert_eq!(m.frame_of_bar(f64::NAN), 0.0);
        assert_eq!(m.frame_of_bar(-3.0), 0.0);
        assert!(m.frame_of_bar(1e12).is_finite());
        assert_eq!(
            m.frame_of_beat(u32::MAX, u32::MAX),
            m.frame_of_beat(u32::MAX, u32::MAX)
        );
    }

    #[test]
    fn the_beat_at_or_after_a_frame() {
        let m = song_map();
        let b = m.beat_at_or_after(0.0);
        assert_eq!((b.bar, b.beat, b.is_downbeat, b.frame), (1, 1, true, 0.0));
        let b = m.beat_at_or_after(1.0);
        assert_eq!(
            (b.bar, b.beat, b.is_downbeat, b.frame),
            (1, 2, false, 24_000.0)
        );
        let b = m.beat_at_or_after(24_000.0);
        assert_eq!((b.bar, b.beat), (1, 2));
        // The last beat of the 3/4 bar, then the next bar's downbeat at the new tempo.
        let b = m.beat_at_or_after(240_000.5);
        assert_eq!((b.bar, b.beat, b.is_downbeat), (4, 1, true));
        assert_eq!(b.frame, 264_000.0);
        let b = m.beat_at_or_after(264_000.5);
        assert_eq!((b.bar, b.beat, b.frame), (4, 2, 296_000.0));
        for hostile in [f64::NAN, f64::NEG_INFINITY, -1e300] {
            assert_eq!(m.beat_at_or_after(hostile).frame, 0.0);
        }
        let far = m.beat_at_or_after(f64::INFINITY);
        assert!(far.bar >= 4);
        assert_eq!(
            m.beat_at_or_after(1e300).beat,
            m.beat_at_or_after(1e300).beat
        );
    }

    #[test]
    fn beats_in_a_range_follow_the_map() {
        let m = song_map();
        let all: Vec<(u32, u32, bool, f64)> = m
            .beats(0.0, 360_000.0)
            .map(|b| (b.bar, b.beat, b.is_downbeat, b.frame))
            .collect();
        let mut want = Vec::new();
        for k in 0..8u32 {
            want.push((1 + k / 4, k % 4 + 1, k % 4 == 0, k as f64 * 24_000.0));
        }
        for k in 0..3u32 {
            want.push((3, k + 1, k == 0, 192_000.0 + k as f64 * 24_000.0));
        }
        for k in 0..3u32 {
            want.push((4, k + 1, k == 0, 264_000.0 + k as f64 * 32_000.0));
        }
        assert_eq!(all, want);
        // Half-open: a beat on `to` is not in, one on `from` is.
        let some: Vec<f64> = m.beats(24_000.0, 72_000.0).map(|b| b.frame).collect();
        assert_eq!(some, vec![24_000.0, 48_000.0]);
        assert_eq!(m.beats(10.0, 11.0).count(), 0);
        assert_eq!(m.beats(5.0, f64::NAN).count(), 0);
        assert_eq!(m.beats(5.0, 1.0).count(), 0);
        // Consecutive ranges (one audio period after another) give each beat once.
        let mut stitched = Vec::new();
        let mut at = 0.0;
        while at < 360_000.0 {
            stitched.extend(m.beats(at, at + 64.0).map(|b| b.frame));
            at += 64.0;
        }
        assert_eq!(stitched, want.iter().map(|w| w.3).collect::<Vec<_>>());
    }

    #[test]
    fn quarter_notes_count_for_midi_whatever_the_metre() {
        // 6/8 at 120 quarter bpm: a beat is an eighth (12000 frames), a bar 3 quarters.
        let m = TempoMap::new(&[change(1, 120.0, "6/8"), change(2, 60.0, "2/2")], 48_000).unwrap();
        let beats: Vec<f64> = m.beats(0.0, 72_000.0).map(|b| b.frame).collect();
        assert_eq!(
            beats,
            (0..6).map(|k| k as f64 * 12_000.0).collect::<Vec<_>>()
        );
        assert_eq!(m.quarter_at(72_000.0), 3.0);
        assert_eq!(m.quarter_at(36_000.0), 1.5);
        // 2/2 at 60: a quarter is 48000 frames, a beat (half note) 96000.
        assert_eq!(m.quarter_at(72_000.0 + 48_000.0), 4.0);
        assert_eq!(m.beat_at_or_after(72_001.0).frame, 168_000.0);
        for q in [0.0, 0.25, 1.5, 3.0, 3.75, 10.0] {
            assert!(
                (m.quarter_at(m.frame_of_quarter(q)) - q).abs() < 1e-12,
                "{q}"
            );
        }
        // Song Position Pointer 14 sixteenths = 3.5 quarters: half a quarter into bar 2.
        assert_eq!(m.frame_of_quarter(14.0 / 4.0), 96_000.0);
        assert_eq!(m.frame_of_quarter(f64::NAN), 0.0);
        assert_eq!(m.quarter_at(f64::INFINITY), 0.0);
        assert_eq!(m.quarter_at(-24_000.0), -1.0);
    }

    #[test]
    fn no_error_accumulates_over_a_long_song() {
        // 93.7 bpm does not divide 48 kHz; bar 1001's downbeat is still where one
        // multiplication puts it.
        let m = TempoMap::constant(93.7, ts("4/4"), 48_000).unwrap();
        let exact = 4000.0 * 60.0 * 48_000.0 / 93.7;
        assert!((m.frame_of_bar(1001.0) - exact).abs() < 1e-6);
        let b = m.beat_at_or_after(exact - 0.5);
        assert_eq!((b.bar, b.beat), (1001, 1));
        assert!((b.frame - exact).abs() < 1e-6);
    }

    #[test]
    fn a_map_at_rate_one_counts_seconds() {
        let m = TempoMap::new(&[change(1, 90.0, "3/4")], 1).unwrap();
        assert!((m.frame_of_bar(2.5) - 3.0).abs() < 1e-12);
        assert_eq!(m.rate(), 1);
    }

    #[test]
    fn bad_lists_are_refused_with_the_change_named() {
        let four = ts("4/4");
        let bad_sig = TimeSignature {
            beats_per_bar: 0,
            beat_unit: 3,
        };
        let many: Vec<TempoChange> = (1..=257).map(|bar| change(bar, 100.0, "4/4")).collect();
        let cases: Vec<(Vec<TempoChange>, Option<usize>, &str)> = vec![
            (vec![], None, "an empty tempo map"),
            (many, None, "257 tempo changes; at most 256"),
            (
                vec![change(2, 100.0, "4/4")],
                Some(0),
                "must start at bar 1",
            ),
            (
                vec![
                    change(1, 100.0, "4/4"),
                    change(5, 90.0, "4/4"),
                    change(5, 80.0, "4/4"),
                ],
                Some(2),
                "bar 5 does not come after",
            ),
            (
                vec![
                    change(1, 100.0, "4/4"),
                    change(9, 90.0, "4/4"),
                    change(3, 80.0, "4/4"),
                ],
                Some(2),
                "bar 3 does not come after the change before it (bar 9)",
            ),
            (
                vec![change(1, 19.9, "4/4")],
                Some(0),
                "19.9 is outside 20..=400 bpm",
            ),
            (vec![change(1, 400.1, "4/4")], Some(0), "outside"),
            (vec![change(1, 0.0, "4/4")], Some(0), "outside"),
            (vec![change(1, -120.0, "4/4")], Some(0), "outside"),
            (vec![change(1, f64::NAN, "4/4")], Some(0), "NaN is outside"),
            (
                vec![change(1, f64::INFINITY, "4/4")],
                Some(0),
                "inf is outside",
            ),
            (
                vec![
                    change(1, 100.0, "4/4"),
                    TempoChange {
                        bar: 2,
                        bpm: 100.0,
                        time_signature: bad_sig,
                    },
                ],
                Some(1),
                "0/3 is not a time signature",
            ),
        ];
        for (changes, index, why) in cases {
            let e = TempoMap::new(&changes, 48_000).unwrap_err();
            assert_eq!(e.index, index, "{e:?}");
            assert!(e.why.contains(why), "{e:?} should say {why}");
        }
        assert!(TempoMap::constant(120.0, four, 0).is_err());
        assert!(TempoMap::constant(20.0, four, 48_000).is_ok());
        assert!(TempoMap::constant(400.0, four, 192_000).is_ok());
        assert!(TempoMap::new(
            &(1..=256)
                .map(|bar| change(bar, 100.0, "4/4"))
                .collect::<Vec<_>>(),
            48_000
        )
        .is_ok());
    }

    /// Thousands of generated lists, hostile values included: each is refused or gives a
    /// map whose queries agree with one another.
    #[test]
    fn generated_maps_are_refused_or_consistent() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let bpms = [
            f64::NAN,
            -1.0,
            0.0,
            19.99,
            20.0,
            33.3,
            97.0,
            120.0,
            399.9,
            400.0,
            1e9,
        ];
        let units = [0, 1, 2, 3, 4, 8, 16, 32, 64];
        let (mut ok, mut refused) = (0, 0);
        for _ in 0..3_000 {
            let n = (next() % 6) as usize;
            let mut bar = 1u32;
            let changes: Vec<TempoChange> = (0..n)
                .map(|i| {
                    if i > 0 {
                        // Mostly forward, sometimes the same bar or back.
                        bar = (bar as i64 + (next() % 12) as i64 - 1).max(0) as u32;
                    }
                    TempoChange {
                        bar,
                        bpm: bpms[(next() % bpms.len() as u64) as usize],
                        time_signature: TimeSignature {
                            beats_per_bar: (next() % 34) as u32,
                            beat_unit: units[(next() % units.len() as u64) as usize],
                        },
                    }
                })
                .collect();
            let Ok(map) = TempoMap::new(&changes, 44_100) else {
                refused += 1;
                continue;
            };
            ok += 1;
            let mut last: Option<Beat> = None;
            for b in map.beats(0.0, 44_100.0 * 120.0) {
                assert!(b.frame.is_finite());
                assert_eq!(map.beat_at_or_after(b.frame), b);
                assert_eq!(map.frame_of_beat(b.bar, b.beat), b.frame);
                assert!((map.frame_of_quarter(map.quarter_at(b.frame)) - b.frame).abs() < 1e-6);
                if let Some(l) = last {
                    assert!(b.frame > l.frame);
                    assert!(map.beat_at_or_after(l.frame + 1e-3) == b);
                    if b.is_downbeat {
                        assert_eq!((b.bar, b.beat), (l.bar + 1, 1));
                    } else {
                        assert_eq!((b.bar, b.beat), (l.bar, l.beat + 1));
                    }
                }
                last = Some(b);
            }
        }
        assert!(ok > 100 && refused > 100, "{ok} maps, {refused} refused");
    }
}
