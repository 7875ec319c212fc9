//! Issue 17's "Done when": a field added to a WIT record reaches the Python layer with no hand
//! edit. A copy of `wit/` gains a field in `vm-info`; the generated module then has it in the
//! dataclass and in the descriptor the marshal engine lifts and lowers with.

mod common;

/// The text of one top-level statement of the generated module: from `start` to the two
/// blank lines that end it.
fn block<'a>(module: &'a str, start: &str) -> &'a str {
    let at = module.find(start).unwrap_or_else(|| panic!("no `{start}` in the generated module"));
    let rest = &module[at..];
    &rest[..rest.find("\n\n\n").unwrap_or(rest.len())]
}

#[test]
fn a_field_added_to_a_wit_record_appears_in_the_python_dataclass_and_its_descriptor() {
    let added = "        /// Host the VM runs on.\n        host-name: string,\n";
    let dir = common::edited_wit("new-field", &[("types.wit", "    record vm-info {\n", added)]).unwrap();

    let model = metald_witgen::load_wit(&dir.wit()).unwrap();
    let python = metald_witgen::python_bindings(&model).unwrap();

    let class = block(&python, "class VmInfo:");
    assert!(class.contains("    host_name: str = \"\"\n    \"\"\"Host the VM runs on.\"\"\""), "{class}");
    let descriptor = block(&python, "T_VM_INFO = ");
    assert!(descriptor.contains("_m.Field(\"host-name\", \"host_name\", _m.STRING),"), "{descriptor}");
    // It came from the WIT change, not from the committed module.
    let committed =
        std::fs::read_to_string(common::root().join("python/src/metald_client/_bindings.py")).unwrap();
    assert!(!committed.contains("host_name"), "the committed module already has the field");
}
