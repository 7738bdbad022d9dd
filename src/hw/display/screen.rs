//! What the box's 128x64 OLED shows, decided from the state it is fed and drawn with
//! embedded-graphics. Pure: no I/O, no clock; the display thread calls
//! [`Screen::from_views`] on each new state and draws only when the result differs
//! from what the panel shows, so equal [`Screen`]s must mean equal pixels (every string in
//! it is already cut to the width it is drawn in).
//!
//! The layout, in 6x10 text (21 characters a line) around one large field, so the thing a
//! player glances at (where am I?) reads from a music stand away:
//!
//! ```text
//!  y  0..=9   3 Highway Song      Am     song number and title; the song's key at the right
//!  y 11       ------------------------   rule
//!  y 13..=32  17:3      Chorus           bar:beat in 10x20 (or m:ss when the song has no
//!                       80% +2st         tempo); section, then speed and key shift, at the right
//!  y 34..=53  the current lyric line,    word-wrapped on two lines
//!             wrapped on two lines
//!  y 54..=63  playing loop      xrun 0   transport (and loop), xruns at the right
//! ```
//!
//! Text is drawn in ISO 8859-1 fonts, so lyrics in most Western European languages show
//! their accents; other characters show as `?`. Text cut to fit ends in [`CUT`].

use super::feed::{LiveShown, LyricAt, SectionSpan, SongShown, TempoSpan};
use embedded_graphics::framebuffer::{buffer_size, Framebuffer};
use embedded_graphics::image::GetPixel;
use embedded_graphics::mono_font::iso_8859_1::{FONT_10X20, FONT_6X10, FONT_8X13};
use embedded_graphics::mono_font::{MonoFont, MonoTextStyle};
use embedded_graphics::pixelcolor::raw::{LittleEndian, RawU1};
use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{Line, PrimitiveStyle};
use embedded_graphics::text::{Baseline, Text};

pub const WIDTH_PX: u32 = 128;
pub const HEIGHT_PX: u32 = 64;
/// Characters of 6x10 text across the screen.
pub const LINE_CHARS: usize = 21;
/// Characters of the right-hand column beside the large field.
pub const SIDE_CHARS: usize = 11;
/// Characters of the large field in 10x20 (more switch to 8x13).
pub const BIG_CHARS: usize = 6;
/// Ends text that was cut to fit.
pub const CUT: char = '~';

/// Top edges (y) of the layout's rows and the side column's left edge (x).
const TITLE_Y: i32 = 0;
const RULE_Y: i32 = 11;
const BIG_Y: i32 = 13;
const SIDE_X: i32 = 62;
const SIDE_Y: [i32; 2] = [13, 23];
const LYRIC_Y: [i32; 2] = [34, 44];
const STATUS_Y: i32 = 54;

/// An in-memory 128x64 one-bit picture: what [`render`] draws into and the panel is fed from.
pub type Frame = Framebuffer<
    BinaryColor,
    RawU1,
    LittleEndian,
    { WIDTH_PX as usize },
    { HEIGHT_PX as usize },
    { buffer_size::<BinaryColor>(WIDTH_PX as usize, HEIGHT_PX as usize) },
>;

/// Everything the screen shows, cut to fit; see the module doc for where each goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Screen {
    pub title: String,
    pub key: String,
    /// `bar:beat`, or `m:ss` without a tempo; empty without a song.
    pub position: String,
    pub section: String,
    pub speed_pitch: String,
    pub lyric: [String; 2],
    pub status: String,
    pub xruns: String,
}

/// A position in bars and beats, both 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarBeat {
    pub bar: u32,
    pub beat: u32,
}

