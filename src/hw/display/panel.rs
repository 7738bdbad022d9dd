//! The SSD1306 panel on an I2C bus, through the `ssd1306` crate's buffered mode: it starts
//! the controller, and puts a [`Frame`] on the glass sending only what changed since the
//! last one (the driver's flush sends the box around the changed pixels), because a full
//! frame is about 1,150 bytes on the wire: 100 ms at the Pi's default 100 kHz I2C clock.
//!
//! The driver's error type keeps no cause (`display-interface` maps every bus error to
//! `BusWriteError`), so the bus is wrapped in a [`BusTap`] that keeps the bus's own error
//! and hands it back typed in [`PanelError`]. After any failure the panel forgets what it
//! showed and starts the controller again on the next frame: a display that was unplugged
//! and plugged back in has lost its settings and its RAM.

use super::screen::{lit, Frame, HEIGHT_PX, WIDTH_PX};
use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, Operation};
use ssd1306::mode::{BufferedGraphicsMode, DisplayConfig};
use ssd1306::prelude::{DisplayRotation, DisplaySize128x64, I2CInterface};
use ssd1306::{I2CDisplayInterface, Ssd1306};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What the panel was doing when it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Sending the start-up commands.
    Start,
    /// Sending a frame.
    Frame,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Start => "starting it",
            Step::Frame => "drawing",
        })
    }
}

/// Why the panel failed, with the bus's own error when there is one.
#[derive(Debug)]
pub enum PanelError<E> {
    /// The bus refused a transfer.
    Bus { step: Step, source: E },
    /// The driver failed without a bus error.
    Driver {
        step: Step,
        source: display_interface::DisplayError,
    },
}

impl<E> PanelError<E> {
    pub fn step(&self) -> Step {
        match self {
            PanelError::Bus { step, .. } | PanelError::Driver { step, .. } => *step,
        }
    }
}

impl<E: embedded_hal::i2c::Error + fmt::Display> fmt::Display for PanelError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PanelError::Bus { step, source } => {
                let hint = match source.kind() {
                    ErrorKind::NoAcknowledge(_) => {
                        " (nothing answers: check the wiring and the address, 0x3c or 0x3d)"
                    }
                    _ => "",
                };
                write!(f, "the I2C bus failed while {step}: {source}{hint}")
            }
            PanelError::Driver { step, source } => {
                write!(f, "the SSD1306 driver failed while {step}: {source:?}")
            }
        }
    }
}

/// The bus error as the driver sees it: only its kind (the tap keeps the error itself).
#[derive(Clone, Copy, Debug)]
pub struct Tapped(ErrorKind);

impl embedded_hal::i2c::Error for Tapped {
    fn kind(&self) -> ErrorKind {
        self.0
    }
}

/// A bus passed through to the driver, keeping the last error and counting bytes written.
pub struct BusTap<B: I2c> {
    bus: B,
    last_error: Option<B::Error>,
    /// Shared with the [`Panel`]: the driver owns the tap and lends it to nobody.
    bytes_written: Arc<AtomicU64>,
}

impl<B: I2c> ErrorType for BusTap<B> {
    type Error = Tapped;
}

