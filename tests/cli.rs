//! The `metald-host` binary against the dev server: every command, `--json` output,
//! metald-cli style invocations, and a regression test per Go client bug (docs/upstream.md#the-go-clients-known-problems).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use metald_devserver::Fault;
use serde_json::Value;
use support::*;

async fn create(url: &str, extra: &[&str]) -> String {
    let mut args = extra.to_vec();
    args.extend(["create", "--json"]);
    let output = cli(url, &args).await;
    json(&output)["vm_id"].as_str().expect("vm_id").to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn create_and_boot_with_disabled_tls_reaches_running() {
    let server = dev_server().await;
    let output = cli(&server.url(), &["create-and-boot"]).await;
    let text = ok(&output);
    assert!(text.starts_with("VM created and booted successfully:\n  VM ID: ud-"), "{text}");
    assert!(
        text.contains(
            "  Create State: VM_STATE_CREATED\n  Boot Success: true\n  Boot State: VM_STATE_RUNNING"
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn json_output_of_every_command_parses() {
    let server = dev_server().await;
    let url = server.url();
    let created = json(&cli(&url, &["create", "--json"]).await);
    assert_eq!(created["state"], "VM_STATE_CREATED");
    let id = created["vm_id"].as_str().unwrap().to_string();
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["boot", &id], vec!["state", "success", "vm_id"]),
        (vec!["info", &id], vec!["Config", "Metrics", "NetworkInfo", "State", "VMID"]),
        (vec!["list"], vec!["NextPageToken", "TotalCount", "VMs"]),
        (vec!["pause", &id], vec!["state", "success", "vm_id"]),
        (vec!["resume", &id], vec!["state", "success", "vm_id"]),
        (vec!["reboot", &id, "force"], vec!["force", "state", "success", "vm_id"]),
        (vec!["shutdown", &id], vec!["force", "state", "success", "vm_id"]),
        (vec!["delete", &id], vec!["force", "success", "vm_id"]),
        (vec!["create-and-boot"], vec!["boot_state", "boot_success", "create_state", "vm_id"]),
        (
            vec!["config-gen"],
            vec![
                "boot",
                "console",
                "cpu",
                "description",
                "memory",
                "metadata",
                "name",
                "network",
                "storage",
                "template",
            ],
        ),
    ];
    for (args, keys) in cases {
        let mut with_json = args.clone();
        with_json.push("--json");
        let value = json(&cli(&url, &with_json).await);
        let mut found: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        found.sort();
        assert_eq!(found, keys, "{args:?}");
    }
    let info = json(&cli(&url, &["info", created["vm_id"].as_str().unwrap(), "--json"]).await);
    assert_eq!(info["error"]["code"], "not_found", "failures are JSON too");
}

#[tokio::test(flavor = "multi_thread")]
async fn human_output_matches_metald_cli() {
    let server = dev_server().await;
    let url = server.url();
    let id = create(&url, &[]).await;
    assert_eq!(
        ok(&cli(&url, &["boot", &id]).await),
        format!("VM boot operation:\n  VM ID: {id}\n  Success: true\n  State: VM_STATE_RUNNING\n")
    );
    assert_eq!(
        ok(&cli(&url, &["shutdown", &id, "force"]).await),
        format!(
            "VM shutdown operation:\n  VM ID: {id}\n  Success: true\n  State: VM_STATE_SHUTDOWN\n  Force: true\n"
        )
    );
    let info = ok(&cli(&url, &["info", &id]).await);
    assert!(info.starts_with(&format!("VM Information:\n  VM ID: {id}\n  State: VM_STATE_SHUTDOWN\n  Configuration:\n    CPUs: 2 (max: 4)\n    Memory: 2048 MB\n    Storage devices: 1\n    Network interfaces: 1\n  Network:\n    IP: 10.100.")), "{info}");
    let list = ok(&cli(&url, &["list"]).await);
    assert_eq!(
        list,
        format!(
            "VMs for tenant acme (total: 1):\n  - {id}:  VM_STATE_SHUTDOWN  (CPUs: 2, Memory: 2048 MB)\n"
        )
    );
    assert_eq!(
        ok(&cli(&url, &["delete", &id]).await),
        format!("VM delete operation:\n  VM ID: {id}\n  Success: true\n  Force: false\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_readme_invocations_work_unchanged() {
    let server = dev_server().await;
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("my-vm.json");
    let go_style = |args: &[&str]| {
        let mut command = metald_host();
        command
            .args([format!("-server={url}").as_str(), "-tls-mode=disabled", "-user=alice", "-tenant=acme"])
            .args(args);
        command
    };
    let high_cpu = json(&run(go_style(&["-template=high-cpu", "-json", "create-and-boot"])).await);
    assert_eq!(high_cpu["boot_state"], "VM_STATE_RUNNING");
    let custom =
        ok(&run(go_style(&["-template=standard", "-cpu=8", "-memory=16384", "create-and-boot"])).await);
    let id = custom.lines().nth(1).unwrap().trim_start_matches("  VM ID: ").to_string();
    let info = json(&cli(&url, &["info", &id, "-json"]).await);
    assert_eq!(info["Config"]["cpu"], serde_json::json!({"vcpu_count": 8, "max_vcpu_count": 16}));
    assert_eq!(info["Config"]["memory"]["size_bytes"], Value::from(16384u64 << 20));
    assert_eq!(info["Config"]["memory"]["max_size_bytes"], Value::from(32768u64 << 20));
    ok(&run(go_style(&["-docker-image=nginx:alpine", "create-and-boot"])).await);

    let generated = run(go_style(&["-template=development", "config-gen"])).await;
    std::fs::write(&file, ok(&generated)).unwrap();
    let from_file =
        json(&run(go_style(&[&format!("-config={}", file.display()), "create-and-boot", "-json"])).await);
    assert_eq!(from_file["boot_state"], "VM_STATE_RUNNING");
    let validated = ok(&run(go_style(&["config-validate", file.to_str().unwrap()])).await);
    assert!(validated.starts_with("Configuration is valid:\n  Name: development\n"), "{validated}");
    let listed = json(&run(go_style(&["list", "-json"])).await);
    assert_eq!(listed["TotalCount"], 4);
    for vm in listed["VMs"].as_array().unwrap() {
        ok(&run(go_style(&["delete", vm["vm_id"].as_str().unwrap()])).await);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn environment_variables_configure_the_connection() {
    let server = dev_server().await;
    let mut command = metald_host();
    command
        .env("UNKEY_METALD_SERVER_ADDRESS", server.url())
        .env("UNKEY_METALD_TLS_MODE", "disabled")
        .env("UNKEY_METALD_USER_ID", "env-user")
        .env("UNKEY_METALD_TENANT_ID", "env-tenant")
        .args(["create-and-boot", "--json"]);
    ok(&run(command).await);
    let mut list = metald_host();
    list.env("UNKEY_METALD_SERVER_ADDRESS", server.url())
        .env("UNKEY_METALD_TLS_MODE", "disabled")
        .env("UNKEY_METALD_USER_ID", "env-user")
        .env("UNKEY_METALD_TENANT_ID", "")
        .args(["--tenant", "flag-tenant", "list"]);
    let text = ok(&run(list).await);
    assert!(text.starts_with("VMs for tenant flag-tenant (total: 1):"), "{text}");
}

/// As metald-cli's `getEnvOrDefault`: a variable that is set but empty means the default.
#[tokio::test(flavor = "multi_thread")]
async fn empty_environment_variables_read_as_unset() {
    let server = dev_server().await;
    let mut list = metald_host();
    list.env("UNKEY_METALD_TENANT_ID", "")
        .env("UNKEY_METALD_USER_ID", "")
        .env("UNKEY_METALD_TLS_MODE", "")
        .args(["--server", &server.url(), "--tls-mode", "disabled", "list"]);
    let text = ok(&run(list).await);
    assert!(text.starts_with("VMs for tenant cli-tenant (total: 0):"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_codes_are_0_1_and_2() {
    let server = dev_server().await;
    let url = server.url();
    assert_eq!(code(&cli(&url, &["list"]).await), 0);
    let missing = cli(&url, &["info", "ud-0000000000000000"]).await;
    assert_eq!(code(&missing), 1);
    assert_eq!(
        stderr(&missing).trim(),
        "Failed to get VM info: not_found: VM not found: ud-0000000000000000"
    );
    assert!(stdout(&missing).is_empty(), "stdout carries results only");
    assert_eq!(code(&cli(&url, &["boot"]).await), 2, "missing vm id");
    assert_eq!(code(&cli(&url, &["explode"]).await), 2, "unknown command");
    assert_eq!(code(&cli(&url, &["--timeout", "soon", "list"]).await), 2, "bad flag value");
    assert_eq!(code(&cli(&url, &["--template", "huge", "create"]).await), 2);
    let mut help = metald_host();
    help.arg("--help");
    let output = run(help).await;
    assert_eq!(code(&output), 0);
    assert!(stdout(&output).contains("create-and-boot"));
}

// ---- Regressions for the Go client's known problems (docs/upstream.md#the-go-clients-known-problems) ----

#[tokio::test(flavor = "multi_thread")]
async fn go_bug_3_no_10s_header_cap_under_the_call_deadline() {
    let server = dev_server().await;
    let id = create(&server.url(), &[]).await;
    server.faults().set("BootVm", Fault::Latency(Duration::from_millis(10_500)));
    let output = cli(&server.url(), &["--timeout", "20s", "boot", &id]).await;
    ok(&output);
}

#[tokio::test(flavor = "multi_thread")]
async fn go_bug_4_stdout_stays_json_and_config_gen_is_loadable() {
    let server = dev_server().await;
    let created = cli(&server.url(), &["-v", "-v", "--template", "minimal", "create", "--json"]).await;
    json(&created);
    // metald-cli's "DEBUG: Final VM config" line, on stderr, shaped as `info -json`'s Config.
    let log = stderr(&created);
    let config = log.split("Final VM config: ").nth(1).and_then(|rest| rest.lines().next());
    let config: Value =
        serde_json::from_str(config.unwrap_or_else(|| panic!("no config on stderr: {log}"))).unwrap();
    assert_eq!(config["metadata"]["created_by"], "metald-host", "{config}");
    assert!(config["cpu"]["vcpu_count"].is_number(), "{config}");
    let generated =
        cli(&server.url(), &["-v", "-v", "--template", "high-memory", "--memory", "65536", "config-gen"])
            .await;
    let file: Value = serde_json::from_str(&ok(&generated)).unwrap();
    assert_eq!(file["memory"]["size_mb"], 65536);
    assert_eq!(file["template"], "high-memory");
}

#[tokio::test(flavor = "multi_thread")]
async fn go_bug_5_flags_after_the_command_are_honoured() {
    let server = dev_server().await;
    let id = create(&server.url(), &[]).await;
    let mut command = metald_host();
    command.args([
        "info",
        &id,
        "--server",
        &server.url(),
        "-json",
        "--tls-mode",
        "disabled",
        "--user",
        "alice",
        "--tenant",
        "acme",
    ]);
    assert_eq!(json(&run(command).await)["VMID"], id.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn go_bug_6_config_validate_reads_its_positional_file_and_reports_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    std::fs::write(&file, r#"{"name": "bad", "cpu": {"vcpu_count": 0, "max_vcpu_count": 2}, "memory": {"size_mb": 0}, "colour": 1}"#).unwrap();
    let output = cli("http://127.0.0.1:9", &["config-validate", file.to_str().unwrap()]).await;
    assert_eq!(code(&output), 1);
    assert!(stdout(&output).contains("colour: unknown key"), "{}", stdout(&output));
    std::fs::write(
        &file,
        r#"{"name": "bad", "cpu": {"vcpu_count": 0, "max_vcpu_count": 2}, "memory": {"size_mb": 0}}"#,
    )
    .unwrap();
    let output = cli("http://127.0.0.1:9", &["config-validate", file.to_str().unwrap(), "--json"]).await;
    let report = json(&output);
    assert_eq!(report["valid"], false);
    let fields: Vec<&str> =
        report["issues"].as_array().unwrap().iter().map(|i| i["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["cpu.vcpu-count", "memory.size-bytes", "boot.kernel-path", "storage"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn go_bug_7_config_file_overrides_apply_and_are_validated() {
    let server = dev_server().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vm.json");
    std::fs::write(&file, ok(&cli(&server.url(), &["--template", "minimal", "config-gen"]).await)).unwrap();
    let path = file.to_str().unwrap();
    let id = create(&server.url(), &["--config", path, "--cpu", "3", "--memory", "3072"]).await;
    let info = json(&cli(&server.url(), &["info", &id, "--json"]).await);
    assert_eq!(info["Config"]["cpu"]["vcpu_count"], 3);
    assert_eq!(info["Config"]["memory"]["size_bytes"], Value::from(3072u64 << 20));
    let refused = cli(&server.url(), &["--config", path, "--template", "standard", "create"]).await;
    assert_eq!(code(&refused), 2);
    assert!(stderr(&refused).contains("--template cannot be combined with --config"));
}

#[tokio::test(flavor = "multi_thread")]
async fn go_bug_8_offline_commands_never_touch_the_network_or_tls() {
    // Settings that fail as soon as TLS is set up: a missing Workload API socket, missing
    // certificate files.
    for tls in [
        ["--tls-mode", "spiffe", "--spiffe-socket", "/nonexistent"],
        ["--tls-mode", "file", "--tls-cert", "/nonexistent/cert.pem"],
    ] {
        let mut command = metald_host();
        command.args(tls).args(["--server", "https://unreachable.invalid:1", "config-gen"]);
        let output = run(command).await;
        let file: Value = serde_json::from_str(&ok(&output)).unwrap();
        assert_eq!(file["template"], "standard");
    }
    // A mode that does not exist is a usage error for every command, as any bad flag value.
    let mut command = metald_host();
    command.args(["--tls-mode", "bogus", "config-gen"]);
    let output = run(command).await;
    assert_eq!(code(&output), 2);
    assert!(stderr(&output).contains("[possible values: spiffe, file, disabled]"), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread")]
async fn go_bug_9_list_follows_every_page_and_filters_by_state() {
    let server = dev_server().await;
    let url = server.url();
    let mut running = Vec::new();
    for i in 0..105 {
        let id = create(&url, &["--template", "minimal"]).await;
        if i % 50 == 0 {
            ok(&cli(&url, &["boot", &id]).await);
            running.push(id);
        }
    }
    let all = json(&cli(&url, &["list", "--json"]).await);
    assert_eq!(all["TotalCount"], 105);
    assert_eq!(all["VMs"].as_array().unwrap().len(), 105);
    let filtered = json(&cli(&url, &["list", "--state", "running", "--json"]).await);
    let mut ids: Vec<&str> =
        filtered["VMs"].as_array().unwrap().iter().map(|v| v["vm_id"].as_str().unwrap()).collect();
    ids.sort();
    running.sort();
    assert_eq!(ids, running);
}

#[tokio::test(flavor = "multi_thread")]
async fn go_bug_10_bad_identities_fail_before_any_request() {
    let server = dev_server().await;
    let mut command = metald_host();
    command.args([
        "--server",
        &server.url(),
        "--tls-mode",
        "disabled",
        "--user",
        "a b",
        "--tenant",
        "",
        "list",
    ]);
    let output = run(command).await;
    assert_eq!(code(&output), 1);
    let message = stderr(&output);
    assert!(message.contains("user-id") && message.contains("tenant-id"), "{message}");
    assert_eq!(server.stats().requests, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn go_bug_15_requested_ids_are_reported_as_ignored() {
    let server = dev_server().await;
    let output = cli(&server.url(), &["create", "my-own-id", "--json"]).await;
    let created = json(&output);
    assert!(created["vm_id"].as_str().unwrap().starts_with("ud-"));
    assert!(stderr(&output).contains("ignores requested ones"), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_server_command_prints_its_url_and_serves() {
    let mut command = metald_host();
    command.args(["dev-server", "--listen", "127.0.0.1:0"]).stdout(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let url =
        tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap().unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    ok(&cli(&url, &["create-and-boot"]).await);
    child.kill().await.unwrap();
}

/// `dev-server` resolves its TLS mode as every command does: flag, then
/// `UNKEY_METALD_TLS_MODE`, then its default (disabled). It used to ignore the variable and
/// serve plain HTTP; `file` without certificates is now the usage error the flag gives.
#[tokio::test(flavor = "multi_thread")]
async fn dev_server_takes_its_tls_mode_from_the_environment() {
    let mut command = metald_host();
    command.env("UNKEY_METALD_TLS_MODE", "file").args(["dev-server", "--listen", "127.0.0.1:0"]);
    let output = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("stops at once instead of serving plain HTTP")
        .unwrap();
    assert_eq!(code(&output), 2, "stdout: {}\nstderr: {}", stdout(&output), stderr(&output));
    assert!(stderr(&output).contains("--tls-cert, --tls-key and --tls-client-ca"), "{}", stderr(&output));
    assert!(stdout(&output).is_empty(), "no URL: nothing served");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_dev_server_with_a_state_file_loses_no_vm() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.db");
    let start = || {
        let mut command = metald_host();
        command
            .args(["dev-server", "--listen", "127.0.0.1:0", "--state-file", state.to_str().unwrap()])
            .stdout(std::process::Stdio::piped());
        command.spawn().unwrap()
    };
    let url_of = |child: &mut tokio::process::Child| {
        let stdout = child.stdout.take().unwrap();
        async move {
            let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
            tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap().unwrap()
        }
    };
    let mut first = start();
    let url = url_of(&mut first).await;
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(create(&url, &["--template", "minimal"]).await);
    }
    let booted = ids[3].clone();
    ok(&cli(&url, &["boot", &booted]).await);
    first.start_kill().unwrap();
    first.wait().await.unwrap();

    let mut second = start();
    let url = url_of(&mut second).await;
    let listed = json(&cli(&url, &["list", "--json"]).await);
    let mut seen: Vec<String> =
        listed["VMs"].as_array().unwrap().iter().map(|v| v["vm_id"].as_str().unwrap().to_string()).collect();
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids);
    assert_eq!(json(&cli(&url, &["info", &booted, "--json"]).await)["State"], 2, "its last state too");
    second.kill().await.unwrap();
}

// ---- Issue 13: field faults ----

/// §1: every `strconv.ParseBool` spelling, in `-flag=value` form, as metald-cli reads it.
#[tokio::test(flavor = "multi_thread")]
async fn go_flag_bools_accept_every_parse_bool_spelling() {
    let server = dev_server().await;
    let url = server.url();
    for spelling in ["1", "t", "T", "TRUE", "true", "True"] {
        let output = cli(&url, &[&format!("-json={spelling}"), "list"]).await;
        assert_eq!(json(&output)["TotalCount"], 0, "-json={spelling}");
    }
    for spelling in ["0", "f", "F", "FALSE", "false", "False"] {
        let text = ok(&cli(&url, &[&format!("-json={spelling}"), "list"]).await);
        assert!(text.starts_with("VMs for tenant acme"), "-json={spelling}: {text}");
    }
    let force = |value: &str| {
        let flag = format!("-force-build={value}");
        async move {
            let output =
                cli("http://127.0.0.1:1", &["-docker-image=nginx:alpine", &flag, "config-gen"]).await;
            let file: Value = serde_json::from_str(&ok(&output)).unwrap();
            file["metadata"]["force_rebuild"].clone()
        }
    };
    assert_eq!(force("1").await, "true");
    assert_eq!(force("T").await, "true");
    assert_eq!(force("0").await, Value::Null);
    let created = cli(&url, &["-force-build=1", "-docker-image=nginx:alpine", "-json=t", "create"]).await;
    assert_eq!(json(&created)["state"], "VM_STATE_CREATED");
}

/// §1: Go durations; `-timeout=0` is metald-cli's default (30 s), not a 1 ms deadline.
#[tokio::test(flavor = "multi_thread")]
async fn go_flag_timeouts_read_as_go_durations_and_zero_is_the_default() {
    let server = dev_server().await;
    let url = server.url();
    let id = create(&url, &[]).await;
    server.faults().set("GetVmInfo", Fault::Latency(Duration::from_secs(1)));
    for timeout in ["-timeout=0", "-timeout=0s", "-timeout=1m30s", "-timeout=1.5h", "--timeout=2s"] {
        let output = cli(&url, &[timeout, "info", &id, "-json"]).await;
        assert_eq!(json(&output)["VMID"], id.as_str(), "{timeout}: {}", stderr(&output));
    }
    let short = cli(&url, &["-timeout=250ms", "info", &id]).await;
    assert_eq!(code(&short), 1);
    assert!(
        stderr(&short).contains("deadline_exceeded") && stderr(&short).contains("250 ms"),
        "{}",
        stderr(&short)
    );
}

/// §1: a value metald-cli refuses, or reads in a way we cannot match, is a usage error that
/// names the flag and says what metald-cli makes of it.
#[tokio::test(flavor = "multi_thread")]
async fn go_flag_bad_values_are_usage_errors_naming_the_flag() {
    let cases = [
        ("-json=yes", "--json", "strconv.ParseBool"),
        ("-force-build=on", "--force-build", "strconv.ParseBool"),
        ("-timeout=5", "--timeout", "missing unit"),
        ("-timeout=-1s", "--timeout", "no timeout at all"),
        ("-timeout=10us", "--timeout", "exactly 10µs"),
        ("-cpu=08", "--cpu", "strconv.ParseUint"),
        ("-cpu=4294967297", "--cpu", "uint32(4294967297) = 1"),
        ("-memory=1.5", "--memory", "strconv.ParseUint"),
        ("-json=", "--json", "strconv.ParseBool"),
    ];
    for (flag, name, how) in cases {
        let output = cli("http://127.0.0.1:1", &[flag, "config-gen"]).await;
        assert_eq!(code(&output), 2, "{flag}");
        let message = stderr(&output);
        assert!(
            message.contains(name) && message.contains("metald-cli") && message.contains(how),
            "{flag}: {message}"
        );
    }
    // Go reads base-0 integers: 0x10 is 16, 010 is 8 (octal), 1_024 is 1024.
    let file: Value =
        serde_json::from_str(&ok(
            &cli("http://127.0.0.1:1", &["-cpu=0x10", "-memory=1_024", "config-gen"]).await
        ))
        .unwrap();
    assert_eq!(
        (file["cpu"]["vcpu_count"].clone(), file["memory"]["size_mb"].clone()),
        (16.into(), 1024.into())
    );
    let octal: Value =
        serde_json::from_str(&ok(&cli("http://127.0.0.1:1", &["-cpu", "010", "config-gen"]).await)).unwrap();
    assert_eq!(octal["cpu"]["vcpu_count"], 8);
}

/// A plain HTTP/1.1 server that answers every request with an empty proto message (an empty
/// ListVms page) and records the request paths.
async fn path_recorder() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let paths = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = paths.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                loop {
                    let head_end = loop {
                        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
                    let path = head.split_whitespace().nth(1).unwrap_or_default().to_string();
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    while buffer.len() < head_end + length {
                        let mut chunk = [0u8; 4096];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buffer.drain(..head_end + length);
                    seen.lock().unwrap().push(path);
                    let response =
                        "HTTP/1.1 200 OK\r\ncontent-type: application/proto\r\ncontent-length: 0\r\n\r\n";
                    if socket.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, paths)
}

/// §8: a server URL with a path prefix (with or without a trailing slash) is allowed by its
/// scheme, host and port, and the prefix reaches the server, in the CLI and the library.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_url_with_a_path_prefix_is_allowed_and_kept() {
    let (url, paths) = path_recorder().await;
    for server in [format!("{url}/metald"), format!("{url}/metald/")] {
        let mut command = metald_host();
        command.args(["-tls-mode=disabled", &format!("-server={server}"), "list"]);
        let text = ok(&run(command).await);
        assert!(text.starts_with("VMs for tenant cli-tenant (total: 0):"), "{server}: {text}");
    }
    let (_runtime, mut client) = support::client(&format!("{url}/metald")).await;
    assert!(client.list_all_vms(&[]).await.unwrap().is_empty());
    let route = "/metald/metal.vmprovisioner.v1.VmService/ListVms";
    assert_eq!(*paths.lock().unwrap(), vec![route; 3]);
}

/// §9: the pooling allocator's reservation does not fit under an address-space limit; the
/// host falls back to on-demand allocation (a debug log) instead of failing.
#[tokio::test(flavor = "multi_thread")]
async fn the_host_starts_under_an_address_space_limit() {
    let binary = METALD_HOST;
    let limited = |args: &str| {
        let mut command = tokio::process::Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -v 8000000; exec '{binary}' {args}"))
            .env("METALD_CACHE_DIR", cache_dir())
            .env_remove("RUST_LOG")
            .kill_on_drop(true);
        command
    };
    let output = run(limited("-vv -template=minimal config-gen")).await;
    let file: Value = serde_json::from_str(&ok(&output)).unwrap();
    assert_eq!(file["template"], "minimal");
    assert!(stderr(&output).contains("allocating instances on demand"), "{}", stderr(&output));
    // A command with two instances at once (a builder and a client) fits too.
    let server = dev_server().await;
    let created = run(limited(&format!(
        "-tls-mode=disabled -server={} -user=alice -tenant=acme -template=minimal create -json",
        server.url()
    )))
    .await;
    assert_eq!(json(&created)["state"], "VM_STATE_CREATED", "{}", stderr(&created));
}

/// The compiled-component entries the CLI uses, in the shared test cache (made if missing).
async fn cached_entries() -> Vec<std::path::PathBuf> {
    let mut command = metald_host();
    command.args(["-template=minimal", "config-gen"]);
    ok(&run(command).await);
    let entries: Vec<_> = std::fs::read_dir(cache_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert!(!entries.is_empty());
    entries
}

/// Runs `config-gen` with `METALD_CACHE_DIR=dir`; it must work and warn about the cache.
async fn config_gen_with_unsafe_cache(dir: &std::path::Path, problem: &str) {
    let mut command = metald_host();
    command.env("METALD_CACHE_DIR", dir).args(["-template=minimal", "config-gen"]);
    let output = run(command).await;
    let file: Value = serde_json::from_str(&ok(&output)).unwrap();
    assert_eq!(file["template"], "minimal");
    let message = stderr(&output);
    assert!(
        message.contains("not using the compiled-component cache") && message.contains(problem),
        "{message}"
    );
    assert_eq!(
        message.matches("not using the compiled-component cache").count(),
        1,
        "warned once: {message}"
    );
    assert!(!message.contains("ignoring unusable cache entry"), "the entry was not read: {message}");
}

/// §7: a cache directory others can write is neither read nor written.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_world_writable_cache_directory_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    config_gen_with_unsafe_cache(&cache, "writable by group or others").await;
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0, "nothing was written");
}

/// §7: a cache entry others can write is not run (nor replaced).
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_world_writable_cache_file_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    for entry in cached_entries().await {
        let planted = dir.path().join(entry.file_name().unwrap());
        std::fs::write(&planted, b"planted native code").unwrap();
        std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o666)).unwrap();
    }
    config_gen_with_unsafe_cache(dir.path(), "writable by group or others").await;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        assert_eq!(std::fs::read(entry.unwrap().path()).unwrap(), b"planted native code", "left alone");
    }
}

/// §7: a cache entry that is a symlink is not followed (nor replaced).
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_symlinked_cache_file_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    for entry in cached_entries().await {
        std::os::unix::fs::symlink(&entry, dir.path().join(entry.file_name().unwrap())).unwrap();
    }
    config_gen_with_unsafe_cache(dir.path(), "is a symlink").await;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        assert!(entry.unwrap().file_type().unwrap().is_symlink(), "left alone");
    }
}

/// The SPIFFE socket is the flag, else `UNKEY_METALD_SPIFFE_SOCKET`, else
/// `SPIFFE_ENDPOINT_SOCKET`, else SPIRE's default path; an empty variable counts as unset
/// (`testdata/spiffe-workload-api.json`, which the JS, Python and Go tests read too). The error
/// for a missing socket names the one resolved.
#[tokio::test(flavor = "multi_thread")]
async fn spiffe_socket_is_resolved_as_the_shared_vectors_say() {
    #[derive(serde::Deserialize)]
    struct Case {
        setting: Option<String>,
        env: std::collections::BTreeMap<String, String>,
        endpoint: String,
        path: Option<String>,
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/spiffe-workload-api.json");
    let vectors: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases: Vec<Case> = serde_json::from_value(vectors["sockets"].clone()).unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let mut command = metald_host();
        command.envs(&case.env).args(["--server", "https://127.0.0.1:1", "--spiffe-timeout", "2s"]);
        if let Some(setting) = &case.setting {
            command.args(["--spiffe-socket", setting]);
        }
        let output = run({
            command.arg("list");
            command
        })
        .await;
        assert_ne!(code(&output), 0, "no Workload API here");
        let named = case.path.as_deref().unwrap_or(&case.endpoint);
        assert!(stderr(&output).contains(named), "{:?} {:?}: {}", case.setting, case.env, stderr(&output));
    }
}

/// `--compression` reaches the wire: `dev-server --request-log` shows `Accept-Encoding: gzip`
/// and gzip answers by default, `identity` and uncompressed answers with `--compression
/// identity`; a bad value is a usage error (exit 2) naming the flag.
#[tokio::test(flavor = "multi_thread")]
async fn compression_flag_is_what_the_server_sees_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let (mut child, url) =
        spawn_dev_server(&["--tls-mode", "disabled", "--request-log", log.to_str().unwrap()]).await;
    ok(&cli(&url, &["list"]).await);
    ok(&cli(&url, &["--compression", "identity", "list"]).await);
    ok(&cli(&url, &["-compression=gzip", "list"]).await);
    let bad = cli(&url, &["--compression", "br", "list"]).await;
    child.kill().await.unwrap();
    assert_eq!(code(&bad), 2, "{}", stderr(&bad));
    assert!(stderr(&bad).contains("--compression"), "{}", stderr(&bad));
    let records: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let seen: Vec<(&str, &str, Option<&str>)> = records
        .iter()
        .map(|r| {
            (
                r["rpc"].as_str().unwrap(),
                r["accept_encoding"].as_str().unwrap(),
                r["content_encoding"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [("ListVms", "gzip", Some("gzip")), ("ListVms", "identity", None), ("ListVms", "gzip", Some("gzip"))]
    );
}
