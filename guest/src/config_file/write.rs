//! JSON output byte-for-byte as Go's `json.MarshalIndent(v, "", "  ")` writes it: fields in
//! declaration order, 2-space indent, `[]`/`{}` for empty lists and maps, and Go's string
//! escaping (`<`, `>`, `&`, U+2028 and U+2029 as `\u` escapes).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;

use crate::model::StringMap;

/// A JSON value to write, fields in order.
pub enum Json {
    /// An object with its fields in order.
    Object(Vec<(&'static str, Json)>),
    /// An object with sorted string keys and string values.
    Map(StringMap),
    /// A list.
    List(Vec<Json>),
    /// A string.
    Str(String),
    /// An integer.
    Int(i128),
    /// A boolean.
    Bool(bool),
    /// `null`.
    Null,
}

impl Json {
    /// A string value.
    pub fn str(s: &str) -> Json {
        Json::Str(s.to_string())
    }

    /// Renders the value.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out
    }

    fn write(&self, out: &mut String, depth: usize) {
        match self {
            Json::Object(fields) => {
                let entries = fields.iter().map(|(k, v)| (*k, v));
                write_block(out, depth, '{', '}', entries, |out, (key, value), depth| {
                    write_str(out, key);
                    out.push_str(": ");
                    value.write(out, depth);
                });
            }
            Json::Map(map) => {
                let mut sorted: Vec<&(String, String)> = map.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                write_block(out, depth, '{', '}', sorted.into_iter(), |out, (key, value), _| {
                    write_str(out, key);
                    out.push_str(": ");
                    write_str(out, value);
                });
            }
            Json::List(items) => {
                write_block(out, depth, '[', ']', items.iter(), |out, item, depth| item.write(out, depth))
            }
            Json::Str(s) => write_str(out, s),
            Json::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Null => out.push_str("null"),
        }
    }
}

fn write_block<T>(
    out: &mut String,
    depth: usize,
    open: char,
    close: char,
    items: impl ExactSizeIterator<Item = T>,
    mut write_item: impl FnMut(&mut String, T, usize),
) {
    out.push(open);
    let count = items.len();
    for (i, item) in items.enumerate() {
        out.push('\n');
        indent(out, depth + 1);
        write_item(out, item, depth + 1);
        if i + 1 < count {
            out.push(',');
        }
    }
    if count > 0 {
        out.push('\n');
        indent(out, depth);
    }
    out.push(close);
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// Writes `s` as a JSON string with Go's escaping.
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::map_from;

    #[test]
    fn indents_like_go_marshal_indent() {
        let value = Json::Object(alloc::vec![
            ("a", Json::Int(1)),
            ("b", Json::List(alloc::vec![Json::Bool(true), Json::Null])),
            ("c", Json::List(Vec::new())),
            ("d", Json::Map(map_from([("y", "2"), ("x", "1")]))),
            ("e", Json::Map(Vec::new())),
        ]);
        assert_eq!(
            value.render(),
            "{\n  \"a\": 1,\n  \"b\": [\n    true,\n    null\n  ],\n  \"c\": [],\n  \"d\": {\n    \"x\": \"1\",\n    \"y\": \"2\"\n  },\n  \"e\": {}\n}"
        );
    }

    #[test]
    fn escapes_strings_like_go() {
        let value = Json::str("a\"b\\c\n<tag>&\u{1}\u{2028}é");
        assert_eq!(value.render(), r#""a\"b\\c\n\u003ctag\u003e\u0026\u0001\u2028é""#);
    }
}
