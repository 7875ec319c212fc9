//! metald-cli's commands: each one goes through the component.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use metald_host::bindings::types::*;
use metald_host::{Client, Runtime};
use serde_json::json;

use crate::args::{Cli, Command, StateArg};
use crate::connection::{self, Connection};
use crate::error::CliError;
use crate::output::{self, state_name};
use crate::vm_config;

/// Runs one of metald-cli's commands; results go to stdout.
pub async fn run(cli: &Cli, connection: &Connection) -> Result<(), CliError> {
    let as_json = cli.json.unwrap_or(false);
    match &cli.command {
        Command::ConfigGen => config_gen(cli).await,
        Command::ConfigValidate { file } => config_validate(cli, file.as_deref(), as_json).await,
        _ => remote(cli, connection, as_json).await,
    }
}

/// A runtime that may not touch the network (offline commands).
fn offline_runtime() -> Result<Runtime, CliError> {
    connection::runtime(connection::offline_transport())
}

/// A runtime and client for the configured server.
async fn client(connection: &Connection) -> Result<(Runtime, Client), CliError> {
    let runtime = connection::runtime(connection.transport().await?)?;
    let client = runtime.client(connection.client_options()).await?;
    Ok((runtime, client))
}

fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
}

fn failed(context: &str) -> impl Fn(metald_host::Error) -> CliError + '_ {
    move |source| CliError::Call { context: context.to_string(), source }
}

fn warn_ignored_id(vm_id: &Option<String>) {
    if let Some(id) = vm_id {
        tracing::warn!(requested = %id, "metald assigns VM ids and ignores requested ones; use the id printed below");
    }
}

async fn remote(cli: &Cli, connection: &Connection, as_json: bool) -> Result<(), CliError> {
    let (runtime, mut client) = client(connection).await?;
    match &cli.command {
        Command::Create { vm_id } => {
            warn_ignored_id(vm_id);
            let mut instance = runtime.instantiate().await?;
            let built = vm_config::build(&mut instance, &cli.vm).await?;
            let created = client.create_vm(&built.config).await.map_err(failed("Failed to create VM"))?;
            let fields = [
                ("VM ID", "vm_id", json!(created.vm_id)),
                ("State", "state", output::state_json(created.state)),
            ];
            print(&output::operation("VM created successfully:", &fields, as_json));
        }
        Command::Boot { vm_id } => {
            let r = client.boot_vm(vm_id).await.map_err(failed("Failed to boot VM"))?;
            print(&state_change("VM boot operation:", vm_id, &r, None, as_json));
        }
        Command::Shutdown { vm_id, force } => {
            let force = force.is_some();
            let request = ShutdownVmRequest { vm_id: vm_id.clone(), force, timeout_seconds: 30 };
            let r = client.shutdown_vm(&request).await.map_err(failed("Failed to shutdown VM"))?;
            print(&state_change("VM shutdown operation:", vm_id, &r, Some(force), as_json));
        }
        Command::Delete { vm_id, force } => {
            let force = force.is_some();
            let r = client
                .delete_vm(&DeleteVmRequest { vm_id: vm_id.clone(), force })
                .await
                .map_err(failed("Failed to delete VM"))?;
            let fields = [
                ("VM ID", "vm_id", json!(vm_id)),
                ("Success", "success", json!(r.success)),
                ("Force", "force", json!(force)),
            ];
            print(&output::operation("VM delete operation:", &fields, as_json));
        }
        Command::Info { vm_id } => {
            let r = client.get_vm_info(vm_id).await.map_err(failed("Failed to get VM info"))?;
            print(&output::info(&r, as_json)?);
        }
        Command::List { states } => {
            let filter: Vec<VmState> = states.iter().map(|s| state_of(*s)).collect();
            let vms = client.list_all_vms(&filter).await.map_err(failed("Failed to list VMs"))?;
            print(&output::list(&vms, &connection.tenant, as_json)?);
        }
        Command::Pause { vm_id } => {
            let r = client.pause_vm(vm_id).await.map_err(failed("Failed to pause VM"))?;
            print(&state_change("VM pause operation:", vm_id, &r, None, as_json));
        }
        Command::Resume { vm_id } => {
            let r = client.resume_vm(vm_id).await.map_err(failed("Failed to resume VM"))?;
            print(&state_change("VM resume operation:", vm_id, &r, None, as_json));
        }
        Command::Reboot { vm_id, force } => {
            let force = force.is_some();
            let r = client
                .reboot_vm(&RebootVmRequest { vm_id: vm_id.clone(), force })
                .await
                .map_err(failed("Failed to reboot VM"))?;
            print(&state_change("VM reboot operation:", vm_id, &r, Some(force), as_json));
        }
        Command::CreateAndBoot { vm_id, wait } => {
            warn_ignored_id(vm_id);
            let mut instance = runtime.instantiate().await?;
            let built = vm_config::build(&mut instance, &cli.vm).await?;
            let created = client.create_vm(&built.config).await.map_err(failed("Failed to create VM"))?;
            let booted = client.boot_vm(&created.vm_id).await.map_err(failed("Failed to boot VM"))?;
            let state = wait_until_running(&mut client, &created.vm_id, *wait).await?;
            let fields = [
                ("VM ID", "vm_id", json!(created.vm_id)),
                ("Create State", "create_state", output::state_json(created.state)),
                ("Boot Success", "boot_success", json!(booted.success)),
                ("Boot State", "boot_state", output::state_json(state)),
            ];
            print(&output::operation("VM created and booted successfully:", &fields, as_json));
        }
        Command::ConfigGen
        | Command::ConfigValidate { .. }
        | Command::DevServer(_)
        | Command::Run(_)
        | Command::Plugin(_) => {}
    }
    Ok(())
}

