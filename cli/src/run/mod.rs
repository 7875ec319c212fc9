//! `metald-host run`: scripted calls to the component's exports, holding resources (the
//! client, builders) and results in variables between calls. Values are WAVE.
//!
//! A script is checked before anything runs ([`check`]): syntax, function names, variables
//! used as receivers, argument counts. Argument types are checked as each call is made
//! ([`runner`]).

mod catalog;
mod check;
mod runner;
mod values;

use std::io::Read;

use crate::args::{Cli, RunArgs};
use crate::connection::{self, Connection};
use crate::error::CliError;
use catalog::Catalog;
use check::{mentions_client, script_errors};
use metald_script as syntax;
use runner::Runner;

/// Runs a script or a single call. `client` is opened from `connection`, or with `--dev`
/// from an in-process development server.
pub async fn run(cli: &Cli, args: &RunArgs, connection: &Connection) -> Result<(), CliError> {
    let (source, text) = read_script(args)?;
    let lines = syntax::parse(&text).map_err(|errors| script_errors(&source, &errors))?;
    let uses_client = lines.iter().any(|line| mentions_client(&line.statement));
    let dev = crate::dev_server::embedded(args.dev).await?;
    let mut options = connection.client_options();
    let transport = match &dev {
        Some(server) => {
            options.server = server.url();
            metald_host::plain_transport(&server.url())?
        }
        None if uses_client => connection.transport().await?,
        None => connection::offline_transport(),
    };
    let runtime = connection::runtime(transport)?;
    let catalog = Catalog::new(runtime.engine(), runtime.component());
    check::check(&catalog, &lines).map_err(|errors| script_errors(&source, &errors))?;
    let instance = runtime.instantiate().await?;
    let mut runner =
        Runner::new(instance, catalog, options, cli.json.unwrap_or(false), args.keep_going, source);
    for line in &lines {
        runner.execute(line).await?;
    }
    drop(dev);
    runner.finish()
}

fn read_script(args: &RunArgs) -> Result<(String, String), CliError> {
    if let Some(call) = &args.invoke {
        return Ok(("--invoke".into(), call.clone()));
    }
    match args.script.as_deref() {
        Some(path) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| CliError::Input(format!("stdin: {e}")))?;
            Ok(("stdin".into(), text))
        }
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
            Ok((path.display().to_string(), text))
        }
        None => Err(CliError::Usage("run needs a SCRIPT file, `-` for stdin, or --invoke 'CALL'".into())),
    }
}
