//! `konnektid export` and `konnektid import`: a full backup of the event log as NDJSON (see
//! [`file`]), and its restore into an empty data directory with every read model rebuilt and no
//! reaction run again for the restored history.
//!
//! The event log goes into the backup file; the credentials (password hashes, never in the log)
//! into `<backup>.credentials` beside it (see [`credentials`]), so members can sign in to a
//! restored directory. What else lives beside the log is not backed up: read models (rebuilt
//! from the log), checkpoints, the idempotency records of commands (a request retried with an
//! old idempotency key after a restore is applied again) and the generated secrets.

mod credentials;
pub(super) mod file;

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::{EventStore, Position, RecordedEvent, SubscriberKind, SubscriberState};

use super::maintenance::progress;
use super::{for_a_command, in_use_or, init_logging, load_config, open_or_create_store, open_store, require_log, CliError, Common};
use crate::app::{App, Credentials, OpenOptions, StartupError, Store, CREDENTIALS_TABLE};
use crate::config::Config;

/// Events read from the log, and written to it, per step.
const PAGE: usize = 10_000;

pub fn export(common: &Common, file: &Path) -> Result<(), CliError> {
    let config = load_config(common)?;
    if let Err(missing) = require_log(&config) {
        return Err(CliError::usage(missing.message));
    }
    let partial = partial_path(file)?;
    let (members, written) = actix_web::rt::System::new().block_on(async {
        let store = open_store(&config).await?.shared();
        let members = credentials::write(&Credentials::new(store.records(CREDENTIALS_TABLE)?), &credentials::path_for(file)).await?;
        Ok::<_, CliError>((members, write_backup(store, &partial).await))
    })?;
    let head = match written.and_then(|head| std::fs::rename(&partial, file).map(|()| head).map_err(CliError::from)) {
        Ok(head) => head,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
    };
    println!("exported {head} events to {}, and {members} credentials to {}", file.display(), credentials::path_for(file).display());
    Ok(())
}

/// Where the backup is written until it is whole: beside `file`, so the rename is atomic.
fn partial_path(file: &Path) -> Result<PathBuf, CliError> {
    let name = file.file_name().ok_or_else(|| CliError::usage(format!("{} is not a file name", file.display())))?;
    let mut partial = std::ffi::OsString::from(".");
    partial.push(name);
    partial.push(format!(".partial-{}", std::process::id()));
    Ok(file.with_file_name(partial))
}

/// Writes every event up to the head to `path`, durably; answers the head.
async fn write_backup(store: Arc<dyn EventStore>, path: &Path) -> Result<Position, CliError> {
    let head = store.head().await?;
    let file = File::create(path).map_err(|e| CliError::failed(format!("cannot write {}: {e}", path.display())))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let bar = progress(head, "export");
    let mut next = 1;
    while next <= head {
        let page = store.read_all(next, PAGE, None).await?;
        for event in page.iter().take_while(|event| event.position <= head) {
            if event.position != next {
                return Err(CliError::failed(format!("the log has no event at position {next}: it is corrupt")));
            }
            file::write_event(&mut out, event)?;
            next += 1;
        }
        if page.is_empty() {
            return Err(CliError::failed(format!("the log ends at position {} before its head {head}", next - 1)));
        }
        bar.set_position(next - 1);
    }
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    bar.finish_and_clear();
    Ok(head)
}

pub fn import(common: &Common, file: &Path) -> Result<(), CliError> {
    let config = for_a_command(load_config(common)?);
    init_logging(&config);
    // Nothing is written (not even the data directory) before the whole file checks out.
    let events = read_backup(file)?;
    let credentials_file = credentials::path_for(file);
    let restored_credentials = if credentials_file.exists() {
        credentials::read(&credentials_file)?
    } else {
        eprintln!("konnektid: {} is missing: members will not be able to sign in", credentials_file.display());
        Vec::new()
    };
    actix_web::rt::System::new().block_on(async move {
        let store = open_or_create_store(&config).await?;
        let count = events.len();
        let credentials = Credentials::new(store.shared().records(CREDENTIALS_TABLE)?);
        let head = write_events(store, events, &config).await?;
        for (email, credential) in &restored_credentials {
            credentials.put(email, credential).await.map_err(CliError::from)?;
        }
        drop(credentials);
        let app = open_restored(&config).await?;
        let rebuilt = wait_for_read_models(&app, head).await;
        app.shutdown().await;
        let parked = rebuilt?;
        println!("imported {count} events; the head is at position {head}; every read model is rebuilt");
        if parked > 0 {
            println!("{parked} events were parked while rebuilding: see `konnektid parked`");
        }
        Ok(())
    })
}

fn read_backup(path: &Path) -> Result<Vec<RecordedEvent>, CliError> {
    let input = File::open(path).map_err(|e| CliError::usage(format!("cannot open {}: {e}", path.display())))?;
    let bar = progress(input.metadata().map_or(0, |m| m.len()), "check");
    let events = file::read(BufReader::with_capacity(1 << 20, input), |read| bar.set_position(read))
        .map_err(|error| CliError::usage(format!("{}: {error}; nothing was imported", path.display())))?;
    bar.finish_and_clear();
    Ok(events)
}

/// Writes the events into the empty log, page by page; answers the head.
async fn write_events(store: Store, events: Vec<RecordedEvent>, config: &Config) -> Result<Position, CliError> {
    let head = store.shared().head().await?;
    if head != 0 {
        let place = match &store {
            Store::Sled(_) => format!("the data directory {}", config.storage.data_dir.display()),
            Store::Postgres(_) => format!("the PostgreSQL schema {}", config.store.schema),
        };
        return Err(CliError::failed(format!("{place} already holds {head} events: import restores into an empty log only")));
    }
    let bar = progress(events.len() as u64, "import");
    let mut events = events.into_iter();
    let mut head = 0;
    loop {
        let page: Vec<RecordedEvent> = events.by_ref().take(PAGE).collect();
        if page.is_empty() {
            break;
        }
        head = store.import(page).await.map_err(|error| {
            CliError::failed(format!("the import stopped after position {head}: {error}; empty the data directory and import again"))
        })?;
        bar.set_position(head);
    }
    bar.finish_and_clear();
    Ok(head)
}

/// Opens the application with every reaction at the head. The store just dropped lets go of the
/// database a moment later (its writer thread ends on its own), so a busy store is retried briefly.
async fn open_restored(config: &Config) -> Result<Arc<App>, CliError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match App::open_with(config, OpenOptions { skip_history_reactions: true }).await {
            Ok(app) => return Ok(app),
            Err(StartupError::Store { .. }) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(error) => return Err(in_use_or(error.to_string(), &config.storage.data_dir)),
        }
    }
}

/// Waits until every read model has applied `head`; answers how many events they parked.
async fn wait_for_read_models(app: &App, head: Position) -> Result<u64, CliError> {
    let bar = progress(head, "read models");
    loop {
        let statuses = app.runtime().subscribers().statuses().await?;
        let models: Vec<_> = statuses.into_iter().filter(|s| s.kind == SubscriberKind::ReadModel).collect();
        if let Some(stopped) = models.iter().find(|s| s.state == SubscriberState::Stopped) {
            return Err(CliError::failed(format!("the read model {} stopped while rebuilding; see the log", stopped.name)));
        }
        bar.set_position(models.iter().map(|s| s.position).min().unwrap_or(head).min(head));
        if models.iter().all(|s| s.state == SubscriberState::Live && s.position >= head) {
            bar.finish_and_clear();
            return Ok(models.iter().map(|s| s.parked).sum());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
