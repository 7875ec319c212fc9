//! Answers and files whose content used to be dropped without a word (issue 13, §2 and §6):
//! gzip bodies of several members, and config files that give a key twice. Through the
//! `metald-host` binary, against the dev server's `gzip-members` fault.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use metald_devserver::Fault;
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
