//! Every failure the transport can see, as the `wasi:http` error code the component gets.
//!
//! Two steps: [`cause`] finds what went wrong in an error's chain (rustls, h2, hyper,
//! hyper-util, I/O, our own connect timeout), and [`code`] is the one table from that
//! cause and the [`Phase`] it happened in to a code. The codes mean to the component what
//! `guest/src/call/http_errors.rs` and `testdata/transport-errors.json` say; in particular:
//!
//! - `connection-refused` means **the server did not process the request**, so repeating it
//!   is safe, writes included: a refused TCP connect, a connection that broke before the
//!   request was written (during the TLS handshake), RST_STREAM(REFUSED_STREAM), a stream
//!   above the last-stream-id of a GOAWAY the server sent, or a request sent after it (RFC 9113
//!   §8.7), and a request hyper never wrote to its connection.
//! - `connection-terminated`: the connection broke while the request may have reached the
//!   server (its outcome is unknown); `HTTP-response-incomplete`: the answer had begun.
//! - TLS failures are `TLS-alert-received` with the cause in `alert-message`.
//! - Timeouts: `connection-timeout` (connect and TLS), `connection-read-timeout` (no answer
//!   before the first-byte timeout, a body stalled past the between-bytes timeout),
//!   `HTTP-response-timeout` (hyper's own).
//! - Our own refusals: `HTTP-request-denied` (the allow-list), `TLS-alert-received` (no client
//!   identity), `HTTP-response-header-section-size` (a head over the limit).
//! - `HTTP-protocol-error`: a malformed answer, or an HTTP/2 protocol error h2 detected.
//! - Anything else is `internal-error` with the error chain as its text.

use std::error::Error as StdError;
use std::io::ErrorKind;

use h2::Reason;
use wasmtime_wasi_http::Error as HttpError;

use super::connector::SetupTimeout;

pub use crate::error::chain;

/// Where in a request a failure happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Opening the connection (TCP, TLS): nothing of the request was written yet.
    Connect,
    /// Writing the request or waiting for the response head.
    Request,
    /// Reading the response body.
    ResponseBody,
}

/// What went wrong, in the terms the table needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The destination is not on the allow-list.
    Denied,
    /// The TLS provider has no client identity to present; why.
    NoIdentity(String),
    /// No response head before the first-byte timeout.
    NoAnswer,
    /// No response body bytes for the between-bytes timeout.
    Stalled,
    /// rustls refused something (the handshake, a certificate, an alert); its text.
    Tls(String),
    /// Connecting (TCP and TLS) took longer than the connect budget.
    SetupTimeout,
    /// Name resolution failed; its text.
    Dns(String),
    /// An I/O error of this kind; its text.
    Io(ErrorKind, String),
    /// The HTTP/2 server reset the stream with RST_STREAM(`reason`), or (`go_away`) the
    /// stream was above the last-stream-id of its GOAWAY(`reason`).
    H2Remote { reason: Reason, go_away: bool },
    /// h2 found the server broke the protocol and reset the stream or connection itself.
    H2Local(Reason),
    /// hyper never wrote the request to its connection (the connection closed or was not
    /// ready first).
    NotStarted,
    /// The connection closed before the response was complete.
    Incomplete,
    /// The response head is larger than allowed; its size when known.
    HeadTooLarge(Option<u32>),
    /// The response is not valid HTTP.
    Malformed,
    /// hyper's own timeout.
    Timeout,
    /// Anything else; the error chain.
    Other(String),
}

/// `error` and its causes. An `io::Error` wrapping another error reports that error's
/// source as its own, skipping the error itself; it is not skipped here.
fn sources<'a>(error: &'a (dyn StdError + 'static)) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&e| match e.downcast_ref::<std::io::Error>() {
        Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
        None => e.source(),
    })
}

/// The rustls error anywhere in `error`'s chain.
fn find_tls<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    sources(error).find_map(|cause| cause.downcast_ref::<rustls::Error>())
}

