//! Connection settings from flags and environment (flag, then non-empty env var, then
//! default, as metald-cli resolves them), turned into client options and a transport.

use std::sync::Arc;

use metald_host::bindings::types::{ClientOptions, Codec};
use metald_host::tls::{self, TlsProvider};
use metald_host::transport::{AllowList, AllowedHost, TransportConfig};
use metald_host::{Runtime, RuntimeConfig};

use super::CliError;
use super::args::{CodecArg, ConnectionArgs};

/// Default socket of the SPIRE agent.
pub const DEFAULT_SPIFFE_SOCKET: &str = "/var/lib/spire/agent/agent.sock";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn resolve(flag: &Option<String>, var: &str, default: &str) -> String {
    flag.clone().or_else(|| env(var)).unwrap_or_else(|| default.to_string())
}

/// The server URL.
pub fn server(args: &ConnectionArgs) -> String {
    resolve(&args.server, "UNKEY_METALD_SERVER_ADDRESS", "https://localhost:8080")
}

/// The client options the component gets.
pub fn client_options(args: &ConnectionArgs) -> ClientOptions {
    ClientOptions {
        server: server(args),
        user_id: resolve(&args.user, "UNKEY_METALD_USER_ID", "cli-user"),
        tenant_id: resolve(&args.tenant, "UNKEY_METALD_TENANT_ID", "cli-tenant"),
        timeout_ms: Some(u32::try_from(args.timeout.as_millis()).unwrap_or(u32::MAX).max(1)),
        route_prefix: Some(args.route_prefix.clone()),
        codec: Some(match args.codec {
            CodecArg::Proto => Codec::Proto,
            CodecArg::Json => Codec::Json,
        }),
        retries: Some(args.retries),
        max_response_bytes: None,
    }
}

/// The tenant id (for `list` output).
pub fn tenant(args: &ConnectionArgs) -> String {
    resolve(&args.tenant, "UNKEY_METALD_TENANT_ID", "cli-tenant")
}

/// The SPIFFE socket: flag, `UNKEY_METALD_SPIFFE_SOCKET`, `SPIFFE_ENDPOINT_SOCKET`, default.
pub fn spiffe_socket(args: &ConnectionArgs) -> String {
    args.spiffe_socket
        .clone()
        .or_else(|| env("UNKEY_METALD_SPIFFE_SOCKET"))
        .or_else(|| env("SPIFFE_ENDPOINT_SOCKET"))
        .unwrap_or_else(|| DEFAULT_SPIFFE_SOCKET.to_string())
}

/// The transport for commands that call the server: the TLS mode's identity, and an
/// allow-list of the server plus `--allow-host` entries.
pub async fn transport(args: &ConnectionArgs) -> Result<TransportConfig, CliError> {
    let server = server(args);
    let mut allow = AllowList::default();
    allow.push(AllowedHost::for_server(&server).map_err(|e| CliError::Usage(format!("--server: {e}")))?);
    for entry in &args.allow_hosts {
        allow.push(AllowedHost::parse(entry).map_err(|e| CliError::Usage(format!("--allow-host: {e}")))?);
    }
    let mode = resolve(&args.tls_mode, "UNKEY_METALD_TLS_MODE", "spiffe");
    let provider: Arc<dyn TlsProvider> = match mode.as_str() {
        "disabled" => Arc::new(tls::ServerAuthOnly::new().map_err(tls_error)?),
        "file" => Arc::new(
            tls::FileTls::new(tls::FileTlsConfig {
                cert: args.tls_cert.clone(),
                key: args.tls_key.clone(),
                ca: args.tls_ca.clone(),
                server_spiffe_id: args.server_spiffe_id.clone(),
                reload_interval: args.cert_reload_interval,
            })
            .map_err(tls_error)?,
        ),
        "spiffe" => Arc::new(
            tls::SpiffeTls::new(tls::SpiffeConfig {
                socket: spiffe_socket(args),
                timeout: args.spiffe_timeout,
                server_spiffe_id: args.server_spiffe_id.clone(),
            })
            .await
            .map_err(tls_error)?,
        ),
        other => {
            return Err(CliError::Usage(format!(
                "unknown TLS mode {other:?}; expected spiffe, file or disabled"
            )));
        }
    };
    let mut config = TransportConfig::new(provider, allow);
    config.http2_prior_knowledge = args.h2c;
    Ok(config)
}

/// The flag of a TLS setting: the library's messages name settings, the CLI adds its flag.
fn flag(setting: tls::Setting) -> &'static str {
    match setting {
        tls::Setting::ClientCertificate => "--tls-cert",
        tls::Setting::ClientKey => "--tls-key",
        tls::Setting::CaCertificates => "--tls-ca",
        tls::Setting::ServerSpiffeId => "--server-spiffe-id",
        tls::Setting::SpiffeSocket => "--spiffe-socket",
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
