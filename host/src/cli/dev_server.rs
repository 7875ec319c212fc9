//! `metald-host dev-server`: the development server, until interrupted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use metald_devserver::tls::TlsAcceptor;
use metald_devserver::{Acceptor, DevServer, DevServerConfig, FaultSpec, PlainAcceptor, Routes};

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
    /// TLS: disabled (HTTP/1.1 and h2c), file (--tls-cert/--tls-key, client certificates
    /// chaining to --tls-client-ca required), or spiffe (SVID from --spiffe-socket; clients
    /// must be in our trust domain).
    #[arg(long, value_enum, default_value_t = ServerTls::Disabled)]
    pub tls_mode: ServerTls,
    /// Server certificate (PEM), file mode.
    #[arg(long, value_name = "FILE", required_if_eq("tls_mode", "file"))]
    pub tls_cert: Option<PathBuf>,
    /// Server key (PEM), file mode.
    #[arg(long, value_name = "FILE", required_if_eq("tls_mode", "file"))]
    pub tls_key: Option<PathBuf>,
    /// CA (PEM) that client certificates must chain to, file mode.
    #[arg(long, value_name = "FILE", required_if_eq("tls_mode", "file"))]
    pub tls_client_ca: Option<PathBuf>,
    /// Workload API socket, spiffe mode [default: as for clients].
    #[arg(long, value_name = "SOCKET")]
    pub spiffe_socket: Option<String>,
    /// Inject a fault: RPC=FAULT, e.g. GetVmInfo=latency:2s, CreateVm=unavailable:3,
    /// ListVms=reset, *=garbage (repeatable).
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<FaultSpec>,
}

/// TLS mode of the dev server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ServerTls {
    /// Plain HTTP/1.1 and h2c.
    Disabled,
    /// Certificate files; client certificates required.
    File,
    /// SPIFFE SVID; clients must be in the trust domain.
    Spiffe,
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
pub async fn config(args: &DevServerArgs) -> Result<DevServerConfig, CliError> {
    let acceptor: Arc<dyn Acceptor> = match args.tls_mode {
        ServerTls::Disabled => Arc::new(PlainAcceptor),
        ServerTls::File => match (&args.tls_cert, &args.tls_key, &args.tls_client_ca) {
            (Some(cert), Some(key), Some(ca)) => {
                Arc::new(TlsAcceptor::from_files(cert, key, ca).map_err(|e| CliError::Input(e.to_string()))?)
            }
            _ => {
                return Err(CliError::Usage(
                    "--tls-mode file needs --tls-cert, --tls-key and --tls-client-ca".into(),
                ));
            }
        },
        ServerTls::Spiffe => {
            let socket = args
                .spiffe_socket
                .clone()
                .or_else(|| std::env::var("SPIFFE_ENDPOINT_SOCKET").ok().filter(|v| !v.is_empty()))
                .unwrap_or_else(|| super::connection::DEFAULT_SPIFFE_SOCKET.to_string());
            let (endpoint, _) = metald_host::tls::spiffe_endpoint(&socket);
            let acceptor = TlsAcceptor::spiffe(&endpoint, Duration::from_secs(10))
                .await
                .map_err(|e| CliError::Input(e.to_string()))?;
            Arc::new(acceptor)
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
pub async fn run(args: &DevServerArgs) -> Result<(), CliError> {
    let server = DevServer::start(config(args).await?).await.map_err(|e| CliError::Input(e.to_string()))?;
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