/// The most specific I/O error in the chain: the innermost of a kind other than `Other`,
/// else the first.
fn find_io<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a std::io::Error> {
    let all: Vec<&std::io::Error> =
        sources(error).filter_map(|e| e.downcast_ref::<std::io::Error>()).collect();
    all.iter().rev().find(|io| io.kind() != ErrorKind::Other).or(all.first()).copied()
}

/// What went wrong, from an error chain. Checked in order: TLS, our connect timeout, a
/// request hyper never started, h2, I/O, hyper.
pub fn cause(error: &(dyn StdError + 'static)) -> Cause {
    if let Some(tls) = find_tls(error) {
        return Cause::Tls(tls.to_string());
    }
    if sources(error).any(|e| e.is::<SetupTimeout>()) {
        return Cause::SetupTimeout;
    }
    let hyper = sources(error).find_map(|e| e.downcast_ref::<hyper::Error>());
    // Before the I/O error that made hyper give up on it: the request was never written.
    if hyper.is_some_and(hyper::Error::is_canceled) {
        return Cause::NotStarted;
    }
    if let Some(h2) = sources(error).find_map(|e| e.downcast_ref::<h2::Error>()) {
        if let Some(io) = h2.get_io() {
            return io_cause(io);
        }
        match h2.reason() {
            Some(reason) if h2.is_remote() => return Cause::H2Remote { reason, go_away: h2.is_go_away() },
            Some(reason) if h2.is_library() => return Cause::H2Local(reason),
            _ => return Cause::Other(chain(error)),
        }
    }
    if sources(error).any(|e| e.to_string().starts_with("dns error")) {
        return Cause::Dns(chain(error));
    }
    if let Some(io) = find_io(error) {
        return io_cause(io);
    }
    match hyper {
        Some(e) if e.is_timeout() => Cause::Timeout,
        Some(e) if e.is_parse_too_large() => Cause::HeadTooLarge(None),
        Some(e) if e.is_incomplete_message() || e.is_closed() => Cause::Incomplete,
        Some(e) if e.is_parse() || e.is_parse_status() => Cause::Malformed,
        _ => Cause::Other(chain(error)),
    }
}

fn io_cause(error: &std::io::Error) -> Cause {
    let text = error.to_string();
    if text.contains("failed to lookup address") { Cause::Dns(text) } else { Cause::Io(error.kind(), text) }
}

/// The TCP connection broke.
fn is_broken(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
            | ErrorKind::NotConnected
    )
}

/// The destination cannot be reached.
fn is_unreachable(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::AddrNotAvailable
            | ErrorKind::HostUnreachable
            | ErrorKind::NetworkUnreachable
            | ErrorKind::NetworkDown
    )
}

/// The table: what the component is told about `cause` in `phase`.
pub fn code(cause: &Cause, phase: Phase) -> HttpError {
    use Phase::{Connect, Request, ResponseBody};
    match (cause, phase) {
        (Cause::Denied, _) => HttpError::HttpRequestDenied,
        (Cause::NoIdentity(why), _) => tls_failure(format!("client identity unavailable: {why}")),
        (Cause::NoAnswer | Cause::Stalled, _) => HttpError::ConnectionReadTimeout,
        (Cause::Tls(message), _) => tls_failure(message.clone()),
        (Cause::SetupTimeout, _) => HttpError::ConnectionTimeout,
        (Cause::Dns(message), _) => HttpError::DnsError { rcode: Some(message.clone()), info_code: None },
        (Cause::Io(kind, text), _) => io_code(*kind, text, phase),
        // Once the answer has begun, the server processed the request.
        (Cause::H2Remote { .. }, ResponseBody) => HttpError::HttpResponseIncomplete,
        (Cause::H2Remote { go_away: true, .. }, _) => HttpError::ConnectionRefused,
        (Cause::H2Remote { reason, .. }, _) if *reason == Reason::REFUSED_STREAM => {
            HttpError::ConnectionRefused
        }
        (Cause::H2Remote { reason, .. }, _) if *reason == Reason::HTTP_1_1_REQUIRED => {
            HttpError::HttpProtocolError
        }
        (Cause::H2Remote { reason, .. }, _) if *reason == Reason::INADEQUATE_SECURITY => {
            HttpError::TlsProtocolError
        }
        (Cause::H2Remote { .. }, _) => HttpError::ConnectionTerminated,
        (Cause::H2Local(_), _) => HttpError::HttpProtocolError,
        (Cause::NotStarted, ResponseBody) => HttpError::HttpResponseIncomplete,
        (Cause::NotStarted, Connect | Request) => HttpError::ConnectionRefused,
        (Cause::Incomplete, Connect) => HttpError::ConnectionRefused,
        (Cause::Incomplete, Request) => HttpError::ConnectionTerminated,
        (Cause::Incomplete, ResponseBody) => HttpError::HttpResponseIncomplete,
        (Cause::HeadTooLarge(size), _) => HttpError::HttpResponseHeaderSectionSize(*size),
        (Cause::Malformed, _) => HttpError::HttpProtocolError,
        (Cause::Timeout, _) => HttpError::HttpResponseTimeout,
        (Cause::Other(text), _) => HttpError::InternalError(Some(text.clone())),
    }
}

