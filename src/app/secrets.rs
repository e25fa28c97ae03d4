//! The JWT secret and the admin token: from the configuration when set there, otherwise
//! generated once and kept in the store's `secrets` records, so every node sharing the store
//! signs and accepts the same tokens. A copy goes into the data directory, readable by the
//! server's user only, for the operator (`cat data/admin-token`). Nothing secret ships in the
//! repository or the image.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use actors::{Records, StoreError};

use crate::config::AuthConfig;

/// The records table generated secrets are kept in.
pub const TABLE: &str = "secrets";

/// Why the secrets could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("cannot keep a secret in {file}: {source}")]
    File { file: String, source: std::io::Error },
    #[error("cannot keep a secret in the store: {0}")]
    Store(#[from] StoreError),
    #[error("the stored secret {0:?} is not text")]
    NotText(&'static str),
    #[error("the operating system gave no random bytes for a secret: {0}")]
    Random(getrandom::Error),
}

pub struct Secrets {
    pub jwt_secret: String,
    pub admin_token: String,
}

impl Secrets {
    pub async fn load(data_dir: &Path, config: &AuthConfig, records: Arc<dyn Records>) -> Result<Self, SecretsError> {
        let kept = Kept { data_dir, records };
        Ok(Self {
            jwt_secret: kept.configured_or_kept(&config.jwt_secret, "jwt-secret").await?,
            admin_token: kept.configured_or_kept(&config.admin_token, "admin-token").await?,
        })
    }
}

struct Kept<'a> {
    data_dir: &'a Path,
    records: Arc<dyn Records>,
}

impl Kept<'_> {
    async fn configured_or_kept(&self, configured: &str, name: &'static str) -> Result<String, SecretsError> {
        if !configured.is_empty() {
            return Ok(configured.to_owned());
        }
        let file = self.data_dir.join(name);
        // A data directory from before secrets were kept in the store holds them as files.
        let from_file = match std::fs::read_to_string(&file) {
            Ok(kept) if !kept.trim().is_empty() => Some(kept.trim().to_owned()),
            Ok(_) => None,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(SecretsError::File { file: file.display().to_string(), source }),
        };
        let candidate = match from_file.clone() {
            Some(kept) => kept,
            None => generated()?,
        };
        // The first node to store one wins; every other node takes that one.
        let secret = match self.records.insert_new(name.as_bytes(), candidate.as_bytes()).await? {
            None => {
                if from_file.is_none() {
                    tracing::info!(secret = name, "generated a secret; set it in config.toml to choose your own");
                }
                candidate
            }
            Some(stored) => String::from_utf8(stored).map_err(|_| SecretsError::NotText(name))?,
        };
        if from_file.as_deref() != Some(secret.as_str()) {
            write_private(&file, &secret).map_err(|source| SecretsError::File { file: file.display().to_string(), source })?;
        }
        Ok(secret)
    }
}

/// 256 bits from the operating system's generator, as 64 hex digits. Not a UUID: ids draw
/// their bytes from a fast thread-local generator, secrets straight from the source.
fn generated() -> Result<String, SecretsError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(SecretsError::Random)?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

fn write_private(file: &Path, secret: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(file)?.write_all(secret.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(store: &actors::InMemoryStore) -> Arc<dyn Records> {
        actors::EventStore::records(store, TABLE).unwrap()
    }

    #[tokio::test]
    async fn a_generated_secret_is_shared_through_the_store_and_copied_for_the_operator() {
        let store = actors::InMemoryStore::new();
        let (one, other) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = Secrets::load(one.path(), &AuthConfig::default(), records(&store)).await.unwrap();
        let second = Secrets::load(other.path(), &AuthConfig::default(), records(&store)).await.unwrap();
        assert_eq!((&first.jwt_secret, &first.admin_token), (&second.jwt_secret, &second.admin_token));
        assert_ne!(first.jwt_secret, first.admin_token);
        assert_eq!(std::fs::read_to_string(other.path().join("admin-token")).unwrap(), first.admin_token);
        // 256 bits each, as hex: what an operator can paste into config.toml.
        for secret in [&first.jwt_secret, &first.admin_token] {
            assert!(secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()), "{secret}");
        }
    }

    #[tokio::test]
    async fn a_configured_secret_wins_and_a_kept_file_is_adopted() {
        let store = actors::InMemoryStore::new();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("admin-token"), "from-an-older-version\n").unwrap();
        let config = AuthConfig { jwt_secret: "configured".into(), ..AuthConfig::default() };
        let secrets = Secrets::load(dir.path(), &config, records(&store)).await.unwrap();
        assert_eq!((secrets.jwt_secret.as_str(), secrets.admin_token.as_str()), ("configured", "from-an-older-version"));
        assert_eq!(records(&store).get(b"admin-token").await.unwrap().as_deref(), Some(&b"from-an-older-version"[..]));
    }
}
