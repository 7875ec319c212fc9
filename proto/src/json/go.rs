//! Go's `encoding/json` of the protoc-gen-go structs, as metald-cli's `-json` prints them
//! (`docs/upstream.md#cli-output`), driven by the same schema table as the protobuf JSON
//! mapping of [`super`].
//!
//! Behind the `go` feature: the wasm component uses the mapping but not this, and compiles
//! from unchanged source without it, so its committed copies stay a fresh build
//! (scripts/build-component.sh --check; even unused code here changed the component's
//! bytes).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde_json::{Map, Value};

use super::{
    Described, ENUMS, FieldSchema, JsonError, Kind, MESSAGES, enum_value, error, integer, join, kind_name,
};

/// `record`, a value mirroring message `M`, as Go's `encoding/json` writes the protoc-gen-go
/// struct of `M` (metald-cli's `-json`, `docs/upstream.md#cli-output`): proto (snake_case)
/// names; enums, 64-bit integers and doubles as JSON numbers; maps as objects; zero values,
/// empty lists and maps and absent messages omitted; so are present but empty messages, which
/// Go writes as `{}` (this shape has always omitted them). Fields are inserted in
/// declaration order, so keys come out in that order with serde_json's `preserve_order`
/// feature and sorted without it.
///
/// `record` is a record as serde writes it (the WIT records of `metald-host`, say): fields
/// named as the proto's; messages as objects or `null`; maps as objects or lists of
/// `[key, value]` pairs; enums as numbers, as unit-variant case names (`Running`, `Ipv4Only`:
/// the proto value whose name is the enum's name then the case's, ignoring case and `_`, here
/// `VM_STATE_RUNNING` and `NETWORK_MODE_IPV4_ONLY`) or as `{"Unknown": number}`, a number the
/// record keeps for a value it does not know. A field the schema does not have, an enum case
/// without a proto value or a value of the wrong kind is an error naming its path: the record
/// and the schema disagree.
pub fn shape<M: Described>(record: &Value) -> Result<Value, JsonError> {
    go_message(record, M::MESSAGE, "")
}

/// The field `name` (its proto name) of message `M` in the shape of [`shape`], kept even
/// when it is the zero value: for a hand-written struct whose fields have no `omitempty`, such
/// as metald-cli's own `info` output around the fields of `GetVmInfoResponse`.
pub fn field<M: Described>(name: &str, value: &Value) -> Result<Value, JsonError> {
    go_field(schema_field::<M>(name)?, value, name)
}

/// The value `value` of the enum field `name` (its proto name) of message `M`, given as for
/// [`shape`], by its proto value name (`VM_STATE_RUNNING`), or as its number when the schema
/// has no value with it: as metald-cli's human output and the protobuf JSON mapping write it.
/// The case is matched to the value as [`shape`] matches it.
pub fn enum_name<M: Described>(name: &str, value: &Value) -> Result<Value, JsonError> {
    match schema_field::<M>(name)? {
        FieldSchema { kind: Kind::Enum(index), repeated: false, .. } => {
            Ok(enum_value(*index, go_enum(*index, value, name)?))
        }
        _ => Err(error(name, "not a single enum field of the proto schema")),
    }
}

fn schema_field<M: Described>(name: &str) -> Result<&'static FieldSchema, JsonError> {
    MESSAGES[M::MESSAGE]
        .fields
        .iter()
        .find(|field| field.proto_name == name)
        .ok_or_else(|| error(name, "not a field of the proto schema"))
}

/// The paths of the fields of `M` (nested messages and list elements included) that a
/// document in the shape of [`shape`] lacks: empty when every field of the schema appears.
/// A check that output built from a value with every field set misses none.
pub fn missing_fields<M: Described>(document: &Value) -> Vec<String> {
    let mut missing = Vec::new();
    missing_in(document, M::MESSAGE, "", &mut missing);
    missing
}

/// Go's `omitempty`, which also omits a present but empty message here (see [`shape`]).
fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(entries) => entries.is_empty(),
    }
}

fn go_message(record: &Value, index: usize, path: &str) -> Result<Value, JsonError> {
    let Value::Object(record) = record else {
        return Err(error(path, format!("expected an object, got {}", kind_name(record))));
    };
    let fields = MESSAGES[index].fields;
    if let Some(name) = record.keys().find(|name| !fields.iter().any(|f| f.proto_name == name.as_str())) {
        return Err(error(&join(path, name), "not a field of the proto schema"));
    }
    let mut object = Map::new();
    for field in fields {
        let Some(value) = record.get(field.proto_name) else { continue };
        let shaped = go_field(field, value, &join(path, field.proto_name))?;
        if !is_zero(&shaped) {
            object.insert(field.proto_name.to_string(), shaped);
        }
    }
    Ok(Value::Object(object))
}

