//! `metald-witgen go|model [--check]`: writes (or checks) the generated bindings of the
//! repository. Paths are relative to the workspace root.

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
    let model = metald_witgen::load(&root.join("wit"), &root.join("go/metald/metald_guest.wasm"))
        .map_err(|e| e.to_string())?;
    let (path, text) = match what {
        "go" => (
            root.join("go/metald/bindings.go"),
            metald_witgen::go_bindings(&model).map_err(|e| e.to_string())?,
        ),
        "model" => {
            let json = serde_json::to_string_pretty(&model).map_err(|e| e.to_string())?;
            println!("{json}");
            return Ok(());
        }
        other => return Err(format!("unknown output `{other}`: use `go` or `model`")),
    };
    if check {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != text {
            return Err(format!("{} is stale: run `cargo run -p metald-witgen -- go`", path.display()));
        }
        return Ok(());
    }
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
