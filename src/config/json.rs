//! A strict JSON scanner that checks a config document before serde-json-core reads it.
//!
//! serde-json-core reports neither where an error is nor which key it concerns, so the
//! document is walked twice here first: pass 1 checks the JSON syntax alone (RFC 8259, plus
//! the one thing serde-json-core cannot decode: `\u` surrogate pairs) and pass 2 checks every
//! key and value against the table in [`super::schema`]: known key, no duplicate, right kind,
//! enum name, whole number within the Rust type, string and array within the heapless
//! capacity, required keys present. A document that passes both is one serde-json-core
//! accepts; each failure is a [`Problem`] with the byte offset it concerns.
//!
//! Nothing is allocated on the way through a good document except the fixed path stack;
//! messages are built only when something is wrong. Nesting is limited to [`MAX_DEPTH`], so
//! the recursion is bounded whatever the input.

use super::schema::{Key, Kind, ROOT};
use core::fmt;

/// Deepest nesting of objects and arrays accepted (the schema itself needs 4).
pub const MAX_DEPTH: usize = 32;

/// Whether a problem is in the JSON itself or in what it says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// Not valid JSON (or not UTF-8): reported with the byte offset.
    Syntax,
    /// Valid JSON that does not fit the config: reported with the key.
    Schema,
}

/// What is wrong with a document and where (`offset` is in bytes from its start).
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub offset: usize,
    pub what: String,
}

/// 1-based line and column (in characters) of a byte offset. A byte-order mark at the start
/// is not counted, as editors do not show it.
pub fn line_col(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    // Count characters, not bytes: skip UTF-8 continuation bytes.
    let mut column = 1 + before[line_start..]
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count();
    if line_start == 0 && before.starts_with("\u{feff}".as_bytes()) {
        column -= 1;
    }
    (line, column)
}

/// Checks a whole document: syntax first, then the schema. `start` skips a byte-order mark.
pub fn check(text: &str, start: usize) -> Result<(), Problem> {
    let mut s = Scanner::new(text, start);
    s.ws();
    s.value(0)?;
    if s.ws().is_some() {
        return Err(s.syntax(
            s.pos,
            format!("{} after the end of the document", s.found(s.pos)),
        ));
    }
    let mut s = Scanner::new(text, start);
    let mut path = Path::default();
    s.walk(&ROOT, &mut path)
}

/// Byte offset of the value at a key path (`audio.rate`, `buttons.map[2].action`) in a
/// document that passed [`check`]; `None` if it is not written there (a default).
pub fn locate(text: &str, start: usize, path: &str) -> Option<usize> {
    let mut s = Scanner::new(text, start);
    for part in path.split('.') {
        let (name, indexes) = part.split_once('[').unwrap_or((part, ""));
        s.enter_key(name)?;
        for index in indexes.split('[').filter(|i| !i.is_empty()) {
            let n: usize = index.trim_end_matches(']').parse().ok()?;
            s.enter_item(n)?;
        }
    }
    s.ws();
    Some(s.pos)
}

/// One step of a key path.
#[derive(Clone, Copy, Debug)]
enum Segment {
    Key(&'static str),
    Index(usize),
}

/// Where pass 2 is in the document: `buttons.map[2].gesture`. Bounded by the schema depth.
#[derive(Default)]
struct Path {
    segments: heapless::Vec<Segment, 8>,
}

impl Path {
    fn push(&mut self, s: Segment) -> Result<(), Problem> {
        self.segments.push(s).map_err(|_| Problem {
            kind: ProblemKind::Schema,
            offset: 0,
            what: "the config schema is nested deeper than the key path allows".into(),
        })
    }

    fn pop(&mut self) {
        self.segments.pop();
    }

    /// `key "audio.rate"`, or `the document` at the top.
    fn subject(&self) -> String {
        if self.segments.is_empty() {
            "the document".into()
        } else {
            format!("key \"{self}\"")
        }
    }

