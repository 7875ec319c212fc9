//! File mode (the CLI's `--tls-mode file`): a client certificate and key from PEM files,
//! presented to the server (the Go client never presented its certificate), and a CA bundle
//! for the server.
//!
//! The server is verified by its DNS name or IP as usual. A server certificate that carries
//! only a SPIFFE URI SAN is verified the SPIFFE way instead: chained to the CA bundle, then
//! the X509-SVID leaf rules and the authorization policy of [`super::authorize`]: its SPIFFE
//! ID equal to the expected server SPIFFE ID, or else in our own certificate's trust
//! domain, or else refused (fail closed: without either there is nothing to authorize the
//! server by).
//!
//! Connections are pooled by client identity and trust revision (a digest of the CA
//! certificates), so reloaded trust material reaches new connections, and a removed CA is no
//! longer trusted by them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use super::authorize::{LeafFacts, ServerPolicy, SpiffeIdText, authorize_server, uses_spiffe_verification};
use super::x509::summarize;
use super::{Cause, ClientIdentity, IdentityFuture, Setting, TlsError, TlsProvider, crypto, system_roots};

const CERT: Setting = Setting::ClientCertificate;
const KEY: Setting = Setting::ClientKey;

/// Files and policy of file mode.
#[derive(Clone, Debug, Default)]
pub struct FileTlsConfig {
    /// Client certificate chain (PEM), presented to the server.
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub key: Option<PathBuf>,
    /// CA bundle for the server (PEM); system roots when absent.
    pub ca: Option<PathBuf>,
    /// The only SPIFFE ID accepted for a server with a SPIFFE-only certificate.
    pub server_spiffe_id: Option<String>,
    /// Re-read the files this often; zero never re-reads.
    pub reload_interval: Duration,
}

/// `problem` with the file of `setting` at `path`, caused by `source`.
fn file_error(setting: Setting, path: &Path, problem: impl Into<String>, source: Option<Cause>) -> TlsError {
    TlsError::File { setting, path: path.to_path_buf(), problem: problem.into(), source }
}

/// Reads every PEM certificate of the file of `setting`.
fn read_certificates(setting: Setting, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(setting, path, "cannot read certificates", Some(e.into())))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(setting, path, "malformed PEM", Some(e.into())))
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Reads a PEM certificate chain; the first certificate must be valid now.
fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let error = |problem: String, source: Option<Cause>| file_error(CERT, path, problem, source);
    let chain = read_certificates(CERT, path)?;
    let leaf = chain.first().ok_or_else(|| error("no CERTIFICATE block found".into(), None))?;
    let summary = summarize(leaf).map_err(|e| error("unusable certificate".into(), Some(e.into())))?;
    let now = unix_now();
    if now > summary.not_after {
        return Err(error(format!("the certificate expired {} seconds ago", now - summary.not_after), None));
    }
    if now < summary.not_before {
        return Err(error("the certificate is not valid yet".into(), None));
    }
    Ok(chain)
}

/// The CA certificates of `path` and their trust revision (a digest of the certificates).
fn load_roots(path: &Path) -> Result<(RootCertStore, String), TlsError> {
    let certs = read_certificates(Setting::CaCertificates, path)?;
    let mut digest = Sha256::new();
    for cert in &certs {
        digest.update((cert.as_ref().len() as u64).to_le_bytes());
        digest.update(cert.as_ref());
    }
    let revision: String = digest.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect();
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        let problem = format!("no usable CA certificate ({ignored} unparsable)");
        return Err(file_error(Setting::CaCertificates, path, problem, None));
    }
    Ok((roots, format!("ca:{revision}")))
}

