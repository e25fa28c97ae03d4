//! `konnektid verify [--repair] [--json]`: replays the whole log and the payment provider's
//! statement through the checker and prints every broken cross-service invariant and every
//! difference between the two, one per line. With `--repair` it runs the application,
//! lets the choreography finish what it was doing, sends the compensating commands, lets the
//! choreography settle again and checks once more, for a few rounds while repairs bring new ones
//! to light. Exit code 1 while violations remain.

use std::sync::Arc;
use std::time::Duration;

use actors::{EventStore, WaitFor};
use serde_json::json;
use uuid::Uuid;

use super::maintenance::{progress, with_app};
use super::{load_config, open_store, CliError, Common};
use crate::app::{App, AppError, Repaired};
use crate::services::{build_gateway, PaymentGateway};
use crate::verify::{Checker, Repair, Violation};

/// Events read from the store at a time.
const PAGE: usize = 1_000;
/// How long the subscribers may take to reach the head of the log.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Rounds of repairs at most, each followed by a check.
const REPAIR_ROUNDS: usize = 3;

pub fn run(common: &Common, repair: bool, json: bool) -> Result<(), CliError> {
    if repair {
        return run_repair(common, json);
    }
    let config = load_config(common)?;
    actix_web::rt::System::new().block_on(async move {
        let store: Arc<dyn EventStore> = open_store(&config).await?.shared();
        let gateway = build_gateway(&config.payments, store.as_ref())?;
        let checker = replay(store.as_ref(), gateway.as_ref()).await?;
        let violations = checker.violations();
        report(&violations, json, "found");
        conclude(&checker, &violations, json, "found")
    })
}

fn run_repair(common: &Common, json: bool) -> Result<(), CliError> {
    with_app(common, async move |app: Arc<App>| {
        // Reactions still pending would race the repairs: let them finish first.
        settle(&app).await?;
        let mut checker = replay(app.store().as_ref(), app.gateway().as_ref()).await?;
        let mut found = checker.violations();
        report(&found, json, "found");
        let correlation_id = Uuid::new_v4();
        let mut tried: Vec<Repair> = Vec::new();
        // A repair can bring the next one to light (a cancelled booking's charge to refund at
        // the provider): a few rounds, each repair sent once per run.
        for round in 1..=REPAIR_ROUNDS {
            let sent = send_repairs(&app, correlation_id, &found, &mut tried, json).await;
            if sent == 0 {
                break;
            }
            if !json {
                println!("sent {sent} compensating commands (correlation id {correlation_id}); checking again");
            }
            settle(&app).await?;
            checker = replay(app.store().as_ref(), app.gateway().as_ref()).await?;
            found = checker.violations();
            let phase = if round == REPAIR_ROUNDS || found.iter().all(|v| v.repair.as_ref().is_none_or(|r| tried.contains(r))) {
                "remaining"
            } else {
                "found"
            };
            report(&found, json, phase);
        }
        conclude(&checker, &found, json, if tried.is_empty() { "found" } else { "remain after the repair" })
    })
}

/// Sends the repair of each violation, unless this run sent it before; answers how many it sent.
async fn send_repairs(app: &App, correlation_id: Uuid, found: &[Violation], tried: &mut Vec<Repair>, json: bool) -> usize {
    let mut sent = 0;
    for violation in found {
        // Several violations may call for the same command (a booking without a seat and
        // without a payment): send it once.
        let Some(repair) = violation.repair.as_ref().filter(|repair| !tried.contains(repair)) else { continue };
        tried.push(repair.clone());
        let outcome = app.repair(correlation_id, &violation.id, repair).await;
        print_repair(violation, repair, &outcome, json);
        sent += 1;
    }
    sent
}

/// Folds the whole log, then the provider's whole statement, into a checker, page by page,
/// with a bar on a terminal.
async fn replay(store: &dyn EventStore, gateway: &dyn PaymentGateway) -> Result<Checker, CliError> {
    let head = store.head().await?;
    let bar = progress(head, "verifying");
    let mut checker = Checker::reconciling();
    let mut from = 1;
    loop {
        let page = store.read_all(from, PAGE, None).await?;
        let Some(last) = page.last() else { break };
        for event in &page {
            checker
                .observe(event)
                .map_err(|error| CliError::failed(format!("cannot check the event at position {}: {error}", event.position)))?;
        }
        from = last.position + 1;
        bar.set_position(last.position.min(head));
    }
    bar.finish_and_clear();
    let statement = gateway
        .statement(None, 0, usize::MAX)
        .await
        .map_err(|error| CliError::failed(format!("cannot read the payment provider's statement: {error}")))?;
    statement.into_iter().for_each(|entry| checker.observe_provider(entry));
    Ok(checker)
}

/// Waits until every subscriber has applied the head of the log and the head stopped moving:
/// then no reaction is left to run.
async fn settle(app: &App) -> Result<(), CliError> {
    let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
    loop {
        let head = app.head().await?;
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        app.runtime().subscribers().wait_for(head, left, WaitFor::All).await.map_err(|timeout| {
            let behind = timeout.behind.join(", ");
            CliError::failed(format!("{behind} did not reach position {head} in time; see the log and `konnektid parked`"))
        })?;
        if app.head().await? == head {
            return Ok(());
        }
    }
}

fn report(violations: &[Violation], json: bool, phase: &str) {
    for violation in violations {
        if json {
            let mut line = violation.to_json();
            line["phase"] = json!(phase);
            println!("{line}");
        } else {
            println!("{violation}");
        }
    }
}

fn print_repair(violation: &Violation, repair: &Repair, outcome: &Result<Repaired, AppError>, json: bool) {
    let (status, detail, events) = match outcome {
        Ok(Repaired::Committed(events)) if events.is_empty() => ("done", "nothing left to do".to_owned(), &[][..]),
        Ok(Repaired::Committed(events)) => ("done", String::new(), events.as_slice()),
        Ok(Repaired::Refused(why)) => ("refused", why.clone(), &[][..]),
        Err(error) => ("failed", error.to_string(), &[][..]),
    };
    if json {
        let events: Vec<serde_json::Value> = events
            .iter()
            .map(|event| json!({ "position": event.position, "type": event.event_type, "stream": event.stream.to_string() }))
            .collect();
        let line = json!({ "phase": "repair", "id": violation.id, "repair": repair.to_string(), "outcome": status, "detail": detail, "events": events });
        println!("{line}");
        return;
    }
    let committed: Vec<String> = events.iter().map(|event| format!("#{} {} {}", event.position, event.event_type, event.stream)).collect();
    let detail = if committed.is_empty() { detail } else { format!("committed {}", committed.join(", ")) };
    println!("repair {status}: {}: {repair}: {detail}", violation.id);
}

/// The summary: success when nothing is left, else exit code 1.
fn conclude(checker: &Checker, violations: &[Violation], json: bool, verb: &str) -> Result<(), CliError> {
    if violations.is_empty() {
        let summary = format!(
            "no violations: {} events and {} provider statement lines checked",
            checker.events_seen(),
            checker.provider_entries_seen()
        );
        if json {
            eprintln!("{summary}");
        } else {
            println!("{summary}");
        }
        return Ok(());
    }
    let unrepairable = violations.iter().filter(|violation| violation.repair.is_none()).count();
    let note = if unrepairable > 0 { format!(" ({unrepairable} cannot be repaired automatically)") } else { String::new() };
    Err(CliError::failed(format!("{} violations {verb} in {} events{note}", violations.len(), checker.events_seen())))
}
