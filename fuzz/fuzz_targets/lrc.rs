//! `lyrics.lrc` bytes through `lyrics::parse_lrc` (what `load_lyrics` calls), then the
//! current-line query; what parses must hold the parser's promises: lines in time order,
//! no time before the song's start, every chord mark within its line's text, no newline
//! inside a line.
#![no_main]
use libfuzzer_sys::fuzz_target;
use stembox::model::lyrics::{inline_chords, line_at, parse_lrc};

fuzz_target!(|data: &[u8]| {
    let Ok(lyrics) = parse_lrc(data, "lyrics.lrc") else {
        return;
    };
    assert!(lyrics.lines.windows(2).all(|w| w[0].at_s <= w[1].at_s));
    for l in &lyrics.lines {
        assert!(l.at_s >= 0.0 && l.at_s.is_finite());
        assert!(!l.text.contains('\n'));
        let len = l.text.chars().count();
        assert!(l.chords.iter().all(|c| c.at_char <= len));
        assert_eq!(
            line_at(&lyrics.lines, l.at_s).map(|i| lyrics.lines[i].at_s),
            Some(l.at_s)
        );
    }
    let _ = inline_chords(&lyrics.lines);
});
