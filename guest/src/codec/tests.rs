use super::*;
use crate::bindings::exports::metald::client::templates::Template;
use prost::Message;

fn options(codec: Codec) -> Resolved {
    Resolved::new(&ClientOptions {
        server: "http://127.0.0.1:8080/prefix/".into(),
        user_id: "alice".into(),
        tenant_id: "acme".into(),
        timeout_ms: None,
        route_prefix: None,
        codec: Some(codec),
        retries: None,
        max_response_bytes: Some(1 << 20),
        compression: None,
    })
    .unwrap()
}

fn ok(content_type: &str, body: Vec<u8>) -> HttpResponse {
    HttpResponse { status: 200, headers: vec![("Content-Type".into(), content_type.into())], body }
}

fn expect_transport(result: Result<RpcResponse, Error>, code: ErrorCode) -> String {
    match result {
        Err(Error::Transport(t)) if t.code == code => t.message,
        other => panic!("expected a {code:?} transport error, got {other:?}"),
    }
}

#[test]
fn boot_request_is_a_connect_unary_post() {
    let request =
        encode_request(&options(Codec::Proto), &RpcRequest::BootVm("ud-0123456789abcdef".into()), 1234)
            .unwrap();
    assert_eq!(request.method, "POST");
    assert_eq!(request.url, "http://127.0.0.1:8080/prefix/metal.vmprovisioner.v1.VmService/BootVm");
    let mut expected_body = vec![0x0a, 0x13];
    expected_body.extend_from_slice(b"ud-0123456789abcdef");
    assert_eq!(request.body, expected_body);
    let h = |name| header(&request.headers, name).unwrap();
    assert_eq!(h("content-type"), "application/proto");
    assert_eq!(h("content-length"), "21");
    assert_eq!(h("connect-protocol-version"), "1");
    assert_eq!(h("connect-timeout-ms"), "1234");
    assert_eq!(h("accept-encoding"), "gzip");
    assert_eq!(h("authorization"), "Bearer dev_user_alice");
    assert_eq!(h("x-tenant-id"), "acme");
}

#[test]
fn compression_identity_asks_for_an_uncompressed_answer_and_gzip_is_the_default() {
    let get = RpcRequest::GetVmInfo("ud-0123456789abcdef".into());
    let default = encode_request(&options(Codec::Proto), &get, 1).unwrap();
    assert_eq!(header(&default.headers, "accept-encoding"), Some("gzip"));

    let mut identity = options(Codec::Proto);
    identity.compression = Compression::Identity;
    for codec in [Codec::Proto, Codec::Json] {
        identity.codec = codec;
        let request = encode_request(&identity, &get, 1).unwrap();
        let accept: Vec<&str> = request
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("accept-encoding"))
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(accept, ["identity"], "{codec:?}");
    }
}

#[test]
fn compression_identity_still_decodes_a_gzip_answer() {
    let mut identity = options(Codec::Proto);
    identity.compression = Compression::Identity;
    let body = pb::DeleteVmResponse { success: true }.encode_to_vec();
    let decoded = decode_response(
        &identity,
        RpcMethod::DeleteVm,
        &gzipped("application/proto", body::tests::gzip_stored(&body)),
    )
    .unwrap();
    assert_eq!(decoded, RpcResponse::DeleteVm(DeleteVmResponse { success: true }));
    let plain = decode_response(&identity, RpcMethod::DeleteVm, &ok("application/proto", body)).unwrap();
    assert_eq!(plain, RpcResponse::DeleteVm(DeleteVmResponse { success: true }));
}

#[test]
fn legacy_route_prefix_changes_the_path() {
    let mut legacy = options(Codec::Proto);
    legacy.route_prefix = "vmprovisioner.v1".into();
    let request = encode_request(&legacy, &RpcRequest::ListVms(list_request()), 1).unwrap();
    assert!(request.url.ends_with("/prefix/vmprovisioner.v1.VmService/ListVms"), "{}", request.url);
}

fn list_request() -> ListVmsRequest {
    ListVmsRequest { state_filter: vec![], page_size: 50, page_token: String::new() }
}

#[test]
fn list_request_matches_the_go_client_bytes() {
    let request = encode_request(&options(Codec::Proto), &RpcRequest::ListVms(list_request()), 1).unwrap();
    assert_eq!(request.body, [0x10, 0x32]);
}

