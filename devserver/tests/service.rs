//! The dev server as a Connect client sees it: auth, state machine, pagination, isolation,
//! persistence and concurrency, over real HTTP on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;

use buffa::MessageField;
use connectrpc::client::{CallOptions, ClientConfig, HttpClient};
use connectrpc::{ConnectError, ErrorCode};
use metald_devserver::pb::*;
use metald_devserver::{DevServer, DevServerConfig};

type Client = VmServiceClient<HttpClient>;

async fn start(config: DevServerConfig) -> (DevServer, Client) {
    let server = DevServer::start(config).await.unwrap();
    let client =
        VmServiceClient::new(HttpClient::plaintext(), ClientConfig::new(server.url().parse().unwrap()));
    (server, client)
}

fn as_user(user: &str) -> CallOptions {
    CallOptions::default()
        .with_header("authorization", format!("Bearer dev_user_{user}"))
        .with_header("x-tenant-id", "acme")
}

fn config() -> VmConfig {
    VmConfig {
        cpu: MessageField::some(CpuConfig { vcpu_count: 2, max_vcpu_count: 4, ..Default::default() }),
        memory: MessageField::some(MemoryConfig { size_bytes: 1 << 30, ..Default::default() }),
        boot: MessageField::some(BootConfig {
            kernel_path: "/opt/vm-assets/vmlinux".into(),
            ..Default::default()
        }),
        storage: vec![StorageDevice {
            id: "rootfs".into(),
            path: "/r.ext4".into(),
            is_root_device: true,
            ..Default::default()
        }],
        metadata: [("purpose".to_string(), "test".to_string())].into_iter().collect(),
        ..Default::default()
    }
}

async fn create(client: &Client, user: &str) -> String {
    let request = CreateVmRequest {
        config: MessageField::some(config()),
        customer_id: user.into(),
        ..Default::default()
    };
    client.create_vm_with_options(request, as_user(user)).await.unwrap().into_owned().vm_id
}

fn code_and_message(error: ConnectError) -> (ErrorCode, String) {
    (error.code, error.message.unwrap_or_default())
}

async fn state(client: &Client, user: &str, vm_id: &str) -> Result<i32, (ErrorCode, String)> {
    let request = GetVmInfoRequest { vm_id: vm_id.into(), ..Default::default() };
    client
        .get_vm_info_with_options(request, as_user(user))
        .await
        .map(|r| r.into_owned().state.to_i32())
        .map_err(code_and_message)
}

/// Calls one of the state-changing RPCs and returns the new state (0 for delete) or the error.
async fn act(client: &Client, user: &str, action: &str, vm_id: &str) -> Result<i32, (ErrorCode, String)> {
    let id = vm_id.to_string();
    let options = as_user(user);
    let result = match action {
        "boot" => client
            .boot_vm_with_options(BootVmRequest { vm_id: id, ..Default::default() }, options)
            .await
            .map(|r| r.into_owned().state.to_i32()),
        "pause" => client
            .pause_vm_with_options(PauseVmRequest { vm_id: id, ..Default::default() }, options)
            .await
            .map(|r| r.into_owned().state.to_i32()),
        "resume" => client
            .resume_vm_with_options(ResumeVmRequest { vm_id: id, ..Default::default() }, options)
            .await
            .map(|r| r.into_owned().state.to_i32()),
        "reboot" => client
            .reboot_vm_with_options(RebootVmRequest { vm_id: id, ..Default::default() }, options)
            .await
            .map(|r| r.into_owned().state.to_i32()),
        "shutdown" => client
            .shutdown_vm_with_options(ShutdownVmRequest { vm_id: id, ..Default::default() }, options)
            .await
            .map(|r| r.into_owned().state.to_i32()),
        "delete" => client
            .delete_vm_with_options(DeleteVmRequest { vm_id: id, ..Default::default() }, options)
            .await
            .map(|_| 0),
        other => panic!("no action {other}"),
    };
    result.map_err(code_and_message)
}

