//! Conversions between the WIT records and the prost wire types, field for field.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use metald_proto as pb;

use crate::model::*;

/// A string-map as a proto map (a repeated key keeps its last value).
pub fn map_to_proto(map: &StringMap) -> BTreeMap<String, String> {
    map.iter().cloned().collect()
}

/// A proto map as a string-map (already sorted).
pub fn map_from_proto(map: BTreeMap<String, String>) -> StringMap {
    map.into_iter().collect()
}

/// A VM state as its proto number; `unknown(n)` is `n`.
pub fn state_to_proto(state: VmState) -> i32 {
    (match state {
        VmState::Unspecified => pb::VmState::Unspecified,
        VmState::Created => pb::VmState::Created,
        VmState::Running => pb::VmState::Running,
        VmState::Paused => pb::VmState::Paused,
        VmState::Shutdown => pb::VmState::Shutdown,
        VmState::Unknown(number) => return number,
    }) as i32
}

/// A proto VM state number. Protobuf enums are open: a number this SDK does not know is
/// kept as `unknown(n)`.
pub fn state_from_proto(number: i32) -> VmState {
    match pb::VmState::try_from(number) {
        Ok(pb::VmState::Unspecified) => VmState::Unspecified,
        Ok(pb::VmState::Created) => VmState::Created,
        Ok(pb::VmState::Running) => VmState::Running,
        Ok(pb::VmState::Paused) => VmState::Paused,
        Ok(pb::VmState::Shutdown) => VmState::Shutdown,
        Err(_) => VmState::Unknown(number),
    }
}

/// A network mode as its proto number; `unknown(n)` is `n`.
pub fn mode_to_proto(mode: NetworkMode) -> i32 {
    (match mode {
        NetworkMode::Unspecified => pb::NetworkMode::Unspecified,
        NetworkMode::DualStack => pb::NetworkMode::DualStack,
        NetworkMode::Ipv4Only => pb::NetworkMode::Ipv4Only,
        NetworkMode::Ipv6Only => pb::NetworkMode::Ipv6Only,
        NetworkMode::Unknown(number) => return number,
    }) as i32
}

/// A proto network mode number; a number this SDK does not know is kept as `unknown(n)`.
pub fn mode_from_proto(number: i32) -> NetworkMode {
    match pb::NetworkMode::try_from(number) {
        Ok(pb::NetworkMode::Unspecified) => NetworkMode::Unspecified,
        Ok(pb::NetworkMode::DualStack) => NetworkMode::DualStack,
        Ok(pb::NetworkMode::Ipv4Only) => NetworkMode::Ipv4Only,
        Ok(pb::NetworkMode::Ipv6Only) => NetworkMode::Ipv6Only,
        Err(_) => NetworkMode::Unknown(number),
    }
}

/// `unknown(n)` with a known `n` as that known case (a host may build `unknown(2)`).
pub fn normalize_mode(mode: NetworkMode) -> NetworkMode {
    mode_from_proto(mode_to_proto(mode))
}

/// `unknown(n)` with a known `n` as that known case.
pub fn normalize_state(state: VmState) -> VmState {
    state_from_proto(state_to_proto(state))
}

fn rate_to_proto(r: &RateLimit) -> pb::RateLimit {
    pb::RateLimit { bandwidth: r.bandwidth, refill_time: r.refill_time, burst: r.burst }
}

fn rate_from_proto(r: pb::RateLimit) -> RateLimit {
    RateLimit { bandwidth: r.bandwidth, refill_time: r.refill_time, burst: r.burst }
}

