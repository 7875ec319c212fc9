//! `metald-example-plugin`: a reconciler that makes sure `--count` VMs of a template are
//! running for a user and tenant, and prints what it did.
//!
//! It is a user component of a plugin platform: it imports the metald client SDK's
//! interfaces (`metald:client/client`, `builder`, `templates`, `errors`; wit/) and exports
//! `wasi:cli/run` (the standard library's `main` on wasm32-wasip2). It holds no TLS material
//! and imports no `wasi:http`: the platform composes it with the metald client component
//! (host/component/metald_guest.wasm), whose only outward import is
//! `wasi:http/outgoing-handler`, and the host decides where requests may go and how TLS
//! is done.
//!
//! ```text
//! metald-example-plugin --count N [--template NAME] [--pool NAME]
//!                       [--server URL] [--user ID] [--tenant ID]
//! ```
//!
//! `--server`, `--user` and `--tenant` default to the environment variables
//! `METALD_SERVER`, `METALD_USER` and `METALD_TENANT` (`metald-host plugin run` sets them
//! from its own connection settings). The VMs of a pool carry the metadata label
//! `metald-example-plugin/pool=NAME` (the pool defaults to the template's name); other VMs
//! are never touched.
//!
//! Each VM of the pool gets one line on stdout: `left-alone ID running`, `booted ID`,
//! `resumed ID`, `created ID`, or `surplus ID STATE` (more than `--count`: reported, left
//! alone), then a summary line. Exit codes: 0 done, 1 a call failed, 2 bad arguments.

use std::collections::BTreeMap;
use std::process::ExitCode;

#[allow(missing_docs, clippy::all)]
mod bindings {
    //! Imports of the metald client SDK, generated from wit/ (world `reconciler` below).
    wit_bindgen::generate!({
        inline: "
            package metald:example-plugin;

            world reconciler {
                import metald:client/client@0.1.0;
                import metald:client/builder@0.1.0;
                import metald:client/templates@0.1.0;
                import metald:client/errors@0.1.0;
            }
        ",
        path: "../../wit",
        generate_all,
        additional_derives: [PartialEq],
    });
}

use bindings::metald::client::builder::VmConfigBuilder;
use bindings::metald::client::client::Client;
use bindings::metald::client::types::{ClientOptions, Error, VmState};
use bindings::metald::client::{errors, templates};

/// The metadata key that marks the VMs of a pool.
const POOL_LABEL: &str = "metald-example-plugin/pool";

const USAGE: &str = "usage: metald-example-plugin --count N [--template NAME] [--pool NAME] \
                     [--server URL] [--user ID] [--tenant ID]";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
struct Args {
    server: String,
    user: String,
    tenant: String,
    count: u32,
    template: String,
    pool: String,
}

/// A bad command line: the message names the flag.
#[derive(Debug, PartialEq, Eq)]
struct UsageError(String);

/// Reads the flags (`--flag VALUE` or `--flag=VALUE`); `env` supplies the defaults of the
/// connection flags.
fn parse_args(
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Args, UsageError> {
    let mut values: BTreeMap<&'static str, String> = BTreeMap::new();
    let flags = ["server", "user", "tenant", "count", "template", "pool"];
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let Some(spelled) = arg.strip_prefix("--") else {
            return Err(UsageError(format!("unexpected argument {arg:?}")));
        };
        let (name, inline) = match spelled.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (spelled, None),
        };
        let Some(flag) = flags.iter().find(|flag| **flag == name) else {
            return Err(UsageError(format!("unknown flag --{name}")));
        };
        let value = match inline.or_else(|| args.next()) {
            Some(value) => value,
            None => return Err(UsageError(format!("--{flag} needs a value"))),
        };
        values.insert(flag, value);
    }
    let mut take = |flag: &str, variable: &str| -> Result<String, UsageError> {
        values
            .remove(flag)
            .or_else(|| env(variable).filter(|value| !value.is_empty()))
            .ok_or_else(|| UsageError(format!("--{flag} is required (or set {variable})")))
    };
    let server = take("server", "METALD_SERVER")?;
    let user = take("user", "METALD_USER")?;
    let tenant = take("tenant", "METALD_TENANT")?;
    let count = match values.remove("count") {
        Some(text) => text
            .parse::<u32>()
            .map_err(|_| UsageError(format!("--count: {text:?} is not a whole number of VMs")))?,
        None => return Err(UsageError("--count is required".into())),
    };
    let template = values.remove("template").unwrap_or_else(|| "standard".into());
    let pool = values.remove("pool").unwrap_or_else(|| template.clone());
    if pool.is_empty() {
        return Err(UsageError("--pool must not be empty".into()));
    }
    Ok(Args { server, user, tenant, count, template, pool })
}

