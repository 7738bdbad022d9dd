//! The box's small display: an SSD1306 128x64 OLED on I2C. This step brings only its test
//! bus, [`fake_bus::FakeBus`], which decodes the SSD1306's commands into the picture on its
//! glass.

pub mod fake_bus;
