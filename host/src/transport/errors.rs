//! hyper-util and rustls failures as `wasi:http` error codes, keeping the cause.

use std::error::Error as StdError;
use std::io::ErrorKind;

use wasmtime_wasi_http::Error as HttpError;

use super::body::SetupTimeout;

pub use crate::error::chain;

fn sources<'a>(error: &'a (dyn StdError + 'static)) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&e| e.source())
}

/// The rustls error anywhere in `error`'s chain, including inside `io::Error`s.
fn find_tls<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    sources(error).find_map(|cause| {
        cause.downcast_ref::<rustls::Error>().or_else(|| {
            let inner = cause.downcast_ref::<std::io::Error>()?.get_ref()?;
            find_tls(inner)
        })
    })
}

/// The code of a failed request (before a response arrived).
pub fn from_client_error(error: &hyper_util::client::legacy::Error) -> HttpError {
    if let Some(tls) = find_tls(error) {
        return tls_error(tls);
    }
    if sources(error).any(|cause| cause.downcast_ref::<SetupTimeout>().is_some()) {
        return HttpError::ConnectionTimeout;
    }
    if let Some(io) = sources(error).find_map(|cause| cause.downcast_ref::<std::io::Error>()) {
        return io_error(io);
    }
    if let Some(hyper) = sources(error).find_map(|cause| cause.downcast_ref::<hyper::Error>()) {
        return hyper_error(hyper);
    }
    HttpError::InternalError(Some(chain(error)))
}

/// The code of a failed response body.
pub fn from_body_error(error: &hyper::Error) -> HttpError {
    if let Some(tls) = find_tls(error) {
        return tls_error(tls);
    }
    let broken = |io: &std::io::Error| {
        matches!(
            io.kind(),
            ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe
                | ErrorKind::UnexpectedEof
        )
    };
    if error.is_incomplete_message()
        || sources(error).filter_map(|cause| cause.downcast_ref::<std::io::Error>()).any(broken)
    {
        return HttpError::HttpResponseIncomplete;
    }
    hyper_error(error)
}

fn tls_error(error: &rustls::Error) -> HttpError {
    tls_failure(error.to_string())
}

/// A TLS failure; the message carries the cause (unknown issuer, SPIFFE ID not authorized,
/// alert received, ...) and the component reports it as `unauthenticated`.
fn tls_failure(message: String) -> HttpError {
    HttpError::TlsAlertReceived { alert_id: None, alert_message: Some(message) }
}

fn io_error(error: &std::io::Error) -> HttpError {
    match error.kind() {
        ErrorKind::ConnectionRefused => HttpError::ConnectionRefused,
        ErrorKind::TimedOut => HttpError::ConnectionTimeout,
        ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe
        | ErrorKind::UnexpectedEof => HttpError::ConnectionTerminated,
        // The TLS layer reports what it refuses (a received alert, a bad record) this way,
        // sometimes with the rustls error already turned into text.
        ErrorKind::InvalidData => tls_failure(error.to_string()),
        ErrorKind::AddrNotAvailable | ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
            HttpError::DestinationUnavailable
        }
        _ if error.to_string().contains("failed to lookup address") => {
            HttpError::DnsError { rcode: Some(error.to_string()), info_code: None }
        }
        _ => HttpError::InternalError(Some(error.to_string())),
    }
}

fn hyper_error(error: &hyper::Error) -> HttpError {
    if error.is_timeout() {
        HttpError::HttpResponseTimeout
    } else if error.is_parse_too_large() {
        HttpError::HttpResponseHeaderSectionSize(None)
    } else if error.is_incomplete_message() || error.is_closed() || error.is_canceled() {
        HttpError::ConnectionTerminated
    } else if error.is_parse() || error.is_parse_status() {
        HttpError::HttpProtocolError
    } else {
        HttpError::InternalError(Some(chain(error)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_rustls_errors_inside_io_errors() {
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired);
        let io = std::io::Error::new(ErrorKind::InvalidData, alert);
        assert!(find_tls(&io).is_some());
        let nested = std::io::Error::other(io);
        assert!(find_tls(&nested).is_some());
    }
}
