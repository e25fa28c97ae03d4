//! The sign-in limit (contract version 2): after 10 failed logins for one address within the
//! window, `login` for it answers LIMIT, even with the right password, until the window passes.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::api::harness::{assert_code, code, TestServer, PASSWORD};

const LOGIN: &str = "mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { token } }";

async fn login(server: &TestServer, email: &str, password: &str) -> Value {
    server.graphql(LOGIN, json!({ "email": email, "password": password }), None).await
}

#[actix_rt::test]
async fn the_eleventh_attempt_after_ten_failures_is_limited_even_with_the_right_password() {
    let server = TestServer::start().await;
    server.register("victim@example.org", "Victim").await;
    server.register("bystander@example.org", "Bystander").await;
    for attempt in 1..=10 {
        let response = login(&server, "Victim@Example.org ", &format!("guess {attempt}")).await;
        assert_code(&response, "UNAUTHENTICATED");
    }
    let limited = login(&server, "victim@example.org", PASSWORD).await;
    assert_code(&limited, "LIMIT");
    assert!(limited["errors"][0]["message"].as_str().unwrap_or_default().contains("minutes"), "it says how long: {limited:#}");
    assert_code(&login(&server, "victim@example.org", "another guess").await, "LIMIT");
    let other = login(&server, "bystander@example.org", PASSWORD).await;
    assert!(other["data"]["login"]["token"].is_string(), "other addresses are not limited: {other:#}");
    for attempt in 1..=10 {
        assert_code(&login(&server, "nobody@example.org", &format!("guess {attempt}")).await, "UNAUTHENTICATED");
    }
    assert_code(&login(&server, "nobody@example.org", "guess").await, "LIMIT");
}

fn short_window(config: &mut konnektid::config::Config) {
    config.auth.login_failure_window_secs = 2;
}

#[actix_rt::test]
async fn the_limit_ends_when_the_window_has_passed() {
    let server = TestServer::start_with(short_window).await;
    server.register("victim@example.org", "Victim").await;
    // Ten failures must fall within two seconds: a slow machine just needs more of them.
    let mut failures = 0;
    loop {
        let response = login(&server, "victim@example.org", "wrong password").await;
        match code(&response) {
            "UNAUTHENTICATED" => failures += 1,
            "LIMIT" => break,
            other => panic!("unexpected answer {other}: {response:#}"),
        }
        assert!(failures < 200, "ten failures never fell within the window");
    }
    assert!(failures >= 10, "limited after only {failures} failures");
    assert_code(&login(&server, "victim@example.org", PASSWORD).await, "LIMIT");
    let limited_at = Instant::now();
    let deadline = limited_at + Duration::from_secs(15);
    loop {
        let response = login(&server, "victim@example.org", PASSWORD).await;
        if response["data"]["login"]["token"].is_string() {
            break;
        }
        assert_code(&response, "LIMIT");
        assert!(Instant::now() < deadline, "still limited long after the window");
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
}
