//! Shared helpers of the end-to-end tests: a dev server on loopback, the `metald-host`
//! binary, and runtimes of the component.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use metald_devserver::{DevServer, DevServerConfig};
use metald_host::bindings::types::ClientOptions;
use metald_host::{Client, Runtime, RuntimeConfig};

/// A dev server on 127.0.0.1 with a free port.
pub async fn dev_server() -> DevServer {
    DevServer::start(DevServerConfig::default()).await.expect("dev server starts")
}

/// Client options for `server` as user `alice` of tenant `acme`.
pub fn options(server: &str) -> ClientOptions {
    ClientOptions {
        server: server.into(),
        user_id: "alice".into(),
        tenant_id: "acme".into(),
        timeout_ms: Some(10_000),
        route_prefix: None,
        codec: None,
        retries: None,
        max_response_bytes: None,
        compression: None,
    }
}

/// Where compiled components are cached during tests.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache")
}

/// A runtime whose component may reach only `server`.
pub fn runtime(server: &str) -> Runtime {
    let mut config = RuntimeConfig::new(metald_host::plain_transport(server).expect("transport"));
    config.cache = metald_host::component::CacheMode::Dir(cache_dir());
    Runtime::new(config).expect("runtime")
}

/// The `minimal` template's config, from a fresh instance of `runtime`.
pub async fn minimal_config(runtime: &Runtime) -> metald_host::bindings::types::VmConfig {
    let mut instance = runtime.instantiate().await.expect("instance");
    instance.template_config(metald_host::bindings::templates::Template::Minimal).await.expect("template")
}

/// A client of `server`.
pub async fn client(server: &str) -> (Runtime, Client) {
    let runtime = runtime(server);
    let client = runtime.client(options(server)).await.expect("client opens");
    (runtime, client)
}

/// The `metald-host` binary under test: the CLI package's own (cli/Cargo.toml, for
/// tests/cli.rs and tests/run.rs), or the same `main` built by the end-to-end package under
/// another name (tests/Cargo.toml explains why).
pub const METALD_HOST: &str =
    match (option_env!("CARGO_BIN_EXE_metald-host"), option_env!("CARGO_BIN_EXE_metald-host-e2e")) {
        (Some(path), _) | (None, Some(path)) => path,
        (None, None) => panic!("tests/support is for the packages metald-host-cli and metald-e2e"),
    };

/// The `metald-host` binary with a clean environment (no `UNKEY_*` settings).
pub fn metald_host() -> tokio::process::Command {
    metald_host_at(std::path::Path::new(METALD_HOST))
}

/// [`metald_host`] from a copy of the binary at `binary` (a workload of its own to SPIRE).
pub fn metald_host_at(binary: &std::path::Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(binary);
    for (key, _) in std::env::vars() {
        if key.starts_with("UNKEY_METALD_") || key == "SPIFFE_ENDPOINT_SOCKET" || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    command.env("METALD_CACHE_DIR", cache_dir()).kill_on_drop(true);
    command
}

/// Runs `metald-host` against `server` (plain HTTP, user alice, tenant acme) with `args`.
pub async fn cli(server: &str, args: &[&str]) -> Output {
    let mut command = metald_host();
    command
        .args(["--server", server, "--tls-mode", "disabled", "--user", "alice", "--tenant", "acme"])
        .args(args);
    run(command).await
}

/// Runs a command to completion (at most 2 minutes).
pub async fn run(mut command: tokio::process::Command) -> Output {
    tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("finishes in time")
        .expect("runs")
}

/// stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts success and returns stdout.
pub fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed ({:?}):\nstdout: {}\nstderr: {}",
        output.status,
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

/// stdout parsed as one JSON document.
pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_str(&stdout(output)).unwrap_or_else(|e| {
        panic!("stdout is not JSON ({e}):\n{}\nstderr: {}", stdout(output), stderr(output))
    })
}

/// The exit code.
pub fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

pub mod certs;

/// Starts `metald-host dev-server` with `args` and returns it with the URL it printed.
pub async fn spawn_dev_server(args: &[&str]) -> (tokio::process::Child, String) {
    spawn_dev_server_at(std::path::Path::new(METALD_HOST), args).await
}

/// [`spawn_dev_server`] from a copy of the binary at `binary`.
pub async fn spawn_dev_server_at(binary: &std::path::Path, args: &[&str]) -> (tokio::process::Child, String) {
    let mut command = metald_host_at(binary);
    command.args(["dev-server", "--listen", "127.0.0.1:0"]).args(args).stdout(std::process::Stdio::piped());
    let mut child = command.spawn().expect("dev-server starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let url = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("prints its URL in time")
        .expect("reads stdout")
        .expect("a line");
    (child, url)
}
