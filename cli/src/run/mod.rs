//! `metald-host run`: scripted calls to the component's exports, holding resources (the
//! client, builders) and results in variables between calls. Values are WAVE.
//!
//! A script is checked before anything runs: syntax, function names, variables used as
//! receivers, argument counts. Argument types are checked as each call is made.

mod catalog;
mod values;

use std::io::{Read, Write};
use std::path::PathBuf;

use clap::Args;
use metald_host::Instance;
use serde_json::json;
use wasmtime::component::{Type, Val};

use super::CliError;
use super::args::Cli;
use super::connection;
use catalog::{Catalog, Export, Kind};
use metald_script::{self as syntax, Call, Line, ScriptError, Statement};
use values::{Binding, Vars};

/// The variable that holds the client opened from the connection flags.
const CLIENT_VARIABLE: &str = "client";

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
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_name = "BOOL", value_parser = super::goflag::parse_bool, action = clap::ArgAction::Set)]
    pub dev: bool,
    /// Go on after a call returns err(…) or an assertion fails; exit 1 at the end.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_name = "BOOL", value_parser = super::goflag::parse_bool, action = clap::ArgAction::Set)]
    pub keep_going: bool,
}

/// Runs a script or a single call.
pub async fn run(cli: &Cli, args: &RunArgs) -> Result<(), CliError> {
    let (source, text) = read_script(args)?;
    let lines = syntax::parse(&text).map_err(|errors| script_errors(&source, &errors))?;
    let uses_client = lines.iter().any(|line| mentions_client(&line.statement));
    let dev = if args.dev {
        let server = metald_devserver::DevServer::start(Default::default())
            .await
            .map_err(|e| CliError::Input(e.to_string()))?;
        tracing::info!(url = %server.url(), "development server started");
        Some(server)
    } else {
        None
    };
    let mut options = connection::client_options(&cli.connection);
    let transport = match &dev {
        Some(server) => {
            options.server = server.url();
            metald_host::plain_transport(&server.url())?
        }
        None if uses_client => connection::transport(&cli.connection).await?,
        None => connection::offline_transport(),
    };
    let runtime = connection::runtime(transport)?;
    let catalog = Catalog::new(runtime.engine(), runtime.component());
    check(&catalog, &lines).map_err(|errors| script_errors(&source, &errors))?;
    let instance = runtime.instantiate().await?;
    let mut runner = Runner {
        instance,
        catalog,
        vars: Vars::default(),
        options,
        as_json: cli.json.unwrap_or(false),
        keep_going: args.keep_going,
        source,
        failures: 0,
    };
    for line in &lines {
        runner.execute(line).await?;
    }
    drop(dev);
    if runner.failures > 0 {
        eprintln!("{}: {} statement(s) failed", runner.source, runner.failures);
        return Err(CliError::Reported);
    }
    Ok(())
}

fn read_script(args: &RunArgs) -> Result<(String, String), CliError> {
    if let Some(call) = &args.invoke {
        return Ok(("--invoke".into(), call.clone()));
    }
    match args.script.as_deref() {
        Some(path) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| CliError::Input(format!("stdin: {e}")))?;
            Ok(("stdin".into(), text))
        }
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
            Ok((path.display().to_string(), text))
        }
        None => Err(CliError::Usage("run needs a SCRIPT file, `-` for stdin, or --invoke 'CALL'".into())),
    }
}

fn script_errors(source: &str, errors: &[ScriptError]) -> CliError {
    let lines: Vec<String> =
        errors.iter().map(|e| format!("{source}:{}:{}: {}", e.line, e.col, e.message)).collect();
    CliError::Usage(lines.join("\n"))
}

fn call_of(statement: &Statement) -> Option<&Call> {
    match statement {
        Statement::Call { call, .. } | Statement::Expect { call, .. } => Some(call),
        Statement::Assert { .. } => None,
    }
}

fn mentions_client(statement: &Statement) -> bool {
    call_of(statement).is_some_and(|call| {
        call.interface.is_none() && call.path.first().is_some_and(|p| p == CLIENT_VARIABLE)
    })
}

/// What a variable is known to hold before the script runs.
#[derive(Clone)]
enum Known {
    Resource(String, String),
    Value,
}

