//! SPIFFE mTLS end to end with a fake Workload API (devserver/src/workload_api.rs) handing
//! out SVIDs of an in-process CA: the dev server runs in SPIFFE mode, and the client authorizes
//! it like metald does. tests/spire.rs runs the same paths against a real SPIRE; these stay for
//! what SPIRE cannot be made to do on demand, each test says which.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metald_devserver::tls::{PeerLog, TlsAcceptor};
use metald_devserver::workload_api::FakeWorkloadApi;
use metald_devserver::{DevServer, DevServerConfig};
use metald_host::bindings::types::ErrorCode;
use metald_host::tls::{Setting, SpiffeConfig, SpiffeTls, summarize};
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
    spiffe_runtime_as(url, socket, server_spiffe_id, None).await
}

/// [`spiffe_runtime`] presenting the SVID with `spiffe_id`.
async fn spiffe_runtime_as(
    url: &str,
    socket: &Path,
    server_spiffe_id: Option<&str>,
    spiffe_id: Option<&str>,
) -> Result<Runtime, metald_host::Error> {
    let provider = SpiffeTls::new(SpiffeConfig {
        socket: socket.display().to_string(),
        timeout: Duration::from_secs(3),
        server_spiffe_id: server_spiffe_id.map(str::to_string),
        spiffe_id: spiffe_id.map(str::to_string),
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
    // Fake: checks the exact certificate the server saw against one made here, and runs
    // without SPIRE built; tests/spire.rs runs the lifecycle against SPIRE.
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
    // Fake: a foreign trust domain, which one SPIRE deployment does not issue.
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
    // Fake: runs without SPIRE built; tests/spire.rs checks the same refusal against SPIRE.
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
    // Fake: a missing socket and a stale one are no SPIRE states; tests/spire.rs has SPIRE's
    // own "no identity issued" for an unregistered workload.
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
    // Fake: rotation at a chosen moment, to a certificate known here (SPIRE rotates on its own
    // schedule; tests/spire.rs waits for that).
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
    // Fake: runs without SPIRE built; tests/spire.rs runs the dev server command under SPIRE.
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

#[tokio::test(flavor = "multi_thread")]
async fn the_dev_server_command_refuses_a_spiffe_id_its_workload_api_does_not_offer() {
    // Fake: runs without SPIRE built; tests/spire.rs has the dev server pick one of two SPIRE SVIDs.
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("example.org");
    let socket = dir.path().join("server-agent.sock");
    let agent = FakeWorkloadApi::start(&socket, None).unwrap();
    agent.set_svids(&[ca.svid("spiffe://example.org/a").0, ca.svid(SERVER_ID).0]);
    let mut command = metald_host();
    command.args(["dev-server", "--listen", "127.0.0.1:0", "--tls-mode", "spiffe"]).args([
        "--spiffe-socket",
        socket.to_str().unwrap(),
        "--spiffe-id",
        "spiffe://example.org/nope",
    ]);
    let output = run(command).await;
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let message = stderr(&output);
    for part in ["spiffe://example.org/nope", "spiffe://example.org/a", SERVER_ID, socket.to_str().unwrap()] {
        assert!(message.contains(part), "names {part}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_svid_named_by_spiffe_id_is_presented_and_one_not_offered_is_an_error_listing_those_offered() {
    // Fake: the certificates are known here, so the test checks the exact leaf the server saw;
    // tests/spire.rs does the same against SPIRE with two registrations.
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("example.org");
    let (server, _server_agent, peers) = spiffe_server(dir.path(), &ca, SERVER_ID).await;
    let socket = dir.path().join("client-agent.sock");
    let agent = FakeWorkloadApi::start(&socket, None).unwrap();
    let (a, b) = ("spiffe://example.org/a", "spiffe://example.org/b");
    let ((svid_a, leaf_a), (svid_b, leaf_b)) = (ca.svid(a), ca.svid(b));
    agent.set_svids(&[svid_a, svid_b]);
    let url = server.url();
    for (wanted, leaf) in [(None, &leaf_a), (Some(a), &leaf_a), (Some(b), &leaf_b)] {
        let runtime = spiffe_runtime_as(&url, &socket, Some(SERVER_ID), wanted).await.unwrap();
        let mut client = runtime.client(options(&url)).await.unwrap();
        client.list_all_vms(&[]).await.unwrap();
        let last = peers.certificates().last().cloned().unwrap();
        assert_eq!(last.as_ref(), leaf.der.as_slice(), "{wanted:?}: the server saw that SVID");
    }

    let requests = server.stats().requests;
    let settings = |id: &str| SpiffeConfig {
        socket: socket.display().to_string(),
        timeout: Duration::from_secs(3),
        server_spiffe_id: None,
        spiffe_id: Some(id.to_string()),
    };
    let error = SpiffeTls::new(settings("spiffe://example.org/c")).await.err().expect("c is not offered");
    assert_eq!(error.setting(), Some(Setting::SpiffeId));
    assert_eq!(
        error.to_string(),
        format!(
            "the client SPIFFE ID spiffe://example.org/c is not among the X.509-SVIDs of the SPIFFE \
             Workload API at unix:{}; offered: {a}, {b}",
            socket.display()
        )
    );
    for malformed in ["spiffe://example.org", "example.org/a", "spiffe://example.org/a/../b"] {
        let error = SpiffeTls::new(settings(malformed)).await.err().expect("malformed");
        assert_eq!(error.setting(), Some(Setting::SpiffeId), "{malformed}");
        assert!(error.to_string().contains(malformed), "{error}");
    }
    let output =
        spiffe_cli(&url, socket.to_str().unwrap(), &["--spiffe-id", "spiffe://example.org/c", "list"]).await;
    assert_eq!(code(&output), 1);
    assert!(
        stderr(&output).starts_with("--spiffe-id: the client SPIFFE ID spiffe://example.org/c"),
        "{}",
        stderr(&output)
    );
    assert_eq!(server.stats().requests, requests, "nothing sent");
}
