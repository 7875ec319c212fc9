use super::*;
use crate::model::*;
use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use metald_proto as pb;
use prost::Message;

/// A transport that answers from a script and keeps virtual time.
struct Scripted {
    now: u64,
    answers: VecDeque<Answer>,
    sent: Vec<(u64, HttpRequest)>,
}

enum Answer {
    Respond { after_ms: u64, response: HttpResponse },
    Fail { after_ms: u64, failure: Failure },
    Hang,
}

impl Transport for Scripted {
    fn now(&self) -> u64 {
        self.now
    }
    fn sleep_until(&mut self, until: u64) {
        assert!(until >= self.now);
        self.now = until;
    }
    fn entropy(&mut self) -> u64 {
        7
    }
    fn exchange(
        &mut self,
        request: &HttpRequest,
        now: u64,
        deadline: u64,
        _max: u32,
    ) -> Result<HttpResponse, Failure> {
        assert_eq!(now, self.now, "the caller passes the time it read");
        self.sent.push((self.now, request.clone()));
        match self.answers.pop_front().expect("more exchanges than scripted") {
            Answer::Respond { after_ms, response } => {
                self.now += after_ms * NANOS_PER_MS;
                Ok(response)
            }
            Answer::Fail { after_ms, failure } => {
                self.now += after_ms * NANOS_PER_MS;
                Err(failure)
            }
            Answer::Hang => {
                self.now = deadline;
                Err(Failure {
                    code: ErrorCode::DeadlineExceeded,
                    message: "deadline".into(),
                    stage: Stage::Sent,
                })
            }
        }
    }
}

fn scripted(answers: Vec<Answer>) -> Scripted {
    Scripted { now: 1_000, answers: answers.into(), sent: vec![] }
}

fn options(timeout_ms: u32, retries: u32) -> Resolved {
    Resolved::new(&ClientOptions {
        server: "http://127.0.0.1:1".into(),
        user_id: "u".into(),
        tenant_id: "t".into(),
        timeout_ms: Some(timeout_ms),
        route_prefix: None,
        codec: None,
        retries: Some(retries),
        max_response_bytes: None,
        compression: None,
    })
    .unwrap()
}

fn ok_info() -> Answer {
    let body = pb::GetVmInfoResponse { vm_id: "ud-1".into(), state: 2, ..Default::default() }.encode_to_vec();
    Answer::Respond {
        after_ms: 1,
        response: HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/proto".into())],
            body,
        },
    }
}

fn ok_create() -> Answer {
    let body = pb::CreateVmResponse { vm_id: "ud-2".into(), state: 1 }.encode_to_vec();
    Answer::Respond {
        after_ms: 1,
        response: HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/proto".into())],
            body,
        },
    }
}

fn status_503() -> Answer {
    Answer::Respond {
        after_ms: 1,
        response: HttpResponse {
            status: 503,
            headers: vec![],
            body: br#"{"code":"unavailable","message":"overloaded"}"#.to_vec(),
        },
    }
}

fn refused() -> Answer {
    Answer::Fail {
        after_ms: 1,
        failure: Failure {
            code: ErrorCode::Unavailable,
            message: "connection refused".into(),
            stage: Stage::NotSent,
        },
    }
}

fn reset_after_send() -> Answer {
    Answer::Fail {
        after_ms: 1,
        failure: Failure {
            code: ErrorCode::Unavailable,
            message: "connection reset".into(),
            stage: Stage::Sent,
        },
    }
}

fn info_request() -> RpcRequest {
    RpcRequest::GetVmInfo("ud-1".into())
}

fn create_request() -> RpcRequest {
    RpcRequest::CreateVm(CreateVmRequest {
        vm_id: String::new(),
        config: crate::templates::config(
            crate::bindings::exports::metald::client::templates::Template::Minimal,
        ),
    })
}

fn transport_error(result: Result<RpcResponse, Error>) -> TransportError {
    match result {
        Err(Error::Transport(t)) => t,
        other => panic!("expected a transport error, got {other:?}"),
    }
}

