//! Pins the shape of the wire schema against the real server's (docs/upstream.md#schema).
#![allow(clippy::unwrap_used)]

use prost_types::field_descriptor_proto::Type;

fn schema() -> prost_types::FileDescriptorProto {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut set = protox::compile(["metal/vmprovisioner/v1/vmprovisioner.proto"], [root]).unwrap();
    set.file.pop().unwrap()
}

#[test]
fn schema_has_35_messages_2_enums_and_127_field_tags() {
    let file = schema();
    assert_eq!(file.package(), "metal.vmprovisioner.v1");
    assert!(file.dependency.is_empty(), "no imports, no well-known types");
    assert_eq!(file.message_type.len(), 35);
    assert_eq!(file.enum_type.len(), 2);
    let tags: usize = file.message_type.iter().map(|m| m.field.len()).sum();
    assert_eq!(tags, 127);
}

#[test]
fn service_has_the_nine_unary_rpcs() {
    let file = schema();
    let service = &file.service[0];
    assert_eq!(service.name(), "VmService");
    let names: Vec<_> = service.method.iter().map(|m| m.name()).collect();
    assert_eq!(
        names,
        [
            "CreateVm",
            "DeleteVm",
            "BootVm",
            "ShutdownVm",
            "PauseVm",
            "ResumeVm",
            "RebootVm",
            "GetVmInfo",
            "ListVms"
        ]
    );
    for method in &service.method {
        assert!(!method.client_streaming() && !method.server_streaming());
        assert_eq!(method.input_type(), format!(".metal.vmprovisioner.v1.{}Request", method.name()));
        assert_eq!(method.output_type(), format!(".metal.vmprovisioner.v1.{}Response", method.name()));
    }
}

#[test]
fn network_interface_skips_field_9() {
    let file = schema();
    let nic = file.message_type.iter().find(|m| m.name() == "NetworkInterface").unwrap();
    let numbers: Vec<_> = nic.field.iter().map(|f| f.number()).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5, 6, 7, 8, 10, 11]);
    assert!(nic.reserved_range.is_empty(), "a gap, not `reserved`");
}

#[test]
fn state_filter_is_a_packed_repeated_enum() {
    let file = schema();
    let list = file.message_type.iter().find(|m| m.name() == "ListVmsRequest").unwrap();
    let filter = &list.field[0];
    assert_eq!((filter.name(), filter.number(), filter.r#type()), ("state_filter", 1, Type::Enum));
    assert_eq!(filter.type_name(), ".metal.vmprovisioner.v1.VmState");
}
