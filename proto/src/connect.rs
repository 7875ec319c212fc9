//! The Connect protocol's error codes and the text pieces every host uses to describe an
//! error, in one place (<https://connectrpc.com/docs/protocol#error-codes>).
//!
//! The component exports these through its `errors` interface (wit/errors.wit); native Rust
//! code uses them directly.

use alloc::string::String;

/// A Connect error code. The discriminant is the gRPC number (1..=16); Connect has no `ok`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Code {
    /// `canceled` (1)
    Canceled = 1,
    /// `unknown` (2)
    Unknown = 2,
    /// `invalid_argument` (3)
    InvalidArgument = 3,
    /// `deadline_exceeded` (4)
    DeadlineExceeded = 4,
    /// `not_found` (5)
    NotFound = 5,
    /// `already_exists` (6)
    AlreadyExists = 6,
    /// `permission_denied` (7)
    PermissionDenied = 7,
    /// `resource_exhausted` (8)
    ResourceExhausted = 8,
    /// `failed_precondition` (9)
    FailedPrecondition = 9,
    /// `aborted` (10)
    Aborted = 10,
    /// `out_of_range` (11)
    OutOfRange = 11,
    /// `unimplemented` (12)
    Unimplemented = 12,
    /// `internal` (13)
    Internal = 13,
    /// `unavailable` (14)
    Unavailable = 14,
    /// `data_loss` (15)
    DataLoss = 15,
    /// `unauthenticated` (16)
    Unauthenticated = 16,
}

/// Every code with its Connect name, in gRPC number order: the one table of code names.
pub const CODES: [(Code, &str); 16] = [
    (Code::Canceled, "canceled"),
    (Code::Unknown, "unknown"),
    (Code::InvalidArgument, "invalid_argument"),
    (Code::DeadlineExceeded, "deadline_exceeded"),
    (Code::NotFound, "not_found"),
    (Code::AlreadyExists, "already_exists"),
    (Code::PermissionDenied, "permission_denied"),
    (Code::ResourceExhausted, "resource_exhausted"),
    (Code::FailedPrecondition, "failed_precondition"),
    (Code::Aborted, "aborted"),
    (Code::OutOfRange, "out_of_range"),
    (Code::Unimplemented, "unimplemented"),
    (Code::Internal, "internal"),
    (Code::Unavailable, "unavailable"),
    (Code::DataLoss, "data_loss"),
    (Code::Unauthenticated, "unauthenticated"),
];

impl Code {
    /// The gRPC number (`not_found` is 5).
    pub fn number(self) -> u32 {
        self as u32
    }

    /// The Connect name (`not_found`).
    pub fn name(self) -> &'static str {
        CODES[usize::from(self as u8) - 1].1
    }

    /// The code of a Connect name; `None` for names Connect does not define (names are
    /// lower case with `_`: `NOT_FOUND` and `not-found` are not names).
    pub fn from_name(name: &str) -> Option<Code> {
        CODES.iter().find(|(_, n)| *n == name).map(|(code, _)| *code)
    }

    /// The code a client infers from an HTTP status when the body carries no Connect error
    /// (the protocol's "HTTP to error code" table).
    pub fn from_http_status(status: u16) -> Code {
        match status {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }
}

/// What [`describe_issues`] puts before the issues of an `invalid-config` error.
pub const INVALID_CONFIG_PREFIX: &str = "invalid config: ";

/// `code: message`, the description of a Connect or transport error (`not_found: VM not
/// found: ud-…`).
pub fn describe_code(code: Code, message: &str) -> String {
    let mut text = String::from(code.name());
    text.push_str(": ");
    text.push_str(message);
    text
}

/// `field: message; field: message`, the issues of an `invalid-config` error in order.
pub fn describe_issues<'a>(issues: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut text = String::new();
    for (i, (field, message)) in issues.into_iter().enumerate() {
        if i > 0 {
            text.push_str("; ");
        }
        text.push_str(field);
        text.push_str(": ");
        text.push_str(message);
    }
    text
}

/// `invalid config: field: message; …`, the description of an `invalid-config` error.
pub fn describe_invalid_config<'a>(issues: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut text = String::from(INVALID_CONFIG_PREFIX);
    text.push_str(&describe_issues(issues));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_holds_every_code_in_grpc_order() {
        for (i, (code, _)) in CODES.iter().enumerate() {
            assert_eq!(code.number() as usize, i + 1, "{code:?}");
        }
        assert_eq!(CODES.len(), 16, "Connect has 16 error codes (no `ok`)");
    }

    #[test]
    fn every_name_round_trips_and_only_connect_names_parse() {
        for (code, name) in CODES {
            assert_eq!(code.name(), name);
            assert_eq!(Code::from_name(name), Some(code));
        }
        for not_a_name in ["ok", "NOT_FOUND", "not-found", "", " not_found"] {
            assert_eq!(Code::from_name(not_a_name), None, "{not_a_name:?}");
        }
    }

    #[test]
    fn http_status_inference_follows_the_connect_table() {
        let table = [
            (400, Code::Internal),
            (401, Code::Unauthenticated),
            (403, Code::PermissionDenied),
            (404, Code::Unimplemented),
            (429, Code::Unavailable),
            (502, Code::Unavailable),
            (503, Code::Unavailable),
            (504, Code::Unavailable),
            (500, Code::Unknown),
            (418, Code::Unknown),
        ];
        for (status, code) in table {
            assert_eq!(Code::from_http_status(status), code, "HTTP {status}");
        }
    }

    #[test]
    fn descriptions_name_the_code_and_every_issue() {
        assert_eq!(describe_code(Code::NotFound, "VM not found: x"), "not_found: VM not found: x");
        assert_eq!(describe_issues([("cpu", "missing"), ("boot", "missing")]), "cpu: missing; boot: missing");
        assert_eq!(
            describe_invalid_config([("cpu", "missing"), ("boot", "missing")]),
            "invalid config: cpu: missing; boot: missing"
        );
        assert_eq!(describe_invalid_config([]), "invalid config: ");
    }
}
