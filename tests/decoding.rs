//! Answers whose content used to be dropped without a word (issue 13, §2): gzip bodies of
//! several members. Through the `metald-host` binary against the dev server's `gzip-members`
//! fault.
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
