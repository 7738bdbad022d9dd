//! Parsing one HTTP/1.x request out of the bytes a connection has received so far, with the
//! server's limits applied as it goes: pure, no I/O, so every limit and every malformed
//! input is tested here. The head is parsed by `httparse` (zero-copy, no allocation until
//! the few headers the server reads are copied out).

use std::fmt;

/// Largest request head (request line and headers) accepted; beyond it: 431.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
/// Largest request body accepted (a console line or a PIN); beyond it: 413.
pub const MAX_BODY_BYTES: usize = 4 * 1024;
/// Most header fields accepted; beyond it: 431.
pub const MAX_HEADERS: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    /// Any other token: answered 405.
    Other,
}

/// A complete request, with the headers the server acts on copied out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub method: Option<Method>,
    /// The path without its query string.
    pub path: String,
    pub keep_alive: bool,
    pub host: Option<String>,
    pub origin: Option<String>,
    pub page_header: Option<String>,
    pub cookie: Option<String>,
    pub accept_encoding: Option<String>,
    pub if_none_match: Option<String>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn method(&self) -> Method {
        self.method.unwrap_or(Method::Other)
    }
}

/// What the bytes so far amount to.
#[derive(Debug, PartialEq, Eq)]
pub enum Parse {
    /// More bytes needed. `expect_continue`: the head is complete, asks for
    /// `100 Continue`, and its body has not arrived yet.
    Partial { expect_continue: bool },
    /// A whole request, and how many bytes of the buffer it used (pipelined bytes after it
    /// stay for the next request).
    Complete(Box<Request>, usize),
}

/// A request refused before it reached a route: the status and a one-line reason. The
/// connection is closed after the answer, since what follows in its stream cannot be
/// trusted to start a new request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    pub status: u16,
    pub reason: String,
}

impl Reject {
    fn new(status: u16, reason: impl Into<String>) -> Reject {
        Reject {
            status,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.reason)
    }
}

