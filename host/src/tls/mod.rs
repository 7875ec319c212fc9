//! Outbound TLS: a provider hands the transport the `rustls::ClientConfig` for new
//! connections, together with the identity it presents and the revision of the trust it
//! verifies servers with; both key the connection pool, so that identities never share a
//! connection and changed trust material reaches every new connection.

mod authorize;
mod files;
mod spiffe;
mod x509;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use authorize::{
    LeafFacts, Reason, Refusal, ServerPolicy, SpiffeIdText, authorize_server, uses_spiffe_verification,
};
pub use files::{FileTls, FileTlsConfig};
pub use spiffe::{SpiffeConfig, SpiffeTls, endpoint as spiffe_endpoint};
pub use x509::{CertSummary, summarize};

/// TLS setup failures.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate, key or CA file is unusable.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The SPIFFE Workload API could not provide an identity.
    #[error("SPIFFE: {0}")]
    Spiffe(String),
    /// Anything else.
    #[error("TLS: {0}")]
    Other(String),
}

/// The TLS side of a new connection: the config and the identity it presents.
#[derive(Clone)]
pub struct ClientIdentity {
    /// Config for new connections (roots, verifier, client certificate).
    pub config: Arc<rustls::ClientConfig>,
    /// Who the connections authenticate as (`anonymous`, a SPIFFE ID, a certificate
    /// fingerprint). Connections are pooled per identity and trust revision.
    pub key: String,
    /// Which trust material `config` verifies servers with (`system`, a digest of the CA
    /// certificates or of the SPIFFE bundles). A new revision means new connections: a
    /// removed CA must not keep vouching for pooled connections.
    pub trust: String,
}

/// The identity a provider hands out, when it is ready.
pub type IdentityFuture<'a> = Pin<Box<dyn Future<Output = Result<ClientIdentity, TlsError>> + Send + 'a>>;

/// Hands out the current client identity. Implementations may rotate it at any time; new
/// connections use the identity current when they are made.
pub trait TlsProvider: Send + Sync + 'static {
    /// The identity for a new connection (waiting, briefly, for rotated material).
    fn identity(&self) -> IdentityFuture<'_>;
}

/// The rustls crypto provider used everywhere (ring, as wasmtime-wasi-http uses).
pub fn crypto() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Trust anchors for ordinary server authentication: the system store, or the bundled
/// Mozilla roots (webpki-roots) when the system store is empty or unreadable.
pub fn system_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    if added == 0 {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    roots
}

/// `--tls-mode disabled`: no client certificate. `http://` servers are reached in plain
/// text; `https://` servers with ordinary server authentication against [`system_roots`].
pub struct ServerAuthOnly {
    identity: ClientIdentity,
}

impl ServerAuthOnly {
    /// A provider with the system roots.
    pub fn new() -> Result<Self, TlsError> {
        let config = rustls::ClientConfig::builder_with_provider(crypto())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Other(e.to_string()))?
            .with_root_certificates(system_roots())
            .with_no_client_auth();
        Ok(ServerAuthOnly {
            identity: ClientIdentity {
                config: Arc::new(config),
                key: "anonymous".into(),
                trust: "system".into(),
            },
        })
    }
}

impl TlsProvider for ServerAuthOnly {
    fn identity(&self) -> IdentityFuture<'_> {
        Box::pin(std::future::ready(Ok(self.identity.clone())))
    }
}

/// For commands that make no network calls: any attempt to get an identity is refused, so
/// no TLS material is read.
pub struct Offline;

impl TlsProvider for Offline {
    fn identity(&self) -> IdentityFuture<'_> {
        Box::pin(std::future::ready(Err(TlsError::Other("this command makes no network calls".into()))))
    }
}
