//! The web remote: a small HTTP/1.1 server for the phone and tablet page, its JSON API and
//! its event stream, on one thread (`stembox-web`) spawned by [`WebThread::spawn`].
//!
//! ## Why this shape
//! One non-blocking event loop over `std::net` and `poll(2)` ([`server`]), requests parsed by
//! `httparse` ([`request`]). A thread per connection (tiny_http style) would spend a thread
//! and its stack on each of 2,000 idle sockets; an async runtime would pay for itself only
//! with many more clients than a rehearsal room has. In one loop every limit is exact (a
//! connection is a slot in a fixed table with one deadline), a slow or dead client costs
//! only its own slot, and no request ever waits inside the loop: an action's answer from
//! control is a non-blocking [`Reply`](crate::remote::link::Reply) looked at every 2 ms
//! while one is pending. A second thread (`stembox-web-board`) waits on the
//! [`Board`] and wakes the loop through a socket pair, so a publish reaches every page at
//! once and each published value is serialised once for all clients.
//!
//! ## Bounds
//! [`server::MAX_CONNECTIONS`] (64; when full, the longest-idle connection without a request
//! in progress is closed, else the newcomer gets 503), [`server::MAX_EVENT_STREAMS`] (48),
//! head [`request::MAX_HEADER_BYTES`] (8 KiB, 431), body [`request::MAX_BODY_BYTES`]
//! (4 KiB, 413), a request must arrive within [`server::REQUEST_TIMEOUT`] (5 s, 408), kept
//! alive idle [`server::KEEP_ALIVE_IDLE`] (15 s), [`server::ACTION_TIMEOUT`] (2 s, 504), an
//! event-stream client may have [`server::STREAM_MAX_QUEUED_BYTES`] (512 KiB) unread before
//! it is dropped. Every refused request gets a 4xx/5xx with a one-line text reason.
//!
//! ## API
//! | request | answer |
//! |---|---|
//! | `GET /`, `/app.js`, `/app.css` | the page (embedded; gzip when accepted; ETag/304) |
//! | `GET /api/state` | `{"seq", "song": SongView, "live": LiveView, "locked", "pin_required", "session"}` |
//! | `GET /api/events` | Server-Sent Events: `event: song`, `event: live` (JSON of the views, on every publish), `event: lock` (`{"locked": bool}`); `: heartbeat` every 15 s |
//! | `POST /api/action` | body: one console line (`mute drums`); 200 with control's reply line, 409 when control answered `error...`, 400 bad line, 401 PIN needed, 403 `quit`, 423 locked, 503 control busy, 504 no answer in 2 s |
//! | `POST /api/pin` | body: the PIN; 200 + `Set-Cookie: stembox_session=...; HttpOnly; SameSite=Strict`, 403 wrong, 429 + `Retry-After` after 5 attempts a minute |
//! | `POST /api/lock` | lock mode on (needs a session when a PIN is set) |
//! | `POST /api/unlock` | body: the PIN when one is set (rate-limited like `/api/pin`) |
//!
//! Every request's `Host` must be an IP address, a single-label name, a local-only domain
//! (`.local`, `.lan`, `.home.arpa`, `.internal`, `localhost`) or a name in
//! [`RemoteOptions::hosts`], else 403 (DNS rebinding). Every POST needs an `Origin` equal to `http://<Host>` or, with no Origin (curl), the
//! header `X-Stembox: 1`; else 403. With `remote.pin` set, every change needs the session
//! cookie. Lock mode (box-wide, [`RemoteOptions::lock`]) refuses mute, unmute, toggle,
//! solo, unsolo, gain, pan, bus, volume, speed, pitch, click, countin, mix and loop ramp with
//! 423 and lets transport, song, section, seek, loop points and setlist lines through.

pub mod assets;
pub mod request;
pub mod response;
pub mod rules;
pub mod server;

use crate::remote::link::{Board, RequestSink};
use std::fmt;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What the web remote is started with (from config `remote.listen` and `remote.pin`).
#[derive(Clone, Debug, Default)]
pub struct RemoteOptions {
    /// Where to listen; the server binds only here. `None`: the web remote is off.
    pub listen: Option<SocketAddr>,
    /// When set, every change needs a session from `POST /api/pin` with this PIN.
    pub pin: Option<String>,
    /// Host names (besides IP addresses, single labels and local-only domains such as
    /// `stembox.local`) under which the box may be addressed (config `remote.hosts`);
    /// requests for any other name get 403, which stops DNS-rebinding pages.
    pub hosts: Vec<String>,
    /// Lock mode, box-wide: shared with the OSC remote so both refuse mixer changes while
    /// it is on. The web page switches it; the server shows a change made elsewhere.
    pub lock: Arc<AtomicBool>,
}

/// Why the web remote could not start.
#[derive(Debug)]
pub enum RemoteError {
    /// `remote.listen` is not set.
    NotConfigured,
    /// The address could not be bound (in use, not an address of this box, port < 1024
    /// without the capability).
    Bind { addr: SocketAddr, source: io::Error },
    /// The loop's wake-up socket pair or its threads could not be made.
    Setup {
        what: &'static str,
        source: io::Error,
    },
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteError::NotConfigured => write!(f, "remote.listen is not set"),
            RemoteError::Bind { addr, source } => {
                write!(f, "remote.listen: cannot listen on {addr}: {source}")
            }
            RemoteError::Setup { what, source } => {
                write!(f, "web remote: cannot create {what}: {source}")
            }
        }
    }
}

