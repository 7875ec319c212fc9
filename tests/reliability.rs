//! Under faults, slow servers and bad bytes the client keeps working, reports precisely,
//! and never repeats a side effect (against the dev server's fault injection).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "reliability/cpu.rs"]
mod cpu;
#[path = "reliability/servers.rs"]
mod servers;
mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cpu::{children_cpu, measured};
use metald_devserver::Fault;
use metald_host::bindings::types::ClientOptions;
use metald_host::bindings::types::{Error as SdkError, ErrorCode};
use metald_host::{Error, Runtime, RuntimeConfig};
use servers::{
    AfterAnswer, ENHANCE_YOUR_CALM, EarlyAnswerServer, H2Fault, H2Server, NO_ERROR, Pause, SlowServer,
    unauthenticated,
};
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

/// A runtime and client for `url`, speaking h2c when `h2c`.
async fn client_with(url: &str, h2c: bool, timeout_ms: u32) -> (Runtime, metald_host::Client) {
    let mut opts = options(url);
    opts.timeout_ms = Some(timeout_ms);
    client_for(url, h2c, opts, Duration::from_secs(10)).await
}

/// A runtime (with this runaway budget) and a client with these options.
async fn client_for(
    url: &str,
    h2c: bool,
    opts: ClientOptions,
    runaway_budget: Duration,
) -> (Runtime, metald_host::Client) {
    let mut transport = metald_host::plain_transport(url).unwrap();
    transport.http2_prior_knowledge = h2c;
    let mut runtime_config = RuntimeConfig::new(transport);
    runtime_config.cache = metald_host::component::CacheMode::Dir(cache_dir());
    runtime_config.runaway_budget = runaway_budget;
    let runtime = Runtime::new(runtime_config).unwrap();
    let client = runtime.client(opts).await.unwrap();
    (runtime, client)
}

/// A VM created directly on `server`, for reads through a faulty front.
async fn existing_vm(server: &metald_devserver::DevServer) -> String {
    let (runtime, mut direct) = client(&server.url()).await;
    direct.create_vm(&minimal_config(&runtime).await).await.unwrap().vm_id
}

