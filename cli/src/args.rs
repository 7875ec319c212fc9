//! Command-line arguments: metald-cli's flags and commands (docs/upstream.md#metald-cli), accepted in Go
//! style too (`-template=high-cpu`), before or after the command. Every flag value is read
//! as Go's `flag` package reads it ([`crate::goflag`]). Flags that metald-cli also reads from
//! `UNKEY_METALD_*` variables name them with clap's `env`: flag, then variable, then default.
//!
//! This module depends on no other command module: `connection` resolves these
//! arguments, and the commands receive the result.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use metald_devserver::FaultSpec;

use crate::goflag;

/// metald client: VM lifecycle calls through the metald client component.
#[derive(Debug, Parser)]
#[command(name = "metald-host", version, about, max_term_width = 100, args_override_self = true)]
pub struct Cli {
    /// Connection settings.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// How the VM config is built (create, create-and-boot, config-gen).
    #[command(flatten)]
    pub vm: VmArgs,
    /// Print results as JSON on stdout (errors too).
    #[arg(long, global = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", value_parser = goflag::parse_bool)]
    pub json: Option<bool>,
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Where the server is, who we are, and how TLS is done: read as metald-cli reads them (the
/// flag, else the non-empty variable, else the default) and resolved once by
/// `connection::Connection::resolve`.
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// metald URL.
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "UNKEY_METALD_SERVER_ADDRESS",
        hide_env_values = true,
        default_value = "https://localhost:8080"
    )]
    pub server: String,
    /// User id.
    #[arg(
        long,
        global = true,
        value_name = "ID",
        env = "UNKEY_METALD_USER_ID",
        hide_env_values = true,
        default_value = "cli-user"
    )]
    pub user: String,
    /// Tenant id.
    #[arg(
        long,
        global = true,
        value_name = "ID",
        env = "UNKEY_METALD_TENANT_ID",
        hide_env_values = true,
        default_value = "cli-tenant"
    )]
    pub tenant: String,
    /// TLS mode [default: spiffe; disabled for dev-server].
    #[arg(
        long,
        global = true,
        value_name = "MODE",
        value_enum,
        env = "UNKEY_METALD_TLS_MODE",
        hide_env_values = true
    )]
    pub tls_mode: Option<TlsMode>,
    /// SPIFFE Workload API socket: a path, unix:PATH or unix://PATH (also read from
    /// SPIFFE_ENDPOINT_SOCKET) [default: /var/lib/spire/agent/agent.sock].
    #[arg(
        long,
        global = true,
        value_name = "SOCKET",
        env = "UNKEY_METALD_SPIFFE_SOCKET",
        hide_env_values = true
    )]
    pub spiffe_socket: Option<String>,
    /// How long to wait for an identity from the SPIFFE Workload API.
    #[arg(long, global = true, value_name = "DURATION", value_parser = goflag::duration, default_value = "10s")]
    pub spiffe_timeout: Duration,
    /// Accept only this SPIFFE ID for the server (default: any ID in our trust domain).
    #[arg(long, global = true, value_name = "ID")]
    pub server_spiffe_id: Option<String>,
    /// Present the SVID with this SPIFFE ID when the Workload API offers several (default:
    /// the first); an ID it does not offer is an error.
    #[arg(long, global = true, value_name = "ID", env = "UNKEY_METALD_SPIFFE_ID", hide_env_values = true)]
    pub spiffe_id: Option<String>,
    /// Client certificate (PEM) presented in file mode.
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// CA bundle (PEM) trusted for the server in file mode (default: system roots).
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Reload --tls-cert/--tls-key/--tls-ca this often (0: never).
    #[arg(long, global = true, value_name = "DURATION", value_parser = goflag::duration, default_value = "0s")]
    pub cert_reload_interval: Duration,
    /// Per-call deadline (connect, TLS, request and response), Go syntax: 500ms, 30s, 1m30s;
    /// 0 means the default, as in metald-cli.
    #[arg(long, global = true, value_name = "DURATION", value_parser = goflag::timeout, default_value = "30s")]
    pub timeout: Duration,
    /// Extra attempts for reads (info, list) after unavailable or a connection failure.
    #[arg(long, global = true, value_name = "N", value_parser = goflag::uint32, default_value = "2")]
    pub retries: u32,
    /// Proto package of the routes (vmprovisioner.v1 for servers built before July 2025).
    #[arg(long, global = true, value_name = "PACKAGE", default_value = "metal.vmprovisioner.v1")]
    pub route_prefix: String,
    /// Wire codec.
    #[arg(long, global = true, value_enum, default_value_t = CodecArg::Proto)]
    pub codec: CodecArg,
    /// Response compression to ask for: gzip (Accept-Encoding: gzip, as metald-cli) or
    /// identity (Accept-Encoding: identity, an uncompressed answer).
    #[arg(long, global = true, value_enum, default_value_t = CompressionArg::Gzip)]
    pub compression: CompressionArg,
    /// Use HTTP/2 with prior knowledge (h2c) for an http:// server.
    #[arg(long, global = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_name = "BOOL", value_parser = goflag::parse_bool, action = ArgAction::Set)]
    pub h2c: bool,
    /// Also let the component reach this destination (scheme://host:port, host:port).
    #[arg(long = "allow-host", global = true, value_name = "HOST")]
    pub allow_hosts: Vec<String>,
}

