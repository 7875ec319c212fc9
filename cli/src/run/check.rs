//! What can be known about a script before it runs: each call's export, receivers that are
//! resources, argument counts; and errors reported with the script's line and column.

use std::collections::HashMap;

use metald_script::{Call, Line, ScriptError, Statement};

use super::catalog::{Catalog, Export, Kind};
use crate::error::CliError;

/// The variable that holds the client opened from the connection settings.
pub const CLIENT_VARIABLE: &str = "client";

/// Errors located in the script, one per line: `SOURCE:LINE:COL: message` (a usage error).
pub fn script_errors(source: &str, errors: &[ScriptError]) -> CliError {
    let lines: Vec<String> =
        errors.iter().map(|e| format!("{source}:{}:{}: {}", e.line, e.col, e.message)).collect();
    CliError::Usage(lines.join("\n"))
}

/// The call a statement makes, if any.
fn call_of(statement: &Statement) -> Option<&Call> {
    match statement {
        Statement::Call { call, .. } | Statement::Expect { call, .. } => Some(call),
        Statement::Assert { .. } => None,
    }
}

/// Whether a statement calls a method of `client`.
pub fn mentions_client(statement: &Statement) -> bool {
    call_of(statement).is_some_and(|call| {
        call.interface.is_none() && call.path.first().is_some_and(|p| p == CLIENT_VARIABLE)
    })
}

/// What a variable is known to hold before the script runs.
#[derive(Clone)]
pub enum Known {
    /// A resource: its interface and resource name.
    Resource(String, String),
    /// Any other value.
    Value,
}

/// Checks names, receivers and argument counts of every line before anything runs.
pub fn check(catalog: &Catalog, lines: &[Line]) -> Result<(), Vec<ScriptError>> {
    let mut known: HashMap<String, Known> = HashMap::new();
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
pub fn resolve<'a>(
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
