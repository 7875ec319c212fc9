//! How a command fails, and what that means for the exit code and `--json`.

use std::process::ExitCode;

use serde_json::json;

/// A failed command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line is wrong (exit 2).
    #[error("{0}")]
    Usage(String),
    /// An input (file, wait) is wrong or did not work out (exit 1).
    #[error("{0}")]
    Input(String),
    /// A call failed (exit 1): `Failed to boot VM: not_found: VM not found: ud-…`.
    #[error("{context}: {source}")]
    Call {
        /// What was attempted.
        context: String,
        /// Why it failed.
        source: metald_host::Error,
    },
    /// The host or component failed (exit 1).
    #[error(transparent)]
    Host(#[from] metald_host::Error),
    /// The setting of a flag is unusable (exit 1): `--tls-key: the client certificate file …`.
    #[error("{flag}")]
    Flag {
        /// The flag.
        flag: &'static str,
        /// What is wrong with its setting, in the library's words.
        source: metald_host::Error,
    },
    /// A result does not fit the proto schema's Go shape: a WIT record and the proto
    /// disagree (exit 1).
    #[error("cannot print the result as metald-cli does: {0}")]
    Output(metald_proto::json::JsonError),
    /// A plugin could not be loaded, or trapped (exit 1): `p.wasm: the plugin trapped: …`.
    #[error("{}", path.display())]
    Plugin {
        /// The plugin file.
        path: std::path::PathBuf,
        /// What went wrong, in the library's words.
        source: metald_host::plugin::PluginError,
    },
    /// A plugin ran and exited with a failure status, which becomes the command's (1 when it
    /// does not fit an exit code).
    #[error("the plugin exited with status {0}")]
    PluginExit(i32),
    /// The failure was already printed as the command's result (exit 1).
    #[error("")]
    Reported,
}

impl From<metald_host::tls::TlsError> for CliError {
    fn from(error: metald_host::tls::TlsError) -> Self {
        CliError::Host(error.into())
    }
}

impl From<metald_proto::json::JsonError> for CliError {
    fn from(error: metald_proto::json::JsonError) -> Self {
        CliError::Output(error)
    }
}

impl CliError {
    /// The process exit code: 2 for usage errors, else 1.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(2),
            CliError::PluginExit(code) => {
                ExitCode::from(u8::try_from(*code).ok().filter(|c| *c != 0).unwrap_or(1))
            }
            _ => ExitCode::from(1),
        }
    }

    fn host_error(&self) -> Option<&metald_host::Error> {
        match self {
            CliError::Call { source, .. } | CliError::Host(source) | CliError::Flag { source, .. } => {
                Some(source)
            }
            _ => None,
        }
    }

    /// The error as JSON, for `--json`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut error = json!({ "message": metald_host::error::chain(self) });
        if let Some(metald_host::Error::Component(component)) = self.host_error() {
            use metald_host::bindings::types::Error as E;
            match component {
                E::Connect(e) => {
                    error["code"] = json!(metald_host::code_name(e.code));
                    error["http_status"] = json!(e.http_status);
                }
                E::Transport(e) => {
                    error["code"] = json!(metald_host::code_name(e.code));
                    error["outcome_unknown"] = json!(e.outcome_unknown);
                }
                E::InvalidConfig(issues) => {
                    error["code"] = json!("invalid_config");
                    error["issues"] =
                        issues.iter().map(|i| json!({"field": i.field, "message": i.message})).collect();
                }
                E::Other(_) => error["code"] = json!("other"),
            }
        } else if matches!(self, CliError::Usage(_)) {
            error["code"] = json!("usage");
        }
        json!({ "error": error })
    }
}