fn io_code(kind: ErrorKind, text: &str, phase: Phase) -> HttpError {
    use Phase::{Connect, Request, ResponseBody};
    match (kind, phase) {
        (ErrorKind::TimedOut, Connect) => HttpError::ConnectionTimeout,
        (ErrorKind::TimedOut, Request | ResponseBody) => HttpError::ConnectionReadTimeout,
        // A body hyper could not decode (chunk sizes, lengths).
        (ErrorKind::InvalidData | ErrorKind::InvalidInput, ResponseBody) => HttpError::HttpProtocolError,
        (_, ResponseBody) => HttpError::HttpResponseIncomplete,
        // The TLS layer reports what it refuses (a received alert, a bad record) this way,
        // sometimes with the rustls error already turned into text.
        (ErrorKind::InvalidData, Connect | Request) => tls_failure(text.to_string()),
        (ErrorKind::ConnectionRefused, Connect | Request) => HttpError::ConnectionRefused,
        // Nothing of the request was written before the connection was up.
        (kind, Connect) if is_broken(kind) => HttpError::ConnectionRefused,
        (kind, Request) if is_broken(kind) || is_unreachable(kind) => HttpError::ConnectionTerminated,
        (kind, Connect) if is_unreachable(kind) => HttpError::DestinationUnavailable,
        (ErrorKind::PermissionDenied, Connect) => HttpError::DestinationIpProhibited,
        (_, Connect | Request) => HttpError::InternalError(Some(text.to_string())),
    }
}

/// A TLS failure; the message carries the cause (unknown issuer, SPIFFE ID not authorized,
/// alert received, ...) and the component reports it as `unauthenticated`.
fn tls_failure(message: String) -> HttpError {
    HttpError::TlsAlertReceived { alert_id: None, alert_message: Some(message) }
}

/// The code of a failed request (before a response head arrived).
pub fn from_client_error(error: &hyper_util::client::legacy::Error) -> HttpError {
    let phase = if error.is_connect() { Phase::Connect } else { Phase::Request };
    code(&cause(error), phase)
}

/// The code of a failed response body.
pub fn from_body_error(error: &hyper::Error) -> HttpError {
    code(&cause(error), Phase::ResponseBody)
}

#[cfg(test)]
mod tests {
    use super::*;

    type E = HttpError;

    fn io(kind: ErrorKind) -> Cause {
        Cause::Io(kind, format!("{kind:?}"))
    }

    fn remote(reason: Reason, go_away: bool) -> Cause {
        Cause::H2Remote { reason, go_away }
    }

