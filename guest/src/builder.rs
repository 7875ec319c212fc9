//! The Go client's `VMConfigBuilder`: defaults and every builder method (docs/upstream.md#builder-templates-and-validation).
//!
//! Differences from Go, all deliberate: values that do not fit the proto's signed fields are
//! errors instead of silent wrap-arounds, `add-network` attaches only the address families
//! its mode asks for, and `with-metadata` copies instead of aliasing the caller's map.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::codec::convert::normalize_mode;
use crate::errors::invalid;
use crate::model::*;

/// Kernel image of every default and template.
pub const DEFAULT_KERNEL: &str = "/opt/vm-assets/vmlinux";
/// Kernel command line of the defaults.
pub const DEFAULT_KERNEL_ARGS: &str = "console=ttyS0 reboot=k panic=1 pci=off";
/// Console output of the defaults.
pub const DEFAULT_CONSOLE_OUTPUT: &str = "/tmp/vm-console.log";
/// Root disk path that `for-docker-image` attaches.
pub const DOCKER_ROOTFS: &str = "/opt/vm-assets/rootfs.ext4";
const DEFAULT_DISK_INTERFACE: &str = "virtio-blk";
const DEFAULT_NIC_INTERFACE: &str = "virtio-net";
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// A VM config under construction.
#[derive(Clone, Debug, PartialEq)]
pub struct Builder {
    config: VmConfig,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            config: VmConfig {
                cpu: Some(CpuConfig { vcpu_count: 2, max_vcpu_count: 4, topology: None, features: vec![] }),
                memory: Some(MemoryConfig {
                    size_bytes: GIB as i64,
                    hotplug_enabled: true,
                    max_size_bytes: 4 * GIB as i64,
                    backing: vec![],
                }),
                boot: Some(default_boot(DEFAULT_KERNEL_ARGS)),
                storage: vec![],
                network: vec![],
                console: Some(ConsoleConfig {
                    enabled: true,
                    output: DEFAULT_CONSOLE_OUTPUT.into(),
                    input: String::new(),
                    console_type: "serial".into(),
                }),
                metadata: vec![],
            },
        }
    }
}

fn default_boot(kernel_args: &str) -> BootConfig {
    BootConfig {
        kernel_path: DEFAULT_KERNEL.into(),
        initrd_path: String::new(),
        kernel_args: kernel_args.into(),
        boot_options: vec![],
    }
}

fn to_i32(value: u32, field: &str) -> Result<i32, Error> {
    i32::try_from(value).map_err(|_| invalid(field, format!("{value} is above the maximum of {}", i32::MAX)))
}

fn to_i64(value: u64, field: &str) -> Result<i64, Error> {
    i64::try_from(value)
        .map_err(|_| invalid(field, format!("{value} bytes is above the maximum of {} bytes", i64::MAX)))
}

fn scaled(value: u64, unit: u64, unit_name: &str, field: &str) -> Result<u64, Error> {
    value
        .checked_mul(unit)
        .ok_or_else(|| invalid(field, format!("{value} {unit_name} overflows 64-bit bytes")))
}

fn or_default<'a>(value: &'a str, default: &'a str) -> &'a str {
    if value.is_empty() { default } else { value }
}

impl Builder {
    /// A builder holding `config`.
    pub fn from_config(config: VmConfig) -> Self {
        Builder { config }
    }

    /// The config built so far.
    pub fn config(&self) -> &VmConfig {
        &self.config
    }

    /// Takes the config out of the builder.
    pub fn into_config(self) -> VmConfig {
        self.config
    }

    /// `WithCPU`: replaces the CPU config.
    pub fn with_cpu(&mut self, vcpu_count: u32, max_vcpu_count: u32) -> Result<(), Error> {
        let cpu = CpuConfig {
            vcpu_count: to_i32(vcpu_count, "vcpu-count")?,
            max_vcpu_count: to_i32(max_vcpu_count, "max-vcpu-count")?,
            topology: None,
            features: vec![],
        };
        self.config.cpu = Some(cpu);
        Ok(())
    }

