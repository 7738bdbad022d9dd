//! The web remote's security rules as pure functions and small bounded tables, apart from
//! the socket code so each rule is tested alone: which requests may act (Origin or the
//! page's own header), which console lines lock mode refuses, the PIN check and its rate
//! limit per client address, and the session cookies a correct PIN hands out.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The header the page's own `fetch` calls set. A cross-site form cannot set a custom
/// header, and a cross-site script that tries gets a CORS preflight this server never
/// answers with permission, so "no Origin but this header" is the page or a script.
pub const PAGE_HEADER: &str = "x-stembox";

/// Name of the session cookie handed out by `POST /api/pin`.
pub const SESSION_COOKIE: &str = "stembox_session";

/// PIN attempts allowed per client address within [`PIN_WINDOW`]; more get 429.
pub const PIN_ATTEMPTS_PER_WINDOW: usize = 5;
pub const PIN_WINDOW: Duration = Duration::from_secs(60);

/// Client addresses the PIN limiter remembers; the oldest is forgotten beyond this, so a
/// storm from many addresses costs bounded memory (each address still gets only 5 a minute
/// while it is remembered).
pub const PIN_LIMITER_ADDRESSES: usize = 1024;

/// Sessions kept; the least recently used is dropped beyond this (its browser is asked for
/// the PIN again).
pub const MAX_SESSIONS: usize = 256;

/// How long a session cookie lives in the browser. Sessions live in RAM, so a restart of
/// the box also asks again.
pub const SESSION_MAX_AGE_S: u64 = 30 * 24 * 3600;

/// Why a POST may not act.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OriginProblem {
    /// `Origin` names another site than the `Host` the request was sent to.
    Foreign,
    /// No `Origin` and no `X-Stembox: 1` either.
    Unmarked,
    /// No `Host` header to compare with.
    NoHost,
}

impl OriginProblem {
    pub fn reason(self) -> &'static str {
        match self {
            OriginProblem::Foreign => "forbidden: Origin does not match Host",
            OriginProblem::Unmarked => "forbidden: a change needs an Origin or X-Stembox: 1",
            OriginProblem::NoHost => "forbidden: no Host header",
        }
    }
}

/// Whether a state-changing request may act: its `Origin` must be this server as the
/// browser addressed it (`http://<Host>` or `https://<Host>`), or it must carry no Origin
/// and the page's header ([`PAGE_HEADER`]`: 1`), as a script with curl would.
pub fn check_origin(
    origin: Option<&str>,
    host: Option<&str>,
    page_header: Option<&str>,
) -> Result<(), OriginProblem> {
    match origin {
        Some(origin) => {
            let host = host.ok_or(OriginProblem::NoHost)?;
            let rest = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            match rest {
                Some(h) if h.eq_ignore_ascii_case(host) => Ok(()),
                _ => Err(OriginProblem::Foreign),
            }
        }
        None if page_header.map(str::trim) == Some("1") => Ok(()),
        None => Err(OriginProblem::Unmarked),
    }
}

/// Whether the `Host` a request was sent to names this box in a way a web site elsewhere
/// cannot borrow. DNS rebinding points `evil.example` at the box's address; the attacker's
/// page is then same-origin with the box (Origin and Host agree), so the Origin check alone
/// would let it act. Names such a page cannot get are allowed: an IP address, a single-label
/// name (`stembox`), a local-only domain (`.local` from mDNS, `.lan`, `.home.arpa`,
/// `.internal`, `localhost`), and the names in `extra` (config `remote.hosts`).
pub fn host_allowed(host: &str, extra: &[String]) -> bool {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        return rest
            .split_once(']')
            .is_some_and(|(ip, _)| ip.parse::<std::net::Ipv6Addr>().is_ok());
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() {
        return false;
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() || !name.contains('.') {
        return true;
    }
    const LOCAL: [&str; 5] = [".local", ".lan", ".home.arpa", ".internal", ".localhost"];
    LOCAL.iter().any(|d| name.ends_with(d))
        || extra
            .iter()
            .any(|e| e.trim_end_matches('.').eq_ignore_ascii_case(&name))
}

/// What a console line does, as far as the remote's own rules care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind {
    /// Transport, setlist, status: allowed in lock mode.
    Show,
    /// Mixer and practice settings: refused in lock mode.
    Mix,
    /// Never from a remote (it would stop the appliance).
    Forbidden,
}

/// Classifies a console line by its first word(s), case-insensitively like the console's
/// parser. Unknown words are `Show`: control answers them with its own error.
pub fn line_kind(line: &str) -> LineKind {
    let mut words = line.split_whitespace();
    let first = words.next().unwrap_or("").to_ascii_lowercase();
    match first.as_str() {
        "quit" | "exit" => LineKind::Forbidden,
        "mute" | "unmute" | "toggle" | "solo" | "unsolo" | "gain" | "pan" | "bus" | "volume"
        | "speed" | "pitch" | "click" | "countin" | "mix" => LineKind::Mix,
        "loop" => match words.next().map(str::to_ascii_lowercase).as_deref() {
            Some("ramp") => LineKind::Mix,
            _ => LineKind::Show,
        },
        _ => LineKind::Show,
    }
}

