//! [`Transport`] over `wasi:http/outgoing-handler`, with every wait bounded by the call's
//! deadline (a `wasi:clocks` pollable polled beside the I/O pollables).
//!
//! One exchange is one loop: write what the request body stream takes, take the response
//! head when it is there, read what the response body has, and when none of the three can
//! move, block in `wasi:io/poll` on exactly the pollables of the steps that wait, plus the
//! deadline. A step that is not waiting is never polled, so a pollable that stays ready
//! without news (a closed stream, a consumed future) cannot turn the loop into a spin.
//! Upload and answer proceed together: a server may answer before it has read the whole
//! request (an early `401`), and that complete answer is what the caller gets.
//!
//! Every `wasi:*` call crosses into the host (`Client::host_calls` in the host counts them),
//! so the loop makes as few as `wasi:io` allows: a body of at most 4096 bytes (every unary
//! request this SDK sends) goes out in one `blocking-write-and-flush`, whose contract
//! accepts up to 4096 bytes; a step is retried only after `poll` says its pollable is
//! ready; the response body is read before a pollable is made for it, which a response
//! that arrived whole never needs; and the request options carry only the connect timeout
//! (the deadline pollable bounds the rest).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::bindings::wasi::clocks::monotonic_clock;
use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode as HttpError, Fields, FutureIncomingResponse, IncomingBody, IncomingResponse, Method,
    OutgoingBody, OutgoingRequest, RequestOptions, Scheme, http_error_code,
};
use crate::bindings::wasi::io::poll::{Pollable, poll};
use crate::bindings::wasi::io::streams::{InputStream, OutputStream, StreamError};
use crate::call::http_errors::{Phase, classify};
use crate::call::{Failure, Stage, Transport};
use crate::codec::{HttpRequest, HttpResponse};
use crate::model::ErrorCode;

/// Bytes asked for per read of the response body.
const READ_CHUNK: u64 = 64 * 1024;

/// The most `blocking-write-and-flush` takes in one call (`wasi:io/streams`).
const BLOCKING_WRITE_MAX: usize = 4096;

/// The component's transport: the host's `wasi:http` implementation.
pub struct WasiTransport {
    /// xorshift64 state; 0 until the first [`Transport::entropy`].
    state: u64,
}

impl WasiTransport {
    /// A transport whose jitter is seeded from the clock on first use (only a retry needs
    /// it: a call that succeeds at once reads no clock for it).
    pub fn new() -> Self {
        WasiTransport { state: 0 }
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
        if self.state == 0 {
            self.state = monotonic_clock::now() | 1;
        }
        // xorshift64: jitter needs spread, not secrecy.
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    fn exchange(
        &mut self,
        request: &HttpRequest,
        now: u64,
        deadline: u64,
        max_body: u32,
    ) -> Result<HttpResponse, Failure> {
        Exchange { authority: "", deadline, remaining: deadline.saturating_sub(now) }.run(request, max_body)
    }
}

/// One request/response exchange. Pollables are made once and reused, the I/O ones when
/// first waited on: every `wasi` call crosses into the host.
struct Exchange<'a> {
    authority: &'a str,
    /// Monotonic time by which the exchange must be over.
    deadline: u64,
    /// Nanoseconds from the exchange's start to its deadline.
    remaining: u64,
}

/// Whether a step can go on now or has to wait for its pollable.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// Waiting for the step's pollable.
    Blocked,
    /// Nothing more to wait for.
    Finished,
}