/// A VM config as its proto message.
pub fn config_to_proto(c: &VmConfig) -> pb::VmConfig {
    pb::VmConfig {
        cpu: c.cpu.as_ref().map(|cpu| pb::CpuConfig {
            vcpu_count: cpu.vcpu_count,
            max_vcpu_count: cpu.max_vcpu_count,
            topology: cpu.topology.map(|t| pb::CpuTopology {
                sockets: t.sockets,
                cores_per_socket: t.cores_per_socket,
                threads_per_core: t.threads_per_core,
            }),
            features: map_to_proto(&cpu.features),
        }),
        memory: c.memory.as_ref().map(|m| pb::MemoryConfig {
            size_bytes: m.size_bytes,
            hotplug_enabled: m.hotplug_enabled,
            max_size_bytes: m.max_size_bytes,
            backing: map_to_proto(&m.backing),
        }),
        boot: c.boot.as_ref().map(|b| pb::BootConfig {
            kernel_path: b.kernel_path.clone(),
            initrd_path: b.initrd_path.clone(),
            kernel_args: b.kernel_args.clone(),
            boot_options: map_to_proto(&b.boot_options),
        }),
        storage: c
            .storage
            .iter()
            .map(|d| pb::StorageDevice {
                id: d.id.clone(),
                path: d.path.clone(),
                read_only: d.read_only,
                is_root_device: d.is_root_device,
                interface_type: d.interface_type.clone(),
                options: map_to_proto(&d.options),
            })
            .collect(),
        network: c
            .network
            .iter()
            .map(|n| pb::NetworkInterface {
                id: n.id.clone(),
                mac_address: n.mac_address.clone(),
                tap_device: n.tap_device.clone(),
                interface_type: n.interface_type.clone(),
                options: map_to_proto(&n.options),
                ipv4_config: n.ipv4_config.as_ref().map(|v4| pb::IPv4Config {
                    address: v4.address.clone(),
                    netmask: v4.netmask.clone(),
                    gateway: v4.gateway.clone(),
                    dns_servers: v4.dns_servers.clone(),
                    dhcp: v4.dhcp,
                }),
                ipv6_config: n.ipv6_config.as_ref().map(|v6| pb::IPv6Config {
                    address: v6.address.clone(),
                    prefix_length: v6.prefix_length,
                    gateway: v6.gateway.clone(),
                    dns_servers: v6.dns_servers.clone(),
                    slaac: v6.slaac,
                    privacy_extensions: v6.privacy_extensions,
                    link_local: v6.link_local.clone(),
                }),
                mode: mode_to_proto(n.mode),
                rx_rate_limit: n.rx_rate_limit.as_ref().map(rate_to_proto),
                tx_rate_limit: n.tx_rate_limit.as_ref().map(rate_to_proto),
            })
            .collect(),
        console: c.console.as_ref().map(|k| pb::ConsoleConfig {
            enabled: k.enabled,
            output: k.output.clone(),
            input: k.input.clone(),
            console_type: k.console_type.clone(),
        }),
        metadata: map_to_proto(&c.metadata),
    }
}

/// A proto VM config as the WIT record.
pub fn config_from_proto(c: pb::VmConfig) -> VmConfig {
    VmConfig {
        cpu: c.cpu.map(|cpu| CpuConfig {
            vcpu_count: cpu.vcpu_count,
            max_vcpu_count: cpu.max_vcpu_count,
            topology: cpu.topology.map(|t| CpuTopology {
                sockets: t.sockets,
                cores_per_socket: t.cores_per_socket,
                threads_per_core: t.threads_per_core,
            }),
            features: map_from_proto(cpu.features),
        }),
        memory: c.memory.map(|m| MemoryConfig {
            size_bytes: m.size_bytes,
            hotplug_enabled: m.hotplug_enabled,
            max_size_bytes: m.max_size_bytes,
            backing: map_from_proto(m.backing),
        }),
        boot: c.boot.map(|b| BootConfig {
            kernel_path: b.kernel_path,
            initrd_path: b.initrd_path,
            kernel_args: b.kernel_args,
            boot_options: map_from_proto(b.boot_options),
        }),
        storage: c
            .storage
            .into_iter()
            .map(|d| StorageDevice {
                id: d.id,
                path: d.path,
                read_only: d.read_only,
                is_root_device: d.is_root_device,
                interface_type: d.interface_type,
                options: map_from_proto(d.options),
            })
            .collect(),
        network: c
            .network
            .into_iter()
            .map(|n| NetworkInterface {
                id: n.id,
                mac_address: n.mac_address,
                tap_device: n.tap_device,
                interface_type: n.interface_type,
                options: map_from_proto(n.options),
                ipv4_config: n.ipv4_config.map(|v4| Ipv4Config {
                    address: v4.address,
                    netmask: v4.netmask,
                    gateway: v4.gateway,
                    dns_servers: v4.dns_servers,
                    dhcp: v4.dhcp,
                }),
                ipv6_config: n.ipv6_config.map(|v6| Ipv6Config {
                    address: v6.address,
                    prefix_length: v6.prefix_length,
                    gateway: v6.gateway,
                    dns_servers: v6.dns_servers,
                    slaac: v6.slaac,
                    privacy_extensions: v6.privacy_extensions,
                    link_local: v6.link_local,
                }),
                mode: mode_from_proto(n.mode),
                rx_rate_limit: n.rx_rate_limit.map(rate_from_proto),
                tx_rate_limit: n.tx_rate_limit.map(rate_from_proto),
            })
            .collect(),
        console: c.console.map(|k| ConsoleConfig {
            enabled: k.enabled,
            output: k.output,
            input: k.input,
            console_type: k.console_type,
        }),
        metadata: map_from_proto(c.metadata),
    }
}

/// A state-change response (boot, shutdown, pause, resume, reboot).
pub fn state_change(success: bool, state: i32) -> StateChangeResponse {
    StateChangeResponse { success, state: state_from_proto(state) }
}