/// The bar and beat at `pos_s` (song time) in a tempo map given as segments in time order
/// (`bpm` in quarter notes a minute, a beat being the time signature's lower note, as
/// `model::tempo` counts). Before the first segment it is that segment's first beat. `None`
/// without a tempo or for a segment no tempo map would hold (zero bpm or metre).
pub fn bar_beat_at(tempo: &[TempoSpan], pos_s: f64) -> Option<BarBeat> {
    if !pos_s.is_finite() {
        return None;
    }
    let i = tempo.partition_point(|t| t.at_s <= pos_s).saturating_sub(1);
    let seg = tempo.get(i)?;
    if !(seg.bpm.is_finite() && seg.bpm > 0.0) || seg.beats_per_bar == 0 || seg.beat_unit == 0 {
        return None;
    }
    let beat_s = 60.0 / seg.bpm * 4.0 / seg.beat_unit as f64;
    // A position exactly on a beat must count as that beat, not as the end of the one before,
    // whatever rounding the division brings: a millionth of a beat is far below a frame.
    let beats = ((pos_s - seg.at_s).max(0.0) / beat_s + 1e-6).floor();
    let beats = beats.min(u32::MAX as f64) as u64;
    let per_bar = seg.beats_per_bar as u64;
    let bar = (seg.bar as u64).saturating_add(beats / per_bar);
    Some(BarBeat {
        bar: bar.min(u32::MAX as u64) as u32,
        beat: (beats % per_bar) as u32 + 1,
    })
}

/// The section playing at `pos_s`: `start_s <= pos_s < end_s`; where sections overlap, the
/// one that started last.
pub fn section_at(sections: &[SectionSpan], pos_s: f64) -> Option<&SectionSpan> {
    sections
        .iter()
        .filter(|s| s.start_s <= pos_s && pos_s < s.end_s)
        .max_by(|a, b| a.start_s.total_cmp(&b.start_s))
}

/// The lyric line sung at `pos_s`: the last one with `at_s <= pos_s` (an empty line is a
/// gap in the singing and shows nothing). `model::lyrics::line_at` is the shared one once
/// it lands; this one keeps the display independent of it until then.
fn lyric_at(lyrics: &[LyricAt], pos_s: f64) -> Option<&str> {
    lyrics
        .iter()
        .filter(|l| l.at_s <= pos_s)
        .max_by(|a, b| a.at_s.total_cmp(&b.at_s))
        .map(|l| l.text.as_str())
}

/// `text` in at most `width` characters: cut, ending in [`CUT`], when longer.
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.truncate(out.trim_end().len());
    out.push(CUT);
    out
}

/// `text` word-wrapped on two lines of `width` characters; what does not fit is cut from the
/// second. A word longer than a line is split.
pub fn wrap2(text: &str, width: usize) -> [String; 2] {
    let mut first = String::new();
    let mut first_len = 0;
    let mut words = text.split_whitespace().peekable();
    while let Some(&w) = words.peek() {
        let len = w.chars().count();
        let with_space = if first_len == 0 {
            len
        } else {
            first_len + 1 + len
        };
        if with_space <= width {
            if first_len > 0 {
                first.push(' ');
            }
            first.push_str(w);
            first_len = with_space;
            words.next();
        } else {
            break;
        }
    }
    let mut rest: Vec<String> = words.map(str::to_string).collect();
    if first_len == 0 && !rest.is_empty() {
        // The first word alone is wider than the line: break it.
        let w = rest.remove(0);
        first = w.chars().take(width).collect();
        let tail: String = w.chars().skip(width).collect();
        rest.insert(0, tail);
    }
    [first, fit(&rest.join(" "), width)]
}

/// Left text and right text on one line of `width`, the left cut first.
fn left_right(left: &str, right: &str, width: usize) -> (String, String) {
    let right = fit(right, width);
    let room = match right.chars().count() {
        0 => width,
        n => width.saturating_sub(n + 1),
    };
    (fit(left, room), right)
}

/// `87.5` as `87.5`, `80.0` as `80`: one decimal only when it says something.
fn number(v: f32) -> String {
    let tenths = (v * 10.0).round() / 10.0;
    if (tenths - tenths.round()).abs() < 1e-3 {
        format!("{}", tenths.round() as i64)
    } else {
        format!("{tenths:.1}")
    }
}

/// `m:ss` of a position in seconds (negative counts as 0).
fn clock(pos_s: f64) -> String {
    let s = if pos_s.is_finite() {
        pos_s.max(0.0) as u64
    } else {
        0
    };
    format!("{}:{:02}", s / 60, s % 60)
}

impl Screen {
    /// What to show for the song and live state fed, with the head at `live.pos_s`.
    pub fn from_views(song: &SongShown, live: &LiveShown) -> Screen {
        Screen::with_head(song, live, live.pos_s)
    }

