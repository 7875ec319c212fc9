//! Plugins: a user's component that imports the SDK's `metald:client` interfaces and
//! exports `wasi:cli/run`, composed with the metald client component and run with this
//! crate's outbound HTTP.
//!
//! This is what a wasmtime-based plugin platform does with the SDK (Spin's component
//! dependencies, wasmCloud, `wac plug`), in one place:
//!
//! 1. [`compose`]: the Bytecode Alliance's `wac plug` (crate `wac-graph`) plugs the client
//!    component's exports into the plugin's `metald:client/*` imports. The result is one
//!    component whose only imports are WASI: the plugin's (CLI, clocks, random, ...) and the
//!    client component's `wasi:http/outgoing-handler`.
//! 2. [`PluginHost::load`]: composes, compiles (through the compiled-component cache of
//!    [`crate::component::load`]) and links it: WASI with no preopened directories, no
//!    sockets and no stdin, and `wasi:http` through the same hooks as [`crate::Runtime`]:
//!    the allow-list, then the pooled transport with its TLS identity. The plugin never
//!    sees a key or a certificate, and reaches only what the allow-list names.
//! 3. [`Plugin::run`]: a fresh instance per run, given arguments and environment, calls
//!    `wasi:cli/run`. A trap, a runaway or running out of memory ends that run with a typed
//!    error; the host and the next run are unaffected.
//!
//! ```no_run
//! # async fn demo() -> Result<(), metald_host::plugin::PluginError> {
//! use metald_host::plugin::{Invocation, PluginConfig, PluginHost};
//! let transport = metald_host::plain_transport("http://127.0.0.1:8080")?;
//! let host = PluginHost::new(PluginConfig::new(transport))?;
//! let plugin = host.load(&std::fs::read("plugin.wasm").unwrap_or_default())?;
//! let output = plugin.run(&Invocation::captured(["plugin", "--count", "2"])).await?;
//! println!("exit {}: {}", output.exit_code, String::from_utf8_lossy(&output.stdout));
//! # Ok(()) }
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use wac_graph::types::Package;
use wac_graph::{CompositionGraph, EncodeOptions};
use wasmtime::component::Linker;
use wasmtime::{Engine, Trap};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{I32Exit, WasiCtx};

use crate::component::{self, CacheMode, ComponentSource, EngineLimits};
use crate::error::{Error, LoadStep, WasmError};
use crate::limits::Activity;
use crate::runtime::{EpochTicker, engine_and_linker, guarded_store};
use crate::state::HostState;
use crate::transport::{AllowList, Hooks, Transport, TransportConfig, TransportStats};

/// The package prefix of the SDK's interfaces, which composition must resolve.
pub const SDK_PACKAGE: &str = "metald:client/";

/// The export a plugin must have: the command world's entry point (any `0.2.x`).
pub const RUN_EXPORT: &str = "wasi:cli/run@0.2";

/// Everything a plugin can fail with, besides its own exit code.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The plugin file could not be read.
    #[error("reading the plugin file {}", path.display())]
    ReadPlugin {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// `wac plug` could not compose the plugin with the client component.
    #[error("composing the plugin with the metald client component: {step}")]
    Compose {
        /// What was being done.
        step: ComposeStep,
        /// wac's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The composed component still imports something that is not WASI (a `metald:client`
    /// interface the client component does not export, or another component's interface).
    #[error(
        "the plugin imports `{0}`, which neither the metald client component nor the host provides \
         (a composed plugin may import only wasi:* interfaces)"
    )]
    ForeignImport(String),
    /// The plugin is not a command: it does not export `wasi:cli/run`.
    #[error(
        "the plugin does not export wasi:cli/run (build it as a command component: a wasm32-wasip2 binary)"
    )]
    NotACommand,
    /// Building the engine, compiling, linking or instantiating failed, or the transport
    /// could not be set up.
    #[error(transparent)]
    Host(#[from] Error),
    /// The plugin trapped (a panic, `unreachable`, an out-of-bounds access): this run is over;
    /// the host and later runs are unaffected.
    #[error("the plugin trapped")]
    Trap(#[source] WasmError),
    /// The plugin asked for more memory than its cap.
    #[error("the plugin ran out of memory (cap {cap_bytes} bytes)")]
    OutOfMemory {
        /// The cap.
        cap_bytes: usize,
    },
    /// The plugin computed for longer than the runaway budget without any HTTP activity.
    #[error("the plugin ran for more than {0:?} without I/O and was stopped")]
    Runaway(Duration),
}

/// The step of composition that failed, for [`PluginError::Compose`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComposeStep {
    /// Reading the plugin as a component.
    ReadPlugin,
    /// Reading the metald client component.
    ReadSdk,
    /// Plugging the client component's exports into the plugin's imports.
    Plug,
    /// Encoding (and validating) the composed component.
    Encode,
}