/// What to do with one VM, or that a VM is missing.
#[derive(Debug, PartialEq)]
enum Step {
    /// Running already.
    LeaveAlone(String),
    /// Created or shut down: boot it.
    Boot(String),
    /// Paused: resume it.
    Resume(String),
    /// More than the pool needs: report it, touch nothing.
    Surplus(String, VmState),
    /// A VM in a state this reconciler cannot act on (unspecified or unknown): report it.
    Skip(String, VmState),
    /// A VM to create and boot.
    Create,
}

/// The steps that leave `count` VMs running, given the pool's VMs: running ones are kept
/// first, then paused ones (resumed), then created or shut down ones (booted); the rest are
/// surplus, and whatever is still missing is created.
fn plan(pool: &[(String, VmState)], count: u32) -> Vec<Step> {
    let rank = |state: &VmState| match state {
        VmState::Running => Some(0),
        VmState::Paused => Some(1),
        VmState::Created => Some(2),
        VmState::Shutdown => Some(3),
        VmState::Unspecified | VmState::Unknown(_) => None,
    };
    let mut usable: Vec<(u8, &String, VmState)> = Vec::new();
    let mut steps = Vec::new();
    for (id, state) in pool {
        match rank(state) {
            Some(rank) => usable.push((rank, id, *state)),
            None => steps.push(Step::Skip(id.clone(), *state)),
        }
    }
    usable.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let wanted = usize::try_from(count).unwrap_or(usize::MAX);
    for (index, (_, id, state)) in usable.iter().enumerate() {
        let id = (*id).clone();
        steps.push(if index >= wanted {
            Step::Surplus(id, *state)
        } else {
            match state {
                VmState::Running => Step::LeaveAlone(id),
                VmState::Paused => Step::Resume(id),
                _ => Step::Boot(id),
            }
        });
    }
    steps.extend((usable.len()..wanted).map(|_| Step::Create));
    steps
}

/// A state's lower-case name, for the output.
fn state_name(state: VmState) -> String {
    match state {
        VmState::Unspecified => "unspecified".into(),
        VmState::Created => "created".into(),
        VmState::Running => "running".into(),
        VmState::Paused => "paused".into(),
        VmState::Shutdown => "shutdown".into(),
        VmState::Unknown(n) => format!("unknown({n})"),
    }
}

/// A failed call, in the SDK's words: `listing VMs: permission_denied: …`.
fn failure(doing: &str, error: Error) -> String {
    format!("{doing}: {}", errors::describe(&error))
}

/// What the run did, for the summary line.
#[derive(Debug, Default)]
struct Tally {
    created: u32,
    booted: u32,
    resumed: u32,
    left_alone: u32,
    failed: u32,
}

fn reconcile(args: &Args) -> Result<Tally, String> {
    let template = templates::parse_template(&args.template).map_err(|e| failure("--template", e))?;
    let client = Client::open(&ClientOptions {
        server: args.server.clone(),
        user_id: args.user.clone(),
        tenant_id: args.tenant.clone(),
        timeout_ms: None,
        route_prefix: None,
        codec: None,
        retries: None,
        max_response_bytes: None,
        compression: None,
    })
    .map_err(|e| failure("opening the client", e))?;
    let vms = client.list_all_vms(&[]).map_err(|e| failure("listing VMs", e))?;
    let pool: Vec<(String, VmState)> = vms
        .into_iter()
        .filter(|vm| vm.metadata.iter().any(|(key, value)| key == POOL_LABEL && *value == args.pool))
        .map(|vm| (vm.vm_id, vm.state))
        .collect();
    let mut tally = Tally::default();
    let report = |outcome: Result<String, String>, counter: &mut u32| match outcome {
        Ok(line) => {
            println!("{line}");
            *counter += 1;
        }
        Err(message) => eprintln!("metald-example-plugin: {message}"),
    };
    for step in plan(&pool, args.count) {
        match step {
            Step::LeaveAlone(id) => {
                println!("left-alone {id} running");
                tally.left_alone += 1;
            }
            Step::Surplus(id, state) => println!("surplus {id} {}", state_name(state)),
            Step::Skip(id, state) => println!("skipped {id} {}", state_name(state)),
            Step::Boot(id) => {
                let outcome = client
                    .boot_vm(&id)
                    .map(|_| format!("booted {id}"))
                    .map_err(|e| failure(&format!("booting {id}"), e));
                tally.failed += u32::from(outcome.is_err());
                report(outcome, &mut tally.booted);
            }
            Step::Resume(id) => {
                let outcome = client
                    .resume_vm(&id)
                    .map(|_| format!("resumed {id}"))
                    .map_err(|e| failure(&format!("resuming {id}"), e));
                tally.failed += u32::from(outcome.is_err());
                report(outcome, &mut tally.resumed);
            }
            Step::Create => {
                let outcome = create_and_boot(&client, template, &args.pool);
                tally.failed += u32::from(outcome.is_err());
                report(outcome, &mut tally.created);
            }
        }
    }
    Ok(tally)
}