fn go_field(field: &FieldSchema, value: &Value, path: &str) -> Result<Value, JsonError> {
    match (value, field.kind) {
        (Value::Null, _) => Ok(Value::Null),
        (Value::Object(entries), Kind::Map) => match entries.iter().find(|(_, v)| !v.is_string()) {
            Some((key, entry)) => {
                Err(error(&join(path, key), format!("expected a string, got {}", kind_name(entry))))
            }
            None => Ok(Value::Object(entries.clone())),
        },
        (Value::Array(pairs), Kind::Map) => go_map(pairs, path),
        (other, Kind::Map) => Err(error(path, format!("expected a map, got {}", kind_name(other)))),
        (Value::Array(items), _) if field.repeated => items
            .iter()
            .enumerate()
            .map(|(i, item)| go_single(field.kind, item, &format!("{path}[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        (other, _) if field.repeated => {
            Err(error(path, format!("expected a list, got {}", kind_name(other))))
        }
        (value, kind) => go_single(kind, value, path),
    }
}

/// A map written as a list of `[key, value]` pairs, as an object (a repeated key keeps its
/// last value).
fn go_map(pairs: &[Value], path: &str) -> Result<Value, JsonError> {
    let mut object = Map::new();
    for (i, pair) in pairs.iter().enumerate() {
        match pair.as_array().map(Vec::as_slice) {
            Some([Value::String(key), value @ Value::String(_)]) => {
                object.insert(key.clone(), value.clone());
            }
            _ => return Err(error(&format!("{path}[{i}]"), "expected a [key, value] pair of strings")),
        }
    }
    Ok(Value::Object(object))
}

/// One value of `kind` (a list element, or a field that is not a list).
fn go_single(kind: Kind, value: &Value, path: &str) -> Result<Value, JsonError> {
    let expected = match (kind, value) {
        (Kind::Message(index), _) => return go_message(value, index, path),
        (Kind::Enum(index), _) => return go_enum(index, value, path).map(Value::from),
        (Kind::Int32 | Kind::Int64 | Kind::Double, Value::Number(_))
        | (Kind::Bool, Value::Bool(_))
        | (Kind::String, Value::String(_)) => return Ok(value.clone()),
        (Kind::Int32 | Kind::Int64 | Kind::Double, _) => "a number",
        (Kind::Bool, _) => "true or false",
        (Kind::String, _) => "a string",
        (Kind::Map, _) => "a map, not a list element",
    };
    Err(error(path, format!("expected {expected}, got {}", kind_name(value))))
}

/// The number of an enum value: a number, a case name or `{"Unknown": number}` (see
/// [`shape`]).
fn go_enum(index: usize, value: &Value, path: &str) -> Result<i32, JsonError> {
    let schema = &ENUMS[index];
    let unknown = match value {
        Value::String(case) => {
            return schema
                .values
                .iter()
                .find(|(name, _)| letters(name).eq(letters(schema.name).chain(letters(case))))
                .map(|(_, number)| *number)
                .ok_or_else(|| error(path, format!("the case {case} has no {} value", schema.name)));
        }
        Value::Object(entries) if entries.len() == 1 => {
            entries.iter().find(|(case, _)| letters(case).eq(letters("unknown"))).map(|(_, n)| n)
        }
        Value::Number(_) => Some(value),
        _ => None,
    };
    let number = unknown.ok_or_else(|| {
        error(path, format!("expected a {} case or number, got {}", schema.name, kind_name(value)))
    })?;
    Ok(integer(number, i32::MIN.into(), i32::MAX.into(), path)? as i32)
}

/// The letters and digits of a name, lowercase: `NETWORK_MODE_IPV4_ONLY` and `NetworkMode`
/// then `Ipv4Only` spell the same.
fn letters(name: &str) -> impl Iterator<Item = char> + '_ {
    name.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase())
}

