//! The `client` resource: each method is one RPC through [`crate::call::call`], on one
//! generic path ([`ClientResource::unary`]).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::bindings::exports::metald::client::client::{self, Client};
use crate::call::call;
use crate::codec::convert::in_state_filter;
use crate::codec::{RpcRequest, RpcResponse};
use crate::model::*;
use crate::options::Resolved;
use crate::wasi_transport::WasiTransport;

/// Page size `list-all-vms` asks for (the server's maximum).
const LIST_ALL_PAGE_SIZE: i32 = 100;
/// Pages `list-all-vms` follows before it assumes the server is looping.
const LIST_ALL_MAX_PAGES: usize = 100_000;

/// A client owned by the component's caller.
pub struct ClientResource {
    options: Resolved,
}

impl client::Guest for super::Component {
    type Client = ClientResource;
}

impl ClientResource {
    /// One RPC; `take` picks the response case of the request's method. The codec decodes
    /// each method into its own case, so another case cannot happen; it is still an error,
    /// not a trap.
    fn unary<T>(&self, request: RpcRequest, take: fn(RpcResponse) -> Option<T>) -> Result<T, Error> {
        let response = call(&mut WasiTransport::new(), &self.options, &request)?;
        take(response).ok_or_else(|| {
            Error::Other("internal error: the codec returned a response of another method".into())
        })
    }
}

/// `self.unary` with the request case `$case` and the response case of the same name.
macro_rules! rpc {
    ($self:ident, $case:ident($request:expr)) => {
        $self.unary(RpcRequest::$case($request), |response| match response {
            RpcResponse::$case(r) => Some(r),
            _ => None,
        })
    };
}

impl client::GuestClient for ClientResource {
    fn open(options: ClientOptions) -> Result<Client, Error> {
        Ok(Client::new(ClientResource { options: Resolved::new(&options)? }))
    }

    fn options(&self) -> ClientOptions {
        self.options.to_options()
    }

    fn create_vm(&self, config: VmConfig) -> Result<CreateVmResponse, Error> {
        rpc!(self, CreateVm(CreateVmRequest { vm_id: String::new(), config }))
    }

    fn delete_vm(&self, request: DeleteVmRequest) -> Result<DeleteVmResponse, Error> {
        rpc!(self, DeleteVm(request))
    }

    fn boot_vm(&self, vm_id: String) -> Result<BootVmResponse, Error> {
        rpc!(self, BootVm(vm_id))
    }

    fn shutdown_vm(&self, request: ShutdownVmRequest) -> Result<ShutdownVmResponse, Error> {
        rpc!(self, ShutdownVm(request))
    }

    fn pause_vm(&self, vm_id: String) -> Result<PauseVmResponse, Error> {
        rpc!(self, PauseVm(vm_id))
    }

    fn resume_vm(&self, vm_id: String) -> Result<ResumeVmResponse, Error> {
        rpc!(self, ResumeVm(vm_id))
    }

    fn reboot_vm(&self, request: RebootVmRequest) -> Result<RebootVmResponse, Error> {
        rpc!(self, RebootVm(request))
    }

    fn get_vm_info(&self, vm_id: String) -> Result<GetVmInfoResponse, Error> {
        rpc!(self, GetVmInfo(vm_id))
    }

    fn list_vms(&self, request: ListVmsRequest) -> Result<ListVmsResponse, Error> {
        rpc!(self, ListVms(request))
    }

    fn list_all_vms(&self, state_filter: Vec<VmState>) -> Result<Vec<VmInfo>, Error> {
        let mut vms = Vec::new();
        let mut seen_tokens: Vec<String> = Vec::new();
        let mut page_token = String::new();
        for _ in 0..LIST_ALL_MAX_PAGES {
            let request = ListVmsRequest {
                state_filter: state_filter.clone(),
                page_size: LIST_ALL_PAGE_SIZE,
                page_token,
            };
            let page = self.list_vms(request)?;
            // The real metald ignores `state_filter`: apply it here too.
            vms.extend(page.vms.into_iter().filter(|vm| in_state_filter(vm.state, &state_filter)));
            if page.next_page_token.is_empty() {
                return Ok(vms);
            }
            if seen_tokens.contains(&page.next_page_token) {
                return Err(Error::Other(format!(
                    "the server returned page token {:?} twice; stopping to avoid an endless listing",
                    page.next_page_token
                )));
            }
            seen_tokens.push(page.next_page_token.clone());
            page_token = page.next_page_token;
        }
        Err(Error::Other(format!("listing did not end after {LIST_ALL_MAX_PAGES} pages")))
    }
}
