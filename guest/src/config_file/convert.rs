//! A `vm-config-file` to and from a `vm-config`: Go's `ToVMConfig` and `FromVMConfig`, with
//! overflow checks instead of Go's silent truncation and panics.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::{
    FileBoot, FileConsole, FileCpu, FileIpv4, FileIpv6, FileMemory, FileNetwork, FileStorage, VmConfigFile,
};
use crate::builder::Builder;
use crate::codec::convert::normalize_mode;
use crate::errors::{issue, issues_to_result};
use crate::model::*;
use crate::templates;

const MIB: u64 = 1 << 20;

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
