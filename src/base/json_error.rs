//! Why a JSON document (the config, `song.json`, `setlist.json`, `state.json`) was refused,
//! in one line that names the key and where it is: the one explainer every reader shares.
//!
//! serde-json-core reads a good config without allocating, but its errors say neither
//! where nor which key. So only when that parse fails is the same text read again, by
//! `serde_json` through `serde_path_to_error` into the same types: serde_json knows the
//! line and column, serde_path_to_error the key path (`buttons.map[0].action`), and
//! [`locate`] finds where that key's value starts, so the message points at the value the
//! user has to change rather than wherever the parser happened to stop. Nothing here is on
//! the good path.

use serde::de::IgnoredAny;
use serde_path_to_error::Segment;

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

/// Byte offset of a 1-based line and column (in characters) as serde_json counts them.
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let rest = &text[line_start.min(text.len())..];
    rest.char_indices()
        .nth(column.saturating_sub(1))
        .map_or(text.len(), |(i, _)| line_start + i)
}

/// ` at line L, column C` for a byte offset.
pub fn position(bytes: &[u8], offset: usize) -> String {
    let (line, column) = line_col(bytes, offset);
    format!(" at line {line}, column {column}")
}

/// serde_json's message without its own ` at line L column C` suffix.
fn bare_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    full.strip_suffix(&suffix).unwrap_or(&full).to_string()
}

/// The message for a document serde-json-core refused with `e`: the syntax first (so a bad
/// key early does not hide broken JSON later), then what does not fit the config.
pub fn refused<T: serde::de::DeserializeOwned>(
    leaves: &[String],
    text: &str,
    start: usize,
    e: serde_json_core::de::Error,
) -> String {
    if let Err(message) = syntax(text, start) {
        return message;
    }
    decode_problem::<T>(text, start, leaves).unwrap_or_else(|| match e {
        // Valid JSON that serde-json-core alone cannot decode.
        serde_json_core::de::Error::InvalidEscapeSequence => "malformed JSON: a \\u escape above U+FFFF (a surrogate pair) is not supported; write the character itself".into(),
        e => format!("the JSON cannot be read into the config: {e}"),
    })
}

/// Checks the JSON syntax alone (RFC 8259, nesting at most 128 deep). `start` skips a byte-order mark. The error is the whole message.
pub fn syntax(text: &str, start: usize) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_str(&text[start..]);
    let result = serde::de::Deserialize::deserialize(&mut de).and_then(|IgnoredAny| de.end());
    result.map_err(|e| {
        // serde_json points at the last character it read (column 0: before the line).
        let at = start + offset_of(&text[start..], e.line(), e.column().max(1));
        let at = if e.column() == 0 {
            at.saturating_sub(1)
        } else {
            at
        };
        // serde_json says "key must be a string" or "expected value" after a trailing comma.
        let before = text[start..at].trim_end_matches([' ', '\t', '\n', '\r']);
        let closing = text[at..].chars().next().filter(|c| matches!(c, '}' | ']'));
        let (at, what) = match closing {
            _ if e.classify() == serde_json::error::Category::Eof => match unclosed(text, start) {
                Some((open, what)) => (
                    open,
                    format!("this {what} is never closed: the file ends first"),
                ),
                None => (at, bare_message(&e)),
            },
            Some(c) if before.ends_with(',') => (
                start + before.len() - 1,
                format!("trailing comma before '{c}'"),
            ),
            _ => match bare_message(&e) {
                m if m == "invalid number" || m == "number out of range" => {
                    let num = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.');
                    let from = text[..at].trim_end_matches(num).len().max(start);
                    let token = &text
                        [from..from + text[from..].find(|c| !num(c)).unwrap_or(text.len() - from)];
                    let hint = match token.trim_start_matches('-').as_bytes() {
                        [b'0', b'0'..=b'9', ..] => ": leading zeros are not allowed",
                        [b'0', b'x' | b'X', ..] => ": write numbers in decimal",
                        _ => "",
                    };
                    (from, format!("bad number '{token}'{hint}"))
                }
                m if m == "key must be a string" => {
                    let hint = if text[at..].starts_with(['/', '#']) {
                        " (JSON has no comments)"
                    } else {
                        ""
                    };
                    (
                        at,
                        format!(
                            "expected a key in double quotes, found {}{hint}",
                            found_at(text, at)
                        ),
                    )
                }
                m if m == "recursion limit exceeded" => {
                    (at, "nested deeper than 128 levels".into())
                }
                m if m == "trailing characters" => (
                    at,
                    format!("{} after the end of the document", found_at(text, at)),
                ),
                m if m.starts_with("expected") => {
                    let hint = if m == "expected `,` or `}`" && text[at..].starts_with('"') {
                        " (missing ',' between two keys?)"
                    } else {
                        ""
                    };
                    (at, format!("{m}, found {}{hint}", found_at(text, at)))
                }
                m => (at, m),
            },
        };
        let (line, column) = line_col(text.as_bytes(), at);
        format!("malformed JSON at line {line}, column {column} (byte {at}): {what}")
    })
}

