//! `metald-host dev-server`: the development server, until interrupted.

use std::sync::Arc;

use metald_devserver::tls::TlsAcceptor;
use metald_devserver::{Acceptor, DevServer, DevServerConfig, PlainAcceptor, Routes};

use crate::args::{DevServerArgs, RoutesArg, TlsMode};
use crate::connection::Connection;
use crate::error::CliError;

/// The dev server config the flags and the connection settings describe: `--tls-mode`
/// (default disabled, see [`crate::args::Command::default_tls_mode`]) says how clients connect.
async fn config(args: &DevServerArgs, connection: &Connection) -> Result<DevServerConfig, CliError> {
    let acceptor: Arc<dyn Acceptor> = match connection.tls_mode {
        TlsMode::Disabled => Arc::new(PlainAcceptor),
        TlsMode::File => match (&connection.tls_cert, &connection.tls_key, &args.tls_client_ca) {
            (Some(cert), Some(key), Some(ca)) => {
                Arc::new(TlsAcceptor::from_files(cert, key, ca).map_err(|e| CliError::Input(e.to_string()))?)
            }
            _ => {
                return Err(CliError::Usage(
                    "dev-server --tls-mode file needs --tls-cert, --tls-key and --tls-client-ca".into(),
                ));
            }
        },
        TlsMode::Spiffe => {
            let (endpoint, _) = metald_host::tls::spiffe_endpoint(&connection.spiffe_socket);
            let acceptor =
                TlsAcceptor::spiffe_as(&endpoint, connection.spiffe_timeout, connection.spiffe_id.as_deref())
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
pub async fn run(args: &DevServerArgs, connection: &Connection) -> Result<(), CliError> {
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
