//! `WasiHttpHooks` of one store: where the outbound policy is decided, in front of the shared
//! [`Transport`], as wasmtime's `WasiHttpHooks::send_request` is meant to be used (and as
//! Spin's outbound-networking layer checks `allowed_outbound_hosts` before sending).
//!
//! Every request the component makes through `wasi:http/outgoing-handler.handle` arrives
//! here first. A destination that is not on the allow-list ([`AllowList`]) gets wasi-http's
//! `error-code.HTTP-request-denied` and never reaches the transport; everything else is
//! handed to the transport, which only connects and sends.
//!
//! Each request is one tracing span, `outgoing_request`, at debug level, with the fields
//! `authority` (host and port), `method`, `status` (when a response head arrived), `error`
//! (the wasi-http error code otherwise) and `elapsed_ms` (until the response head or the
//! failure). Headers and bodies are never recorded: they carry credentials (Authorization).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tracing::Instrument;
use tracing::field::Empty;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::errors::{Cause, Phase, code};
use super::{AllowList, Transport};
use crate::limits::Activity;

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;
type Sending = Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>;

/// The hooks of one store: the outbound policy, a handle on the shared transport and the
/// store's activity clock.
pub struct Hooks {
    policy: Arc<AllowList>,
    transport: Arc<Transport>,
    activity: Activity,
}

impl Hooks {
    /// Hooks that let through what `policy` allows, send it through `transport`, and record
    /// activity in `activity`.
    pub fn new(policy: Arc<AllowList>, transport: Arc<Transport>, activity: Activity) -> Self {
        Hooks { policy, transport, activity }
    }
}

/// The policy's decision on `request`: `HTTP-request-denied` for a destination that is not
/// on the allow-list.
fn check(policy: &AllowList, request: &http::Request<WasiBody>) -> Result<(), HttpError> {
    if policy.allows(request.uri()) {
        return Ok(());
    }
    tracing::warn!(
        destination = %destination(request.uri()),
        allowed = ?policy.entries().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "outbound request denied: not on the allow-list"
    );
    Err(code(&Cause::Denied, Phase::Connect))
}

/// `scheme://host:port` of `uri`: no user info, path or query, which may carry secrets.
fn destination(uri: &http::Uri) -> String {
    format!("{}://{}", uri.scheme_str().unwrap_or("https"), authority(uri))
}

