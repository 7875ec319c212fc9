//! `--tls-mode spiffe`: the X.509-SVID from the SPIFFE Workload API, presented to the
//! server, which is authorized as metald authorizes its peers: any SPIFFE ID in our trust
//! domain (go-spiffe's `AuthorizeMemberOf`), or exactly `--server-spiffe-id`.
//!
//! A missing, unreachable or identity-less Workload API is an error within the configured
//! time, never a fall back to plaintext (the Go client fell back silently).

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{ClientIdentity, TlsError, TlsProvider};

/// Where the Workload API is and how the server is authorized.
#[derive(Clone, Debug)]
pub struct SpiffeConfig {
    /// Socket: a path, `unix:PATH`, `unix://PATH` or `tcp://IP:PORT`.
    pub socket: String,
    /// How long to wait for the first SVID.
    pub timeout: Duration,
    /// Accept only this server SPIFFE ID (default: our trust domain).
    pub server_spiffe_id: Option<String>,
}

/// The Workload API endpoint of a socket setting, and the file to check, if any.
pub fn endpoint(socket: &str) -> (String, Option<String>) {
    if let Some(path) = socket.strip_prefix("unix://") {
        (format!("unix:{path}"), Some(path.to_string()))
    } else if let Some(path) = socket.strip_prefix("unix:") {
        (socket.to_string(), Some(path.to_string()))
    } else if socket.starts_with("tcp:") {
        (socket.to_string(), None)
    } else {
        (format!("unix:{socket}"), Some(socket.to_string()))
    }
}

/// SPIFFE-mode provider: SVIDs rotate inside the source; each new connection presents the
/// current one.
pub struct SpiffeTls {
    source: spiffe::X509Source,
    config: Arc<rustls::ClientConfig>,
}

impl SpiffeTls {
    /// Connects to the Workload API and waits (at most `timeout`) for an SVID.
    pub async fn new(settings: SpiffeConfig) -> Result<Self, TlsError> {
        let (endpoint, path) = endpoint(&settings.socket);
        if let Some(path) = &path
            && !std::path::Path::new(path).exists()
        {
            return Err(TlsError::Spiffe(format!(
                "Workload API socket {path} does not exist (is the SPIRE agent running? set --spiffe-socket); \
                 refusing to fall back to plaintext"
            )));
        }
        let building = spiffe::X509Source::builder().endpoint(endpoint.as_str()).build();
        let source = tokio::time::timeout(settings.timeout, building)
            .await
            .map_err(|_| {
                TlsError::Spiffe(format!(
                    "no X.509-SVID from the Workload API at {endpoint} within {:?}",
                    settings.timeout
                ))
            })?
            .map_err(|e| TlsError::Spiffe(format!("Workload API at {endpoint}: {e}")))?;
        let svid = source.svid().map_err(|e| TlsError::Spiffe(format!("Workload API at {endpoint}: {e}")))?;
        let own_id = svid.spiffe_id().clone();
        let builder = spiffe_rustls::mtls_client(source.clone())
            .with_alpn_protocols([b"h2".as_slice(), b"http/1.1".as_slice()]);
        let config = match &settings.server_spiffe_id {
            Some(id) => {
                let authorizer = spiffe_rustls::authorizer::exact([id.as_str()])
                    .map_err(|e| TlsError::Spiffe(format!("--server-spiffe-id {id:?}: {e}")))?;
                builder.authorize(authorizer).build()
            }
            None => {
                let authorizer = spiffe_rustls::authorizer::trust_domains([own_id.trust_domain().clone()])
                    .map_err(|e| TlsError::Spiffe(e.to_string()))?;
                builder.authorize(authorizer).build()
            }
        }
        .map_err(|e| TlsError::Spiffe(e.to_string()))?;
        tracing::info!(spiffe_id = %own_id, %endpoint, "SPIFFE identity ready");
        Ok(SpiffeTls { source, config: Arc::new(config) })
    }
}

impl TlsProvider for SpiffeTls {
    fn identity(&self) -> Result<ClientIdentity, TlsError> {
        let svid = self.source.svid().map_err(|e| TlsError::Spiffe(format!("no current SVID: {e}")))?;
        let leaf = svid.leaf();
        // The pool key includes the certificate: after a rotation, new connections (which
        // present the new SVID) are used, never connections made with the old one.
        let digest: String =
            Sha256::digest(leaf.as_ref()).iter().take(8).map(|b| format!("{b:02x}")).collect();
        Ok(ClientIdentity { config: self.config.clone(), key: format!("{}#{digest}", svid.spiffe_id()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_settings_become_endpoints() {
        assert_eq!(
            endpoint("/run/spire.sock"),
            ("unix:/run/spire.sock".into(), Some("/run/spire.sock".into()))
        );
        assert_eq!(endpoint("unix:/run/s.sock"), ("unix:/run/s.sock".into(), Some("/run/s.sock".into())));
        assert_eq!(endpoint("unix:///run/s.sock"), ("unix:/run/s.sock".into(), Some("/run/s.sock".into())));
        assert_eq!(endpoint("tcp://127.0.0.1:8081"), ("tcp://127.0.0.1:8081".into(), None));
    }
}
