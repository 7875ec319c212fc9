//! Building [`Error`] values, and the WIT side of the Connect code table and error
//! descriptions, whose one copy is [`metald_proto::connect`].

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use metald_proto::connect::{self, CODES, Code};

use crate::bindings::exports::metald::client::errors::CodeInfo;
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

/// The Connect code of a WIT `error-code`; the WIT enum lists the codes in gRPC order, and
/// this match is checked against [`metald_proto::connect::CODES`] by the tests.
pub fn to_connect(code: ErrorCode) -> Code {
    match code {
        ErrorCode::Canceled => Code::Canceled,
        ErrorCode::Unknown => Code::Unknown,
        ErrorCode::InvalidArgument => Code::InvalidArgument,
        ErrorCode::DeadlineExceeded => Code::DeadlineExceeded,
        ErrorCode::NotFound => Code::NotFound,
        ErrorCode::AlreadyExists => Code::AlreadyExists,
        ErrorCode::PermissionDenied => Code::PermissionDenied,
        ErrorCode::ResourceExhausted => Code::ResourceExhausted,
        ErrorCode::FailedPrecondition => Code::FailedPrecondition,
        ErrorCode::Aborted => Code::Aborted,
        ErrorCode::OutOfRange => Code::OutOfRange,
        ErrorCode::Unimplemented => Code::Unimplemented,
        ErrorCode::Internal => Code::Internal,
        ErrorCode::Unavailable => Code::Unavailable,
        ErrorCode::DataLoss => Code::DataLoss,
        ErrorCode::Unauthenticated => Code::Unauthenticated,
    }
}

/// The WIT `error-code` of a Connect code.
pub fn from_connect(code: Code) -> ErrorCode {
    match code {
        Code::Canceled => ErrorCode::Canceled,
        Code::Unknown => ErrorCode::Unknown,
        Code::InvalidArgument => ErrorCode::InvalidArgument,
        Code::DeadlineExceeded => ErrorCode::DeadlineExceeded,
        Code::NotFound => ErrorCode::NotFound,
        Code::AlreadyExists => ErrorCode::AlreadyExists,
        Code::PermissionDenied => ErrorCode::PermissionDenied,
        Code::ResourceExhausted => ErrorCode::ResourceExhausted,
        Code::FailedPrecondition => ErrorCode::FailedPrecondition,
        Code::Aborted => ErrorCode::Aborted,
        Code::OutOfRange => ErrorCode::OutOfRange,
        Code::Unimplemented => ErrorCode::Unimplemented,
        Code::Internal => ErrorCode::Internal,
        Code::Unavailable => ErrorCode::Unavailable,
        Code::DataLoss => ErrorCode::DataLoss,
        Code::Unauthenticated => ErrorCode::Unauthenticated,
    }
}

/// Every code in gRPC number order, for `errors.codes`.
pub fn codes() -> Vec<CodeInfo> {
    CODES
        .iter()
        .map(|(code, name)| CodeInfo {
            code: from_connect(*code),
            name: (*name).into(),
            number: code.number(),
        })
        .collect()
}

/// The Connect name of a code (`not_found`).
pub fn code_name(code: ErrorCode) -> &'static str {
    to_connect(code).name()
}

/// The code of a Connect name; `None` for names Connect does not define.
pub fn code_from_name(name: &str) -> Option<ErrorCode> {
    Code::from_name(name).map(from_connect)
}

/// The code a client infers from an HTTP status when the body carries no Connect error.
pub fn code_from_http_status(status: u16) -> ErrorCode {
    from_connect(Code::from_http_status(status))
}

/// `field: message; …` for validation issues.
pub fn describe_issues(issues: &[ValidationIssue]) -> String {
    connect::describe_issues(issues.iter().map(|i| (i.field.as_str(), i.message.as_str())))
}

/// A one-line rendering of an error, for people (`not_found: VM not found: ud-…`).
pub fn describe(error: &Error) -> String {
    match error {
        Error::Connect(e) => connect::describe_code(to_connect(e.code), &e.message),
        Error::Transport(e) => connect::describe_code(to_connect(e.code), &e.message),
        Error::InvalidConfig(issues) => {
            connect::describe_invalid_config(issues.iter().map(|i| (i.field.as_str(), i.message.as_str())))
        }
        Error::Other(message) => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ConnectError, ErrorCode};

    #[test]
    fn the_code_table_is_complete_and_in_grpc_order() {
        let table = codes();
        assert_eq!(table.len(), 16);
        for (i, info) in table.iter().enumerate() {
            assert_eq!(info.number as usize, i + 1, "{}", info.name);
            assert_eq!(info.name, CODES[i].1);
            assert_eq!(to_connect(info.code), CODES[i].0);
        }
        assert_eq!(table[4].code, ErrorCode::NotFound);
        assert_eq!(table[4].name, "not_found");
    }

    #[test]
    fn every_code_name_round_trips() {
        for info in codes() {
            assert_eq!(code_name(info.code), info.name);
            assert_eq!(code_from_name(&info.name), Some(info.code));
            assert_eq!(from_connect(to_connect(info.code)), info.code);
        }
        assert_eq!(code_from_name("ok"), None);
        assert_eq!(code_from_name("NOT_FOUND"), None);
        assert_eq!(code_from_name("not-found"), None, "the WIT case name is not a Connect name");
    }

    #[test]
    fn http_statuses_map_through_the_connect_table() {
        assert_eq!(code_from_http_status(404), ErrorCode::Unimplemented);
        assert_eq!(code_from_http_status(503), ErrorCode::Unavailable);
        assert_eq!(code_from_http_status(500), ErrorCode::Unknown);
    }

    #[test]
    fn describe_names_the_code_or_every_field() {
        let connect = Error::Connect(ConnectError {
            code: ErrorCode::NotFound,
            message: "VM not found: ud-1".into(),
            details: Vec::new(),
            http_status: 404,
        });
        assert_eq!(describe(&connect), "not_found: VM not found: ud-1");
        assert_eq!(describe(&transport(ErrorCode::Unavailable, "refused")), "unavailable: refused");
        let error = Error::InvalidConfig(vec![issue("cpu", "missing"), issue("boot", "missing")]);
        assert_eq!(describe(&error), "invalid config: cpu: missing; boot: missing");
        assert_eq!(describe_issues(&[issue("cpu", "missing")]), "cpu: missing");
        assert_eq!(describe_issues(&[]), "");
        assert_eq!(describe(&Error::Other("component failed".into())), "component failed");
    }
}