impl std::fmt::Display for ComposeStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ComposeStep::ReadPlugin => "reading the plugin",
            ComposeStep::ReadSdk => "reading the metald client component",
            ComposeStep::Plug => "plugging the metald client component into the plugin's imports",
            ComposeStep::Encode => "encoding the composed component",
        })
    }
}

fn compose_error<E: Into<Box<dyn std::error::Error + Send + Sync>>>(
    step: ComposeStep,
) -> impl FnOnce(E) -> PluginError {
    move |error| PluginError::Compose { step, source: error.into() }
}

/// `wac plug --plug SDK PLUGIN`: the plugin with the client component (`sdk`) plugged into
/// its `metald:client` imports, as one component. Its imports are the plugin's other imports
/// and the client component's (`wasi:http/outgoing-handler`, `wasi:clocks`); its exports
/// are the plugin's. A plugin that imports nothing the client component exports is an
/// error ([`ComposeStep::Plug`]).
pub fn compose(plugin: &[u8], sdk: &[u8]) -> Result<Vec<u8>, PluginError> {
    let mut graph = CompositionGraph::new();
    let socket = Package::from_bytes("plugin", None, plugin, graph.types_mut())
        .map_err(compose_error(ComposeStep::ReadPlugin))?;
    let socket = graph.register_package(socket).map_err(compose_error(ComposeStep::ReadPlugin))?;
    let plug = Package::from_bytes("metald:client", None, sdk, graph.types_mut())
        .map_err(compose_error(ComposeStep::ReadSdk))?;
    let plug = graph.register_package(plug).map_err(compose_error(ComposeStep::ReadSdk))?;
    wac_graph::plug(&mut graph, vec![plug], socket).map_err(compose_error(ComposeStep::Plug))?;
    graph.encode(EncodeOptions::default()).map_err(compose_error(ComposeStep::Encode))
}

/// How to build a [`PluginHost`].
#[derive(Clone)]
pub struct PluginConfig {
    /// The client component plugged into plugins ([`ComponentSource::Embedded`] by default).
    pub sdk: ComponentSource,
    /// Compiled-component cache (composed plugins are cached by their bytes).
    pub cache: CacheMode,
    /// Instance count and memory cap (one instance per run in progress).
    pub limits: EngineLimits,
    /// A run that computes this long without any HTTP activity is stopped (10 s by default).
    /// Time the plugin spends waiting on other WASI I/O (a sleep, a long stdout write) counts
    /// as computing: raise it for plugins that sleep.
    pub runaway_budget: Duration,
    /// Outbound HTTP of the client component inside the plugin: TLS identity and allow-list.
    pub transport: TransportConfig,
}

impl PluginConfig {
    /// Defaults around a transport configuration.
    pub fn new(transport: TransportConfig) -> Self {
        PluginConfig {
            sdk: ComponentSource::Embedded,
            cache: CacheMode::Default,
            limits: EngineLimits::FEW,
            runaway_budget: Duration::from_secs(10),
            transport,
        }
    }
}

