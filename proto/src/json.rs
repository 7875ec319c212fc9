//! The protobuf JSON mapping (the `json` feature), as a transcoder between protobuf bytes
//! and JSON driven by a schema table generated from the descriptor.
//!
//! One generic routine serves every message, which keeps the wasm component small (derived
//! serde code per message was most of its size). Output follows the canonical mapping:
//! lowerCamelCase names, default values omitted, enums as names (numbers when unknown),
//! 64-bit integers as strings, non-finite doubles as `"NaN"`/`"Infinity"`/`"-Infinity"`.
//! Input is lenient as the mapping requires: proto or lowerCamelCase names, numbers as JSON
//! numbers or strings, enums as names or numbers (unknown numbers are kept), `null` as the
//! default, unknown fields ignored.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use prost::encoding::{WireType, decode_key, decode_varint, encode_key, encode_varint};
use serde_json::{Map, Number, Value};

/// What a field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Int32,
    Int64,
    Bool,
    String,
    Double,
    Enum(usize),
    Message(usize),
    /// `map<string, string>`.
    Map,
}

/// One field of a message.
#[derive(Debug)]
pub(crate) struct FieldSchema {
    number: u32,
    proto_name: &'static str,
    json_name: &'static str,
    kind: Kind,
    repeated: bool,
}

/// One message: its fields.
#[derive(Debug)]
pub(crate) struct MessageSchema {
    fields: &'static [FieldSchema],
}

/// One enum: value names and numbers.
#[derive(Debug)]
pub(crate) struct EnumSchema {
    name: &'static str,
    values: &'static [(&'static str, i32)],
}

/// A generated message with its place in the schema.
pub trait Described: prost::Message + Default {
    /// Index of the message in the schema table.
    const MESSAGE: usize;
}

include!(concat!(env!("OUT_DIR"), "/schema.rs"));

/// A JSON document that does not fit the message, with the path of the problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    /// Where (`vms[0].state`); empty for the document itself.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

fn error(path: &str, message: impl Into<String>) -> JsonError {
    JsonError { path: path.to_string(), message: message.into() }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_string() } else { format!("{path}.{name}") }
}

/// `message` as protobuf JSON.
pub fn to_json<M: Described>(message: &M) -> Vec<u8> {
    let bytes = message.encode_to_vec();
    // The bytes come from prost, so they always match the schema.
    let value = decode_message(&mut bytes.as_slice(), M::MESSAGE).unwrap_or(Value::Object(Map::new()));
    serde_json::to_vec(&value).unwrap_or_default()
}

/// A message from protobuf JSON.
pub fn from_json<M: Described>(json: &[u8]) -> Result<M, JsonError> {
    let value: Value = serde_json::from_slice(json).map_err(|e| error("", format!("not valid JSON: {e}")))?;
    let mut bytes = Vec::new();
    encode_message(&value, M::MESSAGE, "", &mut bytes)?;
    M::decode(bytes.as_slice()).map_err(|e| error("", e.to_string()))
}

// ---- protobuf bytes to JSON ----

/// Malformed protobuf input (only possible for bytes not produced by prost).
#[derive(Debug)]
struct Malformed;

impl From<prost::DecodeError> for Malformed {
    fn from(_: prost::DecodeError) -> Self {
        Malformed
    }
}

fn take<'a>(buf: &mut &'a [u8], len: usize) -> Result<&'a [u8], Malformed> {
    if buf.len() < len {
        return Err(Malformed);
    }
    let (head, tail) = buf.split_at(len);
    *buf = tail;
    Ok(head)
}

fn length_delimited<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], Malformed> {
    let len = usize::try_from(decode_varint(buf)?).map_err(|_| Malformed)?;
    take(buf, len)
}

fn skip(buf: &mut &[u8], wire_type: WireType) -> Result<(), Malformed> {
    match wire_type {
        WireType::Varint => decode_varint(buf).map(drop).map_err(Malformed::from),
        WireType::SixtyFourBit => take(buf, 8).map(drop),
        WireType::ThirtyTwoBit => take(buf, 4).map(drop),
        WireType::LengthDelimited => length_delimited(buf).map(drop),
        WireType::StartGroup | WireType::EndGroup => Err(Malformed),
    }
}

