//! Strict reading of a parsed JSON document with field paths: Go's case-insensitive key
//! matching, but unknown keys, repeated keys, wrong types and out-of-range numbers are
//! reported, all of them, each with its path.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

use crate::errors::issue;
use crate::model::{StringMap, ValidationIssue, map_set};

/// Collects the problems found while reading.
#[derive(Default)]
pub struct Problems(pub Vec<ValidationIssue>);

impl Problems {
    /// Records a problem at `path`.
    pub fn add(&mut self, path: &str, message: impl Into<String>) {
        self.0.push(issue(path, message));
    }
}

/// A parsed JSON document that keeps every member of an object in document order, a repeated
/// key included (`serde_json::Value` keeps only the last one, so a repeated key would lose
/// content without a trace; Go's decoder applies each in turn and merges repeated maps).
#[derive(Debug, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(String),
    /// A list.
    Array(Vec<Value>),
    /// An object's members, in order, repeated keys included.
    Object(Vec<(String, Value)>),
}

/// How a value is named in messages: `a string`.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        struct JsonVisitor;

        impl<'de> Visitor<'de> for JsonVisitor {
            type Value = Value;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }

            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
                Ok(Value::Bool(b))
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Value, E> {
                Ok(Value::Number(n.into()))
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Value, E> {
                Ok(Value::Number(n.into()))
            }

            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Value, E> {
                Number::from_f64(n).map(Value::Number).ok_or_else(|| E::custom("a non-finite number"))
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
                Ok(Value::String(s.to_string()))
            }

            fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
                Ok(Value::String(s))
            }

            fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }

            fn visit_none<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }

            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
                Value::deserialize(d)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Value::Array(items))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Value>()? {
                    members.push(member);
                }
                Ok(Value::Object(members))
            }
        }

        deserializer.deserialize_any(JsonVisitor)
    }
}

/// One JSON object being read; unread keys are reported by [`Object::finish`].
pub struct Object<'a> {
    path: String,
    map: Option<&'a [(String, Value)]>,
    /// Indexes of the members read.
    read: Vec<usize>,
}

/// The path of `key` under `parent` (`cpu.vcpu_count`).
pub fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_string() } else { format!("{parent}.{key}") }
}

impl<'a> Object<'a> {
    /// Reads `value` at `path` as an object; `null` reads as an empty object.
    pub fn new(value: &'a Value, path: &str, problems: &mut Problems) -> Object<'a> {
        let map = match value {
            Value::Object(map) => Some(map.as_slice()),
            Value::Null => None,
            other => {
                problems.add(path, format!("expected an object, got {}", kind(other)));
                None
            }
        };
        Object { path: path.to_string(), map, read: Vec::new() }
    }

    /// The path of this object.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The value of `key`, matched case-insensitively (as Go reads). A key given more than
    /// once, in any spelling, is a problem at its path (the last one is read, as Go would).
    /// `null` and absent keys read as `None`.
    pub fn get(&mut self, key: &str, problems: &mut Problems) -> Option<&'a Value> {
        let map = self.map?;
        let found: Vec<usize> = (0..map.len()).filter(|i| map[*i].0.eq_ignore_ascii_case(key)).collect();
        let last = *found.last()?;
        if found.len() > 1 {
            let spellings: Vec<String> = found.iter().map(|i| format!("{:?}", map[*i].0)).collect();
            let how = if found.iter().all(|i| map[*i].0 == map[last].0) {
                String::new()
            } else {
                format!(" (as {}; keys match case-insensitively)", spellings.join(", "))
            };
            problems
                .add(&join(&self.path, key), format!("key given {} times{how}; give it once", found.len()));
        }
        self.read.extend(found);
        let value = &map[last].1;
        (*value != Value::Null).then_some(value)
    }

