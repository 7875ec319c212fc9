//! Client-side validation: the Go client's rules (docs/upstream.md#builder-templates-and-validation), the server's own
//! (§10.2), and identity checks (§5.3). Every problem is reported, each with a field path.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::errors::issue;
use crate::model::*;

/// Every problem of `config`, in field order; empty when it is valid.
pub fn config_issues(config: &VmConfig) -> Vec<ValidationIssue> {
    let mut issues = Vec::new();
    match &config.cpu {
        None => issues.push(issue("cpu", "CPU configuration is required")),
        Some(cpu) => {
            if cpu.vcpu_count <= 0 {
                issues.push(issue("cpu.vcpu-count", "vCPU count must be greater than 0"));
            }
            if cpu.max_vcpu_count < cpu.vcpu_count {
                issues.push(issue(
                    "cpu.max-vcpu-count",
                    format!(
                        "max vCPU count ({}) must be >= current vCPU count ({})",
                        cpu.max_vcpu_count, cpu.vcpu_count
                    ),
                ));
            }
            check_map(&mut issues, "cpu.features", &cpu.features);
        }
    }
    match &config.memory {
        None => issues.push(issue("memory", "memory configuration is required")),
        Some(memory) => {
            if memory.size_bytes <= 0 {
                issues.push(issue("memory.size-bytes", "memory size must be greater than 0"));
            }
            if memory.max_size_bytes < memory.size_bytes {
                issues.push(issue(
                    "memory.max-size-bytes",
                    format!(
                        "max memory size ({}) must be >= current memory size ({})",
                        memory.max_size_bytes, memory.size_bytes
                    ),
                ));
            }
            check_map(&mut issues, "memory.backing", &memory.backing);
        }
    }
    match &config.boot {
        None => issues.push(issue("boot", "boot configuration is required")),
        Some(boot) => {
            if boot.kernel_path.is_empty() {
                issues.push(issue("boot.kernel-path", "kernel path is required"));
            }
            check_map(&mut issues, "boot.boot-options", &boot.boot_options);
        }
    }
    check_storage(&mut issues, &config.storage);
    check_network(&mut issues, &config.network);
    check_map(&mut issues, "metadata", &config.metadata);
    issues
}

fn check_storage(issues: &mut Vec<ValidationIssue>, storage: &[StorageDevice]) {
    if storage.is_empty() {
        // The Go client allowed this; the server refuses it.
        issues.push(issue("storage", "at least one storage device is required"));
        return;
    }
    let mut root: Option<usize> = None;
    for (i, disk) in storage.iter().enumerate() {
        if disk.is_root_device {
            match root {
                Some(first) => issues.push(issue(
                    format!("storage[{i}].is-root-device"),
                    format!(
                        "multiple root devices found - only one root device is allowed (storage[{first}] \"{}\" is root too)",
                        storage[first].id
                    ),
                )),
                None => root = Some(i),
            }
        }
        if disk.id.is_empty() {
            issues.push(issue(format!("storage[{i}].id"), "storage device ID cannot be empty"));
        } else if let Some(first) = storage[..i].iter().position(|d| d.id == disk.id) {
            issues.push(issue(
                format!("storage[{i}].id"),
                format!("duplicate storage device ID \"{}\" (also storage[{first}])", disk.id),
            ));
        }
        if disk.path.is_empty() {
            issues.push(issue(
                format!("storage[{i}].path"),
                format!("storage device path cannot be empty for device {}", disk.id),
            ));
        }
        check_map(issues, &format!("storage[{i}].options"), &disk.options);
    }
    if root.is_none() {
        issues.push(issue("storage", "at least one storage device must be marked as root device"));
    }
}

fn check_network(issues: &mut Vec<ValidationIssue>, network: &[NetworkInterface]) {
    for (i, nic) in network.iter().enumerate() {
        if nic.id.is_empty() {
            issues.push(issue(format!("network[{i}].id"), "network interface ID cannot be empty"));
        } else if let Some(first) = network[..i].iter().position(|n| n.id == nic.id) {
            issues.push(issue(
                format!("network[{i}].id"),
                format!("duplicate network interface ID \"{}\" (also network[{first}])", nic.id),
            ));
        }
        // `unknown(n)` is a mode a newer server may know: the server decides. Only "no mode"
        // (0, however it is spelled) is refused here.
        if crate::codec::convert::mode_to_proto(nic.mode) == 0 {
            issues.push(issue(
                format!("network[{i}].mode"),
                format!("network mode must be specified for interface {}", nic.id),
            ));
        }
        check_map(issues, &format!("network[{i}].options"), &nic.options);
    }
}

