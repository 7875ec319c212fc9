//! Under faults, slow servers and bad bytes the client keeps working, reports precisely,
//! and never repeats a side effect (against the dev server's fault injection).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use metald_devserver::Fault;
use metald_host::bindings::types::{Error as SdkError, ErrorCode};
use metald_host::{Error, Runtime, RuntimeConfig};
use support::*;

fn transport_error(error: &Error) -> &metald_host::bindings::types::TransportError {
    match error {
        Error::Component(SdkError::Transport(t)) => t,
        other => panic!("expected a transport error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_succeed_through_503s_and_create_is_never_retried() {
    let server = dev_server().await;
    let (runtime, mut client) = client(&server.url()).await;
    server.faults().set("ListVms", Fault::Unavailable(2));
    assert!(client.list_all_vms(&[]).await.unwrap().is_empty(), "the third attempt succeeds");
    assert_eq!(server.stats().requests, 3);

    server.faults().set("GetVmInfo", Fault::Unavailable(5));
    let error = client.get_vm_info("ud-0000000000000000").await.unwrap_err();
    assert_eq!(error.connect_code(), Some(ErrorCode::Unavailable));
    assert!(error.to_string().contains("after 3 attempts"), "{error}");
    server.faults().clear();

    let vm_config = minimal_config(&runtime).await;
    server.faults().set("CreateVm", Fault::Unavailable(1));
    let before = server.stats().requests;
    let error = client.create_vm(&vm_config).await.unwrap_err();
    assert_eq!(error.connect_code(), Some(ErrorCode::Unavailable), "{error}");
    assert_eq!(server.stats().requests - before, 1, "a create is sent once");
    assert!(client.list_all_vms(&[]).await.unwrap().is_empty(), "no VM, let alone a duplicate");

    server.faults().set("CreateVm", Fault::Reset);
    let error = client.create_vm(&vm_config).await.unwrap_err();
    let failure = transport_error(&error);
    assert!(failure.outcome_unknown, "{error}");
    assert!(
        failure.message.contains("outcome is unknown") && failure.message.contains("List VMs"),
        "{error}"
    );
    server.faults().clear();
    assert!(client.list_all_vms(&[]).await.unwrap().len() <= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_responses_are_clean_errors_and_the_instance_stays_usable() {
    let server = dev_server().await;
    let (_runtime, mut client) = client(&server.url()).await;
    let cases = [
        (Fault::ResetMidBody, ErrorCode::Unavailable, "incomplete HTTP response"),
        (Fault::Garbage, ErrorCode::Internal, "malformed GetVmInfo response"),
        (Fault::Oversized(32 << 20), ErrorCode::ResourceExhausted, "larger than the 16777216-byte limit"),
        (Fault::WrongContentType, ErrorCode::Internal, "unexpected response content-type \"text/html\""),
        (Fault::OversizedHeaders(100_000), ErrorCode::ResourceExhausted, "headers over the host's limit"),
        (Fault::Reset, ErrorCode::Unavailable, "closed by the server"),
    ];
    for (fault, code, text) in cases {
        server.faults().set("GetVmInfo", fault.clone());
        let result = client.get_vm_info("ud-0000000000000000").await;
        let error = result.err().unwrap_or_else(|| panic!("{fault:?} was answered as a success"));
        assert!(matches!(error, Error::Component(_)), "{fault:?}: a component error, not a trap: {error}");
        assert_eq!(error.connect_code(), Some(code), "{fault:?}: {error}");
        assert!(error.to_string().contains(text), "{fault:?}: {error}");
        server.faults().clear();
        let after = client.get_vm_info("ud-0000000000000000").await.unwrap_err();
        assert_eq!(
            after.connect_code(),
            Some(ErrorCode::NotFound),
            "{fault:?}: the same client answers next: {after}"
        );
    }
}

async fn deadline_case(http2: bool) {
    let server = dev_server().await;
    server.faults().set("GetVmInfo", Fault::Latency(Duration::from_secs(10)));
    let mut transport = metald_host::plain_transport(&server.url()).unwrap();
    transport.http2_prior_knowledge = http2;
    let mut runtime_config = RuntimeConfig::new(transport);
    runtime_config.cache = metald_host::component::CacheMode::Dir(cache_dir());
    let runtime = Runtime::new(runtime_config).unwrap();
    let mut opts = options(&server.url());
    opts.timeout_ms = Some(400);
    let mut client = runtime.client(opts).await.unwrap();
    client.list_all_vms(&[]).await.unwrap();
    let started = Instant::now();
    let error = client.get_vm_info("ud-0000000000000000").await.unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(error.connect_code(), Some(ErrorCode::DeadlineExceeded), "{error}");
    assert!(
        elapsed >= Duration::from_millis(400) && elapsed <= Duration::from_millis(500),
        "http2={http2}: ended {elapsed:?} after the start of a 400 ms call"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.stats().cancelled == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.stats().cancelled, 1, "http2={http2}: the server saw the request cancelled");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_server_ends_in_deadline_exceeded_within_100ms_over_http1() {
    deadline_case(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_server_ends_in_deadline_exceeded_within_100ms_over_h2c() {
    deadline_case(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_is_down_is_unavailable_quickly_with_its_address() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let (_runtime, mut client) = client(&url).await;
    let started = Instant::now();
    let error = client.list_all_vms(&[]).await.unwrap_err();
    assert_eq!(error.connect_code(), Some(ErrorCode::Unavailable), "{error}");
    assert!(error.to_string().contains(&format!("127.0.0.1:{port}")), "{error}");
    assert!(error.to_string().contains("connection refused"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|entries| entries.count()).unwrap_or(0)
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[tokio::test(flavor = "multi_thread")]
async fn sixty_four_callers_times_two_hundred_calls_leave_nothing_behind() {
    let server = dev_server().await;
    let warm = {
        let (runtime, mut client) = client(&server.url()).await;
        let vm = client.create_vm(&minimal_config(&runtime).await).await.unwrap();
        (runtime, vm.vm_id)
    };
    let (runtime, vm_id) = warm;
    let fds_before = open_fds();
    let rss_before = rss_bytes();
    let mut callers = Vec::new();
    for _ in 0..64 {
        let runtime = runtime.clone();
        let url = server.url();
        let vm_id = vm_id.clone();
        callers.push(tokio::spawn(async move {
            let mut client = runtime.client(options(&url)).await.unwrap();
            let mut errors = 0;
            for call in 0..200 {
                let ok = if call % 2 == 0 {
                    client.get_vm_info(&vm_id).await.is_ok()
                } else {
                    client.list_all_vms(&[]).await.is_ok()
                };
                errors += usize::from(!ok);
            }
            errors
        }));
    }
    let mut errors = 0;
    for caller in callers {
        errors += caller.await.unwrap();
    }
    assert_eq!(errors, 0);
    assert_eq!(server.stats().requests, 64 * 200 + 1);
    drop(runtime);
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_fds() > fds_before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (fds_after, rss_after) = (open_fds(), rss_bytes());
    eprintln!("fds {fds_before} -> {fds_after}; RSS {} -> {} MiB", rss_before >> 20, rss_after >> 20);
    assert!(fds_after <= fds_before, "file descriptors back to {fds_before}, now {fds_after}");
    assert!(rss_after <= rss_before + (48 << 20), "RSS {} MiB -> {} MiB", rss_before >> 20, rss_after >> 20);
}
