//! Moving an installation: `export` from the embedded store, `import --store-url postgres://...`
//! into a cluster's log, and back; each export byte for byte the same. Every operator command
//! works on the PostgreSQL log too.

use std::process::Output;

use super::Cluster;
use crate::cli::{assert_success, konnektid_with, stderr, Backup};

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[actix_rt::test]
async fn an_installation_moves_to_postgresql_and_back_byte_for_byte_and_every_command_works_there() {
    let Some(cluster) = Cluster::create("nodes_backup").await else { return };
    let backup = Backup::make().await;
    let on_postgres: Vec<(&str, String)> = cluster.env();
    let postgres = |args: &[&str]| konnektid_with(backup.dir(), &backup.path("node"), args, &on_postgres);
    let embedded = |data_dir: &str, args: &[&str]| konnektid_with(backup.dir(), &backup.path(data_dir), args, &[]);

    let imported = postgres(&["import", "a.ndjson"]);
    assert_success(&imported);
    assert!(stdout(&imported).contains(&format!("imported {} events", backup.head)), "{}", stdout(&imported));
    // The flag, without the environment's store.url: the export reads PostgreSQL all the same.
    let url = on_postgres.iter().find(|(name, _)| *name == "KONNEKTID_STORE_URL").map(|(_, url)| url.clone()).expect("a URL");
    let without_url: Vec<(&str, String)> = on_postgres.iter().filter(|(name, _)| *name != "KONNEKTID_STORE_URL").cloned().collect();
    let exported = konnektid_with(backup.dir(), &backup.path("elsewhere"), &["export", "--store-url", &url, "b.ndjson"], &without_url);
    assert_success(&exported);
    let read = |name: &str| std::fs::read(backup.path(name)).unwrap_or_else(|error| panic!("{name}: {error}"));
    assert!(read("a.ndjson") == read("b.ndjson"), "the export from PostgreSQL differs from the one from sled");
    assert!(read("a.ndjson.credentials") == read("b.ndjson.credentials"), "the credentials moved as they were");

    let (from_postgres, from_sled) = (postgres(&["events"]), embedded("source", &["events"]));
    assert_success(&from_postgres);
    assert_eq!(stdout(&from_postgres), stdout(&from_sled), "`events` prints the same log from either store");
    assert_success(&postgres(&["rebuild", "--all"]));
    let parked = postgres(&["parked"]);
    assert_success(&parked);
    assert!(stderr(&parked).contains("no parked events"), "{}", stderr(&parked));

    // And back: the cluster's export restores into a data directory of its own.
    assert_success(&embedded("back", &["import", "b.ndjson"]));
    assert_success(&embedded("back", &["export", "c.ndjson"]));
    assert!(read("a.ndjson") == read("c.ndjson"), "the round trip changed the log");

    // A restored log starts with an empty provider statement, so `verify` reports the imported
    // capture as unknown to the provider: the same report from either store.
    let (on_cluster, restored) = (postgres(&["verify", "--json"]), embedded("back", &["verify", "--json"]));
    assert_eq!(on_cluster.status.code(), Some(1), "{}", stderr(&on_cluster));
    assert!(stdout(&on_cluster).contains("capture-unknown-to-provider"), "{}", stdout(&on_cluster));
    assert_eq!(stdout(&on_cluster), stdout(&restored));
}
