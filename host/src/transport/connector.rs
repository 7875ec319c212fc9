//! The connector under the pooled client: it bounds the whole connection setup (TCP and
//! TLS) and counts the connections made. It connects wherever it is asked to; what the
//! component may reach is decided before, by the outbound policy at the wasi-http hook
//! (`super::hooks`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use super::Counters;

/// Wraps a connector: bounds the whole connection setup (TCP and TLS) and counts successes.
#[derive(Clone)]
pub struct CountingConnector<C> {
    inner: C,
    timeout: Duration,
    counters: Arc<Counters>,
}

impl<C> CountingConnector<C> {
    pub(super) fn new(inner: C, timeout: Duration, counters: Arc<Counters>) -> Self {
        CountingConnector { inner, timeout, counters }
    }
}

/// Error of a connection setup that took too long.
#[derive(Debug, thiserror::Error)]
#[error("connection setup (TCP and TLS) took longer than {0:?}")]
pub struct SetupTimeout(pub Duration);

impl<C> tower::Service<http::Uri> for CountingConnector<C>
where
    C: tower::Service<http::Uri> + Send,
    C::Future: Send + 'static,
    C::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    C::Response: Send + 'static,
{
    type Response = C::Response;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let timeout = self.timeout;
        let counters = self.counters.clone();
        Box::pin(async move {
            let connection = tokio::time::timeout(timeout, connecting)
                .await
                .map_err(|_| Box::new(SetupTimeout(timeout)) as Self::Error)?
                .map_err(Into::into)?;
            counters.connections.fetch_add(1, Ordering::Relaxed);
            Ok(connection)
        })
    }
}