fn enum_value(index: usize, number: i32) -> Value {
    ENUMS[index]
        .values
        .iter()
        .find(|(_, n)| *n == number)
        .map_or(Value::from(number), |(name, _)| Value::from(*name))
}

fn double_value(value: f64) -> Value {
    match value {
        v if v.is_nan() => Value::from("NaN"),
        v if v == f64::INFINITY => Value::from("Infinity"),
        v if v == f64::NEG_INFINITY => Value::from("-Infinity"),
        v => Number::from_f64(v).map_or(Value::Null, Value::Number),
    }
}

/// One scalar (or a message) of `kind` from `buf`.
fn decode_single(buf: &mut &[u8], kind: Kind, wire_type: WireType) -> Result<Value, Malformed> {
    Ok(match (kind, wire_type) {
        (Kind::Int32, WireType::Varint) => Value::from(decode_varint(buf)? as i32),
        (Kind::Int64, WireType::Varint) => Value::from((decode_varint(buf)? as i64).to_string()),
        (Kind::Bool, WireType::Varint) => Value::from(decode_varint(buf)? != 0),
        (Kind::Enum(index), WireType::Varint) => enum_value(index, decode_varint(buf)? as i32),
        (Kind::Double, WireType::SixtyFourBit) => {
            let bytes: [u8; 8] = take(buf, 8)?.try_into().map_err(|_| Malformed)?;
            double_value(f64::from_le_bytes(bytes))
        }
        (Kind::String, WireType::LengthDelimited) => {
            Value::from(core::str::from_utf8(length_delimited(buf)?).map_err(|_| Malformed)?)
        }
        (Kind::Message(index), WireType::LengthDelimited) => {
            decode_message(&mut length_delimited(buf)?, index)?
        }
        _ => return Err(Malformed),
    })
}

/// A map entry's key and value.
fn decode_entry(mut entry: &[u8]) -> Result<(String, String), Malformed> {
    let (mut key, mut value) = (String::new(), String::new());
    while !entry.is_empty() {
        let (number, wire_type) = decode_key(&mut entry)?;
        match (number, wire_type) {
            (1 | 2, WireType::LengthDelimited) => {
                let text =
                    core::str::from_utf8(length_delimited(&mut entry)?).map_err(|_| Malformed)?.to_string();
                if number == 1 { key = text } else { value = text }
            }
            _ => skip(&mut entry, wire_type)?,
        }
    }
    Ok((key, value))
}

fn decode_message(buf: &mut &[u8], index: usize) -> Result<Value, Malformed> {
    let schema = &MESSAGES[index];
    let mut object = Map::new();
    while !buf.is_empty() {
        let (number, wire_type) = decode_key(buf)?;
        let Some(field) = schema.fields.iter().find(|f| f.number == number) else {
            skip(buf, wire_type)?;
            continue;
        };
        let name = field.json_name.to_string();
        if field.kind == Kind::Map {
            let (key, value) = decode_entry(length_delimited(buf)?)?;
            let map = object.entry(name).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(map) = map {
                map.insert(key, Value::from(value));
            }
        } else if field.repeated {
            let list = object.entry(name).or_insert_with(|| Value::Array(Vec::new()));
            let Value::Array(list) = list else { return Err(Malformed) };
            let packable =
                matches!(field.kind, Kind::Int32 | Kind::Int64 | Kind::Bool | Kind::Enum(_) | Kind::Double);
            if packable && wire_type == WireType::LengthDelimited {
                let mut packed = length_delimited(buf)?;
                let element_wire =
                    if field.kind == Kind::Double { WireType::SixtyFourBit } else { WireType::Varint };
                while !packed.is_empty() {
                    list.push(decode_single(&mut packed, field.kind, element_wire)?);
                }
            } else {
                list.push(decode_single(buf, field.kind, wire_type)?);
            }
        } else {
            object.insert(name, decode_single(buf, field.kind, wire_type)?);
        }
    }
    Ok(Value::Object(object))
}

// ---- JSON to protobuf bytes ----

