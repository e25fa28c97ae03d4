//! Turning domain events into stored bytes and back, across schema versions.
//!
//! Payloads are bincode (compact, fast, not self-describing). bincode encodes an enum by variant
//! index, so the rule for an event enum is the one protobuf has for tags: add variants at the
//! end, never reorder or remove them. To change a variant's fields, raise its schema version and
//! register an upcaster that turns the old bytes into the new ones; the chain runs on every read,
//! so old events load forever and nothing stored is rewritten.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use crate::event::{NewEvent, RecordedEvent};
use crate::store::EventView;

/// An event type of a domain: serializable, named, versioned.
pub trait DomainEvent: Serialize + DeserializeOwned + Clone + Debug + Send + Sync + 'static {
    /// The stored name of this event (e.g. `CoursePublished`). Never rename a stored one.
    fn event_type(&self) -> &'static str;

    /// The schema version this code writes for this event type.
    fn schema_version(&self) -> u32 {
        1
    }

    /// The upcasters that bring older stored versions up to the current ones.
    fn upcasters() -> Upcasters {
        Upcasters::default()
    }
}

/// Why bytes could not become an event (or the other way round).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("could not encode event: {0}")]
    Encode(String),
    #[error("could not decode {event_type} v{schema_version}: {reason}")]
    Decode {
        event_type: String,
        schema_version: u32,
        #[source]
        reason: BytesError,
    },
}

/// Why stored bytes are not a value of the type asked for. Bytes come from disk and from
/// backups, so every malformed input ends here, never in a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BytesError {
    #[error("the bytes end before the value does")]
    Truncated,
    #[error("{left} bytes left over after decoding")]
    TrailingBytes { left: usize },
    /// bincode's own description of what it could not read (a bad tag, length or UTF-8).
    #[error("the bytes are not a valid value: {reason}")]
    Invalid { reason: String },
}

type UpcastFn = Arc<dyn Fn(&[u8]) -> Result<Vec<u8>, CodecError> + Send + Sync>;

/// A chain of upcasters per event type: `(type, v)` turns bytes of version v into v + 1.
#[derive(Clone, Default)]
pub struct Upcasters {
    steps: HashMap<(String, u32), UpcastFn>,
}

impl Upcasters {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the step from `from_version` to `from_version + 1` of `event_type`: decode the
    /// old bytes as `Old`, convert, encode as `New`. `Old` is usually the old enum, kept in a
    /// `legacy` module next to the current one.
    pub fn register<Old, New>(mut self, event_type: &str, from_version: u32, convert: fn(Old) -> New) -> Self
    where
        Old: DeserializeOwned + 'static,
        New: Serialize + 'static,
    {
        let name = event_type.to_owned();
        let step = move |bytes: &[u8]| {
            let old: Old = decode_bytes(bytes).map_err(|reason| CodecError::Decode {
                event_type: name.clone(),
                schema_version: from_version,
                reason,
            })?;
            encode_bytes(&convert(old))
        };
        self.steps.insert((event_type.to_owned(), from_version), Arc::new(step));
        self
    }

    /// Runs the chain from `schema_version` as far as it goes.
    pub fn upcast<'a>(&self, event_type: &str, mut schema_version: u32, bytes: &'a [u8]) -> Result<std::borrow::Cow<'a, [u8]>, CodecError> {
        let mut current = std::borrow::Cow::Borrowed(bytes);
        while let Some(step) = self.steps.get(&(event_type.to_owned(), schema_version)) {
            current = std::borrow::Cow::Owned(step(&current)?);
            schema_version += 1;
        }
        Ok(current)
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// Encodes and decodes one domain's events, with its upcasters built once.
#[derive(Clone)]
pub struct EventCodec<E> {
    upcasters: Upcasters,
    _event: std::marker::PhantomData<fn() -> E>,
}

impl<E: DomainEvent> Default for EventCodec<E> {
    fn default() -> Self {
        Self { upcasters: E::upcasters(), _event: std::marker::PhantomData }
    }
}

impl<E: DomainEvent> EventCodec<E> {
    pub fn encode(&self, event: &E) -> Result<NewEvent, CodecError> {
        Ok(NewEvent {
            event_id: Uuid::new_v4(),
            event_type: event.event_type().to_owned(),
            schema_version: event.schema_version(),
            payload: encode_bytes(event)?,
        })
    }

    pub fn decode(&self, recorded: &RecordedEvent) -> Result<E, CodecError> {
        self.decode_view(EventView::of(recorded))
    }

    /// [`EventCodec::decode`] of an event a store lends (see `EventStore::fold_stream`).
    pub fn decode_view(&self, event: EventView<'_>) -> Result<E, CodecError> {
        let bytes = if self.upcasters.is_empty() {
            std::borrow::Cow::Borrowed(event.payload)
        } else {
            self.upcasters.upcast(event.event_type, event.schema_version, event.payload)?
        };
        decode_bytes(&bytes).map_err(|reason| CodecError::Decode {
            event_type: event.event_type.to_owned(),
            schema_version: event.schema_version,
            reason,
        })
    }
}

/// bincode with the standard configuration: the one format used for payloads and snapshots.
pub fn encode_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    bincode::serde::encode_to_vec(value, bincode::config::standard()).map_err(|e| CodecError::Encode(e.to_string()))
}

/// Most bytes one decoded value may claim. Without a limit bincode allocates whatever length a
/// damaged prefix announces before it finds the input too short (exabytes: an abort, not an
/// error); with one it refuses first. Far above any event, snapshot or read-model value.
const DECODE_LIMIT: usize = 256 * 1024 * 1024;

/// Decodes bincode, refusing trailing bytes: they mean the bytes were written for another
/// layout (bincode would otherwise silently read a prefix of them).
pub fn decode_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BytesError> {
    let config = bincode::config::standard().with_limit::<DECODE_LIMIT>();
    let (value, read) = bincode::serde::decode_from_slice(bytes, config).map_err(|error| match error {
        bincode::error::DecodeError::UnexpectedEnd { .. } => BytesError::Truncated,
        other => BytesError::Invalid { reason: other.to_string() },
    })?;
    if read != bytes.len() {
        return Err(BytesError::TrailingBytes { left: bytes.len() - read });
    }
    Ok(value)
}
