//! The command line: `serve` and `schema`, and the operator's commands that work on a data
//! directory while no server holds it (they refuse with a clear message while one does). Only
//! `serve` and `import` create a data directory; the others refuse one without an event log and
//! leave the path as it was. With `--store-url postgres://...` (or `store.url`) every command
//! works on the PostgreSQL log instead, and the data directory holds only the node's own part.

mod backup;
mod events;
mod maintenance;
mod upgrade;
mod verify;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::{is_postgres, sled_dir, Store};
use crate::config::Config;

/// The backup file's reader and writer, for tools and tests that handle backups themselves.
pub(crate) use upgrade::progress as upgrade_progress;

pub use backup::file::{read as read_backup, write_event as write_backup_line, BackupError, Problem as BackupProblem};

#[derive(Parser)]
#[command(name = "konnektid", version, about = "Konnektid: an event-sourced marketplace for teaching and learning skills")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command that touches a data directory takes.
#[derive(clap::Args, Clone, Debug)]
pub struct Common {
    /// The configuration file (default: ./config.toml when it exists, else built-in defaults).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the data lives (overrides storage.data_dir).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The event store: a postgres:// URL, or empty for the one in the data directory
    /// (overrides store.url).
    #[arg(long, value_name = "URL")]
    pub store_url: Option<String>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the GraphQL API.
    Serve {
        #[command(flatten)]
        common: Common,
        /// Address to listen on (overrides server.bind).
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
    },
    /// Print the GraphQL schema the server serves (SDL).
    Schema,
    /// Print the event log as NDJSON, one event per line.
    Events {
        #[command(flatten)]
        common: Common,
        /// First global position to print.
        #[arg(long, value_name = "P", default_value_t = 1)]
        from: u64,
        /// Only one stream, as TYPE:ID (e.g. course:1b4e28ba-2fa1-11d2-883f-0016d3cca427).
        #[arg(long, value_name = "TYPE:ID")]
        stream: Option<String>,
        /// Keep printing events as they are committed.
        #[arg(long)]
        follow: bool,
    },
    /// Rebuild read models from the whole log.
    Rebuild {
        #[command(flatten)]
        common: Common,
        /// The read model to rebuild (members, courses, bookings, payments, stats, flows).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        name: Option<String>,
        /// Rebuild every read model.
        #[arg(long)]
        all: bool,
    },
    /// Write a full backup of the event log as NDJSON.
    Export {
        #[command(flatten)]
        common: Common,
        /// The backup file to write (replaced only once the backup is whole).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Restore a backup into an empty data directory and rebuild every read model; no e-mail is
    /// sent and no payment charged for imported history.
    Import {
        #[command(flatten)]
        common: Common,
        /// The backup file, as `export` wrote it.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Check the cross-service invariants over the whole log; with --repair, send the compensating commands.
    Verify {
        #[command(flatten)]
        common: Common,
        /// Send the compensating commands for what can be repaired, let the choreography settle,
        /// then check again.
        #[arg(long)]
        repair: bool,
        /// Print one JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the events subscribers gave up on; retry or skip one.
    Parked {
        #[command(flatten)]
        common: Common,
        /// Apply SUBSCRIBER:POSITION again.
        #[arg(long, value_name = "SUBSCRIBER:POSITION", conflicts_with = "skip")]
        retry: Option<String>,
        /// Give up on SUBSCRIBER:POSITION for good.
        #[arg(long, value_name = "SUBSCRIBER:POSITION")]
        skip: Option<String>,
    },
    /// Bring the event log to the current stored format (opening it does so too).
    Upgrade {
        #[command(flatten)]
        common: Common,
        /// First discard the partial copy an interrupted upgrade left (the old log is intact).
        #[arg(long)]
        discard_interrupted: bool,
    },
}

/// A failed command: its message, and the exit code (2: bad usage or input, 1: anything else).
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: u8,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        Self { message: message.into(), code: 2 }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Self { message: message.into(), code: 1 }
    }
}

impl<E: std::fmt::Display> From<E> for CliError {
    fn from(error: E) -> Self {
        CliError::failed(error.to_string())
    }
}

/// Loads the configuration the way `serve` does.
pub fn load_config(common: &Common) -> Result<Config, CliError> {
    let default_file = PathBuf::from("config.toml");
    let file = common.config.clone().or_else(|| default_file.exists().then_some(default_file));
    let mut config = Config::load(file.as_deref(), std::env::vars()).map_err(|e| CliError::usage(e.to_string()))?;
    if let Some(dir) = &common.data_dir {
        config.storage.data_dir = dir.clone();
    }
    if let Some(url) = &common.store_url {
        config.store.url = url.clone();
    }
    Ok(config)
}

/// The configuration for a command that runs the application beside the servers: a node id of
/// its own, since a server's configured `node.id` would let both hold one lease at once.
pub fn for_a_command(mut config: Config) -> Config {
    config.node.id.clear();
    config
}

/// The store directory inside a data directory.
pub fn store_dir(data_dir: &Path) -> PathBuf {
    sled_dir(data_dir)
}

/// Refuses a data directory without an event log (a mistyped path), before anything is
/// created in it. A log in PostgreSQL is not in the data directory: nothing to check there.
pub fn require_log(config: &Config) -> Result<(), CliError> {
    let data_dir = &config.storage.data_dir;
    if is_postgres(config.store.url.trim()) || store_dir(data_dir).is_dir() {
        return Ok(());
    }
    Err(CliError::failed(format!(
        "there is no event log in {}: check --data-dir (or storage.data_dir); only `serve` and `import` create one",
        data_dir.display()
    )))
}

/// Opens the event store directly (no runtime), refusing clearly when a server holds its data
/// directory or it has no event log.
pub async fn open_store(config: &Config) -> Result<Store, CliError> {
    require_log(config)?;
    open_or_create_store(config).await
}

/// [`open_store`], creating the data directory and an empty log where there is none (`import`).
pub async fn open_or_create_store(config: &Config) -> Result<Store, CliError> {
    // A command is one client at a time: a pool of two connections is plenty.
    let mut config = config.clone();
    config.store.pool_size = config.store.pool_size.min(2);
    Store::open(&config, &format!("cli-{}", std::process::id()))
        .await
        .map_err(|error| in_use_or(error.to_string(), &config.storage.data_dir))
}

/// Turns sled's lock error into the message an operator can act on.
pub fn in_use_or(message: String, data_dir: &Path) -> CliError {
    if message.contains("lock") || message.contains("WouldBlock") || message.contains("temporarily unavailable") {
        CliError::failed(format!("the data directory {} is in use by a running server: stop it first", data_dir.display()))
    } else {
        CliError::failed(message)
    }
}

/// Runs a command to its exit code.
pub fn run(cli: Cli) -> ExitCode {
    let outcome = match cli.command {
        Command::Schema => {
            println!("{}", crate::api::sdl());
            Ok(())
        }
        Command::Serve { common, bind } => serve(common, bind),
        Command::Events { common, from, stream, follow } => events::run(&common, from, stream.as_deref(), follow),
        Command::Rebuild { common, name, all } => maintenance::rebuild(&common, name.as_deref(), all),
        Command::Export { common, file } => backup::export(&common, &file),
        Command::Import { common, file } => backup::import(&common, &file),
        Command::Verify { common, repair, json } => verify::run(&common, repair, json),
        Command::Parked { common, retry, skip } => maintenance::parked(&common, retry.as_deref(), skip.as_deref()),
        Command::Upgrade { common, discard_interrupted } => upgrade::run(&common, discard_interrupted),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("konnektid: {}", error.message);
            ExitCode::from(error.code)
        }
    }
}

/// Logs (and traces, when configured) for a command; keep the guard until the command ends.
pub fn init_logging(config: &Config) -> crate::logging::TelemetryGuard {
    crate::logging::init(config)
}

fn serve(common: Common, bind: Option<String>) -> Result<(), CliError> {
    let mut config = load_config(&common)?;
    if let Some(bind) = bind {
        config.server.bind = bind;
    }
    let _telemetry = init_logging(&config);
    actix_web::rt::System::new().block_on(async move {
        let listener = std::net::TcpListener::bind(&config.server.bind)
            .map_err(|e| CliError::failed(format!("cannot listen on {}: {e}", config.server.bind)))?;
        let app = crate::app::App::open(&config).await.map_err(|e| in_use_or(e.to_string(), &config.storage.data_dir))?;
        crate::server::run(app, listener).await.map_err(|e| CliError::failed(e.to_string()))
    })
}
