//! What commands print on stdout: metald-cli's human format (docs/upstream.md#cli-output) or JSON.
//!
//! JSON output is always one document that parses. Its shape follows metald-cli: flat
//! snake_case objects for operations; `info` and `list` keep metald-cli's `VMID`/`State`/
//! `Config` and `VMs`/`NextPageToken`/`TotalCount` keys, with nested messages in snake_case,
//! zero values omitted and enums as numbers (Go's encoding of the protobuf structs).

use metald_host::bindings::types::*;
use metald_proto as proto;
use metald_proto::json::{Described, JsonError, go};
use serde::Serialize;
use serde_json::{Map, Value, json};

const MIB: i64 = 1 << 20;

/// `VM_STATE_RUNNING`; a state this SDK does not know is its number (`5`), as metald-cli's
/// protobuf enums print it. The names are metald-proto's schema table's, matched to the WIT
/// cases as the `info`/`list` JSON matches them (`go::enum_name`).
pub fn state_name(state: VmState) -> String {
    match state_json(state) {
        Value::String(name) => name,
        other => other.to_string(),
    }
}

/// A state in an operation's JSON: its name, or the number of a state this SDK does not know
/// (the protobuf JSON mapping's rule).
pub fn state_json(state: VmState) -> Value {
    serde_value(&state)
        .and_then(|case| go::enum_name::<proto::VmInfo>("state", &case))
        // Unreachable: every WIT case has its proto value (every_wit_enum_case_has_its_proto_number).
        .unwrap_or_else(|e| json!(format!("{state:?} ({e})")))
}

/// Pretty JSON with 2-space indent (keys sorted).
pub fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// An operation's result, human or JSON. `fields` are (human label, JSON key, value).
pub fn operation(title: &str, fields: &[(&str, &str, Value)], as_json: bool) -> String {
    if as_json {
        let object: Map<String, Value> =
            fields.iter().map(|(_, key, value)| (key.to_string(), value.clone())).collect();
        return pretty(&Value::Object(object));
    }
    let mut out = format!("{title}\n");
    for (label, _, value) in fields {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.push_str(&format!("  {label}: {text}\n"));
    }
    out.trim_end().to_string()
}

/// `record`, a WIT record mirroring proto message `M` (the WIT records keep the proto's field
/// names), as metald-cli's `-json` writes the Go struct of `M` (docs/upstream.md#cli-output):
/// derived from metald-proto's schema table, so a field added to the proto and the record
/// appears without an edit here.
fn shaped<M: Described>(record: &impl Serialize) -> Result<Value, JsonError> {
    go::shape::<M>(&serde_value(record)?)
}

/// serde's rendering of a WIT record (which cannot fail: its maps are lists of pairs).
fn serde_value(record: &impl Serialize) -> Result<Value, JsonError> {
    serde_json::to_value(record).map_err(|e| JsonError { path: String::new(), message: e.to_string() })
}

/// A VM config as metald-cli's `-json` writes the protobuf struct.
pub fn config_json(config: &VmConfig) -> Result<Value, JsonError> {
    shaped::<proto::VmConfig>(config)
}

fn mb(bytes: i64) -> i64 {
    bytes / MIB
}

/// metald-cli's `info -json`: its own struct (keys `VMID`, `State`, …, no `omitempty`, so
/// absent messages are `null`) around the fields of `GetVmInfoResponse` in Go's shape.
fn info_json(response: &GetVmInfoResponse) -> Result<Value, JsonError> {
    // No `..`: a field added to the record is a compile error here until it has a key.
    let GetVmInfoResponse { vm_id, state, config, metrics, network_info, backend_info } = response;
    fn field(name: &str, value: &impl Serialize) -> Result<Value, JsonError> {
        go::field::<proto::GetVmInfoResponse>(name, &serde_value(value)?)
    }
    let mut object = json!({
        "VMID": field("vm_id", vm_id)?,
        "State": field("state", state)?,
        "Config": field("config", config)?,
        "Metrics": field("metrics", metrics)?,
        "NetworkInfo": field("network_info", network_info)?,
    });
    // metald-cli's BackendInfo is a map with `omitempty`.
    if !backend_info.is_empty() {
        object["BackendInfo"] = field("backend_info", backend_info)?;
    }
    Ok(object)
}

