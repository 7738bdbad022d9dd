//! stembox-midi-probe: a small ALSA sequencer client for testing stembox's MIDI in and
//! clock out (the QEMU appliance test runs it in the guest).
//!
//! It opens a client and port named `stembox-midi-probe` (stembox's `midi.inputs` and
//! `midi.clock_out` name it; stembox connects when the probe appears), waits until stembox
//! is connected both ways, sends the notes asked for, records the clock messages it gets
//! for a while with the kernel's arrival stamps, and prints one summary line:
//!
//! `probe clocks=480 start=1 stop=0 continue=0 spp=0 span_s=9.98 bpm=120.01 jitter_us_p99=180 jitter_us_max=410`
//!
//! Jitter is each clock interval's distance from the mean interval of its run. Notes are
//! reported as `probe note=60 channel=1 sent_uptime_s=12.345` (CLOCK_BOOTTIME, the clock of
//! `/proc/uptime`, so a host can place them on its own timeline).

use alsa::seq::{EvNote, Event, EventType};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use stembox::hw::midi::clock::ClockMsg;
use stembox::hw::midi::seq::{clock_msg, Client};

const USAGE: &str = "usage: stembox-midi-probe [--record-s S] [--note N@T_S ...] [--channel C] [--connect-timeout-s S]
    --record-s S         record the clock for S seconds after connecting (default 10)
    --note N@T           send note N (0..127) at T seconds after connecting (velocity 100,
                         released 100 ms later); may repeat
    --channel C          MIDI channel 1..16 of the notes (default 1)
    --connect-timeout-s  how long to wait for stembox to connect (default 15)";

#[derive(Debug, PartialEq)]
struct Args {
    record_s: f64,
    notes: Vec<(u8, f64)>,
    channel: u8,
    connect_timeout_s: f64,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut out = Args {
        record_s: 10.0,
        notes: Vec::new(),
        channel: 1,
        connect_timeout_s: 15.0,
    };
    let secs = |v: &str, what: &str| -> Result<f64, String> {
        match v.parse::<f64>() {
            Ok(s) if s.is_finite() && (0.0..=3600.0).contains(&s) => Ok(s),
            _ => Err(format!(
                "{what}: \"{v}\" is not a number of seconds 0..3600"
            )),
        }
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--record-s" => out.record_s = secs(value()?, a)?,
            "--connect-timeout-s" => out.connect_timeout_s = secs(value()?, a)?,
            "--channel" => {
                let v = value()?;
                out.channel = v
                    .parse()
                    .ok()
                    .filter(|c| (1..=16).contains(c))
                    .ok_or_else(|| format!("--channel: \"{v}\" is not 1..16"))?;
            }
            "--note" => {
                let v = value()?;
                let (n, t) = v
                    .split_once('@')
                    .ok_or_else(|| format!("--note: \"{v}\" is not N@T (e.g. 60@2.5)"))?;
                let n = n
                    .parse::<u8>()
                    .ok()
                    .filter(|n| *n < 128)
                    .ok_or_else(|| format!("--note: \"{n}\" is not a note 0..127"))?;
                out.notes.push((n, secs(t, "--note")?));
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument \"{other}\"")),
        }
    }
    out.notes.sort_by(|a, b| a.1.total_cmp(&b.1));
    Ok(out)
}

/// What the recorded clock says.
#[derive(Debug, Default, PartialEq)]
struct Report {
    clocks: usize,
    start: usize,
    stop: usize,
    cont: usize,
    spp: usize,
    /// Of the longest run of clocks (between Start/Continue and Stop).
    span_s: f64,
    bpm: f64,
    jitter_us_p99: f64,
    jitter_us_max: f64,
}

/// Reads a list of (arrival ns, message).
fn analyse(events: &[(u64, ClockMsg)]) -> Report {
    let mut r = Report::default();
    let mut runs: Vec<Vec<u64>> = vec![Vec::new()];
    for &(t, m) in events {
        match m {
            ClockMsg::Clock => {
                r.clocks += 1;
                if let Some(run) = runs.last_mut() {
                    run.push(t);
                }
            }
            ClockMsg::Start | ClockMsg::Continue | ClockMsg::Stop => {
                match m {
                    ClockMsg::Start => r.start += 1,
                    ClockMsg::Continue => r.cont += 1,
                    _ => r.stop += 1,
                }
                runs.push(Vec::new());
            }
            ClockMsg::SongPosition(_) => r.spp += 1,
        }
    }
    let Some(run) = runs.iter().max_by_key(|r| r.len()).filter(|r| r.len() >= 3) else {
        return r;
    };
    // As f64: stamps out of order (a broken sender) must not underflow.
    let span = run[run.len() - 1] as f64 - run[0] as f64;
    let mean = span / (run.len() - 1) as f64;
    r.span_s = span / 1e9;
    r.bpm = 60e9 / (24.0 * mean);
    let mut dev: Vec<f64> = run
        .windows(2)
        .map(|w| (w[1] as f64 - w[0] as f64 - mean).abs() / 1e3)
        .collect();
    dev.sort_by(f64::total_cmp);
    r.jitter_us_p99 = dev[(dev.len() * 99 / 100).min(dev.len() - 1)];
    r.jitter_us_max = dev[dev.len() - 1];
    r
}

