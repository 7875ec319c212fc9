//! Fault injection and route packages, as a client sees them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use connectrpc::ErrorCode;
use connectrpc::client::{CallOptions, ClientConfig, HttpClient};
use metald_devserver::pb::*;
use metald_devserver::{DevServer, DevServerConfig, Fault, Routes};

fn options() -> CallOptions {
    CallOptions::default()
        .with_header("authorization", "Bearer dev_user_alice")
        .with_header("x-tenant-id", "acme")
        .with_timeout(Duration::from_secs(5))
}

async fn start(config: DevServerConfig) -> (DevServer, VmServiceClient<HttpClient>) {
    let server = DevServer::start(config).await.unwrap();
    let client =
        VmServiceClient::new(HttpClient::plaintext(), ClientConfig::new(server.url().parse().unwrap()));
    (server, client)
}

async fn list(client: &VmServiceClient<HttpClient>, options: CallOptions) -> Result<i32, ErrorCode> {
    client
        .list_vms_with_options(ListVmsRequest::default(), options)
        .await
        .map(|r| r.view().total_count)
        .map_err(|e| e.code)
}

#[tokio::test]
async fn unavailable_fails_the_first_n_calls_then_recovers() {
    let (server, client) = start(DevServerConfig::default()).await;
    server.faults().set("ListVms", Fault::Unavailable(2));
    assert_eq!(list(&client, options()).await, Err(ErrorCode::Unavailable));
    assert_eq!(list(&client, options()).await, Err(ErrorCode::Unavailable));
    assert_eq!(list(&client, options()).await, Ok(0));
}

#[tokio::test]
async fn latency_delays_the_answer_and_a_client_timeout_cancels_the_request() {
    let (server, client) = start(DevServerConfig::default()).await;
    server.faults().set("ListVms", Fault::Latency(Duration::from_millis(300)));
    let started = Instant::now();
    assert_eq!(list(&client, options()).await, Ok(0));
    assert!(started.elapsed() >= Duration::from_millis(300));

    server.faults().set("ListVms", Fault::Latency(Duration::from_secs(10)));
    let error = list(&client, options().with_timeout(Duration::from_millis(100))).await.unwrap_err();
    assert_eq!(error, ErrorCode::DeadlineExceeded);
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.stats().cancelled == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.stats().cancelled, 1, "the server saw the request cancelled");
}

#[tokio::test]
async fn broken_answers_reach_the_client_as_errors() {
    let (server, client) = start(DevServerConfig::default()).await;
    for (fault, code) in [
        (Fault::Reset, ErrorCode::Unavailable),
        (Fault::Garbage, ErrorCode::Internal),
        (Fault::WrongContentType, ErrorCode::Internal),
        (Fault::ResetMidBody, ErrorCode::Unavailable),
    ] {
        server.faults().set("ListVms", fault.clone());
        let result = list(&client, options()).await;
        assert!(result.is_err(), "{fault:?} gave {result:?}");
        if fault != Fault::WrongContentType && fault != Fault::ResetMidBody {
            assert_eq!(result, Err(code), "{fault:?}");
        }
    }
    server.faults().clear();
    assert_eq!(list(&client, options()).await, Ok(0), "the server keeps working");
}

#[tokio::test]
async fn oversized_bodies_have_the_requested_size() {
    let (server, _) = start(DevServerConfig::default()).await;
    server.faults().set("*", Fault::Oversized(3 << 20));
    let (status, body) = raw_post(&server.url(), "/metal.vmprovisioner.v1.VmService/GetVmInfo").await;
    assert_eq!((status, body.len()), (200, 3 << 20));
}

/// Status and body of an unauthenticated POST.
async fn raw_post(base: &str, path: &str) -> (u16, Vec<u8>) {
    use http_body_util::{BodyExt, Full};
    let client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let request = http::Request::post(format!("{base}{path}"))
        .header("content-type", "application/proto")
        .body(Full::new(bytes::Bytes::new()))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    (status, response.into_body().collect().await.unwrap().to_bytes().to_vec())
}

#[tokio::test]
async fn routes_follow_the_configured_packages() {
    const CURRENT: &str = "/metal.vmprovisioner.v1.VmService/ListVms";
    const LEGACY: &str = "/vmprovisioner.v1.VmService/ListVms";
    // A routed request without credentials is 401; an unrouted one is 404.
    for (routes, current, legacy) in
        [(Routes::Current, 401, 404), (Routes::Legacy, 404, 401), (Routes::Both, 401, 401)]
    {
        let server = DevServer::start(DevServerConfig { routes, ..Default::default() }).await.unwrap();
        assert_eq!(raw_post(&server.url(), CURRENT).await.0, current, "{routes:?} current");
        assert_eq!(raw_post(&server.url(), LEGACY).await.0, legacy, "{routes:?} legacy");
    }
}
