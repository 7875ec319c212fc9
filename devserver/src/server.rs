//! The listener: our own accept loop (HTTP/1.1 and h2c on one port, or TLS through an
//! [`Acceptor`]), and the middleware in front of the Connect service: legacy routes, fault
//! injection, and request/connection statistics.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use connectrpc::{ConnectRpcBody, ConnectRpcService};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};

use crate::faults::{Fault, Faults};
use crate::pb::VmServiceServer;
use crate::request_log::{RequestLog, RequestRecord};
use crate::service::VmServer;

/// Error type of response bodies (a broken body breaks the connection).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Response body of the middleware.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;
/// An accepted connection, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// A connection setup in progress.
pub type Accepting = Pin<Box<dyn Future<Output = std::io::Result<Box<dyn Io>>> + Send>>;

/// Turns an accepted TCP connection into the stream HTTP is served on (e.g. a TLS
/// handshake). The plain acceptor hands the TCP stream through.
pub trait Acceptor: Send + Sync + 'static {
    /// `http` or `https`.
    fn scheme(&self) -> &'static str;
    /// Completes the connection setup.
    fn accept(&self, stream: TcpStream) -> Accepting;
}

/// Plain HTTP (HTTP/1.1 and h2c prior knowledge).
pub struct PlainAcceptor;

impl Acceptor for PlainAcceptor {
    fn scheme(&self) -> &'static str {
        "http"
    }

    fn accept(
        &self,
        stream: TcpStream,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Box<dyn Io>>> + Send>> {
        Box::pin(async move { Ok(Box::new(stream) as Box<dyn Io>) })
    }
}

/// Which proto packages the routes are served under.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Routes {
    /// `metal.vmprovisioner.v1` (servers built from July 2025 on).
    #[default]
    Current,
    /// `vmprovisioner.v1` only (servers built before July 2025).
    Legacy,
    /// Both packages.
    Both,
}

/// Counters a test can read.
#[derive(Debug, Default)]
pub struct Stats {
    connections: AtomicU64,
    requests: AtomicU64,
    cancelled: AtomicU64,
    in_flight: AtomicU64,
}

/// A snapshot of [`Stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Connections accepted.
    pub connections: u64,
    /// Requests received.
    pub requests: u64,
    /// Requests whose client went away before the answer was complete.
    pub cancelled: u64,
    /// Requests being handled now.
    pub in_flight: u64,
}

impl Stats {
    /// Current values.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            connections: self.connections.load(Ordering::SeqCst),
            requests: self.requests.load(Ordering::SeqCst),
            cancelled: self.cancelled.load(Ordering::SeqCst),
            in_flight: self.in_flight.load(Ordering::SeqCst),
        }
    }
}

/// Counts a request as cancelled if it is dropped before [`InFlight::finish`].
struct InFlight(Option<Arc<Stats>>);

impl InFlight {
    fn new(stats: Arc<Stats>) -> Self {
        stats.requests.fetch_add(1, Ordering::SeqCst);
        stats.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(Some(stats))
    }

