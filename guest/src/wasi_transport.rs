//! [`Transport`] over `wasi:http/outgoing-handler`, with every wait bounded by the call's
//! deadline (a `wasi:clocks` pollable polled beside the I/O pollable).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::bindings::wasi::clocks::monotonic_clock;
use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode as HttpError, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions,
    Scheme, http_error_code,
};
use crate::bindings::wasi::io::poll::{Pollable, poll};
use crate::bindings::wasi::io::streams::StreamError;
use crate::call::{Failure, Stage, Transport};
use crate::codec::{HttpRequest, HttpResponse};
use crate::model::ErrorCode;

/// Bytes asked for per read of the response body.
const READ_CHUNK: u64 = 64 * 1024;

/// The component's transport: the host's `wasi:http` implementation.
pub struct WasiTransport {
    state: u64,
}

impl WasiTransport {
    /// A transport whose jitter is seeded from the clock.
    pub fn new() -> Self {
        WasiTransport { state: monotonic_clock::now() | 1 }
    }
}

impl Transport for WasiTransport {
    fn now(&self) -> u64 {
        monotonic_clock::now()
    }

    fn sleep_until(&mut self, until: u64) {
        monotonic_clock::subscribe_instant(until).block();
    }

    fn entropy(&mut self) -> u64 {
        // xorshift64: jitter needs spread, not secrecy.
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    fn exchange(
        &mut self,
        request: &HttpRequest,
        deadline: u64,
        max_body: u32,
    ) -> Result<HttpResponse, Failure> {
        let timer = monotonic_clock::subscribe_instant(deadline);
        Exchange { authority: "", deadline, timer }.run(request, max_body)
    }
}

/// One request/response exchange. Pollables are made once and reused: every `wasi` call
/// crosses into the host, and a request already takes a few dozen of them.
struct Exchange<'a> {
    authority: &'a str,
    deadline: u64,
    /// Ready once the deadline has passed.
    timer: Pollable,
}