    /// What to show with the play head at `pos_s` (the display thread passes the head moved
    /// on since the last publish; see `LiveShown::pos_at`).
    pub fn with_head(song: &SongShown, live: &LiveShown, pos_s: f64) -> Screen {
        let loaded = song.number > 0;
        let (title, key) = if loaded {
            let name = if song.title.trim().is_empty() {
                &song.name
            } else {
                &song.title
            };
            left_right(
                &format!("{} {}", song.number, name.trim()),
                song.key.as_deref().unwrap_or(""),
                LINE_CHARS,
            )
        } else if !live.ready {
            ("starting".to_string(), String::new())
        } else {
            ("no song".to_string(), String::new())
        };

        let position = if !loaded {
            String::new()
        } else if let Some(bb) = bar_beat_at(&song.tempo, pos_s) {
            format!("{}:{}", bb.bar, bb.beat)
        } else {
            clock(pos_s)
        };
        let section = if loaded {
            section_at(&song.sections, pos_s)
                .map(|s| fit(s.name.trim(), SIDE_CHARS))
                .unwrap_or_default()
        } else {
            String::new()
        };
        let speed_pitch = if loaded {
            let st = number(live.pitch_st);
            let sign = if live.pitch_st > 0.0 && st != "0" {
                "+"
            } else {
                ""
            };
            let spaced = format!("{}% {sign}{st}st", number(live.speed_pct));
            if spaced.chars().count() <= SIDE_CHARS {
                spaced
            } else {
                fit(&spaced.replacen(' ', "", 1), SIDE_CHARS)
            }
        } else {
            String::new()
        };
        let lyric = if !live.ready {
            match &live.waiting_for {
                Some(w) => wrap2(&format!("waiting for {w}"), LINE_CHARS),
                None => Default::default(),
            }
        } else if loaded {
            wrap2(lyric_at(&song.lyrics, pos_s).unwrap_or(""), LINE_CHARS)
        } else {
            Default::default()
        };

        let transport = if live.device_lost {
            "device lost".to_string()
        } else if live.loop_on && loaded {
            format!("{} loop", live.transport)
        } else {
            live.transport.clone()
        };
        let (status, xruns) = left_right(&transport, &format!("xrun {}", live.xruns), LINE_CHARS);
        Screen {
            title,
            key,
            position,
            section,
            speed_pitch,
            lyric,
            status,
            xruns,
        }
    }
}

fn text<D>(
    target: &mut D,
    s: &str,
    font: &'static MonoFont<'static>,
    at: Point,
) -> Result<(), D::Error>
where
    D: DrawTarget<Color = BinaryColor>,
{
    if s.is_empty() {
        return Ok(());
    }
    let style = MonoTextStyle::new(font, BinaryColor::On);
    Text::with_baseline(s, at, style, Baseline::Top).draw(target)?;
    Ok(())
}

/// Right edge aligned to the screen's: the x where `s` starts in 6-pixel characters.
fn right_x(s: &str) -> i32 {
    WIDTH_PX as i32 - 6 * s.chars().count() as i32
}

/// Draws `screen` on a cleared `target` (any embedded-graphics target of at least 128x64).
pub fn draw<D>(screen: &Screen, target: &mut D) -> Result<(), D::Error>
where
    D: DrawTarget<Color = BinaryColor>,
{
    text(target, &screen.title, &FONT_6X10, Point::new(0, TITLE_Y))?;
    text(
        target,
        &screen.key,
        &FONT_6X10,
        Point::new(right_x(&screen.key), TITLE_Y),
    )?;
    Line::new(
        Point::new(0, RULE_Y),
        Point::new(WIDTH_PX as i32 - 1, RULE_Y),
    )
    .into_styled(PrimitiveStyle::with_stroke(BinaryColor::On, 1))
    .draw(target)?;
    if screen.position.chars().count() <= BIG_CHARS {
        text(target, &screen.position, &FONT_10X20, Point::new(0, BIG_Y))?;
    } else {
        // Bar 1000 and on (a half-hour song): a narrower font keeps it clear of the side.
        text(
            target,
            &screen.position,
            &FONT_8X13,
            Point::new(0, BIG_Y + 3),
        )?;
    }
    text(
        target,
        &screen.section,
        &FONT_6X10,
        Point::new(SIDE_X, SIDE_Y[0]),
    )?;
    text(
        target,
        &screen.speed_pitch,
        &FONT_6X10,
        Point::new(SIDE_X, SIDE_Y[1]),
    )?;
    for (line, y) in screen.lyric.iter().zip(LYRIC_Y) {
        text(target, line, &FONT_6X10, Point::new(0, y))?;
    }
    text(target, &screen.status, &FONT_6X10, Point::new(0, STATUS_Y))?;
    text(
        target,
        &screen.xruns,
        &FONT_6X10,
        Point::new(right_x(&screen.xruns), STATUS_Y),
    )?;
    Ok(())
}

