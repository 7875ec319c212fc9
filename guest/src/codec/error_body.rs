//! Connect error responses: the JSON body `{code, message, details}`, or, when a proxy or
//! server sent something else, a code inferred from the HTTP status.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use serde_json::Value;

use crate::errors::{code_from_http_status, code_from_name};
use crate::model::{ConnectError, ErrorCode, ErrorDetail};

/// Standard alphabet, padding optional (Connect sends it unpadded; accept both).
const STANDARD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
/// URL-safe alphabet, padding optional.
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const SNIPPET_CHARS: usize = 200;

/// The Connect error a non-200 response carries. `body` is already content-decoded.
pub fn parse(status: u16, body: &[u8]) -> ConnectError {
    if let Some(error) = parse_json(status, body) {
        return error;
    }
    ConnectError {
        code: code_from_http_status(status),
        message: describe_body(status, body),
        details: Vec::new(),
        http_status: status,
    }
}

fn parse_json(status: u16, body: &[u8]) -> Option<ConnectError> {
    let Value::Object(object) = serde_json::from_slice::<Value>(body).ok()? else { return None };
    let code = object.get("code")?.as_str()?;
    Some(ConnectError {
        // A code the protocol does not define reads as `unknown`.
        code: code_from_name(code).unwrap_or(ErrorCode::Unknown),
        message: object.get("message").and_then(Value::as_str).unwrap_or_default().to_string(),
        details: object
            .get("details")
            .and_then(Value::as_array)
            .map(|d| d.iter().filter_map(detail).collect())
            .unwrap_or_default(),
        http_status: status,
    })
}

fn detail(value: &Value) -> Option<ErrorDetail> {
    let type_name = value.get("type")?.as_str()?.to_string();
    let encoded = value.get("value").and_then(Value::as_str).unwrap_or_default();
    let value = STANDARD
        .decode(encoded)
        .or_else(|_| URL_SAFE.decode(encoded))
        .or_else(|_| general_purpose::STANDARD.decode(encoded))
        .ok()?;
    Some(ErrorDetail { type_name, value })
}

/// A message for a body that is not a Connect error.
fn describe_body(status: u16, body: &[u8]) -> String {
    let text = core::str::from_utf8(body).unwrap_or("").trim();
    if body.is_empty() {
        format!("HTTP {status} with an empty body")
    } else if text.starts_with('<') {
        format!("HTTP {status} with an HTML body (probably from a proxy, not metald)")
    } else if text.is_empty() {
        format!("HTTP {status} with a {}-byte non-text body", body.len())
    } else {
        let line = text.lines().next().unwrap_or_default();
        let mut snippet: String = line.chars().take(SNIPPET_CHARS).collect();
        if snippet.len() < line.len() {
            snippet.push('…');
        }
        format!("HTTP {status}: {snippet}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::exports::metald::client::errors::CodeInfo;
    use crate::errors::codes;

    #[test]
    fn reads_every_connect_code_from_the_json_body() {
        for CodeInfo { code, name, .. } in codes() {
            let body = format!(r#"{{"code":"{name}","message":"m"}}"#);
            let error = parse(500, body.as_bytes());
            assert_eq!((error.code, error.message.as_str(), error.http_status), (code, "m", 500), "{name}");
        }
    }

    #[test]
    fn reads_details_with_padded_or_unpadded_base64_and_ignores_debug() {
        let body = br#"{"code":"not_found","message":"VM not found: ud-1","details":[
            {"type":"google.rpc.RetryInfo","value":"CgIIAQ","debug":{"x":1}},
            {"type":"a.B","value":"AQI="},
            {"type":"broken","value":"***"}]}"#;
        let error = parse(404, body);
        assert_eq!(error.code, ErrorCode::NotFound);
        assert_eq!(error.message, "VM not found: ud-1");
        assert_eq!(
            error.details,
            [
                ErrorDetail { type_name: "google.rpc.RetryInfo".into(), value: alloc::vec![10, 2, 8, 1] },
                ErrorDetail { type_name: "a.B".into(), value: alloc::vec![1, 2] },
            ]
        );
    }

    #[test]
    fn unknown_code_names_read_as_unknown() {
        assert_eq!(parse(400, br#"{"code":"exploded"}"#).code, ErrorCode::Unknown);
    }

    #[test]
    fn empty_body_gets_its_code_from_the_status() {
        let error = parse(404, b"");
        assert_eq!(
            (error.code, error.message.as_str()),
            (ErrorCode::Unimplemented, "HTTP 404 with an empty body")
        );
        assert_eq!(parse(415, b"").code, ErrorCode::Unknown);
        assert_eq!(parse(401, b"").code, ErrorCode::Unauthenticated);
    }

    #[test]
    fn html_body_gets_its_code_from_the_status() {
        let error = parse(502, b"<html><body>Bad Gateway</body></html>");
        assert_eq!(error.code, ErrorCode::Unavailable);
        assert_eq!(error.message, "HTTP 502 with an HTML body (probably from a proxy, not metald)");
    }

    #[test]
    fn plain_text_body_is_quoted_in_the_message() {
        let error = parse(503, b"upstream overloaded\nretry later");
        assert_eq!(
            (error.code, error.message.as_str()),
            (ErrorCode::Unavailable, "HTTP 503: upstream overloaded")
        );
        let long = "x".repeat(500);
        assert!(parse(500, long.as_bytes()).message.ends_with("x…"));
    }

    #[test]
    fn json_without_a_code_is_not_a_connect_error() {
        let error = parse(400, br#"{"message":"nope"}"#);
        assert_eq!(error.code, ErrorCode::Internal);
        assert!(error.message.starts_with("HTTP 400: "));
    }
}
