//! `metald-host run`: the script language, its errors, and the example script.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Output;

use serde_json::Value;
use support::*;

/// Runs `script` with `--dev` (plus `extra` flags).
async fn script(text: &str, extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.wave");
    std::fs::write(&path, text).unwrap();
    let mut command = metald_host();
    command.args(["run", "--dev"]).args(extra).arg(&path);
    run(command).await
}

fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_example_script_runs_every_rpc_end_to_end() {
    let mut command = metald_host();
    command.args(["run", "--dev", concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/lifecycle.wave")]);
    let output = run(command).await;
    let text = ok(&output);
    for rpc in [
        "create-vm",
        "boot-vm",
        "get-vm-info",
        "list-vms",
        "pause-vm",
        "resume-vm",
        "reboot-vm",
        "shutdown-vm",
        "delete-vm",
    ] {
        assert!(
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/lifecycle.wave"))
                .unwrap()
                .contains(rpc),
            "{rpc}"
        );
    }
    assert!(text.contains("(expected not_found)"), "{text}");
    assert!(!text.contains("FAILED"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_lines_parse_and_carry_line_call_and_result() {
    let mut command = metald_host();
    command.args([
        "run",
        "--dev",
        "--json",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/lifecycle.wave"),
    ]);
    let output = run(command).await;
    ok(&output);
    let lines = json_lines(&output);
    assert!(lines.len() > 20);
    let created = lines.iter().find(|l| l["let"] == "vm").unwrap();
    assert_eq!(created["call"], "client.create-vm(config)");
    assert_eq!(created["result"]["ok"]["state"], "created");
    assert!(created["result"]["ok"]["vm-id"].as_str().unwrap().starts_with("ud-"));
    let last = lines.last().unwrap();
    assert_eq!((last["expect"].as_str(), last["passed"].as_bool()), (Some("not_found"), Some(true)));
    assert_eq!(last["result"]["err"]["connect"]["code"], "not-found");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_way_of_naming_a_function_works() {
    let output = script(
        "# bare, interface-qualified, fully qualified, with version\n\
         let a = template-config(minimal)\n\
         let b = templates.template-config(minimal)\n\
         let c = metald:client/templates.template-config(minimal)\n\
         let d = metald:client/templates@0.1.0.template-config(minimal)\n\
         assert a == b\nassert c == d\nassert a == c\n\
         # constructor, static with and without the resource name, method\n\
         let fresh = vm-config-builder()\n\
         let e = vm-config-builder.from-template(minimal)\n\
         let f = builder.vm-config-builder.from-config(a)\n\
         let g = from-template(minimal)\n\
         let built = f.build()\n\
         assert built == a\n\
         fresh.with-default-boot(\"quiet\")\n\
         assert fresh.build().boot.kernel-args == \"quiet\"\n",
        &[],
    )
    .await;
    // `fresh.build()` inside assert is not a variable path: the script is refused up front.
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    let output = script(
        "let a = template-config(minimal)\nlet b = templates.template-config(minimal)\n\
         let c = metald:client/templates.template-config(minimal)\nlet d = metald:client/templates@0.1.0.template-config(minimal)\n\
         assert a == b\nassert c == d\nassert a == c\n\
         let fresh = vm-config-builder()\nlet e = vm-config-builder.from-template(minimal)\n\
         let f = builder.vm-config-builder.from-config(a)\nlet g = from-template(minimal)\nlet built = f.build()\n\
         assert built == a\nfresh.with-default-boot(\"quiet\")\nlet booted = fresh.build()\n\
         assert booted.boot.kernel-args == \"quiet\"\n",
        &[],
    )
    .await;
    let text = ok(&output);
    assert_eq!(text.matches("passed").count(), 5, "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn variables_paths_indexes_and_ok_unwrapping() {
    let output = script("let vm = client.create-vm(template-config-placeholder)\n", &[]).await;
    assert_eq!(code(&output), 2, "an unknown name where a value belongs is a type error with its position");
    assert!(stderr(&output).contains(":1:27: argument 1 (`config`) expects record"), "{}", stderr(&output));
    let output = script("let vm = client.create-vm(template-config(minimal))\n", &[]).await;
    assert!(stderr(&output).contains("calls do not nest"), "{}", stderr(&output));
    let output = script(
        "let config = template-config(development)\n\
         assert config.storage[1].id == \"workspace\"\n\
         assert config.cpu.vcpu-count == 4\n\
         assert config.cpu.some.max-vcpu-count == 8\n\
         let vm = client.create-vm(config)\n\
         let page = client.list-vms({state-filter: [], page-size: 5, page-token: \"\"})\n\
         assert page.vms[0].vm-id == vm.vm-id\n\
         assert page.total-count == 1\n\
         client.boot-vm(page.vms[0].vm-id)\n\
         let info = client.get-vm-info(vm.vm-id)\n\
         assert info.network-info.ip-address == info.network-info.some.ip-address\n",
        &[],
    )
    .await;
    ok(&output);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_run_stops_at_the_first_error_with_its_line() {
    let output = script("client.boot-vm(\"ud-0000000000000000\")\nclient.list-vms({state-filter: [], page-size: 1, page-token: \"\"})\n", &[]).await;
    assert_eq!(code(&output), 1);
    assert!(
        stderr(&output).contains(":1: client.boot-vm(\"ud-0000000000000000\") returned an error"),
        "{}",
        stderr(&output)
    );
    assert_eq!(stdout(&output).lines().count(), 1, "line 2 never ran");
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_going_runs_everything_and_still_fails() {
    let output = script(
        "let lost = client.get-vm-info(\"ud-0000000000000000\")\nclient.list-vms({state-filter: [], page-size: 1, page-token: \"\"})\nassert lost.state == running\n",
        &["--keep-going", "--json"],
    )
    .await;
    assert_eq!(code(&output), 1);
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 2, "the assert on a failed variable stops with a script error");
    assert!(stderr(&output).contains("holds the error of line 1"), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread")]
async fn syntax_errors_name_line_and_column_and_nothing_runs() {
    let output =
        script("let vm = client.create-vm(template-config(minimal)\nlet = 3\nfoo(1,,2)\n", &[]).await;
    assert_eq!(code(&output), 2);
    let message = stderr(&output);
    for position in [":1:", ":2:5:", ":3:7:"] {
        assert!(message.contains(position), "{position} in {message}");
    }
    assert!(stdout(&output).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_functions_suggest_near_names() {
    let output = script("templat-config(minimal)\nclient.get-vm-infos(\"x\")\n", &[]).await;
    assert_eq!(code(&output), 2);
    let message = stderr(&output);
    assert!(
        message.contains(
            ":1:1: no exported function \"templat-config\"; did you mean templates.template-config"
        ),
        "{message}"
    );
    assert!(
        message.contains(":2:1: client has no method \"get-vm-infos\"; did you mean get-vm-info"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_argument_types_and_counts_say_what_was_expected() {
    let output = script("let b = vm-config-builder()\nb.with-cpu(4)\n", &[]).await;
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains(
            ":2:1: builder.vm-config-builder.with-cpu takes 2 argument(s) (vcpu-count, max-vcpu-count), got 1"
        ),
        "{}",
        stderr(&output)
    );
    let output = script("let b = vm-config-builder()\nb.with-cpu(\"four\", 8)\n", &[]).await;
    assert_eq!(code(&output), 2);
    assert!(stderr(&output).contains(":2:12: argument 1 (`vcpu-count`) expects u32"), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_variables_are_named() {
    let output = script("client.boot-vm(nope.vm-id)\n", &[]).await;
    assert_eq!(code(&output), 2);
    assert!(stderr(&output).contains(":1:16: unknown variable `nope`"), "{}", stderr(&output));
    let output = script("ghost.build()\n", &[]).await;
    assert_eq!(code(&output), 2);
    assert!(stderr(&output).contains("no exported function \"ghost.build\""), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread")]
async fn invoke_runs_one_call_and_stdin_scripts_work() {
    let mut command = metald_host();
    command.args(["run", "--invoke", "parse-template(\"high-cpu\")"]);
    assert_eq!(ok(&run(command).await).trim(), "[1] ok(high-cpu)");
    let mut command = metald_host();
    command
        .args(["run", "--json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, b"all-templates()\n").await.unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    let line: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(
        line["result"],
        serde_json::json!(["minimal", "standard", "high-cpu", "high-memory", "development"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_client_follows_the_connection_flags_and_the_allow_list() {
    let server = dev_server().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.wave");
    std::fs::write(
        &path,
        "let config = template-config(minimal)\n\
         let vm = client.create-vm(config)\n\
         let other = open({server: \"http://127.0.0.1:9\", user-id: \"alice\", tenant-id: \"acme\"})\n\
         expect permission-denied: other.list-all-vms([])\n",
    )
    .unwrap();
    let output = cli(&server.url(), &["run", path.to_str().unwrap()]).await;
    ok(&output);
    assert_eq!(server.stats().requests, 1, "the script's client used --server");
    let allowed = cli(&server.url(), &["--allow-host", "127.0.0.1:9", "run", path.to_str().unwrap()]).await;
    assert_eq!(code(&allowed), 1, "now allowed, port 9 refuses instead");
    assert!(stdout(&allowed).contains("unavailable"), "{}", stdout(&allowed));
}

#[tokio::test(flavor = "multi_thread")]
async fn expected_error_codes_take_and_print_the_connect_spelling() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.wave");
    std::fs::write(
        &path,
        "expect not_found: client.get-vm-info(\"ud-0000000000000000\")\n\
         expect not-found: client.get-vm-info(\"ud-0000000000000000\")\n\
         expect unavailable: client.get-vm-info(\"ud-0000000000000000\")\n",
    )
    .unwrap();
    let mut command = metald_host();
    command.args(["run", "--dev", "--keep-going", path.to_str().unwrap()]);
    let output = run(command).await;
    assert_eq!(code(&output), 1, "the third expectation fails");
    let text = stdout(&output);
    assert_eq!(text.matches("  (expected not_found)").count(), 2, "{text}");
    assert!(text.contains("(FAILED: expected unavailable)"), "{text}");
    assert!(
        stderr(&output).contains("to fail with unavailable, got err with code not_found"),
        "{}",
        stderr(&output)
    );
}
