//! Protobuf JSON mapping for the generated types (the `json` feature).
//!
//! The build script puts these helpers on every field. Output follows the canonical mapping:
//! lowerCamelCase names, default values omitted, enums as names, 64-bit integers as strings,
//! non-finite doubles as `"NaN"`/`"Infinity"`/`"-Infinity"`. Input is lenient as the mapping
//! requires: proto names and lowerCamelCase names, numbers as JSON numbers or strings, enums
//! as names or numbers (unknown numbers are kept), `null` as the default value, and unknown
//! fields ignored.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};

/// Whether a field holds its default value (and is therefore omitted from output).
pub fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// Reads `null` as the field's default value.
pub fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A JSON scalar as the mapping may spell a number or an enum.
enum Scalar {
    Signed(i64),
    Unsigned(u64),
    Float(f64),
    Text(String),
    Null,
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, a string or null")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Signed(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Unsigned(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Text(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
                Scalar::deserialize(d)
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

impl Scalar {
    /// The value as an integer in `[min, max]`.
    fn integer<E: de::Error>(self, min: i64, max: i64) -> Result<i64, E> {
        let value = match self {
            Scalar::Signed(v) => i128::from(v),
            Scalar::Unsigned(v) => i128::from(v),
            // `as` saturates, so the round trip only holds for integral values in range.
            Scalar::Float(v) if (v as i128) as f64 == v && v > -9.3e18 && v < 9.3e18 => v as i128,
            Scalar::Float(v) => return Err(E::custom(format_args!("{v} is not an integer"))),
            Scalar::Text(s) => {
                s.trim().parse::<i128>().map_err(|_| E::custom(format_args!("\"{s}\" is not an integer")))?
            }
            Scalar::Null => 0,
        };
        if value < i128::from(min) || value > i128::from(max) {
            return Err(E::custom(format_args!("{value} is out of range [{min}, {max}]")));
        }
        Ok(value as i64)
    }
}

/// `int64` fields: written as decimal strings, read from strings or numbers.
pub mod int64 {
    use super::*;

    /// Writes the value as a decimal string.
    pub fn serialize<S: Serializer>(value: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    /// Reads a string or number.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        Scalar::deserialize(deserializer)?.integer(i64::MIN, i64::MAX)
    }
}

/// `int32` fields: written as numbers, read from numbers or strings.
pub mod int32 {
    use super::*;

    /// Writes the value as a number.
    pub fn serialize<S: Serializer>(value: &i32, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i32(*value)
    }

    /// Reads a number or string in `i32` range.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
        let value = Scalar::deserialize(deserializer)?.integer(i32::MIN.into(), i32::MAX.into())?;
        Ok(value as i32)
    }
}

/// `double` fields: numbers, with `"NaN"`, `"Infinity"` and `"-Infinity"` for non-finite values.
pub mod double {
    use super::*;

    /// Writes a number, or the mapping's string for a non-finite value.
    pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        match *value {
            v if v.is_nan() => serializer.serialize_str("NaN"),
            v if v == f64::INFINITY => serializer.serialize_str("Infinity"),
            v if v == f64::NEG_INFINITY => serializer.serialize_str("-Infinity"),
            v => serializer.serialize_f64(v),
        }
    }

    /// Reads a number or one of its string spellings.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        match Scalar::deserialize(deserializer)? {
            Scalar::Signed(v) => Ok(v as f64),
            Scalar::Unsigned(v) => Ok(v as f64),
            Scalar::Float(v) => Ok(v),
            Scalar::Null => Ok(0.0),
            Scalar::Text(s) => match s.as_str() {
                "NaN" => Ok(f64::NAN),
                "Infinity" => Ok(f64::INFINITY),
                "-Infinity" => Ok(f64::NEG_INFINITY),
                other => {
                    other.parse().map_err(|_| de::Error::custom(format_args!("\"{other}\" is not a number")))
                }
            },
        }
    }
}

/// A proto enum as the JSON mapping sees it: names for known numbers.
pub trait ProtoEnum {
    /// The enum's proto name, used in error messages.
    const NAME: &'static str;
    /// The value name of a known number (`VM_STATE_RUNNING`).
    fn name_of(number: i32) -> Option<&'static str>;
    /// The number of a value name.
    fn number_of(name: &str) -> Option<i32>;
}

macro_rules! proto_enum {
    ($($ty:ident),*) => {$(
        impl ProtoEnum for crate::$ty {
            const NAME: &'static str = stringify!($ty);
            fn name_of(number: i32) -> Option<&'static str> {
                crate::$ty::try_from(number).ok().map(|v| v.as_str_name())
            }
            fn number_of(name: &str) -> Option<i32> {
                crate::$ty::from_str_name(name).map(|v| v as i32)
            }
        }
    )*};
}
proto_enum!(VmState, NetworkMode);

fn enum_from_scalar<E: ProtoEnum, Er: de::Error>(scalar: Scalar) -> Result<i32, Er> {
    match scalar {
        Scalar::Text(name) => E::number_of(&name)
            .ok_or_else(|| Er::custom(format_args!("unknown {} value \"{name}\"", E::NAME))),
        // Open enums keep numbers they do not know.
        number => Ok(number.integer::<Er>(i32::MIN.into(), i32::MAX.into())? as i32),
    }
}

/// Singular enum fields.
pub mod enumeration {
    use super::*;

    /// Writes the value's name, or its number when the name is unknown.
    pub fn serialize<E: ProtoEnum, S: Serializer>(value: &i32, serializer: S) -> Result<S::Ok, S::Error> {
        match E::name_of(*value) {
            Some(name) => serializer.serialize_str(name),
            None => serializer.serialize_i32(*value),
        }
    }

