//! The connection settings, resolved once from [`ConnectionArgs`] (flag, then non-empty
//! `UNKEY_METALD_*` variable, then default, as metald-cli resolves them) into a
//! [`Connection`] that every command receives, and what is made from them: client options,
//! a transport, a runtime.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use metald_host::bindings::types::{ClientOptions, Codec, Compression};
use metald_host::tls::{self, TlsProvider};
use metald_host::transport::{AllowList, AllowedHost, TransportConfig};
use metald_host::{Runtime, RuntimeConfig};

use crate::args::{CodecArg, Command, CompressionArg, ConnectionArgs, TlsMode};
use crate::error::CliError;

/// Default socket of the SPIRE agent.
pub const DEFAULT_SPIFFE_SOCKET: &str = "/var/lib/spire/agent/agent.sock";

/// Where the server is, who we are, and how TLS is done: every value final.
#[derive(Clone, Debug)]
pub struct Connection {
    /// The server URL.
    pub server: String,
    /// The user id.
    pub user: String,
    /// The tenant id.
    pub tenant: String,
    /// The TLS mode.
    pub tls_mode: TlsMode,
    /// The SPIFFE Workload API socket.
    pub spiffe_socket: String,
    /// How long to wait for an identity from the Workload API.
    pub spiffe_timeout: Duration,
    /// The only SPIFFE ID accepted for the peer, if set.
    pub server_spiffe_id: Option<String>,
    /// Which of our SVIDs to present, by SPIFFE ID (default: the first).
    pub spiffe_id: Option<String>,
    /// Certificate (PEM) presented in file mode.
    pub tls_cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// CA bundle (PEM) trusted for the server in file mode.
    pub tls_ca: Option<PathBuf>,
    /// How often certificate files are re-read (zero: never).
    pub cert_reload_interval: Duration,
    /// Per-call deadline.
    pub timeout: Duration,
    /// Extra attempts for reads.
    pub retries: u32,
    /// Proto package of the routes.
    pub route_prefix: String,
    /// Wire codec.
    pub codec: Codec,
    /// Response compression asked for.
    pub compression: Compression,
    /// HTTP/2 with prior knowledge for http:// servers.
    pub h2c: bool,
    /// Destinations the component may reach besides the server.
    pub allow_hosts: Vec<String>,
}

impl Connection {
    /// The settings `command` runs with: what clap read (flags, then `UNKEY_METALD_*`
    /// variables, then defaults), with the defaults clap cannot express: the command's TLS
    /// mode ([`Command::default_tls_mode`]) and the SPIFFE socket's second variable,
    /// `SPIFFE_ENDPOINT_SOCKET` (the Workload API's standard one).
    pub fn resolve(args: &ConnectionArgs, command: &Command) -> Connection {
        let spiffe_socket = args
            .spiffe_socket
            .clone()
            .or_else(|| std::env::var("SPIFFE_ENDPOINT_SOCKET").ok().filter(|v| !v.is_empty()))
            .unwrap_or_else(|| DEFAULT_SPIFFE_SOCKET.to_string());
        Connection {
            server: args.server.clone(),
            user: args.user.clone(),
            tenant: args.tenant.clone(),
            tls_mode: args.tls_mode.unwrap_or_else(|| command.default_tls_mode()),
            spiffe_socket,
            spiffe_timeout: args.spiffe_timeout,
            server_spiffe_id: args.server_spiffe_id.clone(),
            spiffe_id: args.spiffe_id.clone(),
            tls_cert: args.tls_cert.clone(),
            tls_key: args.tls_key.clone(),
            tls_ca: args.tls_ca.clone(),
            cert_reload_interval: args.cert_reload_interval,
            timeout: args.timeout,
            retries: args.retries,
            route_prefix: args.route_prefix.clone(),
            codec: match args.codec {
                CodecArg::Proto => Codec::Proto,
                CodecArg::Json => Codec::Json,
            },
            compression: match args.compression {
                CompressionArg::Gzip => Compression::Gzip,
                CompressionArg::Identity => Compression::Identity,
            },
            h2c: args.h2c,
            allow_hosts: args.allow_hosts.clone(),
        }
    }

    /// The client options the component gets.
    pub fn client_options(&self) -> ClientOptions {
        ClientOptions {
            server: self.server.clone(),
            user_id: self.user.clone(),
            tenant_id: self.tenant.clone(),
            timeout_ms: Some(u32::try_from(self.timeout.as_millis()).unwrap_or(u32::MAX).max(1)),
            route_prefix: Some(self.route_prefix.clone()),
            codec: Some(self.codec),
            retries: Some(self.retries),
            max_response_bytes: None,
            compression: Some(self.compression),
        }
    }

