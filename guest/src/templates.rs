//! The five built-in templates (docs/upstream.md#builder-templates-and-validation).

use alloc::format;
use alloc::vec::Vec;

use crate::bindings::exports::metald::client::templates::Template;
use crate::builder::Builder;
use crate::errors::invalid;
use crate::model::{Error, VmConfig};

/// Every template, in declaration order.
pub const ALL: [Template; 5] =
    [Template::Minimal, Template::Standard, Template::HighCpu, Template::HighMemory, Template::Development];

/// The name of a template (`high-cpu`).
pub fn name(template: Template) -> &'static str {
    match template {
        Template::Minimal => "minimal",
        Template::Standard => "standard",
        Template::HighCpu => "high-cpu",
        Template::HighMemory => "high-memory",
        Template::Development => "development",
    }
}

/// Parses a template name; unknown names are an error listing the valid ones.
pub fn parse(text: &str) -> Result<Template, Error> {
    ALL.into_iter().find(|t| name(*t) == text).ok_or_else(|| {
        let names: Vec<&str> = ALL.iter().map(|t| name(*t)).collect();
        invalid("template", format!("unknown template \"{text}\"; expected one of: {}", names.join(", ")))
    })
}

/// A builder holding a template's config.
pub fn builder(template: Template) -> Builder {
    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;
    let standard_args = crate::builder::DEFAULT_KERNEL_ARGS;
    // (vcpu, max vcpu, memory, max memory, hotplug, kernel args, root disk, console, purpose)
    let (vcpu, max_vcpu, memory, max_memory, hotplug, args, root, console, purpose) = match template {
        Template::Minimal => (
            1,
            2,
            512 * MIB,
            GIB,
            false,
            "console=ttyS0 reboot=k panic=1 pci=off nomodeset",
            "/opt/vm-assets/minimal-rootfs.ext4",
            "/tmp/minimal-vm-console.log",
            "lightweight",
        ),
        Template::Standard => (
            2,
            4,
            2 * GIB,
            8 * GIB,
            true,
            standard_args,
            "/opt/vm-assets/rootfs.ext4",
            "/tmp/standard-vm-console.log",
            "general",
        ),
        Template::HighCpu => (
            8,
            16,
            4 * GIB,
            16 * GIB,
            true,
            standard_args,
            "/opt/vm-assets/rootfs.ext4",
            "/tmp/high-cpu-vm-console.log",
            "compute-intensive",
        ),
        Template::HighMemory => (
            4,
            8,
            16 * GIB,
            64 * GIB,
            true,
            standard_args,
            "/opt/vm-assets/rootfs.ext4",
            "/tmp/high-memory-vm-console.log",
            "memory-intensive",
        ),
        Template::Development => (
            4,
            8,
            8 * GIB,
            32 * GIB,
            true,
            standard_args,
            "/opt/vm-assets/dev-rootfs.ext4",
            "/tmp/dev-vm-console.log",
            "development",
        ),
    };
    let mut builder = Builder::default();
    // These constants are far below the limits with_cpu/with_memory check.
    let _ = builder.with_cpu(vcpu, max_vcpu);
    let _ = builder.with_memory(memory, max_memory, hotplug);
    builder.with_default_boot(args);
    builder.add_root_storage(root);
    if template == Template::Development {
        builder.add_data_storage("workspace", "/opt/vm-assets/dev-workspace.ext4", false);
    }
    builder.add_default_network();
    builder.with_default_console(console);
    builder.add_metadata("template", name(template));
    builder.add_metadata("purpose", purpose);
    if template == Template::Development {
        builder.add_metadata("environment", "dev");
    }
    builder
}