/// Why `text` (which passed [`syntax`]) does not decode into `T`, naming the key path and
/// the line and column of the value at fault. `None` if serde_json decodes it after all.
pub fn decode_problem<T: serde::de::DeserializeOwned>(
    text: &str,
    start: usize,
    leaves: &[String],
) -> Option<String> {
    if let Some(object) = array_for_object(text, start, leaves) {
        let at = locate(text, start, &object).unwrap_or(start);
        return Some(format!(
            "{}: expected an object, found an array{}",
            subject(&object),
            position(text.as_bytes(), at)
        ));
    }
    let mut de = serde_json::Deserializer::from_str(&text[start..]);
    let e = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(_) => return None,
        Err(e) => e,
    };
    let segments: Vec<Segment> = e.path().iter().cloned().collect();
    let inner = e.into_inner();
    let message = bare_message(&inner);
    // serde_json's own position, a fallback when the key is not found in the text.
    let parser_at = start + offset_of(&text[start..], inner.line(), inner.column().max(1));

    if let Some(unknown) = between(&message, "unknown field `", "`") {
        let expected = backquoted(message.split_once("expected").map_or("", |(_, e)| e));
        let parent = &segments[..segments.len().saturating_sub(1)];
        let at = locate_key(text, start, parent, unknown, 1).unwrap_or(parser_at);
        return Some(format!(
            "{}{}",
            unknown_key(parent, unknown, &expected, leaves),
            position(text.as_bytes(), at)
        ));
    }
    if let Some(field) = between(&message, "duplicate field `", "`") {
        let at = locate_key(text, start, &segments, field, 2).unwrap_or(parser_at);
        return Some(format!(
            "key \"{}\" is given twice (here again){}",
            join(&segments, field),
            position(text.as_bytes(), at)
        ));
    }
    if let Some(field) = between(&message, "missing field `", "`") {
        let at = locate(text, start, &segments).unwrap_or(parser_at);
        return Some(format!(
            "{}: \"{field}\" is missing{}",
            subject(&segments),
            position(text.as_bytes(), at)
        ));
    }
    let at = locate(text, start, &segments).unwrap_or(parser_at);
    let why = match message.as_str() {
        // What serde_json says when an enum (a name) is given as another kind of value: ask
        // again with an empty name to learn the names.
        "expected value" => {
            let end = read::<IgnoredAny>(text, at).map_or(at, |(_, end)| end);
            let names = format!("{}\"\"{}", &text[..at], &text[end..]);
            let mut de = serde_json::Deserializer::from_str(&names[start..]);
            let names = match serde_path_to_error::deserialize::<_, T>(&mut de) {
                Err(e) => {
                    let m = bare_message(e.inner());
                    backquoted(m.split_once("expected").map_or("", |(_, e)| e)).join(", ")
                }
                Ok(_) => String::new(),
            };
            format!("expected one of {names}, found {}", kind_at(text, at))
        }
        m if m.starts_with("invalid length ") && m.ends_with("expected a sequence") => {
            // heapless refuses the first item beyond its capacity.
            let n: usize = between(m, "invalid length ", ",")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            let mut item = segments.clone();
            item.push(Segment::Seq { index: n - 1 });
            let at = locate(text, start, &item).unwrap_or(at);
            return Some(format!(
                "{}: more than {} items (this is item [{}]){}",
                subject(&segments),
                n - 1,
                n - 1,
                position(text.as_bytes(), at)
            ));
        }
        _ => {
            let why = reword(&message);
            // Quote a number as written (`1e5`), not as serde re-printed it (`100000.0`).
            match (kind_at(text, at), why.rsplit_once(", found ")) {
                ("a number", Some((head, found))) if found != "a number" => {
                    let end = read::<IgnoredAny>(text, at).map_or(at, |(_, end)| end);
                    format!("{head}, found {}", &text[at..end])
                }
                _ => why,
            }
        }
    };
    Some(format!(
        "{}: {why}{}",
        subject(&segments),
        position(text.as_bytes(), at)
    ))
}

