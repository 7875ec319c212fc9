//! SPIFFE mode (the CLI's `--tls-mode spiffe`): the X.509-SVID from the SPIFFE Workload API,
//! presented to the server, which is authorized as metald authorizes its peers: any SPIFFE ID
//! in our trust domain (go-spiffe's `AuthorizeMemberOf`), or exactly the expected server
//! SPIFFE ID. spiffe-rustls verifies the chain and the X509-SVID leaf rules; the policy is
//! [`super::authorize`]'s, the one file mode uses.
//!
//! A missing, unreachable or identity-less Workload API is an error with its cause within
//! the configured time, never a fall back to plaintext (the Go client fell back silently).

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::authorize::{ServerPolicy, SpiffeIdText};
use super::{Cause, ClientIdentity, IdentityFuture, TlsError, TlsProvider};

/// How long a new connection waits for rotated SVID material to be applied.
const ROTATION_WAIT: Duration = Duration::from_secs(2);

/// Where the Workload API is and how the server is authorized.
#[derive(Clone, Debug)]
pub struct SpiffeConfig {
    /// Socket: a path, `unix:PATH`, `unix://PATH` or `tcp://IP:PORT`.
    pub socket: String,
    /// How long to wait for the first SVID.
    pub timeout: Duration,
    /// Accept only this server SPIFFE ID (default: our trust domain).
    pub server_spiffe_id: Option<String>,
    /// Present the X.509-SVID with this SPIFFE ID when the Workload API offers several
    /// (default: the first, which the Workload API makes the default). An ID it does not
    /// offer is an error listing those it does, never a fall back to another SVID.
    pub spiffe_id: Option<String>,
}

/// Picks the SVID with one SPIFFE ID among those the Workload API offers (spiffe's
/// [`spiffe::x509_source::SvidPicker`]: none with it leaves the source without identity).
struct IdPicker(spiffe::SpiffeId);

impl spiffe::x509_source::SvidPicker for IdPicker {
    fn pick_svid(&self, svids: &[Arc<spiffe::X509Svid>]) -> Option<usize> {
        svids.iter().position(|svid| svid.spiffe_id() == &self.0)
    }
}

/// Which of the X.509-SVIDs the Workload API offers (their SPIFFE IDs, in its order) is
/// presented: the one with the `requested` SPIFFE ID, else the first (the Workload API's
/// default). `None`: none is offered, or none has the ID asked for. The rule every host
/// applies (`testdata/spiffe-workload-api.json`).
pub fn select_svid<S: AsRef<str>>(offered: &[S], requested: Option<&str>) -> Option<usize> {
    match requested {
        Some(id) => offered.iter().position(|offer| offer.as_ref() == id),
        None => (!offered.is_empty()).then_some(0),
    }
}

