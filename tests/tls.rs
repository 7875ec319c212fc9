//! TLS end to end against the dev server: file-mode mTLS (the client certificate is
//! presented, unlike the Go client's), SPIFFE-only server certificates, bad files, reload.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use metald_devserver::tls::{PeerLog, PeerRecord, TlsAcceptor};
use metald_devserver::{DevServer, DevServerConfig};
use metald_host::bindings::types::ErrorCode;
use metald_host::tls::{FileTls, FileTlsConfig, summarize};
use metald_host::transport::{AllowList, AllowedHost, TransportConfig};
use metald_host::{Runtime, RuntimeConfig};
use rcgen::{BasicConstraints, IsCa, KeyUsagePurpose};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::PrivateKeyDer;
use support::certs::{Ca, San, loopback, write};
use support::*;

/// A dev server requiring client certificates from `client_ca`, presenting `server`.
async fn tls_server(
    dir: &std::path::Path,
    server: &support::certs::Leaf,
    client_ca: &Ca,
) -> (DevServer, Arc<PeerLog>) {
    let cert = write(dir, "server.pem", &server.cert_pem);
    let key = write(dir, "server.key", &server.key_pem);
    let ca = write(dir, "client-ca.pem", &client_ca.pem);
    let acceptor = TlsAcceptor::from_files(&cert, &key, &ca).unwrap();
    let peers = acceptor.peers();
    let server = DevServer::start(DevServerConfig { acceptor: Arc::new(acceptor), ..Default::default() })
        .await
        .unwrap();
    (server, peers)
}

struct ClientFiles {
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
}

