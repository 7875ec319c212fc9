//! `metald-host run`.

use clap::Args;

use super::CliError;
use super::args::Cli;

/// Flags of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Script file, or `-` for stdin.
    pub script: Option<std::path::PathBuf>,
}

/// Runs a script.
pub async fn run(_cli: &Cli, _args: &RunArgs) -> Result<(), CliError> {
    Err(CliError::Usage("run: not built yet".into()))
}