fn missing_in(document: &Value, index: usize, path: &str, missing: &mut Vec<String>) {
    let Value::Object(object) = document else {
        missing.push(if path.is_empty() { "(the document is not an object)".into() } else { path.into() });
        return;
    };
    for field in MESSAGES[index].fields {
        let path = join(path, field.proto_name);
        match (object.get(field.proto_name), field.kind) {
            (None, _) => missing.push(path),
            (Some(Value::Array(items)), Kind::Message(nested)) if field.repeated => {
                for (i, item) in items.iter().enumerate() {
                    missing_in(item, nested, &format!("{path}[{i}]"), missing);
                }
            }
            (Some(value), Kind::Message(nested)) => missing_in(value, nested, &path, missing),
            (Some(_), _) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::*;

    #[test]
    fn shape_uses_proto_names_numbers_for_enums_and_int64_and_omits_zero_values() {
        let record = serde_json::json!({
            "vm_id": "ud-1",
            "state": "Paused",
            "vcpu_count": 0,
            "memory_size_bytes": 1_i64 << 40,
            "created_timestamp": 0,
            "modified_timestamp": 0,
            "metadata": [["b", "2"], ["a", "1"]],
            "customer_id": "",
        });
        assert_eq!(
            shape::<VmInfo>(&record).unwrap(),
            serde_json::json!({"vm_id": "ud-1", "state": 3, "memory_size_bytes": 1_i64 << 40,
                "metadata": {"a": "1", "b": "2"}})
        );
        let config = serde_json::json!({
            "cpu": {"vcpu_count": 2, "max_vcpu_count": 0, "topology": null, "features": []},
            "memory": {"size_bytes": 0, "hotplug_enabled": false, "max_size_bytes": 0, "backing": {}},
            "network": [{"id": "eth0", "mode": "Ipv4Only", "ipv4_config": {"dns_servers": ["1.1.1.1"]}}],
            "storage": [],
        });
        assert_eq!(
            shape::<VmConfig>(&config).unwrap(),
            serde_json::json!({"cpu": {"vcpu_count": 2},
                "network": [{"id": "eth0", "mode": 2, "ipv4_config": {"dns_servers": ["1.1.1.1"]}}]})
        );
    }

    #[test]
    fn shape_writes_numbers_kept_for_unknown_enum_values() {
        let state = |value| field::<VmInfo>("state", &value);
        assert_eq!(state(serde_json::json!({"Unknown": 9})).unwrap(), 9);
        assert_eq!(state(serde_json::json!(7)).unwrap(), 7);
        assert_eq!(state(serde_json::json!("Unspecified")).unwrap(), 0, "a field keeps its zero value");
        let filter = serde_json::json!({"state_filter": ["Running", {"Unknown": -3}]});
        assert_eq!(shape::<ListVmsRequest>(&filter).unwrap(), serde_json::json!({"state_filter": [2, -3]}));
    }

    #[test]
    fn enum_name_names_known_values_and_keeps_numbers_of_unknown_ones() {
        let state = |value| enum_name::<VmInfo>("state", &value);
        assert_eq!(state(serde_json::json!("Running")).unwrap(), "VM_STATE_RUNNING");
        assert_eq!(state(serde_json::json!("Unspecified")).unwrap(), "VM_STATE_UNSPECIFIED");
        assert_eq!(state(serde_json::json!({"Unknown": 9})).unwrap(), 9);
        assert_eq!(state(serde_json::json!(3)).unwrap(), "VM_STATE_PAUSED");
        let mode = enum_name::<NetworkInterface>("mode", &serde_json::json!("Ipv4Only")).unwrap();
        assert_eq!(mode, "NETWORK_MODE_IPV4_ONLY");
        assert_eq!(
            state(serde_json::json!("Exploded")).unwrap_err().to_string(),
            "state: the case Exploded has no VmState value"
        );
        assert_eq!(enum_name::<VmInfo>("vm_id", &serde_json::json!("a")).unwrap_err().path, "vm_id");
        assert_eq!(
            enum_name::<ListVmsRequest>("state_filter", &serde_json::json!([])).unwrap_err().path,
            "state_filter"
        );
    }

    #[test]
    fn shape_rejects_what_the_schema_lacks_with_paths() {
        let error = shape::<VmInfo>(&serde_json::json!({"state": "Exploded"})).unwrap_err();
        assert_eq!(error.to_string(), "state: the case Exploded has no VmState value");
        let error = shape::<VmConfig>(&serde_json::json!({"cpu": {"vcpus": 2}})).unwrap_err();
        assert_eq!(error.to_string(), "cpu.vcpus: not a field of the proto schema");
        let error = shape::<VmConfig>(&serde_json::json!({"storage": [{"read_only": "yes"}]})).unwrap_err();
        assert_eq!(error.to_string(), "storage[0].read_only: expected true or false, got a string");
        let error = shape::<VmConfig>(&serde_json::json!({"metadata": [["a"]]})).unwrap_err();
        assert_eq!(error.path, "metadata[0]");
        assert_eq!(field::<VmInfo>("uptime", &Value::Null).unwrap_err().path, "uptime");
    }

    #[test]
    fn missing_fields_names_every_absent_schema_field() {
        let document = serde_json::json!({
            "vms": [{"vm_id": "a", "state": 2, "vcpu_count": 1, "memory_size_bytes": 1,
                "created_timestamp": 1, "modified_timestamp": 1, "metadata": {"k": "v"}}],
            "total_count": 1,
        });
        assert_eq!(missing_fields::<ListVmsResponse>(&document), ["vms[0].customer_id", "next_page_token"]);
        assert_eq!(missing_fields::<PortMapping>(&Value::Null), ["(the document is not an object)"]);
    }
}
