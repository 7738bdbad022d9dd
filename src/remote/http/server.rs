//! The `stembox-web` event loop: one thread, non-blocking sockets, `poll(2)`. Each
//! connection is a small state machine (`Phase`) with one deadline, so a slow, idle or
//! dead client holds only its own slot until its deadline, and nothing it does (or does not
//! do) can make the loop wait. Requests that wait for control keep their reply receiver in
//! their slot; the loop polls it every [`REPLY_POLL`] while any is pending.
//!
//! Board changes wake the loop through a socket pair written by the `stembox-web-board`
//! thread (which waits on [`Board::wait_newer`]); each published value is serialised once
//! into a shared buffer that every event-stream client's queue points at.

use super::assets::{self, Asset};
use super::request::{parse_request, Method, Parse, Request};
use super::response::{self, Response};
use super::rules::{self, LineKind, PinLimiter, Sessions};
use super::WebStats;
use crate::remote::link::{Board, RemoteRequest, Reply, RequestOrigin, RequestSink};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Connections held at once (page loads, event streams, scripts). Beyond it the longest
/// idle connection without a request in progress is closed to make room; when there is
/// none, the newcomer gets 503 and is closed.
pub const MAX_CONNECTIONS: usize = 64;
/// Event streams held at once (each is a phone or tablet watching); beyond it: 503.
pub const MAX_EVENT_STREAMS: usize = 48;
/// A request must arrive whole within this time of its first byte (or of the connection
/// being accepted): a one-byte-a-second client is dropped with 408 at this deadline.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// A kept-alive connection with no new request is closed after this.
pub const KEEP_ALIVE_IDLE: Duration = Duration::from_secs(15);
/// A response the client does not take within this is abandoned.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long control may take to answer an action before the page gets 504.
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(2);
/// After a final answer (an error that closes the connection), what the client still sends
/// is read and dropped for up to this long, so it reads the answer instead of a reset.
pub const LINGER: Duration = Duration::from_secs(2);
/// ... and for at most this many bytes.
pub const LINGER_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Bytes queued for one event-stream client; a client whose queue would pass this (it
/// stopped reading) is dropped, and never slows the others.
pub const STREAM_MAX_QUEUED_BYTES: usize = 512 * 1024;
/// A comment line on every event stream this often, so proxies and phones keep it open and
/// a dead peer is found.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// How often pending replies from control are looked at.
pub const REPLY_POLL: Duration = Duration::from_millis(2);
/// Longest sleep of the loop when nothing is due (the stop flag and the lock are looked at
/// this often).
const MAX_SLEEP: Duration = Duration::from_millis(250);
/// Connections accepted per loop turn, so a connect flood cannot starve the others.
const ACCEPTS_PER_TURN: usize = 256;

/// Bytes on a connection's way out: owned (one response) or shared (one serialised event
/// for every stream client).
enum Chunk {
    Owned(Vec<u8>),
    Shared(Arc<[u8]>),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Owned(v) => v,
            Chunk::Shared(a) => a,
        }
    }
}

/// Where a connection is in its life; each phase has the connection's one deadline.
enum Phase {
    /// Waiting for the first byte of a request (a new or a kept-alive connection).
    Idle,
    /// Part of a request has arrived.
    Reading,
    /// An action is with control; the answer comes through `rx`.
    Waiting {
        rx: Receiver<String>,
        keep_alive: bool,
    },
    /// A response is being written; then `Idle` (kept alive) or `Draining`.
    Writing,
    /// An event stream: written to on every publish.
    Stream { next_heartbeat: Instant },
    /// Final answer written and our side shut: reading and dropping until EOF.
    Draining { dropped_bytes: usize },
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    inbuf: Vec<u8>,
    out: VecDeque<Chunk>,
    /// Bytes of `out`'s front chunk already written.
    front_written: usize,
    queued_bytes: usize,
    phase: Phase,
    deadline: Instant,
    /// Since when the connection has been in `Idle` (eviction picks the longest).
    idle_since: Instant,
    close_after_write: bool,
    sent_continue: bool,
    /// Pipelined bytes wait in `inbuf` for the next turn.
    parse_pending: bool,
}

impl Conn {
    fn queue(&mut self, chunk: Chunk) {
        self.queued_bytes += chunk.bytes().len();
        self.out.push_back(chunk);
    }