/// How connections are secured, for the client commands and `dev-server` alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TlsMode {
    /// mTLS with an X509-SVID from the SPIFFE Workload API (metald-cli's default).
    Spiffe,
    /// mTLS with certificate files (--tls-cert, --tls-key, --tls-ca).
    File,
    /// No client certificate: plain HTTP, or server-authenticated TLS for https:// servers.
    Disabled,
}

/// Wire codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CodecArg {
    /// application/proto
    Proto,
    /// application/json
    Json,
}

/// Response compression asked of the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    /// Accept-Encoding: gzip
    Gzip,
    /// Accept-Encoding: identity
    Identity,
}

/// How the VM config is built.
#[derive(Debug, Args)]
pub struct VmArgs {
    /// Config file (JSON, as config-gen writes); overrides below still apply.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Template: minimal, standard, high-cpu, high-memory, development [default: standard]
    #[arg(long, global = true, value_name = "NAME")]
    pub template: Option<String>,
    /// vCPUs (max becomes the larger of 2 x this and the template's max).
    #[arg(long, global = true, value_name = "N", value_parser = goflag::cpu, default_value = "0")]
    pub cpu: u32,
    /// Memory in MiB (max becomes the larger of 2 x this and the template's max).
    #[arg(long, global = true, value_name = "MIB", value_parser = goflag::uint64, default_value = "0")]
    pub memory: u64,
    /// Boot this Docker image (sets metadata and the root disk).
    #[arg(long, global = true, value_name = "IMAGE")]
    pub docker_image: Option<String>,
    /// Force an image rebuild (with --docker-image).
    #[arg(long, global = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", value_parser = goflag::parse_bool)]
    pub force_build: Option<bool>,
}

/// The commands of metald-cli, plus `dev-server` and `run`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a VM (the server assigns its id).
    Create {
        /// Ignored by metald, which assigns ids; accepted for metald-cli compatibility.
        vm_id: Option<String>,
    },
    /// Boot a VM.
    Boot {
        /// VM id.
        vm_id: String,
    },
    /// Shut a VM down (gracefully, within 30 s, unless `force`).
    Shutdown {
        /// VM id.
        vm_id: String,
        /// The word `force` stops the VM at once.
        #[arg(value_parser = ["force"])]
        force: Option<String>,
    },
    /// Delete a VM.
    Delete {
        /// VM id.
        vm_id: String,
        /// The word `force` (accepted; metald ignores it).
        #[arg(value_parser = ["force"])]
        force: Option<String>,
    },
    /// Show a VM's config, state and network.
    Info {
        /// VM id.
        vm_id: String,
    },
    /// List your VMs (every page).
    List {
        /// Only VMs in this state: created, running, paused, shutdown (repeatable).
        #[arg(long = "state", value_enum)]
        states: Vec<StateArg>,
    },
    /// Pause a running VM.
    Pause {
        /// VM id.
        vm_id: String,
    },
    /// Resume a paused VM.
    Resume {
        /// VM id.
        vm_id: String,
    },
    /// Reboot a running VM.
    Reboot {
        /// VM id.
        vm_id: String,
        /// The word `force` (accepted; metald ignores it).
        #[arg(value_parser = ["force"])]
        force: Option<String>,
    },
    /// Create a VM, boot it, and wait until it is running.
    CreateAndBoot {
        /// Ignored by metald, which assigns ids; accepted for metald-cli compatibility.
        vm_id: Option<String>,
        /// How long to wait for the VM to report running.
        #[arg(long, value_name = "DURATION", value_parser = goflag::duration, default_value = "60s")]
        wait: Duration,
    },
    /// Print the VM config (from --template and overrides, or --config) as a config file.
    ConfigGen,
    /// Validate a config file (FILE, or --config).
    ConfigValidate {
        /// The config file.
        file: Option<PathBuf>,
    },
    /// Run the metald development server.
    DevServer(DevServerArgs),
    /// Run a script of calls to the component's exports.
    Run(RunArgs),
    /// Run (or compose) a plugin: a component that imports metald:client and exports
    /// wasi:cli/run.
    Plugin(PluginArgs),
}

