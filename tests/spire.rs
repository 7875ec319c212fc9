//! SPIFFE mode against a real SPIRE deployment: a spire-server and spire-agent per test,
//! started by the fixture tools/spire/spire.sh (built once by `tools/spire/spire.sh build`,
//! which scripts/test.sh runs). Workloads are told apart by the unix attestor's
//! `unix:path` selector: the `metald-host` binary, copies of it at other paths, and this test
//! binary. What SPIRE cannot be made to do on demand (stalls, garbage, a foreign trust
//! domain, a rotation at a chosen moment) stays in tests/spiffe.rs, with the fake Workload API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/spire.rs"]
mod spire_fixture;
mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metald_devserver::tls::{PeerLog, TlsAcceptor};
use metald_devserver::{DevServer, DevServerConfig};
use metald_host::tls::{SpiffeConfig, SpiffeTls, summarize};
use metald_host::transport::{AllowList, AllowedHost, TransportConfig};
use metald_host::{Runtime, RuntimeConfig};
use rustls::pki_types::CertificateDer;
use spire_fixture::{Spire, workload_copy};
use support::*;

const CLIENT_ID: &str = "spiffe://example.org/client";
const SERVER_ID: &str = "spiffe://example.org/metald";

/// A directory for copies of binaries (next to them, so that they can be hard links).
fn work_dir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

/// `metald-host` (or a copy at `binary`) as alice@acme in SPIFFE mode, the default, with the
/// Workload API at `socket`, then `rest`.
async fn spiffe_cli_at(binary: &Path, url: &str, socket: &str, rest: &[&str]) -> std::process::Output {
    let mut command = metald_host_at(binary);
    command
        .args(["--server", url, "--user", "alice", "--tenant", "acme", "--spiffe-socket", socket])
        .args(rest);
    run(command).await
}

async fn spiffe_cli(url: &str, socket: &str, rest: &[&str]) -> std::process::Output {
    spiffe_cli_at(Path::new(METALD_HOST), url, socket, rest).await
}

/// An in-process dev server in file mode with an SVID minted by `spire`'s CA, requiring
/// clients to present a certificate from the same CA; the peers it saw.
async fn minted_server(spire: &Spire) -> (DevServer, Arc<PeerLog>) {
    let minted = spire.mint(SERVER_ID);
    let acceptor = TlsAcceptor::from_files(&minted.cert, &minted.key, spire.bundle()).unwrap();
    assert_eq!(std::fs::read(&minted.bundle).unwrap(), std::fs::read(spire.bundle()).unwrap(), "one CA");
    let peers = acceptor.peers();
    let server = DevServer::start(DevServerConfig { acceptor: Arc::new(acceptor), ..Default::default() })
        .await
        .unwrap();
    (server, peers)
}