impl std::error::Error for RemoteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RemoteError::NotConfigured => None,
            RemoteError::Bind { source, .. } | RemoteError::Setup { source, .. } => Some(source),
        }
    }
}

/// Counters of the web thread, for the stats line, the health view and tests.
#[derive(Debug, Default)]
pub struct WebStats {
    pub accepted: AtomicU64,
    /// Connections open now.
    pub open: AtomicU64,
    pub requests: AtomicU64,
    pub actions: AtomicU64,
    /// Turned away with 503 because every slot was busy.
    pub refused_full: AtomicU64,
    /// Idle connections closed to make room for a new one.
    pub evicted_idle: AtomicU64,
    /// Requests refused before routing (malformed, too large).
    pub rejected: AtomicU64,
    /// Requests that did not arrive in time, responses not taken in time.
    pub timeouts: AtomicU64,
    pub action_timeouts: AtomicU64,
    pub forbidden: AtomicU64,
    pub pin_limited: AtomicU64,
    pub locked_refusals: AtomicU64,
    pub streams_opened: AtomicU64,
    /// Event-stream clients dropped because they stopped reading.
    pub streams_dropped_full: AtomicU64,
    /// Compressed size of the page's files (a first visit).
    pub page_weight_gzip_bytes: AtomicU64,
}

/// The running web remote. Dropping it stops the loop and joins its threads.
pub struct WebThread {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    wake: UnixStream,
    stats: Arc<WebStats>,
    threads: Vec<JoinHandle<()>>,
}

/// Connections the kernel holds for the loop to accept (capped by `net.core.somaxconn`).
pub const LISTEN_BACKLOG: i32 = 1024;

/// How long the board thread waits before looking at the stop flag again.
const BOARD_WAIT: Duration = Duration::from_millis(200);

impl WebThread {
    /// Binds `opts.listen` and starts `stembox-web` and `stembox-web-board`. Called once by
    /// control's start-up; the threads never call control, they hand requests to `sink`.
    pub fn spawn(
        opts: RemoteOptions,
        board: Arc<Board>,
        sink: RequestSink,
    ) -> Result<WebThread, RemoteError> {
        let addr = opts.listen.ok_or(RemoteError::NotConfigured)?;
        let listener =
            TcpListener::bind(addr).map_err(|source| RemoteError::Bind { addr, source })?;
        let setup = |what| move |source| RemoteError::Setup { what, source };
        // std listens with a backlog of 128: a burst of connections (a flood, or a room of
        // phones reconnecting after a Wi-Fi drop) faster than one loop turn would have its
        // SYNs dropped and retried a second later. Linux lets listen(2) again raise it.
        // SAFETY: a plain syscall on a socket fd this function owns.
        if unsafe { libc::listen(listener.as_raw_fd(), LISTEN_BACKLOG) } != 0 {
            return Err(setup("the listen backlog")(io::Error::last_os_error()));
        }
        listener
            .set_nonblocking(true)
            .map_err(setup("a non-blocking listener"))?;
        let addr = listener.local_addr().map_err(setup("the listener"))?;
        let (wake_rx, wake_tx) = UnixStream::pair().map_err(setup("the wake-up socket pair"))?;
        wake_rx
            .set_nonblocking(true)
            .map_err(setup("the wake-up socket pair"))?;
        wake_tx
            .set_nonblocking(true)
            .map_err(setup("the wake-up socket pair"))?;
        let board_wake = wake_tx
            .try_clone()
            .map_err(setup("the wake-up socket pair"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(WebStats::default());
        let server = server::Server::new(server::ServerParts {
            listener,
            wake: wake_rx,
            stop: stop.clone(),
            board: board.clone(),
            sink,
            pin: opts.pin.filter(|p| !p.is_empty()),
            hosts: opts.hosts,
            lock: opts.lock,
            stats: stats.clone(),
        });
        let web = std::thread::Builder::new()
            .name("stembox-web".into())
            .spawn(move || server.run())
            .map_err(setup("the stembox-web thread"))?;
        let mut handle = WebThread {
            addr,
            stop: stop.clone(),
            wake: wake_tx,
            stats,
            threads: vec![web],
        };
        let watcher = std::thread::Builder::new()
            .name("stembox-web-board".into())
            .spawn(move || {
                let mut seen = board.latest().seq;
                let mut wake = board_wake;
                while !stop.load(Relaxed) {
                    let p = board.wait_newer(seen, BOARD_WAIT);
                    if p.seq > seen {
                        seen = p.seq;
                        // A full socket means the loop has a wake-up pending already.
                        let _ = wake.write(&[1]);
                    }
                }
            })
            .map_err(setup("the stembox-web-board thread"))?;
        handle.threads.push(watcher);
        Ok(handle)
    }

    /// The address actually bound (the port, when `listen` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> &WebStats {
        &self.stats
    }
}

impl Drop for WebThread {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        let _ = (&self.wake).write(&[1]);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