    /// The path with one more key name (possibly an unknown one, so escaped for one line).
    fn join(&self, name: &str) -> String {
        let name: String = name.escape_debug().collect();
        if self.segments.is_empty() {
            name
        } else {
            format!("{self}.{name}")
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.segments.iter().enumerate() {
            match s {
                Segment::Key(k) if i == 0 => f.write_str(k)?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A number as pass 1 found it.
struct Number {
    start: usize,
    end: usize,
    negative: bool,
    /// No fraction and no exponent.
    whole: bool,
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str, start: usize) -> Scanner<'a> {
        Scanner {
            text,
            bytes: text.as_bytes(),
            pos: start,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Skips JSON whitespace and peeks at what follows.
    fn ws(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
        self.peek()
    }

    fn syntax(&self, offset: usize, what: impl Into<String>) -> Problem {
        Problem {
            kind: ProblemKind::Syntax,
            offset,
            what: what.into(),
        }
    }

    /// The character at `at`, for "found ..." in a message.
    fn found(&self, at: usize) -> String {
        match self.bytes.get(at) {
            None => "the end of the file".into(),
            Some(b'\n' | b'\r') => "a line break".into(),
            Some(&c) if c < 0x20 || c == 0x7f => format!("control character 0x{c:02x}"),
            Some(_) => match self.text.get(at..).and_then(|t| t.chars().next()) {
                Some('\'') => "'\\''".into(),
                Some('"') => "'\"'".into(),
                Some(c) => format!("'{}'", c.escape_debug()),
                None => "the end of the file".into(),
            },
        }
    }

    /// A bare word at `at` (letters, digits, `_`, `+`, `-`, `.`), at most 24 characters.
    fn word(&self, at: usize) -> &'a str {
        let rest = &self.bytes[at.min(self.bytes.len())..];
        let n = rest
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'))
            .count();
        &self.text[at..at + n.min(24)]
    }

    // ---- locating a key in a valid document ------------------------------------------------

    /// Moves from an object to the value of its key `name`.
    fn enter_key(&mut self, name: &str) -> Option<()> {
        if self.ws() != Some(b'{') {
            return None;
        }
        self.pos += 1;
        loop {
            match self.ws() {
                Some(b'"') => {}
                Some(b',') => {
                    self.pos += 1;
                    self.ws();
                }
                _ => return None,
            }
            let (a, b) = self.string().ok()?;
            self.ws();
            self.pos += 1; // the colon
            self.ws();
            if unescaped_eq(&self.text[a..b], name) {
                return Some(());
            }
            self.value(0).ok()?;
        }
    }

    /// Moves from an array to its item `n`.
    fn enter_item(&mut self, n: usize) -> Option<()> {
        if self.ws() != Some(b'[') {
            return None;
        }
        self.pos += 1;
        for _ in 0..n {
            match self.ws() {
                Some(b']') | None => return None,
                _ => self.value(0).ok()?,
            }
            if self.ws() != Some(b',') {
                return None;
            }
            self.pos += 1;
        }
        match self.ws() {
            Some(b']') | None => None,
            _ => Some(()),
        }
    }

    // ---- pass 1: syntax -------------------------------------------------------------------

    /// Checks one value of any kind and moves past it.
    fn value(&mut self, depth: usize) -> Result<(), Problem> {
        let at = self.pos;
        match self.peek() {
            None => Err(self.syntax(at, "the file ends where a value should be")),
            Some(b'{') => self.container(depth, b'}'),
            Some(b'[') => self.container(depth, b']'),
            Some(b'"') => self.string().map(|_| ()),
            Some(b'-' | b'0'..=b'9') => self.number().map(|_| ()),
            Some(_) => {
                let word = self.word(at);
                if matches!(word, "true" | "false" | "null") {
                    self.pos += word.len();
                    return Ok(());
                }
                let hint = match word {
                    "" => match self.peek() {
                        Some(b'\'') => " (JSON strings need double quotes)",
                        Some(b'/' | b'#') => " (JSON has no comments)",
                        _ => "",
                    },
                    "True" | "False" | "TRUE" | "FALSE" | "Null" | "NULL" | "None" => {
                        " (JSON writes true, false and null in lower case)"
                    }
                    "NaN" | "Infinity" | "inf" | "nan" => " (JSON has no NaN or Infinity)",
                    w if w.starts_with('.') || w.starts_with('+') => {
                        " (a JSON number starts with a digit or '-')"
                    }
                    _ => " (strings need double quotes)",
                };
                let found = if word.is_empty() {
                    self.found(at)
                } else {
                    format!("'{word}'")
                };
                Err(self.syntax(at, format!("expected a value, found {found}{hint}")))
            }
        }
    }

    /// An object or array, from its opening bracket.
    fn container(&mut self, depth: usize, close: u8) -> Result<(), Problem> {
        let open = self.pos;
        let is_object = close == b'}';
        if depth >= MAX_DEPTH {
            return Err(self.syntax(open, format!("nested deeper than {MAX_DEPTH} levels")));
        }
        self.pos += 1;
        if self.ws() == Some(close) {
            self.pos += 1;
            return Ok(());
        }
        loop {
            if is_object {
                match self.peek() {
                    Some(b'"') => {
                        self.string()?;
                    }
                    None => return Err(self.never_closed(open)),
                    Some(_) => {
                        let at = self.pos;
                        let word = self.word(at);
                        let found = if word.is_empty() {
                            self.found(at)
                        } else {
                            format!("'{word}'")
                        };
                        return Err(self.syntax(
                            at,
                            format!("expected a key in double quotes, found {found}"),
                        ));
                    }
                }
                match self.ws() {
                    Some(b':') => self.pos += 1,
                    None => return Err(self.never_closed(open)),
                    Some(_) => {
                        return Err(self.syntax(
                            self.pos,
                            format!("expected ':' after the key, found {}", self.found(self.pos)),
                        ))
                    }
                }
                self.ws();
            }
            self.value(depth + 1)?;
            match self.ws() {
                Some(b',') => {
                    let comma = self.pos;
                    self.pos += 1;
                    match self.ws() {
                        Some(c) if c == close => {
                            return Err(self.syntax(
                                comma,
                                format!("trailing comma before '{}'", close as char),
                            ))
                        }
                        None => return Err(self.never_closed(open)),
                        _ => {}
                    }
                }
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(());
                }
                None => return Err(self.never_closed(open)),
                Some(_) => {
                    let hint = if is_object && self.peek() == Some(b'"') {
                        " (missing ',' between two keys?)"
                    } else {
                        ""
                    };
                    return Err(self.syntax(
                        self.pos,
                        format!(
                            "expected ',' or '{}' after a value, found {}{hint}",
                            close as char,
                            self.found(self.pos)
                        ),
                    ));
                }
            }
        }
    }

    fn never_closed(&self, open: usize) -> Problem {
        let bracket = if self.bytes.get(open) == Some(&b'{') {
            '{'
        } else {
            '['
        };
        self.syntax(
            open,
            format!("this '{bracket}' is never closed: the file ends first"),
        )
    }

    /// A string from its opening quote; returns the byte range of its raw (escaped) content.
    fn string(&mut self) -> Result<(usize, usize), Problem> {
        let open = self.pos;
        self.pos += 1;
        loop {
            match self.peek() {
                None => {
                    return Err(self.syntax(open, "this string is never closed: the file ends first"))
                }
                Some(b'"') => {
                    self.pos += 1;
                    return Ok((open + 1, self.pos - 1));
                }
                Some(b'\n' | b'\r') => {
                    return Err(self.syntax(
                        open,
                        "this string is not closed before the end of the line",
                    ))
                }
                Some(c) if c < 0x20 => {
                    return Err(self.syntax(
                        self.pos,
                        format!(
                            "control character 0x{c:02x} in a string (write it as an escape such as \\t)"
                        ),
                    ))
                }
                Some(b'\\') => {
                    let esc = self.pos;
                    self.pos += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.pos += 1
                        }
                        Some(b'u') => {
                            let hex = self
                                .text
                                .get(self.pos + 1..self.pos + 5)
                                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                                .and_then(|h| u32::from_str_radix(h, 16).ok());
                            match hex {
                                None => {
                                    return Err(self.syntax(
                                        esc,
                                        "bad escape: \\u must be followed by four hex digits",
                                    ))
                                }
                                Some(u @ 0xD800..=0xDFFF) => {
                                    return Err(self.syntax(
                                        esc,
                                        format!(
                                            "\\u{u:04X} is half of a UTF-16 surrogate pair, which the config reader cannot decode; write the character itself"
                                        ),
                                    ))
                                }
                                Some(_) => self.pos += 5,
                            }
                        }
                        None => {
                            return Err(
                                self.syntax(open, "this string is never closed: the file ends first")
                            )
                        }
                        Some(_) => {
                            return Err(self.syntax(
                                esc,
                                format!(
                                    "invalid escape '\\{}' in a string (a backslash is written \\\\)",
                                    self.found(self.pos).trim_matches('\'')
                                ),
                            ))
                        }
                    }
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    /// A number, by the JSON grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Result<Number, Problem> {
        let start = self.pos;
        let bad =
            |s: &Self, why: &str| s.syntax(start, format!("bad number '{}': {why}", s.word(start)));
        let digits = |s: &mut Self| {
            let from = s.pos;
            while let Some(b'0'..=b'9') = s.peek() {
                s.pos += 1;
            }
            s.pos - from
        };
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(bad(self, "leading zeros are not allowed"));
                }
            }
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(bad(self, "a digit must follow '-'")),
        }
        let mut whole = true;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            whole = false;
            if digits(self) == 0 {
                return Err(bad(self, "a digit must follow '.'"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            whole = false;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(bad(self, "the exponent has no digits"));
            }
        }
        if let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' {
                let why = if self.word(start).starts_with("0x") {
                    "write numbers in decimal"
                } else {
                    "not a JSON number"
                };
                return Err(bad(self, why));
            }
        }
        Ok(Number {
            start,
            end: self.pos,
            negative,
            whole,
        })
    }

