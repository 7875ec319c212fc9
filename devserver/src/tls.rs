//! TLS listeners: file mode (server certificate, client CA, client certificate required)
//! and SPIFFE mode (an SVID from the Workload API; clients must be in our trust domain).
//! Peer certificates are kept so tests can see who connected.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpStream;

use crate::server::{Accepting, Acceptor, Io};

/// Why a TLS listener could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A certificate, key or CA file is unusable.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The SPIFFE Workload API gave no identity.
    #[error("SPIFFE Workload API {endpoint}: {reason}")]
    Spiffe {
        /// The endpoint.
        endpoint: String,
        /// What happened.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// Leaf certificates of the clients that completed a handshake, in order.
#[derive(Debug, Default)]
pub struct PeerLog(Mutex<Vec<CertificateDer<'static>>>);

impl PeerLog {
    /// Every client leaf certificate seen so far.
    pub fn certificates(&self) -> Vec<CertificateDer<'static>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn record(&self, cert: CertificateDer<'static>) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(cert);
    }
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> TlsSetupError {
    TlsSetupError::File { path: path.display().to_string(), reason: reason.to_string() }
}

fn crypto() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// After a failed handshake, reads what the client already sent before closing, so the
/// close is a FIN and the TLS alert reaches the client instead of being lost to a reset.
async fn linger(mut stream: TcpStream) {
    use tokio::io::AsyncReadExt;
    let mut sink = [0u8; 4096];
    let draining = async { while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {} };
    let _ = tokio::time::timeout(Duration::from_millis(200), draining).await;
}

/// Picks the SVID with one SPIFFE ID (none with it leaves the source without identity).
struct IdPicker(spiffe::SpiffeId);

impl spiffe::x509_source::SvidPicker for IdPicker {
    fn pick_svid(&self, svids: &[Arc<spiffe::X509Svid>]) -> Option<usize> {
        svids.iter().position(|svid| svid.spiffe_id() == &self.0)
    }
}

/// A TLS listener.
pub struct TlsAcceptor {
    acceptor: tokio_rustls::TlsAcceptor,
    peers: Arc<PeerLog>,
    handshake_timeout: Duration,
}

impl TlsAcceptor {
    /// File mode: present `cert`/`key`, require a client certificate chaining to `client_ca`.
    pub fn from_files(cert: &Path, key: &Path, client_ca: &Path) -> Result<Self, TlsSetupError> {
        let chain = CertificateDer::pem_file_iter(cert)
            .map_err(|e| file_error(cert, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| file_error(cert, e))?;
        if chain.is_empty() {
            return Err(file_error(cert, "no CERTIFICATE block found"));
        }
        let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key, e))?;
        let mut roots = rustls::RootCertStore::empty();
        let cas = CertificateDer::pem_file_iter(client_ca)
            .map_err(|e| file_error(client_ca, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| file_error(client_ca, e))?;
        let (added, _) = roots.add_parsable_certificates(cas);
        if added == 0 {
            return Err(file_error(client_ca, "no usable CA certificate"));
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), crypto())
            .build()
            .map_err(|e| TlsSetupError::Config(e.to_string()))?;
        let mut config = rustls::ServerConfig::builder_with_provider(crypto())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsSetupError::Config(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key_der)
            .map_err(|e| file_error(key, format!("does not fit the certificate: {e}")))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self::from_config(Arc::new(config)))
    }

    /// SPIFFE mode: our SVID from the Workload API at `endpoint` (e.g. `unix:/path`); clients
    /// must present an SVID from our trust domain.
    pub async fn spiffe(endpoint: &str, timeout: Duration) -> Result<Self, TlsSetupError> {
        Self::spiffe_as(endpoint, timeout, None).await
    }

    /// [`TlsAcceptor::spiffe`] presenting the SVID with `spiffe_id` when the Workload API
    /// offers several (default: the first); an ID it does not offer is an error listing those
    /// it does.
    pub async fn spiffe_as(
        endpoint: &str,
        timeout: Duration,
        spiffe_id: Option<&str>,
    ) -> Result<Self, TlsSetupError> {
        let error = |reason: String| TlsSetupError::Spiffe { endpoint: endpoint.to_string(), reason };
        let mut builder = spiffe::X509Source::builder().endpoint(endpoint).initial_sync_timeout(timeout);
        if let Some(id) = spiffe_id {
            let wanted = spiffe::SpiffeId::new(id).map_err(|e| error(format!("SPIFFE ID {id:?}: {e}")))?;
            let offered =
                async { spiffe::WorkloadApiClient::connect_to(endpoint).await?.fetch_all_x509_svids().await };
            let offered = tokio::time::timeout(timeout, offered)
                .await
                .map_err(|_| error(format!("no SVID within {timeout:?}")))?
                .map_err(|e| error(e.to_string()))?;
            if !offered.iter().any(|svid| svid.spiffe_id() == &wanted) {
                let ids: Vec<String> = offered.iter().map(|svid| svid.spiffe_id().to_string()).collect();
                return Err(error(format!(
                    "offers no SVID with SPIFFE ID {id} (it offers {})",
                    ids.join(", ")
                )));
            }
            builder = builder.picker(IdPicker(wanted));
        }
        let building = builder.build();
        let source = tokio::time::timeout(timeout + Duration::from_secs(1), building)
            .await
            .map_err(|_| error(format!("no SVID within {timeout:?}")))?
            .map_err(|e| error(e.to_string()))?;
        let svid = source.svid().map_err(|e| error(e.to_string()))?;
        let own_domain = svid.spiffe_id().trust_domain().clone();
        let authorizer =
            spiffe_rustls::authorizer::trust_domains([own_domain]).map_err(|e| error(e.to_string()))?;
        let config = spiffe_rustls::mtls_server(source)
            .authorize(authorizer)
            .with_alpn_protocols([b"h2".as_slice(), b"http/1.1".as_slice()])
            .build()
            .map_err(|e| error(e.to_string()))?;
        Ok(Self::from_config(Arc::new(config)))
    }

    /// A listener with a ready server config.
    pub fn from_config(config: Arc<rustls::ServerConfig>) -> Self {
        TlsAcceptor {
            acceptor: tokio_rustls::TlsAcceptor::from(config),
            peers: Arc::default(),
            handshake_timeout: Duration::from_secs(10),
        }
    }

    /// The clients seen so far.
    pub fn peers(&self) -> Arc<PeerLog> {
        self.peers.clone()
    }
}

impl Acceptor for TlsAcceptor {
    fn scheme(&self) -> &'static str {
        "https"
    }

    fn accept(&self, stream: TcpStream) -> Accepting {
        let acceptor = self.acceptor.clone();
        let peers = self.peers.clone();
        let timeout = self.handshake_timeout;
        Box::pin(async move {
            let accepted = tokio::time::timeout(timeout, acceptor.accept(stream).into_fallible())
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))?;
            let tls = match accepted {
                Ok(tls) => tls,
                Err((error, stream)) => {
                    linger(stream).await;
                    return Err(error);
                }
            };
            if let Some(leaf) = tls.get_ref().1.peer_certificates().and_then(|certs| certs.first()) {
                peers.record(leaf.clone().into_owned());
            }
            Ok(Box::new(tls) as Box<dyn Io>)
        })
    }
}
