//! VMs in SQLite: every change is one transaction, committed with a full sync, so a
//! restart keeps every acknowledged VM and a killed process loses none.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Change, NetworkAssignment, Page, Refusal, Store, StoreError, VmRecord};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS vms (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    vm_id TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL,
    config BLOB NOT NULL,
    state INTEGER NOT NULL,
    ip TEXT,
    mac TEXT,
    tap TEXT,
    created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL,
    deleted_at INTEGER
);
CREATE INDEX IF NOT EXISTS vms_by_customer ON vms (customer_id, deleted_at, seq);
";
const COLUMNS: &str = "seq, vm_id, customer_id, config, state, ip, mac, tap, created_at, modified_at";

/// VMs in a SQLite file.
pub struct SqliteStore(Mutex<Connection>);

impl SqliteStore {
    /// Opens (or creates) the state file at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let open = || -> rusqlite::Result<Connection> {
            let connection = Connection::open(path)?;
            connection.pragma_update(None, "journal_mode", "WAL")?;
            connection.pragma_update(None, "synchronous", "FULL")?;
            connection.busy_timeout(std::time::Duration::from_secs(5))?;
            connection.execute_batch(SCHEMA)?;
            Ok(connection)
        };
        let connection = open().map_err(|e| StoreError::Schema {
            path: path.display().to_string(),
            reason: format!("cannot open it as a dev-server state database: {e}"),
        })?;
        Ok(SqliteStore(Mutex::new(connection)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // SQLite transactions roll back on their own if a panic interrupts them.
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn record(row: &Row<'_>) -> rusqlite::Result<VmRecord> {
    let ip: Option<String> = row.get(5)?;
    let mac: Option<String> = row.get(6)?;
    let tap: Option<String> = row.get(7)?;
    let network = match (ip, mac, tap) {
        (Some(ip), Some(mac), Some(tap)) => Some(NetworkAssignment { ip, mac, tap }),
        _ => None,
    };
    Ok(VmRecord {
        seq: row.get(0)?,
        vm_id: row.get(1)?,
        customer_id: row.get(2)?,
        config: row.get(3)?,
        state: row.get(4)?,
        network,
        created_at: row.get(8)?,
        modified_at: row.get(9)?,
    })
}

fn get_in(connection: &Connection, vm_id: &str) -> rusqlite::Result<Option<VmRecord>> {
    connection
        .query_row(
            &format!("SELECT {COLUMNS} FROM vms WHERE vm_id = ?1 AND deleted_at IS NULL"),
            [vm_id],
            record,
        )
        .optional()
}

impl Store for SqliteStore {
    fn insert(&self, mut vm: VmRecord) -> Result<VmRecord, StoreError> {
        let connection = self.lock();
        connection.execute(
            "INSERT INTO vms (vm_id, customer_id, config, state, created_at, modified_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![vm.vm_id, vm.customer_id, vm.config, vm.state, vm.created_at, vm.modified_at],
        )?;
        vm.seq = connection.last_insert_rowid();
        Ok(vm)
    }

    fn get(&self, vm_id: &str) -> Result<Option<VmRecord>, StoreError> {
        Ok(get_in(&self.lock(), vm_id)?)
    }

    fn update(
        &self,
        vm_id: &str,
        decide: &mut dyn FnMut(&VmRecord) -> Result<Change, Refusal>,
    ) -> Result<Option<Result<VmRecord, Refusal>>, StoreError> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let Some(mut vm) = get_in(&transaction, vm_id)? else { return Ok(None) };
        let change = match decide(&vm) {
            Ok(change) => change,
            Err(refusal) => return Ok(Some(Err(refusal))),
        };
        vm.state = change.state;
        if change.network.is_some() {
            vm.network = change.network;
        }
        vm.modified_at = change.modified_at;
        let network = vm.network.clone();
        transaction.execute(
            "UPDATE vms SET state = ?2, ip = ?3, mac = ?4, tap = ?5, modified_at = ?6 WHERE seq = ?1",
            params![
                vm.seq,
                vm.state,
                network.as_ref().map(|n| &n.ip),
                network.as_ref().map(|n| &n.mac),
                network.as_ref().map(|n| &n.tap),
                vm.modified_at
            ],
        )?;
        transaction.commit()?;
        Ok(Some(Ok(vm)))
    }

    fn delete(&self, vm_id: &str, deleted_at: i64) -> Result<bool, StoreError> {
        let changed = self.lock().execute(
            "UPDATE vms SET deleted_at = ?2, modified_at = ?2 WHERE vm_id = ?1 AND deleted_at IS NULL",
            params![vm_id, deleted_at],
        )?;
        Ok(changed == 1)
    }

    fn list(
        &self,
        customer_id: &str,
        states: &[i32],
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let connection = self.lock();
        // States are small integers, so they go into the SQL text as a checked list.
        let filter = if states.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = states.iter().map(i32::to_string).collect();
            format!(" AND state IN ({})", list.join(","))
        };
        let total: i64 = connection.query_row(
            &format!("SELECT COUNT(*) FROM vms WHERE customer_id = ?1 AND deleted_at IS NULL{filter}"),
            [customer_id],
            |row| row.get(0),
        )?;
        let mut statement = connection.prepare(&format!(
            "SELECT {COLUMNS} FROM vms WHERE customer_id = ?1 AND deleted_at IS NULL AND seq < ?2{filter} \
             ORDER BY seq DESC LIMIT ?3"
        ))?;
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1;
        let mut vms = statement
            .query_map(params![customer_id, before_seq.unwrap_or(i64::MAX), fetch], record)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let more = vms.len() > limit;
        vms.truncate(limit);
        Ok(Page { vms, more, total: usize::try_from(total).unwrap_or(0) })
    }
}

#[cfg(test)]
mod tests {
    use super::super::contract;
    use super::*;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("state.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn inserts_get_and_delete() {
        contract::inserts_get_and_delete(&store().1);
    }

    #[test]
    fn updates_atomically() {
        contract::updates_atomically(&store().1);
    }

    #[test]
    fn lists_newest_first_with_filters_and_pages() {
        contract::lists_newest_first_with_filters_and_pages(&store().1);
    }

    #[test]
    fn reopening_keeps_every_vm() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let inserted = SqliteStore::open(&path).unwrap().insert(contract::record("ud-1", "alice")).unwrap();
        assert_eq!(SqliteStore::open(&path).unwrap().get("ud-1").unwrap(), Some(inserted));
    }

    #[test]
    fn a_file_that_is_not_a_database_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        std::fs::write(&path, "definitely not sqlite, just some text that is long enough").unwrap();
        let error = SqliteStore::open(&path).err().unwrap();
        assert!(error.to_string().contains("state.db"), "{error}");
    }
}