impl<'a> Exchange<'a> {
    fn run(mut self, request: &'a HttpRequest, max_body: u32) -> Result<HttpResponse, Failure> {
        let (scheme, authority, path) = split_url(&request.url).ok_or_else(|| {
            fail(ErrorCode::Internal, format!("malformed URL {:?}", request.url), Stage::NotSent)
        })?;
        self.authority = authority;
        // Ready once the deadline has passed. Made before the request, though only a wait
        // polls it: a host that does the I/O inside `get` and `read` bounds it by the
        // deadline the guest holds a pollable for (python/src/metald_client/_host.py,
        // `_guest_deadline`).
        let timer = monotonic_clock::subscribe_instant(self.deadline);
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
            .map_err(|code| self.http_failure(&code, Phase::Handle))?;
        let mut upload = Upload::new(body, &request.body, &self)?;
        // Declared parent first: locals drop in reverse, children before their parents.
        let head_ready = future.subscribe();
        let mut response: Option<Answer> = None;
        // Which steps `poll` said can move; every step is tried once before the first poll.
        // A host may answer at once: the Python host (python/src/metald_client/_host.py)
        // sends the request when the guest first asks for the response and never needs a
        // poll (wasmtime-py 50 traps lifting poll's list of borrowed pollables; README, Python).
        let mut upload_due = true;
        let mut head_due = true;
        let mut body_due = false;
        loop {
            let writing = if upload_due { upload.advance(&self) } else { upload.progress() };
            if response.is_none() {
                if head_due {
                    response = self.take_head(&future, max_body)?;
                    body_due = response.is_some();
                }
                if response.is_none()
                    && let Some(failure) = upload.failed_for_good()
                {
                    // The host could not take the body and will not say more about it.
                    return Err(failure);
                }
            }
            let reading = match &mut response {
                Some(answer) if body_due => answer.read(&self, max_body)?,
                _ => Progress::Blocked,
            };
            if reading == Progress::Finished {
                // A complete answer stands, whether or not the server read all we sent.
                upload.abandon();
                let Some(answer) = response else { unreachable!("reading needs an answer") };
                return Ok(answer.into_response());
            }
            // Nothing can move: block until one of the waiting steps, or the deadline, can.
            let mut waiting: Vec<&Pollable> = Vec::with_capacity(3);
            waiting.push(&timer);
            let upload_at = match upload.pollable() {
                Some(ready) if writing == Progress::Blocked => {
                    waiting.push(ready);
                    waiting.len() - 1
                }
                _ => usize::MAX,
            };
            let answer_at = waiting.len();
            waiting.push(match &mut response {
                Some(answer) => answer.pollable(),
                None => &head_ready,
            });
            let ready = poll(&waiting);
            if ready.contains(&0) {
                let stage = if response.is_some() { Stage::Receiving } else { Stage::Sent };
                return Err(self.deadline_failure(stage));
            }
            upload_due = ready.iter().any(|&i| i as usize == upload_at);
            let answer_moved = ready.iter().any(|&i| i as usize == answer_at);
            head_due = answer_moved && response.is_none();
            body_due = answer_moved && response.is_some();
        }
    }

    /// The response head, once the host has it; the host's error when the request failed.
    fn take_head(&self, future: &FutureIncomingResponse, max_body: u32) -> Result<Option<Answer>, Failure> {
        let response = match future.get() {
            None => return Ok(None),
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(self.http_failure(&code, Phase::Request)),
            Some(Err(())) => {
                return Err(fail(ErrorCode::Internal, "response future consumed twice".into(), Stage::Sent));
            }
        };
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
        let stream = incoming.stream().map_err(|()| {
            fail(ErrorCode::Internal, "response body stream unavailable".into(), Stage::Receiving)
        })?;
        Ok(Some(Answer {
            ready: None,
            stream,
            _incoming: incoming,
            _response: response,
            status,
            headers,
            body: Vec::new(),
        }))
    }