/// Compares two PINs in time that does not depend on where they differ.
pub fn pin_matches(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.trim().as_bytes());
    let mut diff = (a.len() != b.len()) as u8;
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

/// Counts PIN attempts per client address in a sliding window.
#[derive(Debug, Default)]
pub struct PinLimiter {
    attempts: HashMap<IpAddr, VecDeque<Instant>>,
    /// Addresses in the order they were first seen, to forget the oldest.
    order: VecDeque<IpAddr>,
}

impl PinLimiter {
    /// Records an attempt from `ip` at `now`, or refuses it with the wait until the oldest
    /// attempt in the window expires (a refused attempt is not counted, so a storm does not
    /// push the wait out for ever).
    pub fn attempt(&mut self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        if !self.attempts.contains_key(&ip) {
            if self.order.len() >= PIN_LIMITER_ADDRESSES {
                if let Some(old) = self.order.pop_front() {
                    self.attempts.remove(&old);
                }
            }
            self.order.push_back(ip);
        }
        let times = self.attempts.entry(ip).or_default();
        while times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= PIN_WINDOW)
        {
            times.pop_front();
        }
        if times.len() >= PIN_ATTEMPTS_PER_WINDOW {
            let oldest = times.front().copied().unwrap_or(now);
            return Err(PIN_WINDOW.saturating_sub(now.saturating_duration_since(oldest)));
        }
        times.push_back(now);
        Ok(())
    }
}

/// The sessions handed out for a correct PIN: random tokens, least recently used dropped.
#[derive(Debug, Default)]
pub struct Sessions {
    /// token -> last use
    tokens: HashMap<String, Instant>,
}

impl Sessions {
    /// A new session token (32 hex digits from the kernel's random source).
    pub fn create(&mut self, now: Instant) -> String {
        if self.tokens.len() >= MAX_SESSIONS {
            if let Some(oldest) = self
                .tokens
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(k, _)| k.clone())
            {
                self.tokens.remove(&oldest);
            }
        }
        let token = random_token();
        self.tokens.insert(token.clone(), now);
        token
    }

    /// Whether `token` is a live session; refreshes its last use.
    pub fn check(&mut self, token: &str, now: Instant) -> bool {
        match self.tokens.get_mut(token) {
            Some(t) => {
                *t = now;
                true
            }
            None => false,
        }
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 16];
    // getrandom(2) from the kernel pool; it only fails before the pool is seeded at early
    // boot, and then the fallback mixes the clock and a counter: still unguessable enough
    // for a LAN session, and never a panic.
    // SAFETY: the buffer is valid for `bytes.len()` bytes.
    let got = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if got != bytes.len() as isize {
        use std::hash::{BuildHasher, Hasher};
        let s = std::collections::hash_map::RandomState::new();
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            let mut h = s.build_hasher();
            h.write_u128(std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.as_nanos()));
            h.write_usize(i);
            chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie_value<'a>(cookie_header: &'a str, name: &str) -> Option<&'a str> {
    cookie_header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k.trim() == name).then(|| v.trim())
    })
}

/// The `Set-Cookie` value for a new session.
pub fn session_cookie(token: &str) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; Max-Age={SESSION_MAX_AGE_S}; HttpOnly; SameSite=Strict"
    )
}

