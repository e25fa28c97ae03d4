//! `konnektid rebuild` and `konnektid parked`: maintenance through the full runtime, on a data
//! directory no server holds.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use actors::SubscriberState;
use indicatif::{ProgressBar, ProgressStyle};

use super::{for_a_command, in_use_or, init_logging, load_config, require_log, CliError, Common};
use crate::app::App;

/// Runs `work` against the application opened on an existing data directory, then shuts it
/// down.
pub(super) fn with_app<T>(common: &Common, work: impl AsyncFnOnce(Arc<App>) -> Result<T, CliError>) -> Result<T, CliError> {
    let config = for_a_command(load_config(common)?);
    require_log(&config)?;
    let _telemetry = init_logging(&config);
    actix_web::rt::System::new().block_on(async move {
        let app = App::open(&config).await.map_err(|e| in_use_or(e.to_string(), &config.storage.data_dir))?;
        let outcome = work(app.clone()).await;
        app.shutdown().await;
        outcome
    })
}

/// A bar on a terminal, nothing when piped.
pub(crate) fn progress(length: u64, message: &str) -> ProgressBar {
    if !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(length);
    let style = ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({eta})").unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.set_message(message.to_owned());
    bar
}

pub fn rebuild(common: &Common, name: Option<&str>, all: bool) -> Result<(), CliError> {
    let names: Vec<String> = match (name, all) {
        (_, true) => crate::app::read_model_names().iter().map(|n| n.to_string()).collect(),
        (Some(name), false) => vec![name.to_owned()],
        (None, false) => return Err(CliError::usage("name a read model, or pass --all")),
    };
    with_app(common, async move |app: Arc<App>| {
        let head = app.head().await.map_err(|e| CliError::failed(e.to_string()))?;
        for name in names {
            app.rebuild_projection(crate::app::Caller::Admin, &name).await.map_err(|e| CliError::usage(e.to_string()))?;
            let bar = progress(head, &name);
            loop {
                let statuses = app.runtime().subscribers().statuses().await.map_err(CliError::from)?;
                let status =
                    statuses.into_iter().find(|s| s.name == name).ok_or_else(|| CliError::failed(format!("{name} disappeared")))?;
                bar.set_position(status.position.min(head));
                if status.state == SubscriberState::Live && status.position >= head {
                    break;
                }
                if status.state == SubscriberState::Stopped {
                    return Err(CliError::failed(format!("the rebuild of {name} stopped; see the log")));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            bar.finish_and_clear();
            println!("rebuilt {name} up to position {head}");
        }
        Ok(())
    })
}

fn parse_target(target: &str) -> Result<(String, u64), CliError> {
    let (name, position) =
        target.rsplit_once(':').ok_or_else(|| CliError::usage(format!("expected SUBSCRIBER:POSITION, not {target:?}")))?;
    let position = position.parse().map_err(|_| CliError::usage(format!("{position:?} is not a position")))?;
    Ok((name.to_owned(), position))
}

pub fn parked(common: &Common, retry: Option<&str>, skip: Option<&str>) -> Result<(), CliError> {
    let retry = retry.map(parse_target).transpose()?;
    let skip = skip.map(parse_target).transpose()?;
    with_app(common, async move |app: Arc<App>| {
        let projections = app.runtime().subscribers();
        if let Some((name, position)) = retry {
            projections.retry_parked(&name, position).await.map_err(CliError::from)?;
            println!("retried {name}:{position}: applied, no longer parked");
        } else if let Some((name, position)) = skip {
            projections.skip_parked(&name, position).map_err(CliError::from)?;
            println!("skipped {name}:{position}");
        } else {
            let parked = projections.all_parked();
            if parked.is_empty() {
                // Not on stdout, which stays one JSON object per line for a pipe.
                eprintln!("no parked events");
            }
            for (name, event) in parked {
                let line = serde_json::json!({ "subscriber": name, "position": event.position.to_string(), "eventId": event.event_id, "error": event.error });
                println!("{line}");
            }
        }
        Ok(())
    })
}
