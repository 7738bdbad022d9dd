//! A fake I2C bus with an SSD1306 on it, for tests: it implements the embedded-hal
//! [`I2c`] trait like `linux_embedded_hal::I2cdev` does, and *decodes* what the driver sends
//! the way the controller chip would, so a test sees the picture on the glass, not a log of
//! bytes. What it models of the SSD1306 (datasheet rev 1.1, section 8 and 10):
//!
//! - the I2C framing: slave address (a write to any other address is not acknowledged), then
//!   a control byte per message: `Co` (bit 7) = 1 means one byte follows and then another
//!   control byte, `D/C#` (bit 6) = 0 for commands, 1 for display RAM data. `0x00` and
//!   `0x40` (Co = 0) send the rest of the message as commands or as data;
//! - the 128 x 8-page display RAM (GDDRAM) with page, horizontal and vertical addressing,
//!   the column/page windows (`0x21`, `0x22`) and the page-mode pointers (`0x00..=0x1F`,
//!   `0xB0..=0xB7`), with the pointer wrapping as the chip does;
//! - what decides whether a pixel is lit: display on/off (`0xAE`/`0xAF`), the charge pump
//!   (`0x8D 0x14`, the module has no external VCC), entire-display-on (`0xA4`/`0xA5`),
//!   inverse (`0xA6`/`0xA7`), segment remap (`0xA0`/`0xA1`), COM scan direction
//!   (`0xC0`/`0xC8`), start line (`0x40..=0x7F`), display offset (`0xD3`) and multiplex
//!   ratio (`0xA8`); contrast, clock, pre-charge, VCOMH and COM pin settings are kept for
//!   tests to check;
//! - a power-on state: display off, charge pump off, page addressing, and RAM holding
//!   noise (a real panel's RAM is not cleared at power-up), so a driver that leaves pixels
//!   unwritten shows it.
//!
//! Commands it does not know are kept in [`FakeSsd1306::unknown_commands`], so a test can
//! insist on none. The glass is seen the way a typical 0.96" module is mounted: with
//! segment remap on and COM scan reversed (what drivers send for "rotation 0") the RAM's
//! column 0, row 0 is the top-left pixel.
//!
//! [`FakeBus::failing_after`] makes the bus stop acknowledging after a number of writes
//! (a display pulled off its header), for the error paths; [`FakeBus::heal`] brings it back.

use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

/// Display width in pixels (segments).
pub const WIDTH: usize = 128;
/// Display height in pixels (COM lines).
pub const HEIGHT: usize = 64;
/// 8-pixel-high pages of display RAM.
pub const PAGES: usize = HEIGHT / 8;

/// How data writes advance the RAM pointer (command `0x20`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addressing {
    /// Along one page; the column wraps within the page (the reset mode).
    Page,
    /// Along the column window, then to the next page of the page window.
    Horizontal,
    /// Down the page window, then to the next column of the column window.
    Vertical,
}

/// The pixels as seen on the glass: `true` is lit.
#[derive(Clone, PartialEq, Eq)]
pub struct Glass {
    rows: Box<[[bool; WIDTH]; HEIGHT]>,
}

impl Glass {
    /// A dark screen.
    pub fn dark() -> Glass {
        Glass {
            rows: Box::new([[false; WIDTH]; HEIGHT]),
        }
    }

    /// A screen with `lit(x, y)` for each pixel (e.g. read from an embedded-graphics target).
    pub fn from_fn(lit: impl Fn(usize, usize) -> bool) -> Glass {
        let mut g = Glass::dark();
        for (y, row) in g.rows.iter_mut().enumerate() {
            for (x, px) in row.iter_mut().enumerate() {
                *px = lit(x, y);
            }
        }
        g
    }

    pub fn lit(&self, x: usize, y: usize) -> bool {
        self.rows[y][x]
    }

    pub fn lit_count(&self) -> usize {
        self.rows.iter().flatten().filter(|&&p| p).count()
    }