/// `host:port` of `uri` (or `host`), without any user info.
fn authority(uri: &http::Uri) -> &str {
    let authority = uri.authority().map_or("", http::uri::Authority::as_str);
    authority.rsplit('@').next().unwrap_or(authority)
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
        let span = tracing::debug_span!(
            "outgoing_request",
            authority = authority(request.uri()),
            method = request.method().as_str(),
            status = Empty,
            error = Empty,
            elapsed_ms = Empty,
        );
        let policy = self.policy.clone();
        let transport = self.transport.clone();
        let activity = self.activity.clone();
        let recorded = span.clone();
        let exchange = async move {
            let started = Instant::now();
            transport.counters.requests.fetch_add(1, Ordering::Relaxed);
            activity.touch();
            let result = match check(&policy, &request) {
                Ok(()) => transport.send(request, options, activity).await,
                Err(denied) => {
                    transport.counters.denied.fetch_add(1, Ordering::Relaxed);
                    Err(denied)
                }
            };
            recorded.record("elapsed_ms", u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
            match &result {
                Ok(response) => recorded.record("status", response.status().as_u16()),
                Err(error) => recorded.record("error", tracing::field::debug(error)),
            };
            tracing::debug!("outgoing request done");
            // The pooled client drives its connections itself: no per-request I/O future.
            result.map(|response| (response, Box::new(async { Ok(()) }) as IoFuture))
        };
        Box::new(exchange.instrument(span))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use http_body_util::{BodyExt, Empty as EmptyBody};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    use super::*;
    use crate::tls::ServerAuthOnly;
    use crate::transport::{AllowedHost, TransportConfig};

    /// Hooks allowing exactly `allowed` (`scheme://host:port` entries), over a plain transport.
    fn hooks(allowed: &[&str]) -> (Hooks, Arc<Transport>) {
        let policy = AllowList::new(allowed.iter().map(|entry| AllowedHost::parse(entry).unwrap()).collect());
        let tls = Arc::new(ServerAuthOnly::new().unwrap());
        let transport = Transport::new(TransportConfig::new(tls, policy.clone()));
        (Hooks::new(Arc::new(policy), transport.clone(), Activity::default()), transport)
    }

    /// A request as wasmtime-wasi-http hands it to the hook.
    fn request(method: &str, uri: &str) -> http::Request<WasiBody> {
        let body = EmptyBody::new().map_err(|never| match never {}).boxed_unsync();
        http::Request::builder()
            .method(method)
            .uri(uri)
            .header(http::header::AUTHORIZATION, "Bearer s3cret-token")
            .body(body)
            .unwrap()
    }

    async fn send(
        hooks: &mut Hooks,
        request: http::Request<WasiBody>,
    ) -> Result<http::StatusCode, HttpError> {
        let sending = hooks.send_request(request, None, Box::new(async { Ok(()) }));
        let (response, _io) = Box::into_pin(sending).await?;
        Ok(response.status())
    }

    /// A loopback HTTP/1.1 server answering every request `204 No Content`; its `host:port`.
    /// Blocking I/O on a thread of its own: the test needs no more of tokio than the library.
    fn no_content_server() -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for mut socket in listener.incoming().map_while(Result::ok) {
                let mut head = Vec::new();
                let mut buffer = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let _ = socket.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n");
            }
        });
        address
    }

    #[tokio::test]
    async fn destinations_off_the_allow_list_get_http_request_denied_and_reach_no_transport() {
        let (mut hooks, transport) = hooks(&["http://127.0.0.1:8080"]);
        for uri in [
            "http://127.0.0.1:8081/x",
            "https://127.0.0.1:8080/x",
            "http://localhost:8080/x",
            "http://user:pw@10.0.0.1:8080/x",
        ] {
            let denied = send(&mut hooks, request("POST", uri)).await;
            assert!(matches!(denied, Err(HttpError::HttpRequestDenied)), "{uri}: {denied:?}");
        }
        let stats = transport.stats();
        assert_eq!((stats.requests, stats.denied, stats.connections), (4, 4, 0));
    }

    #[tokio::test]
    async fn allowed_destinations_go_through_to_the_transport() {
        let address = no_content_server();
        let (mut hooks, transport) = hooks(&[&format!("http://{address}")]);
        let status = send(&mut hooks, request("POST", &format!("http://{address}/metald/x"))).await;
        assert_eq!(status.unwrap(), http::StatusCode::NO_CONTENT);
        let stats = transport.stats();
        assert_eq!((stats.requests, stats.denied, stats.connections), (1, 0, 1));
    }

    /// What a span or an event recorded: its fields, as text.
    type Fields = BTreeMap<String, String>;

    /// A minimal subscriber that keeps every span's name and fields and every event's fields.
    #[derive(Clone, Default)]
    struct Recorder {
        spans: Arc<Mutex<Vec<(&'static str, Fields)>>>,
        events: Arc<Mutex<Vec<Fields>>>,
    }

    struct Collect<'a>(&'a mut Fields);

    impl Visit for Collect<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_string(), format!("{value:?}"));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_string(), value.to_string());
        }
    }

    impl Subscriber for Recorder {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            let mut fields = Fields::new();
            span.record(&mut Collect(&mut fields));
            let mut spans = self.spans.lock().unwrap();
            spans.push((span.metadata().name(), fields));
            Id::from_u64(spans.len() as u64)
        }
        fn record(&self, span: &Id, values: &Record<'_>) {
            let mut spans = self.spans.lock().unwrap();
            let index = usize::try_from(span.into_u64()).unwrap() - 1;
            values.record(&mut Collect(&mut spans[index].1));
        }
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut fields = Fields::new();
            event.record(&mut Collect(&mut fields));
            self.events.lock().unwrap().push(fields);
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[tokio::test]
    async fn each_request_is_one_span_with_authority_method_status_and_elapsed_and_no_headers() {
        // With a single registered dispatcher, tracing-core decides a callsite's interest by
        // whatever dispatcher is the default on the thread that first reaches it
        // (`Rebuilder::JustOne` in tracing-core's callsite.rs): another test's thread, with
        // none, would disable the span here for good. A second registered dispatcher makes it
        // ask every registered one, so the span stays enabled on this thread.
        let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
        let recorder = Recorder::default();
        let _default = tracing::subscriber::set_default(recorder.clone());
        let address = no_content_server();
        let (mut hooks, _) = hooks(&[&format!("http://{address}")]);
        send(&mut hooks, request("POST", &format!("http://{address}/x"))).await.unwrap();
        send(&mut hooks, request("GET", "http://user:pw@127.0.0.1:9/x")).await.unwrap_err();

        let spans = recorder.spans.lock().unwrap().clone();
        let requests: Vec<&Fields> =
            spans.iter().filter(|(name, _)| *name == "outgoing_request").map(|(_, fields)| fields).collect();
        assert_eq!(requests.len(), 2, "one span per request: {spans:?}");
        let (allowed, denied) = (requests[0], requests[1]);
        assert_eq!(allowed["authority"], address);
        assert_eq!(allowed["method"], "POST");
        assert_eq!(allowed["status"], "204");
        assert!(allowed["elapsed_ms"].parse::<u64>().is_ok(), "{allowed:?}");
        assert!(!allowed.contains_key("error"), "{allowed:?}");
        assert_eq!(denied["authority"], "127.0.0.1:9", "no user info");
        assert_eq!(denied["method"], "GET");
        assert_eq!(denied["error"], "HttpRequestDenied");
        assert!(!denied.contains_key("status"), "{denied:?}");
        assert!(denied["elapsed_ms"].parse::<u64>().is_ok(), "{denied:?}");

        let events = recorder.events.lock().unwrap().clone();
        let everything = format!("{spans:?} {events:?}");
        for secret in ["s3cret", "authorization", "pw@"] {
            assert!(!everything.to_ascii_lowercase().contains(secret), "{secret} recorded: {everything}");
        }
    }
}