impl Command {
    /// The TLS mode when neither `--tls-mode` nor `UNKEY_METALD_TLS_MODE` names one:
    /// metald-cli's `spiffe` for the client commands, `disabled` (plain HTTP/1.1 and h2c) for
    /// the development server.
    pub fn default_tls_mode(&self) -> TlsMode {
        match self {
            Command::DevServer(_) => TlsMode::Disabled,
            _ => TlsMode::Spiffe,
        }
    }
}

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
    /// comes from `--spiffe-socket` and clients must be in its trust domain.
    #[arg(long, value_name = "FILE")]
    pub tls_client_ca: Option<PathBuf>,
    /// With TLS, append one JSON line per client handshake to FILE:
    /// `{"serial":"<hex>","spiffe_id":"spiffe://…"|null,"alpn":"h2"|"http/1.1"|null}`
    /// (how tests in any language see which certificate and protocol a client used).
    #[arg(long, value_name = "FILE")]
    pub peer_log: Option<PathBuf>,
    /// Append one JSON line per answered request to FILE:
    /// `{"rpc":"GetVmInfo","accept_encoding":"gzip"|null,"status":200,"content_encoding":"gzip"|null}`
    /// (how tests in any language see the compression a client asked for and got).
    #[arg(long, value_name = "FILE")]
    pub request_log: Option<PathBuf>,
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

/// Flags of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Script file, or `-` for stdin.
    #[arg(required_unless_present = "invoke")]
    pub script: Option<PathBuf>,
    /// Run this single call (or statement) instead of a script.
    #[arg(long, value_name = "CALL", conflicts_with = "script")]
    pub invoke: Option<String>,
    /// Start the development server in-process on a free port and point `client` at it.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_name = "BOOL", value_parser = goflag::parse_bool, action = ArgAction::Set)]
    pub dev: bool,
    /// Go on after a call returns err(…) or an assertion fails; exit 1 at the end.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_name = "BOOL", value_parser = goflag::parse_bool, action = ArgAction::Set)]
    pub keep_going: bool,
}

/// `plugin` and its subcommands.
#[derive(Debug, Args)]
pub struct PluginArgs {
    /// What to do with the plugin.
    #[command(subcommand)]
    pub command: PluginCommand,
}

/// Subcommands of `plugin`.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Compose PLUGIN with the metald client component and run its wasi:cli/run, with this
    /// command's connection settings (TLS mode, --allow-host) for its requests. The plugin
    /// gets ARGS verbatim, and METALD_SERVER, METALD_USER, METALD_TENANT in its environment.
    Run(PluginRunArgs),
    /// Compose PLUGIN with the metald client component into one component that imports only
    /// WASI (for `wasmtime run -S http`, jco, or a plugin platform).
    Compose(PluginComposeArgs),
}