const CREATED: i32 = 1;
const RUNNING: i32 = 2;
const PAUSED: i32 = 3;
const SHUTDOWN: i32 = 4;

#[tokio::test]
async fn every_auth_rule_answers_like_metald() {
    let (_server, client) = start(DevServerConfig::default()).await;
    let call = |options: CallOptions| {
        let client = &client;
        async move {
            client.list_vms_with_options(ListVmsRequest::default(), options).await.map_err(code_and_message)
        }
    };
    let cases = [
        (
            CallOptions::default().with_header("x-tenant-id", "t"),
            ErrorCode::Unauthenticated,
            "authorization header required",
        ),
        (
            CallOptions::default().with_header("authorization", "Basic x").with_header("x-tenant-id", "t"),
            ErrorCode::Unauthenticated,
            "authorization must be 'Bearer <token>'",
        ),
        (
            CallOptions::default()
                .with_header("authorization", "Bearer dev_user_")
                .with_header("x-tenant-id", "t"),
            ErrorCode::Unauthenticated,
            "invalid development token format",
        ),
        (
            CallOptions::default().with_header("authorization", "Bearer jwt").with_header("x-tenant-id", "t"),
            ErrorCode::Unauthenticated,
            "invalid token format - use 'dev_user_<user_id>' for development",
        ),
        (
            CallOptions::default()
                .with_header("authorization", "Bearer dev_user_alice")
                .with_header("x-tenant-id", "restricted-tenant"),
            ErrorCode::PermissionDenied,
            "access denied: user alice cannot access restricted tenant",
        ),
        (
            CallOptions::default().with_header("authorization", "Bearer dev_user_alice"),
            ErrorCode::Unauthenticated,
            "tenant ID is required",
        ),
        (
            CallOptions::default()
                .with_header("authorization", "Bearer dev_user_a,b")
                .with_header("x-tenant-id", "t"),
            ErrorCode::Unauthenticated,
            "customer authentication required",
        ),
    ];
    for (options, code, message) in cases {
        assert_eq!(call(options).await.unwrap_err(), (code, message.to_string()));
    }
    let admin = CallOptions::default()
        .with_header("authorization", "Bearer dev_user_admin-user")
        .with_header("x-tenant-id", "restricted-tenant");
    assert!(call(admin).await.is_ok());
    let legacy = CallOptions::default()
        .with_header("authorization", "Bearer dev_customer_bob")
        .with_header("x-tenant-id", "t");
    assert!(call(legacy).await.is_ok());
}

#[tokio::test]
async fn create_ignores_client_ids_and_checks_the_customer() {
    let (_server, client) = start(DevServerConfig::default()).await;
    let request = CreateVmRequest {
        vm_id: "my-own-id".into(),
        config: MessageField::some(config()),
        ..Default::default()
    };
    let created = client.create_vm_with_options(request, as_user("alice")).await.unwrap().into_owned();
    assert!(created.vm_id.starts_with("ud-") && created.vm_id.len() == 19, "{}", created.vm_id);
    assert_eq!(created.state.to_i32(), CREATED);

    let mismatch = CreateVmRequest {
        config: MessageField::some(config()),
        customer_id: "bob".into(),
        ..Default::default()
    };
    let error = client.create_vm_with_options(mismatch, as_user("alice")).await.unwrap_err();
    assert_eq!(code_and_message(error), (ErrorCode::PermissionDenied, "customer_id mismatch".into()));

    let missing = CreateVmRequest::default();
    let error = client.create_vm_with_options(missing, as_user("alice")).await.unwrap_err();
    assert_eq!(code_and_message(error), (ErrorCode::InvalidArgument, "vm config is required".into()));

    let mut no_disk = config();
    no_disk.storage.clear();
    let request = CreateVmRequest { config: MessageField::some(no_disk), ..Default::default() };
    let error = client.create_vm_with_options(request, as_user("alice")).await.unwrap_err();
    assert_eq!(
        code_and_message(error),
        (ErrorCode::InvalidArgument, "at least one storage device is required".into())
    );
}

