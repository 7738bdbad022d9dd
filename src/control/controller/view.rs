//! What the controller contributes to the screens' [`LiveView`]: the mixer, the loop, the
//! practice settings and the setlist, as the controller holds them (the session adds the
//! engine's transport, position and health).

use super::*;
use crate::model::view::{BusMix, LiveView, SetlistEntry, StemMix as StemMixView};

impl Controller {
    /// Fills the controller's part of `live`. Control thread.
    pub fn fill_live(&self, view: &EngineView, live: &mut LiveView) {
        let n = self.names.len();
        live.song = self.current + 1;
        live.next_song = (self.current + 1 < n).then_some(self.current + 2);
        live.speed_pct = view.speed_pct;
        live.pitch_st = view.pitch_st;
        live.loop_a_s = self.loop_a.map(|f| self.seconds(f));
        match self.loop_region {
            Some((a, b)) => {
                live.loop_a_s = Some(self.seconds(a));
                live.loop_b_s = Some(self.seconds(b));
            }
            None => live.loop_b_s = None,
        }
        live.loop_on = view.looping;
        live.click = self.engine_click;
        live.countin = self.count_in;
        live.mix_master = self.master_stem().map(|_| self.master_mode);
        live.volume_db = self.master_db;
        live.stems = self
            .mix
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != self.master_stem())
            .map(|(_, m)| StemMixView {
                name: m.name.clone(),
                mute: m.mute,
                solo: m.solo,
                gain_db: m.gain_db,
                pan: m.pan,
            })
            .collect();
        live.buses = self
            .buses
            .iter()
            .map(|(name, gain_db)| BusMix {
                name: name.clone(),
                gain_db: *gain_db,
            })
            .collect();
        live.setlist = self
            .names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let song = self.songs.get(&i);
                SetlistEntry {
                    number: i + 1,
                    name: name.clone(),
                    title: song.map_or_else(|| name.clone(), |s| s.title.clone()),
                    bpm: song.and_then(|s| s.bpm).map(f64::from),
                    key: None,
                    length_s: song.map(|s| s.duration_s()),
                }
            })
            .collect();
    }
}
