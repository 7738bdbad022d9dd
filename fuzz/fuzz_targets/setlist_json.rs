//! `setlist.json` through `Setlist::from_json` against a small library of folder names.
#![no_main]
use libfuzzer_sys::fuzz_target;
use stembox::model::setlist::Setlist;

fuzz_target!(|data: &[u8]| {
    let folders: Vec<String> = ["01-opener", "02-Ballad", "03-intro", "Ünïcode song"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Ok(set) = Setlist::from_json(&folders, data) {
        for pos in 0..set.len() {
            assert!(set.folder(pos).is_some_and(|i| i < folders.len()));
            let _ = (set.next(pos), set.prev(pos));
        }
    }
});
