//! Optional status LEDs (`playing`, `loop`, `xrun`) on GPIO lines. The control thread owns
//! a [`StatusLeds`] and calls [`StatusLeds::update`] on each of its ticks (every 50-100 ms
//! is plenty) with what the engine last reported; the pure [`LedLogic`] decides what each
//! LED shows, and only changes are written to the pins.
//!
//! What the LEDs say, so a musician can read the box from across the room:
//! - `playing`: on while playing, slow blink (1 Hz) while paused, fast blink (4 Hz) during a
//!   count-in, off when stopped.
//! - `loop`: on while a loop is active, blinking (2 Hz) when loop A is set and B is awaited,
//!   off otherwise.
//! - `xrun`: on for [`XRUN_HOLD`] after the xrun counter goes up (so a single glitch is seen).
//!
//! Hardware sits behind the one-method [`Led`] trait: [`GpioLed`] drives a gpio-cdev line
//! through linux-embedded-hal; [`FakeLed`] records what it was told, for tests.

use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};
use linux_embedded_hal::CdevPin;
use std::fmt;
use std::time::{Duration, Instant};

/// How long the xrun LED stays lit after an xrun.
pub const XRUN_HOLD: Duration = Duration::from_secs(2);

/// One LED.
pub trait Led {
    /// Lights it (`true`) or puts it out. Cannot fail from the caller's view: a failing
    /// LED must never stop the music; implementations keep the error for a status line.
    fn set(&mut self, on: bool);
}

/// A GPIO line: which chip, which line, and whether the LED lights when the line is low.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedLine {
    /// `gpiochip0` or `/dev/gpiochip0`.
    pub chip: String,
    pub offset: u32,
    pub active_low: bool,
}

/// The LEDs that are fitted, read from the config's `leds` section
/// ([`crate::storage::config::LedsConfig`], the one config type); any may be absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FittedLeds {
    pub playing: Option<LedLine>,
    pub looping: Option<LedLine>,
    pub xrun: Option<LedLine>,
}

impl FittedLeds {
    /// The fitted LEDs of the config file's `leds` section (an empty `chip` is no LED).
    pub fn from_config(cfg: &crate::storage::config::LedsConfig) -> FittedLeds {
        let line = |l: &crate::storage::config::LedLineConfig| {
            (!l.chip.is_empty()).then(|| LedLine {
                chip: l.chip.to_string(),
                offset: l.offset,
                active_low: l.active_low,
            })
        };
        FittedLeds {
            playing: line(&cfg.playing),
            looping: line(&cfg.looping),
            xrun: line(&cfg.xrun),
        }
    }
}

/// An LED line that cannot be opened. `Display` names the line and says what to check.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct LedError {
    pub message: String,
}

/// `gpiochip0` -> `/dev/gpiochip0`; paths pass through.
pub fn chip_path(chip: &str) -> String {
    if chip.contains('/') {
        chip.to_string()
    } else {
        format!("/dev/{chip}")
    }
}

/// An LED on a gpio-cdev line, requested as an output (with the kernel doing the
/// active-low inversion), starting dark.
pub struct GpioLed {
    pin: CdevPin,
    label: String,
    /// The last write error, kept for a status line.
    pub last_error: Option<String>,
}

impl GpioLed {
    /// Requests the line. `role` (`playing`, `loop`, `xrun`) names it in errors and as the
    /// line's consumer label (`gpioinfo` shows `stembox-playing`).
    pub fn open(line: &LedLine, role: &str) -> Result<GpioLed, LedError> {
        let path = chip_path(&line.chip);
        let label = format!("{role} LED ({path} line {})", line.offset);
        let err = |what: &str, e: &dyn fmt::Display| LedError {
            message: format!(
                "leds.{role}: cannot {what} {path} line {}: {e}; check the chip name \
                 (`gpiodetect`) and that no other program holds the line (`gpioinfo`)",
                line.offset
            ),
        };
        let mut chip = Chip::new(&path).map_err(|e| err("open", &e))?;
        let gpio = chip.get_line(line.offset).map_err(|e| err("find", &e))?;
        let mut flags = LineRequestFlags::OUTPUT;
        if line.active_low {
            flags |= LineRequestFlags::ACTIVE_LOW;
        }
        let handle = gpio
            .request(flags, 0, &format!("stembox-{role}"))
            .map_err(|e| err("request", &e))?;
        let pin = CdevPin::new(handle).map_err(|e| err("set up", &e))?;
        Ok(GpioLed {
            pin,
            label,
            last_error: None,
        })
    }
}