#[test]
fn create_request_carries_the_user_as_customer_and_validates_first() {
    let config = crate::templates::config(Template::Minimal);
    let request = encode_request(
        &options(Codec::Proto),
        &RpcRequest::CreateVm(CreateVmRequest { vm_id: String::new(), config: config.clone() }),
        1,
    )
    .unwrap();
    let sent = pb::CreateVmRequest::decode(&request.body[..]).unwrap();
    assert_eq!(sent.customer_id, "alice");
    assert_eq!(config_from_proto(sent.config.unwrap()), config);

    let mut bad = config;
    bad.cpu = None;
    let error = encode_request(
        &options(Codec::Proto),
        &RpcRequest::CreateVm(CreateVmRequest { vm_id: String::new(), config: bad }),
        1,
    )
    .unwrap_err();
    assert!(matches!(&error, Error::InvalidConfig(i) if i[0].field == "cpu"), "{error:?}");
}

#[test]
fn json_codec_sends_protobuf_json() {
    let request = encode_request(
        &options(Codec::Json),
        &RpcRequest::ShutdownVm(ShutdownVmRequest { vm_id: "ud-1".into(), force: true, timeout_seconds: 30 }),
        1,
    )
    .unwrap();
    assert_eq!(header(&request.headers, "content-type"), Some("application/json"));
    assert_eq!(request.body, br#"{"force":true,"timeoutSeconds":30,"vmId":"ud-1"}"#);
}

#[test]
fn empty_vm_ids_are_refused_before_sending() {
    for request in [
        RpcRequest::BootVm(String::new()),
        RpcRequest::GetVmInfo(String::new()),
        RpcRequest::DeleteVm(DeleteVmRequest { vm_id: String::new(), force: false }),
    ] {
        assert_eq!(
            encode_request(&options(Codec::Proto), &request, 1).unwrap_err(),
            invalid("vm-id", "must not be empty")
        );
    }
}

/// A message encoded with each codec.
type Encodings = [(Codec, Vec<u8>); 2];

#[test]
fn decodes_every_response_type_in_both_codecs() {
    let info = pb::GetVmInfoResponse {
        vm_id: "ud-1".into(),
        config: Some(config_to_proto(&crate::templates::config(Template::Standard))),
        state: 2,
        metrics: None,
        backend_info: [("host".to_string(), "h1".to_string())].into(),
        network_info: Some(pb::VmNetworkInfo { ip_address: "10.0.0.2".into(), ..Default::default() }),
    };
    let list = pb::ListVmsResponse {
        vms: vec![pb::VmInfo { vm_id: "ud-1".into(), state: 3, vcpu_count: 2, ..Default::default() }],
        next_page_token: "t".into(),
        total_count: 7,
    };
    fn both<M: metald_proto::json::Described>(m: &M) -> Encodings {
        [(Codec::Proto, m.encode_to_vec()), (Codec::Json, metald_proto::json::to_json(m))]
    }
    let cases: Vec<(RpcMethod, Encodings)> = vec![
        (RpcMethod::CreateVm, both(&pb::CreateVmResponse { vm_id: "ud-1".into(), state: 1 })),
        (RpcMethod::DeleteVm, both(&pb::DeleteVmResponse { success: true })),
        (RpcMethod::BootVm, both(&pb::BootVmResponse { success: true, state: 2 })),
        (RpcMethod::ShutdownVm, both(&pb::ShutdownVmResponse { success: true, state: 4 })),
        (RpcMethod::PauseVm, both(&pb::PauseVmResponse { success: true, state: 3 })),
        (RpcMethod::ResumeVm, both(&pb::ResumeVmResponse { success: true, state: 2 })),
        (RpcMethod::RebootVm, both(&pb::RebootVmResponse { success: true, state: 2 })),
        (RpcMethod::GetVmInfo, both(&info)),
        (RpcMethod::ListVms, both(&list)),
    ];
    for (method, encodings) in cases {
        let mut decoded = Vec::new();
        for (codec, body) in encodings {
            let content_type =
                if codec == Codec::Proto { "application/proto" } else { "application/json; charset=utf-8" };
            decoded.push(decode_response(&options(codec), method, &ok(content_type, body)).unwrap());
        }
        assert_eq!(decoded[0], decoded[1], "{method:?}: proto and JSON agree");
        assert_eq!(method_of_response(&decoded[0]), method);
    }
    let RpcResponse::GetVmInfo(info) = decode_response(
        &options(Codec::Proto),
        RpcMethod::GetVmInfo,
        &ok("application/proto", info.encode_to_vec()),
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(info.backend_info, vec![("host".to_string(), "h1".to_string())], "backend_info is kept");
    assert_eq!(info.state, VmState::Running);
    assert_eq!(info.network_info.unwrap().ip_address, "10.0.0.2");
}

fn method_of_response(response: &RpcResponse) -> RpcMethod {
    match response {
        RpcResponse::CreateVm(_) => RpcMethod::CreateVm,
        RpcResponse::DeleteVm(_) => RpcMethod::DeleteVm,
        RpcResponse::BootVm(_) => RpcMethod::BootVm,
        RpcResponse::ShutdownVm(_) => RpcMethod::ShutdownVm,
        RpcResponse::PauseVm(_) => RpcMethod::PauseVm,
        RpcResponse::ResumeVm(_) => RpcMethod::ResumeVm,
        RpcResponse::RebootVm(_) => RpcMethod::RebootVm,
        RpcResponse::GetVmInfo(_) => RpcMethod::GetVmInfo,
        RpcResponse::ListVms(_) => RpcMethod::ListVms,
    }
}

#[test]
fn gzip_success_bodies_are_decoded_including_empty_messages() {
    let body = pb::DeleteVmResponse { success: true }.encode_to_vec();
    let mut response = ok("application/proto", body::tests::gzip_stored(&body));
    response.headers.push(("Content-Encoding".into(), "gzip".into()));
    let decoded = decode_response(&options(Codec::Proto), RpcMethod::DeleteVm, &response).unwrap();
    assert_eq!(decoded, RpcResponse::DeleteVm(DeleteVmResponse { success: true }));

    let mut empty = ok("application/proto", body::tests::gzip_stored(b""));
    empty.headers.push(("content-encoding".into(), "gzip".into()));
    let decoded = decode_response(&options(Codec::Proto), RpcMethod::DeleteVm, &empty).unwrap();
    assert_eq!(decoded, RpcResponse::DeleteVm(DeleteVmResponse { success: false }));
}

#[test]
fn error_responses_become_connect_errors_even_when_gzipped() {
    let json = br#"{"code":"permission_denied","message":"access denied: VM not owned by customer"}"#;
    let mut response = HttpResponse {
        status: 403,
        headers: vec![("content-encoding".into(), "gzip".into())],
        body: body::tests::gzip_stored(json),
    };
    let Err(Error::Connect(error)) = decode_response(&options(Codec::Proto), RpcMethod::BootVm, &response)
    else {
        panic!()
    };
    assert_eq!(
        (error.code, error.message.as_str(), error.http_status),
        (ErrorCode::PermissionDenied, "access denied: VM not owned by customer", 403)
    );

    response.body = b"\x1f\x8bnot really gzip at all......".to_vec();
    let Err(Error::Connect(error)) = decode_response(&options(Codec::Proto), RpcMethod::BootVm, &response)
    else {
        panic!()
    };
    assert_eq!(error.code, ErrorCode::PermissionDenied, "inferred from 403");
}

#[test]
fn wrong_content_type_on_success_is_an_internal_error() {
    let message = expect_transport(
        decode_response(&options(Codec::Proto), RpcMethod::BootVm, &ok("text/html", b"<html>".to_vec())),
        ErrorCode::Internal,
    );
    assert_eq!(message, "unexpected response content-type \"text/html\" (expected application/proto)");
}

#[test]
fn garbage_success_bodies_are_internal_errors() {
    let message = expect_transport(
        decode_response(
            &options(Codec::Proto),
            RpcMethod::GetVmInfo,
            &ok("application/proto", vec![0xff, 0xff, 0xff]),
        ),
        ErrorCode::Internal,
    );
    assert!(message.starts_with("malformed GetVmInfo response"), "{message}");
    expect_transport(
        decode_response(&options(Codec::Json), RpcMethod::ListVms, &ok("application/json", b"{".to_vec())),
        ErrorCode::Internal,
    );
}

#[test]
fn oversized_success_bodies_are_resource_exhausted() {
    let mut small = options(Codec::Proto);
    small.max_response_bytes = 4;
    expect_transport(
        decode_response(&small, RpcMethod::ListVms, &ok("application/proto", vec![0; 5])),
        ErrorCode::ResourceExhausted,
    );
}

#[test]
fn rpc_methods_list_every_route_in_service_order() {
    assert_eq!(RPC_METHODS.map(route), Method::ALL);
}

/// `NotFound`/`Running` (Rust names of WIT cases) → `not-found`/`running`.
fn kebab(rust: &str) -> String {
    let mut out = String::new();
    for (i, c) in rust.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn case_name<T: core::fmt::Debug>(value: &T) -> String {
    let debug = format!("{value:?}");
    kebab(debug.rsplit("::").next().unwrap_or(&debug))
}

/// The one-line form of a decoded response the shared vectors state (the Go test computes
/// the same in go/metald/codec_test.go).
fn summary(response: &RpcResponse) -> String {
    let change = |name: &str, s: &StateChangeResponse| {
        format!("{name} success={} state={}", s.success, case_name(&s.state))
    };
    match response {
        RpcResponse::CreateVm(r) => format!("create-vm vm-id={} state={}", r.vm_id, case_name(&r.state)),
        RpcResponse::DeleteVm(r) => format!("delete-vm success={}", r.success),
        RpcResponse::BootVm(s) => change("boot-vm", s),
        RpcResponse::ShutdownVm(s) => change("shutdown-vm", s),
        RpcResponse::PauseVm(s) => change("pause-vm", s),
        RpcResponse::ResumeVm(s) => change("resume-vm", s),
        RpcResponse::RebootVm(s) => change("reboot-vm", s),
        RpcResponse::GetVmInfo(i) => {
            let kv: Vec<String> = i.backend_info.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!(
                "get-vm-info vm-id={} state={} backend-info={}",
                i.vm_id,
                case_name(&i.state),
                kv.join(",")
            )
        }
        RpcResponse::ListVms(l) => {
            let first = l
                .vms
                .first()
                .map(|v| format!(" first={}:{}", v.vm_id, case_name(&v.state)))
                .unwrap_or_default();
            format!("list-vms n={}{first} next={} total={}", l.vms.len(), l.next_page_token, l.total_count)
        }
    }
}

fn vector_request(request: &serde_json::Value) -> RpcRequest {
    let (key, value) = request.as_object().and_then(|o| o.iter().next()).expect("one key");
    let s = |field: &str| value[field].as_str().unwrap_or_default().to_string();
    let b = |field: &str| value[field].as_bool().unwrap_or_default();
    let id = value.as_str().unwrap_or_default().to_string();
    match key.as_str() {
        "boot-vm" => RpcRequest::BootVm(id),
        "pause-vm" => RpcRequest::PauseVm(id),
        "resume-vm" => RpcRequest::ResumeVm(id),
        "get-vm-info" => RpcRequest::GetVmInfo(id),
        "delete-vm" => RpcRequest::DeleteVm(DeleteVmRequest { vm_id: s("vm-id"), force: b("force") }),
        "reboot-vm" => RpcRequest::RebootVm(RebootVmRequest { vm_id: s("vm-id"), force: b("force") }),
        "shutdown-vm" => RpcRequest::ShutdownVm(ShutdownVmRequest {
            vm_id: s("vm-id"),
            force: b("force"),
            timeout_seconds: value["timeout-seconds"].as_i64().unwrap_or_default() as i32,
        }),
        "list-vms" => RpcRequest::ListVms(ListVmsRequest {
            state_filter: value["state-filter"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| match (s.as_str(), s.as_i64()) {
                    (Some("created"), _) => VmState::Created,
                    (Some("running"), _) => VmState::Running,
                    (Some("paused"), _) => VmState::Paused,
                    (Some("shutdown"), _) => VmState::Shutdown,
                    (_, Some(number)) => VmState::Unknown(number as i32),
                    _ => VmState::Unspecified,
                })
                .collect(),
            page_size: value["page-size"].as_i64().unwrap_or_default() as i32,
            page_token: s("page-token"),
        }),
        other => panic!("unknown request {other}"),
    }
}

fn vector_body(v: &serde_json::Value) -> Vec<u8> {
    if let Some(hex) = v["body_hex"].as_str() {
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
    } else {
        v["body"].as_str().unwrap_or_default().as_bytes().to_vec()
    }
}

fn check_vector_error<T: core::fmt::Debug>(name: &str, got: Result<T, Error>, want: &serde_json::Value) {
    let code = want["code"].as_str().unwrap_or_default();
    match (want["kind"].as_str(), got) {
        (Some("connect"), Err(Error::Connect(c))) => {
            assert_eq!(case_name(&c.code), code, "{name}");
            assert_eq!(u64::from(c.http_status), want["http_status"].as_u64().unwrap(), "{name}");
            if let Some(message) = want["message"].as_str() {
                assert_eq!(c.message, message, "{name}");
            }
        }
        (Some("transport"), Err(Error::Transport(t))) => assert_eq!(case_name(&t.code), code, "{name}"),
        (Some("invalid-config"), Err(Error::InvalidConfig(issues))) => {
            assert_eq!(issues[0].field, want["field"].as_str().unwrap(), "{name}")
        }
        (kind, other) => panic!("{name}: want a {kind:?} error, got {other:?}"),
    }
}

/// The vectors shared with the Go tests (testdata/codec-vectors.json).
#[test]
fn codec_vectors_shared_with_the_go_tests() {
    let vectors: serde_json::Value =
        serde_json::from_str(include_str!("../../../testdata/codec-vectors.json")).unwrap();
    let codec = |v: &serde_json::Value| if v["codec"] == "json" { Codec::Json } else { Codec::Proto };
    for v in vectors["encode"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let opts = options(codec(v));
        let got = encode_request(&opts, &vector_request(&v["request"]), 1234);
        if !v["error"].is_null() {
            check_vector_error(name, got, &v["error"]);
            continue;
        }
        let request = got.unwrap();
        assert_eq!(request.url, v["url"].as_str().unwrap(), "{name}");
        assert_eq!(header(&request.headers, "content-type"), v["content_type"].as_str(), "{name}");
        assert_eq!(request.body, vector_body(v), "{name}");
        assert_eq!(header(&request.headers, "connect-timeout-ms"), Some("1234"), "{name}");
    }
    for v in vectors["decode"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let method = match v["method"].as_str().unwrap() {
            "create-vm" => RpcMethod::CreateVm,
            "delete-vm" => RpcMethod::DeleteVm,
            "boot-vm" => RpcMethod::BootVm,
            "get-vm-info" => RpcMethod::GetVmInfo,
            "list-vms" => RpcMethod::ListVms,
            other => panic!("{name}: method {other}"),
        };
        let mut response = HttpResponse {
            status: v["status"].as_u64().unwrap() as u16,
            headers: vec![("Content-Type".into(), v["content_type"].as_str().unwrap().into())],
            body: vector_body(v),
        };
        if let Some(encoding) = v["content_encoding"].as_str() {
            response.headers.push(("Content-Encoding".into(), encoding.into()));
        }
        let got = decode_response(&options(codec(v)), method, &response);
        if !v["error"].is_null() {
            check_vector_error(name, got, &v["error"]);
        } else {
            assert_eq!(summary(&got.unwrap()), v["ok"].as_str().unwrap(), "{name}");
        }
    }
}

fn gzipped(content_type: &str, body: Vec<u8>) -> HttpResponse {
    let mut response = ok(content_type, body);
    response.headers.push(("Content-Encoding".into(), "gzip".into()));
    response
}

/// Two gzip members (RFC 1952 §2.2) holding `message` split at `at`.
fn two_members(message: &[u8], at: usize) -> Vec<u8> {
    let mut body = body::tests::gzip_stored(&message[..at]);
    body.extend(body::tests::gzip_stored(&message[at..]));
    body
}

#[test]
fn gzip_members_get_vm_info_state_in_the_second_member() {
    let message = pb::GetVmInfoResponse {
        vm_id: "ud-0123456789abcdef".into(),
        state: pb::VmState::Running as i32,
        ..Default::default()
    }
    .encode_to_vec();
    // vm_id (field 1) is 21 bytes; the state (field 3) follows in the second member.
    let response = gzipped("application/proto", two_members(&message, 21));
    let RpcResponse::GetVmInfo(info) =
        decode_response(&options(Codec::Proto), RpcMethod::GetVmInfo, &response).unwrap()
    else {
        panic!()
    };
    assert_eq!((info.vm_id.as_str(), info.state), ("ud-0123456789abcdef", VmState::Running));
}

#[test]
fn gzip_members_list_vms_split_across_members_lists_both() {
    let vm =
        |id: &str| pb::VmInfo { vm_id: id.into(), state: pb::VmState::Created as i32, ..Default::default() };
    let message =
        pb::ListVmsResponse { vms: vec![vm("ud-1"), vm("ud-2")], total_count: 2, ..Default::default() }
            .encode_to_vec();
    for codec in [Codec::Proto, Codec::Json] {
        let (content_type, bytes) = match codec {
            Codec::Proto => ("application/proto", message.clone()),
            Codec::Json => (
                "application/json",
                metald_proto::json::to_json(&pb::ListVmsResponse::decode(&message[..]).unwrap()),
            ),
        };
        // Split inside the second VM, and into three members.
        let mut body = two_members(&bytes[..bytes.len() - 3], bytes.len() / 2);
        body.extend(body::tests::gzip_stored(&bytes[bytes.len() - 3..]));
        let RpcResponse::ListVms(list) =
            decode_response(&options(codec), RpcMethod::ListVms, &gzipped(content_type, body)).unwrap()
        else {
            panic!()
        };
        let ids: Vec<&str> = list.vms.iter().map(|v| v.vm_id.as_str()).collect();
        assert_eq!((ids, list.total_count), (vec!["ud-1", "ud-2"], 2), "{codec:?}");
    }
}

#[test]
fn gzip_trailing_garbage_after_a_member_is_an_internal_error() {
    let message = pb::BootVmResponse { success: true, state: pb::VmState::Running as i32 }.encode_to_vec();
    for trailer in [&b"garbage"[..], &[0u8; 8][..], &[0x1f][..], &[0x1f, 0x8b, 8][..]] {
        let mut body = body::tests::gzip_stored(&message);
        body.extend_from_slice(trailer);
        let message = expect_transport(
            decode_response(&options(Codec::Proto), RpcMethod::BootVm, &gzipped("application/proto", body)),
            ErrorCode::Internal,
        );
        assert!(message.contains("gzip"), "{trailer:?}: {message}");
    }
}

#[test]
fn states_and_modes_unknown_to_this_sdk_are_kept_in_both_codecs() {
    let mut config = config_to_proto(&crate::templates::config(Template::Minimal));
    config.network[0].mode = 9;
    let info =
        pb::GetVmInfoResponse { vm_id: "ud-5".into(), state: 5, config: Some(config), ..Default::default() };
    let list = pb::ListVmsResponse {
        vms: vec![pb::VmInfo { vm_id: "ud-5".into(), state: 5, ..Default::default() }],
        total_count: 1,
        ..Default::default()
    };
    for codec in [Codec::Proto, Codec::Json] {
        let (content_type, info_body, list_body) = match codec {
            Codec::Proto => ("application/proto", info.encode_to_vec(), list.encode_to_vec()),
            Codec::Json => {
                ("application/json", metald_proto::json::to_json(&info), metald_proto::json::to_json(&list))
            }
        };
        if codec == Codec::Json {
            assert!(String::from_utf8_lossy(&info_body).contains("\"state\":5"));
        }
        let RpcResponse::GetVmInfo(got) =
            decode_response(&options(codec), RpcMethod::GetVmInfo, &ok(content_type, info_body)).unwrap()
        else {
            panic!()
        };
        assert_eq!(got.state, VmState::Unknown(5), "{codec:?}");
        assert_eq!(got.config.unwrap().network[0].mode, NetworkMode::Unknown(9), "{codec:?}");
        let RpcResponse::ListVms(got) =
            decode_response(&options(codec), RpcMethod::ListVms, &ok(content_type, list_body)).unwrap()
        else {
            panic!()
        };
        assert_eq!(got.vms[0].state, VmState::Unknown(5), "{codec:?}");
    }
}

#[test]
fn unknown_states_and_modes_encode_back_to_their_numbers() {
    let request = ListVmsRequest {
        state_filter: vec![VmState::Running, VmState::Unknown(5)],
        page_size: 0,
        page_token: String::new(),
    };
    let proto = encode_request(&options(Codec::Proto), &RpcRequest::ListVms(request.clone()), 1).unwrap();
    assert_eq!(pb::ListVmsRequest::decode(&proto.body[..]).unwrap().state_filter, [2, 5]);
    let json = encode_request(&options(Codec::Json), &RpcRequest::ListVms(request), 1).unwrap();
    assert_eq!(String::from_utf8(json.body).unwrap(), r#"{"stateFilter":["VM_STATE_RUNNING",5]}"#);

    let mut config = crate::templates::config(Template::Minimal);
    config.network[0].mode = NetworkMode::Unknown(9);
    let create = RpcRequest::CreateVm(CreateVmRequest { vm_id: String::new(), config });
    let sent = encode_request(&options(Codec::Proto), &create, 1).unwrap();
    assert_eq!(pb::CreateVmRequest::decode(&sent.body[..]).unwrap().config.unwrap().network[0].mode, 9);
}