fn boottime_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec; CLOCK_BOOTTIME exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

fn note(client: &Client, on: bool, channel: u8, n: u8) -> alsa::Result<()> {
    let data = EvNote {
        channel: channel - 1,
        note: n,
        velocity: if on { 100 } else { 0 },
        off_velocity: 0,
        duration: 0,
    };
    let t = if on {
        EventType::Noteon
    } else {
        EventType::Noteoff
    };
    client.send_now(&mut Event::new(t, &data))
}

fn run(args: &Args) -> Result<Report, String> {
    let client = Client::open("stembox-midi-probe").map_err(|e| format!("sequencer: {e}"))?;
    println!("probe client {}:{}", client.id, client.port);
    let deadline = Instant::now() + Duration::from_secs_f64(args.connect_timeout_s);
    loop {
        let (senders, readers) = client.subscribers();
        if senders > 0 && readers > 0 {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "stembox did not connect within {} s ({senders} sending to us, {readers} reading)",
                args.connect_timeout_s
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("probe connected");
    let qclock = client.queue_clock().map_err(|e| format!("queue: {e}"))?;
    let t0 = Instant::now();
    let mut pending: Vec<(f64, u8, bool)> = args
        .notes
        .iter()
        .flat_map(|&(n, t)| [(t, n, true), (t + 0.1, n, false)])
        .collect();
    pending.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut pending = pending.into_iter().peekable();
    let mut events = Vec::new();
    let end = Duration::from_secs_f64(args.record_s);
    while t0.elapsed() < end {
        while let Some(&(t, n, on)) = pending.peek() {
            if t0.elapsed().as_secs_f64() < t {
                break;
            }
            note(&client, on, args.channel, n).map_err(|e| format!("send: {e}"))?;
            if on {
                println!(
                    "probe note={n} channel={} sent_uptime_s={:.3}",
                    args.channel,
                    boottime_s()
                );
            }
            pending.next();
        }
        let _ = client.wait_input(Duration::from_millis(5));
        let mut input = client.seq.input();
        loop {
            match input.event_input() {
                Ok(ev) => {
                    if let Some(m) = clock_msg(&ev) {
                        let at = ev
                            .get_time()
                            .map(|q| qclock.to_monotonic(q).as_nanos() as u64)
                            .unwrap_or_default();
                        events.push((at, m));
                    }
                }
                Err(e) if e.errno() == libc::EAGAIN => break,
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }
    Ok(analyse(&events))
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&argv) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("stembox-midi-probe: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(r) => {
            println!(
                "probe clocks={} start={} stop={} continue={} spp={} span_s={:.2} bpm={:.2} jitter_us_p99={:.0} jitter_us_max={:.0}",
                r.clocks, r.start, r.stop, r.cont, r.spp, r.span_s, r.bpm, r.jitter_us_p99, r.jitter_us_max
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stembox-midi-probe: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn arguments_parse_and_hostile_ones_are_refused() {
        let a = parse_args(&s(&[
            "--record-s",
            "12",
            "--note",
            "62@3",
            "--note",
            "60@1.5",
        ]))
        .unwrap();
        assert_eq!(a.record_s, 12.0);
        assert_eq!(a.notes, [(60, 1.5), (62, 3.0)]);
        for bad in [
            &["--record-s", "NaN"][..],
            &["--record-s", "-1"],
            &["--record-s", "1e9"],
            &["--record-s"],
            &["--note", "60"],
            &["--note", "128@1"],
            &["--note", "x@1"],
            &["--note", "60@inf"],
            &["--channel", "0"],
            &["--channel", "17"],
            &["--bogus"],
        ] {
            assert!(parse_args(&s(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn analysis_finds_tempo_jitter_and_transport() {
        // 120 bpm: 20.833 ms per clock; every 10th clock 300 us late.
        let mut ev = vec![(0, ClockMsg::Start)];
        let step = 20_833_333u64;
        for k in 0..481u64 {
            let late = if k % 10 == 5 { 300_000 } else { 0 };
            ev.push((1_000 + k * step + late, ClockMsg::Clock));
        }
        ev.push((1_000 + 481 * step, ClockMsg::Stop));
        let r = analyse(&ev);
        assert_eq!((r.clocks, r.start, r.stop, r.cont), (481, 1, 1, 0));
        assert!((r.bpm - 120.0).abs() < 0.01, "{}", r.bpm);
        assert!((r.span_s - 10.0).abs() < 0.01);
        assert!((r.jitter_us_max - 300.0).abs() < 1.0, "{}", r.jitter_us_max);
        assert!(r.jitter_us_p99 >= 299.0);
        // Nothing, or garbage, analyses to zeros rather than a panic.
        assert_eq!(analyse(&[]), Report::default());
        let r = analyse(&[(5, ClockMsg::Clock), (1, ClockMsg::Clock)]);
        assert_eq!((r.clocks, r.bpm), (2, 0.0));
        let r = analyse(&[
            (9, ClockMsg::Clock),
            (5, ClockMsg::Clock),
            (1, ClockMsg::Clock),
        ]);
        assert_eq!(r.clocks, 3);
    }
}
