//! Raw `struct input_event` records to [`evdev::InputEvent`]s, from any byte stream.
//!
//! The kernel hands out whole records per `read` on an evdev node, but a pipe, FIFO or
//! socket may split them anywhere, so the decoder keeps the tail of a partial record until
//! the rest arrives. Used by every [`super::source::InputSource`] on the input thread; the
//! encoder is for tests and for tools that feed stembox through a pipe.

use crate::base::clock::Timestamp;
use evdev::InputEvent;
use std::time::Duration;

/// Bytes of one record on this machine's ABI: 24 on x86_64 and arm64 (16-byte `timeval`,
/// `u16` type, `u16` code, `i32` value).
pub const RECORD_BYTES: usize = std::mem::size_of::<libc::input_event>();

/// Reassembles records from arbitrary chunks of bytes.
#[derive(Debug, Default)]
pub struct RecordDecoder {
    /// The start of a record whose rest has not arrived yet (always `< RECORD_BYTES`).
    partial: Vec<u8>,
}

impl RecordDecoder {
    pub fn new() -> RecordDecoder {
        RecordDecoder {
            partial: Vec::with_capacity(RECORD_BYTES),
        }
    }

    /// Decodes every complete record in `partial ++ bytes`, appends them to `out`, keeps the
    /// rest. Returns how many records were decoded.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<InputEvent>) -> usize {
        let mut n = 0;
        if !self.partial.is_empty() {
            let need = RECORD_BYTES - self.partial.len();
            let take = need.min(bytes.len());
            self.partial.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.partial.len() < RECORD_BYTES {
                return 0;
            }
            out.push(decode_record(&self.partial));
            self.partial.clear();
            n += 1;
        }
        let mut chunks = bytes.chunks_exact(RECORD_BYTES);
        for rec in &mut chunks {
            out.push(decode_record(rec));
            n += 1;
        }
        self.partial.extend_from_slice(chunks.remainder());
        n
    }

    /// Bytes of an incomplete record held back.
    pub fn pending_bytes(&self) -> usize {
        self.partial.len()
    }

    /// Drops a partial record (the stream was closed or reopened).
    pub fn clear(&mut self) {
        self.partial.clear();
    }
}

/// One record of exactly [`RECORD_BYTES`] bytes.
fn decode_record(rec: &[u8]) -> InputEvent {
    debug_assert_eq!(rec.len(), RECORD_BYTES);
    // SAFETY: `rec` holds RECORD_BYTES bytes, input_event is plain old data (integers only,
    // every bit pattern valid) and read_unaligned needs no alignment.
    let raw: libc::input_event =
        unsafe { std::ptr::read_unaligned(rec.as_ptr().cast::<libc::input_event>()) };
    InputEvent::from(raw)
}

/// The record's kernel timestamp. Unlike `InputEvent::timestamp`, never panics: negative
/// or out-of-range fields (anything can come through a pipe) are clamped.
pub fn event_time(ev: &InputEvent) -> Timestamp {
    let raw: &libc::input_event = ev.as_ref();
    let secs = u64::try_from(raw.time.tv_sec).unwrap_or(0);
    let micros = u64::try_from(raw.time.tv_usec).unwrap_or(0).min(999_999);
    Duration::from_secs(secs) + Duration::from_micros(micros)
}

/// Encodes one record as the kernel would, e.g. to feed stembox's button input through a
/// pipe or FIFO in tests: `encode_record(EV_KEY, KEY_1, 1, t)` is a press.
pub fn encode_record(type_: u16, code: u16, value: i32, time: Timestamp) -> [u8; RECORD_BYTES] {
    let raw = libc::input_event {
        time: libc::timeval {
            tv_sec: time.as_secs() as libc::time_t,
            tv_usec: time.subsec_micros() as libc::suseconds_t,
        },
        type_,
        code,
        value,
    };
    let mut out = [0u8; RECORD_BYTES];
    // SAFETY: input_event is plain old data of exactly RECORD_BYTES bytes; on the 64-bit
    // ABIs it has no padding, and `out` is written whole.
    unsafe {
        std::ptr::write_unaligned(out.as_mut_ptr().cast::<libc::input_event>(), raw);
    }
    out
}

