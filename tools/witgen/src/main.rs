//! `metald-witgen go|python|js|model [--check]`: writes (or checks) the generated bindings of
//! the repository. Paths are relative to the workspace root.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = args.iter().any(|a| a == "--check");
    let what = args.iter().find(|a| !a.starts_with("--")).map(String::as_str).unwrap_or("go");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    match run(&root, what, check) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("metald-witgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(root: &Path, what: &str, check: bool) -> Result<(), String> {
    let wit = root.join("wit");
    let component = root.join("go/metald/metald_guest.wasm");
    let outputs = match what {
        "go" => {
            let model = metald_witgen::load(&wit, &component).map_err(|e| e.to_string())?;
            vec![(
                root.join("go/metald/bindings.go"),
                metald_witgen::go_bindings(&model).map_err(|e| e.to_string())?,
            )]
        }
        // The Python layer needs the WIT alone: no component, so it can be regenerated
        // before the component is rebuilt.
        "python" => {
            let model = metald_witgen::load_wit(&wit).map_err(|e| e.to_string())?;
            vec![(
                root.join("python/src/metald_client/_bindings.py"),
                metald_witgen::python_bindings(&model).map_err(|e| e.to_string())?,
            )]
        }
        // So do the JavaScript tables and TypeScript declarations.
        "js" => {
            let model = metald_witgen::load_wit(&wit).map_err(|e| e.to_string())?;
            vec![
                (
                    root.join("js/src/generated-wit.js"),
                    metald_witgen::js_tables(&model).map_err(|e| e.to_string())?,
                ),
                (
                    root.join("js/src/generated-types.d.ts"),
                    metald_witgen::js_types(&model).map_err(|e| e.to_string())?,
                ),
            ]
        }
        "model" => {
            let model = metald_witgen::load(&wit, &component).map_err(|e| e.to_string())?;
            let json = serde_json::to_string_pretty(&model).map_err(|e| e.to_string())?;
            println!("{json}");
            return Ok(());
        }
        other => return Err(format!("unknown output `{other}`: use `go`, `python`, `js` or `model`")),
    };
    for (path, text) in outputs {
        if check {
            let current = std::fs::read_to_string(&path).unwrap_or_default();
            if current != text {
                return Err(format!(
                    "{} is stale: run `cargo run -p metald-witgen -- {what}`",
                    path.display()
                ));
            }
            continue;
        }
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
