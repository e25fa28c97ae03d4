//! Credentials live in their own tree beside the log: no event and no read model ever holds a
//! password or its hash.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    pub member_id: Uuid,
    /// Argon2id PHC string.
    pub password_hash: String,
}

/// The local tree credentials are kept in.
pub const TREE: &str = "credentials";

/// Credentials by normalized e-mail address.
#[derive(Clone)]
pub struct Credentials {
    tree: sled::Tree,
}

impl Credentials {
    pub fn new(tree: sled::Tree) -> Self {
        Self { tree }
    }

    pub fn get(&self, email: &str) -> Result<Option<Credential>, AppError> {
        let Some(bytes) = self.tree.get(email.as_bytes()).map_err(|e| AppError::internal("could not read credentials", e))? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| AppError::internal("stored credentials are corrupt", e))
    }

    /// Every credential, by e-mail address (for backups).
    pub fn all(&self) -> Result<Vec<(String, Credential)>, AppError> {
        self.tree
            .iter()
            .map(|entry| {
                let (email, bytes) = entry.map_err(|e| AppError::internal("could not read credentials", e))?;
                let credential = serde_json::from_slice(&bytes).map_err(|e| AppError::internal("stored credentials are corrupt", e))?;
                Ok((String::from_utf8_lossy(&email).into_owned(), credential))
            })
            .collect()
    }

    /// Stores the credential of the member who claimed `email`, durably: a registration that
    /// returned must be able to log in after a crash.
    pub async fn put(&self, email: &str, credential: &Credential) -> Result<(), AppError> {
        let bytes = serde_json::to_vec(credential).map_err(|e| AppError::internal("could not encode credentials", e))?;
        self.tree.insert(email.as_bytes(), bytes).map_err(|e| AppError::internal("could not store credentials", e))?;
        actors::store::flush_tree(&self.tree).await.map_err(|e| AppError::internal("could not flush credentials", e))?;
        Ok(())
    }
}
