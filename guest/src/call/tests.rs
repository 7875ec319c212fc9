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
    fn exchange(&mut self, request: &HttpRequest, deadline: u64, _max: u32) -> Result<HttpResponse, Failure> {
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
fn create_that_never_left_has_a_known_outcome() {
    let mut t = scripted(vec![refused()]);
    let error = transport_error(call(&mut t, &options(30_000, 5), &create_request()));
    assert!(!error.outcome_unknown);
    assert_eq!(t.sent.len(), 1);
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
