//! A data directory written by the first or the second stored format (`tests/fixtures/v1`,
//! `tests/fixtures/v2`, see their READMEs) opens with today's binary: upgraded, every event reads
//! back as that binary printed it, a backup is byte for byte the one it wrote, and the server
//! serves it. An interrupted upgrade is refused with a message that says what to do.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

use serde_json::{json, Value};

use crate::process::serve;

const ADMIN: &str = "fixture-admin";
const DEADLINE: Duration = Duration::from_secs(60);

/// The fixtures: a data directory each, written by the binary of that stored format.
#[derive(Debug, Clone, Copy)]
enum Format {
    First,
    Second,
}

impl Format {
    fn fixture(self, name: &str) -> PathBuf {
        let dir = match self {
            Format::First => "v1",
            Format::Second => "v2",
        };
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(dir).join(name)
    }

    /// The tree of its log, and the one its upgrade copies into.
    fn trees(self) -> (&'static str, &'static str) {
        match self {
            Format::First => ("log", "log2"),
            Format::Second => ("log2", "log3"),
        }
    }
}

/// A copy of the fixture's data directory: tests never write into the committed one.
fn copy_of_fixture(format: Format, into: &Path) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("create a directory");
        for entry in std::fs::read_dir(from).expect("read the fixture") {
            let entry = entry.expect("a directory entry");
            let target = to.join(entry.file_name());
            if entry.file_type().expect("a file type").is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).expect("copy a file");
            }
        }
    }
    let data = into.join("data");
    copy(&format.fixture("data"), &data);
    data
}

fn konnektid(work: &Path, data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_konnektid"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .current_dir(work)
        .env("KONNEKTID_STORAGE_FSYNC", "false")
        .env("KONNEKTID_LOG_LEVEL", "warn")
        .output()
        .expect("the binary runs")
}

fn succeeded(output: Output) -> Output {
    assert!(output.status.success(), "the command failed: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// The server on `data_dir`, serving on a port of its own; killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(work: &Path, data_dir: &Path) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_konnektid"));
        command
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .current_dir(work)
            .env("KONNEKTID_AUTH_ADMIN_TOKEN", ADMIN)
            .env("KONNEKTID_AUTH_JWT_SECRET", "fixture-secret")
            .env("KONNEKTID_STORAGE_FSYNC", "false")
            .env("KONNEKTID_SERVER_WORKERS", "1")
            .env("KONNEKTID_LOG_LEVEL", "warn,konnektid::server=info");
        let (child, address) = serve(&mut command, "server", DEADLINE);
        Self { child, base: format!("http://{address}/graphql") }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn graphql(base: &str, query: &str, token: Option<&str>) -> Value {
    let client = awc::Client::builder().timeout(Duration::from_secs(20)).finish();
    let mut request = client.post(base);
    if let Some(token) = token {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    let mut response = request.send_json(&json!({ "query": query })).await.expect("the server answers");
    let body: Value = response.json().await.expect("a JSON answer");
    assert!(body.get("errors").is_none(), "{query}: {body}");
    body["data"].clone()
}

async fn an_older_data_directory_reads_exports_and_serves_as_it_did(format: Format) {
    let work = tempfile::tempdir().expect("a temporary directory");
    let data = copy_of_fixture(format, work.path());
    let fixture = |name: &str| format.fixture(name);

    let events = succeeded(konnektid(work.path(), &data, &["events"]));
    let expected = std::fs::read_to_string(fixture("events.ndjson")).expect("the fixture's events");
    let printed = String::from_utf8(events.stdout).expect("UTF-8");
    assert_eq!(printed.lines().count(), expected.lines().count(), "every event is printed");
    for (line, (printed, expected)) in printed.lines().zip(expected.lines()).enumerate() {
        assert_eq!(printed, expected, "event line {}", line + 1);
    }

    let backup = work.path().join("backup.ndjson");
    succeeded(konnektid(work.path(), &data, &["export", backup.to_str().expect("a UTF-8 path")]));
    let read = |path: &Path| std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(read(&backup) == read(&fixture("export.ndjson")), "the backup is byte for byte the older binary's");
    let credentials = |path: &Path| path.with_file_name(format!("{}.credentials", path.file_name().expect("a name").to_string_lossy()));
    assert!(read(&credentials(&backup)) == read(&fixture("export.ndjson.credentials")), "and so are its credentials");

    let server = Server::start(work.path(), &data);
    let login = "mutation { login(email: \"ada@example.com\", password: \"password Ada\") { token } }";
    let token = graphql(&server.base, login, None).await["login"]["token"].as_str().expect("a token").to_owned();
    let me = graphql(&server.base, "{ me { displayName } }", Some(&token)).await;
    assert_eq!(me["me"]["displayName"], "Ada L.");
    let stats = graphql(&server.base, "{ stats { members coursesPublished bookingsConfirmed bookingsCancelled } }", None).await;
    // Three members; Sourdough bread published (Pasta archived, Draft never published); Bob's
    // two bookings confirmed; Cy's declined one and the one cancelled after confirmation
    // cancelled (the one without a seat was rejected).
    assert_eq!(stats["stats"], json!({ "members": 3, "coursesPublished": 1, "bookingsConfirmed": 2, "bookingsCancelled": 2 }));
}

#[actix_rt::test]
async fn a_data_directory_of_the_first_format_reads_exports_and_serves_as_it_did() {
    an_older_data_directory_reads_exports_and_serves_as_it_did(Format::First).await;
}

#[actix_rt::test]
async fn a_data_directory_of_the_second_format_reads_exports_and_serves_as_it_did() {
    an_older_data_directory_reads_exports_and_serves_as_it_did(Format::Second).await;
}

fn an_interrupted_upgrade_is_refused_until_its_partial_copy_is_discarded(format: Format) {
    let work = tempfile::tempdir().expect("a temporary directory");
    let data = copy_of_fixture(format, work.path());
    {
        // What a crash part-way through an upgrade leaves: the new tree, some keys, no format.
        let db = sled::Config::new().path(data.join("db")).open().expect("open sled");
        let partial = db.open_tree(format.trees().1).expect("the new log");
        partial.insert(b"P\0\0\0\0\0\0\0\x01", &b"partial"[..]).expect("write");
        db.flush().expect("flush");
    }
    let refused = konnektid(work.path(), &data, &["events"]);
    assert!(!refused.status.success(), "the interrupted upgrade is refused");
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("interrupted") && message.contains("konnektid upgrade --discard-interrupted"), "{message}");

    let upgraded = succeeded(konnektid(work.path(), &data, &["upgrade", "--discard-interrupted"]));
    assert!(String::from_utf8_lossy(&upgraded.stdout).contains("discarded the partial copy"));
    let events = succeeded(konnektid(work.path(), &data, &["events"]));
    let expected = std::fs::read_to_string(format.fixture("events.ndjson")).expect("the fixture's events");
    assert!(String::from_utf8_lossy(&events.stdout) == expected, "every event reads back after the upgrade");
    let db = sled::Config::new().path(data.join("db")).open().expect("open sled");
    assert!(!db.tree_names().iter().any(|name| name.as_ref() == format.trees().0.as_bytes()), "the old log is gone");
}

#[test]
fn an_interrupted_upgrade_of_the_first_format_is_refused_until_its_partial_copy_is_discarded() {
    an_interrupted_upgrade_is_refused_until_its_partial_copy_is_discarded(Format::First);
}

#[test]
fn an_interrupted_upgrade_of_the_second_format_is_refused_until_its_partial_copy_is_discarded() {
    an_interrupted_upgrade_is_refused_until_its_partial_copy_is_discarded(Format::Second);
}