/// Where the string, object or array that is open at the end of the text starts.
fn unclosed(text: &str, start: usize) -> Option<(usize, &'static str)> {
    let mut open: Vec<(usize, &'static str)> = Vec::new();
    let mut string: Option<usize> = None;
    let mut escaped = false;
    for (i, b) in text.bytes().enumerate().skip(start) {
        match (string, b) {
            (Some(_), _) if escaped => escaped = false,
            (Some(_), b'\\') => escaped = true,
            (Some(_), b'"') => string = None,
            (Some(_), _) => {}
            (None, b'"') => string = Some(i),
            (None, b'{') => open.push((i, "'{'")),
            (None, b'[') => open.push((i, "'['")),
            (None, b'}' | b']') => {
                open.pop();
            }
            _ => {}
        }
    }
    string.map(|i| (i, "string")).or(open.pop())
}

/// The character at `at`, for "found ..." in a syntax message.
fn found_at(text: &str, at: usize) -> String {
    match text[at.min(text.len())..].chars().next() {
        None => "the end of the file".into(),
        Some('\n' | '\r') => "a line break".into(),
        Some(c) if c.is_control() => format!("'{}'", c.escape_debug()),
        Some(c) => format!("'{c}'"),
    }
}

/// What kind of JSON value starts at `at`.
fn kind_at(text: &str, at: usize) -> &'static str {
    match text.as_bytes().get(at) {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "true or false",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// The first array in the document where the config has an object (the document itself,
/// a section, a key binding), as a key path.
fn array_for_object(text: &str, start: usize, leaves: &[String]) -> Option<Vec<Segment>> {
    fn walk(
        v: &serde_json::Value,
        path: &mut Vec<Segment>,
        pattern: &str,
        leaves: &[String],
    ) -> bool {
        let is_object_path =
            pattern.is_empty() || leaves.iter().any(|l| l.starts_with(&format!("{pattern}.")));
        match v {
            serde_json::Value::Array(_) if is_object_path => true,
            serde_json::Value::Array(items) => items.iter().enumerate().any(|(index, item)| {
                path.push(Segment::Seq { index });
                let found = walk(item, path, &format!("{pattern}[]"), leaves);
                if !found {
                    path.pop();
                }
                found
            }),
            serde_json::Value::Object(members) if is_object_path => {
                members.iter().any(|(key, item)| {
                    path.push(Segment::Map { key: key.clone() });
                    let sub = if pattern.is_empty() {
                        key.clone()
                    } else {
                        format!("{pattern}.{key}")
                    };
                    let found = walk(item, path, &sub, leaves);
                    if !found {
                        path.pop();
                    }
                    found
                })
            }
            _ => false,
        }
    }
    let value: serde_json::Value = serde_json::from_str(&text[start..]).ok()?;
    let mut path = Vec::new();
    walk(&value, &mut path, "", leaves).then_some(path)
}

/// The text between `open` and the next `close` after it.
fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let rest = &s[s.find(open)? + open.len()..];
    Some(&rest[..rest.find(close)?])
}

/// The names in backquotes, in order: serde's "expected one of `a`, `b`".
fn backquoted(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

/// `audio.rate`, `buttons.map[0].key` (names escaped so the message stays on one line).
pub fn path_text(segments: &[Segment]) -> String {
    let mut out = String::new();
    for s in segments {
        match s {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.extend(key.escape_debug());
            }
            Segment::Unknown => out.push_str(".?"),
        }
    }
    out
}

fn join(segments: &[Segment], name: &str) -> String {
    let parent = path_text(segments);
    let name: String = name.escape_debug().collect();
    if parent.is_empty() {
        name
    } else {
        format!("{parent}.{name}")
    }
}

/// `key "audio.rate"`, or `the document` at the top.
fn subject(segments: &[Segment]) -> String {
    if segments.is_empty() {
        "the document".into()
    } else {
        format!("key \"{}\"", path_text(segments))
    }
}

/// serde's wording in the user's: `invalid type: string "x", expected u32` becomes
/// `expected a whole number >= 0, found a string "x"`.
/// serde's description of a value it did not expect (`string "x"`, ``integer `3` ``,
/// ``floating point `1.5` ``, `map`, `sequence`, `unit value`) as a user writes it: `"x"`,
/// `3`, `1.5`, `an object`, `an array`, `null`. The config's and `song.json`'s messages
/// both say what was found this way.
pub fn found_as_written(unexpected: &str) -> String {
    let u = unexpected.trim();
    match u.split_once(' ') {
        Some(("string", s)) => s.to_string(),
        Some(("integer" | "floating", _)) => between(u, "`", "`").unwrap_or(u).to_string(),
        Some(("boolean", b)) => b.trim_matches('`').to_string(),
        _ => match u {
            "unit value" | "null" => "null".into(),
            "map" => "an object".into(),
            "sequence" => "an array".into(),
            _ => u.to_string(),
        },
    }
}

fn reword(message: &str) -> String {
    fn expected(e: &str) -> String {
        let e = e.trim();
        match e {
            "u32" => format!("a whole number in 0..={}", u32::MAX),
            "i32" => format!("a whole number in {}..={}", i32::MIN, i32::MAX),
            "f32" | "f64" => "a number".into(),
            "a boolean" => "true or false".into(),
            _ if e.starts_with("struct ") || e == "a map" => "an object".into(),
            _ if e.starts_with("a sequence") || e.starts_with("a seq") => "an array".into(),
            _ if e.starts_with("one of ") => backquoted(e).join(", ").replace("``", ""),
            _ => e.to_string(),
        }
    }
    fn found(u: &str) -> String {
        // The config's own strings stay unquoted in its messages: a string is "a string".
        match u.trim().split_once(' ') {
            Some(("string", _)) => "a string".into(),
            _ => found_as_written(u),
        }
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            if let Some((unexpected, exp)) = rest.rsplit_once(", expected ") {
                let mut found = found(unexpected);
                if prefix == "invalid type: "
                    && !exp.ends_with("32")
                    && !found.starts_with(['a', 'n', 't', 'f'])
                {
                    found = "a number".into();
                }
                return format!("expected {}, found {found}", expected(exp));
            }
        }
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        if let Some((value, exp)) = rest.split_once(", expected ") {
            let names = backquoted(exp);
            let value = value.trim_matches('`');
            let hint = if names.iter().any(|n| n.eq_ignore_ascii_case(value)) {
                " (the names are case-sensitive)"
            } else {
                ""
            };
            return format!(
                "expected one of {}, found \"{}\"{hint}",
                names.join(", "),
                value.escape_debug()
            );
        }
    }
    if let Some(rest) = message.strip_prefix("invalid length ") {
        if let Some((n, exp)) = rest.split_once(", expected ") {
            if let Some(limit) = between(exp, "no more than ", " bytes") {
                return format!("the string is {n} bytes long, the limit is {limit}");
            }
            return format!("{n} is too long, expected {exp}");
        }
    }
    message.to_string()
}