    /// The connect timeout: the time left. First-byte and between-bytes timeouts are not
    /// set: the deadline pollable bounds those waits, and dropping the response future ends
    /// the request in the host. The connect timeout is kept so that a host that lets a
    /// dropped request's connection attempt run on still gives up by the deadline.
    fn request_options(&self) -> RequestOptions {
        let options = RequestOptions::new();
        // A host may refuse a timeout; the deadline is enforced here either way.
        let _ = options.set_connect_timeout(Some(self.remaining.max(1)));
        options
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

    fn stream_failure(&self, error: StreamError, phase: Phase) -> Failure {
        match error {
            StreamError::Closed => fail(
                ErrorCode::Unavailable,
                format!("connection to {} closed early", self.authority),
                if phase == Phase::Response { Stage::Receiving } else { Stage::Sent },
            ),
            StreamError::LastOperationFailed(e) => match http_error_code(&e) {
                Some(code) => self.http_failure(&code, phase),
                None => fail(
                    ErrorCode::Unavailable,
                    format!("{}: {}", self.authority, e.to_debug_string()),
                    if phase == Phase::Response { Stage::Receiving } else { Stage::Sent },
                ),
            },
        }
    }

    /// A `wasi:http` error as the caller sees it (the table is [`classify`]), with the
    /// server's address in the message.
    fn http_failure(&self, error: &HttpError, phase: Phase) -> Failure {
        let classified = classify(error, phase);
        fail(classified.code, format!("{}: {}", self.authority, classified.cause), classified.stage)
    }
}

/// Where the request body is.
enum UploadState {
    /// Bytes left to write.
    Writing,
    /// Everything written and flushed; waiting for the host to take it.
    Flushing,
    /// Finished: the host has the whole body.
    Done,
    /// The host stopped taking the body. `closed`: the stream closed, which a host does when
    /// the request ended (failed, or answered); the response future then says how.
    Stopped { failure: Failure, closed: bool },
}

/// The request body being written. Fields drop in order: the pollable, then its stream,
/// then the body.
struct Upload<'b> {
    /// Made the first time the stream takes no more bytes.
    ready: Option<Pollable>,
    stream: Option<OutputStream>,
    body: Option<OutgoingBody>,
    bytes: &'b [u8],
    offset: usize,
    state: UploadState,
}

impl<'b> Upload<'b> {
    /// Opens the body's stream, or finishes an empty body at once without one.
    fn new(body: OutgoingBody, bytes: &'b [u8], exchange: &Exchange<'_>) -> Result<Self, Failure> {
        let stream = if bytes.is_empty() {
            None
        } else {
            Some(body.write().map_err(|()| {
                fail(ErrorCode::Internal, "request body stream unavailable".into(), Stage::NotSent)
            })?)
        };
        let empty = stream.is_none();
        let mut upload =
            Upload { ready: None, stream, body: Some(body), bytes, offset: 0, state: UploadState::Writing };
        if empty {
            upload.finish(exchange);
        }
        Ok(upload)
    }

    /// Where the upload stands, without asking the host.
    fn progress(&self) -> Progress {
        match self.state {
            UploadState::Writing | UploadState::Flushing => Progress::Blocked,
            UploadState::Done | UploadState::Stopped { .. } => Progress::Finished,
        }
    }

    /// Writes as much as the host takes now.
    fn advance(&mut self, exchange: &Exchange<'_>) -> Progress {
        loop {
            let Some(stream) = &self.stream else { return Progress::Finished };
            match self.state {
                UploadState::Writing if self.offset == 0 && self.bytes.len() <= BLOCKING_WRITE_MAX => {
                    // Check, write, flush and wait for the flush in one host call. A fresh
                    // body stream takes 4096 bytes without waiting on the network in every
                    // host this SDK ships; the connect timeout bounds the rest.
                    match stream.blocking_write_and_flush(self.bytes) {
                        Ok(()) => {
                            self.offset = self.bytes.len();
                            self.finish(exchange);
                        }
                        Err(e) => self.stop_on(exchange, e),
                    }
                }
                UploadState::Writing if self.offset == self.bytes.len() => {
                    // Once every byte is written, a closed stream only means the host has
                    // the whole body.
                    match stream.flush() {
                        Ok(()) | Err(StreamError::Closed) => self.state = UploadState::Flushing,
                        Err(e) => self.stop(exchange.stream_failure(e, Phase::Request), false),
                    }
                }
                UploadState::Writing => match stream.check_write() {
                    Ok(0) => return self.wait(),
                    Ok(writable) => {
                        let room = usize::try_from(writable).unwrap_or(usize::MAX);
                        let end = self.bytes.len().min(self.offset.saturating_add(room));
                        match stream.write(&self.bytes[self.offset..end]) {
                            Ok(()) => self.offset = end,
                            Err(e) => self.stop_on(exchange, e),
                        }
                    }
                    Err(e) => self.stop_on(exchange, e),
                },
                UploadState::Flushing => match stream.check_write() {
                    Ok(0) => return self.wait(),
                    Ok(_) | Err(StreamError::Closed) => self.finish(exchange),
                    Err(e) => self.stop(exchange.stream_failure(e, Phase::Request), false),
                },
                UploadState::Done | UploadState::Stopped { .. } => return Progress::Finished,
            }
        }
    }