/// `info`. The human format is metald-cli's fixed selection of fields (docs/upstream.md#cli-output),
/// so it reads fields by name: a new field does not appear there, as in metald-cli.
pub fn info(r: &GetVmInfoResponse, as_json: bool) -> Result<String, JsonError> {
    if as_json {
        return Ok(pretty(&info_json(r)?));
    }
    let mut out = format!("VM Information:\n  VM ID: {}\n  State: {}\n", r.vm_id, state_name(r.state));
    if let Some(c) = &r.config {
        let (vcpu, max) = c.cpu.as_ref().map_or((0, 0), |c| (c.vcpu_count, c.max_vcpu_count));
        out.push_str(&format!(
            "  Configuration:\n    CPUs: {vcpu} (max: {max})\n    Memory: {} MB\n    Storage devices: {}\n    Network interfaces: {}\n",
            mb(c.memory.as_ref().map_or(0, |m| m.size_bytes)),
            c.storage.len(),
            c.network.len()
        ));
    }
    if let Some(m) = &r.metrics {
        out.push_str(&format!(
            "  Metrics:\n    CPU usage: {:.2}%\n    Memory usage: {} MB\n    Uptime: {} seconds\n",
            m.cpu_usage_percent,
            mb(m.memory_usage_bytes),
            m.uptime_seconds
        ));
    }
    if let Some(n) = &r.network_info {
        out.push_str(&format!(
            "  Network:\n    IP: {}\n    MAC: {}\n    TAP: {}\n",
            n.ip_address, n.mac_address, n.tap_device
        ));
        if !n.port_mappings.is_empty() {
            out.push_str("    Port Mappings:\n");
            for p in &n.port_mappings {
                out.push_str(&format!("      {}:{}/{}\n", p.host_port, p.container_port, p.protocol));
            }
        }
    }
    Ok(out.trim_end().to_string())
}

/// `list`: every VM (all pages). JSON is metald-cli's own struct around each `VmInfo` in Go's
/// shape; the human format is metald-cli's selection of fields, read by name as in [`info`].
pub fn list(vms: &[VmInfo], tenant: &str, as_json: bool) -> Result<String, JsonError> {
    if as_json {
        let items = vms.iter().map(shaped::<proto::VmInfo>).collect::<Result<Vec<_>, _>>()?;
        // All pages are read, so there is no next page and the total is what was read.
        return Ok(pretty(&json!({ "VMs": items, "NextPageToken": "", "TotalCount": vms.len() })));
    }
    let id_width = vms.iter().map(|v| v.vm_id.len()).max().unwrap_or(0);
    let state_width = vms.iter().map(|v| state_name(v.state).len()).max().unwrap_or(0);
    let mut out = format!("VMs for tenant {tenant} (total: {}):\n", vms.len());
    for v in vms {
        out.push_str(&format!(
            "  - {:<id_width$}  {:<state_width$}  (CPUs: {}, Memory: {} MB)\n",
            format!("{}:", v.vm_id),
            state_name(v.state),
            v.vcpu_count,
            mb(v.memory_size_bytes),
            id_width = id_width + 1,
        ));
    }
    Ok(out.trim_end().to_string())
}

