//! The credentials beside a backup: `<backup>.credentials`, one `{email, memberId, passwordHash}`
//! per line, readable by its owner only. Password hashes never enter the event log, so without
//! this file nobody could sign in to a restored directory.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::super::CliError;
use crate::app::{Credential, Credentials};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Line {
    email: String,
    member_id: Uuid,
    password_hash: String,
}

/// Where the credentials of backup `file` go.
pub fn path_for(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".credentials");
    PathBuf::from(name)
}

/// Writes every credential to `path` (mode 0600), durably; answers how many.
pub async fn write(credentials: &Credentials, path: &Path) -> Result<usize, CliError> {
    let all = credentials.all().await.map_err(CliError::from)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path).map_err(|e| CliError::failed(format!("cannot write {}: {e}", path.display())))?;
    let mut out = std::io::BufWriter::new(file);
    for (email, credential) in &all {
        let line = Line { email: email.clone(), member_id: credential.member_id, password_hash: credential.password_hash.clone() };
        serde_json::to_writer(&mut out, &line).map_err(CliError::from)?;
        out.write_all(b"\n")?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(all.len())
}

/// Reads and checks every line of `path` before anything is written.
pub fn read(path: &Path) -> Result<Vec<(String, Credential)>, CliError> {
    let file = std::fs::File::open(path).map_err(|e| CliError::usage(format!("cannot open {}: {e}", path.display())))?;
    let mut credentials = Vec::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| CliError::usage(format!("{}: line {}: {e}; nothing was imported", path.display(), index + 1)))?;
        let parsed: Line = serde_json::from_str(&line)
            .map_err(|e| CliError::usage(format!("{}: line {}: not a credential: {e}; nothing was imported", path.display(), index + 1)))?;
        credentials.push((parsed.email, Credential { member_id: parsed.member_id, password_hash: parsed.password_hash }));
    }
    Ok(credentials)
}
