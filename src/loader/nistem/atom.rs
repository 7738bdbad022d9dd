//! The NI Stems manifest: the `stem` box in `moov/udta` of a `.stem.mp4`, whose payload is
//! a JSON document (`{"version": 1, "stems": [{"name": "Drums", "color": "#009E73"}, ...],
//! "mastering_dsp": {...}}`, the layout NI's stem creator writes and Traktor and Mixxx read).
//! symphonia's MP4 demuxer skips unknown `udta` boxes, so this small reader finds it.
//!
//! Every size in an MP4 file is a claim. The walk checks each box against the bytes really
//! left around it (a box may not pass its parent or the file), follows 64-bit sizes and
//! "to the end" sizes, and reads into memory only `moov` (at most [`MAX_MOOV_BYTES`]) and the
//! manifest (at most [`MAX_MANIFEST_BYTES`]): a header claiming gigabytes is an error, never an
//! allocation. Pure functions over bytes ([`find_box_path`], [`parse_manifest`]) plus one that
//! reads a file ([`read_manifest`]); loader and control threads.

use std::fmt;
use std::io::{Read, Seek, SeekFrom};

/// Largest `moov` box read into memory. A 10-minute five-track AAC file has about 300 KB
/// of sample tables; 64 MiB leaves room for hours of ALAC while a lying size cannot take
/// the box's RAM.
pub const MAX_MOOV_BYTES: u64 = 64 * 1024 * 1024;
/// Largest manifest accepted: NI's is a few hundred bytes.
pub const MAX_MANIFEST_BYTES: usize = 64 * 1024;
/// Most stems a manifest may name (NI Stems has four; more is garbage, not music).
pub const MAX_MANIFEST_STEMS: usize = 16;
/// Longest stem name kept, in characters (the console and the status line show it).
pub const MAX_STEM_NAME_CHARS: usize = 32;
/// Deepest box nesting followed (moov/udta/stem is 3).
const MAX_DEPTH: usize = 8;

/// An MP4 whose box structure cannot be walked: what and where, for a one-line message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AtomError(pub String);

impl fmt::Display for AtomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn fail<T>(msg: String) -> Result<T, AtomError> {
    Err(AtomError(msg))
}

/// A box header: its type, header length and whole length (header included), checked
/// against `room`, the bytes left in its parent from the box's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BoxHeader {
    kind: [u8; 4],
    header_len: u64,
    len: u64,
}

fn kind_text(kind: [u8; 4]) -> String {
    kind.iter()
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
        .collect()
}

/// Decodes the header at the start of `head` (8 bytes, or 16 for a 64-bit size). `room`:
/// bytes from the box's start to the end of its parent (or file).
fn parse_header(head: &[u8], room: u64, at: u64) -> Result<BoxHeader, AtomError> {
    if room < 8 || head.len() < 8 {
        return fail(format!(
            "truncated box header at byte {at} ({room} bytes left)"
        ));
    }
    let size32 = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as u64;
    let kind = [head[4], head[5], head[6], head[7]];
    let (header_len, len) = match size32 {
        // "Extends to the end of its parent" (only meaningful for the last box).
        0 => (8, room),
        1 => {
            if room < 16 || head.len() < 16 {
                return fail(format!(
                    "box '{}' at byte {at}: 64-bit size cut off",
                    kind_text(kind)
                ));
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&head[8..16]);
            (16, u64::from_be_bytes(b))
        }
        n => (8, n),
    };
    if len < header_len {
        return fail(format!(
            "box '{}' at byte {at}: size {len} is smaller than its header",
            kind_text(kind)
        ));
    }
    if len > room {
        return fail(format!(
            "box '{}' at byte {at} claims {len} bytes but only {room} are left: truncated or \
             damaged file",
            kind_text(kind)
        ));
    }
    Ok(BoxHeader {
        kind,
        header_len,
        len,
    })
}

