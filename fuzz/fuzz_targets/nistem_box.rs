//! Arbitrary bytes as an MP4 file through the NI Stems manifest reader: the top-level walk
//! and `moov/udta/stem` search (`nistem::atom::read_manifest`), then the manifest's JSON and
//! the stem names made from it. A lying box size must be an error, never an allocation of
//! what it claims (the 2 GB malloc limit of scripts/fuzz catches that).
#![no_main]
use libfuzzer_sys::fuzz_target;
use stembox::loader::nistem::atom;

fuzz_target!(|data: &[u8]| {
    let mut file = std::io::Cursor::new(data);
    if let Ok(Some(manifest)) = atom::read_manifest(&mut file, data.len() as u64) {
        assert!(manifest.len() <= atom::MAX_MANIFEST_BYTES);
        let parsed = atom::parse_manifest(&manifest).ok();
        let names = atom::stem_names(parsed.as_ref(), 4);
        for (i, n) in names.iter().enumerate() {
            assert!(!n.is_empty() && n.chars().count() <= atom::MAX_STEM_NAME_CHARS);
            assert!(!n.chars().any(|c| c.is_control() || c.is_whitespace()), "{n:?}");
            assert!(!n.eq_ignore_ascii_case(stembox::loader::nistem::MASTER_STEM));
            assert!(!names[..i].iter().any(|m| m.eq_ignore_ascii_case(n)), "{names:?}");
        }
    }
    // The same bytes as the payload of the manifest box itself.
    let _ = atom::parse_manifest(data);
});