#[tokio::test]
async fn every_allowed_transition_works() {
    let (_server, client) = start(DevServerConfig::default()).await;
    let vm = create(&client, "alice").await;
    for (action, expected) in [
        ("boot", RUNNING),
        ("pause", PAUSED),
        ("resume", RUNNING),
        ("reboot", RUNNING),
        ("shutdown", SHUTDOWN),
        ("boot", RUNNING),
        ("pause", PAUSED),
        ("shutdown", SHUTDOWN),
    ] {
        assert_eq!(act(&client, "alice", action, &vm).await, Ok(expected), "{action}");
        assert_eq!(state(&client, "alice", &vm).await, Ok(expected));
    }
    assert_eq!(act(&client, "alice", "delete", &vm).await, Ok(0));
    assert_eq!(state(&client, "alice", &vm).await, Err((ErrorCode::NotFound, format!("VM not found: {vm}"))));
}

#[tokio::test]
async fn every_refused_transition_names_the_current_state() {
    let (_server, client) = start(DevServerConfig::default()).await;
    // (state reached by these actions, action that must be refused)
    let refused = [
        (vec![], "pause"),
        (vec![], "resume"),
        (vec![], "reboot"),
        (vec![], "shutdown"),
        (vec!["boot"], "boot"),
        (vec!["boot"], "resume"),
        (vec!["boot", "pause"], "boot"),
        (vec!["boot", "pause"], "pause"),
        (vec!["boot", "pause"], "reboot"),
        (vec!["boot", "shutdown"], "pause"),
        (vec!["boot", "shutdown"], "resume"),
        (vec!["boot", "shutdown"], "reboot"),
        (vec!["boot", "shutdown"], "shutdown"),
    ];
    for (setup, action) in refused {
        let vm = create(&client, "alice").await;
        for step in &setup {
            act(&client, "alice", step, &vm).await.unwrap();
        }
        let before = state(&client, "alice", &vm).await.unwrap();
        let (code, message) = act(&client, "alice", action, &vm).await.unwrap_err();
        assert_eq!(code, ErrorCode::FailedPrecondition, "{setup:?} then {action}");
        let name = ["", "VM_STATE_CREATED", "VM_STATE_RUNNING", "VM_STATE_PAUSED", "VM_STATE_SHUTDOWN"]
            [before as usize];
        assert!(message.starts_with(&format!("vm {vm} is {name}; ")), "{message}");
        assert_eq!(
            state(&client, "alice", &vm).await.unwrap(),
            before,
            "a refused transition changes nothing"
        );
    }
    // Delete works from any state.
    for setup in [vec![], vec!["boot"], vec!["boot", "pause"], vec!["boot", "shutdown"]] {
        let vm = create(&client, "alice").await;
        for step in &setup {
            act(&client, "alice", step, &vm).await.unwrap();
        }
        assert_eq!(act(&client, "alice", "delete", &vm).await, Ok(0));
        assert_eq!(act(&client, "alice", "delete", &vm).await.unwrap_err().0, ErrorCode::NotFound);
    }
}

#[tokio::test]
async fn users_cannot_see_or_touch_each_others_vms() {
    let (_server, client) = start(DevServerConfig::default()).await;
    let alices = create(&client, "alice").await;
    let bobs = create(&client, "bob").await;
    let denied = (ErrorCode::PermissionDenied, "access denied: VM not owned by customer".to_string());
    assert_eq!(state(&client, "bob", &alices).await, Err(denied.clone()));
    for action in ["boot", "pause", "resume", "reboot", "shutdown", "delete"] {
        assert_eq!(act(&client, "bob", action, &alices).await, Err(denied.clone()), "{action}");
    }
    let listed =
        client.list_vms_with_options(ListVmsRequest::default(), as_user("bob")).await.unwrap().into_owned();
    let ids: Vec<_> = listed.vms.iter().map(|v| v.vm_id.clone()).collect();
    assert_eq!(ids, [bobs]);
    assert_eq!(listed.total_count, 1);
    assert_eq!(state(&client, "alice", &alices).await, Ok(CREATED));
}

