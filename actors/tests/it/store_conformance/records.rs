//! Records beside the log: a keyed table with compare-and-swap and ordered prefix scans, the same
//! in every store, and kept by a sled store across a reopen.

use actors::SledStoreConfig;

use super::{open_retrying, Store};

conformance!(get_put_and_remove, compare_and_swap_writes_only_over_what_it_expects, scans_are_ordered_prefixed_and_paged, tables_are_apart);

async fn get_put_and_remove(store: Store) {
    let table = store.records("things").unwrap();
    assert_eq!(table.get(b"a").await.unwrap(), None);
    table.put(b"a", b"1").await.unwrap();
    table.put(b"a", b"2").await.unwrap();
    assert_eq!(table.get(b"a").await.unwrap().as_deref(), Some(&b"2"[..]));
    table.remove(b"a").await.unwrap();
    table.remove(b"a").await.unwrap();
    assert_eq!(table.get(b"a").await.unwrap(), None);
}

async fn compare_and_swap_writes_only_over_what_it_expects(store: Store) {
    let table = store.records("things").unwrap();
    assert_eq!(table.insert_new(b"k", b"first").await.unwrap(), None);
    assert_eq!(table.insert_new(b"k", b"second").await.unwrap().as_deref(), Some(&b"first"[..]));
    assert_eq!(table.compare_and_swap(b"k", Some(b"other"), Some(b"x")).await.unwrap(), Err(Some(b"first".to_vec())));
    assert_eq!(table.compare_and_swap(b"k", Some(b"first"), Some(b"third")).await.unwrap(), Ok(()));
    assert_eq!(table.get(b"k").await.unwrap().as_deref(), Some(&b"third"[..]));
    assert_eq!(table.compare_and_swap(b"k", Some(b"third"), None).await.unwrap(), Ok(()));
    assert_eq!(table.get(b"k").await.unwrap(), None);
    assert_eq!(table.compare_and_swap(b"k", Some(b"third"), None).await.unwrap(), Err(None));
}

async fn scans_are_ordered_prefixed_and_paged(store: Store) {
    let table = store.records("things").unwrap();
    for key in [&b"b/2"[..], b"a/1", b"b/1", b"b/10", b"c/1", b"b"] {
        table.put(key, key).await.unwrap();
    }
    let keys = |records: Vec<(Vec<u8>, Vec<u8>)>| records.into_iter().map(|(key, _)| String::from_utf8(key).unwrap()).collect::<Vec<_>>();
    assert_eq!(keys(table.scan(b"b/", None, 10).await.unwrap()), ["b/1", "b/10", "b/2"]);
    assert_eq!(keys(table.scan(b"b/", None, 2).await.unwrap()), ["b/1", "b/10"]);
    assert_eq!(keys(table.scan(b"b/", Some(b"b/10"), 2).await.unwrap()), ["b/2"]);
    assert_eq!(keys(table.scan(b"", None, 10).await.unwrap()), ["a/1", "b", "b/1", "b/10", "b/2", "c/1"]);
    assert_eq!(keys(table.scan(b"", Some(b"b/2"), 10).await.unwrap()), ["c/1"]);
    assert!(table.scan(b"d", None, 10).await.unwrap().is_empty());
    let (key, value) = table.scan(b"c", None, 1).await.unwrap().remove(0);
    assert_eq!((key.as_slice(), value.as_slice()), (&b"c/1"[..], &b"c/1"[..]));
}

async fn tables_are_apart(store: Store) {
    let (one, other) = (store.records("one").unwrap(), store.records("other").unwrap());
    one.put(b"k", b"1").await.unwrap();
    assert_eq!(other.get(b"k").await.unwrap(), None);
    assert_eq!(store.records("one").unwrap().get(b"k").await.unwrap().as_deref(), Some(&b"1"[..]));
}

#[tokio::test]
async fn a_reopened_sled_store_keeps_its_records() {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let store = open_retrying(dir.path(), SledStoreConfig::default());
    actors::EventStore::records(&store, "things").unwrap().put(b"k", b"kept").await.unwrap();
    drop(store);
    let store = open_retrying(dir.path(), SledStoreConfig::default());
    assert_eq!(actors::EventStore::records(&store, "things").unwrap().get(b"k").await.unwrap().as_deref(), Some(&b"kept"[..]));
}

#[test]
#[should_panic(expected = "uses")]
fn a_table_cannot_take_the_name_of_the_log() {
    let store = actors::SledStore::temporary().unwrap();
    let _ = actors::EventStore::records(&store, "log");
}
