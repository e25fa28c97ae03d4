//! `konnektid upgrade`: brings a data directory's event log to the current stored format (any
//! open does it too), or discards the partial copy an interrupted upgrade left.

use std::io::IsTerminal;
use std::sync::Arc;

use actors::{SledStore, UpgradeProgress};
use indicatif::{ProgressBar, ProgressStyle};

use super::{load_config, require_log, store_dir, CliError, Common};

/// A progress bar on standard error while a log in an older format is upgraded at open, when
/// that is a terminal; nothing otherwise (the upgrade logs its start and end either way).
pub(crate) fn progress() -> Option<UpgradeProgress> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::hidden();
    let style =
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} events ({eta})").unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.set_message("upgrading");
    Some(UpgradeProgress(Arc::new(move |done, total| {
        if bar.is_hidden() {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        bar.set_length(total);
        bar.set_position(done);
        if done >= total {
            bar.finish_and_clear();
        }
    })))
}

pub fn run(common: &Common, discard_interrupted: bool) -> Result<(), CliError> {
    let config = load_config(common)?;
    require_log(&config)?;
    let dir = store_dir(&config.storage.data_dir);
    if discard_interrupted {
        let discarded =
            SledStore::discard_interrupted_upgrade(&dir).map_err(|e| super::in_use_or(e.to_string(), &config.storage.data_dir))?;
        println!("{}", if discarded { "discarded the partial copy of an interrupted upgrade" } else { "no interrupted upgrade found" });
    }
    let store = actix_web::rt::System::new().block_on(super::open_or_create_store(&config))?;
    drop(store);
    println!("the event log is in the current stored format");
    Ok(())
}
