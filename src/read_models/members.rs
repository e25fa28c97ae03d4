//! The `members` read model: each member's profile (and e-mail, which the API shows only to its owner and the admin).

use std::sync::Arc;

use actors::{Aggregate, EventCodec, ReadModel, ReadModelHandle, ReadModelTx, RecordedEvent, SubscriberError, Version};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::paging::QueryError;
use super::reader::{add_to_counter, id_key, read_count, TreeReader};
use crate::domain::member::{Member, MemberEvent};

/// The name this read model is registered under.
pub const NAME: &str = "members";

/// `m` + member id → [`MemberView`].
const MEMBER: u8 = b'm';
/// The number of registered members.
const COUNT: &[u8] = b"#members";

/// A member as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub city: Option<String>,
    #[serde(deserialize_with = "super::stored_time::deserialize")]
    pub joined_at: DateTime<Utc>,
    /// The member stream's version after the last event applied here.
    pub version: Version,
}

/// Keeps [`MemberView`]s from the `member` streams.
#[derive(Clone, Default)]
pub struct MembersReadModel {
    codec: EventCodec<MemberEvent>,
}

impl ReadModel for MembersReadModel {
    fn apply(&self, tx: &mut ReadModelTx<'_>, event: &RecordedEvent) -> Result<(), SubscriberError> {
        if event.stream.aggregate_type != Member::TYPE {
            return Ok(());
        }
        let id = event.stream.aggregate_id;
        let key = id_key(MEMBER, id);
        let existing: Option<MemberView> = tx.fetch(&key)?;
        let view = match (self.codec.decode(event)?, existing) {
            (MemberEvent::MemberRegistered { email, display_name, city, joined_at, .. }, existing) => {
                if existing.is_none() {
                    add_to_counter(tx, COUNT, 1)?;
                }
                MemberView { id, email, display_name, city, joined_at, version: event.version }
            }
            (MemberEvent::ProfileUpdated { display_name, city, .. }, Some(view)) => {
                MemberView { display_name, city, version: event.version, ..view }
            }
            // The aggregate refuses edits before registration, so this cannot be in the log.
            (MemberEvent::ProfileUpdated { .. }, None) => return Ok(()),
        };
        tx.put(key, &view)
    }
}

/// Queries over the `members` read model.
#[derive(Clone)]
pub struct MembersQuery {
    handle: ReadModelHandle,
}

impl MembersQuery {
    pub fn new(handle: ReadModelHandle) -> Self {
        Self { handle }
    }

    pub fn get(&self, id: Uuid) -> Result<Option<Arc<MemberView>>, QueryError> {
        Ok(self.handle.fetch_shared(&id_key(MEMBER, id))?)
    }

    /// How many members have registered.
    pub fn count(&self) -> Result<u64, QueryError> {
        read_count(&TreeReader::open(&self.handle), COUNT)
    }
}