/// The payload of the box at `path` (e.g. `[b"udta", b"stem"]`) inside `data` (a run of
/// sibling boxes), the first match at each level; `None` if there is none. A box whose size
/// lies is an error, even if it is not on the path: past it nothing can be trusted.
pub fn find_box_path<'a>(data: &'a [u8], path: &[[u8; 4]]) -> Result<Option<&'a [u8]>, AtomError> {
    find_in(data, path, 0, 0)
}

fn find_in<'a>(
    data: &'a [u8],
    path: &[[u8; 4]],
    base: u64,
    depth: usize,
) -> Result<Option<&'a [u8]>, AtomError> {
    let Some((want, rest)) = path.split_first() else {
        return Ok(Some(data));
    };
    if depth >= MAX_DEPTH {
        return fail(format!("boxes nested deeper than {MAX_DEPTH}"));
    }
    let mut at = 0usize;
    while at < data.len() {
        let left = &data[at..];
        let h = parse_header(left, left.len() as u64, base + at as u64)?;
        // `len <= left.len()` was checked, so these fit in usize.
        let body = &left[h.header_len as usize..h.len as usize];
        if h.kind == *want {
            return find_in(body, rest, base + at as u64 + h.header_len, depth + 1);
        }
        at += h.len as usize;
    }
    Ok(None)
}

/// Reads the `moov/udta/stem` payload of an MP4 file: walks the top-level boxes by seeking
/// (so a large `mdat` is never read), reads `moov` within [`MAX_MOOV_BYTES`], then finds
/// `udta/stem` in it. `None`: a valid MP4 without a manifest.
pub fn read_manifest<R: Read + Seek>(
    file: &mut R,
    file_len: u64,
) -> Result<Option<Vec<u8>>, AtomError> {
    let io = |e: std::io::Error| AtomError(format!("read error: {e}"));
    let mut at = 0u64;
    while at < file_len {
        let mut head = [0u8; 16];
        let want = (file_len - at).min(16) as usize;
        file.seek(SeekFrom::Start(at)).map_err(io)?;
        file.read_exact(&mut head[..want]).map_err(io)?;
        let h = parse_header(&head[..want], file_len - at, at)?;
        if &h.kind == b"moov" {
            let body_len = h.len - h.header_len;
            if body_len > MAX_MOOV_BYTES {
                return fail(format!(
                    "moov box of {body_len} bytes is larger than {MAX_MOOV_BYTES}: damaged or \
                     hostile file"
                ));
            }
            let mut moov = vec![0u8; body_len as usize];
            file.seek(SeekFrom::Start(at + h.header_len)).map_err(io)?;
            file.read_exact(&mut moov).map_err(io)?;
            let found = find_in(&moov, &[*b"udta", *b"stem"], at + h.header_len, 1)?;
            return match found {
                Some(p) if p.len() > MAX_MANIFEST_BYTES => fail(format!(
                    "stem manifest of {} bytes is larger than {MAX_MANIFEST_BYTES}",
                    p.len()
                )),
                Some(p) => Ok(Some(p.to_vec())),
                None => Ok(None),
            };
        }
        at += h.len;
    }
    Ok(None)
}

/// One stem as the manifest names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestStem {
    /// As written in the manifest (may be empty or unusable; see [`stem_names`]).
    pub name: String,
    /// `#RRGGBB` as 0xRRGGBB, when the manifest gives a valid one.
    pub color: Option<u32>,
}

/// The manifest: the stems in track order (track 2 onwards; track 1 is the master).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub version: Option<i64>,
    pub stems: Vec<ManifestStem>,
}

/// Parses the manifest JSON. Anything not understood is left out rather than refused: a
/// stem without a usable name gets its fallback name, a colour that is not `#RRGGBB` is
/// none. Only JSON that is not an object, or a `stems` that is not a list, is an error.
pub fn parse_manifest(bytes: &[u8]) -> Result<Manifest, AtomError> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return fail(format!(
            "stem manifest of {} bytes is larger than {MAX_MANIFEST_BYTES}",
            bytes.len()
        ));
    }
    // Some writers end the payload with a NUL.
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let value: serde_json::Value = serde_json::from_slice(&bytes[..end])
        .map_err(|e| AtomError(format!("stem manifest is not JSON: {e}")))?;
    let Some(obj) = value.as_object() else {
        return fail("stem manifest is not a JSON object".into());
    };
    let version = obj.get("version").and_then(|v| v.as_i64());
    let stems = match obj.get("stems") {
        None => Vec::new(),
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .take(MAX_MANIFEST_STEMS)
            .map(|s| ManifestStem {
                name: s
                    .get("name")
                    .and_then(|n| n.as_str())
                    .unwrap_or("")
                    .to_string(),
                color: s
                    .get("color")
                    .and_then(|c| c.as_str())
                    .and_then(parse_color),
            })
            .collect(),
        Some(_) => return fail("stem manifest: \"stems\" is not a list".into()),
    };
    Ok(Manifest { version, stems })
}