/// `screen` drawn into a fresh frame.
pub fn render(screen: &Screen) -> Frame {
    let mut frame = Frame::new();
    // A framebuffer cannot fail to draw (its error type is Infallible).
    let Ok(()) = draw(screen, &mut frame);
    frame
}

/// Whether the frame's pixel is lit.
pub fn lit(frame: &Frame, x: usize, y: usize) -> bool {
    frame.pixel(Point::new(x as i32, y as i32)) == Some(BinaryColor::On)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::songmeta::TimeSignature;
    use crate::model::tempo::{TempoChange, TempoMap};

    fn tempo(at_s: f64, bar: u32, bpm: f64, beats_per_bar: u8, beat_unit: u8) -> TempoSpan {
        TempoSpan {
            at_s,
            bar,
            bpm,
            beats_per_bar,
            beat_unit,
        }
    }

    fn bb(bar: u32, beat: u32) -> Option<BarBeat> {
        Some(BarBeat { bar, beat })
    }

    #[test]
    fn bar_beat_in_one_tempo() {
        let t = [tempo(0.0, 1, 120.0, 4, 4)];
        assert_eq!(bar_beat_at(&t, 0.0), bb(1, 1));
        assert_eq!(bar_beat_at(&t, 0.499), bb(1, 1));
        assert_eq!(bar_beat_at(&t, 0.5), bb(1, 2));
        assert_eq!(bar_beat_at(&t, 1.999), bb(1, 4));
        assert_eq!(bar_beat_at(&t, 2.0), bb(2, 1));
        assert_eq!(bar_beat_at(&t, 61.75), bb(31, 4));
        assert_eq!(
            bar_beat_at(&t, -3.0),
            bb(1, 1),
            "before the start: the first beat"
        );
        assert_eq!(bar_beat_at(&[], 10.0), None);
        assert_eq!(bar_beat_at(&t, f64::NAN), None);
        assert_eq!(bar_beat_at(&[tempo(0.0, 1, 0.0, 4, 4)], 1.0), None);
        assert_eq!(bar_beat_at(&[tempo(0.0, 1, 120.0, 0, 4)], 1.0), None);
        // 6/8 at 90 quarters a minute: an eighth is 1/3 s, six to a bar.
        let t = [tempo(0.0, 1, 90.0, 6, 8)];
        assert_eq!(bar_beat_at(&t, 1.0), bb(1, 4));
        assert_eq!(bar_beat_at(&t, 2.0), bb(2, 1));
        // Exactly on a beat far into a song, where division rounds down.
        let t = [tempo(0.0, 1, 140.0, 3, 4)];
        let beat_s = 60.0 / 140.0;
        assert_eq!(bar_beat_at(&t, 3000.0 * beat_s), bb(1001, 1));
    }

    #[test]
    fn bar_beat_agrees_with_the_tempo_map_across_changes() {
        let ts = |beats_per_bar, beat_unit| TimeSignature {
            beats_per_bar,
            beat_unit,
        };
        let changes = [
            TempoChange {
                bar: 1,
                bpm: 120.0,
                time_signature: ts(4, 4),
            },
            TempoChange {
                bar: 5,
                bpm: 90.0,
                time_signature: ts(6, 8),
            },
            TempoChange {
                bar: 9,
                bpm: 137.5,
                time_signature: ts(3, 4),
            },
            TempoChange {
                bar: 12,
                bpm: 60.0,
                time_signature: ts(2, 2),
            },
        ];
        // At rate 1 the map counts seconds; the views are its segments, as control builds them.
        let map = TempoMap::new(&changes, 1).unwrap();
        let views: Vec<TempoSpan> = map
            .segments()
            .iter()
            .map(|s| TempoSpan {
                at_s: s.start_frame,
                bar: s.first_bar,
                bpm: s.bpm,
                beats_per_bar: s.time_signature.beats_per_bar as u8,
                beat_unit: s.time_signature.beat_unit as u8,
            })
            .collect();
        let mut checked = 0;
        let mut pos = 0.0;
        while pos < 60.0 {
            let got = bar_beat_at(&views, pos).unwrap();
            let start = map.frame_of_beat(got.bar, got.beat);
            let beats = map.segment_at(pos).time_signature.beats_per_bar;
            let (nb, nbeat) = if got.beat == beats {
                (got.bar + 1, 1)
            } else {
                (got.bar, got.beat + 1)
            };
            let next = map.frame_of_beat(nb, nbeat);
            assert!(
                start <= pos + 1e-6 && pos < next,
                "{pos}: {got:?} spans {start}..{next}"
            );
            checked += 1;
            pos += 0.0137;
        }
        assert!(checked > 4000);
        // Each change's downbeat is its bar, beat 1.
        for c in &changes {
            assert_eq!(
                bar_beat_at(&views, map.frame_of_bar(c.bar as f64)),
                bb(c.bar, 1)
            );
        }
    }

    fn section(name: &str, start_s: f64, end_s: f64) -> SectionSpan {
        SectionSpan {
            name: name.into(),
            start_s,
            end_s,
        }
    }

    #[test]
    fn the_section_playing_is_the_one_around_the_position() {
        let s = [
            section("Intro", 0.0, 8.0),
            section("Verse", 8.0, 24.0),
            section("Solo", 30.0, 40.0),
            section("Break", 34.0, 36.0),
        ];
        assert_eq!(section_at(&s, 0.0).map(|s| &*s.name), Some("Intro"));
        assert_eq!(section_at(&s, 7.999).map(|s| &*s.name), Some("Intro"));
        assert_eq!(section_at(&s, 8.0).map(|s| &*s.name), Some("Verse"));
        assert_eq!(section_at(&s, 25.0), None, "between sections");
        assert_eq!(
            section_at(&s, 35.0).map(|s| &*s.name),
            Some("Break"),
            "inner wins"
        );
        assert_eq!(section_at(&s, 37.0).map(|s| &*s.name), Some("Solo"));
        assert_eq!(section_at(&s, 40.0), None);
        assert_eq!(section_at(&[], 1.0), None);
    }

    fn line(at_s: f64, text: &str) -> LyricAt {
        LyricAt {
            at_s,
            text: text.into(),
        }
    }

    #[test]
    fn the_lyric_line_is_the_last_one_started() {
        let l = [
            line(5.0, "first"),
            line(9.5, "second"),
            line(12.0, ""),
            line(14.0, "third"),
        ];
        assert_eq!(lyric_at(&l, 4.9), None);
        assert_eq!(lyric_at(&l, 5.0), Some("first"));
        assert_eq!(lyric_at(&l, 9.49), Some("first"));
        assert_eq!(lyric_at(&l, 10.0), Some("second"));
        assert_eq!(lyric_at(&l, 13.0), Some(""), "a gap in the singing");
        assert_eq!(lyric_at(&l, 1e6), Some("third"));
        assert_eq!(lyric_at(&[], 1.0), None);
    }

    #[test]
    fn text_is_cut_and_wrapped_to_the_width() {
        assert_eq!(fit("Chorus", 10), "Chorus");
        assert_eq!(fit("Pre-chorus 2", 10), "Pre-choru~");
        assert_eq!(fit("Verse one", 7), "Verse~", "no space before the mark");
        assert_eq!(fit("0123456789AB", 10), "012345678~");
        assert_eq!(fit("x", 0), "");
        assert_eq!(
            fit("Ärger über Öl", 13),
            "Ärger über Öl",
            "counted in characters"
        );
        assert_eq!(
            wrap2("And I walked along the river bank at night", 21),
            [
                "And I walked along".to_string(),
                "the river bank at ni~".to_string()
            ]
        );
        assert_eq!(wrap2("short", 21), ["short".to_string(), String::new()]);
        assert_eq!(wrap2("", 21), [String::new(), String::new()]);
        assert_eq!(
            wrap2("Supercalifragilisticexpialidocious yes", 21),
            [
                "Supercalifragilistice".to_string(),
                "xpialidocious yes".to_string()
            ]
        );
        let [a, b] = wrap2(&"word ".repeat(40), 21);
        assert!(a.chars().count() <= 21 && b.chars().count() <= 21 && b.ends_with(CUT));
        assert_eq!(number(80.0), "80");
        assert_eq!(number(87.5), "87.5");
        assert_eq!(number(-1.5), "-1.5");
        assert_eq!(number(99.96), "100");
        assert_eq!(clock(61.9), "1:01");
        assert_eq!(clock(-2.0), "0:00");
        assert_eq!(clock(3725.0), "62:05");
    }

    pub(crate) fn a_song() -> SongShown {
        SongShown {
            number: 3,
            name: "03-highway".into(),
            title: "Highway Song".into(),
            key: Some("Am".into()),
            sections: vec![
                section("Intro", 0.0, 8.0),
                section("Pre-chorus 2", 8.0, 40.0),
            ],
            tempo: vec![tempo(0.0, 1, 120.0, 4, 4)],
            lyrics: vec![line(8.0, "And I walked along the river bank at night")],
        }
    }

    pub(crate) fn a_live(pos_s: f64) -> LiveShown {
        LiveShown {
            transport: "playing".into(),
            pos_s,
            speed_pct: 80.0,
            pitch_st: 2.0,
            ready: true,
            xruns: 2,
            ..LiveShown::default()
        }
    }

    #[test]
    fn what_a_playing_song_shows() {
        let s = Screen::from_views(&a_song(), &a_live(9.0));
        assert_eq!(s.title, "3 Highway Song");
        assert_eq!(s.key, "Am");
        assert_eq!(s.position, "5:3");
        assert_eq!(s.section, "Pre-chorus~");
        assert_eq!(s.speed_pitch, "80% +2st");
        assert_eq!(
            s.lyric,
            [
                "And I walked along".to_string(),
                "the river bank at ni~".to_string()
            ]
        );
        assert_eq!((s.status.as_str(), s.xruns.as_str()), ("playing", "xrun 2"));

        let mut live = a_live(1.0);
        live.pitch_st = -1.5;
        live.speed_pct = 100.0;
        live.loop_on = true;
        live.transport = "paused".into();
        let s = Screen::from_views(&a_song(), &live);
        assert_eq!(s.speed_pitch, "100% -1.5st");
        live.speed_pct = 87.5;
        live.pitch_st = -11.5;
        let s = Screen::from_views(&a_song(), &live);
        assert_eq!(
            s.speed_pitch, "87.5%-11.5~",
            "the space goes first, then the end"
        );
        live.speed_pct = 100.0;
        assert_eq!(
            s.lyric,
            [String::new(), String::new()],
            "before the first line"
        );
        assert_eq!(s.status, "paused loop");
        live.pitch_st = 0.0;
        assert_eq!(Screen::from_views(&a_song(), &live).speed_pitch, "100% 0st");

        // No tempo: the clock instead of bar:beat; no key, no title: the folder name.
        let mut song = a_song();
        song.tempo.clear();
        song.key = None;
        song.title = String::new();
        let s = Screen::from_views(&song, &a_live(125.4));
        assert_eq!(s.position, "2:05");
        assert_eq!((s.title.as_str(), s.key.as_str()), ("3 03-highway", ""));

        // A long title makes room for the key.
        song.title = "The Longest Title Anybody Ever Gave A Song".into();
        song.key = Some("F#m".into());
        let s = Screen::from_views(&song, &a_live(0.0));
        assert_eq!(s.key, "F#m");
        assert_eq!(s.title, "3 The Longest Ti~");
        assert!(s.title.chars().count() + 1 + s.key.chars().count() <= LINE_CHARS);
    }

    #[test]
    fn before_ready_and_without_a_song() {
        let mut live = LiveShown {
            waiting_for: Some("the device default".into()),
            ..LiveShown::default()
        };
        let s = Screen::from_views(&SongShown::default(), &live);
        assert_eq!(s.title, "starting");
        assert_eq!(
            s.lyric,
            ["waiting for the".to_string(), "device default".to_string()]
        );
        assert_eq!((s.position.as_str(), s.speed_pitch.as_str()), ("", ""));
        live.ready = true;
        live.transport = "stopped".into();
        live.device_lost = true;
        let s = Screen::from_views(&SongShown::default(), &live);
        assert_eq!(
            (s.title.as_str(), s.status.as_str()),
            ("no song", "device lost")
        );
    }

    /// The smallest box around the pixels lit in `f` and not in `base`, `(x0, y0, x1, y1)`
    /// inclusive.
    fn lit_box(f: &Frame, base: &Frame) -> Option<(usize, usize, usize, usize)> {
        let mut b: Option<(usize, usize, usize, usize)> = None;
        for y in 0..HEIGHT_PX as usize {
            for x in 0..WIDTH_PX as usize {
                if lit(f, x, y) && !lit(base, x, y) {
                    b = Some(match b {
                        None => (x, y, x, y),
                        Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
                    });
                }
            }
        }
        b
    }

    #[test]
    fn each_field_stays_in_its_own_box_at_its_widest() {
        let wide = |n| "W".repeat(n) + "gjpqy"; // descenders reach the bottom of the cell
        let full = Screen {
            title: wide(12),
            key: "F#m".into(),
            position: "999:12".into(),
            section: wide(6),
            speed_pitch: "87.5%-11.5~".into(),
            lyric: [wide(16), wide(16)],
            status: "count-in loop".into(),
            xruns: "xrun 99".into(),
        };
        let blank = render(&Screen::default());
        let only = |f: &dyn Fn(&mut Screen)| {
            let mut s = Screen::default();
            f(&mut s);
            lit_box(&render(&s), &blank)
        };
        // (field, its box x0, y0, x1, y1)
        let boxes = [
            (only(&|s| s.title = full.title.clone()), (0, 0, 103, 9)),
            (only(&|s| s.key = full.key.clone()), (110, 0, 127, 9)),
            (
                only(&|s| s.position = full.position.clone()),
                (0, 13, 59, 32),
            ),
            (
                only(&|s| s.section = full.section.clone()),
                (62, 13, 127, 22),
            ),
            (
                only(&|s| s.speed_pitch = full.speed_pitch.clone()),
                (62, 23, 127, 32),
            ),
            (
                only(&|s| s.lyric[0] = full.lyric[0].clone()),
                (0, 34, 127, 43),
            ),
            (
                only(&|s| s.lyric[1] = full.lyric[1].clone()),
                (0, 44, 127, 53),
            ),
            (only(&|s| s.status = full.status.clone()), (0, 54, 83, 63)),
            (only(&|s| s.xruns = full.xruns.clone()), (86, 54, 127, 63)),
        ];
        for (i, (got, (bx0, by0, bx1, by1))) in boxes.iter().enumerate() {
            let (x0, y0, x1, y1) = got.unwrap_or_else(|| panic!("field {i} drew nothing"));
            assert!(
                x0 >= *bx0 && y0 >= *by0 && x1 <= *bx1 && y1 <= *by1,
                "field {i} drew in {x0},{y0}..{x1},{y1}, outside its box"
            );
        }
        // The rule alone, with every field empty.
        let rule = lit_box(&blank, &Frame::new());
        assert_eq!(rule, Some((0, 11, 127, 11)));
        // Four-digit bars switch font and still stay clear of the side column.
        let big = only(&|s| s.position = "1234:12".into()).unwrap();
        assert!(
            big.2 < SIDE_X as usize && big.1 >= BIG_Y as usize && big.3 <= 32,
            "{big:?}"
        );
    }

    #[test]
    fn screens_that_differ_draw_differently() {
        // The display draws only on a changed Screen; the converse must hold too: each field
        // that changes changes pixels.
        let base = Screen::from_views(&a_song(), &a_live(9.0));
        let base_px = render(&base);
        for pos in [9.5, 10.0, 17.0] {
            let s = Screen::from_views(&a_song(), &a_live(pos));
            assert_ne!(s, base);
            assert_ne!(render(&s).data(), base_px.data(), "{pos}");
        }
    }
}
