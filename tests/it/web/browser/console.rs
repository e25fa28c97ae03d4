//! The console in a browser, as an operator uses it: signs in with the admin token, reads the
//! log newest first and live, opens an event, draws a real booking's flow with one box per
//! event and one arrow per causation, travels through a stream, retries a parked event, shows
//! lag and the overview's charts, at desktop and at phone width, with no request leaving the
//! server.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{click, eval, launch, open, viewport, wait, Chromium, DESKTOP, PHONE};
use crate::api::harness::{text, TestServer, ADMIN};

/// A subscriber parks a failing event after one quick retry.
fn quick_to_park(config: &mut konnektid::config::Config) {
    config.runtime.handler_max_retries = 1;
    config.runtime.handler_first_backoff_ms = 10;
}

/// Polls `check` until it answers something.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{what}: not within 15 s");
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the browser part checks against, gathered over the API first.
struct Scene {
    base: String,
    booking_id: String,
    correlation_id: String,
    flow: Vec<Value>,
    head: u64,
    outbox: std::path::PathBuf,
    outbox_away: std::path::PathBuf,
}

#[actix_rt::test]
async fn the_console_shows_the_log_a_bookings_flow_and_subscribers_and_retries_a_parked_event() {
    let server = TestServer::start_with(quick_to_park).await;
    let (teacher, _) = server.register("teacher@example.org", "Teacher").await;
    let course = server.create_published_course(&teacher, 5, 2_500).await;
    let (learner, _) = server.register("learner@example.org", "Learner").await;
    let booked = server.request_booking(&learner, &course, "tok_visa").await;
    let booking_id = text(&booked["booking"]["id"]);
    let correlation_id = text(&booked["events"][0]["correlationId"]);
    eventually("the booking is confirmed", || async {
        (server.booking(&learner, &booking_id).await["status"] == "CONFIRMED").then_some(())
    })
    .await;
    server.wait_settled().await;
    let flow = server
        .data(
            "query($id: ID!) { flow(correlationId: $id) { position eventId causationId type } }",
            json!({ "id": correlation_id }),
            Some(ADMIN),
        )
        .await;
    let flow = flow["flow"].as_array().expect("a flow").clone();

    // A second booking while the outbox is gone: its confirmation e-mail fails and is parked.
    let outbox = server.data_dir().join("outbox");
    let outbox_away = server.data_dir().join("outbox-away");
    std::fs::rename(&outbox, &outbox_away).expect("the outbox moves away");
    let (second, _) = server.register("second@example.org", "Second").await;
    server.request_booking(&second, &course, "tok_visa").await;
    eventually("the e-mail handler parks the confirmation", || async {
        let parked = server.data("{ parkedEvents { subscriber } }", json!({}), Some(ADMIN)).await;
        (parked["parkedEvents"].as_array().is_some_and(|list| list.iter().any(|p| p["subscriber"] == "email"))).then_some(())
    })
    .await;
    let head = text(&server.data("{ head }", json!({}), Some(ADMIN)).await["head"]).parse().expect("a position");

    let scene = Scene { base: server.url(""), booking_id, correlation_id, flow, head, outbox, outbox_away };
    actix_rt::task::spawn_blocking(move || {
        let Some(chromium) = launch() else { return };
        browse(&chromium, &scene);
        chromium.assert_nothing_left(&scene.base);
        chromium.assert_no_problems();
    })
    .await
    .expect("the browser session ends");
}

