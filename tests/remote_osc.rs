//! The `stembox-osc` thread end to end on 127.0.0.1: a control surface subscribes, mutes a
//! stem, sees the sink (standing in for control) get `mute drums` and receives the mute
//! back as feedback; then hostile traffic (random bytes, truncated packets, a bundle nested
//! 1,000 deep, a 10,000-packet flood) leaves the thread alive and serving. Bounded: every
//! wait has a timeout, every packet goes to 127.0.0.1.

use rosc::{OscBundle, OscMessage, OscPacket, OscTime, OscType};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stembox::remote::link::{Board, RemoteRequest, RequestSink};
use stembox::remote::osc::{OscError, OscThread};
use stembox::remote::view::{LiveView, SongView, StemMix, StemView};

fn stems(drums_muted: bool) -> Vec<StemMix> {
    vec![
        StemMix {
            name: "drums".into(),
            mute: drums_muted,
            ..StemMix::default()
        },
        StemMix {
            name: "bass".into(),
            ..StemMix::default()
        },
    ]
}

fn live(drums_muted: bool) -> LiveView {
    LiveView {
        transport: "playing".into(),
        speed_pct: 100.0,
        song: 1,
        stems: stems(drums_muted),
        ..LiveView::default()
    }
}

/// A board with one song, and a sink whose "control" thread answers every line with
/// `ok: <line>`, publishes drums muted on `mute drums`, and reports each line it got.
fn control() -> (Arc<Board>, RequestSink, Receiver<String>) {
    let board = Arc::new(Board::default());
    board.publish_song(
        SongView {
            number: 1,
            name: "01-song".into(),
            title: "Song".into(),
            stems: vec![
                StemView {
                    name: "drums".into(),
                    ..StemView::default()
                },
                StemView {
                    name: "bass".into(),
                    ..StemView::default()
                },
            ],
            ..SongView::default()
        },
        live(false),
    );
    let (req_tx, req_rx) = mpsc::sync_channel::<RemoteRequest>(64);
    let (seen_tx, seen_rx) = mpsc::channel::<String>();
    let b = board.clone();
    std::thread::spawn(move || {
        for r in req_rx {
            if r.line == "mute drums" {
                b.publish_live(live(true));
            }
            let _ = seen_tx.send(r.line.clone());
            r.reply.send(format!("ok: {}", r.line));
        }
    });
    // Like control's queue: full means busy, never a wait.
    let sink: RequestSink = Arc::new(move |r| req_tx.try_send(r).is_ok());
    (board, sink, seen_rx)
}

fn client() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    s
}

fn send(s: &UdpSocket, to: SocketAddr, addr: &str, args: Vec<OscType>) {
    let p = OscPacket::Message(OscMessage {
        addr: addr.into(),
        args,
    });
    s.send_to(&rosc::encoder::encode(&p).unwrap(), to).unwrap();
}

/// Receives messages until one satisfies `want`, at most `within`; returns all received.
fn until(
    s: &UdpSocket,
    within: Duration,
    want: impl Fn(&OscMessage) -> bool,
) -> Result<Vec<OscMessage>, Vec<OscMessage>> {
    let end = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 70_000];
    while Instant::now() < end {
        let Ok((n, _)) = s.recv_from(&mut buf) else {
            continue;
        };
        let Ok((_, OscPacket::Message(m))) = rosc::decoder::decode_udp(&buf[..n]) else {
            panic!("the box sent something that is not one OSC message");
        };
        let hit = want(&m);
        got.push(m);
        if hit {
            return Ok(got);
        }
    }
    Err(got)
}

fn is(m: &OscMessage, addr: &str, args: &[OscType]) -> bool {
    m.addr == addr && m.args == args
}

fn reply_starting(m: &OscMessage, prefix: &str) -> bool {
    m.addr == "/stembox/reply"
        && matches!(m.args.as_slice(), [OscType::String(s)] if s.starts_with(prefix))
}

