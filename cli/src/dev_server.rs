//! `metald-host dev-server`: the development server, until interrupted.

use std::sync::Arc;

use metald_devserver::tls::{PeerLog, TlsAcceptor};
use metald_devserver::{DevServer, DevServerConfig, PlainAcceptor, RequestLog, Routes};

use crate::args::{DevServerArgs, RoutesArg, TlsMode};
use crate::connection::Connection;
use crate::error::CliError;

/// The dev server config the flags and the connection settings describe: `--tls-mode`
/// (default disabled, see [`crate::args::Command::default_tls_mode`]) says how clients connect.
async fn config(args: &DevServerArgs, connection: &Connection) -> Result<DevServerConfig, CliError> {
    let tls = match connection.tls_mode {
        TlsMode::Disabled => {
            if args.peer_log.is_some() {
                return Err(CliError::Usage("dev-server --peer-log needs --tls-mode file or spiffe".into()));
            }
            return Ok(DevServerConfig { acceptor: Arc::new(PlainAcceptor), ..plain_config(args)? });
        }
        TlsMode::File => match (&connection.tls_cert, &connection.tls_key, &args.tls_client_ca) {
            (Some(cert), Some(key), Some(ca)) => {
                TlsAcceptor::from_files(cert, key, ca).map_err(|e| CliError::Input(e.to_string()))?
            }
            _ => {
                return Err(CliError::Usage(
                    "dev-server --tls-mode file needs --tls-cert, --tls-key and --tls-client-ca".into(),
                ));
            }
        },
        TlsMode::Spiffe => {
            let (endpoint, _) = metald_host::tls::spiffe_endpoint(&connection.spiffe_socket);
            TlsAcceptor::spiffe_as(&endpoint, connection.spiffe_timeout, connection.spiffe_id.as_deref())
                .await
                .map_err(|e| CliError::Input(e.to_string()))?
        }
    };
    let tls = match &args.peer_log {
        Some(path) => {
            let log = PeerLog::to_file(path).map_err(|e| CliError::Input(format!("--peer-log: {e}")))?;
            tls.with_peer_log(log)
        }
        None => tls,
    };
    Ok(DevServerConfig { acceptor: Arc::new(tls), ..plain_config(args)? })
}

/// The settings that do not depend on TLS.
fn plain_config(args: &DevServerArgs) -> Result<DevServerConfig, CliError> {
    let request_log = match &args.request_log {
        Some(path) => Some(Arc::new(
            RequestLog::to_file(path).map_err(|e| CliError::Input(format!("--request-log: {e}")))?,
        )),
        None => None,
    };
    Ok(DevServerConfig {
        acceptor: Arc::new(PlainAcceptor),
        listen: args.listen,
        state_file: args.state_file.clone(),
        routes: match args.routes {
            RoutesArg::Current => Routes::Current,
            RoutesArg::Legacy => Routes::Legacy,
            RoutesArg::Both => Routes::Both,
        },
        faults: args.faults.clone(),
        request_log,
    })
}

/// Serves until SIGINT or SIGTERM; prints the URL on stdout first.
pub async fn run(args: &DevServerArgs, connection: &Connection) -> Result<(), CliError> {
    let server = DevServer::start(config(args, connection).await?)
        .await
        .map_err(|e| CliError::Input(e.to_string()))?;
    println!("{}", server.url());
    wait_for_signal().await;
    server.shutdown();
    Ok(())
}

/// With `--dev` (`wanted`), an in-process development server with the default settings, for
/// `run` and `plugin run`; it stops when dropped.
pub async fn embedded(wanted: bool) -> Result<Option<DevServer>, CliError> {
    if !wanted {
        return Ok(None);
    }
    let server = DevServer::start(Default::default()).await.map_err(|e| CliError::Input(e.to_string()))?;
    tracing::info!(url = %server.url(), "development server started");
    Ok(Some(server))
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
