//! Outbound TLS: a provider hands the transport the `rustls::ClientConfig` for new
//! connections, together with the identity it presents and the revision of the trust it
//! verifies servers with; both key the connection pool, so that identities never share a
//! connection and changed trust material reaches every new connection.

mod authorize;
mod files;
mod spiffe;
mod x509;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

pub use authorize::{
    LeafFacts, PolicyError, Reason, Refusal, ServerPolicy, SpiffeIdError, SpiffeIdText, authorize_server,
    uses_spiffe_verification,
};
pub use files::{FileTls, FileTlsConfig};
pub use spiffe::{SpiffeConfig, SpiffeTls, endpoint as spiffe_endpoint};
pub use x509::{CertSummary, NotACertificate, summarize};

/// The cause a [`TlsError`] keeps (a PEM, rustls, x509 or SPIFFE error).
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A TLS setting an error is about. Messages name settings, not the flags or fields a front
/// end exposes them as; [`TlsError::setting`] says which one to change, so a front end can
/// add its own name for it (the CLI adds its flag).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    /// [`FileTlsConfig::cert`].
    ClientCertificate,
    /// [`FileTlsConfig::key`].
    ClientKey,
    /// [`FileTlsConfig::ca`].
    CaCertificates,
    /// `server_spiffe_id` of [`FileTlsConfig`] and [`SpiffeConfig`].
    ServerSpiffeId,
    /// [`SpiffeConfig::socket`].
    SpiffeSocket,
    /// [`SpiffeConfig::spiffe_id`]: which of our SVIDs to present.
    SpiffeId,
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Setting::ClientCertificate => "the client certificate file",
            Setting::ClientKey => "the client key file",
            Setting::CaCertificates => "the CA certificate file",
            Setting::ServerSpiffeId => "the expected server SPIFFE ID",
            Setting::SpiffeSocket => "the SPIFFE Workload API socket",
            Setting::SpiffeId => "the client SPIFFE ID",
        })
    }
}

/// TLS setup failures; each keeps its cause, where there is one, as its `source()`.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate, key or CA file is unusable.
    #[error("{setting} {}: {problem}", path.display())]
    File {
        /// Which file setting.
        setting: Setting,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
        /// The underlying error (I/O, PEM, X.509, rustls), if any.
        #[source]
        source: Option<Cause>,
    },
    /// A client certificate without its key, or a key without its certificate.
    #[error(
        "{given} {} needs its {}, and {missing} is not set",
        path.display(),
        if *missing == Setting::ClientKey { "key" } else { "certificate" }
    )]
    Unpaired {
        /// The setting that is set.
        given: Setting,
        /// Its file.
        path: PathBuf,
        /// The setting that is missing.
        missing: Setting,
    },
    /// The expected server SPIFFE ID (or the trust domain to authorize servers by) is not
    /// usable.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The SPIFFE Workload API socket does not exist.
    #[error(
        "{} {} does not exist (is the SPIRE agent running?); refusing to fall back to plaintext",
        Setting::SpiffeSocket,
        path.display()
    )]
    NoSocket {
        /// The socket file.
        path: PathBuf,
    },
    /// The SPIFFE Workload API failed, or gave no usable identity.
    #[error("the SPIFFE Workload API at {endpoint}: {problem}")]
    Spiffe {
        /// The Workload API endpoint (`unix:/path`, `tcp://ip:port`).
        endpoint: String,
        /// What did not work.
        problem: String,
        /// The underlying error (gRPC, X.509-SVID, spiffe-rustls), if any.
        #[source]
        source: Option<Cause>,
    },
    /// The client SPIFFE ID to present is not a workload's SPIFFE ID.
    #[error("{} {id:?} is not a workload's SPIFFE ID: {problem}", Setting::SpiffeId)]
    SpiffeIdMalformed {
        /// The configured text.
        id: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The Workload API offers no X.509-SVID with the client SPIFFE ID asked for.
    #[error(
        "{} {id} is not among the X.509-SVIDs of the SPIFFE Workload API at {endpoint}; offered: {}",
        Setting::SpiffeId,
        if offered.is_empty() { "none".to_string() } else { offered.join(", ") }
    )]
    SvidNotOffered {
        /// The Workload API endpoint (`unix:/path`, `tcp://ip:port`).
        endpoint: String,
        /// The SPIFFE ID asked for.
        id: String,
        /// The SPIFFE IDs of the SVIDs offered, in the Workload API's order.
        offered: Vec<String>,
    },
    /// rustls refused to build the client configuration (protocol versions, verifier, client
    /// certificate).
    #[error("building the TLS client configuration")]
    Config(#[source] Cause),
    /// The provider of commands that make no network calls ([`Offline`]) was asked for an
    /// identity.
    #[error("this command makes no network calls")]
    Offline,
}