impl<'a> Exchange<'a> {
    fn run(mut self, request: &'a HttpRequest, max_body: u32) -> Result<HttpResponse, Failure> {
        let (scheme, authority, path) = split_url(&request.url).ok_or_else(|| {
            fail(ErrorCode::Internal, format!("malformed URL {:?}", request.url), Stage::NotSent)
        })?;
        self.authority = authority;
        let entries: Vec<(String, Vec<u8>)> =
            request.headers.iter().map(|(k, v)| (k.clone(), v.clone().into_bytes())).collect();
        let fields = Fields::from_list(&entries).map_err(|e| {
            fail(ErrorCode::Internal, format!("the host refused a request header: {e:?}"), Stage::NotSent)
        })?;
        let outgoing = OutgoingRequest::new(fields);
        let set = [
            outgoing.set_method(&Method::Post),
            outgoing.set_scheme(Some(&scheme)),
            outgoing.set_authority(Some(authority)),
            outgoing.set_path_with_query(Some(path)),
        ];
        if set.iter().any(Result::is_err) {
            return Err(fail(
                ErrorCode::Internal,
                format!("the host refused the URL {:?}", request.url),
                Stage::NotSent,
            ));
        }
        let body = outgoing
            .body()
            .map_err(|()| fail(ErrorCode::Internal, "request body unavailable".into(), Stage::NotSent))?;
        let future = outgoing_handler::handle(outgoing, Some(self.request_options()))
            .map_err(|code| self.http_failure(&code, Stage::NotSent))?;
        let written = self.write_body(body, &request.body);
        if !self.wait(&future.subscribe()) {
            return Err(written.err().unwrap_or_else(|| self.deadline_failure(Stage::Sent)));
        }
        // When the host refused or failed the request, its body stream closes too; the
        // response future then carries the real cause.
        let response = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(self.http_failure(&code, Stage::Sent)),
            Some(Err(())) | None => {
                return Err(fail(ErrorCode::Internal, "response future consumed twice".into(), Stage::Sent));
            }
        };
        written?;
        let status = response.status();
        let headers: Vec<(String, String)> = response
            .headers()
            .entries()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect();
        let declared =
            crate::codec::header(&headers, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|len| len > u64::from(max_body)) {
            return Err(self.too_large(max_body));
        }
        let incoming = response
            .consume()
            .map_err(|()| fail(ErrorCode::Internal, "response body unavailable".into(), Stage::Receiving))?;
        let body = self.read_body(&incoming, max_body)?;
        drop(IncomingBody::finish(incoming));
        Ok(HttpResponse { status, headers, body })
    }

    fn request_options(&self) -> RequestOptions {
        let options = RequestOptions::new();
        let remaining = Some(self.deadline.saturating_sub(monotonic_clock::now()).max(1));
        // A host may refuse a timeout; the deadline is enforced here either way.
        let _ = options.set_connect_timeout(remaining);
        let _ = options.set_first_byte_timeout(remaining);
        let _ = options.set_between_bytes_timeout(remaining);
        options
    }

    /// Waits for `pollable` until the deadline; false when the deadline came first.
    fn wait(&self, pollable: &Pollable) -> bool {
        poll(&[pollable, &self.timer]).contains(&0)
    }

    fn write_body(&self, body: OutgoingBody, bytes: &[u8]) -> Result<(), Failure> {
        let stream = body.write().map_err(|()| {
            fail(ErrorCode::Internal, "request body stream unavailable".into(), Stage::NotSent)
        })?;
        let ready = stream.subscribe();
        let mut offset = 0;
        while offset < bytes.len() {
            let writable = stream.check_write().map_err(|e| self.stream_failure(e, Stage::Sent))?;
            if writable == 0 {
                if !self.wait(&ready) {
                    return Err(self.deadline_failure(Stage::Sent));
                }
                continue;
            }
            let end = bytes.len().min(offset + usize::try_from(writable).unwrap_or(usize::MAX));
            stream.write(&bytes[offset..end]).map_err(|e| self.stream_failure(e, Stage::Sent))?;
            offset = end;
        }
        // Once every byte is written, a closed stream only means the host has the whole body.
        match stream.flush() {
            Ok(()) | Err(StreamError::Closed) => {}
            Err(e) => return Err(self.stream_failure(e, Stage::Sent)),
        }
        loop {
            match stream.check_write() {
                Ok(0) => {
                    if !self.wait(&ready) {
                        return Err(self.deadline_failure(Stage::Sent));
                    }
                }
                Ok(_) | Err(StreamError::Closed) => break,
                Err(e) => return Err(self.stream_failure(e, Stage::Sent)),
            }
        }
        drop(ready);
        drop(stream);
        OutgoingBody::finish(body, None).map_err(|code| self.http_failure(&code, Stage::Sent))
    }

    fn read_body(&self, incoming: &IncomingBody, max_body: u32) -> Result<Vec<u8>, Failure> {
        let stream = incoming.stream().map_err(|()| {
            fail(ErrorCode::Internal, "response body stream unavailable".into(), Stage::Receiving)
        })?;
        let ready = stream.subscribe();
        let mut body = Vec::new();
        loop {
            match stream.read(READ_CHUNK) {
                Ok(chunk) if chunk.is_empty() => {
                    if !self.wait(&ready) {
                        return Err(self.deadline_failure(Stage::Receiving));
                    }
                }
                Ok(chunk) => {
                    if body.len() + chunk.len() > max_body as usize {
                        return Err(self.too_large(max_body));
                    }
                    body.extend_from_slice(&chunk);
                }
                Err(StreamError::Closed) => return Ok(body),
                Err(error) => return Err(self.stream_failure(error, Stage::Receiving)),
            }
        }
    }

    fn too_large(&self, max_body: u32) -> Failure {
        let message = format!("response from {} is larger than the {max_body}-byte limit", self.authority);
        fail(ErrorCode::ResourceExhausted, message, Stage::Receiving)
    }

    fn deadline_failure(&self, stage: Stage) -> Failure {
        fail(
            ErrorCode::DeadlineExceeded,
            format!("no complete response from {} before the deadline", self.authority),
            stage,
        )
    }

    fn stream_failure(&self, error: StreamError, stage: Stage) -> Failure {
        match error {
            StreamError::Closed => {
                fail(ErrorCode::Unavailable, format!("connection to {} closed early", self.authority), stage)
            }
            StreamError::LastOperationFailed(e) => match http_error_code(&e) {
                Some(code) => self.http_failure(&code, stage),
                None => fail(
                    ErrorCode::Unavailable,
                    format!("{}: {}", self.authority, e.to_debug_string()),
                    stage,
                ),
            },
        }
    }

    /// Maps a `wasi:http` error to a Connect code, keeping the cause in the message.
    fn http_failure(&self, error: &HttpError, stage: Stage) -> Failure {
        use ErrorCode as C;
        use HttpError as E;
        let (code, stage, cause): (ErrorCode, Stage, String) = match error {
            E::DnsTimeout => (C::Unavailable, Stage::NotSent, "DNS lookup timed out".into()),
            E::DnsError(p) => (C::Unavailable, Stage::NotSent, format!("DNS lookup failed ({:?})", p.rcode)),
            E::DestinationNotFound | E::DestinationUnavailable | E::DestinationIpUnroutable => {
                (C::Unavailable, Stage::NotSent, "destination unreachable".into())
            }
            E::DestinationIpProhibited => {
                (C::PermissionDenied, Stage::NotSent, "destination address prohibited by the host".into())
            }
            E::ConnectionRefused => {
                (C::Unavailable, Stage::NotSent, "connection refused (is metald running there?)".into())
            }
            E::ConnectionLimitReached => {
                (C::Unavailable, Stage::NotSent, "host connection limit reached".into())
            }
            E::ConnectionTimeout => (C::DeadlineExceeded, Stage::NotSent, "connect timed out".into()),
            E::ConnectionTerminated => (C::Unavailable, stage, "connection closed by the server".into()),
            E::ConnectionReadTimeout | E::ConnectionWriteTimeout | E::HttpResponseTimeout => {
                (C::DeadlineExceeded, stage, "timed out waiting for the server".into())
            }
            E::TlsProtocolError => (C::Unauthenticated, Stage::NotSent, "TLS handshake failed".into()),
            E::TlsCertificateError => (C::Unauthenticated, Stage::NotSent, "TLS certificate rejected".into()),
            E::TlsAlertReceived(p) => {
                let alert = p.alert_message.clone().unwrap_or_default();
                (C::Unauthenticated, Stage::NotSent, format!("TLS: {alert}"))
            }
            E::HttpRequestDenied => {
                (C::PermissionDenied, Stage::NotSent, "request denied by the host's outbound policy".into())
            }
            E::HttpResponseIncomplete => (C::Unavailable, Stage::Receiving, "response ended early".into()),
            E::HttpResponseHeaderSectionSize(_) | E::HttpResponseHeaderSize(_) => {
                (C::ResourceExhausted, Stage::Receiving, "response headers over the host's limit".into())
            }
            E::HttpResponseBodySize(_) => {
                (C::ResourceExhausted, Stage::Receiving, "response body over the host's limit".into())
            }
            E::HttpProtocolError => (C::Unavailable, stage, "HTTP protocol error".into()),
            E::InternalError(Some(m)) => (C::Unknown, stage, m.clone()),
            other => (C::Internal, stage, format!("{other:?}")),
        };
        fail(code, format!("{}: {cause}", self.authority), stage)
    }
}

fn fail(code: ErrorCode, message: String, stage: Stage) -> Failure {
    Failure { code, message, stage }
}

/// `scheme://authority/path` as the pieces `wasi:http` wants.
fn split_url(url: &str) -> Option<(Scheme, &str, &str)> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else {
        (Scheme::Http, url.strip_prefix("http://")?)
    };
    let slash = rest.find('/')?;
    Some((scheme, &rest[..slash], &rest[slash..]))
}
