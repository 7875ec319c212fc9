//! hyper-util and rustls failures as `wasi:http` error codes, keeping the cause.

use std::error::Error as StdError;
use std::io::ErrorKind;

use wasmtime_wasi_http::Error as HttpError;

use super::body::SetupTimeout;

/// Every message in an error's source chain, joined.
pub fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

fn sources<'a>(error: &'a (dyn StdError + 'static)) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&e| e.source())
}

/// The code of a failed request (before a response arrived).
pub fn from_client_error(error: &hyper_util::client::legacy::Error) -> HttpError {
    for cause in sources(error) {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return tls_error(tls);
        }
        if cause.downcast_ref::<SetupTimeout>().is_some() {
            return HttpError::ConnectionTimeout;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if let Some(tls) = io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
                return tls_error(tls);
            }
            return io_error(io);
        }
        if let Some(hyper) = cause.downcast_ref::<hyper::Error>() {
            return hyper_error(hyper);
        }
    }
    HttpError::InternalError(Some(chain(error)))
}

/// The code of a failed response body.
pub fn from_body_error(error: &hyper::Error) -> HttpError {
    for cause in sources(error) {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if let Some(tls) = io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
                return tls_error(tls);
            }
            if matches!(
                io.kind(),
                ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
            ) {
                return HttpError::HttpResponseIncomplete;
            }
        }
    }
    hyper_error(error)
}

fn tls_error(error: &rustls::Error) -> HttpError {
    // The message carries the cause (unknown issuer, SPIFFE ID not authorized, alert
    // received, ...); the component reports it as `unauthenticated`.
    HttpError::TlsAlertReceived { alert_id: None, alert_message: Some(error.to_string()) }
}

fn io_error(error: &std::io::Error) -> HttpError {
    match error.kind() {
        ErrorKind::ConnectionRefused => HttpError::ConnectionRefused,
        ErrorKind::TimedOut => HttpError::ConnectionTimeout,
        ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe
        | ErrorKind::UnexpectedEof => HttpError::ConnectionTerminated,
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
