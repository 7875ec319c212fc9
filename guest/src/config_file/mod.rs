//! The Go client's JSON config-file format (wire facts §9), read strictly and written
//! exactly as Go writes it, plus the fields Go dropped (see the WIT docs of `config-file`).

mod read;
mod write;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

pub use crate::bindings::exports::metald::client::config_file::{
    FileBoot, FileConsole, FileCpu, FileIpv4, FileIpv6, FileMemory, FileNetwork, FileStorage, VmConfigFile,
};
use crate::builder::Builder;
use crate::codec::convert::{mode_from_proto, normalize_mode};
use crate::errors::{invalid, issue, issues_to_result};
use crate::model::*;
use crate::templates;
use read::{Object, Problems, Value};
use write::Json;

const MIB: u64 = 1 << 20;

/// Parses a config file, reporting every problem with its path.
pub fn parse(text: &str) -> Result<VmConfigFile, Error> {
    let value: Value = serde_json::from_str(text).map_err(|e| invalid("", format!("not valid JSON: {e}")))?;
    let mut problems = Problems::default();
    let mut root = Object::new(&value, "", &mut problems);
    if !matches!(value, Value::Object(_)) {
        return Err(Error::InvalidConfig(problems.0));
    }
    let file = read_file(&mut root, &mut problems);
    root.finish(&mut problems);
    if let (false, Err(Error::InvalidConfig(found))) =
        (file.template.is_empty(), templates::parse(&file.template))
    {
        problems.0.extend(found);
    }
    issues_to_result(problems.0).map(|()| file)
}

fn read_file(root: &mut Object<'_>, p: &mut Problems) -> VmConfigFile {
    let name = root.string("name", p);
    let description = root.string("description", p);
    let template = root.string("template", p);
    let cpu = section(root, "cpu", p, |o, p| FileCpu {
        vcpu_count: o.u32("vcpu_count", p),
        max_vcpu_count: o.u32("max_vcpu_count", p),
        topology: o.object("topology", p).map(|mut t| {
            let topology = CpuTopology {
                sockets: t.i32("sockets", p),
                cores_per_socket: t.i32("cores_per_socket", p),
                threads_per_core: t.i32("threads_per_core", p),
            };
            t.finish(p);
            topology
        }),
        features: o.map("features", p),
    });
    let memory = section(root, "memory", p, |o, p| FileMemory {
        size_mb: o.u64("size_mb", p),
        max_size_mb: o.u64("max_size_mb", p),
        hotplug_enabled: o.bool("hotplug_enabled", p),
        backing: o.map("backing", p),
    });
    let boot = section(root, "boot", p, |o, p| FileBoot {
        kernel_path: o.string("kernel_path", p),
        kernel_args: o.string("kernel_args", p),
        initrd_path: o.string("initrd_path", p),
        boot_options: o.map("boot_options", p),
    });
    let storage = items(root, "storage", p, |o, p| FileStorage {
        id: o.string("id", p),
        path: o.string("path", p),
        read_only: o.bool("read_only", p),
        is_root_device: o.bool("is_root_device", p),
        interface_type: o.string("interface_type", p),
        options: o.map("options", p),
    });
    let network = items(root, "network", p, read_network);
    let console = section(root, "console", p, |o, p| FileConsole {
        enabled: o.bool("enabled", p),
        output: o.string("output", p),
        console_type: o.string("console_type", p),
        input: o.string("input", p),
    });
    let metadata = root.optional_map("metadata", p);
    VmConfigFile { name, description, template, cpu, memory, boot, storage, network, console, metadata }
}

