//! The box's small display: an SSD1306 128x64 OLED on I2C, drawn by its own thread
//! (`stembox-display`) from what it is fed ([`feed`]; control feeds it the song and live
//! views it publishes on the remote board): song, section, bar:beat, speed and key, the
//! current lyric line, transport and xruns ([`screen`] says where). It is never on the
//! audio path: it waits on its feed with a timeout (so it stops promptly), draws only when
//! what it shows changed, and at most `max_fps` (at most 10) frames a second ([`pacer`]).
//! While a song plays it moves the head on from the last publish at the playing speed
//! ([`feed::LiveShown::pos_at`]), so bar:beat advances however seldom control publishes.
//!
//! A display that is missing or fails costs the box one notice line and nothing else:
//! - the I2C bus cannot be opened (no `/dev/i2c-1`: I2C not enabled, or `i2c-dev` not
//!   loaded): one notice, and the thread ends; a bus does not appear while the box runs;
//! - the display does not answer or fails while drawing (not wired, wrong address, pulled
//!   off): one notice, then it tries again quietly every [`RETRY_EVERY`] (one failing I2C
//!   write each time), starting the controller afresh, so a display plugged back in comes
//!   back showing the current state. Only the first failure is told: the glass lighting up
//!   again is the news of a recovery, and [`DisplayThread::counters`] counts them all.
//!
//! Hardware sits behind the embedded-hal [`I2c`] trait: `linux_embedded_hal::I2cdev` on the
//! box, [`fake_bus::FakeBus`] (which decodes the SSD1306's commands into the picture on
//! its glass) in tests.

pub mod fake_bus;
pub mod feed;
pub mod pacer;
pub mod panel;
pub mod screen;

use embedded_hal::i2c::I2c;
use feed::{DisplayFeed, Shown};
use linux_embedded_hal::i2cdev::linux::LinuxI2CError;
use linux_embedded_hal::I2cdev;
use pacer::FramePacer;
use panel::{Panel, PanelError};
use screen::{render, Screen};
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use pacer::MAX_FPS;

/// How often a failed display is tried again.
pub const RETRY_EVERY: Duration = Duration::from_secs(10);
/// The longest the thread waits for news before it looks at its stop flag (and so the
/// longest [`DisplayThread`]'s drop waits).
const IDLE_WAIT: Duration = Duration::from_millis(200);

/// Where the display is and how it is mounted (config `display.*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayOptions {
    /// The I2C bus device, `/dev/i2c-1` on a Pi's header pins 3 and 5.
    pub i2c_path: PathBuf,
    /// 7-bit address: 0x3C on most modules, 0x3D with the address jumper moved.
    pub address: u8,
    /// The module is mounted upside down (header at the bottom).
    pub rotate_180: bool,
    /// Frames a second at most, 1..=[`MAX_FPS`] (other values are clamped).
    pub max_fps: u8,
}

impl Default for DisplayOptions {
    fn default() -> DisplayOptions {
        DisplayOptions {
            i2c_path: PathBuf::from("/dev/i2c-1"),
            address: 0x3C,
            rotate_180: false,
            max_fps: MAX_FPS,
        }
    }
}

/// Why the display cannot be used.
#[derive(Debug)]
pub enum DisplayError<E> {
    /// The I2C bus device would not open.
    Open {
        path: PathBuf,
        source: LinuxI2CError,
    },
    /// The display on the bus failed.
    Panel {
        /// The bus, as named in messages (`/dev/i2c-1`).
        bus: String,
        address: u8,
        source: PanelError<E>,
    },
}

impl<E: embedded_hal::i2c::Error + fmt::Display> fmt::Display for DisplayError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisplayError::Open { path, source } => {
                write!(f, "cannot open {}: {source}", path.display())?;
                let missing = match source {
                    LinuxI2CError::Io(e) => e.kind() == std::io::ErrorKind::NotFound,
                    LinuxI2CError::Errno(n) => *n == libc::ENOENT,
                };
                if missing {
                    f.write_str(
                        " (is I2C on? `dtparam=i2c_arm=on` in config.txt and the i2c-dev module)",
                    )?;
                }
                Ok(())
            }
            DisplayError::Panel {
                bus,
                address,
                source,
            } => write!(f, "{bus} at {address:#04x}: {source}"),
        }
    }
}

/// What the display thread has done, for the stats line and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DisplayCounters {
    /// Frames put on the glass.
    pub frames: u64,
    /// Bytes the bus accepted (address bytes included).
    pub i2c_bytes: u64,
    /// Failed starts or frames.
    pub failures: u64,
    /// The feed's `seq` the thread last looked at.
    pub seen_seq: u64,
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    frames: AtomicU64,
    i2c_bytes: AtomicU64,
    failures: AtomicU64,
    seen_seq: AtomicU64,
}

