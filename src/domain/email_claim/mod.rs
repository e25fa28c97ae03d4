//! The e-mail claim aggregate: one stream per normalized address, so each address has one owner.
//!
//! The application derives the stream id from the normalized address and claims it before it
//! registers the member; the claim's consistency boundary is what makes e-mail addresses unique.

use actors::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use super::values::{normalize_email, ValueError};
use super::{Refusal, RefusalKind};

#[cfg(test)]
mod tests;

/// The e-mail claim aggregate (stream type `email_claim`).
pub struct EmailClaim;

/// Claims an address for a member. Claiming it again for the same member changes nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimEmail {
    pub member_id: Uuid,
    pub email: String,
}

/// What happened to an address. Stored by variant index: append new variants at the end only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EmailClaimEvent {
    EmailClaimed { member_id: Uuid, email: String },
}

impl DomainEvent for EmailClaimEvent {
    fn event_type(&self) -> &'static str {
        match self {
            EmailClaimEvent::EmailClaimed { .. } => "EmailClaimed",
        }
    }
}

/// Who owns the address; the state is `None` while it is free.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailClaimState {
    pub member_id: Uuid,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EmailClaimError {
    #[error(transparent)]
    Invalid(#[from] ValueError),
    #[error("this e-mail address is already registered: log in, or use another address")]
    EmailTaken,
}

impl Refusal for EmailClaimError {
    fn kind(&self) -> RefusalKind {
        match self {
            EmailClaimError::Invalid(_) => RefusalKind::BadInput,
            EmailClaimError::EmailTaken => RefusalKind::AlreadyExists,
        }
    }
}

impl Aggregate for EmailClaim {
    const TYPE: &'static str = "email_claim";

    type Command = ClaimEmail;
    type Event = EmailClaimEvent;
    type Error = EmailClaimError;
    type State = Option<EmailClaimState>;

    fn handle(state: &Self::State, command: ClaimEmail) -> Result<Vec<EmailClaimEvent>, EmailClaimError> {
        let email = normalize_email(&command.email)?;
        match state {
            None => Ok(vec![EmailClaimEvent::EmailClaimed { member_id: command.member_id, email }]),
            Some(claim) if claim.member_id == command.member_id => Ok(vec![]),
            Some(_) => Err(EmailClaimError::EmailTaken),
        }
    }

    fn apply(_state: Self::State, event: &EmailClaimEvent) -> Self::State {
        match event {
            EmailClaimEvent::EmailClaimed { member_id, email } => Some(EmailClaimState { member_id: *member_id, email: email.clone() }),
        }
    }
}