    /// `WithMemory`: replaces the memory config, in bytes.
    pub fn with_memory(
        &mut self,
        size_bytes: u64,
        max_size_bytes: u64,
        hotplug_enabled: bool,
    ) -> Result<(), Error> {
        let memory = MemoryConfig {
            size_bytes: to_i64(size_bytes, "size-bytes")?,
            hotplug_enabled,
            max_size_bytes: to_i64(max_size_bytes, "max-size-bytes")?,
            backing: vec![],
        };
        self.config.memory = Some(memory);
        Ok(())
    }

    /// `WithMemoryMB`: memory in MiB.
    pub fn with_memory_mb(
        &mut self,
        size_mb: u64,
        max_size_mb: u64,
        hotplug_enabled: bool,
    ) -> Result<(), Error> {
        let size = scaled(size_mb, MIB, "MiB", "size-mb")?;
        let max = scaled(max_size_mb, MIB, "MiB", "max-size-mb")?;
        self.with_memory(size, max, hotplug_enabled)
    }

    /// `WithMemoryGB`: memory in GiB.
    pub fn with_memory_gb(
        &mut self,
        size_gb: u64,
        max_size_gb: u64,
        hotplug_enabled: bool,
    ) -> Result<(), Error> {
        let size = scaled(size_gb, GIB, "GiB", "size-gb")?;
        let max = scaled(max_size_gb, GIB, "GiB", "max-size-gb")?;
        self.with_memory(size, max, hotplug_enabled)
    }

    /// `WithBoot`: replaces the boot config.
    pub fn with_boot(&mut self, kernel_path: &str, initrd_path: &str, kernel_args: &str) {
        self.config.boot = Some(BootConfig {
            kernel_path: kernel_path.into(),
            initrd_path: initrd_path.into(),
            kernel_args: kernel_args.into(),
            boot_options: vec![],
        });
    }

    /// `WithDefaultBoot`: the default kernel with `kernel_args` (empty: the default args).
    pub fn with_default_boot(&mut self, kernel_args: &str) {
        self.config.boot = Some(default_boot(or_default(kernel_args, DEFAULT_KERNEL_ARGS)));
    }

    /// `AddStorage`.
    pub fn add_storage(
        &mut self,
        id: &str,
        path: &str,
        read_only: bool,
        is_root_device: bool,
        interface_type: &str,
    ) {
        self.add_storage_with_options(id, path, read_only, is_root_device, interface_type, vec![]);
    }

    /// `AddRootStorage`: id `rootfs`, read-write, root, `virtio-blk`.
    pub fn add_root_storage(&mut self, path: &str) {
        self.add_storage("rootfs", path, false, true, DEFAULT_DISK_INTERFACE);
    }

    /// `AddDataStorage`: a non-root `virtio-blk` disk.
    pub fn add_data_storage(&mut self, id: &str, path: &str, read_only: bool) {
        self.add_storage(id, path, read_only, false, DEFAULT_DISK_INTERFACE);
    }

    /// `AddStorageWithOptions`.
    pub fn add_storage_with_options(
        &mut self,
        id: &str,
        path: &str,
        read_only: bool,
        is_root_device: bool,
        interface_type: &str,
        options: StringMap,
    ) {
        self.config.storage.push(StorageDevice {
            id: id.into(),
            path: path.into(),
            read_only,
            is_root_device,
            interface_type: or_default(interface_type, DEFAULT_DISK_INTERFACE).into(),
            options,
        });
    }

    /// `AddNetwork`: DHCP for IPv4 and SLAAC with privacy extensions for IPv6, each only
    /// when the mode includes that family. A mode unknown to this SDK gets neither: its
    /// families are unknown (`add_network_with_custom_config` sets them).
    pub fn add_network(&mut self, id: &str, interface_type: &str, mode: NetworkMode) {
        let mode = match normalize_mode(mode) {
            NetworkMode::Unspecified => NetworkMode::DualStack,
            mode => mode,
        };
        let ipv4 = matches!(mode, NetworkMode::DualStack | NetworkMode::Ipv4Only).then(dhcp_ipv4);
        let ipv6 = matches!(mode, NetworkMode::DualStack | NetworkMode::Ipv6Only).then(slaac_ipv6);
        self.add_network_with_custom_config(id, interface_type, mode, ipv4, ipv6);
    }

