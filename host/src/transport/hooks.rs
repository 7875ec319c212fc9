//! `WasiHttpHooks` of one store: policy and transport live in [`super::Transport`].

use std::future::Future;
use std::sync::Arc;

use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::Transport;
use crate::limits::Activity;

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;
type Sending = Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>;

/// The hooks of one store: a handle on the shared transport and the store's activity clock.
pub struct Hooks {
    transport: Arc<Transport>,
    activity: Activity,
}

impl Hooks {
    /// Hooks sending through `transport`, recording activity in `activity`.
    pub fn new(transport: Arc<Transport>, activity: Activity) -> Self {
        Hooks { transport, activity }
    }
}

impl WasiHttpHooks for Hooks {
    /// hyper sets `Host` for HTTP/1.1 itself, and an HTTP/2 request must not carry one.
    fn set_host_header(&mut self) -> bool {
        false
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _: IoFuture,
    ) -> Sending {
        let transport = self.transport.clone();
        let activity = self.activity.clone();
        Box::new(async move {
            let response = transport.send(request, options, activity).await?;
            // The pooled client drives its connections itself: no per-request I/O future.
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}