    /// The transport for commands that call the server: the TLS mode's identity, and an
    /// allow-list of the server plus `--allow-host` entries.
    pub async fn transport(&self) -> Result<TransportConfig, CliError> {
        let server = &self.server;
        let mut allow = AllowList::default();
        allow.push(AllowedHost::for_server(server).map_err(|e| CliError::Usage(format!("--server: {e}")))?);
        for entry in &self.allow_hosts {
            allow.push(AllowedHost::parse(entry).map_err(|e| CliError::Usage(format!("--allow-host: {e}")))?);
        }
        let provider: Arc<dyn TlsProvider> = match self.tls_mode {
            TlsMode::Disabled => Arc::new(tls::ServerAuthOnly::new().map_err(tls_error)?),
            TlsMode::File => Arc::new(
                tls::FileTls::new(tls::FileTlsConfig {
                    cert: self.tls_cert.clone(),
                    key: self.tls_key.clone(),
                    ca: self.tls_ca.clone(),
                    server_spiffe_id: self.server_spiffe_id.clone(),
                    reload_interval: self.cert_reload_interval,
                })
                .map_err(tls_error)?,
            ),
            TlsMode::Spiffe => Arc::new(
                tls::SpiffeTls::new(tls::SpiffeConfig {
                    socket: self.spiffe_socket.clone(),
                    timeout: self.spiffe_timeout,
                    server_spiffe_id: self.server_spiffe_id.clone(),
                    spiffe_id: self.spiffe_id.clone(),
                })
                .await
                .map_err(tls_error)?,
            ),
        };
        let mut config = TransportConfig::new(provider, allow);
        config.http2_prior_knowledge = self.h2c;
        Ok(config)
    }
}

/// The flag of a TLS setting: the library's messages name settings, the CLI adds its flag.
fn flag(setting: tls::Setting) -> &'static str {
    match setting {
        tls::Setting::ClientCertificate => "--tls-cert",
        tls::Setting::ClientKey => "--tls-key",
        tls::Setting::CaCertificates => "--tls-ca",
        tls::Setting::ServerSpiffeId => "--server-spiffe-id",
        tls::Setting::SpiffeSocket => "--spiffe-socket",
        tls::Setting::SpiffeId => "--spiffe-id",
    }
}

/// A TLS setup error, led by the flag to change when one flag's setting is at fault.
fn tls_error(error: tls::TlsError) -> CliError {
    match error.setting() {
        Some(setting) => CliError::Flag { flag: flag(setting), source: error.into() },
        None => error.into(),
    }
}

/// A runtime for one command: the engine sized for the few instances a command uses (a
/// builder and a client at most, and a spare).
pub fn runtime(transport: TransportConfig) -> Result<Runtime, CliError> {
    let mut config = RuntimeConfig::new(transport);
    config.limits = metald_host::component::EngineLimits::FEW;
    Ok(Runtime::new(config)?)
}

/// The transport for offline commands: no destination allowed, no TLS material read.
pub fn offline_transport() -> TransportConfig {
    TransportConfig::new(Arc::new(tls::Offline), AllowList::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(args: &[&str]) -> Connection {
        let cli = crate::args::parse(args.iter().map(ToString::to_string).collect()).unwrap();
        Connection::resolve(&cli.connection, &cli.command)
    }

    #[test]
    fn the_tls_mode_flag_applies_to_every_command_and_the_default_depends_on_the_role() {
        assert_eq!(resolved(&["m", "--tls-mode", "file", "list"]).tls_mode, TlsMode::File);
        assert_eq!(resolved(&["m", "dev-server", "-tls-mode=spiffe"]).tls_mode, TlsMode::Spiffe);
        // The environment of the test process may name a mode (UNKEY_METALD_TLS_MODE); the
        // defaults are checked where it does not.
        if std::env::var_os("UNKEY_METALD_TLS_MODE").is_none() {
            assert_eq!(resolved(&["m", "list"]).tls_mode, TlsMode::Spiffe);
            assert_eq!(resolved(&["m", "dev-server"]).tls_mode, TlsMode::Disabled);
        }
    }

    #[test]
    fn an_unknown_tls_mode_is_a_usage_error_listing_the_modes() {
        let error = crate::args::parse(["m", "--tls-mode", "none", "list"].map(String::from).to_vec())
            .unwrap_err()
            .to_string();
        assert!(error.contains("spiffe") && error.contains("file") && error.contains("disabled"), "{error}");
    }

    #[test]
    fn compression_defaults_to_gzip_and_reaches_the_client_options() {
        assert_eq!(resolved(&["m", "list"]).client_options().compression, Some(Compression::Gzip));
        let identity = resolved(&["m", "list", "-compression=identity"]);
        assert_eq!(identity.client_options().compression, Some(Compression::Identity));
    }

    #[test]
    fn a_bad_compression_is_a_usage_error_naming_the_flag_and_the_values() {
        let error = crate::args::parse(["m", "--compression", "br", "list"].map(String::from).to_vec())
            .unwrap_err()
            .to_string();
        assert!(error.contains("--compression"), "{error}");
        assert!(error.contains("gzip") && error.contains("identity"), "{error}");
    }
}