#[test]
fn reads_are_retried_after_unavailable_and_succeed() {
    let mut t = scripted(vec![status_503(), refused(), ok_info()]);
    let response = call(&mut t, &options(30_000, 2), &info_request()).unwrap();
    assert!(matches!(response, RpcResponse::GetVmInfo(ref r) if r.vm_id == "ud-1"));
    assert_eq!(t.sent.len(), 3);
    let gaps: Vec<u64> = t.sent.windows(2).map(|w| (w[1].0 - w[0].0) / NANOS_PER_MS).collect();
    assert!(gaps[0] >= 25 && gaps[0] <= 51, "first backoff {gaps:?}");
    assert!(gaps[1] >= 50 && gaps[1] <= 101, "second backoff doubles {gaps:?}");
}

#[test]
fn reads_give_up_after_the_configured_retries() {
    let mut t = scripted(vec![status_503(), status_503(), status_503()]);
    let error = transport_error(call(&mut t, &options(30_000, 2), &info_request()));
    assert_eq!(error.code, ErrorCode::Unavailable);
    assert!(
        error.message.contains("after 3 attempts") && error.message.contains("overloaded"),
        "{}",
        error.message
    );
    assert!(!error.outcome_unknown);
}

#[test]
fn zero_retries_means_one_attempt() {
    let mut t = scripted(vec![status_503()]);
    transport_error(call(&mut t, &options(30_000, 0), &info_request()));
    assert_eq!(t.sent.len(), 1);
}

#[test]
fn create_is_never_retried_and_reports_an_unknown_outcome() {
    let mut t = scripted(vec![reset_after_send()]);
    let error = transport_error(call(&mut t, &options(30_000, 5), &create_request()));
    assert_eq!(t.sent.len(), 1);
    assert!(error.outcome_unknown);
    assert!(
        error.message.contains("outcome is unknown") && error.message.contains("List VMs"),
        "{}",
        error.message
    );
}

#[test]
fn a_create_the_server_never_processed_is_retried_with_a_known_outcome() {
    let mut t = scripted(vec![refused(), refused(), ok_create()]);
    let response = call(&mut t, &options(30_000, 5), &create_request()).unwrap();
    assert!(matches!(response, RpcResponse::CreateVm(ref r) if r.vm_id == "ud-2"), "{response:?}");
    assert_eq!(t.sent.len(), 3, "refused twice, then created");

    let mut t = scripted(vec![refused(), refused()]);
    let error = transport_error(call(&mut t, &options(30_000, 1), &create_request()));
    assert_eq!(t.sent.len(), 2);
    assert!(!error.outcome_unknown, "{}", error.message);
    assert!(error.message.contains("after 2 attempts"), "{}", error.message);
}

#[test]
fn every_write_is_retried_only_when_it_was_not_processed() {
    let writes = [
        RpcRequest::DeleteVm(DeleteVmRequest { vm_id: "ud-1".into(), force: false }),
        RpcRequest::BootVm("ud-1".into()),
        create_request(),
    ];
    for request in writes {
        let mut t = scripted(vec![refused(), reset_after_send()]);
        let error = transport_error(call(&mut t, &options(30_000, 5), &request));
        assert_eq!(t.sent.len(), 2, "{request:?}: refused is retried, a reset after sending is not");
        assert!(error.outcome_unknown, "{request:?}: {}", error.message);
    }
}

#[test]
fn a_server_unavailable_error_on_a_write_is_returned_as_is() {
    let mut t = scripted(vec![status_503()]);
    let result = call(&mut t, &options(30_000, 5), &RpcRequest::BootVm("ud-1".into()));
    assert!(matches!(result, Err(Error::Connect(ref e)) if e.code == ErrorCode::Unavailable), "{result:?}");
    assert_eq!(t.sent.len(), 1);
}

#[test]
fn failures_after_the_response_started_are_not_retried() {
    let mut t = scripted(vec![Answer::Fail {
        after_ms: 1,
        failure: Failure {
            code: ErrorCode::Unavailable,
            message: "reset mid-body".into(),
            stage: Stage::Receiving,
        },
    }]);
    transport_error(call(&mut t, &options(30_000, 5), &info_request()));
    assert_eq!(t.sent.len(), 1);
}

#[test]
fn a_hung_server_ends_in_deadline_exceeded_at_the_deadline() {
    let mut t = scripted(vec![Answer::Hang]);
    let start = t.now;
    let error = transport_error(call(&mut t, &options(500, 2), &info_request()));
    assert_eq!(error.code, ErrorCode::DeadlineExceeded);
    assert_eq!(t.now - start, 500 * NANOS_PER_MS);
    assert_eq!(error.message, "GetVmInfo did not complete within its 500 ms deadline");
    let sent_timeout = codec::header(&t.sent[0].1.headers, "connect-timeout-ms").unwrap();
    assert_eq!(sent_timeout, "500");
}

