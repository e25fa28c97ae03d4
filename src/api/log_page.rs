//! Pages of the global log for `Query.events`: oldest or newest first, filtered by event type,
//! aggregate type and aggregate id. One aggregate's events are read from its stream; other
//! filters scan the log a window at a time, as the store's own type filter does.

use std::sync::Arc;

use actors::{EventStore, Position, RecordedEvent, StreamId};
use uuid::Uuid;

use crate::app::AppError;

/// Events read from the log at once while scanning.
const WINDOW: u64 = 256;
/// The largest window a sparse filter grows to.
const MAX_WINDOW: u64 = 4096;

/// Which events a page keeps.
#[derive(Debug, Default)]
pub struct LogFilter {
    pub types: Option<Vec<String>>,
    pub stream_type: Option<&'static str>,
    pub aggregate_id: Option<Uuid>,
}

impl LogFilter {
    fn keeps(&self, event: &RecordedEvent) -> bool {
        self.types.as_ref().is_none_or(|types| types.contains(&event.event_type))
            && self.stream_type.is_none_or(|stream_type| event.stream.aggregate_type == stream_type)
            && self.aggregate_id.is_none_or(|id| event.stream.aggregate_id == id)
    }

    /// The one stream the filter names, when it names one.
    fn stream(&self) -> Option<StreamId> {
        Some(StreamId::new(self.stream_type?, self.aggregate_id?))
    }
}

/// The positions a page may take events from, both ends included.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub from: Position,
    pub to: Position,
}

fn failed(error: actors::StoreError) -> AppError {
    AppError::internal("could not read the log", error)
}

/// Up to `first` events of `range` that `filter` keeps, oldest first, or newest first.
pub async fn page(
    store: &Arc<dyn EventStore>,
    range: Range,
    first: usize,
    filter: &LogFilter,
    newest_first: bool,
) -> Result<Vec<RecordedEvent>, AppError> {
    if first == 0 || range.from > range.to {
        return Ok(Vec::new());
    }
    match (filter.stream(), newest_first) {
        (Some(stream), _) => stream_page(store, &stream, range, first, filter, newest_first).await,
        (None, false) => oldest_first(store, range, first, filter).await,
        (None, true) => newest_first_scan(store, range, first, filter).await,
    }
}

async fn oldest_first(store: &Arc<dyn EventStore>, range: Range, first: usize, filter: &LogFilter) -> Result<Vec<RecordedEvent>, AppError> {
    let mut found = Vec::with_capacity(first);
    let mut cursor = range.from;
    loop {
        let batch = store.read_all(cursor, WINDOW as usize, filter.types.as_deref()).await.map_err(failed)?;
        let Some(last) = batch.last().map(|event| event.position) else { break };
        let exhausted = batch.len() < WINDOW as usize;
        found.extend(batch.into_iter().filter(|event| event.position <= range.to && filter.keeps(event)).take(first - found.len()));
        if found.len() == first || exhausted || last >= range.to {
            break;
        }
        cursor = last + 1;
    }
    Ok(found)
}

async fn newest_first_scan(
    store: &Arc<dyn EventStore>,
    range: Range,
    first: usize,
    filter: &LogFilter,
) -> Result<Vec<RecordedEvent>, AppError> {
    let mut found = Vec::with_capacity(first);
    let mut top = range.to.min(store.head().await.map_err(failed)?);
    let mut window = WINDOW.max(first as u64 * 2);
    while top >= range.from && found.len() < first {
        let bottom = top.saturating_sub(window - 1).max(range.from);
        let batch = store.read_all(bottom, (top - bottom + 1) as usize, None).await.map_err(failed)?;
        let before = found.len();
        found.extend(batch.into_iter().rev().filter(|event| event.position <= top && filter.keeps(event)).take(first - before));
        if found.len() == before {
            window = (window * 2).min(MAX_WINDOW);
        }
        if bottom == range.from {
            break;
        }
        top = bottom - 1;
    }
    Ok(found)
}

