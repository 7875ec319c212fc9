//! The `metald-host` command line: metald-cli's commands and flags (Go style accepted),
//! plus `dev-server` and `run`. Results go to stdout, diagnostics to stderr.
//!
//! Exit codes: 0 success, 1 an RPC or validation failure, 2 a usage error.

pub mod args;
mod commands;
mod connection;
mod dev_server;
pub mod goflag;
mod output;
pub mod run;
mod vm_config;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use serde_json::json;

use args::Cli;

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
    /// A result does not fit the proto schema's Go shape: a WIT record and the proto
    /// disagree (exit 1).
    #[error("cannot print the result as metald-cli does: {0}")]
    Output(#[from] metald_proto::json::JsonError),
    /// The failure was already printed as the command's result (exit 1).
    #[error("")]
    Reported,
}

impl From<metald_host::tls::TlsError> for CliError {
    fn from(error: metald_host::tls::TlsError) -> Self {
        CliError::Host(error.into())
    }
}

impl CliError {
    fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(2),
            _ => ExitCode::from(1),
        }
    }

    fn host_error(&self) -> Option<&metald_host::Error> {
        match self {
            CliError::Call { source, .. } | CliError::Host(source) => Some(source),
            _ => None,
        }
    }

    /// The error as JSON, for `--json`.
    fn to_json(&self) -> serde_json::Value {
        let mut error = json!({ "message": self.to_string() });
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

/// Every long flag, for Go-style spelling: its name and whether it needs a value.
fn flag_specs() -> Vec<goflag::FlagSpec> {
    let mut command = Cli::command();
    command.build();
    let mut specs = Vec::new();
    let mut add = |command: &clap::Command| {
        for arg in command.get_arguments() {
            if let Some(name) = arg.get_long() {
                let min_values = arg.get_num_args().map_or(1, |range| range.min_values());
                let takes_value = arg.get_action().takes_values() && min_values > 0;
                specs.push(goflag::FlagSpec { name: name.to_string(), takes_value });
            }
        }
    };
    add(&command);
    for sub in command.get_subcommands() {
        add(sub);
    }
    specs
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Runs the CLI with the process arguments.
pub fn main() -> ExitCode {
    let argv = goflag::normalize(std::env::args().collect(), &flag_specs());
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    init_logging(cli.verbose);
    let as_json = cli.json.unwrap_or(false);
    let serves = matches!(cli.command, args::Command::DevServer(_));
    let runtime = if serves {
        tokio::runtime::Builder::new_multi_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if !matches!(error, CliError::Reported) {
                eprintln!("{error}");
                if as_json {
                    println!("{}", output::pretty(&error.to_json()));
                }
            }
            error.exit_code()
        }
    }
}