    /// `AddDefaultNetwork`: `eth0`, `virtio-net`, dual stack.
    pub fn add_default_network(&mut self) {
        self.add_network("eth0", DEFAULT_NIC_INTERFACE, NetworkMode::DualStack);
    }

    /// `AddIPv4OnlyNetwork`.
    pub fn add_ipv4_only_network(&mut self, id: &str) {
        self.add_network(id, DEFAULT_NIC_INTERFACE, NetworkMode::Ipv4Only);
    }

    /// `AddIPv6OnlyNetwork`.
    pub fn add_ipv6_only_network(&mut self, id: &str) {
        self.add_network(id, DEFAULT_NIC_INTERFACE, NetworkMode::Ipv6Only);
    }

    /// `AddNetworkWithCustomConfig`: the mode is taken as given (`unknown(n)` of a known `n`
    /// reads as that mode).
    pub fn add_network_with_custom_config(
        &mut self,
        id: &str,
        interface_type: &str,
        mode: NetworkMode,
        ipv4_config: Option<Ipv4Config>,
        ipv6_config: Option<Ipv6Config>,
    ) {
        self.config.network.push(NetworkInterface {
            id: id.into(),
            mac_address: String::new(),
            tap_device: String::new(),
            interface_type: or_default(interface_type, DEFAULT_NIC_INTERFACE).into(),
            options: vec![],
            ipv4_config,
            ipv6_config,
            mode: normalize_mode(mode),
            rx_rate_limit: None,
            tx_rate_limit: None,
        });
    }

    /// `WithConsole`: replaces the console config.
    pub fn with_console(&mut self, enabled: bool, output: &str, console_type: &str) {
        self.config.console = Some(ConsoleConfig {
            enabled,
            output: output.into(),
            input: String::new(),
            console_type: console_type.into(),
        });
    }

    /// `WithDefaultConsole`: an enabled serial console writing to `output`.
    pub fn with_default_console(&mut self, output: &str) {
        self.with_console(true, or_default(output, DEFAULT_CONSOLE_OUTPUT), "serial");
    }

    /// `DisableConsole`.
    pub fn disable_console(&mut self) {
        self.with_console(false, "", "");
    }

    /// `AddMetadata`.
    pub fn add_metadata(&mut self, key: &str, value: &str) {
        map_set(&mut self.config.metadata, key, value);
    }

    /// `WithMetadata`: replaces all metadata (a repeated key keeps its last value).
    pub fn with_metadata(&mut self, metadata: StringMap) {
        self.config.metadata = map_from(metadata);
    }

    /// `ForDockerImage`.
    pub fn for_docker_image(&mut self, image: &str) {
        self.add_metadata("docker_image", image);
        self.add_metadata("runtime", "docker");
        self.config.storage.retain(|disk| !disk.is_root_device);
        let options = map_from([("docker_image", image), ("auto_build", "true")]);
        self.add_storage_with_options("rootfs", DOCKER_ROOTFS, false, true, DEFAULT_DISK_INTERFACE, options);
    }

    /// `ForceBuild`.
    pub fn force_build(&mut self, force: bool) {
        if force {
            self.add_metadata("force_rebuild", "true");
        } else {
            map_remove(&mut self.config.metadata, "force_rebuild");
        }
    }
}

/// IPv4 by DHCP.
pub fn dhcp_ipv4() -> Ipv4Config {
    Ipv4Config {
        address: String::new(),
        netmask: String::new(),
        gateway: String::new(),
        dns_servers: Vec::new(),
        dhcp: true,
    }
}