/// A key edge and its `SYN_REPORT`, as one device report: what a real key press or release
/// produces on the node (value 1 press, 0 release).
pub fn encode_key(code: evdev::KeyCode, down: bool, time: Timestamp) -> Vec<u8> {
    let mut v = Vec::with_capacity(2 * RECORD_BYTES);
    v.extend_from_slice(&encode_record(
        evdev::EventType::KEY.0,
        code.0,
        i32::from(down),
        time,
    ));
    v.extend_from_slice(&encode_record(
        evdev::EventType::SYNCHRONIZATION.0,
        0,
        0,
        time,
    ));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use evdev::{EventType, KeyCode};

    #[test]
    fn record_is_24_bytes_on_64_bit_linux() {
        #[cfg(target_pointer_width = "64")]
        assert_eq!(RECORD_BYTES, 24);
    }

    #[test]
    fn layout_matches_the_kernel_abi() {
        // timeval (sec, usec) as two native words, then type, code, value.
        let t = Duration::new(0x0102_0304, 0x0506 * 1_000);
        let rec = encode_record(1, 0x1e, -7, t);
        let w = std::mem::size_of::<libc::time_t>();
        assert_eq!(&rec[..4], &0x0102_0304u32.to_ne_bytes());
        assert_eq!(&rec[w..w + 2], &0x0506u16.to_ne_bytes());
        assert_eq!(&rec[2 * w..2 * w + 2], &1u16.to_ne_bytes());
        assert_eq!(&rec[2 * w + 2..2 * w + 4], &0x1eu16.to_ne_bytes());
        assert_eq!(&rec[2 * w + 4..2 * w + 8], &(-7i32).to_ne_bytes());
    }

    #[test]
    fn round_trip_whole_records() {
        let t = Duration::new(1_700_000_123, 456_789_000);
        let mut bytes = encode_key(KeyCode::KEY_3, true, t);
        bytes.extend(encode_key(
            KeyCode::KEY_3,
            false,
            t + Duration::from_millis(80),
        ));
        let mut d = RecordDecoder::new();
        let mut out = Vec::new();
        assert_eq!(d.push(&bytes, &mut out), 4);
        assert_eq!(d.pending_bytes(), 0);
        assert_eq!(out[0].event_type(), EventType::KEY);
        assert_eq!(out[0].code(), KeyCode::KEY_3.0);
        assert_eq!(out[0].value(), 1);
        assert_eq!(event_time(&out[0]), t);
        assert_eq!(out[1].event_type(), EventType::SYNCHRONIZATION);
        assert_eq!(out[2].value(), 0);
        assert_eq!(event_time(&out[2]), t + Duration::from_millis(80));
    }

    #[test]
    fn records_split_at_every_possible_point_reassemble() {
        let t = Duration::new(42, 1_000);
        let mut bytes = Vec::new();
        for i in 0..3 {
            bytes.extend(encode_record(1, 2 + i, 1, t));
        }
        for chunk in 1..=bytes.len() {
            let mut d = RecordDecoder::new();
            let mut out = Vec::new();
            for piece in bytes.chunks(chunk) {
                d.push(piece, &mut out);
            }
            assert_eq!(out.len(), 3, "chunk size {chunk}");
            let codes: Vec<u16> = out.iter().map(|e| e.code()).collect();
            assert_eq!(codes, vec![2, 3, 4], "chunk size {chunk}");
            assert_eq!(d.pending_bytes(), 0);
        }
    }

    #[test]
    fn a_partial_record_waits_and_clear_drops_it() {
        let rec = encode_record(1, 5, 1, Duration::ZERO);
        let mut d = RecordDecoder::new();
        let mut out = Vec::new();
        assert_eq!(d.push(&rec[..10], &mut out), 0);
        assert_eq!(d.pending_bytes(), 10);
        assert_eq!(d.push(&[], &mut out), 0);
        d.clear();
        assert_eq!(d.push(&rec, &mut out), 1);
        assert_eq!(out[0].code(), 5);
    }

    #[test]
    fn hostile_timestamps_are_clamped_not_panicking() {
        let raw = libc::input_event {
            time: libc::timeval {
                tv_sec: -5,
                tv_usec: -1,
            },
            type_: 1,
            code: 2,
            value: 1,
        };
        assert_eq!(event_time(&InputEvent::from(raw)), Duration::ZERO);
        let raw = libc::input_event {
            time: libc::timeval {
                tv_sec: libc::time_t::MAX,
                tv_usec: libc::suseconds_t::MAX,
            },
            type_: 1,
            code: 2,
            value: 1,
        };
        let t = event_time(&InputEvent::from(raw));
        assert_eq!(t.subsec_micros(), 999_999);
    }
}
