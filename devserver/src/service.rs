//! `VmService` as metald answers it (docs/upstream.md#server-behaviour), with a correct state machine and real
//! pagination. Differences from the real server are listed in the README.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use buffa::{Enumeration, Message, MessageField};
use connectrpc::{ConnectError, RequestContext, Response, ServiceRequest, ServiceResult};

use crate::auth::{Caller, authenticate};
use crate::pb::*;
use crate::store::{Change, NetworkAssignment, Refusal, Store, StoreError, VmRecord};

/// Page size when the request leaves it at 0.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Largest page size; larger requests are clamped.
pub const MAX_PAGE_SIZE: usize = 100;

/// The service state.
pub struct VmServer {
    store: Arc<dyn Store>,
}

impl VmServer {
    /// A service over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        VmServer { store }
    }

    /// The caller of a per-VM RPC and its VM, checked in the real server's order.
    fn owned_vm(&self, ctx: &RequestContext, vm_id: &str) -> Result<VmRecord, ConnectError> {
        let caller = authenticate(ctx.headers())?;
        if vm_id.is_empty() {
            return Err(ConnectError::invalid_argument("vm_id is required"));
        }
        let customer = caller
            .customer
            .ok_or_else(|| ConnectError::unauthenticated("customer_id not found in context"))?;
        let vm = self.store.get(vm_id).map_err(internal)?.ok_or_else(|| not_found(vm_id))?;
        if vm.customer_id != customer {
            return Err(ConnectError::permission_denied("access denied: VM not owned by customer"));
        }
        Ok(vm)
    }

    /// Moves an owned VM to `to` if its state is one of `from`.
    fn transition(
        &self,
        ctx: &RequestContext,
        vm_id: &str,
        rpc: &str,
        from: &[VmState],
        to: VmState,
    ) -> Result<VmRecord, ConnectError> {
        self.owned_vm(ctx, vm_id)?;
        let mut decide = |vm: &VmRecord| {
            let current = state_of(vm.state);
            if !from.contains(&current) {
                let allowed: Vec<&str> = from.iter().map(|s| state_name(*s)).collect();
                return Err(Refusal(format!(
                    "vm {vm_id} is {}; {rpc} needs {}",
                    state_name(current),
                    allowed.join(" or ")
                )));
            }
            let network = (to == VmState::VM_STATE_RUNNING && vm.network.is_none()).then(|| network_for(vm));
            Ok(Change { state: to.to_i32(), network, modified_at: unix_now() })
        };
        match self.store.update(vm_id, &mut decide).map_err(internal)? {
            None => Err(not_found(vm_id)),
            Some(Err(Refusal(reason))) => Err(ConnectError::failed_precondition(reason)),
            Some(Ok(vm)) => Ok(vm),
        }
    }
}

fn internal(error: StoreError) -> ConnectError {
    tracing::error!(%error, "store failed");
    ConnectError::internal(error.to_string())
}

fn not_found(vm_id: &str) -> ConnectError {
    ConnectError::not_found(format!("VM not found: {vm_id}"))
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn state_of(number: i32) -> VmState {
    buffa::EnumValue::<VmState>::from(number).as_known().unwrap_or(VmState::VM_STATE_UNSPECIFIED)
}

fn state_name(state: VmState) -> &'static str {
    match state {
        VmState::VM_STATE_CREATED => "VM_STATE_CREATED",
        VmState::VM_STATE_RUNNING => "VM_STATE_RUNNING",
        VmState::VM_STATE_PAUSED => "VM_STATE_PAUSED",
        VmState::VM_STATE_SHUTDOWN => "VM_STATE_SHUTDOWN",
        VmState::VM_STATE_UNSPECIFIED => "VM_STATE_UNSPECIFIED",
    }
}

