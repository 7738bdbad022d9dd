//! The controller's song cache: the setlist, switching songs, keeping the neighbours
//! loaded within the budget, and what the loader reports.

use super::*;

impl Controller {
    /// `setlist move`: the song at 1-based `from` goes to 1-based `to`; the current song
    /// plays on. The runtime reorders its list ([`Effects::setlist`]) and saves the order.
    pub(super) fn move_in_setlist(&mut self, from: usize, to: usize, out: &mut Output) {
        let n = self.names().len();
        if !(1..=n).contains(&from) || !(1..=n).contains(&to) {
            out.reply(format!("error: setlist move: positions are 1..={n}"));
            return;
        }
        let mut names = self.names().to_vec();
        let moved = names.remove(from - 1);
        names.insert(to - 1, moved.clone());
        let budget = self.budget_bytes;
        let relisted = self.relist(names.clone(), budget);
        out.engine.extend(relisted.engine);
        out.effects.load.extend(relisted.effects.load);
        if let Some(saved) = &mut self.saved {
            saved.setlist = Some(names.clone());
            out.effects.state_changed = true;
        }
        out.effects.setlist = Some(names);
        out.reply(format!("ok setlist {moved} at {to}"));
    }

    /// A pause or stop while a called song loads: it will be cued, not played.
    pub(super) fn cue_pending_switch(&mut self) {
        if let Some((_, play)) = self.pending_switch.as_mut() {
            *play = false;
        }
    }

    /// The song waiting to be loaded before it is switched to (setlist index), if any.
    pub fn pending_song(&self) -> Option<usize> {
        self.pending_switch.map(|(i, _)| i)
    }

    /// Bytes of decoded audio all loaded songs hold (what `memory.budget_mb` limits).
    pub fn loaded_ram_bytes(&self) -> usize {
        self.songs.values().map(|s| s.ram_bytes()).sum()
    }

    /// A reloaded library (SIGHUP): `names` is the new setlist, `budget_bytes` the new
    /// memory budget. The song in the engine plays on without a gap: its position moves to
    /// where its folder now is; a folder that is gone keeps its place in the list (sorted
    /// in by name) until the next reload, so `next` and `prev` go on from it. Decoded
    /// neighbours are kept by name; loads still under way are forgotten (the runtime
    /// starts a new loader and ignores the old one's results) and asked for again. The
    /// reply says what changed. Control thread.
    pub fn relist(&mut self, mut names: Vec<String>, budget_bytes: usize) -> Output {
        let mut out = Output::default();
        let current_name = self.names[self.current].clone();
        let kept_gone = !names.contains(&current_name);
        if kept_gone {
            let at = names.partition_point(|n| n.as_str() < current_name.as_str());
            names.insert(at, current_name.clone());
        }
        let new_index = |old: usize, names: &[String], old_names: &[String]| {
            names.iter().position(|n| *n == old_names[old])
        };
        let old_names = std::mem::replace(&mut self.names, names);
        let added = self.names.iter().filter(|n| !old_names.contains(n)).count();
        let removed = old_names.iter().filter(|n| !self.names.contains(n)).count();
        self.songs = std::mem::take(&mut self.songs)
            .into_iter()
            .filter_map(|(i, song)| new_index(i, &self.names, &old_names).map(|j| (j, song)))
            .collect();
        self.current = new_index(self.current, &self.names, &old_names).unwrap_or(0);
        self.setlist = Setlist::folder_order(self.names.len());
        self.budget_bytes = budget_bytes;
        self.loading.clear();
        let pending = self.pending_switch.take();
        let mut pending_gone = None;
        if let Some((want, play)) = pending {
            match new_index(want, &self.names, &old_names) {
                Some(j) => {
                    self.pending_switch = Some((j, play));
                    self.request_load(j, &mut out);
                }
                None => pending_gone = Some(old_names[want].clone()),
            }
        }
        self.keep_neighbours_loaded(&mut out);
        let mut reply = format!(
            "reloaded library: {} songs ({added} new, {removed} gone); playing on {} {}",
            self.names.len(),
            self.current + 1,
            current_name
        );
        if kept_gone {
            reply.push_str(" (its folder is gone: it stays until the next song change and reload)");
        }
        if let Some(name) = pending_gone {
            reply.push_str(&format!("; the song being loaded, {name}, is gone"));
        }
        out.reply(reply);
        out
    }

    /// The loader finished setlist position `index`.
    pub fn song_loaded(&mut self, index: usize, song: Arc<Song>, view: &EngineView) -> Output {
        let mut out = Output::default();
        self.loading.retain(|&i| i != index);
        self.songs.insert(index, song);
        if let Some((want, play)) = self.pending_switch {
            if want == index {
                self.pending_switch = None;
                // Play, pause or stop while it loaded decided `play`.
                self.switch_to(index, play, view, &mut out);
            }
        }
        out
    }

    /// The loader could not load setlist position `index` (the runtime shows why).
    pub fn song_failed(&mut self, index: usize) -> Output {
        let mut out = Output::default();
        self.loading.retain(|&i| i != index);
        if self.pending_switch.is_some_and(|(w, _)| w == index) {
            self.pending_switch = None;
            out.reply(format!("error: cannot load song {}", self.names[index]));
        }
        out
    }

    /// Switches to setlist position `index`: at once if it is loaded, else when it is.
    pub(super) fn change_song(&mut self, index: usize, view: &EngineView, out: &mut Output) {
        let play = self.transport_after_sent(view) == Transport::Playing;
        if self.songs.contains_key(&index) {
            self.switch_to(index, play, view, out);
        } else {
            self.pending_switch = Some((index, play));
            self.request_load(index, out);
            out.reply(format!("loading {}", self.names[index]));
        }
    }

    pub(super) fn switch_to(
        &mut self,
        index: usize,
        play: bool,
        view: &EngineView,
        out: &mut Output,
    ) {
        let Some(song) = self.songs.get(&index).cloned() else {
            return;
        };
        if view.song_slots == 0 || view.command_slots == 0 {
            out.reply("error: engine busy, try again");
            return;
        }
        out.engine.push(ToEngine::Switch {
            song: song.clone(),
            play,
        });
        self.current = index;
        self.mix = mix_of(&song);
        self.loop_a = None;
        self.loop_region = None;
        self.master_mode = false;
        self.restore_stem_settings(out);
        self.send_mix(out);
        self.restore_tempo(out);
        self.send_click(out);
        if let Some(saved) = &mut self.saved {
            saved.last_song = Some(song.name.clone());
            out.effects.state_changed = true;
        }
        out.reply(format!("ok song {} {}", index + 1, song.name));
        self.keep_neighbours_loaded(out);
    }

    /// Keeps the current song and its neighbours decoded, within the memory budget;
    /// everything else is dropped (here, on the control thread).
    pub(super) fn keep_neighbours_loaded(&mut self, out: &mut Output) {
        let want: Vec<usize> = [
            Some(self.current),
            self.setlist.next(self.current),
            self.setlist.prev(self.current),
        ]
        .into_iter()
        .flatten()
        .collect();
        let keep_pending = self.pending_switch.map(|(i, _)| i);
        self.songs
            .retain(|i, _| want.contains(i) || Some(*i) == keep_pending);
        for &i in &want {
            let used: usize = self.songs.values().map(|s| s.ram_bytes()).sum();
            if !self.songs.contains_key(&i) && used < self.budget_bytes {
                self.request_load(i, out);
            }
        }
    }

    pub(super) fn request_load(&mut self, index: usize, out: &mut Output) {
        if !self.loading.contains(&index) {
            self.loading.push(index);
            out.effects.load.push(index);
        }
    }
}
