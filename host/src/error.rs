//! Errors of the host library.

use std::path::PathBuf;
use std::time::Duration;

use metald_proto::connect::{self, Code};

use crate::bindings::types;

/// Everything a call into the component can end with, other than success. Each variant
/// keeps its cause: [`std::error::Error::source`] walks to it, and [`chain`] prints the
/// whole chain on one line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The component answered with its own error (a Connect error, a transport failure,
    /// invalid input, ...).
    #[error("{}", describe(.0))]
    Component(types::Error),
    /// The component trapped; the instance was discarded and the next call gets a new one.
    #[error("the component trapped; its instance was replaced")]
    Trap(#[source] WasmError),
    /// A call on an [`crate::Instance`] that trapped earlier: its store cannot run the
    /// component again.
    #[error("this instance trapped earlier and cannot run again")]
    Poisoned,
    /// The component asked for more memory than its cap; the instance was replaced.
    #[error("the component ran out of memory (cap {cap_bytes} bytes); its instance was replaced")]
    OutOfMemory {
        /// The cap.
        cap_bytes: usize,
    },
    /// The component computed for longer than the runaway budget without any I/O.
    #[error("the component ran for more than {0:?} without I/O and was stopped; its instance was replaced")]
    Runaway(Duration),
    /// The component file could not be read.
    #[error("reading the component file {}", path.display())]
    ReadComponent {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The engine could not be built, or the component compiled, linked or instantiated.
    #[error("{step}")]
    Load {
        /// What was being done.
        step: LoadStep,
        /// wasmtime's error.
        source: WasmError,
    },
    /// The outbound TLS identity could not be set up.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// A server URL or allow-list entry is not usable.
    #[error(transparent)]
    Allow(#[from] crate::transport::AllowError),
}

/// The step of loading the component that failed, for [`Error::Load`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadStep {
    /// Building the wasmtime engine.
    Engine,
    /// Compiling the component.
    Compile,
    /// Linking it against the host's WASI and `wasi:http` implementations.
    Link,
    /// Instantiating it.
    Instantiate,
}

impl std::fmt::Display for LoadStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LoadStep::Engine => "building the wasmtime engine",
            LoadStep::Compile => "compiling the component",
            LoadStep::Link => "linking the component",
            LoadStep::Instantiate => "instantiating the component",
        })
    }
}

impl LoadStep {
    /// `map_err` for a wasmtime result of this step.
    pub(crate) fn err(self) -> impl FnOnce(wasmtime::Error) -> Error {
        move |error| Error::Load { step: self, source: WasmError(error) }
    }
}

/// A [`wasmtime::Error`] as a [`std::error::Error`] (wasmtime's own type is not one, as
/// anyhow's is not): its message, with its context layers and causes as sources.
#[derive(Debug)]
pub struct WasmError(pub wasmtime::Error);

impl std::fmt::Display for WasmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The outermost message only; the rest of the chain is `source()`'s.
        std::fmt::Display::fmt(&*self.0, f)
    }
}

impl std::error::Error for WasmError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        (*self.0).source()
    }
}

impl Error {
    /// The Connect code of a component error (`not_found`), when it carries one.
    pub fn connect_code(&self) -> Option<types::ErrorCode> {
        match self {
            Error::Component(types::Error::Connect(e)) => Some(e.code),
            Error::Component(types::Error::Transport(e)) => Some(e.code),
            _ => None,
        }
    }
}

/// Every message in an error's source chain, joined with `: ` (repeats dropped).
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = cause.source();
    }
    parts.join(": ")
}

/// The Connect code of a WIT `error-code`: the bridge to `metald_proto::connect`, where the
/// code table (names, numbers) lives once for the component and the native host.
pub fn connect_code(code: types::ErrorCode) -> Code {
    use types::ErrorCode as E;
    match code {
        E::Canceled => Code::Canceled,
        E::Unknown => Code::Unknown,
        E::InvalidArgument => Code::InvalidArgument,
        E::DeadlineExceeded => Code::DeadlineExceeded,
        E::NotFound => Code::NotFound,
        E::AlreadyExists => Code::AlreadyExists,
        E::PermissionDenied => Code::PermissionDenied,
        E::ResourceExhausted => Code::ResourceExhausted,
        E::FailedPrecondition => Code::FailedPrecondition,
        E::Aborted => Code::Aborted,
        E::OutOfRange => Code::OutOfRange,
        E::Unimplemented => Code::Unimplemented,
        E::Internal => Code::Internal,
        E::Unavailable => Code::Unavailable,
        E::DataLoss => Code::DataLoss,
        E::Unauthenticated => Code::Unauthenticated,
    }
}

