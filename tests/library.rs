//! The host library against the dev server: lifecycle, connection reuse, allow-list,
//! timeouts, and containment of a failing guest.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use metald_devserver::Fault;
use metald_host::bindings::types::ClientOptions;
use metald_host::bindings::types::{
    DeleteVmRequest, Error as SdkError, ErrorCode, ListVmsRequest, RebootVmRequest, ShutdownVmRequest,
    VmState,
};
use metald_host::{Error, Runtime, RuntimeConfig};
use support::*;

fn code_of(error: &Error) -> Option<ErrorCode> {
    error.connect_code()
}

#[tokio::test(flavor = "multi_thread")]
async fn full_lifecycle_through_the_library() {
    let server = dev_server().await;
    let (runtime, mut client) = client(&server.url()).await;
    let config = minimal_config(&runtime).await;
    let created = client.create_vm(&config).await.unwrap();
    assert_eq!(created.state, VmState::Created);
    assert_eq!(client.boot_vm(&created.vm_id).await.unwrap().state, VmState::Running);
    let info = client.get_vm_info(&created.vm_id).await.unwrap();
    assert_eq!(info.config.as_ref(), Some(&config));
    assert!(info.network_info.is_some());
    assert_eq!(client.pause_vm(&created.vm_id).await.unwrap().state, VmState::Paused);
    assert_eq!(client.resume_vm(&created.vm_id).await.unwrap().state, VmState::Running);
    let reboot = RebootVmRequest { vm_id: created.vm_id.clone(), force: false };
    assert_eq!(client.reboot_vm(&reboot).await.unwrap().state, VmState::Running);
    let shutdown = ShutdownVmRequest { vm_id: created.vm_id.clone(), force: true, timeout_seconds: 30 };
    assert_eq!(client.shutdown_vm(&shutdown).await.unwrap().state, VmState::Shutdown);
    let page = client
        .list_vms(&ListVmsRequest { state_filter: vec![], page_size: 10, page_token: String::new() })
        .await
        .unwrap();
    assert_eq!(page.total_count, 1);
    assert!(
        client
            .delete_vm(&DeleteVmRequest { vm_id: created.vm_id.clone(), force: false })
            .await
            .unwrap()
            .success
    );
    let error = client.get_vm_info(&created.vm_id).await.unwrap_err();
    assert_eq!(code_of(&error), Some(ErrorCode::NotFound), "{error}");
    assert_eq!(error.to_string(), format!("not_found: VM not found: {}", created.vm_id));
}

