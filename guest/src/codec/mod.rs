//! Connect unary over HTTP, without I/O: requests in, HTTP requests out; HTTP responses in,
//! typed responses or Connect errors out.

pub mod body;
pub mod convert;
pub mod error_body;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use metald_proto as pb;
use metald_proto::json::Described;
use metald_proto::route::Method;

pub use crate::bindings::exports::metald::client::codec::{
    HttpRequest, HttpResponse, RpcMethod, RpcRequest, RpcResponse,
};
use crate::errors::{invalid, issues_to_result, transport};
use crate::model::*;
use crate::options::Resolved;
use convert::*;

/// Sent as `User-Agent`.
pub const USER_AGENT: &str = concat!("metald-client-component/", env!("CARGO_PKG_VERSION"));

/// The method a request calls.
pub fn method_of(request: &RpcRequest) -> RpcMethod {
    match request {
        RpcRequest::CreateVm(_) => RpcMethod::CreateVm,
        RpcRequest::DeleteVm(_) => RpcMethod::DeleteVm,
        RpcRequest::BootVm(_) => RpcMethod::BootVm,
        RpcRequest::ShutdownVm(_) => RpcMethod::ShutdownVm,
        RpcRequest::PauseVm(_) => RpcMethod::PauseVm,
        RpcRequest::ResumeVm(_) => RpcMethod::ResumeVm,
        RpcRequest::RebootVm(_) => RpcMethod::RebootVm,
        RpcRequest::GetVmInfo(_) => RpcMethod::GetVmInfo,
        RpcRequest::ListVms(_) => RpcMethod::ListVms,
    }
}

/// Every RPC, in the order of the service definition.
pub const RPC_METHODS: [RpcMethod; 9] = [
    RpcMethod::CreateVm,
    RpcMethod::DeleteVm,
    RpcMethod::BootVm,
    RpcMethod::ShutdownVm,
    RpcMethod::PauseVm,
    RpcMethod::ResumeVm,
    RpcMethod::RebootVm,
    RpcMethod::GetVmInfo,
    RpcMethod::ListVms,
];

/// The route of a method.
pub fn route(method: RpcMethod) -> Method {
    match method {
        RpcMethod::CreateVm => Method::CreateVm,
        RpcMethod::DeleteVm => Method::DeleteVm,
        RpcMethod::BootVm => Method::BootVm,
        RpcMethod::ShutdownVm => Method::ShutdownVm,
        RpcMethod::PauseVm => Method::PauseVm,
        RpcMethod::ResumeVm => Method::ResumeVm,
        RpcMethod::RebootVm => Method::RebootVm,
        RpcMethod::GetVmInfo => Method::GetVmInfo,
        RpcMethod::ListVms => Method::ListVms,
    }
}

fn content_type(codec: Codec) -> &'static str {
    match codec {
        Codec::Proto => "application/proto",
        Codec::Json => "application/json",
    }
}

/// The `Accept-Encoding` of a request (Connect unary, https://connectrpc.com/docs/protocol/#unary-request).
/// `identity` is sent rather than no header: RFC 9110 §12.5.3 reads a missing header as "any
/// coding", and HTTP stacks such as Go's net/http add their own `gzip` to a request without one.
fn accept_encoding(compression: Compression) -> &'static str {
    match compression {
        Compression::Gzip => "gzip",
        Compression::Identity => "identity",
    }
}

fn encode<M: Described>(message: &M, codec: Codec) -> Vec<u8> {
    match codec {
        Codec::Proto => message.encode_to_vec(),
        Codec::Json => metald_proto::json::to_json(message),
    }
}

fn require_vm_id(vm_id: &str) -> Result<(), Error> {
    if vm_id.is_empty() { Err(invalid("vm-id", "must not be empty")) } else { Ok(()) }
}