/// `#RRGGBB` (case-insensitive) as 0xRRGGBB.
fn parse_color(text: &str) -> Option<u32> {
    let hex = text.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(hex, 16).ok()
}

/// A manifest name made usable as a stem name: control characters dropped, blanks become
/// `_` (the console and the status line separate words by blanks), at most
/// [`MAX_STEM_NAME_CHARS`] characters, trimmed of `_`.
fn clean_name(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| {
            if c.is_whitespace() || c == '=' {
                '_'
            } else {
                c
            }
        })
        .take(MAX_STEM_NAME_CHARS)
        .collect();
    cleaned.trim_matches('_').to_string()
}

/// Names for `count` stem tracks: the manifest's (cleaned), else `stem1`..; a name that is
/// empty, `master` (the master track's name) or already taken (case-insensitively, as the
/// console matches names) falls back to `stem<n>`.
pub fn stem_names(manifest: Option<&Manifest>, count: usize) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(count);
    for i in 0..count {
        let fallback = format!("stem{}", i + 1);
        let wanted = manifest
            .and_then(|m| m.stems.get(i))
            .map(|s| clean_name(&s.name))
            .unwrap_or_default();
        let usable = !wanted.is_empty()
            && !wanted.eq_ignore_ascii_case(super::MASTER_STEM)
            && !names.iter().any(|n| n.eq_ignore_ascii_case(&wanted))
            && !(i + 1..count).any(|j| wanted.eq_ignore_ascii_case(&format!("stem{}", j + 1)));
        names.push(if usable { wanted } else { fallback });
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    fn bx64(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = 1u32.to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(&((body.len() + 16) as u64).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    const JSON: &[u8] = br##"{"version":1,"stems":[{"name":"Drums","color":"#009E73"},{"name":"Bass","color":"#D55E00"},{"name":"Keys","color":"bad"},{"name":"Vox"}],"mastering_dsp":{}}"##;

    fn file(moov_body: &[u8]) -> Vec<u8> {
        let mut f = bx(b"ftyp", b"M4A \0\0\0\0isom");
        f.extend(bx(b"mdat", &[0xAB; 100]));
        f.extend(bx(b"moov", moov_body));
        f
    }

    fn read(bytes: &[u8]) -> Result<Option<Vec<u8>>, AtomError> {
        read_manifest(&mut Cursor::new(bytes), bytes.len() as u64)
    }

    #[test]
    fn finds_the_manifest_after_mdat_and_beside_other_boxes() {
        let udta = [bx(b"meta", &[0; 20]), bx(b"stem", JSON)].concat();
        let moov = [
            bx(b"mvhd", &[0; 100]),
            bx(b"trak", &[1; 30]),
            bx(b"udta", &udta),
        ]
        .concat();
        let got = read(&file(&moov)).unwrap().unwrap();
        assert_eq!(got, JSON);
        let m = parse_manifest(&got).unwrap();
        assert_eq!(m.version, Some(1));
        assert_eq!(m.stems.len(), 4);
        assert_eq!(m.stems[0].name, "Drums");
        assert_eq!(m.stems[0].color, Some(0x009E73));
        assert_eq!(m.stems[2].color, None);
        assert_eq!(m.stems[3].color, None);
        assert_eq!(stem_names(Some(&m), 4), ["Drums", "Bass", "Keys", "Vox"]);
    }

    #[test]
    fn follows_64_bit_sizes_and_a_last_box_that_runs_to_the_end() {
        let moov = bx64(b"udta", &bx(b"stem", JSON));
        let mut f = bx64(b"mdat", &[7; 40]);
        f.extend(bx64(b"moov", &moov));
        assert_eq!(read(&f).unwrap().unwrap(), JSON);
        // size 0: moov runs to the end of the file.
        let mut f = bx(b"mdat", &[7; 40]);
        f.extend(0u32.to_be_bytes());
        f.extend(b"moov");
        f.extend(bx(b"udta", &bx(b"stem", JSON)));
        assert_eq!(read(&f).unwrap().unwrap(), JSON);
    }

    #[test]
    fn no_moov_or_no_stem_box_is_none() {
        assert_eq!(read(&bx(b"ftyp", b"isom")).unwrap(), None);
        assert_eq!(read(&[]).unwrap(), None);
        assert_eq!(read(&file(&bx(b"udta", &bx(b"meta", b"x")))).unwrap(), None);
        assert_eq!(read(&file(&bx(b"trak", &[])).to_vec()).unwrap(), None);
    }

    #[test]
    fn sizes_that_lie_are_errors_not_allocations() {
        // moov claiming 4 GB in a 150-byte file.
        let mut f = bx(b"ftyp", b"isom");
        f.extend(u32::MAX.to_be_bytes());
        f.extend(b"moov");
        f.extend([0u8; 100]);
        let e = read(&f).unwrap_err();
        assert!(e.0.contains("claims 4294967295 bytes"), "{e}");
        // 64-bit moov claiming 2^63.
        let mut f = 1u32.to_be_bytes().to_vec();
        f.extend(b"moov");
        f.extend((1u64 << 63).to_be_bytes());
        f.extend([0u8; 64]);
        assert!(read(&f).is_err());
        // A size smaller than its header (would loop forever on 0-advance).
        for size in [2u32, 7] {
            let mut f = size.to_be_bytes().to_vec();
            f.extend(b"free");
            f.extend([0u8; 32]);
            assert!(read(&f).unwrap_err().0.contains("smaller than its header"));
        }
        // 64-bit size of 8 (< its 16-byte header).
        let mut f = 1u32.to_be_bytes().to_vec();
        f.extend(b"free");
        f.extend(8u64.to_be_bytes());
        assert!(read(&f).is_err());
        // A child passing its parent.
        let mut udta = 100u32.to_be_bytes().to_vec();
        udta.extend(b"stem");
        udta.extend(b"{}");
        let e = read(&file(&bx(b"udta", &udta))).unwrap_err();
        assert!(e.0.contains("'stem'"), "{e}");
    }

    #[test]
    fn truncated_files_are_errors() {
        let udta = bx(b"udta", &bx(b"stem", JSON));
        let whole = file(&udta);
        for cut in 1..whole.len() {
            let part = &whole[..cut];
            // Cut inside a header or inside a box: never a panic; an error, or None where
            // the cut falls exactly between top-level boxes before moov.
            match read(part) {
                Ok(None) | Err(_) => {}
                Ok(Some(m)) => panic!("cut at {cut} found {} bytes", m.len()),
            }
        }
        // A stray 3 bytes at the end of a valid file.
        let mut f = whole.clone();
        f.extend([1, 2, 3]);
        assert_eq!(read(&f).unwrap().unwrap(), JSON);
    }

    #[test]
    fn huge_moov_and_manifest_are_refused_by_their_bounds() {
        struct Sparse(u64);
        // A reader whose only content is a moov header claiming more than MAX_MOOV_BYTES:
        // no read of that body is attempted.
        impl Read for Sparse {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let mut head = ((MAX_MOOV_BYTES + 9) as u32).to_be_bytes().to_vec();
                head.extend(b"moov");
                // The header, then zeros: the body is never asked for.
                for (i, b) in buf.iter_mut().enumerate() {
                    *b = head.get(self.0 as usize + i).copied().unwrap_or(0);
                }
                self.0 += buf.len() as u64;
                Ok(buf.len())
            }
        }
        impl Seek for Sparse {
            fn seek(&mut self, p: SeekFrom) -> std::io::Result<u64> {
                if let SeekFrom::Start(n) = p {
                    self.0 = n;
                }
                Ok(self.0)
            }
        }
        let e = read_manifest(&mut Sparse(0), MAX_MOOV_BYTES + 9).unwrap_err();
        assert!(e.0.contains("larger than"), "{e}");
        let big = vec![b' '; MAX_MANIFEST_BYTES + 1];
        let e = read(&file(&bx(b"udta", &bx(b"stem", &big)))).unwrap_err();
        assert!(e.0.contains("manifest"), "{e}");
        assert!(parse_manifest(&big).is_err());
    }

    #[test]
    fn deep_nesting_on_the_path_is_bounded() {
        let mut b = bx(b"stem", b"{}");
        for _ in 0..20 {
            b = bx(b"udta", &b);
        }
        // udta/udta/...: the path wants udta then stem; the second level is udta, not stem.
        assert_eq!(find_box_path(&b, &[*b"udta", *b"stem"]).unwrap(), None);
        let path = [*b"udta"; 12];
        assert!(find_box_path(&b, &path).is_err());
    }

    #[test]
    fn hostile_manifests_parse_to_what_can_be_used() {
        for bad in [
            &b""[..],
            b"null",
            b"[1,2]",
            b"\"x\"",
            b"{",
            b"\xff\xfe",
            b"{\"stems\":5}",
        ] {
            assert!(parse_manifest(bad).is_err(), "{:?}", bad);
        }
        let m =
            parse_manifest(b"{\"stems\":[1,{\"name\":7},{\"name\":\"a\\u0000b\\nc d\"},{}]}\0\0")
                .unwrap();
        assert_eq!(m.version, None);
        assert_eq!(
            stem_names(Some(&m), 4),
            ["stem1", "stem2", "abc_d", "stem4"]
        );
        // Clashes with the master, with each other, with a later fallback; too long; only blanks.
        let m = parse_manifest(
            br#"{"stems":[{"name":"MASTER"},{"name":"drums"},{"name":"Drums"},{"name":"stem4"},{"name":"   "},{"name":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}]}"#,
        )
        .unwrap();
        let names = stem_names(Some(&m), 6);
        assert_eq!(names[0], "stem1");
        assert_eq!(names[1], "drums");
        assert_eq!(names[2], "stem3");
        assert_eq!(names[3], "stem4");
        assert_eq!(names[4], "stem5");
        assert_eq!(names[5].chars().count(), MAX_STEM_NAME_CHARS);
        let m = parse_manifest(br#"{"stems":[{"name":"stem2"},{"name":""}]}"#).unwrap();
        assert_eq!(stem_names(Some(&m), 2), ["stem1", "stem2"]);
        let m = parse_manifest(br#"{"stems":[{"name":""},{"name":"STEM1"}]}"#).unwrap();
        assert_eq!(stem_names(Some(&m), 2), ["stem1", "stem2"]);
        // More stems than tracks, fewer stems than tracks, none at all.
        assert_eq!(stem_names(Some(&m), 1), ["stem1"]);
        assert_eq!(stem_names(None, 2), ["stem1", "stem2"]);
        // A list of a million stems is cut at MAX_MANIFEST_STEMS (within the byte bound).
        let many = format!("{{\"stems\":[{}{{}}]}}", "{},".repeat(20_000));
        assert_eq!(
            parse_manifest(many.as_bytes()).unwrap().stems.len(),
            MAX_MANIFEST_STEMS
        );
        // Deep JSON nesting: serde_json's recursion limit, an error not a stack overflow.
        let deep = format!("{{\"stems\":{}{}}}", "[".repeat(5000), "]".repeat(5000));
        assert!(parse_manifest(deep.as_bytes()).is_err());
        assert_eq!(parse_color("#aBcDeF"), Some(0xABCDEF));
        for c in [
            "", "#", "#12345", "#1234567", "123456", "#12345g", "#+12345",
        ] {
            assert_eq!(parse_color(c), None, "{c}");
        }
    }
}
