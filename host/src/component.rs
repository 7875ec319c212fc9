//! The engine and the compiled component: pooling allocator (sized by [`EngineLimits`], with
//! on-demand allocation when its address space cannot be reserved), epoch interruption, and
//! an on-disk cache so the CLI deserializes instead of compiling on every start.
//!
//! A cached compiled component is native code that wasmtime maps and runs without checks,
//! so the cache is used only when its directory and file belong to the current user, are
//! not writable by group or others, and are not symlinks; otherwise the component is
//! compiled in memory (and a warning says why, once per process).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::error::{Error, LoadStep};

/// The component this crate ships: `component/metald_guest.wasm`, a reproducible build of
/// `metald-guest` (profile `component`) committed with the crate, so a git or registry
/// dependency needs no wasm toolchain. `scripts/build-component.sh` rebuilds it and
/// `scripts/build-component.sh --check` (run by `scripts/test.sh`) fails when it is stale.
pub const EMBEDDED_COMPONENT: &[u8] = include_bytes!("../component/metald_guest.wasm");

/// Where the component comes from ([`crate::RuntimeConfig::component`]).
#[derive(Clone, Debug, Default)]
pub enum ComponentSource {
    /// [`EMBEDDED_COMPONENT`].
    #[default]
    Embedded,
    /// A `.wasm` file, read when the runtime is built.
    File(PathBuf),
    /// Component bytes the embedder holds (its own build of `metald-guest`, say).
    Bytes(Arc<[u8]>),
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
    /// Instances alive at once (pooling allocator slots). Each slot reserves (but does not
    /// commit) about 4 GiB of address space; size it for the need (the CLI uses
    /// [`EngineLimits::FEW`]). When the reservation fails (an address-space limit such as
    /// `ulimit -v`, or valgrind), instances are allocated on demand instead.
    pub max_instances: u32,
    /// Largest linear memory of one instance, in bytes.
    pub memory_cap: usize,
}

impl Default for EngineLimits {
    fn default() -> Self {
        EngineLimits { max_instances: 1024, memory_cap: 64 << 20 }
    }
}

impl EngineLimits {
    /// For a one-shot command: a few instances (a builder and a client, and a spare).
    pub const FEW: EngineLimits = EngineLimits { max_instances: 4, memory_cap: 64 << 20 };
}

/// Epoch ticks per second; the runaway check runs on this clock.
pub const EPOCH_TICKS_PER_SECOND: u64 = 100;

fn base_config() -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.max_wasm_stack(512 << 10);
    config.async_stack_size(1 << 20);
    config
}

/// An engine with epoch interruption and the pooling allocator; when the pool's address
/// space cannot be reserved, with on-demand allocation instead (never an error for that).
pub fn engine(limits: EngineLimits) -> Result<Engine, Error> {
    match Engine::new(&pooling_config(limits)) {
        Ok(engine) => Ok(engine),
        Err(error) => {
            tracing::debug!(
                error = format!("{error:#}"),
                max_instances = limits.max_instances,
                "cannot reserve the pooling allocator's address space; allocating instances on demand"
            );
            on_demand_engine(limits)
        }
    }
}

/// An engine that allocates each instance when it is made, reserving only the memory cap
/// (plus a small guard) per linear memory: what fits under an address-space limit.
pub fn on_demand_engine(limits: EngineLimits) -> Result<Engine, Error> {
    let mut config = base_config();
    config
        .allocation_strategy(InstanceAllocationStrategy::OnDemand)
        .memory_reservation(limits.memory_cap as u64)
        .memory_reservation_for_growth(0)
        .memory_guard_size(64 << 10)
        .guard_before_linear_memory(false);
    Engine::new(&config).map_err(LoadStep::Engine.err())
}

