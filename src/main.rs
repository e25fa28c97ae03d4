//! The `konnektid` binary: loads the configuration, wires the application, and serves or runs
//! an operator command.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use konnektid::app::App;
use konnektid::config::Config;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "konnektid", version, about = "Konnektid: an event-sourced marketplace for teaching and learning skills")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// The configuration file (default: ./config.toml when it exists, else built-in defaults).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where the data lives (overrides storage.data_dir).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
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
}

fn load_config(common: &Common) -> Result<Config, String> {
    let default_file = PathBuf::from("config.toml");
    let file = common.config.clone().or_else(|| default_file.exists().then_some(default_file));
    let mut config = Config::load(file.as_deref(), std::env::vars()).map_err(|e| e.to_string())?;
    if let Some(dir) = &common.data_dir {
        config.storage.data_dir = dir.clone();
    }
    Ok(config)
}

fn init_logging(config: &Config) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if config.log.format == "json" { builder.json().try_init() } else { builder.try_init() };
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Schema => {
            println!("{}", konnektid::api::sdl());
            ExitCode::SUCCESS
        }
        Command::Serve { common, bind } => {
            let mut config = match load_config(&common) {
                Ok(config) => config,
                Err(error) => {
                    eprintln!("konnektid: {error}");
                    return ExitCode::from(2);
                }
            };
            if let Some(bind) = bind {
                config.server.bind = bind;
            }
            init_logging(&config);
            match actix_web::rt::System::new().block_on(serve(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!("{error}");
                    eprintln!("konnektid: {error}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let listener = TcpListener::bind(&config.server.bind).map_err(|e| format!("cannot listen on {}: {e}", config.server.bind))?;
    let app = App::open(&config).await.map_err(|e| e.to_string())?;
    konnektid::server::run(app, listener).await.map_err(|e| e.to_string())
}