/// IPv6 by SLAAC with privacy extensions.
pub fn slaac_ipv6() -> Ipv6Config {
    Ipv6Config {
        address: String::new(),
        prefix_length: 0,
        gateway: String::new(),
        dns_servers: Vec::new(),
        slaac: true,
        privacy_extensions: true,
        link_local: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built(f: impl FnOnce(&mut Builder)) -> VmConfig {
        let mut builder = Builder::default();
        f(&mut builder);
        builder.into_config()
    }

    #[test]
    fn defaults_match_the_go_builder() {
        let config = Builder::default().into_config();
        let cpu = config.cpu.unwrap();
        assert_eq!((cpu.vcpu_count, cpu.max_vcpu_count), (2, 4));
        let memory = config.memory.unwrap();
        assert_eq!(
            (memory.size_bytes, memory.max_size_bytes, memory.hotplug_enabled),
            (1073741824, 4294967296, true)
        );
        let boot = config.boot.unwrap();
        assert_eq!(boot.kernel_path, "/opt/vm-assets/vmlinux");
        assert_eq!(boot.initrd_path, "");
        assert_eq!(boot.kernel_args, "console=ttyS0 reboot=k panic=1 pci=off");
        assert!(config.storage.is_empty() && config.network.is_empty() && config.metadata.is_empty());
        let console = config.console.unwrap();
        assert_eq!(
            (console.enabled, console.output.as_str(), console.console_type.as_str()),
            (true, "/tmp/vm-console.log", "serial")
        );
    }

    #[test]
    fn with_cpu_replaces_the_cpu_config() {
        let config = built(|b| b.with_cpu(8, 16).unwrap());
        assert_eq!(
            config.cpu,
            Some(CpuConfig { vcpu_count: 8, max_vcpu_count: 16, topology: None, features: vec![] })
        );
    }

    #[test]
    fn with_cpu_rejects_values_beyond_int32() {
        let mut builder = Builder::default();
        let error = builder.with_cpu(1, u32::MAX).unwrap_err();
        assert_eq!(error, invalid("max-vcpu-count", "4294967295 is above the maximum of 2147483647"));
        assert_eq!(builder, Builder::default(), "a failed call changes nothing");
    }

    #[test]
    fn with_memory_sets_bytes_and_hotplug() {
        let memory = built(|b| b.with_memory(1000, 2000, false).unwrap()).memory.unwrap();
        assert_eq!((memory.size_bytes, memory.max_size_bytes, memory.hotplug_enabled), (1000, 2000, false));
    }

    #[test]
    fn with_memory_mb_multiplies_by_2_pow_20() {
        let memory = built(|b| b.with_memory_mb(512, 1024, true).unwrap()).memory.unwrap();
        assert_eq!((memory.size_bytes, memory.max_size_bytes), (536870912, 1073741824));
    }

    #[test]
    fn with_memory_gb_multiplies_by_2_pow_30() {
        let memory = built(|b| b.with_memory_gb(4, 16, true).unwrap()).memory.unwrap();
        assert_eq!((memory.size_bytes, memory.max_size_bytes), (4294967296, 17179869184));
    }

    #[test]
    fn memory_overflow_is_an_error_naming_the_argument() {
        let mut builder = Builder::default();
        let error = builder.with_memory_gb(1 << 40, 1 << 40, true).unwrap_err();
        assert_eq!(error, invalid("size-gb", "1099511627776 GiB overflows 64-bit bytes"));
        let error = builder.with_memory(1, u64::MAX, true).unwrap_err();
        assert!(matches!(&error, Error::InvalidConfig(i) if i[0].field == "max-size-bytes"), "{error:?}");
    }

    #[test]
    fn with_boot_replaces_the_boot_config() {
        let boot = built(|b| b.with_boot("/k", "/i", "quiet")).boot.unwrap();
        assert_eq!(
            (boot.kernel_path.as_str(), boot.initrd_path.as_str(), boot.kernel_args.as_str()),
            ("/k", "/i", "quiet")
        );
    }

    #[test]
    fn with_default_boot_uses_default_kernel_and_args() {
        let boot = built(|b| b.with_default_boot("")).boot.unwrap();
        assert_eq!(boot, default_boot(DEFAULT_KERNEL_ARGS));
        let boot = built(|b| b.with_default_boot("quiet")).boot.unwrap();
        assert_eq!((boot.kernel_path.as_str(), boot.kernel_args.as_str()), (DEFAULT_KERNEL, "quiet"));
    }

    #[test]
    fn add_storage_defaults_the_interface() {
        let disk = &built(|b| b.add_storage("d", "/p", true, false, "")).storage[0];
        assert_eq!(
            disk,
            &StorageDevice {
                id: "d".into(),
                path: "/p".into(),
                read_only: true,
                is_root_device: false,
                interface_type: "virtio-blk".into(),
                options: vec![]
            }
        );
        let disk = &built(|b| b.add_storage("d", "/p", false, false, "nvme")).storage[0];
        assert_eq!(disk.interface_type, "nvme");
    }

    #[test]
    fn add_root_storage_is_rootfs_read_write() {
        let disk = &built(|b| b.add_root_storage("/r.ext4")).storage[0];
        assert_eq!(
            (disk.id.as_str(), disk.path.as_str(), disk.read_only, disk.is_root_device),
            ("rootfs", "/r.ext4", false, true)
        );
        assert_eq!(disk.interface_type, "virtio-blk");
    }

    #[test]
    fn add_data_storage_is_not_root() {
        let disk = &built(|b| b.add_data_storage("data", "/d.ext4", true)).storage[0];
        assert_eq!(
            (disk.id.as_str(), disk.read_only, disk.is_root_device, disk.interface_type.as_str()),
            ("data", true, false, "virtio-blk")
        );
    }

    #[test]
    fn add_storage_with_options_keeps_options() {
        let disk = &built(|b| b.add_storage_with_options("d", "/p", false, true, "", map_from([("k", "v")])))
            .storage[0];
        assert_eq!(disk.options, map_from([("k", "v")]));
        assert_eq!(disk.interface_type, "virtio-blk");
    }

    #[test]
    fn add_network_defaults_interface_and_mode() {
        let nic = &built(|b| b.add_network("n0", "", NetworkMode::Unspecified)).network[0];
        assert_eq!((nic.interface_type.as_str(), nic.mode), ("virtio-net", NetworkMode::DualStack));
        assert_eq!(nic.ipv4_config, Some(dhcp_ipv4()));
        assert_eq!(nic.ipv6_config, Some(slaac_ipv6()));
    }

    #[test]
    fn add_network_keeps_a_mode_unknown_to_this_sdk_without_address_configs() {
        let nic = &built(|b| b.add_network("n0", "", NetworkMode::Unknown(9))).network[0];
        assert_eq!(nic.mode, NetworkMode::Unknown(9));
        assert_eq!((nic.ipv4_config.clone(), nic.ipv6_config.clone()), (None, None));
        let nic = &built(|b| b.add_network("n0", "", NetworkMode::Unknown(3))).network[0];
        assert_eq!(nic.mode, NetworkMode::Ipv6Only, "a known number is that mode");
        assert_eq!(nic.ipv6_config, Some(slaac_ipv6()));
    }

    #[test]
    fn add_default_network_is_dual_stack_eth0() {
        let nic = &built(|b| b.add_default_network()).network[0];
        assert_eq!(
            (nic.id.as_str(), nic.interface_type.as_str(), nic.mode),
            ("eth0", "virtio-net", NetworkMode::DualStack)
        );
        assert!(nic.ipv4_config.as_ref().unwrap().dhcp);
        let v6 = nic.ipv6_config.as_ref().unwrap();
        assert!(v6.slaac && v6.privacy_extensions);
    }

    #[test]
    fn add_ipv4_only_network_attaches_only_ipv4() {
        let nic = &built(|b| b.add_ipv4_only_network("v4")).network[0];
        assert_eq!(nic.mode, NetworkMode::Ipv4Only);
        assert_eq!((nic.ipv4_config.clone(), nic.ipv6_config.clone()), (Some(dhcp_ipv4()), None));
    }

    #[test]
    fn add_ipv6_only_network_attaches_only_ipv6() {
        let nic = &built(|b| b.add_ipv6_only_network("v6")).network[0];
        assert_eq!(nic.mode, NetworkMode::Ipv6Only);
        assert_eq!((nic.ipv4_config.clone(), nic.ipv6_config.clone()), (None, Some(slaac_ipv6())));
    }

    #[test]
    fn add_network_with_custom_config_keeps_mode_and_configs() {
        let v4 = Ipv4Config { address: "10.0.0.2/24".into(), gateway: "10.0.0.1".into(), ..dhcp_ipv4() };
        let nic = &built(|b| {
            b.add_network_with_custom_config("c", "", NetworkMode::Unspecified, Some(v4.clone()), None)
        })
        .network[0];
        assert_eq!(nic.mode, NetworkMode::Unspecified, "mode is not defaulted");
        assert_eq!(nic.interface_type, "virtio-net");
        assert_eq!((nic.ipv4_config.clone(), nic.ipv6_config.clone()), (Some(v4), None));
    }

    #[test]
    fn with_console_replaces_and_clears_input() {
        let mut builder = Builder::default();
        builder.config.console.as_mut().unwrap().input = "/dev/null".into();
        builder.with_console(true, "/out", "virtio");
        let console = builder.into_config().console.unwrap();
        assert_eq!(
            console,
            ConsoleConfig {
                enabled: true,
                output: "/out".into(),
                input: String::new(),
                console_type: "virtio".into()
            }
        );
    }

    #[test]
    fn with_default_console_is_serial() {
        let console = built(|b| b.with_default_console("")).console.unwrap();
        assert_eq!(
            (console.output.as_str(), console.console_type.as_str()),
            ("/tmp/vm-console.log", "serial")
        );
        let console = built(|b| b.with_default_console("/var/log/c")).console.unwrap();
        assert_eq!(console.output, "/var/log/c");
    }

    #[test]
    fn disable_console_clears_everything() {
        let console = built(|b| b.disable_console()).console.unwrap();
        assert_eq!(
            console,
            ConsoleConfig {
                enabled: false,
                output: String::new(),
                input: String::new(),
                console_type: String::new()
            }
        );
    }

    #[test]
    fn add_metadata_sets_one_key() {
        let config = built(|b| {
            b.add_metadata("owner", "a");
            b.add_metadata("owner", "b");
        });
        assert_eq!(config.metadata, map_from([("owner", "b")]));
    }

    #[test]
    fn with_metadata_replaces_all_keys() {
        let config = built(|b| {
            b.add_metadata("old", "x");
            b.with_metadata(vec![("z".into(), "1".into()), ("a".into(), "2".into())]);
        });
        assert_eq!(config.metadata, map_from([("a", "2"), ("z", "1")]));
    }

    #[test]
    fn for_docker_image_replaces_root_disks_and_keeps_data_disks() {
        let config = built(|b| {
            b.add_root_storage("/old-root");
            b.add_data_storage("data", "/d", false);
            b.for_docker_image("nginx:alpine");
        });
        let ids: Vec<&str> = config.storage.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["data", "rootfs"]);
        let root = &config.storage[1];
        assert_eq!(
            (root.path.as_str(), root.is_root_device, root.read_only),
            ("/opt/vm-assets/rootfs.ext4", true, false)
        );
        assert_eq!(root.options, map_from([("auto_build", "true"), ("docker_image", "nginx:alpine")]));
        assert_eq!(config.metadata, map_from([("docker_image", "nginx:alpine"), ("runtime", "docker")]));
    }

    #[test]
    fn force_build_sets_and_removes_the_key() {
        let config = built(|b| b.force_build(true));
        assert_eq!(map_get(&config.metadata, "force_rebuild"), Some("true"));
        let config = built(|b| {
            b.force_build(true);
            b.force_build(false);
        });
        assert_eq!(map_get(&config.metadata, "force_rebuild"), None);
    }
}