impl Led for GpioLed {
    fn set(&mut self, on: bool) {
        // Logical value: the ACTIVE_LOW request flag makes 1 mean "lit" either way.
        if let Err(e) = self.pin.0.set_value(u8::from(on)) {
            self.last_error = Some(format!("{}: {e}", self.label));
        }
    }
}

/// An LED for tests: remembers its state and every write.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FakeLed {
    pub on: bool,
    pub writes: Vec<bool>,
}

impl Led for FakeLed {
    fn set(&mut self, on: bool) {
        self.on = on;
        self.writes.push(on);
    }
}

/// The transport as the LEDs care about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportLed {
    Stopped,
    Playing,
    Paused,
    CountIn,
}

/// The loop as the LEDs care about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoopLed {
    Off,
    /// Loop start set, end not yet.
    ArmedA,
    On,
}

/// What the control thread knows, once per tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedInputs {
    pub transport: TransportLed,
    pub looping: LoopLed,
    /// The engine's xrun counter (total since start or since `stats reset`).
    pub xruns: u64,
}

/// What each LED should show now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LedStates {
    pub playing: bool,
    pub looping: bool,
    pub xrun: bool,
}

/// Engine state and time to LED states. Pure: time comes in as `now`.
#[derive(Clone, Debug)]
pub struct LedLogic {
    /// Blink phases count from here, so all LEDs blink in step.
    epoch: Instant,
    last_xruns: u64,
    xrun_until: Option<Instant>,
}

impl LedLogic {
    pub fn new(now: Instant) -> LedLogic {
        LedLogic {
            epoch: now,
            last_xruns: 0,
            xrun_until: None,
        }
    }

    /// On for the first half of each `period`.
    fn blink(&self, now: Instant, period: Duration) -> bool {
        let t = now.saturating_duration_since(self.epoch).as_millis();
        let p = period.as_millis().max(2);
        t % p < p / 2
    }

    pub fn update(&mut self, inputs: &LedInputs, now: Instant) -> LedStates {
        if inputs.xruns > self.last_xruns {
            self.xrun_until = Some(now + XRUN_HOLD);
        }
        // A lower count is a `stats reset`, not an xrun.
        self.last_xruns = inputs.xruns;
        let playing = match inputs.transport {
            TransportLed::Stopped => false,
            TransportLed::Playing => true,
            TransportLed::Paused => self.blink(now, Duration::from_millis(1_000)),
            TransportLed::CountIn => self.blink(now, Duration::from_millis(250)),
        };
        let looping = match inputs.looping {
            LoopLed::Off => false,
            LoopLed::On => true,
            LoopLed::ArmedA => self.blink(now, Duration::from_millis(500)),
        };
        let xrun = self.xrun_until.is_some_and(|until| now < until);
        LedStates {
            playing,
            looping,
            xrun,
        }
    }
}

/// The fitted LEDs and their logic. Writes only changes; puts the LEDs out when dropped.
pub struct StatusLeds<L: Led> {
    playing: Option<L>,
    looping: Option<L>,
    xrun: Option<L>,
    logic: LedLogic,
    shown: [Option<bool>; 3],
}