/// `config-validate` of a valid file.
pub fn config_valid(
    name: &str,
    description: &str,
    template: &str,
    config: &VmConfig,
    as_json: bool,
) -> String {
    if as_json {
        return pretty(
            &json!({ "valid": true, "name": name, "description": description, "template": template }),
        );
    }
    let (vcpu, max_vcpu) = config.cpu.as_ref().map_or((0, 0), |c| (c.vcpu_count, c.max_vcpu_count));
    let (size, max_size) = config.memory.as_ref().map_or((0, 0), |m| (m.size_bytes, m.max_size_bytes));
    let mut out = format!("Configuration is valid:\n  Name: {name}\n  Description: {description}\n");
    if !template.is_empty() {
        out.push_str(&format!("  Template: {template}\n"));
    }
    out.push_str(&format!(
        "  CPU: {vcpu} vCPUs (max: {max_vcpu})\n  Memory: {} MB (max: {} MB)\n  Storage devices: {}\n  Network interfaces: {}",
        mb(size),
        mb(max_size),
        config.storage.len(),
        config.network.len()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_print_like_metald_cli() {
        let fields = [
            ("VM ID", "vm_id", json!("ud-1")),
            ("Success", "success", json!(true)),
            ("State", "state", json!("VM_STATE_RUNNING")),
        ];
        assert_eq!(
            operation("VM boot operation:", &fields, false),
            "VM boot operation:\n  VM ID: ud-1\n  Success: true\n  State: VM_STATE_RUNNING"
        );
        let parsed: Value = serde_json::from_str(&operation("VM boot operation:", &fields, true)).unwrap();
        assert_eq!(parsed, json!({"state": "VM_STATE_RUNNING", "success": true, "vm_id": "ud-1"}));
    }

    fn info_in_state(state: VmState) -> GetVmInfoResponse {
        GetVmInfoResponse {
            vm_id: "ud-5".into(),
            config: None,
            state,
            metrics: None,
            backend_info: vec![],
            network_info: None,
        }
    }

    fn vm_in_state(id: &str, state: VmState) -> VmInfo {
        VmInfo {
            vm_id: id.into(),
            state,
            vcpu_count: 1,
            memory_size_bytes: MIB,
            created_timestamp: 0,
            modified_timestamp: 0,
            metadata: vec![],
            customer_id: String::new(),
        }
    }

    fn pairs(key: &str, value: &str) -> StringMap {
        vec![(key.into(), value.into())]
    }

    /// A config with every field of every message set to a value that is not the zero value.
    fn full_config() -> VmConfig {
        let limit = RateLimit { bandwidth: 1 << 33, refill_time: 100, burst: 7 };
        VmConfig {
            cpu: Some(CpuConfig {
                vcpu_count: 2,
                max_vcpu_count: 4,
                topology: Some(CpuTopology { sockets: 1, cores_per_socket: 2, threads_per_core: 1 }),
                features: pairs("avx", "on"),
            }),
            memory: Some(MemoryConfig {
                size_bytes: 1 << 30,
                hotplug_enabled: true,
                max_size_bytes: 1 << 31,
                backing: pairs("hugepages", "2M"),
            }),
            boot: Some(BootConfig {
                kernel_path: "/k".into(),
                initrd_path: "/i".into(),
                kernel_args: "console=ttyS0".into(),
                boot_options: pairs("o", "1"),
            }),
            storage: vec![StorageDevice {
                id: "rootfs".into(),
                path: "/r.ext4".into(),
                read_only: true,
                is_root_device: true,
                interface_type: "virtio-blk".into(),
                options: pairs("cache", "none"),
            }],
            network: vec![NetworkInterface {
                id: "eth0".into(),
                mac_address: "02:00:00:00:00:01".into(),
                tap_device: "tap0".into(),
                interface_type: "virtio-net".into(),
                options: pairs("mtu", "1500"),
                ipv4_config: Some(Ipv4Config {
                    address: "10.0.0.2".into(),
                    netmask: "255.255.255.0".into(),
                    gateway: "10.0.0.1".into(),
                    dns_servers: vec!["1.1.1.1".into()],
                    dhcp: true,
                }),
                ipv6_config: Some(Ipv6Config {
                    address: "fd00::2".into(),
                    prefix_length: 64,
                    gateway: "fd00::1".into(),
                    dns_servers: vec!["2606:4700::1111".into()],
                    slaac: true,
                    privacy_extensions: true,
                    link_local: "fe80::1".into(),
                }),
                mode: NetworkMode::Ipv6Only,
                rx_rate_limit: Some(limit),
                tx_rate_limit: Some(limit),
            }],
            console: Some(ConsoleConfig {
                enabled: true,
                output: "/c.log".into(),
                input: "/c.in".into(),
                console_type: "serial".into(),
            }),
            metadata: pairs("team", "infra"),
        }
    }

    /// A response with every field of every message set to a value that is not the zero value.
    fn full_info() -> GetVmInfoResponse {
        GetVmInfoResponse {
            vm_id: "ud-9".into(),
            config: Some(full_config()),
            state: VmState::Paused,
            metrics: Some(VmMetrics {
                cpu_usage_percent: 12.5,
                memory_usage_bytes: 3 << 20,
                network_stats: Some(NetworkStats {
                    bytes_received: 1,
                    bytes_transmitted: 2,
                    packets_received: 3,
                    packets_transmitted: 4,
                }),
                storage_stats: Some(StorageStats {
                    bytes_read: 5,
                    bytes_written: 6,
                    read_operations: 7,
                    write_operations: 8,
                }),
                uptime_seconds: 60,
            }),
            backend_info: pairs("backend", "firecracker"),
            network_info: Some(VmNetworkInfo {
                ip_address: "10.0.0.2".into(),
                mac_address: "02:00:00:00:00:01".into(),
                tap_device: "tap0".into(),
                network_namespace: "ns".into(),
                gateway: "10.0.0.1".into(),
                dns_servers: vec!["1.1.1.1".into()],
                port_mappings: vec![PortMapping {
                    container_port: 80,
                    host_port: 8080,
                    protocol: "tcp".into(),
                }],
            }),
        }
    }

    /// A listed VM with every field set to a value that is not the zero value.
    fn full_vm() -> VmInfo {
        VmInfo {
            vm_id: "ud-9".into(),
            state: VmState::Running,
            vcpu_count: 2,
            memory_size_bytes: 1 << 30,
            created_timestamp: 1_750_000_000,
            modified_timestamp: 1_750_000_001,
            metadata: pairs("team", "infra"),
            customer_id: "alice".into(),
        }
    }

    #[test]
    fn info_and_list_json_carry_every_field_of_the_proto_schema() {
        let info: Value = serde_json::from_str(&info(&full_info(), true).unwrap()).unwrap();
        // metald-cli's keys, mapped back to the GetVmInfoResponse fields they hold.
        let keys = [
            ("VMID", "vm_id"),
            ("State", "state"),
            ("Config", "config"),
            ("Metrics", "metrics"),
            ("NetworkInfo", "network_info"),
            ("BackendInfo", "backend_info"),
        ];
        let as_message: Map<String, Value> =
            keys.iter().map(|(key, field)| (field.to_string(), info[*key].clone())).collect();
        assert_eq!(info.as_object().map(Map::len), Some(keys.len()), "{info:#}");
        let missing = go::missing_fields::<proto::GetVmInfoResponse>(&Value::Object(as_message));
        assert!(missing.is_empty(), "info -json lacks {missing:?}");

        let list: Value = serde_json::from_str(&list(&[full_vm()], "acme", true).unwrap()).unwrap();
        let missing = go::missing_fields::<proto::VmInfo>(&list["VMs"][0]);
        assert!(missing.is_empty(), "list -json lacks {missing:?}");
        assert_eq!((list["NextPageToken"].clone(), list["TotalCount"].clone()), (json!(""), json!(1)));

        let missing = go::missing_fields::<proto::VmConfig>(&config_json(&full_config()).unwrap());
        assert!(missing.is_empty(), "the config JSON lacks {missing:?}");
    }

    #[test]
    fn info_json_nests_go_shaped_messages_under_metald_cli_keys() {
        let info: Value = serde_json::from_str(&info(&full_info(), true).unwrap()).unwrap();
        assert_eq!(info["VMID"], "ud-9");
        assert_eq!(info["State"], 3);
        assert_eq!(info["BackendInfo"], json!({"backend": "firecracker"}));
        assert_eq!(info["Config"]["network"][0]["mode"], 3);
        assert_eq!(info["Config"]["network"][0]["rx_rate_limit"]["bandwidth"], 1_i64 << 33);
        assert_eq!(info["Config"]["memory"]["backing"], json!({"hugepages": "2M"}));
        assert_eq!(
            info["Metrics"],
            json!({
                "cpu_usage_percent": 12.5,
                "memory_usage_bytes": 3 << 20,
                "network_stats": {"bytes_received": 1, "bytes_transmitted": 2, "packets_received": 3,
                    "packets_transmitted": 4},
                "storage_stats": {"bytes_read": 5, "bytes_written": 6, "read_operations": 7,
                    "write_operations": 8},
                "uptime_seconds": 60,
            })
        );
        assert_eq!(
            info["NetworkInfo"]["port_mappings"],
            json!([{"container_port": 80, "host_port": 8080, "protocol": "tcp"}])
        );
    }

    #[test]
    fn info_json_keeps_metald_cli_keys_of_absent_messages_as_null() {
        let text = info(&info_in_state(VmState::Unspecified), true).unwrap();
        assert_eq!(
            text,
            "{\n  \"Config\": null,\n  \"Metrics\": null,\n  \"NetworkInfo\": null,\n  \"State\": 0,\n  \"VMID\": \"ud-5\"\n}"
        );
    }

    /// The number `info`/`list` JSON writes for a WIT enum case, as field `field` of `M`.
    fn proto_number<M: Described>(field: &str, case: &impl Serialize) -> i64 {
        let value = serde_value(case).unwrap();
        let shaped =
            go::field::<M>(field, &value).unwrap_or_else(|e| panic!("{value} has no proto number: {e}"));
        shaped.as_i64().unwrap()
    }

    #[test]
    fn every_wit_enum_case_has_its_proto_number() {
        // The matches make a new WIT case a compile error here, until it is listed.
        let states = [
            VmState::Unspecified,
            VmState::Created,
            VmState::Running,
            VmState::Paused,
            VmState::Shutdown,
            VmState::Unknown(42),
        ];
        for state in states {
            match state {
                VmState::Unspecified
                | VmState::Created
                | VmState::Running
                | VmState::Paused
                | VmState::Shutdown
                | VmState::Unknown(_) => {}
            }
        }
        let modes = [
            NetworkMode::Unspecified,
            NetworkMode::DualStack,
            NetworkMode::Ipv4Only,
            NetworkMode::Ipv6Only,
            NetworkMode::Unknown(42),
        ];
        for mode in modes {
            match mode {
                NetworkMode::Unspecified
                | NetworkMode::DualStack
                | NetworkMode::Ipv4Only
                | NetworkMode::Ipv6Only
                | NetworkMode::Unknown(_) => {}
            }
        }
        let states: Vec<i64> = states.iter().map(|s| proto_number::<proto::VmInfo>("state", s)).collect();
        let modes: Vec<i64> =
            modes.iter().map(|m| proto_number::<proto::NetworkInterface>("mode", m)).collect();
        assert_eq!(states, [0, 1, 2, 3, 4, 42]);
        assert_eq!(modes, [0, 1, 2, 3, 42]);
        // And every value of the proto enums has a WIT case.
        for n in -1..64 {
            assert_eq!(proto::VmState::try_from(n).is_ok(), states[..5].contains(&i64::from(n)), "{n}");
            assert_eq!(proto::NetworkMode::try_from(n).is_ok(), modes[..4].contains(&i64::from(n)), "{n}");
        }
    }

    #[test]
    fn states_print_as_their_proto_value_names() {
        let names =
            [VmState::Unspecified, VmState::Created, VmState::Running, VmState::Paused, VmState::Shutdown]
                .map(state_name);
        assert_eq!(
            names,
            [
                "VM_STATE_UNSPECIFIED",
                "VM_STATE_CREATED",
                "VM_STATE_RUNNING",
                "VM_STATE_PAUSED",
                "VM_STATE_SHUTDOWN"
            ]
        );
        assert_eq!(state_name(VmState::Unknown(-7)), "-7");
    }

    #[test]
    fn states_unknown_to_this_sdk_print_their_numbers() {
        let unknown = VmState::Unknown(5);
        let parsed: Value = serde_json::from_str(&info(&info_in_state(unknown), true).unwrap()).unwrap();
        assert_eq!(parsed["State"], json!(5));
        assert_eq!(
            info(&info_in_state(unknown), false).unwrap(),
            "VM Information:\n  VM ID: ud-5\n  State: 5"
        );
        let vms = [vm_in_state("ud-5", unknown), vm_in_state("ud-2", VmState::Running)];
        let parsed: Value = serde_json::from_str(&list(&vms, "acme", true).unwrap()).unwrap();
        assert_eq!(
            (parsed["VMs"][0]["state"].clone(), parsed["VMs"][1]["state"].clone()),
            (json!(5), json!(2))
        );
        assert_eq!(
            list(&vms, "acme", false).unwrap(),
            "VMs for tenant acme (total: 2):\n  - ud-5:  5                 (CPUs: 1, Memory: 1 MB)\n  - ud-2:  VM_STATE_RUNNING  (CPUs: 1, Memory: 1 MB)"
        );
        assert_eq!(state_json(unknown), json!(5));
        assert_eq!(state_json(VmState::Paused), json!("VM_STATE_PAUSED"));
        let mode = serde_value(&NetworkMode::Unknown(7)).unwrap();
        assert_eq!(go::field::<proto::NetworkInterface>("mode", &mode).unwrap(), 7);
    }

    #[test]
    fn config_json_omits_zero_values_and_uses_enum_numbers() {
        let config = VmConfig {
            cpu: Some(CpuConfig { vcpu_count: 2, max_vcpu_count: 0, topology: None, features: vec![] }),
            memory: None,
            boot: None,
            storage: vec![],
            network: vec![NetworkInterface {
                id: "eth0".into(),
                mac_address: String::new(),
                tap_device: String::new(),
                interface_type: "virtio-net".into(),
                options: vec![],
                ipv4_config: None,
                ipv6_config: None,
                mode: NetworkMode::DualStack,
                rx_rate_limit: None,
                tx_rate_limit: None,
            }],
            console: None,
            metadata: vec![("a".into(), "b".into())],
        };
        assert_eq!(
            config_json(&config).unwrap(),
            json!({"cpu": {"vcpu_count": 2}, "network": [{"id": "eth0", "interface_type": "virtio-net", "mode": 1}], "metadata": {"a": "b"}})
        );
    }
}
