//! Bytes from a network client through the page server's request parser (`parse_request`,
//! what the `stembox-web` loop calls on every read), pipelined requests included, then the
//! rules a request meets (host, origin, cookie, the line a POST carries). What parses must
//! hold the parser's promises: a whole request never claims more bytes than arrived, a
//! refusal is a 4xx with a one-line reason, and nothing panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use stembox::remote::http::request::{parse_request, Parse};
use stembox::remote::http::rules::{cookie_value, host_allowed, line_kind};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    // At most a few pipelined requests: each must consume bytes, so this ends.
    for _ in 0..8 {
        match parse_request(rest) {
            Ok(Parse::Partial { .. }) => break,
            Ok(Parse::Complete(_req, used)) => {
                assert!(used > 0 && used <= rest.len(), "{used} of {}", rest.len());
                rest = &rest[used..];
            }
            Err(e) => {
                assert!((400..500).contains(&e.status), "{e}");
                assert!(!e.reason.contains(['\n', '\r']), "{e}");
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(data);
    let _ = host_allowed(&text, &[]);
    let _ = cookie_value(&text, "stembox_session");
    let _ = line_kind(&text);
});