    /// The table, row by row: (cause, code when connecting, when requesting, when reading
    /// the body).
    #[test]
    fn every_cause_maps_to_its_code_in_every_phase() {
        let tls = || tls_failure("invalid peer certificate: UnknownIssuer".into());
        let dns = || E::DnsError { rcode: Some("dns error: no such host".into()), info_code: None };
        let other = || E::InternalError(Some("odd".into()));
        let no_identity = || tls_failure("client identity unavailable: socket gone".into());
        #[rustfmt::skip]
        let table: Vec<(Cause, [E; 3])> = vec![
            (Cause::Tls("invalid peer certificate: UnknownIssuer".into()), [tls(), tls(), tls()]),
            (Cause::SetupTimeout, [E::ConnectionTimeout, E::ConnectionTimeout, E::ConnectionTimeout]),
            (Cause::Dns("dns error: no such host".into()), [dns(), dns(), dns()]),
            (io(ErrorKind::ConnectionRefused), [E::ConnectionRefused, E::ConnectionRefused, E::HttpResponseIncomplete]),
            (io(ErrorKind::TimedOut), [E::ConnectionTimeout, E::ConnectionReadTimeout, E::ConnectionReadTimeout]),
            (io(ErrorKind::ConnectionReset), [E::ConnectionRefused, E::ConnectionTerminated, E::HttpResponseIncomplete]),
            (io(ErrorKind::ConnectionAborted), [E::ConnectionRefused, E::ConnectionTerminated, E::HttpResponseIncomplete]),
            (io(ErrorKind::BrokenPipe), [E::ConnectionRefused, E::ConnectionTerminated, E::HttpResponseIncomplete]),
            (io(ErrorKind::UnexpectedEof), [E::ConnectionRefused, E::ConnectionTerminated, E::HttpResponseIncomplete]),
            (io(ErrorKind::NotConnected), [E::ConnectionRefused, E::ConnectionTerminated, E::HttpResponseIncomplete]),
            (io(ErrorKind::HostUnreachable), [E::DestinationUnavailable, E::ConnectionTerminated, E::HttpResponseIncomplete]),
            (io(ErrorKind::NetworkUnreachable), [E::DestinationUnavailable, E::ConnectionTerminated, E::HttpResponseIncomplete]),
            (io(ErrorKind::NetworkDown), [E::DestinationUnavailable, E::ConnectionTerminated, E::HttpResponseIncomplete]),
            (io(ErrorKind::AddrNotAvailable), [E::DestinationUnavailable, E::ConnectionTerminated, E::HttpResponseIncomplete]),
            (io(ErrorKind::PermissionDenied), [E::DestinationIpProhibited, E::InternalError(Some("PermissionDenied".into())), E::HttpResponseIncomplete]),
            (io(ErrorKind::InvalidData), [tls_failure("InvalidData".into()), tls_failure("InvalidData".into()), E::HttpProtocolError]),
            (io(ErrorKind::InvalidInput), [E::InternalError(Some("InvalidInput".into())), E::InternalError(Some("InvalidInput".into())), E::HttpProtocolError]),
            (io(ErrorKind::Other), [E::InternalError(Some("Other".into())), E::InternalError(Some("Other".into())), E::HttpResponseIncomplete]),
            (remote(Reason::REFUSED_STREAM, false), [E::ConnectionRefused, E::ConnectionRefused, E::HttpResponseIncomplete]),
            (remote(Reason::NO_ERROR, true), [E::ConnectionRefused, E::ConnectionRefused, E::HttpResponseIncomplete]),
            (remote(Reason::ENHANCE_YOUR_CALM, true), [E::ConnectionRefused, E::ConnectionRefused, E::HttpResponseIncomplete]),
            (remote(Reason::PROTOCOL_ERROR, true), [E::ConnectionRefused, E::ConnectionRefused, E::HttpResponseIncomplete]),
            (remote(Reason::CANCEL, false), [E::ConnectionTerminated, E::ConnectionTerminated, E::HttpResponseIncomplete]),
            (remote(Reason::INTERNAL_ERROR, false), [E::ConnectionTerminated, E::ConnectionTerminated, E::HttpResponseIncomplete]),
            (remote(Reason::NO_ERROR, false), [E::ConnectionTerminated, E::ConnectionTerminated, E::HttpResponseIncomplete]),
            (remote(Reason::ENHANCE_YOUR_CALM, false), [E::ConnectionTerminated, E::ConnectionTerminated, E::HttpResponseIncomplete]),
            (remote(Reason::HTTP_1_1_REQUIRED, false), [E::HttpProtocolError, E::HttpProtocolError, E::HttpResponseIncomplete]),
            (remote(Reason::INADEQUATE_SECURITY, false), [E::TlsProtocolError, E::TlsProtocolError, E::HttpResponseIncomplete]),
            (Cause::H2Local(Reason::PROTOCOL_ERROR), [E::HttpProtocolError, E::HttpProtocolError, E::HttpProtocolError]),
            (Cause::H2Local(Reason::FRAME_SIZE_ERROR), [E::HttpProtocolError, E::HttpProtocolError, E::HttpProtocolError]),
            (Cause::H2Local(Reason::FLOW_CONTROL_ERROR), [E::HttpProtocolError, E::HttpProtocolError, E::HttpProtocolError]),
            (Cause::H2Local(Reason::COMPRESSION_ERROR), [E::HttpProtocolError, E::HttpProtocolError, E::HttpProtocolError]),
            (Cause::NotStarted, [E::ConnectionRefused, E::ConnectionRefused, E::HttpResponseIncomplete]),
            (Cause::Incomplete, [E::ConnectionRefused, E::ConnectionTerminated, E::HttpResponseIncomplete]),
            (Cause::HeadTooLarge(None), [E::HttpResponseHeaderSectionSize(None), E::HttpResponseHeaderSectionSize(None), E::HttpResponseHeaderSectionSize(None)]),
            (Cause::HeadTooLarge(Some(70_000)), [E::HttpResponseHeaderSectionSize(Some(70_000)), E::HttpResponseHeaderSectionSize(Some(70_000)), E::HttpResponseHeaderSectionSize(Some(70_000))]),
            (Cause::Denied, [E::HttpRequestDenied, E::HttpRequestDenied, E::HttpRequestDenied]),
            (Cause::NoIdentity("socket gone".into()), [no_identity(), no_identity(), no_identity()]),
            (Cause::NoAnswer, [E::ConnectionReadTimeout, E::ConnectionReadTimeout, E::ConnectionReadTimeout]),
            (Cause::Stalled, [E::ConnectionReadTimeout, E::ConnectionReadTimeout, E::ConnectionReadTimeout]),
            (Cause::Malformed, [E::HttpProtocolError, E::HttpProtocolError, E::HttpProtocolError]),
            (Cause::Timeout, [E::HttpResponseTimeout, E::HttpResponseTimeout, E::HttpResponseTimeout]),
            (Cause::Other("odd".into()), [other(), other(), other()]),
        ];
        let mut wrong = Vec::new();
        for (cause, codes) in &table {
            for (phase, want) in [Phase::Connect, Phase::Request, Phase::ResponseBody].into_iter().zip(codes)
            {
                let got = code(cause, phase);
                if format!("{got:?}") != format!("{want:?}") {
                    wrong.push(format!("{cause:?} in {phase:?}: got {got:?}, want {want:?}"));
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    /// Every HTTP/2 error code (RFC 9113 §7), as the server's RST_STREAM, as the reason of
    /// a GOAWAY the request was above, and as a protocol error h2 found, before the answer.
    #[test]
    fn every_h2_reason_maps_to_its_code() {
        let reasons = [
            (Reason::NO_ERROR, E::ConnectionTerminated),
            (Reason::PROTOCOL_ERROR, E::ConnectionTerminated),
            (Reason::INTERNAL_ERROR, E::ConnectionTerminated),
            (Reason::FLOW_CONTROL_ERROR, E::ConnectionTerminated),
            (Reason::SETTINGS_TIMEOUT, E::ConnectionTerminated),
            (Reason::STREAM_CLOSED, E::ConnectionTerminated),
            (Reason::FRAME_SIZE_ERROR, E::ConnectionTerminated),
            (Reason::REFUSED_STREAM, E::ConnectionRefused),
            (Reason::CANCEL, E::ConnectionTerminated),
            (Reason::COMPRESSION_ERROR, E::ConnectionTerminated),
            (Reason::CONNECT_ERROR, E::ConnectionTerminated),
            (Reason::ENHANCE_YOUR_CALM, E::ConnectionTerminated),
            (Reason::INADEQUATE_SECURITY, E::TlsProtocolError),
            (Reason::HTTP_1_1_REQUIRED, E::HttpProtocolError),
        ];
        assert_eq!(reasons.len(), 14, "RFC 9113 defines 0x0 to 0xd");
        for (number, (reason, reset)) in reasons.into_iter().enumerate() {
            assert_eq!(u32::from(reason), u32::try_from(number).unwrap());
            let got = code(&remote(reason, false), Phase::Request);
            assert_eq!(format!("{got:?}"), format!("{reset:?}"), "RST_STREAM({reason:?})");
            let got = code(&remote(reason, true), Phase::Request);
            assert!(matches!(got, E::ConnectionRefused), "above GOAWAY({reason:?}): {got:?}");
            let got = code(&Cause::H2Local(reason), Phase::Request);
            assert!(matches!(got, E::HttpProtocolError), "h2 found {reason:?}: {got:?}");
            let got = code(&remote(reason, false), Phase::ResponseBody);
            assert!(matches!(got, E::HttpResponseIncomplete), "RST_STREAM({reason:?}) mid-body: {got:?}");
        }
    }

    #[test]
    fn not_processed_is_connection_refused_and_nothing_that_may_have_been_processed_is() {
        // The causes that prove the server did not process the request.
        let not_processed = [
            (io(ErrorKind::ConnectionRefused), Phase::Connect),
            (io(ErrorKind::ConnectionReset), Phase::Connect),
            (remote(Reason::REFUSED_STREAM, false), Phase::Request),
            (remote(Reason::NO_ERROR, true), Phase::Request),
            (Cause::NotStarted, Phase::Request),
        ];
        for (cause, phase) in not_processed {
            assert!(matches!(code(&cause, phase), E::ConnectionRefused), "{cause:?} in {phase:?}");
        }
        let maybe_processed = [
            io(ErrorKind::ConnectionReset),
            io(ErrorKind::UnexpectedEof),
            remote(Reason::CANCEL, false),
            remote(Reason::NO_ERROR, false),
            Cause::H2Local(Reason::PROTOCOL_ERROR),
            Cause::Incomplete,
            Cause::Other("odd".into()),
        ];
        for cause in maybe_processed {
            for phase in [Phase::Request, Phase::ResponseBody] {
                assert!(!matches!(code(&cause, phase), E::ConnectionRefused), "{cause:?} in {phase:?}");
            }
        }
    }

    #[test]
    fn causes_are_found_anywhere_in_the_chain() {
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired);
        let io_alert = std::io::Error::new(ErrorKind::InvalidData, alert);
        assert!(find_tls(&io_alert).is_some());
        let nested = std::io::Error::other(io_alert);
        assert!(
            matches!(cause(&nested), Cause::Tls(ref m) if m.contains("CertificateRequired")),
            "{:?}",
            cause(&nested)
        );

        let timeout = std::io::Error::other(SetupTimeout(std::time::Duration::from_secs(10)));
        assert_eq!(cause(&timeout), Cause::SetupTimeout);

        let refused = std::io::Error::new(ErrorKind::ConnectionRefused, "connection refused");
        assert_eq!(
            cause(&std::io::Error::other(refused)),
            Cause::Io(ErrorKind::ConnectionRefused, "connection refused".into())
        );

        let dns = std::io::Error::other("failed to lookup address information: Name or service not known");
        assert!(matches!(cause(&dns), Cause::Dns(_)));

        // A reason on its own (hyper makes these) is neither the server's nor h2's finding.
        let made: h2::Error = Reason::INTERNAL_ERROR.into();
        assert!(matches!(cause(&made), Cause::Other(_)));

        assert!(matches!(cause(&std::fmt::Error), Cause::Other(_)));
    }
}