fn pooling_config(limits: EngineLimits) -> Config {
    let mut config = base_config();
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
    config
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
            owned =
                std::fs::read(path).map_err(|source| Error::ReadComponent { path: path.clone(), source })?;
            &owned
        }
        ComponentSource::Bytes(bytes) => bytes,
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
    if let Some(problem) = cache_problem(&dir, &path) {
        warn_unsafe_cache(&problem);
        return compile(engine, bytes);
    }
    if path.is_file() {
        // SAFETY: the file is what `store_in_cache` below wrote for exactly these component
        // bytes and this engine configuration (both are in its name): `cache_problem` checked
        // that it and its directory are this user's, writable by nobody else, and no symlinks.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => {
                tracing::debug!(path = %path.display(), "component loaded from cache");
                return Ok(component);
            }
            Err(error) => tracing::warn!(path = %path.display(), %error, "ignoring unusable cache entry"),
        }
    }
    let component = compile(engine, bytes)?;
    match store_in_cache(&component, &dir, &path) {
        Ok(()) => {}
        Err(CacheError::Unsafe(problem)) => warn_unsafe_cache(&problem),
        Err(CacheError::Io(error)) => {
            tracing::warn!(dir = %dir.display(), %error, "cannot cache the compiled component")
        }
    }
    Ok(component)
}

/// Says once per process that the cache is not used, and why.
fn warn_unsafe_cache(problem: &str) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        tracing::warn!(
            "not using the compiled-component cache: {problem}; compiling in memory (fix the \
             permissions, or set METALD_CACHE_DIR to a private directory)"
        )
    });
}

/// Why the cache directory or its entry must not be used, if it must not: a cached entry is
/// native code, so only files that nobody but this user could have written are run.
/// Entries that do not exist yet are fine (they are created private).
pub fn cache_problem(dir: &Path, file: &Path) -> Option<String> {
    for (path, kind) in [(dir, "directory"), (file, "file")] {
        let metadata = match std::fs::symlink_metadata(path) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
            Err(error) => return Some(format!("cache {kind} {}: {error}", path.display())),
        };
        if let Some(problem) = ownership_problem(&metadata, kind == "directory") {
            return Some(format!("cache {kind} {} {problem}", path.display()));
        }
    }
    None
}

#[cfg(unix)]
fn ownership_problem(metadata: &std::fs::Metadata, want_dir: bool) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let kind = metadata.file_type();
    if kind.is_symlink() {
        return Some("is a symlink".into());
    }
    if want_dir && !kind.is_dir() {
        return Some("is not a directory".into());
    }
    if !want_dir && !kind.is_file() {
        return Some("is not a regular file".into());
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if metadata.uid() != me {
        return Some(format!("belongs to uid {}, not to this user (uid {me})", metadata.uid()));
    }
    let mode = metadata.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Some(format!("is writable by group or others (mode {mode:o})"));
    }
    None
}

#[cfg(not(unix))]
fn ownership_problem(metadata: &std::fs::Metadata, want_dir: bool) -> Option<String> {
    let kind = metadata.file_type();
    if kind.is_symlink() {
        Some("is a symlink".into())
    } else if want_dir != kind.is_dir() {
        Some("has the wrong file type".into())
    } else {
        None
    }
}

fn compile(engine: &Engine, bytes: &[u8]) -> Result<Component, Error> {
    let started = std::time::Instant::now();
    let component = Component::new(engine, bytes).map_err(LoadStep::Compile.err())?;
    tracing::debug!(elapsed = ?started.elapsed(), "component compiled");
    Ok(component)
}

enum CacheError {
    Unsafe(String),
    Io(std::io::Error),
}

impl From<std::io::Error> for CacheError {
    fn from(error: std::io::Error) -> Self {
        CacheError::Io(error)
    }
}

