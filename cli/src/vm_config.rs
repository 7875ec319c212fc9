//! Builds the VM config of `create`, `create-and-boot` and `config-gen` through the
//! component (template, config file, builder overrides, validation): the CLI holds no
//! second copy of that logic.

use std::path::Path;

use metald_host::bindings::types::{Error as SdkError, VmConfig};
use metald_host::{Error, Instance};
use wasmtime::component::ResourceAny;

use crate::args::VmArgs;
use crate::error::CliError;
use crate::output;

const MIB: i64 = 1 << 20;

/// A config and where it came from.
pub struct BuiltConfig {
    /// The config.
    pub config: VmConfig,
    /// Template name, when built from one.
    pub template: Option<String>,
}

/// Reads and parses a config file through the component; errors name the file.
pub async fn load_file(instance: &mut Instance, path: &Path) -> Result<VmConfig, CliError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
    let in_file = |error: Error| CliError::Input(format!("{}: {error}", path.display()));
    let file = instance
        .call_fallible(async |guest, store| {
            guest.metald_client_config_file().call_parse_config_file(store, &text).await
        })
        .await
        .map_err(in_file)?;
    instance
        .call_fallible(async |guest, store| {
            guest.metald_client_config_file().call_to_vm_config(store, &file).await
        })
        .await
        .map_err(in_file)
}

/// The config the flags describe: `--config` or `--template` (default `standard`), then
/// `--docker-image`, `--force-build`, `--cpu`, `--memory`, then validation.
pub async fn build(instance: &mut Instance, vm: &VmArgs) -> Result<BuiltConfig, CliError> {
    let (start, template) = match (&vm.config, &vm.template) {
        (Some(_), Some(_)) => {
            return Err(CliError::Usage(
                "--template cannot be combined with --config: the file names its template".into(),
            ));
        }
        (Some(path), None) => (load_file(instance, path).await?, None),
        (None, name) => {
            let name = name.clone().unwrap_or_else(|| "standard".into());
            let template = instance
                .call_fallible(async |guest, store| {
                    guest.metald_client_templates().call_parse_template(store, &name).await
                })
                .await
                .map_err(|e| CliError::Usage(format!("--template: {e}")))?;
            (instance.template_config(template).await?, Some(name))
        }
    };
    let mut builder = Builder::from_config(instance, &start).await?;
    if let Some(image) = &vm.docker_image {
        builder.call(async |b, s, h| b.call_for_docker_image(s, h, image).await).await?;
        if vm.force_build == Some(true) {
            builder.call(async |b, s, h| b.call_force_build(s, h, true).await).await?;
        }
    } else if vm.force_build == Some(true) {
        tracing::warn!("--force-build has no effect without --docker-image");
    }
    if vm.cpu > 0 {
        let current_max = start.cpu.as_ref().map_or(0, |c| u32::try_from(c.max_vcpu_count).unwrap_or(0));
        let max = vm.cpu.saturating_mul(2).max(current_max);
        builder
            .fallible(async |b, s, h| b.call_with_cpu(s, h, vm.cpu, max).await)
            .await
            .map_err(flag_error("--cpu"))?;
    }
    if vm.memory > 0 {
        let memory = start.memory.as_ref();
        let current_max = memory.map_or(0, |m| u64::try_from(m.max_size_bytes / MIB).unwrap_or(0));
        let hotplug = memory.is_some_and(|m| m.hotplug_enabled);
        let max = vm.memory.saturating_mul(2).max(current_max);
        builder
            .fallible(async |b, s, h| b.call_with_memory_mb(s, h, vm.memory, max, hotplug).await)
            .await
            .map_err(flag_error("--memory"))?;
    }
    if template.is_some() {
        builder.call(async |b, s, h| b.call_add_metadata(s, h, "created_by", "metald-host").await).await?;
        let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        builder.call(async |b, s, h| b.call_add_metadata(s, h, "creation_time", &now).await).await?;
    }
    builder.fallible(async |b, s, h| b.call_validate(s, h).await).await.map_err(CliError::from)?;
    let config = builder.call(async |b, s, h| b.call_build(s, h).await).await?;
    builder.finish().await?;
    // metald-cli prints this line on stdout, which breaks `-json` (README.md, "Differences
    // from the Go client"); here it is a debug log on stderr (`-v -v`), shaped as `info -json`
    // writes `Config`.
    if tracing::enabled!(tracing::Level::DEBUG) {
        match output::config_json(&config) {
            Ok(json) => tracing::debug!("Final VM config: {json}"),
            Err(error) => tracing::debug!("Final VM config: {error}"),
        }
    }
    Ok(BuiltConfig { config, template })
}

fn flag_error(flag: &'static str) -> impl Fn(Error) -> CliError {
    move |error| CliError::Usage(format!("{flag}: {error}"))
}

type Guest<'a> = metald_host::bindings::builder::GuestVmConfigBuilder<'a>;

/// A `vm-config-builder` resource in an instance.
struct Builder<'a> {
    instance: &'a mut Instance,
    handle: ResourceAny,
}

impl<'a> Builder<'a> {
    async fn from_config(instance: &'a mut Instance, config: &VmConfig) -> Result<Builder<'a>, CliError> {
        let handle = instance
            .call(async |guest, store| {
                guest.metald_client_builder().vm_config_builder().call_from_config(store, config).await
            })
            .await?;
        Ok(Builder { instance, handle })
    }

    async fn call<T>(
        &mut self,
        f: impl AsyncFnOnce(
            &Guest<'_>,
            &mut wasmtime::Store<metald_host::HostState>,
            ResourceAny,
        ) -> wasmtime::Result<T>,
    ) -> Result<T, Error> {
        let handle = self.handle;
        self.instance
            .call(async |guest, store| {
                f(&guest.metald_client_builder().vm_config_builder(), store, handle).await
            })
            .await
    }

    async fn fallible<T>(
        &mut self,
        f: impl AsyncFnOnce(
            &Guest<'_>,
            &mut wasmtime::Store<metald_host::HostState>,
            ResourceAny,
        ) -> wasmtime::Result<Result<T, SdkError>>,
    ) -> Result<T, Error> {
        self.call(f).await?.map_err(Error::Component)
    }

    async fn finish(self) -> Result<(), Error> {
        self.instance.drop_resource(self.handle).await
    }
}