fn check_map(issues: &mut Vec<ValidationIssue>, field: &str, map: &StringMap) {
    if let Some(key) = first_duplicate_key(map) {
        issues.push(issue(field, format!("duplicate key \"{key}\"")));
    }
}

/// Problems with a user id and tenant id: both must be non-empty and only use
/// `[A-Za-z0-9._-]`, which the server's auth path (W3C baggage) carries unchanged.
pub fn identity_issues(user_id: &str, tenant_id: &str) -> Vec<ValidationIssue> {
    [("user-id", user_id), ("tenant-id", tenant_id)]
        .into_iter()
        .filter_map(|(field, value)| id_problem(value).map(|message| issue(field, message)))
        .collect()
}

fn id_problem(value: &str) -> Option<String> {
    if value.is_empty() {
        return Some("must not be empty".into());
    }
    let bad = value.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))?;
    Some(format!("{value:?} contains {bad:?}; only letters, digits, '.', '_' and '-' are allowed"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::exports::metald::client::templates::Template;
    use crate::builder::Builder;
    use crate::templates;

    fn valid() -> VmConfig {
        templates::config(Template::Standard)
    }

    fn fields(config: &VmConfig) -> Vec<String> {
        config_issues(config).into_iter().map(|i| i.field).collect()
    }

    fn messages(config: &VmConfig) -> Vec<String> {
        config_issues(config).into_iter().map(|i| i.message).collect()
    }

    #[test]
    fn every_template_is_valid() {
        for template in templates::ALL {
            assert_eq!(config_issues(&templates::config(template)), [], "{}", templates::name(template));
        }
    }

    #[test]
    fn requires_cpu() {
        let config = VmConfig { cpu: None, ..valid() };
        assert_eq!(config_issues(&config), [issue("cpu", "CPU configuration is required")]);
    }

    #[test]
    fn rejects_zero_or_negative_vcpus() {
        let mut config = valid();
        config.cpu.as_mut().unwrap().vcpu_count = 0;
        assert_eq!(fields(&config), ["cpu.vcpu-count"]);
        config.cpu.as_mut().unwrap().vcpu_count = -1;
        assert_eq!(messages(&config), ["vCPU count must be greater than 0"]);
    }

    #[test]
    fn rejects_max_vcpus_below_vcpus() {
        let mut config = valid();
        config.cpu.as_mut().unwrap().max_vcpu_count = 1;
        assert_eq!(
            config_issues(&config),
            [issue("cpu.max-vcpu-count", "max vCPU count (1) must be >= current vCPU count (2)")]
        );
    }

    #[test]
    fn requires_memory() {
        let config = VmConfig { memory: None, ..valid() };
        assert_eq!(config_issues(&config), [issue("memory", "memory configuration is required")]);
    }

    #[test]
    fn rejects_zero_memory() {
        let mut config = valid();
        config.memory.as_mut().unwrap().size_bytes = 0;
        assert_eq!(
            config_issues(&config),
            [issue("memory.size-bytes", "memory size must be greater than 0")]
        );
    }

    #[test]
    fn rejects_max_memory_below_memory() {
        let mut config = valid();
        config.memory.as_mut().unwrap().max_size_bytes = 1024;
        assert_eq!(
            config_issues(&config),
            [issue(
                "memory.max-size-bytes",
                "max memory size (1024) must be >= current memory size (2147483648)"
            )]
        );
    }

    #[test]
    fn requires_boot() {
        let config = VmConfig { boot: None, ..valid() };
        assert_eq!(config_issues(&config), [issue("boot", "boot configuration is required")]);
    }

    #[test]
    fn requires_kernel_path() {
        let mut config = valid();
        config.boot.as_mut().unwrap().kernel_path.clear();
        assert_eq!(config_issues(&config), [issue("boot.kernel-path", "kernel path is required")]);
    }

    #[test]
    fn rejects_second_root_device() {
        // The seed README's trap: a template already has a root disk.
        let mut builder = templates::builder(Template::Standard);
        builder.add_root_storage("/opt/vm-assets/rootfs.ext4");
        assert_eq!(
            config_issues(builder.config()),
            [
                issue(
                    "storage[1].is-root-device",
                    "multiple root devices found - only one root device is allowed (storage[0] \"rootfs\" is root too)"
                ),
                issue("storage[1].id", "duplicate storage device ID \"rootfs\" (also storage[0])"),
            ]
        );
    }

    #[test]
    fn rejects_empty_storage_id() {
        let mut config = valid();
        config.storage[0].id.clear();
        assert_eq!(config_issues(&config), [issue("storage[0].id", "storage device ID cannot be empty")]);
    }

    #[test]
    fn rejects_empty_storage_path() {
        let mut config = valid();
        config.storage[0].path.clear();
        assert_eq!(
            config_issues(&config),
            [issue("storage[0].path", "storage device path cannot be empty for device rootfs")]
        );
    }

    #[test]
    fn requires_a_root_device_when_disks_exist() {
        let mut config = valid();
        config.storage[0].is_root_device = false;
        assert_eq!(
            config_issues(&config),
            [issue("storage", "at least one storage device must be marked as root device")]
        );
    }

    #[test]
    fn requires_at_least_one_disk_like_the_server() {
        let config = Builder::default().into_config();
        assert_eq!(config_issues(&config), [issue("storage", "at least one storage device is required")]);
    }

    #[test]
    fn rejects_empty_network_id() {
        let mut config = valid();
        config.network[0].id.clear();
        assert_eq!(fields(&config), ["network[0].id"]);
    }

    #[test]
    fn rejects_unspecified_network_mode() {
        let mut config = valid();
        config.network[0].mode = NetworkMode::Unspecified;
        assert_eq!(
            config_issues(&config),
            [issue("network[0].mode", "network mode must be specified for interface eth0")]
        );
    }

    #[test]
    fn accepts_a_mode_unknown_to_this_sdk_but_not_unknown_zero() {
        let mut config = valid();
        config.network[0].mode = NetworkMode::Unknown(4);
        assert_eq!(config_issues(&config), []);
        config.network[0].mode = NetworkMode::Unknown(0);
        assert_eq!(fields(&config), ["network[0].mode"]);
    }

    #[test]
    fn rejects_duplicate_interface_ids() {
        let mut builder = templates::builder(Template::Minimal);
        builder.add_default_network();
        assert_eq!(
            config_issues(builder.config()),
            [issue("network[1].id", "duplicate network interface ID \"eth0\" (also network[0])")]
        );
    }

    #[test]
    fn rejects_repeated_map_keys() {
        let mut config = valid();
        config.metadata.push(("template".into(), "again".into()));
        assert_eq!(config_issues(&config), [issue("metadata", "duplicate key \"template\"")]);
    }

    #[test]
    fn reports_all_problems_at_once() {
        let mut config = valid();
        config.cpu.as_mut().unwrap().vcpu_count = 0;
        config.memory = None;
        config.boot.as_mut().unwrap().kernel_path.clear();
        config.storage[0].path.clear();
        config.network[0].mode = NetworkMode::Unspecified;
        assert_eq!(
            fields(&config),
            ["cpu.vcpu-count", "memory", "boot.kernel-path", "storage[0].path", "network[0].mode"]
        );
    }

    #[test]
    fn identities_must_be_non_empty_and_baggage_safe() {
        assert_eq!(identity_issues("alice", "team-1.prod_x"), []);
        assert_eq!(
            identity_issues("", "a b"),
            [
                issue("user-id", "must not be empty"),
                issue(
                    "tenant-id",
                    "\"a b\" contains ' '; only letters, digits, '.', '_' and '-' are allowed"
                ),
            ]
        );
        assert_eq!(identity_issues("ü", "t").len(), 1);
        assert_eq!(identity_issues("a,b", "t")[0].field, "user-id");
    }
}