struct HostInner {
    engine: Engine,
    linker: Linker<HostState>,
    sdk: Arc<[u8]>,
    cache: CacheMode,
    policy: Arc<AllowList>,
    transport: Arc<Transport>,
    limits: EngineLimits,
    runaway_budget: Duration,
    _ticker: EpochTicker,
}

/// The engine, WASI and `wasi:http` linker, and transport that plugins run with; loads any
/// number of plugins. Cheap to clone.
#[derive(Clone)]
pub struct PluginHost(Arc<HostInner>);

impl PluginHost {
    /// Builds the engine and the linker, reads the client component, and prepares the
    /// transport.
    pub fn new(config: PluginConfig) -> Result<PluginHost, PluginError> {
        let (engine, linker) = engine_and_linker(config.limits)?;
        let sdk: Arc<[u8]> = match &config.sdk {
            ComponentSource::Embedded => Arc::from(component::EMBEDDED_COMPONENT),
            ComponentSource::Bytes(bytes) => bytes.clone(),
            ComponentSource::File(path) => Arc::from(
                std::fs::read(path).map_err(|source| Error::ReadComponent { path: path.clone(), source })?,
            ),
        };
        let ticker = EpochTicker::start(engine.clone());
        Ok(PluginHost(Arc::new(HostInner {
            engine,
            linker,
            sdk,
            cache: config.cache,
            policy: Arc::new(config.transport.allow.clone()),
            transport: Transport::new(config.transport),
            limits: config.limits,
            runaway_budget: config.runaway_budget,
            _ticker: ticker,
        })))
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.0.engine
    }

    /// The transport's counters (requests, denied requests, connections) over every run.
    pub fn transport_stats(&self) -> TransportStats {
        self.0.transport.stats()
    }

    /// Composes `plugin` (component bytes) with the client component, compiles the result,
    /// checks that it imports only WASI and exports `wasi:cli/run`, and links it.
    pub fn load(&self, plugin: &[u8]) -> Result<Plugin, PluginError> {
        let composed = compose(plugin, &self.0.sdk)?;
        self.load_composed(composed)
    }

    /// [`PluginHost::load`] of a file.
    pub fn load_file(&self, path: &std::path::Path) -> Result<Plugin, PluginError> {
        let bytes = std::fs::read(path)
            .map_err(|source| PluginError::ReadPlugin { path: path.to_path_buf(), source })?;
        self.load(&bytes)
    }

    /// Loads a component that is already composed (by [`compose`] or `wac plug`): the same
    /// checks and linking as [`PluginHost::load`].
    pub fn load_composed(&self, composed: Vec<u8>) -> Result<Plugin, PluginError> {
        let engine = &self.0.engine;
        let source = ComponentSource::Bytes(Arc::from(composed));
        let component = component::load(engine, &source, &self.0.cache)?;
        let ty = component.component_type();
        let imports: Vec<String> = ty.imports(engine).map(|(name, _)| name.to_string()).collect();
        let exports: Vec<String> = ty.exports(engine).map(|(name, _)| name.to_string()).collect();
        if let Some(foreign) = imports.iter().find(|name| !name.starts_with("wasi:")) {
            return Err(PluginError::ForeignImport(foreign.clone()));
        }
        if !exports.iter().any(|name| name.starts_with(RUN_EXPORT)) {
            return Err(PluginError::NotACommand);
        }
        let instance_pre = self.0.linker.instantiate_pre(&component).map_err(LoadStep::Link.err())?;
        let pre = CommandPre::new(instance_pre).map_err(LoadStep::Link.err())?;
        Ok(Plugin { host: self.clone(), pre, imports, exports })
    }
}