    // ---- pass 2: schema (the document is known to be valid JSON) ---------------------------

    fn schema(&self, offset: usize, what: String) -> Problem {
        Problem {
            kind: ProblemKind::Schema,
            offset,
            what,
        }
    }

    /// What the value at `at` is, for "found ..." in a type error.
    fn found_kind(&self, at: usize) -> &'static str {
        match self.bytes.get(at) {
            Some(b'"') => "a string",
            Some(b'{') => "an object",
            Some(b'[') => "an array",
            Some(b't') => "true",
            Some(b'f') => "false",
            Some(b'n') => "null",
            _ => "a number",
        }
    }

    fn wrong_kind(&self, path: &Path, kind: &Kind, at: usize) -> Problem {
        let expected = match kind {
            Kind::Enum(names) => format!("one of {}", names.join(", ")),
            other => other.expected().into(),
        };
        self.schema(
            at,
            format!(
                "{}: expected {expected}, found {}",
                path.subject(),
                self.found_kind(at)
            ),
        )
    }

    /// Checks the value at the current position against `kind` and moves past it.
    fn walk(&mut self, kind: &'static Kind, path: &mut Path) -> Result<(), Problem> {
        let first = self.ws();
        let at = self.pos;
        match kind {
            Kind::Object(keys) => {
                if first != Some(b'{') {
                    return Err(self.wrong_kind(path, kind, at));
                }
                self.object(keys, path)
            }
            Kind::Array { max_items, item } => {
                if first != Some(b'[') {
                    return Err(self.wrong_kind(path, kind, at));
                }
                self.pos += 1;
                let mut n = 0;
                loop {
                    match self.ws() {
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(());
                        }
                        Some(b',') => {
                            self.pos += 1;
                            self.ws();
                        }
                        _ => {}
                    }
                    if n == *max_items {
                        return Err(self.schema(
                            self.pos,
                            format!(
                                "{}: more than {max_items} items (this is item [{n}])",
                                path.subject()
                            ),
                        ));
                    }
                    path.push(Segment::Index(n))?;
                    self.walk(item, path)?;
                    path.pop();
                    n += 1;
                }
            }
            Kind::Str(max) => {
                if first != Some(b'"') {
                    return Err(self.wrong_kind(path, kind, at));
                }
                let (a, b) = self.string()?;
                let len: usize = unescaped(&self.text[a..b]).map(char::len_utf8).sum();
                if len > *max {
                    return Err(self.schema(
                        at,
                        format!(
                            "{}: the string is {len} bytes long, the limit is {max}",
                            path.subject()
                        ),
                    ));
                }
                Ok(())
            }
            Kind::Enum(names) => {
                if first != Some(b'"') {
                    return Err(self.wrong_kind(path, kind, at));
                }
                let (a, b) = self.string()?;
                let raw = &self.text[a..b];
                if names.iter().any(|n| unescaped_eq(raw, n)) {
                    return Ok(());
                }
                let value: String = unescaped(raw).take(40).collect();
                let hint = if names.iter().any(|n| n.eq_ignore_ascii_case(&value)) {
                    " (the names are case-sensitive)"
                } else {
                    ""
                };
                Err(self.schema(
                    at,
                    format!(
                        "{}: expected one of {}, found {value:?}{hint}",
                        path.subject(),
                        names.join(", ")
                    ),
                ))
            }
            Kind::Bool => match first {
                Some(b't' | b'f') => self.value(0),
                _ => Err(self.wrong_kind(path, kind, at)),
            },
            Kind::U32 | Kind::I32 | Kind::F32 => {
                if !matches!(first, Some(b'-' | b'0'..=b'9')) {
                    return Err(self.wrong_kind(path, kind, at));
                }
                let n = self.number()?;
                self.check_number(&n, kind, path)
            }
        }
    }

    fn object(&mut self, keys: &'static [Key], path: &mut Path) -> Result<(), Problem> {
        let open = self.pos;
        self.pos += 1;
        // Which keys were seen, for duplicates and required keys; the schema test keeps every
        // object below 64 keys.
        let mut seen = 0u64;
        loop {
            match self.ws() {
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                Some(b',') => {
                    self.pos += 1;
                    self.ws();
                }
                _ => {}
            }
            let key_at = self.pos;
            let (a, b) = self.string()?;
            let raw = &self.text[a..b];
            let Some(i) = keys.iter().position(|k| unescaped_eq(raw, k.name)) else {
                let name: String = unescaped(raw).take(64).collect();
                return Err(self.schema(key_at, unknown_key(path, keys, &name)));
            };
            let bit = 1u64 << i;
            if seen & bit != 0 {
                return Err(self.schema(
                    key_at,
                    format!(
                        "key \"{}\" is given twice (here again)",
                        path.join(keys[i].name)
                    ),
                ));
            }
            seen |= bit;
            self.ws();
            self.pos += 1; // the colon
            path.push(Segment::Key(keys[i].name))?;
            self.walk(&keys[i].kind, path)?;
            path.pop();
        }
        for (i, k) in keys.iter().enumerate() {
            if k.default.is_none() && seen & (1u64 << i) == 0 {
                let required: Vec<&str> = keys
                    .iter()
                    .filter(|k| k.default.is_none())
                    .map(|k| k.name)
                    .collect();
                return Err(self.schema(
                    open,
                    format!(
                        "{}: \"{}\" is missing (required: {})",
                        path.subject(),
                        k.name,
                        required.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check_number(&self, n: &Number, kind: &Kind, path: &Path) -> Result<(), Problem> {
        let token = &self.text[n.start..n.end];
        let fail = |why: String| Err(self.schema(n.start, format!("{}: {why}", path.subject())));
        if let Kind::F32 = kind {
            return match token.parse::<f32>() {
                Ok(v) if v.is_finite() => Ok(()),
                _ => fail(format!("{token} is too large for a 32-bit number")),
            };
        }
        if !n.whole {
            return fail(format!("expected a whole number, found {token}"));
        }
        // Magnitude, saturating: anything beyond u64 is too large for either type anyway.
        let magnitude = token.bytes().filter(u8::is_ascii_digit).fold(0u64, |m, d| {
            m.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        });
        match kind {
            Kind::U32 if n.negative => fail(format!("expected a whole number >= 0, found {token}")),
            Kind::U32 if magnitude > u64::from(u32::MAX) => fail(format!(
                "{token} is too large (the largest allowed is {})",
                u32::MAX
            )),
            Kind::I32 if n.negative && magnitude > 1u64 << 31 => fail(format!(
                "{token} is too small (the smallest allowed is {})",
                i32::MIN
            )),
            Kind::I32 if !n.negative && magnitude > i32::MAX as u64 => fail(format!(
                "{token} is too large (the largest allowed is {})",
                i32::MAX
            )),
            _ => Ok(()),
        }
    }
}

/// The message for an unknown key, with the likeliest intended key.
fn unknown_key(path: &Path, keys: &'static [Key], name: &str) -> String {
    let full = path.join(name);
    let lower = name.to_ascii_lowercase();
    // A near miss at this level, e.g. "rat" for "rate" or "Rate".
    let near = keys
        .iter()
        .map(|k| (edit_distance(&lower, k.name), k.name))
        .min()
        .filter(|&(d, known)| d <= if known.len() < 5 { 1 } else { 2 });
    if let Some((_, known)) = near {
        return format!(
            "unknown key \"{full}\" (did you mean \"{}\"?)",
            path.join(known)
        );
    }
    // The right name at the wrong level, e.g. "rate" at the top instead of in "audio".
    if let Some(elsewhere) = super::schema::leaf_keys()
        .into_iter()
        .map(|(p, _)| p)
        .find(|p| p.rsplit('.').next() == Some(lower.as_str()))
    {
        return format!("unknown key \"{full}\" (did you mean \"{elsewhere}\"?)");
    }
    let known: Vec<&str> = keys.iter().map(|k| k.name).collect();
    let here = if path.segments.is_empty() {
        "at the top level"
    } else {
        "here"
    };
    format!(
        "unknown key \"{full}\" (known keys {here}: {})",
        known.join(", ")
    )
}

/// Levenshtein distance over bytes (key names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The characters of a string's raw content that passed pass 1, with escapes decoded.
fn unescaped(raw: &str) -> impl Iterator<Item = char> + '_ {
    let mut chars = raw.chars();
    core::iter::from_fn(move || {
        let c = chars.next()?;
        if c != '\\' {
            return Some(c);
        }
        Some(match chars.next()? {
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                let code = (0..4).fold(0u32, |acc, _| {
                    acc * 16 + chars.next().and_then(|h| h.to_digit(16)).unwrap_or(0)
                });
                char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
            }
            other => other,
        })
    })
}

/// Whether a raw string content decodes to exactly `name`.
fn unescaped_eq(raw: &str, name: &str) -> bool {
    if !raw.contains('\\') {
        return raw == name;
    }
    unescaped(raw).eq(name.chars())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syntax_at(doc: &str) -> (usize, String) {
        match check(doc, 0) {
            Err(Problem {
                kind: ProblemKind::Syntax,
                offset,
                what,
            }) => (offset, what),
            other => panic!("{doc:?}: expected a syntax problem, got {other:?}"),
        }
    }

    #[test]
    fn syntax_problems_point_at_the_culprit() {
        let cases: &[(&str, usize, &str)] = &[
            (r#"{"a": 1,}"#, 7, "trailing comma before '}'"),
            (r#"{"audio": [1, 2,]}"#, 15, "trailing comma before ']'"),
            (r#"{"a" 1}"#, 5, "expected ':' after the key, found '1'"),
            (r#"{"a": 1 "b": 2}"#, 8, "missing ',' between two keys"),
            (r#"{"a": 01}"#, 6, "bad number '01': leading zeros"),
            (r#"{"a": -}"#, 6, "a digit must follow '-'"),
            (r#"{"a": 1.}"#, 6, "a digit must follow '.'"),
            (r#"{"a": 1e}"#, 6, "the exponent has no digits"),
            (r#"{"a": 0x10}"#, 6, "write numbers in decimal"),
            (r#"{"a": .5}"#, 6, "starts with a digit"),
            (r#"{"a": "b}"#, 6, "never closed"),
            (
                "{\"a\": \"b\n\"}",
                6,
                "not closed before the end of the line",
            ),
            ("{\"a\": \"b\tc\"}", 8, "control character 0x09"),
            (r#"{"a": "\q"}"#, 7, "invalid escape '\\q'"),
            (r#"{"a": "\u12"}"#, 7, "four hex digits"),
            (r#"{"a": "\ud83d\ude00"}"#, 7, "surrogate pair"),
            (r#"{"a": 1} x"#, 9, "'x' after the end of the document"),
            (r#"{"a": 1}}"#, 8, "'}' after the end of the document"),
            (r#"{"a": True}"#, 6, "lower case"),
            (r#"{"a": NaN}"#, 6, "no NaN"),
            (r#"{"a": 'b'}"#, 6, "double quotes"),
            (r#"{a: 1}"#, 1, "expected a key in double quotes, found 'a'"),
            ("{\"a\": 1 // note\n}", 8, "expected ',' or '}'"),
            ("// note\n{}", 0, "no comments"),
            (r#"{"a": [1, 2"#, 6, "this '[' is never closed"),
            (r#"{"a": "#, 6, "the file ends where a value should be"),
            (r#"{"#, 0, "this '{' is never closed"),
            (
                r#"[1 2]"#,
                3,
                "expected ',' or ']' after a value, found '2'",
            ),
        ];
        for &(doc, offset, what) in cases {
            let (o, w) = syntax_at(doc);
            assert!(w.contains(what), "{doc:?}: {w:?} lacks {what:?}");
            assert_eq!(o, offset, "{doc:?}: {w}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(
            syntax_at(&format!("{{\"x\": {ok}}}")).1,
            "nested deeper than 32 levels"
        );
        let deep = "[".repeat(100_000);
        let (offset, what) = syntax_at(&deep);
        assert_eq!(
            (offset, what.as_str()),
            (MAX_DEPTH, "nested deeper than 32 levels")
        );
        // At the limit it is valid JSON (and then a schema problem: not an object).
        assert_eq!(check(&ok, 0).unwrap_err().kind, ProblemKind::Schema);
    }

    #[test]
    fn line_and_column_count_characters() {
        let doc = "{\n  \"é\": 1,\n  \"x\"";
        assert_eq!(line_col(doc.as_bytes(), 0), (1, 1));
        assert_eq!(line_col(doc.as_bytes(), 2), (2, 1));
        let x = doc.find("\"x\"").unwrap();
        assert_eq!(line_col(doc.as_bytes(), x), (3, 3));
        let one = doc.find('1').unwrap();
        assert_eq!(line_col(doc.as_bytes(), one), (2, 8));
        let bom = "\u{feff}{}";
        assert_eq!(line_col(bom.as_bytes(), 3), (1, 1));
    }

    #[test]
    fn escapes_decode_for_key_matching() {
        assert!(unescaped_eq(r"r\u0061te", "rate"));
        assert!(unescaped_eq(r"a\/b", "a/b"));
        assert!(!unescaped_eq(r"rat\u0065x", "rate"));
        assert_eq!(unescaped(r"\u00e9\n").collect::<String>(), "é\n");
        assert_eq!(check(r#"{"audio": {"r\u0061te": 44100}}"#, 0), Ok(()));
    }

    #[test]
    fn locate_finds_written_keys_only() {
        let doc = r#"{"rt": {"cpu": 1}, "audio": {"device": "x", "rate": 9}}"#;
        assert_eq!(locate(doc, 0, "audio.rate"), doc.find('9'));
        assert_eq!(locate(doc, 0, "audio"), doc.find("{\"device"));
        assert_eq!(locate(doc, 0, "audio.periods"), None);
        assert_eq!(locate(doc, 0, "memory.budget_mb"), None);
        let doc = r#"{"buttons": {"map": [{"key": "A"}, {"key": "B", "action": "x"}]}}"#;
        assert_eq!(locate(doc, 0, "buttons.map[1].action"), doc.find("\"x\""));
        assert_eq!(locate(doc, 0, "buttons.map[0].key"), doc.find("\"A\""));
        assert_eq!(locate(doc, 0, "buttons.map[0].action"), None);
        assert_eq!(locate(doc, 0, "buttons.map[2].key"), None);
        assert_eq!(locate(doc, 0, "buttons.map"), doc.find('['));
    }

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("rat", "rate"), 1);
        assert_eq!(edit_distance("perod_frames", "period_frames"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn every_schema_object_fits_the_seen_mask() {
        fn walk(kind: &Kind) {
            match kind {
                Kind::Object(keys) => {
                    assert!(keys.len() <= 64);
                    keys.iter().for_each(|k| walk(&k.kind));
                }
                Kind::Array { item, .. } => walk(item),
                _ => {}
            }
        }
        walk(&ROOT);
    }
}