    /// Pixels that differ from `other`, as `(x, y)`.
    pub fn diff(&self, other: &Glass) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for y in 0..HEIGHT {
            for x in 0..WIDTH {
                if self.rows[y][x] != other.rows[y][x] {
                    out.push((x, y));
                }
            }
        }
        out
    }

    /// The same picture turned by 180 degrees.
    pub fn rotated_180(&self) -> Glass {
        Glass::from_fn(|x, y| self.rows[HEIGHT - 1 - y][WIDTH - 1 - x])
    }

    /// An 8-bit grey image `scale` times the size (lit pixels a pale OLED blue-white, dark
    /// ones near black, with a 1-pixel gap between scaled pixels so the dots read as a
    /// panel's): `(width, height, bytes)`, row-major, for a PNG writer.
    pub fn scaled_grey(&self, scale: usize) -> (usize, usize, Vec<u8>) {
        let scale = scale.max(1);
        let (w, h) = (WIDTH * scale, HEIGHT * scale);
        let mut out = vec![0u8; w * h];
        for y in 0..h {
            for x in 0..w {
                let gap = scale >= 3 && (x % scale == scale - 1 || y % scale == scale - 1);
                out[y * w + x] = match (self.rows[y / scale][x / scale], gap) {
                    (true, false) => 235,
                    (true, true) => 120,
                    (false, _) => 18,
                };
            }
        }
        (w, h, out)
    }
}