/// A deterministic address, MAC and TAP device for a VM.
fn network_for(vm: &VmRecord) -> NetworkAssignment {
    let n = vm.seq.rem_euclid(250 * 250);
    let hex = vm.vm_id.trim_start_matches("ud-");
    let byte = |i: usize| hex.get(i * 2..i * 2 + 2).unwrap_or("00");
    NetworkAssignment {
        ip: format!("10.100.{}.{}", n / 250, n % 250 + 2),
        mac: format!("02:00:{}:{}:{}:{}", byte(0), byte(1), byte(2), byte(3)),
        tap: format!("tap{}", &hex[..hex.len().min(12)]),
    }
}

/// A fresh VM id: `ud-` + 16 lowercase hex digits (8 random bytes), like firecracker metald.
fn new_vm_id() -> String {
    let bytes: [u8; 8] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("ud-{hex}")
}

/// The server-side config checks (docs/upstream.md#server-behaviour), first failure wins.
fn validate(config: &VmConfig) -> Result<(), ConnectError> {
    let (Some(cpu), Some(memory), Some(boot)) =
        (config.cpu.as_option(), config.memory.as_option(), config.boot.as_option())
    else {
        let missing = if config.cpu.as_option().is_none() {
            "cpu"
        } else if config.memory.as_option().is_none() {
            "memory"
        } else {
            "boot"
        };
        return Err(ConnectError::invalid_argument(format!("{missing} configuration is required")));
    };
    if cpu.vcpu_count <= 0 {
        return Err(ConnectError::invalid_argument("vcpu_count must be greater than 0"));
    }
    if cpu.max_vcpu_count > 0 && cpu.max_vcpu_count < cpu.vcpu_count {
        return Err(ConnectError::invalid_argument(
            "max_vcpu_count must be greater than or equal to vcpu_count",
        ));
    }
    if memory.size_bytes <= 0 {
        return Err(ConnectError::invalid_argument("memory size_bytes must be greater than 0"));
    }
    if boot.kernel_path.is_empty() {
        return Err(ConnectError::invalid_argument("kernel_path is required"));
    }
    if config.storage.is_empty() {
        return Err(ConnectError::invalid_argument("at least one storage device is required"));
    }
    if let Some(index) = config.storage.iter().position(|disk| disk.path.is_empty()) {
        return Err(ConnectError::invalid_argument(format!("storage device {index} path is required")));
    }
    Ok(())
}

/// Opaque page tokens: the position after which the next page starts.
fn page_token(seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{seq}"))
}

fn parse_page_token(token: &str) -> Result<Option<i64>, ConnectError> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || ConnectError::invalid_argument(format!("invalid page_token {token:?}"));
    let text = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(text).map_err(|_| invalid())?;
    text.strip_prefix("v1:").and_then(|seq| seq.parse().ok()).map(Some).ok_or_else(invalid)
}

fn decoded_config(vm: &VmRecord) -> Result<VmConfig, ConnectError> {
    VmConfig::decode_from_slice(&vm.config)
        .map_err(|e| ConnectError::internal(format!("stored config of {}: {e}", vm.vm_id)))
}

fn vm_info(vm: &VmRecord) -> Result<VmInfo, ConnectError> {
    let config = decoded_config(vm)?;
    Ok(VmInfo {
        vm_id: vm.vm_id.clone(),
        state: vm.state.into(),
        vcpu_count: config.cpu.as_option().map_or(0, |c| c.vcpu_count),
        memory_size_bytes: config.memory.as_option().map_or(0, |m| m.size_bytes),
        created_timestamp: vm.created_at,
        modified_timestamp: vm.modified_at,
        metadata: config.metadata.clone(),
        customer_id: vm.customer_id.clone(),
        ..Default::default()
    })
}

fn customer_of(caller: Caller) -> Result<String, ConnectError> {
    caller.customer.ok_or_else(|| ConnectError::unauthenticated("customer authentication required"))
}

