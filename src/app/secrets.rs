//! The JWT secret and the admin token: from the configuration when set there, otherwise
//! generated once and kept in the data directory, readable by the server's user only. Nothing
//! secret ships in the repository or the image.

use std::io::Write;
use std::path::Path;

use uuid::Uuid;

use crate::config::AuthConfig;

pub struct Secrets {
    pub jwt_secret: String,
    pub admin_token: String,
}

impl Secrets {
    pub fn load(data_dir: &Path, config: &AuthConfig) -> std::io::Result<Self> {
        Ok(Self {
            jwt_secret: configured_or_kept(&config.jwt_secret, &data_dir.join("jwt-secret"))?,
            admin_token: configured_or_kept(&config.admin_token, &data_dir.join("admin-token"))?,
        })
    }
}

fn configured_or_kept(configured: &str, file: &Path) -> std::io::Result<String> {
    if !configured.is_empty() {
        return Ok(configured.to_owned());
    }
    match std::fs::read_to_string(file) {
        Ok(kept) if !kept.trim().is_empty() => return Ok(kept.trim().to_owned()),
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    // Two v4 UUIDs: 244 random bits from the operating system's generator.
    let secret = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(file)?.write_all(secret.as_bytes())?;
    tracing::info!(file = %file.display(), "generated a secret; set it in config.toml to choose your own");
    Ok(secret)
}