impl fmt::Debug for Glass {
    /// Text art (`#` lit, `.` dark), so a failing assertion shows the picture.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Glass {WIDTH}x{HEIGHT}:")?;
        for row in self.rows.iter() {
            let line: String = row.iter().map(|&p| if p { '#' } else { '.' }).collect();
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// A command byte still waiting for its parameter bytes.
#[derive(Clone, Debug)]
struct PendingCommand {
    opcode: u8,
    needed: usize,
    params: Vec<u8>,
}

/// The SSD1306 controller as the fake bus decodes it: see the module doc.
#[derive(Clone, Debug)]
pub struct FakeSsd1306 {
    /// GDDRAM, `[page][column]`, bit n of a byte is row `page * 8 + n`.
    ram: Box<[[u8; WIDTH]; PAGES]>,
    pub addressing: Addressing,
    col_start: usize,
    col_end: usize,
    page_start: usize,
    page_end: usize,
    col: usize,
    page: usize,
    pub display_on: bool,
    pub charge_pump_on: bool,
    pub entire_on: bool,
    pub inverted: bool,
    pub segment_remap: bool,
    pub com_reversed: bool,
    pub start_line: u8,
    pub display_offset: u8,
    /// Multiplex ratio minus one (63 for a 64-row panel).
    pub multiplex: u8,
    pub contrast: u8,
    pub clock_div: u8,
    pub precharge: u8,
    /// `0x12` (alternative COM pins, no left/right remap) is right for a 128x64 panel.
    pub com_pins: u8,
    pub vcomh: u8,
    pub scrolling: bool,
    pending: Option<PendingCommand>,
    /// Command bytes it did not recognise, in order.
    pub unknown_commands: Vec<u8>,
    /// Control bytes with bits other than Co and D/C# set.
    pub bad_control_bytes: Vec<u8>,
    /// Command bytes decoded (opcodes and parameters).
    pub command_bytes: u64,
    /// Display RAM bytes written.
    pub data_bytes: u64,
}

impl Default for FakeSsd1306 {
    fn default() -> FakeSsd1306 {
        FakeSsd1306::power_on()
    }
}

impl FakeSsd1306 {
    /// The chip after power-up (datasheet section 10 reset values), RAM full of noise.
    pub fn power_on() -> FakeSsd1306 {
        let mut ram = Box::new([[0u8; WIDTH]; PAGES]);
        // A fixed xorshift sequence: noise that is the same on every run.
        let mut s: u32 = 0x9E37_79B9;
        for b in ram.iter_mut().flatten() {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            *b = s as u8;
        }
        FakeSsd1306 {
            ram,
            addressing: Addressing::Page,
            col_start: 0,
            col_end: WIDTH - 1,
            page_start: 0,
            page_end: PAGES - 1,
            col: 0,
            page: 0,
            display_on: false,
            charge_pump_on: false,
            entire_on: false,
            inverted: false,
            segment_remap: false,
            com_reversed: false,
            start_line: 0,
            display_offset: 0,
            multiplex: 63,
            contrast: 0x7F,
            clock_div: 0x80,
            precharge: 0x22,
            com_pins: 0x12,
            vcomh: 0x20,
            scrolling: false,
            pending: None,
            unknown_commands: Vec::new(),
            bad_control_bytes: Vec::new(),
            command_bytes: 0,
            data_bytes: 0,
        }
    }

    /// One I2C message after the address byte: control bytes, commands and data.
    pub fn receive(&mut self, message: &[u8]) {
        let mut i = 0;
        while i < message.len() {
            let control = message[i];
            i += 1;
            if control & 0x3F != 0 {
                self.bad_control_bytes.push(control);
            }
            let is_data = control & 0x40 != 0;
            let continuation = control & 0x80 != 0;
            // Co = 1: exactly one byte, then another control byte; Co = 0: the rest.
            let end = if continuation {
                (i + 1).min(message.len())
            } else {
                message.len()
            };
            for &b in &message[i..end] {
                if is_data {
                    self.data(b);
                } else {
                    self.command(b);
                }
            }
            i = end;
        }
    }

    /// What the glass shows now.
    pub fn glass(&self) -> Glass {
        if !self.display_on || !self.charge_pump_on {
            return Glass::dark();
        }
        let rows_driven = self.multiplex as usize + 1;
        Glass::from_fn(|x, y| {
            // The module's segment 0 is at the right edge and COM 0 at the bottom, which is
            // why drivers remap both for an upright picture.
            let column = if self.segment_remap { x } else { WIDTH - 1 - x };
            let scan = if self.com_reversed { y } else { HEIGHT - 1 - y };
            if scan >= rows_driven {
                return false;
            }
            if self.entire_on {
                return true;
            }
            let row = (scan + self.start_line as usize + self.display_offset as usize) % HEIGHT;
            let bit = self.ram[row / 8][column] >> (row % 8) & 1 == 1;
            bit != self.inverted
        })
    }

    /// The RAM bit at `column`, `row` (RAM coordinates, not glass).
    pub fn ram_bit(&self, column: usize, row: usize) -> bool {
        self.ram[row / 8][column] >> (row % 8) & 1 == 1
    }

    /// The status byte a read returns: bit 6 set while the display is off.
    pub fn status(&self) -> u8 {
        if self.display_on {
            0x00
        } else {
            0x40
        }
    }

    fn data(&mut self, b: u8) {
        self.data_bytes += 1;
        self.ram[self.page][self.col] = b;
        match self.addressing {
            Addressing::Page => {
                self.col = if self.col >= WIDTH - 1 {
                    0
                } else {
                    self.col + 1
                };
            }
            Addressing::Horizontal => {
                if self.col >= self.col_end {
                    self.col = self.col_start;
                    self.page = if self.page >= self.page_end {
                        self.page_start
                    } else {
                        self.page + 1
                    };
                } else {
                    self.col += 1;
                }
            }
            Addressing::Vertical => {
                if self.page >= self.page_end {
                    self.page = self.page_start;
                    self.col = if self.col >= self.col_end {
                        self.col_start
                    } else {
                        self.col + 1
                    };
                } else {
                    self.page += 1;
                }
            }
        }
    }

    fn command(&mut self, b: u8) {
        self.command_bytes += 1;
        if let Some(mut p) = self.pending.take() {
            p.params.push(b);
            if p.params.len() < p.needed {
                self.pending = Some(p);
            } else {
                self.execute(p.opcode, &p.params);
            }
            return;
        }
        let needed = match b {
            0x20 | 0x81 | 0x8D | 0xA8 | 0xD3 | 0xD5 | 0xD9 | 0xDA | 0xDB => 1,
            0x21 | 0x22 | 0xA3 => 2,
            0x29 | 0x2A => 5,
            0x26 | 0x27 => 6,
            _ => 0,
        };
        if needed == 0 {
            self.execute(b, &[]);
        } else {
            self.pending = Some(PendingCommand {
                opcode: b,
                needed,
                params: Vec::with_capacity(needed),
            });
        }
    }

    fn execute(&mut self, opcode: u8, p: &[u8]) {
        match opcode {
            0x00..=0x0F => self.col = (self.col & 0xF0) | opcode as usize,
            0x10..=0x1F => self.col = ((opcode as usize & 0x07) << 4) | (self.col & 0x0F),
            0x20 => match p[0] & 0x03 {
                0 => self.addressing = Addressing::Horizontal,
                1 => self.addressing = Addressing::Vertical,
                2 => self.addressing = Addressing::Page,
                _ => self.unknown_commands.extend_from_slice(&[opcode, p[0]]),
            },
            0x21 => {
                self.col_start = (p[0] & 0x7F) as usize;
                self.col_end = (p[1] & 0x7F) as usize;
                self.col = self.col_start;
            }
            0x22 => {
                self.page_start = (p[0] & 0x07) as usize;
                self.page_end = (p[1] & 0x07) as usize;
                self.page = self.page_start;
            }
            0x26 | 0x27 | 0x29 | 0x2A | 0xA3 => {}
            0x2E => self.scrolling = false,
            0x2F => self.scrolling = true,
            0x40..=0x7F => self.start_line = opcode - 0x40,
            0x81 => self.contrast = p[0],
            0x8D => self.charge_pump_on = p[0] & 0x04 != 0,
            0xA0 | 0xA1 => self.segment_remap = opcode == 0xA1,
            0xA4 | 0xA5 => self.entire_on = opcode == 0xA5,
            0xA6 | 0xA7 => self.inverted = opcode == 0xA7,
            0xA8 => self.multiplex = (p[0] & 0x3F).max(15),
            0xAE | 0xAF => self.display_on = opcode == 0xAF,
            0xB0..=0xB7 => self.page = (opcode - 0xB0) as usize,
            0xC0 | 0xC8 => self.com_reversed = opcode == 0xC8,
            0xD3 => self.display_offset = p[0] & 0x3F,
            0xD5 => self.clock_div = p[0],
            0xD9 => self.precharge = p[0],
            0xDA => self.com_pins = p[0],
            0xDB => self.vcomh = p[0],
            0xE3 => {}
            _ => {
                self.unknown_commands.push(opcode);
                self.unknown_commands.extend_from_slice(p);
            }
        }
    }
}

/// Why the fake bus refused a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FakeBusError {
    /// Nobody acknowledged the address (wrong address, or the display is gone).
    NoAcknowledge(NoAcknowledgeSource),
}

impl fmt::Display for FakeBusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FakeBusError::NoAcknowledge(s) => write!(f, "no acknowledge ({s})"),
        }
    }
}

