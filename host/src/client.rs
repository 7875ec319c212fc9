//! [`Client`]: the component's `client` resource as a Rust type. A trap ends only the call
//! that caused it: the next call runs in a fresh instance.

use wasmtime::component::ResourceAny;

use crate::bindings::types::{
    BootVmResponse, ClientOptions, CreateVmResponse, DeleteVmRequest, DeleteVmResponse, GetVmInfoResponse,
    ListVmsRequest, ListVmsResponse, PauseVmResponse, RebootVmRequest, RebootVmResponse, ResumeVmResponse,
    ShutdownVmRequest, ShutdownVmResponse, VmConfig, VmInfo, VmState,
};
use crate::error::Error;
use crate::runtime::{Instance, Runtime};

/// A metald client running in the component.
pub struct Client {
    runtime: Runtime,
    options: ClientOptions,
    live: Option<(Instance, ResourceAny)>,
}

/// Generates a method that calls one method of the component's `client` resource.
macro_rules! rpc {
    ($(#[$doc:meta])* $name:ident => $call:ident($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        $(#[$doc])*
        pub async fn $name(&mut self, $($arg: $ty),*) -> Result<$ret, Error> {
            let (instance, handle) = self.live().await?;
            let result = instance
                .call_fallible(async |guest, store| guest.metald_client_client().client().$call(store, handle, $($arg),*).await)
                .await;
            self.settle(result)
        }
    };
}

impl Client {
    /// Opens a client in a fresh instance; fails on invalid options.
    pub(crate) async fn open(runtime: Runtime, options: ClientOptions) -> Result<Client, Error> {
        let mut client = Client { runtime, options, live: None };
        client.live().await?;
        Ok(client)
    }

    /// The live instance and client handle, made anew after a trap.
    async fn live(&mut self) -> Result<(&mut Instance, ResourceAny), Error> {
        let live = match self.live.take() {
            Some(live) if !live.0.is_poisoned() => live,
            _ => {
                let mut instance = self.runtime.instantiate().await?;
                let options = &self.options;
                let handle = instance
                    .call_fallible(async |guest, store| {
                        guest.metald_client_client().client().call_open(store, options).await
                    })
                    .await?;
                (instance, handle)
            }
        };
        let (instance, handle) = self.live.insert(live);
        Ok((instance, *handle))
    }

    /// Drops a poisoned instance right away so its pool slot is reused.
    fn settle<T>(&mut self, result: Result<T, Error>) -> Result<T, Error> {
        if self.live.as_ref().is_some_and(|(instance, _)| instance.is_poisoned()) {
            self.live = None;
        }
        result
    }

    /// Guest-to-host calls of this client's current instance so far ([`Instance::host_calls`]);
    /// 0 before its first instance.
    pub fn host_calls(&self) -> u64 {
        self.live.as_ref().map_or(0, |(instance, _)| instance.host_calls())
    }

    /// The options as the component resolved them (defaults filled in).
    pub async fn options(&mut self) -> Result<ClientOptions, Error> {
        let (instance, handle) = self.live().await?;
        let result = instance
            .call(async |guest, store| {
                guest.metald_client_client().client().call_options(store, handle).await
            })
            .await;
        self.settle(result)
    }

    rpc!(
        /// Validates `config` and creates a VM; use the id in the response.
        create_vm => call_create_vm(config: &VmConfig) -> CreateVmResponse
    );
    rpc!(
        /// Deletes a VM.
        delete_vm => call_delete_vm(request: &DeleteVmRequest) -> DeleteVmResponse
    );
    rpc!(
        /// Boots a VM.
        boot_vm => call_boot_vm(vm_id: &str) -> BootVmResponse
    );
    rpc!(
        /// Shuts a VM down.
        shutdown_vm => call_shutdown_vm(request: &ShutdownVmRequest) -> ShutdownVmResponse
    );
    rpc!(
        /// Pauses a VM.
        pause_vm => call_pause_vm(vm_id: &str) -> PauseVmResponse
    );
    rpc!(
        /// Resumes a VM.
        resume_vm => call_resume_vm(vm_id: &str) -> ResumeVmResponse
    );
    rpc!(
        /// Reboots a VM.
        reboot_vm => call_reboot_vm(request: &RebootVmRequest) -> RebootVmResponse
    );
    rpc!(
        /// Config, live state and network details of a VM.
        get_vm_info => call_get_vm_info(vm_id: &str) -> GetVmInfoResponse
    );
    rpc!(
        /// One page of VMs.
        list_vms => call_list_vms(request: &ListVmsRequest) -> ListVmsResponse
    );
    rpc!(
        /// Every VM in `state_filter` (empty: all), across all pages.
        list_all_vms => call_list_all_vms(state_filter: &[VmState]) -> Vec<VmInfo>
    );
}