/// Timings the tests shorten.
#[derive(Clone, Copy, Debug)]
struct Tuning {
    retry_every: Duration,
    idle_wait: Duration,
}

const TUNING: Tuning = Tuning {
    retry_every: RETRY_EVERY,
    idle_wait: IDLE_WAIT,
};

/// The running display thread; dropping it stops the thread and waits for it (at most
/// about 200 ms), turning the display off.
#[derive(Debug)]
pub struct DisplayThread {
    shared: Arc<Shared>,
    handle: Option<JoinHandle<()>>,
}

impl DisplayThread {
    /// Starts the display on `opts.i2c_path` (opened on the new thread, so the caller never
    /// waits for it). `notice` gets the one line a missing or failing display costs; it is
    /// called from the display thread. Called from the thread that owns the runtime.
    pub fn spawn(
        opts: DisplayOptions,
        feed: impl DisplayFeed,
        notice: impl Fn(String) + Send + 'static,
    ) -> DisplayThread {
        DisplayThread::start(
            feed,
            notice,
            move |shared, mut feed, notice| match I2cdev::new(&opts.i2c_path) {
                Ok(bus) => {
                    let name = opts.i2c_path.display().to_string();
                    run(bus, name, &opts, &mut feed, &shared, &notice, TUNING);
                }
                Err(source) => {
                    let err: DisplayError<linux_embedded_hal::I2CError> = DisplayError::Open {
                        path: opts.i2c_path.clone(),
                        source,
                    };
                    notice(format!("display: {err}; the box plays on without it"));
                }
            },
        )
    }

    /// Starts the display on a bus of the caller's (a fake one in tests; `opts.i2c_path`
    /// only names it in messages).
    pub fn spawn_with_bus<B>(
        bus: B,
        opts: DisplayOptions,
        feed: impl DisplayFeed,
        notice: impl Fn(String) + Send + 'static,
    ) -> DisplayThread
    where
        B: I2c + Send + 'static,
        B::Error: fmt::Display,
    {
        DisplayThread::spawn_tuned(bus, opts, feed, notice, TUNING)
    }

    fn spawn_tuned<B>(
        bus: B,
        opts: DisplayOptions,
        feed: impl DisplayFeed,
        notice: impl Fn(String) + Send + 'static,
        tuning: Tuning,
    ) -> DisplayThread
    where
        B: I2c + Send + 'static,
        B::Error: fmt::Display,
    {
        DisplayThread::start(feed, notice, move |shared, mut feed, notice| {
            let name = opts.i2c_path.display().to_string();
            run(bus, name, &opts, &mut feed, &shared, &notice, tuning);
        })
    }

    fn start<D, N, F>(feed: D, notice: N, body: F) -> DisplayThread
    where
        D: DisplayFeed,
        N: Fn(String) + Send + 'static,
        F: FnOnce(Arc<Shared>, D, N) + Send + 'static,
    {
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        // The notice moves into the thread; if the thread cannot even start, it is told here.
        let notice = Arc::new(std::sync::Mutex::new(Some(notice)));
        let n = notice.clone();
        let spawned = std::thread::Builder::new()
            .name("stembox-display".into())
            .spawn(move || {
                let taken = n.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(notice) = taken {
                    body(s, feed, notice);
                }
            });
        let handle = match spawned {
            Ok(h) => Some(h),
            Err(e) => {
                if let Some(notice) = notice.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    notice(format!(
                        "display: cannot start its thread: {e}; the box plays on without it"
                    ));
                }
                None
            }
        };
        DisplayThread { shared, handle }
    }

    pub fn counters(&self) -> DisplayCounters {
        let s = &self.shared;
        DisplayCounters {
            frames: s.frames.load(Ordering::Relaxed),
            i2c_bytes: s.i2c_bytes.load(Ordering::Relaxed),
            failures: s.failures.load(Ordering::Relaxed),
            seen_seq: s.seen_seq.load(Ordering::Relaxed),
        }
    }

    /// True once the thread has ended (it ends on its own only when the bus would not open).
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }
}

