//! What every handler of the API shares: the application, the schema, and the caches and limits
//! in front of it.

use std::sync::Arc;

use super::answers::Answers;
use super::overview::Overview;
use super::prepared::PreparedOperations;
use super::rate::RateLimit;
use super::request_metrics::RequestMetrics;
use super::Schema;
use crate::app::App;

/// What every handler needs.
#[derive(Clone)]
pub struct ApiState {
    pub app: Arc<App>,
    pub schema: Arc<Schema>,
    pub operations: Arc<PreparedOperations>,
    pub rate: Arc<RateLimit>,
    pub answers: Arc<Answers>,
    pub overview: Arc<Overview>,
    pub request_metrics: Arc<RequestMetrics>,
}

impl ApiState {
    pub fn new(app: Arc<App>, schema: Arc<Schema>) -> Self {
        let operations = Arc::new(PreparedOperations::new(schema.clone()));
        let limits = app.limits();
        let rate = Arc::new(RateLimit::new(limits.rate_limit_per_second, limits.rate_limit_burst));
        let answers = Arc::new(Answers::new(limits.response_cache_mib.saturating_mul(1024 * 1024)));
        Self { app, schema, operations, rate, answers, overview: Arc::default(), request_metrics: Arc::default() }
    }

    /// The same, executing every query: what a read costs without kept answers.
    pub fn keeping_no_answers(self) -> Self {
        Self { answers: Arc::new(Answers::new(0)), ..self }
    }
}
