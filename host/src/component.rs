//! The engine and the compiled component: pooling allocator, epoch interruption, and an
//! on-disk cache so the CLI deserializes instead of compiling on every start.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::error::Error;

/// The component this host was built with (`metald-guest`, profile `component`).
pub const EMBEDDED_COMPONENT: &[u8] = include_bytes!(env!("METALD_COMPONENT_FILE"));

/// Where the component comes from.
#[derive(Clone, Debug, Default)]
pub enum ComponentSource {
    /// The one embedded at build time.
    #[default]
    Embedded,
    /// A `.wasm` file.
    File(PathBuf),
}

/// Whether and where compiled components are cached.
#[derive(Clone, Debug, Default)]
pub enum CacheMode {
    /// `$METALD_CACHE_DIR`, else `$XDG_CACHE_HOME/metald-host`, else `~/.cache/metald-host`.
    #[default]
    Default,
    /// This directory.
    Dir(PathBuf),
    /// Compile every time.
    Off,
}

/// Engine settings that matter for capacity and isolation.
#[derive(Clone, Copy, Debug)]
pub struct EngineLimits {
    /// Instances alive at once (pooling allocator slots).
    pub max_instances: u32,
    /// Largest linear memory of one instance, in bytes.
    pub memory_cap: usize,
}

impl Default for EngineLimits {
    fn default() -> Self {
        EngineLimits { max_instances: 1024, memory_cap: 64 << 20 }
    }
}

/// Epoch ticks per second; the runaway check runs on this clock.
pub const EPOCH_TICKS_PER_SECOND: u64 = 100;

/// An engine with the pooling allocator and epoch interruption.
pub fn engine(limits: EngineLimits) -> Result<Engine, Error> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.max_wasm_stack(512 << 10);
    config.async_stack_size(1 << 20);
    let mut pool = PoolingAllocationConfig::new();
    // The component needs 1 memory, 2 tables and 3 core instances per instance.
    pool.total_component_instances(limits.max_instances)
        .total_core_instances(limits.max_instances * 4)
        .total_memories(limits.max_instances)
        .total_tables(limits.max_instances * 2)
        .total_stacks(limits.max_instances)
        .max_memory_size(limits.memory_cap)
        .max_memories_per_module(1)
        .max_tables_per_module(1)
        .table_elements(10_000)
        .max_component_instance_size(64 << 10)
        .max_core_instance_size(64 << 10)
        .max_unused_warm_slots(64)
        .linear_memory_keep_resident(1 << 20)
        .table_keep_resident(64 << 10);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(|e| Error::Load(format!("engine: {e:#}")))
}

fn cache_dir(mode: &CacheMode) -> Option<PathBuf> {
    match mode {
        CacheMode::Off => None,
        CacheMode::Dir(dir) => Some(dir.clone()),
        CacheMode::Default => {
            let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
            var("METALD_CACHE_DIR")
                .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("metald-host")))
                .or_else(|| var("HOME").map(|d| d.join(".cache/metald-host")))
        }
    }
}

/// Loads the component: from the cache when an entry for these bytes and this engine
/// exists, else compiled with Cranelift and written to the cache.
pub fn load(engine: &Engine, source: &ComponentSource, cache: &CacheMode) -> Result<Component, Error> {
    let owned;
    let bytes: &[u8] = match source {
        ComponentSource::Embedded => EMBEDDED_COMPONENT,
        ComponentSource::File(path) => {
            owned = std::fs::read(path).map_err(|e| Error::Load(format!("{}: {e}", path.display())))?;
            &owned
        }
    };
    let Some(dir) = cache_dir(cache) else { return compile(engine, bytes) };
    // The engine's compatibility hash covers wasmtime's version, target and settings.
    let mut hasher = Sha256::new();
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut engine_hash);
    hasher.update(std::hash::Hasher::finish(&engine_hash).to_le_bytes());
    hasher.update(bytes);
    let key: String = hasher.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect();
    let path = dir.join(format!("{key}.cwasm"));
    if path.is_file() {
        // SAFETY: the file was written by `store_in_cache` below for exactly these component
        // bytes and this engine configuration (both are in its name), in a directory only
        // this user can write.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => {
                tracing::debug!(path = %path.display(), "component loaded from cache");
                return Ok(component);
            }
            Err(error) => tracing::warn!(path = %path.display(), %error, "ignoring unusable cache entry"),
        }
    }
    let component = compile(engine, bytes)?;
    if let Err(error) = store_in_cache(&component, &dir, &path) {
        tracing::warn!(dir = %dir.display(), %error, "cannot cache the compiled component");
    }
    Ok(component)
}

fn compile(engine: &Engine, bytes: &[u8]) -> Result<Component, Error> {
    let started = std::time::Instant::now();
    let component = Component::new(engine, bytes).map_err(|e| Error::Load(format!("{e:#}")))?;
    tracing::debug!(elapsed = ?started.elapsed(), "component compiled");
    Ok(component)
}

fn store_in_cache(component: &Component, dir: &Path, path: &Path) -> std::io::Result<()> {
    create_private_dir(dir)?;
    let bytes = component.serialize().map_err(std::io::Error::other)?;
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_load_comes_from_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(EngineLimits { max_instances: 4, memory_cap: 64 << 20 }).unwrap();
        let mode = CacheMode::Dir(dir.path().to_path_buf());
        load(&engine, &ComponentSource::Embedded, &mode).unwrap();
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].extension().unwrap(), "cwasm");
        load(&engine, &ComponentSource::Embedded, &mode).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "reused, not rewritten");
    }

    #[test]
    fn a_corrupt_cache_entry_is_recompiled() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(EngineLimits { max_instances: 4, memory_cap: 64 << 20 }).unwrap();
        let mode = CacheMode::Dir(dir.path().to_path_buf());
        load(&engine, &ComponentSource::Embedded, &mode).unwrap();
        let entry = std::fs::read_dir(dir.path()).unwrap().next().unwrap().unwrap().path();
        std::fs::write(&entry, b"not a compiled component").unwrap();
        load(&engine, &ComponentSource::Embedded, &mode).unwrap();
    }

    #[test]
    fn missing_component_files_name_the_path() {
        let engine = engine(EngineLimits { max_instances: 4, memory_cap: 64 << 20 }).unwrap();
        let error =
            load(&engine, &ComponentSource::File("/nope/x.wasm".into()), &CacheMode::Off).unwrap_err();
        assert!(error.to_string().contains("/nope/x.wasm"), "{error}");
    }
}
