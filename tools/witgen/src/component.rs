//! Reads the component binary: which core module is the main one, and what it imports and
//! exports. Hosts without the component model (wazero) instantiate that module alone.

use wasmparser::{Parser, Payload, TypeRef};

use crate::GenError;
use crate::model::CoreNames;

#[derive(Default)]
struct Module {
    imports: Vec<(String, String)>,
    exports: Vec<String>,
}

/// The names of the component's main core module: the one exporting `memory` and
/// `cabi_realloc` (wit-component's shim and fixup modules export neither).
pub fn main_module_names(component: &[u8]) -> Result<CoreNames, GenError> {
    let mut modules: Vec<Module> = Vec::new();
    // What is being read: `Some(i)` for core module i, `None` for a nested component (whose
    // contents, e.g. type re-exports, do not matter here).
    let mut stack: Vec<Option<usize>> = Vec::new();
    for payload in Parser::new(0).parse_all(component) {
        let payload = payload.map_err(|e| GenError::Component(e.to_string()))?;
        match payload {
            Payload::ModuleSection { .. } => {
                modules.push(Module::default());
                stack.push(Some(modules.len() - 1));
            }
            Payload::ComponentSection { .. } => stack.push(None),
            Payload::End(_) => {
                stack.pop();
            }
            Payload::ImportSection(reader) => {
                let Some(Some(i)) = stack.last() else { continue };
                let module = &mut modules[*i];
                for import in reader.into_imports() {
                    let import = import.map_err(|e| GenError::Component(e.to_string()))?;
                    if matches!(import.ty, TypeRef::Func(_) | TypeRef::FuncExact(_)) {
                        module.imports.push((import.module.to_owned(), import.name.to_owned()));
                    }
                }
            }
            Payload::ExportSection(reader) => {
                let Some(Some(i)) = stack.last() else { continue };
                let module = &mut modules[*i];
                for export in reader {
                    let export = export.map_err(|e| GenError::Component(e.to_string()))?;
                    module.exports.push(export.name.to_owned());
                }
            }
            _ => {}
        }
    }
    let main = modules
        .into_iter()
        .find(|m| m.exports.iter().any(|e| e == "memory") && m.exports.iter().any(|e| e == "cabi_realloc"))
        .ok_or_else(|| {
            GenError::Component("no core module exports both `memory` and `cabi_realloc`".into())
        })?;
    Ok(CoreNames { imports: main.imports.into_iter().collect(), exports: main.exports.into_iter().collect() })
}