/// Parses the request at the start of `buf`.
pub fn parse_request(buf: &[u8]) -> Result<Parse, Reject> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Partial) => {
            if buf.len() > MAX_HEADER_BYTES {
                return Err(Reject::new(
                    431,
                    format!("request header fields too large (limit {MAX_HEADER_BYTES} bytes)"),
                ));
            }
            return Ok(Parse::Partial {
                expect_continue: false,
            });
        }
        Ok(httparse::Status::Complete(n)) => n,
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Reject::new(
                431,
                format!("too many header fields (limit {MAX_HEADERS})"),
            ))
        }
        Err(e) => return Err(Reject::new(400, format!("malformed request: {e}"))),
    };
    if head_len > MAX_HEADER_BYTES {
        return Err(Reject::new(
            431,
            format!("request header fields too large (limit {MAX_HEADER_BYTES} bytes)"),
        ));
    }
    let target = req.path.unwrap_or("");
    if !target.starts_with('/') {
        return Err(Reject::new(400, "request target must be a path"));
    }
    let path = target.split(['?', '#']).next().unwrap_or("").to_string();
    let method = match req.method.unwrap_or("") {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        _ => Method::Other,
    };
    let http11 = req.version == Some(1);
    let mut out = Request {
        method: Some(method),
        path,
        keep_alive: http11,
        ..Request::default()
    };
    let mut content_length: Option<usize> = None;
    let mut expect_continue = false;
    for h in req.headers.iter() {
        let value = || -> Result<String, Reject> {
            std::str::from_utf8(h.value)
                .map(|s| s.trim().to_string())
                .map_err(|_| Reject::new(400, format!("header {} is not UTF-8", h.name)))
        };
        let name = h.name.to_ascii_lowercase();
        match name.as_str() {
            "host" => out.host = Some(value()?),
            "origin" => out.origin = Some(value()?),
            super::rules::PAGE_HEADER => out.page_header = Some(value()?),
            "cookie" => out.cookie = Some(value()?),
            "accept-encoding" => out.accept_encoding = Some(value()?),
            "if-none-match" => out.if_none_match = Some(value()?),
            "connection" => {
                let v = value()?.to_ascii_lowercase();
                if v.split(',').any(|t| t.trim() == "close") {
                    out.keep_alive = false;
                } else if v.split(',').any(|t| t.trim() == "keep-alive") {
                    out.keep_alive = true;
                }
            }
            "expect" => expect_continue = value()?.eq_ignore_ascii_case("100-continue"),
            "transfer-encoding" => {
                return Err(Reject::new(
                    411,
                    "send the body with Content-Length (no Transfer-Encoding)",
                ))
            }
            "content-length" => {
                let n: usize = value()?
                    .parse()
                    .map_err(|_| Reject::new(400, "Content-Length is not a number"))?;
                if content_length.is_some_and(|old| old != n) {
                    return Err(Reject::new(400, "two different Content-Length headers"));
                }
                content_length = Some(n);
            }
            _ => {}
        }
    }
    let body_len = content_length.unwrap_or(0);
    if body_len > MAX_BODY_BYTES {
        return Err(Reject::new(
            413,
            format!("request body too large (limit {MAX_BODY_BYTES} bytes)"),
        ));
    }
    let total = head_len + body_len;
    if buf.len() < total {
        return Ok(Parse::Partial { expect_continue });
    }
    out.body = buf[head_len..total].to_vec();
    Ok(Parse::Complete(Box::new(out), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(buf: &[u8]) -> (Box<Request>, usize) {
        match parse_request(buf) {
            Ok(Parse::Complete(r, n)) => (r, n),
            other => panic!("not complete: {other:?}"),
        }
    }

    #[test]
    fn a_get_with_its_headers() {
        let raw = b"GET /api/state?x=1 HTTP/1.1\r\nHost: box:8080\r\nAccept-Encoding: gzip\r\nCookie: a=b\r\n\r\n";
        let (r, n) = complete(raw);
        assert_eq!(n, raw.len());
        assert_eq!(r.method(), Method::Get);
        assert_eq!(r.path, "/api/state");
        assert!(r.keep_alive);
        assert_eq!(r.host.as_deref(), Some("box:8080"));
        assert_eq!(r.accept_encoding.as_deref(), Some("gzip"));
        assert_eq!(r.cookie.as_deref(), Some("a=b"));
        assert!(r.body.is_empty());
    }

    #[test]
    fn a_post_waits_for_its_body_and_leaves_pipelined_bytes() {
        let head =
            b"POST /api/action HTTP/1.1\r\nHost: b\r\nX-Stembox: 1\r\nContent-Length: 10\r\n\r\n";
        assert_eq!(
            parse_request(head),
            Ok(Parse::Partial {
                expect_continue: false
            })
        );
        let mut raw = head.to_vec();
        raw.extend_from_slice(b"mute drumsGET / HTTP/1.1\r\n\r\n");
        let (r, n) = complete(&raw);
        assert_eq!(r.body, b"mute drums");
        assert_eq!(r.page_header.as_deref(), Some("1"));
        assert_eq!(&raw[n..], b"GET / HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn expect_continue_is_reported_until_the_body_arrives() {
        let head =
            b"POST /api/action HTTP/1.1\r\nHost: b\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
        assert_eq!(
            parse_request(head),
            Ok(Parse::Partial {
                expect_continue: true
            })
        );
        let mut raw = head.to_vec();
        raw.extend_from_slice(b"play");
        assert_eq!(complete(&raw).0.body, b"play");
    }

    #[test]
    fn keep_alive_follows_version_and_connection() {
        assert!(!complete(b"GET / HTTP/1.0\r\n\r\n").0.keep_alive);
        assert!(
            complete(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                .0
                .keep_alive
        );
        assert!(
            !complete(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n")
                .0
                .keep_alive
        );
    }

    #[test]
    fn limits_give_their_status() {
        let mut big = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
        big.resize(MAX_HEADER_BYTES + 1, b'a');
        assert_eq!(parse_request(&big).unwrap_err().status, 431);
        // the same header, complete but too long
        let mut big_done = big.clone();
        big_done.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse_request(&big_done).unwrap_err().status, 431);
        // just under the limit is still partial
        assert!(matches!(
            parse_request(&big[..MAX_HEADER_BYTES]),
            Ok(Parse::Partial { .. })
        ));
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse_request(&many).unwrap_err().status, 431);
        let body = format!(
            "POST /api/action HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY_BYTES + 1
        );
        assert_eq!(parse_request(body.as_bytes()).unwrap_err().status, 413);
        let chunked = b"POST /api/action HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(parse_request(chunked).unwrap_err().status, 411);
    }

    #[test]
    fn malformed_requests_are_400_with_a_reason() {
        for raw in [
            &b"GARBAGE\r\n\r\n"[..],
            b"GET / HTTP/9.9\r\n\r\n",
            b"GET\x00 / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
            b"GET http://x/ HTTP/1.1\r\n\r\n",
            b"GET * HTTP/1.1\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: ten\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            b"GET / HTTP/1.1\r\nOrigin: \xff\xfe\r\n\r\n",
        ] {
            let e = parse_request(raw).unwrap_err();
            assert_eq!(e.status, 400, "{:?}: {e}", String::from_utf8_lossy(raw));
            assert!(!e.reason.contains('\n'));
        }
        assert_eq!(
            complete(b"BREW / HTTP/1.1\r\n\r\n").0.method(),
            Method::Other
        );
    }

    #[test]
    fn never_panics_on_any_prefix_or_byte_flip() {
        let good = b"POST /api/action?x HTTP/1.1\r\nHost: h\r\nOrigin: http://h\r\nContent-Length: 4\r\n\r\nplay".to_vec();
        for cut in 0..=good.len() {
            let _ = parse_request(&good[..cut]);
        }
        let mut seed = 0x2545_f491_u32;
        for _ in 0..20_000 {
            let mut raw = good.clone();
            for _ in 0..3 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let i = seed as usize % raw.len();
                raw[i] = (seed >> 8) as u8;
            }
            let _ = parse_request(&raw);
        }
    }
}
