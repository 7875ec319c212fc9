//! One RPC from start to finish: the per-call deadline, safe retries, and what a failed
//! exchange means for the caller. I/O goes through [`Transport`], so this logic is tested
//! natively with a scripted transport and a virtual clock.

use alloc::format;
use alloc::string::String;

use crate::codec::{self, HttpRequest, HttpResponse, RpcRequest, RpcResponse};
use crate::model::{Error, ErrorCode, TransportError};
use crate::options::Resolved;

const NANOS_PER_MS: u64 = 1_000_000;
/// First retry waits about this long; each retry doubles it.
const BACKOFF_BASE_NS: u64 = 50 * NANOS_PER_MS;
/// Longest wait between two attempts.
const BACKOFF_CAP_NS: u64 = 1_000 * NANOS_PER_MS;

pub mod http_errors;

/// How far an exchange got before it failed, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// The server did not process the request: refused by the host, DNS, connection
    /// refused, an HTTP/2 stream refused or above a GOAWAY's last-stream-id.
    NotSent,
    /// The request may have reached the server, but no response header came back.
    Sent,
    /// Response headers arrived, then the body failed.
    Receiving,
}

/// A failed exchange.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// The Connect code it maps to.
    pub code: ErrorCode,
    /// What happened.
    pub message: String,
    /// How far it got.
    pub stage: Stage,
}

/// The I/O an RPC needs.
pub trait Transport {
    /// Monotonic time in nanoseconds.
    fn now(&self) -> u64;
    /// Waits until monotonic time `until`.
    fn sleep_until(&mut self, until: u64);
    /// A random number, for backoff jitter.
    fn entropy(&mut self) -> u64;
    /// Sends `request` and reads the whole response (at most `max_body` raw bytes), giving
    /// up at monotonic time `deadline` with a `deadline-exceeded` failure. `now` is the
    /// monotonic time the caller read just before (so the transport need not read it again).
    fn exchange(
        &mut self,
        request: &HttpRequest,
        now: u64,
        deadline: u64,
        max_body: u32,
    ) -> Result<HttpResponse, Failure>;
}

/// Makes one RPC: encodes, sends, decodes; retries reads as allowed; never exceeds the
/// deadline.
pub fn call(
    transport: &mut dyn Transport,
    options: &Resolved,
    request: &RpcRequest,
) -> Result<RpcResponse, Error> {
    let method = codec::method_of(request);
    let route = codec::route(method);
    let read_only = route.is_read_only();
    let timeout_ns = u64::from(options.timeout_ms) * NANOS_PER_MS;
    // Each clock read is a host call: one per attempt, plus one around a retry's wait.
    let mut now = transport.now();
    let deadline = now.saturating_add(timeout_ns);
    let mut attempt: u32 = 0;
    loop {
        let remaining_ms = deadline.saturating_sub(now).div_ceil(NANOS_PER_MS);
        if remaining_ms == 0 {
            return Err(deadline_error(options, route.name(), read_only, Stage::NotSent));
        }
        let http = codec::encode_request(options, request, u32::try_from(remaining_ms).unwrap_or(u32::MAX))?;
        let failure = match transport.exchange(&http, now, deadline, options.max_response_bytes) {
            Ok(response) => match codec::decode_response(options, method, &response) {
                Err(Error::Connect(e)) if read_only && e.code == ErrorCode::Unavailable => Failure {
                    code: ErrorCode::Unavailable,
                    message: format!("server answered unavailable: {}", e.message),
                    stage: Stage::NotSent,
                },
                other => return other,
            },
            Err(failure) => failure,
        };
        if failure.code == ErrorCode::DeadlineExceeded {
            return Err(deadline_error(options, route.name(), read_only, failure.stage));
        }
        if !retry_safe(read_only, failure.code, failure.stage) || attempt >= options.retries {
            return Err(give_up(route.name(), read_only, failure, attempt));
        }
        let wait = backoff(attempt, transport.entropy());
        let wake = transport.now().saturating_add(wait);
        if wake >= deadline {
            return Err(give_up(route.name(), read_only, failure, attempt));
        }
        transport.sleep_until(wake);
        now = transport.now();
        attempt += 1;
    }
}

/// Whether repeating a failed request is safe: `unavailable`, and either the server did not
/// process it (any RPC: RFC 9113 §8.7 says so of a refused stream), or it is a read whose
/// answer had not begun. A write that may have reached the server is never repeated.
pub fn retry_safe(read_only: bool, code: ErrorCode, stage: Stage) -> bool {
    code == ErrorCode::Unavailable
        && match stage {
            Stage::NotSent => true,
            Stage::Sent => read_only,
            Stage::Receiving => false,
        }
}

/// Whether the caller must be told the outcome is unknown: a write that may have reached
/// the server.
pub fn outcome_unknown(read_only: bool, stage: Stage) -> bool {
    !read_only && stage != Stage::NotSent
}

/// Capped exponential backoff with jitter: a wait in `[d/2, d]`, `d = min(cap, base * 2^attempt)`.
fn backoff(attempt: u32, entropy: u64) -> u64 {
    let ceiling = BACKOFF_BASE_NS.saturating_mul(1u64 << attempt.min(20)).min(BACKOFF_CAP_NS);
    ceiling / 2 + entropy % (ceiling / 2 + 1)
}

fn deadline_error(options: &Resolved, method: &str, read_only: bool, stage: Stage) -> Error {
    let mut message = format!("{method} did not complete within its {} ms deadline", options.timeout_ms);
    let unknown = outcome_unknown(read_only, stage);
    if unknown {
        message.push_str(&unknown_outcome(method));
    }
    Error::Transport(TransportError { code: ErrorCode::DeadlineExceeded, message, outcome_unknown: unknown })
}

fn give_up(method: &str, read_only: bool, failure: Failure, retries: u32) -> Error {
    let mut message = format!("{method} failed: {}", failure.message);
    if retries > 0 {
        message.push_str(&format!(" (after {} attempts)", retries + 1));
    }
    let unknown = outcome_unknown(read_only, failure.stage);
    if unknown {
        message.push_str(&unknown_outcome(method));
    }
    Error::Transport(TransportError { code: failure.code, message, outcome_unknown: unknown })
}

fn unknown_outcome(method: &str) -> String {
    if method == "CreateVm" {
        String::from(
            ". The request may have reached the server, so the outcome is unknown: the VM may exist. \
             List VMs to check before creating it again",
        )
    } else {
        format!(
            ". The request may have reached the server, so the outcome is unknown: check the VM's state before repeating {method}"
        )
    }
}

#[cfg(test)]
mod tests;
