//! What commands print on stdout: metald-cli's human format (wire facts §11.4) or JSON.
//!
//! JSON output is always one document that parses. Its shape follows metald-cli: flat
//! snake_case objects for operations; `info` and `list` keep metald-cli's `VMID`/`State`/
//! `Config` and `VMs`/`NextPageToken`/`TotalCount` keys, with nested messages in snake_case,
//! zero values omitted and enums as numbers (Go's encoding of the protobuf structs).

use metald_host::bindings::types::*;
use serde_json::{Map, Value, json};

const MIB: i64 = 1 << 20;

/// `VM_STATE_RUNNING`; a state this SDK does not know is its number (`5`), as metald-cli's
/// protobuf enums print it.
pub fn state_name(state: VmState) -> String {
    match state {
        VmState::Unspecified => "VM_STATE_UNSPECIFIED".into(),
        VmState::Created => "VM_STATE_CREATED".into(),
        VmState::Running => "VM_STATE_RUNNING".into(),
        VmState::Paused => "VM_STATE_PAUSED".into(),
        VmState::Shutdown => "VM_STATE_SHUTDOWN".into(),
        VmState::Unknown(number) => number.to_string(),
    }
}

/// A state in an operation's JSON: its name, or the number of a state this SDK does not know
/// (the protobuf JSON mapping's rule).
pub fn state_json(state: VmState) -> Value {
    match state {
        VmState::Unknown(number) => json!(number),
        known => json!(state_name(known)),
    }
}

/// The protobuf number of a state (metald-cli's `--json` writes states as numbers).
fn state_number(state: VmState) -> i64 {
    match state {
        VmState::Unspecified => 0,
        VmState::Created => 1,
        VmState::Running => 2,
        VmState::Paused => 3,
        VmState::Shutdown => 4,
        VmState::Unknown(number) => number.into(),
    }
}