/// The SPIFFE ID of [`SpiffeConfig::spiffe_id`], checked: a workload's SPIFFE ID.
fn wanted_id(id: &str) -> Result<spiffe::SpiffeId, TlsError> {
    let malformed = |problem: String| TlsError::SpiffeIdMalformed { id: id.to_string(), problem };
    let text = SpiffeIdText::parse(id).map_err(|e| malformed(e.to_string()))?;
    if text.path().is_empty() {
        return Err(malformed(format!(
            "it is a bare trust domain; name the workload (spiffe://{}/...)",
            text.trust_domain()
        )));
    }
    spiffe::SpiffeId::new(id).map_err(|e| malformed(e.to_string()))
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

/// `problem` with the Workload API at `endpoint`, caused by `source`.
fn spiffe_error(endpoint: &str, problem: impl Into<String>, source: Option<Cause>) -> TlsError {
    TlsError::Spiffe { endpoint: endpoint.to_string(), problem: problem.into(), source }
}

/// SPIFFE-mode provider: SVIDs rotate inside the source; each new connection presents the
/// current one.
pub struct SpiffeTls {
    source: spiffe::X509Source,
    status: spiffe_rustls::TlsStatus,
    config: Arc<rustls::ClientConfig>,
    /// The Workload API endpoint, for errors.
    endpoint: String,
}

impl SpiffeTls {
    /// Connects to the Workload API and waits (at most `timeout`) for an SVID.
    pub async fn new(settings: SpiffeConfig) -> Result<Self, TlsError> {
        let wanted = settings.spiffe_id.as_deref().map(wanted_id).transpose()?;
        let (endpoint, path) = endpoint(&settings.socket);
        if let Some(path) = &path
            && !std::path::Path::new(path).exists()
        {
            return Err(TlsError::NoSocket { path: path.into() });
        }
        // One direct fetch first: it fails fast and says why (refused, no identity, ...),
        // where the source would only report that its first sync timed out; and it lists the
        // SVIDs offered, to check the one asked for against.
        let probe =
            async { spiffe::WorkloadApiClient::connect_to(&endpoint).await?.fetch_all_x509_svids().await };
        let offered = match tokio::time::timeout(settings.timeout, probe).await {
            Err(_) => {
                let problem = format!("no X.509-SVID within {:?}", settings.timeout);
                return Err(spiffe_error(&endpoint, problem, None));
            }
            Ok(Err(error)) => {
                return Err(spiffe_error(&endpoint, "fetching an X.509-SVID", Some(error.into())));
            }
            Ok(Ok(svids)) => svids,
        };
        let mut builder =
            spiffe::X509Source::builder().endpoint(endpoint.as_str()).initial_sync_timeout(settings.timeout);
        if let Some(wanted) = wanted {
            let ids: Vec<String> = offered.iter().map(|svid| svid.spiffe_id().to_string()).collect();
            if select_svid(&ids, Some(&wanted.to_string())).is_none() {
                return Err(TlsError::SvidNotOffered { endpoint, id: wanted.to_string(), offered: ids });
            }
            builder = builder.picker(IdPicker(wanted));
        }
        let source = builder
            .build()
            .await
            .map_err(|e| spiffe_error(&endpoint, "starting the X.509 source", Some(e.into())))?;
        let svid = source.svid().map_err(|e| spiffe_error(&endpoint, "no current SVID", Some(e.into())))?;
        let own_id = svid.spiffe_id().clone();
        // ALPN (h2, http/1.1) is set by the transport's connector.
        let builder = spiffe_rustls::mtls_client(source.clone());
        let policy =
            ServerPolicy::new(settings.server_spiffe_id.as_deref(), Some(own_id.trust_domain().as_str()))?;
        let authorizer = move |peer: &spiffe::SpiffeId| {
            let verdict = SpiffeIdText::parse(&peer.to_string())
                .map_err(|e| format!("the server's SPIFFE ID {peer} is malformed: {e}"))
                .and_then(|id| policy.authorize_id(&id).map_err(|refusal| refusal.to_string()));
            match verdict {
                Ok(()) => true,
                Err(reason) => {
                    tracing::warn!(%reason, "server not authorized");
                    false
                }
            }
        };
        let (config, status) = builder
            .authorize(authorizer)
            .build_with_status()
            .map_err(|e| spiffe_error(&endpoint, "building the TLS configuration", Some(e.into())))?;
        tracing::info!(spiffe_id = %own_id, %endpoint, "SPIFFE identity ready");
        Ok(SpiffeTls { source, status, config: Arc::new(config), endpoint })
    }

    /// Waits until rotated material is applied to the TLS config (a brief window after each
    /// rotation in which a handshake would fail); explains withdrawn material.
    async fn ready(&self) -> Result<(), TlsError> {
        let mut changes = self.status.clone();
        let deadline = tokio::time::Instant::now() + ROTATION_WAIT;
        loop {
            let Some(error) = self.status.current().error else { return Ok(()) };
            if !matches!(error.as_ref(), spiffe_rustls::Error::PendingRevision { .. }) {
                return Err(spiffe_error(&self.endpoint, "no usable SVID", Some(Box::new(error))));
            }
            if tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
                let problem = format!("rotated SVID not applied within {ROTATION_WAIT:?}");
                return Err(spiffe_error(&self.endpoint, problem, Some(Box::new(error))));
            }
        }
    }
}

