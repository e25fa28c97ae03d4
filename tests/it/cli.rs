//! The `konnektid` binary's operator commands against temporary data directories: a backup
//! restores byte for byte, with read models rebuilt and no side effect run again; a corrupt
//! backup, a data directory that holds events and one a server holds are refused.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::WaitFor;
use konnektid::app::{App, Caller, NewCourse, NewMember};
use konnektid::config::Config;
use konnektid::domain::booking::BookingStatus;
use uuid::Uuid;

const DEADLINE: Duration = Duration::from_secs(20);

fn config(data_dir: &Path) -> Config {
    let mut config = Config::default();
    config.storage.data_dir = data_dir.to_owned();
    config.storage.fsync = false;
    config.storage.cache_mib = 16;
    config.auth.admin_token = "test-admin".to_owned();
    config.auth.password_memory_kib = 64;
    config.auth.password_iterations = 1;
    config
}

/// Runs the binary on `data_dir` from an empty working directory (so no `config.toml` is found).
fn konnektid(work: &Path, data_dir: &Path, args: &[&str]) -> Output {
    konnektid_with(work, data_dir, args, &[])
}

/// [`konnektid`] with more settings (`KONNEKTID_...` pairs).
pub(crate) fn konnektid_with(work: &Path, data_dir: &Path, args: &[&str], settings: &[(&str, String)]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_konnektid"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .current_dir(work)
        .env("KONNEKTID_AUTH_PASSWORD_MEMORY_KIB", "64")
        .env("KONNEKTID_AUTH_PASSWORD_ITERATIONS", "1")
        .env("KONNEKTID_STORAGE_FSYNC", "false")
        .env("KONNEKTID_LOG_LEVEL", "warn")
        .envs(settings.iter().map(|(name, value)| (*name, value.as_str())))
        .output()
        .expect("the binary runs")
}

