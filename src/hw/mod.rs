//! The hardware around the box, each behind a small seam with a test implementation:
//! evdev buttons (a pipe of raw `input_event` records in tests), GPIO status LEDs, and the
//! serial console (any reader and writer), and the small I2C OLED display (a fake bus that
//! decodes SSD1306 commands in tests).

pub mod console;
pub mod display;
pub mod input;
pub mod leds;
pub mod midi;