fn read_network(o: &mut Object<'_>, p: &mut Problems) -> FileNetwork {
    let id = o.string("id", p);
    let interface_type = o.string("interface_type", p);
    let mode = read_mode(o, p);
    let ipv4 = o.object("ipv4", p).map(|mut v4| {
        let config = FileIpv4 {
            dhcp: v4.bool("dhcp", p),
            static_ip: v4.string("static_ip", p),
            gateway: v4.string("gateway", p),
            dns_servers: v4.strings("dns_servers", p),
            netmask: v4.string("netmask", p),
        };
        v4.finish(p);
        config
    });
    let ipv6 = o.object("ipv6", p).map(|mut v6| {
        let config = FileIpv6 {
            slaac: v6.bool("slaac", p),
            privacy_extensions: v6.bool("privacy_extensions", p),
            static_ip: v6.string("static_ip", p),
            gateway: v6.string("gateway", p),
            dns_servers: v6.strings("dns_servers", p),
            prefix_length: v6.i32("prefix_length", p),
            link_local: v6.string("link_local", p),
        };
        v6.finish(p);
        config
    });
    let mut rate_limit = |key: &str, p: &mut Problems| {
        o.object(key, p).map(|mut r| {
            let limit = RateLimit {
                bandwidth: r.i64("bandwidth", p),
                refill_time: r.i64("refill_time", p),
                burst: r.i64("burst", p),
            };
            r.finish(p);
            limit
        })
    };
    let rx_rate_limit = rate_limit("rx_rate_limit", p);
    let tx_rate_limit = rate_limit("tx_rate_limit", p);
    FileNetwork {
        id,
        interface_type,
        mode,
        ipv4,
        ipv6,
        mac_address: o.string("mac_address", p),
        tap_device: o.string("tap_device", p),
        options: o.map("options", p),
        rx_rate_limit,
        tx_rate_limit,
    }
}

/// `mode`: a name, or the number of a mode this SDK does not know (as written for one).
fn read_mode(o: &mut Object<'_>, p: &mut Problems) -> NetworkMode {
    const EXPECTED: &str = "expected dual_stack, ipv4_only, ipv6_only or a mode number";
    let path = read::join(o.path(), "mode");
    match o.get("mode", p) {
        None => NetworkMode::DualStack,
        Some(Value::String(name)) => match name.as_str() {
            "" | "dual_stack" => NetworkMode::DualStack,
            "ipv4_only" => NetworkMode::Ipv4Only,
            "ipv6_only" => NetworkMode::Ipv6Only,
            other => {
                p.add(&path, format!("unknown mode \"{other}\"; {EXPECTED}"));
                NetworkMode::DualStack
            }
        },
        Some(Value::Number(n)) => match n.as_i64().and_then(|n| i32::try_from(n).ok()) {
            Some(number) => mode_from_proto(number),
            None => {
                p.add(&path, format!("mode number {n} is not a 32-bit integer"));
                NetworkMode::DualStack
            }
        },
        Some(other) => {
            p.add(&path, format!("{EXPECTED}, got {}", read::kind(other)));
            NetworkMode::DualStack
        }
    }
}

