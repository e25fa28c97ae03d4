//! The member aggregate: registration and profile edits. No password or hash ever enters it.

use actors::{Aggregate, DomainEvent};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use super::values::{normalize_city, normalize_display_name, normalize_email, ValueError};
use super::{command_from_structs, Refusal, RefusalKind};

#[cfg(test)]
mod tests;

/// The member aggregate (stream type `member`).
pub struct Member;

/// Registers a new member. The e-mail address must already be claimed (see
/// [`email_claim`](super::email_claim)); it is normalized again here.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterMember {
    pub member_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub city: Option<String>,
    pub registered_at: DateTime<Utc>,
}

/// Edits the acting member's own profile. `None` keeps a field; `city: Some(None)` clears it.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateProfile {
    pub member_id: Uuid,
    pub display_name: Option<String>,
    pub city: Option<Option<String>>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MemberCommand {
    RegisterMember(RegisterMember),
    UpdateProfile(UpdateProfile),
}

command_from_structs!(MemberCommand { RegisterMember, UpdateProfile });

/// What happened to a member. Stored by variant index: append new variants at the end only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MemberEvent {
    MemberRegistered {
        member_id: Uuid,
        email: String,
        display_name: String,
        city: Option<String>,
        joined_at: DateTime<Utc>,
    },
    /// The whole editable profile after the change.
    ProfileUpdated {
        display_name: String,
        city: Option<String>,
        updated_at: DateTime<Utc>,
    },
}

impl DomainEvent for MemberEvent {
    fn event_type(&self) -> &'static str {
        match self {
            MemberEvent::MemberRegistered { .. } => "MemberRegistered",
            MemberEvent::ProfileUpdated { .. } => "ProfileUpdated",
        }
    }
}

/// A registered member; the aggregate's state is `None` until registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberState {
    pub member_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub city: Option<String>,
    pub joined_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MemberError {
    #[error(transparent)]
    Invalid(#[from] ValueError),
    #[error("there is no member with this id")]
    NotFound,
    #[error("you can only edit your own profile")]
    NotYourProfile,
    #[error("this member is already registered")]
    AlreadyRegistered,
}

impl Refusal for MemberError {
    fn kind(&self) -> RefusalKind {
        match self {
            MemberError::Invalid(_) => RefusalKind::BadInput,
            MemberError::NotFound => RefusalKind::NotFound,
            MemberError::NotYourProfile => RefusalKind::Forbidden,
            MemberError::AlreadyRegistered => RefusalKind::AlreadyExists,
        }
    }
}

impl Aggregate for Member {
    const TYPE: &'static str = "member";

    type Command = MemberCommand;
    type Event = MemberEvent;
    type Error = MemberError;
    type State = Option<MemberState>;

    fn handle(state: &Self::State, command: MemberCommand) -> Result<Vec<MemberEvent>, MemberError> {
        match command {
            MemberCommand::RegisterMember(command) => register(state, command),
            MemberCommand::UpdateProfile(command) => update_profile(state, command),
        }
    }

    fn apply(state: Self::State, event: &MemberEvent) -> Self::State {
        match event {
            MemberEvent::MemberRegistered { member_id, email, display_name, city, joined_at } => Some(MemberState {
                member_id: *member_id,
                email: email.clone(),
                display_name: display_name.clone(),
                city: city.clone(),
                joined_at: *joined_at,
                updated_at: *joined_at,
            }),
            MemberEvent::ProfileUpdated { display_name, city, updated_at } => state.map(|member| MemberState {
                display_name: display_name.clone(),
                city: city.clone(),
                updated_at: *updated_at,
                ..member
            }),
        }
    }
}

fn register(state: &Option<MemberState>, command: RegisterMember) -> Result<Vec<MemberEvent>, MemberError> {
    let email = normalize_email(&command.email)?;
    let display_name = normalize_display_name(&command.display_name)?;
    let city = normalize_city(command.city.as_deref())?;
    if state.is_some() {
        return Err(MemberError::AlreadyRegistered);
    }
    Ok(vec![MemberEvent::MemberRegistered { member_id: command.member_id, email, display_name, city, joined_at: command.registered_at }])
}

/// An edit that changes nothing records nothing: it succeeds with no events.
fn update_profile(state: &Option<MemberState>, command: UpdateProfile) -> Result<Vec<MemberEvent>, MemberError> {
    let display_name = command.display_name.as_deref().map(normalize_display_name).transpose()?;
    let city = command.city.map(|city| normalize_city(city.as_deref())).transpose()?;
    let member = state.as_ref().ok_or(MemberError::NotFound)?;
    if member.member_id != command.member_id {
        return Err(MemberError::NotYourProfile);
    }
    let display_name = display_name.unwrap_or_else(|| member.display_name.clone());
    let city = city.unwrap_or_else(|| member.city.clone());
    if display_name == member.display_name && city == member.city {
        return Ok(vec![]);
    }
    Ok(vec![MemberEvent::ProfileUpdated { display_name, city, updated_at: command.at }])
}
