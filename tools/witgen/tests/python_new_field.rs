//! Issue 17's "Done when": a field added to a WIT record reaches the Python layer with no hand
//! edit. A copy of `wit/` gains a field in `vm-info`; the generated module then has it in the
//! dataclass and in the descriptor the marshal engine lifts and lowers with.

use std::path::{Path, PathBuf};

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> std::io::Result<TempDir> {
        let path = std::env::temp_dir().join(format!("metald-witgen-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// The text of one top-level statement of the generated module: from `start` to the two
/// blank lines that end it.
fn block<'a>(module: &'a str, start: &str) -> &'a str {
    let at = module.find(start).unwrap_or_else(|| panic!("no `{start}` in the generated module"));
    let rest = &module[at..];
    &rest[..rest.find("\n\n\n").unwrap_or(rest.len())]
}

#[test]
fn a_field_added_to_a_wit_record_appears_in_the_python_dataclass_and_its_descriptor() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = TempDir::new("new-field").unwrap();
    let wit = dir.0.join("wit");
    copy_dir(&root.join("wit"), &wit).unwrap();
    let types = wit.join("types.wit");
    let source = std::fs::read_to_string(&types).unwrap();
    let record = "    record vm-info {\n";
    assert!(source.contains(record), "wit/types.wit no longer has `record vm-info`");
    let added = "        /// Host the VM runs on.\n        host-name: string,\n";
    std::fs::write(&types, source.replacen(record, &format!("{record}{added}"), 1)).unwrap();

    let model = metald_witgen::load_wit(&wit).unwrap();
    let python = metald_witgen::python_bindings(&model).unwrap();

    let class = block(&python, "class VmInfo:");
    assert!(class.contains("    host_name: str = \"\"\n    \"\"\"Host the VM runs on.\"\"\""), "{class}");
    let descriptor = block(&python, "T_VM_INFO = ");
    assert!(descriptor.contains("_m.Field(\"host-name\", \"host_name\", _m.STRING),"), "{descriptor}");
    // It came from the WIT change, not from the committed module.
    let committed = std::fs::read_to_string(root.join("python/src/metald_client/_bindings.py")).unwrap();
    assert!(!committed.contains("host_name"), "the committed module already has the field");
}