/// The message for an unknown key, with the likeliest intended key: a near miss among the
/// struct's own field names, or the same name at another level of the config.
fn unknown_key(parent: &[Segment], name: &str, known: &[&str], leaves: &[String]) -> String {
    let full = join(parent, name);
    let lower = name.to_ascii_lowercase();
    let near = known
        .iter()
        .map(|k| (edit_distance(&lower, k), *k))
        .min()
        .filter(|&(d, k)| d <= if k.len() < 5 { 1 } else { 2 });
    if let Some((_, k)) = near {
        return format!(
            "unknown key \"{full}\" (did you mean \"{}\"?)",
            join(parent, k)
        );
    }
    if let Some(elsewhere) = leaves
        .iter()
        .find(|p| p.rsplit('.').next() == Some(lower.as_str()))
    {
        return format!("unknown key \"{full}\" (did you mean \"{elsewhere}\"?)");
    }
    let here = if parent.is_empty() {
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

// ---- finding a key path in a syntactically valid document -----------------------------------

/// Skips whitespace from `pos`.
fn ws(text: &str, mut pos: usize) -> usize {
    let bytes = text.as_bytes();
    while matches!(bytes.get(pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        pos += 1;
    }
    pos
}

/// The end of the JSON value (of type `T`) that starts at `pos`, and the value.
fn read<T: serde::de::DeserializeOwned>(text: &str, pos: usize) -> Option<(T, usize)> {
    let mut values = serde_json::Deserializer::from_str(&text[pos..]).into_iter::<T>();
    let value = values.next()?.ok()?;
    Some((value, pos + values.byte_offset()))
}

/// The members of the object at `pos`: (key, key offset, value offset).
fn members(text: &str, pos: usize) -> Option<Vec<(String, usize, usize)>> {
    let bytes = text.as_bytes();
    let mut pos = ws(text, pos);
    if bytes.get(pos) != Some(&b'{') {
        return None;
    }
    pos += 1;
    let mut out = Vec::new();
    loop {
        pos = ws(text, pos);
        match bytes.get(pos) {
            Some(b'}') | None => return Some(out),
            Some(b',') => pos = ws(text, pos + 1),
            _ => {}
        }
        let key_at = pos;
        let (key, after) = read::<String>(text, pos)?;
        let value_at = ws(text, ws(text, after) + 1); // past the colon
        let (IgnoredAny, end) = read::<IgnoredAny>(text, value_at)?;
        out.push((key, key_at, value_at));
        pos = end;
    }
}

/// The offset of item `n` of the array at `pos`.
fn item(text: &str, pos: usize, n: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut pos = ws(text, pos);
    if bytes.get(pos) != Some(&b'[') {
        return None;
    }
    pos = ws(text, pos + 1);
    for _ in 0..n {
        let (IgnoredAny, end) = read::<IgnoredAny>(text, pos)?;
        pos = ws(text, end);
        if bytes.get(pos) != Some(&b',') {
            return None;
        }
        pos = ws(text, pos + 1);
    }
    (bytes.get(pos) != Some(&b']')).then_some(pos)
}

/// Byte offset of the value at a key path; `None` if it is not written there. Where a key
/// is given twice, the last one counts (as for serde_json).
pub fn locate(text: &str, start: usize, path: &[Segment]) -> Option<usize> {
    let mut pos = ws(text, start);
    for s in path {
        pos = match s {
            Segment::Map { key } => {
                members(text, pos)?
                    .into_iter()
                    .rfind(|(k, _, _)| k == key)?
                    .2
            }
            Segment::Seq { index } => item(text, pos, *index)?,
            _ => return None,
        };
    }
    Some(pos)
}

/// Byte offset of the `nth` (1-based) occurrence of the key `name` in the object at a path.
fn locate_key(
    text: &str,
    start: usize,
    object: &[Segment],
    name: &str,
    nth: usize,
) -> Option<usize> {
    let at = locate(text, start, object)?;
    members(text, at)?
        .into_iter()
        .filter(|(k, _, _)| k == name)
        .nth(nth - 1)
        .map(|(_, key_at, _)| key_at)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(offset_of(doc, 2, 8), one);
        assert_eq!(offset_of(doc, 3, 3), x);
    }

    fn seg(path: &str) -> Vec<Segment> {
        let mut out = Vec::new();
        for part in path.split('.') {
            let (name, rest) = part.split_once('[').unwrap_or((part, ""));
            out.push(Segment::Map { key: name.into() });
            for i in rest.split('[').filter(|i| !i.is_empty()) {
                let index = i.trim_end_matches(']').parse().unwrap();
                out.push(Segment::Seq { index });
            }
        }
        out
    }

    #[test]
    fn locate_finds_written_keys_only() {
        let doc = r#"{"rt": {"cpu": 1}, "audio": {"device": "x", "rate": 9}}"#;
        assert_eq!(locate(doc, 0, &seg("audio.rate")), doc.find('9'));
        assert_eq!(locate(doc, 0, &seg("audio")), doc.find("{\"device"));
        assert_eq!(locate(doc, 0, &seg("audio.periods")), None);
        assert_eq!(locate(doc, 0, &seg("memory.budget_mb")), None);
        let doc = r#"{"buttons": {"map": [{"key": "A"}, {"key": "B", "action": "x"}]}}"#;
        let at = |p: &str| locate(doc, 0, &seg(p));
        assert_eq!(at("buttons.map[1].action"), doc.find("\"x\""));
        assert_eq!(at("buttons.map[0].key"), doc.find("\"A\""));
        assert_eq!(at("buttons.map[0].action"), None);
        assert_eq!(at("buttons.map[2].key"), None);
        assert_eq!(at("buttons.map"), doc.find('['));
        // Escaped keys are matched by what they say.
        let doc = r#"{"audio": {"r\u0061te": 9}}"#;
        assert_eq!(locate(doc, 0, &seg("audio.rate")), doc.find('9'));
    }

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("rat", "rate"), 1);
        assert_eq!(edit_distance("perod_frames", "period_frames"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn serde_wording_becomes_the_users() {
        assert_eq!(
            reword("invalid type: string \"48000\", expected u32"),
            "expected a whole number in 0..=4294967295, found a string"
        );
        assert_eq!(
            reword("invalid value: integer `-64`, expected u32"),
            "expected a whole number in 0..=4294967295, found -64"
        );
        assert_eq!(
            reword("invalid type: null, expected a boolean"),
            "expected true or false, found null"
        );
        assert_eq!(
            reword("unknown variant `float_le`, expected one of `S16_LE`, `FLOAT_LE`"),
            "expected one of S16_LE, FLOAT_LE, found \"float_le\" (the names are case-sensitive)"
        );
    }
}
