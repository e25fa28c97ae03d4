//! The runtime's metrics, through the `metrics` facade: the application installs a recorder
//! (e.g. Prometheus) and every figure below shows up there. Names and labels:
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `actors_commands_total` | counter | `aggregate`, `outcome` = ok, refused, conflict, error |
//! | `actors_command_duration_seconds` | histogram | `aggregate` |
//! | `actors_conflict_retries_total` | counter: a command reloaded its aggregate after another writer's commit, and retried | `aggregate` |
//! | `actors_events_appended_total` | counter | |
//! | `actors_group_commit_appends` | histogram (appends per group commit) | |
//! | `actors_group_commit_flush_seconds` | histogram | |
//! | `actors_store_poisoned` | gauge: 1 once a durable write failed and the store refuses writes, 0 from its (re)opening | |
//! | `actors_live_actors` | gauge | `aggregate` |
//! | `actors_rehydrations_total` | counter | `aggregate` |
//! | `actors_rehydration_seconds` | histogram | `aggregate` |
//! | `actors_passivations_total` | counter | `aggregate` |
//! | `actors_reloads_total` | counter: a live actor read its stream again (after a conflict, or behind another node's writes) | `aggregate` |
//! | `actors_subscriber_position` | gauge | `subscriber` |
//! | `actors_subscriber_retries_total` | counter | `subscriber` |
//! | `actors_subscriber_parked_total` | counter | `subscriber` |

use std::time::Duration;

use crate::aggregate::Aggregate;
use crate::command::CommandError;

pub(crate) fn command_handled<T, A: Aggregate>(aggregate: &'static str, result: &Result<T, CommandError<A>>, elapsed: Duration) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(CommandError::Rejected(_)) => "refused",
        Err(CommandError::Conflict(_)) => "conflict",
        Err(_) => "error",
    };
    metrics::counter!("actors_commands_total", "aggregate" => aggregate, "outcome" => outcome).increment(1);
    metrics::histogram!("actors_command_duration_seconds", "aggregate" => aggregate).record(elapsed.as_secs_f64());
}

pub(crate) fn conflict_retried(aggregate: &'static str) {
    metrics::counter!("actors_conflict_retries_total", "aggregate" => aggregate).increment(1);
}

pub(crate) fn group_committed(appends: usize, events: usize, flush: Duration) {
    metrics::counter!("actors_events_appended_total").increment(events as u64);
    metrics::histogram!("actors_group_commit_appends").record(appends as f64);
    metrics::histogram!("actors_group_commit_flush_seconds").record(flush.as_secs_f64());
}

pub(crate) fn store_poisoned(poisoned: bool) {
    metrics::gauge!("actors_store_poisoned").set(if poisoned { 1.0 } else { 0.0 });
}

pub(crate) fn live_actors(aggregate: &'static str, live: usize) {
    metrics::gauge!("actors_live_actors", "aggregate" => aggregate).set(live as f64);
}

pub(crate) fn rehydrated(aggregate: &'static str, elapsed: Duration) {
    metrics::counter!("actors_rehydrations_total", "aggregate" => aggregate).increment(1);
    metrics::histogram!("actors_rehydration_seconds", "aggregate" => aggregate).record(elapsed.as_secs_f64());
}

pub(crate) fn reloaded(aggregate: &'static str) {
    metrics::counter!("actors_reloads_total", "aggregate" => aggregate).increment(1);
}

pub(crate) fn passivated(aggregate: &'static str, count: u64) {
    metrics::counter!("actors_passivations_total", "aggregate" => aggregate).increment(count);
}

pub(crate) fn subscriber_position(subscriber: &str, position: u64) {
    metrics::gauge!("actors_subscriber_position", "subscriber" => subscriber.to_owned()).set(position as f64);
}

pub(crate) fn subscriber_retried(subscriber: &str) {
    metrics::counter!("actors_subscriber_retries_total", "subscriber" => subscriber.to_owned()).increment(1);
}

pub(crate) fn subscriber_parked(subscriber: &str) {
    metrics::counter!("actors_subscriber_parked_total", "subscriber" => subscriber.to_owned()).increment(1);
}
