//! The controller's mixer: per-stem mute, solo, gain and pan, bus gains, the NI Stems
//! master/stems switch, and restoring saved stem settings.

use super::*;

impl Controller {
    /// Changes one stem's settings with `f` (which says whether a value hit its limit),
    /// sends what changed, remembers it, answers with the stem's settings.
    /// `bus <name> <dB>`: the bus's gain, ramped by the engine, kept for every song and
    /// saved. NaN is refused; out of range is clamped to the stem gain limits (and said).
    pub(super) fn set_bus_gain(&mut self, bus: &str, db: f32, out: &mut Output) {
        if db.is_nan() {
            out.reply("error: bus gain must be a number of dB");
            return;
        }
        let (db, clamped) = clamp_db(db, MIN_GAIN_DB, MAX_GAIN_DB);
        let Some(i) = self
            .buses
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(bus))
        else {
            out.reply(format!(
                "error: no bus \"{bus}\" (audio.buses: {})",
                self.buses
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            return;
        };
        self.buses[i].1 = db;
        let name = self.buses[i].0.clone();
        out.send(Command::BusGain {
            bus: i as u8,
            gain: db_to_gain(db),
        });
        if let Some(saved) = &mut self.saved {
            saved.set_bus_gain_db(&name, db);
            out.effects.state_changed = true;
        }
        out.reply(format!("ok bus {name} {db:+.1} dB{}", limit_note(clamped)));
    }

    /// The saved bus gains (`run`), sent once at start-up: buses keep them across songs.
    /// A saved bus the config no longer has is left alone in the file.
    pub(super) fn restore_bus_gains(&mut self, out: &mut Output) {
        let Some(saved) = &self.saved else {
            return;
        };
        for (i, (name, db)) in self.buses.iter_mut().enumerate() {
            if let Some(g) = saved.bus_gain_db(name) {
                let (g, _) = clamp_db(g, MIN_GAIN_DB, MAX_GAIN_DB);
                *db = g;
                out.send(Command::BusGain {
                    bus: i as u8,
                    gain: db_to_gain(g),
                });
            }
        }
    }

    /// Bus names and gains in dB, in the engine's order.
    pub fn bus_gains_db(&self) -> &[(String, f32)] {
        &self.buses
    }

    pub(super) fn with_stem(
        &mut self,
        stem: &str,
        out: &mut Output,
        f: impl FnOnce(&mut StemMix) -> bool,
    ) {
        let Some(i) = self
            .mix
            .iter()
            .position(|m| m.name.eq_ignore_ascii_case(stem))
        else {
            out.reply(format!(
                "error: no stem \"{stem}\" in this song (stems: {})",
                self.mix
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            return;
        };
        let before = self.mix[i].clone();
        let clamped = f(&mut self.mix[i]);
        let after = self.mix[i].clone();
        let stem_ix = i as u8;
        let master = self.master_stem();
        if Some(i) == master && (before.mute != after.mute || before.solo != after.solo) {
            self.mix[i] = before;
            out.reply(format!(
                "error: {} is the song's original master mix: hear it with `mix master`",
                after.name
            ));
            return;
        }
        // With the master playing, a stem's mute and solo are remembered for `mix stems`
        // and not sent: every stem stays silent until then.
        let held = self.master_mode && Some(i) != master;
        if before.mute != after.mute && !held {
            out.send(Command::StemMute {
                stem: stem_ix,
                mute: after.mute,
            });
        }
        if before.solo != after.solo && !held {
            out.send(Command::StemSolo {
                stem: stem_ix,
                solo: after.solo,
            });
        }
        if before.gain_db != after.gain_db {
            out.send(Command::StemGain {
                stem: stem_ix,
                gain: db_to_gain(after.gain_db),
            });
        }
        if let (Some(song), Some(saved)) = (self.songs.get(&self.current), &mut self.saved) {
            saved.set_stem(
                &song.name,
                &after.name,
                StemSetting {
                    mute: after.mute,
                    solo: after.solo,
                    gain_db: after.gain_db,
                },
            );
            out.effects.state_changed = true;
        }
        out.reply(format!(
            "ok {} mute={} solo={} gain_db={:.1}{}",
            after.name,
            after.mute as u8,
            after.solo as u8,
            after.gain_db,
            limit_note(clamped)
        ));
        if held {
            if let Some(line) = out.reply.as_mut() {
                line.push_str(" (master playing: heard after `mix stems`)");
            }
        }
    }

    /// Applies the saved stem settings of the current song (after a song change); a gain
    /// outside the limits (a hand-edited state file) is clamped.
    pub(super) fn restore_stem_settings(&mut self, out: &mut Output) {
        let (Some(song), Some(saved)) = (self.songs.get(&self.current), &self.saved) else {
            return;
        };
        for (i, m) in self.mix.iter_mut().enumerate() {
            let Some(s) = saved.stem(&song.name, &m.name) else {
                continue;
            };
            if Some(i) == song.master_stem {
                // Only its gain: the master is silent in the stems mix whatever a
                // (hand-edited) state file says.
                m.gain_db = clamp_db(s.gain_db, MIN_GAIN_DB, MAX_GAIN_DB).0;
                out.send(Command::StemGain {
                    stem: i as u8,
                    gain: db_to_gain(m.gain_db),
                });
                continue;
            }
            let gain_db = clamp_db(s.gain_db, MIN_GAIN_DB, MAX_GAIN_DB).0;
            m.mute = s.mute;
            m.solo = s.solo;
            m.gain_db = gain_db;
            let stem = i as u8;
            out.send(Command::StemMute { stem, mute: s.mute });
            out.send(Command::StemSolo { stem, solo: s.solo });
            out.send(Command::StemGain {
                stem,
                gain: db_to_gain(gain_db),
            });
        }
    }

    /// The current song's NI master stem, if it has one.
    pub(super) fn master_stem(&self) -> Option<usize> {
        self.current_song()
            .and_then(|s| s.master_stem)
            .filter(|&m| m < self.mix.len())
    }

    /// `mix`, `mix stems`, `mix master`: switches between the stems and the song's master.
    /// The engine's mute ramps fade one out and the other in.
    pub(super) fn set_mix(&mut self, want: Option<MixMode>, out: &mut Output) {
        let Some(song) = self.current_song() else {
            out.reply("error: no song loaded");
            return;
        };
        if self.master_stem().is_none() {
            out.reply(format!(
                "error: song {} has no master track to compare with (only an NI Stems \
                 file, .stem.mp4, carries one); it plays its stems",
                song.name
            ));
            return;
        }
        let master = match want {
            None => !self.master_mode,
            Some(MixMode::Master) => true,
            Some(MixMode::Stems) => false,
        };
        if master != self.master_mode {
            self.master_mode = master;
            self.send_mix(out);
        }
        out.reply(if master {
            "ok mix master"
        } else {
            "ok mix stems"
        });
    }

    /// Sends the mute and solo each stem has in the current mix mode (songs with a master
    /// only): in master mode the master alone, unsoloed; in stems mode the stems as the
    /// musician set them and the master muted.
    pub(super) fn send_mix(&self, out: &mut Output) {
        let Some(master) = self.master_stem() else {
            return;
        };
        for (i, m) in self.mix.iter().enumerate() {
            let (mute, solo) = match (self.master_mode, i == master) {
                (true, is_master) => (!is_master, false),
                (false, true) => (true, false),
                (false, false) => (m.mute, m.solo),
            };
            let stem = i as u8;
            out.send(Command::StemMute { stem, mute });
            out.send(Command::StemSolo { stem, solo });
        }
    }
}

pub(super) fn mix_of(song: &Song) -> Vec<StemMix> {
    song.stems()
        .iter()
        .enumerate()
        .map(|(i, s)| StemMix {
            name: s.name.clone(),
            // The master is silent in the stems mix, whatever song.json says.
            mute: s.muted || song.master_stem == Some(i),
            solo: false,
            gain_db: if s.gain > 0.0 {
                20.0 * s.gain.log10()
            } else {
                MIN_GAIN_DB
            },
        })
        .collect()
}
