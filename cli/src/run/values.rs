//! Variables of a script: results bound with `let`, navigated with `NAME.field[0].sub`,
//! spliced into WAVE arguments, printed as WAVE or JSON.

use std::collections::HashMap;

use serde_json::{Value as Json, json};
use wasmtime::component::{ResourceAny, Type, Val};

/// A bound variable.
#[derive(Clone, Debug)]
pub enum Binding {
    /// A value and its type.
    Value {
        /// The value (an `ok` result is bound as its payload).
        value: Val,
        /// Its type.
        ty: Type,
        /// (interface, resource) when the value is a resource.
        resource: Option<(String, String)>,
    },
    /// The call returned `err(…)` (with `--keep-going`): using the variable is an error.
    Failed {
        /// Where it was bound.
        line: usize,
        /// The error, as WAVE.
        error: String,
    },
}

/// The variables of a run.
#[derive(Default)]
pub struct Vars(HashMap<String, Binding>);

impl Vars {
    /// Binds (or rebinds) `name`.
    pub fn bind(&mut self, name: &str, binding: Binding) {
        self.0.insert(name.to_string(), binding);
    }

    /// Whether `name` is bound.
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// The resource a variable holds: (handle, interface, resource name).
    pub fn resource(&self, name: &str) -> Result<(ResourceAny, String, String), String> {
        match self.0.get(name) {
            Some(Binding::Value {
                value: Val::Resource(handle),
                resource: Some((interface, resource)),
                ..
            }) => Ok((*handle, interface.clone(), resource.clone())),
            Some(Binding::Value { .. }) => {
                Err(format!("variable `{name}` is not a resource, so it has no methods"))
            }
            Some(Binding::Failed { line, error }) => {
                Err(format!("variable `{name}` holds the error of line {line}: {error}"))
            }
            None => Err(format!("unknown variable `{name}`")),
        }
    }

    /// Evaluates `name.field[0].sub`: fields of records, list items, and `ok`/`some`
    /// unwrapped on the way (or named explicitly: `.ok`, `.err`, `.some`).
    pub fn eval(&self, path: &str) -> Result<(Val, Type), String> {
        let (name, rest) = split_first(path);
        let (mut value, mut ty) = match self.0.get(name) {
            Some(Binding::Value { value, ty, .. }) => (value.clone(), ty.clone()),
            Some(Binding::Failed { line, error }) => {
                return Err(format!("variable `{name}` holds the error of line {line}: {error}"));
            }
            None => return Err(format!("unknown variable `{name}`")),
        };
        let mut walked = name.to_string();
        for segment in segments(rest)? {
            (value, ty) = step(value, ty, &segment, &walked)?;
            walked.push_str(&match &segment {
                Segment::Field(f) => format!(".{f}"),
                Segment::Index(i) => format!("[{i}]"),
            });
        }
        Ok((value, ty))
    }

    /// Replaces the variable paths in a WAVE text by their values.
    pub fn substitute(&self, text: &str) -> Result<String, (usize, String)> {
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        while i < chars.len() {
            let (at, c) = chars[i];
            if c == '"' || c == '\'' {
                let end = literal_end(&chars, i);
                out.push_str(&text[at..byte_at(text, &chars, end)]);
                i = end;
                continue;
            }
            let starts_word =
                c.is_ascii_alphabetic() && (i == 0 || !is_word(chars[i - 1].1) && chars[i - 1].1 != '%');
            if !starts_word {
                out.push(c);
                i += 1;
                continue;
            }
            let mut end = i;
            while end < chars.len() && is_word(chars[end].1) {
                end += 1;
            }
            let word = &text[at..byte_at(text, &chars, end)];
            let after = &text[byte_at(text, &chars, end)..];
            let followed_by_colon = after.trim_start().starts_with(':');
            if !self.0.contains_key(word)
                && after.starts_with('.')
                && after[1..].starts_with(|c: char| c.is_ascii_alphabetic())
            {
                return Err((at, format!("unknown variable `{word}`")));
            }
            if !self.0.contains_key(word) || followed_by_colon {
                out.push_str(word);
                i = end;
                continue;
            }
            // Extend over `.field` and `[n]` segments.
            while end < chars.len() {
                match chars[end].1 {
                    '.' if end + 1 < chars.len() && chars[end + 1].1.is_ascii_alphabetic() => {
                        end += 1;
                        while end < chars.len() && is_word(chars[end].1) {
                            end += 1;
                        }
                    }
                    '[' => {
                        let close =
                            (end..chars.len()).find(|&k| chars[k].1 == ']').unwrap_or(chars.len() - 1);
                        end = close + 1;
                    }
                    _ => break,
                }
            }
            let path = &text[at..byte_at(text, &chars, end)];
            let (value, _) = self.eval(path).map_err(|message| (at, message))?;
            let wave = wave(&value).map_err(|message| (at, format!("`{path}`: {message}")))?;
            out.push_str(&wave);
            i = end;
        }
        Ok(out)
    }
}

