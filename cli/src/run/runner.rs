//! Executing a checked script against one instance: calls with WAVE arguments, variables,
//! `expect` and `assert`, and the output of each statement (WAVE, or JSON lines).

use std::io::Write;

use metald_host::Instance;
use metald_host::bindings::types::ClientOptions;
use serde_json::json;
use wasmtime::component::{Type, Val};

use super::catalog::{Catalog, Export, Kind};
use super::check::{CLIENT_VARIABLE, Known, resolve, script_errors};
use super::values::{self, Binding, Vars};
use crate::error::CliError;
use metald_script::{Call, Line, ScriptError, Statement};

/// Executes statements against one instance.
pub struct Runner {
    instance: Instance,
    catalog: Catalog,
    vars: Vars,
    options: ClientOptions,
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
    /// A runner for the script `source` (its name in messages); `client` will be opened
    /// with `options` when the script first uses it.
    pub fn new(
        instance: Instance,
        catalog: Catalog,
        options: ClientOptions,
        as_json: bool,
        keep_going: bool,
        source: String,
    ) -> Runner {
        Runner { instance, catalog, vars: Vars::default(), options, as_json, keep_going, source, failures: 0 }
    }

    /// The end of the run: an error (already reported) when a statement failed.
    pub fn finish(self) -> Result<(), CliError> {
        if self.failures > 0 {
            eprintln!("{}: {} statement(s) failed", self.source, self.failures);
            return Err(CliError::Reported);
        }
        Ok(())
    }

    /// Executes one statement; stops the run (an error) unless `--keep-going` says go on.
    pub async fn execute(&mut self, line: &Line) -> Result<(), CliError> {
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
                let wanted = connect_spelling(&code.text);
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

/// The error code of an `err(…)` result in the CLI's spelling (`--json` errors, see
/// crate::error): the Connect code of `connect`/`transport` errors (`not_found`), else the
/// error case (`invalid_config`, `other`).
fn error_code(value: &Val) -> Option<String> {
    let Val::Result(Err(Some(error))) = value else { return None };
    let name = match error.as_ref() {
        Val::Variant(case, Some(payload)) if case == "connect" || case == "transport" => {
            match payload.as_ref() {
                Val::Record(fields) => fields.iter().find_map(|(name, v)| match (name.as_str(), v) {
                    ("code", Val::Enum(code)) => Some(code.as_str()),
                    _ => None,
                })?,
                _ => return None,
            }
        }
        Val::Variant(case, _) => case.as_str(),
        _ => "error",
    };
    Some(connect_spelling(name))
}

/// A code or error case in the Connect spelling (`not_found`, as `metald_host::code_name`
/// names the typed codes; the Connect protocol's error codes,
/// https://connectrpc.com/docs/protocol/#error-codes), from either that spelling or the
/// WIT one (`not-found`, the case names of `error-code` in wit/).
fn connect_spelling(name: &str) -> String {
    name.replace('-', "_")
}

#[cfg(test)]
mod tests {
    use metald_host::bindings::types::ErrorCode;

    use super::*;

    fn connect_error(code: &str) -> Val {
        let fields = vec![("code".to_string(), Val::Enum(code.into()))];
        Val::Result(Err(Some(Box::new(Val::Variant("connect".into(), Some(Box::new(Val::Record(fields))))))))
    }

    #[test]
    fn script_error_codes_are_spelled_as_the_cli_json_spells_them() {
        for (wit, typed) in [
            ("not-found", ErrorCode::NotFound),
            ("deadline-exceeded", ErrorCode::DeadlineExceeded),
            ("unavailable", ErrorCode::Unavailable),
            ("permission-denied", ErrorCode::PermissionDenied),
        ] {
            let named = error_code(&connect_error(wit));
            assert_eq!(named, Some(metald_host::code_name(typed).to_string()), "{wit}");
            assert_eq!(connect_spelling(metald_host::code_name(typed)), metald_host::code_name(typed));
        }
        let invalid = Val::Result(Err(Some(Box::new(Val::Variant("invalid-config".into(), None)))));
        assert_eq!(error_code(&invalid).as_deref(), Some("invalid_config"));
        assert_eq!(error_code(&Val::Result(Ok(None))), None, "a success has no code");
    }
}
