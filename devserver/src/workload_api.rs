//! A fake SPIFFE Workload API (the `fake-workload-api` feature): a gRPC server on a unix
//! socket that hands out X.509-SVIDs it is given, keeps streams open, and pushes a new SVID
//! to every open stream on demand, as a SPIRE agent does on rotation. Tests use it for what
//! a real SPIRE (tools/spire/spire.sh) cannot be made to do on demand (stalls, garbage, a
//! foreign trust domain, withdrawn identities, rotation at a chosen moment); the
//! `metald-fake-workload-api` binary serves it to tests in other languages.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use tokio::net::UnixListener;
use tokio::sync::{mpsc, watch};
use tokio_stream::Stream;
use tokio_stream::wrappers::{ReceiverStream, UnixListenerStream};
use tonic::{Request, Response, Status};

/// Generated Workload API messages and service.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/_.rs"));
}

use proto::spiffe_workload_api_server::{SpiffeWorkloadApi, SpiffeWorkloadApiServer};
use proto::{X509BundlesRequest, X509BundlesResponse, X509svid, X509svidRequest, X509svidResponse};

/// One identity to hand out.
#[derive(Clone, Debug)]
pub struct Svid {
    /// The SPIFFE ID.
    pub spiffe_id: String,
    /// DER certificate chain, leaf first, concatenated.
    pub chain_der: Vec<u8>,
    /// PKCS#8 DER private key.
    pub key_der: Vec<u8>,
    /// DER roots of the SVID's trust domain, concatenated.
    pub bundle_der: Vec<u8>,
}

type State = Option<X509svidResponse>;

/// A running fake Workload API; stops when dropped.
pub struct FakeWorkloadApi {
    socket: PathBuf,
    state: Arc<watch::Sender<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeWorkloadApi {
    /// Listens on `socket` (replacing a stale file), handing out `svid` if given.
    pub fn start(socket: &Path, svid: Option<Svid>) -> std::io::Result<FakeWorkloadApi> {
        FakeWorkloadApi::start_with(socket, svid.as_slice())
    }

    /// Listens on `socket` (replacing a stale file), handing out `svids` (the first is the
    /// default one, as the Workload API specifies); none means no identity is issued.
    pub fn start_with(socket: &Path, svids: &[Svid]) -> std::io::Result<FakeWorkloadApi> {
        let _ = std::fs::remove_file(socket);
        let listener = UnixListener::bind(socket)?;
        let state = Arc::new(watch::channel(response(svids)).0);
        let service = Service { state: state.clone() };
        let server = tokio::spawn(async move {
            let serving = tonic::transport::Server::builder()
                .add_service(SpiffeWorkloadApiServer::new(service))
                .serve_with_incoming(UnixListenerStream::new(listener))
                .await;
            if let Err(error) = serving {
                tracing::error!(%error, "fake Workload API stopped");
            }
        });
        Ok(FakeWorkloadApi { socket: socket.to_path_buf(), state, server })
    }

    /// The endpoint clients use (`unix:/path`).
    pub fn endpoint(&self) -> String {
        format!("unix:{}", self.socket.display())
    }

    /// Hands out `svid` from now on, pushing it to every open stream (rotation); `None`
    /// withdraws the identity.
    pub fn set_svid(&self, svid: Option<Svid>) {
        self.set_svids(svid.as_slice());
    }

    /// Hands out `svids` from now on (the first is the default), pushing them to every open
    /// stream; an empty list withdraws the identity.
    pub fn set_svids(&self, svids: &[Svid]) {
        self.state.send_replace(response(svids));
    }
}

impl Drop for FakeWorkloadApi {
    fn drop(&mut self) {
        self.server.abort();
        let _ = std::fs::remove_file(&self.socket);
    }
}

fn response(svids: &[Svid]) -> State {
    if svids.is_empty() {
        return None;
    }
    let svids = svids
        .iter()
        .map(|svid| X509svid {
            spiffe_id: svid.spiffe_id.clone(),
            x509_svid: svid.chain_der.clone(),
            x509_svid_key: svid.key_der.clone(),
            bundle: svid.bundle_der.clone(),
            hint: String::new(),
        })
        .collect();
    Some(X509svidResponse { svids, crl: Vec::new(), federated_bundles: HashMap::new() })
}

struct Service {
    state: Arc<watch::Sender<State>>,
}

type Streaming<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// SPIRE refuses requests without exactly one `workload.spiffe.io: true`.
fn check_header<T>(request: &Request<T>) -> Result<(), Status> {
    let values: Vec<_> = request.metadata().get_all("workload.spiffe.io").iter().collect();
    if values.len() == 1 && values[0] == "true" {
        Ok(())
    } else {
        Err(Status::invalid_argument("security header missing from request"))
    }
}

/// The current answer and every later one, while the client listens.
fn follow<T: Send + 'static>(
    state: &watch::Sender<State>,
    map: fn(&X509svidResponse) -> T,
) -> Result<Streaming<T>, Status> {
    let no_identity = || Status::permission_denied("no identity issued");
    let mut changes = state.subscribe();
    let first = changes.borrow_and_update().as_ref().map(map).ok_or_else(no_identity)?;
    let (sender, receiver) = mpsc::channel(4);
    tokio::spawn(async move {
        if sender.send(Ok(first)).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { break },
                () = sender.closed() => break,
            }
            let next = changes.borrow_and_update().as_ref().map(map).ok_or_else(no_identity);
            let last = next.is_err();
            if sender.send(next).await.is_err() || last {
                break;
            }
        }
    });
    Ok(Box::pin(ReceiverStream::new(receiver)))
}

fn bundles(response: &X509svidResponse) -> X509BundlesResponse {
    let mut bundles = response.federated_bundles.clone();
    for svid in &response.svids {
        if let Ok(id) = spiffe::SpiffeId::new(&svid.spiffe_id) {
            bundles.insert(id.trust_domain().id_string(), svid.bundle.clone());
        }
    }
    X509BundlesResponse { crl: Vec::new(), bundles }
}

#[tonic::async_trait]
impl SpiffeWorkloadApi for Service {
    type FetchX509SVIDStream = Streaming<X509svidResponse>;
    type FetchX509BundlesStream = Streaming<X509BundlesResponse>;

    async fn fetch_x509svid(
        &self,
        request: Request<X509svidRequest>,
    ) -> Result<Response<Self::FetchX509SVIDStream>, Status> {
        check_header(&request)?;
        Ok(Response::new(follow(&self.state, X509svidResponse::clone)?))
    }

    async fn fetch_x509_bundles(
        &self,
        request: Request<X509BundlesRequest>,
    ) -> Result<Response<Self::FetchX509BundlesStream>, Status> {
        check_header(&request)?;
        Ok(Response::new(follow(&self.state, bundles)?))
    }
}