#[test]
fn retries_never_sleep_past_the_deadline() {
    let mut t = scripted(vec![Answer::Fail {
        after_ms: 90,
        failure: Failure { code: ErrorCode::Unavailable, message: "refused".into(), stage: Stage::NotSent },
    }]);
    let error = transport_error(call(&mut t, &options(100, 5), &info_request()));
    assert_eq!(error.code, ErrorCode::Unavailable, "the last real error, not a made-up deadline");
    assert_eq!(t.sent.len(), 1);
    assert!(t.now - 1_000 < 100 * NANOS_PER_MS);
}

#[test]
fn each_retry_sends_the_remaining_time_as_connect_timeout() {
    let mut t = scripted(vec![
        Answer::Fail {
            after_ms: 300,
            failure: Failure { code: ErrorCode::Unavailable, message: "x".into(), stage: Stage::NotSent },
        },
        ok_info(),
    ]);
    call(&mut t, &options(1_000, 1), &info_request()).unwrap();
    let second: u32 = codec::header(&t.sent[1].1.headers, "connect-timeout-ms").unwrap().parse().unwrap();
    assert!(second < 700 && second > 600, "{second}");
}

#[test]
fn backoff_is_capped_and_jittered() {
    assert_eq!(backoff(0, 0), BACKOFF_BASE_NS / 2);
    assert!(backoff(0, u64::MAX) <= BACKOFF_BASE_NS);
    assert!(backoff(30, 12345) <= BACKOFF_CAP_NS);
    assert!(backoff(30, 12345) >= BACKOFF_CAP_NS / 2);
}

mod http_error_table {
    //! The cases of `testdata/transport-errors.json`, which the Go host's tests read too.
    use super::super::http_errors::{Phase, classify};
    use super::super::{outcome_unknown, retry_safe};
    use crate::bindings::wasi::http::types::{
        DnsErrorPayload, ErrorCode as HttpError, FieldSizePayload, TlsAlertReceivedPayload,
    };
    use crate::errors::code_name;
    use alloc::collections::BTreeSet;
    use alloc::string::String;
    use alloc::vec::Vec;

    const VECTORS: &str = include_str!("../../../testdata/transport-errors.json");

    /// Every case of `error-code`, by its WIT name.
    const NAMES: [&str; 39] = [
        "DNS-timeout",
        "DNS-error",
        "destination-not-found",
        "destination-unavailable",
        "destination-IP-prohibited",
        "destination-IP-unroutable",
        "connection-refused",
        "connection-terminated",
        "connection-timeout",
        "connection-read-timeout",
        "connection-write-timeout",
        "connection-limit-reached",
        "TLS-protocol-error",
        "TLS-certificate-error",
        "TLS-alert-received",
        "HTTP-request-denied",
        "HTTP-request-length-required",
        "HTTP-request-body-size",
        "HTTP-request-method-invalid",
        "HTTP-request-URI-invalid",
        "HTTP-request-URI-too-long",
        "HTTP-request-header-section-size",
        "HTTP-request-header-size",
        "HTTP-request-trailer-section-size",
        "HTTP-request-trailer-size",
        "HTTP-response-incomplete",
        "HTTP-response-header-section-size",
        "HTTP-response-header-size",
        "HTTP-response-body-size",
        "HTTP-response-trailer-section-size",
        "HTTP-response-trailer-size",
        "HTTP-response-transfer-coding",
        "HTTP-response-content-coding",
        "HTTP-response-timeout",
        "HTTP-upgrade-failed",
        "HTTP-protocol-error",
        "loop-detected",
        "configuration-error",
        "internal-error",
    ];

