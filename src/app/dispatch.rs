//! How every use case sends its command: one timeout, refusals ranked as the contract ranks
//! them, the admin refused member commands after what outranks FORBIDDEN, and the answer as what
//! was committed.

use std::time::Duration;

use actors::{Aggregate, CommandError, Execute, Executed, RecordedEvent, Version};
use serde::Serialize;
use uuid::Uuid;

use super::{App, AppError, Caller, Refusal};
use crate::domain::RefusalKind;

/// What a mutation committed: the aggregate it is about, its events, and the position to wait
/// for (the head of the log when it committed nothing).
#[derive(Debug, Clone)]
pub struct Committed {
    pub id: Uuid,
    pub events: Vec<RecordedEvent>,
    pub position: u64,
}

/// A member's command to an existing aggregate, as [`App::as_member`] takes it.
pub(super) struct MemberCommand<'a, F: Serialize> {
    pub caller: Caller,
    /// The aggregate the command goes to.
    pub id: Uuid,
    /// The mutation's name, scoping its idempotency key.
    pub mutation: &'static str,
    /// What the idempotency key is checked against: the request's input.
    pub fingerprint: &'a F,
    pub expected: Option<Version>,
    pub key: Option<&'a str>,
}

impl App {
    /// How long a command, or a wait for what it produced, may take before TIMEOUT.
    pub fn command_timeout(&self) -> Duration {
        Duration::from_millis(self.limits.command_timeout_ms.max(1))
    }

    pub(super) async fn execute<A: Aggregate>(
        &self,
        id: Uuid,
        command: A::Command,
        context: actors::CommandContext,
        expected: Option<Version>,
    ) -> Result<Executed<A>, AppError>
    where
        A::Error: Refusal,
    {
        // Kept to rank a version conflict: see `outranking_refusal`.
        let retained = expected.is_some().then(|| command.clone());
        let execute = Execute::<A>::new(id, command, context).expecting(expected);
        match tokio::time::timeout(self.command_timeout(), self.runtime.commands().execute(execute)).await {
            Ok(Err(CommandError::Conflict(conflict))) => {
                let outranking = match retained {
                    Some(command) => self.outranking_refusal::<A>(id, command).await,
                    None => None,
                };
                Err(outranking.unwrap_or_else(|| AppError::from(CommandError::<A>::Conflict(conflict))))
            }
            Ok(result) => result.map_err(AppError::from),
            Err(_) => Err(AppError::Timeout(
                "the command could not be served in time; it may still complete, retry with the same idempotencyKey".into(),
            )),
        }
    }

    /// The runtime checks `expectedVersion` before the aggregate decides, but the contract ranks
    /// BAD_INPUT, NOT_FOUND and FORBIDDEN above CONFLICT: on a conflict, ask the aggregate what it
    /// would answer on its current state (deciding is pure; nothing is sent) and prefer such a
    /// refusal.
    async fn outranking_refusal<A: Aggregate>(&self, id: Uuid, command: A::Command) -> Option<AppError>
    where
        A::Error: Refusal,
    {
        let state = self.runtime.state_at::<A>(id, None).await.ok()?.map(|(state, _)| state).unwrap_or_default();
        let refusal = A::handle(&state, command).err()?;
        let kind = refusal.kind();
        matches!(kind, RefusalKind::BadInput | RefusalKind::NotFound | RefusalKind::Forbidden)
            .then(|| AppError::from_refusal(kind, refusal.to_string()))
    }

    /// The admin is not a member, so its member commands are FORBIDDEN, but only after what the
    /// contract ranks higher: deciding the same command for nobody, the domain finds bad input
    /// and unknown targets first.
    pub(super) async fn refuse_admin<A: Aggregate>(&self, id: Uuid, command: A::Command) -> AppError
    where
        A::Error: Refusal,
    {
        let state = match self.runtime.state_at::<A>(id, None).await {
            Ok(state) => state.map(|(state, _)| state).unwrap_or_default(),
            Err(error) => return AppError::internal("could not load an aggregate", error),
        };
        match A::handle(&state, command) {
            Err(refusal) if matches!(refusal.kind(), RefusalKind::BadInput | RefusalKind::NotFound) => {
                AppError::from_refusal(refusal.kind(), refusal.to_string())
            }
            _ => super::auth::admin_is_not_a_member(),
        }
    }

    /// Runs a command a member sends to an existing aggregate: the admin is refused (after what
    /// ranks higher), ids come from the idempotency key, and the answer is what it committed.
    /// `command` builds the command for the acting member's id.
    pub(super) async fn as_member<A: Aggregate, F: Serialize>(
        &self,
        request: MemberCommand<'_, F>,
        command: impl FnOnce(Uuid) -> A::Command,
    ) -> Result<Committed, AppError>
    where
        A::Error: Refusal,
    {
        let MemberCommand { caller, id, mutation, fingerprint, expected, key } = request;
        let Some(actor) = caller.member_or_admin()? else {
            return Err(self.refuse_admin::<A>(id, command(Uuid::nil())).await);
        };
        let ticket = self.idempotency.ticket(mutation, &caller.scope(), key, fingerprint).await?;
        let executed = self.execute::<A>(id, command(actor), ticket.context(mutation), expected).await?;
        self.committed(id, executed).await
    }

    pub(super) async fn committed<A: Aggregate>(&self, id: Uuid, executed: Executed<A>) -> Result<Committed, AppError> {
        let position = match executed.last_position() {
            Some(position) => position,
            None => self.head().await?,
        };
        Ok(Committed { id, events: executed.events, position })
    }
}