/// What a JSON value is, for error messages ("a string").
pub fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// An integer in `[min, max]` from a JSON number or a string holding one.
fn integer(value: &Value, min: i64, max: i64, path: &str) -> Result<i64, JsonError> {
    let parsed = match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            ((f as i64) as f64 == f).then_some(f as i64)
        }),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        other => return Err(error(path, format!("expected an integer, got {}", kind_name(other)))),
    };
    match parsed {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        Some(n) => Err(error(path, format!("{n} is out of range [{min}, {max}]"))),
        None => Err(error(path, format!("{value} is not an integer"))),
    }
}

fn double(value: &Value, path: &str) -> Result<f64, JsonError> {
    match value {
        Value::Number(n) => n.as_f64().ok_or_else(|| error(path, "not a number")),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => other.parse().map_err(|_| error(path, format!("\"{other}\" is not a number"))),
        },
        other => Err(error(path, format!("expected a number, got {}", kind_name(other)))),
    }
}

fn enum_number(index: usize, value: &Value, path: &str) -> Result<i32, JsonError> {
    let schema = &ENUMS[index];
    match value {
        Value::String(name) => schema
            .values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, number)| *number)
            .ok_or_else(|| error(path, format!("unknown {} value \"{name}\"", schema.name))),
        other => Ok(integer(other, i32::MIN.into(), i32::MAX.into(), path)? as i32),
    }
}

fn length_prefixed(number: u32, content: &[u8], out: &mut Vec<u8>) {
    encode_key(number, WireType::LengthDelimited, out);
    encode_varint(content.len() as u64, out);
    out.extend_from_slice(content);
}

/// Encodes one element of a field (a scalar, enum or message), never packed.
fn encode_single(field: &FieldSchema, value: &Value, path: &str, out: &mut Vec<u8>) -> Result<(), JsonError> {
    let number = field.number;
    match field.kind {
        Kind::Int32 | Kind::Int64 | Kind::Enum(_) | Kind::Bool => {
            encode_key(number, WireType::Varint, out);
            encode_varint(varint_of(field.kind, value, path)?, out);
        }
        Kind::Double => {
            encode_key(number, WireType::SixtyFourBit, out);
            out.extend_from_slice(&double(value, path)?.to_le_bytes());
        }
        Kind::String => match value {
            Value::String(s) => length_prefixed(number, s.as_bytes(), out),
            other => return Err(error(path, format!("expected a string, got {}", kind_name(other)))),
        },
        Kind::Message(index) => {
            let mut content = Vec::new();
            encode_message(value, index, path, &mut content)?;
            length_prefixed(number, &content, out);
        }
        Kind::Map => return Err(error(path, "a map cannot be a list element")),
    }
    Ok(())
}

/// The varint of an integer, bool or enum value (negative numbers sign-extended, as protobuf
/// encodes `int32` and `int64`).
fn varint_of(kind: Kind, value: &Value, path: &str) -> Result<u64, JsonError> {
    Ok(match kind {
        Kind::Int32 => integer(value, i32::MIN.into(), i32::MAX.into(), path)? as u64,
        Kind::Int64 => integer(value, i64::MIN, i64::MAX, path)? as u64,
        Kind::Enum(index) => i64::from(enum_number(index, value, path)?) as u64,
        Kind::Bool => match value {
            Value::Bool(b) => u64::from(*b),
            other => return Err(error(path, format!("expected true or false, got {}", kind_name(other)))),
        },
        _ => return Err(error(path, "not a varint field")),
    })
}

