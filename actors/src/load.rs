//! Rehydration: an aggregate's state from its latest snapshot and the events after it. Used by
//! the live actors, by time travel and by reactions that must read what the store holds.

use std::ops::ControlFlow;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::aggregate::Aggregate;
use crate::codec::{decode_bytes, CodecError, EventCodec};
use crate::event::{StreamId, Version};
use crate::store::{EventStore, EventView, StoreError};

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
    // The store lends each event's bytes; the state moves through `apply` one event at a time.
    let mut state = Some(state);
    let mut failed = None;
    while version < limit {
        let (from, page) = (version + 1, READ_PAGE.min((limit - version) as usize));
        let mut fold = |event: EventView<'_>| {
            let applied = codec.decode_view(event).map_err(LoadError::from).and_then(|decoded| {
                let current = state.take().ok_or(LoadError::Panicked)?;
                // `apply` is the domain's code: a panic in it fails this load, never its caller.
                catch_unwind(AssertUnwindSafe(|| A::apply(current, &decoded))).map_err(|_| LoadError::Panicked)
            });
            match applied {
                Ok(next) => {
                    state = Some(next);
                    version = event.version;
                    ControlFlow::Continue(())
                }
                Err(error) => {
                    failed = Some(error);
                    ControlFlow::Break(())
                }
            }
        };
        let handed = store.fold_stream(stream, from, page, &mut fold).await?;
        if let Some(error) = failed.take() {
            return Err(error);
        }
        if handed < page {
            break;
        }
    }
    Ok((state.ok_or(LoadError::Panicked)?, version))
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
