//! Waiting for the choreography: the subscribers' lags and the decided bookings, as the API
//! shows them, polled until everything is settled.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::seed::{gql, STATUS};

/// Subscribers' lags and the booking counts, as the API shows them.
pub(super) struct Status {
    /// Name, position, lag of every subscriber.
    pub(super) lags: Vec<(String, u64, u64)>,
    pub(super) confirmed: u64,
    pub(super) cancelled: u64,
}

impl Status {
    pub(super) async fn read(client: &awc::Client, graphql: &str) -> Self {
        let data = gql(client, graphql, None, STATUS, json!({})).await;
        let number = |v: &Value| v.as_str().and_then(|s| s.parse().ok()).or_else(|| v.as_u64()).unwrap_or(0);
        let lags = data["projections"].as_array().into_iter().flatten();
        let lags = lags.map(|p| (p["name"].as_str().unwrap_or("?").to_owned(), number(&p["position"]), number(&p["lag"])));
        Self {
            lags: lags.collect(),
            confirmed: data["stats"]["bookingsConfirmed"].as_u64().unwrap_or(0),
            cancelled: data["stats"]["bookingsCancelled"].as_u64().unwrap_or(0),
        }
    }

    pub(super) fn settled(&self) -> bool {
        self.lags.iter().all(|(_, _, lag)| *lag == 0)
    }

    pub(super) fn position(&self, subscriber: &str) -> u64 {
        self.lags.iter().find(|(name, _, _)| name == subscriber).map_or(0, |(_, position, _)| *position)
    }
}

/// Bookings confirmed or cancelled since `before`.
pub(super) fn finished_since(status: &Status, before: &Status) -> u64 {
    (status.confirmed + status.cancelled).saturating_sub(before.confirmed + before.cancelled)
}

/// What `settle` saw: the last status, when every expected booking was first seen decided, and
/// whether everything settled in time.
pub(super) struct Settled {
    pub(super) status: Status,
    pub(super) decided_at: Option<Instant>,
    pub(super) done: bool,
}

/// Polls until every subscriber is at lag 0 and `expected` more bookings than in `before` are
/// decided (or lag 0 twice in a row, for bookings that end otherwise); not done after `timeout`.
pub(super) async fn settle(client: &awc::Client, graphql: &str, before: &Status, expected: u64, timeout: Duration) -> Settled {
    let deadline = Instant::now() + timeout;
    let mut settled_polls = 0;
    let mut decided_at = None;
    loop {
        let status = Status::read(client, graphql).await;
        if decided_at.is_none() && finished_since(&status, before) >= expected {
            decided_at = Some(Instant::now());
        }
        settled_polls = if status.settled() { settled_polls + 1 } else { 0 };
        if settled_polls >= 2 || (settled_polls == 1 && decided_at.is_some()) {
            return Settled { status, decided_at, done: true };
        }
        if Instant::now() > deadline {
            return Settled { status, decided_at, done: false };
        }
        // The poll's period bounds how late the last confirmation is seen (the flow figure's
        // clock stops there): 50 ms overstated a 1.5 s flow by up to 3%.
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
}