fn encode_message(value: &Value, index: usize, path: &str, out: &mut Vec<u8>) -> Result<(), JsonError> {
    let object = match value {
        Value::Object(object) => object,
        Value::Null => return Ok(()),
        other => return Err(error(path, format!("expected an object, got {}", kind_name(other)))),
    };
    for field in MESSAGES[index].fields {
        let Some(value) = object.get(field.json_name).or_else(|| object.get(field.proto_name)) else {
            continue;
        };
        let path = join(path, field.json_name);
        match (value, field.kind, field.repeated) {
            (Value::Null, _, _) => {}
            (Value::Object(entries), Kind::Map, _) => {
                for (key, entry) in entries {
                    let Value::String(text) = entry else {
                        return Err(error(
                            &join(&path, key),
                            format!("expected a string, got {}", kind_name(entry)),
                        ));
                    };
                    let mut content = Vec::new();
                    length_prefixed(1, key.as_bytes(), &mut content);
                    length_prefixed(2, text.as_bytes(), &mut content);
                    length_prefixed(field.number, &content, out);
                }
            }
            (other, Kind::Map, _) => {
                return Err(error(&path, format!("expected an object, got {}", kind_name(other))));
            }
            (Value::Array(items), Kind::Int32 | Kind::Int64 | Kind::Enum(_) | Kind::Bool, true) => {
                let mut packed = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    encode_varint(varint_of(field.kind, item, &format!("{path}[{i}]"))?, &mut packed);
                }
                if !packed.is_empty() {
                    length_prefixed(field.number, &packed, out);
                }
            }
            (Value::Array(items), _, true) => {
                for (i, item) in items.iter().enumerate() {
                    encode_single(field, item, &format!("{path}[{i}]"), out)?;
                }
            }
            (other, _, true) => {
                return Err(error(&path, format!("expected a list, got {}", kind_name(other))));
            }
            (value, _, false) => encode_single(field, value, &path, out)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::*;
    use alloc::collections::BTreeMap;
    use alloc::vec;

    fn text<M: Described>(message: &M) -> String {
        String::from_utf8(to_json(message)).unwrap()
    }

    #[test]
    fn schema_lists_every_message_and_enum() {
        assert_eq!(MESSAGES.len(), 35);
        assert_eq!(ENUMS.len(), 2);
        assert_eq!(MESSAGES[<VmConfig as Described>::MESSAGE].fields[0].proto_name, "cpu");
        assert_eq!(MESSAGES[<NetworkInterface as Described>::MESSAGE].fields.len(), 10);
    }

    #[test]
    fn writes_camel_case_names_and_omits_defaults() {
        let request = CreateVmRequest {
            vm_id: String::new(),
            config: Some(VmConfig {
                memory: Some(MemoryConfig {
                    size_bytes: 1 << 30,
                    hotplug_enabled: true,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            customer_id: "alice".into(),
        };
        assert_eq!(
            text(&request),
            r#"{"config":{"memory":{"hotplugEnabled":true,"sizeBytes":"1073741824"}},"customerId":"alice"}"#
        );
    }

    #[test]
    fn writes_enums_as_names_and_unknown_numbers_as_numbers() {
        assert_eq!(
            text(&BootVmResponse { success: true, state: VmState::Running as i32 }),
            r#"{"state":"VM_STATE_RUNNING","success":true}"#
        );
        assert_eq!(text(&BootVmResponse { success: true, state: 42 }), r#"{"state":42,"success":true}"#);
        let list = ListVmsRequest { state_filter: vec![1, 9], ..Default::default() };
        assert_eq!(text(&list), r#"{"stateFilter":["VM_STATE_CREATED",9]}"#);
    }

    #[test]
    fn reads_proto_names_camel_names_strings_numbers_and_nulls() {
        let info: VmInfo = from_json(
            br#"{"vm_id":"ud-1","state":"VM_STATE_PAUSED","vcpuCount":"4","memory_size_bytes":2048,
                "createdTimestamp":"17","metadata":{"a":"b"},"customerId":null,"unknownField":[1]}"#,
        )
        .unwrap();
        assert_eq!(info.vm_id, "ud-1");
        assert_eq!(info.state, VmState::Paused as i32);
        assert_eq!(info.vcpu_count, 4);
        assert_eq!(info.memory_size_bytes, 2048);
        assert_eq!(info.created_timestamp, 17);
        assert_eq!(info.metadata, BTreeMap::from([("a".into(), "b".into())]));
        assert_eq!(info.customer_id, "");
    }

    #[test]
    fn reads_enum_numbers_including_unknown_ones() {
        assert_eq!(from_json::<BootVmResponse>(br#"{"state":3}"#).unwrap().state, 3);
        assert_eq!(from_json::<BootVmResponse>(br#"{"state":77}"#).unwrap().state, 77);
        let filter: ListVmsRequest = from_json(br#"{"stateFilter":["VM_STATE_RUNNING",2,88]}"#).unwrap();
        assert_eq!(filter.state_filter, [2, 2, 88]);
    }

    #[test]
    fn rejects_out_of_range_numbers_and_unknown_enum_names_with_paths() {
        let error = from_json::<VmInfo>(br#"{"vcpuCount":3000000000}"#).unwrap_err();
        assert_eq!(error.path, "vcpuCount");
        assert!(from_json::<VmInfo>(br#"{"memorySizeBytes":"12x"}"#).is_err());
        let error = from_json::<ListVmsResponse>(br#"{"vms":[{"state":"VM_STATE_EXPLODED"}]}"#).unwrap_err();
        assert_eq!(error.to_string(), "vms[0].state: unknown VmState value \"VM_STATE_EXPLODED\"");
    }

    #[test]
    fn non_finite_doubles_use_their_string_spellings() {
        let metrics = VmMetrics { cpu_usage_percent: f64::INFINITY, ..Default::default() };
        assert_eq!(text(&metrics), r#"{"cpuUsagePercent":"Infinity"}"#);
        assert!(from_json::<VmMetrics>(br#"{"cpuUsagePercent":"NaN"}"#).unwrap().cpu_usage_percent.is_nan());
        assert_eq!(from_json::<VmMetrics>(br#"{"cpuUsagePercent":12.5}"#).unwrap().cpu_usage_percent, 12.5);
    }

    #[test]
    fn negative_integers_round_trip() {
        let limit = RateLimit { bandwidth: -5, refill_time: i64::MIN, burst: i64::MAX };
        let topology = CpuTopology { sockets: -1, cores_per_socket: i32::MIN, threads_per_core: 7 };
        assert_eq!(from_json::<RateLimit>(&to_json(&limit)).unwrap(), limit);
        assert_eq!(from_json::<CpuTopology>(&to_json(&topology)).unwrap(), topology);
    }

    #[test]
    fn json_round_trips_a_full_config_and_responses() {
        let config = VmConfig {
            cpu: Some(CpuConfig {
                vcpu_count: 2,
                max_vcpu_count: 4,
                topology: Some(CpuTopology { sockets: 1, cores_per_socket: 2, threads_per_core: 1 }),
                features: BTreeMap::from([("avx".into(), "on".into())]),
            }),
            storage: vec![StorageDevice {
                id: "r".into(),
                options: BTreeMap::from([("k".into(), "v".into())]),
                ..Default::default()
            }],
            network: vec![NetworkInterface {
                id: "eth0".into(),
                mode: NetworkMode::Ipv6Only as i32,
                ipv4_config: Some(IPv4Config {
                    dns_servers: vec!["1.1.1.1".into(), "8.8.8.8".into()],
                    dhcp: true,
                    ..Default::default()
                }),
                ipv6_config: Some(IPv6Config { slaac: true, prefix_length: 64, ..Default::default() }),
                rx_rate_limit: Some(RateLimit { bandwidth: 1 << 40, refill_time: 100, burst: 7 }),
                ..Default::default()
            }],
            metadata: BTreeMap::from([("a".into(), "b".into()), ("c".into(), "d".into())]),
            ..Default::default()
        };
        assert_eq!(from_json::<VmConfig>(&to_json(&config)).unwrap(), config);
        let list = ListVmsResponse {
            vms: vec![
                VmInfo { vm_id: "a".into(), state: 2, ..Default::default() },
                VmInfo { vm_id: "b".into(), ..Default::default() },
            ],
            next_page_token: "t".into(),
            total_count: 2,
        };
        assert_eq!(from_json::<ListVmsResponse>(&to_json(&list)).unwrap(), list);
    }

    #[test]
    fn wrong_types_and_malformed_documents_are_errors() {
        assert!(from_json::<VmConfig>(b"[1]").is_err());
        assert!(from_json::<VmConfig>(b"{").is_err());
        let error = from_json::<VmConfig>(br#"{"storage":{"id":"x"}}"#).unwrap_err();
        assert_eq!(error.to_string(), "storage: expected a list, got an object");
        let error = from_json::<VmConfig>(br#"{"metadata":{"a":1}}"#).unwrap_err();
        assert_eq!(error.path, "metadata.a");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_json_never_panics(text in "\\PC{0,200}") {
            let _ = from_json::<GetVmInfoResponse>(text.as_bytes());
        }
    }
}

/// Go's `encoding/json` shape of records mirroring the messages (metald-cli's `-json`).
#[cfg(feature = "go")]
pub mod go;
