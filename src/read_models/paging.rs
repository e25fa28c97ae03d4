//! Paging shared by the list queries: who is asking, opaque cursors, and the connection a page becomes.

use actors::{Position, SubscriberError};
use thiserror::Error;
use uuid::Uuid;

/// Who runs a query, deciding which drafts and bookings a list may show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Caller {
    /// No bearer token: sees only what anyone may see.
    #[default]
    Anonymous,
    /// A member: also its own drafts, and bookings where it is the learner or the teacher.
    Member(Uuid),
    /// The admin token: everything.
    Admin,
}

/// Why a query could not be answered.
#[derive(Debug, Error)]
pub enum QueryError {
    /// `after` is not a cursor this server handed out (the API answers BAD_INPUT).
    #[error("the cursor is malformed: pass the `cursor` of an edge of the previous page")]
    BadCursor,
    /// The local storage of the read model failed or holds bytes it cannot decode.
    #[error("the read model could not be read: {0}")]
    Storage(#[from] SubscriberError),
}

/// One page of a list: at most `first` items after the item whose cursor is `after`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageRequest {
    pub first: usize,
    pub after: Option<String>,
}

impl PageRequest {
    pub fn first(first: usize) -> Self {
        Self { first, after: None }
    }

    pub fn after(first: usize, after: impl Into<String>) -> Self {
        Self { first, after: Some(after.into()) }
    }
}

/// A page of items, each with the cursor that continues after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection<T> {
    pub items: Vec<(String, T)>,
    pub has_next_page: bool,
    /// The cursor of the last item of this page, `None` when the page is empty.
    pub end_cursor: Option<String>,
    /// Items matching the filter, on every page together.
    pub total_count: usize,
}

/// Width of the ordering key: the inverted position, then the id.
pub(crate) const CURSOR_LEN: usize = 8 + 16;

/// A place in a newest-first list: the position that created the item (inverted, so that byte
/// order is newest first) and its id (ties cannot happen, but keep keys unique anyway). Its
/// bytes are the tail of every index key, so a cursor compares exactly like the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor([u8; CURSOR_LEN]);

impl Cursor {
    pub fn new(position: Position, id: Uuid) -> Self {
        let mut bytes = [0; CURSOR_LEN];
        bytes[..8].copy_from_slice(&(u64::MAX - position).to_be_bytes());
        bytes[8..].copy_from_slice(id.as_bytes());
        Self(bytes)
    }

    /// Reads the key bytes at the end of an index key.
    pub(crate) fn from_key_tail(key: &[u8]) -> Result<Self, QueryError> {
        let tail = key.len().checked_sub(CURSOR_LEN).map(|start| &key[start..]).ok_or(QueryError::BadCursor)?;
        let bytes: [u8; CURSOR_LEN] = tail.try_into().map_err(|_| QueryError::BadCursor)?;
        Ok(Self(bytes))
    }

    /// Parses what [`Cursor::encode`] wrote; anything else is [`QueryError::BadCursor`].
    pub fn parse(text: &str) -> Result<Self, QueryError> {
        // `from_str_radix` would also take a sign ("+f"): only hex digits are a cursor.
        if text.len() != CURSOR_LEN * 2 || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(QueryError::BadCursor);
        }
        let mut bytes = [0; CURSOR_LEN];
        for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| QueryError::BadCursor)?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| QueryError::BadCursor)?;
        }
        Ok(Self(bytes))
    }

    /// Lower-case hex: opaque to clients, safe in URLs and JSON.
    pub fn encode(&self) -> String {
        // Every edge of every page carries one: written directly, not through `format!` per byte.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = String::with_capacity(CURSOR_LEN * 2);
        for byte in self.0 {
            text.push(char::from(HEX[usize::from(byte >> 4)]));
            text.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        text
    }

    pub fn id(&self) -> Uuid {
        let mut id = [0; 16];
        id.copy_from_slice(&self.0[8..]);
        Uuid::from_bytes(id)
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Cuts one page out of the matching items, given in list order: counts every match (for
/// `total_count`), keeps `first` of those after the cursor, and looks one further for `has_next_page`.
pub(crate) fn paginate<T>(
    matches: impl Iterator<Item = Result<(Cursor, T), QueryError>>,
    page: &PageRequest,
) -> Result<Connection<T>, QueryError> {
    let after = page.after.as_deref().map(Cursor::parse).transpose()?;
    let mut items = Vec::new();
    let mut has_next_page = false;
    let mut total_count = 0;
    for entry in matches {
        let (cursor, item) = entry?;
        total_count += 1;
        if after.is_some_and(|after| cursor <= after) {
            continue;
        }
        if items.len() < page.first {
            items.push((cursor.encode(), item));
        } else {
            has_next_page = true;
        }
    }
    let end_cursor = items.last().map(|(cursor, _)| cursor.clone());
    Ok(Connection { items, has_next_page, end_cursor, total_count })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_is_lower_case_hex_of_its_bytes_and_parses_back() {
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        let cursor = Cursor::new(u64::MAX - 0xa5, id);
        let text = cursor.encode();
        assert_eq!(text, "00000000000000a50123456789abcdeffedcba9876543210");
        assert_eq!(Cursor::parse(&text).ok(), Some(cursor));
        assert!(matches!(Cursor::parse(&text.to_uppercase()[1..]), Err(QueryError::BadCursor)));
    }
}
