//! Hand-checked encodings of the wire protocol (docs/upstream.md#wire-protocol) and schema shape checks.

use crate::*;
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use prost::Message;

const VM_ID: &str = "ud-0123456789abcdef";

fn hex(text: &str) -> Vec<u8> {
    text.split_whitespace().map(|byte| u8::from_str_radix(byte, 16).unwrap()).collect()
}

fn id_bytes() -> Vec<u8> {
    let mut bytes = hex("0a 13");
    bytes.extend_from_slice(VM_ID.as_bytes());
    bytes
}

/// Encodes `message`, checks the bytes, and checks they decode back to `message`.
fn assert_wire<M: Message + Default + PartialEq + core::fmt::Debug>(message: M, expected: &[u8]) {
    assert_eq!(message.encode_to_vec(), expected, "encoding of {message:?}");
    assert_eq!(M::decode(expected).unwrap(), message);
}

#[test]
fn boot_request_encodes_its_vm_id() {
    assert_wire(BootVmRequest { vm_id: VM_ID.into() }, &id_bytes());
}

#[test]
fn shutdown_request_omits_false_force() {
    let mut expected = id_bytes();
    expected.extend(hex("18 1e"));
    assert_wire(ShutdownVmRequest { vm_id: VM_ID.into(), force: false, timeout_seconds: 30 }, &expected);
}

#[test]
fn list_request_with_page_size_50() {
    assert_wire(ListVmsRequest { page_size: 50, ..Default::default() }, &hex("10 32"));
}

#[test]
fn create_response_carries_id_and_state() {
    let mut expected = id_bytes();
    expected.extend(hex("10 01"));
    assert_wire(CreateVmResponse { vm_id: VM_ID.into(), state: VmState::Created as i32 }, &expected);
}

#[test]
fn state_filter_encodes_packed_and_decodes_both_forms() {
    let request = ListVmsRequest { state_filter: vec![1, 2], ..Default::default() };
    assert_wire(request.clone(), &hex("0a 02 01 02"));
    assert_eq!(ListVmsRequest::decode(&hex("08 01 08 02")[..]).unwrap(), request);
}

#[test]
fn metadata_map_entry_uses_key_1_value_2() {
    let config = VmConfig { metadata: BTreeMap::from([("a".into(), "b".into())]), ..Default::default() };
    assert_wire(config, &hex("3a 06 0a 01 61 12 01 62"));
}

#[test]
fn one_gib_memory_is_a_five_byte_varint() {
    assert_wire(MemoryConfig { size_bytes: 1 << 30, ..Default::default() }, &hex("08 80 80 80 80 04"));
}

#[test]
fn unknown_enum_numbers_survive_a_round_trip() {
    let bytes = hex("08 01 10 09");
    let response = BootVmResponse::decode(&bytes[..]).unwrap();
    assert_eq!(response.state, 9);
    assert_eq!(response.encode_to_vec(), bytes);

    let unknown_mode = hex("40 07");
    let nic = NetworkInterface::decode(&unknown_mode[..]).unwrap();
    assert_eq!(nic.mode, 7);
    assert_eq!(nic.encode_to_vec(), unknown_mode);

    let filter = hex("0a 02 05 63");
    let list = ListVmsRequest::decode(&filter[..]).unwrap();
    assert_eq!(list.state_filter, [5, 99]);
    assert_eq!(list.encode_to_vec(), filter);
}

#[test]
fn rate_limits_use_field_numbers_10_and_11() {
    let nic = NetworkInterface {
        rx_rate_limit: Some(RateLimit { bandwidth: 1, ..Default::default() }),
        tx_rate_limit: Some(RateLimit { burst: 2, ..Default::default() }),
        ..Default::default()
    };
    // field 10, wire type 2 = 0x52; field 11 = 0x5a.
    assert_wire(nic, &hex("52 02 08 01 5a 02 18 02"));
}
