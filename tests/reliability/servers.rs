//! Servers that misbehave where the dev server (hyper's server) cannot: HTTP/2 frames chosen
//! by hand (RST_STREAM(REFUSED_STREAM), GOAWAY with a given last-stream-id) and raw HTTP/1.1
//! answers written before the request body has arrived. Requests they do not fault are
//! forwarded to a dev server, so a retried CreateVm really creates a VM there.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// RST_STREAM(REFUSED_STREAM) and GOAWAY error codes (RFC 9113 §7).
pub const NO_ERROR: u32 = 0x0;
/// The peer is generating excessive load.
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// What an [`H2Server`] does wrong.
#[derive(Clone, Copy, Debug)]
pub enum H2Fault {
    /// Answers the first `n` streams (over all connections) with RST_STREAM(REFUSED_STREAM).
    RefuseStreams(usize),
    /// Answers the first request of the first connection, after `delay`, with
    /// GOAWAY(`reason`, `last_stream_id`), leaves that stream unanswered and the connection
    /// open.
    GoAwayFirst { last_stream_id: u32, reason: u32, delay: Duration },
}

/// What an [`H2Server`] saw.
#[derive(Debug, Default)]
pub struct H2Stats {
    /// TCP connections accepted.
    pub connections: AtomicUsize,
    /// Request streams opened by the client (HEADERS frames that start a stream).
    pub streams: AtomicUsize,
    /// Streams refused or left behind a GOAWAY.
    pub faulted: AtomicUsize,
    /// Requests forwarded to the dev server.
    pub forwarded: AtomicUsize,
}

/// An h2c server on 127.0.0.1 that applies one [`H2Fault`] and forwards every other request
/// to `upstream` (a dev server's `http://` URL) over HTTP/1.1.
pub struct H2Server {
    addr: SocketAddr,
    stats: Arc<H2Stats>,
    task: tokio::task::JoinHandle<()>,
}

impl H2Server {
    /// Starts the server.
    pub async fn start(fault: H2Fault, upstream: &str) -> H2Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(H2Stats::default());
        let refusals = Arc::new(AtomicUsize::new(match fault {
            H2Fault::RefuseStreams(n) => n,
            H2Fault::GoAwayFirst { .. } => 0,
        }));
        let upstream = upstream.trim_end_matches('/').to_string();
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        let task_stats = stats.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let _ = stream.set_nodelay(true);
                let index = task_stats.connections.fetch_add(1, Ordering::SeqCst);
                let stats = task_stats.clone();
                match fault {
                    H2Fault::GoAwayFirst { last_stream_id, reason, delay } if index == 0 => {
                        tokio::spawn(go_away_connection(stream, last_stream_id, reason, delay, stats));
                    }
                    _ => {
                        let refusals = refusals.clone();
                        let (client, upstream) = (client.clone(), upstream.clone());
                        tokio::spawn(proxy_connection(stream, refusals, client, upstream, stats));
                    }
                }
            }
        });
        H2Server { addr, stats, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What it saw.
    pub fn stats(&self) -> &H2Stats {
        &self.stats
    }
}