/// Like [`konnektid`], retrying while the application this test process just shut down still
/// holds the database lock for a moment.
fn konnektid_when_free(work: &Path, data_dir: &Path, args: &[&str]) -> Output {
    let started = Instant::now();
    loop {
        let output = konnektid(work, data_dir, args);
        if !stderr(&output).contains("in use") || started.elapsed() > DEADLINE {
            return output;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub(crate) fn assert_success(output: &Output) {
    assert!(output.status.success(), "the command failed: {}", stderr(output));
}

fn assert_refused(output: &Output, message: &str) {
    assert!(!output.status.success(), "the command should have failed");
    assert!(stderr(output).contains(message), "expected {message:?} in: {}", stderr(output));
}

async fn open(config: &Config) -> Arc<App> {
    let started = Instant::now();
    loop {
        match App::open(config).await {
            Ok(app) => return app,
            Err(_) if started.elapsed() < DEADLINE => actix_rt::time::sleep(Duration::from_millis(50)).await,
            Err(error) => panic!("the application did not start: {error}"),
        }
    }
}

/// Waits until every subscriber has applied the head and the head stays put.
async fn settle(app: &App) -> u64 {
    loop {
        let head = app.head().await.unwrap();
        app.runtime().subscribers().wait_for(head, DEADLINE, WaitFor::All).await.unwrap();
        if app.head().await.unwrap() == head {
            return head;
        }
    }
}

async fn member(app: &App, name: &str) -> Uuid {
    let input = NewMember {
        email: format!("{name}@example.org"),
        display_name: name.to_owned(),
        password: "correct horse battery".to_owned(),
        city: Some("Utrecht".to_owned()),
    };
    app.register_member(input, None).await.unwrap().1.id
}

/// A data directory with real history: two members, a published course, a confirmed booking
/// and one whose payment was declined. Answers the confirmed booking and the head.
async fn history(data_dir: &Path) -> (Uuid, u64) {
    let app = open(&config(data_dir)).await;
    let (teacher, learner) = (member(&app, "teacher").await, member(&app, "learner").await);
    let course = NewCourse {
        title: "Sourdough".to_owned(),
        description: "Bread, slowly.".to_owned(),
        category: "cooking".to_owned(),
        city: Some("Utrecht".to_owned()),
        price_cents: 2_500,
        currency: "EUR".to_owned(),
        capacity: 5,
    };
    let course = app.create_course(Caller::Member(teacher), course, None).await.unwrap().id;
    app.publish_course(Caller::Member(teacher), course, None, None).await.unwrap();
    let confirmed = app.request_booking(Caller::Member(learner), course, "tok_visa".to_owned(), None).await.unwrap().id;
    app.request_booking(Caller::Member(learner), course, "tok_decline".to_owned(), None).await.unwrap();
    let head = settle(&app).await;
    let status = app.read_models().bookings.get(confirmed).unwrap().map(|b| b.status);
    assert_eq!(status, Some(BookingStatus::Confirmed));
    assert!(!outbox(data_dir).is_empty(), "the original history mailed");
    app.shutdown().await;
    (confirmed, head)
}

fn outbox(data_dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(data_dir.join("outbox")) {
        Ok(entries) => entries.map(|entry| entry.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// A temporary directory holding a data directory with history and its backup `a.ndjson`.
pub(crate) struct Backup {
    work: tempfile::TempDir,
    pub(crate) booking: Uuid,
    pub(crate) head: u64,
}

impl Backup {
    pub(crate) async fn make() -> Self {
        let work = tempfile::tempdir().unwrap();
        let (booking, head) = history(&work.path().join("source")).await;
        let backup = Self { work, booking, head };
        assert_success(&konnektid_when_free(backup.dir(), &backup.path("source"), &["export", "a.ndjson"]));
        backup
    }

    pub(crate) fn dir(&self) -> &Path {
        self.work.path()
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("a.ndjson")).unwrap().lines().map(str::to_owned).collect()
    }

    /// Imports `content` into a fresh data directory; answers the output and that directory.
    fn import(&self, name: &str, content: &str) -> (Output, PathBuf) {
        std::fs::write(self.path(name), content).unwrap();
        let target = self.path(&format!("{name}.data"));
        (konnektid(self.dir(), &target, &["import", name]), target)
    }
}

#[actix_rt::test]
async fn an_exported_log_imports_byte_for_byte_without_mailing_or_charging_again() {
    let backup = Backup::make().await;
    assert_eq!(backup.lines().len() as u64, backup.head);
    assert!(!backup.dir().read_dir().unwrap().any(|e| e.unwrap().file_name().to_string_lossy().contains("partial")));

    let restored = backup.path("restored");
    let imported = konnektid(backup.dir(), &restored, &["import", "a.ndjson"]);
    assert_success(&imported);
    let summary = String::from_utf8_lossy(&imported.stdout);
    assert!(summary.contains(&format!("imported {} events", backup.head)), "{summary}");
    assert_success(&konnektid(backup.dir(), &restored, &["export", "b.ndjson"]));
    let (a, b) = (std::fs::read(backup.path("a.ndjson")).unwrap(), std::fs::read(backup.path("b.ndjson")).unwrap());
    assert!(a == b, "the re-exported backup differs from the original");

    // The restored directory answers from its read models and acts on nothing it imported.
    let app = open(&config(&restored)).await;
    let booking = app.read_models().bookings.get(backup.booking).unwrap().expect("the booking is in the read model");
    assert_eq!(booking.status, BookingStatus::Confirmed);
    assert_eq!(settle(&app).await, backup.head, "no reaction appended anything (no charge, no refund, no command)");
    let statuses = app.runtime().subscribers().statuses().await.unwrap();
    assert!(statuses.iter().all(|s| s.position == backup.head && s.parked == 0), "{statuses:?}");
    // The credentials came along in a.ndjson.credentials: members sign in as before.
    app.login("teacher@example.org", "correct horse battery").await.expect("the teacher signs in to the restored directory");
    assert_eq!(app.login("learner@example.org", "wrong").await.unwrap_err().code(), "UNAUTHENTICATED");
    app.shutdown().await;
    assert!(outbox(&restored).is_empty(), "no e-mail sent for imported history: {:?}", outbox(&restored));
}

#[actix_rt::test]
async fn it_should_not_import_a_corrupt_backup_and_write_nothing() {
    let backup = Backup::make().await;
    let lines = backup.lines();
    let joined = |lines: &[String]| lines.iter().map(|line| format!("{line}\n")).collect::<String>();

    let mut garbage = lines.clone();
    garbage[2] = "{\"position\": 3, oops".to_owned();
    let (output, target) = backup.import("garbage.ndjson", &joined(&garbage));
    assert_refused(&output, "line 3: not an event");
    assert!(!target.exists(), "a refused import creates nothing");

    let whole = joined(&lines);
    let truncated = &whole[..whole.len() - 20];
    let (output, target) = backup.import("truncated.ndjson", truncated);
    assert_refused(&output, &format!("line {}: the line has no newline at its end", lines.len()));
    assert!(!target.exists());

    let mut gap = lines.clone();
    gap.remove(3);
    let (output, target) = backup.import("gap.ndjson", &joined(&gap));
    assert_refused(&output, "line 4: position 5, expected 4");
    assert!(!target.exists());

    let mut reordered = lines;
    reordered.swap(5, 6);
    let (output, _) = backup.import("reordered.ndjson", &joined(&reordered));
    assert_refused(&output, "line 6: position 7, expected 6");
}

#[actix_rt::test]
async fn it_should_not_import_into_a_data_directory_that_holds_events() {
    let backup = Backup::make().await;
    let source = backup.path("source");
    let refused = konnektid(backup.dir(), &source, &["import", "a.ndjson"]);
    assert_refused(&refused, &format!("already holds {} events", backup.head));
    let app = open(&config(&source)).await;
    assert_eq!(app.head().await.unwrap(), backup.head, "nothing was added");
    app.shutdown().await;
}

#[actix_rt::test]
async fn it_should_not_export_while_a_server_holds_the_data_directory() {
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    let app = open(&config(&data_dir)).await;
    let refused = konnektid(work.path(), &data_dir, &["export", "a.ndjson"]);
    assert_refused(&refused, "is in use by a running server");
    assert!(!work.path().join("a.ndjson").exists());
    app.shutdown().await;

    let missing = konnektid(work.path(), &work.path().join("nothing"), &["export", "a.ndjson"]);
    assert_refused(&missing, "there is no event log");
}

#[actix_rt::test]
async fn events_prints_the_log_as_json_lines_whole_from_a_position_or_one_stream() {
    let backup = Backup::make().await;
    let source = backup.path("source");
    let all = konnektid_when_free(backup.dir(), &source, &["events"]);
    assert_success(&all);
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&all.stdout).lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect();
    let positions: Vec<String> = lines.iter().map(|line| line["position"].as_str().unwrap().to_owned()).collect();
    assert_eq!(positions, (1..=backup.head).map(|p| p.to_string()).collect::<Vec<_>>());
    assert!(lines.iter().all(|line| line["type"].is_string() && line["data"].is_object() && line["correlationId"].is_string()));

    let from = konnektid(backup.dir(), &source, &["events", "--from", "3"]);
    assert_eq!(String::from_utf8_lossy(&from.stdout).lines().count() as u64, backup.head - 2);

    let booking = backup.booking.to_string();
    let stream = konnektid(backup.dir(), &source, &["events", "--stream", &format!("booking:{booking}")]);
    assert_success(&stream);
    let types: Vec<String> = String::from_utf8_lossy(&stream.stdout)
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .inspect(|line| assert_eq!(line["aggregateId"], booking.as_str()))
        .map(|line| line["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types, ["BookingRequested", "BookingSeatReserved", "BookingConfirmed"]);
    assert_refused(&konnektid(backup.dir(), &source, &["events", "--stream", "booking"]), "TYPE:ID");
}

#[actix_rt::test]
async fn rebuild_and_parked_work_on_a_stopped_servers_data_directory() {
    let backup = Backup::make().await;
    let source = backup.path("source");
    let rebuilt = konnektid_when_free(backup.dir(), &source, &["rebuild", "--all"]);
    assert_success(&rebuilt);
    let report = String::from_utf8_lossy(&rebuilt.stdout).into_owned();
    for name in konnektid::app::read_model_names() {
        assert!(report.contains(&format!("rebuilt {name} up to position {}", backup.head)), "{report}");
    }
    let unknown = konnektid_when_free(backup.dir(), &source, &["rebuild", "nope"]);
    assert_refused(&unknown, "no read model named \"nope\"");
    assert_eq!(unknown.status.code(), Some(2));

    let parked = konnektid_when_free(backup.dir(), &source, &["parked"]);
    assert_success(&parked);
    assert!(parked.stdout.is_empty(), "nothing is parked: {}", String::from_utf8_lossy(&parked.stdout));
    assert_refused(&konnektid_when_free(backup.dir(), &source, &["parked", "--retry", "email:1"]), "has no parked event at position 1");
    assert_refused(&konnektid(backup.dir(), &source, &["parked", "--skip", "email"]), "SUBSCRIBER:POSITION");

    // The rebuilt read models still answer, from the whole history.
    let app = open(&config(&source)).await;
    assert_eq!(app.read_models().bookings.get(backup.booking).unwrap().map(|b| b.status), Some(BookingStatus::Confirmed));
    app.shutdown().await;
}

#[actix_rt::test]
async fn operator_commands_refuse_a_data_directory_without_an_event_log_and_create_nothing() {
    let work = tempfile::tempdir().unwrap();
    let nope = work.path().join("nope");
    for args in [&["verify"][..], &["verify", "--repair"], &["events"], &["parked"], &["rebuild", "--all"]] {
        let refused = konnektid(work.path(), &nope, args);
        assert_refused(&refused, "there is no event log in");
        assert_eq!(refused.status.code(), Some(1), "{args:?}");
        assert!(!nope.exists(), "{args:?} created {}", nope.display());
    }
}

#[actix_rt::test]
async fn commands_say_so_when_there_is_nothing_to_report() {
    let backup = Backup::make().await;
    let source = backup.path("source");
    let parked = konnektid_when_free(backup.dir(), &source, &["parked"]);
    assert_success(&parked);
    assert!(parked.stdout.is_empty(), "stdout stays NDJSON: {}", String::from_utf8_lossy(&parked.stdout));
    assert!(stderr(&parked).contains("no parked events"), "{}", stderr(&parked));
    let verified = konnektid(backup.dir(), &source, &["verify"]);
    assert_success(&verified);
    assert!(String::from_utf8_lossy(&verified.stdout).starts_with("no violations"), "{}", String::from_utf8_lossy(&verified.stdout));
    let events = konnektid(backup.dir(), &source, &["events", "--from", "100000"]);
    assert_success(&events);
    assert!(events.stdout.is_empty() && stderr(&events).contains("no events"), "{}", stderr(&events));
}

#[actix_rt::test]
async fn events_into_a_pipe_closed_early_end_quietly() {
    let backup = Backup::make().await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_konnektid"))
        .args(["events", "--data-dir"])
        .arg(backup.path("source"))
        .current_dir(backup.dir())
        .env("KONNEKTID_LOG_LEVEL", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    // Like `konnektid events | head -0`: the reader is gone before the first line.
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("the binary ends");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(output.stderr.is_empty(), "nothing to say about it: {}", stderr(&output));
}

#[actix_rt::test]
async fn logs_carry_no_colour_codes_when_stderr_is_not_a_terminal() {
    let backup = Backup::make().await;
    let output = loop {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_konnektid"))
            .args(["parked", "--data-dir"])
            .arg(backup.path("source"))
            .current_dir(backup.dir())
            .env("KONNEKTID_LOG_LEVEL", "info")
            .env("KONNEKTID_STORAGE_FSYNC", "false")
            .output()
            .expect("the binary runs");
        if !stderr(&output).contains("in use") {
            break output;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_success(&output);
    let log = stderr(&output);
    assert!(log.contains("INFO"), "the command logs at info: {log}");
    assert!(!log.contains('\u{1b}'), "no escape codes in a redirected log: {log:?}");
}
