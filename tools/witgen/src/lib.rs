//! `metald-witgen`: generates the language layers of the metald component from `wit/`.
//!
//! Hosts without a component-model runtime (Go on wazero) instantiate the component's main
//! core module and lift/lower values themselves. This crate reads the WIT package with
//! wit-parser, computes every canonical-ABI layout once ([`model`]), and prints it for a
//! language ([`go`]); the model is also available as JSON (`metald-witgen model`) for other
//! emitters. Python runs the component on wasmtime-py, so its layer ([`python`]) needs no
//! layout: typed dataclasses and descriptors for the package's marshal engine. JavaScript
//! runs it through jco, so its layer ([`js`]) is only where open protobuf enums sit. Generated
//! files are committed; `tests/fresh.rs` fails when one is stale.

pub mod component;
pub mod go;
pub mod js;
pub mod layout;
pub mod model;
pub mod names;
pub mod python;

use std::path::Path;

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// The WIT package does not parse or resolve.
    #[error("WIT: {0}")]
    Wit(String),
    /// The component binary cannot be read.
    #[error("component: {0}")]
    Component(String),
    /// The WIT uses something the emitters do not map.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The world every binding is generated for.
pub const WORLD: &str = "metald";

/// Reads `wit_dir` and the component at `component`, and builds the model of world
/// [`WORLD`]: every type and export, and the imports the component's main module uses.
pub fn load(wit_dir: &Path, component: &Path) -> Result<model::Model, GenError> {
    let (resolve, world) = resolve_world(wit_dir)?;
    let bytes = std::fs::read(component)
        .map_err(|source| GenError::Io { path: component.display().to_string(), source })?;
    let core = component::main_module_names(&bytes)?;
    model::build(&resolve, world, &core)
}

/// The model of world [`WORLD`] from `wit_dir` alone, without the component: every type and
/// export, but no imports and no post-return names (those come from the core module, and the
/// Python bindings, which run on a component-model runtime, use neither).
pub fn load_wit(wit_dir: &Path) -> Result<model::Model, GenError> {
    let (resolve, world) = resolve_world(wit_dir)?;
    let core = model::CoreNames { imports: Default::default(), exports: Default::default() };
    model::build(&resolve, world, &core)
}

fn resolve_world(wit_dir: &Path) -> Result<(wit_parser::Resolve, wit_parser::WorldId), GenError> {
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve.push_dir(wit_dir).map_err(|e| GenError::Wit(format!("{e:#}")))?;
    let world = resolve.select_world(&[package], Some(WORLD)).map_err(|e| GenError::Wit(format!("{e:#}")))?;
    Ok((resolve, world))
}

/// The Python bindings module of the repository's Python package
/// (`python/src/metald_client/_bindings.py`).
pub fn python_bindings(model: &model::Model) -> Result<String, GenError> {
    python::render(
        model,
        &python::PythonOptions {
            marshal_module: "._marshal".into(),
            enums_module: "._enums".into(),
            snake_valued_enums: vec!["error-code".into()],
        },
    )
}

/// The open-enum tables of the repository's JavaScript package (`js/src/generated-wit.js`).
pub fn js_tables(model: &model::Model) -> Result<String, GenError> {
    js::render(model)
}

/// The TypeScript declarations of the JavaScript package's component types, open enums as it
/// shows them (`js/src/generated-types.d.ts`).
pub fn js_types(model: &model::Model) -> Result<String, GenError> {
    js::render_types(model)
}

/// The Go bindings file of the repository's Go module (`go/metald/bindings.go`), formatted
/// by `gofmt` (which must be on `PATH`).
pub fn go_bindings(model: &model::Model) -> Result<String, GenError> {
    let raw = go::render(
        model,
        &go::GoOptions {
            package: "metald".into(),
            cabi_import: "github.com/metald/metald-client/go/cabi".into(),
        },
    )?;
    gofmt(&raw)
}

fn gofmt(source: &str) -> Result<String, GenError> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let io = |source| GenError::Io { path: "gofmt".into(), source };
    let mut child = Command::new("gofmt")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io)?;
    let mut stdin = child.stdin.take().ok_or_else(|| GenError::Unsupported("gofmt has no stdin".into()))?;
    let input = source.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().map_err(io)?;
    writer.join().map_err(|_| GenError::Unsupported("gofmt writer panicked".into()))?.map_err(io)?;
    if !out.status.success() {
        return Err(GenError::Unsupported(format!(
            "gofmt rejected the generated Go: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    String::from_utf8(out.stdout).map_err(|e| GenError::Unsupported(format!("gofmt output: {e}")))
}
