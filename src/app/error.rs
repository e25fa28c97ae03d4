//! The application's errors, one variant per error code of the API contract.

use actors::{Aggregate, CommandError, InspectError};

use crate::domain::{Refusal, RefusalKind};

/// Why a request failed, in the contract's words. The message is one a person can act on;
/// `Internal` carries nothing a client should see (the cause is logged where it happens).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Limit(String),
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    RuleViolation(String),
    #[error("{0}")]
    Timeout(String),
    #[error("internal error")]
    Internal,
}

impl AppError {
    /// The contract's `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Limit(_) => "LIMIT",
            AppError::BadInput(_) => "BAD_INPUT",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::Conflict(_) => "CONFLICT",
            AppError::AlreadyExists(_) => "ALREADY_EXISTS",
            AppError::RuleViolation(_) => "RULE_VIOLATION",
            AppError::Timeout(_) => "TIMEOUT",
            AppError::Internal => "INTERNAL",
        }
    }

    /// Logs the cause and answers `Internal`.
    pub fn internal(context: &str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "{context}");
        AppError::Internal
    }

    /// A value a person typed that the domain cannot accept.
    pub fn bad_input(error: crate::domain::values::ValueError) -> Self {
        AppError::BadInput(error.to_string())
    }

    pub fn from_refusal(kind: RefusalKind, message: String) -> Self {
        match kind {
            RefusalKind::BadInput => AppError::BadInput(message),
            RefusalKind::NotFound => AppError::NotFound(message),
            RefusalKind::Forbidden => AppError::Forbidden(message),
            RefusalKind::AlreadyExists => AppError::AlreadyExists(message),
            RefusalKind::RuleViolation => AppError::RuleViolation(message),
        }
    }
}

impl<A: Aggregate<Error: Refusal>> From<CommandError<A>> for AppError {
    fn from(error: CommandError<A>) -> Self {
        match error {
            CommandError::Rejected(refusal) => AppError::from_refusal(refusal.kind(), refusal.to_string()),
            CommandError::Conflict(conflict) => AppError::Conflict(format!(
                "the version you expected is not the current one (it is {}); reload and try again",
                conflict.actual
            )),
            CommandError::Overloaded(_) => overloaded(),
            other => AppError::internal("a command failed", other),
        }
    }
}

impl From<InspectError> for AppError {
    fn from(error: InspectError) -> Self {
        match error {
            InspectError::Overloaded => overloaded(),
            other => AppError::internal("could not read an aggregate's state", other),
        }
    }
}

fn overloaded() -> AppError {
    AppError::Limit("too many commands are waiting for this item; try again shortly".into())
}