/// A GetVmInfo response, `backend_info` kept.
pub fn vm_info_response_from_proto(r: pb::GetVmInfoResponse) -> GetVmInfoResponse {
    GetVmInfoResponse {
        vm_id: r.vm_id,
        config: r.config.map(config_from_proto),
        state: state_from_proto(r.state),
        metrics: r.metrics.map(|m| VmMetrics {
            cpu_usage_percent: m.cpu_usage_percent,
            memory_usage_bytes: m.memory_usage_bytes,
            network_stats: m.network_stats.map(|n| NetworkStats {
                bytes_received: n.bytes_received,
                bytes_transmitted: n.bytes_transmitted,
                packets_received: n.packets_received,
                packets_transmitted: n.packets_transmitted,
            }),
            storage_stats: m.storage_stats.map(|s| StorageStats {
                bytes_read: s.bytes_read,
                bytes_written: s.bytes_written,
                read_operations: s.read_operations,
                write_operations: s.write_operations,
            }),
            uptime_seconds: m.uptime_seconds,
        }),
        backend_info: map_from_proto(r.backend_info),
        network_info: r.network_info.map(|n| VmNetworkInfo {
            ip_address: n.ip_address,
            mac_address: n.mac_address,
            tap_device: n.tap_device,
            network_namespace: n.network_namespace,
            gateway: n.gateway,
            dns_servers: n.dns_servers,
            port_mappings: n
                .port_mappings
                .into_iter()
                .map(|p| PortMapping {
                    container_port: p.container_port,
                    host_port: p.host_port,
                    protocol: p.protocol,
                })
                .collect(),
        }),
    }
}

/// A ListVms response.
pub fn list_response_from_proto(r: pb::ListVmsResponse) -> ListVmsResponse {
    ListVmsResponse {
        vms: r
            .vms
            .into_iter()
            .map(|v| VmInfo {
                vm_id: v.vm_id,
                state: state_from_proto(v.state),
                vcpu_count: v.vcpu_count,
                memory_size_bytes: v.memory_size_bytes,
                created_timestamp: v.created_timestamp,
                modified_timestamp: v.modified_timestamp,
                metadata: map_from_proto(v.metadata),
                customer_id: v.customer_id,
            })
            .collect(),
        next_page_token: r.next_page_token,
        total_count: r.total_count,
    }
}

/// Whether `state` passes `filter` (empty: every state), comparing wire numbers, so a state
/// this SDK does not know matches only its own number.
pub fn in_state_filter(state: VmState, filter: &[VmState]) -> bool {
    filter.is_empty() || filter.iter().any(|s| state_to_proto(*s) == state_to_proto(state))
}

/// A state filter as proto numbers.
pub fn states_to_proto(states: &[VmState]) -> Vec<i32> {
    states.iter().map(|s| state_to_proto(*s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::exports::metald::client::templates::Template;

    #[test]
    fn config_round_trips_through_proto() {
        for template in crate::templates::ALL {
            let config = crate::templates::config(template);
            assert_eq!(config_from_proto(config_to_proto(&config)), config);
        }
        let mut config = crate::templates::config(Template::Development);
        config.cpu.as_mut().unwrap().topology =
            Some(CpuTopology { sockets: 2, cores_per_socket: 2, threads_per_core: 2 });
        config.network[0].rx_rate_limit = Some(RateLimit { bandwidth: 5, refill_time: 6, burst: 7 });
        config.network[0].mode = NetworkMode::Ipv6Only;
        assert_eq!(config_from_proto(config_to_proto(&config)), config);
    }

    #[test]
    fn unknown_numbers_are_kept_and_encode_back() {
        assert_eq!(state_from_proto(2), VmState::Running);
        assert_eq!(state_from_proto(0), VmState::Unspecified);
        assert_eq!(state_to_proto(VmState::Shutdown), 4);
        for n in [5, 99, -1, i32::MAX, i32::MIN] {
            assert_eq!(state_from_proto(n), VmState::Unknown(n));
            assert_eq!(state_to_proto(state_from_proto(n)), n);
            assert_eq!(mode_from_proto(n), NetworkMode::Unknown(n));
        }
        assert_eq!(mode_from_proto(4), NetworkMode::Unknown(4));
        assert_eq!(mode_to_proto(NetworkMode::Unknown(4)), 4);
        assert_eq!(normalize_mode(NetworkMode::Unknown(2)), NetworkMode::Ipv4Only);
        assert_eq!(normalize_state(VmState::Unknown(3)), VmState::Paused);
        for n in 0..=4 {
            assert_eq!(state_to_proto(state_from_proto(n)), n);
        }
    }

    #[test]
    fn state_filters_compare_wire_numbers() {
        assert!(in_state_filter(VmState::Unknown(5), &[]));
        assert!(!in_state_filter(VmState::Unknown(5), &[VmState::Running]));
        assert!(in_state_filter(VmState::Unknown(5), &[VmState::Created, VmState::Unknown(5)]));
        assert!(in_state_filter(VmState::Running, &[VmState::Unknown(2)]));
        assert!(!in_state_filter(VmState::Running, &[VmState::Unknown(6)]));
    }

    #[test]
    fn unknown_modes_survive_a_proto_round_trip() {
        let mut config = crate::templates::config(Template::Standard);
        config.network[0].mode = NetworkMode::Unknown(7);
        let proto = config_to_proto(&config);
        assert_eq!(proto.network[0].mode, 7);
        assert_eq!(config_from_proto(proto), config);
    }
}
