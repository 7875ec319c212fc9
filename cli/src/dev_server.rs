//! `metald-host dev-server`: the development server, until interrupted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use metald_devserver::tls::TlsAcceptor;
use metald_devserver::{Acceptor, DevServer, DevServerConfig, FaultSpec, PlainAcceptor, Routes};

use super::CliError;
use super::args::ConnectionArgs;

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
    /// CA (PEM) that client certificates must chain to, with `--tls-mode file` (the dev
    /// server presents `--tls-cert`/`--tls-key`). With `--tls-mode spiffe` the server's SVID
    /// comes from `--spiffe-socket` and clients must be in its trust domain. The dev server's
    /// TLS mode defaults to disabled (plain HTTP/1.1 and h2c).
    #[arg(long, value_name = "FILE")]
    pub tls_client_ca: Option<PathBuf>,
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
pub async fn config(args: &DevServerArgs, connection: &ConnectionArgs) -> Result<DevServerConfig, CliError> {
    let mode = connection.tls_mode.as_deref().unwrap_or("disabled");
    let acceptor: Arc<dyn Acceptor> = match mode {
        "disabled" => Arc::new(PlainAcceptor),
        "file" => match (&connection.tls_cert, &connection.tls_key, &args.tls_client_ca) {
            (Some(cert), Some(key), Some(ca)) => {
                Arc::new(TlsAcceptor::from_files(cert, key, ca).map_err(|e| CliError::Input(e.to_string()))?)
            }
            _ => {
                return Err(CliError::Usage(
                    "dev-server --tls-mode file needs --tls-cert, --tls-key and --tls-client-ca".into(),
                ));
            }
        },
        "spiffe" => {
            let (endpoint, _) =
                metald_host::tls::spiffe_endpoint(&super::connection::spiffe_socket(connection));
            let acceptor = TlsAcceptor::spiffe(&endpoint, connection.spiffe_timeout)
                .await
                .map_err(|e| CliError::Input(e.to_string()))?;
            Arc::new(acceptor)
        }
        other => {
            return Err(CliError::Usage(format!(
                "unknown TLS mode {other:?}; expected disabled, file or spiffe"
            )));
        }
    };
    Ok(DevServerConfig {
        acceptor,
        listen: args.listen,
        state_file: args.state_file.clone(),
        routes: match args.routes {
            RoutesArg::Current => Routes::Current,
            RoutesArg::Legacy => Routes::Legacy,
            RoutesArg::Both => Routes::Both,
        },
        faults: args.faults.clone(),
    })
}

/// Serves until SIGINT or SIGTERM; prints the URL on stdout first.
pub async fn run(args: &DevServerArgs, connection: &ConnectionArgs) -> Result<(), CliError> {
    let server = DevServer::start(config(args, connection).await?)
        .await
        .map_err(|e| CliError::Input(e.to_string()))?;
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
