//! Console lines through `console::parse_line`, split and decoded as the console thread
//! does (at '\n', invalid UTF-8 replaced).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for line in data.split_inclusive(|&b| b == b'\n') {
        let _ = stembox::hw::console::parse_line(&String::from_utf8_lossy(line));
    }
});