fn state_of(state: StateArg) -> VmState {
    match state {
        StateArg::Created => VmState::Created,
        StateArg::Running => VmState::Running,
        StateArg::Paused => VmState::Paused,
        StateArg::Shutdown => VmState::Shutdown,
    }
}

fn state_change(
    title: &str,
    vm_id: &str,
    r: &StateChangeResponse,
    force: Option<bool>,
    as_json: bool,
) -> String {
    let mut fields = vec![
        ("VM ID", "vm_id", json!(vm_id)),
        ("Success", "success", json!(r.success)),
        ("State", "state", output::state_json(r.state)),
    ];
    if let Some(force) = force {
        fields.push(("Force", "force", json!(force)));
    }
    output::operation(title, &fields, as_json)
}

/// Polls GetVmInfo until the VM reports running, up to `wait`; a spinner on a terminal.
async fn wait_until_running(client: &mut Client, vm_id: &str, wait: Duration) -> Result<VmState, CliError> {
    let deadline = Instant::now() + wait;
    let spinner = std::io::stderr().is_terminal();
    let frames = ['|', '/', '-', '\\'];
    let mut delay = Duration::from_millis(100);
    for tick in 0usize.. {
        let info = client.get_vm_info(vm_id).await.map_err(failed("Failed to get VM info"))?;
        if info.state == VmState::Running {
            if spinner {
                eprint!("\r\x1b[K");
            }
            return Ok(info.state);
        }
        if Instant::now() + delay > deadline {
            if spinner {
                eprint!("\r\x1b[K");
            }
            return Err(CliError::Input(format!(
                "VM {vm_id} did not report VM_STATE_RUNNING within {wait:?} (last state {})",
                state_name(info.state)
            )));
        }
        if spinner {
            eprint!(
                "\r{} waiting for {vm_id} to run ({})",
                frames[tick % frames.len()],
                state_name(info.state)
            );
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
    unreachable!("the loop returns")
}

async fn config_gen(cli: &Cli) -> Result<(), CliError> {
    let runtime = offline_runtime()?;
    let mut instance = runtime.instantiate().await?;
    let built = vm_config::build(&mut instance, &cli.vm).await?;
    let name = built.template.clone().unwrap_or_else(|| "custom".into());
    let description = format!("Generated {name} VM configuration");
    let config = &built.config;
    let mut file = instance
        .call_fallible(async |guest, store| {
            guest.metald_client_config_file().call_from_vm_config(store, config, &name, &description).await
        })
        .await?;
    file.template = built.template.unwrap_or_default();
    let text = instance
        .call(async |guest, store| {
            guest.metald_client_config_file().call_render_config_file(store, &file).await
        })
        .await?;
    print(&text);
    Ok(())
}

async fn config_validate(cli: &Cli, file: Option<&std::path::Path>, as_json: bool) -> Result<(), CliError> {
    let path = match (file, &cli.vm.config) {
        (Some(path), _) => path.to_path_buf(),
        (None, Some(path)) => path.clone(),
        (None, None) => {
            return Err(CliError::Usage(
                "config-validate needs a file: config-validate FILE (or --config FILE)".into(),
            ));
        }
    };
    let runtime = offline_runtime()?;
    let mut instance = runtime.instantiate().await?;
    let text =
        std::fs::read_to_string(&path).map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
    let parsed = instance
        .call_fallible(async |guest, store| {
            guest.metald_client_config_file().call_parse_config_file(store, &text).await
        })
        .await;
    let checked = match parsed {
        Ok(file) => {
            let converted = instance
                .call_fallible(async |guest, store| {
                    guest.metald_client_config_file().call_to_vm_config(store, &file).await
                })
                .await;
            match converted {
                Ok(config) => {
                    let issues = instance
                        .call(async |guest, store| {
                            guest.metald_client_validation().call_validate_config(store, &config).await
                        })
                        .await?;
                    issues
                        .map(|()| (file, config))
                        .map_err(|issues| metald_host::Error::Component(Error::InvalidConfig(issues)))
                }
                Err(error) => Err(error),
            }
        }
        Err(error) => Err(error),
    };
    match checked {
        Ok((file, config)) => {
            print(&output::config_valid(&file.name, &file.description, &file.template, &config, as_json));
            Ok(())
        }
        Err(metald_host::Error::Component(Error::InvalidConfig(issues))) => {
            if as_json {
                let listed: Vec<_> =
                    issues.iter().map(|i| json!({"field": i.field, "message": i.message})).collect();
                let message = issues
                    .iter()
                    .map(|i| format!("{}: {}", i.field, i.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                print(&output::pretty(&json!({"valid": false, "error": message, "issues": listed})));
            } else {
                let mut text = format!("Configuration validation failed ({}):", path.display());
                for issue in &issues {
                    text.push_str(&format!("\n  {}: {}", issue.field, issue.message));
                }
                print(&text);
            }
            Err(CliError::Reported)
        }
        Err(other) => Err(other.into()),
    }
}
