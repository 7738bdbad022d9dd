//! The song library on the SD card: `<library>/<song>/<stem>.(flac|wav|mp3|ogg|m4a|mp4)`
//! (an `.mp4` named `*.stem.mp4` is an NI Stems file, see [`crate::loader::nistem`]), songs
//! sorted by folder name. Scanning reads directory entries only (never opens a file, so a
//! FIFO cannot hang it); probing a stem opens its file header through [`crate::base::fsread`]. Control/loader threads; never the audio thread.

use std::fmt;
use std::path::{Path, PathBuf};

/// File endings stembox decodes.
pub const STEM_EXTENSIONS: [&str; 6] = ["flac", "wav", "mp3", "ogg", "m4a", "mp4"];

/// One song folder.
#[derive(Clone, Debug, PartialEq)]
pub struct SongEntry {
    /// Folder name: the song's id.
    pub name: String,
    pub dir: PathBuf,
    /// Stem files, sorted by name.
    pub stems: Vec<StemFile>,
    /// `song.json`, if present.
    pub meta_path: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StemFile {
    /// File name without extension, e.g. `drums`.
    pub name: String,
    pub path: PathBuf,
}

/// A library that cannot be read.
#[derive(Debug, Clone, PartialEq)]
pub struct LibraryError {
    pub message: String,
}

impl fmt::Display for LibraryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LibraryError {}

fn is_stem_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| STEM_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Lists the songs in `root`, sorted by folder name. Folders without stem files are left
/// out (and named in the returned list of skipped folders).
pub fn scan(root: &Path) -> Result<(Vec<SongEntry>, Vec<String>), LibraryError> {
    let read = std::fs::read_dir(root).map_err(|e| LibraryError {
        message: format!(
            "library {}: cannot read: {e} (set `library` in the config)",
            root.display()
        ),
    })?;
    let mut songs = Vec::new();
    let mut skipped = Vec::new();
    for entry in read.flatten() {
        let dir = entry.path();
        if !dir.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let song = scan_song(&dir, name.clone())?;
        if song.stems.is_empty() {
            skipped.push(name);
        } else {
            songs.push(song);
        }
    }
    songs.sort_by(|a, b| a.name.cmp(&b.name));
    skipped.sort();
    Ok((songs, skipped))
}

/// Reads one song folder.
pub fn scan_song(dir: &Path, name: String) -> Result<SongEntry, LibraryError> {
    let read = std::fs::read_dir(dir).map_err(|e| LibraryError {
        message: format!("song {}: cannot read: {e}", dir.display()),
    })?;
    let mut stems = Vec::new();
    let mut meta_path = None;
    for entry in read.flatten() {
        let path = entry.path();
        if entry.file_name() == "song.json" {
            // Listed whatever it is: its reader (`fsread::read_regular_file`) refuses a
            // FIFO, a device or a directory at once with a message naming the file, rather
            // than the file being silently left out.
            meta_path = Some(path);
        } else if is_stem_file(&path) && !path.is_dir() {
            // Whatever a stem name points at is listed, not silently left out: the loader
            // opens it with `fsread::open_regular_file`, which refuses a FIFO, a device
            // or a socket with a message naming the file.
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            stems.push(StemFile { name: stem, path });
        }
    }
    stems.sort_by(|a, b| a.name.cmp(&b.name).then(a.path.cmp(&b.path)));
    Ok(SongEntry {
        name,
        dir: dir.to_path_buf(),
        stems,
        meta_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn songs_sorted_by_folder_and_non_stems_ignored() {
        let root = std::env::temp_dir().join(format!("stembox-lib-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (song, files) in [
            ("02-b", &["bass.flac", "Drums.WAV", "notes.txt"][..]),
            ("01-a", &["click.ogg", "song.json"][..]),
            ("03-empty", &["readme.md"][..]),
        ] {
            std::fs::create_dir_all(root.join(song)).unwrap();
            for f in files {
                std::fs::write(root.join(song).join(f), b"x").unwrap();
            }
        }
        let (songs, skipped) = scan(&root).unwrap();
        assert_eq!(
            songs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["01-a", "02-b"]
        );
        assert_eq!(skipped, ["03-empty"]);
        assert_eq!(
            songs[1]
                .stems
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>(),
            ["Drums", "bass"]
        );
        assert!(songs[0].meta_path.is_some());
        assert!(scan(&root.join("missing")).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
