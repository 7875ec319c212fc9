//! Helpers of the tests that generate from an edited copy of `wit/`.

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A directory under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> std::io::Result<TempDir> {
        let path = std::env::temp_dir().join(format!("metald-witgen-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }

    /// The copy of `wit/` inside it.
    pub fn wit(&self) -> PathBuf {
        self.0.join("wit")
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

/// A copy of the repository's `wit/` (in a temp dir named after `name`) in which each
/// `(file, anchor, inserted)` puts `inserted` right after the first `anchor` of `file`.
/// An anchor gone from the WIT is an error naming it.
pub fn edited_wit(name: &str, edits: &[(&str, &str, &str)]) -> std::io::Result<TempDir> {
    let dir = TempDir::new(name)?;
    copy_dir(&root().join("wit"), &dir.wit())?;
    for (file, anchor, inserted) in edits {
        let path = dir.wit().join(file);
        let source = std::fs::read_to_string(&path)?;
        if !source.contains(anchor) {
            let message = format!("wit/{file} no longer has {anchor:?}");
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, message));
        }
        std::fs::write(&path, source.replacen(anchor, &format!("{anchor}{inserted}"), 1))?;
    }
    Ok(dir)
}