/// Reads an object section (absent reads as empty), then reports its unknown keys.
fn section<T>(
    parent: &mut Object<'_>,
    key: &str,
    p: &mut Problems,
    read: impl FnOnce(&mut Object<'_>, &mut Problems) -> T,
) -> T {
    let path = read::join(parent.path(), key);
    let value = parent.get(key, p).unwrap_or(&Value::Null);
    let mut object = Object::new(value, &path, p);
    let out = read(&mut object, p);
    object.finish(p);
    out
}

/// Reads a list of object sections.
fn items<T>(
    parent: &mut Object<'_>,
    key: &str,
    p: &mut Problems,
    mut read: impl FnMut(&mut Object<'_>, &mut Problems) -> T,
) -> Vec<T> {
    let mut out = Vec::new();
    for (path, value) in parent.list(key, p) {
        let mut object = Object::new(value, &path, p);
        out.push(read(&mut object, p));
        object.finish(p);
    }
    out
}

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

/// The config a file describes (Go's `ToVMConfig`, with overflow checks).
pub fn to_vm_config(file: &VmConfigFile) -> Result<VmConfig, Error> {
    let mut issues = Vec::new();
    let base = if file.template.is_empty() {
        Builder::default()
    } else {
        templates::builder(templates::parse(&file.template)?)
    };
    let mut config = base.into_config();
    let vcpu = signed_count(file.cpu.vcpu_count, "cpu.vcpu_count", &mut issues);
    let max_vcpu = signed_count(file.cpu.max_vcpu_count, "cpu.max_vcpu_count", &mut issues);
    config.cpu = Some(CpuConfig {
        vcpu_count: vcpu,
        max_vcpu_count: max_vcpu,
        topology: file.cpu.topology,
        features: file.cpu.features.clone(),
    });
    config.memory = Some(MemoryConfig {
        size_bytes: mib_to_bytes(file.memory.size_mb, "memory.size_mb", &mut issues),
        hotplug_enabled: file.memory.hotplug_enabled,
        max_size_bytes: mib_to_bytes(file.memory.max_size_mb, "memory.max_size_mb", &mut issues),
        backing: file.memory.backing.clone(),
    });
    config.boot = Some(BootConfig {
        kernel_path: file.boot.kernel_path.clone(),
        initrd_path: file.boot.initrd_path.clone(),
        kernel_args: file.boot.kernel_args.clone(),
        boot_options: file.boot.boot_options.clone(),
    });
    config.storage = file
        .storage
        .iter()
        .map(|disk| StorageDevice {
            id: disk.id.clone(),
            path: disk.path.clone(),
            read_only: disk.read_only,
            is_root_device: disk.is_root_device,
            interface_type: default_to(&disk.interface_type, "virtio-blk"),
            options: disk.options.clone(),
        })
        .collect();
    config.network = file.network.iter().map(file_network_to_config).collect();
    config.console = Some(ConsoleConfig {
        enabled: file.console.enabled,
        output: file.console.output.clone(),
        input: file.console.input.clone(),
        console_type: file.console.console_type.clone(),
    });
    if let Some(metadata) = &file.metadata {
        config.metadata = map_from(metadata.iter().cloned());
    }
    map_set(&mut config.metadata, "config_name", &file.name);
    map_set(&mut config.metadata, "config_description", &file.description);
    issues_to_result(issues).map(|()| config)
}

fn file_network_to_config(nic: &FileNetwork) -> NetworkInterface {
    NetworkInterface {
        id: nic.id.clone(),
        mac_address: nic.mac_address.clone(),
        tap_device: nic.tap_device.clone(),
        interface_type: default_to(&nic.interface_type, "virtio-net"),
        options: nic.options.clone(),
        ipv4_config: nic.ipv4.as_ref().map(|v4| Ipv4Config {
            address: v4.static_ip.clone(),
            netmask: v4.netmask.clone(),
            gateway: v4.gateway.clone(),
            dns_servers: v4.dns_servers.clone(),
            dhcp: v4.dhcp,
        }),
        ipv6_config: nic.ipv6.as_ref().map(|v6| Ipv6Config {
            address: v6.static_ip.clone(),
            prefix_length: v6.prefix_length,
            gateway: v6.gateway.clone(),
            dns_servers: v6.dns_servers.clone(),
            slaac: v6.slaac,
            privacy_extensions: v6.privacy_extensions,
            link_local: v6.link_local.clone(),
        }),
        mode: match normalize_mode(nic.mode) {
            NetworkMode::Unspecified => NetworkMode::DualStack,
            mode => mode,
        },
        rx_rate_limit: nic.rx_rate_limit,
        tx_rate_limit: nic.tx_rate_limit,
    }
}

fn default_to(value: &str, default: &str) -> String {
    if value.is_empty() { default.into() } else { value.into() }
}

fn signed_count(value: u32, field: &str, issues: &mut Vec<ValidationIssue>) -> i32 {
    i32::try_from(value).unwrap_or_else(|_| {
        issues.push(issue(field, format!("{value} is above the maximum of {}", i32::MAX)));
        0
    })
}

fn mib_to_bytes(mib: u64, field: &str, issues: &mut Vec<ValidationIssue>) -> i64 {
    mib.checked_mul(MIB).and_then(|bytes| i64::try_from(bytes).ok()).unwrap_or_else(|| {
        issues.push(issue(field, format!("{mib} MiB is more bytes than the wire format holds")));
        0
    })
}

/// The file form of a config (Go's `FromVMConfig`, without its panics and losses).
pub fn from_vm_config(config: &VmConfig, name: &str, description: &str) -> Result<VmConfigFile, Error> {
    let mut issues = Vec::new();
    let cpu = config.cpu.clone().unwrap_or(CpuConfig {
        vcpu_count: 0,
        max_vcpu_count: 0,
        topology: None,
        features: vec![],
    });
    let memory = config.memory.clone().unwrap_or(MemoryConfig {
        size_bytes: 0,
        hotplug_enabled: false,
        max_size_bytes: 0,
        backing: vec![],
    });
    let boot = config.boot.clone().unwrap_or(BootConfig {
        kernel_path: String::new(),
        initrd_path: String::new(),
        kernel_args: String::new(),
        boot_options: vec![],
    });
    let console = config.console.clone().unwrap_or(ConsoleConfig {
        enabled: false,
        output: String::new(),
        input: String::new(),
        console_type: String::new(),
    });
    let mut metadata = config.metadata.clone();
    if map_get(&metadata, "config_name") == Some(name) {
        map_remove(&mut metadata, "config_name");
    }
    if map_get(&metadata, "config_description") == Some(description) {
        map_remove(&mut metadata, "config_description");
    }
    let file = VmConfigFile {
        name: name.into(),
        description: description.into(),
        template: String::new(),
        cpu: FileCpu {
            vcpu_count: unsigned_count(cpu.vcpu_count, "cpu.vcpu-count", &mut issues),
            max_vcpu_count: unsigned_count(cpu.max_vcpu_count, "cpu.max-vcpu-count", &mut issues),
            topology: cpu.topology,
            features: cpu.features,
        },
        memory: FileMemory {
            size_mb: bytes_to_mib(memory.size_bytes, "memory.size-bytes", &mut issues),
            max_size_mb: bytes_to_mib(memory.max_size_bytes, "memory.max-size-bytes", &mut issues),
            hotplug_enabled: memory.hotplug_enabled,
            backing: memory.backing,
        },
        boot: FileBoot {
            kernel_path: boot.kernel_path,
            kernel_args: boot.kernel_args,
            initrd_path: boot.initrd_path,
            boot_options: boot.boot_options,
        },
        storage: config
            .storage
            .iter()
            .map(|d| FileStorage {
                id: d.id.clone(),
                path: d.path.clone(),
                read_only: d.read_only,
                is_root_device: d.is_root_device,
                interface_type: d.interface_type.clone(),
                options: d.options.clone(),
            })
            .collect(),
        network: config.network.iter().map(config_network_to_file).collect(),
        console: FileConsole {
            enabled: console.enabled,
            output: console.output,
            console_type: console.console_type,
            input: console.input,
        },
        metadata: Some(metadata),
    };
    issues_to_result(issues).map(|()| file)
}

fn config_network_to_file(nic: &NetworkInterface) -> FileNetwork {
    FileNetwork {
        id: nic.id.clone(),
        interface_type: nic.interface_type.clone(),
        mode: nic.mode,
        ipv4: nic.ipv4_config.as_ref().map(|v4| FileIpv4 {
            dhcp: v4.dhcp,
            static_ip: v4.address.clone(),
            gateway: v4.gateway.clone(),
            dns_servers: v4.dns_servers.clone(),
            netmask: v4.netmask.clone(),
        }),
        ipv6: nic.ipv6_config.as_ref().map(|v6| FileIpv6 {
            slaac: v6.slaac,
            privacy_extensions: v6.privacy_extensions,
            static_ip: v6.address.clone(),
            gateway: v6.gateway.clone(),
            dns_servers: v6.dns_servers.clone(),
            prefix_length: v6.prefix_length,
            link_local: v6.link_local.clone(),
        }),
        mac_address: nic.mac_address.clone(),
        tap_device: nic.tap_device.clone(),
        options: nic.options.clone(),
        rx_rate_limit: nic.rx_rate_limit,
        tx_rate_limit: nic.tx_rate_limit,
    }
}

fn unsigned_count(value: i32, field: &str, issues: &mut Vec<ValidationIssue>) -> u32 {
    u32::try_from(value).unwrap_or_else(|_| {
        issues.push(issue(
            field,
            format!("{value} cannot be written: the file format stores counts as unsigned numbers"),
        ));
        0
    })
}

fn bytes_to_mib(bytes: i64, field: &str, issues: &mut Vec<ValidationIssue>) -> u64 {
    match u64::try_from(bytes) {
        Ok(b) if b % MIB == 0 => b / MIB,
        _ => {
            issues.push(issue(
                field,
                format!("{bytes} bytes is not a whole number of MiB, which the file format stores"),
            ));
            0
        }
    }
}

#[cfg(test)]
mod tests;