#[tokio::test]
async fn unknown_and_empty_ids_are_not_found_and_invalid() {
    let (_server, client) = start(DevServerConfig::default()).await;
    assert_eq!(state(&client, "alice", "ud-0000000000000000").await.unwrap_err().0, ErrorCode::NotFound);
    assert_eq!(
        state(&client, "alice", "").await,
        Err((ErrorCode::InvalidArgument, "vm_id is required".into()))
    );
}

#[tokio::test]
async fn info_reports_config_state_and_network_once_booted() {
    let (_server, client) = start(DevServerConfig::default()).await;
    let vm = create(&client, "alice").await;
    let info = |c: &Client| {
        let vm = vm.clone();
        let c = c.clone();
        async move {
            c.get_vm_info_with_options(GetVmInfoRequest { vm_id: vm, ..Default::default() }, as_user("alice"))
                .await
                .unwrap()
                .into_owned()
        }
    };
    let before = info(&client).await;
    assert_eq!(before.config.as_option(), Some(&config()));
    assert!(before.network_info.as_option().is_none());
    act(&client, "alice", "boot", &vm).await.unwrap();
    let after = info(&client).await;
    let network = after.network_info.as_option().unwrap();
    assert!(
        network.ip_address.starts_with("10.100.")
            && network.mac_address.starts_with("02:00:")
            && network.tap_device.starts_with("tap")
    );
}

async fn walk(client: &Client, user: &str, page_size: i32, states: Vec<i32>) -> Vec<String> {
    let mut ids = Vec::new();
    let mut token = String::new();
    loop {
        let request = ListVmsRequest {
            page_size,
            page_token: token.clone(),
            state_filter: states.iter().map(|s| (*s).into()).collect(),
            ..Default::default()
        };
        let page = client.list_vms_with_options(request, as_user(user)).await.unwrap().into_owned();
        ids.extend(page.vms.iter().map(|v| v.vm_id.clone()));
        if page.next_page_token.is_empty() {
            return ids;
        }
        token = page.next_page_token;
    }
}

#[tokio::test]
async fn listing_pages_newest_first_with_filter_and_totals() {
    let (_server, client) = start(DevServerConfig::default()).await;
    let mut created = Vec::new();
    for _ in 0..7 {
        created.push(create(&client, "alice").await);
    }
    act(&client, "alice", "boot", &created[2]).await.unwrap();
    act(&client, "alice", "boot", &created[5]).await.unwrap();
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(walk(&client, "alice", 3, vec![]).await, newest_first);
    assert_eq!(walk(&client, "alice", 0, vec![]).await, newest_first);
    assert_eq!(walk(&client, "alice", 1, vec![RUNNING]).await, [created[5].clone(), created[2].clone()]);
    let first = client
        .list_vms_with_options(ListVmsRequest { page_size: 3, ..Default::default() }, as_user("alice"))
        .await
        .unwrap()
        .into_owned();
    assert_eq!((first.vms.len(), first.total_count), (3, 7));
    let error = client
        .list_vms_with_options(
            ListVmsRequest { page_token: "bogus".into(), ..Default::default() },
            as_user("alice"),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidArgument);
}

