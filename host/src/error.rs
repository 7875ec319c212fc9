//! Errors of the host library.

use std::time::Duration;

use crate::bindings::types;

/// Everything a call into the component can end with, other than success.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The component answered with its own error (a Connect error, a transport failure,
    /// invalid input, ...).
    #[error("{}", describe(.0))]
    Component(types::Error),
    /// The component trapped; the instance was discarded and the next call gets a new one.
    #[error("the component trapped ({0}); its instance was replaced")]
    Trap(String),
    /// The component asked for more memory than its cap; the instance was replaced.
    #[error("the component ran out of memory (cap {cap_bytes} bytes); its instance was replaced")]
    OutOfMemory {
        /// The cap.
        cap_bytes: usize,
    },
    /// The component computed for longer than the runaway budget without any I/O.
    #[error("the component ran for more than {0:?} without I/O and was stopped; its instance was replaced")]
    Runaway(Duration),
    /// The component could not be loaded or linked.
    #[error("loading the component: {0}")]
    Load(String),
    /// The outbound TLS identity could not be set up.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The host failed in a way that is not the component's fault.
    #[error("host error: {0}")]
    Host(String),
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

/// The Connect wire name of a code (`not_found`): the WIT case name in snake case.
pub fn code_name(code: types::ErrorCode) -> String {
    let debug = format!("{code:?}");
    let case = debug.rsplit("::").next().unwrap_or_default();
    let mut name = String::new();
    for (i, c) in case.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_lowercase());
    }
    name
}

/// One line for people: `not_found: VM not found: ud-…`, `invalid config: cpu: …`.
pub fn describe(error: &types::Error) -> String {
    match error {
        types::Error::Connect(e) => format!("{}: {}", code_name(e.code), e.message),
        types::Error::Transport(e) => format!("{}: {}", code_name(e.code), e.message),
        types::Error::InvalidConfig(issues) => {
            let parts: Vec<String> = issues.iter().map(|i| format!("{}: {}", i.field, i.message)).collect();
            format!("invalid config: {}", parts.join("; "))
        }
        types::Error::Other(message) => message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_are_connect_wire_names() {
        assert_eq!(code_name(types::ErrorCode::NotFound), "not_found");
        assert_eq!(code_name(types::ErrorCode::DeadlineExceeded), "deadline_exceeded");
        assert_eq!(code_name(types::ErrorCode::Unauthenticated), "unauthenticated");
    }
}
