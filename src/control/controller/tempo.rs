//! The controller's tempo: speed, key, the click and the tempo-ramp loop, remembered per
//! song.

use super::*;

impl Controller {
    /// The click for the current song: as asked, else as its `song.json` says; never for a
    /// song without a tempo or with a stem of its own named `click` (it would be doubled).
    /// With the reason when it is off though asked for.
    pub(super) fn click_state(&self) -> (bool, Option<&'static str>) {
        let Some(song) = self.current_song() else {
            return (false, None);
        };
        let wanted = self.click.unwrap_or(song.click);
        if !wanted {
            (false, None)
        } else if song.tempo_map.is_none() {
            (
                false,
                Some("not for this song: it has no tempo; give its song.json a bpm or tempo_map"),
            )
        } else if song.stem_index("click").is_some() {
            (
                false,
                Some("not for this song: it has a click stem (mute/unmute click)"),
            )
        } else {
            (true, None)
        }
    }

    /// Sends the click for the current song when the engine has another.
    pub(super) fn send_click(&mut self, out: &mut Output) {
        let (on, _) = self.click_state();
        if on != self.engine_click {
            self.engine_click = on;
            out.send(Command::Click(on));
        }
    }

    /// `click`, `click on`, `click off`: from now on for every song.
    pub(super) fn set_click(&mut self, on: Option<bool>, out: &mut Output) {
        let wanted = on.unwrap_or_else(|| {
            let now = self
                .click
                .or(self.current_song().map(|s| s.click))
                .unwrap_or(false);
            !now
        });
        self.click = Some(wanted);
        self.send_click(out);
        let (_, why) = self.click_state();
        out.reply(format!(
            "ok click {}{}",
            if wanted { "on" } else { "off" },
            why.map_or(String::new(), |w| format!(" ({w})"))
        ));
    }

    /// Sets the speed (percent), clamped to its limits with a word saying so; a value that is
    /// not a number is refused.
    pub(super) fn set_speed(&mut self, pct: f32, out: &mut Output) {
        if pct.is_nan() {
            out.reply("error: speed must be a number of percent (50..150)");
            return;
        }
        let c = pct.clamp(MIN_SPEED_PCT, MAX_SPEED_PCT);
        // A step (or a ramp's odd end) must not leave 99.99999 instead of 100.
        let c = (c * 100.0).round() / 100.0;
        self.speed_pct = c;
        out.send(Command::Speed { factor: c / 100.0 });
        self.remember_tempo(out);
        out.reply(format!(
            "ok speed {}{}",
            pct_text(c),
            range_note(c != pct, "50..150 %")
        ));
    }

    /// Sets the key change (semitones), clamped to its limits with a word saying so.
    pub(super) fn set_pitch(&mut self, st: f32, out: &mut Output) {
        if st.is_nan() {
            out.reply("error: pitch must be a number of semitones (-12..12)");
            return;
        }
        let c = st.clamp(MIN_PITCH_ST, MAX_PITCH_ST);
        let c = (c * 1000.0).round() / 1000.0;
        self.pitch_st = c;
        out.send(Command::Pitch { st: c });
        self.remember_tempo(out);
        out.reply(format!(
            "ok pitch {}{}",
            st_text(c),
            range_note(c != st, "-12..12 st")
        ));
    }

    /// Keeps the current song's speed and key in the saved state (`run`).
    pub(super) fn remember_tempo(&mut self, out: &mut Output) {
        if let (Some(song), Some(saved)) = (self.songs.get(&self.current), &mut self.saved) {
            saved.set_tempo(&song.name, self.speed_pct, self.pitch_st);
            out.effects.state_changed = true;
        }
    }

    /// Starts a tempo ramp on the loop that is playing.
    pub(super) fn loop_ramp(
        &mut self,
        start: f32,
        step: f32,
        end: f32,
        count_in: bool,
        view: &EngineView,
        out: &mut Output,
    ) {
        if !view.looping {
            out.reply("error: no loop playing (set loop a and b, or loop <a_s> <b_s>, first)");
            return;
        }
        if !(start.is_finite() && step.is_finite() && end.is_finite()) || step <= 0.0 {
            out.reply("error: loop ramp needs <start_pct> <step_pct> [<end_pct>] as numbers");
            return;
        }
        let s = start.clamp(MIN_SPEED_PCT, MAX_SPEED_PCT);
        let e = end.clamp(MIN_SPEED_PCT, MAX_SPEED_PCT).max(s);
        let st = step.min(MAX_SPEED_PCT - MIN_SPEED_PCT);
        let bar = match (count_in, self.current_song()) {
            (true, Some(song)) => {
                let a = self.loop_region.map_or(view.pos_frames, |(a, _)| a);
                let (beat_frames, beats, _) = count_in_at(song, a, self.rate);
                CountInBar::new(beat_frames, beats)
            }
            _ => CountInBar::NONE,
        };
        out.send(Command::LoopRamp {
            start: s / 100.0,
            step: st / 100.0,
            end: e / 100.0,
            count_in: bar,
        });
        out.reply(format!(
            "ok loop ramp {} +{} per pass to {}{}{}",
            pct_text(s),
            pct_text(st),
            pct_text(e),
            if bar.beats() > 0 {
                format!(", a {}-beat count-in before each pass", bar.beats())
            } else {
                String::new()
            },
            range_note(s != start || e != end || st != step, "50..150 %")
        ));
    }

    /// The current song's speed and key: as saved (`run`), else as its `song.json` says,
    /// else the original. Sent only when they differ from what the engine has (it keeps
    /// them across song changes), so a plain setlist sends nothing.
    pub(super) fn restore_tempo(&mut self, out: &mut Output) {
        let Some(song) = self.songs.get(&self.current) else {
            return;
        };
        let (speed, pitch) = match self.saved.as_ref().and_then(|s| s.tempo(&song.name)) {
            Some(t) => (t.speed_pct, t.pitch_st),
            None => (song.speed_pct, song.pitch_st),
        };
        let speed = if speed.is_finite() {
            speed.clamp(MIN_SPEED_PCT, MAX_SPEED_PCT)
        } else {
            100.0
        };
        let pitch = if pitch.is_finite() {
            pitch.clamp(MIN_PITCH_ST, MAX_PITCH_ST)
        } else {
            0.0
        };
        if speed != self.speed_pct {
            self.speed_pct = speed;
            out.send(Command::Speed {
                factor: speed / 100.0,
            });
        }
        if pitch != self.pitch_st {
            self.pitch_st = pitch;
            out.send(Command::Pitch { st: pitch });
        }
    }
}
