//! What the tests that run the real binary share: starting a server process and reading a
//! whole log back from a store.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use actors::{EventStore, RecordedEvent};

/// Spawns `command` (a `konnektid serve` bound to port 0) and waits up to `deadline` for the
/// address it serves on. Its log is read to the end on a thread of its own (a full pipe would
/// stall the server); error lines are echoed under `label`.
pub fn serve(command: &mut Command, label: &str, deadline: Duration) -> (Child, String) {
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("the server starts");
    let stderr = child.stderr.take().expect("a piped stderr");
    let (address, found) = mpsc::channel();
    let echo_label = label.to_owned();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("serving GraphQL on http://").nth(1) {
                let _ = address.send(rest.split('/').next().unwrap_or_default().to_owned());
            } else if line.contains("ERROR") {
                eprintln!("{echo_label}: {line}");
            }
        }
    });
    let address = found.recv_timeout(deadline).unwrap_or_else(|_| panic!("{label} serves within {deadline:?}"));
    (child, address)
}

/// Every event `store` holds, in log order.
pub async fn whole_log(store: &dyn EventStore) -> Vec<RecordedEvent> {
    let mut events = Vec::new();
    loop {
        let page = store.read_all(events.len() as u64 + 1, 1_000, None).await.expect("the log");
        if page.is_empty() {
            return events;
        }
        events.extend(page);
    }
}
