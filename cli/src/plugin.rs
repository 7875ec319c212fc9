//! `metald-host plugin run|compose`: a user's component that imports `metald:client` and
//! exports `wasi:cli/run`, composed with the metald client component (metald_host::plugin)
//! and run with this command's connection settings.

use std::path::Path;

use metald_host::plugin::{self, Invocation, PluginConfig, PluginError, PluginHost, Stdio};

use crate::args::{PluginArgs, PluginCommand, PluginComposeArgs, PluginRunArgs};
use crate::connection::Connection;
use crate::error::CliError;

/// Runs `plugin run` or `plugin compose`.
pub async fn run(args: &PluginArgs, connection: &Connection) -> Result<(), CliError> {
    match &args.command {
        PluginCommand::Run(args) => run_plugin(args, connection).await,
        PluginCommand::Compose(args) => compose(args),
    }
}

fn failed(path: &Path) -> impl FnOnce(PluginError) -> CliError + '_ {
    move |source| CliError::Plugin { path: path.to_path_buf(), source }
}

/// Composes, links and runs the plugin once, its stdout and stderr the command's. Its
/// requests go through the TLS mode and allow-list of `connection` (the server and
/// `--allow-host` entries), or with `--dev` to an in-process development server.
async fn run_plugin(args: &PluginRunArgs, connection: &Connection) -> Result<(), CliError> {
    let dev = crate::dev_server::embedded(args.dev).await?;
    let (server, transport) = match &dev {
        Some(dev) => (dev.url(), metald_host::plain_transport(&dev.url())?),
        None => (connection.server.clone(), connection.transport().await?),
    };
    let host = PluginHost::new(PluginConfig::new(transport)).map_err(failed(&args.plugin))?;
    let plugin = host.load_file(&args.plugin).map_err(failed(&args.plugin))?;
    let name = args.plugin.file_stem().map_or_else(|| "plugin".into(), |s| s.to_string_lossy().into_owned());
    let invocation = Invocation {
        args: std::iter::once(name).chain(args.args.iter().cloned()).collect(),
        env: vec![
            ("METALD_SERVER".into(), server),
            ("METALD_USER".into(), connection.user.clone()),
            ("METALD_TENANT".into(), connection.tenant.clone()),
        ],
        stdio: Stdio::Inherit,
    };
    let output = plugin.run(&invocation).await.map_err(failed(&args.plugin))?;
    let stats = host.transport_stats();
    tracing::info!(requests = stats.requests, denied = stats.denied, "plugin done");
    drop(dev);
    match output.exit_code {
        0 => Ok(()),
        code => Err(CliError::PluginExit(code)),
    }
}

/// Writes the composed component to `--output`.
fn compose(args: &PluginComposeArgs) -> Result<(), CliError> {
    let bytes = std::fs::read(&args.plugin)
        .map_err(|e| CliError::Input(format!("{}: {e}", args.plugin.display())))?;
    let composed =
        plugin::compose(&bytes, metald_host::component::EMBEDDED_COMPONENT).map_err(failed(&args.plugin))?;
    std::fs::write(&args.output, &composed)
        .map_err(|e| CliError::Input(format!("--output {}: {e}", args.output.display())))?;
    tracing::info!(output = %args.output.display(), bytes = composed.len(), "composed");
    Ok(())
}
