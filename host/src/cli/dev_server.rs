//! `metald-host dev-server`: the development server, until interrupted.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use metald_devserver::{DevServer, DevServerConfig, FaultSpec, Routes};

use super::CliError;

/// Flags of `dev-server`.
#[derive(Debug, Args)]
pub struct DevServerArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Keep VMs in this SQLite file across restarts (default: in memory).
    #[arg(long, value_name = "PATH")]
    pub state_file: Option<PathBuf>,
    /// Which proto packages the routes are served under.
    #[arg(long, value_enum, default_value_t = RoutesArg::Current)]
    pub routes: RoutesArg,
    /// Inject a fault: RPC=FAULT, e.g. GetVmInfo=latency:2s, CreateVm=unavailable:3,
    /// ListVms=reset, *=garbage (repeatable).
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<FaultSpec>,
}

/// Route packages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RoutesArg {
    /// metal.vmprovisioner.v1
    Current,
    /// vmprovisioner.v1 (servers built before July 2025)
    Legacy,
    /// both
    Both,
}

/// The dev server config the flags describe.
pub fn config(args: &DevServerArgs) -> DevServerConfig {
    DevServerConfig {
        listen: args.listen,
        state_file: args.state_file.clone(),
        routes: match args.routes {
            RoutesArg::Current => Routes::Current,
            RoutesArg::Legacy => Routes::Legacy,
            RoutesArg::Both => Routes::Both,
        },
        faults: args.faults.clone(),
        ..Default::default()
    }
}

/// Serves until SIGINT or SIGTERM; prints the URL on stdout first.
pub async fn run(args: &DevServerArgs) -> Result<(), CliError> {
    let server = DevServer::start(config(args)).await.map_err(|e| CliError::Input(e.to_string()))?;
    println!("{}", server.url());
    wait_for_signal().await;
    server.shutdown();
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
