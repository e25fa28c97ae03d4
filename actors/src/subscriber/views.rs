//! Values decoded from one copy of a read model, kept until its subscriber writes their keys.
//!
//! Queries read the same views again and again (the teacher of every course on a page, the
//! courses of a learner's bookings); reading each from sled and decoding it was a third of an
//! executed query's time. A copy has one writer, its subscriber, which drops the keys of every
//! batch it commits before the read version moves (see [`super::ReadVersion`]), so a kept value
//! is what the tree holds: a query never sees older data through it than through the tree.

use std::any::Any;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::de::DeserializeOwned;

use super::read_model::decode_value;
use super::SubscriberError;

/// What one copy keeps at most, in bytes as its values are stored plus their keys and
/// [`OVERHEAD`] each, the least recently read going first: a few thousand views of a few hundred
/// bytes (a busy catalogue's hot set), fewer of larger ones, so memory stays bounded whatever
/// the views hold.
const BUDGET_PER_COPY: usize = 4 << 20;
/// What keeping a value costs beyond its stored bytes: the decoded value's own headers, the
/// `Arc`, the LRU's entry.
const OVERHEAD: usize = 128;

struct Kept {
    /// What the key holds, decoded (`None`: nothing).
    value: Option<Arc<dyn Any + Send + Sync>>,
    weight: usize,
}

/// Whether a lookup moves its key to the front of the least-recently-read order or leaves it.
enum Recency {
    Refresh,
    Leave,
}

pub(crate) struct Views {
    inner: Mutex<Inner>,
}

struct Inner {
    /// Moves with every batch the subscriber writes: a value read from the tree is kept only if
    /// no batch was written between reading it and keeping it.
    writes: u64,
    kept: lru::LruCache<Vec<u8>, Kept>,
    /// The weights of everything in `kept`, at most `budget`.
    weight: usize,
    budget: usize,
}

impl Views {
    pub(crate) fn new() -> Self {
        Self::with_budget(BUDGET_PER_COPY)
    }

    fn with_budget(budget: usize) -> Self {
        Self { inner: Mutex::new(Inner { writes: 0, kept: lru::LruCache::unbounded(), weight: 0, budget }) }
    }