impl<L: Led> StatusLeds<L> {
    pub fn new(playing: Option<L>, looping: Option<L>, xrun: Option<L>, now: Instant) -> Self {
        StatusLeds {
            playing,
            looping,
            xrun,
            logic: LedLogic::new(now),
            shown: [None; 3],
        }
    }

    /// Control thread, each tick.
    pub fn update(&mut self, inputs: &LedInputs, now: Instant) -> LedStates {
        let states = self.logic.update(inputs, now);
        let want = [states.playing, states.looping, states.xrun];
        let leds = [&mut self.playing, &mut self.looping, &mut self.xrun];
        for ((led, shown), on) in leds.into_iter().zip(&mut self.shown).zip(want) {
            if let Some(led) = led {
                if *shown != Some(on) {
                    led.set(on);
                    *shown = Some(on);
                }
            }
        }
        states
    }

    /// The LEDs, e.g. to read a [`GpioLed::last_error`] or a test's [`FakeLed`].
    pub fn leds(&self) -> [Option<&L>; 3] {
        [
            self.playing.as_ref(),
            self.looping.as_ref(),
            self.xrun.as_ref(),
        ]
    }
}

impl<L: Led> Drop for StatusLeds<L> {
    fn drop(&mut self) {
        for led in [&mut self.playing, &mut self.looping, &mut self.xrun]
            .into_iter()
            .flatten()
        {
            led.set(false);
        }
    }
}