/// Arguments, environment and standard streams of one run.
#[derive(Clone, Debug, Default)]
pub struct Invocation {
    /// `argv`, the program name first (what `wasi:cli/environment.get-arguments` returns).
    pub args: Vec<String>,
    /// Environment variables the plugin sees (none by default; never the host's own).
    pub env: Vec<(String, String)>,
    /// Where stdout and stderr go.
    pub stdio: Stdio,
}

impl Invocation {
    /// `args` (the program name first), output captured.
    pub fn captured<S: Into<String>>(args: impl IntoIterator<Item = S>) -> Invocation {
        Invocation {
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            stdio: Stdio::default(),
        }
    }
}

/// Where a plugin's stdout and stderr go. Stdin is always closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stdio {
    /// The host process's stdout and stderr.
    Inherit,
    /// Kept in memory and returned in [`RunOutput`]; a write beyond `limit` bytes (per
    /// stream) traps.
    Capture {
        /// Most bytes kept per stream.
        limit: usize,
    },
}

impl Default for Stdio {
    fn default() -> Self {
        Stdio::Capture { limit: 1 << 20 }
    }
}

/// How a run ended, when the plugin did not trap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutput {
    /// 0 when `run` returned `ok`, 1 for `err`, else the code passed to `wasi:cli/exit`.
    pub exit_code: i32,
    /// What the plugin wrote to stdout ([`Stdio::Capture`]; empty otherwise).
    pub stdout: Vec<u8>,
    /// What the plugin wrote to stderr ([`Stdio::Capture`]; empty otherwise).
    pub stderr: Vec<u8>,
}

/// A composed, linked plugin; each [`Plugin::run`] gets a fresh instance.
pub struct Plugin {
    host: PluginHost,
    pre: CommandPre<HostState>,
    imports: Vec<String>,
    exports: Vec<String>,
}

impl Plugin {
    /// The composed component's imports (all `wasi:*`).
    pub fn imports(&self) -> &[String] {
        &self.imports
    }

    /// The composed component's exports (`wasi:cli/run@0.2.x` among them).
    pub fn exports(&self) -> &[String] {
        &self.exports
    }

    /// Runs the plugin once: a new instance with `invocation`'s arguments, environment and
    /// streams, then `wasi:cli/run`. The plugin's own failure is its exit code
    /// ([`RunOutput::exit_code`]); a trap, a runaway or running out of memory is an error,
    /// and leaves the host and later runs unaffected.
    pub async fn run(&self, invocation: &Invocation) -> Result<RunOutput, PluginError> {
        let host = &self.host.0;
        let mut wasi = WasiCtx::builder();
        wasi.args(&invocation.args)
            .envs(&invocation.env)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        let captured = match invocation.stdio {
            Stdio::Inherit => {
                wasi.inherit_stdout().inherit_stderr();
                None
            }
            Stdio::Capture { limit } => {
                let (stdout, stderr) = (MemoryOutputPipe::new(limit), MemoryOutputPipe::new(limit));
                wasi.stdout(stdout.clone()).stderr(stderr.clone());
                Some((stdout, stderr))
            }
        };
        let activity = Activity::default();
        let hooks = Hooks::new(host.policy.clone(), host.transport.clone(), activity.clone());
        let state =
            HostState::with_wasi(wasi.build(), hooks, activity, host.limits.memory_cap, host.runaway_budget);
        let mut store = guarded_store(&host.engine, state);
        store.data().activity.touch();
        let outcome = match self.pre.instantiate_async(&mut store).await {
            Ok(command) => command.wasi_cli_run().call_run(&mut store).await,
            Err(error) => Err(error),
        };
        let exit_code = match outcome {
            Ok(Ok(())) => 0,
            Ok(Err(())) => 1,
            Err(error) => match error.downcast_ref::<I32Exit>() {
                Some(exit) => exit.0,
                None => return Err(classify(store.data(), error)),
            },
        };
        let (stdout, stderr) = match captured {
            Some((stdout, stderr)) => (stdout.contents().to_vec(), stderr.contents().to_vec()),
            None => (Vec::new(), Vec::new()),
        };
        Ok(RunOutput { exit_code, stdout, stderr })
    }
}