impl<B: I2c> I2c for BusTap<B> {
    fn transaction(&mut self, address: u8, ops: &mut [Operation<'_>]) -> Result<(), Tapped> {
        let n: usize = ops
            .iter()
            .map(|op| match op {
                Operation::Write(w) => w.len(),
                Operation::Read(_) => 0,
            })
            .sum();
        match self.bus.transaction(address, ops) {
            Ok(()) => {
                // Each message also carries its address byte.
                self.bytes_written
                    .fetch_add(n as u64 + 1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                let kind = embedded_hal::i2c::Error::kind(&e);
                self.last_error = Some(e);
                Err(Tapped(kind))
            }
        }
    }
}

type Driver<B> =
    Ssd1306<I2CInterface<BusTap<B>>, DisplaySize128x64, BufferedGraphicsMode<DisplaySize128x64>>;

enum Link<B: I2c> {
    /// Not started (or failed): the bus waits for the next start.
    Idle(BusTap<B>),
    Up(Box<Driver<B>>),
    /// Only while moving between the two.
    Moving,
}

/// One SSD1306 128x64 at `address`.
pub struct Panel<B: I2c> {
    link: Link<B>,
    address: u8,
    rotation: DisplayRotation,
    /// What the glass shows; None when unknown (not started, or after a failure).
    shown: Option<Box<Frame>>,
    bytes_written: Arc<AtomicU64>,
}

impl<B: I2c> Panel<B> {
    /// A panel not yet started; the first [`Panel::show`] starts it.
    pub fn new(bus: B, address: u8, rotate_180: bool) -> Panel<B> {
        let bytes_written = Arc::new(AtomicU64::new(0));
        Panel {
            link: Link::Idle(BusTap {
                bus,
                last_error: None,
                bytes_written: bytes_written.clone(),
            }),
            bytes_written,
            address,
            rotation: if rotate_180 {
                DisplayRotation::Rotate180
            } else {
                DisplayRotation::Rotate0
            },
            shown: None,
        }
    }

    /// Bytes the bus has accepted, address bytes included.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written.load(Ordering::Relaxed)
    }

    /// Puts `frame` on the glass, starting the controller first when needed.
    pub fn show(&mut self, frame: &Frame) -> Result<(), PanelError<B::Error>> {
        if let Link::Idle(_) = self.link {
            let Link::Idle(tap) = std::mem::replace(&mut self.link, Link::Moving) else {
                unreachable!("matched Idle just above")
            };
            let interface = I2CDisplayInterface::new_custom_address(tap, self.address);
            let mut d = Ssd1306::new(interface, DisplaySize128x64, self.rotation)
                .into_buffered_graphics_mode();
            match d.init() {
                Ok(()) => self.link = Link::Up(Box::new(d)),
                Err(e) => return Err(self.fail(d, Step::Start, e)),
            }
            self.shown = None;
        }
        let Link::Up(d) = &mut self.link else {
            unreachable!("started just above")
        };
        match &self.shown {
            None => {
                // Everything: the RAM of a panel just started holds noise.
                d.clear_buffer();
                for y in 0..HEIGHT_PX as usize {
                    for x in 0..WIDTH_PX as usize {
                        if lit(frame, x, y) {
                            d.set_pixel(x as u32, y as u32, true);
                        }
                    }
                }
            }
            Some(prev) => {
                for y in 0..HEIGHT_PX as usize {
                    for x in 0..WIDTH_PX as usize {
                        let on = lit(frame, x, y);
                        if on != lit(prev, x, y) {
                            d.set_pixel(x as u32, y as u32, on);
                        }
                    }
                }
            }
        }
        match d.flush() {
            Ok(()) => {
                self.shown = Some(Box::new(frame.clone()));
                Ok(())
            }
            Err(e) => {
                let Link::Up(d) = std::mem::replace(&mut self.link, Link::Moving) else {
                    unreachable!("up just above")
                };
                Err(self.fail(*d, Step::Frame, e))
            }
        }
    }

    /// Turns the panel off (on the way out), if it is up; errors no longer matter then.
    pub fn switch_off(&mut self) {
        if let Link::Up(d) = &mut self.link {
            let _ = d.set_display_on(false);
        }
    }

    fn fail(
        &mut self,
        d: Driver<B>,
        step: Step,
        driver_error: display_interface::DisplayError,
    ) -> PanelError<B::Error> {
        let mut tap = d.release().release();
        let err = match tap.last_error.take() {
            Some(source) => PanelError::Bus { step, source },
            None => PanelError::Driver {
                step,
                source: driver_error,
            },
        };
        self.link = Link::Idle(tap);
        self.shown = None;
        err
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake_bus::{FakeBus, FakeBusError, Glass};
    use super::super::screen::{self, render, Screen};
    use super::*;
    use embedded_hal::i2c::NoAcknowledgeSource;

    fn glass_of(frame: &Frame) -> Glass {
        Glass::from_fn(|x, y| lit(frame, x, y))
    }

    fn playing_at(pos_s: f64) -> Frame {
        let song = screen::tests::a_song();
        render(&Screen::from_views(&song, &screen::tests::a_live(pos_s)))
    }

    #[test]
    fn the_glass_shows_the_drawn_frame_pixel_for_pixel() {
        let bus = FakeBus::new(0x3C);
        let mut panel = Panel::new(bus.clone(), 0x3C, false);
        let frame = playing_at(9.0);
        panel.show(&frame).unwrap();
        let glass = bus.glass();
        assert_eq!(glass.diff(&glass_of(&frame)), vec![], "{glass:?}");
        assert!(glass.lit_count() > 300, "a real picture, not a blank one");
        let s = bus.state();
        assert!(
            s.chip.unknown_commands.is_empty(),
            "{:02x?}",
            s.chip.unknown_commands
        );
        assert!(s.chip.bad_control_bytes.is_empty());
        assert_eq!(
            s.chip.com_pins, 0x12,
            "alternative COM pins: right for 128x64"
        );
        assert_eq!(s.chip.multiplex, 63);
        assert!(!s.chip.scrolling && !s.chip.inverted && !s.chip.entire_on);
        // The whole RAM was written (it held noise).
        assert_eq!(s.chip.data_bytes, 1024);
    }

    #[test]
    fn the_next_frame_sends_only_what_changed() {
        let bus = FakeBus::new(0x3C);
        let mut panel = Panel::new(bus.clone(), 0x3C, false);
        panel.show(&playing_at(9.0)).unwrap();
        let first_bytes = panel.bytes_written();
        let data_before = bus.state().chip.data_bytes;
        // 5:3 -> 5:4: one digit of the large field.
        let next = playing_at(9.5);
        panel.show(&next).unwrap();
        assert_eq!(bus.glass().diff(&glass_of(&next)), vec![]);
        let beat_bytes = panel.bytes_written() - first_bytes;
        let beat_data = bus.state().chip.data_bytes - data_before;
        assert!(
            beat_data <= 3 * 10,
            "a beat change sent {beat_data} RAM bytes"
        );
        assert!(
            beat_bytes * 10 < first_bytes,
            "{beat_bytes} vs {first_bytes} bytes"
        );
        // The same frame again sends nothing at all.
        let before = panel.bytes_written();
        panel.show(&next).unwrap();
        assert_eq!(panel.bytes_written(), before);
    }

    #[test]
    fn rotated_180_the_glass_shows_the_frame_upside_down() {
        let bus = FakeBus::new(0x3D);
        let mut panel = Panel::new(bus.clone(), 0x3D, true);
        let frame = playing_at(9.0);
        panel.show(&frame).unwrap();
        assert_eq!(bus.glass().diff(&glass_of(&frame).rotated_180()), vec![]);
        let next = playing_at(20.0);
        panel.show(&next).unwrap();
        assert_eq!(bus.glass().diff(&glass_of(&next).rotated_180()), vec![]);
    }

    #[test]
    fn a_failure_keeps_the_bus_error_and_the_next_frame_starts_again() {
        let bus = FakeBus::failing_after(0x3C, 3);
        let mut panel = Panel::new(bus.clone(), 0x3C, false);
        let frame = playing_at(9.0);
        match panel.show(&frame) {
            Err(PanelError::Bus {
                step: Step::Start,
                source,
            }) => {
                assert_eq!(
                    source,
                    FakeBusError::NoAcknowledge(NoAcknowledgeSource::Address)
                );
            }
            other => panic!("{other:?}"),
        }
        // Replugged: powered off and on, its settings and RAM gone.
        bus.heal(true);
        panel.show(&frame).unwrap();
        assert_eq!(bus.glass().diff(&glass_of(&frame)), vec![]);
        // Failing mid-frame, then back without a power cycle: still a whole, right picture.
        bus.fail_after(20);
        let next = playing_at(30.0);
        let err = panel.show(&playing_at(0.0)).and_then(|_| panel.show(&next));
        assert!(matches!(err, Err(PanelError::Bus { .. })), "{err:?}");
        bus.heal(false);
        panel.show(&next).unwrap();
        assert_eq!(bus.glass().diff(&glass_of(&next)), vec![]);
        let msg = PanelError::Bus {
            step: Step::Frame,
            source: FakeBusError::NoAcknowledge(NoAcknowledgeSource::Address),
        }
        .to_string();
        assert!(
            msg.contains("while drawing") && msg.contains("0x3c or 0x3d"),
            "{msg}"
        );
    }
}
