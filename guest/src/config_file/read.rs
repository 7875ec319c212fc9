//! Strict reading of a parsed JSON document with field paths: Go's case-insensitive key
//! matching, but unknown keys, wrong types and out-of-range numbers are reported, all of
//! them, each with its path.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use metald_proto::json::kind_name as kind;
use serde_json::{Map, Value};

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

/// One JSON object being read; unread keys are reported by [`Object::finish`].
pub struct Object<'a> {
    path: String,
    map: Option<&'a Map<String, Value>>,
    read: Vec<&'a str>,
}

/// The path of `key` under `parent` (`cpu.vcpu_count`).
pub fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_string() } else { format!("{parent}.{key}") }
}

impl<'a> Object<'a> {
    /// Reads `value` at `path` as an object; `null` reads as an empty object.
    pub fn new(value: &'a Value, path: &str, problems: &mut Problems) -> Object<'a> {
        let map = match value {
            Value::Object(map) => Some(map),
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

    /// The value of `key`: an exact match, else a case-insensitive one (as Go reads).
    /// `null` and absent keys read as `None`.
    pub fn get(&mut self, key: &str) -> Option<&'a Value> {
        let map = self.map?;
        let (found, value) =
            map.get_key_value(key).or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)))?;
        self.read.push(found.as_str());
        (!value.is_null()).then_some(value)
    }

    /// A string field; absent or `null` is empty.
    pub fn string(&mut self, key: &str, problems: &mut Problems) -> String {
        match self.get(key) {
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
        match self.get(key) {
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
        let Some(value) = self.get(key) else { return 0 };
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
        match self.get(key) {
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

    /// A map of strings; `None` when absent or `null`.
    pub fn optional_map(&mut self, key: &str, problems: &mut Problems) -> Option<StringMap> {
        let path = join(&self.path, key);
        let value = self.get(key)?;
        let Value::Object(map) = value else {
            problems.add(&path, format!("expected an object of strings, got {}", kind(value)));
            return None;
        };
        let mut out = StringMap::new();
        for (k, v) in map {
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
        self.get(key).map(|value| Object::new(value, &path, problems))
    }

    /// Reports every key that was not read.
    pub fn finish(self, problems: &mut Problems) {
        let Some(map) = self.map else { return };
        for key in map.keys() {
            if !self.read.contains(&key.as_str()) {
                problems.add(&join(&self.path, key), "unknown key");
            }
        }
    }
}
