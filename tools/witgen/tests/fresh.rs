//! The committed Go bindings are what the generator makes of the committed WIT and component.

use std::path::PathBuf;

#[test]
fn committed_go_bindings_match_the_wit() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let model = metald_witgen::load(&root.join("wit"), &root.join("go/metald/metald_guest.wasm")).unwrap();
    let fresh = metald_witgen::go_bindings(&model).unwrap();
    let committed = std::fs::read_to_string(root.join("go/metald/bindings.go")).unwrap();
    assert!(
        fresh == committed,
        "go/metald/bindings.go is stale: run `cargo run -p metald-witgen -- go` and commit the result"
    );
}