    fn finish(mut self) {
        if let Some(stats) = self.0.take() {
            stats.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(stats) = self.0.take() {
            stats.in_flight.fetch_sub(1, Ordering::SeqCst);
            stats.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The middleware in front of the Connect service, one per connection.
#[derive(Clone)]
struct Front {
    connect: ConnectRpcService<VmServiceServer<VmServer>>,
    routes: Routes,
    faults: Arc<Faults>,
    stats: Arc<Stats>,
    reset: Arc<Notify>,
    request_log: Option<Arc<RequestLog>>,
}

const CURRENT_PREFIX: &str = "/metal.vmprovisioner.v1.VmService/";
const LEGACY_PREFIX: &str = "/vmprovisioner.v1.VmService/";

fn plain(status: u16, content_type: &str, body: impl Into<Bytes>) -> http::Response<Body> {
    let body = Full::new(body.into()).map_err(|never: Infallible| match never {}).boxed_unsync();
    let mut response = http::Response::new(body);
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(http::header::CONTENT_TYPE, value);
    }
    response
}

/// A body that sends `first`, lets it reach the client, then fails, breaking the connection
/// mid-body.
fn broken_body(first: Bytes) -> Body {
    use futures_util::StreamExt;
    let sent = futures_util::stream::iter([Ok::<_, BoxError>(Frame::data(first))]);
    let broken = futures_util::stream::once(async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Err::<Frame<Bytes>, BoxError>("injected fault: connection broken mid-body".into())
    });
    StreamBody::new(sent.chain(broken)).boxed_unsync()
}

impl tower::Service<http::Request<Incoming>> for Front {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: http::Request<Incoming>) -> Self::Future {
        let path = request.uri().path().to_string();
        let guard = InFlight::new(self.stats.clone());
        let served = match self.routes {
            Routes::Current => path.starts_with(CURRENT_PREFIX),
            Routes::Legacy => path.starts_with(LEGACY_PREFIX),
            Routes::Both => path.starts_with(CURRENT_PREFIX) || path.starts_with(LEGACY_PREFIX),
        };
        if !served {
            guard.finish();
            // What connect servers answer for an unknown route: 404 with an empty body.
            return Box::pin(async { Ok(plain(404, "text/plain", Bytes::new())) });
        }
        if let Some(method) = path.strip_prefix(LEGACY_PREFIX)
            && let Ok(uri) = format!("{CURRENT_PREFIX}{method}").parse()
        {
            *request.uri_mut() = uri;
        }
        let rpc = path.rsplit('/').next().unwrap_or_default().to_string();
        let accept_encoding = request
            .headers()
            .get(http::header::ACCEPT_ENCODING)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let request_log = self.request_log.clone();
        let fault = self.faults.take(&rpc);
        let mut connect = self.connect.clone();
        let reset = self.reset.clone();
        Box::pin(async move {
            let response = match fault {
                Some(Fault::Unavailable(left)) => {
                    let body = format!(
                        r#"{{"code":"unavailable","message":"injected fault: unavailable ({left} more)"}}"#
                    );
                    plain(503, "application/json", body)
                }
                Some(Fault::Reset) => {
                    reset.notify_one();
                    std::future::pending::<()>().await;
                    unreachable!("the connection is dropped")
                }
                Some(Fault::Garbage) => {
                    plain(200, "application/proto", Bytes::from_static(b"\xff\xff\xff\xff\x0f garbage"))
                }
                Some(Fault::Oversized(size)) => plain(200, "application/proto", vec![0u8; size]),
                Some(Fault::WrongContentType) => {
                    plain(200, "text/html", "<html><body>hello from a proxy</body></html>")
                }
                Some(Fault::OversizedHeaders(size)) => {
                    let mut response = plain(200, "application/proto", Bytes::new());
                    if let Ok(value) = "x".repeat(size).parse() {
                        response.headers_mut().insert("x-padding", value);
                    }
                    response
                }
                other => {
                    if let Some(Fault::Latency(delay)) = other {
                        tokio::time::sleep(delay).await;
                    }
                    let Ok(response) = tower::Service::call(&mut connect, request).await;
                    let response = response
                        .map(|body: ConnectRpcBody| body.map_err(|never| match never {}).boxed_unsync());
                    match other {
                        Some(Fault::ResetMidBody) => break_mid_body(response).await,
                        Some(Fault::GzipMembers) => crate::rewrite::gzip_members(response).await,
                        Some(Fault::State(state)) => crate::rewrite::with_state(response, &rpc, state).await,
                        _ => response,
                    }
                }
            };
            guard.finish();
            if let Some(log) = request_log {
                log.record(RequestRecord {
                    rpc,
                    accept_encoding,
                    status: response.status().as_u16(),
                    content_encoding: response
                        .headers()
                        .get(http::header::CONTENT_ENCODING)
                        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
                });
            }
            Ok(response)
        })
    }
}

/// Keeps the status and headers, declares the full length, sends half, then breaks.
async fn break_mid_body(response: http::Response<Body>) -> http::Response<Body> {
    let (mut parts, body) = response.into_parts();
    let bytes = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    parts.headers.remove(http::header::CONTENT_ENCODING);
    if let Ok(length) = bytes.len().to_string().parse() {
        parts.headers.insert(http::header::CONTENT_LENGTH, length);
    }
    let half = bytes.slice(..bytes.len() / 2);
    http::Response::from_parts(parts, broken_body(half))
}

/// Serves connections from `listener` until `stop` changes.
pub(crate) async fn serve(
    listener: TcpListener,
    acceptor: Arc<dyn Acceptor>,
    front: FrontConfig,
    mut stop: watch::Receiver<bool>,
) {
    let connect = ConnectRpcService::new(VmServiceServer::new(front.service))
        .with_compression_policy(connectrpc::CompressionPolicy::default().with_min_size(0));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        front.stats.connections.fetch_add(1, Ordering::SeqCst);
        let _ = stream.set_nodelay(true);
        // A second handle on the socket, to make an injected reset a real TCP reset.
        let control = std::os::fd::AsFd::as_fd(&stream).try_clone_to_owned().ok();
        let reset = Arc::new(Notify::new());
        let service = Front {
            connect: connect.clone(),
            routes: front.routes,
            faults: front.faults.clone(),
            stats: front.stats.clone(),
            reset: reset.clone(),
            request_log: front.request_log.clone(),
        };
        let acceptor = acceptor.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let io = match acceptor.accept(stream).await {
                Ok(io) => io,
                Err(error) => {
                    tracing::info!(%peer, %error, "connection setup failed");
                    return;
                }
            };
            let builder = auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
            tokio::select! {
                result = connection => if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                },
                _ = reset.notified() => {
                    if let Some(control) = &control {
                        let _ = socket2::SockRef::from(control).set_linger(Some(Duration::ZERO));
                    }
                    tracing::info!(%peer, "injected fault: connection reset");
                }
                _ = stop.changed() => {}
            }
        });
    }
}

/// What the middleware needs.
pub(crate) struct FrontConfig {
    pub service: VmServer,
    pub routes: Routes,
    pub faults: Arc<Faults>,
    pub stats: Arc<Stats>,
    pub request_log: Option<Arc<RequestLog>>,
}

/// The address a server listens on.
pub fn url(scheme: &str, addr: SocketAddr) -> String {
    format!("{scheme}://{addr}")
}
