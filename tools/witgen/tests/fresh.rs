//! The committed bindings (Go, Python), tables and declarations (JavaScript) are what the generator makes of
//! the committed WIT (and, for Go, the committed component).

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn committed_go_bindings_match_the_wit() {
    let root = root();
    let model = metald_witgen::load(&root.join("wit"), &root.join("go/metald/metald_guest.wasm")).unwrap();
    let fresh = metald_witgen::go_bindings(&model).unwrap();
    let committed = std::fs::read_to_string(root.join("go/metald/bindings.go")).unwrap();
    assert!(
        fresh == committed,
        "go/metald/bindings.go is stale: run `cargo run -p metald-witgen -- go` and commit the result"
    );
}

#[test]
fn committed_python_bindings_match_the_wit() {
    let root = root();
    let model = metald_witgen::load_wit(&root.join("wit")).unwrap();
    let fresh = metald_witgen::python_bindings(&model).unwrap();
    let committed = std::fs::read_to_string(root.join("python/src/metald_client/_bindings.py")).unwrap();
    assert!(
        fresh == committed,
        "python/src/metald_client/_bindings.py is stale: run `cargo run -p metald-witgen -- python` and commit \
         the result"
    );
}

#[test]
fn committed_js_tables_match_the_wit() {
    let model = metald_witgen::load_wit(&root().join("wit")).unwrap();
    let fresh = metald_witgen::js_tables(&model).unwrap();
    let committed = std::fs::read_to_string(root().join("js/src/generated-wit.js")).unwrap();
    assert!(
        fresh == committed,
        "js/src/generated-wit.js is stale: run `cargo run -p metald-witgen -- js` and commit the result"
    );
}

#[test]
fn committed_typescript_declarations_match_the_wit() {
    let model = metald_witgen::load_wit(&root().join("wit")).unwrap();
    let fresh = metald_witgen::js_types(&model).unwrap();
    let committed = std::fs::read_to_string(root().join("js/src/generated-types.d.ts")).unwrap();
    assert!(
        fresh == committed,
        "js/src/generated-types.d.ts is stale: run `cargo run -p metald-witgen -- js` and commit the result"
    );
}

#[test]
fn generated_python_fits_the_package_line_length() {
    let model = metald_witgen::load_wit(&root().join("wit")).unwrap();
    let python = metald_witgen::python_bindings(&model).unwrap();
    let long: Vec<&str> = python.lines().filter(|l| l.chars().count() > 100).collect();
    assert!(long.is_empty(), "lines over 100 columns (python/pyproject.toml, [tool.ruff]): {long:#?}");
}
