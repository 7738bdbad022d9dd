//! Where `input_event` records come from: the [`InputSource`] trait, read by the input
//! thread's poll loop, with two implementations.
//!
//! - [`StreamSource`]: any readable fd (a pipe, a `UnixStream`, an open FIFO). Tests use it.
//! - [`DeviceSource`]: a path from `buttons.devices`. An evdev node is opened with
//!   `evdev::Device::open` and grabbed (EVIOCGRAB) so its key presses do not also reach the
//!   console; a FIFO or plain file at that path is read as a stream of raw records, which is
//!   how end-to-end tests press buttons. A device that is absent, or that goes away (ENODEV
//!   on unplug), is retried every [`REOPEN_INTERVAL`] until it is back: no restart needed.
//!   The path is opened non-blocking without taking a tty ([`crate::base::fsread::open_nonblocking`])
//!   and judged by `fstat` on the open fd; sockets, block devices and directories are refused.
//!
//! No source can take the input thread over: one wake-up reads at most
//! [`MAX_RECORDS_PER_READ`] records, and a FIFO that delivers more than
//! [`FLOOD_RECORDS_PER_S`] (an endless writer) is no button: it is closed with a warning
//! and looked at again after [`FLOOD_BACKOFF`], as a missing device. (`/dev/zero` behind a
//! link is a character device and refused as "not an evdev input device".)
//!
//! Both read with non-blocking `read(2)` into the same [`RecordDecoder`], so everything
//! after the bytes is one code path.

use super::decode::{RecordDecoder, RECORD_BYTES};
use evdev::InputEvent;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often an absent device is looked for.
pub const REOPEN_INTERVAL: Duration = Duration::from_secs(1);

/// Records read per `read(2)`: a burst of a few key reports fits in one call.
const READ_RECORDS: usize = 64;
/// Most records one wake-up reads from a source; the rest waits for the next poll, so
/// other sources and timers get their turn.
pub const MAX_RECORDS_PER_READ: usize = 4 * READ_RECORDS;
/// More records per second than any set of buttons makes (a key with autorepeat gives
/// about 90 with its SYN reports); a FIFO above it is closed as a flood.
pub const FLOOD_RECORDS_PER_S: u32 = 2_000;
/// How long a flooding FIFO is left alone before it is opened again.
pub const FLOOD_BACKOFF: Duration = Duration::from_secs(10);

/// A source of input events, driven by the input thread: it polls [`InputSource::fd`] and
/// calls [`InputSource::read_events`] when it is readable, and calls
/// [`InputSource::maintain`] when [`InputSource::retry_at`] passes.
pub trait InputSource: Send {
    /// The device path or a label, for messages.
    fn name(&self) -> &str;

    /// The fd to wait on, or `None` while closed.
    fn fd(&self) -> Option<RawFd>;

    /// Reads everything available now without blocking and appends the decoded events.
    /// `Err` means the source went away (end of stream, device unplugged, read error); it is
    /// closed then, and events decoded before the error are already in `out`.
    fn read_events(&mut self, out: &mut Vec<InputEvent>) -> io::Result<usize>;

    /// While closed: when to call [`InputSource::maintain`] next (`None`: never again).
    fn retry_at(&self) -> Option<Instant>;

    /// While closed: tries to open the source again. Returns a line worth telling the user
    /// (opened, or a new reason why not), or `None` when nothing changed.
    fn maintain(&mut self, now: Instant) -> Option<String>;
}

/// Reads what is available from an fd, at most [`MAX_RECORDS_PER_READ`] records: the EOF
/// of a pipe is the end of it.
fn read_available(
    fd: RawFd,
    decoder: &mut RecordDecoder,
    out: &mut Vec<InputEvent>,
) -> io::Result<usize> {
    read_at_most(fd, decoder, out, MAX_RECORDS_PER_READ * RECORD_BYTES).map(|(n, _)| n)
}