/// One stream's events in `range`, read by version.
async fn stream_page(
    store: &Arc<dyn EventStore>,
    stream: &StreamId,
    range: Range,
    first: usize,
    filter: &LogFilter,
    newest_first: bool,
) -> Result<Vec<RecordedEvent>, AppError> {
    let version = store.stream_version(stream).await.map_err(failed)?;
    let keeps = |event: &RecordedEvent| (range.from..=range.to).contains(&event.position) && filter.keeps(event);
    let mut found = Vec::with_capacity(first);
    if newest_first {
        let mut top = version;
        while top >= 1 && found.len() < first {
            let bottom = top.saturating_sub(WINDOW - 1).max(1);
            let batch = store.read_stream(stream, bottom, (top - bottom + 1) as usize).await.map_err(failed)?;
            let done = batch.first().is_some_and(|event| event.position < range.from);
            let wanted = first - found.len();
            found.extend(batch.into_iter().rev().filter(|event| keeps(event)).take(wanted));
            if done || bottom == 1 {
                break;
            }
            top = bottom - 1;
        }
    } else {
        let mut from = 1;
        while from <= version && found.len() < first {
            let batch = store.read_stream(stream, from, WINDOW as usize).await.map_err(failed)?;
            let done = batch.last().is_none_or(|event| event.position > range.to);
            let wanted = first - found.len();
            found.extend(batch.into_iter().filter(|event| keeps(event)).take(wanted));
            if done {
                break;
            }
            from += WINDOW;
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use actors::{CommandContext, ExpectedVersion, InMemoryStore, NewEvent};

    use super::*;

    /// A log of 600 events over three streams of two types, round robin.
    async fn log() -> (Arc<dyn EventStore>, [StreamId; 3]) {
        let store: Arc<dyn EventStore> = Arc::new(InMemoryStore::new());
        let streams =
            [StreamId::new("course", Uuid::new_v4()), StreamId::new("course", Uuid::new_v4()), StreamId::new("member", Uuid::new_v4())];
        for n in 0..600 {
            let stream = &streams[n % 3];
            let event_type = if n % 2 == 0 { "Even" } else { "Odd" };
            let event = NewEvent { event_id: Uuid::new_v4(), event_type: event_type.into(), schema_version: 1, payload: vec![] };
            store.append(stream, ExpectedVersion::Any, vec![event], &CommandContext::new_request()).await.unwrap().unwrap();
        }
        (store, streams)
    }

    fn positions(events: &[RecordedEvent]) -> Vec<u64> {
        events.iter().map(|event| event.position).collect()
    }

    const ALL: Range = Range { from: 1, to: u64::MAX };

    #[actix_rt::test]
    async fn newest_first_pages_walk_back_from_the_head_without_gaps() {
        let (store, _) = log().await;
        let filter = LogFilter::default();
        let page = page(&store, ALL, 3, &filter, true).await.unwrap();
        assert_eq!(positions(&page), [600, 599, 598]);
        let next = super::page(&store, Range { from: 1, to: 597 }, 300, &filter, true).await.unwrap();
        assert_eq!(positions(&next), (298..=597).rev().collect::<Vec<_>>());
        let last = super::page(&store, Range { from: 1, to: 2 }, 10, &filter, true).await.unwrap();
        assert_eq!(positions(&last), [2, 1]);
    }

    #[actix_rt::test]
    async fn filters_by_type_aggregate_type_and_stream_in_both_directions() {
        let (store, streams) = log().await;
        let members = LogFilter { stream_type: Some("member"), ..LogFilter::default() };
        assert_eq!(positions(&page(&store, ALL, 2, &members, true).await.unwrap()), [600, 597]);
        assert_eq!(positions(&page(&store, ALL, 2, &members, false).await.unwrap()), [3, 6]);
        let odd_courses = LogFilter { types: Some(vec!["Odd".into()]), stream_type: Some("course"), ..LogFilter::default() };
        assert_eq!(positions(&page(&store, ALL, 3, &odd_courses, true).await.unwrap()), [598, 596, 592]);
        let one = LogFilter { stream_type: Some("course"), aggregate_id: Some(streams[1].aggregate_id), ..LogFilter::default() };
        assert_eq!(positions(&page(&store, Range { from: 1, to: 590 }, 2, &one, true).await.unwrap()), [590, 587]);
        assert_eq!(positions(&page(&store, Range { from: 290, to: u64::MAX }, 2, &one, false).await.unwrap()), [290, 293]);
        let by_id_alone = LogFilter { aggregate_id: Some(streams[1].aggregate_id), ..LogFilter::default() };
        assert_eq!(positions(&page(&store, ALL, 200, &by_id_alone, false).await.unwrap()).len(), 200);
    }
}