impl Drop for H2Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves one connection with the `h2` crate: refuses streams while `refusals` lasts,
/// forwards the rest.
async fn proxy_connection(
    stream: TcpStream,
    refusals: Arc<AtomicUsize>,
    client: Client<HttpConnector, Full<Bytes>>,
    upstream: String,
    stats: Arc<H2Stats>,
) {
    let Ok(mut connection) = h2::server::handshake(stream).await else { return };
    while let Some(accepted) = connection.accept().await {
        let Ok((request, mut respond)) = accepted else { return };
        stats.streams.fetch_add(1, Ordering::SeqCst);
        if refusals.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            stats.faulted.fetch_add(1, Ordering::SeqCst);
            respond.send_reset(h2::Reason::REFUSED_STREAM);
            continue;
        }
        stats.forwarded.fetch_add(1, Ordering::SeqCst);
        let (client, upstream) = (client.clone(), upstream.clone());
        tokio::spawn(async move {
            if forward(request, &mut respond, &client, &upstream).await.is_err() {
                respond.send_reset(h2::Reason::INTERNAL_ERROR);
            }
        });
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Sends `request` to `upstream` over HTTP/1.1 and its answer back over h2.
async fn forward(
    request: http::Request<h2::RecvStream>,
    respond: &mut h2::server::SendResponse<Bytes>,
    client: &Client<HttpConnector, Full<Bytes>>,
    upstream: &str,
) -> Result<(), BoxError> {
    let (parts, mut body) = request.into_parts();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut forwarded = http::Request::builder().method(parts.method).uri(format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        forwarded = forwarded.header(name, value);
    }
    let response = client.request(forwarded.body(Full::new(Bytes::from(bytes)))?).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    let mut head = http::Response::builder().status(parts.status);
    for (name, value) in &parts.headers {
        if !matches!(name.as_str(), "connection" | "keep-alive" | "transfer-encoding") {
            head = head.header(name, value);
        }
    }
    let mut send = respond.send_response(head.body(())?, body.is_empty())?;
    if !body.is_empty() {
        send.send_data(body, true)?;
    }
    Ok(())
}

const FRAME_HEADERS: u8 = 0x1;
const FRAME_SETTINGS: u8 = 0x4;
const FRAME_PING: u8 = 0x6;
const FRAME_GOAWAY: u8 = 0x7;
const FLAG_ACK: u8 = 0x1;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut out = vec![len[1], len[2], len[3], kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Speaks just enough HTTP/2 by hand to answer the first HEADERS frame, after `delay`, with
/// GOAWAY(`reason`, `last_stream_id`); then reads (and ignores) whatever comes until the
/// client closes, never answering.
async fn go_away_connection(
    mut stream: TcpStream,
    last_stream_id: u32,
    reason: u32,
    delay: Duration,
    stats: Arc<H2Stats>,
) {
    let mut preface = [0u8; 24];
    if stream.read_exact(&mut preface).await.is_err() {
        return;
    }
    if stream.write_all(&frame(FRAME_SETTINGS, 0, 0, &[])).await.is_err() {
        return;
    }
    let mut sent_go_away = false;
    loop {
        let mut head = [0u8; 9];
        if stream.read_exact(&mut head).await.is_err() {
            return;
        }
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let (kind, flags) = (head[3], head[4]);
        let mut payload = vec![0u8; len];
        if stream.read_exact(&mut payload).await.is_err() {
            return;
        }
        let reply = match kind {
            FRAME_SETTINGS if flags & FLAG_ACK == 0 => frame(FRAME_SETTINGS, FLAG_ACK, 0, &[]),
            FRAME_PING if flags & FLAG_ACK == 0 => frame(FRAME_PING, FLAG_ACK, 0, &payload),
            FRAME_HEADERS => {
                stats.streams.fetch_add(1, Ordering::SeqCst);
                if sent_go_away {
                    continue;
                }
                sent_go_away = true;
                stats.faulted.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                let mut body = last_stream_id.to_be_bytes().to_vec();
                body.extend_from_slice(&reason.to_be_bytes());
                frame(FRAME_GOAWAY, 0, 0, &body)
            }
            // DATA, WINDOW_UPDATE, PRIORITY, RST_STREAM, ...: ignored.
            _ => continue,
        };
        if stream.write_all(&reply).await.is_err() {
            return;
        }
    }
}

/// A listener on 127.0.0.1 whose connections have a small receive buffer, so that a client
/// writing a large body has to wait for the server to read it.
fn small_buffer_listener() -> TcpListener {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 << 10).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    socket.listen(16).unwrap()
}

/// An HTTP/1.1 server on 127.0.0.1 that answers every request with one fixed response as
/// soon as the request head has arrived, before reading the body.
pub struct EarlyAnswerServer {
    addr: SocketAddr,
    /// Request heads seen.
    pub requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

/// What an [`EarlyAnswerServer`] does after its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterAnswer {
    /// Shuts down its write side and, after a pause, reads the rest of the request until
    /// the client closes.
    ShutdownAndDrain(Duration),
    /// Keeps the connection open and reads nothing more.
    Stall,
}

impl EarlyAnswerServer {
    /// Starts the server; `response` is the whole HTTP/1.1 response, head and body.
    pub async fn start(response: Vec<u8>, after: AfterAnswer) -> EarlyAnswerServer {
        let response = Arc::new(response);
        let listener = small_buffer_listener();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else { return };
                let (seen, response) = (seen.clone(), response.clone());
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    let mut chunk = vec![0u8; 64 << 10];
                    while !buffer.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    }
                    seen.fetch_add(1, Ordering::SeqCst);
                    if stream.write_all(&response).await.is_err() {
                        return;
                    }
                    match after {
                        AfterAnswer::ShutdownAndDrain(pause) => {
                            let _ = stream.shutdown().await;
                            tokio::time::sleep(pause).await;
                            while let Ok(Ok(n)) =
                                tokio::time::timeout(Duration::from_secs(30), stream.read(&mut chunk)).await
                                && n > 0
                            {}
                        }
                        AfterAnswer::Stall => {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                        }
                    }
                });
            }
        });
        EarlyAnswerServer { addr, requests, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for EarlyAnswerServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An HTTP/1.1 server on 127.0.0.1 with a small receive buffer that pauses while reading the
/// request body, or while writing its answer's body, then answers every request with one
/// fixed response and closes.
pub struct SlowServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

/// Where a [`SlowServer`] pauses.
#[derive(Clone, Copy, Debug)]
pub enum Pause {
    /// After the request head, before reading the body.
    ReadingBody(Duration),
    /// After the response head and half its body.
    WritingBody(Duration),
}

impl SlowServer {
    /// Starts the server; `response` is the whole HTTP/1.1 response, head and body.
    pub async fn start(response: Vec<u8>, pause: Pause) -> SlowServer {
        let listener = small_buffer_listener();
        let addr = listener.local_addr().unwrap();
        let response = Arc::new(response);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else { return };
                let response = response.clone();
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    let mut chunk = vec![0u8; 64 << 10];
                    let head_end = loop {
                        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                            break at + 4;
                        }
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|line| line.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if let Pause::ReadingBody(pause) = pause {
                        tokio::time::sleep(pause).await;
                    }
                    let mut body = buffer.len() - head_end;
                    while body < length {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => body += n,
                        }
                    }
                    let split = match pause {
                        Pause::WritingBody(_) => {
                            let body_start = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                            body_start + (response.len() - body_start) / 2
                        }
                        Pause::ReadingBody(_) => response.len(),
                    };
                    if stream.write_all(&response[..split]).await.is_err() {
                        return;
                    }
                    if let Pause::WritingBody(pause) = pause {
                        tokio::time::sleep(pause).await;
                    }
                    let _ = stream.write_all(&response[split..]).await;
                    let _ = stream.shutdown().await;
                    while let Ok(Ok(n)) =
                        tokio::time::timeout(Duration::from_secs(30), stream.read(&mut chunk)).await
                        && n > 0
                    {}
                });
            }
        });
        SlowServer { addr, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for SlowServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A Connect error response: `401 unauthenticated` with `message`, `Connection: close`.
pub fn unauthenticated(message: &str) -> Vec<u8> {
    let body = format!(r#"{{"code":"unauthenticated","message":"{message}"}}"#);
    format!(
        "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