/// [`read_available`] with its byte limit; returns (events decoded, bytes read).
fn read_at_most(
    fd: RawFd,
    decoder: &mut RecordDecoder,
    out: &mut Vec<InputEvent>,
    max_bytes: usize,
) -> io::Result<(usize, usize)> {
    let mut buf = [0u8; RECORD_BYTES * READ_RECORDS];
    let mut n = 0;
    let mut bytes = 0;
    loop {
        if bytes >= max_bytes {
            return Ok((n, bytes));
        }
        // SAFETY: buf is valid for writes of buf.len() bytes; fd is open (owned by caller).
        let got = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if got > 0 {
            bytes += got as usize;
            n += decoder.push(&buf[..got as usize], out);
            continue;
        }
        if got == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "end of stream (the writer closed it)",
            ));
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::WouldBlock => return Ok((n, bytes)),
            io::ErrorKind::Interrupted => continue,
            _ => return Err(e),
        }
    }
}

/// `EVIOCSCLOCKID`, `_IOW('E', 0xa0, int)`: which clock stamps this client's events.
const EVIOCSCLOCKID: u64 =
    (1 << 30) | ((std::mem::size_of::<libc::c_int>() as u64) << 16) | ((b'E' as u64) << 8) | 0xa0;

/// Stamps the device's events with CLOCK_MONOTONIC instead of the wall clock: a board
/// without an RTC steps its wall clock when NTP syncs, often just after boot, and that
/// must not turn a tap into a long press or spoil latency measurements.
fn use_monotonic_clock(fd: RawFd) -> io::Result<()> {
    let clock: libc::c_int = libc::CLOCK_MONOTONIC;
    // SAFETY: EVIOCSCLOCKID reads one int through the pointer, which is valid for the call.
    let r = unsafe { libc::ioctl(fd, EVIOCSCLOCKID as _, &clock as *const libc::c_int) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an fd we own, with integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Records from any readable fd, e.g. one end of a pipe or `UnixStream`. Made
/// non-blocking on construction; closed for good at end of stream.
pub struct StreamSource<R: Read + AsRawFd + Send> {
    name: String,
    stream: Option<R>,
    decoder: RecordDecoder,
}

impl<R: Read + AsRawFd + Send> StreamSource<R> {
    pub fn new(name: &str, stream: R) -> io::Result<StreamSource<R>> {
        set_nonblocking(stream.as_raw_fd())?;
        Ok(StreamSource {
            name: name.to_string(),
            stream: Some(stream),
            decoder: RecordDecoder::new(),
        })
    }
}

impl<R: Read + AsRawFd + Send> InputSource for StreamSource<R> {
    fn name(&self) -> &str {
        &self.name
    }

    fn fd(&self) -> Option<RawFd> {
        self.stream.as_ref().map(|s| s.as_raw_fd())
    }

    fn read_events(&mut self, out: &mut Vec<InputEvent>) -> io::Result<usize> {
        let Some(s) = &self.stream else {
            return Ok(0);
        };
        let r = read_available(s.as_raw_fd(), &mut self.decoder, out);
        if r.is_err() {
            self.stream = None;
            self.decoder.clear();
        }
        r
    }

    fn retry_at(&self) -> Option<Instant> {
        None
    }

    fn maintain(&mut self, _now: Instant) -> Option<String> {
        None
    }
}

enum Opened {
    /// An evdev node; kept open (and grabbed) for as long as it works.
    Evdev(Box<evdev::Device>),
    /// A FIFO: reopened at once after its writer closes it, for the next writer.
    Fifo(File),
    /// A plain file: read once to the end (a recorded session).
    File(File),
}

impl Opened {
    fn fd(&self) -> RawFd {
        match self {
            Opened::Evdev(d) => d.as_raw_fd(),
            Opened::Fifo(f) | Opened::File(f) => f.as_raw_fd(),
        }
    }
}

/// A `buttons.devices` path, reopened whenever it goes away.
pub struct DeviceSource {
    path: PathBuf,
    name: String,
    opened: Option<Opened>,
    decoder: RecordDecoder,
    next_try: Instant,
    /// The last reason the path could not be opened, so it is reported once, not every
    /// second.
    last_error: Option<String>,
    /// The next open is a FIFO waiting for its next writer: not worth a message.
    quiet_reopen: bool,
    /// A plain file that was read to its end: done.
    finished: bool,
    /// Flood guard for FIFOs: start of the current one-second window and the
    /// records read in it.
    window_start: Instant,
    window_records: u32,
}

impl DeviceSource {
    /// Does not open anything yet: the input thread's first [`InputSource::maintain`] does.
    pub fn new(path: &Path) -> DeviceSource {
        DeviceSource {
            path: path.to_path_buf(),
            name: path.display().to_string(),
            opened: None,
            decoder: RecordDecoder::new(),
            next_try: Instant::now(),
            last_error: None,
            quiet_reopen: false,
            finished: false,
            window_start: Instant::now(),
            window_records: 0,
        }
    }

    fn open(&self) -> io::Result<(Opened, String)> {
        let (file, meta) = crate::base::fsread::open_nonblocking(&self.path)?;
        let ft = meta.file_type();
        if ft.is_char_device() {
            let mut dev =
                evdev::Device::from_fd(std::os::fd::OwnedFd::from(file)).map_err(|e| {
                    if e.raw_os_error() == Some(libc::ENOTTY) {
                        io::Error::new(
                            io::ErrorKind::InvalidInput,
                            "a character device but not an evdev input device (use \
                         /dev/input/event* or its /dev/input/by-id or by-path link)",
                        )
                    } else {
                        e
                    }
                })?;
            dev.set_nonblocking(true)?;
            let label = dev.name().unwrap_or("unnamed device").to_string();
            let mut note = match dev.grab() {
                Ok(()) => format!("buttons: {} ({label}) opened and grabbed", self.name),
                Err(e) => format!(
                    "buttons: {} ({label}) opened but not grabbed ({e}): its keys also reach \
                     other programs; stop whatever holds it (e.g. a desktop session)",
                    self.name
                ),
            };
            if let Err(e) = use_monotonic_clock(dev.as_raw_fd()) {
                note.push_str(&format!(
                    "; timestamps stay on the wall clock ({e}), so a clock step while a key \
                     is held can misjudge that one press"
                ));
            }
            return Ok((Opened::Evdev(Box::new(dev)), note));
        }
        if ft.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "is a directory, not an input device (use /dev/input/by-id/... or by-path/...)",
            ));
        }
        if ft.is_fifo() {
            let note = format!(
                "buttons: {} opened (FIFO of raw input_event records)",
                self.name
            );
            Ok((Opened::Fifo(file), note))
        } else if ft.is_file() {
            let note = format!(
                "buttons: {} opened (file of raw input_event records)",
                self.name
            );
            Ok((Opened::File(file), note))
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "neither an input device nor a FIFO or file of input_event records \
                 (use /dev/input/by-id/... or by-path/...)",
            ))
        }
    }

    fn close(&mut self) {
        self.opened = None;
        self.decoder.clear();
    }
}

