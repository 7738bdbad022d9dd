//! OSC datagrams through `osc::codec::decode_packet` (what the `stembox-osc` thread calls)
//! and every message through `codec::parse`: no panic, and no line for control may carry a
//! control character (a newline would smuggle in a second command) or exceed the console's
//! line limit.
#![no_main]
use libfuzzer_sys::fuzz_target;
use stembox::remote::osc::codec::{decode_packet, parse, Incoming};

fuzz_target!(|data: &[u8]| {
    let Ok(messages) = decode_packet(data) else {
        return;
    };
    for m in &messages {
        if let Ok(Incoming::Line(line)) = parse(m) {
            assert!(!line.chars().any(char::is_control), "{line:?}");
            assert!(
                line.len() <= stembox::hw::console::MAX_LINE_BYTES,
                "{line:?}"
            );
        }
    }
});
