//! The runtime: one engine, the compiled component, an `InstancePre` reused for every
//! instance, and the shared transport. Instances are cheap (pooling allocator).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::{Component, Linker, ResourceAny};
use wasmtime::{CallHook, Engine, Store, Trap, UpdateDeadline};

use crate::bindings::templates::Template;
use crate::bindings::{Metald, MetaldPre, types};
use crate::component::{self, CacheMode, ComponentSource, EPOCH_TICKS_PER_SECOND, EngineLimits};
use crate::error::{Error, LoadStep, WasmError};
use crate::limits::Activity;
use crate::state::HostState;
use crate::transport::{AllowList, Hooks, Transport, TransportConfig, TransportStats};

/// How to build a [`Runtime`].
#[derive(Clone)]
pub struct RuntimeConfig {
    /// The component to run: the one this crate ships ([`ComponentSource::Embedded`], the
    /// default), or another build given as a file or as bytes.
    pub component: ComponentSource,
    /// Compiled-component cache.
    pub cache: CacheMode,
    /// Instance count and memory cap.
    pub limits: EngineLimits,
    /// A call that computes this long without any I/O is stopped (10 s by default).
    pub runaway_budget: Duration,
    /// Outbound HTTP.
    pub transport: TransportConfig,
}

impl RuntimeConfig {
    /// Defaults around a transport configuration.
    pub fn new(transport: TransportConfig) -> Self {
        RuntimeConfig {
            component: ComponentSource::Embedded,
            cache: CacheMode::Default,
            limits: EngineLimits::default(),
            runaway_budget: Duration::from_secs(10),
            transport,
        }
    }
}

/// Increments the engine's epoch until dropped.
pub(crate) struct EpochTicker(Arc<AtomicBool>);

impl EpochTicker {
    pub(crate) fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("metald-epoch".into())
            .spawn(move || {
                let tick = Duration::from_millis(1000 / EPOCH_TICKS_PER_SECOND);
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                }
            })
            .map(|_| ())
            .unwrap_or_else(
                |e| tracing::error!(%e, "cannot start the epoch thread; runaway guests will not be stopped"),
            );
        EpochTicker(stop)
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

struct Inner {
    engine: Engine,
    component: Component,
    pre: MetaldPre<HostState>,
    policy: Arc<AllowList>,
    transport: Arc<Transport>,
    limits: EngineLimits,
    runaway_budget: Duration,
    _ticker: EpochTicker,
}

/// A loaded component ready to instantiate; cheap to clone and share across tasks.
#[derive(Clone)]
pub struct Runtime(Arc<Inner>);