fn browse(chromium: &Chromium, scene: &Scene) {
    let tab = chromium.tab();
    let console = format!("{}/console", scene.base);

    // Sign in once; the token stays in the tab's session storage.
    open(&tab, &console, "document.querySelector('#sign-in')");
    chromium.screenshot(&tab, "console-sign-in");
    tab.wait_for_element("#token").expect("a token field").click().expect("focus");
    tab.type_str(ADMIN).expect("typing");
    click(&tab, "#sign-in button[type=submit]");

    // Overview: the figures and the three charts.
    wait(&tab, "document.querySelectorAll('#charts figure.chart').length === 3 && document.querySelector('#tile-head')", "the overview");
    assert_eq!(eval(&tab, "document.querySelector('#tile-head .value').textContent"), json!(scene.head.to_string()));
    wait(&tab, "document.querySelector('figure[data-metric=eventsPerSecond] svg')", "the events-per-second chart");
    chromium.screenshot(&tab, "console-overview");

    // Log: newest first, the head on top.
    eval(&tab, "location.hash = '#/log'");
    let top = wait(&tab, "document.querySelector('#log-rows tr')?.dataset.position", "the log's rows");
    assert_eq!(top, json!(scene.head.to_string()), "newest first");
    let rows = eval(&tab, "[...document.querySelectorAll('#log-rows tr')].map(r => Number(r.dataset.position))");
    let expected: Vec<u64> = (1..=scene.head).rev().take(50).collect();
    assert_eq!(rows, json!(expected));
    chromium.screenshot(&tab, "console-log");

    // Filtered by aggregate type.
    eval(&tab, "location.hash = '#/log?aggregate=BOOKING'");
    wait(
        &tab,
        "(rows => rows.length > 0 && rows.every(r => r.children[3].textContent === 'BOOKING'))([...document.querySelectorAll('#log-rows tr')])",
        "only booking events",
    );

    // The live tail shows an event committed after the page loaded.
    eval(&tab, "location.hash = '#/log'");
    wait(&tab, "document.querySelector('#log-rows tr') && location.hash === '#/log'", "the log again");
    click(&tab, "#live");
    wait(&tab, "document.querySelector('#log-status').textContent.startsWith('Following')", "the tail starts");
    eval(
        &tab,
        r#"(fetch('/graphql', { method: 'POST', headers: { 'Content-Type': 'application/json' },
             body: JSON.stringify({ query: 'mutation LiveTail { registerMember(input: {email: "live@example.org", displayName: "Live", password: "correct horse battery"}) { position } }' }) }), true)"#,
    );
    let live = wait(
        &tab,
        "(r => r && r.children[2].textContent === 'MemberRegistered' && r.dataset.position)(document.querySelector('#log-rows tr'))",
        "the live event",
    );
    assert!(live.as_str().and_then(|p| p.parse::<u64>().ok()).is_some_and(|p| p > scene.head), "{live}");

    // One event opened from the log: data, metadata, correlation and causation.
    let seat = scene.flow.iter().find(|e| e["type"] == "SeatReserved").expect("a SeatReserved");
    open_event(&tab, scene, seat);
    chromium.screenshot(&tab, "console-event");

    // The booking's flow: one box per event, one arrow per causation link.
    eval(&tab, &format!("location.hash = '#/flow/{}'", scene.correlation_id));
    wait(&tab, &format!("document.querySelectorAll('#flow-picture g.event').length === {}", scene.flow.len()), "a box per event");
    let boxes: BTreeSet<String> =
        serde_json::from_value(eval(&tab, "[...document.querySelectorAll('#flow-picture g.event')].map(g => g.dataset.eventId)"))
            .expect("ids");
    let events: BTreeSet<String> = scene.flow.iter().map(|e| text(&e["eventId"])).collect();
    assert_eq!(boxes, events);
    let arrows: BTreeSet<(String, String)> = serde_json::from_value(eval(
        &tab,
        "[...document.querySelectorAll('#flow-picture path.arrow')].map(a => [a.dataset.from, a.dataset.to])",
    ))
    .expect("arrows");
    let links: BTreeSet<(String, String)> = scene
        .flow
        .iter()
        .filter(|e| e["causationId"].is_string() && events.contains(&text(&e["causationId"])))
        .map(|e| (text(&e["causationId"]), text(&e["eventId"])))
        .collect();
    assert!(!links.is_empty(), "a booking's flow has reactions");
    assert_eq!(arrows, links);
    assert_eq!(
        eval(&tab, "document.querySelector('#flow-picture g.event[data-kind=success]') !== null"),
        json!(true),
        "the confirmation stands out"
    );
    chromium.screenshot(&tab, "console-flow");

    // The booking's stream: the slider shows the state at each version beside its event.
    eval(&tab, &format!("location.hash = '#/stream/BOOKING/{}'", scene.booking_id));
    let last = wait(&tab, "document.querySelector('#at-state')?.dataset.version", "the latest state");
    assert!(
        eval(&tab, "document.querySelector('#at-state').innerText").as_str().is_some_and(|s| s.contains("CONFIRMED")),
        "the latest state is confirmed (v{last})"
    );
    eval(&tab, "(s => { s.value = 1; s.dispatchEvent(new Event('input')); return true; })(document.querySelector('#version'))");
    wait(&tab, "document.querySelector('#at-state').dataset.version === '1'", "the state at version 1");
    let first = eval(&tab, "[document.querySelector('#at-event').innerText, document.querySelector('#at-state').innerText]");
    assert!(first[0].as_str().is_some_and(|s| s.contains("BookingRequested")), "{first}");
    assert!(first[1].as_str().is_some_and(|s| s.contains("REQUESTED") && !s.contains("CONFIRMED")), "{first}");
    chromium.screenshot(&tab, "console-stream");

    // Subscribers: lag for each, the parked e-mail with Retry, which works once the outbox is back.
    eval(&tab, "location.hash = '#/subscribers'");
    wait(&tab, "document.querySelector('tr.parked-event[data-subscriber=email] button.retry')", "the parked e-mail");
    let lags = eval(&tab, "[...document.querySelectorAll('#subscriber-rows td.lag')].map(td => td.textContent)");
    assert!(
        lags.as_array().is_some_and(|l| !l.is_empty() && l.iter().all(|lag| lag.as_str().is_some_and(|s| s.parse::<u64>().is_ok()))),
        "{lags}"
    );
    assert!(
        eval(&tab, "document.querySelector('#subscriber-rows tr[data-subscriber=bookings] button.rebuild') !== null") == json!(true),
        "read models can be rebuilt"
    );
    chromium.screenshot(&tab, "console-subscribers");
    let sent_before = mails(&scene.outbox_away);
    std::fs::rename(&scene.outbox_away, &scene.outbox).expect("the outbox comes back");
    click(&tab, "tr.parked-event[data-subscriber=email] button.retry");
    wait(&tab, "document.querySelector('#nothing-parked') && document.querySelector('#notice .ok')", "nothing parked after the retry");
    assert_eq!(eval(&tab, "document.querySelector('#subscriber-rows tr[data-subscriber=email] td.parked-count').textContent"), json!("0"));
    assert!(mails(&scene.outbox) > sent_before, "the retried confirmation was written");

    // Phone width: the pages fit; wide tables and pictures scroll inside their boxes.
    viewport(&tab, PHONE);
    for (hash, ready, name) in [
        ("#/log", "document.querySelector('#log-rows tr')", "console-log-phone"),
        ("#/overview", "document.querySelectorAll('#charts figure.chart').length === 3", "console-overview-phone"),
    ] {
        eval(&tab, &format!("location.hash = '{hash}'"));
        wait(&tab, ready, hash);
        let overflow = eval(&tab, "document.documentElement.scrollWidth - window.innerWidth");
        assert!(overflow.as_i64().is_some_and(|o| o <= 1), "{hash} is wider than a phone: {overflow}");
        chromium.screenshot(&tab, name);
    }
    viewport(&tab, DESKTOP);
}

/// Opens `event` from the log, filtered by its type, and checks what it shows.
fn open_event(tab: &headless_chrome::Tab, scene: &Scene, event: &Value) {
    let (position, event_type) = (text(&event["position"]), text(&event["type"]));
    eval(tab, &format!("location.hash = '#/log?types={event_type}'"));
    wait(tab, &format!("document.querySelector(\"#log-rows tr[data-position='{position}'] a\")"), "the event in the log");
    click(tab, &format!("#log-rows tr[data-position='{position}'] a"));
    let facts = wait(tab, "document.querySelector('#event-facts')?.innerText", "the event's facts");
    let facts = facts.as_str().expect("text");
    assert!(facts.contains(&text(&event["eventId"])), "{facts}");
    assert!(facts.contains(&scene.correlation_id), "the correlation: {facts}");
    assert!(facts.contains(&text(&event["causationId"])), "the causation: {facts}");
    assert_eq!(eval(tab, "document.querySelectorAll('pre.json').length"), json!(2), "data and metadata");
}

fn mails(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map_or(0, |entries| entries.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().ends_with(".eml")).count())
}
