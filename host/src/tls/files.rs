//! `--tls-mode file`: a client certificate and key from PEM files, presented to the server
//! (the Go client never presented its certificate), and a CA bundle for the server.
//!
//! The server is verified by its DNS name or IP as usual. A server certificate that carries
//! only a SPIFFE URI SAN is verified the SPIFFE way instead: chained to the CA bundle, not a
//! CA itself, and its SPIFFE ID either equal to `--server-spiffe-id` or in our own
//! certificate's trust domain.

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

use super::x509::summarize;
use super::{ClientIdentity, IdentityFuture, TlsError, TlsProvider, crypto, system_roots};

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

fn file_error(path: &Path, reason: impl Into<String>) -> TlsError {
    TlsError::File { path: path.display().to_string(), reason: reason.into() }
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Reads a PEM certificate chain; the first certificate must be valid now.
fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, format!("cannot read certificates: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, format!("malformed PEM: {e}")))?;
    let leaf = chain.first().ok_or_else(|| file_error(path, "no CERTIFICATE block found"))?;
    let summary = summarize(leaf).map_err(|e| file_error(path, e))?;
    let now = unix_now();
    if now > summary.not_after {
        return Err(file_error(
            path,
            format!("the certificate expired {} seconds ago", now - summary.not_after),
        ));
    }
    if now < summary.not_before {
        return Err(file_error(path, "the certificate is not valid yet"));
    }
    Ok(chain)
}

fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, format!("cannot read CA certificates: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, format!("malformed PEM: {e}")))?;
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(file_error(path, format!("no usable CA certificate ({ignored} unparsable)")));
    }
    Ok(roots)
}

/// Loads the files into a client identity.
fn load(config: &FileTlsConfig) -> Result<ClientIdentity, TlsError> {
    let provider = crypto();
    let roots = match &config.ca {
        Some(path) => load_roots(path)?,
        None => system_roots(),
    };
    let (client_auth, own_trust_domain, key) = match (&config.cert, &config.key) {
        (Some(cert_path), Some(key_path)) => {
            let chain = load_chain(cert_path)?;
            let key = PrivateKeyDer::from_pem_file(key_path)
                .map_err(|e| file_error(key_path, format!("cannot read a private key: {e}")))?;
            let signing = provider
                .key_provider
                .load_private_key(key.clone_key())
                .map_err(|e| file_error(key_path, format!("unusable private key: {e}")))?;
            rustls::sign::CertifiedKey::new(chain.clone(), signing).keys_match().map_err(|_| {
                file_error(key_path, format!("this key does not belong to {}", cert_path.display()))
            })?;
            let summary = summarize(&chain[0]).map_err(|e| file_error(cert_path, e))?;
            let trust_domain = summary
                .spiffe_id()
                .and_then(|id| spiffe::SpiffeId::new(id).ok())
                .map(|id| id.trust_domain().to_string());
            let fingerprint: String =
                Sha256::digest(chain[0].as_ref()).iter().take(12).map(|b| format!("{b:02x}")).collect();
            (Some((chain, key)), trust_domain, format!("file:{fingerprint}"))
        }
        (Some(cert), None) => {
            return Err(file_error(cert, "a client certificate needs its key: pass --tls-key"));
        }
        (None, Some(key)) => {
            return Err(file_error(key, "a private key needs its certificate: pass --tls-cert"));
        }
        (None, None) => (None, None, "anonymous".to_string()),
    };
    let verifier = Arc::new(FileVerifier::new(
        roots,
        provider.clone(),
        SpiffePolicy::new(config.server_spiffe_id.as_deref(), own_trust_domain)?,
    )?);
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Other(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let client = match client_auth {
        Some((chain, key)) => {
            builder.with_client_auth_cert(chain, key).map_err(|e| TlsError::Other(e.to_string()))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(ClientIdentity { config: Arc::new(client), key })
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
                    *current = (Instant::now(), identity);
                }
                Err(error) => {
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

/// Which SPIFFE IDs a SPIFFE-only server certificate may carry.
#[derive(Debug)]
struct SpiffePolicy {
    exact: Option<spiffe::SpiffeId>,
    trust_domain: Option<String>,
}

impl SpiffePolicy {
    fn new(exact: Option<&str>, trust_domain: Option<String>) -> Result<Self, TlsError> {
        let exact = exact
            .map(|id| {
                spiffe::SpiffeId::new(id)
                    .map_err(|e| TlsError::Other(format!("--server-spiffe-id {id:?}: {e}")))
            })
            .transpose()?;
        Ok(SpiffePolicy { exact, trust_domain })
    }

    fn authorize(&self, id: &str) -> Result<(), String> {
        let parsed =
            spiffe::SpiffeId::new(id).map_err(|e| format!("server SPIFFE ID {id:?} is malformed: {e}"))?;
        match (&self.exact, &self.trust_domain) {
            (Some(exact), _) if *exact != parsed => {
                Err(format!("server SPIFFE ID {id} is not the expected {exact}"))
            }
            (Some(_), _) => Ok(()),
            (None, Some(domain)) if parsed.trust_domain().to_string() != *domain => {
                Err(format!("server SPIFFE ID {id} is outside our trust domain {domain}"))
            }
            _ => Ok(()),
        }
    }
}

/// Standard verification, with the SPIFFE way for SPIFFE-only server certificates.
#[derive(Debug)]
struct FileVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    spiffe: SpiffePolicy,
}

impl FileVerifier {
    fn new(
        roots: RootCertStore,
        provider: Arc<CryptoProvider>,
        spiffe: SpiffePolicy,
    ) -> Result<Self, TlsError> {
        let roots = Arc::new(roots);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| TlsError::Other(e.to_string()))?;
        Ok(FileVerifier { webpki, roots, provider, spiffe })
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
        let summary = summarize(end_entity).map_err(rustls::Error::General)?;
        let spiffe_only = !summary.has_dns_or_ip && summary.uris.iter().any(|u| u.starts_with("spiffe://"));
        if !spiffe_only {
            return self.webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            );
        }
        let id = summary.spiffe_id().ok_or_else(|| {
            rustls::Error::General(format!(
                "a SPIFFE certificate needs exactly one URI SAN, this one has {}",
                summary.uris.len()
            ))
        })?;
        if summary.is_ca {
            return Err(rustls::Error::General("the server's leaf certificate is a CA".into()));
        }
        let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        self.spiffe.authorize(id).map_err(rustls::Error::General)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spiffe_policy_prefers_the_exact_id_then_the_trust_domain() {
        let exact =
            SpiffePolicy::new(Some("spiffe://example.org/metald"), Some("example.org".into())).unwrap();
        assert!(exact.authorize("spiffe://example.org/metald").is_ok());
        assert!(exact.authorize("spiffe://example.org/other").unwrap_err().contains("not the expected"));
        let domain = SpiffePolicy::new(None, Some("example.org".into())).unwrap();
        assert!(domain.authorize("spiffe://example.org/anything").is_ok());
        assert!(
            domain.authorize("spiffe://other.org/metald").unwrap_err().contains("outside our trust domain")
        );
        assert!(SpiffePolicy::new(Some("not-an-id"), None).is_err());
    }
}