/// The SPIFFE ID (URI SAN) and serial of a peer certificate.
fn identity(der: &CertificateDer<'_>) -> (String, String) {
    let summary = summarize(der).unwrap();
    (summary.uris.first().cloned().unwrap_or_default(), summary.serial)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_runs_a_vm_lifecycle_with_spire_issued_svids_on_both_sides() {
    // Real SPIRE: both identities are SVIDs from its CA, handed out by its agent to two
    // workloads (the CLI binary and a copy of it serving as the dev server). The dev server has
    // two SVIDs, /metald-other first, and presents /metald because of --spiffe-id.
    let work = work_dir();
    let server_binary = workload_copy(Path::new(METALD_HOST), work.path(), "metald-devserver");
    let Some(spire) = Spire::start(&[
        format!("id={CLIENT_ID},path={METALD_HOST}"),
        format!("id={SERVER_ID}-other,path={},entry_id=metald-test-1", server_binary.display()),
        format!("id={SERVER_ID},path={},entry_id=metald-test-2", server_binary.display()),
    ]) else {
        return;
    };
    let socket = spire.socket();
    let (mut child, url) = spawn_dev_server_at(
        &server_binary,
        &["--tls-mode", "spiffe", "--spiffe-socket", socket, "--spiffe-id", SERVER_ID],
    )
    .await;
    let cli = |rest: Vec<String>| {
        let url = url.clone();
        async move {
            let mut args = vec!["--server-spiffe-id".to_string(), SERVER_ID.to_string()];
            args.extend(rest);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            spiffe_cli(&url, socket, &args).await
        }
    };

    let created = json(&cli(vec!["create".into(), "--json".into()]).await);
    assert_eq!(created["state"], "VM_STATE_CREATED", "{created}");
    let id = created["vm_id"].as_str().unwrap().to_string();
    for step in ["boot", "info", "pause", "resume", "reboot", "shutdown"] {
        let output = cli(vec![step.into(), id.clone(), "--json".into()]).await;
        let value = json(&output);
        if step != "info" {
            assert_eq!(value["success"], true, "{step}: {value}");
        }
    }
    let listed = json(&cli(vec!["list".into(), "--json".into()]).await);
    assert_eq!(listed["TotalCount"], 1, "{listed}");
    ok(&cli(vec!["delete".into(), id.clone()]).await);
    let listed = json(&cli(vec!["list".into(), "--json".into()]).await);
    assert_eq!(listed["TotalCount"], 0, "{listed}");

    // The server's SVID names it: another expected server ID is refused.
    let output =
        spiffe_cli(&url, socket, &["--server-spiffe-id", "spiffe://example.org/someone-else", "list"]).await;
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert!(stderr(&output).contains("not authorized"), "{}", stderr(&output));
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_spire_svid_is_presented_by_new_connections_with_no_restart() {
    // Real SPIRE: its agent rotates the SVID of a 20 s TTL entry by itself (at half life);
    // this test binary is the workload, the server has an SVID minted by the same CA.
    let me = std::env::current_exe().unwrap();
    let Some(spire) = Spire::start(&[format!("id={CLIENT_ID},path={},ttl=20s", me.display())]) else {
        return;
    };
    let (server, peers) = minted_server(&spire).await;
    let url = server.url();
    let provider = SpiffeTls::new(SpiffeConfig {
        socket: spire.socket().to_string(),
        timeout: Duration::from_secs(10),
        server_spiffe_id: Some(SERVER_ID.into()),
        spiffe_id: None,
    })
    .await
    .unwrap();
    let allow = AllowList::new(vec![AllowedHost::parse(&url).unwrap()]);
    let mut config = RuntimeConfig::new(TransportConfig::new(Arc::new(provider), allow));
    config.cache = metald_host::component::CacheMode::Dir(cache_dir());
    let runtime = Runtime::new(config).unwrap();
    let mut client = runtime.client(options(&url)).await.unwrap();

    let started = Instant::now();
    let mut calls = 0;
    let serials = loop {
        client.list_all_vms(&[]).await.unwrap();
        calls += 1;
        let serials: Vec<String> = peers.certificates().iter().map(|c| identity(c).1).collect();
        if serials.iter().collect::<BTreeSet<_>>().len() >= 2 {
            break serials;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no rotation within 60 s: {serials:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // And calls go on after the rotation, on the connection made with the new SVID.
    for _ in 0..3 {
        client.list_all_vms(&[]).await.unwrap();
    }
    eprintln!("rotation seen after {:?} and {calls} calls: serials {serials:?}", started.elapsed());

    let seen = peers.certificates();
    for cert in &seen {
        assert_eq!(identity(cert).0, CLIENT_ID);
    }
    let all: Vec<String> = seen.iter().map(|c| identity(c).1).collect();
    let mut distinct = all.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), all.len(), "each handshake presented a newer SVID than the last: {all:?}");
    assert_eq!(runtime.transport_stats().connections as usize, seen.len(), "one connection per SVID");
    // The server saw the SVID the agent hands out now.
    let current = spiffe::WorkloadApiClient::connect_to(&format!("unix:{}", spire.socket()))
        .await
        .unwrap()
        .fetch_x509_svid()
        .await
        .unwrap();
    let current = identity(&CertificateDer::from(current.leaf().as_ref().to_vec()));
    assert_eq!(all.last(), Some(&current.1), "the server saw the current SVID");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workload_without_a_spire_entry_gets_the_cause_within_the_timeout_and_sends_nothing() {
    // Real SPIRE: how its agent answers a workload that matches no entry (a copy of the
    // registered binary at another path).
    let work = work_dir();
    let stranger = workload_copy(Path::new(METALD_HOST), work.path(), "unregistered");
    let Some(spire) = Spire::start(&[format!("id={CLIENT_ID},path={METALD_HOST}")]) else {
        return;
    };
    let target = dev_server().await;
    let started = Instant::now();
    let output =
        spiffe_cli_at(&stranger, &target.url(), spire.socket(), &["--spiffe-timeout", "5s", "list"]).await;
    let elapsed = started.elapsed();
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains(spire.socket()), "names the socket: {message}");
    assert!(message.contains("no identity issued"), "names the cause: {message}");
    assert!(elapsed < Duration::from_secs(5), "within --spiffe-timeout: {elapsed:?}");
    assert_eq!(target.stats().requests, 0, "never a plaintext fallback");
    // The registered binary at the same socket gets an identity: the copy's path is the only
    // difference.
    let output = spiffe_cli(&target.url(), spire.socket(), &["--spiffe-timeout", "5s", "list"]).await;
    assert!(!stderr(&output).contains("no identity issued"), "{}", stderr(&output));
    drop(spire);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workload_with_two_spire_svids_presents_the_default_or_the_one_named_by_spiffe_id() {
    // Real SPIRE: two entries for one workload; SPIRE offers them in entry ID order, so the
    // entry IDs make /client-a the default.
    let (first, second) = ("spiffe://example.org/client-a", "spiffe://example.org/client-b");
    let Some(spire) = Spire::start(&[
        format!("id={first},path={METALD_HOST},entry_id=metald-test-1"),
        format!("id={second},path={METALD_HOST},entry_id=metald-test-2"),
    ]) else {
        return;
    };
    let (server, peers) = minted_server(&spire).await;
    let url = server.url();
    let last_peer = || identity(peers.certificates().last().unwrap()).0;

    ok(&spiffe_cli(&url, spire.socket(), &["list"]).await);
    assert_eq!(last_peer(), first, "the default SVID");
    ok(&spiffe_cli(&url, spire.socket(), &["--spiffe-id", second, "list"]).await);
    assert_eq!(last_peer(), second, "--spiffe-id");
    let mut command = metald_host();
    command.env("UNKEY_METALD_SPIFFE_ID", first).args([
        "--server",
        &url,
        "--user",
        "alice",
        "--tenant",
        "acme",
        "--spiffe-socket",
        spire.socket(),
        "list",
    ]);
    ok(&run(command).await);
    assert_eq!(last_peer(), first, "UNKEY_METALD_SPIFFE_ID");

    let requests = server.stats().requests;
    let missing = "spiffe://example.org/client-c";
    let output = spiffe_cli(&url, spire.socket(), &["--spiffe-id", missing, "list"]).await;
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let message = stderr(&output);
    for part in ["--spiffe-id", missing, first, second, spire.socket()] {
        assert!(message.contains(part), "names {part}: {message}");
    }
    assert_eq!(server.stats().requests, requests, "nothing sent with another SVID");
}
