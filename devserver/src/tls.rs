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

use crate::json_lines::JsonLines;
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

/// Leaf certificates of the clients that completed a handshake, in order; with
/// [`PeerLog::to_file`], also appended to a file as JSON lines, so tests in other processes
/// and languages can see who connected (`metald-host dev-server --peer-log`).
#[derive(Debug, Default)]
pub struct PeerLog {
    seen: Mutex<Vec<CertificateDer<'static>>>,
    file: Option<JsonLines>,
}

/// One line of a peer log file: a TLS client that completed a handshake.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PeerRecord {
    /// The client leaf certificate's serial number, lower-case hex of its DER bytes.
    pub serial: String,
    /// Its SPIFFE ID (the first `spiffe://` URI SAN), if any.
    pub spiffe_id: Option<String>,
    /// The negotiated ALPN protocol (`h2`, `http/1.1`), if any.
    pub alpn: Option<String>,
}

impl PeerRecord {
    /// The record of a client leaf certificate; `None` when it does not parse.
    pub fn of(leaf: &CertificateDer<'_>, alpn: Option<&[u8]>) -> Option<PeerRecord> {
        let (_, cert) = x509_parser::parse_x509_certificate(leaf).ok()?;
        let serial = cert.raw_serial().iter().map(|b| format!("{b:02x}")).collect();
        let spiffe_id = cert.subject_alternative_name().ok().flatten().and_then(|san| {
            san.value.general_names.iter().find_map(|name| match name {
                x509_parser::extensions::GeneralName::URI(uri) if uri.starts_with("spiffe://") => {
                    Some((*uri).to_string())
                }
                _ => None,
            })
        });
        let alpn = alpn.map(|p| String::from_utf8_lossy(p).into_owned());
        Some(PeerRecord { serial, spiffe_id, alpn })
    }
}

impl PeerLog {
    /// A log that also appends every record to `path` (created if missing).
    pub fn to_file(path: &Path) -> Result<PeerLog, TlsSetupError> {
        let file = JsonLines::open(path, "peer log")
            .map_err(|e| file_error(path, format!("cannot open the peer log: {e}")))?;
        Ok(PeerLog { seen: Mutex::default(), file: Some(file) })
    }

    /// Every client leaf certificate seen so far.
    pub fn certificates(&self) -> Vec<CertificateDer<'static>> {
        self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn record(&self, cert: CertificateDer<'static>, alpn: Option<&[u8]>) {
        if let Some(file) = &self.file
            && let Some(record) = PeerRecord::of(&cert, alpn)
        {
            file.append(&record);
        }
        self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(cert);
    }
}

/// The PEM certificates in `path`, in order; an error naming the file when it cannot be read
/// or holds none.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, e))?;
    if certs.is_empty() {
        return Err(file_error(path, "no CERTIFICATE block found"));
    }
    Ok(certs)
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
        let chain = read_certificates(cert)?;
        let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key, e))?;
        let mut roots = rustls::RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(read_certificates(client_ca)?);
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

    /// Keeps the clients seen in `log` (e.g. [`PeerLog::to_file`]).
    pub fn with_peer_log(mut self, log: PeerLog) -> Self {
        self.peers = Arc::new(log);
        self
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
            let session = tls.get_ref().1;
            if let Some(leaf) = session.peer_certificates().and_then(|certs| certs.first()) {
                peers.record(leaf.clone().into_owned(), session.alpn_protocol());
            }
            Ok(Box::new(tls) as Box<dyn Io>)
        })
    }
}
