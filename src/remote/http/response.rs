//! Building HTTP/1.1 responses: the status line, the headers every answer carries (no
//! sniffing, no referrer, a content security policy that allows only this server), and a
//! body. Pure, so the exact bytes are tested.

/// The reason phrase for the statuses this server sends.
pub fn status_text(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        423 => "Locked",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// Only this server's own script, style and connections; nothing may frame the page.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// One response: status, content type, extra headers, body. `head_only` (a HEAD request)
/// keeps the headers, Content-Length included, and drops the body.
pub struct Response<'a> {
    pub status: u16,
    pub content_type: &'a str,
    pub headers: Vec<(&'a str, String)>,
    pub body: &'a [u8],
}

impl<'a> Response<'a> {
    pub fn new(status: u16, content_type: &'a str, body: &'a [u8]) -> Response<'a> {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body,
        }
    }

    pub fn header(mut self, name: &'a str, value: impl Into<String>) -> Response<'a> {
        self.headers.push((name, value.into()));
        self
    }

    /// The bytes to send.
    pub fn to_bytes(&self, keep_alive: bool, head_only: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + if head_only { 0 } else { self.body.len() });
        out.extend_from_slice(
            format!(
                "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
                 Connection: {}\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n\
                 Content-Security-Policy: {CONTENT_SECURITY_POLICY}\r\n",
                self.status,
                status_text(self.status),
                self.content_type,
                self.body.len(),
                if keep_alive { "keep-alive" } else { "close" },
            )
            .as_bytes(),
        );
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            // A header value never carries a line break (values come from this server,
            // but a reply line from control is text too).
            out.extend(value.bytes().filter(|b| *b != b'\r' && *b != b'\n'));
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !head_only {
            out.extend_from_slice(self.body);
        }
        out
    }
}

/// A plain-text answer of one line: a 4xx/5xx reason, or control's reply.
pub fn text(status: u16, line: &str, keep_alive: bool) -> Vec<u8> {
    let mut body = line.replace(['\r', '\n'], " ");
    body.push('\n');
    Response::new(status, "text/plain; charset=utf-8", body.as_bytes())
        .header("Cache-Control", "no-store")
        .to_bytes(keep_alive, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_answer_is_one_line_with_exact_length() {
        let b = text(423, "locked: mixer changes\r\nX-Evil: 1", false);
        let s = String::from_utf8(b).unwrap();
        let (head, body) = s.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 423 Locked\r\n"));
        assert!(head.contains("Connection: close"));
        assert!(!head.contains("X-Evil"));
        assert_eq!(body, "locked: mixer changes  X-Evil: 1\n");
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
    }

    #[test]
    fn head_keeps_the_length_and_drops_the_body() {
        let r = Response::new(200, "text/css", b"body{}").header("ETag", "\"x\"");
        let b = String::from_utf8(r.to_bytes(true, true)).unwrap();
        assert!(b.ends_with("ETag: \"x\"\r\n\r\n"));
        assert!(b.contains("Content-Length: 6\r\n"));
        assert!(b.contains("Connection: keep-alive"));
        let full = r.to_bytes(true, false);
        assert!(full.ends_with(b"\r\n\r\nbody{}"));
    }

    #[test]
    fn header_values_cannot_split_the_head() {
        let r = Response::new(200, "text/plain", b"").header("X-Reply", "a\r\nSet-Cookie: x=1");
        let b = String::from_utf8(r.to_bytes(false, false)).unwrap();
        assert!(b.contains("X-Reply: aSet-Cookie: x=1\r\n"));
        assert_eq!(b.matches("\r\n").count(), 9);
    }
}
