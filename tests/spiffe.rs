//! SPIFFE mTLS end to end: a fake Workload API hands out SVIDs (SPIRE cannot run here), the
//! dev server runs in SPIFFE mode, and the client authorizes it like metald does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metald_devserver::tls::{PeerLog, TlsAcceptor};
use metald_devserver::workload_api::FakeWorkloadApi;
use metald_devserver::{DevServer, DevServerConfig};
use metald_host::bindings::types::ErrorCode;
use metald_host::tls::{SpiffeConfig, SpiffeTls, summarize};
use metald_host::transport::{AllowList, AllowedHost, TransportConfig};
use metald_host::{Runtime, RuntimeConfig};
use rustls::pki_types::CertificateDer;
use support::certs::Ca;
use support::*;

const CLIENT_ID: &str = "spiffe://example.org/client";
const SERVER_ID: &str = "spiffe://example.org/metald";

/// A dev server in SPIFFE mode with its own agent handing out `server_id` from `ca`.
async fn spiffe_server(dir: &Path, ca: &Ca, server_id: &str) -> (DevServer, FakeWorkloadApi, Arc<PeerLog>) {
    let agent = FakeWorkloadApi::start(&dir.join("server-agent.sock"), Some(ca.svid(server_id).0)).unwrap();
    let acceptor = TlsAcceptor::spiffe(&agent.endpoint(), Duration::from_secs(5)).await.unwrap();
    let peers = acceptor.peers();
    let server = DevServer::start(DevServerConfig { acceptor: Arc::new(acceptor), ..Default::default() })
        .await
        .unwrap();
    (server, agent, peers)
}

async fn spiffe_runtime(
    url: &str,
    socket: &Path,
    server_spiffe_id: Option<&str>,
) -> Result<Runtime, metald_host::Error> {
    let provider = SpiffeTls::new(SpiffeConfig {
        socket: socket.display().to_string(),
        timeout: Duration::from_secs(3),
        server_spiffe_id: server_spiffe_id.map(str::to_string),
    })
    .await?;
    let allow = AllowList::new(vec![AllowedHost::parse(url).unwrap()]);
    let mut config = RuntimeConfig::new(TransportConfig::new(Arc::new(provider), allow));
    config.cache = metald_host::component::CacheMode::Dir(cache_dir());
    Runtime::new(config)
}

/// `metald-host` as alice@acme in SPIFFE mode (the default) with the Workload API at
/// `socket`, then `rest`.
async fn spiffe_cli(url: &str, socket: &str, rest: &[&str]) -> std::process::Output {
    let mut command = metald_host();
    command
        .args(["--server", url, "--user", "alice", "--tenant", "acme", "--spiffe-socket", socket])
        .args(rest);
    run(command).await
}

fn serial(der: &CertificateDer<'_>) -> String {
    summarize(der).unwrap().serial
}

