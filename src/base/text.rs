//! One text escaper for everything a person reads on a terminal or in a log: console
//! answers, notices, state-file warnings. Control characters from typed input, song folder
//! names or files on the card cannot move a cursor or split a line.

use std::borrow::Cow;

/// Escapes what a terminal would act on: C0 controls (newline, carriage return, tab, ESC,
/// bell, ...), DEL and C1 controls become `\n`, `\r`, `\t` or `\x1b` / `\u{9b}`. A
/// backslash stays as it is: JSON stats lines already carry escapes of their own. Text
/// without controls is borrowed as it is.
pub fn escape_for_console(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && c.is_control() => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}
