//! The payment provider's statement as the contract shows it (`providerStatement`, admin only).

use chrono::{DateTime, Utc};
use juniper::{graphql_object, GraphQLEnum, ID};

use super::millis;
use crate::api::{id, Context};
use crate::services::{EntryKind, ProviderEntry};

#[derive(Debug, Clone, Copy, PartialEq, Eq, GraphQLEnum)]
#[graphql(name = "ProviderEntryKind")]
pub(crate) enum ProviderEntryKindValue {
    Charge,
    Refund,
}

impl From<EntryKind> for ProviderEntryKindValue {
    fn from(kind: EntryKind) -> Self {
        match kind {
            EntryKind::Charge => ProviderEntryKindValue::Charge,
            EntryKind::Refund => ProviderEntryKindValue::Refund,
        }
    }
}

pub struct ProviderEntryObject(pub ProviderEntry);

#[graphql_object(name = "ProviderEntry", context = Context)]
impl ProviderEntryObject {
    fn kind(&self) -> ProviderEntryKindValue {
        self.0.kind.into()
    }

    fn booking_id(&self) -> ID {
        id(self.0.booking_id)
    }

    /// The provider's own reference for the charge (a refund names the charge it refunds).
    fn reference(&self) -> &str {
        &self.0.reference
    }

    fn amount_cents(&self) -> i32 {
        i32::try_from(self.0.amount_cents).unwrap_or(i32::MAX)
    }

    fn currency(&self) -> &str {
        &self.0.currency
    }

    fn at(&self) -> DateTime<Utc> {
        millis(self.0.at)
    }
}
