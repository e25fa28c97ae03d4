//! `GET /console/overview`: commands and events per second and the subscribers' lag over the
//! last minutes, for the console's charts. A task samples the server's own figures every few
//! seconds into a ring: the commands counter of the metrics recorder, the head of the log and
//! the subscribers' statuses.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::json;

use super::ApiState;
use crate::app::{App, Caller};

/// How often a sample is taken, and how many are kept (ten minutes).
pub const EVERY: Duration = Duration::from_secs(5);
const KEPT: usize = 121;

/// The server's cumulative figures at one moment.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    at: DateTime<Utc>,
    /// Commands handled by every aggregate so far (the process's `actors_commands_total`);
    /// `None` where no recorder of ours is installed.
    commands: Option<f64>,
    /// The head of the log: events committed so far.
    events: u64,
    /// The largest lag of any subscriber, and whose it is.
    lag: u64,
    lagging: Option<String>,
}

/// One point of the charts: the rates between two samples, the lag at the later one.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Point {
    at: DateTime<Utc>,
    commands_per_second: Option<f64>,
    events_per_second: f64,
    lag: u64,
    lagging: Option<String>,
}

/// The ring of samples.
#[derive(Default)]
pub struct Overview {
    samples: Mutex<VecDeque<Sample>>,
}

impl Overview {
    fn push(&self, sample: Sample) {
        let mut samples = self.samples.lock();
        if samples.len() == KEPT {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    /// The points between consecutive samples, and one from the last sample to `now`.
    fn points(&self, now: Sample) -> Vec<Point> {
        let samples = self.samples.lock();
        let mut points: Vec<Point> = samples.iter().zip(samples.iter().skip(1)).map(|(a, b)| point(a, b)).collect();
        if let Some(last) = samples.back() {
            if (now.at - last.at).num_milliseconds() >= 500 {
                points.push(point(last, &now));
            }
        }
        points
    }
}

fn point(from: &Sample, to: &Sample) -> Point {
    let seconds = ((to.at - from.at).num_milliseconds() as f64 / 1e3).max(1e-3);
    let commands = match (from.commands, to.commands) {
        (Some(a), Some(b)) => Some(((b - a).max(0.0) / seconds * 10.0).round() / 10.0),
        _ => None,
    };
    let events = (to.events.saturating_sub(from.events) as f64 / seconds * 10.0).round() / 10.0;
    Point { at: to.at, commands_per_second: commands, events_per_second: events, lag: to.lag, lagging: to.lagging.clone() }
}

/// The sum of every series of `name` in a Prometheus text exposition.
fn counter_sum(text: &str, name: &str) -> Option<f64> {
    let mut seen = false;
    let sum = text
        .lines()
        .filter(|line| line.strip_prefix(name).is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' ')))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .inspect(|_| seen = true)
        .sum();
    seen.then_some(sum)
}

async fn sample(app: &App) -> Sample {
    let text = app.render_metrics().await;
    let commands = (!text.is_empty()).then(|| counter_sum(&text, "actors_commands_total").unwrap_or(0.0));
    let events = app.head().await.unwrap_or_default();
    let statuses = app.runtime().subscribers().statuses().await.unwrap_or_default();
    let worst = statuses.iter().max_by_key(|status| status.lag).filter(|status| status.lag > 0);
    Sample {
        at: crate::app::now(),
        commands,
        events,
        lag: worst.map_or(0, |status| status.lag),
        lagging: worst.map(|status| status.name.clone()),
    }
}

/// Samples every [`EVERY`] until the application is gone.
pub async fn keep_sampling(app: Weak<App>, overview: Arc<Overview>) {
    let mut ticks = tokio::time::interval(EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(app) = app.upgrade() else { return };
        overview.push(sample(&app).await);
    }
}

/// `GET /console/overview`, for the admin.
pub async fn serve(request: HttpRequest, state: web::Data<ApiState>) -> HttpResponse {
    let authorization = request.headers().get(actix_web::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match state.app.authenticate(authorization) {
        Ok(Caller::Admin) => {}
        Ok(Caller::Anonymous) | Err(_) => {
            return HttpResponse::Unauthorized().json(json!({ "error": "send the admin token as `Authorization: Bearer <token>`" }))
        }
        Ok(Caller::Member(_)) => return HttpResponse::Forbidden().json(json!({ "error": "this needs the admin token" })),
    }
    let now = sample(&state.app).await;
    let points = state.overview.points(now);
    HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(json!({
        "intervalSeconds": EVERY.as_secs(),
        "points": points,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64, commands: f64, events: u64, lag: u64) -> Sample {
        let at = DateTime::from_timestamp(1_700_000_000 + seconds, 0).expect("a time");
        Sample { at, commands: Some(commands), events, lag, lagging: (lag > 0).then(|| "stats".into()) }
    }

    #[test]
    fn points_are_rates_between_samples_and_the_last_one_reaches_now() {
        let overview = Overview::default();
        overview.push(at(0, 10.0, 100, 0));
        overview.push(at(5, 60.0, 200, 3));
        let points = overview.points(at(7, 80.0, 210, 0));
        let rates: Vec<_> = points.iter().map(|p| (p.commands_per_second, p.events_per_second, p.lag)).collect();
        assert_eq!(rates, vec![(Some(10.0), 20.0, 3), (Some(10.0), 5.0, 0)]);
        assert_eq!(points[0].lagging.as_deref(), Some("stats"));
    }

    #[test]
    fn the_ring_keeps_ten_minutes() {
        let overview = Overview::default();
        for n in 0..(KEPT as i64 + 10) {
            overview.push(at(n * 5, 0.0, 0, 0));
        }
        assert_eq!(overview.samples.lock().len(), KEPT);
    }

    #[test]
    fn a_counter_is_summed_over_its_labels_and_other_metrics_are_ignored() {
        let text = "# TYPE actors_commands_total counter\n\
                    actors_commands_total{aggregate=\"course\",outcome=\"ok\"} 3\n\
                    actors_commands_total{aggregate=\"member\",outcome=\"refused\"} 4\n\
                    actors_commands_total_other 100\n\
                    actors_command_duration_seconds_sum 9\n";
        assert_eq!(counter_sum(text, "actors_commands_total"), Some(7.0));
        assert_eq!(counter_sum(text, "http_requests_total"), None);
    }
}