/// Loads the files into a client identity.
fn load(config: &FileTlsConfig) -> Result<ClientIdentity, TlsError> {
    let provider = crypto();
    let (roots, trust) = match &config.ca {
        Some(path) => load_roots(path)?,
        None => (system_roots(), "system".to_string()),
    };
    let (client_auth, own_trust_domain, key) = match (&config.cert, &config.key) {
        (Some(cert_path), Some(key_path)) => {
            let chain = load_chain(cert_path)?;
            let key_error = |problem: String, source: Cause| file_error(KEY, key_path, problem, Some(source));
            let key = PrivateKeyDer::from_pem_file(key_path)
                .map_err(|e| key_error("cannot read a private key".into(), e.into()))?;
            let signing = provider
                .key_provider
                .load_private_key(key.clone_key())
                .map_err(|e| key_error("unusable private key".into(), e.into()))?;
            rustls::sign::CertifiedKey::new(chain.clone(), signing).keys_match().map_err(|e| {
                key_error(format!("this key does not belong to {}", cert_path.display()), e.into())
            })?;
            let summary = summarize(&chain[0])
                .map_err(|e| file_error(CERT, cert_path, "unusable certificate", Some(e.into())))?;
            let trust_domain = summary
                .spiffe_id()
                .and_then(|id| SpiffeIdText::parse(id).ok())
                .map(|id| id.trust_domain().to_string());
            let fingerprint: String =
                Sha256::digest(chain[0].as_ref()).iter().take(12).map(|b| format!("{b:02x}")).collect();
            (Some((chain, key)), trust_domain, format!("file:{fingerprint}"))
        }
        (Some(cert), None) => {
            return Err(TlsError::Unpaired { given: CERT, path: cert.clone(), missing: KEY });
        }
        (None, Some(key)) => {
            return Err(TlsError::Unpaired { given: KEY, path: key.clone(), missing: CERT });
        }
        (None, None) => (None, None, "anonymous".to_string()),
    };
    let policy = ServerPolicy::new(config.server_spiffe_id.as_deref(), own_trust_domain.as_deref())?;
    let verifier = Arc::new(FileVerifier::new(roots, provider.clone(), policy)?);
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.into()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let client = match client_auth {
        Some((chain, key)) => {
            builder.with_client_auth_cert(chain, key).map_err(|e| TlsError::Config(e.into()))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(ClientIdentity { config: Arc::new(client), key, trust })
}

/// File-mode provider; re-reads its files every `reload_interval`.
pub struct FileTls {
    config: FileTlsConfig,
    current: Mutex<(Instant, ClientIdentity)>,
}

impl FileTls {
    /// Loads the files now; any problem is an error naming the file.
    pub fn new(config: FileTlsConfig) -> Result<Self, TlsError> {
        let identity = load(&config)?;
        Ok(FileTls { config, current: Mutex::new((Instant::now(), identity)) })
    }
}

impl FileTls {
    fn current(&self) -> ClientIdentity {
        let mut current = self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let interval = self.config.reload_interval;
        if !interval.is_zero() && current.0.elapsed() >= interval {
            match load(&self.config) {
                Ok(identity) => {
                    if identity.key != current.1.key {
                        tracing::info!(identity = %identity.key, "client certificate reloaded");
                    }
                    if identity.trust != current.1.trust {
                        tracing::info!(trust = %identity.trust, "CA certificates reloaded");
                    }
                    *current = (Instant::now(), identity);
                }
                Err(error) => {
                    let error = crate::error::chain(&error);
                    tracing::warn!(%error, "reloading the TLS files failed; keeping the loaded certificate");
                    current.0 = Instant::now();
                }
            }
        }
        current.1.clone()
    }
}

impl TlsProvider for FileTls {
    fn identity(&self) -> IdentityFuture<'_> {
        Box::pin(std::future::ready(Ok(self.current())))
    }
}

/// Standard verification, with the SPIFFE way for SPIFFE-only server certificates.
#[derive(Debug)]
struct FileVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    policy: ServerPolicy,
}

impl FileVerifier {
    fn new(
        roots: RootCertStore,
        provider: Arc<CryptoProvider>,
        policy: ServerPolicy,
    ) -> Result<Self, TlsError> {
        let roots = Arc::new(roots);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| TlsError::Config(e.into()))?;
        Ok(FileVerifier { webpki, roots, provider, policy })
    }
}

impl ServerCertVerifier for FileVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let facts = LeafFacts::of(end_entity).map_err(rustls::Error::General)?;
        if !uses_spiffe_verification(&facts) {
            return self.webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            );
        }
        // The X509-SVID rules and the policy first (their refusals say which rule and what to
        // set), then the chain to the CA file.
        let id = authorize_server(&facts, &self.policy).map_err(|e| rustls::Error::General(e.to_string()))?;
        let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        tracing::debug!(server = %id, "server SPIFFE ID authorized");
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