#[tokio::test]
async fn page_size_defaults_to_50_and_caps_at_100() {
    let (_server, client) = start(DevServerConfig::default()).await;
    for _ in 0..120 {
        create(&client, "alice").await;
    }
    let page = |size: i32| {
        let client = client.clone();
        async move {
            client
                .list_vms_with_options(
                    ListVmsRequest { page_size: size, ..Default::default() },
                    as_user("alice"),
                )
                .await
                .unwrap()
                .into_owned()
                .vms
                .len()
        }
    };
    assert_eq!(page(0).await, 50);
    assert_eq!(page(500).await, 100);
}

#[tokio::test]
async fn a_page_walk_sees_every_vm_once_while_others_are_created() {
    let (_server, client) = start(DevServerConfig::default()).await;
    let mut existing = HashSet::new();
    for _ in 0..60 {
        existing.insert(create(&client, "alice").await);
    }
    let creator = {
        let client = client.clone();
        tokio::spawn(async move {
            for _ in 0..60 {
                create(&client, "alice").await;
            }
        })
    };
    let seen = walk(&client, "alice", 7, vec![]).await;
    creator.await.unwrap();
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no duplicates");
    assert!(existing.is_subset(&unique), "every VM that existed when the walk began");
}

#[tokio::test]
async fn a_thousand_concurrent_creates_get_unique_ids_and_none_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let config = DevServerConfig { state_file: Some(dir.path().join("state.db")), ..Default::default() };
    let (server, client) = start(config).await;
    let client = Arc::new(client);
    let mut tasks = Vec::new();
    for task in 0..16 {
        let client = client.clone();
        // 8 tasks create 63 VMs and 8 create 62: 1,000 in all.
        let count = if task < 8 { 63 } else { 62 };
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..count {
                ids.push(create(&client, "alice").await);
            }
            ids
        }));
    }
    let mut ids = HashSet::new();
    for task in tasks {
        ids.extend(task.await.unwrap());
    }
    assert_eq!(ids.len(), 1000);
    let listed: HashSet<String> = walk(&client, "alice", 100, vec![]).await.into_iter().collect();
    assert_eq!(listed, ids);
    drop(server);

    let (_restarted, client) =
        start(DevServerConfig { state_file: Some(dir.path().join("state.db")), ..Default::default() }).await;
    let after_restart: HashSet<String> = walk(&client, "alice", 100, vec![]).await.into_iter().collect();
    assert_eq!(after_restart, ids, "a restart keeps every acknowledged VM");
}

#[tokio::test]
async fn state_survives_a_restart_with_a_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state.db");
    let (server, client) =
        start(DevServerConfig { state_file: Some(file.clone()), ..Default::default() }).await;
    let vm = create(&client, "alice").await;
    act(&client, "alice", "boot", &vm).await.unwrap();
    act(&client, "alice", "pause", &vm).await.unwrap();
    let gone = create(&client, "alice").await;
    act(&client, "alice", "delete", &gone).await.unwrap();
    drop(server);
    let (_server, client) = start(DevServerConfig { state_file: Some(file), ..Default::default() }).await;
    assert_eq!(state(&client, "alice", &vm).await, Ok(PAUSED));
    assert_eq!(state(&client, "alice", &gone).await.unwrap_err().0, ErrorCode::NotFound);
}

#[tokio::test]
async fn json_codec_and_gzip_work() {
    let (server, _) = start(DevServerConfig::default()).await;
    let json = VmServiceClient::new(
        HttpClient::plaintext(),
        ClientConfig::new(server.url().parse().unwrap()).json(),
    );
    let request = CreateVmRequest { config: MessageField::some(config()), ..Default::default() };
    let created = json.create_vm_with_options(request, as_user("alice")).await.unwrap();
    assert!(created.view().vm_id.starts_with("ud-"));
    let http2 = VmServiceClient::new(
        HttpClient::plaintext_http2_only(),
        ClientConfig::new(server.url().parse().unwrap()),
    );
    let listed = http2.list_vms_with_options(ListVmsRequest::default(), as_user("alice")).await.unwrap();
    assert_eq!(listed.view().total_count, 1);
}
