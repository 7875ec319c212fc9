//! Plugins end to end: the example plugin (examples/plugin, a `wasi:cli/run` component that
//! imports `metald:client`) composed with the client component by wac-graph, run by the
//! metald-host library and by `metald-host plugin run` against the dev server, plain and
//! over file mTLS; the allow-list in front of the SDK inside it; traps.
//!
//! The plugin is the fresh build of `cargo build -p metald-example-plugin --target
//! wasm32-wasip2 --release`, which scripts/test.sh runs before the tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::sync::Arc;

use metald_devserver::tls::TlsAcceptor;
use metald_devserver::{DevServer, DevServerConfig};
use metald_host::component::CacheMode;
use metald_host::plugin::{Invocation, PluginConfig, PluginError, PluginHost};
use support::certs::{Ca, San, loopback, write};
use support::*;

/// The example plugin's fresh build in this target directory (CARGO_TARGET_TMPDIR is
/// `<target>/tmp`). The first call compiles the composed plugins into the shared cache
/// (support::cache_dir), so that the tests, running in parallel, do not all compile them.
fn plugin_path() -> PathBuf {
    static WARM: std::sync::Once = std::sync::Once::new();
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("..");
    let path = target.join("wasm32-wasip2/release/metald-example-plugin.wasm");
    assert!(
        path.is_file(),
        "{} is missing: build it first with `cargo build -p metald-example-plugin --target wasm32-wasip2 \
         --release` (scripts/test.sh does)",
        path.display()
    );
    WARM.call_once(|| {
        let host = host("http://127.0.0.1:9");
        host.load(&std::fs::read(&path).unwrap()).unwrap();
        host.load(&trapping_plugin()).unwrap();
    });
    path
}

fn plugin_bytes() -> Vec<u8> {
    std::fs::read(plugin_path()).unwrap()
}

/// A command component that imports an (empty) `metald:client` interface, so that it
/// composes, and traps in `run`.
fn trapping_plugin() -> Vec<u8> {
    wat::parse_str(
        r#"(component
             (import "metald:client/templates@0.1.0" (instance))
             (core module $m (func (export "run") (result i32) unreachable))
             (core instance $i (instantiate $m))
             (func $run (result (result)) (canon lift (core func $i "run")))
             (instance $cli (export "run" (func $run)))
             (export "wasi:cli/run@0.2.6" (instance $cli)))"#,
    )
    .unwrap()
}

/// A plugin host whose SDK may reach only `server`.
fn host(server: &str) -> PluginHost {
    let mut config = PluginConfig::new(metald_host::plain_transport(server).unwrap());
    config.cache = CacheMode::Dir(cache_dir());
    PluginHost::new(config).unwrap()
}

/// The plugin's argv for `server`, user alice of tenant acme, then `rest`.
fn invocation(server: &str, rest: &[&str]) -> Invocation {
    let mut args = vec!["metald-example-plugin", "--server", server, "--user", "alice", "--tenant", "acme"];
    args.extend_from_slice(rest);
    Invocation::captured(args)
}

/// stdout lines that start with `word`.
fn lines_starting<'a>(stdout: &'a str, word: &str) -> Vec<&'a str> {
    stdout.lines().filter(|line| line.split(' ').next() == Some(word)).collect()
}