/// Creates a VM of the pool from the template and boots it; `created ID`.
fn create_and_boot(client: &Client, template: templates::Template, pool: &str) -> Result<String, String> {
    let builder = VmConfigBuilder::from_template(template);
    builder.add_metadata(POOL_LABEL, pool);
    let config = builder.build();
    let created = client.create_vm(&config).map_err(|e| failure("creating a VM", e))?;
    let id = created.vm_id;
    client.boot_vm(&id).map_err(|e| failure(&format!("booting the new VM {id}"), e))?;
    Ok(format!("created {id}"))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1), |name| std::env::var(name).ok()) {
        Ok(args) => args,
        Err(UsageError(message)) => {
            eprintln!("metald-example-plugin: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match reconcile(&args) {
        Ok(tally) => {
            let running = tally.created + tally.booted + tally.resumed + tally.left_alone;
            println!(
                "pool {}: {running} of {} running (created {}, booted {}, resumed {}, left alone {})",
                args.pool, args.count, tally.created, tally.booted, tally.resumed, tally.left_alone
            );
            if tally.failed > 0 {
                eprintln!("metald-example-plugin: {} step(s) failed", tally.failed);
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(message) => {
            eprintln!("metald-example-plugin: {message}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Args, UsageError> {
        let env: BTreeMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        parse_args(args.iter().map(ToString::to_string), |name| env.get(name).cloned())
    }

    #[test]
    fn flags_win_over_the_environment_and_the_pool_defaults_to_the_template() {
        let env = [("METALD_SERVER", "http://env:1"), ("METALD_USER", "eve"), ("METALD_TENANT", "t-env")];
        let args = parse(&["--count", "3", "--template=high-cpu", "--user", "alice"], &env).unwrap();
        assert_eq!(
            args,
            Args {
                server: "http://env:1".into(),
                user: "alice".into(),
                tenant: "t-env".into(),
                count: 3,
                template: "high-cpu".into(),
                pool: "high-cpu".into(),
            }
        );
        let pooled = parse(&["--count=0", "--pool", "web"], &env).unwrap();
        assert_eq!((pooled.template.as_str(), pooled.pool.as_str(), pooled.count), ("standard", "web", 0));
    }

    #[test]
    fn bad_command_lines_name_the_flag() {
        let env = [("METALD_SERVER", "http://s:1"), ("METALD_USER", "u"), ("METALD_TENANT", "t")];
        for (args, env, needle) in [
            (&["--template", "minimal"][..], &env[..], "--count is required"),
            (&["--count", "two"], &env, "--count: \"two\""),
            (&["--count", "-1"], &env, "--count"),
            (&["--count"], &env, "--count needs a value"),
            (&["--color", "red"], &env, "unknown flag --color"),
            (&["count=1"], &env, "unexpected argument"),
            (&["--count", "1", "--pool="], &env, "--pool must not be empty"),
            (&["--count", "1"], &env[1..], "--server is required (or set METALD_SERVER)"),
            (
                &["--count", "1"],
                &[("METALD_SERVER", "http://s:1"), ("METALD_USER", "")],
                "--user is required",
            ),
        ] {
            let UsageError(message) = parse(args, env).unwrap_err();
            assert!(message.contains(needle), "{args:?}: {message}");
        }
    }

    fn vm(id: &str, state: VmState) -> (String, VmState) {
        (id.to_string(), state)
    }

    #[test]
    fn running_vms_are_kept_first_and_the_shortfall_is_created() {
        let pool = [vm("d", VmState::Shutdown), vm("c", VmState::Running), vm("a", VmState::Created)];
        assert_eq!(
            plan(&pool, 5),
            vec![
                Step::LeaveAlone("c".into()),
                Step::Boot("a".into()),
                Step::Boot("d".into()),
                Step::Create,
                Step::Create
            ]
        );
        assert_eq!(plan(&[], 2), vec![Step::Create, Step::Create]);
    }

    #[test]
    fn a_full_pool_boots_nothing_and_reports_the_surplus() {
        let pool = [
            vm("p", VmState::Paused),
            vm("r2", VmState::Running),
            vm("r1", VmState::Running),
            vm("s", VmState::Shutdown),
        ];
        assert_eq!(
            plan(&pool, 2),
            vec![
                Step::LeaveAlone("r1".into()),
                Step::LeaveAlone("r2".into()),
                Step::Surplus("p".into(), VmState::Paused),
                Step::Surplus("s".into(), VmState::Shutdown),
            ]
        );
        assert_eq!(plan(&pool, 3)[2], Step::Resume("p".into()));
    }

    #[test]
    fn vms_in_states_it_cannot_act_on_are_skipped_and_replaced() {
        let pool = [vm("x", VmState::Unknown(9)), vm("y", VmState::Unspecified)];
        assert_eq!(
            plan(&pool, 1),
            vec![
                Step::Skip("x".into(), VmState::Unknown(9)),
                Step::Skip("y".into(), VmState::Unspecified),
                Step::Create
            ]
        );
        assert_eq!(state_name(VmState::Unknown(9)), "unknown(9)");
    }
}
