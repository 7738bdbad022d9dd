//! Arbitrary bytes as a stream of `input_event` records, through the decoder and gesture
//! machine the input thread uses with the default key map. The first byte's low 7 bits set
//! the size of the chunks the stream arrives in (a pipe may split records anywhere); time
//! advances from the records' own timestamps, as the input thread's clock anchor does, and
//! with the high bit set the stream pauses after each chunk until the next gesture timeout.
#![no_main]
use libfuzzer_sys::fuzz_target;
use stembox::storage::config::ButtonsConfig;
use stembox::hw::input::decode::event_time;
use stembox::hw::input::{GestureDecoder, GestureTiming, KeyMap, RecordDecoder};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let timing = GestureTiming::from_config(&ButtonsConfig::default()).unwrap();
    let mut gestures = GestureDecoder::new(&KeyMap::default_map(), timing);
    let mut records = RecordDecoder::new();
    let (mut events, mut fired) = (Vec::new(), Vec::new());
    let pause = chunk & 0x80 != 0;
    for piece in stream.chunks(usize::from(chunk & 0x7f).max(1)) {
        events.clear();
        records.push(piece, &mut events);
        for ev in &events {
            gestures.on_event(ev, &mut fired);
            gestures.poll(event_time(ev), &mut fired);
        }
        if let Some(due) = gestures.next_deadline().filter(|_| pause) {
            gestures.poll(due, &mut fired);
        }
    }
    gestures.poll(std::time::Duration::MAX, &mut fired);
});