#[tokio::test(flavor = "multi_thread")]
async fn spiffe_lifecycle_over_mtls_from_the_cli_and_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("example.org");
    let (server, _server_agent, peers) = spiffe_server(dir.path(), &ca, SERVER_ID).await;
    let (client_svid, client_leaf) = ca.svid(CLIENT_ID);
    let client_socket = dir.path().join("client-agent.sock");
    let _agent = FakeWorkloadApi::start(&client_socket, Some(client_svid)).unwrap();
    let url = server.url();

    let output = spiffe_cli(&url, client_socket.to_str().unwrap(), &["create-and-boot", "--json"]).await;
    assert_eq!(
        json(&output)["boot_state"],
        "VM_STATE_RUNNING",
        "spiffe is the default mode: {}",
        stderr(&output)
    );
    let seen = peers.certificates();
    assert!(seen.iter().all(|c| c.as_ref() == client_leaf.der.as_slice()), "the server saw our SVID");

    let runtime = spiffe_runtime(&url, &client_socket, Some(SERVER_ID)).await.unwrap();
    let mut client = runtime.client(options(&url)).await.unwrap();
    let vms = client.list_all_vms(&[]).await.unwrap();
    assert_eq!(vms.len(), 1);
    client
        .delete_vm(&metald_host::bindings::types::DeleteVmRequest {
            vm_id: vms[0].vm_id.clone(),
            force: false,
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_outside_our_trust_domain_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (ours, theirs) = (Ca::new("example.org"), Ca::new("other.org"));
    let (server, _server_agent, _) = spiffe_server(dir.path(), &theirs, "spiffe://other.org/metald").await;
    let client_socket = dir.path().join("client-agent.sock");
    let _agent = FakeWorkloadApi::start(&client_socket, Some(ours.svid(CLIENT_ID).0)).unwrap();
    let runtime = spiffe_runtime(&server.url(), &client_socket, None).await.unwrap();
    let mut client = runtime.client(options(&server.url())).await.unwrap();
    let error = client.list_all_vms(&[]).await.unwrap_err();
    assert_eq!(error.connect_code(), Some(ErrorCode::Unauthenticated), "{error}");
    assert!(error.to_string().contains("other.org"), "{error}");
    assert_eq!(server.stats().requests, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_spiffe_id_other_than_the_one_required_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("example.org");
    let (server, _server_agent, _) = spiffe_server(dir.path(), &ca, SERVER_ID).await;
    let client_socket = dir.path().join("client-agent.sock");
    let _agent = FakeWorkloadApi::start(&client_socket, Some(ca.svid(CLIENT_ID).0)).unwrap();
    let output = spiffe_cli(
        &server.url(),
        client_socket.to_str().unwrap(),
        &["--server-spiffe-id", "spiffe://example.org/impostor-check", "list"],
    )
    .await;
    assert_eq!(code(&output), 1);
    let message = stderr(&output);
    assert!(message.contains("unauthenticated") && message.contains("not authorized"), "{message}");
    assert_eq!(server.stats().requests, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_or_identity_less_workload_api_is_an_error_and_nothing_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let target = dev_server().await;
    let missing = dir.path().join("nope.sock");
    let empty_socket = dir.path().join("empty.sock");
    let _empty = FakeWorkloadApi::start(&empty_socket, None).unwrap();
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    for (socket, reason) in [
        (format!("unix://{}", missing.display()), "does not exist"),
        (empty_socket.display().to_string(), "no identity issued"),
        (format!("unix:{}", stale.display()), "refused"),
    ] {
        let started = Instant::now();
        let output = spiffe_cli(&target.url(), &socket, &["--spiffe-timeout", "5s", "list"]).await;
        assert_eq!(code(&output), 1, "{socket}");
        let message = stderr(&output);
        assert!(message.contains(reason), "{socket}: {message}");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{socket}: failed fast, took {:?}",
            started.elapsed()
        );
    }
    assert_eq!(target.stats().requests, 0, "never a plaintext fallback");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_svid_is_presented_by_the_next_new_connection() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("example.org");
    let (server, _server_agent, peers) = spiffe_server(dir.path(), &ca, SERVER_ID).await;
    let client_socket = dir.path().join("client-agent.sock");
    let (first, first_leaf) = ca.svid(CLIENT_ID);
    let agent = FakeWorkloadApi::start(&client_socket, Some(first)).unwrap();
    let runtime = spiffe_runtime(&server.url(), &client_socket, None).await.unwrap();
    let mut client = runtime.client(options(&server.url())).await.unwrap();
    client.list_all_vms(&[]).await.unwrap();
    let (second, second_leaf) = ca.svid(CLIENT_ID);
    agent.set_svid(Some(second));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        client.list_all_vms(&[]).await.unwrap();
        let last = peers.certificates().last().cloned().unwrap();
        if last.as_ref() == second_leaf.der.as_slice() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let serials: Vec<String> = peers.certificates().iter().map(serial).collect();
    assert_eq!(serials.first(), Some(&serial(&CertificateDer::from(first_leaf.der.clone()))));
    assert_eq!(serials.last(), Some(&serial(&CertificateDer::from(second_leaf.der.clone()))), "{serials:?}");
    assert_eq!(runtime.transport_stats().connections, 2, "one connection per SVID");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dev_server_command_serves_spiffe_mtls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("example.org");
    let server_socket = dir.path().join("server-agent.sock");
    let _server_agent = FakeWorkloadApi::start(&server_socket, Some(ca.svid(SERVER_ID).0)).unwrap();
    let client_socket = dir.path().join("client-agent.sock");
    let _client_agent = FakeWorkloadApi::start(&client_socket, Some(ca.svid(CLIENT_ID).0)).unwrap();
    let (mut child, url) =
        spawn_dev_server(&["--tls-mode", "spiffe", "--spiffe-socket", server_socket.to_str().unwrap()]).await;
    ok(&spiffe_cli(&url, client_socket.to_str().unwrap(), &["create-and-boot"]).await);
    child.kill().await.unwrap();
}