/// The config of a template.
pub fn config(template: Template) -> VmConfig {
    builder(template).into_config()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use alloc::string::String;

    /// (vcpu, max, bytes, max bytes, hotplug, args, disks, console, metadata)
    type Summary = (i32, i32, i64, i64, bool, String, Vec<(String, String, bool)>, String, StringMap);

    fn summary(template: Template) -> Summary {
        let c = config(template);
        let cpu = c.cpu.unwrap();
        let memory = c.memory.unwrap();
        let disks = c.storage.iter().map(|d| (d.id.clone(), d.path.clone(), d.is_root_device)).collect();
        (
            cpu.vcpu_count,
            cpu.max_vcpu_count,
            memory.size_bytes,
            memory.max_size_bytes,
            memory.hotplug_enabled,
            c.boot.unwrap().kernel_args,
            disks,
            c.console.unwrap().output,
            c.metadata,
        )
    }

    fn disk(id: &str, path: &str, root: bool) -> (String, String, bool) {
        (id.into(), path.into(), root)
    }

    const ARGS: &str = "console=ttyS0 reboot=k panic=1 pci=off";

    #[test]
    fn minimal_template() {
        assert_eq!(
            summary(Template::Minimal),
            (
                1,
                2,
                536870912,
                1073741824,
                false,
                "console=ttyS0 reboot=k panic=1 pci=off nomodeset".into(),
                vec![disk("rootfs", "/opt/vm-assets/minimal-rootfs.ext4", true)],
                "/tmp/minimal-vm-console.log".into(),
                map_from([("purpose", "lightweight"), ("template", "minimal")]),
            )
        );
    }

    #[test]
    fn standard_template() {
        assert_eq!(
            summary(Template::Standard),
            (
                2,
                4,
                2147483648,
                8589934592,
                true,
                ARGS.into(),
                vec![disk("rootfs", "/opt/vm-assets/rootfs.ext4", true)],
                "/tmp/standard-vm-console.log".into(),
                map_from([("purpose", "general"), ("template", "standard")]),
            )
        );
    }

    #[test]
    fn high_cpu_template() {
        assert_eq!(
            summary(Template::HighCpu),
            (
                8,
                16,
                4294967296,
                17179869184,
                true,
                ARGS.into(),
                vec![disk("rootfs", "/opt/vm-assets/rootfs.ext4", true)],
                "/tmp/high-cpu-vm-console.log".into(),
                map_from([("purpose", "compute-intensive"), ("template", "high-cpu")]),
            )
        );
    }

    #[test]
    fn high_memory_template() {
        assert_eq!(
            summary(Template::HighMemory),
            (
                4,
                8,
                17179869184,
                68719476736,
                true,
                ARGS.into(),
                vec![disk("rootfs", "/opt/vm-assets/rootfs.ext4", true)],
                "/tmp/high-memory-vm-console.log".into(),
                map_from([("purpose", "memory-intensive"), ("template", "high-memory")]),
            )
        );
    }

    #[test]
    fn development_template() {
        assert_eq!(
            summary(Template::Development),
            (
                4,
                8,
                8589934592,
                34359738368,
                true,
                ARGS.into(),
                vec![
                    disk("rootfs", "/opt/vm-assets/dev-rootfs.ext4", true),
                    disk("workspace", "/opt/vm-assets/dev-workspace.ext4", false),
                ],
                "/tmp/dev-vm-console.log".into(),
                map_from([("environment", "dev"), ("purpose", "development"), ("template", "development")]),
            )
        );
        let workspace = &config(Template::Development).storage[1];
        assert!(!workspace.read_only);
    }

    #[test]
    fn every_template_has_kernel_eth0_and_serial_console() {
        for template in ALL {
            let c = config(template);
            let boot = c.boot.unwrap();
            assert_eq!(
                (boot.kernel_path.as_str(), boot.initrd_path.as_str()),
                ("/opt/vm-assets/vmlinux", "")
            );
            assert_eq!(c.network.len(), 1);
            let nic = &c.network[0];
            assert_eq!((nic.id.as_str(), nic.mode), ("eth0", NetworkMode::DualStack));
            assert!(nic.ipv4_config.as_ref().unwrap().dhcp && nic.ipv6_config.as_ref().unwrap().slaac);
            let console = c.console.unwrap();
            assert!(console.enabled);
            assert_eq!(console.console_type, "serial");
            assert!(c.storage.iter().all(|d| d.interface_type == "virtio-blk"));
        }
    }

    #[test]
    fn names_parse_back_and_unknown_names_are_errors() {
        for template in ALL {
            assert_eq!(parse(name(template)).unwrap(), template);
        }
        let error = parse("huge").unwrap_err();
        assert_eq!(
            error,
            invalid(
                "template",
                "unknown template \"huge\"; expected one of: minimal, standard, high-cpu, high-memory, development"
            )
        );
    }
}
