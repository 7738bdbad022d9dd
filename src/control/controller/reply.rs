//! The controller's wording: the `status` line and how values and limits are said.

use super::*;

impl Controller {
    pub(super) fn status_line(&self, view: &EngineView) -> String {
        let song = self.current_song();
        let mut line = format!(
            "status song={} title={} transport={} pos_s={:.1} loop={} volume_db={:.1}",
            song.map_or("-", |s| s.name.as_str()),
            // JSON string quoting, not Rust's debug text.
            serde_json::to_string(song.map_or("", |s| s.title.as_str())).unwrap_or_default(),
            view.transport.name(),
            self.seconds(view.pos_frames),
            match (view.looping, self.loop_region) {
                (true, Some((a, b))) => format!("{:.3}-{:.3}", self.seconds(a), self.seconds(b)),
                _ => "off".into(),
            },
            self.master_db
        );
        line.push_str(&format!(
            " speed_pct={:.1} pitch_st={:+.2}",
            view.speed_pct, view.pitch_st
        ));
        if view.ramp_pass > 0 {
            line.push_str(&format!(" ramp_pass={}", view.ramp_pass));
        }
        if self.engine_click {
            line.push_str(" click=on");
        }
        if self.master_stem().is_some() {
            line.push_str(if self.master_mode {
                " mix=master"
            } else {
                " mix=stems"
            });
        }
        for m in &self.mix {
            line.push_str(&format!(
                " {}=mute:{},solo:{},gain_db:{:.1}",
                m.name, m.mute as u8, m.solo as u8, m.gain_db
            ));
        }
        line
    }
}

/// `80 %`, `97.5 %`.
pub(super) fn pct_text(pct: f32) -> String {
    format!("{} %", (pct * 100.0).round() / 100.0)
}

/// `+3 st`, `-1.5 st`, `0 st`.
pub(super) fn st_text(st: f32) -> String {
    let st = (st * 1000.0).round() / 1000.0;
    if st > 0.0 {
        format!("+{st} st")
    } else {
        format!("{} st", if st == 0.0 { 0.0 } else { st })
    }
}

/// What a reply adds when a value was clamped to its range, in words.
pub(super) fn range_note(clamped: bool, range: &str) -> String {
    if clamped {
        format!(" (limited to {range})")
    } else {
        String::new()
    }
}

/// What a reply adds when a value was clamped to its limit.
pub(super) fn limit_note(clamped: bool) -> &'static str {
    if clamped {
        " (limit)"
    } else {
        ""
    }
}
