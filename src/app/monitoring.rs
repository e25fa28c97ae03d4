//! Metrics in the Prometheus text format for `GET /metrics`, and readiness for `GET /ready`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::App;

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide recorder: metrics are global, so every server of a process (tests start
/// several) shares one, labelled with the first one's node id. `None` if another recorder was
/// installed first.
pub fn recorder(node: &str) -> Option<PrometheusHandle> {
    RECORDER
        .get_or_init(|| match PrometheusBuilder::new().add_global_label("node", node).install_recorder() {
            Ok(handle) => Some(handle),
            Err(error) => {
                tracing::warn!(%error, "metrics are not recorded");
                None
            }
        })
        .clone()
}

/// Why the server is not ready to take traffic.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unready {
    pub reasons: Vec<String>,
}

impl App {
    /// Every metric, with subscriber lags brought up to date first (lag needs the head).
    pub async fn render_metrics(&self) -> String {
        if let Ok(statuses) = self.runtime.subscribers().statuses().await {
            for status in statuses {
                metrics::gauge!("actors_subscriber_lag", "subscriber" => status.name.clone()).set(status.lag as f64);
                metrics::gauge!("actors_subscriber_parked", "subscriber" => status.name).set(status.parked as f64);
            }
        }
        self.metrics.as_ref().map(PrometheusHandle::render).unwrap_or_default()
    }

    /// Ready when the store answers and takes writes, and every subscriber is within the
    /// configured lag.
    pub async fn readiness(&self) -> Result<(), Unready> {
        let statuses = match self.runtime.subscribers().statuses().await {
            Ok(statuses) => statuses,
            Err(error) => return Err(Unready { reasons: vec![format!("the event store does not answer: {error}")] }),
        };
        let reasons = unready_reasons(self.runtime.store().poisoned(), statuses, self.ready_max_lag);
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(Unready { reasons })
        }
    }
}

fn unready_reasons(poisoned: Option<actors::Poisoned>, statuses: Vec<actors::SubscriberStatus>, max_lag: u64) -> Vec<String> {
    // A store that refuses writes comes first: every subscriber's lag is moot then.
    let store = poisoned.map(|poisoned| poisoned.to_string());
    let subscribers = statuses.into_iter().filter_map(|status| match status.state {
        actors::SubscriberState::Stopped => Some(format!("{} has stopped", status.name)),
        // Another node runs it: its lag is that node's readiness, not this one's.
        actors::SubscriberState::Standby => None,
        _ if status.lag > max_lag => Some(format!("{} is {} events behind (at most {max_lag} allowed)", status.name, status.lag)),
        _ => None,
    });
    store.into_iter().chain(subscribers).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_that_refuses_writes_makes_the_server_unready_with_the_reason() {
        let cause = std::io::Error::other("No space left on device");
        let poisoned = actors::Poisoned::new(actors::SyncStep::Fsync, cause);
        let reasons = unready_reasons(Some(poisoned), Vec::new(), 100);
        assert_eq!(reasons.len(), 1);
        assert!(reasons[0].contains("fdatasync failed (No space left on device)"), "{reasons:?}");
        assert!(unready_reasons(None, Vec::new(), 100).is_empty());
    }
}