impl std::error::Error for FakeBusError {}

impl embedded_hal::i2c::Error for FakeBusError {
    fn kind(&self) -> ErrorKind {
        match *self {
            FakeBusError::NoAcknowledge(s) => ErrorKind::NoAcknowledge(s),
        }
    }
}

/// What a test reads back from the bus.
#[derive(Debug)]
pub struct FakeBusState {
    /// The 7-bit address the display answers at.
    pub address: u8,
    pub chip: FakeSsd1306,
    /// Transactions that reached the display.
    pub transactions: u64,
    /// Transactions refused (not acknowledged).
    pub refused: u64,
    /// Writes to an address nobody answers at.
    pub wrong_address: u64,
    /// Accept this many more transactions, then acknowledge nothing (None: never fail).
    fail_after: Option<u64>,
}

/// An I2C bus with one SSD1306 on it. Clones share the bus, so a test keeps one to look at
/// the glass while the display thread owns another.
#[derive(Clone, Debug)]
pub struct FakeBus {
    state: Arc<Mutex<FakeBusState>>,
}

impl FakeBus {
    /// A bus with a display at `address` that has just been powered on.
    pub fn new(address: u8) -> FakeBus {
        FakeBus {
            state: Arc::new(Mutex::new(FakeBusState {
                address,
                chip: FakeSsd1306::power_on(),
                transactions: 0,
                refused: 0,
                wrong_address: 0,
                fail_after: None,
            })),
        }
    }

    /// A bus whose display acknowledges `writes` transactions and then nothing.
    pub fn failing_after(address: u8, writes: u64) -> FakeBus {
        let bus = FakeBus::new(address);
        bus.state().fail_after = Some(writes);
        bus
    }

