//! Reading files a user put on the card, safely: only regular files, never a FIFO (whose
//! `open(2)` waits for a writer for ever), a device (`/dev/zero` streams without end, a tty
//! would become our controlling terminal) or a socket, and never more than a size limit per
//! kind of file. Errors name the file and say why, in one line.
//!
//! Every open is `O_NONBLOCK | O_NOCTTY | O_CLOEXEC`, so it returns at once whatever the
//! path is; the type check is `fstat(2)` on the opened fd, so a path swapped between a check
//! and the open cannot slip through. Control and loader threads; never the audio thread.
//!
//! [`read_regular_file`] is for small text files (config, `song.json`, `setlist.json`,
//! `state.json`: each reader passes its own limit, see [`MAX_JSON_BYTES`]);
//! [`open_regular_file`] is for stems, which are then streamed into a decoder.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// A sane limit for the JSON files stembox reads (config, `song.json`, `setlist.json`,
/// `state.json`): far above any real one, far below what hurts a 1 GB board.
pub const MAX_JSON_BYTES: u64 = 1024 * 1024;

/// What a path turned out to be, in words for a message.
fn kind_of(ft: &std::fs::FileType) -> &'static str {
    if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Opens `path` for reading without blocking and without taking a tty, and checks with
/// `fstat` that it is a regular file. Returns the file (in blocking mode again, ready to
/// stream) and its size in bytes. `kind` names the file in messages (`"stem"`,
/// `"song.json"`, ...).
pub fn open_regular_file(path: &Path, kind: &str) -> Result<(File, u64), String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| format!("{kind} {}: cannot open: {e}", path.display()))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("{kind} {}: cannot stat: {e}", path.display()))?;
    let ft = meta.file_type();
    if !ft.is_file() {
        return Err(format!(
            "{kind} {}: is {}, not a regular file; refused (put the file itself there)",
            path.display(),
            kind_of(&ft)
        ));
    }
    clear_nonblocking(&file).map_err(|e| format!("{kind} {}: {e}", path.display()))?;
    Ok((file, meta.size()))
}

/// Opens `path` read-only with `O_NONBLOCK | O_NOCTTY | O_CLOEXEC`, whatever it is, and
/// returns it with its metadata from `fstat` on the open fd: the caller decides by type.
/// For device paths such as `buttons.devices`: never waits for a FIFO's writer, never
/// becomes the controlling terminal, and judges the file actually opened.
pub fn open_nonblocking(path: &Path) -> io::Result<(File, std::fs::Metadata)> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)?;
    let meta = file.metadata()?;
    Ok((file, meta))
}

fn clear_nonblocking(file: &File) -> io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on an fd we own, integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reads a whole regular file of at most `max_bytes` bytes. Refuses FIFOs, devices,
/// sockets and directories (see [`open_regular_file`]) and anything larger than the limit,
/// also when the file grows while it is read. `kind` names the file in messages.
///
/// For the config, `song.json`, `setlist.json` and `state.json` readers (with
/// [`MAX_JSON_BYTES`]): one call in place of `std::fs::read`.
pub fn read_regular_file(path: &Path, kind: &str, max_bytes: u64) -> Result<Vec<u8>, String> {
    let (file, size) = open_regular_file(path, kind)?;
    let too_big = || {
        format!(
            "{kind} {}: larger than {} bytes; refused (is it the right file?)",
            path.display(),
            max_bytes
        )
    };
    if size > max_bytes {
        return Err(too_big());
    }
    let mut data = Vec::with_capacity(size as usize);
    // One byte more than allowed tells a file that grew past the limit from one that ends.
    file.take(max_bytes + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("{kind} {}: read error: {e}", path.display()))?;
    if data.len() as u64 > max_bytes {
        return Err(too_big());
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn temp_dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("stembox-fsread-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn regular_file_is_read_within_its_limit() {
        let dir = temp_dir("regular");
        let p = dir.join("config.json");
        std::fs::write(&p, b"{\"a\": 1}").unwrap();
        assert_eq!(read_regular_file(&p, "config", 8).unwrap(), b"{\"a\": 1}");
        let e = read_regular_file(&p, "config", 7).unwrap_err();
        assert!(
            e.contains("config.json") && e.contains("larger than 7"),
            "{e}"
        );
        let e = read_regular_file(&dir.join("missing"), "config", 8).unwrap_err();
        assert!(e.starts_with("config ") && e.contains("cannot open"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn fifo_without_writer_is_refused_at_once() {
        let dir = temp_dir("fifo");
        let p = dir.join("state.json");
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: c is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let t0 = Instant::now();
        let e = read_regular_file(&p, "state", MAX_JSON_BYTES).unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(1));
        assert!(e.contains("a FIFO") && e.contains("state.json"), "{e}");
        let e = open_regular_file(&p, "stem").unwrap_err();
        assert!(
            e.starts_with("stem ") && e.contains("not a regular file"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn symlink_to_dev_zero_and_directories_are_refused() {
        let dir = temp_dir("zero");
        let p = dir.join("drums.wav");
        std::os::unix::fs::symlink("/dev/zero", &p).unwrap();
        let e = open_regular_file(&p, "stem").unwrap_err();
        assert!(e.contains("a character device"), "{e}");
        let e = read_regular_file(&dir, "setlist", 10).unwrap_err();
        assert!(e.contains("a directory"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn opened_stem_reads_in_blocking_mode() {
        let dir = temp_dir("stem");
        let p = dir.join("bass.flac");
        std::fs::write(&p, [7u8; 100]).unwrap();
        let (mut f, size) = open_regular_file(&p, "stem").unwrap();
        assert_eq!(size, 100);
        // SAFETY: F_GETFL on an open fd.
        let flags = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(flags & libc::O_NONBLOCK, 0);
        let mut v = Vec::new();
        f.read_to_end(&mut v).unwrap();
        assert_eq!(v.len(), 100);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