/// Opens the configured LEDs (main thread, at start-up). Any error names the LED and line.
pub fn open_status_leds(cfg: &FittedLeds, now: Instant) -> Result<StatusLeds<GpioLed>, LedError> {
    let open = |line: &Option<LedLine>, role: &str| {
        line.as_ref().map(|l| GpioLed::open(l, role)).transpose()
    };
    Ok(StatusLeds::new(
        open(&cfg.playing, "playing")?,
        open(&cfg.looping, "loop")?,
        open(&cfg.xrun, "xrun")?,
        now,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(transport: TransportLed, looping: LoopLed, xruns: u64) -> LedInputs {
        LedInputs {
            transport,
            looping,
            xruns,
        }
    }

    fn ms(t0: Instant, v: u64) -> Instant {
        t0 + Duration::from_millis(v)
    }

    #[test]
    fn playing_led_follows_the_transport() {
        let t0 = Instant::now();
        let mut l = LedLogic::new(t0);
        let st =
            |l: &mut LedLogic, tr, t| l.update(&inputs(tr, LoopLed::Off, 0), ms(t0, t)).playing;
        assert!(!st(&mut l, TransportLed::Stopped, 0));
        assert!(st(&mut l, TransportLed::Playing, 0));
        assert!(st(&mut l, TransportLed::Playing, 777));
        // Paused: 1 Hz, on for the first 500 ms of each second.
        assert!(st(&mut l, TransportLed::Paused, 0));
        assert!(st(&mut l, TransportLed::Paused, 499));
        assert!(!st(&mut l, TransportLed::Paused, 500));
        assert!(!st(&mut l, TransportLed::Paused, 999));
        assert!(st(&mut l, TransportLed::Paused, 1_000));
        // Count-in: 4 Hz.
        assert!(st(&mut l, TransportLed::CountIn, 100));
        assert!(!st(&mut l, TransportLed::CountIn, 125));
        assert!(st(&mut l, TransportLed::CountIn, 250));
    }

    #[test]
    fn loop_led_shows_armed_and_on() {
        let t0 = Instant::now();
        let mut l = LedLogic::new(t0);
        let lp = |l: &mut LedLogic, s, t| {
            l.update(&inputs(TransportLed::Playing, s, 0), ms(t0, t))
                .looping
        };
        assert!(!lp(&mut l, LoopLed::Off, 0));
        assert!(lp(&mut l, LoopLed::On, 300));
        assert!(lp(&mut l, LoopLed::ArmedA, 0));
        assert!(!lp(&mut l, LoopLed::ArmedA, 250));
        assert!(lp(&mut l, LoopLed::ArmedA, 500));
    }

    #[test]
    fn xrun_led_holds_for_two_seconds_after_each_xrun() {
        let t0 = Instant::now();
        let mut l = LedLogic::new(t0);
        let x = |l: &mut LedLogic, n, t| {
            l.update(&inputs(TransportLed::Playing, LoopLed::Off, n), ms(t0, t))
                .xrun
        };
        assert!(!x(&mut l, 0, 0));
        assert!(x(&mut l, 1, 100));
        assert!(x(&mut l, 1, 2_099));
        assert!(!x(&mut l, 1, 2_100));
        // Another xrun restarts the hold, measured from when it was seen.
        assert!(x(&mut l, 3, 5_000));
        assert!(x(&mut l, 3, 6_000));
        assert!(x(&mut l, 4, 6_900));
        assert!(x(&mut l, 4, 8_800));
        assert!(!x(&mut l, 4, 8_900));
        // `stats reset` brings the count down: no light; the next xrun lights it.
        assert!(!x(&mut l, 0, 9_000));
        assert!(x(&mut l, 1, 9_500));
    }

    #[test]
    fn status_leds_write_only_changes() {
        let t0 = Instant::now();
        let mut leds =
            StatusLeds::new(Some(FakeLed::default()), None, Some(FakeLed::default()), t0);
        let playing = inputs(TransportLed::Playing, LoopLed::On, 0);
        for t in 0..10 {
            leds.update(&playing, ms(t0, t * 50));
        }
        let [p, lp, x] = leds.leds();
        assert_eq!(
            p.unwrap().writes,
            vec![true],
            "one write for ten identical ticks"
        );
        assert!(lp.is_none(), "absent LEDs are skipped");
        assert_eq!(x.unwrap().writes, vec![false]);
        leds.update(&inputs(TransportLed::Stopped, LoopLed::Off, 1), ms(t0, 600));
        let [p, _, x] = leds.leds();
        assert_eq!((p.unwrap().on, x.unwrap().on), (false, true));
    }

    /// A lit LED on a stopped player would lie: dropping puts every fitted LED out.
    #[test]
    fn drop_turns_leds_off() {
        use std::cell::RefCell;
        use std::rc::Rc;
        struct Shared(Rc<RefCell<Vec<bool>>>);
        impl Led for Shared {
            fn set(&mut self, on: bool) {
                self.0.borrow_mut().push(on);
            }
        }
        let log = Rc::new(RefCell::new(Vec::new()));
        let t0 = Instant::now();
        let mut leds = StatusLeds::new(Some(Shared(log.clone())), None, None, t0);
        leds.update(&inputs(TransportLed::Playing, LoopLed::Off, 0), t0);
        drop(leds);
        assert_eq!(*log.borrow(), vec![true, false]);
    }

    #[test]
    fn missing_gpio_chip_is_a_clear_error() {
        assert_eq!(chip_path("gpiochip0"), "/dev/gpiochip0");
        assert_eq!(chip_path("/dev/gpiochip4"), "/dev/gpiochip4");
        let cfg = FittedLeds {
            xrun: Some(LedLine {
                chip: "gpiochip-does-not-exist".into(),
                offset: 17,
                active_low: true,
            }),
            ..FittedLeds::default()
        };
        let e = open_status_leds(&cfg, Instant::now())
            .err()
            .unwrap()
            .message;
        assert!(
            e.starts_with("leds.xrun: cannot open /dev/gpiochip-does-not-exist line 17:"),
            "{e}"
        );
        assert!(e.contains("gpiodetect"), "{e}");
        // No LEDs configured: nothing to open, updates are harmless.
        let mut none = open_status_leds(&FittedLeds::default(), Instant::now()).unwrap();
        let s = none.update(
            &inputs(TransportLed::Playing, LoopLed::On, 0),
            Instant::now(),
        );
        assert!(s.playing && s.looping);
    }
}