    /// A string field; absent or `null` is empty.
    pub fn string(&mut self, key: &str, problems: &mut Problems) -> String {
        match self.get(key, problems) {
            None => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                problems.add(&join(&self.path, key), format!("expected a string, got {}", kind(other)));
                String::new()
            }
        }
    }

    /// A boolean field; absent or `null` is false.
    pub fn bool(&mut self, key: &str, problems: &mut Problems) -> bool {
        match self.get(key, problems) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                problems.add(&join(&self.path, key), format!("expected true or false, got {}", kind(other)));
                false
            }
        }
    }

    /// A whole number in `[min, max]`; absent or `null` is 0.
    pub fn integer(&mut self, key: &str, min: i128, max: i128, problems: &mut Problems) -> i128 {
        let path = join(&self.path, key);
        let Some(value) = self.get(key, problems) else { return 0 };
        let Value::Number(number) = value else {
            problems.add(&path, format!("expected a number, got {}", kind(value)));
            return 0;
        };
        let whole = number.as_i64().map(i128::from).or_else(|| number.as_u64().map(i128::from));
        match whole {
            Some(n) if n >= min && n <= max => n,
            Some(n) => {
                problems.add(&path, format!("{n} is out of range [{min}, {max}]"));
                0
            }
            None => {
                problems.add(&path, format!("expected a whole number, got {number}"));
                0
            }
        }
    }

    /// A `u32` field.
    pub fn u32(&mut self, key: &str, problems: &mut Problems) -> u32 {
        self.integer(key, 0, u32::MAX.into(), problems) as u32
    }

    /// A `u64` field.
    pub fn u64(&mut self, key: &str, problems: &mut Problems) -> u64 {
        self.integer(key, 0, u64::MAX.into(), problems) as u64
    }

    /// An `i32` field.
    pub fn i32(&mut self, key: &str, problems: &mut Problems) -> i32 {
        self.integer(key, i32::MIN.into(), i32::MAX.into(), problems) as i32
    }

    /// An `i64` field.
    pub fn i64(&mut self, key: &str, problems: &mut Problems) -> i64 {
        self.integer(key, i64::MIN.into(), i64::MAX.into(), problems) as i64
    }

    /// A list field: its items with their paths. Absent or `null` is empty.
    pub fn list(&mut self, key: &str, problems: &mut Problems) -> Vec<(String, &'a Value)> {
        let path = join(&self.path, key);
        match self.get(key, problems) {
            None => Vec::new(),
            Some(Value::Array(items)) => {
                items.iter().enumerate().map(|(i, v)| (format!("{path}[{i}]"), v)).collect()
            }
            Some(other) => {
                problems.add(&path, format!("expected a list, got {}", kind(other)));
                Vec::new()
            }
        }
    }

    /// A list of strings.
    pub fn strings(&mut self, key: &str, problems: &mut Problems) -> Vec<String> {
        let mut out = Vec::new();
        for (path, item) in self.list(key, problems) {
            match item {
                Value::String(s) => out.push(s.clone()),
                other => problems.add(&path, format!("expected a string, got {}", kind(other))),
            }
        }
        out
    }

    /// A map of strings; `None` when absent or `null`. Its keys are case-sensitive; a key
    /// given twice is a problem at its path.
    pub fn optional_map(&mut self, key: &str, problems: &mut Problems) -> Option<StringMap> {
        let path = join(&self.path, key);
        let value = self.get(key, problems)?;
        let Value::Object(map) = value else {
            problems.add(&path, format!("expected an object of strings, got {}", kind(value)));
            return None;
        };
        let mut out = StringMap::new();
        for (i, (k, v)) in map.iter().enumerate() {
            let count = map.iter().filter(|(other, _)| other == k).count();
            if count > 1 && !map[..i].iter().any(|(earlier, _)| earlier == k) {
                problems.add(&join(&path, k), format!("key given {count} times; give it once"));
            }
            match v {
                Value::String(s) => map_set(&mut out, k, s),
                other => problems.add(&join(&path, k), format!("expected a string, got {}", kind(other))),
            }
        }
        Some(out)
    }

    /// A map of strings; absent or `null` is empty.
    pub fn map(&mut self, key: &str, problems: &mut Problems) -> StringMap {
        self.optional_map(key, problems).unwrap_or_default()
    }

    /// A nested object; `None` when absent or `null`.
    pub fn object(&mut self, key: &str, problems: &mut Problems) -> Option<Object<'a>> {
        let path = join(&self.path, key);
        self.get(key, problems).map(|value| Object::new(value, &path, problems))
    }

    /// Reports every key that was not read (a repeated one once).
    pub fn finish(self, problems: &mut Problems) {
        let Some(map) = self.map else { return };
        for (i, (key, _)) in map.iter().enumerate() {
            if !self.read.contains(&i) && !map[..i].iter().any(|(earlier, _)| earlier == key) {
                problems.add(&join(&self.path, key), "unknown key");
            }
        }
    }
}
