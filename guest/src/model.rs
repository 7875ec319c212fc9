//! The SDK's data model: the records of the WIT `types` interface, plus `string-map` helpers.
//!
//! The whole SDK works on these generated types; only [`crate::codec`] converts them to the
//! prost wire types.

pub use crate::bindings::exports::metald::client::types::*;

use alloc::string::String;

/// Sets `key` to `value`, keeping the map sorted by key with unique keys.
pub fn map_set(map: &mut StringMap, key: &str, value: &str) {
    match map.binary_search_by(|(k, _)| k.as_str().cmp(key)) {
        Ok(index) => map[index].1 = value.into(),
        Err(index) => map.insert(index, (key.into(), value.into())),
    }
}

/// The value of `key`, if present.
pub fn map_get<'a>(map: &'a StringMap, key: &str) -> Option<&'a str> {
    map.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Removes `key`, if present.
pub fn map_remove(map: &mut StringMap, key: &str) {
    map.retain(|(k, _)| k != key);
}

/// A map from (key, value) pairs, sorted, later pairs winning over earlier ones.
pub fn map_from<K: Into<String>, V: Into<String>>(entries: impl IntoIterator<Item = (K, V)>) -> StringMap {
    let mut map = StringMap::new();
    for (key, value) in entries {
        let (key, value): (String, String) = (key.into(), value.into());
        map_set(&mut map, &key, &value);
    }
    map
}

/// The first key that appears more than once, if any.
pub fn first_duplicate_key(map: &StringMap) -> Option<&str> {
    map.iter()
        .enumerate()
        .find(|(i, (key, _))| map[..*i].iter().any(|(earlier, _)| earlier == key))
        .map(|(_, (key, _))| key.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_keeps_keys_sorted_and_unique() {
        let mut map = StringMap::new();
        map_set(&mut map, "b", "1");
        map_set(&mut map, "a", "2");
        map_set(&mut map, "b", "3");
        assert_eq!(map, map_from([("a", "2"), ("b", "3")]));
        assert_eq!(map_get(&map, "b"), Some("3"));
        map_remove(&mut map, "a");
        assert_eq!(map_get(&map, "a"), None);
    }

    #[test]
    fn finds_repeated_keys() {
        let map: StringMap =
            vec![("a".into(), "1".into()), ("b".into(), "2".into()), ("a".into(), "3".into())];
        assert_eq!(first_duplicate_key(&map), Some("a"));
        assert_eq!(first_duplicate_key(&map_from([("a", "1")])), None);
    }
}
