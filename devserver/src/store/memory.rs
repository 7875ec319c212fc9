//! VMs in memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::{Change, Page, Refusal, Store, StoreError, VmRecord};

#[derive(Default)]
struct Inner {
    next_seq: i64,
    by_seq: BTreeMap<i64, VmRecord>,
    seq_of: HashMap<String, i64>,
}

/// VMs kept in memory; lost when the process ends.
#[derive(Default)]
pub struct MemoryStore(Mutex<Inner>);

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated: every
        // mutation below is a single insert or remove.
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Store for MemoryStore {
    fn insert(&self, mut vm: VmRecord) -> Result<VmRecord, StoreError> {
        let mut inner = self.lock();
        inner.next_seq += 1;
        vm.seq = inner.next_seq;
        inner.seq_of.insert(vm.vm_id.clone(), vm.seq);
        inner.by_seq.insert(vm.seq, vm.clone());
        Ok(vm)
    }

    fn get(&self, vm_id: &str) -> Result<Option<VmRecord>, StoreError> {
        let inner = self.lock();
        Ok(inner.seq_of.get(vm_id).and_then(|seq| inner.by_seq.get(seq)).cloned())
    }

    fn update(
        &self,
        vm_id: &str,
        decide: &mut dyn FnMut(&VmRecord) -> Result<Change, Refusal>,
    ) -> Result<Option<Result<VmRecord, Refusal>>, StoreError> {
        let mut inner = self.lock();
        let Some(seq) = inner.seq_of.get(vm_id).copied() else { return Ok(None) };
        let Some(vm) = inner.by_seq.get_mut(&seq) else { return Ok(None) };
        Ok(Some(decide(vm).map(|change| {
            vm.state = change.state;
            if change.network.is_some() {
                vm.network = change.network;
            }
            vm.modified_at = change.modified_at;
            vm.clone()
        })))
    }

    fn delete(&self, vm_id: &str, _deleted_at: i64) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let Some(seq) = inner.seq_of.remove(vm_id) else { return Ok(false) };
        Ok(inner.by_seq.remove(&seq).is_some())
    }

    fn list(
        &self,
        customer_id: &str,
        states: &[i32],
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let inner = self.lock();
        let matching = |vm: &&VmRecord| {
            vm.customer_id == customer_id && (states.is_empty() || states.contains(&vm.state))
        };
        let total = inner.by_seq.values().filter(matching).count();
        let upper = before_seq.unwrap_or(i64::MAX);
        let mut older = inner.by_seq.range(..upper).rev().map(|(_, vm)| vm).filter(matching);
        let vms: Vec<VmRecord> = older.by_ref().take(limit).cloned().collect();
        let more = older.next().is_some();
        Ok(Page { vms, more, total })
    }
}

#[cfg(test)]
mod tests {
    use super::super::contract;
    use super::*;

    #[test]
    fn inserts_get_and_delete() {
        contract::inserts_get_and_delete(&MemoryStore::default());
    }

    #[test]
    fn updates_atomically() {
        contract::updates_atomically(&MemoryStore::default());
    }

    #[test]
    fn lists_newest_first_with_filters_and_pages() {
        contract::lists_newest_first_with_filters_and_pages(&MemoryStore::default());
    }
}