    /// Blocked on the stream: makes its pollable, once.
    fn wait(&mut self) -> Progress {
        if self.ready.is_none()
            && let Some(stream) = &self.stream
        {
            self.ready = Some(stream.subscribe());
        }
        Progress::Blocked
    }

    fn stop_on(&mut self, exchange: &Exchange<'_>, error: StreamError) {
        let closed = matches!(error, StreamError::Closed);
        self.stop(exchange.stream_failure(error, Phase::Request), closed);
    }

    fn stop(&mut self, failure: Failure, closed: bool) {
        self.ready = None;
        self.stream = None;
        self.state = UploadState::Stopped { failure, closed };
    }

    fn finish(&mut self, exchange: &Exchange<'_>) {
        self.ready = None;
        self.stream = None;
        let Some(body) = self.body.take() else { return };
        match OutgoingBody::finish(body, None) {
            Ok(()) => self.state = UploadState::Done,
            Err(code) => {
                let failure = exchange.http_failure(&code, Phase::Request);
                self.state = UploadState::Stopped { failure, closed: false };
            }
        }
    }

    /// The failure of an upload that stopped for a reason of its own (not a closed stream):
    /// the host will not answer a request whose body it refused.
    fn failed_for_good(&self) -> Option<Failure> {
        match &self.state {
            UploadState::Stopped { failure, closed: false } => Some(failure.clone()),
            _ => None,
        }
    }

    /// The pollable to wait on while the stream takes no more bytes.
    fn pollable(&self) -> Option<&Pollable> {
        self.ready.as_ref()
    }

    /// Gives up on the rest of the body: finishing it short tells the host it is incomplete
    /// (it declared a `content-length`), so the host ends the request instead of sending
    /// a truncated body as if it were whole.
    fn abandon(&mut self) {
        self.ready = None;
        self.stream = None;
        if let Some(body) = self.body.take() {
            let _ = OutgoingBody::finish(body, None);
        }
    }
}

/// A response whose head has arrived. Fields drop in order: the pollable, its stream, the
/// body, the response.
struct Answer {
    /// Made the first time a read finds nothing yet: a body that came with the head never
    /// needs one.
    ready: Option<Pollable>,
    stream: InputStream,
    _incoming: IncomingBody,
    _response: IncomingResponse,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    /// Reads what the body has now; `Finished` at its end. The stream is read to its end
    /// even when a `content-length` says all bytes are in: a host may return a connection to
    /// its pool only after the body's end (the Python host does; test_transport.py,
    /// `test_a_read_is_retried_on_a_pooled_connection`).
    fn read(&mut self, exchange: &Exchange<'_>, max_body: u32) -> Result<Progress, Failure> {
        loop {
            match self.stream.read(READ_CHUNK) {
                Ok(chunk) if chunk.is_empty() => return Ok(Progress::Blocked),
                Ok(chunk) => {
                    if self.body.len() + chunk.len() > max_body as usize {
                        return Err(exchange.too_large(max_body));
                    }
                    self.body.extend_from_slice(&chunk);
                }
                Err(StreamError::Closed) => return Ok(Progress::Finished),
                Err(error) => return Err(exchange.stream_failure(error, Phase::Response)),
            }
        }
    }

    /// The pollable that says the body has more.
    fn pollable(&mut self) -> &Pollable {
        self.ready.get_or_insert_with(|| self.stream.subscribe())
    }

    fn into_response(self) -> HttpResponse {
        HttpResponse { status: self.status, headers: self.headers, body: self.body }
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