    fn respond(&mut self, bytes: Vec<u8>, keep_alive: bool, now: Instant) {
        self.queue(Chunk::Owned(bytes));
        self.close_after_write |= !keep_alive;
        self.phase = Phase::Writing;
        self.deadline = now + WRITE_TIMEOUT;
    }

    fn is_stream(&self) -> bool {
        matches!(self.phase, Phase::Stream { .. })
    }
}

/// What a routed request turns into.
enum Outcome {
    Respond(Vec<u8>),
    Wait(Receiver<String>),
    Stream,
}

/// The latest published state, serialised once.
struct Published {
    seq: u64,
    song_seq: u64,
    song_json: String,
    live_json: String,
    song_event: Arc<[u8]>,
    live_event: Arc<[u8]>,
    locked: bool,
}

/// Everything a request is routed against (apart from the connection table, so a route can
/// borrow it while a connection is borrowed too).
struct Ctx {
    board: Arc<Board>,
    sink: RequestSink,
    pin: Option<String>,
    hosts: Vec<String>,
    lock: Arc<AtomicBool>,
    assets: Vec<Asset>,
    limiter: PinLimiter,
    sessions: Sessions,
    published: Published,
    stats: Arc<WebStats>,
}

pub(super) struct Server {
    listener: TcpListener,
    wake: UnixStream,
    stop: Arc<AtomicBool>,
    conns: Vec<Option<Conn>>,
    ctx: Ctx,
}

pub(super) struct ServerParts {
    pub listener: TcpListener,
    pub wake: UnixStream,
    pub stop: Arc<AtomicBool>,
    pub board: Arc<Board>,
    pub sink: RequestSink,
    pub pin: Option<String>,
    pub hosts: Vec<String>,
    pub lock: Arc<AtomicBool>,
    pub stats: Arc<WebStats>,
}

fn event_bytes(name: &str, json: &str) -> Arc<[u8]> {
    format!("event: {name}\ndata: {json}\n\n")
        .into_bytes()
        .into()
}

