//! Building [`Error`] values, and the Connect code tables.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use crate::model::{Error, ErrorCode, TransportError, ValidationIssue};

/// A validation issue for `field`.
pub fn issue(field: impl Into<String>, message: impl Into<String>) -> ValidationIssue {
    ValidationIssue { field: field.into(), message: message.into() }
}

/// An `invalid-config` error with a single issue.
pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
    Error::InvalidConfig(vec![issue(field, message)])
}

/// `Ok(())` when there are no issues, else `invalid-config` with all of them.
pub fn issues_to_result(issues: Vec<ValidationIssue>) -> Result<(), Error> {
    if issues.is_empty() { Ok(()) } else { Err(Error::InvalidConfig(issues)) }
}

/// A transport error.
pub fn transport(code: ErrorCode, message: impl Into<String>) -> Error {
    Error::Transport(TransportError { code, message: message.into(), outcome_unknown: false })
}

/// Every Connect code with its wire name, in gRPC number order (1..=16).
pub const CODES: [(ErrorCode, &str); 16] = [
    (ErrorCode::Canceled, "canceled"),
    (ErrorCode::Unknown, "unknown"),
    (ErrorCode::InvalidArgument, "invalid_argument"),
    (ErrorCode::DeadlineExceeded, "deadline_exceeded"),
    (ErrorCode::NotFound, "not_found"),
    (ErrorCode::AlreadyExists, "already_exists"),
    (ErrorCode::PermissionDenied, "permission_denied"),
    (ErrorCode::ResourceExhausted, "resource_exhausted"),
    (ErrorCode::FailedPrecondition, "failed_precondition"),
    (ErrorCode::Aborted, "aborted"),
    (ErrorCode::OutOfRange, "out_of_range"),
    (ErrorCode::Unimplemented, "unimplemented"),
    (ErrorCode::Internal, "internal"),
    (ErrorCode::Unavailable, "unavailable"),
    (ErrorCode::DataLoss, "data_loss"),
    (ErrorCode::Unauthenticated, "unauthenticated"),
];

/// The wire name of a code (`not_found`).
pub fn code_name(code: ErrorCode) -> &'static str {
    CODES.iter().find(|(c, _)| *c == code).map_or("unknown", |(_, name)| name)
}

/// The code of a wire name; `None` for names Connect does not define.
pub fn code_from_name(name: &str) -> Option<ErrorCode> {
    CODES.iter().find(|(_, n)| *n == name).map(|(code, _)| *code)
}

/// The code a client infers from an HTTP status when the body carries no Connect error.
pub fn code_from_http_status(status: u16) -> ErrorCode {
    match status {
        400 => ErrorCode::Internal,
        401 => ErrorCode::Unauthenticated,
        403 => ErrorCode::PermissionDenied,
        404 => ErrorCode::Unimplemented,
        429 | 502 | 503 | 504 => ErrorCode::Unavailable,
        _ => ErrorCode::Unknown,
    }
}

/// A one-line rendering of an error, for people (`not_found: VM not found: ud-…`).
pub fn describe(error: &Error) -> String {
    match error {
        Error::Connect(e) => alloc::format!("{}: {}", code_name(e.code), e.message),
        Error::Transport(e) => alloc::format!("{}: {}", code_name(e.code), e.message),
        Error::InvalidConfig(issues) => {
            let parts: Vec<String> =
                issues.iter().map(|i| alloc::format!("{}: {}", i.field, i.message)).collect();
            alloc::format!("invalid config: {}", parts.join("; "))
        }
        Error::Other(message) => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_round_trip() {
        for (code, name) in CODES {
            assert_eq!(code_name(code), name);
            assert_eq!(code_from_name(name), Some(code));
        }
        assert_eq!(code_from_name("ok"), None);
        assert_eq!(code_from_name("NOT_FOUND"), None);
    }

    #[test]
    fn http_status_inference_follows_the_connect_table() {
        let table = [
            (400, ErrorCode::Internal),
            (401, ErrorCode::Unauthenticated),
            (403, ErrorCode::PermissionDenied),
            (404, ErrorCode::Unimplemented),
            (429, ErrorCode::Unavailable),
            (502, ErrorCode::Unavailable),
            (503, ErrorCode::Unavailable),
            (504, ErrorCode::Unavailable),
            (500, ErrorCode::Unknown),
            (418, ErrorCode::Unknown),
        ];
        for (status, code) in table {
            assert_eq!(code_from_http_status(status), code, "HTTP {status}");
        }
    }

    #[test]
    fn describe_names_code_and_fields() {
        assert_eq!(describe(&transport(ErrorCode::Unavailable, "refused")), "unavailable: refused");
        let error = Error::InvalidConfig(vec![issue("cpu", "missing"), issue("boot", "missing")]);
        assert_eq!(describe(&error), "invalid config: cpu: missing; boot: missing");
    }
}