#[test]
fn the_composed_plugin_imports_only_wasi_and_exports_wasi_cli_run() {
    let plugin = host("http://127.0.0.1:9").load(&plugin_bytes()).unwrap();
    let imports = plugin.imports();
    assert!(imports.iter().all(|name| name.starts_with("wasi:")), "{imports:?}");
    assert!(!imports.iter().any(|name| name.starts_with("metald:")), "{imports:?}");
    assert!(
        imports.iter().any(|name| name.starts_with("wasi:http/outgoing-handler@0.2.")),
        "the SDK's transport import is the composition's: {imports:?}"
    );
    assert!(!imports.iter().any(|name| name.starts_with("wasi:sockets/")), "no sockets: {imports:?}");
    let exports = plugin.exports();
    assert!(exports.iter().any(|name| name.starts_with("wasi:cli/run@0.2.")), "{exports:?}");
    assert!(!exports.iter().any(|name| name.starts_with("metald:")), "{exports:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reconcile_creates_boots_and_leaves_alone_through_the_library() {
    let server = dev_server().await;
    let url = server.url();
    let host = host(&url);
    let plugin = host.load(&plugin_bytes()).unwrap();

    let first = plugin.run(&invocation(&url, &["--count", "3", "--template", "minimal"])).await.unwrap();
    let stdout = String::from_utf8_lossy(&first.stdout).into_owned();
    assert_eq!(first.exit_code, 0, "{stdout}\n{}", String::from_utf8_lossy(&first.stderr));
    let created: Vec<String> =
        lines_starting(&stdout, "created").iter().map(|line| line[8..].to_string()).collect();
    assert_eq!(created.len(), 3, "{stdout}");
    assert!(
        stdout.ends_with("pool minimal: 3 of 3 running (created 3, booted 0, resumed 0, left alone 0)\n")
    );

    // Someone shuts one down and pauses another: the next run boots and resumes them.
    let (_runtime, mut client) = client(&url).await;
    let shutdown = metald_host::bindings::types::ShutdownVmRequest {
        vm_id: created[0].clone(),
        force: true,
        timeout_seconds: 1,
    };
    client.shutdown_vm(&shutdown).await.unwrap();
    client.pause_vm(&created[1]).await.unwrap();
    let second = plugin.run(&invocation(&url, &["--count", "3", "--template", "minimal"])).await.unwrap();
    let stdout = String::from_utf8_lossy(&second.stdout).into_owned();
    assert_eq!(second.exit_code, 0, "{stdout}");
    assert_eq!(lines_starting(&stdout, "booted"), [format!("booted {}", created[0])], "{stdout}");
    assert_eq!(lines_starting(&stdout, "resumed"), [format!("resumed {}", created[1])], "{stdout}");
    assert_eq!(lines_starting(&stdout, "left-alone"), [format!("left-alone {} running", created[2])]);
    assert!(lines_starting(&stdout, "created").is_empty(), "{stdout}");

    // Fewer wanted: nothing is touched, the rest is reported as surplus.
    let third = plugin.run(&invocation(&url, &["--count", "1", "--pool", "minimal"])).await.unwrap();
    let stdout = String::from_utf8_lossy(&third.stdout).into_owned();
    assert_eq!(lines_starting(&stdout, "left-alone").len(), 1, "{stdout}");
    assert_eq!(lines_starting(&stdout, "surplus").len(), 2, "{stdout}");
    let vms = client.list_all_vms(&[]).await.unwrap();
    assert_eq!(vms.len(), 3, "nothing deleted or added");
    assert!(vms.iter().all(|vm| vm.state == metald_host::bindings::types::VmState::Running));
    assert_eq!(host.transport_stats().denied, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_reaching_another_host_through_the_sdk_is_refused_by_the_allow_list() {
    let server = dev_server().await;
    let host = host(&server.url());
    let plugin = host.load(&plugin_bytes()).unwrap();
    let output = plugin.run(&invocation("http://127.0.0.1:9", &["--count", "1"])).await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.exit_code, 1, "{stderr}");
    assert!(
        stderr.contains("listing VMs: permission_denied: ListVms failed: 127.0.0.1:9: request denied by the host's outbound policy"),
        "{stderr}"
    );
    let stats = host.transport_stats();
    assert_eq!((stats.requests, stats.denied, stats.connections), (1, 1, 0), "refused before connecting");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trapping_plugin_is_a_typed_error_and_the_host_runs_the_next_plugin() {
    let server = dev_server().await;
    let url = server.url();
    let host = host(&url);
    let trapping = host.load(&trapping_plugin()).unwrap();
    let error = trapping.run(&Invocation::captured(["trap"])).await.unwrap_err();
    assert!(matches!(error, PluginError::Trap(_)), "{error:?}");
    let message = metald_host::error::chain(&error);
    assert!(message.starts_with("the plugin trapped: ") && message.contains("unreachable"), "{message}");

    let plugin = host.load(&plugin_bytes()).unwrap();
    let output = plugin.run(&invocation(&url, &["--count", "1"])).await.unwrap();
    assert_eq!(output.exit_code, 0, "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(lines_starting(&String::from_utf8_lossy(&output.stdout), "created").len(), 1);
    let again = trapping.run(&Invocation::captured(["trap"])).await.unwrap_err();
    assert!(matches!(again, PluginError::Trap(_)), "each run is a fresh instance: {again:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn metald_host_plugin_run_reconciles_against_a_server_and_with_dev() {
    let server = dev_server().await;
    let url = server.url();
    let path = plugin_path();
    let plugin = path.to_str().unwrap();
    // The connection settings reach the plugin as METALD_SERVER, METALD_USER, METALD_TENANT.
    let output = cli(&url, &["plugin", "run", plugin, "--count", "2", "--template", "minimal"]).await;
    let stdout = ok(&output);
    assert_eq!(lines_starting(&stdout, "created").len(), 2, "{stdout}");
    let listed = json(&cli(&url, &["list", "--json"]).await);
    assert_eq!(listed["TotalCount"], 2, "{listed}");
    let again = ok(&cli(&url, &["plugin", "run", plugin, "--count", "2", "--template", "minimal"]).await);
    assert_eq!(lines_starting(&again, "left-alone").len(), 2, "{again}");

    let mut command = metald_host();
    command.args(["--user", "bob", "--tenant", "acme", "plugin", "run", "--dev", plugin, "--count", "1"]);
    let dev = ok(&run(command).await);
    assert!(
        dev.ends_with("pool standard: 1 of 1 running (created 1, booted 0, resumed 0, left alone 0)\n"),
        "{dev}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metald_host_plugin_run_presents_the_client_certificate_in_file_mode() {
    let dir = tempfile::tempdir().unwrap();
    let (server_ca, client_ca) = (Ca::new("server.test"), Ca::new("example.org"));
    let server_leaf = server_ca.issue(loopback());
    let acceptor = TlsAcceptor::from_files(
        &write(dir.path(), "server.pem", &server_leaf.cert_pem),
        &write(dir.path(), "server.key", &server_leaf.key_pem),
        &write(dir.path(), "client-ca.pem", &client_ca.pem),
    )
    .unwrap();
    let peers = acceptor.peers();
    let server = DevServer::start(DevServerConfig { acceptor: Arc::new(acceptor), ..Default::default() })
        .await
        .unwrap();
    let url = server.url();
    assert!(url.starts_with("https://"), "{url}");
    let client_leaf = client_ca.issue(vec![San::Uri("spiffe://example.org/plugin".into())]);
    let cert = write(dir.path(), "client.pem", &client_leaf.cert_pem);
    let key = write(dir.path(), "client.key", &client_leaf.key_pem);
    let ca = write(dir.path(), "server-ca.pem", &server_ca.pem);
    let path = plugin_path();
    let output = cli(
        &url,
        &[
            "--tls-mode",
            "file",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--tls-ca",
            ca.to_str().unwrap(),
            "plugin",
            "run",
            path.to_str().unwrap(),
            "--count",
            "2",
        ],
    )
    .await;
    let stdout = ok(&output);
    assert_eq!(lines_starting(&stdout, "created").len(), 2, "{stdout}");
    let seen = peers.certificates();
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|c| c.as_ref() == client_leaf.der.as_slice()), "the server saw our certificate");

    let without = cli(&url, &["--tls-mode", "file", "--tls-ca", ca.to_str().unwrap(), "plugin", "run"]).await;
    assert_eq!(code(&without), 2, "no plugin named: a usage error\n{}", stderr(&without));
}

#[tokio::test(flavor = "multi_thread")]
async fn metald_host_plugin_run_says_when_the_allow_list_refuses_the_plugin() {
    let server = dev_server().await;
    let path = plugin_path();
    let output = cli(
        &server.url(),
        &["plugin", "run", path.to_str().unwrap(), "--count", "1", "--server", "http://127.0.0.1:9"],
    )
    .await;
    let stderr = stderr(&output);
    assert_eq!(code(&output), 1, "{stderr}");
    assert!(stderr.contains("permission_denied"), "the plugin reports the SDK's error: {stderr}");
    assert!(
        stderr.contains("outbound request denied: not on the allow-list")
            && stderr.contains("http://127.0.0.1:9"),
        "the host says what it refused: {stderr}"
    );
    assert!(stderr.contains("the plugin exited with status 1"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn metald_host_plugin_run_of_a_trapping_plugin_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let trap = dir.path().join("trap.wasm");
    std::fs::write(&trap, trapping_plugin()).unwrap();
    let output = cli("http://127.0.0.1:9", &["plugin", "run", trap.to_str().unwrap()]).await;
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "an exit status, not a signal: {text}");
    assert!(text.contains("trap.wasm: the plugin trapped") && text.contains("unreachable"), "{text}");
    assert!(!text.contains("panicked"), "{text}");

    let not_a_plugin = dir.path().join("text.wasm");
    std::fs::write(&not_a_plugin, "hello").unwrap();
    let output = cli("http://127.0.0.1:9", &["plugin", "run", not_a_plugin.to_str().unwrap()]).await;
    assert_eq!(code(&output), 1);
    let text = stderr(&output);
    assert!(
        text.contains("text.wasm: composing the plugin with the metald client component: reading the plugin"),
        "{text}"
    );
}