#[allow(refining_impl_trait)]
impl VmService for VmServer {
    async fn create_vm(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, CreateVmRequest>,
    ) -> ServiceResult<CreateVmResponse> {
        let caller = authenticate(ctx.headers())?;
        let request = request.to_owned_message();
        let Some(config) = request.config.as_option() else {
            return Err(ConnectError::invalid_argument("vm config is required"));
        };
        let customer = customer_of(caller)?;
        if !request.customer_id.is_empty() && request.customer_id != customer {
            return Err(ConnectError::permission_denied("customer_id mismatch"));
        }
        validate(config)?;
        // Client-chosen ids are ignored, as on the real server.
        let now = unix_now();
        let mut attempts = 0;
        let vm = loop {
            let candidate = VmRecord {
                seq: 0,
                vm_id: new_vm_id(),
                customer_id: customer.clone(),
                config: config.encode_to_vec(),
                state: VmState::VM_STATE_CREATED.to_i32(),
                network: None,
                created_at: now,
                modified_at: now,
            };
            match self.store.insert(candidate) {
                Ok(vm) => break vm,
                // A 64-bit id collision: draw another one.
                Err(StoreError::Sqlite(e)) if attempts < 3 && e.to_string().contains("UNIQUE") => {
                    attempts += 1
                }
                Err(e) => return Err(ConnectError::internal(format!("failed to persist vm: {e}"))),
            }
        };
        tracing::info!(vm_id = %vm.vm_id, customer = %vm.customer_id, "created");
        Response::ok(CreateVmResponse {
            vm_id: vm.vm_id,
            state: VmState::VM_STATE_CREATED.into(),
            ..Default::default()
        })
    }

    async fn delete_vm(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, DeleteVmRequest>,
    ) -> ServiceResult<DeleteVmResponse> {
        let vm = self.owned_vm(&ctx, request.vm_id)?;
        if !self.store.delete(&vm.vm_id, unix_now()).map_err(internal)? {
            return Err(not_found(&vm.vm_id));
        }
        Response::ok(DeleteVmResponse { success: true, ..Default::default() })
    }

    async fn boot_vm(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, BootVmRequest>,
    ) -> ServiceResult<BootVmResponse> {
        let from = [VmState::VM_STATE_CREATED, VmState::VM_STATE_SHUTDOWN];
        let vm = self.transition(&ctx, request.vm_id, "BootVm", &from, VmState::VM_STATE_RUNNING)?;
        Response::ok(BootVmResponse { success: true, state: vm.state.into(), ..Default::default() })
    }

    async fn shutdown_vm(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, ShutdownVmRequest>,
    ) -> ServiceResult<ShutdownVmResponse> {
        let from = [VmState::VM_STATE_RUNNING, VmState::VM_STATE_PAUSED];
        let vm = self.transition(&ctx, request.vm_id, "ShutdownVm", &from, VmState::VM_STATE_SHUTDOWN)?;
        Response::ok(ShutdownVmResponse { success: true, state: vm.state.into(), ..Default::default() })
    }

    async fn pause_vm(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, PauseVmRequest>,
    ) -> ServiceResult<PauseVmResponse> {
        let vm = self.transition(
            &ctx,
            request.vm_id,
            "PauseVm",
            &[VmState::VM_STATE_RUNNING],
            VmState::VM_STATE_PAUSED,
        )?;
        Response::ok(PauseVmResponse { success: true, state: vm.state.into(), ..Default::default() })
    }

    async fn resume_vm(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, ResumeVmRequest>,
    ) -> ServiceResult<ResumeVmResponse> {
        let vm = self.transition(
            &ctx,
            request.vm_id,
            "ResumeVm",
            &[VmState::VM_STATE_PAUSED],
            VmState::VM_STATE_RUNNING,
        )?;
        Response::ok(ResumeVmResponse { success: true, state: vm.state.into(), ..Default::default() })
    }