/// Whether an `Accept-Encoding` header accepts gzip (a `gzip` token without `q=0`).
pub fn accepts_gzip(accept_encoding: &str) -> bool {
    accept_encoding.split(',').any(|item| {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        if !(coding.eq_ignore_ascii_case("gzip") || coding == "*") {
            return false;
        }
        !parts.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn origin_must_be_the_host_the_browser_used() {
        assert_eq!(
            check_origin(Some("http://10.0.0.5:8080"), Some("10.0.0.5:8080"), None),
            Ok(())
        );
        assert_eq!(
            check_origin(Some("http://Box.local"), Some("box.local"), None),
            Ok(())
        );
        assert_eq!(
            check_origin(
                Some("http://evil.example"),
                Some("10.0.0.5:8080"),
                Some("1")
            ),
            Err(OriginProblem::Foreign),
            "the page header does not excuse a foreign Origin"
        );
        assert_eq!(
            check_origin(Some("null"), Some("10.0.0.5"), None),
            Err(OriginProblem::Foreign)
        );
        assert_eq!(
            check_origin(Some("http://10.0.0.5:8080"), Some("10.0.0.5:80"), None),
            Err(OriginProblem::Foreign)
        );
        assert_eq!(
            check_origin(Some("http://10.0.0.5"), None, None),
            Err(OriginProblem::NoHost)
        );
        assert_eq!(check_origin(None, Some("x"), Some("1")), Ok(()));
        assert_eq!(check_origin(None, None, Some(" 1 ")), Ok(()));
        assert_eq!(
            check_origin(None, Some("x"), Some("0")),
            Err(OriginProblem::Unmarked)
        );
        assert_eq!(
            check_origin(None, Some("x"), None),
            Err(OriginProblem::Unmarked)
        );
    }

    #[test]
    fn only_names_a_remote_site_cannot_borrow_are_served() {
        let extra = vec!["box.band.example".to_string()];
        for host in [
            "192.168.1.20",
            "192.168.1.20:8080",
            "[fe80::1]:80",
            "[::1]",
            "stembox",
            "stembox:80",
            "stembox.local",
            "StemBox.Local.",
            "box.lan:8080",
            "box.home.arpa",
            "localhost:8080",
            "box.band.example",
            "BOX.band.example:80",
        ] {
            assert!(host_allowed(host, &extra), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8080",
            "192.168.1.20.evil.example",
            "local.evil.example",
            "box.band.example.evil",
            "[not-an-ip]:80",
            "",
            ":80",
        ] {
            assert!(!host_allowed(host, &extra), "{host}");
        }
    }

    #[test]
    fn lock_refuses_mixer_and_practice_lines_only() {
        for line in [
            "mute drums",
            "MUTE drums",
            "unmute bass",
            "toggle keys",
            "solo vox",
            "unsolo",
            "gain drums -3",
            "pan drums -0.5",
            "bus cue -6",
            "volume up",
            "volume -3",
            "speed 80",
            "pitch -2",
            "click on",
            "countin",
            "mix master",
            "loop ramp 70 5 100",
            "  Loop   RAMP 70 5",
        ] {
            assert_eq!(line_kind(line), LineKind::Mix, "{line}");
        }
        for line in [
            "play",
            "pause",
            "stop",
            "next",
            "prev",
            "song 3",
            "section chorus",
            "seek 12.5",
            "loop 10 20",
            "loop on",
            "loop off",
            "setlist move 1 3",
            "status",
            "",
            "nonsense words",
        ] {
            assert_eq!(line_kind(line), LineKind::Show, "{line}");
        }
        assert_eq!(line_kind("quit"), LineKind::Forbidden);
        assert_eq!(line_kind("QUIT now"), LineKind::Forbidden);
    }

    #[test]
    fn pin_compare_is_exact() {
        assert!(pin_matches("1234", "1234"));
        assert!(
            pin_matches("1234", "1234\n"),
            "a trailing newline from curl is fine"
        );
        assert!(!pin_matches("1234", "123"));
        assert!(!pin_matches("1234", "12345"));
        assert!(!pin_matches("1234", "1235"));
        assert!(!pin_matches("1234", ""));
    }

    #[test]
    fn pin_limiter_allows_five_a_minute_per_address() {
        let mut l = PinLimiter::default();
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3));
        let t0 = Instant::now();
        for i in 0..5 {
            assert_eq!(l.attempt(a, t0 + Duration::from_secs(i)), Ok(()));
        }
        let wait = l.attempt(a, t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        assert_eq!(
            l.attempt(b, t0 + Duration::from_secs(10)),
            Ok(()),
            "per address"
        );
        // refused attempts are not counted: the first slot frees at t0 + 60 s
        assert!(l.attempt(a, t0 + Duration::from_secs(59)).is_err());
        assert_eq!(l.attempt(a, t0 + Duration::from_secs(60)), Ok(()));
        assert!(l.attempt(a, t0 + Duration::from_secs(60)).is_err());
    }

    #[test]
    fn pin_limiter_memory_is_bounded() {
        let mut l = PinLimiter::default();
        let t0 = Instant::now();
        for i in 0..(PIN_LIMITER_ADDRESSES as u32 + 100) {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            l.attempt(ip, t0).unwrap();
        }
        assert_eq!(l.attempts.len(), PIN_LIMITER_ADDRESSES);
        assert_eq!(l.order.len(), PIN_LIMITER_ADDRESSES);
    }

    #[test]
    fn sessions_are_random_bounded_and_checked() {
        let mut s = Sessions::default();
        let t0 = Instant::now();
        let a = s.create(t0);
        let b = s.create(t0);
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(s.check(&a, t0));
        assert!(!s.check("0123", t0));
        for i in 0..MAX_SESSIONS {
            s.create(t0 + Duration::from_millis(i as u64 + 1));
        }
        assert_eq!(s.tokens.len(), MAX_SESSIONS);
    }

    #[test]
    fn cookies_and_encodings() {
        let h = "theme=dark; stembox_session=abc123 ; other=1";
        assert_eq!(cookie_value(h, SESSION_COOKIE), Some("abc123"));
        assert_eq!(cookie_value("x=1", SESSION_COOKIE), None);
        assert_eq!(cookie_value("garbage", SESSION_COOKIE), None);
        assert!(session_cookie("t").contains("HttpOnly; SameSite=Strict"));
        assert!(accepts_gzip("gzip, deflate, br"));
        assert!(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("deflate, br"));
        assert!(!accepts_gzip(""));
    }
}
