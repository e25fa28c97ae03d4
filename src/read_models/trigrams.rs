//! A trigram index over documents of a few texts each (the catalogue's lower-cased titles and
//! descriptions): a substring search takes the documents holding the rarest three-byte window
//! of the searched text and confirms each of those, so it costs about what that window finds
//! instead of a pass over every text of the catalogue. Intersecting the lists of the other
//! windows as well was measured slower: a binary search per candidate and list costs more than
//! the substring search that confirms the candidate anyway.
//!
//! Windows are taken within each text, never across two of a document's texts, and over bytes,
//! so a UTF-8 text is searched exactly as a byte-wise substring search would search it.

/// Three bytes, big-endian in the low 24 bits.
type Trigram = u32;

/// Which documents (numbered from 0 in the order given) hold each trigram.
#[derive(Debug)]
pub(super) struct TrigramIndex {
    /// Every trigram held by some document, ascending, with where its documents start in
    /// `postings` (they end where the next trigram's start).
    trigrams: Vec<(Trigram, u32)>,
    /// The documents of each trigram in turn, ascending within each.
    postings: Vec<u32>,
}

impl TrigramIndex {
    /// Indexes `documents`, each given as its texts.
    pub(super) fn build<'t, D>(documents: impl IntoIterator<Item = D>) -> Self
    where
        D: IntoIterator<Item = &'t [u8]>,
    {
        // One sorted list of (trigram, document) pairs gives every posting list at once, in
        // document order, with a document's repeated windows dropped by `dedup`.
        let mut pairs: Vec<u64> = Vec::new();
        for (document, texts) in (0u32..).zip(documents) {
            for text in texts {
                pairs.extend(text.windows(3).map(|window| u64::from(trigram(window)) << 32 | u64::from(document)));
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        let mut index = Self { trigrams: Vec::new(), postings: Vec::with_capacity(pairs.len()) };
        for pair in pairs {
            let (trigram, document) = ((pair >> 32) as Trigram, pair as u32);
            if index.trigrams.last().is_none_or(|&(last, _)| last != trigram) {
                index.trigrams.push((trigram, index.postings.len() as u32));
            }
            index.postings.push(document);
        }
        index.trigrams.shrink_to_fit();
        index
    }

    /// The documents that may hold `needle` in one of their texts, ascending: every document
    /// that does is among them. `None` when the needle is too short to be looked up (under three
    /// bytes, no window), so that every document may.
    pub(super) fn candidates(&self, needle: &[u8]) -> Option<&[u32]> {
        // A window no document holds gives the empty list, the rarest of all.
        needle.windows(3).map(|window| self.postings_of(trigram(window))).min_by_key(|documents| documents.len())
    }

    /// The documents holding `trigram`; empty when none does.
    fn postings_of(&self, trigram: Trigram) -> &[u32] {
        let Ok(at) = self.trigrams.binary_search_by_key(&trigram, |&(t, _)| t) else { return &[] };
        let start = self.trigrams[at].1 as usize;
        let end = self.trigrams.get(at + 1).map_or(self.postings.len(), |&(_, next)| next as usize);
        &self.postings[start..end]
    }
}

fn trigram(window: &[u8]) -> Trigram {
    u32::from(window[0]) << 16 | u32::from(window[1]) << 8 | u32::from(window[2])
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn index(documents: &[&[&str]]) -> TrigramIndex {
        TrigramIndex::build(documents.iter().map(|texts| texts.iter().map(|text| text.as_bytes())))
    }

    fn candidates(index: &TrigramIndex, needle: &str) -> Option<Vec<u32>> {
        index.candidates(needle.as_bytes()).map(<[u32]>::to_vec)
    }

    #[test]
    fn it_should_narrow_a_search_to_the_documents_holding_its_rarest_window() {
        let index = index(&[&["rust for beginners", "learn rust"], &["guitar", "strings and chords"], &["trust", "falls"], &["dust"]]);
        // "ust" is in three documents, "rus" in two of them.
        assert_eq!(candidates(&index, "rust"), Some(vec![0, 2]));
        assert_eq!(candidates(&index, "guitar"), Some(vec![1]));
        // A candidate only, which the caller's substring search turns down: its texts hold
        // every window, but not the needle.
        assert_eq!(candidates(&index, "learn rust for"), Some(vec![0]));
        assert_eq!(candidates(&index, "piano"), Some(vec![]));
        assert_eq!(candidates(&index, "ru"), None, "too short to look up");
    }

    #[test]
    fn it_should_not_take_windows_across_two_texts_of_a_document() {
        let index = index(&[&["abc", "def"], &["crème brûlée"]]);
        assert_eq!(candidates(&index, "cde"), Some(vec![]));
        assert_eq!(candidates(&index, "brûl"), Some(vec![1]), "windows of bytes, not of characters");
    }

    #[test]
    fn an_empty_index_holds_nothing() {
        assert_eq!(candidates(&TrigramIndex::build(Vec::<Vec<&[u8]>>::new()), "anything"), Some(vec![]));
    }

    proptest! {
        /// Over a small alphabet, so windows repeat across documents as in real text.
        #[test]
        fn every_document_holding_the_needle_is_a_candidate_and_they_ascend(
            documents in prop::collection::vec(prop::collection::vec("[abcé ]{0,24}", 0..3), 0..40),
            needle in "[abcé ]{0,6}",
        ) {
            let index = TrigramIndex::build(documents.iter().map(|texts| texts.iter().map(|text| text.as_bytes())));
            let holding: Vec<u32> = (0u32..).zip(&documents)
                .filter(|(_, texts)| texts.iter().any(|text| text.contains(needle.as_str())))
                .map(|(document, _)| document)
                .collect();
            match index.candidates(needle.as_bytes()) {
                None => prop_assert!(needle.len() < 3),
                Some(candidates) => {
                    prop_assert!(candidates.windows(2).all(|pair| pair[0] < pair[1]));
                    prop_assert!(holding.iter().all(|document| candidates.contains(document)));
                }
            }
        }
    }
}
