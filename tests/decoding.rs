//! Answers and files whose content used to be dropped without a word (issue 13, §2 and §6):
//! gzip bodies of several members, VM states and network modes newer than the schema, and
//! config files that give a key twice. Through the `metald-host` binary and the library,
//! against the dev server's `gzip-members` and `state:N` faults.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use metald_devserver::Fault;
use metald_host::bindings::types::VmState;
use support::*;

async fn create(url: &str, codec: &str) -> String {
    let output = cli(url, &["--codec", codec, "--template", "minimal", "create", "--json"]).await;
    json(&output)["vm_id"].as_str().expect("vm_id").to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_in_two_gzip_members_is_read_whole_in_both_codecs() {
    let server = dev_server().await;
    let url = server.url();
    for codec in ["proto", "json"] {
        let first = create(&url, codec).await;
        let second = create(&url, codec).await;
        ok(&cli(&url, &["boot", &first]).await);
        server.faults().set("GetVmInfo", Fault::GzipMembers);
        server.faults().set("ListVms", Fault::GzipMembers);

        let info = json(&cli(&url, &["--codec", codec, "info", &first, "--json"]).await);
        assert_eq!(
            (info["VMID"].as_str(), info["State"].as_i64()),
            (Some(first.as_str()), Some(2)),
            "{codec}"
        );
        assert_eq!(info["Config"]["cpu"]["vcpu_count"], 1, "{codec}: {info}");

        let listed = json(&cli(&url, &["--codec", codec, "list", "--json"]).await);
        let ids: Vec<&str> =
            listed["VMs"].as_array().unwrap().iter().map(|v| v["vm_id"].as_str().unwrap()).collect();
        assert!(ids.contains(&first.as_str()) && ids.contains(&second.as_str()), "{codec}: {listed}");
        assert_eq!(listed["TotalCount"].as_u64(), Some(ids.len() as u64), "{codec}");
        server.faults().clear();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_state_newer_than_the_schema_is_shown_as_its_number() {
    let server = dev_server().await;
    let url = server.url();
    for codec in ["proto", "json"] {
        let id = create(&url, codec).await;
        ok(&cli(&url, &["boot", &id]).await);
        server.faults().set("GetVmInfo", Fault::State(5));
        server.faults().set("ListVms", Fault::State(5));

        let info = json(&cli(&url, &["--codec", codec, "info", &id, "--json"]).await);
        assert_eq!(info["State"], 5, "{codec}: {info}");
        let human = ok(&cli(&url, &["--codec", codec, "info", &id]).await);
        assert!(human.contains("\n  State: 5\n"), "{codec}: {human}");

        let listed = json(&cli(&url, &["--codec", codec, "list", "--json"]).await);
        let vm = listed["VMs"].as_array().unwrap().iter().find(|v| v["vm_id"] == id.as_str()).unwrap();
        assert_eq!(vm["state"], 5, "{codec}: {listed}");
        let human = ok(&cli(&url, &["--codec", codec, "list"]).await);
        assert!(human.contains(&format!("{id}:  5")), "{codec}: {human}");

        // The server filters by the real state (running) and then says 5: not running.
        let running = json(&cli(&url, &["--codec", codec, "list", "--state", "running", "--json"]).await);
        assert_eq!(running["VMs"], serde_json::json!([]), "{codec}: {running}");
        assert_eq!(running["TotalCount"], 0, "{codec}");
        server.faults().clear();
    }

    // The library keeps the number too.
    let (_runtime, mut client) = client(&url).await;
    server.faults().set("ListVms", Fault::State(5));
    let vms = client.list_all_vms(&[]).await.unwrap();
    assert!(vms.len() == 2 && vms.iter().all(|vm| vm.state == VmState::Unknown(5)), "{vms:?}");
    assert_eq!(client.list_all_vms(&[VmState::Running]).await.unwrap(), []);
}

#[tokio::test(flavor = "multi_thread")]
async fn create_and_boot_keeps_polling_through_a_state_it_does_not_know() {
    let server = dev_server().await;
    server.faults().set("GetVmInfo", Fault::State(5));
    let started = std::time::Instant::now();
    let output = cli(&server.url(), &["--template", "minimal", "create-and-boot", "--wait", "1s"]).await;
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    assert!(
        stderr(&output).contains("did not report VM_STATE_RUNNING within 1s (last state 5)"),
        "{}",
        stderr(&output)
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread")]
async fn config_validate_refuses_a_key_given_twice_naming_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vm.json");
    let generated = ok(&cli("http://127.0.0.1:9", &["--template", "standard", "config-gen"]).await);
    assert!(generated.contains("\"metadata\": {"), "{generated}");
    let twice =
        generated.replacen("\"metadata\": {", "\"metadata\": {\"owner\": \"ops\"},\n  \"metadata\": {", 1);
    std::fs::write(&file, &twice).unwrap();
    let path = file.to_str().unwrap();

    let output = cli("http://127.0.0.1:9", &["config-validate", path]).await;
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    assert!(stdout(&output).contains("metadata: key given 2 times; give it once"), "{}", stdout(&output));
    let report = json(&cli("http://127.0.0.1:9", &["config-validate", path, "--json"]).await);
    assert_eq!(report["valid"], false);
    assert_eq!(report["issues"][0]["field"], "metadata", "{report}");

    std::fs::write(&file, generated.replacen("\"cpu\": {", "\"CPU\": {}, \"cpu\": {", 1)).unwrap();
    let report = json(&cli("http://127.0.0.1:9", &["config-validate", path, "--json"]).await);
    assert_eq!(report["issues"][0]["field"], "cpu", "{report}");
    // The same file through create is refused before anything is sent.
    let output = cli("http://127.0.0.1:9", &["--config", path, "create"]).await;
    assert_eq!(code(&output), 1, "{}", stderr(&output));
}