#[tokio::test(flavor = "multi_thread")]
async fn list_all_follows_pages_and_filters() {
    let server = dev_server().await;
    let (runtime, mut client) = client(&server.url()).await;
    let config = minimal_config(&runtime).await;
    let mut ids = Vec::new();
    for _ in 0..130 {
        ids.push(client.create_vm(&config).await.unwrap().vm_id);
    }
    client.boot_vm(&ids[7]).await.unwrap();
    let all = client.list_all_vms(&[]).await.unwrap();
    assert_eq!(all.len(), 130);
    let running = client.list_all_vms(&[VmState::Running]).await.unwrap();
    assert_eq!(running.iter().map(|v| v.vm_id.clone()).collect::<Vec<_>>(), [ids[7].clone()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn sequential_calls_share_one_connection() {
    let server = dev_server().await;
    let (runtime, mut client) = client(&server.url()).await;
    for _ in 0..25 {
        client.list_all_vms(&[]).await.unwrap();
    }
    assert_eq!(server.stats().connections, 1, "the server saw one connection");
    assert_eq!(runtime.transport_stats().connections, 1);
    assert_eq!(server.stats().requests, 25);
}

/// `Client::host_calls` counts the guest's calls into the host (what the benchmark reports per
/// RPC): every RPC goes through `wasi:http`, and a new client counts its own instance's.
#[tokio::test(flavor = "multi_thread")]
async fn host_calls_are_counted_per_instance() {
    let server = dev_server().await;
    let (runtime, mut client) = client(&server.url()).await;
    let opened = client.host_calls();
    for _ in 0..3 {
        let before = client.host_calls();
        client.list_all_vms(&[]).await.unwrap();
        let made = client.host_calls() - before;
        // Request fields, request options, body stream, response future and body stream.
        assert!(made >= 10, "an RPC goes through wasi:http: {made} host calls");
    }
    let other = runtime.client(options(&server.url())).await.unwrap();
    assert!(other.host_calls() <= opened, "a new client starts with its own instance's count");
}

#[tokio::test(flavor = "multi_thread")]
async fn h2c_prior_knowledge_multiplexes_on_one_connection() {
    let server = dev_server().await;
    let mut transport = metald_host::plain_transport(&server.url()).unwrap();
    transport.http2_prior_knowledge = true;
    let runtime = Runtime::new(RuntimeConfig::new(transport)).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let runtime = runtime.clone();
        let url = server.url();
        tasks.push(tokio::spawn(async move {
            let mut client = runtime.client(options(&url)).await.unwrap();
            for _ in 0..5 {
                client.list_all_vms(&[]).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(server.stats().requests, 40);
    assert_eq!(server.stats().connections, 1, "all streams on one HTTP/2 connection");
}

#[tokio::test(flavor = "multi_thread")]
async fn destinations_outside_the_allow_list_are_denied() {
    let allowed = dev_server().await;
    let other = dev_server().await;
    let runtime = runtime(&allowed.url());
    let mut client = runtime.client(options(&other.url())).await.unwrap();
    let error = client.list_all_vms(&[]).await.unwrap_err();
    assert_eq!(code_of(&error), Some(ErrorCode::PermissionDenied), "{error}");
    assert!(error.to_string().contains("denied by the host's outbound policy"), "{error}");
    assert_eq!(other.stats().requests, 0, "nothing reached the other server");
    assert_eq!(runtime.transport_stats().denied, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_per_call_timeout_fires_against_a_slow_server() {
    let server = dev_server().await;
    server.faults().set("GetVmInfo", Fault::Latency(Duration::from_secs(5)));
    let runtime = runtime(&server.url());
    let mut opts = options(&server.url());
    opts.timeout_ms = Some(500);
    let mut client = runtime.client(opts).await.unwrap();
    let started = Instant::now();
    let error = client.get_vm_info("ud-0000000000000000").await.unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(code_of(&error), Some(ErrorCode::DeadlineExceeded), "{error}");
    assert!(elapsed >= Duration::from_millis(500) && elapsed < Duration::from_millis(1500), "{elapsed:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.stats().cancelled == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.stats().cancelled, 1, "the server saw the request cancelled");
    server.faults().clear();
    assert_eq!(
        code_of(&client.get_vm_info("ud-0000000000000000").await.unwrap_err()),
        Some(ErrorCode::NotFound)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_options_are_refused_before_any_request() {
    let server = dev_server().await;
    let runtime = runtime(&server.url());
    let mut bad = options(&server.url());
    bad.user_id = "a b".into();
    bad.tenant_id = String::new();
    let Err(Error::Component(SdkError::InvalidConfig(issues))) = runtime.client(bad).await else {
        panic!("expected invalid-config")
    };
    let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
    assert_eq!(fields, ["user-id", "tenant-id"]);
    assert_eq!(server.stats().requests, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_out_of_memory_guest_is_contained_and_replaced() {
    let server = dev_server().await;
    let mut config = RuntimeConfig::new(metald_host::plain_transport(&server.url()).unwrap());
    config.limits.memory_cap = 3 << 20;
    config.cache = metald_host::component::CacheMode::Dir(cache_dir());
    let runtime = Runtime::new(config).unwrap();
    let mut client = runtime.client(options(&server.url())).await.unwrap();
    server.faults().set("GetVmInfo", Fault::Oversized(8 << 20));
    let error = client.get_vm_info("ud-0000000000000000").await.unwrap_err();
    assert!(matches!(error, Error::OutOfMemory { cap_bytes } if cap_bytes == 3 << 20), "{error}");
    server.faults().clear();
    let error = client.get_vm_info("ud-0000000000000000").await.unwrap_err();
    assert_eq!(code_of(&error), Some(ErrorCode::NotFound), "a fresh instance answers: {error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trap_keeps_wasmtimes_error_as_its_source_and_poisons_the_instance() {
    let runtime = runtime("http://127.0.0.1:9");
    let mut instance = runtime.instantiate().await.unwrap();
    // What wasmtime hands back from a call that trapped: an error with context layers.
    let error = instance
        .call(async |_, _| {
            Err::<(), _>(wasmtime::Error::msg("wasm trap: unreachable").context("in the guest"))
        })
        .await
        .unwrap_err();
    let Error::Trap(cause) = &error else { panic!("expected a trap: {error:?}") };
    assert_eq!(cause.0.root_cause().to_string(), "wasm trap: unreachable");
    assert_eq!(
        metald_host::error::chain(&error),
        "the component trapped; its instance was replaced: in the guest: wasm trap: unreachable"
    );
    assert!(instance.is_poisoned());
    let again = instance.template_config(metald_host::bindings::templates::Template::Minimal).await;
    assert!(matches!(again, Err(Error::Poisoned)), "{again:?}");
}

/// The dev server compresses every answer it may (as metald does): with `compression` unset
/// or `gzip` the client asks for gzip and gets it, with `identity` it asks for `identity` and
/// the answer comes uncompressed. `options()` shows the resolved setting.
#[tokio::test(flavor = "multi_thread")]
async fn compression_option_is_what_the_server_sees_and_answers() {
    use metald_host::bindings::types::Compression;
    for (setting, accept, encoding) in [
        (None, "gzip", Some("gzip")),
        (Some(Compression::Gzip), "gzip", Some("gzip")),
        (Some(Compression::Identity), "identity", None),
    ] {
        let log = std::sync::Arc::new(metald_devserver::RequestLog::default());
        let server = metald_devserver::DevServer::start(metald_devserver::DevServerConfig {
            request_log: Some(log.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
        let runtime = runtime(&server.url());
        let mut client =
            runtime.client(ClientOptions { compression: setting, ..options(&server.url()) }).await.unwrap();
        let resolved = client.options().await.unwrap().compression;
        assert_eq!(resolved, Some(setting.unwrap_or(Compression::Gzip)), "{setting:?}");
        let config = minimal_config(&runtime).await;
        let created = client.create_vm(&config).await.unwrap();
        assert_eq!(client.get_vm_info(&created.vm_id).await.unwrap().vm_id, created.vm_id);
        let records = log.records();
        let rpcs: Vec<&str> = records.iter().map(|r| r.rpc.as_str()).collect();
        assert_eq!(rpcs, ["CreateVm", "GetVmInfo"], "{setting:?}");
        for r in &records {
            assert_eq!(
                (r.status, r.accept_encoding.as_deref(), r.content_encoding.as_deref()),
                (200, Some(accept), encoding),
                "{setting:?} {}",
                r.rpc
            );
        }
    }
}