impl Drop for DisplayThread {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The display thread's loop: wait for news, decide, draw, until told to stop.
fn run<B>(
    bus: B,
    bus_name: String,
    opts: &DisplayOptions,
    feed: &mut dyn DisplayFeed,
    shared: &Shared,
    notice: &dyn Fn(String),
    tuning: Tuning,
) where
    B: I2c,
    B::Error: fmt::Display,
{
    let mut panel = Panel::new(bus, opts.address, opts.rotate_180);
    let mut pacer: FramePacer<Screen> = FramePacer::new(opts.max_fps);
    let mut seen: Option<u64> = None;
    let mut state = Shown::default();
    // Some while the display is failing: when to try it again.
    let mut retry_at: Option<Instant> = None;
    let mut told = false;
    while !shared.stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let wait = match retry_at {
            Some(t) => t.saturating_duration_since(now).min(tuning.idle_wait),
            // A playing song moves on between publishes: look again every frame.
            None if state.live.is_moving() => pacer.wait(now, pacer.min_interval()),
            None => pacer.wait(now, tuning.idle_wait),
        };
        let published = feed.wait_newer(seen, wait);
        let now = Instant::now();
        if seen != Some(published.seq) {
            seen = Some(published.seq);
            shared.seen_seq.store(published.seq, Ordering::Relaxed);
            state = published;
        }
        let latest = Screen::with_head(&state.song, &state.live, state.live.pos_at(now));
        // Offering what should show now also draws what the pacer held back, once due.
        let draw = match retry_at {
            Some(t) if now < t => None,
            Some(_) => {
                retry_at = None;
                pacer.forget_shown();
                pacer.offer(latest, now)
            }
            None => pacer.offer(latest, now),
        };
        let Some(screen) = draw else { continue };
        let result = panel.show(&render(&screen));
        shared
            .i2c_bytes
            .store(panel.bytes_written(), Ordering::Relaxed);
        match result {
            Ok(()) => {
                shared.frames.fetch_add(1, Ordering::Relaxed);
            }
            Err(source) => {
                shared.failures.fetch_add(1, Ordering::Relaxed);
                pacer.forget_shown();
                retry_at = Some(now + tuning.retry_every);
                if !told {
                    told = true;
                    let err = DisplayError::Panel {
                        bus: bus_name.clone(),
                        address: opts.address,
                        source,
                    };
                    notice(format!(
                        "display: {err}; the box plays on, trying it again every {} s",
                        tuning.retry_every.as_secs_f64()
                    ));
                }
            }
        }
    }
    // A dark screen says the box has stopped, rather than a frozen last frame.
    panel.switch_off();
}

#[cfg(test)]
mod tests {
    use super::fake_bus::{FakeBus, Glass};
    use super::feed::{FeedBoard, LiveShown, SongShown};
    use super::screen::{lit, tests::a_live, tests::a_song};
    use super::*;
    use std::sync::Mutex;

    fn expected_glass(song: &SongShown, live: &LiveShown) -> Glass {
        let frame = render(&Screen::from_views(song, live));
        Glass::from_fn(|x, y| lit(&frame, x, y))
    }

