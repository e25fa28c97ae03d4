//! The admin's operations: rebuilding a read model, and retrying or giving up on the events a
//! subscriber parked. The API and the CLI both come through here.

use actors::{ParkedError, ParkedEvent, RebuildError};
use actors::{Position, SubscriberStatus};

use super::{App, AppError, Caller};

impl App {
    /// Admin: rebuilds a read model from the whole log while the current copy keeps serving.
    /// An unknown name is BAD_INPUT even for a member: the contract ranks it above FORBIDDEN.
    pub async fn rebuild_projection(&self, caller: Caller, name: &str) -> Result<SubscriberStatus, AppError> {
        let names = super::read_model_names();
        if !names.contains(&name) {
            let names = names.join(", ");
            return Err(AppError::BadInput(format!("there is no read model named {name:?}; read models: {names}")));
        }
        admin_only(caller, "only the admin may rebuild a projection")?;
        self.runtime.subscribers().rebuild(name).await.map_err(|error| match error {
            RebuildError::AlreadyRebuilding(_) => AppError::RuleViolation(error.to_string()),
            other => AppError::internal("could not start a rebuild", other),
        })
    }

    /// Admin: the events `subscriber` (or every subscriber) parked, by subscriber name.
    pub fn parked_events(&self, caller: Caller, subscriber: Option<&str>) -> Result<Vec<(String, ParkedEvent)>, AppError> {
        admin_only(caller, ADMIN_TOKEN_NEEDED)?;
        let projections = self.runtime.subscribers();
        Ok(match subscriber {
            Some(name) => projections.parked(name).into_iter().map(|parked| (name.to_owned(), parked)).collect(),
            None => projections.all_parked(),
        })
    }

    /// Admin: applies a parked event again (after its cause was fixed); on success it is no
    /// longer parked. Answers the subscriber's status.
    pub async fn retry_parked_event(&self, caller: Caller, subscriber: &str, position: Position) -> Result<SubscriberStatus, AppError> {
        admin_only(caller, ADMIN_TOKEN_NEEDED)?;
        self.runtime.subscribers().retry_parked(subscriber, position).await.map_err(parked_error)?;
        self.subscriber_status(subscriber).await
    }

    /// Admin: gives up on a parked event for good. Answers the subscriber's status.
    pub async fn skip_parked_event(&self, caller: Caller, subscriber: &str, position: Position) -> Result<SubscriberStatus, AppError> {
        admin_only(caller, ADMIN_TOKEN_NEEDED)?;
        self.runtime.subscribers().skip_parked(subscriber, position).map_err(parked_error)?;
        self.subscriber_status(subscriber).await
    }

    async fn subscriber_status(&self, subscriber: &str) -> Result<SubscriberStatus, AppError> {
        let statuses = self.runtime.subscribers().statuses().await.map_err(|e| AppError::internal("could not read statuses", e))?;
        statuses
            .into_iter()
            .find(|s| s.name == subscriber)
            .ok_or_else(|| AppError::BadInput(format!("no subscriber is named {subscriber:?}")))
    }
}

const ADMIN_TOKEN_NEEDED: &str = "this needs the admin token";

fn admin_only(caller: Caller, refusal: &str) -> Result<(), AppError> {
    match caller {
        Caller::Admin => Ok(()),
        Caller::Anonymous => Err(AppError::Unauthenticated("this needs a bearer token: sign in first".into())),
        Caller::Member(_) => Err(AppError::Forbidden(refusal.to_owned())),
    }
}

fn parked_error(error: ParkedError) -> AppError {
    match error {
        ParkedError::UnknownSubscriber(_) => AppError::BadInput(error.to_string()),
        ParkedError::NotParked { .. } => AppError::NotFound(error.to_string()),
        ParkedError::FailedAgain(_) => AppError::RuleViolation(error.to_string()),
        ParkedError::NotRunning | ParkedError::Local(_) => AppError::internal("a parked event could not be handled", error),
    }
}