    /// From now on, refuse every transaction after `writes` more.
    pub fn fail_after(&self, writes: u64) {
        self.state().fail_after = Some(writes);
    }

    /// The display answers again; `power_cycled` also resets the chip, as replugging does.
    pub fn heal(&self, power_cycled: bool) {
        let mut s = self.state();
        s.fail_after = None;
        if power_cycled {
            s.chip = FakeSsd1306::power_on();
        }
    }

    /// The bus's state, for reading (or changing) in a test.
    pub fn state(&self) -> MutexGuard<'_, FakeBusState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn glass(&self) -> Glass {
        self.state().chip.glass()
    }
}

impl ErrorType for FakeBus {
    type Error = FakeBusError;
}

impl I2c for FakeBus {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), Self::Error> {
        let mut s = self.state();
        if address != s.address {
            s.wrong_address += 1;
            return Err(FakeBusError::NoAcknowledge(NoAcknowledgeSource::Address));
        }
        if let Some(left) = s.fail_after {
            if left == 0 {
                s.refused += 1;
                return Err(FakeBusError::NoAcknowledge(NoAcknowledgeSource::Address));
            }
            s.fail_after = Some(left - 1);
        }
        s.transactions += 1;
        // Adjacent writes go out as one message (no repeated start between them).
        let mut message: Vec<u8> = Vec::new();
        for op in operations.iter_mut() {
            match op {
                Operation::Write(bytes) => message.extend_from_slice(bytes),
                Operation::Read(buf) => {
                    if !message.is_empty() {
                        s.chip.receive(&message);
                        message.clear();
                    }
                    let status = s.chip.status();
                    buf.fill(status);
                }
            }
        }
        if !message.is_empty() {
            s.chip.receive(&message);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chip_on() -> FakeSsd1306 {
        let mut c = FakeSsd1306::power_on();
        // Upright, charge pump, display on; horizontal addressing over the whole RAM.
        c.receive(&[
            0x00, 0x8D, 0x14, 0xA1, 0xC8, 0x20, 0x00, 0x21, 0, 127, 0x22, 0, 7, 0xAF,
        ]);
        c
    }

    #[test]
    fn power_on_is_dark_and_holds_noise() {
        let c = FakeSsd1306::power_on();
        assert_eq!(c.glass().lit_count(), 0, "display off at power-on");
        let ones: u32 = (0..WIDTH)
            .flat_map(|x| (0..HEIGHT).map(move |y| (x, y)))
            .map(|(x, y)| c.ram_bit(x, y) as u32)
            .sum();
        // Noise: neither cleared nor set.
        assert!((2000..6000).contains(&ones), "{ones} of 8192 bits set");
    }

    #[test]
    fn horizontal_addressing_fills_the_window_and_wraps() {
        let mut c = chip_on();
        // A 2-column window over pages 1..=2, five bytes: the fifth wraps to the window start.
        c.receive(&[0x00, 0x21, 10, 11, 0x22, 1, 2]);
        c.receive(&[0x40, 0x01, 0x02, 0x03, 0x04, 0xFF]);
        assert_eq!(c.ram[1][10], 0xFF, "wrapped to (page 1, col 10)");
        assert_eq!(c.ram[1][11], 0x02);
        assert_eq!(c.ram[2][10], 0x03);
        assert_eq!(c.ram[2][11], 0x04);
        assert_eq!(c.data_bytes, 5);
        // Bit 0 of page 1 is row 8; with remap and reversed COM that is glass (10, 8).
        let g = c.glass();
        assert!(g.lit(10, 8) && g.lit(10, 15));
        assert!(!g.lit(11, 8) && g.lit(11, 9), "0x02 lights row 9 only");
    }

    #[test]
    fn vertical_and_page_addressing_advance_their_own_way() {
        let mut c = chip_on();
        c.receive(&[0x00, 0x20, 0x01, 0x21, 5, 6, 0x22, 0, 1]);
        c.receive(&[0x40, 0xA0, 0xA1, 0xA2]);
        assert_eq!((c.ram[0][5], c.ram[1][5], c.ram[0][6]), (0xA0, 0xA1, 0xA2));
        // Page mode: B3, column 0x7E from two nibbles; the column wraps within the page.
        c.receive(&[0x00, 0x20, 0x02, 0xB3, 0x0E, 0x17]);
        c.receive(&[0x40, 1, 2, 3]);
        assert_eq!((c.ram[3][126], c.ram[3][127], c.ram[3][0]), (1, 2, 3));
        assert_eq!(
            (c.page, c.col),
            (3, 1),
            "page mode never moves to the next page"
        );
    }

    #[test]
    fn co_bit_interleaves_single_commands_and_data() {
        let mut c = chip_on();
        // 0x80 cmd, 0x80 cmd, 0xC0 data, 0x40 data...: contrast 0x33 then two data bytes at (0, 0).
        c.receive(&[0x80, 0x81, 0x80, 0x33, 0xC0, 0xAA, 0x40, 0x55]);
        assert_eq!(c.contrast, 0x33);
        assert_eq!((c.ram[0][0], c.ram[0][1]), (0xAA, 0x55));
        assert!(c.unknown_commands.is_empty() && c.bad_control_bytes.is_empty());
        // A parameter may come in the next message.
        c.receive(&[0x00, 0x81]);
        c.receive(&[0x00, 0x44]);
        assert_eq!(c.contrast, 0x44);
    }

    #[test]
    fn what_lights_a_pixel() {
        let mut c = chip_on();
        c.receive(&[0x00, 0x21, 0, 127, 0x22, 0, 7]);
        let mut data = vec![0x40];
        data.extend(std::iter::repeat_n(0u8, 1024));
        c.receive(&data);
        c.receive(&[0x00, 0x21, 0, 0, 0x22, 0, 0]);
        c.receive(&[0x40, 0x01]);
        assert_eq!(c.glass().lit_count(), 1);
        assert!(c.glass().lit(0, 0));
        // Unremapped segments and normal COM scan: the picture is turned by 180 degrees.
        c.receive(&[0x00, 0xA0, 0xC0]);
        assert!(c.glass().lit(127, 63));
        c.receive(&[0x00, 0xA1, 0xC8, 0xA7]);
        assert_eq!(c.glass().lit_count(), WIDTH * HEIGHT - 1, "inverse");
        c.receive(&[0x00, 0xA6, 0xA5]);
        assert_eq!(c.glass().lit_count(), WIDTH * HEIGHT, "entire display on");
        c.receive(&[0x00, 0xA4, 0x41]);
        assert!(
            c.glass().lit(0, 63),
            "start line 1 moves row 0 to the bottom"
        );
        c.receive(&[0x00, 0x40, 0x8D, 0x10]);
        assert_eq!(c.glass().lit_count(), 0, "no charge pump, no light");
        c.receive(&[0x00, 0x8D, 0x14, 0xAE]);
        assert_eq!(c.glass().lit_count(), 0, "display off");
        c.receive(&[0x00, 0xAF, 0xD3, 0x00, 0xF0]);
        assert_eq!(c.unknown_commands, vec![0xF0]);
    }

    #[test]
    fn the_bus_acknowledges_only_its_address_and_fails_on_cue() {
        let mut bus = FakeBus::failing_after(0x3C, 2);
        assert_eq!(
            bus.write(0x3D, &[0x00, 0xAF]),
            Err(FakeBusError::NoAcknowledge(NoAcknowledgeSource::Address))
        );
        assert!(bus.write(0x3C, &[0x00, 0x8D, 0x14]).is_ok());
        assert!(bus.write(0x3C, &[0x00, 0xAF]).is_ok());
        assert!(
            bus.write(0x3C, &[0x00, 0xAE]).is_err(),
            "third write refused"
        );
        let mut status = [0u8; 1];
        assert!(bus.read(0x3C, &mut status).is_err());
        {
            let s = bus.state();
            assert_eq!((s.transactions, s.refused, s.wrong_address), (2, 2, 1));
            assert!(s.chip.display_on, "the refused 0xAE never arrived");
        }
        bus.heal(false);
        bus.read(0x3C, &mut status).unwrap();
        assert_eq!(status[0], 0x00, "on");
        bus.heal(true);
        bus.read(0x3C, &mut status).unwrap();
        assert_eq!(status[0], 0x40, "power cycled: off again");
    }
}
