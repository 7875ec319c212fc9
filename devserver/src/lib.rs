//! metald-devserver: a metald-compatible Connect server for development and tests.
//!
//! It answers as the real metald does as a client sees it (docs/upstream.md#authentication and #server-behaviour): the
//! same routes, codecs, auth checks, error codes and messages. It keeps VMs in memory or in
//! a SQLite file, walks a real state machine, pages listings, and can inject faults.
//!
//! ```no_run
//! # async fn demo() -> Result<(), metald_devserver::DevServerError> {
//! let server = metald_devserver::DevServer::start(Default::default()).await?;
//! println!("metald dev server on {}", server.url());
//! # Ok(()) }
//! ```

pub mod auth;
pub mod faults;
mod json_lines;
pub mod request_log;
mod rewrite;
pub mod server;
pub mod service;
pub mod store;
pub mod tls;
#[cfg(feature = "fake-workload-api")]
pub mod workload_api;

/// Generated `metal.vmprovisioner.v1` types and service (buffa + connectrpc).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    connectrpc::include_generated!();
    pub use metal::vmprovisioner::v1::*;
}

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use faults::{Fault, FaultSpec, Faults};
pub use request_log::{RequestLog, RequestRecord};
pub use server::{Acceptor, PlainAcceptor, Routes, Stats, StatsSnapshot};
use service::VmServer;
use store::{MemoryStore, SqliteStore, Store, StoreError};

/// How to run a dev server.
#[derive(Clone)]
pub struct DevServerConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// SQLite state file; `None` keeps VMs in memory.
    pub state_file: Option<PathBuf>,
    /// Which proto packages the routes are served under.
    pub routes: Routes,
    /// Connection setup: plain (the default) or TLS.
    pub acceptor: Arc<dyn Acceptor>,
    /// Faults in effect from the start.
    pub faults: Vec<FaultSpec>,
    /// Where each answered request is recorded, if anywhere.
    pub request_log: Option<Arc<RequestLog>>,
}

impl Default for DevServerConfig {
    fn default() -> Self {
        DevServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            state_file: None,
            routes: Routes::Current,
            acceptor: Arc::new(PlainAcceptor),
            faults: Vec::new(),
            request_log: None,
        }
    }
}

/// Why a dev server could not start.
#[derive(Debug, thiserror::Error)]
pub enum DevServerError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The state file could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A running dev server; it stops when dropped or shut down.
pub struct DevServer {
    addr: SocketAddr,
    scheme: &'static str,
    faults: Arc<Faults>,
    stats: Arc<Stats>,
    stop: watch::Sender<bool>,
}

impl DevServer {
    /// Binds and starts serving on the current tokio runtime.
    pub async fn start(config: DevServerConfig) -> Result<DevServer, DevServerError> {
        let store: Arc<dyn Store> = match &config.state_file {
            Some(path) => Arc::new(SqliteStore::open(path)?),
            None => Arc::new(MemoryStore::default()),
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| DevServerError::Bind { addr: config.listen, source })?;
        let addr =
            listener.local_addr().map_err(|source| DevServerError::Bind { addr: config.listen, source })?;
        let faults = Arc::new(Faults::default());
        for spec in config.faults {
            faults.apply(spec);
        }
        let stats = Arc::new(Stats::default());
        let (stop, stopped) = watch::channel(false);
        let scheme = config.acceptor.scheme();
        let front = server::FrontConfig {
            service: VmServer::new(store),
            routes: config.routes,
            faults: faults.clone(),
            stats: stats.clone(),
            request_log: config.request_log,
        };
        tokio::spawn(server::serve(listener, config.acceptor, front, stopped));
        tracing::info!(%addr, scheme, "metald dev server listening");
        Ok(DevServer { addr, scheme, faults, stats, stop })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL clients use (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        server::url(self.scheme, self.addr)
    }

    /// The faults in effect; change them at any time.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Connection and request counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Stops accepting and closes every connection.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