fn byte_at(text: &str, chars: &[(usize, char)], index: usize) -> usize {
    chars.get(index).map_or(text.len(), |(at, _)| *at)
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

/// Index just past the string or char literal starting at `start`.
fn literal_end(chars: &[(usize, char)], start: usize) -> usize {
    let mut literals = metald_script::Literals::default();
    for (k, (_, c)) in chars.iter().enumerate().skip(start) {
        literals.is_code(*c);
        if !literals.is_open() {
            return k + 1;
        }
    }
    chars.len()
}

enum Segment {
    Field(String),
    Index(usize),
}

fn split_first(path: &str) -> (&str, &str) {
    let end = path.find(['.', '[']).unwrap_or(path.len());
    (&path[..end], &path[end..])
}

fn segments(mut rest: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            out.push(Segment::Field(after[..end].to_string()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let close = after.find(']').ok_or("unclosed `[`")?;
            let index = after[..close]
                .trim()
                .parse()
                .map_err(|_| format!("{:?} is not a list index", &after[..close]))?;
            out.push(Segment::Index(index));
            rest = &after[close + 1..];
        } else {
            return Err(format!("unexpected {rest:?} in a variable path"));
        }
    }
    Ok(out)
}

/// Unwraps `ok(x)` and `some(x)` so a field or index applies to `x`.
fn unwrap_for_access(value: Val, ty: Type, walked: &str) -> Result<(Val, Type), String> {
    match (value, ty) {
        (Val::Result(Ok(Some(inner))), Type::Result(r)) => match r.ok() {
            Some(t) => unwrap_for_access(*inner, t, walked),
            None => Err(format!("`{walked}` is ok with no value")),
        },
        (Val::Result(Err(e)), _) => {
            Err(format!("`{walked}` is err({})", e.map(|e| wave_or_debug(&e)).unwrap_or_default()))
        }
        (Val::Option(Some(inner)), Type::Option(o)) => unwrap_for_access(*inner, o.ty(), walked),
        (Val::Option(None), _) => Err(format!("`{walked}` is none")),
        other => Ok(other),
    }
}

fn step(value: Val, ty: Type, segment: &Segment, walked: &str) -> Result<(Val, Type), String> {
    match segment {
        Segment::Field(name) if name == "ok" || name == "err" || name == "some" => {
            match (name.as_str(), value, ty) {
                ("ok", Val::Result(Ok(Some(v))), Type::Result(r)) => Ok((*v, r.ok().ok_or("no ok type")?)),
                ("err", Val::Result(Err(Some(v))), Type::Result(r)) => {
                    Ok((*v, r.err().ok_or("no err type")?))
                }
                ("some", Val::Option(Some(v)), Type::Option(o)) => Ok((*v, o.ty())),
                (_, v, _) => Err(format!("`{walked}` is {}, not {name}(…)", wave_or_debug(&v))),
            }
        }
        Segment::Field(name) => {
            let (value, ty) = unwrap_for_access(value, ty, walked)?;
            let (Val::Record(fields), Type::Record(record)) = (&value, &ty) else {
                return Err(format!("`{walked}` is not a record, so it has no field `{name}`"));
            };
            let field_ty = record.fields().find(|f| f.name == name).map(|f| f.ty);
            let field = fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
            match (field, field_ty) {
                (Some(v), Some(t)) => Ok((v, t)),
                _ => {
                    let names: Vec<&str> = record.fields().map(|f| f.name).collect();
                    Err(format!("`{walked}` has no field `{name}`; its fields are {}", names.join(", ")))
                }
            }
        }
        Segment::Index(index) => {
            let (value, ty) = unwrap_for_access(value, ty, walked)?;
            let (Val::List(items), Type::List(list)) = (&value, &ty) else {
                return Err(format!("`{walked}` is not a list"));
            };
            let item = items
                .get(*index)
                .cloned()
                .ok_or_else(|| format!("`{walked}` has {} items; [{index}] is out of range", items.len()))?;
            Ok((item, list.ty()))
        }
    }
}

/// A value as WAVE; resources have no WAVE form.
pub fn wave(value: &Val) -> Result<String, String> {
    if contains_resource(value) {
        return Err("it holds a resource, which can only be used as a receiver: NAME.method(…)".into());
    }
    value.to_wave().map_err(|e| e.to_string())
}

fn wave_or_debug(value: &Val) -> String {
    wave(value).unwrap_or_else(|_| render(value, "resource"))
}

fn contains_resource(value: &Val) -> bool {
    match value {
        Val::Resource(_) => true,
        Val::List(items) | Val::Tuple(items) => items.iter().any(contains_resource),
        Val::Record(fields) => fields.iter().any(|(_, v)| contains_resource(v)),
        Val::Variant(_, Some(v)) | Val::Option(Some(v)) | Val::Result(Ok(Some(v)) | Err(Some(v))) => {
            contains_resource(v)
        }
        _ => false,
    }
}

/// A value as WAVE, with resources shown as `<resource NAME>`.
pub fn render(value: &Val, resource: &str) -> String {
    match value {
        Val::Resource(_) => format!("<resource {resource}>"),
        Val::Result(Ok(Some(v))) if contains_resource(v) => format!("ok({})", render(v, resource)),
        Val::Option(Some(v)) if contains_resource(v) => format!("some({})", render(v, resource)),
        other => other.to_wave().unwrap_or_else(|e| format!("<unprintable: {e}>")),
    }
}

/// A value as JSON: records as objects, enums and payload-less cases as strings, cases with
/// a payload as `{"case": payload}`, `option` as the value or null, `result` as
/// `{"ok": …}`/`{"err": …}`, resources as `{"resource": NAME}`.
pub fn to_json(value: &Val, resource: &str) -> Json {
    match value {
        Val::Bool(b) => json!(b),
        Val::S8(n) => json!(n),
        Val::U8(n) => json!(n),
        Val::S16(n) => json!(n),
        Val::U16(n) => json!(n),
        Val::S32(n) => json!(n),
        Val::U32(n) => json!(n),
        Val::S64(n) => json!(n),
        Val::U64(n) => json!(n),
        Val::Float32(n) => float(f64::from(*n)),
        Val::Float64(n) => float(*n),
        Val::Char(c) => json!(c.to_string()),
        Val::String(s) => json!(s),
        Val::List(items) | Val::Tuple(items) => {
            Json::Array(items.iter().map(|v| to_json(v, resource)).collect())
        }
        Val::Record(fields) => {
            Json::Object(fields.iter().map(|(k, v)| (k.clone(), to_json(v, resource))).collect())
        }
        Val::Variant(case, None) | Val::Enum(case) => json!(case),
        Val::Variant(case, Some(payload)) => json!({ case: to_json(payload, resource) }),
        Val::Option(None) => Json::Null,
        Val::Option(Some(v)) => to_json(v, resource),
        Val::Result(Ok(v)) => json!({ "ok": v.as_ref().map_or(Json::Null, |v| to_json(v, resource)) }),
        Val::Result(Err(v)) => json!({ "err": v.as_ref().map_or(Json::Null, |v| to_json(v, resource)) }),
        Val::Flags(names) => json!(names),
        Val::Resource(_) => json!({ "resource": resource }),
        other => json!(format!("{other:?}")),
    }
}

fn float(n: f64) -> Json {
    if n.is_finite() { json!(n) } else { json!(n.to_string()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_labels_are_left_alone() {
        let vars = Vars::default();
        let text = r#"{vm-id: "vm.id", force: false}"#;
        assert_eq!(vars.substitute(text).unwrap(), text);
    }

    #[test]
    fn json_follows_the_documented_shape() {
        let value = Val::Result(Ok(Some(Box::new(Val::Record(vec![
            ("vm-id".into(), Val::String("ud-1".into())),
            ("state".into(), Val::Enum("created".into())),
            ("extra".into(), Val::Option(None)),
            ("error".into(), Val::Variant("other".into(), Some(Box::new(Val::String("x".into()))))),
        ])))));
        assert_eq!(
            to_json(&value, "r"),
            json!({"ok": {"vm-id": "ud-1", "state": "created", "extra": null, "error": {"other": "x"}}})
        );
    }

    proptest::proptest! {
        #[test]
        fn substitution_never_panics(text in "\\PC{0,200}") {
            let mut vars = Vars::default();
            let record = Val::Record(vec![("vm-id".into(), Val::String("ud-1".into()))]);
            let ty = Type::Bool;
            vars.bind("vm", Binding::Value { value: record, ty, resource: None });
            let _ = vars.substitute(&text);
        }
    }
}
