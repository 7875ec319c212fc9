use super::*;
use crate::bindings::exports::metald::client::templates::Template;
use crate::errors::issue;
use crate::model::*;

const GO_WEB_SERVER: &str = include_str!("../../testdata/go-web-server.json");
const GO_CONFIG_GEN: &str = include_str!("../../testdata/go-config-gen-development.json");

fn problems(text: &str) -> Vec<ValidationIssue> {
    match parse(text) {
        Err(Error::InvalidConfig(issues)) => issues,
        other => panic!("expected invalid-config, got {other:?}"),
    }
}

#[test]
fn go_written_files_load_and_render_back_byte_for_byte() {
    for text in [GO_WEB_SERVER, GO_CONFIG_GEN] {
        let file = parse(text).unwrap();
        assert_eq!(render(&file), text);
    }
}

#[test]
fn go_written_file_becomes_the_config_go_would_build() {
    let config = to_vm_config(&parse(GO_WEB_SERVER).unwrap()).unwrap();
    let cpu = config.cpu.clone().unwrap();
    assert_eq!((cpu.vcpu_count, cpu.max_vcpu_count), (4, 8));
    let memory = config.memory.clone().unwrap();
    assert_eq!((memory.size_bytes, memory.max_size_bytes, memory.hotplug_enabled), (8 << 30, 32 << 30, true));
    assert_eq!(config.storage.len(), 1, "template disks are replaced, not added to");
    assert_eq!(config.network.len(), 1);
    assert_eq!(
        config.metadata,
        map_from([
            ("config_description", "Configuration for web server VMs"),
            ("config_name", "web-server"),
            ("environment", "production"),
            ("purpose", "web-server"),
        ])
    );
    assert_eq!(crate::validation::config_issues(&config), []);
}

#[test]
fn null_metadata_keeps_the_templates_metadata() {
    let text = GO_WEB_SERVER.replace(
        "\"metadata\": {\n    \"environment\": \"production\",\n    \"purpose\": \"web-server\"\n  }",
        "\"metadata\": null",
    );
    let file = parse(&text).unwrap();
    assert_eq!(file.metadata, None);
    let config = to_vm_config(&file).unwrap();
    assert_eq!(map_get(&config.metadata, "template"), Some("standard"));
    assert_eq!(map_get(&config.metadata, "purpose"), Some("general"));
    assert_eq!(render(&file), text, "null is written back as null");
}

#[test]
fn file_to_config_to_file_is_lossless() {
    for text in [GO_WEB_SERVER, GO_CONFIG_GEN] {
        let file = parse(text).unwrap();
        let config = to_vm_config(&file).unwrap();
        let mut back = from_vm_config(&config, &file.name, &file.description).unwrap();
        back.template = file.template.clone();
        assert_eq!(back, file);
        assert_eq!(render(&back), text);
    }
}

#[test]
fn config_to_file_to_config_keeps_every_field() {
    let mut builder = crate::templates::builder(Template::HighCpu);
    builder.add_network_with_custom_config(
        "eth1",
        "virtio-net",
        NetworkMode::Ipv4Only,
        Some(Ipv4Config {
            address: "10.0.0.5".into(),
            netmask: "255.255.255.0".into(),
            gateway: "10.0.0.1".into(),
            dns_servers: vec!["1.1.1.1".into()],
            dhcp: false,
        }),
        Some(Ipv6Config {
            address: "fd00::5".into(),
            prefix_length: 64,
            gateway: "fd00::1".into(),
            dns_servers: vec![],
            slaac: false,
            privacy_extensions: false,
            link_local: "fe80::5".into(),
        }),
    );
    let mut config = builder.into_config();
    config.cpu.as_mut().unwrap().topology =
        Some(CpuTopology { sockets: 1, cores_per_socket: 8, threads_per_core: 1 });
    config.cpu.as_mut().unwrap().features = map_from([("avx512", "on")]);
    config.memory.as_mut().unwrap().backing = map_from([("hugepages", "2M")]);
    config.boot.as_mut().unwrap().boot_options = map_from([("quiet", "1")]);
    config.console.as_mut().unwrap().input = "/dev/null".into();
    let nic = &mut config.network[1];
    nic.mac_address = "02:00:00:00:00:05".into();
    nic.tap_device = "tap5".into();
    nic.options = map_from([("mtu", "9000")]);
    nic.rx_rate_limit = Some(RateLimit { bandwidth: 1000, refill_time: 100, burst: 10 });
    nic.tx_rate_limit = Some(RateLimit { bandwidth: 2000, refill_time: 200, burst: 20 });

    let file = from_vm_config(&config, "n", "d").unwrap();
    let reparsed = parse(&render(&file)).unwrap();
    assert_eq!(reparsed, file);
    let mut back = to_vm_config(&reparsed).unwrap();
    map_remove(&mut back.metadata, "config_name");
    map_remove(&mut back.metadata, "config_description");
    assert_eq!(back, config);
}

