//! The front door, GraphiQL and the console over plain HTTP: what they load is all served by
//! the binary, and their pages cannot be framed, sniffed or made to load from elsewhere.

use awc::http::StatusCode;
use serde_json::{json, Value};

use crate::api::harness::{TestServer, ADMIN};

/// Status, headers (lower-case names) and body of a GET.
async fn get(server: &TestServer, path: &str, token: Option<&str>) -> (u16, Vec<(String, String)>, String) {
    let mut request = server.client().get(server.url(path));
    if let Some(token) = token {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    let mut response = request.send().await.expect("the server answers");
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().to_lowercase(), value.to_str().unwrap_or_default().to_owned()))
        .collect();
    let body = response.body().limit(8 << 20).await.expect("a body");
    (response.status().as_u16(), headers, String::from_utf8_lossy(&body).into_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())
}

/// Every `src="..."` and `href="..."` of a page.
fn references(html: &str) -> Vec<String> {
    ["src=\"", "href=\""]
        .iter()
        .flat_map(|attribute| html.split(attribute).skip(1).map(|rest| rest.split('"').next().unwrap_or_default().to_owned()))
        .collect()
}

#[actix_rt::test]
async fn the_front_door_redirects_to_graphiql() {
    let server = TestServer::start().await;
    let client = awc::Client::builder().disable_redirects().finish();
    let response = client.get(server.url("/")).send().await.expect("the server answers");
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers().get("location").and_then(|v| v.to_str().ok()), Some("/graphiql"));
}

#[actix_rt::test]
async fn graphiql_and_the_console_load_only_files_of_this_server_with_protective_headers() {
    let server = TestServer::start().await;
    for (page, needs) in [("/graphiql", "graphiql.min.js"), ("/console", "app.js")] {
        let (status, headers, html) = get(&server, page, None).await;
        assert_eq!(status, 200, "{page}");
        assert!(header(&headers, "content-type").starts_with("text/html"), "{page}");
        let policy = header(&headers, "content-security-policy");
        assert!(policy.contains("default-src 'self'") && policy.contains("frame-ancestors 'none'"), "{page}: {policy}");
        assert!(!policy.contains("http") && !policy.contains('*'), "{page} allows no other origin: {policy}");
        assert_eq!(header(&headers, "x-frame-options"), "DENY", "{page}");
        assert_eq!(header(&headers, "x-content-type-options"), "nosniff", "{page}");
        assert!(!html.contains("http://") && !html.contains("https://"), "{page} names no other host");
        let references = references(&html);
        assert!(references.iter().any(|r| r.ends_with(needs)), "{page} loads {needs}: {references:?}");
        for reference in references.iter().filter(|r| !r.starts_with("data:")) {
            let (status, headers, _) = get(&server, reference, None).await;
            assert_eq!(status, 200, "{page} loads {reference}");
            assert_eq!(header(&headers, "x-content-type-options"), "nosniff", "{reference}");
        }
    }
    let (status, _, _) = get(&server, "/assets/console/nothing.js", None).await;
    assert_eq!(status, 404);
}

#[actix_rt::test]
async fn graphiql_ships_its_licences_and_starts_with_a_named_operation_and_how_to_sign_in() {
    let server = TestServer::start().await;
    let (_, _, start) = get(&server, "/assets/graphiql/start.js", None).await;
    assert!(start.contains("query Catalogue"), "a named example operation");
    assert!(start.contains("Authorization") && start.contains("Bearer"), "how to set the Authorization header");
    for licence in ["LICENSE.graphiql", "LICENSE.react", "LICENSE.react-dom"] {
        let (status, _, text) = get(&server, &format!("/assets/vendor/{licence}"), None).await;
        assert!(status == 200 && text.contains("MIT License"), "{licence}");
    }
}

#[actix_rt::test]
async fn assets_are_revalidated_by_their_etag() {
    let server = TestServer::start().await;
    let (_, headers, _) = get(&server, "/assets/vendor/graphiql.min.js", None).await;
    let tag = header(&headers, "etag").to_owned();
    assert!(!tag.is_empty());
    let response = server
        .client()
        .get(server.url("/assets/vendor/graphiql.min.js"))
        .insert_header(("If-None-Match", tag))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
}

#[actix_rt::test]
async fn the_overview_is_for_the_admin_and_charts_events_per_second_and_lag() {
    let server = TestServer::start().await;
    let (member, _) = server.register("someone@example.org", "Someone").await;
    assert_eq!(get(&server, "/console/overview", None).await.0, 401);
    assert_eq!(get(&server, "/console/overview", Some(&member)).await.0, 403);
    // The sampler took its first sample at start; a point from the last sample to now counts
    // what was committed since, so something is committed before each look.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    for attempt in 0.. {
        server.register(&format!("member-{attempt}@example.org"), "Member").await;
        let (status, _, body) = get(&server, "/console/overview", Some(ADMIN)).await;
        assert_eq!(status, 200);
        let overview: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(overview["intervalSeconds"], json!(5));
        let points = overview["points"].as_array().expect("points").clone();
        if let Some(last) = points.last().filter(|last| last["eventsPerSecond"].as_f64().is_some_and(|rate| rate > 0.0)) {
            assert!(last["lag"].is_u64() && last["at"].is_string() && last.get("commandsPerSecond").is_some(), "{last:#}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no point after 15 s: {overview:#}");
        actix_rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