fn store_in_cache(component: &Component, dir: &Path, path: &Path) -> Result<(), CacheError> {
    create_private_dir(dir)?;
    // The directory may have existed (or been made by someone else) meanwhile: check again.
    if let Some(problem) = cache_problem(dir, path) {
        return Err(CacheError::Unsafe(problem));
    }
    let bytes = component.serialize().map_err(std::io::Error::other)?;
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&temporary);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&temporary).and_then(|mut file| {
        std::io::Write::write_all(&mut file, &bytes)?;
        file.sync_all()
    });
    if let Err(error) = written.and_then(|()| std::fs::rename(&temporary, path)) {
        let _ = std::fs::remove_file(&temporary);
        return Err(error.into());
    }
    Ok(())
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

    #[cfg(unix)]
    #[test]
    fn only_private_cache_directories_and_files_are_used() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path, mode: u32| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
        };
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("cache");
        let file = dir.join("x.cwasm");
        assert_eq!(cache_problem(&dir, &file), None, "nothing there yet: it will be made private");
        std::fs::create_dir(&dir).unwrap();
        mode(&dir, 0o700);
        assert_eq!(cache_problem(&dir, &file), None);
        std::fs::write(&file, b"x").unwrap();
        mode(&file, 0o644);
        assert_eq!(cache_problem(&dir, &file), None);
        for bad in [0o666, 0o646, 0o664] {
            mode(&file, bad);
            assert!(cache_problem(&dir, &file).unwrap().contains("writable by group or others"), "{bad:o}");
        }
        mode(&file, 0o600);
        for bad in [0o777, 0o770, 0o707, 0o1777] {
            mode(&dir, bad);
            assert!(cache_problem(&dir, &file).unwrap().contains("writable by group or others"), "{bad:o}");
        }
        mode(&dir, 0o700);
        let link = dir.join("link.cwasm");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(cache_problem(&dir, &link).unwrap().contains("is a symlink"));
        let linked_dir = root.path().join("linked");
        std::os::unix::fs::symlink(&dir, &linked_dir).unwrap();
        assert!(cache_problem(&linked_dir, &linked_dir.join("x.cwasm")).unwrap().contains("is a symlink"));
        let not_a_file = dir.join("sub.cwasm");
        std::fs::create_dir(&not_a_file).unwrap();
        assert!(cache_problem(&dir, &not_a_file).unwrap().contains("not a regular file"));
    }

    #[cfg(unix)]
    #[test]
    fn entries_are_written_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("new");
        let engine = on_demand_engine(EngineLimits::FEW).unwrap();
        load(&engine, &ComponentSource::Embedded, &CacheMode::Dir(cache.clone())).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&cache), 0o700);
        let entry = std::fs::read_dir(&cache).unwrap().next().unwrap().unwrap().path();
        assert_eq!(mode(&entry), 0o600);
        assert_eq!(cache_problem(&cache, &entry), None);
    }

    #[test]
    fn component_bytes_given_at_run_time_are_compiled_and_cached_by_their_content() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(EngineLimits::FEW).unwrap();
        let mode = CacheMode::Dir(dir.path().to_path_buf());
        load(&engine, &ComponentSource::Embedded, &mode).unwrap();
        load(&engine, &ComponentSource::Bytes(EMBEDDED_COMPONENT.into()), &mode).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "the same bytes share an entry");
        // The empty component, `(component)` in the binary format (component-model
        // Binary.md: magic, version 0x0d, layer 1).
        let empty: Arc<[u8]> = Arc::from(&b"\0asm\x0d\x00\x01\x00"[..]);
        load(&engine, &ComponentSource::Bytes(empty), &mode).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "other bytes get their own entry");
        let garbage =
            load(&engine, &ComponentSource::Bytes(Arc::from(&b"not wasm"[..])), &CacheMode::Off).map(drop);
        assert!(matches!(garbage, Err(Error::Load { .. })), "{garbage:?}");
    }

    #[test]
    fn missing_component_files_name_the_path() {
        let engine = engine(EngineLimits { max_instances: 4, memory_cap: 64 << 20 }).unwrap();
        let error =
            load(&engine, &ComponentSource::File("/nope/x.wasm".into()), &CacheMode::Off).unwrap_err();
        assert!(error.to_string().contains("/nope/x.wasm"), "{error}");
    }
}
