//! The `stembox-osc` thread: one UDP socket, read with a short timeout so the same loop
//! also collects answers from control and pushes state to subscribers when the
//! [`Board`] changes. Nothing in it blocks on control or on a client:
//! - a request goes to control through the [`RequestSink`] and its [`Reply`] receiver is
//!   polled with `try_recv`; at most [`MAX_IN_FLIGHT`] wait at once, more are answered
//!   `busy` (so a flood costs the flooder, not control);
//! - a send that fails (a client gone, a full socket buffer) loses that datagram only;
//! - replies and error answers are rate-limited ([`MAX_ANSWERS_PER_S`]), so a stream of
//!   bad packets with a forged sender cannot make the box a reflector;
//! - malformed, oversized, too deep or too long packets are counted and ignored.
//!
//! [`Reply`]: crate::remote::link::Reply

use super::codec::{self, Incoming, OscError, MAX_PACKET_BYTES};
use crate::remote::link::{Board, Published, RemoteRequest, Reply, RequestOrigin, RequestSink};
use crate::remote::view::LiveView;
use rosc::OscMessage;
use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a socket read waits: the loop's tick for replies, feedback and stopping.
pub const READ_TIMEOUT: Duration = Duration::from_millis(20);
/// Most requests waiting for control's answer at once.
pub const MAX_IN_FLIGHT: usize = 32;
/// An answer not there after this long is given up (control answers in milliseconds).
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// Most subscribers at once.
pub const MAX_SUBSCRIBERS: usize = 16;
/// A subscriber that sent nothing (no message, no re-subscribe) for this long is dropped.
pub const SUBSCRIBER_TTL: Duration = Duration::from_secs(60);
/// Least time between two `/stembox/pos` messages (10 a second).
pub const POS_INTERVAL: Duration = Duration::from_millis(100);
/// Most replies and error answers sent per second, all senders together.
pub const MAX_ANSWERS_PER_S: u32 = 200;
/// Most whole-state dumps (sent on a subscribe) per second: a subscribe with a forged
/// sender would otherwise turn one small packet into dozens for someone else.
pub const MAX_DUMPS_PER_S: u32 = 10;
/// How often the board is looked at while packets keep arriving.
const BOARD_POLL: Duration = Duration::from_millis(5);

/// What the thread has seen, for the stats line and tests.
#[derive(Debug, Default)]
pub struct OscCounters {
    pub packets: AtomicU64,
    /// Undecodable, oversized, too deep or too many messages.
    pub malformed: AtomicU64,
    /// Messages that decoded but map to no command (unknown address, bad arguments).
    pub refused: AtomicU64,
    /// Lines handed to control.
    pub requests: AtomicU64,
    /// Requests answered `busy` (too many in flight, or control's queue full).
    pub busy: AtomicU64,
    /// Answers not sent because of the rate limit.
    pub answers_dropped: AtomicU64,
    /// Feedback datagrams sent.
    pub feedback_sent: AtomicU64,
    /// Datagrams a send failed for.
    pub send_errors: AtomicU64,
    pub subscribers: AtomicU64,
}

/// The running OSC thread. Dropping it stops and joins the thread (within one
/// [`READ_TIMEOUT`]).
pub struct OscThread {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    local_addr: SocketAddr,
    counters: Arc<OscCounters>,
}