impl Runtime {
    /// Builds the engine, loads (or compiles and caches) the component, links it, and
    /// prepares the transport.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, Error> {
        let (engine, linker) = engine_and_linker(config.limits)?;
        let component = component::load(&engine, &config.component, &config.cache)?;
        let instance_pre = linker.instantiate_pre(&component).map_err(LoadStep::Link.err())?;
        let pre = MetaldPre::new(instance_pre).map_err(LoadStep::Link.err())?;
        let ticker = EpochTicker::start(engine.clone());
        Ok(Runtime(Arc::new(Inner {
            engine,
            component,
            pre,
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

    /// The compiled component.
    pub fn component(&self) -> &Component {
        &self.0.component
    }

    /// The transport's counters.
    pub fn transport_stats(&self) -> TransportStats {
        self.0.transport.stats()
    }

    /// A fresh instance in its own store.
    pub async fn instantiate(&self) -> Result<Instance, Error> {
        let activity = Activity::default();
        let hooks = Hooks::new(self.0.policy.clone(), self.0.transport.clone(), activity.clone());
        let state = HostState::new(hooks, activity, self.0.limits.memory_cap, self.0.runaway_budget);
        let mut store = guarded_store(&self.0.engine, state);
        let instance = self
            .0
            .pre
            .instance_pre()
            .instantiate_async(&mut store)
            .await
            .map_err(LoadStep::Instantiate.err())?;
        let guest = Metald::new(&mut store, &instance).map_err(LoadStep::Instantiate.err())?;
        Ok(Instance { store, guest, instance, poisoned: false })
    }

    /// A client of the component, opened with `options` (checked now; nothing is sent).
    pub async fn client(&self, options: types::ClientOptions) -> Result<crate::Client, Error> {
        crate::Client::open(self.clone(), options).await
    }
}

/// The engine for `limits` and a linker with WASI 0.2 and `wasi:http` (through the store's
/// [`HostState`] hooks): what the SDK component and plugins ([`crate::plugin`]) are linked with.
pub(crate) fn engine_and_linker(limits: EngineLimits) -> Result<(Engine, Linker<HostState>), Error> {
    let engine = component::engine(limits)?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(LoadStep::Link.err())?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(LoadStep::Link.err())?;
    Ok((engine, linker))
}

/// A store for one instance with the guest's checks armed: the memory cap (its limiter), the
/// runaway stop (an epoch callback that interrupts a guest idle of I/O for longer than its
/// budget, and otherwise yields every 100 ms), and the guest→host call counter.
pub(crate) fn guarded_store(engine: &Engine, state: HostState) -> Store<HostState> {
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limits);
    store.epoch_deadline_callback(|context| {
        let state = context.data();
        if state.activity.idle() > state.runaway_budget {
            Ok(UpdateDeadline::Interrupt)
        } else {
            // Check again in 100 ms, letting other tasks run meanwhile.
            Ok(UpdateDeadline::Yield(EPOCH_TICKS_PER_SECOND / 10))
        }
    });
    store.set_epoch_deadline(EPOCH_TICKS_PER_SECOND / 10);
    store.call_hook(|mut context, hook| {
        if matches!(hook, CallHook::CallingHost) {
            context.data_mut().host_calls += 1;
        }
        Ok(())
    });
    store
}

/// One instance of the component in its own store.
///
/// After a trap the store cannot run the component again: every later call fails with
/// [`Error::Poisoned`]. [`crate::Client`] replaces its instance on its own.
pub struct Instance {
    store: Store<HostState>,
    guest: Metald,
    instance: wasmtime::component::Instance,
    poisoned: bool,
}

impl Instance {
    /// Runs `f` against the component's typed exports, with the runaway and memory checks
    /// armed. A trap poisons the instance.
    pub async fn call<T>(
        &mut self,
        f: impl AsyncFnOnce(&Metald, &mut Store<HostState>) -> wasmtime::Result<T>,
    ) -> Result<T, Error> {
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        self.store.data().activity.touch();
        self.store.data_mut().limits.refused_growth = false;
        match f(&self.guest, &mut self.store).await {
            Ok(value) => Ok(value),
            Err(error) => {
                self.poisoned = true;
                Err(self.classify(error))
            }
        }
    }

    /// Like [`Instance::call`], for exports that return `result<T, error>`.
    pub async fn call_fallible<T>(
        &mut self,
        f: impl AsyncFnOnce(&Metald, &mut Store<HostState>) -> wasmtime::Result<Result<T, types::Error>>,
    ) -> Result<T, Error> {
        self.call(f).await?.map_err(Error::Component)
    }

    fn classify(&self, error: wasmtime::Error) -> Error {
        let state = self.store.data();
        if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            tracing::error!(budget = ?state.runaway_budget, "component interrupted: it ran without I/O for too long");
            Error::Runaway(state.runaway_budget)
        } else if state.limits.refused_growth {
            tracing::error!(cap = state.limits.memory_cap, "component out of memory");
            Error::OutOfMemory { cap_bytes: state.limits.memory_cap }
        } else {
            tracing::error!(error = format!("{error:?}"), "component trapped");
            Error::Trap(WasmError(error))
        }
    }

    /// The config of `template`, as the component's templates define it.
    pub async fn template_config(&mut self, template: Template) -> Result<types::VmConfig, Error> {
        self.call(async |guest, store| {
            guest.metald_client_templates().call_template_config(store, template).await
        })
        .await
    }

    /// How many times the guest has called into the host in this instance: every `wasi:*`
    /// import call, resource drop and libcall (wasmtime's `CallHook::CallingHost`). The
    /// benchmark reports it per RPC (`cargo bench -p metald-e2e --bench component -- host-calls`).
    pub fn host_calls(&self) -> u64 {
        self.store.data().host_calls
    }

    /// Whether the instance trapped and can no longer be used.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// The raw instance, for dynamic calls by export name.
    pub fn raw(&self) -> wasmtime::component::Instance {
        self.instance
    }

    /// The store, for dynamic calls.
    pub fn store(&mut self) -> &mut Store<HostState> {
        &mut self.store
    }

    /// Drops a resource the component handed out (a builder or client handle).
    pub async fn drop_resource(&mut self, handle: ResourceAny) -> Result<(), Error> {
        self.call(async |_, store| handle.resource_drop_async(store).await).await
    }
}

impl Instance {
    /// Calls an export found by name (see the `run` command), with the same checks as
    /// [`Instance::call`].
    pub async fn call_func(
        &mut self,
        func: wasmtime::component::Func,
        params: &[wasmtime::component::Val],
        results: &mut [wasmtime::component::Val],
    ) -> Result<(), Error> {
        self.call(async |_, store| func.call_async(store, params, results).await).await
    }
}