fn classify(state: &HostState, error: wasmtime::Error) -> PluginError {
    if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        tracing::error!(budget = ?state.runaway_budget, "plugin interrupted: it ran without I/O for too long");
        PluginError::Runaway(state.runaway_budget)
    } else if state.limits.refused_growth {
        tracing::error!(cap = state.limits.memory_cap, "plugin out of memory");
        PluginError::OutOfMemory { cap_bytes: state.limits.memory_cap }
    } else {
        tracing::error!(error = format!("{error:?}"), "plugin trapped");
        PluginError::Trap(WasmError(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command component that imports an (empty) `metald:client` interface and traps in
    /// `run`: composable, and fails at run time.
    const TRAPPING: &str = r#"
        (component
          (import "metald:client/templates@0.1.0" (instance))
          (core module $m (func (export "run") (result i32) unreachable))
          (core instance $i (instantiate $m))
          (func $run (result (result)) (canon lift (core func $i "run")))
          (instance $cli (export "run" (func $run)))
          (export "wasi:cli/run@0.2.6" (instance $cli))
        )
    "#;

    fn host() -> PluginHost {
        let transport = crate::plain_transport("http://127.0.0.1:9").unwrap();
        let mut config = PluginConfig::new(transport);
        config.cache = CacheMode::Off;
        PluginHost::new(config).unwrap()
    }

    #[test]
    fn a_component_that_imports_nothing_of_the_sdk_is_not_composed() {
        let plain = wat::parse_str(
            r#"(component
                 (core module $m (func (export "run") (result i32) i32.const 0))
                 (core instance $i (instantiate $m))
                 (func $run (result (result)) (canon lift (core func $i "run")))
                 (instance $cli (export "run" (func $run)))
                 (export "wasi:cli/run@0.2.6" (instance $cli)))"#,
        )
        .unwrap();
        let error = compose(&plain, component::EMBEDDED_COMPONENT).unwrap_err();
        assert!(matches!(error, PluginError::Compose { step: ComposeStep::Plug, .. }), "{error:?}");
        let error = compose(b"not wasm", component::EMBEDDED_COMPONENT).unwrap_err();
        assert!(matches!(error, PluginError::Compose { step: ComposeStep::ReadPlugin, .. }), "{error:?}");
        assert!(
            crate::error::chain(&error).contains("not a binary-encoded WebAssembly component"),
            "{error}"
        );
    }

    #[test]
    fn a_component_importing_more_than_wasi_is_refused_by_name() {
        let foreign = wat::parse_str(
            r#"(component
                 (import "metald:client/templates@0.1.0" (instance))
                 (import "acme:billing/charge" (instance))
                 (core module $m (func (export "run") (result i32) i32.const 0))
                 (core instance $i (instantiate $m))
                 (func $run (result (result)) (canon lift (core func $i "run")))
                 (instance $cli (export "run" (func $run)))
                 (export "wasi:cli/run@0.2.6" (instance $cli)))"#,
        )
        .unwrap();
        let error = host().load(&foreign).err().expect("refused");
        assert!(
            matches!(error, PluginError::ForeignImport(ref name) if name == "acme:billing/charge"),
            "{error:?}"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_trap_is_a_typed_error_and_the_next_run_starts_afresh() {
        let plugin = host().load(&wat::parse_str(TRAPPING).unwrap()).unwrap();
        for _ in 0..2 {
            let error = plugin.run(&Invocation::captured(["trap"])).await.unwrap_err();
            assert!(matches!(error, PluginError::Trap(_)), "{error:?}");
            assert!(crate::error::chain(&error).contains("unreachable"), "{}", crate::error::chain(&error));
        }
    }
}
