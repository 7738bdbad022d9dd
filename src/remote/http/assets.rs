//! The page's files, built into the binary (nothing is ever read from disk or a CDN), each
//! kept plain and gzip-compressed: compressed once when the web thread starts, so every
//! request is a copy of ready bytes, and the page needs no build step.

use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub plain: &'static [u8],
    pub gzip: Vec<u8>,
    /// A strong validator from the content, so a reload costs a 304.
    pub etag: String,
}

/// The files as written in `src/remote/page/`.
const FILES: [(&str, &str, &[u8]); 3] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_bytes!("../page/index.html"),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../page/app.js"),
    ),
    (
        "/app.css",
        "text/css; charset=utf-8",
        include_bytes!("../page/app.css"),
    ),
];

/// All embedded files, compressed. Called once by the web thread at start.
pub fn build() -> Vec<Asset> {
    FILES
        .iter()
        .map(|&(path, content_type, plain)| Asset {
            path,
            content_type,
            plain,
            gzip: gzip(plain),
            etag: format!("\"{:016x}\"", fnv1a(plain)),
        })
        .collect()
}

/// The asset served at `path` (`/index.html` is `/`).
pub fn find<'a>(assets: &'a [Asset], path: &str) -> Option<&'a Asset> {
    let path = if path == "/index.html" { "/" } else { path };
    assets.iter().find(|a| a.path == path)
}

/// Bytes a first visit costs with gzip: what a weak stage Wi-Fi has to carry.
pub fn page_weight_gzip_bytes(assets: &[Asset]) -> usize {
    assets.iter().map(|a| a.gzip.len()).sum()
}

fn gzip(plain: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::with_capacity(plain.len() / 3), Compression::best());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(plain);
    enc.finish().unwrap_or_default()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read;

    #[test]
    fn every_asset_round_trips_and_the_page_is_small() {
        let assets = build();
        for a in &assets {
            let mut back = Vec::new();
            GzDecoder::new(&a.gzip[..]).read_to_end(&mut back).unwrap();
            assert_eq!(back, a.plain, "{}", a.path);
            assert!(a.gzip.len() < a.plain.len(), "{}", a.path);
        }
        assert!(page_weight_gzip_bytes(&assets) < 150 * 1024);
        assert!(find(&assets, "/index.html").is_some());
        assert!(find(&assets, "/app.js").is_some());
        assert!(find(&assets, "/../Cargo.toml").is_none());
        assert!(find(&assets, "/app.js/").is_none());
    }

    #[test]
    fn the_page_uses_only_its_own_files() {
        let assets = build();
        for a in &assets {
            let text = std::str::from_utf8(a.plain).unwrap();
            assert!(!text.contains("http://"), "{} links outside", a.path);
            assert!(!text.contains("https://"), "{} links outside", a.path);
        }
    }
}
