//! Command-line arguments: metald-cli's flags and commands (wire facts §11), accepted in Go
//! style too (`-template=high-cpu`), before or after the command.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

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
    #[arg(long, global = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub json: Option<bool>,
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Where the server is, who we are, and how TLS is done.
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// metald URL [env: UNKEY_METALD_SERVER_ADDRESS] [default: https://localhost:8080]
    #[arg(long, global = true, value_name = "URL")]
    pub server: Option<String>,
    /// User id [env: UNKEY_METALD_USER_ID] [default: cli-user]
    #[arg(long, global = true, value_name = "ID")]
    pub user: Option<String>,
    /// Tenant id [env: UNKEY_METALD_TENANT_ID] [default: cli-tenant]
    #[arg(long, global = true, value_name = "ID")]
    pub tenant: Option<String>,
    /// TLS mode: spiffe, file or disabled [env: UNKEY_METALD_TLS_MODE] [default: spiffe]
    #[arg(long, global = true, value_name = "MODE")]
    pub tls_mode: Option<String>,
    /// SPIFFE Workload API socket: a path, unix:PATH or unix://PATH
    /// [env: UNKEY_METALD_SPIFFE_SOCKET, then SPIFFE_ENDPOINT_SOCKET]
    /// [default: /var/lib/spire/agent/agent.sock]
    #[arg(long, global = true, value_name = "SOCKET")]
    pub spiffe_socket: Option<String>,
    /// How long to wait for an identity from the SPIFFE Workload API.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_go_duration, default_value = "10s")]
    pub spiffe_timeout: Duration,
    /// Accept only this SPIFFE ID for the server (default: any ID in our trust domain).
    #[arg(long, global = true, value_name = "ID")]
    pub server_spiffe_id: Option<String>,
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
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_go_duration, default_value = "0s")]
    pub cert_reload_interval: Duration,
    /// Per-call deadline (connect, TLS, request and response), Go syntax: 500ms, 30s, 1m.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_go_duration, default_value = "30s")]
    pub timeout: Duration,
    /// Extra attempts for reads (info, list) after unavailable or a connection failure.
    #[arg(long, global = true, value_name = "N", default_value_t = 2)]
    pub retries: u32,
    /// Proto package of the routes (vmprovisioner.v1 for servers built before July 2025).
    #[arg(long, global = true, value_name = "PACKAGE", default_value = "metal.vmprovisioner.v1")]
    pub route_prefix: String,
    /// Wire codec.
    #[arg(long, global = true, value_enum, default_value_t = CodecArg::Proto)]
    pub codec: CodecArg,
    /// Use HTTP/2 with prior knowledge (h2c) for an http:// server.
    #[arg(long, global = true)]
    pub h2c: bool,
    /// Also let the component reach this destination (scheme://host:port, host:port).
    #[arg(long = "allow-host", global = true, value_name = "HOST")]
    pub allow_hosts: Vec<String>,
}

/// Wire codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CodecArg {
    /// application/proto
    Proto,
    /// application/json
    Json,
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
    #[arg(long, global = true, value_name = "N", default_value_t = 0)]
    pub cpu: u32,
    /// Memory in MiB (max becomes the larger of 2 x this and the template's max).
    #[arg(long, global = true, value_name = "MIB", default_value_t = 0)]
    pub memory: u64,
    /// Boot this Docker image (sets metadata and the root disk).
    #[arg(long, global = true, value_name = "IMAGE")]
    pub docker_image: Option<String>,
    /// Force an image rebuild (with --docker-image).
    #[arg(long, global = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
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
        #[arg(long, value_name = "DURATION", value_parser = parse_go_duration, default_value = "60s")]
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
    DevServer(super::dev_server::DevServerArgs),
    /// Run a script of calls to the component's exports.
    Run(super::run::RunArgs),
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

/// Parses Go's `time.ParseDuration` syntax: `300ms`, `1.5s`, `2h45m`, `-1m` is refused.
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {text:?}; use Go syntax like 500ms, 30s, 1m or 1h30m");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(invalid)?;
        let (number, tail) = rest.split_at(number_end);
        if number.is_empty() || number == "." {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        let unit_end = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_end);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid()),
        };
        total += value * scale;
        rest = next;
    }
    Duration::try_from_secs_f64(total).map_err(|_| invalid())
}

/// Rewrites Go-style single-dash long flags (`-template=x`, `-json`) to `--template=x`,
/// leaving short flags (`-v`, `-h`), values and anything after `--` alone.
pub fn normalize_go_flags(args: Vec<String>, long_flags: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut passthrough = false;
    for (index, arg) in args.into_iter().enumerate() {
        if index == 0 || passthrough {
            out.push(arg);
            continue;
        }
        if arg == "--" {
            passthrough = true;
            out.push(arg);
            continue;
        }
        let go_style = arg.strip_prefix('-').filter(|rest| !rest.starts_with('-')).and_then(|rest| {
            let name = rest.split('=').next().unwrap_or_default();
            (name == "help" || long_flags.iter().any(|flag| flag == name)).then(|| format!("-{arg}"))
        });
        out.push(go_style.unwrap_or(arg));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_go_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_go_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_go_duration("250us"), Ok(Duration::from_micros(250)));
        for bad in ["", "5", "s", "1x", "-1s", "1..5s", "ms"] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn single_dash_long_flags_become_double_dash() {
        let flags = vec!["template".to_string(), "cpu".to_string(), "json".to_string()];
        let args = [
            "metald-host",
            "-template=high-cpu",
            "-cpu",
            "8",
            "-v",
            "-json",
            "create-and-boot",
            "--",
            "-cpu",
        ];
        let normalized = normalize_go_flags(args.iter().map(ToString::to_string).collect(), &flags);
        assert_eq!(
            normalized,
            [
                "metald-host",
                "--template=high-cpu",
                "--cpu",
                "8",
                "-v",
                "--json",
                "create-and-boot",
                "--",
                "-cpu"
            ]
        );
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
        let repeated =
            Cli::try_parse_from(["metald-host", "--tls-mode", "disabled", "list", "--tls-mode", "file"])
                .unwrap();
        assert_eq!(
            repeated.connection.tls_mode.as_deref(),
            Some("file"),
            "the last one wins, as with Go flags"
        );
    }
}