#[test]
fn extension_fields_are_written_only_when_set() {
    let file = from_vm_config(&crate::templates::config(Template::Minimal), "m", "").unwrap();
    let text = render(&file);
    for key in [
        "topology",
        "features",
        "backing",
        "boot_options",
        "netmask",
        "prefix_length",
        "mac_address",
        "rate_limit",
        "\"input\"",
    ] {
        assert!(!text.contains(key), "{key} written for a plain template:\n{text}");
    }
}

#[test]
fn keys_match_case_insensitively_like_go() {
    let file = parse(r#"{"Name": "x", "CPU": {"VCPU_Count": 2, "max_vcpu_count": 4}}"#).unwrap();
    assert_eq!(file.name, "x");
    assert_eq!((file.cpu.vcpu_count, file.cpu.max_vcpu_count), (2, 4));
}

#[test]
fn missing_sections_read_as_empty_and_never_panic() {
    let file = parse("{}").unwrap();
    assert_eq!(file.cpu.vcpu_count, 0);
    assert!(file.storage.is_empty() && file.metadata.is_none());
    let config = to_vm_config(&file).unwrap();
    let issues = crate::validation::config_issues(&config);
    let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
    assert_eq!(fields, ["cpu.vcpu-count", "memory.size-bytes", "boot.kernel-path", "storage"]);
    let empty = VmConfig {
        cpu: None,
        memory: None,
        boot: None,
        storage: vec![],
        network: vec![],
        console: None,
        metadata: vec![],
    };
    let from_empty = from_vm_config(&empty, "e", "").unwrap();
    assert_eq!(from_empty.cpu.vcpu_count, 0);
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    assert_eq!(
        problems(
            r#"{"name": "x", "colour": "red", "cpu": {"vcpus": 2}, "network": [{"id": "e", "speed": 1}]}"#
        ),
        [
            issue("cpu.vcpus", "unknown key"),
            issue("network[0].speed", "unknown key"),
            issue("colour", "unknown key")
        ]
    );
}

#[test]
fn wrong_types_and_ranges_name_their_paths() {
    assert_eq!(
        problems(
            r#"{"name": 5, "cpu": {"vcpu_count": -1, "max_vcpu_count": 4294967296},
                "memory": {"size_mb": 1.5, "hotplug_enabled": "yes"},
                "storage": [{"id": "r", "read_only": 1}, 7], "metadata": {"a": 1}}"#
        ),
        [
            issue("name", "expected a string, got a number"),
            issue("cpu.vcpu_count", "-1 is out of range [0, 4294967295]"),
            issue("cpu.max_vcpu_count", "4294967296 is out of range [0, 4294967295]"),
            issue("memory.size_mb", "expected a whole number, got 1.5"),
            issue("memory.hotplug_enabled", "expected true or false, got a string"),
            issue("storage[0].read_only", "expected true or false, got a number"),
            issue("storage[1]", "expected an object, got a number"),
            issue("metadata.a", "expected a string, got a number"),
        ]
    );
}

