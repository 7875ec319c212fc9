//! The component's outbound HTTP, in two parts, as wasmtime's `WasiHttpHooks::send_request`
//! separates them: the hook ([`Hooks`], `hooks.rs`) applies the outbound policy (the
//! allow-list, `allow.rs`) and records one tracing span per request; the [`Transport`]
//! below only connects and sends: pooled hyper-util clients, one per client identity,
//! HTTP/2 by ALPN over TLS, h2c by prior knowledge as an option for `http://`, HTTP/1.1
//! otherwise, connect and TLS handshake timeouts (`connector.rs`), guarded response bodies
//! (`body.rs`) and the table of failures (`errors.rs`).

mod allow;
mod body;
mod connector;
mod errors;
mod hooks;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use allow::{AllowError, AllowList, AllowedHost, EntryProblem};
use errors::{Cause, Phase};
pub use hooks::Hooks;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

use crate::limits::Activity;
use crate::tls::{ClientIdentity, TlsProvider};

/// Outbound settings.
#[derive(Clone)]
pub struct TransportConfig {
    /// TLS identity and trust.
    pub tls: Arc<dyn TlsProvider>,
    /// Where the component may connect: the outbound policy, applied by the wasi-http hook
    /// ([`Hooks`]) before the transport sees a request.
    pub allow: AllowList,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// TLS handshake timeout.
    pub tls_handshake_timeout: Duration,
    /// Speak HTTP/2 without negotiation (h2c) to `http://` servers.
    pub http2_prior_knowledge: bool,
    /// How long an idle pooled connection is kept.
    pub idle_timeout: Duration,
    /// Idle connections kept per server.
    pub max_idle_per_host: usize,
    /// Largest response head (status line and headers), in bytes.
    pub max_response_header_bytes: usize,
    /// Used when the component sets no first-byte or between-bytes timeout.
    pub default_response_timeout: Duration,
}

impl TransportConfig {
    /// Defaults around `tls` and `allow`: 10 s connect, 10 s TLS handshake, HTTP/1.1 for
    /// `http://`, 90 s idle connections, 64 KiB response heads, 30 s response timeout.
    pub fn new(tls: Arc<dyn TlsProvider>, allow: AllowList) -> Self {
        TransportConfig {
            tls,
            allow,
            connect_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            http2_prior_knowledge: false,
            idle_timeout: Duration::from_secs(90),
            max_idle_per_host: 64,
            max_response_header_bytes: 64 << 10,
            default_response_timeout: Duration::from_secs(30),
        }
    }
}

/// Counters of the transport.
#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    denied: AtomicU64,
    connections: AtomicU64,
}

/// A snapshot of the transport's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Requests the component made (counted at the hook, denied ones included).
    pub requests: u64,
    /// Requests refused by the outbound policy (the allow-list).
    pub denied: u64,
    /// Connections opened (TCP, plus TLS where used).
    pub connections: u64,
}

type Connector = connector::CountingConnector<hyper_rustls::HttpsConnector<HttpConnector>>;
type PooledClient = Client<Connector, WasiBody>;

/// The connection pool of an identity: who we are and whom we trust.
fn pool_key(identity: &ClientIdentity) -> (String, String) {
    (identity.key.clone(), identity.trust.clone())
}

/// Pooled outbound HTTP shared by every instance of a runtime.
pub struct Transport {
    config: TransportConfig,
    pools: Mutex<HashMap<(String, String), PooledClient>>,
    counters: Arc<Counters>,
}

impl Transport {
    /// A transport with no connections yet.
    pub fn new(config: TransportConfig) -> Arc<Self> {
        Arc::new(Transport { config, pools: Mutex::new(HashMap::new()), counters: Arc::default() })
    }

    /// Current counters.
    pub fn stats(&self) -> TransportStats {
        TransportStats {
            requests: self.counters.requests.load(Ordering::Relaxed),
            denied: self.counters.denied.load(Ordering::Relaxed),
            connections: self.counters.connections.load(Ordering::Relaxed),
        }
    }

    /// The pooled client of `identity` and its trust revision, made on first use. Pools of
    /// identities or trust that have rotated away are dropped (their open connections close
    /// once idle): a connection is reused only while both the certificate it presented and
    /// the trust it verified the server with are current.
    fn client(&self, identity: &ClientIdentity) -> PooledClient {
        let key = pool_key(identity);
        let mut pools = self.pools.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(client) = pools.get(&key) {
            return client.clone();
        }
        pools.clear();
        let client = self.build_client(identity);
        pools.insert(key, client.clone());
        client
    }

    fn build_client(&self, identity: &ClientIdentity) -> PooledClient {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(self.config.connect_timeout));
        // hyper-rustls sets ALPN itself (h2, http/1.1) and refuses a config that has some.
        let mut tls = (*identity.config).clone();
        tls.alpn_protocols.clear();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);
        let connector = connector::CountingConnector::new(
            https,
            self.config.connect_timeout + self.config.tls_handshake_timeout,
            self.counters.clone(),
        );
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(self.config.idle_timeout)
            .pool_max_idle_per_host(self.config.max_idle_per_host)
            .http1_max_buf_size(self.config.max_response_header_bytes.max(8192))
            .http2_max_header_list_size(
                u32::try_from(self.config.max_response_header_bytes).unwrap_or(u32::MAX),
            );
        if self.config.http2_prior_knowledge {
            builder.http2_only(true);
        }
        builder.build(connector)
    }

    /// Sends one request for a component and returns the response with its body guarded
    /// by the between-bytes timeout. Whether the request may go out at all was decided by
    /// the hook ([`Hooks`]); the transport sends whatever it is given.
    pub async fn send(
        &self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        activity: Activity,
    ) -> Result<http::Response<WasiBody>, HttpError> {
        let identity = self
            .config
            .tls
            .identity()
            .await
            .map_err(|e| errors::code(&Cause::NoIdentity(errors::chain(&e)), Phase::Connect))?;
        let client = self.client(&identity);
        // A connection whose response just ended goes back to the pool in a task of its
        // own; let it run first, so a sequential caller reuses it instead of racing a new
        // connection against it.
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        let options = options.unwrap_or_default();
        let first_byte = options.first_byte_timeout.unwrap_or(self.config.default_response_timeout);
        let between_bytes = options.between_bytes_timeout.unwrap_or(self.config.default_response_timeout);
        let sending = tokio::time::timeout(first_byte, client.request(request));
        let response = match body::while_waiting(&activity, sending).await {
            Err(_) => return Err(errors::code(&Cause::NoAnswer, Phase::Request)),
            Ok(Err(error)) => {
                let mapped = errors::from_client_error(&error);
                // The hook's `outgoing_request` span around this call carries the authority.
                tracing::info!(error = %errors::chain(&error), ?mapped, "request failed");
                return Err(mapped);
            }
            Ok(Ok(response)) => response,
        };
        activity.touch();
        // hyper bounds what it buffers, not the size of a head that arrives in one read.
        let head_size: usize =
            response.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
        if head_size > self.config.max_response_header_bytes {
            tracing::warn!(
                head_size,
                limit = self.config.max_response_header_bytes,
                "response headers over the limit"
            );
            return Err(errors::code(&Cause::HeadTooLarge(u32::try_from(head_size).ok()), Phase::Request));
        }
        Ok(response.map(|incoming| body::GuardedBody::new(incoming, between_bytes, activity).boxed()))
    }
}
