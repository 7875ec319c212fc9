//! Response bodies with a between-bytes timeout, and the heartbeat that tells the runaway
//! check a component is waiting for I/O rather than computing.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

use crate::limits::Activity;

/// How often a component blocked on I/O is recorded as active. The runaway check stops a
/// component that computes for its budget (10 s by default) without I/O; a component that
/// waits that long for a slow server is not computing, and must end with its own deadline.
pub const HEARTBEAT: Duration = Duration::from_millis(200);

/// Runs `future` (a request being sent, an answer awaited) and records activity every
/// [`HEARTBEAT`] while it is pending.
pub async fn while_waiting<F: Future>(activity: &Activity, future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut beat = tokio::time::interval(HEARTBEAT);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            output = &mut future => return output,
            _ = beat.tick() => activity.touch(),
        }
    }
}

/// A response body that fails when no bytes arrive for `between_bytes`, and records
/// activity as bytes arrive and, every [`HEARTBEAT`], while the component waits for them.
pub struct GuardedBody {
    incoming: Incoming,
    between_bytes: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
    heartbeat: Pin<Box<tokio::time::Sleep>>,
    activity: Activity,
}

impl GuardedBody {
    /// Guards `incoming`.
    pub fn new(incoming: Incoming, between_bytes: Duration, activity: Activity) -> Self {
        let sleep = Box::pin(tokio::time::sleep(between_bytes));
        let heartbeat = Box::pin(tokio::time::sleep(HEARTBEAT));
        GuardedBody { incoming, between_bytes, sleep, heartbeat, activity }
    }

    /// As the body type `wasmtime-wasi-http` wants.
    pub fn boxed(self) -> WasiBody {
        BodyExt::boxed_unsync(self)
    }
}

impl Body for GuardedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.activity.touch();
                let next = tokio::time::Instant::now() + this.between_bytes;
                this.sleep.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(super::errors::from_body_error(&error)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                // Polled while pending: the component waits for these bytes.
                while this.heartbeat.as_mut().poll(cx).is_ready() {
                    this.activity.touch();
                    let next = tokio::time::Instant::now() + HEARTBEAT;
                    this.heartbeat.as_mut().reset(next);
                }
                ready!(this.sleep.as_mut().poll(cx));
                Poll::Ready(Some(Err(super::errors::code(
                    &super::errors::Cause::Stalled,
                    super::errors::Phase::ResponseBody,
                ))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}