#[test]
fn a_surface_subscribes_mutes_drums_and_gets_the_mute_back() {
    let (board, sink, seen) = control();
    let osc = OscThread::spawn("127.0.0.1:0".parse().unwrap(), board, sink).unwrap();
    let to = osc.local_addr();
    let c = client();

    send(&c, to, "/stembox/subscribe", vec![]);
    let dump = until(&c, Duration::from_secs(3), |m| {
        reply_starting(m, "ok: subscribed")
    })
    .expect("a subscription is answered");
    assert!(
        dump.iter()
            .any(|m| is(m, "/stembox/stem/drums/mute", &[OscType::Int(0)])),
        "the whole state comes first: {dump:?}"
    );
    assert!(dump.iter().any(|m| is(
        m,
        "/stembox/song",
        &[OscType::Int(1), OscType::String("Song".into())]
    )));

    let t = Instant::now();
    send(&c, to, "/stembox/stem/drums/mute", vec![OscType::Int(1)]);
    assert_eq!(
        seen.recv_timeout(Duration::from_secs(3)).unwrap(),
        "mute drums"
    );
    let got = until(&c, Duration::from_secs(3), |m| {
        is(m, "/stembox/stem/drums/mute", &[OscType::Int(1)])
    })
    .expect("the mute comes back as feedback");
    println!(
        "OSC mute -> feedback in {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    // Only what changed: the other stem's state is not resent.
    assert!(!got.iter().any(|m| m.addr.starts_with("/stembox/stem/bass")));
    // And the answer of control reaches the sender.
    let mut all = got;
    if !all.iter().any(|m| reply_starting(m, "ok: mute drums")) {
        all = until(&c, Duration::from_secs(3), |m| {
            reply_starting(m, "ok: mute drums")
        })
        .expect("the reply line comes back");
    }
    assert!(all.iter().any(|m| reply_starting(m, "ok: mute drums")));

    // A bad message is answered with the reason, and nothing goes to control.
    send(
        &c,
        to,
        "/stembox/stem/drums\nquit/mute",
        vec![OscType::Int(1)],
    );
    until(&c, Duration::from_secs(3), |m| reply_starting(m, "error: ")).expect("an error answer");
    assert!(seen.recv_timeout(Duration::from_millis(200)).is_err());

    // A subscription to another port on the same host (TouchOSC listens apart).
    let listener = client();
    let port = listener.local_addr().unwrap().port();
    send(
        &c,
        to,
        "/stembox/subscribe",
        vec![OscType::Int(port as i32)],
    );
    until(&listener, Duration::from_secs(3), |m| {
        is(m, "/stembox/stem/drums/mute", &[OscType::Int(1)])
    })
    .expect("state goes to the port asked for");
    assert_eq!(osc.counters().subscribers.load(Relaxed), 2);
    send(&c, to, "/stembox/unsubscribe", vec![]);
    until(&c, Duration::from_secs(3), |m| {
        reply_starting(m, "ok: unsubscribed")
    })
    .unwrap();
    assert_eq!(osc.counters().subscribers.load(Relaxed), 0);
}

fn nested(depth: usize) -> Vec<u8> {
    let mut p = OscPacket::Message(OscMessage {
        addr: "/stembox/play".into(),
        args: vec![],
    });
    for _ in 0..depth {
        p = OscPacket::Bundle(OscBundle {
            timetag: OscTime::from((0, 1)),
            content: vec![p],
        });
    }
    rosc::encoder::encode(&p).unwrap()
}

#[test]
fn hostile_traffic_leaves_the_thread_alive_and_serving() {
    let (board, sink, seen) = control();
    let osc = OscThread::spawn("127.0.0.1:0".parse().unwrap(), board, sink).unwrap();
    let to = osc.local_addr();
    let evil = client();

    // Random bytes (deterministic), some made to look like OSC.
    let mut seed = 0xdead_beef_cafe_f00du64;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut malformed_sent = 0u64;
    for i in 0..2000 {
        let len = (rnd() % 600) as usize + 1;
        let mut b: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
        if i % 3 == 0 {
            b[0] = b'/';
        }
        if i % 5 == 0 && b.len() >= 16 {
            b[..8].copy_from_slice(b"#bundle\0");
        }
        evil.send_to(&b, to).unwrap();
        malformed_sent += 1;
        if i % 200 == 0 {
            // Let the thread keep up, so the socket buffer does not drop what we count.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // Every truncation of a valid message.
    let valid = rosc::encoder::encode(&OscPacket::Message(OscMessage {
        addr: "/stembox/stem/drums/gain".into(),
        args: vec![OscType::Float(-3.0)],
    }))
    .unwrap();
    for n in 1..valid.len() {
        evil.send_to(&valid[..n], to).unwrap();
    }
    // A bundle nested 1,000 deep, and the largest datagram UDP carries.
    evil.send_to(&nested(1000), to).unwrap();
    evil.send_to(&vec![0x23u8; 65_507], to).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(osc.is_running());
    let c = osc.counters();
    println!(
        "after garbage: packets={} malformed={} refused={}",
        c.packets.load(Relaxed),
        c.malformed.load(Relaxed),
        c.refused.load(Relaxed)
    );
    assert!(c.malformed.load(Relaxed) >= malformed_sent / 2);

    // A flood: 10,000 valid requests as fast as the socket takes them.
    let t = Instant::now();
    for _ in 0..10_000 {
        send(&evil, to, "/stembox/play", vec![]);
    }
    let flood_s = t.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(300));
    assert!(osc.is_running());
    let played = seen.try_iter().filter(|l| l == "play").count();
    println!(
        "flood of 10000 in {:.0} ms: {} reached control, busy={}, answers dropped={}",
        flood_s * 1e3,
        played,
        c.busy.load(Relaxed),
        c.answers_dropped.load(Relaxed)
    );
    assert!(played > 0 && played <= 10_000);

    // A well-behaved client still gets through: control gets its line at once, and its
    // answer arrives once the flood's second of answers is over.
    let good = client();
    send(&good, to, "/stembox/stem/drums/mute", vec![OscType::Int(1)]);
    let line = seen.recv_timeout(Duration::from_secs(3)).unwrap();
    assert_eq!(line, "mute drums");
    let mut answered = false;
    let end = Instant::now() + Duration::from_secs(5);
    while !answered && Instant::now() < end {
        answered = until(&good, Duration::from_millis(500), |m| {
            reply_starting(m, "ok: ")
        })
        .is_ok();
        if !answered {
            send(&good, to, "/stembox/stem/drums/mute", vec![OscType::Int(1)]);
        }
    }
    assert!(answered, "a well-behaved client is answered after a flood");
    drop(osc);
}

#[test]
fn an_address_in_use_is_a_bind_error_naming_it() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let (board, sink, _seen) = control();
    match OscThread::spawn(addr, board, sink) {
        Err(OscError::Bind { addr: a, source }) => {
            assert_eq!(a, addr);
            assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
            let shown = OscError::Bind { addr: a, source }.to_string();
            assert!(shown.contains(&addr.to_string()), "{shown}");
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("bound a port already taken"),
    }
}

#[test]
fn subscribers_are_capped_and_the_one_too_many_is_told() {
    let (board, sink, _seen) = control();
    let osc = OscThread::spawn("127.0.0.1:0".parse().unwrap(), board, sink).unwrap();
    let to = osc.local_addr();
    let clients: Vec<UdpSocket> = (0..17).map(|_| client()).collect();
    for (i, c) in clients.iter().enumerate() {
        send(c, to, "/stembox/subscribe", vec![]);
        let want = if i < 16 {
            "ok: subscribed"
        } else {
            "error: 16 OSC subscribers"
        };
        until(c, Duration::from_secs(3), |m| reply_starting(m, want))
            .unwrap_or_else(|got| panic!("client {i}: {got:?}"));
    }
    assert_eq!(osc.counters().subscribers.load(Relaxed), 16);
    // Subscribing again refreshes, it does not take a second place.
    send(&clients[0], to, "/stembox/subscribe", vec![]);
    until(&clients[0], Duration::from_secs(3), |m| {
        reply_starting(m, "ok: subscribed")
    })
    .unwrap();
    assert_eq!(osc.counters().subscribers.load(Relaxed), 16);
}