#[test]
fn unknown_network_mode_and_template_are_errors() {
    assert_eq!(
        problems(r#"{"template": "huge", "network": [{"id": "e", "mode": "ipv5_only"}]}"#),
        [
            issue(
                "network[0].mode",
                "unknown mode \"ipv5_only\"; expected dual_stack, ipv4_only, ipv6_only or a mode number"
            ),
            issue(
                "template",
                "unknown template \"huge\"; expected one of: minimal, standard, high-cpu, high-memory, development"
            ),
        ]
    );
}

#[test]
fn invalid_json_and_non_objects_are_errors() {
    let Err(Error::InvalidConfig(issues)) = parse("{\"name\": ") else { panic!() };
    assert!(issues[0].message.starts_with("not valid JSON"), "{issues:?}");
    assert_eq!(problems("[1, 2]"), [issue("", "expected an object, got a list")]);
}

#[test]
fn memory_must_be_whole_mib_to_be_written() {
    let mut config = crate::templates::config(Template::Standard);
    config.memory.as_mut().unwrap().size_bytes = 1_000_000;
    let Err(Error::InvalidConfig(issues)) = from_vm_config(&config, "n", "d") else { panic!() };
    assert_eq!(
        issues,
        [issue(
            "memory.size-bytes",
            "1000000 bytes is not a whole number of MiB, which the file format stores"
        )]
    );
}

#[test]
fn huge_mib_values_do_not_overflow() {
    let file = parse(r#"{"memory": {"size_mb": 18446744073709551615}}"#).unwrap();
    let Err(Error::InvalidConfig(issues)) = to_vm_config(&file) else { panic!() };
    assert_eq!(issues[0].field, "memory.size_mb");
}

#[test]
fn empty_mode_and_interface_read_with_go_defaults() {
    let file = parse(r#"{"network": [{"id": "e", "mode": ""}], "storage": [{"id": "r", "path": "/r", "is_root_device": true}]}"#).unwrap();
    let config = to_vm_config(&file).unwrap();
    assert_eq!(config.network[0].mode, NetworkMode::DualStack);
    assert_eq!(config.network[0].interface_type, "virtio-net");
    assert_eq!(config.storage[0].interface_type, "virtio-blk");
}

#[test]
fn a_key_given_twice_is_an_issue_naming_its_path() {
    let text = GO_WEB_SERVER.replacen(
        "\"metadata\": {",
        "\"metadata\": {\"owner\": \"ops\"},\n  \"metadata\": {",
        1,
    );
    assert_eq!(problems(&text), [issue("metadata", "key given 2 times; give it once")]);
}

#[test]
fn case_variant_and_nested_duplicates_are_issues_in_every_object() {
    assert_eq!(
        problems(
            r#"{"name": "a", "Name": "b", "cpu": {"vcpu_count": 1, "VCPU_COUNT": 2},
                "network": [{"id": "e", "ipv4": {"dhcp": true, "dhcp": false}}],
                "metadata": {"a": "1", "A": "2", "a": "3"},
                "colour": 1, "colour": 2}"#
        ),
        [
            issue(
                "name",
                "key given 2 times (as \"name\", \"Name\"; keys match case-insensitively); give it once"
            ),
            issue(
                "cpu.vcpu_count",
                "key given 2 times (as \"vcpu_count\", \"VCPU_COUNT\"; keys match case-insensitively); give it once"
            ),
            issue("network[0].ipv4.dhcp", "key given 2 times; give it once"),
            issue("metadata.a", "key given 2 times; give it once"),
            issue("colour", "unknown key"),
        ]
    );
    assert_eq!(
        problems(r#"{"cpu": {"vcpu_count": 1}, "CPU": {"vcpu_count": 2}}"#),
        [issue(
            "cpu",
            "key given 2 times (as \"cpu\", \"CPU\"; keys match case-insensitively); give it once"
        )]
    );
    // Map keys are case-sensitive: `a` and `A` are two labels.
    let file = parse(r#"{"metadata": {"a": "1", "A": "2"}}"#).unwrap();
    assert_eq!(file.metadata, Some(map_from([("A", "2"), ("a", "1")])));
}

#[test]
fn a_mode_unknown_to_this_sdk_is_written_as_its_number_and_read_back() {
    let mut config = crate::templates::config(Template::Standard);
    config.network[0].mode = NetworkMode::Unknown(7);
    let file = from_vm_config(&config, "n", "").unwrap();
    let text = render(&file);
    assert!(text.contains("\"mode\": 7,"), "{text}");
    let reparsed = parse(&text).unwrap();
    assert_eq!(reparsed.network[0].mode, NetworkMode::Unknown(7));
    assert_eq!(to_vm_config(&reparsed).unwrap().network[0].mode, NetworkMode::Unknown(7));
    // Known numbers read as their modes; names are written for them.
    let file = parse(r#"{"network": [{"id": "a", "mode": 2}, {"id": "b", "mode": 0}]}"#).unwrap();
    assert_eq!(file.network[0].mode, NetworkMode::Ipv4Only);
    assert!(render(&file).contains("\"mode\": \"ipv4_only\""));
    assert_eq!(to_vm_config(&file).unwrap().network[1].mode, NetworkMode::DualStack);
    assert_eq!(
        problems(
            r#"{"network": [{"id": "a", "mode": 1.5}, {"id": "b", "mode": 4294967296}, {"id": "c", "mode": true}]}"#
        ),
        [
            issue("network[0].mode", "mode number 1.5 is not a 32-bit integer"),
            issue("network[1].mode", "mode number 4294967296 is not a 32-bit integer"),
            issue(
                "network[2].mode",
                "expected dual_stack, ipv4_only, ipv6_only or a mode number, got a boolean"
            ),
        ]
    );
}