/// Flags of `plugin run`.
#[derive(Debug, Args)]
pub struct PluginRunArgs {
    /// Start the development server in-process on a free port and point the plugin at it.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_name = "BOOL", value_parser = goflag::parse_bool, action = ArgAction::Set)]
    pub dev: bool,
    /// The plugin component (.wasm).
    pub plugin: PathBuf,
    /// Arguments for the plugin, passed as they are (the plugin's argv after its name).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

/// Flags of `plugin compose`.
#[derive(Debug, Args)]
pub struct PluginComposeArgs {
    /// The plugin component (.wasm).
    pub plugin: PathBuf,
    /// Where to write the composed component.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}

/// A VM state for `list --state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    /// VM_STATE_CREATED
    Created,
    /// VM_STATE_RUNNING
    Running,
    /// VM_STATE_PAUSED
    Paused,
    /// VM_STATE_SHUTDOWN
    Shutdown,
}

/// The command line: clap's definition, with environment variables that are set but empty
/// read as unset, as metald-cli's `getEnvOrDefault` reads them (clap would take `""` as the
/// value).
fn command() -> clap::Command {
    Cli::command().mut_args(|arg| match arg.get_env() {
        Some(name) if std::env::var_os(name).is_some_and(|value| value.is_empty()) => arg.env(None),
        _ => arg,
    })
}

/// Parses the process arguments as `metald-host` does: Go spelling first ([`goflag::normalize`]),
/// then clap.
pub fn parse(argv: Vec<String>) -> Result<Cli, clap::Error> {
    let specs = flag_specs();
    // A plugin's own arguments are its business: they reach it as they were typed.
    let mut argv = argv;
    let verbatim = plugin_args_start(&argv, &specs).map(|start| argv.split_off(start)).unwrap_or_default();
    let argv: Vec<OsString> =
        goflag::normalize(argv, &specs).into_iter().chain(verbatim).map(OsString::from).collect();
    let mut command = command();
    let matches = command.try_get_matches_from_mut(argv)?;
    Cli::from_arg_matches(&matches).map_err(|error| error.format(&mut command))
}

/// Where the arguments of `plugin run PLUGIN ARGS...` start (just after PLUGIN), if this
/// is that command: the first argument after `plugin run` that is neither a flag nor a
/// flag's value.
fn plugin_args_start(argv: &[String], flags: &[goflag::FlagSpec]) -> Option<usize> {
    let run = argv.windows(2).position(|pair| pair[0] == "plugin" && pair[1] == "run")? + 2;
    let mut index = run;
    while let Some(arg) = argv.get(index) {
        if arg == "--" {
            return None;
        }
        let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            return Some(index + 1);
        };
        let takes_value = !body.contains('=') && flags.iter().any(|f| f.name == body && f.takes_value);
        index += if takes_value { 2 } else { 1 };
    }
    None
}

