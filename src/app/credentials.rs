//! Credentials live in their own records table beside the log: no event and no read model ever
//! holds a password or its hash, and every node sharing the store signs the same members in.

use std::sync::Arc;

use actors::Records;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    pub member_id: Uuid,
    /// Argon2id PHC string.
    pub password_hash: String,
}

/// The records table credentials are kept in (a sled tree of that name in the embedded store).
pub const TABLE: &str = "credentials";

/// Credentials read at a time when listing them all.
const PAGE: usize = 1_000;

/// Credentials by normalized e-mail address.
#[derive(Clone)]
pub struct Credentials {
    records: Arc<dyn Records>,
}

impl Credentials {
    pub fn new(records: Arc<dyn Records>) -> Self {
        Self { records }
    }

    pub async fn get(&self, email: &str) -> Result<Option<Credential>, AppError> {
        let Some(bytes) = self.records.get(email.as_bytes()).await.map_err(|e| AppError::internal("could not read credentials", e))? else {
            return Ok(None);
        };
        decode(&bytes).map(Some)
    }

    /// Every credential, by e-mail address (for backups).
    pub async fn all(&self) -> Result<Vec<(String, Credential)>, AppError> {
        let mut all = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page =
                self.records.scan(b"", after.as_deref(), PAGE).await.map_err(|e| AppError::internal("could not read credentials", e))?;
            let full = page.len() == PAGE;
            after = page.last().map(|(email, _)| email.clone());
            for (email, bytes) in page {
                all.push((String::from_utf8_lossy(&email).into_owned(), decode(&bytes)?));
            }
            if !full {
                return Ok(all);
            }
        }
    }

    /// Stores the credential of the member who claimed `email`, durably: a registration that
    /// returned must be able to log in after a crash.
    pub async fn put(&self, email: &str, credential: &Credential) -> Result<(), AppError> {
        let bytes = serde_json::to_vec(credential).map_err(|e| AppError::internal("could not encode credentials", e))?;
        self.records.put(email.as_bytes(), &bytes).await.map_err(|e| AppError::internal("could not store credentials", e))
    }
}

fn decode(bytes: &[u8]) -> Result<Credential, AppError> {
    serde_json::from_slice(bytes).map_err(|e| AppError::internal("stored credentials are corrupt", e))
}