impl ClientFiles {
    /// `--tls-mode file` with these files, then `rest`.
    fn cli_args<'a>(&'a self, rest: &[&'a str]) -> Vec<&'a str> {
        let path = |p: &'a PathBuf| p.to_str().unwrap();
        let files =
            ["--tls-cert", path(&self.cert), "--tls-key", path(&self.key), "--tls-ca", path(&self.ca)];
        ["--tls-mode", "file"].into_iter().chain(files).chain(rest.iter().copied()).collect()
    }
}

fn client_files(dir: &std::path::Path, leaf: &support::certs::Leaf, server_ca: &Ca) -> ClientFiles {
    ClientFiles {
        cert: write(dir, "client.pem", &leaf.cert_pem),
        key: write(dir, "client.key", &leaf.key_pem),
        ca: write(dir, "server-ca.pem", &server_ca.pem),
    }
}

fn file_runtime(url: &str, files: &ClientFiles, server_spiffe_id: Option<&str>, reload: Duration) -> Runtime {
    let provider = FileTls::new(FileTlsConfig {
        cert: Some(files.cert.clone()),
        key: Some(files.key.clone()),
        ca: Some(files.ca.clone()),
        server_spiffe_id: server_spiffe_id.map(str::to_string),
        reload_interval: reload,
    })
    .unwrap();
    let allow = AllowList::new(vec![AllowedHost::parse(url).unwrap()]);
    let mut config = RuntimeConfig::new(TransportConfig::new(Arc::new(provider), allow));
    config.cache = metald_host::component::CacheMode::Dir(cache_dir());
    Runtime::new(config).unwrap()
}

fn serial_of(der: &[u8]) -> String {
    summarize(&CertificateDer::from(der.to_vec())).unwrap().serial
}

#[tokio::test(flavor = "multi_thread")]
async fn file_mode_lifecycle_presents_the_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (server_ca, client_ca) = (Ca::new("server.test"), Ca::new("example.org"));
    let (server, peers) = tls_server(dir.path(), &server_ca.issue(loopback()), &client_ca).await;
    let client_leaf = client_ca.issue(vec![San::Uri("spiffe://example.org/client".into())]);
    let files = client_files(dir.path(), &client_leaf, &server_ca);
    let url = server.url();
    assert!(url.starts_with("https://"));
    let output = cli(&url, &files.cli_args(&["create-and-boot", "--json"])).await;
    // `cli` adds --tls-mode disabled first; the later --tls-mode file wins.
    assert_eq!(json(&output)["boot_state"], "VM_STATE_RUNNING", "{}", stderr(&output));
    let seen = peers.certificates();
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|c| c.as_ref() == client_leaf.der.as_slice()), "the server saw our certificate");

    let runtime = file_runtime(&url, &files, None, Duration::ZERO);
    let mut client = runtime.client(options(&url)).await.unwrap();
    let vms = client.list_all_vms(&[]).await.unwrap();
    assert_eq!(vms.len(), 1, "the library sees the VM the CLI made over the same mTLS");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_requiring_a_client_certificate_refuses_a_client_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let (server_ca, client_ca) = (Ca::new("server.test"), Ca::new("example.org"));
    let (server, _) = tls_server(dir.path(), &server_ca.issue(loopback()), &client_ca).await;
    let ca = write(dir.path(), "server-ca.pem", &server_ca.pem);
    let output = cli(&server.url(), &["--tls-mode", "file", "--tls-ca", ca.to_str().unwrap(), "list"]).await;
    assert_eq!(code(&output), 1);
    assert!(stderr(&output).contains("unauthenticated"), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread")]
async fn spiffe_only_server_certificates_are_authorized_by_trust_domain_or_exact_id() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("example.org");
    let (server, _) =
        tls_server(dir.path(), &ca.issue(vec![San::Uri("spiffe://example.org/metald".into())]), &ca).await;
    let files =
        client_files(dir.path(), &ca.issue(vec![San::Uri("spiffe://example.org/client".into())]), &ca);
    let url = server.url();
    let mut client = file_runtime(&url, &files, None, Duration::ZERO).client(options(&url)).await.unwrap();
    client.list_all_vms(&[]).await.unwrap();
    let mut exact = file_runtime(&url, &files, Some("spiffe://example.org/metald"), Duration::ZERO)
        .client(options(&url))
        .await
        .unwrap();
    exact.list_all_vms(&[]).await.unwrap();
    let mut wrong = file_runtime(&url, &files, Some("spiffe://example.org/other"), Duration::ZERO)
        .client(options(&url))
        .await
        .unwrap();
    let error = wrong.list_all_vms(&[]).await.unwrap_err();
    assert_eq!(error.connect_code(), Some(ErrorCode::Unauthenticated), "{error}");
    assert!(error.to_string().contains("not the expected spiffe://example.org/other"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spiffe_server_outside_our_trust_domain_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ours = Ca::new("example.org");
    let theirs = Ca::new("other.org");
    let (server, _) =
        tls_server(dir.path(), &theirs.issue(vec![San::Uri("spiffe://other.org/metald".into())]), &ours)
            .await;
    let mut files =
        client_files(dir.path(), &ours.issue(vec![San::Uri("spiffe://example.org/client".into())]), &ours);
    files.ca = write(dir.path(), "both.pem", &format!("{}{}", ours.pem, theirs.pem));
    let url = server.url();
    let mut client = file_runtime(&url, &files, None, Duration::ZERO).client(options(&url)).await.unwrap();
    let error = client.list_all_vms(&[]).await.unwrap_err();
    assert_eq!(error.connect_code(), Some(ErrorCode::Unauthenticated), "{error}");
    assert!(error.to_string().contains("outside our trust domain example.org"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_file_is_a_clear_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("example.org");
    let good = ca.issue(loopback());
    let other = ca.issue(loopback());
    let cert = write(dir.path(), "cert.pem", &good.cert_pem);
    let key = write(dir.path(), "key.pem", &good.key_pem);
    let wrong_key = write(dir.path(), "wrong.key", &other.key_pem);
    let expired = write(dir.path(), "expired.pem", &ca.issue_expired(loopback()).cert_pem);
    let garbage = write(dir.path(), "garbage.pem", "not a certificate");
    let missing = dir.path().join("missing.pem");
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();
    let cases: Vec<(Vec<String>, String, &str)> = vec![
        (vec!["--tls-cert".into(), s(&missing), "--tls-key".into(), s(&key)], s(&missing), "cannot read"),
        (
            vec!["--tls-cert".into(), s(&cert), "--tls-key".into(), s(&wrong_key)],
            s(&wrong_key),
            "does not belong to",
        ),
        (vec!["--tls-cert".into(), s(&expired), "--tls-key".into(), s(&key)], s(&expired), "expired"),
        (vec!["--tls-cert".into(), s(&cert)], s(&cert), "needs its key"),
        (vec!["--tls-key".into(), s(&key)], s(&key), "needs its certificate"),
        (vec!["--tls-ca".into(), s(&garbage)], s(&garbage), "no usable CA certificate"),
    ];
    let server = dev_server().await;
    for (flags, file, reason) in cases {
        let mut args: Vec<&str> = vec!["--tls-mode", "file"];
        args.extend(flags.iter().map(String::as_str));
        args.push("list");
        let output = cli(&server.url(), &args).await;
        assert_eq!(code(&output), 1, "{flags:?}");
        let message = stderr(&output);
        assert!(message.contains(&file) && message.contains(reason), "{flags:?}: {message}");
    }
    assert_eq!(server.stats().requests, 0, "no request was sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn renewed_files_are_picked_up_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (server_ca, client_ca) = (Ca::new("server.test"), Ca::new("example.org"));
    let (server, peers) = tls_server(dir.path(), &server_ca.issue(loopback()), &client_ca).await;
    let first = client_ca.issue(vec![San::Uri("spiffe://example.org/client".into())]);
    let files = client_files(dir.path(), &first, &server_ca);
    let url = server.url();
    let runtime = file_runtime(&url, &files, None, Duration::from_millis(200));
    let mut client = runtime.client(options(&url)).await.unwrap();
    client.list_all_vms(&[]).await.unwrap();
    let renewed = client_ca.issue(vec![San::Uri("spiffe://example.org/client".into())]);
    std::fs::write(&files.cert, &renewed.cert_pem).unwrap();
    std::fs::write(&files.key, &renewed.key_pem).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    client.list_all_vms(&[]).await.unwrap();
    let serials: Vec<String> = peers.certificates().iter().map(|c| serial_of(c)).collect();
    assert_eq!(serials.first(), Some(&serial_of(&first.der)));
    assert_eq!(
        serials.last(),
        Some(&serial_of(&renewed.der)),
        "the next connection presents the renewed certificate"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dev_server_command_serves_file_mode_mtls() {
    let dir = tempfile::tempdir().unwrap();
    let (server_ca, client_ca) = (Ca::new("server.test"), Ca::new("example.org"));
    let server_leaf = server_ca.issue(loopback());
    let server_cert = write(dir.path(), "server.pem", &server_leaf.cert_pem);
    let server_key = write(dir.path(), "server.key", &server_leaf.key_pem);
    let client_ca_file = write(dir.path(), "client-ca.pem", &client_ca.pem);
    let (mut child, url) = spawn_dev_server(&[
        "--tls-mode",
        "file",
        "--tls-cert",
        server_cert.to_str().unwrap(),
        "--tls-key",
        server_key.to_str().unwrap(),
        "--tls-client-ca",
        client_ca_file.to_str().unwrap(),
    ])
    .await;
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let files = client_files(dir.path(), &client_ca.issue(vec![San::Dns("client.test")]), &server_ca);
    let output = cli(&url, &files.cli_args(&["create-and-boot"])).await;
    ok(&output);
    child.kill().await.unwrap();
}

/// A dev server presenting `leaf` that asks for no client certificate.
async fn open_tls_server(leaf: &support::certs::Leaf) -> DevServer {
    let key = PrivateKeyDer::try_from(leaf.key_der.clone()).unwrap();
    let mut config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![CertificateDer::from(leaf.der.clone())], key)
            .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from_config(Arc::new(config));
    DevServer::start(DevServerConfig { acceptor: Arc::new(acceptor), ..Default::default() }).await.unwrap()
}

/// Issue 13 §4: no client certificate SPIFFE ID and no expected server SPIFFE ID
/// (`--server-spiffe-id`) leaves nothing to authorize a SPIFFE-only server by: refused,
/// nothing sent, and the message says what to set.
#[tokio::test(flavor = "multi_thread")]
async fn file_mode_fails_closed_without_a_server_spiffe_id_or_trust_domain() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("example.org");
    let server = open_tls_server(&ca.issue(vec![San::Uri("spiffe://example.org/not-metald".into())])).await;
    let ca_file = write(dir.path(), "ca.pem", &ca.pem);
    let tls_ca = format!("-tls-ca={}", ca_file.display());
    let go_server = format!("-server={}", server.url());
    let mut command = metald_host();
    command.args(["-tls-mode=file", &tls_ca, &go_server, "-user=alice", "-tenant=acme", "list"]);
    let output = run(command).await;
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let message = stderr(&output);
    // Refused during the handshake, inside the component's call: the library names the setting.
    assert!(
        message.contains("unauthenticated") && message.contains("set the expected server SPIFFE ID"),
        "{message}"
    );
    assert!(
        message.contains("no-policy") && message.contains("spiffe://example.org/not-metald"),
        "{message}"
    );
    assert_eq!(server.stats().requests, 0, "nothing was sent");

    let mut named = metald_host();
    named.args([
        "-tls-mode=file",
        &tls_ca,
        &go_server,
        "-server-spiffe-id=spiffe://example.org/not-metald",
        "-user=alice",
        "-tenant=acme",
        "list",
    ]);
    ok(&run(named).await);
}

/// Issue 13 §4: the X509-SVID leaf rules apply to SPIFFE-only server certificates in file
/// mode, whatever authorizes the ID.
#[tokio::test(flavor = "multi_thread")]
async fn file_mode_applies_the_x509_svid_leaf_rules() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("example.org");
    let files =
        client_files(dir.path(), &ca.issue(vec![San::Uri("spiffe://example.org/client".into())]), &ca);
    let id = || San::Uri("spiffe://example.org/metald".into());
    let usages = |extra: KeyUsagePurpose| vec![KeyUsagePurpose::DigitalSignature, extra];
    let cases: Vec<(&str, support::certs::Leaf)> = vec![
        ("key-cert-sign", ca.issue_with(vec![id()], |p| p.key_usages = usages(KeyUsagePurpose::KeyCertSign))),
        ("crl-sign", ca.issue_with(vec![id()], |p| p.key_usages = usages(KeyUsagePurpose::CrlSign))),
        ("ca-leaf", ca.issue_with(vec![id()], |p| p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained))),
        ("uri-san-count", ca.issue(vec![id(), San::Uri("spiffe://example.org/other".into())])),
        ("no-path", ca.issue(vec![San::Uri("spiffe://example.org".into())])),
    ];
    for (reason, leaf) in cases {
        let server = open_tls_server(&leaf).await;
        let url = server.url();
        for spiffe_id in [None, Some("spiffe://example.org/metald")] {
            let mut client =
                file_runtime(&url, &files, spiffe_id, Duration::ZERO).client(options(&url)).await.unwrap();
            let error = client.list_all_vms(&[]).await.unwrap_err();
            assert_eq!(error.connect_code(), Some(ErrorCode::Unauthenticated), "{reason}: {error}");
            assert!(error.to_string().contains(reason), "{reason}: {error}");
        }
        assert_eq!(server.stats().requests, 0, "{reason}: nothing was sent");
    }
}

/// A server whose certificate comes from `server_ca`, and a file-mode runtime reloading its
/// files every 200 ms whose CA file holds `trusted` (PEM).
async fn reload_setup(
    dir: &std::path::Path,
    server_ca: &Ca,
    trusted: &str,
) -> (DevServer, ClientFiles, Runtime, metald_host::Client) {
    let client_ca = Ca::new("example.org");
    let (server, _) = tls_server(dir, &server_ca.issue(loopback()), &client_ca).await;
    let files =
        client_files(dir, &client_ca.issue(vec![San::Uri("spiffe://example.org/client".into())]), server_ca);
    std::fs::write(&files.ca, trusted).unwrap();
    let url = server.url();
    let runtime = file_runtime(&url, &files, None, Duration::from_millis(200));
    let client = runtime.client(options(&url)).await.unwrap();
    (server, files, runtime, client)
}

/// Issue 13 §5: with a reload interval, a CA added to the --tls-ca file reaches new
/// connections.
#[tokio::test(flavor = "multi_thread")]
async fn a_ca_added_to_the_reloaded_ca_file_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (old_ca, new_ca) = (Ca::new("old.test"), Ca::new("new.test"));
    let (_server, files, _runtime, mut client) = reload_setup(dir.path(), &new_ca, &old_ca.pem).await;
    let error = client.list_all_vms(&[]).await.unwrap_err();
    assert_eq!(error.connect_code(), Some(ErrorCode::Unauthenticated), "{error}");
    std::fs::write(&files.ca, format!("{}{}", old_ca.pem, new_ca.pem)).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    client.list_all_vms(&[]).await.expect("the added CA is trusted");
}

/// Issue 13 §5: with a reload interval, a CA removed from the --tls-ca file stops being
/// trusted, by new connections and instead of pooled ones.
#[tokio::test(flavor = "multi_thread")]
async fn a_ca_removed_from_the_reloaded_ca_file_is_no_longer_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (old_ca, new_ca) = (Ca::new("old.test"), Ca::new("new.test"));
    let both = format!("{}{}", old_ca.pem, new_ca.pem);
    let (_server, files, runtime, mut client) = reload_setup(dir.path(), &new_ca, &both).await;
    client.list_all_vms(&[]).await.expect("trusted");
    client.list_all_vms(&[]).await.expect("trusted, over the pooled connection");
    assert_eq!(runtime.transport_stats().connections, 1);
    std::fs::write(&files.ca, &old_ca.pem).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let error = client.list_all_vms(&[]).await.unwrap_err();
    assert_eq!(error.connect_code(), Some(ErrorCode::Unauthenticated), "{error}");
    assert!(error.to_string().contains("UnknownIssuer"), "{error}");
    // And back: trusted again.
    std::fs::write(&files.ca, &both).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    client.list_all_vms(&[]).await.expect("trusted again");
}

/// `dev-server --peer-log` appends one JSON line per TLS client handshake (serial, SPIFFE ID,
/// ALPN): how the JS, Python and Go tests, which run the dev server as a program, see which
/// certificate and protocol a client used.
#[tokio::test(flavor = "multi_thread")]
async fn dev_server_peer_log_names_each_client_certificate_and_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let (server_ca, client_ca) = (Ca::new("server.test"), Ca::new("example.org"));
    let server_leaf = server_ca.issue(loopback());
    let client_leaf = client_ca.issue(vec![San::Uri("spiffe://example.org/client".into())]);
    let files = client_files(dir.path(), &client_leaf, &server_ca);
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();
    let (cert, key) = (
        write(dir.path(), "server.pem", &server_leaf.cert_pem),
        write(dir.path(), "server.key", &server_leaf.key_pem),
    );
    let client_ca_file = write(dir.path(), "client-ca.pem", &client_ca.pem);
    let log = dir.path().join("peers.jsonl");
    let (mut child, url) = spawn_dev_server(&[
        "--tls-mode",
        "file",
        "--tls-cert",
        &s(&cert),
        "--tls-key",
        &s(&key),
        "--tls-client-ca",
        &s(&client_ca_file),
        "--peer-log",
        &s(&log),
    ])
    .await;
    ok(&cli(&url, &files.cli_args(&["list"])).await);
    ok(&cli(&url, &files.cli_args(&["list"])).await);
    child.kill().await.unwrap();
    let records: Vec<PeerRecord> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let expected = PeerRecord {
        serial: serial_of(&client_leaf.der),
        spiffe_id: Some("spiffe://example.org/client".into()),
        alpn: Some("h2".into()),
    };
    assert_eq!(records, vec![expected.clone(), expected], "one line per connection, one per process");
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_server_peer_log_needs_tls() {
    let output = cli("http://127.0.0.1:1", &["dev-server", "--peer-log", "/tmp/peers.jsonl"]).await;
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("--peer-log needs --tls-mode file or spiffe"), "{}", stderr(&output));
}