/// The HTTP request for `request`, with `timeout_ms` as its `Connect-Timeout-Ms`.
pub fn encode_request(
    options: &Resolved,
    request: &RpcRequest,
    timeout_ms: u32,
) -> Result<HttpRequest, Error> {
    let codec = options.codec;
    let body = match request {
        RpcRequest::CreateVm(r) => {
            issues_to_result(crate::validation::config_issues(&r.config))?;
            encode(&create_request_to_proto(r, &options.user_id), codec)
        }
        RpcRequest::DeleteVm(r) => {
            require_vm_id(&r.vm_id)?;
            encode(&delete_request_to_proto(r), codec)
        }
        RpcRequest::BootVm(id) => {
            require_vm_id(id)?;
            encode(&pb::BootVmRequest { vm_id: id.clone() }, codec)
        }
        RpcRequest::ShutdownVm(r) => {
            require_vm_id(&r.vm_id)?;
            encode(&shutdown_request_to_proto(r), codec)
        }
        RpcRequest::PauseVm(id) => {
            require_vm_id(id)?;
            encode(&pb::PauseVmRequest { vm_id: id.clone() }, codec)
        }
        RpcRequest::ResumeVm(id) => {
            require_vm_id(id)?;
            encode(&pb::ResumeVmRequest { vm_id: id.clone() }, codec)
        }
        RpcRequest::RebootVm(r) => {
            require_vm_id(&r.vm_id)?;
            encode(&reboot_request_to_proto(r), codec)
        }
        RpcRequest::GetVmInfo(id) => {
            require_vm_id(id)?;
            encode(&pb::GetVmInfoRequest { vm_id: id.clone() }, codec)
        }
        RpcRequest::ListVms(r) => encode(&list_request_to_proto(r), codec),
    };
    let method = route(method_of(request));
    let headers = vec![
        ("content-type".to_string(), content_type(codec).to_string()),
        ("content-length".to_string(), body.len().to_string()),
        ("connect-protocol-version".to_string(), "1".to_string()),
        ("connect-timeout-ms".to_string(), timeout_ms.max(1).to_string()),
        ("accept-encoding".to_string(), accept_encoding(options.compression).to_string()),
        ("authorization".to_string(), format!("Bearer dev_user_{}", options.user_id)),
        ("x-tenant-id".to_string(), options.tenant_id.clone()),
        ("user-agent".to_string(), USER_AGENT.to_string()),
    ];
    Ok(HttpRequest {
        method: "POST".into(),
        url: format!("{}{}", options.base_url(), method.path(&options.route_prefix)),
        headers,
        body,
    })
}

/// The value of header `name` (case-insensitive), if present.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn decode_message<M: Described>(bytes: &[u8], codec: Codec, method: Method) -> Result<M, Error> {
    let result = match codec {
        Codec::Proto => M::decode(bytes).map_err(|e| e.to_string()),
        Codec::Json => metald_proto::json::from_json(bytes).map_err(|e| e.to_string()),
    };
    result.map_err(|e| transport(ErrorCode::Internal, format!("malformed {} response: {e}", method.name())))
}

/// The typed response, or the error the HTTP response carries.
pub fn decode_response(
    options: &Resolved,
    method: RpcMethod,
    response: &HttpResponse,
) -> Result<RpcResponse, Error> {
    let encoding = header(&response.headers, "content-encoding");
    if response.status != 200 {
        // An undecodable error body still yields the status-inferred error.
        let body = body::decode(encoding, &response.body, options.max_response_bytes).unwrap_or_default();
        return Err(Error::Connect(error_body::parse(response.status, &body)));
    }
    let expected = content_type(options.codec);
    let actual = header(&response.headers, "content-type").unwrap_or_default();
    let base = actual.split(';').next().unwrap_or_default().trim();
    if !base.eq_ignore_ascii_case(expected) {
        return Err(transport(
            ErrorCode::Internal,
            format!("unexpected response content-type {actual:?} (expected {expected})"),
        ));
    }
    let bytes = body::decode(encoding, &response.body, options.max_response_bytes)?;
    let codec = options.codec;
    let route = route(method);
    let bytes = bytes.as_slice();
    Ok(match method {
        RpcMethod::CreateVm => {
            RpcResponse::CreateVm(create_response_from_proto(decode_message(bytes, codec, route)?))
        }
        RpcMethod::DeleteVm => {
            RpcResponse::DeleteVm(delete_response_from_proto(decode_message(bytes, codec, route)?))
        }
        RpcMethod::BootVm => {
            RpcResponse::BootVm(boot_response_from_proto(decode_message(bytes, codec, route)?))
        }
        RpcMethod::ShutdownVm => {
            RpcResponse::ShutdownVm(shutdown_response_from_proto(decode_message(bytes, codec, route)?))
        }
        RpcMethod::PauseVm => {
            RpcResponse::PauseVm(pause_response_from_proto(decode_message(bytes, codec, route)?))
        }
        RpcMethod::ResumeVm => {
            RpcResponse::ResumeVm(resume_response_from_proto(decode_message(bytes, codec, route)?))
        }
        RpcMethod::RebootVm => {
            RpcResponse::RebootVm(reboot_response_from_proto(decode_message(bytes, codec, route)?))
        }
        RpcMethod::GetVmInfo => {
            RpcResponse::GetVmInfo(vm_info_response_from_proto(decode_message(bytes, codec, route)?))
        }
        RpcMethod::ListVms => {
            RpcResponse::ListVms(list_response_from_proto(decode_message(bytes, codec, route)?))
        }
    })
}

#[cfg(test)]
mod tests;