    /// Polls `cond` every 5 ms for up to 10 s (a bound for a loaded machine, not a timing).
    fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
        let until = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < until, "never happened: {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn notices() -> (Arc<Mutex<Vec<String>>>, impl Fn(String) + Send + 'static) {
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        (got, move |line| g.lock().unwrap().push(line))
    }

    #[test]
    fn the_thread_draws_what_control_publishes() {
        let board = Arc::new(FeedBoard::default());
        let bus = FakeBus::new(0x3C);
        let (said, notice) = notices();
        let t = DisplayThread::spawn_with_bus(
            bus.clone(),
            DisplayOptions::default(),
            board.clone(),
            notice,
        );
        // Before anything is published: the board's defaults ("starting").
        let blank = expected_glass(&Default::default(), &Default::default());
        eventually("the start screen", || bus.glass() == blank);
        board.publish(a_song(), a_live(9.0));
        let want = expected_glass(&a_song(), &a_live(9.0));
        eventually("the song", || bus.glass() == want);
        board.publish_live(a_live(17.0));
        let want = expected_glass(&a_song(), &a_live(17.0));
        eventually("the new position", || bus.glass() == want);
        assert!(said.lock().unwrap().is_empty());
        let c = t.counters();
        assert_eq!((c.failures, c.frames), (0, 3));
        drop(t);
        assert_eq!(
            bus.glass().lit_count(),
            0,
            "switched off when the thread stops"
        );
    }

    #[test]
    fn unchanged_views_draw_nothing_and_a_burst_is_rate_limited() {
        let board = Arc::new(FeedBoard::default());
        board.publish(a_song(), a_live(9.0));
        let bus = FakeBus::new(0x3C);
        let (_, notice) = notices();
        let t = DisplayThread::spawn_with_bus(
            bus.clone(),
            DisplayOptions::default(),
            board.clone(),
            notice,
        );
        eventually("first frame", || t.counters().frames == 1);
        // The live state moves within one beat (5:3 is 9.0..9.5 s), and speed and key by
        // less than the screen rounds to: no frame.
        for i in 0..50 {
            let mut live = a_live(9.0 + i as f64 * 0.009);
            live.speed_pct = 80.0 + i as f32 * 0.0005;
            live.pitch_st = 2.0 - i as f32 * 0.0005;
            board.publish_live(live);
        }
        let last = board.latest().seq;
        eventually("the thread saw them all", || t.counters().seen_seq == last);
        assert_eq!(t.counters().frames, 1);
        // 400 beat changes as fast as they can be published: frames are bounded by the
        // elapsed time at 10 fps (+1 for the first), and the last state is shown.
        let started = Instant::now();
        for i in 0..400 {
            board.publish_live(a_live(10.0 + i as f64 * 0.5));
            std::thread::sleep(Duration::from_micros(200));
        }
        let want = expected_glass(&a_song(), &a_live(10.0 + 399.0 * 0.5));
        eventually("the last state", || bus.glass() == want);
        let elapsed_s = started.elapsed().as_secs_f64();
        let frames = t.counters().frames - 1;
        assert!(
            frames as f64 <= (elapsed_s * MAX_FPS as f64).ceil() + 1.0,
            "{frames} frames in {elapsed_s:.3} s"
        );
        assert!((1..400).contains(&frames), "{frames}");
    }

    #[test]
    fn a_failing_display_is_one_notice_and_comes_back_when_replugged() {
        let board = Arc::new(FeedBoard::default());
        board.publish(a_song(), a_live(9.0));
        // It answers a few commands, then is pulled off.
        let bus = FakeBus::failing_after(0x3C, 5);
        let (said, notice) = notices();
        let tuning = Tuning {
            retry_every: Duration::from_millis(10),
            idle_wait: Duration::from_millis(20),
        };
        let opts = DisplayOptions::default();
        let t = DisplayThread::spawn_tuned(bus.clone(), opts, board.clone(), notice, tuning);
        eventually("several failed tries", || t.counters().failures >= 5);
        for i in 0..20 {
            board.publish_live(a_live(10.0 + i as f64));
        }
        eventually("more failed tries", || t.counters().failures >= 10);
        {
            let said = said.lock().unwrap();
            assert_eq!(said.len(), 1, "{said:?}");
            let line = &said[0];
            assert!(line.starts_with("display: /dev/i2c-1 at 0x3c: "), "{line}");
            assert!(
                line.contains("while starting it") && line.contains("again every 0.01 s"),
                "{line}"
            );
        }
        assert_eq!(t.counters().frames, 0);
        // Plugged back in (powered afresh): the current state appears, no more notices.
        bus.heal(true);
        let want = expected_glass(&a_song(), &a_live(29.0));
        eventually("the picture back", || bus.glass() == want);
        assert_eq!(said.lock().unwrap().len(), 1);
        assert!(t.counters().frames >= 1);
    }

    #[test]
    fn a_missing_bus_is_one_notice_and_the_thread_ends() {
        let board = Arc::new(FeedBoard::default());
        let (said, notice) = notices();
        let opts = DisplayOptions {
            i2c_path: "/nonexistent/i2c-9".into(),
            ..DisplayOptions::default()
        };
        let t = DisplayThread::spawn(opts, board.clone(), notice);
        eventually("the thread ends", || t.is_finished());
        board.publish_live(a_live(3.0));
        let said = said.lock().unwrap();
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(
            said[0]
                .starts_with("display: cannot open /nonexistent/i2c-9: No such file or directory")
                && said[0].contains("dtparam=i2c_arm=on")
                && said[0].ends_with("the box plays on without it"),
            "{}",
            said[0]
        );
    }

    #[test]
    fn a_file_that_is_no_i2c_bus_is_one_notice_too() {
        // /dev/null opens, but it is no I2C adapter: the I2C_SLAVE ioctl fails (ENOTTY).
        let board = Arc::new(FeedBoard::default());
        let (said, notice) = notices();
        let opts = DisplayOptions {
            i2c_path: "/dev/null".into(),
            ..DisplayOptions::default()
        };
        let t = DisplayThread::spawn(opts, board, notice);
        eventually("the thread ends", || t.is_finished());
        let said = said.lock().unwrap();
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(
            said[0].starts_with("display: cannot open /dev/null: "),
            "{}",
            said[0]
        );
        assert!(
            !said[0].contains("dtparam"),
            "the bus exists; the hint would mislead"
        );
    }
}
