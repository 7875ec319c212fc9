//! The one table from a `wasi:http` error code, and the phase of the exchange that reported
//! it, to what the caller is told: the Connect code, how far the request got (which decides
//! "outcome unknown" and whether a retry is safe, see [`super::outcome_unknown`] and
//! [`super::retry_safe`]) and the cause in words.
//!
//! Its cases are `testdata/transport-errors.json`, read by this crate's tests and by the Go
//! host's (`go/transport`). How the hosts choose codes (`host/src/transport/errors.rs`,
//! `go/transport/errors.go`): `connection-refused` means the server did not process the
//! request — a refused TCP connection, an HTTP/2 stream refused with REFUSED_STREAM, a
//! stream above a GOAWAY's last-stream-id, a request never written to its connection — so it
//! is safe to retry, writes included (RFC 9113 §8.7).

use alloc::format;
use alloc::string::String;

use super::Stage;
use crate::bindings::wasi::http::types::ErrorCode as HttpError;
use crate::model::ErrorCode;

/// Where in an exchange a `wasi:http` error was reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `outgoing-handler.handle` refused the request: nothing went out.
    Handle,
    /// Sending the request or waiting for the response head: the response future, the
    /// request body stream, `outgoing-body.finish`.
    Request,
    /// Reading the response body.
    Response,
}

impl Phase {
    /// How far a request got when a failure that depends on timing was reported in this
    /// phase.
    fn stage(self) -> Stage {
        match self {
            Phase::Handle => Stage::NotSent,
            Phase::Request => Stage::Sent,
            Phase::Response => Stage::Receiving,
        }
    }
}

/// What a `wasi:http` error means for the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classified {
    /// The Connect code reported.
    pub code: ErrorCode,
    /// How far the request got.
    pub stage: Stage,
    /// The cause, for the message.
    pub cause: String,
}

/// The table. Every code has its own row: a code a host adds later is a compile error here,
/// not a silent `internal`.
pub fn classify(error: &HttpError, phase: Phase) -> Classified {
    use ErrorCode as C;
    use HttpError as E;
    // Nothing reached the server, whatever the phase that reported it.
    let not_sent = Stage::NotSent;
    // The timing decides: before `handle` returned nothing went out; afterwards the
    // request may have reached the server; while reading the body, the server answered.
    let by_phase = phase.stage();
    // The server's answer had begun, so it saw the request.
    let answered = Stage::Receiving;
    let (code, stage, cause): (ErrorCode, Stage, String) = match error {
        E::DnsTimeout => (C::Unavailable, not_sent, "DNS lookup timed out".into()),
        E::DnsError(p) => {
            let rcode = p.rcode.as_deref().unwrap_or("no answer");
            (C::Unavailable, not_sent, format!("DNS lookup failed ({rcode})"))
        }
        E::DestinationNotFound => (C::Unavailable, not_sent, "destination not found".into()),
        E::DestinationUnavailable => (C::Unavailable, not_sent, "destination unreachable".into()),
        E::DestinationIpUnroutable => (C::Unavailable, not_sent, "destination address unroutable".into()),
        E::DestinationIpProhibited => {
            (C::PermissionDenied, not_sent, "destination address prohibited by the host".into())
        }
        E::ConnectionRefused => (
            C::Unavailable,
            not_sent,
            "connection refused, or the request refused unprocessed (is metald running there?)".into(),
        ),
        E::ConnectionLimitReached => (C::Unavailable, not_sent, "host connection limit reached".into()),
        E::ConnectionTimeout => (C::DeadlineExceeded, not_sent, "connect timed out".into()),
        E::ConnectionTerminated => (C::Unavailable, by_phase, "connection closed by the server".into()),
        E::ConnectionReadTimeout | E::ConnectionWriteTimeout | E::HttpResponseTimeout => {
            (C::DeadlineExceeded, by_phase, "timed out waiting for the server".into())
        }
        E::TlsProtocolError => (C::Unauthenticated, not_sent, "TLS handshake failed".into()),
        E::TlsCertificateError => (C::Unauthenticated, not_sent, "TLS certificate rejected".into()),
        E::TlsAlertReceived(p) => {
            let alert = p.alert_message.as_deref().unwrap_or("alert received");
            (C::Unauthenticated, not_sent, format!("TLS: {alert}"))
        }
        E::HttpRequestDenied => {
            (C::PermissionDenied, not_sent, "request denied by the host's outbound policy".into())
        }
        E::HttpRequestLengthRequired
        | E::HttpRequestMethodInvalid
        | E::HttpRequestUriInvalid
        | E::HttpRequestUriTooLong => {
            (C::Internal, not_sent, format!("the host refused the request ({error:?})"))
        }
        E::HttpRequestHeaderSectionSize(_) | E::HttpRequestHeaderSize(_) => {
            (C::ResourceExhausted, not_sent, "request headers over the host's limit".into())
        }
        E::HttpRequestBodySize(_) | E::HttpRequestTrailerSectionSize(_) | E::HttpRequestTrailerSize(_) => {
            (C::Internal, by_phase, format!("the host refused the request body ({error:?})"))
        }
        E::HttpResponseIncomplete => {
            (C::Unavailable, by_phase.max(Stage::Sent), "response ended early".into())
        }
        E::HttpResponseHeaderSectionSize(_) | E::HttpResponseHeaderSize(_) => {
            (C::ResourceExhausted, answered, "response headers over the host's limit".into())
        }
        E::HttpResponseBodySize(_) => {
            (C::ResourceExhausted, answered, "response body over the host's limit".into())
        }
        E::HttpResponseTrailerSectionSize(_) | E::HttpResponseTrailerSize(_) => {
            (C::ResourceExhausted, answered, "response trailers over the host's limit".into())
        }
        E::HttpResponseTransferCoding(coding) | E::HttpResponseContentCoding(coding) => {
            let coding = coding.as_deref().unwrap_or("unknown");
            (C::Internal, answered, format!("response coding {coding:?} not supported by the host"))
        }
        E::HttpUpgradeFailed => (C::Internal, by_phase, "HTTP upgrade failed".into()),
        E::HttpProtocolError => (C::Unavailable, by_phase, "HTTP protocol error".into()),
        E::LoopDetected => (C::Unavailable, by_phase, "a proxy detected a request loop".into()),
        E::ConfigurationError => (C::Internal, not_sent, "the host's HTTP configuration is invalid".into()),
        E::InternalError(Some(message)) => (C::Unknown, by_phase, message.clone()),
        E::InternalError(None) => (C::Unknown, by_phase, "the host failed the request".into()),
    };
    let stage = match phase {
        // `handle` refusing a request means nothing went out, whatever the code says.
        Phase::Handle => Stage::NotSent,
        Phase::Request => stage,
        // The response head had arrived: the server saw the request, whatever the code says.
        Phase::Response => Stage::Receiving,
    };
    Classified { code, stage, cause }
}
