//! What a store holds for one component instance.

use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::limits::{Activity, GuestLimits};
use crate::transport::Hooks;

/// The `T` of `Store<T>`: WASI contexts, the outbound hooks, and the guest's limits.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: Hooks,
    pub(crate) limits: GuestLimits,
    pub(crate) activity: Activity,
    pub(crate) runaway_budget: Duration,
    /// Calls from the guest into the host so far (wasmtime's `CallHook::CallingHost`):
    /// every `wasi:*` import, resource drop and libcall.
    pub(crate) host_calls: u64,
}

impl HostState {
    pub(crate) fn new(hooks: Hooks, activity: Activity, memory_cap: usize, runaway_budget: Duration) -> Self {
        // No stdio, environment, files or sockets: the component gets none of them.
        HostState::with_wasi(WasiCtx::builder().build(), hooks, activity, memory_cap, runaway_budget)
    }

    /// A state with this WASI context (a plugin's arguments, environment and stdio).
    pub(crate) fn with_wasi(
        wasi: WasiCtx,
        hooks: Hooks,
        activity: Activity,
        memory_cap: usize,
        runaway_budget: Duration,
    ) -> Self {
        HostState {
            wasi,
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            hooks,
            limits: GuestLimits { memory_cap, refused_growth: false },
            activity,
            runaway_budget,
            host_calls: 0,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}
