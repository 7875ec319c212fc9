//! Issue 17's "Done when" for JavaScript: a field or parameter of an open-enum type added to
//! the WIT is mapped by `js/src/index.js` with no hand edit. A copy of `wit/` gains a
//! `vm-state` field in `vm-info` and an `option<vm-state>` parameter of `client.get-vm-info`;
//! the generated tables then place both.

mod common;

#[test]
fn an_open_enum_field_and_parameter_added_to_the_wit_appear_in_the_js_tables() {
    let field = "        /// State before the last change.\n        previous-state: vm-state,\n";
    let dir = common::edited_wit(
        "js-new-field",
        &[
            ("types.wit", "    record vm-info {\n", field),
            ("client.wit", "get-vm-info: func(vm-id: string", ", wait-for: option<vm-state>"),
        ],
    )
    .unwrap();

    let model = metald_witgen::load_wit(&dir.wit()).unwrap();
    let js = metald_witgen::js_tables(&model).unwrap();

    let vm_info =
        "  'vm-info': { record: { previousState: { enum: 'vm-state' }, state: { enum: 'vm-state' } } },\n";
    assert!(js.contains(vm_info), "{js}");
    let get_vm_info = "    'Client#getVmInfo': {\n      params: [null, { option: { enum: 'vm-state' } }],\n";
    assert!(js.contains(get_vm_info), "{js}");
    // They came from the WIT change, not from the committed tables.
    let committed = std::fs::read_to_string(common::root().join("js/src/generated-wit.js")).unwrap();
    assert!(!committed.contains("previousState") && !committed.contains("'Client#getVmInfo': {\n"));
}
