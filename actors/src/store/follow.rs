//! Reading the log from a position on, history first, then live, as one stream.

use std::sync::Arc;

use futures::Stream;
use tokio::sync::broadcast;

use super::{EventStore, StoreError};
use crate::event::{Position, RecordedEvent};

const PAGE: usize = 256;

/// Every event from `from` on, in position order, without end: the history is read page by
/// page, then each live batch wakes the reader, which reads the new events from the store. The
/// store stays the source of truth, so a lagging receiver cannot make the stream skip anything.
pub fn follow(store: Arc<dyn EventStore>, from: Position) -> impl Stream<Item = Result<RecordedEvent, StoreError>> + Send {
    struct State {
        store: Arc<dyn EventStore>,
        live: broadcast::Receiver<super::CommittedBatch>,
        next: Position,
        buffered: std::collections::VecDeque<RecordedEvent>,
        failed: bool,
    }
    // Subscribe first, so nothing committed while the history is read goes unnoticed.
    let live = store.subscribe();
    let state = State { store, live, next: from.max(1), buffered: Default::default(), failed: false };
    futures::stream::unfold(state, |mut state| async move {
        if state.failed {
            return None;
        }
        loop {
            if let Some(event) = state.buffered.pop_front() {
                state.next = event.position + 1;
                return Some((Ok(event), state));
            }
            match state.store.read_all(state.next, PAGE, None).await {
                Ok(page) if !page.is_empty() => state.buffered.extend(page),
                Ok(_) => match state.live.recv().await {
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                Err(error) => {
                    state.failed = true;
                    return Some((Err(error), state));
                }
            }
        }
    })
}