impl InputSource for DeviceSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn fd(&self) -> Option<RawFd> {
        self.opened.as_ref().map(Opened::fd)
    }

    fn read_events(&mut self, out: &mut Vec<InputEvent>) -> io::Result<usize> {
        let Some(o) = &self.opened else {
            return Ok(0);
        };
        let before = out.len();
        let r = read_at_most(
            o.fd(),
            &mut self.decoder,
            out,
            MAX_RECORDS_PER_READ * RECORD_BYTES,
        );
        let e = match r {
            Err(e) => e,
            // A device is paced by the kernel, a file ends: bounded reads are enough.
            Ok((n, _)) if !matches!(o, Opened::Fifo(_)) => return Ok(n),
            Ok((n, bytes)) => {
                // A FIFO: count what it delivers; buttons never come this fast.
                let now = Instant::now();
                if now.duration_since(self.window_start) >= Duration::from_secs(1) {
                    self.window_start = now;
                    self.window_records = 0;
                }
                self.window_records = self
                    .window_records
                    .saturating_add((bytes / RECORD_BYTES) as u32);
                if self.window_records <= FLOOD_RECORDS_PER_S {
                    return Ok(n);
                }
                // Its events are dropped: a flood is no one pressing buttons.
                out.truncate(before);
                self.close();
                self.next_try = now + FLOOD_BACKOFF;
                self.window_records = 0;
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "more than {FLOOD_RECORDS_PER_S} records/s: not a button device, \
                         ignored for {} s",
                        FLOOD_BACKOFF.as_secs()
                    ),
                ));
            }
        };
        let n = out.len() - before;
        let eof = e.kind() == io::ErrorKind::UnexpectedEof;
        match o {
            Opened::Fifo(_) if eof => {
                // The writer left. A fresh open does not signal until the next writer
                // comes (a FIFO only reports hang-up to readers that saw a writer).
                self.close();
                self.next_try = Instant::now();
                self.quiet_reopen = true;
                Ok(n)
            }
            Opened::File(_) if eof => {
                // The end of a recorded file is no failure; there is nothing more.
                self.close();
                self.finished = true;
                Ok(n)
            }
            _ => {
                // Unplugged (ENODEV) or broken: look for it again from now on.
                self.close();
                self.next_try = Instant::now() + REOPEN_INTERVAL;
                self.last_error = None;
                Err(e)
            }
        }
    }

    fn retry_at(&self) -> Option<Instant> {
        (self.opened.is_none() && !self.finished).then_some(self.next_try)
    }

    fn maintain(&mut self, now: Instant) -> Option<String> {
        if self.opened.is_some() || self.finished || now < self.next_try {
            return None;
        }
        match self.open() {
            Ok((o, note)) => {
                self.opened = Some(o);
                self.last_error = None;
                let quiet = std::mem::take(&mut self.quiet_reopen);
                (!quiet).then_some(note)
            }
            Err(e) => {
                self.next_try = now + REOPEN_INTERVAL;
                self.quiet_reopen = false;
                let why = format!(
                    "buttons: {}: {e}; looking for it every {} s",
                    self.name,
                    REOPEN_INTERVAL.as_secs()
                );
                if self.last_error.as_deref() == Some(why.as_str()) {
                    None
                } else {
                    self.last_error = Some(why.clone());
                    Some(why)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviocsclockid_is_the_kernel_number() {
        // From linux/input.h, as the kernel headers expand it on x86_64 and arm64.
        assert_eq!(EVIOCSCLOCKID, 0x4004_45a0);
    }

    #[test]
    fn a_fifo_with_an_endless_writer_is_closed_as_a_flood() {
        let dir = std::env::temp_dir().join(format!("stembox-flood-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("buttons");
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: c is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let mut src = DeviceSource::new(&path);
        assert!(src.maintain(Instant::now()).unwrap().contains("opened"));
        let writer_path = path.clone();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop_w = stop.clone();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let mut w = std::fs::OpenOptions::new()
                .write(true)
                .open(writer_path)
                .unwrap();
            let zeros = [0u8; RECORD_BYTES * 64];
            while !stop_w.load(std::sync::atomic::Ordering::Relaxed) {
                if w.write_all(&zeros).is_err() {
                    break;
                }
            }
        });
        let t0 = Instant::now();
        let mut out = Vec::new();
        let err = loop {
            out.clear();
            // Before the writer comes, a read sees end of stream and the FIFO is reopened.
            if src.fd().is_none() {
                src.maintain(Instant::now());
            }
            match src.read_events(&mut out) {
                Ok(_) => assert!(out.len() <= MAX_RECORDS_PER_READ, "{}", out.len()),
                Err(e) => break e,
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "never judged a flood"
            );
        };
        assert!(err.to_string().contains("not a button device"), "{err}");
        assert!(out.is_empty(), "a flood's events are dropped");
        assert_eq!(src.fd(), None);
        assert!(src.retry_at().unwrap() >= Instant::now() + FLOOD_BACKOFF - Duration::from_secs(1));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        // Unblock the writer if the pipe is full: a reader that drains it. Opened
        // non-blocking: a blocking open of a FIFO whose writer has already gone would wait
        // for ever.
        {
            use std::io::Read;
            use std::os::unix::fs::OpenOptionsExt;
            let mut drain = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&path)
                .unwrap();
            let mut buf = [0u8; 4096];
            while !writer.is_finished() {
                if !matches!(drain.read(&mut buf), Ok(n) if n > 0) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        writer.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_socket_path_is_refused_and_retried() {
        let dir = std::env::temp_dir().join(format!("stembox-sock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sock");
        let _l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let mut src = DeviceSource::new(&path);
        let note = src.maintain(Instant::now()).unwrap();
        assert!(
            note.starts_with(&format!("buttons: {}: ", path.display())),
            "{note}"
        );
        assert!(src.retry_at().is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn clock_ioctl_on_a_non_evdev_fd_fails_cleanly() {
        let f = File::open("/dev/null").unwrap();
        assert!(use_monotonic_clock(f.as_raw_fd()).is_err());
    }
}
