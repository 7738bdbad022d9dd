//! The controller's transport: what was sent and not yet shown, loop points, sections
//! and the count-in bar.

use super::*;

impl Controller {
    /// Remembers the last transport command of `out` (see `sent_transport`).
    pub(super) fn note_sent_transport(&mut self, out: &Output, view: &EngineView) {
        let last = out.engine.iter().rev().find_map(|e| match e {
            ToEngine::Command(Command::Play) => Some(Transport::Playing),
            ToEngine::Command(Command::Pause) => Some(Transport::Paused),
            ToEngine::Command(Command::Stop) => Some(Transport::Stopped),
            _ => None,
        });
        if let Some(t) = last {
            self.sent_transport = Some((t, view.periods));
        }
    }

    /// The transport as the engine will have it once it has taken what was sent.
    pub(super) fn transport_after_sent(&self, view: &EngineView) -> Transport {
        match self.sent_transport {
            Some((t, at)) if view.periods < at.saturating_add(2) => t,
            _ => view.transport,
        }
    }

    /// The frame being heard now: the mixing head runs up to a device buffer ahead.
    pub(super) fn heard_pos_frames(&self, view: &EngineView) -> u64 {
        view.pos_frames.saturating_sub(self.buffer_frames as u64)
    }

    pub(super) fn set_loop(&mut self, (a, b): (u64, u64), out: &mut Output) {
        // The engine crossfades each wrap; a loop must be longer than two crossfades.
        let min = 2 * crate::rt::ramp::ms_to_frames(crate::rt::FADE_MS, self.rate) as u64;
        if b - a <= min {
            out.reply(format!(
                "error: loop too short ({:.3} s); it must be longer than {:.3} s",
                self.seconds(b - a),
                self.seconds(min)
            ));
            return;
        }
        self.loop_region = Some((a, b));
        out.send(Command::Loop {
            region: Some((a, b)),
        });
        out.reply(format!(
            "ok loop {:.3} {:.3}",
            self.seconds(a),
            self.seconds(b)
        ));
    }

    pub(super) fn goto_section(&mut self, action: Action, view: &EngineView, out: &mut Output) {
        let Some(song) = self.current_song().cloned() else {
            out.reply("error: no song loaded");
            return;
        };
        if song.sections.is_empty() {
            out.reply(format!("error: song {} has no sections", song.name));
            return;
        }
        let pos = view.pos_frames;
        let starts: Vec<u64> = song.sections.iter().map(|s| s.start_frame).collect();
        let target = match &action {
            Action::NextSection => crate::model::setlist::next_section(&starts, pos),
            Action::PrevSection => Some(crate::model::setlist::prev_section(
                &starts,
                pos,
                crate::model::setlist::grace_frames(self.rate),
            )),
            Action::Section(r) => {
                let names: Vec<&str> = song.sections.iter().map(|s| s.name.as_str()).collect();
                match crate::model::setlist::find_section(&names, r) {
                    Ok(i) => Some(starts[i]),
                    Err(e) => {
                        out.reply(format!("error: {e}"));
                        return;
                    }
                }
            }
            _ => None,
        };
        let Some(frame) = target else {
            out.reply("error: no section after this one");
            return;
        };
        out.send(Command::Seek { frame });
        let name = song
            .sections
            .iter()
            .find(|s| s.start_frame == frame)
            .map_or("start", |s| s.name.as_str());
        out.reply(format!("ok section {name} at {:.3}", self.seconds(frame)));
    }
}

/// A song's count-in: beat length in frames at 100 % (bpm from `song.json`, 120 when
/// unknown, clamped to 20..=400; not finite = 120), beats (its bar, 1..=16), and the bpm used.
pub(super) fn count_in_bar(bpm: Option<f32>, beats_per_bar: u32, rate: u32) -> (u32, u8, f32) {
    let bpm = bpm
        .filter(|b| b.is_finite())
        .unwrap_or(120.0)
        .clamp(20.0, 400.0);
    let beat_frames = (60.0 * rate as f32 / bpm) as u32;
    (beat_frames, beats_per_bar.clamp(1, 16) as u8, bpm)
}

/// The count-in before `frame` of `song`: one bar of the tempo map where it starts (a beat
/// is the time signature's lower note, so 6/8 counts six eighths), else [`count_in_bar`].
pub(super) fn count_in_at(song: &Song, frame: u64, rate: u32) -> (u32, u8, f32) {
    match &song.tempo_map {
        Some(map) if map.rate() == rate => {
            let seg = map.segment_at(frame as f64);
            (
                (seg.beat_frames.round() as u32).max(1),
                seg.time_signature.beats_per_bar.clamp(1, 16) as u8,
                seg.bpm as f32,
            )
        }
        _ => count_in_bar(song.bpm, song.beats_per_bar, rate),
    }
}
