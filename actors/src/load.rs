//! Rehydration: an aggregate's state from its latest snapshot and the events after it. Used by
//! the live actors, by time travel and by reactions that must read what the store holds.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::aggregate::Aggregate;
use crate::codec::{decode_bytes, CodecError, EventCodec};
use crate::event::{StreamId, Version};
use crate::store::{EventStore, StoreError};

const READ_PAGE: usize = 10_000;

/// Loads the state of a stream: the latest snapshot, if any, then the events after it.
/// With `up_to`, stops at that version (time travel) and uses a snapshot only if not newer.
pub async fn load_state<A: Aggregate>(
    store: &dyn EventStore,
    stream: &StreamId,
    codec: &EventCodec<A::Event>,
    up_to: Option<Version>,
) -> Result<(A::State, Version), LoadError> {
    let limit = up_to.unwrap_or(Version::MAX);
    let mut state = A::State::default();
    let mut version = 0;
    if let Some(snapshot) = store.load_snapshot(stream).await? {
        if snapshot.version <= limit {
            if let Ok(saved) = decode_bytes::<A::State>(&snapshot.state) {
                state = saved;
                version = snapshot.version;
            } else {
                // A snapshot of an older state layout: ignore it, the log is the truth.
                tracing::warn!(%stream, "snapshot could not be decoded; replaying the whole stream");
            }
        }
    }
    while version < limit {
        let page = store.read_stream(stream, version + 1, READ_PAGE.min((limit - version) as usize)).await?;
        let Some(last) = page.last() else { break };
        let last_version = last.version;
        // `apply` is the domain's code: a panic in it fails this load, never its caller.
        let folded = catch_unwind(AssertUnwindSafe(|| {
            page.iter().try_fold(state, |state, recorded| {
                let event = codec.decode(recorded)?;
                Ok::<_, LoadError>(A::apply(state, &event))
            })
        }));
        state = folded.map_err(|_| LoadError::Panicked)??;
        version = last_version;
        if page.len() < READ_PAGE {
            break;
        }
    }
    Ok((state, version))
}

/// Why a stream could not be loaded into its aggregate's state.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("an event of the stream could not be decoded: {0}")]
    Codec(#[from] CodecError),
    #[error("the aggregate panicked while applying its stream")]
    Panicked,
}