impl TlsError {
    /// The setting to change to fix this error, when it is one setting's.
    pub fn setting(&self) -> Option<Setting> {
        match self {
            TlsError::File { setting, .. } => Some(*setting),
            TlsError::Unpaired { missing, .. } => Some(*missing),
            TlsError::Policy(error) => error.setting(),
            TlsError::NoSocket { .. } | TlsError::Spiffe { .. } => Some(Setting::SpiffeSocket),
            TlsError::SpiffeIdMalformed { .. } | TlsError::SvidNotOffered { .. } => Some(Setting::SpiffeId),
            TlsError::Config(_) | TlsError::Offline => None,
        }
    }
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

/// No client certificate (the CLI's `--tls-mode disabled`). `http://` servers are reached in plain
/// text; `https://` servers with ordinary server authentication against [`system_roots`].
pub struct ServerAuthOnly {
    identity: ClientIdentity,
}

impl ServerAuthOnly {
    /// A provider with the system roots.
    pub fn new() -> Result<Self, TlsError> {
        let config = rustls::ClientConfig::builder_with_provider(crypto())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.into()))?
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
        Box::pin(std::future::ready(Err(TlsError::Offline)))
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;
    use crate::error::chain;

    #[test]
    fn tls_errors_name_the_setting_not_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let unpaired = FileTls::new(FileTlsConfig { cert: Some(cert.clone()), ..FileTlsConfig::default() })
            .err()
            .expect("a certificate without its key");
        assert_eq!(unpaired.setting(), Some(Setting::ClientKey));
        assert_eq!(
            unpaired.to_string(),
            format!(
                "the client certificate file {} needs its key, and the client key file is not set",
                cert.display()
            )
        );

        let key = dir.path().join("key.pem");
        std::fs::write(&key, "not a key").unwrap();
        let missing = FileTls::new(FileTlsConfig {
            cert: Some(cert.clone()),
            key: Some(key),
            ..FileTlsConfig::default()
        })
        .err()
        .expect("a missing certificate file");
        assert_eq!(missing.setting(), Some(Setting::ClientCertificate));
        let text = chain(&missing);
        assert!(
            text.starts_with(&format!("the client certificate file {}: cannot read", cert.display())),
            "{text}"
        );
        assert!(missing.source().is_some(), "the I/O error is kept: {missing:?}");

        let policy = FileTls::new(FileTlsConfig {
            server_spiffe_id: Some("spiffe://example.org".into()),
            ..FileTlsConfig::default()
        })
        .err()
        .expect("a bare trust domain as the server ID");
        assert_eq!(policy.setting(), Some(Setting::ServerSpiffeId));
        assert!(chain(&policy).starts_with("the expected server SPIFFE ID"), "{}", chain(&policy));

        for error in [&unpaired, &missing, &policy] {
            assert!(!chain(error).contains("--"), "a flag named: {}", chain(error));
        }
    }

    #[tokio::test]
    async fn a_missing_workload_api_socket_is_named_as_the_setting() {
        let socket = "/nonexistent/metald/agent.sock";
        let error = SpiffeTls::new(SpiffeConfig {
            socket: socket.into(),
            timeout: std::time::Duration::from_secs(1),
            server_spiffe_id: None,
            spiffe_id: None,
        })
        .await
        .err()
        .expect("no socket");
        assert_eq!(error.setting(), Some(Setting::SpiffeSocket));
        assert_eq!(
            error.to_string(),
            format!(
                "the SPIFFE Workload API socket {socket} does not exist (is the SPIRE agent running?); \
                 refusing to fall back to plaintext"
            )
        );
    }
}
