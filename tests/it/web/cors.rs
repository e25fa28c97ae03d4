//! CORS on `/graphql`: only the configured origins may call it from a browser, preflight
//! included; with none configured, no origin may.

use awc::http::Method;
use serde_json::json;

use crate::api::harness::TestServer;

const ALLOWED: &str = "https://app.example.org";

fn allow_the_app(config: &mut konnektid::config::Config) {
    config.server.cors_allowed_origins = vec![ALLOWED.to_owned()];
}

/// A preflight from `origin` for a POST with a bearer token; answers the status and the
/// allowed origin, methods and headers it was given.
async fn preflight(server: &TestServer, origin: &str) -> (u16, Option<String>, String, String) {
    let response = server
        .client()
        .request(Method::OPTIONS, server.url("/graphql"))
        .insert_header(("Origin", origin))
        .insert_header(("Access-Control-Request-Method", "POST"))
        .insert_header(("Access-Control-Request-Headers", "authorization, content-type"))
        .send()
        .await
        .expect("the server answers");
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_lowercase);
    (
        response.status().as_u16(),
        header("access-control-allow-origin"),
        header("access-control-allow-methods").unwrap_or_default(),
        header("access-control-allow-headers").unwrap_or_default(),
    )
}

/// A POST from `origin`; answers the status and the allowed origin.
async fn post_from(server: &TestServer, origin: &str) -> (u16, Option<String>) {
    let response = server
        .client()
        .post(server.url("/graphql"))
        .insert_header(("Origin", origin))
        .send_json(&json!({ "query": "{ stats { members } }" }))
        .await
        .expect("the server answers");
    (response.status().as_u16(), response.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()).map(str::to_owned))
}

#[actix_rt::test]
async fn a_configured_origin_passes_the_preflight_and_may_read_answers() {
    let server = TestServer::start_with(allow_the_app).await;
    let (status, origin, methods, headers) = preflight(&server, ALLOWED).await;
    assert_eq!((status, origin.as_deref()), (200, Some(ALLOWED)));
    assert!(methods.contains("post") && methods.contains("get"), "{methods}");
    assert!(headers.contains("authorization") && headers.contains("content-type"), "{headers}");
    assert_eq!(post_from(&server, ALLOWED).await, (200, Some(ALLOWED.to_owned())));
}

#[actix_rt::test]
async fn another_origin_is_refused_the_preflight_and_gets_no_cors_headers() {
    let server = TestServer::start_with(allow_the_app).await;
    let (status, origin, _, _) = preflight(&server, "https://evil.example").await;
    assert!(status >= 400 && origin.is_none(), "a preflight from an unlisted origin fails: {status} {origin:?}");
    assert_eq!(post_from(&server, "https://evil.example").await.1, None, "a browser would not let that page read the answer");
}

#[actix_rt::test]
async fn by_default_no_origin_is_allowed_but_the_servers_own_pages_still_work() {
    let server = TestServer::start().await;
    let (status, origin, _, _) = preflight(&server, ALLOWED).await;
    assert!(status >= 400 && origin.is_none(), "no origin is allowed by default: {status} {origin:?}");
    let own = server.url("");
    assert_eq!(post_from(&server, &own).await.0, 200, "GraphiQL and the console post with the server's own origin");
}