/// Reads and writes refused without being processed (RFC 9113 §8.7) succeed on a retry,
/// and a write so retried happens once.
async fn not_processed_case(fault: H2Fault) {
    let server = dev_server().await;
    let vm_id = existing_vm(&server).await;

    let front = H2Server::start(fault, &server.url()).await;
    let (_runtime, mut sdk) = client_with(&front.url(), true, 10_000).await;
    let info = sdk.get_vm_info(&vm_id).await.unwrap_or_else(|e| panic!("{fault:?}: GetVmInfo: {e}"));
    assert_eq!(info.vm_id, vm_id);
    assert_eq!(front.stats().faulted.load(Ordering::SeqCst), 1, "{fault:?}: the fault was applied");

    let front = H2Server::start(fault, &server.url()).await;
    let (runtime, mut sdk) = client_with(&front.url(), true, 10_000).await;
    let before = server.stats().requests;
    let vm = sdk.create_vm(&minimal_config(&runtime).await).await;
    let vm = vm.unwrap_or_else(|e| panic!("{fault:?}: CreateVm is retried: {e}"));
    assert_eq!(front.stats().faulted.load(Ordering::SeqCst), 1, "{fault:?}: the fault was applied");
    assert_eq!(front.stats().forwarded.load(Ordering::SeqCst), 1, "{fault:?}: one CreateVm reached metald");
    assert_eq!(server.stats().requests - before, 1, "{fault:?}: one request reached metald");
    let (_runtime, mut direct) = client(&server.url()).await;
    let vms = direct.list_all_vms(&[]).await.unwrap();
    assert_eq!(vms.len(), 2, "{fault:?}: exactly one VM created: {vms:?}");
    assert!(vms.iter().any(|v| v.vm_id == vm.vm_id));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_stream_is_not_processed_so_reads_and_writes_are_retried() {
    not_processed_case(H2Fault::RefuseStreams(1)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_above_a_goaway_last_stream_id_is_retried_on_a_new_connection() {
    let delay = Duration::ZERO;
    not_processed_case(H2Fault::GoAwayFirst { last_stream_id: 0, reason: NO_ERROR, delay }).await;
    not_processed_case(H2Fault::GoAwayFirst { last_stream_id: 0, reason: ENHANCE_YOUR_CALM, delay }).await;
}

/// A server that answers `401` right after the request head of a large CreateVm: the answer
/// was complete, so it is what the caller gets, with a known outcome.
async fn early_answer_case(after: AfterAnswer, size: usize) {
    let server = EarlyAnswerServer::start(unauthenticated("invalid bearer token"), after).await;
    let (runtime, mut sdk) = client_with(&server.url(), false, 10_000).await;
    let mut config = minimal_config(&runtime).await;
    config.metadata.push(("padding".into(), "x".repeat(size)));
    let started = Instant::now();
    let error = sdk.create_vm(&config).await.unwrap_err();
    match &error {
        Error::Component(SdkError::Connect(e)) => {
            assert_eq!(e.code, ErrorCode::Unauthenticated, "{after:?}: {error}");
            assert_eq!(e.message, "invalid bearer token", "{after:?}");
            assert_eq!(e.http_status, 401, "{after:?}");
        }
        other => panic!("{after:?}, {size} bytes: expected the server's answer, got {other}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5), "{after:?}: took {:?}", started.elapsed());
    assert_eq!(server.requests.load(Ordering::SeqCst), 1, "{after:?}: sent once");
    // The instance is fine afterwards.
    let error = sdk.create_vm(&config).await.unwrap_err();
    assert_eq!(error.connect_code(), Some(ErrorCode::Unauthenticated), "{after:?}: {error}");
}

/// The field report: 4 MiB, the server shuts down its write side and drains at once.
#[tokio::test(flavor = "multi_thread")]
async fn an_early_complete_answer_during_a_large_upload_is_the_answer() {
    early_answer_case(AfterAnswer::ShutdownAndDrain(Duration::ZERO), 4 << 20).await;
}

/// The client sees the end of the answer while it still has to write: the server drains
/// only later.
#[tokio::test(flavor = "multi_thread")]
async fn an_early_answer_from_a_server_that_drains_later_is_the_answer() {
    early_answer_case(AfterAnswer::ShutdownAndDrain(Duration::from_millis(500)), 8 << 20).await;
}

/// … or never reads the rest and keeps the connection open.
#[tokio::test(flavor = "multi_thread")]
async fn an_early_answer_from_a_server_that_stops_reading_is_the_answer() {
    early_answer_case(AfterAnswer::Stall, 8 << 20).await;
}

/// Asserts that a wait of `wall` cost far less CPU than it lasted: the component blocked.
fn assert_blocked(what: &str, cpu: Duration, wall: Duration) {
    eprintln!("{what}: {cpu:?} of CPU in {wall:?}");
    assert!(cpu * 4 < wall, "{what}: {cpu:?} of CPU in {wall:?}: the component spins instead of blocking");
}

const PAUSE: Duration = Duration::from_secs(2);

#[test]
fn waiting_for_a_slow_answer_blocks() {
    for h2c in [false, true] {
        measured(move |meter| async move {
            let server = dev_server().await;
            let (_runtime, mut sdk) = client_with(&server.url(), h2c, 10_000).await;
            sdk.list_all_vms(&[]).await.unwrap();
            server.faults().set("GetVmInfo", Fault::Latency(PAUSE));
            let (before, started) = (meter.used(), Instant::now());
            let error = sdk.get_vm_info("ud-0000000000000000").await.unwrap_err();
            assert_eq!(error.connect_code(), Some(ErrorCode::NotFound), "{error}");
            assert_blocked(&format!("response head, h2c={h2c}"), meter.used() - before, started.elapsed());
        });
    }
}

#[test]
fn waiting_for_a_request_a_goaway_refuses_blocks_and_it_is_retried() {
    measured(|meter| async move {
        let server = dev_server().await;
        let vm_id = existing_vm(&server).await;
        let fault = H2Fault::GoAwayFirst { last_stream_id: 0, reason: NO_ERROR, delay: PAUSE };
        let front = H2Server::start(fault, &server.url()).await;
        let (_runtime, mut sdk) = client_with(&front.url(), true, 10_000).await;
        let (before, started) = (meter.used(), Instant::now());
        let info = sdk.get_vm_info(&vm_id).await.unwrap();
        assert_eq!(info.vm_id, vm_id);
        assert_eq!(front.stats().connections.load(Ordering::SeqCst), 2, "retried on a new connection");
        assert_blocked("GOAWAY after a pause", meter.used() - before, started.elapsed());
    });
}

#[test]
fn writing_to_a_server_that_reads_slowly_blocks() {
    measured(|meter| async move {
        let server = SlowServer::start(unauthenticated("slow reader"), Pause::ReadingBody(PAUSE)).await;
        let (runtime, mut sdk) = client_with(&server.url(), false, 10_000).await;
        let mut config = minimal_config(&runtime).await;
        config.metadata.push(("padding".into(), "x".repeat(8 << 20)));
        let (before, started) = (meter.used(), Instant::now());
        let error = sdk.create_vm(&config).await.unwrap_err();
        assert_eq!(error.connect_code(), Some(ErrorCode::Unauthenticated), "{error}");
        assert!(error.to_string().contains("slow reader"), "{error}");
        assert_blocked("request body", meter.used() - before, started.elapsed());
    });
}

#[test]
fn reading_an_answer_that_arrives_slowly_blocks() {
    measured(|meter| async move {
        let server = SlowServer::start(unauthenticated("slow writer"), Pause::WritingBody(PAUSE)).await;
        let (_runtime, mut sdk) = client_with(&server.url(), false, 10_000).await;
        let (before, started) = (meter.used(), Instant::now());
        let error = sdk.get_vm_info("ud-0000000000000000").await.unwrap_err();
        assert_eq!(error.connect_code(), Some(ErrorCode::Unauthenticated), "{error}");
        assert!(error.to_string().contains("slow writer"), "{error}");
        assert_blocked("response body", meter.used() - before, started.elapsed());
    });
}

#[test]
fn the_waits_between_retries_block() {
    measured(|meter| async move {
        let server = dev_server().await;
        let mut opts = options(&server.url());
        opts.retries = Some(6);
        let (_runtime, mut sdk) = client_for(&server.url(), false, opts, Duration::from_secs(10)).await;
        sdk.list_all_vms(&[]).await.unwrap();
        server.faults().set("GetVmInfo", Fault::Unavailable(6));
        let (before, started) = (meter.used(), Instant::now());
        let error = sdk.get_vm_info("ud-0000000000000000").await.unwrap_err();
        assert_eq!(
            error.connect_code(),
            Some(ErrorCode::NotFound),
            "the seventh attempt is answered: {error}"
        );
        let wall = started.elapsed();
        assert!(wall >= Duration::from_millis(1_200), "six backoffs of at least 25, 50, … 500 ms: {wall:?}");
        assert_blocked("retry backoff", meter.used() - before, wall);
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_blocked_past_the_runaway_budget_ends_with_its_own_result() {
    let budget = Duration::from_millis(500);
    let server = dev_server().await;
    server.faults().set("GetVmInfo", Fault::Latency(Duration::from_secs(10)));
    let mut opts = options(&server.url());
    opts.timeout_ms = Some(2_000);
    let (_runtime, mut sdk) = client_for(&server.url(), false, opts, budget).await;
    let error = sdk.get_vm_info("ud-0000000000000000").await.unwrap_err();
    assert_eq!(error.connect_code(), Some(ErrorCode::DeadlineExceeded), "waiting is not computing: {error}");

    let slow = SlowServer::start(unauthenticated("slow writer"), Pause::WritingBody(PAUSE)).await;
    let (_runtime, mut sdk) = client_for(&slow.url(), false, options(&slow.url()), budget).await;
    let error = sdk.get_vm_info("ud-0000000000000000").await.unwrap_err();
    assert_eq!(error.connect_code(), Some(ErrorCode::Unauthenticated), "waiting is not computing: {error}");
}

/// The input: `metald-host --h2c … info ID` against a server that answers the first
/// request of a connection with GOAWAY(NO_ERROR, 0) and leaves it unanswered.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_retries_a_request_a_goaway_refused_and_blocks_meanwhile() {
    let server = dev_server().await;
    let vm_id = existing_vm(&server).await;
    // A first run compiles the component into the shared cache.
    ok(&cli(&server.url(), &["--h2c", "info", &vm_id]).await);
    for delay in [Duration::ZERO, PAUSE] {
        let fault = H2Fault::GoAwayFirst { last_stream_id: 0, reason: NO_ERROR, delay };
        let front = H2Server::start(fault, &server.url()).await;
        let (before, started) = (children_cpu(), Instant::now());
        let output = cli(&front.url(), &["--h2c", "info", &vm_id]).await;
        let (cpu, wall) = (children_cpu() - before, started.elapsed());
        assert!(ok(&output).contains(&vm_id), "{}", stdout(&output));
        assert_eq!(front.stats().faulted.load(Ordering::SeqCst), 1);
        assert!(wall < delay + Duration::from_secs(5), "{delay:?}: took {wall:?}");
        if delay > Duration::ZERO {
            assert_blocked("metald-host --h2c info, GOAWAY after a pause", cpu, wall);
        }
    }
}
