//! Where VMs live: in memory, or in SQLite so a restart keeps every acknowledged VM.

mod memory;
mod sqlite;

pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

/// A VM as the server keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct VmRecord {
    /// Insertion order; newer VMs have larger numbers. Pagination walks it downwards.
    pub seq: i64,
    /// `ud-` + 16 lowercase hex digits.
    pub vm_id: String,
    /// Owner: the authenticated customer (user id).
    pub customer_id: String,
    /// The `VmConfig` as received, protobuf-encoded.
    pub config: Vec<u8>,
    /// `VmState` number.
    pub state: i32,
    /// Network assigned at first boot.
    pub network: Option<NetworkAssignment>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Last change, Unix seconds.
    pub modified_at: i64,
}

/// IP, MAC and TAP device of a booted VM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkAssignment {
    /// IPv4 address.
    pub ip: String,
    /// MAC address.
    pub mac: String,
    /// Host TAP device.
    pub tap: String,
}

/// A state change decided by the caller of [`Store::update`].
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// New state.
    pub state: i32,
    /// Network to record, if it changes.
    pub network: Option<NetworkAssignment>,
    /// Change time, Unix seconds.
    pub modified_at: i64,
}

/// Why a change was refused (the VM is in the wrong state).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub String);

/// A page of VMs.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    /// VMs, newest first.
    pub vms: Vec<VmRecord>,
    /// Whether older matching VMs remain.
    pub more: bool,
    /// Number of matching VMs in all pages.
    pub total: usize,
}

/// Store failures (SQLite errors); the server answers them with `internal`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("state database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The state file is not a database of this server.
    #[error("state database {path}: {reason}")]
    Schema {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// Storage of VMs. Every method is atomic.
pub trait Store: Send + Sync {
    /// Inserts a new VM; `seq` is assigned here.
    fn insert(&self, vm: VmRecord) -> Result<VmRecord, StoreError>;

    /// A VM that has not been deleted.
    fn get(&self, vm_id: &str) -> Result<Option<VmRecord>, StoreError>;

    /// Applies `decide` to the current record atomically. `decide` returns the change to
    /// make, or a refusal that aborts without changing anything. `None` if no such VM.
    fn update(
        &self,
        vm_id: &str,
        decide: &mut dyn FnMut(&VmRecord) -> Result<Change, Refusal>,
    ) -> Result<Option<Result<VmRecord, Refusal>>, StoreError>;

    /// Marks a VM deleted; later lookups do not find it. False if there was no such VM.
    fn delete(&self, vm_id: &str, deleted_at: i64) -> Result<bool, StoreError>;

    /// The customer's VMs in `states` (empty: any), newest first, older than `before_seq`.
    fn list(
        &self,
        customer_id: &str,
        states: &[i32],
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<Page, StoreError>;
}

#[cfg(test)]
pub(crate) mod contract {
    //! Behaviour every store must have, run against each implementation.
    use super::*;

    pub fn record(vm_id: &str, customer: &str) -> VmRecord {
        VmRecord {
            seq: 0,
            vm_id: vm_id.into(),
            customer_id: customer.into(),
            config: vec![1, 2, 3],
            state: 1,
            network: None,
            created_at: 10,
            modified_at: 10,
        }
    }

    pub fn inserts_get_and_delete(store: &impl Store) {
        let first = store.insert(record("ud-1", "alice")).unwrap();
        let second = store.insert(record("ud-2", "alice")).unwrap();
        assert!(second.seq > first.seq);
        assert_eq!(store.get("ud-1").unwrap(), Some(first));
        assert!(store.delete("ud-1", 20).unwrap());
        assert_eq!(store.get("ud-1").unwrap(), None);
        assert!(!store.delete("ud-1", 21).unwrap(), "deleting twice finds nothing");
        assert!(!store.delete("ud-404", 21).unwrap());
    }

    pub fn updates_atomically(store: &impl Store) {
        store.insert(record("ud-1", "alice")).unwrap();
        let network = NetworkAssignment { ip: "10.0.0.2".into(), mac: "m".into(), tap: "t".into() };
        let change = Change { state: 2, network: Some(network.clone()), modified_at: 30 };
        let updated = store.update("ud-1", &mut |_| Ok(change.clone())).unwrap().unwrap().unwrap();
        assert_eq!((updated.state, updated.network.clone(), updated.modified_at), (2, Some(network), 30));
        assert_eq!(store.get("ud-1").unwrap(), Some(updated.clone()));
        let refused = store.update("ud-1", &mut |_| Err(Refusal("no".into()))).unwrap().unwrap();
        assert_eq!(refused, Err(Refusal("no".into())));
        assert_eq!(store.get("ud-1").unwrap(), Some(updated));
        let any = Change { state: 1, network: None, modified_at: 0 };
        assert!(store.update("ud-404", &mut |_| Ok(any.clone())).unwrap().is_none());
    }

    pub fn lists_newest_first_with_filters_and_pages(store: &impl Store) {
        for i in 0..5 {
            let mut vm = record(&format!("ud-{i}"), "alice");
            vm.state = if i % 2 == 0 { 1 } else { 2 };
            store.insert(vm).unwrap();
        }
        store.insert(record("ud-bob", "bob")).unwrap();
        let page = store.list("alice", &[], None, 2).unwrap();
        let ids: Vec<_> = page.vms.iter().map(|v| v.vm_id.as_str()).collect();
        assert_eq!((ids, page.more, page.total), (vec!["ud-4", "ud-3"], true, 5));
        let next = store.list("alice", &[], Some(page.vms[1].seq), 10).unwrap();
        let ids: Vec<_> = next.vms.iter().map(|v| v.vm_id.as_str()).collect();
        assert_eq!((ids, next.more, next.total), (vec!["ud-2", "ud-1", "ud-0"], false, 5));
        let running = store.list("alice", &[2], None, 10).unwrap();
        let ids: Vec<_> = running.vms.iter().map(|v| v.vm_id.as_str()).collect();
        assert_eq!((ids, running.total), (vec!["ud-3", "ud-1"], 2));
        store.delete("ud-3", 1).unwrap();
        assert_eq!(store.list("alice", &[], None, 10).unwrap().total, 4);
        assert_eq!(store.list("carol", &[], None, 10).unwrap(), Page { vms: vec![], more: false, total: 0 });
    }
}