    /// The WIT name of a code. Exhaustive: a case added to the WIT fails to compile here.
    fn name_of(error: &HttpError) -> &'static str {
        use HttpError as E;
        match error {
            E::DnsTimeout => "DNS-timeout",
            E::DnsError(_) => "DNS-error",
            E::DestinationNotFound => "destination-not-found",
            E::DestinationUnavailable => "destination-unavailable",
            E::DestinationIpProhibited => "destination-IP-prohibited",
            E::DestinationIpUnroutable => "destination-IP-unroutable",
            E::ConnectionRefused => "connection-refused",
            E::ConnectionTerminated => "connection-terminated",
            E::ConnectionTimeout => "connection-timeout",
            E::ConnectionReadTimeout => "connection-read-timeout",
            E::ConnectionWriteTimeout => "connection-write-timeout",
            E::ConnectionLimitReached => "connection-limit-reached",
            E::TlsProtocolError => "TLS-protocol-error",
            E::TlsCertificateError => "TLS-certificate-error",
            E::TlsAlertReceived(_) => "TLS-alert-received",
            E::HttpRequestDenied => "HTTP-request-denied",
            E::HttpRequestLengthRequired => "HTTP-request-length-required",
            E::HttpRequestBodySize(_) => "HTTP-request-body-size",
            E::HttpRequestMethodInvalid => "HTTP-request-method-invalid",
            E::HttpRequestUriInvalid => "HTTP-request-URI-invalid",
            E::HttpRequestUriTooLong => "HTTP-request-URI-too-long",
            E::HttpRequestHeaderSectionSize(_) => "HTTP-request-header-section-size",
            E::HttpRequestHeaderSize(_) => "HTTP-request-header-size",
            E::HttpRequestTrailerSectionSize(_) => "HTTP-request-trailer-section-size",
            E::HttpRequestTrailerSize(_) => "HTTP-request-trailer-size",
            E::HttpResponseIncomplete => "HTTP-response-incomplete",
            E::HttpResponseHeaderSectionSize(_) => "HTTP-response-header-section-size",
            E::HttpResponseHeaderSize(_) => "HTTP-response-header-size",
            E::HttpResponseBodySize(_) => "HTTP-response-body-size",
            E::HttpResponseTrailerSectionSize(_) => "HTTP-response-trailer-section-size",
            E::HttpResponseTrailerSize(_) => "HTTP-response-trailer-size",
            E::HttpResponseTransferCoding(_) => "HTTP-response-transfer-coding",
            E::HttpResponseContentCoding(_) => "HTTP-response-content-coding",
            E::HttpResponseTimeout => "HTTP-response-timeout",
            E::HttpUpgradeFailed => "HTTP-upgrade-failed",
            E::HttpProtocolError => "HTTP-protocol-error",
            E::LoopDetected => "loop-detected",
            E::ConfigurationError => "configuration-error",
            E::InternalError(_) => "internal-error",
        }
    }

    /// A code of that name, with a typical payload.
    fn sample(name: &str) -> HttpError {
        use HttpError as E;
        let field = || FieldSizePayload { field_name: Some("x-big".into()), field_size: Some(70_000) };
        match name {
            "DNS-timeout" => E::DnsTimeout,
            "DNS-error" => E::DnsError(DnsErrorPayload { rcode: Some("NXDOMAIN".into()), info_code: None }),
            "destination-not-found" => E::DestinationNotFound,
            "destination-unavailable" => E::DestinationUnavailable,
            "destination-IP-prohibited" => E::DestinationIpProhibited,
            "destination-IP-unroutable" => E::DestinationIpUnroutable,
            "connection-refused" => E::ConnectionRefused,
            "connection-terminated" => E::ConnectionTerminated,
            "connection-timeout" => E::ConnectionTimeout,
            "connection-read-timeout" => E::ConnectionReadTimeout,
            "connection-write-timeout" => E::ConnectionWriteTimeout,
            "connection-limit-reached" => E::ConnectionLimitReached,
            "TLS-protocol-error" => E::TlsProtocolError,
            "TLS-certificate-error" => E::TlsCertificateError,
            "TLS-alert-received" => E::TlsAlertReceived(TlsAlertReceivedPayload {
                alert_id: Some(116),
                alert_message: Some("certificate required".into()),
            }),
            "HTTP-request-denied" => E::HttpRequestDenied,
            "HTTP-request-length-required" => E::HttpRequestLengthRequired,
            "HTTP-request-body-size" => E::HttpRequestBodySize(Some(12)),
            "HTTP-request-method-invalid" => E::HttpRequestMethodInvalid,
            "HTTP-request-URI-invalid" => E::HttpRequestUriInvalid,
            "HTTP-request-URI-too-long" => E::HttpRequestUriTooLong,
            "HTTP-request-header-section-size" => E::HttpRequestHeaderSectionSize(Some(70_000)),
            "HTTP-request-header-size" => E::HttpRequestHeaderSize(Some(field())),
            "HTTP-request-trailer-section-size" => E::HttpRequestTrailerSectionSize(None),
            "HTTP-request-trailer-size" => E::HttpRequestTrailerSize(field()),
            "HTTP-response-incomplete" => E::HttpResponseIncomplete,
            "HTTP-response-header-section-size" => E::HttpResponseHeaderSectionSize(Some(70_000)),
            "HTTP-response-header-size" => E::HttpResponseHeaderSize(field()),
            "HTTP-response-body-size" => E::HttpResponseBodySize(Some(1 << 30)),
            "HTTP-response-trailer-section-size" => E::HttpResponseTrailerSectionSize(None),
            "HTTP-response-trailer-size" => E::HttpResponseTrailerSize(field()),
            "HTTP-response-transfer-coding" => E::HttpResponseTransferCoding(Some("zstd".into())),
            "HTTP-response-content-coding" => E::HttpResponseContentCoding(Some("br".into())),
            "HTTP-response-timeout" => E::HttpResponseTimeout,
            "HTTP-upgrade-failed" => E::HttpUpgradeFailed,
            "HTTP-protocol-error" => E::HttpProtocolError,
            "loop-detected" => E::LoopDetected,
            "configuration-error" => E::ConfigurationError,
            "internal-error" => E::InternalError(Some("something odd".into())),
            other => panic!("no error-code case is called {other:?}"),
        }
    }

    fn phase(name: &str) -> Phase {
        match name {
            "handle" => Phase::Handle,
            "request" => Phase::Request,
            "response" => Phase::Response,
            other => panic!("unknown phase {other:?}"),
        }
    }

    fn retry_name(error: &HttpError, phase: Phase) -> &'static str {
        let stage = classify(error, phase);
        match (retry_safe(true, stage.code, stage.stage), retry_safe(false, stage.code, stage.stage)) {
            (true, true) => "reads-and-writes",
            (true, false) => "reads",
            (false, false) => "none",
            (false, true) => panic!("a write is never safer to repeat than a read"),
        }
    }

    #[test]
    fn the_names_are_the_wit_cases() {
        let unique: BTreeSet<&str> = NAMES.iter().copied().collect();
        assert_eq!(unique.len(), NAMES.len());
        for name in NAMES {
            assert_eq!(name_of(&sample(name)), name);
        }
    }

    #[test]
    fn every_code_and_phase_is_reported_as_the_shared_vectors_say() {
        let vectors: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
        let cases = vectors["cases"].as_array().unwrap();
        let mut covered = BTreeSet::new();
        let mut mismatches = Vec::new();
        for case in cases {
            let text = |key: &str| case[key].as_str().unwrap_or_else(|| panic!("{case}: {key}"));
            let (error, phase) = (sample(text("code")), phase(text("phase")));
            assert!(covered.insert((text("code"), text("phase"))), "{case} appears twice");
            let got = classify(&error, phase);
            let write_unknown = outcome_unknown(false, got.stage);
            let got_case = (code_name(got.code), write_unknown, retry_name(&error, phase));
            let want = (text("connect_code"), case["outcome_unknown"].as_bool().unwrap(), text("retry"));
            if got_case != want {
                mismatches.push(alloc::format!("{case}: got {got_case:?}"));
            }
            assert!(!got.cause.is_empty());
            assert!(!outcome_unknown(true, got.stage), "reads never report an unknown outcome");
        }
        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
        for name in NAMES {
            for phase in ["handle", "request", "response"] {
                assert!(covered.contains(&(name, phase)), "no case for {name} in phase {phase}");
            }
        }
    }

    #[test]
    fn not_processed_is_safe_to_repeat_for_writes_and_nothing_else_is_after_sending() {
        let refused = classify(&HttpError::ConnectionRefused, Phase::Request);
        assert!(retry_safe(false, refused.code, refused.stage));
        assert!(!outcome_unknown(false, refused.stage));
        for name in NAMES.iter().filter(|n| **n != "connection-refused") {
            let got = classify(&sample(name), Phase::Request);
            if retry_safe(false, got.code, got.stage) {
                let cause: String = got.cause;
                assert!(
                    matches!(
                        *name,
                        "DNS-timeout"
                            | "DNS-error"
                            | "destination-not-found"
                            | "destination-unavailable"
                            | "destination-IP-unroutable"
                            | "connection-limit-reached"
                    ),
                    "{name} ({cause}) would repeat a write that may have reached the server"
                );
            }
        }
    }
}