    /// The value stored under `key` in `tree` (the copy these views belong to), decoded once
    /// and shared until the key is written.
    pub(crate) fn fetch<T>(&self, tree: &sled::Tree, key: &[u8]) -> Result<Option<Arc<T>>, SubscriberError>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        let writes = match self.lookup(key) {
            Ok(kept) => return Ok(kept),
            Err(writes) => writes,
        };
        let stored = tree.get(key)?;
        let value = stored.as_deref().map(decode_value::<T>).transpose()?.map(Arc::new);
        let weight = key.len() + stored.map_or(0, |bytes| bytes.len()) + OVERHEAD;
        self.keep(key, writes, value.clone(), weight);
        Ok(value)
    }

    /// Like [`Views::fetch`], but a value not kept yet is decoded for this caller alone and
    /// what is kept keeps its recency: for reading every view once (rebuilding an index of
    /// them), which would otherwise push the views queries read often out of the budget.
    pub(crate) fn fetch_passing<T>(&self, tree: &sled::Tree, key: &[u8]) -> Result<Option<Arc<T>>, SubscriberError>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        if let Ok(kept) = self.lookup_as(key, Recency::Leave) {
            return Ok(kept);
        }
        Ok(tree.get(key)?.as_deref().map(decode_value::<T>).transpose()?.map(Arc::new))
    }

    /// What is kept for `key` as a `T`, or how many batches were written before it was missed.
    fn lookup<T: Send + Sync + 'static>(&self, key: &[u8]) -> Result<Option<Arc<T>>, u64> {
        self.lookup_as(key, Recency::Refresh)
    }

    fn lookup_as<T: Send + Sync + 'static>(&self, key: &[u8], recency: Recency) -> Result<Option<Arc<T>>, u64> {
        let mut inner = self.inner.lock();
        let writes = inner.writes;
        let kept = match recency {
            Recency::Refresh => inner.kept.get(key),
            Recency::Leave => inner.kept.peek(key),
        };
        match kept.map(|kept| kept.value.clone()) {
            Some(None) => Ok(None),
            // A key read as another type (a caller's mistake, or a shared tag) is decoded
            // again, and kept as the type asked last.
            Some(Some(value)) => value.downcast::<T>().map(Some).map_err(|_| writes),
            None => Err(writes),
        }
    }

    /// Keeps `value`, read from the tree after `writes` batches, unless another was written
    /// since: the value read may be the one that batch replaced.
    fn keep<T: Send + Sync + 'static>(&self, key: &[u8], writes: u64, value: Option<Arc<T>>, weight: usize) {
        let mut inner = self.inner.lock();
        if inner.writes != writes || weight > inner.budget {
            return;
        }
        let value = value.map(|value| value as Arc<dyn Any + Send + Sync>);
        if let Some(replaced) = inner.kept.put(key.to_vec(), Kept { value, weight }) {
            inner.weight -= replaced.weight;
        }
        inner.weight += weight;
        while inner.weight > inner.budget {
            let Some((_, evicted)) = inner.kept.pop_lru() else { break };
            inner.weight -= evicted.weight;
        }
    }

    /// The subscriber wrote `keys` to the tree: their values are no longer kept. Called after
    /// the write and before the read version moves.
    pub(crate) fn written<K: AsRef<[u8]>>(&self, keys: impl IntoIterator<Item = K>) {
        let mut inner = self.inner.lock();
        inner.writes += 1;
        for key in keys {
            if let Some(dropped) = inner.kept.pop(key.as_ref()) {
                inner.weight -= dropped.weight;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> sled::Tree {
        let db = sled::Config::new().temporary(true).open().expect("a temporary database");
        db.open_tree("read-model/test/0").expect("a tree")
    }

    fn put(tree: &sled::Tree, key: &[u8], value: u64) {
        tree.insert(key, crate::codec::encode_bytes(&value).expect("encodes")).expect("a write");
    }

    #[test]
    fn a_value_is_decoded_once_and_shared_until_its_key_is_written() {
        let (tree, views) = (tree(), Views::new());
        put(&tree, b"a", 1);
        let first = views.fetch::<u64>(&tree, b"a").expect("a read").expect("a value");
        let again = views.fetch::<u64>(&tree, b"a").expect("a read").expect("a value");
        assert!(Arc::ptr_eq(&first, &again), "the second read shares the first's value");

        put(&tree, b"a", 2);
        views.written([b"a"]);
        assert_eq!(views.inner.lock().weight, 0, "nothing kept once its key is written");
        assert_eq!(views.fetch::<u64>(&tree, b"a").expect("a read").as_deref(), Some(&2));
    }

    #[test]
    fn a_missing_key_is_kept_as_missing_until_it_is_written() {
        let (tree, views) = (tree(), Views::new());
        assert_eq!(views.fetch::<u64>(&tree, b"b").expect("a read"), None);
        put(&tree, b"b", 5);
        assert_eq!(views.fetch::<u64>(&tree, b"b").expect("a read"), None, "kept: nothing told the views");
        views.written([b"b"]);
        assert_eq!(views.fetch::<u64>(&tree, b"b").expect("a read").as_deref(), Some(&5));
    }

    #[test]
    fn a_value_read_while_a_batch_is_written_is_not_kept() {
        let (tree, views) = (tree(), Views::new());
        put(&tree, b"c", 1);
        // A reader misses, reads the old value, and a batch rewrites the key before it keeps it.
        let writes = views.lookup::<u64>(b"c").expect_err("nothing kept yet");
        let old = Arc::new(1u64);
        put(&tree, b"c", 2);
        views.written([b"c"]);
        views.keep(b"c", writes, Some(old), 1);
        assert_eq!(views.fetch::<u64>(&tree, b"c").expect("a read").as_deref(), Some(&2));
    }

    #[test]
    fn what_is_kept_stays_within_the_budget_the_least_recently_read_going_first() {
        let tree = tree();
        // Room for three values of a one-byte key and a one-byte value.
        let views = Views::with_budget(3 * (2 + OVERHEAD));
        for key in [b"1", b"2", b"3"] {
            put(&tree, key, 1);
            views.fetch::<u64>(&tree, key).expect("a read");
        }
        views.fetch::<u64>(&tree, b"1").expect("a read");
        put(&tree, b"4", 1);
        views.fetch::<u64>(&tree, b"4").expect("a read");
        let inner = views.inner.lock();
        assert_eq!(inner.weight, 3 * (2 + OVERHEAD));
        assert!(inner.kept.contains(&b"1".to_vec()) && !inner.kept.contains(&b"2".to_vec()), "2 was read least recently");
    }

    #[test]
    fn a_passing_read_shares_what_is_kept_and_keeps_nothing_new() {
        let tree = tree();
        let views = Views::with_budget(2 * (2 + OVERHEAD));
        for key in [b"1", b"2"] {
            put(&tree, key, 1);
            views.fetch::<u64>(&tree, key).expect("a read");
        }
        let kept = views.fetch::<u64>(&tree, b"1").expect("a read").expect("a value");
        let passing = views.fetch_passing::<u64>(&tree, b"1").expect("a read").expect("a value");
        assert!(Arc::ptr_eq(&kept, &passing), "a kept value is shared");

        put(&tree, b"3", 3);
        assert_eq!(views.fetch_passing::<u64>(&tree, b"3").expect("a read").as_deref(), Some(&3));
        views.fetch_passing::<u64>(&tree, b"2").expect("a read");
        let inner = views.inner.lock();
        assert!(!inner.kept.contains(&b"3".to_vec()), "a value read in passing is not kept");
        assert_eq!(inner.kept.peek_lru().map(|(key, _)| key.as_slice()), Some(&b"2"[..]), "a passing read does not refresh 2");
    }

    #[test]
    fn a_key_asked_for_as_another_type_is_decoded_again() {
        let (tree, views) = (tree(), Views::new());
        // bincode writes small unsigned integers alike, whatever their width.
        put(&tree, b"d", 7);
        assert_eq!(views.fetch::<u64>(&tree, b"d").expect("a read").as_deref(), Some(&7));
        assert_eq!(views.fetch::<u32>(&tree, b"d").expect("a read").as_deref(), Some(&7));
        assert_eq!(views.fetch::<u64>(&tree, b"d").expect("a read").as_deref(), Some(&7));
    }
}
