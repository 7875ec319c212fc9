//! Property tests: whatever bytes arrive, the parsers and decoders return a value or an
//! error, never a panic (a panic in the component is a trap).

use alloc::string::String;

use proptest::prelude::*;

use crate::codec::{self, HttpResponse, RPC_METHODS};
use crate::model::{ClientOptions, Codec};
use crate::options::Resolved;

fn options(codec: Codec) -> Resolved {
    Resolved::new(&ClientOptions {
        server: "http://127.0.0.1:1".into(),
        user_id: "u".into(),
        tenant_id: "t".into(),
        timeout_ms: None,
        route_prefix: None,
        codec: Some(codec),
        retries: None,
        max_response_bytes: Some(1 << 16),
        compression: None,
    })
    .unwrap()
}

/// JSON-looking text: fragments of real config files shuffled with noise.
fn jsonish() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(alloc::vec![
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"name\"",
        "\"cpu\"",
        "\"vcpu_count\"",
        "\"memory\"",
        "\"size_mb\"",
        "\"storage\"",
        "\"network\"",
        "\"mode\"",
        "\"ipv4\"",
        "\"metadata\"",
        "\"template\"",
        "\"standard\"",
        "\"dual_stack\"",
        "1",
        "-1",
        "1.5",
        "18446744073709551616",
        "true",
        "null",
        "\"x\"",
        " ",
    ]);
    prop::collection::vec(pieces, 0..64).prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn config_file_parser_never_panics_on_arbitrary_text(text in ".{0,512}") {
        let _ = crate::config_file::parse(&text);
    }

    #[test]
    fn config_file_parser_never_panics_on_json_like_text(text in jsonish()) {
        if let Ok(file) = crate::config_file::parse(&text) {
            let _ = crate::config_file::to_vm_config(&file);
            let _ = crate::config_file::render(&file);
        }
    }

    #[test]
    fn response_decoders_never_panic(
        method in 0..RPC_METHODS.len(),
        status in prop::sample::select(alloc::vec![200u16, 400, 404, 500, 503, 0, 999]),
        content_type in prop::sample::select(alloc::vec!["application/proto", "application/json", "text/html", ""]),
        encoding in prop::sample::select(alloc::vec!["", "gzip", "identity", "br"]),
        json in any::<bool>(),
        body in prop::collection::vec(any::<u8>(), 0..1024),
    ) {
        let mut headers = alloc::vec![(String::from("content-type"), String::from(content_type))];
        if !encoding.is_empty() {
            headers.push((String::from("content-encoding"), String::from(encoding)));
        }
        let response = HttpResponse { status, headers, body };
        let codec = if json { Codec::Json } else { Codec::Proto };
        let _ = codec::decode_response(&options(codec), RPC_METHODS[method], &response);
    }

    #[test]
    fn gzip_decoding_never_panics(mut body in prop::collection::vec(any::<u8>(), 0..2048), header in any::<bool>()) {
        if header && body.len() >= 3 {
            body[0] = 0x1f;
            body[1] = 0x8b;
            body[2] = 8;
        }
        let _ = codec::body::decode(Some("gzip"), &body, 1 << 16);
    }

    #[test]
    fn error_body_parser_never_panics(status in any::<u16>(), body in prop::collection::vec(any::<u8>(), 0..1024)) {
        let _ = codec::error_body::parse(status, &body);
    }

    #[test]
    fn error_body_parser_never_panics_on_connect_like_json(
        code in ".{0,20}", message in ".{0,40}", value in ".{0,40}", kind in ".{0,20}",
    ) {
        let body = alloc::format!(
            r#"{{"code":{code:?},"message":{message:?},"details":[{{"type":{kind:?},"value":{value:?}}}, 5, null]}}"#
        );
        let _ = codec::error_body::parse(500, body.as_bytes());
    }
}
