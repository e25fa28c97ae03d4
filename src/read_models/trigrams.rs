//! A trigram index over documents of a few texts each (the catalogue's lower-cased titles and
//! descriptions): a substring search first takes the documents holding every three-byte window
//! of the searched text, then confirms each of those, so it costs about what it finds instead
//! of a pass over every text of the catalogue.
//!
//! Windows are taken within each text, never across two of a document's texts, and over bytes,
//! so a UTF-8 text is searched exactly as a byte-wise substring search would search it.

/// Three bytes, big-endian in the low 24 bits.
type Trigram = u32;

/// Which documents (numbered from 0 in the order given) hold each trigram.
#[derive(Debug, Default)]
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
    /// bytes), so that every document may.
    pub(super) fn candidates(&self, needle: &[u8]) -> Option<Vec<u32>> {
        if needle.len() < 3 {
            return None;
        }
        let mut lists: Vec<&[u32]> = Vec::with_capacity(needle.len() - 2);
        for window in needle.windows(3) {
            let Some(list) = self.postings_of(trigram(window)) else { return Some(Vec::new()) };
            lists.push(list);
        }
        // Start from the rarest trigram; each further list can only shrink what is left.
        lists.sort_unstable_by_key(|list| list.len());
        lists.dedup_by(|a, b| std::ptr::eq(*a, *b));
        let (rarest, others) = lists.split_first().expect("a needle of three bytes or more has a window");
        let mut found = rarest.to_vec();
        for list in others {
            found.retain(|document| list.binary_search(document).is_ok());
            if found.is_empty() {
                break;
            }
        }
        Some(found)
    }

    fn postings_of(&self, trigram: Trigram) -> Option<&[u32]> {
        let at = self.trigrams.binary_search_by_key(&trigram, |&(t, _)| t).ok()?;
        let start = self.trigrams[at].1 as usize;
        let end = self.trigrams.get(at + 1).map_or(self.postings.len(), |&(_, next)| next as usize);
        Some(&self.postings[start..end])
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

    #[test]
    fn it_should_narrow_a_search_to_the_documents_holding_every_window() {
        let index = index(&[&["rust for beginners", "learn rust"], &["guitar", "strings and chords"], &["trust", "falls"]]);
        assert_eq!(index.candidates(b"rust"), Some(vec![0, 2]));
        assert_eq!(index.candidates(b"guitar"), Some(vec![1]));
        // Every window is in the first document, half of them in each of its texts: a candidate
        // the caller's own substring search then turns down.
        assert_eq!(index.candidates(b"learn rust for"), Some(vec![0]));
        assert_eq!(index.candidates(b"piano"), Some(vec![]));
        assert_eq!(index.candidates(b"ru"), None, "too short to look up");
    }

    #[test]
    fn it_should_not_take_windows_across_two_texts_of_a_document() {
        let index = index(&[&["abc", "def"], &["crème brûlée"]]);
        assert_eq!(index.candidates(b"cde"), Some(vec![]));
        assert_eq!(index.candidates("brûl".as_bytes()), Some(vec![1]), "windows of bytes, not of characters");
    }

    #[test]
    fn an_empty_index_holds_nothing() {
        assert_eq!(TrigramIndex::build(Vec::<Vec<&[u8]>>::new()).candidates(b"anything"), Some(vec![]));
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
