//! Idempotency keys: the same key from the same caller for the same mutation returns the first
//! result and commits nothing new, also after a restart.
//!
//! The first request with a key records its input; every id the mutation makes (the new
//! aggregate's id, each command id) is derived from the key. A repeat therefore sends the same
//! commands with the same ids, and the event store answers them from the first commit: same ids,
//! same position, nothing written, even when the two requests race.

use std::sync::Arc;

use actors::{CommandContext, Records};
use serde::Serialize;
use uuid::Uuid;

use super::AppError;

const NAMESPACE: Uuid = Uuid::from_u128(0x6b6f_6e6e_656b_7469_6400_0000_0000_0001);
const MAX_KEY_LENGTH: usize = 200;

/// The records table the first input of each key is kept in.
pub const TABLE: &str = "idempotency";

/// Records the input each key was first used with, in the store, so every node sharing it sees
/// the same keys.
#[derive(Clone)]
pub struct IdempotencyKeys {
    records: Arc<dyn Records>,
}

/// Where a mutation takes its ids from: derived from the key, or fresh without one.
#[derive(Debug, Clone)]
pub struct Ticket {
    seed: Option<String>,
    correlation_id: Uuid,
}

impl Ticket {
    /// A ticket for a mutation sent without a key.
    pub fn fresh() -> Self {
        Self { seed: None, correlation_id: Uuid::now_v7() }
    }

    /// An id for `purpose` (e.g. "course"): stable for a key, fresh without one. Fresh ids are
    /// time-ordered (UUID v7), so the store's indexes of command ids and streams grow at one end.
    pub fn id(&self, purpose: &str) -> Uuid {
        match &self.seed {
            Some(seed) => Uuid::new_v5(&NAMESPACE, format!("{seed}|{purpose}").as_bytes()),
            None => Uuid::now_v7(),
        }
    }

    /// The context of the mutation's command `purpose`; all its commands share a correlation id.
    pub fn context(&self, purpose: &str) -> CommandContext {
        CommandContext {
            command_id: self.id(purpose),
            correlation_id: self.correlation_id,
            causation_id: None,
            metadata: Default::default(),
        }
    }

    pub fn correlation_id(&self) -> Uuid {
        self.correlation_id
    }
}

impl IdempotencyKeys {
    pub fn new(records: Arc<dyn Records>) -> Self {
        Self { records }
    }

    /// Claims `key` for this mutation and caller with `input`; the same key with another input
    /// is BAD_INPUT. `scope` names the caller (empty for mutations scoped to the key alone).
    pub async fn ticket(&self, mutation: &str, scope: &str, key: Option<&str>, input: &impl Serialize) -> Result<Ticket, AppError> {
        let Some(key) = key else { return Ok(Ticket::fresh()) };
        if key.is_empty() || key.len() > MAX_KEY_LENGTH {
            return Err(AppError::BadInput(format!("idempotencyKey must have 1 to {MAX_KEY_LENGTH} characters")));
        }
        let seed = format!("{mutation}|{scope}|{key}");
        let fingerprint = serde_json::to_vec(input).map_err(|e| AppError::internal("could not fingerprint an input", e))?;
        let first = self
            .records
            .insert_new(seed.as_bytes(), &fingerprint)
            .await
            .map_err(|e| AppError::internal("could not record an idempotency key", e))?;
        if first.is_some_and(|existing| existing != fingerprint) {
            return Err(AppError::BadInput("this idempotencyKey was already used with a different input".into()));
        }
        let correlation_id = Uuid::new_v5(&NAMESPACE, format!("{seed}|correlation").as_bytes());
        Ok(Ticket { seed: Some(seed), correlation_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> IdempotencyKeys {
        IdempotencyKeys::new(actors::EventStore::records(&actors::InMemoryStore::new(), TABLE).unwrap())
    }

    #[tokio::test]
    async fn the_same_key_and_input_derive_the_same_ids() {
        let keys = keys();
        let first = keys.ticket("createCourse", "m1", Some("k"), &("a", 1)).await.unwrap();
        let again = keys.ticket("createCourse", "m1", Some("k"), &("a", 1)).await.unwrap();
        assert_eq!(first.id("course"), again.id("course"));
        assert_eq!(first.context("create").command_id, again.context("create").command_id);
        assert_eq!(first.correlation_id(), again.correlation_id());
    }

    #[tokio::test]
    async fn the_same_key_with_another_input_is_bad_input() {
        let keys = keys();
        keys.ticket("createCourse", "m1", Some("k"), &("a", 1)).await.unwrap();
        assert_eq!(keys.ticket("createCourse", "m1", Some("k"), &("a", 2)).await.unwrap_err().code(), "BAD_INPUT");
    }

    #[tokio::test]
    async fn keys_are_scoped_to_the_mutation_and_the_caller() {
        let keys = keys();
        let mine = keys.ticket("createCourse", "m1", Some("k"), &1).await.unwrap();
        let theirs = keys.ticket("createCourse", "m2", Some("k"), &2).await.unwrap();
        let other_mutation = keys.ticket("updateCourse", "m1", Some("k"), &3).await.unwrap();
        assert_ne!(mine.id("course"), theirs.id("course"));
        assert_ne!(mine.id("course"), other_mutation.id("course"));
    }

    #[tokio::test]
    async fn without_a_key_every_id_is_fresh() {
        let ticket = keys().ticket("createCourse", "m1", None, &1).await.unwrap();
        assert_ne!(ticket.id("course"), ticket.id("course"));
    }

    #[tokio::test]
    async fn fresh_ids_grow_in_the_order_they_are_made() {
        let ticket = keys().ticket("createCourse", "m1", None, &1).await.unwrap();
        let ids: Vec<Uuid> = (0..1_000).map(|_| ticket.id("course")).collect();
        assert!(ids.windows(2).all(|pair| pair[0].as_bytes() < pair[1].as_bytes()));
    }
}