/// Every long flag, for Go-style spelling: its name and whether it needs a value.
fn flag_specs() -> Vec<goflag::FlagSpec> {
    let mut command = Cli::command();
    command.build();
    let mut specs = Vec::new();
    let mut add = |command: &clap::Command| {
        for arg in command.get_arguments() {
            if let Some(name) = arg.get_long() {
                let min_values = arg.get_num_args().map_or(1, |range| range.min_values());
                let takes_value = arg.get_action().takes_values() && min_values > 0;
                specs.push(goflag::FlagSpec { name: name.to_string(), takes_value });
            }
        }
    };
    add(&command);
    for sub in command.get_subcommands() {
        add(sub);
    }
    specs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    /// Parses as `metald-host` does: Go spelling first, then clap.
    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        super::parse(args.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn go_flag_values_read_as_metald_cli_reads_them() {
        for (text, value) in
            [("1", true), ("t", true), ("TRUE", true), ("True", true), ("0", false), ("F", false)]
        {
            let json = format!("-json={text}");
            assert_eq!(parse(&["m", &json, "list"]).unwrap().json, Some(value), "{json}");
            let force = format!("-force-build={text}");
            assert_eq!(parse(&["m", &force, "config-gen"]).unwrap().vm.force_build, Some(value), "{force}");
            let h2c = format!("--h2c={text}");
            assert_eq!(parse(&["m", &h2c, "list"]).unwrap().connection.h2c, value, "{h2c}");
        }
        assert_eq!(parse(&["m", "-json", "list"]).unwrap().json, Some(true));
        assert!(parse(&["m", "-json", "false", "list"]).is_err(), "a bool takes no separate value");
        assert_eq!(parse(&["m", "-timeout=0", "list"]).unwrap().connection.timeout, Duration::from_secs(30));
        assert_eq!(
            parse(&["m", "-timeout", "1m30s", "list"]).unwrap().connection.timeout,
            Duration::from_secs(90)
        );
        assert_eq!(
            parse(&["m", "-timeout=1.5h", "list"]).unwrap().connection.timeout,
            Duration::from_secs(5400)
        );
        assert_eq!(parse(&["m", "-cpu=0x10", "config-gen"]).unwrap().vm.cpu, 16);
        assert_eq!(parse(&["m", "-cpu", "010", "config-gen"]).unwrap().vm.cpu, 8, "octal, as in Go");
        assert_eq!(parse(&["m", "-memory=1_024", "config-gen"]).unwrap().vm.memory, 1024);
        assert_eq!(parse(&["m", "--retries=0x3", "list"]).unwrap().connection.retries, 3);
        assert_eq!(parse(&["m", "-user", "-dash", "list"]).unwrap().connection.user, "-dash");
        for (args, flag) in [
            (vec!["m", "-json=yes", "list"], "--json"),
            (vec!["m", "-timeout=5", "list"], "--timeout"),
            (vec!["m", "-timeout=-1s", "list"], "--timeout"),
            (vec!["m", "-cpu=08", "config-gen"], "--cpu"),
            (vec!["m", "-cpu=4294967296", "config-gen"], "--cpu"),
            (vec!["m", "-memory=-1", "config-gen"], "--memory"),
        ] {
            let error = parse(&args).unwrap_err().to_string();
            assert!(error.contains(flag) && error.contains("metald-cli"), "{args:?}: {error}");
        }
    }

    #[test]
    fn every_flag_and_command_parses() {
        let cli = Cli::try_parse_from([
            "metald-host",
            "--server",
            "http://h:1",
            "--user",
            "u",
            "--tenant",
            "t",
            "--tls-mode",
            "disabled",
            "--timeout",
            "1m",
            "--json",
            "--template",
            "high-cpu",
            "--cpu",
            "8",
            "--memory",
            "16384",
            "--docker-image",
            "nginx",
            "--force-build",
            "create-and-boot",
            "vm-1",
        ])
        .unwrap();
        assert_eq!(cli.connection.timeout, Duration::from_secs(60));
        assert_eq!(cli.json, Some(true));
        assert_eq!(cli.vm.force_build, Some(true));
        assert!(matches!(cli.command, Command::CreateAndBoot { vm_id: Some(ref id), .. } if id == "vm-1"));
        let after = Cli::try_parse_from(["metald-host", "info", "vm-1", "--json"]).unwrap();
        assert_eq!(after.json, Some(true), "flags after the command");
        assert!(Cli::try_parse_from(["metald-host", "shutdown", "vm-1", "now"]).is_err());
        assert!(Cli::try_parse_from(["metald-host", "--timeout", "soon", "list"]).is_err());
        assert_eq!(after.connection.timeout, Duration::from_secs(30), "the default");
        let plugin = parse(&[
            "m",
            "-server",
            "http://h:1",
            "plugin",
            "run",
            "--dev",
            "--tls-mode",
            "disabled",
            "p.wasm",
            "-server",
            "x",
            "--template",
            "t",
            "--",
            "-v",
        ])
        .unwrap();
        assert_eq!(plugin.connection.server, "http://h:1");
        assert_eq!(plugin.connection.tls_mode, Some(TlsMode::Disabled));
        let Command::Plugin(PluginArgs { command: PluginCommand::Run(run) }) = plugin.command else {
            panic!("not plugin run: {:?}", plugin.command)
        };
        assert!(run.dev);
        assert_eq!(run.plugin, PathBuf::from("p.wasm"));
        assert_eq!(run.args, ["-server", "x", "--template", "t", "--", "-v"], "verbatim, Go flags untouched");
        let repeated =
            Cli::try_parse_from(["metald-host", "--tls-mode", "disabled", "list", "--tls-mode", "file"])
                .unwrap();
        assert_eq!(repeated.connection.tls_mode, Some(TlsMode::File), "the last one wins, as with Go flags");
    }
}
