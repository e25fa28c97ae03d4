//! Live delivery across nodes. Each node publishes what its own writer commits at once, and
//! learns of other nodes' commits from PostgreSQL: every append transaction notifies the
//! store's channel with the new head, a listener on a connection of its own wakes on that hint
//! (or after a bounded poll, since a notification sent while it was reconnecting is lost) and
//! reads everything past what it has published from the log. The log stays the source of
//! truth, so a lost hint delays delivery by at most one poll and loses nothing.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use parking_lot::Mutex;
use tokio::sync::{broadcast, watch};
use tokio_postgres::{AsyncMessage, Client, NoTls, Statement};

use super::reads::read_all_on;
use crate::event::{Position, RecordedEvent};
use crate::store::{CommittedBatch, StoreError};

/// Events read per query while catching the feed up.
const PAGE: usize = 1_000;

/// The node's live feed: batches go out in position order and never below what went out before.
pub(super) struct Feed {
    /// The last position published. Publishing holds this lock, so batches never interleave.
    published: Mutex<Position>,
    bus: broadcast::Sender<CommittedBatch>,
}

impl Feed {
    pub(super) fn new(head: Position) -> Self {
        Self { published: Mutex::new(head), bus: broadcast::channel(4096).0 }
    }

    pub(super) fn published(&self) -> Position {
        *self.published.lock()
    }

    pub(super) fn subscribe(&self) -> broadcast::Receiver<CommittedBatch> {
        self.bus.subscribe()
    }

    /// Publishes those of `events` (in position order) past the last published position. A
    /// batch may start past the next position (the events between went out on another path or
    /// were too many to read): subscribers read such holes from the log.
    pub(super) fn publish(&self, events: Vec<RecordedEvent>) {
        let mut published = self.published.lock();
        let fresh: Vec<RecordedEvent> = events.into_iter().filter(|event| event.position > *published).collect();
        if let Some(last) = fresh.last() {
            *published = last.position;
            let _ = self.bus.send(fresh.into());
        }
    }

    /// Reads the log past the last published position and publishes it, page by page.
    async fn catch_up(&self, client: &Client, read_all: &Statement) -> Result<(), StoreError> {
        loop {
            let page = read_all_on(client, read_all, self.published() + 1, PAGE).await?;
            let full = page.len() == PAGE;
            self.publish(page);
            if !full {
                return Ok(());
            }
        }
    }
}

/// Follows other nodes' commits until the store's runtime stops, reconnecting after any failure
/// (the database restarted, the connection was cut) with a growing pause, at most `poll` long.
pub(super) async fn listen(config: tokio_postgres::Config, channel: String, feed: Arc<Feed>, poll: Duration) {
    let mut pause = Duration::from_millis(50);
    loop {
        let error = follow(&config, &channel, &feed, poll, &mut pause).await;
        tracing::warn!(%error, "event store listener lost its connection; reconnecting");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(poll.max(Duration::from_millis(50)));
    }
}

/// Listens and delivers until the connection fails; answers why.
async fn follow(config: &tokio_postgres::Config, channel: &str, feed: &Feed, poll: Duration, pause: &mut Duration) -> StoreError {
    match try_follow(config, channel, feed, poll, pause).await {
        Err(error) => error,
        Ok(never) => match never {},
    }
}

async fn try_follow(
    config: &tokio_postgres::Config,
    channel: &str,
    feed: &Feed,
    poll: Duration,
    pause: &mut Duration,
) -> Result<std::convert::Infallible, StoreError> {
    let (client, mut connection) = config.connect(NoTls).await.map_err(StoreError::backend)?;
    // The connection's messages: notifications become the highest head hinted so far.
    let (hints, mut hinted) = watch::channel(0u64);
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(notification) = message {
                let head = notification.payload().parse().unwrap_or(u64::MAX);
                hints.send_if_modified(|hinted| std::mem::replace(hinted, head.max(*hinted)) < head);
            }
        }
    });
    client.batch_execute(&format!("LISTEN {channel}")).await.map_err(StoreError::backend)?;
    let read_all = client.prepare(&super::reads::read_all_sql()).await.map_err(StoreError::backend)?;
    // Listening first, then reading: a commit in between is read now or hinted later.
    feed.catch_up(&client, &read_all).await?;
    *pause = Duration::from_millis(50);
    loop {
        tokio::select! {
            changed = hinted.changed() => {
                if changed.is_err() {
                    return Err(StoreError::Closed);
                }
                if *hinted.borrow_and_update() <= feed.published() {
                    continue;
                }
            }
            () = tokio::time::sleep(poll) => {}
        }
        feed.catch_up(&client, &read_all).await?;
    }
}
