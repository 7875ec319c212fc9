//! Conversions between the WIT records and the prost wire types, field for field.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use metald_proto as pb;

use crate::model::*;

/// A string-map as a proto map (a repeated key keeps its last value).
///
/// Inserted pair by pair rather than `collect`ed: collecting into a `BTreeMap` sorts and
/// bulk-builds, code the component would carry for this function alone (`insert` is there
/// anyway for decoding); see "Benchmarks" in README.md.
pub fn map_to_proto(map: &StringMap) -> BTreeMap<String, String> {
    let mut proto = BTreeMap::new();
    for (key, value) in map {
        proto.insert(key.clone(), value.clone());
    }
    proto
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

// Every conversion below destructures its source without `..` and builds its target with a
// struct literal, so a field added to a proto message (proto/metal/vmprovisioner/v1/
// vmprovisioner.proto) or to a WIT record (wit/types.wit) does not compile until it is mapped.

fn rate_to_proto(r: &RateLimit) -> pb::RateLimit {
    let RateLimit { bandwidth, refill_time, burst } = *r;
    pb::RateLimit { bandwidth, refill_time, burst }
}

fn rate_from_proto(r: pb::RateLimit) -> RateLimit {
    let pb::RateLimit { bandwidth, refill_time, burst } = r;
    RateLimit { bandwidth, refill_time, burst }
}

fn topology_to_proto(t: &CpuTopology) -> pb::CpuTopology {
    let CpuTopology { sockets, cores_per_socket, threads_per_core } = *t;
    pb::CpuTopology { sockets, cores_per_socket, threads_per_core }
}

fn topology_from_proto(t: pb::CpuTopology) -> CpuTopology {
    let pb::CpuTopology { sockets, cores_per_socket, threads_per_core } = t;
    CpuTopology { sockets, cores_per_socket, threads_per_core }
}

fn cpu_to_proto(c: &CpuConfig) -> pb::CpuConfig {
    let CpuConfig { vcpu_count, max_vcpu_count, topology, features } = c;
    pb::CpuConfig {
        vcpu_count: *vcpu_count,
        max_vcpu_count: *max_vcpu_count,
        topology: topology.as_ref().map(topology_to_proto),
        features: map_to_proto(features),
    }
}

fn cpu_from_proto(c: pb::CpuConfig) -> CpuConfig {
    let pb::CpuConfig { vcpu_count, max_vcpu_count, topology, features } = c;
    CpuConfig {
        vcpu_count,
        max_vcpu_count,
        topology: topology.map(topology_from_proto),
        features: map_from_proto(features),
    }
}

fn memory_to_proto(m: &MemoryConfig) -> pb::MemoryConfig {
    let MemoryConfig { size_bytes, hotplug_enabled, max_size_bytes, backing } = m;
    pb::MemoryConfig {
        size_bytes: *size_bytes,
        hotplug_enabled: *hotplug_enabled,
        max_size_bytes: *max_size_bytes,
        backing: map_to_proto(backing),
    }
}

fn memory_from_proto(m: pb::MemoryConfig) -> MemoryConfig {
    let pb::MemoryConfig { size_bytes, hotplug_enabled, max_size_bytes, backing } = m;
    MemoryConfig { size_bytes, hotplug_enabled, max_size_bytes, backing: map_from_proto(backing) }
}

fn boot_to_proto(b: &BootConfig) -> pb::BootConfig {
    let BootConfig { kernel_path, initrd_path, kernel_args, boot_options } = b;
    pb::BootConfig {
        kernel_path: kernel_path.clone(),
        initrd_path: initrd_path.clone(),
        kernel_args: kernel_args.clone(),
        boot_options: map_to_proto(boot_options),
    }
}

fn boot_from_proto(b: pb::BootConfig) -> BootConfig {
    let pb::BootConfig { kernel_path, initrd_path, kernel_args, boot_options } = b;
    BootConfig { kernel_path, initrd_path, kernel_args, boot_options: map_from_proto(boot_options) }
}

fn storage_to_proto(d: &StorageDevice) -> pb::StorageDevice {
    let StorageDevice { id, path, read_only, is_root_device, interface_type, options } = d;
    pb::StorageDevice {
        id: id.clone(),
        path: path.clone(),
        read_only: *read_only,
        is_root_device: *is_root_device,
        interface_type: interface_type.clone(),
        options: map_to_proto(options),
    }
}

fn storage_from_proto(d: pb::StorageDevice) -> StorageDevice {
    let pb::StorageDevice { id, path, read_only, is_root_device, interface_type, options } = d;
    StorageDevice { id, path, read_only, is_root_device, interface_type, options: map_from_proto(options) }
}

fn ipv4_to_proto(c: &Ipv4Config) -> pb::IPv4Config {
    let Ipv4Config { address, netmask, gateway, dns_servers, dhcp } = c;
    pb::IPv4Config {
        address: address.clone(),
        netmask: netmask.clone(),
        gateway: gateway.clone(),
        dns_servers: dns_servers.clone(),
        dhcp: *dhcp,
    }
}

fn ipv4_from_proto(c: pb::IPv4Config) -> Ipv4Config {
    let pb::IPv4Config { address, netmask, gateway, dns_servers, dhcp } = c;
    Ipv4Config { address, netmask, gateway, dns_servers, dhcp }
}

fn ipv6_to_proto(c: &Ipv6Config) -> pb::IPv6Config {
    let Ipv6Config { address, prefix_length, gateway, dns_servers, slaac, privacy_extensions, link_local } =
        c;
    pb::IPv6Config {
        address: address.clone(),
        prefix_length: *prefix_length,
        gateway: gateway.clone(),
        dns_servers: dns_servers.clone(),
        slaac: *slaac,
        privacy_extensions: *privacy_extensions,
        link_local: link_local.clone(),
    }
}

fn ipv6_from_proto(c: pb::IPv6Config) -> Ipv6Config {
    let pb::IPv6Config {
        address,
        prefix_length,
        gateway,
        dns_servers,
        slaac,
        privacy_extensions,
        link_local,
    } = c;
    Ipv6Config { address, prefix_length, gateway, dns_servers, slaac, privacy_extensions, link_local }
}

fn network_to_proto(n: &NetworkInterface) -> pb::NetworkInterface {
    let NetworkInterface {
        id,
        mac_address,
        tap_device,
        interface_type,
        options,
        ipv4_config,
        ipv6_config,
        mode,
        rx_rate_limit,
        tx_rate_limit,
    } = n;
    pb::NetworkInterface {
        id: id.clone(),
        mac_address: mac_address.clone(),
        tap_device: tap_device.clone(),
        interface_type: interface_type.clone(),
        options: map_to_proto(options),
        ipv4_config: ipv4_config.as_ref().map(ipv4_to_proto),
        ipv6_config: ipv6_config.as_ref().map(ipv6_to_proto),
        mode: mode_to_proto(*mode),
        rx_rate_limit: rx_rate_limit.as_ref().map(rate_to_proto),
        tx_rate_limit: tx_rate_limit.as_ref().map(rate_to_proto),
    }
}

fn network_from_proto(n: pb::NetworkInterface) -> NetworkInterface {
    let pb::NetworkInterface {
        id,
        mac_address,
        tap_device,
        interface_type,
        options,
        ipv4_config,
        ipv6_config,
        mode,
        rx_rate_limit,
        tx_rate_limit,
    } = n;
    NetworkInterface {
        id,
        mac_address,
        tap_device,
        interface_type,
        options: map_from_proto(options),
        ipv4_config: ipv4_config.map(ipv4_from_proto),
        ipv6_config: ipv6_config.map(ipv6_from_proto),
        mode: mode_from_proto(mode),
        rx_rate_limit: rx_rate_limit.map(rate_from_proto),
        tx_rate_limit: tx_rate_limit.map(rate_from_proto),
    }
}

fn console_to_proto(c: &ConsoleConfig) -> pb::ConsoleConfig {
    let ConsoleConfig { enabled, output, input, console_type } = c;
    pb::ConsoleConfig {
        enabled: *enabled,
        output: output.clone(),
        input: input.clone(),
        console_type: console_type.clone(),
    }
}

fn console_from_proto(c: pb::ConsoleConfig) -> ConsoleConfig {
    let pb::ConsoleConfig { enabled, output, input, console_type } = c;
    ConsoleConfig { enabled, output, input, console_type }
}

/// A VM config as its proto message.
pub fn config_to_proto(c: &VmConfig) -> pb::VmConfig {
    let VmConfig { cpu, memory, boot, storage, network, console, metadata } = c;
    pb::VmConfig {
        cpu: cpu.as_ref().map(cpu_to_proto),
        memory: memory.as_ref().map(memory_to_proto),
        boot: boot.as_ref().map(boot_to_proto),
        storage: storage.iter().map(storage_to_proto).collect(),
        network: network.iter().map(network_to_proto).collect(),
        console: console.as_ref().map(console_to_proto),
        metadata: map_to_proto(metadata),
    }
}

/// A proto VM config as the WIT record.
pub fn config_from_proto(c: pb::VmConfig) -> VmConfig {
    let pb::VmConfig { cpu, memory, boot, storage, network, console, metadata } = c;
    VmConfig {
        cpu: cpu.map(cpu_from_proto),
        memory: memory.map(memory_from_proto),
        boot: boot.map(boot_from_proto),
        storage: storage.into_iter().map(storage_from_proto).collect(),
        network: network.into_iter().map(network_from_proto).collect(),
        console: console.map(console_from_proto),
        metadata: map_from_proto(metadata),
    }
}

/// A CreateVm request; `customer_id` is the client's user id.
pub fn create_request_to_proto(r: &CreateVmRequest, customer_id: &str) -> pb::CreateVmRequest {
    let CreateVmRequest { vm_id, config } = r;
    pb::CreateVmRequest {
        vm_id: vm_id.clone(),
        config: Some(config_to_proto(config)),
        customer_id: customer_id.into(),
    }
}

/// A DeleteVm request.
pub fn delete_request_to_proto(r: &DeleteVmRequest) -> pb::DeleteVmRequest {
    let DeleteVmRequest { vm_id, force } = r;
    pb::DeleteVmRequest { vm_id: vm_id.clone(), force: *force }
}

/// A ShutdownVm request.
pub fn shutdown_request_to_proto(r: &ShutdownVmRequest) -> pb::ShutdownVmRequest {
    let ShutdownVmRequest { vm_id, force, timeout_seconds } = r;
    pb::ShutdownVmRequest { vm_id: vm_id.clone(), force: *force, timeout_seconds: *timeout_seconds }
}

/// A RebootVm request.
pub fn reboot_request_to_proto(r: &RebootVmRequest) -> pb::RebootVmRequest {
    let RebootVmRequest { vm_id, force } = r;
    pb::RebootVmRequest { vm_id: vm_id.clone(), force: *force }
}

/// A ListVms request.
pub fn list_request_to_proto(r: &ListVmsRequest) -> pb::ListVmsRequest {
    let ListVmsRequest { state_filter, page_size, page_token } = r;
    pb::ListVmsRequest {
        state_filter: states_to_proto(state_filter),
        page_size: *page_size,
        page_token: page_token.clone(),
    }
}

/// A CreateVm response.
pub fn create_response_from_proto(r: pb::CreateVmResponse) -> CreateVmResponse {
    let pb::CreateVmResponse { vm_id, state } = r;
    CreateVmResponse { vm_id, state: state_from_proto(state) }
}

/// A DeleteVm response.
pub fn delete_response_from_proto(r: pb::DeleteVmResponse) -> DeleteVmResponse {
    let pb::DeleteVmResponse { success } = r;
    DeleteVmResponse { success }
}

/// Defines one function per state-change response message (boot, shutdown, pause, resume,
/// reboot), each destructuring its message into the shared `state-change-response`.
macro_rules! state_change_from_proto {
    ($($(#[$doc:meta])* $name:ident($message:path);)*) => {$(
        $(#[$doc])*
        pub fn $name(r: $message) -> StateChangeResponse {
            let $message { success, state } = r;
            StateChangeResponse { success, state: state_from_proto(state) }
        }
    )*};
}

state_change_from_proto! {
    /// A BootVm response.
    boot_response_from_proto(pb::BootVmResponse);
    /// A ShutdownVm response.
    shutdown_response_from_proto(pb::ShutdownVmResponse);
    /// A PauseVm response.
    pause_response_from_proto(pb::PauseVmResponse);
    /// A ResumeVm response.
    resume_response_from_proto(pb::ResumeVmResponse);
    /// A RebootVm response.
    reboot_response_from_proto(pb::RebootVmResponse);
}

fn network_stats_from_proto(n: pb::NetworkStats) -> NetworkStats {
    let pb::NetworkStats { bytes_received, bytes_transmitted, packets_received, packets_transmitted } = n;
    NetworkStats { bytes_received, bytes_transmitted, packets_received, packets_transmitted }
}

fn storage_stats_from_proto(s: pb::StorageStats) -> StorageStats {
    let pb::StorageStats { bytes_read, bytes_written, read_operations, write_operations } = s;
    StorageStats { bytes_read, bytes_written, read_operations, write_operations }
}

fn metrics_from_proto(m: pb::VmMetrics) -> VmMetrics {
    let pb::VmMetrics { cpu_usage_percent, memory_usage_bytes, network_stats, storage_stats, uptime_seconds } =
        m;
    VmMetrics {
        cpu_usage_percent,
        memory_usage_bytes,
        network_stats: network_stats.map(network_stats_from_proto),
        storage_stats: storage_stats.map(storage_stats_from_proto),
        uptime_seconds,
    }
}

fn port_mapping_from_proto(p: pb::PortMapping) -> PortMapping {
    let pb::PortMapping { container_port, host_port, protocol } = p;
    PortMapping { container_port, host_port, protocol }
}

fn network_info_from_proto(n: pb::VmNetworkInfo) -> VmNetworkInfo {
    let pb::VmNetworkInfo {
        ip_address,
        mac_address,
        tap_device,
        network_namespace,
        gateway,
        dns_servers,
        port_mappings,
    } = n;
    VmNetworkInfo {
        ip_address,
        mac_address,
        tap_device,
        network_namespace,
        gateway,
        dns_servers,
        port_mappings: port_mappings.into_iter().map(port_mapping_from_proto).collect(),
    }
}

/// A GetVmInfo response, `backend_info` kept.
pub fn vm_info_response_from_proto(r: pb::GetVmInfoResponse) -> GetVmInfoResponse {
    let pb::GetVmInfoResponse { vm_id, config, state, metrics, backend_info, network_info } = r;
    GetVmInfoResponse {
        vm_id,
        config: config.map(config_from_proto),
        state: state_from_proto(state),
        metrics: metrics.map(metrics_from_proto),
        backend_info: map_from_proto(backend_info),
        network_info: network_info.map(network_info_from_proto),
    }
}

fn vm_info_from_proto(v: pb::VmInfo) -> VmInfo {
    let pb::VmInfo {
        vm_id,
        state,
        vcpu_count,
        memory_size_bytes,
        created_timestamp,
        modified_timestamp,
        metadata,
        customer_id,
    } = v;
    VmInfo {
        vm_id,
        state: state_from_proto(state),
        vcpu_count,
        memory_size_bytes,
        created_timestamp,
        modified_timestamp,
        metadata: map_from_proto(metadata),
        customer_id,
    }
}

/// A ListVms response.
pub fn list_response_from_proto(r: pb::ListVmsResponse) -> ListVmsResponse {
    let pb::ListVmsResponse { vms, next_page_token, total_count } = r;
    ListVmsResponse { vms: vms.into_iter().map(vm_info_from_proto).collect(), next_page_token, total_count }
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
    fn a_string_map_becomes_a_proto_map_whose_repeated_keys_keep_their_last_value() {
        let map: StringMap =
            vec![("b".into(), "1".into()), ("a".into(), "2".into()), ("b".into(), "3".into())];
        let proto = map_to_proto(&map);
        assert_eq!(proto, BTreeMap::from([("a".into(), "2".into()), ("b".into(), "3".into())]));
        assert_eq!(map_from_proto(proto), vec![("a".into(), "2".into()), ("b".into(), "3".into())]);
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
