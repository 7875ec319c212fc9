//! The `vm-config-builder` resource.

use alloc::string::String;
use core::cell::RefCell;

use crate::bindings::exports::metald::client::builder::{self, VmConfigBuilder};
use crate::bindings::exports::metald::client::templates::Template;
use crate::builder::Builder;
use crate::errors::issues_to_result;
use crate::model::*;

/// A builder owned by the component's caller.
pub struct BuilderResource(RefCell<Builder>);

impl builder::Guest for super::Component {
    type VmConfigBuilder = BuilderResource;
}

impl BuilderResource {
    fn with<T>(&self, f: impl FnOnce(&mut Builder) -> T) -> T {
        f(&mut self.0.borrow_mut())
    }
}

impl builder::GuestVmConfigBuilder for BuilderResource {
    fn new() -> Self {
        BuilderResource(RefCell::new(Builder::default()))
    }

    fn from_template(template: Template) -> VmConfigBuilder {
        VmConfigBuilder::new(BuilderResource(RefCell::new(crate::templates::builder(template))))
    }

    fn from_config(config: VmConfig) -> VmConfigBuilder {
        VmConfigBuilder::new(BuilderResource(RefCell::new(Builder::from_config(config))))
    }

    fn with_cpu(&self, vcpu_count: u32, max_vcpu_count: u32) -> Result<(), Error> {
        self.with(|b| b.with_cpu(vcpu_count, max_vcpu_count))
    }

    fn with_memory(&self, size_bytes: u64, max_size_bytes: u64, hotplug_enabled: bool) -> Result<(), Error> {
        self.with(|b| b.with_memory(size_bytes, max_size_bytes, hotplug_enabled))
    }

    fn with_memory_mb(&self, size_mb: u64, max_size_mb: u64, hotplug_enabled: bool) -> Result<(), Error> {
        self.with(|b| b.with_memory_mb(size_mb, max_size_mb, hotplug_enabled))
    }

    fn with_memory_gb(&self, size_gb: u64, max_size_gb: u64, hotplug_enabled: bool) -> Result<(), Error> {
        self.with(|b| b.with_memory_gb(size_gb, max_size_gb, hotplug_enabled))
    }

    fn with_boot(&self, kernel_path: String, initrd_path: String, kernel_args: String) {
        self.with(|b| b.with_boot(&kernel_path, &initrd_path, &kernel_args));
    }

    fn with_default_boot(&self, kernel_args: String) {
        self.with(|b| b.with_default_boot(&kernel_args));
    }

    fn add_storage(
        &self,
        id: String,
        path: String,
        read_only: bool,
        is_root_device: bool,
        interface_type: String,
    ) {
        self.with(|b| b.add_storage(&id, &path, read_only, is_root_device, &interface_type));
    }

    fn add_root_storage(&self, path: String) {
        self.with(|b| b.add_root_storage(&path));
    }

    fn add_data_storage(&self, id: String, path: String, read_only: bool) {
        self.with(|b| b.add_data_storage(&id, &path, read_only));
    }

    fn add_storage_with_options(
        &self,
        id: String,
        path: String,
        read_only: bool,
        is_root_device: bool,
        interface_type: String,
        options: StringMap,
    ) {
        self.with(|b| {
            b.add_storage_with_options(&id, &path, read_only, is_root_device, &interface_type, options)
        });
    }

    fn add_network(&self, id: String, interface_type: String, mode: NetworkMode) {
        self.with(|b| b.add_network(&id, &interface_type, mode));
    }

    fn add_default_network(&self) {
        self.with(Builder::add_default_network);
    }

    fn add_ipv4_only_network(&self, id: String) {
        self.with(|b| b.add_ipv4_only_network(&id));
    }

    fn add_ipv6_only_network(&self, id: String) {
        self.with(|b| b.add_ipv6_only_network(&id));
    }

    fn add_network_with_custom_config(
        &self,
        id: String,
        interface_type: String,
        mode: NetworkMode,
        ipv4: Option<Ipv4Config>,
        ipv6: Option<Ipv6Config>,
    ) {
        self.with(|b| b.add_network_with_custom_config(&id, &interface_type, mode, ipv4, ipv6));
    }

    fn with_console(&self, enabled: bool, output: String, console_type: String) {
        self.with(|b| b.with_console(enabled, &output, &console_type));
    }

    fn with_default_console(&self, output: String) {
        self.with(|b| b.with_default_console(&output));
    }

    fn disable_console(&self) {
        self.with(Builder::disable_console);
    }

    fn add_metadata(&self, key: String, value: String) {
        self.with(|b| b.add_metadata(&key, &value));
    }

    fn with_metadata(&self, metadata: StringMap) {
        self.with(|b| b.with_metadata(metadata));
    }

    fn for_docker_image(&self, image: String) {
        self.with(|b| b.for_docker_image(&image));
    }

    fn force_build(&self, force: bool) {
        self.with(|b| b.force_build(force));
    }

    fn build(&self) -> VmConfig {
        self.with(|b| b.config().clone())
    }

    fn validate(&self) -> Result<(), Error> {
        self.with(|b| issues_to_result(crate::validation::config_issues(b.config())))
    }
}