impl OscThread {
    /// Binds `addr` (UDP) and starts `stembox-osc`. Called by control at start-up when
    /// `remote.osc_listen` is set; `127.0.0.1:0` picks a free port ([`Self::local_addr`]).
    pub fn spawn(
        addr: SocketAddr,
        board: Arc<Board>,
        sink: RequestSink,
    ) -> Result<OscThread, OscError> {
        let bind = |source: io::Error| OscError::Bind { addr, source };
        let socket = UdpSocket::bind(addr).map_err(bind)?;
        socket.set_read_timeout(Some(READ_TIMEOUT)).map_err(bind)?;
        let local_addr = socket.local_addr().map_err(bind)?;
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(OscCounters::default());
        let mut worker = Worker {
            socket,
            board,
            sink,
            stop: stop.clone(),
            counters: counters.clone(),
            subscribers: Subscribers::default(),
            in_flight: VecDeque::new(),
            last: None,
            pos: PosThrottle::default(),
            answers: Budget::per_second(MAX_ANSWERS_PER_S),
            dumps: Budget::per_second(MAX_DUMPS_PER_S),
        };
        let handle = std::thread::Builder::new()
            .name("stembox-osc".into())
            .spawn(move || worker.run())
            .map_err(OscError::Spawn)?;
        Ok(OscThread {
            stop,
            handle: Some(handle),
            local_addr,
            counters,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Live counters (any thread).
    pub fn counters(&self) -> &OscCounters {
        &self.counters
    }

    /// Whether the thread still runs (it ends only when stopped, or on a panic).
    pub fn is_running(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| !h.is_finished())
    }
}

impl Drop for OscThread {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A client that asked for state.
#[derive(Debug)]
struct Subscriber {
    /// Where feedback goes.
    to: SocketAddr,
    /// Where its messages come from (refreshes it).
    from: SocketAddr,
    last_heard: Instant,
}

/// The clients that get feedback: at most [`MAX_SUBSCRIBERS`], each dropped after
/// [`SUBSCRIBER_TTL`] without a message from it. Pure apart from the times given.
#[derive(Debug, Default)]
pub struct Subscribers {
    list: Vec<Subscriber>,
}

/// All [`MAX_SUBSCRIBERS`] places are taken.
#[derive(Debug, PartialEq, Eq)]
pub struct SubscribersFull;

impl Subscribers {
    /// `from` asks for feedback at `to`: a new place, or a refresh of its place (its
    /// source may have moved).
    pub fn subscribe(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        now: Instant,
    ) -> Result<(), SubscribersFull> {
        if let Some(s) = self.list.iter_mut().find(|s| s.to == to) {
            s.from = from;
            s.last_heard = now;
            return Ok(());
        }
        if self.list.len() >= MAX_SUBSCRIBERS {
            return Err(SubscribersFull);
        }
        self.list.push(Subscriber {
            to,
            from,
            last_heard: now,
        });
        Ok(())
    }

    /// Any message from `from` keeps its subscriptions alive.
    pub fn heard_from(&mut self, from: SocketAddr, now: Instant) {
        for s in self.list.iter_mut().filter(|s| s.from == from) {
            s.last_heard = now;
        }
    }

    /// Drops the subscriptions made from `from`.
    pub fn unsubscribe(&mut self, from: SocketAddr) {
        self.list.retain(|s| s.from != from);
    }

    /// Drops those not heard from for [`SUBSCRIBER_TTL`].
    pub fn expire(&mut self, now: Instant) {
        self.list
            .retain(|s| now.duration_since(s.last_heard) < SUBSCRIBER_TTL);
    }

    /// Where feedback goes.
    pub fn targets(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.list.iter().map(|s| s.to)
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// A request waiting for control's answer.
struct InFlight {
    answer: Receiver<String>,
    from: SocketAddr,
    since: Instant,
}

/// `/stembox/pos` at most every [`POS_INTERVAL`]: a position held back is sent when the
/// interval is over, so the last one always arrives. Pure apart from the times given.
#[derive(Debug, Default)]
pub struct PosThrottle {
    last_sent: Option<Instant>,
    pending: Option<f64>,
}

impl PosThrottle {
    /// A new position at `now`: `Some` to send it now, `None` if it waits.
    pub fn offer(&mut self, pos_s: f64, now: Instant) -> Option<f64> {
        self.pending = Some(pos_s);
        self.due(now)
    }

    /// A waiting position whose time has come.
    pub fn due(&mut self, now: Instant) -> Option<f64> {
        let ready = self
            .last_sent
            .is_none_or(|t| now.duration_since(t) >= POS_INTERVAL);
        if ready {
            if let Some(p) = self.pending.take() {
                self.last_sent = Some(now);
                return Some(p);
            }
        }
        None
    }
}

/// At most `limit` sends in any one-second window (fixed windows).
#[derive(Debug)]
struct Budget {
    limit: u32,
    window: Option<Instant>,
    used: u32,
}

impl Budget {
    fn per_second(limit: u32) -> Budget {
        Budget {
            limit,
            window: None,
            used: 0,
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        match self.window {
            Some(w) if now.duration_since(w) < Duration::from_secs(1) => {}
            _ => {
                self.window = Some(now);
                self.used = 0;
            }
        }
        if self.used < self.limit {
            self.used += 1;
            true
        } else {
            false
        }
    }
}

struct Worker {
    socket: UdpSocket,
    board: Arc<Board>,
    sink: RequestSink,
    stop: Arc<AtomicBool>,
    counters: Arc<OscCounters>,
    subscribers: Subscribers,
    in_flight: VecDeque<InFlight>,
    /// The state last shown to subscribers.
    last: Option<Published>,
    pos: PosThrottle,
    answers: Budget,
    dumps: Budget,
}

impl Worker {
    fn run(&mut self) {
        // One byte more than the limit tells an oversized datagram from one at the limit.
        let mut buf = vec![0u8; MAX_PACKET_BYTES + 1];
        let mut board_checked = Instant::now() - BOARD_POLL;
        while !self.stop.load(Relaxed) {
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => self.on_packet(&buf[..n], from),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                // An ICMP error from an earlier send (a client gone) or the like: nothing
                // to do about it here; a short pause keeps a persistent error from spinning.
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
            self.collect_answers();
            let now = Instant::now();
            if now.duration_since(board_checked) >= BOARD_POLL {
                board_checked = now;
                self.push_feedback(now);
                self.expire(now);
            }
        }
    }

    fn on_packet(&mut self, bytes: &[u8], from: SocketAddr) {
        self.counters.packets.fetch_add(1, Relaxed);
        let now = Instant::now();
        self.subscribers.heard_from(from, now);
        let messages = match codec::decode_packet(bytes) {
            Ok(m) => m,
            Err(_) => {
                self.counters.malformed.fetch_add(1, Relaxed);
                return;
            }
        };
        for m in messages {
            self.on_message(&m, from, now);
        }
    }

    fn on_message(&mut self, m: &OscMessage, from: SocketAddr, now: Instant) {
        match codec::parse(m) {
            Ok(Incoming::Nothing) => {}
            Ok(Incoming::Subscribe { port }) => self.subscribe(from, port, now),
            Ok(Incoming::Unsubscribe) => {
                self.subscribers.unsubscribe(from);
                self.counters
                    .subscribers
                    .store(self.subscribers.len() as u64, Relaxed);
                self.answer(from, "ok: unsubscribed");
            }
            Ok(Incoming::Line(line)) => {
                let live = self.board.latest().live;
                if let Some(answer) = codec::already_so(m, &live) {
                    self.answer(from, &answer);
                    return;
                }
                if self.in_flight.len() >= MAX_IN_FLIGHT {
                    self.counters.busy.fetch_add(1, Relaxed);
                    self.answer(from, "busy: too many requests at once; try again");
                    return;
                }
                let (reply, answer) = Reply::channel();
                let sent = (self.sink)(RemoteRequest {
                    line,
                    origin: RequestOrigin::Osc,
                    reply,
                });
                if sent {
                    self.counters.requests.fetch_add(1, Relaxed);
                    self.in_flight.push_back(InFlight {
                        answer,
                        from,
                        since: now,
                    });
                } else {
                    self.counters.busy.fetch_add(1, Relaxed);
                    self.answer(from, "busy: the box is not taking requests now; try again");
                }
            }
            Err(e) => {
                self.counters.refused.fetch_add(1, Relaxed);
                self.answer(from, &format!("error: {e}"));
            }
        }
    }

    fn subscribe(&mut self, from: SocketAddr, port: Option<u16>, now: Instant) {
        let to = SocketAddr::new(from.ip(), port.unwrap_or(from.port()));
        if self.subscribers.subscribe(from, to, now).is_err() {
            self.answer(
                from,
                &format!("error: {MAX_SUBSCRIBERS} OSC subscribers already; unsubscribe one"),
            );
            return;
        }
        self.counters
            .subscribers
            .store(self.subscribers.len() as u64, Relaxed);
        // Everything, to this subscriber only: a fresh surface shows the whole state.
        let p = self.board.latest();
        if self.dumps.take(now) {
            let all = codec::feedback(None, &p.live, &p.song);
            for m in &all {
                self.send(m, to);
            }
        } else {
            self.counters.answers_dropped.fetch_add(1, Relaxed);
        }
        // Nothing shown yet: what was just sent is the base for the next changes (else
        // the first board check would send it all again).
        if self.last.is_none() {
            self.last = Some(p);
        }
        self.answer(
            from,
            &format!(
                "ok: subscribed; state goes to {to} (send /stembox/subscribe again within {} s)",
                SUBSCRIBER_TTL.as_secs()
            ),
        );
    }

    /// Answers to the sender, within the rate limit.
    fn answer(&mut self, to: SocketAddr, line: &str) {
        if self.answers.take(Instant::now()) {
            self.send(&codec::reply(line), to);
        } else {
            self.counters.answers_dropped.fetch_add(1, Relaxed);
        }
    }

    fn send(&self, m: &OscMessage, to: SocketAddr) {
        if let Some(bytes) = codec::encode(m) {
            self.send_bytes(&bytes, to);
        }
    }

    fn send_bytes(&self, bytes: &[u8], to: SocketAddr) -> bool {
        // A non-blocking send would need the socket in non-blocking mode for reads too; a
        // UDP send blocks only while the kernel's buffer is full, briefly.
        match self.socket.send_to(bytes, to) {
            Ok(_) => true,
            Err(_) => {
                self.counters.send_errors.fetch_add(1, Relaxed);
                false
            }
        }
    }

    fn collect_answers(&mut self) {
        let now = Instant::now();
        let mut i = 0;
        while i < self.in_flight.len() {
            let r = &self.in_flight[i];
            match r.answer.try_recv() {
                Ok(line) => {
                    let from = r.from;
                    self.in_flight.remove(i);
                    self.answer(from, &line);
                }
                Err(TryRecvError::Disconnected) => {
                    self.in_flight.remove(i);
                }
                Err(TryRecvError::Empty) if now.duration_since(r.since) > REPLY_TIMEOUT => {
                    self.in_flight.remove(i);
                }
                Err(TryRecvError::Empty) => i += 1,
            }
        }
    }

    fn push_feedback(&mut self, now: Instant) {
        let p = self.board.latest();
        let seen = self.last.as_ref().map(|l| (l.seq, l.song_seq));
        let mut msgs: Vec<OscMessage> = Vec::new();
        if seen.map(|s| s.0) != Some(p.seq) {
            if !self.subscribers.is_empty() {
                // A new song view (or the first state) is sent whole; else what changed.
                let prev: Option<&LiveView> = match (&self.last, seen) {
                    (Some(l), Some((_, song_seq))) if song_seq == p.song_seq => Some(&l.live),
                    _ => None,
                };
                msgs = codec::feedback(prev, &p.live, &p.song);
            }
            self.last = Some(p);
        }
        // The play head goes out at most every POS_INTERVAL; a held-back one follows.
        let mut pos_now = None;
        if let Some(i) = msgs.iter().position(codec::is_pos) {
            let m = msgs.remove(i);
            if let Some(rosc::OscType::Float(v)) = m.args.first() {
                pos_now = self.pos.offer(*v as f64, now);
            }
        } else {
            pos_now = self.pos.due(now);
        }
        if let Some(v) = pos_now {
            msgs.push(codec::pos(v));
        }
        if msgs.is_empty() || self.subscribers.is_empty() {
            return;
        }
        let encoded: Vec<Vec<u8>> = msgs.iter().filter_map(codec::encode).collect();
        let mut sent = 0u64;
        for to in self.subscribers.targets() {
            for b in &encoded {
                if self.send_bytes(b, to) {
                    sent += 1;
                }
            }
        }
        self.counters.feedback_sent.fetch_add(sent, Relaxed);
    }

    fn expire(&mut self, now: Instant) {
        let before = self.subscribers.len();
        self.subscribers.expire(now);
        if self.subscribers.len() != before {
            self.counters
                .subscribers
                .store(self.subscribers.len() as u64, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pos_is_sent_at_most_every_interval_and_the_last_one_arrives() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut p = PosThrottle::default();
        assert_eq!(p.offer(1.0, ms(0)), Some(1.0));
        assert_eq!(p.offer(1.02, ms(20)), None);
        assert_eq!(p.offer(1.04, ms(40)), None);
        assert_eq!(p.due(ms(99)), None);
        // The newest held-back position, not the first.
        assert_eq!(p.due(ms(100)), Some(1.04));
        assert_eq!(p.due(ms(300)), None, "nothing new: nothing sent");
        assert_eq!(p.offer(2.0, ms(300)), Some(2.0));
    }

    #[test]
    fn subscribers_expire_unless_heard_from_and_are_capped() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let addr = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let mut subs = Subscribers::default();
        // A surface sending from 5000 and listening on 9000; another on its own port.
        subs.subscribe(addr(5000), addr(9000), at(0)).unwrap();
        subs.subscribe(addr(6000), addr(6000), at(0)).unwrap();
        assert_eq!(
            subs.targets().collect::<Vec<_>>(),
            vec![addr(9000), addr(6000)]
        );
        // Any message from the first keeps it; the second says nothing.
        subs.heard_from(addr(5000), at(50));
        subs.expire(at(59));
        assert_eq!(subs.len(), 2);
        subs.expire(at(60));
        assert_eq!(subs.targets().collect::<Vec<_>>(), vec![addr(9000)]);
        subs.expire(at(109));
        assert_eq!(subs.len(), 1);
        subs.expire(at(110));
        assert!(subs.is_empty());
        // A re-subscribe refreshes the place for the same target, from a new source too.
        subs.subscribe(addr(5000), addr(9000), at(200)).unwrap();
        subs.subscribe(addr(5001), addr(9000), at(250)).unwrap();
        assert_eq!(subs.len(), 1);
        subs.expire(at(300));
        assert_eq!(subs.len(), 1);
        subs.unsubscribe(addr(5000));
        assert_eq!(subs.len(), 1, "the place now belongs to the new source");
        subs.unsubscribe(addr(5001));
        assert!(subs.is_empty());
        for port in 0..MAX_SUBSCRIBERS as u16 {
            subs.subscribe(addr(7000 + port), addr(7000 + port), at(0))
                .unwrap();
        }
        assert_eq!(
            subs.subscribe(addr(8000), addr(8000), at(0)),
            Err(SubscribersFull)
        );
        // A known one still refreshes when full.
        assert_eq!(subs.subscribe(addr(7000), addr(7000), at(1)), Ok(()));
    }

    #[test]
    fn answers_are_bounded_per_second() {
        let t0 = Instant::now();
        let mut b = Budget::per_second(MAX_ANSWERS_PER_S);
        let taken = (0..1000).filter(|_| b.take(t0)).count();
        assert_eq!(taken, MAX_ANSWERS_PER_S as usize);
        assert!(!b.take(t0 + Duration::from_millis(999)));
        assert!(b.take(t0 + Duration::from_millis(1000)));
    }
}