/// Checks names, receivers and argument counts of every line before anything runs.
fn check(catalog: &Catalog, lines: &[Line]) -> Result<(), Vec<ScriptError>> {
    let mut known: std::collections::HashMap<String, Known> = std::collections::HashMap::new();
    known.insert(CLIENT_VARIABLE.into(), client_resource(catalog));
    let mut errors = Vec::new();
    for line in lines {
        let error = |col, message| ScriptError { line: line.number, col, message };
        let Some(call) = call_of(&line.statement) else { continue };
        let resolved = match resolve(catalog, call, |name| known.get(name).cloned()) {
            Ok(export) => export,
            Err(message) => {
                errors.push(error(call.callee.col, message));
                continue;
            }
        };
        if call.args.len() != resolved.arity() {
            let params: Vec<String> = resolved
                .ty
                .params()
                .skip(usize::from(resolved.kind == Kind::Method))
                .map(|(name, _)| name.to_string())
                .collect();
            errors.push(error(
                call.callee.col,
                format!(
                    "{} takes {} argument(s) ({}), got {}",
                    resolved.qualified(),
                    resolved.arity(),
                    params.join(", "),
                    call.args.len()
                ),
            ));
        }
        if let Statement::Call { binding: Some(name), .. } = &line.statement {
            let holds =
                catalog.result_resource(resolved).map_or(Known::Value, |(i, r)| Known::Resource(i, r));
            known.insert(name.text.clone(), holds);
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

fn client_resource(catalog: &Catalog) -> Known {
    catalog
        .exports()
        .iter()
        .find(|e| e.kind == Kind::Static && e.name == "open")
        .and_then(|open| catalog.result_resource(open))
        .map_or(Known::Value, |(i, r)| Known::Resource(i, r))
}

/// The export a call names; receivers are looked up with `receiver`.
fn resolve<'a>(
    catalog: &'a Catalog,
    call: &Call,
    receiver: impl Fn(&str) -> Option<Known>,
) -> Result<&'a Export, String> {
    if call.interface.is_none()
        && let [variable, method] = call.path.as_slice()
        && let Some(known) = receiver(variable)
    {
        return match known {
            Known::Resource(interface, resource) => {
                catalog.method(&interface, &resource, method).map_err(|e| e.0)
            }
            Known::Value => Err(format!("variable `{variable}` is not a resource, so it has no methods")),
        };
    }
    catalog.function(call.interface.as_deref(), &call.path).map_err(|e| e.0)
}

/// Executes statements against one instance.
struct Runner {
    instance: Instance,
    catalog: Catalog,
    vars: Vars,
    options: metald_host::bindings::types::ClientOptions,
    as_json: bool,
    keep_going: bool,
    source: String,
    failures: usize,
}

/// The outcome of one call.
struct Outcome {
    value: Option<Val>,
    ty: Option<Type>,
    resource: Option<(String, String)>,
}

impl Runner {
    async fn execute(&mut self, line: &Line) -> Result<(), CliError> {
        match &line.statement {
            Statement::Call { binding, call } => {
                let outcome = self.call(line.number, call).await?;
                let failed = matches!(outcome.value, Some(Val::Result(Err(_))));
                self.print(line.number, call, binding.as_ref().map(|b| b.text.as_str()), &outcome, None);
                if let Some(name) = binding {
                    self.bind(&name.text, line.number, outcome);
                }
                if failed {
                    self.fail(line.number, &format!("{} returned an error", call.text))?;
                }
            }
            Statement::Expect { code, call } => {
                let outcome = self.call(line.number, call).await?;
                let actual = outcome.value.as_ref().and_then(error_code);
                let wanted = code.text.replace('_', "-");
                let passed = actual.as_deref().is_some_and(|actual| wanted == "any" || actual == wanted);
                self.print(line.number, call, None, &outcome, Some((&wanted, passed)));
                if !passed {
                    let got = actual.map_or("a success".to_string(), |c| format!("err with code {c}"));
                    self.fail(
                        line.number,
                        &format!("expected {} to fail with {wanted}, got {got}", call.text),
                    )?;
                }
            }
            Statement::Assert { path, expected } => {
                let error = |col, message| {
                    script_errors(&self.source, &[ScriptError { line: line.number, col, message }])
                };
                let (actual, ty) = match self.vars.eval(&path.text) {
                    Ok(found) => found,
                    Err(message) => {
                        return self.fail(line.number, &format!("assert {}: {message}", path.text));
                    }
                };
                let substituted = self
                    .vars
                    .substitute(&expected.text)
                    .map_err(|(at, message)| error(expected.col + at, message))?;
                let wanted =
                    Val::from_wave(&ty, &substituted).map_err(|e| error(expected.col, format!("{e}")))?;
                let passed = actual == wanted;
                let shown = values::render(&actual, "resource");
                if self.as_json {
                    let record = json!({
                        "line": line.number,
                        "assert": format!("{} == {}", path.text, expected.text),
                        "passed": passed,
                        "actual": values::to_json(&actual, "resource"),
                    });
                    self.emit(&record.to_string());
                } else {
                    let verdict = if passed { "passed" } else { "FAILED" };
                    self.emit(&format!(
                        "[{}] assert {} == {}: {verdict} (actual {shown})",
                        line.number, path.text, expected.text
                    ));
                }
                if !passed {
                    self.fail(
                        line.number,
                        &format!("assert {} == {} failed: it is {shown}", path.text, expected.text),
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Records a failed statement; stops the run unless `--keep-going`.
    fn fail(&mut self, line: usize, message: &str) -> Result<(), CliError> {
        self.failures += 1;
        eprintln!("{}:{line}: {message}", self.source);
        if self.keep_going { Ok(()) } else { Err(CliError::Reported) }
    }

    fn bind(&mut self, name: &str, line: usize, outcome: Outcome) {
        let binding = match (outcome.value, outcome.ty) {
            (Some(Val::Result(Err(error))), _) => Binding::Failed {
                line,
                error: error.map(|e| values::render(&e, "resource")).unwrap_or_else(|| "err".into()),
            },
            (Some(Val::Result(Ok(payload))), Some(Type::Result(ty))) => match (payload, ty.ok()) {
                (Some(value), Some(ty)) => Binding::Value { value: *value, ty, resource: outcome.resource },
                _ => Binding::Failed { line, error: "ok without a value".into() },
            },
            (Some(value), Some(ty)) => Binding::Value { value, ty, resource: outcome.resource },
            _ => Binding::Failed { line, error: "the call returns nothing".into() },
        };
        self.vars.bind(name, binding);
    }

    fn emit(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{text}");
    }

    fn print(
        &self,
        line: usize,
        call: &Call,
        binding: Option<&str>,
        outcome: &Outcome,
        expect: Option<(&str, bool)>,
    ) {
        let resource = outcome.resource.as_ref().map_or("resource", |(_, r)| r.as_str());
        if self.as_json {
            let mut record = json!({
                "line": line,
                "call": call.text,
                "result": outcome.value.as_ref().map_or(serde_json::Value::Null, |v| values::to_json(v, resource)),
            });
            if let Some(name) = binding {
                record["let"] = json!(name);
            }
            if let Some((code, passed)) = expect {
                record["expect"] = json!(code);
                record["passed"] = json!(passed);
            }
            self.emit(&record.to_string());
            return;
        }
        let shown = outcome.value.as_ref().map_or("()".to_string(), |v| values::render(v, resource));
        let prefix = binding.map(|name| format!("{name} = ")).unwrap_or_default();
        let suffix = match expect {
            Some((code, true)) => format!("  (expected {code})"),
            Some((code, false)) => format!("  (FAILED: expected {code})"),
            None => String::new(),
        };
        self.emit(&format!("[{line}] {prefix}{shown}{suffix}"));
    }

    /// Makes a call: resolves it, converts arguments, calls, and returns the result.
    async fn call(&mut self, line: usize, call: &Call) -> Result<Outcome, CliError> {
        let source = self.source.clone();
        let error = |col, message: String| script_errors(&source, &[ScriptError { line, col, message }]);
        let receiver_name = (call.interface.is_none() && call.path.len() == 2).then(|| call.path[0].clone());
        if receiver_name.as_deref() == Some(CLIENT_VARIABLE) && !self.vars.contains(CLIENT_VARIABLE) {
            self.open_client(line).await?;
        }
        let vars = &self.vars;
        let known = |name: &str| {
            vars.resource(name)
                .ok()
                .map(|(_, i, r)| Known::Resource(i, r))
                .or_else(|| vars.contains(name).then_some(Known::Value))
        };
        let export =
            resolve(&self.catalog, call, known).map_err(|message| error(call.callee.col, message))?.clone();
        let mut params = Vec::new();
        if export.kind == Kind::Method {
            let name = receiver_name.unwrap_or_default();
            let (handle, _, _) =
                self.vars.resource(&name).map_err(|message| error(call.callee.col, message))?;
            params.push(Val::Resource(handle));
        }
        let func = self.func(&export).map_err(|message| error(call.callee.col, message))?;
        let ty = func.ty(self.instance.store());
        let param_types: Vec<(String, Type)> = ty.params().map(|(n, t)| (n.to_string(), t)).collect();
        let skip = usize::from(export.kind == Kind::Method);
        for (index, (arg, (name, param_ty))) in
            call.args.iter().zip(param_types.iter().skip(skip)).enumerate()
        {
            let text =
                self.vars.substitute(&arg.text).map_err(|(at, message)| error(arg.col + at, message))?;
            let value = Val::from_wave(param_ty, &text).map_err(|e| {
                let mut expected = wasmtime::component::wasm_wave::wasm::DisplayType(param_ty).to_string();
                if expected.len() > 60 {
                    expected = format!("{}…", expected.chars().take(60).collect::<String>());
                }
                let mut message =
                    format!("argument {} (`{name}`) expects {expected}, got `{}`: {e}", index + 1, arg.text);
                if let Some(inner) = arg.text.split_once('(').map(|(callee, _)| callee.trim())
                    && self.catalog.function(None, &[inner.to_string()]).is_ok()
                {
                    message.push_str("; calls do not nest: bind the inner call with `let` first");
                }
                error(arg.col, message)
            })?;
            params.push(value);
        }
        let result_ty = ty.results().next();
        let mut results = vec![Val::Bool(false); ty.results().len()];
        self.instance.call_func(func, &params, &mut results).await.map_err(|source| CliError::Call {
            context: format!("{}:{line}: {} (the run cannot continue)", self.source, call.text),
            source,
        })?;
        Ok(Outcome { value: results.pop(), ty: result_ty, resource: self.catalog.result_resource(&export) })
    }

    fn func(&mut self, export: &Export) -> Result<wasmtime::component::Func, String> {
        let raw = self.instance.raw();
        let store = self.instance.store();
        let interface =
            raw.get_export_index(&mut *store, None, &export.interface).ok_or("interface not found")?;
        let index = raw
            .get_export_index(&mut *store, Some(&interface), &export.export)
            .ok_or("function not found")?;
        raw.get_func(&mut *store, index).ok_or_else(|| format!("{} is not a function", export.export))
    }

    /// Opens the client from the connection flags and binds it to `client`.
    async fn open_client(&mut self, line: usize) -> Result<(), CliError> {
        let options = &self.options;
        let handle = self
            .instance
            .call_fallible(async |guest, store| {
                guest.metald_client_client().client().call_open(store, options).await
            })
            .await
            .map_err(|source| CliError::Call {
                context: format!("{}:{line}: opening the client", self.source),
                source,
            })?;
        let open =
            self.catalog.exports().iter().find(|e| e.kind == Kind::Static && e.name == "open").cloned();
        let (ty, resource) = match &open {
            Some(export) => (export.ty.results().next(), self.catalog.result_resource(export)),
            None => (None, None),
        };
        let ty = match ty {
            Some(Type::Result(result)) => result.ok(),
            other => other,
        };
        match ty {
            Some(ty) => {
                self.vars.bind(CLIENT_VARIABLE, Binding::Value { value: Val::Resource(handle), ty, resource })
            }
            None => return Err(CliError::Input("the component exports no client.open".into())),
        }
        Ok(())
    }
}

/// The error code of an `err(…)` result: the Connect code of `connect`/`transport` errors
/// (`not-found`), else the error case (`invalid-config`, `other`).
fn error_code(value: &Val) -> Option<String> {
    let Val::Result(Err(Some(error))) = value else { return None };
    match error.as_ref() {
        Val::Variant(case, Some(payload)) if case == "connect" || case == "transport" => {
            match payload.as_ref() {
                Val::Record(fields) => fields.iter().find_map(|(name, v)| match (name.as_str(), v) {
                    ("code", Val::Enum(code)) => Some(code.clone()),
                    _ => None,
                }),
                _ => None,
            }
        }
        Val::Variant(case, _) => Some(case.clone()),
        _ => Some("error".into()),
    }
}