    async fn reboot_vm(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, RebootVmRequest>,
    ) -> ServiceResult<RebootVmResponse> {
        let vm = self.transition(
            &ctx,
            request.vm_id,
            "RebootVm",
            &[VmState::VM_STATE_RUNNING],
            VmState::VM_STATE_RUNNING,
        )?;
        Response::ok(RebootVmResponse { success: true, state: vm.state.into(), ..Default::default() })
    }

    async fn get_vm_info(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, GetVmInfoRequest>,
    ) -> ServiceResult<GetVmInfoResponse> {
        let vm = self.owned_vm(&ctx, request.vm_id)?;
        let network_info = vm.network.as_ref().map(|n| VmNetworkInfo {
            ip_address: n.ip.clone(),
            mac_address: n.mac.clone(),
            tap_device: n.tap.clone(),
            ..Default::default()
        });
        Response::ok(GetVmInfoResponse {
            vm_id: vm.vm_id.clone(),
            config: MessageField::some(decoded_config(&vm)?),
            state: vm.state.into(),
            network_info: network_info.map(MessageField::some).unwrap_or_default(),
            ..Default::default()
        })
    }

    async fn list_vms(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, ListVmsRequest>,
    ) -> ServiceResult<ListVmsResponse> {
        let customer = customer_of(authenticate(ctx.headers())?)?;
        let page_size = match request.page_size {
            size if size < 0 => return Err(ConnectError::invalid_argument("page_size must not be negative")),
            0 => DEFAULT_PAGE_SIZE,
            size => (size as usize).min(MAX_PAGE_SIZE),
        };
        let after = parse_page_token(request.page_token)?;
        let states: Vec<i32> = request.state_filter.iter().map(|s| s.to_i32()).collect();
        let page = self.store.list(&customer, &states, after, page_size).map_err(internal)?;
        let next_page_token = match (page.more, page.vms.last()) {
            (true, Some(last)) => page_token(last.seq),
            _ => String::new(),
        };
        let vms = page.vms.iter().map(vm_info).collect::<Result<Vec<_>, _>>()?;
        Response::ok(ListVmsResponse {
            vms,
            next_page_token,
            total_count: i32::try_from(page.total).unwrap_or(i32::MAX),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_ids_are_ud_plus_16_lowercase_hex() {
        let id = new_vm_id();
        assert_eq!(id.len(), 19);
        assert!(id.starts_with("ud-"));
        assert!(id[3..].chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)), "{id}");
    }

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        assert_eq!(parse_page_token(&page_token(42)).unwrap(), Some(42));
        assert_eq!(parse_page_token("").unwrap(), None);
        assert!(parse_page_token("not a token").is_err());
        assert!(parse_page_token(&URL_SAFE_NO_PAD.encode("v2:1")).is_err());
    }

    #[test]
    fn server_validation_uses_the_real_messages() {
        let message = |config: VmConfig| validate(&config).unwrap_err().message.unwrap_or_default();
        assert_eq!(message(VmConfig::default()), "cpu configuration is required");
        let mut config = VmConfig {
            cpu: MessageField::some(CpuConfig { vcpu_count: 2, max_vcpu_count: 1, ..Default::default() }),
            memory: MessageField::some(MemoryConfig { size_bytes: 1, ..Default::default() }),
            boot: MessageField::some(BootConfig { kernel_path: "/k".into(), ..Default::default() }),
            ..Default::default()
        };
        assert_eq!(message(config.clone()), "max_vcpu_count must be greater than or equal to vcpu_count");
        config.cpu = MessageField::some(CpuConfig { vcpu_count: 2, ..Default::default() });
        assert_eq!(message(config.clone()), "at least one storage device is required");
        config.storage =
            vec![StorageDevice { path: "/r".into(), ..Default::default() }, StorageDevice::default()];
        assert_eq!(message(config.clone()), "storage device 1 path is required");
        config.storage.pop();
        assert!(validate(&config).is_ok());
    }
}
