//! Requests by operation and status, their latency, answers reused, and GraphQL errors by code,
//! with the metric handles of each operation kept: registering them again for every request
//! (label strings built, the registry searched) took a tenth of an executed read's server time.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, Histogram};
use parking_lot::RwLock;

/// Operations whose handles are kept at most: names come from clients' documents, so past
/// this many the rest are recorded as before, registering per request.
const MOST_OPERATIONS: usize = 1_024;

#[derive(Default)]
pub struct RequestMetrics {
    by_operation: RwLock<HashMap<String, OperationMetrics>>,
}

struct OperationMetrics {
    duration: Histogram,
    /// Requests by HTTP status; a handful at most.
    by_status: Vec<(u16, Counter)>,
    /// Requests answered from a kept answer, registered with the first of them.
    reused: OnceLock<Counter>,
}

impl OperationMetrics {
    fn requests(&self, status: u16) -> Option<&Counter> {
        self.by_status.iter().find(|(kept, _)| *kept == status).map(|(_, counter)| counter)
    }
}

impl RequestMetrics {
    /// Counts one request of `operation` answered with `status` after `elapsed`, and its errors.
    pub fn record(&self, operation: &str, status: u16, error_codes: &[String], elapsed: Duration) {
        for code in error_codes {
            metrics::counter!("graphql_errors_total", "code" => code.clone()).increment(1);
        }
        if let Some(kept) = self.by_operation.read().get(operation) {
            if let Some(requests) = kept.requests(status) {
                requests.increment(1);
                kept.duration.record(elapsed.as_secs_f64());
                return;
            }
        }
        let requests = metrics::counter!("http_requests_total", "operation" => operation.to_owned(), "status" => status.to_string());
        let duration = metrics::histogram!("http_request_duration_seconds", "operation" => operation.to_owned());
        requests.increment(1);
        duration.record(elapsed.as_secs_f64());
        let mut by_operation = self.by_operation.write();
        if by_operation.len() >= MOST_OPERATIONS && !by_operation.contains_key(operation) {
            return;
        }
        let kept = by_operation.entry(operation.to_owned()).or_insert_with(|| OperationMetrics {
            duration,
            by_status: Vec::new(),
            reused: OnceLock::new(),
        });
        if kept.requests(status).is_none() {
            kept.by_status.push((status, requests));
        }
    }

    /// Counts one request of `operation` answered from a kept answer after `elapsed`.
    pub fn record_reused(&self, operation: &str, elapsed: Duration) {
        self.record(operation, 200, &[], elapsed);
        let reused = || metrics::counter!("graphql_answers_reused_total", "operation" => operation.to_owned());
        match self.by_operation.read().get(operation) {
            Some(kept) => kept.reused.get_or_init(reused).increment(1),
            None => reused().increment(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_kept_per_operation_and_status_up_to_a_bound() {
        let metrics = RequestMetrics::default();
        for status in [200, 200, 429] {
            metrics.record("Search", status, &[], Duration::from_millis(1));
        }
        metrics.record("Course", 200, &["BAD_INPUT".to_owned()], Duration::ZERO);
        {
            let kept = metrics.by_operation.read();
            assert_eq!(kept.len(), 2);
            let statuses: Vec<u16> = kept["Search"].by_status.iter().map(|(status, _)| *status).collect();
            assert_eq!(statuses, [200, 429]);
        }
        for n in 0..MOST_OPERATIONS {
            metrics.record(&format!("Operation{n}"), 200, &[], Duration::ZERO);
        }
        assert_eq!(metrics.by_operation.read().len(), MOST_OPERATIONS);
        metrics.record_reused("Search", Duration::ZERO);
        assert!(metrics.by_operation.read()["Search"].reused.get().is_some(), "the reused counter is kept with the rest");
    }
}
