//! The GraphQL API (juniper on actix-web): the one door for the frontend. Resolvers translate
//! arguments, call the application, and map its answers and errors to the contract
//! (`shared/api/schema.graphql`); nothing else happens here.

mod answers;
mod assets;
pub mod depth;
mod errors;
mod http;
mod json;
mod log_page;
mod mutation;
pub(crate) mod objects;
mod overview;
mod pages;
pub mod prepared;
mod query;
mod rate;
mod request_metrics;
mod state;
mod subscription;
mod visibility;
mod websocket;

use std::sync::Arc;

use juniper::{RootNode, ID};
use uuid::Uuid;

pub use http::configure;
pub use json::Json;
pub use mutation::Mutation;
pub use overview::keep_sampling;
pub use query::Query;
pub use state::ApiState;
pub use subscription::Subscription;

use crate::app::{App, AppError, Caller};

/// Per request: the application and who is calling.
#[derive(Clone)]
pub struct Context {
    pub app: Arc<App>,
    pub caller: Caller,
}

impl Context {
    pub fn new(app: Arc<App>, caller: Caller) -> Self {
        Self { app, caller }
    }

    /// The member or admin asking; anonymous callers get UNAUTHENTICATED.
    fn signed_in(&self) -> Result<Caller, AppError> {
        match self.caller {
            Caller::Anonymous => Err(AppError::Unauthenticated("this needs a bearer token: sign in first".into())),
            caller => Ok(caller),
        }
    }

    /// Admin operations: anonymous callers are UNAUTHENTICATED, members FORBIDDEN.
    fn admin(&self) -> Result<(), AppError> {
        match self.signed_in()? {
            Caller::Admin => Ok(()),
            _ => Err(AppError::Forbidden("this needs the admin token".into())),
        }
    }

    /// A page size within the configured limit.
    fn page_size(&self, first: Option<i32>, default: i32) -> Result<usize, AppError> {
        let first = first.unwrap_or(default);
        let max = self.app.limits().max_page_size;
        match usize::try_from(first) {
            Err(_) => Err(AppError::BadInput("`first` must not be negative".into())),
            Ok(first) if first > max => Err(AppError::Limit(format!("`first` may be at most {max}"))),
            Ok(first) => Ok(first),
        }
    }
}

impl juniper::Context for Context {}

pub type Schema = RootNode<Query, Mutation, Subscription>;

pub fn schema() -> Schema {
    Schema::new(Query, Mutation, Subscription)
}

/// The SDL the server serves (`konnektid schema`).
pub fn sdl() -> String {
    schema().as_sdl()
}

/// Ids are UUIDs; a malformed one is BAD_INPUT.
pub(crate) fn parse_id(id: &ID) -> Result<Uuid, AppError> {
    Uuid::parse_str(id).map_err(|_| {
        AppError::BadInput(format!("{:?} is not a valid id (a UUID such as 1b4e28ba-2fa1-11d2-883f-0016d3cca427)", id.to_string()))
    })
}

pub(crate) fn id(uuid: Uuid) -> ID {
    ID::new(uuid.to_string())
}

/// Positions and versions travel as decimal strings.
pub(crate) fn parse_u64(value: &str, what: &str) -> Result<u64, AppError> {
    value.trim().parse().map_err(|_| AppError::BadInput(format!("{what} must be a non-negative whole number as a string, like \"42\"")))
}