/// The Connect name of a code (`not_found`), from `metald_proto::connect::CODES`.
pub fn code_name(code: types::ErrorCode) -> &'static str {
    connect_code(code).name()
}

/// One line for people: `not_found: VM not found: ud-…`, `invalid config: cpu: …`; the same
/// words as the component's `errors.describe` (both use `metald_proto::connect`).
pub fn describe(error: &types::Error) -> String {
    match error {
        types::Error::Connect(e) => connect::describe_code(connect_code(e.code), &e.message),
        types::Error::Transport(e) => connect::describe_code(connect_code(e.code), &e.message),
        types::Error::InvalidConfig(issues) => {
            connect::describe_invalid_config(issues.iter().map(|i| (i.field.as_str(), i.message.as_str())))
        }
        types::Error::Other(message) => message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::component::{CacheMode, ComponentSource, EngineLimits, engine, load};

    #[test]
    fn load_error_keeps_its_source() {
        let engine = engine(EngineLimits::FEW).unwrap();
        let missing =
            load(&engine, &ComponentSource::File("/nope/x.wasm".into()), &CacheMode::Off).unwrap_err();
        assert!(
            matches!(missing, Error::ReadComponent { ref path, .. } if path.ends_with("x.wasm")),
            "{missing:?}"
        );
        let io = std::error::Error::source(&missing).and_then(|s| s.downcast_ref::<std::io::Error>());
        assert_eq!(io.map(std::io::Error::kind), Some(std::io::ErrorKind::NotFound));

        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.wasm");
        std::fs::write(&garbage, b"not a component").unwrap();
        let bad = load(&engine, &ComponentSource::File(garbage), &CacheMode::Off).unwrap_err();
        assert!(matches!(bad, Error::Load { step: LoadStep::Compile, .. }), "{bad:?}");
        let source = std::error::Error::source(&bad).expect("wasmtime's error");
        assert!(source.is::<WasmError>());
        assert!(chain(&bad).starts_with("compiling the component: "), "{}", chain(&bad));
        assert!(chain(&bad).len() > "compiling the component: ".len(), "{}", chain(&bad));
    }

    #[test]
    fn wasmtime_errors_keep_their_context_chain() {
        let error = WasmError(wasmtime::Error::msg("root cause").context("outer step"));
        assert_eq!(error.to_string(), "outer step");
        assert_eq!(std::error::Error::source(&error).map(ToString::to_string).as_deref(), Some("root cause"));
        let trap = Error::Trap(error);
        assert_eq!(chain(&trap), "the component trapped; its instance was replaced: outer step: root cause");
    }

    #[test]
    fn a_bad_server_url_is_a_typed_allow_error() {
        let error = crate::plain_transport("ftp://metald:8080").err().expect("refused");
        assert!(
            matches!(
                error,
                Error::Allow(crate::transport::AllowError::Server(
                    metald_proto::server_url::ServerUrlError::Scheme(_)
                ))
            ),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "invalid server URL: \"ftp://metald:8080\" must start with http:// or https://"
        );
    }

    #[test]
    fn code_names_are_connect_wire_names() {
        assert_eq!(code_name(types::ErrorCode::NotFound), "not_found");
        assert_eq!(code_name(types::ErrorCode::DeadlineExceeded), "deadline_exceeded");
        assert_eq!(code_name(types::ErrorCode::Unauthenticated), "unauthenticated");
    }

    #[test]
    fn every_wit_code_maps_to_the_connect_code_of_its_case_name() {
        // wit/types.wit declares `error-code` in gRPC number order, with the Connect names
        // spelled with `-`: the bridge must agree with both for all 16 cases.
        for (wit, (code, name)) in WIT_CODES.into_iter().zip(connect::CODES) {
            assert_eq!(connect_code(wit), code, "{wit:?}");
            let debug = format!("{wit:?}");
            let case = debug.rsplit("::").next().unwrap_or_default();
            assert_eq!(case.to_ascii_lowercase(), name.replace('_', ""), "{debug}");
        }
    }

    /// The WIT cases in declaration order (wit/types.wit `error-code`).
    const WIT_CODES: [types::ErrorCode; 16] = {
        use types::ErrorCode as E;
        [
            E::Canceled,
            E::Unknown,
            E::InvalidArgument,
            E::DeadlineExceeded,
            E::NotFound,
            E::AlreadyExists,
            E::PermissionDenied,
            E::ResourceExhausted,
            E::FailedPrecondition,
            E::Aborted,
            E::OutOfRange,
            E::Unimplemented,
            E::Internal,
            E::Unavailable,
            E::DataLoss,
            E::Unauthenticated,
        ]
    };
}
