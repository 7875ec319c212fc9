//! The `metald-host` command line: metald-cli's commands and flags (Go style accepted),
//! plus `dev-server`, `run` and `plugin`. Results go to stdout, diagnostics to stderr.
//!
//! Exit codes: 0 success, 1 an RPC or validation failure, 2 a usage error.
//!
//! Modules, each depending only on those before it: [`goflag`] (Go's flag syntax), [`args`]
//! (clap's definition), `connection` (the settings, resolved once), then the commands:
//! `commands` (metald-cli's), `dev_server`, [`run`], `plugin`.

pub mod args;
mod commands;
mod connection;
mod dev_server;
mod error;
pub mod goflag;
mod output;
mod plugin;
pub mod run;
mod vm_config;

use std::process::ExitCode;

use args::{Cli, Command};
use connection::Connection;
use error::CliError;

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

/// Runs the parsed command with its resolved connection settings.
async fn dispatch(cli: &Cli, connection: &Connection) -> Result<(), CliError> {
    match &cli.command {
        Command::DevServer(args) => dev_server::run(args, connection).await,
        Command::Run(args) => run::run(cli, args, connection).await,
        Command::Plugin(args) => plugin::run(args, connection).await,
        _ => commands::run(cli, connection).await,
    }
}

/// Runs the CLI with the process arguments.
pub fn main() -> ExitCode {
    let cli = match args::parse(std::env::args().collect()) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    init_logging(cli.verbose);
    let as_json = cli.json.unwrap_or(false);
    let serves = matches!(cli.command, Command::DevServer(_));
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
    let connection = Connection::resolve(&cli.connection, &cli.command);
    match runtime.block_on(dispatch(&cli, &connection)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if !matches!(error, CliError::Reported) {
                eprintln!("{}", metald_host::error::chain(&error));
                if as_json {
                    println!("{}", output::pretty(&error.to_json()));
                }
            }
            error.exit_code()
        }
    }
}
