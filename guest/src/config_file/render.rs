//! A `vm-config-file` written as Go writes it (through [`super::write`]), plus the extension
//! fields that are set.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::write::Json;
use super::{FileNetwork, FileStorage, VmConfigFile};
use crate::codec::convert::normalize_mode;
use crate::model::*;

/// Renders a config file as Go writes it, plus any extension fields that are set.
pub fn render(file: &VmConfigFile) -> String {
    let mut root = vec![("name", Json::str(&file.name)), ("description", Json::str(&file.description))];
    if !file.template.is_empty() {
        root.push(("template", Json::str(&file.template)));
    }
    let mut cpu = vec![
        ("vcpu_count", Json::Int(file.cpu.vcpu_count.into())),
        ("max_vcpu_count", Json::Int(file.cpu.max_vcpu_count.into())),
    ];
    if let Some(t) = &file.cpu.topology {
        cpu.push((
            "topology",
            Json::Object(vec![
                ("sockets", Json::Int(t.sockets.into())),
                ("cores_per_socket", Json::Int(t.cores_per_socket.into())),
                ("threads_per_core", Json::Int(t.threads_per_core.into())),
            ]),
        ));
    }
    push_map(&mut cpu, "features", &file.cpu.features);
    root.push(("cpu", Json::Object(cpu)));
    let mut memory = vec![
        ("size_mb", Json::Int(file.memory.size_mb.into())),
        ("max_size_mb", Json::Int(file.memory.max_size_mb.into())),
        ("hotplug_enabled", Json::Bool(file.memory.hotplug_enabled)),
    ];
    push_map(&mut memory, "backing", &file.memory.backing);
    root.push(("memory", Json::Object(memory)));
    let mut boot = vec![
        ("kernel_path", Json::str(&file.boot.kernel_path)),
        ("kernel_args", Json::str(&file.boot.kernel_args)),
    ];
    push_str(&mut boot, "initrd_path", &file.boot.initrd_path);
    push_map(&mut boot, "boot_options", &file.boot.boot_options);
    root.push(("boot", Json::Object(boot)));
    root.push(("storage", Json::List(file.storage.iter().map(storage_json).collect())));
    root.push(("network", Json::List(file.network.iter().map(network_json).collect())));
    let mut console = vec![
        ("enabled", Json::Bool(file.console.enabled)),
        ("output", Json::str(&file.console.output)),
        ("console_type", Json::str(&file.console.console_type)),
    ];
    push_str(&mut console, "input", &file.console.input);
    root.push(("console", Json::Object(console)));
    root.push(("metadata", file.metadata.clone().map_or(Json::Null, Json::Map)));
    Json::Object(root).render()
}

fn storage_json(disk: &FileStorage) -> Json {
    let mut fields = vec![
        ("id", Json::str(&disk.id)),
        ("path", Json::str(&disk.path)),
        ("read_only", Json::Bool(disk.read_only)),
        ("is_root_device", Json::Bool(disk.is_root_device)),
        ("interface_type", Json::str(&disk.interface_type)),
    ];
    push_map(&mut fields, "options", &disk.options);
    Json::Object(fields)
}

fn network_json(nic: &FileNetwork) -> Json {
    let mode = match normalize_mode(nic.mode) {
        NetworkMode::Unknown(number) => Json::Int(number.into()),
        known => Json::str(mode_name(known)),
    };
    let mut fields =
        vec![("id", Json::str(&nic.id)), ("interface_type", Json::str(&nic.interface_type)), ("mode", mode)];
    if let Some(v4) = &nic.ipv4 {
        let mut ipv4 = vec![("dhcp", Json::Bool(v4.dhcp))];
        push_str(&mut ipv4, "static_ip", &v4.static_ip);
        push_str(&mut ipv4, "gateway", &v4.gateway);
        push_strings(&mut ipv4, "dns_servers", &v4.dns_servers);
        push_str(&mut ipv4, "netmask", &v4.netmask);
        fields.push(("ipv4", Json::Object(ipv4)));
    }
    if let Some(v6) = &nic.ipv6 {
        let mut ipv6 =
            vec![("slaac", Json::Bool(v6.slaac)), ("privacy_extensions", Json::Bool(v6.privacy_extensions))];
        push_str(&mut ipv6, "static_ip", &v6.static_ip);
        push_str(&mut ipv6, "gateway", &v6.gateway);
        push_strings(&mut ipv6, "dns_servers", &v6.dns_servers);
        if v6.prefix_length != 0 {
            ipv6.push(("prefix_length", Json::Int(v6.prefix_length.into())));
        }
        push_str(&mut ipv6, "link_local", &v6.link_local);
        fields.push(("ipv6", Json::Object(ipv6)));
    }
    push_str(&mut fields, "mac_address", &nic.mac_address);
    push_str(&mut fields, "tap_device", &nic.tap_device);
    push_map(&mut fields, "options", &nic.options);
    for (key, limit) in [("rx_rate_limit", &nic.rx_rate_limit), ("tx_rate_limit", &nic.tx_rate_limit)] {
        if let Some(limit) = limit {
            fields.push((
                key,
                Json::Object(vec![
                    ("bandwidth", Json::Int(limit.bandwidth.into())),
                    ("refill_time", Json::Int(limit.refill_time.into())),
                    ("burst", Json::Int(limit.burst.into())),
                ]),
            ));
        }
    }
    Json::Object(fields)
}

fn push_str(fields: &mut Vec<(&'static str, Json)>, key: &'static str, value: &str) {
    if !value.is_empty() {
        fields.push((key, Json::str(value)));
    }
}

fn push_strings(fields: &mut Vec<(&'static str, Json)>, key: &'static str, values: &[String]) {
    if !values.is_empty() {
        fields.push((key, Json::List(values.iter().map(|s| Json::str(s)).collect())));
    }
}

fn push_map(fields: &mut Vec<(&'static str, Json)>, key: &'static str, map: &StringMap) {
    if !map.is_empty() {
        fields.push((key, Json::Map(map.clone())));
    }
}

/// The file spelling of a known network mode; `unspecified` is written as `dual_stack`, as Go
/// does. (A mode this SDK does not know is written as its number.)
fn mode_name(mode: NetworkMode) -> &'static str {
    match mode {
        NetworkMode::Ipv4Only => "ipv4_only",
        NetworkMode::Ipv6Only => "ipv6_only",
        NetworkMode::DualStack | NetworkMode::Unspecified | NetworkMode::Unknown(_) => "dual_stack",
    }
}
