//! Fault injection per RPC, for tests and for `metald-host dev-server --fault`.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use metald_proto::route::Method;

/// A misbehaviour the server applies to calls of one RPC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer after this delay.
    Latency(Duration),
    /// Answer the next `n` calls with HTTP 503 `unavailable`, then behave.
    Unavailable(u32),
    /// Close the connection (TCP reset) instead of answering.
    Reset,
    /// Send the response headers and half the body, then break the connection.
    ResetMidBody,
    /// Answer 200 with bytes that are not a valid message.
    Garbage,
    /// Answer 200 with a body of this many bytes.
    Oversized(usize),
    /// Answer 200 with `Content-Type: text/html`.
    WrongContentType,
    /// Answer with a response header this many bytes long.
    OversizedHeaders(usize),
    /// Answer normally, gzip-compressed as two gzip members (RFC 1952 §2.2) with the message
    /// split between them.
    GzipMembers,
    /// Answer normally, with every VM state in the answer set to this number: what a server
    /// newer than the schema sends (`state:5`).
    State(i32),
}

/// Why a fault spec did not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid fault {spec:?}: {reason}")]
pub struct FaultSpecError {
    spec: String,
    reason: String,
}

/// `RPC=FAULT`, e.g. `GetVmInfo=latency:2s`, `CreateVm=unavailable:3`, `*=reset`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultSpec {
    /// RPC name (`GetVmInfo`) or `*` for all.
    pub rpc: String,
    /// The fault.
    pub fault: Fault,
}

impl FromStr for FaultSpec {
    type Err = FaultSpecError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let error = |reason: String| FaultSpecError { spec: spec.to_string(), reason };
        let (rpc, fault) = spec.split_once('=').ok_or_else(|| error("expected RPC=FAULT".into()))?;
        if rpc != "*" && !Method::ALL.iter().any(|m| m.name() == rpc) {
            let names: Vec<_> = Method::ALL.iter().map(|m| m.name()).collect();
            return Err(error(format!("unknown RPC {rpc:?}; expected * or one of {}", names.join(", "))));
        }
        let (kind, argument) = fault.split_once(':').unwrap_or((fault, ""));
        let fault = match (kind, argument) {
            ("latency", value) => Fault::Latency(parse_duration(value).map_err(error)?),
            ("unavailable", "") => Fault::Unavailable(u32::MAX),
            ("unavailable", n) => {
                Fault::Unavailable(n.parse().map_err(|_| error(format!("{n:?} is not a count")))?)
            }
            ("reset", "") => Fault::Reset,
            ("reset-mid-body", "") => Fault::ResetMidBody,
            ("garbage", "") => Fault::Garbage,
            ("oversized", n) => {
                Fault::Oversized(n.parse().map_err(|_| error(format!("{n:?} is not a byte count")))?)
            }
            ("wrong-content-type", "") => Fault::WrongContentType,
            ("oversized-headers", n) => {
                Fault::OversizedHeaders(n.parse().map_err(|_| error(format!("{n:?} is not a byte count")))?)
            }
            ("gzip-members", "") => Fault::GzipMembers,
            ("state", n) => {
                Fault::State(n.parse().map_err(|_| error(format!("{n:?} is not a state number")))?)
            }
            _ => {
                return Err(error(
                    "expected latency:DURATION, unavailable[:N], reset, reset-mid-body, garbage, oversized:BYTES, \
                     oversized-headers:BYTES, wrong-content-type, gzip-members or state:N"
                        .into(),
                ));
            }
        };
        Ok(FaultSpec { rpc: rpc.to_string(), fault })
    }
}

/// `250ms`, `2s`, `1m`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 =
        number.parse().map_err(|_| format!("{text:?} is not a duration like 250ms, 2s or 1m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(number)),
        "s" => Ok(Duration::from_secs(number)),
        "m" => Ok(Duration::from_secs(number * 60)),
        _ => Err(format!("{text:?} is not a duration like 250ms, 2s or 1m")),
    }
}

/// The faults in effect, per RPC. Shared by the server and whoever controls it.
#[derive(Debug, Default)]
pub struct Faults(Mutex<HashMap<String, Fault>>);

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Fault>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies `fault` to calls of `rpc` (`*`: every RPC without its own fault).
    pub fn set(&self, rpc: &str, fault: Fault) {
        self.lock().insert(rpc.to_string(), fault);
    }

    /// Applies a parsed spec.
    pub fn apply(&self, spec: FaultSpec) {
        self.set(&spec.rpc, spec.fault);
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The fault for one call of `rpc`, counting down `unavailable` faults.
    pub fn take(&self, rpc: &str) -> Option<Fault> {
        let mut faults = self.lock();
        let key = if faults.contains_key(rpc) { rpc } else { "*" };
        let fault = faults.get_mut(key)?;
        match fault {
            Fault::Unavailable(0) => {
                faults.remove(key);
                None
            }
            Fault::Unavailable(n) => {
                *n -= 1;
                Some(Fault::Unavailable(*n))
            }
            other => Some(other.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_fault_kind() {
        let cases = [
            ("GetVmInfo=latency:250ms", "GetVmInfo", Fault::Latency(Duration::from_millis(250))),
            ("CreateVm=unavailable:3", "CreateVm", Fault::Unavailable(3)),
            ("*=reset", "*", Fault::Reset),
            ("ListVms=reset-mid-body", "ListVms", Fault::ResetMidBody),
            ("BootVm=garbage", "BootVm", Fault::Garbage),
            ("ListVms=oversized:1000", "ListVms", Fault::Oversized(1000)),
            ("PauseVm=wrong-content-type", "PauseVm", Fault::WrongContentType),
            ("GetVmInfo=oversized-headers:70000", "GetVmInfo", Fault::OversizedHeaders(70000)),
            ("GetVmInfo=gzip-members", "GetVmInfo", Fault::GzipMembers),
            ("ListVms=state:5", "ListVms", Fault::State(5)),
        ];
        for (text, rpc, fault) in cases {
            assert_eq!(text.parse::<FaultSpec>().unwrap(), FaultSpec { rpc: rpc.into(), fault }, "{text}");
        }
    }

    #[test]
    fn rejects_bad_specs_with_the_reason() {
        let error = "Nope=reset".parse::<FaultSpec>().unwrap_err();
        assert!(error.to_string().contains("unknown RPC \"Nope\""), "{error}");
        assert!("GetVmInfo".parse::<FaultSpec>().is_err());
        assert!("GetVmInfo=latency:soon".parse::<FaultSpec>().is_err());
        assert!("GetVmInfo=explode".parse::<FaultSpec>().is_err());
    }

    #[test]
    fn unavailable_counts_down_then_clears() {
        let faults = Faults::default();
        faults.set("GetVmInfo", Fault::Unavailable(2));
        assert!(faults.take("GetVmInfo").is_some());
        assert!(faults.take("GetVmInfo").is_some());
        assert_eq!(faults.take("GetVmInfo"), None);
        assert_eq!(faults.take("GetVmInfo"), None);
    }

    #[test]
    fn specific_faults_win_over_the_wildcard() {
        let faults = Faults::default();
        faults.set("*", Fault::Garbage);
        faults.set("ListVms", Fault::Reset);
        assert_eq!(faults.take("ListVms"), Some(Fault::Reset));
        assert_eq!(faults.take("BootVm"), Some(Fault::Garbage));
    }
}