fn mode_number(mode: NetworkMode) -> i64 {
    match mode {
        NetworkMode::Unspecified => 0,
        NetworkMode::DualStack => 1,
        NetworkMode::Ipv4Only => 2,
        NetworkMode::Ipv6Only => 3,
        NetworkMode::Unknown(number) => number.into(),
    }
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

/// A JSON object of the non-default entries, like Go's `omitempty`.
struct Omit(Map<String, Value>);

impl Omit {
    fn new() -> Self {
        Omit(Map::new())
    }

    fn put(mut self, key: &str, value: Value) -> Self {
        let empty = match &value {
            Value::Null => true,
            Value::Bool(b) => !b,
            Value::Number(n) => n.as_f64() == Some(0.0),
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
        };
        if !empty {
            self.0.insert(key.to_string(), value);
        }
        self
    }

    fn done(self) -> Value {
        Value::Object(self.0)
    }
}

fn map(entries: &StringMap) -> Value {
    Value::Object(entries.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

/// A VM config as Go's encoding/json writes the protobuf struct.
pub fn config_json(c: &VmConfig) -> Value {
    let cpu = c.cpu.as_ref().map(|cpu| {
        Omit::new()
            .put("vcpu_count", json!(cpu.vcpu_count))
            .put("max_vcpu_count", json!(cpu.max_vcpu_count))
            .put(
                "topology",
                cpu.topology.map_or(Value::Null, |t| {
                    Omit::new()
                        .put("sockets", json!(t.sockets))
                        .put("cores_per_socket", json!(t.cores_per_socket))
                        .put("threads_per_core", json!(t.threads_per_core))
                        .done()
                }),
            )
            .put("features", map(&cpu.features))
            .done()
    });
    let memory = c.memory.as_ref().map(|m| {
        Omit::new()
            .put("size_bytes", json!(m.size_bytes))
            .put("hotplug_enabled", json!(m.hotplug_enabled))
            .put("max_size_bytes", json!(m.max_size_bytes))
            .put("backing", map(&m.backing))
            .done()
    });
    let boot = c.boot.as_ref().map(|b| {
        Omit::new()
            .put("kernel_path", json!(b.kernel_path))
            .put("initrd_path", json!(b.initrd_path))
            .put("kernel_args", json!(b.kernel_args))
            .put("boot_options", map(&b.boot_options))
            .done()
    });
    let storage: Vec<Value> = c
        .storage
        .iter()
        .map(|d| {
            Omit::new()
                .put("id", json!(d.id))
                .put("path", json!(d.path))
                .put("read_only", json!(d.read_only))
                .put("is_root_device", json!(d.is_root_device))
                .put("interface_type", json!(d.interface_type))
                .put("options", map(&d.options))
                .done()
        })
        .collect();
    let network: Vec<Value> = c.network.iter().map(network_json).collect();
    let console = c.console.as_ref().map(|k| {
        Omit::new()
            .put("enabled", json!(k.enabled))
            .put("output", json!(k.output))
            .put("input", json!(k.input))
            .put("console_type", json!(k.console_type))
            .done()
    });
    Omit::new()
        .put("cpu", cpu.unwrap_or(Value::Null))
        .put("memory", memory.unwrap_or(Value::Null))
        .put("boot", boot.unwrap_or(Value::Null))
        .put("storage", Value::Array(storage))
        .put("network", Value::Array(network))
        .put("console", console.unwrap_or(Value::Null))
        .put("metadata", map(&c.metadata))
        .done()
}

fn network_json(n: &NetworkInterface) -> Value {
    let rate = |r: &Option<RateLimit>| {
        r.map_or(Value::Null, |r| {
            Omit::new()
                .put("bandwidth", json!(r.bandwidth))
                .put("refill_time", json!(r.refill_time))
                .put("burst", json!(r.burst))
                .done()
        })
    };
    let v4 = n.ipv4_config.as_ref().map_or(Value::Null, |v| {
        Omit::new()
            .put("address", json!(v.address))
            .put("netmask", json!(v.netmask))
            .put("gateway", json!(v.gateway))
            .put("dns_servers", json!(v.dns_servers))
            .put("dhcp", json!(v.dhcp))
            .done()
    });
    let v6 = n.ipv6_config.as_ref().map_or(Value::Null, |v| {
        Omit::new()
            .put("address", json!(v.address))
            .put("prefix_length", json!(v.prefix_length))
            .put("gateway", json!(v.gateway))
            .put("dns_servers", json!(v.dns_servers))
            .put("slaac", json!(v.slaac))
            .put("privacy_extensions", json!(v.privacy_extensions))
            .put("link_local", json!(v.link_local))
            .done()
    });
    Omit::new()
        .put("id", json!(n.id))
        .put("mac_address", json!(n.mac_address))
        .put("tap_device", json!(n.tap_device))
        .put("interface_type", json!(n.interface_type))
        .put("options", map(&n.options))
        .put("ipv4_config", v4)
        .put("ipv6_config", v6)
        .put("mode", json!(mode_number(n.mode)))
        .put("rx_rate_limit", rate(&n.rx_rate_limit))
        .put("tx_rate_limit", rate(&n.tx_rate_limit))
        .done()
}

fn mb(bytes: i64) -> i64 {
    bytes / MIB
}

/// `info`.
pub fn info(r: &GetVmInfoResponse, as_json: bool) -> String {
    if as_json {
        let metrics = r.metrics.as_ref().map_or(Value::Null, |m| {
            Omit::new()
                .put("cpu_usage_percent", json!(m.cpu_usage_percent))
                .put("memory_usage_bytes", json!(m.memory_usage_bytes))
                .put("uptime_seconds", json!(m.uptime_seconds))
                .done()
        });
        let network = r.network_info.as_ref().map_or(Value::Null, |n| {
            let ports: Vec<Value> = n
                .port_mappings
                .iter()
                .map(|p| {
                    Omit::new()
                        .put("container_port", json!(p.container_port))
                        .put("host_port", json!(p.host_port))
                        .put("protocol", json!(p.protocol))
                        .done()
                })
                .collect();
            Omit::new()
                .put("ip_address", json!(n.ip_address))
                .put("mac_address", json!(n.mac_address))
                .put("tap_device", json!(n.tap_device))
                .put("network_namespace", json!(n.network_namespace))
                .put("gateway", json!(n.gateway))
                .put("dns_servers", json!(n.dns_servers))
                .put("port_mappings", Value::Array(ports))
                .done()
        });
        let mut object = json!({
            "VMID": r.vm_id,
            "State": state_number(r.state),
            "Config": r.config.as_ref().map_or(Value::Null, config_json),
            "Metrics": metrics,
            "NetworkInfo": network,
        });
        if !r.backend_info.is_empty() {
            object["BackendInfo"] = map(&r.backend_info);
        }
        return pretty(&object);
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
    out.trim_end().to_string()
}

/// `list`: every VM (all pages).
pub fn list(vms: &[VmInfo], tenant: &str, as_json: bool) -> String {
    if as_json {
        let items: Vec<Value> = vms
            .iter()
            .map(|v| {
                Omit::new()
                    .put("vm_id", json!(v.vm_id))
                    .put("state", json!(state_number(v.state)))
                    .put("vcpu_count", json!(v.vcpu_count))
                    .put("memory_size_bytes", json!(v.memory_size_bytes))
                    .put("created_timestamp", json!(v.created_timestamp))
                    .put("modified_timestamp", json!(v.modified_timestamp))
                    .put("metadata", map(&v.metadata))
                    .put("customer_id", json!(v.customer_id))
                    .done()
            })
            .collect();
        return pretty(&json!({ "VMs": items, "NextPageToken": "", "TotalCount": vms.len() }));
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
    out.trim_end().to_string()
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

    #[test]
    fn states_unknown_to_this_sdk_print_their_numbers() {
        let unknown = VmState::Unknown(5);
        let parsed: Value = serde_json::from_str(&info(&info_in_state(unknown), true)).unwrap();
        assert_eq!(parsed["State"], json!(5));
        assert_eq!(info(&info_in_state(unknown), false), "VM Information:\n  VM ID: ud-5\n  State: 5");
        let vms = [vm_in_state("ud-5", unknown), vm_in_state("ud-2", VmState::Running)];
        let parsed: Value = serde_json::from_str(&list(&vms, "acme", true)).unwrap();
        assert_eq!(
            (parsed["VMs"][0]["state"].clone(), parsed["VMs"][1]["state"].clone()),
            (json!(5), json!(2))
        );
        assert_eq!(
            list(&vms, "acme", false),
            "VMs for tenant acme (total: 2):\n  - ud-5:  5                 (CPUs: 1, Memory: 1 MB)\n  - ud-2:  VM_STATE_RUNNING  (CPUs: 1, Memory: 1 MB)"
        );
        assert_eq!(state_json(unknown), json!(5));
        assert_eq!(state_json(VmState::Paused), json!("VM_STATE_PAUSED"));
        assert_eq!(mode_number(NetworkMode::Unknown(7)), 7);
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
            config_json(&config),
            json!({"cpu": {"vcpu_count": 2}, "network": [{"id": "eth0", "interface_type": "virtio-net", "mode": 1}], "metadata": {"a": "b"}})
        );
    }
}