fn lock_event(locked: bool) -> Arc<[u8]> {
    event_bytes("lock", &format!("{{\"locked\":{locked}}}"))
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    // The views are plain data (NaN becomes null): this cannot fail, but never panic here.
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

impl Server {
    pub fn new(p: ServerParts) -> Server {
        let latest = p.board.latest();
        let song_json = to_json(&*latest.song);
        let live_json = to_json(&*latest.live);
        let locked = p.lock.load(Relaxed);
        let published = Published {
            seq: latest.seq,
            song_seq: latest.song_seq,
            song_event: event_bytes("song", &song_json),
            live_event: event_bytes("live", &live_json),
            song_json,
            live_json,
            locked,
        };
        let assets = assets::build();
        p.stats
            .page_weight_gzip_bytes
            .store(assets::page_weight_gzip_bytes(&assets) as u64, Relaxed);
        Server {
            listener: p.listener,
            wake: p.wake,
            stop: p.stop,
            conns: (0..MAX_CONNECTIONS).map(|_| None).collect(),
            ctx: Ctx {
                board: p.board,
                sink: p.sink,
                pin: p.pin,
                hosts: p.hosts,
                lock: p.lock,
                assets,
                limiter: PinLimiter::default(),
                sessions: Sessions::default(),
                published,
                stats: p.stats,
            },
        }
    }

    /// The loop; returns when the stop flag is set.
    pub fn run(mut self) {
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(MAX_CONNECTIONS + 2);
        let mut slots: Vec<usize> = Vec::with_capacity(MAX_CONNECTIONS);
        while !self.stop.load(Relaxed) {
            let now = Instant::now();
            fds.clear();
            slots.clear();
            let pollfd = |fd, events| libc::pollfd {
                fd,
                events,
                revents: 0,
            };
            fds.push(pollfd(self.wake.as_raw_fd(), libc::POLLIN));
            fds.push(pollfd(self.listener.as_raw_fd(), libc::POLLIN));
            let mut next_due = now + MAX_SLEEP;
            for (i, c) in self.conns.iter().enumerate() {
                let Some(c) = c else { continue };
                let mut events = 0;
                match c.phase {
                    Phase::Waiting { .. } => next_due = next_due.min(now + REPLY_POLL),
                    Phase::Writing => {}
                    _ => events |= libc::POLLIN,
                }
                if !c.out.is_empty() {
                    events |= libc::POLLOUT;
                }
                next_due = next_due.min(c.deadline);
                if c.parse_pending {
                    next_due = now;
                }
                if let Phase::Stream { next_heartbeat } = c.phase {
                    next_due = next_due.min(next_heartbeat);
                }
                fds.push(pollfd(c.stream.as_raw_fd(), events));
                slots.push(i);
            }
            let timeout_ms = next_due
                .saturating_duration_since(now)
                .as_millis()
                .min(i32::MAX as u128) as i32;
            // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs for the call.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // EINVAL/ENOMEM from poll are not a client's doing: back off, keep serving.
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            let now = Instant::now();
            if fds[0].revents != 0 {
                let mut sink = [0u8; 64];
                while matches!((&self.wake).read(&mut sink), Ok(n) if n > 0) {}
            }
            self.refresh_published(now);
            for (k, &slot) in slots.iter().enumerate() {
                let revents = fds[k + 2].revents;
                if revents == 0 {
                    continue;
                }
                let gone = revents & (libc::POLLHUP | libc::POLLERR) != 0;
                let reads = self.conns[slot]
                    .as_ref()
                    .is_some_and(|c| !matches!(c.phase, Phase::Waiting { .. } | Phase::Writing));
                if gone && !reads {
                    // Reset or hung up while we answer: poll would report it on every turn
                    // until the answer's deadline. Nobody is left to read the answer.
                    self.close(slot);
                    continue;
                }
                if revents & libc::POLLOUT != 0 {
                    self.flush(slot, now);
                }
                if revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                    self.on_readable(slot, now);
                }
            }
            if fds[1].revents != 0 {
                self.accept_all(now);
            }
            self.tick(now);
        }
    }

    fn close(&mut self, slot: usize) {
        if self.conns[slot].take().is_some() {
            self.ctx.stats.open.fetch_sub(1, Relaxed);
        }
    }

    fn accept_all(&mut self, now: Instant) {
        for _ in 0..ACCEPTS_PER_TURN {
            let (stream, peer) = match self.listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // EMFILE and friends: the connection stays in the backlog; try next turn.
                Err(_) => return,
            };
            self.ctx.stats.accepted.fetch_add(1, Relaxed);
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let _ = stream.set_nodelay(true);
            let slot = match self.free_slot() {
                Some(s) => s,
                None => {
                    self.ctx.stats.refused_full.fetch_add(1, Relaxed);
                    let mut s = &stream;
                    // Take what the client sent already, so closing does not reset the
                    // connection before it reads the 503.
                    let _ = s.read(&mut [0u8; 2048]);
                    let _ = s.write(&response::text(
                        503,
                        "busy: too many connections, try again",
                        false,
                    ));
                    continue;
                }
            };
            self.conns[slot] = Some(Conn {
                stream,
                peer,
                inbuf: Vec::new(),
                out: VecDeque::new(),
                front_written: 0,
                queued_bytes: 0,
                phase: Phase::Idle,
                deadline: now + REQUEST_TIMEOUT,
                idle_since: now,
                close_after_write: false,
                sent_continue: false,
                parse_pending: false,
            });
            self.ctx.stats.open.fetch_add(1, Relaxed);
            // The request is often there already: serve it now, before the next accept
            // could need its slot.
            self.on_readable(slot, now);
        }
    }

    /// A free slot, or one made by closing the longest-idle connection (no request in
    /// progress, so nobody loses an answer; a browser reconnects by itself).
    fn free_slot(&mut self) -> Option<usize> {
        if let Some(i) = self.conns.iter().position(Option::is_none) {
            return Some(i);
        }
        let victim = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().map(|c| (i, c)))
            .filter(|(_, c)| matches!(c.phase, Phase::Idle | Phase::Draining { .. }))
            .min_by_key(|(_, c)| c.idle_since)
            .map(|(i, _)| i)?;
        self.close(victim);
        self.ctx.stats.evicted_idle.fetch_add(1, Relaxed);
        Some(victim)
    }

    fn on_readable(&mut self, slot: usize, now: Instant) {
        let mut buf = [0u8; 4096];
        loop {
            let Some(c) = self.conns[slot].as_mut() else {
                return;
            };
            let reading = matches!(c.phase, Phase::Idle | Phase::Reading);
            if !reading && !matches!(c.phase, Phase::Stream { .. } | Phase::Draining { .. }) {
                return;
            }
            match c.stream.read(&mut buf) {
                Ok(0) => return self.close(slot),
                Ok(n) => match &mut c.phase {
                    Phase::Draining { dropped_bytes } => {
                        *dropped_bytes += n;
                        if *dropped_bytes > LINGER_MAX_BYTES {
                            return self.close(slot);
                        }
                    }
                    // An event-stream client has nothing to say; what it sends is dropped.
                    Phase::Stream { .. } => {}
                    _ => {
                        if matches!(c.phase, Phase::Idle) {
                            c.phase = Phase::Reading;
                            c.deadline = now + REQUEST_TIMEOUT;
                        }
                        c.inbuf.extend_from_slice(&buf[..n]);
                        self.process_input(slot, now);
                    }
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(slot),
            }
        }
    }

    /// Parses what has arrived; routes a complete request.
    fn process_input(&mut self, slot: usize, now: Instant) {
        let Some(c) = self.conns[slot].as_mut() else {
            return;
        };
        match parse_request(&c.inbuf) {
            Ok(Parse::Partial { expect_continue }) => {
                if expect_continue && !c.sent_continue {
                    c.sent_continue = true;
                    c.queue(Chunk::Owned(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec()));
                    self.flush(slot, now);
                }
            }
            Ok(Parse::Complete(req, used)) => {
                c.inbuf.drain(..used);
                c.sent_continue = false;
                self.ctx.stats.requests.fetch_add(1, Relaxed);
                let keep_alive = req.keep_alive;
                let peer = c.peer;
                let head_only = req.method() == Method::Head;
                match self.ctx.route(&req, peer, now) {
                    Outcome::Respond(bytes) => {
                        let bytes = if head_only { strip_body(bytes) } else { bytes };
                        let Some(c) = self.conns[slot].as_mut() else {
                            return;
                        };
                        c.respond(bytes, keep_alive, now);
                        self.flush(slot, now);
                    }
                    Outcome::Wait(rx) => {
                        let Some(c) = self.conns[slot].as_mut() else {
                            return;
                        };
                        c.phase = Phase::Waiting { rx, keep_alive };
                        c.deadline = now + ACTION_TIMEOUT;
                    }
                    Outcome::Stream => self.start_stream(slot, now),
                }
            }
            Err(reject) => {
                self.ctx.stats.rejected.fetch_add(1, Relaxed);
                c.inbuf.clear();
                c.respond(
                    response::text(reject.status, &reject.reason, false),
                    false,
                    now,
                );
                self.flush(slot, now);
            }
        }
    }

    fn start_stream(&mut self, slot: usize, now: Instant) {
        let streams = self
            .conns
            .iter()
            .flatten()
            .filter(|c| c.is_stream())
            .count();
        let Some(c) = self.conns[slot].as_mut() else {
            return;
        };
        if streams >= MAX_EVENT_STREAMS {
            c.respond(
                response::text(503, "busy: too many event streams", false),
                false,
                now,
            );
            return self.flush(slot, now);
        }
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n\
                    Connection: keep-alive\r\nX-Content-Type-Options: nosniff\r\nX-Accel-Buffering: no\r\n\r\n\
                    retry: 1000\n\n";
        c.queue(Chunk::Owned(head.as_bytes().to_vec()));
        let p = &self.ctx.published;
        c.queue(Chunk::Shared(p.song_event.clone()));
        c.queue(Chunk::Shared(p.live_event.clone()));
        c.queue(Chunk::Shared(lock_event(p.locked)));
        c.phase = Phase::Stream {
            next_heartbeat: now + HEARTBEAT,
        };
        // A stream has no deadline of its own: the heartbeat and the queue bound find a
        // dead or stuck peer.
        c.deadline = now + Duration::from_secs(365 * 24 * 3600);
        self.ctx.stats.streams_opened.fetch_add(1, Relaxed);
        self.flush(slot, now);
    }

    /// Writes what the connection has queued, as far as the socket takes it.
    fn flush(&mut self, slot: usize, now: Instant) {
        let Some(c) = self.conns[slot].as_mut() else {
            return;
        };
        while let Some(front) = c.out.front() {
            let bytes = &front.bytes()[c.front_written..];
            match c.stream.write(bytes) {
                Ok(0) => return self.close(slot),
                Ok(n) => {
                    c.front_written += n;
                    c.queued_bytes -= n;
                    if c.front_written == front.bytes().len() {
                        c.out.pop_front();
                        c.front_written = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(slot),
            }
        }
        if matches!(c.phase, Phase::Writing) {
            if c.close_after_write {
                let _ = c.stream.shutdown(Shutdown::Write);
                c.phase = Phase::Draining { dropped_bytes: 0 };
                c.deadline = now + LINGER;
                c.idle_since = now;
            } else {
                c.phase = Phase::Idle;
                c.deadline = now + KEEP_ALIVE_IDLE;
                c.idle_since = now;
                if !c.inbuf.is_empty() {
                    // A pipelined request arrived with the last one: parsed on the next
                    // turn, one request per connection per turn (no recursion, fair).
                    c.phase = Phase::Reading;
                    c.deadline = now + REQUEST_TIMEOUT;
                    c.parse_pending = true;
                }
            }
        }
    }

    /// Replies from control, deadlines, heartbeats, lock changes made elsewhere.
    fn tick(&mut self, now: Instant) {
        let locked = self.ctx.lock.load(Relaxed);
        if locked != self.ctx.published.locked {
            self.ctx.published.locked = locked;
            self.broadcast(lock_event(locked), now);
        }
        for slot in 0..self.conns.len() {
            let Some(c) = self.conns[slot].as_mut() else {
                continue;
            };
            if c.parse_pending {
                c.parse_pending = false;
                self.process_input(slot, now);
                continue;
            }
            if let Phase::Waiting { rx, keep_alive } = &c.phase {
                let keep_alive = *keep_alive;
                let answer = match rx.try_recv() {
                    Ok(line) => {
                        let status = if line.starts_with("error") { 409 } else { 200 };
                        Some(response::text(status, &line, keep_alive))
                    }
                    Err(TryRecvError::Disconnected) => Some(response::text(
                        503,
                        "busy: control dropped the request",
                        keep_alive,
                    )),
                    Err(TryRecvError::Empty) if now >= c.deadline => {
                        self.ctx.stats.action_timeouts.fetch_add(1, Relaxed);
                        Some(response::text(
                            504,
                            "timeout: no answer from control within 2 s",
                            keep_alive,
                        ))
                    }
                    Err(TryRecvError::Empty) => None,
                };
                if let Some(bytes) = answer {
                    c.respond(bytes, keep_alive, now);
                    self.flush(slot, now);
                }
                continue;
            }
            if let Phase::Stream { next_heartbeat } = &mut c.phase {
                if now >= *next_heartbeat {
                    *next_heartbeat = now + HEARTBEAT;
                    self.queue_stream(slot, Chunk::Owned(b": heartbeat\n\n".to_vec()), now);
                }
                continue;
            }
            if now < c.deadline {
                continue;
            }
            match c.phase {
                Phase::Reading => {
                    self.ctx.stats.timeouts.fetch_add(1, Relaxed);
                    c.inbuf.clear();
                    c.respond(
                        response::text(408, "timeout: the request took too long to arrive", false),
                        false,
                        now,
                    );
                    self.flush(slot, now);
                }
                Phase::Idle | Phase::Writing | Phase::Draining { .. } => {
                    if matches!(c.phase, Phase::Writing) {
                        self.ctx.stats.timeouts.fetch_add(1, Relaxed);
                    }
                    self.close(slot)
                }
                Phase::Waiting { .. } | Phase::Stream { .. } => {}
            }
        }
    }

    /// Serialises a newly published state once and sends it to every stream.
    fn refresh_published(&mut self, now: Instant) {
        let latest = self.ctx.board.latest();
        let p = &mut self.ctx.published;
        if latest.seq == p.seq {
            return;
        }
        p.seq = latest.seq;
        let song_changed = latest.song_seq != p.song_seq;
        if song_changed {
            p.song_seq = latest.song_seq;
            p.song_json = to_json(&*latest.song);
            p.song_event = event_bytes("song", &p.song_json);
        }
        p.live_json = to_json(&*latest.live);
        p.live_event = event_bytes("live", &p.live_json);
        let (song, live) = (p.song_event.clone(), p.live_event.clone());
        if song_changed {
            self.broadcast(song, now);
        }
        self.broadcast(live, now);
    }

    fn broadcast(&mut self, event: Arc<[u8]>, now: Instant) {
        for slot in 0..self.conns.len() {
            if self.conns[slot].as_ref().is_some_and(Conn::is_stream) {
                self.queue_stream(slot, Chunk::Shared(event.clone()), now);
            }
        }
    }

    fn queue_stream(&mut self, slot: usize, chunk: Chunk, now: Instant) {
        let Some(c) = self.conns[slot].as_mut() else {
            return;
        };
        if c.queued_bytes + chunk.bytes().len() > STREAM_MAX_QUEUED_BYTES {
            self.ctx.stats.streams_dropped_full.fetch_add(1, Relaxed);
            return self.close(slot);
        }
        c.queue(chunk);
        self.flush(slot, now);
    }
}

/// Drops the body of a finished response (HEAD), keeping its Content-Length.
fn strip_body(mut bytes: Vec<u8>) -> Vec<u8> {
    if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
        bytes.truncate(end + 4);
    }
    bytes
}

impl Ctx {
    fn route(&mut self, req: &Request, peer: SocketAddr, now: Instant) -> Outcome {
        let ka = req.keep_alive;
        let text = |status: u16, line: &str| Outcome::Respond(response::text(status, line, ka));
        let method = req.method();
        let path = req.path.as_str();
        let is_get = matches!(method, Method::Get | Method::Head);
        if let Some(host) = req.host.as_deref() {
            if !rules::host_allowed(host, &self.hosts) {
                self.stats.forbidden.fetch_add(1, Relaxed);
                let shown: String = host.chars().take(80).collect();
                return text(
                    403,
                    &format!(
                        "forbidden: {shown} is not a name of this box (add it to remote.hosts)"
                    ),
                );
            }
        }
        match path {
            "/" | "/index.html" | "/app.js" | "/app.css" | "/api/state" | "/api/events" => {
                if !is_get {
                    return Outcome::Respond(
                        Response::new(
                            405,
                            "text/plain; charset=utf-8",
                            b"method not allowed: use GET\n",
                        )
                        .header("Allow", "GET, HEAD")
                        .to_bytes(ka, false),
                    );
                }
            }
            "/api/action" | "/api/pin" | "/api/lock" | "/api/unlock" => {
                if method != Method::Post {
                    return Outcome::Respond(
                        Response::new(
                            405,
                            "text/plain; charset=utf-8",
                            b"method not allowed: use POST\n",
                        )
                        .header("Allow", "POST")
                        .to_bytes(ka, false),
                    );
                }
                if let Err(p) = rules::check_origin(
                    req.origin.as_deref(),
                    req.host.as_deref(),
                    req.page_header.as_deref(),
                ) {
                    self.stats.forbidden.fetch_add(1, Relaxed);
                    return text(403, p.reason());
                }
            }
            _ => {
                let shown: String = path.chars().take(80).collect();
                return text(404, &format!("not found: {shown}"));
            }
        }
        match path {
            "/api/state" => {
                let session = self.has_session(req, now);
                Outcome::Respond(
                    Response::new(200, "application/json", self.state_json(session).as_bytes())
                        .header("Cache-Control", "no-store")
                        .to_bytes(ka, false),
                )
            }
            "/api/events" if method == Method::Head => Outcome::Respond(
                Response::new(200, "text/event-stream", b"")
                    .header("Cache-Control", "no-store")
                    .to_bytes(ka, false),
            ),
            "/api/events" => Outcome::Stream,
            "/api/action" => self.action(req, now),
            "/api/pin" => {
                let Some(pin) = self.pin.clone() else {
                    return text(200, "ok: no PIN is set");
                };
                if let Err(wait) = self.limiter.attempt(peer.ip(), now) {
                    return self.too_many(wait, ka);
                }
                if !rules::pin_matches(&pin, &String::from_utf8_lossy(&req.body)) {
                    return text(403, "forbidden: wrong PIN");
                }
                let token = self.sessions.create(now);
                Outcome::Respond(
                    Response::new(200, "text/plain; charset=utf-8", b"ok: PIN accepted\n")
                        .header("Set-Cookie", rules::session_cookie(&token))
                        .header("Cache-Control", "no-store")
                        .to_bytes(ka, false),
                )
            }
            "/api/lock" => {
                if self.pin.is_some() && !self.has_session(req, now) {
                    return text(401, "unauthorized: enter the PIN first (POST /api/pin)");
                }
                self.lock.store(true, Relaxed);
                text(200, "ok: locked")
            }
            "/api/unlock" => {
                if let Some(pin) = self.pin.clone() {
                    if let Err(wait) = self.limiter.attempt(peer.ip(), now) {
                        return self.too_many(wait, ka);
                    }
                    if !rules::pin_matches(&pin, &String::from_utf8_lossy(&req.body)) {
                        return text(403, "forbidden: wrong PIN");
                    }
                }
                self.lock.store(false, Relaxed);
                text(200, "ok: unlocked")
            }
            _ => {
                let Some(asset) = assets::find(&self.assets, path) else {
                    return text(404, "not found");
                };
                if req.if_none_match.as_deref() == Some(asset.etag.as_str()) {
                    return Outcome::Respond(
                        Response::new(304, asset.content_type, b"")
                            .header("ETag", asset.etag.clone())
                            .to_bytes(ka, false),
                    );
                }
                let gz = req
                    .accept_encoding
                    .as_deref()
                    .is_some_and(rules::accepts_gzip);
                let body: &[u8] = if gz { &asset.gzip } else { asset.plain };
                let mut r = Response::new(200, asset.content_type, body)
                    .header("ETag", asset.etag.clone())
                    .header("Cache-Control", "no-cache")
                    .header("Vary", "Accept-Encoding");
                if gz {
                    r = r.header("Content-Encoding", "gzip");
                }
                Outcome::Respond(r.to_bytes(ka, false))
            }
        }
    }

    fn too_many(&self, wait: Duration, ka: bool) -> Outcome {
        self.stats.pin_limited.fetch_add(1, Relaxed);
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Outcome::Respond(
            Response::new(
                429,
                "text/plain; charset=utf-8",
                format!("too many PIN attempts: wait {secs} s\n").as_bytes(),
            )
            .header("Retry-After", secs.to_string())
            .to_bytes(ka, false),
        )
    }

    fn has_session(&mut self, req: &Request, now: Instant) -> bool {
        req.cookie
            .as_deref()
            .and_then(|c| rules::cookie_value(c, rules::SESSION_COOKIE))
            .is_some_and(|t| self.sessions.check(t, now))
    }

    fn state_json(&self, session: bool) -> String {
        let p = &self.published;
        format!(
            "{{\"seq\":{},\"song\":{},\"live\":{},\"locked\":{},\"pin_required\":{},\"session\":{}}}",
            p.seq,
            p.song_json,
            p.live_json,
            p.locked,
            self.pin.is_some(),
            session || self.pin.is_none()
        )
    }

    fn action(&mut self, req: &Request, now: Instant) -> Outcome {
        let ka = req.keep_alive;
        let text = |status: u16, line: &str| Outcome::Respond(response::text(status, line, ka));
        let Ok(body) = std::str::from_utf8(&req.body) else {
            return text(400, "bad request: the action is not UTF-8 text");
        };
        let line = body.trim();
        if line.is_empty() {
            return text(400, "bad request: empty action (send one console line)");
        }
        if line.contains(['\n', '\r']) {
            return text(400, "bad request: one line per action");
        }
        if line.chars().any(char::is_control) {
            return text(400, "bad request: control characters in the action");
        }
        if self.pin.is_some() && !self.has_session(req, now) {
            return text(401, "unauthorized: enter the PIN first (POST /api/pin)");
        }
        match rules::line_kind(line) {
            LineKind::Forbidden => return text(403, "forbidden: not from the remote"),
            LineKind::Mix if self.lock.load(Relaxed) => {
                self.stats.locked_refusals.fetch_add(1, Relaxed);
                return text(
                    423,
                    "locked: mixer and practice changes are off (unlock first)",
                );
            }
            _ => {}
        }
        let (reply, rx) = Reply::channel();
        let request = RemoteRequest {
            line: line.to_string(),
            origin: RequestOrigin::Web,
            reply,
        };
        self.stats.actions.fetch_add(1, Relaxed);
        if !(self.sink)(request) {
            return text(503, "busy: control did not take the request");
        }
        Outcome::Wait(rx)
    }
}
