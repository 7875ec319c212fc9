//! A config file's text read into a `vm-config-file`: every section and field of the Go
//! format (and the extensions), through the strict reader of [`super::read`].

use alloc::format;
use alloc::vec::Vec;

use super::read::{self, Object, Problems, Value};
use super::{
    FileBoot, FileConsole, FileCpu, FileIpv4, FileIpv6, FileMemory, FileNetwork, FileStorage, VmConfigFile,
};
use crate::codec::convert::mode_from_proto;
use crate::errors::{invalid, issues_to_result};
use crate::model::*;
use crate::templates;

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
