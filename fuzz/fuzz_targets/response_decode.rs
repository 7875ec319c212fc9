//! Response decoding of every RPC, in both codecs, with and without gzip.
#![no_main]

use metald_guest::codec::{HttpResponse, RPC_METHODS, decode_response};
use metald_guest::model::{ClientOptions, Codec};
use metald_guest::options::Resolved;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let method = RPC_METHODS[usize::from(selector) % RPC_METHODS.len()];
    let json = selector & 0x10 != 0;
    let gzip = selector & 0x20 != 0;
    let status = if selector & 0x40 != 0 { 503 } else { 200 };
    let options = Resolved::new(&ClientOptions {
        server: "http://127.0.0.1:1".into(),
        user_id: "u".into(),
        tenant_id: "t".into(),
        timeout_ms: None,
        route_prefix: None,
        codec: Some(if json { Codec::Json } else { Codec::Proto }),
        retries: None,
        max_response_bytes: Some(1 << 20),
        compression: None,
    })
    .expect("valid options");
    let mut headers = vec![("content-type".to_string(), if json { "application/json" } else { "application/proto" }.to_string())];
    if gzip {
        headers.push(("content-encoding".to_string(), "gzip".to_string()));
    }
    let _ = decode_response(&options, method, &HttpResponse { status, headers, body: body.to_vec() });
});
