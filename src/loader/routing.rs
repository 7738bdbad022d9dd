//! What `song.json` says about a song once loaded: title, tempo map, sections, per-stem
//! gain, pan and bus routing (by the configured bus names).

use super::*;

pub(super) fn read_meta(
    entry: &SongEntry,
    song: &mut Song,
    opts: &LoadOptions,
    warnings: &mut Vec<String>,
) {
    let meta = match &entry.meta_path {
        Some(path) => match crate::model::songmeta::load_song_json(path) {
            Ok(m) => m,
            Err(e) => {
                warnings.push(e);
                None
            }
        },
        None => None,
    };
    let where_ = entry.meta_path.as_ref().map(|p| p.display().to_string());
    let where_ = where_.unwrap_or_default();
    if let Some(meta) = &meta {
        warnings.extend(meta.warnings.iter().map(|w| format!("{where_}: {w}")));
        apply_meta(song, meta, &where_, warnings);
    }
    apply_routing(song, meta.as_ref(), &opts.bus_names, &where_, warnings);
    read_lyrics(entry, song, meta.as_ref(), warnings);
}

/// `lyrics.lrc` and the chords: a bad lyrics file costs only the song's lyrics, with one
/// warning naming the file and line; `song.json`'s chords go on the tempo map (without one
/// they cannot be placed, and say so), else the lyrics' inline chords are the chord track.
fn read_lyrics(
    entry: &SongEntry,
    song: &mut Song,
    meta: Option<&crate::model::songmeta::SongMeta>,
    warnings: &mut Vec<String>,
) {
    use crate::model::lyrics;
    song.lyrics = match lyrics::load_lyrics(&entry.dir.join(lyrics::LYRICS_FILE)) {
        Ok(None) => None,
        Ok(Some(l)) => {
            warnings.extend(l.warnings.iter().map(|w| w.to_string()));
            Some(Ok(l))
        }
        Err(e) => {
            warnings.push(format!("{e}; the song plays without lyrics"));
            Some(Err(e.to_string()))
        }
    };
    let json_chords = meta.map_or(&[][..], |m| &m.chords[..]);
    song.chords = match (&song.tempo_map, json_chords.is_empty()) {
        (Some(map), false) => lyrics::place_chords(json_chords, map),
        (None, false) => {
            warnings.push(format!(
                "{}: \"chords\" are given by bar, but the song has no bpm or tempo_map; \
                 they are not shown",
                song.name
            ));
            Vec::new()
        }
        (_, true) => match &song.lyrics {
            Some(Ok(l)) => lyrics::inline_chords(&l.lines),
            _ => Vec::new(),
        },
    };
}

/// Each stem's bus mask over `buses` ([`crate::model::bus::route`]): `song.json`'s
/// `"bus"`, else the default for its name. An unknown bus name is a warning; that stem
/// goes to main.
pub(super) fn apply_routing(
    song: &mut Song,
    meta: Option<&crate::model::songmeta::SongMeta>,
    buses: &[String],
    where_: &str,
    warnings: &mut Vec<String>,
) {
    for stem in song.stems_mut() {
        let given = meta
            .and_then(|m| m.stem(&stem.name))
            .map_or(&[][..], |s| s.bus.as_slice());
        let route = crate::model::bus::route(buses, &stem.name, given);
        for name in &route.unknown {
            warnings.push(format!(
                "{where_}: stem \"{}\": bus {name:?} is not in audio.buses ({}); it plays on {}",
                stem.name,
                buses.join(", "),
                route.names(buses)
            ));
        }
        stem.bus_mask = route.mask;
    }
}

pub(super) fn apply_meta(
    song: &mut Song,
    meta: &crate::model::songmeta::SongMeta,
    where_: &str,
    warnings: &mut Vec<String>,
) {
    if let Some(title) = &meta.title {
        song.title = title.clone();
    }
    song.bpm = meta.bpm.map(|b| b as f32);
    song.beats_per_bar = meta.metre().beats_per_bar;
    song.speed_pct = meta.speed_pct.unwrap_or(100.0);
    song.pitch_st = meta.pitch_st.unwrap_or(0.0);
    // Bar 1's tempo and metre (from the map when it starts there) drive the count-in.
    if let Some(first) = meta.tempo.first() {
        song.bpm = Some(first.bpm as f32);
        song.beats_per_bar = first.time_signature.beats_per_bar;
    }
    song.set_tempo_map(meta.tempo_map(song.rate));
    song.click = meta.click.unwrap_or(false);
    for sm in &meta.stems {
        let Some(stem) = song.stems_mut().iter_mut().find(|s| s.name == sm.name) else {
            warnings.push(format!(
                "{where_}: stem \"{}\" has no file in the song folder; ignored",
                sm.name
            ));
            continue;
        };
        if let Some(db) = sm.gain_db {
            stem.gain = crate::rt::ramp::db_to_gain(db);
        }
        if let Some(pan) = sm.pan {
            stem.pan = pan.clamp(-1.0, 1.0);
        }
        if sm.colour.is_some() {
            stem.colour = sm.colour;
        }
        if let Some(mute) = sm.mute {
            stem.muted = mute;
        }
    }
    song.sections = meta
        .section_frames(song.rate)
        .into_iter()
        .map(|(name, start_frame)| Section {
            name,
            start_frame: start_frame.min(song.frames()),
        })
        .collect();
}
