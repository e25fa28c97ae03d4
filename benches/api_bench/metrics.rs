//! Server-side figures from `/metrics` (the `diag_*` figures).

use std::time::Duration;

use super::emit;

/// A scrape of the Prometheus text the server serves on `/metrics` (absent on older servers).
pub(super) struct Metrics(String);

impl Metrics {
    pub(super) async fn scrape(client: &awc::Client, base: &str) -> Option<Self> {
        let mut response = client.get(format!("{base}/metrics")).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        let body = response.body().limit(16 << 20).await.ok()?;
        Some(Self(String::from_utf8_lossy(&body).into_owned()))
    }

    /// The value of the first sample named `name` whose labels contain `labels`.
    pub(super) fn value(&self, name: &str, labels: &str) -> f64 {
        self.0
            .lines()
            .filter(|line| !line.starts_with('#'))
            .find(|line| {
                let (metric, rest) = line.split_once(['{', ' ']).unwrap_or((line, ""));
                metric == name && (labels.is_empty() || rest.contains(labels))
            })
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }

    /// Count and sum of a summary or histogram since `before`.
    fn delta(&self, before: &Metrics, name: &str, labels: &str) -> (f64, f64) {
        let part = |suffix: &str| {
            let name = format!("{name}_{suffix}");
            self.value(&name, labels) - before.value(&name, labels)
        };
        (part("count"), part("sum"))
    }

    /// `<figure>_count` and the mean in ms of a duration metric since `before`.
    pub(super) fn report_mean(&self, before: &Metrics, name: &str, labels: &str, figure: &str) {
        let (count, sum) = self.delta(before, name, labels);
        if count > 0.0 {
            emit(&format!("{figure}_ms_mean"), sum / count * 1e3, "ms (server side)");
        }
    }

    /// Group commits and commands between `before` and this scrape, `elapsed` apart.
    pub(super) fn report_writes(&self, before: &Metrics, elapsed: Duration, prefix: &str) {
        let (commits, appends) = self.delta(before, "actors_group_commit_appends", "");
        if commits > 0.0 {
            emit(&format!("{prefix}_group_commits_per_s"), commits / elapsed.as_secs_f64(), "commits/s");
            emit(&format!("{prefix}_group_commit_appends_mean"), appends / commits, "appends per commit");
            self.report_mean(before, "actors_group_commit_flush_seconds", "", &format!("{prefix}_group_commit_flush"));
        }
        self.report_mean(
            before,
            "http_request_duration_seconds",
            "operation=\"RequestBooking\"",
            &format!("{prefix}_server_RequestBooking"),
        );
        for aggregate in ["booking", "course", "payment"] {
            let labels = format!("aggregate=\"{aggregate}\"");
            let (count, sum) = self.delta(before, "actors_command_duration_seconds", &labels);
            if count > 0.0 {
                emit(&format!("{prefix}_commands_{aggregate}_per_s"), count / elapsed.as_secs_f64(), "commands/s");
                emit(&format!("{prefix}_command_{aggregate}_ms_mean"), sum / count * 1e3, "ms");
            }
        }
    }
}