    /// Reads a name or a number.
    pub fn deserialize<'de, E: ProtoEnum, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
        enum_from_scalar::<E, D::Error>(Scalar::deserialize(deserializer)?)
    }
}

/// Repeated enum fields.
pub mod enum_list {
    use super::*;

    /// Writes a list of names (numbers where unknown).
    pub fn serialize<E: ProtoEnum, S: Serializer>(values: &[i32], serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(values.len()))?;
        for value in values {
            match E::name_of(*value) {
                Some(name) => seq.serialize_element(name)?,
                None => seq.serialize_element(value)?,
            }
        }
        seq.end()
    }

    /// Reads a list of names or numbers; `null` is the empty list.
    pub fn deserialize<'de, E: ProtoEnum, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<i32>, D::Error> {
        struct ListVisitor<E>(core::marker::PhantomData<E>);
        impl<'de, E: ProtoEnum> Visitor<'de> for ListVisitor<E> {
            type Value = Vec<i32>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of enum names or numbers")
            }
            fn visit_unit<Er: de::Error>(self) -> Result<Vec<i32>, Er> {
                Ok(Vec::new())
            }
            fn visit_none<Er: de::Error>(self) -> Result<Vec<i32>, Er> {
                Ok(Vec::new())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<i32>, A::Error> {
                let mut out = Vec::new();
                while let Some(scalar) = seq.next_element::<Scalar>()? {
                    out.push(enum_from_scalar::<E, A::Error>(scalar)?);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_any(ListVisitor::<E>(core::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::*;
    use alloc::collections::BTreeMap;
    use alloc::vec;

    fn to_json<T: serde::Serialize>(value: &T) -> String {
        serde_json::to_string(value).unwrap()
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
            to_json(&request),
            r#"{"config":{"memory":{"sizeBytes":"1073741824","hotplugEnabled":true}},"customerId":"alice"}"#
        );
    }

    #[test]
    fn writes_enums_as_names_and_unknown_numbers_as_numbers() {
        let response = BootVmResponse { success: true, state: VmState::Running as i32 };
        assert_eq!(to_json(&response), r#"{"success":true,"state":"VM_STATE_RUNNING"}"#);
        let future = BootVmResponse { success: true, state: 42 };
        assert_eq!(to_json(&future), r#"{"success":true,"state":42}"#);
        let list = ListVmsRequest { state_filter: vec![1, 9], ..Default::default() };
        assert_eq!(to_json(&list), r#"{"stateFilter":["VM_STATE_CREATED",9]}"#);
    }

    #[test]
    fn reads_proto_names_camel_names_strings_numbers_and_nulls() {
        let info: VmInfo = serde_json::from_str(
            r#"{"vm_id":"ud-1","state":"VM_STATE_PAUSED","vcpuCount":"4","memory_size_bytes":2048,
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
        let response: BootVmResponse = serde_json::from_str(r#"{"state":3}"#).unwrap();
        assert_eq!(response.state, 3);
        let response: BootVmResponse = serde_json::from_str(r#"{"state":77}"#).unwrap();
        assert_eq!(response.state, 77);
        let filter: ListVmsRequest =
            serde_json::from_str(r#"{"stateFilter":["VM_STATE_RUNNING",2,88]}"#).unwrap();
        assert_eq!(filter.state_filter, [2, 2, 88]);
    }

    #[test]
    fn rejects_out_of_range_and_unknown_enum_names() {
        assert!(serde_json::from_str::<VmInfo>(r#"{"vcpuCount":3000000000}"#).is_err());
        assert!(serde_json::from_str::<VmInfo>(r#"{"memorySizeBytes":"12x"}"#).is_err());
        let err = serde_json::from_str::<VmInfo>(r#"{"state":"VM_STATE_EXPLODED"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown VmState value \"VM_STATE_EXPLODED\""), "{err}");
    }

    #[test]
    fn non_finite_doubles_use_their_string_spellings() {
        let metrics = VmMetrics { cpu_usage_percent: f64::INFINITY, ..Default::default() };
        assert_eq!(to_json(&metrics), r#"{"cpuUsagePercent":"Infinity"}"#);
        let back: VmMetrics = serde_json::from_str(r#"{"cpuUsagePercent":"NaN"}"#).unwrap();
        assert!(back.cpu_usage_percent.is_nan());
        let plain: VmMetrics = serde_json::from_str(r#"{"cpuUsagePercent":12.5}"#).unwrap();
        assert_eq!(plain.cpu_usage_percent, 12.5);
    }

    #[test]
    fn json_round_trips_a_full_config() {
        let config = VmConfig {
            cpu: Some(CpuConfig {
                vcpu_count: 2,
                max_vcpu_count: 4,
                topology: Some(CpuTopology { sockets: 1, cores_per_socket: 2, threads_per_core: 1 }),
                features: BTreeMap::from([("avx".into(), "on".into())]),
            }),
            network: vec![NetworkInterface {
                id: "eth0".into(),
                mode: NetworkMode::Ipv6Only as i32,
                ipv6_config: Some(IPv6Config { slaac: true, prefix_length: 64, ..Default::default() }),
                rx_rate_limit: Some(RateLimit { bandwidth: 1 << 40, refill_time: 100, burst: 7 }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let text = to_json(&config);
        let back: VmConfig = serde_json::from_str(&text).unwrap();
        assert_eq!(back, config);
    }
}
