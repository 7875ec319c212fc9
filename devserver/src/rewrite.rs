//! Faults that rewrite a good answer: `gzip-members` and `state:N`.

use std::io::{Read, Write};

use bytes::Bytes;
use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use http_body_util::{BodyExt, Full};
use metald_proto as pb;
use prost::Message;

use crate::server::Body;

/// The answer's parts and its message bytes (gzip undone).
async fn collect(response: http::Response<Body>) -> (http::response::Parts, Vec<u8>) {
    let (mut parts, body) = response.into_parts();
    let bytes = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let gzipped = parts.headers.get(http::header::CONTENT_ENCODING).is_some_and(|v| v == "gzip");
    parts.headers.remove(http::header::CONTENT_ENCODING);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    let mut message = Vec::new();
    if !gzipped || MultiGzDecoder::new(&bytes[..]).read_to_end(&mut message).is_err() {
        message = bytes.to_vec();
    }
    (parts, message)
}

fn respond(mut parts: http::response::Parts, body: Vec<u8>) -> http::Response<Body> {
    if let Ok(length) = body.len().to_string().parse() {
        parts.headers.insert(http::header::CONTENT_LENGTH, length);
    }
    let body = Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed_unsync();
    http::Response::from_parts(parts, body)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}

/// The same answer as two gzip members, the message split in the middle.
pub(crate) async fn gzip_members(response: http::Response<Body>) -> http::Response<Body> {
    let (mut parts, message) = collect(response).await;
    let (first, second) = message.split_at(message.len() / 2);
    let mut body = gzip(first);
    body.extend(gzip(second));
    parts.headers.insert(http::header::CONTENT_ENCODING, http::HeaderValue::from_static("gzip"));
    respond(parts, body)
}

/// The same answer with every VM state in it set to `state` (successful answers of the RPCs
/// that carry a state; anything else is passed on as it is).
pub(crate) async fn with_state(
    response: http::Response<Body>,
    rpc: &str,
    state: i32,
) -> http::Response<Body> {
    if response.status() != http::StatusCode::OK {
        return response;
    }
    let (parts, message) = collect(response).await;
    let json = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let rewritten =
        if json { json_with_state(rpc, &message, state) } else { proto_with_state(rpc, &message, state) };
    respond(parts, rewritten.unwrap_or(message))
}

fn proto_with_state(rpc: &str, bytes: &[u8], state: i32) -> Option<Vec<u8>> {
    macro_rules! set {
        ($message:ty) => {{
            let mut m = <$message>::decode(bytes).ok()?;
            m.state = state;
            m.encode_to_vec()
        }};
    }
    Some(match rpc {
        "CreateVm" => set!(pb::CreateVmResponse),
        "BootVm" => set!(pb::BootVmResponse),
        "ShutdownVm" => set!(pb::ShutdownVmResponse),
        "PauseVm" => set!(pb::PauseVmResponse),
        "ResumeVm" => set!(pb::ResumeVmResponse),
        "RebootVm" => set!(pb::RebootVmResponse),
        "GetVmInfo" => set!(pb::GetVmInfoResponse),
        "ListVms" => {
            let mut m = pb::ListVmsResponse::decode(bytes).ok()?;
            for vm in &mut m.vms {
                vm.state = state;
            }
            m.encode_to_vec()
        }
        _ => return None,
    })
}

fn json_with_state(rpc: &str, bytes: &[u8], state: i32) -> Option<Vec<u8>> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let object = value.as_object_mut()?;
    match rpc {
        "ListVms" => {
            for vm in object.get_mut("vms")?.as_array_mut()? {
                vm.as_object_mut()?.insert("state".into(), state.into());
            }
        }
        "DeleteVm" => return None,
        _ => {
            object.insert("state".into(), state.into());
        }
    }
    serde_json::to_vec(&value).ok()
}