impl SpiffeTls {
    /// A digest of the current trust bundles: when a bundle changes (an authority added or
    /// withdrawn), new requests get new connections, verified against the new bundles.
    fn trust_revision(&self) -> Result<String, TlsError> {
        let bundles = self
            .source
            .bundle_set()
            .map_err(|e| spiffe_error(&self.endpoint, "no trust bundle", Some(e.into())))?;
        let mut domains: Vec<_> = bundles.iter().collect();
        domains.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        let mut digest = Sha256::new();
        for (domain, bundle) in domains {
            digest.update(domain.as_str().as_bytes());
            digest.update([0]);
            for authority in bundle.authorities() {
                digest.update((authority.as_bytes().len() as u64).to_le_bytes());
                digest.update(authority.as_bytes());
            }
        }
        Ok(format!(
            "bundles:{}",
            digest.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect::<String>()
        ))
    }
}

impl TlsProvider for SpiffeTls {
    fn identity(&self) -> IdentityFuture<'_> {
        Box::pin(async move {
            self.ready().await?;
            let svid = self
                .source
                .svid()
                .map_err(|e| spiffe_error(&self.endpoint, "no current SVID", Some(e.into())))?;
            // The pool key includes the certificate: after a rotation, new connections
            // (presenting the new SVID) are used, never connections made with the old one.
            let digest: String =
                Sha256::digest(svid.leaf().as_ref()).iter().take(8).map(|b| format!("{b:02x}")).collect();
            Ok(ClientIdentity {
                config: self.config.clone(),
                key: format!("{}#{digest}", svid.spiffe_id()),
                trust: self.trust_revision()?,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared Workload API vectors (`testdata/spiffe-workload-api.json`), which the JS,
    /// Python and Go tests read too; the CLI's tests check the environment's part.
    #[derive(serde::Deserialize)]
    struct Vectors {
        sockets: Vec<SocketCase>,
        svid_selection: Vec<SelectionCase>,
    }

    #[derive(serde::Deserialize)]
    struct SocketCase {
        setting: Option<String>,
        endpoint: String,
        path: Option<String>,
    }

    #[derive(serde::Deserialize)]
    struct SelectionCase {
        offered: Vec<String>,
        requested: Option<String>,
        selected: Option<String>,
        #[serde(default)]
        error_contains: Vec<String>,
    }

    fn vectors() -> Vectors {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/spiffe-workload-api.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("the shared vectors"))
            .expect("vectors parse")
    }

    #[test]
    fn socket_settings_become_endpoints_as_the_shared_vectors_say() {
        let cases: Vec<SocketCase> = vectors().sockets.into_iter().filter(|c| c.setting.is_some()).collect();
        assert!(!cases.is_empty());
        for case in cases {
            let setting = case.setting.unwrap_or_default();
            assert_eq!(endpoint(&setting), (case.endpoint, case.path), "{setting}");
        }
    }

    #[test]
    fn svids_are_selected_as_the_shared_vectors_say() {
        let cases = vectors().svid_selection;
        assert!(!cases.is_empty());
        for case in cases {
            let picked = select_svid(&case.offered, case.requested.as_deref());
            assert_eq!(picked.map(|i| case.offered[i].clone()), case.selected, "{:?}", case.requested);
            if picked.is_none() {
                let error = TlsError::SvidNotOffered {
                    endpoint: "unix:/run/spire.sock".into(),
                    id: case.requested.clone().unwrap_or_default(),
                    offered: case.offered.clone(),
                };
                for part in &case.error_contains {
                    assert!(error.to_string().contains(part.as_str()), "{error} lacks {part:?}");
                }
            }
        }
    }
}
