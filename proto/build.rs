//! Generates the prost types of `metal.vmprovisioner.v1` with `protox` (no protoc binary).
//!
//! With the `json` feature, every message also derives serde's traits with attributes that
//! follow the protobuf JSON mapping: lowerCamelCase names (proto names accepted on input),
//! default values omitted, enums as their names, 64-bit integers as strings, null as default.

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FileDescriptorSet};

const PROTO: &str = "metal/vmprovisioner/v1/vmprovisioner.proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed={}", root.join(PROTO).display());
    let fds = protox::compile([PROTO], [root])?;

    let mut config = prost_build::Config::new();
    // BTreeMap keeps the crate no_std and makes encoded map entries deterministic (sorted).
    config.btree_map(["."]);
    if std::env::var_os("CARGO_FEATURE_JSON").is_some() {
        add_json_attributes(&mut config, &fds);
    }
    config.compile_fds(fds)?;
    Ok(())
}

fn add_json_attributes(config: &mut prost_build::Config, fds: &FileDescriptorSet) {
    for file in &fds.file {
        let package = file.package();
        for message in &file.message_type {
            let path = format!(".{package}.{}", message.name());
            config
                .type_attribute(&path, "#[derive(serde::Serialize, serde::Deserialize)]\n#[serde(default)]");
            for field in &message.field {
                config.field_attribute(
                    format!("{path}.{}", field.name()),
                    field_attribute(message, field, package),
                );
            }
        }
    }
}

/// The serde attribute of one field: names, omission of defaults, and its value mapping.
fn field_attribute(
    message: &DescriptorProto,
    field: &prost_types::FieldDescriptorProto,
    package: &str,
) -> String {
    let mut parts = vec![
        format!("rename = \"{}\"", field.json_name()),
        "skip_serializing_if = \"crate::json::is_default\"".to_string(),
    ];
    if field.json_name() != field.name() {
        parts.push(format!("alias = \"{}\"", field.name()));
    }
    let repeated = field.label() == Label::Repeated;
    let is_map = repeated
        && field.r#type() == Type::Message
        && message.nested_type.iter().any(|nested| {
            nested.options.as_ref().is_some_and(|o| o.map_entry())
                && field.type_name().ends_with(&format!(".{}", nested.name()))
        });
    let mapping = match (field.r#type(), repeated) {
        (Type::Int64, false) => Some("with = \"crate::json::int64\"".to_string()),
        (Type::Int32, false) => Some("with = \"crate::json::int32\"".to_string()),
        (Type::Double, false) => Some("with = \"crate::json::double\"".to_string()),
        (Type::Enum, single_or_list) => {
            let rust_type = field.type_name().trim_start_matches(&format!(".{package}.")).to_string();
            let module = if single_or_list { "enum_list" } else { "enumeration" };
            Some(format!(
                "serialize_with = \"crate::json::{module}::serialize::<crate::{rust_type}, _>\", \
                 deserialize_with = \"crate::json::{module}::deserialize::<crate::{rust_type}, _>\""
            ))
        }
        // Singular messages are `Option`s, which already read null as absent.
        (Type::Message, false) => None,
        _ if is_map || repeated => Some("deserialize_with = \"crate::json::null_default\"".into()),
        (Type::String | Type::Bool, false) => Some("deserialize_with = \"crate::json::null_default\"".into()),
        (other, _) => panic!("field {} has type {other:?}, which json.rs does not map", field.name()),
    };
    parts.extend(mapping);
    format!("#[serde({})]", parts.join(", "))
}
