//! The box's small display: an SSD1306 128x64 OLED on I2C. So far: its test bus
//! ([`fake_bus::FakeBus`], which decodes the SSD1306's commands into the picture on its
//! glass), what it shows ([`screen`]) and when it draws ([`pacer`]).

pub mod fake_bus;
pub mod pacer;
pub mod screen;
